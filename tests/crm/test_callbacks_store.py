"""The callbacks table: written when a callback is asked for or scheduled, updated on
every attempt, read back after a restart. On SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import pytest

from crm_store import Store
from tests.crm.conftest import NOW


def ada(store: Store) -> int:
    return store.add_customer(name="Ada Lovelace", account_number="1815121000",
                              phones=["+1 555 123 4567"])


def test_a_callback_is_written_pending_and_read_back(store: Store):
    cid = ada(store)
    record = store.add_callback(call_id="cb-1", number="+15551234567", queue="support",
                                queued_at=NOW - 30, parent_call_id="1762.1", customer_id=cid,
                                priority=10, skills="lang_es:2")
    assert (record.status, record.attempts, record.due_at, record.scheduled_by) == (
        "pending", 0, None, None)
    assert record.queued_at == NOW - 30 and record.created_at == NOW
    again = store.callback("cb-1")
    assert again == record
    assert (again.customer_id, again.priority, again.skills) == (cid, 10, "lang_es:2")
    # Adding it twice keeps the first.
    assert store.add_callback(call_id="cb-1", number="+15550000000", queue="sales",
                              queued_at=NOW) == record


def test_attempts_and_outcomes_are_recorded(store: Store):
    store.add_callback(call_id="cb-1", number="+15551234567", queue="support", queued_at=NOW)
    store.update_callback("cb-1", status="dialling")
    record = store.update_callback("cb-1", status="pending", attempts=1, due_at=NOW + 60,
                                   last_result="BUSY")
    assert (record.status, record.attempts, record.due_at, record.last_result) == (
        "pending", 1, NOW + 60, "BUSY")
    record = store.update_callback("cb-1", status="done", due_at=None, last_result="ANSWER")
    assert (record.status, record.due_at) == ("done", None)
    with pytest.raises(ValueError, match="status 'lost'"):
        store.update_callback("cb-1", status="lost")
    with pytest.raises(ValueError, match="unknown callback field"):
        store.update_callback("cb-1", queue="sales")
    with pytest.raises(LookupError, match="cb-nope"):
        store.update_callback("cb-nope", status="done")


def test_pending_callbacks_are_those_still_to_place_in_queue_order(store: Store):
    for call_id, queued_at, status in [("cb-late", NOW, "pending"),
                                       ("cb-early", NOW - 100, "dialling"),
                                       ("cb-done", NOW - 200, "done"),
                                       ("cb-failed", NOW - 300, "failed"),
                                       ("cb-mid", NOW - 50, "pending")]:
        store.add_callback(call_id=call_id, number="+15551234567", queue="support",
                           queued_at=queued_at)
        if status != "pending":
            store.update_callback(call_id, status=status)
    assert [(r.call_id, r.status) for r in store.pending_callbacks()] == [
        ("cb-early", "dialling"), ("cb-mid", "pending"), ("cb-late", "pending")]


def test_a_new_wrapup_replaces_the_callback_scheduled_on_that_call(store: Store):
    cid = ada(store)
    agent = store.add_agent(username="agent1", password="pw-agent1")
    fields = dict(number="+15551234567", queue="support", queued_at=NOW + 3600,
                  due_at=NOW + 3600, customer_id=cid, scheduled_by=agent.id,
                  notes="call back about the invoice")
    assert store.schedule_callback("1762.1", call_id="cb-a", **fields) == []
    first = store.callback("cb-a")
    assert (first.parent_call_id, first.due_at, first.scheduled_by, first.notes) == (
        "1762.1", NOW + 3600, agent.id, "call back about the invoice")
    # A virtual-hold callback of the same call is not the wrap-up's to replace.
    store.add_callback(call_id="cb-hold", number="+15551234567", queue="support",
                       queued_at=NOW, parent_call_id="1762.1")
    assert store.schedule_callback("1762.1", call_id="cb-b", **fields) == ["cb-a"]
    assert store.callback("cb-a").status == "cancelled"
    # Saved again without a callback: the scheduled one is withdrawn.
    assert store.schedule_callback("1762.1", call_id=None) == ["cb-b"]
    assert [r.call_id for r in store.pending_callbacks()] == ["cb-hold"]


def test_a_callback_needs_a_number(store: Store):
    with pytest.raises(ValueError, match="no number"):
        store.add_callback(call_id="cb-1", number="", queue="support", queued_at=NOW)
