"""Live statistics per queue and agent: pure, fed with outcomes and ``now``.

Figures are kept in one-minute buckets keyed by the absolute minute, so the rolling
window (the current minute and the 14 before) runs straight through midnight, and in
per-day totals keyed by the day (``utc_offset_s`` says where a day starts): at
midnight the day figures start again while the rolling ones carry on. A call counts
on the day and minute of its outcome (answered or abandoned).

- service level: answered within the queue's threshold / (answered + abandoned after
  the short-abandon threshold);
- ASA: mean wait of answered calls; AHT: mean talk + hold + wrap-up of handled calls;
- abandon rate: abandoned (not short) / (answered + abandoned (not short));
- occupancy (all agents): time working contacts / (that + time ready).

``HalfHours`` keeps today's calls per queue in half-hour slots of the local day (for
the wallboard's charts); at midnight it starts again with an empty day.
"""

from __future__ import annotations

from collections import Counter

from callcenter.events import AgentStateChanged, QueueStatsUpdated
from routing.agents import BUSY_STATES, State

__all__ = ["HalfHours", "Stats", "queue_updates", "SLOT_S", "WINDOW_MINUTES"]

WINDOW_MINUTES = 15
_DAY = 86400.0
_BUSY = frozenset(s.value for s in BUSY_STATES)
_ALL = "*"
SLOT_S = 1800.0  # a half hour


class Stats:
    def __init__(self, queues, *, utc_offset_s: float = 0.0):
        """``queues``: ``QueueConfig``s (thresholds)."""
        self.queues = {q.name: q for q in queues}
        self.offset = utc_offset_s
        self._minutes: dict[int, dict[str, Counter]] = {}
        self._days: dict[int, dict[str, Counter]] = {}
        self._agents: dict[str, tuple[str, float]] = {}  # agent -> (state, since)
        self.halfhours = HalfHours(utc_offset_s=utc_offset_s)

    # ---------------------------------------------------------------- input

    def call_answered(self, queue: str, wait_s: float, now: float) -> None:
        cfg = self.queues.get(queue)
        within = cfg is not None and wait_s <= cfg.service_level_s
        self._add(queue, now, offered=1, answered=1, answered_in_sl=int(within), wait_s=wait_s)
        self.halfhours.add(queue, now, offered=1, answered=1, answered_in_sl=int(within))

    def call_abandoned(self, queue: str, wait_s: float, now: float) -> None:
        cfg = self.queues.get(queue)
        short = cfg is not None and wait_s < cfg.short_abandon_s
        outcome = {"short_abandoned": 1} if short else {"abandoned": 1}
        self._add(queue, now, offered=1, **outcome)
        self.halfhours.add(queue, now, offered=1, **outcome)

    def call_handled(self, queue: str, handle_s: float, now: float) -> None:
        """Talk + hold + wrap-up of one call, once its wrap-up is over."""
        self._add(queue, now, handled=1, handle_s=handle_s)

    def agent_changed(self, e: AgentStateChanged) -> None:
        before = self._agents.get(e.agent_id)
        if before is not None:
            self._interval(before[0], before[1], e.at)
        if e.state == State.LOGGED_OUT.value:
            self._agents.pop(e.agent_id, None)
        else:
            self._agents[e.agent_id] = (e.state, e.at)

    # --------------------------------------------------------------- output

    def figures(self, queue: str, now: float) -> tuple[dict, dict]:
        """(day so far, rolling 15 minutes) for ``queue``."""
        minute = self._minute(now)
        self._prune(minute)
        day = Counter(self._days.get(self._day(now), {}).get(queue, ()))
        rolling = Counter()
        for m in range(minute - WINDOW_MINUTES + 1, minute + 1):
            rolling.update(self._minutes.get(m, {}).get(queue, ()))
        occupancy_day = Counter(self._days.get(self._day(now), {}).get(_ALL, ()))
        occupancy_rolling = Counter()
        for m in range(minute - WINDOW_MINUTES + 1, minute + 1):
            occupancy_rolling.update(self._minutes.get(m, {}).get(_ALL, ()))
        window_start = (minute - WINDOW_MINUTES + 1) * 60.0 - self.offset
        day_start = self._day(now) * _DAY - self.offset
        for state, since in self._agents.values():
            key = "busy_s" if state in _BUSY else "ready_s" if state == "ready" else None
            if key:
                occupancy_day[key] += now - max(since, day_start)
                occupancy_rolling[key] += now - max(since, window_start)
        return _derive(day, occupancy_day), _derive(rolling, occupancy_rolling)

    # ------------------------------------------------------------- inside

    def _minute(self, t: float) -> int:
        return int((t + self.offset) // 60)

    def _day(self, t: float) -> int:
        return int((t + self.offset) // _DAY)

    def _add(self, queue: str, t: float, **values) -> None:
        for store, key in ((self._minutes, self._minute(t)), (self._days, self._day(t))):
            counter = store.setdefault(key, {}).setdefault(queue, Counter())
            counter.update(values)

    def _interval(self, state: str, start: float, end: float) -> None:
        key = "busy_s" if state in _BUSY else "ready_s" if state == "ready" else None
        if key is None or end <= start:
            return
        t = start
        while t < end:  # split at minute boundaries: buckets and days stay exact
            edge = min(end, (self._minute(t) + 1) * 60.0 - self.offset)
            self._add(_ALL, t, **{key: edge - t})
            t = edge

    def _prune(self, minute: int) -> None:
        for m in [m for m in self._minutes if m <= minute - WINDOW_MINUTES]:
            del self._minutes[m]
        today = (minute * 60) // int(_DAY)
        for d in [d for d in self._days if d < today - 1]:
            del self._days[d]


class HalfHours:
    """Today's calls per queue in half-hour slots of the local day.

    A call counts in the slot of its outcome (answered or abandoned), like the day
    figures of ``Stats``. Slot ``i`` starts ``i * 30`` minutes after local midnight
    (``utc_offset_s`` east of UTC). Only today is kept: the first outcome or reading
    of a new day drops yesterday's slots, and an outcome dated before today (reported
    late) is ignored rather than counted in today's chart.
    """

    FIELDS = ("offered", "answered", "answered_in_sl", "abandoned", "short_abandoned")

    def __init__(self, *, utc_offset_s: float = 0.0):
        self.offset = utc_offset_s
        self._day: int | None = None
        self._slots: dict[str, dict[int, Counter]] = {}  # queue -> slot -> counts

    def add(self, queue: str, now: float, **counts: int) -> None:
        day, slot = self.where(now)
        if not self._roll(day):
            return
        self._slots.setdefault(queue, {}).setdefault(slot, Counter()).update(counts)

    def where(self, t: float) -> tuple[int, int]:
        """(local day number, slot 0..47) of the time ``t``."""
        local = t + self.offset
        return int(local // _DAY), int((local % _DAY) // SLOT_S)

    def today(self, now: float) -> dict:
        """``day`` (days since 1970-01-01, local), ``day_start`` (epoch seconds of
        local midnight), ``slot`` (the current one) and ``queues``: queue -> slot ->
        counts (``FIELDS``, zeros included), only for slots that saw a call."""
        day, slot = self.where(now)
        self._roll(day)
        queues = {
            queue: {i: {f: int(c[f]) for f in self.FIELDS} for i, c in sorted(slots.items())}
            for queue, slots in self._slots.items()
        } if self._day == day else {}
        return {"day": day, "day_start": day * _DAY - self.offset, "slot": slot,
                "queues": queues}

    def _roll(self, day: int) -> bool:
        """Move on to ``day`` if it is later; False if ``day`` is already past."""
        if self._day is None or day > self._day:
            self._day = day
            self._slots = {}
        return day == self._day


def _derive(c: Counter, occupancy: Counter) -> dict:
    answered, abandoned = c["answered"], c["abandoned"]
    counted = answered + abandoned
    busy, ready = occupancy["busy_s"], occupancy["ready_s"]
    return {
        "offered": c["offered"],
        "answered": answered,
        "abandoned": abandoned,
        "short_abandoned": c["short_abandoned"],
        "service_level": round(c["answered_in_sl"] / counted, 4) if counted else None,
        "asa_s": round(c["wait_s"] / answered, 2) if answered else None,
        "aht_s": round(c["handle_s"] / c["handled"], 2) if c["handled"] else None,
        "abandon_rate": round(abandoned / counted, 4) if counted else None,
        "occupancy": round(busy / (busy + ready), 4) if busy + ready > 0 else None,
    }


def queue_updates(router, stats: Stats, now: float) -> list[QueueStatsUpdated]:
    """One ``QueueStatsUpdated`` per queue: live counts from the router, figures from
    ``stats``."""
    out = []
    for name in router.queues:
        waiting = router.waiting_in(name)
        longest = max((now - w.queued_at for w in waiting), default=0.0)
        day, rolling = stats.figures(name, now)
        out.append(QueueStatsUpdated(name, now, len(waiting), round(longest, 1),
                                     router.agents_by_state(name), day, rolling))
    return out
