"""The decisions of alert handling in one place, without I/O: from signals to outbox entries.

`Dispatcher` owns the alerts (lifecycle), silences, inhibition, groups and their escalation.
Each call takes the time (Unix seconds) and a `StateChanges` to fill, and the caller (the
alert service) writes those changes to the store in one operation. A run (`run_due`) does,
in order:

1. resolve flapping alerts whose hold ended, and restored alerts the rules did not confirm;
2. recompute which alerts are silenced or inhibited;
3. put alerts that started firing into their route's group, and mark changed groups;
4. flush the groups that are due (first notification, update, resolve);
5. run the escalation steps that are due (tiers, repeats, loops);
6. turn what was planned into one outbox entry per receiver channel.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from snmpd_ng.alerting.backend import SavedState, StateChanges
from snmpd_ng.alerting.channels.summary import group_fingerprint
from snmpd_ng.alerting.config import AlertingConfig
from snmpd_ng.alerting.escalation import EscalationState, Escalator, Outcome, Planned
from snmpd_ng.alerting.grouping import (
    Group,
    GroupSettings,
    group_content,
    group_key,
    group_labels,
    has_changed,
)
from snmpd_ng.alerting.history import HistoryEntry
from snmpd_ng.alerting.inhibition import Inhibitor
from snmpd_ng.alerting.lifecycle import Alert, AlertState, Change, Lifecycle, TransitionError
from snmpd_ng.alerting.notification import AlertView, Notification
from snmpd_ng.alerting.outbox_entry import OutboxEntry
from snmpd_ng.alerting.routing import Route, Router
from snmpd_ng.alerting.rules.model import RuleSignal
from snmpd_ng.alerting.silences import Silence, Silences
from snmpd_ng.ratelimit import WarningLimiter

log = structlog.get_logger(__name__)

PRUNE_INTERVAL = 60.0
"""Seconds between two sweeps for resolved alerts and ended silences past their retention."""


class AlertNotFoundError(LookupError):
    """No alert has the fingerprint, and no group the key, given."""


class AcknowledgeError(ValueError):
    """Nothing can be acknowledged: the alerts are pending or resolved."""


@dataclass
class GroupRecord:
    """A group with its escalation: stored as one row."""

    group: Group
    escalation: EscalationState

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group.to_dict(), "escalation": self.escalation.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupRecord:
        return cls(Group.from_dict(data["group"]),
                   EscalationState.from_dict(data["escalation"]))


@dataclass(frozen=True)
class GroupAckStatus:
    """A group's state after an acknowledgement, for the person who acknowledged."""

    key: str
    unacknowledged: int
    """Firing alerts of the group not yet acknowledged, silenced and inhibited ones included."""
    escalation: str
    """`waiting` (no notification yet), `running`, or why it stopped: `acknowledged`,
    `muted` or `handed_off`."""


@dataclass(frozen=True)
class AckResult:
    fingerprints: tuple[str, ...]
    """Alerts acknowledged by this call."""
    group_keys: tuple[str, ...]
    groups: tuple[GroupAckStatus, ...]
    """The state of each group of those alerts after the acknowledgement."""


@dataclass
class Counters:
    signals: int = 0
    signals_rejected: int = 0
    alerts_unrouted: int = 0
    notifications_queued: int = 0


@dataclass
class _Plan:
    """Planned notifications of one group, with the alerts they show."""

    record: GroupRecord
    planned: list[Planned]
    alerts: tuple[AlertView, ...]
    skip_channel_types: frozenset[str] = frozenset()


@dataclass
class _Run:
    """One run's time, its changes, and the groups and alerts it touched.

    Touched groups and alerts are written once, at the end of the run, so that the stored
    rows show their final state and not the state halfway through the run.
    """

    now: float
    changes: StateChanges
    plans: list[_Plan] = field(default_factory=list)
    groups: set[str] = field(default_factory=set)
    alerts: set[str] = field(default_factory=set)


def notification_id(group: Group, planned: Planned) -> str:
    """Return an id that is the same each time this step of this group's life is planned."""
    text = "\0".join((group.key, repr(group.created_at), str(planned.sequence), planned.event,
                      str(planned.tier), planned.receiver))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class Dispatcher:
    """Alerts, silences, groups and escalations in memory, and the decisions over them."""

    def __init__(self, config: AlertingConfig, channel_types: Mapping[str, str]) -> None:
        self.lifecycle = Lifecycle(config.flapping, config.restore_grace)
        self.silences = Silences(config.silences)
        self.groups: dict[str, GroupRecord] = {}
        self.counters = Counters()
        self._dirty: set[str] = set()
        self._recheck_all = True
        self._next_prune = 0.0
        self._last_run: float | None = None
        self._warnings = WarningLimiter()
        self.configure(config, channel_types)

    def configure(self, config: AlertingConfig, channel_types: Mapping[str, str]) -> None:
        """Apply a config; groups keep their escalation, looked up by policy name."""
        self.config = config
        self.channel_types = dict(channel_types)
        self.lifecycle.flapping = config.flapping
        self.lifecycle.restore_grace = config.restore_grace
        self.silences.policy = config.silences
        self.inhibitor = Inhibitor(config.inhibition)
        self.router = Router(config.routes)
        self.escalator = Escalator(config.policies)
        self._recheck_all = True

    def restore(self, saved: SavedState, now: float, *, confirm: bool = True) -> None:
        """Load saved state: after a restart, active alerts wait for the rules to confirm them.

        With `confirm` False (a reload in the same process) they are taken as they are.
        """
        self.lifecycle.restore([Alert.from_dict(data) for data in saved.alerts], now,
                               confirm=confirm)
        self.silences.restore(Silence.from_dict(data) for data in saved.silences)
        for data in saved.groups:
            record = GroupRecord.from_dict(data)
            self.groups[record.group.key] = record
        self._dirty.update(alert.fingerprint for alert in self.lifecycle)
        self._recheck_all = True

    # Signals and acknowledgements

    def apply_signal(self, signal: RuleSignal, changes: StateChanges) -> bool:
        """Apply one signal; return True when an alert changed."""
        self.counters.signals += 1
        try:
            change = self.lifecycle.apply(signal)
        except (TransitionError, KeyError, TypeError, ValueError) as exc:
            # A signal the alert's state does not allow, or a malformed one: recorded and
            # counted, never raised into the rules engine's loop.
            self._reject(signal, exc, changes)
            return False
        if change is None:
            return False
        self._record_change(change, changes)
        self._dirty.add(change.alert.fingerprint)
        return True

    def acknowledge(self, key: str, by: str, comment: str | None, source: str,
                    now: float, changes: StateChanges) -> tuple[AckResult, list[OutboxEntry]]:
        """Acknowledge an alert (by fingerprint) or a group's firing alerts (by group key).

        A group key may also be given as PagerDuty's dedup_key. Raises AlertNotFoundError
        when the key names nothing, and AcknowledgeError when nothing fires.
        """
        keys, groups = self._ack_targets(key)
        acknowledged = []
        for fingerprint in keys:
            alert = self.lifecycle.get(fingerprint)
            if alert is None or alert.state is not AlertState.FIRING:
                continue
            change = self.lifecycle.acknowledge(fingerprint, by, comment, source, now)
            if change is not None:
                self._record_change(change, changes)
                acknowledged.append(fingerprint)
                groups.update(alert.group_keys)
                # An acknowledgement is a change of the group: an update follows after
                # group_interval unless the acknowledged notification already showed it.
                self._dirty.add(fingerprint)
        if not acknowledged and not any(self._is_acknowledged(fp) for fp in keys):
            raise AcknowledgeError(f"nothing to acknowledge for {key!r}: its alerts are "
                                   "pending or resolved")
        run = _Run(now, changes)
        skip = frozenset({"pagerduty"}) if source == "pagerduty" else frozenset()
        for group in sorted(groups):
            self._acknowledge_group(group, run, skip)
        statuses = tuple(self._ack_status(group) for group in sorted(groups)
                         if group in self.groups)
        result = AckResult(tuple(acknowledged), tuple(sorted(groups)), statuses)
        return result, self._entries(run)

    # The timed run

    def run_due(self, now: float, changes: StateChanges) -> list[OutboxEntry]:
        """Do everything due at `now`; return the outbox entries to queue (also in changes)."""
        run = _Run(now, changes)
        for change in self.lifecycle.tick(now):
            self._record_change(change, changes)
            self._dirty.add(change.alert.fingerprint)
        if self._last_run is not None:
            boundary = self.silences.next_change(self._last_run)
            if boundary is not None and boundary <= now:
                self._recheck_all = True
        self._last_run = now
        self._update_mutes(run)
        self._group_dirty(run)
        for record in list(self.groups.values()):
            if record.group.is_due(now):
                self._flush(record, run)
        for record in list(self.groups.values()):
            self._advance(record, run)
        self._prune(run)
        return self._entries(run)

    def next_due(self, now: float) -> float | None:
        """Return the Unix time when `run_due` next has work, or None."""
        times = [self.lifecycle.next_due(), self.silences.next_change(now)]
        for record in self.groups.values():
            times.append(record.group.flush_at)
            times.append(self.escalator.next_due(record.escalation))
        if self._dirty or self._recheck_all:
            times.append(now)
        return min((time for time in times if time is not None), default=None)

    def alerts(self) -> list[Alert]:
        return list(self.lifecycle)

    def mark_all(self) -> None:
        """Recheck every alert's silences and inhibition at the next run."""
        self._recheck_all = True

    # Steps of a run

    def _update_mutes(self, run: _Run) -> None:
        if not self._dirty and not self._recheck_all:
            return
        unresolved = [alert for alert in self.lifecycle
                      if alert.state is not AlertState.RESOLVED]
        inhibited = self.inhibitor.inhibited(unresolved)
        for alert in unresolved:
            # Silences change only at their own start and end (which set _recheck_all), so
            # an alert that did not change keeps its silences.
            silenced = alert.silenced_by
            if self._recheck_all or alert.fingerprint in self._dirty:
                silenced = self.silences.muting(alert.match_labels, run.now)
            self._set_mute(alert, silenced, inhibited.get(alert.fingerprint), run)
        self._recheck_all = False

    def _set_mute(self, alert: Alert, silenced: tuple[str, ...], reason: str | None,
                  run: _Run) -> None:
        if silenced != alert.silenced_by:
            kind = "alert.silenced" if silenced else "alert.unsilenced"
            self._history(run.changes, alert, kind, "silences", run.now,
                          {"silences": list(silenced or alert.silenced_by)})
            alert.silenced_by = silenced
            self._dirty.add(alert.fingerprint)
        if reason != alert.inhibited_by:
            kind = "alert.inhibited" if reason else "alert.uninhibited"
            self._history(run.changes, alert, kind, "inhibition", run.now,
                          {"reason": reason or alert.inhibited_by})
            alert.inhibited_by = reason
            self._dirty.add(alert.fingerprint)

    def _group_dirty(self, run: _Run) -> None:
        for fingerprint in sorted(self._dirty):
            alert = self.lifecycle.get(fingerprint)
            if alert is None:
                continue
            if alert.is_active and not alert.group_keys:
                self._route(alert, run)
            for key in alert.group_keys:
                record = self.groups.get(key)
                if record is not None:
                    settings = self._settings(record)
                    record.group.schedule_flush(settings, run.now)
                    run.groups.add(key)
            run.alerts.add(fingerprint)
        self._dirty.clear()

    def _route(self, alert: Alert, run: _Run) -> None:
        routes = self.router.routes_for(alert.match_labels)
        if not routes:
            self.counters.alerts_unrouted += 1
            self._history(run.changes, alert, "alert.unrouted", "routing", run.now,
                          {"reason": "no route matches the alert"})
            self._warn("unrouted", "alert matches no route", run.now, rule=alert.rule,
                       fingerprint=alert.fingerprint)
            return
        keys = []
        for route in routes:
            record = self._group_for(route, alert, run.now)
            record.group.add(alert.fingerprint)
            keys.append(record.group.key)
            self._history(run.changes, alert, "alert.grouped", "routing", run.now,
                          {"route": route.name, "policy": route.policy}, record.group.key)
        alert.group_keys = tuple(dict.fromkeys(keys))

    def _group_for(self, route: Route, alert: Alert, now: float) -> GroupRecord:
        labels = group_labels(route.grouping, alert.match_labels)
        key = group_key(route.name, labels)
        record = self.groups.get(key)
        if record is None:
            group = Group(key=key, route=route.name, policy=route.policy, labels=labels,
                          created_at=now)
            record = GroupRecord(group, EscalationState(policy=route.policy))
            self.groups[key] = record
        return record

    def _flush(self, record: GroupRecord, run: _Run) -> None:
        group = record.group
        alerts = self._group_alerts(group)
        content = group_content(group, alerts)
        changed = has_changed(group, content)
        outcome = self.escalator.on_flush(record.escalation, content, changed, run.now)
        sent = self._plan(record, outcome, content.notifiable + content.resolved, run)
        group.flush_at = None
        if sent:
            group.record_notification(content.shown(), run.now)
        # A flush that sent nothing keeps `notified` and `last_flush_at`. An alert muted since
        # the last notification stays "firing" there, so its resolve still goes out. The next
        # change waits group_interval from the last notification, not from this flush.
        self._drop_resolved(record, alerts, run)

    def _advance(self, record: GroupRecord, run: _Run) -> None:
        due = self.escalator.next_due(record.escalation)
        if due is None or due > run.now:
            return
        content = group_content(record.group, self._group_alerts(record.group))
        outcome = self.escalator.advance(record.escalation, content, run.now)
        sent = self._plan(record, outcome, content.notifiable, run)
        receivers = {planned.receiver for planned in outcome.planned}
        if sent and receivers.issuperset(record.escalation.run_notified):
            # Every receiver an update would go to has now seen the group's current alerts,
            # so a pending update that shows the same alerts sends nothing.
            record.group.record_notification(content.shown_by_step(record.group.notified),
                                             run.now)

    def _acknowledge_group(self, key: str, run: _Run, skip: frozenset[str]) -> None:
        record = self.groups.get(key)
        if record is None:
            return
        content = group_content(record.group, self._group_alerts(record.group))
        outcome = self.escalator.on_acknowledged(record.escalation, content)
        if self._plan(record, outcome, content.notifiable, run, skip):
            record.group.record_notification(content.shown(), run.now)

    def _ack_status(self, key: str) -> GroupAckStatus:
        record = self.groups[key]
        content = group_content(record.group, self._group_alerts(record.group))
        escalation = record.escalation
        state = escalation.stopped or ("running" if escalation.has_started else "waiting")
        return GroupAckStatus(key, content.firing, state)

    def _plan(self, record: GroupRecord, outcome: Outcome, alerts: Iterable[Alert], run: _Run,
              skip: frozenset[str] = frozenset()) -> bool:
        """Record the escalation steps and queue the planned notifications; return True if any."""
        group = record.group
        for step in outcome.steps:
            run.changes.record(HistoryEntry(
                at=run.now, kind=f"escalation.{step.kind}", actor="escalation",
                group_key=group.key,
                detail={"policy": record.escalation.policy, "tier": step.tier,
                        "detail": step.detail}))
        views = tuple(alert.view() for alert in alerts)
        if outcome.planned and views:
            # A notification always shows at least one alert; the escalator plans none
            # without one, and this keeps an empty "[FIRING:0]" from ever reaching a channel.
            run.plans.append(_Plan(record, outcome.planned, views, skip))
        run.groups.add(group.key)
        return bool(outcome.planned and views)

    def _drop_resolved(self, record: GroupRecord, alerts: list[Alert], run: _Run) -> None:
        group = record.group
        for alert in alerts:
            if alert.state is AlertState.RESOLVED:
                group.fingerprints.remove(alert.fingerprint)
                alert.group_keys = tuple(key for key in alert.group_keys if key != group.key)
                run.alerts.add(alert.fingerprint)
        group.fingerprints = [key for key in group.fingerprints
                              if self.lifecycle.get(key) is not None]
        group.notified = {key: state for key, state in group.notified.items()
                          if key in group.fingerprints}
        if not group.fingerprints:
            del self.groups[group.key]
        run.groups.add(group.key)

    def _entries(self, run: _Run) -> list[OutboxEntry]:
        """Finish a run: write touched rows and queue one outbox entry per channel."""
        for key in run.groups:
            record = self.groups.get(key)
            run.changes.put("groups", key, record.to_dict() if record is not None else None)
        for key in run.alerts:
            alert = self.lifecycle.get(key)
            run.changes.put("alerts", key, alert.to_dict() if alert is not None else None)
        entries = []
        for plan in run.plans:
            for planned in plan.planned:
                entries.extend(self._fan_out(plan, planned, run))
        if entries:
            run.changes.enqueue(entries, run.now)
            self.counters.notifications_queued += len(entries)
        return entries

    def _fan_out(self, plan: _Plan, planned: Planned, run: _Run) -> list[OutboxEntry]:
        group = plan.record.group
        receiver = self.config.receivers.get(planned.receiver)
        if receiver is None:
            self._warn(f"receiver:{planned.receiver}", "alert receiver not configured",
                       run.now, receiver=planned.receiver, group_key=group.key)
            run.changes.record(HistoryEntry(
                at=run.now, kind="notification.failed", actor="escalation",
                group_key=group.key, detail={"receiver": planned.receiver,
                                             "detail": "receiver is not configured"}))
            return []
        notification = Notification(
            id=notification_id(group, planned), event=planned.event, group_key=group.key,
            alerts=plan.alerts, receiver=planned.receiver, tier=planned.tier)
        return [OutboxEntry(notification, channel, group.created_at)
                for channel in receiver.channels
                if self.channel_types.get(channel) not in plan.skip_channel_types]

    def _prune(self, run: _Run) -> None:
        if run.now < self._next_prune:
            return
        self._next_prune = run.now + PRUNE_INTERVAL
        keep = {key for record in self.groups.values() for key in record.group.fingerprints}
        for key in self.lifecycle.prune(run.now, keep):
            run.changes.put("alerts", key, None)
        for key in self.silences.prune(run.now):
            run.changes.put("silences", key, None)

    # Helpers

    def _group_alerts(self, group: Group) -> list[Alert]:
        alerts = (self.lifecycle.get(key) for key in group.fingerprints)
        return [alert for alert in alerts if alert is not None]

    def _settings(self, record: GroupRecord) -> GroupSettings:
        for route in self.router.routes:
            if route.name == record.group.route:
                return route.grouping
        return self.config.grouping

    def _ack_targets(self, key: str) -> tuple[list[str], set[str]]:
        if self.lifecycle.get(key) is not None:
            return [key], set()
        for record in self.groups.values():
            group_key_ = record.group.key
            if key in (group_key_, group_fingerprint(group_key_)):
                return list(record.group.fingerprints), {group_key_}
        raise AlertNotFoundError(f"no alert with fingerprint {key!r} and no group with that "
                                 "key; list the alerts to find it")

    def _is_acknowledged(self, fingerprint: str) -> bool:
        alert = self.lifecycle.get(fingerprint)
        return alert is not None and alert.state is AlertState.ACKNOWLEDGED

    def _record_change(self, change: Change, changes: StateChanges) -> None:
        alert = change.alert
        detail = {"rule": alert.rule, "labels": alert.labels,
                  "previous": change.previous.value if change.previous else None,
                  **change.detail}
        self._history(changes, alert, f"alert.{change.kind}", change.actor, change.at, detail)
        changes.put("alerts", alert.fingerprint, alert.to_dict())

    @staticmethod
    def _history(changes: StateChanges, alert: Alert, kind: str, actor: str, at: float,
                 detail: Mapping[str, Any], key: str | None = None) -> None:
        group = key if key is not None else (alert.group_keys[0] if alert.group_keys else None)
        changes.record(HistoryEntry(at=at, kind=kind, actor=actor, fingerprint=alert.fingerprint,
                                    group_key=group, detail=dict(detail)))

    def _reject(self, signal: RuleSignal, error: Exception, changes: StateChanges) -> None:
        self.counters.signals_rejected += 1
        changes.record(HistoryEntry(
            at=signal.at, kind="alert.rejected", actor="rules",
            fingerprint=getattr(error, "fingerprint", None),
            detail={"rule": signal.rule, "labels": dict(signal.labels), "state": signal.state,
                    "error": str(error)}))
        self._warn(f"rejected:{signal.rule}", "alert signal rejected", signal.at, rule=signal.rule,
                   state=signal.state, error=str(error), error_type=type(error).__name__)

    def _warn(self, kind: str, event: str, at: float, **fields: Any) -> None:
        suppressed = self._warnings.admit(kind, at)
        if suppressed is not None:
            log.warning(event, suppressed=suppressed, **fields)

