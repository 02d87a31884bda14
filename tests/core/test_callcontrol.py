"""Call control's pure checks: where a blind transfer goes, which DTMF is accepted."""

from __future__ import annotations

import pytest

from callcenter.callcontrol import (
    Consult,
    ControlError,
    Destination,
    Leg,
    check_digits,
    consult_destination,
    transfer_destination,
)

AGENTS = {"agent1": "1001", "agent2": "1002", "nophone": ""}
QUEUES = {"sales": object(), "support": object()}


def dest(to, target, own="agent1"):
    return transfer_destination(to, target, agents=AGENTS, queues=QUEUES,
                                outbound_context="outbound", own_username=own)


def test_transfer_to_an_agent_dials_their_extension_through_cc_transfer():
    assert dest("agent", " agent2 ") == Destination("cc-transfer", "agent-1002", "agent2")


def test_transfer_to_a_queue_reenters_the_cti_with_the_queue_name():
    assert dest("queue", "support") == Destination("cc-transfer", "queue-support",
                                                   "queue:support")


@pytest.mark.parametrize("typed, number", [("+1 (555) 000-1111", "+15550001111"),
                                           ("0800.123.456", "0800123456")])
def test_transfer_to_a_number_goes_out_with_separators_removed(typed, number):
    assert dest("number", typed) == Destination("outbound", number, number)


@pytest.mark.parametrize("to, target, message", [
    ("agent", "agent1", "yourself"),
    ("agent", "nobody", "unknown agent"),
    ("agent", "nophone", "unknown agent"),
    ("queue", "billing", "unknown queue"),
    ("number", "12ab", "not a phone number"),
    ("number", "1", "not a phone number"),
    ("number", "5551234;x", "not a phone number"),
    ("fax", "x", "agent, queue or number"),
    (None, "", "agent, queue or number"),
])
def test_transfer_destination_refuses_what_cannot_be_dialled(to, target, message):
    with pytest.raises(ControlError, match=message):
        dest(to, target)


@pytest.mark.parametrize("digits", ["1", "0123456789*#", "#" * 32])
def test_dtmf_digits_accepted(digits):
    assert check_digits(digits) == digits


@pytest.mark.parametrize("digits", ["", None, "12a", "1 2", "A", "#" * 33, "1\n"])
def test_dtmf_digits_refused(digits):
    with pytest.raises(ControlError):
        check_digits(digits)


def test_a_fresh_leg_shows_no_control_state():
    assert Leg("1", "c", "Local/1001@agents-00000001;1").fields() == {
        "held": False, "recording": False, "consult": None, "conference": False,
        "transferred_to": None, "dtmf": ""}


def consult(to, target, own="agent1"):
    return consult_destination(to, target, agents=AGENTS, outbound_context="outbound",
                               own_username=own)


def test_consulting_an_agent_dials_them_through_cc_consult():
    assert consult("agent", "agent2") == Destination("cc-consult", "agent-1002", "agent2")


def test_consulting_a_number_goes_out_through_the_outbound_context():
    assert consult("number", "+1 (555) 000-1111") == Destination(
        "outbound", "+15550001111", "+15550001111")


@pytest.mark.parametrize("to,target,message", [
    ("queue", "sales", "must be agent or number"),
    ("agent", "agent1", "yourself"),
    ("agent", "nophone", "unknown agent"),
    ("number", "12ab", "not a phone number"),
])
def test_consult_refusals_say_why(to, target, message):
    with pytest.raises(ControlError, match=message):
        consult(to, target)


def test_console_state_of_a_leg_follows_hold_consult_and_conference():
    leg = Leg("1", "c1", "Local/1001@agents-00000001;1")
    assert leg.state() == "talking" and leg.fields()["consult"] is None
    leg.consult = Consult("agent2", "cc-consult", "agent-1002", "2")
    assert leg.state() == "talking" and leg.fields()["consult"] is None  # asked, not seen
    leg.consult.state = "dialing"
    assert leg.state() == "consulting"
    assert leg.fields()["consult"] == {"state": "dialing", "target": "agent2"}
    leg.conference = True
    assert leg.state() == "conference" and leg.fields()["conference"] is True
    leg.consult, leg.conference, leg.returning = None, False, True
    assert leg.state() == "consulting"  # until the leg is back in the caller's bridge
    leg.returning = False
    leg.held = True
    assert leg.state() == "held"
