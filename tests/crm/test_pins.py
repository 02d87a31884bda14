"""Telephone PINs checked by the IVR: hashed, verified by account, never echoed."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store import DEMO_CUSTOMER, seed_demo
from crm_store.models import Customer
from crm_store.seed import PIN_ACCOUNTS, demo_pin
from crm_store.store import CustomerNotFound


def test_pin_is_stored_as_a_hash_and_verified_by_account_as_written_or_keyed(store):
    store.add_customer(name="Gordon Gold", tier="gold", account_number="4417-0039-00")
    store.set_account_pin("4417-0039-00", "2468")
    with Session(store.engine) as s:
        stored = s.scalar(select(Customer.pin_hash))
    assert stored.startswith("$argon2id$") and "2468" not in stored
    assert store.verify_account_pin("4417-0039-00", "2468")
    assert store.verify_account_pin("4417003900", "2468")  # digits only, as keyed
    assert not store.verify_account_pin("4417003900", "2469")
    assert not store.verify_account_pin("4417003900", "")


def test_unknown_account_or_account_without_pin_is_refused(store):
    store.add_customer(name="No Pin", account_number="1111-2222-33")
    assert not store.verify_account_pin("1111222233", "1234")
    assert not store.verify_account_pin("9999999999", "1234")
    assert not store.verify_account_pin("", "1234")


def test_unknown_account_costs_a_hash_check_too(store, monkeypatch):
    import crm_store.store as module

    burned = []
    monkeypatch.setattr(module, "_burn_one_verify", lambda pin: burned.append(len(pin)))
    assert not store.verify_account_pin("9999999999", "1234")
    assert burned == [4]


def test_bad_pins_and_accounts_are_refused_without_echoing_the_pin(store, caplog):
    store.add_customer(name="A", account_number="1234-5678-90")
    for bad in ("97", "97a5", "9" * 13, "９７５３"):
        with pytest.raises(ValueError) as e:
            store.set_account_pin("1234-5678-90", bad)
        assert bad not in str(e.value)
    with pytest.raises(CustomerNotFound) as e:
        store.set_account_pin("0000000000", "97531")
    assert "97531" not in str(e.value)
    with caplog.at_level(logging.DEBUG):
        store.set_account_pin("1234-5678-90", "97531")
        assert store.verify_account_pin("1234567890", "97531")
    assert "97531" not in caplog.text


def test_seed_gives_demo_accounts_a_pin_and_returns_them_again(make_store):
    store = make_store()
    first = seed_demo(store, customers=30, seed=4)
    assert len(first.pins) == PIN_ACCOUNTS
    ada = "".join(ch for ch in DEMO_CUSTOMER["account_number"] if ch.isdigit())
    assert first.pins[0] == (ada, demo_pin(DEMO_CUSTOMER["account_number"]))
    for account, pin in first.pins[:3]:
        assert store.verify_account_pin(account, pin)
    assert seed_demo(store, customers=30, seed=4) == first
