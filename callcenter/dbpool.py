"""Runs store work in a thread pool so the reactor never waits on the database
(the ``pool.do(fn)`` pattern). Results come back as plain frozen dataclasses."""

from __future__ import annotations

from collections.abc import Callable

from twisted.application.service import Service
from twisted.internet import defer, threads
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool


class DBPool(Service):
    def __init__(self, reactor, store, *, threads_max: int = 4):
        self.reactor = reactor
        self.store = store
        # SQLite takes one writer at a time: a single thread avoids "database is locked".
        if str(store.engine.url).startswith("sqlite"):
            threads_max = 1
        self.pool = ThreadPool(minthreads=1, maxthreads=threads_max, name="db")
        self._tails: dict[str, list] = {}

    def startService(self):
        super().startService()
        self.pool.start()

    def stopService(self):
        super().stopService()
        self.pool.stop()

    def do(self, fn: Callable, /, *args, **kwargs) -> defer.Deferred:
        """Run ``fn(store, *args, **kwargs)`` in the pool."""
        return threads.deferToThreadPool(self.reactor, self.pool, fn, self.store, *args, **kwargs)

    def do_in_order(self, key: str, fn: Callable, /, *args, **kwargs) -> defer.Deferred:
        """Like ``do``, but work sharing ``key`` (a call id) runs one piece after
        another, in the order it was asked for, whatever the pool size."""
        entry = self._tails.get(key)
        if entry is None:
            entry = self._tails[key] = [defer.succeed(None), 0]
        entry[1] += 1
        result: defer.Deferred = defer.Deferred()

        def run(_):
            d = self.do(fn, *args, **kwargs)
            d.addBoth(deliver)
            return d

        def deliver(outcome):
            entry[1] -= 1
            if entry[1] == 0 and self._tails.get(key) is entry:
                del self._tails[key]
            if isinstance(outcome, Failure):
                result.errback(outcome)
            else:
                result.callback(outcome)
            return None

        entry[0].addBoth(run)
        return result
