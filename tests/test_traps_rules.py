"""Trap rules: matching, alert identity, deduplication, resolution by trap and by time."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from snmpd_ng.alerting.rules.model import RuleSignal, SignalState
from snmpd_ng.alerting.traps.event import TrapEvent
from snmpd_ng.alerting.traps.names import (
    NOTIFICATIONS,
    notification_name,
    resolve_notification,
    resolve_object,
)
from snmpd_ng.alerting.traps.rules import TrapRule, TrapRules, key_varbind, varbind_texts
from snmpd_ng.protocol.message import SnmpVersion
from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.values import Integer32, OctetString, VarBind

SOURCE = "192.0.2.10"
OTHER_SOURCE = "192.0.2.99"
START = 1_000.0
WALL_OFFSET = 1_700_000_000.0

IF_INDEX: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 1)
IF_DESCR: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
IF_ADMIN_STATUS: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 7)
IF_OPER_STATUS: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 8)


class StepClock:
    """A clock that moves only when a test sets `monotonic`."""

    def __init__(self) -> None:
        self.monotonic = START

    def now(self) -> float:
        return self.monotonic

    def wall(self) -> float:
        return self.monotonic + WALL_OFFSET


def link_event(trap: str, if_index: int, *, source: str = SOURCE, at: float = START,
               admin_status: int = 1, descr: bytes = b"Gi0/1") -> TrapEvent:
    varbinds = (
        VarBind((*IF_INDEX, if_index), Integer32(if_index)),
        VarBind((*IF_ADMIN_STATUS, if_index), Integer32(admin_status)),
        VarBind((*IF_OPER_STATUS, if_index), Integer32(2 if trap == "linkDown" else 1)),
        VarBind((*IF_DESCR, if_index), OctetString(descr)),
    )
    return TrapEvent(source, 40000, SnmpVersion.V2C, "ops", NOTIFICATIONS[trap], 100,
                     varbinds, at + WALL_OFFSET)


def cold_start(source: str = SOURCE, at: float = START) -> TrapEvent:
    return TrapEvent(source, 40000, SnmpVersion.V1, "ops", NOTIFICATIONS["coldStart"], 5, (),
                     at + WALL_OFFSET)


def link_down_rule(**overrides: object) -> TrapRule:
    settings: dict[str, object] = {
        "key": ["ifIndex"], "severity": "critical", "resolved_by": "linkUp",
        "dedup_window": 300.0, "labels": {"team": "network"},
        "annotations": {"summary": "{{ varbinds.ifDescr }} (ifIndex {{ labels.ifIndex }}) "
                                   "down on {{ target }}"},
    }
    settings.update(overrides)
    return TrapRule.build("LinkDown", "linkDown", **settings)  # type: ignore[arg-type]


def engine_with(*rules: TrapRule, clock: StepClock | None = None,
                target_names: dict[str, str] | None = None) -> TrapRules:
    return TrapRules(rules, clock or StepClock(), target_names=target_names)


def only(signals: list[RuleSignal]) -> RuleSignal:
    assert len(signals) == 1
    return signals[0]


# ---------------------------------------------------------------------------------------------
# linkDown and linkUp


def test_link_down_fires() -> None:
    signal = only(engine_with(link_down_rule()).observe(link_event("linkDown", 3), START))
    assert signal.state == "firing"
    assert signal.rule == "LinkDown"
    assert signal.severity == "critical"
    assert signal.value is None


def test_link_down_labels() -> None:
    signal = only(engine_with(link_down_rule()).observe(link_event("linkDown", 3), START))
    assert signal.labels == {"source": SOURCE, "target": SOURCE, "trap": "linkDown",
                             "ifIndex": "3", "team": "network", "severity": "critical"}


def test_link_down_annotation_reads_varbinds() -> None:
    signal = only(engine_with(link_down_rule()).observe(link_event("linkDown", 3), START))
    assert signal.annotations == {"summary": f"Gi0/1 (ifIndex 3) down on {SOURCE}"}


def test_link_down_times_are_wall_times() -> None:
    signal = only(engine_with(link_down_rule()).observe(link_event("linkDown", 3), START))
    assert signal.active_since == START + WALL_OFFSET
    assert signal.at == START + WALL_OFFSET


def test_repeat_within_window_deduplicated() -> None:
    rules = engine_with(link_down_rule())
    rules.observe(link_event("linkDown", 3), START)
    assert rules.observe(link_event("linkDown", 3, at=START + 299), START + 299) == []
    assert rules.deduplicated == {"LinkDown": 1}


def test_repeat_after_window_fires_again() -> None:
    rules = engine_with(link_down_rule())
    rules.observe(link_event("linkDown", 3), START)
    signal = only(rules.observe(link_event("linkDown", 3, at=START + 300), START + 300))
    assert signal.state == "firing"
    assert signal.active_since == START + WALL_OFFSET
    assert signal.at == START + 300 + WALL_OFFSET


def test_other_if_index_is_another_alert() -> None:
    rules = engine_with(link_down_rule())
    rules.observe(link_event("linkDown", 3), START)
    signal = only(rules.observe(link_event("linkDown", 4), START + 1))
    assert signal.labels["ifIndex"] == "4"


def test_link_up_same_if_index_resolves() -> None:
    rules = engine_with(link_down_rule())
    rules.observe(link_event("linkDown", 3), START)
    signal = only(rules.observe(link_event("linkUp", 3, at=START + 60), START + 60))
    assert signal.state == "resolved"
    assert signal.labels["ifIndex"] == "3"
    assert signal.active_since == START + WALL_OFFSET
    assert signal.at == START + 60 + WALL_OFFSET


def test_link_up_other_if_index_resolves_nothing() -> None:
    rules = engine_with(link_down_rule())
    rules.observe(link_event("linkDown", 3), START)
    assert rules.observe(link_event("linkUp", 4), START + 60) == []
    assert len(rules.active_alerts()) == 1


def test_link_up_from_other_source_resolves_nothing() -> None:
    rules = engine_with(link_down_rule())
    rules.observe(link_event("linkDown", 3), START)
    assert rules.observe(link_event("linkUp", 3, source=OTHER_SOURCE), START + 60) == []


def test_link_up_without_alert_emits_nothing() -> None:
    assert engine_with(link_down_rule()).observe(link_event("linkUp", 3), START) == []


def test_link_down_after_resolve_is_new_alert() -> None:
    rules = engine_with(link_down_rule())
    rules.observe(link_event("linkDown", 3), START)
    rules.observe(link_event("linkUp", 3), START + 10)
    signal = only(rules.observe(link_event("linkDown", 3, at=START + 20), START + 20))
    assert signal.state == "firing"
    assert signal.active_since == START + 20 + WALL_OFFSET


def test_rule_with_resolved_by_never_times_out() -> None:
    clock = StepClock()
    rules = engine_with(link_down_rule(), clock=clock)
    rules.observe(link_event("linkDown", 3), START)
    assert rules.tick(START + 365 * 86400) == []


# ---------------------------------------------------------------------------------------------
# coldStart and resolve_after


def test_cold_start_emits_signal() -> None:
    rule = TrapRule.build("DeviceRestarted", "coldStart", severity="info", resolve_after=3600)
    signal = only(engine_with(rule).observe(cold_start(), START))
    assert signal.state == "firing"
    assert signal.labels["trap"] == "coldStart"


def test_resolve_after_resolves_on_tick() -> None:
    clock = StepClock()
    rule = TrapRule.build("DeviceRestarted", "coldStart", resolve_after=3600)
    rules = engine_with(rule, clock=clock)
    rules.observe(cold_start(), START)
    assert rules.tick(START + 3599) == []
    clock.monotonic = START + 3600
    signal = only(rules.tick())
    assert signal.state == "resolved"
    assert signal.at == START + 3600 + WALL_OFFSET


def test_repeat_postpones_resolve_after() -> None:
    rule = TrapRule.build("DeviceRestarted", "coldStart", resolve_after=3600)
    rules = engine_with(rule)
    rules.observe(cold_start(), START)
    rules.observe(cold_start(at=START + 1000), START + 1000)
    assert rules.tick(START + 3600) == []
    assert len(rules.tick(START + 4600)) == 1


# ---------------------------------------------------------------------------------------------
# Matching


def test_other_trap_oid_does_not_match() -> None:
    assert engine_with(link_down_rule()).observe(cold_start(), START) == []


def test_source_network_limits_rule() -> None:
    rules = engine_with(link_down_rule(sources=["192.0.2.0/28"]))
    assert rules.observe(link_event("linkDown", 3, source=OTHER_SOURCE), START) == []
    assert len(rules.observe(link_event("linkDown", 3), START)) == 1


def test_varbind_value_must_equal() -> None:
    rules = engine_with(link_down_rule(varbinds={"ifAdminStatus": "1"}))
    assert rules.observe(link_event("linkDown", 3, admin_status=2), START) == []
    assert len(rules.observe(link_event("linkDown", 3, admin_status=1), START)) == 1


def test_varbind_pattern_matches_whole_value() -> None:
    rules = engine_with(link_down_rule(varbind_patterns={"ifDescr": "Gi0/.*"}))
    assert rules.observe(link_event("linkDown", 3, descr=b"Te1/1"), START) == []
    assert len(rules.observe(link_event("linkDown", 3, descr=b"Gi0/7"), START)) == 1


def test_varbind_condition_on_missing_varbind_fails() -> None:
    rules = engine_with(link_down_rule(varbinds={"sysName": "core1"}))
    assert rules.observe(link_event("linkDown", 3), START) == []


def test_key_falls_back_to_row_index() -> None:
    event = TrapEvent(SOURCE, 162, SnmpVersion.V2C, "ops", NOTIFICATIONS["linkDown"], 1,
                      (VarBind((*IF_OPER_STATUS, 12), Integer32(2)),), START + WALL_OFFSET)
    signal = only(engine_with(link_down_rule()).observe(event, START))
    assert signal.labels["ifIndex"] == "12"


def test_key_missing_gives_empty_label() -> None:
    event = TrapEvent(SOURCE, 162, SnmpVersion.V2C, "ops", NOTIFICATIONS["linkDown"], 1, (),
                      START + WALL_OFFSET)
    signal = only(engine_with(link_down_rule()).observe(event, START))
    assert signal.labels["ifIndex"] == ""


def test_target_label_from_target_names() -> None:
    rules = engine_with(link_down_rule(), target_names={SOURCE: "core1"})
    signal = only(rules.observe(link_event("linkDown", 3), START))
    assert signal.labels["target"] == "core1"
    assert signal.labels["source"] == SOURCE


def test_trap_matching_two_rules_fires_both() -> None:
    second = TrapRule.build("AnyLinkDown", "linkDown", resolve_after=60)
    signals = engine_with(link_down_rule(), second).observe(link_event("linkDown", 3), START)
    assert sorted(signal.rule for signal in signals) == ["AnyLinkDown", "LinkDown"]


# ---------------------------------------------------------------------------------------------
# Errors and limits


def test_duplicate_rule_names_rejected() -> None:
    with pytest.raises(ValueError, match="LinkDown"):
        engine_with(link_down_rule(), link_down_rule())


def test_failing_template_counted_and_logged() -> None:
    rule = link_down_rule(annotations={"summary": "{{ labels.ifIndex | int / 0 }}"})
    rules = engine_with(rule)
    with capture_logs() as logs:
        signal = only(rules.observe(link_event("linkDown", 3), START))
    assert "failed to render" in signal.annotations["summary"]
    assert rules.render_errors == {"LinkDown": 1}
    assert [entry["event"] for entry in logs] == ["trap annotation template failed"]


def test_oldest_alert_forgotten_beyond_max_active() -> None:
    rules = TrapRules([link_down_rule()], StepClock(), max_active=2)
    for if_index in (1, 2, 3):
        rules.observe(link_event("linkDown", if_index), START + if_index)
    active = sorted(signal.labels["ifIndex"] for signal in rules.active_alerts())
    assert active == ["2", "3"]
    assert rules.evicted == 1


def test_active_alerts_report_last_signal_time() -> None:
    rules = engine_with(link_down_rule())
    rules.observe(link_event("linkDown", 3), START)
    rules.observe(link_event("linkDown", 3, at=START + 400), START + 400)
    signal = only(rules.active_alerts())
    assert signal.at == START + 400 + WALL_OFFSET


# ---------------------------------------------------------------------------------------------
# Restart


def stored_link_down(state: SignalState = "firing", rule: str = "LinkDown") -> RuleSignal:
    """Return an alert as the alert store keeps it over a restart."""
    labels = {"source": SOURCE, "target": SOURCE, "trap": "linkDown", "ifIndex": "3",
              "team": "network", "severity": "critical"}
    return RuleSignal(rule, labels, state, None, START - 500 + WALL_OFFSET,
                      START - 500 + WALL_OFFSET, "critical", {"summary": "Gi0/1 down"})


def test_restored_alert_resolved_by_link_up() -> None:
    rules = engine_with(link_down_rule())
    rules.restore([stored_link_down()], START)
    signal = only(rules.observe(link_event("linkUp", 3), START + 5))
    assert signal.state == "resolved"
    assert signal.active_since == START - 500 + WALL_OFFSET


def test_restore_confirms_each_alert() -> None:
    signal = only(engine_with(link_down_rule()).restore([stored_link_down()], START))
    assert signal.state == "firing"
    assert signal.labels["ifIndex"] == "3"
    assert signal.at == START + WALL_OFFSET


def test_restored_alert_deduplicates_repeat() -> None:
    rules = engine_with(link_down_rule())
    rules.restore([stored_link_down()], START)
    assert rules.observe(link_event("linkDown", 3), START + 1) == []


@pytest.mark.parametrize(("state", "rule"), [("resolved", "LinkDown"), ("firing", "Removed")])
def test_restore_skips_resolved_and_unknown(state: SignalState, rule: str) -> None:
    rules = engine_with(link_down_rule())
    assert rules.restore([stored_link_down(state, rule)], START) == []
    assert rules.active_alerts() == []


def test_restored_alert_times_out_from_restart() -> None:
    rule = TrapRule.build("DeviceRestarted", "coldStart", resolve_after=3600)
    rules = engine_with(rule)
    stored = RuleSignal("DeviceRestarted", {"source": SOURCE}, "firing", None, WALL_OFFSET,
                        WALL_OFFSET, "warning", {})
    rules.restore([stored], START)
    assert rules.tick(START + 3599) == []
    assert len(rules.tick(START + 3600)) == 1


# ---------------------------------------------------------------------------------------------
# Names


def test_notification_names_resolve() -> None:
    assert resolve_notification("linkUp") == (1, 3, 6, 1, 6, 3, 1, 1, 5, 4)
    assert resolve_notification(".1.3.6.1.4.1.9.9.41.2.0.1") == (1, 3, 6, 1, 4, 1, 9, 9, 41, 2,
                                                                 0, 1)


def test_unknown_notification_suggests_name() -> None:
    with pytest.raises(ValueError, match="did you mean 'linkDown'"):
        resolve_notification("linkdown")


def test_notification_name_falls_back_to_oid() -> None:
    assert notification_name((1, 3, 6, 1, 4, 1, 9, 0, 1)) == "1.3.6.1.4.1.9.0.1"


def test_resolve_object_gives_table_entry_of_column() -> None:
    assert resolve_object("ifIndex") == (IF_INDEX, (1, 3, 6, 1, 2, 1, 2, 2, 1))


def test_resolve_object_knows_notification_objects() -> None:
    assert resolve_object("snmpTrapAddress") == ((1, 3, 6, 1, 6, 3, 18, 1, 3), None)


def test_numeric_key_needs_label() -> None:
    with pytest.raises(ValueError, match="label"):
        key_varbind("1.3.6.1.4.1.9.2.2.1.1.20")


def test_varbind_texts_by_name_and_oid() -> None:
    texts = varbind_texts(link_event("linkDown", 3).varbinds)
    assert texts["ifDescr"] == "Gi0/1"
    assert texts["1.3.6.1.2.1.2.2.1.2.3"] == "Gi0/1"
