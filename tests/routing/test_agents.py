import pytest

from routing.agents import RONA, TRANSITIONS, AgentMachine, IllegalTransition, State

EVENTS = sorted({event for _, event in TRANSITIONS})


def machine_in(state: State) -> AgentMachine:
    """An agent brought to ``state`` through legal transitions."""
    m = AgentMachine("a1", log=[])
    paths = {
        State.LOGGED_OUT: [],
        State.NOT_READY: ["login"],
        State.READY: ["login", "ready"],
        State.RESERVED: ["login", "ready", "reserve"],
        State.ON_CALL: ["login", "ready", "reserve", "answer"],
        State.ON_HOLD: ["login", "ready", "reserve", "answer", "hold"],
        State.WRAP_UP: ["login", "ready", "reserve", "answer", "hangup"],
    }
    for i, event in enumerate(paths[state]):
        m.handle(event, float(i), call_id="c1", seconds=10.0)
    assert m.state is state
    return m


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("event", EVENTS)
def test_every_pair_outside_the_table_is_refused_and_leaves_the_state(state, event):
    m = machine_in(state)
    if (state, event) in TRANSITIONS:
        return
    before = len(m.log)
    with pytest.raises(IllegalTransition):
        m.handle(event, 100.0, reason="break", seconds=5.0)
    assert m.state is state and len(m.log) == before


def test_logout_is_refused_during_a_live_call():
    with pytest.raises(IllegalTransition, match="cannot logout while on_call"):
        machine_in(State.ON_CALL).handle("logout", 9.0)


def test_ring_no_answer_gives_not_ready_rona():
    m = machine_in(State.RESERVED)
    changed = m.handle("no_answer", 10.0)
    assert (changed.state, changed.reason, changed.previous) == ("not_ready", RONA, "reserved")


def test_hold_and_resume_return_to_the_call_and_hangup_from_hold_starts_wrap_up():
    m = machine_in(State.ON_CALL)
    m.handle("hold", 10.0)
    m.handle("unhold", 11.0)
    m.handle("hold", 12.0)
    m.handle("hangup", 13.0, seconds=7.0)
    assert m.state is State.WRAP_UP and m.wrapup_until == 20.0 and m.calls_handled == 1


def test_wrap_up_extends_once_then_refuses():
    m = machine_in(State.WRAP_UP)
    m.handle("extend", 5.0, seconds=30.0)
    assert m.wrapup_until == 44.0 and m.state is State.WRAP_UP
    with pytest.raises(IllegalTransition, match="extend wrap-up twice"):
        m.handle("extend", 6.0, seconds=30.0)


def test_wrap_up_ended_early_by_the_agent_goes_ready():
    m = machine_in(State.WRAP_UP)
    assert m.handle("ready", 5.0).state == "ready" and m.idle_since == 5.0


def test_not_ready_preselected_on_a_call_applies_when_wrap_up_ends():
    m = machine_in(State.ON_CALL)
    assert m.request_not_ready("lunch", 5.0) is None
    m.handle("hangup", 6.0, seconds=3.0)
    changed = m.handle("wrapup_done", 9.0)
    assert (changed.state, changed.reason) == ("not_ready", "lunch")
    assert m.pending_reason is None


def test_preselected_not_ready_is_forgotten_when_agent_chooses_ready():
    m = machine_in(State.ON_CALL)
    m.request_not_ready("lunch", 5.0)
    m.handle("hangup", 6.0, seconds=3.0)
    assert m.handle("ready", 7.0).state == "ready"


def test_caller_gone_while_ringing_with_preselected_reason_lands_not_ready():
    m = machine_in(State.RESERVED)
    m.request_not_ready("break", 4.0)
    assert (m.handle("cancel", 5.0).state, m.reason) == ("not_ready", "break")


def test_not_ready_needs_a_reason():
    with pytest.raises(IllegalTransition, match="without a reason"):
        machine_in(State.READY).handle("not_ready", 5.0)


def test_outbound_dial_from_not_ready_is_a_call():
    m = machine_in(State.NOT_READY)
    m.handle("dial", 5.0, call_id="out1")
    assert (m.state, m.direction, m.call_id) == (State.ON_CALL, "outbound", "out1")


def test_log_records_every_transition_with_previous_state():
    m = machine_in(State.WRAP_UP)
    m.handle("wrapup_done", 20.0)
    assert [(e.previous, e.state) for e in m.log] == [
        ("logged_out", "not_ready"), ("not_ready", "ready"), ("ready", "reserved"),
        ("reserved", "on_call"), ("on_call", "wrap_up"), ("wrap_up", "ready")]
    assert [e.at for e in m.log] == [0.0, 1.0, 2.0, 3.0, 4.0, 20.0]


def test_occupancy_is_busy_share_of_ready_plus_busy_time():
    m = AgentMachine("a1")
    m.handle("login", 0.0)
    m.handle("ready", 100.0)      # not ready time does not count
    m.handle("reserve", 110.0, call_id="c")  # 10 s ready
    m.handle("answer", 112.0)
    m.handle("hangup", 140.0, seconds=0)
    assert m.occupancy(140.0) == pytest.approx(30 / 40)
    m.handle("wrapup_done", 140.0)
    assert m.occupancy(180.0) == pytest.approx(30 / 80)
