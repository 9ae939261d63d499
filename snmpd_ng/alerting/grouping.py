"""Grouping: which alerts share one notification, and when a group's notification is due.

As in Alertmanager, a route's `group_by` labels pick the group: alerts of one route with the
same values of those labels form one group (`...` groups by every label, so each alert is
its own group). The group key is the route name and those values, such as
`network:{rule="LinkDown",target="core1"}`. It stays the same for the group's life, so it
serves as PagerDuty's dedup_key and as the tickets' lookup key.

A new group waits `group_wait` seconds before its first notification, so that the alerts of one
event (a switch going down) arrive together. After that, a change (an alert added, resolved,
acknowledged, silenced) is sent no sooner than `group_interval` seconds after the previous
notification. The previous notification is the last one that reached every receiver of the
escalation, which is a flush, an acknowledgement, or a tier or repeat sent to all of them. A
flush that sent nothing does not count, and a change that such a repeat already showed is not
sent again. Times are Unix seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from snmpd_ng.alerting.lifecycle import Alert, AlertState

GROUP_BY_ALL = "..."


@dataclass(frozen=True)
class GroupSettings:
    group_by: tuple[str, ...] = ("target", "rule")
    group_wait: float = 30.0
    group_interval: float = 300.0


def group_labels(settings: GroupSettings, labels: Mapping[str, str]) -> dict[str, str]:
    """Return the labels that pick the group: those named in `group_by` that the alert has."""
    if GROUP_BY_ALL in settings.group_by:
        return dict(labels)
    return {name: labels[name] for name in settings.group_by if name in labels}


def group_key(route: str, labels: Mapping[str, str]) -> str:
    """Return `route:{name="value",...}` with the names sorted and values escaped."""
    parts = []
    for name in sorted(labels):
        value = labels[name].replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        parts.append(f'{name}="{value}"')
    return f"{route}:{{{','.join(parts)}}}"


@dataclass
class Group:
    """One group of alerts and its notification schedule."""

    key: str
    route: str
    policy: str
    labels: dict[str, str]
    created_at: float
    fingerprints: list[str] = field(default_factory=list)
    flush_at: float | None = None
    last_flush_at: float | None = None
    """When the last notification to every receiver of the escalation was sent; None before
    the first. The name is kept because it is stored."""
    notified: dict[str, str] = field(default_factory=dict)
    """The state of each alert as the last notification showed it, by fingerprint."""

    def add(self, fingerprint: str) -> bool:
        """Add an alert; return False if it already belongs to the group."""
        if fingerprint in self.fingerprints:
            return False
        self.fingerprints.append(fingerprint)
        return True

    def schedule_flush(self, settings: GroupSettings, now: float) -> None:
        """Make a notification due: `group_wait` after creation, then `group_interval` apart."""
        if self.flush_at is not None:
            return
        if self.last_flush_at is None:
            self.flush_at = self.created_at + settings.group_wait
        else:
            self.flush_at = max(now, self.last_flush_at + settings.group_interval)

    def is_due(self, now: float) -> bool:
        return self.flush_at is not None and self.flush_at <= now

    def record_notification(self, shown: Mapping[str, str], now: float) -> None:
        """Store what a notification to every receiver showed, and restart `group_interval`."""
        self.notified = dict(shown)
        self.last_flush_at = now

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Group:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


@dataclass(frozen=True)
class GroupContent:
    """The alerts a notification of the group would show now."""

    notifiable: tuple[Alert, ...]
    """Firing or acknowledged alerts that are neither silenced nor inhibited."""
    resolved: tuple[Alert, ...]
    """Alerts that an earlier notification showed active and that have resolved since."""
    active: int
    """Active alerts in the group, muted ones included."""
    firing: int
    """Unacknowledged (firing) alerts in the group, muted ones included."""

    @property
    def has_unacknowledged(self) -> bool:
        return any(alert.state is AlertState.FIRING for alert in self.notifiable)

    @property
    def is_over(self) -> bool:
        """True when no alert of the group is active: the group ends after this flush."""
        return self.active == 0

    def shown(self) -> dict[str, str]:
        """Return the state of each alert as a notification of this content shows it."""
        shown = {alert.fingerprint: alert.state.value for alert in self.notifiable}
        shown.update({alert.fingerprint: alert.state.value for alert in self.resolved})
        return shown

    def shown_by_step(self, notified: Mapping[str, str]) -> dict[str, str]:
        """Return the state of each alert as an escalation step (tier, repeat) shows it.

        A step shows only the notifiable alerts. An alert resolved since the last flush keeps
        its state from `notified`, so that the next flush still sends its resolve.
        """
        shown = {alert.fingerprint: alert.state.value for alert in self.notifiable}
        shown.update({alert.fingerprint: notified[alert.fingerprint] for alert in self.resolved})
        return shown


def group_content(group: Group, alerts: Sequence[Alert]) -> GroupContent:
    """Sort the group's alerts into notifiable, newly resolved, and a count of active ones."""
    notifiable = tuple(alert for alert in alerts if alert.is_notifiable)
    resolved = tuple(alert for alert in alerts if alert.state is AlertState.RESOLVED
                     and group.notified.get(alert.fingerprint, "resolved") != "resolved")
    active = sum(1 for alert in alerts if alert.is_active)
    firing = sum(1 for alert in alerts if alert.state is AlertState.FIRING)
    return GroupContent(notifiable, resolved, active, firing)


def has_changed(group: Group, content: GroupContent) -> bool:
    """Tell whether a notification of `content` would differ from the last one sent."""
    last = {key: state for key, state in group.notified.items() if state != "resolved"}
    now = {alert.fingerprint: alert.state.value for alert in content.notifiable}
    return bool(content.resolved) or now != last
