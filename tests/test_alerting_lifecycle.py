"""The alert lifecycle: identity, transitions, acknowledgement, flap damping and restore."""

from __future__ import annotations

import itertools

import pytest
from alerting_helpers import MONDAY_NOON_UTC, signal

from snmpd_ng.alerting.lifecycle import (
    TRANSITIONS,
    Alert,
    AlertEvent,
    AlertState,
    FlapPolicy,
    Lifecycle,
    TransitionError,
    fingerprint,
    next_state,
)

T0 = MONDAY_NOON_UTC


def lifecycle(**flapping: float) -> Lifecycle:
    return Lifecycle(FlapPolicy(**flapping) if flapping else None, restore_grace=600.0)


def only_alert(alerts: Lifecycle) -> Alert:
    (alert,) = list(alerts)
    return alert


class TestFingerprint:
    def test_fingerprint_ignores_label_order(self) -> None:
        assert fingerprint("A", {"x": "1", "y": "2"}) == fingerprint("A", {"y": "2", "x": "1"})

    def test_fingerprint_depends_on_rule(self) -> None:
        assert fingerprint("A", {"x": "1"}) != fingerprint("B", {"x": "1"})

    def test_fingerprint_depends_on_values(self) -> None:
        assert fingerprint("A", {"x": "1"}) != fingerprint("A", {"x": "2"})

    def test_fingerprint_separators_cannot_be_imitated(self) -> None:
        assert fingerprint("A", {"x": "1,y=2"}) != fingerprint("A", {"x": "1", "y": "2"})

    def test_same_condition_makes_one_alert(self) -> None:
        alerts = lifecycle()
        alerts.apply(signal(state="pending", at=T0))
        alerts.apply(signal(state="firing", at=T0 + 60))

        assert len(alerts) == 1


class TestTransitions:
    @pytest.mark.parametrize(("state", "event"), [
        pair for pair in itertools.product([None, *AlertState], AlertEvent)
        if pair not in TRANSITIONS
    ])
    def test_unlisted_pair_raises(self, state: AlertState | None, event: AlertEvent) -> None:
        with pytest.raises(TransitionError) as caught:
            next_state("ab" * 32, state, event)

        assert caught.value.state is state
        assert caught.value.event is event

    def test_error_message_names_state_and_event(self) -> None:
        with pytest.raises(TransitionError, match="is resolved: cannot acknowledge"):
            next_state("ab" * 32, AlertState.RESOLVED, AlertEvent.ACKNOWLEDGE)

    def test_firing_signal_creates_firing_alert(self) -> None:
        alerts = lifecycle()
        change = alerts.apply(signal(at=T0))

        assert change is not None
        assert change.kind == "firing"
        assert change.previous is None
        assert only_alert(alerts).state is AlertState.FIRING
        assert only_alert(alerts).episode == 1

    def test_pending_then_firing_sets_start(self) -> None:
        alerts = lifecycle()
        alerts.apply(signal(state="pending", at=T0))
        change = alerts.apply(signal(state="firing", at=T0 + 300))

        assert change is not None
        assert change.previous is AlertState.PENDING
        assert only_alert(alerts).starts_at == T0 + 300

    def test_pending_that_resolves_never_fired(self) -> None:
        alerts = lifecycle()
        alerts.apply(signal(state="pending", at=T0))
        alerts.apply(signal(state="resolved", at=T0 + 10))

        assert only_alert(alerts).state is AlertState.RESOLVED
        assert only_alert(alerts).episode == 0

    def test_resolve_of_unknown_alert_raises(self) -> None:
        with pytest.raises(TransitionError):
            lifecycle().apply(signal(state="resolved", at=T0))

    def test_second_resolve_changes_nothing(self) -> None:
        alerts = lifecycle()
        alerts.apply(signal(at=T0))
        alerts.apply(signal(state="resolved", at=T0 + 10))

        assert alerts.apply(signal(state="resolved", at=T0 + 20)) is None

    def test_new_episode_is_active_since_its_own_start(self) -> None:
        alerts = lifecycle()
        alerts.apply(signal(at=T0))
        alerts.apply(signal(state="resolved", at=T0 + 10))
        alerts.apply(signal(at=T0 + 60))

        assert only_alert(alerts).active_since == T0 + 60

    def test_pending_for_firing_alert_changes_nothing(self) -> None:
        alerts = lifecycle()
        alerts.apply(signal(at=T0))

        assert alerts.apply(signal(state="pending", at=T0 + 10)) is None
        assert only_alert(alerts).state is AlertState.FIRING


class TestAcknowledge:
    def test_acknowledge_records_who_and_why(self) -> None:
        alerts = lifecycle()
        alerts.apply(signal(at=T0))
        key = only_alert(alerts).fingerprint
        change = alerts.acknowledge(key, "alice", "on it", "snmpd-ng", T0 + 5)

        alert = only_alert(alerts)
        assert change is not None
        assert alert.state is AlertState.ACKNOWLEDGED
        assert alert.acknowledged_by == "alice"
        assert alert.ack_comment == "on it"
        assert alert.acknowledged_at == T0 + 5

    def test_second_acknowledge_changes_nothing(self) -> None:
        alerts = lifecycle()
        alerts.apply(signal(at=T0))
        key = only_alert(alerts).fingerprint
        alerts.acknowledge(key, "alice", None, "snmpd-ng", T0 + 5)

        assert alerts.acknowledge(key, "bob", None, "pagerduty", T0 + 6) is None
        assert only_alert(alerts).acknowledged_by == "alice"

    def test_acknowledge_resolved_alert_raises(self) -> None:
        alerts = lifecycle()
        alerts.apply(signal(at=T0))
        alerts.apply(signal(state="resolved", at=T0 + 10))

        with pytest.raises(TransitionError):
            alerts.acknowledge(only_alert(alerts).fingerprint, "alice", None, "api", T0 + 20)

    def test_acknowledgement_expires_on_refire(self) -> None:
        alerts = lifecycle()
        alerts.apply(signal(at=T0))
        alerts.acknowledge(only_alert(alerts).fingerprint, "alice", "x", "api", T0 + 5)
        alerts.apply(signal(state="resolved", at=T0 + 60))
        alerts.apply(signal(at=T0 + 7200))

        alert = only_alert(alerts)
        assert alert.state is AlertState.FIRING
        assert alert.acknowledged_by is None
        assert alert.episode == 2

    def test_acknowledged_alert_stays_acknowledged_on_firing_signal(self) -> None:
        alerts = lifecycle()
        alerts.apply(signal(at=T0))
        alerts.acknowledge(only_alert(alerts).fingerprint, "alice", None, "api", T0 + 5)

        assert alerts.apply(signal(at=T0 + 10)) is None
        assert only_alert(alerts).state is AlertState.ACKNOWLEDGED


class TestFlapping:
    def flap(self, alerts: Lifecycle, times: int) -> None:
        for index in range(times):
            alerts.apply(signal(at=T0 + index * 60))
            alerts.apply(signal(state="resolved", at=T0 + index * 60 + 30))

    def test_steady_alert_resolves_at_once(self) -> None:
        alerts = lifecycle(window=900, threshold=4, hold=300)
        self.flap(alerts, 1)

        assert only_alert(alerts).state is AlertState.RESOLVED

    def test_flapping_alert_holds_resolve(self) -> None:
        alerts = lifecycle(window=900, threshold=4, hold=300)
        self.flap(alerts, 3)
        alerts.apply(signal(at=T0 + 180))
        change = alerts.apply(signal(state="resolved", at=T0 + 210))

        assert change is not None
        assert change.kind == "resolve_held"
        assert only_alert(alerts).state is AlertState.FIRING

    def test_refire_during_hold_cancels_it(self) -> None:
        alerts = lifecycle(window=900, threshold=4, hold=300)
        self.flap(alerts, 3)
        alerts.apply(signal(at=T0 + 180))
        alerts.apply(signal(state="resolved", at=T0 + 210))
        change = alerts.apply(signal(at=T0 + 240))

        assert change is not None
        assert change.kind == "resolve_cancelled"
        assert only_alert(alerts).held_resolve is None
        assert only_alert(alerts).episode == 4

    def test_hold_ends_with_resolve_at_original_time(self) -> None:
        alerts = lifecycle(window=900, threshold=4, hold=300)
        self.flap(alerts, 3)
        alerts.apply(signal(at=T0 + 180))
        alerts.apply(signal(state="resolved", at=T0 + 210))

        assert alerts.tick(T0 + 500) == []
        changes = alerts.tick(T0 + 510)

        assert [change.kind for change in changes] == ["resolved"]
        assert only_alert(alerts).ends_at == T0 + 210

    def test_hold_zero_turns_damping_off(self) -> None:
        alerts = lifecycle(window=900, threshold=2, hold=0)
        self.flap(alerts, 5)

        assert only_alert(alerts).state is AlertState.RESOLVED


class TestRestore:
    def saved_alert(self) -> Alert:
        alerts = lifecycle()
        alerts.apply(signal(at=T0))
        return Alert.from_dict(only_alert(alerts).to_dict())

    def test_dict_round_trip(self) -> None:
        alert = self.saved_alert()

        assert Alert.from_dict(alert.to_dict()) == alert

    def test_unconfirmed_alert_resolves_after_grace(self) -> None:
        alerts = lifecycle()
        alerts.restore([self.saved_alert()], T0 + 100)

        assert alerts.tick(T0 + 699) == []
        changes = alerts.tick(T0 + 700)

        assert [change.actor for change in changes] == ["restart"]
        assert only_alert(alerts).state is AlertState.RESOLVED

    def test_pending_signal_confirms_restored_alert(self) -> None:
        alerts = lifecycle()
        alerts.restore([self.saved_alert()], T0 + 100)
        change = alerts.apply(signal(state="pending", at=T0 + 110))

        assert change is not None
        assert change.kind == "confirmed"
        assert alerts.tick(T0 + 10_000) == []
        assert only_alert(alerts).state is AlertState.FIRING


class TestPrune:
    def test_old_resolved_alert_is_forgotten(self) -> None:
        alerts = Lifecycle(FlapPolicy(window=60), retention=600)
        alerts.apply(signal(at=T0))
        alerts.apply(signal(state="resolved", at=T0 + 10))

        assert alerts.prune(T0 + 609, keep=set()) == []
        assert len(alerts.prune(T0 + 610, keep=set())) == 1

    def test_alert_in_keep_is_kept(self) -> None:
        alerts = Lifecycle(FlapPolicy(window=60), retention=600)
        alerts.apply(signal(at=T0))
        alerts.apply(signal(state="resolved", at=T0 + 10))
        key = only_alert(alerts).fingerprint

        assert alerts.prune(T0 + 10_000, keep={key}) == []


class TestReplayedSignals:
    """Cluster mode delivers signals at least once: a replayed batch must not refire."""

    def test_firing_older_than_the_resolve_is_ignored(self) -> None:
        alerts = lifecycle()
        alerts.apply(signal(at=T0))
        alerts.apply(signal(state="resolved", at=T0 + 30))

        assert alerts.apply(signal(at=T0)) is None

    def test_alert_stays_resolved_after_a_replay(self) -> None:
        alerts = lifecycle()
        alerts.apply(signal(at=T0))
        alerts.apply(signal(state="resolved", at=T0 + 30))
        alerts.apply(signal(at=T0))

        assert only_alert(alerts).state is AlertState.RESOLVED

    def test_firing_after_the_resolve_starts_a_new_episode(self) -> None:
        alerts = lifecycle()
        alerts.apply(signal(at=T0))
        alerts.apply(signal(state="resolved", at=T0 + 30))
        alerts.apply(signal(at=T0 + 60))

        assert only_alert(alerts).episode == 2

    def test_replay_does_not_cancel_a_held_resolve(self) -> None:
        alerts = lifecycle(window=900, threshold=4, hold=300)
        TestFlapping().flap(alerts, 3)
        alerts.apply(signal(at=T0 + 180))
        alerts.apply(signal(state="resolved", at=T0 + 210))

        assert alerts.apply(signal(at=T0 + 180)) is None
