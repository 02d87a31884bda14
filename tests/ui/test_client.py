"""The Python client of the console's protocol, end to end over loopback."""

from __future__ import annotations

import pytest

from agent_ui.backend import CommandRejected
from agent_ui.client import ConsoleClient, ConsoleError
from tests.ui.conftest import aio, eventually


@aio
async def test_client_logs_in_connects_commands_and_receives_pushes(console):
    received = []
    client = ConsoleClient(on_message=lambda msg, at: received.append((msg, at)))
    await client.login(console.base_url, "alice", "correct horse")
    welcome = await client.connect()
    assert welcome["agent"]["display_name"] == "Alice Martin"
    assert client.agent["id"] == 1
    assert client.snapshot["reasons"] == ["break", "lunch", "training"]

    assert await client.command("not_ready", reason="break") == {
        "state": "not_ready",
        "reason": "break",
    }
    assert console.backend.commands == [(1, "not_ready", {"reason": "break"})]

    console.hub.push(1, {"type": "agent_state", "state": "ready", "reason": "", "since": 5.0})
    await eventually(lambda: received)
    msg, at = received[0]
    assert msg == {"type": "agent_state", "state": "ready", "reason": "", "since": 5.0}
    assert isinstance(at, float) and at > 1e9

    console.backend.rejections["ready"] = "Finish your wrap-up first"
    with pytest.raises(CommandRejected, match="Finish your wrap-up first"):
        await client.command("ready")

    await client.close()
    await eventually(lambda: console.backend.closed == [1])


@aio
async def test_client_reconnects_with_a_fresh_ticket(console):
    client = ConsoleClient()
    await client.login(console.base_url, "bob", "battery staple")
    await client.connect()
    await client.close()
    await client.connect()  # the first ticket was used: a new one is fetched
    assert client.agent["username"] == "bob"
    await client.close()


@aio
async def test_client_wrong_password_raises(console):
    with pytest.raises(ConsoleError, match="sign-in refused"):
        await ConsoleClient().login(console.base_url, "alice", "nope")


@aio
async def test_command_before_connect_raises(console):
    with pytest.raises(ConsoleError, match="not connected"):
        await ConsoleClient().command("ready")


@aio
async def test_command_sends_an_argument_called_name(console):
    client = ConsoleClient()
    await client.login(console.base_url, "alice", "correct horse")
    await client.connect()
    # The fake backend knows no create_customer: it records the command, then refuses.
    with pytest.raises(CommandRejected, match="unknown command"):
        await client.command("create_customer", name="Ada Lovelace", company="Analytical")
    assert console.backend.commands[-1] == (
        1, "create_customer", {"name": "Ada Lovelace", "company": "Analytical"})
    await client.close()
