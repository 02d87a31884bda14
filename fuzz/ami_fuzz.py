"""Fuzz the AMI codec, the FastAGI codec and the call tracker.

Plain Python, no dependency: ``python fuzz/ami_fuzz.py -n 1000000`` runs a million
inputs built from the real Asterisk recordings (whole frames, mutated frames, spliced
streams, random bytes), each fed in pieces cut at random points. A finding is an
exception that is not a declared protocol error, two cuttings of the same bytes that
parse differently, a parser holding more than its limit, or the tracker logging an
internal error. Findings are written to ``--out`` and the exit status is 1.

With ``--atheris`` (and ``pip install atheris``), the same checks run under
libFuzzer instead (``fuzz_one_input``).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from callcenter.agi.codec import AGIConnection  # noqa: E402
from callcenter.ami.codec import AMIConnection, Message  # noqa: E402
from callcenter.calls import CallTracker  # noqa: E402

AMI_LIMIT = 4096  # small limits, so that the oversized paths run often
AGI_LIMIT = 1024
_FOLLOWS_SLACK = 32
_TRANSCRIPTS = Path(os.environ.get("CALLCENTER_SHARED", ROOT.parent / "shared")) / (
    "asterisk-transcripts")


class Finding(Exception):
    """A fuzz input broke a rule."""


# -------------------------------------------------------------------- corpus


def load_corpus(transcripts: Path = _TRANSCRIPTS) -> tuple[list[bytes], list[bytes]]:
    """(AMI frames, FastAGI connection streams) from the recordings."""
    ami: list[bytes] = []
    for path in sorted(transcripts.glob("*.ami.raw")):
        raw = path.read_bytes()
        ami += [f + b"\r\n\r\n" for f in raw.split(b"\r\n\r\n") if f.strip()]
    agi = [p.read_bytes() for p in sorted(transcripts.glob("*.agi-c*.rx.raw"))]
    if not ami:
        ami = [b"Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n"]
    if not agi:
        agi = [b"agi_network: yes\nagi_channel: Local/s@inbound-00000000;2\n\n200 result=0\n"]
    return ami, agi


_TOKENS = [b"\r\n", b"\n", b"\r", b": ", b":", b"\r\n\r\n", b"\x00", b"\xff", b"\xc3",
           b"Response: Follows\r\n", b"--END COMMAND--", b"Event: ", b"ActionID: ",
           b"EventList: start\r\n", b"Asterisk Call Manager/1.1\r\n", b"HANGUP\n",
           b"520-Invalid command syntax.  Proper usage follows:\n", b"520 End of proper usage.\n",
           b"200 result=", b" (timeout)", b" endpos=", b"agi_arg_1: ", b"\\", b"\\r\\n"]


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 8))):
        op = rng.randrange(7)
        i = rng.randrange(len(buf) + 1)
        if op == 0 and buf:  # flip bits
            j = min(i, len(buf) - 1)
            buf[j] ^= 1 << rng.randrange(8)
        elif op == 1:  # insert a token that matters to the grammar
            buf[i:i] = rng.choice(_TOKENS)
        elif op == 2:  # delete a run
            del buf[i : i + rng.randrange(1, 16)]
        elif op == 3:  # random bytes
            buf[i:i] = rng.randbytes(rng.randrange(1, 12))
        elif op == 4 and buf:  # duplicate a run
            j = rng.randrange(len(buf))
            buf[i:i] = buf[j : j + rng.randrange(1, 64)]
        elif op == 5:  # truncate
            del buf[i:]
        else:  # a long run (oversized frames and lines)
            buf[i:i] = bytes([rng.choice(b"x:\r\n ")]) * rng.randrange(100, 6000)
    return bytes(buf)


def make_input(rng: random.Random, ami: list[bytes], agi: list[bytes]) -> tuple[str, bytes]:
    kind = rng.random()
    if kind < 0.45:
        start = rng.randrange(len(ami))
        data = b"".join(ami[start : start + rng.randrange(1, 12)])
        if rng.random() < 0.3:
            data = b"Asterisk Call Manager/11.0.0\r\n" + data
        return "ami", mutate(rng, data) if rng.random() < 0.8 else data
    if kind < 0.6:
        data = b"".join(rng.choice(ami) for _ in range(rng.randrange(1, 6)))
        return "ami", mutate(rng, data)
    if kind < 0.9:
        stream = rng.choice(agi)
        start = rng.randrange(len(stream)) if rng.random() < 0.3 else 0
        return "agi", mutate(rng, stream[start : start + rng.randrange(50, 4000)])
    return rng.choice(("ami", "agi")), rng.randbytes(rng.randrange(0, 600))


def cut(rng: random.Random, data: bytes) -> list[bytes]:
    pieces = []
    i = 0
    while i < len(data):
        n = rng.choice((1, 2, 3, 7, 64, 512, 4096))
        pieces.append(data[i : i + n])
        i += n
    return pieces


# ------------------------------------------------------------------ targets


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


_tracker_log = logging.getLogger("callcenter.calls")


def check_ami(data: bytes, pieces: list[bytes], banner: bool) -> list:
    whole = AMIConnection(expect_banner=banner, max_frame_bytes=AMI_LIMIT)
    expected = whole.receive_data(data) + whole.receive_eof()
    conn = AMIConnection(expect_banner=banner, max_frame_bytes=AMI_LIMIT)
    got = []
    for piece in pieces:
        got += conn.receive_data(piece)
        if conn.buffered > 2 * AMI_LIMIT + _FOLLOWS_SLACK + len(piece):
            raise Finding(f"AMI parser holds {conn.buffered} bytes")
    got += conn.receive_eof()
    if got != expected:
        raise Finding("AMI items depend on how the bytes were cut")
    return got


def check_tracker(items: list) -> None:
    errors = _Errors()
    _tracker_log.addHandler(errors)
    try:
        tracker = CallTracker(inbound_contexts=("inbound", "inbound-noagi"), ended_grace=5.0)
        now = 0.0
        messages = [m for m in items if type(m) is Message]
        for m in messages:
            now += 0.25
            for event in tracker.feed(m, now):
                if getattr(event, "call_id", None) is None:
                    raise Finding(f"tracker produced {event!r}")
        views = tracker.active_calls()
        tracker.resync([m for m in messages if m.name == "CoreShowChannel"], now + 1)
        for view in views:
            _ = (view.outcome, view.wait_s, view.talk_s)
    finally:
        _tracker_log.removeHandler(errors)
    if errors.records:
        raise Finding("tracker logged an internal error: " + errors.records[0].getMessage())


def check_agi(data: bytes, pieces: list[bytes]) -> None:
    whole = AGIConnection(max_line_bytes=AGI_LIMIT)
    expected = whole.receive_data(data) + whole.receive_eof()
    conn = AGIConnection(max_line_bytes=AGI_LIMIT)
    got = []
    for piece in pieces:
        got += conn.receive_data(piece)
        if len(conn._buffer) > AGI_LIMIT + len(piece):
            raise Finding(f"AGI parser holds {len(conn._buffer)} bytes")
    got += conn.receive_eof()
    if got != expected:
        raise Finding("AGI events depend on how the bytes were cut")


def one_input(rng: random.Random, ami: list[bytes], agi: list[bytes]) -> bytes:
    """Build, run and check one input; returns it (for the report of a finding)."""
    kind, data = make_input(rng, ami, agi)
    pieces = cut(rng, data)
    if kind == "ami":
        banner = data.startswith(b"Asterisk")
        check_tracker(check_ami(data, pieces, banner))
    else:
        check_agi(data, pieces)
    return data


# --------------------------------------------------------------------- runner


def run(iterations: int, seed: int = 0, *, out: Path | None = None,
        progress: Callable[[int], None] | None = None) -> dict:
    """Run ``iterations`` inputs; returns figures and findings (at most 10 kept)."""
    ami, agi = load_corpus()
    rng = random.Random(seed)
    findings: list[dict] = []
    start = time.perf_counter()
    for i in range(iterations):
        state = rng.getstate()
        try:
            one_input(rng, ami, agi)
        except Exception as e:  # noqa: BLE001 - every escape is a finding
            data = _replay_input(state, ami, agi)
            finding = {"iteration": i, "error": f"{type(e).__name__}: {e}"}
            if out is not None:
                out.mkdir(parents=True, exist_ok=True)
                path = out / f"finding-{seed}-{i}.bin"
                path.write_bytes(data)
                finding["file"] = str(path)
            findings.append(finding)
            rng = random.Random(seed * 1_000_003 + i + 1)  # carry on with a new stream
            if len(findings) >= 10:
                break
        if progress is not None and i and i % 100_000 == 0:
            progress(i)
    elapsed = time.perf_counter() - start
    return {"inputs": i + 1 if iterations else 0, "seconds": round(elapsed, 1),
            "inputs_per_s": round((i + 1) / elapsed) if iterations and elapsed else None,
            "findings": findings}


def _replay_input(state: object, ami: list[bytes], agi: list[bytes]) -> bytes:
    rng = random.Random()
    rng.setstate(state)
    return make_input(rng, ami, agi)[1]


def fuzz_one_input(data: bytes) -> None:
    """libFuzzer entry: the bytes drive the choices."""
    rng = random.Random(data[:8])
    body = data[8:]
    if data[:1] and data[0] & 1:
        check_agi(body, cut(rng, body))
    else:
        check_tracker(check_ami(body, cut(rng, body), body.startswith(b"Asterisk")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--iterations", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("fuzz-findings"))
    parser.add_argument("--atheris", action="store_true", help="run under atheris")
    args, rest = parser.parse_known_args(argv)
    if args.atheris:
        import atheris  # optional

        atheris.Setup([sys.argv[0], *rest], fuzz_one_input)
        atheris.Fuzz()
        return 0
    result = run(args.iterations, args.seed, out=args.out,
                 progress=lambda i: print(f"{i} inputs", file=sys.stderr, flush=True))
    print(result)
    return 1 if result["findings"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
