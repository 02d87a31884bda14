"""Drives a ``FlowRunner`` over a FastAGI session: the thin I/O side of the IVR.

Call it from the inbound FastAGI handler::

    runner = FlowRunner(book.for_dnis(dnis), FlowContext(caller_number=number,
                                                         dnis=dnis, flows=book.by_name))
    finished = await run_flow(session, runner, lookup_fn, reactor)

``lookup_fn(kind, args)`` answers the runner's ``Lookup`` questions and may return
a value or a Deferred; ``crm_lookup(db)`` builds one over the database pool. A
lookup that fails counts as "not found" and is logged (never with its arguments:
they may hold a PIN).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from twisted.logger import Logger

from callcenter.agi.errors import AGICommandError, AGIHangup
from ivr.runner import ACCOUNT_LOCKED, Command, Finished, FlowRunner, Lookup

log = Logger()

LookupFn = Callable[[str, Mapping[str, str]], Any]


@dataclass(frozen=True)
class _HungUp:
    """The AGI result the runner is given when the session says the caller is gone."""

    code: int = 511
    result: str = "-1"
    data: str | None = None
    timeout: bool = False


async def run_flow(session, runner: FlowRunner, lookup_fn: LookupFn, clock) -> Finished:
    """Run ``runner`` to its end over ``session`` (an ``AGISession``); ``clock``
    gives ``seconds()``. Never raises for a caller hanging up or a refused command."""
    step = runner.start(clock.seconds())
    while not isinstance(step, Finished):
        if isinstance(step, Lookup):
            try:
                answer = lookup_fn(step.kind, step.args)
                if inspect.isawaitable(answer):
                    answer = await answer
            except Exception as e:  # noqa: BLE001 - any lookup failure: "not found"
                log.error("IVR lookup {kind} failed ({error}); treated as not found",
                          kind=step.kind, error=type(e).__name__)
                answer = None
            step = runner.on_lookup(answer, clock.seconds())
            continue
        assert isinstance(step, Command)
        try:
            result = await session.command(*step.words)
        except AGIHangup:
            result = _HungUp()
        except AGICommandError as e:
            log.error("IVR command {verb} refused ({code}); the caller goes to the "
                      "fallback queue", verb=step.words[0], code=e.result.code)
            return runner.fail(f"{step.words[0]} refused", clock.seconds())
        if getattr(session, "hung_up", False):
            # Asterisk sent HANGUP before this reply: the caller left before the
            # command ran (commands allowed on a dead channel still answer 200).
            result = _HungUp()
        step = runner.on_result(result, clock.seconds())
    return step


def _first(lookup) -> Any:
    customers = getattr(lookup, "customers", ())
    return customers[0] if customers else None


def _customer_if_pin(store, account: str, pin: str, **lockout: Any) -> Any:
    """The customer of ``account`` if ``pin`` is its PIN, ``ACCOUNT_LOCKED`` if the
    account's PIN checks are locked, else None (on the pool)."""
    check = store.verify_account_pin(account, pin, **lockout)
    if getattr(check, "locked", False):
        return ACCOUNT_LOCKED
    if not check:
        return None
    return store.customer_by_account(account)


def crm_lookup(
    db,
    queue_wait: Callable[[str], float | None] | None = None,
    *,
    pin_max_failures: int = 5,
    pin_lock_minutes: float = 15.0,
) -> LookupFn:
    """A ``lookup_fn`` answering from the CRM store through ``db.do`` (the database
    pool), and queue waits from ``queue_wait(queue)`` (the router's estimate). Wrong
    PINs lock an account as ``Store.verify_account_pin`` says, with these limits."""
    lockout = {"max_failures": pin_max_failures, "lock_minutes": pin_lock_minutes}
    from crm_store.store import Store

    def lookup(kind: str, args: Mapping[str, str]):
        if kind == "caller":
            return db.do(Store.lookup_caller, args["number"], recent=0).addCallback(_first)
        if kind == "account":
            return db.do(Store.customer_by_account, args["account"])
        if kind == "account_pin":
            return db.do(_customer_if_pin, args["account"], args["pin"], **lockout)
        if kind == "queue_wait":
            return queue_wait(args["queue"]) if queue_wait is not None else None
        log.warn("unknown IVR lookup {kind}", kind=kind)
        return None

    return lookup
