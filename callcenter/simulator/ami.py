"""The AMI server of the simulated Asterisk (banner, login, actions, event fan-out).

Replies copy Asterisk 22's wording and header order (recordings 01-04b, 13, 21).
Frames are parsed with ``callcenter.ami.codec``; malformed input is logged and
skipped, never fatal. Secrets are never logged.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

from callcenter.ami.codec import AMIConnection, Message, encode_message
from callcenter.simulator.pbx import Channel, Pbx, render_event

log = Logger()

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
TRUE = ("true", "yes", "1", "on", "y", "t")


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
            self.respond(msg, "Error", [("Message", "Missing action in request")])
            return
        name = action.lower()
        if not self.authenticated and name not in ("login", "challenge", "logoff"):
            self.respond(msg, "Error", [("Message", "Permission denied")])
            return
        handler = getattr(self, "action_" + name, None)
        if handler is None:
            text = (f"Invalid/unknown command: {action}. "
                    "Use Action: ListCommands to show available commands.")
            self.respond(msg, "Error", [("Message", text)])
            return
        handler(msg)

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
            self.list_item(msg, "Status", values)
        n = str(len(chans))
        self.list_item(msg, "StatusComplete",
                       {"EventList": "Complete", "ListItems": n, "Items": n})

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


class AMIServerFactory(Factory):
    """Builds AMI sessions and fans every PBX event out to them."""

    def __init__(self, pbx: Pbx, username: str, secret: str) -> None:
        self.pbx = pbx
        self.username = username
        self.secret = secret
        self.rng = pbx.rng
        self.started = pbx.now()
        self.sessions: set[AMIServerProtocol] = set()
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
