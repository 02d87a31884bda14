"""What the agent console needs from the core: the ``ConsoleBackend`` protocol.

The console holds no business rules. It authenticates through the backend, shows
what the backend's snapshot says, relays commands and pushes what it is given.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from twisted.internet.defer import Deferred


class CommandRejected(Exception):
    """The backend refused a command; the message is shown to the agent as is."""


@runtime_checkable
class Identity(Protocol):
    """An authenticated agent or supervisor, as the backend describes it."""

    id: int
    username: str
    display_name: str
    role: str
    extension: str


class ConsoleBackend(Protocol):
    """The core, as seen from the console (implemented by the core's wiring)."""

    def authenticate(self, username: str, password: str) -> Deferred[Any]:
        """Fire with an ``Identity`` or ``None`` when the credentials are wrong."""
        ...

    def snapshot(self, agent_id: int) -> dict[str, Any]:
        """The agent's current truth: ``state``, ``reason``, ``since``, ``reasons``,
        ``call``, ``pop``, ``calls_today``."""
        ...

    def command(self, agent_id: int, name: str, args: dict[str, Any]) -> Deferred[dict[str, Any]]:
        """Run ``name`` for the agent ``agent_id`` (whose socket sent it); fire with
        a result dict, or fail with ``CommandRejected``. Agent commands: ``ready``,
        ``not_ready`` (``reason``), ``logout``, ``hangup``. Supervisor commands, only
        ever relayed from a supervisor's or an admin's socket, name their target in
        ``args["agent_id"]`` (an int): ``force_ready``, ``force_not_ready``
        (``reason``), ``force_logout``, ``listen``, ``whisper``, ``barge``. The
        backend still decides: it knows who ``agent_id`` is."""
        ...

    def console_opened(self, agent_id: int) -> None:
        """The first console socket of this agent connected."""
        ...

    def console_closed(self, agent_id: int) -> None:
        """The last console socket of this agent closed."""
        ...


class SupervisorBackend(ConsoleBackend, Protocol):
    """A backend that also feeds the wallboard (optional: without it a supervisor
    starts from an empty board and waits for pushes)."""

    def supervisor_snapshot(self) -> dict[str, Any]:
        """The wallboard's current truth: ``queues`` (as in a ``queue_stats`` push),
        ``agents`` (as in an ``agents`` push) and ``at``. See
        ``callcenter.supervision.Wallboard.snapshot``."""
        ...


def identity_dict(identity: Any) -> dict[str, Any]:
    """The public fields of an identity, as sent to the page."""
    return {
        "id": int(identity.id),
        "username": str(identity.username),
        "display_name": str(identity.display_name),
        "extension": str(identity.extension),
        "role": str(identity.role),
    }
