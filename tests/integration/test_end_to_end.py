"""A call through the real path: simulated PBX -> AMI + FastAGI -> IVR -> router ->
agent's phone rings -> screen-pop over the WebSocket -> contact logged in SQLite."""

from __future__ import annotations

import pytest_twisted
from twisted.internet import reactor

from callcenter.simulator import CallerScript, PhoneBehaviour
from crm_store.store import Store
from tests.integration.harness import CallCenterHarness, as_deferred, until

ADA = "5551234567"


@pytest_twisted.ensureDeferred
async def test_known_caller_pops_on_ready_agent_and_contact_is_logged(tmp_path):
    h = CallCenterHarness(reactor, tmp_path)
    await h.start()
    try:
        console = await h.console("agent1")
        await as_deferred(console.client.command("ready"))
        call = h.simulator.place_call(CallerScript(number=ADA, digits={0: "2"}))
        await call.ended
        await h.contacts_closed(1)
        pops = console.of_type("pop")
        assert len(pops) == 1
        pop = pops[0]
        assert pop["customer"]["name"] == "Ada Lovelace"
        assert pop["customer"]["tier"] == "vip"
        assert pop["ivr_choice"] == "2 – support"
        assert pop["queue"] == "support"
        assert len(pop["recent_contacts"]) <= 5 and pop["recent_contacts"]
        states = [m["state"] for m in console.of_type("call")]
        assert states[:2] == ["ringing", "talking"] and states[-1] == "ended"
        contact = await h.service.db.do(Store.contact, call.linkedid)
        assert contact.outcome == "answered"
        assert contact.queue == "support"
        assert contact.agent_id == h.agents[0].id
        assert contact.customer_id == pop["customer"]["id"]
        assert contact.talk_s > 0 and contact.wait_s >= 0
        assert contact.answered_at >= contact.offered_at >= contact.queued_at
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_unknown_caller_gets_unknown_card_with_the_number(tmp_path):
    h = CallCenterHarness(reactor, tmp_path)
    await h.start()
    try:
        console = await h.console("agent1")
        await as_deferred(console.client.command("ready"))
        call = h.simulator.place_call(CallerScript(number="2125550199", digits={0: "1"}))
        await call.ended
        pop = console.of_type("pop")[0]
        assert pop["customer"] is None
        assert pop["caller_number"] == "2125550199"
        assert pop["queue"] == "sales"
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_caller_abandoning_in_queue_is_logged_and_no_agent_is_disturbed(tmp_path):
    h = CallCenterHarness(reactor, tmp_path)
    await h.start()
    try:
        console = await h.console("agent1")  # logged in, not ready
        call = h.simulator.place_call(CallerScript(number=ADA, digits={0: "1"}, patience=3.0))
        await call.ended
        await h.contacts_closed(1)
        contact = await h.service.db.do(Store.contact, call.linkedid)
        assert contact.outcome == "abandoned_in_queue"
        assert contact.queue == "sales"
        assert console.of_type("pop") == []
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_ring_no_answer_sets_agent_not_ready_and_next_agent_gets_the_call(tmp_path):
    phones = {"1001": PhoneBehaviour("1001", mode="noanswer"),
              "1002": PhoneBehaviour("1002", answer_after=0.2, talk_seconds=0.5)}
    h = CallCenterHarness(reactor, tmp_path, agents=2, phones=phones, ring_timeout=1)
    await h.start()
    try:
        first = await h.console("agent1")
        await as_deferred(first.client.command("ready"))
        second = await h.console("agent2")
        await as_deferred(second.client.command("ready"))
        call = h.simulator.place_call(CallerScript(number=ADA, digits={0: "2"}))
        await call.ended
        await h.contacts_closed(1)
        assert [m["reason"] for m in first.of_type("agent_state")
                if m["state"] == "not_ready"] == ["RONA"]
        assert second.of_type("pop")[0]["customer"]["name"] == "Ada Lovelace"
        contact = await h.service.db.do(Store.contact, call.linkedid)
        assert contact.outcome == "answered" and contact.agent_id == h.agents[1].id
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_dropped_ami_connection_reconnects_by_itself(tmp_path):
    h = CallCenterHarness(reactor, tmp_path)
    await h.start()
    try:
        first = h.service.ami.current()
        h.simulator.kill_ami_connections()
        await until(reactor, lambda: h.service.ami.current() not in (None, first),
                    timeout=15, what="AMI reconnect")
        console = await h.console("agent1")
        await as_deferred(console.client.command("ready"))
        call = h.simulator.place_call(CallerScript(number=ADA, digits={0: "2"}))
        await call.ended
        assert console.of_type("pop")[0]["customer"]["name"] == "Ada Lovelace"
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_call_during_ami_outage_is_still_logged_and_closed_from_fastagi(tmp_path):
    h = CallCenterHarness(reactor, tmp_path)
    await h.start()
    try:
        await h.service.ami.stopService()
        started = reactor.seconds()
        call = h.simulator.place_call(CallerScript(number=ADA, digits={0: "1"}, patience=4.0))
        await call.ended
        await h.contacts_closed(1)
        assert await h.service.db.do(Store.count_contacts, since=started) == 1
        # With no AMI, the call is known by its FastAGI channel's uniqueid.
        contact = await h.service.db.do(Store.contact, call.trunk.uniqueid)
        assert contact.outcome == "abandoned_in_queue"
        assert contact.queue == "sales"
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_garbage_on_the_fastagi_port_never_stops_calls_from_flowing(tmp_path):
    from twisted.internet import defer, endpoints, protocol

    h = CallCenterHarness(reactor, tmp_path)
    await h.start()
    try:
        closed = defer.Deferred()

        class Garbage(protocol.Protocol):
            def connectionMade(self):
                self.transport.write(b"\x00\xff not agi at all\n" + b"x" * 70000 + b"\n")
                self.transport.loseConnection()

            def connectionLost(self, reason):
                closed.callback(None)

        endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", h.settings.agi.port)
        await endpoints.connectProtocol(endpoint, Garbage())
        await closed
        console = await h.console("agent1")
        await as_deferred(console.client.command("ready"))
        call = h.simulator.place_call(CallerScript(number=ADA, digits={0: "2"}))
        await call.ended
        assert console.of_type("pop")[0]["customer"]["name"] == "Ada Lovelace"
    finally:
        await h.stop()
