"""``callcenter demo --headless`` as a user runs it: a subprocess, real sockets, its
own SQLite file; the last line of its output is the JSON report."""

from __future__ import annotations

import json
import subprocess
import sys


def test_headless_demo_logs_every_call_and_pops_every_answered_one(tmp_path):
    calls = 24
    proc = subprocess.run(
        [sys.executable, "-m", "callcenter.cli", "demo", "--headless", "--calls", str(calls),
         "--agents", "8", "--seed", "2", "--customers", "500", "--data-dir",
         str(tmp_path / "data")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["calls_offered"] == calls
    assert report["contacts_logged"] == calls
    assert report["contacts_open"] == 0
    assert report["calls_answered"] + report["calls_abandoned"] == calls
    assert report["calls_answered"] > 0
    assert report["answered_without_pop"] == 0
    assert report["screen_pops_received"] >= report["calls_answered"]
    assert report["pop_latency_ms_p50"] is not None
