"""A generic JSON webhook, signed with HMAC-SHA256 so the receiver can trust and date it.

Request: `POST url` with a JSON body (schema version 1, see `build_body` and
docs/alerting-channels.md) and these headers:

- `X-Snmpd-Ng-Timestamp`: Unix seconds when this attempt was signed;
- `X-Snmpd-Ng-Signature`: `sha256=` and the lowercase hex HMAC-SHA256, keyed with the shared
  secret, of the timestamp, a period and the raw body bytes (`b"1714564800." + body`);
- `X-Snmpd-Ng-Notification-Id`: the notification id, the same on every retry.

A receiver recomputes the HMAC over the timestamp header, ".", and the body exactly as received,
and compares it in constant time. It rejects a timestamp more than a few minutes from its own
clock, so a captured request cannot be replayed later. The notification id lets it drop a retry of a
request it already processed. Any 2xx reply counts as delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from dataclasses import dataclass
from typing import Any

from snmpd_ng.alerting.channels import summary
from snmpd_ng.alerting.channels.base import DeliveryPolicy
from snmpd_ng.alerting.channels.http import JSON_TYPE, HttpChannel, json_body
from snmpd_ng.alerting.notification import AlertView, Delivery, DeliveryKind, Notification
from snmpd_ng.clock import Clock
from snmpd_ng.secret import Secret

SCHEMA_VERSION = 1
TIMESTAMP_HEADER = "X-Snmpd-Ng-Timestamp"
SIGNATURE_HEADER = "X-Snmpd-Ng-Signature"
NOTIFICATION_ID_HEADER = "X-Snmpd-Ng-Notification-Id"
SUCCESS_STATUSES = tuple(range(200, 300))


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    secret: Secret
    """The HMAC key shared with the receiver."""


def sign(secret: Secret, timestamp: int, body: bytes) -> str:
    """Return the signature header value: "sha256=" and the hex HMAC of "TIMESTAMP." + body."""
    signed = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.reveal(), signed, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def build_body(notification: Notification, sent_at: float) -> dict[str, Any]:
    """Build the version 1 body. Times are ISO 8601 strings in UTC; `value` may be null."""
    return {
        "version": SCHEMA_VERSION,
        "id": notification.id,
        "event": notification.event,
        "group_key": notification.group_key,
        "receiver": notification.receiver,
        "tier": notification.tier,
        "title": summary.title(notification),
        "severity": summary.top_severity(notification.alerts),
        "sent_at": summary.format_time(sent_at),
        "references": dict(notification.references),
        "alerts": [_alert(alert) for alert in notification.alerts],
    }


def _alert(alert: AlertView) -> dict[str, Any]:
    return {
        "fingerprint": alert.fingerprint,
        "rule": alert.rule,
        "severity": alert.severity,
        "state": alert.state,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "value": alert.value,
        "starts_at": summary.format_time(alert.starts_at),
        "ends_at": None if alert.ends_at is None else summary.format_time(alert.ends_at),
        "acknowledged_by": alert.acknowledged_by,
        "ack_comment": alert.ack_comment,
    }


class WebhookChannel(HttpChannel):
    type = "webhook"

    def __init__(self, name: str, settings: WebhookSettings, policy: DeliveryPolicy,
                 clock: Clock, rng: random.Random | None = None) -> None:
        super().__init__(name, policy, clock, rng, secrets=[settings.secret])
        self._settings = settings

    async def _attempt(self, notification: Notification) -> Delivery:
        # Each attempt is signed anew, so a retry after a long backoff is not rejected as stale.
        now = self._clock.wall()
        body = json_body(build_body(notification, now))
        timestamp = int(now)
        headers = {
            "Content-Type": JSON_TYPE,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self._settings.secret, timestamp, body),
            NOTIFICATION_ID_HEADER: notification.id,
        }
        reply = self._check(
            await self._request("POST", self._settings.url, body=body, headers=headers),
            *SUCCESS_STATUSES,
        )
        return Delivery(DeliveryKind.DELIVERED, f"receiver replied HTTP {reply.status}",
                        status=reply.status)
