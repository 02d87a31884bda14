"""Runs a flow as a pure state machine over AGI results.

The adapter asks ``start()`` for the first step, sends each ``Command`` over FastAGI,
and passes the result back to ``on_result(result, now)``, until a ``Finished`` step.
The runner never touches a socket or a clock. ``path`` records every node visited with
its time and input, for the contact log and the screen-pop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.flow import MenuFlow


@dataclass(frozen=True, slots=True)
class Command:
    words: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Finished:
    queue: str | None          # None: the caller hung up in the IVR
    choice: str = ""           # e.g. "2 – support"
    path: tuple = field(default_factory=tuple)

    @property
    def hung_up(self) -> bool:
        return self.queue is None


class MenuRunner:
    """greeting -> menu (GET DATA, 1 digit) -> queue; invalid or no input retries the
    menu ``retries`` times, then the default queue."""

    def __init__(self, flow: MenuFlow):
        self.flow = flow
        self.path: list[dict] = []
        self._stage = "new"
        self._attempts = 0

    def start(self, now: float) -> Command:
        self._stage = "answer"
        return Command(("ANSWER",))

    def on_result(self, result, now: float) -> Command | Finished:
        """``result`` is an AGI result (``code``, ``result``, ``timeout``)."""
        if result.code != 200 or result.result == "-1":
            return self._finish(None, now, "hangup")
        if self._stage == "answer":
            self._stage = "greeting"
            self.path.append({"step": "greeting", "at": now, "input": "", "label": "greeting"})
            return Command(("STREAM FILE", self.flow.greeting, ""))
        if self._stage in ("greeting", "invalid"):
            self._stage = "menu"
            self._attempts += 1
            return Command(("GET DATA", self.flow.menu_prompt, str(self.flow.timeout_ms), "1"))
        if self._stage == "menu":
            digits = "" if result.timeout else (result.result or "")
            choice = self.flow.choice(digits[:1]) if digits else None
            if choice is not None:
                self.path.append({"step": "menu", "at": now, "input": choice.digit,
                                  "label": choice.label})
                return self._finish(choice.queue, now, f"{choice.digit} – {choice.label}")
            self.path.append({"step": "menu", "at": now, "input": digits,
                              "label": "timeout" if not digits else "invalid"})
            if self._attempts > self.flow.retries:
                return self._finish(self.flow.default_queue, now, "no choice – default")
            self._stage = "invalid"
            return Command(("STREAM FILE", self.flow.invalid_prompt, ""))
        raise RuntimeError(f"runner already finished ({self._stage})")

    def _finish(self, queue: str | None, now: float, choice: str) -> Finished:
        self._stage = "done"
        if queue is None:
            self.path.append({"step": "hangup", "at": now, "input": "", "label": "caller hung up"})
        return Finished(queue, choice, tuple(self.path))
