"""Asterisk ``app_queue`` as the simulated PBX plays it: queues, members, ``Queue()``.

Event orders follow the Asterisk 22 recordings: 05 (ringall, two members, one wins,
the other gets cause 26), 06 and 13 (abandon), 07 (leastrecent, ring timeout,
auto-pause), 08 (dynamic members), 10, 11 and 13 (the end of a connected queue call
by redirect, blind transfer or the agent). Queue state lives here; channels, bridges
and timers are the ``Pbx``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from callcenter.simulator.pbx import Channel, Pbx

#: The queues of the recording lab (``config/queues.conf`` of the transcripts).
LAB_QUEUES_CONF = """
[general]
persistentmembers = no
autofill = yes

[sales]
strategy = ringall
timeout = 15
retry = 2
setinterfacevar = yes
setqueuevar = yes
setqueueentryvar = yes
member => Local/1001@agents/n,0,Agent 1001,Local/1001@agents
member => Local/1002@agents/n,0,Agent 1002,Local/1002@agents

[support]
strategy = leastrecent
timeout = 5
retry = 1
autopause = yes
setinterfacevar = yes
setqueuevar = yes
member => Local/1003@agents/n,0,Agent 1003,Local/1003@agents
member => Local/1004@agents/n,0,Agent 1004,Local/1004@agents

[backoffice]
strategy = ringall
timeout = 10
retry = 2
"""

QUEUE_STATS = (
    "QUEUENAME", "QUEUEMAX", "QUEUESTRATEGY", "QUEUECALLS", "QUEUEHOLDTIME",
    "QUEUETALKTIME", "QUEUECOMPLETED", "QUEUEABANDONED", "QUEUESRVLEVEL",
    "QUEUESRVLEVELPERF",
)


@dataclass(eq=False)
class Member:
    interface: str
    name: str
    state_interface: str
    penalty: int = 0
    dynamic: bool = False
    paused: bool = False
    reason: str = ""
    ringinuse: bool = False
    calls: int = 0
    last_call: float = 0.0
    last_pause: float = 0.0
    login_time: float = 0.0
    in_call: bool = False

    @property
    def extension(self) -> str:
        """``Local/1001@agents/n`` -> ``1001``."""
        return self.interface.split("/", 1)[-1].split("@", 1)[0]


@dataclass(eq=False)
class Entry:
    """A caller waiting in a queue."""

    chan: Channel
    joined: float
    original_position: int


@dataclass(eq=False)
class Queue:
    name: str
    strategy: str = "ringall"
    timeout: float = 15.0
    retry: float = 5.0
    autopause: bool = False
    ringinuse: bool = False
    musicclass: str = "default"
    maxlen: int = 0
    weight: int = 0
    setinterfacevar: bool = False
    setqueuevar: bool = False
    setqueueentryvar: bool = False
    avail: str | None = None  # last Queue:<name>_avail state sent
    members: list[Member] = field(default_factory=list)
    callers: list[Entry] = field(default_factory=list)
    completed: int = 0
    abandoned: int = 0
    holdtime: float = 0.0
    talktime: float = 0.0

    def member(self, interface: str) -> Member | None:
        for m in self.members:
            if m.interface.lower() == interface.lower():
                return m
        return None


def _bool(text: str) -> bool:
    return text.strip().lower() in ("yes", "true", "1", "on", "y")


def parse_queues_conf(text: str, now: float = 0.0) -> dict[str, Queue]:
    """Queues from a ``queues.conf`` (the options the simulator knows; others ignored)."""
    queues: dict[str, Queue] = {}
    current: Queue | None = None
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            name = line[1:-1].strip()
            current = None if name == "general" else queues.setdefault(name, Queue(name))
            continue
        if current is None or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key, value = key.strip().lower(), value.lstrip(">").strip()
        if key == "member":
            parts = [p.strip() for p in value.split(",")]
            iface = parts[0]
            current.members.append(Member(
                interface=iface,
                penalty=int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0,
                name=parts[2] if len(parts) > 2 and parts[2] else iface,
                state_interface=parts[3] if len(parts) > 3 and parts[3] else iface,
                login_time=now,
            ))
        elif key == "strategy":
            current.strategy = value.lower()
        elif key in ("timeout", "retry"):
            setattr(current, key, float(value))
        elif key in ("autopause", "ringinuse", "setinterfacevar", "setqueuevar",
                     "setqueueentryvar"):
            setattr(current, key, _bool(value))
        elif key in ("maxlen", "weight"):
            setattr(current, key, int(value))
        elif key == "musicclass":
            current.musicclass = value
    for queue in queues.values():
        for m in queue.members:
            m.ringinuse = queue.ringinuse
    return queues


class QueueApp:
    """``Queue()`` and the member management actions, on top of a ``Pbx``."""

    def __init__(self, pbx: Pbx, queues: dict[str, Queue]) -> None:
        self.pbx = pbx
        self.queues = queues

    # ------------------------------------------------------------ member state

    def member_values(self, queue: Queue, m: Member) -> dict[str, str]:
        return {
            "Queue": queue.name,
            "MemberName": m.name,
            "Interface": m.interface,
            "StateInterface": m.state_interface,
            "Membership": "dynamic" if m.dynamic else "static",
            "Penalty": str(m.penalty),
            "CallsTaken": str(m.calls),
            "LastCall": str(int(m.last_call)),
            "LastPause": str(int(m.last_pause)),
            "LoginTime": str(int(m.login_time)),
            "InCall": "1" if m.in_call else "0",
            "Status": str(self.status(m)),
            "Paused": "1" if m.paused else "0",
            "PausedReason": m.reason,
            "Ringinuse": "1" if m.ringinuse else "0",
            "Wrapuptime": "0",
        }

    def status(self, m: Member) -> int:
        """AST_DEVICE_* of the member's state interface as last reported: 1 not in
        use, 2 in use (app_queue learns device states one notification at a time)."""
        return 2 if self.pbx.device_states.get(m.state_interface, False) else 1

    def members_of(self, device: str) -> list[tuple[Queue, Member]]:
        return [(q, m) for q in self.queues.values() for m in q.members
                if m.state_interface == device]

    def emit_member(self, event: str, queue: Queue, m: Member) -> None:
        self.pbx.emit(event, self.member_values(queue, m))

    def _avail(self, queue: Queue) -> None:
        free = any(not m.paused and self.status(m) == 1 for m in queue.members)
        state = "NOT_INUSE" if free else "INUSE"
        if state != queue.avail:  # Asterisk sends it only when it changes
            queue.avail = state
            self.pbx.emit("DeviceStateChange", {"Device": f"Queue:{queue.name}_avail",
                                                "State": state})

    def device_changed(self, device: str) -> None:
        for queue, m in self.members_of(device):
            self.emit_member("QueueMemberStatus", queue, m)
            self._avail(queue)
        for queue, _ in self.members_of(device):
            self.kick(queue)

    def kick(self, queue: Queue) -> None:
        """Wake the callers of ``queue`` so they look for a free member now."""
        for entry in list(queue.callers):
            for wait in list(entry.chan.waits):
                if wait.digits == "queue":
                    wait.fire(("kick", entry.chan, ""))

    # ------------------------------------------------------------ actions

    def add(self, name: str, interface: str, *, penalty: int = 0, paused: bool = False,
            member_name: str = "", state_interface: str = "", reason: str = "") -> str:
        """QueueAdd; returns "" or the error text."""
        queue = self.queues.get(name)
        if queue is None:
            return "Unable to add interface to queue: No such queue"
        if queue.member(interface) is not None:
            return "Unable to add interface: Already there"
        m = Member(interface, member_name or interface, state_interface or interface,
                   penalty=penalty, dynamic=True, paused=paused, reason=reason,
                   ringinuse=queue.ringinuse, login_time=self.pbx.now())
        queue.members.append(m)
        self.pbx.emit("DeviceStateChange", {"Device": f"Queue:{queue.name}_pause_{interface}",
                                            "State": "INUSE" if paused else "NOT_INUSE"})
        self.emit_member("QueueMemberAdded", queue, m)
        self._avail(queue)
        self.kick(queue)
        return ""

    def remove(self, name: str, interface: str) -> str:
        queue = self.queues.get(name)
        if queue is None:
            return "Unable to remove interface: No such queue"
        m = queue.member(interface)
        if m is None:
            return "Unable to remove interface: Not there"
        if not m.dynamic:
            return "Unable to remove interface: Not dynamic"
        queue.members.remove(m)
        self.emit_member("QueueMemberRemoved", queue, m)
        self._avail(queue)
        return ""

    def pause(self, name: str, interface: str, paused: bool, reason: str = "") -> str:
        targets = [q for q in self.queues.values() if not name or q.name == name]
        found = False
        for queue in targets:
            m = queue.member(interface)
            if m is None:
                continue
            found = True
            self.set_paused(queue, m, paused, reason)
        if not found:
            return "Interface not found"
        return ""

    def set_paused(self, queue: Queue, m: Member, paused: bool, reason: str) -> None:
        m.paused, m.reason = paused, reason if paused else ""
        if paused:
            m.last_pause = self.pbx.now()
        self.pbx.emit("DeviceStateChange", {
            "Device": f"Queue:{queue.name}_pause_{m.interface}",
            "State": "INUSE" if paused else "NOT_INUSE"})
        self.emit_member("QueueMemberPause", queue, m)
        self._avail(queue)
        if not paused:
            self.kick(queue)

    def penalty(self, name: str, interface: str, penalty: int) -> str:
        found = False
        for queue in self.queues.values():
            if name and queue.name != name:
                continue
            m = queue.member(interface)
            if m is not None:
                found = True
                m.penalty = penalty
                self.emit_member("QueueMemberPenalty", queue, m)
        return "" if found else "Invalid interface, queuename or penalty"

    def ringinuse(self, name: str, interface: str, value: bool) -> str:
        found = False
        for queue in self.queues.values():
            if name and queue.name != name:
                continue
            m = queue.member(interface)
            if m is not None:
                found = True
                m.ringinuse = value
                self.emit_member("QueueMemberRinginuse", queue, m)
        return "" if found else "Invalid interface, queuename, or ringinuse value"

    # ------------------------------------------------------------ Queue()

    def _stats(self, queue: Queue) -> list[tuple[str, str]]:
        done = queue.completed
        return [
            ("QUEUENAME", queue.name), ("QUEUEMAX", str(queue.maxlen)),
            ("QUEUESTRATEGY", queue.strategy), ("QUEUECALLS", str(len(queue.callers))),
            ("QUEUEHOLDTIME", str(int(queue.holdtime / done) if done else 0)),
            ("QUEUETALKTIME", str(int(queue.talktime / done) if done else 0)),
            ("QUEUECOMPLETED", str(done)), ("QUEUEABANDONED", str(queue.abandoned)),
            ("QUEUESRVLEVEL", "0"), ("QUEUESRVLEVELPERF", "0.0"),
        ]

    def _set(self, chan: Channel, pairs: list[tuple[str, str]]) -> None:
        for key, value in pairs:
            self.pbx.set_var(chan, key, value)

    def _pick(self, queue: Queue) -> list[Member]:
        free = [m for m in queue.members
                if not m.paused and (m.ringinuse or self.status(m) == 1)
                and self.pbx.phone_for(m.extension) is not None]
        if not free:
            return []
        best = min(m.penalty for m in free)
        free = [m for m in free if m.penalty == best]
        if queue.strategy == "ringall":
            return free
        if queue.strategy == "leastrecent":
            return [min(free, key=lambda m: (m.last_call, queue.members.index(m)))]
        if queue.strategy == "fewestcalls":
            return [min(free, key=lambda m: (m.calls, queue.members.index(m)))]
        if queue.strategy == "random":
            return [self.pbx.rng.choice(free)]
        return free[:1]  # linear / rrmemory: first free in order

    async def run(self, chan: Channel, name: str, timeout: float | None = 300.0) -> str:
        """``Queue(name,tT,,,timeout)`` on ``chan``; returns QUEUESTATUS."""
        pbx = self.pbx
        queue = self.queues.get(name)
        if queue is None:
            pbx.set_var(chan, "QUEUESTATUS", "UNKNOWN")
            return "UNKNOWN"
        for key in ("ANSWEREDTIME", "ANSWEREDTIME_MS", "DIALEDTIME", "DIALEDTIME_MS",
                    "QUEUEWAIT", "QUEUEWAIT_MS"):
            pbx.set_var(chan, key, "")
        joined = pbx.now()
        entry = Entry(chan, joined, len(queue.callers) + 1)
        queue.callers.append(entry)
        pbx.emit("DeviceStateChange", {"Device": f"Queue:{name}", "State": "RINGING"})
        pbx.emit_chan("QueueCallerJoin", chan, Queue=name, Position=str(entry.original_position),
                      Count=str(len(queue.callers)))
        pbx.moh_start(chan, queue.musicclass)
        deadline = None if timeout is None else joined + timeout
        while True:
            if not chan.alive or chan.hangup_requested or chan.goto is not None:
                return self._abandon(queue, entry)
            left = None if deadline is None else deadline - pbx.now()
            if left is not None and left <= 0:
                return self._leave_timeout(queue, entry)
            members = self._pick(queue) if queue.callers and queue.callers[0] is entry else []
            if not members:
                await pbx.wait(chan, 1.0 if left is None else min(1.0, left), "queue")
                continue
            outcome = await self._ring(queue, entry, members)
            if outcome == "connected":
                return "CONNECTED"
            if outcome == "caller":
                return self._abandon(queue, entry)
            await pbx.wait(chan, queue.retry if left is None else min(queue.retry, left), "queue")

    def _leave(self, queue: Queue, entry: Entry) -> None:
        pbx, chan = self.pbx, entry.chan
        position = queue.callers.index(entry) + 1
        queue.callers.remove(entry)
        pbx.emit("DeviceStateChange", {"Device": f"Queue:{queue.name}",
                                       "State": "RINGING" if queue.callers else "NOT_INUSE"})
        pbx.emit_chan("QueueCallerLeave", chan, Queue=queue.name, Position=str(position),
                      Count=str(len(queue.callers)))
        if chan.alive:
            pbx.set_var(chan, "QUEUEPOSITION", str(position))

    def _abandon(self, queue: Queue, entry: Entry) -> str:
        pbx, chan = self.pbx, entry.chan
        pbx.moh_stop(chan)
        waited = pbx.now() - entry.joined
        position = queue.callers.index(entry) + 1
        if chan.alive and chan.goto is None:
            self._set(chan, [
                ("QUEUEWAIT", str(int(waited))), ("QUEUEWAIT_MS", str(int(waited * 1000))),
                ("DIALEDTIME", str(int(waited))), ("DIALEDTIME_MS", str(int(waited * 1000))),
                ("ANSWEREDTIME", "0"), ("ANSWEREDTIME_MS", "0"), ("ABANDONED", "TRUE"),
            ])
        queue.abandoned += 1
        pbx.emit_chan("QueueCallerAbandon", chan, Queue=queue.name, Position=str(position),
                      OriginalPosition=str(entry.original_position), HoldTime=str(int(waited)))
        self._leave(queue, entry)
        return "ABANDON"

    def _leave_timeout(self, queue: Queue, entry: Entry) -> str:
        self.pbx.moh_stop(entry.chan)
        self._leave(queue, entry)
        self.pbx.set_var(entry.chan, "QUEUESTATUS", "TIMEOUT")
        return "TIMEOUT"

    def _member_event(self, event: str, queue: Queue, m: Member, chan: Channel,
                      one: Channel | None, **extra: str) -> None:
        values = chan.snapshot()
        if one is not None:
            values.update(one.snapshot("Dest"))
        values.update({"Queue": queue.name, "Interface": m.interface, "MemberName": m.name})
        values.update(extra)
        self.pbx.emit(event, values)

    async def _ring(self, queue: Queue, entry: Entry, members: list[Member]) -> str:
        """Ring ``members`` at once: ``connected``, ``noanswer`` or ``caller`` (gone)."""
        pbx, chan = self.pbx, entry.chan
        legs: list[tuple[Member, Channel, Channel]] = []
        for m in members:
            one, two = pbx.queue_leg(chan, m.extension, m.interface)
            legs.append((m, one, two))
            self._member_event("AgentCalled", queue, m, chan, one)
            dialstring = m.interface.split("/", 1)[-1]
            pbx.dial_event("DialBegin", chan, one, DialString=dialstring)
        started = pbx.now()
        for _m, one, _two in legs:
            pbx.new_state(one, 5)
            pbx.set_connected(one, chan.cid_num, chan.cid_name)
            pbx.device_state(one.device)
            pbx.dial_event("DialState", chan, one, DialStatus="RINGING")
        # When does each phone answer (None: never, busy phones never either)?
        answers: list[tuple[float, int]] = []
        for i, (m, _one, _two) in enumerate(legs):
            phone = pbx.phone_for(m.extension)
            if phone is not None and phone.mode == "answer" and phone.answer_after <= queue.timeout:
                answers.append((phone.answer_after, i))
        ring = min([a for a, _ in answers], default=queue.timeout)
        ones = [one for _, one, _ in legs]
        reason, who, _ = await pbx.wait([chan, *ones], min(ring, queue.timeout))
        if reason == "timeout" and answers and ring <= queue.timeout:
            winner = legs[min(answers)[1]]
            return await self._connect(queue, entry, winner, legs, started)
        if reason == "timeout":
            for m, one, _ in legs:
                self._member_event("AgentRingNoAnswer", queue, m, chan, one,
                                   RingTime=str(int(pbx.now() - started)))
                if queue.autopause:
                    self.set_paused(queue, m, True, "Auto-Pause")
                pbx.dial_event("DialEnd", chan, one, DialStatus="NOANSWER")
                pbx.dial_event("DialEnd", chan, one, DialStatus="CANCEL")
                pbx.drop_leg(one, 0)
            return "noanswer"
        # the caller went away (or was redirected) or a ringing leg died
        for _m, one, _ in legs:
            if one.alive:
                pbx.dial_event("DialEnd", chan, one, DialStatus="CANCEL")
                pbx.drop_leg(one, 16 if who is chan else 0)
        return "caller" if who is chan or not chan.alive or chan.hangup_requested else "noanswer"

    async def _connect(self, queue: Queue, entry: Entry, winner: tuple[Member, Channel, Channel],
                       legs: list[tuple[Member, Channel, Channel]], started: float) -> str:
        pbx, chan = self.pbx, entry.chan
        m, one, two = winner
        pbx.new_state(two, 6)
        pbx.device_state(two.device)
        pbx.new_state(one, 6)
        pbx.dial_event("DialEnd", chan, one, DialStatus="ANSWER")
        losers = [leg for leg in legs if leg is not winner]
        for _, lone, _ in losers:
            pbx.dial_event("DialEnd", chan, lone, DialStatus="CANCEL")
            pbx.dial_event("DialEnd", chan, lone, DialStatus="CANCEL")
        for _, lone, _ in losers:
            pbx.drop_leg(lone, 26)
        pbx.moh_stop(chan)
        now = pbx.now()
        hold = now - entry.joined
        member_vars = [
            ("MEMBERINTERFACE", m.interface), ("MEMBERNAME", m.name),
            ("MEMBERCALLS", str(m.calls)), ("MEMBERLASTCALL", str(int(m.last_call))),
            ("MEMBERPENALTY", str(m.penalty)), ("MEMBERDYNAMIC", "1" if m.dynamic else "0"),
            ("MEMBERREALTIME", "0"),
        ]
        if queue.setinterfacevar:
            self._set(chan, member_vars)
            self._set(one, member_vars)
        entry_vars = [("QEHOLDTIME", str(int(hold))), ("QEORIGINALPOS", str(entry.original_position))]
        if queue.setqueueentryvar:
            self._set(chan, entry_vars)
            self._set(one, entry_vars)
        if queue.setqueuevar:
            self._set(chan, self._stats(queue))
            self._set(one, self._stats(queue))
        self._leave(queue, entry)
        self._set(chan, [("QUEUEWAIT", str(int(hold))), ("QUEUEWAIT_MS", str(int(hold * 1000)))])
        self._member_event("AgentConnect", queue, m, chan, one, HoldTime=str(int(hold)),
                           RingTime=str(int(now - started)))
        m.in_call = True
        bridge = pbx.new_bridge()
        pbx.enter_bridge(bridge, one)
        pbx.enter_bridge(bridge, chan)
        pbx.set_var(one, "BRIDGEPEER", chan.name)
        pbx.set_var(chan, "BRIDGEPEER", one.name)
        if chan.call is not None:
            pbx.agent_answered(chan.call, m.extension)
        talk_timer = pbx.talk_timer(m.extension, two)
        reason, who, _ = await pbx.wait([chan, one], None, "transfer")
        pbx.cancel(talk_timer)
        talk = pbx.now() - now
        m.in_call = False
        m.calls += 1
        m.last_call = pbx.now()
        queue.completed += 1
        queue.holdtime += hold
        queue.talktime += talk
        times = {"HoldTime": str(int(hold)), "TalkTime": str(int(talk))}
        end = pbx.now() - entry.joined
        dial_vars = [
            ("ANSWEREDTIME", str(int(talk))), ("ANSWEREDTIME_MS", str(int(talk * 1000))),
            ("DIALEDTIME", str(int(end))), ("DIALEDTIME_MS", str(int(end * 1000))),
        ]
        if reason == "transfer":
            # BlindTransfer/Atxfer of the agent's leg: the caller is already on its way
            # (its next Dial starts first); the old bridge is torn down just after.
            self._set(chan, [dial_vars[2], dial_vars[3], dial_vars[0], dial_vars[1]])
            if queue.setqueuevar:
                self._set(chan, self._stats(queue))

            def teardown() -> None:
                pbx.finish_bridge(bridge)
                self._member_event("AgentComplete", queue, m, chan, None, Reason="transfer",
                                   **times)

            chan.on_dial_begin.append(teardown)  # runs once the transfer's Dial began
            return "connected"
        if reason == "redirect":
            # AMI Redirect of the caller: AgentComplete waits for the caller's hangup.
            chan.on_hangup.append(lambda: self._member_event(
                "AgentComplete", queue, m, chan, None, Reason="caller",
                HoldTime=str(int(hold)), TalkTime=str(int(pbx.now() - now))))
            pbx.clear_bridgepeers(bridge)
            pbx.leave_bridge(chan)
            self._set(chan, [dial_vars[2], dial_vars[3], dial_vars[0], dial_vars[1]])
            if queue.setqueuevar:
                self._set(chan, self._stats(queue))
            pbx.finish_bridge(bridge)
            return "connected"
        agent = who is one
        self._member_event("AgentComplete", queue, m, chan, one,
                           Reason="agent" if agent else "caller", **times)
        pbx.clear_bridgepeers(bridge)
        if agent:  # the agent hung up: the caller's channel follows with its cause
            pbx.leave_bridge(one)
            pbx.leave_bridge(chan)
            pbx.destroy_bridge(bridge)
            chan.hangup_requested, chan.cause = True, one.cause
            one.runner = False
            chan.after_finish.append(lambda: pbx.release(one, one.cause))
        else:
            pbx.leave_bridge(chan)
        if queue.setqueuevar:
            self._set(chan, self._stats(queue))
        self._set(chan, dial_vars)
        if queue.setqueuevar:
            self._set(chan, self._stats(queue))
        if not agent:
            chan.after_finish.append(lambda: pbx.finish_bridge(bridge))
        return "connected"

    # ------------------------------------------------------------ queries

    def params(self, queue: Queue) -> dict[str, str]:
        done = queue.completed
        return {
            "Queue": queue.name, "Max": str(queue.maxlen), "Strategy": queue.strategy,
            "Calls": str(len(queue.callers)),
            "Holdtime": str(int(queue.holdtime / done) if done else 0),
            "TalkTime": str(int(queue.talktime / done) if done else 0),
            "Completed": str(done), "Abandoned": str(queue.abandoned),
            "ServiceLevel": "0", "ServicelevelPerf": "0.0", "ServicelevelPerf2": "0.0",
            "Weight": str(queue.weight),
        }

    def member_item(self, queue: Queue, m: Member) -> dict[str, str]:
        v = self.member_values(queue, m)
        return {
            "Queue": queue.name, "Name": m.name, "Location": m.interface,
            "StateInterface": m.state_interface, "Membership": v["Membership"],
            "Penalty": v["Penalty"], "CallsTaken": v["CallsTaken"], "LastCall": v["LastCall"],
            "LastPause": v["LastPause"], "LoginTime": v["LoginTime"], "InCall": v["InCall"],
            "Status": v["Status"], "Paused": v["Paused"], "PausedReason": v["PausedReason"],
            "Wrapuptime": "0",
        }

    def summary(self, queue: Queue) -> dict[str, str]:
        now = self.pbx.now()
        done = queue.completed
        return {
            "Queue": queue.name,
            "LoggedIn": str(len(queue.members)),
            "Available": str(sum(1 for m in queue.members
                                 if not m.paused and self.status(m) == 1)),
            "Callers": str(len(queue.callers)),
            "HoldTime": str(int(queue.holdtime / done) if done else 0),
            "TalkTime": str(int(queue.talktime / done) if done else 0),
            "LongestHoldTime": str(int(max((now - e.joined for e in queue.callers), default=0))),
        }


def entry_values(pbx: Any, queue: Queue, entry: Entry, position: int) -> dict[str, str]:
    """A ``QueueEntry`` list item of QueueStatus."""
    chan = entry.chan
    return {
        "Queue": queue.name, "Position": str(position), "Channel": chan.name,
        "Uniqueid": chan.uniqueid, "CallerIDNum": chan.cid_num or "<unknown>",
        "CallerIDName": chan.cid_name or "<unknown>",
        "ConnectedLineNum": chan.conn_num or "<unknown>",
        "ConnectedLineName": chan.conn_name or "<unknown>",
        "Wait": str(int(pbx.now() - entry.joined)), "Priority": "0",
    }
