"""The simulator over real loopback sockets: an AMI client and a FastAGI server."""

from __future__ import annotations

import pytest_twisted
from twisted.internet import defer, protocol, reactor, task
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint, connectProtocol
from twisted.protocols.basic import LineReceiver

from callcenter.ami.codec import AMIConnection, Message
from callcenter.simulator import CallerScript, PhoneBehaviour, SimulatorService, Timings

FAST = Timings(agi_start=0.05, prompt=0.2, goodbye=0.05, dtmf_duration=0.02, dtmf_gap=0.02,
               dead_agi_close=1.0)


class IvrServer(LineReceiver):
    """Answers, plays the menu, reads a digit, dials agent 1001, then closes."""

    delimiter = b"\n"
    script = ["ANSWER", 'STREAM FILE menu "12"', "WAIT FOR DIGIT 1000",
              'EXEC Dial "Local/1001@agents/n,5,tT"']

    def connectionMade(self):
        self.env: list[str] = []
        self.replies: list[str] = []
        self.todo = list(self.script)
        self.in_env = True

    def lineReceived(self, line):
        text = line.decode()
        if self.in_env:
            if text:
                self.env.append(text)
                return
            self.in_env = False
        else:
            self.replies.append(text)
            if text == "HANGUP":
                return
        if self.todo:
            self.sendLine(self.todo.pop(0).encode())
        else:
            self.factory.done.callback(self)
            self.transport.loseConnection()


class AmiClient(protocol.Protocol):
    def __init__(self):
        self.codec = AMIConnection(expect_banner=True)
        self.messages: list[Message] = []
        self.closed: defer.Deferred = defer.Deferred()
        self.waiting: list[tuple[object, defer.Deferred]] = []

    def dataReceived(self, data):
        for item in self.codec.receive_data(data):
            if isinstance(item, Message):
                self.messages.append(item)
                for entry in list(self.waiting):
                    if entry[0](item):
                        self.waiting.remove(entry)
                        entry[1].callback(item)

    def connectionLost(self, reason=None):
        self.closed.callback(None)

    def wait_for(self, test) -> defer.Deferred:
        for m in self.messages:
            if test(m):
                return defer.succeed(m)
        d: defer.Deferred = defer.Deferred()
        self.waiting.append((test, d))
        return d


@defer.inlineCallbacks
def start(phones):
    factory = protocol.ServerFactory.forProtocol(IvrServer)
    factory.done = defer.Deferred()
    agi_port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(factory)
    service = SimulatorService(reactor, agi_port=agi_port.getHost().port, phones=phones,
                               timings=FAST)
    yield service.startService()
    return service, agi_port, factory


@defer.inlineCallbacks
def ami_login(service, secret="cti-secret"):
    client = AmiClient()
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", service.ami_port)
    yield connectProtocol(endpoint, client)
    client.transport.write(
        f"Action: Login\r\nActionID: l-1\r\nUsername: cti\r\nSecret: {secret}\r\n\r\n".encode())
    reply = yield client.wait_for(lambda m: m.action_id == "l-1")
    return client, reply


@pytest_twisted.inlineCallbacks
def test_inbound_call_over_loopback_reaches_agent_and_ends_cleanly():
    phones = {"1001": PhoneBehaviour("1001", answer_after=0.1, talk_seconds=0.2)}
    service, agi_port, factory = yield start(phones)
    try:
        client, reply = yield ami_login(service)
        assert reply.get("Message") == "Authentication accepted"
        call = service.place_call(CallerScript("5551234567", "Lab Caller", digits={"menu": "2"},
                                               digit_delay=0.05))
        ivr = yield factory.done
        yield call.ended
        assert ivr.env[2] == f"agi_request: agi://127.0.0.1:{agi_port.getHost().port}/inbound"
        assert ivr.env[-2:] == ["agi_arg_1: 8005550100", "agi_arg_2: 5551234567"]
        assert ivr.replies[:2] == ["200 result=0", "200 result=50 endpos=" + ivr.replies[1].split("=")[-1]]
        assert ivr.replies[2:] == ["200 result=0", "200 result=0"]  # no digit left; agent hung up
        assert call.outcome == "answered" and service.counters["answered"] == 1
        yield client.wait_for(lambda m: m.name == "Hangup" and m.get("Channel") == call.trunk.name)
        names = [m.name for m in client.messages]
        for name in ("Newchannel", "DialBegin", "DialState", "DialEnd", "BridgeEnter",
                     "AGIExecStart", "AGIExecEnd", "DTMFEnd", "Hangup"):
            assert name in names
    finally:
        yield service.stopService()
        yield agi_port.stopListening()
    assert service.pbx._timers == set()


@pytest_twisted.inlineCallbacks
def test_wrong_secret_is_refused_and_the_connection_closed():
    service, agi_port, _ = yield start({})
    try:
        client, reply = yield ami_login(service, secret="wrong")
        assert (reply.name, reply.get("Message")) == ("Error", "Authentication failed")
        yield client.closed
    finally:
        yield service.stopService()
        yield agi_port.stopListening()


@pytest_twisted.inlineCallbacks
def test_kill_ami_connections_drops_logged_in_clients():
    service, agi_port, _ = yield start({})
    try:
        client, _ = yield ami_login(service)
        service.kill_ami_connections()
        yield client.closed
    finally:
        yield service.stopService()
        yield agi_port.stopListening()


@pytest_twisted.inlineCallbacks
def test_traffic_places_max_calls_and_fires_when_all_ended():
    phones = {"1001": PhoneBehaviour("1001", answer_after=0.05, talk_seconds=0.1)}
    service, agi_port, factory = yield start(phones)
    service.pbx.agi_port = 1  # nothing listens: every call fails over to goodbye
    try:
        placed = yield service.start_traffic(rate=50.0, numbers=["5551230001"], max_calls=5,
                                             patience_mean=5.0)
        assert placed == 5
        assert service.counters["placed"] == service.counters["ended"] == 5
        assert service.counters["agi_failures"] == 5
    finally:
        yield service.stopService()
        yield agi_port.stopListening()


@pytest_twisted.inlineCallbacks
def test_stop_and_start_ami_keeps_calls_going_and_lists_them_again():
    phones = {"1001": PhoneBehaviour("1001", answer_after=0.1, talk_seconds=None)}
    service, agi_port, factory = yield start(phones)
    try:
        client, _ = yield ami_login(service)
        call = service.place_call(CallerScript("5551234567", digits={"menu": "2"},
                                               digit_delay=0.05))
        for _ in range(200):  # the IVR dials 1001, which answers: wait for the bridge
            if any(c.bridge is not None for c in service.pbx.channels.values()):
                break
            yield task.deferLater(reactor, 0.02, lambda: None)
        port = service.ami_port
        yield service.stop_ami()
        yield client.closed
        assert not call.ended.called and len(service.pbx.channels) == 4
        service.start_ami()
        assert service.ami_port == port
        again, reply = yield ami_login(service)
        assert reply.get("Message") == "Authentication accepted"
        again.transport.write(b"Action: CoreShowChannels\r\nActionID: c-1\r\n\r\n")
        done = yield again.wait_for(lambda m: m.name == "CoreShowChannelsComplete")
        assert done.get("ListItems") == "4"
        items = [m for m in again.messages if m.name == "CoreShowChannel"]
        assert {m.get("Channel") for m in items} == set(service.pbx.channels)
        service.pbx.caller_hangs_up(call)
        yield call.ended
        yield factory.done
        assert call.outcome == "answered"
    finally:
        yield service.stopService()
        yield agi_port.stopListening()
