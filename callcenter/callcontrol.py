"""Live-call control from the agent's console: hold and resume, blind transfer,
attended transfer (consult, complete, cancel) and three-way conference, DTMF, recording.

Every control is an AMI action (or a FastAGI command on the caller's session) that
Asterisk 22 has; what the console shows follows from the AMI events that come back,
never from an action's success:

- **hold**: AMI ``Redirect`` of the agent's leg (the Dial callee) to ``cc-hold,s,1``.
  Its bridge dissolves, the caller's ``Dial()`` returns, and the caller's FastAGI
  session plays music (``SET MUSIC on``). Held = ``MusicOnHoldStart`` on the caller
  while a hold was asked for. **resume**: the caller's session stops the music and
  runs ``EXEC Bridge <agent leg>``; talking again = ``BridgeEnter`` of the agent's leg.
- **transfer**: AMI ``BlindTransfer`` of the agent's leg to ``cc-transfer,queue-<name>``
  (the call comes back to our FastAGI with ``?queue=<name>`` and waits for that
  queue's agents), ``cc-transfer,agent-<ext>`` (Dial of that agent, back to the queue
  if unanswered) or ``<outbound context>,<number>``. Done = the ``BlindTransfer``
  event (``CallTransferred`` from the call tracker): the agent goes to wrap-up, the
  contact records ``transferred_to`` and stays one contact.
- **consult**: AMI ``Atxfer`` of the agent's leg to ``cc-consult,agent-<ext>`` or
  ``<outbound context>,<number>``. Asterisk holds the caller (``Hold`` on the agent's
  leg, music for the caller), moves the agent's leg to a consult bridge with a
  ``Local/<exten>@<context>`` leg that dials the target. Dialing = that ``Hold``;
  talking = ``Newstate`` Up of the consult leg. **consult_complete**: AMI ``Hangup`` of
  the agent's leg (the transferer hanging up completes an attended transfer): done =
  ``AttendedTransfer``; the consulted agent gets the call (the same contact,
  ``transferred_to`` recorded), the first agent goes to wrap-up. **consult_cancel**:
  AMI ``CancelAtxfer`` (Asterisk's ``atxferabort`` feature): the consult leg hangs up
  and the agent's leg re-enters the caller's bridge; back = that ``BridgeEnter``. A
  target that does not answer ends the same way.
- **conference**: during a consultation, AMI ``PlayDTMF`` of ``*3`` received on the
  agent's leg (Asterisk's ``atxferthreeway`` feature): the consult bridge merges into
  the caller's; conference = ``BridgeEnter`` into a bridge of three. The agent leaving
  (hangup or consult_complete) completes the transfer: caller and target stay.
- **dtmf**: AMI ``PlayDTMF`` with ``Receive: true`` on the agent's leg, one digit at a
  time (as if the agent's phone sent it; the bridge passes it to the caller). Shown
  from the ``DTMFEnd`` events of that leg.
- **record_start / record_stop**: AMI ``MixMonitor`` / ``StopMixMonitor`` on the
  agent's leg, only for queues with ``recording = true``; shown from
  ``MixMonitorStart`` / ``MixMonitorStop``.

The checks (``transfer_destination``, ``check_digits``) are pure functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from twisted.internet import defer
from twisted.logger import Logger

from callcenter import events as ev
from routing.agents import State

log = Logger()

HOLD_CONTEXT = "cc-hold"
TRANSFER_CONTEXT = "cc-transfer"
CONSULT_CONTEXT = "cc-consult"
ATXFER_THREEWAY = "*3"  # features.conf atxferthreeway (Asterisk's default)
DTMF_MS = 100
_DIGITS = re.compile(r"[0-9*#]{1,32}")
_NUMBER = re.compile(r"\+?[0-9]{2,20}")
_QUEUE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class ControlError(ValueError):
    """A control the agent asked for cannot be done (the message says why)."""


@dataclass(frozen=True)
class Destination:
    context: str
    exten: str
    label: str  # what the contact records and the console shows


def transfer_destination(to: object, target: object, *, agents: dict[str, str],
                         queues, outbound_context: str, own_username: str = ""
                         ) -> Destination:
    """Where a blind transfer goes. ``agents`` maps usernames to extensions."""
    target = str(target or "").strip()
    if to == "agent":
        if target == own_username:
            raise ControlError("you cannot transfer a call to yourself")
        ext = agents.get(target)
        if not ext:
            raise ControlError(f"unknown agent {target!r}")
        return Destination(TRANSFER_CONTEXT, f"agent-{ext}", target)
    if to == "queue":
        if target not in queues or not _QUEUE_NAME.fullmatch(target):
            raise ControlError(f"unknown queue {target!r}")
        return Destination(TRANSFER_CONTEXT, f"queue-{target}", f"queue:{target}")
    if to == "number":
        number = re.sub(r"[\s().-]", "", target)
        if not _NUMBER.fullmatch(number):
            raise ControlError(f"not a phone number: {target!r}")
        return Destination(outbound_context, number, number)
    raise ControlError(f"transfer to must be agent, queue or number, not {to!r}")


def consult_destination(to: object, target: object, *, agents: dict[str, str],
                        outbound_context: str, own_username: str = "") -> Destination:
    """Whom a consultation (AMI Atxfer) dials: an agent through ``cc-consult``, or a
    number through the outbound context."""
    if to not in ("agent", "number"):
        raise ControlError(f"consult to must be agent or number, not {to!r}")
    dest = transfer_destination(to, target, agents=agents, queues={},
                                outbound_context=outbound_context,
                                own_username=own_username)
    if to == "agent":
        return Destination(CONSULT_CONTEXT, dest.exten, dest.label)
    return dest


def check_digits(digits: object) -> str:
    text = str(digits or "")
    if not _DIGITS.fullmatch(text):
        raise ControlError("digits must be 1 to 32 of 0-9, * and #")
    return text


@dataclass
class Consult:
    """An attended transfer the agent started, as far as AMI has shown it."""

    label: str  # what the console shows and the contact records on completion
    context: str
    exten: str
    agent_id: str | None = None  # the consulted agent, if one
    state: str = "asked"  # asked | dialing (Hold seen) | talking (consult leg up)
    channel: str | None = None  # the consult leg (Local ;1)

    def shown(self) -> dict | None:
        if self.state == "asked":
            return None
        return {"state": self.state, "target": self.label}


@dataclass
class Leg:
    """An agent's live call, as far as call control is concerned."""

    agent_id: str
    call_id: str
    channel: str  # the agent's leg: the Dial callee
    held: bool = False
    hold_pending: bool = False
    resume_pending: bool = False
    recording: bool = False
    dtmf: str = ""
    transfer_pending: str | None = None
    transferred_to: str | None = None
    gone: bool = False
    consult: Consult | None = None
    conference: bool = False
    returning: bool = False  # the consultation ended: back with the caller on BridgeEnter

    def fields(self) -> dict:
        return {"held": self.held, "recording": self.recording,
                "consult": self.consult.shown() if self.consult else None,
                "conference": self.conference, "transferred_to": self.transferred_to,
                "dtmf": self.dtmf}

    def state(self) -> str:
        """The call state the console shows for this leg."""
        if self.held:
            return "held"
        if self.conference:
            return "conference"
        if self.consult is not None and self.consult.state != "asked" or self.returning:
            return "consulting"
        return "talking"


@dataclass
class _Transfer:
    label: str
    queued_at: float | None
    offered_at: float | None


NO_CONTROL = {"held": False, "recording": False, "consult": None, "conference": False,
              "transferred_to": None, "dtmf": ""}


class CallControl:
    """Registers the call-control console commands and follows their AMI events."""

    def __init__(self, center) -> None:
        self.center = center
        self.legs: dict[str, Leg] = {}  # agent id -> their live call
        self.transfers: dict[str, _Transfer] = {}  # call id -> its last transfer
        self._first_offer: dict[str, float] = {}
        for name in ("hold", "resume", "transfer", "dtmf", "record_start", "record_stop",
                     "consult", "consult_complete", "consult_cancel", "conference"):
            center.register_command(name, getattr(self, "cmd_" + name))
        s = center.bus.subscribe
        s(ev.AgentOffered, self.on_AgentOffered)
        s(ev.CallAnswered, self.on_CallAnswered)
        s(ev.CallTransferred, self.on_CallTransferred)
        s(ev.CallQueued, self.on_CallQueued)
        s(ev.CallEnded, self.on_CallEnded)
        center.ami_listeners.append(self.ami_event)

    # -------------------------------------------------------------- console side

    def fields(self, agent_id: str, call_id: str) -> dict:
        """The call-control part of the agent's ``call`` message."""
        leg = self.legs.get(agent_id)
        if leg is None or leg.call_id != call_id:
            return dict(NO_CONTROL)
        return leg.fields()

    def _push(self, leg: Leg, state: str, now: float) -> None:
        self.center._set_agent_call(leg.agent_id, leg.call_id, state, now)

    def _leg(self, key: str, *, talking: bool = True, consulting: bool = False) -> Leg:
        from agent_ui.backend import CommandRejected

        leg = self.legs.get(key)
        machine = self.center.router.agents.get(key)
        live = machine is not None and machine.state in (State.ON_CALL, State.ON_HOLD)
        if leg is None or leg.gone or not live or self.center.ami is None:
            raise CommandRejected("no call to control")
        if leg.transfer_pending:
            raise CommandRejected("the call is being transferred")
        busy = leg.consult is not None or leg.conference or leg.returning
        if consulting and not busy:
            raise CommandRejected("no consultation in progress")
        if busy and not consulting:
            raise CommandRejected("a consultation is in progress: complete or cancel it first")
        if talking and (leg.held or leg.hold_pending):
            raise CommandRejected("the call is on hold: resume it first")
        return leg

    @staticmethod
    def _rejected(what: str):
        from agent_ui.backend import CommandRejected

        def fail(f):
            raise CommandRejected(f"{what} failed: {f.getErrorMessage()}")

        return fail

    def cmd_hold(self, key: str, args: dict, now: float) -> defer.Deferred:
        from callcenter.ami.actions import redirect

        leg = self._leg(key)
        leg.hold_pending = True

        def failed(f):
            leg.hold_pending = False
            return f

        d = redirect(self.center.ami, leg.channel, HOLD_CONTEXT, "s", 1)
        d.addErrback(failed)
        d.addCallbacks(lambda _: self.center.snapshot(key), self._rejected("hold"))
        return d

    def cmd_resume(self, key: str, args: dict, now: float) -> None:
        from agent_ui.backend import CommandRejected

        leg = self._leg(key, talking=False)
        if not leg.held:
            raise CommandRejected("the call is not on hold")
        leg.resume_pending = True  # the caller's FastAGI session bridges back

    def _directory(self, key: str) -> tuple[dict[str, str], str]:
        """Transfer targets: every agent's username -> extension, and ``key``'s own
        username (an agent cannot transfer to themselves)."""
        records = self.center.agents
        agents = {getattr(r, "username", ""): getattr(r, "extension", "")
                  for r in records.values() if getattr(r, "role", "agent") == "agent"}
        return agents, getattr(records.get(key), "username", "")

    def cmd_transfer(self, key: str, args: dict, now: float) -> defer.Deferred:
        from agent_ui.backend import CommandRejected
        from callcenter.ami.actions import blind_transfer

        leg = self._leg(key)
        center = self.center
        agents, own = self._directory(key)
        try:
            dest = transfer_destination(args.get("to"), args.get("target"), agents=agents,
                                        queues=center.router.queues,
                                        outbound_context=_outbound_context(center),
                                        own_username=own)
        except ControlError as e:
            raise CommandRejected(str(e)) from None
        if args.get("to") == "agent":
            target_id = next(k for k, r in center.agents.items()
                             if getattr(r, "username", "") == dest.label)
            machine = center.router.agents.get(target_id)
            if machine is None or machine.state is not State.READY:
                raise CommandRejected(f"agent {dest.label} is not ready")
        leg.transfer_pending = dest.label

        def failed(f):
            leg.transfer_pending = None
            return f

        d = blind_transfer(center.ami, leg.channel, dest.exten, dest.context)
        d.addErrback(failed)
        d.addCallbacks(lambda _: center.snapshot(key), self._rejected("transfer"))
        return d

    def cmd_dtmf(self, key: str, args: dict, now: float) -> defer.Deferred:
        from agent_ui.backend import CommandRejected
        from callcenter.ami.actions import play_dtmf

        try:
            digits = check_digits(args.get("digits"))
        except ControlError as e:
            raise CommandRejected(str(e)) from None
        leg = self._leg(key)
        ami = self.center.ami

        @defer.inlineCallbacks
        def send():
            for digit in digits:
                yield play_dtmf(ami, leg.channel, digit, DTMF_MS, receive=True)
            return self.center.snapshot(key)

        return send().addErrback(self._rejected("DTMF"))

    def cmd_record_start(self, key: str, args: dict, now: float) -> defer.Deferred:
        from agent_ui.backend import CommandRejected
        from callcenter.ami.actions import mix_monitor

        leg = self._leg(key, talking=False)
        call = self.center.calls.get(leg.call_id)
        queue = call.queue if call is not None else None
        allowed = {q.name: q.recording for q in self.center.settings.queues}
        if not allowed.get(queue or ""):
            raise CommandRejected(f"recording is not allowed in queue {queue or '(none)'}")
        if leg.recording:
            raise CommandRejected("the call is already being recorded")
        record = self.center.agents.get(key)
        name = f"cc-{leg.call_id}-{getattr(record, 'username', key)}-{int(now)}.wav"
        d = mix_monitor(self.center.ami, leg.channel, name)
        d.addCallbacks(lambda _: self.center.snapshot(key), self._rejected("recording"))
        return d

    def cmd_record_stop(self, key: str, args: dict, now: float) -> defer.Deferred:
        from agent_ui.backend import CommandRejected
        from callcenter.ami.actions import stop_mix_monitor

        leg = self._leg(key, talking=False)
        if not leg.recording:
            raise CommandRejected("the call is not being recorded")
        d = stop_mix_monitor(self.center.ami, leg.channel)
        d.addCallbacks(lambda _: self.center.snapshot(key), self._rejected("stopping the recording"))
        return d

    def cmd_consult(self, key: str, args: dict, now: float) -> defer.Deferred:
        from agent_ui.backend import CommandRejected
        from callcenter.ami.actions import atxfer

        leg = self._leg(key)
        center = self.center
        agents, own = self._directory(key)
        try:
            dest = consult_destination(args.get("to"), args.get("target"), agents=agents,
                                       outbound_context=_outbound_context(center),
                                       own_username=own)
        except ControlError as e:
            raise CommandRejected(str(e)) from None
        target_id = None
        if args.get("to") == "agent":
            target_id = next(k for k, r in center.agents.items()
                             if getattr(r, "username", "") == dest.label)
            machine = center.router.agents.get(target_id)
            if machine is None or machine.state is not State.READY:
                raise CommandRejected(f"agent {dest.label} is not ready")
        leg.consult = Consult(dest.label, dest.context, dest.exten, target_id)

        def failed(f):
            leg.consult = None
            return f

        d = atxfer(center.ami, leg.channel, dest.exten, dest.context)
        d.addErrback(failed)
        d.addCallbacks(lambda _: center.snapshot(key), self._rejected("consult"))
        return d

    def cmd_consult_complete(self, key: str, args: dict, now: float) -> defer.Deferred:
        """The agent leaves: Hangup of the agent's leg completes the attended transfer."""
        from agent_ui.backend import CommandRejected
        from callcenter.ami.actions import hangup

        leg = self._leg(key, consulting=True)
        if leg.consult is None or leg.consult.state != "talking":
            raise CommandRejected("the consulted party has not answered: cancel instead")
        d = hangup(self.center.ami, leg.channel)
        d.addCallbacks(lambda _: self.center.snapshot(key),
                       self._rejected("completing the transfer"))
        return d

    def cmd_consult_cancel(self, key: str, args: dict, now: float) -> defer.Deferred:
        from agent_ui.backend import CommandRejected
        from callcenter.ami.actions import cancel_atxfer

        leg = self._leg(key, consulting=True)
        if leg.consult is None or leg.consult.state == "asked" or leg.conference:
            raise CommandRejected("no consultation to cancel")
        d = cancel_atxfer(self.center.ami, leg.channel)
        d.addCallbacks(lambda _: self.center.snapshot(key),
                       self._rejected("cancelling the consultation"))
        return d

    def cmd_conference(self, key: str, args: dict, now: float) -> defer.Deferred:
        from agent_ui.backend import CommandRejected
        from callcenter.ami.actions import play_dtmf

        leg = self._leg(key, consulting=True)
        if leg.conference:
            raise CommandRejected("the call is already a conference")
        if leg.consult is None or leg.consult.state != "talking":
            raise CommandRejected("the consulted party has not answered yet")
        ami = self.center.ami

        @defer.inlineCallbacks
        def send():
            for digit in ATXFER_THREEWAY:
                yield play_dtmf(ami, leg.channel, digit, DTMF_MS, receive=True)
            return self.center.snapshot(key)

        return send().addErrback(self._rejected("conference"))

    # ------------------------------------------------------------- FastAGI side

    def transfer_queue(self, env, call) -> str | None:
        """The queue of a call that came back to FastAGI after a transfer
        (``?queue=<name>``; empty: the call's own queue); None: a new call."""
        query = getattr(env, "query", None) or {}
        if "queue" not in query:
            return None
        queues = self.center.router.queues
        wanted = query["queue"]
        if wanted in queues:
            return wanted
        if call.queue in queues:
            return call.queue
        return self.center.settings.queues[0].name

    async def after_answer(self, session, call) -> bool:
        """The caller's ``Dial()`` of the agent returned answered. On hold: music until
        resume, then ``Bridge()`` back to the agent's leg, as often as asked. Returns
        True when the conversation is over with the caller still on this session."""
        leg = next((g for g in self.legs.values() if g.call_id == call.call_id), None)
        routing = self.center.settings.routing
        while leg is not None and leg.hold_pending and not leg.gone and not call.ended:
            await session.command("SET MUSIC", "on", routing.moh_class)
            while not (leg.resume_pending or leg.gone or call.ended):
                await session.command("WAIT FOR DIGIT", str(routing.queue_poll_ms))
            await session.command("SET MUSIC", "off")
            if leg.gone or call.ended:
                break
            leg.hold_pending = leg.resume_pending = False
            result = await session.command("EXEC", "Bridge", leg.channel)
            if result.result == "-1" or call.ended:
                return False  # the caller hung up or was moved (transfer)
        return not call.ended

    # --------------------------------------------------------------- bus events

    def on_AgentOffered(self, e: ev.AgentOffered) -> None:
        self._first_offer.setdefault(e.call_id, e.at)
        transfer = self.transfers.get(e.call_id)
        center = self.center
        call = center.calls.get(e.call_id)
        agent_id = center.devices.get(e.device)
        leg = self._consulting(e.call_id)
        if leg is not None and call is not None and agent_id == leg.consult.agent_id:
            # The consulted agent's phone rings: their screen-pop; the contact keeps
            # the first agent until the transfer completes.
            center._contact(e.call_id, "update_contact", e.call_id,
                            agent_id=center.agents[leg.agent_id].id,
                            offered_at=self._first_offer[e.call_id])
            center._when_lookup(call).addCallback(
                lambda _: self._consult_pop(agent_id, call, e.at))
            return
        if transfer is None or call is None or agent_id is None:
            return
        # The contact keeps its first offer; the new agent gets the screen-pop.
        if transfer.offered_at is not None:
            center._contact(e.call_id, "update_contact", e.call_id,
                            offered_at=transfer.offered_at)
        center._when_lookup(call).addCallback(lambda _: self._pop(agent_id, call, e.at))

    def _consulting(self, call_id: str) -> Leg | None:
        return next((g for g in self.legs.values()
                     if g.call_id == call_id and g.consult is not None), None)

    def _consult_pop(self, agent_id: str, call, ring_at: float) -> None:
        leg = self._consulting(call.call_id)
        if leg is not None and leg.consult.agent_id == agent_id:
            self._pop(agent_id, call, ring_at, consulted=True)

    def _pop(self, agent_id: str, call, ring_at: float, consulted: bool = False) -> None:
        center = self.center
        if call.ended or call.agent_id not in (None, agent_id) and not consulted:
            return
        center.send_pop(agent_id, center.build_pop(call, ring_at), ring_at)

    def on_CallAnswered(self, e: ev.CallAnswered) -> None:
        center = self.center
        call = center.calls.get(e.call_id)
        agent_id = center.devices.get(e.device)
        if call is None or agent_id is None:
            return
        if call.agent_id is None and e.call_id in self.transfers:
            # Answered again after a transfer: the same contact, a new agent.
            call.agent_id = agent_id
            center._contact(e.call_id, "update_contact", e.call_id,
                            agent_id=center.agents[agent_id].id)
            center._set_agent_call(agent_id, e.call_id, "talking", e.at)
            machine = center.router.agents.get(agent_id)
            if machine is not None and machine.state is State.RESERVED:
                center._apply(center.router.offer_answered(e.call_id, agent_id, e.at))
            elif machine is not None and machine.state in (State.READY, State.NOT_READY):
                center._apply(center.router.dial_out(agent_id, e.call_id, e.at))
        if call.agent_id == agent_id:
            self.legs[agent_id] = Leg(agent_id, e.call_id, e.agent_channel)

    def on_CallTransferred(self, e: ev.CallTransferred) -> None:
        leg = next((g for g in self.legs.values() if g.call_id == e.call_id and not g.gone),
                   None)
        if leg is None or e.kind == "redirect" and leg.transfer_pending is None:
            return
        center = self.center
        consult = leg.consult if e.kind == "attended" else None
        label = leg.transfer_pending or (consult.label if consult else e.target)
        call = center.calls.get(e.call_id)
        self.transfers[e.call_id] = _Transfer(
            label, call.queued_at if call else None, self._first_offer.get(e.call_id))
        center._contact(e.call_id, "update_contact", e.call_id, transferred_to=label)
        log.info("call {call_id} transferred by agent {agent} to {label}",
                 call_id=e.call_id, agent=leg.agent_id, label=label)
        leg.transfer_pending = None
        leg.transferred_to = label
        leg.consult, leg.conference, leg.returning = None, False, False
        self._push(leg, "transferred", e.at)
        del self.legs[leg.agent_id]
        if call is not None:
            call.agent_id = None
            call.offered_agent = None
            if call.answered_at is not None:
                center._handling[leg.agent_id] = (call.queue or "", e.at - call.answered_at,
                                                  e.at)
        center._apply(center.router.call_finished(leg.agent_id, e.at))
        if consult is not None and consult.agent_id and consult.state == "talking" and call:
            self._consulted_takes_over(consult.agent_id, call, e.at)

    def _consulted_takes_over(self, agent_id: str, call, at: float) -> None:
        """After an attended transfer the consulted agent has the call: the same
        contact, now theirs."""
        center = self.center
        call.agent_id = call.offered_agent = agent_id
        center._contact(call.call_id, "update_contact", call.call_id,
                        agent_id=center.agents[agent_id].id)
        machine = center.router.agents.get(agent_id)
        if machine is not None and machine.state in (State.READY, State.NOT_READY):
            center._apply(center.router.dial_out(agent_id, call.call_id, at))
        center._set_agent_call(agent_id, call.call_id, "talking", at)

    def on_CallQueued(self, e: ev.CallQueued) -> None:
        transfer = self.transfers.get(e.call_id)
        if transfer is not None and transfer.queued_at is not None:
            # Back in a queue after a transfer: the contact keeps its first wait.
            self.center._contact(e.call_id, "update_contact", e.call_id,
                                 queued_at=transfer.queued_at)

    def on_CallEnded(self, e: ev.CallEnded) -> None:
        self.transfers.pop(e.call_id, None)
        self._first_offer.pop(e.call_id, None)
        for agent_id, leg in list(self.legs.items()):
            if leg.call_id == e.call_id:
                del self.legs[agent_id]

    # --------------------------------------------------------------- AMI events

    def ami_event(self, message, now: float) -> None:
        handler = getattr(self, "event_" + message.name, None)
        if handler is not None:
            handler(message, now)

    def _leg_on(self, channel: str) -> Leg | None:
        return next((g for g in self.legs.values() if g.channel == channel), None)

    def event_MusicOnHoldStart(self, m, now: float) -> None:
        linkedid = m.get("Linkedid") or ""
        leg = next((g for g in self.legs.values()
                    if g.call_id == linkedid and g.hold_pending and not g.held), None)
        if leg is None or (m.get("Channel") or "") == leg.channel:
            return
        leg.held = True
        self._set_router(leg, "hold", now)
        self._push(leg, "held", now)

    def event_BridgeEnter(self, m, now: float) -> None:
        channel = m.get("Channel") or ""
        leg = self._leg_on(channel) or next(
            (g for g in self.legs.values()
             if g.consult is not None and g.consult.channel == channel), None)
        if leg is None:
            return
        if leg.returning and channel == leg.channel:
            leg.returning = False  # back in the caller's bridge after a consultation
            self._push(leg, leg.state(), now)
            return
        consult = leg.consult
        if consult is not None and consult.state == "talking" and not leg.conference:
            try:
                members = int(m.get("BridgeNumChannels") or 0)
            except ValueError:
                members = 0
            if members >= 3:  # the consult bridge merged into the caller's
                leg.conference = True
                self._push(leg, leg.state(), now)
            return
        if channel != leg.channel or not leg.held:
            return
        leg.held = False
        self._set_router(leg, "unhold", now)
        self._push(leg, "talking", now)

    def event_Hangup(self, m, now: float) -> None:
        channel = m.get("Channel") or ""
        leg = self._leg_on(channel)
        if leg is not None:
            leg.gone = True
            return
        leg = next((g for g in self.legs.values()
                    if g.consult is not None and g.consult.channel == channel), None)
        if leg is None:
            return
        # The consult leg is gone without a transfer (cancelled, not answered, the
        # target hung up): in a conference the agent is still with the caller, else
        # back with the caller once its leg re-enters the caller's bridge.
        consult = leg.consult
        leg.consult = None
        leg.returning = not leg.conference
        leg.conference = False
        if consult.agent_id is not None:
            self.center._set_agent_call(consult.agent_id, leg.call_id, "ended", now)
        self._push(leg, leg.state(), now)

    def event_Hold(self, m, now: float) -> None:
        leg = self._leg_on(m.get("Channel") or "")
        if leg is not None and leg.consult is not None and leg.consult.state == "asked":
            leg.consult.state = "dialing"
            self._push(leg, leg.state(), now)

    def event_Newchannel(self, m, now: float) -> None:
        leg = self._consulting(m.get("Linkedid") or "")
        name = m.get("Channel") or ""
        if leg is None or leg.consult.channel is not None:
            return
        consult = leg.consult
        if name.startswith(f"Local/{consult.exten}@{consult.context}-") and name.endswith(";1"):
            consult.channel = name

    def event_Newstate(self, m, now: float) -> None:
        channel = m.get("Channel") or ""
        leg = next((g for g in self.legs.values()
                    if g.consult is not None and g.consult.channel == channel), None)
        if leg is None or (m.get("ChannelState") or "") != "6":
            return
        consult = leg.consult
        if consult.state != "talking":
            consult.state = "talking"
            self._push(leg, leg.state(), now)
            if consult.agent_id is not None:
                self.center._set_agent_call(consult.agent_id, leg.call_id, "talking", now)

    def event_MixMonitorStart(self, m, now: float) -> None:
        self._recording(m, True, now)

    def event_MixMonitorStop(self, m, now: float) -> None:
        self._recording(m, False, now)

    def _recording(self, m, on: bool, now: float) -> None:
        leg = self._leg_on(m.get("Channel") or "")
        if leg is not None and leg.recording != on:
            leg.recording = on
            self._push(leg, leg.state(), now)

    def event_DTMFEnd(self, m, now: float) -> None:
        leg = self._leg_on(m.get("Channel") or "")
        if leg is None or (m.get("Direction") or "") != "Received":
            return
        if leg.consult is not None:
            return  # feature digits (three-way) kept by the bridge
        leg.dtmf = (leg.dtmf + (m.get("Digit") or ""))[-64:]
        self._push(leg, leg.state(), now)

    def _set_router(self, leg: Leg, event: str, now: float) -> None:
        from routing.agents import IllegalTransition

        router = self.center.router
        try:
            self.center._apply(getattr(router, event)(leg.agent_id, now))
        except (IllegalTransition, KeyError) as e:
            log.warn("agent {agent}: {event} not applied: {e}", agent=leg.agent_id,
                     event=event, e=e)


def _outbound_context(center) -> str:
    return getattr(getattr(center.settings, "calls", None), "outbound_context", "outbound")
