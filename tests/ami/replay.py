"""Reading the Asterisk recordings for the AMI tests."""

from __future__ import annotations

import json
from pathlib import Path

from callcenter.ami.codec import AMIConnection, Banner, FrameError, Message
from tests.conftest import TRANSCRIPTS

SECRET = "cti-secret"  # the lab AMI user's secret (see the recordings' README)


def timeline(name: str) -> list[dict]:
    """The ``.ami.jsonl`` entries of a recording."""
    path = Path(TRANSCRIPTS) / f"{name}.ami.jsonl"
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def wire(entry: dict) -> bytes:
    """The bytes of one ``rx``/``tx`` timeline entry."""
    return entry["data"].encode("utf-8", "surrogateescape")


def parse_all(data: bytes, **kwargs) -> list[Banner | Message | FrameError]:
    conn = AMIConnection(**kwargs)
    return conn.receive_data(data) + conn.receive_eof()


def parse_one(data: bytes) -> Message:
    """The one message in ``data`` (an action or a reply without banner)."""
    (item,) = parse_all(data, expect_banner=False)
    assert isinstance(item, Message), item
    return item


def parse_chunked(data: bytes, size: int, **kwargs) -> list[Banner | Message | FrameError]:
    conn = AMIConnection(**kwargs)
    out: list[Banner | Message | FrameError] = []
    for i in range(0, len(data), size):
        out += conn.receive_data(data[i : i + size])
    return out + conn.receive_eof()
