"""`ivr check`: each class of broken flow is rejected with file, node and reason."""

from pathlib import Path

import pytest

from ivr.check import check_files, load_book
from ivr.cli import main_check
from ivr.load import FlowError

ROOT = Path(__file__).resolve().parents[2]

GOOD = '''
[flow]
name = "x"
start = "m"
[nodes.m]
kind = "menu"
prompt = "p/menu"
timeout = "q"
choices = { 1 = "q" }
[nodes.q]
kind = "queue"
queue = "sales"
'''

BROKEN = {
    "unknown target": (GOOD.replace('choices = { 1 = "q" }', 'choices = { 1 = "nowhere" }'),
                       "m", "unknown target: 1 nowhere goes to 'nowhere'"),
    "unreachable node": (GOOD + '[nodes.orphan]\nkind = "hangup"\n', "orphan",
                         "unreachable node"),
    "loop without input": (GOOD.replace('timeout = "q"', 'timeout = "a"')
                           + '[nodes.a]\nkind = "play"\nprompts = ["p/a"]\nnext = "b"\n'
                           '[nodes.b]\nkind = "set"\nnext = "a"\n',
                           "a", "loop that can never end without input: a -> b -> a"),
    "menu without timeout": (GOOD.replace('timeout = "q"\n', ""), "m",
                             "menu has no timeout path"),
    "missing prompt": (GOOD.replace('prompt = "p/menu"\n', ""), "m", "missing prompt name"),
    "empty prompt": (GOOD.replace('"p/menu"', '""'), "m", "missing prompt name"),
    "prompt missing a language": (
        GOOD.replace('prompt = "p/menu"', 'prompt = { en = "en/menu" }')
        .replace('start = "m"', 'start = "m"\nlanguages = ["en", "de"]'),
        "m", "missing prompt name for language 'de'"),
    "unknown queue": (GOOD.replace('"sales"', '"nosuch"'), "q", "unknown queue 'nosuch'"),
    "bad time zone": (GOOD.replace('kind = "menu"', 'kind = "menu"', 1)
                      + '[schedules.s]\ntimezone = "Mars/Olympus"\n', "schedule s",
                      "invalid schedule: unknown time zone"),
    "bad range": (GOOD + '[schedules.s]\ntimezone = "UTC"\nmon = ["18:00-08:00"]\n',
                  "schedule s", "invalid schedule: mon range '18:00-08:00'"),
    "bad holiday": (GOOD + '[schedules.s]\ntimezone = "UTC"\nholidays = ["2026-02-30"]\n',
                    "schedule s", "invalid schedule: holiday '2026-02-30'"),
    "unknown schedule": (GOOD.replace('start = "m"', 'start = "c"')
                         + '[nodes.c]\nkind = "condition"\ntest = "hours"\nschedule = "x"\n'
                         'then = "m"\nelse = "q"\n', "c", "invalid schedule: no valid schedule"),
    "unknown kind": (GOOD + '[nodes.z]\nkind = "dance"\n', "z", "kind must be one of"),
    "unknown key": (GOOD.replace('queue = "sales"', 'queue = "sales"\nqeue = 1'), "q",
                    "unknown key 'qeue'"),
    "transfer to unknown flow": (GOOD.replace('choices = { 1 = "q" }', 'choices = { 1 = "t" }')
                                 + '[nodes.t]\nkind = "transfer"\nflow = "ghost"\n', "t",
                                 "no flow named 'ghost'"),
    "not TOML": ("[flow\n", "", "not valid TOML"),
}


@pytest.mark.parametrize("name", BROKEN)
def test_broken_flow_is_rejected_naming_file_node_and_reason(name, tmp_path, capsys):
    text, node, reason = BROKEN[name]
    path = tmp_path / "flow.toml"
    path.write_text(text)
    assert main_check([str(path), "--queues", "sales,support"]) == 1
    out = capsys.readouterr().out
    expected = f"{path}: {node}: " if node else f"{path}: "
    assert any(line.startswith(expected) and reason in line for line in out.splitlines()), out


def test_good_flow_passes(tmp_path, capsys):
    (tmp_path / "flow.toml").write_text(GOOD)
    assert main_check([str(tmp_path), "--queues", "sales"]) == 0
    assert "OK" in capsys.readouterr().out


def test_shipped_demo_and_lab_flows_are_valid_with_the_default_settings(capsys):
    assert main_check([str(ROOT / "config" / "ivr")]) == 0
    assert main_check([str(ROOT / "tests" / "ivr" / "flows")]) == 0


def test_every_problem_is_listed_not_just_the_first(tmp_path, capsys):
    text = GOOD.replace('timeout = "q"\n', "").replace('"sales"', '"nosuch"')
    (tmp_path / "f.toml").write_text(text + '[nodes.orphan]\nkind = "hangup"\n')
    assert main_check([str(tmp_path), "--queues", "sales"]) == 1
    out = capsys.readouterr().out
    assert "no timeout path" in out and "unknown queue" in out and "unreachable" in out


def test_number_claimed_twice_and_two_defaults_are_clashes(tmp_path):
    for name in ("a", "b"):
        text = GOOD.replace('name = "x"', f'name = "{name}"\ndnis = ["100"]\ndefault = true')
        (tmp_path / f"{name}.toml").write_text(text)
    _, problems = check_files([tmp_path], ["sales"])
    reasons = " | ".join(p.reason for p in problems)
    assert "number 100 is already answered" in reasons and "only one default" in reasons


def test_load_book_refuses_an_invalid_flow_saying_why(tmp_path):
    (tmp_path / "f.toml").write_text(GOOD.replace('"sales"', '"nosuch"'))
    with pytest.raises(FlowError) as e:
        load_book([tmp_path], ["sales"])
    assert "unknown queue 'nosuch'" in str(e.value)


def test_book_picks_flow_by_number_with_a_default():
    book = load_book([ROOT / "tests" / "ivr" / "flows"])
    assert book.for_dnis("8005550122").name == "second"
    assert book.for_dnis("123").name == "lab"


def test_queue_names_come_from_the_settings_file(tmp_path, capsys):
    settings = tmp_path / "s.toml"
    settings.write_text('[[queues]]\nname = "sales"\n[ivr]\ndefault_queue = "sales"\n'
                        '[[ivr.options]]\ndigit = "1"\nlabel = "s"\nqueue = "sales"\n')
    (tmp_path / "f.toml").write_text(GOOD.replace('"sales"', '"support"'))
    assert main_check([str(tmp_path / "f.toml"), "--config", str(settings)]) == 1
    assert "unknown queue 'support'" in capsys.readouterr().out
