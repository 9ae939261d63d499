"""Metrics about polling itself: per-target reachability and counters, queues, cache, scheduler.

These series stay when a target's values go stale, so a dead target shows as unreachable
instead of disappearing. Counters come from totals carried in the latest result of each job,
so they are exact even when a queue coalesced results.

The functions that add samples write to a `FamilySink`: text chunks for /metrics
(`HealthExposition`, `TextFamilies`), or prometheus-client families for a registry.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from snmpd_ng.cache.base import CacheStats
from snmpd_ng.metrics.families import FamilyIndex, FamilyLinesBuilder
from snmpd_ng.metrics.naming import TARGET_LABEL
from snmpd_ng.metrics.usm import add_usm_stats
from snmpd_ng.polling.interfaces import TargetStatsLike
from snmpd_ng.polling.queues import Delivery, QueueStats
from snmpd_ng.polling.result import PollResult

# Manager counters per target: attribute of TargetStats, metric name stem and help text. The
# manager counts a request once however often it is sent; each resend counts in `retries`.
_TARGET_STATS = (
    ("requests", "snmp_target_requests",
     "Requests sent to the target, each counted once; resends count in snmp_target_retries_total."),
    ("responses", "snmp_target_responses", "Responses accepted from the target."),
    ("timeouts", "snmp_target_timeouts",
     "Requests that got no accepted response after the first attempt and every retry."),
    ("retries", "snmp_target_retries",
     "Resends of a request after one of its attempts timed out."),
    ("malformed_responses", "snmp_target_malformed_responses",
     "Datagrams from the target that could not be decoded."),
    ("malformed_values", "snmp_target_malformed_values",
     "Varbinds whose value broke its type's encoding rules."),
    ("unexpected_source", "snmp_target_unexpected_source_responses",
     "Responses dropped because they came from another address or port."),
    ("unknown_request_id", "snmp_target_unknown_request_id_responses",
     "Responses dropped because their request-id matched no request in flight."),
    ("wrong_community", "snmp_target_wrong_community_responses",
     "Responses dropped because their community differed from the request's."),
    ("too_big", "snmp_target_too_big_responses", "Responses with error-status tooBig."),
)


@dataclass(frozen=True, slots=True)
class PipelineStats:
    """Counters of the parts between the pollers and /metrics, read when rendering."""

    queues: Sequence[QueueStats]
    cache: CacheStats
    polls_in_progress: int
    max_concurrent_polls: int
    concurrency_waits: int
    schedules: int
    skipped_slots: int
    type_conflicts: int
    name_conflicts: int = 0


class FamilySink(Protocol):
    """Destination of the samples the functions below write: prometheus-client families or text."""

    def add(self, name: str, kind: str, help_text: str, labels: Mapping[str, str],
            value: float) -> None:
        """Add a sample of the family `name`; a counter's samples are named `<name>_total`."""
        ...


class ClientFamilies:
    """prometheus-client families by name in first-use order."""

    def __init__(self) -> None:
        self._families: dict[str, Metric] = {}

    def add(self, name: str, kind: str, help_text: str, labels: Mapping[str, str],
            value: float) -> None:
        family = self._families.get(name)
        if family is None:
            family = Metric(name, help_text, kind)
            self._families[name] = family
        sample_name = name + "_total" if kind == "counter" else name
        family.samples.append(Sample(sample_name, dict(labels), float(value)))

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._families.values())


class TextFamilies(FamilyLinesBuilder):
    """Text-format families named as prometheus-client names them: counters end in `_total`."""

    def add(self, name: str, kind: str, help_text: str, labels: Mapping[str, str],
            value: float) -> None:
        family_name = name + "_total" if kind == "counter" else name
        super().add(family_name, kind, help_text, labels, value)


_JOB_PART = "job health"
_TARGET_PART = "target health"
"""Part names of the health chunks in the FamilyIndex; the target's part has an empty job."""


class HealthExposition:
    """Per-target and per-job health as text chunks, rebuilt when a job's result arrives.

    The chunks of a job come from its latest result, and those of a target from the latest
    result of any of its jobs. Only `snmp_poll_values_stale`, which changes with the clock,
    is written on every render.
    """

    def __init__(self) -> None:
        self.index = FamilyIndex()
        self._latest: dict[tuple[str, str], PollResult] = {}
        self._latest_by_target: dict[str, PollResult] = {}
        self._target_labels: dict[str, Mapping[str, str]] = {}

    def latest(self) -> list[PollResult]:
        """Return the latest result of every job."""
        return list(self._latest.values())

    def update(self, result: PollResult, labels: Mapping[str, str], unconvertible: int) -> None:
        """Rebuild the chunks of `result`'s job and target; `labels` are the target's."""
        self._latest[result.key] = result
        self._target_labels[result.target] = labels
        job_families = TextFamilies()
        add_job_health(job_families, result, {**labels, "job": result.job}, unconvertible)
        self.index.replace_part((result.target, result.job, _JOB_PART), job_families.chunks())

        latest = self._latest_by_target.get(result.target)
        if latest is None or result.finished_at >= latest.finished_at:
            self._update_target(result, labels)

    def remove(self, target: str, keep_jobs: Sequence[str] = ()) -> None:
        """Drop the chunks of `target`'s jobs, except those in `keep_jobs`."""
        for key in [key for key in self._latest if key[0] == target and key[1] not in keep_jobs]:
            del self._latest[key]
            self.index.remove_part((target, key[1], _JOB_PART))
        self._latest_by_target.pop(target, None)
        self.index.remove_part((target, "", _TARGET_PART))

        kept = [result for key, result in self._latest.items() if key[0] == target]
        labels = self._target_labels.pop(target, {TARGET_LABEL: target})
        if kept:
            self._target_labels[target] = labels
            self._update_target(max(kept, key=lambda result: result.finished_at), labels)

    def render(self, stale_jobs: set[tuple[str, str]]) -> list[bytes]:
        """Return the health families as pieces to join, the stale flag written now."""
        stale = TextFamilies()
        for target, job in list(self._latest):
            labels = self._target_labels.get(target) or {TARGET_LABEL: target}
            add_values_stale(stale, {**labels, "job": job}, (target, job) in stale_jobs)
        return [*self.index.render(), stale.render()]

    def _update_target(self, result: PollResult, labels: Mapping[str, str]) -> None:
        self._latest_by_target[result.target] = result
        target_families = TextFamilies()
        add_target_health(target_families, result, dict(labels))
        self.index.replace_part((result.target, "", _TARGET_PART), target_families.chunks())



def render_target_health(results: Iterable[PollResult],
                         base_labels: Mapping[str, Mapping[str, str]],
                         stale_jobs: set[tuple[str, str]],
                         unconvertible: Mapping[tuple[str, str], int]) -> Iterator[Metric]:
    """Yield the per-target and per-job families from the latest result of every job."""
    families = ClientFamilies()
    latest_by_target: dict[str, PollResult] = {}
    for result in results:
        labels = dict(base_labels.get(result.target) or {TARGET_LABEL: result.target})
        job_labels = {**labels, "job": result.job}
        add_job_health(families, result, job_labels,
                       unconvertible.get((result.target, result.job), 0))
        add_values_stale(families, job_labels, (result.target, result.job) in stale_jobs)
        latest = latest_by_target.get(result.target)
        if latest is None or result.finished_at >= latest.finished_at:
            latest_by_target[result.target] = result

    for target, result in latest_by_target.items():
        labels = dict(base_labels.get(target) or {TARGET_LABEL: target})
        add_target_health(families, result, labels)
    yield from families


def add_job_health(families: FamilySink, result: PollResult, labels: dict[str, str],
                   unconvertible: int) -> None:
    """Add the per-job families of `result`, except the stale flag."""
    health = result.health
    families.add("snmp_poll_duration_seconds", "gauge",
                 "Seconds the last run of the job took.", labels, health.last_duration)
    if health.last_success_wall is not None:
        families.add("snmp_poll_last_success_timestamp_seconds", "gauge",
                     "Unix time at which the last run without errors ended.", labels,
                     health.last_success_wall)
    families.add("snmp_polls", "counter", "Runs of the job.", labels, health.runs)
    families.add("snmp_poll_failures", "counter", "Runs of the job that caught an error.",
                 labels, health.failed_runs)
    families.add("snmp_poll_missed_slots", "counter",
                 "Scheduled runs skipped because the previous run overran its slot.", labels,
                 health.missed_slots)
    _add_value_counts(families, result, labels, unconvertible)
    for kind, count in sorted(health.errors.items()):
        families.add("snmp_poll_errors", "counter", "Errors caught while polling, by kind.",
                     {**labels, "kind": kind}, count)


def add_values_stale(families: FamilySink, labels: dict[str, str], stale: bool) -> None:
    families.add("snmp_poll_values_stale", "gauge",
                 "1 when some of the job's values are left out of /metrics as stale.", labels,
                 1.0 if stale else 0.0)


def _add_value_counts(families: FamilySink, result: PollResult, labels: dict[str, str],
                      unconvertible: int) -> None:
    health = result.health
    families.add("snmp_poll_malformed_values", "counter",
                 "Varbinds with a malformed value (exported when a lenient reading exists).",
                 labels, health.malformed_values)
    families.add("snmp_poll_index_errors", "counter",
                 "Table rows left out because their index did not fit the index definition.",
                 labels, health.index_errors)
    families.add("snmp_poll_unconvertible_values", "counter",
                 "Values that their configured metric type could not show.", labels,
                 unconvertible)
    for name, count in sorted(health.exception_values.items()):
        families.add("snmp_poll_exception_values", "counter",
                     "Varbinds that carried an exception (noSuchObject...) instead of a value.",
                     {**labels, "exception": name}, count)


def add_target_health(families: FamilySink, result: PollResult, labels: dict[str, str]) -> None:
    families.add("snmp_target_reachable", "gauge",
                 "1 when the target responded during its latest poll, else 0.", labels,
                 1.0 if result.reachable else 0.0)
    families.add("snmp_target_reboots", "counter",
                 "Reboots of the target seen as sysUpTime going backwards.", labels,
                 result.reboots)
    if result.stats is not None:
        _add_manager_stats(families, result.stats, labels)


def _add_manager_stats(families: FamilySink, stats: TargetStatsLike,
                       labels: dict[str, str]) -> None:
    for attribute, name, help_text in _TARGET_STATS:
        families.add(name, "counter", help_text, labels, getattr(stats, attribute))
    for status, count in sorted(stats.error_status.items()):
        families.add("snmp_target_error_status_responses", "counter",
                     "Responses with a non-zero error-status, by status name.",
                     {**labels, "status": status}, count)
    add_usm_stats(families, stats, labels)
    if stats.last_rtt is not None:
        families.add("snmp_target_last_rtt_seconds", "gauge",
                     "Round-trip time of the target's last answered request.", labels,
                     stats.last_rtt)


def render_pipeline(stats: PipelineStats) -> Iterator[Metric]:
    """Yield the families of the result queues, the cache and the scheduler."""
    families = ClientFamilies()
    add_pipeline(families, stats)
    yield from families


def add_pipeline(families: FamilySink, stats: PipelineStats) -> None:
    """Add the families of the result queues, the cache and the scheduler."""
    for queue in stats.queues:
        _add_queue(families, queue)
    _add_cache(families, stats.cache)
    _add_scheduler(families, stats)


def _add_queue(families: FamilySink, queue: QueueStats) -> None:
    labels = {"consumer": queue.consumer, "delivery": queue.delivery.value}
    families.add("snmp_results_queue_depth", "gauge", "Poll results waiting for the consumer.",
                 labels, queue.depth)
    families.add("snmp_results_queue_capacity", "gauge",
                 "Poll results the consumer's queue holds before it overflows.", labels,
                 queue.maxsize)
    families.add("snmp_results_delivered", "counter", "Poll results taken by the consumer.",
                 labels, queue.delivered)
    families.add("snmp_results_coalesced", "counter",
                 "Poll results replaced by a newer one for the same target and job.", labels,
                 queue.coalesced)
    overflow = queue.dropped if queue.delivery is Delivery.COALESCE else queue.blocked
    action = "dropped" if queue.delivery is Delivery.COALESCE else "blocked"
    families.add("snmp_results_queue_overflows", "counter",
                 "Puts into a full queue: the oldest result dropped, or the publisher blocked.",
                 {**labels, "action": action}, overflow)
    families.add("snmp_results_consumer_errors", "counter",
                 "Poll results whose consumer raised an error.", labels, queue.consumer_errors)


def _add_cache(families: FamilySink, cache: CacheStats) -> None:
    families.add("snmp_cache_entries", "gauge", "Entries in the result cache.", {},
                 cache.entries)
    families.add("snmp_cache_hits", "counter", "Cache reads that found a fresh entry.", {},
                 cache.hits)
    families.add("snmp_cache_misses", "counter", "Cache reads that found no fresh entry.", {},
                 cache.misses)
    families.add("snmp_cache_expired", "counter", "Cache entries dropped after their TTL.", {},
                 cache.expired)
    families.add("snmp_cache_invalidated", "counter",
                 "Cache entries dropped because their target rebooted or was reconfigured.", {},
                 cache.invalidated)
    if cache.shared:
        _add_shared_cache(families, cache)


def _add_shared_cache(families: FamilySink, cache: CacheStats) -> None:
    """Add the counters of cluster mode's cache in Redis."""
    families.add("snmp_cache_local_hits", "counter",
                 "Cache hits served from this node's local copy, without a Redis call.", {},
                 cache.local_hits)
    families.add("snmp_cache_decode_errors", "counter",
                 "Cache entries read from Redis that could not be decoded (counted as misses).",
                 {}, cache.decode_errors)
    families.add("snmp_cache_read_errors", "counter",
                 "Cache reads that failed because Redis failed or timed out (counted as misses).",
                 {}, cache.read_errors)
    families.add("snmp_cache_write_errors", "counter",
                 "Cache writes and invalidations that failed.", {}, cache.write_errors)
    families.add("snmp_cache_fenced_writes", "counter",
                 "Cache writes not made because another node holds the target's lease now.", {},
                 cache.fenced_writes)


def _add_scheduler(families: FamilySink, stats: PipelineStats) -> None:
    families.add("snmp_scheduler_polls_in_progress", "gauge", "Job runs in progress.", {},
                 stats.polls_in_progress)
    families.add("snmp_scheduler_max_concurrent_polls", "gauge",
                 "Job runs allowed in progress at once.", {}, stats.max_concurrent_polls)
    families.add("snmp_scheduler_concurrency_waits", "counter",
                 "Job runs that waited for a free place under max_concurrent_polls.", {},
                 stats.concurrency_waits)
    families.add("snmp_scheduler_schedules", "gauge", "Scheduled target and job pairs.", {},
                 stats.schedules)
    families.add("snmp_scheduler_skipped_slots", "counter",
                 "Slots skipped, over all schedules, because a run overran.", {},
                 stats.skipped_slots)
    families.add("snmp_metric_type_conflicts", "counter",
                 "Times polled objects gave one metric name a second type; only the samples "
                 "of one type are exported.", {}, stats.type_conflicts)
    families.add("snmp_metric_name_conflicts", "counter",
                 "Polled object names left out because the daemon's own metrics use them.", {},
                 stats.name_conflicts)
