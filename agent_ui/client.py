"""A Python client of the console's own protocol: signs in over HTTP like a browser,
then speaks WebSocket protocol v1. Used by the headless demo's simulated agents.

Runs on the asyncio loop (inside Twisted's asyncio reactor too): HTTP/1.0 over asyncio
streams, the ``websockets`` asyncio client for the socket.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from agent_ui.backend import CommandRejected

_CSRF_INPUT = re.compile(rb'name="csrf_token"\s+value="([^"]*)"')


class ConsoleError(Exception):
    """The console server answered something this client cannot use."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def cookies(self) -> dict[str, str]:
        """``name -> value`` of every Set-Cookie (empty value when cleared)."""
        found = {}
        for k, v in self.headers:
            if k.lower() == "set-cookie":
                pair = v.split(";", 1)[0]
                name, _, value = pair.partition("=")
                found[name.strip()] = value.strip()
        return found


async def http_request(
    method: str,
    url: str,
    *,
    cookies: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> HttpResponse:
    """One HTTP/1.0 request over a fresh connection (plain ``http://`` only)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"only http:// URLs are supported, not {url!r}")
    port = parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.0", f"Host: {parts.netloc}"]
    body = b""
    if form is not None:
        body = urlencode(form).encode("ascii")
        lines.append("Content-Type: application/x-www-form-urlencoded")
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    if cookies:
        lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()))

    async def exchange() -> bytes:
        reader, writer = await asyncio.open_connection(parts.hostname, port)
        try:
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
            return await reader.read()
        finally:
            writer.close()

    raw = await asyncio.wait_for(exchange(), timeout)
    head, sep, payload = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ConsoleError(f"incomplete HTTP response from {url}")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(status_line.split()[1])
    except (IndexError, ValueError):
        raise ConsoleError(f"bad HTTP status line from {url}: {status_line!r}") from None
    headers = []
    for line in header_lines:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return HttpResponse(status, headers, payload)


class ConsoleClient:
    """One agent's console session. ``on_message(message, received_at)`` gets every
    pushed message (not replies) with the local ``time.time()`` of its arrival."""

    def __init__(
        self, on_message: Callable[[dict[str, Any], float], None] | None = None
    ) -> None:
        self.on_message = on_message
        self.base_url = ""
        self.agent: dict[str, Any] | None = None
        self.snapshot: dict[str, Any] | None = None
        self.cookies: dict[str, str] = {}
        self._ticket: dict[str, str] | None = None
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)

    async def login(self, base_url: str, username: str, password: str) -> None:
        """Sign in through the form (CSRF token and cookie included), then get a ticket."""
        self.base_url = base_url.rstrip("/") + "/"
        page = await http_request("GET", urljoin(self.base_url, "login"), cookies=self.cookies)
        self.cookies.update(page.cookies())
        found = _CSRF_INPUT.search(page.body)
        if page.status != 200 or found is None:
            raise ConsoleError(f"no sign-in form at {self.base_url}login ({page.status})")
        answer = await http_request(
            "POST",
            urljoin(self.base_url, "login"),
            cookies=self.cookies,
            form={
                "username": username,
                "password": password,
                "csrf_token": found.group(1).decode("ascii"),
            },
        )
        self.cookies.update(answer.cookies())
        if answer.status != 302 or not self.cookies.get("cc_session"):
            raise ConsoleError(f"sign-in refused for {username!r} ({answer.status})")
        await self._fetch_ticket()

    async def _fetch_ticket(self) -> None:
        answer = await http_request(
            "GET", urljoin(self.base_url, "api/ws-ticket"), cookies=self.cookies
        )
        if answer.status != 200:
            raise ConsoleError(f"no WebSocket ticket ({answer.status})")
        self._ticket = json.loads(answer.body)

    async def connect(self) -> dict[str, Any]:
        """Open the socket, say hello, wait for the welcome; return it."""
        if self._ticket is None:
            await self._fetch_ticket()
        assert self._ticket is not None
        ticket, self._ticket = self._ticket, None
        ws = await connect(ticket["ws_url"])
        await ws.send(json.dumps({"type": "hello", "protocol": 1, "token": ticket["token"]}))
        first = json.loads(await ws.recv())
        if first.get("type") != "welcome":
            await ws.close()
            raise ConsoleError(f"console refused the socket: {first.get('error')}")
        self._ws = ws
        self.agent = first["agent"]
        self.snapshot = first["snapshot"]
        self._reader = asyncio.ensure_future(self._read(ws))
        return first

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                received_at = time.time()
                msg = json.loads(raw)
                if msg.get("type") == "reply" and msg.get("id") in self._pending:
                    fut = self._pending.pop(msg["id"])
                    if not fut.done():
                        fut.set_result(msg)
                elif self.on_message is not None:
                    self.on_message(msg, received_at)
        except ConnectionClosed:
            pass
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ConsoleError("console socket closed"))
            self._pending.clear()

    async def command(self, command_name: str, /, **args: Any) -> dict[str, Any]:
        """Run a console command; its result, or ``CommandRejected`` with the reason.
        The command's name is positional only, so any argument name can be sent
        (``command("create_customer", name="Ada")``)."""
        if self._ws is None:
            raise ConsoleError("not connected")
        msg_id = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = fut
        await self._ws.send(
            json.dumps({"type": "command", "id": msg_id, "name": command_name, "args": args})
        )
        reply = await fut
        if not reply.get("ok"):
            raise CommandRejected(reply.get("error") or "rejected")
        return reply.get("result") or {}

    async def close(self) -> None:
        """Close the socket and stop reading."""
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()
        if self._reader is not None:
            await self._reader
            self._reader = None
