"""Live-call controls from the console, over loopback against the simulated PBX: each
command's AMI action reaches the PBX, the PBX's events come back, and the console is
pushed the state those events show. The caller is never hung up by us."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor

from agent_ui.backend import CommandRejected
from callcenter.simulator import CallerScript, PhoneBehaviour
from crm_store.store import Store
from tests.integration.harness import CallCenterHarness, as_deferred, until

ADA = "5551234567"


def phones(n: int) -> dict:
    """Agents' phones answer quickly and stay on the line until hung up."""
    return {str(1000 + i): PhoneBehaviour(str(1000 + i), answer_after=0.2, talk_seconds=None)
            for i in range(1, n + 1)}


class Recorder:
    """What the simulated PBX emitted and received, for assertions."""

    def __init__(self, h: CallCenterHarness) -> None:
        self.events: list[dict] = []
        self.h = h
        h.simulator.pbx.listeners.append(lambda headers: self.events.append(dict(headers)))

    def actions(self, name: str) -> list:
        return [m for m in self.h.simulator.factory.actions if m.get("Action") == name]

    def named(self, event: str, **headers) -> list[dict]:
        return [e for e in self.events if e.get("Event") == event
                and all(e.get(k) == v for k, v in headers.items())]


async def start(tmp_path, agents: int = 1) -> tuple[CallCenterHarness, Recorder]:
    h = CallCenterHarness(reactor, tmp_path, agents=agents, phones=phones(agents))
    await h.start()
    return h, Recorder(h)


def last_call(console) -> dict:
    calls = console.of_type("call")
    return calls[-1] if calls else {}


async def talking(console, what: str = "talking"):
    await until(reactor, lambda: last_call(console).get("state") == "talking", what=what)
    return last_call(console)


async def command(console, command_name: str, /, **args):
    return await as_deferred(console.client.command(command_name, **args))


def caller_hangups_by_us(rec: Recorder, call) -> list:
    """AMI Hangup actions that named one of the caller's channels."""
    names = {call.caller.name, call.trunk.name}
    return [m for m in rec.actions("Hangup") if m.get("Channel") in names]


async def agent_hangs_up(h, console, call):
    await command(console, "hangup")
    await call.ended
    assert call.outcome == "answered"


@pytest_twisted.ensureDeferred
async def test_hold_then_resume_reflects_moh_and_bridge_events(tmp_path):
    h, rec = await start(tmp_path)
    try:
        console = await h.console("agent1")
        await command(console, "ready")
        call = h.simulator.place_call(CallerScript(number=ADA, digits={0: "1"}))
        talk = await talking(console)
        assert talk["held"] is False and talk["recording"] is False
        assert talk["consult"] is None and talk["transferred_to"] is None
        agent_leg = h.center._agent_channels["1"]

        await command(console, "hold")
        await until(reactor, lambda: last_call(console).get("state") == "held", what="held")
        assert last_call(console)["held"] is True
        (redirect,) = rec.actions("Redirect")
        assert (redirect["Channel"], redirect["Context"], redirect["Exten"]) == (
            agent_leg, "cc-hold", "s")
        assert rec.named("BridgeLeave", Channel=agent_leg)
        assert rec.named("MusicOnHoldStart", Channel=call.trunk.name)
        await until(reactor, lambda: any(m["state"] == "on_hold"
                                         for m in console.of_type("agent_state")),
                    what="agent on hold")
        assert h.center.snapshot("1")["call"]["state"] == "held"
        with pytest.raises(CommandRejected, match="on hold"):
            await command(console, "dtmf", digits="1")

        await command(console, "resume")
        await talking(console, "talking again")
        assert last_call(console)["held"] is False
        assert len(rec.named("BridgeEnter", Channel=agent_leg)) == 2
        assert rec.named("MusicOnHoldStop", Channel=call.trunk.name)
        assert h.center.router.agents["1"].state.value == "on_call"

        await agent_hangs_up(h, console, call)
        assert caller_hangups_by_us(rec, call) == []
        await h.contacts_closed(1)
        contact = await h.service.db.do(Store.contact, call.linkedid)
        assert contact.outcome == "answered" and contact.agent_id == h.agents[0].id
        assert contact.transferred_to is None
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_hang_up_while_the_caller_is_held(tmp_path):
    h, rec = await start(tmp_path)
    try:
        console = await h.console("agent1")
        await command(console, "ready")
        call = h.simulator.place_call(CallerScript(number=ADA, digits={0: "1"}))
        await talking(console)
        await command(console, "hold")
        await until(reactor, lambda: last_call(console).get("state") == "held", what="held")
        await agent_hangs_up(h, console, call)
        assert caller_hangups_by_us(rec, call) == []
        await until(reactor, lambda: last_call(console).get("state") == "ended", what="ended")
    finally:
        await h.stop()


async def transfer_setup(tmp_path, agents: int = 2):
    h, rec = await start(tmp_path, agents=agents)
    first = await h.console("agent1")
    await command(first, "ready")
    call = h.simulator.place_call(CallerScript(number=ADA, digits={0: "1"}))
    await talking(first)
    second = await h.console("agent2") if agents > 1 else None
    if second is not None:
        await command(second, "ready")
    return h, rec, call, first, second


@pytest_twisted.ensureDeferred
async def test_blind_transfer_to_a_queue_reenters_routing_and_stays_one_contact(tmp_path):
    h, rec, call, first, second = await transfer_setup(tmp_path)
    try:
        await command(first, "transfer", to="queue", target="support")
        (sent,) = rec.actions("BlindTransfer")
        assert (sent["Context"], sent["Exten"]) == ("cc-transfer", "queue-support")
        await until(reactor, lambda: last_call(first).get("state") == "transferred",
                    what="transferred")
        assert last_call(first)["transferred_to"] == "queue:support"
        assert rec.named("BlindTransfer", Result="Success")
        await talking(second, "second agent talking")
        assert second.of_type("pop")[-1]["call_id"] == call.linkedid
        await until(reactor, lambda: h.center.router.agents["1"].state.value
                    in ("wrap_up", "ready"), what="first agent released")
        assert h.center.router.agents["2"].state.value == "on_call"

        await agent_hangs_up(h, second, call)
        assert caller_hangups_by_us(rec, call) == []
        await h.contacts_closed(1)
        contact = await h.service.db.do(Store.contact, call.linkedid)
        assert await h.service.db.do(Store.count_contacts, since=contact.arrived_at) == 1
        assert contact.transferred_to == "queue:support"
        assert contact.agent_id == h.agents[1].id
        assert contact.queue == "support"
        assert contact.outcome == "answered"
        assert contact.queued_at <= contact.offered_at <= contact.answered_at
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_blind_transfer_to_an_agent_rings_their_phone(tmp_path):
    h, rec, call, first, second = await transfer_setup(tmp_path)
    try:
        with pytest.raises(CommandRejected, match="yourself"):
            await command(first, "transfer", to="agent", target="agent1")
        with pytest.raises(CommandRejected, match="unknown agent"):
            await command(first, "transfer", to="agent", target="nobody")
        await command(first, "transfer", to="agent", target="agent2")
        (sent,) = rec.actions("BlindTransfer")
        assert (sent["Context"], sent["Exten"]) == ("cc-transfer", "agent-1002")
        await talking(second, "second agent talking")
        assert last_call(first)["state"] == "transferred"
        assert last_call(first)["transferred_to"] == "agent2"
        assert h.center.router.agents["2"].state.value == "on_call"
        assert second.of_type("pop")

        await agent_hangs_up(h, second, call)
        assert caller_hangups_by_us(rec, call) == []
        await h.contacts_closed(1)
        contact = await h.service.db.do(Store.contact, call.linkedid)
        assert await h.service.db.do(Store.count_contacts, since=contact.arrived_at) == 1
        assert (contact.transferred_to, contact.agent_id) == ("agent2", h.agents[1].id)
        # The agent who transferred the call wraps it up too.
        reply = await command(first, "wrapup", call_id=call.linkedid,
                              disposition="escalated", notes="passed to agent2")
        assert reply["ok"] is True
        contact = await h.service.db.do(Store.contact, call.linkedid)
        assert (contact.disposition, contact.notes) == ("escalated", "passed to agent2")
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_blind_transfer_to_a_number_dials_out_and_frees_the_agent(tmp_path):
    h, rec, call, first, _ = await transfer_setup(tmp_path, agents=1)
    try:
        with pytest.raises(CommandRejected, match="not a phone number"):
            await command(first, "transfer", to="number", target="12ab")
        await command(first, "transfer", to="number", target="+1 555 000 1111")
        (sent,) = rec.actions("BlindTransfer")
        assert (sent["Context"], sent["Exten"]) == ("outbound", "+15550001111")
        await until(reactor, lambda: last_call(first).get("state") == "transferred",
                    what="transferred")
        await until(reactor, lambda: rec.named("DialEnd", DialStatus="ANSWER",
                                               DestExten="+15550001111"),
                    what="external party answered")
        await until(reactor, lambda: h.center.router.agents["1"].state.value
                    in ("wrap_up", "ready"), what="agent released")
        h.simulator.pbx.caller_hangs_up(call)
        await call.ended
        assert caller_hangups_by_us(rec, call) == []
        await h.contacts_closed(1)
        contact = await h.service.db.do(Store.contact, call.linkedid)
        assert contact.transferred_to == "+15550001111"
        assert contact.agent_id == h.agents[0].id and contact.outcome == "answered"
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_dtmf_is_played_through_the_agent_leg_and_shown(tmp_path):
    h, rec = await start(tmp_path)
    try:
        console = await h.console("agent1")
        await command(console, "ready")
        call = h.simulator.place_call(CallerScript(number=ADA, digits={0: "1"}))
        await talking(console)
        agent_leg = h.center._agent_channels["1"]
        with pytest.raises(CommandRejected, match="digits"):
            await command(console, "dtmf", digits="12a")
        await command(console, "dtmf", digits="1#")
        sent = rec.actions("PlayDTMF")
        assert [(m["Channel"], m["Digit"], m["Receive"]) for m in sent] == [
            (agent_leg, "1", "true"), (agent_leg, "#", "true")]
        await until(reactor, lambda: last_call(console).get("dtmf") == "1#", what="dtmf shown")
        assert [e["Digit"] for e in rec.named("DTMFEnd", Channel=call.trunk.name,
                                               Direction="Sent")] == ["1", "#"]
        await agent_hangs_up(h, console, call)
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_recording_refused_unless_the_queue_allows_it(tmp_path):
    h, rec = await start(tmp_path)
    try:
        console = await h.console("agent1")
        await command(console, "ready")
        call = h.simulator.place_call(CallerScript(number=ADA, digits={0: "1"}))
        await talking(console)
        with pytest.raises(CommandRejected, match="recording is not allowed in queue sales"):
            await command(console, "record_start")
        assert rec.actions("MixMonitor") == []

        queues = tuple(q.model_copy(update={"recording": True}) for q in h.settings.queues)
        h.center.settings = h.settings.model_copy(update={"queues": queues})
        await command(console, "record_start")
        await until(reactor, lambda: last_call(console).get("recording") is True,
                    what="recording shown")
        agent_leg = h.center._agent_channels["1"]
        assert rec.named("MixMonitorStart", Channel=agent_leg)
        with pytest.raises(CommandRejected, match="already"):
            await command(console, "record_start")
        await command(console, "record_stop")
        await until(reactor, lambda: last_call(console).get("recording") is False,
                    what="recording stopped")
        assert rec.named("MixMonitorStop", Channel=agent_leg)
        await agent_hangs_up(h, console, call)
    finally:
        await h.stop()
