"""``callcenter demo``: the whole system on embedded defaults, with the simulated PBX.

Interactive: a seeded CRM in SQLite, the simulator with a few agents (``agent2``…)
that log in over the console's own protocol, and one browser login ``agent1`` /
``agent1`` whose phone the simulator answers. Calls keep arriving.

Headless (``--headless``): every agent is a simulated console client; the run stops
after ``--calls`` calls have ended and prints one JSON object as its last line.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from twisted.internet import defer, task
from twisted.logger import Logger

from callcenter.app import make_service
from callcenter.settings import load_settings
from crm_store.seed import seed_demo
from crm_store.store import Store, make_engine

log = Logger()

DEMO_AMI_SECRET = "demo-secret"
# Skills of the simulated agents, in turn. agent1, the browser user, is the best sales
# agent (sales:5,support:3,billing:3): sales routes to the most skilled ready agent, so the
# next sales call after they press Ready is theirs. Billing calls (the IVR's option 3)
# need "billing".
DEMO_SKILLS = ("sales:4,support:2,billing:2", "sales:2,support:5,billing:4",
               "sales:4,support:4,billing:3")
# The IVR callers walk: language choice, identification by number or account + PIN,
# the main menu, VIPs first (config/ivr/demo.toml).
DEMO_FLOW = Path(__file__).resolve().parents[1] / "config" / "ivr" / "demo.toml"


@dataclass(frozen=True)
class DemoTimings:
    """How fast the simulated world moves (seconds)."""

    prompt: float
    answer_after: tuple[float, float]
    talk: tuple[float, float]
    wrapup: float
    poll_ms: int
    ring_timeout: int


INTERACTIVE = DemoTimings(prompt=0.5, answer_after=(1.0, 3.0), talk=(8.0, 20.0), wrapup=5.0,
                          poll_ms=500, ring_timeout=20)
HEADLESS = DemoTimings(prompt=0.2, answer_after=(0.2, 0.6), talk=(1.0, 3.0), wrapup=0.5,
                       poll_ms=200, ring_timeout=10)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def demo_settings(args, timings: DemoTimings):
    data_dir = Path(args.data_dir or "callcenter-data")
    http_port = args.http_port
    ws_port = args.ws_port if args.ws_port is not None else (http_port + 1 if http_port else 0)
    if args.headless and http_port == 8080:
        # A headless run needs no fixed port: never collide with a running demo.
        http_port, ws_port = free_port(), free_port()
    overrides = {
        "data_dir": str(data_dir),
        "ami": {"host": "127.0.0.1", "port": free_port(), "username": "cti",
                "secret": DEMO_AMI_SECRET, "auth": "md5"},
        "agi": {"host": "127.0.0.1", "port": free_port()},
        "web": {"host": "127.0.0.1", "http_port": http_port, "ws_port": ws_port},
        "routing": {"queue_poll_ms": timings.poll_ms, "ring_timeout": timings.ring_timeout},
        "ivr": {"flows": [str(DEMO_FLOW)]},
        # Skills-based: every demo agent can take both queues, at different
        # proficiencies; sales goes to the most skilled ready agent, support to the
        # longest idle; VIP callers get priority (routing.vip_tiers).
        "queues": [{"name": "sales", "wrapup_seconds": timings.wrapup, "skills": "sales:2",
                    "strategy": "most_skilled"},
                   {"name": "support", "wrapup_seconds": timings.wrapup,
                    "skills": "support:2", "strategy": "longest_idle"}],
    }
    return load_settings(args.config, overrides=overrides)


def prepare_store(settings, *, agents: int, customers: int, seed: int):
    """Schema, agents (``agentN`` / ``agentN``, extension 100N) and the seeded CRM."""
    store = Store(make_engine(settings.store_url()), region=settings.store.region)
    store.create_schema()
    records = []
    for i in range(1, agents + 1):
        ext = str(1000 + i)
        skills = (DEMO_SKILLS[i % len(DEMO_SKILLS)] if i > 1
                  else "sales:5,support:3,billing:3")
        records.append(store.add_agent(
            username=f"agent{i}", password=f"agent{i}", display_name=f"Agent {i}",
            role="agent", extension=ext, interface=f"Local/{ext}@agents/n", skills=skills))
    # A supervisor for the wallboard (/supervisor): supervisor / supervisor.
    store.add_agent(username="supervisor", password="supervisor", display_name="Supervisor",
                    role="supervisor", extension="1100", interface="Local/1100@agents/n")
    seeded = seed_demo(store, customers=customers, seed=seed)
    return store, records, seeded


def demo_callers(known_numbers, pins) -> Callable[[random.Random, str], dict]:
    """What each simulated caller keys in the demo flow (``CallerScript.digits`` by
    prompt name): a language (some press it during the welcome), the account number
    and PIN when calling from a number the CRM does not know (one in five mistypes
    the PIN first), a main-menu choice, and an invoice number for billing."""
    known = set(known_numbers)
    accounts = list(pins)

    def digits(rng: random.Random, number: str) -> dict:
        language = "1" if rng.random() < 0.8 else "2"
        keyed: dict = {("custom/welcome" if rng.random() < 0.1
                        else "custom/language-menu"): language}
        if number not in known and accounts:
            account, pin = rng.choice(accounts)
            if rng.random() < 0.2:
                wrong = f"{(int(pin) + 1) % 10 ** len(pin):0{len(pin)}d}"
                keyed["custom/enter-account"] = [account, account]
                keyed["custom/enter-pin"] = [wrong, pin]
            else:
                keyed["custom/enter-account"] = account
                keyed["custom/enter-pin"] = pin
        elif number not in known:
            keyed["custom/enter-account"] = "#"  # no account: served unidentified
        choice = rng.choices("123", weights=(45, 40, 15))[0]
        keyed["custom/main-menu"] = choice
        keyed["custom/long-wait"] = "2"  # keep waiting rather than leave a message
        if choice == "3":
            keyed["custom/enter-invoice"] = _luhn_number(rng, 8) + "#"
        return keyed

    return digits


def _luhn_number(rng: random.Random, length: int) -> str:
    body = [rng.randrange(10) for _ in range(length - 1)]
    total = 0
    for i, d in enumerate(reversed(body)):
        total += (d * 2 - 9 if d > 4 else d * 2) if i % 2 == 0 else d
    return "".join(map(str, body)) + str((10 - total % 10) % 10)


@dataclass
class Bot:
    """A simulated agent at a real console: logged in through the HTTP form, one
    WebSocket, Ready once; it records each screen-pop as it arrives."""

    username: str
    client: object = None
    pops: list = field(default_factory=list)

    def on_message(self, message: dict, received_at: float) -> None:
        if message.get("type") == "pop":
            latency_ms = (received_at - message["ring_at"]) * 1000.0
            self.pops.append((message["call_id"], latency_ms))


async def start_bot(base_url: str, username: str) -> Bot:
    from agent_ui.client import ConsoleClient

    bot = Bot(username)
    bot.client = ConsoleClient(on_message=bot.on_message)
    await bot.client.login(base_url, username, username)
    await bot.client.connect()
    await bot.client.command("ready")
    return bot


def as_deferred(coro) -> defer.Deferred:
    return defer.Deferred.fromFuture(asyncio.ensure_future(coro))


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100.0 * (len(ordered) - 1))))
    return round(ordered[k], 2)


def run_demo(args, reactor) -> int:
    from callcenter.simulator import PhoneBehaviour, SimulatorService

    timings = HEADLESS if args.headless else INTERACTIVE
    settings = demo_settings(args, timings)
    agents = max(1, args.agents)
    store, records, seeded = prepare_store(settings, agents=agents,
                                           customers=args.customers, seed=args.seed)
    rng = random.Random(args.seed)
    phones = {
        r.extension: PhoneBehaviour(r.extension, answer_after=rng.uniform(*timings.answer_after),
                                    talk_seconds=rng.uniform(*timings.talk))
        for r in records
    }
    service = make_service(settings, reactor, store=store)
    simulator = SimulatorService(
        reactor, ami_host=settings.ami.host, ami_port=settings.ami.port,
        username=settings.ami.username, secret=DEMO_AMI_SECRET,
        agi_host=settings.agi.host, agi_port=settings.agi.port, phones=phones,
        seed=args.seed, prompt_seconds=timings.prompt)
    # 7. simulator: last, as in a real site where the PBX is already up.
    simulator.setName("simulator")
    simulator.setServiceParent(service)
    base_url = f"http://{settings.web.host}:{settings.web.http_port}/"
    outcome = {"code": 0}
    callers = demo_callers(seeded.numbers, seeded.pins)

    # Mean handle time of one call, so the arrival rate keeps agents busy but not
    # hopelessly behind.
    handle = (sum(timings.answer_after) / 2 + sum(timings.talk) / 2 + timings.wrapup
              + 2.5 * timings.prompt + timings.poll_ms / 1000.0)
    capacity = agents / handle
    rate = args.rate or (0.85 * capacity if args.headless else max(0.2, 1.2 * capacity))

    @defer.inlineCallbacks
    def ami_ready():
        """Traffic starts once the core is logged in to the (simulated) PBX: calls
        placed while AMI is still connecting would be seen from FastAGI only."""
        ami = service.center.ami
        for _ in range(100):
            if ami is None or ami.current() is not None:
                return
            yield task.deferLater(reactor, 0.1, lambda: None)

    @defer.inlineCallbacks
    def headless():
        yield service.start()
        yield ami_ready()
        run_started = reactor.seconds()
        bots = yield as_deferred(asyncio.gather(
            *(start_bot(base_url, f"agent{i}") for i in range(1, agents + 1))))
        started = time.time()
        yield simulator.start_traffic(rate=rate, numbers=seeded.numbers, max_calls=args.calls,
                                      unknown_share=0.1, patience_mean=60.0,
                                      digits_for=callers)
        # Let the last AMI events and contact writes land.
        for _ in range(100):
            if service.center.counters["calls_ended"] >= args.calls:
                break
            yield task.deferLater(reactor, 0.1, lambda: None)
        for _ in range(100):
            still_open = yield service.db.do(Store.open_contacts)
            if not still_open:
                break
            yield task.deferLater(reactor, 0.1, lambda: None)
        logged = yield service.db.do(Store.count_contacts, since=run_started)
        counters = service.center.counters
        latencies = [ms for bot in bots for _, ms in bot.pops]
        popped = {call_id for bot in bots for call_id, _ in bot.pops}
        report = {
            "calls_offered": counters["calls_arrived"],
            "calls_answered": counters["calls_answered"],
            "calls_abandoned": counters["calls_abandoned"],
            "contacts_logged": logged,
            "contacts_open": len(still_open),
            "screen_pops_sent": counters["screen_pops_sent"],
            "screen_pops_received": len(latencies),
            "answered_without_pop": len(service.center.answered_calls - popped),
            "pop_latency_ms_p50": percentile(latencies, 50),
            "pop_latency_ms_p99": percentile(latencies, 99),
            "pop_latency_ms_max": percentile(latencies, 100),
            "agents": agents,
            "arrival_rate_per_s": round(rate, 3),
            "elapsed_s": round(time.time() - started, 1),
        }
        for bot in bots:
            yield as_deferred(bot.client.close())
        yield service.stopService()
        print(json.dumps(report), flush=True)

    @defer.inlineCallbacks
    def interactive():
        yield service.start()
        yield ami_ready()
        yield as_deferred(asyncio.gather(
            *(start_bot(base_url, f"agent{i}") for i in range(2, agents + 1))))
        print(f"console: {base_url}", flush=True)
        print("log in as agent1 / agent1 and press Ready; Ctrl-C stops the demo", flush=True)
        if not args.no_traffic:
            simulator.start_traffic(rate=rate, numbers=seeded.numbers, max_calls=None,
                                    unknown_share=0.1, patience_mean=90.0,
                                    digits_for=callers)

    def failed(f):
        outcome["code"] = 1
        print(f"callcenter demo: {f.getErrorMessage()}", file=sys.stderr)
        log.failure("demo failed", f)

    def go():
        d = headless() if args.headless else interactive()
        d.addErrback(failed)
        if args.headless:
            d.addBoth(lambda _: reactor.stop())

    reactor.callLater(0, go)
    if not args.headless:
        reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.run()
    return outcome["code"]
