"""Outbox entries as data: their states, their stored form, and the history entries about them.

Every store backend builds the history entries of its outbox operations with `entry_history`,
so the history reads the same whichever backend wrote it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from snmpd_ng.alerting.history import HistoryEntry
from snmpd_ng.alerting.notification import AlertView, Notification

PENDING = "pending"
CLAIMED = "claimed"
DELIVERED = "delivered"
DEAD = "dead"


@dataclass(frozen=True)
class OutboxEntry:
    notification: Notification
    channel: str
    group_started: float
    """The group's creation time: with the group key, it names one life of the group."""
    id: int | None = None
    """Set by the store; ids increase in the order entries were inserted."""
    attempts: int = 0
    created_at: float = 0.0
    """Unix time the entry was queued; it is due from then on."""


@dataclass(frozen=True)
class OutboxOutcome:
    """The result of one send of a claimed entry, as the store records it.

    `state` is DELIVERED or DEAD for a finished entry, or PENDING for a retry, which is due
    again at `next_attempt_at`.
    """

    entry: OutboxEntry
    state: str
    at: float
    """Unix time of the outcome: the finish time of a finished entry."""
    detail: str
    """The channel's description of the result, kept as the entry's last detail."""
    history: HistoryEntry
    next_attempt_at: float | None = None
    reference: str | None = None
    """The provider's reference (such as a ticket key) to save for the group's life."""


def entry_history(now: float, kind: str, entry: OutboxEntry,
                  extra: Mapping[str, Any] | None = None) -> HistoryEntry:
    notification = entry.notification
    detail = {"notification_id": notification.id, "channel": entry.channel,
              "receiver": notification.receiver, "event": notification.event,
              "tier": notification.tier, "alerts": len(notification.alerts),
              "attempt": entry.attempts, **(extra or {})}
    return HistoryEntry(at=now, kind=kind, actor="outbox", group_key=notification.group_key,
                        detail=detail)


def unknown_channel_detail(channel: str) -> str:
    """Return the detail recorded for an entry dead-lettered because its channel is gone."""
    return f"channel {channel!r} is not configured"


def encode_notification(notification: Notification) -> str:
    data = {"id": notification.id, "event": notification.event,
            "group_key": notification.group_key, "receiver": notification.receiver,
            "tier": notification.tier, "references": dict(notification.references),
            "alerts": [_alert_dict(alert) for alert in notification.alerts]}
    return json.dumps(data, sort_keys=True)


def _alert_dict(alert: AlertView) -> dict[str, Any]:
    data = {name: getattr(alert, name) for name in alert.__dataclass_fields__}
    data["labels"] = dict(alert.labels)
    data["annotations"] = dict(alert.annotations)
    return data


def decode_notification(text: str) -> Notification:
    data = json.loads(text)
    alerts = tuple(AlertView(**alert) for alert in data.pop("alerts"))
    return Notification(alerts=alerts, **data)
