"""The sample flow ``config/ivr/demo.toml`` run by the pure runner: the demo's paths,
and the after-hours branch with a schedule that is closed at a fixed time."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from types import MappingProxyType

from ivr.check import load_book
from ivr.model import Schedule
from ivr.runner import Finished, FlowContext, FlowRunner, Lookup
from tests.ivr.cases import ROOT_CONFIG, VIP, FakeCaller, FakeCRM

DEMO = ROOT_CONFIG / "ivr" / "demo.toml"
# Sunday 2026-11-22 23:30 in New York: outside the office hours the demo file suggests.
SUNDAY_NIGHT = datetime(2026, 11, 23, 4, 30, tzinfo=UTC).timestamp()


def run(flow, digits, number="5550000000", now=SUNDAY_NIGHT):
    runner = FlowRunner(flow, FlowContext(caller_number=number))
    caller, crm = FakeCaller(digits), FakeCRM(accounts={}, pins={})
    step = runner.start(now)
    while not isinstance(step, Finished):
        now += 1
        if isinstance(step, Lookup):
            step = runner.on_lookup(crm.lookup(step.kind, step.args), now)
        else:
            step = runner.on_result(caller.answer(step.words), now)
    return step, caller


def demo_flow():
    return load_book([DEMO], queues=["sales", "support"]).for_dnis("8005550100")


def test_demo_flow_is_open_at_any_hour():
    finished, _ = run(demo_flow(), {"custom/language-menu": "1", "custom/enter-account": "#",
                                    "custom/main-menu": "1"})
    assert finished.queue == "sales" and finished.outcome == "queued"
    assert finished.path[0]["label"].endswith("office: open -> yes")


def test_demo_flow_after_hours_takes_a_message():
    flow = demo_flow()
    office = flow.schedules["office"]
    weekdays_only = Schedule("office", office.timezone,
                             tuple(((480, 1200),) if d < 5 else () for d in range(7)))
    closed = dataclasses.replace(flow, schedules=MappingProxyType({"office": weekdays_only}))
    finished, caller = run(closed, {})
    assert finished.outcome == "voicemail" and finished.target == "100@callcenter"
    assert [p["step"] for p in finished.path] == ["hours", "closed", "after_hours_voicemail"]
    assert ("EXEC", "VoiceMail", "100@callcenter,s") in caller.commands


def test_demo_vip_caller_gets_the_vip_priority():
    finished, _ = run(demo_flow(), {"custom/language-menu": "1", "custom/main-menu": "2"},
                      number=VIP)
    assert finished.priority == 10 and finished.variables.get("vip") == "yes"
    assert finished.queue == "support"
