import pytest

from callcenter.events import AgentStateChanged, OfferCall
from routing.agents import AgentMachine, IllegalTransition, State
from routing.router import Router


def offers(decisions):
    return [d for d in decisions if isinstance(d, OfferCall)]


def make_router(*agents, queues=("sales", "support")):
    router = Router({q: 5.0 for q in queues})
    for agent in agents:
        router.add_agent(agent, queues)
    return router


def test_illegal_transition_raises_domain_error():
    machine = AgentMachine("a1")
    with pytest.raises(IllegalTransition, match="cannot answer while logged_out"):
        machine.handle("answer", 1.0)


def test_call_goes_to_the_longest_idle_ready_agent():
    router = make_router("a1", "a2")
    router.ready("a2", 10.0)
    router.ready("a1", 20.0)
    assert offers(router.enqueue("c1", "sales", 30.0)) == [OfferCall("c1", "a2", "sales")]
    assert router.agent("a2").state is State.RESERVED


def test_call_waits_when_nobody_is_ready_then_goes_to_the_first_agent_ready():
    router = make_router("a1")
    assert router.enqueue("c1", "sales", 1.0) == []
    decisions = router.ready("a1", 2.0)
    assert offers(decisions) == [OfferCall("c1", "a1", "sales")]
    assert [d.state for d in decisions if isinstance(d, AgentStateChanged)] == [
        "not_ready", "ready", "reserved"]


def test_agent_ready_takes_the_oldest_call_of_its_queues():
    router = make_router("a1")
    router.enqueue("c1", "sales", 1.0)
    router.enqueue("c2", "support", 0.5)
    assert offers(router.ready("a1", 2.0))[0].call_id == "c2"


def test_ring_no_answer_makes_agent_not_ready_and_reoffers_call_in_place():
    router = make_router("a1", "a2")
    router.ready("a1", 1.0)
    router.enqueue("c1", "sales", 2.0)
    router.ready("a2", 3.0)  # nothing to take: c1 is offered to a1
    decisions = router.offer_failed("c1", "a1", 4.0)
    assert router.agent("a1").state is State.NOT_READY
    assert router.agent("a1").reason == "RONA"
    assert offers(decisions) == [OfferCall("c1", "a2", "sales")]


def test_caller_hangs_up_while_agent_phone_rings_frees_the_agent():
    router = make_router("a1")
    router.ready("a1", 1.0)
    router.enqueue("c1", "sales", 2.0)
    router.call_left("c1", 3.0)
    assert router.agent("a1").state is State.READY
    assert router.waiting == {}


def test_answered_call_goes_through_wrap_up_back_to_ready():
    router = make_router("a1")
    router.ready("a1", 1.0)
    router.enqueue("c1", "sales", 2.0)
    router.offer_answered("c1", "a1", 3.0)
    assert router.agent("a1").state is State.ON_CALL
    router.call_finished("a1", 10.0)
    assert router.agent("a1").state is State.WRAP_UP
    router.wrapup_done("a1", 15.0)
    assert router.agent("a1").state is State.READY
    assert router.agent("a1").calls_handled == 1


def test_not_ready_chosen_during_a_call_applies_after_wrap_up():
    router = make_router("a1")
    router.ready("a1", 1.0)
    router.enqueue("c1", "sales", 2.0)
    router.offer_answered("c1", "a1", 3.0)
    assert router.not_ready("a1", "lunch", 4.0) == []
    router.call_finished("a1", 5.0)
    router.wrapup_done("a1", 6.0)
    assert (router.agent("a1").state, router.agent("a1").reason) == (State.NOT_READY, "lunch")


def test_logout_while_reserved_reoffers_the_call():
    router = make_router("a1", "a2")
    router.ready("a1", 1.0)
    router.enqueue("c1", "sales", 2.0)
    router.ready("a2", 3.0)
    decisions = router.logout("a1", 4.0)
    assert router.agent("a1").state is State.LOGGED_OUT
    assert offers(decisions) == [OfferCall("c1", "a2", "sales")]


def test_agent_only_gets_calls_of_its_queues():
    router = Router({"sales": 0, "support": 0})
    router.add_agent("a1", ["support"])
    router.ready("a1", 1.0)
    assert router.enqueue("c1", "sales", 2.0) == []


def test_position_counts_calls_ahead_in_the_same_queue():
    router = make_router()
    router.enqueue("c1", "sales", 1.0)
    router.enqueue("c2", "support", 1.5)
    router.enqueue("c3", "sales", 2.0)
    assert (router.position("c1"), router.position("c3"), router.position("c2")) == (1, 2, 1)
