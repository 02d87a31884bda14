"""WebSocket side of the console (``websockets`` asyncio server on the reactor's
loop): authenticates each socket with a short-lived token, relays commands to the
backend, pushes what the core gives it to the sockets allowed to see it.

Protocol v1 (the full description is ``docs/websocket.md``), JSON text frames with a
``type``::

    client  {"type":"hello","protocol":1,"token":"..."}          (within 5 s)
    server  {"type":"welcome","protocol":1,"agent":{...},"snapshot":{...},"server_time":t}
            (+ "supervisor":{"queues":[...],"agents":[...],"at":t} for supervisors)
    client  {"type":"command","id":7,"name":"ready","args":{}}
    server  {"type":"reply","id":7,"ok":true,"result":{...}}  or  "ok":false,"error":"..."
    server  {"type":"agent_state"|"pop"|"call"|"queue_stats"|"agents"|"halfhours", ...}

Roles are checked both ways: supervisor commands from an agent's socket get an error
reply without reaching the backend, and supervisor pushes never reach an agent's
socket, whichever method sent them.

A bad or expired token gets ``{"type":"error","error":"unauthorized"}`` and close 4401.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from agent_ui.auth import WS_TOKEN, NonceLedger, Signer
from agent_ui.backend import CommandRejected, ConsoleBackend

log = Logger()

PROTOCOL = 1
CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_HELLO = 4400
CLOSE_HELLO_TIMEOUT = 4408
_TYPE = re.compile(r"^[a-z][a-z_]{0,31}$")

ROLES = ("agent", "supervisor", "admin")
SUPERVISOR_ROLES = frozenset({"supervisor", "admin"})
# Commands only a supervisor (or an admin) may send; each names its target agent.
SUPERVISOR_COMMANDS = frozenset(
    {"force_ready", "force_not_ready", "force_logout", "listen", "whisper", "barge"}
)
# Pushed message types only a supervisor (or an admin) may receive.
SUPERVISOR_PUSHES = frozenset({"queue_stats", "agents", "halfhours"})


def may_send(role: str, command: str) -> bool:
    """May a socket of this role send this command?"""
    return command not in SUPERVISOR_COMMANDS or role in SUPERVISOR_ROLES


def may_receive(role: str, message: dict[str, Any]) -> bool:
    """May a socket of this role receive this pushed message?"""
    return message.get("type") not in SUPERVISOR_PUSHES or role in SUPERVISOR_ROLES


class ConsoleHub:
    """The console's WebSocket server and the registry of open sockets per agent."""

    def __init__(
        self,
        backend: ConsoleBackend,
        *,
        secret_key: bytes,
        clock: IReactorTime,
        hello_timeout: float = 5.0,
        max_size: int = 64 * 1024,
    ) -> None:
        self.backend = backend
        self.signer = Signer(secret_key)
        self.clock = clock
        self.hello_timeout = hello_timeout
        self.max_size = max_size
        self.port: int | None = None
        self._server: Server | None = None
        self._nonces = NonceLedger()
        self._sockets: dict[int, set[ServerConnection]] = {}
        self._roles: dict[ServerConnection, str] = {}

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0 picks a free port); return the real port."""
        self._server = await serve(
            self._handle, host, port, max_size=self.max_size, ping_interval=20, ping_timeout=20
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("Console WebSocket listening on {host}:{port}", host=host, port=self.port)
        return self.port

    async def stop(self) -> None:
        """Close every socket and stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def startListening(self, host: str, port: int) -> defer.Deferred[int]:
        return defer.Deferred.fromFuture(asyncio.ensure_future(self.start(host, port)))

    def stopListening(self) -> defer.Deferred[None]:
        return defer.Deferred.fromFuture(asyncio.ensure_future(self.stop()))

    # ------------------------------------------------------------------ pushes

    def push(self, agent_id: int, message: dict[str, Any]) -> int:
        """Send ``message`` to every open socket of this agent that may receive it;
        how many it reached."""
        conns = [
            ws
            for ws in self._sockets.get(agent_id, ())
            if ws.state is State.OPEN and may_receive(self._roles.get(ws, ""), message)
        ]
        if conns:
            broadcast(conns, json.dumps(message))
        return len(conns)

    def push_role(self, role: str, message: dict[str, Any]) -> int:
        """Send ``message`` to every open socket whose identity has ``role``, and to
        every admin's; how many it reached."""
        conns = [
            ws
            for ws, ws_role in self._roles.items()
            if ws.state is State.OPEN
            and (ws_role == role or ws_role == "admin")
            and may_receive(ws_role, message)
        ]
        if conns:
            broadcast(conns, json.dumps(message))
        return len(conns)

    def connected(self, agent_id: int) -> bool:
        """True while the agent has at least one open console socket."""
        return bool(self._sockets.get(agent_id))

    # ------------------------------------------------------------------ one socket

    async def _handle(self, ws: ServerConnection) -> None:
        agent = await self._hello(ws)
        if agent is None:
            return
        agent_id = int(agent["id"])
        role = str(agent["role"])
        # The socket joins the agent's set only once the welcome is sent, so that no
        # push can overtake the welcome (the first frame is always the welcome).
        sockets = self._sockets.setdefault(agent_id, set())
        try:
            if not sockets:
                self._notify(self.backend.console_opened, agent_id)
            try:
                snapshot = self.backend.snapshot(agent_id)
            except Exception:
                log.failure("Snapshot for agent {id} failed", id=agent_id)
                snapshot = {}
            welcome = {
                "type": "welcome",
                "protocol": PROTOCOL,
                "agent": agent,
                "snapshot": snapshot,
                "server_time": self.clock.seconds(),
            }
            if role in SUPERVISOR_ROLES:
                welcome["supervisor"] = self._supervisor_snapshot()
            await ws.send(json.dumps(welcome))
            sockets.add(ws)
            self._roles[ws] = role
            async for raw in ws:
                await self._dispatch(ws, agent_id, raw)
        except ConnectionClosed:
            pass
        finally:
            self._roles.pop(ws, None)
            sockets.discard(ws)
            if not sockets and self._sockets.get(agent_id) is sockets:
                del self._sockets[agent_id]
                self._notify(self.backend.console_closed, agent_id)

    def _supervisor_snapshot(self) -> dict[str, Any]:
        """The backend's wallboard truth, or an empty board when it has none."""
        empty = {"queues": [], "agents": [], "at": self.clock.seconds()}
        fn = getattr(self.backend, "supervisor_snapshot", None)
        if fn is None:
            return empty
        try:
            snap = fn()
        except Exception:
            log.failure("Supervisor snapshot failed")
            return empty
        return dict(empty, **snap) if isinstance(snap, dict) else empty

    async def _hello(self, ws: ServerConnection) -> dict[str, Any] | None:
        """Wait for the hello; the agent's identity, or None once the socket is refused."""

        def too_late() -> None:
            log.info("Console socket sent no hello in {s}s; closing", s=self.hello_timeout)
            asyncio.ensure_future(ws.close(CLOSE_HELLO_TIMEOUT, "hello timeout"))

        timer = self.clock.callLater(self.hello_timeout, too_late)
        try:
            raw = await ws.recv()
        except ConnectionClosed:
            return None
        finally:
            if timer.active():
                timer.cancel()
        msg = _decode(raw)
        if msg is None or msg.get("type") != "hello":
            await self._refuse(ws, "expected hello", CLOSE_BAD_HELLO)
            return None
        if msg.get("protocol") != PROTOCOL:
            await self._refuse(ws, "unsupported protocol", CLOSE_BAD_HELLO)
            return None
        now = self.clock.seconds()
        data = self.signer.verify(WS_TOKEN, msg.get("token"), now=now)
        agent = data.get("agent") if data else None
        if (
            data is None
            or not isinstance(agent, dict)
            or not isinstance(agent.get("id"), int)
            or agent.get("role") not in ROLES
            or not self._nonces.use(str(data.get("nonce")), data["exp"], now=now)
        ):
            log.info("Console socket refused: bad, expired or reused token")
            await self._refuse(ws, "unauthorized", CLOSE_UNAUTHORIZED)
            return None
        return agent

    async def _refuse(self, ws: ServerConnection, error: str, code: int) -> None:
        try:
            await ws.send(json.dumps({"type": "error", "error": error}))
            await ws.close(code, error)
        except ConnectionClosed:
            pass

    def _notify(self, fn: Any, agent_id: int) -> None:
        try:
            fn(agent_id)
        except Exception:
            log.failure("Backend {fn} failed for agent {id}", fn=fn.__name__, id=agent_id)

    # ------------------------------------------------------------------ messages

    async def _dispatch(self, ws: ServerConnection, agent_id: int, raw: str | bytes) -> None:
        msg = _decode(raw)
        if msg is None:
            await ws.send(json.dumps({"type": "error", "error": "malformed message"}))
            return
        kind = msg.get("type")
        handler = getattr(self, f"msg_{kind}", None) if isinstance(kind, str) else None
        if handler is None or not _TYPE.match(kind):
            reply: dict[str, Any] = {"type": "error", "error": "unknown message type"}
            if "id" in msg:
                reply = {"type": "reply", "id": _id(msg), "ok": False, "error": reply["error"]}
            await ws.send(json.dumps(reply))
            return
        await handler(ws, agent_id, msg)

    async def _reply_error(self, ws: ServerConnection, msg_id: Any, error: str) -> None:
        await ws.send(json.dumps({"type": "reply", "id": msg_id, "ok": False, "error": error}))

    async def msg_command(self, ws: ServerConnection, agent_id: int, msg: dict[str, Any]) -> None:
        msg_id = _id(msg)
        name = msg.get("name")
        args = msg.get("args", {})
        if not isinstance(name, str) or not _TYPE.match(name) or not isinstance(args, dict):
            await self._reply_error(ws, msg_id, "malformed command")
            return
        role = self._roles.get(ws, "")
        if not may_send(role, name):
            log.warn(
                "Agent {id} ({role}) sent supervisor command {name!r}; refused",
                id=agent_id,
                role=role,
                name=name,
            )
            await self._reply_error(ws, msg_id, "forbidden: supervisors only")
            return
        if name in SUPERVISOR_COMMANDS:
            target = args.get("agent_id")
            if isinstance(target, bool) or not isinstance(target, int):
                await self._reply_error(ws, msg_id, "malformed command: agent_id must be a number")
                return
        d = defer.maybeDeferred(self.backend.command, agent_id, name, args)
        try:
            result = await d.asFuture(asyncio.get_running_loop())
        except CommandRejected as exc:
            reply = {"type": "reply", "id": msg_id, "ok": False, "error": str(exc)}
        except Exception:
            log.failure("Command {name!r} of agent {id} failed", name=name, id=agent_id)
            reply = {"type": "reply", "id": msg_id, "ok": False, "error": "internal error"}
        else:
            reply = {"type": "reply", "id": msg_id, "ok": True, "result": result or {}}
        try:
            text = json.dumps(reply)
        except (TypeError, ValueError):
            log.error("Command {name!r} gave a result that is not JSON", name=name)
            text = json.dumps({"type": "reply", "id": msg_id, "ok": False, "error": "internal error"})
        await ws.send(text)

    async def msg_ping(self, ws: ServerConnection, agent_id: int, msg: dict[str, Any]) -> None:
        await ws.send(json.dumps({"type": "pong"}))

    async def msg_hello(self, ws: ServerConnection, agent_id: int, msg: dict[str, Any]) -> None:
        await ws.send(json.dumps({"type": "error", "error": "already welcomed"}))


def _decode(raw: str | bytes) -> dict[str, Any] | None:
    """A JSON object from a text frame, or None."""
    if not isinstance(raw, str):
        return None
    try:
        msg = json.loads(raw)
    except ValueError:
        return None
    return msg if isinstance(msg, dict) else None


def _id(msg: dict[str, Any]) -> int | str | None:
    value = msg.get("id")
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    return value if not isinstance(value, str) else value[:64]
