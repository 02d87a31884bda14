"""Discrete-event simulation of the contact center in virtual time, and Erlang C.

The simulation drives the real ``Router`` and agent state machines: Poisson arrivals,
exponential or log-normal handle times, caller patience, optional ring-no-answer and
wrap-up, optional skills and priorities. No sockets, no clock: an event heap.
It checks invariants as it goes (no agent with two calls, no call offered to two
agents, every call ends in exactly one outcome) and reports broken ones in
``violations``.

``main_simulate(argv)`` and ``main_erlang(argv)`` are the ``callcenter simulate`` and
``callcenter erlang`` commands: they print one JSON object.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import random
import statistics
from dataclasses import dataclass, field

from callcenter.events import OfferCall
from routing.agents import State
from routing.queues import QueueConfig, Step
from routing.router import Router

__all__ = ["SimConfig", "simulate", "erlang_c", "service_level", "asa", "agents_needed",
           "main_simulate", "main_erlang", "batch_ci95"]


# ------------------------------------------------------------------ Erlang C

def erlang_c(agents: int, load: float) -> float:
    """Probability that a call waits (Erlang C), ``load`` = rate x AHT in Erlangs."""
    if agents <= load:
        return 1.0
    # Erlang B by its stable recursion, then C from B.
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return agents * b / (agents - load * (1 - b))


def service_level(agents: int, rate: float, aht: float, threshold: float) -> float:
    """Share of calls answered within ``threshold`` seconds (M/M/N, no abandons)."""
    load = rate * aht
    if agents <= load:
        return 0.0
    return 1.0 - erlang_c(agents, load) * math.exp(-(agents - load) * threshold / aht)


def asa(agents: int, rate: float, aht: float) -> float:
    """Average speed of answer (seconds) under Erlang C."""
    load = rate * aht
    if agents <= load:
        return math.inf
    return erlang_c(agents, load) * aht / (agents - load)


def agents_needed(rate: float, aht: float, threshold: float, target_sl: float) -> int:
    """Fewest agents whose Erlang C service level meets ``target_sl``."""
    n = max(1, math.floor(rate * aht) + 1)
    while service_level(n, rate, aht, threshold) < target_sl:
        n += 1
    return n


# --------------------------------------------------------------- simulation

@dataclass(frozen=True)
class SimConfig:
    agents: int = 10
    rate: float = 0.04  # calls per second
    aht: float = 180.0  # mean handle (talk) time, seconds
    handle: str = "exponential"  # or "lognormal"
    sigma: float = 1.0  # log-normal shape
    patience: float = math.inf  # mean patience (exponential), seconds
    minutes: float = 600.0
    threshold: float = 20.0
    wrapup: float = 0.0
    skills: int = 0  # 0: one skill; else agents and calls draw from this many
    priorities: bool = False  # calls draw a priority 0..3
    no_answer: float = 0.0  # share of offers an agent lets ring out
    ring: float = 5.0  # seconds before the phone rings out / is answered
    strategy: str = "longest_idle"
    batches: int = 20
    seed: int = 1


@dataclass
class _Call:
    arrived: float
    outcome: str = ""
    answered: float | None = None


@dataclass
class SimResult:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    in_progress: int = 0
    service_level: float | None = None
    asa_s: float | None = None
    occupancy: float = 0.0
    max_wait_s: float = 0.0
    service_level_ci95: list | None = None
    asa_ci95: list | None = None
    violations: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in vars(self).items()}


_ARRIVE, _ABANDON, _END, _WRAPPED, _RING_OUT, _ANSWER, _BACK, _TICK = range(8)


def simulate(cfg: SimConfig) -> SimResult:
    """Run the simulation; everything random comes from ``cfg.seed``."""
    rng = random.Random(cfg.seed)
    skills = [f"s{i}" for i in range(cfg.skills)]
    steps = (Step(60.0, min_proficiency=1),) if skills else ()
    router = Router([QueueConfig("q", wrapup_s=cfg.wrapup, strategy=cfg.strategy,
                                 steps=steps, service_level_s=cfg.threshold)])
    for i in range(cfg.agents):
        own = {}
        if skills:
            own = {s: rng.randint(1, 5) for s in rng.sample(skills, min(len(skills), 3))}
        router.add_agent(f"a{i}", ["q"], own)
    end_time = cfg.minutes * 60.0
    events: list = []
    seq = 0

    def at(t: float, kind: int, what) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (t, seq, kind, what))

    calls: dict[str, _Call] = {}
    agent_call: dict[str, str] = {}  # agent -> call offered or talking
    call_agent: dict[str, str] = {}  # call -> agent offered or talking
    violations: list[str] = []
    busy_time = 0.0
    waits_done: list[tuple[float, float | None]] = []  # (arrival, wait or None if abandoned)
    max_wait = 0.0
    mu = math.log(cfg.aht) - cfg.sigma ** 2 / 2

    def violation(text: str) -> None:
        if len(violations) < 20:
            violations.append(text)

    def handle_time() -> float:
        if cfg.handle == "lognormal":
            return rng.lognormvariate(mu, cfg.sigma)
        return rng.expovariate(1.0 / cfg.aht)

    def finish(call_id: str, outcome: str, now: float) -> None:
        nonlocal max_wait
        call = calls[call_id]
        if call.outcome:
            violation(f"call {call_id} ended twice ({call.outcome}, {outcome})")
            return
        call.outcome = outcome
        wait = now - call.arrived
        max_wait = max(max_wait, wait)
        waits_done.append((call.arrived, wait if outcome == "answered" else None))

    def apply(decisions, now: float) -> None:
        for d in decisions:
            if not isinstance(d, OfferCall):
                continue
            call = calls.get(d.call_id)
            if d.agent_id in agent_call:
                violation(f"agent {d.agent_id} offered {d.call_id} while on {agent_call[d.agent_id]}")
            if d.call_id in call_agent:
                violation(f"call {d.call_id} offered to {d.agent_id} and {call_agent[d.call_id]}")
            if call is None or call.outcome:
                violation(f"call {d.call_id} offered after it ended")
            agent_call[d.agent_id] = d.call_id
            call_agent[d.call_id] = d.agent_id
            if cfg.no_answer and rng.random() < cfg.no_answer:
                at(now + cfg.ring, _RING_OUT, (d.call_id, d.agent_id))
            elif cfg.no_answer:  # phones ring a while before they are answered
                at(now + cfg.ring, _ANSWER, (d.call_id, d.agent_id))
            else:
                answer(d.call_id, d.agent_id, now)

    def answer(call_id: str, agent_id: str, now: float) -> None:
        nonlocal busy_time
        if call_agent.get(call_id) != agent_id or calls[call_id].outcome:
            return
        router.offer_answered(call_id, agent_id, now)
        calls[call_id].answered = now
        finish(call_id, "answered", now)
        talk = handle_time()
        busy_time += talk
        at(now + talk, _END, (call_id, agent_id))

    tick_at = [math.inf]  # the one pending tick

    def schedule_tick(now: float) -> None:
        due = router.next_due()
        if due is not None and due < tick_at[0]:
            tick_at[0] = max(due, now)
            at(tick_at[0], _TICK, None)

    at(rng.expovariate(cfg.rate), _ARRIVE, None)
    for i in range(cfg.agents):
        apply(router.ready(f"a{i}", 0.0), 0.0)
    n = 0
    while events:
        now, _, kind, what = heapq.heappop(events)
        if now > end_time:
            break
        if kind == _ARRIVE:
            n += 1
            call_id = f"c{n}"
            calls[call_id] = _Call(now)
            priority = rng.choice((0, 0, 1, 3)) if cfg.priorities else 0
            need = {rng.choice(skills): rng.randint(1, 3)} if skills else None
            apply(router.enqueue(call_id, "q", now, priority, need), now)
            if cfg.patience != math.inf:
                at(now + rng.expovariate(1.0 / cfg.patience), _ABANDON, call_id)
            at(now + rng.expovariate(cfg.rate), _ARRIVE, None)
            if skills:
                schedule_tick(now)
        elif kind == _ABANDON:
            call = calls[what]
            if call.outcome:
                continue
            agent_id = call_agent.pop(what, None)
            if agent_id is not None:
                agent_call.pop(agent_id, None)
            finish(what, "abandoned", now)
            apply(router.call_left(what, now), now)
        elif kind == _ANSWER:
            answer(*what, now)
        elif kind == _RING_OUT:
            call_id, agent_id = what
            if call_agent.get(call_id) != agent_id or calls[call_id].outcome:
                continue
            del call_agent[call_id], agent_call[agent_id]
            apply(router.offer_failed(call_id, agent_id, now), now)
            at(now + 30.0, _BACK, agent_id)
        elif kind == _BACK:
            if router.agent(what).state is State.NOT_READY:
                apply(router.ready(what, now), now)
        elif kind == _END:
            call_id, agent_id = what
            if agent_call.get(agent_id) != call_id:
                violation(f"agent {agent_id} ended {call_id} it was not on")
            agent_call.pop(agent_id, None)
            call_agent.pop(call_id, None)
            decisions = router.call_finished(agent_id, now)
            if cfg.wrapup > 0:
                busy_time += cfg.wrapup
                at(now + cfg.wrapup, _WRAPPED, agent_id)
            apply(decisions, now)
        elif kind == _WRAPPED:
            apply(router.wrapup_done(what, now), now)
        elif kind == _TICK:
            if now != tick_at[0]:
                continue  # superseded by an earlier tick
            tick_at[0] = math.inf
            apply(router.tick(now), now)
            schedule_tick(now)
    for call_id, call in calls.items():
        if not call.outcome and call_id not in router.waiting and call_id not in call_agent:
            violation(f"call {call_id} vanished without an outcome")
    return _result(cfg, calls, waits_done, busy_time, end_time, max_wait, violations)


def batch_ci95(values: list[float]) -> list[float] | None:
    """95 % confidence interval of the mean of batch means (Student t)."""
    k = len(values)
    if k < 2:
        return None
    t = _T975.get(k - 1, 1.96)
    mean = statistics.fmean(values)
    half = t * statistics.stdev(values) / math.sqrt(k)
    return [round(mean - half, 4), round(mean + half, 4)]


_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131,
         16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 24: 2.064, 29: 2.045,
         39: 2.023, 49: 2.010, 99: 1.984}


def _figures(done, threshold):
    answered = [w for _, w in done if w is not None]
    sl = sum(1 for w in answered if w <= threshold) / len(done) if done else None
    return sl, (statistics.fmean(answered) if answered else None)


def _result(cfg, calls, done, busy_time, end_time, max_wait, violations) -> SimResult:
    result = SimResult(offered=len(calls), violations=violations, max_wait_s=max_wait)
    result.answered = sum(1 for c in calls.values() if c.outcome == "answered")
    result.abandoned = sum(1 for c in calls.values() if c.outcome == "abandoned")
    result.in_progress = result.offered - result.answered - result.abandoned
    result.service_level, result.asa_s = _figures(done, cfg.threshold)
    result.occupancy = min(1.0, busy_time / (cfg.agents * end_time)) if end_time else 0.0
    done = sorted(done)
    size = len(done) // cfg.batches if cfg.batches else 0
    if size:
        batches = [_figures(done[i * size:(i + 1) * size], cfg.threshold)
                   for i in range(cfg.batches)]
        result.service_level_ci95 = batch_ci95([b[0] for b in batches])
        asas = [b[1] for b in batches if b[1] is not None]
        result.asa_ci95 = batch_ci95(asas)
    return result


# ------------------------------------------------------------------ commands

def _patience(text: str) -> float:
    return math.inf if text.lower() in ("inf", "infinite", "none") else float(text)


def main_simulate(argv=None) -> int:
    p = argparse.ArgumentParser(prog="callcenter simulate",
                                description="Simulate the contact center in virtual time.")
    p.add_argument("--agents", type=int, default=25)
    p.add_argument("--rate", type=float, default=0.12, help="calls per second")
    p.add_argument("--aht", type=float, default=180.0, help="mean handle time, seconds")
    p.add_argument("--handle", choices=("exponential", "lognormal"), default="exponential")
    p.add_argument("--sigma", type=float, default=1.0, help="log-normal shape")
    p.add_argument("--patience", type=_patience, default=math.inf,
                   help="mean caller patience in seconds, or inf")
    p.add_argument("--minutes", type=float, default=600.0)
    p.add_argument("--threshold", type=float, default=20.0, help="service level threshold")
    p.add_argument("--wrapup", type=float, default=0.0)
    p.add_argument("--skills", type=int, default=0, help="number of skills (0: one)")
    p.add_argument("--priorities", action="store_true")
    p.add_argument("--no-answer", type=float, default=0.0, help="share of offers rung out")
    p.add_argument("--strategy", default="longest_idle",
                   choices=("longest_idle", "most_skilled", "least_occupied", "round_robin"))
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if args.agents < 1 or args.rate <= 0 or args.aht <= 0 or args.minutes <= 0:
        p.error("--agents, --rate, --aht and --minutes must be positive")
    cfg = SimConfig(agents=args.agents, rate=args.rate, aht=args.aht, handle=args.handle,
                    sigma=args.sigma, patience=args.patience, minutes=args.minutes,
                    threshold=args.threshold, wrapup=args.wrapup, skills=args.skills,
                    priorities=args.priorities, no_answer=args.no_answer,
                    strategy=args.strategy, seed=args.seed)
    print(json.dumps(simulate(cfg).as_dict()))
    return 0


def main_erlang(argv=None) -> int:
    p = argparse.ArgumentParser(prog="callcenter erlang",
                                description="Agents needed by Erlang C.")
    p.add_argument("--rate", type=float, required=True, help="calls per second")
    p.add_argument("--aht", type=float, required=True, help="mean handle time, seconds")
    p.add_argument("--threshold", type=float, default=20.0)
    p.add_argument("--target-sl", type=float, default=0.8)
    p.add_argument("--around", type=int, default=3, help="agent counts listed each side")
    args = p.parse_args(argv)
    if args.rate <= 0 or args.aht <= 0 or not 0 < args.target_sl < 1:
        p.error("--rate and --aht must be positive, --target-sl between 0 and 1")
    need = agents_needed(args.rate, args.aht, args.threshold, args.target_sl)
    low = max(math.floor(args.rate * args.aht) + 1, need - args.around)
    table = [{"agents": n,
              "service_level": round(service_level(n, args.rate, args.aht, args.threshold), 4),
              "asa_s": round(asa(n, args.rate, args.aht), 2),
              "occupancy": round(args.rate * args.aht / n, 4)}
             for n in range(low, need + args.around + 1)]
    print(json.dumps({"rate": args.rate, "aht_s": args.aht, "load_erlangs":
                      round(args.rate * args.aht, 3), "threshold_s": args.threshold,
                      "target_sl": args.target_sl, "agents_needed": need, "table": table}))
    return 0
