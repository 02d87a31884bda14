"""Server-rendered pages escape data, and the sign-in slow-down, driven by a Clock."""

from __future__ import annotations

import re

from twisted.internet import task
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure
from twisted.web.server import NOT_DONE_YET, Request
from twisted.web.test.requesthelper import DummyChannel

from agent_ui.client import http_request
from agent_ui.web import ConsoleResource, make_environment, view_snapshot
from tests.ui.conftest import SECRET, FakeBackend, FakeIdentity, aio

XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def hostile_pop() -> dict:
    return {
        "type": "pop",
        "call_id": "1.1",
        "caller_number": XSS,
        "customer": {"id": 1, "name": XSS, "company": XSS, "tier": XSS},
        "matches": [],
        "recent_contacts": [],
        "ivr": [],
        "ivr_choice": XSS,
        "queue": XSS,
        "wait_s": 3,
        "ring_at": 0,
        "sent_at": 0,
    }


def test_console_template_escapes_every_server_rendered_value():
    env = make_environment()
    snap = view_snapshot({"state": "ready", "reason": XSS, "reasons": [XSS], "pop": hostile_pop()})
    html = env.get_template("agent.html").render(
        agent={"id": 1, "username": XSS, "display_name": XSS, "extension": XSS, "role": "agent"},
        snap=snap,
        pop=snap["screen_pop"],
        ws_url='ws://x/"><script>alert(1)</script>',
        ws_token=XSS,
        csrf_token=XSS,
        nav=[{"href": XSS, "label": XSS}],
    )
    assert "<script>alert" not in html
    assert html.count(ESCAPED) >= 8
    assert re.search(r'data-testid="pop-customer-name">' + re.escape(ESCAPED), html)


def test_login_template_escapes_the_echoed_username():
    html = make_environment().get_template("login.html").render(
        csrf_token="t", error="Invalid username or password", username='"><script>alert(1)</script>'
    )
    assert "<script>alert" not in html
    assert "&#34;&gt;&lt;script&gt;" in html


@aio
async def test_hostile_customer_and_agent_names_render_as_text_over_http(console):
    console.backend.identities["alice"] = FakeIdentity(1, "alice", XSS, "agent", "1001")
    console.backend.snapshots[1] = {"pop": hostile_pop(), "reasons": [XSS]}
    page = await http_request("GET", console.base_url + "/login")
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page.body).group(1).decode()
    cookies = page.cookies()
    resp = await http_request(
        "POST",
        console.base_url + "/login",
        cookies=cookies,
        form={"username": "alice", "password": "correct horse", "csrf_token": token},
    )
    cookies.update(resp.cookies())
    agent = await http_request("GET", console.base_url + "/agent", cookies=cookies)
    assert agent.status == 200
    assert b"<script>alert" not in agent.body
    assert ESCAPED.encode() in agent.body

    bad = await http_request(
        "POST",
        console.base_url + "/login",
        cookies=cookies,
        form={"username": XSS, "password": "x", "csrf_token": token},
    )
    assert bad.status == 401
    assert b"<script>alert" not in bad.body


# ---------------------------------------------------------------- sign-in slow-down


def make_resource(clock: task.Clock) -> tuple[ConsoleResource, FakeBackend, str]:
    backend = FakeBackend()
    resource = ConsoleResource(backend, secret_key=SECRET, ws_url="ws://127.0.0.1:1/ws", clock=clock)
    return resource, backend, resource.signer.csrf_token("browser-1")


def post_login(resource: ConsoleResource, csrf: str, username: str, password: str) -> Request:
    request = Request(DummyChannel())
    request.method = b"POST"
    request.uri = request.path = b"/login"
    request.args = {
        b"username": [username.encode()],
        b"password": [password.encode()],
        b"csrf_token": [csrf.encode()],
    }
    request.received_cookies = {b"cc_csrf": b"browser-1"}
    assert resource.render(request) is NOT_DONE_YET
    return request


def test_three_failed_logins_answer_at_once_then_the_next_waits_one_second():
    clock = task.Clock()
    resource, backend, csrf = make_resource(clock)
    for _ in range(3):
        request = post_login(resource, csrf, "alice", "wrong")
        assert request.finished and request.code == 401
    request = post_login(resource, csrf, "alice", "wrong")
    assert not request.finished
    assert len(backend.auth_calls) == 3
    clock.advance(0.99)
    assert not request.finished
    clock.advance(0.01)
    assert request.finished and request.code == 401
    assert len(backend.auth_calls) == 4

    request = post_login(resource, csrf, "alice", "correct horse")
    clock.advance(1.99)
    assert not request.finished
    clock.advance(0.01)
    assert request.finished and request.code == 302
    # the success resets the count
    request = post_login(resource, csrf, "alice", "wrong")
    assert request.finished


def test_slow_down_of_one_username_leaves_others_alone():
    clock = task.Clock()
    resource, _backend, csrf = make_resource(clock)
    for _ in range(5):
        post_login(resource, csrf, "alice", "wrong")
    clock.advance(60)
    request = post_login(resource, csrf, "bob", "battery staple")
    assert request.finished and request.code == 302


def test_client_leaving_during_the_wait_cancels_the_delayed_check():
    clock = task.Clock()
    resource, backend, csrf = make_resource(clock)
    for _ in range(3):
        post_login(resource, csrf, "alice", "wrong")
    request = post_login(resource, csrf, "alice", "wrong")
    assert clock.getDelayedCalls()
    request.connectionLost(Failure(ConnectionDone()))
    assert clock.getDelayedCalls() == []
    assert len(backend.auth_calls) == 3


def test_cookie_secure_marks_the_session_cookie_secure():
    clock = task.Clock()
    backend = FakeBackend()
    resource = ConsoleResource(
        backend, secret_key=SECRET, ws_url="wss://cti.example/ws", clock=clock, cookie_secure=True
    )
    request = post_login(resource, resource.signer.csrf_token("browser-1"), "alice", "correct horse")
    assert request.code == 302
    [session] = [c for c in request.cookies if c.startswith(b"cc_session=")]
    assert b"; Secure" in session
    assert b"connect-src 'self' wss://cti.example;" in resource.csp
