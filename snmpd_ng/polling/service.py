"""The polling service: schedules every target and job, and fans results out to consumers.

Wiring: the scheduler calls a `JobPoller` per target and job at each slot. The poller's result is
published on the result bus, where each consumer (the cache and the metrics now) has its own
bounded queue. The daemon builds one service, starts it, reloads it on SIGHUP, serves
`collector()` on /metrics and calls `is_ready()` for /readyz.
"""

from __future__ import annotations

import time

import structlog
from prometheus_client.registry import Collector

from snmpd_ng.cache.base import CacheKey
from snmpd_ng.cache.memory import MemoryCache
from snmpd_ng.clock import Clock, LoopClock
from snmpd_ng.config.model import DaemonConfig, TargetConfig
from snmpd_ng.metrics.collector import PollingMetrics
from snmpd_ng.metrics.health import PipelineStats
from snmpd_ng.metrics.naming import CounterNaming
from snmpd_ng.polling.interfaces import ManagerLike
from snmpd_ng.polling.poller import JobPoller, TargetState, Timer
from snmpd_ng.polling.queues import Delivery, ResultBus
from snmpd_ng.polling.ratelimit import LogRateLimiter
from snmpd_ng.polling.result import PollResult
from snmpd_ng.polling.scheduler import ConcurrencyLimit, RunFunction, ScheduleKey, Scheduler

log = structlog.get_logger(__name__)


class PollingService:
    """Polls every configured target and job, and keeps the results for /metrics and the cache.

    `clock` defaults to the running loop's clock; tests pass a fake one. `timer` measures the
    duration of each run (time.perf_counter, with sub-microsecond resolution, by default).
    `counter_naming` picks how SNMP counters are exposed (see
    `snmpd_ng.metrics.naming.CounterNaming`).
    """

    def __init__(self, config: DaemonConfig, manager: ManagerLike, *, clock: Clock | None = None,
                 timer: Timer = time.perf_counter,
                 counter_naming: CounterNaming = "object") -> None:
        self._config = config
        self._manager = manager
        self._clock: Clock = clock if clock is not None else LoopClock()
        self._timer = timer
        self._cache = MemoryCache(self._clock)
        self._scheduler = Scheduler(self._clock,
                                    ConcurrencyLimit(config.scheduler.max_concurrent_polls),
                                    config.scheduler.jitter)
        self.bus: ResultBus[PollResult] = ResultBus(config.scheduler.results_queue_size,
                                                    _result_key, self._clock)
        self._metrics = PollingMetrics(self._clock, self._pipeline_stats, counter_naming)
        self._pollers: dict[ScheduleKey, JobPoller] = {}
        self._targets: dict[str, TargetConfig] = {}
        self._target_states: dict[str, TargetState] = {}
        self._attempted: set[str] = set()
        self._failure_log = LogRateLimiter(self._clock)

        self.bus.subscribe("cache", self._cache_result, Delivery.COALESCE)
        self.bus.subscribe("metrics", self._metrics.handle, Delivery.COALESCE)

    @property
    def cache(self) -> MemoryCache:
        return self._cache

    async def start(self) -> None:
        """Start the consumers and one schedule per target and job."""
        self.bus.start()
        for target in self._config.targets:
            self._add_target(target)
        log.info("polling started", targets=len(self._targets), schedules=len(self._pollers))

    async def stop(self) -> None:
        """Cancel every schedule (and the runs in progress), then the consumers."""
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
        """Tell whether every configured target has finished at least one poll attempt."""
        return all(name in self._attempted for name in self._targets)

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
                               timer=self._timer)
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
            await self.bus.publish(result)
        return run

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
