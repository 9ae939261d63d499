"""The metrics of alerting: alerts by state, notifications by channel, the outbox, the rules.

`AlertingCollector` renders an `AlertingSnapshot`, plain numbers that the alerting pipeline
gathers when Prometheus scrapes (snmpd_ng.alerting.pipeline). The outbox counts in it come
from the store and are refreshed by the pipeline's timer, so a scrape never waits for the
database. docs/metrics.md lists every family.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

PREFIX = "snmpd_ng_alert"

ALERT_STATES = ("pending", "firing", "acknowledged", "resolved")
SEVERITIES = ("critical", "warning", "info")
RESULTS = ("delivered", "retried", "failed")
"""Results of one send of a notification: delivered; retried, a retryable failure that the
outbox tries again later; failed, given up and dead-lettered."""
QUEUED_STATES = ("pending", "claimed")
"""Outbox states of an entry that is still to be sent."""
DEAD_STATE = "dead"


class ApiCounters(Protocol):
    """The counters of the alerts HTTP API (snmpd_ng.http.alerts.AlertApiStats)."""

    token_rejections: int
    webhook_rejections: int
    webhook_acknowledgements: int


class TrapCounters(Protocol):
    """The counters of the trap receiver (snmpd_ng.alerting.traps.TrapStats)."""

    @property
    def received(self) -> int: ...

    @property
    def by_version(self) -> Mapping[str, int]: ...

    @property
    def unauthenticated(self) -> Mapping[str, int]: ...


TRAP_COUNTERS = (
    ("malformed", "malformed", "Datagrams that do not decode as an SNMP message, or a trap "
     "without snmpTrapOID.0."),
    ("unexpected_pdus", "unexpected_pdus", "Authenticated messages that carry no trap or "
     "inform, such as a GET sent to the trap port."),
    ("rate_limited", "rate_limited", "Datagrams dropped because their source exceeded its "
     "rate limit."),
    ("traps", "accepted", "Traps and informs accepted and handed to the trap rules."),
    ("informs_acknowledged", "informs_acknowledged", "Informs acknowledged with a Response."),
    ("reports_sent", "reports_sent", "SNMPv3 reports sent back: discovery of our engine ID, "
     "and rejected informs."),
    ("discoveries", "discoveries", "SNMPv3 discovery probes answered with our engine ID."),
    ("queue_full", "queue_full_drops", "Accepted traps dropped because the trap rules had "
     "not taken the earlier ones yet."),
    ("send_errors", "send_errors", "Responses and reports that the socket failed to send."),
)
"""TrapStats attribute, metric name after `snmpd_ng_trap_` and before `_total`, HELP text.
The attributes are read with getattr, so `TrapCounters` lists only the others."""


@dataclass(frozen=True)
class AlertingSnapshot:
    """The numbers /metrics shows about alerting, read at one moment."""

    alerts: Mapping[tuple[str, str], int]
    """Alerts kept by the alert service, by (state, severity)."""
    channels: Sequence[str]
    """The configured channels, so that each shows its counters from 0."""
    notifications: Mapping[tuple[str, str], int]
    """Sends since the start, by (channel, result)."""
    outbox: Mapping[tuple[str, str], int]
    """Outbox entries by (channel, state), as of the last refresh."""
    evaluation_errors: Mapping[str, int]
    """Rule evaluations that failed, by rule."""
    render_errors: Mapping[str, int]
    """Annotation templates that failed to render, by rule."""
    signals: int = 0
    signals_rejected: int = 0
    alerts_unrouted: int = 0
    notifications_queued: int = 0
    store_queue: int = 0
    """Writes waiting for the store's thread."""
    results: int = 0
    """Poll results the rules consumer evaluated."""
    cpu_seconds: float = 0.0
    """CPU time of the rules consumer: samples, evaluation and submission, results and timer."""
    timer_errors: int = 0
    extra_rules: Sequence[str] = field(default_factory=tuple)
    """Rule names that show their error counters from 0."""
    api: ApiCounters | None = None
    """The alerts API's counters, when the daemon serves the API."""
    traps: TrapCounters | None = None
    """The trap receiver's counters, when it runs."""


class AlertingCollector(Collector):
    """Renders the snapshot that `snapshot` returns at each scrape."""

    def __init__(self, snapshot: Callable[[], AlertingSnapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snapshot = self._snapshot()
        yield _alerts(snapshot)
        yield from _notifications(snapshot)
        yield from _rules(snapshot)
        yield from _service(snapshot)
        if snapshot.api is not None:
            yield from _api(snapshot.api)
        if snapshot.traps is not None:
            yield from _traps(snapshot.traps)


def _alerts(snapshot: AlertingSnapshot) -> Metric:
    family = GaugeMetricFamily(
        "snmpd_ng_alerts", "Alerts kept by the alert service, by state and severity; resolved "
        "alerts stay until their retention ends.", labels=["state", "severity"])
    for state in ALERT_STATES:
        for severity in SEVERITIES:
            family.add_metric([state, severity], snapshot.alerts.get((state, severity), 0))
    for (state, severity), count in sorted(snapshot.alerts.items()):
        if state not in ALERT_STATES or severity not in SEVERITIES:
            family.add_metric([state, severity], count)
    return family


def _notifications(snapshot: AlertingSnapshot) -> Iterator[Metric]:
    channels = sorted({*snapshot.channels, *(key[0] for key in snapshot.notifications),
                       *(key[0] for key in snapshot.outbox)})
    sent = CounterMetricFamily(
        f"{PREFIX}_notifications", "Sends of a notification through a channel, by result: "
        "delivered, retried (to be tried again) or failed (dead-lettered).",
        labels=["channel", "result"])
    depth = GaugeMetricFamily(
        f"{PREFIX}_outbox_depth", "Notifications in the outbox still to be sent, by channel.",
        labels=["channel"])
    dead = GaugeMetricFamily(
        f"{PREFIX}_outbox_dead_letters", "Notifications in the outbox given up after a "
        "permanent failure or too many attempts, by channel.", labels=["channel"])
    for channel in channels:
        for result in RESULTS:
            sent.add_metric([channel, result], snapshot.notifications.get((channel, result), 0))
        depth.add_metric([channel], sum(snapshot.outbox.get((channel, state), 0)
                                        for state in QUEUED_STATES))
        dead.add_metric([channel], snapshot.outbox.get((channel, DEAD_STATE), 0))
    yield from (sent, depth, dead)


def _rules(snapshot: AlertingSnapshot) -> Iterator[Metric]:
    rules = sorted({*snapshot.extra_rules, *snapshot.evaluation_errors,
                    *snapshot.render_errors})
    evaluation = CounterMetricFamily(
        f"{PREFIX}_rule_evaluation_errors", "Evaluations of a rule that failed, such as a "
        "vector match with two series on one side.", labels=["rule"])
    render = CounterMetricFamily(
        f"{PREFIX}_rule_render_errors", "Annotation templates of a rule that failed to "
        "render.", labels=["rule"])
    for rule in rules:
        evaluation.add_metric([rule], snapshot.evaluation_errors.get(rule, 0))
        render.add_metric([rule], snapshot.render_errors.get(rule, 0))
    yield from (evaluation, render)
    yield CounterMetricFamily(
        f"{PREFIX}_rules_results", "Poll results the rules consumer evaluated.",
        value=snapshot.results)
    yield CounterMetricFamily(
        f"{PREFIX}_rules_cpu_seconds", "CPU seconds the rules consumer spent on poll results "
        "and on its timer.", value=snapshot.cpu_seconds)
    yield CounterMetricFamily(
        f"{PREFIX}_rules_timer_errors", "Runs of the rules timer that failed with an error.",
        value=snapshot.timer_errors)


def _service(snapshot: AlertingSnapshot) -> Iterator[Metric]:
    yield CounterMetricFamily(
        f"{PREFIX}_signals", "Rule signals (pending, firing, resolved) the alert service took.",
        value=snapshot.signals)
    yield CounterMetricFamily(
        f"{PREFIX}_signals_rejected", "Rule signals the alert service rejected: an invalid "
        "transition of the alert's state, or a signal before the service started.",
        value=snapshot.signals_rejected)
    yield CounterMetricFamily(
        f"{PREFIX}_unrouted", "Alerts that matched no route, so nobody was notified.",
        value=snapshot.alerts_unrouted)
    yield CounterMetricFamily(
        f"{PREFIX}_notifications_queued", "Notifications written to the outbox, one per "
        "channel.", value=snapshot.notifications_queued)
    yield GaugeMetricFamily(
        f"{PREFIX}_store_queue_depth", "Writes waiting for the alert store's thread.",
        value=snapshot.store_queue)


def _api(counters: ApiCounters) -> Iterator[Metric]:
    yield CounterMetricFamily(
        f"{PREFIX}_api_token_rejections", "Write requests to the alerts API rejected for a "
        "missing or wrong bearer token.", value=counters.token_rejections)
    yield CounterMetricFamily(
        f"{PREFIX}_api_webhook_rejections", "PagerDuty webhook deliveries rejected for a "
        "missing or wrong signature or a malformed body.", value=counters.webhook_rejections)
    yield CounterMetricFamily(
        f"{PREFIX}_api_webhook_acknowledgements", "PagerDuty webhook deliveries that "
        "acknowledged at least one alert.", value=counters.webhook_acknowledgements)


def _traps(counters: TrapCounters) -> Iterator[Metric]:
    yield CounterMetricFamily("snmpd_ng_trap_datagrams", "Datagrams the trap receiver got, "
                              "whatever became of them.", value=counters.received)
    versions = CounterMetricFamily("snmpd_ng_trap_datagrams_by_version", "Datagrams whose "
                                   "SNMP version could be read, by version.",
                                   labels=["version"])
    for version in ("1", "2c", "3"):
        versions.add_metric([version], counters.by_version.get(version, 0))
    yield versions
    rejected = CounterMetricFamily("snmpd_ng_trap_unauthenticated", "Messages rejected by "
                                   "the community check or the USM, by reason.",
                                   labels=["reason"])
    for reason, count in sorted(counters.unauthenticated.items()):
        rejected.add_metric([reason], count)
    yield rejected
    for attribute, name, help_text in TRAP_COUNTERS:
        yield CounterMetricFamily(f"snmpd_ng_trap_{name}", help_text,
                                  value=getattr(counters, attribute))
