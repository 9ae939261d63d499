"""Grouping: group keys, group_wait and group_interval, and grouped notifications."""

from __future__ import annotations

from pathlib import Path

import pytest
from alerting_helpers import (
    MONDAY_NOON_UTC,
    FakeChannel,
    channels,
    new_clock,
    signal,
    simple_config,
    started,
)
from alerting_helpers import step as run_step

from snmpd_ng.alerting.config import AlertingConfig
from snmpd_ng.alerting.grouping import Group, GroupSettings, group_key, group_labels
from snmpd_ng.alerting.service import AlertService
from snmpd_ng.alerting.sqlite_store import SqliteAlertStore

T0 = MONDAY_NOON_UTC


class TestGroupKey:
    def test_key_sorts_labels(self) -> None:
        assert group_key("net", {"target": "core1", "rule": "LinkDown"}) == \
            'net:{rule="LinkDown",target="core1"}'

    def test_key_escapes_quotes(self) -> None:
        assert group_key("net", {"target": 'a"b'}) == 'net:{target="a\\"b"}'

    def test_labels_keep_only_group_by(self) -> None:
        settings = GroupSettings(group_by=("target", "site"))

        assert group_labels(settings, {"target": "core1", "ifName": "Gi0/1"}) == \
            {"target": "core1"}

    def test_group_by_all_labels(self) -> None:
        settings = GroupSettings(group_by=("...",))
        labels = {"target": "core1", "ifName": "Gi0/1"}

        assert group_labels(settings, labels) == labels


class TestFlushSchedule:
    settings = GroupSettings(group_wait=30, group_interval=300)

    def test_first_flush_after_group_wait(self) -> None:
        group = Group("k", "r", "p", {}, created_at=T0)
        group.schedule_flush(self.settings, T0 + 5)

        assert group.flush_at == T0 + 30

    def test_later_flush_after_group_interval(self) -> None:
        group = Group("k", "r", "p", {}, created_at=T0)
        group.record_notification({}, T0 + 30)
        group.schedule_flush(self.settings, T0 + 40)

        assert group.flush_at == T0 + 330

    def test_late_change_flushes_at_once(self) -> None:
        group = Group("k", "r", "p", {}, created_at=T0)
        group.record_notification({}, T0 + 30)
        group.schedule_flush(self.settings, T0 + 1000)

        assert group.flush_at == T0 + 1000

    def test_scheduled_flush_is_not_moved(self) -> None:
        group = Group("k", "r", "p", {}, created_at=T0)
        group.schedule_flush(self.settings, T0)
        group.schedule_flush(self.settings, T0 + 10)

        assert group.flush_at == T0 + 30


class TestGroupedNotifications:
    async def test_alerts_within_group_wait_share_one_notification(self, tmp_path: Path) -> None:
        clock = new_clock()
        fakes = channels("chat")
        service = await started(tmp_path, clock, simple_config(fakes), fakes)
        service.submit(signal(at=clock.wall(), target="core1", ifName="Gi0/1"))
        await run_step(service, clock)
        await clock.advance(10)
        service.submit(signal(at=clock.wall(), target="core1", ifName="Gi0/2"))
        await run_step(service, clock, 19)

        assert fakes["chat"].calls == []
        await run_step(service, clock, 1)

        (sent,) = fakes["chat"].calls
        assert len(sent.alerts) == 2
        assert sent.group_key == 'main:{target="core1"}'
        await service.stop()

    async def test_targets_get_separate_groups(self, tmp_path: Path) -> None:
        clock = new_clock()
        fakes = channels("chat")
        service = await started(tmp_path, clock, simple_config(fakes), fakes)
        service.submit(signal(at=clock.wall(), target="core1"))
        service.submit(signal(at=clock.wall(), target="core2"))
        await run_step(service, clock)
        await run_step(service, clock, 30)

        keys = sorted(call.group_key for call in fakes["chat"].calls)
        assert keys == ['main:{target="core1"}', 'main:{target="core2"}']
        await service.stop()

    async def test_new_alert_waits_for_group_interval(self, tmp_path: Path) -> None:
        clock = new_clock()
        fakes = channels("chat")
        service = await started(tmp_path, clock, simple_config(fakes), fakes)
        service.submit(signal(at=clock.wall(), ifName="Gi0/1"))
        await run_step(service, clock)
        await run_step(service, clock, 30)
        service.submit(signal(at=clock.wall(), ifName="Gi0/2"))
        await run_step(service, clock, 299)

        assert len(fakes["chat"].calls) == 1
        await run_step(service, clock, 1)

        update = fakes["chat"].calls[1]
        assert update.event == "firing"
        assert len(update.alerts) == 2
        await service.stop()

    async def test_resolved_alert_is_shown_once(self, tmp_path: Path) -> None:
        clock = new_clock()
        fakes = channels("chat")
        service = await started(tmp_path, clock, simple_config(fakes), fakes)
        service.submit(signal(at=clock.wall(), ifName="Gi0/1"))
        service.submit(signal(at=clock.wall(), ifName="Gi0/2"))
        await run_step(service, clock)
        await run_step(service, clock, 30)
        service.submit(signal(state="resolved", at=clock.wall(), ifName="Gi0/2"))
        await run_step(service, clock, 300)
        await run_step(service, clock, 300)

        update = fakes["chat"].calls[1]
        assert sorted(alert.state for alert in update.alerts) == ["firing", "resolved"]
        assert len(fakes["chat"].calls) == 2
        await service.stop()

    async def test_routes_pick_group_by(self, tmp_path: Path) -> None:
        clock = new_clock()
        fakes = channels("chat")
        alerting = simple_config(fakes, routes=[
            {"name": "per-rule", "policy": "main", "group_by": ["rule"], "group_wait": "0s"}])
        service = await started(tmp_path, clock, alerting, fakes)
        service.submit(signal(at=clock.wall(), target="core1"))
        service.submit(signal(at=clock.wall(), target="core2"))
        await run_step(service, clock)

        (sent,) = fakes["chat"].calls
        assert sent.group_key == 'per-rule:{rule="LinkDown"}'
        await service.stop()


class TestGroupIntervalAfterRepeat:
    """Updates after a repeat, and the `group_interval` wait after a flush that sent nothing."""

    @staticmethod
    def repeating_config(fakes: dict[str, FakeChannel]) -> AlertingConfig:
        return simple_config(fakes, policies={
            "main": {"tiers": [{"receivers": ["team"], "repeat": "1m"}]}})

    async def test_repeat_showing_change_skips_update(self, tmp_path: Path) -> None:
        clock = new_clock()
        fakes = channels("chat")
        service = await started(tmp_path, clock, self.repeating_config(fakes), fakes)
        service.submit(signal(at=clock.wall(), ifName="Gi0/1"))
        await run_step(service, clock)
        await run_step(service, clock, 30)
        await clock.advance(10)
        service.submit(signal(at=clock.wall(), ifName="Gi0/2"))
        await run_step(service, clock, 50)

        repeat = fakes["chat"].calls[1]
        assert repeat.event == "repeat"
        assert len(repeat.alerts) == 2
        await run_step(service, clock, 240)

        events = [call.event for call in fakes["chat"].calls]
        assert events == ["firing", "repeat", "repeat"]
        await service.stop()

    async def test_repeat_to_some_receivers_keeps_update(self, tmp_path: Path) -> None:
        clock = new_clock()
        fakes = channels("chat", "mail")
        alerting = simple_config(
            fakes,
            receivers={"noc": {"channels": ["chat"]}, "lead": {"channels": ["mail"]}},
            policies={"main": {"tiers": [
                {"receivers": ["noc"]},
                {"receivers": ["lead"], "after": "2m", "repeat": "1m"}]}})
        service = await started(tmp_path, clock, alerting, fakes)
        service.submit(signal(at=clock.wall(), ifName="Gi0/1"))
        await run_step(service, clock)
        await run_step(service, clock, 30)
        await run_step(service, clock, 120)
        await clock.advance(10)
        service.submit(signal(at=clock.wall(), ifName="Gi0/2"))
        await run_step(service, clock, 50)

        lead_repeat = fakes["mail"].calls[1]
        assert lead_repeat.event == "repeat"
        assert len(lead_repeat.alerts) == 2
        await run_step(service, clock, 120)

        noc_events = [call.event for call in fakes["chat"].calls]
        assert noc_events == ["firing", "firing"]
        assert len(fakes["chat"].calls[1].alerts) == 2
        await service.stop()

    # confirm_restored=False is how a new cluster leader takes over the groups in Redis.
    @pytest.mark.parametrize("confirm_restored", [True, False])
    async def test_restart_sends_late_change_at_once(self, tmp_path: Path,
                                                     confirm_restored: bool) -> None:
        clock = new_clock()
        fakes = channels("chat")
        alerting = simple_config(fakes)
        service = await started(tmp_path, clock, alerting, fakes)
        service.submit(signal(at=clock.wall(), ifName="Gi0/1"))
        await run_step(service, clock)
        await run_step(service, clock, 30)
        await clock.advance(400)
        await service.stop()
        service = AlertService(alerting, fakes, store=SqliteAlertStore(tmp_path / "alerts.db"),
                               clock=clock, run_tasks=False, confirm_restored=confirm_restored)
        await service.start()
        service.submit(signal(at=clock.wall(), ifName="Gi0/1"))
        await run_step(service, clock)
        await clock.advance(1)
        service.submit(signal(at=clock.wall(), ifName="Gi0/2"))
        await run_step(service, clock)

        assert len(fakes["chat"].calls) == 2
        update = fakes["chat"].calls[1]
        assert update.event == "firing"
        assert len(update.alerts) == 2
        await service.stop()
