"""The rules engine's state of one target as JSON, so that another node can carry on with it.

In cluster mode a target moves between nodes (failover, rebalance). The new owner imports the
old owner's last two points of each series (for `rate()`, `delta()` and reboot steps), the time
each series last arrived (for `absent_for`) and each rule's pending and firing alerts (for `for`
timers and hysteresis). Sans-IO: no Redis, no clock. The engine passes its clock times in.

Times: the engine's clock (`Clock.now()`) is monotonic and local to one process, so every clock
time leaves as Unix seconds, `clock time + (wall - now)`, and comes back as
`Unix time - (wall - now)` on the importing engine's clock. Times that are Unix seconds already
(`active_since_wall`, `changed_at_wall`) pass unchanged.

Format, version 1 (all keys required, `previous` may be null):

    {"version": 1, "target": "core1", "exported_at": <Unix s>,
     "series": [{"name", "labels": {..}, "type", "kind",
                 "last": [value, at, reboots], "previous": [value, at, reboots] | null,
                 "expires_at", "received_at"}, ...],
     "rules": {"<rule name>": {"labels": {..}, "severity": "...",
                               "alerts": [{"key": [[name, value], ..], "state", "active_since",
                                           "active_since_wall", "value", "labels": {..},
                                           "annotations": {..}, "changed_at_wall"}, ...]}}}

The rule's labels and severity travel with its alerts, so that the importer can tell whether
the rule it has under that name still gives those alerts their identity.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, cast, get_args

from snmpd_ng.alerting.rules.model import Rule, SignalState
from snmpd_ng.alerting.rules.states import Alerts, AlertState
from snmpd_ng.alerting.rules.store import Point, Series
from snmpd_ng.alerting.series import REBOOTS, LabelKey, Sample, label_key
from snmpd_ng.metrics.naming import TARGET_LABEL
from snmpd_ng.metrics.values import SampleKind

STATE_VERSION = 1
"""Version of the format above; an importer rejects any other."""

_KINDS = frozenset(get_args(SampleKind))
_ALERT_STATES = frozenset({"pending", "firing"})

TargetState = dict[str, Any]
"""One target's exported state, as `RulesEngine.export_target` returns it (JSON-able)."""


class TargetStateError(ValueError):
    """Exported rule state that cannot be imported: invalid JSON, a missing or mistyped field, or
    an unknown format version. The message names the field."""


# Text


def encode_target_state(state: Mapping[str, Any]) -> str:
    """Serialise an exported state as compact JSON.

    Raises TargetStateError when `state` contains a value that JSON cannot represent. Infinite
    and NaN values (a division by zero in a rule) are written as `Infinity` and `NaN`, an
    extension of JSON that Python's json module writes and reads, so `decode_target_state`
    reads them back.
    """
    try:
        return json.dumps(state, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise TargetStateError(f"rule state cannot be encoded as JSON: {exc}") from exc


def decode_target_state(text: str) -> TargetState:
    """Parse the JSON of `encode_target_state`; raise TargetStateError when it is no object."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise TargetStateError(f"rule state is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise TargetStateError(f"rule state must be a JSON object, got {type(data).__name__}")
    return data


# Export


def export_series(series: Series, to_unix: float) -> dict[str, Any]:
    """Return one series as data; `to_unix` is added to each clock time."""
    previous = series.previous
    return {
        "name": series.name,
        "labels": dict(series.labels),
        "type": series.type,
        "kind": series.kind,
        "last": _export_point(series.last, to_unix),
        "previous": None if previous is None else _export_point(previous, to_unix),
        "expires_at": series.expires_at + to_unix,
        "received_at": series.received_at + to_unix,
    }


def _export_point(point: Point, to_unix: float) -> list[float | int]:
    return [point.value, point.at + to_unix, point.reboots]


def export_rule_alerts(rule: Rule, alerts: Alerts, to_unix: float) -> dict[str, Any]:
    """Return a rule's identity and its alerts in one scope as data."""
    return {
        "labels": dict(rule.labels),
        "severity": rule.severity,
        "alerts": [_export_alert(alert, to_unix) for alert in alerts.values()],
    }


def _export_alert(alert: AlertState, to_unix: float) -> dict[str, Any]:
    return {
        "key": [list(pair) for pair in alert.key],
        "state": alert.state,
        "active_since": alert.active_since + to_unix,
        "active_since_wall": alert.active_since_wall,
        "value": alert.value,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "changed_at_wall": alert.changed_at_wall,
    }


# Import


class ImportedRule:
    """A rule's identity and alerts as read from exported state, with times on the local clock."""

    __slots__ = ("alerts", "labels", "severity")

    def __init__(self, labels: dict[str, str], severity: str, alerts: Alerts) -> None:
        self.labels = labels
        self.severity = severity
        self.alerts = alerts

    def has_identity_of(self, rule: Rule) -> bool:
        """Tell whether `rule` gives these alerts the same labels and severity as the exporter's."""
        return self.labels == dict(rule.labels) and self.severity == rule.severity


class ImportedTarget:
    """One target's state as read and checked from exported data, ready to replace the engine's."""

    __slots__ = ("rules", "series")

    def __init__(self, series: list[Series], rules: dict[str, ImportedRule]) -> None:
        self.series = series
        self.rules = rules


def read_target_state(target: str, data: Mapping[str, Any], from_unix: float, *,
                      reboots: int | None = None) -> ImportedTarget:
    """Check `data` field by field and convert its times with `from_unix` (added to each).

    `reboots` is the importing node's reboot count of the target. When given, each imported
    point's count is shifted so that the newest one equals it: each node counts the reboots
    it saw itself, and a step between points of different counts yields no rate.

    Raises TargetStateError naming the first field that is missing, mistyped or of another
    target, or the version when it is not STATE_VERSION.
    """
    version = data.get("version")
    if version != STATE_VERSION:
        raise TargetStateError(
            f"rule state of target {target!r} has format version {version!r}; this node reads "
            f"version {STATE_VERSION} only. Run the same snmpd-ng version on every node")
    _expect(data.get("target") == target, "target",
            f"is {data.get('target')!r}, expected {target!r}")

    reader = _Reader(target, from_unix)
    series = [reader.series(item, f"series[{index}]")
              for index, item in enumerate(_list(data, "series", "state"))]
    if reboots is not None:
        _rebase_reboots(series, reboots)

    rules = {}
    for name, item in _dict(data, "rules", "state").items():
        rules[name] = reader.rule(item, f"rules[{name!r}]")
    return ImportedTarget(series, rules)


class _Reader:
    """Reads the parts of one target's state; `from_unix` turns Unix seconds into clock times."""

    def __init__(self, target: str, from_unix: float) -> None:
        self.target = target
        self.from_unix = from_unix

    def series(self, item: object, where: str) -> Series:
        fields = _object(item, where)
        labels = _labels(fields, "labels", where)
        _expect(labels.get(TARGET_LABEL) == self.target, f"{where}.labels.{TARGET_LABEL}",
                f"is {labels.get(TARGET_LABEL)!r}, expected {self.target!r}")
        kind = _text(fields, "kind", where)
        _expect(kind in _KINDS, f"{where}.kind", f"is {kind!r}, expected one of {sorted(_KINDS)}")
        last = self.point(fields.get("last"), f"{where}.last")
        previous = None
        if fields.get("previous") is not None:
            previous = self.point(fields["previous"], f"{where}.previous")

        expires_at = _number(fields, "expires_at", where) + self.from_unix
        # Series are built from a Sample of their last point; its Unix time is not stored.
        sample = Sample(_text(fields, "name", where), labels, last.value,
                        _text(fields, "type", where), cast(SampleKind, kind), last.at, 0.0,
                        expires_at, last.reboots, label_key(labels))
        series = Series(sample, _number(fields, "received_at", where) + self.from_unix)
        series.previous = previous
        return series

    def point(self, item: object, where: str) -> Point:
        _expect(isinstance(item, list) and len(item) == 3, where,
                "must be a list [value, at, reboots]")
        value, at, reboots = cast(list[object], item)
        _expect(_is_number(value), f"{where}[0]", f"must be a number, got {value!r}")
        _expect(_is_finite(at), f"{where}[1]", f"must be a finite number, got {at!r}")
        _expect(isinstance(reboots, int) and not isinstance(reboots, bool), f"{where}[2]",
                f"must be an integer, got {reboots!r}")
        return Point(cast(float, value), cast(float, at) + self.from_unix, cast(int, reboots))

    def rule(self, item: object, where: str) -> ImportedRule:
        fields = _object(item, where)
        alerts: Alerts = {}
        for index, entry in enumerate(_list(fields, "alerts", where)):
            alert = self.alert(entry, f"{where}.alerts[{index}]")
            alerts[alert.key] = alert
        return ImportedRule(_labels(fields, "labels", where), _text(fields, "severity", where),
                            alerts)

    def alert(self, item: object, where: str) -> AlertState:
        fields = _object(item, where)
        state = _text(fields, "state", where)
        _expect(state in _ALERT_STATES, f"{where}.state",
                f"is {state!r}, expected one of {sorted(_ALERT_STATES)}")
        value = fields.get("value")
        _expect(_is_number(value), f"{where}.value", f"must be a number, got {value!r}")
        return AlertState(
            key=_label_key(fields.get("key"), f"{where}.key"),
            state=cast(SignalState, state),
            active_since=_number(fields, "active_since", where) + self.from_unix,
            active_since_wall=_number(fields, "active_since_wall", where),
            value=cast(float, value),
            labels=_labels(fields, "labels", where),
            annotations=_labels(fields, "annotations", where),
            changed_at_wall=_number(fields, "changed_at_wall", where),
        )


def _rebase_reboots(series: list[Series], reboots: int) -> None:
    counts = [item.last.reboots for item in series if item.name == REBOOTS]
    if not counts:
        return
    shift = reboots - max(counts)
    for item in series:
        for point in (item.last, item.previous):
            if point is not None:
                point.reboots += shift
                if item.name == REBOOTS:
                    point.value += shift


# Field checks: each raises TargetStateError naming the field's path.


def _expect(condition: bool, where: str, problem: str) -> None:
    if not condition:
        raise TargetStateError(f"invalid rule state: {where} {problem}")


def _object(item: object, where: str) -> dict[str, Any]:
    _expect(isinstance(item, dict), where, f"must be an object, got {type(item).__name__}")
    return cast(dict[str, Any], item)


def _list(fields: Mapping[str, Any], name: str, where: str) -> list[object]:
    value = fields.get(name)
    _expect(isinstance(value, list), f"{where}.{name}",
            f"must be a list, got {type(value).__name__}")
    return cast(list[object], value)


def _dict(fields: Mapping[str, Any], name: str, where: str) -> dict[str, object]:
    value = fields.get(name)
    _expect(isinstance(value, dict), f"{where}.{name}",
            f"must be an object, got {type(value).__name__}")
    return cast(dict[str, object], value)


def _text(fields: Mapping[str, Any], name: str, where: str) -> str:
    value = fields.get(name)
    _expect(isinstance(value, str), f"{where}.{name}", f"must be a string, got {value!r}")
    return cast(str, value)


def _number(fields: Mapping[str, Any], name: str, where: str) -> float:
    value = fields.get(name)
    _expect(_is_finite(value), f"{where}.{name}", f"must be a finite number, got {value!r}")
    return cast(float, value)


def _labels(fields: Mapping[str, Any], name: str, where: str) -> dict[str, str]:
    labels = _dict(fields, name, where)
    for key, value in labels.items():
        _expect(isinstance(value, str), f"{where}.{name}[{key!r}]",
                f"must be a string, got {value!r}")
    return cast(dict[str, str], labels)


def _label_key(item: object, where: str) -> LabelKey:
    _expect(isinstance(item, list), where, "must be a list of [name, value] pairs")
    pairs = []
    for pair in cast(list[object], item):
        _expect(isinstance(pair, list) and len(pair) == 2
                and all(isinstance(part, str) for part in pair), where,
                f"must be a list of [name, value] pairs, got the element {pair!r}")
        name, value = cast(list[str], pair)
        pairs.append((name, value))
    return tuple(sorted(pairs))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_finite(value: object) -> bool:
    return _is_number(value) and math.isfinite(cast(float, value))
