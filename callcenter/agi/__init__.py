"""FastAGI: the sans-I/O codec (``codec``) and the Twisted server (``protocol``)."""

from callcenter.agi.codec import (
    AGIConnection,
    AGIEnvironment,
    AGIResult,
    HangupReceived,
    LineError,
    Quoted,
    encode_command,
)
from callcenter.agi.errors import (
    AGICommandError,
    AGICommandTimeout,
    AGIError,
    AGIHangup,
    LocalProtocolError,
)
from callcenter.agi.protocol import (
    AGISession,
    FastAGIFactory,
    FastAGIProtocol,
)

__all__ = [
    "AGICommandError",
    "AGICommandTimeout",
    "AGIConnection",
    "AGIEnvironment",
    "AGIError",
    "AGIHangup",
    "AGIResult",
    "AGISession",
    "FastAGIFactory",
    "FastAGIProtocol",
    "HangupReceived",
    "LineError",
    "LocalProtocolError",
    "Quoted",
    "encode_command",
]
