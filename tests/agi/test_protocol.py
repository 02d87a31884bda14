"""The FastAGI server over ``StringTransport``, replaying the Asterisk 22 recordings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.internet.error import ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs, formatEvent
from twisted.python.failure import Failure

from callcenter.agi.codec import AGIResult, Quoted
from callcenter.agi.protocol import (
    AGICommandError,
    AGICommandTimeout,
    AGIHangup,
    AGISession,
    FastAGIFactory,
    FastAGIProtocol,
)


def env_block(script: str = "ivr", channel: str = "Local/s@inbound-00000000;2") -> bytes:
    return (
        f"agi_network: yes\nagi_network_script: {script}\n"
        f"agi_request: agi://127.0.0.1:4573/{script}\nagi_channel: {channel}\n"
        "agi_uniqueid: 1795409980.1\nagi_threadid: -5\nagi_arg_1: 8005550100\n\n"
    ).encode()


class Call:
    """A FastAGI connection from a fake Asterisk to our server."""

    def __init__(self, routes: dict, *, command_timeout: float | None = None) -> None:
        self.clock = Clock()
        self.factory = FastAGIFactory(routes, self.clock, command_timeout=command_timeout)
        self.proto: FastAGIProtocol = self.factory.buildProtocol(None)
        self.transport = StringTransport()
        self.proto.makeConnection(self.transport)

    def send(self, data: bytes, size: int | None = None) -> None:
        size = size or len(data) or 1
        for i in range(0, len(data), size):
            self.proto.dataReceived(data[i : i + size])

    def sent(self) -> bytes:
        return self.transport.value()

    def take(self) -> bytes:
        value = self.transport.value()
        self.transport.clear()
        return value

    def lose(self) -> None:
        self.proto.connectionLost(Failure(ConnectionLost("Connection reset by peer")))

    @property
    def closed(self) -> bool:
        return self.transport.disconnecting

    @property
    def session(self) -> AGISession:
        assert self.proto.session is not None
        return self.proto.session


@pytest.fixture
def logs() -> Iterator[list]:
    with capturedLogs() as events:
        yield events


def messages(events: list) -> list[str]:
    return [formatEvent(e) for e in events]


def split_recording(transcripts: Path, name: str) -> tuple[bytes, list[bytes], bytes]:
    rx = (transcripts / f"{name}.agi-c1.rx.raw").read_bytes()
    tx = (transcripts / f"{name}.agi-c1.tx.raw").read_bytes()
    env, _, replies = rx.partition(b"\n\n")
    return env + b"\n\n", replies.splitlines(keepends=True), tx


# -------------------------------------------------------------- recording 05


@pytest.mark.parametrize("size", [1, 2, 3, 7, 16, 64, None])
def test_replay_05_sends_the_recorded_bytes_and_gets_the_recorded_results(
    transcripts: Path, size: int | None
) -> None:
    env, replies, tx = split_recording(transcripts, "05_inbound_call_ivr_queue")
    got: dict = {}

    async def ivr(s: AGISession) -> None:
        got["env"] = s.env
        await s.answer()
        got["number"] = await s.get_variable("CALLERID(num)")
        got["status"] = (await s.command("CHANNEL STATUS")).int_result
        got["digit"] = await s.wait_for_digit(10000)
        got["played"] = await s.stream_file("silence/1")
        got["account"] = await s.get_data("silence/1", 6000, 4)
        await s.set_variable("QUEUE", "sales")
        await s.command("SET VARIABLE", "IVR_ACCOUNT", Quoted(got["account"]))
        await s.verbose(f"IVR done: digit={got['digit']} account={got['account']} -> queue sales")

    call = Call({"ivr": ivr})
    # Asterisk answers each command as it comes; here every reply is already in
    # flight, split at ``size`` bytes.
    call.send(env + b"".join(replies), size)
    assert call.sent() == tx
    assert got["env"].args == ("8005550100", "5551234567")
    assert got["number"] == "5551234567"
    assert got["status"] == 6
    assert got["digit"] == "1"
    assert dict(got["played"].extras) == {"endpos": "8000"}
    assert got["account"] == "42"
    assert call.closed
    assert not call.session.hung_up
    assert call.clock.getDelayedCalls() == []


def test_replay_05_line_by_line_sends_one_command_per_reply(transcripts: Path) -> None:
    env, replies, tx = split_recording(transcripts, "05_inbound_call_ivr_queue")

    async def ivr(s: AGISession) -> None:
        await s.answer()
        await s.get_variable("CALLERID(num)")
        await s.command("CHANNEL STATUS")
        await s.wait_for_digit(10000)
        await s.stream_file("silence/1")
        account = await s.get_data("silence/1", 6000, 4)
        await s.set_variable("QUEUE", "sales")
        await s.command("SET VARIABLE", "IVR_ACCOUNT", Quoted(account))
        await s.verbose("IVR done: digit=1 account=42 -> queue sales")

    call = Call({"ivr": ivr})
    call.send(env)
    commands = tx.splitlines(keepends=True)
    for command, reply in zip(commands, replies, strict=True):
        assert call.take() == command
        assert not call.closed
        call.send(reply)
    assert call.take() == b""
    assert call.closed


# -------------------------------------------------------------- recording 17


def test_replay_17_hangup_during_wait_for_digit_later_commands_still_answered(
    transcripts: Path,
) -> None:
    env, replies, tx = split_recording(transcripts, "17_agi_hangup_during_command")
    got: dict = {}

    async def hangupwait(s: AGISession) -> None:
        await s.verbose("lab: waiting for a digit while the caller hangs up")
        try:
            await s.wait_for_digit(15000)
        except AGIHangup as e:
            got["wait"] = e
        await s.whenHungUp
        got["hung_up"] = s.hung_up
        got["number"] = await s.get_variable("CALLERID(num)")
        got["noop"] = await s.command("NOOP")

    call = Call({"hangupwait": hangupwait})
    call.send(env)
    for reply in replies:
        call.send(reply)
    assert call.sent() == tx
    assert got["wait"].result.result == "-1"
    assert got["hung_up"] is True
    assert got["number"] == "5551234567"
    assert got["noop"].result == "0"
    assert call.closed


def test_hangup_line_before_the_reply_still_delivers_the_reply() -> None:
    results = []

    def script(s: AGISession) -> defer.Deferred:
        return s.command("WAIT FOR DIGIT", 15000).addCallback(results.append)

    call = Call({"ivr": script})
    call.send(env_block())
    call.send(b"HANGUP\n")
    assert call.session.hung_up
    assert call.session.whenHungUp.called
    assert results == [] and not call.closed
    call.send(b"200 result=-1\n")
    assert [r.result for r in results] == ["-1"]
    assert call.closed


def test_511_on_a_dead_channel_fails_the_command_with_agihangup() -> None:
    session: list[AGISession] = []
    call = Call({"ivr": lambda s: session.append(s) or defer.Deferred()})
    call.send(env_block())
    d = session[0].command("STREAM FILE", "x", "")
    call.send(b"HANGUP\n511 Command Not Permitted on a dead channel or intercept routine\n")
    failure = d.result
    d.addErrback(lambda f: None)
    assert isinstance(failure.value, AGIHangup)
    assert failure.value.result.code == 511


# -------------------------------------------------------------- recording 16


def test_replay_16_connection_reset_mid_command_fails_the_pending_command(
    transcripts: Path, logs: list
) -> None:
    env, replies, tx = split_recording(transcripts, "16_agi_connection_dropped")
    got: dict = {}

    async def drop(s: AGISession) -> None:
        await s.verbose("lab: about to drop the FastAGI connection")
        await s.set_variable("QUEUE", "sales")
        try:
            await s.stream_file("silence/3")
        except AGIHangup as e:
            got["error"] = e
        try:
            await s.command("NOOP")
        except AGIHangup as e:
            got["after"] = e

    call = Call({"drop": drop})
    call.send(env)
    for reply in replies:
        call.send(reply)
    assert call.sent() == tx
    assert "error" not in got
    call.lose()
    assert "connection lost" in str(got["error"])
    assert "connection lost" in str(got["after"])
    assert call.session.hung_up and call.session.whenHungUp.called
    assert not call.closed  # already gone: nothing to close
    assert not [e for e in logs if e.get("log_failure")]


def test_connection_lost_fails_in_flight_and_queued_commands_and_handler_ends_quietly(
    logs: list,
) -> None:
    pending = []

    async def script(s: AGISession) -> None:
        first = s.command("NOOP")
        pending.extend([s.answer(), s.get_data("p", 1000, 4)])
        await first  # fails with AGIHangup: the handler ends on it

    call = Call({"ivr": script})
    call.send(env_block())
    call.lose()
    for d in pending:
        failure = d.result
        d.addErrback(lambda f: None)
        assert failure.check(AGIHangup)
    assert call.sent() == b"NOOP\n"
    assert not [e for e in logs if e.get("log_failure")]
    assert any("ended on hangup" in m for m in messages(logs))


def test_connection_lost_before_the_environment_is_harmless(logs: list) -> None:
    call = Call({})
    call.send(b"agi_network: yes\n")
    call.lose()
    assert call.proto.session is None
    assert any("before the end of the environment" in m for m in messages(logs))


# ---------------------------------------------------------------- dispatching


def test_unknown_script_says_so_on_the_console_then_closes(logs: list) -> None:
    call = Call({"ivr": lambda s: None})
    call.send(env_block("nosuch?x=1"))
    assert call.take() == b"VERBOSE \"callcenter: no FastAGI script named 'nosuch'\" 1\n"
    assert not call.closed
    call.send(b"200 result=1\n")
    assert call.closed
    assert any("no FastAGI script 'nosuch'" in m for m in messages(logs))


def test_unknown_script_still_closes_when_the_verbose_is_refused() -> None:
    call = Call({})
    call.send(env_block("nosuch"))
    call.send(b"511 Command Not Permitted on a dead channel or intercept routine\n")
    assert call.closed


def test_script_is_chosen_without_the_query_string() -> None:
    seen = []
    call = Call({"inbound": lambda s: seen.append(s.env.query)})
    call.send(env_block("inbound?lang=fr"))
    assert seen == [{"lang": "fr"}]
    assert call.closed  # a handler returning None is done at once


def test_handler_exception_is_logged_with_the_channel_and_the_connection_closed(
    logs: list,
) -> None:
    async def broken(s: AGISession) -> None:
        await s.answer()
        raise ValueError("boom")

    call = Call({"ivr": broken})
    call.send(env_block(channel="PJSIP/trunk-00000007"))
    assert not call.closed
    call.send(b"200 result=0\n")
    assert call.closed
    (failure_event,) = [e for e in logs if e.get("log_failure")]
    assert failure_event["log_failure"].check(ValueError)
    assert "PJSIP/trunk-00000007" in formatEvent(failure_event)


def test_handler_raising_synchronously_is_logged_and_the_connection_closed(logs: list) -> None:
    def broken(s: AGISession) -> None:
        raise RuntimeError("sync boom")

    call = Call({"ivr": broken})
    call.send(env_block())
    assert call.closed
    assert [e["log_failure"].type for e in logs if e.get("log_failure")] == [RuntimeError]


def test_handler_deferred_keeps_the_connection_open_until_it_fires() -> None:
    done: defer.Deferred = defer.Deferred()
    call = Call({"ivr": lambda s: done})
    call.send(env_block())
    assert not call.closed
    done.callback(None)
    assert call.closed


# ------------------------------------------------------------------- commands


def test_commands_are_queued_and_sent_one_at_a_time_in_order() -> None:
    order: list = []
    session: list[AGISession] = []
    call = Call({"ivr": lambda s: session.append(s) or defer.Deferred()})
    call.send(env_block())
    s = session[0]

    def first_done(result: AGIResult) -> None:
        order.append(("first", result.result))
        # Issued from a callback: must not overtake the commands already queued.
        s.command("NOOP", "late").addCallback(lambda r: order.append(("late", r.result)))

    s.command("NOOP", "first").addCallback(first_done)
    s.command("NOOP", "second").addCallback(lambda r: order.append(("second", r.result)))
    s.get_variable("X").addCallback(lambda v: order.append(("var", v)))
    assert call.take() == b"NOOP first\n"
    call.send(b"200 result=0\n")
    assert call.take() == b"NOOP second\n"
    call.send(b"200 result=1\n")
    assert call.take() == b"GET VARIABLE X\n"
    call.send(b"200 result=1 (v)\n")
    assert call.take() == b"NOOP late\n"
    call.send(b"200 result=3\n")
    assert order == [("first", "0"), ("second", "1"), ("var", "v"), ("late", "3")]
    assert call.take() == b""


def test_510_and_520_fail_the_command_with_agicommanderror() -> None:
    session: list[AGISession] = []
    call = Call({"ivr": lambda s: session.append(s) or defer.Deferred()})
    call.send(env_block())
    bad = session[0].command("FOO BAR")
    usage = session[0].command("WAIT FOR DIGIT")
    ok = session[0].command("NOOP")
    call.send(
        b"510 Invalid or unknown command\n"
        b"520-Invalid command syntax.  Proper usage follows:\nWaits up to...\n"
        b"520 End of proper usage.\n200 result=0\n"
    )
    errors = []
    for d in (bad, usage):
        errors.append(d.result.value)
        d.addErrback(lambda f: None)
    assert [type(e) for e in errors] == [AGICommandError, AGICommandError]
    assert [e.result.code for e in errors] == [510, 520]
    assert str(errors[0]) == "FOO BAR: 510 Invalid or unknown command"
    assert errors[1].command == "WAIT FOR DIGIT"
    assert errors[1].result.text.endswith("520 End of proper usage.")
    assert ok.result.result == "0"


@pytest.mark.parametrize(
    ("call_helper", "reply", "sent", "expected"),
    [
        (lambda s: s.answer(), b"200 result=0", b"ANSWER", None),
        (lambda s: s.wait_for_digit(5000), b"200 result=35", b"WAIT FOR DIGIT 5000", "#"),
        (lambda s: s.wait_for_digit(5000), b"200 result=0", b"WAIT FOR DIGIT 5000", None),
        (lambda s: s.get_data("menu", 3000, 1), b"200 result= (timeout)", b"GET DATA menu 3000 1", None),
        (lambda s: s.get_data("menu", 3000, 4), b"200 result=12 (timeout)", b"GET DATA menu 3000 4", "12"),
        (lambda s: s.get_data("menu", 3000, 4), b"200 result=1234", b"GET DATA menu 3000 4", "1234"),
        (lambda s: s.get_variable("NOSUCH"), b"200 result=0", b"GET VARIABLE NOSUCH", None),
        (lambda s: s.get_variable("FOO"), b"200 result=1 (bar baz)", b"GET VARIABLE FOO", "bar baz"),
        (lambda s: s.set_variable("FOO", "bar baz"), b"200 result=1", b'SET VARIABLE FOO "bar baz"', None),
        (lambda s: s.set_music(True), b"200 result=0", b"SET MUSIC on default", None),
        (lambda s: s.set_music(True, "jazz"), b"200 result=0", b"SET MUSIC on jazz", None),
        (lambda s: s.set_music(False), b"200 result=0", b"SET MUSIC off", None),
        (lambda s: s.verbose("two\nlines", 3), b"200 result=1", b'VERBOSE "two lines" 3', None),
        (lambda s: s.hangup(), b"200 result=1", b"HANGUP", None),
    ],
)
def test_helpers_send_the_command_and_decode_the_reply(call_helper, reply, sent, expected) -> None:
    session: list[AGISession] = []
    call = Call({"ivr": lambda s: session.append(s) or defer.Deferred()})
    call.send(env_block())
    d = call_helper(session[0])
    assert call.take() == sent + b"\n"
    call.send(reply + b"\n")
    assert d.result == expected


def test_exec_quotes_the_options_and_returns_the_result() -> None:
    session: list[AGISession] = []
    call = Call({"ivr": lambda s: session.append(s) or defer.Deferred()})
    call.send(env_block())
    d = session[0].exec_("Dial", "Local/1001@agents/n,30,tT")
    assert call.take() == b'EXEC Dial "Local/1001@agents/n,30,tT"\n'
    call.send(b"200 result=0\n")
    assert d.result.int_result == 0
    d = session[0].exec_("NoSuchApp")
    assert call.take() == b"EXEC NoSuchApp\n"
    call.send(b"200 result=-2\n")
    assert d.result.int_result == -2


@pytest.mark.parametrize(
    "call_helper",
    [lambda s: s.get_data("p", 1000, 2), lambda s: s.wait_for_digit(1000), lambda s: s.answer()],
)
def test_helpers_turn_result_minus_one_into_agihangup(call_helper) -> None:
    session: list[AGISession] = []
    call = Call({"ivr": lambda s: session.append(s) or defer.Deferred()})
    call.send(env_block())
    d = call_helper(session[0])
    call.send(b"200 result=-1\n")
    error = d.result.value
    d.addErrback(lambda f: None)
    assert isinstance(error, AGIHangup)
    assert error.result.result == "-1"


def test_raw_command_and_stream_file_return_minus_one_as_is() -> None:
    session: list[AGISession] = []
    call = Call({"ivr": lambda s: session.append(s) or defer.Deferred()})
    call.send(env_block())
    d1 = session[0].stream_file("no-such-file")
    d2 = session[0].command("RECEIVE CHAR", 500)
    call.send(b"200 result=-1 endpos=0\n200 result=-1 (hangup)\n")
    assert (d1.result.result, dict(d1.result.extras)) == ("-1", {"endpos": "0"})
    assert (d2.result.result, d2.result.data) == ("-1", "hangup")


def test_command_that_cannot_be_encoded_fails_without_sending_anything() -> None:
    session: list[AGISession] = []
    call = Call({"ivr": lambda s: session.append(s) or defer.Deferred()})
    call.send(env_block())
    d = session[0].set_variable("X", "a\nb")
    assert call.take() == b""
    failure = d.result
    d.addErrback(lambda f: None)
    assert "line break" in str(failure.value)
    ok = session[0].command("NOOP")
    assert call.take() == b"NOOP\n"
    call.send(b"200 result=0\n")
    assert ok.result.ok


def test_commands_after_close_fail_with_agihangup_at_once() -> None:
    session: list[AGISession] = []
    call = Call({"ivr": lambda s: session.append(s) or defer.Deferred()})
    call.send(env_block())
    session[0].close()
    assert call.closed
    d = session[0].command("NOOP")
    error = d.result.value
    d.addErrback(lambda f: None)
    assert isinstance(error, AGIHangup)
    assert call.take() == b""


def test_unsolicited_reply_and_malformed_lines_are_logged_and_ignored(logs: list) -> None:
    session: list[AGISession] = []
    call = Call({"ivr": lambda s: session.append(s) or defer.Deferred()})
    call.send(b"200 result=0\n")  # before the environment: not a variable line
    call.send(env_block(channel="Local/x;2"))
    call.send(b"200 result=0\nwhat is this\n")
    d = session[0].command("NOOP")
    call.send(b"200 result=7\n")
    assert d.result.result == "7"
    text = "\n".join(messages(logs))
    assert "AGI reply with no command in flight on Local/x;2" in text
    assert "malformed FastAGI line" in text and "what is this" in text
    assert "environment line is not 'name: value'" in text


# -------------------------------------------------------------------- timeout


def test_command_timeout_fails_the_command_and_drops_the_connection(logs: list) -> None:
    session: list[AGISession] = []
    call = Call({"ivr": lambda s: session.append(s) or defer.Deferred()}, command_timeout=5)
    call.send(env_block())
    s = session[0]
    first = s.command("NOOP")
    call.send(b"200 result=0\n")
    assert first.result.ok
    slow = s.command("EXEC", "Dial", "x")
    queued = s.command("NOOP")
    call.clock.advance(4.9)
    assert not slow.called
    call.clock.advance(0.1)
    error = slow.result.value
    slow.addErrback(lambda f: None)
    assert isinstance(error, AGICommandTimeout)
    assert call.transport.disconnecting
    call.lose()
    failure = queued.result
    queued.addErrback(lambda f: None)
    assert failure.check(AGIHangup)
    assert call.clock.getDelayedCalls() == []
    assert any("got no reply in 5 s" in m for m in messages(logs))


def test_no_command_timeout_by_default_even_for_long_commands() -> None:
    session: list[AGISession] = []
    call = Call({"ivr": lambda s: session.append(s) or defer.Deferred()})
    call.send(env_block())
    d = session[0].exec_("Dial", "Local/1001@agents/n,30,tT")
    assert call.clock.getDelayedCalls() == []
    call.clock.advance(3600)
    assert not d.called
    call.send(b"200 result=0\n")
    assert d.called


def test_answered_commands_leave_no_timer_behind() -> None:
    session: list[AGISession] = []
    call = Call({"ivr": lambda s: session.append(s) or defer.Deferred()}, command_timeout=5)
    call.send(env_block())
    d = session[0].command("NOOP")
    assert len(call.clock.getDelayedCalls()) == 1
    call.send(b"200 result=0\n")
    assert d.result.ok
    assert call.clock.getDelayedCalls() == []


# ------------------------------------------------------------------ real socket


@pytest_twisted.inlineCallbacks
def test_factory_serves_a_real_loopback_connection() -> None:
    from twisted.internet import protocol, reactor

    async def ivr(s: AGISession) -> None:
        digit = await s.wait_for_digit(1000)
        await s.set_variable("DIGIT", digit or "")

    port = reactor.listenTCP(0, FastAGIFactory({"ivr": ivr}, reactor), interface="127.0.0.1")
    received = bytearray()
    closed: defer.Deferred = defer.Deferred()

    class FakeAsterisk(protocol.Protocol):
        def connectionMade(self) -> None:
            self.transport.write(env_block())

        def dataReceived(self, data: bytes) -> None:
            received.extend(data)
            if data.startswith(b"WAIT FOR DIGIT"):
                self.transport.write(b"200 result=50\n")
            elif data.startswith(b"SET VARIABLE"):
                self.transport.write(b"200 result=1\n")

        def connectionLost(self, reason: Failure) -> None:
            closed.callback(None)

    try:
        yield protocol.ClientCreator(reactor, FakeAsterisk).connectTCP(
            "127.0.0.1", port.getHost().port
        )
        yield closed
    finally:
        yield port.stopListening()
    assert bytes(received) == b"WAIT FOR DIGIT 1000\nSET VARIABLE DIGIT 2\n"
