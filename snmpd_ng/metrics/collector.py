"""The metrics consumer of poll results, and the two renderings of what it keeps.

/metrics calls `render_text`, our own text exposition: the sample lines of values and health
are written when a result arrives, so a scrape joins ready-made bytes. prometheus-client
would cost about 3 us per sample on every scrape, and it cannot name a counter without
`_total`. `collect` still offers everything to a prometheus-client registry, for callers that
know no other way to render.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from snmpd_ng.clock import Clock
from snmpd_ng.metrics.families import FamilyChunk
from snmpd_ng.metrics.health import (
    HealthExposition,
    PipelineStats,
    TextFamilies,
    add_pipeline,
    render_pipeline,
    render_target_health,
)
from snmpd_ng.metrics.naming import TARGET_LABEL, CounterNaming
from snmpd_ng.metrics.snapshot import ValueSnapshot
from snmpd_ng.polling.result import PollResult


class PollingMetrics:
    """Applies poll results as they arrive and renders them on every scrape.

    `handle` is the consumer the result bus calls. The renderings never poll, wait or change
    state: they show what the last results left, plus `pipeline_stats()`, which must only read
    counters.
    """

    def __init__(self, clock: Clock, pipeline_stats: Callable[[], PipelineStats],
                 counter_naming: CounterNaming = "object") -> None:
        self.values = ValueSnapshot(clock, counter_naming)
        self.health = HealthExposition()
        self._pipeline_stats = pipeline_stats

    def set_target_labels(self, target: str, labels: dict[str, str]) -> None:
        self.values.set_target_labels(target, labels)

    async def handle(self, result: PollResult) -> None:
        values = self.values
        values.apply(result)
        labels = values.base_labels.get(result.target) or {TARGET_LABEL: result.target}
        self.health.update(result, labels, values.unconvertible.get(result.key, 0))

    def remove_target(self, target: str, keep_jobs: Sequence[str] = ()) -> None:
        """Forget the target's series and counters, except those of the jobs in `keep_jobs`."""
        self.values.remove(target, keep_jobs)
        self.health.remove(target, keep_jobs)

    def render_text(self) -> bytes:
        """Return the values, health and pipeline families in the text format 0.0.4.

        SNMP counters are typed `counter` and named as `counter_naming` says; the daemon's
        own counters end in `_total`.
        """
        values = self.values
        stale_parts = values.stale_parts()
        stale_jobs = {(key[0], key[1]) for key in stale_parts}
        pipeline = TextFamilies()
        add_pipeline(pipeline, self._pipeline_stats())
        return b"".join([*values.index.render(stale_parts),
                         *self.health.render(stale_jobs),
                         pipeline.render()])

    def describe(self) -> list[Metric]:
        # An empty description stops a registry from calling collect() at registration, and
        # lets metric names come and go with the configuration.
        return []

    def collect(self) -> Iterator[Metric]:
        """Yield the polled values, then the health and pipeline metrics, for a registry.

        prometheus-client writes every counter family as `<name>_total`, so here a counter
        named after its object (the default naming) is shown untyped, and only a counter
        already named `<object>_total` keeps its type. /metrics uses `render_text` instead.
        """
        values = self.values
        for chunks in values.families():
            yield _client_family(chunks)
        yield from render_target_health(self.health.latest(), values.base_labels,
                                        values.stale_jobs(), values.unconvertible)
        yield from render_pipeline(self._pipeline_stats())


def _client_family(chunks: list[FamilyChunk]) -> Metric:
    first = chunks[0]
    if first.type == "counter" and first.name.endswith("_total"):
        metric = Metric(first.name.removesuffix("_total"), first.help, "counter")
    elif first.type == "counter":
        metric = Metric(first.name, first.help, "unknown")
    else:
        metric = Metric(first.name, first.help, first.type)

    samples = metric.samples
    for chunk in chunks:
        for labels, value in zip(chunk.labels, chunk.values, strict=True):
            samples.append(Sample(first.name, dict(labels), float(value)))
    return metric
