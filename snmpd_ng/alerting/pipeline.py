"""The rules consumer of the daemon: poll results in, rule signals out to the alert service.

`RulesPipeline.handle_result` is the polling service's `alerting` consumer on the result bus,
subscribed with lossless delivery, because a rate needs every sample and a `for` timer every
evaluation (docs/decisions/0008-alerting-pipeline.md has the measurements). For each result it
builds the samples with the target's configured labels and the daemon's counter naming, so
that rules use the names and labels of /metrics (snmpd_ng.alerting.series). The `RulesEngine`
evaluates the rules that read them, and each `RuleSignal` goes to `AlertService.submit`.

A timer task calls the engine's `tick` about once a second on the daemon's clock, for
`absent_for`, rules across targets, and alerts whose data stopped arriving. The same task
refreshes the outbox counts shown on /metrics every few seconds.

In cluster mode the signals go to `signal_sink` (the Redis stream the leader's alert service
reads) instead, and `handoff` carries each target's rule state between nodes: the pipeline
waits for a target's state to load before it evaluates the target's first result on this node,
and marks the target after each result so that its state is saved.

Nothing here waits but that load: the engine takes plain data, and `submit` queues its store
write and returns. So the consumer takes each result as soon as the bus delivers it, and the
publisher waits only if this consumer falls `results_queue_size` results behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

import structlog

from snmpd_ng.alerting.backend import StoreError
from snmpd_ng.alerting.rules import Rule, RulesEngine, RuleSignal
from snmpd_ng.alerting.series import samples_from_result
from snmpd_ng.alerting.service import AlertService
from snmpd_ng.clock import Clock
from snmpd_ng.metrics.alerting import AlertingSnapshot
from snmpd_ng.metrics.naming import CounterNaming
from snmpd_ng.polling.result import PollResult
from snmpd_ng.ratelimit import WarningLimiter

log = structlog.get_logger(__name__)

TICK_INTERVAL = 1.0
"""Seconds between two calls of the engine's `tick`."""
OUTBOX_REFRESH_TICKS = 5
"""Ticks between two reads of the outbox counts from the store."""

CpuTimer = Callable[[], float]
SignalSink = Callable[[RuleSignal], None]


class TargetHandoff(Protocol):
    """Carries a target's rule state between cluster nodes (snmpd_ng.alerting.rule_sync)."""

    def wants(self, target: str) -> bool:
        """False for a target another node polls now: its late result is not evaluated here."""
        ...

    async def ready(self, target: str) -> None: ...

    def mark(self, target: str) -> None: ...


class RulesPipeline:
    """Feeds poll results to the rules engine and its signals to the alert service.

    `target_labels` maps each target's name to its configured labels. `cpu_timer` measures
    the consumer's own CPU time (`time.thread_time` by default: the CPU of the event loop's
    thread while it runs this consumer, without the store's thread).
    """

    def __init__(self, rules: Sequence[Rule], service: AlertService, clock: Clock, *,
                 target_labels: Mapping[str, Mapping[str, str]],
                 counter_naming: CounterNaming = "object",
                 tick_interval: float = TICK_INTERVAL,
                 cpu_timer: CpuTimer = time.thread_time,
                 signal_sink: SignalSink | None = None) -> None:
        self.engine = RulesEngine(rules, clock)
        self._sink: SignalSink = signal_sink if signal_sink is not None else service.submit
        self.handoff: TargetHandoff | None = None
        """Set in cluster mode, before the first result."""
        self._rule_names = tuple(rule.name for rule in rules)
        self._service = service
        self._clock = clock
        self._target_labels = dict(target_labels)
        self._counter_naming: CounterNaming = counter_naming
        self._tick_interval = tick_interval
        self._cpu_timer = cpu_timer
        self._task: asyncio.Task[None] | None = None
        self._outbox: dict[tuple[str, str], int] = {}
        self._warnings = WarningLimiter()
        self.results = 0
        self.results_dropped = 0
        """Results of targets that had moved to another cluster node when they arrived."""
        self.cpu_seconds = 0.0
        self.timer_errors = 0

    async def handle_result(self, result: PollResult) -> None:
        """Evaluate the rules over one result's samples and submit the signals (the consumer)."""
        if self.handoff is not None:
            if not self.handoff.wants(result.target):
                self.results_dropped += 1
                return
            await self.handoff.ready(result.target)
        started = self._cpu_timer()
        labels = self._target_labels.get(result.target)
        samples = samples_from_result(result, labels, self._counter_naming)
        self._submit(self.engine.observe(samples))
        if self.handoff is not None:
            self.handoff.mark(result.target)
        self.results += 1
        self.cpu_seconds += self._cpu_timer() - started

    def start(self) -> None:
        """Start the timer task."""
        self._task = asyncio.create_task(self._timer_loop(), name="alert-rules-timer")
        log.info("alert rules started", rules=len(self._rule_names),
                 targets=len(self._target_labels), tick_interval_seconds=self._tick_interval)

    async def stop(self) -> None:
        """Stop the timer task, then run the engine's timer once more for what is due."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tick()
        log.info("alert rules stopped", results=self.results,
                 cpu_seconds=round(self.cpu_seconds, 3))

    def reload(self, rules: Sequence[Rule], target_labels: Mapping[str, Mapping[str, str]]) -> None:
        """Apply new rules and target labels; resolve the alerts of removed targets and rules."""
        removed = sorted(set(self._target_labels) - set(target_labels))
        self._target_labels = dict(target_labels)
        for target in removed:
            self._submit(self.engine.forget_target(target))
        self._submit(self.engine.replace_rules(rules))
        self._rule_names = tuple(rule.name for rule in rules)
        log.info("alert rules reloaded", rules=len(rules), targets=len(target_labels),
                 targets_forgotten=len(removed))

    def snapshot(self, channels: Iterable[str]) -> AlertingSnapshot:
        """Return the numbers of the rules and the alert service for /metrics."""
        counters = self._service.counters
        return AlertingSnapshot(
            alerts=self._service.alert_counts(),
            channels=tuple(channels),
            notifications=dict(self._service.notification_results),
            outbox=dict(self._outbox),
            evaluation_errors=dict(self.engine.evaluation_errors),
            render_errors=dict(self.engine.render_errors),
            signals=counters.signals,
            signals_rejected=counters.signals_rejected,
            alerts_unrouted=counters.alerts_unrouted,
            notifications_queued=counters.notifications_queued,
            store_queue=self._service.store.queued(),
            results=self.results,
            cpu_seconds=self.cpu_seconds,
            timer_errors=self.timer_errors,
            extra_rules=self._rule_names,
        )

    async def refresh_outbox(self) -> None:
        """Read the outbox counts from the store, for the next scrapes."""
        if not self._service.is_running:
            # A cluster node that does not lead: the leader exports the outbox.
            self._outbox = {}
            return
        try:
            self._outbox = await self._service.outbox_counts()
        except StoreError as exc:
            # Redis down in cluster mode: the store reconnects by itself, and the counts of
            # the last read stay on /metrics meanwhile.
            suppressed = self._warnings.admit("outbox", self._clock.now())
            if suppressed is not None:
                log.warning("alert outbox counts not read; /metrics keeps the last ones",
                            error=str(exc), suppressed_since_last=suppressed)

    # Timer

    async def _timer_loop(self) -> None:
        due = self._clock.now()
        ticks = 0
        while True:
            due += self._tick_interval
            await self._clock.sleep_until(due)
            # After a stall (a suspended VM, a blocked loop) the timer goes on from now
            # instead of running every missed tick at once.
            due = max(due, self._clock.now() - self._tick_interval)
            try:
                self._tick()
                if ticks % OUTBOX_REFRESH_TICKS == 0:
                    await self.refresh_outbox()
            except Exception as exc:
                # One failed run must not stop the timer; the next tick tries again.
                self._count_timer_error(exc)
            ticks += 1

    def _tick(self) -> None:
        started = self._cpu_timer()
        self._submit(self.engine.tick())
        self.cpu_seconds += self._cpu_timer() - started

    def _count_timer_error(self, exc: Exception) -> None:
        self.timer_errors += 1
        suppressed = self._warnings.admit("timer", self._clock.now())
        if suppressed is not None:
            log.error("alert rules timer failed", error=str(exc), error_type=type(exc).__name__,
                      suppressed_since_last=suppressed)

    def _submit(self, signals: list[RuleSignal]) -> None:
        for signal in signals:
            self._sink(signal)
