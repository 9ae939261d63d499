"""The outbox: retries, dead letters, order, restarts, and grouped notifications end to end."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alerting_helpers import (
    FakeChannel,
    channels,
    config,
    new_clock,
    signal,
    simple_config,
    started,
)
from alerting_helpers import step as run_step
from fakes import FakeClock

from snmpd_ng.alerting.notification import Delivery, DeliveryKind, Notification
from snmpd_ng.alerting.outbox_entry import decode_notification, encode_notification
from snmpd_ng.alerting.service import AlertService

RETRYABLE = DeliveryKind.RETRYABLE
FAILED = DeliveryKind.FAILED


async def kinds(service: AlertService, prefix: str = "notification.") -> list[str]:
    return [entry.kind for entry in await service.history() if entry.kind.startswith(prefix)]


async def notified_service(tmp_path: Path, fakes: dict[str, FakeChannel],
                           **overrides: Any) -> tuple[AlertService, FakeClock]:
    """Start a service with group_wait 0 and fire one alert, queueing one notification."""
    clock = new_clock()
    grouping = {"group_by": ["target"], "group_wait": "0s", "group_interval": "5m"}
    service = await started(tmp_path, clock, simple_config(fakes, grouping=grouping,
                                                           **overrides), fakes)
    service.submit(signal(at=clock.wall()))
    await service.sync()
    await service.run_due()
    return service, clock


class TestRetries:
    async def test_failing_then_recovering_channel_delivers_once(self, tmp_path: Path) -> None:
        fakes = {"chat": FakeChannel("chat", outcomes=[RETRYABLE, RETRYABLE])}
        service, clock = await notified_service(tmp_path, fakes)
        await service.deliver_due()
        await service.deliver_due()

        assert len(fakes["chat"].calls) == 1
        await clock.advance(30)
        await service.deliver_due()
        await clock.advance(60)
        await service.deliver_due()
        await clock.advance(3600)
        await service.deliver_due()

        assert len(fakes["chat"].delivered) == 1
        assert len(fakes["chat"].calls) == 3
        assert await kinds(service) == [
            "notification.queued", "notification.attempt", "notification.retry",
            "notification.attempt", "notification.retry", "notification.attempt",
            "notification.delivered"]
        await service.stop()

    async def test_permanent_failure_is_dead_lettered(self, tmp_path: Path) -> None:
        fakes = {"chat": FakeChannel("chat", outcomes=[FAILED])}
        service, clock = await notified_service(tmp_path, fakes)
        await service.deliver_due()
        await clock.advance(86400)
        await service.deliver_due()

        assert len(fakes["chat"].calls) == 1
        assert (await kinds(service))[-1] == "notification.failed"
        await service.stop()

    async def test_out_of_attempts_is_dead_lettered(self, tmp_path: Path) -> None:
        fakes = {"chat": FakeChannel("chat", outcomes=[RETRYABLE] * 5)}
        service, clock = await notified_service(tmp_path, fakes, outbox={"max_attempts": 2})
        for _ in range(4):
            await service.deliver_due()
            await clock.advance(3600)

        assert len(fakes["chat"].calls) == 2
        history = await service.history()
        assert history[-1].kind == "notification.failed"
        assert history[-1].detail["detail"] == "fake retryable failure"
        await service.stop()

    async def test_delivery_result_is_in_history(self, tmp_path: Path) -> None:
        fakes = channels("chat")
        service, _ = await notified_service(tmp_path, fakes)
        await service.deliver_due()
        delivered = (await service.history())[-1]

        assert delivered.detail["status"] == 200
        assert delivered.detail["reference"] == "chat-ref-1"
        assert delivered.actor == "outbox"
        await service.stop()

    async def test_unknown_channel_is_dead_lettered(self, tmp_path: Path) -> None:
        fakes = channels("chat")
        service, _ = await notified_service(tmp_path, fakes)
        await service.reload(simple_config(fakes), channels={})
        await service.deliver_due()

        assert fakes["chat"].calls == []
        failed = (await service.history())[-1]
        assert failed.kind == "notification.failed"
        assert failed.detail["detail"] == "channel 'chat' is not configured"
        await service.stop()


class TestOrder:
    async def test_resolve_waits_for_the_firing_before_it(self, tmp_path: Path) -> None:
        fakes = {"chat": FakeChannel("chat", outcomes=[RETRYABLE])}
        service, clock = await notified_service(tmp_path, fakes)
        await service.deliver_due()
        service.submit(signal(state="resolved", at=clock.wall()))
        await run_step(service, clock, 300)

        assert [call.event for call in fakes["chat"].calls] == ["firing", "firing",
                                                                "resolved"]
        await service.stop()

    async def test_reference_is_passed_to_later_notifications(self, tmp_path: Path) -> None:
        fakes = channels("chat")
        service, clock = await notified_service(tmp_path, fakes)
        await service.deliver_due()
        service.submit(signal(state="resolved", at=clock.wall()))
        await run_step(service, clock, 300)

        resolved = fakes["chat"].calls[-1]
        assert resolved.event == "resolved"
        assert dict(resolved.references) == {"chat": "chat-ref-1"}
        await service.stop()

    def test_notification_encoding_round_trip(self) -> None:
        notification = Notification(id="n1", event="firing", group_key="g", alerts=(),
                                    receiver="team", tier=2, references={"jira": "NET-1"})

        assert decode_notification(encode_notification(notification)) == notification


class HangingChannel(FakeChannel):
    """A channel whose sends never finish, to stop the process in the middle of one."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.started = asyncio.Event()

    async def send(self, notification: Notification) -> Delivery:
        self.calls.append(notification)
        self.started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class TestRestart:
    async def test_undelivered_notification_is_sent_after_restart(self, tmp_path: Path) -> None:
        fakes = channels("chat")
        service, clock = await notified_service(tmp_path, fakes)
        await service.store.close()  # the process stops before the outbox runs
        del service

        again = await started(tmp_path, clock, simple_config(fakes), fakes)
        await again.deliver_due()

        assert [call.event for call in fakes["chat"].calls] == ["firing"]
        await again.stop()

    async def test_pending_step_is_carried_out_after_restart(self, tmp_path: Path) -> None:
        fakes = channels("chat", "pager")
        raw = {"grouping": {"group_by": ["target"], "group_wait": "0s"},
               "receivers": {"noc": {"channels": ["chat"]}, "oncall": {"channels": ["pager"]}},
               "policies": {"p": {"tiers": [{"receivers": ["noc"]},
                                            {"receivers": ["oncall"], "after": "15m"}]}},
               "routes": [{"policy": "p"}]}
        clock = new_clock()
        service = await started(tmp_path, clock, config(raw, fakes), fakes)
        service.submit(signal(at=clock.wall()))
        await run_step(service, clock)
        await service.store.close()
        del service

        await clock.advance(20 * 60)
        again = await started(tmp_path, clock, config(raw, fakes), fakes)
        again.submit(signal(state="pending", at=clock.wall()))
        await run_step(again, clock)

        assert [call.event for call in fakes["chat"].calls] == ["firing"]
        assert [(call.event, call.tier) for call in fakes["pager"].calls] == [("firing", 2)]
        await again.stop()

    async def test_send_cut_by_a_crash_is_sent_again(self, tmp_path: Path) -> None:
        hanging = {"chat": HangingChannel("chat")}
        service, clock = await notified_service(tmp_path, hanging)
        sending = asyncio.create_task(service.deliver_due())
        await hanging["chat"].started.wait()
        sending.cancel()
        await service.store.close()

        fakes = channels("chat")
        again = await started(tmp_path, clock, simple_config(fakes), fakes)
        await again.deliver_due()

        assert [call.id for call in fakes["chat"].calls] == [hanging["chat"].calls[0].id]
        assert "notification.requeued" in await kinds(again)
        await again.stop()

    async def test_unconfirmed_alert_resolves_after_restart(self, tmp_path: Path) -> None:
        fakes = channels("chat")
        service, clock = await notified_service(tmp_path, fakes)
        await service.deliver_due()
        await service.stop()

        again = await started(tmp_path, clock, simple_config(fakes), fakes)
        await run_step(again, clock, 600)
        await run_step(again, clock, 300)

        assert [call.event for call in fakes["chat"].calls] == ["firing", "resolved"]
        resolved = [entry for entry in await again.history()
                    if entry.kind == "alert.resolved"]
        assert resolved[0].actor == "restart"
        await again.stop()


class TestDeviceDown:
    def interfaces(self, service: AlertService, clock: FakeClock) -> None:
        for index in range(1, 49):
            service.submit(signal("LinkDown", at=clock.wall(), target="access7",
                                  ifName=f"Gi0/{index}"))

    async def test_48_interface_alerts_make_one_notification(self, tmp_path: Path) -> None:
        clock = new_clock()
        fakes = channels("chat")
        service = await started(tmp_path, clock, simple_config(fakes), fakes)
        self.interfaces(service, clock)
        await run_step(service, clock)
        await run_step(service, clock, 30)

        (sent,) = fakes["chat"].calls
        assert len(sent.alerts) == 48
        assert sent.group_key == 'main:{target="access7"}'
        await service.stop()

    async def test_device_down_alert_inhibits_interface_alerts(self, tmp_path: Path) -> None:
        clock = new_clock()
        fakes = channels("chat")
        service = await started(tmp_path, clock, simple_config(fakes), fakes)
        service.submit(signal("TargetDown", at=clock.wall(), value=0.0, target="access7"))
        self.interfaces(service, clock)
        await run_step(service, clock)
        await run_step(service, clock, 30)

        (sent,) = fakes["chat"].calls
        assert [alert.rule for alert in sent.alerts] == ["TargetDown"]
        assert len([alert for alert in service.alerts() if alert.inhibited_by]) == 48
        await service.stop()


class TestLeadership:
    """Cluster mode: the service starts and stops with the leader lease, in one process."""

    async def test_no_send_once_may_send_says_no(self, tmp_path: Path) -> None:
        fakes = channels("chat")
        service, _ = await notified_service(tmp_path, fakes)
        service._outbox.may_send = lambda: False

        sent = await service.deliver_due()

        assert (sent, fakes["chat"].calls) == (0, [])
        await service.stop()

    async def test_claimed_entry_sent_after_restart(self, tmp_path: Path) -> None:
        fakes = channels("chat")
        service, _ = await notified_service(tmp_path, fakes)
        service._outbox.may_send = lambda: False
        await service.deliver_due()
        await service.stop()

        service._outbox.may_send = None
        await service.start()
        await service.deliver_due()

        assert [call.event for call in fakes["chat"].calls] == ["firing"]
        await service.stop()

    async def test_restart_in_process_takes_state_from_store(self, tmp_path: Path) -> None:
        fakes = channels("chat")
        service, _ = await notified_service(tmp_path, fakes)
        await service.deliver_due()
        await service.stop()

        assert service.alerts() == []
        await service.start()

        assert [alert.rule for alert in service.alerts()] == ["LinkDown"]
        await service.stop()

    async def test_signal_after_stop_is_rejected(self, tmp_path: Path) -> None:
        fakes = channels("chat")
        service, clock = await notified_service(tmp_path, fakes)
        await service.stop()
        rejected = service.counters.signals_rejected

        service.submit(signal(at=clock.wall()))

        assert service.counters.signals_rejected == rejected + 1
