"""The CRM store facade: customers, caller lookup, the contact log, agents.

Plain synchronous SQLAlchemy. The server calls it from a thread pool, so every
public method opens and closes its own session and returns frozen dataclasses from
``records``. Times cross the API as float seconds since the epoch.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine, create_engine, event, func, or_, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker
from sqlalchemy.pool import StaticPool

from .models import (
    AGENT_ROLES,
    CALLBACK_STATUSES,
    CONTACT_DIRECTIONS,
    CONTACT_OUTCOMES,
    PHONE_KINDS,
    TIERS,
    Agent,
    AgentStateEntry,
    CallbackEntry,
    Contact,
    Customer,
    CustomerPhone,
)
from .phones import normalize
from .records import (
    AgentRecord,
    CallbackRecord,
    CallerLookup,
    ContactRecord,
    ContactSummary,
    CustomerCard,
    PinCheck,
)

__all__ = [
    "AgentExists",
    "AgentNotFound",
    "ContactNotFound",
    "CustomerNotFound",
    "NotContactAgent",
    "Store",
    "account_number_for",
    "contact_durations",
    "default_outcome",
    "make_engine",
    "normalize_skills",
]

log = logging.getLogger(__name__)

# OWASP's argon2id minimum: about 30 ms per hash, so seeding and logging in stay quick.
PASSWORD_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)

PhoneInput = str | tuple[str, str]

_CONTACT_FIELDS = frozenset(
    {
        "customer_id",
        "queue",
        "queued_at",
        "offered_at",
        "answered_at",
        "agent_id",
        "ivr",
        "caller_number",
        "disposition",
        "notes",
        "channel",
        "transferred_to",
    }
)
_CONTACT_TIMES = frozenset({"queued_at", "offered_at", "answered_at"})


class ContactNotFound(LookupError):
    """No contact has this call id (the caller asked about a call never opened)."""


class NotContactAgent(PermissionError):
    """An agent tried to wrap up a contact that another agent (or nobody) handled."""


class CustomerNotFound(LookupError):
    """No customer has this id."""


class AgentNotFound(LookupError):
    """No agent has this id."""


class AgentExists(ValueError):
    """An account with this username exists already."""


# --------------------------------------------------------------------------- engine


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create the engine for ``url``.

    SQLite: the file's directory is created, WAL journal, foreign keys on, usable
    from several threads (an in-memory database is one shared connection).
    PostgreSQL (``postgresql+psycopg://...``): connections are checked before use.
    Extra keyword arguments go to ``create_engine``.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(parsed, **kwargs)

    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    connect_args = {"check_same_thread": False, **kwargs.pop("connect_args", {})}
    if in_memory:
        kwargs.setdefault("poolclass", StaticPool)
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args=connect_args, **kwargs)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
    finally:
        cursor.close()


# --------------------------------------------------------------------------- rules


def default_outcome(direction: str, queued: Any, answered: Any) -> str:
    """The outcome of a call that ended without one being given: answered if an
    agent answered; otherwise abandoned in the queue if it was queued; an outbound
    call nobody answered is unanswered; an inbound one abandoned in the IVR."""
    if answered is not None:
        return "answered"
    if queued is not None:
        return "abandoned_in_queue"
    if direction in ("outbound", "callback"):
        return "unanswered"
    return "abandoned_in_ivr"


def contact_durations(
    queued: datetime | None, answered: datetime | None, ended: datetime
) -> tuple[float | None, float | None]:
    """``(wait_s, talk_s)``: wait is queued until answered (or until the end when
    never answered), None if never queued; talk is answered until the end, None if
    never answered. Clock skew never makes them negative."""
    wait = None
    if queued is not None:
        wait = max(0.0, ((answered or ended) - queued).total_seconds())
    talk = None
    if answered is not None:
        talk = max(0.0, (ended - answered).total_seconds())
    return wait, talk


def account_number_for(customer_id: int) -> str:
    """The account number given to a customer created without one: ``9`` and the
    zero-padded id, then two ISO 7064 mod 97-10 check digits (``9000-0023-xx``)."""
    digits = f"9{customer_id:07d}"
    check = 98 - (int(digits) * 100) % 97
    return f"{digits[:4]}-{digits[4:]}-{check:02d}"


def _dt(t: float | None) -> datetime | None:
    if t is None:
        return None
    return datetime.fromtimestamp(float(t), UTC)


def _ts(d: datetime | None) -> float | None:
    return None if d is None else d.timestamp()


# --------------------------------------------------------------------------- store


class Store:
    """Every CRM read and write the server needs."""

    def __init__(
        self, engine: Engine, *, region: str = "US", clock: Callable[[], float] = time.time
    ) -> None:
        self.engine = engine
        self.region = region
        self.clock = clock  # created_at and other stored times, PIN lockouts
        self._session = sessionmaker(engine, expire_on_commit=False)

    def create_schema(self) -> str:
        """Create the schema, or upgrade an existing one in place, with the migrations
        of ``crm_store/migrations``; return the revision the database is now at. A
        database made by the first release (no migrations yet) is recognised and
        upgraded. Safe to call on every start: an up-to-date database is left as is."""
        from .migrations import migrate

        return migrate(self.engine)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # ----------------------------------------------------------------- customers

    def add_customer(
        self,
        *,
        name: str,
        company: str = "",
        tier: str = "standard",
        email: str = "",
        notes: str = "",
        account_number: str | None = None,
        phones: Iterable[PhoneInput] = (),
    ) -> int:
        """Add a customer and return its id. ``phones`` are raw strings (kind
        ``mobile``) or ``(raw, kind)`` pairs; each must normalize to E.164. Without
        ``account_number`` one is made from the id."""
        if tier not in TIERS:
            raise ValueError(f"tier {tier!r} is not one of {', '.join(TIERS)}")
        phone_rows = [self._phone_row(p) for p in phones]
        try:
            with self._session.begin() as s:
                row = Customer(
                    account_number=account_number or "pending-" + secrets.token_hex(8),
                    name=name,
                    company=company,
                    tier=tier,
                    email=email,
                    notes=notes,
                    created_at=self._now(),
                    phones=phone_rows,
                )
                s.add(row)
                s.flush()
                if account_number is None:
                    row.account_number = account_number_for(row.id)
                return row.id
        except IntegrityError as e:
            raise ValueError(f"account number {account_number!r} already exists") from e

    def _phone_row(self, phone: PhoneInput) -> CustomerPhone:
        raw, kind = (phone, "mobile") if isinstance(phone, str) else phone
        if kind not in PHONE_KINDS:
            raise ValueError(f"phone kind {kind!r} is not one of {', '.join(PHONE_KINDS)}")
        e164 = normalize(raw, self.region)
        if e164 is None:
            raise ValueError(f"{raw!r} is not a phone number")
        return CustomerPhone(e164=e164, raw=raw, kind=kind)

    def lookup_caller(self, raw_number: str, *, recent: int = 5) -> CallerLookup:
        """Who calls from ``raw_number``: every customer with that number (oldest
        customer first) and the ``recent`` newest closed contacts of the first."""
        e164 = normalize(raw_number, self.region)
        if e164 is None:
            return CallerLookup(number=raw_number, e164=None)
        with self._session() as s:
            owners = select(CustomerPhone.customer_id).where(CustomerPhone.e164 == e164)
            rows = s.scalars(
                select(Customer)
                .where(Customer.id.in_(owners))
                .options(selectinload(Customer.phones))
                .order_by(Customer.id)
            ).all()
            cards = tuple(_card(c) for c in rows)
            history: tuple[ContactSummary, ...] = ()
            if cards and recent > 0:
                history = _recent_contacts(s, cards[0].id, recent)
        return CallerLookup(
            number=raw_number, e164=e164, customers=cards, recent_contacts=history
        )

    def customer(self, customer_id: int) -> CustomerCard | None:
        with self._session() as s:
            row = s.get(Customer, customer_id, options=[selectinload(Customer.phones)])
            return None if row is None else _card(row)

    def customer_by_account(self, account_number: str) -> CustomerCard | None:
        """The customer with this account number (as written, or its digits only, as
        keyed in the IVR), or None."""
        with self._session() as s:
            row = _customer_by_account(s, account_number)
            return None if row is None else _card(row)

    def set_account_pin(self, account_number: str, pin: str) -> None:
        """Set the telephone PIN (4 to 12 digits) of the customer with this account
        number (as written, or its digits only, as keyed in the IVR). Only an argon2
        hash is kept. ValueError for a malformed PIN, CustomerNotFound for no such
        account; neither message holds the PIN."""
        if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12):
            raise ValueError("a PIN must be 4 to 12 digits")
        digest = PASSWORD_HASHER.hash(pin)
        with self._session.begin() as s:
            row = _customer_by_account(s, account_number)
            if row is None:
                raise CustomerNotFound(f"no customer with account number {account_number!r}")
            row.pin_hash = digest
            # A new PIN (set once the customer has been identified otherwise) lifts a lock.
            row.pin_failures = None
            row.pin_locked_until = None

    def verify_account_pin(
        self,
        account_number: str,
        pin: str,
        *,
        max_failures: int = 5,
        lock_minutes: float = 15.0,
    ) -> PinCheck:
        """Check ``pin`` against the PIN of this account (as written, or its digits
        only): ``ok``, ``wrong`` or ``locked`` (a ``PinCheck``, true only when ok).

        Wrong PINs are counted per account across calls: the ``max_failures``-th in a
        row locks PIN checks for ``lock_minutes`` (that attempt already answers
        ``locked``); while locked even the right PIN is refused. Once the lock runs
        out the count stays, so the next wrong PIN locks again at once; the right PIN
        (or a new one, ``set_account_pin``) clears it. An unknown account, one
        without a PIN or a locked one costs one hash check too, so timing does not
        tell which accounts exist. Warnings name the customer id, never the PIN."""
        now = self._now()
        with self._session() as s:
            row = _customer_by_account(s, account_number)
            stored = None if row is None else row.pin_hash
            if row is not None:
                customer_id, failures = row.id, row.pin_failures or 0
                locked_until = row.pin_locked_until
        if not stored:
            _burn_one_verify(pin)
            return PinCheck("wrong")
        if locked_until is not None and locked_until > now:
            _burn_one_verify(pin)
            log.warning("customer %d: PIN check refused, locked after too many wrong PINs",
                        customer_id)
            return PinCheck("locked", locked_until.timestamp())
        try:
            right = PASSWORD_HASHER.verify(stored, pin)
        except VerifyMismatchError:
            right = False
        except (VerificationError, InvalidHashError):
            log.warning("an account has an unreadable PIN hash; PIN refused")
            return PinCheck("wrong")
        if right:
            if failures or locked_until is not None:
                with self._session.begin() as s:
                    s.execute(update(Customer).where(Customer.id == customer_id)
                              .values(pin_failures=None, pin_locked_until=None))
            return PinCheck("ok")
        return self._count_wrong_pin(customer_id, now, max_failures, lock_minutes)

    def _count_wrong_pin(
        self, customer_id: int, now: datetime, max_failures: int, lock_minutes: float
    ) -> PinCheck:
        """Add one wrong PIN to the customer's count (one UPDATE, so concurrent calls
        each count) and lock the account when the count reaches ``max_failures``."""
        with self._session.begin() as s:
            s.execute(update(Customer).where(Customer.id == customer_id)
                      .values(pin_failures=func.coalesce(Customer.pin_failures, 0) + 1))
            failures = s.scalar(select(Customer.pin_failures)
                                .where(Customer.id == customer_id)) or 0
            if failures < max_failures:
                return PinCheck("wrong")
            until = now + timedelta(minutes=lock_minutes)
            s.execute(update(Customer).where(Customer.id == customer_id)
                      .values(pin_locked_until=until))
        log.warning("customer %d: PIN checks locked for %g min after %d wrong PINs in a row",
                    customer_id, lock_minutes, failures)
        return PinCheck("locked", until.timestamp())

    def recent_contacts(self, customer_id: int, *, limit: int = 5) -> list[ContactSummary]:
        """The ``limit`` newest closed contacts of a customer, newest first."""
        with self._session() as s:
            return list(_recent_contacts(s, customer_id, limit))

    def count_customers(self) -> int:
        with self._session() as s:
            return s.scalar(select(func.count()).select_from(Customer)) or 0

    def search_customers(self, query: str, *, limit: int = 25) -> list[CustomerCard]:
        """Customers whose name or company contains ``query`` (any case), whose
        account number starts with it, or who have a phone that is this number (any
        format) or whose digits contain the digits typed (4 or more). By name."""
        text = (query or "").strip()[:100]
        if not text or limit <= 0:
            return []
        pattern = "%" + _like_escape(text.lower()) + "%"
        matches = [
            func.lower(Customer.name).like(pattern, escape="\\"),
            func.lower(Customer.company).like(pattern, escape="\\"),
            func.lower(Customer.account_number).like(
                _like_escape(text.lower()) + "%", escape="\\"
            ),
        ]
        phone_owners = []
        e164 = normalize(text, self.region)
        if e164 is not None:
            phone_owners.append(CustomerPhone.e164 == e164)
        digits = "".join(ch for ch in text if ch.isdigit())
        if len(digits) >= 4 and len(digits) >= len(text.replace(" ", "")) - 4:
            phone_owners.append(CustomerPhone.e164.like("%" + digits + "%"))
        if phone_owners:
            owners = select(CustomerPhone.customer_id).where(or_(*phone_owners))
            matches.append(Customer.id.in_(owners))
        with self._session() as s:
            rows = s.scalars(
                select(Customer)
                .where(or_(*matches))
                .options(selectinload(Customer.phones))
                .order_by(Customer.name, Customer.id)
                .limit(limit)
            ).all()
            return [_card(r) for r in rows]

    def update_customer(
        self,
        customer_id: int,
        *,
        name: str | None = None,
        company: str | None = None,
        tier: str | None = None,
        email: str | None = None,
        notes: str | None = None,
        phones: Iterable[PhoneInput] | None = None,
    ) -> CustomerCard:
        """Change the fields given (``phones`` replaces every phone) and return the
        new card. ValueError names a bad value; CustomerNotFound a missing id."""
        if name is not None and not name.strip():
            raise ValueError("name must not be empty")
        if tier is not None and tier not in TIERS:
            raise ValueError(f"tier {tier!r} is not one of {', '.join(TIERS)}")
        if email is not None and email.strip() and "@" not in email:
            raise ValueError(f"email {email!r} has no @")
        phone_rows = None if phones is None else [self._phone_row(p) for p in phones]
        with self._session.begin() as s:
            row = s.get(
                Customer, customer_id, options=[selectinload(Customer.phones)], with_for_update=True
            )
            if row is None:
                raise CustomerNotFound(f"no customer with id {customer_id}")
            for field_name, value in (
                ("name", name),
                ("company", company),
                ("tier", tier),
                ("email", email),
                ("notes", notes),
            ):
                if value is not None:
                    setattr(row, field_name, value.strip() if field_name != "notes" else value)
            if phone_rows is not None:
                kept = {(p.e164, p.kind): p for p in row.phones}
                row.phones = [kept.get((p.e164, p.kind), p) for p in phone_rows]
            s.flush()
            return _card(row)

    def contact_history(self, customer_id: int, *, limit: int = 200) -> list[ContactSummary]:
        """Every contact of a customer, open ones too, newest first (at most ``limit``)."""
        with self._session() as s:
            return list(_recent_contacts(s, customer_id, limit, closed_only=False))

    # ------------------------------------------------------------------ contacts

    def open_contact(
        self,
        *,
        call_id: str,
        direction: str,
        caller_number: str,
        arrived_at: float,
        channel: str = "",
        dnis: str = "",
        parent_call_id: str | None = None,
        customer_id: int | None = None,
        agent_id: int | None = None,
    ) -> ContactRecord:
        """Write the contact row of a call that just arrived (or that we place:
        ``outbound``, or ``callback`` with the ``parent_call_id`` it was asked from).
        Opening a call id that already has a row returns that row unchanged."""
        if direction not in CONTACT_DIRECTIONS:
            raise ValueError(
                f"direction {direction!r} is not one of {', '.join(CONTACT_DIRECTIONS)}"
            )
        existing = self.contact(call_id)
        if existing is not None:
            return existing
        try:
            with self._session.begin() as s:
                row = Contact(
                    call_id=call_id,
                    direction=direction,
                    channel=channel,
                    caller_number=caller_number,
                    caller_e164=normalize(caller_number, self.region),
                    dnis=dnis,
                    parent_call_id=parent_call_id,
                    customer_id=customer_id,
                    agent_id=agent_id,
                    arrived_at=_dt(arrived_at),
                    queue="",
                    ivr="[]",
                    status="open",
                    disposition="",
                    notes="",
                )
                s.add(row)
                s.flush()
                return _contact_record(row)
        except IntegrityError:
            # Opened by another thread between our read and our insert.
            existing = self.contact(call_id)
            if existing is None:
                raise
            return existing

    def update_contact(self, call_id: str, **fields: Any) -> None:
        """Set fields of a contact: ``customer_id``, ``queue``, ``queued_at``,
        ``offered_at``, ``answered_at`` (epoch seconds), ``agent_id``, ``ivr`` (a list
        of dicts), ``caller_number``, ``disposition``, ``notes``, ``channel``.
        The times of a closed contact are final."""
        unknown = sorted(set(fields) - _CONTACT_FIELDS)
        if unknown:
            raise ValueError(f"unknown contact field(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, value in fields.items():
            if name in _CONTACT_TIMES:
                values[name] = _dt(value)
            elif name == "ivr":
                values[name] = _ivr_json(call_id, value)
            elif name == "caller_number":
                values[name] = value
                values["caller_e164"] = normalize(value, self.region)
            else:
                values[name] = value
        try:
            with self._session.begin() as s:
                row = _locked_contact(s, call_id)
                if row.status == "closed" and _CONTACT_TIMES & fields.keys():
                    raise ValueError(
                        f"contact {call_id!r} is closed: its times are final "
                        f"({', '.join(sorted(_CONTACT_TIMES & fields.keys()))})"
                    )
                for name, value in values.items():
                    setattr(row, name, value)
        except IntegrityError as e:
            raise ValueError(
                f"contact {call_id!r}: no such customer or agent "
                f"(customer_id={fields.get('customer_id')!r}, agent_id={fields.get('agent_id')!r})"
            ) from e

    def close_contact(
        self, call_id: str, *, ended_at: float, outcome: str | None = None
    ) -> ContactRecord:
        """Complete a contact when its call ends: outcome (computed when not given,
        see ``default_outcome``), wait and talk seconds. Closing twice keeps the
        first close."""
        if outcome is not None and outcome not in CONTACT_OUTCOMES:
            raise ValueError(f"outcome {outcome!r} is not one of {', '.join(CONTACT_OUTCOMES)}")
        ended = _dt(ended_at)
        assert ended is not None
        with self._session.begin() as s:
            row = _locked_contact(s, call_id)
            if row.status != "closed":
                row.ended_at = ended
                row.outcome = outcome or default_outcome(
                    row.direction, row.queued_at, row.answered_at
                )
                row.wait_s, row.talk_s = contact_durations(row.queued_at, row.answered_at, ended)
                row.status = "closed"
                s.flush()
            return _contact_record(row)

    def contact(self, call_id: str) -> ContactRecord | None:
        with self._session() as s:
            row = s.scalar(select(Contact).where(Contact.call_id == call_id))
            return None if row is None else _contact_record(row)

    def open_contacts(self) -> list[ContactRecord]:
        """Contacts not closed yet, oldest first (after a restart: calls to settle)."""
        with self._session() as s:
            rows = s.scalars(
                select(Contact)
                .where(Contact.status == "open")
                .order_by(Contact.arrived_at, Contact.id)
            ).all()
            return [_contact_record(r) for r in rows]

    def count_contacts(self, *, since: float | None = None) -> int:
        """How many contacts there are (arrived at or after ``since``, if given)."""
        query = select(func.count()).select_from(Contact)
        if since is not None:
            query = query.where(Contact.arrived_at >= _dt(since))
        with self._session() as s:
            return s.scalar(query) or 0

    def save_wrapup(
        self,
        call_id: str,
        *,
        agent_id: int,
        disposition: str,
        notes: str,
        callback_at: float | None = None,
        callback_number: str | None = None,
        transferred_from: bool = False,
    ) -> ContactRecord:
        """Save the disposition and notes of a contact, and the callback promised
        (epoch seconds and number; None for none); only its agent may, or, once the
        contact was transferred, the agent who transferred it (``transferred_from``:
        the core saw that agent on the call). Saving again replaces what was saved.
        Returns the contact as saved."""
        with self._session.begin() as s:
            row = _locked_contact(s, call_id)
            before_transfer = transferred_from and row.transferred_to is not None
            if (row.agent_id is None or row.agent_id != agent_id) and not before_transfer:
                raise NotContactAgent(
                    f"agent {agent_id} did not handle contact {call_id!r} "
                    f"(its agent is {row.agent_id})"
                )
            row.disposition = disposition
            row.notes = notes
            row.callback_at = _dt(callback_at)
            row.callback_number = callback_number if callback_at is not None else None
            s.flush()
            return _contact_record(row)

    # ----------------------------------------------------------------- callbacks

    def add_callback(
        self,
        *,
        call_id: str,
        number: str,
        queue: str,
        queued_at: float,
        parent_call_id: str | None = None,
        customer_id: int | None = None,
        priority: int = 0,
        skills: str = "",
        due_at: float | None = None,
        scheduled_by: int | None = None,
        notes: str = "",
    ) -> CallbackRecord:
        """Write a pending callback (see ``CallbackEntry``). Adding a call id that has
        a row already returns that row unchanged."""
        with self._session.begin() as s:
            row = s.scalar(select(CallbackEntry).where(CallbackEntry.call_id == call_id))
            if row is None:
                row = self._callback_row(
                    call_id=call_id, number=number, queue=queue, queued_at=queued_at,
                    parent_call_id=parent_call_id, customer_id=customer_id,
                    priority=priority, skills=skills, due_at=due_at,
                    scheduled_by=scheduled_by, notes=notes)
                s.add(row)
                s.flush()
            return _callback_record(row)

    def schedule_callback(
        self, parent_call_id: str, *, call_id: str | None, **fields: Any
    ) -> list[str]:
        """The wrap-up of ``parent_call_id`` promises a callback (``call_id`` and the
        fields of ``add_callback``), or none (``call_id`` None). In one transaction, the
        callbacks scheduled on that call before and still pending are cancelled and
        the new one is written. Returns the call ids of the cancelled callbacks."""
        with self._session.begin() as s:
            rows = s.scalars(
                select(CallbackEntry)
                .where(CallbackEntry.parent_call_id == parent_call_id,
                       CallbackEntry.scheduled_by.is_not(None),
                       CallbackEntry.status == "pending")
                .with_for_update()
            ).all()
            now = self._now()
            for row in rows:
                row.status = "cancelled"
                row.last_result = "replaced at wrap-up"
                row.updated_at = now
            if call_id is not None:
                s.add(self._callback_row(call_id=call_id, parent_call_id=parent_call_id,
                                         **fields))
            return [row.call_id for row in rows]

    def _callback_row(self, *, call_id: str, number: str, queue: str, queued_at: float,
                      parent_call_id: str | None = None, customer_id: int | None = None,
                      priority: int = 0, skills: str = "", due_at: float | None = None,
                      scheduled_by: int | None = None, notes: str = "") -> CallbackEntry:
        if not number:
            raise ValueError(f"callback {call_id!r}: no number to call")
        now = self._now()
        return CallbackEntry(
            call_id=call_id, parent_call_id=parent_call_id, number=number,
            customer_id=customer_id, queue=queue, priority=int(priority),
            skills=skills or "", queued_at=_dt(queued_at), due_at=_dt(due_at), attempts=0,
            status="pending", last_result="", scheduled_by=scheduled_by, notes=notes or "",
            created_at=now, updated_at=now)

    def update_callback(self, call_id: str, **fields: Any) -> CallbackRecord:
        """Record an attempt or an outcome: ``status`` (one of ``CALLBACK_STATUSES``),
        ``attempts``, ``due_at`` (epoch seconds or None), ``last_result``."""
        unknown = sorted(set(fields) - {"status", "attempts", "due_at", "last_result"})
        if unknown:
            raise ValueError(f"unknown callback field(s): {', '.join(unknown)}")
        status = fields.get("status")
        if status is not None and status not in CALLBACK_STATUSES:
            raise ValueError(
                f"callback status {status!r} is not one of {', '.join(CALLBACK_STATUSES)}")
        with self._session.begin() as s:
            row = s.scalar(select(CallbackEntry).where(CallbackEntry.call_id == call_id)
                           .with_for_update())
            if row is None:
                raise LookupError(f"no callback with call id {call_id!r}")
            for name, value in fields.items():
                if name == "due_at":
                    value = _dt(value)
                elif name == "attempts":
                    value = int(value)
                elif name == "last_result":
                    value = str(value)[:32]
                setattr(row, name, value)
            row.updated_at = self._now()
            s.flush()
            return _callback_record(row)

    def callback(self, call_id: str) -> CallbackRecord | None:
        with self._session() as s:
            row = s.scalar(select(CallbackEntry).where(CallbackEntry.call_id == call_id))
            return None if row is None else _callback_record(row)

    def pending_callbacks(self) -> list[CallbackRecord]:
        """Callbacks still to be placed (``pending``, or ``dialling`` when the server
        stopped during an attempt), in their order in the queues (oldest place first)."""
        with self._session() as s:
            rows = s.scalars(
                select(CallbackEntry)
                .where(CallbackEntry.status.in_(("pending", "dialling")))
                .order_by(CallbackEntry.queued_at, CallbackEntry.id)
            ).all()
            return [_callback_record(r) for r in rows]

    # ----------------------------------------------------------- agent state log

    def log_agent_states(self, entries: Iterable[tuple]) -> int:
        """Append agent state transitions: ``(agent_id, at, state, previous, reason,
        call_id)`` tuples, ``at`` in epoch seconds. Returns how many were written."""
        rows = [AgentStateEntry(agent_id=int(agent_id), at=_dt(at), state=state,
                                previous=previous or "", reason=reason or "",
                                call_id=call_id)
                for agent_id, at, state, previous, reason, call_id in entries]
        if not rows:
            return 0
        with self._session.begin() as s:
            s.add_all(rows)
        return len(rows)

    def agent_state_log(self, agent_id: int | None = None, *, since: float | None = None,
                        limit: int = 10_000) -> list[dict[str, Any]]:
        """Logged transitions, oldest first: dicts with ``agent_id``, ``at`` (epoch
        seconds), ``state``, ``previous``, ``reason``, ``call_id``."""
        query = select(AgentStateEntry).order_by(AgentStateEntry.at, AgentStateEntry.id)
        if agent_id is not None:
            query = query.where(AgentStateEntry.agent_id == int(agent_id))
        if since is not None:
            query = query.where(AgentStateEntry.at >= _dt(since))
        with self._session() as s:
            rows = s.scalars(query.limit(limit)).all()
            return [{"agent_id": r.agent_id, "at": _ts(r.at), "state": r.state,
                     "previous": r.previous, "reason": r.reason, "call_id": r.call_id}
                    for r in rows]

    # -------------------------------------------------------------------- agents

    def add_agent(
        self,
        *,
        username: str,
        password: str,
        display_name: str = "",
        role: str = "agent",
        extension: str = "",
        interface: str = "",
        skills: str = "",
    ) -> AgentRecord:
        """Create an agent, or update the one with this username (password
        re-hashed), so seeding twice gives the same accounts."""
        if role not in AGENT_ROLES:
            raise ValueError(f"role {role!r} is not one of {', '.join(AGENT_ROLES)}")
        if not username:
            raise ValueError("username must not be empty")
        if not password:
            raise ValueError(f"agent {username!r}: password must not be empty")
        values = {
            "display_name": display_name,
            "password_hash": PASSWORD_HASHER.hash(password),
            "role": role,
            "extension": extension,
            "interface": interface,
            "skills": skills,
        }
        for attempt in range(2):
            try:
                with self._session.begin() as s:
                    row = s.scalar(select(Agent).where(Agent.username == username))
                    if row is None:
                        row = Agent(username=username, created_at=self._now(), **values)
                        s.add(row)
                    else:
                        for name, value in values.items():
                            setattr(row, name, value)
                    s.flush()
                    return _agent_record(row)
            except IntegrityError:
                # Created by another thread at the same moment: update it instead.
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def create_agent(
        self,
        *,
        username: str,
        password: str,
        display_name: str = "",
        role: str = "agent",
        extension: str = "",
        interface: str = "",
        skills: str = "",
    ) -> AgentRecord:
        """Create a new account; AgentExists when the username is taken. Skills are
        checked and written in one form (``lang_es:5,support:4``)."""
        username = username.strip()
        if not username or len(username) > 64 or any(ch.isspace() for ch in username):
            raise ValueError(f"username {username!r} must be 1 to 64 characters, no spaces")
        if role not in AGENT_ROLES:
            raise ValueError(f"role {role!r} is not one of {', '.join(AGENT_ROLES)}")
        if not password:
            raise ValueError(f"agent {username!r}: password must not be empty")
        skills = normalize_skills(skills)
        try:
            with self._session.begin() as s:
                if s.scalar(select(Agent.id).where(Agent.username == username)) is not None:
                    raise AgentExists(f"username {username!r} is taken")
                row = Agent(
                    username=username,
                    display_name=display_name.strip(),
                    password_hash=PASSWORD_HASHER.hash(password),
                    role=role,
                    extension=extension.strip(),
                    interface=interface.strip(),
                    skills=skills,
                    created_at=self._now(),
                )
                s.add(row)
                s.flush()
                return _agent_record(row)
        except IntegrityError as e:
            raise AgentExists(f"username {username!r} is taken") from e

    def set_agent_role(self, agent_id: int, role: str) -> AgentRecord:
        """Give an account another role."""
        if role not in AGENT_ROLES:
            raise ValueError(f"role {role!r} is not one of {', '.join(AGENT_ROLES)}")
        with self._session.begin() as s:
            row = s.get(Agent, agent_id, with_for_update=True)
            if row is None:
                raise AgentNotFound(f"no agent with id {agent_id}")
            row.role = role
            s.flush()
            return _agent_record(row)

    def authenticate(self, username: str, password: str) -> AgentRecord | None:
        """The agent if the password is right, else None. Unknown users cost one
        hash check too, so timing does not tell which usernames exist."""
        with self._session() as s:
            row = s.scalar(select(Agent).where(Agent.username == username))
            record = None if row is None else _agent_record(row)
            stored = None if row is None else row.password_hash
        if record is None or stored is None:
            _burn_one_verify(password)
            return None
        try:
            PASSWORD_HASHER.verify(stored, password)
        except VerifyMismatchError:
            return None
        except (VerificationError, InvalidHashError):
            log.warning("agent %r has an unreadable password hash; login refused", username)
            return None
        if PASSWORD_HASHER.check_needs_rehash(stored):
            with self._session.begin() as s:
                row = s.get(Agent, record.id)
                if row is not None:
                    row.password_hash = PASSWORD_HASHER.hash(password)
        return record

    def agent(self, agent_id: int) -> AgentRecord | None:
        with self._session() as s:
            row = s.get(Agent, agent_id)
            return None if row is None else _agent_record(row)

    def agent_by_username(self, username: str) -> AgentRecord | None:
        with self._session() as s:
            row = s.scalar(select(Agent).where(Agent.username == username))
            return None if row is None else _agent_record(row)

    def agents(self) -> list[AgentRecord]:
        """Every agent, in the order they were created."""
        with self._session() as s:
            return [_agent_record(r) for r in s.scalars(select(Agent).order_by(Agent.id))]


# --------------------------------------------------------------------------- rows → records


@cache
def _dummy_hash() -> str:
    return PASSWORD_HASHER.hash(secrets.token_hex(16))


def _customer_by_account(s: Session, account_number: str) -> Customer | None:
    """The customer with this account number as written (``1815-1210-00``) or as
    keyed on a phone, digits only (``1815121000``)."""
    wanted = account_number.strip()
    if not wanted:
        return None
    row = s.scalar(select(Customer).where(Customer.account_number == wanted))
    if row is None and wanted.isdigit():
        row = s.scalar(select(Customer).where(
            func.replace(Customer.account_number, "-", "") == wanted).order_by(Customer.id))
    return row


def _burn_one_verify(password: str) -> None:
    try:
        PASSWORD_HASHER.verify(_dummy_hash(), password)
    except VerificationError:
        pass


def _locked_contact(s: Session, call_id: str) -> Contact:
    row = s.scalar(select(Contact).where(Contact.call_id == call_id).with_for_update())
    if row is None:
        raise ContactNotFound(f"no contact with call id {call_id!r}")
    return row


def _recent_contacts(
    s: Session, customer_id: int, limit: int, *, closed_only: bool = True
) -> tuple[ContactSummary, ...]:
    query = (
        select(Contact, Agent.display_name, Agent.username)
        .outerjoin(Agent, Contact.agent_id == Agent.id)
        .where(Contact.customer_id == customer_id)
    )
    if closed_only:
        query = query.where(Contact.status == "closed")
    rows = s.execute(
        query.order_by(Contact.arrived_at.desc(), Contact.id.desc())
        .limit(limit)
    ).all()
    return tuple(
        ContactSummary(
            call_id=c.call_id,
            direction=c.direction,
            arrived_at=c.arrived_at.timestamp(),
            agent=display_name or username or "",
            queue=c.queue,
            outcome=c.outcome,
            disposition=c.disposition,
            notes=c.notes,
            talk_s=c.talk_s,
            status=c.status,
            wait_s=c.wait_s,
            caller_number=c.caller_number,
        )
        for c, display_name, username in rows
    )


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def normalize_skills(text: str) -> str:
    """``"support:4, lang_es"`` -> ``"lang_es:1,support:4"``: word names, levels 1..5;
    ValueError names a bad entry."""
    out: dict[str, int] = {}
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        name, _, level = part.partition(":")
        name = name.strip()
        if not name or not name.replace("_", "").replace("-", "").isalnum() or len(name) > 32:
            raise ValueError(f"skill name {name!r} is not a word")
        try:
            value = int(level) if level.strip() else 1
        except ValueError:
            raise ValueError(f"skill {part!r}: proficiency must be a number") from None
        if not 1 <= value <= 5:
            raise ValueError(f"skill {name}: proficiency {value} is not between 1 and 5")
        out[name] = value
    return ",".join(f"{name}:{level}" for name, level in sorted(out.items()))


def _card(row: Customer) -> CustomerCard:
    return CustomerCard(
        id=row.id,
        account_number=row.account_number,
        name=row.name,
        company=row.company,
        tier=row.tier,
        email=row.email,
        notes=row.notes,
        phones=tuple(p.e164 for p in row.phones),
        phone_kinds=tuple(p.kind for p in row.phones),
    )


def _ivr_json(call_id: str, steps: Any) -> str:
    if steps is None:
        steps = []
    if not isinstance(steps, list | tuple) or not all(isinstance(s, dict) for s in steps):
        raise ValueError(f"contact {call_id!r}: ivr must be a list of dicts, not {steps!r}")
    try:
        return json.dumps(list(steps), separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise ValueError(f"contact {call_id!r}: ivr steps are not JSON-serializable: {e}") from e


def _ivr_steps(text: str | None, call_id: str) -> tuple[dict[str, Any], ...]:
    try:
        steps = json.loads(text or "[]")
    except ValueError:
        log.warning("contact %r: IVR steps are not JSON; shown as none", call_id)
        return ()
    if not isinstance(steps, list):
        log.warning("contact %r: IVR steps are not a list; shown as none", call_id)
        return ()
    return tuple(step if isinstance(step, dict) else {"value": step} for step in steps)


def _contact_record(row: Contact) -> ContactRecord:
    return ContactRecord(
        id=row.id,
        call_id=row.call_id,
        direction=row.direction,
        channel=row.channel,
        caller_number=row.caller_number,
        caller_e164=row.caller_e164,
        dnis=row.dnis,
        customer_id=row.customer_id,
        arrived_at=row.arrived_at.timestamp(),
        queued_at=_ts(row.queued_at),
        offered_at=_ts(row.offered_at),
        answered_at=_ts(row.answered_at),
        ended_at=_ts(row.ended_at),
        queue=row.queue,
        transferred_to=row.transferred_to,
        agent_id=row.agent_id,
        ivr=_ivr_steps(row.ivr, row.call_id),
        outcome=row.outcome,
        status=row.status,
        wait_s=row.wait_s,
        talk_s=row.talk_s,
        disposition=row.disposition,
        notes=row.notes,
        parent_call_id=row.parent_call_id,
        callback_at=_ts(row.callback_at),
        callback_number=row.callback_number,
    )


def _callback_record(row: CallbackEntry) -> CallbackRecord:
    return CallbackRecord(
        id=row.id,
        call_id=row.call_id,
        parent_call_id=row.parent_call_id,
        number=row.number,
        customer_id=row.customer_id,
        queue=row.queue,
        priority=row.priority,
        skills=row.skills,
        queued_at=row.queued_at.timestamp(),
        due_at=_ts(row.due_at),
        attempts=row.attempts,
        status=row.status,
        last_result=row.last_result,
        scheduled_by=row.scheduled_by,
        notes=row.notes,
        created_at=row.created_at.timestamp(),
        updated_at=row.updated_at.timestamp(),
    )


def _agent_record(row: Agent) -> AgentRecord:
    return AgentRecord(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        extension=row.extension,
        interface=row.interface,
        skills=row.skills,
    )
