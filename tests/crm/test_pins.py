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
from tests.crm.conftest import NOW


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


# ------------------------------------------------------------------- lockout

LOCK = {"max_failures": 3, "lock_minutes": 15.0}


def _pinned(store, account="4417-0039-00", pin="2468"):
    store.add_customer(name="Gordon Gold", tier="gold", account_number=account)
    store.set_account_pin(account, pin)


def test_wrong_pins_over_several_calls_lock_the_account_even_for_the_right_pin(store, caplog):
    _pinned(store)
    with caplog.at_level(logging.DEBUG):
        first = [store.verify_account_pin("4417003900", "1111", **LOCK) for _ in range(2)]
        third = store.verify_account_pin("4417003900", "1112", **LOCK)
        right = store.verify_account_pin("4417003900", "2468", **LOCK)
    assert [c.status for c in first] == ["wrong", "wrong"] and not any(first)
    assert third.status == "locked" and third.locked and not third
    assert third.locked_until == NOW + 15 * 60
    assert right.status == "locked" and not right
    assert "locked" in caplog.text and "WARNING" in caplog.text
    for pin in ("1111", "1112", "2468"):
        assert pin not in caplog.text


def test_right_pin_clears_the_count_of_wrong_ones(store):
    _pinned(store)
    for _ in range(2):
        assert store.verify_account_pin("4417003900", "1111", **LOCK).status == "wrong"
    assert store.verify_account_pin("4417003900", "2468", **LOCK).status == "ok"
    for _ in range(2):
        assert store.verify_account_pin("4417003900", "1111", **LOCK).status == "wrong"
    with Session(store.engine) as s:
        assert s.scalar(select(Customer.pin_failures)) == 2


def test_lock_runs_out_then_one_more_wrong_pin_locks_again_and_the_right_one_clears(store):
    _pinned(store)
    for _ in range(3):
        store.verify_account_pin("4417003900", "1111", **LOCK)
    store.clock = lambda: NOW + 15 * 60 - 1
    assert store.verify_account_pin("4417003900", "2468", **LOCK).status == "locked"
    store.clock = lambda: NOW + 15 * 60
    again = store.verify_account_pin("4417003900", "1111", **LOCK)
    assert again.status == "locked" and again.locked_until == NOW + 30 * 60
    store.clock = lambda: NOW + 30 * 60
    assert store.verify_account_pin("4417003900", "2468", **LOCK).status == "ok"
    with Session(store.engine) as s:
        assert s.execute(select(Customer.pin_failures, Customer.pin_locked_until)).one() == (
            None, None)
    assert store.verify_account_pin("4417003900", "1111", **LOCK).status == "wrong"


def test_a_new_pin_lifts_the_lock(store):
    _pinned(store)
    for _ in range(3):
        store.verify_account_pin("4417003900", "1111", **LOCK)
    store.set_account_pin("4417-0039-00", "97531")
    assert store.verify_account_pin("4417003900", "97531", **LOCK).status == "ok"


def test_locked_and_unknown_accounts_cost_a_hash_check_and_unknown_ones_never_lock(
    store, monkeypatch
):
    import crm_store.store as module

    _pinned(store)
    for _ in range(3):
        store.verify_account_pin("4417003900", "1111", **LOCK)
    burned = []
    monkeypatch.setattr(module, "_burn_one_verify", lambda pin: burned.append(len(pin)))
    assert store.verify_account_pin("4417003900", "2468", **LOCK).status == "locked"
    unknown = [store.verify_account_pin("9999999999", "1234", **LOCK) for _ in range(5)]
    assert [c.status for c in unknown] == ["wrong"] * 5
    assert burned == [4] * 6


def test_default_limits_lock_after_five_wrong_pins(store):
    _pinned(store)
    checks = [store.verify_account_pin("4417003900", "1111").status for _ in range(5)]
    assert checks == ["wrong"] * 4 + ["locked"]
