"""The agent console's call controls, wrap-up form, pick list and new-customer form in
headless Chromium.

Most tests run the whole system (CallCenterHarness: the real server against the PBX
simulator over loopback) and read the results back from the store. The call-control
buttons are also checked against the console protocol alone (a fake backend that
records commands and a hub that pushes ``call`` messages), so that what each button
sends and when it is enabled does not depend on the PBX."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import pytest_twisted
from twisted.internet import reactor

from agent_ui.backend import CommandRejected
from callcenter.simulator import CallerScript, PhoneBehaviour
from crm_store.store import Store
from tests.conftest import require_or_skip
from tests.integration.harness import CallCenterHarness, as_deferred
from tests.ui.conftest import (  # noqa: F401  (backend, clock, console, store: fixtures)
    aio,
    backend,
    clock,
    console,
    eventually,
    store,
)
from tests.ui.test_browser import CHROMIUM, CHROMIUM_ARGS, chromium_available

ADA = "5551234567"  # the seeded demo customer "Ada Lovelace"
EVIL = "<script>alert(1)</script>"
LONG_CALL = 120.0  # seconds: the test hangs up before


class Browser:
    """One Chromium with one console page; records page errors and dialogs."""

    def __init__(self, pw, browser, page):
        self.pw, self.browser, self.page = pw, browser, page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("dialog", lambda d: self.dialogs.append(d.message))

    @classmethod
    async def open(cls):
        from playwright.async_api import async_playwright

        pw = await async_playwright().start()
        try:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1366, "height": 768})
        except BaseException:
            await pw.stop()
            raise
        return cls(pw, browser, page)

    async def close(self):
        try:
            await self.browser.close()
        finally:
            await self.pw.stop()


async def sign_in_ready(page, base_url, username="agent1"):
    from playwright.async_api import expect

    await page.goto(base_url)
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", f"pw-{username}")
    await page.click("button[type=submit]")
    await expect(page.get_by_test_id("connection-status")).to_have_text("connected",
                                                                         timeout=10_000)
    await page.get_by_test_id("state-ready").click()
    await expect(page.get_by_test_id("agent-state")).to_have_attribute("data-state", "ready",
                                                                        timeout=10_000)


def harness(tmp_path, *, talk_seconds, customers=50):
    phones = {"1001": PhoneBehaviour("1001", answer_after=0.5, talk_seconds=talk_seconds)}
    return CallCenterHarness(reactor, tmp_path, phones=phones, customers=customers)


async def db(h, fn, *args, **kwargs):
    return await h.service.db.do(fn, *args, **kwargs)


async def poll(h, fn, predicate, what, *args, **kwargs):
    """Read the store until ``predicate(result)`` holds (10 s at most)."""
    seen = []

    async def read():
        seen[:] = [await db(h, fn, *args, **kwargs)]
        return predicate(seen[0])

    for _ in range(200):
        if await read():
            return seen[0]
        await as_deferred(_pause())
    raise AssertionError(f"timed out waiting for {what}: last {seen[0]!r}")


async def _pause():
    import asyncio

    await asyncio.sleep(0.05)


def agent_key(h) -> str:
    return str(h.agents[0].id)


# ------------------------------------------------------------------ the real system


@pytest.mark.browser
@pytest_twisted.ensureDeferred
async def test_wrap_up_is_refused_without_disposition_then_saved_onto_the_contact(tmp_path):
    require_or_skip(chromium_available(), f"Chromium not found at {CHROMIUM}")
    from playwright.async_api import expect

    h = harness(tmp_path, talk_seconds=1.5)
    await h.start()
    b = await as_deferred(Browser.open())
    try:
        page = b.page
        await as_deferred(sign_in_ready(page, h.base_url))
        call = h.simulator.place_call(CallerScript(number=ADA, digits={0: "2"}))

        async def wrap_up_refused_in_the_page():
            await expect(page.get_by_test_id("pop-customer-name")).to_have_text(
                "Ada Lovelace", timeout=10_000)
            form = page.get_by_test_id("wrapup-form")
            await expect(form).to_be_visible(timeout=10_000)
            await expect(page.get_by_test_id("wrapup-call")).to_contain_text("Ada Lovelace")
            await expect(page.get_by_test_id("wrapup-required")).to_have_text("(required)")
            await page.get_by_test_id("wrapup-notes").fill("Router replaced")
            await page.get_by_test_id("wrapup-save").click()
            await expect(page.get_by_test_id("wrapup-status")).to_have_text(
                "Choose a disposition before saving.")
            await expect(page.get_by_test_id("wrapup-disposition")).to_be_focused()

        await as_deferred(wrap_up_refused_in_the_page())
        await call.ended
        call_id = h.center.pops[agent_key(h)]["call_id"]
        contact = await db(h, Store.contact, call_id)
        assert contact.disposition == "" and contact.notes == ""

        # The backend refuses it too (another socket of the same agent).
        other = await h.console("agent1")
        with pytest.raises(CommandRejected, match="choose a disposition"):
            await as_deferred(other.client.command("wrapup", call_id=call_id, disposition="",
                                                   notes="x", callback=None))
        with pytest.raises(CommandRejected, match="unknown disposition 'sold'"):
            await as_deferred(other.client.command("wrapup", call_id=call_id,
                                                   disposition="sold", notes="x"))

        tomorrow = (datetime.now() + timedelta(days=1)).replace(second=0, microsecond=0)

        async def save_it():
            await page.get_by_test_id("wrapup-disposition").select_option("resolved")
            await page.get_by_test_id("wrapup-notes").fill("Router replaced; all lights green")
            await page.get_by_test_id("wrapup-callback-toggle").check()
            await expect(page.get_by_test_id("wrapup-callback-number")).to_have_value(ADA)
            await page.get_by_test_id("wrapup-callback-at").fill(
                tomorrow.strftime("%Y-%m-%dT%H:%M"))
            await page.get_by_test_id("wrapup-save").click()
            await expect(page.get_by_test_id("wrapup-status")).to_have_text("Saved.",
                                                                              timeout=10_000)

        await as_deferred(save_it())
        saved = await poll(h, Store.contact, lambda c: c.disposition == "resolved",
                           "the saved disposition", call_id)
        assert saved.notes == "Router replaced; all lights green"
        assert saved.callback_number == "+15551234567"
        assert saved.callback_at == pytest.approx(tomorrow.timestamp())

        # The next call from Ada lists it among her recent contacts.
        second = h.simulator.place_call(CallerScript(number=ADA, digits={0: "2"}))

        async def shown_later():
            recent = page.get_by_test_id("pop-recent")
            await expect(recent).to_contain_text("Router replaced; all lights green",
                                                  timeout=10_000)
            await expect(recent).to_contain_text("resolved")
            ada = h.store.lookup_caller(ADA).customers[0]
            await page.goto(f"{h.base_url}customers/{ada.id}")
            history = page.get_by_test_id("customer-history")
            await expect(history).to_contain_text("Router replaced; all lights green")
            await expect(history).to_contain_text("resolved")

        await as_deferred(shown_later())
        await second.ended
        assert b.errors == [] and b.dialogs == []
    finally:
        await as_deferred(b.close())
        await h.stop()


@pytest.mark.browser
@pytest_twisted.ensureDeferred
async def test_two_customers_share_the_number_and_the_agent_picks_who_calls(tmp_path):
    require_or_skip(chromium_available(), f"Chromium not found at {CHROMIUM}")
    from playwright.async_api import expect

    h = harness(tmp_path, talk_seconds=LONG_CALL)
    shared = "5557770001"
    assert "+1" + shared not in h.seeded.numbers
    first = h.store.add_customer(name="Jo Shared", company="Shared & Co", phones=[shared])
    second = h.store.add_customer(name=EVIL, company=EVIL, phones=[shared])
    await h.start()
    b = await as_deferred(Browser.open())
    try:
        page = b.page
        await as_deferred(sign_in_ready(page, h.base_url))
        before = await as_deferred(page.locator(".pop-area").bounding_box())
        call = h.simulator.place_call(CallerScript(number=shared, digits={0: "2"}))

        async def pick():
            picklist = page.get_by_test_id("pop-picklist")
            await expect(picklist).to_be_visible(timeout=10_000)
            await expect(page.get_by_test_id("pop-picklist-count")).to_have_text("2")
            assert await page.locator(".pop-area").bounding_box() == before
            await expect(page.get_by_test_id("pop-customer-name")).to_have_text("Jo Shared")
            choice = page.get_by_test_id(f"pick-{second}")
            await expect(choice).to_contain_text(EVIL)
            await choice.focus()
            await page.keyboard.press("Enter")  # reachable by keyboard
            await expect(page.get_by_test_id("pop-customer-name")).to_have_text(EVIL,
                                                                                timeout=10_000)
            await expect(page.get_by_test_id("pop-company")).to_have_text(EVIL)
            await expect(page.get_by_test_id(f"pick-{second}")).to_have_attribute(
                "aria-pressed", "true")
            await expect(page.get_by_test_id(f"pick-{first}")).to_have_attribute(
                "aria-pressed", "false")
            await page.screenshot(path=str(tmp_path / "picked.png"))

        await as_deferred(pick())
        call_id = h.center.pops[agent_key(h)]["call_id"]
        await poll(h, Store.contact, lambda c: c.customer_id == second,
                   "the contact linked to the picked customer", call_id)
        await as_deferred(page.get_by_test_id("call-hangup").click())
        await call.ended
        assert b.dialogs == [] and b.errors == []
    finally:
        await as_deferred(b.close())
        await h.stop()


@pytest.mark.browser
@pytest_twisted.ensureDeferred
async def test_unknown_caller_becomes_a_new_customer_linked_to_the_contact(tmp_path):
    require_or_skip(chromium_available(), f"Chromium not found at {CHROMIUM}")
    from playwright.async_api import expect

    h = harness(tmp_path, talk_seconds=LONG_CALL)
    unknown = "5558880002"
    assert "+1" + unknown not in h.seeded.numbers
    await h.start()
    b = await as_deferred(Browser.open())
    try:
        page = b.page
        await as_deferred(sign_in_ready(page, h.base_url))
        call = h.simulator.place_call(CallerScript(number=unknown, digits={0: "2"}))

        async def create():
            await expect(page.get_by_test_id("pop-customer-name")).to_have_text(
                "Unknown caller", timeout=10_000)
            form = page.get_by_test_id("new-customer-form")
            await expect(form).to_be_visible()
            await expect(page.get_by_test_id("new-customer-phone")).to_have_value(unknown)
            await page.screenshot(path=str(tmp_path / "unknown.png"))
            await page.get_by_test_id("new-customer-name").fill(EVIL)
            await page.get_by_test_id("new-customer-company").fill("Hopper Labs")
            await page.get_by_test_id("new-customer-submit").click()
            await expect(page.get_by_test_id("pop-customer-name")).to_have_text(EVIL,
                                                                                timeout=10_000)
            await expect(form).to_be_hidden()
            await expect(page.get_by_test_id("pop-company")).to_have_text("Hopper Labs")
            await expect(page.get_by_test_id("pop-phones")).to_have_text("+15558880002")

        await as_deferred(create())
        call_id = h.center.pops[agent_key(h)]["call_id"]
        contact = await poll(h, Store.contact, lambda c: c.customer_id is not None,
                             "the contact linked to the new customer", call_id)
        card = await db(h, Store.customer, contact.customer_id)
        assert (card.name, card.company, card.phones) == (EVIL, "Hopper Labs",
                                                          ("+15558880002",))
        # Created once: a second try is refused.
        other = await h.console("agent1")
        with pytest.raises(CommandRejected, match="already has a customer"):
            await as_deferred(other.client.command("create_customer", call_id=call_id,
                                                   name="Again", company="Again"))
        await as_deferred(page.get_by_test_id("call-hangup").click())
        await call.ended
        assert b.dialogs == [] and b.errors == []
    finally:
        await as_deferred(b.close())
        await h.stop()


@pytest.mark.browser
@pytest_twisted.ensureDeferred
async def test_full_path_ready_pop_talk_hold_resume_transfer_then_wrap_up(tmp_path):
    """Ready → pop at ringing with the caller's card → talking → hold and resume →
    blind transfer to a number → wrap-up with disposition and notes on the contact.
    Needs the call-control commands of ``callcenter/callcontrol.py``."""
    require_or_skip(chromium_available(), f"Chromium not found at {CHROMIUM}")
    from playwright.async_api import expect

    h = harness(tmp_path, talk_seconds=LONG_CALL)
    await h.start()
    b = await as_deferred(Browser.open())
    try:
        page = b.page
        await as_deferred(sign_in_ready(page, h.base_url))
        started = reactor.seconds()
        h.simulator.place_call(CallerScript(number=ADA, digits={0: "2"}))

        async def talk_hold_resume_transfer():
            await expect(page.get_by_test_id("call-state")).to_have_text("ringing",
                                                                          timeout=10_000)
            await expect(page.get_by_test_id("pop-customer-name")).to_have_text("Ada Lovelace")
            await expect(page.get_by_test_id("call-state")).to_have_text("talking",
                                                                          timeout=10_000)
            resume = page.get_by_test_id("call-resume")
            await expect(resume).to_be_disabled()
            await page.get_by_test_id("call-hold").click()
            await expect(resume).to_be_enabled(timeout=10_000)
            await expect(page.get_by_test_id("call-hold")).to_be_disabled()
            await expect(page.get_by_test_id("call-flags")).to_contain_text("on hold")
            await page.screenshot(path=str(tmp_path / "held.png"))
            await resume.click()
            await expect(resume).to_be_disabled(timeout=10_000)
            await expect(page.get_by_test_id("call-flags")).not_to_contain_text("on hold")
            await page.locator("body").press("t")
            await expect(page.get_by_test_id("transfer-target")).to_be_focused()
            await page.get_by_test_id("transfer-to").select_option("number")
            await page.get_by_test_id("transfer-target").fill("5550199999")
            await page.get_by_test_id("transfer-submit").click()
            await expect(page.get_by_test_id("wrapup-form")).to_be_visible(timeout=10_000)
            await page.locator("body").press("w")
            await expect(page.get_by_test_id("wrapup-disposition")).to_be_focused()
            await page.get_by_test_id("wrapup-disposition").select_option("escalated")
            await page.get_by_test_id("wrapup-notes").fill("Sent to the field team")
            await page.get_by_test_id("wrapup-save").click()
            await expect(page.get_by_test_id("wrapup-status")).to_have_text("Saved.",
                                                                              timeout=10_000)
            await page.screenshot(path=str(tmp_path / "wrapped-up.png"))

        await as_deferred(talk_hold_resume_transfer())
        call_id = h.center.pops[agent_key(h)]["call_id"]
        saved = await poll(h, Store.contact, lambda c: c.disposition == "escalated",
                           "the wrap-up on the transferred contact", call_id)
        assert saved.notes == "Sent to the field team"
        # A transferred call stays one contact.
        assert await db(h, Store.count_contacts, since=started - 1) == 1
        assert b.errors == []
    finally:
        await as_deferred(b.close())
        await h.stop()


# ------------------------------------------------------------------ the protocol alone


def call_message(**fields):
    message = {"type": "call", "call_id": "1790.5", "state": "talking", "at": 0,
               "queue": "support", "held": False, "recording": False, "consult": None,
               "conference": False, "transferred_to": None}
    message.update(fields)
    return message


@pytest.mark.browser
@aio
async def test_call_control_buttons_follow_the_pushed_call_state_and_send_commands(console):  # noqa: F811
    require_or_skip(chromium_available(), f"Chromium not found at {CHROMIUM}")
    from playwright.async_api import async_playwright, expect

    sent = console.backend.commands
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1366, "height": 768})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(console.base_url + "/login")
            await page.fill('input[name="username"]', "alice")
            await page.fill('input[name="password"]', "correct horse")
            await page.click('[data-testid="login-submit"]')
            await expect(page.get_by_test_id("connection-status")).to_have_text("connected")
            t = page.get_by_test_id
            for name in ("call-hold", "call-resume", "call-transfer", "call-consult",
                         "call-record-start", "call-record-stop", "call-hangup"):
                await expect(t(name)).to_be_disabled()

            console.hub.push(1, call_message())
            await expect(t("call-hold")).to_be_enabled()
            await expect(t("call-resume")).to_be_disabled()
            await t("call-hold").click()
            await eventually(lambda: (1, "hold", {}) in sent)
            # The backend's answer is shown; the state waits for the push.
            await expect(t("console-message")).to_contain_text("unknown command 'hold'")
            await expect(t("call-hold")).to_be_enabled()
            console.hub.push(1, call_message(state="held", held=True))
            await expect(t("call-resume")).to_be_enabled()
            await expect(t("call-hold")).to_be_disabled()
            await expect(t("call-flags")).to_have_text("on hold")
            await page.locator("body").press("o")
            await eventually(lambda: (1, "resume", {}) in sent)
            console.hub.push(1, call_message())

            # Blind transfer to a queue, by keyboard.
            await page.locator("body").press("t")
            await expect(t("transfer-target")).to_be_focused()
            await t("transfer-to").select_option("queue")
            await t("transfer-target").fill("sales")
            await t("transfer-target").press("Enter")
            await eventually(lambda: (1, "transfer", {"to": "queue", "target": "sales"}) in sent)
            await page.keyboard.press("Escape")
            await expect(t("transfer-form")).to_be_hidden()

            # Consultation: then complete, cancel or conference.
            await t("call-consult").click()
            await t("transfer-to").select_option("agent")
            await t("transfer-target").fill("bob")
            await t("transfer-submit").click()
            await eventually(lambda: (1, "consult", {"to": "agent", "target": "bob"}) in sent)
            console.hub.push(1, call_message(held=True, consult={"state": "dialing",
                                                                  "target": "bob"}))
            await expect(t("consult-box")).to_be_visible()
            await expect(t("consult-target")).to_have_text("bob")
            await expect(t("consult-conference")).to_be_disabled()
            await expect(t("call-transfer")).to_be_disabled()
            console.hub.push(1, call_message(held=True, consult={"state": "talking",
                                                                  "target": "bob"}))
            await t("consult-conference").click()
            await t("consult-complete").click()
            await t("consult-cancel").click()
            await eventually(lambda: [c[1] for c in sent][-3:] == [
                "conference", "consult_complete", "consult_cancel"])
            console.hub.push(1, call_message(conference=True))
            await expect(t("consult-box")).to_be_hidden()
            await expect(t("call-flags")).to_have_text("conference")

            # Tones and recording.
            await page.locator("body").press("k")
            await expect(t("dtmf-digits")).to_be_focused()
            await t("dtmf-key-5").click()
            await t("dtmf-digits").fill("12#")
            await t("dtmf-digits").press("Enter")
            await eventually(lambda: (1, "dtmf", {"digits": "12#"}) in sent)
            assert (1, "dtmf", {"digits": "5"}) in sent
            await t("call-record-start").click()
            await eventually(lambda: (1, "record_start", {}) in sent)
            console.hub.push(1, call_message(recording=True))
            await expect(t("call-record-stop")).to_be_enabled()
            await expect(t("call-record-start")).to_be_disabled()
            await t("call-record-stop").click()
            await eventually(lambda: (1, "record_stop", {}) in sent)
            console.hub.push(1, call_message(recording_allowed=False))
            await expect(t("call-record-start")).to_be_disabled()  # the queue forbids it
            await expect(t("call-hold")).to_be_enabled()
            console.hub.push(1, call_message())

            console.hub.push(1, call_message(state="ended", transferred_to="sales"))
            for name in ("call-hold", "call-transfer", "call-record-stop", "call-hangup",
                         "dtmf-send"):
                await expect(t(name)).to_be_disabled()
            assert errors == []
        finally:
            await browser.close()
