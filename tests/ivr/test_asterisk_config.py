"""`asterisk-config`: golden files, no rewrite when unchanged, and a dialplan parser."""

import os
import re
from pathlib import Path

import jinja2
import pytest

from callcenter.asterisk_config import FILES, Options, main, render, template_context
from callcenter.settings import load_settings
from ivr.check import load_book

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
TRANSCRIPT_CONF = Path(__file__).resolve().parents[3] / "shared" / "asterisk-transcripts" / "config"


def rendered() -> dict[str, str]:
    settings = load_settings(None, environ={})
    book = load_book([HERE / "flows"], [q.name for q in settings.queues])
    ctx = template_context(settings, book, Options(cti_host="10.0.0.5", agents=("1001", "1002")),
                           source="test settings")
    return render(ctx)


@pytest.mark.parametrize("name", FILES)
def test_rendered_file_matches_golden(name):
    text = rendered()[name]
    golden = GOLDEN / name
    if os.environ.get("CALLCENTER_UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text()


def test_unchanged_files_are_not_rewritten(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--flows", str(HERE / "flows")]) == 0
    stamps = {n: (tmp_path / n).stat().st_mtime_ns for n in FILES}
    os.utime(tmp_path / "manager.conf", ns=(1, 1))
    (tmp_path / "queues.conf").write_text("; edited by hand\n")
    capsys.readouterr()
    assert main(["--out", str(tmp_path), "--flows", str(HERE / "flows")]) == 0
    out = capsys.readouterr().out
    assert "queues.conf: written" in out and "extensions.conf: unchanged" in out
    assert (tmp_path / "extensions.conf").stat().st_mtime_ns == stamps["extensions.conf"]
    assert (tmp_path / "manager.conf").stat().st_mtime_ns == 1


def test_a_name_missing_from_the_context_is_an_error_not_blank():
    settings = load_settings(None, environ={})
    ctx = template_context(settings)
    del ctx["trunk"]
    with pytest.raises(jinja2.UndefinedError):
        render(ctx)


def test_invalid_flows_stop_the_rendering(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[flow]\nstart = "q"\n[nodes.q]\nkind = "queue"\nqueue = "nosuch"\n')
    assert main(["--out", str(tmp_path / "out"), "--flows", str(bad)]) == 1
    assert "unknown queue" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_manager_user_has_least_privilege_and_drops_unused_events():
    text = rendered()["manager.conf"]
    user = parse_ini(text)["cti"]
    write = set(dict(user)["write"].split(","))
    read = set(dict(user)["read"].split(","))
    assert not write & {"all", "system", "command", "config"}
    assert "all" not in read and {"call", "agent", "dialplan"} <= read
    filters = [v for k, v in user if k == "eventfilter"]
    assert "!Event: VarSet" in filters and "!Event: CEL" in filters
    assert dict(user)["permit"] == "10.0.0.5/255.255.255.255"


# ----------------------------------------------------------- dialplan parser

SECTION = re.compile(r"^\[([A-Za-z0-9_-]+)\]$")
EXTEN = re.compile(r"^exten\s*=>\s*([^,]+),(\d+|n|hint)(?:\(([A-Za-z0-9_]+)\))?,(.*)$")
SAME = re.compile(r"^same\s*=>\s*(n|\d+)(?:\(([A-Za-z0-9_]+)\))?,(.*)$")
APP = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\((.*)\)$")
SETTING = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*=\s*.*$")


def parse_ini(text):
    sections, current = {}, None
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        m = SECTION.match(line)
        if m:
            current = sections.setdefault(m.group(1), [])
            continue
        assert current is not None, f"setting outside a section: {raw!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not key = value: {raw!r}"
        current.append((key.strip(), value.lstrip(">").strip()))
    return sections


def balanced(text: str) -> bool:
    pairs, stack = {")": "(", "]": "[", "}": "{"}, []
    for ch in text:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack


def parse_dialplan(text):
    """{context: {exten: [(priority, label, app, args)]}}; raises on any syntax error."""
    contexts, current, last = {}, None, None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        where = f"line {number}: {raw!r}"
        if m := SECTION.match(line):
            current = contexts.setdefault(m.group(1), {})
            last = None
            continue
        assert current is not None, where
        if m := EXTEN.match(line):
            exten, prio, label, rest = m.groups()
            if prio == "hint":
                continue
            assert prio == "1", f"an extension starts at priority 1: {where}"
            last = exten
            current.setdefault(exten, [])
        elif m := SAME.match(line):
            assert last is not None, f"same => without an extension: {where}"
            prio, label, rest = m.groups()
        else:
            assert SETTING.match(line), f"not dialplan: {where}"
            continue
        app = APP.match(rest.strip())
        assert app, f"application call expected: {where}"
        assert balanced(app.group(2)), f"unbalanced brackets: {where}"
        current[last].append((prio, label, app.group(1), app.group(2)))
    return contexts


def test_generated_dialplan_parses_with_every_context_and_target():
    contexts = parse_dialplan(rendered()["extensions.conf"])
    assert {"inbound", "cti-inbound", "agents", "outbound", "spy"} <= set(contexts)
    assert set(contexts["inbound"]) == {"8005550111", "8005550122", "_X."}
    steps = contexts["cti-inbound"]["_X."]
    labels = {label for _, label, _, _ in steps if label}
    apps = [app for _, _, app, _ in steps]
    assert apps.index("AGI") < apps.index("Queue")
    agi = next(args for _, _, app, args in steps if app == "AGI")
    assert agi.startswith("${CTI_AGI}?dnis=${EXTEN},${EXTEN},")
    for _, _, app, args in steps:
        if app == "GotoIf":
            target = args.split("?", 1)[1]
            if "," in target:
                assert target.split(",")[0] in contexts
            else:
                assert target in labels, target
    assert any(args.startswith("${FALLBACK_QUEUE}") or "FALLBACK_QUEUE" in args
               for _, _, _, args in steps)
    for exten in contexts["spy"].values():
        assert any(app == "ChanSpy" for _, _, app, _ in exten)
    for ext_steps in contexts["inbound"].values():
        assert ext_steps[-1][2] == "Goto" and ext_steps[-1][3].startswith("cti-inbound,")


@pytest.mark.skipif(not TRANSCRIPT_CONF.is_dir(), reason="recordings not available")
def test_parser_accepts_the_dialplan_a_real_asterisk_loaded():
    contexts = parse_dialplan((TRANSCRIPT_CONF / "extensions.conf").read_text())
    assert "inbound" in contexts and "agents" in contexts


@pytest.mark.parametrize("bad", [
    "[x]\nexten => s,2,NoOp()\n",
    "[x]\nsame => n,NoOp()\n",
    "[x]\nexten => s,1,Queue(${QUEUE,tT)\n",
    "[x]\nexten => s,1,Dial(PJSIP/1\n",
    "exten => s,1,NoOp()\n",
])
def test_parser_rejects_broken_dialplans(bad):
    with pytest.raises(AssertionError):
        parse_dialplan(bad)


@pytest.mark.parametrize("name", ["manager.conf", "queues.conf", "pjsip.conf", "features.conf"])
def test_other_files_are_sections_of_key_value_lines(name):
    sections = parse_ini(rendered()[name])
    assert sections


def test_features_give_the_transfer_keys_call_control_sends_and_nothing_clashes():
    from callcenter.callcontrol import ATXFER_THREEWAY
    from callcenter.simulator.pbx import ATXFER_THREEWAY as SIMULATED_THREEWAY

    sections = {name: dict(pairs) for name, pairs in parse_ini(rendered()["features.conf"]).items()}
    general, featuremap = sections["general"], sections["featuremap"]
    assert general["atxferthreeway"] == ATXFER_THREEWAY == SIMULATED_THREEWAY == "*3"
    assert general["atxferabort"] == "*1" and general["atxfercomplete"] == "*2"
    assert general["atxferdropcall"] == "yes"
    assert general["atxfernoanswertimeout"] == str(load_settings(None, environ={})
                                                    .routing.ring_timeout)
    assert featuremap["atxfer"]  # AMI Atxfer types these digits: they must be set
    assert "automixmon" not in featuremap
    in_transfer = {general[k] for k in ("atxferabort", "atxferthreeway", "atxferswap")}
    assert not in_transfer & set(featuremap.values())
    assert set(sections) == {"general", "featuremap"}
