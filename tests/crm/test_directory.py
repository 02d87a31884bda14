"""Customer search and edit, the contact history timeline, account admin."""

from __future__ import annotations

import pytest

from crm_store import (
    AgentExists,
    AgentNotFound,
    CustomerNotFound,
    Store,
    normalize_skills,
)

T0 = 1_795_000_000.0


def add_people(store: Store) -> dict[str, int]:
    return {
        "ada": store.add_customer(
            name="Ada Lovelace",
            company="Analytical Engines",
            tier="vip",
            account_number="AC-1815",
            phones=["+1 (555) 123-4567"],
        ),
        "charles": store.add_customer(
            name="Charles Babbage",
            company="Difference Ltd",
            account_number="AC-1791",
            phones=[("+44 20 7946 0958", "work")],
        ),
        "odd": store.add_customer(name="100%_real Person", account_number="ZZ-1"),
    }


def names(cards) -> list[str]:
    return [c.name for c in cards]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("lovelace", ["Ada Lovelace"]),
        ("LOVE", ["Ada Lovelace"]),
        ("difference", ["Charles Babbage"]),
        ("ac-18", ["Ada Lovelace"]),
        ("AC-1", ["Ada Lovelace", "Charles Babbage"]),
        ("(555) 123-4567", ["Ada Lovelace"]),
        ("+15551234567", ["Ada Lovelace"]),
        ("7946", ["Charles Babbage"]),
        ("100%", ["100%_real Person"]),
        ("%", ["100%_real Person"]),
        ("_", ["100%_real Person"]),
        ("nobody", []),
        ("   ", []),
    ],
)
def test_search_finds_customers_by_name_company_account_or_phone(store, query, expected):
    add_people(store)
    assert names(store.search_customers(query)) == expected


def test_search_is_limited_and_sorted_by_name(store):
    for i in range(5):
        store.add_customer(name=f"Smith {4 - i}")
    assert names(store.search_customers("smith", limit=3)) == ["Smith 0", "Smith 1", "Smith 2"]
    assert store.search_customers("smith", limit=0) == []


def test_update_changes_only_the_fields_given_and_replaces_phones(store):
    ids = add_people(store)
    card = store.update_customer(
        ids["ada"], company="  Engines Ltd ", phones=["555-987-6543", ("+1 555 123 4567", "work")]
    )
    assert (card.name, card.company, card.tier) == ("Ada Lovelace", "Engines Ltd", "vip")
    assert card.phones == ("+15559876543", "+15551234567")
    assert store.customer(ids["ada"]) == card
    assert store.lookup_caller("5559876543").customers[0].id == ids["ada"]
    again = store.update_customer(ids["ada"], tier="gold", notes="Line one\nline two", phones=[])
    assert (again.tier, again.notes, again.phones) == ("gold", "Line one\nline two", ())


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tier": "platinum"}, "tier 'platinum'"),
        ({"name": "  "}, "name must not be empty"),
        ({"email": "nope"}, "email 'nope'"),
        ({"phones": ["12"]}, "'12' is not a phone number"),
    ],
)
def test_update_with_a_bad_value_names_it_and_changes_nothing(store, fields, message):
    ids = add_people(store)
    before = store.customer(ids["ada"])
    with pytest.raises(ValueError, match=message):
        store.update_customer(ids["ada"], company="changed", **fields)
    assert store.customer(ids["ada"]) == before


def test_update_of_a_missing_customer_raises(store):
    with pytest.raises(CustomerNotFound):
        store.update_customer(999, name="x")


def test_contact_history_lists_open_and_closed_contacts_newest_first(store):
    ids = add_people(store)
    agent = store.add_agent(username="jdoe", password="pw", display_name="Jane Doe")
    for i in range(3):
        call = f"c{i}"
        store.open_contact(
            call_id=call, direction="inbound", caller_number="5551234567", arrived_at=T0 + i
        )
        store.update_contact(call, customer_id=ids["ada"], agent_id=agent.id, queue="support")
        if i < 2:
            store.update_contact(call, queued_at=T0 + i, answered_at=T0 + i + 5)
            store.close_contact(call, ended_at=T0 + i + 65)
    store.save_wrapup("c1", agent_id=agent.id, disposition="resolved", notes="sent invoice")
    history = store.contact_history(ids["ada"])
    assert [h.call_id for h in history] == ["c2", "c1", "c0"]
    assert [h.status for h in history] == ["open", "closed", "closed"]
    assert (history[1].agent, history[1].disposition, history[1].notes) == (
        "Jane Doe",
        "resolved",
        "sent invoice",
    )
    assert (history[1].wait_s, history[1].talk_s, history[1].caller_number) == (
        5.0,
        60.0,
        "5551234567",
    )
    assert [h.call_id for h in store.recent_contacts(ids["ada"])] == ["c1", "c0"]
    assert len(store.contact_history(ids["ada"], limit=1)) == 1
    assert store.contact_history(ids["charles"]) == []


def test_created_agent_has_checked_skills_and_a_working_password(store):
    record = store.create_agent(
        username=" mia ",
        password="s3cret pass",
        display_name="Mia Wong",
        role="supervisor",
        extension="1003",
        interface="PJSIP/1003",
        skills="support:4, lang_es:5",
    )
    assert (record.username, record.role, record.skills) == ("mia", "supervisor", "lang_es:5,support:4")
    assert store.authenticate("mia", "s3cret pass") == record


def test_creating_a_taken_username_is_refused_and_keeps_the_password(store):
    store.create_agent(username="mia", password="first")
    with pytest.raises(AgentExists, match="'mia' is taken"):
        store.create_agent(username="mia", password="second")
    assert store.authenticate("mia", "first") is not None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"username": "two words"}, "no spaces"),
        ({"username": ""}, "no spaces"),
        ({"role": "root"}, "role 'root'"),
        ({"password": ""}, "password must not be empty"),
        ({"skills": "support:9"}, "between 1 and 5"),
    ],
)
def test_bad_account_values_are_refused(store, fields, message):
    values = {"username": "mia", "password": "pw", **fields}
    with pytest.raises(ValueError, match=message):
        store.create_agent(**values)
    assert store.agents() == []


def test_role_change_reads_back_and_unknown_ids_or_roles_are_refused(store):
    record = store.create_agent(username="mia", password="pw")
    assert store.set_agent_role(record.id, "admin").role == "admin"
    assert store.agent(record.id).role == "admin"
    with pytest.raises(ValueError, match="role 'boss'"):
        store.set_agent_role(record.id, "boss")
    with pytest.raises(AgentNotFound):
        store.set_agent_role(999, "agent")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("support", "support:1"),
        ("support:4,lang_es:5", "lang_es:5,support:4"),
        (" b:2 ; a:3 ,", "a:3,b:2"),
    ],
)
def test_skills_are_written_in_one_form(text, expected):
    assert normalize_skills(text) == expected


@pytest.mark.parametrize("text", ["support:x", "sup port:2", ":3", "a:0", "a:6"])
def test_malformed_skills_are_refused(text):
    with pytest.raises(ValueError):
        normalize_skills(text)
