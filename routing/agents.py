"""The agent state machine.

Rules (in the manner of h11's ``_state.py``):

- An agent starts LOGGED_OUT. Logging in lands in NOT_READY (reason "login"); the
  agent chooses READY when they want calls.
- NOT_READY always carries a reason code (break, lunch, ... from the settings, or
  "RONA" when the agent let an offered call ring out).
- The router RESERVES a READY agent for one call (their phone rings). From there:
  answer -> ON_CALL; no answer -> NOT_READY "RONA"; the caller hangs up first
  (cancel) -> READY again.
- ON_CALL <-> ON_HOLD any number of times. An agent may also dial out from READY or
  NOT_READY straight to ON_CALL (outbound).
- Hanging up (from ON_CALL or ON_HOLD) starts WRAP_UP (after-call work) for the
  queue's wrap-up seconds. The agent may end it early (ready / not ready) or extend
  it once; when its time is up the agent becomes READY.
- A not-ready reason chosen while reserved, on a call or on hold is remembered and
  applied when the agent would otherwise become READY (end of wrap-up, or the caller
  hanging up while the phone rang). Choosing READY explicitly forgets it.
- Logging out is allowed from every state without a live call (LOGGED_OUT, READY,
  NOT_READY, RESERVED, WRAP_UP).

Every other (state, event) pair is illegal and raises ``IllegalTransition``. Every
transition is appended to the machine's ``log`` (if one is given) as an
``AgentStateChanged``: the agent-state log kept for reporting.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from callcenter.events import AgentStateChanged

__all__ = ["State", "AgentMachine", "IllegalTransition", "TRANSITIONS", "BUSY_STATES",
           "RONA"]

RONA = "RONA"


class State(enum.Enum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    NOT_READY = "not_ready"
    RESERVED = "reserved"
    ON_CALL = "on_call"
    ON_HOLD = "on_hold"
    WRAP_UP = "wrap_up"


# States in which the agent is working a contact (occupancy counts them as busy).
BUSY_STATES = frozenset({State.RESERVED, State.ON_CALL, State.ON_HOLD, State.WRAP_UP})


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
    (S.READY, "dial"): S.ON_CALL,
    (S.NOT_READY, "dial"): S.ON_CALL,
    (S.ON_CALL, "hold"): S.ON_HOLD,
    (S.ON_HOLD, "unhold"): S.ON_CALL,
    (S.ON_CALL, "hangup"): S.WRAP_UP,
    (S.ON_HOLD, "hangup"): S.WRAP_UP,
    (S.WRAP_UP, "extend"): S.WRAP_UP,
    (S.WRAP_UP, "wrapup_done"): S.READY,
    (S.NOT_READY, "logout"): S.LOGGED_OUT,
    (S.READY, "logout"): S.LOGGED_OUT,
    (S.RESERVED, "logout"): S.LOGGED_OUT,
    (S.WRAP_UP, "logout"): S.LOGGED_OUT,
    (S.LOGGED_OUT, "logout"): S.LOGGED_OUT,
}
del S

_FREE = (State.READY, State.NOT_READY, State.LOGGED_OUT)


@dataclass(eq=False)
class AgentMachine:
    agent_id: str
    state: State = State.LOGGED_OUT
    reason: str = ""
    since: float = 0.0
    # When the agent last became free (ready after a call, or ready from not ready):
    # the "longest idle" rule orders by it.
    idle_since: float = 0.0
    call_id: str | None = None
    queue: str | None = None  # queue of the current (or last) call
    direction: str = ""  # "inbound" or "outbound" while on a call
    pending_reason: str | None = None
    calls_handled: int = 0
    wrapup_until: float = 0.0
    wrapup_extended: bool = False
    # Seconds spent in each state so far (the current state's time is not yet in).
    seconds_in: dict = field(default_factory=dict)
    log: list | None = None

    def handle(self, event: str, now: float, *, reason: str = "", call_id: str | None = None,
               queue: str | None = None, seconds: float = 0.0) -> AgentStateChanged:
        """Apply one transition and return the event describing it.

        ``seconds`` is the wrap-up length for ``hangup`` and the extra time for
        ``extend``; ``reason`` the not-ready reason."""
        state = self.state
        target = TRANSITIONS.get((state, event))
        if target is None:
            raise IllegalTransition(self.agent_id, state, event)
        if event == "extend" and self.wrapup_extended:
            raise IllegalTransition(self.agent_id, state, "extend wrap-up twice")
        if event == "no_answer":
            reason = RONA
        elif event == "login":
            reason = reason or "login"
        elif event == "hangup":
            self.calls_handled += 1
            self.wrapup_until = now + seconds
            self.wrapup_extended = False
        elif event == "extend":
            self.wrapup_until = max(self.wrapup_until, now) + seconds
            self.wrapup_extended = True
            reason = "extended"
        elif event == "ready":
            self.pending_reason = None
        elif event in ("wrapup_done", "cancel") and self.pending_reason is not None:
            target, reason = State.NOT_READY, self.pending_reason
        elif event == "not_ready" and not reason:
            raise IllegalTransition(self.agent_id, state, "not ready without a reason")
        if target in _FREE:
            self.pending_reason = None
        if target is State.READY and state is not State.READY:
            self.idle_since = now
        if event == "reserve":
            self.call_id, self.queue, self.direction = call_id, queue, "inbound"
        elif event == "dial":
            self.call_id, self.queue, self.direction = call_id, None, "outbound"
        elif target in _FREE:
            self.call_id = None
            self.direction = ""
        seconds_in = self.seconds_in
        seconds_in[state] = seconds_in.get(state, 0.0) + (now - self.since)
        self.state = target
        self.reason = reason if target is State.NOT_READY or event == "extend" else ""
        self.since = now
        changed = AgentStateChanged(self.agent_id, target.value, self.reason, now, self.call_id,
                                    state.value)
        if self.log is not None:
            self.log.append(changed)
        return changed

    def request_not_ready(self, reason: str, now: float) -> AgentStateChanged | None:
        """Not ready now if the agent is free, else once the current call is done."""
        if self.state in (State.RESERVED, State.ON_CALL, State.ON_HOLD):
            self.pending_reason = reason
            return None
        return self.handle("not_ready", now, reason=reason)

    def occupancy(self, now: float) -> float:
        """Share of logged-in, available time spent working contacts (0 when none)."""
        busy = ready = 0.0
        for state, seconds in self.seconds_in.items():
            if state in BUSY_STATES:
                busy += seconds
            elif state is State.READY:
                ready += seconds
        current = now - self.since
        if self.state in BUSY_STATES:
            busy += current
        elif self.state is State.READY:
            ready += current
        total = busy + ready
        return busy / total if total > 0 else 0.0
