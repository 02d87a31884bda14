"""The whole system in headless Chromium: agent1 logs in, goes Ready, the simulated PBX
places a call from a seeded customer's number, and the pop shows that customer."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor

from callcenter.simulator import CallerScript
from tests.conftest import ROOT, require_or_skip
from tests.integration.harness import CallCenterHarness, as_deferred
from tests.ui.test_browser import CHROMIUM, CHROMIUM_ARGS, chromium_available

ADA = "5551234567"


@pytest.mark.browser
@pytest_twisted.ensureDeferred
async def test_agent_goes_ready_and_sees_the_callers_customer_card_at_ringing(tmp_path):
    require_or_skip(chromium_available(), f"Chromium not found at {CHROMIUM}")
    from playwright.async_api import async_playwright, expect

    from callcenter.simulator import PhoneBehaviour

    phones = {"1001": PhoneBehaviour("1001", answer_after=1.5, talk_seconds=3.0)}
    h = CallCenterHarness(reactor, tmp_path, phones=phones)
    await h.start()
    pw = await as_deferred(async_playwright().start())
    try:
        browser = await as_deferred(pw.chromium.launch(executable_path=CHROMIUM,
                                                       args=CHROMIUM_ARGS))
        page = await as_deferred(browser.new_page(viewport={"width": 1366, "height": 768}))
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        async def drive():
            await page.goto(h.base_url)
            await page.fill("input[name=username]", "agent1")
            await page.fill("input[name=password]", "pw-agent1")
            await page.click("button[type=submit]")
            await expect(page.get_by_test_id("connection-status")).to_have_text("connected")
            await page.get_by_test_id("state-ready").click()
            await expect(page.get_by_test_id("agent-state")).to_have_attribute("data-state", "ready")

        await as_deferred(drive())
        call = h.simulator.place_call(CallerScript(number=ADA, digits={0: "2"}))

        async def see_pop():
            pop = page.get_by_test_id("screen-pop")
            await expect(pop).to_be_visible(timeout=10_000)
            await expect(page.get_by_test_id("pop-customer-name")).to_have_text("Ada Lovelace")
            await expect(page.get_by_test_id("call-state")).to_contain_text("talking",
                                                                            timeout=10_000)
            shot = tmp_path / "console.png"
            await page.screenshot(path=str(shot))
            if os.environ.get("CALLCENTER_UPDATE_SCREENSHOTS"):
                shutil.copy(shot, Path(ROOT) / "docs" / "console.png")
            await expect(page.get_by_test_id("call-state")).to_contain_text("ended",
                                                                            timeout=10_000)

        await as_deferred(see_pop())
        await call.ended
        assert errors == []
        await as_deferred(browser.close())
    finally:
        await as_deferred(pw.stop())
        await h.stop()
