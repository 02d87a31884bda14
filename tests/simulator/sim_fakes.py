"""In-memory stand-ins for the CTI's FastAGI server and an AMI event log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer

FINAL = ("200 ", "510 ", "511 ", "520 ")


class FakeAgiServer:
    """Sends ``commands`` one after the other, each when the previous reply is
    complete, then closes (unless ``close`` is False). Also the session's transport."""

    def __init__(self, commands: list[str], close: bool = True,
                 on_reply: Callable[[FakeAgiServer, str], None] | None = None) -> None:
        self.commands = list(commands)
        self.close = close
        self.on_reply = on_reply
        self.env: list[str] = []
        self.replies: list[str] = []
        self.unsolicited: list[str] = []
        self.session: Any = None
        self.env_done = False
        self.closed = False
        self._buffer = ""
        self._usage: list[str] = []

    # transport side
    def write(self, data: bytes) -> None:
        self._buffer += data.decode()
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            self._line(line)

    def loseConnection(self) -> None:  # noqa: N802 - Twisted transport method name
        if not self.closed:
            self.closed = True
            self.session.connection_lost()

    def _line(self, line: str) -> None:
        if not self.env_done:
            if line == "":
                self.env_done = True
                self._next()
            else:
                self.env.append(line)
            return
        if line == "HANGUP":
            self.unsolicited.append(line)
            return
        if line.startswith("520-") or (self._usage and not line.startswith(FINAL)):
            self._usage.append(line)
            return
        if self._usage:
            line = "\n".join([*self._usage, line])
            self._usage = []
        self.replies.append(line)
        if self.on_reply is not None:
            self.on_reply(self, line)
        self._next()

    def _next(self) -> None:
        if self.closed:
            return
        if self.commands:
            self.session.line_received(self.commands.pop(0))
        elif self.close:
            self.loseConnection()

    def send(self, command: str) -> None:
        self.session.line_received(command)


def connector_for(*servers: FakeAgiServer):
    """An ``agi_connect`` handing each new call to the next fake server."""
    queue = list(servers)

    def connect(host: str, port: int, session: Any) -> defer.Deferred:
        if not queue:
            return defer.fail(ConnectionRefusedError("nothing listening"))
        server = queue.pop(0)
        server.session = session
        session.connection_made(server)
        return defer.succeed(server)

    return connect


def refusing(host: str, port: int, session: Any) -> defer.Deferred:
    return defer.fail(ConnectionRefusedError("Connection refused"))


class EventLog:
    """Collects every AMI event the PBX emits."""

    def __init__(self) -> None:
        self.events: list[tuple[tuple[str, str], ...]] = []

    def __call__(self, headers: tuple[tuple[str, str], ...]) -> None:
        self.events.append(headers)

    @staticmethod
    def get(event: tuple[tuple[str, str], ...], key: str) -> str | None:
        for k, v in event:
            if k == key:
                return v
        return None

    def names(self) -> list[str]:
        return [e[0][1] for e in self.events]

    def named(self, name: str) -> list[tuple[tuple[str, str], ...]]:
        return [e for e in self.events if e[0][1] == name]

    def steps(self, channel_of: Callable[[str], str | None] = lambda c: c) -> list[tuple[str, str]]:
        """(event, channel role) pairs."""
        out = []
        for e in self.events:
            chan = self.get(e, "Channel") or self.get(e, "DestChannel") or ""
            out.append((e[0][1], channel_of(chan) or chan))
        return out
