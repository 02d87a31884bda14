"""The router: which ready agent gets which waiting call.

Minimal policy for now: one FIFO per queue (higher priority first, then arrival);
a call goes to the ready agent of its queue who has been idle longest; an agent who
becomes ready takes the oldest waiting call among its queues. A call whose offer was
not answered goes back to its original place.

Pure: every method takes ``now`` and returns what happened (``AgentStateChanged``
events and ``OfferCall`` commands) for the adapter to carry out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from callcenter.events import OfferCall
from routing.agents import AgentMachine, IllegalTransition, State

__all__ = ["Router", "Waiting", "UnknownAgent", "IllegalTransition"]


class UnknownAgent(KeyError):
    pass


@dataclass(order=True)
class Waiting:
    sort_key: tuple
    call_id: str = field(compare=False)
    queue: str = field(compare=False)
    priority: int = field(compare=False, default=0)
    queued_at: float = field(compare=False, default=0.0)


class Router:
    def __init__(self, queues: dict[str, float]):
        """``queues`` maps each queue name to its wrap-up seconds."""
        self.queues = dict(queues)
        self.agents: dict[str, AgentMachine] = {}
        self.agent_queues: dict[str, frozenset[str]] = {}
        self.waiting: dict[str, Waiting] = {}
        self.offers: dict[str, str] = {}  # call_id -> agent_id
        self._seq = 0

    # ------------------------------------------------------------------ agents

    def add_agent(self, agent_id: str, queues) -> AgentMachine:
        unknown = set(queues) - set(self.queues)
        if unknown:
            raise ValueError(f"agent {agent_id}: unknown queues {sorted(unknown)}")
        machine = self.agents.get(agent_id) or AgentMachine(agent_id)
        self.agents[agent_id] = machine
        self.agent_queues[agent_id] = frozenset(queues)
        return machine

    def agent(self, agent_id: str) -> AgentMachine:
        try:
            return self.agents[agent_id]
        except KeyError:
            raise UnknownAgent(agent_id) from None

    def login(self, agent_id: str, now: float) -> list:
        machine = self.agent(agent_id)
        if machine.state is not State.LOGGED_OUT:
            return []
        return [machine.handle("login", now)]

    def ready(self, agent_id: str, now: float) -> list:
        machine = self.agent(agent_id)
        if machine.state is State.LOGGED_OUT:
            out = [machine.handle("login", now)]
        else:
            out = []
        out.append(machine.handle("ready", now))
        return out + self._match_agent(agent_id, now)

    def not_ready(self, agent_id: str, reason: str, now: float) -> list:
        machine = self.agent(agent_id)
        if machine.state is State.LOGGED_OUT:
            return [machine.handle("login", now, reason=reason)]
        changed = machine.request_not_ready(reason, now)
        return [changed] if changed else []

    def logout(self, agent_id: str, now: float) -> list:
        machine = self.agent(agent_id)
        out = []
        call_id = machine.call_id if machine.state is State.RESERVED else None
        out.append(machine.handle("logout", now))
        if call_id is not None:
            out += self._requeue(call_id, now)
        return out

    # ------------------------------------------------------------------- calls

    def enqueue(self, call_id: str, queue: str, now: float, priority: int = 0) -> list:
        if queue not in self.queues:
            raise ValueError(f"unknown queue {queue!r}")
        self._seq += 1
        self.waiting[call_id] = Waiting((-priority, now, self._seq), call_id, queue,
                                        priority, now)
        return self._match_call(call_id, now)

    def call_left(self, call_id: str, now: float) -> list:
        """The caller hung up (or was moved) before being answered."""
        self.waiting.pop(call_id, None)
        agent_id = self.offers.pop(call_id, None)
        if agent_id is None:
            return []
        machine = self.agents[agent_id]
        if machine.state is State.RESERVED and machine.call_id == call_id:
            return [machine.handle("cancel", now)] + self._match_agent(agent_id, now)
        return []

    def offer_failed(self, call_id: str, agent_id: str, now: float) -> list:
        """Ring, no answer (or busy): the agent goes not ready (RONA) and the call
        goes back to its place."""
        out = []
        machine = self.agents.get(agent_id)
        if machine and machine.state is State.RESERVED and machine.call_id == call_id:
            out.append(machine.handle("no_answer", now))
        self.offers.pop(call_id, None)
        return out + self._requeue(call_id, now)

    def offer_answered(self, call_id: str, agent_id: str, now: float) -> list:
        machine = self.agent(agent_id)
        self.offers.pop(call_id, None)
        self.waiting.pop(call_id, None)
        if machine.state is State.RESERVED:
            return [machine.handle("answer", now)]
        return []

    def call_finished(self, agent_id: str, now: float) -> list:
        """The agent's call ended: wrap-up starts (the adapter times it)."""
        machine = self.agent(agent_id)
        if machine.state is not State.ON_CALL:
            return []
        return [machine.handle("hangup", now)]

    def wrapup_done(self, agent_id: str, now: float) -> list:
        machine = self.agent(agent_id)
        if machine.state is not State.WRAP_UP:
            return []
        return [machine.handle("wrapup_done", now)] + self._match_agent(agent_id, now)

    def wrapup_seconds(self, call_queue: str | None) -> float:
        return self.queues.get(call_queue or "", 0.0)

    # ------------------------------------------------------------------ matching

    def _requeue(self, call_id: str, now: float) -> list:
        if call_id not in self.waiting:
            return []
        return self._match_call(call_id, now)

    def _match_call(self, call_id: str, now: float) -> list:
        waiting = self.waiting[call_id]
        best = None
        for agent_id, queues in self.agent_queues.items():
            if waiting.queue not in queues:
                continue
            machine = self.agents[agent_id]
            if machine.state is State.READY and (best is None or machine.idle_since < best.idle_since):
                best = machine
        if best is None:
            return []
        return self._offer(waiting, best, now)

    def _match_agent(self, agent_id: str, now: float) -> list:
        machine = self.agents[agent_id]
        if machine.state is not State.READY:
            return []
        queues = self.agent_queues.get(agent_id, frozenset())
        candidates = [w for w in self.waiting.values()
                      if w.queue in queues and w.call_id not in self.offers]
        if not candidates:
            return []
        return self._offer(min(candidates), machine, now)

    def _offer(self, waiting: Waiting, machine: AgentMachine, now: float) -> list:
        changed = machine.handle("reserve", now, call_id=waiting.call_id)
        self.offers[waiting.call_id] = machine.agent_id
        return [changed, OfferCall(waiting.call_id, machine.agent_id, waiting.queue)]

    def position(self, call_id: str) -> int:
        """1-based place of a waiting call in its queue (0 if not waiting)."""
        waiting = self.waiting.get(call_id)
        if waiting is None:
            return 0
        return 1 + sum(1 for w in self.waiting.values()
                       if w.queue == waiting.queue and w < waiting)

