"""Agents' phones as Asterisk reports them: AMI ``DeviceStateChange`` in, a
``DeviceStateChanged`` out when an agent's phone turns busy or free.

Pure: given events and ``now``, no I/O. A phone that is in use, ringing, on hold or
unreachable cannot take an offer, whoever put it in that state (a personal call, a
call dialled by hand, a phone that lost its registration).
"""

from __future__ import annotations

from collections.abc import Callable

from callcenter.events import DeviceStateChanged

# Asterisk device states (``ast_devstate_str``) that make a phone unroutable.
BUSY_STATES = frozenset({"INUSE", "BUSY", "RINGING", "RINGINUSE", "ONHOLD", "UNAVAILABLE"})
# States that say nothing reliable about the phone: keep what we knew.
UNKNOWN_STATES = frozenset({"UNKNOWN", "INVALID", ""})


class DeviceStates:
    """Follows the device state of the phones that belong to agents."""

    def __init__(self, agent_of: Callable[[str], str | None]):
        self._agent_of = agent_of  # device ("PJSIP/1001") -> agent id, or None
        self._busy: dict[str, bool] = {}  # device -> last busy value we reported

    def feed(self, device: str, state: str, now: float) -> DeviceStateChanged | None:
        """One ``DeviceStateChange`` (its ``Device`` and ``State`` headers)."""
        device = (device or "").strip()
        state = (state or "").strip().upper()
        agent_id = self._agent_of(device)
        if agent_id is None or state in UNKNOWN_STATES:
            return None
        busy = state in BUSY_STATES
        if self._busy.get(device, False) == busy:
            return None
        self._busy[device] = busy
        return DeviceStateChanged(agent_id, device, state, busy, now)

    def busy(self, device: str) -> bool:
        return self._busy.get(device, False)

    def resync(self, live_devices, now: float) -> list[DeviceStateChanged]:
        """After an AMI reconnect: the devices of the channels alive now (from
        ``CoreShowChannels``) are busy, every other agent phone is free."""
        live = {d for d in live_devices if self._agent_of(d) is not None}
        out = []
        for device in sorted(set(self._busy) | live):
            busy = device in live
            if self._busy.get(device, False) != busy:
                self._busy[device] = busy
                out.append(DeviceStateChanged(self._agent_of(device), device,
                                              "INUSE" if busy else "NOT_INUSE", busy, now))
        return out
