"""Shared pieces of the alert handling tests: signals, fake channels, configs and services."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fakes import FakeClock

from snmpd_ng.alerting.channels.base import Channel, DeliveryPolicy
from snmpd_ng.alerting.config import AlertingConfig, load_alerting
from snmpd_ng.alerting.notification import Delivery, DeliveryKind, Notification
from snmpd_ng.alerting.rules.model import RuleSignal, Severity, SignalState
from snmpd_ng.alerting.service import AlertService
from snmpd_ng.alerting.sqlite_store import SqliteAlertStore

MONDAY_NOON_UTC = 1_714_996_800.0
"""2024-05-06T12:00:00Z, a Monday."""


def signal(rule: str = "LinkDown", state: SignalState = "firing", at: float = MONDAY_NOON_UTC,
           severity: Severity = "critical", value: float | None = 1.0,
           **labels: str) -> RuleSignal:
    """Build a signal; labels default to target=core1, ifName=Gi0/1."""
    chosen = labels or {"target": "core1", "ifName": "Gi0/1"}
    return RuleSignal(rule=rule, labels={**chosen, "severity": severity}, state=state,
                      value=value, active_since=at, at=at, severity=severity,
                      annotations={"summary": f"{rule} on {chosen.get('target', '?')}"})


def new_clock() -> FakeClock:
    return FakeClock(start=1000.0, wall_start=MONDAY_NOON_UTC)


class FakeChannel(Channel):
    """A channel that records every notification and fails on demand.

    `outcomes` is consumed one per send; when it is empty a send is delivered.
    """

    def __init__(self, name: str, type_: str = "webhook",
                 outcomes: list[DeliveryKind] | None = None) -> None:
        super().__init__(name, DeliveryPolicy(), FakeClock())
        self.type = type_  # type: ignore[misc]
        self.outcomes = list(outcomes or [])
        self.calls: list[Notification] = []
        self.results: list[DeliveryKind] = []

    @property
    def delivered(self) -> list[Notification]:
        return [notification for notification, kind in zip(self.calls, self.results,
                                                              strict=True)
                if kind is DeliveryKind.DELIVERED]

    async def send(self, notification: Notification) -> Delivery:
        self.calls.append(notification)
        kind = self.outcomes.pop(0) if self.outcomes else DeliveryKind.DELIVERED
        self.results.append(kind)
        if kind is DeliveryKind.DELIVERED:
            return Delivery(kind, "accepted", reference=f"{self.name}-ref-{len(self.calls)}",
                            status=200)
        return Delivery(kind, f"fake {kind.value} failure", status=503)

    async def _attempt(self, notification: Notification) -> Delivery:
        raise AssertionError("send is replaced")

    def events(self) -> list[tuple[str, str, int]]:
        """Return (event, receiver, tier) of each call."""
        return [(call.event, call.receiver, call.tier) for call in self.calls]


def channels(*names: str, **types: str) -> dict[str, FakeChannel]:
    """Build fake channels by name; keyword arguments give a name with a type."""
    built = {name: FakeChannel(name) for name in names}
    built.update({name: FakeChannel(name, type_) for name, type_ in types.items()})
    return built


def config(raw: Mapping[str, Any], fakes: Mapping[str, Channel]) -> AlertingConfig:
    return load_alerting(raw, {name: channel.type for name, channel in fakes.items()})


def simple_config(fakes: Mapping[str, Channel], **overrides: Any) -> AlertingConfig:
    """One route to one policy with one tier that notifies receiver `team` on every channel."""
    raw: dict[str, Any] = {
        "grouping": {"group_by": ["target"], "group_wait": "30s", "group_interval": "5m"},
        "receivers": {"team": {"channels": sorted(fakes)}},
        "policies": {"main": {"tiers": [{"receivers": ["team"]}]}},
        "routes": [{"policy": "main"}],
    }
    raw.update(overrides)
    return config(raw, fakes)


async def started(tmp_path: Path, clock: FakeClock, alerting: AlertingConfig,
                  fakes: Mapping[str, Channel], name: str = "alerts.db") -> AlertService:
    """Build and start a service driven by hand (no tasks) on a database in tmp_path."""
    store = SqliteAlertStore(tmp_path / name)
    service = AlertService(alerting, fakes, store=store, clock=clock, run_tasks=False)
    await service.start()
    return service


async def step(service: AlertService, clock: FakeClock, seconds: float = 0.0) -> None:
    """Move the clock, run what is due, and deliver what was queued."""
    if seconds:
        await clock.advance(seconds)
    await service.sync()
    await service.run_due()
    await service.deliver_due()
