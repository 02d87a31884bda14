"""Reads IVR flow files (TOML) into ``ivr.model`` objects, noting every problem.

Flows are TOML, not YAML: TOML is read by the standard library (``tomllib``), so no
new dependency; it is the format of the settings file already; and it has no implicit
typing surprises (``no`` stays a string, ``0800`` is not an octal number). A flow
file looks like::

    [flow]
    name = "main"
    start = "welcome"
    dnis = ["8005550100"]        # dialled numbers answered by this flow
    default = true               # ... and every number no other flow claims

    [nodes.welcome]
    kind = "play"
    prompts = ["custom/welcome"]
    next = "menu"

``config/ivr/demo.toml`` uses every node kind; ``ivr/README.md`` lists their keys.
Loading never stops at the first problem: each is a ``Problem(file, node, reason)``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr import model as m

_MISSING = object()
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_DIGIT = re.compile(r"^[0-9*]$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    node: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.node}" if self.node else self.file
        return f"{where}: {self.reason}"


class FlowError(Exception):
    """One or more flows are invalid; ``problems`` lists each."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("invalid IVR flow:\n  " + "\n  ".join(map(str, self.problems)))


class _Table:
    """Typed reads of one TOML table; wrong or missing values become problems."""

    def __init__(self, data: Any, file: str, node: str, problems: list[Problem]):
        self.data = data if isinstance(data, dict) else {}
        self.file, self.node, self.problems = file, node, problems
        self.used: set[str] = {"kind", "label"}
        if not isinstance(data, dict):
            self.problem("must be a table")

    def problem(self, reason: str) -> None:
        self.problems.append(Problem(self.file, self.node, reason))

    def get(self, key: str, types: type | tuple, default: Any = _MISSING, what: str = "") -> Any:
        self.used.add(key)
        value = self.data.get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                self.problem(f"{key!r} is missing")
                return None
            return default
        if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            self.problem(f"{key!r} must be {what or _type_name(types)}, not {value!r}")
            return None if default is _MISSING else default
        if not isinstance(value, types):
            self.problem(f"{key!r} must be {what or _type_name(types)}, not {value!r}")
            return None if default is _MISSING else default
        return value

    def str(self, key: str, default: Any = _MISSING) -> str:
        value = self.get(key, str, default)
        return value if isinstance(value, str) else ""

    def int(self, key: str, default: Any = _MISSING, low: int | None = None) -> int:
        value = self.get(key, int, default)
        if isinstance(value, int) and low is not None and value < low:
            self.problem(f"{key!r} must be at least {low}, not {value}")
        return value if isinstance(value, int) else (default if isinstance(default, int) else 0)

    def bool(self, key: str, default: bool) -> bool:
        value = self.get(key, bool, default)
        return value if isinstance(value, bool) else default

    def strs(self, key: str, default: tuple = ()) -> tuple[str, ...]:
        value = self.get(key, (list, str), list(default), "a list of strings")
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            if isinstance(value, list):
                self.problem(f"{key!r} must be a list of strings")
            return tuple(default)
        return tuple(value)

    def prompt(self, key: str, required: bool = False) -> m.Prompt | None:
        self.used.add(key)
        value = self.data.get(key, _MISSING)
        if value is _MISSING:
            if required:
                self.problem(f"missing prompt name: {key!r} is required")
            return None
        return _prompt(value, key, self)

    def unknown(self) -> None:
        for key in self.data:
            if key not in self.used:
                self.problem(f"unknown key {key!r}")


def _type_name(types: type | tuple) -> str:
    names = {str: "a string", int: "an integer", bool: "true or false", float: "a number",
             list: "a list", dict: "a table"}
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(names.get(t, t.__name__) for t in types)


def _prompt(value: Any, key: str, t: _Table) -> m.Prompt | None:
    if isinstance(value, str):
        if not value.strip():
            t.problem(f"missing prompt name: {key!r} is empty")
        return m.Prompt(sound=value.strip())
    if isinstance(value, dict) and "say" in value:
        say, var = value.get("say"), value.get("var")
        if say not in ("number", "digits") or not isinstance(var, str) or not var:
            t.problem(f"{key!r}: say must be \"number\" or \"digits\" with a variable name in 'var'")
            return None
        return m.Prompt(say=say, var=var)
    if isinstance(value, dict) and value:
        by_language = {}
        for lang, sound in value.items():
            if not isinstance(sound, str) or not sound.strip():
                t.problem(f"missing prompt name: {key!r} has no sound for language {lang!r}")
                continue
            by_language[lang] = sound.strip()
        default = by_language.pop("*", "")
        return m.Prompt(sound=default, by_language=m._frozen(by_language))
    t.problem(f"missing prompt name: {key!r} must be a sound name or a table of them by language")
    return None


def _prompts(t: _Table, key: str) -> tuple[m.Prompt, ...]:
    t.used.add(key)
    value = t.data.get(key, _MISSING)
    if value is _MISSING or value == []:
        t.problem(f"missing prompt name: {key!r} must list at least one prompt")
        return ()
    if not isinstance(value, list):
        value = [value]
    return tuple(p for i, v in enumerate(value) if (p := _prompt(v, f"{key}[{i}]", t)))


# ----------------------------------------------------------------------- nodes


def _common(t: _Table, node_id: str, kind: str) -> dict:
    return {"id": node_id, "kind": kind, "label": t.str("label", "")}


def _play(t, base):
    return m.Play(**base, items=_prompts(t, "prompts"), barge_in=t.bool("barge_in", False),
                  next=t.str("next"))


def _menu(t, base):
    choices = []
    raw = t.get("choices", dict, {})
    for digit, target in (raw or {}).items():
        if not _DIGIT.match(digit):
            t.problem(f"choice {digit!r} must be one key: 0-9 or *")
            continue
        if isinstance(target, str):
            choices.append(m.Choice(digit, target, target))
        elif isinstance(target, dict) and isinstance(target.get("next"), str):
            label = target.get("label", target["next"])
            choices.append(m.Choice(digit, target["next"], str(label)))
        else:
            t.problem(f"choice {digit!r} must be a node name or {{ next = ..., label = ... }}")
    if not choices:
        t.problem("a menu needs at least one choice")
    if "timeout" not in t.data:
        t.used.add("timeout")
        t.problem("menu has no timeout path: add 'timeout = \"<node>\"' for callers who "
                  "never choose")
        on_timeout = ""
    else:
        on_timeout = t.str("timeout")
    return m.Menu(
        **base, prompt=t.prompt("prompt", required=True), choices=tuple(choices),
        timeout_ms=t.int("timeout_ms", 5000, low=500), retries=t.int("retries", 2, low=0),
        invalid_prompt=t.prompt("invalid_prompt"), barge_in=t.bool("barge_in", True),
        on_timeout=on_timeout, on_invalid=t.str("invalid", on_timeout),
    )


def _collect(t, base):
    check = t.str("check", "length")
    pattern = t.str("pattern", "")
    if check not in ("length", "luhn", "regex", "account"):
        t.problem(f"check must be length, luhn, regex or account, not {check!r}")
    if check == "regex":
        try:
            re.compile(pattern)
        except re.error as e:
            t.problem(f"pattern {pattern!r} is not a valid regular expression: {e}")
        if not pattern:
            t.problem("check = \"regex\" needs a 'pattern'")
    digits = t.get("digits", int, None)
    low = t.int("min_digits", digits or 1, low=1)
    high = t.int("max_digits", digits or 20, low=1)
    if low > high:
        t.problem(f"min_digits ({low}) is above max_digits ({high})")
    variable = t.str("variable")
    if variable and not _NAME.match(variable):
        t.problem(f"variable {variable!r} is not a valid name")
    return m.Collect(
        **base, prompt=t.prompt("prompt", required=True), variable=variable,
        min_digits=low, max_digits=high, check=check, pattern=pattern,
        secret=t.bool("secret", False), timeout_ms=t.int("timeout_ms", 6000, low=500),
        retries=t.int("retries", 2, low=0), invalid_prompt=t.prompt("invalid_prompt"),
        next=t.str("next"), fail=t.str("fail"),
    )


def _identify(t, base):
    by = t.strs("by", ("caller",))
    for way in by:
        if way not in ("caller", "account"):
            t.problem(f"'by' must list caller and/or account, not {way!r}")
    account = "account" in by
    return m.Identify(
        **base, by=by, account_prompt=t.prompt("account_prompt", required=account),
        pin_prompt=t.prompt("pin_prompt", required=account),
        invalid_prompt=t.prompt("invalid_prompt"),
        account_digits=t.int("account_digits", 12, low=1), pin_digits=t.int("pin_digits", 4, low=1),
        timeout_ms=t.int("timeout_ms", 6000, low=500), retries=t.int("retries", 2, low=0),
        next=t.str("next"), fail=t.str("fail"),
    )


def _condition(t, base):
    test = t.str("test")
    kw: dict[str, Any] = {}
    if test == "hours":
        kw["schedule"] = t.str("schedule")
    elif test == "tier":
        kw["values"] = t.strs("in")
        if not kw["values"]:
            t.problem("test = \"tier\" needs 'in', a list of tiers")
    elif test == "wait":
        kw["queue"] = t.str("queue")
        above = t.get("above", (int, float))
        kw["above"] = float(above) if isinstance(above, int | float) else 0.0
    elif test == "variable":
        kw["variable"] = t.str("variable")
        values = t.strs("in") if "in" in t.data else (t.str("equals"),)
        kw["values"] = values
    elif test:
        t.problem(f"test must be hours, tier, wait or variable, not {test!r}")
    return m.Condition(**base, test=test, then=t.str("then"), otherwise=t.str("else"), **kw)


def _set(t, base):
    priority = t.get("priority", int, None)
    variables = t.get("variables", dict, {}) or {}
    clean = {}
    for k, v in variables.items():
        if not _NAME.match(k) or not isinstance(v, str | int):
            t.problem(f"variable {k!r} must be a name set to a string or a number")
            continue
        clean[k] = str(v)
    return m.Set(**base, skills=t.strs("skills"), priority=priority,
                 language=t.str("language", ""), variables=m._frozen(clean), next=t.str("next"))


def _language(t, base):
    return m.Language(**base, language=t.str("language"), next=t.str("next"))


def _queue(t, base):
    wait = m.WaitOptions(
        moh=t.str("moh", "default"), announce_every=t.int("announce_every", 0, low=0),
        announce_position=t.bool("announce_position", False),
        announce_wait=t.bool("announce_wait", False), callback=t.bool("callback", False),
        callback_digit=t.str("callback_digit", "1"),
    )
    return m.Queue(**base, queue=t.str("queue"), skills=t.strs("skills"),
                   priority=t.get("priority", int, None), prompt=t.prompt("prompt"), wait=wait)


def _voicemail(t, base):
    return m.Voicemail(**base, mailbox=t.str("mailbox"), options=t.str("options", "u"),
                       prompt=t.prompt("prompt"))


def _transfer(t, base):
    number, flow = t.str("number", ""), t.str("flow", "")
    if bool(number) == bool(flow):
        t.problem("a transfer needs either 'number' or 'flow'")
    if number and not re.match(r"^\+?[0-9*#]+$", number):
        t.problem(f"number {number!r} must be digits (a leading + is allowed)")
    return m.Transfer(**base, number=number, flow=flow, prompt=t.prompt("prompt"))


def _hangup(t, base):
    return m.Hangup(**base, prompt=t.prompt("prompt"))


_BUILDERS = {
    "play": _play, "menu": _menu, "collect": _collect, "identify": _identify,
    "condition": _condition, "set": _set, "language": _language, "queue": _queue,
    "voicemail": _voicemail, "transfer": _transfer, "hangup": _hangup,
}


# ------------------------------------------------------------------- schedules


def _schedule(name: str, data: Any, file: str, problems: list[Problem]) -> m.Schedule | None:
    t = _Table(data, file, f"schedule {name}", problems)
    tz = t.str("timezone")
    before = len(problems)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        t.problem(f"invalid schedule: unknown time zone {tz!r}")
    week = []
    for day in m.DAYS:
        ranges = []
        for text in t.strs(day):
            match = _RANGE.match(text.strip())
            if not match:
                t.problem(f"invalid schedule: {day} range {text!r} is not HH:MM-HH:MM")
                continue
            h1, m1, h2, m2 = map(int, match.groups())
            start, end = h1 * 60 + m1, h2 * 60 + m2
            if h1 > 23 or m1 > 59 or m2 > 59 or end > 24 * 60 or start >= end:
                t.problem(f"invalid schedule: {day} range {text!r} does not run forward "
                          "within one day")
                continue
            ranges.append((start, end))
        week.append(tuple(ranges))
    holidays = set()
    for text in t.strs("holidays"):
        try:
            holidays.add(date.fromisoformat(text))
        except ValueError:
            t.problem(f"invalid schedule: holiday {text!r} is not a date (YYYY-MM-DD)")
    t.unknown()
    if len(problems) > before:
        return None
    return m.Schedule(name, tz, tuple(week), frozenset(holidays))


# ------------------------------------------------------------------------ flow


def parse_flow(data: dict, file: str = "<flow>") -> tuple[m.Flow | None, list[Problem]]:
    """A flow from decoded TOML, and every problem found while reading it."""
    problems: list[Problem] = []
    head = _Table(data.get("flow", {}), file, "[flow]", problems)
    for key in data:
        if key not in ("flow", "nodes", "schedules"):
            problems.append(Problem(file, "", f"unknown section [{key}]"))
    name = head.str("name", Path(file).stem)
    start = head.str("start")
    dnis = head.strs("dnis")
    default = head.bool("default", False)
    language = head.str("language", "en")
    languages = head.strs("languages", (language,))
    if language not in languages:
        languages = (language, *languages)
    priority = head.int("priority", 0)
    fallback = head.str("fallback_queue", "")
    head.unknown()

    schedules = {}
    raw_schedules = data.get("schedules", {})
    if not isinstance(raw_schedules, dict):
        problems.append(Problem(file, "", "[schedules] must be a table"))
        raw_schedules = {}
    for sname, sdata in raw_schedules.items():
        schedule = _schedule(sname, sdata, file, problems)
        if schedule is not None:
            schedules[sname] = schedule

    nodes: dict[str, m.Node] = {}
    raw_nodes = data.get("nodes", {})
    if not isinstance(raw_nodes, dict) or not raw_nodes:
        problems.append(Problem(file, "", "a flow needs [nodes.<name>] tables"))
        raw_nodes = {}
    for node_id, ndata in raw_nodes.items():
        t = _Table(ndata, file, node_id, problems)
        kind = t.data.get("kind")
        builder = _BUILDERS.get(kind) if isinstance(kind, str) else None
        if builder is None:
            t.problem(f"kind must be one of {', '.join(m.KINDS)}, not {kind!r}")
            continue
        nodes[node_id] = builder(t, _common(t, node_id, kind))
        t.unknown()
    flow = m.Flow(
        name=name, start=start, nodes=m._frozen(nodes), dnis=dnis, default=default,
        language=language, languages=languages, priority=priority, fallback_queue=fallback,
        schedules=m._frozen(schedules), source=file,
    )
    return flow, problems


def load_flow(path: str | Path) -> tuple[m.Flow | None, list[Problem]]:
    """Read one flow file; (None, problems) when it is not even TOML."""
    file = str(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return None, [Problem(file, "", "no such file")]
    except tomllib.TOMLDecodeError as e:
        return None, [Problem(file, "", f"not valid TOML: {e}")]
    return parse_flow(data, file)


def flow_files(paths: list[str | Path]) -> list[Path]:
    """Files named directly, and the ``*.toml`` files of directories, sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.glob("*.toml")) if p.is_dir() else [p])
    return out
