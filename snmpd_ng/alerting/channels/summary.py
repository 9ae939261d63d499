"""The words every channel uses for a notification: its title, status and one line per alert.

Because they live in one place, an email subject, a Slack header, a PagerDuty summary and a
ticket title describe a group in the same words.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime

from snmpd_ng.alerting.notification import AlertView, Notification

SEVERITIES = ("critical", "warning", "info")
"""Known severities, worst first."""

FINGERPRINT_PREFIX = "snmpd-ng-"

_TITLE_LABELS = ("target",)
"""Labels named in a title when every alert of the group has the same value."""


def top_severity(alerts: tuple[AlertView, ...]) -> str:
    """Return the worst severity among `alerts`; unknown severities rank below info."""
    ranks = {name: rank for rank, name in enumerate(SEVERITIES)}
    worst = min(alerts, key=lambda alert: ranks.get(alert.severity, len(SEVERITIES)),
                default=None)
    return worst.severity if worst is not None else "info"


def active_alerts(notification: Notification) -> tuple[AlertView, ...]:
    """Return the alerts that still fire (acknowledged ones included)."""
    return tuple(alert for alert in notification.alerts if alert.state != "resolved")


def status_word(notification: Notification) -> str:
    """Return FIRING, RESOLVED or ACKNOWLEDGED: the state of the notification's group."""
    if notification.event == "resolved":
        return "RESOLVED"
    if notification.event == "acknowledged":
        return "ACKNOWLEDGED"
    return "FIRING"


def title(notification: Notification) -> str:
    """Return a one-line title such as "[FIRING:2] LinkSaturated on core1"."""
    status = status_word(notification)
    if status == "FIRING":
        status += f":{len(active_alerts(notification))}"
        if notification.event == "repeat":
            status += ", repeat"
    text = f"[{status}] {rule_names(notification)}"
    shared = shared_labels(notification.alerts)
    if "target" in shared:
        text += f" on {shared['target']}"
    return text


def rule_names(notification: Notification) -> str:
    """Return the group's rule names: "LinkSaturated", or "LinkSaturated and 2 more"."""
    names = sorted({alert.rule for alert in notification.alerts})
    if not names:
        return "(no alerts)"
    if len(names) == 1:
        return names[0]
    return f"{names[0]} and {len(names) - 1} more"


def event_sentence(notification: Notification) -> str:
    """Return a sentence for what happened: "Firing.", "Acknowledged by alice: on it." ..."""
    if notification.event == "resolved":
        return "Resolved."
    if notification.event == "repeat":
        return "Still firing."
    if notification.event != "acknowledged":
        return "Firing."
    acknowledged = [alert for alert in notification.alerts if alert.acknowledged_by]
    if not acknowledged:
        return "Acknowledged."
    first = acknowledged[0]
    sentence = f"Acknowledged by {first.acknowledged_by}"
    return sentence + (f": {first.ack_comment}" if first.ack_comment else ".")


def shared_labels(alerts: tuple[AlertView, ...]) -> dict[str, str]:
    """Return the title labels whose value is the same in every alert."""
    shared: dict[str, str] = {}
    for name in _TITLE_LABELS:
        values = {alert.labels.get(name) for alert in alerts}
        if len(values) == 1 and None not in values:
            shared[name] = str(values.pop())
    return shared


def alert_summary(alert: AlertView) -> str:
    """Return the rule's `summary` annotation, or the rule name with the labels."""
    summary = alert.annotations.get("summary")
    if summary:
        return summary
    labels = format_labels(alert.labels)
    return f"{alert.rule} ({labels})" if labels else alert.rule


def format_labels(labels: Mapping[str, str]) -> str:
    """Format labels as "ifName=Gi0/1, target=core1", sorted by name."""
    return ", ".join(f"{name}={labels[name]}" for name in sorted(labels))


def format_value(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"


def format_time(unix_seconds: float) -> str:
    """Format Unix seconds as ISO 8601 in UTC, such as 2024-05-01T12:00:00Z."""
    moment = datetime.fromtimestamp(unix_seconds, tz=UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def group_fingerprint(group_key: str) -> str:
    """Return the ticket label of a group: "snmpd-ng-" and 20 hex digits of SHA-256.

    Jira labels may not contain spaces and ServiceNow's correlation_id has 100 characters, while
    a group key may be long and contain any character, so tickets carry this hash instead.
    """
    digest = hashlib.sha256(group_key.encode("utf-8")).hexdigest()
    return FINGERPRINT_PREFIX + digest[:20]


def text_lines(notification: Notification) -> list[str]:
    """Return the plain-text description of a notification, one item a line.

    Email, Jira and ServiceNow bodies are built from these lines.
    """
    lines = [title(notification), event_sentence(notification), ""]
    for alert in notification.alerts:
        lines.append(f"- {alert_summary(alert)}")
        lines.append(f"  state: {alert.state}, severity: {alert.severity}, "
                     f"value: {format_value(alert.value)}")
        lines.append(f"  since: {format_time(alert.starts_at)}")
        if alert.ends_at is not None:
            lines.append(f"  resolved: {format_time(alert.ends_at)}")
        if alert.labels:
            lines.append(f"  labels: {format_labels(alert.labels)}")
    lines += ["", f"Group: {notification.group_key}", f"Receiver: {notification.receiver}"]
    return lines
