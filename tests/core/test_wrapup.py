"""The wrap-up, pick-customer and create-customer console commands: the pure checks,
then the commands on a real CallCenter with a clock, an in-memory store run inline
and a hub that records pushes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from twisted.internet import defer, task

from agent_ui.backend import CommandRejected
from callcenter.bus import Bus
from callcenter.center import CallCenter
from callcenter.settings import QueueSettings, SettingsError, load_settings
from callcenter.wrapup import WrapupInvalid, check_new_customer, check_wrapup
from crm_store.store import Store, make_engine

NOW = 1_790_000_000.0
DISPOSITIONS = ("resolved", "follow-up", "other")


def check(args, required=True, now=NOW, default_number="+15551234567"):
    return check_wrapup(args, dispositions=DISPOSITIONS, required=required, now=now,
                        region="US", default_number=default_number)


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


# ---------------------------------------------------------------- pure checks


def test_a_known_disposition_and_notes_are_accepted():
    form = check({"disposition": "resolved", "notes": "sent the invoice", "callback": None})
    assert (form.disposition, form.notes, form.callback_at) == ("resolved",
                                                                "sent the invoice", None)


@pytest.mark.parametrize("args", [{}, {"disposition": ""}, {"disposition": "  "}])
def test_a_missing_disposition_is_refused_when_required(args):
    with pytest.raises(WrapupInvalid, match="choose a disposition"):
        check(args)


def test_a_missing_disposition_is_allowed_when_not_required():
    assert check({"notes": "n"}, required=False).disposition == ""


def test_an_unknown_disposition_is_refused_naming_the_choices():
    with pytest.raises(WrapupInvalid, match="unknown disposition 'sold'.*resolved, follow-up"):
        check({"disposition": "sold"}, required=False)


def test_notes_longer_than_2000_characters_are_refused():
    check({"disposition": "other", "notes": "x" * 2000})
    with pytest.raises(WrapupInvalid, match="2001 characters"):
        check({"disposition": "other", "notes": "x" * 2001})


@pytest.mark.parametrize("bad", [5, ["a"], {"x": 1}])
def test_fields_that_are_not_text_are_refused(bad):
    with pytest.raises(WrapupInvalid, match="must be text"):
        check({"disposition": bad})
    with pytest.raises(WrapupInvalid, match="must be text"):
        check({"disposition": "other", "notes": bad})


def test_a_callback_in_the_future_is_kept_with_its_number_in_e164():
    form = check({"disposition": "follow-up",
                  "callback": {"at": iso(NOW + 3600), "number": "(555) 987-6543"}})
    assert form.callback_at == NOW + 3600
    assert form.callback_number == "+15559876543"
    assert form.as_dict()["callback"] == {"at": NOW + 3600, "number": "+15559876543"}


def test_a_callback_without_a_number_calls_the_caller_back():
    form = check({"disposition": "follow-up", "callback": {"at": iso(NOW + 60), "number": ""}})
    assert form.callback_number == "+15551234567"


def test_a_callback_time_with_an_offset_is_exact():
    at = datetime.fromtimestamp(NOW + 7200, UTC).astimezone(timezone_plus_two()).isoformat()
    assert check({"disposition": "other", "callback": {"at": at}}).callback_at == NOW + 7200


def timezone_plus_two():
    from datetime import timezone

    return timezone(timedelta(hours=2))


@pytest.mark.parametrize("at, message", [
    (iso(NOW - 1), "must be in the future"),
    (iso(NOW), "must be in the future"),
    (iso(NOW + 400 * 86400), "within 366 days"),
    ("tomorrow", "not a date and time"),
    ("", "give the callback time"),
])
def test_bad_callback_times_are_refused(at, message):
    with pytest.raises(WrapupInvalid, match=message):
        check({"disposition": "other", "callback": {"at": at, "number": "5559876543"}})


def test_a_callback_to_something_that_is_not_a_number_is_refused():
    with pytest.raises(WrapupInvalid, match="'call me' is not a phone number"):
        check({"disposition": "other", "callback": {"at": iso(NOW + 60), "number": "call me"}})
    with pytest.raises(WrapupInvalid, match="give the number"):
        check({"disposition": "other", "callback": {"at": iso(NOW + 60)}}, default_number="")
    with pytest.raises(WrapupInvalid, match="callback must be an object"):
        check({"disposition": "other", "callback": "soon"})


def test_a_new_customer_needs_a_name_and_a_real_phone():
    new = check_new_customer({"name": " Grace Hopper ", "phone": ""}, region="US",
                             default_number="555-123-0000")
    assert (new.name, new.phone) == ("Grace Hopper", "+15551230000")
    assert check_new_customer({"name": "Anon"}, region="US").phone == ""
    with pytest.raises(WrapupInvalid, match="name"):
        check_new_customer({"name": "  "}, region="US")
    with pytest.raises(WrapupInvalid, match="'12' is not a phone number"):
        check_new_customer({"name": "G", "phone": "12"}, region="US")
    with pytest.raises(WrapupInvalid, match="not an email"):
        check_new_customer({"name": "G", "email": "nope"}, region="US")
    with pytest.raises(WrapupInvalid, match="name is too long"):
        check_new_customer({"name": "x" * 201}, region="US")


def test_queue_dispositions_have_defaults_and_are_checked_with_their_key():
    q = QueueSettings(name="sales")
    assert q.dispositions == ("resolved", "follow-up", "escalated", "wrong number", "other")
    assert q.disposition_required is True
    with pytest.raises(SettingsError, match="queues.0.dispositions"):
        load_settings(environ={}, overrides={"queues": [{"name": "sales",
                                                         "dispositions": ["a", "a"]}],
                                             "ivr": {"options": [], "default_queue": "sales"}})


# ---------------------------------------------------------------- the commands


class InlineDB:
    """``db.do``/``do_in_order`` run at once on the store (the pool's contract)."""

    def __init__(self, store):
        self.store = store

    def do(self, fn, /, *args, **kwargs):
        return defer.maybeDeferred(fn, self.store, *args, **kwargs)

    def do_in_order(self, key, fn, /, *args, **kwargs):
        return self.do(fn, *args, **kwargs)


class Hub:
    def __init__(self):
        self.pushed: list[tuple[int, dict]] = []

    def push(self, agent_id, message):
        self.pushed.append((agent_id, message))
        return 1


@pytest.fixture
def world():
    store = Store(make_engine("sqlite://"))
    store.create_schema()
    settings = load_settings(environ={}, overrides={
        "queues": [{"name": "sales", "dispositions": ["sold", "no sale"]},
                   {"name": "support", "disposition_required": False}]})
    clock = task.Clock()
    clock.advance(NOW)
    hub = Hub()
    center = CallCenter(clock=clock, bus=Bus(), db=InlineDB(store), settings=settings, hub=hub)
    agents = [store.add_agent(username=f"agent{i}", password="pw", extension=str(1000 + i),
                              interface=f"Local/{1000 + i}@agents/n") for i in (1, 2)]
    for a in agents:
        key = center.register_agent(a)
        center._apply(center.router.login(key, NOW))
    return store, center, hub, [str(a.id) for a in agents]


def take_call(store, center, key, call_id="c1", queue="sales", number="5551234567"):
    """The call arrives, is offered to ``key`` and answered; returns nothing."""
    store.open_contact(call_id=call_id, direction="inbound", caller_number=number,
                       arrived_at=NOW)
    store.update_contact(call_id, agent_id=int(key), queue=queue)
    live = center._call(call_id, NOW)
    live.has_agi, live.caller_number = True, number
    center._apply(center.router.ready(key, center.now()))
    center._apply(center.router.enqueue(call_id, queue, center.now()))
    center._apply(center.router.offer_answered(call_id, key, center.now()))


def hang_up(center, key):
    center._apply(center.router.call_finished(key, center.now()))


def run(center, key, name, args):
    d = center.command(key, name, args)
    results: list = []
    d.addBoth(results.append)
    assert results, "the command did not finish"
    result = results[0]
    if hasattr(result, "raiseException"):
        result.raiseException()
    return result


def test_the_agent_saves_the_wrap_up_of_the_call_they_just_finished(world):
    store, center, hub, (a1, _) = world
    take_call(store, center, a1)
    hang_up(center, a1)
    state = [m for _, m in hub.pushed if m.get("type") == "agent_state"][-1]
    assert state["state"] == "wrap_up"
    assert (state["call_id"], state["dispositions"], state["disposition_required"]) == (
        "c1", ["sold", "no sale"], True)
    assert center.snapshot(a1)["wrapup"]["call_id"] == "c1"
    at = iso(NOW + 86400)
    result = run(center, a1, "wrapup", {"call_id": "c1", "disposition": "sold",
                                        "notes": "two seats", "callback": {"at": at,
                                                                           "number": ""}})
    assert result["ok"] is True
    saved = store.contact("c1")
    assert (saved.disposition, saved.notes) == ("sold", "two seats")
    assert (saved.callback_at, saved.callback_number) == (NOW + 86400, "+15551234567")
    # Saving does not end the wrap-up; the agent ends it.
    assert center.router.agent(a1).state.value == "wrap_up"
    assert center.snapshot(a1)["wrapup"]["saved"]["disposition"] == "sold"
    assert any(m.get("type") == "wrapup_saved" for _, m in hub.pushed)


def test_the_wrap_up_may_still_be_saved_after_the_agent_went_ready(world):
    store, center, _, (a1, _) = world
    take_call(store, center, a1, queue="support")
    hang_up(center, a1)
    center._apply(center.router.ready(a1, center.now()))
    run(center, a1, "wrapup", {"call_id": "c1", "disposition": "", "notes": "n"})
    assert store.contact("c1").notes == "n"


def test_a_required_disposition_is_refused_by_the_backend(world):
    store, center, _, (a1, _) = world
    take_call(store, center, a1)
    hang_up(center, a1)
    with pytest.raises(CommandRejected, match="choose a disposition"):
        run(center, a1, "wrapup", {"call_id": "c1", "disposition": "", "notes": "x"})
    with pytest.raises(CommandRejected, match="unknown disposition 'resolved'"):
        run(center, a1, "wrapup", {"call_id": "c1", "disposition": "resolved"})
    assert store.contact("c1").disposition == ""


def test_a_call_still_going_on_or_someone_elses_cannot_be_wrapped_up(world):
    store, center, _, (a1, a2) = world
    take_call(store, center, a1)
    with pytest.raises(CommandRejected, match="still going on"):
        run(center, a1, "wrapup", {"call_id": "c1", "disposition": "sold"})
    assert center.snapshot(a1)["wrapup"] is None
    hang_up(center, a1)
    with pytest.raises(CommandRejected, match="only your last call"):
        run(center, a2, "wrapup", {"call_id": "c1", "disposition": "sold"})
    with pytest.raises(CommandRejected, match="only your last call"):
        run(center, a1, "wrapup", {"call_id": "c0", "disposition": "sold"})


def test_after_the_next_call_is_answered_the_previous_one_is_closed_to_wrap_up(world):
    store, center, _, (a1, _) = world
    take_call(store, center, a1, call_id="c1")
    hang_up(center, a1)
    take_call(store, center, a1, call_id="c2")
    hang_up(center, a1)
    with pytest.raises(CommandRejected, match="only your last call"):
        run(center, a1, "wrapup", {"call_id": "c1", "disposition": "sold"})
    run(center, a1, "wrapup", {"call_id": "c2", "disposition": "sold"})


def pop_for(center, key, call_id, matches, number="+15551234567"):
    from callcenter.center import _card

    cards = [_card(m) for m in matches]
    center.pops[key] = {"type": "pop", "call_id": call_id, "caller_number": number,
                        "customer": cards[0] if cards else None, "matches": cards,
                        "recent_contacts": []}


def test_picking_one_of_two_customers_links_the_contact_and_pushes_the_card(world):
    store, center, hub, (a1, a2) = world
    first = store.add_customer(name="Ann Shared", phones=["5551234567"])
    second = store.add_customer(name="Bob Shared", phones=["5551234567"])
    take_call(store, center, a1)
    pop_for(center, a1, "c1", [store.customer(first), store.customer(second)])
    run(center, a1, "pick_customer", {"call_id": "c1", "customer_id": second})
    assert store.contact("c1").customer_id == second
    pushed = [m for _, m in hub.pushed if m.get("type") == "pop"][-1]
    assert pushed["customer"]["name"] == "Bob Shared" and pushed["picked"] == second
    assert center.pops[a1]["customer"]["id"] == second
    outsider = store.add_customer(name="Eve", phones=["5550000000"])
    with pytest.raises(CommandRejected, match="not one of this caller's matches"):
        run(center, a1, "pick_customer", {"call_id": "c1", "customer_id": outsider})
    with pytest.raises(CommandRejected, match="not on your screen"):
        run(center, a2, "pick_customer", {"call_id": "c1", "customer_id": first})


def test_an_unknown_caller_becomes_a_new_customer_linked_to_the_contact(world):
    store, center, hub, (a1, _) = world
    take_call(store, center, a1, number="5550001111")
    pop_for(center, a1, "c1", [], number="+15550001111")
    result = run(center, a1, "create_customer",
                 {"call_id": "c1", "name": "<script>alert(1)</script>", "phone": ""})
    card = store.customer(result["customer_id"])
    assert card.name == "<script>alert(1)</script>" and card.phones == ("+15550001111",)
    assert store.contact("c1").customer_id == card.id
    assert [m for _, m in hub.pushed if m.get("type") == "pop"][-1]["customer"]["id"] == card.id
    with pytest.raises(CommandRejected, match="already has a customer"):
        run(center, a1, "create_customer", {"call_id": "c1", "name": "Again"})
    assert store.count_customers() == 1
