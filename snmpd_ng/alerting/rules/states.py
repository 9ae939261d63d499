"""The alerts of one rule in one scope, and their changes of state after each evaluation.

An alert is one series (one label set) of a rule's result. Its states, as in Prometheus:

    (none) --expr holds--> pending --held for `for`--> firing
    pending or firing --resolves--> (none), with a `resolved` signal

A rule without `for` goes straight to firing. A pending alert that resolves also gets a
`resolved` signal, so the alert lifecycle can drop it.

When an alert resolves: without `recover`, as soon as `expr` no longer yields its series.
With `recover` (hysteresis), only when `recover` yields its series, or when none of the rule's
series with its labels is current any more (the target stopped answering, or the series left
its table). Between the two thresholds, or at a counter step that gave no rate, the alert
keeps its state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from snmpd_ng.alerting.rules.evaluate import Vector
from snmpd_ng.alerting.rules.model import Rule, SignalState
from snmpd_ng.alerting.series import LabelKey


@dataclass(slots=True)
class AlertState:
    """One pending or firing alert."""

    key: LabelKey
    state: SignalState
    active_since: float
    """Clock time the alert became pending, to time `for`."""
    active_since_wall: float
    value: float
    labels: dict[str, str] = field(default_factory=dict)
    """The series' labels with the rule's labels and severity, as signals carry them."""
    annotations: dict[str, str] = field(default_factory=dict)
    """As rendered at the last change."""
    changed_at_wall: float = 0.0
    """Unix time of the last change."""


@dataclass(frozen=True, slots=True)
class Change:
    """A change of one alert's state that the engine turns into a signal."""

    alert: AlertState
    state: SignalState


Alerts = dict[LabelKey, AlertState]


def apply_result(rule: Rule, alerts: Alerts, found: Vector, recovered: Vector | None,
                 has_current_data: Callable[[LabelKey], bool], now: float,
                 wall: float) -> list[Change]:
    """Update `alerts` for one evaluation of `rule`; return the changes in order.

    `found` is what `expr` yielded, `recovered` what `recover` yielded (None without one).
    """
    changes: list[Change] = []
    for key, value in found.items():
        alert = alerts.get(key)
        if alert is None:
            alert = alerts[key] = AlertState(key, "pending", now, wall, value)
            if rule.for_seconds <= 0:
                alert.state = "firing"
            changes.append(Change(alert, alert.state))
            continue
        alert.value = value
        _promote(rule, alert, now, changes)

    for key in [key for key in alerts if key not in found]:
        alert = alerts[key]
        if recovered is None:
            changes.append(_resolve(alerts, key))
        elif key in recovered:
            alert.value = recovered[key]
            changes.append(_resolve(alerts, key))
        elif not has_current_data(key):
            changes.append(_resolve(alerts, key))
        else:
            _promote(rule, alert, now, changes)
    return changes


def resolve_without_data(alerts: Alerts, has_current_data: Callable[[LabelKey], bool]
                         ) -> list[Change]:
    """Resolve the alerts none of whose series is current any more."""
    return [_resolve(alerts, key) for key in list(alerts) if not has_current_data(key)]


def resolve_all(alerts: Alerts) -> list[Change]:
    return [_resolve(alerts, key) for key in list(alerts)]


def _promote(rule: Rule, alert: AlertState, now: float, changes: list[Change]) -> None:
    if alert.state == "pending" and now - alert.active_since >= rule.for_seconds:
        alert.state = "firing"
        changes.append(Change(alert, "firing"))


def _resolve(alerts: Alerts, key: LabelKey) -> Change:
    return Change(alerts.pop(key), "resolved")
