"""Shared pieces of the channel tests: a clock that skips waits, notifications, log capture."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import structlog

from snmpd_ng.alerting.channels.base import DeliveryPolicy
from snmpd_ng.alerting.notification import AlertView, Notification

WALL_START = 1_714_564_800.0
"""2024-05-01T12:00:00Z."""


class SkipClock:
    """A clock whose `sleep_until` returns at once after moving time forward; it records waits.

    Backoff and rate-limit waits cost no real time, and a test reads them from `waits`.
    """

    def __init__(self, start: float = 1000.0, wall_start: float | None = None) -> None:
        self._now = start
        # None keeps wall() on real time, for receivers that check a timestamp's age.
        self._wall_offset = None if wall_start is None else wall_start - start
        self.waits: list[float] = []

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        if self._wall_offset is None:
            return time.time()
        return self._now + self._wall_offset

    async def sleep_until(self, when: float) -> None:
        wait = max(0.0, when - self._now)
        self.waits.append(wait)
        self._now += wait


class MaxRandom(random.Random):
    """An rng whose `uniform` returns the upper bound, so backoff waits are their ceilings."""

    def uniform(self, a: float, b: float) -> float:
        return b


def fast_policy(**overrides: Any) -> DeliveryPolicy:
    """A policy with short real timeouts and a bucket large enough not to get in the way."""
    settings: dict[str, Any] = {"timeout": 5.0, "max_attempts": 3, "backoff_base": 1.0,
                                "backoff_cap": 30.0, "max_retry_after": 120.0, "rate": 100.0,
                                "burst": 100}
    settings.update(overrides)
    return DeliveryPolicy(**settings)


def alert(rule: str = "LinkSaturated", severity: str = "critical", state: str = "firing",
          labels: Mapping[str, str] | None = None, value: float | None = 0.97,
          **fields: Any) -> AlertView:
    return AlertView(
        fingerprint=fields.pop("fingerprint", f"fp-{rule}"),
        rule=rule,
        severity=severity,
        state=state,
        labels=dict(labels if labels is not None else
                    {"target": "core1", "ifName": "Gi0/1", "ifIndex": "1"}),
        annotations=fields.pop("annotations", {"summary": "Gi0/1 on core1 at 97%"}),
        value=value,
        starts_at=fields.pop("starts_at", WALL_START - 600),
        **fields,
    )


def notification(event: str = "firing", alerts: tuple[AlertView, ...] | None = None,
                 **fields: Any) -> Notification:
    return Notification(
        id=fields.pop("id", f"n-{event}-1"),
        event=event,
        group_key=fields.pop("group_key", '{}:{alertname="LinkSaturated"}'),
        alerts=alerts if alerts is not None else (alert(),),
        receiver=fields.pop("receiver", "network-team"),
        **fields,
    )


@contextmanager
def captured_logs() -> Iterator[list[dict[str, Any]]]:
    with structlog.testing.capture_logs() as logs:
        yield logs


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]
