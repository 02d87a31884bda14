"""Every Asterisk 22 recording replayed against the simulator: per channel (and per
device, queue member, action), the same event names with the same header names.

Each scenario lists the differences that remain, with the reason. A listed difference
that no longer occurs fails the test too, so the list stays exact.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fidelity import DEVICE_REPEATS, NOT_EMULATED, Replay, first  # noqa: E402

from tests.conftest import transcript_names  # noqa: E402

# ------------------------------------------------------------------ reasons

RINGALL_RACE = (
    "ringall: both phones answer after AGENT_RINGSECS=1; the loser's handset reached "
    "Answer() (Newstate Up on ;2) before app_queue cancelled it. Which one wins, and "
    "whether the loser got that far, is thread timing in Asterisk; the simulator "
    "cancels the loser before it answers"
)
AVAIL_CACHE = (
    "Queue:<name>_avail is only sent when it changes, against a value app_queue keeps "
    "for the life of the process; the recordings ran one after the other in one "
    "Asterisk, so this scenario started with the value an earlier one left, while the "
    "simulator starts fresh (as a just-booted Asterisk, like 05 and 07)"
)
OTHER_SESSION = (
    "the recording's second SuccessfulAuth is the login of the 04b session, which ran "
    "on another connection during this call (04b is replayed separately below)"
)
AGENTCOMPLETE_SNAPSHOT = (
    "app_queue publishes AgentComplete after the caller's hangup; here the caller "
    "channel's snapshot was already gone, so Asterisk sent only the Dest* block (the "
    "same path in 05, 07 and 13 carried both blocks); the simulator always sends both"
)
DEVICE_ORDER = (
    "the device-state taskprocessor first computed NOT_INUSE while the new Local "
    "channel was still Down; ordering of device-state computations is thread timing"
)
DEVICE_STATE_LIST = (
    "DeviceStateList lists every device of every loaded module (Agent:*, custom and "
    "queue devices); not emulated, and the unknown action also raises RequestBadFormat"
)
LIST_COMMANDS = (
    "ListCommands prints the build's module action list; not emulated, and the unknown "
    "action also raises RequestBadFormat"
)

# scenario -> (ringall winner or None, {key regex: reason})
SCENARIOS: dict[str, tuple[str | None, dict[str, str]]] = {
    "01_ami_login_plain": (None, {}),
    "02_ami_login_md5": (None, {}),
    "03_ami_login_failed_wrong_secret": (None, {}),
    "03b_ami_login_failed_unknown_user": (None, {}),
    "03c_ami_login_md5_bad_key": (None, {}),
    "04_ami_queries_idle": (None, {
        r"(action|response) devicestatelist-21": DEVICE_STATE_LIST,
        r"response listcommands-28": LIST_COMMANDS,
        r"other RequestBadFormat": DEVICE_STATE_LIST + "; " + LIST_COMMANDS,
    }),
    "05_inbound_call_ivr_queue": ("1001", {
        r"Local/1002@agents#0;2": RINGALL_RACE,
        r"session": OTHER_SESSION,
    }),
    "06_queue_abandon": (None, {}),
    "07_queue_ringnoanswer_autopause": (None, {}),
    "08_queue_member_add_pause_remove": (None, {
        r"Local/1005@agents#0;1": AGENTCOMPLETE_SNAPSHOT,
        r"Local/s@inbound-noagi#0;2": AGENTCOMPLETE_SNAPSHOT,
    }),
    "10_blind_transfer_redirect": ("1002", {
        r"Local/1001@agents#0;2": RINGALL_RACE,
        r"device Queue:(sales|support)_avail": AVAIL_CACHE,
    }),
    "11_blind_transfer_action": ("1001", {
        r"Local/1002@agents#0;2": RINGALL_RACE,
        r"device Queue:(sales|support)_avail": AVAIL_CACHE,
    }),
    "13_hangup_action": ("1001", {
        r"Local/1002@agents#0;2": RINGALL_RACE,
        r"device Queue:sales_avail": AVAIL_CACHE,
        r"device Local/1001@agents": DEVICE_ORDER,
    }),
    "15_userevent": (None, {}),
    "16_agi_connection_dropped": ("1001", {
        r"Local/1002@agents#0;2": RINGALL_RACE,
        r"device Queue:sales_avail": AVAIL_CACHE,
    }),
    "16b_agi_server_unreachable": (None, {}),
    "17_agi_hangup_during_command": (None, {}),
    "19_agi_command_results": (None, {}),
    "21_originate_variants": (None, {
        r"device Queue:sales_avail": AVAIL_CACHE,
    }),
    "23_mixmonitor": ("1001", {
        r"Local/1002@agents#0;2": RINGALL_RACE,
        r"device Queue:sales_avail": AVAIL_CACHE,
    }),
}


def test_every_recording_has_a_scenario():
    names = set(transcript_names(".ami.jsonl")) - {"04b_ami_queries_during_call"}
    assert names == set(SCENARIOS)


def describe(diff: dict[str, tuple[list, list]]) -> str:
    out = []
    for key, (theirs, mine) in diff.items():
        out.append(f"{key}:\n  recorded:  {[x[0] for x in theirs]}\n  simulated: {[x[0] for x in mine]}")
    return "\n".join(out)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_events_match_the_recording_per_channel(transcripts, name):
    winner, known = SCENARIOS[name]
    replay = Replay(transcripts, name, winner)
    replay.run()
    diff = replay.compare(set(NOT_EMULATED))
    unexplained = {k: v for k, v in diff.items()
                   if not any(re.fullmatch(p, k) for p in known)}
    assert not unexplained, describe(unexplained)
    stale = [p for p in known if not any(re.fullmatch(p, k) for k in diff)]
    assert not stale, f"listed differences that no longer occur: {stale}"
    assert replay.clock.getDelayedCalls() == []
    assert replay.pbx.channels == {}


def test_reasons_are_written_down():
    for _, known in SCENARIOS.values():
        assert all(len(reason) > 40 for reason in known.values())
    assert all(len(reason) > 40 for reason in NOT_EMULATED.values())
    assert len(DEVICE_REPEATS) > 40


def test_queries_during_a_call_answer_like_04b(transcripts):
    """04b: a second session (Events: off) queries the bridged call of 05."""
    replay = Replay(transcripts, "05_inbound_call_ivr_queue", "1001")
    replay.play(7.3)
    other = Replay(transcripts, "04b_ami_queries_during_call")
    session = replay.open_session()
    bridge = next(c.bridge for c in replay.pbx.channels.values() if c.bridge is not None)
    recorded_bridge = first(next(f for f in other.recorded if first(f, "BridgeUniqueid")),
                            "BridgeUniqueid")
    for entry in other.entries:
        if entry.dir == "tx":
            data = replay.translate(entry.data).replace(recorded_bridge or "-", bridge.uniqueid)
            session.send(data)
    other.frames = session.frames
    other.sim_keys = replay.sim_keys
    other.rec_keys = replay.rec_keys
    diff = other.compare(set(NOT_EMULATED))
    known = {
        r"response command-13": "'core show channels verbose' is not emulated",
    }
    unexplained = {k: v for k, v in diff.items() if not any(re.fullmatch(p, k) for p in known)}
    assert not unexplained, describe(unexplained)
    assert all(any(re.fullmatch(p, k) for k in diff) for p in known)
    assert [m for m in session.frames if m[0][0] == "Event" and first(m, "ActionID") is None] == []
    replay.run()
    assert replay.pbx.channels == {} and replay.clock.getDelayedCalls() == []
