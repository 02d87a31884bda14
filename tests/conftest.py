"""Shared fixtures: where the Asterisk recordings are, free ports, service gates."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CALLCENTER_SHARED", ROOT.parent / "shared"))
TRANSCRIPTS = SHARED / "asterisk-transcripts"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def transcript_names(suffix: str) -> list[str]:
    """Names of the recordings ending in ``suffix`` (e.g. ``.ami.raw``)."""
    if not TRANSCRIPTS.is_dir():
        return []
    return sorted(p.name[: -len(suffix)] for p in TRANSCRIPTS.glob("*" + suffix))


@pytest.fixture(scope="session")
def transcripts() -> Path:
    if not TRANSCRIPTS.is_dir():
        pytest.fail(f"Asterisk recordings not found at {TRANSCRIPTS} (set CALLCENTER_SHARED)")
    return TRANSCRIPTS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_or_skip(available: bool, why: str) -> None:
    """Skip when something the test needs is missing, but fail in CI, where every
    dependency is installed on purpose."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{why} (CI=true: this must not be skipped)")
    pytest.skip(why)
