"""AlertingClusterCollector: alerting's cluster families on /metrics."""

from __future__ import annotations

import dataclasses

from prometheus_client import CollectorRegistry, generate_latest

from snmpd_ng.cluster.alerting_metrics import AlertingClusterCollector, AlertingClusterSnapshot

ZERO = AlertingClusterSnapshot(
    alert_service_active=False, alert_service_terms=0, signals_published=0,
    signals_dropped=0, signals_buffered=0, signal_batches_failed=0, signals_received=0,
    signals_applied=0, signals_acked=0, signal_decode_errors=0, signal_handler_failures=0,
    signals_pending=None, rule_state_saves=0, rule_state_save_failures=0,
    rule_state_fenced_skips=0, rule_state_loads=0, rule_state_load_failures=0,
    rule_states_imported=0, results_dropped=0)


def exposition(snapshot: AlertingClusterSnapshot) -> str:
    registry = CollectorRegistry()
    registry.register(AlertingClusterCollector(lambda: snapshot))
    return generate_latest(registry).decode()


def test_leader_shows_active_alert_service() -> None:
    text = exposition(dataclasses.replace(ZERO, alert_service_active=True))

    assert "snmpd_ng_cluster_alert_service_active 1.0" in text


def test_signals_sent_by_result() -> None:
    text = exposition(dataclasses.replace(ZERO, signals_published=7, signals_dropped=2))

    assert 'snmpd_ng_cluster_signals_sent_total{result="dropped"} 2.0' in text


def test_rule_state_fenced_saves_counted() -> None:
    text = exposition(dataclasses.replace(ZERO, rule_state_fenced_skips=3))

    assert 'snmpd_ng_cluster_rule_state_saves_total{result="fenced"} 3.0' in text


def test_pending_left_out_before_the_first_read() -> None:
    assert "snmpd_ng_cluster_signals_pending" not in exposition(ZERO)


def test_pending_shown_once_known() -> None:
    text = exposition(dataclasses.replace(ZERO, signals_pending=4))

    assert "snmpd_ng_cluster_signals_pending 4.0" in text
