"""Declarative IVR flows over real FastAGI: the simulator's scripted callers walk the lab
flows (``tests/ivr/flows``) and the server must reach the conclusion the pure runner
reaches for the same case (``tests/ivr/cases.py``)."""

from __future__ import annotations

import pytest_twisted
from twisted.internet import reactor

from callcenter.simulator import CallerScript
from crm_store.store import Store
from tests.integration.harness import CallCenterHarness, as_deferred, until
from tests.ivr import cases as C

# Cases the simulator can play end to end today: no hang-up points in its scripts yet,
# no PIN check in the store yet, and the estimated-wait condition needs the routing
# engine's estimate (a case that depends on a long wait is left to the runner tests).
PLAYABLE = [c for c in C.CASES
            if c.hangup_at is None and "PIN" not in c.name
            and all(w < 60 for w in c.waits.values())]


def seed_lab_customers(store: Store) -> None:
    phones = {C.ALICE.name: C.KNOWN, C.VERA.name: C.VIP}
    for customer in (C.ALICE, C.VERA, C.GORDON):
        store.add_customer(name=customer.name, tier=customer.tier,
                           account_number=customer.account_number,
                           phones=[phones[customer.name]] if customer.name in phones else [])


@pytest_twisted.ensureDeferred
async def test_every_playable_flow_case_over_fastagi_reaches_the_runners_conclusion(tmp_path):
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
            number=case.number, dnis=case.dnis, digits=case.digits))) for case in PLAYABLE]
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
        assert problems == []
    finally:
        await h.stop()
