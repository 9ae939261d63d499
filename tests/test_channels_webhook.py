"""The generic webhook channel against a receiver that verifies the HMAC signature."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator

import pytest
from channel_helpers import (
    MaxRandom,
    SkipClock,
    alert,
    captured_logs,
    fast_policy,
    notification,
)
from receivers import Fault, WebhookReceiver

from snmpd_ng.alerting.channels.base import DeliveryPolicy
from snmpd_ng.alerting.channels.webhook import WebhookChannel, WebhookSettings, sign
from snmpd_ng.alerting.notification import DeliveryKind
from snmpd_ng.secret import Secret

SECRET = b"webhook-shared-secret-0123456789"


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    server = WebhookReceiver(SECRET)
    await server.start()
    yield server
    await server.stop()


def make_channel(receiver: WebhookReceiver, clock: SkipClock | None = None,
                 policy: DeliveryPolicy | None = None,
                 secret: bytes = SECRET) -> WebhookChannel:
    settings = WebhookSettings(receiver.url + "/hooks/alerts", Secret(secret))
    return WebhookChannel("hook", settings, policy or fast_policy(), clock or SkipClock(),
                          MaxRandom())


async def test_webhook_signature_verifies(receiver: WebhookReceiver) -> None:
    channel = make_channel(receiver)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert delivery.status == 204
    assert len(receiver.verified) == 1
    request = receiver.requests[0]
    assert request.headers["X-Snmpd-Ng-Notification-Id"] == "n-firing-1"
    assert request.headers["X-Snmpd-Ng-Signature"].startswith("sha256=")


async def test_webhook_body_schema_version_1(receiver: WebhookReceiver) -> None:
    view = alert(ends_at=None, acknowledged_by=None)
    channel = make_channel(receiver, SkipClock(wall_start=None))
    await channel.send(notification(alerts=(view,), references={"jira": "OPS-1"}, tier=1))
    await channel.close()

    body = receiver.verified[0]
    assert set(body) == {"version", "id", "event", "group_key", "receiver", "tier", "title",
                         "severity", "sent_at", "references", "alerts"}
    assert body["version"] == 1
    assert body["event"] == "firing"
    assert body["tier"] == 1
    assert body["references"] == {"jira": "OPS-1"}
    assert body["alerts"][0] == {
        "fingerprint": "fp-LinkSaturated", "rule": "LinkSaturated", "severity": "critical",
        "state": "firing", "labels": {"target": "core1", "ifName": "Gi0/1", "ifIndex": "1"},
        "annotations": {"summary": "Gi0/1 on core1 at 97%"}, "value": 0.97,
        "starts_at": "2024-05-01T11:50:00Z", "ends_at": None, "acknowledged_by": None,
        "ack_comment": None,
    }


def test_webhook_sign_covers_timestamp_and_body() -> None:
    body = b'{"version":1}'
    expected = hmac.new(SECRET, b"1714564800." + body, hashlib.sha256).hexdigest()
    assert sign(Secret(SECRET), 1714564800, body) == "sha256=" + expected
    assert sign(Secret(SECRET), 1714564801, body) != "sha256=" + expected


async def test_webhook_wrong_secret_rejected_for_good(receiver: WebhookReceiver) -> None:
    channel = make_channel(receiver, secret=b"another-secret")
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.FAILED
    assert delivery.status == 401
    assert receiver.verified == []


async def test_webhook_stale_timestamp_rejected(receiver: WebhookReceiver) -> None:
    # The receiver checks the age against its real clock; this sender's clock reads 2024-05-01.
    channel = make_channel(receiver, SkipClock(wall_start=1_714_564_800.0))
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.FAILED
    assert "stale" in delivery.detail


async def test_webhook_retries_500_then_delivers_once(receiver: WebhookReceiver) -> None:
    receiver.fail_next(Fault(500))
    clock = SkipClock()
    channel = make_channel(receiver, clock)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert len(receiver.verified) == 1
    assert len(receiver.requests) == 2
    assert clock.waits == [1.0]


async def test_webhook_no_retry_on_400(receiver: WebhookReceiver) -> None:
    receiver.fail_next(Fault(400, "bad request"))
    channel = make_channel(receiver)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.FAILED
    assert len(receiver.requests) == 1


async def test_webhook_honours_retry_after_on_503(receiver: WebhookReceiver) -> None:
    receiver.fail_next(Fault(503, "maintenance", {"Retry-After": "7"}))
    clock = SkipClock()
    channel = make_channel(receiver, clock)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert clock.waits == [7.0]


async def test_webhook_rate_limit(receiver: WebhookReceiver) -> None:
    clock = SkipClock()
    channel = make_channel(receiver, clock, fast_policy(rate=4.0, burst=2))
    for number in range(4):
        await channel.send(notification(id=f"n-{number}"))
    await channel.close()

    assert len(receiver.verified) == 4
    assert clock.waits == [0.25, 0.25]


async def test_webhook_timeout(receiver: WebhookReceiver) -> None:
    receiver.fail_next(Fault(hang=True))
    channel = make_channel(receiver, policy=fast_policy(timeout=0.05, max_attempts=1))
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.RETRYABLE
    assert "timed out" in delivery.detail


async def test_webhook_secret_never_logged(receiver: WebhookReceiver) -> None:
    receiver.fail_next(Fault(500, f"key was {SECRET.decode()}"), Fault(400, "no"))
    channel = make_channel(receiver)
    with captured_logs() as logs:
        delivery = await channel.send(notification())
    await channel.close()

    assert SECRET.decode() not in repr(logs)
    assert SECRET.decode() not in delivery.detail
    assert SECRET.decode() not in repr(channel)
