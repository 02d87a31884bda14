"""The FastAGI side of the simulated Asterisk: one ``AgiSession`` per inbound call.

The session sends the ``agi_*`` environment, then reads one command line at a time,
runs it on the trunk channel and answers exactly like Asterisk 22 (recordings 05, 17,
19). Lines end in ``\\n``. After the caller hangs up (or the channel is redirected) the
running command returns ``-1``, ``HANGUP`` is sent, and only commands Asterisk allows
on a dead channel still run; the others get ``511``.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.logger import Logger
from twisted.protocols.basic import LineOnlyReceiver

if TYPE_CHECKING:
    from callcenter.simulator.pbx import Channel, Pbx

log = Logger()

AGI_VERSION = "22.10.1"
SAMPLE_RATE = 8000
DEAD_TEXT = "Command Not Permitted on a dead channel or intercepted channel"
DIGITS = "0123456789*#ABCD"
VOICEMAIL_MAX = 60.0  # seconds: the longest message a simulated caller may leave

USAGE = {
    "WAIT FOR DIGIT": (
        "Waits up to <replaceable>timeout</replaceable> milliseconds for channel to receive "
        "a DTMF digit. Returns <literal>-1</literal> on channel failure, <literal>0</literal> "
        "if no digit is received in the timeout, or the numerical value of the ascii of the "
        "digit if one is received. Use <literal>-1</literal> for the <replaceable>timeout"
        "</replaceable> value if you desire the call to block indefinitely.\n"
    ),
    "STREAM FILE": (
        "Send the given file, allowing playback to be interrupted by the given digits, if "
        "any. Returns <literal>0</literal> if playback completes without a digit being "
        "pressed, or the ASCII numerical value of the digit if one was pressed, or "
        "<literal>-1</literal> on error or if the channel was disconnected. If musiconhold "
        "is playing before calling stream file it will be automatically stopped and will not "
        "be restarted after completion.\n"
        "It sets the following channel variables upon completion:\n"
        "<variable>PLAYBACKSTATUS</variable>: The status of the playback attempt as a text "
        "string.\n"
        "    <value>SUCCESS</value>\n"
        "    <value>FAILED</value>\n"
    ),
    "GET DATA": (
        "Stream the given <replaceable>file</replaceable>, and receive DTMF data.\n"
        "Returns the digits received from the channel at the other end.\n"
    ),
    "DATABASE PUT": (
        "Adds or updates an entry in the Asterisk database for a given <replaceable>family"
        "</replaceable>, <replaceable>key</replaceable>, and <replaceable>value</replaceable>.\n"
        "Returns <literal>1</literal> if successful, <literal>0</literal> otherwise.\n"
    ),
    "SET VARIABLE": "Sets a variable to the current channel.\n",
}


def split_args(line: str) -> list[str]:
    """Split an AGI command line like Asterisk: whitespace separates, double quotes
    group (and may start mid-word), backslash escapes the next character."""
    args: list[str] = []
    current: list[str] = []
    quoted = escaped = started = False
    for ch in line:
        if escaped:
            current.append(ch)
            escaped = False
            started = True
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
            started = True
        elif ch in " \t" and not quoted:
            if started:
                args.append("".join(current))
                current, started = [], False
        else:
            current.append(ch)
            started = True
    if started:
        args.append("".join(current))
    return args


@dataclass(frozen=True)
class Reply:
    """The reply line(s) and the AMI ``ResultCode``/``Result`` of one command."""

    text: str
    code: int = 200
    result: str = "Success"


def ok(text: str) -> Reply:
    return Reply(text + "\n")


# name words -> (method, allowed on a dead channel)
COMMANDS: dict[tuple[str, ...], tuple[str, bool]] = {
    ("ANSWER",): ("answer", False),
    ("ASYNCAGI", "BREAK"): ("noop", True),
    ("CHANNEL", "STATUS"): ("channel_status", False),
    ("CONTROL", "STREAM", "FILE"): ("control_stream_file", False),
    ("GET", "OPTION"): ("get_option", False),
    ("RECEIVE", "CHAR"): ("receive_char", False),
    ("RECORD", "FILE"): ("record_file", False),
    ("SAY", "ALPHA"): ("say", False),
    ("SAY", "DIGITS"): ("say", False),
    ("SAY", "NUMBER"): ("say", False),
    ("SEND", "TEXT"): ("noop", False),
    ("SET", "AUTOHANGUP"): ("noop", False),
    ("SET", "PRIORITY"): ("noop", False),
    ("SPEECH", "CREATE"): ("noop", False),
    ("DATABASE", "DEL"): ("database_del", True),
    ("DATABASE", "GET"): ("database_get", True),
    ("DATABASE", "PUT"): ("database_put", True),
    ("EXEC",): ("exec", True),
    ("GET", "DATA"): ("get_data", False),
    ("GET", "FULL", "VARIABLE"): ("get_full_variable", True),
    ("GET", "VARIABLE"): ("get_variable", True),
    ("HANGUP",): ("hangup", False),
    ("NOOP",): ("noop", True),
    ("SET", "CALLERID"): ("set_callerid", True),
    ("SET", "MUSIC"): ("set_music", False),
    ("SET", "VARIABLE"): ("set_variable", True),
    ("STREAM", "FILE"): ("stream_file", False),
    ("VERBOSE",): ("verbose", True),
    ("WAIT", "FOR", "DIGIT"): ("wait_for_digit", False),
}


class AgiSession:
    """One FastAGI conversation for the channel ``chan`` (sans sockets: ``transport``
    is anything with ``write(bytes)`` and ``loseConnection()``)."""

    def __init__(self, pbx: Pbx, chan: Channel, script: str, args: list[str]) -> None:
        self.pbx = pbx
        self.chan = chan
        self.script = script
        self.args = args
        self.done: defer.Deferred = defer.Deferred()  # fires with AGISTATUS
        self.transport: Any = None
        self.lines: deque[str] = deque()
        self.busy = False
        self.dead = False
        self.hangup_sent = False
        self.failed = False
        self.closed = False
        self.running: str = ""
        self._close_timer: Any = None

    # ------------------------------------------------------------- link events

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.pbx.agi_sessions.add(self)
        self.chan.on_interrupt.append(self._interrupted)
        self._write(self.environment())
        if self.chan.hangup_requested or self.chan.goto is not None:
            self._interrupted("hangup")

    def environment(self) -> str:
        c = self.chan
        host = f"{self.pbx.agi_host}:{self.pbx.agi_port}"
        lines = [
            ("agi_network", "yes"),
            ("agi_network_script", self.script),
            ("agi_request", f"agi://{host}/{self.script}"),
            ("agi_channel", c.name),
            ("agi_language", "en"),
            ("agi_type", "Local"),
            ("agi_uniqueid", c.uniqueid),
            ("agi_version", AGI_VERSION),
            ("agi_callerid", c.cid_num or "unknown"),
            ("agi_calleridname", c.cid_name or "unknown"),
            ("agi_callingpres", "0"),
            ("agi_callingani2", "0"),
            ("agi_callington", "0"),
            ("agi_callingtns", "0"),
            ("agi_dnid", "unknown"),
            ("agi_rdnis", "unknown"),
            ("agi_context", c.context),
            ("agi_extension", c.exten),
            ("agi_priority", str(c.priority)),
            ("agi_enhanced", "0.0"),
            ("agi_accountcode", ""),
            ("agi_threadid", str(self.pbx.rng.randrange(10**14, 10**15))),
        ]
        lines += [(f"agi_arg_{i}", a) for i, a in enumerate(self.args, 1)]
        return "".join(f"{k}: {v}\n" for k, v in lines) + "\n"

    def line_received(self, line: str) -> None:
        line = line.rstrip("\r")
        if not line.strip() or self.closed:
            return
        self._heard(line)
        self.lines.append(line)
        self._pump()

    def _heard(self, line: str) -> None:
        """Tell the scripted caller where the IVR is (``SET VARIABLE IVR_NODE x``):
        a caller who hangs up there does so before the command runs, so Asterisk's
        ``HANGUP`` line comes ahead of the reply."""
        call = self.chan.call
        if call is None or self.dead:
            return
        words = split_args(line)
        if [w.upper() for w in words[:2]] == ["SET", "VARIABLE"] and len(words) > 3 \
                and words[2] == "IVR_NODE":
            self.pbx.node_entered(call, words[3])

    def connection_lost(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.pbx.agi_sessions.discard(self)
        self.lines.clear()
        self.pbx.cancel(self._close_timer)
        if self._interrupted in self.chan.on_interrupt:
            self.chan.on_interrupt.remove(self._interrupted)
        if self.busy and not self.running.upper().startswith("EXEC DIAL"):
            # Asterisk aborts the command (playback, digit wait) when the link drops.
            for entry in list(self.chan.waits):
                entry.fire(("aborted", self.chan, ""))
        if not self.busy:
            self._finish()

    # ------------------------------------------------------------- internals

    def _write(self, text: str) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(text.encode("utf-8"))

    def _interrupted(self, reason: str) -> None:
        self.dead = True
        if not self.busy:
            self._send_hangup()

    def _send_hangup(self) -> None:
        if self.hangup_sent or self.closed:
            return
        self.hangup_sent = True
        self._write("HANGUP\n")
        self._close_timer = self.pbx.later(self.pbx.timings.dead_agi_close, self._close)

    def close(self) -> None:
        """Drop the FastAGI link (the server sees the connection close)."""
        self._close()

    def _close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.loseConnection()

    def _finish(self) -> None:
        if self.done.called:
            return
        if self._interrupted in self.chan.on_interrupt:
            self.chan.on_interrupt.remove(self._interrupted)
        if self.failed:
            status = "FAILURE"
        elif self.chan.hangup_requested or not self.chan.alive:
            status = "HANGUP"
        else:
            status = "SUCCESS"
        self.done.callback(status)

    def _pump(self) -> None:
        while self.lines and not self.busy and not self.closed:
            line = self.lines.popleft()
            self.busy = True
            self.running = line
            d = defer.Deferred.fromCoroutine(self._execute(line))
            d.addErrback(self._crashed, line)
            d.addCallback(self._executed)

    def _crashed(self, failure: Any, line: str) -> Reply:
        log.failure("AGI command {line!r} failed inside the simulator", failure, line=line)
        return Reply("200 result=-1\n", -1, "Failure")

    def _executed(self, reply: Reply) -> None:
        self._write(reply.text)
        self.busy = False
        self.running = ""
        if self.chan.hangup_requested or not self.chan.alive or self.chan.goto is not None:
            self.dead = True
        if self.dead:
            self._send_hangup()
        if self.closed:
            self._finish()
        else:
            self._pump()

    async def _execute(self, line: str) -> Reply:
        words = split_args(line)
        upper = [w.upper() for w in words]
        pbx, chan = self.pbx, self.chan
        command_id = str(pbx.rng.randrange(1, 2**31))
        pbx.emit_chan("AGIExecStart", chan, CommandId=command_id, Command=line)
        entry = None
        for size in (3, 2, 1):
            key = tuple(upper[:size])
            if key in COMMANDS:
                entry = (key, COMMANDS[key])
                break
        if entry is None:
            reply = Reply("510 Invalid or unknown command\n", 510, "Invalid or unknown command")
        else:
            key, (method, dead_ok) = entry
            if self.dead and not dead_ok:
                reply = Reply(f"511 {DEAD_TEXT}\n", 511, DEAD_TEXT)
            else:
                reply = await getattr(self, "cmd_" + method)(words[len(key) :], line)
                if isinstance(reply, str):
                    reply = Reply(usage_reply(reply), 520, "Usage")
        if reply.code == -1 and chan.alive and not chan.hangup_requested and chan.goto is None:
            self.failed = True
        pbx.emit_chan(
            "AGIExecEnd", chan, CommandId=command_id, Command=line,
            ResultCode=str(reply.code), Result=reply.result,
        )
        return reply

    # ------------------------------------------------------------- commands

    async def cmd_answer(self, args: list[str], line: str) -> Reply:
        if self.chan.state != 6:
            self.pbx.new_state(self.chan, 6)
        return ok("200 result=0")

    async def cmd_noop(self, args: list[str], line: str) -> Reply:
        return ok("200 result=0")

    async def cmd_verbose(self, args: list[str], line: str) -> Reply:
        return ok("200 result=1")

    async def cmd_channel_status(self, args: list[str], line: str) -> Reply:
        return ok(f"200 result={self.chan.state}")

    async def cmd_get_variable(self, args: list[str], line: str) -> Reply | str:
        if not args:
            return "GET VARIABLE"
        value = self.pbx.get_var(self.chan, args[0])
        return ok("200 result=0" if value is None else f"200 result=1 ({value})")

    async def cmd_get_full_variable(self, args: list[str], line: str) -> Reply | str:
        if not args:
            return "GET FULL VARIABLE"
        text = re.sub(
            r"\$\{([^}]*\)?)\}",
            lambda m: self.pbx.get_var(self.chan, m.group(1)) or "",
            args[0],
        )
        return ok(f"200 result=1 ({text})")

    async def cmd_set_variable(self, args: list[str], line: str) -> Reply | str:
        if len(args) < 2:
            return "SET VARIABLE"
        self.pbx.set_var(self.chan, args[0], args[1])
        return ok("200 result=1")

    async def cmd_set_callerid(self, args: list[str], line: str) -> Reply:
        if args:
            m = re.fullmatch(r'\s*"?([^"<]*?)"?\s*<([^>]*)>\s*', args[0])
            num, name = (m.group(2), m.group(1).strip()) if m else (args[0], self.chan.cid_name)
            self.pbx.set_callerid(self.chan, num, name)
        return ok("200 result=1")

    async def cmd_database_get(self, args: list[str], line: str) -> Reply | str:
        if len(args) < 2:
            return "DATABASE GET"
        value = self.pbx.database.get((args[0], args[1]))
        return ok("200 result=0" if value is None else f"200 result=1 ({value})")

    async def cmd_database_put(self, args: list[str], line: str) -> Reply | str:
        if len(args) < 3:
            return "DATABASE PUT"
        self.pbx.database[(args[0], args[1])] = args[2]
        return ok("200 result=1")

    async def cmd_database_del(self, args: list[str], line: str) -> Reply | str:
        if len(args) < 2:
            return "DATABASE DEL"
        found = self.pbx.database.pop((args[0], args[1]), None) is not None
        return ok(f"200 result={1 if found else 0}")

    async def cmd_set_music(self, args: list[str], line: str) -> Reply:
        if args and args[0].lower() == "on":
            self.pbx.moh_start(self.chan, args[1] if len(args) > 1 else "default")
        elif args and args[0].lower() == "off":
            self.pbx.moh_stop(self.chan)
        return ok("200 result=0")

    async def cmd_hangup(self, args: list[str], line: str) -> Reply:
        chan = self.chan
        self.pbx.emit_chan("SoftHangupRequest", chan, Cause="32")
        chan.hangup_requested = True
        chan.cause = 0
        self.dead = True
        return ok("200 result=1")

    async def _play(self, prompt: str, escape: str | None) -> tuple[str, str, float]:
        """Play ``prompt``; returns (reason, digit, seconds played)."""
        pbx = self.pbx
        pbx.moh_stop(self.chan)
        call = self.chan.call
        if call is not None:
            pbx.prompt_played(call, prompt)
            if escape:
                pbx.digits_wanted(self.chan)
        start = pbx.now()
        reason, _, digit = await pbx.wait(self.chan, pbx.timings.prompt, escape or None)
        return reason, digit, pbx.now() - start

    async def cmd_control_stream_file(self, args: list[str], line: str) -> Reply | str:
        if not args:
            return "CONTROL STREAM FILE"
        if args[0] in self.pbx.missing_sounds:
            self.pbx.set_var(self.chan, "CPLAYBACKSTATUS", "ERROR")
            return ok("200 result=-1")
        reason, digit, _ = await self._play(args[0], args[1] if len(args) > 1 else "")
        if reason in ("hangup", "redirect", "aborted"):
            return Reply("200 result=-1\n", -1, "Failure")
        self.pbx.set_var(self.chan, "CPLAYBACKSTATUS", "USERSTOPPED" if digit else "SUCCESS")
        self.pbx.set_var(self.chan, "CPLAYBACKOFFSET", "-1")
        return ok(f"200 result={ord(digit) if digit else 0} endpos=-1")

    async def cmd_get_option(self, args: list[str], line: str) -> Reply | str:
        if not args:
            return "GET OPTION"
        if args[0] in self.pbx.missing_sounds:
            return ok("200 result=-1 endpos=0")
        escape = args[1] if len(args) > 1 else ""
        reason, digit, played = await self._play(args[0], escape)
        if reason == "timeout" and escape and len(args) > 2 and args[2].isdigit():
            reason, _, digit = await self.pbx.wait(self.chan, int(args[2]) / 1000, escape)
        if reason in ("hangup", "redirect", "aborted"):
            return Reply("200 result=-1 endpos=0\n", -1, "Failure")
        endpos = int(round(min(played, self.pbx.timings.prompt) * SAMPLE_RATE))
        return ok(f"200 result={ord(digit) if reason == 'digit' else 0} endpos={endpos}")

    async def cmd_say(self, args: list[str], line: str) -> Reply | str:
        verb = " ".join(split_args(line)[:2]).upper()
        if not args:
            return verb
        # Asterisk says one sound per character (digits/4, digits/2): a quarter second
        # each here. Escape digits stop it; the result is the key's ASCII code.
        escape = args[1] if len(args) > 1 else ""
        pbx, call = self.pbx, self.chan.call
        pbx.moh_stop(self.chan)
        if call is not None:
            pbx.prompt_played(call, "say/" + verb.split()[-1].lower())
            if escape:
                pbx.digits_wanted(self.chan)
        reason, _, digit = await pbx.wait(self.chan, 0.25 * len(args[0]), escape or None)
        if reason == "digit":
            return ok(f"200 result={ord(digit)}")
        if reason != "timeout":
            return Reply("200 result=-1\n", -1, "Failure")
        return ok("200 result=0")

    async def cmd_receive_char(self, args: list[str], line: str) -> Reply:
        return Reply("200 result=-1 (hangup)\n", -1, "Failure")

    async def cmd_record_file(self, args: list[str], line: str) -> Reply | str:
        if len(args) < 4:
            return "RECORD FILE"
        ms = int(args[3]) if args[3].lstrip("-").isdigit() else 0
        reason, _, _ = await self.pbx.wait(self.chan, max(ms, 0) / 1000)
        if reason != "timeout":
            return Reply("200 result=-1 (hangup) endpos=0\n", -1, "Failure")
        return ok("200 result=0 (timeout) endpos=0")

    async def cmd_stream_file(self, args: list[str], line: str) -> Reply | str:
        if not args:
            return "STREAM FILE"
        if args[0] in self.pbx.missing_sounds:
            return ok("200 result=-1 endpos=0")
        escape = args[1] if len(args) > 1 else ""
        reason, digit, played = await self._play(args[0], escape)
        if reason == "timeout":
            played = self.pbx.timings.prompt
        endpos = int(round(played * SAMPLE_RATE))
        if reason == "timeout":
            self.pbx.set_var(self.chan, "PLAYBACKSTATUS", "SUCCESS")
            return ok(f"200 result=0 endpos={endpos}")
        if reason == "digit":
            return ok(f"200 result={ord(digit)} endpos={endpos}")
        return Reply(f"200 result=-1 endpos={endpos}\n", -1, "Failure")

    async def cmd_get_data(self, args: list[str], line: str) -> Reply | str:
        if not args:
            return "GET DATA"
        timeout = 2.0
        if len(args) > 1 and args[1].lstrip("-").isdigit() and int(args[1]) != 0:
            timeout = int(args[1]) / 1000 if int(args[1]) > 0 else 10**9
        maxdigits = int(args[2]) if len(args) > 2 and args[2].isdigit() else 1024
        if args[0] in self.pbx.missing_sounds:
            return ok("200 result=-1")
        reason, digit, _ = await self._play(args[0], DIGITS)
        collected = ""
        reading = False  # False while the prompt plays
        while True:
            if reason in ("hangup", "redirect", "aborted"):
                return ok("200 result=-1")
            if reason == "digit":
                if digit == "#":
                    return ok(f"200 result={collected}")
                collected += digit
                if len(collected) >= maxdigits:
                    return ok(f"200 result={collected}")
            elif reading:
                return ok(f"200 result={collected} (timeout)")
            reading = True
            reason, _, digit = await self.pbx.wait(self.chan, timeout, DIGITS)

    async def cmd_wait_for_digit(self, args: list[str], line: str) -> Reply | str:
        if not args or not args[0].lstrip("-").isdigit():
            return "WAIT FOR DIGIT"
        ms = int(args[0])
        self.pbx.digits_wanted(self.chan)
        reason, _, digit = await self.pbx.wait(self.chan, None if ms < 0 else ms / 1000, DIGITS)
        if reason == "digit":
            return ok(f"200 result={ord(digit)}")
        if reason == "timeout":
            return ok("200 result=0")
        return Reply("200 result=-1\n", -1, "Failure")

    async def cmd_exec(self, args: list[str], line: str) -> Reply | str:
        if not args:
            return "EXEC"
        app = args[0].lower()
        data = " ".join(args[1:])
        params = [p.strip() for p in re.split(r"[,|]", data)] if data else []
        pbx, chan = self.pbx, self.chan
        if self.dead:
            return Reply("200 result=-1\n", 200, "Unknown Result")
        saved = chan.app, chan.app_data
        chan.app, chan.app_data = args[0], data
        try:
            if app == "dial":
                if not params or not params[0]:
                    return Reply("200 result=-1\n", 200, "Unknown Result")
                timeout = float(params[1]) if len(params) > 1 and params[1] else None
                _, ended_by = await pbx.dial(chan, params[0], timeout)
                gone = ended_by == "caller" or chan.hangup_requested or chan.goto is not None
                return Reply("200 result=-1\n", 200, "Unknown Result") if gone else ok(
                    "200 result=0"
                )
            if app == "bridge":
                if not params or not params[0]:
                    return Reply("200 result=-1\n", 200, "Unknown Result")
                await pbx.bridge_app(chan, params[0])
                gone = chan.hangup_requested or not chan.alive or chan.goto is not None
                return Reply("200 result=-1\n", 200, "Unknown Result") if gone else ok(
                    "200 result=0")
            if app in ("musiconhold", "wait", "playback"):
                if app == "musiconhold":
                    pbx.moh_start(chan, params[0] if params and params[0] else "default")
                    secs = float(params[1]) if len(params) > 1 and params[1] else None
                elif app == "wait":
                    secs = float(params[0]) if params and params[0] else 0.0
                else:
                    pbx.moh_stop(chan)
                    if chan.call is not None:
                        pbx.prompt_played(chan.call, params[0] if params else "")
                    secs = pbx.timings.prompt
                reason, _, _ = await pbx.wait(chan, secs)
                if app == "musiconhold":
                    pbx.moh_stop(chan)
                if reason != "timeout":
                    return Reply("200 result=-1\n", 200, "Unknown Result")
                if app == "playback":
                    pbx.set_var(chan, "PLAYBACKSTATUS", "SUCCESS")
                return ok("200 result=0")
            if app == "background":
                return await self._background(params)
            if app == "voicemail":
                return await self._voicemail(params)
            if app in ("noop", "verbose", "log", "ringing", "progress"):
                return ok("200 result=0")
            if app == "set" and params and "=" in data:
                name, _, value = data.partition("=")
                pbx.set_var(chan, name.strip(), value)
                return ok("200 result=0")
            return Reply("200 result=-2\n", 200, "Unknown Result")
        finally:
            chan.app, chan.app_data = saved

    async def _background(self, params: list[str]) -> Reply:
        """``Background(file[&file2...])``: play while listening for any key; a key
        ends it (0), so does the end of the files (0); a hang-up gives -1."""
        pbx, chan = self.pbx, self.chan
        for name in (params[0] if params else "").split("&"):
            if not name:
                continue
            reason, _, _ = await self._play(name, DIGITS)
            if reason == "digit":
                break
            if reason != "timeout":
                return Reply("200 result=-1\n", 200, "Unknown Result")
        pbx.set_var(chan, "BACKGROUNDSTATUS", "SUCCESS")
        return ok("200 result=0")

    async def _voicemail(self, params: list[str]) -> Reply:
        """``VoiceMail(box@context,options)``: the greeting (``vm-intro``, skipped with
        option ``s``), then the caller's message, which ends when they hang up (-1, as
        Asterisk's VoiceMail returns on hang-up) or after ``voicemail_max`` (0)."""
        pbx, chan = self.pbx, self.chan
        if not params or not params[0]:
            pbx.set_var(chan, "VMSTATUS", "FAILED")
            return ok("200 result=0")
        options = params[1] if len(params) > 1 else ""
        if "s" not in options:
            reason, _, _ = await self._play("vm-intro", None)
            if reason != "timeout":
                return Reply("200 result=-1\n", 200, "Unknown Result")
        if chan.call is not None:
            pbx.message_started(chan.call)
        reason, _, _ = await pbx.wait(chan, VOICEMAIL_MAX)
        pbx.set_var(chan, "VMSTATUS", "SUCCESS")
        if reason != "timeout":
            return Reply("200 result=-1\n", 200, "Unknown Result")
        return ok("200 result=0")


def usage_reply(name: str) -> str:
    text = USAGE.get(name, "")
    return f"520-Invalid command syntax.  Proper usage follows:\n{text}520 End of proper usage.\n"


# --------------------------------------------------------------------------- Twisted


class FastAGIClientProtocol(LineOnlyReceiver):
    """Carries one ``AgiSession`` over TCP to the CTI's FastAGI server."""

    delimiter = b"\n"
    MAX_LENGTH = 65536

    def __init__(self, session: AgiSession) -> None:
        self.session = session

    def connectionMade(self) -> None:
        self.session.connection_made(self.transport)

    def lineReceived(self, line: bytes) -> None:
        self.session.line_received(line.decode("utf-8", "replace"))

    def lineLengthExceeded(self, line: bytes) -> None:
        log.warn("FastAGI server sent an over-long line ({n} bytes); ignored", n=len(line))

    def connectionLost(self, reason: Any = None) -> None:
        self.session.connection_lost()


def tcp_connector(reactor: Any, timeout: float = 5.0):
    """An ``agi_connect`` function that reaches the FastAGI server over TCP."""

    def connect(host: str, port: int, session: AgiSession) -> defer.Deferred:
        endpoint = TCP4ClientEndpoint(reactor, host, port, timeout=timeout)
        return connectProtocol(endpoint, FastAGIClientProtocol(session))

    return connect
