"""The flow runner over fake AGI results: every node kind, hang-ups everywhere."""

import pytest

from callcenter.agi.codec import AGIResult
from ivr.load import parse_flow
from ivr.runner import (
    ACCOUNT_LOCKED,
    Command,
    Finished,
    FlowContext,
    FlowRunner,
    Lookup,
    luhn_ok,
    mask_account,
)
from tests.ivr.cases import CASES, FakeCaller, FakeCRM, run_case


def flow(nodes: dict, **head):
    data = {"flow": {"name": "t", "start": next(iter(nodes)), "fallback_queue": "support",
                     **head}, "nodes": nodes}
    f, problems = parse_flow(data, "t.toml")
    assert problems == []
    return f


def drive(runner, answers, crm=None, now=100.0):
    """Feed ``answers`` (callables of the command words, or results) in order."""
    crm = crm or FakeCRM()
    step, sent = runner.start(now), []
    answers = list(answers)
    while not isinstance(step, Finished):
        now += 1
        if isinstance(step, Lookup):
            step = runner.on_lookup(crm.lookup(step.kind, step.args), now)
            continue
        sent.append(step.words)
        result = answers.pop(0) if answers else AGIResult(200, "0")
        step = runner.on_result(result, now)
    return step, sent


def test_hang_up_after_any_command_ends_cleanly_and_records_where():
    case = CASES[0]
    _, caller, _ = run_case(case)
    for i in range(1, len(caller.commands)):
        for gone in (AGIResult(200, "-1"), AGIResult(511, None)):
            replay = FakeCaller(case.digits)
            book_runner = _runner_for(case)
            step, n = book_runner.start(0.0), 0
            crm = FakeCRM()
            while not isinstance(step, Finished):
                if isinstance(step, Lookup):
                    step = book_runner.on_lookup(crm.lookup(step.kind, step.args), 1.0)
                    continue
                result = gone if n == i else replay.answer(step.words)
                n += 1
                step = book_runner.on_result(result, 1.0)
            assert step.outcome == "hangup" and step.queue is None and step.hung_up
            assert step.path[-1]["step"] == "hangup"
            assert step.node in step.path[-1]["label"]


def _runner_for(case):
    from ivr.check import load_book

    book = load_book([case.flows])
    return FlowRunner(book.for_dnis(case.dnis),
                      FlowContext(caller_number=case.number, flows=book.by_name))


def test_menu_without_barge_in_plays_then_waits_for_one_digit():
    f = flow({"m": {"kind": "menu", "prompt": "p/menu", "barge_in": False, "timeout": "q",
                    "timeout_ms": 3000, "choices": {"1": "q"}},
              "q": {"kind": "queue", "queue": "sales"}})
    finished, sent = drive(FlowRunner(f), [AGIResult(200, "0"), AGIResult(200, "1"),
                                           AGIResult(200, "0"), AGIResult(200, "49")])
    assert sent[1:4] == [("SET VARIABLE", "IVR_NODE", "m"), ("STREAM FILE", "p/menu", ""),
                         ("WAIT FOR DIGIT", "3000")]
    assert finished.choice == "1 – q" and finished.queue == "sales"


def test_timed_out_get_data_with_partial_digits_is_judged_on_what_was_typed():
    f = flow({"c": {"kind": "collect", "prompt": "p/c", "variable": "n", "min_digits": 3,
                    "max_digits": 6, "retries": 0, "next": "q", "fail": "bye"},
              "q": {"kind": "queue", "queue": "sales"}, "bye": {"kind": "hangup"}})
    marker = AGIResult(200, "1")
    finished, _ = drive(FlowRunner(f), [AGIResult(200, "0"), marker,
                                        AGIResult(200, "123", "timeout")])
    assert finished.variables == {"n": "123"} and finished.queue == "sales"
    finished, _ = drive(FlowRunner(f), [AGIResult(200, "0"), marker,
                                        AGIResult(200, "12", "timeout")])
    assert finished.outcome == "ended"
    assert [p["label"] for p in finished.path][0] == "12 rejected"


def test_say_prompt_speaks_a_flow_variable():
    f = flow({"s": {"kind": "set", "variables": {"n": "42"}, "next": "p"},
              "p": {"kind": "play", "prompts": [{"say": "digits", "var": "n"}, "p/x"],
                    "next": "q"},
              "q": {"kind": "queue", "queue": "sales"}})
    _, sent = drive(FlowRunner(f), [])
    assert ("SAY DIGITS", "42", "") in sent and ("STREAM FILE", "p/x", "") in sent


def test_language_switch_tells_asterisk_and_picks_per_language_prompts():
    f = flow({"l": {"kind": "language", "language": "fr", "next": "p"},
              "p": {"kind": "play", "prompts": [{"en": "en/x", "fr": "fr/x"}], "next": "q"},
              "q": {"kind": "queue", "queue": "sales"}}, languages=["en", "fr"])
    finished, sent = drive(FlowRunner(f), [])
    assert ("SET VARIABLE", "CHANNEL(language)", "fr") in sent
    assert ("STREAM FILE", "fr/x", "") in sent and finished.language == "fr"


def test_queue_node_leaves_the_queue_and_priority_on_the_channel_for_the_fallback():
    f = flow({"q": {"kind": "queue", "queue": "sales", "priority": 7, "skills": ["x"],
                    "callback": True, "announce_every": 30}})
    finished, sent = drive(FlowRunner(f), [])
    assert sent[-2:] == [("SET VARIABLE", "QUEUE", "sales"), ("SET VARIABLE", "QUEUE_PRIO", "7")]
    assert finished.priority == 7 and finished.skills == ("x",)
    assert finished.wait.callback and finished.wait.announce_every == 30


def test_pin_never_shows_in_path_lookup_repr_or_finished():
    case = CASES[2]
    finished, _, crm = run_case(case)
    assert "8642" not in repr(finished) and "8642" not in repr(crm.asked)
    assert finished.path[4]["input"] == "4417… ****"
    assert "4417… verified" in finished.summary


def test_locked_account_is_not_verified_nor_asked_again_and_goes_to_fail():
    f = flow({"who": {"kind": "identify", "by": ["account"], "account_prompt": "p/acct",
                      "pin_prompt": "p/pin", "invalid_prompt": "p/invalid", "retries": 2,
                      "account_digits": 8, "next": "vip_q", "fail": "q"},
              "vip_q": {"kind": "queue", "queue": "vip"},
              "q": {"kind": "queue", "queue": "sales"}})
    caller = FakeCaller({"p/acct": "44170039", "p/pin": "8642"})
    asked = []

    def locked(kind, args):
        asked.append(Lookup(kind, dict(args)))
        return ACCOUNT_LOCKED

    runner, now = FlowRunner(f), 0.0
    step = runner.start(now)
    while not isinstance(step, Finished):
        now += 1
        if isinstance(step, Lookup):
            step = runner.on_lookup(locked(step.kind, step.args), now)
        else:
            step = runner.on_result(caller.answer(step.words), now)
    assert [a.kind for a in asked] == ["account_pin"]
    assert step.queue == "sales" and step.customer is None
    who = [s for s in step.path if s["step"] == "who"]
    assert [s["label"] for s in who] == ["account 4417… locked"]
    assert "p/invalid" not in [w[1] for w in caller.commands if len(w) > 1]
    assert "8642" not in repr(step) and "8642" not in repr(asked)


def test_quiet_loop_at_run_time_goes_to_the_fallback_queue():
    f, _ = parse_flow({"flow": {"start": "a", "fallback_queue": "support"},
                       "nodes": {"a": {"kind": "set", "next": "b"},
                                 "b": {"kind": "set", "next": "a"}}}, "loop.toml")
    finished, _ = drive(FlowRunner(f), [])
    assert finished.outcome == "error" and finished.queue == "support"


def test_refused_command_sends_the_caller_to_the_fallback_queue():
    f = flow({"p": {"kind": "play", "prompts": ["p/x"], "next": "q"},
              "q": {"kind": "queue", "queue": "sales"}})
    runner = FlowRunner(f)
    runner.start(0.0)
    runner.on_result(AGIResult(200, "0"), 1.0)
    finished = runner.fail("STREAM FILE refused", 2.0)
    assert finished.queue == "support" and finished.outcome == "error"
    assert finished.path[-1]["label"] == "error: STREAM FILE refused"


def test_answers_out_of_turn_are_our_bug_and_raise():
    f = flow({"i": {"kind": "identify", "by": ["caller"], "next": "q", "fail": "q"},
              "q": {"kind": "queue", "queue": "sales"}})
    runner = FlowRunner(f, FlowContext(caller_number="5551230000"))
    with pytest.raises(RuntimeError):
        runner.on_result(AGIResult(200, "0"), 0.0)
    assert runner.start(0.0) == Command(("ANSWER",))
    assert runner.on_result(AGIResult(200, "0"), 1.0) == Command(("SET VARIABLE", "IVR_NODE",
                                                                   "i"))
    assert isinstance(runner.on_result(AGIResult(200, "1"), 1.0), Lookup)
    with pytest.raises(RuntimeError):
        runner.on_result(AGIResult(200, "0"), 1.0)


def test_path_times_are_the_times_given():
    finished, _, _ = run_case(CASES[0], start=1000.0)
    times = [p["at"] for p in finished.path]
    assert times == sorted(times) and times[0] > 1000.0


def test_helpers_mask_and_check():
    assert mask_account("44170039") == "4417…" and mask_account("12") == "…"
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert not luhn_ok("41a1")
