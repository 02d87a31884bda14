"""Maximum wait with nobody to answer: the caller goes to the queue's overflow (here
voicemail) even though no agent ever logged in, over loopback against the simulator."""

from __future__ import annotations

import pytest_twisted
from twisted.internet import reactor

from callcenter.simulator import CallerScript
from crm_store.store import Store
from tests.integration.harness import CallCenterHarness


@pytest_twisted.ensureDeferred
async def test_a_call_waiting_past_the_maximum_goes_to_voicemail_with_no_agent_logged_in(
        tmp_path):
    queues = [{"name": "sales", "wrapup_seconds": 0.2, "max_wait_seconds": 1.5,
               "overflow": "voicemail:500"},
              {"name": "support", "wrapup_seconds": 0.2}]
    h = CallCenterHarness(reactor, tmp_path, queues=queues)
    await h.start()
    try:
        call = h.simulator.place_call(CallerScript(number="5551234567", digits={0: "1"},
                                                   patience=30.0))
        await call.ended
        await h.contacts_closed(1)
        contact = await h.service.db.do(Store.contact, call.linkedid)
        assert contact.queue == "sales"
        assert contact.outcome == "voicemail"
        assert contact.answered_at is None
        assert 1.5 <= contact.ended_at - contact.queued_at < 25  # left at max wait, not patience
    finally:
        await h.stop()
