"""Declarative IVR flows over real FastAGI: the simulator's scripted callers walk the lab
flows (``tests/ivr/flows``) and the server must reach the conclusion the pure runner
reaches for the same case (``tests/ivr/cases.py``)."""

from __future__ import annotations

import json
import re

import pytest_twisted
from twisted.internet import reactor
from twisted.logger import formatEvent, globalLogPublisher

from callcenter.simulator import CallerScript
from crm_store.store import Store
from tests.integration.harness import CallCenterHarness, as_deferred, until
from tests.ivr import cases as C

# Every lab case runs end to end, hang-ups and PINs included. The estimated-wait
# condition reads the router's real estimate, so a case that depends on a long wait
# is left to the runner tests (test_ivr_nodes.py drives both branches for real).
PLAYABLE = [c for c in C.CASES if all(w < 60 for w in c.waits.values())]
PINS = set(C.FakeCRM().pins.values())


def seed_lab_customers(store: Store) -> None:
    phones = {C.ALICE.name: C.KNOWN, C.VERA.name: C.VIP}
    for customer in (C.ALICE, C.VERA, C.GORDON):
        store.add_customer(name=customer.name, tier=customer.tier,
                           account_number=customer.account_number,
                           phones=[phones[customer.name]] if customer.name in phones else [])
    for account, pin in C.FakeCRM().pins.items():
        store.set_account_pin(account, pin)


@pytest_twisted.ensureDeferred
async def test_every_playable_flow_case_over_fastagi_reaches_the_runners_conclusion(tmp_path):
    assert any(c.hangup_at for c in PLAYABLE) and any("PIN" in c.name for c in PLAYABLE)
    logged = []
    globalLogPublisher.addObserver(logged.append)
    flows = {c.flows for c in PLAYABLE}
    assert len(flows) == 1
    h = CallCenterHarness(reactor, tmp_path, agents=4, customers=0,
                          ivr={"flows": [str(flows.pop())]},
                          skills="sales:3,support:3,billing:3,vip:3")
    seed_lab_customers(h.store)
    await h.start()
    try:
        for i in range(1, 5):
            console = await h.console(f"agent{i}")
            await as_deferred(console.client.command("ready"))
        placed = [(case, h.simulator.place_call(CallerScript(
            number=case.number, dnis=case.dnis, digits=case.digits, hangup_at=case.hangup_at)))
            for case in PLAYABLE]
        for _, call in placed:
            await call.ended
        await until(reactor, lambda: h.center.counters["calls_ended"] >= len(placed),
                    what="every call's end")
        await h.contacts_closed(len(placed))
        problems = []
        for case, call in placed:
            expected, _, _ = C.run_case(case)
            contact = await h.service.db.do(Store.contact, call.linkedid)
            steps = [s["step"] for s in contact.ivr]
            want = [s["step"] for s in expected.path]
            if steps != want:
                problems.append(f"{case.name}: path {steps} != {want}")
            if (contact.queue or None) != expected.queue:
                problems.append(f"{case.name}: queue {contact.queue!r} != {expected.queue!r}")
            if expected.queue is not None and contact.outcome != "answered":
                problems.append(f"{case.name}: outcome {contact.outcome}")
            if case.hangup_at is not None:
                last = contact.ivr[-1] if contact.ivr else {}
                if contact.outcome != "abandoned_in_ivr" or last.get("node") != expected.node:
                    problems.append(f"{case.name}: {contact.outcome}, last step {last}")
            shown = json.dumps([(s.get("input"), s.get("label")) for s in contact.ivr])
            if any(pin in shown for pin in PINS):
                problems.append(f"{case.name}: a PIN is in the IVR path")
        assert problems == []
    finally:
        await h.stop()
        globalLogPublisher.removeObserver(logged.append)
    assert logged
    text = "\n".join((formatEvent(e) or "") + repr(
        {k: v for k, v in e.items() if k not in ("log_time", "log_logger", "log_source")})
        for e in logged)
    assert not [pin for pin in PINS if re.search(rf"(?<!\d){pin}(?!\d)", text)]
