"""Demo data: ten thousand believable customers with phones and some call history.

Deterministic for a given ``seed`` (and ``now``). One customer is always there, for
tests and the demo script:

    Ada Lovelace, Analytical Engines Ltd, tier vip, account 1815-1210-00,
    phone +1 (555) 123-4567 (E.164 +15551234567)
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from .models import Contact, Customer, CustomerPhone
from .records import SeedResult
from .store import Store, contact_durations

__all__ = ["DEMO_CUSTOMER", "seed_demo"]

DEMO_CUSTOMER = {
    "name": "Ada Lovelace",
    "company": "Analytical Engines Ltd",
    "tier": "vip",
    "email": "ada@analytical-engines.example",
    "account_number": "1815-1210-00",
    "notes": "Founding customer. Prefers a call back over e-mail.",
    "phone": "+1 (555) 123-4567",
    "e164": "+15551234567",
}

FIRST_NAMES = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy "
    "Matthew Betty Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly Andrew Emily "
    "Paul Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah "
    "Timothy Stephanie Ronald Rebecca Jason Sharon Edward Laura Jeffrey Cynthia Ryan Amy "
    "Jacob Kathleen Gary Angela Nicholas Shirley Eric Brenda Jonathan Emma Stephen Anna "
    "Larry Pamela Justin Nicole Scott Samantha Brandon Katherine Benjamin Christine Samuel "
    "Helen Raymond Debra Gregory Rachel Frank Carolyn Alexander Janet Patrick Maria Jack "
    "Catherine Dennis Heather Jerry Diane Tyler Olivia Aaron Julie Jose Joyce Adam Victoria "
    "Nathan Ruth Henry Virginia Zachary Lauren Douglas Kelly Peter Christina Kyle Joan "
    "Noah Evelyn Ethan Judith Jeremy Andrea Walter Hannah Christian Megan Keith Cheryl "
    "Roger Jacqueline Terry Martha Austin Madison Sean Teresa Gerald Gloria Carl Sara "
    "Harold Janice Dylan Ann Arthur Kathryn Lawrence Abigail Jordan Sophia Jesse Frances "
    "Bryan Jean Billy Alice Bruce Judy Gabriel Isabella Joe Julia Logan Grace Alan Amber "
    "Juan Denise Albert Danielle Willie Marilyn Elijah Beverly Wayne Charlotte Randy "
    "Natalie Vincent Theresa Mason Diana Roy Brittany Ralph Doris Bobby Kayla Russell "
    "Alexis Bradley Lori Philip Marie Eugene Priya Wei Mei Hiroshi Yuki Carlos Lucia "
    "Ahmed Fatima Mohammed Aisha Dmitri Olga Kwame Amara Sven Ingrid Rafael Camila Arjun "
    "Ananya Tomasz Zofia Liam Siobhan Mateo Valentina Kenji Sakura Oluwaseun Chioma"
).split()

LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright "
    "Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell "
    "Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins "
    "Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper "
    "Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez "
    "Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel "
    "Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman "
    "Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson "
    "Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant "
    "Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens "
    "Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman "
    "Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva "
    "Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd "
    "Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols "
    "Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold "
    "Pierce Vazquez Hansen Peters Santos Hart Bradley Knight Elliott Cunningham Duncan "
    "Armstrong Hudson Carroll Lane Riley Andrews Alvarado Ray Delgado Berry Perkins Hoffman "
    "Johnston Matthews Pena Richards Contreras Willis Carpenter Lawrence Sandoval Yamamoto "
    "Tanaka Okafor Mensah Kowalski Novak Ivanova Larsen Nakamura Sharma Singh Haddad Ali"
).split()

_COMPANY_WORDS = (
    "Acme Apex Atlas Beacon Blue Bright Cedar Summit Cobalt Crescent Delta Eagle Evergreen "
    "Falcon Frontier Granite Harbor Horizon Iron Keystone Liberty Lighthouse Maple Meridian "
    "Northwind Oak Orion Pacific Pinnacle Pioneer Prairie Quantum Redwood River Sierra "
    "Silver Sterling Stone Sun Titan Union Vanguard Vertex Willow"
).split()
_COMPANY_TRADES = (
    "Logistics Dental Bakery Consulting Plumbing Software Realty Insurance Freight Media "
    "Labs Medical Foods Energy Design Motors Outfitters Analytics Hardware Travel Legal "
    "Accounting Florists Printing Security Robotics Textiles Brewing Pharmacy Studios"
).split()
_COMPANY_SUFFIXES = ("Inc", "LLC", "Co", "Corp", "Ltd", "Group", "Partners", "")
_FREE_MAIL = ("gmail.example", "yahoo.example", "outlook.example", "icloud.example", "mail.example")

AREA_CODES = (
    "212 646 718 917 415 628 510 617 857 312 773 872 555 202 213 310 305 404 206 303 "
    "512 214 713 602 215 412 702 615 503 612 919 704 813 407 801 916"
).split()

_QUEUES = ("sales", "support", "billing")
_DISPOSITIONS = {
    "sales": ("sale", "quote_sent", "not_interested", "callback_scheduled"),
    "support": ("resolved", "escalated", "ticket_opened", "callback_scheduled"),
    "billing": ("resolved", "payment_taken", "refund_issued", "escalated"),
}
_NOTES = {
    "sale": "Upgraded to the annual plan.",
    "quote_sent": "Sent a quote for 25 seats by e-mail.",
    "not_interested": "Happy with the current plan for now.",
    "callback_scheduled": "Asked to be called back tomorrow morning.",
    "resolved": "Walked the customer through the settings; working now.",
    "escalated": "Escalated to second line; customer informed of the delay.",
    "ticket_opened": "Opened a ticket for the intermittent outage.",
    "payment_taken": "Took a card payment for the overdue invoice.",
    "refund_issued": "Refunded the duplicate charge.",
}
_DNIS = ("8005550100", "8005550101", "8005550102")
_HISTORY_DAYS = 90


def _raw_phone(rng: random.Random, area: str, exchange: str, line: str) -> str:
    style = rng.randrange(7)
    if style == 0:
        return f"+1 ({area}) {exchange}-{line}"
    if style == 1:
        return f"{area}.{exchange}.{line}"
    if style == 2:
        return f"{area}{exchange}{line}"
    if style == 3:
        return f"({area}) {exchange}-{line}"
    if style == 4:
        return f"1-{area}-{exchange}-{line}"
    if style == 5:
        return f"+1{area}{exchange}{line}"
    return f"{area}-{exchange}-{line}"


class _Numbers:
    """Unique 10-digit NANP numbers, each as (raw, e164)."""

    def __init__(self, rng: random.Random, taken: set[str]) -> None:
        self.rng = rng
        self.taken = taken

    def new(self) -> tuple[str, str]:
        rng = self.rng
        while True:
            area = rng.choice(AREA_CODES)
            exchange = str(rng.randrange(200, 1000))
            if exchange[1:] == "11":  # N11 codes are service numbers
                continue
            line = f"{rng.randrange(10_000):04d}"
            e164 = f"+1{area}{exchange}{line}"
            if e164 not in self.taken:
                self.taken.add(e164)
                return _raw_phone(rng, area, exchange, line), e164


def _company(rng: random.Random, last: str) -> tuple[str, str]:
    """(company name, e-mail domain); a third of customers are private persons."""
    roll = rng.random()
    if roll < 0.33:
        return "", ""
    if roll < 0.5:
        other = rng.choice(LAST_NAMES)
        name = f"{last} & {other}" if other != last else f"{last} & Sons"
    else:
        name = f"{rng.choice(_COMPANY_WORDS)} {rng.choice(_COMPANY_TRADES)}"
    suffix = rng.choice(_COMPANY_SUFFIXES)
    full = f"{name} {suffix}".strip()
    domain = "".join(ch for ch in name.lower() if ch.isalnum()) + ".example"
    return full, domain


def _tier(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.05:
        return "vip"
    if roll < 0.25:
        return "gold"
    return "standard"


def _account(rng: random.Random, taken: set[str]) -> str:
    # First block 1000-8999: accounts made from an id by the store start with 9.
    while True:
        number = f"{rng.randrange(1000, 9000)}-{rng.randrange(10_000):04d}-{rng.randrange(100):02d}"
        if number not in taken:
            taken.add(number)
            return number


# Demo accounts given a telephone PIN (identification by account + PIN in the IVR):
# the fixed demo customer and the next ones. Each PIN costs one argon2 hash.
PIN_ACCOUNTS = 10


def seed_demo(
    store: Store, *, customers: int = 10_000, seed: int = 1, now: float | None = None
) -> SeedResult:
    """Fill an empty store with ``customers`` demo customers (the fixed demo
    customer included), their phones, and closed past contacts for about 30% of
    them over the last 90 days (handled by the store's agents, if any exist yet).

    If the store already has customers nothing is written and their numbers are
    returned. ``now`` defaults to the store's clock.
    """
    if store.count_customers() > 0:
        return SeedResult(numbers=_existing_numbers(store), pins=_demo_pins(store))
    if customers <= 0:
        return SeedResult()

    rng = random.Random(seed)
    now_dt = datetime.fromtimestamp(store.clock() if now is None else now, UTC)
    agent_ids = [a.id for a in store.agents() if a.role == "agent"]
    numbers = _Numbers(rng, {DEMO_CUSTOMER["e164"]})
    accounts = {DEMO_CUSTOMER["account_number"]}

    customer_rows = [
        {
            "account_number": DEMO_CUSTOMER["account_number"],
            "name": DEMO_CUSTOMER["name"],
            "company": DEMO_CUSTOMER["company"],
            "tier": DEMO_CUSTOMER["tier"],
            "email": DEMO_CUSTOMER["email"],
            "notes": DEMO_CUSTOMER["notes"],
            "created_at": now_dt - timedelta(days=700),
        }
    ]
    phones: list[list[tuple[str, str, str]]] = [
        [(DEMO_CUSTOMER["phone"], DEMO_CUSTOMER["e164"], "mobile")]
    ]
    for _ in range(customers - 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        company, domain = _company(rng, last)
        local = f"{first}.{last}".lower() if rng.random() < 0.7 else f"{first[0]}{last}".lower()
        email = f"{local}@{domain or rng.choice(_FREE_MAIL)}" if rng.random() < 0.85 else ""
        customer_rows.append(
            {
                "account_number": _account(rng, accounts),
                "name": f"{first} {last}",
                "company": company,
                "tier": _tier(rng),
                "email": email,
                "notes": "",
                "created_at": now_dt - timedelta(seconds=rng.randrange(730 * 86_400)),
            }
        )
        own = [(*numbers.new(), "work" if company else "mobile")]
        if rng.random() < 0.35:
            own.append((*numbers.new(), rng.choice(("home", "mobile"))))
        phones.append(own)

    # A few households and small offices share one line: lookups then find several.
    for i in range(2, len(phones), 97):
        raw, e164, _kind = phones[i - 1][0]
        phones[i].append((raw, e164, "home"))

    with Session(store.engine) as s, s.begin():
        ids = s.scalars(
            insert(Customer).returning(Customer.id, sort_by_parameter_order=True),
            customer_rows,
        ).all()
        phone_rows = [
            {"customer_id": cid, "raw": raw, "e164": e164, "kind": kind}
            for cid, own in zip(ids, phones, strict=True)
            for raw, e164, kind in own
        ]
        s.execute(insert(CustomerPhone), phone_rows)
        contact_rows = _history(rng, ids, phones, agent_ids, now_dt)
        if contact_rows:
            s.execute(insert(Contact), contact_rows)

    for row in customer_rows[:PIN_ACCOUNTS]:
        store.set_account_pin(row["account_number"], demo_pin(row["account_number"]))
    return SeedResult(numbers=_unique(e164 for own in phones for _r, e164, _k in own),
                      pins=_demo_pins(store))


def demo_pin(account_number: str) -> str:
    """The telephone PIN of a demo account: the last four digits of its number.
    Predictable on purpose (demo data that simulated callers must know); real
    customers choose their own with ``Store.set_account_pin``."""
    return "".join(ch for ch in account_number if ch.isdigit())[-4:]


def _demo_pins(store: Store) -> tuple[tuple[str, str], ...]:
    with Session(store.engine) as s:
        accounts = s.scalars(select(Customer.account_number)
                             .where(Customer.pin_hash.is_not(None)).order_by(Customer.id))
        return tuple(("".join(ch for ch in a if ch.isdigit()), demo_pin(a)) for a in accounts)


def _history(
    rng: random.Random,
    ids: list[int],
    phones: list[list[tuple[str, str, str]]],
    agent_ids: list[int],
    now: datetime,
) -> list[dict]:
    rows: list[dict] = []
    for index, (cid, own) in enumerate(zip(ids, phones, strict=True)):
        if index == 0:
            count = 3  # the demo customer always has some history
        elif rng.random() < 0.3:
            count = rng.randint(1, 4)
        else:
            continue
        for _ in range(count):
            raw, e164, _kind = rng.choice(own)
            rows.append(_past_contact(rng, len(rows), cid, raw, e164, agent_ids, now))
    return rows


def _past_contact(
    rng: random.Random,
    n: int,
    customer_id: int,
    raw: str,
    e164: str,
    agent_ids: list[int],
    now: datetime,
) -> dict:
    arrived = now - timedelta(seconds=rng.randrange(60, _HISTORY_DAYS * 86_400))
    arrived = arrived.replace(microsecond=0)
    inbound = rng.random() < 0.9
    queue = rng.choice(_QUEUES)
    ivr: list[dict] = []
    if inbound:
        digit = str(_QUEUES.index(queue) + 1)
        ivr = [
            {"step": "greeting", "node": "welcome"},
            {"step": "menu", "node": "main", "digits": digit, "choice": queue},
        ]
        queued = arrived + timedelta(seconds=rng.randint(8, 40))
        answered_p = 0.88
    else:
        queued = None
        answered_p = 0.6
    answered = None
    offered = None
    if rng.random() < answered_p:
        start = queued or arrived
        offered = start + timedelta(seconds=rng.expovariate(1 / 30))
        answered = offered + timedelta(seconds=rng.uniform(2, 12))
        ended = answered + timedelta(seconds=rng.lognormvariate(5.2, 0.6))
        outcome = "answered"
        disposition = rng.choice(_DISPOSITIONS[queue])
        notes = _NOTES[disposition] if rng.random() < 0.8 else ""
    else:
        ended = (queued or arrived) + timedelta(seconds=rng.expovariate(1 / 60) + 3)
        outcome = "abandoned_in_queue" if inbound else "unanswered"
        disposition, notes = "", ""
    wait, talk = contact_durations(queued, answered, ended)
    return {
        "call_id": f"{int(arrived.timestamp())}.{n}",
        "direction": "inbound" if inbound else "outbound",
        "channel": f"PJSIP/trunk-{n:08x}" if inbound else "",
        "caller_number": raw,
        "caller_e164": e164,
        "dnis": rng.choice(_DNIS) if inbound else "",
        "customer_id": customer_id,
        "arrived_at": arrived,
        "queued_at": queued,
        "offered_at": offered,
        "answered_at": answered,
        "ended_at": ended,
        "queue": queue if inbound else "",
        "agent_id": rng.choice(agent_ids) if answered and agent_ids else None,
        "ivr": json.dumps(ivr, separators=(",", ":")),
        "outcome": outcome,
        "status": "closed",
        "wait_s": wait,
        "talk_s": talk,
        "disposition": disposition,
        "notes": notes,
    }


def _unique(values) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _existing_numbers(store: Store) -> tuple[str, ...]:
    with Session(store.engine) as s:
        rows = s.scalars(select(CustomerPhone.e164).order_by(CustomerPhone.id))
        return _unique(rows)
