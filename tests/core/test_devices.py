"""Agents' phone states from AMI ``DeviceStateChange`` (pure)."""

from __future__ import annotations

from callcenter.devices import DeviceStates

AGENTS = {"PJSIP/1001": "1", "Local/1002@agents": "2"}


def states() -> DeviceStates:
    return DeviceStates(AGENTS.get)


def test_a_phone_in_use_is_busy_and_reported_once_per_change():
    d = states()
    changed = d.feed("PJSIP/1001", "INUSE", 1.0)
    assert (changed.agent_id, changed.busy, changed.state, changed.at) == ("1", True, "INUSE", 1.0)
    assert d.feed("PJSIP/1001", "RINGINUSE", 2.0) is None  # still busy: nothing new
    freed = d.feed("PJSIP/1001", "NOT_INUSE", 3.0)
    assert (freed.busy, freed.state) == (False, "NOT_INUSE")
    assert d.feed("PJSIP/1001", "NOT_INUSE", 4.0) is None


def test_ringing_on_hold_and_unreachable_phones_take_no_offers():
    for state in ("RINGING", "ONHOLD", "UNAVAILABLE", "BUSY", "inuse"):
        assert states().feed("PJSIP/1001", state, 0.0).busy is True


def test_other_devices_and_meaningless_states_are_ignored():
    d = states()
    assert d.feed("PJSIP/2000", "INUSE", 0.0) is None  # nobody's phone
    assert d.feed("Queue:sales_avail", "INUSE", 0.0) is None
    d.feed("PJSIP/1001", "INUSE", 0.0)
    assert d.feed("PJSIP/1001", "UNKNOWN", 1.0) is None  # keeps what we knew
    assert d.feed("PJSIP/1001", "INVALID", 1.0) is None
    assert d.busy("PJSIP/1001")
    assert d.feed("", "", 1.0) is None


def test_resync_after_reconnect_frees_phones_no_longer_in_a_call_and_marks_live_ones():
    d = states()
    d.feed("PJSIP/1001", "INUSE", 0.0)
    out = d.resync({"Local/1002@agents", "PJSIP/9999", "Local/s@inbound"}, 5.0)
    assert sorted((c.agent_id, c.busy) for c in out) == [("1", False), ("2", True)]
    assert d.resync({"Local/1002@agents"}, 6.0) == []
