"""The demo seed: realistic, deterministic, idempotent."""

from __future__ import annotations

import re
from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_store import DEMO_CUSTOMER, normalize, seed_demo
from crm_store.models import Contact, Customer, CustomerPhone

from .conftest import NOW


def dump(store) -> tuple[list, list, list]:
    """Everything the seed wrote, without database ids."""
    with Session(store.engine) as s:
        customers = s.execute(
            select(Customer.account_number, Customer.name, Customer.company, Customer.tier,
                   Customer.email, Customer.created_at).order_by(Customer.id)
        ).all()
        phones = s.execute(
            select(Customer.account_number, CustomerPhone.raw, CustomerPhone.e164, CustomerPhone.kind)
            .join(Customer).order_by(CustomerPhone.id)
        ).all()
        contacts = s.execute(
            select(Contact.call_id, Contact.arrived_at, Contact.outcome, Contact.talk_s,
                   Contact.disposition).order_by(Contact.id)
        ).all()
    return customers, phones, contacts


def test_seed_writes_the_requested_number_of_customers(make_store):
    store = make_store()
    result = seed_demo(store)
    assert store.count_customers() == 10_000
    assert len(result.numbers) == len(set(result.numbers))
    assert len(result.numbers) >= 10_000


def test_seed_includes_the_fixed_demo_customer_with_history(make_store):
    store = make_store()
    result = seed_demo(store, customers=50)
    assert result.numbers[0] == "+15551234567"
    found = store.lookup_caller(DEMO_CUSTOMER["phone"])
    assert len(found.customers) == 1
    ada = found.customers[0]
    assert (ada.name, ada.company, ada.tier, ada.account_number) == (
        "Ada Lovelace",
        "Analytical Engines Ltd",
        "vip",
        "1815-1210-00",
    )
    assert ada.phones == ("+15551234567",)
    assert len(found.recent_contacts) == 3
    arrived = [c.arrived_at for c in found.recent_contacts]
    assert arrived == sorted(arrived, reverse=True)


def test_same_seed_gives_the_same_data(make_store):
    first, second = make_store(), make_store()
    a = seed_demo(first, customers=300, seed=7, now=NOW)
    b = seed_demo(second, customers=300, seed=7, now=NOW)
    assert a == b
    assert dump(first) == dump(second)


def test_another_seed_gives_other_customers(make_store):
    first, second = make_store(), make_store()
    a = seed_demo(first, customers=300, seed=1)
    b = seed_demo(second, customers=300, seed=2)
    assert a.numbers[0] == b.numbers[0] == "+15551234567"
    assert a.numbers != b.numbers
    assert dump(first)[0][1:] != dump(second)[0][1:]


def test_seeding_a_store_with_customers_writes_nothing_and_returns_its_numbers(make_store):
    store = make_store()
    first = seed_demo(store, customers=200, seed=1)
    contacts = store.count_contacts()
    again = seed_demo(store, customers=500, seed=99)
    assert again == first
    assert (store.count_customers(), store.count_contacts()) == (200, contacts)


def test_seeded_phones_come_in_varied_formats_that_normalize_to_their_e164(make_store):
    store = make_store()
    seed_demo(store, customers=400)
    _, phones, _ = dump(store)
    shapes = Counter(re.sub(r"\d", "9", raw) for _acct, raw, _e164, _kind in phones)
    assert len(shapes) >= 5
    assert "+9 (999) 999-9999" in shapes and "999.999.9999" in shapes and "9999999999" in shapes
    for acct, raw, e164, kind in phones:
        assert normalize(raw) == e164
        assert kind in ("mobile", "work", "home")
        if acct == DEMO_CUSTOMER["account_number"]:
            continue  # its exchange, 123, is fictional
        assert re.fullmatch(r"\+1[2-9]\d{2}[2-9]\d{6}", e164)


def test_seeded_customers_look_real(make_store):
    store = make_store()
    seed_demo(store, customers=2000)
    customers, _, _ = dump(store)
    tiers = Counter(c.tier for c in customers)
    assert 0.02 < tiers["vip"] / len(customers) < 0.09
    assert 0.14 < tiers["gold"] / len(customers) < 0.27
    accounts = [c.account_number for c in customers]
    assert len(set(accounts)) == len(accounts)
    assert all(re.fullmatch(r"\d{4}-\d{4}-\d{2}", a) for a in accounts)
    assert all(" " in c.name for c in customers)
    assert sum(1 for c in customers if c.company) > len(customers) / 2
    assert sum(1 for c in customers if "@" in c.email) > len(customers) / 2


def test_about_a_third_of_seeded_customers_have_closed_history_in_the_last_90_days(make_store):
    store = make_store()
    seed_demo(store, customers=1000, now=NOW)
    with Session(store.engine) as s:
        with_history = s.scalar(select(func.count(func.distinct(Contact.customer_id))))
        statuses = set(s.scalars(select(Contact.status).distinct()))
        oldest, newest = s.execute(select(func.min(Contact.arrived_at), func.max(Contact.arrived_at))).one()
        outcomes = set(s.scalars(select(Contact.outcome).distinct()))
    assert 200 < with_history < 400
    assert statuses == {"closed"}
    assert NOW - 90 * 86_400 <= oldest.timestamp() and newest.timestamp() < NOW
    assert "answered" in outcomes and "abandoned_in_queue" in outcomes
    assert store.open_contacts() == []


def test_shared_lines_make_some_numbers_match_several_customers(make_store):
    store = make_store()
    seed_demo(store, customers=500)
    with Session(store.engine) as s:
        shared = s.scalars(
            select(CustomerPhone.e164).group_by(CustomerPhone.e164).having(func.count() > 1)
        ).all()
    assert shared
    assert len(store.lookup_caller(shared[0]).customers) >= 2


def test_seeded_history_is_handled_by_existing_agents(make_store):
    store = make_store()
    agent = store.add_agent(username="jdoe", password="pw", display_name="Jane Doe")
    seed_demo(store, customers=100)
    with Session(store.engine) as s:
        agents = set(s.scalars(select(Contact.agent_id).where(Contact.outcome == "answered")))
    assert agents == {agent.id}
    assert any(c.agent == "Jane Doe" for c in store.lookup_caller("+15551234567").recent_contacts)
