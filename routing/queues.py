"""Queues and skills: what a call needs, and what an agent offers.

Skills are written ``"support:4, billing:2, lang_es:5"`` (proficiency 1 to 5; a bare
name means 1). A queue requires some skills at a minimum proficiency; a call may add
its own (a language chosen in the IVR). Expansion steps loosen what a call needs as
it waits (like a bullseye): after 30 s accept proficiency 2, after 90 s drop
``lang_es``. The call keeps its place in the queue while it expands.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["QueueConfig", "Step", "parse_skills", "format_skills", "STRATEGIES", "needs_at"]

STRATEGIES = ("longest_idle", "most_skilled", "least_occupied", "round_robin")


def parse_skills(text: str | Mapping[str, int] | None) -> dict[str, int]:
    """``"support:4, lang_es"`` -> ``{"support": 4, "lang_es": 1}``; raises ValueError
    on a malformed entry or a proficiency outside 1..5."""
    if not text:
        return {}
    if isinstance(text, Mapping):
        items = list(text.items())
    else:
        items = []
        for part in text.replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            name, _, level = part.partition(":")
            name = name.strip()
            try:
                items.append((name, int(level) if level.strip() else 1))
            except ValueError:
                raise ValueError(f"skill {part!r}: proficiency must be a number") from None
    out: dict[str, int] = {}
    for name, level in items:
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"skill name {name!r} is not a word")
        if not 1 <= int(level) <= 5:
            raise ValueError(f"skill {name}: proficiency {level} is not between 1 and 5")
        out[name] = int(level)
    return out


def format_skills(skills: Mapping[str, int]) -> str:
    return ",".join(f"{name}:{level}" for name, level in sorted(skills.items()))


@dataclass(frozen=True)
class Step:
    """After ``after_s`` seconds in the queue: cap every required proficiency at
    ``min_proficiency`` (if given) and stop requiring the skills in ``drop``."""

    after_s: float
    min_proficiency: int | None = None
    drop: frozenset[str] = frozenset()


@dataclass(frozen=True)
class QueueConfig:
    name: str
    skills: tuple[tuple[str, int], ...] = ()
    priority: int = 0
    strategy: str = "longest_idle"
    service_level_s: float = 20.0
    short_abandon_s: float = 5.0
    max_wait_s: float = 0.0  # 0: no limit
    overflow: str = ""  # another queue, "voicemail:<box>", or "" (stay)
    join_empty: bool = True
    wrapup_s: float = 5.0
    wrapup_extend_s: float = 30.0
    steps: tuple[Step, ...] = ()

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"queue {self.name}: unknown strategy {self.strategy!r}")
        if list(self.steps) != sorted(self.steps, key=lambda s: s.after_s):
            raise ValueError(f"queue {self.name}: expansion steps must be in time order")

    @classmethod
    def from_settings(cls, q) -> QueueConfig:
        """From a ``callcenter.settings.QueueSettings``."""
        return cls(
            name=q.name,
            skills=tuple(sorted(parse_skills(q.skills).items())),
            priority=q.priority,
            strategy=q.strategy,
            service_level_s=q.service_level_seconds,
            short_abandon_s=q.short_abandon_seconds,
            max_wait_s=q.max_wait_seconds,
            overflow=q.overflow,
            join_empty=q.join_empty,
            wrapup_s=q.wrapup_seconds,
            wrapup_extend_s=q.wrapup_extend_seconds,
            steps=tuple(Step(s.after_seconds, s.min_proficiency, frozenset(s.drop))
                        for s in q.expansion),
        )


def needs_at(base: Mapping[str, int], steps: Iterable[Step]) -> dict[str, int]:
    """What a call needs after the given expansion steps have applied."""
    needs = dict(base)
    for step in steps:
        if step.min_proficiency is not None:
            needs = {s: min(p, step.min_proficiency) for s, p in needs.items()}
        for skill in step.drop:
            needs.pop(skill, None)
    return needs
