"""Skills-based routing, strategies, priorities, expansion, overflow, estimates."""

import pytest

from callcenter.events import CallOverflowed, CallRejected, OfferCall, StartWrapUp
from routing.agents import State
from routing.queues import QueueConfig, Step, parse_skills
from routing.router import Router, estimate_wait


def offers(decisions):
    return [(d.call_id, d.agent_id) for d in decisions if isinstance(d, OfferCall)]


def q(name="support", **kw):
    kw.setdefault("wrapup_s", 0.0)
    if isinstance(kw.get("skills"), str):
        kw["skills"] = tuple(parse_skills(kw["skills"]).items())
    return QueueConfig(name, **kw)


def router_with(queues, agents):
    """``agents``: {id: skills}; every agent works every queue."""
    router = Router(queues)
    for agent_id, skills in agents.items():
        router.add_agent(agent_id, [c.name for c in queues], skills)
    return router


def test_parse_skills_reads_levels_and_refuses_bad_ones():
    assert parse_skills("support:4, billing:2,lang_es") == {
        "support": 4, "billing": 2, "lang_es": 1}
    for bad in ("support:9", "support:x", "a b:2"):
        with pytest.raises(ValueError):
            parse_skills(bad)


def test_call_goes_only_to_an_agent_with_every_required_skill_at_level():
    router = router_with([q(skills="support:3")],
                         {"weak": "support:2", "other": "billing:5", "good": "support:3"})
    for a in ("weak", "other", "good"):
        router.ready(a, 1.0)
    assert offers(router.enqueue("c1", "support", 2.0, skills="lang_es:1")) == []
    assert offers(router.enqueue("c2", "support", 3.0)) == [("c2", "good")]


def test_longest_idle_strategy_picks_the_agent_free_longest():
    router = router_with([q()], {"a1": "", "a2": ""})
    router.ready("a2", 1.0)
    router.ready("a1", 2.0)
    assert offers(router.enqueue("c1", "support", 3.0)) == [("c1", "a2")]


def test_most_skilled_strategy_picks_highest_proficiency_sum():
    router = router_with([q(strategy="most_skilled", skills="support:1")],
                         {"a1": "support:2", "a2": "support:5", "a3": "support:3"})
    for i, a in enumerate(("a1", "a2", "a3")):
        router.ready(a, float(i))
    assert offers(router.enqueue("c1", "support", 5.0)) == [("c1", "a2")]


def test_least_occupied_strategy_picks_the_agent_with_least_busy_share():
    router = router_with([q(strategy="least_occupied")], {"busy": "", "calm": ""})
    router.ready("busy", 0.0)
    router.enqueue("c1", "support", 0.0)
    router.offer_answered("c1", "busy", 1.0)
    router.call_finished("busy", 90.0)  # busy 90 s out of 90
    router.ready("calm", 50.0)          # calm: ready 50 s..100 s, never busy
    assert offers(router.enqueue("c2", "support", 100.0)) == [("c2", "calm")]


def test_round_robin_strategy_takes_agents_in_turn():
    router = router_with([q(strategy="round_robin")], {"a1": "", "a2": "", "a3": ""})
    for a in ("a3", "a1", "a2"):
        router.ready(a, 1.0)
    got = []
    for i in range(3):
        (call, agent), = offers(router.enqueue(f"c{i}", "support", 2.0 + i))
        got.append(agent)
        router.call_left(call, 2.5 + i)  # caller gone: the agent is ready again
    assert got == ["a1", "a2", "a3"]


def test_agent_ready_takes_highest_priority_then_longest_wait_across_queues():
    queues = [q("sales"), q("support"), q("vip", priority=5)]
    router = router_with(queues, {"a1": ""})
    router.enqueue("old", "sales", 1.0)
    router.enqueue("new_vip_customer", "support", 2.0, priority=3)
    router.enqueue("vip_queue", "vip", 3.0)
    router.enqueue("older_vip_queue", "vip", 2.5)
    assert offers(router.ready("a1", 4.0)) == [("older_vip_queue", "a1")]


def test_agent_ready_skips_calls_it_cannot_serve():
    router = router_with([q()], {"a1": "lang_en:3"})
    router.enqueue("spanish", "support", 1.0, skills="lang_es:1")
    router.enqueue("english", "support", 2.0, skills="lang_en:2")
    assert offers(router.ready("a1", 3.0)) == [("english", "a1")]


def test_expansion_lowers_proficiency_then_drops_language_and_keeps_place():
    steps = (Step(30.0, min_proficiency=2), Step(90.0, drop=frozenset({"lang_es"})))
    router = router_with([q(skills="support:4", steps=steps)],
                         {"junior": "support:2", "english": "support:5"})
    router.enqueue("c1", "support", 0.0, skills="lang_es:3")
    router.enqueue("c2", "support", 1.0)
    router.ready("junior", 2.0)
    assert router.agent("junior").state is State.READY  # c2 needs support:4 for 30 s
    assert router.next_due() == 30.0
    assert offers(router.tick(30.0)) == []  # c1 still needs lang_es, c2 not yet expanded
    assert offers(router.tick(31.0)) == [("c2", "junior")]
    router.ready("english", 40.0)
    assert router.agent("english").state is State.READY
    assert offers(router.tick(90.0)) == [("c1", "english")]
    assert router.position("c1") == 1


def test_expanded_call_found_by_an_agent_becoming_ready():
    steps = (Step(10.0, drop=frozenset({"lang_es"})),)
    router = router_with([q(steps=steps)], {"a1": "support:1"})
    router.enqueue("c1", "support", 0.0, skills="lang_es:1")
    assert router.tick(10.0) == []
    assert offers(router.ready("a1", 11.0)) == [("c1", "a1")]


def test_max_wait_overflows_to_another_queue_keeping_arrival_order():
    queues = [q("sales", max_wait_s=60.0, overflow="support"), q("support")]
    router = Router(queues)
    router.add_agent("a1", ["support"])
    router.enqueue("late", "sales", 0.0)
    router.enqueue("s1", "support", 30.0)
    decisions = router.tick(60.0)
    assert decisions == [CallOverflowed("late", "sales", "support", 60.0)]
    assert router.position("late") == 1 and router.position("s1") == 2
    assert offers(router.ready("a1", 61.0)) == [("late", "a1")]


def test_max_wait_to_voicemail_removes_the_call():
    router = Router([q("sales", max_wait_s=60.0, overflow="voicemail:100@default")])
    router.enqueue("c1", "sales", 0.0)
    assert router.tick(59.0) == []
    assert router.tick(60.0) == [CallOverflowed("c1", "sales", "voicemail:100@default", 60.0)]
    assert router.waiting == {}


def test_overdue_call_ringing_an_agent_overflows_only_if_the_offer_fails():
    router = Router([q("sales", max_wait_s=60.0, overflow="voicemail:1"), q("support")])
    router.add_agent("a1", ["sales"])
    router.enqueue("c1", "sales", 0.0)
    router.ready("a1", 59.0)
    assert router.tick(60.0) == []
    decisions = router.offer_failed("c1", "a1", 70.0)
    assert CallOverflowed("c1", "sales", "voicemail:1", 70.0) in decisions


def test_queue_refusing_calls_with_nobody_logged_in_rejects():
    router = Router([q("night", join_empty=False)])
    router.add_agent("a1", ["night"])
    assert router.enqueue("c1", "night", 1.0) == [
        CallRejected("c1", "night", "no agents logged in", 1.0)]
    router.not_ready("a1", "break", 2.0)  # logged in, not ready: calls may wait
    assert router.enqueue("c2", "night", 3.0) == []
    assert router.position("c2") == 1


def test_wrap_up_time_comes_from_the_call_queue_and_extends_once():
    router = Router([q("sales", wrapup_s=10.0, wrapup_extend_s=20.0), q("support", wrapup_s=3.0)])
    router.add_agent("a1", ["sales", "support"])
    router.ready("a1", 0.0)
    router.enqueue("c1", "sales", 0.0)
    router.offer_answered("c1", "a1", 1.0)
    assert router.call_finished("a1", 5.0)[-1] == StartWrapUp("a1", 10.0)
    assert router.extend_wrapup("a1", 8.0)[-1] == StartWrapUp("a1", 27.0)


def test_zero_wrap_up_goes_straight_back_to_ready_and_takes_the_next_call():
    router = router_with([q(wrapup_s=0.0)], {"a1": ""})
    router.ready("a1", 0.0)
    router.enqueue("c1", "support", 0.0)
    router.enqueue("c2", "support", 0.5)
    router.offer_answered("c1", "a1", 1.0)
    assert offers(router.call_finished("a1", 5.0)) == [("c2", "a1")]


def test_position_follows_priority_then_arrival():
    router = router_with([q()], {})
    router.enqueue("c1", "support", 1.0)
    router.enqueue("c2", "support", 2.0)
    router.enqueue("vip", "support", 3.0, priority=10)
    assert [router.position(c) for c in ("vip", "c1", "c2")] == [1, 2, 3]
    assert [w.call_id for w in router.waiting_in("support")] == ["vip", "c1", "c2"]


def test_estimated_wait_spreads_calls_ahead_over_staffed_agents():
    assert estimate_wait(position=5, staffed=2, free=0, aht_s=100.0) == 250.0
    assert estimate_wait(position=1, staffed=3, free=1, aht_s=100.0) == 0.0
    assert estimate_wait(position=1, staffed=0, free=0, aht_s=100.0) is None
    router = router_with([q()], {"a1": "", "a2": ""})
    for a in ("a1", "a2"):
        router.ready(a, 0.0)
    for i in range(5):
        router.enqueue(f"c{i}", "support", 1.0 + i)
    assert router.position("c4") == 5  # c0 and c1 ring the two agents
    assert router.estimate("c4", 120.0) == pytest.approx(3 * 120.0 / 2)
