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
        cb = Callback(callback_id, call.call_id, number, call.queue or "",
                      queued_at, now, lookup=call.lookup)
        self.callbacks[callback_id] = cb
        call.outcome = "callback_requested"
        customers = getattr(call.lookup, "customers", ()) or ()
        center._contact(callback_id, "open_contact", call_id=callback_id, direction="callback",
                        caller_number=number, arrived_at=now, parent_call_id=call.call_id,
                        customer_id=customers[0].id if customers else None)
        center._contact(callback_id, "update_contact", callback_id, queue=cb.queue,
                        queued_at=queued_at)
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
            self._originate(placed)

        d.addCallback(ready)
        d.addErrback(lambda f: log.failure("callback {call_id} not placed", f,
                                           call_id=cb.callback_id))

    def _settle_failed(self, callback_id: str, agent_id: str, status: str) -> None:
        """The customer did not answer: free the agent; retry or give up."""
        decisions = self.center.router.callback_failed(callback_id, agent_id,
                                                       self.center.now())
        rest = []
        for item in decisions:
            if isinstance(item, ev.CallbackRescheduled):
                log.info("callback {call_id}: attempt {n} not answered ({status}); next "
                         "attempt in {s:.0f} s", call_id=item.call_id, n=item.attempts,
                         status=status, s=item.due - item.at)
                self.center.bus.publish(item)
            elif isinstance(item, ev.CallbackGivenUp):
                log.info("callback {call_id}: given up after {n} attempts",
                         call_id=item.call_id, n=item.attempts)
                self.center.bus.publish(item)
                self.callbacks.pop(item.call_id, None)
                self.center._contact(item.call_id, "close_contact", item.call_id,
                                     ended_at=item.at, outcome="callback_failed")
            else:
                rest.append(item)
        self.center._apply(rest)

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
        from callcenter.center import _card

        recent = [{"arrived_at": c.arrived_at, "agent": c.agent, "queue": c.queue,
                   "outcome": c.outcome, "disposition": c.disposition, "notes": c.notes,
                   "direction": c.direction}
                  for c in (getattr(lookup, "recent_contacts", ()) or ())]
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
        center.pops[placed.agent_id] = pop
        sockets = center._push(placed.agent_id, pop)
        center.counters["screen_pops_sent"] += 1
        center.bus.publish(ev.ScreenPopSent(placed.agent_id, placed.contact_id, now, now,
                                            sockets))

    def _agent_call(self, placed: Placed, state: str) -> None:
        center = self.center
        info = {"call_id": placed.contact_id, "state": state, "at": center.now(),
                "queue": placed.callback.queue if placed.callback else None,
                "direction": placed.kind, "number": placed.number}
        center.agent_call[placed.agent_id] = info
        center._push(placed.agent_id, {"type": "call", **info})
