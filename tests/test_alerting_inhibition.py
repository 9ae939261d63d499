"""Inhibition: inhibit rules, unreachable targets, and dependencies between targets."""

from __future__ import annotations

from pathlib import Path

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
from fakes import FakeClock

from snmpd_ng.alerting.config import AlertingConfig
from snmpd_ng.alerting.inhibition import InhibitionConfig, Inhibitor, InhibitRule
from snmpd_ng.alerting.lifecycle import Alert, AlertState, fingerprint
from snmpd_ng.alerting.matchers import parse_matchers
from snmpd_ng.alerting.service import AlertFilter, AlertService

T0 = MONDAY_NOON_UTC
UNREACHABLE = tuple(parse_matchers('rule="TargetDown"'))
LINK_GROUP = 'main:{rule="LinkDown",target="core1"}'
DOWN_GROUP = 'main:{rule="TargetDown",target="core1"}'


def alert(rule: str, state: AlertState = AlertState.FIRING, **labels: str) -> Alert:
    return Alert(fingerprint=fingerprint(rule, labels), rule=rule, labels=dict(labels),
                 severity="critical", annotations={}, value=1.0, state=state,
                 active_since=T0, starts_at=T0)


def inhibitor(rules: tuple[InhibitRule, ...] = (),
              dependencies: dict[str, tuple[str, ...]] | None = None) -> Inhibitor:
    return Inhibitor(InhibitionConfig(rules, UNREACHABLE, dependencies or {}))


class TestUnreachableTarget:
    def test_down_target_mutes_its_other_alerts(self) -> None:
        down = alert("TargetDown", target="core1")
        link = alert("LinkDown", target="core1", ifName="Gi0/1")
        reasons = inhibitor().inhibited([down, link])

        assert reasons == {link.fingerprint: "target core1 is unreachable"}

    def test_other_target_is_not_muted(self) -> None:
        down = alert("TargetDown", target="core1")
        link = alert("LinkDown", target="core2", ifName="Gi0/1")

        assert inhibitor().inhibited([down, link]) == {}

    def test_pending_down_alert_does_not_mute(self) -> None:
        down = alert("TargetDown", AlertState.PENDING, target="core1")
        link = alert("LinkDown", target="core1", ifName="Gi0/1")

        assert inhibitor().inhibited([down, link]) == {}

    def test_resolved_down_alert_does_not_mute(self) -> None:
        down = alert("TargetDown", AlertState.RESOLVED, target="core1")
        link = alert("LinkDown", target="core1", ifName="Gi0/1")

        assert inhibitor().inhibited([down, link]) == {}

    def test_acknowledged_down_alert_still_mutes(self) -> None:
        down = alert("TargetDown", AlertState.ACKNOWLEDGED, target="core1")
        link = alert("LinkDown", target="core1", ifName="Gi0/1")

        assert link.fingerprint in inhibitor().inhibited([down, link])


class TestInhibitRules:
    rule = InhibitRule(source_matchers=tuple(parse_matchers('rule="SiteDown"')),
                       target_matchers=tuple(parse_matchers('severity="warning"')),
                       equal=("site",))

    def test_source_mutes_target_with_equal_labels(self) -> None:
        source = alert("SiteDown", site="fra")
        target = alert("CpuHigh", site="fra", severity="warning")
        reasons = inhibitor((self.rule,)).inhibited([source, target])

        assert reasons[target.fingerprint].startswith("inhibited by SiteDown")

    def test_different_equal_label_is_not_muted(self) -> None:
        source = alert("SiteDown", site="fra")
        target = alert("CpuHigh", site="ber", severity="warning")

        assert inhibitor((self.rule,)).inhibited([source, target]) == {}

    def test_label_missing_on_both_counts_as_equal(self) -> None:
        source = alert("SiteDown")
        target = alert("CpuHigh", severity="warning")

        assert target.fingerprint in inhibitor((self.rule,)).inhibited([source, target])

    def test_alert_does_not_inhibit_itself(self) -> None:
        both = InhibitRule(tuple(parse_matchers('rule="A"')), tuple(parse_matchers('rule="A"')))
        only = alert("A", target="x")

        assert inhibitor((both,)).inhibited([only]) == {}

    def test_target_not_matching_target_matchers_is_kept(self) -> None:
        source = alert("SiteDown", site="fra")
        target = alert("CpuHigh", site="fra", severity="critical")

        assert inhibitor((self.rule,)).inhibited([source, target]) == {}


class TestDependencies:
    def test_upstream_down_mutes_everything_behind_it(self) -> None:
        core = alert("TargetDown", target="core1")
        access_down = alert("TargetDown", target="access1")
        access_link = alert("LinkDown", target="access1", ifName="Gi0/2")
        reasons = inhibitor(dependencies={"access1": ("core1",)}).inhibited(
            [core, access_down, access_link])

        assert set(reasons) == {access_down.fingerprint, access_link.fingerprint}
        assert reasons[access_down.fingerprint] == "upstream core1 of access1 unreachable"

    def test_upstream_alert_itself_is_not_muted(self) -> None:
        core = alert("TargetDown", target="core1")
        reasons = inhibitor(dependencies={"access1": ("core1",)}).inhibited([core])

        assert reasons == {}

    def test_one_of_two_redundant_upstreams_down_mutes_nothing(self) -> None:
        core1 = alert("TargetDown", target="core1")
        access = alert("TargetDown", target="access1")
        rules = inhibitor(dependencies={"access1": ("core1", "core2")})

        assert rules.inhibited([core1, access]) == {}

    def test_both_redundant_upstreams_down_mutes(self) -> None:
        core1 = alert("TargetDown", target="core1")
        core2 = alert("TargetDown", target="core2")
        access = alert("TargetDown", target="access1")
        rules = inhibitor(dependencies={"access1": ("core1", "core2")})

        assert access.fingerprint in rules.inhibited([core1, core2, access])

    def test_chain_mutes_transitively(self) -> None:
        core = alert("TargetDown", target="core1")
        access = alert("TargetDown", target="access1")
        edge = alert("TargetDown", target="edge1")
        rules = inhibitor(dependencies={"access1": ("core1",), "edge1": ("access1",)})

        assert set(rules.inhibited([core, access, edge])) == {access.fingerprint,
                                                                edge.fingerprint}


class TestInhibitionInService:
    async def test_down_target_mutes_links_until_it_resolves(self, tmp_path: Path) -> None:
        clock = new_clock()
        fakes = channels("chat")
        service = await started(tmp_path, clock, simple_config(fakes), fakes)
        service.submit(signal("TargetDown", at=clock.wall(), target="core1"))
        service.submit(signal("LinkDown", at=clock.wall(), target="core1", ifName="Gi0/1"))
        await run_step(service, clock)

        (muted,) = service.alerts(AlertFilter(inhibited=True))
        assert muted.rule == "LinkDown"

        service.submit(signal("TargetDown", "resolved", at=clock.wall(), target="core1"))
        await run_step(service, clock, 1)

        assert service.alerts(AlertFilter(inhibited=True)) == []
        history = await service.history(muted.fingerprint)
        kinds = [entry.kind for entry in history if entry.fingerprint == muted.fingerprint]
        assert kinds == ["alert.firing", "alert.inhibited", "alert.grouped",
                         "alert.uninhibited"]
        await service.stop()


def by_rule_config(fakes: dict[str, FakeChannel]) -> AlertingConfig:
    """Group by target and rule, so that TargetDown and LinkDown get separate groups."""
    return simple_config(fakes, grouping={"group_by": ["target", "rule"], "group_wait": "30s",
                                          "group_interval": "5m"})


class TestInhibitedGroupNotifications:
    async def link_notified_then_inhibited(
            self, tmp_path: Path) -> tuple[AlertService, FakeClock, FakeChannel]:
        """Notify LinkDown on core1, then fire TargetDown on core1, which inhibits it."""
        clock = new_clock()
        fakes = channels("chat")
        service = await started(tmp_path, clock, by_rule_config(fakes), fakes)
        service.submit(signal("LinkDown", at=clock.wall(), target="core1", ifName="Gi0/1"))
        await run_step(service, clock)
        await run_step(service, clock, 30)
        service.submit(signal("TargetDown", at=clock.wall(), target="core1"))
        await run_step(service, clock)
        await run_step(service, clock, 300)
        return service, clock, fakes["chat"]

    async def test_inhibited_group_gets_no_empty_notification(self, tmp_path: Path) -> None:
        service, _, chat = await self.link_notified_then_inhibited(tmp_path)

        assert [call for call in chat.calls if not call.alerts] == []
        assert [call.group_key for call in chat.calls] == [LINK_GROUP, DOWN_GROUP]
        await service.stop()

    async def test_resolve_while_inhibited_goes_out(self, tmp_path: Path) -> None:
        service, clock, chat = await self.link_notified_then_inhibited(tmp_path)
        service.submit(signal("LinkDown", "resolved", at=clock.wall(), target="core1",
                              ifName="Gi0/1"))
        await run_step(service, clock)
        await run_step(service, clock, 300)

        link_calls = [call for call in chat.calls if call.group_key == LINK_GROUP]
        assert [call.event for call in link_calls] == ["firing", "resolved"]
        assert [alert.state for alert in link_calls[-1].alerts] == ["resolved"]
        await service.stop()
