from dataclasses import dataclass

from ivr.flow import MenuChoice, MenuFlow
from ivr.runner import Command, Finished, MenuRunner

FLOW = MenuFlow(greeting="welcome", menu_prompt="menu", invalid_prompt="invalid",
                choices=(MenuChoice("1", "sales", "sales"), MenuChoice("2", "support", "support")),
                default_queue="support", timeout_ms=3000, retries=1)


@dataclass(frozen=True)
class R:
    result: str = "0"
    code: int = 200
    timeout: bool = False


def run(results):
    runner = MenuRunner(FLOW)
    steps = [runner.start(0.0)]
    for i, result in enumerate(results):
        steps.append(runner.on_result(result, float(i + 1)))
    return steps


def test_caller_pressing_2_goes_to_support_with_the_choice_recorded():
    steps = run([R("0"), R("0"), R("2")])
    assert [s.words for s in steps[:3]] == [
        ("ANSWER",), ("STREAM FILE", "welcome", ""), ("GET DATA", "menu", "3000", "1")]
    assert steps[-1] == Finished("support", "2 – support", steps[-1].path)
    assert steps[-1].path[-1]["input"] == "2"


def test_invalid_then_timeout_goes_to_default_queue_never_dropped():
    steps = run([R("0"), R("0"), R("7"), R("0"), R("", timeout=True)])
    assert steps[3] == Command(("STREAM FILE", "invalid", ""))
    assert isinstance(steps[-1], Finished)
    assert steps[-1].queue == "support"
    assert [p["label"] for p in steps[-1].path] == ["greeting", "invalid", "timeout"]


def test_hangup_during_greeting_finishes_without_a_queue():
    steps = run([R("0"), R("-1")])
    assert steps[-1].hung_up
    assert steps[-1].path[-1]["step"] == "hangup"


def test_refused_command_counts_as_hangup():
    assert run([R("", code=511)])[-1].hung_up
