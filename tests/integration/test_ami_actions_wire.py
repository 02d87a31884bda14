"""Every typed AMI action of ``callcenter.ami.actions`` over a real loopback socket,
against the simulated Asterisk: the answer it gives and the events it causes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import pytest_twisted
from twisted.internet import reactor, task

from callcenter.ami import actions
from callcenter.ami.codec import Message
from callcenter.ami.errors import AMIActionError
from callcenter.ami.protocol import make_ami_service
from callcenter.simulator import CallerScript, PhoneBehaviour
from callcenter.simulator.pbx import Timings
from callcenter.simulator.service import SimulatorService
from tests.conftest import free_port

POLL = 0.02


class Wire:
    """A simulator and a logged-in AMI client, with the events the client received."""

    def __init__(self) -> None:
        phones = {ext: PhoneBehaviour(ext, answer_after=0.1, talk_seconds=8.0)
                  for ext in ("1001", "1002", "1003", "1004")}
        self.sim = SimulatorService(reactor, ami_port=0, agi_port=free_port(), phones=phones,
                                    timings=Timings(agi_start=0.1, prompt=0.2))
        self.events: list[Message] = []
        self.ami = None

    async def start(self) -> None:
        self.sim.startService()
        await self.sim.whenListening
        self.ami = make_ami_service(
            reactor, "127.0.0.1", self.sim.ami_port, "cti", "cti-secret", auth="md5",
            on_event=self.events.append, on_connected=lambda p: None,
            on_disconnected=lambda p: None, ping_interval=None)
        self.ami.startService()
        await until(lambda: self.ami.current() is not None, "AMI login")

    async def stop(self) -> None:
        if self.ami is not None:
            await self.ami.stopService()
        await self.sim.stopService()
        # let the closing sockets finish on the reactor
        await until(lambda: not self.sim.factory.sessions, "AMI sessions closed")
        assert not self.sim.pbx._timers, "the simulator left timers behind"
        left = [c for c in reactor.getDelayedCalls() if c.active()]
        assert not left, f"delayed calls left behind: {left}"

    async def event(self, name: str, since: int = 0, **headers: str) -> Message:
        """The first event ``name`` (at or after index ``since``) with these headers."""
        def match() -> Message | None:
            for e in self.events[since:]:
                if e.name == name and all(e.get(k) == v for k, v in headers.items()):
                    return e
            return None

        await until(lambda: match() is not None, f"{name} {headers}")
        found = match()
        assert found is not None
        return found

    async def bridged_call(self) -> tuple[str, str]:
        """An inbound call straight into queue ``sales``, answered by an agent:
        (caller's trunk channel, agent's queue leg)."""
        since = len(self.events)
        self.sim.place_call(CallerScript(number="5551230001"), context="inbound-noagi",
                            variables={"QUEUE": "sales"})
        connect = await self.event("AgentConnect", since, Queue="sales")
        trunk, agent = connect.get("Channel"), connect.get("DestChannel")
        assert trunk.startswith("Local/s@inbound-noagi-") and trunk.endswith(";2")
        assert agent.startswith(("Local/1001@agents-", "Local/1002@agents-"))
        return trunk, agent


async def until(predicate: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    deadline = reactor.seconds() + timeout
    while not predicate():
        if reactor.seconds() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await task.deferLater(reactor, POLL, lambda: None)


async def started() -> Wire:
    wire = Wire()
    await wire.start()
    return wire


@pytest_twisted.ensureDeferred
async def test_originate_answered_fires_success_and_unreachable_ones_fail():
    w = await started()
    try:
        answered = await actions.originate(w.ami, "Local/1001@agents/n", application="Wait",
                                           data="1", caller_id='"CTI" <100>', timeout_ms=5000)
        assert answered.name == "OriginateResponse"
        assert answered.get("Response") == "Success" and answered.get("Reason") == "4"
        channel = answered.get("Channel")
        assert channel.startswith("Local/1001@agents-") and channel.endswith(";1")
        await w.event("Hangup", Channel=channel)  # Wait(1) returned

        dialplan = await actions.originate(w.ami, "Local/1002@agents/n", context="transfer",
                                           exten="1003", timeout_ms=5000)
        assert dialplan.get("Response") == "Success" and dialplan.get("Exten") == "1003"
        await w.event("DialBegin", Channel=dialplan.get("Channel"))

        missing = await actions.originate(w.ami, "Local/1999@agents/n", application="Wait",
                                          data="1", timeout_ms=5000)
        assert missing.get("Response") == "Failure" and missing.get("Reason") == "0"

        with pytest.raises(AMIActionError, match="Originate failed"):
            await actions.originate(w.ami, "PJSIP/1001", application="Wait", data="1")

        sync = await actions.originate(w.ami, "Local/1004@agents/n", application="Wait",
                                       data="1", asynchronous=False, timeout_ms=5000)
        assert sync.get("Response") == "Success"
    finally:
        await w.stop()


@pytest_twisted.ensureDeferred
async def test_hangup_of_live_channel_ends_it_and_unknown_channel_fails():
    w = await started()
    try:
        live = await actions.originate(w.ami, "Local/1001@agents/n", application="Wait",
                                       data="30", timeout_ms=5000)
        channel = live.get("Channel")
        assert await actions.hangup(w.ami, channel, cause=16) == [channel]
        await w.event("Hangup", Channel=channel)

        other = await actions.originate(w.ami, "Local/1002@agents/n", application="Wait",
                                        data="30", timeout_ms=5000)
        hung = await actions.hangup(w.ami, "/^Local/1002@agents-/")
        assert other.get("Channel") in hung
        await w.event("Hangup", Channel=other.get("Channel"))

        with pytest.raises(AMIActionError, match="No such channel"):
            await actions.hangup(w.ami, "PJSIP/nobody-00000000")
    finally:
        await w.stop()


@pytest_twisted.ensureDeferred
async def test_setvar_then_getvar_of_global_reads_value_back_and_unset_reads_empty():
    w = await started()
    try:
        await actions.setvar(w.ami, "CC_WIRE_TEST", "forty two")
        await w.event("VarSet", Variable="CC_WIRE_TEST", Value="forty two")
        assert await actions.getvar(w.ami, "CC_WIRE_TEST") == "forty two"
        assert await actions.getvar(w.ami, "CC_NEVER_SET") == ""
        with pytest.raises(AMIActionError, match="No such channel"):
            await actions.getvar(w.ami, "X", channel="Local/none-00000000;1")
    finally:
        await w.stop()


@pytest_twisted.ensureDeferred
async def test_user_event_reaches_the_sending_session_with_its_headers():
    w = await started()
    try:
        result = await actions.user_event(w.ami, "CtiWireCheck", {"Token": "abc", "N": 3})
        assert result.response.get("Response") == "Success"
        event = await w.event("UserEvent", UserEvent="CtiWireCheck")
        assert event.get("Token") == "abc" and event.get("N") == "3"
    finally:
        await w.stop()


@pytest_twisted.ensureDeferred
async def test_queue_add_pause_remove_on_backoffice_emit_member_events():
    w = await started()
    try:
        iface = "Local/1003@agents/n"
        await actions.queue_add(w.ami, "backoffice", iface, member_name="Agent 1003",
                                state_interface="Local/1003@agents", penalty=1)
        added = await w.event("QueueMemberAdded", Queue="backoffice", Interface=iface)
        assert added.get("MemberName") == "Agent 1003" and added.get("Paused") == "0"
        with pytest.raises(AMIActionError, match="Already there"):
            await actions.queue_add(w.ami, "backoffice", iface)

        await actions.queue_pause(w.ami, iface, True, queue="backoffice", reason="lunch")
        paused = await w.event("QueueMemberPause", Queue="backoffice", Interface=iface,
                               Paused="1")
        assert paused.get("PausedReason") == "lunch"
        since = len(w.events)
        await actions.queue_pause(w.ami, iface, False, queue="backoffice")
        await w.event("QueueMemberPause", since, Queue="backoffice", Interface=iface,
                      Paused="0")

        await actions.queue_remove(w.ami, "backoffice", iface)
        await w.event("QueueMemberRemoved", Queue="backoffice", Interface=iface)
        with pytest.raises(AMIActionError, match="Not there"):
            await actions.queue_remove(w.ami, "backoffice", iface)
        with pytest.raises(AMIActionError, match="Not dynamic"):
            await actions.queue_remove(w.ami, "sales", "Local/1001@agents/n")
        with pytest.raises(AMIActionError, match="Interface not found"):
            await actions.queue_pause(w.ami, "Local/1999@agents/n", True)
    finally:
        await w.stop()


@pytest_twisted.ensureDeferred
async def test_core_show_channels_lists_the_live_call_and_command_returns_cli_output():
    w = await started()
    try:
        assert await actions.core_show_channels(w.ami) == []
        trunk, agent = await w.bridged_call()
        channels = await actions.core_show_channels(w.ami)
        by_name = {c.get("Channel"): c for c in channels}
        assert trunk in by_name and agent in by_name
        assert by_name[trunk].get("BridgeId") == by_name[agent].get("BridgeId") != ""

        version = await actions.command(w.ami, "core show version")
        assert version.startswith("Asterisk 22")
        concise = await actions.command(w.ami, "core show channels concise")
        assert trunk in concise
        with pytest.raises(AMIActionError):
            await actions.command(w.ami, "no such thing")
    finally:
        await w.stop()


@pytest_twisted.ensureDeferred
async def test_redirect_of_inbound_trunk_sends_caller_to_agent_1003():
    w = await started()
    try:
        trunk, agent = await w.bridged_call()
        since = len(w.events)
        await actions.redirect(w.ami, trunk, "transfer", "1003", 1)
        await w.event("DialBegin", since, Channel=trunk, DestExten="1003")
        await w.event("DialEnd", since, Channel=trunk, DialStatus="ANSWER")
        with pytest.raises(AMIActionError, match="Redirect failed"):
            await actions.redirect(w.ami, agent, "transfer", "1004")
    finally:
        await w.stop()


@pytest_twisted.ensureDeferred
async def test_blind_transfer_of_agent_leg_sends_caller_to_1003():
    w = await started()
    try:
        trunk, agent = await w.bridged_call()
        since = len(w.events)
        await actions.blind_transfer(w.ami, agent, "1003", "transfer")
        event = await w.event("BlindTransfer", since, TransfererChannel=agent)
        assert event.get("TransfereeChannel") == trunk and event.get("Extension") == "1003"
        await w.event("DialBegin", since, Channel=trunk, DestExten="1003")
        await w.event("DialEnd", since, Channel=trunk, DialStatus="ANSWER")
        with pytest.raises(AMIActionError, match="No such channel"):
            await actions.blind_transfer(w.ami, "Local/none-00000000;1", "1003", "transfer")
    finally:
        await w.stop()


@pytest_twisted.ensureDeferred
async def test_atxfer_of_agent_leg_holds_it_and_dials_1004():
    w = await started()
    try:
        trunk, agent = await w.bridged_call()
        since = len(w.events)
        await actions.atxfer(w.ami, agent, "1004", "transfer")
        await w.event("Hold", since, Channel=agent)
        await w.event("MusicOnHoldStart", since, Channel=trunk)
        # The consult leg (Local/1004@transfer ;2) dials 1004; the caller stays on hold.
        dial = await w.event("DialBegin", since, DestExten="1004")
        assert dial.get("Channel").startswith("Local/1004@transfer-")
    finally:
        await w.stop()


@pytest_twisted.ensureDeferred
async def test_mix_monitor_start_and_stop_on_bridged_channel_emit_events():
    w = await started()
    try:
        _, agent = await w.bridged_call()
        await actions.mix_monitor(w.ami, agent, "wire-test.wav", options="b")
        await w.event("MixMonitorStart", Channel=agent)
        await actions.stop_mix_monitor(w.ami, agent)
        await w.event("MixMonitorStop", Channel=agent)
        with pytest.raises(AMIActionError, match="No such channel"):
            await actions.mix_monitor(w.ami, "Local/none-00000000;1", "x.wav")
    finally:
        await w.stop()
