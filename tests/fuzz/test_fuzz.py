"""Property tests and a short fuzz run: the AMI codec, the FastAGI codec and the call
tracker against random and mutated frames from the recordings, cut anywhere.

Nothing may escape but the declared protocol errors; the same bytes cut differently
parse the same; parsers hold no more than their limits. The long run (a million
inputs) is ``python fuzz/ami_fuzz.py -n 1000000``.
"""

from __future__ import annotations

import importlib.util
import logging
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callcenter.agi.codec import AGIConnection, AGIEnvironment, AGIResult, HangupReceived
from callcenter.agi.codec import LineError as AGILineError
from callcenter.ami.codec import AMIConnection, Banner, FrameError, Message
from callcenter.calls import CallTracker

_PATH = Path(__file__).resolve().parents[2] / "fuzz" / "ami_fuzz.py"
_spec = importlib.util.spec_from_file_location("ami_fuzz", _PATH)
fuzz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz)

AMI_FRAMES, AGI_STREAMS = fuzz.load_corpus()
PROPS = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def ami_bytes(draw) -> bytes:
    start = draw(st.integers(0, len(AMI_FRAMES) - 1))
    data = b"".join(AMI_FRAMES[start : start + draw(st.integers(1, 8))])
    if draw(st.booleans()):
        data = fuzz.mutate(random.Random(draw(st.integers(0, 2**32))), data)
    return data + draw(st.binary(max_size=200))


@st.composite
def agi_bytes(draw) -> bytes:
    stream = draw(st.sampled_from(AGI_STREAMS))
    data = stream[: draw(st.integers(0, len(stream)))]
    if draw(st.booleans()):
        data = fuzz.mutate(random.Random(draw(st.integers(0, 2**32))), data)
    return data + draw(st.binary(max_size=100))


def cuts(data: bytes, points: list[int]) -> list[bytes]:
    marks = sorted({p % (len(data) + 1) for p in points} | {0, len(data)})
    return [data[a:b] for a, b in zip(marks, marks[1:], strict=False)]


@PROPS
@given(ami_bytes(), st.lists(st.integers(0, 10**6), max_size=12), st.booleans())
def test_ami_codec_gives_the_same_items_however_cut_and_never_raises(data, points, banner):
    whole = AMIConnection(expect_banner=banner, max_frame_bytes=2048)
    expected = whole.receive_data(data) + whole.receive_eof()
    conn = AMIConnection(expect_banner=banner, max_frame_bytes=2048)
    got = []
    for piece in cuts(data, points):
        got += conn.receive_data(piece)
        assert conn.buffered <= 2 * 2048 + 64 + len(piece)
    got += conn.receive_eof()

    assert got == expected
    assert all(type(i) in (Banner, Message, FrameError) for i in got)
    for item in got:
        if type(item) is Message:
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in item.headers)
            assert item == Message(item.headers) and hash(item) == hash(Message(item.headers))


@PROPS
@given(st.binary(max_size=3000), st.lists(st.integers(0, 10**6), max_size=12))
def test_ami_codec_survives_random_bytes(data, points):
    conn = AMIConnection(max_frame_bytes=512)
    for piece in cuts(data, points):
        conn.receive_data(piece)
        assert conn.buffered <= 2 * 512 + 64 + len(piece)
    conn.receive_eof()


@PROPS
@given(agi_bytes(), st.lists(st.integers(0, 10**6), max_size=12))
def test_agi_codec_gives_the_same_events_however_cut_and_never_raises(data, points):
    whole = AGIConnection(max_line_bytes=512)
    expected = whole.receive_data(data) + whole.receive_eof()
    conn = AGIConnection(max_line_bytes=512)
    got = []
    for piece in cuts(data, points):
        got += conn.receive_data(piece)
    got += conn.receive_eof()
    assert got == expected
    kinds = (AGIEnvironment, AGIResult, HangupReceived, AGILineError)
    assert all(isinstance(e, kinds) for e in got)
    assert sum(isinstance(e, AGIEnvironment) for e in got) <= 1


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@PROPS
@given(st.lists(ami_bytes(), min_size=1, max_size=4), st.integers(0, 2**32))
def test_tracker_follows_mutated_streams_without_internal_errors(streams, seed):
    conn = AMIConnection(expect_banner=False, max_frame_bytes=4096)
    messages = [m for m in conn.receive_data(b"".join(streams)) if type(m) is Message]
    rng = random.Random(seed)
    rng.shuffle(messages) if rng.random() < 0.3 else None
    handler = _Errors()
    log = logging.getLogger("callcenter.calls")
    log.addHandler(handler)
    try:
        tracker = CallTracker(inbound_contexts=("inbound", "inbound-noagi"), ended_grace=2)
        now = 0.0
        for m in messages:
            now += rng.random()
            for event in tracker.feed(m, now):
                assert event.call_id
        tracker.resync(messages[: rng.randrange(len(messages) + 1)], now + 1)
        for view in tracker.active_calls():
            assert view.outcome in ("", "answered")
    finally:
        log.removeHandler(handler)
    assert handler.messages == []


# -------------------------------------------------------------- the fuzz tool


def test_short_fuzz_run_finds_nothing():
    result = fuzz.run(1500, seed=7)
    assert result["findings"] == []
    assert result["inputs"] == 1500


def test_fuzz_run_reports_and_saves_what_breaks_a_rule(tmp_path, monkeypatch):
    def broken(data, pieces, banner):
        raise ValueError("boom")

    monkeypatch.setattr(fuzz, "check_ami", broken)
    result = fuzz.run(200, seed=3, out=tmp_path)
    assert result["findings"]
    first = result["findings"][0]
    assert first["error"] == "ValueError: boom"
    assert Path(first["file"]).read_bytes() is not None


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x01agi_x: 1\n\n200 result=0\n",
                                  b"\x02\x00\x00\x00\x00\x00\x00\x00Event: A\r\n\r\n"])
def test_libfuzzer_entry_accepts_any_bytes(data):
    fuzz.fuzz_one_input(data)
