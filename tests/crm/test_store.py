"""The store facade: customers, caller lookup, the contact log, agents."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from datetime import UTC

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from crm_store import (
    ContactNotFound,
    ContactRecord,
    NotContactAgent,
    Store,
    make_engine,
)
from crm_store.models import Agent, Contact
from crm_store.store import account_number_for

T0 = 1_795_000_000.0  # a call's arrival time in these tests


def add_ada(store: Store, **overrides) -> int:
    values = {
        "name": "Ada Lovelace",
        "company": "Analytical Engines Ltd",
        "tier": "vip",
        "account_number": "1815-1210-00",
        "phones": ["+1 (555) 123-4567", ("+44 20 7946 0958", "work")],
    }
    values.update(overrides)
    return store.add_customer(**values)


# --------------------------------------------------------------------------- engine


def test_sqlite_engine_creates_the_directory_and_turns_on_wal_and_foreign_keys(tmp_path):
    path = tmp_path / "deep" / "er" / "crm.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert path.parent.is_dir()
    finally:
        engine.dispose()


def test_in_memory_sqlite_is_one_database_shared_by_every_thread():
    engine = make_engine("sqlite://")
    store = Store(engine)
    store.create_schema()
    add_ada(store)
    seen: list[int] = []
    worker = threading.Thread(target=lambda: seen.append(store.count_customers()))
    worker.start()
    worker.join()
    engine.dispose()
    assert seen == [1]


def test_create_schema_twice_keeps_the_data(store):
    add_ada(store)
    store.create_schema()
    assert store.count_customers() == 1


# --------------------------------------------------------------------------- customers


def test_added_customer_reads_back_as_a_card_with_e164_phones_in_order(store):
    cid = add_ada(store, email="ada@example.org", notes="likes engines")
    card = store.customer(cid)
    assert card is not None
    assert (card.id, card.name, card.company, card.tier) == (
        cid,
        "Ada Lovelace",
        "Analytical Engines Ltd",
        "vip",
    )
    assert (card.account_number, card.email, card.notes) == (
        "1815-1210-00",
        "ada@example.org",
        "likes engines",
    )
    assert card.phones == ("+15551234567", "+442079460958")


def test_customer_without_account_number_gets_one_made_from_its_id(store):
    cid = store.add_customer(name="Grace Hopper")
    card = store.customer(cid)
    assert card.account_number == account_number_for(cid)
    assert card.account_number.startswith("9000-")
    digits = card.account_number.replace("-", "")
    assert int(digits) % 97 == 1  # ISO 7064 mod 97-10 check digits


def test_two_customers_without_account_numbers_get_different_ones(store):
    first = store.customer(store.add_customer(name="A"))
    second = store.customer(store.add_customer(name="B"))
    assert first.account_number != second.account_number


def test_duplicate_account_number_is_refused_and_nothing_is_written(store):
    add_ada(store)
    with pytest.raises(ValueError, match="1815-1210-00"):
        add_ada(store, name="Impostor")
    assert store.count_customers() == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tier": "platinum"}, "tier 'platinum'"),
        ({"phones": ["anonymous"]}, "'anonymous' is not a phone number"),
        ({"phones": [("5551234567", "fax")]}, "phone kind 'fax'"),
    ],
)
def test_invalid_customer_data_is_refused_naming_the_value(store, overrides, message):
    with pytest.raises(ValueError, match=message):
        add_ada(store, **overrides)
    assert store.count_customers() == 0


def test_missing_customer_is_none(store):
    assert store.customer(12345) is None


def test_customer_is_found_by_account_number(store):
    cid = add_ada(store)
    assert store.customer_by_account(" 1815-1210-00 ").id == cid
    assert store.customer_by_account("0000-0000-00") is None


def test_count_customers_counts_every_customer(store):
    assert store.count_customers() == 0
    for i in range(3):
        store.add_customer(name=f"Customer {i}")
    assert store.count_customers() == 3


# --------------------------------------------------------------------------- lookup


LOOKUP_FORMATS = [
    "+1 (555) 123-4567",
    "5551234567",
    "+15551234567",
    "1-555-123-4567",
    "555.123.4567",
    "(555) 123-4567",
]


def test_lookup_finds_the_customer_from_every_number_format(store):
    cid = add_ada(store)
    for raw in LOOKUP_FORMATS:
        found = store.lookup_caller(raw)
        assert found.number == raw
        assert found.e164 == "+15551234567"
        assert [c.id for c in found.customers] == [cid], raw


def test_lookup_finds_a_customer_by_a_second_foreign_number(store):
    cid = add_ada(store)
    assert [c.id for c in store.lookup_caller("+44 20 7946 0958").customers] == [cid]


def test_lookup_of_an_unknown_number_finds_nobody_but_normalizes(store):
    add_ada(store)
    found = store.lookup_caller("212-555-0199")
    assert found.e164 == "+12125550199"
    assert found.customers == ()
    assert found.recent_contacts == ()


@pytest.mark.parametrize("raw", ["anonymous", "<unknown>", "", "1001"])
def test_lookup_of_something_that_is_not_a_number_finds_nobody(store, raw):
    add_ada(store)
    found = store.lookup_caller(raw)
    assert (found.number, found.e164, found.customers) == (raw, None, ())


def test_lookup_of_a_shared_number_returns_every_owner_oldest_first(store):
    first = store.add_customer(name="Pat Doe", phones=["555-201-3344"])
    store.add_customer(name="Someone Else", phones=["555-999-0000"])
    second = store.add_customer(name="Sam Doe", phones=[("+1 555 201 3344", "home")])
    found = store.lookup_caller("5552013344")
    assert [c.id for c in found.customers] == [first, second]


def closed_contact(store: Store, call_id: str, *, arrived: float, customer_id, **update):
    store.open_contact(
        call_id=call_id, direction="inbound", caller_number="5551234567", arrived_at=arrived
    )
    store.update_contact(call_id, customer_id=customer_id, **update)
    return store.close_contact(call_id, ended_at=arrived + 100)


def test_recent_contacts_are_the_newest_closed_ones_of_the_first_customer(store):
    ada = add_ada(store)
    other = store.add_customer(name="Shares Ada's line", phones=["5551234567"])
    for i, offset in enumerate([300, 100, 500, 200, 400, 600, 0]):
        closed_contact(store, f"ada.{i}", arrived=T0 + offset * 1000, customer_id=ada)
    closed_contact(store, "other.0", arrived=T0 + 10**6, customer_id=other)
    store.open_contact(
        call_id="ada.open", direction="inbound", caller_number="5551234567", arrived_at=T0 + 10**7
    )
    store.update_contact("ada.open", customer_id=ada)

    found = store.lookup_caller("5551234567", recent=3)
    assert [c.call_id for c in found.recent_contacts] == ["ada.5", "ada.2", "ada.4"]
    assert found.recent_contacts[0].arrived_at == T0 + 600_000
    assert len(store.lookup_caller("5551234567").recent_contacts) == 5
    assert store.lookup_caller("5551234567", recent=0).recent_contacts == ()
    assert [c.call_id for c in store.recent_contacts(other)] == ["other.0"]


def test_recent_contact_summary_names_the_agent_and_carries_the_wrapup(store):
    ada = add_ada(store)
    named = store.add_agent(username="jdoe", password="pw", display_name="Jane Doe")
    bare = store.add_agent(username="bsmith", password="pw")
    for call_id, agent, arrived in [("c1", named, T0), ("c2", bare, T0 + 1000), ("c3", None, T0 + 2000)]:
        closed_contact(
            store,
            call_id,
            arrived=arrived,
            customer_id=ada,
            queue="support",
            queued_at=arrived + 10,
            answered_at=arrived + 40 if agent else None,
            agent_id=agent.id if agent else None,
        )
    store.save_wrapup("c1", agent_id=named.id, disposition="resolved", notes="reset router")
    summaries = {s.call_id: s for s in store.lookup_caller("+15551234567").recent_contacts}
    assert summaries["c1"].agent == "Jane Doe"
    assert summaries["c2"].agent == "bsmith"
    assert summaries["c3"].agent == ""
    c1 = summaries["c1"]
    assert (c1.direction, c1.queue, c1.outcome, c1.disposition, c1.notes, c1.talk_s) == (
        "inbound",
        "support",
        "answered",
        "resolved",
        "reset router",
        60.0,
    )
    assert summaries["c3"].outcome == "abandoned_in_queue"
    assert summaries["c3"].talk_s is None


# --------------------------------------------------------------------------- contacts


def open_call(store: Store, call_id: str = "1763873940.12", **kw) -> ContactRecord:
    values = {
        "call_id": call_id,
        "direction": "inbound",
        "caller_number": "5551234567",
        "arrived_at": T0,
        "channel": "Local/s@inbound-00000000;2",
        "dnis": "8005550100",
    }
    values.update(kw)
    return store.open_contact(**values)


def test_opened_contact_is_open_with_normalized_caller_and_nothing_else_known(store):
    record = open_call(store)
    assert record == store.contact("1763873940.12")
    assert (record.call_id, record.direction, record.status) == ("1763873940.12", "inbound", "open")
    assert (record.caller_number, record.caller_e164) == ("5551234567", "+15551234567")
    assert (record.channel, record.dnis, record.arrived_at) == (
        "Local/s@inbound-00000000;2",
        "8005550100",
        T0,
    )
    assert record.queued_at is record.offered_at is record.answered_at is record.ended_at is None
    assert record.outcome is record.customer_id is record.agent_id is None
    assert record.wait_s is record.talk_s is None
    assert (record.queue, record.ivr, record.disposition, record.notes) == ("", (), "", "")


def test_anonymous_caller_is_logged_without_e164(store):
    assert open_call(store, caller_number="anonymous").caller_e164 is None


def test_opening_the_same_call_twice_returns_the_first_row_unchanged(store):
    first = open_call(store)
    again = open_call(store, caller_number="2125550199", arrived_at=T0 + 50, channel="other")
    assert again == first
    assert store.count_contacts() == 1


def test_opening_the_same_call_from_many_threads_writes_one_row(store):
    with ThreadPoolExecutor(max_workers=6) as pool:
        records = list(pool.map(lambda _: open_call(store, call_id="race"), range(12)))
    assert {r.id for r in records} == {records[0].id}
    assert store.count_contacts() == 1


def test_invalid_direction_is_refused(store):
    with pytest.raises(ValueError, match="direction 'sideways'"):
        open_call(store, direction="sideways")


def test_updated_fields_read_back(store):
    cid = add_ada(store)
    agent = store.add_agent(username="jdoe", password="pw")
    open_call(store)
    steps = [{"step": "menu", "node": "main", "digits": "1"}, {"step": "account", "value": "42"}]
    store.update_contact(
        "1763873940.12",
        customer_id=cid,
        queue="sales",
        queued_at=T0 + 12.25,
        offered_at=T0 + 20.5,
        answered_at=T0 + 21.000001,
        agent_id=agent.id,
        ivr=steps,
        caller_number="+44 20 7946 0958",
        disposition="sale",
        notes="two seats",
        channel="PJSIP/trunk-0000001",
    )
    record = store.contact("1763873940.12")
    assert (record.customer_id, record.queue, record.agent_id) == (cid, "sales", agent.id)
    assert (record.queued_at, record.offered_at, record.answered_at) == (
        T0 + 12.25,
        T0 + 20.5,
        T0 + 21.000001,
    )
    assert record.ivr == tuple(steps)
    assert (record.caller_number, record.caller_e164) == ("+44 20 7946 0958", "+442079460958")
    assert (record.disposition, record.notes, record.channel) == (
        "sale",
        "two seats",
        "PJSIP/trunk-0000001",
    )
    assert record.status == "open"


def test_update_with_an_unknown_field_names_it_and_changes_nothing(store):
    open_call(store)
    with pytest.raises(ValueError, match="unknown contact field.*colour.*status"):
        store.update_contact("1763873940.12", queue="sales", status="closed", colour="red")
    assert store.contact("1763873940.12").queue == ""


@pytest.mark.parametrize("steps", ["menu", [1, 2], [{"at": object()}]])
def test_ivr_steps_that_are_not_a_json_list_of_dicts_are_refused(store, steps):
    open_call(store)
    with pytest.raises(ValueError, match="ivr"):
        store.update_contact("1763873940.12", ivr=steps)
    assert store.contact("1763873940.12").ivr == ()


def test_update_of_an_unknown_call_raises_contact_not_found(store):
    with pytest.raises(ContactNotFound, match="nope"):
        store.update_contact("nope", queue="sales")


def test_update_pointing_at_a_missing_customer_is_refused(store):
    open_call(store)
    with pytest.raises(ValueError, match="no such customer or agent"):
        store.update_contact("1763873940.12", customer_id=999)
    assert store.contact("1763873940.12").customer_id is None


def test_times_are_stored_as_aware_utc_datetimes(store):
    open_call(store)
    store.update_contact("1763873940.12", queued_at=T0 + 5)
    with Session(store.engine) as s:
        row = s.scalar(select(Contact).where(Contact.call_id == "1763873940.12"))
        assert row.arrived_at.tzinfo is UTC
        assert row.queued_at.tzinfo is UTC
        assert row.arrived_at.timestamp() == T0


def test_answered_call_closes_answered_with_wait_and_talk_seconds(store):
    open_call(store)
    store.update_contact("1763873940.12", queued_at=T0 + 10, answered_at=T0 + 40)
    record = store.close_contact("1763873940.12", ended_at=T0 + 160.5)
    assert (record.status, record.outcome) == ("closed", "answered")
    assert (record.wait_s, record.talk_s, record.ended_at) == (30.0, 120.5, T0 + 160.5)
    assert store.contact("1763873940.12") == record


def test_queued_call_that_ends_unanswered_is_abandoned_in_queue(store):
    open_call(store)
    store.update_contact("1763873940.12", queued_at=T0 + 10)
    record = store.close_contact("1763873940.12", ended_at=T0 + 55)
    assert (record.outcome, record.wait_s, record.talk_s) == ("abandoned_in_queue", 45.0, None)


def test_call_that_ends_before_any_queue_is_abandoned_in_ivr(store):
    open_call(store)
    record = store.close_contact("1763873940.12", ended_at=T0 + 8)
    assert (record.outcome, record.wait_s, record.talk_s) == ("abandoned_in_ivr", None, None)


def test_outbound_call_nobody_answers_is_unanswered(store):
    open_call(store, direction="outbound")
    assert store.close_contact("1763873940.12", ended_at=T0 + 30).outcome == "unanswered"


def test_given_outcome_wins_over_the_computed_one(store):
    open_call(store)
    store.update_contact("1763873940.12", queued_at=T0 + 1, answered_at=T0 + 2)
    record = store.close_contact("1763873940.12", ended_at=T0 + 3, outcome="lost_during_disconnect")
    assert record.outcome == "lost_during_disconnect"
    assert (record.wait_s, record.talk_s) == (1.0, 1.0)


def test_unknown_outcome_is_refused(store):
    open_call(store)
    with pytest.raises(ValueError, match="outcome 'dropped'"):
        store.close_contact("1763873940.12", ended_at=T0 + 3, outcome="dropped")
    assert store.contact("1763873940.12").status == "open"


def test_end_before_answer_from_clock_skew_gives_zero_not_negative_seconds(store):
    open_call(store)
    store.update_contact("1763873940.12", queued_at=T0 + 10, answered_at=T0 + 20)
    record = store.close_contact("1763873940.12", ended_at=T0 + 19)
    assert (record.wait_s, record.talk_s) == (10.0, 0.0)


def test_closing_twice_keeps_the_first_close(store):
    open_call(store)
    first = store.close_contact("1763873940.12", ended_at=T0 + 8)
    again = store.close_contact("1763873940.12", ended_at=T0 + 99, outcome="answered")
    assert again == first
    assert store.contact("1763873940.12").ended_at == T0 + 8


def test_closing_an_unknown_call_raises_contact_not_found(store):
    with pytest.raises(ContactNotFound):
        store.close_contact("nope", ended_at=T0)


def test_times_of_a_closed_contact_are_final_but_notes_are_not(store):
    open_call(store)
    store.close_contact("1763873940.12", ended_at=T0 + 8)
    with pytest.raises(ValueError, match="closed.*answered_at"):
        store.update_contact("1763873940.12", answered_at=T0 + 5)
    store.update_contact("1763873940.12", notes="called back later")
    record = store.contact("1763873940.12")
    assert (record.answered_at, record.notes) == (None, "called back later")


def test_open_contacts_lists_calls_not_yet_closed_oldest_first(store):
    open_call(store, call_id="b", arrived_at=T0 + 2)
    open_call(store, call_id="a", arrived_at=T0 + 1)
    open_call(store, call_id="c", arrived_at=T0 + 3)
    store.close_contact("c", ended_at=T0 + 4)
    assert [r.call_id for r in store.open_contacts()] == ["a", "b"]
    assert store.count_contacts() == 3


def test_missing_contact_is_none(store):
    assert store.contact("nope") is None


def test_wrapup_is_saved_by_the_agent_of_the_contact(store):
    agent = store.add_agent(username="jdoe", password="pw")
    open_call(store)
    store.update_contact("1763873940.12", agent_id=agent.id, answered_at=T0 + 3)
    store.close_contact("1763873940.12", ended_at=T0 + 60)
    store.save_wrapup("1763873940.12", agent_id=agent.id, disposition="resolved", notes="ok")
    record = store.contact("1763873940.12")
    assert (record.disposition, record.notes, record.status) == ("resolved", "ok", "closed")


def test_wrapup_by_another_agent_is_refused(store):
    mine = store.add_agent(username="jdoe", password="pw")
    other = store.add_agent(username="bsmith", password="pw")
    open_call(store)
    store.update_contact("1763873940.12", agent_id=mine.id)
    with pytest.raises(NotContactAgent):
        store.save_wrapup("1763873940.12", agent_id=other.id, disposition="x", notes="y")
    assert store.contact("1763873940.12").disposition == ""


def test_wrapup_of_a_contact_nobody_handled_is_refused(store):
    agent = store.add_agent(username="jdoe", password="pw")
    open_call(store)
    with pytest.raises(NotContactAgent):
        store.save_wrapup("1763873940.12", agent_id=agent.id, disposition="x", notes="y")
    with pytest.raises(ContactNotFound):
        store.save_wrapup("nope", agent_id=agent.id, disposition="x", notes="y")


# --------------------------------------------------------------------------- agents


def test_added_agent_reads_back_without_any_password_hash(store):
    record = store.add_agent(
        username="jdoe",
        password="s3cret-pw",
        display_name="Jane Doe",
        role="supervisor",
        extension="1001",
        interface="Local/1001@agents/n",
        skills="support:4,lang_es:5",
    )
    assert record == store.agent(record.id)
    assert (record.username, record.display_name, record.role) == ("jdoe", "Jane Doe", "supervisor")
    assert (record.extension, record.interface, record.skills) == (
        "1001",
        "Local/1001@agents/n",
        "support:4,lang_es:5",
    )
    assert "password_hash" not in {f.name for f in fields(record)}
    assert "s3cret-pw" not in repr(record)
    with Session(store.engine) as s:
        stored = s.scalar(select(Agent.password_hash).where(Agent.id == record.id))
    assert stored.startswith("$argon2id$")
    assert "s3cret-pw" not in stored


def test_adding_an_existing_username_updates_it_and_rehashes_the_password(store):
    first = store.add_agent(username="jdoe", password="old", extension="1001")
    second = store.add_agent(username="jdoe", password="new", extension="1002", role="admin")
    assert second.id == first.id
    assert (second.extension, second.role) == ("1002", "admin")
    assert store.authenticate("jdoe", "old") is None
    assert store.authenticate("jdoe", "new") == second
    assert len(store.agents()) == 1


def test_authenticate_with_the_right_password_returns_the_agent(store):
    record = store.add_agent(username="jdoe", password="correct horse")
    assert store.authenticate("jdoe", "correct horse") == record


@pytest.mark.parametrize(
    ("username", "password"),
    [("jdoe", "wrong"), ("jdoe", ""), ("JDOE", "correct horse"), ("nobody", "correct horse")],
)
def test_authenticate_with_a_wrong_password_or_unknown_user_returns_none(
    store, username, password
):
    store.add_agent(username="jdoe", password="correct horse")
    assert store.authenticate(username, password) is None


def test_unreadable_hash_refuses_login_and_never_logs_the_password(store, caplog):
    record = store.add_agent(username="jdoe", password="pw")
    with Session(store.engine) as s, s.begin():
        s.execute(update(Agent).where(Agent.id == record.id).values(password_hash="garbage"))
    with caplog.at_level(logging.DEBUG):
        assert store.authenticate("jdoe", "hunter2-secret") is None
    assert "jdoe" in caplog.text
    assert "hunter2-secret" not in caplog.text


def test_login_upgrades_a_hash_made_with_weaker_parameters(store):
    record = store.add_agent(username="jdoe", password="pw")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw")
    with Session(store.engine) as s, s.begin():
        s.execute(update(Agent).where(Agent.id == record.id).values(password_hash=weak))
    assert store.authenticate("jdoe", "pw") == record
    with Session(store.engine) as s:
        stored = s.scalar(select(Agent.password_hash).where(Agent.id == record.id))
    assert stored != weak
    assert "m=19456,t=2,p=1" in stored
    assert store.authenticate("jdoe", "pw") == record


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"role": "boss"}, "role 'boss'"),
        ({"username": ""}, "username must not be empty"),
        ({"password": ""}, "password must not be empty"),
    ],
)
def test_invalid_agent_is_refused(store, overrides, message):
    values = {"username": "jdoe", "password": "pw", **overrides}
    with pytest.raises(ValueError, match=message):
        store.add_agent(**values)
    assert store.agents() == []


def test_agents_are_listed_in_creation_order_and_missing_one_is_none(store):
    names = ["zed", "amy", "bob"]
    for name in names:
        store.add_agent(username=name, password="pw")
    assert [a.username for a in store.agents()] == names
    assert store.agent_by_username("amy").username == "amy"
    assert store.agent_by_username("nobody") is None
    assert store.agent(10_000) is None


def test_counting_contacts_since_a_time_leaves_older_ones_out(store):
    open_call(store, call_id="old", arrived_at=T0)
    open_call(store, call_id="new", arrived_at=T0 + 100)
    assert (store.count_contacts(), store.count_contacts(since=T0 + 50)) == (2, 1)
