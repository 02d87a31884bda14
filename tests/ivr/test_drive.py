"""run_flow: the runner driven over an AGI session, with CRM lookups as Deferreds."""

from twisted.internet import defer, task
from twisted.logger import globalLogPublisher

from callcenter.agi.codec import AGIResult
from callcenter.agi.errors import AGICommandError, AGIHangup
from ivr.check import load_book
from ivr.drive import run_flow
from ivr.runner import FlowContext, FlowRunner
from tests.ivr.cases import CASES, FLOWS, UNKNOWN, FakeCaller, FakeCRM


class FakeSession:
    """An AGISession stand-in: answers from a FakeCaller, Deferreds already fired."""

    def __init__(self, caller, fail_at=None, error=None):
        self.caller, self.sent, self.fail_at, self.error = caller, [], fail_at, error

    def command(self, *words):
        self.sent.append(words)
        if self.fail_at is not None and len(self.sent) - 1 == self.fail_at:
            return defer.fail(self.error)
        return defer.succeed(self.caller.answer(words))


def runner(dnis="8005550111", number=UNKNOWN):
    book = load_book([FLOWS])
    return FlowRunner(book.for_dnis(dnis), FlowContext(caller_number=number, flows=book.by_name))


def result_of(d):
    out = []
    d.addBoth(out.append)
    assert out, "run_flow did not finish"
    return out[0]


def test_flow_runs_over_the_session_with_deferred_lookups_and_no_pin_in_logs():
    events = []
    globalLogPublisher.addObserver(events.append)
    try:
        clock, crm = task.Clock(), FakeCRM(pins={"44170039": "5678"})
        pending = []

        def lookup(kind, args):
            d = defer.Deferred()
            pending.append((d, crm.lookup(kind, args)))
            return d

        caller = FakeCaller({"lab/lang": "1", "lab/account": "44170039", "lab/pin": "5678",
                             "lab/main": "1"})
        d = defer.ensureDeferred(run_flow(FakeSession(caller), runner(), lookup, clock))
        while pending:
            waiting, answer = pending.pop(0)
            assert not d.called
            waiting.callback(answer)
        finished = result_of(d)
        assert finished.queue == "sales" and finished.customer.name == "Gordon Gold"
    finally:
        globalLogPublisher.removeObserver(events.append)
    assert "5678" not in repr(events)


def test_caller_gone_mid_command_ends_as_hangup():
    session = FakeSession(FakeCaller({}), fail_at=2, error=AGIHangup("gone"))
    finished = result_of(defer.ensureDeferred(
        run_flow(session, runner(), FakeCRM().lookup, task.Clock())))
    assert finished.outcome == "hangup" and finished.node == "greet"


def test_refused_command_goes_to_the_fallback_queue_and_is_logged():
    events = []
    globalLogPublisher.addObserver(events.append)
    try:
        error = AGICommandError("STREAM FILE", AGIResult(510, text="510 Invalid"))
        session = FakeSession(FakeCaller({}), fail_at=1, error=error)
        finished = result_of(defer.ensureDeferred(
            run_flow(session, runner(), FakeCRM().lookup, task.Clock())))
    finally:
        globalLogPublisher.removeObserver(events.append)
    assert finished.queue == "support" and finished.outcome == "error"
    assert any("refused" in str(e.get("log_format", "")) for e in events)


def test_failed_lookup_counts_as_not_found():
    def broken(kind, args):
        return defer.fail(RuntimeError("database down"))

    caller = FakeCaller(CASES[0].digits)
    finished = result_of(defer.ensureDeferred(
        run_flow(FakeSession(caller), runner(number="5551230000"), broken, task.Clock())))
    assert finished.customer is None and finished.queue == "sales"


def test_crm_lookup_answers_a_locked_account_and_passes_the_lockout_limits():
    from crm_store.records import PinCheck
    from ivr.drive import crm_lookup
    from ivr.runner import ACCOUNT_LOCKED

    class Store:
        def __init__(self, status):
            self.status, self.asked = status, []

        def verify_account_pin(self, account, pin, **limits):
            self.asked.append(limits)
            return PinCheck(self.status)

        def customer_by_account(self, account):
            return "customer " + account

    class Pool:
        def __init__(self, store):
            self.store = store

        def do(self, fn, /, *args, **kwargs):
            return defer.succeed(fn(self.store, *args, **kwargs))

    answers = {}
    for status in ("ok", "wrong", "locked"):
        store = Store(status)
        lookup = crm_lookup(Pool(store), pin_max_failures=3, pin_lock_minutes=2.5)
        answers[status] = result_of(lookup("account_pin", {"account": "4417", "pin": "1"}))
        assert store.asked == [{"max_failures": 3, "lock_minutes": 2.5}]
    assert answers == {"ok": "customer 4417", "wrong": None, "locked": ACCOUNT_LOCKED}
