"""The agent state log: every transition kept for reporting (SQLite and PostgreSQL)."""

from __future__ import annotations


def test_transitions_are_kept_in_order_and_filtered_by_agent_and_time(store):
    a = store.add_agent(username="amy", password="pw-amy-123", extension="1001")
    b = store.add_agent(username="bob", password="pw-bob-123", extension="1002")
    assert store.log_agent_states([]) == 0
    written = store.log_agent_states([
        (str(a.id), 100.0, "not_ready", "logged_out", "", None),
        (str(a.id), 105.5, "ready", "not_ready", "", None),
        (b.id, 106.0, "not_ready", "logged_out", "", None),
        (str(a.id), 110.25, "reserved", "ready", "", "1700000000.1"),
        (str(a.id), 111.0, "on_call", "reserved", "", "1700000000.1"),
        (str(a.id), 150.0, "not_ready", "wrap_up", "lunch", None),
    ])
    assert written == 6
    rows = store.agent_state_log(a.id)
    assert [r["state"] for r in rows] == ["not_ready", "ready", "reserved", "on_call",
                                          "not_ready"]
    assert rows[2] == {"agent_id": a.id, "at": 110.25, "state": "reserved",
                       "previous": "ready", "reason": "", "call_id": "1700000000.1"}
    assert rows[-1]["reason"] == "lunch"
    assert [r["state"] for r in store.agent_state_log(a.id, since=110.0)] == [
        "reserved", "on_call", "not_ready"]
    assert len(store.agent_state_log()) == 6
    assert [r["agent_id"] for r in store.agent_state_log(b.id)] == [b.id]
