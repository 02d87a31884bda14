"""The Twisted AMI client over a StringTransport and a Clock, replaying recordings."""

from __future__ import annotations

import hashlib

import pytest
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.python.failure import Failure

from callcenter.ami.codec import Message
from callcenter.ami.errors import (
    AMIActionError,
    AMIAuthenticationError,
    AMIConnectionLost,
    AMITimeoutError,
    LocalProtocolError,
)
from callcenter.ami.protocol import ActionResult, AMIProtocol
from tests.ami.replay import SECRET, parse_all, parse_one, timeline, wire
from tests.conftest import transcript_names

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
# 03 sends a Ping before logging in and 03c a made-up MD5 key: both have their own tests.
SPECIAL = ("03_ami_login_failed_wrong_secret", "03c_ami_login_md5_bad_key")
REPLAYABLE = [n for n in transcript_names(".ami.jsonl") if n not in SPECIAL]


def result_of(d: Deferred) -> list:
    """Collect what ``d`` fires with (a value or a Failure), consuming failures."""
    box: list = []
    d.addBoth(box.append)
    return box


@pytest.fixture
def logged():
    """Every log event emitted during the test, formatted."""
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


class Client:
    """An AMIProtocol on a StringTransport with a Clock."""

    def __init__(self, *, ids=None, connect=True, **kwargs) -> None:
        self.clock = Clock()
        self.events: list[Message] = []
        kwargs.setdefault("username", "cti")
        kwargs.setdefault("secret", SECRET)
        self.proto = AMIProtocol(
            clock=self.clock,
            on_event=self.events.append,
            action_ids=iter(ids).__next__ if ids is not None else None,
            **kwargs,
        )
        self.transport = StringTransport()
        self.login = result_of(self.proto.loggedIn)
        if connect:
            self.proto.makeConnection(self.transport)

    def feed(self, data: bytes | str) -> None:
        self.proto.dataReceived(data.encode() if isinstance(data, str) else data)

    def written(self) -> bytes:
        data = self.transport.value()
        self.transport.clear()
        return data

    def lose(self) -> None:
        self.proto.connectionLost(Failure(ConnectionDone()))


def logged_in(**kwargs) -> Client:
    client = Client(ids=["login-1", *kwargs.pop("ids", [])], **kwargs)
    client.feed(BANNER)
    client.written()
    client.feed("Response: Success\r\nActionID: login-1\r\nMessage: Authentication accepted\r\n\r\n")
    assert isinstance(client.login[0], Message)
    return client


# ----------------------------------------------------------------- replays


class Replay:
    """Drives an AMIProtocol through a recording's timeline.

    ``rx`` entries are fed in; each ``tx`` entry is either written by the protocol on
    its own (Challenge, Login) or sent with ``send_action``; the bytes written must be
    the recorded ones. The clock follows the recorded times.
    """

    def __init__(self, name: str) -> None:
        self.entries = timeline(name)
        sent = [parse_one(wire(e)) for e in self.entries if e["dir"] == "tx"]
        login = next(m for m in sent if m.name == "Login")
        self.client = Client(
            ids=[m.action_id for m in sent if m.kind == "action"],
            connect=False,
            username=login["Username"],
            secret=login.get("Secret", SECRET),
            auth="md5" if login.get("AuthType") == "MD5" else "plain",
            events={"on": True, "off": False, None: None}[login.get("Events")],
        )
        self.results: dict[str, list] = {}
        self.responses: dict[str, Message] = {}
        self.received: list[Message] = []

    def run(self) -> None:
        client = self.client
        client.proto.makeConnection(client.transport)
        now = 0.0
        for entry in self.entries:
            if entry["t"] > now:
                client.clock.advance(entry["t"] - now)
                now = entry["t"]
            if entry["dir"] == "rx":
                for item in parse_all(wire(entry), expect_banner=not self.received):
                    self.received.append(item)
                    if isinstance(item, Message) and item.kind == "response":
                        self.responses[item.action_id] = item
                client.feed(wire(entry))
            elif entry["dir"] == "tx":
                self.send(parse_one(wire(entry)), wire(entry))
            elif entry["data"] == "connection closed by peer":
                client.lose()
        client.lose()

    def send(self, msg: Message, data: bytes) -> None:
        client = self.client
        if msg.kind != "action":
            return  # a deliberately broken message: not something our client sends
        if msg.name not in ("Login", "Challenge"):
            d = client.proto.send_action(msg.name, msg.headers[2:])
            self.results[msg.action_id] = result_of(d)
        assert client.written() == data


@pytest.mark.parametrize("name", REPLAYABLE)
def test_replay_writes_recorded_bytes_and_resolves_every_action(name):
    replay = Replay(name)
    replay.run()
    client = replay.client

    list_ids = {
        aid for aid, r in replay.responses.items() if (r.get("EventList") or "").lower() == "start"
    }
    for action_id, box in replay.results.items():
        response = replay.responses[action_id]
        assert len(box) == 1, action_id
        (outcome,) = box
        if response.name == "Error":
            assert isinstance(outcome, Failure)
            outcome.trap(AMIActionError)
            assert outcome.value.response == response
        else:
            assert isinstance(outcome, ActionResult), (action_id, outcome)
            assert outcome.response == response
            if action_id in list_ids:
                assert outcome.complete is not None
                assert outcome.complete.get("EventList") == "Complete"
                assert all(e.action_id == action_id for e in outcome.events)
                if "ListItems" in outcome.complete:
                    assert len(outcome.events) == int(outcome.complete["ListItems"])
            else:
                assert outcome.events == ()

    # Every event that is not a list item went to on_event, in order.
    expected_events = [
        m
        for m in replay.received
        if isinstance(m, Message) and m.kind == "event" and m.action_id not in list_ids
    ]
    assert client.events == expected_events
    assert client.proto.pending_count() == 0
    assert client.clock.getDelayedCalls() == []


def test_plain_login_ping_logoff_01():
    replay = Replay("01_ami_login_plain")
    replay.run()
    client = replay.client
    (login,) = client.login
    assert login["Message"] == "Authentication accepted"
    assert client.proto.banner.version == "11.0.0"
    assert [e.name for e in client.events] == ["FullyBooted", "SuccessfulAuth"]
    (ping,) = replay.results["ping-2"]
    assert ping.response["Ping"] == "Pong"
    (goodbye,) = replay.results["logoff-3"]
    assert goodbye.response.name == "Goodbye"


def test_md5_login_sends_recorded_key_02():
    replay = Replay("02_ami_login_md5")
    replay.run()
    tx = [parse_one(wire(e)) for e in replay.entries if e["dir"] == "tx"]
    assert tx[1]["Key"] == hashlib.md5(b"164023609" + SECRET.encode()).hexdigest()
    assert isinstance(replay.client.login[0], Message)


def test_wrong_secret_fails_login_and_closes_03():
    client = Client(ids=["login-2"], secret="wrong-secret")
    rx = [wire(e) for e in timeline("03_ami_login_failed_wrong_secret") if e["dir"] == "rx"]
    client.feed(rx[0])
    assert client.written() == (
        b"Action: Login\r\nActionID: login-2\r\nUsername: cti\r\nSecret: wrong-secret\r\n"
        b"Events: on\r\n\r\n"
    )
    client.feed(rx[1])  # the Error for the recording's early Ping: nothing pending, ignored
    assert client.login == []
    client.feed(rx[2])
    (failure,) = client.login
    failure.trap(AMIAuthenticationError)
    assert "Authentication failed" in str(failure.value)
    assert failure.value.response["ActionID"] == "login-2"
    assert client.transport.disconnecting
    client.lose()
    assert client.clock.getDelayedCalls() == []


def test_md5_bad_key_fails_login_and_closes_03c():
    client = Client(ids=["challenge-1", "login-2"], auth="md5", secret="not-the-secret")
    rx = [wire(e) for e in timeline("03c_ami_login_md5_bad_key") if e["dir"] == "rx"]
    client.feed(rx[0])
    assert client.written() == b"Action: Challenge\r\nActionID: challenge-1\r\nAuthType: MD5\r\n\r\n"
    client.feed(rx[1])
    key = hashlib.md5(b"911701859not-the-secret").hexdigest()
    assert client.written() == (
        f"Action: Login\r\nActionID: login-2\r\nAuthType: MD5\r\nUsername: cti\r\nKey: {key}\r\n"
        "Events: on\r\n\r\n"
    ).encode()
    client.feed(rx[2])
    client.login[0].trap(AMIAuthenticationError)
    assert client.transport.disconnecting


def test_challenge_without_challenge_header_fails_login():
    client = Client(ids=["c-1"], auth="md5")
    client.feed(BANNER)
    client.feed("Response: Success\r\nActionID: c-1\r\n\r\n")
    assert "Challenge" in str(client.login[0].value)
    assert client.transport.disconnecting


def test_events_setting_is_sent_in_login():
    for events, header in [(False, b"Events: off\r\n"), ("call,agent", b"Events: call,agent\r\n")]:
        client = Client(ids=["l-1"], events=events)
        client.feed(BANNER)
        assert header in client.written()
    client = Client(ids=["l-1"], events=None)
    client.feed(BANNER)
    assert b"Events" not in client.written()


def test_bad_auth_setting_is_refused():
    with pytest.raises(ValueError):
        AMIProtocol(clock=Clock(), username="u", secret="s", auth="sha1")


def test_default_action_ids_count_up():
    client = Client()
    client.feed(BANNER)
    assert b"ActionID: cc-1\r\n" in client.written()
    box = result_of(client.proto.send_action("Ping"))
    assert b"ActionID: cc-2\r\n" in client.written()
    client.lose()
    box[0].trap(AMIConnectionLost)


def test_secret_and_md5_key_are_never_logged(logged):
    Replay("01_ami_login_plain").run()
    replay = Replay("02_ami_login_md5")
    replay.run()
    wrong = Client(ids=["l-1"], secret="very-secret-wrong")
    wrong.feed(BANNER)
    wrong.feed("Response: Error\r\nActionID: l-1\r\nMessage: Authentication failed\r\n\r\n")
    key = next(parse_one(wire(e)) for e in replay.entries if e["dir"] == "tx" and "Key:" in e["data"])["Key"]
    text = "\n".join(formatEvent(e) + repr(e) for e in logged)
    assert "Logged in to AMI" in text
    for secret in (SECRET, key, "very-secret-wrong"):
        assert secret not in text


def test_banner_that_never_comes_times_out():
    client = Client(action_timeout=5)
    client.clock.advance(5)
    client.login[0].trap(AMITimeoutError)
    assert client.transport.disconnected  # aborted
    client.lose()
    assert client.clock.getDelayedCalls() == []


# ------------------------------------------------------------- list actions


def recorded_reply(name: str, action_id: str) -> list[bytes]:
    """The rx entries answering ``action_id``: its response and its list items."""
    return [
        wire(e)
        for e in timeline(name)
        if e["dir"] == "rx" and f"\r\nActionID: {action_id}\r\n" in e["data"]
    ]


@pytest.mark.parametrize(
    ("action", "action_id", "items"),
    [
        ("CoreShowChannels", "coreshowchannels-3", 0),
        ("Status", "status-4", 0),
        ("QueueStatus", "queuestatus-5", None),
        ("QueueSummary", "queuesummary-7", None),
        ("ExtensionStateList", "extensionstatelist-20", None),
        ("DeviceStateList", "devicestatelist-21", None),
    ],
)
def test_list_action_resolves_once_with_all_items_on_complete(action, action_id, items):
    client = logged_in(ids=[action_id])
    d = client.proto.send_action(action)
    box = result_of(d)
    frames = recorded_reply("04_ami_queries_idle", action_id)
    for frame in frames[:-1]:
        client.feed(frame)
        assert box == []  # nothing until the Complete event
    client.feed(frames[-1])
    (result,) = box
    assert result.complete.name.endswith("Complete")
    assert len(result.events) == len(frames) - 2
    assert len(result.events) == int(result.complete["ListItems"])
    if items is not None:
        assert len(result.events) == items
    assert client.events == []


def test_list_with_items_during_a_call_04b():
    client = logged_in(ids=["coreshowchannels-3"])
    box = result_of(client.proto.send_action("CoreShowChannels"))
    for frame in recorded_reply("04b_ami_queries_during_call", "coreshowchannels-3"):
        client.feed(frame)
    (result,) = box
    assert [e.name for e in result.events] == ["CoreShowChannel"] * 4
    assert result.complete["ListItems"] == "4"


def test_command_output_arrives_as_output_headers():
    client = logged_in(ids=["command-9", "command-10", "command-12"])
    commands = ("core show version", "core show channels concise", "no such cli command")
    boxes = [result_of(client.proto.send_action("Command", {"Command": c})) for c in commands]
    for action_id in ("command-9", "command-10", "command-12"):
        for frame in recorded_reply("04_ami_queries_idle", action_id):
            client.feed(frame)
    assert boxes[0][0].response.output.startswith("Asterisk 22.10.1 built by root")
    assert boxes[1][0].response.get_all("Output") == [""]
    error = boxes[2][0]
    error.trap(AMIActionError)
    assert error.value.response["Output"].startswith("No such command")
    assert error.value.action == "Command"


@pytest.mark.parametrize(
    ("action", "headers", "action_id", "message"),
    [
        ("Status", {"Channel": "Local/nosuch-00000000;1"}, "status-23", "No such channel"),
        ("Hangup", {"Channel": "Local/nosuch-00000000;1"}, "hangup-24", "No such channel"),
        ("NoSuchAction", {}, "nosuchaction-25", "Invalid/unknown command"),
    ],
)
def test_error_response_fails_the_action(action, headers, action_id, message):
    client = logged_in(ids=[action_id])
    box = result_of(client.proto.send_action(action, headers))
    frames = recorded_reply("04_ami_queries_idle", action_id)
    client.feed(b"".join(frames))
    (failure,) = box
    failure.trap(AMIActionError)
    assert message in str(failure.value)
    assert failure.value.response.action_id == action_id


def test_events_interleaved_with_a_list_go_to_on_event():
    client = logged_in(ids=["q-1"])
    box = result_of(client.proto.send_action("QueueStatus"))
    client.feed(
        "Response: Success\r\nActionID: q-1\r\nEventList: start\r\nMessage: Queue status will follow\r\n\r\n"
        "Event: QueueParams\r\nQueue: sales\r\nActionID: q-1\r\n\r\n"
        "Event: Newchannel\r\nChannel: Local/s@inbound-00000000;1\r\n\r\n"
        "Event: OriginateResponse\r\nActionID: other-7\r\nResponse: Success\r\n\r\n"
        "Event: QueueMember\r\nQueue: sales\r\nActionID: q-1\r\n\r\n"
        "Event: QueueStatusComplete\r\nActionID: q-1\r\nEventList: Complete\r\nListItems: 2\r\n\r\n"
    )
    (result,) = box
    assert [e.name for e in result.events] == ["QueueParams", "QueueMember"]
    assert [e.name for e in client.events] == ["Newchannel", "OriginateResponse"]


def test_late_action_event_after_plain_response_goes_to_on_event():
    client = logged_in(ids=["o-1"])
    originate = {"Channel": "Local/1001@agents/n", "Async": "true"}
    box = result_of(client.proto.send_action("Originate", originate))
    client.feed("Response: Success\r\nActionID: o-1\r\nMessage: Originate successfully queued\r\n\r\n")
    assert box[0].response["Message"] == "Originate successfully queued"
    client.feed("Event: OriginateResponse\r\nActionID: o-1\r\nResponse: Success\r\nReason: 4\r\n\r\n")
    assert [e.name for e in client.events] == ["OriginateResponse"]


# ------------------------------------------------------------ timeouts, loss


def test_action_times_out_on_the_clock_and_late_reply_is_ignored():
    client = logged_in(ids=["p-1"], action_timeout=10)
    box = result_of(client.proto.send_action("Ping", timeout=5))
    client.clock.advance(4.9)
    assert box == []
    client.clock.advance(0.1)
    (failure,) = box
    failure.trap(AMITimeoutError)
    assert failure.value.action_id == "p-1"
    client.feed("Response: Success\r\nActionID: p-1\r\nPing: Pong\r\n\r\n")
    assert len(box) == 1
    assert client.events == []
    assert client.clock.getDelayedCalls() == []


def test_list_timeout_restarts_with_each_item():
    client = logged_in(ids=["s-1"], action_timeout=3)
    box = result_of(client.proto.send_action("Status"))
    client.feed("Response: Success\r\nActionID: s-1\r\nEventList: start\r\n\r\n")
    for _ in range(5):
        client.clock.advance(2)
        client.feed("Event: Status\r\nActionID: s-1\r\n\r\n")
    assert box == []
    client.clock.advance(3)
    box[0].trap(AMITimeoutError)


def test_connection_loss_fails_every_pending_action():
    client = logged_in(ids=["a-1", "a-2"])
    boxes = [result_of(client.proto.send_action("Ping")), result_of(client.proto.send_action("Status"))]
    client.feed("Response: Success\r\nActionID: a-2\r\nEventList: start\r\n\r\n")
    client.lose()
    for box in boxes:
        box[0].trap(AMIConnectionLost)
    assert client.clock.getDelayedCalls() == []
    after = result_of(client.proto.send_action("Ping"))
    after[0].trap(AMIConnectionLost)


def test_connection_loss_before_login_fails_logged_in():
    client = Client(ids=["l-1"])
    client.feed(BANNER)
    client.lose()
    client.login[0].trap(AMIConnectionLost)
    assert client.clock.getDelayedCalls() == []


def test_cancelled_action_stops_waiting():
    client = logged_in(ids=["p-1"])
    d = client.proto.send_action("Ping")
    box = result_of(d)
    d.cancel()
    box[0].trap(CancelledError)
    assert client.proto.pending_count() == 0
    assert client.clock.getDelayedCalls() == []


def test_header_with_line_break_is_refused_and_nothing_written():
    client = logged_in(ids=["x-1"])
    box = result_of(client.proto.send_action("Setvar", {"Value": "a\r\nAction: Hangup"}))
    box[0].trap(LocalProtocolError)
    assert client.written() == b""
    assert client.proto.pending_count() == 0


# ---------------------------------------------------------- robustness, ping


def test_failing_event_handler_is_logged_and_protocol_goes_on(logged):
    client = logged_in()
    seen = []

    def handler(msg: Message) -> None:
        seen.append(msg.name)
        if msg.name == "Boom":
            raise RuntimeError("handler bug")

    client.proto.on_event = handler
    client.feed("Event: Boom\r\n\r\nEvent: After\r\n\r\n")
    assert seen == ["Boom", "After"]
    assert any(e.get("log_failure") is not None and "Boom" in formatEvent(e) for e in logged)
    assert not client.transport.disconnecting


def test_bad_frame_is_logged_and_connection_kept(logged):
    client = logged_in()
    client.feed("garbage without colon\r\n\r\nEvent: After\r\n\r\n")
    assert [e.name for e in client.events] == ["After"]
    errors = [formatEvent(e) for e in logged if e.get("log_level") == LogLevel.error]
    assert any("frame has no header line" in w for w in errors)
    assert not client.transport.disconnecting


def test_keepalive_ping_runs_and_drops_a_silent_connection():
    client = logged_in(ids=["ping-1", "ping-2"], ping_interval=20, action_timeout=5)
    client.clock.advance(20)
    assert client.written() == b"Action: Ping\r\nActionID: ping-1\r\n\r\n"
    client.feed("Response: Success\r\nActionID: ping-1\r\nPing: Pong\r\n\r\n")
    client.clock.advance(20)
    assert client.written() == b"Action: Ping\r\nActionID: ping-2\r\n\r\n"
    assert not client.transport.disconnecting
    client.clock.advance(5)
    assert client.transport.disconnected  # aborted: a half-open socket would never close
    client.lose()
    assert client.clock.getDelayedCalls() == []


def test_callbacks_for_connected_and_disconnected():
    calls = []
    client = logged_in(
        on_connected=lambda p: calls.append(("up", p)),
        on_disconnected=lambda p: calls.append(("down", p)),
    )
    client.lose()
    assert calls == [("up", client.proto), ("down", client.proto)]
    assert client.proto.logged_in is False


def test_goodbye_resolves_logoff_and_stops_keepalive():
    client = logged_in(ids=["logoff-1"], ping_interval=20)
    box = result_of(client.proto.logoff())
    client.feed("Response: Goodbye\r\nActionID: logoff-1\r\nMessage: Thanks for all the fish.\r\n\r\n")
    assert box[0].response.name == "Goodbye"
    assert client.clock.getDelayedCalls() == []
    client.lose()
