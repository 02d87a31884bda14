"""``callcenter replay FILE``: rebuild the calls of a raw AMI capture.

A support tool: it reads the bytes Asterisk sent on one manager session (a capture
from a customer's system, optionally starting with the ``Asterisk Call Manager/x.y.z``
banner; ``-`` reads stdin) through the real AMI codec and call tracker, and prints one
JSON object per line for every inbound call, in order of arrival, then one
``{"summary": {...}}`` line. Bad bytes never stop it: frames that cannot be parsed are
listed in the summary with the reason.

A raw capture holds no clock of its own, so ``StreamClock`` dates each event from
the times Asterisk writes into the stream: ``Timestamp`` headers (``timestampevents``),
the ``EventTV`` of security events, the creation second in the ``Uniqueid`` of each
``Newchannel``, and the ``EventTime`` of CEL events (local time, set against the
uniqueids). Asterisk sends events in bursts; an undated event gets the time of the
nearer dated message before or after it (counted in messages), so durations are good
to about a second without ``timestampevents`` and to the microsecond with it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import BinaryIO, TextIO

from callcenter.ami.codec import AMIConnection, Banner, FrameError, Message
from callcenter.calls import CallTracker, CallView
from callcenter.events import CallArrived, CallEnded

__all__ = ["StreamClock", "call_record", "main", "replay"]

_READ_SIZE = 65536
_MAX_ERRORS_LISTED = 100
_RAW_SHOWN = 120
# Plausible epoch seconds for a stamp (1990 .. 2100): anything else is ignored.
_EPOCH_MIN, _EPOCH_MAX = 631_152_000.0, 4_102_444_800.0
_QUARTER_HOUR = 900.0
_CHATTER = frozenset({"VarSet", "DeviceStateChange", "ExtensionStatus", "QueueMemberStatus"})


def _epoch(value: float) -> float | None:
    return value if math.isfinite(value) and _EPOCH_MIN <= value <= _EPOCH_MAX else None


def _naive_seconds(text: str) -> float | None:
    """``2026-11-23 04:59:40[.123456]`` read as if it were UTC."""
    text = text.strip()
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    return None


def _uniqueid_seconds(uniqueid: str) -> float | None:
    """The creation second in ``[system-]1795409980.12``."""
    head = uniqueid.rsplit("-", 1)[-1].split(".", 1)[0]
    if not head.isdigit() or len(head) > 12:
        return None
    return _epoch(float(head))


class StreamClock:
    """Dates AMI messages from the times carried in the stream. No I/O, no clock.

    ``push(message)`` returns the messages whose time is now known, as
    ``(time, message)`` pairs in arrival order: undated messages wait (at most
    ``max_pending`` of them) for the next dated one. ``flush()`` releases those
    still waiting at the last known time.
    """

    def __init__(self, *, max_pending: int = 10_000) -> None:
        self.now: float | None = None
        self._pending: list[Message] = []
        self._max = max(1, max_pending)
        self._local_offset: float | None = None  # CEL local time minus epoch

    def push(self, message: Message) -> list[tuple[float, Message]]:
        stamp = self._stamp(message)
        if stamp is None:
            self._pending.append(message)
            return self.flush() if len(self._pending) >= self._max else []
        before = self.now
        after = stamp if before is None else max(before, stamp)
        self.now = after
        pending, self._pending = self._pending, []
        # Each waiting message joins the nearer dated message, counting the messages
        # in between (variable and device-state chatter does not count).
        weights = [0 if m.name in _CHATTER else 1 for m in pending]
        total = sum(weights)
        out = []
        seen = 0
        for m, w in zip(pending, weights, strict=True):
            later = total - seen - w
            out.append((after if before is None or later < seen else before, m))
            seen += w
        out.append((after, message))
        return out

    def flush(self) -> list[tuple[float, Message]]:
        """Release every waiting message at the last known time."""
        now = self.now if self.now is not None else 0.0
        out = [(now, m) for m in self._pending]
        self._pending = []
        return out

    def _stamp(self, m: Message) -> float | None:
        try:
            return self._read_stamp(m)
        except (ValueError, TypeError, OverflowError):
            return None

    def _read_stamp(self, m: Message) -> float | None:
        raw = m.get("Timestamp")
        if raw:
            stamp = _epoch(float(raw))
            if stamp is not None:
                return stamp
        raw = m.get("EventTV")
        if raw:
            stamp = _epoch(datetime.fromisoformat(raw.strip()).timestamp())
            if stamp is not None:
                return stamp
        name = m.name
        if name == "Newchannel":
            return _uniqueid_seconds((m.get("Uniqueid") or "").strip())
        if name == "CEL":
            local = _naive_seconds(m.get("EventTime") or "")
            if local is None:
                return None
            if self._local_offset is None:
                # A channel's uniqueid holds its creation second: set CEL's local
                # time against it on the first CHAN_START.
                born = _uniqueid_seconds((m.get("UniqueID") or "").strip())
                if born is None or (m.get("EventName") or "") != "CHAN_START":
                    return None
                self._local_offset = round((local - born) / _QUARTER_HOUR) * _QUARTER_HOUR
            return _epoch(local - self._local_offset)
        return None


# ------------------------------------------------------------------------ records


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _iso(value: float | None) -> str | None:
    if value is None or _epoch(value) is None:
        return None
    return datetime.fromtimestamp(value, UTC).isoformat(timespec="milliseconds")


def call_record(view: CallView) -> dict:
    """The JSON object printed for one call."""
    return {
        "linkedid": view.call_id,
        "caller_number": view.caller_number or None,
        "caller_name": view.caller_name or None,
        "dnis": view.dnis or None,
        "queue": view.queue,
        "agent_interface": view.agent_interface,
        "outcome": view.outcome or "in_progress",
        "wait_s": _round(view.wait_s),
        "talk_s": _round(view.talk_s),
        "transferred": view.transfers > 0,
        "arrived_at": _iso(view.arrived_at),
        "ended_at": _iso(view.ended_at),
        "cause": view.cause or None,
        "cause_txt": view.cause_txt or None,
    }


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while True:
        data = stream.read(_READ_SIZE)
        if not data:
            return
        yield data


def _starts_with_banner(head: bytes) -> bool:
    first = head.lstrip(b"\r\n").split(b"\n", 1)[0]
    return first.startswith(b"Asterisk Call Manager") or b":" not in first


def replay(
    chunks: Iterable[bytes],
    *,
    inbound_contexts: Iterable[str] = ("inbound",),
    max_frame_bytes: int = 1_048_576,
) -> tuple[list[dict], dict]:
    """Replay a capture given as byte chunks: (call records, summary)."""
    tracker = CallTracker(inbound_contexts=tuple(inbound_contexts),
                          ended_grace=math.inf)
    clock = StreamClock()
    conn: AMIConnection | None = None
    head = b""
    order: list[str] = []
    done: dict[str, CallView] = {}
    counts = {"frames": 0, "events": 0, "responses": 0, "other": 0}
    errors: list[dict] = []
    error_count = 0
    banner: str | None = None
    size = 0

    def dated(pairs: list[tuple[float, Message]]) -> None:
        for now, message in pairs:
            if message.kind != "event":
                continue
            for event in tracker.feed(message, now):
                if isinstance(event, CallArrived):
                    order.append(event.call_id)
                elif isinstance(event, CallEnded):
                    view = tracker.call(event.call_id)
                    if view is not None:
                        done[event.call_id] = view
                    tracker.forget(event.call_id)

    def take(items: list) -> None:
        nonlocal banner, error_count
        for item in items:
            if type(item) is Message:
                counts["frames"] += 1
                kind = item.kind
                if kind == "event":
                    counts["events"] += 1
                elif kind == "response":
                    counts["responses"] += 1
                else:
                    counts["other"] += 1
                dated(clock.push(item))
            elif type(item) is FrameError:
                counts["frames"] += 1
                error_count += 1
                if len(errors) < _MAX_ERRORS_LISTED:
                    errors.append({
                        "frame": counts["frames"],
                        "reason": item.reason,
                        "raw": item.raw[:_RAW_SHOWN].decode("utf-8", "replace"),
                    })
            elif isinstance(item, Banner) and banner is None:
                banner = item.raw

    for data in chunks:
        size += len(data)
        if conn is None:
            head += data
            if b"\n" not in head.lstrip(b"\r\n") and len(head) < 256:
                continue
            conn = AMIConnection(expect_banner=_starts_with_banner(head),
                                 max_frame_bytes=max_frame_bytes)
            data, head = head, b""
        take(conn.receive_data(data))
    if conn is None and head:
        conn = AMIConnection(expect_banner=_starts_with_banner(head),
                             max_frame_bytes=max_frame_bytes)
        take(conn.receive_data(head))
    if conn is not None:
        take(conn.receive_eof())
    dated(clock.flush())

    records = []
    for call_id in order:
        view = done.get(call_id) or tracker.call(call_id)
        if view is not None:
            records.append(call_record(view))
    summary = {
        "bytes": size,
        "banner": banner,
        **counts,
        "calls": len(records),
        "error_count": error_count,
        "errors": errors,
    }
    return records, summary


# --------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callcenter replay",
        description="Rebuild the calls of a raw AMI capture; one JSON object per line.",
    )
    parser.add_argument("file", metavar="FILE", help="raw AMI capture, or - for stdin")
    parser.add_argument(
        "-c", "--context", action="append", dest="contexts", metavar="CONTEXT",
        help="dialplan context where inbound calls start (repeat or comma-separate; "
             "default: inbound)",
    )
    parser.add_argument("--max-frame-bytes", type=int, default=1_048_576, metavar="N",
                        help="frames longer than this are dropped and reported")
    return parser


def main(argv: list[str] | None = None, *, stdin: BinaryIO | None = None,
         stdout: TextIO | None = None) -> int:
    """Run ``callcenter replay``; returns the exit status (0, or 1 if FILE is unreadable)."""
    args = _parser().parse_args(argv)
    out = stdout if stdout is not None else sys.stdout
    contexts = [c.strip() for value in (args.contexts or ["inbound"])
                for c in value.split(",") if c.strip()]
    if args.max_frame_bytes < 1:
        print("callcenter replay: --max-frame-bytes must be positive", file=sys.stderr)
        return 2
    try:
        if args.file == "-":
            source = stdin if stdin is not None else sys.stdin.buffer
            records, summary = replay(_chunks(source), inbound_contexts=contexts,
                                      max_frame_bytes=args.max_frame_bytes)
        else:
            with open(args.file, "rb") as f:
                records, summary = replay(_chunks(f), inbound_contexts=contexts,
                                          max_frame_bytes=args.max_frame_bytes)
    except OSError as e:
        print(f"callcenter replay: cannot read {args.file}: {e.strerror or e}",
              file=sys.stderr)
        return 1
    for record in records:
        out.write(json.dumps(record) + "\n")
    out.write(json.dumps({"summary": summary}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
