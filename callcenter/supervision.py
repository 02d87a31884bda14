"""The supervisor wallboard's push messages, made from plain dicts.

No Twisted, no clock, no routing internals: the core hands in what it knows (one
dict per queue, one row per agent, today's half-hour slots) with ``now``, and gets
back the ``queue_stats``, ``agents`` and ``halfhours`` messages of the console
protocol (``docs/websocket.md``)::

    board = Wallboard()
    for message in board.update(queues, agents, now=clock.seconds()):
        hub.push_role("supervisor", message)

``update`` returns only the messages whose content changed since the last call (the
``at`` field aside), so the core may call it on every event or every second.

A queue dict has ``name`` and, for each figure, either the figure or what it is
computed from:

- ``waiting`` and ``longest_wait_s``, or ``waiting_since``: the enqueue times of the
  calls waiting now;
- ``service_level`` (0..1), or ``answered_in_sl`` with ``answered`` and ``abandoned``
  (answered within the target over every call that left the queue);
- ``asa_s``, or ``answer_wait_s`` (the sum of the waits of answered calls) with
  ``answered``;
- ``abandon_rate`` (0..1), or ``abandoned`` with ``answered``.

Figures that cannot be known (nothing answered yet) are ``None``.

An agent row has ``id``, ``name`` (else ``display_name``, else ``username``),
``state`` (``logged_out``, ``ready``, ``not_ready``, ``reserved``, ``on_call``,
``wrap_up``), ``reason``, ``since``, ``call_id``, ``customer``, ``calls_handled`` and
``queues`` (the names of the queues the agent works, used for the tile counts).

The ``halfhours`` message is made from ``routing.stats.HalfHours.today()`` and, per
queue, ``name``, ``target`` (the service level aimed at, 0..1) and ``threshold_s``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["AGENT_STATES", "STATE_GROUP", "Wallboard", "agents_message", "halfhours_message",
           "queue_stats_message"]

AGENT_STATES = ("logged_out", "ready", "not_ready", "reserved", "on_call", "wrap_up")

# Which tile counter an agent state adds to; logged-out agents count nowhere.
STATE_GROUP = {
    "ready": "ready",
    "reserved": "busy",
    "ringing": "busy",
    "on_call": "busy",
    "wrap_up": "wrap_up",
    "not_ready": "not_ready",
}

# Grid order: who needs a look first.
_GRID_ORDER = {"on_call": 0, "reserved": 1, "wrap_up": 2, "ready": 3, "not_ready": 4, "logged_out": 5}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return float(value)


def _count(value: Any) -> int:
    number = _number(value)
    return max(0, int(number)) if number is not None else 0


def _ratio(part: float, whole: float) -> float | None:
    if whole <= 0:
        return None
    return round(min(1.0, max(0.0, part / whole)), 4)


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(max(0.0, value), 1)


def _queue(data: Mapping[str, Any], counts: dict[str, int], now: float) -> dict[str, Any]:
    since = data.get("waiting_since")
    if isinstance(since, Iterable) and not isinstance(since, str | bytes | Mapping):
        times = [t for t in (_number(x) for x in since) if t is not None]
        waiting = len(times)
        longest = now - min(times) if times else 0.0
    else:
        waiting = _count(data.get("waiting"))
        longest = _number(data.get("longest_wait_s")) or 0.0

    answered = _count(data.get("answered"))
    abandoned = _count(data.get("abandoned"))

    service_level = _number(data.get("service_level"))
    if service_level is None and "answered_in_sl" in data:
        service_level = _ratio(_count(data.get("answered_in_sl")), answered + abandoned)
    elif service_level is not None:
        service_level = round(min(1.0, max(0.0, service_level)), 4)

    asa = _number(data.get("asa_s"))
    if asa is None and "answer_wait_s" in data and answered:
        asa = (_number(data.get("answer_wait_s")) or 0.0) / answered

    abandon_rate = _number(data.get("abandon_rate"))
    if abandon_rate is None and ("abandoned" in data or "answered" in data):
        abandon_rate = _ratio(abandoned, answered + abandoned)
    elif abandon_rate is not None:
        abandon_rate = round(min(1.0, max(0.0, abandon_rate)), 4)

    return {
        "name": str(data.get("name") or ""),
        "waiting": waiting,
        "longest_wait_s": _seconds(longest) if waiting else 0.0,
        "service_level": service_level,
        "asa_s": _seconds(asa),
        "abandon_rate": abandon_rate,
        "agents": counts,
    }


def _agent(row: Mapping[str, Any]) -> dict[str, Any]:
    state = str(row.get("state") or "logged_out")
    name = row.get("name") or row.get("display_name") or row.get("username") or ""
    raw_id = row.get("id")
    try:
        agent_id: int | str = int(raw_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        agent_id = str(raw_id)
    call_id = row.get("call_id")
    customer = row.get("customer")
    return {
        "id": agent_id,
        "name": str(name),
        "state": state,
        "reason": str(row.get("reason") or ""),
        "since": _number(row.get("since")),
        "call_id": str(call_id) if call_id else None,
        "customer": str(customer) if customer else None,
        "calls_handled": _count(row.get("calls_handled")),
    }


def _queues_of(row: Mapping[str, Any]) -> list[str]:
    queues = row.get("queues") or ()
    if isinstance(queues, str):
        return [queues]
    return [str(q) for q in queues]


def queue_stats_message(
    queues: Iterable[Mapping[str, Any]], agents: Iterable[Mapping[str, Any]], *, now: float
) -> dict[str, Any]:
    """The ``queue_stats`` push: one entry per queue, in the order given."""
    queue_list = [q for q in queues if isinstance(q, Mapping) and q.get("name")]
    counts = {
        str(q["name"]): {"ready": 0, "busy": 0, "wrap_up": 0, "not_ready": 0} for q in queue_list
    }
    for row in agents:
        group = STATE_GROUP.get(str(row.get("state") or ""))
        if group is None:
            continue
        for name in _queues_of(row):
            if name in counts:
                counts[name][group] += 1
    return {
        "type": "queue_stats",
        "queues": [_queue(q, counts[str(q["name"])], now) for q in queue_list],
        "at": now,
    }


def agents_message(agents: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``agents`` push: every agent, busiest states first, then by name."""
    rows = [_agent(r) for r in agents if isinstance(r, Mapping)]
    rows.sort(key=lambda a: (_GRID_ORDER.get(a["state"], 9), a["name"].casefold(), str(a["id"])))
    return {"type": "agents", "agents": rows}


_SLOT_FIELDS = ("offered", "answered", "answered_in_sl", "abandoned", "short_abandoned")
TOTAL = "All queues"


def _slot_rows(slots: Mapping[int, Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for index in sorted(slots):
        c = slots[index]
        answered, abandoned = _count(c.get("answered")), _count(c.get("abandoned"))
        rows.append({
            "slot": int(index),
            "offered": _count(c.get("offered")),
            "answered": answered,
            "abandoned": abandoned,
            "service_level": _ratio(_count(c.get("answered_in_sl")), answered + abandoned),
        })
    return rows


def halfhours_message(
    today: Mapping[str, Any], queues: Iterable[Mapping[str, Any]], *, now: float
) -> dict[str, Any]:
    """The ``halfhours`` push: today's offered / answered / abandoned and service level
    per half hour, for each queue in the order given and for all of them together
    (whose target is the mean of the queues' targets)."""
    by_queue = today.get("queues") or {}
    entries, targets = [], []
    total: dict[int, dict[str, int]] = {}
    for q in queues:
        name = str(q.get("name") or "")
        if not name:
            continue
        slots = by_queue.get(name) or {}
        for index, counts in slots.items():
            into = total.setdefault(int(index), dict.fromkeys(_SLOT_FIELDS, 0))
            for f in _SLOT_FIELDS:
                into[f] += _count(counts.get(f))
        target = _number(q.get("target"))
        if target is not None:
            targets.append(target)
        entries.append({"name": name, "target": target,
                        "threshold_s": _number(q.get("threshold_s")), "slots": _slot_rows(slots)})
    day = int(today.get("day") or 0)
    thresholds = {e["threshold_s"] for e in entries}
    return {
        "type": "halfhours",
        "date": (datetime.date(1970, 1, 1) + datetime.timedelta(days=day)).isoformat(),
        "day_start": _number(today.get("day_start")),
        "slot_s": 1800,
        "slot": int(today.get("slot") or 0),
        "queues": entries,
        "total": {"name": TOTAL,
                  "target": round(sum(targets) / len(targets), 4) if targets else None,
                  "threshold_s": thresholds.pop() if len(thresholds) == 1 else None,
                  "slots": _slot_rows(total)},
        "at": now,
    }


class Wallboard:
    """Remembers the last messages sent so that only changes go out."""

    def __init__(self) -> None:
        self._last_queues: list[dict[str, Any]] | None = None
        self._last_agents: list[dict[str, Any]] | None = None
        self._last_halfhours: dict[str, Any] | None = None

    def halfhours_update(
        self, today: Mapping[str, Any], queues: Iterable[Mapping[str, Any]], *, now: float
    ) -> list[dict[str, Any]]:
        """The ``halfhours`` message if it changed since the last call (a call's outcome,
        the next half hour, a new day), else nothing."""
        message = halfhours_message(today, queues, now=now)
        content = {k: v for k, v in message.items() if k != "at"}
        if content == self._last_halfhours:
            return []
        self._last_halfhours = content
        return [message]

    def messages(
        self,
        queues: Iterable[Mapping[str, Any]],
        agents: Iterable[Mapping[str, Any]],
        *,
        now: float,
    ) -> list[dict[str, Any]]:
        """Both messages, whatever changed (for a snapshot); remembered as sent."""
        rows = list(agents)
        stats = queue_stats_message(queues, rows, now=now)
        grid = agents_message(rows)
        self._last_queues = stats["queues"]
        self._last_agents = grid["agents"]
        return [stats, grid]

    def update(
        self,
        queues: Iterable[Mapping[str, Any]],
        agents: Iterable[Mapping[str, Any]],
        *,
        now: float,
    ) -> list[dict[str, Any]]:
        """The messages whose content changed since the last call."""
        rows = list(agents)
        stats = queue_stats_message(queues, rows, now=now)
        grid = agents_message(rows)
        out = []
        if stats["queues"] != self._last_queues:
            self._last_queues = stats["queues"]
            out.append(stats)
        if grid["agents"] != self._last_agents:
            self._last_agents = grid["agents"]
            out.append(grid)
        return out

    def snapshot(
        self,
        queues: Iterable[Mapping[str, Any]],
        agents: Iterable[Mapping[str, Any]],
        *,
        now: float,
    ) -> dict[str, Any]:
        """What ``supervisor_snapshot()`` returns: ``queues``, ``agents``, ``at``;
        remembers nothing."""
        rows = list(agents)
        stats = queue_stats_message(queues, rows, now=now)
        return {"queues": stats["queues"], "agents": agents_message(rows)["agents"], "at": now}
