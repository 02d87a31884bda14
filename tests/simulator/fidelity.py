"""Replay a recorded Asterisk 22 AMI session against the simulated PBX and compare.

The recording's actions are sent at their recorded times (a ``task.Clock`` drives the
model), over the simulator's AMI protocol on a ``StringTransport``. Messages of both
sides are grouped per *key* (a channel, a device, a queue member, an action's replies)
and compared as sequences of ``(event name, header names)``; ids, times and values
aside. Channel names are keyed by device and order of appearance
(``Local/1002@agents#0;1``), so the ring order of a ringall queue does not matter.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sim_fakes import FakeAgiServer, connector_for, refusing
from twisted.internet import task
from twisted.internet.testing import StringTransport

from callcenter.ami.codec import AMIConnection, Message
from callcenter.simulator import Pbx, PhoneBehaviour, Timings
from callcenter.simulator.ami import AMIServerFactory

START = 1795409966.0
#: The lab's agent phones: ring for AGENT_RINGSECS=1, answer, stay until hung up.
LAB_PHONES = {ext: PhoneBehaviour(ext, answer_after=1.0, talk_seconds=None)
              for ext in ("1001", "1002", "1003", "1004", "1005")}
CHANNEL = re.compile(r"^(.*)-([0-9a-f]{8});([12])$")

#: Events the simulator does not emit at all, in every scenario.
NOT_EMULATED = {
    "CEL": "channel event logging (cel_manager); the CTI does not consume it",
    "Cdr": "call detail records (cdr_manager); the CTI keeps its own contact log",
    "Newexten": "one event per dialplan step; the simulator runs no real dialplan "
                "and the CTI does not follow dialplan steps",
}

#: Why a device's repeated notifications of the same state are folded into one.
DEVICE_REPEATS = (
    "Asterisk reports a Local device once per channel half and per state computation; "
    "how many identical DeviceStateChange repeats come out depends on the device-state "
    "taskprocessor's timing, so runs of one state are compared as one"
)

Frame = tuple[tuple[str, str], ...]


@dataclass
class Entry:
    t: float
    dir: str
    data: str


def load(transcripts: Path, name: str, kind: str = "ami") -> list[Entry]:
    path = transcripts / f"{name}.{kind}.jsonl"
    return [Entry(**json.loads(line)) for line in path.read_text().splitlines()]


def parse(data: str) -> Frame:
    pairs = []
    for line in data.split("\r\n"):
        if not line:
            continue
        key, sep, value = line.partition(":")
        pairs.append((key, value[1:] if value.startswith(" ") else value) if sep else (line, ""))
    return tuple(pairs)


def first(frame: Frame, key: str) -> str | None:
    for k, v in frame:
        if k == key:
            return v
    return None


@dataclass
class Keys:
    """Stable names for channels: ``<device>#<n>;<leg>``."""

    by_base: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    names: dict[str, str] = field(default_factory=dict)  # channel -> key

    def key(self, channel: str) -> str:
        if channel in self.names:
            return self.names[channel]
        m = CHANNEL.match(channel)
        if not m:
            return channel
        base, counter, leg = m.groups()
        seen = self.by_base[base]
        if counter not in seen:
            seen.append(counter)
        key = f"{base}#{seen.index(counter)};{leg}"
        self.names[channel] = key
        return key

    def channel(self, key: str) -> str | None:
        for name, k in self.names.items():
            if k == key:
                return name
        return None


def group(frames: list[Frame], keys: Keys, skip: set[str]) -> dict[str, list[tuple]]:
    """Per key, the ``(event, header names[, variable])`` sequence."""
    out: dict[str, list[tuple]] = defaultdict(list)
    for frame in frames:
        head, name = frame[0]
        if head == "Response":
            key = f"response {first(frame, 'ActionID')}"
            out[key].append((f"Response: {name}", tuple(k for k, _ in frame)))
            continue
        if head != "Event" or name in skip:
            continue
        names = tuple(k for k, _ in frame)
        item: tuple = (name, names)
        if name == "VarSet":
            item = (name, names, first(frame, "Variable"))
        elif name == "DeviceStateChange":
            item = (name, names, first(frame, "State"))
        action = first(frame, "ActionID")
        chan = first(frame, "Channel")
        if action is not None:
            key = f"action {action}"
        elif name == "VarSet" and chan == "none":
            key = "globals"
        elif chan:
            key = keys.key(chan)
        elif first(frame, "DestChannel"):
            key = keys.key(first(frame, "DestChannel") or "")
        elif first(frame, "LocalOneChannel"):
            key = keys.key(first(frame, "LocalOneChannel") or "")
        elif first(frame, "Device"):
            key = f"device {first(frame, 'Device')}"
        elif first(frame, "Interface"):
            key = f"member {first(frame, 'Queue')} {first(frame, 'Interface')}"
        elif name == "ExtensionStatus":
            key = f"hint {first(frame, 'Exten')}"
        elif name in ("FullyBooted", "SuccessfulAuth"):
            key = "session"
        elif name.startswith("Bridge"):
            key = "bridges"
        else:
            key = f"other {name}"
        if key.startswith("device ") and out[key] and out[key][-1] == item:
            continue  # repeated notifications of one state: see DEVICE_REPEATS
        out[key].append(item)
    return dict(out)


class AgiScript(FakeAgiServer):
    """The lab's FastAGI server, replaying the commands it sent in a recording."""

    def __init__(self, clock: task.Clock, entries: list[Entry]) -> None:
        commands = [e.data.rstrip("\n") for e in entries if e.dir == "tx"]
        self.reset = any(e.dir == "note" and "RST" in e.data for e in entries)
        self.clock = clock
        super().__init__(commands, close=not self.reset)

    def _next(self) -> None:
        if self.closed:
            return
        if self.commands:
            self.session.line_received(self.commands.pop(0))
            if not self.commands and self.reset:
                self.clock.callLater(0.2, self.loseConnection)
        elif self.close:
            self.loseConnection()


class Session:
    """Another AMI connection to the same simulated PBX."""

    def __init__(self, factory: AMIServerFactory) -> None:
        self.transport = StringTransport()
        self.proto = factory.buildProtocol(None)
        self.proto.makeConnection(self.transport)
        self.codec = AMIConnection(expect_banner=True)
        self.frames: list[Frame] = []

    def send(self, data: str) -> None:
        self.proto.dataReceived(data.encode())
        for item in self.codec.receive_data(self.transport.value()):
            if isinstance(item, Message):
                self.frames.append(item.headers)
        self.transport.clear()


class Replay:
    """One scenario played against the simulator."""

    def __init__(self, transcripts: Path, name: str, winner: str | None = None) -> None:
        self.name = name
        self.entries = load(transcripts, name)
        self.clock = task.Clock()
        self.clock.advance(START)
        agi = sorted(transcripts.glob(f"{name}.agi-c*.jsonl"))
        tx = "".join(e.data for e in self.entries if e.dir == "tx")
        servers = [AgiScript(self.clock, load(transcripts, p.name[: -len(".agi-c1.jsonl")],
                                               p.name[len(name) + 1 : -len(".jsonl")]))
                   for p in agi]
        connect = refusing if "4599" in tx or "unreachable" in name else connector_for(*servers)
        phones = dict(LAB_PHONES)
        if winner is not None:  # decide the ringall race the way the recording went
            phones[winner] = PhoneBehaviour(winner, answer_after=0.999, talk_seconds=None)
        self.pbx = Pbx(self.clock, agi_connect=connect, agi_script="ivr",
                       phones=phones, timings=Timings(agi_start=0.5), seed=1,
                       missing_sounds=frozenset({"no-such-file"}))
        self.factory = AMIServerFactory(self.pbx, "cti", "cti-secret")
        self.transport = StringTransport()
        self.proto = self.factory.buildProtocol(None)
        self.proto.makeConnection(self.transport)
        self.codec = AMIConnection(expect_banner=True)
        self.frames: list[Frame] = []
        self.sent = 0
        self.sim_keys = Keys()
        self.rec_keys = Keys()
        self.recorded: list[Frame] = [parse(e.data) for e in self.entries
                                      if e.dir == "rx" and ":" in e.data]
        for frame in self.recorded:  # learn the recorded channel keys in wire order
            for k, v in frame:
                if k in ("Channel", "DestChannel", "LocalOneChannel", "LocalTwoChannel"):
                    self.rec_keys.key(v)

    def open_session(self) -> Session:
        return Session(self.factory)

    def read(self) -> None:
        for item in self.codec.receive_data(self.transport.value()):
            if isinstance(item, Message):
                self.frames.append(item.headers)
                for k, v in item.headers:
                    if k in ("Channel", "DestChannel", "LocalOneChannel", "LocalTwoChannel"):
                        self.sim_keys.key(v)
        self.transport.clear()

    def advance_to(self, t: float) -> None:
        """Run the clock to ``t`` (seconds since connect), stopping at every timer."""
        target = START + t
        for _ in range(100_000):
            now = self.clock.seconds()
            due = min((c.getTime() for c in self.clock.getDelayedCalls()), default=target)
            step = max(0.0, min(due, target) - now)
            self.clock.advance(step)
            self.read()
            if due >= target:
                break
        self.clock.advance(max(0.0, target - self.clock.seconds()))
        self.read()

    def translate(self, data: str) -> str:
        challenge = [first(f, "Challenge") for f in self.frames if first(f, "Challenge")]
        if challenge and "Key: " in data and "cti" in data:  # answer our own challenge
            key = hashlib.md5((challenge[-1] + "cti-secret").encode()).hexdigest()
            if "Key: 0000" not in data:  # 03c sends a wrong key on purpose
                data = re.sub(r"Key: [0-9a-f]+", f"Key: {key}", data)

        def sub(m: re.Match) -> str:
            key = self.rec_keys.key(m.group(0))
            return self.sim_keys.channel(key) or m.group(0)

        return re.sub(r"Local/[^\s|;]+-[0-9a-f]{8};[12]", sub, data)

    def play(self, until: float) -> None:
        """Send the recorded actions up to ``until`` (seconds), at their times."""
        for entry in self.entries[self.sent:]:
            if entry.t > until:
                break
            self.sent += 1
            if entry.dir != "tx":
                continue
            self.advance_to(entry.t)
            self.proto.dataReceived(self.translate(entry.data).encode())
            self.read()
        self.advance_to(until)

    def run(self, tail: float = 2.0) -> None:
        self.play(max(e.t for e in self.entries) + tail)
        self.pbx.hangup_everything()

    def compare(self, skip: set[str]) -> dict[str, tuple[list, list]]:
        mine = group(self.frames, self.sim_keys, skip)
        theirs = group(self.recorded, self.rec_keys, skip)
        return {key: (theirs.get(key, []), mine.get(key, []))
                for key in sorted(set(mine) | set(theirs))
                if theirs.get(key, []) != mine.get(key, [])}
