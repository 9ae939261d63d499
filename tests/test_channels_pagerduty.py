"""The PagerDuty channel against a loopback emulation of the Events API v2."""

from __future__ import annotations

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
from receivers import Fault, PagerDutyReceiver

from snmpd_ng.alerting.channels.base import DeliveryPolicy
from snmpd_ng.alerting.channels.pagerduty import PagerDutyChannel, PagerDutySettings
from snmpd_ng.alerting.notification import DeliveryKind
from snmpd_ng.secret import Secret

ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"


@pytest.fixture
async def receiver() -> AsyncIterator[PagerDutyReceiver]:
    server = PagerDutyReceiver()
    await server.start()
    yield server
    await server.stop()


def make_channel(receiver: PagerDutyReceiver, clock: SkipClock | None = None,
                 policy: DeliveryPolicy | None = None,
                 routing_key: str = ROUTING_KEY) -> PagerDutyChannel:
    settings = PagerDutySettings(Secret(routing_key), url=receiver.url + "/v2/enqueue",
                                 client_url="https://monitoring.example.net/")
    return PagerDutyChannel("oncall", settings, policy or fast_policy(), clock or SkipClock(),
                            MaxRandom())


async def test_pagerduty_trigger_body(receiver: PagerDutyReceiver) -> None:
    channel = make_channel(receiver)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert delivery.status == 202
    event = receiver.requests[0].json()
    assert event["routing_key"] == ROUTING_KEY
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == '{}:{alertname="LinkSaturated"}'
    assert event["client"] == "snmpd-ng"
    assert event["client_url"] == "https://monitoring.example.net/"
    payload = event["payload"]
    assert payload["summary"] == "[FIRING:1] LinkSaturated on core1"
    assert payload["source"] == "core1"
    assert payload["severity"] == "critical"
    assert payload["timestamp"] == "2024-05-01T11:50:00Z"
    assert payload["class"] == "LinkSaturated"
    assert payload["custom_details"]["alerts"][0]["labels"]["ifName"] == "Gi0/1"


async def test_pagerduty_dedup_key_is_reference(receiver: PagerDutyReceiver) -> None:
    channel = make_channel(receiver)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.reference == '{}:{alertname="LinkSaturated"}'


@pytest.mark.parametrize(("event", "action"), [
    ("acknowledged", "acknowledge"), ("resolved", "resolve"), ("repeat", "trigger"),
])
async def test_pagerduty_event_actions(receiver: PagerDutyReceiver, event: str,
                                       action: str) -> None:
    channel = make_channel(receiver)
    first = await channel.send(notification())
    later = await channel.send(notification(event, id=f"n-{event}"))
    await channel.close()

    bodies = [request.json() for request in receiver.requests]
    assert later.kind is DeliveryKind.DELIVERED
    assert bodies[1]["event_action"] == action
    assert bodies[1]["dedup_key"] == bodies[0]["dedup_key"] == first.reference
    if action != "trigger":
        assert set(bodies[1]) == {"routing_key", "event_action", "dedup_key"}


@pytest.mark.parametrize(("severity", "expected"), [
    ("critical", "critical"), ("warning", "warning"), ("info", "info"), ("major", "error"),
])
async def test_pagerduty_severity_mapping(receiver: PagerDutyReceiver, severity: str,
                                          expected: str) -> None:
    channel = make_channel(receiver)
    await channel.send(notification(alerts=(alert(severity=severity),)))
    await channel.close()

    assert receiver.requests[0].json()["payload"]["severity"] == expected


async def test_pagerduty_long_group_key_hashed(receiver: PagerDutyReceiver) -> None:
    channel = make_channel(receiver)
    await channel.send(notification(group_key="g" * 400))
    await channel.close()

    key = receiver.requests[0].json()["dedup_key"]
    assert key.startswith("snmpd-ng-")
    assert len(key) <= 255


async def test_pagerduty_invalid_event_not_retried(receiver: PagerDutyReceiver) -> None:
    channel = make_channel(receiver, routing_key="short")
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.FAILED
    assert delivery.status == 400
    assert "'routing_key' is invalid" in delivery.detail
    assert len(receiver.requests) == 1


async def test_pagerduty_retries_500_then_delivers_once(receiver: PagerDutyReceiver) -> None:
    receiver.fail_next(Fault(500), Fault(502))
    clock = SkipClock()
    channel = make_channel(receiver, clock)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert delivery.attempts == 3
    assert clock.waits == [1.0, 2.0]


async def test_pagerduty_honours_retry_after_on_429(receiver: PagerDutyReceiver) -> None:
    receiver.fail_next(Fault(429, '{"status":"throttled"}', {"Retry-After": "45"}))
    clock = SkipClock()
    channel = make_channel(receiver, clock)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert clock.waits == [45.0]


async def test_pagerduty_non_202_success_is_error(receiver: PagerDutyReceiver) -> None:
    receiver.fail_next(Fault(200, "{}"))
    channel = make_channel(receiver)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.FAILED
    assert delivery.status == 200


async def test_pagerduty_rate_limit(receiver: PagerDutyReceiver) -> None:
    clock = SkipClock()
    channel = make_channel(receiver, clock, fast_policy(rate=1.0, burst=1))
    for number in range(3):
        await channel.send(notification(id=f"n-{number}"))
    await channel.close()

    assert clock.waits == [1.0, 1.0]


async def test_pagerduty_timeout(receiver: PagerDutyReceiver) -> None:
    receiver.fail_next(Fault(hang=True))
    channel = make_channel(receiver, policy=fast_policy(timeout=0.05, max_attempts=2))
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert delivery.attempts == 2


async def test_pagerduty_routing_key_never_logged(receiver: PagerDutyReceiver) -> None:
    receiver.fail_next(Fault(500, f"bad key {ROUTING_KEY}"), Fault(400, f"bad {ROUTING_KEY}"))
    channel = make_channel(receiver)
    with captured_logs() as logs:
        delivery = await channel.send(notification())
    await channel.close()

    assert ROUTING_KEY not in repr(logs)
    assert ROUTING_KEY not in delivery.detail
    assert ROUTING_KEY not in repr(channel)
    assert ROUTING_KEY not in repr(channel._settings)
