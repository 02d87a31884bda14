"""The PBX model on a task.Clock with an in-memory FastAGI server: event sequences
and header sets against the Asterisk 22 recordings."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from twisted.internet import task

sys.path.insert(0, str(Path(__file__).parent))

from sim_fakes import EventLog, FakeAgiServer, connector_for, refusing  # noqa: E402

from callcenter.simulator import CallerScript, Pbx, PhoneBehaviour, Timings  # noqa: E402
from callcenter.simulator.agi import split_args  # noqa: E402

START = 1795409980.0
IVR_05 = [
    "ANSWER",
    "GET VARIABLE CALLERID(num)",
    "CHANNEL STATUS",
    "WAIT FOR DIGIT 10000",
    'STREAM FILE silence/1 ""',
    "GET DATA silence/1 6000 4",
    "SET VARIABLE QUEUE sales",
    'SET VARIABLE IVR_ACCOUNT "42"',
    'VERBOSE "IVR done: digit=1 account=42 -> queue sales" 1',
]
VARS_05 = {
    "CALLERNUM": "5551234567",
    "CALLER_DTMF": "1WWW42#",
    "CALLER_DTMF_DELAY": "2",
    "CALLER_HOLDSECS": "12",
}


def recorded(transcripts: Path, name: str) -> list[list[tuple[str, str]]]:
    """Every event of a recording as header pairs (``Event`` first)."""
    out = []
    for line in (transcripts / f"{name}.ami.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry["dir"] == "rx" and entry["data"].startswith("Event: "):
            lines = [x for x in entry["data"].split("\r\n") if x]
            out.append([tuple(x.split(": ", 1)) if ": " in x else (x.rstrip(":"), "") for x in lines])
    return out


def roles(events, skip=("CEL", "Cdr", "Newexten", "OriginateResponse")):
    """(event name, role of its channel) with channel names replaced by caller/trunk."""
    out = []
    for e in events:
        h = dict(e)
        name = h["Event"]
        if name in skip:
            continue
        chan = h.get("Channel") or h.get("DestChannel") or h.get("Device") or ""
        role = "caller" if chan.endswith(";1") else "trunk" if chan.endswith(";2") else chan
        if chan.startswith("Local/s@inbound") and ";" not in chan:
            role = "device"
        extra = h.get("Variable", "")
        out.append((name, role, extra))
    return out


@pytest.fixture
def clock():
    c = task.Clock()
    c.advance(START)
    return c


def make_pbx(clock, *servers, phones=None, connect=None, **timings):
    pbx = Pbx(
        clock,
        agi_connect=connect or connector_for(*servers),
        phones=phones if phones is not None else {"1001": PhoneBehaviour("1001", talk_seconds=None)},
        timings=Timings(**timings),
    )
    log = EventLog()
    pbx.listeners.append(log)
    return pbx, log


def run(clock, seconds, step=0.05):
    for _ in range(int(seconds / step)):
        clock.advance(step)


def test_inbound_ivr_events_follow_recording_05_order_per_channel(clock, transcripts):
    server = FakeAgiServer(IVR_05)
    pbx, log = make_pbx(clock, server)
    script = CallerScript("5551234567", "Lab Caller", digits={0: "1", "silence/1": "42#"},
                          digit_delay=1.6)
    pbx.place_call(script, variables=VARS_05)
    run(clock, 8)
    mine = roles(log.events)
    theirs = roles(recorded(transcripts, "05_inbound_call_ivr_queue"))
    cut = theirs.index(("VarSet", "trunk", "AGISTATUS")) + 1
    theirs = [r for r in theirs[:cut] if r[0] not in ("SuccessfulAuth", "FullyBooted")]
    assert mine[: len(theirs)] == theirs
    assert server.replies == [
        "200 result=0", "200 result=1 (5551234567)", "200 result=6", "200 result=49",
        "200 result=0 endpos=8000", "200 result=42", "200 result=1", "200 result=1",
        "200 result=1",
    ]
    statuses = [log.get(e, "Value") for e in log.named("VarSet")
                if log.get(e, "Variable") == "AGISTATUS"]
    assert statuses == ["SUCCESS"]
    assert "QueueCallerJoin" in log.names()  # then into Queue(sales)
    pbx.hangup_everything()
    assert clock.getDelayedCalls() == []


def test_every_emitted_event_has_a_recorded_header_set(clock, transcripts):
    seen: dict[str, set[tuple[str, ...]]] = {}
    for path in transcripts.glob("*.ami.jsonl"):
        for event in recorded(transcripts, path.name[: -len(".ami.jsonl")]):
            seen.setdefault(event[0][1], set()).add(tuple(k for k, _ in event))
    agent_hangs_up = FakeAgiServer(["ANSWER", 'EXEC Dial "Local/1001@agents/n,20,tT"', "HANGUP"])
    moh = FakeAgiServer(["SET MUSIC on default", "WAIT FOR DIGIT -1"])
    pbx, log = make_pbx(clock, agent_hangs_up, moh,
                        phones={"1001": PhoneBehaviour("1001", talk_seconds=2.0)})
    pbx.place_call(CallerScript("5551234567", "A"))
    pbx.place_call(CallerScript("5551234568", "B", digits={0: "7"}))
    pbx.set_global("AGENT_MODE_1002", "noanswer")
    run(clock, 10)
    assert len(set(log.names())) >= 20
    for event in log.events:
        assert tuple(k for k, _ in event) in seen[event[0][1]], event


def test_agi_unreachable_plays_goodbye_and_hangs_up_like_16b(clock, transcripts):
    pbx, log = make_pbx(clock, connect=refusing)
    call = pbx.place_call(CallerScript("5551234567", "Lab Caller"))
    run(clock, 3)
    theirs = roles(recorded(transcripts, "16b_agi_server_unreachable"))
    theirs = theirs[theirs.index(("VarSet", "trunk", "AGISTATUS")):]
    mine = roles(log.events)
    assert mine[mine.index(("VarSet", "trunk", "AGISTATUS")):] == theirs
    assert call.outcome == "rejected" and pbx.counters["agi_failures"] == 1
    assert call.ended.called


def test_caller_hangs_up_during_command_gets_minus_one_then_hangup_like_17(clock):
    server = FakeAgiServer(["VERBOSE \"waiting\" 1", "WAIT FOR DIGIT 15000",
                            "GET VARIABLE CALLERID(num)", "STREAM FILE hello \"\"", "NOOP"])
    pbx, log = make_pbx(clock, server)
    call = pbx.place_call(CallerScript("5551234567", "Lab Caller", patience=4.0))
    run(clock, 6)
    assert server.replies == [
        "200 result=1", "200 result=-1", "200 result=1 (5551234567)",
        "511 Command Not Permitted on a dead channel or intercepted channel", "200 result=0",
    ]
    assert server.unsolicited == ["HANGUP"]
    ends = [(log.get(e, "Command"), log.get(e, "ResultCode"), log.get(e, "Result"))
            for e in log.named("AGIExecEnd")]
    assert ends[1] == ("WAIT FOR DIGIT 15000", "-1", "Failure")
    assert ends[3][1] == "511"
    agistatus = [log.get(e, "Value") for e in log.named("VarSet") if log.get(e, "Variable") == "AGISTATUS"]
    assert agistatus == ["HANGUP"]
    assert call.outcome == "abandoned"


def test_abandon_while_on_music_stops_music_and_counts_abandoned(clock):
    server = FakeAgiServer(["ANSWER", "SET MUSIC on default", "WAIT FOR DIGIT -1"], close=False)
    pbx, log = make_pbx(clock, server, dead_agi_close=2.0)
    call = pbx.place_call(CallerScript("5551234567", patience=8.0))
    run(clock, 9)
    assert not call.ended.called  # the FastAGI server still holds the dead channel
    run(clock, 2)
    assert server.closed  # closed by the simulator after dead_agi_close
    names = log.names()
    assert names.index("MusicOnHoldStart") < names.index("MusicOnHoldStop")
    assert call.outcome == "abandoned" and pbx.counters["abandoned"] == 1
    assert server.replies[-1] == "200 result=-1" and server.unsolicited == ["HANGUP"]
    assert clock.getDelayedCalls() == []


@pytest.mark.parametrize(
    ("mode", "status", "cause"),
    [("noanswer", "NOANSWER", "19"), ("busy", "BUSY", "17")],
)
def test_dial_to_phone_that_does_not_answer_returns_zero_and_sets_dialstatus(clock, mode, status, cause):
    server = FakeAgiServer(['EXEC Dial "Local/1001@agents/n,3,tT"', "GET VARIABLE DIALSTATUS"])
    pbx, log = make_pbx(clock, server, phones={"1001": PhoneBehaviour("1001", mode=mode)})
    call = pbx.place_call(CallerScript("5551234567"))
    run(clock, 6)
    assert server.replies == ["200 result=0", f"200 result=1 ({status})"]
    assert [log.get(e, "DialStatus") for e in log.named("DialEnd")][-1] == status
    agent_hangups = [log.get(e, "Cause") for e in log.named("Hangup") if "@agents" in log.get(e, "Channel")]
    assert agent_hangups == [cause, cause]
    assert call.outcome == "rejected"


def test_dial_to_unknown_extension_is_chanunavail(clock):
    server = FakeAgiServer(['EXEC Dial "Local/1099@agents/n,3"', "GET VARIABLE DIALSTATUS"])
    pbx, log = make_pbx(clock, server)
    pbx.place_call(CallerScript("5551234567"))
    run(clock, 2)
    assert server.replies == ["200 result=0", "200 result=1 (CHANUNAVAIL)"]
    assert "DialBegin" not in [n for n in log.names()[10:]]


def test_agent_hangs_up_after_talk_time_and_the_agi_goes_on(clock):
    server = FakeAgiServer(['EXEC Dial "Local/1001@agents/n,20,tT"', "GET VARIABLE DIALSTATUS"])
    pbx, log = make_pbx(clock, server, phones={"1001": PhoneBehaviour("1001", 1.0, 3.0)})
    call = pbx.place_call(CallerScript("5551234567"))
    run(clock, 1.0)
    states = [log.get(e, "DialStatus") for e in log.named("DialState")]
    assert states == ["RINGING"]
    run(clock, 6)
    assert server.replies == ["200 result=0", "200 result=1 (ANSWER)"]
    names = log.names()
    assert names.count("BridgeEnter") == 2 and names.count("BridgeLeave") == 2
    assert names.index("BridgeCreate") < names.index("BridgeDestroy")
    assert call.outcome == "answered" and call.agent == "1001"
    assert clock.getDelayedCalls() == []


def test_caller_hangs_up_while_talking_ends_exec_dial_with_minus_one(clock):
    server = FakeAgiServer(['EXEC Dial "PJSIP/1001,20"', "NOOP"])
    pbx, _ = make_pbx(clock, server)
    call = pbx.place_call(CallerScript("5551234567", talk_hangup_after=2.0))
    run(clock, 5)
    assert server.replies == ["200 result=-1", "200 result=0"] and server.unsolicited == ["HANGUP"]
    assert call.outcome == "answered" and not pbx.channels


def test_agi_hangup_command_answers_one_then_unsolicited_hangup(clock):
    server = FakeAgiServer(["HANGUP", "NOOP", "FOO BAR", "SET VARIABLE"])
    pbx, log = make_pbx(clock, server)
    call = pbx.place_call(CallerScript("5551234567"))
    run(clock, 2)
    assert server.replies[:3] == ["200 result=1", "200 result=0", "510 Invalid or unknown command"]
    assert server.replies[3].startswith("520-Invalid command syntax.  Proper usage follows:\n")
    assert server.unsolicited == ["HANGUP"]
    assert [log.get(e, "Cause") for e in log.named("SoftHangupRequest")][0] == "32"
    assert call.outcome == "rejected"


def test_stream_file_interrupted_by_escape_digit(clock):
    server = FakeAgiServer(['STREAM FILE menu "123"', 'GET DATA account 1000 2'])
    pbx, _ = make_pbx(clock, server, prompt=2.0)
    pbx.place_call(CallerScript("5551234567", digits={"menu": "2"}, digit_delay=0.5))
    run(clock, 6)
    assert server.replies[0].startswith("200 result=50 endpos=")
    assert server.replies[1] == "200 result= (timeout)"


def test_redirect_during_agi_ends_it_and_dials_the_transfer_target(clock):
    server = FakeAgiServer(["SET MUSIC on", "WAIT FOR DIGIT -1"], close=False)
    pbx, log = make_pbx(clock, server, phones={"1002": PhoneBehaviour("1002", 0.5, 1.0)},
                        dead_agi_close=0.5)
    call = pbx.place_call(CallerScript("5551234567"))
    run(clock, 1)
    assert pbx.redirect(call.trunk, "transfer", "1002")
    run(clock, 4)
    assert server.replies[-1] == "200 result=-1" and server.unsolicited == ["HANGUP"]
    dial = log.named("DialBegin")[-1]
    assert log.get(dial, "DialString") == "1002@agents/n"
    assert call.outcome == "answered" and call.agent == "1002"


def test_uniqueids_and_channel_counter_look_like_asterisk(clock):
    pbx, log = make_pbx(clock, FakeAgiServer(["NOOP"]), FakeAgiServer(["NOOP"]))
    first = pbx.place_call(CallerScript("1"))
    second = pbx.place_call(CallerScript("2"))
    assert first.caller.name == "Local/s@inbound-00000000;1"
    assert second.trunk.name == "Local/s@inbound-00000001;2"
    assert first.caller.uniqueid == "1795409980.0" and second.trunk.uniqueid == "1795409980.3"
    assert second.trunk.linkedid == second.caller.uniqueid
    run(clock, 3)


@pytest.mark.parametrize(
    ("line", "args"),
    [
        ('EXEC Dial "Local/1001@agents/n,20,tT"', ["EXEC", "Dial", "Local/1001@agents/n,20,tT"]),
        ('EXEC Verbose "from AGI EXEC",1', ["EXEC", "Verbose", "from AGI EXEC,1"]),
        ('STREAM FILE silence/1 ""', ["STREAM", "FILE", "silence/1", ""]),
        ('SET VARIABLE FOO "bar baz"', ["SET", "VARIABLE", "FOO", "bar baz"]),
        (r'VERBOSE "a \"q\"" 1', ["VERBOSE", 'a "q"', "1"]),
    ],
)
def test_split_args_like_asterisk(line, args):
    assert split_args(line) == args


def test_traffic_is_reproducible_for_a_seed(clock):
    from callcenter.simulator import Traffic

    def draw():
        pbx, _ = make_pbx(clock, connect=refusing)
        traffic = Traffic(pbx, rate=2.0, numbers=["5550001", "5550002"], max_calls=20,
                          menu_weights={"1": 3, "2": 1}, unknown_share=0.25,
                          patience_mean=30.0, seed=7)
        return [traffic.script() for _ in range(20)]

    first, second = draw(), draw()
    assert [(s.number, dict(s.digits), s.patience) for s in first] == [
        (s.number, dict(s.digits), s.patience) for s in second]
    assert {s.digits[0] for s in first} <= {"1", "2"}
    assert any(s.number not in ("5550001", "5550002") for s in first)


def test_traffic_deferred_fires_after_max_calls_ended(clock):
    from callcenter.simulator import Traffic

    pbx, _ = make_pbx(clock, connect=refusing)
    traffic = Traffic(pbx, rate=1.0, numbers=["5550001"], max_calls=3, menu_weights={"1": 1},
                      unknown_share=0.0, patience_mean=30.0, seed=1)
    done = traffic.start()
    run(clock, 60, step=0.5)
    assert done.called and pbx.counters["placed"] == 3 and pbx.counters["ended"] == 3
    assert clock.getDelayedCalls() == []


def test_hangup_everything_leaves_no_channel_timer_or_agi_link(clock):
    server = FakeAgiServer(["SET MUSIC on", 'EXEC Dial "Local/1001@agents/n,20"'], close=False)
    pbx, _ = make_pbx(clock, server, phones={"1001": PhoneBehaviour("1001", 0.5, None)})
    call = pbx.place_call(CallerScript("5551234567"))
    run(clock, 2)
    assert len(pbx.channels) == 4
    pbx.hangup_everything()
    assert pbx.channels == {} and server.closed and call.ended.called
    assert clock.getDelayedCalls() == []


@pytest.mark.parametrize("size", range(1, 12))
def test_fastagi_client_protocol_reads_commands_in_every_chunk_size(clock, size):
    from twisted.internet.testing import StringTransport

    from callcenter.simulator.agi import AgiSession, FastAGIClientProtocol

    pbx, _ = make_pbx(clock, FakeAgiServer([]))
    call = pbx.place_call(CallerScript("5551234567"))
    session = AgiSession(pbx, call.trunk, "inbound", ["8005550100", "5551234567"])
    proto = FastAGIClientProtocol(session)
    transport = StringTransport()
    proto.makeConnection(transport)
    assert transport.value().endswith(b"agi_arg_2: 5551234567\n\n")
    transport.clear()
    data = b'NOOP\nGET VARIABLE CALLERID(num)\r\nSET VARIABLE QUEUE "sales"\n'
    for i in range(0, len(data), size):
        proto.dataReceived(data[i : i + size])
    assert transport.value() == b"200 result=0\n200 result=1 (5551234567)\n200 result=1\n"
    assert call.trunk.variables["QUEUE"] == "sales"
    pbx.hangup_everything()


def test_agi_closing_with_queue_set_hands_the_caller_to_queue(clock):
    server = FakeAgiServer(["ANSWER", "SET VARIABLE QUEUE support"])
    pbx, log = make_pbx(clock, server, phones={
        "1003": PhoneBehaviour("1003", answer_after=1.0, talk_seconds=2.0),
        "1004": PhoneBehaviour("1004", answer_after=1.0, talk_seconds=2.0)})
    call = pbx.place_call(CallerScript("5551234567"))
    run(clock, 6)
    names = log.names()
    for name in ("QueueCallerJoin", "AgentCalled", "AgentConnect", "QueueCallerLeave",
                 "AgentComplete"):
        assert name in names
    complete = log.named("AgentComplete")[0]
    assert (log.get(complete, "Queue"), log.get(complete, "Reason")) == ("support", "agent")
    assert call.ended.called and call.outcome == "answered" and call.agent == "1003"
    assert clock.getDelayedCalls() == []


def test_unreachable_cti_with_fallback_queue_still_queues_the_caller(clock):
    pbx = Pbx(clock, agi_connect=refusing, fallback_queue="sales", timings=Timings(),
              phones={"1001": PhoneBehaviour("1001", answer_after=0.5, talk_seconds=1.0)})
    log = EventLog()
    pbx.listeners.append(log)
    call = pbx.place_call(CallerScript("5551234567"))
    run(clock, 4)
    assert "QueueCallerJoin" in log.names() and call.outcome == "answered"
    statuses = [log.get(e, "Value") for e in log.named("VarSet") if log.get(e, "Variable") == "AGISTATUS"]
    assert statuses == ["FAILURE"]


def test_leastrecent_ring_timeout_autopauses_and_rings_the_next_member(clock):
    pbx = Pbx(clock, agi_connect=refusing, timings=Timings(), phones={
        "1003": PhoneBehaviour("1003", mode="noanswer"),
        "1004": PhoneBehaviour("1004", answer_after=1.0, talk_seconds=1.0)})
    log = EventLog()
    pbx.listeners.append(log)
    call = pbx.place_call(CallerScript("5551234567"), {"QUEUE": "support"},
                          context="inbound-noagi")
    run(clock, 10)
    noanswer = log.named("AgentRingNoAnswer")
    assert [log.get(e, "MemberName") for e in noanswer] == ["Agent 1003"]
    pause = log.named("QueueMemberPause")[0]
    assert (log.get(pause, "Paused"), log.get(pause, "PausedReason")) == ("1", "Auto-Pause")
    assert call.agent == "1004" and call.ended.called
    assert pbx.queues["support"].member("Local/1003@agents/n").paused


def test_queue_add_pause_and_remove_over_ami_change_the_member_list(clock):
    from twisted.internet.testing import StringTransport

    from callcenter.ami.codec import AMIConnection, Message
    from callcenter.simulator.ami import AMIServerFactory

    pbx, _ = make_pbx(clock, connect=refusing)
    proto = AMIServerFactory(pbx, "cti", "cti-secret").buildProtocol(None)
    transport = StringTransport()
    proto.makeConnection(transport)
    data = (b"Action: Login\r\nActionID: 1\r\nUsername: cti\r\nSecret: cti-secret\r\n\r\n"
            b"Action: QueueAdd\r\nActionID: 2\r\nQueue: backoffice\r\n"
            b"Interface: Local/1005@agents/n\r\nMemberName: Agent 1005\r\n\r\n"
            b"Action: QueuePause\r\nActionID: 3\r\nInterface: Local/1005@agents/n\r\n"
            b"Paused: true\r\nReason: lunch\r\n\r\n"
            b"Action: QueueRemove\r\nActionID: 4\r\nQueue: backoffice\r\n"
            b"Interface: Local/1005@agents/n\r\n\r\n"
            b"Action: QueueRemove\r\nActionID: 5\r\nQueue: backoffice\r\n"
            b"Interface: Local/1005@agents/n\r\n\r\n")
    for size in range(1, 40):
        transport.clear()
        for i in range(0, len(data), size):
            proto.dataReceived(data[i : i + size])
        msgs = [m for m in AMIConnection(expect_banner=False).receive_data(transport.value())
                if isinstance(m, Message)]
        replies = {m.action_id: m.get("Message") for m in msgs if m.kind == "response"}
        assert replies["2"] == "Added interface to queue"
        assert replies["3"] == "Interface paused successfully"
        assert replies["4"] == "Removed interface from queue"
        assert replies["5"] == "Unable to remove interface: Not there"
        assert [m.name for m in msgs if m.name.startswith("QueueMember")] == [
            "QueueMemberAdded", "QueueMemberPause", "QueueMemberRemoved"]
        assert pbx.queues["backoffice"].members == []
        proto.authenticated = False
