"""The rules engine: stores samples, evaluates rules when their data arrives, emits signals.

Sans-IO: the engine takes samples and times and returns `RuleSignal`s. The service that feeds
it poll results and forwards its signals owns the queues and the timer.

When to evaluate: a rule is evaluated for one target when a batch of samples brings a metric
the rule reads for that target, and only over that target's series, since every operation of
the rule matches series of one target. That keeps the cost of a result proportional to its own
rules. Three cases depend on time rather than on arriving samples, and are handled by `tick`,
which the service calls every second or so:

- rules with `absent_for`, evaluated for every target;
- rules that compare series of different targets (`on(...)` without `target`, or
  `ignoring(target)`), evaluated over all targets at once, only on ticks;
- alerts whose series are no longer current (the target stopped answering), resolved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import structlog

from snmpd_ng.alerting.rules.ast import crosses_targets, has_absent_for, metric_names
from snmpd_ng.alerting.rules.evaluate import (
    Compiled,
    EvaluationError,
    Scope,
    Vector,
    compile_expression,
)
from snmpd_ng.alerting.rules.handoff import (
    STATE_VERSION,
    TargetState,
    export_rule_alerts,
    export_series,
    read_target_state,
)
from snmpd_ng.alerting.rules.model import SEVERITY_LABEL, Rule, RuleSignal, SignalState
from snmpd_ng.alerting.rules.states import (
    Alerts,
    AlertState,
    Change,
    apply_result,
    resolve_all,
    resolve_without_data,
)
from snmpd_ng.alerting.rules.store import SeriesStore
from snmpd_ng.alerting.rules.templates import RenderError, render
from snmpd_ng.alerting.series import REBOOTED, REBOOTS, LabelKey, Sample
from snmpd_ng.metrics.naming import TARGET_LABEL
from snmpd_ng.ratelimit import WarningLimiter

log = structlog.get_logger(__name__)

DEFAULT_RETENTION = 86400.0
"""Seconds a series is kept after its last sample. After that `absent_for` no longer finds it,
so its alert resolves."""
RETENTION_CHECK_INTERVAL = 60.0
"""Seconds between two sweeps of the store for series past their retention."""
_RULE_SET_CACHE_SIZE = 1024


class TimeSource(Protocol):
    """The part of `snmpd_ng.clock.Clock` the engine reads."""

    def now(self) -> float: ...

    def wall(self) -> float: ...


class _CompiledRule:
    """A rule with its expressions compiled and the facts the engine dispatches on."""

    def __init__(self, rule: Rule, index: int) -> None:
        self.rule = rule
        self.index = index
        self.expr: Compiled = compile_expression(rule.expression)
        self.recover: Compiled | None = None
        nodes = [rule.expression]
        if rule.recover_expression is not None:
            self.recover = compile_expression(rule.recover_expression)
            nodes.append(rule.recover_expression)
        self.metrics = frozenset().union(*(metric_names(node) for node in nodes))
        self.is_timed = any(has_absent_for(node) for node in nodes)
        self.is_global = any(crosses_targets(node) for node in nodes)


class RulesEngine:
    """Evaluates `rules` over the samples it observes, on the clock `clock`."""

    def __init__(self, rules: Sequence[Rule], clock: TimeSource, *,
                 retention: float = DEFAULT_RETENTION) -> None:
        self._clock = clock
        self._retention = retention
        self._rules: list[_CompiledRule] = []
        self._by_metric: dict[str, list[_CompiledRule]] = {}
        self._rule_sets: dict[frozenset[str], list[_CompiledRule]] = {}
        self._alerts: dict[str, dict[str | None, Alerts]] = {}
        """Alerts by rule name and scope: a target's name, or None for rules across targets."""
        self._compile(rules)
        self.store = SeriesStore()
        self.evaluation_errors: dict[str, int] = {}
        """Evaluations that failed, by rule name."""
        self.render_errors: dict[str, int] = {}
        """Annotations that failed to render, by rule name."""
        self._warnings = WarningLimiter()
        self._next_sweep = 0.0

    # Entry points

    def observe(self, samples: Iterable[Sample], now: float | None = None) -> list[RuleSignal]:
        """Store `samples` and evaluate the rules that read them; return the changes.

        `now` is the clock time the samples arrived, `clock.now()` by default.
        """
        now = self._clock.now() if now is None else now
        add = self.store.add
        touched: dict[str, set[str]] = {}
        for sample in samples:
            add(sample, now)
            target = sample.target
            names = touched.get(target)
            if names is None:
                names = touched[target] = set()
            names.add(sample.name)

        changes: list[tuple[_CompiledRule, Change]] = []
        for target, names in touched.items():
            for compiled in self._rules_reading(names):
                self._evaluate(compiled, target, now, changes)
        return self._signals(changes, now)

    def tick(self, now: float | None = None) -> list[RuleSignal]:
        """Evaluate what depends on time (see the module's docstring); return the changes."""
        now = self._clock.now() if now is None else now
        changes: list[tuple[_CompiledRule, Change]] = []
        for compiled in self._rules:
            if compiled.is_global:
                self._evaluate(compiled, None, now, changes)
            elif compiled.is_timed:
                for target in self._scopes(compiled):
                    self._evaluate(compiled, target, now, changes)
            else:
                self._resolve_stale(compiled, now, changes)

        if now >= self._next_sweep:
            self._next_sweep = now + RETENTION_CHECK_INTERVAL
            self.store.drop_unseen(now - self._retention)
        return self._signals(changes, now)

    def forget_target(self, target: str, now: float | None = None) -> list[RuleSignal]:
        """Drop the series of `target` (removed from the config) and resolve its alerts.

        Alerts of rules across targets that involve it resolve on the next tick.
        """
        now = self._clock.now() if now is None else now
        self.store.forget_target(target)
        changes: list[tuple[_CompiledRule, Change]] = []
        for compiled in self._rules:
            alerts = self._alerts[compiled.rule.name].pop(target, None)
            if alerts:
                changes.extend((compiled, change) for change in resolve_all(alerts))
        return self._signals(changes, now)

    # Handing a target over to another node (cluster mode)

    def export_target(self, target: str, now: float, wall: float) -> TargetState | None:
        """Return the state of `target` as JSON-able data, or None when the engine has none.

        The data contains the target's series and each rule's alerts in the target's scope, in
        the format of `snmpd_ng.alerting.rules.handoff`. `now` and `wall` are the same instant
        on the engine's clock and in Unix seconds: every clock time leaves as Unix time.
        Alerts of rules across targets stay, since they belong to no single target.
        """
        to_unix = wall - now
        series = [export_series(item, to_unix)
                  for by_key in self.store.targets.get(target, {}).values()
                  for item in by_key.values()]
        rules = {}
        for compiled in self._rules:
            alerts = self._alerts[compiled.rule.name].get(target)
            if alerts:
                rules[compiled.rule.name] = export_rule_alerts(compiled.rule, alerts, to_unix)
        if not series and not rules:
            return None
        return {"version": STATE_VERSION, "target": target, "exported_at": wall,
                "series": series, "rules": rules}

    def import_target(self, target: str, data: Mapping[str, Any], now: float, wall: float, *,
                      reboots: int | None = None) -> int:
        """Replace what the engine has of `target` with `data` from `export_target`.

        Emits no signals: the alerts were signalled by the node that exported them. The
        alerts of a rule that no longer exists, or whose labels or severity changed (as
        `replace_rules` decides), or that now compares targets, are dropped. `reboots` is this
        node's reboot count of the target (see `handoff.read_target_state`). Returns the number
        of alerts dropped. Raises TargetStateError for malformed data or an unknown version,
        before anything is changed.
        """
        imported = read_target_state(target, data, now - wall, reboots=reboots)
        self.store.replace_target(target, imported.series)

        dropped = sum(len(rule.alerts) for name, rule in imported.rules.items()
                      if name not in self._alerts)
        for compiled in self._rules:
            by_scope = self._alerts[compiled.rule.name]
            by_scope.pop(target, None)
            found = imported.rules.get(compiled.rule.name)
            if found is None or not found.alerts:
                continue
            if compiled.is_global or not found.has_identity_of(compiled.rule):
                dropped += len(found.alerts)
                continue
            by_scope[target] = found.alerts
        return dropped

    def drop_target(self, target: str) -> None:
        """Forget the series and alerts of `target` without signals: another node carries on.

        `forget_target` is the call for a target removed from the config, whose alerts resolve.
        """
        self.store.forget_target(target)
        for by_scope in self._alerts.values():
            by_scope.pop(target, None)

    def replace_rules(self, rules: Sequence[Rule], now: float | None = None) -> list[RuleSignal]:
        """Evaluate `rules` from now on (a config reload); return the resolves this causes.

        The stored series stay, so rates and `absent_for` go on without a gap. A rule whose
        name, labels and severity are unchanged keeps its alerts, which the next evaluation
        checks against the new expression. The alerts of any other rule resolve, because
        their labels, and so their identity in the alert lifecycle, are gone.
        """
        now = self._clock.now() if now is None else now
        kept = {rule.name: rule for rule in rules}
        changes: list[tuple[_CompiledRule, Change]] = []
        for compiled in self._rules:
            new = kept.get(compiled.rule.name)
            if new is None or not _keeps_alerts(compiled.rule, new):
                for alerts in self._alerts.pop(compiled.rule.name).values():
                    changes.extend((compiled, change) for change in resolve_all(alerts))
        signals = self._signals(changes, now)
        self._compile(rules)
        return signals

    def active_alerts(self) -> list[RuleSignal]:
        """Return every pending and firing alert, as the signal of its last change."""
        alerts = []
        for compiled in self._rules:
            for scope_alerts in self._alerts[compiled.rule.name].values():
                for alert in scope_alerts.values():
                    alerts.append(self._view(compiled, alert, alert.state, alert.changed_at_wall))
        return alerts

    # Evaluation

    def _compile(self, rules: Sequence[Rule]) -> None:
        """Compile `rules` and index them by metric; alerts of rules no longer given are dropped."""
        names = [rule.name for rule in rules]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique; repeated: {', '.join(duplicates)}")

        compiled_rules = [_CompiledRule(rule, index) for index, rule in enumerate(rules)]
        by_metric: dict[str, list[_CompiledRule]] = {}
        for compiled in compiled_rules:
            if not compiled.is_global:
                for metric in compiled.metrics:
                    by_metric.setdefault(metric, []).append(compiled)
        self._rules = compiled_rules
        self._by_metric = by_metric
        self._rule_sets = {}
        self._alerts = {name: self._alerts.get(name, {}) for name in names}

    def _rules_reading(self, names: set[str]) -> list[_CompiledRule]:
        if REBOOTS in names:
            names.add(REBOOTED)
        key = frozenset(names)
        found = self._rule_sets.get(key)
        if found is None:
            by_index = {compiled.index: compiled for name in names
                        for compiled in self._by_metric.get(name, ())}
            found = [by_index[index] for index in sorted(by_index)]
            if len(self._rule_sets) >= _RULE_SET_CACHE_SIZE:
                self._rule_sets.clear()
            self._rule_sets[key] = found
        return found

    def _scopes(self, compiled: _CompiledRule) -> list[str | None]:
        scopes: dict[str | None, None] = dict.fromkeys(self.store.targets)
        scopes.update(dict.fromkeys(self._alerts[compiled.rule.name]))
        return list(scopes)

    def _evaluate(self, compiled: _CompiledRule, target: str | None, now: float,
                  changes: list[tuple[_CompiledRule, Change]]) -> None:
        scope = Scope(self.store, target, now)
        try:
            found: Vector = compiled.expr(scope)
            recovered: Vector | None = None
            if compiled.recover is not None:
                recovered = compiled.recover(scope)
        except EvaluationError as exc:
            self._count_evaluation_error(compiled, target, exc, now)
            return

        alerts = self._alerts[compiled.rule.name].get(target)
        if alerts is None:
            if not found:
                return
            alerts = self._alerts[compiled.rule.name][target] = {}
        wall = self._wall_at(now)
        has_data = self._data_check(compiled, now)
        for change in apply_result(compiled.rule, alerts, found, recovered, has_data, now, wall):
            changes.append((compiled, change))
        if not alerts:
            del self._alerts[compiled.rule.name][target]

    def _resolve_stale(self, compiled: _CompiledRule, now: float,
                       changes: list[tuple[_CompiledRule, Change]]) -> None:
        has_data = self._data_check(compiled, now)
        by_scope = self._alerts[compiled.rule.name]
        for scope, alerts in list(by_scope.items()):
            for change in resolve_without_data(alerts, has_data):
                changes.append((compiled, change))
            if not alerts:
                del by_scope[scope]

    def _data_check(self, compiled: _CompiledRule, now: float) -> _CurrentData:
        return _CurrentData(self.store, compiled.metrics, now)

    def _count_evaluation_error(self, compiled: _CompiledRule, target: str | None,
                                exc: EvaluationError, now: float) -> None:
        name = compiled.rule.name
        self.evaluation_errors[name] = self.evaluation_errors.get(name, 0) + 1
        suppressed = self._warnings.admit(f"evaluate:{name}", now)
        if suppressed is not None:
            log.warning("rule evaluation failed", rule=name, target=target, error=str(exc),
                        suppressed_since_last=suppressed,
                        hint="fix the rule's on(...) or ignoring(...) labels")

    # Signals

    def _signals(self, changes: list[tuple[_CompiledRule, Change]],
                 now: float) -> list[RuleSignal]:
        if not changes:
            return []
        wall = self._wall_at(now)
        signals = []
        for compiled, change in changes:
            alert = change.alert
            if not alert.labels:
                alert.labels = self._alert_labels(compiled, alert.key)
            alert.annotations = self._render(compiled, alert, now)
            alert.changed_at_wall = wall
            signals.append(self._view(compiled, alert, change.state, wall))
        return signals

    def _view(self, compiled: _CompiledRule, alert: AlertState, state: SignalState,
              at: float) -> RuleSignal:
        rule = compiled.rule
        return RuleSignal(rule.name, alert.labels, state, alert.value, alert.active_since_wall,
                          at, rule.severity, dict(alert.annotations))

    @staticmethod
    def _alert_labels(compiled: _CompiledRule, key: LabelKey) -> dict[str, str]:
        labels = dict(key)
        labels.update(compiled.rule.labels)
        labels[SEVERITY_LABEL] = compiled.rule.severity
        return labels

    def _render(self, compiled: _CompiledRule, alert: AlertState, now: float) -> dict[str, str]:
        rule = compiled.rule
        rendered = {}
        for name, template in rule.templates.items():
            try:
                rendered[name] = render(template, value=alert.value, labels=alert.labels,
                                        rule=rule.name)
            except RenderError as exc:
                rendered[name] = f"(annotation {name!r} failed to render: {exc})"
                self._count_render_error(rule, name, exc, now)
        return rendered

    def _count_render_error(self, rule: Rule, annotation: str, exc: RenderError,
                            now: float) -> None:
        self.render_errors[rule.name] = self.render_errors.get(rule.name, 0) + 1
        suppressed = self._warnings.admit(f"render:{rule.name}:{annotation}", now)
        if suppressed is not None:
            log.warning("annotation template failed", rule=rule.name, annotation=annotation,
                        error=str(exc), suppressed_since_last=suppressed,
                        hint="check the template against the alert's labels and value")

    def _wall_at(self, now: float) -> float:
        return self._clock.wall() + (now - self._clock.now())


def _keeps_alerts(old: Rule, new: Rule) -> bool:
    """Tell whether the alerts of `old` stay valid under `new`: same name, labels, severity."""
    return (old.name == new.name and dict(old.labels) == dict(new.labels)
            and old.severity == new.severity)


class _CurrentData:
    """Tells whether any of a rule's series with given labels is still current."""

    __slots__ = ("metrics", "now", "store")

    def __init__(self, store: SeriesStore, metrics: frozenset[str], now: float) -> None:
        self.store = store
        self.metrics = metrics
        self.now = now

    def __call__(self, key: LabelKey) -> bool:
        target = next((value for name, value in key if name == TARGET_LABEL), "")
        for metric in self.metrics:
            series = self.store.metric(target, metric).get(key)
            if series is not None and series.is_current(self.now):
                return True
        return False
