"""The shared channel machinery: status classes, backoff, Retry-After, token bucket, send loop."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest
from channel_helpers import MaxRandom, SkipClock, captured_logs, events, fast_policy, notification

from snmpd_ng.alerting.channels.base import (
    Channel,
    DeliveryPolicy,
    PermanentError,
    RetryableError,
    TokenBucket,
    classify_status,
    scrub,
)
from snmpd_ng.alerting.channels.http import parse_retry_after
from snmpd_ng.alerting.notification import Delivery, DeliveryKind, Notification
from snmpd_ng.secret import Secret


class ScriptedChannel(Channel):
    """A channel whose attempts raise or return what the test lists, in order."""

    type = "scripted"

    def __init__(self, outcomes: list[Exception | Delivery], policy: DeliveryPolicy,
                 clock: SkipClock, secrets: tuple[Secret, ...] = ()) -> None:
        super().__init__("scripted", policy, clock, MaxRandom(), secrets)
        self.outcomes = outcomes
        self.calls = 0

    async def _attempt(self, notification: Notification) -> Delivery:
        outcome = self.outcomes[self.calls]
        self.calls += 1
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


DELIVERED = Delivery(DeliveryKind.DELIVERED, "ok")


@pytest.mark.parametrize(("status", "retryable"), [
    (500, True), (502, True), (503, True), (429, True), (408, True),
    (400, False), (401, False), (403, False), (404, False), (410, False), (302, False),
])
def test_classify_status(status: int, retryable: bool) -> None:
    assert classify_status(status) is retryable


def test_backoff_full_jitter_bounds() -> None:
    policy = DeliveryPolicy(backoff_base=1.0, backoff_cap=10.0)
    ceilings = [policy.backoff(retry, MaxRandom()) for retry in range(1, 7)]
    assert ceilings == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    draws = [policy.backoff(5, random.Random(seed)) for seed in range(50)]
    assert all(0.0 <= draw <= 10.0 for draw in draws)
    assert len(set(draws)) == 50


def test_retry_after_seconds_and_date() -> None:
    now = 1_714_564_800.0
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(formatdate(now + 90, usegmt=True), now) == 90.0
    assert parse_retry_after(formatdate(now - 90, usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


async def test_token_bucket_burst_then_rate() -> None:
    clock = SkipClock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    waited = [await bucket.acquire() for _ in range(5)]
    assert waited == [0.0, 0.0, 0.0, 0.5, 0.5]


async def test_token_bucket_refills_over_time() -> None:
    clock = SkipClock()
    bucket = TokenBucket(rate=1.0, burst=2, clock=clock)
    await bucket.acquire(2)
    await clock.sleep_until(clock.now() + 10)
    assert await bucket.acquire(2) == 0.0


async def test_token_bucket_cost_above_burst_is_capped() -> None:
    clock = SkipClock()
    bucket = TokenBucket(rate=1.0, burst=2, clock=clock)
    assert await bucket.acquire(5) == 0.0
    assert await bucket.acquire(1) == 1.0


async def test_send_stops_on_permanent_error() -> None:
    clock = SkipClock()
    channel = ScriptedChannel([PermanentError("HTTP 401: bad token", status=401)],
                              fast_policy(), clock)
    delivery = await channel.send(notification())

    assert delivery.kind is DeliveryKind.FAILED
    assert delivery.status == 401
    assert channel.calls == 1
    assert clock.waits == []


async def test_send_retry_after_above_limit_stops() -> None:
    clock = SkipClock()
    error = RetryableError("HTTP 429: slow down", status=429, retry_after=3600.0)
    channel = ScriptedChannel([error], fast_policy(max_retry_after=60.0), clock)
    delivery = await channel.send(notification())

    assert delivery.kind is DeliveryKind.RETRYABLE
    assert channel.calls == 1
    assert "retry after 3600 s" in delivery.detail


async def test_send_unexpected_exception_fails_for_good() -> None:
    channel = ScriptedChannel([KeyError("sys_id")], fast_policy(), SkipClock())
    delivery = await channel.send(notification())

    assert delivery.kind is DeliveryKind.FAILED
    assert delivery.detail == "unexpected error KeyError: 'sys_id'"


async def test_send_logs_each_failure_and_outcome() -> None:
    outcomes: list[Exception | Delivery] = [RetryableError("HTTP 500: boom", status=500),
                                            RetryableError("HTTP 502: gateway", status=502),
                                            DELIVERED]
    channel = ScriptedChannel(outcomes, fast_policy(), SkipClock())
    with captured_logs() as logs:
        delivery = await channel.send(notification(id="n-42"))

    failures = events(logs, "alert delivery attempt failed")
    assert [entry["status"] for entry in failures] == [500, 502]
    assert all(entry["notification_id"] == "n-42" for entry in failures)
    assert all(entry["channel"] == "scripted" for entry in failures)
    assert len(events(logs, "alert delivered")) == 1
    assert delivery.attempts == 3


async def test_send_scrubs_secret_from_error_detail() -> None:
    token = Secret("tok-1234567890")
    error = PermanentError("HTTP 400: routing key tok-1234567890 is invalid", status=400)
    channel = ScriptedChannel([error], fast_policy(), SkipClock(), secrets=(token,))
    with captured_logs() as logs:
        delivery = await channel.send(notification())

    assert delivery.detail == "HTTP 400: routing key <redacted> is invalid"
    assert "tok-1234567890" not in repr(logs)


def test_scrub_replaces_every_secret() -> None:
    secrets = [Secret("alpha-secret"), Secret("")]
    assert scrub("x alpha-secret y alpha-secret", secrets) == "x <redacted> y <redacted>"
