"""The sans-I/O AMI parser and encoder, checked against real Asterisk 22 recordings."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.ami.codec import (
    AMIConnection,
    Banner,
    FrameError,
    Message,
    encode_action,
    encode_message,
)
from callcenter.ami.errors import LocalProtocolError
from tests.ami.replay import parse_all, parse_chunked, parse_one, timeline, wire
from tests.conftest import transcript_names

RAW_NAMES = transcript_names(".ami.raw")
TX_NAMES = transcript_names(".ami.tx.raw")
CHUNK_SIZES = (*range(1, 65), 100, 1000, 4096, 65536)


def test_recordings_are_present():
    assert len(RAW_NAMES) >= 15
    assert len(TX_NAMES) == len(RAW_NAMES)


# ------------------------------------------------------------------ recordings


@pytest.mark.parametrize("name", RAW_NAMES)
def test_recording_parses_into_one_item_per_rx_entry(transcripts, name):
    data = (transcripts / f"{name}.ami.raw").read_bytes()
    items = parse_all(data)
    rx = [wire(e) for e in timeline(name) if e["dir"] == "rx"]

    assert not [i for i in items if isinstance(i, FrameError)]
    assert len(items) == len(rx)
    assert items[0] == Banner(version="11.0.0", raw="Asterisk Call Manager/11.0.0")
    assert all(isinstance(i, Message) and i.kind in ("event", "response") for i in items[1:])
    # Each rx entry is one complete message, parsed on its own to the same thing.
    assert parse_all(rx[0]) == [items[0]]
    for entry, item in zip(rx[1:], items[1:], strict=True):
        assert parse_all(entry, expect_banner=False) == [item]


@pytest.mark.parametrize("name", RAW_NAMES)
def test_recording_gives_same_items_at_every_chunk_size(transcripts, name):
    data = (transcripts / f"{name}.ami.raw").read_bytes()
    expected = parse_all(data)
    for size in CHUNK_SIZES:
        assert parse_chunked(data, size) == expected, size


@pytest.mark.parametrize("name", TX_NAMES)
def test_recorded_actions_parse_as_actions(transcripts, name):
    data = (transcripts / f"{name}.ami.tx.raw").read_bytes()
    tx = [wire(e) for e in timeline(name) if e["dir"] == "tx"]
    items = parse_all(data, expect_banner=False)

    assert len(items) == len(tx)
    for size in range(1, 65):
        assert parse_chunked(data, size, expect_banner=False) == items, size
    kinds = {i.kind for i in items}
    assert kinds <= {"action", "unknown"}
    for entry, item in zip(tx, items, strict=True):
        assert parse_one(entry) == item
        if item.kind == "action":
            assert item.action_id is not None
            assert encode_action(item.name, item.headers[2:], item.action_id) == entry
        else:  # 04 sends one message with no Action header on purpose
            assert item.headers[0] == ("ActionID", "no-action-1")
            assert encode_message(item.headers) == entry


def reply(transcripts, name: str, action_id: str) -> Message:
    items = parse_all((transcripts / f"{name}.ami.raw").read_bytes())
    (found,) = [
        i
        for i in items
        if isinstance(i, Message) and i.kind == "response" and i.action_id == action_id
    ]
    return found


def test_command_output_keeps_one_output_header_per_line(transcripts):
    version = reply(transcripts, "04_ami_queries_idle", "command-9")
    assert version.get_all("Output") == [
        "Asterisk 22.10.1 built by root @ vm on a x86_64 running Linux on 2026-11-23 04:45:27 UTC"
    ]
    assert version["Message"] == "Command output follows"

    empty = reply(transcripts, "04_ami_queries_idle", "command-10")
    assert empty.get_all("Output") == [""]
    assert empty.output == ""

    queue = reply(transcripts, "04_ami_queries_idle", "command-11")
    lines = queue.get_all("Output")
    assert len(lines) == 6
    assert lines[1] == "   Members: "  # leading and trailing spaces kept, colon inside
    assert lines[-1] == ""
    assert queue.output.splitlines()[0].startswith("sales has 0 calls")

    unknown = reply(transcripts, "04_ami_queries_idle", "command-12")
    assert unknown.name == "Error"
    assert unknown["Output"].startswith("No such command 'no such cli command'")


def test_queue_rule_extra_blank_line_is_skipped(transcripts):
    data = (transcripts / "04_ami_queries_idle.ami.raw").read_bytes()
    assert b"ActionID: queuerule-22\r\n\r\n\r\n" in data
    rule = reply(transcripts, "04_ami_queries_idle", "queuerule-22")
    assert rule.headers == (("Response", "Success"), ("ActionID", "queuerule-22"))
    assert reply(transcripts, "04_ami_queries_idle", "status-23").name == "Error"


def test_value_with_colons_keeps_everything_after_the_first_separator(transcripts):
    items = parse_all((transcripts / "04_ami_queries_idle.ami.raw").read_bytes())
    bad = [i for i in items if isinstance(i, Message) and i.name == "RequestBadFormat"]
    assert bad[0]["RequestType"] == "Action: NoSuchAction"
    assert bad[0]["EventTV"] == "2026-11-23T04:59:38.530+0000"


# --------------------------------------------------------------- parser rules


def parsed_everywhere(data: bytes, **kwargs) -> list:
    """Items of ``data``, checked identical at every chunk size."""
    expected = parse_all(data, **kwargs)
    for size in range(1, min(len(data), 80) + 1):
        assert parse_chunked(data, size, **kwargs) == expected, size
    return expected


@pytest.mark.parametrize("version", ["1.1", "2.10.4", "11.0.0"])
def test_banner_versions(version):
    data = f"Asterisk Call Manager/{version}\r\n\r\nEvent: FullyBooted\r\n\r\n".encode()
    items = parsed_everywhere(data)
    assert items == [
        Banner(version=version, raw=f"Asterisk Call Manager/{version}"),
        Message((("Event", "FullyBooted"),)),
    ]


def test_missing_banner_is_reported_and_first_message_kept():
    items = parsed_everywhere(b"Event: A\r\nK: v\r\n\r\n")
    assert isinstance(items[0], FrameError)
    assert "banner" in items[0].reason
    assert items[1] == Message((("Event", "A"), ("K", "v")))


def test_non_utf8_bytes_are_replaced_and_frame_kept():
    data = b"Event: Newchannel\r\nCallerIDName: Jos\xe9 \xff\r\nExten: 100\r\n\r\n"
    (msg,) = parsed_everywhere(data, expect_banner=False)
    assert msg["CallerIDName"] == "Jos\ufffd \ufffd"
    assert msg["Exten"] == "100"


def test_utf8_values_survive_intact():
    data = "Event: X\r\nName: Zoë Ünal \u2028 ok\r\n\r\n".encode()
    (msg,) = parsed_everywhere(data, expect_banner=False)
    assert msg["Name"] == "Zoë Ünal \u2028 ok"


def test_bare_line_feeds_are_accepted():
    data = b"Asterisk Call Manager/11.0.0\nEvent: A\nKey: v\n\nEvent: B\r\nX: 1\n\r\nEvent: C\r\n\r\n"
    items = parsed_everywhere(data)
    assert items[1:] == [
        Message((("Event", "A"), ("Key", "v"))),
        Message((("Event", "B"), ("X", "1"))),
        Message((("Event", "C"),)),
    ]


def test_colon_without_space_and_lines_without_colon():
    data = b"Event: A\r\nKey:value\r\nnot a header\r\nK2: a: b\r\nEmpty: \r\n\r\n"
    (msg,) = parsed_everywhere(data, expect_banner=False)
    assert msg.headers == (("Event", "A"), ("Key", "value"), ("K2", "a: b"), ("Empty", ""))


def test_frame_without_any_header_is_a_frame_error_and_parsing_goes_on():
    items = parsed_everywhere(b"just text\r\n\r\nEvent: After\r\n\r\n", expect_banner=False)
    assert items == [
        FrameError("frame has no header line", b"just text"),
        Message((("Event", "After"),)),
    ]


def test_stray_blank_lines_between_frames_are_skipped():
    data = b"\r\n\r\nEvent: A\r\n\r\n\r\n\n\r\n\r\nEvent: B\r\n\r\n\r\n"
    assert parsed_everywhere(data, expect_banner=False) == [
        Message((("Event", "A"),)),
        Message((("Event", "B"),)),
    ]


def test_old_response_follows_becomes_output_headers():
    data = (
        b"Asterisk Call Manager/1.1\r\n"
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: 42\r\n"
        b"Name: value: with colon\n\nlast line\n--END COMMAND--\r\n\r\n"
        b"Event: After\r\n\r\n"
    )
    items = parsed_everywhere(data)
    assert items[1].headers == (
        ("Response", "Follows"),
        ("Privilege", "Command"),
        ("ActionID", "42"),
        ("Output", "Name: value: with colon"),
        ("Output", ""),
        ("Output", "last line"),
    )
    assert items[1].output == "Name: value: with colon\n\nlast line"
    assert items[2] == Message((("Event", "After"),))


def test_oversized_frame_is_dropped_and_parser_resynchronises():
    big = b"Event: Big\r\nData: " + b"x" * 500 + b"\r\n\r\n"
    data = b"Event: A\r\n\r\n" + big + b"Event: B\r\n\r\n"
    items = parsed_everywhere(data, expect_banner=False, max_frame_bytes=200)
    assert items[0] == Message((("Event", "A"),))
    assert isinstance(items[1], FrameError)
    assert "200 bytes" in items[1].reason
    assert items[1].raw.startswith(b"Event: Big")
    assert items[2] == Message((("Event", "B"),))


def test_frame_exactly_at_the_limit_is_kept():
    frame = b"Event: A\r\nK: " + b"v" * 20
    items = parsed_everywhere(frame + b"\r\n\r\n", expect_banner=False, max_frame_bytes=len(frame))
    assert items == [Message((("Event", "A"), ("K", "v" * 20)))]


def test_oversized_old_command_output_is_skipped_to_its_end():
    data = (
        b"Response: Follows\r\nPrivilege: Command\r\n"
        + b"line\n\n" * 100
        + b"--END COMMAND--\r\n\r\nEvent: B\r\n\r\n"
    )
    items = parsed_everywhere(data, expect_banner=False, max_frame_bytes=100)
    assert isinstance(items[0], FrameError)
    assert items[1:] == [Message((("Event", "B"),))]


def test_endless_frame_keeps_memory_bounded():
    conn = AMIConnection(expect_banner=False, max_frame_bytes=10_000)
    out = conn.receive_data(b"Event: Endless\r\nData: ")
    for _ in range(1000):
        out += conn.receive_data(b"y" * 4096)
        assert conn.buffered <= 10_000 + 4096
    assert [type(i) for i in out] == [FrameError]
    out = conn.receive_data(b"\r\n\r\nEvent: Next\r\n\r\n")
    assert out == [Message((("Event", "Next"),))]
    assert conn.buffered == 0


def test_truncated_frame_at_eof_is_reported():
    conn = AMIConnection(expect_banner=False)
    assert conn.receive_data(b"Event: A\r\n\r\nEvent: Cut\r\nKey: v") == [
        Message((("Event", "A"),))
    ]
    (error,) = conn.receive_eof()
    assert isinstance(error, FrameError)
    assert error.reason.startswith("truncated")
    assert error.raw == b"Event: Cut\r\nKey: v"
    assert conn.receive_data(b"\r\n\r\n") == []


def test_clean_eof_reports_nothing():
    conn = AMIConnection()
    conn.receive_data(b"Asterisk Call Manager/11.0.0\r\nEvent: A\r\n\r\n\r\n")
    assert conn.receive_eof() == []


# ------------------------------------------------------------------- Message


def test_message_lookups():
    msg = Message(
        (
            ("Response", "Success"),
            ("ActionID", "a-1"),
            ("Output", "one"),
            ("output", "two"),
            ("Message", "Command output follows"),
        )
    )
    assert msg.kind == "response"
    assert msg.name == "Success"
    assert msg.action_id == "a-1"
    assert msg.get("actionid") == "a-1"
    assert msg.get("Missing") is None
    assert msg.get("Missing", "x") == "x"
    assert msg.get_all("OUTPUT") == ["one", "two"]
    assert msg.output == "one\ntwo"
    assert msg["message"] == "Command output follows"
    assert "ACTIONID" in msg
    assert "Missing" not in msg
    assert 3 not in msg
    with pytest.raises(KeyError):
        msg["Missing"]
    assert msg.as_dict() == {
        "Response": "Success",
        "ActionID": "a-1",
        "Output": "one",
        "Message": "Command output follows",
    }


@pytest.mark.parametrize(
    ("first", "kind"),
    [("Event", "event"), ("Response", "response"), ("Action", "action"), ("ActionID", "unknown")],
)
def test_message_kind_comes_from_first_header(first, kind):
    assert Message(((first, "X"),)).kind == kind
    assert Message(()).kind == "unknown"
    assert Message(()).name == ""


def test_message_is_frozen_and_hashable():
    msg = Message((("Event", "A"),))
    with pytest.raises(AttributeError):
        msg.headers = ()  # type: ignore[misc]
    assert {msg: 1}[Message((("Event", "A"),))] == 1


# ------------------------------------------------------------------ encoding


def test_encode_message_keeps_order_and_repeats():
    assert (
        encode_message([("Action", "Command"), ("Command", "x"), ("Command", "y")])
        == b"Action: Command\r\nCommand: x\r\nCommand: y\r\n\r\n"
    )
    assert encode_message({"Event": "A", "N": 3}) == b"Event: A\r\nN: 3\r\n\r\n"


def test_encode_action_puts_action_id_second():
    assert (
        encode_action("QueueStatus", {"Queue": "sales"}, action_id="q-1")
        == b"Action: QueueStatus\r\nActionID: q-1\r\nQueue: sales\r\n\r\n"
    )
    assert encode_action("Ping") == b"Action: Ping\r\n\r\n"


@pytest.mark.parametrize(
    "headers",
    [
        [("Secret", "s3cret\r\nAction: Originate")],
        [("Secret", "s3cret\n")],
        [("Bad:Key", "v")],
        [("", "v")],
        [("Bad\r\nKey", "v")],
        [],
    ],
)
def test_encode_refuses_what_would_break_the_frame(headers):
    with pytest.raises(LocalProtocolError) as info:
        encode_message(headers)
    assert "s3cret" not in str(info.value)


header_names = st.text(string.ascii_letters + string.digits + "-_()", min_size=1, max_size=12)
header_values = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=30
)


@settings(max_examples=150, deadline=None)
@given(
    frames=st.lists(
        st.lists(st.tuples(header_names, header_values), min_size=1, max_size=8),
        min_size=1,
        max_size=5,
    ),
    size=st.integers(1, 50),
)
def test_encoded_frames_parse_back_identically_at_any_chunk_size(frames, size):
    data = b"".join(encode_message(h) for h in frames)
    expected = [Message(tuple(h)) for h in frames]
    assert parse_all(data, expect_banner=False) == expected
    assert parse_chunked(data, size, expect_banner=False) == expected


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=300), size=st.integers(1, 40))
def test_arbitrary_bytes_never_raise_and_chunking_does_not_matter(data, size):
    expected = parse_all(data, max_frame_bytes=64)
    assert parse_chunked(data, size, max_frame_bytes=64) == expected


def test_codec_imports_nothing_from_twisted():
    import subprocess
    import sys

    code = "import sys, callcenter.ami.codec; print(any(m.startswith('twisted') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
