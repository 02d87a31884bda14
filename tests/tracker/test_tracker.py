"""The call tracker on small hand-written event sequences."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callcenter.calls import CallTracker, device_of
from callcenter.events import (
    CALL_EVENTS,
    AgentOffered,
    AgentRingEnded,
    CallAnswered,
    CallArrived,
    CallEnded,
    CallerIdentified,
    CallTransferred,
)
from tests.tracker.conftest import event, message, named

CALLER = "PJSIP/trunk-00000001"
AGENT = "PJSIP/1001-00000002"
CALL = "1700000000.1"


def chan(name: str, uniqueid: str, linkedid: str = CALL, *, context: str = "inbound",
         exten: str = "8005550100", number: str = "5551234567", cname: str = "Alice",
         **extra: str) -> dict:
    return dict(Channel=name, Uniqueid=uniqueid, Linkedid=linkedid, Context=context,
                Exten=exten, CallerIDNum=number, CallerIDName=cname, **extra)


def dest(name: str, uniqueid: str, linkedid: str = CALL) -> dict:
    return dict(DestChannel=name, DestUniqueid=uniqueid, DestLinkedid=linkedid)


def caller(**extra: str) -> dict:
    return chan(CALLER, CALL, **extra)


def agent_leg(name: str = AGENT, uniqueid: str = "1700000000.2",
              linkedid: str = CALL) -> dict:
    return chan(name, uniqueid, linkedid, context="agents", exten="1001",
                number="<unknown>", cname="<unknown>")


class Feeder:
    """A tracker and a clock that moves one second per event."""

    def __init__(self, **kwargs) -> None:
        self.tracker = CallTracker(**kwargs)
        self.now = 0.0

    def __call__(self, name: str, **headers: str) -> list:
        self.now += 1.0
        return self.tracker.feed(event(name, **headers), self.now)

    def arrive(self) -> list:
        return self("Newchannel", **caller())

    def ring(self, name: str = AGENT, uniqueid: str = "1700000000.2") -> list:
        out = self("Newchannel", **agent_leg(name, uniqueid))
        return out + self("DialBegin", **caller(), **dest(name, uniqueid),
                          DialString=device_of(name))


@pytest.fixture
def feed() -> Feeder:
    return Feeder()


# ------------------------------------------------------------------ devices


@pytest.mark.parametrize(("name", "device"), [
    ("Local/1001@agents-00000002;1", "Local/1001@agents"),
    ("Local/1001@agents-00000002;2", "Local/1001@agents"),
    ("PJSIP/1001-0000000a", "PJSIP/1001"),
    ("Local/1001@agents/n", "Local/1001@agents"),
    ("1003@agents/n", "1003@agents"),
    ("PJSIP/1001", "PJSIP/1001"),
    ("PJSIP/1001/sip:1001@10.0.0.5:5060", "PJSIP/1001"),
    ("PJSIP/1001&PJSIP/1002", "PJSIP/1001"),
    ("PJSIP/trunk-provider-0000001f", "PJSIP/trunk-provider"),
    ("SIP/cafe-babe-000000ff<ZOMBIE>", "SIP/cafe-babe"),
    ("  PJSIP/1001-0000000a  ", "PJSIP/1001"),
    ("", ""),
])
def test_device_of_strips_channel_suffix_and_dial_options(name, device):
    assert device_of(name) == device


# ------------------------------------------------------------ arrival, caller id


def test_call_arrives_with_number_name_and_dnis_from_its_first_channel(feed):
    out = feed.arrive()

    assert out == [CallArrived(call_id=CALL, channel=CALLER, uniqueid=CALL,
                               caller_number="5551234567", caller_name="Alice",
                               dnis="8005550100", at=1.0)]
    assert feed("NewCallerid", **caller()) == []


def test_channel_outside_inbound_contexts_is_not_a_call(feed):
    assert feed("Newchannel", **chan(CALLER, CALL, context="from-internal")) == []
    assert feed.tracker.active_calls() == []
    assert feed.tracker.linkedid_for(CALL) == CALL


def test_unknown_caller_and_s_extension_give_empty_number_and_dnis(feed):
    out = feed("Newchannel", **caller(number="<unknown>", cname="<unknown>", exten="s"))

    assert (out[0].caller_number, out[0].caller_name, out[0].dnis) == ("", "", "")


def test_caller_number_revealed_later_is_identified_once_and_again_on_change(feed):
    feed("Newchannel", **caller(number="<unknown>", cname="<unknown>"))

    first = feed("NewCallerid", **caller())
    repeat = feed("NewCallerid", **caller())
    changed = feed("NewCallerid", **caller(number="5559999", cname="Bob"))

    assert first == [CallerIdentified(call_id=CALL, caller_number="5551234567",
                                      caller_name="Alice", at=2.0)]
    assert repeat == []
    assert [(e.caller_number, e.caller_name) for e in changed] == [("5559999", "Bob")]
    assert feed.tracker.call(CALL).caller_number == "5559999"


def test_caller_id_on_an_agent_leg_does_not_identify_the_caller(feed):
    feed.arrive()
    feed.ring()

    assert feed("NewCallerid", **agent_leg() | {"CallerIDNum": "1001"}) == []
    assert feed.tracker.call(CALL).caller_number == "5551234567"


def test_queue_join_reveals_the_number_before_queueing(feed):
    feed("Newchannel", **caller(number="<unknown>", cname="<unknown>"))

    out = feed("QueueCallerJoin", **caller(), Queue="sales", Position="3", Count="3")

    assert named(out) == ["CallerIdentified", "CallQueued"]
    assert (out[1].queue, out[1].position) == ("sales", 3)


def test_number_from_the_agi_environment_is_identified_once(feed):
    feed("Newchannel", **caller(number="<unknown>", cname="<unknown>"))

    out = feed.tracker.identify(CALL, "5551234567", "Alice", 5.0)

    assert out == [CallerIdentified(call_id=CALL, caller_number="5551234567",
                                    caller_name="Alice", at=5.0)]
    assert feed.tracker.identify(CALL, "5551234567", "Alice", 6.0) == []
    assert feed.tracker.identify("no.such", "5550000", "", 6.0) == []


# ------------------------------------------------------------------- agents


def test_dial_towards_an_agent_offers_the_call_once(feed):
    feed.arrive()

    out = feed.ring()
    again = feed("AgentCalled", **caller(), **dest(AGENT, "1700000000.2"), Queue="sales")

    assert out == [AgentOffered(call_id=CALL, device="PJSIP/1001", agent_channel=AGENT,
                                at=3.0, queue=None)]
    assert again == []
    assert feed.tracker.call(CALL).ringing == ("PJSIP/1001",)


def test_offer_during_a_queue_wait_names_the_queue(feed):
    feed.arrive()
    feed("QueueCallerJoin", **caller(), Queue="support", Position="1")

    out = feed.ring()

    assert [e.queue for e in out] == ["support"]


def test_dial_towards_the_callers_own_local_half_is_not_an_offer():
    feed = Feeder()
    one, two = "Local/s@inbound-00000000;1", "Local/s@inbound-00000000;2"
    feed("Newchannel", **chan(one, CALL))
    feed("Newchannel", **chan(two, "1700000000.9"))

    out = feed("DialBegin", **dest(one, CALL), DialString="s@inbound")
    out += feed("DialEnd", **dest(one, CALL), DialStatus="ANSWER")

    assert out == []


def test_answer_without_a_seen_dial_begin_offers_then_answers(feed):
    feed.arrive()
    feed("Newchannel", **agent_leg())

    out = feed("DialEnd", **caller(), **dest(AGENT, "1700000000.2"), DialStatus="ANSWER")

    assert named(out) == ["AgentOffered", "CallAnswered"]
    assert out[1] == CallAnswered(call_id=CALL, device="PJSIP/1001", agent_channel=AGENT,
                                  at=3.0)
    view = feed.tracker.call(CALL)
    assert (view.answered_by, view.answered_at, view.ringing) == ("PJSIP/1001", 3.0, ())


def test_agent_connect_after_dial_answer_is_not_a_second_answer(feed):
    feed.arrive()
    feed.ring()
    feed("DialEnd", **caller(), **dest(AGENT, "1700000000.2"), DialStatus="ANSWER")

    assert feed("AgentConnect", **caller(), **dest(AGENT, "1700000000.2"),
                Queue="sales") == []


def test_ring_ended_is_reported_once_for_repeated_dial_ends(feed):
    feed.arrive()
    feed.ring()
    d = dest(AGENT, "1700000000.2")

    busy = feed("DialEnd", **caller(), **d, DialStatus="BUSY")
    repeat = feed("DialEnd", **caller(), **d, DialStatus="CANCEL")
    hangup = feed("Hangup", **agent_leg(), Cause="17", **{"Cause-txt": "User busy"})

    assert busy == [AgentRingEnded(call_id=CALL, device="PJSIP/1001", agent_channel=AGENT,
                                   status="BUSY", at=4.0)]
    assert repeat == [] and hangup == []


def test_agent_leg_hanging_up_while_ringing_ends_the_ring_not_the_call(feed):
    feed.arrive()
    feed.ring()

    out = feed("Hangup", **agent_leg(), Cause="19", **{"Cause-txt": "No answer"})

    assert [(type(e).__name__, e.status) for e in out] == [("AgentRingEnded", "HANGUP")]
    assert feed.tracker.call(CALL).ended is False


def test_dialled_device_not_said_to_be_an_agent_is_not_offered():
    feed = Feeder(agent_devices=lambda device: device.startswith("PJSIP/10"))
    feed.arrive()

    assert feed.ring("PJSIP/voicemail-00000003", "1700000000.3") == []
    assert named(feed.ring()) == ["AgentOffered"]


# ---------------------------------------------------------------- transfers


def test_attended_transfer_names_the_target_device(feed):
    feed.arrive()
    feed.ring()

    out = feed("AttendedTransfer", Result="Success", TransfereeChannel=CALLER,
               TransfereeUniqueid=CALL, TransfereeLinkedid=CALL,
               OrigTransfererChannel=AGENT, OrigTransfererLinkedid=CALL,
               TransferTargetChannel="PJSIP/2001-00000009", DestType="Bridge")

    assert out == [CallTransferred(call_id=CALL, target="PJSIP/2001", kind="attended",
                                   at=4.0)]
    assert feed.tracker.call(CALL).transfers == 1


def test_failed_blind_transfer_reports_nothing(feed):
    feed.arrive()

    assert feed("BlindTransfer", Result="Fail", TransfereeLinkedid=CALL,
                Extension="2000", Context="transfer") == []


def test_caller_leaving_a_bridge_where_it_entered_is_no_transfer(feed):
    feed.arrive()
    feed.ring()
    feed("DialEnd", **caller(), **dest(AGENT, "1700000000.2"), DialStatus="ANSWER")
    feed("BridgeEnter", **caller(), BridgeUniqueid="b1")

    assert feed("BridgeLeave", **caller(), BridgeUniqueid="b1") == []
    feed("BridgeEnter", **caller(), BridgeUniqueid="b2")
    feed("SoftHangupRequest", **caller(), Cause="16")
    assert feed("BridgeLeave", **caller(context="hangup-handler", exten="h"),
                BridgeUniqueid="b2") == []


def test_caller_leaving_its_bridge_elsewhere_is_a_redirect(feed):
    feed.arrive()
    feed.ring()
    feed("DialEnd", **caller(), **dest(AGENT, "1700000000.2"), DialStatus="ANSWER")
    feed("BridgeEnter", **caller(), BridgeUniqueid="b1")

    out = feed("BridgeLeave", **caller(context="hold", exten="s"), BridgeUniqueid="b1")

    assert [(e.kind, e.target) for e in out] == [("redirect", "s@hold")]


# ---------------------------------------------------------- ending, memory


def end_call(feed: Feeder) -> list:
    out = feed("Hangup", **agent_leg(), Cause="16", **{"Cause-txt": "Normal Clearing"})
    return out + feed("Hangup", **caller(), Cause="16", **{"Cause-txt": "Normal Clearing"})


def test_call_ends_when_its_last_channel_hangs_up_with_the_callers_cause(feed):
    feed.arrive()
    feed.ring()
    feed("DialEnd", **caller(), **dest(AGENT, "1700000000.2"), DialStatus="ANSWER")

    first = feed("Hangup", **caller(), Cause="16", **{"Cause-txt": "Normal Clearing"})
    last = feed("Hangup", **agent_leg(), Cause="26", **{"Cause-txt": "Answered elsewhere"})

    assert first == []
    assert last == [CallEnded(call_id=CALL, at=6.0, cause="16", cause_txt="Normal Clearing")]


def test_hangup_naming_the_channel_only_is_followed_by_name(feed):
    feed.arrive()

    out = feed("Hangup", Channel=CALLER, Cause="16", Cause_txt="Normal Clearing")

    assert named(out) == ["CallEnded"]


def test_late_events_of_an_ended_call_do_not_bring_it_back(feed):
    feed.arrive()
    feed.ring()
    end_call(feed)

    assert feed("Newchannel", **caller()) == []
    assert feed("DialBegin", **caller(), **dest(AGENT, "1700000000.2")) == []
    assert feed("Hangup", **caller(), Cause="16") == []
    assert feed.tracker.call(CALL).ended


def test_forgotten_call_is_dropped_and_its_later_events_ignored(feed):
    feed.arrive()
    feed.ring()

    feed.tracker.forget(CALL)

    assert feed.tracker.call(CALL) is None and feed.tracker.active_calls() == []
    assert end_call(feed) == []
    assert feed("Newchannel", **caller()) == []
    assert feed.tracker.linkedid_for(CALL) is None


def test_ended_linkedids_are_remembered_only_up_to_the_limit():
    feed = Feeder(ended_memory=1)
    other = "1700000050.1"
    feed.arrive()
    feed("Hangup", **caller(), Cause="16")
    feed("Newchannel", **chan(CALLER, other, other))
    feed("Hangup", **chan(CALLER, other, other), Cause="16")
    feed.tracker.forget(CALL)
    feed.tracker.forget(other)

    assert feed("Newchannel", **chan(CALLER, other, other)) == []
    assert named(feed.arrive()) == ["CallArrived"]


def test_ended_call_stays_readable_for_the_grace_then_is_dropped():
    feed = Feeder(ended_grace=10.0)
    feed.arrive()
    feed("Hangup", **caller(), Cause="16")  # ends at t=2

    feed.tracker.feed(event("Ping"), 11.9)
    assert feed.tracker.call(CALL).ended_at == 2.0
    feed.tracker.feed(event("Ping"), 12.0)
    assert feed.tracker.call(CALL) is None
    assert feed.tracker.linkedid_for(CALL) is None


def test_records_about_a_hung_up_leg_do_not_revive_it(feed):
    feed.arrive()
    feed.ring()
    feed("Hangup", **agent_leg(), Cause="26")

    feed("CEL", EventName="CHAN_END", Channel=AGENT, UniqueID="1700000000.2", LinkedID=CALL)
    feed("VarSet", **agent_leg(), Variable="BRIDGEPEER", Value="")
    out = feed("Hangup", **caller(), Cause="16")

    assert named(out) == ["CallEnded"]


def test_channel_moved_into_the_call_by_linkedid_keeps_it_alive(feed):
    outbound = "1700000090.5"
    feed.arrive()
    feed("Newchannel", **chan("PJSIP/1002-00000007", outbound, outbound, context="agents"))

    moved = feed("BridgeEnter", **chan("PJSIP/1002-00000007", outbound, CALL,
                                       context="agents"), BridgeUniqueid="b1")
    ended_first = feed("Hangup", **caller(), Cause="16")
    ended_last = feed("Hangup", **chan("PJSIP/1002-00000007", outbound, CALL), Cause="16")

    assert moved == [] and ended_first == []
    assert named(ended_last) == ["CallEnded"]
    assert feed.tracker.linkedid_for(outbound) == CALL


def test_call_whose_last_channel_moves_to_another_call_ends(feed):
    younger = "1700000100.1"
    feed.arrive()
    feed("Newchannel", **chan("PJSIP/trunk-00000008", younger, younger))

    out = feed("BridgeEnter", **chan("PJSIP/trunk-00000008", younger, CALL),
               BridgeUniqueid="b1")

    assert [(type(e).__name__, e.call_id) for e in out] == [("CallEnded", younger)]
    assert feed.tracker.linkedid_for(younger) == CALL


def test_renamed_channel_shows_its_new_name(feed):
    feed.arrive()

    feed("Rename", Channel=CALLER, Newname="PJSIP/trunk-00000001<MASQ>", Uniqueid=CALL)

    assert feed.tracker.call(CALL).channels == ("PJSIP/trunk-00000001<MASQ>",)


def test_call_view_is_a_frozen_snapshot(feed):
    feed.arrive()
    view = feed.tracker.call(CALL)
    feed.ring()

    assert view.ringing == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.caller_number = "x"


# ------------------------------------------------------------- bad input


@pytest.mark.parametrize("msg", [
    event("VarSet", Channel="none", Uniqueid="none", Variable="AGENT_MODE_1003",
          Value="noanswer"),
    event("Newchannel"),
    event("Hangup"),
    event("DialBegin"),
    event("DialEnd", DialStatus="ANSWER"),
    event("AgentConnect"),
    event("BlindTransfer"),
    event("AttendedTransfer", Result="Success"),
    event("QueueCallerJoin", Uniqueid=CALL),
    event("BridgeLeave", Uniqueid="no.such", Linkedid=CALL),
    event("Hangup", Uniqueid="no.such", Linkedid="no.such", Cause="16"),
    event("Rename", Uniqueid="no.such"),
    event("SomethingNew", Uniqueid=CALL, Linkedid=CALL),
    event("Newchannel", Uniqueid=CALL, Channel="", Linkedid=CALL),
    event("Newchannel", Uniqueid="<unknown>", Channel="X/y", Context="inbound"),
    # Headers missing as Asterisk really sends them: an Originate's DialBegin has only
    # the Dest* block, so may an AgentComplete.
    event("DialBegin", DestChannel="Local/s@inbound-00000000;1", DestUniqueid=CALL,
          DestLinkedid=CALL, DialString="s@inbound"),
    event("AgentComplete", DestChannel="Local/1001@agents-00000002;1",
          DestUniqueid="1795409986.4", DestLinkedid=CALL, Queue="sales", TalkTime="11"),
    event("QueueCallerAbandon", Queue="sales", HoldTime="7"),
    message(Response="Success", ActionID="a-1"),
    message(),
])
def test_odd_or_unknown_event_is_ignored_without_error(msg, caplog):
    tracker = CallTracker()

    with caplog.at_level(logging.WARNING):
        assert tracker.feed(msg, 1.0) == []
    assert caplog.records == []
    assert tracker.active_calls() == []


def test_message_that_cannot_be_read_is_skipped(caplog):
    class Broken:
        name = "Newchannel"

        def get(self, header, default=None):
            raise KeyError(header)

    assert CallTracker().feed(Broken(), 1.0) == []
    assert CallTracker().feed(object(), 1.0) == []


HEADERS = ["Channel", "Uniqueid", "Linkedid", "DestChannel", "DestUniqueid",
           "DestLinkedid", "Context", "Exten", "CallerIDNum", "CallerIDName", "DialStatus",
           "DialString", "Queue", "Position", "Cause", "Cause-txt", "Result",
           "TransfereeLinkedid", "TransfereeUniqueid", "Extension", "Newname", "Interface",
           "TransferTargetChannel", "ActionID"]
VALUES = st.sampled_from(["", "none", "<unknown>", CALL, "1700000000.2", "x.9", CALLER,
                          AGENT, "Local/s@inbound-00000000;2", "inbound", "agents", "s",
                          "ANSWER", "BUSY", "RINGING", "Success", "Fail", "sales", "-1",
                          "abc", "16"])
EVENT_NAMES = st.sampled_from(sorted(
    {name[len("event_"):] for name in dir(CallTracker) if name.startswith("event_")}
    | {"VarSet", "Cdr", "CEL", "Bogus"}))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(EVENT_NAMES, st.dictionaries(st.sampled_from(HEADERS), VALUES)),
                max_size=40))
def test_any_sequence_of_events_is_followed_without_error(sequence):
    tracker = CallTracker()
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = logging.getLogger("callcenter.calls")
    logger.addHandler(handler)
    try:
        now = 0.0
        for name, headers in sequence:
            now += 0.5
            out = tracker.feed(event(name, **{k.replace("-", "_"): v
                                              for k, v in headers.items()}), now)
            assert all(isinstance(e, CALL_EVENTS) for e in out)
        tracker.active_calls()
    finally:
        logger.removeHandler(handler)
    assert records == []
