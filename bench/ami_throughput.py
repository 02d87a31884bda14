"""AMI throughput: our codec (and call tracker) against other Python AMI parsers.

Builds a long, realistic AMI stream from the real Asterisk 22 recordings (every
``*.ami.raw`` without its banner, repeated with fresh uniqueids so that every copy is
a new set of calls), cuts it into socket-sized chunks and feeds the same chunks to:

a. ``ours_codec``: ``callcenter.ami.codec.AMIConnection`` alone;
b. ``ours_tracker``: the codec, then every event into ``callcenter.calls.CallTracker``;
c. ``asterisk_ami``: the ``asterisk-ami`` package's ``Event.read`` / ``Response.read``
   on the same frames (split on the blank line and decoded as its client does);
d. ``panoramisk``: panoramisk's ``Message.from_line``-based parser, if importable;
e. ``floor_split``: a bare ``bytes.split`` of the frames, the Python floor.

Contenders are interleaved (the order changes every round) and timed with
``time.perf_counter``; the figure is the median of the rounds. Prints one JSON
object. Not a test: run it by hand (see ``bench/README.md``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callcenter.ami.codec import AMIConnection, Message  # noqa: E402
from callcenter.calls import CallTracker  # noqa: E402

DEFAULT_TRANSCRIPTS = ROOT.parent / "shared" / "asterisk-transcripts"
SEP = b"\r\n\r\n"


def build_stream(transcripts: Path, copies: int) -> bytes:
    """The recordings' frames, ``copies`` times, each copy with its own uniqueids."""
    parts = []
    for path in sorted(transcripts.glob("*.ami.raw")):
        raw = path.read_bytes()
        if raw.startswith(b"Asterisk Call Manager/"):
            raw = raw[raw.index(b"\n") + 1 :]
        parts.append(raw.lstrip(b"\r\n"))
    one = b"".join(parts)
    # Uniqueids and linkedids start with the epoch (1795409...): give every copy a
    # different one, same length, so the tracker sees new calls each time.
    return b"".join(one.replace(b"17954", str(17954 + i).encode()) for i in range(copies))


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# --------------------------------------------------------------------- contenders


def ours_codec(chunks: list[bytes]) -> int:
    conn = AMIConnection(expect_banner=False)
    n = 0
    for chunk in chunks:
        for item in conn.receive_data(chunk):
            if type(item) is Message and item.kind == "event":
                n += 1
    return n


def ours_tracker(chunks: list[bytes]) -> int:
    conn = AMIConnection(expect_banner=False)
    tracker = CallTracker(inbound_contexts=("inbound", "inbound-noagi"))
    feed = tracker.feed
    n = 0
    now = 0.0
    for chunk in chunks:
        now += 0.01
        for item in conn.receive_data(chunk):
            if type(item) is Message and item.kind == "event":
                feed(item, now)
                n += 1
    return n


def asterisk_ami() -> Callable[[list[bytes]], int] | None:
    try:
        from asterisk.ami.event import Event
        from asterisk.ami.response import Response
    except ImportError:
        return None

    def run(chunks: list[bytes]) -> int:
        buf = b""
        n = 0
        for chunk in chunks:
            buf += chunk
            frames = buf.split(SEP)
            buf = frames.pop()
            for frame in frames:
                text = frame.decode("utf-8", "replace")
                if Event.match(text):
                    Event.read(text)
                    n += 1
                elif Response.match(text):
                    Response.read(text)
        return n

    return run


def panoramisk() -> Callable[[list[bytes]], int] | None:
    try:
        from panoramisk.message import Message as PMessage
    except ImportError:
        return None

    def run(chunks: list[bytes]) -> int:
        buf = b""
        n = 0
        for chunk in chunks:
            buf += chunk
            frames = buf.split(SEP)
            buf = frames.pop()
            for frame in frames:
                message = PMessage.from_line(frame.decode("utf-8", "replace"))
                if message is not None and "Event" in message:
                    n += 1
        return n

    return run


def floor_split(chunks: list[bytes]) -> int:
    buf = b""
    n = 0
    for chunk in chunks:
        buf += chunk
        frames = buf.split(SEP)
        buf = frames.pop()
        for frame in frames:
            if frame.startswith(b"Event: "):
                n += 1
    return n


# -------------------------------------------------------------------------- main


def measure(contenders: dict, chunks: list[bytes], rounds: int, seed: int
            ) -> tuple[dict, dict]:
    """Time every contender once per round, in a new order each round.

    Returns ({name: (events, median seconds)}, {name: [seconds per round]}).
    """
    times: dict[str, list[float]] = {name: [] for name in contenders}
    counts: dict[str, int] = {}
    order = list(contenders)
    rng = random.Random(seed)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            gc.collect()
            start = time.perf_counter()
            counts[name] = contenders[name](chunks)
            times[name].append(time.perf_counter() - start)
    return {name: (counts[name], statistics.median(t)) for name, t in times.items()}, times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transcripts", type=Path, default=Path(
        os.environ.get("CALLCENTER_SHARED", ROOT.parent / "shared")) / "asterisk-transcripts")
    parser.add_argument("--copies", type=int, default=3, help="copies of the recordings")
    parser.add_argument("--chunk", type=int, default=65536, help="bytes per socket read")
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    stream = build_stream(args.transcripts, args.copies)
    chunks = chunked(stream, args.chunk)
    contenders: dict[str, Callable[[list[bytes]], int]] = {
        "ours_codec": ours_codec,
        "ours_tracker": ours_tracker,
        "floor_split": floor_split,
    }
    for name, factory in (("asterisk_ami", asterisk_ami), ("panoramisk", panoramisk)):
        run = factory()
        if run is not None:
            contenders[name] = run
    results, per_round = measure(contenders, chunks, args.rounds, args.seed)
    events = results["floor_split"][0]
    for name, (count, _) in results.items():
        if count != events:
            print(f"warning: {name} saw {count} events, expected {events}", file=sys.stderr)

    def eps(name: str) -> float | None:
        if name not in results:
            return None
        return round(events / results[name][1])

    out = {
        "events": events,
        "bytes": len(stream),
        "chunk": args.chunk,
        "rounds": args.rounds,
        "ours_codec_eps": eps("ours_codec"),
        "ours_tracker_eps": eps("ours_tracker"),
        "asterisk_ami_eps": eps("asterisk_ami"),
        "panoramisk_eps": eps("panoramisk"),
        "floor_split_eps": eps("floor_split"),
    }
    # Ratios: the median over rounds of the ratio within each round, so that a
    # load change on the machine between rounds does not skew them.
    for key in ("ours_codec", "ours_tracker", "panoramisk", "floor_split"):
        if key in per_round and "asterisk_ami" in per_round:
            ratios = [b / a for a, b in zip(per_round[key], per_round["asterisk_ami"],
                                            strict=True)]
            out[f"{key}_vs_asterisk_ami"] = round(statistics.median(ratios), 2)
        else:
            out[f"{key}_vs_asterisk_ami"] = None
    out["targets_met"] = bool(out["asterisk_ami_eps"]) and (
        out["ours_codec_vs_asterisk_ami"] >= 1.5 and out["ours_tracker_vs_asterisk_ami"] >= 1.0)
    out["python"] = platform.python_version()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
