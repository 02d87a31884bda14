"""Signing, expiry, CSRF tokens, one-use nonces and the sign-in slow-down (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import task

from agent_ui.auth import (
    SESSION,
    SESSION_TTL,
    WS_TOKEN,
    WS_TOKEN_TTL,
    LoginThrottle,
    NonceLedger,
    Signer,
)

KEY = b"k" * 32


def test_signed_session_round_trips_its_payload():
    signer = Signer(KEY)
    token = signer.sign(SESSION, {"agent": {"id": 7}}, now=100.0, ttl=SESSION_TTL)
    data = signer.verify(SESSION, token, now=100.0)
    assert data == {"agent": {"id": 7}, "exp": 100.0 + SESSION_TTL}


def test_session_expires_after_twelve_hours_of_clock_time():
    clock = task.Clock()
    signer = Signer(KEY)
    token = signer.sign(SESSION, {"agent": {"id": 1}}, now=clock.seconds(), ttl=SESSION_TTL)
    clock.advance(12 * 3600 - 1)
    assert signer.verify(SESSION, token, now=clock.seconds()) is not None
    clock.advance(1)
    assert signer.verify(SESSION, token, now=clock.seconds()) is None


def test_ws_token_expires_after_sixty_seconds():
    clock = task.Clock()
    signer = Signer(KEY)
    token = signer.sign(WS_TOKEN, {"nonce": "n"}, now=clock.seconds(), ttl=WS_TOKEN_TTL)
    clock.advance(59.9)
    assert signer.verify(WS_TOKEN, token, now=clock.seconds()) is not None
    clock.advance(0.1)
    assert signer.verify(WS_TOKEN, token, now=clock.seconds()) is None


def test_token_of_one_purpose_is_refused_for_another():
    signer = Signer(KEY)
    token = signer.sign(WS_TOKEN, {"agent": {"id": 1}}, now=0, ttl=60)
    assert signer.verify(SESSION, token, now=0) is None


def test_token_signed_with_another_key_is_refused():
    token = Signer(b"x" * 32).sign(SESSION, {"agent": {"id": 1}}, now=0, ttl=60)
    assert Signer(KEY).verify(SESSION, token, now=0) is None


def test_tampered_payload_is_refused():
    signer = Signer(KEY)
    token = signer.sign(SESSION, {"agent": {"id": 1}}, now=0, ttl=60)
    other = signer.sign(SESSION, {"agent": {"id": 2}}, now=0, ttl=60)
    forged = other.split(".")[0] + "." + token.split(".")[1]
    assert signer.verify(SESSION, forged, now=0) is None


@pytest.mark.parametrize("token", ["", ".", "a.b.c", "abc", "é.é", "e30.", None, 12])
def test_garbage_tokens_are_refused(token):
    assert Signer(KEY).verify(SESSION, token, now=0) is None


@given(st.text(max_size=200))
def test_random_text_never_verifies_and_never_raises(text):
    assert Signer(KEY).verify(SESSION, text, now=0) is None


@given(st.text(max_size=60), st.text(max_size=60))
def test_csrf_check_never_raises_and_refuses_foreign_tokens(cookie, form):
    signer = Signer(KEY)
    assert signer.csrf_ok(cookie, form) is (bool(cookie) and form == signer.csrf_token(cookie))


def test_short_secret_key_is_refused():
    with pytest.raises(ValueError):
        Signer(b"short")


def test_csrf_token_matches_only_its_own_cookie():
    signer = Signer(KEY)
    token = signer.csrf_token("cookie-a")
    assert signer.csrf_ok("cookie-a", token)
    assert not signer.csrf_ok("cookie-b", token)
    assert not signer.csrf_ok(None, token)
    assert not signer.csrf_ok("cookie-a", None)
    assert not signer.csrf_ok("cookie-a", "")


def test_nonce_is_accepted_once_until_it_expires():
    ledger = NonceLedger()
    assert ledger.use("n1", 60, now=0)
    assert not ledger.use("n1", 60, now=1)
    assert ledger.use("n2", 60, now=1)


def test_nonce_ledger_forgets_expired_nonces_when_full():
    ledger = NonceLedger(limit=2)
    assert ledger.use("a", 10, now=0)
    assert ledger.use("b", 10, now=0)
    assert not ledger.use("c", 10, now=5)  # full of live nonces: refuse, do not grow
    assert ledger.use("c", 30, now=11)  # a and b expired: room again


def test_first_three_failures_are_free_then_delay_doubles_up_to_cap():
    throttle = LoginThrottle(free=3, base=1.0, cap=8.0)
    delays = []
    for n in range(8):
        delays.append(throttle.delay("alice", now=n))
        throttle.failed("alice", now=n)
    assert delays == [0, 0, 0, 1, 2, 4, 8, 8]


def test_success_resets_the_slow_down():
    throttle = LoginThrottle()
    for _ in range(5):
        throttle.failed("alice", now=0)
    throttle.succeeded("alice")
    assert throttle.delay("alice", now=0) == 0


def test_slow_down_is_per_username_and_ignores_case_and_spaces():
    throttle = LoginThrottle()
    for _ in range(4):
        throttle.failed(" Alice", now=0)
    assert throttle.delay("alice", now=1) == 2
    assert throttle.delay("bob", now=1) == 0


def test_failures_are_forgotten_after_a_quiet_period():
    throttle = LoginThrottle(forget_after=900)
    for _ in range(5):
        throttle.failed("alice", now=0)
    assert throttle.delay("alice", now=899) > 0
    assert throttle.delay("alice", now=900) == 0
