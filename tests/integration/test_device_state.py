"""An agent's phone busy with a call we did not route (a personal call) makes the agent
unroutable until the phone is free again: device state comes from AMI, over loopback
against the simulator."""

from __future__ import annotations

import pytest_twisted
from twisted.internet import reactor, task

from callcenter.ami.actions import originate
from callcenter.simulator import CallerScript, PhoneBehaviour
from crm_store.store import Store
from tests.integration.harness import CallCenterHarness, as_deferred, until


@pytest_twisted.ensureDeferred
async def test_a_personal_call_keeps_offers_away_until_the_phone_is_free(tmp_path):
    # The phone never hangs up by itself: the personal call lasts the 3 s Wait, the
    # routed call as long as the caller talks.
    phones = {"1001": PhoneBehaviour("1001", answer_after=0.2, talk_seconds=None)}
    h = CallCenterHarness(reactor, tmp_path, phones=phones)
    await h.start()
    try:
        console = await h.console("agent1")
        await as_deferred(console.client.command("ready"))
        agent_id = str(h.agents[0].id)
        # A personal call: someone rings the agent's phone directly (not through us).
        personal = originate(h.center.ami, "Local/1001@agents/n", application="Wait",
                             data="3", caller_id='"Home" <5550000>')
        await until(reactor, lambda: agent_id in h.center.router._busy,
                    what="the agent's phone to be seen busy")
        assert console.of_type("device")[-1]["busy"] is True
        call = h.simulator.place_call(CallerScript(number="5551234567", digits={0: "2"},
                                                     talk_hangup_after=0.5))
        await until(reactor, lambda: any(c.queue for c in h.center.calls.values()),
                    what="the call to queue")
        # The agent is Ready but their phone is busy: the call waits.
        assert h.center.router.agent(agent_id).state.value == "ready"
        assert h.center.router.offers == {}
        await personal
        await until(reactor, lambda: agent_id not in h.center.router._busy, timeout=15,
                    what="the phone to be free again")
        await call.ended
        await h.contacts_closed(1)
        contact = await h.service.db.do(Store.contact, call.linkedid)
        assert contact.outcome == "answered"
        assert contact.answered_at - contact.queued_at >= 1.0  # waited for the phone
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_every_agent_transition_is_written_to_the_agent_state_log(tmp_path):
    h = CallCenterHarness(reactor, tmp_path)
    await h.start()
    try:
        console = await h.console("agent1")
        await as_deferred(console.client.command("ready"))
        call = h.simulator.place_call(CallerScript(number="5551234567", digits={0: "2"}))
        await call.ended
        await h.contacts_closed(1)
        await until(reactor, lambda: h.center.router.agent(str(h.agents[0].id)).state.value
                    == "ready", what="wrap-up to end")
        await as_deferred(console.client.command("not_ready", reason="lunch"))

        async def logged():
            return await h.service.db.do(Store.agent_state_log, h.agents[0].id)

        for _ in range(100):
            rows = await logged()
            if rows and rows[-1]["state"] == "not_ready":
                break
            await task.deferLater(reactor, 0.05, lambda: None)
        states = [r["state"] for r in rows]
        assert states[:2] == ["not_ready", "ready"]  # login, then Ready
        for expected in ("reserved", "on_call", "wrap_up"):
            assert expected in states
        assert rows[-1]["reason"] == "lunch" and rows[-1]["previous"] == "ready"
        assert [r["at"] for r in rows] == sorted(r["at"] for r in rows)
        assert any(r["call_id"] == call.linkedid for r in rows)
    finally:
        await h.stop()
