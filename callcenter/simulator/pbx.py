"""The simulated PBX: Local channel pairs, bridges, dials and the inbound dialplan.

Every event is rendered with the header layout Asterisk 22 used for it
(``layouts.LAYOUTS``), so consumers see the same names in the same order. Time comes
from the injected clock (``callLater``/``seconds``); nothing here touches a socket: the
FastAGI link is reached through ``agi_connect``, and AMI sessions subscribe to
``Pbx.listeners``.

How a channel ends (same orders as the recordings 05, 06, 10, 16b):

* ``request_hangup(x)``: ``SoftHangupRequest x``; if something runs on ``x`` it is
  interrupted and finishes with ``release(x)``, otherwise ``release(x)`` at once;
* ``release(x)``: ``HangupRequest`` on the other half, ``Hangup x``; the other half is
  interrupted, or hung up at once (``SoftHangupRequest``, ``Hangup``) if idle.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

from callcenter.simulator.layouts import LAYOUTS, PRIVILEGES
from callcenter.simulator.queues import LAB_QUEUES_CONF, Queue, QueueApp, parse_queues_conf

log = Logger()

STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}
CAUSE_TEXT = {
    0: "Unknown",
    16: "Normal Clearing",
    17: "User busy",
    19: "User alerting, no answer",
    21: "Call Rejected",
    26: "Answered elsewhere",
    32: "Circuit/channel congestion",
}
CALLING_PRES = "0 (Presentation Allowed, Not Screened)"
AGENTS_CONTEXT = "agents"
CUSTOMERS_CONTEXT = "customers"  # the simulated customers' phones (click-to-dial, callbacks)
# Call control contexts of the rendered dialplan (config/asterisk/extensions.conf.j2).
HOLD_CONTEXT = "cc-hold"  # an agent's leg waits here while the caller hears music
TRANSFER_CONTEXT = "cc-transfer"  # queue-<name>: back to the CTI; agent-<ext>: Dial
OUTBOUND_CONTEXT = "outbound"  # a number: the external party
CONSULT_CONTEXT = "cc-consult"  # agent-<ext>: Dial of that agent (AMI Atxfer)
ATXFER_THREEWAY = "*3"  # features.conf atxferthreeway (Asterisk's default)
VERSION = "22.10.1"


class LocalProtocolError(Exception):
    """The simulator itself asked for something impossible (a bug on our side)."""


def render_event(name: str, values: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Headers of one event, in the recorded order. ``values`` must hold exactly the
    names of one recorded layout (``Privilege`` is added here)."""
    wanted = set(values)
    for layout in LAYOUTS[name]:
        if set(layout) - {"Privilege"} == wanted:
            pairs = [("Event", name)]
            for key in layout:
                pairs.append((key, PRIVILEGES[name] if key == "Privilege" else str(values[key])))
            return tuple(pairs)
    raise LocalProtocolError(f"no recorded layout of {name} with headers {sorted(wanted)}")


# --------------------------------------------------------------------------- scripts


@dataclass
class PhoneBehaviour:
    """What an agent's phone does when it rings."""

    extension: str
    answer_after: float = 1.0
    talk_seconds: float | None = 5.0
    mode: str = "answer"  # "answer" | "noanswer" | "busy"


@dataclass
class CallerScript:
    """What a simulated caller does.

    ``digits`` maps a prompt file name (as played by STREAM FILE / GET DATA) or the
    0-based index of the digit read to the digits typed there; a list gives one entry
    per replay of that prompt ("" types nothing: the read times out; ``#`` ends a GET
    DATA read early). ``SAY NUMBER``/``SAY DIGITS`` play as the prompts ``say/number``
    and ``say/digits``. ``patience`` is how long the caller waits (from answer) for an
    agent before hanging up; ``talk_hangup_after`` how long they talk.

    Hang-up points: ``hangup_at`` is a prompt name (the caller hangs up halfway
    through its first playing) or ``node:<id>`` (the caller hangs up as the IVR sets
    ``IVR_NODE`` to that node, before the command runs); ``hangup_after`` hangs up
    that many seconds after answer, wherever the call is. A caller who reaches
    voicemail speaks for ``message_seconds`` and hangs up."""

    number: str
    name: str = ""
    dnis: str = "8005550100"
    digits: Mapping[Any, Any] = field(default_factory=dict)
    digit_delay: float = 0.5
    patience: float | None = None
    talk_hangup_after: float | None = None
    send_dtmf: str = ""
    send_dtmf_after: float = 2.0
    hold_after_dtmf: float | None = None
    hangup_at: str | None = None
    hangup_after: float | None = None
    message_seconds: float = 1.0


@dataclass(frozen=True)
class Timings:
    """Durations of the simulated world, in seconds."""

    agi_start: float = 0.5  # from Answer to the FastAGI connection
    prompt: float = 1.0  # length of every prompt
    goodbye: float = 0.88  # Playback(vm-goodbye)
    dtmf_duration: float = 0.1
    dtmf_gap: float = 0.25
    dead_agi_close: float = 10.0  # close a FastAGI link the server leaves open after HANGUP
    outside_talk: float = 2.0  # an outside party the IVR transferred a caller to
    dial_timeout: float = 30.0


# --------------------------------------------------------------------------- channels


@dataclass(eq=False)
class Channel:
    name: str
    uniqueid: str
    linkedid: str
    state: int
    context: str
    exten: str
    device: str
    created: float
    priority: int = 1
    cid_num: str = ""
    cid_name: str = ""
    conn_num: str = ""
    conn_name: str = ""
    app: str = ""
    app_data: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    other: Channel | None = None
    bridge: Bridge | None = None
    alive: bool = True
    hangup_requested: bool = False
    soft_emitted: bool = False
    cause: int = 16
    runner: bool = False
    moh: str | None = None
    goto: tuple[str, str] | None = None
    waits: list[_Wait] = field(default_factory=list)
    on_interrupt: list[Callable[[str], None]] = field(default_factory=list)
    on_hangup: list[Callable[[], None]] = field(default_factory=list)
    after_finish: list[Callable[[], None]] = field(default_factory=list)
    on_dial_begin: list[Callable[[], None]] = field(default_factory=list)
    on_answered: list[Callable[[], None]] = field(default_factory=list)  # its Dial answered
    call: SimulatedCall | None = None
    monitors: int = 0

    def snapshot(self, prefix: str = "") -> dict[str, str]:
        return {
            prefix + "Channel": self.name,
            prefix + "ChannelState": str(self.state),
            prefix + "ChannelStateDesc": STATE_DESC.get(self.state, "Unknown"),
            prefix + "CallerIDNum": self.cid_num or "<unknown>",
            prefix + "CallerIDName": self.cid_name or "<unknown>",
            prefix + "ConnectedLineNum": self.conn_num or "<unknown>",
            prefix + "ConnectedLineName": self.conn_name or "<unknown>",
            prefix + "Language": "en",
            prefix + "AccountCode": "",
            prefix + "Context": self.context,
            prefix + "Exten": self.exten,
            prefix + "Priority": str(self.priority),
            prefix + "Uniqueid": self.uniqueid,
            prefix + "Linkedid": self.linkedid,
        }


@dataclass(eq=False)
class Bridge:
    uniqueid: str
    members: list[Channel] = field(default_factory=list)

    def snapshot(self) -> dict[str, str]:
        return {
            "BridgeUniqueid": self.uniqueid,
            "BridgeType": "basic",
            "BridgeTechnology": "simple_bridge",
            "BridgeCreator": "<unknown>",
            "BridgeName": "<unknown>",
            "BridgeNumChannels": str(len(self.members)),
            "BridgeVideoSourceMode": "none",
        }


@dataclass(eq=False)
class _Atxfer:
    """An attended transfer in progress (AMI Atxfer of ``transferer``)."""

    transferer: Channel  # the agent's leg
    transferee: Channel  # its bridge peer: the caller, on hold meanwhile
    orig: Bridge  # the caller's bridge
    consult: Bridge  # the transferer and the consult leg
    one: Channel  # the consult leg (Local ;1) in the consult bridge
    two: Channel  # its ;2 half, running the consult dialplan
    state: str = "calling"  # calling | consulting | threeway | done
    digits: str = ""


@dataclass(eq=False)
class _Wait:
    deferred: defer.Deferred
    digits: str | None
    timer: Any = None
    fire: Callable[[tuple[str, Any, str]], None] = lambda result: None


@dataclass(eq=False)
class SimulatedCall:
    """One inbound call placed by a caller script."""

    script: CallerScript
    caller: Channel
    trunk: Channel
    ended: defer.Deferred = field(default_factory=defer.Deferred)
    outcome: str | None = None  # "answered" | "abandoned" | "rejected"
    agent: str | None = None
    reads: int = 0
    plays: int = 0
    last_prompt: str | None = None
    answered_play: int = -1
    prompt_uses: dict[str, int] = field(default_factory=dict)
    timers: list[Any] = field(default_factory=list)
    gave_up: bool = False
    caller_first: bool = False
    nodes: list[str] = field(default_factory=list)  # IVR_NODE values, in order
    hangup_armed: bool = False

    @property
    def linkedid(self) -> str:
        return self.caller.linkedid


def parse_dial_target(target: str) -> tuple[str, str] | None:
    """``Local/1001@agents/n`` or ``PJSIP/1001`` -> (extension, DialString)."""
    m = re.fullmatch(r"Local/([^@/]+)@agents(/n)?", target.strip())
    if m:
        return m.group(1), target.strip()[len("Local/") :]
    m = re.fullmatch(r"PJSIP/([^/@]+)", target.strip())
    if m:
        return m.group(1), m.group(1)
    return None


# --------------------------------------------------------------------------- the PBX

AgiConnect = Callable[[str, int, Any], defer.Deferred]


class Pbx:
    """Channels, bridges and dialplan of the simulated Asterisk."""

    def __init__(
        self,
        clock,
        *,
        agi_connect: AgiConnect | None = None,
        agi_host: str = "127.0.0.1",
        agi_port: int = 4573,
        agi_script: str = "inbound",
        phones: Mapping[str, PhoneBehaviour] | None = None,
        timings: Timings | None = None,
        seed: int = 0,
        queues: Mapping[str, Queue] | str | None = None,
        fallback_queue: str | None = None,
        missing_sounds: frozenset[str] = frozenset(),
    ) -> None:
        self.clock = clock
        self.missing_sounds = missing_sounds
        self.agi_connect = agi_connect
        self.agi_host = agi_host
        self.agi_port = agi_port
        self.agi_script = agi_script
        self.phones: dict[str, PhoneBehaviour] = dict(phones or {})
        self.timings = timings or Timings()
        self.rng = random.Random(seed)
        self.listeners: list[Callable[[tuple[tuple[str, str], ...]], None]] = []
        self.channels: dict[str, Channel] = {}
        self.globals: dict[str, str] = {"AGI_HOST": f"{agi_host}:{agi_port}"}
        self.database: dict[tuple[str, str], str] = {}
        self.calls: list[SimulatedCall] = []
        self.agi_sessions: set[Any] = set()
        self.counters: dict[str, int] = {
            "placed": 0,
            "ended": 0,
            "answered": 0,
            "abandoned": 0,
            "rejected": 0,
            "agi_failures": 0,
        }
        self.on_call_ended: list[Callable[[SimulatedCall], None]] = []
        # Every AMI Originate asked of the PBX, as its headers (for tests).
        self.originates: list[dict[str, str]] = []
        # Customers' phones dialled through [outbound] by an Originate (callbacks,
        # click-to-dial), by number; a number not listed answers after 1 s.
        self.customer_phones: dict[str, CustomerPhone] = {}
        self._channel_counter = 0
        self._release_depth = 0
        self._pending_devices: list[str] = []
        self._uniqueid_counter = 0
        self._timers: set[Any] = set()
        if queues is None or isinstance(queues, str):
            queues = parse_queues_conf(LAB_QUEUES_CONF if queues is None else queues, self.now())
        self.queue_app = QueueApp(self, dict(queues))
        self.fallback_queue = fallback_queue
        self.device_states: dict[str, bool] = {}
        self.atxfers: dict[str, _Atxfer] = {}  # transferer channel -> its attended transfer
        self.hints: dict[str, str] = {}
        for ext in list(self.phones) + [m.extension for q in self.queues.values() for m in q.members]:
            self.hints.setdefault(ext, f"Local/{ext}@{AGENTS_CONTEXT}")

    @property
    def queues(self) -> dict[str, Queue]:
        return self.queue_app.queues

    # ----------------------------------------------------------------- plumbing

    def now(self) -> float:
        return self.clock.seconds()

    def later(self, seconds: float, fn: Callable[..., Any], *args: Any) -> Any:
        """``callLater`` whose handle is forgotten when it runs (see ``cancel_all``)."""

        def run() -> None:
            self._timers.discard(handle)
            fn(*args)

        handle = self.clock.callLater(max(0.0, seconds), run)
        self._timers.add(handle)
        return handle

    def cancel(self, handle: Any) -> None:
        if handle is not None and handle.active():
            handle.cancel()
        self._timers.discard(handle)

    def cancel_all(self) -> None:
        for handle in list(self._timers):
            self.cancel(handle)

    def emit(self, name: str, values: Mapping[str, str]) -> None:
        headers = render_event(name, values)
        for listener in list(self.listeners):
            try:
                listener(headers)
            except Exception:
                log.failure("AMI event listener failed on {event}", event=name)

    def emit_chan(self, name: str, chan: Channel, **extra: str) -> None:
        values = chan.snapshot()
        values.update({k.replace("_", "-"): v for k, v in extra.items()})
        self.emit(name, values)

    def set_var(self, chan: Channel, name: str, value: str) -> None:
        chan.variables[name] = value
        self.emit_chan("VarSet", chan, Variable=name, Value=value)

    def set_global(self, name: str, value: str) -> None:
        self.globals[name] = value
        self.emit("VarSet", {"Channel": "none", "Uniqueid": "none", "Variable": name, "Value": value})

    def get_var(self, chan: Channel | None, name: str) -> str | None:
        """A channel variable or dialplan function, then a global; None when unset."""
        if chan is not None:
            fn = name.upper()
            if fn == "CALLERID(NUM)":
                return chan.cid_num
            if fn == "CALLERID(NAME)":
                return chan.cid_name
            if fn == "CALLERID(ALL)":
                return f'"{chan.cid_name}" <{chan.cid_num}>' if chan.cid_name else f"<{chan.cid_num}>"
            if fn == "UNIQUEID":
                return chan.uniqueid
            if fn == "CHANNEL":
                return chan.name
            if fn == "EXTEN":
                return chan.exten
            if fn == "CONTEXT":
                return chan.context
            if name in chan.variables:
                return chan.variables[name]
        return self.globals.get(name)

    def _new_uniqueid(self) -> str:
        uid = f"{int(self.now())}.{self._uniqueid_counter}"
        self._uniqueid_counter += 1
        return uid

    def new_pair(
        self, base: str, context: str, exten: str, linkedid: str | None = None,
        uniqueid: str = "",
    ) -> tuple[Channel, Channel]:
        """A Local channel pair ``Local/<base>-NNNNNNNN;1/;2`` with its Newchannel events.
        ``uniqueid``: the ;1 half's (Originate ``ChannelId``); the ;2 half's is then
        ``<uniqueid>;2``, as Asterisk's core_unreal makes it."""
        suffix = f"{self._channel_counter:08x}"
        self._channel_counter += 1
        now = self.now()
        uid1 = uniqueid or self._new_uniqueid()
        uid2 = f"{uniqueid};2" if uniqueid else self._new_uniqueid()
        linked = linkedid or uid1
        device = f"Local/{base}"
        one = Channel(f"Local/{base}-{suffix};1", uid1, linked, 0, context, exten, device, now)
        two = Channel(f"Local/{base}-{suffix};2", uid2, linked, 4, context, exten, device, now)
        one.other, two.other = two, one
        self.channels[one.name] = one
        self.channels[two.name] = two
        self.emit_chan("Newchannel", one)
        self.emit_chan("Newchannel", two)
        return one, two

    def local_bridge(self, one: Channel, two: Channel) -> None:
        values = one.snapshot("LocalOne")
        values.update(two.snapshot("LocalTwo"))
        values.update({"Context": two.context, "Exten": two.exten, "LocalOptimization": "No"})
        self.emit("LocalBridge", values)

    def set_callerid(self, chan: Channel, num: str, name: str) -> None:
        chan.cid_num, chan.cid_name = num, name
        self.emit_chan("NewCallerid", chan, CID_CallingPres=CALLING_PRES)

    def set_connected(self, chan: Channel, num: str, name: str) -> None:
        chan.conn_num, chan.conn_name = num, name
        self.emit_chan("NewConnectedLine", chan)

    def new_state(self, chan: Channel, state: int) -> None:
        chan.state = state
        self.emit_chan("Newstate", chan)

    def device_state(self, device: str) -> None:
        busy = self.device_busy(device)
        self.emit("DeviceStateChange", {"Device": device, "State": "INUSE" if busy else "NOT_INUSE"})
        self.device_update(device)

    def device_busy(self, device: str) -> bool:
        return any(c.device == device for c in self.channels.values())

    def device_update(self, device: str) -> None:
        """Hint (``ExtensionStatus``) and queue member (``QueueMemberStatus``) updates
        when ``device`` turns busy or idle."""
        busy = self.device_busy(device)
        if self.device_states.get(device, False) == busy:
            return
        self.device_states[device] = busy
        for ext, hinted in self.hints.items():
            if hinted == device:
                self.emit("ExtensionStatus", {
                    "Exten": ext, "Context": "agent-hints", "Hint": device,
                    "Status": "1" if busy else "0", "StatusText": "InUse" if busy else "Idle"})
        self.queue_app.device_changed(device)

    def phone_for(self, ext: str) -> PhoneBehaviour | None:
        """The phone of ``ext`` as it behaves now (``AGENT_MODE_<ext>`` may override)."""
        phone = self.phones.get(ext)
        if phone is None:
            return None
        mode = (self.globals.get(f"AGENT_MODE_{ext}") or "").strip().lower()
        if mode in ("noanswer", "busy") and mode != phone.mode:
            return replace(phone, mode=mode)
        return phone

    def talk_timer(self, ext: str, handset: Channel) -> Any:
        phone = self.phone_for(ext)
        if phone is None or phone.talk_seconds is None:
            return None
        return self.later(phone.talk_seconds, self.request_hangup, handset, 16)

    def dial_event(self, name: str, caller: Channel | None, dest: Channel, **extra: str) -> None:
        values = caller.snapshot() if caller is not None else {}
        values.update(dest.snapshot("Dest"))
        values.update(extra)
        self.emit(name, values)

    def phone_in_use(self, ext: str) -> bool:
        device = f"Local/{ext}@{AGENTS_CONTEXT}"
        return any(c.device == device for c in self.channels.values())

    def find_channel(self, name: str) -> Channel | None:
        return self.channels.get(name)

    def bridges(self) -> list[Bridge]:
        """Live bridges, in the order their first channel was created."""
        seen: dict[str, Bridge] = {}
        for chan in self.channels.values():
            if chan.bridge is not None:
                seen.setdefault(chan.bridge.uniqueid, chan.bridge)
        return list(seen.values())

    # ----------------------------------------------------------------- waiting

    def wait(
        self, chans: Channel | list[Channel], timeout: float | None, digits: str | None = None
    ) -> defer.Deferred:
        """Fires with ``(reason, channel, digit)``: reason is ``timeout``, ``digit``,
        ``hangup`` or ``redirect`` (the channel's dialplan is being moved)."""
        group = chans if isinstance(chans, list) else [chans]
        d: defer.Deferred = defer.Deferred()
        entry = _Wait(d, digits)
        for chan in group:
            if not chan.alive or chan.hangup_requested:
                d.callback(("hangup", chan, ""))
                return d
            if chan.goto is not None:
                d.callback(("redirect", chan, ""))
                return d

        def fire(result: tuple[str, Channel | None, str]) -> None:
            for chan in group:
                if entry in chan.waits:
                    chan.waits.remove(entry)
            self.cancel(entry.timer)
            if not d.called:
                d.callback(result)

        entry.fire = fire
        for chan in group:
            chan.waits.append(entry)
        if timeout is not None:
            entry.timer = self.later(timeout, fire, ("timeout", None, ""))
        return d

    def interrupt(self, chan: Channel, reason: str) -> None:
        for entry in list(chan.waits):
            entry.fire((reason, chan, ""))
        for hook in list(chan.on_interrupt):
            hook(reason)

    def deliver_digit(self, chan: Channel, digit: str) -> None:
        for entry in list(chan.waits):
            if entry.digits is not None and (entry.digits == "any" or digit in entry.digits):
                entry.fire(("digit", chan, digit))
                return

    def sleep(self, seconds: float) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        self.later(seconds, d.callback, None)
        return d

    def type_digits(self, chan: Channel, digits: str, delay: float, call: SimulatedCall) -> None:
        """The caller presses ``digits`` (DTMF received on ``chan``) after ``delay``."""
        t = self.timings
        at = delay
        for digit in digits:
            call.timers.append(self.later(at, self._dtmf_begin, chan, digit))
            call.timers.append(self.later(at + t.dtmf_duration, self._dtmf_end, chan, digit))
            at += t.dtmf_duration + t.dtmf_gap

    def _dtmf_begin(self, chan: Channel, digit: str) -> None:
        if chan.alive and not chan.hangup_requested:
            self.emit_chan("DTMFBegin", chan, Digit=digit, Direction="Received")

    def _dtmf_end(self, chan: Channel, digit: str) -> None:
        if chan.alive and not chan.hangup_requested:
            ms = str(int(round(self.timings.dtmf_duration * 1000)))
            self.emit_chan("DTMFEnd", chan, Digit=digit, DurationMs=ms, Direction="Received")
            self.deliver_digit(chan, digit)

    # ----------------------------------------------------------------- music

    def moh_start(self, chan: Channel, klass: str = "default") -> None:
        if chan.moh is None and chan.alive:
            chan.moh = klass or "default"
            self.emit_chan("MusicOnHoldStart", chan, Class=chan.moh)

    def moh_stop(self, chan: Channel) -> None:
        if chan.moh is not None:
            chan.moh = None
            self.emit_chan("MusicOnHoldStop", chan)

    # ----------------------------------------------------------------- hangup

    def request_hangup(self, chan: Channel, cause: int = 16) -> None:
        """Someone asks ``chan`` to hang up (AMI Hangup, a phone or caller hanging up)."""
        if not chan.alive:
            return
        if not chan.soft_emitted and not chan.runner:
            # a channel running an application reports it when that application ends
            self.emit_chan("SoftHangupRequest", chan, Cause=str(cause))
            chan.soft_emitted = True
        if not chan.hangup_requested:
            chan.hangup_requested = True
            chan.cause = cause
            self._run_hooks(chan.on_hangup)
        call = chan.call
        if call is not None and chan is call.caller and not call.trunk.hangup_requested:
            call.caller_first = True
        if chan.runner:
            self.interrupt(chan, "hangup")
        else:
            self.release(chan, chan.cause)

    def release(self, chan: Channel, cause: int | None = None) -> None:
        """``chan`` is gone: Hangup, and its other half follows. Device states are
        reported once the whole chain is done, as Asterisk does."""
        if not chan.alive:
            return
        self._release_depth += 1
        try:
            self._release(chan, cause)
        finally:
            self._release_depth -= 1
        if self._release_depth == 0:
            pending, self._pending_devices = self._pending_devices, []
            for device in pending:
                self.emit("DeviceStateChange", {"Device": device, "State": "NOT_INUSE"})
            for device in dict.fromkeys(pending):
                self.device_update(device)

    def _release(self, chan: Channel, cause: int | None) -> None:
        cause = chan.cause if cause is None else cause
        other = chan.other
        notify = False
        if other is not None and other.alive and not other.hangup_requested:
            self.emit_chan("HangupRequest", other, Cause=str(cause))
            other.hangup_requested = True
            other.cause = cause
            notify = True
            self._run_hooks(other.on_hangup)
        self.moh_stop(chan)
        if chan.bridge is not None:
            self.leave_bridge(chan)
        chan.alive = False
        chan.runner = False
        self.channels.pop(chan.name, None)
        self.emit_chan("Hangup", chan, Cause=str(cause), Cause_txt=CAUSE_TEXT.get(cause, "Unknown"))
        self._pending_devices.append(chan.device)
        self._run_hooks(chan.on_hangup)
        self._run_hooks(chan.after_finish)
        if chan.waits or chan.on_interrupt:
            self.interrupt(chan, "hangup")  # forced stop: wake whatever still waits on it
        if notify and other is not None and other.alive:
            if other.runner:
                self.interrupt(other, "hangup")
            else:
                self.emit_chan("SoftHangupRequest", other, Cause="16")
                other.soft_emitted = True
                self.release(other, cause)
        self._check_call_end(chan)

    @staticmethod
    def _run_hooks(hooks: list[Callable[[], None]]) -> None:
        pending = list(hooks)
        hooks.clear()
        for hook in pending:
            try:
                hook()
            except Exception:
                log.failure("channel hook failed")

    def finish(self, chan: Channel) -> None:
        """The dialplan running on ``chan`` reached its end (an implicit Hangup)."""
        chan.runner = False
        if not chan.alive:
            return
        if not chan.soft_emitted:
            self.emit_chan("SoftHangupRequest", chan, Cause="16")
            chan.soft_emitted = True
        self.release(chan, chan.cause if chan.hangup_requested else 16)

    # ----------------------------------------------------------------- bridges

    def new_bridge(self) -> Bridge:
        bridge = Bridge(str(uuid.UUID(int=self.rng.getrandbits(128), version=4)))
        self.emit("BridgeCreate", bridge.snapshot())
        return bridge

    def enter_bridge(self, bridge: Bridge, chan: Channel) -> None:
        bridge.members.append(chan)
        chan.bridge = bridge
        values = bridge.snapshot()
        values.update(chan.snapshot())
        self.emit("BridgeEnter", values)

    def leave_bridge(self, chan: Channel) -> None:
        bridge = chan.bridge
        if bridge is None:
            return
        bridge.members.remove(chan)
        chan.bridge = None
        values = bridge.snapshot()
        values.update(chan.snapshot())
        self.emit("BridgeLeave", values)

    def clear_bridgepeers(self, bridge: Bridge) -> None:
        for member in bridge.members:
            if member.variables.get("BRIDGEPEER"):
                self.set_var(member, "BRIDGEPEER", "")

    def destroy_bridge(self, bridge: Bridge) -> None:
        self.emit("BridgeDestroy", bridge.snapshot())

    def finish_bridge(self, bridge: Bridge) -> None:
        """The bridge ends: every channel still in it hangs up, then it is destroyed."""
        for member in list(bridge.members):
            member.runner = False
            if member.alive:
                self.release(member, 16)
            elif member.bridge is bridge:
                self.leave_bridge(member)
        self.destroy_bridge(bridge)

    # ----------------------------------------------------------------- queue legs

    def queue_leg(self, caller: Channel, ext: str, interface: str) -> tuple[Channel, Channel]:
        """app_queue calls a member: the Local pair towards the agent's phone (05, 07)."""
        one, two = self.new_pair(f"{ext}@{AGENTS_CONTEXT}", AGENTS_CONTEXT, ext, caller.linkedid)
        one.call = two.call = caller.call
        one.runner = True
        dialed = interface.split("/", 1)[-1]
        self.set_callerid(one, ext, caller.cid_name)
        self.set_var(one, "DIALEDPEERNUMBER", dialed)
        self.set_var(two, "DIALEDPEERNUMBER", dialed)
        self.set_callerid(two, caller.cid_num, caller.cid_name)
        self.set_connected(two, ext, caller.cid_name)
        self.local_bridge(one, two)
        return one, two

    def drop_leg(self, one: Channel, cause: int) -> None:
        """Hang up a member leg that is no longer wanted (cancelled, not answered)."""
        one.runner = False
        if one.alive:
            self.release(one, cause)

    # ----------------------------------------------------------------- dial

    async def dial(self, caller: Channel, target: str, timeout: float | None) -> tuple[str, str]:
        """app_dial from ``caller`` to an agent phone. Returns ``(DIALSTATUS, ended_by)``
        where ended_by is ``caller`` (hung up or redirected), ``agent`` or ``""``."""
        parsed = parse_dial_target(target)
        started = self.now()
        self.moh_stop(caller)
        if parsed is None or parsed[0] not in self.phones:
            if parsed is not None or target.startswith("Local/"):
                base = target[len("Local/") :].split("/")[0] if target.startswith("Local/") else target
                one, two = self.new_pair(base, AGENTS_CONTEXT, base.split("@")[0], caller.linkedid)
                one.device = two.device = f"Local/{base}"
                self._vanish(two, one)
            self.set_var(caller, "DIALSTATUS", "CHANUNAVAIL")
            return "CHANUNAVAIL", ""
        ext, dialstring = parsed
        phone = self.phone_for(ext) or self.phones[ext]
        in_use = self.phone_in_use(ext)
        for key in ("DIALSTATUS", "DIALEDPEERNUMBER", "DIALEDPEERNAME", "ANSWEREDTIME",
                    "ANSWEREDTIME_MS", "DIALEDTIME", "DIALEDTIME_MS", "RINGTIME", "RINGTIME_MS",
                    "PROGRESSTIME", "PROGRESSTIME_MS"):
            self.set_var(caller, key, "")
        one, two = self.new_pair(f"{ext}@{AGENTS_CONTEXT}", AGENTS_CONTEXT, ext, caller.linkedid)
        one.call = two.call = caller.call
        one.runner = True
        self.set_var(one, "DIALEDPEERNUMBER", f"{ext}@{AGENTS_CONTEXT}/n")
        self.set_callerid(one, ext, caller.cid_name)
        self.set_connected(one, caller.cid_num, caller.cid_name)
        self.set_var(two, "DIALEDPEERNUMBER", f"{ext}@{AGENTS_CONTEXT}/n")
        self.set_callerid(two, caller.cid_num, caller.cid_name)
        self.set_connected(two, ext, caller.cid_name)
        self.local_bridge(one, two)
        self.dial_event("DialBegin", caller, one, DialString=dialstring)
        self._run_hooks(caller.on_dial_begin)
        self.new_state(one, 5)
        self.device_state(one.device)
        self.set_var(caller, "RINGTIME", "0")
        self.set_var(caller, "RINGTIME_MS", "0")
        self.dial_event("DialState", caller, one, DialStatus="RINGING")
        limit = self.timings.dial_timeout if timeout is None else timeout
        if phone.mode == "busy" or in_use:
            reason = "busy"
        else:
            ring = limit if phone.mode == "noanswer" else min(phone.answer_after, limit)
            reason, who, _ = await self.wait([caller, one], ring)
            if reason == "timeout":
                reason = "answer" if phone.mode == "answer" and phone.answer_after <= limit else "noanswer"
            elif who is one:
                reason = "peer"
        if reason != "answer":
            status = {"busy": "BUSY", "noanswer": "NOANSWER", "peer": "NOANSWER"}.get(reason, "CANCEL")
            self.dial_event("DialEnd", caller, one, DialStatus=status)
            cause = {"BUSY": 17, "NOANSWER": 19}.get(status, 16)
            one.runner = False
            if one.alive:
                self.release(one, cause)
            if reason in ("hangup", "redirect"):
                return "CANCEL", "caller"
            self.set_var(caller, "DIALSTATUS", status)
            return status, ""
        # answered
        self.new_state(two, 6)
        self.device_state(two.device)
        self.new_state(one, 6)
        self.set_var(caller, "DIALSTATUS", "ANSWER")
        self.set_var(caller, "DIALEDPEERNAME", one.name)
        self.set_var(caller, "DIALEDPEERNUMBER", f"{ext}@{AGENTS_CONTEXT}/n")
        self.dial_event("DialEnd", caller, one, DialStatus="ANSWER")
        self._run_hooks(caller.on_answered)
        answered = self.now()
        bridge = self.new_bridge()
        self.device_state(one.device)
        self.enter_bridge(bridge, one)
        self.enter_bridge(bridge, caller)
        if caller.variables.get("BLINDTRANSFER"):
            self.set_var(caller, "BLINDTRANSFER", caller.variables["BLINDTRANSFER"])
        self.set_var(one, "BRIDGEPEER", caller.name)
        self.set_var(caller, "BRIDGEPEER", one.name)
        talk_timer = None
        if phone.talk_seconds is not None:
            talk_timer = self.later(phone.talk_seconds, self.request_hangup, two, 16)
        if caller.call is not None:
            self.agent_answered(caller.call, ext)
        reason, who, _ = await self.wait([caller, one], None)
        self.cancel(talk_timer)
        x = self.atxfers.get(one.name)
        if x is not None and who is one and not self._moved_away(one):
            # The agent hung up during an attended transfer: it completes.
            peer = self._atxfer_complete(x)
            one.runner = False
            self.release(one, one.cause)
            if peer is not None:
                return await self._after_atxfer(caller, peer, bridge, answered, started)
            x = None
        elif x is not None:
            self._atxfer_abandoned(x)
        self.clear_bridgepeers(bridge)
        ended_by = "agent" if who is one else "caller"
        dial_vars = {
            "ANSWEREDTIME": str(int(self.now() - answered)),
            "ANSWEREDTIME_MS": str(int((self.now() - answered) * 1000)),
            "DIALEDTIME": str(int(self.now() - started)),
            "DIALEDTIME_MS": str(int((self.now() - started) * 1000)),
        }
        if who is one and self._moved_away(one):
            self._bridge_left_by(one, caller, bridge)
            for key, value in dial_vars.items():
                self.set_var(caller, key, value)
            self.set_var(caller, "DIALSTATUS", "ANSWER")
            return "ANSWER", "agent"
        if ended_by == "agent":
            self.leave_bridge(one)
            one.runner = False
            self.release(one, one.cause)
            if caller.bridge is not None:
                self.leave_bridge(caller)
            self.destroy_bridge(bridge)
            for key, value in dial_vars.items():
                self.set_var(caller, key, value)
            self.set_var(caller, "DIALSTATUS", "ANSWER")
        else:
            if caller.bridge is not None:
                self.leave_bridge(caller)
            for key, value in dial_vars.items():
                self.set_var(caller, key, value)
            if caller.alive and caller.goto is None:
                self.set_var(caller, "DIALSTATUS", "ANSWER")
            self.leave_bridge(one)
            self.destroy_bridge(bridge)
            one.runner = False
            self.release(one, 16)
        return "ANSWER", ended_by

    async def _after_atxfer(self, caller: Channel, peer: Channel, bridge: Bridge,
                            answered: float, started: float) -> tuple[str, str]:
        """The caller's Dial() goes on with the transfer target until one hangs up."""
        reason, who, _ = await self.wait([caller, peer], None)
        self.clear_bridgepeers(bridge)
        for chan in (caller, peer):
            if chan.bridge is not None:
                self.leave_bridge(chan)
        self.destroy_bridge(bridge)
        if peer.alive:
            self.release(peer, peer.cause if who is peer else 16)
        for key, value in {
            "ANSWEREDTIME": str(int(self.now() - answered)),
            "DIALEDTIME": str(int(self.now() - started)),
        }.items():
            if caller.alive:
                self.set_var(caller, key, value)
        if caller.alive and caller.goto is None:
            self.set_var(caller, "DIALSTATUS", "ANSWER")
        return "ANSWER", "agent" if who is peer else "caller"

    def _vanish(self, two: Channel, one: Channel) -> None:
        """A Local pair towards a missing extension: both halves die at once (21)."""
        for chan in (two, one):
            chan.alive = False
            self.channels.pop(chan.name, None)
            self.emit_chan("Hangup", chan, Cause="0", Cause_txt="Unknown")
        self.emit("DeviceStateChange", {"Device": one.device, "State": "INVALID"})
        self.emit("DeviceStateChange", {"Device": one.device, "State": "INVALID"})

    # ----------------------------------------------------------------- redirect

    def can_originate(self, channel: str) -> bool:
        """Only Local channels exist here (like the lab, which loads no SIP driver)."""
        return re.fullmatch(r"Local/[^@/]+@[^/]+(/n)?", channel) is not None

    def can_redirect(self, chan: Channel, context: str, exten: str) -> bool:
        if not chan.alive or not chan.runner or chan.hangup_requested or not exten:
            return False
        if context == HOLD_CONTEXT:  # an agent's leg, out of its bridge onto hold
            return chan.bridge is not None and chan.call is not None and chan is not chan.call.trunk
        return chan.call is not None and chan is chan.call.trunk and context == "transfer"

    def redirect(self, chan: Channel, context: str, exten: str) -> bool:
        """AMI Redirect: move ``chan``'s dialplan. The inbound trunk side goes to
        ``transfer,<ext>`` (dials that agent); an agent's bridged leg goes to
        ``cc-hold`` (it waits there, its bridge dissolves and the caller's Dial returns)."""
        if not self.can_redirect(chan, context, exten):
            return False
        chan.goto = (context, exten)
        self.interrupt(chan, "redirect")
        return True

    # ----------------------------------------------------------------- hold, Bridge()

    @staticmethod
    def _moved_away(chan: Channel) -> bool:
        """``chan`` left its bridge for another dialplan place (an AMI Redirect)."""
        return chan.goto is not None and chan.alive and not chan.hangup_requested

    def _bridge_left_by(self, chan: Channel, other: Channel, bridge: Bridge) -> None:
        """``chan`` was redirected out of a two-party bridge: the bridge dissolves (it
        keeps fewer than two channels), ``other`` leaves it, and ``chan`` runs its new
        dialplan place."""
        if chan.bridge is not None:
            self.leave_bridge(chan)
        if other.bridge is not None:
            self.leave_bridge(other)
        self.destroy_bridge(bridge)
        d = defer.Deferred.fromCoroutine(self._run_moved_leg(chan))
        d.addErrback(lambda f: log.failure("redirected leg dialplan failed", f))

    async def _run_moved_leg(self, chan: Channel) -> None:
        """[cc-hold]: ``Wait()`` until hung up, or until a ``Bridge()`` takes the channel."""
        context, exten = chan.goto or (HOLD_CONTEXT, "s")
        chan.goto = None
        chan.context, chan.exten, chan.priority = context, exten, 1
        chan.app, chan.app_data = "Wait", "3600"
        reason, _, _ = await self.wait(chan, None)
        chan.app, chan.app_data = "", ""
        if reason == "bridged":
            return  # the bridge owns the channel now
        chan.runner = False
        if chan.alive:
            self.release(chan, chan.cause if chan.hangup_requested else 16)

    async def bridge_app(self, caller: Channel, target_name: str) -> str:
        """``Bridge(<channel>)`` run by ``caller``: ``target`` leaves its dialplan and
        both enter a new bridge until one hangs up or is moved. Returns BRIDGERESULT."""
        target = self.channels.get(target_name) or next(
            (c for c in self.channels.values() if c.uniqueid == target_name), None)
        if target is caller:
            self.set_var(caller, "BRIDGERESULT", "LOOP")
            return "LOOP"
        if target is None or not target.alive or target.hangup_requested:
            self.set_var(caller, "BRIDGERESULT", "NONEXISTENT")
            return "NONEXISTENT"
        for entry in list(target.waits):
            entry.fire(("bridged", target, ""))
        self.moh_stop(caller)
        bridge = self.new_bridge()
        self.enter_bridge(bridge, target)
        self.enter_bridge(bridge, caller)
        self.set_var(target, "BRIDGEPEER", caller.name)
        self.set_var(caller, "BRIDGEPEER", target.name)
        reason, who, _ = await self.wait([caller, target], None)
        self.clear_bridgepeers(bridge)
        self.set_var(caller, "BRIDGERESULT", "SUCCESS")
        if who is target and self._moved_away(target):
            self._bridge_left_by(target, caller, bridge)
            return "SUCCESS"
        if caller.bridge is not None:
            self.leave_bridge(caller)
        if target.bridge is not None:
            self.leave_bridge(target)
        self.destroy_bridge(bridge)
        target.runner = False
        if target.alive:
            self.release(target, target.cause if who is target else 16)
        return "SUCCESS"

    # ----------------------------------------------------------------- transfers

    def _peer(self, chan: Channel) -> Channel | None:
        bridge = chan.bridge
        if bridge is None:
            return None
        others = [c for c in bridge.members if c is not chan]
        return others[0] if others else None

    def _transfer(self, chan: Channel, context: str, exten: str) -> Channel | None:
        peer = self._peer(chan)
        if peer is None or not peer.runner or peer.call is None or peer is not peer.call.trunk:
            return None
        return peer

    def blind_transfer(self, chan: Channel, context: str, exten: str) -> bool:
        """AMI BlindTransfer of ``chan``: its bridge peer (the caller) is sent to
        ``exten@context`` (recording 11: ``Unhold``, ``BlindTransfer``, then the caller
        leaves the bridge and the agent's leg hangs up)."""
        peer = self._transfer(chan, context, exten)
        if peer is None or chan.bridge is None:
            return False
        self.emit_raw(render_event("Unhold", chan.snapshot()))
        values = {"Result": "Success", "IsExternal": "Yes", "Context": context or peer.context,
                  "Extension": exten}
        values.update(chan.snapshot("Transferer"))
        values.update(peer.snapshot("Transferee"))
        values.update(chan.bridge.snapshot())
        self.emit("BlindTransfer", values)
        self.set_var(chan, "BLINDTRANSFER", peer.name)
        self.set_var(peer, "BLINDTRANSFER", chan.name)
        self._move(peer, context, exten)
        return True

    # ----------------------------------------------------------------- attended transfer

    def attended_transfer(self, chan: Channel, context: str, exten: str) -> bool:
        """AMI Atxfer of ``chan`` (the transferer), as Asterisk's attended transfer
        feature does it: ``Hold`` on the transferer (and no ``Unhold``), music for its
        bridge peer (the caller), the transferer moves to a new consult bridge with a
        ``Local/<exten>@<context>`` pair whose ``;2`` half runs that dialplan place.
        Then (``_atxfer_*``): the transferer hangs up: the target takes its place next
        to the caller (``AttendedTransfer``); ``CancelAtxfer`` or the target hanging up
        or not answering: the transferer is back with the caller; the ``*3`` feature
        (atxferthreeway): all three in the caller's bridge."""
        peer = self._transfer(chan, context, exten)
        if peer is None or chan.bridge is None or chan.name in self.atxfers:
            return False
        orig = chan.bridge
        self._raw("Hold", [*chan.snapshot().items(), ("MusicClass", "")])
        self.moh_start(peer)
        self.leave_bridge(chan)
        consult = self.new_bridge()
        self.enter_bridge(consult, chan)
        one, two = self.new_pair(f"{exten}@{context}", context, exten, chan.linkedid)
        one.call = two.call = peer.call
        x = _Atxfer(chan, peer, orig, consult, one, two)
        self.atxfers[chan.name] = x
        self.enter_bridge(consult, one)
        one.after_finish.append(lambda: self._atxfer_target_gone(x))
        two.runner = True
        d = defer.Deferred.fromCoroutine(self._run_consult(x, context, exten))
        d.addErrback(lambda f: log.failure("consult leg dialplan failed", f))
        return True

    async def _run_consult(self, x: _Atxfer, context: str, exten: str) -> None:
        """The consult leg's ``;2`` half runs ``exten@context``: ``cc-consult,agent-<ext>``
        (and the lab's ``transfer,<ext>``) dial the agent's phone, ``outbound,<number>``
        the number; anything else is an unknown extension."""
        two = x.two
        two.on_answered.append(lambda: self._atxfer_answered(x))
        ring = self.globals.get("RING_TIMEOUT") or ""
        timeout = float(ring) if ring.isdigit() else self.timings.dial_timeout
        if context == OUTBOUND_CONTEXT:
            two.app, two.app_data = "Dial", f"PJSIP/{exten}@trunk,60,T"
            await self.dial_number(two, exten)
        else:
            ext = exten[len("agent-"):] if exten.startswith("agent-") else exten
            if context in (CONSULT_CONTEXT, "transfer", AGENTS_CONTEXT) and ext:
                target = f"Local/{ext}@{AGENTS_CONTEXT}/n"
                two.app, two.app_data = "Dial", f"{target},{int(timeout)},tT"
                await self.dial(two, target, timeout)
        two.app, two.app_data = "", ""
        self.finish(two)

    def _atxfer_answered(self, x: _Atxfer) -> None:
        """The consulted party answered: the consult leg is up."""
        if x.state == "calling":
            x.state = "consulting"
        if x.one.alive:
            self.new_state(x.two, 6)
            self.new_state(x.one, 6)

    def _atxfer_target_gone(self, x: _Atxfer) -> None:
        """The consult leg hangs up (CancelAtxfer, no answer, the target hung up): the
        transferer goes back to the caller, who hears no more music."""
        one = x.one
        if x.state == "done" or self.atxfers.get(x.transferer.name) is not x:
            return
        if x.state == "threeway":
            x.state = "done"
            del self.atxfers[x.transferer.name]
            return  # the transferer and the caller stay in their bridge
        x.state = "done"
        del self.atxfers[x.transferer.name]
        chan = x.transferer
        if one.bridge is not None:
            self.leave_bridge(one)
        if chan.alive and not chan.hangup_requested and x.transferee.alive:
            if chan.bridge is not None:
                self.leave_bridge(chan)
            self.destroy_bridge(x.consult)
            self.enter_bridge(x.orig, chan)
            self.emit_raw(render_event("Unhold", chan.snapshot()))
            self.moh_stop(x.transferee)
        else:
            self.destroy_bridge(x.consult)

    def cancel_attended_transfer(self, chan: Channel) -> bool:
        """AMI CancelAtxfer (the atxferabort feature): the consult leg is hung up."""
        x = self.atxfers.get(chan.name)
        if x is None or x.state not in ("calling", "consulting"):
            return False
        self.request_hangup(x.one, 16)
        return True

    def _atxfer_complete(self, x: _Atxfer) -> Channel | None:
        """The transferer hung up during the consultation: the consult leg takes its
        place in the caller's bridge (``AttendedTransfer``, DestType ``Bridge``, or
        ``Threeway`` after a three-way). Returns the caller's new peer (None: the
        consult leg was still ringing, so it is hung up and the caller left alone)."""
        del self.atxfers[x.transferer.name]
        chan, caller, one = x.transferer, x.transferee, x.one
        threeway = x.state == "threeway"
        answered = x.state == "consulting" or threeway
        x.state = "done"
        if not answered or not one.alive or not caller.alive:
            if one.alive:
                self.request_hangup(one, 16)
            if not threeway:
                if chan.bridge is x.consult:
                    self.leave_bridge(chan)
                self.destroy_bridge(x.consult)
            return None
        values = {"Result": "Success"}
        values.update(chan.snapshot("OrigTransferer"))
        values.update({"Orig" + k: v for k, v in x.orig.snapshot().items()})
        values.update(chan.snapshot("SecondTransferer"))
        values.update({"Second" + k: v for k, v in x.consult.snapshot().items()})
        if chan.bridge is not None:
            self.leave_bridge(chan)
        if not threeway:
            self.leave_bridge(one)
            self.destroy_bridge(x.consult)
            self.enter_bridge(x.orig, one)
            self.moh_stop(caller)
        values["DestType"] = "Threeway" if threeway else "Bridge"
        values["DestBridgeUniqueid"] = x.orig.uniqueid
        if threeway:
            values["DestTransfererChannel"] = chan.name
        values.update(caller.snapshot("Transferee"))
        values.update(one.snapshot("TransferTarget"))
        self._raw("AttendedTransfer", list(values.items()))
        self.set_var(caller, "BRIDGEPEER", one.name)
        self.set_var(one, "BRIDGEPEER", caller.name)
        return one

    def _atxfer_abandoned(self, x: _Atxfer) -> None:
        """The caller hung up (or was moved) during the consultation: it ends too (a
        simplification: Asterisk would leave the transferer with the target)."""
        self.atxfers.pop(x.transferer.name, None)
        threeway, x.state = x.state == "threeway", "done"
        if x.one.alive:
            self.request_hangup(x.one, 16)
        if not threeway:
            if x.transferer.bridge is x.consult:
                self.leave_bridge(x.transferer)
            self.destroy_bridge(x.consult)

    def _atxfer_dtmf(self, x: _Atxfer, digit: str, duration: float,
                     done: Callable[[], None]) -> None:
        """A digit the transferer sends during the consultation: the bridge keeps it
        for the transfer features; ``*3`` (atxferthreeway) merges the consult bridge
        into the caller's: all three hear each other."""
        done()
        chan = x.transferer
        if chan.alive:
            ms = str(int(round(duration * 1000)))
            self.emit_chan("DTMFBegin", chan, Digit=digit, Direction="Received")
            self.emit_chan("DTMFEnd", chan, Digit=digit, DurationMs=ms, Direction="Received")
        x.digits = (x.digits + digit)[-2:]
        if x.digits != ATXFER_THREEWAY or x.state != "consulting":
            return
        x.state = "threeway"
        values = {"To" + k: v for k, v in x.orig.snapshot().items()}
        values.update({"From" + k: v for k, v in x.consult.snapshot().items()})
        self._raw("BridgeMerge", list(values.items()))
        for member in list(x.consult.members):
            self.leave_bridge(member)
            self.enter_bridge(x.orig, member)
        self.destroy_bridge(x.consult)
        self.emit_raw(render_event("Unhold", chan.snapshot()))
        self.moh_stop(x.transferee)

    def _raw(self, name: str, pairs: list[tuple[str, str]]) -> None:
        """An event no recording holds (header order from Asterisk's documentation)."""
        self.emit_raw((("Event", name), ("Privilege", "call,all"), *pairs))

    def _move(self, peer: Channel, context: str, exten: str) -> None:
        peer.goto = (context or "transfer", exten)
        if peer.bridge is not None:
            self.clear_bridgepeers(peer.bridge)
            self.leave_bridge(peer)
        for entry in list(peer.waits):
            entry.fire(("transfer", peer, ""))

    def mix_monitor(self, chan: Channel, start: bool, filename: str = "") -> None:
        if start:
            chan.monitors += 1
            self.set_var(chan, "MIXMONITOR_FILENAME", filename or f"/tmp/{chan.uniqueid}.wav")
            self.emit_chan("MixMonitorStart", chan)
            if chan.bridge is not None:  # the audiohook makes the bridge re-announce peers
                for member in chan.bridge.members:
                    peer = self._peer(member)
                    if peer is not None:
                        self.set_var(member, "BRIDGEPEER", peer.name)
        elif chan.monitors:
            chan.monitors -= 1
            self.emit_chan("MixMonitorStop", chan)

    def play_dtmf(self, chan: Channel, digit: str, duration: float,
                  done: Callable[[], None], receive: bool = False) -> None:
        """AMI PlayDTMF: the digit is heard on the other half (recording 21). With
        ``Receive``, the digit comes in on ``chan`` and its bridge passes it on."""
        target = chan.other if chan.other is not None and chan.other.alive else chan
        x = self.atxfers.get(chan.name)
        if receive and x is not None:
            self.later(duration, self._atxfer_dtmf, x, digit, duration, done)
            return
        if receive:
            self.later(duration, self._dtmf_through_bridge, chan, digit, duration, done)
            return

        def end() -> None:
            done()
            if target.alive:
                self.emit_chan("DTMFBegin", target, Digit=digit, Direction="Received")
                ms = str(int(round(duration * 1000)))
                self.emit_chan("DTMFEnd", target, Digit=digit, DurationMs=ms, Direction="Received")
                self.deliver_digit(target, digit)

        self.later(duration, end)

    def _dtmf_through_bridge(self, chan: Channel, digit: str, duration: float,
                             done: Callable[[], None]) -> None:
        done()
        ms = str(int(round(duration * 1000)))
        peer = self._peer(chan)
        for target, direction in ((chan, "Received"), (peer, "Sent")):
            if target is not None and target.alive:
                self.emit_chan("DTMFBegin", target, Digit=digit, Direction=direction)
                self.emit_chan("DTMFEnd", target, Digit=digit, DurationMs=ms,
                               Direction=direction)

    # ----------------------------------------------------------------- CLI

    def cli(self, command: str) -> list[str] | None:
        """Output lines of the few CLI commands the simulator knows; None: unknown."""
        words = command.lower().split()
        if words == ["core", "show", "version"]:
            return [f"Asterisk {VERSION} (simulated)"]
        if words == ["core", "show", "channels", "concise"]:
            out = []
            for c in self.channels.values():
                bridge = c.bridge.uniqueid if c.bridge else ""
                out.append("!".join([c.name, c.context, c.exten, str(c.priority),
                                     STATE_DESC.get(c.state, "Unknown"), c.app or "",
                                     c.app_data or "", c.cid_num, "", "", "3",
                                     str(int(self.now() - c.created)), bridge, c.uniqueid]))
            return out
        if len(words) == 3 and words[:2] == ["queue", "show"] and words[2] in self.queues:
            queue = self.queues[words[2]]
            out = [f"{queue.name} has {len(queue.callers)} calls (max unlimited) in "
                   f"'{queue.strategy}' strategy"]
            out.append("   Members: " if queue.members else "   No Members")
            for m in queue.members:
                state = "In use" if self.device_busy(m.state_interface) else "Not in use"
                out.append(f"      {m.name} ({m.interface} from {m.state_interface}) ({state})")
            out.append("   No Callers" if not queue.callers else "   Callers: ")
            out.append("")
            return out
        return None

    # ----------------------------------------------------------------- inbound calls

    def place_call(self, script: CallerScript, variables: Mapping[str, str] | None = None,
                   on_answer: Callable[[Channel], None] | None = None,
                   context: str = "inbound") -> SimulatedCall:
        """A caller dials in: Local/s@inbound;1 is the handset, ;2 runs [inbound] (IVR
        over FastAGI, then the queue named by ``QUEUE``) or [inbound-noagi] (straight
        to ``Queue(${QUEUE})``)."""
        c1, c2 = self.new_pair(f"s@{context}", context, "s")
        call = SimulatedCall(script, c1, c2)
        c1.call = c2.call = call
        self.calls.append(call)
        self.counters["placed"] += 1
        given = dict(variables or {"CALLERNUM": script.number})
        for key in reversed(list(given)):
            self.set_var(c1, key, given[key])
        self.set_callerid(c1, script.number, script.name)
        self.set_connected(c1, script.number, script.name)
        for key, value in given.items():
            self.set_var(c2, key, value)
        self.set_callerid(c2, script.number, script.name)
        self.set_connected(c2, script.number, script.name)
        self.local_bridge(c1, c2)
        self.dial_event("DialBegin", None, c1, DialString=f"s@{context}")
        if context == "inbound":
            c2.exten = script.dnis
        c2.priority = 5
        c2.runner = True
        self.new_state(c2, 6)
        self.new_state(c1, 6)
        self.device_state(c1.device)
        self.dial_event("DialEnd", None, c1, DialStatus="ANSWER")
        self.device_state(c1.device)
        if on_answer is not None:
            on_answer(c1)
        c1.context, c1.exten = "caller", "s"
        if script.patience is not None:
            call.timers.append(self.later(script.patience, self._caller_gives_up, call))
        if script.hangup_after is not None:
            call.timers.append(self.later(script.hangup_after, self._caller_done, call))
        if script.send_dtmf or script.hold_after_dtmf is not None:
            self._caller_program(call)
        d = defer.Deferred.fromCoroutine(self._run_trunk(call))
        d.addErrback(lambda f: log.failure("inbound dialplan failed", f))
        return call

    def _caller_program(self, call: SimulatedCall) -> None:
        """The [caller] context: Wait(delay), SendDTMF(digits,250), Wait(hold), Hangup()."""
        script, t = call.script, self.timings
        at = script.send_dtmf_after + t.dtmf_duration  # SendDTMF's lead-in
        for char in script.send_dtmf:
            if char in "Ww":
                at += 1.0 if char == "W" else 0.5
                continue
            call.timers.append(self.later(at, self._dtmf_begin, call.trunk, char))
            call.timers.append(self.later(at + t.dtmf_duration, self._dtmf_end, call.trunk, char))
            at += t.dtmf_duration + t.dtmf_gap
        if script.hold_after_dtmf is not None:
            call.timers.append(self.later(at + script.hold_after_dtmf, self._caller_done, call))

    def _caller_done(self, call: SimulatedCall) -> None:
        if call.caller.alive:
            if call.agent is None:
                call.gave_up = True
            self.request_hangup(call.caller, 16)

    def _caller_gives_up(self, call: SimulatedCall) -> None:
        if call.agent is None and call.caller.alive:
            call.gave_up = True
            self.request_hangup(call.caller, 16)

    def caller_hangs_up(self, call: SimulatedCall) -> None:
        if call.caller.alive:
            self.request_hangup(call.caller, 16)

    def agent_answered(self, call: SimulatedCall, ext: str) -> None:
        if call.agent is None:
            call.agent = ext
        if call.script.talk_hangup_after is not None:
            call.timers.append(
                self.later(call.script.talk_hangup_after, self.caller_hangs_up, call)
            )

    def prompt_played(self, call: SimulatedCall, prompt: str | None) -> None:
        call.plays += 1
        call.last_prompt = prompt
        if prompt is not None and prompt == call.script.hangup_at and not call.hangup_armed:
            call.hangup_armed = True
            call.timers.append(self.later(self.timings.prompt / 2, self._caller_done, call))

    def node_entered(self, call: SimulatedCall, node: str) -> None:
        """The IVR set ``IVR_NODE``: a caller scripted to hang up there does so now."""
        call.nodes.append(node)
        if call.script.hangup_at == f"node:{node}" and not call.hangup_armed:
            call.hangup_armed = True
            self._caller_done(call)

    def message_started(self, call: SimulatedCall) -> None:
        """VoiceMail is recording: the caller speaks, then hangs up."""
        call.timers.append(self.later(call.script.message_seconds, self._caller_done, call))

    def digits_wanted(self, chan: Channel) -> None:
        """A digit read started on ``chan``: the caller types the scripted digits."""
        call = chan.call
        if call is None or chan is not call.trunk or call.answered_play == call.plays:
            return
        script = call.script
        entry = None
        if call.last_prompt is not None and call.last_prompt in script.digits:
            entry = script.digits[call.last_prompt]
            key: Any = call.last_prompt
        elif call.reads in script.digits:
            key = call.reads
            entry = script.digits[key]
        call.reads += 1
        if entry is None:
            return
        call.answered_play = call.plays
        if isinstance(entry, (list, tuple)):
            used = call.prompt_uses.get(str(key), 0)
            call.prompt_uses[str(key)] = used + 1
            if not entry:
                return
            entry = entry[min(used, len(entry) - 1)]
        if entry:
            self.type_digits(chan, str(entry), script.digit_delay, call)

    async def _run_trunk(self, call: SimulatedCall) -> None:
        c2 = call.trunk
        reason, _, _ = await self.wait(c2, self.timings.agi_start)
        if reason == "timeout" and c2.context == "inbound":
            c2.priority = 6
            c2.app, c2.app_data = "AGI", self._agi_request_data(call)
            status = await self._run_agi(call)
            c2.app, c2.app_data = "", ""
            self.set_var(c2, "AGISTATUS", status)
            if status == "FAILURE" and self.fallback_queue and not c2.variables.get("QUEUE"):
                c2.variables["QUEUE"] = self.fallback_queue
            transfer = c2.variables.get("TRANSFER", "")
            if status == "SUCCESS" and transfer and c2.alive and not c2.hangup_requested:
                await self._dial_ivr_transfer(c2, transfer)
                self.finish(c2)
                return
        elif reason == "timeout" and c2.context == "inbound-noagi":
            c2.variables.setdefault("QUEUE", "sales")
            if not c2.variables["QUEUE"]:
                c2.variables["QUEUE"] = "sales"
        while c2.alive and not c2.hangup_requested:
            if c2.goto is not None:
                context, exten = c2.goto
                c2.goto = None
                c2.context, c2.exten, c2.priority = context, exten, 1
                if context == "transfer" and exten.startswith("9") and exten[1:] in self.queues:
                    c2.priority = 2
                    await self._queue(c2, exten[1:], None)
                    break
                if context in ("transfer", AGENTS_CONTEXT):
                    c2.priority = 2
                    c2.app, c2.app_data = "Dial", f"Local/{exten}@{AGENTS_CONTEXT}/n,30"
                    await self.dial(c2, f"Local/{exten}@{AGENTS_CONTEXT}/n", 30.0)
                    c2.app, c2.app_data = "", ""
                    continue
                if context in (TRANSFER_CONTEXT, OUTBOUND_CONTEXT):
                    await self._transferred_to(call, context, exten)
                    if c2.goto is not None:
                        continue
                break  # unknown destination: hang up
            queue = c2.variables.pop("QUEUE", "")
            if queue:
                timeout = c2.variables.get("QUEUE_TIMEOUT") or "300"
                await self._queue(c2, queue, float(timeout) if timeout.isdigit() else 300.0)
                continue
            target = c2.variables.get("TARGET")
            if target:
                c2.variables.pop("TARGET")
                c2.app, c2.app_data = "Dial", f"{target},30,tT"
                await self.dial(c2, target, 30.0)
                c2.app, c2.app_data = "", ""
                continue
            if c2.context.startswith("inbound") and c2.variables.get("QUEUESTATUS"):
                break  # Queue() returned: Hangup()
            c2.app, c2.app_data = "Playback", "vm-goodbye"
            reason, _, _ = await self.wait(c2, self.timings.goodbye)
            if reason == "timeout":
                self.set_var(c2, "PLAYBACKSTATUS", "SUCCESS")
            elif reason == "redirect":
                continue
            break
        self.finish(c2)

    async def _queue(self, chan: Channel, name: str, timeout: float | None) -> str:
        chan.app, chan.app_data = "Queue", f"{name},tT,,,{int(timeout or 0)}"
        status = await self.queue_app.run(chan, name, timeout)
        chan.app, chan.app_data = "", ""
        if status != "CONNECTED":
            chan.variables["QUEUESTATUS"] = status
        else:
            chan.variables.setdefault("QUEUESTATUS", status)
        return status

    async def _dial_ivr_transfer(self, c2: Channel, number: str) -> None:
        """[cti-inbound] after the AGI: a ``TRANSFER`` the IVR left (it comes before a
        ``QUEUE``) is ``Goto([outbound],${TRANSFER},1)``: ``Dial(PJSIP/<number>@trunk,
        60,T)``, then ``Hangup()``. An outside party with no phone in ``phones`` talks
        for ``timings.outside_talk`` seconds, then hangs up."""
        c2.context, c2.exten, c2.priority = OUTBOUND_CONTEXT, number, 1
        c2.app, c2.app_data = "Dial", f"PJSIP/{number}@trunk,60,T"
        await self.dial_number(c2, number, talk_seconds=self.timings.outside_talk)
        c2.app, c2.app_data = "", ""

    def _agi_request_data(self, call: SimulatedCall) -> str:
        return (
            f"agi://{self.agi_host}:{self.agi_port}/{self.agi_script},"
            f"{call.script.dnis},{call.trunk.cid_num}"
        )

    async def _transferred_to(self, call: SimulatedCall, context: str, exten: str) -> None:
        """The caller was blind transferred by the console (the rendered dialplan):
        ``cc-transfer,queue-<name>`` runs the CTI's FastAGI again with ``?queue=<name>``
        (fallback ``Queue(<name>)``); ``cc-transfer,agent-<ext>`` dials that agent and,
        unanswered, goes back to the CTI (``?queue=``); ``outbound,<number>`` dials
        the number."""
        c2 = call.trunk
        queue = None
        if context == OUTBOUND_CONTEXT:
            c2.app, c2.app_data = "Dial", f"PJSIP/{exten}@trunk,60,T"
            await self.dial_number(c2, exten)
            c2.app, c2.app_data = "", ""
            return
        if exten.startswith("agent-"):
            target = f"Local/{exten[len('agent-'):]}@{AGENTS_CONTEXT}/n"
            c2.app, c2.app_data = "Dial", f"{target},30,tT"
            status, _ = await self.dial(c2, target, 30.0)
            c2.app, c2.app_data = "", ""
            if status == "ANSWER" or not c2.alive or c2.hangup_requested or c2.goto is not None:
                return
            queue = ""
        elif exten.startswith("queue-"):
            queue = exten[len("queue-"):]
        if queue is None:
            return
        c2.app, c2.app_data = "AGI", f"agi://{self.agi_host}:{self.agi_port}/{self.agi_script}"
        status = await self._run_agi(call, f"{self.agi_script}?queue={queue}", [exten, c2.cid_num])
        c2.app, c2.app_data = "", ""
        if c2.alive:
            self.set_var(c2, "AGISTATUS", status)
        if status == "FAILURE" and queue and c2.alive and not c2.hangup_requested:
            await self._queue(c2, queue, 300.0)

    async def dial_number(self, caller: Channel, number: str, *,
                          talk_seconds: float | None = None) -> str:
        """``Dial()`` of an external number through the trunk. The far end is a phone
        of ``phones`` when one has that number, else it answers after 0.5 s and talks
        ``talk_seconds`` (None: until hung up). Returns DIALSTATUS."""
        phone = self.phone_for(number) or PhoneBehaviour(number, answer_after=0.5,
                                                         talk_seconds=talk_seconds)
        one, two = self.new_pair(f"{number}@{OUTBOUND_CONTEXT}", OUTBOUND_CONTEXT, number,
                                 caller.linkedid)
        one.call = two.call = caller.call
        one.runner = True
        self.set_callerid(one, number, "")
        self.set_connected(one, caller.cid_num, caller.cid_name)
        self.local_bridge(one, two)
        self.dial_event("DialBegin", caller, one, DialString=f"{number}@{OUTBOUND_CONTEXT}")
        self.new_state(one, 5)
        self.dial_event("DialState", caller, one, DialStatus="RINGING")
        reason, who, _ = await self.wait([caller, one], phone.answer_after)
        if reason != "timeout":
            status = "NOANSWER" if who is one else "CANCEL"
            self.dial_event("DialEnd", caller, one, DialStatus=status)
            one.runner = False
            if one.alive:
                self.release(one, 16)
            if caller.alive:
                self.set_var(caller, "DIALSTATUS", status)
            return status
        self.new_state(two, 6)
        self.new_state(one, 6)
        self.set_var(caller, "DIALSTATUS", "ANSWER")
        self.dial_event("DialEnd", caller, one, DialStatus="ANSWER")
        self._run_hooks(caller.on_answered)
        return await self._talk_to_outside(caller, one, two, phone.talk_seconds)

    async def _talk_to_outside(self, caller: Channel, one: Channel, two: Channel,
                               talk_seconds: float | None, *, peers: bool = False,
                               on_answer: Callable[[], None] | None = None) -> str:
        """The answered far end of an outside ``Dial()`` (``one``/``two``, its Local
        pair) talks with ``caller`` until either hangs up or ``talk_seconds`` pass.
        ``peers``: the dialplan sets ``BRIDGEPEER`` on both (``[outbound]``)."""
        bridge = self.new_bridge()
        self.enter_bridge(bridge, one)
        self.enter_bridge(bridge, caller)
        if peers:
            self.set_var(one, "BRIDGEPEER", caller.name)
            self.set_var(caller, "BRIDGEPEER", one.name)
        talk_timer = None
        if talk_seconds is not None:
            talk_timer = self.later(talk_seconds, self.request_hangup, two, 16)
        if on_answer is not None:
            on_answer()
        reason, who, _ = await self.wait([caller, one], None)
        self.cancel(talk_timer)
        if peers:
            self.clear_bridgepeers(bridge)
        if caller.bridge is not None:
            self.leave_bridge(caller)
        if one.bridge is not None:
            self.leave_bridge(one)
        self.destroy_bridge(bridge)
        one.runner = False
        if one.alive:
            self.release(one, one.cause if who is one else 16)
        return "ANSWER"

    async def _run_agi(self, call: SimulatedCall, script: str | None = None,
                       args: list[str] | None = None) -> str:
        from callcenter.simulator.agi import AgiSession

        c2 = call.trunk
        session = AgiSession(self, c2, script or self.agi_script,
                             args if args is not None else [call.script.dnis, c2.cid_num])
        if self.agi_connect is None:
            self.counters["agi_failures"] += 1
            return "FAILURE"
        try:
            await self.agi_connect(self.agi_host, self.agi_port, session)
        except Exception as e:
            log.info("FastAGI server {host}:{port} unreachable: {e}", host=self.agi_host,
                     port=self.agi_port, e=e)
            self.counters["agi_failures"] += 1
            return "FAILURE"
        return await session.done

    def _check_call_end(self, chan: Channel) -> None:
        call = chan.call
        if call is None or call.ended.called:
            return
        if call.caller.alive or call.trunk.alive:
            return
        if any(c.call is call for c in self.channels.values()):
            return
        for timer in call.timers:
            self.cancel(timer)
        call.timers.clear()
        if call.agent is not None:
            call.outcome = "answered"
        elif call.gave_up or call.caller_first:
            call.outcome = "abandoned"
        else:
            call.outcome = "rejected"
        self.counters[call.outcome] += 1
        self.counters["ended"] += 1
        if call in self.calls:
            self.calls.remove(call)
        for hook in list(self.on_call_ended):
            hook(call)
        call.ended.callback(call)

    # ----------------------------------------------------------------- shutdown

    def hangup_everything(self) -> None:
        """Hang up every channel and cancel every timer (service stop)."""
        for chan in list(self.channels.values()):
            if chan.alive:
                chan.runner = False
                self.request_hangup(chan, 16)
        for session in list(self.agi_sessions):
            session.close()
        self.cancel_all()

    # ----------------------------------------------------------------- originate

    def originate(
        self,
        *,
        channel: str,
        context: str = "",
        exten: str = "",
        application: str = "",
        data: str = "",
        callerid: str = "",
        variables: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        respond: Callable[[str, dict[str, str]], None] | None = None,
        channel_id: str = "",
    ) -> bool:
        """AMI Originate. ``respond(status, values)`` is called once with ``Success`` or
        ``Failure`` and the OriginateResponse headers. False: the dial string names no
        channel the simulator can make (``Originate failed``)."""
        variables = dict(variables or {})
        self.originates.append({"Channel": channel, "Context": context, "Exten": exten,
                                "Application": application, "Data": data,
                                "CallerID": callerid})
        num, name = parse_callerid(callerid)
        target = {"Application": application, "Data": data} if application else {
            "Context": context, "Exten": exten}

        def answer(status: str, chan: Channel | None, reason: int, dialstring: str = "") -> None:
            if respond is None:
                return
            values = {"Channel": chan.name if chan is not None else dialstring}
            values.update(target)
            values.update({
                "Reason": str(reason),
                "Uniqueid": chan.uniqueid if chan is not None else "<unknown>",
                "CallerIDNum": (chan.cid_num or "<unknown>") if chan is not None else "<unknown>",
                "CallerIDName": (chan.cid_name or "<unknown>") if chan is not None else "<unknown>",
            })
            respond(status, values)

        m = re.fullmatch(r"Local/([^@/]+)@(inbound|inbound-noagi)(/n)?", channel)
        if m:
            lab = context == "caller"  # the lab's [caller] context drives the handset

            def seconds(key: str, default: float) -> float:
                try:
                    return float(variables.get(key) or default)
                except ValueError:
                    return default

            script = CallerScript(
                number=variables.get("CALLERNUM") or num,
                name=variables.get("CALLERNAME") or name,
                dnis=variables.get("DNIS") or (m.group(1) if m.group(1) != "s" else "8005550100"),
                digits={} if lab or not variables.get("CALLER_DTMF") else {
                    0: variables["CALLER_DTMF"]},
                patience=float(variables["CALLER_PATIENCE"]) if variables.get("CALLER_PATIENCE") else None,
                send_dtmf=variables.get("CALLER_DTMF", "") if lab else "",
                send_dtmf_after=seconds("CALLER_DTMF_DELAY", 2.0),
                hold_after_dtmf=seconds("CALLER_HOLDSECS", 30.0) if lab else None,
            )
            self.place_call(script, variables or None,
                            on_answer=lambda c1: answer("Success", c1, 4), context=m.group(2))
            return True
        if re.fullmatch(r"Local/s@userevent(/n)?", channel):
            self._userevent_call(num, name, application, data, timeout, answer)
            return True
        parsed = parse_dial_target(channel)
        if parsed is not None and parsed[0] in self.phones:
            d = defer.Deferred.fromCoroutine(self._run_originate_phone(
                parsed, num, name, variables, context, exten, application, data, timeout, answer,
                channel_id))
            d.addErrback(lambda f: log.failure("originate failed", f))
            return True
        if channel.startswith("Local/") and "@" in channel:
            base = channel[len("Local/"):].split("/")[0]
            one, two = self.new_pair(base, base.split("@")[1], base.split("@")[0])
            self._vanish(two, one)
            answer("Failure", None, 0, channel)
            return True
        return False

    def _userevent_call(self, num: str, name: str, application: str, data: str,
                        timeout: float, answer: Callable[..., None]) -> None:
        """Originate Local/s@userevent: ;2 runs [userevent] (Answer, UserEvent(LabEvent),
        Wait(1), Hangup) while ;1 runs the originated application (recording 15)."""
        one, two = self.new_pair("s@userevent", "userevent", "s")
        if num or name:
            for chan in (one, two):
                self.set_callerid(chan, num, name)
                self.set_connected(chan, num, name)
        self.local_bridge(one, two)
        self.dial_event("DialBegin", None, one, DialString="s@userevent")
        self.new_state(two, 6)
        self.device_state(one.device)
        answer("Success", one, 4)
        self.new_state(one, 6)
        self.dial_event("DialEnd", None, one, DialStatus="ANSWER")
        self.device_state(one.device)
        one.runner = two.runner = True
        one.context, one.exten, one.app, one.app_data = "", "", application, data

        async def handset() -> None:
            seconds = None
            if application.lower() == "wait":
                try:
                    seconds = float(data or 0)
                except ValueError:
                    seconds = 0.0
            await self.wait(one, seconds)
            one.runner = False
            if one.alive:
                if one.hangup_requested:
                    self.release(one)
                else:
                    self.finish(one)

        async def dialplan() -> None:
            reason, _, _ = await self.wait(two, self.timings.agi_start)
            if reason == "timeout":
                self.emit_user_event("LabEvent", [("Source", "dialplan"),
                                                  ("Caller", two.cid_num)], two)
                await self.wait(two, 1.0)
            self.finish(two)

        for coro in (handset(), dialplan()):
            defer.Deferred.fromCoroutine(coro).addErrback(
                lambda f: log.failure("userevent dialplan failed", f))

    def emit_user_event(self, name: str, headers: list[tuple[str, str]],
                        chan: Channel | None = None, action_id: str | None = None) -> None:
        """``UserEvent``: from the dialplan (channel snapshot first) or the AMI action."""
        pairs: list[tuple[str, str]] = [("Event", "UserEvent"), ("Privilege", "user,all")]
        if chan is not None:
            pairs += list(chan.snapshot().items())
        pairs.append(("UserEvent", name))
        if action_id is not None:
            pairs.append(("ActionID", action_id))
        pairs += headers
        self.emit_raw(tuple(pairs))

    def emit_raw(self, headers: tuple[tuple[str, str], ...]) -> None:
        for listener in list(self.listeners):
            try:
                listener(headers)
            except Exception:
                log.failure("AMI event listener failed on {event}", event=headers[0][1])

    async def dial_customer(self, caller: Channel, number: str, timeout: float,
                            on_answer: Callable[[], None] | None = None) -> str:
        """[outbound]'s ``Dial()`` of a customer's number from ``caller`` (the agent's
        leg of an Originate). The far end follows ``customer_phones[number]``; its
        channel is ``Local/<number>@customers-N;1``. Returns DIALSTATUS."""
        phone = self.customer_phones.get(number)
        if phone is None:
            phone = self.customer_phones[number] = CustomerPhone(number)
        phone.rung += 1
        one, two = self.new_pair(f"{number}@{CUSTOMERS_CONTEXT}", CUSTOMERS_CONTEXT, number,
                                 caller.linkedid)
        one.runner = True
        self.set_var(caller, "DIALSTATUS", "")
        self.set_callerid(one, number, "")
        self.set_connected(one, caller.cid_num, caller.cid_name)
        self.local_bridge(one, two)
        self.dial_event("DialBegin", caller, one, DialString=f"{number}@{CUSTOMERS_CONTEXT}/n")
        self.new_state(one, 5)
        self.dial_event("DialState", caller, one, DialStatus="RINGING")
        if phone.busy:
            reason, who = "busy", None
        else:
            answers = phone.answer_after is not None and phone.answer_after <= min(
                timeout, phone.no_answer_after)
            ring = phone.answer_after if answers else min(timeout, phone.no_answer_after)
            reason, who, _ = await self.wait([caller, one], ring)
            if reason == "timeout":
                reason = "answer" if answers else "noanswer"
        if reason != "answer":
            status = {"busy": "BUSY", "noanswer": "NOANSWER"}.get(reason, "CANCEL")
            if who is one:
                status = "NOANSWER"
            self.dial_event("DialEnd", caller, one, DialStatus=status)
            one.runner = False
            if one.alive:
                self.release(one, {"BUSY": 17, "NOANSWER": 19}.get(status, 16))
            if caller.alive:
                self.set_var(caller, "DIALSTATUS", status)
            return status
        self.new_state(two, 6)
        self.new_state(one, 6)
        self.set_var(caller, "DIALSTATUS", "ANSWER")
        self.dial_event("DialEnd", caller, one, DialStatus="ANSWER")
        return await self._talk_to_outside(caller, one, two, phone.talk_seconds, peers=True,
                                           on_answer=on_answer)

    async def _run_originate_phone(self, parsed, num, name, variables, context, exten,
                                   application, data, timeout, answer, channel_id="") -> None:
        ext, dialstring = parsed
        phone = self.phone_for(ext) or self.phones[ext]
        in_use = self.phone_in_use(ext)
        one, two = self.new_pair(f"{ext}@{AGENTS_CONTEXT}", AGENTS_CONTEXT, ext,
                                 uniqueid=channel_id)
        for key, value in variables.items():
            self.set_var(one, key, value)
        if num or name:
            self.set_callerid(one, num, name)
            self.set_connected(one, num, name)
        for key, value in variables.items():
            self.set_var(two, key, value)
        if num or name:
            self.set_callerid(two, num, name)
            self.set_connected(two, num, name)
        self.local_bridge(one, two)
        self.dial_event("DialBegin", None, one, DialString=dialstring.split("/", 1)[-1]
                        if dialstring.startswith("Local/") else dialstring)
        self.new_state(one, 5)
        self.dial_event("DialState", None, one, DialStatus="RINGING")
        self.device_state(one.device)
        one.runner = True
        if phone.mode == "busy" or in_use:
            reason = "busy"
        else:
            ring = timeout if phone.mode == "noanswer" else min(phone.answer_after, timeout)
            reason, _, _ = await self.wait(one, ring)
            if reason == "timeout":
                reason = "answer" if phone.mode == "answer" and phone.answer_after <= timeout else "noanswer"
        if reason != "answer":
            code, cause = {"busy": (5, 17), "noanswer": (3, 19)}.get(reason, (1, 16))
            answer("Failure", None, code, f"Local/{dialstring}" if "@" in dialstring else f"PJSIP/{dialstring}")
            one.runner = False
            if one.alive:
                self.release(one, cause)
            return
        self.new_state(two, 6)
        self.new_state(one, 6)
        self.dial_event("DialEnd", None, one, DialStatus="ANSWER")
        answer("Success", one, 4)
        self.device_state(one.device)
        self.device_state(one.device)
        one.context, one.exten, one.priority = context or "", exten or "", 1
        talk_timer = None
        if phone.talk_seconds is not None:
            talk_timer = self.later(phone.talk_seconds, self.request_hangup, two, 16)
        if application:
            one.app, one.app_data = application, data
            seconds = None
            if application.lower() == "wait":
                try:
                    seconds = float(data or 0)
                except ValueError:
                    seconds = 0.0
            await self.wait(one, seconds)
        elif context in ("transfer", AGENTS_CONTEXT) and exten in self.phones:
            one.app, one.app_data = "Dial", f"Local/{exten}@{AGENTS_CONTEXT}/n,30"
            await self.dial(one, f"Local/{exten}@{AGENTS_CONTEXT}/n", 30.0)
        elif context == OUTBOUND_CONTEXT and exten:
            # [outbound]: Dial the number; the agent's talk time starts when the
            # customer answers.
            self.cancel(talk_timer)
            talk_timer = None

            def customer_answered() -> None:
                nonlocal talk_timer
                if phone.talk_seconds is not None:
                    talk_timer = self.later(phone.talk_seconds, self.request_hangup, two, 16)

            one.app, one.app_data = "Dial", f"Local/{exten}@{CUSTOMERS_CONTEXT}/n,60,T"
            await self.dial_customer(one, exten, self.timings.dial_timeout, customer_answered)
        else:
            await self.wait(one, None)
        self.cancel(talk_timer)
        # The originated leg ends like an application that returned: cause 0, and a
        # SoftHangupRequest only when someone asked for the hangup (recording 21).
        one.runner = False
        if one.alive:
            if one.hangup_requested and not one.soft_emitted:
                self.emit_chan("SoftHangupRequest", one, Cause=str(one.cause))
                one.soft_emitted = True
            self.release(one, 0)


@dataclass
class CustomerPhone:
    """What a customer's phone does when an Originate dials it through [outbound]:
    ``busy``; else it rings ``answer_after`` seconds and answers (``None``: never,
    the dial gives up with NOANSWER after ``no_answer_after``), then the customer
    hangs up after ``talk_seconds`` (``None``: they wait for the agent to)."""

    number: str
    answer_after: float | None = 1.0
    talk_seconds: float | None = 5.0
    busy: bool = False
    no_answer_after: float = 30.0
    rung: int = 0  # how many times it was dialled


def parse_callerid(text: str) -> tuple[str, str]:
    """``"Name" <num>`` -> (num, name)."""
    m = re.fullmatch(r'\s*"?([^"<]*?)"?\s*<([^>]*)>\s*', text or "")
    if m:
        return m.group(2), m.group(1).strip()
    return (text or "").strip(), ""
