"""Races around an offer, and the indexed router against the naive full scan."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.events import AgentStateChanged, OfferCall
from routing.agents import RONA, State
from routing.naive import NaiveRouter
from routing.queues import QueueConfig, Step
from routing.router import Router


def offers(decisions):
    return [(d.call_id, d.agent_id) for d in decisions if isinstance(d, OfferCall)]


def two_agents():
    router = Router([QueueConfig("support", wrapup_s=0.0)])
    for a in ("a1", "a2"):
        router.add_agent(a, ["support"])
    return router


def test_rona_reoffers_the_call_at_its_original_position():
    router = two_agents()
    router.ready("a1", 0.0)
    router.enqueue("first", "support", 1.0)
    router.enqueue("second", "support", 2.0)
    router.offer_failed("first", "a1", 21.0)
    assert (router.agent("a1").state, router.agent("a1").reason) == (State.NOT_READY, RONA)
    assert router.position("first") == 1
    assert offers(router.ready("a2", 22.0)) == [("first", "a2")]


def test_caller_hangs_up_while_agent_rings_then_late_answer_is_ignored():
    router = two_agents()
    router.ready("a1", 0.0)
    router.enqueue("c1", "support", 1.0)
    router.call_left("c1", 2.0)
    assert router.agent("a1").state is State.READY and router.routable("a1")
    assert router.offer_failed("c1", "a1", 3.0) == []
    assert router.agent("a1").state is State.READY


def test_agent_logs_out_while_reserved_and_the_call_waits_in_place():
    router = two_agents()
    router.ready("a1", 0.0)
    router.enqueue("c1", "support", 1.0)
    router.enqueue("c2", "support", 1.5)
    decisions = router.logout("a1", 2.0)
    assert router.agent("a1").state is State.LOGGED_OUT and not offers(decisions)
    assert router.position("c1") == 1
    # The ring ending later changes nothing.
    assert router.offer_failed("c1", "a1", 3.0) == []
    assert offers(router.ready("a2", 4.0)) == [("c1", "a2")]


def test_two_agents_ready_in_the_same_tick_get_one_call_once():
    router = two_agents()
    router.enqueue("c1", "support", 0.0)
    first = router.ready("a1", 5.0)
    second = router.ready("a2", 5.0)
    assert offers(first) == [("c1", "a1")] and offers(second) == []
    assert router.agent("a2").state is State.READY


def test_agent_with_busy_device_is_not_offered_until_it_frees():
    router = two_agents()
    router.ready("a1", 0.0)
    router.device_busy("a1", True, 1.0)
    assert offers(router.enqueue("c1", "support", 2.0)) == []
    assert offers(router.device_busy("a1", False, 3.0)) == [("c1", "a1")]


def test_answer_then_hangup_then_ready_takes_next_call():
    router = two_agents()
    router.ready("a1", 0.0)
    router.enqueue("c1", "support", 0.0)
    router.enqueue("c2", "support", 0.1)
    router.offer_answered("c1", "a1", 1.0)
    states = [d.state for d in router.call_finished("a1", 9.0)
              if isinstance(d, AgentStateChanged)]
    assert states == ["wrap_up", "ready", "reserved"]


# ------------------------------------------------- indexed router == naive scan

SKILLS = ["s0", "s1", "s2", "s3"]

op = st.one_of(
    st.tuples(st.just("enqueue"), st.integers(0, 1), st.integers(0, 3),
              st.lists(st.tuples(st.sampled_from(SKILLS), st.integers(1, 5)), max_size=2)),
    st.tuples(st.just("ready"), st.integers(0, 7)),
    st.tuples(st.just("not_ready"), st.integers(0, 7)),
    st.tuples(st.just("logout"), st.integers(0, 7)),
    st.tuples(st.just("answer_oldest_offer")),
    st.tuples(st.just("fail_oldest_offer")),
    st.tuples(st.just("hangup"), st.integers(0, 7)),
    st.tuples(st.just("leave"), st.integers(0, 30)),
    st.tuples(st.just("busy"), st.integers(0, 7), st.booleans()),
    st.tuples(st.just("wait"), st.integers(1, 40)),
)


def build(cls, strategy, seed):
    rng = random.Random(seed)
    queues = [QueueConfig("q0", strategy=strategy, wrapup_s=0.0,
                          steps=(Step(20.0, min_proficiency=1), Step(50.0, drop=frozenset(SKILLS)))),
              QueueConfig("q1", priority=1, strategy=strategy, wrapup_s=3.0,
                          max_wait_s=60.0, overflow="q0")]
    router = cls(queues)
    for i in range(8):
        skills = {s: rng.randint(1, 5) for s in rng.sample(SKILLS, rng.randint(0, 3))}
        router.add_agent(f"a{i}", rng.sample(["q0", "q1"], rng.randint(1, 2)), skills)
    return router


def run(router, ops):
    out, now, n = [], 0.0, 0
    for o in ops:
        kind = o[0]
        if kind == "enqueue":
            n += 1
            out += router.enqueue(f"c{n}", f"q{o[1]}", now, priority=o[2], skills=dict(o[3]))
        elif kind == "wait":
            now += o[1]
            out += router.tick(now)
            for agent_id, m in router.agents.items():
                if m.state is State.WRAP_UP and m.wrapup_until <= now:
                    out += router.wrapup_done(agent_id, now)
        elif kind in ("answer_oldest_offer", "fail_oldest_offer"):
            if router.offers:
                call_id, agent_id = next(iter(router.offers.items()))
                fn = router.offer_answered if kind == "answer_oldest_offer" else router.offer_failed
                out += fn(call_id, agent_id, now)
        elif kind == "leave":
            out += router.call_left(f"c{o[1]}", now)
        elif kind == "busy":
            out += router.device_busy(f"a{o[1]}", o[2], now)
        else:
            agent_id = f"a{o[1]}"
            state = router.agent(agent_id).state
            if kind == "ready" and state in (State.LOGGED_OUT, State.NOT_READY, State.READY):
                out += router.ready(agent_id, now)
            elif kind == "not_ready" and state is not State.LOGGED_OUT:
                out += router.not_ready(agent_id, "break", now)
            elif kind == "logout" and state not in (State.ON_CALL, State.ON_HOLD):
                out += router.logout(agent_id, now)
            elif kind == "hangup":
                out += router.call_finished(agent_id, now)
        check_invariants(router)
    return out


def check_invariants(router):
    reserved = {m.call_id: a for a, m in router.agents.items() if m.state is State.RESERVED}
    assert reserved == {c: a for c, a in router.offers.items()}
    for call_id, agent_id in router.offers.items():
        assert router.waiting[call_id].offered_to == agent_id
    # Nobody ready could take a waiting, unoffered call.
    for agent_id in router.agents:
        if router.routable(agent_id):
            assert NaiveRouter._best_call(router, agent_id, 0.0) is None


@settings(max_examples=150, deadline=None)
@given(ops=st.lists(op, max_size=60), seed=st.integers(0, 1000),
       strategy=st.sampled_from(["longest_idle", "most_skilled", "least_occupied",
                                 "round_robin"]))
def test_indexed_router_decides_exactly_like_the_naive_scan(ops, seed, strategy):
    assert run(build(Router, strategy, seed), ops) == run(build(NaiveRouter, strategy, seed), ops)
