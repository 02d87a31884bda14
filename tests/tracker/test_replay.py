"""The call tracker against the real Asterisk 22 recordings."""

from __future__ import annotations

import re

import pytest

from callcenter.ami.codec import AMIConnection
from callcenter.calls import CallTracker
from callcenter.events import (
    CALL_EVENTS,
    AgentOffered,
    AgentRingEnded,
    CallAnswered,
    CallArrived,
    CallEnded,
    CallerIdentified,
    CallQueued,
    CallTransferred,
)
from tests.conftest import transcript_names
from tests.tracker.conftest import (
    events_of,
    named,
    of_call,
    raw_recording,
    recorded_messages,
    replay,
)

LAB_CONTEXTS = ("inbound", "inbound-noagi")


def lab_tracker(**kwargs) -> CallTracker:
    return CallTracker(inbound_contexts=LAB_CONTEXTS, **kwargs)


def run(name: str, **kwargs) -> tuple[CallTracker, list]:
    tracker = lab_tracker(**kwargs)
    return tracker, replay(tracker, recorded_messages(name))


def only_call(events: list) -> str:
    ids = {e.call_id for e in events}
    assert len(ids) == 1, ids
    return ids.pop()


# ------------------------------------------------------------- every recording


@pytest.mark.parametrize("name", transcript_names(".ami.raw"))
def test_recording_replays_into_well_formed_call_stories(name, transcripts):
    tracker, events = run(name)

    assert all(isinstance(e, CALL_EVENTS) for e in events)
    for call_id in {e.call_id for e in events}:
        story = of_call(events, call_id)
        assert isinstance(story[0], CallArrived), named(story)
        assert isinstance(story[-1], CallEnded), named(story)
        assert named(story).count("CallArrived") == 1
        assert named(story).count("CallEnded") == 1
    # every recording ends with all channels hung up: nothing is left behind
    assert tracker.active_calls() == []
    assert tracker._channels == {} and tracker._groups == {}


@pytest.mark.parametrize("name", transcript_names(".ami.raw"))
def test_recording_with_default_contexts_sees_only_calls_into_inbound(name, transcripts):
    _, events = run(name)
    tracker = CallTracker()
    default_events = replay(tracker, recorded_messages(name))

    inbound = {e.call_id for e in events if isinstance(e, CallArrived)
               and re.match(r"Local/s@inbound-[0-9a-f]+;1$", e.channel)}
    assert {e.call_id for e in default_events} == inbound
    assert default_events == [e for e in events if e.call_id in inbound]


# ------------------------------------------------------- 05: the reference call


def test_reference_inbound_call_tells_the_whole_story_in_order(transcripts):
    _, events = run("05_inbound_call_ivr_queue")
    call_id = only_call(events)

    assert call_id == "1795409980.0"
    assert named(events) == [
        "CallArrived", "CallerIdentified", "CallQueued", "AgentOffered", "AgentOffered",
        "CallAnswered", "AgentRingEnded", "CallEnded",
    ]
    arrived = events[0]
    assert arrived.channel == "Local/s@inbound-00000000;1"
    assert arrived.uniqueid == call_id
    assert arrived.at == pytest.approx(0.002)
    identified = events[1]
    assert (identified.caller_number, identified.caller_name) == ("5551234567", "Lab Caller")
    assert events[2] == CallQueued(call_id=call_id, queue="sales", at=events[2].at, position=1)
    offered = {e.device: e for e in events if isinstance(e, AgentOffered)}
    assert set(offered) == {"Local/1001@agents", "Local/1002@agents"}
    assert all(e.queue == "sales" for e in offered.values())
    assert offered["Local/1001@agents"].agent_channel == "Local/1001@agents-00000002;1"
    answered = [e for e in events if isinstance(e, CallAnswered)]
    assert [(e.device, e.agent_channel) for e in answered] == [
        ("Local/1001@agents", "Local/1001@agents-00000002;1")]
    ring_ended = [e for e in events if isinstance(e, AgentRingEnded)]
    assert [(e.device, e.status) for e in ring_ended] == [("Local/1002@agents", "CANCEL")]
    ended = events[-1]
    assert (ended.cause, ended.cause_txt) == ("16", "Normal Clearing")
    assert ended.at == pytest.approx(18.525, abs=0.01)
    assert [e.at for e in events] == sorted(e.at for e in events)


def test_reference_call_view_follows_the_call_and_expires_after_grace(transcripts):
    tracker = lab_tracker(ended_grace=30.0)
    call_id = "1795409980.0"
    seen = {}
    last = 0.0
    for now, msg in recorded_messages("05_inbound_call_ivr_queue"):
        produced = tracker.feed(msg, now)
        last = now
        for e in produced:
            seen[type(e).__name__] = tracker.call(call_id)

    queued = seen["CallQueued"]
    assert queued.in_queue and queued.queue == "sales"
    assert queued.caller_number == "5551234567" and queued.dnis == "8005550100"
    ringing = seen["AgentOffered"]
    assert set(ringing.ringing) == {"Local/1001@agents", "Local/1002@agents"}
    answered = seen["CallAnswered"]
    assert answered.answered_by == "Local/1001@agents" and not answered.in_queue
    assert answered.agent_channel == "Local/1001@agents-00000002;1"
    assert len(answered.channels) == 6
    ended = tracker.call(call_id)
    assert ended.ended and ended.channels == () and ended.ringing == ()
    assert (ended.cause, ended.cause_txt) == ("16", "Normal Clearing")
    assert tracker.active_calls() == []

    late = recorded_messages("05_inbound_call_ivr_queue")[-1][1]
    tracker.feed(late, ended.ended_at + 29.0)
    assert tracker.call(call_id) is not None
    tracker.feed(late, ended.ended_at + 30.0)
    assert tracker.call(call_id) is None
    assert last < ended.ended_at + 30.0


def test_reference_call_is_found_from_the_agi_uniqueid(transcripts):
    env = (transcripts / "05_inbound_call_ivr_queue.agi-c1.rx.raw").read_text()
    agi_uniqueid = re.search(r"^agi_uniqueid: (\S+)$", env, re.M).group(1)
    tracker = lab_tracker()
    answers = []
    for now, msg in recorded_messages("05_inbound_call_ivr_queue"):
        tracker.feed(msg, now)
        if msg.name == "AGIExecStart":
            answers.append(tracker.linkedid_for(agi_uniqueid))

    assert agi_uniqueid == "1795409980.1"
    assert answers and set(answers) == {"1795409980.0"}


def test_reference_call_offers_only_devices_said_to_be_agents(transcripts):
    _, events = run("05_inbound_call_ivr_queue",
                    agent_devices=lambda device: device != "Local/1002@agents")

    assert [e.device for e in events if isinstance(e, AgentOffered)] == ["Local/1001@agents"]
    assert not any(isinstance(e, AgentRingEnded) for e in events)
    assert [e.device for e in events if isinstance(e, CallAnswered)] == ["Local/1001@agents"]


def test_reference_call_cut_at_any_point_never_raises_nor_invents_calls(transcripts):
    messages = recorded_messages("05_inbound_call_ivr_queue")
    for start in range(len(messages)):
        tracker = lab_tracker()
        events = replay(tracker, messages[start:])
        if not any(isinstance(e, CallArrived) for e in events):
            assert events == [], start


def test_reference_call_story_does_not_depend_on_how_the_bytes_arrive(transcripts):
    raw = raw_recording("05_inbound_call_ivr_queue")
    whole = events_of(AMIConnection().receive_data(raw))
    expected = replay(lab_tracker(), enumerate(whole))
    assert len(expected) == 8

    for size in [*range(1, 12), 63, 509, 4096]:
        connection, messages = AMIConnection(), []
        for i in range(0, len(raw), size):
            messages.extend(events_of(connection.receive_data(raw[i:i + size])))
        assert replay(lab_tracker(), enumerate(messages)) == expected, size


def test_two_recordings_interleaved_give_each_call_its_own_story(transcripts):
    first = recorded_messages("05_inbound_call_ivr_queue")
    second = [(t + 3.0, m) for t, m in recorded_messages("07_queue_ringnoanswer_autopause")]
    _, alone_first = run("05_inbound_call_ivr_queue")
    alone_second = replay(lab_tracker(), second)

    both = replay(lab_tracker(), sorted(first + second, key=lambda pair: pair[0]))

    assert of_call(both, "1795409980.0") == alone_first
    assert of_call(both, "1795410012.8") == alone_second


# ----------------------------------------------------------------- queues


def test_abandoned_queue_call_is_queued_then_ends_unanswered(transcripts):
    _, events = run("06_queue_abandon")
    only_call(events)

    assert named(events) == ["CallArrived", "CallerIdentified", "CallQueued", "CallEnded"]
    assert events[1].caller_number == "5552220001"
    assert events[2].queue == "backoffice"
    assert events[-1].at - events[2].at == pytest.approx(7.5, abs=0.5)


def test_ring_no_answer_moves_the_offer_to_the_next_agent(transcripts):
    _, events = run("07_queue_ringnoanswer_autopause")
    only_call(events)
    agent_events = [(type(e).__name__, e.device) for e in events
                    if isinstance(e, (AgentOffered, AgentRingEnded, CallAnswered))]

    assert agent_events == [
        ("AgentOffered", "Local/1003@agents"),
        ("AgentRingEnded", "Local/1003@agents"),
        ("AgentOffered", "Local/1004@agents"),
        ("CallAnswered", "Local/1004@agents"),
    ]
    ring_ended = next(e for e in events if isinstance(e, AgentRingEnded))
    assert ring_ended.status == "NOANSWER"
    offer = next(e for e in events if isinstance(e, AgentOffered))
    assert ring_ended.at - offer.at == pytest.approx(5.0, abs=0.1)
    assert isinstance(events[-1], CallEnded)


def test_dynamic_queue_member_is_offered_and_answers(transcripts):
    _, events = run("08_queue_member_add_pause_remove")

    assert [(type(e).__name__, e.device) for e in events
            if isinstance(e, (AgentOffered, CallAnswered))] == [
        ("AgentOffered", "Local/1005@agents"), ("CallAnswered", "Local/1005@agents")]


# -------------------------------------------------------------- transfers


def test_redirect_of_the_caller_is_a_transfer_then_the_new_agent_answers(transcripts):
    _, events = run("10_blind_transfer_redirect")
    only_call(events)
    after_answer = named(events)[named(events).index("CallAnswered"):]

    assert after_answer == [
        "CallAnswered", "AgentRingEnded", "CallTransferred", "AgentOffered", "CallAnswered",
        "CallEnded",
    ]
    transfer = next(e for e in events if isinstance(e, CallTransferred))
    assert (transfer.kind, transfer.target) == ("redirect", "1003@transfer")
    answered = [e.device for e in events if isinstance(e, CallAnswered)]
    assert answered == ["Local/1002@agents", "Local/1003@agents"]
    assert next(e for e in events if isinstance(e, AgentOffered)
                and e.device == "Local/1003@agents").queue is None


def test_blind_transfer_action_is_one_transfer_then_the_target_answers(transcripts):
    tracker, events = run("11_blind_transfer_action", ended_grace=1000.0)
    call_id = only_call(events)

    transfers = [e for e in events if isinstance(e, CallTransferred)]
    assert [(e.kind, e.target) for e in transfers] == [("blind", "1004@transfer")]
    assert [e.device for e in events if isinstance(e, CallAnswered)] == [
        "Local/1001@agents", "Local/1004@agents"]
    assert named(events)[-4:] == [
        "CallTransferred", "AgentOffered", "CallAnswered", "CallEnded"]
    view = tracker.call(call_id)
    assert view.transfers == 1 and view.answered_by == "Local/1004@agents"


@pytest.mark.parametrize("name", ["05_inbound_call_ivr_queue", "13_hangup_action",
                                  "16_agi_connection_dropped", "23_mixmonitor"])
def test_calls_ended_by_hangup_are_never_taken_for_transfers(name, transcripts):
    _, events = run(name)

    assert not any(isinstance(e, CallTransferred) for e in events)


# ---------------------------------------------------------------- hangups


def test_hangup_actions_end_a_queued_call_and_a_talking_call(transcripts):
    _, events = run("13_hangup_action")
    first, second = "1795410128.52", "1795410132.54"

    assert {e.call_id for e in events} == {first, second}
    assert named(of_call(events, first)) == [
        "CallArrived", "CallerIdentified", "CallQueued", "CallEnded"]
    assert of_call(events, first)[-1].cause == "16"
    story = of_call(events, second)
    assert [e.device for e in story if isinstance(e, CallAnswered)] == ["Local/1001@agents"]
    assert (story[-1].cause, story[-1].cause_txt) == ("17", "User busy")


def test_unreachable_agi_call_arrives_and_ends_without_queue(transcripts):
    _, events = run("16b_agi_server_unreachable")
    only_call(events)

    assert named(events) == ["CallArrived", "CallerIdentified", "CallEnded"]
    assert events[1].caller_number == "5551234567"
    assert events[-1].cause == "16"


def test_dropped_agi_connection_still_queues_and_answers_the_call(transcripts):
    _, events = run("16_agi_connection_dropped")

    assert [e.queue for e in events if isinstance(e, CallQueued)] == ["sales"]
    assert [e.device for e in events if isinstance(e, CallAnswered)] == ["Local/1001@agents"]


def test_caller_hanging_up_during_agi_ends_the_call_unqueued(transcripts):
    _, events = run("17_agi_hangup_during_command")

    assert named(events) == ["CallArrived", "CallerIdentified", "CallEnded"]


def test_caller_id_changed_by_agi_is_identified_again(transcripts):
    _, events = run("19_agi_command_results")

    numbers = [e.caller_number for e in events if isinstance(e, CallerIdentified)]
    assert numbers == ["5551234567", "5550000"]
    assert (events[-1].cause, events[-1].cause_txt) == ("0", "Unknown")


def test_originates_to_agent_phones_are_not_inbound_calls(transcripts):
    tracker, events = run("21_originate_variants")

    assert events == []
    assert tracker._channels == {}
