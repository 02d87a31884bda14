"""A whole call center on loopback: the real server (AMI client, FastAGI server, web,
WebSocket, SQLite store) against the simulated PBX, in the test's reactor."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from twisted.internet import defer, task

from callcenter.app import make_service
from callcenter.settings import load_settings
from crm_store.seed import seed_demo
from crm_store.store import Store, make_engine
from tests.conftest import free_port

SECRET = "it-secret"


def settings_for(tmp_path, ivr=None, queues=None, **routing):
    return load_settings(environ={}, overrides={
        **({"ivr": ivr} if ivr else {}),
        "data_dir": str(tmp_path),
        "ami": {"port": free_port(), "secret": SECRET, "auth": "md5"},
        "agi": {"port": free_port()},
        "web": {"http_port": free_port(), "ws_port": free_port(), "secret_key": "k" * 32},
        "routing": {"queue_poll_ms": 100, "ring_timeout": 5, **routing},
        "queues": queues or [{"name": "sales", "wrapup_seconds": 0.2},
                             {"name": "support", "wrapup_seconds": 0.2}],
    })


def as_deferred(coro) -> defer.Deferred:
    return defer.Deferred.fromFuture(asyncio.ensure_future(coro))


async def until(reactor, predicate, timeout: float = 10.0, what: str = "condition"):
    """Wait, on the reactor, until ``predicate()`` is true (fails after ``timeout``)."""
    waited = 0.0
    while not predicate():
        if waited >= timeout:
            raise AssertionError(f"timed out waiting for {what}")
        await task.deferLater(reactor, 0.05, lambda: None)
        waited += 0.05


@dataclass
class Console:
    """One agent's console client, recording what it was pushed."""

    client: object
    messages: list = field(default_factory=list)

    def of_type(self, kind: str) -> list:
        return [m for m, _ in self.messages if m.get("type") == kind]


class CallCenterHarness:
    def __init__(self, reactor, tmp_path, *, agents=1, customers=50, phones=None, ivr=None,
                 skills="", queues=None, **routing):
        from callcenter.simulator import PhoneBehaviour, SimulatorService

        self.reactor = reactor
        self.settings = settings_for(tmp_path, ivr=ivr, queues=queues, **routing)
        self.store = Store(make_engine(self.settings.store_url()))
        self.store.create_schema()
        self.agents = [
            self.store.add_agent(username=f"agent{i}", password=f"pw-agent{i}",
                                 display_name=f"Agent {i}", extension=str(1000 + i),
                                 interface=f"Local/{1000 + i}@agents/n", skills=skills)
            for i in range(1, agents + 1)
        ]
        self.seeded = seed_demo(self.store, customers=customers, seed=3)
        phones = phones or {
            a.extension: PhoneBehaviour(a.extension, answer_after=0.2, talk_seconds=0.6)
            for a in self.agents
        }
        self.service = make_service(self.settings, reactor, store=self.store)
        self.simulator = SimulatorService(
            reactor, ami_port=self.settings.ami.port, secret=SECRET,
            agi_port=self.settings.agi.port, phones=phones, prompt_seconds=0.05)
        self.simulator.setName("simulator")
        self.simulator.setServiceParent(self.service)
        self.consoles: list[Console] = []
        self.base_url = f"http://127.0.0.1:{self.settings.web.http_port}/"

    @property
    def center(self):
        return self.service.center

    async def start(self):
        await self.service.start()
        await until(self.reactor, lambda: self.service.ami.current() is not None,
                    what="AMI login")

    async def console(self, username: str, password: str | None = None) -> Console:
        from agent_ui.client import ConsoleClient

        console = Console(None)
        client = ConsoleClient(on_message=lambda m, t: console.messages.append((m, t)))
        console.client = client
        await as_deferred(client.login(self.base_url, username, password or f"pw-{username}"))
        await as_deferred(client.connect())
        self.consoles.append(console)
        return console

    async def contacts_closed(self, n: int):
        async def closed():
            return await self.service.db.do(Store.open_contacts)

        for _ in range(200):
            still_open = await self.service.db.do(Store.open_contacts)
            count = await self.service.db.do(Store.count_contacts)
            if not still_open and count >= n:
                return
            await task.deferLater(self.reactor, 0.05, lambda: None)
        raise AssertionError(f"contacts still open: {still_open}")

    async def contact_closed(self, call_id: str, timeout: float = 20.0):
        """The contact of ``call_id`` once it is closed (fails after ``timeout``)."""
        waited = 0.0
        while waited < timeout:
            contact = await self.service.db.do(Store.contact, call_id)
            if contact is not None and contact.status == "closed":
                return contact
            await task.deferLater(self.reactor, 0.05, lambda: None)
            waited += 0.05
        raise AssertionError(f"contact {call_id} still open")

    async def stop(self):
        for console in self.consoles:
            await as_deferred(console.client.close())
        await self.service.stopService()

    async def restart(self, phones=None):
        """Stop the server, then start a new one (and a new simulated PBX, same ports)
        on the same database URL: what carries over is what the store kept."""
        from callcenter.simulator import PhoneBehaviour, SimulatorService

        await self.stop()
        self.consoles = []
        self.store.engine.dispose()
        self.store = Store(make_engine(self.settings.store_url()))
        phones = phones or {
            a.extension: PhoneBehaviour(a.extension, answer_after=0.2, talk_seconds=0.6)
            for a in self.agents
        }
        self.service = make_service(self.settings, self.reactor, store=self.store)
        self.simulator = SimulatorService(
            self.reactor, ami_port=self.settings.ami.port, secret=SECRET,
            agi_port=self.settings.agi.port, phones=phones, prompt_seconds=0.05)
        self.simulator.setName("simulator")
        self.simulator.setServiceParent(self.service)
        await self.start()
