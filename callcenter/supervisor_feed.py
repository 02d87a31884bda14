"""Keeps the supervisors' wallboards current between statistics intervals.

The core pushes ``queue_stats`` and ``agents`` once per ``routing.stats_interval``.
This adapter adds, on the same link:

- a push shortly (``REFRESH_DELAY_S``) after something a tile shows changes (a call
  joins or leaves a queue, is answered, an agent changes state), so a waiting call
  appears on the wallboard at once rather than at the next interval; the events of
  that moment give one push, sent after the agents' screen-pops;
- the ``halfhours`` message (``callcenter.supervision.halfhours_message``), pushed
  when a half-hour slot changes and carried in the supervisor snapshot.

Subscriptions, in one place: see ``__init__``.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger

from callcenter import events as ev
from routing.stats import queue_updates

log = Logger()

ROLE = "supervisor"
# How long after a change the wallboards are refreshed (well under the 1 s tiles promise).
REFRESH_DELAY_S = 0.05


class SupervisorFeed:
    def __init__(self, center: Any) -> None:
        self.center = center
        self._pending: Any = None
        s = center.bus.subscribe
        for kind in (ev.CallQueued, ev.CallAnswered, ev.CallEnded, ev.AgentStateChanged):
            s(kind, self._soon)
        # After the core's own handler, which pushes queue_stats and agents.
        s(ev.AgentStatsUpdated, self.on_AgentStatsUpdated)

    # ------------------------------------------------------------------ outputs

    def halfhours(self, now: float) -> dict[str, Any]:
        """Today's ``halfhours`` message, for the supervisor snapshot."""
        from callcenter.supervision import halfhours_message

        return halfhours_message(self.center.stats.halfhours.today(now), self._targets(),
                                 now=now)

    def _targets(self) -> list[dict[str, Any]]:
        return [{"name": q.name, "target": q.service_level_target,
                 "threshold_s": q.service_level_seconds} for q in self.center.settings.queues]

    # ------------------------------------------------------------------ events

    def on_AgentStatsUpdated(self, e: ev.AgentStatsUpdated) -> None:
        self._push(self._halfhours_update(e.at))

    def _soon(self, _event: object) -> None:
        if self._pending is None or not self._pending.active():
            # A moment later rather than at once: the agent's screen-pop, sent in this
            # turn, leaves first, and a burst of events gives one push.
            self._pending = self.center.clock.callLater(REFRESH_DELAY_S, self.refresh)

    def refresh(self) -> None:
        """Publish the queues' live figures now and push whatever changed."""
        center = self.center
        self._pending = None
        if getattr(center, "_stopped", False):
            return
        now = center.now()
        try:
            for update in queue_updates(center.router, center.stats, now):
                center.bus.publish(update)
            messages = center.wallboard.update(center._wallboard_queues(),
                                               center._wallboard_agents(), now=now)
            messages += self._halfhours_update(now)
        except Exception:
            log.failure("wallboard refresh failed")
            return
        self._push(messages)

    def stop(self) -> None:
        if self._pending is not None and self._pending.active():
            self._pending.cancel()
        self._pending = None

    # ------------------------------------------------------------------ inside

    def _halfhours_update(self, now: float) -> list[dict[str, Any]]:
        return self.center.wallboard.halfhours_update(
            self.center.stats.halfhours.today(now), self._targets(), now=now)

    def _push(self, messages: list[dict[str, Any]]) -> None:
        hub = self.center.hub
        if hub is None or not hasattr(hub, "push_role"):
            return
        for message in messages:
            hub.push_role(ROLE, message)
