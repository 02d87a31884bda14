"""Fixtures of the console tests: an honest fake backend, a CRM store on SQLite, and
a running console (Twisted Web site + WebSocket hub) on loopback ports, driven by a
``task.Clock``."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_twisted
from argon2 import PasswordHasher
from twisted.internet import defer, task

import crm_store.store
from agent_ui.backend import CommandRejected
from agent_ui.web import make_site
from agent_ui.ws import ConsoleHub
from crm_store import Store, make_engine

SECRET = b"test-secret-key-0123456789abcdef"
EPOCH = 1_790_000_000.0
PASSWORDS = {
    "alice": "correct horse",
    "bob": "battery staple",
    "carol": "watch the board",
    "dave": "keys to the kingdom",
}


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
    "carol": FakeIdentity(3, "carol", "Carol Reyes", "supervisor", "1003"),
    "dave": FakeIdentity(4, "dave", "Dave Admin", "admin", ""),
}

AGENT_COMMANDS = {"ready": "ready", "not_ready": "not_ready", "logout": "logged_out"}
FORCE_COMMANDS = {
    "force_ready": "ready",
    "force_not_ready": "not_ready",
    "force_logout": "logged_out",
}


def board() -> dict[str, Any]:
    """A wallboard snapshot as the core would give it."""
    return {
        "queues": [
            {
                "name": "support",
                "waiting": 0,
                "longest_wait_s": 0.0,
                "service_level": 0.9,
                "asa_s": 12.0,
                "abandon_rate": 0.05,
                "agents": {"ready": 1, "busy": 0, "wrap_up": 0, "not_ready": 1},
            }
        ],
        "agents": [
            {"id": 1, "name": "Alice Martin", "state": "ready", "reason": "", "since": EPOCH,
             "call_id": None, "customer": None, "calls_handled": 2},
            {"id": 2, "name": "Bob Stone", "state": "not_ready", "reason": "lunch",
             "since": EPOCH, "call_id": None, "customer": None, "calls_handled": 0},
        ],
        "at": EPOCH,
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
    board: dict[str, Any] = field(default_factory=board)

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
        if name == "hangup":
            return defer.succeed({"hung_up": True})
        if name in FORCE_COMMANDS:
            return defer.succeed(
                {"agent_id": args["agent_id"], "state": FORCE_COMMANDS[name],
                 "reason": args.get("reason", "")}
            )
        state = AGENT_COMMANDS.get(name)
        if state is None:
            return defer.fail(CommandRejected(f"unknown command {name!r}"))
        return defer.succeed({"state": state, "reason": args.get("reason", "")})

    def supervisor_snapshot(self) -> dict[str, Any]:
        return self.board

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


class SyncPool:
    """The database pool of the core (``callcenter.dbpool.DBPool.do``), run inline."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: list[str] = []

    def do(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> defer.Deferred[Any]:
        self.calls.append(fn.__name__)
        return defer.maybeDeferred(fn, self.store, *args, **kwargs)


@dataclass
class Console:
    backend: FakeBackend
    clock: task.Clock
    hub: ConsoleHub
    base_url: str
    ws_url: str
    store: Store


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def clock() -> task.Clock:
    c = task.Clock()
    c.advance(EPOCH)
    return c


# Cheap hashing: these stores only back the web pages, sign-in goes to the backend.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setattr(crm_store.store, "PASSWORD_HASHER", FAST_HASHER)
    s = Store(make_engine("sqlite://"), clock=lambda: EPOCH)
    s.create_schema()
    yield s
    s.engine.dispose()


@pytest.fixture
def console(backend: FakeBackend, clock: task.Clock, store: Store):
    from twisted.internet import reactor

    hub = ConsoleHub(backend, secret_key=SECRET, clock=clock)
    ws_port = pytest_twisted.blockon(hub.startListening("127.0.0.1", 0))
    ws_url = f"ws://127.0.0.1:{ws_port}/ws"
    site = make_site(backend, secret_key=SECRET, ws_url=ws_url, clock=clock, db=SyncPool(store))
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    yield Console(backend, clock, hub, f"http://127.0.0.1:{port.getHost().port}", ws_url, store)
    pytest_twisted.blockon(defer.maybeDeferred(port.stopListening))
    pytest_twisted.blockon(hub.stopListening())
    assert clock.getDelayedCalls() == []


async def sign_in(console: Console, username: str) -> tuple[dict[str, str], str]:
    """Sign in through the form; the browser's cookies and a CSRF token for its forms."""
    import re

    from agent_ui.client import http_request

    page = await http_request("GET", console.base_url + "/login")
    cookies = page.cookies()
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page.body).group(1).decode()
    answer = await http_request(
        "POST",
        console.base_url + "/login",
        cookies=cookies,
        form={"username": username, "password": PASSWORDS[username], "csrf_token": token},
    )
    assert answer.status == 302, answer.status
    cookies.update(answer.cookies())
    return cookies, token
