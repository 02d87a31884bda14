"""Waiting callers and queued callbacks over loopback against the simulator: position
and wait announcements in the AGI stream, the callback key, the original contact
closed as callback_requested, the agent-first Originate, retries and giving up."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest_twisted
from twisted.internet import reactor, task

from callcenter.simulator import CallerScript, PhoneBehaviour
from crm_store.store import Store
from tests.integration.harness import CallCenterHarness, as_deferred, until

ADA = "5551234567"
ADA_E164 = "+15551234567"
WAITING = {"announce_every": 1, "announce_position": True, "announce_wait": True,
           "callback_offer": True, "callback_retry_seconds": 0.5}


def callback_script(**kw) -> CallerScript:
    digits = {"custom/menu": "2", "custom/callback-offer": "1", "custom/callback-confirm": "1"}
    return CallerScript(number=ADA, digits=digits, digit_delay=0.01, **kw)


class AgiLog:
    """Every FastAGI command the simulated PBX ran (its AMI ``AGIExecStart``)."""

    def __init__(self, pbx):
        self.commands: list[tuple[str, str]] = []  # (channel, command)
        pbx.listeners.append(self._heard)

    def _heard(self, headers) -> None:
        values = dict(headers)
        if values.get("Event") == "AGIExecStart":
            self.commands.append((values.get("Channel", ""), values.get("Command", "")))

    def said_to(self, call) -> list[str]:
        """What the caller of ``call`` heard, music and polling left out."""
        return [c for channel, c in self.commands if channel == call.trunk.name
                and not c.startswith(("WAIT FOR DIGIT", "SET MUSIC"))]


async def start(tmp_path, **routing):
    h = CallCenterHarness(reactor, tmp_path, **{**WAITING, **routing})
    await h.start()
    # The agent's phone rings 0.2 s; they talk until the customer hangs up.
    h.simulator.set_phone("1001", PhoneBehaviour("1001", answer_after=0.2, talk_seconds=None))
    return h


@pytest_twisted.ensureDeferred
async def test_waiting_callers_hear_their_position_and_the_estimated_wait(tmp_path):
    h = CallCenterHarness(reactor, tmp_path, announce_every=1, announce_position=True,
                          announce_wait=True)
    await h.start()
    try:
        h.simulator.set_phone("1001", PhoneBehaviour("1001", answer_after=0.1,
                                                     talk_seconds=8.0))
        agi = AgiLog(h.simulator.pbx)
        console = await h.console("agent1")
        await as_deferred(console.client.command("ready"))
        talking = h.simulator.place_call(CallerScript(number=ADA, digits={0: "2"}))
        await until(reactor, lambda: h.center.router.agent("1").state.value == "on_call",
                    what="the agent on a call")
        second = h.simulator.place_call(CallerScript(number="2125550101", digits={0: "2"},
                                                     patience=4.0))
        third = h.simulator.place_call(CallerScript(number="2125550102", digits={0: "2"},
                                                    patience=4.0))
        await second.ended
        await third.ended
        first, said = agi.said_to(second), agi.said_to(third)
        # Second in line: one call ahead; with one agent busy and the default handle
        # time (180 s), about 3 minutes for the first, 6 for the second.
        assert first[3:8] == [
            'STREAM FILE queue-youarenext ""', 'STREAM FILE queue-holdtime ""',
            'SAY NUMBER 3 ""', 'STREAM FILE queue-minutes ""',
            'STREAM FILE queue-youarenext ""'], first
        assert said[3:9] == [
            'STREAM FILE queue-thereare ""', 'SAY NUMBER 1 ""',
            'STREAM FILE queue-callswaiting ""', 'STREAM FILE queue-holdtime ""',
            'SAY NUMBER 6 ""', 'STREAM FILE queue-minutes ""'], said
        assert not any("callback" in c for c in first + said)
        await talking.ended
    finally:
        await h.stop()


async def request_callback(h):
    """A caller waits (nobody ready), hears the announcements, presses 1 and confirms."""
    agi = AgiLog(h.simulator.pbx)
    call = h.simulator.place_call(callback_script(patience=20.0))
    await call.ended
    original = await h.contact_closed(call.linkedid)
    return call, original, agi


def callback_pops(console):
    return [p for p in console.of_type("pop") if p.get("kind") == "callback"]


@pytest_twisted.ensureDeferred
async def test_callback_requested_then_placed_agent_first_and_logged(tmp_path):
    h = await start(tmp_path)
    try:
        h.simulator.set_customer_phone(ADA_E164, answer_after=0.2, talk_seconds=0.5)
        console = await h.console("agent1")
        call, original, agi = await request_callback(h)
        assert original.outcome == "callback_requested"
        assert original.queue == "support"
        # First in line (nobody staffed: no wait estimate), the offer, the number said
        # back, the confirmation, the goodbye.
        said = agi.said_to(call)
        assert said[3:] == [
            "STREAM FILE queue-youarenext 1", "STREAM FILE custom/callback-offer 1",
            'STREAM FILE custom/callback-number ""', 'SAY DIGITS 5551234567 ""',
            "GET DATA custom/callback-confirm 5000 1", 'STREAM FILE custom/callback-registered ""',
            "HANGUP"], said
        assert h.center.counters["calls_abandoned"] == 0

        await as_deferred(console.client.command("ready"))
        await until(reactor, lambda: callback_pops(console), what="the callback pop")
        pop = callback_pops(console)[0]
        assert pop["parent_call_id"] == call.linkedid
        assert pop["customer"]["name"] == "Ada Lovelace"
        assert pop["caller_number"] == ADA_E164
        assert pop["wait_s"] >= 0
        callback_id = pop["call_id"]
        await until(reactor, lambda: h.simulator.pbx.customer_phones[ADA_E164].rung == 1,
                    what="the customer's phone rung")
        originate = h.simulator.originates[-1]
        assert originate["Channel"] == "Local/1001@agents/n"  # the agent first
        assert (originate["Context"], originate["Exten"]) == ("outbound", ADA_E164)

        contact = await h.contact_closed(callback_id)
        assert contact.direction == "callback"
        assert contact.parent_call_id == call.linkedid
        assert contact.outcome == "answered"
        assert contact.agent_id == h.agents[0].id
        assert contact.customer_id == pop["customer"]["id"]
        assert contact.talk_s > 0
        states = [m["state"] for m in console.of_type("call") if m["call_id"] == callback_id]
        assert "talking" in states and states[-1] == "ended"
        assert h.center.router.agent("1").calls_handled == 1
        assert callback_id not in h.center.router.waiting
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_customer_busy_then_answers_on_the_retry(tmp_path):
    h = await start(tmp_path, callback_attempts=3)
    try:
        phone = h.simulator.set_customer_phone(ADA_E164, busy=True)
        console = await h.console("agent1")
        await request_callback(h)
        await as_deferred(console.client.command("ready"))
        await until(reactor, lambda: phone.rung == 1, what="the first attempt")
        callback_id = callback_pops(console)[0]["call_id"]
        # The agent is freed (ready, not RONA) and the callback is parked.
        await until(reactor, lambda: h.center.router.agent("1").state.value == "ready",
                    what="the agent freed")
        assert h.center.router.waiting[callback_id].attempts == 1
        phone.busy = False
        phone.answer_after, phone.talk_seconds = 0.2, 0.4
        contact = await h.contact_closed(callback_id)
        assert phone.rung == 2
        assert contact.outcome == "answered" and contact.direction == "callback"
        assert [p["attempt"] for p in callback_pops(console)] == [1, 2]
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_every_attempt_fails_and_the_callback_is_given_up(tmp_path):
    h = await start(tmp_path, callback_attempts=2)
    try:
        phone = h.simulator.set_customer_phone(ADA_E164, answer_after=None,
                                               no_answer_after=0.3)
        console = await h.console("agent1")
        await request_callback(h)
        await as_deferred(console.client.command("ready"))
        await until(reactor, lambda: len(callback_pops(console)) == 2, what="two attempts")
        callback_id = callback_pops(console)[0]["call_id"]
        contact = await h.contact_closed(callback_id)
        assert contact.outcome == "callback_failed"
        assert contact.answered_at is None
        assert phone.rung == 2
        assert callback_id not in h.center.router.waiting
        await until(reactor, lambda: h.center.router.agent("1").state.value == "ready",
                    what="the agent ready again")
        assert h.center.router.agent("1").reason == ""
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_agent_not_answering_a_callback_is_rona_and_the_callback_waits(tmp_path):
    h = await start(tmp_path)
    try:
        h.simulator.set_phone("1001", PhoneBehaviour("1001", mode="noanswer"))
        phone = h.simulator.set_customer_phone(ADA_E164)
        console = await h.console("agent1")
        await request_callback(h)
        await as_deferred(console.client.command("ready"))
        await until(reactor, lambda: h.center.router.agent("1").reason == "RONA",
                    timeout=15.0, what="RONA")
        callback_id = callback_pops(console)[0]["call_id"]
        assert h.center.router.waiting[callback_id].attempts == 0
        assert h.center.router.position(callback_id) == 1
        assert phone.rung == 0
    finally:
        await h.stop()


# ------------------------------------------------- kept across restarts, scheduled


async def callback_row(h, predicate, what):
    """Poll the store until one callback row satisfies ``predicate``."""
    for _ in range(200):
        rows = [await h.service.db.do(Store.callback, r.call_id)
                for r in await h.service.db.do(Store.pending_callbacks)]
        found = [r for r in rows if predicate(r)]
        if found:
            return found[0]
        await task.deferLater(reactor, 0.05, lambda: None)
    raise AssertionError(f"no callback {what}")


@pytest_twisted.ensureDeferred
async def test_callback_requested_before_a_restart_is_placed_by_the_new_server(tmp_path):
    h = await start(tmp_path)
    try:
        call, original, _ = await request_callback(h)
        assert original.outcome == "callback_requested"
        row = await callback_row(h, lambda r: r.status == "pending", "pending")
        assert (row.parent_call_id, row.number, row.queue, row.attempts, row.due_at) == (
            call.linkedid, ADA_E164, "support", 0, None)

        await h.restart()
        center = h.center
        assert center is not None and center.outbound.callbacks.keys() == {row.call_id}
        waiting = center.router.waiting[row.call_id]
        assert waiting.callback and waiting.queued_at == row.queued_at
        h.simulator.set_phone("1001", PhoneBehaviour("1001", answer_after=0.2,
                                                     talk_seconds=None))
        phone = h.simulator.set_customer_phone(ADA_E164, answer_after=0.2, talk_seconds=0.5)
        console = await h.console("agent1")
        await as_deferred(console.client.command("ready"))
        await until(reactor, lambda: callback_pops(console), what="the callback pop")
        pop = callback_pops(console)[0]
        assert (pop["call_id"], pop["parent_call_id"], pop["scheduled"]) == (
            row.call_id, call.linkedid, None)
        assert pop["customer"]["name"] == "Ada Lovelace"
        contact = await h.contact_closed(row.call_id)
        assert (contact.direction, contact.outcome, phone.rung) == ("callback", "answered", 1)
        done = await h.service.db.do(Store.callback, row.call_id)
        assert (done.status, done.last_result) == ("done", "ANSWER")
        await h.contacts_closed(2)
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_callback_dialling_when_the_server_stopped_is_retried_after_restart(tmp_path):
    h = await start(tmp_path, callback_attempts=3)
    try:
        # The customer's phone rings on and on: the attempt is under way at the stop.
        phone = h.simulator.set_customer_phone(ADA_E164, answer_after=None,
                                               no_answer_after=30.0)
        console = await h.console("agent1")
        await request_callback(h)
        await as_deferred(console.client.command("ready"))
        await until(reactor, lambda: phone.rung == 1, what="the first attempt")
        row = await callback_row(h, lambda r: r.status == "dialling", "dialling")

        await h.restart()
        center = h.center
        # That attempt counts as not answered: parked for the retry delay.
        assert center.router.waiting[row.call_id].attempts == 1
        assert center.router.waiting[row.call_id].parked
        restored = await h.service.db.do(Store.callback, row.call_id)
        assert (restored.status, restored.attempts, restored.last_result) == (
            "pending", 1, "interrupted")
        assert restored.due_at is not None
        h.simulator.set_phone("1001", PhoneBehaviour("1001", answer_after=0.2,
                                                     talk_seconds=None))
        phone = h.simulator.set_customer_phone(ADA_E164, answer_after=0.2, talk_seconds=0.5)
        console = await h.console("agent1")
        await as_deferred(console.client.command("ready"))
        contact = await h.contact_closed(row.call_id)
        assert (contact.outcome, phone.rung) == ("answered", 1)
        assert [p["attempt"] for p in callback_pops(console)] == [2]
        done = await h.service.db.do(Store.callback, row.call_id)
        assert (done.status, done.attempts) == ("done", 1)
    finally:
        await h.stop()


def iso_in(seconds: float) -> str:
    return datetime.fromtimestamp(time.time() + seconds, UTC).isoformat()


@pytest_twisted.ensureDeferred
async def test_callback_scheduled_at_wrapup_is_placed_when_due(tmp_path):
    h = await start(tmp_path, callback_priority=5)
    try:
        console = await h.console("agent1")
        await as_deferred(console.client.command("ready"))
        call = h.simulator.place_call(CallerScript(number=ADA, digits={0: "2"},
                                                   talk_hangup_after=0.3))
        await call.ended
        await h.contact_closed(call.linkedid)
        center = h.center
        # Saved with a callback in a minute, then again with one in 2 s: it replaces it.
        first = await as_deferred(console.client.command(
            "wrapup", call_id=call.linkedid, disposition="follow-up", notes="first try",
            callback={"at": iso_in(60), "number": ""}))
        assert first["ok"] is True
        earlier = await callback_row(h, lambda r: r.notes == "first try", "scheduled")
        await as_deferred(console.client.command(
            "wrapup", call_id=call.linkedid, disposition="follow-up",
            notes="call back about the invoice", callback={"at": iso_in(2), "number": ""}))
        row = await callback_row(h, lambda r: r.notes == "call back about the invoice",
                                 "rescheduled")
        assert (await h.service.db.do(Store.callback, earlier.call_id)).status == "cancelled"
        assert (row.parent_call_id, row.number, row.queue, row.priority, row.scheduled_by) == (
            call.linkedid, ADA_E164, "support", 5, h.agents[0].id)
        assert row.customer_id is not None and row.due_at == row.queued_at
        # Not in the queue before its time; no contact yet.
        assert row.call_id not in center.router.waiting
        assert earlier.call_id not in center.outbound.callbacks
        assert await h.service.db.do(Store.contact, row.call_id) is None

        phone = h.simulator.set_customer_phone(ADA_E164, answer_after=0.2, talk_seconds=0.5)
        await until(reactor, lambda: callback_pops(console), timeout=15.0,
                    what="the scheduled callback's pop")
        pop = callback_pops(console)[0]
        assert pop["call_id"] == row.call_id and pop["parent_call_id"] == call.linkedid
        assert pop["scheduled"] == {"by": "Agent 1", "at": row.due_at,
                                    "notes": "call back about the invoice"}
        assert pop["customer"]["name"] == "Ada Lovelace"
        contact = await h.contact_closed(row.call_id)
        assert (contact.direction, contact.parent_call_id, contact.outcome) == (
            "callback", call.linkedid, "answered")
        assert phone.rung == 1
        assert h.simulator.originates[-1]["Channel"] == "Local/1001@agents/n"
        assert (await h.service.db.do(Store.callback, row.call_id)).status == "done"
    finally:
        await h.stop()
