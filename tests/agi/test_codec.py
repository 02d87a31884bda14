"""The FastAGI codec against the Asterisk 22 recordings and hand-made edge cases."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter.agi.codec import (
    MAX_COMMAND_BYTES,
    AGIConnection,
    AGIEnvironment,
    AGIResult,
    HangupReceived,
    LineError,
    LocalProtocolError,
    Quoted,
    encode_command,
)
from tests.conftest import transcript_names

AGI_RECORDINGS = transcript_names(".agi-c1.rx.raw")

ENV = (
    b"agi_network: yes\n"
    b"agi_network_script: inbound?lang=fr&vip=1&empty=\n"
    b"agi_request: agi://127.0.0.1:4573/inbound?lang=fr&vip=1&empty=\n"
    b"agi_channel: PJSIP/trunk-0000002a\n"
    b"agi_uniqueid: 1795409980.1\n"
    b"agi_callerid: 5551234567\n"
    b"agi_calleridname: Lab: Caller\n"
    b"agi_context: inbound\n"
    b"agi_extension: 8005550100\n"
    b"agi_language: fr\n"
    b"agi_version: 22.10.1\n"
    b"agi_accountcode: \n"
    b"agi_threadid: -1234567890123\n"
)


def feed(data: bytes, size: int | None = None, *, eof: bool = False, **kw) -> list:
    conn = AGIConnection(**kw)
    events: list = []
    size = size or len(data) or 1
    for i in range(0, len(data), size):
        events += conn.receive_data(data[i : i + size])
    if eof:
        events += conn.receive_eof()
    return events


def only(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


# ---------------------------------------------------------------- recordings


@pytest.mark.parametrize("name", AGI_RECORDINGS)
def test_recording_parses_the_same_in_every_chunk_size(transcripts: Path, name: str) -> None:
    raw = (transcripts / f"{name}.agi-c1.rx.raw").read_bytes()
    whole = feed(raw, eof=True)
    assert not only(whole, LineError)
    env = whole[0]
    assert isinstance(env, AGIEnvironment)
    assert env.version == "22.10.1"
    assert env.variables["agi_accountcode"] == ""
    assert env.args == ("8005550100", "5551234567")
    assert env.script == env.network_script  # no query string in the recordings
    assert env.request.endswith("/" + env.script)
    assert len(env.variables) == 24
    for size in range(1, 65):
        assert feed(raw, size, eof=True) == whole, f"chunk size {size}"


def test_recording_05_environment_properties(transcripts: Path) -> None:
    (env, *results) = feed((transcripts / "05_inbound_call_ivr_queue.agi-c1.rx.raw").read_bytes())
    assert env.channel == "Local/s@inbound-00000000;2"
    assert env.uniqueid == "1795409980.1"
    assert env.callerid == "5551234567"
    assert env.calleridname == "Lab Caller"
    assert env.context == "inbound"
    assert env.extension == "8005550100"
    assert env.language == "en"
    assert env.request == "agi://127.0.0.1:4573/ivr"
    assert env.script == "ivr"
    assert env.query == {}
    assert env.threadid == 140229244192448
    assert [r.result for r in results] == ["0", "1", "6", "49", "0", "42", "1", "1", "1"]
    assert results[1].data == "5551234567"
    assert dict(results[4].extras) == {"endpos": "8000"}


def test_recording_19_pairs_each_command_with_its_result(transcripts: Path) -> None:
    name = "19_agi_command_results.agi-c1"
    commands = (transcripts / f"{name}.tx.raw").read_text().splitlines()
    events = feed((transcripts / f"{name}.rx.raw").read_bytes(), eof=True)[1:]
    assert not only(events, LineError)
    assert len(commands) == 47
    # The unsolicited HANGUP comes right after the reply to the HANGUP command.
    hangup_at = events.index(HangupReceived())
    assert only(events, HangupReceived) == [HangupReceived()]
    assert commands[hangup_at - 1] == "HANGUP"
    results = only(events, AGIResult)
    assert len(results) == len(commands)
    by_cmd = dict(zip(commands, results, strict=True))

    def shape(cmd: str) -> tuple:
        r = by_cmd[cmd]
        return (r.code, r.result, r.data, dict(r.extras))

    assert shape("NOOP") == (200, "0", None, {})
    assert shape("CHANNEL STATUS") == (200, "6", None, {})
    assert shape("GET VARIABLE NOSUCHVAR") == (200, "0", None, {})
    assert shape(
        'GET FULL VARIABLE "${CALLERID(name)} <${CALLERID(num)}> uid=${UNIQUEID}"'
    ) == (200, "1", "Lab Caller <5551234567> uid=1795410209.83", {})
    assert shape("GET VARIABLE FOO") == (200, "1", "bar baz", {})
    assert shape('STREAM FILE silence/1 ""') == (200, "0", None, {"endpos": "8000"})
    assert shape('STREAM FILE no-such-file ""') == (200, "-1", None, {"endpos": "0"})
    assert shape("GET DATA silence/1 1000 2") == (200, "", "timeout", {})
    assert shape("GET DATA no-such-file 1000 2") == (200, "-1", None, {})
    assert shape('CONTROL STREAM FILE silence/1 "" 3000 # * 5 0') == (
        200, "0", None, {"endpos": "-1"},
    )
    assert shape("EXEC NoSuchApp foo") == (200, "-2", None, {})
    assert shape("RECEIVE CHAR 500") == (200, "-1", "hangup", {})
    assert shape('RECORD FILE /srv/asterisk/spool/recording/agi-test gsm "#" 1000 0 s=1') == (
        200, "0", "timeout", {"endpos": "0"},
    )
    assert shape("FOO BAR") == (510, None, None, {})
    assert by_cmd["FOO BAR"].text == "510 Invalid or unknown command"
    assert by_cmd["GET DATA silence/1 1000 2"].timeout
    assert by_cmd["EXEC NoSuchApp foo"].int_result == -2
    assert not by_cmd["FOO BAR"].ok and by_cmd["NOOP"].ok
    usage = [c for c in commands if by_cmd[c].code == 520]
    assert usage == [
        "WAIT FOR DIGIT", "STREAM FILE", "GET DATA", "DATABASE PUT onlyfamily", "SET VARIABLE",
    ]
    stream_usage = by_cmd["STREAM FILE"].text.split("\n")
    assert stream_usage[0] == "520-Invalid command syntax.  Proper usage follows:"
    assert stream_usage[-1] == "520 End of proper usage."
    assert "    <value>FAILED</value>" in stream_usage
    assert len(stream_usage) == 7
    # Commands on the dead channel still get ordinary answers.
    assert [r.result for r in results[-2:]] == ["0", "1"]
    assert results[-1].data == "5550000"


# --------------------------------------------------------------- environment


def test_environment_with_query_string_splits_script_and_query() -> None:
    (env,) = feed(ENV + b"agi_arg_1: x\n\n")
    assert env.network_script == "inbound?lang=fr&vip=1&empty="
    assert env.script == "inbound"
    assert env.query == {"lang": "fr", "vip": "1", "empty": ""}
    assert env.language == "fr"


def test_environment_value_with_colon_keeps_everything_after_the_first() -> None:
    (env,) = feed(ENV + b"\n")
    assert env.calleridname == "Lab: Caller"
    assert env.variables["agi_accountcode"] == ""


def test_negative_threadid_is_parsed_as_int() -> None:
    (env,) = feed(ENV + b"\n")
    assert env.threadid == -1234567890123


def test_missing_or_bad_threadid_is_none() -> None:
    (env,) = feed(b"agi_threadid: x\n\n")
    assert env.threadid is None
    (env,) = feed(b"agi_channel: a\n\n")
    assert env.threadid is None


def test_empty_args_are_kept_and_ordered_numerically() -> None:
    lines = b"".join(b"agi_arg_%d: %s\n" % (n, b"" if n in (1, 3) else b"v%d" % n) for n in range(1, 12))
    (env,) = feed(ENV + lines + b"\n")
    assert env.args == ("", "v2", "", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11")


def test_script_with_leading_slash_and_no_network_script_uses_request() -> None:
    (env,) = feed(b"agi_request: agi://cti:4573/queue/wait?q=sales\n\n")
    assert env.network_script == "queue/wait?q=sales"
    assert env.script == "queue/wait"
    assert env.query == {"q": "sales"}
    (env,) = feed(b"agi_network_script: /inbound\n\n")
    assert env.script == "inbound"


def test_crlf_line_ends_are_accepted() -> None:
    events = feed(ENV.replace(b"\n", b"\r\n") + b"\r\n200 result=1 (x)\r\nHANGUP\r\n")
    env, result, hangup = events
    assert env.callerid == "5551234567"
    assert (result.result, result.data) == ("1", "x")
    assert hangup == HangupReceived()


def test_environment_line_without_colon_is_a_line_error_and_parsing_continues() -> None:
    events = feed(b"agi_channel: a\nthis is not a variable\nagi_context: c\n\n200 result=0\n")
    assert isinstance(events[0], LineError)
    assert events[0].raw == b"this is not a variable"
    assert events[1].variables == {"agi_channel": "a", "agi_context": "c"}
    assert events[2].result == "0"


# -------------------------------------------------------------------- replies


@pytest.mark.parametrize(
    ("line", "code", "result", "data", "extras"),
    [
        ("200 result=0", 200, "0", None, {}),
        ("200 result=1 (5551234567)", 200, "1", "5551234567", {}),
        ("200 result=0 endpos=8000", 200, "0", None, {"endpos": "8000"}),
        ("200 result= (timeout)", 200, "", "timeout", {}),
        ("200 result=12 (timeout)", 200, "12", "timeout", {}),
        ("200 result=1 (timeout) endpos=1234", 200, "1", "timeout", {"endpos": "1234"}),
        ("200 result=-1", 200, "-1", None, {}),
        ("200 result=1 (a (b) c)", 200, "1", "a (b) c", {}),
        ("200 result=1 ()", 200, "1", "", {}),
        ("200 result=1 (x) y=z)", 200, "1", "x) y=z", {}),
        ("510 Invalid or unknown command", 510, None, None, {}),
        ("511 Command Not Permitted on a dead channel or intercept routine", 511, None, None, {}),
        ("520 Invalid command syntax.  Proper usage not available.", 520, None, None, {}),
        ("200 odd reply", 200, None, None, {}),
    ],
)
def test_reply_shapes(line: str, code: int, result, data, extras) -> None:
    (event,) = feed(b"agi_channel: a\n\n" + line.encode() + b"\n")[1:]
    assert (event.code, event.result, event.data, dict(event.extras)) == (code, result, data, extras)
    assert event.text == line


def test_multiline_520_usage_is_one_result_in_every_chunk_size() -> None:
    data = (
        b"agi_channel: a\n\n"
        b"520-Invalid command syntax.  Proper usage follows:\n"
        b"Usage: 200 result=1 is not a reply here\n"
        b"HANGUP\n"
        b"520 End of proper usage.\n"
        b"200 result=0\n"
    )
    for size in range(1, len(data) + 1):
        env, usage, after = feed(data, size)
        assert usage.code == 520 and usage.result is None
        assert usage.text.split("\n") == [
            "520-Invalid command syntax.  Proper usage follows:",
            "Usage: 200 result=1 is not a reply here",
            "HANGUP",
            "520 End of proper usage.",
        ]
        assert after.result == "0"


def test_hangup_line_before_the_reply_to_the_command_in_flight() -> None:
    events = feed(b"agi_channel: a\n\nHANGUP\n200 result=-1\n200 result=0\n")[1:]
    assert events == [
        HangupReceived(),
        AGIResult(200, "-1", None, {}, "200 result=-1"),
        AGIResult(200, "0", None, {}, "200 result=0"),
    ]


def test_hangup_line_after_the_reply() -> None:
    events = feed(b"agi_channel: a\n\n200 result=-1\nHANGUP\n")[1:]
    assert [type(e) for e in events] == [AGIResult, HangupReceived]


def test_garbage_lines_are_line_errors_and_parsing_continues() -> None:
    data = b"agi_channel: a\n\nhello\n99 result=0\n2000 result=0\n510-x\n\n\xff\xfe\n200 result=1\n"
    for size in range(1, len(data) + 1):
        events = feed(data, size)[1:]
        errors = only(events, LineError)
        assert [e.raw for e in errors] == [b"hello", b"99 result=0", b"2000 result=0", b"510-x", b"\xff\xfe"]
        assert all(e.reason == "not an AGI reply" for e in errors)
        assert only(events, AGIResult)[0].result == "1"


def test_overlong_line_is_one_line_error_then_resyncs_at_the_next_newline() -> None:
    data = b"agi_channel: a\n\n200 result=0\n" + b"x" * 300 + b"\n200 result=1 (ok)\n"
    for size in range(1, 65):
        events = feed(data, size, max_line_bytes=100)[1:]
        assert [type(e) for e in events] == [AGIResult, LineError, AGIResult]
        assert events[1].raw == b"x" * 80
        assert "longer than 100 bytes" in events[1].reason
        assert events[2].data == "ok"


def test_overlong_usage_block_is_truncated_but_still_one_result() -> None:
    data = (
        b"agi_channel: a\n\n520-Invalid command syntax.  Proper usage follows:\n"
        + b"usage line of text\n" * 50
        + b"520 End of proper usage.\n"
    )
    (usage,) = feed(data, max_line_bytes=200)[1:]
    assert usage.code == 520
    assert len(usage.text) < 300
    assert usage.text.endswith("520 End of proper usage.")


def test_eof_reports_an_unfinished_line_environment_or_usage_block() -> None:
    assert feed(b"agi_channel: a\n\n200 res", eof=True)[-1] == LineError(
        "connection closed in the middle of a line", b"200 res"
    )
    (error,) = feed(b"agi_channel: a\n", eof=True)
    assert error.reason == "connection closed before the end of the environment"
    error = feed(b"agi_channel: a\n\n520-Invalid\nusage\n", eof=True)[-1]
    assert error.reason == "connection closed inside a 520 usage block"
    assert feed(b"", eof=True) == []


def test_data_after_eof_is_our_error() -> None:
    conn = AGIConnection()
    conn.receive_eof()
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"200 result=0\n")


# ------------------------------------------------------------------- commands


def test_encode_command_reproduces_recording_05(transcripts: Path) -> None:
    tx = (transcripts / "05_inbound_call_ivr_queue.agi-c1.tx.raw").read_bytes()
    sent = b"".join(
        [
            encode_command("ANSWER"),
            encode_command("GET VARIABLE", "CALLERID(num)"),
            encode_command("CHANNEL", "STATUS"),
            encode_command("WAIT FOR DIGIT", 10000),
            encode_command("STREAM FILE", "silence/1", ""),
            encode_command("GET DATA", "silence/1", 6000, 4),
            encode_command("SET VARIABLE", "QUEUE", "sales"),
            encode_command("SET VARIABLE", "IVR_ACCOUNT", Quoted("42")),
            encode_command("VERBOSE", "IVR done: digit=1 account=42 -> queue sales", 1),
        ]
    )
    assert sent == tx


def test_encode_command_escapes_quotes_and_backslashes() -> None:
    assert encode_command("SET VARIABLE", "X", 'say "hi"\\') == b'SET VARIABLE X "say \\"hi\\"\\\\"\n'
    assert encode_command("EXEC", "Dial", Quoted("Local/1001@agents/n,30,tT")) == (
        b'EXEC Dial "Local/1001@agents/n,30,tT"\n'
    )
    assert encode_command("NOOP", "tab\there") == b'NOOP "tab\there"\n'


@pytest.mark.parametrize("words", [(), ("",), ("NOOP", "a\nb"), ("NOOP\r",), ("NOOP", "\0")])
def test_encode_command_refuses_what_cannot_be_sent(words: tuple) -> None:
    with pytest.raises(LocalProtocolError):
        encode_command(*words)


def test_encode_command_refuses_lines_longer_than_asterisk_reads() -> None:
    encode_command("VERBOSE", "x" * (MAX_COMMAND_BYTES - 20))
    with pytest.raises(LocalProtocolError):
        encode_command("VERBOSE", "x" * MAX_COMMAND_BYTES)


def asterisk_parse_args(line: str) -> list[str]:
    """Asterisk's ``parse_args`` (res_agi.c): quotes toggle, backslash escapes."""
    argv: list[str] = []
    cur: list[str] | None = None
    quoted = escaped = False
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and cur is None:
                cur = []
                argv.append("")
            continue
        if ch in " \t" and not quoted and not escaped:
            if cur is not None:
                argv[-1] = "".join(cur)
            cur = None
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        escaped = False
        if cur is None:
            cur = []
            argv.append("")
        cur.append(ch)
    if cur is not None:
        argv[-1] = "".join(cur)
    return argv


_word = st.text(st.characters(blacklist_characters="\n\r\0", blacklist_categories=("Cs",)), max_size=20)


@given(st.lists(_word, max_size=6))
def test_encoded_arguments_read_back_the_same_in_asterisk(args: list[str]) -> None:
    line = encode_command("SET VARIABLE", *args).decode()
    assert line.endswith("\n")
    parsed = asterisk_parse_args(line[:-1])
    assert parsed[:2] == ["SET", "VARIABLE"]
    # Asterisk splits on space and tab only; other whitespace is quoted anyway.
    assert parsed[2:] == args
