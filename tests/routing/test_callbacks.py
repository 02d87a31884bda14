"""Callbacks (virtual hold) in the router: the place in the queue, offers, retries,
giving up, and the races around a reserved agent."""

import pytest

from callcenter.events import CallbackGivenUp, CallbackRescheduled, OfferCall
from routing.agents import RONA, State
from routing.queues import QueueConfig
from routing.router import CallbackPolicy, Router


def offers(decisions):
    return [(d.call_id, d.agent_id, d.kind) for d in decisions if isinstance(d, OfferCall)]


def router_with(*agents, attempts=3, retry_s=60.0, **queue):
    router = Router([QueueConfig("support", wrapup_s=0.0, **queue)])
    router.callback_policy = CallbackPolicy(attempts=attempts, retry_s=retry_s)
    for a in agents:
        router.add_agent(a, ["support"])
    return router


def test_callback_keeps_the_callers_place_in_the_queue():
    router = router_with("a1")
    router.enqueue("c1", "support", 1.0)
    router.enqueue("c2", "support", 2.0)
    router.enqueue("c3", "support", 3.0)
    assert router.request_callback("c2", "cb-c2", 10.0) == []
    assert "c2" not in router.waiting
    assert [w.call_id for w in router.waiting_in("support")] == ["c1", "cb-c2", "c3"]
    assert router.position("cb-c2") == 2
    # The caller's channel hanging up no longer touches the callback.
    assert router.call_left("c2", 11.0) == []
    assert router.position("cb-c2") == 2


def test_callback_is_offered_like_a_call_when_its_turn_comes():
    router = router_with("a1")
    router.enqueue("c1", "support", 1.0)
    router.enqueue("c2", "support", 2.0)
    router.request_callback("c1", "cb-c1", 5.0)
    decisions = router.ready("a1", 6.0)
    assert offers(decisions) == [("cb-c1", "a1", "callback")]
    assert router.agent("a1").state is State.RESERVED
    assert router.agent("a1").call_id == "cb-c1"
    # The customer answers: the agent is on the call; the callback has left the queue.
    router.offer_answered("cb-c1", "a1", 8.0)
    assert router.agent("a1").state is State.ON_CALL
    assert "cb-c1" not in router.waiting
    assert router.position("c2") == 1


def test_agent_not_answering_a_callback_is_rona_and_the_callback_keeps_its_place():
    router = router_with("a1", "a2")
    router.enqueue("c1", "support", 1.0)
    router.enqueue("c2", "support", 2.0)
    router.request_callback("c1", "cb-c1", 3.0)
    assert offers(router.ready("a1", 4.0)) == [("cb-c1", "a1", "callback")]
    decisions = router.offer_failed("cb-c1", "a1", 24.0)
    assert (router.agent("a1").state, router.agent("a1").reason) == (State.NOT_READY, RONA)
    assert not [d for d in decisions if isinstance(d, CallbackRescheduled)]
    assert router.waiting["cb-c1"].attempts == 0
    assert offers(router.ready("a2", 25.0)) == [("cb-c1", "a2", "callback")]


def test_customer_not_answering_frees_the_agent_and_retries_after_the_delay():
    router = router_with("a1", retry_s=30.0)
    router.enqueue("c1", "support", 1.0)
    router.request_callback("c1", "cb-c1", 2.0)
    router.enqueue("c2", "support", 3.0)
    assert offers(router.ready("a1", 4.0)) == [("cb-c1", "a1", "callback")]
    decisions = router.callback_failed("cb-c1", "a1", 10.0)
    rescheduled = [d for d in decisions if isinstance(d, CallbackRescheduled)]
    assert rescheduled == [CallbackRescheduled("cb-c1", "support", 1, 40.0, 10.0)]
    # The agent is free and takes the next call; the parked callback is not offered.
    assert offers(decisions) == [("c2", "a1", "call")]
    router.offer_answered("c2", "a1", 11.0)
    router.call_finished("a1", 20.0)
    assert router.agent("a1").state is State.READY
    assert router.tick(39.0) == []
    assert router.next_due() == 40.0
    # Its time comes: back at its place, offered to the ready agent.
    assert offers(router.tick(40.0)) == [("cb-c1", "a1", "callback")]


def test_parked_callback_keeps_its_place_for_when_it_returns():
    router = router_with("a1", retry_s=5.0)
    router.enqueue("c1", "support", 1.0)
    router.request_callback("c1", "cb-c1", 2.0)
    router.ready("a1", 3.0)
    router.callback_failed("cb-c1", "a1", 4.0)
    router.not_ready("a1", "break", 4.5)
    router.enqueue("c2", "support", 5.0)
    router.tick(9.0)
    assert [w.call_id for w in router.waiting_in("support")] == ["cb-c1", "c2"]
    assert offers(router.ready("a1", 10.0)) == [("cb-c1", "a1", "callback")]


def test_callback_is_given_up_after_the_last_attempt():
    router = router_with("a1", attempts=2, retry_s=1.0)
    router.enqueue("c1", "support", 1.0)
    router.request_callback("c1", "cb-c1", 2.0)
    router.ready("a1", 3.0)
    router.callback_failed("cb-c1", "a1", 4.0)
    assert offers(router.tick(5.0)) == [("cb-c1", "a1", "callback")]
    decisions = router.callback_failed("cb-c1", "a1", 6.0)
    assert [d for d in decisions if isinstance(d, CallbackGivenUp)] == [
        CallbackGivenUp("cb-c1", "support", 2, 6.0)]
    assert "cb-c1" not in router.waiting and router.waiting_in("support") == []
    assert router.agent("a1").state is State.READY
    assert router.tick(100.0) == []


def test_agent_logs_out_while_reserved_for_a_callback_and_it_waits_in_place():
    router = router_with("a1", "a2")
    router.enqueue("c1", "support", 1.0)
    router.enqueue("c2", "support", 2.0)
    router.request_callback("c1", "cb-c1", 3.0)
    router.ready("a1", 4.0)
    decisions = router.logout("a1", 5.0)
    assert router.agent("a1").state is State.LOGGED_OUT and not offers(decisions)
    assert router.position("cb-c1") == 1
    # Late news of that attempt changes nothing.
    assert router.callback_failed("cb-c1", "a1", 6.0) == []
    assert router.offer_failed("cb-c1", "a1", 6.0) == []
    assert router.waiting["cb-c1"].attempts == 0
    assert offers(router.ready("a2", 7.0)) == [("cb-c1", "a2", "callback")]


def test_callback_has_no_maximum_wait():
    router = Router([QueueConfig("support", wrapup_s=0.0, max_wait_s=10.0,
                                 overflow="voicemail:100")])
    router.enqueue("c1", "support", 0.0)
    router.request_callback("c1", "cb-c1", 5.0)
    assert router.tick(60.0) == []
    assert router.position("cb-c1") == 1


def test_callback_cannot_be_requested_for_a_call_ringing_an_agent():
    router = router_with("a1")
    router.ready("a1", 0.0)
    router.enqueue("c1", "support", 1.0)
    with pytest.raises(ValueError, match="offered"):
        router.request_callback("c1", "cb-c1", 2.0)
    with pytest.raises(ValueError, match="not waiting"):
        router.request_callback("nope", "cb-nope", 2.0)


def test_callback_read_back_takes_its_original_place():
    router = router_with("a1")
    router.enqueue("c1", "support", 10.0)
    router.enqueue("c2", "support", 30.0)
    # A callback asked for at 20 s, before a restart: between the two calls.
    assert router.add_callback("cb-old", "support", 20.0, 100.0) == []
    assert [w.call_id for w in router.waiting_in("support")] == ["c1", "cb-old", "c2"]
    router.call_left("c1", 101.0)
    assert offers(router.ready("a1", 102.0)) == [("cb-old", "a1", "callback")]


def test_callback_read_back_keeps_priority_skills_and_attempts():
    router = router_with("a1", "a2", attempts=3)
    router.add_agent("a2", ["support"], "lang_es:3")
    router.enqueue("c1", "support", 1.0, priority=5)
    router.add_callback("cb-vip", "support", 50.0, 60.0, priority=10, skills="lang_es:2",
                        attempts=2)
    assert router.position("cb-vip") == 1
    assert router.ready("a1", 61.0)[-1].call_id == "c1"  # a1 lacks the skill
    assert offers(router.ready("a2", 62.0)) == [("cb-vip", "a2", "callback")]
    # Its third attempt is its last.
    given_up = [d for d in router.callback_failed("cb-vip", "a2", 63.0)
                if isinstance(d, CallbackGivenUp)]
    assert given_up == [CallbackGivenUp("cb-vip", "support", 3, 63.0)]


def test_callback_read_back_with_a_retry_time_waits_parked_in_its_place():
    router = router_with("a1")
    router.ready("a1", 0.0)
    assert router.add_callback("cb-1", "support", 5.0, 10.0, attempts=1,
                               retry_at=40.0) == []
    assert router.position("cb-1") == 1 and router.next_due() == 40.0
    assert router.tick(39.0) == []
    assert offers(router.tick(40.0)) == [("cb-1", "a1", "callback")]


def test_added_callback_is_offered_at_once_to_a_ready_agent_and_never_rejected():
    router = Router([QueueConfig("support", wrapup_s=0.0, join_empty=False, max_wait_s=5.0,
                                 overflow="voicemail:100")])
    assert router.add_callback("cb-1", "support", 1.0, 1.0) == []  # nobody logged in
    assert router.tick(100.0) == [] and router.position("cb-1") == 1
    router.add_agent("a1", ["support"])
    assert offers(router.ready("a1", 101.0)) == [("cb-1", "a1", "callback")]
    with pytest.raises(ValueError, match="already waiting"):
        router.add_callback("cb-1", "support", 1.0, 102.0)
    with pytest.raises(ValueError, match="unknown queue"):
        router.add_callback("cb-2", "billing", 1.0, 102.0)
