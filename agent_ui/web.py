"""HTTP side of the console (Twisted Web): sign-in, the agent console, the supervisor
wallboard, customers, the admin page, the WebSocket ticket, static files.

Sessions are stateless signed cookies (see ``auth``): they carry the user's public
identity (with the role) and an expiry, so the console survives a restart of the
process. Every route names who may open it (``ROUTES``); every POST passes the CSRF
check before any handler runs. Customer and account pages read the CRM store through
``db`` (anything with ``do(fn, *args) -> Deferred`` running ``fn(store, *args)`` in a
thread pool, as ``callcenter.dbpool.DBPool``); without it they answer 503.
"""

from __future__ import annotations

import json
import re
from collections.abc import Coroutine
from datetime import UTC, datetime
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
from crm_store import AgentNotFound, CustomerNotFound, Store
from crm_store.models import PHONE_KINDS, TIERS

log = Logger()

SESSION_COOKIE = b"cc_session"
CSRF_COOKIE = b"cc_csrf"
CSRF_FIELD = b"csrf_token"
BAD_LOGIN = "Invalid username or password"

STATIC_TYPES = {
    "console.js": b"text/javascript; charset=utf-8",
    "link.js": b"text/javascript; charset=utf-8",
    "dial.js": b"text/javascript; charset=utf-8",
    "wallboard.js": b"text/javascript; charset=utf-8",
    "console.css": b"text/css; charset=utf-8",
    "wallboard.css": b"text/css; charset=utf-8",
}

ROLES = ("agent", "supervisor", "admin")
# Who may open a route: nobody signed in needed, anyone signed in, or some roles.
PUBLIC: frozenset[str] | None = None
SIGNED_IN = frozenset(ROLES)
SUPERVISORS = frozenset({"supervisor", "admin"})
ADMINS = frozenset({"admin"})
CSRF_HEADER = b"X-CSRF-Token"
MIN_PASSWORD = 8

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

    # (method, path pattern, handler, who may open it)
    ROUTES: tuple[tuple[bytes, str, str, frozenset[str] | None], ...] = (
        (b"GET", r"/", "page_root", PUBLIC),
        (b"GET", r"/healthz", "page_healthz", PUBLIC),
        (b"GET", r"/login", "page_login_form", PUBLIC),
        (b"POST", r"/login", "page_login", PUBLIC),
        (b"POST", r"/logout", "page_logout", PUBLIC),
        (b"GET", r"/agent", "page_agent", SIGNED_IN),
        (b"GET", r"/api/ws-ticket", "page_ws_ticket", SIGNED_IN),
        (b"GET", r"/customers", "page_customers", SIGNED_IN),
        (b"GET", r"/customers/(\d{1,12})", "page_customer", SIGNED_IN),
        (b"POST", r"/customers/(\d{1,12})", "page_customer_save", SIGNED_IN),
        (b"GET", r"/supervisor", "page_supervisor", SUPERVISORS),
        (b"GET", r"/wallboard/tv", "page_wallboard_tv", SUPERVISORS),
        (b"GET", r"/admin", "page_admin", ADMINS),
        (b"POST", r"/admin/users", "page_admin_add", ADMINS),
        (b"POST", r"/admin/users/(\d{1,12})/role", "page_admin_role", ADMINS),
    )
    _COMPILED = tuple(
        (method, re.compile(pattern.encode("ascii") + b"\\Z"), name, access)
        for method, pattern, name, access in ROUTES
    )

    def __init__(
        self,
        backend: ConsoleBackend,
        *,
        secret_key: bytes,
        ws_url: str,
        clock: IReactorTime,
        cookie_secure: bool = False,
        db: Any = None,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.db = db
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
        found = None
        path_known = False
        for method, pattern, name, access in self._COMPILED:
            match = pattern.match(path)
            if match is None:
                continue
            path_known = True
            if method == request.method:
                found = (name, access, match.groups())
                break
        if found is None:
            if path_known:
                return self._plain(request, 405, b"method not allowed")
            return self._plain(request, 404, b"not found")
        name, access, params = found
        if request.method == b"POST" and name != "page_login" and not self._csrf_ok(request):
            log.warn("{path} refused: missing or wrong CSRF token", path=path.decode("latin-1"))
            return self._plain(request, 403, b"forbidden: missing or wrong CSRF token")
        user = None
        if access is not PUBLIC:
            user = self.session(request)
            if user is None:
                if path.startswith(b"/api/"):
                    return self._json(request, 401, {"error": "unauthorized"})
                if request.method == b"GET":
                    return self._redirect(request, b"/login")
                return self._plain(request, 401, b"unauthorized: sign in first")
            if user["role"] not in access:
                log.warn(
                    "{user!r} ({role}) refused {path}: needs {need}",
                    user=user.get("username"),
                    role=user["role"],
                    path=path.decode("latin-1"),
                    need="/".join(sorted(access)),
                )
                return self._page(request, "forbidden.html", 403, user=user, nav=self._nav(user))
            result = getattr(self, name)(request, user, *params)
        else:
            result = getattr(self, name)(request)
        if isinstance(result, Coroutine):
            return self._finish_later(request, defer.ensureDeferred(result))
        return result

    def _finish_later(self, request: Request, d: defer.Deferred[bytes]) -> int:
        """Write what ``d`` gives when it fires (an error page when it fails)."""
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _f: gone.append(True))

        def done(body: bytes) -> None:
            if not gone:
                request.write(body)
                request.finish()

        def failed(reason: Failure) -> None:
            log.failure("{path} failed", reason, path=request.path.decode("latin-1"))
            if not gone:
                request.write(self._plain(request, 500, b"internal error"))
                request.finish()

        d.addCallbacks(done, failed)
        return NOT_DONE_YET

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

    def _redirect(self, request: Request, location: bytes, code: int = 302) -> bytes:
        request.setResponseCode(code)
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
        """The double-submit check, from the form field or (JSON writes) the header."""
        raw = request.getCookie(CSRF_COOKIE)
        form = (request.args or {}).get(CSRF_FIELD, [b""])[0] or request.getHeader(CSRF_HEADER)
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
        if data["agent"].get("role") not in ROLES or not isinstance(data["agent"].get("id"), int):
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

    @staticmethod
    def home(user: dict[str, Any] | None) -> bytes:
        """Where a user lands: the wallboard for supervisors, else the console."""
        if user is None:
            return b"/login"
        return b"/supervisor" if user.get("role") in SUPERVISORS else b"/agent"

    def _nav(self, user: dict[str, Any]) -> list[dict[str, str]]:
        links = [("/agent", "Console"), ("/customers", "Customers")]
        if user.get("role") in SUPERVISORS:
            links.append(("/supervisor", "Wallboard"))
        if user.get("role") in ADMINS:
            links.append(("/admin", "Users"))
        return [{"href": href, "label": label} for href, label in links]

    def page_root(self, request: Request) -> bytes:
        return self._redirect(request, self.home(self.session(request)))

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
        user = self.session(request)
        if user:
            return self._redirect(request, self.home(user))
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
                log.info("{user!r} ({role}) signed in", user=agent["username"], role=agent["role"])
                body = self._redirect(request, self.home(agent))
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

    def page_agent(self, request: Request, agent: dict[str, Any]) -> bytes:
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
            nav=self._nav(agent),
        )

    def page_ws_ticket(self, request: Request, agent: dict[str, Any]) -> bytes:
        return self._json(request, 200, {"ws_url": self.ws_url, "token": self.ws_ticket(agent)})

    # ------------------------------------------------------------------ supervisor

    def page_wallboard_tv(self, request: Request, user: dict[str, Any]) -> bytes:
        """The wallboard for a wall screen: large type, tiles and charts, no controls."""
        return self.page_supervisor(request, user, tv=True)

    def page_supervisor(
        self, request: Request, user: dict[str, Any], *, tv: bool = False
    ) -> bytes:
        fn = getattr(self.backend, "supervisor_snapshot", None)
        board: dict[str, Any] = {}
        if fn is not None:
            try:
                board = fn() or {}
            except Exception:
                log.failure("Supervisor snapshot failed")
        tv = tv or (request.args or {}).get(b"tv", [b""])[0] in (b"1", b"true", b"yes")
        return self._page(
            request,
            "supervisor.html",
            agent=user,
            nav=self._nav(user),
            tv=tv,
            queues=[q for q in board.get("queues") or [] if isinstance(q, dict)],
            agents=[a for a in board.get("agents") or [] if isinstance(a, dict)],
            reasons=[str(r) for r in (self._reasons(user))],
            ws_url=self.ws_url,
            ws_token=self.ws_ticket(user),
            csrf_token=self._csrf(request),
        )

    def _reasons(self, user: dict[str, Any]) -> list[str]:
        try:
            return list(self.backend.snapshot(int(user["id"])).get("reasons") or [])
        except Exception:
            log.failure("Snapshot for {id} failed", id=user.get("id"))
            return []

    # ------------------------------------------------------------------ customers

    def _store_missing(self, request: Request, user: dict[str, Any]) -> bytes | None:
        if self.db is not None:
            return None
        return self._page(
            request,
            "message.html",
            503,
            agent=user,
            nav=self._nav(user),
            title="Unavailable",
            message="Customer records are not available on this server.",
        )

    async def page_customers(self, request: Request, user: dict[str, Any]) -> bytes:
        missing = self._store_missing(request, user)
        if missing is not None:
            return missing
        query = _arg(request, b"q")[:100].strip()
        results = await self.db.do(Store.search_customers, query) if query else []
        return self._page(
            request,
            "customers.html",
            agent=user,
            nav=self._nav(user),
            query=query,
            results=results,
            csrf_token=self._csrf(request),
        )

    async def page_customer(
        self, request: Request, user: dict[str, Any], customer_id: bytes
    ) -> bytes:
        missing = self._store_missing(request, user)
        if missing is not None:
            return missing
        saved = _arg(request, b"saved") == "1"
        return await self._customer_page(request, user, int(customer_id), saved=saved)

    async def _customer_page(
        self,
        request: Request,
        user: dict[str, Any],
        customer_id: int,
        *,
        code: int = 200,
        form: dict[str, str] | None = None,
        error: str = "",
        saved: bool = False,
    ) -> bytes:
        card = await self.db.do(Store.customer, customer_id)
        if card is None:
            return self._page(
                request,
                "message.html",
                404,
                agent=user,
                nav=self._nav(user),
                title="Not found",
                message=f"There is no customer number {customer_id}.",
            )
        history = await self.db.do(Store.contact_history, customer_id)
        if form is None:
            form = _record_form(card)
        return self._page(
            request,
            "customer.html",
            code,
            agent=user,
            nav=self._nav(user),
            card=card,
            form=form,
            error=error,
            saved=saved,
            tiers=TIERS,
            phone_kinds=PHONE_KINDS,
            history=[_history_row(h) for h in history],
            csrf_token=self._csrf(request),
        )

    async def page_customer_save(
        self, request: Request, user: dict[str, Any], customer_id: bytes
    ) -> bytes:
        missing = self._store_missing(request, user)
        if missing is not None:
            return missing
        cid = int(customer_id)
        args = request.args or {}
        limits = {"name": 200, "company": 200, "tier": 16, "email": 254, "notes": 10_000,
                  "phones": 2_000}
        # Fields the request does not carry stay as they are.
        form = {name: _arg(request, name.encode())[:limit] for name, limit in limits.items()
                if name.encode() in args}
        try:
            changes: dict[str, Any] = {k: v for k, v in form.items() if k != "phones"}
            if "phones" in form:
                changes["phones"] = _parse_phones(form["phones"])
            await self.db.do(Store.update_customer, cid, **changes)
        except CustomerNotFound:
            return self._plain(request, 404, b"not found")
        except ValueError as e:
            card = await self.db.do(Store.customer, cid)
            shown = _record_form(card) if card is not None else {}
            shown.update(form)
            return await self._customer_page(
                request, user, cid, code=400, form=shown, error=str(e)
            )
        log.info("Customer {id} edited by {user!r}", id=cid, user=user.get("username"))
        return self._redirect(request, f"/customers/{cid}?saved=1".encode("ascii"), code=303)

    # ------------------------------------------------------------------ admin

    async def page_admin(self, request: Request, user: dict[str, Any]) -> bytes:
        missing = self._store_missing(request, user)
        if missing is not None:
            return missing
        notice = {"added": "User added.", "role": "Role changed."}.get(_arg(request, b"done"), "")
        return await self._admin_page(request, user, notice=notice)

    async def _admin_page(
        self,
        request: Request,
        user: dict[str, Any],
        *,
        code: int = 200,
        error: str = "",
        notice: str = "",
        form: dict[str, str] | None = None,
    ) -> bytes:
        users = await self.db.do(Store.agents)
        return self._page(
            request,
            "admin.html",
            code,
            agent=user,
            nav=self._nav(user),
            users=users,
            roles=ROLES,
            error=error,
            notice=notice,
            form=form or {"role": "agent"},
            csrf_token=self._csrf(request),
        )

    async def page_admin_add(self, request: Request, user: dict[str, Any]) -> bytes:
        missing = self._store_missing(request, user)
        if missing is not None:
            return missing
        form = {
            name: _arg(request, name.encode())[:200]
            for name in ("username", "display_name", "role", "extension", "interface", "skills")
        }
        password = _arg(request, b"password")
        error = ""
        if len(password) < MIN_PASSWORD:
            error = f"The password must have at least {MIN_PASSWORD} characters."
        else:
            try:
                record = await self.db.do(Store.create_agent, password=password, **form)
            except ValueError as e:
                error = str(e)
        if error:
            return await self._admin_page(request, user, code=400, error=error, form=form)
        log.info(
            "{admin!r} added {user!r} ({role})",
            admin=user.get("username"),
            user=record.username,
            role=record.role,
        )
        return self._redirect(request, b"/admin?done=added", code=303)

    async def page_admin_role(
        self, request: Request, user: dict[str, Any], agent_id: bytes
    ) -> bytes:
        missing = self._store_missing(request, user)
        if missing is not None:
            return missing
        target = int(agent_id)
        role = _arg(request, b"role")
        if target == user["id"]:
            return await self._admin_page(
                request, user, code=400, error="You cannot change your own role."
            )
        try:
            record = await self.db.do(Store.set_agent_role, target, role)
        except AgentNotFound:
            return self._plain(request, 404, b"not found")
        except ValueError as e:
            return await self._admin_page(request, user, code=400, error=str(e))
        log.info(
            "{admin!r} gave {user!r} the role {role}",
            admin=user.get("username"),
            user=record.username,
            role=record.role,
        )
        return self._redirect(request, b"/admin?done=role", code=303)


def _arg(request: Request, name: bytes) -> str:
    """One form or query value, decoded (empty when missing)."""
    return (request.args or {}).get(name, [b""])[0].decode("utf-8", "replace")


def _record_form(card: Any) -> dict[str, str]:
    """The edit form's values for a customer card."""
    kinds = card.phone_kinds or ("mobile",) * len(card.phones)
    return {
        "name": card.name,
        "company": card.company,
        "tier": card.tier,
        "email": card.email,
        "notes": card.notes,
        "phones": "\n".join(
            number if kind == "mobile" else f"{number} {kind}"
            for number, kind in zip(card.phones, kinds, strict=False)
        ),
    }


def _parse_phones(text: str) -> list[tuple[str, str]]:
    """One phone per line, optionally followed by its kind: ``+1 555 123 4567 work``."""
    phones = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        number, _, last = line.rpartition(" ")
        if number and last.lower() in PHONE_KINDS:
            phones.append((number.strip(), last.lower()))
        else:
            phones.append((line, "mobile"))
    return phones


def _history_row(h: Any) -> dict[str, Any]:
    """A contact of the timeline, ready to show."""
    when = datetime.fromtimestamp(h.arrived_at, UTC)
    return {
        "call_id": h.call_id,
        "when": when.strftime("%Y-%m-%d %H:%M"),
        "iso": when.isoformat(),
        "direction": h.direction,
        "agent": h.agent,
        "queue": h.queue,
        "outcome": (h.outcome or "in progress").replace("_", " "),
        "disposition": h.disposition,
        "notes": h.notes,
        "talk": _duration(h.talk_s),
        "wait": _duration(h.wait_s),
        "status": h.status,
    }


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    total = int(seconds)
    return f"{total // 60}:{total % 60:02d}"


def make_site(
    backend: ConsoleBackend,
    *,
    secret_key: bytes,
    ws_url: str,
    clock: IReactorTime,
    cookie_secure: bool = False,
    db: Any = None,
) -> Site:
    """The console's Twisted Web site. ``db`` runs CRM store work in a thread pool
    (``callcenter.dbpool.DBPool``); without it customer and user pages answer 503."""
    root = ConsoleResource(
        backend,
        secret_key=secret_key,
        ws_url=ws_url,
        clock=clock,
        cookie_secure=cookie_secure,
        db=db,
    )
    site = Site(root)
    site.displayTracebacks = False
    return site
