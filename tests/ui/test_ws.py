"""The console's WebSocket over loopback: hello, commands, pushes, bookkeeping."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from agent_ui.auth import SESSION, WS_TOKEN, Signer, new_nonce
from tests.ui.conftest import IDENTITIES, SECRET, aio, eventually


def ticket(console, username="alice", *, purpose=WS_TOKEN, key=SECRET, ttl=60.0) -> str:
    ident = IDENTITIES[username]
    agent = {
        "id": ident.id,
        "username": ident.username,
        "display_name": ident.display_name,
        "extension": ident.extension,
        "role": ident.role,
    }
    return Signer(key).sign(
        purpose, {"agent": agent, "nonce": new_nonce()}, now=console.clock.seconds(), ttl=ttl
    )


async def recv(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def open_console(console, username="alice"):
    ws = await connect(console.ws_url)
    await ws.send(json.dumps({"type": "hello", "protocol": 1, "token": ticket(console, username)}))
    welcome = await recv(ws)
    assert welcome["type"] == "welcome"
    return ws, welcome


async def refused(ws, hello: str | dict) -> tuple[dict, int]:
    await ws.send(hello if isinstance(hello, str) else json.dumps(hello))
    error = await recv(ws)
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)
    return error, ws.close_code


@aio
async def test_good_token_gets_welcome_with_agent_and_snapshot(console):
    console.backend.snapshots[1] = {"state": "not_ready", "reason": "lunch", "calls_today": 4}
    ws, welcome = await open_console(console)
    assert welcome["protocol"] == 1
    assert welcome["server_time"] == console.clock.seconds()
    assert welcome["agent"] == {
        "id": 1,
        "username": "alice",
        "display_name": "Alice Martin",
        "extension": "1001",
        "role": "agent",
    }
    assert welcome["snapshot"]["state"] == "not_ready"
    assert welcome["snapshot"]["reason"] == "lunch"
    assert welcome["snapshot"]["calls_today"] == 4
    assert console.backend.opened == [1]
    assert console.hub.connected(1)
    await ws.close()


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda c: "garbage", id="garbage"),
        pytest.param(lambda c: ticket(c, key=b"another-key-0123456789"), id="wrong-key"),
        pytest.param(lambda c: ticket(c, purpose=SESSION), id="session-cookie"),
        pytest.param(lambda c: ticket(c, ttl=-1), id="expired"),
        pytest.param(lambda c: None, id="missing"),
    ],
)
@aio
async def test_bad_token_is_told_unauthorized_and_closed_4401(console, make_token):
    ws = await connect(console.ws_url)
    error, code = await refused(ws, {"type": "hello", "protocol": 1, "token": make_token(console)})
    assert error == {"type": "error", "error": "unauthorized"}
    assert code == 4401
    assert console.backend.opened == []


@aio
async def test_token_expires_sixty_seconds_after_it_was_issued(console):
    token = ticket(console)
    console.clock.advance(60)
    ws = await connect(console.ws_url)
    error, code = await refused(ws, {"type": "hello", "protocol": 1, "token": token})
    assert (error["error"], code) == ("unauthorized", 4401)


@aio
async def test_token_opens_one_socket_only(console):
    token = ticket(console)
    first = await connect(console.ws_url)
    await first.send(json.dumps({"type": "hello", "protocol": 1, "token": token}))
    assert (await recv(first))["type"] == "welcome"
    second = await connect(console.ws_url)
    _error, code = await refused(second, {"type": "hello", "protocol": 1, "token": token})
    assert code == 4401
    await first.close()


@pytest.mark.parametrize(
    "hello",
    ["not json", "[1]", json.dumps({"type": "command", "id": 1, "name": "ready"})],
)
@aio
async def test_first_message_other_than_hello_is_refused(console, hello):
    ws = await connect(console.ws_url)
    error, code = await refused(ws, hello)
    assert (error["error"], code) == ("expected hello", 4400)


@aio
async def test_unknown_protocol_version_is_refused(console):
    ws = await connect(console.ws_url)
    error, code = await refused(ws, {"type": "hello", "protocol": 2, "token": ticket(console)})
    assert (error["error"], code) == ("unsupported protocol", 4400)


@aio
async def test_socket_without_hello_is_closed_after_five_seconds(console):
    ws = await connect(console.ws_url)
    await eventually(lambda: console.clock.getDelayedCalls())
    console.clock.advance(4.9)
    assert ws.close_code is None
    console.clock.advance(0.1)
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == 4408


@aio
async def test_commands_are_relayed_and_replied_by_id(console):
    ws, _ = await open_console(console)
    await ws.send(json.dumps({"type": "command", "id": 7, "name": "ready", "args": {}}))
    assert await recv(ws) == {
        "type": "reply",
        "id": 7,
        "ok": True,
        "result": {"state": "ready", "reason": ""},
    }
    await ws.send(
        json.dumps({"type": "command", "id": 8, "name": "not_ready", "args": {"reason": "lunch"}})
    )
    reply = await recv(ws)
    assert (reply["id"], reply["ok"], reply["result"]["reason"]) == (8, True, "lunch")
    assert console.backend.commands == [(1, "ready", {}), (1, "not_ready", {"reason": "lunch"})]
    await ws.close()


@aio
async def test_rejected_command_replies_with_the_backend_message(console):
    console.backend.rejections["ready"] = "You are on a call"
    ws, _ = await open_console(console)
    await ws.send(json.dumps({"type": "command", "id": 1, "name": "ready", "args": {}}))
    assert await recv(ws) == {"type": "reply", "id": 1, "ok": False, "error": "You are on a call"}
    await ws.close()


@aio
async def test_backend_crash_gives_internal_error_and_the_socket_lives_on(console):
    console.backend.broken.add("ready")
    ws, _ = await open_console(console)
    await ws.send(json.dumps({"type": "command", "id": 1, "name": "ready", "args": {}}))
    assert await recv(ws) == {"type": "reply", "id": 1, "ok": False, "error": "internal error"}
    await ws.send(json.dumps({"type": "ping"}))
    assert await recv(ws) == {"type": "pong"}
    await ws.close()


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("{not json", {"type": "error", "error": "malformed message"}),
        ("42", {"type": "error", "error": "malformed message"}),
        (b"\x00binary", {"type": "error", "error": "malformed message"}),
        (json.dumps({"type": "dance"}), {"type": "error", "error": "unknown message type"}),
        (json.dumps({"type": "__init__"}), {"type": "error", "error": "unknown message type"}),
        (json.dumps({"nope": 1}), {"type": "error", "error": "unknown message type"}),
        (
            json.dumps({"type": "dance", "id": 3}),
            {"type": "reply", "id": 3, "ok": False, "error": "unknown message type"},
        ),
        (
            json.dumps({"type": "command", "id": 4, "name": "ready", "args": [1]}),
            {"type": "reply", "id": 4, "ok": False, "error": "malformed command"},
        ),
        (
            json.dumps({"type": "command", "id": 5}),
            {"type": "reply", "id": 5, "ok": False, "error": "malformed command"},
        ),
        (
            json.dumps({"type": "command", "id": 6, "name": "fly"}),
            {"type": "reply", "id": 6, "ok": False, "error": "unknown command 'fly'"},
        ),
    ],
)
@aio
async def test_bad_messages_get_an_error_and_the_socket_keeps_working(console, message, expected):
    ws, _ = await open_console(console)
    await ws.send(message)
    assert await recv(ws) == expected
    await ws.send(json.dumps({"type": "command", "id": 99, "name": "ready", "args": {}}))
    assert (await recv(ws))["ok"] is True
    await ws.close()


@aio
async def test_push_reaches_every_socket_of_the_agent_and_no_other_agent(console):
    tab1, _ = await open_console(console, "alice")
    tab2, _ = await open_console(console, "alice")
    other, _ = await open_console(console, "bob")
    pop = {"type": "pop", "call_id": "1.5", "caller_number": "+15551234567", "customer": None}
    assert console.hub.push(1, pop) == 2
    assert await recv(tab1) == pop
    assert await recv(tab2) == pop
    marker = {"type": "call", "call_id": "2.1", "state": "ringing", "at": 1.0}
    assert console.hub.push(2, marker) == 1
    assert await recv(other) == marker  # the first thing bob got: never alice's pop
    assert console.hub.push(3, marker) == 0
    for ws in (tab1, tab2, other):
        await ws.close()


@aio
async def test_opened_on_first_socket_and_closed_after_last(console):
    tab1, _ = await open_console(console)
    tab2, _ = await open_console(console)
    assert console.backend.opened == [1]
    await tab1.close()
    await eventually(lambda: console.hub.push(1, {"type": "x"}) == 1)
    assert console.backend.closed == []
    assert console.hub.connected(1)
    await tab2.close()
    await eventually(lambda: console.backend.closed == [1])
    assert not console.hub.connected(1)
    assert console.hub.push(1, {"type": "x"}) == 0


@aio
async def test_stopping_the_hub_closes_sockets_and_tells_the_backend(console):
    ws, _ = await open_console(console)
    await console.hub.stop()
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)
    assert console.backend.closed == [1]


# ---------------------------------------------------------------- roles


async def command(ws, msg_id: int, command_name: str, /, **args) -> dict:
    await ws.send(json.dumps({"type": "command", "id": msg_id, "name": command_name,
                              "args": args}))
    return await recv(ws)


@pytest.mark.parametrize(
    "name", ["force_ready", "force_not_ready", "force_logout", "listen", "whisper", "barge"]
)
@aio
async def test_supervisor_command_from_an_agent_is_refused_before_the_backend(console, name):
    ws, welcome = await open_console(console, "alice")
    assert "supervisor" not in welcome
    reply = await command(ws, 5, name, agent_id=2)
    assert reply == {"type": "reply", "id": 5, "ok": False, "error": "forbidden: supervisors only"}
    assert console.backend.commands == []
    await ws.close()


@pytest.mark.parametrize("username", ["carol", "dave"])
@aio
async def test_supervisor_commands_are_relayed_with_the_supervisors_identity(console, username):
    ws, _ = await open_console(console, username)
    reply = await command(ws, 1, "force_not_ready", agent_id=2, reason="training")
    assert reply["ok"] is True and reply["result"]["state"] == "not_ready"
    me = IDENTITIES[username].id
    assert console.backend.commands == [(me, "force_not_ready", {"agent_id": 2, "reason": "training"})]
    for bad in ("2", None, True, 2.5):
        reply = await command(ws, 2, "force_ready", agent_id=bad)
        assert reply["ok"] is False and "agent_id" in reply["error"]
    assert len(console.backend.commands) == 1
    await ws.close()


@aio
async def test_supervisor_welcome_carries_the_wallboard_snapshot(console):
    ws, welcome = await open_console(console, "carol")
    assert welcome["agent"]["role"] == "supervisor"
    assert welcome["supervisor"] == console.backend.board
    await ws.close()


@aio
async def test_supervisor_welcome_without_a_board_from_the_backend_is_empty(console):
    def broken():
        raise RuntimeError("no board")

    console.backend.supervisor_snapshot = broken
    ws, welcome = await open_console(console, "carol")
    assert welcome["supervisor"] == {"queues": [], "agents": [], "at": console.clock.seconds()}
    await ws.close()


@aio
async def test_push_role_reaches_supervisors_and_admins_never_agents(console):
    agent, _ = await open_console(console, "alice")
    sup, _ = await open_console(console, "carol")
    admin, _ = await open_console(console, "dave")
    stats = {"type": "queue_stats", "queues": [], "at": 1.0}
    assert console.hub.push_role("supervisor", stats) == 2
    assert await recv(sup) == stats
    assert await recv(admin) == stats
    # Even when addressed to the agent directly, a supervisor push is held back.
    assert console.hub.push(1, {"type": "agents", "agents": []}) == 0
    assert console.hub.push_role("agent", {"type": "agents", "agents": []}) == 1  # the admin
    assert await recv(admin) == {"type": "agents", "agents": []}
    marker = {"type": "agent_state", "state": "ready", "reason": "", "since": 1.0}
    assert console.hub.push(1, marker) == 1
    assert await recv(agent) == marker  # the first thing alice got: no wallboard data
    for ws in (agent, sup, admin):
        await ws.close()


@aio
async def test_token_with_an_unknown_role_is_refused(console):
    agent = {"id": 9, "username": "x", "display_name": "X", "extension": "", "role": "root"}
    token = Signer(SECRET).sign(WS_TOKEN, {"agent": agent, "nonce": new_nonce()},
                                now=console.clock.seconds(), ttl=60)
    ws = await connect(console.ws_url)
    error, code = await refused(ws, {"type": "hello", "protocol": 1, "token": token})
    assert (error["error"], code) == ("unauthorized", 4401)


@aio
async def test_hangup_is_an_agent_command_relayed_as_is(console):
    ws, _ = await open_console(console, "alice")
    reply = await command(ws, 3, "hangup")
    assert reply == {"type": "reply", "id": 3, "ok": True, "result": {"hung_up": True}}
    assert console.backend.commands == [(1, "hangup", {})]
    await ws.close()
