"""Plain values the store hands out: frozen dataclasses, never live ORM rows.

Times are float seconds since the epoch (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AgentRecord",
    "CallbackRecord",
    "CallerLookup",
    "ContactRecord",
    "ContactSummary",
    "CustomerCard",
    "PinCheck",
    "SeedResult",
]


@dataclass(frozen=True, slots=True)
class CustomerCard:
    """What an agent sees of a customer. ``phones`` are E.164, in the order entered;
    ``phone_kinds`` (``mobile``, ``work``, ``home``) go with them one for one."""

    id: int
    account_number: str
    name: str
    company: str
    tier: str
    email: str
    notes: str
    phones: tuple[str, ...]
    phone_kinds: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PinCheck:
    """The answer of ``Store.verify_account_pin``: ``status`` is ``ok`` (the right PIN),
    ``wrong`` (a wrong PIN, an unknown account, or one without a PIN) or ``locked`` (too
    many wrong PINs: refused until ``locked_until``, whatever was keyed). True only when
    ``ok``, so it still reads as the yes/no it used to be."""

    status: str
    locked_until: float | None = None

    def __bool__(self) -> bool:
        return self.status == "ok"

    @property
    def locked(self) -> bool:
        return self.status == "locked"


@dataclass(frozen=True, slots=True)
class ContactSummary:
    """One past contact as listed on a screen-pop. ``agent`` is the agent's display
    name, else username, else ``""``."""

    call_id: str
    direction: str
    arrived_at: float
    agent: str
    queue: str
    outcome: str | None
    disposition: str
    notes: str
    talk_s: float | None
    status: str = "closed"
    wait_s: float | None = None
    caller_number: str = ""


@dataclass(frozen=True, slots=True)
class CallerLookup:
    """The answer to "who is calling from this number?".

    ``recent_contacts`` are the newest closed contacts of the first customer in
    ``customers`` (customers are in the order they were created)."""

    number: str
    e164: str | None
    customers: tuple[CustomerCard, ...] = ()
    recent_contacts: tuple[ContactSummary, ...] = ()


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """One call, as logged. ``ivr`` is the list of IVR steps, decoded."""

    id: int
    call_id: str
    direction: str
    channel: str
    caller_number: str
    caller_e164: str | None
    dnis: str
    customer_id: int | None
    arrived_at: float
    queued_at: float | None
    offered_at: float | None
    answered_at: float | None
    ended_at: float | None
    queue: str
    agent_id: int | None
    ivr: tuple[dict[str, Any], ...]
    outcome: str | None
    status: str
    wait_s: float | None
    talk_s: float | None
    disposition: str
    notes: str
    parent_call_id: str | None = None  # a callback: the call it was asked from
    callback_at: float | None = None  # a callback promised at wrap-up
    callback_number: str | None = None
    transferred_to: str | None = None  # an agent, "queue:<name>" or a number


@dataclass(frozen=True, slots=True)
class CallbackRecord:
    """A callback to place (``crm_store.models.CallbackEntry``); ``scheduled_by`` is
    the agent who promised it at wrap-up (None: the caller asked while waiting)."""

    id: int
    call_id: str
    parent_call_id: str | None
    number: str
    customer_id: int | None
    queue: str
    priority: int
    skills: str
    queued_at: float
    due_at: float | None
    attempts: int
    status: str
    last_result: str
    scheduled_by: int | None
    notes: str
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """An agent account, without its password hash."""

    id: int
    username: str
    display_name: str
    role: str
    extension: str
    interface: str
    skills: str


@dataclass(frozen=True, slots=True)
class SeedResult:
    """The E.164 numbers of the seeded customers, each once, the fixed demo
    customer's first; ``pins``: (account digits, PIN) of the demo accounts that have
    a telephone PIN (demo data only: see ``crm_store.seed``)."""

    numbers: tuple[str, ...] = field(default=())
    pins: tuple[tuple[str, str], ...] = field(default=())
