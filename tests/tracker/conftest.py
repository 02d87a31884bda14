"""Replay helpers: AMI recordings as (time, message) pairs for the call tracker.

Recordings go through the real AMI codec (``callcenter.ami.codec``), as they do in
the running server; hand-written events are codec ``Message`` objects too.
"""

from __future__ import annotations

import json
from pathlib import Path

from callcenter.ami.codec import AMIConnection, Message
from tests.conftest import TRANSCRIPTS


def message(**headers: str) -> Message:
    """A message from keyword headers; ``Cause_txt`` is written ``Cause-txt``."""
    return Message(tuple((k.replace("_", "-"), v) for k, v in headers.items()))


def event(name: str, **headers: str) -> Message:
    return message(Event=name, **headers)


def events_of(items: list) -> list[Message]:
    return [i for i in items if isinstance(i, Message) and i.kind == "event"]


def raw_recording(name: str, root: Path = TRANSCRIPTS) -> bytes:
    return (root / f"{name}.ami.raw").read_bytes()


def recorded_messages(name: str, root: Path = TRANSCRIPTS) -> list[tuple[float, Message]]:
    """Every event of ``NAME.ami.raw`` with its arrival time from ``NAME.ami.jsonl``.

    The timeline's ``rx`` entries are checked to add up to the raw bytes, so what
    is replayed is exactly the recording."""
    rx = []
    with open(root / f"{name}.ami.jsonl", encoding="utf-8") as f:
        for line in f:
            entry = json.loads(line)
            if entry["dir"] == "rx":
                rx.append(entry)
    data = [e["data"].encode() for e in rx]
    assert b"".join(data) == raw_recording(name, root), f"{name}: timeline differs from raw"
    connection = AMIConnection()
    out = []
    for entry, chunk in zip(rx, data, strict=True):
        out.extend((float(entry["t"]), m) for m in events_of(connection.receive_data(chunk)))
    return out


def replay(tracker, messages) -> list:
    """Feed (time, message) pairs; every call event produced, in order."""
    produced = []
    for now, msg in messages:
        produced.extend(tracker.feed(msg, now))
    return produced


def of_call(events: list, call_id: str) -> list:
    return [e for e in events if e.call_id == call_id]


def named(events: list) -> list[str]:
    return [type(e).__name__ for e in events]
