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

from callcenter.ami.codec import c_unescape
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

__all__ = ["LOST_DURING_DISCONNECT", "CallTracker", "CallView", "device_of"]

LOST_DURING_DISCONNECT = "lost_during_disconnect"
"""``CallEnded.cause_txt`` of a call that ended while the AMI link was down."""

_UNSET = frozenset({"", "<unknown>", "none", "<none>"})
_UNSET_START = frozenset("<nN")  # first letters of the blanks, to skip lower() mostly
_NOT_DNIS = frozenset({"", "s", "h", "i", "t"})
_RINGING_STATES = frozenset({"RINGING", "PROCEEDING", "PROGRESS"})
_CHANNEL_SUFFIX = re.compile(r"-[0-9a-fA-F]{8,}(;\d+)?$")
_NOT_OBSERVED = frozenset({"Newchannel", "Hangup", "Cdr", "CEL"})
_QUIET = frozenset({
    "VarSet", "DeviceStateChange", "ExtensionStatus", "QueueMemberStatus", "CEL", "Cdr",
    "AGIExecStart", "AGIExecEnd", "AsyncAGIStart", "AsyncAGIExec", "AsyncAGIEnd",
    "DTMFBegin", "DTMFEnd", "PeerStatus", "ContactStatus", "DeviceStateListComplete",
    "RTCPSent", "RTCPReceived", "SuccessfulAuth", "ChallengeSent", "FullyBooted",
    "LocalBridge", "LocalOptimizationBegin", "LocalOptimizationEnd", "UserEvent",
    "QueueMemberPause", "QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPenalty",
    "QueueMemberRinginuse", "QueueParams", "QueueEntry", "QueueMember", "MixMonitorStart",
    "MixMonitorStop", "OriginateResponse", "Registry", "AorDetail", "EndpointDetail",
    # Items of list actions: snapshots that may describe channels already gone (the
    # AMI client collects them; a capture replayed as a whole still holds them).
    "CoreShowChannel", "CoreShowChannelsComplete", "Status", "StatusComplete",
    "QueueSummary", "QueueSummaryComplete", "QueueStatusComplete", "BridgeListItem",
    "BridgeListComplete", "BridgeInfoChannel", "BridgeInfoComplete", "ChannelHungup",
    "ChannelsHungupListComplete", "ExtensionStateListComplete", "CoreShowChannelMapComplete",
})
"""Events that say nothing the tracker follows: nothing is read from them."""
_PLAIN = frozenset({
    "NewConnectedLine", "BridgeCreate", "BridgeDestroy", "MusicOnHoldStart",
    "MusicOnHoldStop", "DialState", "Hold", "Unhold", "AgentComplete", "AgentRingNoAnswer",
    "ChannelTalkingStart", "ChannelTalkingStop", "HangupHandlerRun", "HangupHandlerPush",
})
"""Channel events that are never list items: no need to look for an ActionID."""
_ADOPTING = frozenset({
    "Newstate", "Newexten", "NewCallerid", "NewConnectedLine", "DialBegin", "DialState",
    "AgentCalled", "BridgeEnter", "QueueCallerJoin", "MusicOnHoldStart", "Hold",
})
"""Events that show a channel alive: one not seen before joins its linkedid."""
_PREFIXES = dict.fromkeys(
    ("DialBegin", "DialState", "DialEnd", "AgentCalled", "AgentConnect", "AgentComplete",
     "AgentRingNoAnswer", "AgentDump"), ("", "Dest"))
_NO_PREFIX = ("",)
_PLACE_EVENTS = frozenset({"Newexten", "Newstate"})
"""Events that describe a second channel in ``Dest*`` headers."""
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
    if not raw:
        return ""
    if type(raw) is not str:
        raw = str(raw)
    text = raw.strip()
    if text and text[0] in _UNSET_START and text.lower() in _UNSET:
        return ""
    return text


def _caller_id(message: Message, header: str) -> str:
    """A caller-id header: Asterisk C-escapes these (``O\\'Neil``); line breaks
    that were escaped inside a name become spaces."""
    text = c_unescape(_value(message, header))
    if "\r" in text or "\n" in text:
        text = " ".join(text.split())
    return text


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
    offered_at: float | None = None
    """When an agent's phone first rang for the call."""
    left_queue_at: float | None = None
    """When the call last left a queue (answered, abandoned, timed out)."""
    first_answered_at: float | None = None
    """When the first agent answered (``answered_at`` follows later answers)."""
    agent_interface: str | None = None
    """The queue member ``Interface`` that answered first (else its device)."""
    talk_ended_at: float | None = None
    """When the first answering agent's leg left its bridge (or hung up)."""
    abandoned: bool = False
    """The caller hung up while queued or while an agent's phone rang."""

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    @property
    def outcome(self) -> str:
        """``answered``, ``abandoned``, ``ivr_hangup`` (ended before joining a queue
        or being offered) or ``unanswered``; ``""`` while the call is up."""
        if self.first_answered_at is not None:
            return "answered"
        if self.ended_at is None:
            return ""
        if self.abandoned:
            return "abandoned"
        if self.queued_at is None and self.offered_at is None:
            return "ivr_hangup"
        return "unanswered"

    @property
    def wait_s(self) -> float | None:
        """Queue join to first answer, or to leaving the queue; None if never queued."""
        if self.queued_at is None:
            return None
        if self.first_answered_at is not None and self.first_answered_at >= self.queued_at:
            end = self.first_answered_at
        else:
            end = self.left_queue_at if self.left_queue_at is not None else self.ended_at
        return None if end is None else max(0.0, end - self.queued_at)

    @property
    def talk_s(self) -> float | None:
        """First answer to the end of that agent's bridge; None if never answered."""
        if self.first_answered_at is None:
            return None
        end = self.talk_ended_at if self.talk_ended_at is not None else self.ended_at
        return None if end is None else max(0.0, end - self.first_answered_at)


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
    interface: str = ""
    """The queue member ``Interface`` that was rung, when a queue event said so."""


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
    offered_at: float | None = None
    left_queue_at: float | None = None
    first_answered_at: float | None = None
    agent_interface: str | None = None
    talk_uniqueid: str | None = None
    talk_ended_at: float | None = None
    abandoned: bool = False

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
            cause=self.cause or "", cause_txt=self.cause_txt, offered_at=self.offered_at,
            left_queue_at=self.left_queue_at, first_answered_at=self.first_answered_at,
            agent_interface=self.agent_interface, talk_ended_at=self.talk_ended_at,
            abandoned=self.abandoned,
        )

    def ringing_any(self) -> bool:
        return any(d.offered and not d.answered and not d.ring_ended
                   for d in self.dests.values())


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
        expiry = self._expiry
        if expiry and expiry[0][0] <= now:
            self._expire(now)
        try:
            name = message.name
            if not name or name in _QUIET:
                return []
            if getattr(message, "kind", "event") != "event":
                return []  # responses to actions are the AMI client's business
        except Exception:
            log.warning("call tracker: skipped an AMI event that cannot be read")
            return []
        out: list = []
        try:
            channel = self._observe(message, name, now, out)
            if name in _PLACE_EVENTS:
                # Newexten, Newstate: the dialplan place was noted above; the dialled
                # number may be known now.
                if channel is not None:
                    call = self._live_call(channel.linkedid)
                    if call is not None:
                        self._note_dnis(call, channel)
            else:
                handler_name = _HANDLERS.get(name)
                if handler_name is not None:
                    getattr(self, handler_name)(message, now, out)
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

    def resync(self, channels: list[Message], now: float) -> list:
        """Rebuild the picture after the AMI link came back.

        ``channels`` are the ``CoreShowChannel`` items of a ``CoreShowChannels``
        list (other messages are skipped). Channels the tracker knew that are gone
        are dropped; a call left with none ended while we were blind and gets
        ``CallEnded`` with ``cause_txt="lost_during_disconnect"``. Calls still up are
        kept (no second ``CallArrived``); one bridged with an agent's channel that
        was not answered before is answered now. A live inbound call never seen
        before is adopted: ``CallArrived`` (dated from the channel's ``Duration``),
        ``CallQueued`` if it sits in ``Queue()``, ``CallAnswered`` if bridged.
        """
        out: list = []
        items: dict[str, tuple[str, str, Message]] = {}
        for m in channels:
            try:
                if getattr(m, "name", "") != "CoreShowChannel":
                    continue
                uniqueid, name = _value(m, "Uniqueid"), _value(m, "Channel")
                if uniqueid and name:
                    items[uniqueid] = (name, _value(m, "Linkedid") or uniqueid, m)
            except Exception:
                log.exception("call tracker: skipped a CoreShowChannel item")

        # Channels that hung up while we were blind.
        for uniqueid, channel in list(self._channels.items()):
            if uniqueid in items:
                continue
            self._drop_channel(channel)
            self._talk_over(channel, now)
            call = self._calls.get(channel.linkedid)
            if call is not None:
                dest = call.dests.get(uniqueid)
                if dest is not None:
                    dest.ring_ended = True
            group = self._groups.get(channel.linkedid)
            if group is not None:
                group.pop(uniqueid, None)
                if not group:
                    del self._groups[channel.linkedid]

        # Channels still up, and new ones.
        fresh: dict[str, list[tuple[str, str, Message]]] = {}
        for uniqueid, (name, linkedid, m) in items.items():
            channel = self._channels.get(uniqueid)
            if channel is None:
                fresh.setdefault(linkedid, []).append((uniqueid, name, m))
                continue
            if channel.name != name:
                if self._names.get(channel.name) == uniqueid:
                    del self._names[channel.name]
                channel.name = name
                self._names[name] = uniqueid
            if channel.linkedid != linkedid and linkedid not in self._ended:
                self._move(channel, linkedid, now, out)
            channel.context, channel.exten = _value(m, "Context"), _value(m, "Exten")
        for linkedid, group_items in fresh.items():
            if linkedid in self._ended:
                continue
            if linkedid not in self._groups and linkedid not in self._calls:
                self._adopt(linkedid, group_items, now, out)
            for uniqueid, name, m in group_items:
                channel = self._add_channel(uniqueid, name, linkedid)
                channel.context, channel.exten = _value(m, "Context"), _value(m, "Exten")

        # Calls that lost every channel ended; live ones may have been answered.
        for call in list(self._calls.values()):
            if call.ended_at is not None:
                continue
            if call.call_id not in self._groups:
                self._end_lost(call, now, out)
            else:
                self._answer_bridged(call, items, now, out)
        return out

    def _adopt(self, linkedid: str, group_items: list[tuple[str, str, Message]],
               now: float, out: list) -> None:
        """A live call first seen in a channel list: adopt it if it is inbound."""
        first = next((i for i in group_items if i[0] == linkedid), group_items[0])
        _, first_name, first_msg = first
        side = [i for i in group_items if _pair_base(i[1]) == _pair_base(first_name)]
        inbound = any(_value(m, "Context") in self._inbound
                      or _value(m, "Application").lower() in ("queue", "agi")
                      for _, _, m in side)
        if not inbound:
            return
        try:
            hours, minutes, seconds = (int(x) for x in _value(first_msg, "Duration").split(":"))
            age = float(hours * 3600 + minutes * 60 + seconds)
        except ValueError:
            age = 0.0
        arrived = now - age
        number, name = "", ""
        for _, _, m in sorted(side, key=lambda i: i[0] != linkedid):
            number = number or _caller_id(m, "CallerIDNum")
            name = name or _caller_id(m, "CallerIDName")
        call = _Call(call_id=linkedid, direction="inbound", channel=first_name,
                     uniqueid=first[0], caller_number=number, caller_name=name, dnis="",
                     arrived_at=arrived)
        self._calls[linkedid] = call
        out.append(CallArrived(call_id=linkedid, channel=first_name, uniqueid=first[0],
                               caller_number=number, caller_name=name, dnis="",
                               at=arrived))
        for _, _, m in side:
            if _value(m, "Application").lower() == "queue":
                queue = _value(m, "ApplicationData").split(",", 1)[0].strip()
                if queue:
                    call.queue, call.queued_at, call.in_queue = queue, now, True
                    out.append(CallQueued(call_id=linkedid, queue=queue, at=now))
                break

    def _answer_bridged(self, call: _Call, items: dict[str, tuple[str, str, Message]],
                        now: float, out: list) -> None:
        """A call bridged with a channel of another side was answered (maybe while
        we were blind)."""
        bridges = {_value(items[u][2], "BridgeId") for u in call.caller_side if u in items}
        bridges.discard("")
        if not bridges:
            return
        for uniqueid in self._groups.get(call.call_id, ()):
            if uniqueid in call.caller_side or uniqueid not in items:
                continue
            name, _, m = items[uniqueid]
            if _value(m, "BridgeId") not in bridges:
                continue
            dest = call.dests.get(uniqueid)
            if dest is None:
                device = device_of(name)
                if not device or (self._is_agent is not None and not self._is_agent(device)):
                    continue
                dest = call.dests[uniqueid] = _Dest(uniqueid=uniqueid, channel=name,
                                                   device=device)
            if not dest.answered:
                self._answer(call, dest, call.queue if call.in_queue else None, now, out)
            return

    def _end_lost(self, call: _Call, now: float, out: list) -> None:
        call.ended_at = now
        call.cause, call.cause_txt = "", LOST_DURING_DISCONNECT
        out.append(CallEnded(call_id=call.call_id, at=now, cause="",
                             cause_txt=LOST_DURING_DISCONNECT))
        self._remember_ended(call.call_id)
        self._expiry.append((now + self._grace, call.call_id))

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

    def _observe(self, message: Message, name: str, now: float,
                 out: list) -> _Channel | None:
        """Channel bookkeeping shared by every event about a channel: follow linkedid
        moves and the dialplan place, adopt a live channel first seen here. Returns
        the known channel the event is about (by ``Uniqueid``), if any."""
        if name in _NOT_OBSERVED:
            return None  # records may describe channels already gone
        adopt = name in _ADOPTING
        if (not adopt and name not in _HANDLERS and name not in _PLAIN
                and _value(message, "ActionID")):
            return None  # so may the items of a list we do not know
        found = None
        for prefix in _PREFIXES.get(name, _NO_PREFIX):
            uniqueid = _value(message, prefix + "Uniqueid")
            if not uniqueid:
                continue
            channel = self._channels.get(uniqueid)
            if channel is None and not adopt:
                continue
            linkedid = _value(message, prefix + "Linkedid")
            if not linkedid:
                continue
            if channel is None:
                channel_name = _value(message, prefix + "Channel")
                if channel_name and linkedid in self._groups:
                    channel = self._add_channel(uniqueid, channel_name, linkedid)
                    if not prefix:
                        found = channel
                continue
            if channel.linkedid != linkedid and linkedid not in self._ended:
                self._move(channel, linkedid, now, out)
            if not prefix:
                found = channel
                if name in _PLACE_EVENTS:  # the place only matters for the dialled number
                    context = _value(message, "Context")
                    if context:
                        channel.context = context
                        channel.exten = _value(message, "Exten")
        return found

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
        if call.offered_at is None:
            call.offered_at = now
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
        if call.in_queue:
            call.in_queue = False
            call.left_queue_at = now
        if call.first_answered_at is None:
            call.first_answered_at = now
            call.agent_interface = dest.interface or dest.device
            call.talk_uniqueid = dest.uniqueid
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
        if call.in_queue:
            call.in_queue = False
            call.left_queue_at = now
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
            number = _caller_id(m, "CallerIDNum")
            call = _Call(
                call_id=linkedid, direction="inbound", channel=name, uniqueid=uniqueid,
                caller_number=number, caller_name=_caller_id(m, "CallerIDName"),
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
        self._caller_seen(call, _caller_id(m, "CallerIDNum"), _caller_id(m, "CallerIDName"),
                          now, out)

    def event_Newexten(self, m: Message, now: float, out: list) -> None:
        channel, call = self._channel_event(m)
        if call is not None:
            self._note_dnis(call, channel)

    event_Newstate = event_Newexten
    """(``feed`` handles these two inline; the methods remain for direct use.)"""

    def event_HangupRequest(self, m: Message, now: float, out: list) -> None:
        channel = self._find(m)
        if channel is not None:
            channel.hanging_up = True
            self._note_abandon(channel)

    def _note_abandon(self, channel: _Channel) -> None:
        """The caller's side hangs up: an abandon if queued or an agent is ringing."""
        call = self._live_call(channel.linkedid)
        if (call is not None and channel.uniqueid in call.caller_side
                and call.first_answered_at is None
                and (call.in_queue or call.ringing_any())):
            call.abandoned = True

    event_SoftHangupRequest = event_HangupRequest

    def event_Hangup(self, m: Message, now: float, out: list) -> None:
        channel = self._find(m)
        if channel is None:
            return
        self._note_abandon(channel)
        self._talk_over(channel, now)
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
            self._caller_seen(call, _caller_id(m, "CallerIDNum"), _caller_id(m, "CallerIDName"),
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
        if call is not None and call.in_queue:
            call.in_queue = False
            call.left_queue_at = now

    def event_QueueCallerAbandon(self, m: Message, now: float, out: list) -> None:
        _, call = self._channel_event(m)
        if call is not None and call.first_answered_at is None:
            call.abandoned = True
            self.event_QueueCallerLeave(m, now, out)

    def event_AgentCalled(self, m: Message, now: float, out: list) -> None:
        call = self._call_of(m, "", "Dest")
        if call is None:
            return
        dest = self._dest(call, m, allow_interface=True)
        if dest is not None:
            dest.interface = dest.interface or _value(m, "Interface")
            self._offer(call, dest, _value(m, "Queue") or None, now, out)

    def event_AgentConnect(self, m: Message, now: float, out: list) -> None:
        call = self._call_of(m, "", "Dest")
        if call is None:
            return
        dest = self._dest(call, m, allow_interface=True)
        if dest is not None:
            dest.interface = dest.interface or _value(m, "Interface")
            self._answer(call, dest, _value(m, "Queue") or None, now, out)
            if call.talk_uniqueid == dest.uniqueid and dest.interface:
                call.agent_interface = dest.interface

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
        self._talk_over(channel, now)
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

    def _talk_over(self, channel: _Channel, now: float) -> None:
        """The first answering agent's leg left its bridge or hung up."""
        call = self._calls.get(channel.linkedid)
        if (call is not None and call.talk_uniqueid == channel.uniqueid
                and call.talk_ended_at is None):
            call.talk_ended_at = now

    def _mark_transferred(self, uniqueid: str) -> None:
        channel = self._channels.get(uniqueid)
        if channel is not None:
            channel.transferred = True


_HANDLERS = {
    name[len("event_"):]: name for name in dir(CallTracker) if name.startswith("event_")
}
"""AMI event name → tracker method, for the events the tracker reads."""
