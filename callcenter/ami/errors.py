"""Errors of the AMI codec and client. Each says whose fault it is."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from callcenter.ami.codec import Message


class AMIError(Exception):
    """Base of every AMI error."""


class LocalProtocolError(AMIError, ValueError):
    """We were asked to send something AMI cannot carry (our fault)."""


class RemoteProtocolError(AMIError):
    """Asterisk sent something that breaks the protocol (the peer's fault)."""


class AMIAuthenticationError(AMIError):
    """Asterisk refused the login."""

    def __init__(self, message: str, response: Message | None = None) -> None:
        super().__init__(message)
        self.response = response


class AMIActionError(AMIError):
    """Asterisk answered an action with ``Response: Error``."""

    def __init__(self, action: str, response: Message) -> None:
        reason = response.get("Message") or response.get("Output") or "no message"
        super().__init__(f"{action} failed: {reason}")
        self.action = action
        self.response = response


class AMITimeoutError(AMIError):
    """No complete answer to an action arrived in time."""

    def __init__(self, action: str, action_id: str, timeout: float) -> None:
        super().__init__(f"{action} (ActionID {action_id}) got no answer within {timeout:g} s")
        self.action = action
        self.action_id = action_id
        self.timeout = timeout


class AMIConnectionLost(AMIError):
    """The connection closed before the answer arrived."""


class AMINotConnected(AMIError):
    """There is no logged-in AMI connection to send the action on."""
