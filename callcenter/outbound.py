"""Calls we place: queued callbacks (virtual hold) and click-to-dial.

Both are placed agent-first with one AMI ``Originate``: ``Channel`` is the agent's
interface (their phone rings first), then ``Context``/``Exten`` is the outbound
context with the customer's number, which Asterisk dials once the agent answers.
The Originate's ``ChannelId`` is an id of ours, so every channel of the call carries
it as its ``Linkedid``: ``LegTracker`` (pure) follows those channels from AMI events
(``DialBegin``/``DialEnd``, ``Hangup``) and says what happened to each leg; the
``OriginateResponse`` says whether the agent answered. Nothing is assumed from an
action's success.

A callback (``request_callback``) keeps the caller's place in the queue (see
``routing.router``). When its turn comes the router reserves an agent
(``OfferCall`` of kind ``callback``): the agent gets the screen-pop (``kind:
"callback"``, the original call's id and wait), then the Originate. The agent not
answering is a ring-no-answer like any offer; the customer not answering frees the
agent and retries after ``routing.callback_retry_seconds``, up to
``routing.callback_attempts`` attempts, then the callback is given up (contact
outcome ``callback_failed``). The callback is one contact (direction ``callback``,
``parent_call_id`` the original call) for all its attempts.

Callbacks are kept in the store's ``callbacks`` table, written (in order, on the
database pool) when one is requested or scheduled and on every attempt and outcome
(``pending``, ``dialling``, ``done``, ``failed``, ``cancelled``). When the server
starts (``restore``, after the agents are loaded), the pending ones are read back:
each takes its original place in its queue again; one whose attempt was under way
when the server stopped counts that attempt as unanswered (retried, or given up).

An agent can schedule a callback at wrap-up (``wrapup_saved``): it is kept out of the
queues until its time (a timer on the injected clock), then its contact is opened and
it joins the call's queue with priority ``routing.callback_priority``, and is placed
like any callback; its pop says who scheduled it and with which notes. Saving the
wrap-up again replaces it (or withdraws it: contact outcome ``callback_cancelled``
when it was in a queue already).

Click-to-dial (console command ``dial`` {number, customer_id}): the agent, ready or not
ready, goes on an outbound call at once (``Router.dial_out``); an outbound contact is
opened; the pop (``kind: "outbound"``) is pushed when their phone rings; after the call
the agent wraps up for ``routing.outbound_wrapup_seconds``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from twisted.internet import defer
from twisted.logger import Logger

from callcenter import events as ev
from callcenter.calls import device_of
from callcenter.waiting import WaitingRoom
from routing.agents import State
from routing.router import CallbackPolicy

log = Logger()

AGENT, CUSTOMER = "agent", "customer"
_FAILED_REASONS = {"0": "FAILED", "1": "FAILED", "3": "NOANSWER", "5": "BUSY", "8": "CONGESTION"}


# --------------------------------------------------------------------- pure core


@dataclass
class _Legs:
    agent_device: str
    live: set = field(default_factory=set)  # uniqueids of channels not hung up
    seen: bool = False
    agent_channel: str = ""
    customer_channel: str = ""
    cause: str = ""
    cause_txt: str = ""


class LegTracker:
    """Follows the calls we originate, keyed by the ``ChannelId`` we gave (the
    ``Linkedid`` of all their channels). Sans-I/O: ``feed(message, now)`` returns the
    ``Outbound*`` events (``callcenter.events``) the AMI event caused."""

    def __init__(self) -> None:
        self._calls: dict[str, _Legs] = {}

    def watch(self, call_id: str, agent_device: str) -> None:
        self._calls[call_id] = _Legs(agent_device)

    def forget(self, call_id: str) -> None:
        self._calls.pop(call_id, None)

    def __contains__(self, call_id: str) -> bool:
        return call_id in self._calls

    def feed(self, message, now: float) -> list:
        calls = self._calls
        if not calls:
            return []
        name = message.name
        call_id = message.get("Linkedid") or message.get("DestLinkedid") or ""
        legs = calls.get(call_id)
        if legs is None:
            return []
        out: list = []
        if name == "Newchannel":
            legs.live.add(message.get("Uniqueid") or "")
            legs.seen = True
        elif name == "DialBegin":
            dest = message.get("DestChannel") or ""
            device = device_of(dest)
            if not message.get("Channel") and device == legs.agent_device:
                legs.agent_channel = dest
                out.append(ev.OutboundLegRinging(call_id, AGENT, dest, device, now))
            elif message.get("Channel"):
                legs.customer_channel = dest
                out.append(ev.OutboundLegRinging(call_id, CUSTOMER, dest, device, now))
        elif name == "DialEnd":
            dest = message.get("DestChannel") or ""
            status = (message.get("DialStatus") or "").upper()
            leg = AGENT if dest and dest == legs.agent_channel else (
                CUSTOMER if dest and dest == legs.customer_channel else None)
            if leg is not None:
                if status == "ANSWER":
                    out.append(ev.OutboundLegAnswered(call_id, leg, dest, now))
                else:
                    out.append(ev.OutboundLegFailed(call_id, leg, status or "FAILED", now))
        elif name == "Hangup":
            uniqueid = message.get("Uniqueid") or ""
            legs.live.discard(uniqueid)
            if uniqueid == call_id:
                legs.cause = message.get("Cause") or ""
                legs.cause_txt = message.get("Cause-txt") or ""
            if legs.seen and not legs.live:
                del calls[call_id]
                out.append(ev.OutboundEnded(call_id, now, legs.cause, legs.cause_txt))
        return out


# ----------------------------------------------------------------- the adapter


@dataclass
class Callback:
    callback_id: str
    parent_call_id: str
    number: str
    queue: str
    queued_at: float
    requested_at: float
    lookup: object | None = None
    attempts: int = 0  # Originates placed
    customer_id: int | None = None
    priority: int = 0  # its own (the queue's is added)
    skills: str = ""
    due_at: float | None = None  # scheduled: not before then
    scheduled_by: int | None = None  # the agent who scheduled it at wrap-up
    notes: str = ""


def _skills_text(skills: dict) -> str:
    return ",".join(f"{name}:{level}" for name, level in sorted(skills.items()))


@dataclass
class Placed:
    """One Originate: a click-to-dial call or one callback attempt."""

    call_id: str  # the ChannelId / linkedid
    kind: str  # "outbound" or "callback"
    agent_id: str
    number: str
    contact_id: str  # the contact's call id (the callback's id for callbacks)
    placed_at: float
    customer_id: int | None = None
    callback: Callback | None = None
    agent_answered: bool = False
    customer_answered_at: float | None = None
    customer_failed: str = ""
    agent_failed: bool = False
    settled: bool = False  # the router was told how the attempt ended
    ended: bool = False
    pop_sent: bool = False
    lookup: object | None = None
    card: object | None = None  # the customer the agent dialled from their page
    looked_up: defer.Deferred | None = None


class Outbound:
    """Built by ``CallCenter.__init__``; also runs the waiting callers (``waiting``)."""

    def __init__(self, center):
        self.center = center
        routing = center.settings.routing
        center.router.callback_policy = CallbackPolicy(routing.callback_attempts,
                                                       routing.callback_retry_seconds)
        center.router.default_wrapup_s = routing.outbound_wrapup_seconds
        self.waiting = WaitingRoom(center, self)
        self.legs = LegTracker()
        self.placed: dict[str, Placed] = {}
        self.callbacks: dict[str, Callback] = {}
        self._scheduled: dict[str, object] = {}  # callback id -> timer until it is due
        center.register_command("dial", self.cmd_dial)
        center.bus.subscribe(ev.AgentStateChanged, self.on_AgentStateChanged)
        center.ami_listeners.append(self.ami_event)

    # ------------------------------------------------------------------ AMI

    def ami_event(self, message, now: float) -> None:
        """Every AMI event (``CallCenter.ami_event``)."""
        try:
            produced = self.legs.feed(message, now)
        except Exception:
            log.failure("outbound leg tracker failed on AMI event {name}", name=message.name)
            return
        for event in produced:
            handler = getattr(self, "on_" + type(event).__name__)
            try:
                handler(event)
            except Exception:
                log.failure("outbound call {call_id}: handling {event} failed",
                            call_id=event.call_id, event=type(event).__name__)

    # ------------------------------------------------------------ callbacks

    def request_callback(self, call) -> str | None:
        """The waiting caller ``call`` (a ``LiveCall``) confirmed a callback: the
        callback takes the call's place; the call will end as ``callback_requested``.
        None when the router refuses (the call is no longer simply waiting)."""
        center = self.center
        now = center.now()
        callback_id = "cb-" + uuid.uuid4().hex[:16]
        try:
            decisions = center.router.request_callback(call.call_id, callback_id, now)
        except ValueError as e:
            log.info("call {call_id}: no callback: {e}", call_id=call.call_id, e=e)
            return None
        from crm_store.phones import normalize

        queued_at = call.queued_at if call.queued_at is not None else now
        number = normalize(call.caller_number, center.settings.store.region) \
            or call.caller_number
        waiting = center.router.waiting[callback_id]
        customers = getattr(call.lookup, "customers", ()) or ()
        cb = Callback(callback_id, call.call_id, number, waiting.queue,
                      waiting.queued_at, now, lookup=call.lookup,
                      customer_id=customers[0].id if customers else None,
                      priority=waiting.own_priority, skills=_skills_text(waiting.own_skills))
        self.callbacks[callback_id] = cb
        call.outcome = "callback_requested"
        center._contact(callback_id, "open_contact", call_id=callback_id, direction="callback",
                        caller_number=number, arrived_at=now, parent_call_id=call.call_id,
                        customer_id=cb.customer_id)
        center._contact(callback_id, "update_contact", callback_id, queue=cb.queue,
                        queued_at=queued_at)
        center._contact(callback_id, "add_callback", call_id=callback_id, number=number,
                        queue=cb.queue, queued_at=cb.queued_at, parent_call_id=call.call_id,
                        customer_id=cb.customer_id, priority=cb.priority, skills=cb.skills)
        log.info("call {call_id}: callback {callback_id} requested, place {position} in "
                 "{queue}", call_id=call.call_id, callback_id=callback_id, queue=cb.queue,
                 position=center.router.position(callback_id))
        center.bus.publish(ev.CallbackRequested(callback_id, call.call_id, cb.queue,
                                                number, now))
        center._apply(decisions)
        return callback_id

    def offer(self, offer: ev.OfferCall) -> None:
        """The router reserved an agent for a callback: pop, then Originate."""
        center = self.center
        cb = self.callbacks.get(offer.call_id)
        agent = center.agents.get(offer.agent_id)
        if cb is None or agent is None or not getattr(agent, "interface", ""):
            log.error("callback {call_id}: cannot be placed by agent {agent_id}",
                      call_id=offer.call_id, agent_id=offer.agent_id)
            self._settle_failed(offer.call_id, offer.agent_id, "FAILED")
            return
        cb.attempts += 1
        placed = Placed(f"{cb.callback_id}-{cb.attempts}", "callback", offer.agent_id,
                        cb.number, cb.callback_id, center.now(), callback=cb)
        self.placed[placed.call_id] = placed
        center._contact(cb.callback_id, "update_contact", cb.callback_id,
                        offered_at=placed.placed_at, agent_id=agent.id)
        d = self._lookup(placed, cb.lookup)

        def ready(_):
            if center.router.offers.get(cb.callback_id) != offer.agent_id:
                self.placed.pop(placed.call_id, None)
                return  # the offer ended meanwhile (agent logged out)
            cb.lookup = placed.lookup
            self._pop(placed)
            self._agent_call(placed, "ringing")
            waiting = center.router.waiting.get(cb.callback_id)
            self._write(cb.callback_id, status="dialling",
                        attempts=waiting.attempts if waiting is not None else 0)
            self._originate(placed)

        d.addCallback(ready)
        d.addErrback(lambda f: log.failure("callback {call_id} not placed", f,
                                           call_id=cb.callback_id))

    def _settle_failed(self, callback_id: str, agent_id: str, status: str) -> None:
        """The customer did not answer: free the agent; retry or give up."""
        decisions = self.center.router.callback_failed(callback_id, agent_id,
                                                       self.center.now())
        rest = []
        settled = False
        for item in decisions:
            if isinstance(item, ev.CallbackRescheduled):
                log.info("callback {call_id}: attempt {n} not answered ({status}); next "
                         "attempt in {s:.0f} s", call_id=item.call_id, n=item.attempts,
                         status=status, s=item.due - item.at)
                self.center.bus.publish(item)
                settled = settled or item.call_id == callback_id
                self._write(item.call_id, status="pending", attempts=item.attempts,
                            due_at=item.due, last_result=status)
            elif isinstance(item, ev.CallbackGivenUp):
                settled = settled or item.call_id == callback_id
                self._given_up(item.call_id, item.queue, item.attempts, item.at, status)
            else:
                rest.append(item)
        if not settled and callback_id in self.callbacks:
            # Late news of an attempt whose offer was over: it waits in its place.
            self._write(callback_id, status="pending", last_result=status)
        self.center._apply(rest)

    def _given_up(self, callback_id: str, queue: str, attempts: int, at: float,
                  status: str) -> None:
        log.info("callback {call_id}: given up after {n} attempts", call_id=callback_id,
                 n=attempts)
        self.center.bus.publish(ev.CallbackGivenUp(callback_id, queue, attempts, at))
        self.callbacks.pop(callback_id, None)
        self._write(callback_id, status="failed", attempts=attempts, last_result=status)
        self.center._contact(callback_id, "close_contact", callback_id, ended_at=at,
                             outcome="callback_failed")

    def _write(self, callback_id: str, **fields) -> None:
        """Record an attempt or outcome of a callback (in order with its contact)."""
        self.center._contact(callback_id, "update_callback", callback_id, **fields)

    # ------------------------------------------------- persisted callbacks

    @defer.inlineCallbacks
    def restore(self):
        """At start-up, once the agents are loaded: every callback still to be placed
        takes its place again (see the module's docstring)."""
        from crm_store.store import Store

        try:
            records = yield self.center.db.do(Store.pending_callbacks)
        except Exception:
            log.failure("pending callbacks could not be read back")
            return
        for record in records:
            try:
                self._restore(record)
            except Exception:
                log.failure("callback {call_id} could not be restored", call_id=record.call_id)
        if records:
            log.info("{n} pending callbacks restored", n=len(records))

    def _restore(self, record) -> None:
        center = self.center
        now = center.now()
        if record.call_id in self.callbacks:
            return
        cb = Callback(record.call_id, record.parent_call_id or "", record.number,
                      record.queue, record.queued_at, record.created_at,
                      attempts=record.attempts, customer_id=record.customer_id,
                      priority=record.priority, skills=record.skills, due_at=record.due_at,
                      scheduled_by=record.scheduled_by, notes=record.notes)
        self.callbacks[cb.callback_id] = cb
        if cb.queue not in center.router.queues:
            log.error("callback {call_id}: queue {queue!r} no longer exists; given up",
                      call_id=cb.callback_id, queue=cb.queue)
            self._open(cb, record.created_at)
            self._given_up(cb.callback_id, cb.queue, record.attempts, now, "unknown queue")
            return
        attempts, retry_at = record.attempts, record.due_at
        if record.status == "dialling":
            # The server stopped during an attempt: it counts as not answered.
            attempts += 1
            if attempts >= center.router.callback_policy.attempts:
                self._open(cb, record.created_at)
                self._given_up(cb.callback_id, cb.queue, attempts, now, "interrupted")
                return
            retry_at = now + center.router.callback_policy.retry_s
            cb.attempts = attempts
            self._write(cb.callback_id, status="pending", attempts=attempts, due_at=retry_at,
                        last_result="interrupted")
        if cb.scheduled_by is not None and attempts == 0 and (cb.due_at or 0) > now:
            self._schedule(cb)
            return
        self._enter(cb, retry_at, attempts)

    def _open(self, cb: Callback, at: float) -> None:
        """The callback's contact (kept as it is when it exists already)."""
        self.center._contact(cb.callback_id, "open_contact", call_id=cb.callback_id,
                             direction="callback", caller_number=cb.number, arrived_at=at,
                             parent_call_id=cb.parent_call_id or None,
                             customer_id=cb.customer_id)

    def _enter(self, cb: Callback, retry_at: float | None = None, attempts: int = 0) -> None:
        """The callback takes its place in its queue (``retry_at``: parked till then)."""
        center = self.center
        now = center.now()
        self._open(cb, cb.due_at if cb.scheduled_by is not None and cb.due_at else now)
        center._contact(cb.callback_id, "update_contact", cb.callback_id, queue=cb.queue,
                        queued_at=cb.queued_at)
        try:
            decisions = center.router.add_callback(
                cb.callback_id, cb.queue, cb.queued_at, now, priority=cb.priority,
                skills=cb.skills or None, attempts=attempts, retry_at=retry_at)
        except ValueError as e:
            log.error("callback {call_id} cannot join {queue}: {e}", call_id=cb.callback_id,
                      queue=cb.queue, e=e)
            return
        center._apply(decisions)

    def _schedule(self, cb: Callback) -> None:
        delay = max(0.0, (cb.due_at or 0.0) - self.center.now())
        self._scheduled[cb.callback_id] = self.center.clock.callLater(delay, self._due, cb)

    def _due(self, cb: Callback) -> None:
        self._scheduled.pop(cb.callback_id, None)
        if self.callbacks.get(cb.callback_id) is not cb:
            return
        log.info("scheduled callback {call_id} is due: joins {queue}", call_id=cb.callback_id,
                 queue=cb.queue)
        self._enter(cb)

    def wrapup_saved(self, agent_key: str, contact, form, queue: str | None) -> defer.Deferred:
        """A wrap-up of ``contact`` (a ``ContactRecord``) was saved with ``form``
        (``callcenter.wrapup.WrapupForm``): the callback it promises, if any, replaces
        the one scheduled on that call before."""
        center = self.center
        agent = center.agents.get(agent_key)
        cb = None
        fields = {}
        if form.callback_at is not None:
            cb = Callback("cb-" + uuid.uuid4().hex[:16], contact.call_id, form.callback_number,
                          self._queue_for(agent_key, queue or contact.queue),
                          form.callback_at, center.now(), customer_id=contact.customer_id,
                          priority=center.settings.routing.callback_priority,
                          due_at=form.callback_at,
                          scheduled_by=getattr(agent, "id", None), notes=form.notes)
            fields = dict(number=cb.number, queue=cb.queue, queued_at=cb.queued_at,
                          due_at=cb.due_at, customer_id=cb.customer_id, priority=cb.priority,
                          scheduled_by=cb.scheduled_by, notes=cb.notes)
        d = center._contact(contact.call_id, "schedule_callback", contact.call_id,
                            call_id=cb.callback_id if cb else None, **fields)

        def written(cancelled):
            if cancelled is None:
                return  # logged by _contact
            for callback_id in cancelled:
                self._cancel(callback_id)
            if cb is not None:
                log.info("callback {call_id} scheduled on call {parent} for {at}",
                         call_id=cb.callback_id, parent=contact.call_id, at=cb.due_at)
                self.callbacks[cb.callback_id] = cb
                self._schedule(cb)

        d.addCallback(written)
        d.addErrback(lambda f: log.failure("callback scheduled on call {call_id} not set", f,
                                           call_id=contact.call_id))
        return d

    def _queue_for(self, agent_key: str, queue: str | None) -> str:
        """The call's queue; for a call outside any queue, the first queue the agent
        works (so they, or a colleague of that queue, take it)."""
        router = self.center.router
        if queue and queue in router.queues:
            return queue
        theirs = router.agent_queues.get(agent_key, ())
        for q in self.center.settings.queues:
            if q.name in theirs:
                return q.name
        return self.center.settings.queues[0].name

    def _cancel(self, callback_id: str) -> None:
        """A scheduled callback was replaced or withdrawn at wrap-up."""
        center = self.center
        timer = self._scheduled.pop(callback_id, None)
        if timer is not None:
            if timer.active():
                timer.cancel()
            self.callbacks.pop(callback_id, None)
            return
        waiting = center.router.waiting.get(callback_id)
        if waiting is None or waiting.offered_to is not None:
            log.info("callback {call_id} is being placed; it is not withdrawn",
                     call_id=callback_id)
            return
        self.callbacks.pop(callback_id, None)
        center._apply(center.router.call_left(callback_id, center.now()))
        center._contact(callback_id, "close_contact", callback_id, ended_at=center.now(),
                        outcome="callback_cancelled")

    def stop(self) -> None:
        """The server stops: scheduled callbacks stay in the store only."""
        for timer in self._scheduled.values():
            if timer.active():
                timer.cancel()
        self._scheduled.clear()

    # -------------------------------------------------------- click-to-dial

    def cmd_dial(self, key: str, args: dict, now: float):
        """Console command ``dial`` {number, customer_id|null}."""
        from agent_ui.backend import CommandRejected
        from crm_store.phones import normalize

        center = self.center
        raw = str(args.get("number") or "").strip()
        number = normalize(raw, center.settings.store.region)
        if number is None:
            raise CommandRejected(f"not a phone number: {raw[:40]!r}")
        customer_id = args.get("customer_id")
        if customer_id is not None:
            try:
                customer_id = int(customer_id)
            except (TypeError, ValueError):
                raise CommandRejected("customer_id must be a number or null") from None
        self._check_can_dial(key)
        if customer_id is None:
            return self._place_dial(key, number, None, center.now())
        from crm_store.store import Store

        d = center.db.do(Store.customer, customer_id)

        def known(card):
            if card is None:
                raise CommandRejected(f"no customer {customer_id}")
            self._check_can_dial(key)
            return self._place_dial(key, number, card, center.now())

        return d.addCallback(known)

    def _check_can_dial(self, key: str) -> None:
        from agent_ui.backend import CommandRejected

        center = self.center
        machine = center.router.agent(key)
        if machine.state not in (State.READY, State.NOT_READY):
            raise CommandRejected(
                f"you can place a call when ready or not ready, not while "
                f"{machine.state.value.replace('_', ' ')}")
        if not getattr(center.agents.get(key), "interface", ""):
            raise CommandRejected("your account has no phone to call from")
        if center.ami is None or center.ami.current() is None:
            raise CommandRejected("the phone system is not reachable; try again shortly")

    def _place_dial(self, key: str, number: str, card, now: float) -> dict:
        center = self.center
        agent = center.agents[key]
        call_id = "out-" + uuid.uuid4().hex[:16]
        center._apply(center.router.dial_out(key, call_id, now))
        placed = Placed(call_id, "outbound", key, number, call_id, now,
                        customer_id=card.id if card is not None else None)
        self.placed[call_id] = placed
        center._contact(call_id, "open_contact", call_id=call_id, direction="outbound",
                        caller_number=number, arrived_at=now, customer_id=placed.customer_id,
                        agent_id=agent.id)
        log.info("agent {agent}: click-to-dial {call_id}", agent=agent.username,
                 call_id=call_id)
        self._lookup(placed, None, card)
        self._agent_call(placed, "dialing")
        self._originate(placed)
        return {"ok": True, "call_id": call_id, "number": number}

    # ------------------------------------------------------------ common

    def _lookup(self, placed: Placed, known, card=None) -> defer.Deferred:
        """The CRM view of the number (who it is, recent contacts); fires with None
        once ``placed.lookup`` is set."""
        from crm_store.store import Store

        placed.card = card
        if known is not None:
            placed.lookup = known
            placed.looked_up = defer.succeed(None)
            return placed.looked_up
        d = self.center.db.do(Store.lookup_caller, placed.number, recent=5)

        def found(lookup):
            placed.lookup = lookup
            if placed.kind == "outbound" and placed.customer_id is None and lookup.customers:
                placed.customer_id = lookup.customers[0].id
                self.center._contact(placed.contact_id, "update_contact", placed.contact_id,
                                     customer_id=placed.customer_id)

        def failed(f):
            log.failure("customer lookup for {call_id} failed", f, call_id=placed.call_id)

        d.addCallbacks(found, failed)
        placed.looked_up = d
        return d

    def _originate(self, placed: Placed) -> None:
        from callcenter.ami.actions import originate

        center = self.center
        routing = center.settings.routing
        agent = center.agents[placed.agent_id]
        self.legs.watch(placed.call_id, device_of(agent.interface))
        if center.ami is None or center.ami.current() is None:
            log.warn("{call_id}: AMI not connected; the call cannot be placed",
                     call_id=placed.call_id)
            self.legs.forget(placed.call_id)
            self._not_placed(placed)
            return
        d = originate(center.ami, agent.interface, context=routing.outbound_context,
                      exten=placed.number, caller_id=routing.outbound_caller_id or None,
                      timeout_ms=routing.ring_timeout * 1000, channel_id=placed.call_id,
                      variables={"CTI_CALL": placed.contact_id})

        def responded(response):
            if (response.get("Response") or "") == "Success":
                self.on_OutboundLegAnswered(ev.OutboundLegAnswered(
                    placed.call_id, AGENT, response.get("Channel") or "", center.now()))
                return
            reason = response.get("Reason") or "0"
            self._agent_leg_failed(placed, _FAILED_REASONS.get(reason, "FAILED"))

        def failed(f):
            log.warn("{call_id}: Originate failed: {e}", call_id=placed.call_id,
                     e=f.getErrorMessage())
            if placed.ended or placed.agent_answered:
                return
            self.legs.forget(placed.call_id)
            self._not_placed(placed)

        d.addCallbacks(responded, failed)

    def _not_placed(self, placed: Placed) -> None:
        """The PBX could not place the call (AMI down, Originate refused): not the
        agent's fault (no RONA). A callback counts it as an attempt and retries."""
        placed.agent_failed = True
        if placed.kind == "callback" and not placed.settled:
            placed.settled = True
            self._settle_failed(placed.contact_id, placed.agent_id, "FAILED")
            self._agent_call(placed, "ended")
        self._finish(placed, self.center.now())

    def _agent_leg_failed(self, placed: Placed, status: str) -> None:
        if placed.agent_answered or placed.agent_failed:
            return
        placed.agent_failed = True
        agent = self.center.agents.get(placed.agent_id)
        log.info("{call_id}: agent {agent} did not answer ({status})", call_id=placed.call_id,
                 agent=getattr(agent, "username", placed.agent_id), status=status)
        if placed.kind == "callback" and not placed.settled:
            placed.settled = True
            self._write(placed.contact_id, status="pending", last_result="agent " + status)
            self.center._apply(self.center.router.offer_failed(
                placed.contact_id, placed.agent_id, self.center.now()))
            self._agent_call(placed, "missed")

    # ------------------------------------------------------- leg events

    def on_OutboundLegRinging(self, e: ev.OutboundLegRinging) -> None:
        placed = self.placed.get(e.call_id)
        if placed is None:
            return
        if e.leg == AGENT:
            self.center._agent_channels[placed.agent_id] = e.channel
            if placed.kind == "outbound":
                self._agent_call(placed, "ringing")
                placed.looked_up.addCallback(lambda _: self._pop(placed))
        else:
            self._agent_call(placed, "dialing")

    def on_OutboundLegAnswered(self, e: ev.OutboundLegAnswered) -> None:
        placed = self.placed.get(e.call_id)
        if placed is None or placed.ended:
            return
        if e.leg == AGENT:
            if not placed.agent_answered:
                placed.agent_answered = True
                self._agent_call(placed, "dialing")
            return
        if placed.customer_answered_at is not None:
            return
        center = self.center
        placed.customer_answered_at = e.at
        center._contact(placed.contact_id, "update_contact", placed.contact_id,
                        answered_at=e.at)
        if placed.kind == "callback" and not placed.settled:
            placed.settled = True
            center._apply(center.router.offer_answered(placed.contact_id, placed.agent_id,
                                                       e.at))
            self.callbacks.pop(placed.contact_id, None)
            self._write(placed.contact_id, status="done", due_at=None, last_result="ANSWER")
        self._agent_call(placed, "talking")

    def on_OutboundLegFailed(self, e: ev.OutboundLegFailed) -> None:
        placed = self.placed.get(e.call_id)
        if placed is None or placed.ended:
            return
        if e.leg == AGENT:
            self._agent_leg_failed(placed, e.status)
            return
        placed.customer_failed = e.status
        log.info("{call_id}: {number} not answered ({status})", call_id=e.call_id,
                 number=placed.number, status=e.status)
        if placed.kind == "callback" and not placed.settled:
            placed.settled = True
            self._settle_failed(placed.contact_id, placed.agent_id, e.status)
            self._agent_call(placed, "ended")

    def on_OutboundEnded(self, e: ev.OutboundEnded) -> None:
        placed = self.placed.get(e.call_id)
        if placed is None:
            return
        if not placed.agent_answered and not placed.agent_failed:
            self._agent_leg_failed(placed, "FAILED")  # hung up before any answer
        elif (placed.kind == "callback" and not placed.settled
              and placed.customer_answered_at is None):
            placed.settled = True  # the agent hung up before the customer's phone rang
            self._settle_failed(placed.contact_id, placed.agent_id, "CANCEL")
        self._finish(placed, e.at)

    def _finish(self, placed: Placed, at: float) -> None:
        """The call is over: contact, router (wrap-up), console."""
        if placed.ended:
            return
        placed.ended = True
        self.placed.pop(placed.call_id, None)
        center = self.center
        talked = placed.customer_answered_at is not None
        if placed.kind == "outbound" or talked:
            center._contact(placed.contact_id, "close_contact", placed.contact_id, ended_at=at)
        machine = center.router.agents.get(placed.agent_id)
        on_this_call = (machine is not None and machine.call_id == placed.contact_id
                        and machine.state in (State.ON_CALL, State.ON_HOLD))
        if on_this_call:
            self._agent_call(placed, "ended")
            decisions = center.router.call_finished(placed.agent_id, at)
            if placed.kind == "outbound" and not placed.agent_answered:
                # The agent never picked up: no after-call work.
                decisions += center.router.wrapup_done(placed.agent_id, at)
            center._apply(decisions)

    def on_AgentStateChanged(self, e: ev.AgentStateChanged) -> None:
        """An agent logged out while their phone was rung for a callback: the
        router put the callback back in its place; hang up that attempt."""
        if e.state != State.LOGGED_OUT.value:
            return
        for placed in list(self.placed.values()):
            if placed.agent_id == e.agent_id and placed.kind == "callback" \
                    and placed.customer_answered_at is None and not placed.ended:
                placed.settled = True
                self._write(placed.contact_id, status="pending", last_result="agent logged out")
                self._hangup_agent_leg(placed)

    def _hangup_agent_leg(self, placed: Placed) -> None:
        from callcenter.ami.actions import hangup

        channel = self.center._agent_channels.get(placed.agent_id)
        if not channel or self.center.ami is None:
            return
        hangup(self.center.ami, channel).addErrback(
            lambda f: log.warn("hangup of {channel} failed: {e}", channel=channel,
                               e=f.getErrorMessage()))

    # ----------------------------------------------------------- console

    def _pop(self, placed: Placed) -> None:
        if placed.pop_sent:
            return
        placed.pop_sent = True
        center = self.center
        lookup = placed.lookup
        cards = list(getattr(lookup, "customers", ()) or ())
        card = getattr(placed, "card", None)
        if card is not None:
            cards = [card] + [c for c in cards if c.id != card.id]
        from callcenter.center import _card, recent_contact

        recent = [recent_contact(c) for c in (getattr(lookup, "recent_contacts", ()) or ())]
        now = center.now()
        cb = placed.callback
        pop = {
            "type": "pop",
            "kind": placed.kind,
            "call_id": placed.contact_id,
            "caller_number": placed.number,
            "customer": _card(cards[0]) if cards else None,
            "matches": [_card(c) for c in cards],
            "recent_contacts": recent,
            "ivr": [],
            "ivr_choice": "",
            "queue": cb.queue if cb is not None else None,
            "wait_s": round(max(0.0, now - cb.queued_at), 1) if cb is not None else 0.0,
            "ring_at": now,
            "sent_at": time.time(),
        }
        if cb is not None:
            pop["parent_call_id"] = cb.parent_call_id
            pop["attempt"] = cb.attempts
            pop["scheduled"] = None
            if cb.scheduled_by is not None:
                by = center.agents.get(str(cb.scheduled_by))
                pop["scheduled"] = {
                    "by": (getattr(by, "display_name", "") or getattr(by, "username", "")
                           or str(cb.scheduled_by)),
                    "at": cb.due_at, "notes": cb.notes}
        center.send_pop(placed.agent_id, pop, now)

    def _agent_call(self, placed: Placed, state: str) -> None:
        center = self.center
        info = {"call_id": placed.contact_id, "state": state, "at": center.now(),
                "queue": placed.callback.queue if placed.callback else None,
                "direction": placed.kind, "number": placed.number}
        center.agent_call[placed.agent_id] = info
        center._push(placed.agent_id, {"type": "call", **info})
