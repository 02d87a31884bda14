"""Domain events and commands: the one list of them.

Events are frozen dataclasses named in the past tense: something that happened, as
seen by the component that saw it. Commands are imperative: something a component
asks another to do. Every event carries ``at``, the time it happened (seconds since
the epoch, taken from the injected clock of whoever produced it).

``call_id`` is Asterisk's ``Linkedid`` of the call: the uniqueid of the first channel
of the call, shared by every channel that joins it.
"""

from __future__ import annotations

from dataclasses import dataclass

# --------------------------------------------------------------------------- calls


@dataclass(frozen=True, slots=True)
class CallArrived:
    """An inbound call appeared on the PBX (first channel of a new linkedid in an
    inbound context)."""

    call_id: str
    channel: str
    uniqueid: str
    caller_number: str
    caller_name: str
    dnis: str
    at: float


@dataclass(frozen=True, slots=True)
class CallerIdentified:
    """The caller's number became known or changed (NewCallerid, AGI environment)."""

    call_id: str
    caller_number: str
    caller_name: str
    at: float


@dataclass(frozen=True, slots=True)
class CallQueued:
    """The call joined a queue (our router, or Asterisk's QueueCallerJoin)."""

    call_id: str
    queue: str
    at: float
    position: int = 0


@dataclass(frozen=True, slots=True)
class AgentOffered:
    """An agent's phone started ringing for the call (AMI DialBegin towards the
    agent's device). ``device`` is the dialled device without the channel suffix,
    e.g. ``Local/1001@agents`` or ``PJSIP/1001``."""

    call_id: str
    device: str
    agent_channel: str
    at: float
    queue: str | None = None


@dataclass(frozen=True, slots=True)
class AgentRingEnded:
    """An agent's phone stopped ringing without answering (DialEnd not ANSWER)."""

    call_id: str
    device: str
    agent_channel: str
    status: str
    at: float


@dataclass(frozen=True, slots=True)
class CallAnswered:
    """The agent answered: the caller is talking to ``device``."""

    call_id: str
    device: str
    agent_channel: str
    at: float


@dataclass(frozen=True, slots=True)
class CallTransferred:
    """The call was moved elsewhere (blind or attended transfer, Redirect)."""

    call_id: str
    target: str
    kind: str
    at: float


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The last channel of the call hung up."""

    call_id: str
    at: float
    cause: str = ""
    cause_txt: str = ""


# -------------------------------------------------------------------------- agents


@dataclass(frozen=True, slots=True)
class AgentStateChanged:
    """An agent moved to another state (see ``routing.agents``)."""

    agent_id: str
    state: str
    reason: str
    at: float
    call_id: str | None = None
    previous: str = ""


@dataclass(frozen=True, slots=True)
class ScreenPopSent:
    """A screen-pop was pushed to an agent's console."""

    agent_id: str
    call_id: str
    at: float
    ring_at: float
    sockets: int


@dataclass(frozen=True, slots=True)
class CallOverflowed:
    """A call waited longer than its queue allows and left it: ``target`` is another
    queue, or ``voicemail:<mailbox>``."""

    call_id: str
    queue: str
    target: str
    at: float


@dataclass(frozen=True, slots=True)
class CallRejected:
    """A call could not join ``queue`` (no agent logged in, and the queue does not
    take calls then)."""

    call_id: str
    queue: str
    reason: str
    at: float


# ---------------------------------------------------------------------- statistics


@dataclass(frozen=True, slots=True)
class QueueStatsUpdated:
    """Live figures of one queue (see ``routing.stats``), published every second.

    ``day`` covers the day so far, ``rolling`` the last 15 minutes; both map names
    (``offered``, ``answered``, ``abandoned``, ``service_level``, ``asa_s``, ``aht_s``,
    ``abandon_rate``, ``occupancy``) to numbers (``None`` when nothing to measure)."""

    queue: str
    at: float
    waiting: int
    longest_wait_s: float
    agents: dict
    day: dict
    rolling: dict


@dataclass(frozen=True, slots=True)
class AgentStatsUpdated:
    """Live figures of every logged-in agent: ``agents`` maps agent id to a dict
    (``state``, ``reason``, ``since``, ``calls_handled``, ``occupancy``)."""

    at: float
    agents: dict


# ------------------------------------------------------------------------ commands


@dataclass(frozen=True, slots=True)
class OfferCall:
    """Router decision: ring ``agent_id`` for ``call_id``."""

    call_id: str
    agent_id: str
    queue: str
    kind: str = "call"  # "call" (a caller on the line) or "callback" (to be dialled)


@dataclass(frozen=True, slots=True)
class StartWrapUp:
    """Router decision: ``agent_id`` enters after-call work for ``seconds``."""

    agent_id: str
    seconds: float


CALL_EVENTS = (
    CallArrived,
    CallerIdentified,
    CallQueued,
    AgentOffered,
    AgentRingEnded,
    CallAnswered,
    CallTransferred,
    CallEnded,
)


# ------------------------------------------------------------------------ devices


@dataclass(frozen=True, slots=True)
class DeviceStateChanged:
    """An agent's phone turned busy or free for a reason of its own (AMI
    ``DeviceStateChange``), e.g. a personal call: a busy phone gets no offers."""

    agent_id: str
    device: str
    state: str
    busy: bool
    at: float


# ------------------------------------------------------ callbacks and outbound calls


@dataclass(frozen=True, slots=True)
class CallbackRequested:
    """A waiting caller asked to be called back at ``number``: ``call_id`` (the
    callback) keeps the place of ``parent_call_id`` (the call) in ``queue``."""

    call_id: str
    parent_call_id: str
    queue: str
    number: str
    at: float


@dataclass(frozen=True, slots=True)
class CallbackRescheduled:
    """Router decision: the customer did not answer attempt ``attempts``; the callback
    goes back to its place in the queue at ``due``."""

    call_id: str
    queue: str
    attempts: int
    due: float
    at: float


@dataclass(frozen=True, slots=True)
class CallbackGivenUp:
    """Router decision: the customer did not answer any of ``attempts`` attempts."""

    call_id: str
    queue: str
    attempts: int
    at: float


@dataclass(frozen=True, slots=True)
class OutboundLegRinging:
    """A leg of a call we originated rings: ``leg`` is ``agent`` (the agent's phone,
    rung first) or ``customer``."""

    call_id: str
    leg: str
    channel: str
    device: str
    at: float


@dataclass(frozen=True, slots=True)
class OutboundLegAnswered:
    call_id: str
    leg: str
    channel: str
    at: float


@dataclass(frozen=True, slots=True)
class OutboundLegFailed:
    """A leg of a call we originated was not answered: ``status`` is Asterisk's
    ``DIALSTATUS`` (``BUSY``, ``NOANSWER``, ``CHANUNAVAIL``, ``CONGESTION``, ...) or
    ``FAILED`` when the Originate itself failed."""

    call_id: str
    leg: str
    status: str
    at: float


@dataclass(frozen=True, slots=True)
class OutboundEnded:
    """The last channel of a call we originated hung up."""

    call_id: str
    at: float
    cause: str = ""
    cause_txt: str = ""
