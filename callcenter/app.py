"""The one wiring point: ``make_service(settings, reactor)`` builds the whole server
as one ``MultiService`` whose named children start in dependency order."""

from __future__ import annotations

import secrets
from pathlib import Path

from twisted.application import internet, service
from twisted.internet import defer, endpoints
from twisted.logger import Logger

from agent_ui.web import make_site
from agent_ui.ws import ConsoleHub
from callcenter.agi.protocol import FastAGIFactory
from callcenter.ami.protocol import make_ami_service
from callcenter.bus import Bus
from callcenter.center import CallCenter
from callcenter.dbpool import DBPool
from crm_store.store import Store, make_engine

log = Logger()


class WebSocketService(service.Service):
    """Runs the console's ``websockets`` server on the shared asyncio loop."""

    def __init__(self, hub: ConsoleHub, host: str, port: int):
        self.hub, self.host, self.port = hub, host, port

    def startService(self):
        super().startService()
        return self.hub.startListening(self.host, self.port)

    def stopService(self):
        super().stopService()
        return self.hub.stopListening()


class CallCenterService(service.MultiService):
    """The server. Children, in start order:

    1. ``store``  - the database thread pool (everything else may log contacts);
    2. ``center`` - the call center itself (loads agents from the store);
    3. ``ami``    - the AMI client: events in, actions out, reconnects by itself;
    4. ``agi``    - the FastAGI server the dialplan hands callers to;
    5. ``web``    - Twisted Web: login, console pages, JSON;
    6. ``ws``     - the console WebSocket server;
    7. ``simulator`` - the fake PBX (demo and tests only), added by the caller.
    """

    def __init__(self, settings, reactor, *, store: Store | None = None):
        super().__init__()
        self.settings = settings
        self.reactor = reactor
        # 1. store
        if store is None:
            store = Store(make_engine(settings.store_url()), region=settings.store.region)
            store.create_schema()
        self.store = store
        self.db = DBPool(reactor, store, threads_max=settings.store.threads)
        self.db.setName("store")
        self.db.setServiceParent(self)
        # 2. center and bus
        self.bus = Bus()
        self.center = CallCenter(clock=reactor, bus=self.bus, db=self.db, settings=settings)
        center_service = _CenterService(self.center)
        center_service.setName("center")
        center_service.setServiceParent(self)
        # 3. AMI client
        ami = settings.ami
        self.ami = make_ami_service(
            reactor, ami.host, ami.port, ami.username, ami.secret.get_secret_value(),
            auth=ami.auth, on_event=self.center.ami_event,
            on_connected=self._ami_connected, on_disconnected=self._ami_disconnected,
            action_timeout=ami.action_timeout,
        )
        self.ami.setName("ami")
        self.ami.setServiceParent(self)
        self.center.ami = self.ami
        # 4. FastAGI server
        agi_factory = FastAGIFactory(self.center.agi_routes(), reactor)
        self.agi = internet.StreamServerEndpointService(
            endpoints.TCP4ServerEndpoint(reactor, settings.agi.port, interface=settings.agi.host),
            agi_factory,
        )
        self.agi.setName("agi")
        self.agi.setServiceParent(self)
        # 5. web and 6. WebSocket
        key = secret_key(settings)
        self.hub = ConsoleHub(self.center, secret_key=key, clock=reactor)
        self.center.hub = self.hub
        site = make_site(self.center, secret_key=key, ws_url=settings.ws_url(), clock=reactor,
                         cookie_secure=settings.web.cookie_secure, db=self.db)
        self.web = internet.StreamServerEndpointService(
            endpoints.TCP4ServerEndpoint(reactor, settings.web.http_port,
                                         interface=settings.web.host),
            site,
        )
        self.web.setName("web")
        self.web.setServiceParent(self)
        self.ws = WebSocketService(self.hub, settings.web.host, settings.web.ws_port)
        self.ws.setName("ws")
        self.ws.setServiceParent(self)

    def _ami_connected(self, protocol) -> None:
        log.info("AMI connected and logged in to {host}:{port}",
                 host=self.settings.ami.host, port=self.settings.ami.port)
        self.center.resync()

    def _ami_disconnected(self, protocol) -> None:
        if self.running:
            log.warn("AMI connection lost; reconnecting")

    @defer.inlineCallbacks
    def start(self):
        """Start every child in order, waiting for each one that returns a Deferred
        (call it from inside the running reactor)."""
        self.running = 1
        for child in self:
            yield defer.maybeDeferred(child.startService)
        return self

    def stopService(self):
        self.running = 0
        return defer.DeferredList(
            [defer.maybeDeferred(child.stopService) for child in reversed(list(self))
             if child.running],
            consumeErrors=True,
        )


class _CenterService(service.Service):
    def __init__(self, center: CallCenter):
        self.center = center

    def startService(self):
        super().startService()
        # Pending callbacks take their places again once the agents are known.
        return self.center.load_agents().addCallback(
            lambda _: self.center.outbound.restore())

    def stopService(self):
        super().stopService()
        self.center.stop()


def secret_key(settings) -> bytes:
    """The key that signs cookies and tickets: from the settings, or made once and
    kept (mode 600) in the data directory."""
    configured = settings.web.secret_key.get_secret_value()
    if configured:
        return configured.encode()
    path = Path(settings.data_dir) / "secret.key"
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    path.touch(mode=0o600)
    path.write_bytes(key)
    return key


def make_service(settings, reactor, *, store: Store | None = None) -> CallCenterService:
    return CallCenterService(settings, reactor, store=store)
