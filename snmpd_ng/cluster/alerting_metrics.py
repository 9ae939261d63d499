"""Alerting's cluster families on /metrics: the signal stream, rule state handoff, leadership.

Each node exports its own: the signals it sent, and the rule states it saved and loaded. Only
the node that runs the alert service (the leader) has non-zero reads of the stream. The alert
and outbox families of snmpd_ng.metrics.alerting come from the leader only, since only it has
the alert service's state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

PREFIX = "snmpd_ng_cluster"


@dataclass(frozen=True)
class AlertingClusterSnapshot:
    """The numbers the collector exports, read at each scrape."""

    alert_service_active: bool
    alert_service_terms: int
    signals_published: int
    signals_dropped: int
    signals_buffered: int
    signal_batches_failed: int
    signals_received: int
    signals_applied: int
    signals_acked: int
    signal_decode_errors: int
    signal_handler_failures: int
    signals_pending: int | None
    rule_state_saves: int
    rule_state_save_failures: int
    rule_state_fenced_skips: int
    rule_state_loads: int
    rule_state_load_failures: int
    rule_states_imported: int
    results_dropped: int


class AlertingClusterCollector(Collector):
    def __init__(self, snapshot: Callable[[], AlertingClusterSnapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self._snapshot()
        yield GaugeMetricFamily(f"{PREFIX}_alert_service_active",
                                "1 while this node runs the cluster's alert service (it leads).",
                                value=1.0 if s.alert_service_active else 0.0)
        yield _counter("alert_service_terms", "Times this node took over the alert service.",
                       s.alert_service_terms)
        yield from self._signals(s)
        yield from self._rule_state(s)
        yield _counter("alert_results_dropped", "Poll results not evaluated by the rules here "
                       "because their target had moved to another node.", s.results_dropped)

    @staticmethod
    def _signals(s: AlertingClusterSnapshot) -> Iterator[Metric]:
        sent = CounterMetricFamily(f"{PREFIX}_signals_sent", "Rule signals this node sent to "
                                   "the signal stream, by result.", labels=["result"])
        sent.add_metric(["published"], s.signals_published)
        sent.add_metric(["dropped"], s.signals_dropped)
        yield sent
        yield GaugeMetricFamily(f"{PREFIX}_signals_buffered", "Rule signals waiting to be sent "
                                "to the stream (Redis slow or down).", value=s.signals_buffered)
        yield _counter("signal_batches_failed", "Batches of signals Redis did not take; they "
                       "are sent again.", s.signal_batches_failed)
        read = CounterMetricFamily(f"{PREFIX}_signals_read", "Stream entries the alert service "
                                   "read on this node, by outcome.", labels=["outcome"])
        for outcome, value in (("received", s.signals_received), ("applied", s.signals_applied),
                               ("acked", s.signals_acked), ("undecodable", s.signal_decode_errors),
                               ("handler_failed", s.signal_handler_failures)):
            read.add_metric([outcome], value)
        yield read
        if s.signals_pending is not None:
            yield GaugeMetricFamily(f"{PREFIX}_signals_pending", "Stream entries read by the "
                                    "alert service and not acknowledged yet.",
                                    value=s.signals_pending)

    @staticmethod
    def _rule_state(s: AlertingClusterSnapshot) -> Iterator[Metric]:
        saves = CounterMetricFamily(f"{PREFIX}_rule_state_saves", "Rule states of owned targets "
                                    "saved in Redis, by result.", labels=["result"])
        saves.add_metric(["saved"], s.rule_state_saves)
        saves.add_metric(["failed"], s.rule_state_save_failures)
        saves.add_metric(["fenced"], s.rule_state_fenced_skips)
        yield saves
        loads = CounterMetricFamily(f"{PREFIX}_rule_state_loads", "Rule states of gained "
                                    "targets read from Redis, by result.", labels=["result"])
        loads.add_metric(["read"], s.rule_state_loads)
        loads.add_metric(["failed"], s.rule_state_load_failures)
        loads.add_metric(["imported"], s.rule_states_imported)
        yield loads


def _counter(name: str, help_text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"{PREFIX}_{name}", help_text, value=value)
