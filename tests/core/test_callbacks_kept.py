"""Callbacks kept in the store, on a real CallCenter with a clock and an in-memory store
run inline: read back at start-up at their places, an interrupted attempt counted,
callbacks scheduled at wrap-up entering their queue at their time, replaced or withdrawn."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from twisted.internet import task

from callcenter.bus import Bus
from callcenter.center import CallCenter
from callcenter.settings import load_settings
from crm_store.store import Store, make_engine
from tests.core.test_wrapup import Hub, InlineDB, hang_up, run, take_call

NOW = 1_795_500_800.0
ADA = "+15551234567"


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


@pytest.fixture
def world():
    store = Store(make_engine("sqlite://"), clock=lambda: NOW)
    store.create_schema()
    settings = load_settings(environ={}, overrides={
        "queues": [{"name": "sales", "disposition_required": False},
                   {"name": "support", "disposition_required": False}],
        "routing": {"callback_priority": 7, "callback_attempts": 2,
                    "callback_retry_seconds": 30.0}})
    clock = task.Clock()
    clock.advance(NOW)
    center = CallCenter(clock=clock, bus=Bus(), db=InlineDB(store), settings=settings,
                        hub=Hub())
    agents = [store.add_agent(username=f"agent{i}", password="pw", display_name=f"Agent {i}",
                              extension=str(1000 + i), interface=f"Local/{1000 + i}@agents/n")
              for i in (1, 2)]
    for a in agents:
        key = center.register_agent(a)
        center._apply(center.router.login(key, NOW))
    yield store, center, clock, [str(a.id) for a in agents]
    center.stop()


def test_pending_callbacks_are_read_back_at_their_places(world):
    store, center, clock, _ = world
    store.add_callback(call_id="cb-late", number=ADA, queue="support", queued_at=NOW - 10)
    store.add_callback(call_id="cb-early", number=ADA, queue="support", queued_at=NOW - 100,
                       parent_call_id="c0", priority=3, skills="lang_es:2")
    store.add_callback(call_id="cb-done", number=ADA, queue="support", queued_at=NOW - 200)
    store.update_callback("cb-done", status="done")
    center._apply(center.router.enqueue("c-new", "support", NOW - 50))
    center.outbound.restore()
    assert [w.call_id for w in center.router.waiting_in("support")] == [
        "cb-early", "c-new", "cb-late"]
    early = center.router.waiting["cb-early"]
    assert (early.callback, early.own_priority, early.own_skills) == (True, 3, {"lang_es": 2})
    # Their contacts exist (opened now if they were lost), queued at their place.
    contact = store.contact("cb-early")
    assert (contact.direction, contact.parent_call_id, contact.queued_at) == (
        "callback", "c0", NOW - 100)
    assert "cb-done" not in center.router.waiting


def test_an_attempt_under_way_at_the_stop_counts_as_not_answered(world):
    store, center, clock, (a1, _) = world
    store.add_callback(call_id="cb-1", number=ADA, queue="support", queued_at=NOW - 100)
    store.update_callback("cb-1", status="dialling")
    store.add_callback(call_id="cb-2", number=ADA, queue="support", queued_at=NOW - 90)
    store.update_callback("cb-2", status="dialling", attempts=1)
    center.outbound.restore()
    # One attempt of two left: parked for the retry delay.
    row = store.callback("cb-1")
    assert (row.status, row.attempts, row.due_at, row.last_result) == (
        "pending", 1, NOW + 30.0, "interrupted")
    assert center.router.waiting["cb-1"].parked
    # That was its last attempt: given up, contact closed.
    assert (store.callback("cb-2").status, store.callback("cb-2").attempts) == ("failed", 2)
    assert store.contact("cb-2").outcome == "callback_failed"
    assert "cb-2" not in center.router.waiting
    center._apply(center.router.ready(a1, clock.seconds()))
    assert center.router.agent(a1).state.value == "ready"  # nothing offered while parked
    clock.advance(30.0)
    # Its time comes: offered, and (no PBX link here) the attempt is not placed: that
    # was the last one.
    center._apply(center.router.tick(clock.seconds()))
    row = store.callback("cb-1")
    assert (row.status, row.attempts) == ("failed", 2)
    assert store.contact("cb-1").outcome == "callback_failed"


def test_a_callback_in_a_queue_that_no_longer_exists_is_given_up(world):
    store, center, _, _ = world
    store.add_callback(call_id="cb-1", number=ADA, queue="billing", queued_at=NOW - 5)
    center.outbound.restore()
    assert store.callback("cb-1").status == "failed"
    assert store.contact("cb-1").outcome == "callback_failed"


def test_a_callback_scheduled_at_wrapup_joins_its_queue_at_its_time(world):
    store, center, clock, (a1, a2) = world
    cid = store.add_customer(name="Ada Lovelace", phones=[ADA])
    take_call(store, center, a1, queue="support", number=ADA)
    store.update_contact("c1", customer_id=cid)
    hang_up(center, a1)
    due = NOW + 3600
    run(center, a1, "wrapup", {"call_id": "c1", "disposition": "", "notes": "invoice",
                               "callback": {"at": iso(due), "number": ""}})
    (row,) = store.pending_callbacks()
    assert (row.parent_call_id, row.queue, row.priority, row.due_at, row.customer_id,
            row.scheduled_by, row.notes) == ("c1", "support", 7, due, cid, int(a1), "invoice")
    clock.advance(3599)
    assert row.call_id not in center.router.waiting
    assert store.contact(row.call_id) is None
    clock.advance(1)
    waiting = center.router.waiting[row.call_id]
    assert (waiting.callback, waiting.queued_at, waiting.priority) == (True, due, 7)
    contact = store.contact(row.call_id)
    assert (contact.direction, contact.parent_call_id, contact.arrived_at, contact.queue) == (
        "callback", "c1", due, "support")
    # An agent takes it; with no PBX link the attempt cannot be placed: it counts as
    # not answered and waits for its retry.
    center._apply(center.router.ready(a2, clock.seconds()))
    row = store.callback(row.call_id)
    assert (row.status, row.attempts, row.due_at, row.last_result) == (
        "pending", 1, due + 30.0, "FAILED")


def test_saving_the_wrapup_again_replaces_or_withdraws_the_callback(world):
    store, center, clock, (a1, _) = world
    take_call(store, center, a1, queue="support", number=ADA)
    hang_up(center, a1)
    run(center, a1, "wrapup", {"call_id": "c1", "disposition": "", "notes": "",
                               "callback": {"at": iso(NOW + 60), "number": ""}})
    (first,) = store.pending_callbacks()
    run(center, a1, "wrapup", {"call_id": "c1", "disposition": "", "notes": "",
                               "callback": {"at": iso(NOW + 120), "number": ""}})
    (second,) = store.pending_callbacks()
    assert store.callback(first.call_id).status == "cancelled"
    clock.advance(60)
    assert first.call_id not in center.router.waiting
    clock.advance(60)
    assert second.call_id in center.router.waiting  # nobody ready: it waits
    # Withdrawn once in its queue: out of the queue, contact closed as cancelled.
    run(center, a1, "wrapup", {"call_id": "c1", "disposition": "", "notes": "",
                               "callback": None})
    assert store.pending_callbacks() == []
    assert second.call_id not in center.router.waiting
    assert store.contact(second.call_id).outcome == "callback_cancelled"
