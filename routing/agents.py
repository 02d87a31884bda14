"""The agent state machine.

States::

    logged_out --login--> not_ready --ready--> ready --reserve--> reserved
    reserved --answer--> on_call --hangup--> wrap_up --wrapup_done--> ready
    reserved --no_answer--> not_ready (reason "RONA": ring, no answer)
    reserved --cancel--> ready           (the caller hung up while the phone rang)
    ready|not_ready --not_ready--> not_ready (with a reason code)
    wrap_up --not_ready--> not_ready     (ends after-call work early, not ready)
    any but on_call --logout--> logged_out

An agent who picks "not ready" while reserved, on a call or in wrap-up gets it as a
*pending* reason: it is applied instead of "ready" when the call and wrap-up end.

Pure: no clock, no I/O. ``now`` is passed in; illegal transitions raise
``IllegalTransition``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from callcenter.events import AgentStateChanged


class State(StrEnum):
    LOGGED_OUT = "logged_out"
    NOT_READY = "not_ready"
    READY = "ready"
    RESERVED = "reserved"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"


class IllegalTransition(Exception):
    """An agent was asked to do something its state forbids (the caller's fault)."""

    def __init__(self, agent_id: str, state: State, event: str):
        self.agent_id, self.state, self.event = agent_id, state, event
        super().__init__(f"agent {agent_id}: cannot {event.replace('_', ' ')} while {state.value}")


S = State
TRANSITIONS: dict[tuple[State, str], State] = {
    (S.LOGGED_OUT, "login"): S.NOT_READY,
    (S.NOT_READY, "ready"): S.READY,
    (S.READY, "ready"): S.READY,
    (S.WRAP_UP, "ready"): S.READY,
    (S.READY, "not_ready"): S.NOT_READY,
    (S.NOT_READY, "not_ready"): S.NOT_READY,
    (S.WRAP_UP, "not_ready"): S.NOT_READY,
    (S.READY, "reserve"): S.RESERVED,
    (S.RESERVED, "answer"): S.ON_CALL,
    (S.RESERVED, "no_answer"): S.NOT_READY,
    (S.RESERVED, "cancel"): S.READY,
    (S.ON_CALL, "hangup"): S.WRAP_UP,
    (S.WRAP_UP, "wrapup_done"): S.READY,
    (S.NOT_READY, "logout"): S.LOGGED_OUT,
    (S.READY, "logout"): S.LOGGED_OUT,
    (S.RESERVED, "logout"): S.LOGGED_OUT,
    (S.WRAP_UP, "logout"): S.LOGGED_OUT,
    (S.LOGGED_OUT, "logout"): S.LOGGED_OUT,
}


@dataclass
class AgentMachine:
    agent_id: str
    state: State = State.LOGGED_OUT
    reason: str = ""
    since: float = 0.0
    # When the agent last became free (ready after a call, or ready from not ready):
    # the "longest idle" rule orders by it.
    idle_since: float = 0.0
    call_id: str | None = None
    pending_reason: str | None = None
    calls_handled: int = 0

    def handle(self, event: str, now: float, *, reason: str = "",
               call_id: str | None = None) -> AgentStateChanged:
        """Apply one transition and return the event describing it."""
        target = TRANSITIONS.get((self.state, event))
        if target is None:
            raise IllegalTransition(self.agent_id, self.state, event)
        if event == "no_answer":
            reason = "RONA"
        elif event == "login":
            reason = reason or "login"
        elif event in ("hangup",):
            self.calls_handled += 1
        elif event in ("ready", "wrapup_done") and self.pending_reason is not None:
            target, reason = State.NOT_READY, self.pending_reason
        if target is State.NOT_READY or target is State.READY or target is State.LOGGED_OUT:
            self.pending_reason = None
        if target is State.READY and self.state is not State.READY:
            self.idle_since = now
        if event == "reserve":
            self.call_id = call_id
        elif target in (State.READY, State.NOT_READY, State.LOGGED_OUT):
            self.call_id = None
        self.state = target
        self.reason = reason if target is State.NOT_READY else ""
        self.since = now
        return AgentStateChanged(self.agent_id, self.state.value, self.reason, now, self.call_id)

    def request_not_ready(self, reason: str, now: float) -> AgentStateChanged | None:
        """Not ready now if the agent is free, else once the current call is done."""
        if self.state in (State.RESERVED, State.ON_CALL):
            self.pending_reason = reason
            return None
        return self.handle("not_ready", now, reason=reason)
