"""The simulator's AMI server over StringTransport, with a task.Clock PBX."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
from twisted.internet import task
from twisted.internet.testing import StringTransport

sys.path.insert(0, str(Path(__file__).parent))

from sim_fakes import FakeAgiServer, connector_for  # noqa: E402

from callcenter.ami.codec import AMIConnection, Message  # noqa: E402
from callcenter.simulator import Pbx, PhoneBehaviour, Timings  # noqa: E402
from callcenter.simulator.ami import AMIServerFactory  # noqa: E402

LOGIN = b"Action: Login\r\nActionID: login-1\r\nUsername: cti\r\nSecret: cti-secret\r\nEvents: on\r\n\r\n"


class Session:
    def __init__(self, factory: AMIServerFactory) -> None:
        self.transport = StringTransport()
        self.proto = factory.buildProtocol(None)
        self.proto.makeConnection(self.transport)
        self.codec = AMIConnection(expect_banner=True)
        self.seen: list = []

    def send(self, data: bytes, size: int | None = None) -> None:
        size = size or len(data)
        for i in range(0, len(data), size):
            self.proto.dataReceived(data[i : i + size])

    def read(self) -> list[Message]:
        items = self.codec.receive_data(self.transport.value())
        self.transport.clear()
        msgs = [m for m in items if isinstance(m, Message)
                and m.name not in ("SuccessfulAuth", "RequestBadFormat")]
        self.seen += msgs
        return msgs


@pytest.fixture
def setup():
    clock = task.Clock()
    clock.advance(1795409980)
    servers = [FakeAgiServer(["ANSWER", 'EXEC Dial "Local/1001@agents/n,20"'])]
    pbx = Pbx(clock, agi_connect=connector_for(*servers), timings=Timings(),
              phones={"1001": PhoneBehaviour("1001", 1.0, 2.0)})
    return clock, pbx, AMIServerFactory(pbx, "cti", "cti-secret")


@pytest.mark.parametrize("size", range(1, 40))
def test_login_and_ping_in_every_chunk_size(setup, size):
    _, _, factory = setup
    s = Session(factory)
    s.send(LOGIN + b"Action: Ping\r\nActionID: ping-2\r\n\r\n", size)
    msgs = s.read()
    assert msgs[0].headers == (("Response", "Success"), ("ActionID", "login-1"),
                               ("Message", "Authentication accepted"))
    assert msgs[1].name == "FullyBooted"
    assert [k for k, _ in msgs[2].headers] == ["Response", "ActionID", "Ping", "Timestamp"]
    assert s.transport.connected


def test_banner_then_permission_denied_before_login_and_wrong_secret_closes(setup):
    _, _, factory = setup
    s = Session(factory)
    assert s.transport.value().startswith(b"Asterisk Call Manager/11.0.0\r\n")
    s.send(b"Action: Ping\r\nActionID: ping-1\r\n\r\n")
    assert s.read()[0].get("Message") == "Permission denied"
    assert s.transport.disconnecting is False
    s.send(b"Action: Login\r\nActionID: login-2\r\nUsername: cti\r\nSecret: nope\r\n\r\n")
    msg = s.read()[0]
    assert (msg.name, msg.get("Message")) == ("Error", "Authentication failed")
    assert s.transport.disconnecting


def test_md5_login_with_challenge(setup):
    _, _, factory = setup
    s = Session(factory)
    s.send(b"Action: Challenge\r\nActionID: c-1\r\nAuthType: MD5\r\n\r\n")
    challenge = s.read()[0].get("Challenge")
    key = hashlib.md5((challenge + "cti-secret").encode()).hexdigest()
    s.send(f"Action: Login\r\nActionID: l-2\r\nAuthType: MD5\r\nUsername: cti\r\nKey: {key}\r\n\r\n".encode())
    assert s.read()[0].get("Message") == "Authentication accepted"


def test_errors_for_unknown_action_missing_action_and_missing_channel(setup):
    _, _, factory = setup
    s = Session(factory)
    s.send(LOGIN)
    s.read()
    s.send(b"Action: NoSuchAction\r\nActionID: x-1\r\n\r\n"
           b"ActionID: x-2\r\nFoo: bar\r\n\r\n"
           b"Action: Hangup\r\nActionID: x-3\r\nChannel: Local/nosuch-00000000;1\r\n\r\n"
           b"garbage without colon\r\n\r\n")
    msgs = s.read()
    assert msgs[0].get("Message").startswith("Invalid/unknown command: NoSuchAction.")
    assert msgs[1].get("Message") == "Missing action in request"
    assert (msgs[2].action_id, msgs[2].get("Message")) == ("x-3", "No such channel")
    assert s.transport.connected


def test_originate_inbound_call_streams_events_to_every_session_with_events_on(setup):
    clock, pbx, factory = setup
    a, b, quiet = Session(factory), Session(factory), Session(factory)
    for s in (a, b):
        s.send(LOGIN)
    quiet.send(LOGIN.replace(b"Events: on", b"Events: off"))
    for s in (a, b, quiet):
        s.read()
    a.send(b"Action: Originate\r\nActionID: o-1\r\nChannel: Local/s@inbound\r\nContext: caller\r\n"
           b"Exten: s\r\nPriority: 1\r\nCallerID: \"Lab Caller\" <5551234567>\r\n"
           b"Variable: CALLERNUM=5551234567\r\nAsync: true\r\n\r\n")
    first = a.read()
    assert (first[0].name, first[0].get("Message")) == ("Success", "Originate successfully queued")
    assert first[1].name == "Newchannel"
    resp = [m for m in first if m.name == "OriginateResponse"][0]
    assert (resp.get("Response"), resp.get("Reason"), resp.action_id) == ("Success", "4", "o-1")
    for _ in range(20):
        clock.advance(0.1)
    a.read()
    b.read()
    names_a = [m.name for m in a.seen if m.kind == "event" and m.name != "FullyBooted"]
    assert names_a == [m.name for m in b.seen if m.kind == "event" and m.name != "FullyBooted"]
    assert "BridgeEnter" in names_a and "AGIExecStart" in names_a
    assert quiet.read() == []
    a.send(b"Action: CoreShowChannels\r\nActionID: csc-1\r\n\r\n")
    listing = a.read()
    assert listing[0].get("EventList") == "start"
    items = [m for m in listing if m.name == "CoreShowChannel"]
    assert len(items) == 4 and all(m.action_id == "csc-1" for m in items)
    assert listing[-1].name == "CoreShowChannelsComplete" and listing[-1].get("ListItems") == "4"
    caller = [m.get("Channel") for m in items if m.get("Channel").endswith(";1")][0]
    a.send(f"Action: Hangup\r\nActionID: h-1\r\nChannel: {caller}\r\nCause: 16\r\n\r\n".encode())
    after = a.read()
    assert after[0].get("Message") == "Channel Hungup"
    assert "Hangup" in [m.name for m in after]
    for _ in range(30):
        clock.advance(0.5)
    assert pbx.channels == {} and clock.getDelayedCalls() == []


def test_global_and_channel_variables(setup):
    _, _, factory = setup
    s = Session(factory)
    s.send(LOGIN)
    s.read()
    s.send(b"Action: Setvar\r\nActionID: s-1\r\nVariable: LAB\r\nValue: hello\r\n\r\n"
           b"Action: Getvar\r\nActionID: g-1\r\nVariable: LAB\r\n\r\n"
           b"Action: Getvar\r\nActionID: g-2\r\nVariable: NOPE\r\n\r\n")
    msgs = s.read()
    assert msgs[0].get("Message") == "Variable Set"
    assert msgs[1].name == "VarSet" and msgs[1].get("Channel") == "none"
    assert msgs[2].headers == (("Response", "Success"), ("ActionID", "g-1"),
                               ("Variable", "LAB"), ("Value", "hello"))
    assert msgs[3].get("Value") == ""


def test_events_off_silences_and_kill_connections_drops_sessions(setup):
    _, pbx, factory = setup
    s = Session(factory)
    s.send(LOGIN + b"Action: Events\r\nActionID: e-1\r\nEventMask: off\r\n\r\n")
    assert s.read()[-1].get("Events") == "Off"
    pbx.set_global("X", "1")
    assert s.read() == []
    factory.kill_connections()
    assert s.transport.disconnecting


def test_originate_agent_phone_answers_and_runs_the_context(setup):
    clock, pbx, factory = setup
    s = Session(factory)
    s.send(LOGIN)
    s.read()
    s.send(b"Action: Originate\r\nActionID: o-2\r\nChannel: Local/1001@agents/n\r\nContext: misc\r\n"
           b"Exten: silence\r\nPriority: 1\r\nCallerID: \"Agent 1001\" <1001>\r\nAsync: true\r\n\r\n"
           b"Action: Originate\r\nActionID: o-3\r\nChannel: SIP/1001\r\nApplication: Wait\r\n\r\n")
    msgs = s.read()
    assert msgs[-1].get("Message") == "Originate failed"
    for _ in range(12):
        clock.advance(0.1)
    resp = [m for m in s.read() if m.name == "OriginateResponse"][0]
    assert (resp.get("Response"), resp.get("Reason"), resp.get("Context")) == ("Success", "4", "misc")
    for _ in range(30):
        clock.advance(0.1)
    assert pbx.channels == {}  # the phone hung up after its talk time
    assert clock.getDelayedCalls() == []
