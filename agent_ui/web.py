"""HTTP side of the agent console (Twisted Web): sign-in, the console page, the
WebSocket ticket, static files.

Sessions are stateless signed cookies (see ``auth``): they carry the agent's public
identity and an expiry, so the console survives a restart of the process.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from twisted.internet import defer, task
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from agent_ui.auth import (
    SESSION,
    SESSION_TTL,
    WS_TOKEN,
    WS_TOKEN_TTL,
    LoginThrottle,
    Signer,
    new_csrf_cookie,
    new_nonce,
)
from agent_ui.backend import ConsoleBackend, identity_dict

log = Logger()

SESSION_COOKIE = b"cc_session"
CSRF_COOKIE = b"cc_csrf"
CSRF_FIELD = b"csrf_token"
BAD_LOGIN = "Invalid username or password"

STATIC_TYPES = {
    "console.js": b"text/javascript; charset=utf-8",
    "console.css": b"text/css; charset=utf-8",
}

STATES = ("logged_out", "ready", "not_ready", "reserved", "on_call", "wrap_up")


def make_environment() -> Environment:
    """The one jinja2 environment of the console: autoescaped HTML, strict names."""
    return Environment(
        loader=PackageLoader("agent_ui"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
    )


def ws_origin(ws_url: str) -> str:
    """``ws://host:port`` of a WebSocket URL, for the CSP ``connect-src``."""
    parts = urlsplit(ws_url)
    if parts.scheme in ("ws", "wss") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return ""


def view_snapshot(snapshot: dict[str, Any] | None) -> dict[str, Any]:
    """A backend snapshot with every key the templates read, defaults filled in."""
    snap = dict(snapshot or {})
    view = {
        "state": str(snap.get("state") or "logged_out"),
        "reason": str(snap.get("reason") or ""),
        "since": snap.get("since"),
        "reasons": [str(r) for r in snap.get("reasons") or []],
        "call": snap.get("call") if isinstance(snap.get("call"), dict) else None,
        "calls_today": snap.get("calls_today", 0),
        "screen_pop": None,
    }
    pop = snap.get("pop")
    if isinstance(pop, dict):
        customer = pop.get("customer") if isinstance(pop.get("customer"), dict) else None
        view["screen_pop"] = {
            "caller_number": str(pop.get("caller_number") or ""),
            "customer": {
                "name": str(customer.get("name") or ""),
                "company": str(customer.get("company") or ""),
                "tier": str(customer.get("tier") or ""),
            }
            if customer
            else None,
            "queue": str(pop.get("queue") or ""),
            "ivr_choice": str(pop.get("ivr_choice") or ""),
        }
    return view


class ConsoleResource(Resource):
    """Every route of the console; dispatch by method and path to ``page_*``."""

    isLeaf = True

    ROUTES = {
        (b"GET", b"/"): "page_root",
        (b"GET", b"/login"): "page_login_form",
        (b"POST", b"/login"): "page_login",
        (b"POST", b"/logout"): "page_logout",
        (b"GET", b"/agent"): "page_agent",
        (b"GET", b"/api/ws-ticket"): "page_ws_ticket",
        (b"GET", b"/healthz"): "page_healthz",
    }

    def __init__(
        self,
        backend: ConsoleBackend,
        *,
        secret_key: bytes,
        ws_url: str,
        clock: IReactorTime,
        cookie_secure: bool = False,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.signer = Signer(secret_key)
        self.ws_url = ws_url
        self.clock = clock
        self.cookie_secure = cookie_secure
        self.throttle = LoginThrottle()
        self.env = make_environment()
        self.static = {
            name: (resources.files("agent_ui") / "static" / name).read_bytes()
            for name in STATIC_TYPES
        }
        origin = ws_origin(ws_url)
        self.csp = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self'{' ' + origin if origin else ''}; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
        ).encode("ascii")

    # ------------------------------------------------------------------ plumbing

    def render(self, request: Request) -> bytes | int:
        self._common_headers(request)
        path = request.path
        if path.startswith(b"/static/"):
            if request.method not in (b"GET", b"HEAD"):
                return self._plain(request, 405, b"method not allowed")
            return self.page_static(request, path[len(b"/static/") :].decode("latin-1"))
        name = self.ROUTES.get((request.method, path))
        if name is None:
            if any(p == path for (_m, p) in self.ROUTES):
                return self._plain(request, 405, b"method not allowed")
            return self._plain(request, 404, b"not found")
        return getattr(self, name)(request)

    def _common_headers(self, request: Request) -> None:
        request.setHeader(b"X-Content-Type-Options", b"nosniff")
        request.setHeader(b"Content-Security-Policy", self.csp)
        request.setHeader(b"Referrer-Policy", b"no-referrer")
        request.setHeader(b"X-Frame-Options", b"DENY")

    def _plain(self, request: Request, code: int, body: bytes) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        request.setHeader(b"Cache-Control", b"no-store")
        return body

    def _page(self, request: Request, template: str, code: int = 200, **context: Any) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        request.setHeader(b"Cache-Control", b"no-store")
        return self.env.get_template(template).render(**context).encode("utf-8")

    def _json(self, request: Request, code: int, data: dict[str, Any]) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"Content-Type", b"application/json")
        request.setHeader(b"Cache-Control", b"no-store")
        return json.dumps(data).encode("utf-8")

    def _redirect(self, request: Request, location: bytes) -> bytes:
        request.setResponseCode(302)
        request.setHeader(b"Location", location)
        request.setHeader(b"Cache-Control", b"no-store")
        return b""

    def _set_cookie(self, request: Request, name: bytes, value: str, max_age: int) -> None:
        request.addCookie(
            name,
            value.encode("ascii"),
            path=b"/",
            max_age=str(max_age).encode("ascii"),
            httpOnly=True,
            secure=self.cookie_secure,
            sameSite="strict",
        )

    def _csrf(self, request: Request) -> str:
        """The form token for this browser, setting the CSRF cookie when missing."""
        raw = request.getCookie(CSRF_COOKIE)
        value = raw.decode("ascii", "replace") if raw else ""
        if not value or len(value) > 128:
            value = new_csrf_cookie()
            self._set_cookie(request, CSRF_COOKIE, value, int(SESSION_TTL))
        return self.signer.csrf_token(value)

    def _csrf_ok(self, request: Request) -> bool:
        raw = request.getCookie(CSRF_COOKIE)
        form = (request.args or {}).get(CSRF_FIELD, [b""])[0]
        return self.signer.csrf_ok(
            raw.decode("ascii", "replace") if raw else None,
            form.decode("ascii", "replace") if form else None,
        )

    def session(self, request: Request) -> dict[str, Any] | None:
        """The signed-in agent's public identity, or None."""
        raw = request.getCookie(SESSION_COOKIE)
        if not raw:
            return None
        data = self.signer.verify(
            SESSION, raw.decode("ascii", "replace"), now=self.clock.seconds()
        )
        if data is None or not isinstance(data.get("agent"), dict):
            return None
        return data["agent"]

    def ws_ticket(self, agent: dict[str, Any]) -> str:
        """A short-lived token that opens one WebSocket for this agent."""
        return self.signer.sign(
            WS_TOKEN,
            {"agent": agent, "nonce": new_nonce()},
            now=self.clock.seconds(),
            ttl=WS_TOKEN_TTL,
        )

    # ------------------------------------------------------------------ pages

    def page_root(self, request: Request) -> bytes:
        return self._redirect(request, b"/agent" if self.session(request) else b"/login")

    def page_healthz(self, request: Request) -> bytes:
        return self._plain(request, 200, b"ok")

    def page_static(self, request: Request, name: str) -> bytes:
        body = self.static.get(name)
        if body is None:
            return self._plain(request, 404, b"not found")
        request.setHeader(b"Content-Type", STATIC_TYPES[name])
        request.setHeader(b"Cache-Control", b"no-cache")
        return body

    def _login_page(self, request: Request, code: int, error: str, username: str) -> bytes:
        return self._page(
            request,
            "login.html",
            code,
            csrf_token=self._csrf(request),
            error=error,
            username=username,
        )

    def page_login_form(self, request: Request) -> bytes:
        if self.session(request):
            return self._redirect(request, b"/agent")
        return self._login_page(request, 200, "", "")

    def page_login(self, request: Request) -> bytes | int:
        args = request.args or {}
        username = args.get(b"username", [b""])[0].decode("utf-8", "replace").strip()[:128]
        password = args.get(b"password", [b""])[0].decode("utf-8", "replace")
        if not self._csrf_ok(request):
            log.warn("Sign-in refused: missing or wrong CSRF token (user {user!r})", user=username)
            return self._login_page(
                request, 403, "Your sign-in form expired. Please try again.", username
            )
        if not username or not password:
            return self._login_page(request, 401, BAD_LOGIN, username)

        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _f: gone.append(True))
        now = self.clock.seconds()
        delay = self.throttle.delay(username, now=now)
        # Counted as a failure until it succeeds, so parallel guesses slow down too.
        self.throttle.failed(username, now=now)
        if delay > 0:
            log.info("Slowing down sign-in for {user!r} by {delay}s", user=username, delay=delay)
            waiting = task.deferLater(self.clock, delay, lambda: None)
            request.notifyFinish().addErrback(lambda _f: waiting.cancel())
        else:
            waiting = defer.succeed(None)

        def check(_: object) -> defer.Deferred[Any]:
            return defer.maybeDeferred(self.backend.authenticate, username, password)

        def done(identity: Any) -> None:
            if gone:
                return
            if identity is None:
                log.info("Sign-in failed for {user!r}", user=username)
                body = self._login_page(request, 401, BAD_LOGIN, username)
            else:
                self.throttle.succeeded(username)
                agent = identity_dict(identity)
                token = self.signer.sign(
                    SESSION, {"agent": agent}, now=self.clock.seconds(), ttl=SESSION_TTL
                )
                self._set_cookie(request, SESSION_COOKIE, token, int(SESSION_TTL))
                log.info("Agent {user!r} signed in", user=agent["username"])
                body = self._redirect(request, b"/agent")
            request.write(body)
            request.finish()

        def failed(reason: Failure) -> None:
            if reason.check(defer.CancelledError) or gone:
                return
            log.failure("Sign-in check failed for {user!r}", reason, user=username)
            request.write(
                self._login_page(
                    request, 503, "Sign-in is unavailable right now. Please try again.", username
                )
            )
            request.finish()

        waiting.addCallback(check).addCallbacks(done, failed)
        return NOT_DONE_YET

    def page_logout(self, request: Request) -> bytes:
        if not self._csrf_ok(request):
            log.warn("Sign-out refused: missing or wrong CSRF token")
            return self._plain(request, 403, b"forbidden: missing or wrong CSRF token")
        request.addCookie(
            SESSION_COOKIE,
            b"",
            path=b"/",
            max_age=b"0",
            expires=b"Thu, 01 Jan 1970 00:00:00 GMT",
            httpOnly=True,
            secure=self.cookie_secure,
            sameSite="strict",
        )
        return self._redirect(request, b"/login")

    def page_agent(self, request: Request) -> bytes:
        agent = self.session(request)
        if agent is None:
            return self._redirect(request, b"/login")
        try:
            snapshot = self.backend.snapshot(int(agent["id"]))
        except Exception:
            log.failure("Snapshot for agent {id} failed", id=agent.get("id"))
            snapshot = None
        snap = view_snapshot(snapshot)
        return self._page(
            request,
            "agent.html",
            agent=agent,
            snap=snap,
            pop=snap["screen_pop"],
            ws_url=self.ws_url,
            ws_token=self.ws_ticket(agent),
            csrf_token=self._csrf(request),
        )

    def page_ws_ticket(self, request: Request) -> bytes:
        agent = self.session(request)
        if agent is None:
            return self._json(request, 401, {"error": "unauthorized"})
        return self._json(request, 200, {"ws_url": self.ws_url, "token": self.ws_ticket(agent)})


def make_site(
    backend: ConsoleBackend,
    *,
    secret_key: bytes,
    ws_url: str,
    clock: IReactorTime,
    cookie_secure: bool = False,
) -> Site:
    """The console's Twisted Web site."""
    root = ConsoleResource(
        backend, secret_key=secret_key, ws_url=ws_url, clock=clock, cookie_secure=cookie_secure
    )
    site = Site(root)
    site.displayTracebacks = False
    return site
