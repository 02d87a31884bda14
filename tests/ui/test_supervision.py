"""The wallboard's push messages from plain dicts (pure, no reactor)."""

from __future__ import annotations

import json

import pytest

from callcenter.supervision import (
    Wallboard,
    agents_message,
    halfhours_message,
    queue_stats_message,
)

NOW = 1_790_000_100.0

AGENTS = [
    {"id": "1", "display_name": "Alice", "state": "ready", "since": NOW - 30, "queues": ["support"],
     "calls_handled": 3},
    {"id": 2, "name": "Bob", "state": "on_call", "since": NOW - 5, "call_id": "17.1",
     "customer": "Dana Whitfield", "queues": ["support", "sales"], "calls_handled": 7},
    {"id": 3, "name": "Cy", "state": "not_ready", "reason": "lunch", "queues": ["sales"]},
    {"id": 4, "name": "Di", "state": "wrap_up", "queues": ["support"]},
    {"id": 5, "name": "Ed", "state": "logged_out", "queues": ["support"]},
    {"id": 6, "name": "Flo", "state": "reserved", "queues": ["elsewhere"]},
]


def test_queue_figures_are_computed_from_counts_and_waiting_times():
    queues = [{"name": "support", "waiting_since": [NOW - 42, NOW - 7], "answered": 8,
               "abandoned": 2, "answered_in_sl": 6, "answer_wait_s": 96.0}]
    message = queue_stats_message(queues, AGENTS, now=NOW)
    assert message == {
        "type": "queue_stats",
        "queues": [{
            "name": "support", "waiting": 2, "longest_wait_s": 42.0, "service_level": 0.6,
            "asa_s": 12.0, "abandon_rate": 0.2,
            "agents": {"ready": 1, "busy": 1, "wrap_up": 1, "not_ready": 0},
        }],
        "at": NOW,
    }
    json.dumps(message)  # goes on the wire as is


def test_ready_made_figures_are_kept_and_clamped():
    queues = [{"name": "sales", "waiting": 1, "longest_wait_s": 3.04, "service_level": 1.7,
               "asa_s": -2, "abandon_rate": 0.25}]
    (entry,) = queue_stats_message(queues, AGENTS, now=NOW)["queues"]
    assert (entry["waiting"], entry["longest_wait_s"]) == (1, 3.0)
    assert (entry["service_level"], entry["asa_s"], entry["abandon_rate"]) == (1.0, 0.0, 0.25)
    assert entry["agents"] == {"ready": 0, "busy": 1, "wrap_up": 0, "not_ready": 1}


def test_a_quiet_queue_has_no_figures_rather_than_made_up_ones():
    (entry,) = queue_stats_message([{"name": "night", "answered": 0, "abandoned": 0,
                                     "answered_in_sl": 0}], [], now=NOW)["queues"]
    assert entry == {"name": "night", "waiting": 0, "longest_wait_s": 0.0, "service_level": None,
                     "asa_s": None, "abandon_rate": None,
                     "agents": {"ready": 0, "busy": 0, "wrap_up": 0, "not_ready": 0}}


@pytest.mark.parametrize("bad", [None, "x", float("nan"), True, {"a": 1}, -5])
def test_garbage_figures_never_crash_and_give_zero_or_none(bad):
    queues = [{"name": "q", "waiting": bad, "longest_wait_s": bad, "service_level": bad,
               "asa_s": bad, "abandon_rate": bad}, {"no": "name"}]
    (entry,) = queue_stats_message(queues, [{"state": bad, "queues": bad}], now=NOW)["queues"]
    assert entry["waiting"] == 0
    json.dumps(entry, allow_nan=False)


def test_agent_grid_has_the_protocol_fields_busiest_first():
    grid = agents_message(AGENTS)
    assert [a["name"] for a in grid["agents"]] == ["Bob", "Flo", "Di", "Alice", "Cy", "Ed"]
    assert grid["agents"][0] == {
        "id": 2, "name": "Bob", "state": "on_call", "reason": "", "since": NOW - 5,
        "call_id": "17.1", "customer": "Dana Whitfield", "calls_handled": 7,
    }
    alice = grid["agents"][3]
    assert (alice["id"], alice["call_id"], alice["customer"]) == (1, None, None)


def test_update_sends_only_what_changed():
    board = Wallboard()
    queues = [{"name": "support", "waiting": 0}]
    first = board.update(queues, AGENTS, now=NOW)
    assert [m["type"] for m in first] == ["queue_stats", "agents"]
    assert board.update(queues, AGENTS, now=NOW + 1) == []
    joined = board.update([{"name": "support", "waiting": 1, "longest_wait_s": 0}], AGENTS,
                          now=NOW + 2)
    assert [m["type"] for m in joined] == ["queue_stats"]
    assert joined[0]["queues"][0]["waiting"] == 1
    moved = [dict(a, state="ready") if a["id"] == 4 else a for a in AGENTS]
    assert [m["type"] for m in board.update([{"name": "support", "waiting": 1,
                                               "longest_wait_s": 0}], moved, now=NOW + 3)] == [
        "queue_stats", "agents"]


def test_messages_always_gives_both_and_snapshot_remembers_nothing():
    board = Wallboard()
    snap = board.snapshot([{"name": "support"}], AGENTS, now=NOW)
    assert set(snap) == {"queues", "agents", "at"}
    assert [m["type"] for m in board.messages([{"name": "support"}], AGENTS, now=NOW)] == [
        "queue_stats", "agents"]
    assert board.update([{"name": "support"}], AGENTS, now=NOW) == []


# ------------------------------------------------------------- half-hour charts

TODAY = {"day": 20_000, "day_start": 20_000 * 86400.0, "slot": 19, "queues": {
    "support": {16: {"offered": 3, "answered": 2, "answered_in_sl": 1, "abandoned": 1,
                     "short_abandoned": 0},
                18: {"offered": 1, "answered": 0, "answered_in_sl": 0, "abandoned": 0,
                     "short_abandoned": 1}},
    "sales": {16: {"offered": 1, "answered": 1, "answered_in_sl": 1, "abandoned": 0,
                   "short_abandoned": 0}},
    "gone": {16: {"offered": 9, "answered": 9, "answered_in_sl": 9, "abandoned": 0}},
}}
TARGETS = [{"name": "support", "target": 0.8, "threshold_s": 20.0},
           {"name": "sales", "target": 0.9, "threshold_s": 20.0},
           {"name": "night", "target": 0.7, "threshold_s": 20.0}]


def test_halfhours_message_per_queue_and_in_total_with_targets():
    message = halfhours_message(TODAY, TARGETS, now=NOW)
    json.dumps(message, allow_nan=False)
    assert (message["type"], message["date"], message["slot"], message["slot_s"]) == (
        "halfhours", "2024-10-04", 19, 1800)
    support, sales, night = message["queues"]
    assert support == {"name": "support", "target": 0.8, "threshold_s": 20.0, "slots": [
        {"slot": 16, "offered": 3, "answered": 2, "abandoned": 1, "service_level": 0.3333},
        {"slot": 18, "offered": 1, "answered": 0, "abandoned": 0, "service_level": None}]}
    assert sales["slots"] == [{"slot": 16, "offered": 1, "answered": 1, "abandoned": 0,
                               "service_level": 1.0}]
    assert night["slots"] == []
    total = message["total"]
    assert (total["target"], total["threshold_s"]) == (0.8, 20.0)  # mean of the targets
    assert total["slots"][0] == {"slot": 16, "offered": 4, "answered": 3, "abandoned": 1,
                                 "service_level": 0.5}  # a queue not configured: left out


def test_halfhours_update_pushes_only_when_a_slot_changes():
    board = Wallboard()
    assert [m["type"] for m in board.halfhours_update(TODAY, TARGETS, now=NOW)] == ["halfhours"]
    assert board.halfhours_update(TODAY, TARGETS, now=NOW + 1) == []
    next_slot = dict(TODAY, slot=20)
    assert len(board.halfhours_update(next_slot, TARGETS, now=NOW + 2)) == 1
    new_day = {"day": 20_001, "day_start": 20_001 * 86400.0, "slot": 0, "queues": {}}
    (message,) = board.halfhours_update(new_day, TARGETS, now=NOW + 3)
    assert message["date"] == "2024-10-05" and message["total"]["slots"] == []
