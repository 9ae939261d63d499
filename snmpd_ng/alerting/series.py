"""Samples for the alerting rules, built from poll results with the names and labels of /metrics.

A polled value becomes a `Sample` with the metric name and labels that /metrics gives it, by
the same functions (`snmpd_ng.metrics.naming`, `snmpd_ng.metrics.values`). Each result also
gives the built-in series `up` and `poll_success` (per target and job) and `reboots` (per
target). The rules engine derives `rebooted` from `reboots`, and keeps the time each series
last arrived for `absent_for`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from snmpd_ng.config.model import ObjectSpec
from snmpd_ng.metrics.naming import (
    TARGET_LABEL,
    CounterNaming,
    add_label,
    is_reserved_name,
    label_name,
    metric_name,
)
from snmpd_ng.metrics.values import (
    NUMERIC_KINDS,
    SampleKind,
    UnconvertibleValue,
    convert,
    unwrap,
)
from snmpd_ng.polling.labels import LabelPairs
from snmpd_ng.polling.result import PollResult, ScalarPart, TablePart
from snmpd_ng.protocol.values import (
    Counter32,
    Counter64,
    Gauge32,
    Integer32,
    IpAddress,
    ObjectIdentifier,
    OctetString,
    Opaque,
    TimeTicks,
    VarBind,
)

LabelKey = tuple[tuple[str, str], ...]
"""A series' labels as (name, value) pairs sorted by name: hashable, and equal for equal labels."""

UP = "up"
"""1 when the target sent any response during the run, else 0. Labels: the target's and `job`."""
POLL_SUCCESS = "poll_success"
"""1 when the run caught no error, else 0. Labels: the target's and `job`."""
REBOOTS = "reboots"
"""Reboots of the target seen so far, from sysUpTime going back. Labels: the target's."""
REBOOTED = "rebooted"
"""1 from the result in which `reboots` went up until the target's next result, else 0.
Derived by the rules engine from `reboots`."""
BUILTIN_METRICS = frozenset({UP, POLL_SUCCESS, REBOOTS, REBOOTED})

JOB_LABEL = "job"

SNMP_TYPES: dict[type, str] = {
    Counter32: "counter32",
    Counter64: "counter64",
    Gauge32: "gauge",
    Integer32: "integer",
    TimeTicks: "timeticks",
    OctetString: "string",
    IpAddress: "ipaddress",
    ObjectIdentifier: "oid",
    Opaque: "opaque",
}
"""The `Sample.type` of each SNMP value type."""


def label_key(labels: Mapping[str, str]) -> LabelKey:
    """Return the labels as a sorted tuple of pairs."""
    return tuple(sorted(labels.items()))


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of one series, as the rules engine receives it."""

    name: str
    """Metric name as /metrics exports it, such as `ifHCInOctets`."""
    labels: Mapping[str, str]
    value: float
    """The number; an int for integer SNMP types, so that counter differences stay exact."""
    type: str
    """SNMP type (`counter32`, `counter64`, `gauge`, `integer`, `timeticks`, `string`, ...),
    or `builtin` for the built-in series."""
    kind: SampleKind
    """Family type in /metrics: `counter`, `gauge`, or `info` (a text value shown as a label)."""
    at: float
    """Clock time (`Clock.now()`, monotonic seconds) the value was fetched from the agent."""
    wall: float
    """Unix time the value was fetched."""
    expires_at: float
    """Clock time after which the value no longer counts as current: /metrics drops a part that
    no result confirmed for `stale_after + 1` intervals, and so do the rules."""
    reboots: int = 0
    """Reboots of the target seen up to this value. When two values of one series differ here,
    the step between them is a discontinuity."""
    key: LabelKey = ()
    """`label_key(labels)`; computed when left empty, passed in by callers that share it."""

    def __post_init__(self) -> None:
        if not self.key and self.labels:
            object.__setattr__(self, "key", label_key(self.labels))

    @property
    def target(self) -> str:
        return self.labels.get(TARGET_LABEL, "")


def target_base_labels(target: str, labels: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the labels every series of `target` carries: `target`, then its configured labels.

    The same order and clash rule as /metrics (`ValueSnapshot.set_target_labels`).
    """
    base = {TARGET_LABEL: target}
    for name, value in (labels or {}).items():
        add_label(base, name, value)
    return base


def samples_from_result(result: PollResult, target_labels: Mapping[str, str] | None = None,
                        counter_naming: CounterNaming = "object") -> list[Sample]:
    """Turn one poll result into samples: its polled values, then `up`, `poll_success`, `reboots`.

    `target_labels` are the target's configured labels, which the result does not carry.
    `counter_naming` is the daemon's choice of counter names. /metrics uses both the same way.
    Values that /metrics leaves out (exceptions, unconvertible text, reserved names) have no
    sample here either.
    """
    base = target_base_labels(result.target, target_labels)
    builder = _SampleBuilder(result, counter_naming)
    if result.scalars is not None:
        builder.add_scalars(result.scalars, base)
    for table in result.tables:
        builder.add_table(table, base)
    builder.add_builtins(base)
    return builder.samples


class _SampleBuilder:
    """Collects the samples of one result."""

    def __init__(self, result: PollResult, counter_naming: CounterNaming) -> None:
        self.result = result
        self.samples: list[Sample] = []
        self._counter_naming = counter_naming
        self._expires_at = result.finished_at + (result.stale_after + 1) * result.interval
        # Parts carry monotonic fetch times; the wall time follows from the run's end.
        self._wall_offset = result.finished_wall - result.finished_at

    def add_scalars(self, part: ScalarPart, base: dict[str, str]) -> None:
        specs = {spec.oid: spec for spec in part.objects}
        key = label_key(base)
        for varbind in part.varbinds:
            spec = specs.get(varbind.oid)
            if spec is not None:
                self._add(spec, varbind.value, base, key, part.fetched_at)

    def add_table(self, part: TablePart, base: dict[str, str]) -> None:
        rows: dict[LabelPairs, tuple[dict[str, str], LabelKey]] = {}
        for spec, varbinds in part.columns:
            self._add_column(spec, varbinds, part, base, rows)

    def _add_column(self, spec: ObjectSpec, varbinds: Sequence[VarBind], part: TablePart,
                    base: dict[str, str],
                    rows: dict[LabelPairs, tuple[dict[str, str], LabelKey]]) -> None:
        prefix_length = len(spec.oid)
        for varbind in varbinds:
            pairs = part.row_labels.get(varbind.oid[prefix_length:])
            if pairs is None:
                continue  # A row whose index did not decode: /metrics leaves it out too.
            row = rows.get(pairs)
            if row is None:
                labels = dict(base)
                for name, text in pairs:
                    add_label(labels, name, text)
                row = rows[pairs] = (labels, label_key(labels))
            self._add(spec, varbind.value, row[0], row[1], part.fetched_at)

    def _add(self, spec: ObjectSpec, value: object, labels: dict[str, str], key: LabelKey,
             fetched_at: float) -> None:
        # Fast path for exact numeric types, most polled values, as /metrics has it.
        kind: SampleKind | None = NUMERIC_KINDS.get(type(value)) if spec.type == "auto" else None
        number_or_text: int | float | str
        if kind is not None:
            number_or_text = int(cast(int, value))  # NUMERIC_KINDS has int subclasses only.
        else:
            try:
                converted = convert(spec.type, value)
            except UnconvertibleValue:
                return
            if converted is None:
                return
            kind, number_or_text = converted

        name = metric_name(spec.name)
        if kind == "counter" and self._counter_naming == "total":
            name += "_total"
        if is_reserved_name(name):
            return

        if isinstance(number_or_text, str):
            labels, key = _info_labels(spec, labels, key, number_or_text)
            number_or_text = 1
        snmp_type = SNMP_TYPES.get(type(unwrap(value)), "other")
        self.samples.append(Sample(
            name, labels, number_or_text, snmp_type, kind, fetched_at,
            fetched_at + self._wall_offset, self._expires_at, self.result.reboots, key))

    def add_builtins(self, base: dict[str, str]) -> None:
        result = self.result
        job_labels = {**base, JOB_LABEL: result.job}
        job_key = label_key(job_labels)
        up = 1 if result.reachable else 0
        success = 1 if result.error_kind is None else 0
        builtins: tuple[tuple[str, int, SampleKind, dict[str, str], LabelKey], ...] = (
            (UP, up, "gauge", job_labels, job_key),
            (POLL_SUCCESS, success, "gauge", job_labels, job_key),
            (REBOOTS, result.reboots, "counter", base, label_key(base)),
        )
        for name, value, kind, labels, key in builtins:
            self.samples.append(Sample(
                name, labels, value, "builtin", kind, result.finished_at,
                result.finished_wall, self._expires_at, result.reboots, key))


def _info_labels(spec: ObjectSpec, labels: dict[str, str], key: LabelKey,
                 text: str) -> tuple[dict[str, str], LabelKey]:
    # A text value becomes a label named after the object, unless an index label has the name,
    # as in /metrics (`snmpd_ng.metrics.snapshot`).
    info_label = label_name(spec.name)
    if info_label in labels:
        return labels, key
    with_info = {**labels, info_label: text}
    return with_info, label_key(with_info)
