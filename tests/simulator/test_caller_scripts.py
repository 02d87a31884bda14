"""Scripted callers on a task.Clock: hang-up points (a prompt, an IVR node, a time
after answer) and the IVR commands they meet (SAY, Background, VoiceMail), answered
the way Asterisk 22 answers (recordings 17 and 19: -1, then HANGUP)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from twisted.internet import task

sys.path.insert(0, str(Path(__file__).parent))

from sim_fakes import EventLog, FakeAgiServer, connector_for  # noqa: E402

from callcenter.simulator import CallerScript, Pbx, Timings  # noqa: E402

START = 1795409980.0


class OrderedServer(FakeAgiServer):
    """A fake FastAGI server that also keeps every line in the order it came."""

    def __init__(self, commands, **kw):
        super().__init__(commands, **kw)
        self.lines: list[str] = []

    def _line(self, line: str) -> None:
        if self.env_done:
            self.lines.append(line)
        super()._line(line)


@pytest.fixture
def clock():
    c = task.Clock()
    c.advance(START)
    return c


def place(clock, commands, seconds=8.0, **script):
    server = OrderedServer(commands)
    pbx = Pbx(clock, agi_connect=connector_for(server), phones={}, timings=Timings())
    log = EventLog()
    pbx.listeners.append(log)
    call = pbx.place_call(CallerScript("5551234567", **script))
    for _ in range(int(seconds / 0.05)):
        clock.advance(0.05)
    return server, call, log, pbx


def test_hangup_at_a_prompt_ends_it_with_minus_one_then_hangup(clock):
    server, call, _, _ = place(clock, ['STREAM FILE ivr/hello ""', 'STREAM FILE ivr/menu ""',
                                       "NOOP"], hangup_at="ivr/menu")
    assert server.lines[0] == "200 result=0 endpos=8000"
    assert server.lines[1].startswith("200 result=-1 endpos=")  # halfway through
    assert 0 < int(server.lines[1].rsplit("=", 1)[1]) < 8000
    assert server.lines[2] == "HANGUP"
    assert server.lines[3] == "200 result=0"  # NOOP still works on the dead channel
    assert call.outcome == "abandoned"


def test_hangup_at_a_node_marker_sends_hangup_before_the_reply(clock):
    server, call, _, _ = place(clock, ["SET VARIABLE IVR_NODE greet", 'STREAM FILE a ""',
                                       "SET VARIABLE IVR_NODE check", 'STREAM FILE b ""'],
                               hangup_at="node:check")
    assert server.lines == ["200 result=1", "200 result=0 endpos=8000", "HANGUP",
                            "200 result=1",
                            "511 Command Not Permitted on a dead channel or intercepted channel"]
    assert call.nodes == ["greet", "check"] and call.outcome == "abandoned"


def test_hangup_after_seconds_from_answer(clock):
    server, call, _, _ = place(clock, ["WAIT FOR DIGIT 10000", "NOOP"], hangup_after=2.0)
    assert server.lines == ["200 result=-1", "HANGUP", "200 result=0"]
    assert call.outcome == "abandoned"


def test_timed_out_and_invalid_input_are_scriptable(clock):
    server, _, _, _ = place(clock, ["GET DATA menu 1000 1", "GET DATA menu 1000 1",
                                    "GET DATA menu 1000 1"], digits={"menu": ["", "8", "1"]})
    assert server.lines == ["200 result= (timeout)", "200 result=8", "200 result=1"]


def test_say_digits_is_a_prompt_an_escape_digit_interrupts(clock):
    server, _, log, _ = place(clock, ['SAY DIGITS 4711 "12"', 'SAY NUMBER 42 ""'],
                              digits={"say/digits": "2"}, digit_delay=0.2)
    assert server.lines == ["200 result=50", "200 result=0"]
    ends = [(log.get(e, "Command"), log.get(e, "ResultCode")) for e in log.named("AGIExecEnd")]
    assert ends == [('SAY DIGITS 4711 "12"', "200"), ('SAY NUMBER 42 ""', "200")]


def test_hangup_during_say_gives_minus_one(clock):
    server, _, _, _ = place(clock, ['SAY DIGITS 4711 ""', "NOOP"], hangup_at="say/digits")
    assert server.lines == ["200 result=-1", "HANGUP", "200 result=0"]


def test_background_plays_until_a_key_or_the_end(clock):
    server, _, _, pbx = place(clock, ["EXEC Background ivr/a&ivr/b", "EXEC Background ivr/c",
                                      "GET VARIABLE BACKGROUNDSTATUS"],
                              digits={"ivr/b": "5"}, digit_delay=0.2)
    assert server.lines == ["200 result=0", "200 result=0", "200 result=1 (SUCCESS)"]


def test_hangup_during_background_gives_minus_one(clock):
    server, _, _, _ = place(clock, ["EXEC Background ivr/a", "NOOP"], hangup_at="ivr/a")
    assert server.lines == ["200 result=-1", "HANGUP", "200 result=0"]


def test_voicemail_caller_leaves_a_message_and_hangs_up(clock):
    server, call, log, _ = place(clock, ["EXEC VoiceMail 100@lab,u",
                                         "GET VARIABLE VMSTATUS"], message_seconds=2.0)
    assert server.lines == ["200 result=-1", "HANGUP", "200 result=1 (SUCCESS)"]
    assert call.plays == 1 and call.last_prompt == "vm-intro"
    assert call.outcome == "abandoned"
    ends = [(log.get(e, "ResultCode"), log.get(e, "Result")) for e in log.named("AGIExecEnd")]
    assert ends[0] == ("200", "Unknown Result")


def test_voicemail_option_s_skips_the_greeting(clock):
    _, call, _, _ = place(clock, ["EXEC VoiceMail 100@lab,s"], message_seconds=1.0)
    assert call.plays == 0 and call.outcome == "abandoned"
