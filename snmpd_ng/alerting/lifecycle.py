"""The alert lifecycle: one alert per rule and label set, and its states.

An alert's identity is its fingerprint, a SHA-256 of the rule name and the sorted labels, so
the same condition always maps to the same alert. Its states and the events that move it:

    (new) --pending--> PENDING --fire--> FIRING --acknowledge--> ACKNOWLEDGED
    (new) --fire-----------------------> FIRING
    PENDING, FIRING, ACKNOWLEDGED --resolve--> RESOLVED
    RESOLVED --pending--> PENDING, RESOLVED --fire--> FIRING   (a new episode: the ack expires)

A pending or fire event for an alert that is already firing or acknowledged changes nothing:
the rules engine sends one after a restart, when its next evaluation finds the condition
again. Every other pair
of state and event not listed raises `TransitionError`.

Flap damping: an alert that started firing `threshold` times within `window` seconds is
flapping. When it resolves, the resolve is held for `hold` seconds; if it fires again in that
time the hold ends and nothing is notified, otherwise it resolves when the hold ends (`tick`).

After a restart, alerts loaded from the store are restored: an active one that the rules do
not confirm (with a pending or fire signal) within `restore_grace` seconds resolves, because
the rules engine keeps no state across restarts and would never send its resolve.

All times are Unix seconds: signals carry them, and they are stored across restarts.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from snmpd_ng.alerting.notification import AlertView
from snmpd_ng.alerting.rules.model import RuleSignal

RULE_LABEL = "rule"
"""The label that carries the rule name when matching and grouping alerts."""


class AlertState(enum.Enum):
    PENDING = "pending"
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertEvent(enum.Enum):
    PENDING = "pending"
    FIRE = "fire"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


_S = AlertState
_E = AlertEvent
TRANSITIONS: Mapping[tuple[AlertState | None, AlertEvent], AlertState] = {
    (None, _E.PENDING): _S.PENDING,
    (None, _E.FIRE): _S.FIRING,
    (_S.PENDING, _E.PENDING): _S.PENDING,
    (_S.PENDING, _E.FIRE): _S.FIRING,
    (_S.PENDING, _E.RESOLVE): _S.RESOLVED,
    (_S.FIRING, _E.PENDING): _S.FIRING,
    (_S.FIRING, _E.FIRE): _S.FIRING,
    (_S.FIRING, _E.ACKNOWLEDGE): _S.ACKNOWLEDGED,
    (_S.FIRING, _E.RESOLVE): _S.RESOLVED,
    (_S.ACKNOWLEDGED, _E.PENDING): _S.ACKNOWLEDGED,
    (_S.ACKNOWLEDGED, _E.FIRE): _S.ACKNOWLEDGED,
    (_S.ACKNOWLEDGED, _E.ACKNOWLEDGE): _S.ACKNOWLEDGED,
    (_S.ACKNOWLEDGED, _E.RESOLVE): _S.RESOLVED,
    (_S.RESOLVED, _E.PENDING): _S.PENDING,
    (_S.RESOLVED, _E.FIRE): _S.FIRING,
}
"""Every allowed (state, event) pair and the state it leads to; None is a new alert."""

_SIGNAL_EVENTS = {"pending": _E.PENDING, "firing": _E.FIRE, "resolved": _E.RESOLVE}
ACTIVE_STATES = frozenset({_S.FIRING, _S.ACKNOWLEDGED})


class TransitionError(Exception):
    """An event that the alert's state does not allow, such as acknowledging a resolved alert."""

    def __init__(self, fingerprint: str, state: AlertState | None, event: AlertEvent) -> None:
        shown = state.value if state is not None else "unknown"
        super().__init__(f"alert {fingerprint[:12]} is {shown}: cannot {event.value} it")
        self.fingerprint = fingerprint
        self.state = state
        self.event = event


def next_state(fingerprint: str, state: AlertState | None, event: AlertEvent) -> AlertState:
    """Return the state `event` leads to from `state`; raise TransitionError if not allowed."""
    target = TRANSITIONS.get((state, event))
    if target is None:
        raise TransitionError(fingerprint, state, event)
    return target


def fingerprint(rule: str, labels: Mapping[str, str]) -> str:
    """Return the SHA-256 (hex) of the rule name and the sorted labels.

    JSON encoding keeps names and values apart, so no label text can imitate a separator.
    """
    text = json.dumps([rule, sorted(labels.items())], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class FlapPolicy:
    """When an alert counts as flapping and how long its resolve is then held (seconds)."""

    window: float = 900.0
    threshold: int = 4
    """Firing starts within `window` that make an alert flapping."""
    hold: float = 300.0
    """Seconds a flapping alert must stay resolved before it resolves; 0 turns damping off."""


@dataclass
class Alert:
    """One alert: the condition of one rule on one label set, and where it is in its lifecycle."""

    fingerprint: str
    rule: str
    labels: dict[str, str]
    severity: str
    annotations: dict[str, str]
    value: float | None
    state: AlertState
    active_since: float
    """When the condition started to hold (pending, or firing for a rule without `for`)."""
    starts_at: float | None = None
    """When the current episode started firing."""
    ends_at: float | None = None
    episode: int = 0
    """Count of times the alert started firing; an acknowledgement belongs to one episode."""
    acknowledged_by: str | None = None
    ack_comment: str | None = None
    ack_source: str | None = None
    acknowledged_at: float | None = None
    fire_times: list[float] = field(default_factory=list)
    """Firing starts within the flap window."""
    held_resolve: dict[str, Any] | None = None
    """A resolve held back because the alert flaps: its time, value and `until`."""
    restored_until: float | None = None
    """Set after a restart: the alert resolves at this time unless the rules confirm it."""
    silenced_by: tuple[str, ...] = ()
    inhibited_by: str | None = None
    """The reason an inhibit rule mutes the alert, such as "target core1 is unreachable"."""
    group_keys: tuple[str, ...] = ()

    @property
    def match_labels(self) -> dict[str, str]:
        """The labels for matchers and grouping: the alert's labels and `rule`."""
        return {**self.labels, RULE_LABEL: self.rule}

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def is_muted(self) -> bool:
        return bool(self.silenced_by) or self.inhibited_by is not None

    @property
    def is_notifiable(self) -> bool:
        """Firing or acknowledged, and neither silenced nor inhibited."""
        return self.is_active and not self.is_muted

    def view(self) -> AlertView:
        """Return what a channel may show of the alert."""
        return AlertView(
            fingerprint=self.fingerprint, rule=self.rule, severity=self.severity,
            state=self.state.value, labels=dict(self.labels),
            annotations=dict(self.annotations), value=self.value,
            starts_at=self.starts_at if self.starts_at is not None else self.active_since,
            ends_at=self.ends_at, acknowledged_by=self.acknowledged_by,
            ack_comment=self.ack_comment,
        )

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["state"] = self.state.value
        data["silenced_by"] = list(self.silenced_by)
        data["group_keys"] = list(self.group_keys)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        values = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        values["state"] = AlertState(data["state"])
        values["silenced_by"] = tuple(data.get("silenced_by", ()))
        values["group_keys"] = tuple(data.get("group_keys", ()))
        return cls(**values)


@dataclass(frozen=True)
class Change:
    """One change of an alert, for the history and for grouping.

    `kind` is the new state's name ("pending", "firing", "acknowledged", "resolved"), or one of
    "resolve_held" (a flapping alert's resolve is held), "resolve_cancelled" (it fired again
    while held) and "confirmed" (the rules saw a restored alert again).
    """

    alert: Alert
    kind: str
    previous: AlertState | None
    actor: str
    at: float
    detail: Mapping[str, Any] = field(default_factory=dict)


class Lifecycle:
    """The alerts in memory and the transitions between their states."""

    def __init__(self, flapping: FlapPolicy | None = None, restore_grace: float = 600.0,
                 retention: float = 3600.0) -> None:
        self.flapping = flapping or FlapPolicy()
        self.restore_grace = restore_grace
        self.retention = max(retention, self.flapping.window)
        """Seconds a resolved alert is kept, so that flapping is still seen when it returns."""
        self._alerts: dict[str, Alert] = {}

    def __iter__(self) -> Iterator[Alert]:
        return iter(self._alerts.values())

    def __len__(self) -> int:
        return len(self._alerts)

    def get(self, fingerprint: str) -> Alert | None:
        return self._alerts.get(fingerprint)

    def apply(self, signal: RuleSignal) -> Change | None:
        """Apply one signal of the rules engine; return the change, or None if nothing changed.

        Raises TransitionError for a signal the alert's state does not allow, such as the
        resolve of an alert this lifecycle never saw. The resolve of a resolved alert changes
        nothing.
        """
        key = fingerprint(signal.rule, signal.labels)
        alert = self._alerts.get(key)
        event = _SIGNAL_EVENTS[signal.state]
        if alert is not None and alert.state is AlertState.RESOLVED and event is AlertEvent.RESOLVE:
            # A repeat: cluster mode delivers signals at least once, and a node's buffered
            # resolve may arrive after the new owner of the target resolved the alert.
            return None
        target = next_state(key, alert.state if alert else None, event)
        if alert is None:
            return self._create(key, target, signal)
        if event is AlertEvent.RESOLVE:
            return self._resolve(alert, signal)
        if _is_stale(alert, signal):
            return None
        return self._activate(alert, target, signal)

    def acknowledge(self, key: str, by: str, comment: str | None, source: str,
                    at: float) -> Change | None:
        """Acknowledge a firing alert; return None if it already was acknowledged.

        Raises KeyError for an unknown fingerprint and TransitionError unless it fires.
        """
        alert = self._alerts[key]
        previous = alert.state
        alert.state = next_state(key, previous, AlertEvent.ACKNOWLEDGE)
        if previous is AlertState.ACKNOWLEDGED:
            return None
        alert.acknowledged_by = by
        alert.ack_comment = comment
        alert.ack_source = source
        alert.acknowledged_at = at
        return Change(alert, "acknowledged", previous, by, at,
                      {"comment": comment, "source": source})

    def tick(self, now: float) -> list[Change]:
        """Resolve held resolves whose hold ended, and restored alerts the rules did not confirm."""
        changes = []
        for alert in list(self._alerts.values()):
            held = alert.held_resolve
            if held is not None and held["until"] <= now:
                changes.append(self._finish_resolve(alert, held["at"], "rules", {
                    "value": held["value"], "held_seconds": now - held["at"]}))
            elif alert.restored_until is not None and alert.restored_until <= now:
                changes.append(self._finish_resolve(alert, now, "restart", {
                    "reason": "not confirmed by the rules after a restart"}))
        return changes

    def next_due(self) -> float | None:
        """Return the Unix time of the next hold or restore deadline, or None."""
        times = [alert.held_resolve["until"] for alert in self._alerts.values()
                 if alert.held_resolve is not None]
        times += [alert.restored_until for alert in self._alerts.values()
                  if alert.restored_until is not None]
        return min(times, default=None)

    def restore(self, alerts: list[Alert], now: float, *, confirm: bool = True) -> None:
        """Load alerts from the store; with `confirm`, active ones wait for confirmation."""
        for alert in alerts:
            if confirm and alert.state is not AlertState.RESOLVED:
                alert.restored_until = now + self.restore_grace
            self._alerts[alert.fingerprint] = alert

    def prune(self, now: float, keep: set[str]) -> list[str]:
        """Forget resolved alerts older than the retention, except those in `keep`."""
        removed = [key for key, alert in self._alerts.items()
                   if alert.state is AlertState.RESOLVED and key not in keep
                   and (alert.ends_at or 0.0) + self.retention <= now]
        for key in removed:
            del self._alerts[key]
        return removed

    def _create(self, key: str, target: AlertState, signal: RuleSignal) -> Change:
        alert = Alert(fingerprint=key, rule=signal.rule, labels=dict(signal.labels),
                      severity=signal.severity, annotations=dict(signal.annotations),
                      value=signal.value, state=target, active_since=signal.active_since)
        if target is AlertState.FIRING:
            self._start_episode(alert, signal.at)
        self._alerts[key] = alert
        return Change(alert, target.value, None, "rules", signal.at, {"value": signal.value})

    def _activate(self, alert: Alert, target: AlertState, signal: RuleSignal) -> Change | None:
        previous = alert.state
        if alert.held_resolve is not None:
            return self._cancel_hold(alert, signal)
        if target is alert.state:
            return self._confirm(alert)
        self._update(alert, signal)
        # A new episode after a resolve is active since its own start, not the first one's.
        alert.active_since = signal.active_since
        if target is AlertState.FIRING:
            self._start_episode(alert, signal.at)
        alert.state = target
        alert.ends_at = None
        return Change(alert, target.value, previous, "rules", signal.at,
                      {"value": signal.value})

    def _start_episode(self, alert: Alert, at: float) -> None:
        alert.episode += 1
        alert.starts_at = at
        alert.acknowledged_by = alert.ack_comment = alert.ack_source = None
        alert.acknowledged_at = None
        alert.fire_times = [time for time in alert.fire_times
                            if time > at - self.flapping.window] + [at]

    def _confirm(self, alert: Alert) -> Change | None:
        if alert.restored_until is None:
            return None
        alert.restored_until = None
        at = alert.starts_at or alert.active_since
        return Change(alert, "confirmed", alert.state, "rules", at)

    def _cancel_hold(self, alert: Alert, signal: RuleSignal) -> Change:
        alert.held_resolve = None
        alert.restored_until = None
        alert.fire_times.append(signal.at)
        self._update(alert, signal)
        return Change(alert, "resolve_cancelled", alert.state, "rules", signal.at,
                      {"value": signal.value})

    def _resolve(self, alert: Alert, signal: RuleSignal) -> Change | None:
        self._update(alert, signal)
        if alert.held_resolve is not None:
            return None
        if alert.is_active and self._is_flapping(alert, signal.at):
            until = signal.at + self.flapping.hold
            alert.held_resolve = {"at": signal.at, "value": signal.value, "until": until}
            return Change(alert, "resolve_held", alert.state, "rules", signal.at,
                          {"until": until, "value": signal.value})
        return self._finish_resolve(alert, signal.at, "rules", {"value": signal.value})

    def _finish_resolve(self, alert: Alert, at: float, actor: str,
                        detail: dict[str, Any]) -> Change:
        previous = alert.state
        alert.state = AlertState.RESOLVED
        alert.ends_at = at
        alert.held_resolve = None
        alert.restored_until = None
        return Change(alert, "resolved", previous, actor, at, detail)

    def _is_flapping(self, alert: Alert, at: float) -> bool:
        if self.flapping.hold <= 0:
            return False
        recent = [time for time in alert.fire_times if time > at - self.flapping.window]
        return len(recent) >= self.flapping.threshold

    @staticmethod
    def _update(alert: Alert, signal: RuleSignal) -> None:
        alert.value = signal.value
        alert.annotations = dict(signal.annotations)
        alert.severity = signal.severity


def _is_stale(alert: Alert, signal: RuleSignal) -> bool:
    """Return True for a firing or pending signal older than the resolve the alert has had.

    In cluster mode a new leader may apply a batch of signals a second time (the signal stream
    delivers at least once), and a firing signal replayed after its own resolve must not start
    the alert again. The times come from the clocks of the nodes that evaluated the rules, so
    this relies on their clocks agreeing to well under a poll interval (NTP).
    NOTE: the reverse order is not caught: a resolve from a target's old owner that reaches the
    stream after the new owner's firing signal resolves the alert. It needs the old owner's
    signal to wait in its buffer for longer than the handover, so Redis to fail for it alone.
    """
    if alert.held_resolve is not None:
        return bool(signal.at < alert.held_resolve["at"])
    return (alert.state is AlertState.RESOLVED and alert.ends_at is not None
            and signal.at < alert.ends_at)
