"""Click-to-dial over loopback: the console's ``dial`` command, the agent-first
Originate seen by the simulator, the outbound pop, the contact and the wrap-up."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor

from callcenter.simulator import PhoneBehaviour
from crm_store.store import Store
from tests.integration.harness import CallCenterHarness, as_deferred, until

ADA_E164 = "+15551234567"


@pytest_twisted.ensureDeferred
async def test_click_to_dial_logs_an_outbound_contact_pops_and_wraps_up(tmp_path):
    h = CallCenterHarness(reactor, tmp_path, outbound_wrapup_seconds=30.0)
    await h.start()
    try:
        h.simulator.set_phone("1001", PhoneBehaviour("1001", answer_after=0.2,
                                                     talk_seconds=None))
        phone = h.simulator.set_customer_phone(ADA_E164, answer_after=0.2, talk_seconds=0.5)
        console = await h.console("agent1")
        lookup = await h.service.db.do(Store.lookup_caller, ADA_E164)
        customer_id = lookup.customers[0].id
        reply = await as_deferred(console.client.command(
            "dial", number="(555) 123-4567", customer_id=customer_id))
        call_id = reply["call_id"]
        assert reply["number"] == ADA_E164
        assert h.center.router.agent("1").state.value == "on_call"
        await until(reactor, lambda: [p for p in console.of_type("pop")
                                      if p.get("kind") == "outbound"], what="the pop")
        pop = [p for p in console.of_type("pop") if p.get("kind") == "outbound"][0]
        assert pop["call_id"] == call_id and pop["caller_number"] == ADA_E164
        assert pop["customer"]["id"] == customer_id
        originate = h.simulator.originates[-1]
        assert originate["Channel"] == "Local/1001@agents/n"
        assert (originate["Context"], originate["Exten"]) == ("outbound", ADA_E164)
        contact = await h.contact_closed(call_id)
        assert phone.rung == 1
        assert contact.direction == "outbound"
        assert contact.outcome == "answered"
        assert contact.customer_id == customer_id
        assert contact.agent_id == h.agents[0].id
        assert contact.talk_s > 0
        await until(reactor, lambda: h.center.router.agent("1").state.value == "wrap_up",
                    what="wrap-up")
        states = [m["state"] for m in console.of_type("call") if m["call_id"] == call_id]
        assert states[0] == "dialing" and "talking" in states and states[-1] == "ended"
        assert console.of_type("agent_state")[-1]["state"] == "wrap_up"
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_customer_busy_ends_the_outbound_call_as_unanswered(tmp_path):
    h = CallCenterHarness(reactor, tmp_path, outbound_wrapup_seconds=0.2)
    await h.start()
    try:
        h.simulator.set_phone("1001", PhoneBehaviour("1001", answer_after=0.1,
                                                     talk_seconds=None))
        h.simulator.set_customer_phone("+12125550199", busy=True)
        console = await h.console("agent1")
        reply = await as_deferred(console.client.command("dial", number="2125550199"))
        contact = await h.contact_closed(reply["call_id"])
        assert contact.outcome == "unanswered" and contact.direction == "outbound"
        assert contact.customer_id is None
        await until(reactor, lambda: h.center.router.agent("1").state.value == "ready",
                    what="the agent back after wrap-up")
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_dial_is_refused_with_clear_messages(tmp_path):
    from agent_ui.backend import CommandRejected

    h = CallCenterHarness(reactor, tmp_path)
    await h.start()
    try:
        console = await h.console("agent1")
        with pytest.raises(CommandRejected, match="not a phone number"):
            await as_deferred(console.client.command("dial", number="12"))
        with pytest.raises(CommandRejected, match="no customer 999999"):
            await as_deferred(console.client.command(
                "dial", number="2125550199", customer_id=999999))
        await h.simulator.stop_ami()
        await until(reactor, lambda: h.service.ami.current() is None, what="AMI down")
        with pytest.raises(CommandRejected, match="phone system is not reachable"):
            await as_deferred(console.client.command("dial", number="2125550199"))
        assert h.center.router.agent("1").state.value == "not_ready"
    finally:
        await h.stop()
