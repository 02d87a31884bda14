"""The AMI server of the simulated Asterisk (banner, login, actions, event fan-out).

Replies copy Asterisk 22's wording and header order (recordings 01-04b, 13, 21).
Frames are parsed with ``callcenter.ami.codec``; malformed input is logged and
skipped, never fatal. Secrets are never logged.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Iterable
from typing import Any

from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

from callcenter.ami.codec import AMIConnection, Message, encode_message
from callcenter.simulator.pbx import Channel, Pbx, render_event
from callcenter.simulator.queues import entry_values

log = Logger()

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
TRUE = ("true", "yes", "1", "on", "y", "t")
VERSION = "22.10.1"


def _duration(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


class AMIServerProtocol(Protocol):
    """One AMI session."""

    def __init__(self, factory: AMIServerFactory) -> None:
        self.factory = factory
        self.pbx: Pbx = factory.pbx
        self.codec = AMIConnection(expect_banner=False)
        self.authenticated = False
        self.events_on = True
        self.challenge: str | None = None

    # ------------------------------------------------------------- Twisted hooks

    def connectionMade(self) -> None:
        self.factory.sessions.add(self)
        self.transport.write(BANNER)

    def connectionLost(self, reason: Any = None) -> None:
        self.factory.sessions.discard(self)

    def dataReceived(self, data: bytes) -> None:
        try:
            items = self.codec.receive_data(data)
        except Exception:
            log.failure("AMI parser failed; input dropped")
            self.codec = AMIConnection(expect_banner=False)
            return
        for item in items:
            if not isinstance(item, Message):
                log.warn("AMI client sent an unreadable frame: {reason}",
                         reason=getattr(item, "reason", item))
                continue
            try:
                self.handle(item)
            except Exception:
                log.failure("AMI action {action} failed inside the simulator",
                            action=item.get("Action"))
                self.respond(item, "Error", [("Message", "Internal error")])

    # ------------------------------------------------------------- plumbing

    def send(self, pairs: Iterable[tuple[str, str]]) -> None:
        if self.transport is None:
            return
        try:
            self.transport.write(encode_message(list(pairs)))
        except Exception:
            log.failure("could not encode an AMI frame")

    def respond(self, msg: Message, response: str, pairs: Iterable[tuple[str, str]] = ()) -> None:
        head = [("Response", response)]
        if msg.action_id is not None:
            head.append(("ActionID", msg.action_id))
        self.send(head + list(pairs))

    def event(self, headers: tuple[tuple[str, str], ...]) -> None:
        if self.authenticated and self.events_on:
            self.send(headers)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.loseConnection()

    def handle(self, msg: Message) -> None:
        action = (msg.get("Action") or "").strip()
        if not action:
            self.bad_request("NONE")
            self.respond(msg, "Error", [("Message", "Missing action in request")])
            return
        name = action.lower()
        if not self.authenticated and name not in ("login", "challenge", "logoff"):
            self.respond(msg, "Error", [("Message", "Permission denied")])
            return
        self.factory.actions.append(msg)
        handler = getattr(self, "action_" + name, None)
        if handler is None:
            self.bad_request(action)
            text = (f"Invalid/unknown command: {action}. "
                    "Use Action: ListCommands to show available commands.")
            self.respond(msg, "Error", [("Message", text)])
            return
        handler(msg)

    def _security(self) -> dict[str, str]:
        tv = f"{self.pbx.now():.6f}".replace(".", "-")
        peer = self.transport.getPeer() if self.transport is not None else None
        host = self.transport.getHost() if self.transport is not None else None

        def address(a: Any) -> str:
            return f"IPV4/TCP/{getattr(a, 'host', '127.0.0.1')}/{getattr(a, 'port', 0)}"

        return {"EventTV": tv, "Service": "AMI", "EventVersion": "1",
                "SessionID": f"0x{id(self) & 0xFFFFFFFFFFFF:x}", "LocalAddress": address(host),
                "RemoteAddress": address(peer), "SessionTV": tv}

    def bad_request(self, action: str) -> None:
        """``RequestBadFormat`` security event (unknown action, or none at all)."""
        if not self.authenticated:
            return
        values = self._security()
        values.update({"Severity": "Error", "RequestType": f"Action: {action}",
                       "AccountID": self.factory.username})
        self.pbx.emit("RequestBadFormat", values)

    def list_response(self, msg: Message, text: str) -> None:
        self.respond(msg, "Success", [("EventList", "start"), ("Message", text)])

    def list_item(self, msg: Message, name: str, values: dict[str, str]) -> None:
        values = dict(values)
        values["ActionID"] = msg.action_id or ""
        self.send(render_event(name, values))

    # ------------------------------------------------------------- session actions

    def action_challenge(self, msg: Message) -> None:
        if (msg.get("AuthType") or "").lower() != "md5":
            self.respond(msg, "Error", [("Message", "Must specify AuthType")])
            return
        self.challenge = str(self.factory.rng.randrange(100_000_000, 1_000_000_000))
        self.respond(msg, "Success", [("Challenge", self.challenge)])

    def action_login(self, msg: Message) -> None:
        f = self.factory
        user = msg.get("Username") or ""
        if (msg.get("AuthType") or "").lower() == "md5":
            good = self.challenge is not None and (msg.get("Key") or "").lower() == hashlib.md5(
                (self.challenge + f.secret).encode()).hexdigest()
        else:
            good = msg.get("Secret") == f.secret
        if user != f.username or not good:
            log.info("AMI login refused for user {user!r}", user=user)
            self.respond(msg, "Error", [("Message", "Authentication failed")])
            self.close()
            return
        self.authenticated = True
        self.events_on = (msg.get("Events") or "on").strip().lower() != "off"
        self.respond(msg, "Success", [("Message", "Authentication accepted")])
        up = str(int(self.pbx.now() - f.started))
        self.event(render_event("FullyBooted", {"Uptime": up, "LastReload": up,
                                                "Status": "Fully Booted"}))
        values = self._security()
        values.update({"Severity": "Informational", "AccountID": user, "UsingPassword": "0"})
        self.pbx.emit("SuccessfulAuth", values)

    def action_logoff(self, msg: Message) -> None:
        self.respond(msg, "Goodbye", [("Message", "Thanks for all the fish.")])
        self.close()

    def action_ping(self, msg: Message) -> None:
        self.respond(msg, "Success", [("Ping", "Pong"), ("Timestamp", f"{self.pbx.now():.6f}")])

    def action_events(self, msg: Message) -> None:
        mask = (msg.get("EventMask") or "on").strip().lower()
        self.events_on = mask != "off"
        self.respond(msg, "Success", [("Events", "On" if self.events_on else "Off")])

    # ------------------------------------------------------------- call actions

    def action_originate(self, msg: Message) -> None:
        pbx = self.pbx
        channel = (msg.get("Channel") or "").strip()
        if not channel:
            self.respond(msg, "Error", [("Message", "Channel not specified")])
            return
        is_async = (msg.get("Async") or "false").strip().lower() in TRUE
        try:
            timeout = int(msg.get("Timeout") or 30000) / 1000
        except ValueError:
            self.respond(msg, "Error", [("Message", "Invalid timeout")])
            return
        variables: dict[str, str] = {}
        for header in msg.get_all("Variable"):
            parts = header.split(",")
            if not all("=" in p for p in parts):
                parts = [header]
            for part in parts:
                key, _, value = part.partition("=")
                if key.strip():
                    variables[key.strip()] = value
        if not pbx.can_originate(channel):
            self.respond(msg, "Error", [("Message", "Originate failed")])
            return
        if is_async:
            self.respond(msg, "Success", [("Message", "Originate successfully queued")])
        action_id = msg.action_id

        def respond(status: str, values: dict[str, str]) -> None:
            if not is_async:
                if status == "Success":
                    self.respond(msg, "Success", [("Message", "Originate successfully queued")])
                else:
                    self.respond(msg, "Error", [("Message", "Originate failed")])
                return
            event = {"ActionID": action_id or "", "Response": status}
            event.update(values)
            pbx.emit("OriginateResponse", event)

        pbx.originate(
            channel=channel,
            context=msg.get("Context") or "",
            exten=msg.get("Exten") or "",
            application=msg.get("Application") or "",
            data=msg.get("Data") or "",
            callerid=msg.get("CallerID") or "",
            variables=variables,
            timeout=timeout,
            respond=respond,
            channel_id=(msg.get("ChannelId") or "").strip(),
        )

    def action_redirect(self, msg: Message) -> None:
        name = (msg.get("Channel") or "").strip()
        chan = self.pbx.find_channel(name)
        if not name:
            self.respond(msg, "Error", [("Message", "Channel not specified")])
        elif chan is None:
            self.respond(msg, "Error", [("Message", f"Channel does not exist: {name}")])
        elif self.pbx.can_redirect(chan, msg.get("Context") or "", msg.get("Exten") or ""):
            self.respond(msg, "Success", [("Message", "Redirect successful")])
            self.pbx.redirect(chan, msg.get("Context") or "", msg.get("Exten") or "")
        else:
            self.respond(msg, "Error", [("Message", "Redirect failed")])

    def action_hangup(self, msg: Message) -> None:
        name = (msg.get("Channel") or "").strip()
        try:
            cause = int(msg.get("Cause") or 16)
        except ValueError:
            cause = 16
        if len(name) > 2 and name.startswith("/") and name.endswith("/"):
            try:
                pattern = re.compile(name[1:-1])
            except re.error:
                self.respond(msg, "Error", [("Message", "Invalid regex")])
                return
            found = [c for c in self.pbx.channels.values() if pattern.search(c.name)]
            self.list_response(msg, "Channels hung up will follow")
            for chan in found:
                self.send([("Event", "ChannelHungup"), ("Channel", chan.name),
                           ("ActionID", msg.action_id or "")])
            self.send([("Event", "ChannelsHungupListComplete"), ("ActionID", msg.action_id or ""),
                       ("EventList", "Complete"), ("ListItems", str(len(found)))])
            for chan in found:
                self.pbx.request_hangup(chan, cause)
            return
        chan = self.pbx.find_channel(name)
        if chan is None:
            self.respond(msg, "Error", [("Message", "No such channel")])
            return
        self.respond(msg, "Success", [("Message", "Channel Hungup")])
        self.pbx.request_hangup(chan, cause)

    def _app(self, chan: Channel) -> tuple[str, str]:
        if chan.app:
            return chan.app, chan.app_data
        if chan.name.endswith(";1"):
            return "AppDial2", "(Outgoing Line)"
        return "", ""

    def action_coreshowchannels(self, msg: Message) -> None:
        chans = list(self.pbx.channels.values())
        self.list_response(msg, "Channels will follow")
        for chan in chans:
            app, data = self._app(chan)
            values = chan.snapshot()
            values.update({
                "Application": app,
                "ApplicationData": data,
                "Duration": _duration(self.pbx.now() - chan.created),
                "BridgeId": chan.bridge.uniqueid if chan.bridge else "",
            })
            self.list_item(msg, "CoreShowChannel", values)
        self.list_item(msg, "CoreShowChannelsComplete",
                       {"EventList": "Complete", "ListItems": str(len(chans))})

    def action_status(self, msg: Message) -> None:
        name = (msg.get("Channel") or "").strip()
        if name:
            chan = self.pbx.find_channel(name)
            if chan is None:
                self.respond(msg, "Error", [("Message", "No such channel")])
                return
            chans = [chan]
        else:
            chans = list(self.pbx.channels.values())
        self.list_response(msg, "Channel status will follow")
        for chan in chans:
            app, data = self._app(chan)
            values = chan.snapshot()
            values.update({
                "Type": "Local", "DNID": "",
                "EffectiveConnectedLineNum": chan.conn_num or "<unknown>",
                "EffectiveConnectedLineName": chan.conn_name or "<unknown>",
                "TimeToHangup": "0",
                "BridgeID": chan.bridge.uniqueid if chan.bridge else "",
                "Application": app, "Data": data,
                "Nativeformats": "(slin)", "Readformat": "slin", "Readtrans": "",
                "Writeformat": "slin", "Writetrans": "", "Callgroup": "0", "Pickupgroup": "0",
                "Seconds": str(int(self.pbx.now() - chan.created)),
            })
            pairs = list(render_event("Status", {**values, "ActionID": msg.action_id or ""}))
            wanted = [v.strip() for v in (msg.get("Variables") or "").split(",") if v.strip()]
            extra = [("Variable", f"{v}={self.pbx.get_var(chan, v) or ''}") for v in wanted]
            self.send(pairs[:-1] + extra + pairs[-1:])
        n = str(len(chans))
        self.list_item(msg, "StatusComplete",
                       {"EventList": "Complete", "ListItems": n, "Items": n})

    def action_bridgelist(self, msg: Message) -> None:
        bridges = self.pbx.bridges()
        self.list_response(msg, "Bridge listing will follow")
        for bridge in bridges:
            self.send([("Event", "BridgeListItem"), ("ActionID", msg.action_id or ""),
                       *bridge.snapshot().items()])
        self.send([("Event", "BridgeListComplete"), ("ActionID", msg.action_id or ""),
                   ("EventList", "Complete"), ("ListItems", str(len(bridges)))])

    def action_bridgeinfo(self, msg: Message) -> None:
        wanted = (msg.get("BridgeUniqueid") or "").strip()
        bridge = next((b for b in self.pbx.bridges() if b.uniqueid == wanted), None)
        if not wanted:
            self.respond(msg, "Error", [("Message", "Bridge identifier not provided")])
            return
        if bridge is None:
            self.respond(msg, "Error", [("Message", f"Bridge {wanted} not found")])
            return
        self.list_response(msg, "Bridge channel listing will follow")
        for chan in bridge.members:
            self.send([("Event", "BridgeInfoChannel"), ("ActionID", msg.action_id or ""),
                       *chan.snapshot().items()])
        self.send([("Event", "BridgeInfoComplete"), ("ActionID", msg.action_id or ""),
                   ("EventList", "Complete"), ("ListItems", str(len(bridge.members))),
                   *bridge.snapshot().items()])

    def action_setvar(self, msg: Message) -> None:
        variable = (msg.get("Variable") or "").strip()
        value = msg.get("Value") or ""
        if not variable:
            self.respond(msg, "Error", [("Message", "No variable specified")])
            return
        name = (msg.get("Channel") or "").strip()
        if name:
            chan = self.pbx.find_channel(name)
            if chan is None:
                self.respond(msg, "Error", [("Message", "No such channel")])
                return
            self.respond(msg, "Success", [("Message", "Variable Set")])
            self.pbx.set_var(chan, variable, value)
        else:
            self.respond(msg, "Success", [("Message", "Variable Set")])
            self.pbx.set_global(variable, value)

    def action_getvar(self, msg: Message) -> None:
        variable = (msg.get("Variable") or "").strip()
        if not variable:
            self.respond(msg, "Error", [("Message", "No variable specified")])
            return
        name = (msg.get("Channel") or "").strip()
        chan = None
        if name:
            chan = self.pbx.find_channel(name)
            if chan is None:
                self.respond(msg, "Error", [("Message", "No such channel")])
                return
        value = self.pbx.get_var(chan, variable)
        self.respond(msg, "Success", [("Variable", variable), ("Value", value or "")])


    # ------------------------------------------------------------- queues

    def _flag(self, msg: Message, name: str) -> bool:
        return (msg.get(name) or "").strip().lower() in TRUE

    def _result(self, msg: Message, error: str, ok: str) -> None:
        if error:
            self.respond(msg, "Error", [("Message", error)])
        else:
            self.respond(msg, "Success", [("Message", ok)])

    def action_queueadd(self, msg: Message) -> None:
        queue, iface = (msg.get("Queue") or "").strip(), (msg.get("Interface") or "").strip()
        if not queue or not iface:
            self.respond(msg, "Error", [("Message", "'Queue' and 'Interface' not specified.")])
            return
        try:
            penalty = int(msg.get("Penalty") or 0)
        except ValueError:
            penalty = 0
        error = self.pbx.queue_app.add(
            queue, iface, penalty=penalty, paused=self._flag(msg, "Paused"),
            member_name=msg.get("MemberName") or "",
            state_interface=msg.get("StateInterface") or "", reason=msg.get("Reason") or "")
        self._result(msg, error, "Added interface to queue")

    def action_queueremove(self, msg: Message) -> None:
        queue, iface = (msg.get("Queue") or "").strip(), (msg.get("Interface") or "").strip()
        if not queue or not iface:
            self.respond(msg, "Error", [("Message", "Need 'Queue' and 'Interface' parameters.")])
            return
        self._result(msg, self.pbx.queue_app.remove(queue, iface), "Removed interface from queue")

    def action_queuepause(self, msg: Message) -> None:
        iface = (msg.get("Interface") or "").strip()
        if not iface or msg.get("Paused") is None:
            self.respond(msg, "Error", [("Message", "Need 'Interface' and 'Paused' parameters.")])
            return
        paused = self._flag(msg, "Paused")
        error = self.pbx.queue_app.pause((msg.get("Queue") or "").strip(), iface, paused,
                                         msg.get("Reason") or "")
        self._result(msg, error, "Interface paused successfully" if paused
                     else "Interface unpaused successfully")

    def action_queuepenalty(self, msg: Message) -> None:
        iface = (msg.get("Interface") or "").strip()
        try:
            penalty = int(msg.get("Penalty") or "")
        except ValueError:
            self.respond(msg, "Error", [("Message", "Need 'Interface' and 'Penalty' parameters.")])
            return
        error = self.pbx.queue_app.penalty((msg.get("Queue") or "").strip(), iface, penalty)
        self._result(msg, error, "Interface penalty set successfully")

    def action_queuememberringinuse(self, msg: Message) -> None:
        iface = (msg.get("Interface") or "").strip()
        error = self.pbx.queue_app.ringinuse((msg.get("Queue") or "").strip(), iface,
                                             self._flag(msg, "RingInUse"))
        self._result(msg, error, "Interface ringinuse set successfully")

    def action_queuelog(self, msg: Message) -> None:
        if not msg.get("Queue") or not msg.get("Event"):
            self.respond(msg, "Error", [("Message", "Need 'Queue' and 'Event' parameters.")])
            return
        self.respond(msg, "Success", [("Message", "Event added successfully")])

    def action_queuerule(self, msg: Message) -> None:
        self.respond(msg, "Success")

    def _queues(self, msg: Message) -> list[Any]:
        name = (msg.get("Queue") or "").strip()
        queues = list(reversed(list(self.pbx.queues.values())))
        return [q for q in queues if not name or q.name == name]

    def action_queuestatus(self, msg: Message) -> None:
        app = self.pbx.queue_app
        member = (msg.get("Member") or "").strip()
        self.list_response(msg, "Queue status will follow")
        count = 0
        for queue in self._queues(msg):
            self.list_item(msg, "QueueParams", app.params(queue))
            count += 1
            for m in reversed(queue.members) if queue.strategy != "ringall" else queue.members:
                if member and m.interface != member:
                    continue
                self.list_item(msg, "QueueMember", app.member_item(queue, m))
                count += 1
            for position, entry in enumerate(queue.callers, 1):
                values = entry_values(self.pbx, queue, entry, position)
                self.send([("Event", "QueueEntry"), *values.items(),
                           ("ActionID", msg.action_id or "")])
                count += 1
        self.list_item(msg, "QueueStatusComplete", {"EventList": "Complete",
                                                    "ListItems": str(count)})

    def action_queuesummary(self, msg: Message) -> None:
        queues = self._queues(msg)
        self.list_response(msg, "Queue summary will follow")
        for queue in queues:
            self.list_item(msg, "QueueSummary", self.pbx.queue_app.summary(queue))
        self.list_item(msg, "QueueSummaryComplete", {"EventList": "Complete",
                                                     "ListItems": str(len(queues))})

    # ------------------------------------------------------------- transfers, media

    def _channel(self, msg: Message, missing: str = "No such channel") -> Channel | None:
        name = (msg.get("Channel") or "").strip()
        chan = self.pbx.find_channel(name) if name else None
        if not name:
            self.respond(msg, "Error", [("Message", "No channel specified")])
        elif chan is None:
            self.respond(msg, "Error", [("Message", missing)])
        return chan

    def action_blindtransfer(self, msg: Message) -> None:
        chan = self._channel(msg)
        if chan is None:
            return
        context, exten = (msg.get("Context") or "").strip(), (msg.get("Exten") or "").strip()
        if not exten:
            self.respond(msg, "Error", [("Message", "No extension specified")])
            return
        if self.pbx.blind_transfer(chan, context, exten):
            self.respond(msg, "Success", [("Message", "Transfer succeeded")])
        else:
            self.respond(msg, "Error", [("Message", "Transfer failed")])

    def action_atxfer(self, msg: Message) -> None:
        chan = self._channel(msg)
        if chan is None:
            return
        context, exten = (msg.get("Context") or "").strip(), (msg.get("Exten") or "").strip()
        if not exten:
            self.respond(msg, "Error", [("Message", "No extension specified")])
            return
        if self.pbx.attended_transfer(chan, context, exten):
            self.respond(msg, "Success", [("Message", "Atxfer successfully queued")])
        else:
            self.respond(msg, "Error", [("Message", "Atxfer failed")])

    def action_cancelatxfer(self, msg: Message) -> None:
        """CancelAtxfer (the atxferabort feature on the transferer); not recorded: the
        reply texts follow Atxfer's."""
        chan = self._channel(msg)
        if chan is None:
            return
        if self.pbx.cancel_attended_transfer(chan):
            self.respond(msg, "Success", [("Message", "CancelAtxfer successfully queued")])
        else:
            self.respond(msg, "Error", [("Message", "No attended transfer to cancel")])

    def action_mixmonitor(self, msg: Message) -> None:
        chan = self._channel(msg)
        if chan is None:
            return
        self.respond(msg, "Success")
        self.pbx.mix_monitor(chan, True)

    def action_stopmixmonitor(self, msg: Message) -> None:
        chan = self._channel(msg)
        if chan is None:
            return
        self.respond(msg, "Success")
        self.pbx.mix_monitor(chan, False)

    def action_playdtmf(self, msg: Message) -> None:
        chan = self._channel(msg, "Channel not found")
        if chan is None:
            return
        digit = (msg.get("Digit") or "").strip()
        if not digit:
            self.respond(msg, "Error", [("Message", "No digit specified")])
            return
        try:
            duration = int(msg.get("Duration") or 100) / 1000
        except ValueError:
            duration = 0.1

        def done() -> None:
            self.respond(msg, "Success", [("Message", "DTMF successfully queued")])

        self.pbx.play_dtmf(chan, digit[0], duration, done,
                           receive=(msg.get("Receive") or "").strip().lower() in TRUE)

    def action_userevent(self, msg: Message) -> None:
        name = (msg.get("UserEvent") or "").strip()
        if not name:
            self.respond(msg, "Error", [("Message", "No UserEvent specified")])
            return
        headers = [(k, v) for k, v in msg.headers
                   if k.lower() not in ("action", "actionid", "userevent")]
        self.respond(msg, "Success", [("Message", "Event Sent")])
        self.pbx.emit_user_event(name, headers, action_id=msg.action_id or "")

    # ------------------------------------------------------------- system queries

    def action_command(self, msg: Message) -> None:
        command = " ".join((msg.get("Command") or "").split())
        lines = self.pbx.cli(command)
        if lines is None:
            self.respond(msg, "Error", [
                ("Message", "Command output follows"),
                ("Output", f"No such command '{command}' (type 'core show help {command}' "
                           "for other possible commands)")])
            return
        self.respond(msg, "Success", [("Message", "Command output follows")]
                     + [("Output", line) for line in (lines or [""])])

    def action_extensionstate(self, msg: Message) -> None:
        exten = (msg.get("Exten") or "").strip()
        context = (msg.get("Context") or "").strip()
        device = self.pbx.hints.get(exten)
        if device is None:
            self.respond(msg, "Success", [("Message", "Extension Status"), ("Exten", exten),
                                          ("Context", context), ("Hint", ""),
                                          ("Status", "-1"), ("StatusText", "Unknown")])
            return
        busy = self.pbx.device_busy(device)
        self.respond(msg, "Success", [
            ("Message", "Extension Status"), ("Exten", exten), ("Context", context),
            ("Hint", device), ("Status", "1" if busy else "0"),
            ("StatusText", "InUse" if busy else "Idle")])

    def action_extensionstatelist(self, msg: Message) -> None:
        hints = self.pbx.hints
        self.list_response(msg, "Extension Statuses will follow")
        for exten, device in hints.items():
            busy = self.pbx.device_busy(device)
            self.list_item(msg, "ExtensionStatus", {
                "Exten": exten, "Context": "agent-hints", "Hint": device,
                "Status": "1" if busy else "0", "StatusText": "InUse" if busy else "Idle"})
        self.list_item(msg, "ExtensionStateListComplete",
                       {"EventList": "Complete", "ListItems": str(len(hints))})

    def action_coresettings(self, msg: Message) -> None:
        self.respond(msg, "Success", [
            ("AMIversion", "11.0.0"), ("AsteriskVersion", VERSION), ("SystemName", ""),
            ("CoreMaxCalls", "0"), ("CoreMaxLoadAvg", "0.000000"), ("CoreRunUser", ""),
            ("CoreRunGroup", ""), ("CoreMaxFilehandles", "0"), ("CoreRealTimeEnabled", "No"),
            ("CoreCDRenabled", "Yes"), ("CoreHTTPenabled", "No"),
            ("SoundsSearchCustomDir", "No")])

    def action_corestatus(self, msg: Message) -> None:
        import time

        started = time.gmtime(self.factory.started)
        calls = sum(1 for c in self.pbx.channels.values() if c.name.endswith(";2"))
        self.respond(msg, "Success", [
            ("CoreStartupDate", time.strftime("%Y-%m-%d", started)),
            ("CoreStartupTime", time.strftime("%H:%M:%S", started)),
            ("CoreReloadDate", time.strftime("%Y-%m-%d", started)),
            ("CoreReloadTime", time.strftime("%H:%M:%S", started)),
            ("CoreCurrentCalls", str(calls)),
            ("CoreProcessedCalls", str(self.pbx.counters["placed"]))])


class AMIServerFactory(Factory):
    """Builds AMI sessions and fans every PBX event out to them."""

    def __init__(self, pbx: Pbx, username: str, secret: str) -> None:
        self.pbx = pbx
        self.username = username
        self.secret = secret
        self.rng = pbx.rng
        self.started = pbx.now()
        self.sessions: set[AMIServerProtocol] = set()
        # The last actions received after login, oldest first (for tests).
        self.actions: deque[Message] = deque(maxlen=1000)
        pbx.listeners.append(self.broadcast)

    def buildProtocol(self, addr: Any) -> AMIServerProtocol:
        return AMIServerProtocol(self)

    def broadcast(self, headers: tuple[tuple[str, str], ...]) -> None:
        for session in list(self.sessions):
            session.event(headers)

    def kill_connections(self) -> None:
        """Drop every session at once (clients see the link fail)."""
        for session in list(self.sessions):
            transport = session.transport
            if transport is None:
                continue
            abort = getattr(transport, "abortConnection", None)
            if abort is not None:
                abort()
            else:
                transport.loseConnection()
