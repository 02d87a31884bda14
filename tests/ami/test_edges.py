"""AMI edge cases seen on real Asterisk versions (16 to 22) that the recordings alone
do not show: banner forms, repeated headers, C-escaped caller ids, old command
output through the typed action, oversized frames on a live connection."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, formatEvent, globalLogPublisher

from callcenter.ami import actions
from callcenter.ami.codec import AMIConnection, Banner, FrameError, Message, c_unescape
from callcenter.ami.protocol import AMIFactory
from callcenter.calls import CallTracker
from callcenter.events import CallArrived
from tests.ami.replay import parse_all, parse_chunked


def everywhere(data: bytes, **kwargs) -> list:
    expected = parse_all(data, **kwargs)
    for size in range(1, min(len(data), 60) + 1):
        assert parse_chunked(data, size, **kwargs) == expected, size
    return expected


@pytest.fixture
def logged():
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


# ------------------------------------------------------------------- banners


@pytest.mark.parametrize("version", ["1.1", "1.3", "2.10.4", "5.0.1", "11.0.0"])
@pytest.mark.parametrize("after", [b"", b"\r\n", b"\r\n\r\n"])
def test_banner_of_every_version_with_or_without_blank_lines(version, after):
    data = f"Asterisk Call Manager/{version}\r\n".encode() + after + (
        b"Response: Success\r\nActionID: login-1\r\nMessage: Authentication accepted\r\n\r\n")
    items = everywhere(data)
    assert items[0] == Banner(version=version, raw=f"Asterisk Call Manager/{version}")
    assert [i.name for i in items[1:]] == ["Success"]


# ------------------------------------------------------------ repeated headers


def test_repeated_chanvariable_variable_and_output_headers_all_survive_in_order():
    data = (b"Event: Hangup\r\nChannel: PJSIP/1001-00000001\r\n"
            b"ChanVariable: CDR(linkedid)=1795409980.0\r\nChanVariable: QUEUE=sales\r\n"
            b"DestChanVariable: X=1\r\nChanVariable: EMPTY=\r\n\r\n"
            b"Event: Status\r\nActionID: s-1\r\nVariable: QUEUE=sales\r\n"
            b"Variable: IVR_ACCOUNT=42\r\nVariable: CALLERNUM=5551234567\r\n\r\n"
            b"Response: Success\r\nActionID: c-1\r\nMessage: Command output follows\r\n"
            b"Output: line one\r\nOutput:    Members: \r\nOutput: \r\n\r\n")
    hangup, status, command = everywhere(data, expect_banner=False)
    assert hangup.get_all("ChanVariable") == [
        "CDR(linkedid)=1795409980.0", "QUEUE=sales", "EMPTY="]
    assert hangup.get_all("DestChanVariable") == ["X=1"]
    assert [k for k, _ in hangup.headers].count("ChanVariable") == 3
    assert status.get_all("variable") == ["QUEUE=sales", "IVR_ACCOUNT=42",
                                          "CALLERNUM=5551234567"]
    assert command.output == "line one\n   Members: \n"


def test_values_holding_colons_and_separators_keep_everything_after_the_first():
    (msg,) = everywhere(b"Event: UserEvent\r\nUserEvent: X\r\nNote: a: b: c\r\n"
                        b"URL: sip:1001@host:5060\r\nEmpty: \r\nRaw:x\r\n\r\n",
                        expect_banner=False)
    assert msg.headers == (("Event", "UserEvent"), ("UserEvent", "X"), ("Note", "a: b: c"),
                           ("URL", "sip:1001@host:5060"), ("Empty", ""), ("Raw", "x"))


# ---------------------------------------------------------- C-escaped values


@pytest.mark.parametrize(("wire", "value"), [
    (r"O\'Neil", "O'Neil"),
    (r"Line\r\nBreak", "Line\r\nBreak"),
    (r"Tab\there", "Tab\there"),
    (r"back\\slash", "back\\slash"),
    (r"quote\"d", 'quote"d'),
    (r"odd\q", r"odd\q"),
    ("trailing\\", "trailing\\"),
    ("plain", "plain"),
])
def test_c_unescape_undoes_asterisk_escaping(wire, value):
    assert c_unescape(wire) == value


def test_escaped_caller_name_keeps_its_frame_and_is_unescaped_by_the_tracker():
    data = (b"Event: Newchannel\r\nChannel: PJSIP/trunk-00000001\r\nChannelState: 0\r\n"
            b"CallerIDNum: 5551234567\r\nCallerIDName: Mary O\\'Neil\\r\\nSales\r\n"
            b"Context: inbound\r\nExten: 8005550100\r\nUniqueid: 1700000000.1\r\n"
            b"Linkedid: 1700000000.1\r\n\r\n")
    (msg,) = everywhere(data, expect_banner=False)
    assert msg["CallerIDName"] == r"Mary O\'Neil\r\nSales"  # the codec keeps the wire
    (arrived,) = CallTracker().feed(msg, 1.0)
    assert isinstance(arrived, CallArrived)
    assert arrived.caller_name == "Mary O'Neil Sales"
    assert arrived.caller_number == "5551234567"


def test_non_utf8_caller_name_is_replaced_not_dropped():
    (msg,) = everywhere(b"Event: NewCallerid\r\nCallerIDName: Jos\xe9 \xff\r\n\r\n",
                        expect_banner=False)
    assert msg["CallerIDName"] == "Jos\ufffd \ufffd"


# --------------------------------------------------------- live connection


def connected(**kwargs):
    clock = Clock()
    events: list[Message] = []
    factory = AMIFactory(clock, "cti", "cti-secret", on_event=events.append,
                         ping_interval=None, action_ids=iter(
                             ["login-1", "c-1"]).__next__, **kwargs)
    proto = factory.buildProtocol(None)
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(b"Asterisk Call Manager/13.1.0\r\n"
                       b"Response: Success\r\nActionID: login-1\r\n\r\n")
    transport.clear()
    return proto, transport, events


def test_oversized_frame_is_dropped_with_a_logged_error_and_the_connection_kept(logged):
    proto, transport, events = connected(max_frame_bytes=2048)
    assert proto.max_frame_bytes == 2048
    big = b"Event: Huge\r\n" + b"".join(b"Output: %05d\r\n" % i for i in range(400)) + b"\r\n"
    for i in range(0, len(big), 512):
        proto.dataReceived(big[i : i + 512])
    proto.dataReceived(b"Event: After\r\nUniqueid: 1.1\r\n\r\n")

    assert [e.name for e in events] == ["After"]
    errors = [formatEvent(e) for e in logged if e.get("log_level") == LogLevel.error]
    assert any("longer than 2048 bytes" in e for e in errors)
    assert not transport.disconnecting


def test_oversized_frame_never_makes_the_codec_hold_it():
    conn = AMIConnection(expect_banner=False, max_frame_bytes=1000)
    out = conn.receive_data(b"Event: Huge\r\nData: " + b"x" * 50_000)
    assert [type(i) for i in out] == [FrameError]
    assert conn.buffered < 1100
    assert [m.name for m in conn.receive_data(b"\r\n\r\nEvent: Next\r\n\r\n")] == ["Next"]


def test_command_action_reads_old_response_follows_output():
    proto, transport, _ = connected()
    box: list = []
    actions.command(proto, "core show version").addBoth(box.append)
    assert transport.value() == (b"Action: Command\r\nActionID: c-1\r\n"
                                 b"Command: core show version\r\n\r\n")
    proto.dataReceived(b"Response: Follows\r\nPrivilege: Command\r\nActionID: c-1\r\n"
                       b"Asterisk 13.38.3 built by root\r\nsecond: line\r\n"
                       b"--END COMMAND--\r\n\r\n")
    assert box == ["Asterisk 13.38.3 built by root\nsecond: line"]


def test_goodbye_to_logoff_resolves_before_asterisk_closes():
    proto, transport, _ = connected()
    box: list = []
    proto.logoff().addBoth(box.append)
    proto.dataReceived(b"Response: Goodbye\r\nActionID: c-1\r\n"
                       b"Message: Thanks for all the fish.\r\n\r\n")
    assert box[0].response["Message"] == "Thanks for all the fish."
