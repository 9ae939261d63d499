"""The polled values as ready-made metric samples, updated one result at a time.

Applying a result rebuilds only the samples of the parts (the scalars, or one table) that the
result carries, so the cost of a result is proportional to its own values, and rendering only
concatenates prepared sample lists. A part that failed keeps its last samples until it has
failed `stale_after` runs in a row, or until no result confirmed it for `stale_after + 1`
intervals (when results stop coming at all). Then its series are left out of /metrics rather
than exported as stale values.

Apply and render may run on different threads: a part's samples are replaced as a whole and
never changed in place, and rendering iterates over a copy of the part list.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from snmpd_ng.clock import Clock
from snmpd_ng.config.model import ObjectSpec
from snmpd_ng.metrics.naming import (
    TARGET_LABEL,
    CounterNaming,
    add_label,
    label_name,
    metric_name,
)
from snmpd_ng.metrics.values import NUMERIC_KINDS, SampleKind, UnconvertibleValue, convert
from snmpd_ng.polling.labels import LabelPairs
from snmpd_ng.polling.result import SCALARS_PART, PollResult, ScalarPart, TablePart
from snmpd_ng.protocol.oid import format_oid
from snmpd_ng.protocol.values import VarBind

PartKey = tuple[str, str, str]
"""Target, job and part name (the scalars part, or a table name)."""


@dataclass(slots=True)
class _Family:
    name: str
    type: str
    sample_name: str
    """The family name, plus `_total` for a typed counter."""
    help: str
    samples: list[Sample] = field(default_factory=list)


@dataclass(slots=True)
class _PartSeries:
    families: Mapping[str, _Family]
    confirmed_at: float
    """Clock time of the last result that carried this part."""
    interval: float
    stale_after: int
    failures: int = 0

    def is_stale(self, now: float) -> bool:
        if self.failures >= self.stale_after:
            return True
        return now - self.confirmed_at > (self.stale_after + 1) * self.interval


class _FamilyBuilder:
    """Collects the samples of one part, creating families on first use."""

    def __init__(self, counter_naming: CounterNaming) -> None:
        self.families: dict[str, _Family] = {}
        self.unconvertible = 0
        self._counter_naming = counter_naming

    def add(self, spec: ObjectSpec, value: object, labels: dict[str, str]) -> None:
        try:
            converted = convert(spec.type, value)
        except UnconvertibleValue:
            self.unconvertible += 1
            return
        if converted is None:
            return

        kind, number_or_text = converted
        family = self.family(spec, kind)
        if kind != "info":
            family.samples.append(Sample(family.sample_name, labels, float(number_or_text)))
            return

        info_label = label_name(spec.name)
        if info_label not in labels:
            labels = {**labels, info_label: str(number_or_text)}
        family.samples.append(Sample(family.name, labels, 1.0))

    def family(self, spec: ObjectSpec, kind: SampleKind) -> _Family:
        name = metric_name(spec.name)
        family = self.families.get(name)
        if family is None:
            family_type = self._family_type(kind)
            sample_name = name + "_total" if family_type == "counter" else name
            family = _Family(name, family_type, sample_name,
                             spec.help or f"SNMP object {spec.name} ({format_oid(spec.oid)}).")
            self.families[name] = family
        return family

    def _family_type(self, kind: str) -> str:
        if kind == "counter":
            return "counter" if self._counter_naming == "total" else "unknown"
        return "gauge"


class ValueSnapshot:
    """The latest exportable samples of every target, job and part."""

    def __init__(self, clock: Clock, counter_naming: CounterNaming = "object") -> None:
        self._clock = clock
        self._counter_naming = counter_naming
        self._parts: dict[PartKey, _PartSeries] = {}
        self._base_labels: dict[str, dict[str, str]] = {}
        self.unconvertible: dict[tuple[str, str], int] = {}
        """Values per target and job that their configured type could not show, since start."""
        self.type_conflicts = 0
        """Families left out of a render because another target exported the name as another
        type."""

    def set_target_labels(self, target: str, labels: Mapping[str, str]) -> None:
        """Set the labels every series of `target` carries: `target` first, then `labels`."""
        base = {TARGET_LABEL: target}
        for name, value in labels.items():
            add_label(base, name, value)
        self._base_labels[target] = base

    @property
    def base_labels(self) -> Mapping[str, Mapping[str, str]]:
        return self._base_labels

    def apply(self, result: PollResult) -> None:
        """Replace the samples of the parts in `result` and update every part's failure count."""
        base = self._base_labels.get(result.target) or {TARGET_LABEL: result.target}
        if result.scalars is not None:
            self._store(result, SCALARS_PART, self._scalar_families(result.scalars, base))
        for table in result.tables:
            self._store(result, table.spec.name, self._table_families(table, base))

        for name, failures in result.health.failures.items():
            series = self._parts.get((result.target, result.job, name))
            if series is not None:
                series.failures = failures

    def remove(self, target: str, keep_jobs: Sequence[str] = ()) -> None:
        """Drop the series of `target`, except those of the jobs named in `keep_jobs`."""
        for key in [key for key in self._parts if key[0] == target and key[1] not in keep_jobs]:
            del self._parts[key]
        if not keep_jobs:
            self._base_labels.pop(target, None)

    def stale_jobs(self) -> set[tuple[str, str]]:
        """Return the target and job of every part whose series are left out as stale."""
        now = self._clock.now()
        return {(key[0], key[1]) for key, series in list(self._parts.items())
                if series.is_stale(now)}

    def render(self) -> Iterator[Metric]:
        """Yield one family per metric name with the samples of every part that is not stale."""
        now = self._clock.now()
        merged: dict[str, Metric] = {}
        for series in list(self._parts.values()):
            if series.is_stale(now):
                continue
            for family in series.families.values():
                self._merge(merged, family)
        yield from merged.values()

    def _merge(self, merged: dict[str, Metric], family: _Family) -> None:
        metric = merged.get(family.name)
        if metric is None:
            metric = Metric(family.name, family.help, family.type)
            merged[family.name] = metric
        elif metric.type != family.type:
            self.type_conflicts += 1
            return
        metric.samples.extend(family.samples)

    def _store(self, result: PollResult, part: str, builder: _FamilyBuilder) -> None:
        key = (result.target, result.job, part)
        self._parts[key] = _PartSeries(builder.families, result.finished_at, result.interval,
                                       result.stale_after,
                                       result.health.failures.get(part, 0))
        if builder.unconvertible:
            job_key = (result.target, result.job)
            self.unconvertible[job_key] = (self.unconvertible.get(job_key, 0)
                                           + builder.unconvertible)

    def _scalar_families(self, part: ScalarPart, base: dict[str, str]) -> _FamilyBuilder:
        builder = _FamilyBuilder(self._counter_naming)
        specs = {spec.oid: spec for spec in part.objects}
        for varbind in part.varbinds:
            spec = specs.get(varbind.oid)
            if spec is not None:
                builder.add(spec, varbind.value, base)
        return builder

    def _table_families(self, part: TablePart, base: dict[str, str]) -> _FamilyBuilder:
        builder = _FamilyBuilder(self._counter_naming)
        row_dicts: dict[LabelPairs, dict[str, str]] = {}
        for spec, varbinds in part.columns:
            self._add_column(builder, spec, varbinds, part, base, row_dicts)
        return builder

    @staticmethod
    def _add_column(builder: _FamilyBuilder, spec: ObjectSpec, varbinds: Sequence[VarBind],
                    part: TablePart, base: dict[str, str],
                    row_dicts: dict[LabelPairs, dict[str, str]]) -> None:
        prefix_length = len(spec.oid)
        numeric_families: dict[SampleKind, _Family] = {}
        for varbind in varbinds:
            row = part.row_labels.get(varbind.oid[prefix_length:])
            if row is None:
                continue
            labels = row_dicts.get(row)
            if labels is None:
                # One label dict per row, shared by the row's samples in every column.
                labels = dict(base)
                for label, text in row:
                    add_label(labels, label, text)
                row_dicts[row] = labels

            # Fast path for exact numeric types, which are most table values; the rest take the
            # general conversion in `add`.
            value = varbind.value
            kind = NUMERIC_KINDS.get(type(value)) if spec.type == "auto" else None
            if kind is None:
                builder.add(spec, value, labels)
                continue
            family = numeric_families.get(kind)
            if family is None:
                family = numeric_families[kind] = builder.family(spec, kind)
            family.samples.append(Sample(family.sample_name, labels, float(value)))  # type: ignore[arg-type]
