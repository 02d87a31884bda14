"""The supervisor wallboard against the real system: the server, the simulated PBX and
headless Chromium. A supervisor watches a call join a queue, forces an agent not
ready, listens / whispers / barges on a call; agents' sockets never carry the
wallboard's pushes; the README's screenshot of the wallboard comes from here."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor

from callcenter import events as ev
from callcenter.simulator import CallerScript, PhoneBehaviour
from tests.conftest import ROOT, require_or_skip
from tests.integration.harness import CallCenterHarness, as_deferred
from tests.ui.test_browser import CHROMIUM, CHROMIUM_ARGS, chromium_available

SUPERVISOR_PHONE = "Local/1100@agents/n"
WAIT = 10_000  # ms: generous, the machine is shared


def make_harness(tmp_path, *, agents=1, phones=None, **routing) -> CallCenterHarness:
    """The harness plus a supervisor account (supervisor / pw-supervisor, ext. 1100)."""
    phones = dict(phones or {})
    phones.setdefault("1100", PhoneBehaviour("1100", answer_after=0.2, talk_seconds=1.0))
    for i in range(1, agents + 1):
        ext = str(1000 + i)
        phones.setdefault(ext, PhoneBehaviour(ext, answer_after=0.2, talk_seconds=0.6))
    h = CallCenterHarness(reactor, tmp_path, agents=agents, phones=phones, **routing)
    h.supervisor = h.store.add_agent(
        username="supervisor", password="pw-supervisor", display_name="Sam Supervisor",
        role="supervisor", extension="1100", interface=SUPERVISOR_PHONE)
    return h


async def poll(predicate, what: str, timeout: float = 10.0) -> None:
    """Wait (on the shared loop) until ``predicate()`` holds; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def sign_in(browser, h: CallCenterHarness, username: str, password: str, *,
                  path: str = "", viewport=(1366, 768)):
    """A page of its own browser context (own cookies), signed in; at ``path`` if given."""
    from playwright.async_api import expect

    context = await browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    await page.goto(h.base_url + "login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_load_state()
    if path:
        await page.goto(h.base_url + path.lstrip("/"))
    await expect(page.get_by_test_id("connection-status")).to_have_text("connected",
                                                                        timeout=WAIT)
    return page


def state_of(h: CallCenterHarness, agent) -> str:
    return h.center.router.agents[str(agent.id)].state.value


async def run_in_browser(h: CallCenterHarness, scenario) -> None:
    """Start the system, run ``scenario(browser)`` in Chromium, stop everything."""
    require_or_skip(chromium_available(), f"Chromium not found at {CHROMIUM}")
    from playwright.async_api import async_playwright

    await h.start()
    pw = await as_deferred(async_playwright().start())
    try:
        browser = await as_deferred(pw.chromium.launch(executable_path=CHROMIUM,
                                                       args=CHROMIUM_ARGS))
        try:
            await as_deferred(scenario(browser))
        finally:
            await as_deferred(browser.close())
    finally:
        await as_deferred(pw.stop())
        await h.stop()


# ---------------------------------------------------------------------- tiles


@pytest.mark.browser
@pytest_twisted.ensureDeferred
async def test_a_call_joining_a_queue_shows_on_the_supervisors_tile_at_once(tmp_path):
    h = make_harness(tmp_path, agents=1)  # nobody ready: the call waits
    queued: list[tuple[ev.CallQueued, float]] = []
    h.center.bus.subscribe(ev.CallQueued, lambda e: queued.append((e, time.time())))

    async def scenario(browser):
        from playwright.async_api import expect

        page = await sign_in(browser, h, "supervisor", "pw-supervisor")
        assert page.url.endswith("/supervisor")
        tile = page.get_by_test_id("tile-sales")
        await expect(tile.locator('[data-field="waiting"]')).to_have_text("0")
        # Note in the page the moment any tile first shows a waiting call.
        await page.evaluate("""() => {
            window.firstWaitingAt = null;
            const box = document.querySelector('[data-testid="queue-tiles"]');
            const look = () => {
              if (window.firstWaitingAt !== null) { return; }
              const counts = box.querySelectorAll('[data-field="waiting"]');
              if (Array.prototype.some.call(counts, n => n.textContent.trim() !== "0")) {
                window.firstWaitingAt = Date.now();
              }
            };
            new MutationObserver(look).observe(box, {childList: true, subtree: true,
                                                     characterData: true});
        }""")
        placed_at = time.time()
        h.simulator.place_call(CallerScript(number="5551234567", digits={0: "1"}))
        await expect(tile.locator('[data-field="waiting"]')).to_have_text("1", timeout=WAIT)
        await poll(lambda: queued, "CallQueued")
        event, queued_at = queued[0]
        assert event.queue == "sales"
        shown_at = await page.evaluate("window.firstWaitingAt") / 1000.0
        print(f"\nwallboard tile latency: {1000 * (shown_at - queued_at):.0f} ms after "
              f"CallQueued ({1000 * (shown_at - placed_at):.0f} ms after the call was "
              "placed, IVR included)")
        # The other figures of the tile are there and live.
        for field in ("longest_wait_s", "service_level", "asa_s", "abandon_rate", "ready",
                      "busy", "wrap_up", "not_ready"):
            await expect(tile.locator(f'[data-field="{field}"]')).to_have_count(1)
        await expect(tile.locator('[data-field="not_ready"]')).to_have_text("0")
        assert page.errors == []

    await run_in_browser(h, scenario)


# ---------------------------------------------------------------- supervisor actions


@pytest.mark.browser
@pytest_twisted.ensureDeferred
async def test_supervisor_forces_a_ready_agent_not_ready_and_the_agent_sees_it(tmp_path):
    h = make_harness(tmp_path, agents=1)
    agent = h.agents[0]

    async def scenario(browser):
        from playwright.async_api import expect

        console = await sign_in(browser, h, "agent1", "pw-agent1")
        await console.get_by_test_id("state-ready").click()
        await expect(console.get_by_test_id("agent-state")).to_have_attribute(
            "data-state", "ready", timeout=WAIT)

        board = await sign_in(browser, h, "supervisor", "pw-supervisor")
        await expect(board.get_by_test_id(f"agent-state-{agent.id}")).to_have_text(
            "ready", timeout=WAIT)
        await board.get_by_test_id("force-reason").select_option("training")
        await board.get_by_test_id(f"force-not-ready-{agent.id}").click()

        await expect(console.get_by_test_id("agent-state")).to_have_attribute(
            "data-state", "not_ready", timeout=WAIT)
        await expect(console.get_by_test_id("agent-reason")).to_have_text("training")
        await expect(board.get_by_test_id(f"agent-state-{agent.id}")).to_have_text(
            "not ready", timeout=WAIT)
        await expect(board.get_by_test_id("console-message")).to_have_text(
            "Done: force not ready")
        assert state_of(h, agent) == "not_ready"
        assert h.center.router.agents[str(agent.id)].reason == "training"
        # An agent may not open the wall-screen view.
        refused = await console.goto(h.base_url + "wallboard/tv")
        assert refused.status == 403
        assert console.errors == [] and board.errors == []

    await run_in_browser(h, scenario)


@pytest.mark.browser
@pytest_twisted.ensureDeferred
async def test_listen_whisper_and_barge_originate_chanspy_to_the_supervisors_phone(tmp_path):
    phones = {"1001": PhoneBehaviour("1001", answer_after=0.2, talk_seconds=60.0)}
    h = make_harness(tmp_path, agents=1, phones=phones)
    agent = h.agents[0]

    async def scenario(browser):
        from playwright.async_api import expect

        board = await sign_in(browser, h, "supervisor", "pw-supervisor")
        client = await as_deferred_free(h.console("agent1"))
        await client.client.command("ready")
        h.simulator.place_call(CallerScript(number="5551234567", digits={0: "2"}))
        await poll(lambda: state_of(h, agent) == "on_call", "agent on the call", 15)

        expected = []
        for mode, flags in (("listen", "q"), ("whisper", "qw"), ("barge", "qB")):
            await board.get_by_test_id(f"{mode}-{agent.id}").click(timeout=WAIT)
            expected.append(flags)
            await poll(lambda: len(spies(h)) == len(expected), f"ChanSpy originate ({mode})")
            await expect(board.get_by_test_id("console-message")).to_have_text(f"Done: {mode}")
        for sent, flags in zip(spies(h), expected, strict=True):
            assert sent["Channel"] == SUPERVISOR_PHONE
            assert sent["Application"] == "ChanSpy"
            assert sent["Data"] == f"Local/1001@agents,{flags}"
        assert board.errors == []

    await run_in_browser(h, scenario)


def spies(h: CallCenterHarness) -> list[dict]:
    return [o for o in h.simulator.originates if o["Application"] == "ChanSpy"]


async def as_deferred_free(coro):
    """Await a harness coroutine (it awaits Deferreds) from asyncio code."""
    from twisted.internet import defer

    return await defer.ensureDeferred(coro).asFuture(asyncio.get_running_loop())


# ---------------------------------------------------------------- who gets what


@pytest_twisted.ensureDeferred
async def test_an_agents_socket_never_receives_the_wallboards_pushes(tmp_path):
    from tests.integration.harness import until

    h = make_harness(tmp_path, agents=1)
    await h.start()
    try:
        agent = await h.console("agent1")
        supervisor = await h.console("supervisor")
        await as_deferred(agent.client.command("ready"))
        h.simulator.place_call(CallerScript(number="5551234567", digits={0: "2"}))
        await until(reactor, lambda: supervisor.of_type("halfhours"), 15,
                    "a halfhours push once the call is answered")
        await h.contacts_closed(1)
        await until(reactor, lambda: len(agent.of_type("agent_state")) >= 3, 10,
                    "the agent's own state pushes")
        for kind in ("queue_stats", "agents"):
            assert supervisor.of_type(kind), kind
        pushed = {m.get("type") for m, _ in agent.messages}
        assert pushed & {"queue_stats", "agents", "halfhours"} == set()
        assert {"agent_state", "pop", "call"} <= pushed
        answered = supervisor.of_type("halfhours")[-1]["total"]["slots"]
        assert sum(s["answered"] for s in answered) == 1
    finally:
        await h.stop()


# ---------------------------------------------------------------------- screenshot


@pytest.mark.browser
@pytest_twisted.ensureDeferred
async def test_wallboard_of_a_busy_moment_with_calls_waiting(tmp_path):
    talk = {ext: PhoneBehaviour(ext, answer_after=0.2, talk_seconds=120.0)
            for ext in ("1001", "1002")}
    h = make_harness(tmp_path, agents=5, phones=talk)

    async def scenario(browser):
        from playwright.async_api import expect

        consoles = [await as_deferred_free(h.console(f"agent{i}")) for i in range(1, 5)]
        # An early caller gives up before anyone is ready.
        h.simulator.place_call(CallerScript(number="5550000001", digits={0: "1"},
                                            patience=8.0))
        await poll(lambda: h.center.counters["calls_abandoned"] == 1, "the abandoned call", 15)
        for n, (console, digit) in enumerate(zip(consoles[:2], "12", strict=True), 1):
            await console.client.command("ready")
            h.simulator.place_call(CallerScript(number="5551234567", digits={0: digit}))
            await poll(lambda n=n: h.center.counters["calls_answered"] == n,
                       "an answered call", 15)
        await consoles[2].client.command("not_ready", reason="lunch")
        await consoles[3].client.command("not_ready", reason="training")
        for digit in "212":
            h.simulator.place_call(CallerScript(number="5557654321", digits={0: digit}))
        await poll(lambda: sum(len(h.center.router.waiting_in(q)) for q in ("sales", "support"))
                   == 3, "three calls waiting", 15)

        assert h.center.stats.halfhours.today(time.time())["queues"]["sales"]
        shots = (("/supervisor", (1920, 1080), "wallboard.png"),
                 ("/supervisor", (1366, 768), "wallboard-1366.png"),
                 ("/wallboard/tv", (1920, 1080), "tv-1920.png"),
                 ("/wallboard/tv", (1366, 768), "tv-1366.png"))
        for path, size, name in shots:
            board = await sign_in(browser, h, "supervisor", "pw-supervisor", path=path,
                                  viewport=size)
            await expect(board.get_by_test_id("tile-support").locator(
                '[data-field="waiting"]')).to_have_text("2", timeout=WAIT)
            await expect(board.get_by_test_id("chart-All queues").locator(
                ".bar-abandoned")).to_have_count(1, timeout=WAIT)
            await expect(board.get_by_test_id("chart-sales").locator(
                "svg.chart .target")).to_have_count(1)
            if path == "/wallboard/tv":
                # Tiles and charts only, all of it on the screen, no controls.
                await expect(board.get_by_test_id("agents-grid")).to_have_count(0)
                await expect(board.locator("main button, main select")).to_have_count(0)
                assert await board.evaluate(
                    "document.documentElement.scrollHeight <= window.innerHeight + 1")
                assert await board.evaluate(
                    "document.documentElement.scrollWidth <= window.innerWidth + 1")
            else:
                await expect(board.get_by_test_id(f"agent-state-{h.agents[0].id}")).to_have_text(
                    "on call")
            shot = tmp_path / name
            await board.screenshot(path=str(shot), full_page=path == "/supervisor")
            assert board.errors == []
            if name == "wallboard.png" and os.environ.get("CALLCENTER_UPDATE_SCREENSHOTS"):
                shutil.copy(shot, Path(ROOT) / "docs" / "wallboard.png")
            await board.context.close()

    await run_in_browser(h, scenario)
