"""The IVR flow model: what a caller hears and chooses.

For now one shape: a greeting, then a menu of single digits, each leading to a queue,
with a timeout and a retry limit; a caller who never chooses goes to the default queue
(never dropped). Richer declarative flows replace this later.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MenuChoice:
    digit: str
    label: str
    queue: str


@dataclass(frozen=True, slots=True)
class MenuFlow:
    greeting: str
    menu_prompt: str
    invalid_prompt: str
    choices: tuple[MenuChoice, ...]
    default_queue: str
    timeout_ms: int = 5000
    retries: int = 2

    def choice(self, digit: str) -> MenuChoice | None:
        for c in self.choices:
            if c.digit == digit:
                return c
        return None

    @classmethod
    def from_settings(cls, ivr) -> MenuFlow:
        return cls(
            greeting=ivr.greeting,
            menu_prompt=ivr.menu_prompt,
            invalid_prompt=ivr.invalid_prompt,
            choices=tuple(MenuChoice(o.digit, o.label, o.queue) for o in ivr.options),
            default_queue=ivr.default_queue,
            timeout_ms=ivr.menu_timeout_ms,
            retries=ivr.menu_retries,
        )
