"""The trap service: receiver, rules, and the hand-off of their signals to the alert lifecycle.

Start order: our SNMPv3 engine, then the sockets, then the task that feeds the rules and the
task that resolves timed-out alerts. The engine's boots are counted and written first, so no
response or report repeats an earlier (boots, time) pair. Stop runs the other way round,
and the traps still queued when the sockets close go through the rules before the tasks end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import structlog

from snmpd_ng.alerting.rules.model import RuleSignal
from snmpd_ng.alerting.traps.config import TrapSettings
from snmpd_ng.alerting.traps.decode import TrapDecoder
from snmpd_ng.alerting.traps.event import TrapEvent
from snmpd_ng.alerting.traps.limits import SourceRateLimit
from snmpd_ng.alerting.traps.local_engine import start_local_engine
from snmpd_ng.alerting.traps.receiver import TrapHandler, TrapReceiver
from snmpd_ng.alerting.traps.rules import TrapRules
from snmpd_ng.alerting.traps.stats import TrapStats
from snmpd_ng.clock import Clock, LoopClock
from snmpd_ng.security.engine import MAX_ENGINE_BOOTS
from snmpd_ng.security.receiver import LocalEngine, UserTable, UsmReceiver

log = structlog.get_logger("snmpd_ng.traps")

TICK_INTERVAL = 1.0
"""Seconds between two checks for alerts whose `resolve_after` passed."""

Submit = Callable[[RuleSignal], object]


class TrapService:
    """Receive traps and informs and turn them into `RuleSignal`s passed to `submit`.

    `submit` is the alert lifecycle's entry point; it must not block. `target_names` maps a
    source address to the name of the polled target at it, for the alerts' `target` label.
    """

    def __init__(self, settings: TrapSettings, submit: Submit, *, clock: Clock | None = None,
                 state_dir: Path | None = None, environ: Mapping[str, str] | None = None,
                 pid: int | None = None, target_names: Mapping[str, str] | None = None,
                 tick_interval: float = TICK_INTERVAL) -> None:
        self.settings = settings
        self._submit = submit
        self._clock = clock if clock is not None else LoopClock()
        self._state_dir = state_dir
        self._environ = os.environ if environ is None else environ
        self._pid = pid
        self._tick_interval = tick_interval
        self.rules = TrapRules(settings.rules, self._clock, target_names=target_names)
        self.engine: LocalEngine | None = None
        """Our SNMPv3 engine once started; None when no SNMPv3 user is configured."""
        self._stats = TrapStats()
        self._receiver: TrapReceiver | None = None
        self._events: asyncio.Queue[TrapEvent] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def stats(self) -> TrapStats:
        """A snapshot of the receiver's counters."""
        return self._stats.snapshot()

    @property
    def is_socket_activated(self) -> bool:
        """True when the sockets came from systemd's socket activation."""
        return self._receiver is not None and self._receiver.is_inherited

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The addresses the sockets are bound to, once started."""
        return list(self._receiver.addresses) if self._receiver is not None else []

    async def start(self) -> None:
        """Open the sockets and start feeding the rules. Raises TrapReceiverError or
        LocalEngineError; nothing stays open after a failed start."""
        settings = self.settings
        usm = self._start_usm()
        decoder = TrapDecoder(settings.communities, usm)
        self._events = asyncio.Queue(maxsize=settings.queue_size)
        handler = TrapHandler(decoder, SourceRateLimit(settings.rate, settings.burst),
                              self._events, self._clock, stats=self._stats)
        receiver = TrapReceiver(handler, settings.listen, settings.socket_name,
                                environ=self._environ, pid=self._pid)
        await receiver.start()
        self._receiver = receiver

        self._tasks = [asyncio.create_task(self._feed_rules(self._events), name="trap-rules"),
                       asyncio.create_task(self._tick(), name="trap-rules-tick")]
        log.info("trap receiver started", listen=[_format(address) for address in
                                                   receiver.addresses],
                 sockets_from="systemd" if self.is_socket_activated else "bind",
                 communities=len(settings.communities), users=len(settings.users),
                 rules=len(settings.rules),
                 engine_id=self.engine.engine_id.hex() if self.engine else None,
                 engine_boots=self.engine.boots if self.engine else None)

    async def stop(self) -> None:
        """Close the sockets, run the queued traps through the rules, and stop the tasks."""
        if self._receiver is not None:
            await self._receiver.stop()
        if self._events is not None:
            while not self._events.empty():
                self._apply(self._events.get_nowait())
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._receiver is not None:
            stats = self._stats
            log.info("trap receiver stopped", received=stats.received, traps=stats.traps,
                     malformed=stats.malformed,
                     unauthenticated=sum(stats.unauthenticated.values()),
                     rate_limited=stats.rate_limited)
            self._receiver = None

    def restore(self, signals: list[RuleSignal]) -> None:
        """Take back the active trap alerts that the alert store kept over a restart.

        Call it once the lifecycle has restored its alerts, with a firing signal for each
        active one. The rules then resolve them on linkUp as before, and each one taken back
        is confirmed to `submit` with a firing signal.
        """
        self._hand_over(self.rules.restore(signals))

    # Steps

    def _start_usm(self) -> UsmReceiver | None:
        """Count this start in our engine's boots; None when no SNMPv3 user is configured."""
        settings = self.settings
        if not settings.users:
            return None
        identity = start_local_engine(self._state_dir, settings.engine_id, self._clock.now())
        engine = self.engine = identity.engine
        if identity.path is None:
            log.warning("SNMPv3 engine boots not persisted", engine_id=engine.engine_id.hex(),
                        engine_id_from=identity.source,
                        hint="set state_dir, so that engineBoots survives a restart and "
                             "the engine ID stays the one devices were given")
        if engine.boots == MAX_ENGINE_BOOTS:
            log.error("SNMPv3 engine boots at maximum", engine_id=engine.engine_id.hex(),
                      hint="RFC 3414 accepts no authenticated inform then: configure a new "
                           "engine_id")
        return UsmReceiver(engine, UserTable(settings.users))

    async def _feed_rules(self, events: asyncio.Queue[TrapEvent]) -> None:
        while True:
            event = await events.get()
            self._apply(event)

    async def _tick(self) -> None:
        while True:
            await self._clock.sleep_until(self._clock.now() + self._tick_interval)
            self._hand_over(self.rules.tick())

    def _apply(self, event: TrapEvent) -> None:
        try:
            signals = self.rules.observe(event)
        except Exception:  # a rule that fails on one trap must not stop the others
            log.exception("trap rules failed", trap=event.describe())
            return
        self._hand_over(signals)

    def _hand_over(self, signals: list[RuleSignal]) -> None:
        for signal in signals:
            try:
                self._submit(signal)
            except Exception:
                log.exception("alert signal not accepted", rule=signal.rule,
                              state=signal.state)


def _format(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
