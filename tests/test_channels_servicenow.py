"""The ServiceNow channel against a loopback emulation of the Table API for `incident`."""

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
from receivers import Fault, ServiceNowReceiver

from snmpd_ng.alerting.channels.base import DeliveryPolicy
from snmpd_ng.alerting.channels.servicenow import ServiceNowChannel, ServiceNowSettings
from snmpd_ng.alerting.channels.summary import group_fingerprint
from snmpd_ng.alerting.notification import DeliveryKind
from snmpd_ng.secret import Secret

USER = "snmpd-ng-integration"
PASSWORD = "servicenow-password-0123456789"
GROUP = '{}:{alertname="LinkSaturated"}'


@pytest.fixture
async def receiver() -> AsyncIterator[ServiceNowReceiver]:
    server = ServiceNowReceiver(USER, PASSWORD)
    await server.start()
    yield server
    await server.stop()


def make_channel(receiver: ServiceNowReceiver, clock: SkipClock | None = None,
                 policy: DeliveryPolicy | None = None,
                 password: str = PASSWORD) -> ServiceNowChannel:
    settings = ServiceNowSettings(base_url=receiver.url, username=USER,
                                  password=Secret(password),
                                  fields={"assignment_group": "Network"})
    return ServiceNowChannel("itsm", settings, policy or fast_policy(), clock or SkipClock(),
                             MaxRandom())


def only_record(receiver: ServiceNowReceiver) -> dict[str, object]:
    assert len(receiver.records) == 1
    return next(iter(receiver.records.values()))


async def test_servicenow_firing_creates_incident(receiver: ServiceNowReceiver) -> None:
    channel = make_channel(receiver)
    delivery = await channel.send(notification())
    await channel.close()

    record = only_record(receiver)
    assert delivery.kind is DeliveryKind.DELIVERED
    assert delivery.reference == record["sys_id"]
    assert record["correlation_id"] == group_fingerprint(GROUP)
    assert record["correlation_display"] == "snmpd-ng"
    assert record["short_description"] == "[FIRING:1] LinkSaturated on core1"
    assert record["impact"] == "1"
    assert record["urgency"] == "1"
    assert record["assignment_group"] == "Network"
    assert "Gi0/1 on core1 at 97%" in str(record["description"])


async def test_servicenow_looks_up_before_create(receiver: ServiceNowReceiver) -> None:
    channel = make_channel(receiver)
    await channel.send(notification())
    await channel.send(notification(id="n-again"))
    await channel.close()

    record = only_record(receiver)
    expected_query = f"correlation_id={group_fingerprint(GROUP)}^active=true"
    assert receiver.queries == [expected_query, expected_query]
    assert len(record["work_notes_list"]) == 1  # type: ignore[arg-type]
    first = receiver.requests[0]
    assert first.method == "GET"
    assert first.query["sysparm_limit"] == "1"
    assert first.query["sysparm_fields"] == "sys_id,number"


async def test_servicenow_resolve_sets_close_fields(receiver: ServiceNowReceiver) -> None:
    channel = make_channel(receiver)
    await channel.send(notification())
    acked = alert(state="acknowledged", acknowledged_by="bob")
    await channel.send(notification("acknowledged", (acked,), id="n-ack"))
    delivery = await channel.send(notification("resolved", (alert(state="resolved"),),
                                               id="n-resolved"))
    await channel.close()

    record = only_record(receiver)
    assert delivery.detail == f"resolved incident {record['sys_id']}"
    assert record["state"] == "6"
    assert record["close_code"] == "Solution provided"
    assert record["close_notes"] == "The alert condition cleared; resolved by snmpd-ng."
    notes = record["work_notes_list"]
    assert isinstance(notes, list)
    assert notes[0].splitlines()[1] == "Acknowledged by bob."
    assert notes[1].splitlines()[0] == "[RESOLVED] LinkSaturated on core1"


async def test_servicenow_resolved_incident_not_reused(receiver: ServiceNowReceiver) -> None:
    channel = make_channel(receiver)
    first = await channel.send(notification())
    await channel.send(notification("resolved", id="n-resolved"))
    again = await channel.send(notification(id="n-firing-2"))
    await channel.close()

    assert again.reference != first.reference
    assert len(receiver.records) == 2


async def test_servicenow_resolve_without_incident_noop(receiver: ServiceNowReceiver) -> None:
    channel = make_channel(receiver)
    delivery = await channel.send(notification("resolved"))
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert receiver.records == {}


async def test_servicenow_retries_500_then_delivers_once(receiver: ServiceNowReceiver) -> None:
    receiver.fail_next(Fault(500))
    clock = SkipClock()
    channel = make_channel(receiver, clock)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert len(receiver.records) == 1
    assert clock.waits == [1.0]


async def test_servicenow_bad_password_not_retried(receiver: ServiceNowReceiver) -> None:
    channel = make_channel(receiver, password="wrong-password-0123456789")
    with captured_logs() as logs:
        delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.FAILED
    assert delivery.status == 401
    assert len(receiver.requests) == 1
    assert "wrong-password-0123456789" not in repr(logs)


async def test_servicenow_honours_retry_after(receiver: ServiceNowReceiver) -> None:
    receiver.fail_next(Fault(429, "{}", {"Retry-After": "20"}))
    clock = SkipClock()
    channel = make_channel(receiver, clock)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert clock.waits == [20.0]


async def test_servicenow_rate_limit(receiver: ServiceNowReceiver) -> None:
    clock = SkipClock()
    channel = make_channel(receiver, clock, fast_policy(rate=0.5, burst=1))
    await channel.send(notification(id="n-1"))
    await channel.send(notification("repeat", id="n-2"))
    await channel.close()

    assert clock.waits == [2.0]


async def test_servicenow_timeout(receiver: ServiceNowReceiver) -> None:
    receiver.fail_next(Fault(hang=True))
    channel = make_channel(receiver, policy=fast_policy(timeout=0.05, max_attempts=1))
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.RETRYABLE
    assert "timed out" in delivery.detail


async def test_servicenow_bearer_token(receiver: ServiceNowReceiver) -> None:
    settings = ServiceNowSettings(base_url=receiver.url, token=Secret("oauth-token-0123456789"))
    channel = ServiceNowChannel("itsm", settings, fast_policy(), SkipClock(), MaxRandom())
    with captured_logs() as logs:
        delivery = await channel.send(notification())
    await channel.close()

    assert receiver.requests[0].headers["Authorization"] == "Bearer oauth-token-0123456789"
    assert delivery.status == 401
    assert "oauth-token-0123456789" not in repr(logs)


async def test_servicenow_password_never_in_logs_or_repr(
        receiver: ServiceNowReceiver) -> None:
    receiver.fail_next(Fault(500, f"pw {PASSWORD}"), Fault(400, f"pw {PASSWORD}"))
    channel = make_channel(receiver)
    with captured_logs() as logs:
        delivery = await channel.send(notification())
    await channel.close()

    assert PASSWORD not in repr(logs)
    assert PASSWORD not in delivery.detail
    assert PASSWORD not in repr(channel)
    assert PASSWORD not in repr(channel._settings)
