"""Every IVR node kind over real FastAGI against the simulator: a normal path, a caller
hanging up at the node, and invalid and timed-out input for the nodes that read keys.

The lab flows (``tests/ivr/flows``) hold every kind; small flows written here add
business hours around the real clock (open now, closed now, a holiday today), an
estimated wait the router knows, a menu without barge-in and a spoken variable.
Each scripted caller's contact must end as expected: the queue, the outcome and the
last step of its IVR path (a hang-up is recorded at the node where it happened).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest_twisted
from twisted.internet import reactor

from callcenter.simulator import CallerScript
from crm_store.store import Store
from ivr import model as m
from tests.integration.harness import CallCenterHarness, as_deferred, until
from tests.integration.test_ivr_flows import seed_lab_customers
from tests.ivr import cases as C

HOURS_OPEN, HOURS_CLOSED, HOLIDAY, WAIT, MISC = (
    "8005550201", "8005550202", "8005550203", "8005550204", "8005550205")


@dataclass(frozen=True)
class NodeCase:
    kind: str
    situation: str  # normal | hangup | invalid | timeout
    digits: dict
    queue: str | None
    last: str  # the last step of the contact's IVR path
    node: str = ""  # where a hang-up is recorded
    dnis: str = C.LAB
    number: str = C.KNOWN
    hangup_at: str | None = None
    labels: dict = field(default_factory=dict)  # step -> text its label must contain
    dials: str = ""  # the number the dialplan dials out to once the IVR is over


def hours_flows(directory, now: datetime) -> None:
    """Flows whose schedule is open now, closed now, or closed for a holiday today
    (UTC, around the wall clock the server reads)."""
    minute = now.hour * 60 + now.minute
    day = m.DAYS[now.weekday()]

    def hhmm(x: int) -> str:
        return f"{x // 60:02d}:{x % 60:02d}"

    around = f"{hhmm(max(0, minute - 60))}-{hhmm(min(1440, minute + 60))}"
    away = "00:00-00:30" if minute >= 120 else "12:00-13:00"
    week = "\n".join(f'{d} = ["00:00-24:00"]' for d in m.DAYS)
    schedules = {
        "open": (HOURS_OPEN, f'{day} = ["{around}"]'),
        "closed": (HOURS_CLOSED, f'{day} = ["{away}"]'),
        "holiday": (HOLIDAY, f'{week}\nholidays = ["{now.date().isoformat()}"]'),
    }
    for name, (dnis, hours) in schedules.items():
        (directory / f"hours_{name}.toml").write_text(f"""
[flow]
name = "hours_{name}"
start = "office"
dnis = ["{dnis}"]
fallback_queue = "support"

[schedules.office]
timezone = "UTC"
{hours}

[nodes.office]
kind = "condition"
test = "hours"
schedule = "office"
then = "open_q"
else = "closed"

[nodes.open_q]
kind = "queue"
queue = "sales"

[nodes.closed]
kind = "play"
prompts = ["hours/closed"]
next = "after_hours"

[nodes.after_hours]
kind = "voicemail"
mailbox = "100@lab"
options = "s"
""")
    (directory / "wait.toml").write_text(f"""
# above = -1: "yes" whenever the router has an estimate (agents staff the queue).
[flow]
name = "wait"
start = "known"
dnis = ["{WAIT}"]

[nodes.known]
kind = "condition"
test = "wait"
queue = "sales"
above = -1
then = "q"
else = "vm"

[nodes.q]
kind = "queue"
queue = "sales"

[nodes.vm]
kind = "voicemail"
mailbox = "200@lab"
options = "s"
""")
    (directory / "misc.toml").write_text(f"""
[flow]
name = "misc"
start = "vars"
dnis = ["{MISC}"]

[nodes.vars]
kind = "set"
variables = {{ ref = "4711" }}
next = "say"

[nodes.say]
kind = "play"
prompts = [{{ say = "digits", var = "ref" }}, "misc/after"]
barge_in = true
next = "pick"

[nodes.pick]
kind = "menu"
prompt = "misc/pick"
barge_in = false
timeout_ms = 1500
retries = 1
invalid_prompt = "misc/invalid"
timeout = "q"
[nodes.pick.choices]
1 = "q"
2 = "bye"

[nodes.q]
kind = "queue"
queue = "sales"

[nodes.bye]
kind = "hangup"
prompt = "misc/bye"
""")


EN = {"lab/lang": "1"}
ACCOUNT = {**EN, "lab/account": "44170039"}
CASES = [
    # play
    NodeCase("play", "normal", {"lab/main": "1"}, "sales", "sales_q"),
    NodeCase("play", "normal", {"say/digits": "2"}, None, "bye", dnis=MISC,
             labels={"say": "interrupted by 2"}),
    NodeCase("play", "hangup", {}, None, "hangup", "greet", hangup_at="lab/intro"),
    NodeCase("play", "hangup", {}, None, "hangup", "say", dnis=MISC, hangup_at="say/digits"),
    # menu (with barge-in: GET DATA; without: STREAM FILE + WAIT FOR DIGIT)
    NodeCase("menu", "normal", {**EN, "lab/main": "3"}, "support", "support_q"),
    NodeCase("menu", "normal", {"misc/pick": "1"}, "sales", "q", dnis=MISC),
    NodeCase("menu", "hangup", EN, None, "hangup", "main", hangup_at="lab/main"),
    NodeCase("menu", "hangup", {}, None, "hangup", "pick", dnis=MISC, hangup_at="misc/pick"),
    NodeCase("menu", "invalid", {**EN, "lab/main": ["8", "8"]}, "support", "support_q",
             labels={"main": "invalid"}),
    NodeCase("menu", "invalid", {"misc/pick": ["7", "2"]}, None, "bye", dnis=MISC),
    NodeCase("menu", "timeout", EN, "support", "support_q", labels={"main": "timeout"}),
    NodeCase("menu", "timeout", {"misc/pick": ["", ""]}, "sales", "q", dnis=MISC,
             labels={"pick": "timeout"}),
    # collect
    NodeCase("collect", "normal", {**EN, "lab/main": "2", "lab/card": "4539578763621486#",
                                   "lab/ref": "7123"}, "support", "billing_q"),
    NodeCase("collect", "hangup", {**EN, "lab/main": "2"}, None, "hangup", "card",
             hangup_at="lab/card"),
    NodeCase("collect", "invalid", {**EN, "lab/main": "2", "lab/card": "1234567812345678#"},
             "support", "support_q", labels={"card": "rejected"}),
    NodeCase("collect", "timeout", {**EN, "lab/main": "2", "lab/card": ""}, "support",
             "support_q", labels={"card": "timeout"}),
    # identify: by caller number, by account + PIN (right, wrong), nothing typed
    NodeCase("identify", "normal", {**EN, "lab/main": "1"}, "sales", "sales_q",
             labels={"who": "identified by number as Alice Standard"}),
    NodeCase("identify", "normal", {**ACCOUNT, "lab/pin": "8642", "lab/main": "1"}, "sales",
             "sales_q", number=C.UNKNOWN, labels={"who": "4417… verified"}),
    NodeCase("identify", "hangup", EN, None, "hangup", "who", number=C.UNKNOWN,
             hangup_at="lab/account"),
    NodeCase("identify", "hangup", ACCOUNT, None, "hangup", "who", number=C.UNKNOWN,
             hangup_at="lab/pin"),
    NodeCase("identify", "invalid", {**ACCOUNT, "lab/pin": "1111", "lab/main": "1"}, "sales",
             "sales_q", number=C.UNKNOWN, labels={"who": "not verified"}),
    NodeCase("identify", "timeout", {**EN, "lab/main": "1"}, "sales", "sales_q",
             number=C.UNKNOWN, labels={"who": "timeout"}),
    # condition: hours (open, closed, holiday), tier, estimated wait, variable
    NodeCase("condition", "normal", {}, "sales", "open_q", dnis=HOURS_OPEN,
             labels={"office": "open -> yes"}),
    NodeCase("condition", "normal", {}, None, "after_hours", dnis=HOURS_CLOSED,
             labels={"office": "closed -> no"}),
    NodeCase("condition", "normal", {}, None, "after_hours", dnis=HOLIDAY,
             labels={"office": "closed -> no"}),
    NodeCase("condition", "normal", {**EN, "lab/main": "1"}, "sales", "sales_vip_q",
             number=C.VIP, labels={"tier": "tier vip -> yes", "sales_flag": "-> yes"}),
    NodeCase("condition", "normal", {**EN, "lab/main": "1"}, "sales", "sales_q",
             labels={"tier": "tier standard -> no", "sales_flag": "-> no"}),
    NodeCase("condition", "normal", {}, "sales", "q", dnis=WAIT, labels={"known": "-> yes"}),
    NodeCase("condition", "normal", {**EN, "lab/main": "3"}, "support", "support_q",
             labels={"busy": "-> no"}),
    NodeCase("condition", "hangup", {}, None, "hangup", "office", dnis=HOURS_OPEN,
             hangup_at="node:office"),
    NodeCase("condition", "hangup", EN, None, "hangup", "tier", hangup_at="node:tier"),
    NodeCase("condition", "hangup", {**EN, "lab/main": "3"}, None, "hangup", "busy",
             hangup_at="node:busy"),
    # set, language
    NodeCase("set", "normal", {"misc/pick": "1"}, "sales", "q", dnis=MISC),
    NodeCase("set", "hangup", EN, None, "hangup", "vip", number=C.VIP, hangup_at="node:vip"),
    NodeCase("language", "normal", {"lab/lang": "2", "lab/main": "1"}, "sales", "sales_q",
             labels={"fr": "language fr"}),
    NodeCase("language", "hangup", {"lab/lang": "2"}, None, "hangup", "fr",
             hangup_at="node:fr"),
    # queue
    NodeCase("queue", "normal", {**EN, "lab/main": "3"}, "support", "support_q"),
    NodeCase("queue", "hangup", {**EN, "lab/main": "3"}, None, "hangup", "support_q",
             hangup_at="lab/please-hold"),
    NodeCase("queue", "hangup", {**EN, "lab/main": "1"}, None, "hangup", "sales_q",
             hangup_at="node:sales_q"),
    # voicemail
    NodeCase("voicemail", "normal", {**EN, "lab/main": "4"}, None, "vm",
             labels={"vm": "voicemail 300@lab"}),
    NodeCase("voicemail", "hangup", {**EN, "lab/main": "4"}, None, "hangup", "vm",
             hangup_at="lab/leave-message"),
    # transfer: to a number, to another flow
    NodeCase("transfer", "normal", {**EN, "lab/main": "5"}, None, "xfer",
             labels={"xfer": "transfer to +15550001111"}, dials="+15550001111"),
    NodeCase("transfer", "normal", {**EN, "lab/main": "6"}, "sales", "queue",
             labels={"other": "transfer to flow second"}),
    NodeCase("transfer", "hangup", {**EN, "lab/main": "5"}, None, "hangup", "xfer",
             hangup_at="lab/transferring"),
    NodeCase("transfer", "hangup", {**EN, "lab/main": "6"}, None, "hangup", "other",
             hangup_at="node:other"),
    # hangup
    NodeCase("hangup", "normal", {**EN, "lab/main": "9"}, None, "bye"),
    NodeCase("hangup", "hangup", {**EN, "lab/main": "9"}, None, "hangup", "bye",
             hangup_at="lab/goodbye"),
]


def test_the_table_covers_every_kind_and_input_node_situation():
    seen = {(c.kind, c.situation) for c in CASES}
    for kind in m.KINDS:
        assert (kind, "normal") in seen and (kind, "hangup") in seen, kind
    for kind in m.INPUT_KINDS:
        assert (kind, "invalid") in seen and (kind, "timeout") in seen, kind


@pytest_twisted.ensureDeferred
async def test_every_node_kind_over_fastagi(tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    hours_flows(flows, datetime.now(UTC))
    h = CallCenterHarness(reactor, tmp_path, agents=4, customers=0,
                          ivr={"flows": [str(C.FLOWS), str(flows)]},
                          skills="sales:3,support:3,billing:3,vip:3")
    seed_lab_customers(h.store)
    events: list[dict] = []
    h.simulator.pbx.listeners.append(lambda headers: events.append(dict(headers)))
    await h.start()
    try:
        for i in range(1, 5):
            console = await h.console(f"agent{i}")
            await as_deferred(console.client.command("ready"))
        placed = [(case, h.simulator.place_call(CallerScript(
            number=case.number, dnis=case.dnis, digits=case.digits, hangup_at=case.hangup_at)))
            for case in CASES]
        for _, call in placed:
            await call.ended
        await until(reactor, lambda: h.center.counters["calls_ended"] >= len(placed),
                    what="every call's end")
        await h.contacts_closed(len(placed))
        problems = []
        for case, call in placed:
            name = f"{case.kind}/{case.situation} {case.dnis} {case.hangup_at or case.digits}"
            contact = await h.service.db.do(Store.contact, call.linkedid)
            path = list(contact.ivr)
            steps = [s["step"] for s in path]
            if not steps or steps[-1] != case.last:
                problems.append(f"{name}: path {steps}, expected to end at {case.last}")
                continue
            if (contact.queue or None) != case.queue:
                problems.append(f"{name}: queue {contact.queue!r} != {case.queue!r}")
            if case.queue is not None and contact.outcome != "answered":
                problems.append(f"{name}: outcome {contact.outcome}")
            ended_by_flow = {"voicemail": "voicemail", "transfer": "transferred_out",
                             "hangup": "completed_in_ivr"}.get(case.kind)
            if (case.situation == "normal" and case.queue is None and ended_by_flow
                    and contact.outcome != ended_by_flow):
                problems.append(f"{name}: outcome {contact.outcome} != {ended_by_flow}")
            if case.situation == "hangup" and (contact.outcome != "abandoned_in_ivr"
                                               or path[-1].get("node") != case.node):
                problems.append(f"{name}: {contact.outcome}, last step {path[-1]}")
            for step, text in case.labels.items():
                labels = [s["label"] for s in path if s["step"] == step]
                if not any(text in label for label in labels):
                    problems.append(f"{name}: {step} labels {labels} lack {text!r}")
            # After a transfer node the dialplan dials the number through [outbound].
            dialled = [(e["Event"], e.get("DestExten"), e.get("DialStatus"))
                       for e in events if e.get("Event") in ("DialBegin", "DialEnd")
                       and e.get("Linkedid") == call.linkedid
                       and e.get("DestContext") == "outbound"]
            wanted = [("DialBegin", case.dials, None), ("DialEnd", case.dials, "ANSWER")]
            if dialled != (wanted if case.dials else []):
                problems.append(f"{name}: outbound dials {dialled}")
        assert problems == []
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_vip_found_by_the_ivr_waits_ahead_with_a_higher_priority(tmp_path):
    h = CallCenterHarness(reactor, tmp_path, agents=1, customers=0,
                          ivr={"flows": [str(C.FLOWS)]}, skills="sales:3,support:3,vip:3")
    seed_lab_customers(h.store)
    await h.start()
    try:
        await h.console("agent1")  # logged in, not ready: callers wait in the queue
        standard = h.simulator.place_call(CallerScript(
            number=C.KNOWN, dnis=C.LAB, digits={**EN, "lab/main": "1"}, hangup_after=6.0))
        vip = h.simulator.place_call(CallerScript(
            number=C.VIP, dnis=C.LAB, digits={**EN, "lab/main": "1"}, hangup_after=6.0))
        router = h.center.router
        await until(reactor, lambda: {standard.linkedid, vip.linkedid} <= set(router.waiting),
                    what="both callers waiting")
        assert router.waiting[vip.linkedid].priority > router.waiting[standard.linkedid].priority
        assert [w.call_id for w in router.waiting_in("sales")] == [vip.linkedid,
                                                                   standard.linkedid]
        await standard.ended
        await vip.ended
        await h.contacts_closed(2)
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_wrong_pins_over_several_calls_lock_the_account_for_later_calls(tmp_path, caplog):
    # The lab flow asks twice per call; the third wrong PIN (in the second call) locks.
    # Callers hang up once identification is over: no agent is needed.
    h = CallCenterHarness(reactor, tmp_path, agents=1, customers=0,
                          ivr={"flows": [str(C.FLOWS)], "pin_max_failures": 3},
                          skills="sales:3,support:3,vip:3")
    seed_lab_customers(h.store)
    await h.start()
    try:
        wrong = {**ACCOUNT, "lab/pin": ["1111", "2222"]}
        right = {**ACCOUNT, "lab/pin": "8642"}
        labels = []
        for n, digits in enumerate((wrong, wrong, right), start=1):
            call = h.simulator.place_call(CallerScript(
                number=C.UNKNOWN, dnis=C.LAB, digits=digits, hangup_at="node:main"))
            await call.ended
            await h.contacts_closed(n)
            contact = await h.service.db.do(Store.contact, call.linkedid)
            labels.append([s["label"] for s in contact.ivr if s["step"] == "who"])
            assert contact.customer_id is None
        assert labels == [["account 4417… not verified"] * 2,
                          ["account 4417… locked"],
                          ["account 4417… locked"]]
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert any("locked" in w for w in warnings)
        assert not any(pin in caplog.text for pin in ("1111", "2222", "8642"))
    finally:
        await h.stop()
