"""The console page in Debian's headless Chromium: sign in, Ready, a screen-pop,
reconnection after the WebSocket server restarts."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from tests.conftest import require_or_skip
from tests.ui.conftest import aio, eventually

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

POP = {
    "type": "pop",
    "call_id": "1763874000.12",
    "caller_number": "+15551234567",
    "customer": {
        "id": 42,
        "name": "Dana Whitfield",
        "company": "Whitfield Logistics",
        "tier": "VIP",
        "account_number": "AC-1042",
        "email": "dana@whitfield.example",
        "phones": ["+15551234567"],
        "notes": "Prefers email follow-ups.",
    },
    "matches": [],
    "recent_contacts": [
        {
            "arrived_at": "2026-11-20 10:02",
            "agent": "Bob Stone",
            "queue": "support",
            "outcome": "answered",
            "disposition": "resolved",
            "notes": "Invoice copy sent",
        }
    ],
    "ivr": [{"step": "menu", "input": "2", "label": "Main menu"}],
    "ivr_choice": "2 – support",
    "queue": "support",
    "wait_s": 65,
    "ring_at": 1790000000.0,
    "sent_at": 1790000000.0,
}


def chromium_available() -> bool:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return False
    return os.access(CHROMIUM, os.X_OK) or shutil.which("chromium") is not None


@pytest.mark.browser
@aio
async def test_agent_signs_in_goes_ready_and_sees_the_screen_pop(console):
    require_or_skip(chromium_available(), f"Chromium not found at {CHROMIUM}")
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1366, "height": 768})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "console",
                lambda m: errors.append(m.text)
                if m.type == "error" and "WebSocket" not in m.text
                else None,
            )

            await page.goto(console.base_url + "/")
            await page.fill('input[name="username"]', "alice")
            await page.fill('input[name="password"]', "correct horse")
            await page.click('[data-testid="login-submit"]')
            await page.wait_for_url("**/agent")

            status = page.get_by_test_id("connection-status")
            await expect(status).to_have_text("connected")
            assert console.backend.opened == [1]

            await page.get_by_test_id("state-ready").click()
            await eventually(lambda: (1, "ready", {}) in console.backend.commands)
            await page.get_by_test_id("not-ready-reason").select_option("lunch")
            await page.get_by_test_id("state-not-ready").click()
            await eventually(lambda: (1, "not_ready", {"reason": "lunch"}) in console.backend.commands)

            console.hub.push(1, {"type": "agent_state", "state": "on_call", "reason": "", "since": 0})
            await expect(page.get_by_test_id("agent-state")).to_have_text("on call")

            pop_box = page.locator(".pop-area")
            before = await pop_box.bounding_box()
            await expect(page.get_by_test_id("screen-pop")).to_be_hidden()
            assert console.hub.push(1, POP) == 1
            await expect(page.get_by_test_id("pop-customer-name")).to_have_text("Dana Whitfield")
            await expect(page.get_by_test_id("screen-pop")).to_be_visible()
            await expect(page.get_by_test_id("pop-company")).to_have_text("Whitfield Logistics")
            await expect(page.get_by_test_id("pop-tier")).to_have_class("tier vip")
            await expect(page.get_by_test_id("pop-queue")).to_have_text("support")
            await expect(page.get_by_test_id("pop-wait")).to_have_text("1:05")
            await expect(page.get_by_test_id("pop-ivr")).to_contain_text("Main menu")
            await expect(page.get_by_test_id("pop-recent").locator("tr")).to_have_count(1)
            assert await pop_box.bounding_box() == before  # space was reserved

            console.hub.push(1, {"type": "call", "call_id": POP["call_id"], "state": "talking", "at": 0})
            await expect(page.get_by_test_id("call-state")).to_have_text("talking")

            # Wrap-up: a countdown to the server's end time, extend once, end early.
            wrapup = page.get_by_test_id("wrapup")
            await expect(wrapup).to_be_hidden()
            until = console.hub.clock.seconds() + 30
            console.hub.push(1, {"type": "agent_state", "state": "wrap_up", "reason": "",
                                 "since": 0, "wrapup_until": until, "wrapup_extended": False})
            await expect(wrapup).to_be_visible()
            await expect(page.get_by_test_id("wrapup-countdown")).to_have_text(
                re.compile(r"^0:(29|30)$"))
            await page.get_by_test_id("wrapup-extend").click()
            await eventually(lambda: (1, "extend_wrapup", {}) in console.backend.commands)
            console.hub.push(1, {"type": "agent_state", "state": "wrap_up", "reason": "",
                                 "since": 0, "wrapup_until": until + 30, "wrapup_extended": True})
            await expect(page.get_by_test_id("wrapup-extend")).to_be_disabled()
            commands_before = console.backend.commands.count((1, "ready", {}))
            await page.get_by_test_id("wrapup-end").click()
            await eventually(
                lambda: console.backend.commands.count((1, "ready", {})) == commands_before + 1)
            console.hub.push(1, {"type": "agent_state", "state": "ready", "reason": "", "since": 0})
            await expect(wrapup).to_be_hidden()

            unknown = dict(POP, customer=None, caller_number="<b>+15550000000</b>", recent_contacts=[])
            console.hub.push(1, unknown)
            await expect(page.get_by_test_id("pop-customer-name")).to_have_text("Unknown caller")
            await expect(page.get_by_test_id("pop-caller-number")).to_have_text("<b>+15550000000</b>")

            # The WebSocket server restarts: the page reconnects with a fresh ticket and
            # the welcome snapshot restores the truth.
            port = console.hub.port
            await console.hub.stop()
            await expect(status).to_have_text("reconnecting")
            console.backend.snapshots[1] = {"state": "wrap_up", "pop": None}
            await console.hub.start("127.0.0.1", port)
            await expect(status).to_have_text("connected", timeout=10_000)
            await expect(page.get_by_test_id("agent-state")).to_have_text("wrap up")
            await expect(page.get_by_test_id("screen-pop")).to_be_hidden()
            assert errors == []
        finally:
            await browser.close()


# docs/wallboard.png comes from the real system: tests/browser/test_wallboard.py.


async def sign_in_page(browser, console, username, password, *, viewport=None):
    page = await browser.new_page(viewport=viewport or {"width": 1366, "height": 768})
    errors: list[str] = []
    dialogs: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda d: dialogs.append(d.message))
    await page.goto(console.base_url + "/login")
    await page.fill('input[name="username"]', username)
    await page.fill('input[name="password"]', password)
    await page.click('[data-testid="login-submit"]')
    return page, errors, dialogs


@pytest.mark.browser
@aio
async def test_supervisor_wallboard_updates_live_and_forces_an_agent_not_ready(console):
    require_or_skip(chromium_available(), f"Chromium not found at {CHROMIUM}")
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page, errors, _ = await sign_in_page(browser, console, "carol", "watch the board")
            await page.wait_for_url("**/supervisor")
            await expect(page.get_by_test_id("connection-status")).to_have_text("connected")
            tile = page.get_by_test_id("tile-support")
            await expect(tile.locator('[data-field="waiting"]')).to_have_text("0")
            await expect(tile.locator('[data-field="service_level"]')).to_have_text("90%")

            stats = {"type": "queue_stats", "at": 0, "queues": [dict(
                console.backend.board["queues"][0], waiting=3, longest_wait_s=75.0,
                service_level=0.8, agents={"ready": 0, "busy": 2, "wrap_up": 0, "not_ready": 1})]}
            assert console.hub.push_role("supervisor", stats) == 1
            await expect(tile.locator('[data-field="waiting"]')).to_have_text("3", timeout=1000)
            await expect(tile.locator('[data-field="longest_wait_s"]')).to_have_text("1:15")
            await expect(tile.locator('[data-field="busy"]')).to_have_text("2")
            await expect(tile).to_have_class("tile alert")

            agents = [dict(a) for a in console.backend.board["agents"]]
            agents[0].update(state="on_call", call_id="1790.7", customer="<b>Dana</b>")
            console.hub.push_role("supervisor", {"type": "agents", "agents": agents})
            await expect(page.get_by_test_id("agent-state-1")).to_have_text("on call")
            await expect(page.get_by_test_id("agents-grid")).to_contain_text("<b>Dana</b>")
            await expect(page.get_by_test_id("listen-1")).to_be_visible()

            await page.get_by_test_id("force-reason").select_option("training")
            await page.get_by_test_id("force-not-ready-1").click()
            await eventually(lambda: (3, "force_not_ready", {"agent_id": 1, "reason": "training"})
                             in console.backend.commands)
            await expect(page.get_by_test_id("console-message")).to_have_text("Done: force not ready")

            tv = await browser.new_page(viewport={"width": 1920, "height": 1080})
            await tv.context.add_cookies(await page.context.cookies())
            await tv.goto(console.base_url + "/supervisor?tv=1")
            await expect(tv.locator("body")).to_have_class("wallboard tv is-connected")
            await expect(tv.get_by_test_id("force-not-ready-1")).to_have_count(0)
            assert errors == []
        finally:
            await browser.close()


@pytest.mark.browser
@aio
async def test_agent_is_refused_the_wallboard_and_uses_keyboard_shortcuts(console):
    require_or_skip(chromium_available(), f"Chromium not found at {CHROMIUM}")
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page, errors, _ = await sign_in_page(browser, console, "alice", "correct horse")
            await page.wait_for_url("**/agent")
            await expect(page.get_by_test_id("connection-status")).to_have_text("connected")
            await page.locator("body").press("r")
            await eventually(lambda: (1, "ready", {}) in console.backend.commands)
            await page.locator("body").press("h")
            await eventually(lambda: (1, "hangup", {}) in console.backend.commands)
            await page.get_by_test_id("not-ready-reason").press("n")  # typing in a field: no command
            await page.evaluate("document.activeElement.blur()")
            await page.locator("body").press("n")
            await eventually(lambda: console.backend.commands[-1][1] == "not_ready")
            assert [c[1] for c in console.backend.commands].count("not_ready") == 1

            answer = await page.goto(console.base_url + "/supervisor")
            assert answer.status == 403
            await expect(page.get_by_test_id("forbidden")).to_be_visible()

            # Sign out: back to the login page, and the console is closed to this browser.
            await page.goto(console.base_url + "/agent")
            await page.get_by_test_id("sign-out").click()
            await page.wait_for_url("**/login**")
            await expect(page.locator("input[name=username]")).to_be_visible()
            await page.goto(console.base_url + "/agent")
            await page.wait_for_url("**/login**")
            assert errors == []
        finally:
            await browser.close()


@pytest.mark.browser
@aio
async def test_customer_named_like_a_script_is_shown_as_text_and_edited(console):
    require_or_skip(chromium_available(), f"Chromium not found at {CHROMIUM}")
    from playwright.async_api import async_playwright, expect

    evil = "<script>alert(1)</script>"
    cid = console.store.add_customer(name=evil, company=evil, account_number="XS-1",
                                     phones=["+1 555 000 1111"])
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page, errors, dialogs = await sign_in_page(browser, console, "alice", "correct horse")
            await page.wait_for_url("**/agent")
            await page.goto(console.base_url + "/customers")
            await page.get_by_test_id("customer-search").fill("555 000 1111")
            await page.get_by_test_id("customer-search").press("Enter")
            link = page.get_by_test_id("customer-link")
            await expect(link).to_have_text(evil)
            await link.click()
            await expect(page.get_by_test_id("customer-name")).to_have_text(evil)
            await page.fill("#f-notes", "Asked for a callback")
            await page.get_by_test_id("customer-save").click()
            await expect(page.get_by_test_id("saved")).to_be_visible()
            assert console.store.customer(cid).notes == "Asked for a callback"
            assert dialogs == [] and errors == []
        finally:
            await browser.close()


@pytest.mark.browser
@aio
async def test_link_hands_a_commands_result_or_error_to_its_callback(console):
    require_or_skip(chromium_available(), f"Chromium not found at {CHROMIUM}")
    from playwright.async_api import async_playwright, expect

    console.backend.rejections["ready"] = "Finish your wrap-up first"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(console.base_url + "/")
            await page.fill('input[name="username"]', "alice")
            await page.fill('input[name="password"]', "correct horse")
            await page.click('[data-testid="login-submit"]')
            await page.wait_for_url("**/agent")
            await expect(page.get_by_test_id("connection-status")).to_have_text("connected")
            # A link of its own on the page, as console.js, dial.js and wallboard.js open.
            replies = await page.evaluate("""async () => {
                const t = await (await fetch("/api/ws-ticket", {cache: "no-store"})).json();
                const link = await new Promise((resolve) => {
                    const l = window.ConsoleLink({wsUrl: t.ws_url, token: t.token,
                        onMessage: () => {},
                        onStatus: (s) => { if (s === "connected") { resolve(l); } }});
                });
                const ask = (name, args) => new Promise((resolve) => {
                    link.command(name, args, (error, result) =>
                        resolve({error: error, result: result === undefined ? "none" : result}));
                });
                return [await ask("not_ready", {reason: "lunch"}), await ask("hangup", {}),
                        await ask("ready", {})];
            }""")
            assert replies == [
                {"error": None, "result": {"state": "not_ready", "reason": "lunch"}},
                {"error": None, "result": {"hung_up": True}},
                {"error": "Finish your wrap-up first", "result": "none"},
            ]
        finally:
            await browser.close()
