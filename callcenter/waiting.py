"""Waiting callers: music on hold, position and estimated-wait announcements, and the
callback offer, over the caller's FastAGI session while the router looks for an agent.

What a caller hears is set by the IVR's queue node (``ivr.model.WaitOptions``), or for
the built-in menu by the ``routing`` settings (``announce_every``, ...). Prompts are
Asterisk sound names; Asterisk plays them in the channel's language (the IVR's
language node sets it), so ``queue-thereare`` is ``sounds/es/queue-thereare`` for a
Spanish caller. The callback prompts are ours (``custom/callback-*``):

- ``custom/callback-offer``: "to be called back instead of waiting, press 1";
- ``custom/callback-number``: "we will call you back at" (the number is then said
  digit by digit);
- ``custom/callback-confirm``: "press 1 to confirm, or 2 to keep waiting";
- ``custom/callback-registered``: "thank you, you keep your place: we will call you".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from twisted.logger import Logger

log = Logger()

# Asterisk's own queue sounds (sounds/<lang>/queue-*.gsm).
YOU_ARE_NEXT = "queue-youarenext"
THERE_ARE = "queue-thereare"
CALLS_WAITING = "queue-callswaiting"
HOLD_TIME = "queue-holdtime"
LESS_THAN = "queue-less-than"
MINUTE = "queue-minute"
MINUTES = "queue-minutes"
# Ours.
CALLBACK_OFFER = "custom/callback-offer"
CALLBACK_NUMBER = "custom/callback-number"
CALLBACK_CONFIRM = "custom/callback-confirm"
CALLBACK_REGISTERED = "custom/callback-registered"

# With a callback offered but no announcements, the offer is repeated this often (s).
DEFAULT_OFFER_EVERY = 30
CONFIRM_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class WaitPlan:
    """What a waiting caller hears (the fields of ``ivr.model.WaitOptions``)."""

    moh: str = "default"
    announce_every: int = 0
    announce_position: bool = False
    announce_wait: bool = False
    callback: bool = False
    callback_digit: str = "1"

    @classmethod
    def of(cls, options, routing) -> WaitPlan:
        """From a queue node's ``WaitOptions``, else the ``routing`` settings."""
        if options is not None:
            return cls(options.moh or routing.moh_class, options.announce_every,
                       options.announce_position, options.announce_wait, options.callback,
                       options.callback_digit)
        return cls(routing.moh_class, routing.announce_every, routing.announce_position,
                   routing.announce_wait, routing.callback_offer, routing.callback_digit)

    @property
    def every(self) -> int:
        """Seconds between two announcement rounds (0: none)."""
        if self.announce_every > 0 and (self.announce_position or self.announce_wait
                                        or self.callback):
            return self.announce_every
        return DEFAULT_OFFER_EVERY if self.callback else 0


class WaitingRoom:
    """Runs the wait of each queued caller (``hold``) for ``CallCenter``."""

    def __init__(self, center, callbacks):
        self.center = center
        self.callbacks = callbacks  # has ``request_callback(call) -> str | None``
        self._next_round: dict[str, float] = {}  # call id -> when to announce next

    def forget(self, call_id: str) -> None:
        self._next_round.pop(call_id, None)

    async def hold(self, session, call) -> bool:
        """Keep the caller waiting until the router offers the call to an agent, the
        call overflows or ends. True: the caller asked for a callback and was hung up
        (nothing more to do on this session)."""
        center = self.center
        plan = WaitPlan.of(getattr(call, "wait", None), center.settings.routing)
        poll = str(center.settings.routing.queue_poll_ms)
        await session.command("SET MUSIC", "on", plan.moh)
        every = plan.every
        if every and call.call_id not in self._next_round:
            self._next_round[call.call_id] = center.now() + every
        while not self._leave(call):
            result = await session.command("WAIT FOR DIGIT", poll)
            pressed = self._digit(result)
            if plan.callback and pressed == plan.callback_digit:
                if await self._offer_callback(session, call, plan):
                    return True
                continue
            due = self._next_round.get(call.call_id)
            if every and due is not None and center.now() >= due:
                self._next_round[call.call_id] = center.now() + every
                pressed = await self._announce(session, call, plan)
                if pressed is not None and plan.callback and pressed == plan.callback_digit:
                    if await self._offer_callback(session, call, plan):
                        return True
                    continue
                if not self._leave(call):
                    await session.command("SET MUSIC", "on", plan.moh)
        return False

    @staticmethod
    def _leave(call) -> bool:
        return call.ended or call.offer is not None or bool(call.overflow)

    @staticmethod
    def _digit(result) -> str | None:
        """The key a caller pressed (a result of ``WAIT FOR DIGIT``, ``STREAM FILE``,
        ``SAY NUMBER``...), if any. A caller who hung up gets ``-1`` here, then the
        session fails the next commands with ``AGIHangup`` once Asterisk's ``HANGUP``
        line is in."""
        value = result.result
        if value and value.isdigit() and int(value) > 0:
            return chr(int(value))
        return None

    async def _play(self, session, call, escape: str, *words: str) -> str | None:
        """One prompt or number; the key pressed during it, if any. A ``-1`` (a
        missing sound file, or the caller gone) is not fatal here: the next
        ``WAIT FOR DIGIT`` tells which."""
        if self._leave(call):
            return None
        return self._digit(await session.command(*words, escape))

    async def _announce(self, session, call, plan: WaitPlan) -> str | None:
        """Position, estimated wait and callback offer; stops at a key (returned) or
        as soon as an agent is found."""
        center = self.center
        escape = plan.callback_digit if plan.callback else ""
        await session.command("SET MUSIC", "off")
        steps: list[tuple[str, ...]] = []
        if plan.announce_position:
            position = center.router.position(call.call_id)
            if position == 1:
                steps.append(("STREAM FILE", YOU_ARE_NEXT))
            elif position > 1:
                steps += [("STREAM FILE", THERE_ARE), ("SAY NUMBER", str(position - 1)),
                          ("STREAM FILE", CALLS_WAITING)]
        if plan.announce_wait:
            seconds = self.estimate(call)
            if seconds is not None:
                minutes = max(1, math.ceil(seconds / 60))
                steps.append(("STREAM FILE", HOLD_TIME))
                if seconds < 60:
                    steps.append(("STREAM FILE", LESS_THAN))
                steps += [("SAY NUMBER", str(minutes)),
                          ("STREAM FILE", MINUTE if minutes == 1 else MINUTES)]
        if plan.callback and self._callback_possible(call):
            steps.append(("STREAM FILE", CALLBACK_OFFER))
        for step in steps:
            pressed = await self._play(session, call, escape, *step)
            if pressed is not None:
                return pressed
        return None

    def estimate(self, call) -> float | None:
        from callcenter.center import DEFAULT_AHT_S

        center = self.center
        _, rolling = center.stats.figures(call.queue, center.now())
        return center.router.estimate(call.call_id, rolling["aht_s"] or DEFAULT_AHT_S)

    @staticmethod
    def _callback_possible(call) -> bool:
        return bool(call.caller_number) and any(c.isdigit() for c in call.caller_number)

    async def _offer_callback(self, session, call, plan: WaitPlan) -> bool:
        """The caller pressed the callback key: say the number they will be called
        at, ask to confirm, record the callback and hang up. False: they keep
        waiting on the line (no number, not confirmed, or an agent became free)."""
        if not self._callback_possible(call) or self._leave(call):
            return False
        await session.command("SET MUSIC", "off")
        digits = "".join(c for c in call.caller_number if c.isdigit())
        await self._play(session, call, "", "STREAM FILE", CALLBACK_NUMBER)
        await self._play(session, call, "", "SAY DIGITS", digits)
        if self._leave(call):
            return False
        answer = await session.command("GET DATA", CALLBACK_CONFIRM, str(CONFIRM_TIMEOUT_MS),
                                       "1")
        # Anything but "1" (another key, nothing, -1 for a missing prompt or a caller
        # gone) keeps the caller waiting; a hang-up shows at the next WAIT FOR DIGIT.
        if (answer.result or "").strip() != "1" or self._leave(call):
            log.info("call {call_id}: callback not confirmed; the caller keeps waiting",
                     call_id=call.call_id)
            await session.command("SET MUSIC", "on", plan.moh)
            return False
        callback_id = self.callbacks.request_callback(call)
        if callback_id is None:
            await session.command("SET MUSIC", "on", plan.moh)
            return False
        self.forget(call.call_id)
        try:
            await session.command("STREAM FILE", CALLBACK_REGISTERED, "")
        finally:
            await session.command("HANGUP")
        return True
