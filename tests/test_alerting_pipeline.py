"""The daemon's alerting: the rules consumer on the result bus, its timer, reloads and metrics.

Polling runs for real (PollingService with the fake manager and the fake clock), so a result
travels the same path as in the daemon: scheduler, poller, result bus, rules, alert service,
outbox, channel. The channels are fakes that record what they are asked to send.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from alerting_helpers import FakeChannel, config
from fakes import FakeClock, FakeManager, if_job, if_mib_agent, system_job, target
from prometheus_client.registry import CollectorRegistry

from snmpd_ng.alerting.backend import StoreError
from snmpd_ng.alerting.notification import Delivery as NotificationDelivery
from snmpd_ng.alerting.notification import Notification
from snmpd_ng.alerting.rules import Rule, RulesEngine, RuleSignal
from snmpd_ng.alerting.rules.testing import ManualClock
from snmpd_ng.alerting.runtime import Alerting, AlertingStartError, store_path
from snmpd_ng.alerting.series import Sample
from snmpd_ng.config.alerting import AlertingSettings, ChannelSpec
from snmpd_ng.config.model import DaemonConfig, SchedulerConfig, TargetConfig
from snmpd_ng.polling.queues import Delivery
from snmpd_ng.polling.service import PollingService
from snmpd_ng.protocol.values import Integer32

INTERVAL = 10.0
SYS_SERVICES = "1.3.6.1.2.1.1.7.0"
WAIT_SECONDS = 5.0
"""Real seconds a test waits for the store's thread and the alert service's tasks."""
GROUPING = {"group_by": ["target", "rule"], "group_wait": "0s", "group_interval": "1s"}
SERVICES_HIGH = Rule.build("ServicesHigh", "sysServices > 50", severity="critical",
                           annotations={"summary": "{{ target }} at {{ value }}"})


class ClosingChannel(FakeChannel):
    """A fake channel that records whether it was closed."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.closed = False

    async def close(self) -> None:
        self.closed = True
        await super().close()


class HangingChannel(ClosingChannel):
    """A fake channel whose first send hangs until it is cancelled; later sends succeed."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.hanging = asyncio.Event()

    async def send(self, notification: Notification) -> NotificationDelivery:
        if not self.hanging.is_set():
            self.hanging.set()
            await asyncio.Event().wait()
        return await super().send(notification)


def settings(rules: tuple[Rule, ...], channels: Mapping[str, FakeChannel],
             digests: Mapping[str, str] | None = None) -> AlertingSettings:
    raw: dict[str, Any] = {"grouping": GROUPING}
    if channels:
        raw.update(receivers={"team": {"channels": sorted(channels)}},
                   policies={"main": {"tiers": [{"receivers": ["team"]}]}},
                   routes=[{"policy": "main"}])
    specs = {name: ChannelSpec(name, channel.type, channel, (digests or {}).get(name, "v1"))
             for name, channel in channels.items()}
    return AlertingSettings(rules, config(raw, channels), specs)


def daemon_config(*targets: TargetConfig) -> DaemonConfig:
    return DaemonConfig(targets=targets, scheduler=SchedulerConfig(jitter=0.0))


async def eventually(predicate: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    """Wait (real time) until `predicate` holds; the store and the service run in the background."""
    for _ in range(int(WAIT_SECONDS / 0.01)):
        outcome = predicate()
        if outcome if isinstance(outcome, bool) else await outcome:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{what} did not happen within {WAIT_SECONDS} s")


@dataclass
class Running:
    clock: FakeClock
    manager: FakeManager
    polling: PollingService
    alerting: Alerting
    chat: ClosingChannel

    async def poll(self, seconds: float = INTERVAL) -> None:
        await self.clock.advance(seconds)
        await self.alerting.service.sync()

    def targets(self) -> tuple[TargetConfig, ...]:
        return (target("core1", "sim1", system_job(INTERVAL), if_job(INTERVAL),
                       labels={"site": "lab"}),)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    """Polling of core1 (labels site=lab) and alerting with ServicesHigh, started in order."""
    clock = FakeClock()
    manager = FakeManager(clock, {"sim1": if_mib_agent(2)})
    config_ = daemon_config(target("core1", "sim1", system_job(INTERVAL), if_job(INTERVAL),
                                   labels={"site": "lab"}))
    polling = PollingService(config_, manager, clock=clock)
    chat = ClosingChannel("chat")
    alerting = Alerting(settings((SERVICES_HIGH,), {"chat": chat}), config_.targets,
                        state_dir=tmp_path, clock=clock)
    await alerting.start_service()
    await alerting.start_rules(polling.bus)
    await polling.start()
    try:
        yield Running(clock, manager, polling, alerting, chat)
    finally:
        await polling.stop()
        await alerting.stop_rules()
        await alerting.stop_service()


class TestRulesConsumer:
    async def test_polled_value_fires_and_notifies(self, running: Running) -> None:
        await running.poll()
        await eventually(lambda: bool(running.chat.calls), "the notification")

        alerts = running.alerting.service.alerts()
        assert [alert.rule for alert in alerts] == ["ServicesHigh"]
        assert alerts[0].state.value == "firing"
        assert running.chat.calls[0].event == "firing"

    async def test_alert_has_target_labels(self, running: Running) -> None:
        await running.poll()
        await eventually(lambda: bool(running.alerting.service.alerts()), "the alert")

        labels = running.alerting.service.alerts()[0].labels
        assert labels["target"] == "core1"
        assert labels["site"] == "lab"
        assert running.alerting.service.alerts()[0].annotations["summary"] == "core1 at 72"

    async def test_subscription_is_lossless(self, running: Running) -> None:
        stats = {queue.consumer: queue for queue in running.polling.bus.stats()}

        assert stats["alerting"].delivery is Delivery.LOSSLESS

    async def test_every_result_is_evaluated(self, running: Running) -> None:
        for _ in range(3):
            await running.poll()
        stats = {queue.consumer: queue for queue in running.polling.bus.stats()}

        # Two jobs (system and if) polled at each of the 4 slots 0, 10, 20 and 30 s.
        assert running.alerting.pipeline.results == 8
        assert stats["alerting"].delivered == 8
        assert stats["alerting"].blocked == 0

    async def test_value_back_to_normal_resolves(self, running: Running) -> None:
        await running.poll()
        await eventually(lambda: bool(running.chat.calls), "the firing notification")
        running.manager.agents["sim1"].set(SYS_SERVICES, Integer32(4))
        await running.poll()
        await running.clock.advance(1.0)

        await eventually(lambda: len(running.chat.calls) == 2, "the resolve notification")
        assert running.chat.calls[1].event == "resolved"


class TestRulesTimer:
    async def test_timer_resolves_alert_of_silent_target(self, running: Running) -> None:
        await running.poll()
        await eventually(lambda: bool(running.alerting.service.alerts()), "the alert")
        running.manager.agents["sim1"].dead = True
        # The value stays current for stale_after + 1 intervals (40 s); then the timer, not a
        # result, must resolve the alert.
        for _ in range(6):
            await running.poll()

        await eventually(lambda: not running.alerting.service.alerts(), "the resolve")

    async def test_timer_refreshes_outbox_counts(self, running: Running) -> None:
        await running.poll()
        await eventually(lambda: bool(running.chat.calls), "the notification")
        await running.clock.advance(6.0)

        async def counted() -> bool:
            await running.alerting.pipeline.refresh_outbox()
            return running.alerting.snapshot().outbox.get(("chat", "delivered")) == 1

        await eventually(counted, "the delivered entry in the outbox counts")

    async def test_failed_outbox_read_keeps_last_counts(self, running: Running) -> None:
        await running.poll()
        await eventually(lambda: bool(running.chat.calls), "the notification")
        pipeline = running.alerting.pipeline
        await pipeline.refresh_outbox()
        before = running.alerting.snapshot().outbox

        async def failing() -> dict[tuple[str, str], int]:
            raise StoreError("Redis is down")

        running.alerting.service.outbox_counts = failing  # type: ignore[method-assign]
        await pipeline.refresh_outbox()

        assert running.alerting.snapshot().outbox == before


class TestReload:
    async def test_unchanged_channel_keeps_running(self, running: Running) -> None:
        other = ClosingChannel("chat")
        await running.alerting.reload(settings((SERVICES_HIGH,), {"chat": other}),
                                      running.targets())

        assert running.alerting.channels()["chat"] is running.chat
        assert not running.chat.closed
        assert not other.closed

    async def test_changed_channel_is_closed_and_replaced(self, running: Running) -> None:
        other = ClosingChannel("chat")
        await running.alerting.reload(settings((SERVICES_HIGH,), {"chat": other}, {"chat": "v2"}),
                                      running.targets())

        assert running.alerting.channels()["chat"] is other
        assert running.chat.closed

    async def test_removed_channel_is_closed(self, running: Running) -> None:
        mail = ClosingChannel("mail")
        await running.alerting.reload(settings((SERVICES_HIGH,), {"mail": mail}),
                                      running.targets())

        assert sorted(running.alerting.channels()) == ["mail"]
        assert running.chat.closed

    async def test_alert_state_survives_reload(self, running: Running) -> None:
        await running.poll()
        await eventually(lambda: bool(running.chat.calls), "the notification")
        rule = Rule.build("ServicesHigh", "sysServices > 60", severity="critical")
        await running.alerting.reload(settings((rule,), {"chat": running.chat}),
                                      running.targets())
        await running.poll()

        assert [alert.state.value for alert in running.alerting.service.alerts()] == ["firing"]
        assert [call.event for call in running.chat.calls] == ["firing"]

    async def test_send_cut_by_reload_is_sent_again(self, tmp_path: Path) -> None:
        clock = FakeClock()
        manager = FakeManager(clock, {"sim1": if_mib_agent(2)})
        config_ = daemon_config(target("core1", "sim1", system_job(INTERVAL)))
        polling = PollingService(config_, manager, clock=clock)
        chat = HangingChannel("chat")
        alerting = Alerting(settings((SERVICES_HIGH,), {"chat": chat}), config_.targets,
                            state_dir=tmp_path, clock=clock)
        await alerting.start_service()
        await alerting.start_rules(polling.bus)
        await polling.start()
        await clock.advance(INTERVAL)
        await asyncio.wait_for(chat.hanging.wait(), WAIT_SECONDS)

        await alerting.reload(settings((SERVICES_HIGH,), {"chat": chat}), config_.targets)
        await eventually(lambda: bool(chat.calls), "the send after the reload")
        history = await alerting.service.history(limit=100)
        await polling.stop()
        await alerting.stop_rules()
        await alerting.stop_service()

        assert [call.event for call in chat.calls] == ["firing"]
        assert "notification.requeued" in [entry.kind for entry in history]

    async def test_removed_rule_resolves_its_alert(self, running: Running) -> None:
        await running.poll()
        await eventually(lambda: bool(running.alerting.service.alerts()), "the alert")
        await running.alerting.reload(settings((), {"chat": running.chat}),
                                      running.targets())

        await eventually(lambda: not running.alerting.service.alerts(), "the resolve")

    async def test_removed_target_resolves_its_alert(self, running: Running) -> None:
        await running.poll()
        await eventually(lambda: bool(running.alerting.service.alerts()), "the alert")
        await running.alerting.reload(settings((SERVICES_HIGH,), {"chat": running.chat}), ())

        await eventually(lambda: not running.alerting.service.alerts(), "the resolve")


class TestStop:
    async def test_stop_closes_channels(self, tmp_path: Path) -> None:
        chat = ClosingChannel("chat")
        alerting = Alerting(settings((SERVICES_HIGH,), {"chat": chat}), (), state_dir=tmp_path,
                            clock=FakeClock())
        await alerting.start_service()
        await alerting.stop_service()

        assert chat.closed

    def test_store_needs_state_dir(self) -> None:
        with pytest.raises(AlertingStartError, match="state directory"):
            store_path(settings((), {}), None)

    def test_absolute_store_path_needs_no_state_dir(self, tmp_path: Path) -> None:
        chosen = settings((), {})
        chosen = replace(chosen, handling=replace(chosen.handling,
                                                  store_path=str(tmp_path / "a.db")))

        assert store_path(chosen, None) == tmp_path / "a.db"


def sample(name: str, value: float, at: float, target: str = "core1") -> Sample:
    labels = {"target": target}
    return Sample(name, labels, value, "gauge", "gauge", at, 1_700_000_000.0 + at, at + 30.0)


class TestReplaceRules:
    def engine_with_alert(self) -> tuple[RulesEngine, ManualClock]:
        clock = ManualClock(100.0)
        engine = RulesEngine([Rule.build("Hot", "temperature > 50")], clock)
        signals = engine.observe([sample("temperature", 60, 100.0)])
        assert [signal.state for signal in signals] == ["firing"]
        return engine, clock

    def test_kept_rule_keeps_its_alert(self) -> None:
        engine, _ = self.engine_with_alert()

        signals = engine.replace_rules([Rule.build("Hot", "temperature > 55")])

        assert signals == []
        assert [signal.rule for signal in engine.active_alerts()] == ["Hot"]

    def test_kept_alert_is_evaluated_with_new_expression(self) -> None:
        engine, clock = self.engine_with_alert()
        engine.replace_rules([Rule.build("Hot", "temperature > 70")])
        clock.time = 110.0

        signals = engine.observe([sample("temperature", 60, 110.0)])

        assert [signal.state for signal in signals] == ["resolved"]

    def test_removed_rule_resolves(self) -> None:
        engine, _ = self.engine_with_alert()

        signals: list[RuleSignal] = engine.replace_rules([])

        assert [(signal.rule, signal.state) for signal in signals] == [("Hot", "resolved")]

    def test_changed_severity_resolves(self) -> None:
        engine, _ = self.engine_with_alert()

        signals = engine.replace_rules([Rule.build("Hot", "temperature > 50",
                                                   severity="critical")])

        assert [signal.state for signal in signals] == ["resolved"]
        assert engine.active_alerts() == []

    def test_duplicate_names_rejected(self) -> None:
        engine, _ = self.engine_with_alert()

        with pytest.raises(ValueError, match="repeated: Hot"):
            engine.replace_rules([Rule.build("Hot", "a > 1"), Rule.build("Hot", "b > 1")])


class TestMetrics:
    async def test_collector_shows_alerts_and_sends(self, running: Running) -> None:
        await running.poll()
        await eventually(lambda: bool(running.chat.calls), "the notification")
        await running.alerting.service.sync()
        registry = CollectorRegistry()
        registry.register(running.alerting.collector())

        def value(name: str, **labels: str) -> float | None:
            return registry.get_sample_value(name, labels)

        assert value("snmpd_ng_alerts", state="firing", severity="critical") == 1.0
        assert value("snmpd_ng_alerts", state="pending", severity="critical") == 0.0
        assert value("snmpd_ng_alert_notifications_total", channel="chat",
                     result="delivered") == 1.0
        assert value("snmpd_ng_alert_notifications_total", channel="chat",
                     result="failed") == 0.0
        assert value("snmpd_ng_alert_rule_evaluation_errors_total", rule="ServicesHigh") == 0.0
        # Slots 0 and 10 s of the two jobs.
        assert value("snmpd_ng_alert_rules_results_total") == 4.0
        assert value("snmpd_ng_alert_signals_total") == 1.0
