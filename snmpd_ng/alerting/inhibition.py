"""Inhibition: alerts that mute other alerts while they fire.

Three sources of inhibition, all recomputed from the firing alerts each time:

1. Inhibit rules, with Alertmanager's meaning: an alert that matches `target_matchers` is
   muted while another firing alert matches `source_matchers` and has the same values of the
   `equal` labels (a label missing on both sides counts as equal).
2. An unreachable target: an alert that matches the `unreachable` matchers (by default the
   alerts of a rule named TargetDown, written as `up == 0`) marks its `target` unreachable,
   and mutes every other alert of that target: its interface and sensor alerts.
3. Dependencies: a target declared behind upstream targets has all of its alerts muted while
   every one of those upstreams is unreachable. Two upstreams stand for redundant paths, so one
   of them down leaves the target reachable. Muting follows the chain, because a muted
   TargetDown alert still marks its target unreachable.

Only firing and acknowledged alerts inhibit; a silenced or inhibited alert still does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from snmpd_ng.alerting.lifecycle import Alert
from snmpd_ng.alerting.matchers import Matcher, matches_all
from snmpd_ng.metrics.naming import TARGET_LABEL


@dataclass(frozen=True)
class InhibitRule:
    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()


@dataclass(frozen=True)
class InhibitionConfig:
    rules: tuple[InhibitRule, ...] = ()
    unreachable: tuple[Matcher, ...] = ()
    """Matchers of the alerts that mean a target does not respond."""
    dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Upstream targets by target: the target is reached only through them."""


class Inhibitor:
    """Compute which alerts are inhibited, and why, from the set of alerts."""

    def __init__(self, config: InhibitionConfig) -> None:
        self.config = config

    def inhibited(self, alerts: Iterable[Alert]) -> dict[str, str]:
        """Return a reason by fingerprint for every inhibited alert among `alerts`."""
        everything = list(alerts)
        sources = [alert for alert in everything if alert.is_active]
        down = self._unreachable_targets(sources)
        indexes = [_SourceIndex(rule, sources) for rule in self.config.rules]
        reasons: dict[str, str] = {}
        for alert in everything:
            reason = self._reason(alert, indexes, down)
            if reason is not None:
                reasons[alert.fingerprint] = reason
        return reasons

    def _unreachable_targets(self, sources: Sequence[Alert]) -> set[str]:
        if not self.config.unreachable:
            return set()
        return {alert.labels[TARGET_LABEL] for alert in sources
                if TARGET_LABEL in alert.labels
                and matches_all(self.config.unreachable, alert.match_labels)}

    def _reason(self, alert: Alert, indexes: Sequence[_SourceIndex],
                down: set[str]) -> str | None:
        target = alert.labels.get(TARGET_LABEL)
        if target is not None:
            reason = self._dependency_reason(target, down)
            if reason is not None:
                return reason
            if target in down and not matches_all(self.config.unreachable, alert.match_labels):
                return f"target {target} is unreachable"
        for index in indexes:
            source = index.source_for(alert)
            if source is not None:
                return f"inhibited by {source.rule} ({source.fingerprint[:12]})"
        return None

    def _dependency_reason(self, target: str, down: set[str]) -> str | None:
        upstreams = self.config.dependencies.get(target)
        if upstreams and all(upstream in down for upstream in upstreams):
            return f"upstream {', '.join(upstreams)} of {target} unreachable"
        return None


class _SourceIndex:
    """The source alerts of one inhibit rule, by their values of the `equal` labels."""

    def __init__(self, rule: InhibitRule, sources: Sequence[Alert]) -> None:
        self.rule = rule
        self.buckets: dict[tuple[str, ...], list[Alert]] = {}
        for source in sources:
            labels = source.match_labels
            if matches_all(rule.source_matchers, labels):
                self.buckets.setdefault(self._key(labels), []).append(source)

    def source_for(self, alert: Alert) -> Alert | None:
        """Return a source alert that inhibits `alert`, or None."""
        labels = alert.match_labels
        if not matches_all(self.rule.target_matchers, labels):
            return None
        for source in self.buckets.get(self._key(labels), ()):
            if source.fingerprint != alert.fingerprint:
                return source
        return None

    def _key(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(labels.get(name, "") for name in self.rule.equal)
