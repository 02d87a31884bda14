"""Typed AMI actions over a StringTransport, against the Asterisk 22 recordings.

Each recorded action of a kind we type is re-sent through its typed function: the
bytes written must be the recorded ones, and what the Deferred fires with is checked
against the recorded answer.
"""

from __future__ import annotations

import pytest
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from callcenter.ami import actions
from callcenter.ami.codec import Message
from callcenter.ami.errors import (
    AMIActionError,
    AMIConnectionLost,
    AMITimeoutError,
    LocalProtocolError,
)
from callcenter.ami.protocol import AMIProtocol
from tests.ami.replay import SECRET, parse_one, timeline, wire


def result_of(d) -> list:
    box: list = []
    d.addBoth(box.append)
    return box


def bool_of(text: str | None) -> bool | None:
    return None if text is None else text.lower() == "true"


def int_of(text: str | None) -> int | None:
    return None if text is None else int(text)


# How a recorded action is re-sent through its typed function.
TYPED = {
    "Originate": lambda ami, m: actions.originate(
        ami, m["Channel"], context=m.get("Context"), exten=m.get("Exten"),
        priority=m.get("Priority"), application=m.get("Application"), data=m.get("Data"),
        caller_id=m.get("CallerID"), timeout_ms=int_of(m.get("Timeout")),
        asynchronous=m.get("Async") == "true",
        variables=[tuple(v.split("=", 1)) for v in m.get_all("Variable")]),
    "Redirect": lambda ami, m: actions.redirect(
        ami, m["Channel"], m["Context"], m["Exten"], m["Priority"]),
    "Hangup": lambda ami, m: actions.hangup(ami, m["Channel"], int_of(m.get("Cause"))),
    "BlindTransfer": lambda ami, m: actions.blind_transfer(
        ami, m["Channel"], m["Exten"], m["Context"]),
    "MixMonitor": lambda ami, m: actions.mix_monitor(
        ami, m["Channel"], m["File"], m.get("Options")),
    "StopMixMonitor": lambda ami, m: actions.stop_mix_monitor(ami, m["Channel"]),
    "PlayDTMF": lambda ami, m: actions.play_dtmf(
        ami, m["Channel"], m["Digit"], int_of(m.get("Duration"))),
    "Setvar": lambda ami, m: actions.setvar(ami, m["Variable"], m["Value"], m.get("Channel")),
    "Getvar": lambda ami, m: actions.getvar(ami, m["Variable"], m.get("Channel")),
    "QueueAdd": lambda ami, m: actions.queue_add(
        ami, m["Queue"], m["Interface"], penalty=int_of(m.get("Penalty")),
        paused=bool_of(m.get("Paused")), member_name=m.get("MemberName"),
        state_interface=m.get("StateInterface")),
    "QueueRemove": lambda ami, m: actions.queue_remove(ami, m["Queue"], m["Interface"]),
    "QueuePause": lambda ami, m: actions.queue_pause(
        ami, m["Interface"], bool_of(m["Paused"]), queue=m.get("Queue"),
        reason=m.get("Reason")),
    "UserEvent": lambda ami, m: actions.user_event(ami, m["UserEvent"], m.headers[3:]),
    "CoreShowChannels": lambda ami, m: actions.core_show_channels(ami),
    "Command": lambda ami, m: actions.command(ami, m["Command"]),
}


class Session:
    """An AMIProtocol on a StringTransport, driven through a recording's timeline."""

    def __init__(self, name: str) -> None:
        self.entries = timeline(name)
        sent = [parse_one(wire(e)) for e in self.entries if e["dir"] == "tx"]
        login = next(m for m in sent if m.name == "Login")
        self.clock = Clock()
        self.events: list[Message] = []
        self.proto = AMIProtocol(
            clock=self.clock, username="cti", secret=SECRET,
            events={"on": True, "off": False}[login["Events"]],
            on_event=self.events.append,
            action_ids=iter([m.action_id for m in sent if m.kind == "action"]).__next__)
        self.transport = StringTransport()
        self.results: dict[str, tuple[Message, list]] = {}
        self.typed = 0

    def run(self) -> Session:
        self.proto.makeConnection(self.transport)
        now = 0.0
        for entry in self.entries:
            if entry["t"] > now:
                self.clock.advance(entry["t"] - now)
                now = entry["t"]
            if entry["dir"] == "rx":
                self.proto.dataReceived(wire(entry))
            elif entry["dir"] == "tx":
                msg = parse_one(wire(entry))
                if msg.kind != "action":
                    continue  # 04's deliberately broken message: not ours to send
                if msg.name not in ("Login", "Challenge"):
                    typed = TYPED.get(msg.name)
                    if typed is not None:
                        d = typed(self.proto, msg)
                        self.typed += 1
                    else:
                        d = self.proto.send_action(msg.name, msg.headers[2:])
                    self.results[msg.action_id] = (msg, result_of(d))
                assert self.transport.value() == wire(entry), msg
                self.transport.clear()
        self.proto.connectionLost(Failure(ConnectionDone()))
        assert self.clock.getDelayedCalls() == []
        return self

    def outcome(self, action_id: str):
        (value,) = self.results[action_id][1]
        return value


def failed_with(outcome, error_type, text: str) -> bool:
    return (isinstance(outcome, Failure) and outcome.check(error_type) is not None
            and text in str(outcome.value))


@pytest.mark.parametrize("name", [
    "04_ami_queries_idle", "04b_ami_queries_during_call", "08_queue_member_add_pause_remove",
    "10_blind_transfer_redirect", "11_blind_transfer_action", "13_hangup_action",
    "15_userevent", "21_originate_variants", "23_mixmonitor"])
def test_typed_actions_write_the_recorded_bytes_and_every_one_is_answered(name, transcripts):
    session = Session(name).run()
    assert session.typed > 0
    for action_id, (_, box) in session.results.items():
        assert len(box) == 1, action_id  # answered once, nothing left pending
    assert session.proto.pending_count() == 0


def test_originate_fires_with_its_originate_response(transcripts):
    s = Session("21_originate_variants").run()

    answered = s.outcome("originate-2")
    assert (answered.name, answered["Response"], answered["Reason"],
            answered["Channel"]) == ("OriginateResponse", "Success", "4",
                                     "Local/1001@agents-0000002c;1")
    assert (s.outcome("originate-5")["Response"], s.outcome("originate-5")["Reason"]) == (
        "Failure", "0")  # no such extension
    assert (s.outcome("originate-7")["Reason"], s.outcome("originate-7")["Channel"]) == (
        "3", "Local/1002@agents/n")  # rang out after Timeout: 4000
    sync = s.outcome("originate-9")
    assert (sync.kind, sync["Message"]) == ("response", "Originate successfully queued")
    assert failed_with(s.outcome("originate-10"), AMIActionError, "Originate failed")
    # The OriginateResponse events answered their actions: no one else saw them.
    assert "OriginateResponse" not in [e.name for e in s.events]


def test_hangup_by_name_and_by_regular_expression(transcripts):
    s = Session("13_hangup_action").run()
    assert s.outcome("hangup-3") == ["Local/s@inbound-noagi-0000001a;2"]
    assert failed_with(s.outcome("hangup-4"), AMIActionError, "No such channel")
    assert s.outcome("hangup-6") == ["Local/1001@agents-0000001d;2"]


def test_queue_member_actions_and_their_errors(transcripts):
    s = Session("08_queue_member_add_pause_remove").run()
    assert s.outcome("queueadd-2").response["Message"] == "Added interface to queue"
    assert failed_with(s.outcome("queueadd-3"), AMIActionError, "Unable to add interface")
    assert s.outcome("queuepause-5").response.name == "Success"
    assert s.outcome("queueremove-14").response.name == "Success"
    assert isinstance(s.outcome("queueremove-15"), Failure)
    assert failed_with(s.outcome("queueadd-17"), AMIActionError, "QueueAdd failed")


def test_variables_commands_and_channel_list(transcripts):
    idle = Session("04_ami_queries_idle").run()
    assert idle.outcome("getvar-15") == "127.0.0.1:4573"
    assert idle.outcome("getvar-17") == "hello"
    assert idle.outcome("getvar-18") == ""
    assert idle.outcome("setvar-16").response["Message"] == "Variable Set"
    commands = {mid: idle.outcome(mid) for mid, (m, _) in idle.results.items()
                if m.name == "Command"}
    outputs = [o for o in commands.values() if isinstance(o, str)]
    assert any(o.startswith("Asterisk 22.10.1") for o in outputs)
    assert "" in outputs  # core show channels concise, with nothing up
    assert any(isinstance(o, Failure) and o.check(AMIActionError) for o in commands.values())

    busy = Session("04b_ami_queries_during_call").run()
    (channels,) = [busy.outcome(mid) for mid, (m, _) in busy.results.items()
                   if m.name == "CoreShowChannels"]
    assert sorted(c["Channel"] for c in channels) == [
        "Local/1001@agents-00000002;1", "Local/1001@agents-00000002;2",
        "Local/s@inbound-00000000;1", "Local/s@inbound-00000000;2"]


def test_transfers_recording_and_user_events_succeed(transcripts):
    assert Session("10_blind_transfer_redirect").run().outcome(
        "redirect-3").response.name == "Success"
    assert Session("11_blind_transfer_action").run().outcome(
        "blindtransfer-3").response.name == "Success"
    mix = Session("23_mixmonitor").run()
    assert mix.outcome("mixmonitor-3").response.name == "Success"
    assert mix.outcome("stopmixmonitor-4").response.name == "Success"
    ue = Session("15_userevent").run()
    assert ue.outcome("userevent-2").response["Message"] == "Event Sent"
    assert "UserEvent" in [e.name for e in ue.events]  # the event itself still goes out


# ----------------------------------------------------------- without recordings


def logged_in(*ids: str) -> tuple[AMIProtocol, StringTransport, Clock]:
    clock = Clock()
    proto = AMIProtocol(clock=clock, username="cti", secret=SECRET,
                        action_ids=iter(["login-1", *ids]).__next__)
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(b"Asterisk Call Manager/11.0.0\r\n"
                       b"Response: Success\r\nActionID: login-1\r\n\r\n")
    transport.clear()
    return proto, transport, clock


def test_originate_response_arriving_before_the_response_still_completes():
    proto, _, _ = logged_in("o-1")
    box = result_of(actions.originate(proto, "Local/1001@agents/n", application="Wait",
                                      data="1"))
    proto.dataReceived(b"Event: OriginateResponse\r\nActionID: o-1\r\nResponse: Success\r\n"
                       b"Reason: 4\r\n\r\n")
    assert box == []
    proto.dataReceived(b"Response: Success\r\nActionID: o-1\r\n\r\n")
    assert box[0]["Reason"] == "4"


def test_originate_waits_its_ring_timeout_then_fails_and_loss_fails_it_too():
    proto, _, clock = logged_in("o-1", "o-2")
    box = result_of(actions.originate(proto, "Local/1@a/n", context="c", exten="s",
                                      timeout_ms=4000))
    proto.dataReceived(b"Response: Success\r\nActionID: o-1\r\n\r\n")
    clock.advance(4.0 + actions.ORIGINATE_MARGIN - 0.1)
    assert box == []
    clock.advance(0.2)
    assert failed_with(box[0], AMITimeoutError, "Originate")
    other = result_of(actions.originate(proto, "Local/2@a/n", context="c", exten="s"))
    proto.connectionLost(Failure(ConnectionDone()))
    assert failed_with(other[0], AMIConnectionLost, "Originate")
    assert clock.getDelayedCalls() == []


@pytest.mark.parametrize("kwargs", [
    {"channel": ""},
    {"channel": "Local/1@a"},
    {"channel": "Local/1@a", "context": "c"},
    {"channel": "Local/1@a", "context": "c", "exten": "s", "application": "Wait"},
    {"channel": "Local/1@a", "application": "Wait", "variables": {"A=B": "1"}},
    {"channel": "Local/1@a\r\nAction: Hangup", "application": "Wait"},
])
def test_originate_refuses_what_cannot_be_sent_and_writes_nothing(kwargs):
    proto, transport, _ = logged_in("o-1")
    channel = kwargs.pop("channel")
    box = result_of(actions.originate(proto, channel, **kwargs))
    assert isinstance(box[0], Failure) and box[0].check(LocalProtocolError)
    assert transport.value() == b""


def test_atxfer_user_event_and_pause_in_every_queue_headers():
    proto, transport, _ = logged_in("a-1", "u-1", "p-1")
    actions.atxfer(proto, "PJSIP/1001-0000000a", "1004", "transfer")
    actions.user_event(proto, "CtiNote", {"Agent": "1001", "Note": "a: b"})
    actions.queue_pause(proto, "PJSIP/1001", False)
    assert transport.value() == (
        b"Action: Atxfer\r\nActionID: a-1\r\nChannel: PJSIP/1001-0000000a\r\nExten: 1004\r\n"
        b"Context: transfer\r\n\r\n"
        b"Action: UserEvent\r\nActionID: u-1\r\nUserEvent: CtiNote\r\nAgent: 1001\r\n"
        b"Note: a: b\r\n\r\n"
        b"Action: QueuePause\r\nActionID: p-1\r\nInterface: PJSIP/1001\r\nPaused: false\r\n\r\n")


def test_call_control_actions_headers_in_documented_order():
    proto, transport, _ = logged_in("c-1", "b-1", "d-1")
    actions.cancel_atxfer(proto, "PJSIP/1001-0000000a")
    actions.bridge(proto, "PJSIP/trunk-00000001", "PJSIP/1001-0000000a", tone="no")
    actions.play_dtmf(proto, "PJSIP/1001-0000000a", "#", 250, receive=True)
    assert transport.value() == (
        b"Action: CancelAtxfer\r\nActionID: c-1\r\nChannel: PJSIP/1001-0000000a\r\n\r\n"
        b"Action: Bridge\r\nActionID: b-1\r\nChannel1: PJSIP/trunk-00000001\r\n"
        b"Channel2: PJSIP/1001-0000000a\r\nTone: no\r\n\r\n"
        b"Action: PlayDTMF\r\nActionID: d-1\r\nChannel: PJSIP/1001-0000000a\r\nDigit: #\r\n"
        b"Duration: 250\r\nReceive: true\r\n\r\n")


@pytest.mark.parametrize("digit", ["", "12", "x", "\r"])
def test_play_dtmf_refuses_anything_but_one_digit_and_writes_nothing(digit):
    proto, transport, _ = logged_in("d-1")
    box = result_of(actions.play_dtmf(proto, "PJSIP/1001-0000000a", digit))
    assert isinstance(box[0], Failure) and box[0].check(LocalProtocolError)
    assert transport.value() == b""
