"""Typed AMI actions on top of ``send_action``.

Each function takes ``ami``, anything with the ``send_action`` of ``AMIProtocol`` or
``AMIClientService``, builds the action's headers in the order Asterisk's own
documentation lists them (the order of the recordings), and returns a Deferred.
``Response: Error`` fails it with ``AMIActionError``; a header value that cannot be
sent fails it with ``LocalProtocolError`` before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from twisted.internet import defer
from twisted.internet.defer import Deferred

from callcenter.ami.codec import Message
from callcenter.ami.errors import LocalProtocolError
from callcenter.ami.protocol import ActionResult, Headers

__all__ = [
    "atxfer",
    "blind_transfer",
    "bridge",
    "cancel_atxfer",
    "command",
    "core_show_channels",
    "getvar",
    "hangup",
    "mix_monitor",
    "originate",
    "play_dtmf",
    "queue_add",
    "queue_pause",
    "queue_remove",
    "redirect",
    "setvar",
    "stop_mix_monitor",
    "user_event",
]

#: Extra seconds granted to an Originate on top of its ring timeout.
ORIGINATE_MARGIN = 10.0
_DEFAULT_RING_MS = 30_000


class ActionSender(Protocol):
    def send_action(self, action: str, headers: Headers = (), *,
                    timeout: float | None = None,
                    until_event: str | None = None) -> Deferred[ActionResult]: ...


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _pairs(**headers: object) -> list[tuple[str, object]]:
    """Header pairs in the given order, leaving out the ones set to None."""
    return [(k, v) for k, v in headers.items() if v is not None]


def _variables(variables: Mapping[str, object] | Iterable[tuple[str, object]]
               ) -> list[tuple[str, str]]:
    items = variables.items() if isinstance(variables, Mapping) else variables
    out = []
    for name, value in items:
        if not name or "=" in str(name):
            raise LocalProtocolError(f"bad channel variable name {name!r}")
        out.append(("Variable", f"{name}={value}"))
    return out


# ------------------------------------------------------------------------ calls


def originate(
    ami: ActionSender,
    channel: str,
    *,
    context: str | None = None,
    exten: str | None = None,
    priority: int | str | None = None,
    application: str | None = None,
    data: str | None = None,
    caller_id: str | None = None,
    timeout_ms: int | None = None,
    asynchronous: bool = True,
    account: str | None = None,
    channel_id: str | None = None,
    other_channel_id: str | None = None,
    early_media: bool | None = None,
    variables: Mapping[str, object] | Iterable[tuple[str, object]] = (),
) -> Deferred[Message]:
    """Place a call from ``channel`` to a dialplan place or an application.

    Asynchronous (the default): fires with the ``OriginateResponse`` event
    correlated by ActionID (``Response: Success`` or ``Failure``, with ``Reason``:
    4 answered, 5 busy, 3 no answer, 0 failed, ...). Synchronous: fires with the
    response, which Asterisk sends once the call was answered.
    """
    if not channel:
        return defer.fail(LocalProtocolError("Originate needs a channel"))
    if application is None and (context is None or exten is None):
        return defer.fail(LocalProtocolError(
            "Originate needs context and exten (and priority), or an application"))
    if application is not None and context is not None:
        return defer.fail(LocalProtocolError(
            "Originate takes a dialplan place or an application, not both"))
    if application is None and priority is None:
        priority = 1
    try:
        headers = _pairs(
            Channel=channel, Context=context, Exten=exten, Priority=priority,
            Application=application, Data=data, CallerID=caller_id, Timeout=timeout_ms,
            Async="true" if asynchronous else None, Account=account, ChannelId=channel_id,
            OtherChannelId=other_channel_id,
            EarlyMedia=None if early_media is None else _flag(early_media),
        ) + _variables(variables)
    except LocalProtocolError as e:
        return defer.fail(e)
    ring = (timeout_ms if timeout_ms is not None else _DEFAULT_RING_MS) / 1000.0
    if asynchronous:
        d = ami.send_action("Originate", headers, timeout=ring + ORIGINATE_MARGIN,
                            until_event="OriginateResponse")
        return d.addCallback(lambda result: result.complete)
    d = ami.send_action("Originate", headers, timeout=ring + ORIGINATE_MARGIN)
    return d.addCallback(lambda result: result.response)


def redirect(
    ami: ActionSender,
    channel: str,
    context: str,
    exten: str,
    priority: int | str = 1,
    *,
    extra_channel: str | None = None,
    extra_context: str | None = None,
    extra_exten: str | None = None,
    extra_priority: int | str | None = None,
) -> Deferred[ActionResult]:
    """Send ``channel`` (and optionally a second one) to another dialplan place."""
    return ami.send_action("Redirect", _pairs(
        Channel=channel, ExtraChannel=extra_channel, Context=context, Exten=exten,
        Priority=priority, ExtraContext=extra_context, ExtraExten=extra_exten,
        ExtraPriority=extra_priority))


def hangup(ami: ActionSender, channel: str, cause: int | None = None
           ) -> Deferred[list[str]]:
    """Hang up a channel, or every channel matching ``/regex/``; fires with the
    names of the channels hung up."""
    d = ami.send_action("Hangup", _pairs(Channel=channel, Cause=cause))

    def names(result: ActionResult) -> list[str]:
        if result.complete is not None:  # a regular expression: a list of channels
            return [e.get("Channel") or "" for e in result.events]
        return [channel]

    return d.addCallback(names)


def atxfer(ami: ActionSender, channel: str, exten: str, context: str | None = None
           ) -> Deferred[ActionResult]:
    """Attended transfer: ``channel`` (the agent) dials ``exten`` while the other
    party waits on hold."""
    return ami.send_action("Atxfer", _pairs(Channel=channel, Exten=exten, Context=context))


def blind_transfer(ami: ActionSender, channel: str, exten: str, context: str
                   ) -> Deferred[ActionResult]:
    """Blind transfer: the party bridged with ``channel`` goes to ``exten@context``."""
    return ami.send_action("BlindTransfer", _pairs(Channel=channel, Context=context,
                                                   Exten=exten))


def cancel_atxfer(ami: ActionSender, channel: str) -> Deferred[ActionResult]:
    """Abandon the attended transfer ``channel`` (the transferer) started: the
    consultation is hung up and the transferer is back with the held party. Asterisk
    uses the ``atxferabort`` feature for it: without one configured, this fails."""
    return ami.send_action("CancelAtxfer", _pairs(Channel=channel))


def bridge(ami: ActionSender, channel1: str, channel2: str, tone: str | None = None
           ) -> Deferred[ActionResult]:
    """Bridge two existing channels (each leaves its dialplan or bridge). ``tone``:
    ``no``, ``Channel1``, ``Channel2`` or ``Both``."""
    return ami.send_action("Bridge", _pairs(Channel1=channel1, Channel2=channel2,
                                            Tone=tone))


def play_dtmf(ami: ActionSender, channel: str, digit: str, duration_ms: int | None = None,
              receive: bool | None = None) -> Deferred[ActionResult]:
    """Play one DTMF ``digit`` on ``channel``; with ``receive`` Asterisk acts as if the
    digit came in on ``channel`` (then a bridge passes it on to the other party)."""
    if len(digit) != 1 or digit not in "0123456789*#ABCDabcd":
        return defer.fail(LocalProtocolError(f"not one DTMF digit: {digit!r}"))
    return ami.send_action("PlayDTMF", _pairs(
        Channel=channel, Digit=digit, Duration=duration_ms,
        Receive=None if receive is None else _flag(receive)))


def mix_monitor(ami: ActionSender, channel: str, file: str, options: str | None = None,
                command: str | None = None) -> Deferred[ActionResult]:
    """Start recording ``channel`` (both directions mixed) into ``file``."""
    return ami.send_action("MixMonitor", _pairs(Channel=channel, File=file,
                                                Options=options, Command=command))


def stop_mix_monitor(ami: ActionSender, channel: str, mix_monitor_id: str | None = None
                     ) -> Deferred[ActionResult]:
    return ami.send_action("StopMixMonitor", _pairs(Channel=channel,
                                                    MixMonitorID=mix_monitor_id))


# -------------------------------------------------------------------- variables


def setvar(ami: ActionSender, variable: str, value: object, channel: str | None = None
           ) -> Deferred[ActionResult]:
    """Set a channel variable, or a global one without ``channel``."""
    return ami.send_action("Setvar", _pairs(Channel=channel, Variable=variable,
                                            Value=value))


def getvar(ami: ActionSender, variable: str, channel: str | None = None
           ) -> Deferred[str]:
    """Read a channel or global variable (or function); ``""`` when unset."""
    d = ami.send_action("Getvar", _pairs(Channel=channel, Variable=variable))
    return d.addCallback(lambda result: result.response.get("Value") or "")


# ----------------------------------------------------------------------- queues


def queue_add(
    ami: ActionSender,
    queue: str,
    interface: str,
    *,
    penalty: int | None = None,
    paused: bool | None = None,
    member_name: str | None = None,
    state_interface: str | None = None,
    reason: str | None = None,
) -> Deferred[ActionResult]:
    """Add a dynamic member (e.g. to the dialplan's fallback queue)."""
    return ami.send_action("QueueAdd", _pairs(
        Queue=queue, Interface=interface, Penalty=penalty,
        Paused=None if paused is None else _flag(paused), MemberName=member_name,
        StateInterface=state_interface, Reason=reason))


def queue_remove(ami: ActionSender, queue: str, interface: str) -> Deferred[ActionResult]:
    return ami.send_action("QueueRemove", _pairs(Queue=queue, Interface=interface))


def queue_pause(ami: ActionSender, interface: str, paused: bool, *,
                queue: str | None = None, reason: str | None = None
                ) -> Deferred[ActionResult]:
    """Pause or unpause a member in ``queue``, or in every queue without it."""
    return ami.send_action("QueuePause", _pairs(Queue=queue, Interface=interface,
                                                Paused=_flag(paused), Reason=reason))


# ------------------------------------------------------------------------ other


def user_event(ami: ActionSender, name: str,
               headers: Mapping[str, object] | Iterable[tuple[str, object]] = ()
               ) -> Deferred[ActionResult]:
    """Send ``UserEvent: name`` with custom headers to every AMI session."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return ami.send_action("UserEvent", [("UserEvent", name), *items])


def core_show_channels(ami: ActionSender) -> Deferred[list[Message]]:
    """Every live channel, as the ``CoreShowChannel`` events of the list."""
    d = ami.send_action("CoreShowChannels")
    return d.addCallback(lambda result: [e for e in result.events
                                         if e.name == "CoreShowChannel"])


def command(ami: ActionSender, cli: str) -> Deferred[str]:
    """Run a CLI command; fires with its output lines joined by ``\\n`` (both the
    ``Output:`` headers of Asterisk 14+ and the ``Response: Follows`` body of 13
    and older)."""
    d = ami.send_action("Command", [("Command", cli)])
    return d.addCallback(lambda result: result.response.output)
