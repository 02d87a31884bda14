"""Fixtures of the console tests: an honest fake backend and a running console
(Twisted Web site + WebSocket hub) on loopback ports, driven by a ``task.Clock``."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, task

from agent_ui.backend import CommandRejected
from agent_ui.web import make_site
from agent_ui.ws import ConsoleHub

SECRET = b"test-secret-key-0123456789abcdef"
EPOCH = 1_790_000_000.0
PASSWORDS = {"alice": "correct horse", "bob": "battery staple"}


@dataclass(frozen=True)
class FakeIdentity:
    id: int
    username: str
    display_name: str
    role: str
    extension: str


IDENTITIES = {
    "alice": FakeIdentity(1, "alice", "Alice Martin", "agent", "1001"),
    "bob": FakeIdentity(2, "bob", "Bob Stone", "agent", "1002"),
}


@dataclass
class FakeBackend:
    """Records what the console asked; answers like the core would."""

    identities: dict[str, FakeIdentity] = field(default_factory=lambda: dict(IDENTITIES))
    auth_calls: list[str] = field(default_factory=list)
    commands: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    opened: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    snapshots: dict[int, dict[str, Any]] = field(default_factory=dict)
    rejections: dict[str, str] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)

    def authenticate(self, username: str, password: str) -> defer.Deferred[Any]:
        self.auth_calls.append(username)
        ok = PASSWORDS.get(username) == password
        return defer.succeed(self.identities[username] if ok else None)

    def snapshot(self, agent_id: int) -> dict[str, Any]:
        base = {
            "state": "logged_out",
            "reason": "",
            "since": EPOCH,
            "reasons": ["break", "lunch", "training"],
            "call": None,
            "pop": None,
            "calls_today": 0,
        }
        base.update(self.snapshots.get(agent_id, {}))
        return base

    def command(self, agent_id: int, name: str, args: dict[str, Any]) -> defer.Deferred[dict]:
        self.commands.append((agent_id, name, args))
        if name in self.broken:
            raise RuntimeError("backend bug")
        if name in self.rejections:
            return defer.fail(CommandRejected(self.rejections[name]))
        state = {"ready": "ready", "not_ready": "not_ready", "logout": "logged_out"}.get(name)
        if state is None:
            return defer.fail(CommandRejected(f"unknown command {name!r}"))
        return defer.succeed({"state": state, "reason": args.get("reason", "")})

    def console_opened(self, agent_id: int) -> None:
        self.opened.append(agent_id)

    def console_closed(self, agent_id: int) -> None:
        self.closed.append(agent_id)


def aio(fn: Callable[..., Awaitable[Any]]) -> Callable[..., defer.Deferred[Any]]:
    """Run an asyncio test coroutine on the reactor's loop (pytest-twisted waits on
    the Deferred)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> defer.Deferred[Any]:
        return defer.Deferred.fromFuture(asyncio.ensure_future(fn(*args, **kwargs)))

    run.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    return run


async def eventually(condition: Callable[[], Any], timeout: float = 5.0) -> None:
    """Wait until the server side, running on the same loop, has caught up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.002)


@dataclass
class Console:
    backend: FakeBackend
    clock: task.Clock
    hub: ConsoleHub
    base_url: str
    ws_url: str


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def clock() -> task.Clock:
    c = task.Clock()
    c.advance(EPOCH)
    return c


@pytest.fixture
def console(backend: FakeBackend, clock: task.Clock):
    from twisted.internet import reactor

    hub = ConsoleHub(backend, secret_key=SECRET, clock=clock)
    ws_port = pytest_twisted.blockon(hub.startListening("127.0.0.1", 0))
    ws_url = f"ws://127.0.0.1:{ws_port}/ws"
    site = make_site(backend, secret_key=SECRET, ws_url=ws_url, clock=clock)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    yield Console(backend, clock, hub, f"http://127.0.0.1:{port.getHost().port}", ws_url)
    pytest_twisted.blockon(defer.maybeDeferred(port.stopListening))
    pytest_twisted.blockon(hub.stopListening())
    assert clock.getDelayedCalls() == []
