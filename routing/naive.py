"""The same decisions as ``Router``, by scanning every agent and every waiting call.

The reference the indexed router is checked against (tests) and measured against
(``bench/routing.py``).
"""

from __future__ import annotations

from routing.agents import State
from routing.router import Router, Waiting

__all__ = ["NaiveRouter"]


class NaiveRouter(Router):
    def _best_agent(self, w: Waiting, now: float) -> str | None:
        candidates = [
            agent_id for agent_id, machine in self.agents.items()
            if machine.state is State.READY and agent_id not in self._busy
            and w.queue in self.agent_queues[agent_id]
            and self._can_serve(self.agent_skills[agent_id], w.needs)
        ]
        return self._pick(w, candidates, now)

    def _best_call(self, agent_id: str, now: float) -> Waiting | None:
        queues, skills = self.agent_queues[agent_id], self.agent_skills[agent_id]
        best = None
        for w in self.waiting.values():
            if (w.offered_to is None and w.queue in queues
                    and self._can_serve(skills, w.needs)
                    and (best is None or w.key < best.key)):
                best = w
        return best
