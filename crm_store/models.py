"""Tables of the CRM store: customers and their phones, agents, and one contact row
per call.

Types work on SQLite and PostgreSQL alike. Datetimes are stored in UTC and always
read back timezone-aware (SQLite keeps no zone, so it is put back on read).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

__all__ = [
    "AGENT_ROLES",
    "Agent",
    "AgentStateEntry",
    "Base",
    "CALLBACK_STATUSES",
    "CallbackEntry",
    "CONTACT_DIRECTIONS",
    "CONTACT_OUTCOMES",
    "CONTACT_STATUSES",
    "Contact",
    "Customer",
    "CustomerPhone",
    "PHONE_KINDS",
    "TIERS",
    "UTCDateTime",
]

TIERS = ("standard", "gold", "vip")
PHONE_KINDS = ("mobile", "work", "home")
AGENT_ROLES = ("agent", "supervisor", "admin")
CONTACT_DIRECTIONS = ("inbound", "outbound", "callback")
CONTACT_STATUSES = ("open", "closed")
CONTACT_OUTCOMES = (
    "answered",
    "abandoned_in_queue",
    "abandoned_in_ivr",
    "unanswered",
    "lost_during_disconnect",
    "callback_requested",  # the caller asked to be called back (see the callback contact)
    "callback_failed",  # a callback whose customer never answered
    "voicemail",  # the IVR took a message (after hours, or by the caller's choice)
    "transferred_out",  # the IVR sent the call to an outside number (transferred_to)
    "completed_in_ivr",  # the flow ended the call itself (a message, self-service)
    "callback_cancelled",  # a scheduled callback replaced or withdrawn at wrap-up
)
# pending: waiting for its turn or its time; dialling: an attempt is under way;
# done: the customer answered; failed: given up after the last attempt; cancelled:
# replaced or withdrawn by a later wrap-up.
CALLBACK_STATUSES = ("pending", "dialling", "done", "failed", "cancelled")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend. Naive datetimes are refused
    on write: a time without a zone is a bug upstream."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware UTC datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_number: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    company: Mapped[str] = mapped_column(String(200), default="")
    tier: Mapped[str] = mapped_column(String(16), default="standard")
    email: Mapped[str] = mapped_column(String(254), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # argon2 hash of the telephone PIN checked by the IVR (None: no PIN set).
    pin_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Wrong PINs in a row since the last right one (None: none yet), and the time until
    # which PIN checks are refused once they reach ``ivr.pin_max_failures``.
    pin_failures: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pin_locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    phones: Mapped[list[CustomerPhone]] = relationship(
        back_populates="customer", order_by="CustomerPhone.id", cascade="all, delete-orphan"
    )


class CustomerPhone(Base):
    __tablename__ = "customer_phones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    e164: Mapped[str] = mapped_column(String(20), index=True)
    raw: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default="mobile")

    customer: Mapped[Customer] = relationship(back_populates="phones")


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="agent")
    extension: Mapped[str] = mapped_column(String(32), default="")
    interface: Mapped[str] = mapped_column(String(200), default="")
    skills: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Contact(Base):
    """One row per call, written when the call arrives and completed when it ends.

    ``call_id`` is Asterisk's linkedid. ``caller_number`` is the other party: who
    called in, or whom an outbound call dialled. ``wait_s`` (queued until answered, or until
    the end when never answered) and ``talk_s`` (answered until the end) are set on
    close. ``ivr`` is a JSON list of the IVR steps the caller went through.
    """

    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_customer_arrived", "customer_id", "arrived_at"),
        Index("ix_contacts_arrived_at", "arrived_at"),
        Index("ix_contacts_agent_id", "agent_id"),
        Index("ix_contacts_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64), unique=True)
    direction: Mapped[str] = mapped_column(String(16))
    # The call a callback was asked from (``call_id`` of that contact); None otherwise.
    parent_call_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    channel: Mapped[str] = mapped_column(String(200), default="")
    caller_number: Mapped[str] = mapped_column(String(64), default="")
    caller_e164: Mapped[str | None] = mapped_column(String(20))
    dnis: Mapped[str] = mapped_column(String(64), default="")
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    arrived_at: Mapped[datetime] = mapped_column(UTCDateTime())
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    queue: Mapped[str] = mapped_column(String(64), default="")
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    ivr: Mapped[str] = mapped_column(Text, default="[]")
    outcome: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="open")
    wait_s: Mapped[float | None] = mapped_column(Float)
    talk_s: Mapped[float | None] = mapped_column(Float)
    disposition: Mapped[str] = mapped_column(String(64), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    # A callback the agent promised at wrap-up (time and E.164 number), if any.
    callback_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    callback_number: Mapped[str | None] = mapped_column(String(20))
    # Where the agent transferred the call (an agent, "queue:<name>" or a number).
    transferred_to: Mapped[str | None] = mapped_column(String(200), nullable=True)


class AgentStateEntry(Base):
    """One agent state transition, kept for reporting (time in state, reason codes,
    adherence). Written in the order the transitions happened."""

    __tablename__ = "agent_state_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    state: Mapped[str] = mapped_column(String(20))
    previous: Mapped[str] = mapped_column(String(20), default="")
    reason: Mapped[str] = mapped_column(String(40), default="")
    call_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class CallbackEntry(Base):
    """A callback promised to a customer: asked for by a waiting caller (virtual hold,
    ``scheduled_by`` None) or scheduled by an agent at wrap-up. Kept up to date on every
    attempt, so pending callbacks survive a restart of the server.

    ``call_id`` is the callback's contact (direction ``callback``), ``parent_call_id``
    the call it was promised on. ``queued_at`` is its place in the queue (the caller's
    arrival in the queue; the due time for a scheduled one); ``due_at`` None means
    "as soon as its turn comes", a time means not before then (a scheduled callback, or
    the next attempt after one the customer did not answer). ``attempts`` counts the
    attempts the customer did not answer; ``priority`` and ``skills`` are the
    callback's own (the queue's are added when it enters the queue).
    """

    __tablename__ = "callbacks"
    __table_args__ = (Index("ix_callbacks_status", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64), unique=True)
    parent_call_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    number: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), nullable=True
    )
    queue: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    skills: Mapped[str] = mapped_column(String(200), default="")
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    last_result: Mapped[str] = mapped_column(String(32), default="")
    scheduled_by: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), nullable=True
    )
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
