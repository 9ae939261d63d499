"""The previous rendering of polled values, through prometheus-client, kept as a test oracle.

This is the value snapshot as it was before /metrics got its own text exposition: samples are
prometheus-client `Sample` objects built when a result arrives, families are merged on every
render, and SNMP counters are untyped (prometheus-client cannot name a counter without
`_total`). Tests compare the new exposition's values with it, and bench/exposition_bench.py
measures its render cost as the "before" figure. Staleness is left out: the oracle keeps every
part it was given.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import CollectorRegistry
from prometheus_client.samples import Sample

from snmpd_ng.config.model import ObjectSpec
from snmpd_ng.metrics.naming import TARGET_LABEL, add_label, label_name, metric_name
from snmpd_ng.metrics.values import NUMERIC_KINDS, SampleKind, UnconvertibleValue, convert
from snmpd_ng.polling.labels import LabelPairs
from snmpd_ng.polling.result import SCALARS_PART, PollResult, ScalarPart, TablePart
from snmpd_ng.protocol.oid import format_oid
from snmpd_ng.protocol.values import VarBind


@dataclass(slots=True)
class _Family:
    name: str
    type: str
    help: str
    samples: list[Sample] = field(default_factory=list)


class _FamilyBuilder:
    def __init__(self) -> None:
        self.families: dict[str, _Family] = {}

    def add(self, spec: ObjectSpec, value: object, labels: dict[str, str]) -> None:
        try:
            converted = convert(spec.type, value)
        except UnconvertibleValue:
            return
        if converted is None:
            return
        kind, number_or_text = converted
        family = self.family(spec, kind)
        if kind != "info":
            family.samples.append(Sample(family.name, labels, float(number_or_text)))
            return
        info_label = label_name(spec.name)
        if info_label not in labels:
            labels = {**labels, info_label: str(number_or_text)}
        family.samples.append(Sample(family.name, labels, 1.0))

    def family(self, spec: ObjectSpec, kind: SampleKind) -> _Family:
        name = metric_name(spec.name)
        family = self.families.get(name)
        if family is None:
            family_type = "unknown" if kind == "counter" else "gauge"
            family = _Family(name, family_type,
                             spec.help or f"SNMP object {spec.name} ({format_oid(spec.oid)}).")
            self.families[name] = family
        return family


class ClientValueSnapshot:
    """The latest samples of every target, job and part, rendered through prometheus-client."""

    def __init__(self) -> None:
        self._parts: dict[tuple[str, str, str], dict[str, _Family]] = {}
        self.base_labels: dict[str, dict[str, str]] = {}

    def set_target_labels(self, target: str, labels: dict[str, str]) -> None:
        base = {TARGET_LABEL: target}
        for name, value in labels.items():
            add_label(base, name, value)
        self.base_labels[target] = base

    def apply(self, result: PollResult) -> None:
        base = self.base_labels.get(result.target) or {TARGET_LABEL: result.target}
        if result.scalars is not None:
            builder = _scalar_families(result.scalars, base)
            self._parts[(result.target, result.job, SCALARS_PART)] = builder.families
        for table in result.tables:
            builder = _table_families(table, base)
            self._parts[(result.target, result.job, table.spec.name)] = builder.families

    def render(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for families in list(self._parts.values()):
            for family in families.values():
                metric = merged.get(family.name)
                if metric is None:
                    metric = merged[family.name] = Metric(family.name, family.help, family.type)
                elif metric.type != family.type:
                    continue
                metric.samples.extend(family.samples)
        yield from merged.values()

    def collect(self) -> Iterator[Metric]:
        return self.render()

    def describe(self) -> list[Metric]:
        return []

    def exposition(self) -> bytes:
        """Return the text that prometheus-client's generate_latest writes for the snapshot."""
        registry = CollectorRegistry()
        registry.register(self)
        return generate_latest(registry)


def _scalar_families(part: ScalarPart, base: dict[str, str]) -> _FamilyBuilder:
    builder = _FamilyBuilder()
    specs = {spec.oid: spec for spec in part.objects}
    for varbind in part.varbinds:
        spec = specs.get(varbind.oid)
        if spec is not None:
            builder.add(spec, varbind.value, base)
    return builder


def _table_families(part: TablePart, base: dict[str, str]) -> _FamilyBuilder:
    builder = _FamilyBuilder()
    row_dicts: dict[LabelPairs, dict[str, str]] = {}
    for spec, varbinds in part.columns:
        _add_column(builder, spec, varbinds, part, base, row_dicts)
    return builder


def _add_column(builder: _FamilyBuilder, spec: ObjectSpec, varbinds: Sequence[VarBind],
                part: TablePart, base: dict[str, str],
                row_dicts: dict[LabelPairs, dict[str, str]]) -> None:
    prefix_length = len(spec.oid)
    for varbind in varbinds:
        row = part.row_labels.get(varbind.oid[prefix_length:])
        if row is None:
            continue
        labels = row_dicts.get(row)
        if labels is None:
            labels = dict(base)
            for label, text in row:
                add_label(labels, label, text)
            row_dicts[row] = labels
        value = varbind.value
        kind = NUMERIC_KINDS.get(type(value)) if spec.type == "auto" else None
        if kind is None:
            builder.add(spec, value, labels)
            continue
        family = builder.family(spec, kind)
        # NUMERIC_KINDS has int types only, which float() takes.
        family.samples.append(Sample(family.name, labels, float(value)))  # type: ignore[arg-type]
