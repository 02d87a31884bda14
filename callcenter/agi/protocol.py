"""The FastAGI server: one ``FastAGIProtocol`` per call, a script handler per route.

Asterisk connects (``AGI(agi://cti:4573/inbound?lang=fr,arg1,...)``) and sends its
environment; the factory picks the handler by ``env.script`` and calls it with an
``AGISession``. The session sends one command at a time and queues the rest; each
command's Deferred fires with its ``AGIResult``. When the handler returns (or fails),
the connection is closed and Asterisk carries on with the dialplan.

After the unsolicited ``HANGUP`` line, commands are still sent: Asterisk answers the
ones allowed on a dead channel (``GET VARIABLE``, ``NOOP``, ``VERBOSE``...) and
``511`` for the others, which fails the command with ``AGIHangup``. Once the
connection is gone, every command fails with ``AGIHangup`` at once.
"""

from __future__ import annotations

import inspect
import re
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure

from callcenter.agi.codec import (
    AGIConnection,
    AGIEnvironment,
    AGIResult,
    HangupReceived,
    LineError,
    Quoted,
    encode_command,
)
from callcenter.agi.errors import (
    AGICommandError,
    AGICommandTimeout,
    AGIError,
    AGIHangup,
    LocalProtocolError,
)

__all__ = [
    "AGICommandError",
    "AGICommandTimeout",
    "AGIError",
    "AGIHangup",
    "AGISession",
    "FastAGIFactory",
    "FastAGIProtocol",
    "Handler",
]

log = Logger()

Handler = Callable[["AGISession"], "defer.Deferred[Any] | Coroutine[Any, Any, Any] | None"]


# ------------------------------------------------------------------------- session


@dataclass
class _Pending:
    line: bytes
    verb: str
    deferred: defer.Deferred[AGIResult]


_VERB = re.compile(r"[A-Z]+(?=\s|$)(?: [A-Z]+(?=\s|$)){0,2}")


def _verb(line: bytes) -> str:
    """The command words, for messages (never the arguments: they may hold PINs)."""
    m = _VERB.match(line.decode("utf-8", "replace"))
    return m.group(0) if m else "?"


def _none(_: object) -> None:
    return None


def _digit(result: AGIResult) -> str | None:
    code = result.int_result
    return chr(code) if code and 0 < code < 0x110000 else None


class AGISession:
    """What a script handler gets: the environment and the commands of one call.

    ``hung_up`` turns true and ``whenHungUp`` fires (with None, once) on the
    ``HANGUP`` line or when the connection is lost, whichever comes first.
    """

    def __init__(
        self,
        env: AGIEnvironment,
        protocol: FastAGIProtocol,
        clock: IReactorTime,
        command_timeout: float | None = None,
    ) -> None:
        self.env = env
        self.hung_up = False
        self.whenHungUp: defer.Deferred[None] = defer.Deferred()
        self._protocol = protocol
        self._clock = clock
        self._command_timeout = command_timeout
        self._queue: deque[_Pending] = deque()
        self._in_flight: _Pending | None = None
        self._timer: IDelayedCall | None = None
        self._closed_reason: str | None = None

    # --------------------------------------------------------------- commands

    def command(self, *words: str | int) -> defer.Deferred[AGIResult]:
        """Send one command (queued behind those in flight); fires with its result."""
        try:
            line = encode_command(*words)
        except LocalProtocolError:
            return defer.fail()
        if self._closed_reason is not None:
            return defer.fail(AGIHangup(self._closed_reason))
        pending = _Pending(line, _verb(line), defer.Deferred())
        self._queue.append(pending)
        self._send_next()
        return pending.deferred

    def answer(self) -> defer.Deferred[None]:
        return self.command("ANSWER").addCallback(self._no_hangup, "ANSWER").addCallback(_none)

    def stream_file(self, name: str, escape: str = "") -> defer.Deferred[AGIResult]:
        """Play a file; the result holds the digit pressed (ASCII code) or 0, and -1
        for a missing file or a hangup (the caller decides)."""
        return self.command("STREAM FILE", name, escape)

    def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> defer.Deferred[str | None]:
        """Play ``prompt`` and collect digits (those entered before a timeout too);
        None when nothing was entered. Result -1 (hangup, or a missing prompt file)
        fails with ``AGIHangup``."""
        d = self.command("GET DATA", prompt, timeout_ms, max_digits)
        return d.addCallback(self._no_hangup, "GET DATA").addCallback(lambda r: r.result or None)

    def wait_for_digit(self, timeout_ms: int) -> defer.Deferred[str | None]:
        """One DTMF digit as a character; None on timeout; -1 fails with ``AGIHangup``."""
        d = self.command("WAIT FOR DIGIT", timeout_ms)
        return d.addCallback(self._no_hangup, "WAIT FOR DIGIT").addCallback(_digit)

    def set_variable(self, name: str, value: str) -> defer.Deferred[None]:
        return self.command("SET VARIABLE", name, value).addCallback(_none)

    def get_variable(self, name: str) -> defer.Deferred[str | None]:
        """The variable's value, or None when it is not set."""
        d = self.command("GET VARIABLE", name)
        return d.addCallback(lambda r: r.data if r.result == "1" else None)

    def exec_(self, app: str, options: str = "") -> defer.Deferred[AGIResult]:
        """Run a dialplan application (``EXEC Dial "Local/1001@agents/n,30,tT"``);
        result -2 means there is no such application."""
        if options:
            return self.command("EXEC", app, Quoted(options))
        return self.command("EXEC", app)

    def set_music(self, on: bool, cls: str = "default") -> defer.Deferred[None]:
        d = self.command("SET MUSIC", "on", cls) if on else self.command("SET MUSIC", "off")
        return d.addCallback(_none)

    def verbose(self, msg: str, level: int = 1) -> defer.Deferred[None]:
        """Log ``msg`` on the Asterisk console (line breaks become spaces)."""
        return self.command("VERBOSE", Quoted(" ".join(msg.splitlines())), level).addCallback(_none)

    def hangup(self) -> defer.Deferred[None]:
        """Hang up the channel (Asterisk then sends the ``HANGUP`` line)."""
        return self.command("HANGUP").addCallback(_none)

    def close(self) -> None:
        """End the AGI: close the connection; Asterisk continues the dialplan."""
        if self._closed_reason is None:
            self._closed_reason = "the AGI session was closed"
        self._protocol.transport.loseConnection()

    # -------------------------------------------------------------- internals

    @staticmethod
    def _no_hangup(result: AGIResult, verb: str) -> AGIResult:
        if result.result == "-1":
            raise AGIHangup(f"{verb} returned -1", result)
        return result

    def _send_next(self) -> None:
        if self._in_flight is not None or not self._queue:
            return
        pending = self._queue.popleft()
        self._in_flight = pending
        self._protocol.transport.write(pending.line)
        if self._command_timeout is not None:
            self._timer = self._clock.callLater(self._command_timeout, self._timed_out)

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    # Called by FastAGIProtocol.

    def result_received(self, result: AGIResult) -> None:
        pending = self._in_flight
        if pending is None:
            log.warn(
                "AGI reply with no command in flight on {channel}: {code}",
                channel=self.env.channel,
                code=result.code,
            )
            return
        self._cancel_timer()
        self._in_flight = None
        # Send the next queued command before running callbacks, so that a command
        # issued from a callback cannot overtake the ones already queued.
        self._send_next()
        if result.code == 200:
            pending.deferred.callback(result)
        elif result.code == 511:
            pending.deferred.errback(AGIHangup(f"{pending.verb}: channel is dead (511)", result))
        else:
            pending.deferred.errback(AGICommandError(pending.verb, result))

    def hangup_received(self) -> None:
        if self.hung_up:
            return
        self.hung_up = True
        self.whenHungUp.callback(None)

    def connection_lost(self, reason: str) -> None:
        if self._closed_reason is None:
            self._closed_reason = reason
        self._cancel_timer()
        failed = [self._in_flight] if self._in_flight is not None else []
        failed += list(self._queue)
        self._in_flight = None
        self._queue.clear()
        self.hangup_received()
        for pending in failed:
            pending.deferred.errback(AGIHangup(f"{pending.verb}: {reason}"))

    def _timed_out(self) -> None:
        self._timer = None
        pending = self._in_flight
        if pending is None:
            return
        self._in_flight = None
        log.warn(
            "AGI command {verb} got no reply in {timeout} s on {channel}; dropping the connection",
            verb=pending.verb,
            timeout=self._command_timeout,
            channel=self.env.channel,
        )
        self._closed_reason = "an AGI command timed out"
        pending.deferred.errback(AGICommandTimeout(f"{pending.verb}: no reply in time"))
        self._protocol.transport.abortConnection()


# ------------------------------------------------------------------------ protocol


class FastAGIProtocol(Protocol):
    """One FastAGI connection from Asterisk, fed to an ``AGIConnection``."""

    def __init__(
        self,
        routes: Mapping[str, Handler],
        clock: IReactorTime,
        command_timeout: float | None = None,
        max_line_bytes: int = 65536,
    ) -> None:
        self.routes = routes
        self.clock = clock
        self.command_timeout = command_timeout
        self.conn = AGIConnection(max_line_bytes=max_line_bytes)
        self.session: AGISession | None = None
        self._lost = False

    def dataReceived(self, data: bytes) -> None:
        if self._lost:
            return
        for event in self.conn.receive_data(data):
            self._event(event)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._lost:
            return
        self._lost = True
        for event in self.conn.receive_eof():
            self._event(event)
        if self.session is not None:
            self.session.connection_lost("connection lost")

    # ------------------------------------------------------------------ events

    def _event(self, event: object) -> None:
        if isinstance(event, AGIEnvironment):
            self._start(event)
        elif isinstance(event, AGIResult):
            if self.session is None:
                log.warn("AGI reply before the environment; ignored")
            else:
                self.session.result_received(event)
        elif isinstance(event, HangupReceived):
            if self.session is not None:
                self.session.hangup_received()
        elif isinstance(event, LineError):
            log.warn(
                "malformed FastAGI line from {peer} on {channel}: {reason} ({raw!r})",
                peer=self._peer(),
                channel=self.session.env.channel if self.session else "?",
                reason=event.reason,
                raw=event.raw[:80],
            )

    def _peer(self) -> str:
        try:
            peer = self.transport.getPeer()
            return f"{peer.host}:{peer.port}"
        except Exception:
            return "?"

    def _start(self, env: AGIEnvironment) -> None:
        if self.session is not None:
            log.warn("second AGI environment on {channel}; ignored", channel=self.session.env.channel)
            return
        session = self.session = AGISession(env, self, self.clock, self.command_timeout)
        handler = self.routes.get(env.script)
        if handler is None:
            log.warn(
                "no FastAGI script {script!r} for {channel}; returning to the dialplan",
                script=env.script,
                channel=env.channel,
            )
            d = session.verbose(f"callcenter: no FastAGI script named {env.script!r}", 1)
            d.addErrback(lambda f: None)
        else:
            d = self._run(handler, session)
        d.addBoth(self._handler_done, session)

    @staticmethod
    def _run(handler: Handler, session: AGISession) -> defer.Deferred[Any]:
        try:
            result = handler(session)
        except Exception:
            return defer.fail()
        if inspect.iscoroutine(result):
            return defer.Deferred.fromCoroutine(result)
        if isinstance(result, defer.Deferred):
            return result
        return defer.succeed(result)

    def _handler_done(self, outcome: object, session: AGISession) -> None:
        if isinstance(outcome, Failure):
            if outcome.check(AGIHangup):
                log.info(
                    "AGI script {script!r} ended on hangup of {channel}: {reason}",
                    script=session.env.script,
                    channel=session.env.channel,
                    reason=outcome.value,
                )
            else:
                log.failure(
                    "AGI script {script!r} failed on {channel}",
                    outcome,
                    script=session.env.script,
                    channel=session.env.channel,
                )
        if not self._lost:
            session.close()


class FastAGIFactory(Factory):
    """Builds a ``FastAGIProtocol`` per connection; ``routes`` maps script names
    (``env.script``, e.g. ``"inbound"``) to handlers taking an ``AGISession``."""

    protocol = FastAGIProtocol

    def __init__(
        self,
        routes: Mapping[str, Handler],
        clock: IReactorTime,
        *,
        command_timeout: float | None = None,
        max_line_bytes: int = 65536,
    ) -> None:
        self.routes = routes
        self.clock = clock
        self.command_timeout = command_timeout
        self.max_line_bytes = max_line_bytes

    def buildProtocol(self, addr: object) -> FastAGIProtocol:
        p = FastAGIProtocol(
            self.routes,
            self.clock,
            command_timeout=self.command_timeout,
            max_line_bytes=self.max_line_bytes,
        )
        p.factory = self
        return p
