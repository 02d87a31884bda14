"""Customer search, record edit and history, and the admin page, over HTTP."""

from __future__ import annotations

import re

import pytest
from twisted.web.test.requesthelper import DummyRequest

from agent_ui.client import http_request
from agent_ui.web import ConsoleResource
from tests.ui.conftest import SECRET, aio, sign_in

XSS = "<script>alert(1)</script>"


def add_customers(store) -> dict[str, int]:
    return {
        "ada": store.add_customer(name="Ada Lovelace", company="Engines", tier="vip",
                                  account_number="AC-1815", phones=["+1 555 123 4567"]),
        "evil": store.add_customer(name=XSS, company=XSS, notes=XSS, account_number="XS-1"),
    }


@aio
async def test_search_by_name_phone_or_account_lists_links_to_records(console):
    ids = add_customers(console.store)
    cookies, _ = await sign_in(console, "alice")
    for query in ("lovelace", "555-123-4567", "ac-1815"):
        resp = await http_request("GET", console.base_url + "/customers?q=" + query, cookies=cookies)
        assert resp.status == 200
        assert f'href="/customers/{ids["ada"]}"'.encode() in resp.body, query
        assert b"1 customer found" in resp.body
    empty = await http_request("GET", console.base_url + "/customers", cookies=cookies)
    assert b'data-testid="customer-results"' not in empty.body


@aio
async def test_hostile_customer_is_escaped_in_search_and_record(console):
    ids = add_customers(console.store)
    cookies, _ = await sign_in(console, "alice")
    found = await http_request("GET", console.base_url + "/customers?q=%3Cscript", cookies=cookies)
    record = await http_request("GET", console.base_url + f"/customers/{ids['evil']}", cookies=cookies)
    for resp in (found, record):
        assert resp.status == 200
        assert b"<script>alert" not in resp.body
        assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in resp.body


@aio
async def test_record_edit_saves_and_redirects_then_shows_the_new_values(console):
    ids = add_customers(console.store)
    cookies, token = await sign_in(console, "alice")
    resp = await http_request(
        "POST", console.base_url + f"/customers/{ids['ada']}", cookies=cookies,
        form={"csrf_token": token, "name": "Ada King", "company": "Engines", "tier": "gold",
              "email": "ada@example.org", "notes": "Call after 5", "phones":
              "+1 555 123 4567\n+44 20 7946 0958 work"},
    )
    assert (resp.status, resp.header("Location")) == (303, f"/customers/{ids['ada']}?saved=1")
    card = console.store.customer(ids["ada"])
    assert (card.name, card.tier, card.email, card.notes) == ("Ada King", "gold", "ada@example.org",
                                                              "Call after 5")
    assert card.phones == ("+15551234567", "+442079460958")
    assert card.phone_kinds == ("mobile", "work")
    page = await http_request("GET", console.base_url + resp.header("Location"), cookies=cookies)
    assert b'data-testid="saved"' in page.body
    assert b"+442079460958 work" in page.body


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("tier", "platinum", b"tier &#39;platinum&#39;"), ("phones", "12", b"&#39;12&#39; is not a phone"),
     ("name", "", b"name must not be empty")],
)
@aio
async def test_bad_edit_shows_the_error_and_keeps_what_was_typed(console, field, value, message):
    ids = add_customers(console.store)
    cookies, token = await sign_in(console, "alice")
    form = {"csrf_token": token, "name": "Typed Name", "tier": "vip", field: value}
    resp = await http_request("POST", console.base_url + f"/customers/{ids['ada']}",
                              cookies=cookies, form=form)
    assert resp.status == 400
    assert message in resp.body
    assert console.store.customer(ids["ada"]).name == "Ada Lovelace"
    if field != "name":
        assert b'value="Typed Name"' in resp.body


@aio
async def test_record_shows_the_contact_history_timeline(console):
    ids = add_customers(console.store)
    store = console.store
    agent = store.add_agent(username="jdoe", password="pw", display_name="Jane Doe")
    store.open_contact(call_id="c1", direction="inbound", caller_number="5551234567",
                       arrived_at=1_790_000_000.0)
    store.update_contact("c1", customer_id=ids["ada"], agent_id=agent.id, queue="support",
                         answered_at=1_790_000_010.0)
    store.close_contact("c1", ended_at=1_790_000_100.0)
    store.save_wrapup("c1", agent_id=agent.id, disposition="resolved", notes=XSS)
    cookies, _ = await sign_in(console, "alice")
    page = await http_request("GET", console.base_url + f"/customers/{ids['ada']}", cookies=cookies)
    history = re.search(rb'data-testid="customer-history">(.*?)</ol>', page.body, re.S).group(1)
    for text in (b"2026-09-21 14:13", b"support", b"answered", b"resolved", b"Jane Doe",
                 b"talk 1:30", b"&lt;script&gt;"):
        assert text in history, text
    assert b"<script>alert" not in page.body


@aio
async def test_missing_customer_is_404(console):
    cookies, token = await sign_in(console, "alice")
    resp = await http_request("GET", console.base_url + "/customers/999", cookies=cookies)
    assert resp.status == 404
    resp = await http_request("POST", console.base_url + "/customers/999", cookies=cookies,
                              form={"csrf_token": token, "name": "x"})
    assert resp.status == 404


@aio
async def test_admin_adds_a_user_who_can_then_sign_in_to_the_store(console):
    cookies, token = await sign_in(console, "dave")
    form = {"csrf_token": token, "username": "mia", "display_name": "Mia Wong", "role": "supervisor",
            "extension": "1005", "interface": "PJSIP/1005", "skills": "support:4,lang_es:5",
            "password": "long enough pw"}
    resp = await http_request("POST", console.base_url + "/admin/users", cookies=cookies, form=form)
    assert (resp.status, resp.header("Location")) == (303, "/admin?done=added")
    record = console.store.authenticate("mia", "long enough pw")
    assert (record.role, record.extension, record.skills) == ("supervisor", "1005",
                                                              "lang_es:5,support:4")
    page = await http_request("GET", console.base_url + "/admin?done=added", cookies=cookies)
    assert b"User added." in page.body and b"Mia Wong" in page.body

    again = await http_request("POST", console.base_url + "/admin/users", cookies=cookies, form=form)
    assert again.status == 400 and b"is taken" in again.body
    short = await http_request("POST", console.base_url + "/admin/users", cookies=cookies,
                               form=dict(form, username="zed", password="short"))
    assert short.status == 400 and b"at least 8 characters" in short.body
    assert b'value="zed"' in short.body
    bad = await http_request("POST", console.base_url + "/admin/users", cookies=cookies,
                             form=dict(form, username="zed", skills="support:9"))
    assert bad.status == 400 and b"between 1 and 5" in bad.body
    assert [a.username for a in console.store.agents()] == ["mia"]


@aio
async def test_admin_changes_a_role_but_not_their_own(console):
    mia = console.store.create_agent(username="mia", password="pw")
    cookies, token = await sign_in(console, "dave")
    resp = await http_request("POST", console.base_url + f"/admin/users/{mia.id}/role",
                              cookies=cookies, form={"csrf_token": token, "role": "supervisor"})
    assert (resp.status, resp.header("Location")) == (303, "/admin?done=role")
    assert console.store.agent(mia.id).role == "supervisor"
    bad = await http_request("POST", console.base_url + f"/admin/users/{mia.id}/role",
                             cookies=cookies, form={"csrf_token": token, "role": "root"})
    assert bad.status == 400 and console.store.agent(mia.id).role == "supervisor"
    own = await http_request("POST", console.base_url + "/admin/users/4/role",
                             cookies=cookies, form={"csrf_token": token, "role": "agent"})
    assert own.status == 400 and b"your own role" in own.body
    missing = await http_request("POST", console.base_url + "/admin/users/999/role",
                                 cookies=cookies, form={"csrf_token": token, "role": "agent"})
    assert missing.status == 404


@aio
async def test_pages_without_a_store_answer_503(console):
    resource = ConsoleResource(console.backend, secret_key=SECRET, ws_url=console.ws_url,
                               clock=console.clock)
    request = DummyRequest([b"customers"])
    user = {"id": 4, "username": "dave", "display_name": "Dave", "role": "admin", "extension": ""}
    body = await resource.page_customers(request, user)
    assert request.responseCode == 503 and b"not available" in body
