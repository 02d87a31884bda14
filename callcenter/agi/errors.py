"""Errors of the FastAGI codec and server. Each says whose fault it is."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from callcenter.agi.codec import AGIResult


class AGIError(Exception):
    """Base of every FastAGI error."""


class LocalProtocolError(AGIError, ValueError):
    """We were asked to send something FastAGI cannot carry (our fault)."""


class AGICommandError(AGIError):
    """Asterisk rejected the command: ``510`` unknown command, ``520`` bad syntax."""

    def __init__(self, command: str, result: AGIResult) -> None:
        first_line = result.text.split("\n", 1)[0] if result.text else str(result.code)
        super().__init__(f"{command}: {first_line}")
        self.command = command
        self.result = result


class AGIHangup(AGIError):
    """The channel is gone (``511``, a ``-1`` result where it means hangup) or the
    FastAGI connection is closed."""

    def __init__(self, reason: str, result: AGIResult | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.result = result


class AGICommandTimeout(AGIError):
    """No reply within the command timeout; the connection is dropped."""
