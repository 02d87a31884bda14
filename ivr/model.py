"""The declarative IVR flow model: nodes, prompts, schedules, one flow per number.

A flow is a graph of named nodes; each node says what the caller hears, what they may
type and where to go next. The model is plain frozen data: ``ivr.load`` builds it
from a TOML file, ``ivr.check`` finds what is wrong with it, ``ivr.runner`` runs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from zoneinfo import ZoneInfo

KINDS = (
    "play", "menu", "collect", "identify", "condition", "set", "language", "queue",
    "voicemail", "transfer", "hangup",
)
#: Kinds that wait for the caller to type something (a loop through one can end).
INPUT_KINDS = frozenset({"menu", "collect", "identify"})
#: Kinds that end the flow.
FINAL_KINDS = frozenset({"queue", "voicemail", "transfer", "hangup"})
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _frozen(mapping: Mapping | None = None) -> Mapping:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class Prompt:
    """An Asterisk sound name (``custom/welcome``, no extension), optionally one per
    language, or something said from a flow variable (``say`` = number | digits)."""

    sound: str = ""
    by_language: Mapping[str, str] = field(default_factory=_frozen)
    say: str = ""
    var: str = ""

    def sound_for(self, language: str) -> str:
        return self.by_language.get(language) or self.sound or next(
            iter(self.by_language.values()), "")

    def names(self) -> tuple[str, ...]:
        return tuple(n for n in (self.sound, *self.by_language.values()) if n)


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    kind: str
    label: str = ""

    def targets(self) -> tuple[tuple[str, str], ...]:
        """(role, node id) of every node this one can go to."""
        return ()

    def prompts(self) -> tuple[Prompt, ...]:
        return ()

    @property
    def title(self) -> str:
        return self.label or self.id


@dataclass(frozen=True, slots=True)
class Play(Node):
    items: tuple[Prompt, ...] = ()
    barge_in: bool = False
    next: str = ""

    def targets(self):
        return (("next", self.next),)

    def prompts(self):
        return self.items


@dataclass(frozen=True, slots=True)
class Choice:
    digit: str
    next: str
    label: str


@dataclass(frozen=True, slots=True)
class Menu(Node):
    prompt: Prompt | None = None
    choices: tuple[Choice, ...] = ()
    timeout_ms: int = 5000
    retries: int = 2
    invalid_prompt: Prompt | None = None
    barge_in: bool = True
    on_timeout: str = ""
    on_invalid: str = ""

    def choice(self, digit: str) -> Choice | None:
        return next((c for c in self.choices if c.digit == digit), None)

    def targets(self):
        out = [(f"{c.digit} {c.label}", c.next) for c in self.choices]
        out.append(("timeout", self.on_timeout))
        if self.on_invalid and self.on_invalid != self.on_timeout:
            out.append(("invalid", self.on_invalid))
        return tuple(out)

    def prompts(self):
        return tuple(p for p in (self.prompt, self.invalid_prompt) if p is not None)


@dataclass(frozen=True, slots=True)
class Collect(Node):
    prompt: Prompt | None = None
    variable: str = ""
    min_digits: int = 1
    max_digits: int = 20
    check: str = "length"  # length | luhn | regex | account
    pattern: str = ""
    secret: bool = False
    timeout_ms: int = 6000
    retries: int = 2
    invalid_prompt: Prompt | None = None
    next: str = ""
    fail: str = ""

    def targets(self):
        return (("ok", self.next), ("fail", self.fail))

    def prompts(self):
        return tuple(p for p in (self.prompt, self.invalid_prompt) if p is not None)


@dataclass(frozen=True, slots=True)
class Identify(Node):
    by: tuple[str, ...] = ("caller",)  # caller, account (account number + PIN)
    account_prompt: Prompt | None = None
    pin_prompt: Prompt | None = None
    invalid_prompt: Prompt | None = None
    account_digits: int = 12
    pin_digits: int = 4
    timeout_ms: int = 6000
    retries: int = 2
    next: str = ""
    fail: str = ""

    def targets(self):
        return (("identified", self.next), ("unknown", self.fail))

    def prompts(self):
        return tuple(p for p in (self.account_prompt, self.pin_prompt, self.invalid_prompt)
                     if p is not None)


@dataclass(frozen=True, slots=True)
class Condition(Node):
    test: str = ""  # hours | tier | wait | variable
    schedule: str = ""
    values: tuple[str, ...] = ()
    queue: str = ""
    above: float = 0.0
    variable: str = ""
    then: str = ""
    otherwise: str = ""

    def targets(self):
        return (("yes", self.then), ("no", self.otherwise))


@dataclass(frozen=True, slots=True)
class Set(Node):
    skills: tuple[str, ...] = ()
    priority: int | None = None
    language: str = ""
    variables: Mapping[str, str] = field(default_factory=_frozen)
    next: str = ""

    def targets(self):
        return (("next", self.next),)


@dataclass(frozen=True, slots=True)
class Language(Node):
    language: str = ""
    next: str = ""

    def targets(self):
        return (("next", self.next),)


@dataclass(frozen=True, slots=True)
class WaitOptions:
    """How a caller waits in the queue: music class, announcements every
    ``announce_every`` seconds (0: never) of position and/or estimated wait, and
    whether a callback is offered (press ``callback_digit``)."""

    moh: str = "default"
    announce_every: int = 0
    announce_position: bool = False
    announce_wait: bool = False
    callback: bool = False
    callback_digit: str = "1"


@dataclass(frozen=True, slots=True)
class Queue(Node):
    queue: str = ""
    skills: tuple[str, ...] = ()
    priority: int | None = None
    prompt: Prompt | None = None
    wait: WaitOptions = WaitOptions()

    def prompts(self):
        return (self.prompt,) if self.prompt else ()


@dataclass(frozen=True, slots=True)
class Voicemail(Node):
    mailbox: str = ""
    options: str = "u"
    prompt: Prompt | None = None

    def prompts(self):
        return (self.prompt,) if self.prompt else ()


@dataclass(frozen=True, slots=True)
class Transfer(Node):
    number: str = ""
    flow: str = ""
    prompt: Prompt | None = None

    def prompts(self):
        return (self.prompt,) if self.prompt else ()


@dataclass(frozen=True, slots=True)
class Hangup(Node):
    prompt: Prompt | None = None

    def prompts(self):
        return (self.prompt,) if self.prompt else ()


@dataclass(frozen=True, slots=True)
class Schedule:
    """Weekly opening hours in a time zone, minus holidays. ``week`` holds, per day
    from Monday, the (start, end) minute ranges the line is open."""

    name: str
    timezone: str
    week: tuple[tuple[tuple[int, int], ...], ...]
    holidays: frozenset[date] = frozenset()

    def is_open(self, now: float) -> bool:
        local = datetime.fromtimestamp(now, ZoneInfo(self.timezone))
        if local.date() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.week[local.weekday()])


@dataclass(frozen=True, slots=True)
class Flow:
    """One IVR flow. ``dnis`` lists the dialled numbers it answers; ``default`` marks
    the flow for every other number. ``fallback_queue`` takes the caller when the
    flow cannot go on (a refused command), so nobody is dropped."""

    name: str
    start: str
    nodes: Mapping[str, Node]
    dnis: tuple[str, ...] = ()
    default: bool = False
    language: str = "en"
    languages: tuple[str, ...] = ("en",)
    priority: int = 0
    fallback_queue: str = ""
    schedules: Mapping[str, Schedule] = field(default_factory=_frozen)
    source: str = ""


class FlowBook:
    """Every flow, found by dialled number (DNIS) or by name."""

    def __init__(self, flows: list[Flow] | tuple[Flow, ...]):
        self.flows = tuple(flows)
        self.by_name = {f.name: f for f in self.flows}
        self.by_dnis = {n: f for f in self.flows for n in f.dnis}
        self.default = next((f for f in self.flows if f.default), None)
        if self.default is None and self.flows:
            self.default = self.flows[0]

    def for_dnis(self, dnis: str) -> Flow:
        flow = self.by_dnis.get(dnis) or self.default
        if flow is None:
            raise LookupError("no IVR flow is loaded")
        return flow
