"""Twisted AMI client: log in, send actions, collect their answers, pass events on.

``AMIProtocol`` is a thin adapter: ``dataReceived`` is one call into the sans-I/O
``AMIConnection``; what comes out is dispatched here:

* a response whose ``ActionID`` is pending fires that action's Deferred
  (``Response: Error`` fails it with ``AMIActionError``);
* a response with ``EventList: start`` opens a list: every event with the same
  ``ActionID`` is collected until the one with ``EventList: Complete`` (its name ends
  in ``Complete``), then the Deferred fires once with all of them;
* an action sent with ``until_event`` (an async ``Originate`` and its
  ``OriginateResponse``) completes on the event of that name carrying its
  ``ActionID``, whichever of response and event comes first;
* every other event goes to ``on_event``.

Every action has a timeout on the injected clock. The secret is never logged: only
action names and ActionIDs are.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet import defer, protocol
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.interfaces import IDelayedCall, IReactorTime, IStreamClientEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure

from callcenter.ami.codec import AMIConnection, Banner, FrameError, Message, encode_action
from callcenter.ami.errors import (
    AMIActionError,
    AMIAuthenticationError,
    AMIConnectionLost,
    AMINotConnected,
    AMITimeoutError,
    LocalProtocolError,
    RemoteProtocolError,
)

__all__ = [
    "ActionResult",
    "AMIClientService",
    "AMIFactory",
    "AMIProtocol",
    "make_ami_service",
]

Headers = Mapping[str, object] | Iterable[tuple[str, object]]
EventHandler = Callable[[Message], object]
ProtocolHandler = Callable[["AMIProtocol"], object]

log = Logger()

#: Default limit of one AMI frame; longer ones are dropped (and logged).
MAX_FRAME_BYTES = 1_048_576


@dataclass(frozen=True, slots=True)
class ActionResult:
    """The answer to one action: its response and, for list actions, the items.

    ``complete`` is the closing ``...Complete`` event of a list (it carries
    ``ListItems``); None for plain actions.
    """

    response: Message
    events: tuple[Message, ...] = ()
    complete: Message | None = None


@dataclass(slots=True)
class _Pending:
    action: str
    action_id: str
    deferred: Deferred
    timeout: float
    timer: IDelayedCall | None = None
    response: Message | None = None
    events: list[Message] = field(default_factory=list)
    until: str | None = None
    final: Message | None = None


def _counter_ids() -> Callable[[], str]:
    numbers = itertools.count(1)
    return lambda: f"cc-{next(numbers)}"


def _is_list_end(event: Message) -> bool:
    marker = event.get("EventList")
    if marker is not None:
        return marker.lower() == "complete"
    return event.name.endswith("Complete")


class AMIProtocol(protocol.Protocol):
    """One AMI connection: logs in on the banner, then carries actions and events.

    ``loggedIn`` fires with the login response, or fails with
    ``AMIAuthenticationError`` (the connection is then closed), ``AMITimeoutError``
    or ``AMIConnectionLost``.
    """

    def __init__(
        self,
        *,
        clock: IReactorTime,
        username: str,
        secret: str,
        auth: str = "plain",
        events: bool | str | None = True,
        action_timeout: float = 10.0,
        on_event: EventHandler | None = None,
        action_ids: Callable[[], str] | None = None,
        ping_interval: float | None = None,
        on_connected: ProtocolHandler | None = None,
        on_disconnected: ProtocolHandler | None = None,
        max_frame_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        if auth not in ("plain", "md5"):
            raise ValueError(f"auth must be 'plain' or 'md5', not {auth!r}")
        self.clock = clock
        self.username = username
        self._secret = secret
        self.auth = auth
        self.events = events
        self.action_timeout = action_timeout
        self.ping_interval = ping_interval
        self.on_event = on_event
        self.on_connected = on_connected
        self.on_disconnected = on_disconnected
        self.max_frame_bytes = max_frame_bytes
        self._next_id = action_ids or _counter_ids()
        self.banner: Banner | None = None
        self.logged_in = False
        self.loggedIn: Deferred[Message] = Deferred()
        self._conn = AMIConnection(max_frame_bytes=max_frame_bytes)
        self._pending: dict[str, _Pending] = {}
        self._banner_timer: IDelayedCall | None = None
        self._ping_timer: IDelayedCall | None = None
        self._lost = False

    def __repr__(self) -> str:
        return f"<AMIProtocol {self.username}@{self._peer()}>"

    # ------------------------------------------------------------ Twisted hooks

    def connectionMade(self) -> None:
        self._banner_timer = self.clock.callLater(self.action_timeout, self._banner_timed_out)

    def dataReceived(self, data: bytes) -> None:
        for item in self._conn.receive_data(data):
            self._handle(item)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        if self._lost:
            return
        for item in self._conn.receive_eof():
            self._handle(item)
        self._lost = True
        self._cancel_timer("_banner_timer")
        self._cancel_timer("_ping_timer")
        pending, self._pending = self._pending, {}
        for p in pending.values():
            if p.timer is not None and p.timer.active():
                p.timer.cancel()
            p.deferred.errback(
                AMIConnectionLost(f"connection closed before {p.action} ({p.action_id}) completed")
            )
        if not self.loggedIn.called:
            self.loggedIn.errback(AMIConnectionLost("connection closed before login completed"))
        if self.logged_in:
            self.logged_in = False
            log.info("AMI connection to {peer} closed", peer=self._peer())
            self._notify(self.on_disconnected)

    # ------------------------------------------------------------------ actions

    def send_action(
        self,
        action: str,
        headers: Headers = (),
        *,
        timeout: float | None = None,
        until_event: str | None = None,
    ) -> Deferred[ActionResult]:
        """Send an action; the Deferred fires with its ``ActionResult``.

        With ``until_event``, the action completes on the event of that name with its
        ``ActionID`` (``ActionResult.complete``), not on the response alone; the
        timeout then counts again from the response.
        """
        if self._lost or self.transport is None:
            return defer.fail(AMIConnectionLost(f"cannot send {action}: connection closed"))
        action_id = self._next_id()
        if action_id in self._pending:
            return defer.fail(LocalProtocolError(f"ActionID {action_id!r} is already pending"))
        try:
            data = encode_action(action, headers, action_id)
        except LocalProtocolError as exc:
            return defer.fail(exc)
        limit = self.action_timeout if timeout is None else timeout
        d: Deferred[ActionResult] = Deferred(lambda _: self._forget(action_id))
        p = _Pending(action, action_id, d, limit, until=until_event.lower() if until_event else None)
        p.timer = self.clock.callLater(limit, self._timed_out, action_id)
        self._pending[action_id] = p
        log.debug("AMI -> {action} {action_id}", action=action, action_id=action_id)
        self.transport.write(data)
        return d

    def logoff(self) -> Deferred[ActionResult]:
        """Say goodbye; Asterisk answers ``Response: Goodbye`` and closes."""
        return self.send_action("Logoff")

    def pending_count(self) -> int:
        """How many actions wait for their answer."""
        return len(self._pending)

    # ------------------------------------------------------------------- login

    def _login(self) -> None:
        events = self.events
        extra: list[tuple[str, str]] = []
        if events is True:
            extra.append(("Events", "on"))
        elif events is False:
            extra.append(("Events", "off"))
        elif events is not None:
            extra.append(("Events", events))

        if self.auth == "md5":

            def answer(result: ActionResult) -> Deferred[ActionResult]:
                challenge = result.response.get("Challenge")
                if not challenge:
                    raise RemoteProtocolError("Challenge response carries no Challenge")
                key = hashlib.md5((challenge + self._secret).encode("utf-8")).hexdigest()
                return self.send_action(
                    "Login",
                    [("AuthType", "MD5"), ("Username", self.username), ("Key", key), *extra],
                )

            d = self.send_action("Challenge", [("AuthType", "MD5")]).addCallback(answer)
        else:
            d = self.send_action(
                "Login", [("Username", self.username), ("Secret", self._secret), *extra]
            )
        d.addCallbacks(self._login_succeeded, self._login_failed)

    def _login_succeeded(self, result: ActionResult) -> None:
        self.logged_in = True
        log.info(
            "Logged in to AMI at {peer} as {username}", peer=self._peer(), username=self.username
        )
        self.loggedIn.callback(result.response)
        if self.ping_interval:
            self._ping_timer = self.clock.callLater(self.ping_interval, self._ping)
        self._notify(self.on_connected)

    def _login_failed(self, failure: Failure) -> None:
        if failure.check(AMIActionError):
            response = failure.value.response
            reason = response.get("Message") or "refused"
            error: Exception = AMIAuthenticationError(
                f"AMI login as {self.username} failed: {reason}", response
            )
        else:
            error = failure.value
        log.error("AMI login as {username} failed: {error}", username=self.username, error=error)
        if not self.loggedIn.called:
            self.loggedIn.errback(error)
        self._close(abort=failure.check(AMITimeoutError) is not None)

    def _banner_timed_out(self) -> None:
        self._banner_timer = None
        error = AMITimeoutError("banner", "-", self.action_timeout)
        log.error(
            "No AMI banner from {peer} within {timeout} s",
            peer=self._peer(),
            timeout=self.action_timeout,
        )
        if not self.loggedIn.called:
            self.loggedIn.errback(error)
        self._close(abort=True)

    # --------------------------------------------------------------- keep-alive

    def _ping(self) -> None:
        self._ping_timer = None

        def again(_: object) -> None:
            if not self._lost and self.ping_interval:
                self._ping_timer = self.clock.callLater(self.ping_interval, self._ping)

        def failed(failure: Failure) -> None:
            if failure.check(AMITimeoutError):
                log.warn("AMI keep-alive Ping got no answer: dropping the connection")
                self._close(abort=True)
            elif failure.check(AMIActionError):
                again(None)
            # AMIConnectionLost: nothing to do

        self.send_action("Ping").addCallbacks(again, failed)

    # -------------------------------------------------------------- dispatching

    def _handle(self, item: Banner | Message | FrameError) -> None:
        if type(item) is Message:
            kind = item.kind
            if kind == "event":
                self._event(item)
            elif kind == "response":
                self._response(item)
            else:
                log.warn("Ignored an AMI message of unknown kind: {name!r}", name=item.name)
        elif type(item) is FrameError:
            log.error(
                "Dropped a bad AMI frame from {peer} ({reason}); starts with {start!r}",
                peer=self._peer(),
                reason=item.reason,
                start=item.raw[:60],
            )
        elif self.banner is None:
            self._cancel_timer("_banner_timer")
            self.banner = item
            log.info("AMI banner from {peer}: {raw}", peer=self._peer(), raw=item.raw)
            self._login()

    def _response(self, message: Message) -> None:
        action_id = message.action_id
        p = self._pending.get(action_id) if action_id is not None else None
        if p is None or p.response is not None:
            log.info(
                "AMI response for no pending action (ActionID {action_id}): {status}",
                action_id=action_id,
                status=message.name,
            )
            return
        status = message.name.lower()
        if status == "error":
            self._finish(p).errback(AMIActionError(p.action, message))
        elif (message.get("EventList") or "").lower() == "start":
            p.response = message
            self._restart_timer(p)
        elif p.until is not None:
            p.response = message
            if p.final is not None:
                self._finish(p).callback(ActionResult(message, (), p.final))
            else:
                self._restart_timer(p)
        else:
            if status == "goodbye":
                self._cancel_timer("_ping_timer")  # Asterisk closes the connection next
            self._finish(p).callback(ActionResult(message))

    def _event(self, message: Message) -> None:
        if self._pending:
            action_id = message.action_id
            if action_id is not None:
                p = self._pending.get(action_id)
                if p is not None and p.until is not None:
                    if message.name.lower() == p.until and p.final is None:
                        if p.response is None:
                            p.final = message  # the response is still to come
                        else:
                            self._finish(p).callback(ActionResult(p.response, (), message))
                        return
                elif p is not None and p.response is not None:
                    if _is_list_end(message):
                        result = ActionResult(p.response, tuple(p.events), message)
                        self._finish(p).callback(result)
                    else:
                        p.events.append(message)
                        self._restart_timer(p)
                    return
        on_event = self.on_event
        if on_event is not None:
            try:
                on_event(message)
            except Exception:
                log.failure("AMI event handler failed on {name}", name=message.name)

    # ---------------------------------------------------------------- pending

    def _finish(self, p: _Pending) -> Deferred[ActionResult]:
        del self._pending[p.action_id]
        if p.timer is not None and p.timer.active():
            p.timer.cancel()
        p.timer = None
        return p.deferred

    def _restart_timer(self, p: _Pending) -> None:
        if p.timer is not None and p.timer.active():
            p.timer.reset(p.timeout)

    def _timed_out(self, action_id: str) -> None:
        p = self._pending.pop(action_id, None)
        if p is None:
            return
        p.timer = None
        log.warn(
            "AMI action {action} ({action_id}) timed out after {timeout} s",
            action=p.action,
            action_id=action_id,
            timeout=p.timeout,
        )
        p.deferred.errback(AMITimeoutError(p.action, action_id, p.timeout))

    def _forget(self, action_id: str) -> None:
        """Canceller of an action's Deferred: stop waiting for its answer."""
        p = self._pending.pop(action_id, None)
        if p is not None and p.timer is not None and p.timer.active():
            p.timer.cancel()

    # ------------------------------------------------------------------ helpers

    def _cancel_timer(self, name: str) -> None:
        timer = getattr(self, name)
        if timer is not None and timer.active():
            timer.cancel()
        setattr(self, name, None)

    def _close(self, *, abort: bool = False) -> None:
        transport = self.transport
        if transport is None or self._lost:
            return
        if abort and hasattr(transport, "abortConnection"):
            transport.abortConnection()
        else:
            transport.loseConnection()

    def _notify(self, callback: ProtocolHandler | None) -> None:
        if callback is None:
            return
        try:
            callback(self)
        except Exception:
            log.failure("AMI connection callback {callback!r} failed", callback=callback)

    def _peer(self) -> str:
        transport = self.transport
        if transport is None:
            return "?"
        try:
            peer = transport.getPeer()
        except Exception:
            return "?"
        host = getattr(peer, "host", None)
        port = getattr(peer, "port", None)
        return f"{host}:{port}" if host is not None else str(peer)


class AMIFactory(protocol.Factory):
    """Builds ``AMIProtocol``s with one set of settings.

    ``on_connected(protocol)`` runs after a successful login, ``on_disconnected(protocol)``
    when a logged-in connection closes, ``on_login_failed(failure)`` when a login fails.
    """

    protocol = AMIProtocol  # type: ignore[assignment]

    def __init__(
        self,
        clock: IReactorTime,
        username: str,
        secret: str,
        *,
        auth: str = "plain",
        events: bool | str | None = True,
        action_timeout: float = 10.0,
        ping_interval: float | None = 20.0,
        on_event: EventHandler | None = None,
        on_connected: ProtocolHandler | None = None,
        on_disconnected: ProtocolHandler | None = None,
        on_login_failed: Callable[[Failure], object] | None = None,
        action_ids: Callable[[], str] | None = None,
        max_frame_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        if auth not in ("plain", "md5"):
            raise ValueError(f"auth must be 'plain' or 'md5', not {auth!r}")
        self.clock = clock
        self.username = username
        self._secret = secret
        self.auth = auth
        self.events = events
        self.action_timeout = action_timeout
        self.ping_interval = ping_interval
        self.on_event = on_event
        self.on_connected = on_connected
        self.on_disconnected = on_disconnected
        self.on_login_failed = on_login_failed
        self.action_ids = action_ids
        self.max_frame_bytes = max_frame_bytes

    def __repr__(self) -> str:
        return f"<AMIFactory {self.username}>"

    def buildProtocol(self, addr: object) -> AMIProtocol:
        p = self.protocol(
            clock=self.clock,
            username=self.username,
            secret=self._secret,
            auth=self.auth,
            events=self.events,
            action_timeout=self.action_timeout,
            on_event=self.on_event,
            action_ids=self.action_ids,
            ping_interval=self.ping_interval,
            on_connected=self.on_connected,
            on_disconnected=self.on_disconnected,
            max_frame_bytes=self.max_frame_bytes,
        )
        p.factory = self
        p.loggedIn.addErrback(self._login_failed)
        return p

    def _login_failed(self, failure: Failure) -> None:
        # Already logged by the protocol; consumed here so it is not reported twice.
        if self.on_login_failed is not None:
            try:
                self.on_login_failed(failure)
            except Exception:
                log.failure("AMI login-failure callback failed")


class AMIClientService(ClientService):
    """Keeps one logged-in AMI connection, reconnecting with backoff.

    Each failed login in a row lengthens the wait before the next attempt, so a
    wrong secret never turns into a tight loop.
    """

    def __init__(
        self,
        endpoint: IStreamClientEndpoint,
        clock: IReactorTime,
        username: str,
        secret: str,
        *,
        auth: str = "plain",
        events: bool | str | None = True,
        on_event: EventHandler | None = None,
        on_connected: ProtocolHandler | None = None,
        on_disconnected: ProtocolHandler | None = None,
        action_timeout: float = 10.0,
        ping_interval: float | None = 20.0,
        retry_policy: Callable[[int], float] | None = None,
        action_ids: Callable[[], str] | None = None,
        max_frame_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        self._current: AMIProtocol | None = None
        self._login_failures = 0
        self._user_connected = on_connected
        self._user_disconnected = on_disconnected
        base = retry_policy or backoffPolicy()
        self.factory = AMIFactory(
            clock,
            username,
            secret,
            auth=auth,
            events=events,
            action_timeout=action_timeout,
            ping_interval=ping_interval,
            on_event=on_event,
            on_connected=self._connected,
            on_disconnected=self._disconnected,
            on_login_failed=self._login_failed,
            action_ids=action_ids,
            max_frame_bytes=max_frame_bytes,
        )
        super().__init__(
            endpoint,
            self.factory,
            retryPolicy=lambda attempt: base(attempt + self._login_failures),
            clock=clock,
        )

    def current(self) -> AMIProtocol | None:
        """The logged-in protocol, or None."""
        return self._current

    def send_action(
        self,
        action: str,
        headers: Headers = (),
        *,
        timeout: float | None = None,
        until_event: str | None = None,
    ) -> Deferred[ActionResult]:
        """Send on the current connection; fails at once with ``AMINotConnected``."""
        current = self._current
        if current is None:
            return defer.fail(AMINotConnected(f"cannot send {action}: AMI is not connected"))
        return current.send_action(action, headers, timeout=timeout, until_event=until_event)

    def _connected(self, p: AMIProtocol) -> None:
        self._current = p
        self._login_failures = 0
        if self._user_connected is not None:
            self._user_connected(p)

    def _disconnected(self, p: AMIProtocol) -> None:
        if self._current is p:
            self._current = None
        if self._user_disconnected is not None:
            self._user_disconnected(p)

    def _login_failed(self, failure: Failure) -> None:
        self._login_failures += 1


def make_ami_service(
    reactor: IReactorTime,
    host: str,
    port: int,
    username: str,
    secret: str,
    *,
    auth: str = "plain",
    on_event: EventHandler | None = None,
    on_connected: ProtocolHandler | None = None,
    on_disconnected: ProtocolHandler | None = None,
    action_timeout: float = 10.0,
    events: bool | str | None = True,
    ping_interval: float | None = 20.0,
    retry_policy: Callable[[int], float] | None = None,
    action_ids: Callable[[], str] | None = None,
    connect_timeout: float = 10.0,
    max_frame_bytes: int = MAX_FRAME_BYTES,
) -> AMIClientService:
    """A ``ClientService`` that keeps an AMI connection to ``host:port`` logged in."""
    endpoint = HostnameEndpoint(reactor, host, port, timeout=connect_timeout)
    return AMIClientService(
        endpoint,
        reactor,
        username,
        secret,
        auth=auth,
        events=events,
        on_event=on_event,
        on_connected=on_connected,
        on_disconnected=on_disconnected,
        action_timeout=action_timeout,
        ping_interval=ping_interval,
        retry_policy=retry_policy,
        action_ids=action_ids,
        max_frame_bytes=max_frame_bytes,
    )
