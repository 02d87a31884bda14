"""``callcenter replay``: raw AMI captures in, one JSON line per call out.

The expected calls below were read off the ``.ami.jsonl`` timelines of the Asterisk 22
recordings (``t`` of the QueueCallerJoin, DialEnd ANSWER / AgentConnect, the answering
agent leg's BridgeLeave, the caller's hangup). The replay only has the raw bytes, so
its times come from what Asterisk writes in the stream and must agree within 1 s.
"""

from __future__ import annotations

import io
import json
import math
import random

import pytest

from callcenter.ami.codec import Message
from callcenter.calls import CallTracker
from callcenter.events import CallArrived
from callcenter.replay import StreamClock, main, replay
from tests.conftest import transcript_names
from tests.tracker.conftest import event, raw_recording, recorded_messages

LAB = ["-c", "inbound,inbound-noagi"]

# linkedid: (recording, caller_number, queue, agent_interface, outcome, wait_s,
#            talk_s, transferred)
EXPECTED = {
    "1795409980.0": ("05_inbound_call_ivr_queue", "5551234567", "sales",
                     "Local/1001@agents/n", "answered", 1.0, 11.26, False),
    "1795410001.6": ("06_queue_abandon", "5552220001", "backoffice", None, "abandoned",
                     7.5, None, False),
    "1795410012.8": ("07_queue_ringnoanswer_autopause", "5553330001", "support",
                     "Local/1004@agents/n", "answered", 7.0, 8.5, False),
    "1795410032.14": ("08_queue_member_add_pause_remove", "5554440001", "backoffice",
                      "Local/1005@agents/n", "answered", 1.0, 6.5, False),
    # Redirected away from 1002 after 2 s of talk, then answered by 1003.
    "1795410055.26": ("10_blind_transfer_redirect", "5555550010", "sales",
                      "Local/1002@agents/n", "answered", 1.0, 2.0, True),
    "1795410076.34": ("11_blind_transfer_action", "5555550011", "sales",
                      "Local/1001@agents/n", "answered", 1.0, 2.0, True),
    # Hangup action on a queued caller: an abandon.
    "1795410128.52": ("13_hangup_action", "5556660013", "backoffice", None, "abandoned",
                      2.0, None, False),
    "1795410132.54": ("13_hangup_action", "5556660014", "sales", "Local/1001@agents/n",
                      "answered", 1.0, 2.0, False),
    "1795410169.70": ("16_agi_connection_dropped", "5551234567", "sales",
                      "Local/1001@agents/n", "answered", 1.0, 12.3, False),
    "1795410186.76": ("16b_agi_server_unreachable", "5551234567", None, None,
                      "ivr_hangup", None, None, False),
    "1795410190.78": ("17_agi_hangup_during_command", "5551234567", None, None,
                      "ivr_hangup", None, None, False),
    # The FastAGI script set CALLERID to "Changed Name" <5550000>.
    "1795410209.82": ("19_agi_command_results", "5550000", None, None, "ivr_hangup",
                      None, None, False),
    "1795410270.98": ("23_mixmonitor", "5558880023", "sales", "Local/1001@agents/n",
                      "answered", 1.0, 8.5, False),
}


def expected_for(name: str) -> dict[str, tuple]:
    return {k: v for k, v in EXPECTED.items() if v[0] == name}


def run_main(argv: list[str], stdin: bytes | None = None) -> tuple[int, list[dict]]:
    out = io.StringIO()
    status = main(argv, stdin=io.BytesIO(stdin) if stdin is not None else None, stdout=out)
    return status, [json.loads(line) for line in out.getvalue().splitlines()]


def close(actual: float | None, expected: float | None, tolerance: float) -> bool:
    if expected is None or actual is None:
        return actual is expected
    return abs(actual - expected) <= tolerance


# ------------------------------------------------------------- every recording


@pytest.mark.parametrize("name", transcript_names(".ami.raw"))
def test_recording_replays_without_errors_into_the_expected_calls(name, transcripts):
    status, lines = run_main([*LAB, str(transcripts / f"{name}.ami.raw")])

    assert status == 0
    *calls, last = lines
    summary = last["summary"]
    assert summary["errors"] == [] and summary["error_count"] == 0
    assert summary["frames"] == summary["events"] + summary["responses"] + summary["other"]
    assert summary["calls"] == len(calls)
    assert summary["banner"] == "Asterisk Call Manager/11.0.0"
    expected = expected_for(name)
    assert [c["linkedid"] for c in calls] == list(expected)  # in order of arrival
    for call in calls:
        _, number, queue, agent, outcome, wait, talk, transferred = expected[call["linkedid"]]
        assert (call["caller_number"], call["queue"], call["agent_interface"],
                call["outcome"], call["transferred"]) == (
                    number, queue, agent, outcome, transferred), call
        assert close(call["wait_s"], wait, 1.0), (call["wait_s"], wait)
        assert close(call["talk_s"], talk, 1.0), (call["talk_s"], talk)


@pytest.mark.parametrize("name", sorted({v[0] for v in EXPECTED.values()}))
def test_tracker_on_recorded_times_gives_the_expected_figures_exactly(name, transcripts):
    tracker = CallTracker(inbound_contexts=("inbound", "inbound-noagi"), ended_grace=math.inf)
    arrived = []
    for now, msg in recorded_messages(name):
        arrived += [e.call_id for e in tracker.feed(msg, now) if isinstance(e, CallArrived)]

    for call_id, (_, number, queue, agent, outcome, wait, talk, moved) in expected_for(
            name).items():
        view = tracker.call(call_id)
        assert (view.caller_number, view.queue, view.agent_interface, view.outcome,
                view.transfers > 0) == (number, queue, agent, outcome, moved)
        assert close(view.wait_s, wait, 0.05) and close(view.talk_s, talk, 0.05)
    assert arrived == list(expected_for(name))


def test_every_expected_call_is_in_a_recording(transcripts):
    names = set(transcript_names(".ami.raw"))
    assert {v[0] for v in EXPECTED.values()} <= names


# ---------------------------------------------------------------- input forms


def test_stdin_and_a_capture_without_banner_give_the_same_calls(transcripts):
    data = raw_recording("13_hangup_action")
    _, from_file = run_main([*LAB, str(transcripts / "13_hangup_action.ami.raw")])
    _, from_stdin = run_main([*LAB, "-"], stdin=data)
    no_banner = data[data.index(b"\r\n") + 2 :]
    _, headless = run_main([*LAB, "-"], stdin=no_banner)

    assert from_stdin == from_file
    assert headless[:-1] == from_file[:-1]
    assert headless[-1]["summary"]["banner"] is None
    assert headless[-1]["summary"]["errors"] == []


def test_calls_do_not_depend_on_how_the_bytes_are_cut(transcripts):
    data = raw_recording("05_inbound_call_ivr_queue")
    whole, _ = replay([data], inbound_contexts=["inbound"])
    for size in (3, 17, 251, 4096):
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        assert replay(chunks, inbound_contexts=["inbound"])[0] == whole
    # Byte by byte (slow, so on the first frames only).
    part = data[: data.index(b"\r\n\r\n", 4000) + 4]
    assert replay([part[i : i + 1] for i in range(len(part))]) == replay([part])


def test_default_context_is_inbound_only(transcripts):
    _, lines = run_main([str(transcripts / "06_queue_abandon.ami.raw")])
    assert lines[-1]["summary"]["calls"] == 0  # 06 starts in inbound-noagi


def test_unreadable_file_is_a_clear_error(tmp_path, capsys):
    status = main([str(tmp_path / "missing.raw")], stdout=io.StringIO())
    assert status == 1
    assert "cannot read" in capsys.readouterr().err


def test_call_still_up_at_the_end_of_the_capture_is_in_progress(transcripts):
    data = raw_recording("05_inbound_call_ivr_queue")
    cut = data.index(b"Event: AgentComplete")
    records, summary = replay([data[:cut]])
    assert [r["outcome"] for r in records] == ["answered"]
    records, summary = replay([data[: data.index(b"Event: QueueCallerJoin")]])
    assert [r["outcome"] for r in records] == ["in_progress"]


# ----------------------------------------------------------------- bad bytes


def test_garbage_oversized_and_broken_frames_are_listed_and_the_calls_kept(transcripts):
    data = raw_recording("06_queue_abandon")
    cut = data.index(b"Event: QueueCallerJoin")
    bad = (b"no colon here\r\n\r\n" + b"Event: Big\r\nData: " + b"x" * 5000 + b"\r\n\r\n"
           + b"\xff\xfe\x00garbage\r\n\r\n")
    status, lines = run_main(
        [*LAB, "--max-frame-bytes", "4096", "-"], stdin=data[:cut] + bad + data[cut:])

    assert status == 0
    *calls, last = lines
    summary = last["summary"]
    reasons = [e["reason"] for e in summary["errors"]]
    assert reasons == ["frame has no header line", "frame longer than 4096 bytes dropped",
                       "frame has no header line"]
    assert summary["error_count"] == 3
    assert [c["outcome"] for c in calls] == ["abandoned"]


@pytest.mark.parametrize("seed", range(20))
def test_random_and_mutated_bytes_never_crash_the_replay(seed, transcripts):
    rng = random.Random(seed)
    data = bytearray(raw_recording("05_inbound_call_ivr_queue"))
    for _ in range(rng.randrange(1, 60)):
        i = rng.randrange(len(data))
        data[i : i + rng.randrange(0, 8)] = rng.randbytes(rng.randrange(0, 8))
    noise = rng.randbytes(rng.randrange(0, 3000))
    status, lines = run_main([*LAB, "-"], stdin=bytes(data) + noise)
    assert status == 0
    assert "summary" in lines[-1]


def test_error_list_is_bounded_but_counted():
    records, summary = replay([b"Asterisk Call Manager/11.0.0\r\n" + b"junk\r\n\r\n" * 500])
    assert summary["error_count"] == 500
    assert len(summary["errors"]) == 100


# --------------------------------------------------------------- the clock


def stamped(clock: StreamClock, *messages: Message) -> list[float]:
    out = []
    for m in messages:
        out += [t for t, _ in clock.push(m)]
    return out + [t for t, _ in clock.flush()]


def test_clock_uses_timestamp_headers_exactly():
    clock = StreamClock()
    times = stamped(clock, event("A", Timestamp="1795409966.516287"), event("B"),
                    event("C", Timestamp="1795409967.25"))
    assert times == [1795409966.516287, 1795409966.516287, 1795409967.25]


def test_clock_reads_security_event_times_and_newchannel_uniqueids():
    clock = StreamClock()
    times = stamped(clock,
                    event("SuccessfulAuth", EventTV="2026-11-23T04:59:40.033+0000"),
                    event("Newchannel", Uniqueid="1795409990.7"),
                    event("Newchannel", Uniqueid="host-1795409991.8"))
    assert times == [pytest.approx(1795409980.033), 1795409990.0, 1795409991.0]


def test_clock_sets_cel_local_time_against_the_uniqueid_of_chan_start():
    clock = StreamClock()  # the PBX runs one hour ahead of UTC
    times = stamped(
        clock,
        event("CEL", EventName="HANGUP", EventTime="2026-11-23 06:00:00", UniqueID="x"),
        event("CEL", EventName="CHAN_START", EventTime="2026-11-23 06:00:01",
              UniqueID="1795410001.6"),
        event("CEL", EventName="HANGUP", EventTime="2026-11-23 06:00:09",
              UniqueID="1795410001.6"))
    assert times == [1795410001.0, 1795410001.0, 1795410009.0]


def test_undated_event_takes_the_time_of_the_nearer_dated_message():
    clock = StreamClock()
    times = stamped(
        clock,
        event("Newchannel", Uniqueid="1000000000.1"),
        event("QueueCallerJoin"), event("VarSet"), event("VarSet"),
        event("Newexten"), event("Newexten"), event("BridgeLeave"),
        event("Newchannel", Uniqueid="1000000008.2"))
    assert times == [1e9, 1e9, 1e9, 1e9, 1e9, 1e9 + 8, 1e9 + 8, 1e9 + 8]


def test_clock_ignores_bad_or_implausible_stamps_and_bounds_waiting_messages():
    clock = StreamClock(max_pending=3)
    times = stamped(clock, event("A", Timestamp="nan"), event("B", Timestamp="12"),
                    event("C", EventTV="yesterday"),
                    event("Newchannel", Uniqueid="99999999999999.1"), event("D"))
    assert times == [0.0] * 5
    assert clock.now is None
