"""Roles over HTTP: who may open which page, CSRF on every write, where people land."""

from __future__ import annotations

import re

import pytest

from agent_ui.client import http_request
from agent_ui.web import ConsoleResource
from tests.ui.conftest import aio, sign_in

PAGES = ["/agent", "/customers", "/supervisor", "/admin"]
ALLOWED = {
    "alice": {"/agent", "/customers"},
    "carol": {"/agent", "/customers", "/supervisor"},
    "dave": {"/agent", "/customers", "/supervisor", "/admin"},
}


@pytest.mark.parametrize("username", sorted(ALLOWED))
@aio
async def test_each_role_opens_its_pages_and_gets_403_elsewhere(console, username):
    cookies, _ = await sign_in(console, username)
    for path in PAGES:
        resp = await http_request("GET", console.base_url + path, cookies=cookies)
        expected = 200 if path in ALLOWED[username] else 403
        assert resp.status == expected, (username, path, resp.status)
        if expected == 403:
            assert b'data-testid="forbidden"' in resp.body
            assert b"data-ws-token" not in resp.body


@pytest.mark.parametrize(
    ("username", "home"), [("alice", "/agent"), ("carol", "/supervisor"), ("dave", "/supervisor")]
)
@aio
async def test_sign_in_lands_agents_on_the_console_and_supervisors_on_the_wallboard(
    console, username, home
):
    page = await http_request("GET", console.base_url + "/login")
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page.body).group(1).decode()
    cookies = page.cookies()
    from tests.ui.conftest import PASSWORDS

    answer = await http_request(
        "POST",
        console.base_url + "/login",
        cookies=cookies,
        form={"username": username, "password": PASSWORDS[username], "csrf_token": token},
    )
    assert answer.header("Location") == home
    cookies.update(answer.cookies())
    root = await http_request("GET", console.base_url + "/", cookies=cookies)
    assert root.header("Location") == home


@pytest.mark.parametrize("path", PAGES)
@aio
async def test_signed_out_pages_redirect_to_sign_in(console, path):
    resp = await http_request("GET", console.base_url + path)
    assert (resp.status, resp.header("Location")) == (302, "/login")


POSTS = [
    pattern.replace(r"(\d{1,12})", "1")
    for method, pattern, _name, _access in ConsoleResource.ROUTES
    if method == b"POST" and pattern != "/login"
]


def test_every_write_route_is_listed_here():
    assert sorted(POSTS) == ["/admin/users", "/admin/users/1/role", "/customers/1", "/logout"]


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize("token", [None, "forged"])
@aio
async def test_every_post_without_the_right_csrf_token_is_refused(console, path, token):
    cookies, _good = await sign_in(console, "dave")
    customer = console.store.add_customer(name="Ada")
    form = {"name": "Changed", "role": "admin", "username": "eve", "password": "x" * 12}
    if token:
        form["csrf_token"] = token
    resp = await http_request(
        "POST", console.base_url + path.replace("/1", f"/{customer}"), cookies=cookies, form=form
    )
    assert resp.status == 403
    assert console.store.customer(customer).name == "Ada"
    assert console.store.agents() == []
    assert "cc_session" not in resp.cookies()


@aio
async def test_csrf_header_is_accepted_for_json_writes(console):
    cookies, token = await sign_in(console, "alice")
    customer = console.store.add_customer(name="Ada")
    # the same check as forms: a header carrying the token passes, without it 403
    import asyncio

    async def post(headers: dict[str, str]) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", int(console.base_url.rsplit(":", 1)[1]))
        body = b"name=Ada+L"
        lines = [f"POST /customers/{customer} HTTP/1.0", "Content-Type: application/x-www-form-urlencoded",
                 f"Content-Length: {len(body)}",
                 "Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items())]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        raw = await reader.read()
        writer.close()
        return int(raw.split()[1])

    assert await post({}) == 403
    assert await post({"X-CSRF-Token": token}) == 303
    assert console.store.customer(customer).name == "Ada L"


@aio
async def test_session_with_an_unknown_role_is_no_session(console):
    from agent_ui.auth import SESSION, Signer
    from tests.ui.conftest import SECRET

    forged = Signer(SECRET).sign(
        SESSION, {"agent": {"id": 9, "username": "x", "role": "root"}},
        now=console.clock.seconds(), ttl=3600,
    )
    resp = await http_request("GET", console.base_url + "/admin", cookies={"cc_session": forged})
    assert (resp.status, resp.header("Location")) == (302, "/login")
