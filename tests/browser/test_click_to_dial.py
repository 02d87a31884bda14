"""Click-to-dial in headless Chromium: agent1 opens a customer's page, clicks one of
the numbers, the simulator sees the agent-first Originate, and the outbound pop shows
on the page (and on the console open in another tab)."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor

from crm_store.store import Store
from tests.conftest import require_or_skip
from tests.integration.harness import CallCenterHarness, as_deferred, until
from tests.ui.test_browser import CHROMIUM, CHROMIUM_ARGS, chromium_available

ADA_E164 = "+15551234567"


@pytest.mark.browser
@pytest_twisted.ensureDeferred
async def test_agent_clicks_a_customers_number_and_sees_the_outbound_pop(tmp_path):
    require_or_skip(chromium_available(), f"Chromium not found at {CHROMIUM}")
    from playwright.async_api import async_playwright, expect

    from callcenter.simulator import PhoneBehaviour

    phones = {"1001": PhoneBehaviour("1001", answer_after=0.5, talk_seconds=None)}
    h = CallCenterHarness(reactor, tmp_path, phones=phones, outbound_wrapup_seconds=30.0)
    await h.start()
    h.simulator.set_customer_phone(ADA_E164, answer_after=0.5, talk_seconds=2.0)
    lookup = await h.service.db.do(Store.lookup_caller, ADA_E164)
    ada = lookup.customers[0]
    pw = await as_deferred(async_playwright().start())
    try:
        browser = await as_deferred(pw.chromium.launch(executable_path=CHROMIUM,
                                                       args=CHROMIUM_ARGS))
        context = await as_deferred(browser.new_context(viewport={"width": 1366,
                                                                  "height": 768}))
        console = await as_deferred(context.new_page())
        errors: list[str] = []
        console.on("pageerror", lambda exc: errors.append(str(exc)))

        async def log_in():
            await console.goto(h.base_url)
            await console.fill("input[name=username]", "agent1")
            await console.fill("input[name=password]", "pw-agent1")
            await console.click("button[type=submit]")
            await expect(console.get_by_test_id("connection-status")).to_have_text(
                "connected", timeout=10_000)

        await as_deferred(log_in())
        page = await as_deferred(context.new_page())
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        async def dial():
            await page.goto(f"{h.base_url}customers/{ada.id}")
            button = page.get_by_test_id(f"dial-{ADA_E164}")
            await expect(button).to_be_enabled(timeout=10_000)
            await button.click()
            status = page.get_by_test_id("dial-status")
            await expect(status).to_contain_text("Outbound call to Ada Lovelace",
                                                 timeout=10_000)
            await expect(status).to_contain_text("connected", timeout=10_000)
            # The console tab got the same pop.
            await expect(console.get_by_test_id("pop-customer-name")).to_have_text(
                "Ada Lovelace", timeout=10_000)
            await expect(status).to_contain_text("call ended", timeout=10_000)

        await as_deferred(dial())
        originate = h.simulator.originates[-1]
        assert originate["Channel"] == "Local/1001@agents/n"
        assert (originate["Context"], originate["Exten"]) == ("outbound", ADA_E164)
        await until(reactor, lambda: h.center.router.agent("1").state.value == "wrap_up",
                    what="wrap-up after the call")
        assert errors == []
        await as_deferred(browser.close())
    finally:
        await as_deferred(pw.stop())
        await h.stop()
