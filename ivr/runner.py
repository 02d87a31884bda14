"""Runs a flow as a pure state machine over AGI results.

The adapter asks ``start()`` for the first step, sends each ``Command`` over FastAGI,
and passes the result back to ``on_result(result, now)``, until a ``Finished`` step.
A ``FlowRunner`` may also return a ``Lookup`` (a CRM question, such as "is this
account and PIN right?"): the adapter answers it with ``on_lookup(answer, now)``.
The runner never touches a socket, a database or a clock. ``MenuRunner`` runs the
fixed menu of the settings; ``FlowRunner`` runs declarative flows (``ivr.model``).
``path`` records every node visited with its time and input (secrets masked), for
the contact log and the screen-pop; a caller hanging up adds a last ``hangup`` step
naming the ``node`` they left from. Each node starts by setting ``IVR_NODE``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ivr import model as m
from ivr.flow import MenuFlow


@dataclass(frozen=True, slots=True)
class Command:
    words: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Finished:
    """How the flow ended. ``queue`` is None unless the caller is to wait for an
    agent; ``outcome`` says why: queued, hangup (the caller hung up; ``node`` says
    where), ended (the flow hung up), voicemail, transfer (to ``target``), error."""

    queue: str | None
    choice: str = ""           # the last menu choice, e.g. "2 – support"
    path: tuple = field(default_factory=tuple)
    skills: tuple[str, ...] = ()
    priority: int = 0
    language: str = ""
    variables: Mapping[str, str] = field(default_factory=dict)
    outcome: str = ""
    node: str = ""
    target: str = ""
    customer: Any = None
    wait: Any = None           # ivr.model.WaitOptions of the queue node

    @property
    def hung_up(self) -> bool:
        return self.outcome == "hangup" if self.outcome else self.queue is None

    @property
    def summary(self) -> str:
        """The caller's inputs in words: "1 – English; account 4417… verified"."""
        return "; ".join(s["label"] for s in self.path if s.get("input") and s.get("label"))


class MenuRunner:
    """greeting -> menu (GET DATA, 1 digit) -> queue; invalid or no input retries the
    menu ``retries`` times, then the default queue."""

    def __init__(self, flow: MenuFlow):
        self.flow = flow
        self.path: list[dict] = []
        self._stage = "new"
        self._attempts = 0

    def start(self, now: float) -> Command:
        self._stage = "answer"
        return Command(("ANSWER",))

    def on_result(self, result, now: float) -> Command | Finished:
        """``result`` is an AGI result (``code``, ``result``, ``timeout``)."""
        if result.code != 200 or result.result == "-1":
            return self._finish(None, now, "hangup")
        if self._stage == "answer":
            self._stage = "greeting"
            self.path.append({"step": "greeting", "at": now, "input": "", "label": "greeting"})
            return Command(("STREAM FILE", self.flow.greeting, ""))
        if self._stage in ("greeting", "invalid"):
            self._stage = "menu"
            self._attempts += 1
            return Command(("GET DATA", self.flow.menu_prompt, str(self.flow.timeout_ms), "1"))
        if self._stage == "menu":
            digits = "" if result.timeout else (result.result or "")
            choice = self.flow.choice(digits[:1]) if digits else None
            if choice is not None:
                self.path.append({"step": "menu", "at": now, "input": choice.digit,
                                  "label": choice.label})
                return self._finish(choice.queue, now, f"{choice.digit} – {choice.label}")
            self.path.append({"step": "menu", "at": now, "input": digits,
                              "label": "timeout" if not digits else "invalid"})
            if self._attempts > self.flow.retries:
                return self._finish(self.flow.default_queue, now, "no choice – default")
            self._stage = "invalid"
            return Command(("STREAM FILE", self.flow.invalid_prompt, ""))
        raise RuntimeError(f"runner already finished ({self._stage})")

    def _finish(self, queue: str | None, now: float, choice: str) -> Finished:
        self._stage = "done"
        if queue is None:
            self.path.append({"step": "hangup", "at": now, "input": "", "label": "caller hung up"})
        return Finished(queue, choice, tuple(self.path))


# ------------------------------------------------------------------ FlowRunner

SECRET_KEYS = frozenset({"pin", "password", "secret"})
#: Nodes run in a row without the caller typing anything before the flow is
#: declared broken (the checker rejects such loops; this guards at run time).
MAX_QUIET_STEPS = 100
#: Keys that interrupt a prompt played with barge-in.
BARGE_KEYS = "0123456789*#"
#: The channel variable set to the node id as the flow enters each node.
NODE_VARIABLE = "IVR_NODE"


@dataclass(frozen=True, slots=True, repr=False)
class Lookup:
    """A question for the CRM the adapter answers with ``on_lookup``:

    - ``caller`` {number}: the customer calling from this number, or None;
    - ``account`` {account}: the customer with this account number, or None;
    - ``account_pin`` {account, pin}: the customer if the PIN is right,
      ``ACCOUNT_LOCKED`` if too many wrong PINs locked the account, else None;
    - ``queue_wait`` {queue}: the queue's estimated wait in seconds, or None.

    Customers are read through ``id``, ``name``, ``account_number`` and ``tier``
    (``crm_store`` ``CustomerCard`` fits). The PIN never shows in ``repr``."""

    kind: str
    args: Mapping[str, str]

    def __repr__(self) -> str:
        shown = {k: ("****" if k in SECRET_KEYS else v) for k, v in self.args.items()}
        return f"Lookup({self.kind!r}, {shown!r})"


class _AccountLocked:
    """The type of ``ACCOUNT_LOCKED``."""

    def __repr__(self) -> str:
        return "ACCOUNT_LOCKED"


#: The answer to an ``account_pin`` lookup for an account whose PIN checks are locked
#: (too many wrong PINs, over any number of calls): the caller is not verified and
#: not asked again.
ACCOUNT_LOCKED = _AccountLocked()


@dataclass(frozen=True)
class FlowContext:
    """What the runner knows of the call when it starts. ``flows`` (by name) lets a
    ``transfer`` node hand the caller to another flow."""

    caller_number: str = ""
    dnis: str = ""
    language: str = ""
    flows: Mapping[str, m.Flow] = field(default_factory=dict)
    variables: Mapping[str, str] = field(default_factory=dict)


class _Gone(Exception):
    """The caller hung up."""


class _Broken(Exception):
    """The flow cannot go on (a node missing at run time, a loop without input)."""


def mask_account(number: str) -> str:
    """``44170021`` -> ``4417…``: enough for an agent to recognise, not to reuse."""
    return number[:4] + "…" if len(number) > 4 else "…"


def luhn_ok(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _hung_up(result) -> bool:
    return result.code == 511 or (result.code == 200 and result.result == "-1")


class FlowRunner:
    """Runs one ``ivr.model.Flow`` for one call, as a pure state machine.

    ``start(now)`` and ``on_result(result, now)`` / ``on_lookup(answer, now)`` return
    the next ``Command``, ``Lookup`` or the final ``Finished``. ``result`` is an AGI
    result (``code``, ``result``, ``timeout``); code 511 or result -1 mean the caller
    hung up. ``fail(reason, now)`` ends the flow when the adapter cannot go on (an
    AGI command refused): the caller goes to the flow's fallback queue.
    """

    def __init__(self, flow: m.Flow, context: FlowContext | None = None):
        self.flow = flow
        self.context = context or FlowContext()
        self.path: list[dict] = []
        self.skills: list[str] = []
        self.priority = flow.priority
        self.language = self.context.language or flow.language
        self.variables: dict[str, str] = dict(self.context.variables)
        self.customer: Any = None
        self.choice = ""
        self.node = ""
        self._now = 0.0
        self._pending_digit = ""
        self._quiet = 0
        self._gen = self._run()
        self._waiting = ""  # "result" | "lookup" | "done"
        self.finished: Finished | None = None

    # ------------------------------------------------------------ driving

    def start(self, now: float) -> Command | Lookup | Finished:
        if self._waiting:
            raise RuntimeError("the flow runner was already started")
        return self._step(None, now)

    def on_result(self, result, now: float) -> Command | Lookup | Finished:
        if self._waiting != "result":
            raise RuntimeError(f"on_result while waiting for {self._waiting or 'start'}")
        return self._step(result, now)

    def on_lookup(self, answer, now: float) -> Command | Lookup | Finished:
        if self._waiting != "lookup":
            raise RuntimeError(f"on_lookup while waiting for {self._waiting or 'start'}")
        return self._step(answer, now)

    def fail(self, reason: str, now: float) -> Finished:
        """The adapter cannot go on: send the caller to the fallback queue."""
        self._now = now
        self._gen.close()
        self._record(self.node or "flow", "", f"error: {reason}")
        queue = self.flow.fallback_queue or None
        return self._finish(queue, "error" if queue else "ended")

    def _step(self, value, now: float) -> Command | Lookup | Finished:
        self._now = now
        try:
            step = self._gen.send(value)
        except StopIteration as stop:
            return stop.value
        except _Gone:
            self._record("hangup", "", f"caller hung up at {self.node or 'start'}",
                         node=self.node)
            return self._finish(None, "hangup")
        except _Broken as e:
            return self.fail(str(e), now)
        self._waiting = "lookup" if isinstance(step, Lookup) else "result"
        return step

    def _finish(self, queue: str | None, outcome: str, target: str = "",
                wait: Any = None) -> Finished:
        self._waiting = "done"
        self.finished = Finished(
            queue=queue, choice=self.choice, path=tuple(self.path),
            skills=tuple(dict.fromkeys(self.skills)), priority=self.priority,
            language=self.language, variables=dict(self.variables), outcome=outcome,
            node=self.node, target=target, customer=self.customer, wait=wait)
        return self.finished

    def _record(self, step: str, input: str, label: str, **extra: str) -> None:
        self.path.append({"step": step, "at": self._now, "input": input, "label": label,
                          **extra})

    # ---------------------------------------------------------- primitives

    def _cmd(self, *words: str):
        result = yield Command(tuple(words))
        if _hung_up(result):
            raise _Gone
        return result

    def _lookup(self, kind: str, **args: str):
        return (yield Lookup(kind, args))

    def _play(self, prompt: m.Prompt | None, escape: str = ""):
        """Play one prompt; returns the key that interrupted it, or ""."""
        if prompt is None:
            return ""
        if prompt.say:
            value = self.variables.get(prompt.var, "")
            if not value:
                return ""
            verb = "SAY NUMBER" if prompt.say == "number" else "SAY DIGITS"
            result = yield from self._cmd(verb, value, escape)
        else:
            result = yield from self._cmd("STREAM FILE", prompt.sound_for(self.language), escape)
        code = _int(result.result)
        return chr(code) if code > 0 else ""

    def _read(self, prompt: m.Prompt | None, timeout_ms: int, max_digits: int):
        """GET DATA: the digits typed ("" when none)."""
        sound = prompt.sound_for(self.language) if prompt else "silence/1"
        result = yield from self._cmd("GET DATA", sound, str(timeout_ms), str(max_digits))
        return result.result or ""

    # --------------------------------------------------------------- flow

    def _run(self):
        yield from self._cmd("ANSWER")
        if self.language != self.flow.language:
            yield from self._cmd("SET VARIABLE", "CHANNEL(language)", self.language)
        node_id = self.flow.start
        while True:
            node = self.flow.nodes.get(node_id)
            if node is None:
                raise _Broken(f"node {node_id!r} does not exist")
            self.node = node.id
            # The node marker: Asterisk (and AMI's VarSet) shows where each caller is,
            # and a caller who hangs up here is recorded here.
            yield from self._cmd("SET VARIABLE", NODE_VARIABLE, node.id)
            if node.kind in m.INPUT_KINDS:
                self._quiet = 0
            else:
                self._quiet += 1
                if self._quiet > MAX_QUIET_STEPS:
                    raise _Broken(f"{MAX_QUIET_STEPS} nodes in a row without input")
            result = yield from getattr(self, f"node_{node.kind}")(node)
            if isinstance(result, Finished):
                return result
            node_id = result

    def node_play(self, node: m.Play):
        escape = BARGE_KEYS if node.barge_in else ""
        key = ""
        for prompt in node.items:
            key = yield from self._play(prompt, escape)
            if key:
                self._pending_digit = key
                break
        self._record(node.id, key, f"{node.title} (interrupted by {key})" if key else node.title)
        return node.next

    def node_menu(self, node: m.Menu):
        attempts = 0
        while True:
            digit, self._pending_digit = self._pending_digit, ""
            if not digit and node.barge_in:
                digit = (yield from self._read(node.prompt, node.timeout_ms, 1))[:1]
            elif not digit:
                yield from self._play(node.prompt)
                result = yield from self._cmd("WAIT FOR DIGIT", str(node.timeout_ms))
                code = _int(result.result)
                digit = chr(code) if code > 0 else ""
            choice = node.choice(digit)
            if choice is not None:
                self.choice = f"{digit} – {choice.label}"
                self._record(node.id, digit, self.choice)
                return choice.next
            attempts += 1
            self._record(node.id, digit, "invalid" if digit else "timeout")
            if attempts > node.retries:
                return node.on_invalid if digit else node.on_timeout
            if node.invalid_prompt is not None:
                yield from self._play(node.invalid_prompt)

    def node_collect(self, node: m.Collect):
        for attempt in range(node.retries + 1):
            digits = yield from self._read(node.prompt, node.timeout_ms, node.max_digits)
            shown = "****" if node.secret else digits
            ok = node.min_digits <= len(digits) <= node.max_digits and digits.isdigit()
            if ok and node.check == "luhn":
                ok = luhn_ok(digits)
            elif ok and node.check == "regex":
                ok = re.fullmatch(node.pattern, digits) is not None
            elif ok and node.check == "account":
                shown = "****" if node.secret else mask_account(digits)
                customer = yield from self._lookup("account", account=digits)
                ok = customer is not None
                if ok:
                    self.customer = customer
            if ok:
                self.variables[node.variable] = digits
                what = node.variable.replace("_", " ")
                self._record(node.id, shown, f"{what} {shown} accepted")
                return node.next
            self._record(node.id, shown, "timeout" if not digits else f"{shown} rejected")
            if attempt < node.retries and node.invalid_prompt is not None:
                yield from self._play(node.invalid_prompt)
        return node.fail

    def node_identify(self, node: m.Identify):
        number = self.context.caller_number
        if "caller" in node.by and number:
            customer = yield from self._lookup("caller", number=number)
            if customer is not None:
                self.customer = customer
                self._record(node.id, "", f"identified by number as {_name(customer)}")
                return node.next
        if "account" not in node.by:
            self._record(node.id, "", "caller not identified")
            return node.fail
        for attempt in range(node.retries + 1):
            account = yield from self._read(node.account_prompt, node.timeout_ms,
                                            node.account_digits)
            if account:
                pin = yield from self._read(node.pin_prompt, node.timeout_ms, node.pin_digits)
                customer = None
                if pin:
                    customer = yield from self._lookup("account_pin", account=account, pin=pin)
                masked = mask_account(account)
                if customer is ACCOUNT_LOCKED:
                    self._record(node.id, f"{masked} ****", f"account {masked} locked")
                    return node.fail
                if customer is not None:
                    self.customer = customer
                    self.variables["account"] = getattr(customer, "account_number", account)
                    self._record(node.id, f"{masked} ****", f"account {masked} verified")
                    return node.next
                self._record(node.id, f"{masked} ****", f"account {masked} not verified")
            else:
                self._record(node.id, "", "timeout")
            if attempt < node.retries and node.invalid_prompt is not None:
                yield from self._play(node.invalid_prompt)
        return node.fail

    def node_condition(self, node: m.Condition):
        if node.test == "hours":
            schedule = self.flow.schedules.get(node.schedule)
            if schedule is None:
                raise _Broken(f"schedule {node.schedule!r} does not exist")
            yes = schedule.is_open(self._now)
            label = f"{node.schedule}: {'open' if yes else 'closed'}"
        elif node.test == "tier":
            tier = getattr(self.customer, "tier", "") or ""
            yes = tier in node.values
            label = f"tier {tier or 'unknown'}"
        elif node.test == "wait":
            wait = yield from self._lookup("queue_wait", queue=node.queue)
            yes = wait is not None and float(wait) > node.above
            label = f"{node.queue} wait {'unknown' if wait is None else f'{float(wait):.0f} s'}"
        else:
            value = self.variables.get(node.variable, "")
            yes = value in node.values
            label = f"{node.variable} = {value!r}"
        self._record(node.id, "", f"{node.title}: {label} -> {'yes' if yes else 'no'}")
        return node.then if yes else node.otherwise

    def node_set(self, node: m.Set):
        self.skills.extend(node.skills)
        if node.priority is not None:
            self.priority = node.priority
        self.variables.update(node.variables)
        if node.language:
            yield from self._set_language(node.language)
        self._record(node.id, "", node.title)
        return node.next

    def node_language(self, node: m.Language):
        yield from self._set_language(node.language)
        self._record(node.id, "", f"language {node.language}")
        return node.next

    def _set_language(self, language: str):
        if language != self.language:
            self.language = language
            yield from self._cmd("SET VARIABLE", "CHANNEL(language)", language)

    def node_queue(self, node: m.Queue):
        self.skills.extend(node.skills)
        if node.priority is not None:
            self.priority = node.priority
        yield from self._play(node.prompt)
        # If this core goes away while the caller waits, the dialplan carries on
        # into Queue(${QUEUE}) with this priority.
        yield from self._cmd("SET VARIABLE", "QUEUE", node.queue)
        yield from self._cmd("SET VARIABLE", "QUEUE_PRIO", str(self.priority))
        self._record(node.id, "", f"queue {node.queue}")
        return self._finish(node.queue, "queued", wait=node.wait)

    def node_voicemail(self, node: m.Voicemail):
        yield from self._play(node.prompt)
        self._record(node.id, "", f"voicemail {node.mailbox}")
        args = f"{node.mailbox},{node.options}" if node.options else node.mailbox
        # The caller hanging up is how a message normally ends: not an abandon.
        yield Command(("EXEC", "VoiceMail", args))
        return self._finish(None, "voicemail", target=node.mailbox)

    def node_transfer(self, node: m.Transfer):
        yield from self._play(node.prompt)
        if node.flow:
            flow = self.context.flows.get(node.flow)
            if flow is None:
                raise _Broken(f"flow {node.flow!r} is not loaded")
            self._record(node.id, "", f"transfer to flow {node.flow}")
            self.flow = flow
            self.priority = max(self.priority, flow.priority)
            return flow.start
        # The dialplan dials ${TRANSFER} through the outbound context when the AGI ends.
        yield from self._cmd("SET VARIABLE", "TRANSFER", node.number)
        self._record(node.id, "", f"transfer to {node.number}")
        return self._finish(None, "transfer", target=node.number)

    def node_hangup(self, node: m.Hangup):
        yield from self._play(node.prompt)
        self._record(node.id, "", node.title)
        yield Command(("HANGUP",))
        return self._finish(None, "ended")


def _int(text) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return 0


def _name(customer) -> str:
    return getattr(customer, "name", "") or f"customer {getattr(customer, 'id', '?')}"
