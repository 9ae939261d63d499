"""Escalation: tiers, acknowledgement, repeats, loops, time windows, resolves and handoff."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alerting_helpers import (
    MONDAY_NOON_UTC,
    FakeChannel,
    channels,
    config,
    new_clock,
    signal,
    started,
)
from alerting_helpers import step as run_step
from fakes import FakeClock

from snmpd_ng.alerting.channels.summary import group_fingerprint
from snmpd_ng.alerting.dispatch import AcknowledgeError, AlertNotFoundError
from snmpd_ng.alerting.escalation import EscalationState, Escalator
from snmpd_ng.alerting.grouping import GroupContent
from snmpd_ng.alerting.lifecycle import Alert, AlertState
from snmpd_ng.alerting.routing import Policy, Tier
from snmpd_ng.alerting.service import AlertFilter, AlertService

GROUP = 'network:{target="core1"}'
BUSINESS_HOURS = {"location": "Europe/Berlin", "weekdays": ["monday:friday"],
                  "times": [{"start": "08:00", "end": "18:00"}]}


def three_tiers(**policy: Any) -> dict[str, Any]:
    tiers = policy.pop("tiers", [
        {"receivers": ["noc"]},
        {"receivers": ["oncall"], "after": "15m"},
        {"receivers": ["lead"], "after": "45m"},
    ])
    return {
        "grouping": {"group_by": ["target"], "group_wait": "30s", "group_interval": "5m"},
        "time_windows": {"business-hours": BUSINESS_HOURS},
        "receivers": {"noc": {"channels": ["chat"]}, "oncall": {"channels": ["pager"]},
                      "lead": {"channels": ["mail"]}},
        "policies": {"network": {"tiers": tiers, **policy}},
        "routes": [{"policy": "network"}],
    }


def fakes() -> dict[str, FakeChannel]:
    return channels("chat", "mail", pager="pagerduty")


async def firing(tmp_path: Path, raw: dict[str, Any], clock: FakeClock | None = None,
                 ) -> tuple[AlertService, FakeClock, dict[str, FakeChannel]]:
    """Start a service and fire one alert on core1; the group flushes 30 s later."""
    clock = clock or new_clock()
    built = fakes()
    service = await started(tmp_path, clock, config(raw, built), built)
    service.submit(signal(at=clock.wall()))
    await run_step(service, clock)
    return service, clock, built


def events(channel: FakeChannel) -> list[str]:
    return [call.event for call in channel.calls]


class TestThreeTiers:
    async def test_tier_one_at_group_flush(self, tmp_path: Path) -> None:
        service, clock, built = await firing(tmp_path, three_tiers())
        await run_step(service, clock, 29)

        assert built["chat"].calls == []
        await run_step(service, clock, 1)

        assert built["chat"].events() == [("firing", "noc", 1)]
        assert built["pager"].calls == []
        await service.stop()

    async def test_tier_two_after_its_delay_without_ack(self, tmp_path: Path) -> None:
        service, clock, built = await firing(tmp_path, three_tiers())
        await run_step(service, clock, 30)
        await run_step(service, clock, 15 * 60 - 1)

        assert built["pager"].calls == []
        await run_step(service, clock, 1)

        assert built["pager"].events() == [("firing", "oncall", 2)]
        await service.stop()

    async def test_ack_stops_tier_three(self, tmp_path: Path) -> None:
        service, clock, built = await firing(tmp_path, three_tiers())
        await run_step(service, clock, 30)
        await run_step(service, clock, 15 * 60)
        result = await service.acknowledge(GROUP, "alice", "on it", source="pagerduty")
        await run_step(service, clock)
        await run_step(service, clock, 3600)

        assert len(result.fingerprints) == 1
        assert built["mail"].calls == []
        assert events(built["chat"]) == ["firing", "acknowledged"]
        await service.stop()

    async def test_pagerduty_ack_is_not_sent_back(self, tmp_path: Path) -> None:
        service, clock, built = await firing(tmp_path, three_tiers())
        await run_step(service, clock, 30)
        await run_step(service, clock, 15 * 60)
        await service.acknowledge(group_fingerprint(GROUP), "pd-user", None,
                                  source="pagerduty")
        await run_step(service, clock)

        assert events(built["pager"]) == ["firing"]
        await service.stop()

    async def test_ack_by_fingerprint_tells_everyone_notified(self, tmp_path: Path) -> None:
        service, clock, built = await firing(tmp_path, three_tiers())
        await run_step(service, clock, 30)
        await run_step(service, clock, 15 * 60)
        (alert,) = service.alerts()
        await service.acknowledge(alert.fingerprint, "alice", "on it")
        await run_step(service, clock)

        acknowledged = built["pager"].calls[-1]
        assert acknowledged.event == "acknowledged"
        assert acknowledged.alerts[0].acknowledged_by == "alice"
        assert acknowledged.alerts[0].ack_comment == "on it"
        await service.stop()

    async def test_resolve_goes_to_everyone_notified(self, tmp_path: Path) -> None:
        service, clock, built = await firing(tmp_path, three_tiers())
        await run_step(service, clock, 30)
        await run_step(service, clock, 15 * 60)
        service.submit(signal(state="resolved", at=clock.wall()))
        await run_step(service, clock)

        assert events(built["chat"]) == ["firing", "resolved"]
        assert events(built["pager"]) == ["firing", "resolved"]
        assert built["mail"].calls == []
        assert built["pager"].calls[-1].alerts[0].state == "resolved"
        await service.stop()

    async def test_resolve_after_ack_still_goes_out(self, tmp_path: Path) -> None:
        service, clock, built = await firing(tmp_path, three_tiers())
        await run_step(service, clock, 30)
        await service.acknowledge(GROUP, "alice")
        service.submit(signal(state="resolved", at=clock.wall()))
        await run_step(service, clock, 300)

        assert events(built["chat"]) == ["firing", "acknowledged", "resolved"]
        await service.stop()


async def two_alerts(tmp_path: Path,
                     ) -> tuple[AlertService, FakeClock, dict[str, FakeChannel]]:
    """Notify Gi0/1 and Gi0/2 on core1, which share one group."""
    service, clock, built = await firing(tmp_path, three_tiers())
    service.submit(signal(at=clock.wall(), target="core1", ifName="Gi0/2"))
    await run_step(service, clock, 30)
    return service, clock, built


def fingerprint_of(service: AlertService, if_name: str) -> str:
    (alert,) = [alert for alert in service.alerts() if alert.labels["ifName"] == if_name]
    return alert.fingerprint


class TestStopReason:
    async def two_alerts_one_acknowledged(
            self, tmp_path: Path) -> tuple[AlertService, FakeClock, dict[str, FakeChannel]]:
        """Notify Gi0/1 and Gi0/2 on core1 in one group, then acknowledge Gi0/1."""
        service, clock, built = await two_alerts(tmp_path)
        await service.acknowledge(fingerprint_of(service, "Gi0/1"), "alice")
        await run_step(service, clock)
        return service, clock, built

    async def stop_reasons(self, service: AlertService) -> list[str]:
        return [entry.detail["detail"] for entry in await service.history(GROUP)
                if entry.kind == "escalation.stopped"]

    async def test_silencing_last_unacked_alert_stops_as_muted(self, tmp_path: Path) -> None:
        service, clock, built = await self.two_alerts_one_acknowledged(tmp_path)
        await service.silence('ifName="Gi0/2"', created_by="bob", comment="known")
        await run_step(service, clock, 300)

        assert await self.stop_reasons(service) == ["muted"]
        assert events(built["chat"]) == ["firing", "acknowledged"]
        assert [alert.state for alert in built["chat"].calls[-1].alerts] == ["acknowledged"]
        await service.stop()

    async def test_resolve_of_last_unacked_alert_sends_acknowledged(
            self, tmp_path: Path) -> None:
        service, clock, built = await self.two_alerts_one_acknowledged(tmp_path)
        service.submit(signal(state="resolved", at=clock.wall(), target="core1",
                              ifName="Gi0/2"))
        await run_step(service, clock, 300)

        assert await self.stop_reasons(service) == ["acknowledged"]
        assert events(built["chat"]) == ["firing", "acknowledged"]
        states = sorted(alert.state for alert in built["chat"].calls[-1].alerts)
        assert states == ["acknowledged", "resolved"]
        await service.stop()


class TestPartialAck:
    async def test_result_counts_unacknowledged_alerts(self, tmp_path: Path) -> None:
        service, _, _ = await two_alerts(tmp_path)
        result = await service.acknowledge(fingerprint_of(service, "Gi0/1"), "alice")

        (group,) = result.groups
        assert group.key == GROUP
        assert group.unacknowledged == 1
        assert group.escalation == "running"
        await service.stop()

    async def test_last_ack_reports_stopped(self, tmp_path: Path) -> None:
        service, _, _ = await two_alerts(tmp_path)
        await service.acknowledge(fingerprint_of(service, "Gi0/1"), "alice")
        result = await service.acknowledge(fingerprint_of(service, "Gi0/2"), "alice")

        (group,) = result.groups
        assert group.unacknowledged == 0
        assert group.escalation == "acknowledged"
        await service.stop()

    async def test_alert_history_leaves_out_other_alerts(self, tmp_path: Path) -> None:
        service, _, _ = await two_alerts(tmp_path)
        first = fingerprint_of(service, "Gi0/1")
        entries = await service.history(first)

        assert {entry.fingerprint for entry in entries} == {first, None}
        assert "notification.queued" in [entry.kind for entry in entries]
        await service.stop()

    async def test_partial_ack_keeps_escalating(self, tmp_path: Path) -> None:
        service, clock, built = await two_alerts(tmp_path)
        await service.acknowledge(fingerprint_of(service, "Gi0/1"), "alice")
        await run_step(service, clock, 15 * 60)

        assert events(built["pager"]) == ["firing"]
        await service.stop()

    async def test_partial_ack_sends_update_after_interval(self, tmp_path: Path) -> None:
        service, clock, built = await two_alerts(tmp_path)
        await service.acknowledge(fingerprint_of(service, "Gi0/1"), "alice")
        await run_step(service, clock, 299)

        assert events(built["chat"]) == ["firing"]
        await run_step(service, clock, 1)

        assert events(built["chat"]) == ["firing", "firing"]
        states = sorted(alert.state for alert in built["chat"].calls[-1].alerts)
        assert states == ["acknowledged", "firing"]
        await service.stop()

    async def test_full_ack_sends_no_later_update(self, tmp_path: Path) -> None:
        service, clock, built = await two_alerts(tmp_path)
        await service.acknowledge(GROUP, "alice")
        await run_step(service, clock, 600)

        assert events(built["chat"]) == ["firing", "acknowledged"]
        await service.stop()


class TestAckExpiry:
    async def test_refire_after_resolve_escalates_again(self, tmp_path: Path) -> None:
        service, clock, built = await firing(tmp_path, three_tiers())
        service.submit(signal(at=clock.wall(), target="core1", ifName="Gi0/2"))
        await run_step(service, clock, 30)
        await service.acknowledge(GROUP, "alice")
        service.submit(signal(state="resolved", at=clock.wall()))
        await run_step(service, clock, 60)
        service.submit(signal(at=clock.wall()))
        await run_step(service, clock, 300)

        assert events(built["chat"]) == ["firing", "acknowledged", "firing"]
        (refired,) = [alert for alert in service.alerts()
                      if alert.state is AlertState.FIRING]
        assert refired.acknowledged_by is None
        await run_step(service, clock, 15 * 60)
        assert events(built["pager"]) == ["firing"]
        await service.stop()

    async def test_ack_of_resolved_alert_raises(self, tmp_path: Path) -> None:
        service, clock, _ = await firing(tmp_path, three_tiers())
        service.submit(signal(state="resolved", at=clock.wall()))
        await run_step(service, clock)
        (alert,) = service.alerts(AlertFilter(states=frozenset({AlertState.RESOLVED})))

        with pytest.raises(AcknowledgeError):
            await service.acknowledge(alert.fingerprint, "alice")
        await service.stop()

    async def test_ack_of_unknown_key_raises(self, tmp_path: Path) -> None:
        service, _, _ = await firing(tmp_path, three_tiers())

        with pytest.raises(AlertNotFoundError):
            await service.acknowledge("no-such-alert", "alice")
        await service.stop()


class TestRepeatsAndLoops:
    async def test_current_tier_repeats_until_next_tier(self, tmp_path: Path) -> None:
        raw = three_tiers(tiers=[{"receivers": ["noc"], "repeat": "10m"},
                                 {"receivers": ["oncall"], "after": "25m", "repeat": "1h"}])
        service, clock, built = await firing(tmp_path, raw)
        await run_step(service, clock, 30)
        for _ in range(6):
            await run_step(service, clock, 5 * 60)

        assert events(built["chat"]) == ["firing", "repeat", "repeat"]
        assert events(built["pager"]) == ["firing"]
        await service.stop()

    async def test_loops_run_the_tiers_again(self, tmp_path: Path) -> None:
        raw = three_tiers(tiers=[{"receivers": ["noc"]},
                                 {"receivers": ["oncall"], "after": "10m"}],
                          loops=2, loop_after="30m")
        service, clock, built = await firing(tmp_path, raw)
        await run_step(service, clock, 30)
        for _ in range(12):
            await run_step(service, clock, 10 * 60)

        assert events(built["chat"]) == ["firing", "repeat"]
        assert events(built["pager"]) == ["firing", "repeat"]
        await service.stop()


class TestTimeWindows:
    async def test_business_hours_tier_skipped_at_weekend(self, tmp_path: Path) -> None:
        saturday = FakeClock(start=1000.0, wall_start=MONDAY_NOON_UTC - 2 * 86400)
        raw = three_tiers(tiers=[{"receivers": ["noc"], "active_in": ["business-hours"]},
                                 {"receivers": ["oncall"], "after": "15m"}])
        service, clock, built = await firing(tmp_path, raw, saturday)
        await run_step(service, clock, 30)
        await run_step(service, clock, 15 * 60)

        assert built["chat"].calls == []
        assert events(built["pager"]) == ["firing"]
        kinds = [entry.kind for entry in await service.history(GROUP)]
        assert "escalation.skipped" in kinds
        await service.stop()

    async def test_business_hours_tier_sent_on_monday(self, tmp_path: Path) -> None:
        raw = three_tiers(tiers=[{"receivers": ["noc"], "active_in": ["business-hours"]}])
        service, clock, built = await firing(tmp_path, raw)
        await run_step(service, clock, 30)

        assert events(built["chat"]) == ["firing"]
        await service.stop()

    async def test_muted_in_skips_tier(self, tmp_path: Path) -> None:
        raw = three_tiers(tiers=[{"receivers": ["noc"], "muted_in": ["business-hours"]}])
        service, clock, built = await firing(tmp_path, raw)
        await run_step(service, clock, 30)

        assert built["chat"].calls == []
        await service.stop()

    def test_window_uses_its_time_zone(self) -> None:
        raw = three_tiers(tiers=[{"receivers": ["noc"], "active_in": ["business-hours"]}])
        window = config(raw, fakes()).policies["network"].tiers[0].active_in[0]

        # 12:00 UTC on a Monday in May is 14:00 in Berlin (CEST); 17:30 UTC is 19:30 there.
        assert window.contains(MONDAY_NOON_UTC)
        assert not window.contains(MONDAY_NOON_UTC + 5.5 * 3600)


class TestHandoff:
    async def test_handoff_stops_own_tiers(self, tmp_path: Path) -> None:
        raw = three_tiers(tiers=[
            {"receivers": ["noc"]},
            {"receivers": ["oncall"], "after": "10m", "handoff": True},
            {"receivers": ["lead"], "after": "30m"}])
        service, clock, built = await firing(tmp_path, raw)
        await run_step(service, clock, 30)
        await run_step(service, clock, 10 * 60)
        await run_step(service, clock, 3600)

        assert events(built["pager"]) == ["firing"]
        assert built["mail"].calls == []
        history = await service.history(GROUP)
        stops = [entry.detail["detail"] for entry in history
                 if entry.kind == "escalation.stopped"]
        assert stops == ["handed_off"]
        await service.stop()

    async def test_handoff_group_still_gets_resolve(self, tmp_path: Path) -> None:
        raw = three_tiers(tiers=[{"receivers": ["oncall"], "handoff": True}])
        service, clock, built = await firing(tmp_path, raw)
        await run_step(service, clock, 30)
        service.submit(signal(state="resolved", at=clock.wall()))
        await run_step(service, clock, 300)

        assert events(built["pager"]) == ["firing", "resolved"]
        await service.stop()


def firing_content() -> GroupContent:
    alert = Alert(fingerprint="f", rule="R", labels={}, severity="critical", annotations={},
                  value=1.0, state=AlertState.FIRING, active_since=0.0, starts_at=0.0)
    return GroupContent(notifiable=(alert,), resolved=(), active=1, firing=1)


class TestEscalator:
    def escalator(self, *tiers: Tier) -> Escalator:
        return Escalator({"p": Policy("p", tiers)})

    def test_missed_repeats_collapse_into_one(self) -> None:
        escalator = self.escalator(Tier(("noc",), repeat=300.0))
        state = EscalationState("p")
        escalator.on_flush(state, firing_content(), True, 0.0)
        outcome = escalator.advance(state, firing_content(), 3600.0)

        assert [planned.event for planned in outcome.planned] == ["repeat"]
        assert escalator.next_due(state) == 3900.0

    def test_missed_tiers_all_run_in_order(self) -> None:
        escalator = self.escalator(Tier(("a",)), Tier(("b",), after=600.0),
                                   Tier(("c",), after=1200.0))
        state = EscalationState("p")
        escalator.on_flush(state, firing_content(), True, 0.0)
        outcome = escalator.advance(state, firing_content(), 5000.0)

        assert [(planned.receiver, planned.tier) for planned in outcome.planned] == [
            ("b", 2), ("c", 3)]

    def test_nothing_due_after_last_tier_without_repeat(self) -> None:
        escalator = self.escalator(Tier(("a",)))
        state = EscalationState("p")
        escalator.on_flush(state, firing_content(), True, 0.0)

        assert escalator.next_due(state) is None

    def test_unknown_policy_stops(self) -> None:
        escalator = Escalator({})
        state = EscalationState("gone")
        outcome = escalator.on_flush(state, firing_content(), True, 0.0)

        assert outcome.planned == []
        assert escalator.next_due(state) is None

    def test_state_round_trip(self) -> None:
        escalator = self.escalator(Tier(("a",)), Tier(("b",), after=600.0))
        state = EscalationState("p")
        escalator.on_flush(state, firing_content(), True, 0.0)

        assert EscalationState.from_dict(state.to_dict()) == state
