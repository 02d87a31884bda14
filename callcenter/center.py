"""The call center: the adapter that ties the pure cores to the wires.

It feeds AMI events to the call tracker, runs each inbound caller's IVR and wait over
their FastAGI session, asks the router who takes the call, writes the contact log
through the database pool, and pushes state and screen-pops to the agents' consoles.
Policy lives in ``routing`` and ``ivr``; what happened lives in ``callcenter.events``.

Subscriptions (everything this component handles), in one place: see ``subscribe``.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from dataclasses import dataclass, field

from twisted.internet import defer, task
from twisted.logger import Logger

from callcenter import events as ev
from callcenter.agi.protocol import AGICommandError, AGIHangup
from callcenter.callcontrol import CallControl
from callcenter.calls import CallTracker, device_of
from callcenter.devices import DeviceStates
from callcenter.outbound import Outbound
from callcenter.supervision import Wallboard
from callcenter.supervisor_feed import SupervisorFeed
from callcenter.wrapup import WrapUp
from ivr.check import load_book
from ivr.drive import crm_lookup, run_flow
from ivr.flow import MenuFlow
from ivr.runner import Command, FlowContext, FlowRunner, MenuRunner
from routing.agents import IllegalTransition, State
from routing.queues import QueueConfig
from routing.router import Router
from routing.stats import Stats, queue_updates

log = Logger()

# Assumed handle time for wait estimates until calls have been handled (seconds).
DEFAULT_AHT_S = 180.0

LOST_DURING_DISCONNECT = "lost_during_disconnect"
# How a declarative flow ended (ivr.runner.Finished.outcome) -> the contact's outcome.
_IVR_OUTCOMES = {"voicemail": "voicemail", "transfer": "transferred_out",
                 "ended": "completed_in_ivr"}


@dataclass(frozen=True)
class _Hangup:
    """What the IVR runner is told when the caller is gone."""

    code: int = 200
    result: str = "-1"
    timeout: bool = False


@dataclass
class LiveCall:
    call_id: str
    arrived_at: float
    caller_number: str = ""
    channel: str = ""
    dnis: str = ""
    lookup_number: str | None = None
    lookup: object | None = None  # crm_store CallerLookup once known
    lookup_waiters: list = field(default_factory=list)
    ivr_path: list = field(default_factory=list)
    ivr_choice: str = ""
    overflow: str = ""  # "voicemail:<box>" or "rejected" once the router says so
    queue: str | None = None
    queued_at: float | None = None
    offer: ev.OfferCall | None = None
    offered_agent: str | None = None
    agent_id: str | None = None  # the agent who answered
    answered_at: float | None = None
    ended: bool = False
    has_agi: bool = False
    priority: int = 0
    skills: tuple = ()
    wait: object | None = None  # ivr.model.WaitOptions of the IVR's queue node
    outcome: str | None = None  # the contact's outcome when it is not the usual one


class CallCenter:
    """Implements the console backend (``agent_ui.backend.ConsoleBackend``) too."""

    def __init__(self, *, clock, bus, db, settings, hub=None, ami=None):
        self.clock = clock
        self.bus = bus
        self.db = db
        self.settings = settings
        self.hub = hub
        self.ami = ami
        self.tracker = CallTracker(inbound_contexts=tuple(settings.calls.inbound_contexts))
        queues = [QueueConfig.from_settings(q) for q in settings.queues]
        # Every agent transition, newest last, for reporting.
        self.agent_log: deque = deque(maxlen=100_000)
        self.router = Router(queues, log=self.agent_log)
        self.stats = Stats(queues, utc_offset_s=settings.routing.utc_offset_hours * 3600)
        self._stats_loop = None
        self._stopped = False
        self._handling: dict[str, tuple] = {}  # agent -> (queue, talk seconds)
        self.flow = MenuFlow.from_settings(settings.ivr)
        # Declarative flows: checked now, so a broken flow stops the server at start-up
        # with every problem listed (ivr.check.FlowError).
        self.book = (load_book(list(settings.ivr.flows), [q.name for q in settings.queues])
                     if settings.ivr.flows else None)
        self.calls: dict[str, LiveCall] = {}
        self.agents: dict[str, object] = {}  # agent id -> AgentRecord
        self.devices: dict[str, str] = {}  # device -> agent id
        self.device_states = DeviceStates(self.devices.get)
        self._state_log: list[tuple] = []  # agent transitions not yet written
        self.pops: dict[str, dict] = {}  # agent id -> last pop
        self.agent_call: dict[str, dict] = {}  # agent id -> {"call_id", "state", "at"}
        self._wrapups: dict[str, object] = {}
        self._grace: dict[str, object] = {}
        self._uniqueid_waiters: dict[str, list] = {}
        self.answered_calls: set[str] = set()
        self._agi_aliases: set[str] = set()
        self.wallboard = Wallboard()
        self._agent_channels: dict[str, str] = {}  # agent id -> channel of their phone
        self._queue_figures: dict[str, ev.QueueStatsUpdated] = {}
        self._linked_aliases: dict[str, str] = {}
        self.counters = {"calls_arrived": 0, "calls_ended": 0, "calls_answered": 0,
                         "calls_abandoned": 0, "screen_pops_sent": 0}
        self._commands: dict[str, object] = {}
        self.ami_listeners: list = []  # feature modules that read raw AMI events
        self._register_core_commands()
        self.subscribe()
        self.callcontrol = CallControl(self)
        self.wrapup = WrapUp(self)  # wrap-up form, pick list, new customer from a pop
        self.outbound = Outbound(self)  # waiting callers, callbacks, click-to-dial
        self.supervision = SupervisorFeed(self)  # wallboard pushes between intervals

    # ---------------------------------------------------------------- wiring

    def subscribe(self) -> None:
        s = self.bus.subscribe
        s(ev.CallArrived, self.on_CallArrived)
        s(ev.CallerIdentified, self.on_CallerIdentified)
        s(ev.AgentOffered, self.on_AgentOffered)
        s(ev.AgentRingEnded, self.on_AgentRingEnded)
        s(ev.CallAnswered, self.on_CallAnswered)
        s(ev.CallEnded, self.on_CallEnded)
        s(ev.AgentStateChanged, self.on_AgentStateChanged)
        s(ev.QueueStatsUpdated, self.on_QueueStatsUpdated)
        s(ev.AgentStatsUpdated, self.on_AgentStatsUpdated)
        s(ev.DeviceStateChanged, self.on_DeviceStateChanged)

    def now(self) -> float:
        return self.clock.seconds()

    @defer.inlineCallbacks
    def load_agents(self):
        """Read the agent accounts and register them with the router."""
        from crm_store.store import Store

        records = yield self.db.do(Store.agents)
        for record in records:
            self.register_agent(record)
        return records

    def start_stats(self) -> None:
        """Every ``routing.stats_interval``: apply the router's time-driven changes
        (skill expansion, maximum wait) and publish live statistics. Started by the
        first agent state change (so start-up itself schedules nothing)."""
        if self._stats_loop is None:
            self._stats_loop = task.LoopingCall(self._every_interval)
            self._stats_loop.clock = self.clock
            self._stats_loop.start(self.settings.routing.stats_interval, now=False)

    def _every_interval(self) -> None:
        now = self.now()
        self._flush_state_log()
        try:
            self._apply(self.router.tick(now))
            for update in queue_updates(self.router, self.stats, now):
                self.bus.publish(update)
            self.bus.publish(ev.AgentStatsUpdated(now, {
                agent_id: {"state": m.state.value, "reason": m.reason, "since": m.since,
                           "calls_handled": m.calls_handled,
                           "occupancy": round(m.occupancy(now), 4)}
                for agent_id, m in self.router.agents.items()
                if m.state is not State.LOGGED_OUT}))
        except Exception:
            log.failure("routing tick or statistics failed")

    def register_agent(self, record) -> str:
        agent_id = str(record.id)
        self.agents[agent_id] = record
        if getattr(record, "role", "agent") != "agent":
            return agent_id  # supervisors and admins watch; they take no calls
        if record.interface:
            self.devices[device_of(record.interface)] = agent_id
        skills = getattr(record, "skills", "") or ""
        try:
            self.router.add_agent(agent_id, [q.name for q in self.settings.queues], skills)
        except ValueError as e:
            log.error("agent {username}: skills {skills!r} ignored: {e}",
                      username=record.username, skills=skills, e=e)
            self.router.add_agent(agent_id, [q.name for q in self.settings.queues])
        return agent_id

    # --------------------------------------------------------------- AMI side

    def ami_event(self, message) -> None:
        """Every AMI event goes through here (the AMI client's ``on_event``)."""
        now = self.now()
        if message.name == "DeviceStateChange":
            changed = self.device_states.feed(message.get("Device") or "",
                                              message.get("State") or "", now)
            if changed is not None:
                self.bus.publish(changed)
        try:
            produced = self.tracker.feed(message, now)
        except Exception:
            log.failure("call tracker failed on AMI event {name}", name=message.name)
            return
        self._publish_tracked(produced)
        for listener in self.ami_listeners:
            try:
                listener(message, now)
            except Exception:
                log.failure("AMI listener failed on event {name}", name=message.name)
        uniqueid = message.get("Uniqueid")
        if uniqueid and uniqueid in self._uniqueid_waiters:
            self._resolve_waiters([uniqueid])

    def _resolve_waiters(self, uniqueids) -> None:
        """FastAGI sessions waiting to learn their call's linkedid get it now."""
        for uniqueid in list(uniqueids):
            linkedid = self.tracker.linkedid_for(uniqueid)
            if linkedid and uniqueid in self._uniqueid_waiters:
                for d in self._uniqueid_waiters.pop(uniqueid):
                    d.callback(linkedid)

    def _publish_tracked(self, produced) -> None:
        for event in produced:
            alias = (self._alias_for(event.call_id)
                     if self._agi_aliases or self._linked_aliases else None)
            if alias is not None:
                event = dataclasses.replace(event, call_id=alias)
            self.bus.publish(event)

    def _alias_for(self, linkedid: str) -> str | None:
        """A call first seen from FastAGI while AMI was silent is known by its AGI
        channel's uniqueid; once AMI shows that channel, its linkedid means that call."""
        alias = self._linked_aliases.get(linkedid)
        if alias is not None:
            return alias
        for uniqueid in list(self._agi_aliases):
            if self.tracker.linkedid_for(uniqueid) == linkedid:
                self._agi_aliases.discard(uniqueid)
                self._linked_aliases[linkedid] = uniqueid
                return uniqueid
        return None

    @defer.inlineCallbacks
    def resync(self):
        """After (re)connecting to AMI: rebuild what we know from the live channels.
        Calls that ended while we were blind are closed; live ones are kept."""
        try:
            result = yield self.ami.send_action("CoreShowChannels")
        except Exception as e:
            log.warn("resynchronisation after AMI reconnect failed: {e}", e=e)
            return
        produced = self.tracker.resync(list(result.events), self.now())
        log.info("AMI resync: {n} live channels, {m} call events",
                 n=len(result.events), m=len(produced))
        self._publish_tracked(produced)
        self._resolve_waiters(list(self._uniqueid_waiters))
        live = {device_of(m.get("Channel") or "") for m in result.events}
        for changed in self.device_states.resync(live, self.now()):
            self.bus.publish(changed)

    def _call(self, call_id: str, at: float | None = None) -> LiveCall:
        call = self.calls.get(call_id)
        if call is None:
            call = self.calls[call_id] = LiveCall(call_id, at if at is not None else self.now())
        return call

    def on_CallArrived(self, e: ev.CallArrived) -> None:
        if e.call_id in self.calls:
            return  # already logged (first seen from FastAGI)
        self.counters["calls_arrived"] += 1
        call = self._call(e.call_id, e.at)
        call.channel = call.channel or e.channel
        call.dnis = call.dnis or e.dnis
        self._contact(call.call_id, "open_contact", call_id=e.call_id, direction="inbound",
                      caller_number=e.caller_number, arrived_at=call.arrived_at,
                      channel=e.channel, dnis=e.dnis)
        if e.caller_number:
            self._set_number(call, e.caller_number)

    def on_CallerIdentified(self, e: ev.CallerIdentified) -> None:
        call = self.calls.get(e.call_id)
        if call is not None:
            self._set_number(call, e.caller_number)

    def _set_number(self, call: LiveCall, number: str) -> None:
        if not number or call.lookup_number is not None:
            return
        call.caller_number = number
        call.lookup_number = number
        self._contact(call.call_id, "update_contact", call.call_id, caller_number=number)
        from crm_store.store import Store

        d = self.db.do(Store.lookup_caller, number, recent=5)

        def found(lookup):
            call.lookup = lookup
            if lookup.customers:
                self._contact(call.call_id, "update_contact", call.call_id,
                              customer_id=lookup.customers[0].id)
            waiters, call.lookup_waiters = call.lookup_waiters, []
            for w in waiters:
                w.callback(lookup)

        def failed(f):
            log.failure("customer lookup for call {call_id} failed", f, call_id=call.call_id)
            found(_EmptyLookup(number))

        d.addCallbacks(found, failed)

    def _when_lookup(self, call: LiveCall) -> defer.Deferred:
        if call.lookup is not None or call.lookup_number is None:
            return defer.succeed(call.lookup)
        d = defer.Deferred()
        call.lookup_waiters.append(d)
        return d

    def on_AgentOffered(self, e: ev.AgentOffered) -> None:
        agent_id = self.devices.get(e.device)
        call = self.calls.get(e.call_id)
        if agent_id is None or call is None:
            return
        call.offered_agent = agent_id
        self._agent_channels[agent_id] = e.agent_channel
        self._contact(call.call_id, "update_contact", call.call_id, offered_at=e.at,
                      agent_id=self.agents[agent_id].id)
        self._set_agent_call(agent_id, call.call_id, "ringing", e.at)
        self._when_lookup(call).addCallback(lambda _: self._push_pop(agent_id, call, e.at))

    def _push_pop(self, agent_id: str, call: LiveCall, ring_at: float) -> None:
        if call.ended or call.answered_at is not None and call.agent_id != agent_id:
            return
        self.send_pop(agent_id, self.build_pop(call, ring_at), ring_at)

    def send_pop(self, agent_id: str, pop: dict, ring_at: float) -> None:
        """Push a screen-pop to the agent's consoles, keep it for their snapshot, and
        say so on the bus (every kind of pop: inbound, transferred, callback, outbound)."""
        self.pops[agent_id] = pop
        sockets = self._push(agent_id, pop)
        self.counters["screen_pops_sent"] += 1
        self.bus.publish(ev.ScreenPopSent(agent_id, pop["call_id"], self.now(), ring_at,
                                          sockets))

    def build_pop(self, call: LiveCall, ring_at: float) -> dict:
        lookup = call.lookup
        cards = list(lookup.customers) if lookup is not None else []
        customer = _card(cards[0]) if cards else None
        recent = []
        if lookup is not None:
            recent = [recent_contact(c) for c in lookup.recent_contacts]
        start = call.queued_at if call.queued_at is not None else call.arrived_at
        return {
            "type": "pop",
            "call_id": call.call_id,
            "caller_number": call.caller_number,
            "customer": customer,
            "matches": [_card(c) for c in cards],
            "recent_contacts": recent,
            "ivr": [{"step": s["step"], "input": s["input"], "label": s["label"]}
                    for s in call.ivr_path],
            "ivr_choice": call.ivr_choice,
            "queue": call.queue,
            "wait_s": round(max(0.0, ring_at - start), 1),
            "ring_at": ring_at,
            "sent_at": time.time(),
        }

    def on_AgentRingEnded(self, e: ev.AgentRingEnded) -> None:
        agent_id = self.devices.get(e.device)
        if agent_id is not None:
            self._set_agent_call(agent_id, e.call_id, "missed", e.at)

    def on_CallAnswered(self, e: ev.CallAnswered) -> None:
        call = self.calls.get(e.call_id)
        agent_id = self.devices.get(e.device)
        if call is None or call.answered_at is not None:
            return
        call.answered_at = e.at
        call.agent_id = agent_id
        self.counters["calls_answered"] += 1
        self.answered_calls.add(call.call_id)
        self._contact(call.call_id, "update_contact", call.call_id, answered_at=e.at,
                      **({"agent_id": self.agents[agent_id].id} if agent_id else {}))
        if agent_id is None:
            return
        self._set_agent_call(agent_id, call.call_id, "talking", e.at)
        if call.queue is not None and call.queued_at is not None:
            self.stats.call_answered(call.queue, e.at - call.queued_at, e.at)
        self._apply(self.router.offer_answered(call.call_id, agent_id, e.at))

    def on_CallEnded(self, e: ev.CallEnded) -> None:
        call = self.calls.pop(e.call_id, None)
        self.tracker.forget(e.call_id)
        for linkedid, alias in list(self._linked_aliases.items()):
            if alias == e.call_id:
                del self._linked_aliases[linkedid]
                self.tracker.forget(linkedid)
        if call is None:
            return
        call.ended = True
        self.counters["calls_ended"] += 1
        self.outbound.waiting.forget(call.call_id)
        if call.answered_at is None and call.outcome is None:
            self.counters["calls_abandoned"] += 1
            if call.queue is not None and call.queued_at is not None and not call.overflow:
                self.stats.call_abandoned(call.queue, e.at - call.queued_at, e.at)
        lost = e.cause_txt == LOST_DURING_DISCONNECT
        self._contact(call.call_id, "close_contact", call.call_id, ended_at=e.at,
                      outcome=LOST_DURING_DISCONNECT if lost else call.outcome)
        decisions = self.router.call_left(call.call_id, e.at)
        if call.agent_id is not None:
            self._set_agent_call(call.agent_id, call.call_id, "ended", e.at)
            if call.answered_at is not None:
                self._handling[call.agent_id] = (call.queue or "", e.at - call.answered_at, e.at)
            decisions += self.router.call_finished(call.agent_id, e.at)
        elif call.offered_agent is not None:
            self._set_agent_call(call.offered_agent, call.call_id, "ended", e.at)
        self._apply(decisions)
        for waiter in call.lookup_waiters:
            waiter.callback(None)

    # ------------------------------------------------------------ FastAGI side

    def agi_routes(self) -> dict:
        return {self.settings.agi.script: self.inbound}

    def _call_id_for(self, uniqueid: str, step: float = 2.0,
                     limit: float = 30.0) -> defer.Deferred:
        """The linkedid of an AGI channel. AMI reports the channel before Asterisk
        starts the AGI, but on another socket, so it may reach us a moment later: wait
        for it while the AMI link is up (up to ``limit``); with the link down, fall back
        to the AGI channel's uniqueid after ``step`` so the caller is served anyway."""
        linkedid = self.tracker.linkedid_for(uniqueid)
        if linkedid:
            return defer.succeed(linkedid)
        d = defer.Deferred()
        self._uniqueid_waiters.setdefault(uniqueid, []).append(d)
        waited = [0.0]
        timer = [None]

        def check():
            waited[0] += step
            ami_up = self.ami is not None and self.ami.current() is not None
            if ami_up and waited[0] < limit:
                timer[0] = self.clock.callLater(step, check)
                return
            self._resolve_waiters([uniqueid])
            waiters = self._uniqueid_waiters.get(uniqueid, [])
            if d in waiters:
                waiters.remove(d)
                if not waiters:
                    self._uniqueid_waiters.pop(uniqueid, None)
                log.warn("no AMI news of FastAGI channel {uniqueid} after {s} s; logging the "
                         "call under that id", uniqueid=uniqueid, s=waited[0])
                self._agi_aliases.add(uniqueid)
                d.callback(uniqueid)

        timer[0] = self.clock.callLater(step, check)
        d.addBoth(lambda r: (timer[0].cancel() if timer[0].active() else None) or r)
        return d

    async def inbound(self, session) -> None:
        """One inbound caller over FastAGI: IVR, then wait until an agent answers."""
        env = session.env
        call_id = await self._call_id_for(env.uniqueid)
        known = call_id in self.calls
        call = self._call(call_id)
        call.has_agi = True
        if not known:
            # AMI has not told us about this call (yet): log it from here.
            self.counters["calls_arrived"] += 1
            self._contact(call_id, "open_contact", call_id=call_id, direction="inbound",
                          caller_number=env.callerid or "", arrived_at=call.arrived_at,
                          channel=env.channel, dnis=(env.args[0] if env.args else ""))
        number = env.callerid if env.callerid not in ("", "unknown", "<unknown>") else ""
        if number:
            self._set_number(call, number)
        try:
            # A call transferred to a queue comes back with ``?queue=``: no IVR again.
            queue = (self.callcontrol.transfer_queue(env, call)
                     or await self._run_ivr(session, call))
            if queue is None or call.ended:
                return
            await self._wait_for_agent(session, call, queue)
        finally:
            self._agi_finished(session, call)

    def _agi_finished(self, session, call: LiveCall) -> None:
        """The caller's FastAGI session is over. Normally AMI tells us how the call
        ends; when the AMI link is down and the caller is gone, end it from here so the
        contact is completed and no agent stays reserved."""
        ami_up = self.ami is not None and self.ami.current() is not None
        if call.ended or ami_up or not session.hung_up:
            return
        log.warn("call {call_id} ended while the AMI link was down; closing it from FastAGI",
                 call_id=call.call_id)
        self.bus.publish(ev.CallEnded(call.call_id, self.now(), cause_txt="AGI hangup"))

    async def _run_ivr(self, session, call: LiveCall) -> str | None:
        if self.book is not None:
            return await self._run_flow(session, call)
        runner = MenuRunner(self.flow)
        step = runner.start(self.now())
        while isinstance(step, Command):
            try:
                result = await session.command(*step.words)
            except AGIHangup:
                result = _Hangup()
            except AGICommandError as e:
                log.error("IVR command {words} refused ({text}); sending the caller to the "
                          "default queue", words=step.words, text=getattr(e, "result", e))
                step = None
                break
            step = runner.on_result(result, self.now())
        call.ivr_path = list(runner.path)
        if step is None:
            queue, choice = self.flow.default_queue, "IVR error – default"
        else:
            queue, choice = step.queue, step.choice
        call.ivr_choice = choice
        self._contact(call.call_id, "update_contact", call.call_id, ivr=call.ivr_path)
        return queue

    async def _run_flow(self, session, call: LiveCall) -> str | None:
        """Run the declarative flow of the dialled number (``ivr.flows``)."""
        env = session.env
        dnis = (env.args[0] if env.args else "") or env.extension
        flow = self.book.for_dnis(dnis)
        runner = FlowRunner(flow, FlowContext(caller_number=call.caller_number, dnis=dnis,
                                              flows=self.book.by_name))
        ivr = self.settings.ivr
        lookup = crm_lookup(self.db, self.estimated_wait, pin_max_failures=ivr.pin_max_failures,
                            pin_lock_minutes=ivr.pin_lock_minutes)
        finished = await run_flow(session, runner, lookup, self.clock)
        call.ivr_path = list(finished.path)
        call.ivr_choice = finished.choice
        call.wait = finished.wait
        # A flow that ends the call itself did not lose the caller: say how it ended.
        call.outcome = _IVR_OUTCOMES.get(finished.outcome, call.outcome)
        if finished.outcome == "transfer" and finished.target:
            self._contact(call.call_id, "update_contact", call.call_id,
                          transferred_to=finished.target)
        call.priority = finished.priority or 0
        call.skills = tuple(finished.skills or ())
        self._contact(call.call_id, "update_contact", call.call_id, ivr=call.ivr_path)
        return finished.queue

    async def _wait_for_agent(self, session, call: LiveCall, queue: str) -> None:
        now = self.now()
        call.queue, call.queued_at = queue, now
        self._contact(call.call_id, "update_contact", call.call_id, queue=queue, queued_at=now)
        routing = self.settings.routing
        try:
            decisions = self.router.enqueue(call.call_id, queue, now, self._priority(call),
                                            ",".join(call.skills))
        except ValueError as e:
            log.error("call {call_id}: cannot queue: {e}", call_id=call.call_id, e=e)
            return
        self.bus.publish(ev.CallQueued(call.call_id, queue, now,
                                       self.router.position(call.call_id)))
        self._apply(decisions)
        if self._stats_loop is None and not self._stopped:
            # A waiting call needs the router's clock (maximum wait, skill expansion)
            # even when no agent has logged in yet.
            self.start_stats()
        try:
            while not call.ended:
                if call.overflow:
                    await self._overflowed(session, call)
                    return
                offer = call.offer
                if offer is None:
                    # Music, announcements and the callback offer (callcenter.waiting).
                    if await self.outbound.waiting.hold(session, call):
                        return  # a callback was requested: the caller was hung up
                    continue
                call.offer = None
                agent = self.agents[offer.agent_id]
                await session.command("SET MUSIC", "off")
                result = await session.command(
                    "EXEC", "Dial", f"{agent.interface},{routing.ring_timeout},tT")
                if result.result == "-1" or call.ended:
                    return
                status = (await session.command("GET VARIABLE", "DIALSTATUS")).data or ""
                if status == "ANSWER":
                    # The agent hung up (after any hold and resume): the conversation
                    # is over, unless the caller is gone or was moved meanwhile.
                    if await self.callcontrol.after_answer(session, call):
                        await session.command("HANGUP")
                    return
                log.info("call {call_id}: agent {agent} did not answer ({status})",
                         call_id=call.call_id, agent=agent.username, status=status)
                self._apply(self.router.offer_failed(call.call_id, offer.agent_id, self.now()))
                await session.command("SET MUSIC", "on", routing.moh_class)
        except AGIHangup:
            return
        except AGICommandError as e:
            log.error("call {call_id}: AGI command refused while waiting: {e}",
                      call_id=call.call_id, e=e)

    def _priority(self, call: LiveCall) -> int:
        """The call's priority (from the IVR), raised for a customer of a VIP tier when
        the CRM lookup is known by the time the call queues."""
        routing = self.settings.routing
        customers = getattr(call.lookup, "customers", ()) or ()
        if any(c.tier in routing.vip_tiers for c in customers):
            return call.priority + routing.vip_priority
        return call.priority

    def estimated_wait(self, queue: str) -> float | None:
        """Seconds a call joining ``queue`` now would wait, for IVR announcements
        (``None``: nobody staffs the queue)."""
        if queue not in self.router.queues:
            return None
        _, rolling = self.stats.figures(queue, self.now())
        return self.router.estimate_new(queue, rolling["aht_s"] or DEFAULT_AHT_S)

    async def _overflowed(self, session, call: LiveCall) -> None:
        """The router took the call out of the queue: voicemail, or hand it back to
        the dialplan (which continues after the AGI)."""
        await session.command("SET MUSIC", "off")
        if call.overflow.startswith("voicemail:"):
            box = call.overflow.split(":", 1)[1]
            call.outcome = "voicemail"
            await session.command("EXEC", "VoiceMail", f"{box},u")

    # ----------------------------------------------------------- agents/router

    def _apply(self, decisions) -> None:
        for item in decisions:
            if isinstance(item, ev.AgentStateChanged):
                self.bus.publish(item)
            elif isinstance(item, ev.StartWrapUp):
                self._cancel_wrapup(item.agent_id)
                self._wrapups[item.agent_id] = self.clock.callLater(
                    item.seconds, self._end_wrapup, item.agent_id)
            elif isinstance(item, (ev.CallOverflowed, ev.CallRejected)):
                self.bus.publish(item)
                call = self.calls.get(item.call_id)
                if call is None:
                    continue
                if isinstance(item, ev.CallRejected):
                    call.overflow = "rejected"
                elif item.target in self.router.queues:
                    call.queue = item.target
                    self._contact(call.call_id, "update_contact", call.call_id,
                                  queue=item.target)
                else:
                    call.overflow = item.target
            elif isinstance(item, ev.OfferCall) and item.kind == "callback":
                self.outbound.offer(item)
            elif isinstance(item, ev.OfferCall):
                call = self.calls.get(item.call_id)
                if call is None or not call.has_agi:
                    # Nothing can carry this offer: free the agent again.
                    self._apply(self.router.call_left(item.call_id, self.now()))
                else:
                    call.offer = item

    def on_AgentStateChanged(self, e: ev.AgentStateChanged) -> None:
        """Wrap-up timers come from the router's ``StartWrapUp``; here: statistics and
        the agent's console."""
        self.stats.agent_changed(e)
        self._state_log.append((e.agent_id, e.at, e.state, e.previous, e.reason, e.call_id))
        if self._stats_loop is None and not self._stopped:
            self.start_stats()
        if e.previous == State.WRAP_UP.value and e.state != State.WRAP_UP.value:
            self._cancel_wrapup(e.agent_id)
            handled = self._handling.pop(e.agent_id, None)
            if handled is not None:
                queue, talk_s, ended_at = handled
                self.stats.call_handled(queue, talk_s + max(0.0, e.at - ended_at), e.at)
        machine = self.router.agents.get(e.agent_id)
        message = {"type": "agent_state", "state": e.state, "reason": e.reason, "since": e.at,
                   "calls_today": machine.calls_handled if machine else 0}
        if e.state == State.WRAP_UP.value and machine is not None:
            message["wrapup_until"] = machine.wrapup_until
            message["wrapup_extended"] = machine.wrapup_extended
            message.update(self.wrapup.push_fields(e.agent_id, e.call_id))
        self._push(e.agent_id, message)

    def on_DeviceStateChanged(self, e: ev.DeviceStateChanged) -> None:
        """An agent's phone is busy with a call we did not route (or free again)."""
        if e.agent_id not in self.router.agents:
            return
        machine = self.router.agents[e.agent_id]
        if machine.state in (State.READY, State.NOT_READY):  # not a call we routed
            log.info("agent {agent_id}: phone {device} {state}: {what}", agent_id=e.agent_id,
                     device=e.device, state=e.state,
                     what="no offers" if e.busy else "routable again")
        self._apply(self.router.device_busy(e.agent_id, e.busy, e.at))
        self._push(e.agent_id, {"type": "device", "device": e.device, "state": e.state,
                                "busy": e.busy})

    def _flush_state_log(self) -> None:
        """Write the agent transitions seen since the last flush (agent state log)."""
        if not self._state_log:
            return
        from crm_store.store import Store

        batch, self._state_log = self._state_log, []
        d = self.db.do_in_order("agent-state-log", Store.log_agent_states, batch)
        d.addErrback(lambda f: log.failure("agent state log: {n} transitions not written",
                                           f, n=len(batch)))

    def _end_wrapup(self, agent_id: str) -> None:
        self._wrapups.pop(agent_id, None)
        self._apply(self.router.wrapup_done(agent_id, self.now()))

    def _set_agent_call(self, agent_id: str, call_id: str, state: str, at: float) -> None:
        call = self.calls.get(call_id)
        info = {"call_id": call_id, "state": state, "at": at,
                "queue": call.queue if call else (self.agent_call.get(agent_id) or {}).get("queue")}
        info.update(self.callcontrol.fields(agent_id, call_id))
        info["recording_allowed"] = any(q.recording for q in self.settings.queues
                                        if q.name == info["queue"])
        self.agent_call[agent_id] = info
        self._push(agent_id, {"type": "call", **info})

    def _push(self, agent_id: str, message: dict) -> int:
        if self.hub is None:
            return 0
        try:
            return self.hub.push(int(agent_id), message)
        except Exception:
            log.failure("push to agent {agent_id} failed", agent_id=agent_id)
            return 0

    # ------------------------------------------------ console backend protocol

    def authenticate(self, username: str, password: str) -> defer.Deferred:
        from crm_store.store import Store

        d = self.db.do(Store.authenticate, username, password)

        def known(record):
            if record is not None and str(record.id) not in self.agents:
                self.register_agent(record)
            return record

        return d.addCallback(known)

    def snapshot(self, agent_id) -> dict:
        key = str(agent_id)
        machine = self.router.agents.get(key)
        return {
            "state": machine.state.value if machine else "logged_out",
            "reason": machine.reason if machine else "",
            "since": machine.since if machine else self.now(),
            "reasons": list(self.settings.routing.not_ready_reasons),
            "call": self.agent_call.get(key),
            "pop": self.pops.get(key),
            "calls_today": machine.calls_handled if machine else 0,
            "wrapup_until": (machine.wrapup_until
                             if machine and machine.state is State.WRAP_UP else None),
            "wrapup": self.wrapup.snapshot(key),
        }

    # ------------------------------------------------------- supervisor side

    def on_QueueStatsUpdated(self, e: ev.QueueStatsUpdated) -> None:
        self._queue_figures[e.queue] = e

    def on_AgentStatsUpdated(self, e: ev.AgentStatsUpdated) -> None:
        """Published last in each statistics interval: push what changed."""
        if self.hub is None or not hasattr(self.hub, "push_role"):
            return
        for message in self.wallboard.update(self._wallboard_queues(), self._wallboard_agents(),
                                             now=e.at):
            self.hub.push_role("supervisor", message)

    def _wallboard_queues(self) -> list[dict]:
        rows = []
        for q in self.settings.queues:
            figures = self._queue_figures.get(q.name)
            if figures is None:
                rows.append({"name": q.name, "waiting": 0, "longest_wait_s": 0.0})
                continue
            day = figures.day or {}
            rows.append({"name": q.name, "waiting": figures.waiting,
                         "longest_wait_s": figures.longest_wait_s,
                         "service_level": day.get("service_level"),
                         "asa_s": day.get("asa_s"), "abandon_rate": day.get("abandon_rate"),
                         "answered": day.get("answered"), "abandoned": day.get("abandoned")})
        return rows

    def _wallboard_agents(self) -> list[dict]:
        rows = []
        for agent_id, machine in self.router.agents.items():
            record = self.agents.get(agent_id)
            pop = self.pops.get(agent_id) or {}
            call_id = machine.call_id
            customer = None
            if call_id and pop.get("call_id") == call_id and pop.get("customer"):
                customer = pop["customer"].get("name")
            rows.append({
                "id": int(agent_id), "name": getattr(record, "display_name", "") or
                getattr(record, "username", agent_id),
                "state": machine.state.value, "reason": machine.reason, "since": machine.since,
                "call_id": call_id, "customer": customer,
                "calls_handled": machine.calls_handled,
                "queues": sorted(self.router.agent_queues.get(agent_id, ())),
            })
        return rows

    def supervisor_snapshot(self) -> dict:
        now = self.now()
        return {**self.wallboard.snapshot(self._wallboard_queues(), self._wallboard_agents(),
                                          now=now),
                "halfhours": self.supervision.halfhours(now)}

    def _supervise(self, sender: str, name: str, args: dict, now: float) -> None:
        from agent_ui.backend import CommandRejected

        record = self.agents.get(sender)
        if getattr(record, "role", "agent") not in ("supervisor", "admin"):
            raise CommandRejected("forbidden: supervisors only")
        target = str(args.get("agent_id", ""))
        if target not in self.router.agents:
            raise CommandRejected(f"unknown agent {target!r}")
        log.info("supervisor {sup} {action} agent {agent}", sup=record.username,
                 action=name, agent=target)
        if name == "force_ready":
            self._cancel_wrapup(target)
            self._apply(self.router.ready(target, now))
        elif name == "force_not_ready":
            reason = str(args.get("reason") or "supervisor")
            self._apply(self.router.not_ready(target, reason, now))
        elif name == "force_logout":
            self._apply(self.router.logout(target, now))
        else:  # listen, whisper, barge
            self._spy(record, target, name)

    def _spy(self, supervisor, target: str, mode: str) -> None:
        """ChanSpy on the agent's phone, originated to the supervisor's phone: ``q``
        quiet, ``w`` whisper (the agent hears), ``B`` barge (both hear)."""
        from agent_ui.backend import CommandRejected
        from callcenter.ami.actions import originate

        if not supervisor.interface:
            raise CommandRejected("your account has no phone to listen on")
        agent = self.agents[target]
        options = {"listen": "q", "whisper": "qw", "barge": "qB"}[mode]
        spied = device_of(agent.interface)
        d = originate(self.ami, supervisor.interface, application="ChanSpy",
                      data=f"{spied},{options}", caller_id=f'"{mode} {agent.username}" <spy>')
        d.addErrback(lambda f: log.warn("ChanSpy {mode} on {agent} failed: {e}", mode=mode,
                                        agent=agent.username, e=f.getErrorMessage()))

    def register_command(self, name: str, handler) -> None:
        """Add a console command: ``handler(agent_key, args, now)`` returns ``None``
        (the reply is the agent's snapshot), a dict (the reply), or a Deferred firing
        with one; it raises ``CommandRejected`` (or ``IllegalTransition``) to refuse.
        Feature modules (call control, wrap-up, outbound) register theirs here."""
        if name in self._commands:
            raise ValueError(f"console command {name!r} registered twice")
        self._commands[name] = handler

    def _register_core_commands(self) -> None:
        for name in ("force_ready", "force_not_ready", "force_logout", "listen",
                     "whisper", "barge"):
            self.register_command(
                name, lambda key, args, now, name=name: self._supervise(key, name, args, now)
                or {"ok": True})
        self.register_command("ready", self._cmd_ready)
        self.register_command("not_ready", self._cmd_not_ready)
        self.register_command("logout",
                              lambda key, args, now: self._apply(self.router.logout(key, now)))
        self.register_command("hangup", lambda key, args, now: self._hang_up(key))
        self.register_command(
            "extend_wrapup",
            lambda key, args, now: self._apply(self.router.extend_wrapup(key, now)))

    def _cmd_ready(self, key: str, args: dict, now: float) -> None:
        self._cancel_wrapup(key)
        self._apply(self.router.ready(key, now))

    def _cmd_not_ready(self, key: str, args: dict, now: float) -> None:
        from agent_ui.backend import CommandRejected

        reason = str(args.get("reason") or "")
        if reason not in self.settings.routing.not_ready_reasons:
            raise CommandRejected(f"unknown not-ready reason {reason!r}")
        if self.router.agent(key).state is State.WRAP_UP:
            self._cancel_wrapup(key)
        self._apply(self.router.not_ready(key, reason, now))

    def command(self, agent_id, name: str, args: dict) -> defer.Deferred:
        from agent_ui.backend import CommandRejected

        key = str(agent_id)
        handler = self._commands.get(name)
        try:
            if handler is None:
                raise CommandRejected(f"unknown command {name!r}")
            result = handler(key, args, self.now())
        except IllegalTransition as e:
            return defer.fail(CommandRejected(str(e)))
        except CommandRejected as e:
            return defer.fail(e)
        if isinstance(result, defer.Deferred):
            return result
        return defer.succeed(self.snapshot(key) if result is None else result)

    def _hang_up(self, key: str) -> None:
        """The agent hangs up from the console: AMI Hangup of their phone's channel;
        the end of the call is then seen from AMI like any other."""
        from agent_ui.backend import CommandRejected
        from callcenter.ami.actions import hangup

        machine = self.router.agent(key)
        channel = self._agent_channels.get(key)
        if (machine.state not in (State.ON_CALL, State.ON_HOLD) or not channel
                or self.ami is None):
            raise CommandRejected("no call to hang up")
        d = hangup(self.ami, channel)
        d.addErrback(lambda f: log.warn("hangup of {channel} failed: {e}", channel=channel,
                                        e=f.getErrorMessage()))

    def _cancel_wrapup(self, key: str) -> None:
        pending = self._wrapups.pop(key, None)
        if pending is not None and pending.active():
            pending.cancel()

    def console_opened(self, agent_id) -> None:
        key = str(agent_id)
        pending = self._grace.pop(key, None)
        if pending is not None and pending.active():
            pending.cancel()
        if key in self.router.agents:
            self._apply(self.router.login(key, self.now()))

    def console_closed(self, agent_id) -> None:
        key = str(agent_id)
        grace = self.settings.routing.console_grace_seconds

        def logout():
            self._grace.pop(key, None)
            machine = self.router.agents.get(key)
            if machine is not None and machine.state in (State.READY, State.NOT_READY):
                log.info("agent {agent_id} logged out: console closed for {grace} s",
                         agent_id=key, grace=grace)
                self._apply(self.router.logout(key, self.now()))

        self._grace[key] = self.clock.callLater(grace, logout)

    # ---------------------------------------------------------------- contacts

    def _contact(self, key: str, method: str, /, *args, **kwargs) -> defer.Deferred:
        """Contact-log work for call ``key``, run in the order it was asked for."""
        from crm_store.store import Store

        fn = getattr(Store, method)
        d = self.db.do_in_order(key, fn, *args, **kwargs)
        d.addErrback(lambda f: log.failure("contact log {method} for {call_id} failed", f,
                                           method=method, call_id=key))
        return d

    def stop(self) -> None:
        self._stopped = True
        self.supervision.stop()
        self.outbound.stop()
        self._flush_state_log()
        if self._stats_loop is not None and self._stats_loop.running:
            self._stats_loop.stop()
        self._stats_loop = None
        for pending in list(self._wrapups.values()) + list(self._grace.values()):
            if pending.active():
                pending.cancel()
        self._wrapups.clear()
        self._grace.clear()


@dataclass(frozen=True)
class _EmptyLookup:
    number: str
    e164: str | None = None
    customers: tuple = ()
    recent_contacts: tuple = ()


def _card(card) -> dict:
    return {"id": card.id, "name": card.name, "company": card.company, "tier": card.tier,
            "account_number": card.account_number, "email": card.email,
            "phones": list(card.phones), "notes": card.notes}


def recent_contact(c) -> dict:
    """A past contact as a screen-pop lists it."""
    return {"arrived_at": c.arrived_at, "agent": c.agent, "queue": c.queue,
            "outcome": c.outcome, "disposition": c.disposition, "notes": c.notes,
            "direction": c.direction}
