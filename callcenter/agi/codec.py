"""FastAGI wire format, server side, without I/O.

Asterisk opens the TCP connection and speaks first::

    agi_network: yes\\n                 environment: ``key: value`` lines ...
    agi_channel: Local/s@inbound-00000000;2\\n
    ...
    \\n                                 ... ended by an empty line
    <- ANSWER\\n                        one command from us
    200 result=0\\n                     one reply from Asterisk
    520-Invalid command syntax.  Proper usage follows:\\n
    <usage lines>\\n                    a multi-line reply ends with
    520 End of proper usage.\\n         "520 " (space, not dash)
    HANGUP\\n                           unsolicited, once, when the channel hangs up

Lines end in ``\\n``; a ``\\r`` before it is tolerated. ``AGIConnection.receive_data``
takes bytes and returns what they completed: the ``AGIEnvironment`` once, then
``AGIResult``/``HangupReceived`` in arrival order. Bad input never raises: it comes
back as a ``LineError`` and parsing carries on at the next line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import parse_qsl, urlsplit

from callcenter.agi.errors import LocalProtocolError

__all__ = [
    "MAX_COMMAND_BYTES",
    "AGIConnection",
    "AGIEnvironment",
    "AGIResult",
    "HangupReceived",
    "LineError",
    "LocalProtocolError",
    "Quoted",
    "encode_command",
]

#: Asterisk reads a command into a 2048-byte buffer (``AGI_BUF_LEN``).
MAX_COMMAND_BYTES = 2048


def _frozen(mapping: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


# --------------------------------------------------------------------- environment


@dataclass(frozen=True, slots=True)
class AGIEnvironment:
    """The ``agi_*`` block Asterisk sends when a FastAGI connection starts."""

    variables: Mapping[str, str]
    args: tuple[str, ...] = ()

    def get(self, name: str, default: str = "") -> str:
        """The value of ``agi_<name>`` (or of ``name`` itself if it has the prefix)."""
        key = name if name.startswith("agi_") else "agi_" + name
        return self.variables.get(key, default)

    @property
    def channel(self) -> str:
        return self.get("channel")

    @property
    def uniqueid(self) -> str:
        return self.get("uniqueid")

    @property
    def callerid(self) -> str:
        return self.get("callerid")

    @property
    def calleridname(self) -> str:
        return self.get("calleridname")

    @property
    def context(self) -> str:
        return self.get("context")

    @property
    def extension(self) -> str:
        return self.get("extension")

    @property
    def language(self) -> str:
        return self.get("language")

    @property
    def request(self) -> str:
        return self.get("request")

    @property
    def version(self) -> str:
        return self.get("version")

    @property
    def network_script(self) -> str:
        """The script part of the ``agi://`` URL as sent, with any ``?query``."""
        if "agi_network_script" in self.variables:
            return self.variables["agi_network_script"]
        parts = urlsplit(self.request)
        if parts.scheme not in ("agi", "hagi"):
            return ""
        return parts.path.lstrip("/") + ("?" + parts.query if parts.query else "")

    @property
    def script(self) -> str:
        """The script path without the query string and leading ``/`` (``inbound``)."""
        return self.network_script.partition("?")[0].lstrip("/")

    @property
    def query(self) -> dict[str, str]:
        """The query string of the script as a dict (last value wins)."""
        return dict(parse_qsl(self.network_script.partition("?")[2], keep_blank_values=True))

    @property
    def threadid(self) -> int | None:
        """Asterisk's thread id (it may be printed negative); None if absent or bad."""
        try:
            return int(self.get("threadid"))
        except ValueError:
            return None


# ------------------------------------------------------------------------- replies


@dataclass(frozen=True, slots=True)
class AGIResult:
    """One reply to one command (a multi-line ``520-`` usage block is one reply)."""

    code: int
    result: str | None = None
    data: str | None = None
    extras: Mapping[str, str] = field(default_factory=_frozen)
    text: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def timeout(self) -> bool:
        return self.data == "timeout"

    @property
    def int_result(self) -> int | None:
        if self.result is None:
            return None
        try:
            return int(self.result)
        except ValueError:
            return None


@dataclass(frozen=True)
class HangupReceived:
    """The unsolicited ``HANGUP`` line: the channel hung up."""


@dataclass(frozen=True)
class LineError:
    """A line Asterisk sent that we could not understand (its fault); skipped."""

    reason: str
    raw: bytes


AGIEvent = AGIEnvironment | AGIResult | HangupReceived | LineError

_CODE_LINE = re.compile(r"(?P<code>[1-9][0-9]{2})(?P<sep>[ -])(?P<rest>.*)\Z", re.S)
# ``result=X`` then an optional ``(data)`` (greedy: data may hold parentheses) then
# ``key=value`` extras such as ``endpos=8000``.
_RESULT_BODY = re.compile(
    r"result=(?P<result>\S*)(?: \((?P<data>.*)\))?(?P<extras>(?: [A-Za-z_][A-Za-z0-9_]*=\S*)*) *\Z",
    re.S,
)
_EXTRA = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\S*)")
_ARG = re.compile(r"agi_arg_([0-9]+)\Z")
_HANGUP = "HANGUP"


def parse_result_line(line: str) -> AGIResult | None:
    """Parse one single-line reply; None when it is not a reply at all."""
    m = _CODE_LINE.match(line)
    if m is None or m["sep"] != " ":
        return None
    code, rest = int(m["code"]), m["rest"]
    if code != 200:
        return AGIResult(code=code, text=line)
    body = _RESULT_BODY.match(rest)
    if body is None:
        # A 200 we cannot fully read still answers the command in flight.
        result = rest[len("result=") :].split(" ", 1)[0] if rest.startswith("result=") else None
        return AGIResult(code=200, result=result, text=line)
    extras = dict(_EXTRA.findall(body["extras"]))
    return AGIResult(
        code=200, result=body["result"], data=body["data"], extras=_frozen(extras), text=line
    )


# ---------------------------------------------------------------------- connection


class AGIConnection:
    """The reading side of one FastAGI connection, as the server sees it."""

    def __init__(self, *, max_line_bytes: int = 65536) -> None:
        self.max_line_bytes = max_line_bytes
        self._buffer = bytearray()
        self._discarding = False  # inside an overlong line, waiting for its newline
        self._env: dict[str, str] | None = {}  # None once the environment is complete
        self._usage: list[str] | None = None  # lines of a ``520-`` block in progress
        self._usage_bytes = 0
        self._eof = False

    @property
    def environment_received(self) -> bool:
        return self._env is None

    def receive_data(self, data: bytes) -> list[AGIEvent]:
        """Feed bytes from Asterisk; return the events they complete."""
        if self._eof:
            raise LocalProtocolError("data fed after receive_eof()")
        events: list[AGIEvent] = []
        self._buffer += data
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                if not self._discarding and len(self._buffer) > self.max_line_bytes:
                    events.append(
                        LineError(
                            f"line longer than {self.max_line_bytes} bytes; skipped",
                            bytes(self._buffer[:80]),
                        )
                    )
                    self._discarding = True
                if self._discarding:
                    self._buffer.clear()
                break
            raw = bytes(self._buffer[:newline])
            del self._buffer[: newline + 1]
            if self._discarding:
                self._discarding = False
                continue
            if len(raw) > self.max_line_bytes:
                events.append(
                    LineError(f"line longer than {self.max_line_bytes} bytes; skipped", raw[:80])
                )
                continue
            self._line(raw[:-1] if raw.endswith(b"\r") else raw, events)
        return events

    def receive_eof(self) -> list[AGIEvent]:
        """Asterisk closed the connection; report anything left unfinished."""
        if self._eof:
            return []
        self._eof = True
        events: list[AGIEvent] = []
        if self._buffer and not self._discarding:
            events.append(LineError("connection closed in the middle of a line", bytes(self._buffer)))
        elif self._usage is not None:
            events.append(
                LineError("connection closed inside a 520 usage block", "\n".join(self._usage).encode())
            )
        elif self._env:
            events.append(LineError("connection closed before the end of the environment", b""))
        self._buffer.clear()
        return events

    # ------------------------------------------------------------------ lines

    def _line(self, raw: bytes, events: list[AGIEvent]) -> None:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            line = raw.decode("latin-1")
        if self._env is not None:
            self._env_line(line, raw, events)
        elif self._usage is not None:
            self._usage_line(line, events)
        elif line == _HANGUP:
            events.append(HangupReceived())
        elif line == "":
            return  # Asterisk does not send blank lines here; harmless if it does
        elif line.startswith("520-"):
            self._usage = [line]
            self._usage_bytes = len(raw)
        else:
            result = parse_result_line(line)
            if result is None:
                events.append(LineError("not an AGI reply", raw))
            else:
                events.append(result)

    def _env_line(self, line: str, raw: bytes, events: list[AGIEvent]) -> None:
        assert self._env is not None
        if line == "":
            if not self._env:
                events.append(LineError("empty line before any agi_* variable; skipped", raw))
                return
            events.append(_environment(self._env))
            self._env = None
            return
        if line == _HANGUP:
            events.append(HangupReceived())
            return
        key, colon, value = line.partition(":")
        if not colon or not key or " " in key:
            events.append(LineError("environment line is not 'name: value'", raw))
            return
        self._env[key] = value[1:] if value.startswith(" ") else value

    def _usage_line(self, line: str, events: list[AGIEvent]) -> None:
        assert self._usage is not None
        m = _CODE_LINE.match(line)
        if m is not None and m["code"] == "520" and m["sep"] == " ":
            self._usage.append(line)
            text = "\n".join(self._usage)
            self._usage = None
            events.append(AGIResult(code=520, text=text))
            return
        # Keep the block bounded; the end line still closes it.
        self._usage_bytes += len(line) + 1
        if self._usage_bytes <= self.max_line_bytes:
            self._usage.append(line)


def _environment(variables: dict[str, str]) -> AGIEnvironment:
    numbered = sorted(
        (int(m.group(1)), value)
        for key, value in variables.items()
        if (m := _ARG.match(key)) is not None
    )
    return AGIEnvironment(
        variables=_frozen(variables), args=tuple(value for _, value in numbered)
    )


# -------------------------------------------------------------------------- commands


class Quoted(str):
    """An argument that is always sent in double quotes, e.g. ``Quoted("42")`` → ``"42"``."""

    __slots__ = ()


_NEEDS_QUOTES = re.compile(r'[\s"\\]')


def _quote(word: str) -> str:
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_command(*words: str | int) -> bytes:
    """One command line: the first word is the command (``"STREAM FILE"`` or ``"STREAM"``,
    ``"FILE"``); arguments that are empty or hold spaces, quotes or backslashes are
    sent quoted, as Asterisk's ``parse_args`` reads them. ``Quoted`` forces quotes.

    >>> encode_command("STREAM FILE", "silence/1", "")
    b'STREAM FILE silence/1 ""\\n'
    """
    if not words:
        raise LocalProtocolError("an AGI command needs at least a command name")
    parts: list[str] = []
    for index, word in enumerate(words):
        text = str(word)
        if "\n" in text or "\r" in text or "\0" in text:
            raise LocalProtocolError(f"AGI word {index} contains a line break or NUL")
        if index == 0:
            if not text.strip():
                raise LocalProtocolError("empty AGI command name")
            parts.append(text)
        elif isinstance(word, Quoted) or text == "" or _NEEDS_QUOTES.search(text):
            parts.append(_quote(text))
        else:
            parts.append(text)
    line = (" ".join(parts) + "\n").encode("utf-8")
    if len(line) > MAX_COMMAND_BYTES:
        raise LocalProtocolError(
            f"AGI command is {len(line)} bytes; Asterisk reads at most {MAX_COMMAND_BYTES}"
        )
    return line
