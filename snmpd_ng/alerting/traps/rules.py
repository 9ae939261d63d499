"""Trap rules: which traps raise an alert, what identifies it, and which trap resolves it.

A rule matches a trap by its trap OID, its source address and the values of its varbinds. The
alert's labels are the source, the target, the rule's trap name, the values of the rule's key
varbinds (ifIndex for linkDown), the rule's own labels and its severity. The same labels mean
the same alert. A repeat within `dedup_window` of the last signal emits nothing. After the
window, a repeat while the alert is still active emits `firing` again, so the lifecycle sees
that the condition persists. A trap of the `resolved_by` OID with the same source and key
values resolves the alert, and `resolve_after` resolves an alert whose trap has not repeated
for that long.

The output is the `RuleSignal` of the polling rules, so the alert lifecycle treats both alike.
Sans-IO: the clock readings are passed in or read from the injected clock; nothing here sends.
"""

from __future__ import annotations

import ipaddress
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import structlog
from jinja2 import Template, TemplateError

from snmpd_ng.alerting.rules.model import SEVERITY_LABEL, RuleSignal, Severity, SignalState
from snmpd_ng.alerting.rules.templates import compile_template
from snmpd_ng.alerting.traps.event import TrapEvent
from snmpd_ng.alerting.traps.names import (
    notification_name,
    object_name,
    resolve_notification,
    resolve_object,
)
from snmpd_ng.polling.labels import value_text
from snmpd_ng.protocol.oid import Oid, format_oid, is_prefix
from snmpd_ng.protocol.values import VarBind
from snmpd_ng.ratelimit import WarningLimiter

log = structlog.get_logger("snmpd_ng.traps")

SOURCE_LABEL = "source"
TARGET_LABEL = "target"
TRAP_LABEL = "trap"

DEFAULT_DEDUP_WINDOW = 300.0
"""Seconds within which a repeat of an active alert's trap emits nothing."""
DEFAULT_RESOLVE_AFTER = 3600.0
"""Seconds without a repeat after which the alert of a rule without `resolved_by` resolves."""
MAX_ACTIVE_ALERTS = 100_000
"""Active alerts kept; beyond it the one whose trap was seen least recently is forgotten."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TimeSource(Protocol):
    """The part of `snmpd_ng.clock.Clock` the rules read."""

    def now(self) -> float: ...

    def wall(self) -> float: ...


@dataclass(frozen=True, slots=True)
class VarbindMatch:
    """A condition on one varbind: its value's text equals `equals` or matches `pattern`."""

    name: str
    oid: Oid
    """The object's OID; the first varbind at or below it is checked."""
    equals: str | None = None
    pattern: re.Pattern[str] | None = None

    def matches(self, varbinds: Sequence[VarBind]) -> bool:
        text = _find_text(varbinds, self.oid)
        if text is None:
            return False
        if self.pattern is not None:
            return self.pattern.fullmatch(text) is not None
        return text == self.equals


@dataclass(frozen=True, slots=True)
class KeyVarbind:
    """A varbind whose value becomes a label and part of the alert's identity."""

    label: str
    oid: Oid
    entry_oid: Oid | None = None
    """For a table column, the table's entry: when the column is missing from the trap, the
    row index of another column of the table is used (linkDown with only ifOperStatus.N)."""

    def value(self, varbinds: Sequence[VarBind]) -> str:
        text = _find_text(varbinds, self.oid)
        if text is not None:
            return text
        if self.entry_oid is not None:
            for oid, _ in varbinds:
                if is_prefix(self.entry_oid, oid) and len(oid) > len(self.entry_oid) + 1:
                    return format_oid(oid[len(self.entry_oid) + 1:])
        # NOTE: a trap without the key varbind gets an empty label, so all such traps of one
        # source share one alert.
        return ""


@dataclass(frozen=True, eq=False)
class TrapRule:
    """One trap rule, with its names resolved and its templates compiled."""

    name: str
    trap_oid: Oid
    severity: Severity = "warning"
    sources: tuple[Network, ...] = ()
    """Networks the source must be in; empty means any source."""
    varbinds: tuple[VarbindMatch, ...] = ()
    key: tuple[KeyVarbind, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    templates: Mapping[str, Template] = field(default_factory=dict)
    resolved_by: Oid | None = None
    dedup_window: float = DEFAULT_DEDUP_WINDOW
    resolve_after: float | None = None
    """Seconds without a repeat after which the alert resolves; None keeps it active until
    `resolved_by` resolves it."""

    @classmethod
    def build(cls, name: str, trap: str, *, severity: Severity = "warning",
              sources: Iterable[str] = (), varbinds: Mapping[str, str] | None = None,
              varbind_patterns: Mapping[str, str] | None = None, key: Iterable[str] = (),
              labels: Mapping[str, str] | None = None,
              annotations: Mapping[str, str] | None = None, resolved_by: str | None = None,
              dedup_window: float = DEFAULT_DEDUP_WINDOW,
              resolve_after: float | None = None) -> TrapRule:
        """Build a rule from names, as in tests and Python scripts.

        Raises ValueError for an unknown name or an invalid network, re.error for an invalid
        pattern and jinja2.TemplateSyntaxError for an invalid template.
        """
        matches = [VarbindMatch(text, resolve_object(text)[0], equals=value)
                   for text, value in (varbinds or {}).items()]
        matches += [VarbindMatch(text, resolve_object(text)[0], pattern=re.compile(value))
                    for text, value in (varbind_patterns or {}).items()]
        texts = dict(annotations or {})
        return cls(
            name=name, trap_oid=resolve_notification(trap), severity=severity,
            sources=tuple(ipaddress.ip_network(text, strict=False) for text in sources),
            varbinds=tuple(matches), key=tuple(key_varbind(text) for text in key),
            labels=dict(labels or {}), annotations=texts,
            templates={label: compile_template(text) for label, text in texts.items()},
            resolved_by=resolve_notification(resolved_by) if resolved_by else None,
            dedup_window=dedup_window, resolve_after=resolve_after,
        )

    def accepts_source(self, source: str) -> bool:
        if not self.sources:
            return True
        address = ipaddress.ip_address(source)
        return any(address in network for network in self.sources)

    def matches(self, event: TrapEvent) -> bool:
        """Tell whether `event` raises this rule's alert (trap OID, source and varbinds)."""
        return (event.trap_oid == self.trap_oid and self.accepts_source(event.source)
                and all(match.matches(event.varbinds) for match in self.varbinds))


def key_varbind(text: str, label: str | None = None) -> KeyVarbind:
    """Resolve a key varbind by name or numeric OID; a numeric OID needs a `label`."""
    oid, entry_oid = resolve_object(text)
    if label is None:
        if text.strip()[:1].isdigit() or text.strip().startswith("."):
            raise ValueError(f"key varbind {text!r} is a numeric OID, so it needs a label "
                             "name: write {oid: ..., label: NAME}")
        label = text.strip()
    return KeyVarbind(label, oid, entry_oid)


@dataclass(slots=True)
class _Alert:
    rule: TrapRule
    labels: dict[str, str]
    active_since: float
    """Unix time of the trap that raised it."""
    signalled_at: float
    """Monotonic seconds of the last firing signal."""
    signalled_wall: float
    """Unix time of the last firing signal."""
    last_seen: float
    """Monotonic seconds of the last matching trap."""
    annotations: dict[str, str]


AlertKey = tuple[str, tuple[tuple[str, str], ...]]


class TrapRules:
    """Evaluate trap rules over the events the receiver accepts; return the signals."""

    def __init__(self, rules: Sequence[TrapRule], clock: TimeSource, *,
                 target_names: Mapping[str, str] | None = None,
                 max_active: int = MAX_ACTIVE_ALERTS) -> None:
        names = [rule.name for rule in rules]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"trap rule names must be unique; repeated: {', '.join(repeated)}")

        self._clock = clock
        self._target_names = dict(target_names or {})
        self._max_active = max_active
        self._by_name = {rule.name: rule for rule in rules}
        self._by_trap: dict[Oid, list[TrapRule]] = {}
        self._by_resolver: dict[Oid, list[TrapRule]] = {}
        for rule in rules:
            self._by_trap.setdefault(rule.trap_oid, []).append(rule)
            if rule.resolved_by is not None:
                self._by_resolver.setdefault(rule.resolved_by, []).append(rule)
        self._alerts: OrderedDict[AlertKey, _Alert] = OrderedDict()
        self.deduplicated: dict[str, int] = {}
        """Repeats that emitted nothing, by rule name."""
        self.render_errors: dict[str, int] = {}
        """Annotations that failed to render, by rule name."""
        self.evicted = 0
        """Active alerts forgotten because more than `max_active` were active."""
        self._warnings = WarningLimiter()

    # Entry points

    def observe(self, event: TrapEvent, now: float | None = None) -> list[RuleSignal]:
        """Apply one accepted trap; return the signals of the alerts it raised or resolved.

        `now` is the monotonic clock at arrival, `clock.now()` by default.
        """
        now = self._clock.now() if now is None else now
        signals: list[RuleSignal] = []
        for rule in self._by_trap.get(event.trap_oid, ()):
            if rule.matches(event):
                signal = self._raise_alert(rule, event, now)
                if signal is not None:
                    signals.append(signal)
        for rule in self._by_resolver.get(event.trap_oid, ()):
            if rule.accepts_source(event.source):
                signal = self._resolve_by_trap(rule, event)
                if signal is not None:
                    signals.append(signal)
        return signals

    def tick(self, now: float | None = None) -> list[RuleSignal]:
        """Resolve the alerts whose rule's `resolve_after` passed without a repeat."""
        now = self._clock.now() if now is None else now
        expired = [key for key, alert in self._alerts.items()
                   if alert.rule.resolve_after is not None
                   and now - alert.last_seen >= alert.rule.resolve_after]
        wall = self._wall_at(now)
        return [self._signal(self._alerts.pop(key), "resolved", wall) for key in expired]

    def active_alerts(self) -> list[RuleSignal]:
        """Return a firing signal for each active alert, as of its last signal."""
        return [self._signal(alert, "firing", alert.signalled_wall)
                for alert in self._alerts.values()]

    def restore(self, signals: Iterable[RuleSignal],
                now: float | None = None) -> list[RuleSignal]:
        """Take back the active alerts of trap rules that the alert store kept over a restart.

        Without this, a linkUp after a restart would find no alert to resolve. Returns a firing
        signal for each alert taken back, which confirms it to the lifecycle. Signals of other
        rules, and resolved ones, are skipped. `resolve_after` counts from `now`.
        """
        now = self._clock.now() if now is None else now
        wall = self._wall_at(now)
        confirmed = []
        for signal in signals:
            rule = self._by_name.get(signal.rule)
            if rule is None or signal.state == "resolved":
                continue
            labels = dict(signal.labels)
            alert = _Alert(rule, labels, signal.active_since, now, wall, now,
                           dict(signal.annotations))
            self._remember((rule.name, tuple(sorted(labels.items()))), alert)
            confirmed.append(self._signal(alert, "firing", wall))
        return confirmed

    # Steps

    def _raise_alert(self, rule: TrapRule, event: TrapEvent, now: float) -> RuleSignal | None:
        labels = self._labels(rule, event)
        key: AlertKey = (rule.name, tuple(sorted(labels.items())))
        alert = self._alerts.get(key)
        if alert is not None:
            alert.last_seen = now
            self._alerts.move_to_end(key)
            if now - alert.signalled_at < rule.dedup_window:
                self.deduplicated[rule.name] = self.deduplicated.get(rule.name, 0) + 1
                return None
            alert.signalled_at = now
        else:
            alert = _Alert(rule, labels, event.received_at, now, event.received_at, now, {})
            self._remember(key, alert)
        alert.signalled_wall = event.received_at
        alert.annotations = self._render(rule, labels, event, now)
        return self._signal(alert, "firing", event.received_at)

    def _resolve_by_trap(self, rule: TrapRule, event: TrapEvent) -> RuleSignal | None:
        labels = self._labels(rule, event)
        alert = self._alerts.pop((rule.name, tuple(sorted(labels.items()))), None)
        if alert is None:
            return None
        return self._signal(alert, "resolved", event.received_at)

    def _remember(self, key: AlertKey, alert: _Alert) -> None:
        self._alerts[key] = alert
        if len(self._alerts) > self._max_active:
            self._alerts.popitem(last=False)
            self.evicted += 1
            suppressed = self._warnings.admit("evicted", alert.last_seen)
            if suppressed is not None:
                log.warning("trap alerts forgotten", max_active=self._max_active,
                            forgotten_since_last=suppressed + 1,
                            hint="give rules resolve_after, or narrow them with sources")

    def _labels(self, rule: TrapRule, event: TrapEvent) -> dict[str, str]:
        labels = {
            SOURCE_LABEL: event.source,
            TARGET_LABEL: self._target_names.get(event.source, event.source),
            TRAP_LABEL: notification_name(rule.trap_oid),
        }
        for key in rule.key:
            labels[key.label] = key.value(event.varbinds)
        labels.update(rule.labels)
        labels[SEVERITY_LABEL] = rule.severity
        return labels

    def _render(self, rule: TrapRule, labels: Mapping[str, str], event: TrapEvent,
                now: float) -> dict[str, str]:
        """Render the annotations with `labels`, `varbinds`, `trap`, `source` and `target`."""
        names = varbind_texts(event.varbinds)
        rendered = {}
        for name, template in rule.templates.items():
            try:
                rendered[name] = template.render(
                    labels=dict(labels), varbinds=names, trap=notification_name(event.trap_oid),
                    source=event.source, target=labels[TARGET_LABEL], rule=rule.name,
                    value=None)
            except (TemplateError, TypeError, ValueError, ArithmeticError) as exc:
                rendered[name] = f"(annotation {name!r} failed to render: {exc})"
                self._count_render_error(rule, name, exc, now)
        return rendered

    def _count_render_error(self, rule: TrapRule, annotation: str, exc: Exception,
                            now: float) -> None:
        self.render_errors[rule.name] = self.render_errors.get(rule.name, 0) + 1
        suppressed = self._warnings.admit(f"render:{rule.name}:{annotation}", now)
        if suppressed is not None:
            log.warning("trap annotation template failed", rule=rule.name,
                        annotation=annotation, error=f"{type(exc).__name__}: {exc}",
                        suppressed_since_last=suppressed,
                        hint="check the template against the trap's labels and varbinds")

    def _signal(self, alert: _Alert, state: SignalState, at: float) -> RuleSignal:
        rule = alert.rule
        return RuleSignal(rule.name, dict(alert.labels), state, None, alert.active_since, at,
                          rule.severity, dict(alert.annotations))

    def _wall_at(self, now: float) -> float:
        return self._clock.wall() + (now - self._clock.now())


def varbind_texts(varbinds: Sequence[VarBind]) -> dict[str, str]:
    """Return the varbinds' values as text, by numeric OID and by object name where known.

    A varbind named in the built-in tables with one instance arc (ifDescr.3, sysName.0) is
    also listed under the object's name (ifDescr, sysName), for templates.
    """
    texts: dict[str, str] = {}
    for oid, value in varbinds:
        text = value_text(value) or ""
        texts[format_oid(oid)] = text
        name = object_name(oid) or (object_name(oid[:-1]) if len(oid) > 1 else None)
        if name is not None:
            texts.setdefault(name, text)
    return texts


def _find_text(varbinds: Sequence[VarBind], oid: Oid) -> str | None:
    """Return the text of the first varbind at or below `oid`, or None when none is."""
    for varbind_oid, value in varbinds:
        if is_prefix(oid, varbind_oid):
            return value_text(value) or ""
    return None
