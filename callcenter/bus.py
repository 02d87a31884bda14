"""The in-process event bus.

Producers ``publish`` frozen domain events (``callcenter.events``); consumers
``subscribe`` a callable to one event class. Delivery is synchronous and in
subscription order; a consumer that raises is logged and does not stop the others.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from twisted.logger import Logger

log = Logger()


class Bus:
    def __init__(self) -> None:
        self._subscribers: dict[type, list[Callable]] = defaultdict(list)

    def subscribe(self, event_type: type, handler: Callable) -> Callable[[], None]:
        """Call ``handler(event)`` for every published ``event_type``; returns an
        unsubscribe function."""
        self._subscribers[event_type].append(handler)

        def unsubscribe() -> None:
            if handler in self._subscribers[event_type]:
                self._subscribers[event_type].remove(handler)

        return unsubscribe

    def publish(self, event: object) -> None:
        for handler in list(self._subscribers.get(type(event), ())):
            try:
                handler(event)
            except Exception:
                log.failure("bus consumer {handler!r} failed on {event!r}",
                            handler=handler, event=event)


class RecordingBus(Bus):
    """A bus that also records what was produced, for tests."""

    def __init__(self) -> None:
        super().__init__()
        self.produced: list[object] = []

    def publish(self, event: object) -> None:
        self.produced.append(event)
        super().publish(event)

    def of_type(self, event_type: type) -> list:
        return [e for e in self.produced if isinstance(e, event_type)]
