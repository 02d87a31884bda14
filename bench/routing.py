"""Routing decision time: indexed router against a naive full scan, same run.

2,000 agents, 50 skills, 1,000 waiting calls with mixed skills and priorities. Each
measured operation is one routing decision through the public API: a call arrives
(``enqueue``), or an agent's wrap-up ends and they become ready (``wrapup_done``,
which picks their next call). Both routers get the same operations and
must make the same decisions. Prints one JSON object.

    python bench/routing.py [--agents 2000] [--skills 50] [--waiting 1000] [--ops 4000]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callcenter.events import OfferCall  # noqa: E402
from routing.naive import NaiveRouter  # noqa: E402
from routing.queues import QueueConfig  # noqa: E402
from routing.router import Router  # noqa: E402

QUEUES = ["sales", "support", "billing", "retention", "tech"]


def scenario(args):
    """The agents and the operations, drawn once so both routers see the same."""
    rng = random.Random(args.seed)
    skills = [f"s{i}" for i in range(args.skills)]
    agents = []
    for i in range(args.agents):
        own = {s: rng.randint(1, 5) for s in rng.sample(skills, rng.randint(3, 6))}
        agents.append((f"a{i}", rng.sample(QUEUES, rng.randint(2, 5)), own))

    def call():
        needs = {s: rng.randint(1, 3) for s in rng.sample(skills, rng.randint(1, 2))}
        return rng.choice(QUEUES), rng.choice([0, 0, 0, 1, 2, 5]), needs

    warm = [call() for _ in range(args.agents * 3)]
    ops = []
    for _ in range(args.ops):
        ops.append(("arrive", call()) if rng.random() < 0.5 else ("free", rng.random()))
    return agents, warm, ops


class Run:
    def __init__(self, cls, agents, strategy):
        self.router = cls([QueueConfig(q, wrapup_s=1.0, strategy=strategy) for q in QUEUES])
        for agent_id, queues, skills in agents:
            self.router.add_agent(agent_id, queues, skills)
        self.on_call: list[str] = []
        self.now = 0.0
        self.n = 0

    def answer(self, decisions) -> None:
        for d in decisions:
            if isinstance(d, OfferCall):
                self.router.offer_answered(d.call_id, d.agent_id, self.now)
                self.on_call.append(d.agent_id)

    def arrive(self, spec) -> list:
        queue, priority, needs = spec
        self.n += 1
        self.now += 0.01
        return self.router.enqueue(f"c{self.n}", queue, self.now, priority, needs)


def measure(cls, agents, warm, ops, waiting, strategy):
    run = Run(cls, agents, strategy)
    for i, (agent_id, _, _) in enumerate(agents):
        run.router.ready(agent_id, -len(agents) + i)
    for spec in warm:
        if len(run.router.waiting) >= waiting:
            break
        run.answer(run.arrive(spec))
    times, decisions = [], []
    for kind, value in ops:
        if kind == "arrive":
            t0 = time.perf_counter_ns()
            out = run.arrive(value)
            elapsed = time.perf_counter_ns() - t0
        else:
            if not run.on_call:
                continue
            agent_id = run.on_call.pop(int(value * len(run.on_call)))
            run.now += 0.01
            run.router.call_finished(agent_id, run.now)
            t0 = time.perf_counter_ns()
            out = run.router.wrapup_done(agent_id, run.now)
            elapsed = time.perf_counter_ns() - t0
        times.append(elapsed / 1000.0)
        decisions.append([(d.call_id, d.agent_id) for d in out if isinstance(d, OfferCall)])
        run.answer(out)
    return times, decisions, len(run.router.waiting)


def pct(values, q):
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=2000)
    p.add_argument("--skills", type=int, default=50)
    p.add_argument("--waiting", type=int, default=1000)
    p.add_argument("--ops", type=int, default=4000)
    p.add_argument("--strategy", default="longest_idle")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    agents, warm, ops = scenario(args)
    ours, ours_decisions, waiting = measure(Router, agents, warm, ops, args.waiting,
                                            args.strategy)
    naive, naive_decisions, _ = measure(NaiveRouter, agents, warm, ops, args.waiting,
                                        args.strategy)
    report = {
        "agents": args.agents, "skills": args.skills, "waiting_at_end": waiting,
        "operations": len(ours), "strategy": args.strategy,
        "offers": sum(len(d) for d in ours_decisions),
        "same_decisions": ours_decisions == naive_decisions,
        "p50_us": pct(ours, 50), "p99_us": pct(ours, 99),
        "naive_p50_us": pct(naive, 50), "naive_p99_us": pct(naive, 99),
        "mean_us": round(statistics.fmean(ours), 1),
        "naive_mean_us": round(statistics.fmean(naive), 1),
    }
    report["speedup"] = round(report["naive_p50_us"] / report["p50_us"], 1)
    print(json.dumps(report))
    return 0 if report["same_decisions"] else 1


if __name__ == "__main__":
    sys.exit(main())
