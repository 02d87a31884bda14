"""The AMI server goes away in the middle of live calls and comes back: every call is
logged exactly once, and every contact is completed."""

from __future__ import annotations

import pytest_twisted
from twisted.internet import reactor, task

from callcenter.simulator import CallerScript, PhoneBehaviour
from crm_store.store import Store
from tests.integration.harness import CallCenterHarness, as_deferred, until


@pytest_twisted.ensureDeferred
async def test_ami_restart_during_50_live_calls_loses_no_contact_and_duplicates_none(tmp_path):
    agents = 10
    phones = {str(1000 + i): PhoneBehaviour(str(1000 + i), answer_after=0.2, talk_seconds=1.5)
              for i in range(1, agents + 1)}
    h = CallCenterHarness(reactor, tmp_path, agents=agents, phones=phones)
    await h.start()
    try:
        for i in range(1, agents + 1):
            console = await h.console(f"agent{i}")
            await as_deferred(console.client.command("ready"))
        started = reactor.seconds()
        numbers = list(h.seeded.numbers)
        calls = []
        for n in range(50):
            calls.append(h.simulator.place_call(CallerScript(
                number=numbers[n % len(numbers)].lstrip("+1"), digits={0: "12"[n % 2]},
                patience=30.0)))
            if n == 25:
                h.simulator.stop_ami()
            await task.deferLater(reactor, 0.05, lambda: None)
        await task.deferLater(reactor, 1.0, lambda: None)
        h.simulator.start_ami()
        for call in calls:
            await call.ended
        await until(reactor, lambda: h.service.ami.current() is not None, timeout=20,
                    what="AMI reconnect")
        await h.contacts_closed(0)
        assert await h.service.db.do(Store.count_contacts, since=started) == 50
        assert await h.service.db.do(Store.open_contacts) == []
    finally:
        await h.stop()
