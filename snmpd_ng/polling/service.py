"""The polling service: schedules every target and job, and fans results out to consumers.

Wiring: the scheduler calls a `JobPoller` per target and job at each slot. The poller's result is
published on the result bus, where each consumer (the cache and the metrics now) has its own
bounded queue. The daemon builds one service, starts it, reloads it on SIGHUP, serves
`collector()` on /metrics and calls `is_ready()` for /readyz.

In cluster mode a `PollGate` (the cluster node) decides at each slot whether this node polls the
target: every node keeps every schedule, on slots fixed in Unix time, and polls only the targets
whose lease it holds. A target that moves away leaves this node's /metrics; one that arrives
joins it with its first poll.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from prometheus_client.registry import Collector

from snmpd_ng.cache.base import CacheKey, ResultCache
from snmpd_ng.cache.memory import MemoryCache
from snmpd_ng.clock import Clock, LoopClock
from snmpd_ng.config.model import DaemonConfig, TargetConfig
from snmpd_ng.metrics.collector import PollingMetrics
from snmpd_ng.metrics.health import PipelineStats
from snmpd_ng.metrics.naming import CounterNaming
from snmpd_ng.polling.gate import OwnershipChange, PollGate
from snmpd_ng.polling.interfaces import ManagerLike
from snmpd_ng.polling.poller import JobPoller, TargetState, Timer
from snmpd_ng.polling.queues import Delivery, ResultBus
from snmpd_ng.polling.ratelimit import LogRateLimiter
from snmpd_ng.polling.result import PollResult
from snmpd_ng.polling.scheduler import (
    ConcurrencyLimit,
    FirstSlot,
    RunFunction,
    ScheduleKey,
    Scheduler,
    aligned_first_slot,
)

log = structlog.get_logger(__name__)


class PollingService:
    """Polls every configured target and job, and keeps the results for /metrics and the cache.

    `clock` defaults to the running loop's clock; tests pass a fake one. `timer` measures the
    duration of each run (time.perf_counter, with sub-microsecond resolution, by default).
    `counter_naming` picks how SNMP counters are exposed (see
    `snmpd_ng.metrics.naming.CounterNaming`). `gate` and `cache` are cluster mode's: the
    cluster node, and the Redis cache instead of the in-process one. `max_budget` caps each poll's
    budget so that a poll ends before its lease could pass to another node.
    """

    def __init__(self, config: DaemonConfig, manager: ManagerLike, *, clock: Clock | None = None,
                 timer: Timer = time.perf_counter,
                 counter_naming: CounterNaming = "object",
                 gate: PollGate[Any] | None = None, cache: ResultCache | None = None,
                 max_budget: float | None = None) -> None:
        self._config = config
        self._manager = manager
        self._clock: Clock = clock if clock is not None else LoopClock()
        self._timer = timer
        self._gate = gate
        self._max_budget = max_budget
        self._cache: ResultCache = cache if cache is not None else MemoryCache(self._clock)
        first_slot: FirstSlot | None = None
        if gate is not None:
            first_slot = self._aligned_first_slot
            gate.add_listener(self._on_ownership_change)
            gate.set_quiet_check(self.is_quiet)
        self._scheduler = Scheduler(self._clock,
                                    ConcurrencyLimit(config.scheduler.max_concurrent_polls),
                                    config.scheduler.jitter, first_slot)
        self.bus: ResultBus[PollResult] = ResultBus(config.scheduler.results_queue_size,
                                                    _result_key, self._clock)
        self._metrics = PollingMetrics(self._clock, self._pipeline_stats, counter_naming)
        self._pollers: dict[ScheduleKey, JobPoller] = {}
        self._targets: dict[str, TargetConfig] = {}
        self._target_states: dict[str, TargetState] = {}
        self._attempted: set[str] = set()
        self._reachable: set[str] = set()
        self._ready_since_join = False
        self._catch_ups: set[asyncio.Task[None]] = set()
        self.catch_up_polls = 0
        """Cluster mode: missed slots of gained targets polled at once (see _catch_up)."""
        self.results_dropped = 0
        """Cluster mode: results dropped because the lease passed to another node mid-poll."""
        self._failure_log = LogRateLimiter(self._clock)

        self.bus.subscribe("cache", self._cache_result, Delivery.COALESCE)
        self.bus.subscribe("metrics", self._metrics.handle, Delivery.COALESCE)

    @property
    def cache(self) -> ResultCache:
        return self._cache

    async def start(self) -> None:
        """Start the consumers and one schedule per target and job."""
        self.bus.start()
        for target in self._config.targets:
            self._add_target(target)
        log.info("polling started", targets=len(self._targets), schedules=len(self._pollers))

    async def stop(self) -> None:
        """Cancel every schedule (and the runs in progress), then the consumers."""
        for task in list(self._catch_ups):
            task.cancel()
        await asyncio.gather(*self._catch_ups, return_exceptions=True)
        await self._scheduler.stop()
        await self.bus.stop()
        log.info("polling stopped")

    async def reload(self, config: DaemonConfig) -> None:
        """Apply a new configuration without losing the cache or counters of unchanged targets.

        Unchanged targets keep their schedules. A changed target is rescheduled, keeps the
        counters and series of jobs whose definition is unchanged, and loses its cache entries
        (its table definitions may have changed). A removed target loses everything. The
        manager forgets a removed target, and a target whose SNMP settings (address,
        community, timeouts, ...) changed, so that their per-target state is freed.
        """
        new_targets = {target.name: target for target in config.targets}
        self._config = config
        self._apply_settings(config)

        forgotten = 0
        for name, old in list(self._targets.items()):
            new = new_targets.get(name)
            if new is None:
                await self._remove_target(name)
            elif new != old:
                await self._replace_target(old, new)
            if new is None or new.target != old.target:
                self._manager.forget(old.target)
                forgotten += 1
        for name, target in new_targets.items():
            if name not in self._targets:
                self._add_target(target)
        log.info("polling reloaded", targets=len(self._targets), schedules=len(self._pollers),
                 forgotten=forgotten)

    def is_ready(self) -> bool:
        """Tell whether every target this node polls has finished at least one poll attempt.

        In cluster mode: whether the node is a member and, since it joined, has once tried every
        target it held. Targets it gains later (a failover, a rebalance) do not make it unready
        again, so that the surviving nodes stay in service while they take over.
        """
        if self._gate is None:
            return all(name in self._attempted for name in self._targets)
        if not self._gate.joined:
            self._ready_since_join = False
            return False
        if not self._ready_since_join:
            self._ready_since_join = all(name in self._attempted for name in self._gate.owned()
                                         if name in self._targets)
        return self._ready_since_join

    def reboot_count(self, target: str) -> int | None:
        """Return the reboots of `target` this node has seen, None for a target not configured.

        In cluster mode a target's rule state moves with the target, and its samples carry the
        old owner's count. The new owner's rules line the counts up with this one.
        """
        state = self._target_states.get(target)
        return state.reboots if state is not None else None

    def poll_totals(self) -> tuple[int, int, int]:
        """Return runs, failed runs and targets whose last run was reachable, for cluster mode."""
        runs = sum(poller.health.runs for poller in self._pollers.values())
        failed = sum(poller.health.failed_runs for poller in self._pollers.values())
        up = len(self._reachable)
        return runs, failed, up

    def collector(self) -> Collector:
        return self._metrics

    # Targets

    def _add_target(self, target: TargetConfig, keep: dict[str, JobPoller] | None = None) -> None:
        state = self._target_states.setdefault(target.name, TargetState())
        self._targets[target.name] = target
        self._metrics.set_target_labels(target.name, target.labels)
        if not target.jobs:
            self._attempted.add(target.name)

        for job in target.jobs:
            poller = JobPoller(target, job, manager=self._manager, cache=self._cache,
                               cache_config=self._config.cache, clock=self._clock,
                               target_state=state, failure_log=self._failure_log,
                               timer=self._timer, max_budget=self._max_budget)
            previous = (keep or {}).get(job.name)
            if previous is not None:
                poller.health = previous.health
            key = (target.name, job.name)
            self._pollers[key] = poller
            self._scheduler.add(key, job.interval, self._runner(poller))

    async def _remove_target(self, name: str) -> None:
        await self._stop_schedules(name)
        self._metrics.remove_target(name)
        await self._cache.invalidate_target(name, slow_only=False)
        del self._targets[name]
        self._target_states.pop(name, None)
        self._attempted.discard(name)
        self._failure_log.forget(name)

    async def _replace_target(self, old: TargetConfig, new: TargetConfig) -> None:
        previous = await self._stop_schedules(old.name)
        unchanged_jobs = [job.name for job in new.jobs if job in old.jobs]
        self._metrics.remove_target(old.name, keep_jobs=unchanged_jobs)
        await self._cache.invalidate_target(old.name, slow_only=False)
        self._add_target(new, keep={name: previous[name] for name in unchanged_jobs})

    async def _stop_schedules(self, target: str) -> dict[str, JobPoller]:
        keys = [key for key in self._pollers if key[0] == target]
        await self._scheduler.remove(keys)
        return {key[1]: self._pollers.pop(key) for key in keys}

    def _apply_settings(self, config: DaemonConfig) -> None:
        self._scheduler.limit.limit = config.scheduler.max_concurrent_polls
        self._scheduler.jitter = config.scheduler.jitter
        for poller in self._pollers.values():
            poller.cache_config = config.cache
        # NOTE: a changed results_queue_size applies at the next start of the daemon only.

    # Runs and consumers

    def _runner(self, poller: JobPoller) -> RunFunction:
        async def run(scheduled_at: float, missed: int) -> None:
            result = await poller.run(scheduled_at, missed)
            self._attempted.add(poller.target.name)
            self._note_reachable(result)
            await self.bus.publish(result)

        async def run_gated(scheduled_at: float, missed: int) -> None:
            assert self._gate is not None
            claim = self._gate.claim(poller.target.name, poller.longest_run)
            if claim is None:
                return
            try:
                result = await poller.run(scheduled_at, missed)
                kept = await self._gate.commit(claim, self._poll_record(result, claim.token))
            finally:
                self._gate.finish(claim)
            if not kept:
                self.results_dropped += 1
                return
            self._attempted.add(poller.target.name)
            self._note_reachable(result)
            await self.bus.publish(result)

        return run if self._gate is None else run_gated

    def _note_reachable(self, result: PollResult) -> None:
        if result.reachable:
            self._reachable.add(result.target)
        else:
            self._reachable.discard(result.target)

    def _poll_record(self, result: PollResult, token: int) -> dict[str, str]:
        """Return the fields of the poll's entry in the cluster's poll log (times in Unix s)."""
        offset = self._clock.wall() - self._clock.now()
        assert self._gate is not None
        return {
            "node": self._gate.node_id,
            "target": result.target,
            "job": result.job,
            "slot": f"{result.scheduled_at + offset:.3f}",
            "started": f"{result.started_at + offset:.3f}",
            "finished": f"{result.finished_wall:.3f}",
            "token": str(token),
            "ok": "1" if result.error_kind is None else "0",
            "error": result.error_kind or "",
        }

    def is_quiet(self, target: str, window: float) -> bool:
        """Tell whether no slot of the target is due within `window` seconds from now.

        A slot whose run has not started yet counts as due: its schedule's next slot is then
        in the past.
        """
        now = self._clock.now()
        for key in self._pollers:
            if key[0] != target:
                continue
            slot = self._scheduler.next_slot(key)
            if slot is not None and slot - now <= window:
                return False
        return True

    def _aligned_first_slot(self, key: ScheduleKey, interval: float, jitter: float) -> float:
        return aligned_first_slot(key, interval, jitter, self._clock.now(), self._clock.wall())

    def _on_ownership_change(self, change: OwnershipChange) -> None:
        """Drop lost targets from /metrics and readiness; label the gained ones."""
        for name in change.lost:
            if name in self._targets:
                self._metrics.remove_target(name)
            self._attempted.discard(name)
            self._reachable.discard(name)
        for name in change.gained:
            target = self._targets.get(name)
            if target is not None:
                self._metrics.set_target_labels(name, target.labels)
        gained = [poller for key, poller in self._pollers.items() if key[0] in change.gained]
        if gained:
            task = asyncio.create_task(self._catch_up(gained), name="snmpd-ng catch-up")
            self._catch_ups.add(task)
            task.add_done_callback(self._catch_ups.discard)

    async def _catch_up(self, pollers: list[JobPoller]) -> None:
        """Poll the missed slots of gained targets now, where the node that held them missed one.

        After a failover the new owner gains a target up to one lease TTL and one heartbeat
        after the old owner's last poll. The slot after the last one on record may be past by
        then, and the schedule would wait for the next one. The missed slot is polled at once
        instead, recorded under its own slot, so that no interval goes without its poll and none
        gets two. Skipped when the schedule's next slot comes within the poll's budget anyway.
        The last slots of all gained targets are read in one request, so the check comes soon
        after the takeover.
        """
        assert self._gate is not None
        keys = [(poller.target.name, poller.job.name) for poller in pollers]
        last_slots = await self._gate.last_slots(keys)
        runs = []
        for poller, key in zip(pollers, keys, strict=True):
            missed = self._missed_slot(poller, last_slots.get(key))
            if missed is not None:
                runs.append(self._limited_catch_up(poller, missed))
        await asyncio.gather(*runs)

    def _missed_slot(self, poller: JobPoller, last: float | None) -> float | None:
        """Return the slot (Unix seconds) to poll now, or None when none was missed."""
        if last is None:
            return None
        missed = last + poller.job.interval
        now, wall = self._clock.now(), self._clock.wall()
        next_slot = self._scheduler.next_slot((poller.target.name, poller.job.name))
        if missed > wall or next_slot is None or next_slot - now <= poller.longest_run:
            return None
        return missed

    async def _limited_catch_up(self, poller: JobPoller, missed: float) -> None:
        try:
            async with self._scheduler.limit:
                await self._run_catch_up(poller, missed)
        except Exception as exc:  # One failed run must not stop the others.
            log.error("missed slot poll failed", target=poller.target.name,
                      job=poller.job.name, error=repr(exc), exc_info=exc)

    async def _run_catch_up(self, poller: JobPoller, missed: float) -> None:
        assert self._gate is not None
        claim = self._gate.claim(poller.target.name, poller.longest_run)
        if claim is None:
            return
        try:
            result = await poller.run(self._clock.now(), 0)
            fields = self._poll_record(result, claim.token)
            fields["slot"] = f"{missed:.3f}"
            kept = await self._gate.commit(claim, fields)
        finally:
            self._gate.finish(claim)
        self.catch_up_polls += 1
        log.info("missed slot polled at takeover", target=poller.target.name,
                 job=poller.job.name, late_seconds=round(self._clock.wall() - missed, 3))
        if kept:
            self._attempted.add(poller.target.name)
            self._note_reachable(result)
            await self.bus.publish(result)

    async def _cache_result(self, result: PollResult) -> None:
        ttl = self._config.cache.ttl_factor * result.interval
        await self._cache.put(CacheKey(result.target, "job", result.job), result, ttl)

    def _pipeline_stats(self) -> PipelineStats:
        limit = self._scheduler.limit
        return PipelineStats(
            queues=self.bus.stats(), cache=self._cache.stats(),
            polls_in_progress=limit.in_use, max_concurrent_polls=limit.limit,
            concurrency_waits=limit.waits, schedules=len(self._pollers),
            skipped_slots=self._scheduler.skipped_total,
            type_conflicts=self._metrics.values.type_conflicts,
            name_conflicts=len(self._metrics.values.reserved_names),
        )


def _result_key(result: PollResult) -> tuple[str, str]:
    return result.key
