"""``CallTracker.resync``: rebuilding calls from ``CoreShowChannels`` after a reconnect.

The channel list is the real one of recording ``04b``: taken on a second AMI session
while the call of recording ``05`` was bridged with agent 1001 (4 channels).
"""

from __future__ import annotations

import pytest

from callcenter.ami.codec import AMIConnection, Message
from callcenter.calls import LOST_DURING_DISCONNECT, CallTracker
from callcenter.events import (
    AgentOffered,
    CallAnswered,
    CallArrived,
    CallEnded,
    CallQueued,
)
from tests.tracker.conftest import event, named, raw_recording, recorded_messages, replay

CALL = "1795409980.0"


def live_channels() -> list[Message]:
    """The CoreShowChannel items (and the closing event) of 04b."""
    conn = AMIConnection()
    items = conn.receive_data(raw_recording("04b_ami_queries_during_call"))
    listed = [m for m in items if isinstance(m, Message)
              and m.name in ("CoreShowChannel", "CoreShowChannelsComplete")]
    assert [m.name for m in listed].count("CoreShowChannel") == 4
    return listed


def tracker_until(t: float) -> tuple[CallTracker, list]:
    """A tracker that saw recording 05 up to ``t`` seconds."""
    tracker = CallTracker()
    return tracker, replay(tracker, [(now, m) for now, m in recorded_messages(
        "05_inbound_call_ivr_queue") if now <= t])


def test_call_still_up_is_kept_without_a_second_arrival(transcripts):
    tracker, before = tracker_until(8.0)  # bridged with 1001 at 7.27
    assert named(before).count("CallArrived") == 1

    assert tracker.resync(live_channels(), 14.0) == []
    view = tracker.call(CALL)
    assert not view.ended
    assert view.answered_by == "Local/1001@agents"
    assert sorted(view.channels) == sorted(m["Channel"] for m in live_channels()[:4])


def test_call_answered_while_blind_is_answered_at_resync(transcripts):
    tracker, before = tracker_until(7.0)  # both agents ringing
    assert "CallAnswered" not in named(before)

    out = tracker.resync(live_channels(), 14.0)
    assert named(out) == ["CallAnswered"]
    assert (out[0].call_id, out[0].device, out[0].at) == (CALL, "Local/1001@agents", 14.0)
    assert tracker.call(CALL).ringing == ()  # 1002 stopped ringing while we were blind


def test_unknown_live_inbound_call_is_adopted_once(transcripts):
    tracker = CallTracker()
    out = tracker.resync(live_channels(), 1000.0)

    assert named(out) == ["CallArrived", "CallQueued", "AgentOffered", "CallAnswered"]
    arrived = out[0]
    assert arrived == CallArrived(call_id=CALL, channel="Local/s@inbound-00000000;1",
                                  uniqueid=CALL, caller_number="5551234567",
                                  caller_name="Lab Caller", dnis="", at=993.0)
    assert out[1] == CallQueued(call_id=CALL, queue="sales", at=1000.0)
    assert isinstance(out[2], AgentOffered) and out[2].device == "Local/1001@agents"
    assert isinstance(out[3], CallAnswered)
    # The same list again changes nothing.
    assert tracker.resync(live_channels(), 1001.0) == []
    # Later events of the adopted call are followed: the caller hangs up.
    hangups = [m for now, m in recorded_messages("05_inbound_call_ivr_queue") if now > 18]
    ended = replay(tracker, [(1010.0, m) for m in hangups])
    assert named(ended) == ["CallEnded"]
    assert ended[0].cause_txt == "Normal Clearing"


def test_call_gone_while_blind_ends_as_lost_once(transcripts):
    tracker, _ = tracker_until(8.0)

    out = tracker.resync([], 30.0)
    assert out == [CallEnded(call_id=CALL, at=30.0, cause="",
                             cause_txt=LOST_DURING_DISCONNECT)]
    assert tracker.call(CALL).outcome == "answered"
    assert tracker.active_calls() == [] and tracker._channels == {}
    assert tracker.resync([], 31.0) == []
    # Late events of the lost call do not bring it back.
    late = [m for now, m in recorded_messages("05_inbound_call_ivr_queue") if now > 18]
    assert replay(tracker, [(32.0, m) for m in late]) == []


def test_lost_call_that_reappears_in_the_list_is_not_adopted_again(transcripts):
    tracker, _ = tracker_until(8.0)
    tracker.resync([], 30.0)
    assert tracker.resync(live_channels(), 31.0) == []


def test_live_channels_outside_inbound_contexts_are_followed_but_not_calls():
    agent_leg = event("CoreShowChannel", Channel="Local/1001@agents-0000002c;1",
                      Uniqueid="1795410248.88", Linkedid="1795410248.88", Context="misc",
                      Exten="silence", Application="Wait", Duration="00:00:02",
                      BridgeId="")
    tracker = CallTracker()
    assert tracker.resync([agent_leg], 5.0) == []
    assert tracker.linkedid_for("1795410248.88") == "1795410248.88"
    assert tracker.active_calls() == []


def test_renamed_channel_takes_its_listed_name(transcripts):
    tracker, _ = tracker_until(8.0)
    renamed = [Message(tuple((k, "Local/s@inbound-00000000;2<ZOMBIE>" if v.endswith(
        "inbound-00000000;2") and k == "Channel" else v) for k, v in m.headers))
               for m in live_channels()]
    assert tracker.resync(renamed, 14.0) == []
    assert "Local/s@inbound-00000000;2<ZOMBIE>" in tracker.call(CALL).channels


@pytest.mark.parametrize("junk", [
    [event("CoreShowChannel")],
    [event("CoreShowChannel", Uniqueid="1.1")],
    [Message((("Response", "Success"),))],
    [object()],
])
def test_items_that_cannot_be_read_are_skipped(junk, transcripts):
    tracker, _ = tracker_until(8.0)
    assert tracker.resync([*junk, *live_channels()], 14.0) == []
    assert not tracker.call(CALL).ended
