"""Business hours: weekly schedule in a time zone, holidays, DST."""

from datetime import datetime
from zoneinfo import ZoneInfo

from ivr.load import parse_flow

NY = ZoneInfo("America/New_York")


def schedule():
    flow, problems = parse_flow({
        "flow": {"start": "q"}, "nodes": {"q": {"kind": "queue", "queue": "sales"}},
        "schedules": {"office": {"timezone": "America/New_York", "mon": ["08:00-12:00",
                      "13:00-18:00"], "sat": ["09:00-24:00"], "holidays": ["2026-12-25"]}},
    }, "h.toml")
    assert problems == []
    return flow.schedules["office"]


def at(*args) -> float:
    return datetime(*args, tzinfo=NY).timestamp()


def test_open_inside_a_range_in_local_time_closed_outside():
    s = schedule()
    assert s.is_open(at(2026, 11, 23, 8, 0))          # Monday 08:00 New York
    assert not s.is_open(at(2026, 11, 23, 7, 59))
    assert not s.is_open(at(2026, 11, 23, 12, 30))    # lunch gap
    assert not s.is_open(at(2026, 11, 23, 18, 0))     # end is exclusive
    assert not s.is_open(at(2026, 11, 24, 10, 0))     # Tuesday: no hours


def test_time_zone_decides_not_utc():
    s = schedule()
    # Monday 14:00 UTC is 09:00 in New York (EST, UTC-5): open.
    assert s.is_open(datetime(2026, 11, 23, 14, 0, tzinfo=ZoneInfo("UTC")).timestamp())
    # Monday 12:30 UTC is 07:30 in New York: closed.
    assert not s.is_open(datetime(2026, 11, 23, 12, 30, tzinfo=ZoneInfo("UTC")).timestamp())


def test_daylight_saving_time_is_followed():
    s = schedule()
    assert s.is_open(at(2026, 7, 6, 8, 30))           # a Monday in EDT
    assert not s.is_open(at(2026, 7, 6, 7, 30))


def test_holiday_is_closed_all_day_and_24_00_ends_the_day():
    s = schedule()
    assert s.is_open(at(2026, 12, 26, 10, 0))        # the Saturday after: open
    assert s.is_open(at(2026, 12, 26, 23, 59))
    assert not s.is_open(at(2026, 12, 25, 10, 0))    # Friday, Christmas (no hours anyway)
    holiday_monday, _ = parse_flow({
        "flow": {"start": "q"}, "nodes": {"q": {"kind": "queue", "queue": "s"}},
        "schedules": {"o": {"timezone": "UTC", "mon": ["00:00-24:00"],
                            "holidays": ["2026-11-23"]}}}, "x.toml")
    o = holiday_monday.schedules["o"]
    assert not o.is_open(datetime(2026, 11, 23, 12, tzinfo=ZoneInfo("UTC")).timestamp())
    assert o.is_open(datetime(2026, 11, 30, 12, tzinfo=ZoneInfo("UTC")).timestamp())


def test_demo_flow_serves_callers_day_and_night():
    # The demo line is open around the clock; its after-hours branch is exercised
    # with office hours in test_demo_flow.py.
    from ivr.check import load_book
    from ivr.runner import FlowRunner, Lookup
    from tests.ivr.cases import ROOT_CONFIG, FakeCaller, FakeCRM

    book = load_book([ROOT_CONFIG / "ivr"])
    for when, outcome in ((at(2026, 11, 23, 22, 0), "queued"), (at(2026, 11, 23, 10, 0),
                                                                  "queued")):
        runner, caller, crm = FlowRunner(book.for_dnis("8005550100")), FakeCaller(
            {"custom/language-menu": "1", "custom/main-menu": "1"}), FakeCRM()
        step = runner.start(when)
        while not hasattr(step, "outcome"):
            step = (runner.on_lookup(crm.lookup(step.kind, step.args), when)
                    if isinstance(step, Lookup) else runner.on_result(caller.answer(step.words),
                                                                      when))
        assert step.outcome == outcome
