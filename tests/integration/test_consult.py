"""Attended transfer and three-way conference from the console, over loopback against
the simulated PBX: AMI Atxfer / Hangup / CancelAtxfer / PlayDTMF reach the PBX, and
the consult state the console shows follows the events that come back."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor

from agent_ui.backend import CommandRejected
from crm_store.store import Store
from tests.integration.harness import until
from tests.integration.test_call_control import (
    agent_hangs_up,
    caller_hangups_by_us,
    command,
    last_call,
    talking,
    transfer_setup,
)


def consult_is(console, state):
    return lambda: (last_call(console).get("consult") or {}).get("state") == state


async def consulting_agent2(h, rec, first, second):
    await command(first, "consult", to="agent", target="agent2")
    (sent,) = rec.actions("Atxfer")
    assert (sent["Channel"], sent["Context"], sent["Exten"]) == (
        h.center._agent_channels["1"], "cc-consult", "agent-1002")
    await until(reactor, consult_is(first, "talking"), what="consult talking")
    assert last_call(first)["state"] == "consulting"
    assert last_call(first)["consult"] == {"state": "talking", "target": "agent2"}
    assert any(m["state"] == "consulting" and m["consult"]["state"] == "dialing"
               for m in first.of_type("call") if m.get("consult"))


@pytest_twisted.ensureDeferred
async def test_consult_an_agent_then_complete_hands_them_the_call(tmp_path):
    h, rec, call, first, second = await transfer_setup(tmp_path)
    try:
        agent_leg = h.center._agent_channels["1"]
        with pytest.raises(CommandRejected, match="no consultation"):
            await command(first, "consult_complete")
        with pytest.raises(CommandRejected, match="must be agent or number"):
            await command(first, "consult", to="queue", target="support")
        await consulting_agent2(h, rec, first, second)
        assert rec.named("Hold", Channel=agent_leg)
        assert rec.named("MusicOnHoldStart", Channel=call.trunk.name)
        assert second.of_type("pop")[-1]["call_id"] == call.linkedid
        with pytest.raises(CommandRejected, match="consultation is in progress"):
            await command(first, "hold")

        await command(first, "consult_complete")
        assert [m["Channel"] for m in rec.actions("Hangup")] == [agent_leg]
        await until(reactor, lambda: last_call(first).get("state") == "transferred",
                    what="transferred")
        assert last_call(first)["transferred_to"] == "agent2"
        (done,) = rec.named("AttendedTransfer", Result="Success")
        assert done["TransfereeChannel"] == call.trunk.name
        assert done["DestType"] == "Bridge"
        await talking(second, "second agent has the caller")
        assert h.center.router.agents["2"].state.value == "on_call"
        await until(reactor, lambda: h.center.router.agents["1"].state.value
                    in ("wrap_up", "ready"), what="first agent released")
        assert any(m["state"] == "wrap_up" for m in first.of_type("agent_state"))
        assert call.caller.alive

        await agent_hangs_up(h, second, call)
        assert caller_hangups_by_us(rec, call) == []
        await h.contacts_closed(1)
        contact = await h.service.db.do(Store.contact, call.linkedid)
        assert await h.service.db.do(Store.count_contacts, since=contact.arrived_at) == 1
        assert (contact.transferred_to, contact.agent_id) == ("agent2", h.agents[1].id)
        assert contact.outcome == "answered"
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_consult_a_number_then_cancel_returns_to_the_caller(tmp_path):
    h, rec, call, first, _ = await transfer_setup(tmp_path, agents=1)
    try:
        agent_leg = h.center._agent_channels["1"]
        await command(first, "consult", to="number", target="+1 555 000 2222")
        (sent,) = rec.actions("Atxfer")
        assert (sent["Context"], sent["Exten"]) == ("outbound", "+15550002222")
        await until(reactor, consult_is(first, "talking"), what="number answered")
        assert last_call(first)["consult"]["target"] == "+15550002222"

        await command(first, "consult_cancel")
        assert [m["Channel"] for m in rec.actions("CancelAtxfer")] == [agent_leg]
        await talking(first, "back with the caller")
        assert last_call(first)["consult"] is None
        assert len(rec.named("BridgeEnter", Channel=agent_leg)) == 3  # answer, consult, back
        assert rec.named("MusicOnHoldStop", Channel=call.trunk.name)
        assert rec.named("AttendedTransfer") == []
        assert h.center.router.agents["1"].state.value == "on_call"

        await agent_hangs_up(h, first, call)
        assert caller_hangups_by_us(rec, call) == []
        await h.contacts_closed(1)
        contact = await h.service.db.do(Store.contact, call.linkedid)
        assert contact.transferred_to is None and contact.agent_id == h.agents[0].id
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_consulted_agent_not_answering_puts_the_agent_back_with_the_caller(tmp_path):
    h, rec, call, first, second = await transfer_setup(tmp_path)
    try:
        pbx = h.simulator.pbx
        pbx.globals["AGENT_MODE_1002"] = "noanswer"
        pbx.globals["RING_TIMEOUT"] = "1"  # the rendered dialplan's ${RING_TIMEOUT}
        await command(first, "consult", to="agent", target="agent2")
        await until(reactor, consult_is(first, "dialing"), what="consult dialing")
        with pytest.raises(CommandRejected, match="not answered"):
            await command(first, "consult_complete")
        await talking(first, "back with the caller after no answer")
        assert last_call(first)["consult"] is None
        assert rec.named("DialEnd", DialStatus="NOANSWER", DestExten="1002")
        assert last_call(second)["state"] in ("missed", "ended")
        assert h.center.router.agents["2"].state.value == "ready"
        assert call.caller.alive

        await agent_hangs_up(h, first, call)
        assert caller_hangups_by_us(rec, call) == []
        await h.contacts_closed(1)
        contact = await h.service.db.do(Store.contact, call.linkedid)
        assert contact.transferred_to is None and contact.agent_id == h.agents[0].id
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_conference_then_the_agent_leaves_caller_and_target_talking(tmp_path):
    h, rec, call, first, second = await transfer_setup(tmp_path)
    try:
        with pytest.raises(CommandRejected, match="no consultation"):
            await command(first, "conference")
        await consulting_agent2(h, rec, first, second)
        agent_leg = h.center._agent_channels["1"]
        await command(first, "conference")
        assert [m["Digit"] for m in rec.actions("PlayDTMF")] == ["*", "3"]
        await until(reactor, lambda: last_call(first).get("conference") is True,
                    what="conference shown")
        assert last_call(first)["state"] == "conference"
        assert rec.named("BridgeMerge")
        assert rec.named("BridgeEnter", BridgeNumChannels="3")
        assert rec.named("MusicOnHoldStop", Channel=call.trunk.name)
        with pytest.raises(CommandRejected, match="already a conference"):
            await command(first, "conference")

        await command(first, "hangup")  # the agent leaves the conference
        await until(reactor, lambda: last_call(first).get("state") == "transferred",
                    what="agent left")
        (done,) = rec.named("AttendedTransfer", Result="Success")
        assert (done["DestType"], done["DestTransfererChannel"]) == ("Threeway", agent_leg)
        await talking(second, "target keeps the caller")
        assert call.caller.alive

        await agent_hangs_up(h, second, call)
        assert caller_hangups_by_us(rec, call) == []
        await h.contacts_closed(1)
        contact = await h.service.db.do(Store.contact, call.linkedid)
        assert (contact.transferred_to, contact.agent_id) == ("agent2", h.agents[1].id)
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_caller_hanging_up_during_a_consultation_ends_it(tmp_path):
    h, rec, call, first, second = await transfer_setup(tmp_path)
    try:
        await consulting_agent2(h, rec, first, second)
        h.simulator.pbx.caller_hangs_up(call)
        await call.ended
        await until(reactor, lambda: last_call(first).get("state") == "ended", what="ended")
        await h.contacts_closed(1)
        contact = await h.service.db.do(Store.contact, call.linkedid)
        assert contact.transferred_to is None and contact.agent_id == h.agents[0].id
        assert not [c for c in h.simulator.pbx.channels.values() if c.call is call]
    finally:
        await h.stop()
