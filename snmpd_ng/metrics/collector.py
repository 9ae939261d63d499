"""The metrics consumer of poll results and the prometheus-client collector it serves."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client.metrics_core import Metric

from snmpd_ng.clock import Clock
from snmpd_ng.metrics.health import PipelineStats, render_pipeline, render_target_health
from snmpd_ng.metrics.naming import CounterNaming
from snmpd_ng.metrics.snapshot import ValueSnapshot
from snmpd_ng.polling.result import PollResult


class PollingMetrics:
    """Applies poll results as they arrive and renders them on every scrape.

    `handle` is the consumer the result bus calls. `collect` never polls, waits or changes
    state: it renders what the last results left, plus `pipeline_stats()`, which must only read
    counters.
    """

    def __init__(self, clock: Clock, pipeline_stats: Callable[[], PipelineStats],
                 counter_naming: CounterNaming = "object") -> None:
        self.values = ValueSnapshot(clock, counter_naming)
        self._pipeline_stats = pipeline_stats
        self._latest: dict[tuple[str, str], PollResult] = {}

    def set_target_labels(self, target: str, labels: dict[str, str]) -> None:
        self.values.set_target_labels(target, labels)

    async def handle(self, result: PollResult) -> None:
        self.values.apply(result)
        self._latest[result.key] = result

    def remove_target(self, target: str, keep_jobs: Sequence[str] = ()) -> None:
        """Forget the target's series and counters, except those of the jobs in `keep_jobs`."""
        self.values.remove(target, keep_jobs)
        for key in [key for key in self._latest if key[0] == target and key[1] not in keep_jobs]:
            del self._latest[key]

    def describe(self) -> list[Metric]:
        # An empty description stops a registry from calling collect() at registration, and
        # lets metric names come and go with the configuration.
        return []

    def collect(self) -> Iterator[Metric]:
        values = self.values
        yield from values.render()
        yield from render_target_health(list(self._latest.values()), values.base_labels,
                                        values.stale_jobs(), values.unconvertible)
        yield from render_pipeline(self._pipeline_stats())
