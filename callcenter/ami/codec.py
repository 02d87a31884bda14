"""AMI wire format: frames in, messages out; actions in, bytes out. No I/O.

Rules of the parser (``AMIConnection``), checked against real Asterisk 22 recordings:

* The stream opens with a banner line, ``Asterisk Call Manager/11.0.0\\r\\n`` (the AMI
  version, not Asterisk's), sometimes followed by a blank line.
* A frame is header lines ``Key: value`` ended by a blank line (``\\r\\n\\r\\n``). Bare
  ``\\n`` line ends are accepted too. Stray blank lines between frames are skipped
  (``QueueRule`` sends one).
* A header line is split at its first ``": "`` (or its first ``":"`` when there is no
  ``": "``). Values may hold colons and keep their spaces (``Output:    Members: ``).
  Repeated headers (``Output``, ``Variable``) are all kept, in wire order.
* Bytes are decoded as UTF-8 with replacement characters: a bad byte never loses a frame.
* A line without a colon is ignored; a frame with no header at all is a ``FrameError``.
* Old ``Response: Follows`` command output (Asterisk 13 and older): the body lines up
  to ``--END COMMAND--`` become ``Output`` headers.
* A frame longer than ``max_frame_bytes`` is dropped as a ``FrameError`` whether or not
  its end has arrived; the parser then skips to the frame's end (memory stays bounded).
* Values are kept as sent. Asterisk C-escapes caller-id values (``O\\'Neil``);
  ``c_unescape`` undoes that for whoever displays them.

Errors are never raised for bad input: they come out in the stream as ``FrameError``.
Complete frames of a socket read are parsed together (one decode, one split; see
``_parse_region``): this is the hot path of the whole server.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from callcenter.ami.errors import LocalProtocolError

__all__ = [
    "AMIConnection",
    "Banner",
    "FrameError",
    "Message",
    "c_unescape",
    "encode_action",
    "encode_message",
]

_KINDS = {"event": "event", "response": "response", "action": "action"}
_MISSING = object()

# A blank line: a line feed, an optional carriage return, a line feed.
_BLANK = re.compile(rb"\n\r?\n")
_CRLF2 = b"\r\n\r\n"
_FOLLOWS = b"Response: Follows"
_FOLLOWS_TEXT = "Response: Follows"
_END_COMMAND = b"--END COMMAND--"
_FOLLOWS_HEADERS = frozenset({"response", "privilege", "actionid"})
# An old command reply may exceed max_frame_bytes by its closing line.
_FOLLOWS_SLACK = len(_END_COMMAND) + 4
# How much of a rejected frame a FrameError keeps.
_RAW_KEEP = 256


@dataclass(frozen=True, slots=True)
class Banner:
    """The greeting line of an AMI server, e.g. ``Asterisk Call Manager/11.0.0``."""

    version: str
    raw: str


class Message:
    """One AMI frame: an Event, a Response, or (server side) an Action.

    Immutable and hashable. Header names and values are kept as two private columns
    in wire order (repeats included); ``headers`` gives the pairs. Lookups are
    case-insensitive, exact case first; the lower-case names are computed once, on
    the first lookup that needs them.
    """

    __slots__ = ("_keys", "_values", "_lower")

    def __init__(self, headers: Iterable[tuple[str, str]]) -> None:
        pairs = tuple(headers)
        _set_keys(self, tuple([k for k, _ in pairs]))
        _set_values(self, tuple([v for _, v in pairs]))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Message is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Message is immutable: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not Message:
            return NotImplemented
        return self._keys == other._keys and self._values == other._values  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((self._keys, self._values))

    def __repr__(self) -> str:
        return f"Message(headers={self.headers!r})"

    def __reduce__(self) -> tuple:
        return (Message, (self.headers,))

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """The ``(name, value)`` pairs, in wire order."""
        return tuple(zip(self._keys, self._values, strict=True))

    @property
    def kind(self) -> str:
        """``event``, ``response``, ``action`` or ``unknown``, from the first header."""
        keys = self._keys
        if not keys:
            return "unknown"
        kind = _KINDS.get(keys[0])
        return kind if kind is not None else _KINDS.get(keys[0].lower(), "unknown")

    @property
    def name(self) -> str:
        """Value of the first header: event name, response status or action name."""
        values = self._values
        return values[0] if values else ""

    def _lowered(self) -> tuple[str, ...]:
        try:
            return self._lower
        except AttributeError:
            pass
        keys = self._keys
        lower = tuple("\x00".join(keys).lower().split("\x00")) if keys else ()
        if len(lower) != len(keys):  # a name holding NUL: one by one
            lower = tuple([k.lower() for k in keys])
        _set_lower(self, lower)
        return lower

    def get(self, key: str, default: str | None = None) -> str | None:
        """First value of ``key`` (case-insensitive), or ``default``."""
        try:
            return self._values[self._keys.index(key)]
        except ValueError:
            pass
        if type(key) is not str:
            return default
        lower = self._lowered()
        lkey = key.lower()
        if lkey in lower:
            return self._values[lower.index(lkey)]
        return default

    def get_all(self, key: str) -> list[str]:
        """Every value of ``key`` (case-insensitive), in wire order."""
        lkey = key.lower()
        return [v for k, v in zip(self._lowered(), self._values, strict=True) if k == lkey]

    def __getitem__(self, key: str) -> str:
        value = self.get(key, _MISSING)  # type: ignore[arg-type]
        if value is _MISSING:
            raise KeyError(key)
        return value  # type: ignore[return-value]

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        return self.get(key, _MISSING) is not _MISSING  # type: ignore[arg-type]

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    @property
    def output(self) -> str:
        """The ``Output`` headers of a ``Command`` reply, joined as lines."""
        return "\n".join(self.get_all("Output"))

    def as_dict(self) -> dict[str, str]:
        """First value per header name, names in their original case."""
        result: dict[str, str] = {}
        seen: set[str] = set()
        for k, lk, v in zip(self._keys, self._lowered(), self._values, strict=True):
            if lk not in seen:
                seen.add(lk)
                result[k] = v
        return result


_new_message = object.__new__
_set_keys = Message._keys.__set__  # type: ignore[attr-defined]
_set_values = Message._values.__set__  # type: ignore[attr-defined]
_set_lower = Message._lower.__set__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class FrameError:
    """A frame that could not be parsed. Returned in the stream, never raised."""

    reason: str
    raw: bytes


Item = Banner | Message | FrameError


def _split_header(line: str) -> tuple[str, str, str]:
    """Split a header line at its first ``": "``, or at its first ``":"``."""
    key, sep, value = line.partition(": ")
    if not sep:
        key, sep, value = line.partition(":")
    return key, sep, value


def _parse_lines(lines: Iterable[str]) -> list[tuple[str, str]]:
    """Header pairs of ``lines``; lines without a colon are left out."""
    headers = []
    for line in lines:
        key, sep, value = _split_header(line)
        if sep:
            headers.append((key, value))
    return headers


def _parse_headers(text: str) -> list[tuple[str, str]]:
    """Header pairs of a frame whose lines end in ``\r\n``."""
    return _parse_lines(text.split("\r\n"))


def _split_lines(raw: bytes | bytearray) -> list[str]:
    """Lines of ``raw`` with ``\r\n`` or bare ``\n`` ends, decoded."""
    text = raw.decode("utf-8", "replace").replace("\r\n", "\n")
    return text.split("\n")


def _parse_region(text: str) -> list[Message] | None:
    """Messages of ``text``: whole frames, each ending in ``\r\n\r\n``.

    The fast path for what Asterisk sends. Each line end becomes a ``": \r: "`` marker
    so that one ``split(": ")`` per frame yields name, value, marker, name, value, ...;
    the frame is read that way when every third piece is a marker and there are as
    many markers as line ends (each line holds exactly one ``": "``), else line by
    line. Returns None when the text needs the byte-level parser (a bare LF, old
    command output, a frame with no header).
    """
    messages = []
    append = messages.append
    new, set_keys, set_values = _new_message, _set_keys, _set_values
    for frame in text.split("\r\n\r\n"):
        if not frame or frame[0] == "\r" or frame[0] == "\n":
            rest = frame.lstrip("\r\n")  # stray blank lines
            if frame[: len(frame) - len(rest)].replace("\r\n", ""):
                return None  # a bare CR or LF among them
            frame = rest
            if not frame:
                continue
        if frame[0] == "R" and frame.startswith(_FOLLOWS_TEXT):
            return None
        marked = frame.replace("\r\n", ": \r: ")
        if "\n" in marked:
            return None  # a bare line feed
        pieces = tuple(marked.split(": "))
        n = len(pieces)
        markers = n // 3
        if (n % 3 == 2 and len(marked) == len(frame) + 3 * markers
                and pieces[2::3].count("\r") == markers):
            m = new(Message)
            set_keys(m, pieces[0::3])
            set_values(m, pieces[1::3])
            append(m)
            continue
        headers = _parse_lines(frame.split("\r\n"))  # a line without ": " or with two
        if not headers:
            return None
        append(Message(headers))
    return messages


class AMIConnection:
    """Sans-I/O AMI parser: feed bytes, get banners, messages and frame errors.

    It reads no clock and does no I/O; the same bytes split anywhere give the same items.
    """

    def __init__(self, *, expect_banner: bool = True, max_frame_bytes: int = 1_048_576) -> None:
        if max_frame_bytes < 1:
            raise ValueError("max_frame_bytes must be positive")
        self._buf = bytearray()
        self._scan = 0  # where the search for the current frame's end resumes
        self._want_banner = expect_banner
        self._max = max_frame_bytes
        self._discard: str | None = None  # skipping an oversized frame: "plain" or "follows"
        self._eof = False

    # ------------------------------------------------------------------ public

    @property
    def buffered(self) -> int:
        """Bytes held back, waiting for the rest of a frame."""
        return len(self._buf)

    def receive_data(self, data: bytes) -> list[Item]:
        """Feed bytes from the socket; return every complete item they finish."""
        if self._eof or not data:
            return []
        buf = self._buf
        out: list[Item] = []
        if not buf and not self._want_banner and self._discard is None:
            # At a frame boundary: parse the complete frames straight from ``data``.
            end = data.rfind(_CRLF2) + 4
            if 4 <= end <= self._max:
                messages = _parse_region(
                    (data if end == len(data) else data[:end]).decode("utf-8", "replace")
                )
                if messages is not None:
                    if end == len(data):
                        return messages  # type: ignore[return-value]
                    out.extend(messages)
                    data = data[end:]
        buf += data
        start = self._parse(buf, out)
        if start:
            del buf[:start]
            self._scan = max(0, self._scan - start)
        return out

    def receive_eof(self) -> list[Item]:
        """The peer closed: a partial frame left over becomes a ``FrameError``."""
        if self._eof:
            return []
        self._eof = True
        rest = bytes(self._buf)
        self._buf = bytearray()
        if self._discard is not None:
            return []  # the oversized frame was reported when it was dropped
        if rest.strip(b"\r\n"):
            what = "banner" if self._want_banner else "frame"
            return [FrameError(f"truncated {what} at end of stream", rest)]
        return []

    # ----------------------------------------------------------------- parsing

    def _parse(self, buf: bytearray, out: list[Item]) -> int:
        """Parse complete items from ``buf`` into ``out``; return bytes consumed."""
        start = 0
        scan = self._scan
        n = len(buf)
        limit = self._max
        fast = True
        while start < n:
            if self._discard is not None:
                keep, end = self._skip_oversized(buf, start, scan)
                if end < 0:
                    # Drop what is skipped; keep what a split frame end still needs.
                    start = scan = max(start, keep)
                    break
                start = scan = end
                self._discard = None
                continue

            # Skip stray blank lines between frames.
            c = buf[start]
            if c == 13 or c == 10:
                start += 1
                scan = max(scan, start)
                continue

            if self._want_banner:
                nl = buf.find(b"\n", start)
                if (nl if nl >= 0 else n) - start > limit:
                    raw = bytes(buf[start : start + min(_RAW_KEEP, limit)])
                    out.append(FrameError("banner line too long", raw))
                    self._want_banner = False
                    self._discard = "plain"
                    continue
                if nl < 0:
                    break
                item = self._banner(bytes(buf[start:nl]).rstrip(b"\r"))
                self._want_banner = False
                if isinstance(item, Banner):
                    start = scan = nl + 1
                out.append(item)
                continue

            if fast and n - start <= limit:
                # Every complete frame at once, when they are all plain CRLF frames.
                fast = False
                last = buf.rfind(_CRLF2, scan)
                if last >= 0:
                    messages = _parse_region(buf[start : last + 4].decode("utf-8", "replace"))
                    if messages is not None:
                        out.extend(messages)
                        start = scan = last + 4
                        continue

            if buf.startswith(_FOLLOWS, start):
                # Its size counts up to the end of the blank line after --END COMMAND--.
                end_cmd, end = self._find_follows(buf, start, scan)
                if end < 0:
                    scan = end_cmd if end_cmd >= 0 else max(start, n - len(_END_COMMAND))
                    if n - start > limit + _FOLLOWS_SLACK:
                        out.append(self._too_long(buf, start))
                        self._discard = "follows"
                        continue
                    break
                if end - start > limit + _FOLLOWS_SLACK:
                    out.append(self._too_long(buf, start))
                else:
                    out.append(self._follows_message(buf[start:end_cmd]))
                start = scan = end
                continue

            # Plain frame: find its blank line.
            p = buf.find(_CRLF2, scan)
            if p >= 0 and buf.count(b"\n", start, p) == buf.count(b"\r\n", start, p):
                if p - start > limit:
                    out.append(self._too_long(buf, start))
                else:
                    headers = _parse_headers(buf[start:p].decode("utf-8", "replace"))
                    out.append(
                        Message(tuple(headers))
                        if headers
                        else FrameError("frame has no header line", bytes(buf[start:p]))
                    )
                start = scan = p + 4
                continue
            # Bare line feeds somewhere: the general (slower) search.
            m = _BLANK.search(buf, start if p >= 0 else scan)
            if m is None:
                scan = max(start, n - 3)
                if n - start > limit + 3 and not _FOLLOWS.startswith(buf[start:n]):
                    out.append(self._too_long(buf, start))
                    self._discard = "plain"
                    continue
                break
            content_end = m.start()
            if content_end - start > limit:
                out.append(self._too_long(buf, start))
            else:
                out.append(self._loose_message(buf[start:content_end]))
            start = scan = m.end()

        self._scan = scan
        return start

    @staticmethod
    def _find_follows(buf: bytearray, start: int, scan: int) -> tuple[int, int]:
        """Where ``--END COMMAND--`` starts and where the frame ends (-1: not yet)."""
        e = buf.find(_END_COMMAND, max(start, scan))
        if e < 0:
            return -1, -1
        m = _BLANK.search(buf, e + len(_END_COMMAND))
        return e, (-1 if m is None else m.end())

    def _skip_oversized(self, buf: bytearray, start: int, scan: int) -> tuple[int, int]:
        """(first byte still needed, end of the skipped frame or -1 if not arrived)."""
        n = len(buf)
        if self._discard == "follows":
            e, end = self._find_follows(buf, start, scan)
            return (e if e >= 0 else n - len(_END_COMMAND)), end
        m = _BLANK.search(buf, max(start, scan - 1))
        return n - 3, (-1 if m is None else m.end())

    def _too_long(self, buf: bytearray, start: int) -> FrameError:
        return FrameError(
            f"frame longer than {self._max} bytes dropped",
            bytes(buf[start : start + min(_RAW_KEEP, self._max)]),
        )

    @staticmethod
    def _banner(line: bytes) -> Banner | FrameError:
        text = line.decode("utf-8", "replace")
        if ":" in text and "Call Manager" not in text:
            # No banner: this is already the first header of a frame; leave it.
            return FrameError("no banner before the first message", b"")
        version = text.rsplit("/", 1)[1].strip() if "/" in text else ""
        return Banner(version=version, raw=text)

    @staticmethod
    def _loose_message(raw: bytes | bytearray) -> Message | FrameError:
        headers = []
        for line in _split_lines(raw):
            key, sep, value = _split_header(line.rstrip("\r"))
            if sep:
                headers.append((key, value))
        if not headers:
            return FrameError("frame has no header line", bytes(raw))
        return Message(tuple(headers))

    @staticmethod
    def _follows_message(raw: bytes | bytearray) -> Message:
        lines = [line.rstrip("\r") for line in _split_lines(raw)]
        if lines and lines[-1] == "":
            lines.pop()  # the line end just before --END COMMAND--
        headers: list[tuple[str, str]] = []
        i = 0
        for i, line in enumerate(lines):  # noqa: B007
            key, sep, value = _split_header(line)
            if not (sep and key.lower() in _FOLLOWS_HEADERS):
                break
            headers.append((key, value))
        else:
            i = len(lines)
        headers.extend(("Output", line) for line in lines[i:])
        return Message(tuple(headers))


# ------------------------------------------------------------------- values

_C_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
              "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}
_C_ESCAPED = re.compile(r"\\(.)", re.S)


def c_unescape(value: str) -> str:
    """Undo Asterisk's C escaping of caller-id values (``ast_escape_c``):
    ``O\\'Neil`` → ``O'Neil``, ``a\\r\\nb`` → ``a`` CR LF ``b``. Unknown escapes
    and a trailing backslash are kept as they are; never raises."""
    if "\\" not in value:
        return value
    return _C_ESCAPED.sub(lambda m: _C_ESCAPES.get(m.group(1), m.group(0)), value)


# ------------------------------------------------------------------- encoding


def _check(key: str, value: str) -> None:
    if not key or ":" in key or "\r" in key or "\n" in key or key != key.strip():
        raise LocalProtocolError(f"bad AMI header name {key!r}")
    if "\r" in value or "\n" in value:
        # The value may be a secret: name the header only.
        raise LocalProtocolError(f"AMI header {key!r} has a line break in its value")


def encode_message(headers: Mapping[str, object] | Iterable[tuple[str, object]]) -> bytes:
    """Encode header pairs (repeats kept, order kept) as one frame ending ``\\r\\n\\r\\n``."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    parts = []
    for key, value in items:
        key = str(key)
        value = str(value)
        _check(key, value)
        parts.append(f"{key}: {value}\r\n")
    if not parts:
        raise LocalProtocolError("an AMI message needs at least one header")
    parts.append("\r\n")
    return "".join(parts).encode("utf-8")


def encode_action(
    action: str,
    headers: Mapping[str, object] | Iterable[tuple[str, object]] = (),
    action_id: str | None = None,
) -> bytes:
    """Encode an action: ``Action``, then ``ActionID`` if given, then ``headers``."""
    pairs: list[tuple[str, object]] = [("Action", action)]
    if action_id is not None:
        pairs.append(("ActionID", action_id))
    pairs.extend(headers.items() if isinstance(headers, Mapping) else headers)
    return encode_message(pairs)
