"""The polled values as pre-rendered sample lines, updated one result at a time.

Applying a result rewrites only the chunks of the parts (the scalars, or one table) that the
result carries, so the cost of a result is proportional to its own values, and a render only
joins prepared bytes (`snmpd_ng.metrics.families`). A part that failed keeps its last samples
until it has failed `stale_after` runs in a row, or until no result confirmed it for
`stale_after + 1` intervals (when results stop coming at all). Then its series are left out of
/metrics rather than exported as stale values.

Apply and render may run on different threads: a part's chunks are replaced as a whole and
never changed in place, and rendering iterates over copies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import structlog

from snmpd_ng.clock import Clock
from snmpd_ng.config.model import ObjectSpec
from snmpd_ng.metrics.exposition import format_labels
from snmpd_ng.metrics.families import FamilyChunk, FamilyIndex, FamilyLines, PartKey
from snmpd_ng.metrics.naming import (
    TARGET_LABEL,
    CounterNaming,
    add_label,
    is_reserved_name,
    label_name,
    metric_name,
)
from snmpd_ng.metrics.values import NUMERIC_KINDS, SampleKind, UnconvertibleValue, convert
from snmpd_ng.polling.labels import LabelPairs
from snmpd_ng.polling.result import SCALARS_PART, PollResult, ScalarPart, TablePart
from snmpd_ng.protocol.oid import format_oid
from snmpd_ng.protocol.values import VarBind

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _PartState:
    confirmed_at: float
    """Clock time of the last result that carried this part."""
    interval: float
    stale_after: int
    failures: int = 0

    def is_stale(self, now: float) -> bool:
        if self.failures >= self.stale_after:
            return True
        return now - self.confirmed_at > (self.stale_after + 1) * self.interval


@dataclass(slots=True)
class _Row:
    """The labels of one table row (or of a target's scalars) and their text form."""

    labels: dict[str, str]
    text: str
    """`{name="value",...}` followed by the space before the value."""


class _PartBuilder:
    """Collects the samples of one part, creating its families on first use."""

    def __init__(self, counter_naming: CounterNaming) -> None:
        self.families: dict[str, FamilyLines] = {}
        self.unconvertible = 0
        self.reserved: set[str] = set()
        """Names left out because the daemon's own metrics use them."""
        self._counter_naming = counter_naming

    def add(self, spec: ObjectSpec, value: object, row: _Row) -> None:
        try:
            converted = convert(spec.type, value)
        except UnconvertibleValue:
            self.unconvertible += 1
            return
        if converted is None:
            return

        kind, number_or_text = converted
        family = self.family(spec, kind)
        if family is None:
            return
        if isinstance(number_or_text, str):
            info_row = _info_row(spec, row, number_or_text)
            family.add(info_row.labels, info_row.text, 1)
        else:
            family.add(row.labels, row.text, number_or_text)

    def family(self, spec: ObjectSpec, kind: SampleKind) -> FamilyLines | None:
        """Return the family of `spec`'s samples, or None when its name is reserved."""
        name = metric_name(spec.name)
        if kind == "counter" and self._counter_naming == "total":
            name += "_total"
        family = self.families.get(name)
        if family is not None:
            return family
        if is_reserved_name(name):
            self.reserved.add(name)
            return None

        family_type = "counter" if kind == "counter" else "gauge"
        help_text = spec.help or f"SNMP object {spec.name} ({format_oid(spec.oid)})."
        family = self.families[name] = FamilyLines(name, family_type, help_text)
        return family

    def chunks(self) -> dict[str, FamilyChunk]:
        return {name: family.chunk() for name, family in self.families.items() if family.lines}


def _info_row(spec: ObjectSpec, row: _Row, text: str) -> _Row:
    # The value becomes a label named after the object, unless an index label has the name,
    # as snmp_exporter does.
    info_label = label_name(spec.name)
    if info_label in row.labels:
        return row
    labels = {**row.labels, info_label: text}
    return _Row(labels, format_labels(labels) + " ")


def _row(labels: dict[str, str]) -> _Row:
    return _Row(labels, format_labels(labels) + " ")


class ValueSnapshot:
    """The latest exportable samples of every target, job and part."""

    def __init__(self, clock: Clock, counter_naming: CounterNaming = "object") -> None:
        self._clock = clock
        self._counter_naming = counter_naming
        self._parts: dict[PartKey, _PartState] = {}
        self._base_labels: dict[str, dict[str, str]] = {}
        self._base_rows: dict[str, _Row] = {}
        self._table_rows: dict[PartKey, dict[LabelPairs, _Row]] = {}
        """Rows of each table part's last result, reused by the next one. Formatting a row's
        labels costs more than writing its samples, and rows rarely change between polls."""
        self.index = FamilyIndex()
        self.unconvertible: dict[tuple[str, str], int] = {}
        """Values per target and job that their configured type could not show, since start."""
        self.reserved_names: set[str] = set()
        """Metric names of polled objects left out because they are reserved for the daemon's
        own metrics (`snmpd_ng.metrics.naming.RESERVED_PREFIXES`), logged once each."""

    @property
    def type_conflicts(self) -> int:
        """Times a metric name was given a second type (see FamilyIndex)."""
        return self.index.type_conflicts

    def set_target_labels(self, target: str, labels: Mapping[str, str]) -> None:
        """Set the labels every series of `target` carries: `target` first, then `labels`."""
        base = {TARGET_LABEL: target}
        for name, value in labels.items():
            add_label(base, name, value)
        self._base_labels[target] = base
        self._base_rows[target] = _row(base)
        for key in [key for key in self._table_rows if key[0] == target]:
            del self._table_rows[key]

    @property
    def base_labels(self) -> Mapping[str, Mapping[str, str]]:
        return self._base_labels

    def apply(self, result: PollResult) -> None:
        """Replace the samples of the parts in `result` and update every part's failure count."""
        base = self._base_rows.get(result.target) or _row({TARGET_LABEL: result.target})
        if result.scalars is not None:
            self._store(result, SCALARS_PART, self._scalar_part(result.scalars, base))
        for table in result.tables:
            key = (result.target, result.job, table.spec.name)
            self._store(result, table.spec.name, self._table_part(key, table, base))

        for name, failures in result.health.failures.items():
            state = self._parts.get((result.target, result.job, name))
            if state is not None:
                state.failures = failures

    def remove(self, target: str, keep_jobs: Sequence[str] = ()) -> None:
        """Drop the series of `target`, except those of the jobs named in `keep_jobs`."""
        for key in [key for key in self._parts if key[0] == target and key[1] not in keep_jobs]:
            del self._parts[key]
            self.index.remove_part(key)
            self._table_rows.pop(key, None)
        if not keep_jobs:
            self._base_labels.pop(target, None)
            self._base_rows.pop(target, None)

    def stale_parts(self) -> set[PartKey]:
        """Return the parts whose series are left out as stale."""
        now = self._clock.now()
        return {key for key, state in list(self._parts.items()) if state.is_stale(now)}

    def stale_jobs(self) -> set[tuple[str, str]]:
        """Return the target and job of every part whose series are left out as stale."""
        return {(key[0], key[1]) for key in self.stale_parts()}

    def render(self) -> bytes:
        """Return the text exposition of every family, without the parts that are stale."""
        return b"".join(self.index.render(self.stale_parts()))

    def families(self) -> list[list[FamilyChunk]]:
        """Return the chunks that `render` writes, family by family."""
        return list(self.index.families(self.stale_parts()))

    def _store(self, result: PollResult, part: str, builder: _PartBuilder) -> None:
        key = (result.target, result.job, part)
        self._parts[key] = _PartState(result.finished_at, result.interval, result.stale_after,
                                      result.health.failures.get(part, 0))
        self.index.replace_part(key, builder.chunks())
        self._report_reserved(key, builder.reserved)
        if builder.unconvertible:
            job_key = (result.target, result.job)
            self.unconvertible[job_key] = (self.unconvertible.get(job_key, 0)
                                           + builder.unconvertible)

    def _report_reserved(self, key: PartKey, names: set[str]) -> None:
        for name in sorted(names - self.reserved_names):
            self.reserved_names.add(name)
            log.warning("polled object left out: its metric name is reserved for the daemon's "
                        "own metrics", metric=name, target=key[0], job=key[1], part=key[2],
                        hint="rename the object in the job's config")

    def _new_builder(self) -> _PartBuilder:
        return _PartBuilder(self._counter_naming)

    def _scalar_part(self, part: ScalarPart, base: _Row) -> _PartBuilder:
        builder = self._new_builder()
        specs = {spec.oid: spec for spec in part.objects}
        for varbind in part.varbinds:
            spec = specs.get(varbind.oid)
            if spec is not None:
                builder.add(spec, varbind.value, base)
        return builder

    def _table_part(self, key: PartKey, part: TablePart, base: _Row) -> _PartBuilder:
        builder = self._new_builder()
        previous = self._table_rows.get(key, {})
        rows: dict[LabelPairs, _Row] = {}
        for spec, varbinds in part.columns:
            _add_column(builder, spec, varbinds, part, base.labels, rows, previous)
        self._table_rows[key] = rows
        return builder


def _add_column(builder: _PartBuilder, spec: ObjectSpec, varbinds: Sequence[VarBind],
                part: TablePart, base: dict[str, str], rows: dict[LabelPairs, _Row],
                previous: Mapping[LabelPairs, _Row]) -> None:
    prefix_length = len(spec.oid)
    numeric_families: dict[SampleKind, FamilyLines | None] = {}
    for varbind in varbinds:
        pairs = part.row_labels.get(varbind.oid[prefix_length:])
        if pairs is None:
            continue
        row = rows.get(pairs)
        if row is None:
            # One row per index, shared by the row's samples in every column.
            row = previous.get(pairs)
            if row is None:
                labels = dict(base)
                for label, text in pairs:
                    add_label(labels, label, text)
                row = _row(labels)
            rows[pairs] = row

        # Fast path for exact numeric types, which are most table values; the rest take the
        # general conversion in `add`.
        value = varbind.value
        kind = NUMERIC_KINDS.get(type(value)) if spec.type == "auto" else None
        if kind is None:
            builder.add(spec, value, row)
            continue
        if kind not in numeric_families:
            numeric_families[kind] = builder.family(spec, kind)
        family = numeric_families[kind]
        if family is not None:
            # NUMERIC_KINDS has int types only.
            family.add_integer(row.labels, row.text, value)  # type: ignore[arg-type]
