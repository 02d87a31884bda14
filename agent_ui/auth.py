"""Signed cookies and tokens, CSRF tokens, and the failed-login slow-down.

Pure functions and small state holders: no clock is read here, ``now`` is passed in.

A signed value is ``base64url(json payload) "." base64url(HMAC-SHA256)``. The MAC
covers a purpose label too, so a WebSocket token can never pass as a session cookie
and the other way round. Every payload carries ``exp`` (seconds since the epoch).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

SESSION_TTL = 12 * 3600.0
WS_TOKEN_TTL = 60.0

SESSION = "session"
WS_TOKEN = "ws"


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs and checks payloads with HMAC-SHA256 under one secret key."""

    def __init__(self, secret_key: bytes) -> None:
        if len(secret_key) < 16:
            raise ValueError("secret_key must be at least 16 bytes")
        self._key = secret_key

    def _mac(self, purpose: str, body: str) -> str:
        msg = purpose.encode("ascii") + b"\x00" + body.encode("ascii")
        return _b64encode(hmac.new(self._key, msg, hashlib.sha256).digest())

    def sign(self, purpose: str, payload: dict[str, Any], *, now: float, ttl: float) -> str:
        """A signed token for ``payload`` that expires ``ttl`` seconds after ``now``."""
        data = dict(payload, exp=now + ttl)
        body = _b64encode(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
        return body + "." + self._mac(purpose, body)

    def verify(self, purpose: str, token: str, *, now: float) -> dict[str, Any] | None:
        """The payload of a valid, unexpired token of this purpose, else ``None``."""
        if not isinstance(token, str) or token.count(".") != 1 or len(token) > 4096:
            return None
        body, mac = token.split(".")
        try:
            expected = self._mac(purpose, body)
        except UnicodeEncodeError:
            return None
        if not hmac.compare_digest(mac.encode("utf-8"), expected.encode("ascii")):
            return None
        try:
            data = json.loads(_b64decode(body))
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(data, dict):
            return None
        exp = data.get("exp")
        if not isinstance(exp, int | float) or now >= exp:
            return None
        return data

    # CSRF: double-submit, the form token is the MAC of the pre-session cookie value.

    def csrf_token(self, cookie_value: str) -> str:
        """The form token that goes with a CSRF cookie value."""
        return self._mac("csrf", _b64encode(cookie_value.encode("utf-8")))

    def csrf_ok(self, cookie_value: str | None, form_token: str | None) -> bool:
        """True when the form token was made for this cookie value."""
        if not cookie_value or not form_token:
            return False
        expected = self.csrf_token(cookie_value).encode("ascii")
        return hmac.compare_digest(expected, form_token.encode("utf-8", "replace"))


def new_csrf_cookie() -> str:
    """A fresh random value for the pre-session CSRF cookie."""
    return secrets.token_urlsafe(24)


def new_nonce() -> str:
    return secrets.token_urlsafe(12)


class NonceLedger:
    """Remembers the nonces of WebSocket tokens already used, until they expire,
    so a token opens one connection only. Holds at most ``limit`` live nonces."""

    def __init__(self, limit: int = 100_000) -> None:
        self._used: dict[str, float] = {}
        self._limit = limit
        self._since_purge = 0

    def use(self, nonce: str, exp: float, *, now: float) -> bool:
        """Record ``nonce``; False when it was already used (or the ledger is full)."""
        self._since_purge += 1
        if self._since_purge >= 256 or len(self._used) >= self._limit:
            self._used = {n: e for n, e in self._used.items() if e > now}
            self._since_purge = 0
        if nonce in self._used or len(self._used) >= self._limit:
            return False
        self._used[nonce] = exp
        return True


@dataclass
class _Failures:
    count: int
    last: float


class LoginThrottle:
    """Slows down guessing: after ``free`` failed logins for one username, each new
    attempt waits ``base * 2**(n - free)`` seconds (at most ``cap``). A success or
    ``forget_after`` seconds without a failure resets the count."""

    def __init__(
        self,
        *,
        free: int = 3,
        base: float = 1.0,
        cap: float = 30.0,
        forget_after: float = 900.0,
        limit: int = 10_000,
    ) -> None:
        self.free = free
        self.base = base
        self.cap = cap
        self.forget_after = forget_after
        self._limit = limit
        self._failures: dict[str, _Failures] = {}

    @staticmethod
    def _key(username: str) -> str:
        return username.strip().casefold()

    def delay(self, username: str, *, now: float) -> float:
        """Seconds to wait before checking this attempt."""
        entry = self._failures.get(self._key(username))
        if entry is None:
            return 0.0
        if now - entry.last >= self.forget_after:
            del self._failures[self._key(username)]
            return 0.0
        if entry.count < self.free:
            return 0.0
        return min(self.cap, self.base * 2 ** (entry.count - self.free))

    def failed(self, username: str, *, now: float) -> None:
        key = self._key(username)
        if key not in self._failures and len(self._failures) >= self._limit:
            self._failures = {
                k: v for k, v in self._failures.items() if now - v.last < self.forget_after
            }
        entry = self._failures.get(key)
        if entry is None or now - entry.last >= self.forget_after:
            self._failures[key] = _Failures(1, now)
        else:
            entry.count += 1
            entry.last = now

    def succeeded(self, username: str) -> None:
        self._failures.pop(self._key(username), None)
