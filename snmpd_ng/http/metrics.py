"""The daemon's own metrics and the rendering of /metrics.

`DaemonCollector` reads `DaemonStats` and the manager's `global_stats()` snapshot when Prometheus
scrapes; nothing here polls or waits. /metrics is the text that the polling service writes
itself (`TextExposed.render_text`: polled values and polling health), followed by
prometheus-client's rendering of `DaemonCollector` and of its process, platform and
garbage-collector collectors.
"""

from __future__ import annotations

import dataclasses
import platform
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from snmpd_ng.metrics.exposition import CONTENT_TYPE, TextExposed
from snmpd_ng.protocol import BUILD as CODEC_BUILD

PREFIX = "snmpd_ng"

# GlobalStats fields that are levels rather than running totals.
_GAUGE_FIELDS = frozenset({"targets", "in_flight", "last_rtt"})

# HELP text of the manager's metrics, by GlobalStats field. The counters match the per-target
# snmp_target_* counters, summed over every target the manager has not forgotten.
_MANAGER_HELP = {
    "targets": "Targets the manager keeps state for.",
    "requests": "Requests sent to all targets, retransmissions not included.",
    "responses": "Responses accepted from all targets.",
    "timeouts": "Requests that got no accepted response within their timeout and retries.",
    "retries": "Requests sent again after an attempt timed out.",
    "malformed_responses": "Datagrams from a target's address that could not be decoded.",
    "malformed_values": "Varbinds whose value broke its type's encoding rules.",
    "unexpected_source": "Responses dropped because they came from another address or port.",
    "unknown_request_id": "Datagrams from a target's address whose request-id matched no "
    "request waiting for a response.",
    "wrong_community": "Responses dropped because their community differed from the request's.",
    "too_big": "Responses with error-status tooBig.",
    "unmatched_datagrams": "Datagrams from an address of no target whose request-id matched no "
    "request waiting for a response.",
    "undecodable_datagrams": "Datagrams from an address of no target that could not be decoded.",
    "socket_errors": "Errors the manager's sockets reported, such as ICMP port unreachable.",
    "in_flight": "Requests waiting for a response.",
    "receive_buffer_drops": "Datagrams the kernel dropped because a manager socket's receive "
    "buffer was full.",
    "last_rtt": "Round-trip time in seconds of the last accepted response.",
}


@dataclass(slots=True)
class DaemonStats:
    """Counters and timestamps of the daemon itself; the daemon updates them in place."""

    reloads_succeeded: int = 0
    reloads_failed: int = 0
    last_reload_successful: bool = True
    """False from a rejected reload until the next successful one."""
    config_loaded_timestamp: float = 0.0
    """Unix time at which the running configuration was loaded."""
    last_reload_failure_timestamp: float | None = None
    auth_failures: int = 0
    """Requests to a protected path rejected with 401."""
    render_failures: int = 0
    """Scrapes of /metrics that failed with an error in a collector."""


def package_version() -> str:
    try:
        return metadata.version("snmpd-ng")
    except metadata.PackageNotFoundError:
        return "unknown"


class DaemonCollector(Collector):
    """Renders DaemonStats, build info and the manager's global counters."""

    def __init__(self, stats: DaemonStats, global_stats: Callable[[], object] | None) -> None:
        self._stats = stats
        self._global_stats = global_stats
        self._version = package_version()

    def collect(self) -> Iterator[Metric]:
        yield from self._build_info()
        yield from self._config_metrics()
        yield from self._http_metrics()
        if self._global_stats is not None:
            yield from manager_metrics(self._global_stats())

    def _build_info(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            f"{PREFIX}_build_info",
            "Version of snmpd-ng and of the Python that runs it, and the codec build (mypyc or "
            "python); the value is always 1.",
            labels=["version", "python_version", "python_implementation", "codec"],
        )
        labels = [self._version, platform.python_version(), platform.python_implementation(),
                  CODEC_BUILD]
        info.add_metric(labels, 1.0)
        yield info

    def _config_metrics(self) -> Iterator[Metric]:
        stats = self._stats
        reloads = CounterMetricFamily(
            f"{PREFIX}_config_reloads",
            "Config reloads (SIGHUP) by result.",
            labels=["result"],
        )
        reloads.add_metric(["success"], stats.reloads_succeeded)
        reloads.add_metric(["failure"], stats.reloads_failed)
        yield reloads
        yield GaugeMetricFamily(
            f"{PREFIX}_config_last_reload_successful",
            "1 when the last config load or reload succeeded, 0 when it was rejected.",
            value=1.0 if stats.last_reload_successful else 0.0,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_config_last_reload_success_timestamp_seconds",
            "Unix time at which the running configuration was loaded.",
            value=stats.config_loaded_timestamp,
        )
        if stats.last_reload_failure_timestamp is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}_config_last_reload_failure_timestamp_seconds",
                "Unix time of the last rejected reload.",
                value=stats.last_reload_failure_timestamp,
            )

    def _http_metrics(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            f"{PREFIX}_http_auth_failures",
            "Requests rejected with 401 for missing or wrong basic auth credentials.",
            value=self._stats.auth_failures,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_metrics_render_failures",
            "Scrapes of /metrics that failed because a collector raised an error.",
            value=self._stats.render_failures,
        )


def manager_metrics(snapshot: object) -> Iterable[Metric]:
    """Turn a manager stats snapshot (a dataclass of numbers) into metrics, field by field.

    Integer fields are counters, except those in _GAUGE_FIELDS; a dict field becomes one
    counter with a `name` label per key. Fields that are None are skipped.
    """
    if not dataclasses.is_dataclass(snapshot):
        return []
    metrics: list[Metric] = []
    for field in dataclasses.fields(snapshot):
        value = getattr(snapshot, field.name)
        name = f"{PREFIX}_manager_{field.name}"
        # NOTE: a field added to GlobalStats without a HELP entry above gets this fallback.
        help_text = _MANAGER_HELP.get(field.name, f"The manager's {field.name} counter.")
        if isinstance(value, dict):
            family = CounterMetricFamily(name, help_text, labels=["name"])
            for key, count in sorted(value.items()):
                family.add_metric([str(key)], count)
            metrics.append(family)
        elif isinstance(value, bool) or not isinstance(value, int | float):
            continue
        elif field.name in _GAUGE_FIELDS:
            metrics.append(GaugeMetricFamily(name, help_text, value=value))
        else:
            metrics.append(CounterMetricFamily(name, help_text, value=value))
    return metrics


class MetricsRegistry(CollectorRegistry):
    """A registry that keeps collectors able to write their own text out of prometheus-client.

    `register` puts a `TextExposed` collector in `text_sources` and any other collector in the
    registry. prometheus-client renders only the latter, so no sample is written twice.
    """

    def __init__(self) -> None:
        super().__init__()
        self.text_sources: list[TextExposed] = []

    def register(self, collector: Collector) -> None:
        if isinstance(collector, TextExposed):
            self.text_sources.append(collector)
        else:
            super().register(collector)

    def unregister(self, collector: Collector) -> None:
        if isinstance(collector, TextExposed):
            self.text_sources.remove(collector)
        else:
            super().unregister(collector)


def build_registry(collectors: Iterable[Collector]) -> MetricsRegistry:
    """Build the /metrics registry: `collectors` plus process, platform and GC metrics."""
    registry = MetricsRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    for collector in collectors:
        registry.register(collector)
    return registry


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    """Render the registry in the text format 0.0.4; return the body and its Content-Type.

    The format is 0.0.4 whatever the Accept header requests, because OpenMetrics requires a
    counter's samples to end in `_total` and SNMP counters keep their object names, as
    snmp_exporter exposes them. Prometheus reads 0.0.4 whatever it offered.
    """
    sources = registry.text_sources if isinstance(registry, MetricsRegistry) else []
    pieces = [source.render_text() for source in sources]
    pieces.append(generate_latest(registry))
    return b"".join(pieces), CONTENT_TYPE
