"""The console page in Debian's headless Chromium: sign in, Ready, a screen-pop,
reconnection after the WebSocket server restarts."""

from __future__ import annotations

import os
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
