"""The call tracker: AMI events in, past-tense call events out.

A sans-I/O core: it imports nothing from Twisted, reads no clock and does no I/O.
The AMI client feeds it one event message at a time with the time it arrived;
``feed`` returns the domain events (``callcenter.events``) that message caused.

How Asterisk 22 shows a call (see the recordings in ``asterisk-transcripts``):

- every channel has a ``Uniqueid``; all channels of one call share a ``Linkedid``,
  the uniqueid of the first channel. Calls are keyed by that ``Linkedid``;
- a call *arrives* with the first ``Newchannel`` of a new linkedid whose
  ``Context`` is one of the inbound contexts. Other linkedids (agent phones rung by
  an ``Originate``, click-to-dial) are tracked as channel groups but are not calls;
- the caller's side is the first channel and, for a ``Local`` channel, its other
  half (``;1``/``;2``). A dial towards the caller's own side (the ``DialBegin`` of
  an ``Originate``) is not an agent being offered the call;
- an agent is offered the call on ``DialBegin`` or the queue's ``AgentCalled``,
  whichever comes first, once per dialled channel; ``DialEnd`` ends the ringing
  (``ANSWER``: answered, anything else: ring ended); ``AgentConnect`` also answers;
- ``BlindTransfer`` and ``AttendedTransfer`` move the call; a caller channel that
  leaves a bridge in another dialplan place without hanging up was moved by a
  ``Redirect`` (Asterisk has no event for it);
- the call ends when the last live channel of the linkedid sends ``Hangup``. The
  cause is the caller's first channel's. Ended calls stay visible for a short
  grace, then are dropped; their linkedids are remembered (bounded) so late events
  cannot bring them back.

Events for unknown channels, global events (``Channel: none``), events without
their usual headers and unknown events are ignored; nothing here raises on input.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict, deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from callcenter.events import (
    AgentOffered,
    AgentRingEnded,
    CallAnswered,
    CallArrived,
    CallEnded,
    CallerIdentified,
    CallQueued,
    CallTransferred,
)

log = logging.getLogger(__name__)

__all__ = ["CallTracker", "CallView", "device_of"]

_UNSET = frozenset({"", "<unknown>", "none", "<none>"})
_NOT_DNIS = frozenset({"", "s", "h", "i", "t"})
_RINGING_STATES = frozenset({"RINGING", "PROCEEDING", "PROGRESS"})
_CHANNEL_SUFFIX = re.compile(r"-[0-9a-fA-F]{8,}(;\d+)?$")
_NOT_OBSERVED = frozenset({"Newchannel", "Hangup", "Cdr", "CEL"})
_ADOPTING = frozenset({
    "Newstate", "Newexten", "NewCallerid", "NewConnectedLine", "DialBegin", "DialState",
    "AgentCalled", "BridgeEnter", "QueueCallerJoin", "MusicOnHoldStart", "Hold",
})
"""Events that show a channel alive: one not seen before joins its linkedid."""
_MARKERS = re.compile(r"<[A-Z]+>$")  # <ZOMBIE>, <MASQ> on channels being replaced


class Message(Protocol):
    """What the tracker reads from an AMI event (``callcenter.ami.codec.Message``)."""

    name: str

    def get(self, header: str, default: Any = None) -> Any: ...


def device_of(channel_or_dialstring: str) -> str:
    """The device behind a channel name or dial string.

    ``Local/1001@agents-00000002;1`` → ``Local/1001@agents``,
    ``PJSIP/1001-0000000a`` → ``PJSIP/1001``, ``Local/1001@agents/n`` →
    ``Local/1001@agents``, ``PJSIP/1001/sip:1001@host`` → ``PJSIP/1001``.
    """
    name = (channel_or_dialstring or "").strip()
    name = name.split("&", 1)[0]
    while _MARKERS.search(name):
        name = _MARKERS.sub("", name)
    tech, slash, resource = name.partition("/")
    if not slash or "@" in tech:  # no technology: ``1003@agents/n`` from Dial()
        return _CHANNEL_SUFFIX.sub("", tech)
    resource = resource.split("/", 1)[0]  # dial options (/n) or a SIP URI
    return f"{tech}/{_CHANNEL_SUFFIX.sub('', resource)}"


def _pair_base(channel: str) -> str:
    """``Local/s@inbound-00000000;2`` → ``Local/s@inbound-00000000``: the name both
    halves of a Local channel share. Other channels are their own base."""
    if channel.startswith("Local/") and ";" in channel:
        return channel.rsplit(";", 1)[0]
    return channel


def _value(message: Message, header: str) -> str:
    """A header's value, stripped; ``""`` when absent or one of Asterisk's blanks."""
    try:
        raw = message.get(header)
    except Exception:  # a malformed message object must not stop the tracker
        return ""
    if raw is None:
        return ""
    text = str(raw).strip()
    return "" if text.lower() in _UNSET else text


# --------------------------------------------------------------------------- views


@dataclass(frozen=True, slots=True)
class CallView:
    """A snapshot of what is known about one call."""

    call_id: str
    direction: str
    channel: str
    uniqueid: str
    caller_number: str
    caller_name: str
    dnis: str
    arrived_at: float
    queue: str | None = None
    """The last queue the call joined (kept after it left)."""
    queued_at: float | None = None
    in_queue: bool = False
    ringing: tuple[str, ...] = ()
    """Devices offered the call and still ringing."""
    answered_by: str | None = None
    """Device of the agent the caller is (or was last) talking to."""
    agent_channel: str | None = None
    answered_at: float | None = None
    transfers: int = 0
    channels: tuple[str, ...] = ()
    """Names of the call's channels that have not hung up."""
    ended_at: float | None = None
    cause: str = ""
    cause_txt: str = ""

    @property
    def ended(self) -> bool:
        return self.ended_at is not None


# ------------------------------------------------------------------- inner state


@dataclass(slots=True)
class _Channel:
    uniqueid: str
    name: str
    linkedid: str
    context: str = ""
    exten: str = ""
    hanging_up: bool = False
    bridged_at: tuple[str, str] | None = None
    """Dialplan place (context, exten) when the channel entered its bridge."""
    transferred: bool = False
    """Moved by a transfer event: its next bridge leave is not a Redirect."""


@dataclass(slots=True)
class _Dest:
    uniqueid: str
    channel: str
    device: str
    offered: bool = False
    answered: bool = False
    ring_ended: bool = False


@dataclass(slots=True)
class _Call:
    call_id: str
    direction: str
    channel: str
    uniqueid: str
    caller_number: str
    caller_name: str
    dnis: str
    arrived_at: float
    caller_side: set[str] = field(default_factory=set)
    uniqueids: set[str] = field(default_factory=set)
    dests: dict[str, _Dest] = field(default_factory=dict)
    queue: str | None = None
    queued_at: float | None = None
    in_queue: bool = False
    answered_by: str | None = None
    agent_channel: str | None = None
    answered_at: float | None = None
    transfers: int = 0
    cause: str | None = None
    cause_txt: str = ""
    last_cause: tuple[str, str] = ("", "")
    ended_at: float | None = None

    def view(self, live: Collection[str], channels: dict[str, _Channel]) -> CallView:
        ringing = tuple(
            d.device for d in self.dests.values()
            if d.offered and not d.answered and not d.ring_ended
        )
        names = tuple(channels[u].name for u in live if u in channels)
        return CallView(
            call_id=self.call_id, direction=self.direction, channel=self.channel,
            uniqueid=self.uniqueid, caller_number=self.caller_number,
            caller_name=self.caller_name, dnis=self.dnis, arrived_at=self.arrived_at,
            queue=self.queue, queued_at=self.queued_at, in_queue=self.in_queue,
            ringing=ringing, answered_by=self.answered_by,
            agent_channel=self.agent_channel, answered_at=self.answered_at,
            transfers=self.transfers, channels=names, ended_at=self.ended_at,
            cause=self.cause or "", cause_txt=self.cause_txt,
        )


# ------------------------------------------------------------------------ tracker


class CallTracker:
    """Follows channels and calls from AMI events; emits call events."""

    def __init__(
        self,
        *,
        inbound_contexts: Collection[str] = ("inbound",),
        agent_devices: Callable[[str], bool] | None = None,
        ended_grace: float = 30.0,
        ended_memory: int = 4096,
    ) -> None:
        """``agent_devices(device)`` says whether a dialled device is an agent
        phone; without it every dial of a call that is not towards the caller's own
        channels counts. Ended calls stay readable for ``ended_grace`` seconds; the
        last ``ended_memory`` ended linkedids are remembered."""
        self._inbound = frozenset(inbound_contexts)
        self._is_agent = agent_devices
        self._grace = ended_grace
        self._memory = max(1, ended_memory)
        self._channels: dict[str, _Channel] = {}
        self._names: dict[str, str] = {}
        """Channel name → uniqueid, for events that name a channel only."""
        self._groups: dict[str, dict[str, None]] = {}
        """Linkedid → uniqueids of its live channels, in order (calls and others)."""
        self._calls: dict[str, _Call] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._expiry: deque[tuple[float, str]] = deque()

    # ------------------------------------------------------------------ public

    def feed(self, message: Message, now: float) -> list:
        """One AMI event in; the call events it caused out (maybe none)."""
        self._expire(now)
        name = getattr(message, "name", None)
        if not name or getattr(message, "kind", "event") != "event":
            return []  # responses to actions are the AMI client's business
        handler = getattr(self, f"event_{name}", None)
        out: list = []
        try:
            self._observe(message, now, out)
            if handler is not None:
                handler(message, now, out)
        except Exception:
            log.exception("call tracker: could not follow AMI event %s (uniqueid %s)",
                          name, _value(message, "Uniqueid") or "-")
        return out

    def call(self, call_id: str) -> CallView | None:
        """A snapshot of the call, or ``None`` once it was dropped (or never known)."""
        call = self._calls.get(call_id)
        if call is None:
            return None
        return call.view(self._groups.get(call_id, ()), self._channels)

    def linkedid_for(self, uniqueid: str) -> str | None:
        """The call (linkedid) a channel belongs to, e.g. for ``agi_uniqueid``."""
        channel = self._channels.get(uniqueid)
        if channel is not None:
            return channel.linkedid
        for call in self._calls.values():
            if uniqueid in call.uniqueids:
                return call.call_id
        return None

    def active_calls(self) -> list[CallView]:
        """Calls that have not ended, oldest first."""
        return [
            call.view(self._groups.get(call.call_id, ()), self._channels)
            for call in self._calls.values() if call.ended_at is None
        ]

    def forget(self, call_id: str) -> None:
        """Drop a call now (once it is logged); later events for it are ignored."""
        if self._calls.pop(call_id, None) is not None:
            self._remember_ended(call_id)

    def identify(self, uniqueid: str, number: str, name: str, now: float) -> list:
        """The caller's number learnt elsewhere (the FastAGI environment)."""
        linkedid = self.linkedid_for(uniqueid)
        call = self._live_call(linkedid)
        out: list = []
        if call is not None:
            self._caller_seen(call, number, name, now, out)
        return out

    # ----------------------------------------------------------- bookkeeping

    def _expire(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            _, call_id = self._expiry.popleft()
            call = self._calls.get(call_id)
            if call is not None and call.ended_at is not None:
                del self._calls[call_id]

    def _remember_ended(self, linkedid: str) -> None:
        self._ended[linkedid] = None
        self._ended.move_to_end(linkedid)
        while len(self._ended) > self._memory:
            self._ended.popitem(last=False)

    def _live_call(self, linkedid: str | None) -> _Call | None:
        if not linkedid:
            return None
        call = self._calls.get(linkedid)
        if call is None or call.ended_at is not None:
            return None
        return call

    def _call_of(self, message: Message, *prefixes: str) -> _Call | None:
        """The live call named by ``<prefix>Linkedid`` (or by the channel's uniqueid),
        trying the prefixes in order."""
        for prefix in prefixes:
            call = self._live_call(_value(message, prefix + "Linkedid"))
            if call is None:
                channel = self._find(message, prefix)
                call = self._live_call(channel.linkedid if channel else None)
            if call is not None:
                return call
        return None

    def _observe(self, message: Message, now: float, out: list) -> None:
        """Channel bookkeeping shared by every event about a channel: follow linkedid
        moves and the dialplan place, adopt a live channel first seen here."""
        if message.name in _NOT_OBSERVED or _value(message, "ActionID"):
            return  # records and list replies may describe channels already gone
        adopt = message.name in _ADOPTING
        for prefix in ("", "Dest"):
            uniqueid = _value(message, prefix + "Uniqueid")
            linkedid = _value(message, prefix + "Linkedid")
            if not uniqueid or not linkedid:
                continue
            channel = self._channels.get(uniqueid)
            if channel is None:
                name = _value(message, prefix + "Channel")
                if adopt and name and linkedid in self._groups:
                    self._add_channel(uniqueid, name, linkedid)
                continue
            if channel.linkedid != linkedid and linkedid not in self._ended:
                self._move(channel, linkedid, now, out)
            if not prefix:
                context = _value(message, "Context")
                if context:
                    channel.context = context
                    channel.exten = _value(message, "Exten")

    def _find(self, message: Message, prefix: str = "") -> _Channel | None:
        """The channel an event is about: by ``Uniqueid``, else by ``Channel`` name."""
        uniqueid = _value(message, prefix + "Uniqueid")
        if not uniqueid:
            uniqueid = self._names.get(_value(message, prefix + "Channel"), "")
        return self._channels.get(uniqueid)

    def _add_channel(self, uniqueid: str, name: str, linkedid: str) -> _Channel:
        channel = _Channel(uniqueid=uniqueid, name=name, linkedid=linkedid)
        self._channels[uniqueid] = channel
        self._names[name] = uniqueid
        self._groups.setdefault(linkedid, {})[uniqueid] = None
        call = self._calls.get(linkedid)
        if call is not None:
            call.uniqueids.add(uniqueid)
            if _pair_base(name) == _pair_base(call.channel):
                call.caller_side.add(uniqueid)
        return channel

    def _move(self, channel: _Channel, linkedid: str, now: float, out: list) -> None:
        """Asterisk gave the channel another linkedid (bridged with an older call)."""
        old = channel.linkedid
        group = self._groups.get(old)
        if group is not None:
            group.pop(channel.uniqueid, None)
        channel.linkedid = linkedid
        self._groups.setdefault(linkedid, {})[channel.uniqueid] = None
        call = self._calls.get(linkedid)
        if call is not None:
            call.uniqueids.add(channel.uniqueid)
        if group is not None and not group:
            del self._groups[old]
            self._end_if_call(old, now, out)  # its last channel joined another call

    def _drop_channel(self, channel: _Channel) -> None:
        self._channels.pop(channel.uniqueid, None)
        if self._names.get(channel.name) == channel.uniqueid:
            del self._names[channel.name]

    def _end_if_call(self, linkedid: str, now: float, out: list) -> None:
        call = self._live_call(linkedid)
        if call is None:
            return
        call.ended_at = now
        cause, cause_txt = (
            (call.cause, call.cause_txt) if call.cause is not None else call.last_cause
        )
        call.cause, call.cause_txt = cause, cause_txt
        out.append(CallEnded(call_id=call.call_id, at=now, cause=cause, cause_txt=cause_txt))
        self._remember_ended(linkedid)
        self._expiry.append((now + self._grace, linkedid))

    def _caller_seen(self, call: _Call, number: str, name: str, now: float,
                     out: list) -> None:
        if name and not call.caller_name:
            call.caller_name = name
        if not number or number == call.caller_number:
            return
        call.caller_number = number
        if name:
            call.caller_name = name
        out.append(CallerIdentified(call_id=call.call_id, caller_number=number,
                                    caller_name=call.caller_name, at=now))

    def _note_dnis(self, call: _Call, channel: _Channel | None) -> None:
        if call.dnis or channel is None or channel.uniqueid not in call.caller_side:
            return
        if channel.context in self._inbound and channel.exten not in _NOT_DNIS:
            call.dnis = channel.exten

    def _dest(self, call: _Call, message: Message, allow_interface: bool) -> _Dest | None:
        """The dialled channel of a Dial*/Agent* event, if it may be an agent."""
        uniqueid = _value(message, "DestUniqueid")
        if not uniqueid or uniqueid in call.caller_side:
            return None
        dest = call.dests.get(uniqueid)
        if dest is not None:
            return dest
        channel = _value(message, "DestChannel")
        if channel and _pair_base(channel) == _pair_base(call.channel):
            return None
        source = channel or _value(message, "DialString")
        if not source and allow_interface:
            source = _value(message, "Interface")
        device = device_of(source)
        if not device:
            return None
        if self._is_agent is not None and not self._is_agent(device):
            return None
        dest = _Dest(uniqueid=uniqueid, channel=channel, device=device)
        call.dests[uniqueid] = dest
        return dest

    def _offer(self, call: _Call, dest: _Dest, queue: str | None, now: float,
               out: list) -> None:
        if dest.offered:
            return
        dest.offered = True
        if queue is None and call.in_queue:
            queue = call.queue
        out.append(AgentOffered(call_id=call.call_id, device=dest.device,
                                agent_channel=dest.channel, at=now, queue=queue))

    def _answer(self, call: _Call, dest: _Dest, queue: str | None, now: float,
                out: list) -> None:
        self._offer(call, dest, queue, now, out)
        if dest.answered:
            return
        dest.answered = True
        call.in_queue = False
        call.answered_by = dest.device
        call.agent_channel = dest.channel
        call.answered_at = now
        out.append(CallAnswered(call_id=call.call_id, device=dest.device,
                                agent_channel=dest.channel, at=now))

    def _ring_ended(self, call: _Call, dest: _Dest, status: str, now: float,
                    out: list) -> None:
        if not dest.offered or dest.answered or dest.ring_ended:
            return
        dest.ring_ended = True
        out.append(AgentRingEnded(call_id=call.call_id, device=dest.device,
                                  agent_channel=dest.channel, status=status, at=now))

    def _transferred(self, call: _Call, target: str, kind: str, now: float,
                     out: list) -> None:
        call.transfers += 1
        call.in_queue = False
        out.append(CallTransferred(call_id=call.call_id, target=target, kind=kind, at=now))

    # ---------------------------------------------------------------- channels

    def event_Newchannel(self, m: Message, now: float, out: list) -> None:
        uniqueid = _value(m, "Uniqueid")
        name = _value(m, "Channel")
        linkedid = _value(m, "Linkedid") or uniqueid
        if not uniqueid or not name or linkedid in self._ended:
            return
        if uniqueid in self._channels:
            return
        new_group = linkedid not in self._groups
        context = _value(m, "Context")
        exten = _value(m, "Exten")
        if new_group and context in self._inbound:
            number = _value(m, "CallerIDNum")
            call = _Call(
                call_id=linkedid, direction="inbound", channel=name, uniqueid=uniqueid,
                caller_number=number, caller_name=_value(m, "CallerIDName"),
                dnis="" if exten in _NOT_DNIS else exten, arrived_at=now,
            )
            self._calls[linkedid] = call
            channel = self._add_channel(uniqueid, name, linkedid)
            out.append(CallArrived(
                call_id=linkedid, channel=name, uniqueid=uniqueid,
                caller_number=call.caller_number, caller_name=call.caller_name,
                dnis=call.dnis, at=now,
            ))
        else:
            channel = self._add_channel(uniqueid, name, linkedid)
        channel.context, channel.exten = context, exten

    def event_Rename(self, m: Message, now: float, out: list) -> None:
        channel = self._find(m)
        new_name = _value(m, "Newname")
        if channel is None or not new_name:
            return
        if self._names.get(channel.name) == channel.uniqueid:
            del self._names[channel.name]
        channel.name = new_name
        self._names[new_name] = channel.uniqueid

    def _channel_event(self, m: Message) -> tuple[_Channel | None, _Call | None]:
        channel = self._find(m)
        if channel is None:
            return None, None
        return channel, self._live_call(channel.linkedid)

    def event_NewCallerid(self, m: Message, now: float, out: list) -> None:
        channel, call = self._channel_event(m)
        if call is None or channel.uniqueid not in call.caller_side:
            return
        self._caller_seen(call, _value(m, "CallerIDNum"), _value(m, "CallerIDName"),
                          now, out)

    def event_Newexten(self, m: Message, now: float, out: list) -> None:
        channel, call = self._channel_event(m)
        if call is not None:
            self._note_dnis(call, channel)

    event_Newstate = event_Newexten

    def event_HangupRequest(self, m: Message, now: float, out: list) -> None:
        channel = self._find(m)
        if channel is not None:
            channel.hanging_up = True

    event_SoftHangupRequest = event_HangupRequest

    def event_Hangup(self, m: Message, now: float, out: list) -> None:
        channel = self._find(m)
        if channel is None:
            return
        self._drop_channel(channel)
        linkedid = channel.linkedid
        group = self._groups.get(linkedid)
        if group is not None:
            group.pop(channel.uniqueid, None)
        call = self._live_call(linkedid)
        if call is not None:
            cause = (_value(m, "Cause"), _value(m, "Cause-txt"))
            call.last_cause = cause
            if channel.uniqueid == call.uniqueid:
                call.cause, call.cause_txt = cause
            dest = call.dests.get(channel.uniqueid)
            if dest is not None:
                self._ring_ended(call, dest, "HANGUP", now, out)
        if group is not None and not group:
            del self._groups[linkedid]
            self._end_if_call(linkedid, now, out)

    # ------------------------------------------------------------------ queues

    def event_QueueCallerJoin(self, m: Message, now: float, out: list) -> None:
        channel, call = self._channel_event(m)
        if call is None:
            return
        if channel.uniqueid in call.caller_side:
            self._caller_seen(call, _value(m, "CallerIDNum"), _value(m, "CallerIDName"),
                              now, out)
        queue = _value(m, "Queue")
        if not queue:
            return
        try:
            position = int(_value(m, "Position") or 0)
        except ValueError:
            position = 0
        call.queue, call.queued_at, call.in_queue = queue, now, True
        out.append(CallQueued(call_id=call.call_id, queue=queue, at=now, position=position))

    def event_QueueCallerLeave(self, m: Message, now: float, out: list) -> None:
        _, call = self._channel_event(m)
        if call is not None:
            call.in_queue = False

    def event_AgentCalled(self, m: Message, now: float, out: list) -> None:
        call = self._call_of(m, "", "Dest")
        if call is None:
            return
        dest = self._dest(call, m, allow_interface=True)
        if dest is not None:
            self._offer(call, dest, _value(m, "Queue") or None, now, out)

    def event_AgentConnect(self, m: Message, now: float, out: list) -> None:
        call = self._call_of(m, "", "Dest")
        if call is None:
            return
        dest = self._dest(call, m, allow_interface=True)
        if dest is not None:
            self._answer(call, dest, _value(m, "Queue") or None, now, out)

    # -------------------------------------------------------------------- dial

    def event_DialBegin(self, m: Message, now: float, out: list) -> None:
        call = self._call_of(m, "", "Dest")
        if call is None:
            return
        dest = self._dest(call, m, allow_interface=False)
        if dest is not None:
            self._offer(call, dest, None, now, out)

    def event_DialEnd(self, m: Message, now: float, out: list) -> None:
        call = self._call_of(m, "", "Dest")
        if call is None:
            return
        status = _value(m, "DialStatus").upper()
        if not status or status in _RINGING_STATES:
            return
        dest = self._dest(call, m, allow_interface=False)
        if dest is None:
            return
        if status == "ANSWER":
            self._answer(call, dest, None, now, out)
        else:
            self._ring_ended(call, dest, status, now, out)

    # --------------------------------------------------------------- transfers

    def event_BridgeEnter(self, m: Message, now: float, out: list) -> None:
        channel = self._find(m)
        if channel is not None:
            channel.bridged_at = (_value(m, "Context"), _value(m, "Exten"))
            channel.transferred = False

    def event_BridgeLeave(self, m: Message, now: float, out: list) -> None:
        channel, call = self._channel_event(m)
        if channel is None:
            return
        entered, channel.bridged_at = channel.bridged_at, None
        moved, channel.transferred = channel.transferred, False
        if call is None or moved or channel.hanging_up or entered is None:
            return
        if channel.uniqueid not in call.caller_side or call.answered_by is None:
            return
        context, exten = _value(m, "Context"), _value(m, "Exten")
        if context and (context, exten) != entered:
            self._transferred(call, f"{exten}@{context}" if exten else context,
                              "redirect", now, out)

    def event_BlindTransfer(self, m: Message, now: float, out: list) -> None:
        result = _value(m, "Result")
        if result and result.lower() != "success":
            return
        call = self._call_of(m, "Transferee", "Transferer")
        if call is None:
            return
        self._mark_transferred(_value(m, "TransfereeUniqueid"))
        exten, context = _value(m, "Extension"), _value(m, "Context")
        target = f"{exten}@{context}" if exten and context else exten or context
        self._transferred(call, target, "blind", now, out)

    def event_AttendedTransfer(self, m: Message, now: float, out: list) -> None:
        result = _value(m, "Result")
        if result and result.lower() != "success":
            return
        call = self._call_of(m, "Transferee", "OrigTransferer", "SecondTransferer",
                             "TransferTarget")
        if call is None:
            return
        self._mark_transferred(_value(m, "TransfereeUniqueid"))
        target_channel = _value(m, "TransferTargetChannel")
        target = (device_of(target_channel) if target_channel
                  else _value(m, "DestApp") or _value(m, "DestType"))
        self._transferred(call, target, "attended", now, out)

    def _mark_transferred(self, uniqueid: str) -> None:
        channel = self._channels.get(uniqueid)
        if channel is not None:
            channel.transferred = True
