"""``SimulatorService``: the simulated Asterisk as one Twisted service, plus traffic."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.logger import Logger

from callcenter.simulator.agi import tcp_connector
from callcenter.simulator.ami import AMIServerFactory
from callcenter.simulator.pbx import (
    CallerScript,
    CustomerPhone,
    Pbx,
    PhoneBehaviour,
    SimulatedCall,
    Timings,
)

log = Logger()


class Traffic:
    """Poisson arrivals of scripted callers (seeded, reproducible)."""

    def __init__(
        self,
        pbx: Pbx,
        *,
        rate: float,
        numbers: Sequence[str],
        max_calls: int | None,
        menu_weights: Mapping[str, float],
        unknown_share: float,
        patience_mean: float,
        seed: int,
        dnis: str = "8005550100",
        digits_for: Callable[[random.Random, str], Mapping[Any, Any]] | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive (calls per second)")
        self.pbx = pbx
        self.rate = rate
        self.numbers = list(numbers)
        self.max_calls = max_calls
        self.menu = list(menu_weights.items())
        self.unknown_share = unknown_share
        self.patience_mean = patience_mean
        self.dnis = dnis
        self.digits_for = digits_for  # (rng, caller number) -> CallerScript.digits
        self.rng = random.Random(seed)
        self.placed = 0
        self.open: set[SimulatedCall] = set()
        self.done: defer.Deferred = defer.Deferred()
        self._timer: Any = None
        self.stopped = False

    def start(self) -> defer.Deferred:
        self._schedule()
        return self.done

    def stop(self) -> None:
        self.stopped = True
        self.pbx.cancel(self._timer)
        self._timer = None

    def script(self) -> CallerScript:
        rng = self.rng
        if not self.numbers or rng.random() < self.unknown_share:
            number = "555" + "".join(rng.choice("0123456789") for _ in range(7))
        else:
            number = rng.choice(self.numbers)
        digits: dict[Any, Any] = {}
        if self.digits_for is not None:
            digits = dict(self.digits_for(rng, number))
        elif self.menu:
            keys = [k for k, _ in self.menu]
            weights = [w for _, w in self.menu]
            digits[0] = rng.choices(keys, weights)[0]
        patience = rng.expovariate(1.0 / self.patience_mean) if self.patience_mean > 0 else None
        return CallerScript(number=number, dnis=self.dnis, digits=digits, patience=patience)

    def _schedule(self) -> None:
        if self.stopped:
            return
        if self.max_calls is not None and self.placed >= self.max_calls:
            self._maybe_done()
            return
        self._timer = self.pbx.later(self.rng.expovariate(self.rate), self._arrive)

    def _arrive(self) -> None:
        self._timer = None
        call = self.pbx.place_call(self.script())
        self.placed += 1
        self.open.add(call)
        call.ended.addCallback(self._ended)
        self._schedule()

    def _ended(self, call: SimulatedCall) -> SimulatedCall:
        self.open.discard(call)
        self._maybe_done()
        return call

    def _maybe_done(self) -> None:
        if (
            self.max_calls is not None
            and self.placed >= self.max_calls
            and not self.open
            and not self.done.called
        ):
            self.done.callback(self.placed)


class SimulatorService(Service):
    """A fake Asterisk 22: AMI server on ``ami_host:ami_port`` and a FastAGI client
    that brings every simulated inbound call to ``agi_host:agi_port``."""

    name = "simulator"

    def __init__(
        self,
        reactor: Any,
        *,
        ami_host: str = "127.0.0.1",
        ami_port: int = 0,
        username: str = "cti",
        secret: str = "cti-secret",
        agi_host: str = "127.0.0.1",
        agi_port: int = 4573,
        phones: Mapping[str, PhoneBehaviour] | None = None,
        seed: int = 0,
        prompt_seconds: float = 1.0,
        timings: Timings | None = None,
        agi_script: str = "inbound",
        queues: Any = None,
        fallback_queue: str | None = None,
    ) -> None:
        self.reactor = reactor
        self.ami_host = ami_host
        self.ami_port = ami_port
        self.seed = seed
        if timings is None:
            timings = Timings(prompt=prompt_seconds)
        self.pbx = Pbx(
            reactor,
            agi_connect=tcp_connector(reactor),
            agi_host=agi_host,
            agi_port=agi_port,
            agi_script=agi_script,
            phones=phones or {},
            timings=timings,
            seed=seed,
            queues=queues,
            fallback_queue=fallback_queue,
        )
        self.factory = AMIServerFactory(self.pbx, username, secret)
        self.whenListening: defer.Deferred = defer.Deferred()
        self._port: Any = None
        self._retry: Any = None
        self._traffic: list[Traffic] = []

    @property
    def counters(self) -> dict[str, int]:
        return self.pbx.counters

    @property
    def originates(self) -> list[dict[str, str]]:
        """Every AMI Originate received, as its headers, oldest first."""
        return self.pbx.originates

    def startService(self) -> defer.Deferred:
        super().startService()
        self._port = self.reactor.listenTCP(self.ami_port, self.factory, interface=self.ami_host)
        self.ami_port = self._port.getHost().port
        log.info("simulated Asterisk AMI listening on {host}:{port}", host=self.ami_host,
                 port=self.ami_port)
        if not self.whenListening.called:
            self.whenListening.callback(self)
        return defer.succeed(self)

    def stopService(self) -> defer.Deferred:
        super().stopService()
        for traffic in self._traffic:
            traffic.stop()
        self.pbx.hangup_everything()
        self.kill_ami_connections()
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        port, self._port = self._port, None
        if port is None:
            return defer.succeed(None)
        return defer.maybeDeferred(port.stopListening)

    # ------------------------------------------------------------- public API

    def place_call(self, script: CallerScript, *, context: str = "inbound",
                   variables: Mapping[str, str] | None = None) -> SimulatedCall:
        """A caller dials in: ``inbound`` (FastAGI IVR, then ``Queue(${QUEUE})`` if the
        IVR set QUEUE) or ``inbound-noagi`` (straight into ``Queue(${QUEUE})``)."""
        return self.pbx.place_call(script, variables, context=context)

    def start_traffic(
        self,
        *,
        rate: float,
        numbers: Sequence[str],
        max_calls: int | None = None,
        menu_weights: Mapping[str, float] | None = None,
        unknown_share: float = 0.1,
        patience_mean: float = 60.0,
        digits_for: Callable[[random.Random, str], Mapping[Any, Any]] | None = None,
    ) -> defer.Deferred:
        """Place callers at ``rate`` per second. ``digits_for(rng, number)`` gives each
        caller's ``CallerScript.digits`` (keyed by prompt name) for a declarative IVR
        flow; without it callers press one of ``menu_weights`` at the first read."""
        traffic = Traffic(
            self.pbx,
            rate=rate,
            numbers=numbers,
            max_calls=max_calls,
            menu_weights={"1": 1, "2": 1} if menu_weights is None else menu_weights,
            unknown_share=unknown_share,
            patience_mean=patience_mean,
            seed=self.seed + len(self._traffic) + 1,
            digits_for=digits_for,
        )
        self._traffic.append(traffic)
        return traffic.start()

    def set_customer_phone(self, number: str, *, answer_after: float | None = 1.0,
                           talk_seconds: float | None = 5.0, busy: bool = False,
                           no_answer_after: float = 30.0) -> CustomerPhone:
        """How the customer's phone at ``number`` behaves when an Originate dials it
        through [outbound] (see ``CustomerPhone``)."""
        phone = CustomerPhone(number, answer_after=answer_after, talk_seconds=talk_seconds,
                              busy=busy, no_answer_after=no_answer_after)
        self.pbx.customer_phones[number] = phone
        return phone

    def set_phone(self, ext: str, behaviour: PhoneBehaviour) -> None:
        self.pbx.phones[ext] = behaviour

    def kill_ami_connections(self) -> None:
        self.factory.kill_connections()

    def stop_ami(self) -> defer.Deferred:
        """Take the AMI server away (as an Asterisk restart does) while calls go on:
        every session is dropped and the port closed until ``start_ami``."""
        self.kill_ami_connections()
        port, self._port = self._port, None
        if port is None:
            return defer.succeed(None)
        log.info("simulated Asterisk AMI stopped (calls carry on)")
        return defer.maybeDeferred(port.stopListening)

    def start_ami(self) -> None:
        """Listen again on the same port; clients resynchronise with CoreShowChannels."""
        if self._port is not None or not self.running:
            return
        try:
            self._port = self.reactor.listenTCP(self.ami_port, self.factory,
                                                interface=self.ami_host)
        except CannotListenError:
            log.info("AMI port {port} not free yet; retrying", port=self.ami_port)
            self._retry = self.reactor.callLater(0.1, self._retry_start)
            return
        log.info("simulated Asterisk AMI listening again on {host}:{port}",
                 host=self.ami_host, port=self.ami_port)

    def _retry_start(self) -> None:
        self._retry = None
        self.start_ami()
