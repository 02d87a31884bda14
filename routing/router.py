"""The router: which ready agent gets which waiting call.

- A call waits in one queue with a priority (the queue's plus its own, e.g. VIP) and
  the skills it needs (the queue's plus its own, loosened by the queue's expansion
  steps as it waits). Calls are ordered by priority, then arrival; that order is the
  call's place, kept through expansion, ring-no-answer and agent log-outs.
- When a call arrives (or expands), it goes to a ready agent of its queue having every
  skill it needs, chosen by the queue's strategy: ``longest_idle``, ``most_skilled``
  (highest proficiency sum, then longest idle), ``least_occupied`` (lowest occupancy,
  then longest idle) or ``round_robin``.
- When an agent becomes ready, they take the waiting call they can serve with the
  highest priority, then the longest wait, across all their queues.
- Ready agents are indexed per queue and per skill, waiting calls per (queue, one of
  their skills), so a decision looks at a few candidates instead of everyone.
  ``NaiveRouter`` (``routing.naive``) makes the same decisions by full scans.

Pure: every method takes ``now`` and returns what happened (``AgentStateChanged``,
``CallOverflowed``, ``CallRejected`` events and ``OfferCall``, ``StartWrapUp``
commands) for the adapter to carry out. ``tick(now)`` applies time-driven changes
(expansion steps, maximum wait, callback retries); ``next_due()`` says when the next
one falls.

Callbacks (virtual hold): a waiting caller who asks to be called back hangs up but
keeps their place (``request_callback``): the entry is renamed to the callback and
stays where it was (priority, arrival), without a maximum wait. When an agent is
chosen it is offered like a call (``OfferCall`` with ``kind="callback"``); the
adapter rings the agent first, then the customer. The agent not answering is a
ring-no-answer as for any call (``offer_failed``); the customer not answering
(``callback_failed``) frees the agent and either parks the callback for
``callback_policy.retry_s`` before it takes its place again, or gives it up after
``callback_policy.attempts`` attempts.

A callback can also join a queue without a caller (``add_callback``): one read back
after a restart, at the place it had (its original ``queued_at``, parked until its
retry time if it has one), or one an agent scheduled, when its time comes.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter

from callcenter.events import (
    CallbackGivenUp,
    CallbackRescheduled,
    CallOverflowed,
    CallRejected,
    OfferCall,
    StartWrapUp,
)
from routing.agents import AgentMachine, IllegalTransition, State
from routing.queues import QueueConfig, needs_at, parse_skills

__all__ = ["Router", "Waiting", "UnknownAgent", "IllegalTransition", "estimate_wait",
           "CallbackPolicy"]

_EMPTY: frozenset = frozenset()
_key = attrgetter("key")
_STEP, _MAX_WAIT, _RETRY = 0, 1, 2
_STAFFED = frozenset({State.READY, State.RESERVED, State.ON_CALL, State.ON_HOLD,
                      State.WRAP_UP})


class UnknownAgent(KeyError):
    pass


@dataclass(frozen=True)
class CallbackPolicy:
    """How often a callback's customer is dialled (``attempts`` in all), and how long
    a callback waits after an unanswered attempt before it takes its place again."""

    attempts: int = 3
    retry_s: float = 60.0


@dataclass(eq=False)
class Waiting:
    """A call waiting in a queue (offered to an agent or not)."""

    call_id: str
    queue: str
    priority: int  # effective: the queue's plus the call's own
    queued_at: float
    seq: int
    own_priority: int = 0
    own_skills: dict = field(default_factory=dict)
    base: dict = field(default_factory=dict)  # needs before expansion
    needs: tuple = ()  # ((skill, min proficiency), ...) now
    level: int = 0  # expansion steps applied
    entered_at: float = 0.0  # when it joined the current queue
    offered_to: str | None = None
    overdue: bool = False
    epoch: int = 0
    key: tuple = ()
    callback: bool = False  # a callback: the customer is to be dialled
    attempts: int = 0  # callback attempts the customer did not answer
    parked: bool = False  # a callback waiting for its retry time: not offered

    @property
    def sort_key(self) -> tuple:
        return self.key

    def __lt__(self, other: Waiting) -> bool:
        return self.key < other.key


def estimate_wait(position: int, staffed: int, free: int, aht_s: float) -> float | None:
    """Expected wait of the call at ``position`` (1-based) when ``staffed`` agents
    work the queue, ``free`` of them ready now, each call taking ``aht_s``: the calls
    ahead that no free agent takes are served ``staffed`` at a time. ``None`` when
    nobody is staffed."""
    if staffed <= 0:
        return None
    ahead = max(0, position - free)
    return ahead * aht_s / staffed


class Router:
    def __init__(self, queues: Mapping[str, float] | Iterable[QueueConfig], *,
                 log: list | None = None, default_wrapup_s: float = 0.0):
        """``queues``: ``QueueConfig``s, or a mapping of queue name to wrap-up seconds.
        ``log``: a list that receives every agent transition."""
        if isinstance(queues, Mapping):
            configs = [QueueConfig(name, wrapup_s=float(s)) for name, s in queues.items()]
        else:
            configs = list(queues)
        self.queues: dict[str, QueueConfig] = {q.name: q for q in configs}
        for q in configs:
            if q.overflow and not q.overflow.startswith("voicemail") \
                    and q.overflow not in self.queues:
                raise ValueError(f"queue {q.name}: unknown overflow queue {q.overflow!r}")
        self.log = log
        self.default_wrapup_s = default_wrapup_s
        self.agents: dict[str, AgentMachine] = {}
        self.agent_queues: dict[str, frozenset[str]] = {}
        self.agent_skills: dict[str, dict[str, int]] = {}
        self.waiting: dict[str, Waiting] = {}
        self.offers: dict[str, str] = {}  # call_id -> agent_id
        self._order: dict[str, int] = {}  # agent -> registration order (ties, round robin)
        self._busy: set[str] = set()  # agents whose device is busy with another call
        self._indexed: set[str] = set()
        self._ready_q: dict[str, set[str]] = {q: set() for q in self.queues}
        self._ready_s: dict[str, set[str]] = {}
        self._members: dict[str, set[str]] = {q: set() for q in self.queues}
        self._logged: set[str] = set()
        self._calls: dict[tuple, list[Waiting]] = {}
        self._bucket: dict[str, tuple] = {}  # call_id -> its key in _calls
        self._buckets_of: dict[str, list[tuple]] = {}  # agent -> keys of _calls to look at
        self._in_queue: dict[str, list[Waiting]] = {q: [] for q in self.queues}
        self._timers: list = []
        self._rr: dict[str, int] = {}
        self._seq = 0
        self.callback_policy = CallbackPolicy()

    # ------------------------------------------------------------------ agents

    def add_agent(self, agent_id: str, queues, skills: str | Mapping[str, int] | None = None
                  ) -> AgentMachine:
        """Register (or update) an agent: the queues they work and their skills."""
        unknown = set(queues) - set(self.queues)
        if unknown:
            raise ValueError(f"agent {agent_id}: unknown queues {sorted(unknown)}")
        machine = self.agents.get(agent_id)
        if machine is None:
            machine = self.agents[agent_id] = AgentMachine(agent_id, log=self.log)
            self._order[agent_id] = len(self._order)
        self._unindex_agent(agent_id)
        self.agent_queues[agent_id] = frozenset(queues)
        self.agent_skills[agent_id] = parse_skills(skills)
        self._buckets_of[agent_id] = [(q, s) for q in sorted(self.agent_queues[agent_id])
                                      for s in [*self.agent_skills[agent_id], None]]
        self._sync(agent_id)
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
        return [self._do(agent_id, "login", now)]

    def ready(self, agent_id: str, now: float) -> list:
        machine = self.agent(agent_id)
        out = [self._do(agent_id, "login", now)] if machine.state is State.LOGGED_OUT else []
        out.append(self._do(agent_id, "ready", now))
        return out + self._match_agent(agent_id, now)

    def not_ready(self, agent_id: str, reason: str, now: float) -> list:
        machine = self.agent(agent_id)
        if machine.state is State.LOGGED_OUT:
            return [self._do(agent_id, "login", now, reason=reason)]
        changed = machine.request_not_ready(reason, now)
        self._sync(agent_id)
        return [changed] if changed else []

    def logout(self, agent_id: str, now: float) -> list:
        machine = self.agent(agent_id)
        call_id = machine.call_id if machine.state is State.RESERVED else None
        out = [self._do(agent_id, "logout", now)]
        if call_id is not None and self.offers.get(call_id) == agent_id:
            del self.offers[call_id]
            out += self._requeue(call_id, now)
        return out

    def device_busy(self, agent_id: str, busy: bool, now: float) -> list:
        """The agent's phone is (or no longer is) busy with a call we did not route:
        a busy agent gets no offers."""
        self.agent(agent_id)
        if busy:
            self._busy.add(agent_id)
            self._sync(agent_id)
            return []
        self._busy.discard(agent_id)
        self._sync(agent_id)
        return self._match_agent(agent_id, now)

    def hold(self, agent_id: str, now: float) -> list:
        return [self._do(agent_id, "hold", now)]

    def unhold(self, agent_id: str, now: float) -> list:
        return [self._do(agent_id, "unhold", now)]

    def dial_out(self, agent_id: str, call_id: str, now: float) -> list:
        """The agent places an outbound call."""
        return [self._do(agent_id, "dial", now, call_id=call_id)]

    # ------------------------------------------------------------------- calls

    def enqueue(self, call_id: str, queue: str, now: float, priority: int = 0,
                skills: str | Mapping[str, int] | None = None) -> list:
        """A call joins ``queue``: offered at once if an agent fits, else it waits."""
        cfg = self.queues.get(queue)
        if cfg is None:
            raise ValueError(f"unknown queue {queue!r}")
        if call_id in self.waiting:
            raise ValueError(f"call {call_id} is already waiting")
        if not cfg.join_empty and not self._members[queue]:
            return [CallRejected(call_id, queue, "no agents logged in", now)]
        self._seq += 1
        w = Waiting(call_id, queue, cfg.priority + priority, now, self._seq,
                    own_priority=priority, own_skills=parse_skills(skills))
        self.waiting[call_id] = w
        self._enter(w, now)
        return self._match_call(w, now)

    def call_left(self, call_id: str, now: float) -> list:
        """The caller hung up (or was moved) before being answered."""
        w = self.waiting.pop(call_id, None)
        if w is not None:
            self._leave(w)
        agent_id = self.offers.pop(call_id, None)
        if agent_id is None:
            return []
        machine = self.agents[agent_id]
        if machine.state is State.RESERVED and machine.call_id == call_id:
            return [self._do(agent_id, "cancel", now)] + self._match_agent(agent_id, now)
        return []

    def offer_failed(self, call_id: str, agent_id: str, now: float) -> list:
        """Ring, no answer (or busy): the agent goes not ready (RONA) and the call
        goes back to its place."""
        out = []
        machine = self.agents.get(agent_id)
        if machine and machine.state is State.RESERVED and machine.call_id == call_id:
            out.append(self._do(agent_id, "no_answer", now))
        if self.offers.get(call_id) == agent_id:
            del self.offers[call_id]
            out += self._requeue(call_id, now)
        return out

    def offer_answered(self, call_id: str, agent_id: str, now: float) -> list:
        machine = self.agent(agent_id)
        self.offers.pop(call_id, None)
        w = self.waiting.pop(call_id, None)
        if w is not None:
            self._leave(w)
        if machine.state is State.RESERVED:
            return [self._do(agent_id, "answer", now)]
        return []

    def request_callback(self, call_id: str, callback_id: str, now: float) -> list:
        """The waiting caller ``call_id`` asked to be called back: ``callback_id``
        takes the call's place in its queue (the call itself is no longer waiting).
        Refused (``ValueError``) for a call not waiting or already ringing an agent."""
        w = self.waiting.get(call_id)
        if w is None:
            raise ValueError(f"call {call_id} is not waiting")
        if w.offered_to is not None:
            raise ValueError(f"call {call_id} is being offered to an agent")
        if callback_id in self.waiting:
            raise ValueError(f"callback {callback_id} is already waiting")
        self._leave(w)
        del self.waiting[call_id]
        w.call_id = callback_id
        w.callback = True
        w.overdue = False
        w.epoch += 1  # the call's timers no longer apply
        self.waiting[callback_id] = w
        insort(self._in_queue[w.queue], w, key=_key)
        self._index_call(w)
        self._schedule_step(w)
        return self._match_call(w, now)

    def add_callback(self, callback_id: str, queue: str, queued_at: float, now: float, *,
                     priority: int = 0, skills: str | Mapping[str, int] | None = None,
                     attempts: int = 0, retry_at: float | None = None) -> list:
        """A callback joins ``queue`` at the place of ``queued_at`` (with its own
        ``priority`` and ``skills``, the queue's added), having had ``attempts``
        unanswered attempts; parked until ``retry_at`` when that is later than ``now``.
        Offered at once when an agent fits; no maximum wait, no rejection when the
        queue is unstaffed. ``ValueError`` for an unknown queue or a known id."""
        cfg = self.queues.get(queue)
        if cfg is None:
            raise ValueError(f"unknown queue {queue!r}")
        if callback_id in self.waiting:
            raise ValueError(f"callback {callback_id} is already waiting")
        self._seq += 1
        w = Waiting(callback_id, queue, cfg.priority + priority, queued_at, self._seq,
                    own_priority=priority, own_skills=parse_skills(skills), callback=True,
                    attempts=attempts)
        self.waiting[callback_id] = w
        cfg_base = dict(cfg.skills)
        for skill, level in w.own_skills.items():
            cfg_base[skill] = max(level, cfg_base.get(skill, 0))
        w.base = cfg_base
        w.entered_at = now
        w.key = (-w.priority, w.queued_at, w.seq)
        w.needs = tuple(sorted(cfg_base.items()))
        insort(self._in_queue[queue], w, key=_key)
        if retry_at is not None and retry_at > now:
            w.parked = True
            self._timer(retry_at, w, _RETRY)
            return []
        self._index_call(w)
        self._schedule_step(w)
        return self._match_call(w, now)

    def callback_failed(self, callback_id: str, agent_id: str, now: float) -> list:
        """The customer of a callback did not answer (busy, no answer, unreachable):
        the agent reserved for it is free again, and the callback is parked until
        its retry (``CallbackRescheduled``) or given up (``CallbackGivenUp``)."""
        if self.offers.get(callback_id) != agent_id:
            return []  # stale news: the agent left, the offer is over
        del self.offers[callback_id]
        out = []
        machine = self.agents.get(agent_id)
        if machine and machine.state is State.RESERVED and machine.call_id == callback_id:
            out.append(self._do(agent_id, "cancel", now))
        w = self.waiting.get(callback_id)
        if w is None or not w.callback:
            return out + (self._match_agent(agent_id, now) if machine else [])
        w.offered_to = None
        w.attempts += 1
        policy = self.callback_policy
        if w.attempts >= policy.attempts:
            del self.waiting[callback_id]
            self._leave(w)
            out.append(CallbackGivenUp(callback_id, w.queue, w.attempts, now))
        else:
            w.parked = True
            w.epoch += 1
            due = now + policy.retry_s
            self._timer(due, w, _RETRY)
            out.append(CallbackRescheduled(callback_id, w.queue, w.attempts, due, now))
        if machine is not None:
            out += self._match_agent(agent_id, now)
        return out

    def call_finished(self, agent_id: str, now: float) -> list:
        """The agent's call ended: wrap-up starts (``StartWrapUp`` says for how long;
        none when the queue has no wrap-up time)."""
        machine = self.agent(agent_id)
        if machine.state not in (State.ON_CALL, State.ON_HOLD):
            return []
        seconds = self.wrapup_seconds(machine.queue)
        changed = self._do(agent_id, "hangup", now, seconds=seconds)
        if seconds <= 0:
            return [changed] + self.wrapup_done(agent_id, now)
        return [changed, StartWrapUp(agent_id, seconds)]

    def extend_wrapup(self, agent_id: str, now: float) -> list:
        """The agent needs more after-call time (once per call)."""
        machine = self.agent(agent_id)
        cfg = self.queues.get(machine.queue or "")
        extra = cfg.wrapup_extend_s if cfg else 30.0
        changed = self._do(agent_id, "extend", now, seconds=extra)
        return [changed, StartWrapUp(agent_id, machine.wrapup_until - now)]

    def wrapup_done(self, agent_id: str, now: float) -> list:
        machine = self.agent(agent_id)
        if machine.state is not State.WRAP_UP:
            return []
        return [self._do(agent_id, "wrapup_done", now)] + self._match_agent(agent_id, now)

    def wrapup_seconds(self, call_queue: str | None) -> float:
        cfg = self.queues.get(call_queue or "")
        return cfg.wrapup_s if cfg is not None else self.default_wrapup_s

    # -------------------------------------------------------------------- time

    def tick(self, now: float) -> list:
        """Apply the expansion steps and maximum waits due by ``now``."""
        out: list = []
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, _, call_id, kind, epoch = heapq.heappop(timers)
            w = self.waiting.get(call_id)
            if w is None or w.epoch != epoch:
                continue
            if kind == _RETRY:
                w.parked = False
                self._index_call(w)
                self._schedule_step(w)
                out += self._match_call(w, now)
            elif kind == _STEP:
                self._expand(w, now)
                if w.offered_to is None:
                    out += self._match_call(w, now)
            elif w.callback:
                continue  # nobody is on the line: no maximum wait
            elif w.offered_to is not None:
                w.overdue = True  # decided if the offer fails
            else:
                out += self._overflow(w, now)
        return out

    def next_due(self) -> float | None:
        """When ``tick`` has something to do next (None: nothing scheduled)."""
        return self._timers[0][0] if self._timers else None

    # ------------------------------------------------------------- questions

    def position(self, call_id: str) -> int:
        """1-based place of a waiting call in its queue (0 if not waiting)."""
        w = self.waiting.get(call_id)
        if w is None:
            return 0
        return bisect_left(self._in_queue[w.queue], w.key, key=_key) + 1

    def estimate(self, call_id: str, aht_s: float) -> float | None:
        """Estimated seconds until the call is offered (see ``estimate_wait``); calls
        ahead that are ringing an agent already do not count."""
        w = self.waiting.get(call_id)
        if w is None:
            return None
        counts = self.agents_by_state(w.queue)
        staffed = sum(n for s, n in counts.items() if State(s) in _STAFFED)
        ahead = self._in_queue[w.queue][:self.position(call_id) - 1]
        position = 1 + sum(1 for other in ahead if other.offered_to is None)
        return estimate_wait(position, staffed, len(self._ready_q[w.queue]), aht_s)

    def estimate_new(self, queue: str, aht_s: float) -> float | None:
        """Estimated seconds a call joining ``queue`` now (no priority) would wait."""
        counts = self.agents_by_state(queue)
        staffed = sum(n for s, n in counts.items() if State(s) in _STAFFED)
        position = 1 + sum(1 for w in self._in_queue[queue]
                           if w.offered_to is None and w.priority <= self.queues[queue].priority)
        return estimate_wait(position, staffed, len(self._ready_q[queue]), aht_s)

    def waiting_in(self, queue: str) -> list[Waiting]:
        """The calls of ``queue`` in their order."""
        return list(self._in_queue[queue])

    def agents_by_state(self, queue: str | None = None) -> dict[str, int]:
        """How many logged-in agents (of ``queue``) are in each state."""
        counts: dict[str, int] = {}
        ids = self._members[queue] if queue is not None else self._logged
        for agent_id in ids:
            state = self.agents[agent_id].state.value
            counts[state] = counts.get(state, 0) + 1
        return counts

    def routable(self, agent_id: str) -> bool:
        return agent_id in self._indexed

    # ------------------------------------------------------------ the indexes

    def _do(self, agent_id: str, event: str, now: float, **kw):
        changed = self.agents[agent_id].handle(event, now, **kw)
        self._sync(agent_id)
        return changed

    def _sync(self, agent_id: str) -> None:
        """Bring the indexes in line with the agent's state."""
        state = self.agents[agent_id].state
        if state is State.READY and agent_id not in self._busy:
            if agent_id not in self._indexed:
                self._indexed.add(agent_id)
                for q in self.agent_queues[agent_id]:
                    self._ready_q[q].add(agent_id)
                ready_s = self._ready_s
                for s in self.agent_skills[agent_id]:
                    if s in ready_s:
                        ready_s[s].add(agent_id)
                    else:
                        ready_s[s] = {agent_id}
        elif agent_id in self._indexed:
            self._unready(agent_id)
        if state is State.LOGGED_OUT:
            if agent_id in self._logged:
                self._logged.discard(agent_id)
                for q in self.agent_queues[agent_id]:
                    self._members[q].discard(agent_id)
        elif agent_id not in self._logged:
            self._logged.add(agent_id)
            for q in self.agent_queues[agent_id]:
                self._members[q].add(agent_id)

    def _unready(self, agent_id: str) -> None:
        self._indexed.discard(agent_id)
        for q in self.agent_queues[agent_id]:
            self._ready_q[q].discard(agent_id)
        for s in self.agent_skills[agent_id]:
            self._ready_s[s].discard(agent_id)

    def _unindex_agent(self, agent_id: str) -> None:
        if agent_id in self._indexed:
            self._unready(agent_id)
        if agent_id in self._logged:
            self._logged.discard(agent_id)
            for q in self.agent_queues[agent_id]:
                self._members[q].discard(agent_id)

    def _enter(self, w: Waiting, now: float) -> None:
        """Place ``w`` in its (current) queue: order, expansion, index, timers."""
        cfg = self.queues[w.queue]
        base = dict(cfg.skills)
        for skill, level in w.own_skills.items():
            base[skill] = max(level, base.get(skill, 0))
        w.base = base
        w.level = 0
        w.entered_at = now
        w.key = (-w.priority, w.queued_at, w.seq)
        w.needs = tuple(sorted(base.items()))
        insort(self._in_queue[w.queue], w, key=_key)
        self._index_call(w)
        self._schedule_step(w)
        if cfg.max_wait_s > 0 and cfg.overflow:
            self._timer(now + cfg.max_wait_s, w, _MAX_WAIT)

    def _leave(self, w: Waiting) -> None:
        lst = self._in_queue[w.queue]
        i = bisect_left(lst, w.key, key=_key)
        if i < len(lst) and lst[i] is w:
            del lst[i]
        self._unindex_call(w)

    def _timer(self, due: float, w: Waiting, kind: int) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (due, self._seq, w.call_id, kind, w.epoch))

    def _schedule_step(self, w: Waiting) -> None:
        steps = self.queues[w.queue].steps
        if w.level < len(steps):
            self._timer(w.entered_at + steps[w.level].after_s, w, _STEP)

    def _expand(self, w: Waiting, now: float) -> None:
        steps = self.queues[w.queue].steps
        w.level += 1
        self._unindex_call(w)
        w.needs = tuple(sorted(needs_at(w.base, steps[:w.level]).items()))
        self._index_call(w)
        self._schedule_step(w)

    def _index_call(self, w: Waiting) -> None:
        if w.offered_to is not None or w.parked or w.call_id in self._bucket:
            return
        bucket = (w.queue, w.needs[0][0] if w.needs else None)
        self._bucket[w.call_id] = bucket
        lst = self._calls.get(bucket)
        if lst is None:
            self._calls[bucket] = [w]
        else:
            insort(lst, w, key=_key)

    def _unindex_call(self, w: Waiting) -> None:
        bucket = self._bucket.pop(w.call_id, None)
        if bucket is None:
            return
        lst = self._calls[bucket]
        i = bisect_left(lst, w.key, key=_key)
        if i < len(lst) and lst[i] is w:
            del lst[i]
        if not lst:
            del self._calls[bucket]

    # ------------------------------------------------------------------ matching

    @staticmethod
    def _can_serve(skills: dict[str, int], needs: tuple) -> bool:
        for skill, level in needs:
            if skills.get(skill, 0) < level:
                return False
        return True

    def _best_agent(self, w: Waiting, now: float) -> str | None:
        """The ready agent who should take ``w`` (None: nobody fits)."""
        in_queue = self._ready_q[w.queue]
        smallest = in_queue
        for skill, _ in w.needs:
            ready = self._ready_s.get(skill, _EMPTY)
            if len(ready) < len(smallest):
                smallest = ready
        if not smallest:
            return None
        skills, needs = self.agent_skills, w.needs
        candidates = [a for a in smallest
                      if a in in_queue and self._can_serve(skills[a], needs)]
        return self._pick(w, candidates, now)

    def _pick(self, w: Waiting, candidates: list[str], now: float) -> str | None:
        if not candidates:
            return None
        strategy = self.queues[w.queue].strategy
        agents, order = self.agents, self._order
        if strategy == "longest_idle":
            return min(candidates, key=lambda a: (agents[a].idle_since, order[a]))
        if strategy == "most_skilled":
            wanted = w.base or dict(w.needs)
            skills = self.agent_skills
            return min(candidates, key=lambda a: (
                -sum(skills[a].get(s, 0) for s in wanted), agents[a].idle_since, order[a]))
        if strategy == "least_occupied":
            return min(candidates, key=lambda a: (
                agents[a].occupancy(now), agents[a].idle_since, order[a]))
        last, n = self._rr.get(w.queue, -1), len(order)
        best = min(candidates, key=lambda a: (order[a] - last - 1) % n)
        self._rr[w.queue] = order[best]
        return best

    def _best_call(self, agent_id: str, now: float) -> Waiting | None:
        """The waiting call ``agent_id`` should take: highest priority, then longest
        wait, among the calls of their queues they have the skills for."""
        skills = self.agent_skills[agent_id]
        get = self._calls.get
        best = None
        for bucket in self._buckets_of[agent_id]:
            lst = get(bucket)
            if not lst:
                continue
            for w in lst:
                if best is not None and w.key >= best.key:
                    break
                for skill, level in w.needs:
                    if skills.get(skill, 0) < level:
                        break
                else:
                    best = w
                    break
        return best

    def _match_call(self, w: Waiting, now: float) -> list:
        if w.offered_to is not None or w.parked:
            return []
        agent_id = self._best_agent(w, now)
        if agent_id is None:
            return []
        return self._offer(w, agent_id, now)

    def _match_agent(self, agent_id: str, now: float) -> list:
        if agent_id not in self._indexed:
            return []
        w = self._best_call(agent_id, now)
        if w is None:
            return []
        return self._offer(w, agent_id, now)

    def _offer(self, w: Waiting, agent_id: str, now: float) -> list:
        changed = self._do(agent_id, "reserve", now, call_id=w.call_id, queue=w.queue)
        self._unindex_call(w)
        w.offered_to = agent_id
        self.offers[w.call_id] = agent_id
        return [changed, OfferCall(w.call_id, agent_id, w.queue,
                                   "callback" if w.callback else "call")]

    def _requeue(self, call_id: str, now: float) -> list:
        w = self.waiting.get(call_id)
        if w is None:
            return []
        w.offered_to = None
        if w.overdue:
            w.overdue = False
            return self._overflow(w, now)
        self._index_call(w)
        return self._match_call(w, now)

    def _overflow(self, w: Waiting, now: float) -> list:
        target = self.queues[w.queue].overflow
        origin = w.queue
        self._leave(w)
        w.epoch += 1
        if target.startswith("voicemail"):
            del self.waiting[w.call_id]
            return [CallOverflowed(w.call_id, origin, target, now)]
        w.queue = target
        w.priority = self.queues[target].priority + w.own_priority
        self._enter(w, now)
        return [CallOverflowed(w.call_id, origin, target, now)] + self._match_call(w, now)
