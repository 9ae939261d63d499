"""The alert service with its own tasks on the real clock: timer, outbox workers, reload."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
from alerting_helpers import FakeChannel, channels, new_clock, signal, simple_config, started
from alerting_helpers import step as run_step

from snmpd_ng.alerting import sqlite_store
from snmpd_ng.alerting.backend import StateChanges
from snmpd_ng.alerting.notification import Delivery, DeliveryKind, Notification
from snmpd_ng.alerting.service import AlertService
from snmpd_ng.alerting.sqlite_store import SqliteAlertStore

FAST_GROUPING = {"group_by": ["target"], "group_wait": "0s", "group_interval": "1s"}
WAIT = 5.0
"""Seconds a test waits for a background task before it fails."""


class SignallingChannel(FakeChannel):
    """A fake channel that wakes the test at each send."""

    def __init__(self, name: str, outcomes: list[DeliveryKind] | None = None) -> None:
        super().__init__(name, outcomes=outcomes)
        self.sent = asyncio.Event()

    async def send(self, notification: Notification) -> Delivery:
        delivery = await super().send(notification)
        if delivery.is_delivered:
            self.sent.set()
        return delivery


async def running(tmp_path: Path, channel: FakeChannel, **overrides: object) -> AlertService:
    fakes = {channel.name: channel}
    alerting = simple_config(fakes, grouping=FAST_GROUPING, **overrides)
    service = AlertService(alerting, fakes, store=SqliteAlertStore(tmp_path / "alerts.db"))
    await service.start()
    return service


async def test_background_tasks_deliver_a_firing_alert(tmp_path: Path) -> None:
    channel = SignallingChannel("chat")
    service = await running(tmp_path, channel)
    service.submit(signal(at=time.time()))
    await asyncio.wait_for(channel.sent.wait(), WAIT)
    await service.stop()

    assert [call.event for call in channel.calls] == ["firing"]


async def test_background_retry_after_failure(tmp_path: Path) -> None:
    channel = SignallingChannel("chat", outcomes=[DeliveryKind.RETRYABLE])
    service = await running(tmp_path, channel, outbox={"retry_base": "50ms"})
    service.submit(signal(at=time.time()))
    await asyncio.wait_for(channel.sent.wait(), WAIT)
    await service.stop()

    assert channel.results == [DeliveryKind.RETRYABLE, DeliveryKind.DELIVERED]


async def test_rejected_signal_is_counted_not_raised(tmp_path: Path) -> None:
    service = await running(tmp_path, FakeChannel("chat"))
    service.submit(signal(state="resolved", at=time.time()))
    await service.sync()
    history = await service.history()
    await service.stop()

    assert service.counters.signals_rejected == 1
    assert [entry.kind for entry in history] == ["alert.rejected"]
    assert "cannot resolve it" in history[0].detail["error"]


async def test_reload_is_in_history(tmp_path: Path) -> None:
    channel = FakeChannel("chat")
    service = await running(tmp_path, channel)
    await service.reload(simple_config({"chat": channel}), actor="sighup")
    history = await service.history()
    await service.stop()

    assert [(entry.kind, entry.actor) for entry in history] == [("config.reloaded", "sighup")]


async def test_stop_then_start_keeps_alerts(tmp_path: Path) -> None:
    channel = SignallingChannel("chat")
    service = await running(tmp_path, channel)
    service.submit(signal(at=time.time()))
    await asyncio.wait_for(channel.sent.wait(), WAIT)
    await service.stop()
    again = await running(tmp_path, channel)
    alerts = again.alerts()
    await again.stop()

    assert [alert.rule for alert in alerts] == ["LinkDown"]
    assert alerts[0].restored_until is not None


async def test_failed_write_is_redone_by_next_run(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    clock = new_clock()
    fakes = channels("chat")
    grouping = {"group_by": ["target"], "group_wait": "0s"}
    service = await started(tmp_path, clock, simple_config(fakes, grouping=grouping), fakes)
    service.submit(signal(at=clock.wall()))
    await service.sync()
    original = sqlite_store.write_changes

    def failing(connection: sqlite3.Connection, changes: StateChanges) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(sqlite_store, "write_changes", failing)
    assert await service.run_due() == 0
    monkeypatch.setattr(sqlite_store, "write_changes", original)
    await run_step(service, clock, 1)
    await service.stop()

    assert [call.event for call in fakes["chat"].calls] == ["firing"]


async def test_signal_before_start_is_counted(tmp_path: Path) -> None:
    fakes = channels("chat")
    service = AlertService(simple_config(fakes), fakes,
                           store=SqliteAlertStore(tmp_path / "alerts.db"))
    service.submit(signal(at=time.time()))

    assert service.counters.signals_rejected == 1


async def test_signal_fault_is_counted_not_raised(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    service = await running(tmp_path, FakeChannel("chat"))

    def broken(*args: object) -> bool:
        raise RuntimeError("dispatcher fault")

    monkeypatch.setattr(service._dispatcher, "apply_signal", broken)
    service.submit(signal(at=time.time()))
    await service.stop()

    assert service.counters.signals_rejected == 1
