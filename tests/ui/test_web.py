"""The console's HTTP side over loopback: sign-in, sign-out, sessions, tickets, headers."""

from __future__ import annotations

import json
import re

from agent_ui.auth import WS_TOKEN, Signer
from agent_ui.client import HttpResponse, http_request
from tests.ui.conftest import SECRET, aio

CSRF = re.compile(rb'name="csrf_token" value="([^"]+)"')


async def get_form(base: str) -> tuple[dict[str, str], str]:
    page = await http_request("GET", base + "/login")
    assert page.status == 200
    return page.cookies(), CSRF.search(page.body).group(1).decode()


async def login(base: str, username: str, password: str) -> tuple[HttpResponse, dict[str, str]]:
    cookies, token = await get_form(base)
    answer = await http_request(
        "POST",
        base + "/login",
        cookies=cookies,
        form={"username": username, "password": password, "csrf_token": token},
    )
    cookies.update(answer.cookies())
    return answer, cookies


def set_cookie(resp: HttpResponse, name: str) -> str:
    return next(v for k, v in resp.headers if k.lower() == "set-cookie" and v.startswith(name))


@aio
async def test_healthz_answers_ok(console):
    resp = await http_request("GET", console.base_url + "/healthz")
    assert (resp.status, resp.body) == (200, b"ok")


@aio
async def test_root_without_session_redirects_to_login(console):
    resp = await http_request("GET", console.base_url + "/")
    assert resp.status == 302
    assert resp.header("Location") == "/login"


@aio
async def test_login_form_has_fields_csrf_cookie_and_security_headers(console):
    resp = await http_request("GET", console.base_url + "/login")
    assert resp.status == 200
    assert b'name="username"' in resp.body and b'name="password"' in resp.body
    assert CSRF.search(resp.body)
    cookie = set_cookie(resp, "cc_csrf=")
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Path=/" in cookie
    assert resp.header("X-Content-Type-Options") == "nosniff"
    assert resp.header("Cache-Control") == "no-store"
    csp = resp.header("Content-Security-Policy")
    assert "default-src 'self'" in csp
    ws_origin = console.ws_url.rsplit("/", 1)[0]
    assert f"connect-src 'self' {ws_origin}" in csp


@aio
async def test_login_without_csrf_token_is_refused_before_checking_password(console):
    cookies, _token = await get_form(console.base_url)
    resp = await http_request(
        "POST",
        console.base_url + "/login",
        cookies=cookies,
        form={"username": "alice", "password": "correct horse"},
    )
    assert resp.status == 403
    assert "cc_session" not in resp.cookies()
    assert console.backend.auth_calls == []


@aio
async def test_login_with_token_of_another_browser_is_refused(console):
    _cookies, token = await get_form(console.base_url)
    other_cookies, _ = await get_form(console.base_url)
    resp = await http_request(
        "POST",
        console.base_url + "/login",
        cookies=other_cookies,
        form={"username": "alice", "password": "correct horse", "csrf_token": token},
    )
    assert resp.status == 403
    assert console.backend.auth_calls == []


@aio
async def test_wrong_password_rerenders_form_with_401_and_no_session(console):
    resp, cookies = await login(console.base_url, "alice", "wrong")
    assert resp.status == 401
    assert b"Invalid username or password" in resp.body
    assert b'value="alice"' in resp.body
    assert "cc_session" not in cookies
    assert console.backend.auth_calls == ["alice"]


@aio
async def test_good_login_sets_signed_session_cookie_and_redirects_to_console(console):
    resp, cookies = await login(console.base_url, "alice", "correct horse")
    assert resp.status == 302
    assert resp.header("Location") == "/agent"
    cookie = set_cookie(resp, "cc_session=")
    for attribute in ("httponly", "samesite=strict", "path=/", "max-age=43200"):
        assert attribute in cookie.lower()
    assert "Secure" not in cookie

    page = await http_request("GET", console.base_url + "/agent", cookies=cookies)
    assert page.status == 200
    assert b"Alice Martin" in page.body
    assert f'data-ws-url="{console.ws_url}"'.encode() in page.body
    token = re.search(rb'data-ws-token="([^"]+)"', page.body).group(1).decode()
    data = Signer(SECRET).verify(WS_TOKEN, token, now=console.clock.seconds())
    assert data["agent"]["id"] == 1
    assert data["exp"] == console.clock.seconds() + 60
    assert page.header("Cache-Control") == "no-store"

    root = await http_request("GET", console.base_url + "/", cookies=cookies)
    assert root.header("Location") == "/agent"


@aio
async def test_console_page_without_session_redirects_to_login(console):
    resp = await http_request("GET", console.base_url + "/agent")
    assert resp.status == 302
    assert resp.header("Location") == "/login"


@aio
async def test_forged_session_cookie_is_ignored(console):
    forged = Signer(b"not-the-key-0123456789").sign(
        "session", {"agent": {"id": 1}}, now=console.clock.seconds(), ttl=3600
    )
    resp = await http_request("GET", console.base_url + "/agent", cookies={"cc_session": forged})
    assert resp.status == 302


@aio
async def test_session_stops_working_after_twelve_hours(console):
    _resp, cookies = await login(console.base_url, "alice", "correct horse")
    console.clock.advance(12 * 3600)
    resp = await http_request("GET", console.base_url + "/agent", cookies=cookies)
    assert resp.status == 302
    assert resp.header("Location") == "/login"


@aio
async def test_ws_ticket_requires_a_session(console):
    resp = await http_request("GET", console.base_url + "/api/ws-ticket")
    assert resp.status == 401
    assert json.loads(resp.body) == {"error": "unauthorized"}


@aio
async def test_ws_ticket_gives_url_and_fresh_token(console):
    _resp, cookies = await login(console.base_url, "bob", "battery staple")
    resp = await http_request("GET", console.base_url + "/api/ws-ticket", cookies=cookies)
    assert resp.status == 200
    assert resp.header("Content-Type") == "application/json"
    ticket = json.loads(resp.body)
    assert ticket["ws_url"] == console.ws_url
    data = Signer(SECRET).verify(WS_TOKEN, ticket["token"], now=console.clock.seconds())
    assert data["agent"]["username"] == "bob"


@aio
async def test_logout_without_csrf_is_refused_and_keeps_the_session(console):
    _resp, cookies = await login(console.base_url, "alice", "correct horse")
    resp = await http_request("POST", console.base_url + "/logout", cookies=cookies, form={})
    assert resp.status == 403
    assert "cc_session" not in resp.cookies()


@aio
async def test_logout_clears_session_and_redirects_to_login(console):
    _resp, cookies = await login(console.base_url, "alice", "correct horse")
    page = await http_request("GET", console.base_url + "/agent", cookies=cookies)
    token = CSRF.search(page.body).group(1).decode()
    resp = await http_request(
        "POST", console.base_url + "/logout", cookies=cookies, form={"csrf_token": token}
    )
    assert resp.status == 302
    assert resp.header("Location") == "/login"
    assert resp.cookies()["cc_session"] == ""
    assert "Max-Age=0" in set_cookie(resp, "cc_session=")


@aio
async def test_static_files_are_served_with_their_types(console):
    js = await http_request("GET", console.base_url + "/static/console.js")
    css = await http_request("GET", console.base_url + "/static/console.css")
    assert js.status == 200 and js.header("Content-Type").startswith("text/javascript")
    assert css.status == 200 and css.header("Content-Type").startswith("text/css")
    assert b"data-testid" in js.body


@aio
async def test_unknown_paths_and_traversal_get_404(console):
    for path in ("/static/../web.py", "/static/nope.js", "/static/", "/nope"):
        resp = await http_request("GET", console.base_url + path)
        assert resp.status == 404, path


@aio
async def test_wrong_method_gets_405(console):
    resp = await http_request("POST", console.base_url + "/agent", form={})
    assert resp.status == 405
    resp = await http_request("GET", console.base_url + "/logout")
    assert resp.status == 405


@aio
async def test_passwords_and_tokens_never_reach_the_log(console):
    from twisted.logger import formatEvent, globalLogPublisher

    lines: list[str] = []

    def observe(event):
        lines.append(formatEvent(event) + repr(event))

    globalLogPublisher.addObserver(observe)
    try:
        await login(console.base_url, "alice", "wrong-guess-123")
        _resp, cookies = await login(console.base_url, "alice", "correct horse")
        cookies_, _token = await get_form(console.base_url)
        await http_request(
            "POST",
            console.base_url + "/login",
            cookies=cookies_,
            form={"username": "bob", "password": "battery staple", "csrf_token": "forged"},
        )
        ticket = await http_request("GET", console.base_url + "/api/ws-ticket", cookies=cookies)
    finally:
        globalLogPublisher.removeObserver(observe)
    text = "\n".join(lines)
    assert "alice" in text  # the log did record the attempts
    for secret in (
        "wrong-guess-123",
        "correct horse",
        "battery staple",
        cookies["cc_session"],
        json.loads(ticket.body)["token"],
    ):
        assert secret not in text
