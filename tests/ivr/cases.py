"""Scripted callers through the lab flows, with what the IVR must conclude.

Each ``Case`` is ready for a FastAGI integration test against the simulator:
``flows`` and ``dnis`` pick the flow, ``number`` is the caller id, ``digits`` is
``CallerScript.digits`` (keyed by prompt name; a list gives one entry per replay;
``#`` ends a GET DATA read early), ``hangup_at`` is the prompt during which the caller
hangs up, or ``node:<id>`` to hang up as the flow enters that node (the simulator's
``CallerScript.hangup_at``), ``waits`` the router's
estimated waits, and ``expect`` the fields of the ``Finished`` step (``path``: the
node ids in order). ``CRM`` answers the runner's lookups (``lookup_fn``).

``FakeCaller`` answers AGI commands the way the simulator does, so ``run_case``
checks the cases without sockets (``test_cases.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callcenter.agi.codec import AGIResult
from ivr.check import load_book
from ivr.runner import Command, Finished, FlowContext, FlowRunner, Lookup

FLOWS = Path(__file__).parent / "flows"
ROOT_CONFIG = Path(__file__).resolve().parents[2] / "config"
LAB = "8005550111"
SECOND = "8005550122"


@dataclass(frozen=True)
class Customer:
    id: int
    name: str
    account_number: str
    tier: str


KNOWN = "5551230000"      # a standard customer's phone
VIP = "5559990000"        # a VIP's phone
UNKNOWN = "5550000000"
ALICE = Customer(1, "Alice Standard", "44170013", "standard")
VERA = Customer(2, "Vera VIP", "44170021", "vip")
GORDON = Customer(3, "Gordon Gold", "44170039", "gold")


@dataclass
class FakeCRM:
    """Answers ``Lookup``s: customers by phone, by account, by account + PIN."""

    waits: dict[str, float] = field(default_factory=lambda: {"support": 30.0})
    phones: dict[str, Customer] = field(default_factory=lambda: {KNOWN: ALICE, VIP: VERA})
    accounts: dict[str, Customer] = field(
        default_factory=lambda: {c.account_number: c for c in (ALICE, VERA, GORDON)})
    pins: dict[str, str] = field(
        default_factory=lambda: {"44170039": "8642", "44170021": "9753"})
    asked: list[Lookup] = field(default_factory=list)

    def lookup(self, kind: str, args) -> Any:
        self.asked.append(Lookup(kind, dict(args)))
        if kind == "caller":
            return self.phones.get(args["number"])
        if kind == "account":
            return self.accounts.get(args["account"])
        if kind == "account_pin":
            ok = self.pins.get(args["account"]) == args["pin"]
            return self.accounts.get(args["account"]) if ok else None
        if kind == "queue_wait":
            return self.waits.get(args["queue"])
        raise KeyError(kind)


@dataclass(frozen=True)
class Case:
    name: str
    digits: dict
    expect: dict
    dnis: str = LAB
    number: str = KNOWN
    hangup_at: str | None = None
    waits: dict = field(default_factory=lambda: {"support": 30.0})
    flows: Path = FLOWS


def ok(result: str = "0", data: str | None = None) -> AGIResult:
    return AGIResult(200, result, data)


class FakeCaller:
    """Answers AGI commands like the simulator's scripted caller: the digits for a
    prompt are typed when a read starts after that prompt was played."""

    def __init__(self, digits: dict, hangup_at: str | None = None):
        self.digits = digits
        self.hangup_at = hangup_at
        self.uses: dict[str, int] = {}
        self.last_prompt: str | None = None
        self.commands: list[tuple[str, ...]] = []
        self.gone = False

    def _entry(self) -> str:
        if self.last_prompt not in self.digits:
            return ""
        entry = self.digits[self.last_prompt]
        if isinstance(entry, list | tuple):
            used = self.uses.get(self.last_prompt, 0)
            self.uses[self.last_prompt] = used + 1
            return str(entry[min(used, len(entry) - 1)]) if entry else ""
        return str(entry)

    def answer(self, words: tuple[str, ...]) -> AGIResult:
        self.commands.append(words)
        verb = words[0]
        if self.gone:
            return AGIResult(511, None, None, text="511 Command Not Permitted on a dead channel")
        if words[:2] == ("SET VARIABLE", "IVR_NODE") and self.hangup_at == f"node:{words[2]}":
            # The caller hangs up as the flow enters the node: the drive sees HANGUP.
            self.gone = True
            return AGIResult(511, "-1", None)
        if verb in ("STREAM FILE", "GET DATA"):
            self.last_prompt = words[1]
            if words[1] == self.hangup_at:
                self.gone = True
                return ok("-1")
        if verb == "STREAM FILE":
            typed = self._entry() if len(words) > 2 and words[2] else ""
            return ok(str(ord(typed[0])) if typed else "0")
        if verb == "GET DATA":
            typed, wanted = self._entry(), int(words[3])
            if "#" in typed:
                return ok(typed.split("#", 1)[0])
            if len(typed) >= wanted:
                return ok(typed[:wanted])
            return ok(typed, "timeout")
        if verb == "WAIT FOR DIGIT":
            typed = self._entry()
            return ok(str(ord(typed[0])) if typed else "0")
        if verb == "HANGUP":
            self.gone = True
            return ok("1")
        if verb == "EXEC":
            return ok("-2")  # VoiceMail is not simulated
        return ok("1" if verb == "SET VARIABLE" else "0")


def run_case(case: Case, start: float = 1_800_000_000.0) -> tuple[Finished, FakeCaller, FakeCRM]:
    """Run ``case`` through the pure runner with a fake caller and CRM."""
    book = load_book([case.flows], queues=["sales", "support"])
    flow = book.for_dnis(case.dnis)
    runner = FlowRunner(flow, FlowContext(caller_number=case.number, dnis=case.dnis,
                                          flows=book.by_name))
    caller, crm = FakeCaller(case.digits, case.hangup_at), FakeCRM(waits=dict(case.waits))
    now = start
    step = runner.start(now)
    for _ in range(500):
        now += 1.0
        if isinstance(step, Finished):
            return step, caller, crm
        if isinstance(step, Lookup):
            step = runner.on_lookup(crm.lookup(step.kind, step.args), now)
        else:
            assert isinstance(step, Command)
            step = runner.on_result(caller.answer(step.words), now)
    raise AssertionError(f"{case.name}: the flow did not finish")


def mismatches(finished: Finished, expect: dict) -> list[str]:
    """Differences between ``finished`` and the expected fields."""
    out = []
    for key, want in expect.items():
        got = [s["step"] for s in finished.path] if key == "path" else getattr(finished, key)
        if key == "customer":
            got = getattr(got, "name", None)
        if got != want:
            out.append(f"{key}: expected {want!r}, got {got!r}")
    return out


CASES: list[Case] = [
    Case("known caller chooses sales",
         {"lab/lang": "1", "lab/main": "1"},
         {"queue": "sales", "outcome": "queued", "skills": ("sales",), "priority": 0,
          "language": "en", "choice": "1 – sales", "customer": "Alice Standard",
          "path": ["greet", "open", "lang", "en", "who", "tier", "main", "sales_flag",
                   "sales_q"]}),
    Case("VIP caller in French waits with top priority",
         {"lab/lang": "2", "lab/main": "1"},
         {"queue": "sales", "outcome": "queued", "skills": ("vip",), "priority": 20,
          "language": "fr", "variables": {"vip": "yes"}, "customer": "Vera VIP"},
         number=VIP),
    Case("unknown caller verified by account and PIN",
         {"lab/lang": "1", "lab/account": "44170039", "lab/pin": "8642", "lab/main": "3"},
         {"queue": "support", "outcome": "queued", "customer": "Gordon Gold",
          "path": ["greet", "open", "lang", "en", "who", "tier", "main", "busy",
                   "support_q"]},
         number=UNKNOWN),
    Case("wrong PIN then the right one",
         {"lab/lang": "1", "lab/account": ["44170039", "44170039"],
          "lab/pin": ["9999", "8642"], "lab/main": "1"},
         {"queue": "sales", "customer": "Gordon Gold"},
         number=UNKNOWN),
    Case("wrong PIN twice: served unidentified",
         {"lab/lang": "1", "lab/account": "44170039", "lab/pin": "0000", "lab/main": "1"},
         {"queue": "sales", "customer": None},
         number=UNKNOWN),
    Case("key pressed during the greeting answers the language menu",
         {"lab/hello": "2", "lab/main": "1"},
         {"queue": "sales", "language": "fr", "choice": "1 – sales"}),
    Case("no language chosen: English",
         {"lab/main": "1"},
         {"queue": "sales", "language": "en"}),
    Case("invalid choice, then a message",
         {"lab/lang": "1", "lab/main": ["8", "4"]},
         {"queue": None, "outcome": "voicemail", "target": "300@lab", "choice": "4 – message"}),
    Case("no choice in the main menu: default queue, never dropped",
         {"lab/lang": "1"},
         {"queue": "support", "outcome": "queued", "skills": ("support",)}),
    Case("invalid choices only: default queue",
         {"lab/lang": "1", "lab/main": ["8", "8"]},
         {"queue": "support", "outcome": "queued"}),
    Case("card number fails Luhn once, then a good one and a reference",
         {"lab/lang": "1", "lab/main": "2",
          "lab/card": ["1234567812345678#", "4539578763621486#"], "lab/ref": "7123"},
         {"queue": "support", "skills": ("billing",),
          "variables": {"card": "4539578763621486", "ref": "7123"}}),
    Case("reference not matching the pattern: support",
         {"lab/lang": "1", "lab/main": "2", "lab/card": "4539578763621486#", "lab/ref": "8123"},
         {"queue": "support", "skills": ("support",)}),
    Case("account number checked against the CRM",
         {"lab/lang": "1", "lab/main": "7", "lab/acct": "44170039"},
         {"queue": "support", "customer": "Gordon Gold",
          "variables": {"account": "44170039"}},
         number=UNKNOWN),
    Case("support busy: voicemail offered",
         {"lab/lang": "1", "lab/main": "3"},
         {"queue": None, "outcome": "voicemail"},
         waits={"support": 600.0}),
    Case("transfer to a partner number",
         {"lab/lang": "1", "lab/main": "5"},
         {"queue": None, "outcome": "transfer", "target": "+15550001111"}),
    Case("transfer to another flow",
         {"lab/lang": "1", "lab/main": "6"},
         {"queue": "sales", "outcome": "queued",
          "path": ["greet", "open", "lang", "en", "who", "tier", "main", "other", "hello",
                   "queue"]}),
    Case("goodbye ends the call",
         {"lab/lang": "1", "lab/main": "9"},
         {"queue": None, "outcome": "ended"}),
    Case("second number answered by its own flow",
         {}, {"queue": "sales", "path": ["hello", "queue"]}, dnis=SECOND),
    Case("unknown number answered by the default flow",
         {"lab/lang": "1", "lab/main": "1"}, {"queue": "sales"}, dnis="8009999999"),
] + [
    Case(f"hang-up during {prompt}", digits, {"queue": None, "outcome": "hangup", "node": node},
         number=number, hangup_at=prompt)
    for prompt, node, number, digits in [
        ("lab/hello", "greet", KNOWN, {}),
        ("lab/lang", "lang", KNOWN, {}),
        ("lab/account", "who", UNKNOWN, {"lab/lang": "1"}),
        ("lab/pin", "who", UNKNOWN, {"lab/lang": "1", "lab/account": "44170039"}),
        ("lab/main", "main", KNOWN, {"lab/lang": "1"}),
        ("lab/card", "card", KNOWN, {"lab/lang": "1", "lab/main": "2"}),
        ("lab/ref", "ref", KNOWN, {"lab/lang": "1", "lab/main": "2",
                                   "lab/card": "4539578763621486#"}),
        ("lab/acct", "acct", KNOWN, {"lab/lang": "1", "lab/main": "7"}),
        ("lab/leave-message", "vm", KNOWN, {"lab/lang": "1", "lab/main": "4"}),
        ("lab/transferring", "xfer", KNOWN, {"lab/lang": "1", "lab/main": "5"}),
        ("lab/goodbye", "bye", KNOWN, {"lab/lang": "1", "lab/main": "9"}),
        ("lab/please-hold", "support_q", KNOWN, {"lab/lang": "1", "lab/main": "3"}),
        ("second/hello", "hello", KNOWN, {"lab/lang": "1", "lab/main": "6"}),
        # Nodes that play nothing: the caller hangs up as the flow enters them.
        ("node:open", "open", KNOWN, {}),
        ("node:en", "en", KNOWN, {"lab/lang": "1"}),
        ("node:fr", "fr", KNOWN, {"lab/lang": "2"}),
        ("node:tier", "tier", KNOWN, {"lab/lang": "1"}),
        ("node:vip", "vip", VIP, {"lab/lang": "1"}),
        ("node:sales_flag", "sales_flag", KNOWN, {"lab/lang": "1", "lab/main": "1"}),
        ("node:sales_q", "sales_q", KNOWN, {"lab/lang": "1", "lab/main": "1"}),
        ("node:busy", "busy", KNOWN, {"lab/lang": "1", "lab/main": "3"}),
        ("node:other", "other", KNOWN, {"lab/lang": "1", "lab/main": "6"}),
        ("node:billing_q", "billing_q", KNOWN, {"lab/lang": "1", "lab/main": "2",
                                                "lab/card": "4539578763621486#",
                                                "lab/ref": "7123"}),
    ]
]
