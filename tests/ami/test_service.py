"""The reconnecting AMI client service: Clock-driven, plus one real loopback run."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import defer, protocol
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from callcenter.ami.codec import AMIConnection, Message, encode_message
from callcenter.ami.errors import AMINotConnected
from callcenter.ami.protocol import AMIProtocol, make_ami_service

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def accepted(action_id: str) -> bytes:
    return f"Response: Success\r\nActionID: {action_id}\r\nMessage: Authentication accepted\r\n\r\n".encode()


def refused(action_id: str) -> bytes:
    return f"Response: Error\r\nActionID: {action_id}\r\nMessage: Authentication failed\r\n\r\n".encode()


class Harness:
    """A service on a MemoryReactorClock; connections are completed by hand."""

    def __init__(self, **kwargs) -> None:
        self.reactor = MemoryReactorClock()
        self.calls: list[tuple[str, AMIProtocol]] = []
        self.events: list[Message] = []
        self.service = make_ami_service(
            self.reactor,
            "127.0.0.1",
            5038,
            "cti",
            "cti-secret",
            on_event=self.events.append,
            on_connected=lambda p: self.calls.append(("up", p)),
            on_disconnected=lambda p: self.calls.append(("down", p)),
            retry_policy=lambda attempt: float(attempt),
            **kwargs,
        )
        self.service.startService()

    def connect(self, index: int = -1) -> tuple[protocol.Protocol, StringTransport]:
        factory = self.reactor.tcpClients[index][2]
        wrapper = factory.buildProtocol(None)
        transport = StringTransport()
        wrapper.makeConnection(transport)
        return wrapper, transport

    def login(self, reply=accepted) -> tuple[protocol.Protocol, StringTransport]:
        wrapper, transport = self.connect()
        self.last = (wrapper, transport)
        wrapper.dataReceived(BANNER)
        (login,) = AMIConnection(expect_banner=False).receive_data(transport.value())
        transport.clear()
        wrapper.dataReceived(reply(login.action_id))
        return wrapper, transport

    def retry_delays(self) -> list[float]:
        now = self.reactor.seconds()
        return [c.getTime() - now for c in self.reactor.getDelayedCalls()]

    def stop(self) -> None:
        d = self.service.stopService()
        wrapper, transport = getattr(self, "last", (None, None))
        if transport is not None and transport.disconnecting and not d.called:
            lose(wrapper)  # a StringTransport does not report the close by itself
        assert d.called
        assert self.reactor.getDelayedCalls() == []


def lose(wrapper: protocol.Protocol) -> None:
    wrapper.connectionLost(Failure(ConnectionDone()))


def test_service_logs_in_then_reconnects_after_the_connection_drops():
    h = Harness(ping_interval=None)
    assert len(h.reactor.tcpClients) == 1
    assert h.reactor.tcpClients[0][:2] == ("127.0.0.1", 5038)
    assert h.service.current() is None

    first, _ = h.login()
    current = h.service.current()
    assert isinstance(current, AMIProtocol)
    assert current.logged_in
    assert h.calls == [("up", current)]

    lose(first)
    assert h.service.current() is None
    assert h.calls[-1] == ("down", current)
    assert h.retry_delays() == [1.0]
    h.reactor.advance(1.0)
    assert len(h.reactor.tcpClients) == 2

    second, _ = h.login()
    assert h.service.current() is not current
    assert [c[0] for c in h.calls] == ["up", "down", "up"]
    h.stop()


def test_send_action_without_connection_fails_fast():
    h = Harness(ping_interval=None)
    failure = h.service.send_action("Ping")
    with pytest.raises(AMINotConnected):
        failure.result.raiseException()
    failure.addErrback(lambda _: None)
    h.stop()


def test_send_action_goes_to_the_current_connection():
    h = Harness(ping_interval=None, action_ids=iter(["login-1", "ping-2"]).__next__)
    _, transport = h.login()
    d = h.service.send_action("Ping")
    assert transport.value() == b"Action: Ping\r\nActionID: ping-2\r\n\r\n"
    h.service.current().dataReceived(b"Response: Success\r\nActionID: ping-2\r\nPing: Pong\r\n\r\n")
    assert d.result.response["Ping"] == "Pong"
    h.stop()


def test_events_reach_on_event_through_the_service():
    h = Harness(ping_interval=None)
    wrapper, _ = h.login()
    wrapper.dataReceived(b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n")
    assert [e.name for e in h.events] == ["FullyBooted"]
    h.stop()


def test_failed_logins_back_off_longer_each_time():
    h = Harness(ping_interval=None)
    delays = []
    for _ in range(3):
        wrapper, transport = h.login(reply=refused)
        assert transport.disconnecting  # we close: the service must retry, not us
        assert h.service.current() is None
        lose(wrapper)
        (delay,) = h.retry_delays()
        delays.append(delay)
        h.reactor.advance(delay)
    assert delays == [2.0, 3.0, 4.0]
    assert h.calls == []

    # A successful login resets the backoff.
    wrapper, _ = h.login()
    lose(wrapper)
    assert h.retry_delays() == [1.0]
    h.stop()


def test_refused_tcp_connection_is_retried_with_backoff():
    h = Harness(ping_interval=None)
    attempts_at = [h.reactor.seconds()]
    while len(attempts_at) < 4:
        count = len(h.reactor.tcpClients)
        if count == len(attempts_at):
            factory = h.reactor.tcpClients[-1][2]
            factory.clientConnectionFailed(None, Failure(ConnectionRefusedError()))
        h.reactor.advance(0.1)
        if len(h.reactor.tcpClients) > count:
            attempts_at.append(h.reactor.seconds())
    waits = [b - a for a, b in zip(attempts_at, attempts_at[1:], strict=False)]
    assert waits[0] >= 1.0
    assert waits[0] < waits[1] < waits[2]
    h.stop()


def test_stopping_the_service_closes_the_connection_and_leaves_no_timers():
    h = Harness(ping_interval=20)
    wrapper, transport = h.login()
    d = h.service.stopService()
    assert transport.disconnecting
    lose(wrapper)
    assert d.called
    assert h.service.current() is None
    assert h.reactor.getDelayedCalls() == []


# ------------------------------------------------------------ real loopback


class FakeAsterisk(protocol.Protocol):
    """Just enough AMI server: banner, login, then it hangs up on the client."""

    def connectionMade(self) -> None:
        self.conn = AMIConnection(expect_banner=False)
        self.transport.write(BANNER)

    def dataReceived(self, data: bytes) -> None:
        for msg in self.conn.receive_data(data):
            if isinstance(msg, Message) and msg.name == "Login":
                self.transport.write(accepted(msg.action_id))
                self.transport.write(encode_message({"Event": "FullyBooted"}))
                self.factory.logins += 1
                if self.factory.logins == 1:
                    self.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_client_reconnects_to_a_real_server_after_it_hangs_up():
    from twisted.internet import reactor

    server_factory = protocol.ServerFactory.forProtocol(FakeAsterisk)
    server_factory.logins = 0
    port = reactor.listenTCP(0, server_factory, interface="127.0.0.1")
    ups: list[defer.Deferred] = [defer.Deferred(), defer.Deferred()]
    downs: list[AMIProtocol] = []

    def connected(p: AMIProtocol) -> None:
        ups.pop(0).callback(p)

    service = make_ami_service(
        reactor,
        "127.0.0.1",
        port.getHost().port,
        "cti",
        "cti-secret",
        on_connected=connected,
        on_disconnected=downs.append,
        retry_policy=lambda attempt: 0.01,
        ping_interval=None,
    )
    second = ups[1]
    service.startService()
    try:
        latest = await second.addTimeout(5, reactor)
        assert server_factory.logins == 2
        assert len(downs) == 1
        assert service.current() is latest
    finally:
        await service.stopService()
        await port.stopListening()
