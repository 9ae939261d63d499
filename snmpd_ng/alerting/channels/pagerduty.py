"""PagerDuty Events API v2: trigger, acknowledge and resolve one alert per alert group.

`POST /v2/enqueue` with `routing_key` (the integration key), `event_action` and `dedup_key`.
The dedup_key is the notification's group_key, the same for the life of the group, so a repeat
updates the open PagerDuty alert and the resolve closes it. A trigger carries a `payload` with
`summary` (at most 1024 characters), `source`, `severity` (critical, error, warning or info),
`timestamp` (ISO 8601), and optional `component`, `group`, `class` and `custom_details`.
PagerDuty replies 202 with `{"status": "success", "dedup_key": ...}`; 400 is an invalid event
(no retry), 429 and 5xx retry. Source: PagerDuty's developer documentation, "Send an Alert
Event" and "Events API v2 Overview".
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from snmpd_ng.alerting.channels import summary
from snmpd_ng.alerting.channels.base import DeliveryPolicy
from snmpd_ng.alerting.channels.http import JSON_TYPE, HttpChannel, json_body
from snmpd_ng.alerting.notification import AlertView, Delivery, DeliveryKind, Notification
from snmpd_ng.clock import Clock
from snmpd_ng.secret import Secret

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
PAGERDUTY_SEVERITIES = frozenset({"critical", "error", "warning", "info"})
DEFAULT_SEVERITY_MAP: Mapping[str, str] = MappingProxyType(
    {"critical": "critical", "warning": "warning", "info": "info"}
)
SUMMARY_MAX = 1024
DEDUP_KEY_MAX = 255

EVENT_ACTIONS = {
    "firing": "trigger",
    "repeat": "trigger",
    "acknowledged": "acknowledge",
    "resolved": "resolve",
}


@dataclass(frozen=True)
class PagerDutySettings:
    routing_key: Secret
    url: str = DEFAULT_URL
    severity_map: Mapping[str, str] = field(default_factory=lambda: DEFAULT_SEVERITY_MAP)
    """Our severity to PagerDuty's; unmapped severities become "error"."""
    source_label: str = "target"
    """The label whose value is `payload.source`, the affected system."""
    client: str = "snmpd-ng"
    client_url: str | None = None


def dedup_key(notification: Notification) -> str:
    """Return the group key, hashed when it is longer than PagerDuty's 255 characters."""
    key = notification.group_key
    return key if len(key) <= DEDUP_KEY_MAX else summary.group_fingerprint(key)


def build_event(notification: Notification, settings: PagerDutySettings) -> dict[str, Any]:
    """Build the Events API v2 body for the notification's event."""
    event: dict[str, Any] = {
        "routing_key": settings.routing_key.reveal().decode("utf-8"),
        "event_action": EVENT_ACTIONS[notification.event],
        "dedup_key": dedup_key(notification),
    }
    if event["event_action"] != "trigger":
        return event
    event["payload"] = _payload(notification, settings)
    event["client"] = settings.client
    if settings.client_url:
        event["client_url"] = settings.client_url
    return event


def _payload(notification: Notification, settings: PagerDutySettings) -> dict[str, Any]:
    alerts = notification.alerts
    severity = summary.top_severity(alerts)
    sources = {alert.labels.get(settings.source_label) for alert in alerts} - {None}
    payload: dict[str, Any] = {
        "summary": summary.title(notification)[:SUMMARY_MAX],
        "source": ", ".join(sorted(str(source) for source in sources)) or "snmpd-ng",
        "severity": settings.severity_map.get(severity, "error"),
        "class": summary.rule_names(notification),
        "group": notification.receiver,
        "custom_details": {
            "event": notification.event,
            "tier": notification.tier,
            "alerts": [_details(alert) for alert in alerts],
        },
    }
    if alerts:
        payload["timestamp"] = summary.format_time(min(alert.starts_at for alert in alerts))
    return payload


def _details(alert: AlertView) -> dict[str, Any]:
    return {
        "summary": summary.alert_summary(alert),
        "state": alert.state,
        "severity": alert.severity,
        "value": alert.value,
        "labels": dict(alert.labels),
        "since": summary.format_time(alert.starts_at),
    }


class PagerDutyChannel(HttpChannel):
    type = "pagerduty"

    def __init__(self, name: str, settings: PagerDutySettings, policy: DeliveryPolicy,
                 clock: Clock, rng: random.Random | None = None) -> None:
        super().__init__(name, policy, clock, rng, secrets=[settings.routing_key])
        self._settings = settings

    async def _attempt(self, notification: Notification) -> Delivery:
        body = json_body(build_event(notification, self._settings))
        reply = self._check(await self._request(
            "POST", self._settings.url, body=body, headers={"Content-Type": JSON_TYPE},
        ), 202)
        document = reply.json()
        key = document.get("dedup_key") if isinstance(document, dict) else None
        message = document.get("message") if isinstance(document, dict) else None
        return Delivery(DeliveryKind.DELIVERED, f"PagerDuty: {message or 'accepted'}",
                        reference=str(key) if key else dedup_key(notification), status=202)
