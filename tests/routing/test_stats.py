import pytest

from callcenter.events import AgentStateChanged
from routing.queues import QueueConfig
from routing.router import Router
from routing.stats import Stats, queue_updates

MIDNIGHT = 20_000 * 86400.0  # a UTC midnight


def make_stats(**kw):
    return Stats([QueueConfig("support", service_level_s=20.0, short_abandon_s=5.0)], **kw)


def test_service_level_asa_aht_and_abandon_rate_from_outcomes():
    s = make_stats()
    t = MIDNIGHT + 3600
    s.call_answered("support", 10.0, t)
    s.call_answered("support", 30.0, t + 1)
    s.call_abandoned("support", 40.0, t + 2)
    s.call_abandoned("support", 2.0, t + 3)  # short: not counted against us
    s.call_handled("support", 200.0, t + 4)
    s.call_handled("support", 100.0, t + 5)
    day, rolling = s.figures("support", t + 10)
    assert day == rolling
    assert (day["offered"], day["answered"], day["abandoned"], day["short_abandoned"]) == (4, 2, 1, 1)
    assert day["service_level"] == pytest.approx(1 / 3, abs=1e-4)
    assert day["asa_s"] == 20.0 and day["aht_s"] == 150.0
    assert day["abandon_rate"] == pytest.approx(1 / 3, abs=1e-4)


def test_rolling_window_forgets_after_15_minutes_but_the_day_does_not():
    s = make_stats()
    t = MIDNIGHT + 3600
    s.call_answered("support", 5.0, t)
    day, rolling = s.figures("support", t + 16 * 60)
    assert day["answered"] == 1 and rolling["answered"] == 0
    assert rolling["service_level"] is None


def test_midnight_starts_a_new_day_while_the_rolling_window_runs_on():
    s = make_stats()
    s.call_answered("support", 5.0, MIDNIGHT - 60)
    s.call_answered("support", 50.0, MIDNIGHT + 60)
    day, rolling = s.figures("support", MIDNIGHT + 120)
    assert day["answered"] == 1 and day["service_level"] == 0.0
    assert rolling["answered"] == 2 and rolling["service_level"] == 0.5


def test_day_boundary_follows_the_utc_offset():
    s = make_stats(utc_offset_s=-5 * 3600)  # the day starts at 05:00 UTC
    s.call_answered("support", 5.0, MIDNIGHT + 3600)
    day, _ = s.figures("support", MIDNIGHT + 4 * 3600)
    assert day["answered"] == 1
    day, _ = s.figures("support", MIDNIGHT + 6 * 3600)
    assert day["answered"] == 0


def test_occupancy_counts_working_time_against_ready_time_across_midnight():
    s = make_stats()
    start = MIDNIGHT - 300
    s.agent_changed(AgentStateChanged("a1", "ready", "", start))
    s.agent_changed(AgentStateChanged("a1", "on_call", "", start + 100, "c1"))
    s.agent_changed(AgentStateChanged("a1", "wrap_up", "", MIDNIGHT + 100))
    s.agent_changed(AgentStateChanged("a1", "ready", "", MIDNIGHT + 200))
    day, rolling = s.figures("support", MIDNIGHT + 400)
    # Rolling: 100 s ready, 400 s busy, 200 s ready (still ready now).
    assert rolling["occupancy"] == pytest.approx(400 / 700, abs=1e-4)
    # Day: since midnight 200 s busy, 200 s ready.
    assert day["occupancy"] == pytest.approx(0.5, abs=1e-4)


def test_queue_updates_combine_live_counts_and_figures():
    router = Router([QueueConfig("support")])
    router.add_agent("a1", ["support"])
    router.not_ready("a1", "break", 0.0)
    router.enqueue("c1", "support", MIDNIGHT)
    router.enqueue("c2", "support", MIDNIGHT + 30)
    (update,) = queue_updates(router, make_stats(), MIDNIGHT + 45)
    assert (update.queue, update.waiting, update.longest_wait_s) == ("support", 2, 45.0)
    assert update.agents == {"not_ready": 1}
    assert update.day["offered"] == 0


# ------------------------------------------------------------- half-hour slots


def test_calls_count_in_the_half_hour_of_their_outcome_per_queue():
    s = Stats([QueueConfig("support", service_level_s=20.0, short_abandon_s=5.0),
               QueueConfig("sales")])
    s.call_answered("support", 10.0, MIDNIGHT + 8 * 3600 + 1)  # 08:00:01, in 20 s
    s.call_answered("support", 30.0, MIDNIGHT + 8 * 3600 + 1799)  # 08:29:59, too slow
    s.call_abandoned("support", 40.0, MIDNIGHT + 8 * 3600 + 1800)  # 08:30
    s.call_abandoned("support", 2.0, MIDNIGHT + 8 * 3600 + 1800)  # short
    s.call_answered("sales", 1.0, MIDNIGHT + 9 * 3600)
    today = s.halfhours.today(MIDNIGHT + 9 * 3600 + 60)
    assert today["day"] == 20_000 and today["day_start"] == MIDNIGHT
    assert today["slot"] == 18
    support = today["queues"]["support"]
    assert support[16] == {"offered": 2, "answered": 2, "answered_in_sl": 1, "abandoned": 0,
                           "short_abandoned": 0}
    assert support[17] == {"offered": 2, "answered": 0, "answered_in_sl": 0, "abandoned": 1,
                           "short_abandoned": 1}
    assert list(today["queues"]["sales"]) == [18]


def test_a_new_day_drops_yesterdays_slots_without_a_call_and_ignores_late_ones():
    s = make_stats()
    s.call_answered("support", 5.0, MIDNIGHT - 1)  # 23:59:59
    assert s.halfhours.today(MIDNIGHT - 0.5)["queues"]["support"][47]["answered"] == 1
    after = s.halfhours.today(MIDNIGHT + 0.5)
    assert (after["day"], after["slot"], after["queues"]) == (20_000, 0, {})
    s.call_answered("support", 5.0, MIDNIGHT - 2)  # reported late: yesterday's
    s.call_answered("support", 5.0, MIDNIGHT + 1)
    assert s.halfhours.today(MIDNIGHT + 2)["queues"] == {
        "support": {0: {"offered": 1, "answered": 1, "answered_in_sl": 1, "abandoned": 0,
                        "short_abandoned": 0}}}


def test_half_hours_follow_the_local_day():
    s = make_stats(utc_offset_s=5.5 * 3600)  # UTC+05:30: local midnight is 18:30 UTC
    s.call_answered("support", 5.0, MIDNIGHT - 5.5 * 3600 + 60)  # 00:01 local
    today = s.halfhours.today(MIDNIGHT - 5.5 * 3600 + 120)
    assert today["day"] == 20_000 and today["day_start"] == MIDNIGHT - 5.5 * 3600
    assert list(today["queues"]["support"]) == [0]
    s.call_answered("support", 5.0, MIDNIGHT + 60)  # 05:31 local, same day
    assert list(s.halfhours.today(MIDNIGHT + 120)["queues"]["support"]) == [0, 11]
