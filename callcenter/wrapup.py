"""After-call work and the screen-pop's customer choice, as console commands.

Commands (registered on the ``CallCenter``):

- ``wrapup`` ``{"call_id", "disposition", "notes", "callback": {"at", "number"} | null}``:
  the outcome of the agent's last call, saved onto its contact. Allowed only to the
  agent who handled the call, once their part of it has ended (during wrap-up or
  after it) and until they answer another call. Saving again replaces what was
  saved. Saving does not end the wrap-up: the agent stays in after-call work until
  they press "End wrap-up" (Ready), choose Not ready, or the wrap-up time runs out;
  so notes can still be corrected, and the time extended, after a first save.
- ``pick_customer`` ``{"call_id", "customer_id"}``: several customers share the
  caller's number; the agent says which one is calling. The contact is linked to
  that customer and the pop is pushed again with their card and recent contacts.
- ``create_customer`` ``{"call_id", "name", "company", "email", "phone", "notes"}``:
  the caller is unknown; a customer is created (phone: the caller's number unless
  another is given), the contact is linked to it and the pop shows the new card.

Per queue (``QueueSettings``): ``dispositions`` (the choices) and
``disposition_required``. A callback time is an ISO 8601 date and time; with an
offset (``2026-11-24T15:30:00+01:00``) it is exact, without one it is read in the
server's local time. It must be in the future; the number is normalized to E.164.

The checks (``check_wrapup``, ``check_new_customer``) are pure functions; the
``WrapUp`` class applies them to the call center's state and writes the results.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

from callcenter import events as ev
from crm_store.phones import normalize

log = Logger()

MAX_NOTES = 2000
MAX_CALLBACK_DAYS = 366
_LIVE_STATES = ("on_call", "on_hold")


class WrapupInvalid(ValueError):
    """What the agent sent cannot be saved; the message says why, for the agent."""


@dataclass(frozen=True)
class WrapupForm:
    """A checked wrap-up."""

    disposition: str
    notes: str
    callback_at: float | None = None
    callback_number: str | None = None

    def as_dict(self) -> dict[str, Any]:
        callback = None
        if self.callback_at is not None:
            callback = {"at": self.callback_at, "number": self.callback_number}
        return {"disposition": self.disposition, "notes": self.notes, "callback": callback}


def _text(args: dict, name: str) -> str:
    value = args.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise WrapupInvalid(f"{name} must be text")
    return value


def parse_callback_time(text: str) -> float:
    """Epoch seconds of an ISO 8601 date and time (server local time without offset)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise WrapupInvalid(f"callback time {text!r} is not a date and time") from None
    if when.tzinfo is None:
        when = when.astimezone()  # the server's local time
    return when.timestamp()


def check_wrapup(args: dict, *, dispositions, required: bool, now: float, region: str,
                 default_number: str = "") -> WrapupForm:
    """Check a ``wrapup`` command's arguments; ``WrapupInvalid`` says what is wrong."""
    disposition = _text(args, "disposition").strip()
    if not disposition:
        if required:
            raise WrapupInvalid("choose a disposition before saving the wrap-up")
    elif disposition not in dispositions:
        raise WrapupInvalid(f"unknown disposition {disposition!r} "
                            f"(choose one of: {', '.join(dispositions)})")
    notes = _text(args, "notes")
    if len(notes) > MAX_NOTES:
        raise WrapupInvalid(f"notes are too long: {len(notes)} characters "
                            f"(at most {MAX_NOTES})")
    callback = args.get("callback")
    if callback is None:
        return WrapupForm(disposition, notes)
    if not isinstance(callback, dict):
        raise WrapupInvalid("callback must be an object with 'at' and 'number'")
    at_text = _text(callback, "at")
    if not at_text.strip():
        raise WrapupInvalid("give the callback time")
    at = parse_callback_time(at_text)
    if at <= now:
        raise WrapupInvalid("the callback time must be in the future")
    if at > now + MAX_CALLBACK_DAYS * 86400:
        raise WrapupInvalid(f"the callback time must be within {MAX_CALLBACK_DAYS} days")
    raw = _text(callback, "number").strip() or default_number
    if not raw:
        raise WrapupInvalid("give the number to call back")
    number = normalize(raw, region)
    if number is None:
        raise WrapupInvalid(f"callback number {raw!r} is not a phone number")
    return WrapupForm(disposition, notes, at, number)


@dataclass(frozen=True)
class NewCustomer:
    """A checked ``create_customer``."""

    name: str
    company: str
    email: str
    notes: str
    phone: str  # E.164, or "" for none


def check_new_customer(args: dict, *, region: str, default_number: str = "") -> NewCustomer:
    """Check a ``create_customer`` command's arguments."""
    limits = {"name": 200, "company": 200, "email": 254, "notes": 10_000, "phone": 64}
    values = {}
    for name, limit in limits.items():
        value = _text(args, name).strip()
        if len(value) > limit:
            raise WrapupInvalid(f"{name} is too long (at most {limit} characters)")
        values[name] = value
    if not values["name"]:
        raise WrapupInvalid("give the customer's name")
    if values["email"] and ("@" not in values["email"] or " " in values["email"]):
        raise WrapupInvalid(f"{values['email']!r} is not an email address")
    raw = values["phone"] or default_number
    phone = ""
    if raw:
        phone = normalize(raw, region) or ""
        if not phone:
            raise WrapupInvalid(f"{raw!r} is not a phone number")
    return NewCustomer(values["name"], values["company"], values["email"], values["notes"],
                       phone)


@dataclass
class _LastCall:
    call_id: str
    queue: str | None
    caller_number: str
    saved: dict | None = None


class WrapUp:
    """The ``wrapup``, ``pick_customer`` and ``create_customer`` console commands."""

    def __init__(self, center):
        self.center = center
        self._last: dict[str, _LastCall] = {}  # agent id -> the last call they answered
        self._creating: set[str] = set()  # call ids whose customer is being created
        center.bus.subscribe(ev.AgentStateChanged, self.on_AgentStateChanged)
        center.register_command("wrapup", self.cmd_wrapup)
        center.register_command("pick_customer", self.cmd_pick_customer)
        center.register_command("create_customer", self.cmd_create_customer)

    # ------------------------------------------------------------------ state

    def on_AgentStateChanged(self, e: ev.AgentStateChanged) -> None:
        """Remember the call each agent last took, from the moment they are on it."""
        if e.state not in _LIVE_STATES or not e.call_id:
            return
        last = self._last.get(e.agent_id)
        if last is not None and last.call_id == e.call_id:
            return
        machine = self.center.router.agents.get(e.agent_id)
        call = self.center.calls.get(e.call_id)
        number = call.caller_number if call is not None else ""
        if not number:
            pop = self.center.pops.get(e.agent_id) or {}
            if pop.get("call_id") == e.call_id:
                number = pop.get("caller_number") or ""
        self._last[e.agent_id] = _LastCall(e.call_id, getattr(machine, "queue", None), number)

    def options(self, queue: str | None) -> tuple[tuple[str, ...], bool]:
        """The dispositions of ``queue`` and whether one is required (the defaults
        for a call outside any queue)."""
        from callcenter.settings import QueueSettings

        for q in self.center.settings.queues:
            if q.name == queue:
                return tuple(q.dispositions), q.disposition_required
        fields = QueueSettings.model_fields
        return (tuple(fields["dispositions"].default),
                bool(fields["disposition_required"].default))

    def push_fields(self, agent_id: str, call_id: str | None) -> dict[str, Any]:
        """What the ``agent_state`` push of a wrap-up carries for the form."""
        machine = self.center.router.agents.get(agent_id)
        dispositions, required = self.options(getattr(machine, "queue", None))
        return {"call_id": call_id, "dispositions": list(dispositions),
                "disposition_required": required}

    def _live(self, agent_id: str, call_id: str) -> bool:
        machine = self.center.router.agents.get(agent_id)
        return (machine is not None and machine.state.value in _LIVE_STATES
                and machine.call_id == call_id)

    def snapshot(self, agent_id: str) -> dict[str, Any] | None:
        """The call the agent may wrap up now, with the form's choices and what was
        saved already; None while they are on a call or have taken none."""
        last = self._last.get(agent_id)
        if last is None or self._live(agent_id, last.call_id):
            return None
        dispositions, required = self.options(last.queue)
        return {"call_id": last.call_id, "dispositions": list(dispositions),
                "disposition_required": required, "caller_number": last.caller_number,
                "saved": last.saved}

    # ------------------------------------------------------------------ commands

    def cmd_wrapup(self, key: str, args: dict, now: float) -> defer.Deferred:
        from agent_ui.backend import CommandRejected

        call_id = args.get("call_id")
        last = self._last.get(key)
        if last is None or not isinstance(call_id, str) or call_id != last.call_id:
            raise CommandRejected("only your last call can be wrapped up")
        if self._live(key, call_id):
            raise CommandRejected("the call is still going on: wrap it up once it has ended")
        dispositions, required = self.options(last.queue)
        try:
            form = check_wrapup(args, dispositions=dispositions, required=required, now=now,
                                region=self.center.settings.store.region,
                                default_number=last.caller_number)
        except WrapupInvalid as e:
            raise CommandRejected(str(e)) from None
        agent = self.center.agents[key]
        d = self.center._contact(call_id, "save_wrapup", call_id, agent_id=agent.id,
                                 disposition=form.disposition, notes=form.notes,
                                 callback_at=form.callback_at,
                                 callback_number=form.callback_number,
                                 transferred_from=True)  # _last says this agent took it

        def saved(record):
            if record is None:  # the failure was logged by _contact
                raise CommandRejected("the wrap-up could not be saved: please try again")
            last.saved = form.as_dict()
            self.center.outbound.wrapup_saved(key, record, form, last.queue)
            result = {"type": "wrapup_saved", "call_id": call_id, "saved": last.saved}
            self.center._push(key, result)
            return {"ok": True, "call_id": call_id, "saved": last.saved}

        return d.addCallback(saved)

    def _pop_for(self, key: str, args: dict) -> dict:
        from agent_ui.backend import CommandRejected

        pop = self.center.pops.get(key)
        call_id = args.get("call_id")
        if pop is None or not isinstance(call_id, str) or pop.get("call_id") != call_id:
            raise CommandRejected("that call is not on your screen")
        return pop

    def _show(self, key: str, pop: dict, card, recent) -> dict:
        """Link the contact to ``card`` and push the pop again showing it."""
        from callcenter.center import _card, recent_contact

        shown = _card(card)
        matches = list(pop.get("matches") or [])
        if not any(m.get("id") == shown["id"] for m in matches):
            matches.append(shown)
        new_pop = {**pop, "customer": shown, "matches": matches, "picked": shown["id"],
                   "recent_contacts": [recent_contact(c) for c in recent]}
        if self.center.pops.get(key) is pop:
            self.center.pops[key] = new_pop
            self.center._push(key, new_pop)
        return new_pop

    def cmd_pick_customer(self, key: str, args: dict, now: float) -> defer.Deferred:
        from agent_ui.backend import CommandRejected
        from crm_store.store import Store

        pop = self._pop_for(key, args)
        customer_id = args.get("customer_id")
        ids = [m.get("id") for m in pop.get("matches") or []]
        if isinstance(customer_id, bool) or not isinstance(customer_id, int) \
                or customer_id not in ids:
            raise CommandRejected(f"customer {customer_id!r} is not one of this caller's "
                                  "matches")
        call_id = pop["call_id"]
        self.center._contact(call_id, "update_contact", call_id, customer_id=customer_id)
        db = self.center.db

        @defer.inlineCallbacks
        def show():
            card = yield db.do(Store.customer, customer_id)
            if card is None:
                raise CommandRejected(f"customer {customer_id} no longer exists")
            recent = yield db.do(Store.recent_contacts, customer_id, limit=5)
            self._show(key, pop, card, recent)
            return {"ok": True, "call_id": call_id, "customer_id": customer_id}

        return show()

    def cmd_create_customer(self, key: str, args: dict, now: float) -> defer.Deferred:
        from agent_ui.backend import CommandRejected
        from crm_store.store import Store

        pop = self._pop_for(key, args)
        call_id = pop["call_id"]
        if pop.get("customer") or pop.get("matches"):
            raise CommandRejected("this caller already has a customer record")
        if call_id in self._creating:
            raise CommandRejected("the customer is being created")
        try:
            new = check_new_customer(args, region=self.center.settings.store.region,
                                     default_number=pop.get("caller_number") or "")
        except WrapupInvalid as e:
            raise CommandRejected(str(e)) from None
        db = self.center.db
        self._creating.add(call_id)

        @defer.inlineCallbacks
        def create():
            try:
                try:
                    customer_id = yield db.do(
                        Store.add_customer, name=new.name, company=new.company,
                        email=new.email, notes=new.notes,
                        phones=[(new.phone, "mobile")] if new.phone else [])
                except ValueError as e:
                    raise CommandRejected(str(e)) from None
                log.info("customer {customer_id} created by agent {agent} for call "
                         "{call_id}", customer_id=customer_id, agent=key, call_id=call_id)
                yield self.center._contact(call_id, "update_contact", call_id,
                                           customer_id=customer_id)
                card = yield db.do(Store.customer, customer_id)
                self._show(key, pop, card, ())
            finally:
                self._creating.discard(call_id)
            return {"ok": True, "call_id": call_id, "customer_id": customer_id}

        return create()

