"""JSON encoding of cache entries, for the Redis cache that the nodes of a cluster share.

Redis is shared by every node, so a payload is data, never code: pickle is out, because
unpickling what another writer stored would run whatever that writer chose. Every field is
checked on decoding, and any payload that does not fit raises `CacheDecodeError`.

One payload is one JSON object (UTF-8, no NaN or Infinity):

    {"v": 1, "slow": false, "stored": <Unix s>, "expires": <Unix s>,
     "type": "poll_result" | "table_part" | "lookup_column", "value": {...}}

Times: poll results and their parts carry times of the writer's loop clock (`Clock.now()`),
which mean nothing on another node. The encoder adds the writer's offset `wall() - now()` and
stores Unix seconds. The decoder subtracts the reader's own offset and returns times on the
reader's loop clock. Two nodes whose wall clocks disagree see each other's times shifted by
the disagreement, and a round trip through Unix time may move a time by a float rounding
step (under a microsecond).

`PollResult.stats` (the manager's counters of the target on the writing node) is not stored:
a decoded PollResult has `stats=None`.

SNMP values, OIDs and octets are written as snmpd_ng.cache.codec_values describes. A table
column stores its varbinds as suffixes after the column's OID, because the column prefix would
otherwise repeat in every row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn, TypeVar, get_args

from snmpd_ng.cache.base import CacheEntry
from snmpd_ng.cache.codec_values import (
    CacheEncodeError,
    InvalidField,
    decode_varbinds,
    encode_varbinds,
    oid_text,
    read_bool,
    read_counts,
    read_dict,
    read_field,
    read_float,
    read_int,
    read_items,
    read_list,
    read_nullable_field,
    read_oid,
    read_str,
)
from snmpd_ng.config.model import (
    IndexSpec,
    IndexType,
    LookupSpec,
    MetricType,
    ObjectSpec,
    TableSpec,
)
from snmpd_ng.polling.labels import LabelPairs
from snmpd_ng.polling.poller import LookupColumn
from snmpd_ng.polling.result import JobHealth, PollResult, ScalarPart, TablePart
from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.values import VarBind

CODEC_VERSION = 1
"""Version of the payload layout. A reader rejects payloads of every other version."""

T = TypeVar("T")


class CacheDecodeError(ValueError):
    """A cache payload that this node cannot read: malformed, or of another codec version."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"cannot decode cache entry {key!r}: {reason}; the entry is treated "
                         "as missing until its writer replaces it or it expires")


# Entry envelope


def encode_entry(value: object, *, stored_at: float, expires_at: float, slow: bool,
                 offset: float) -> bytes:
    """Encode a cache entry as a payload, turning loop-clock times into Unix times.

    `offset` is the writer's `clock.wall() - clock.now()`. Raises CacheEncodeError for a value
    type that the pollers do not cache or a time that is not finite.
    """
    for type_name, value_type, encoder in _ENTRY_TYPES:
        if type(value) is value_type:
            document = {
                "v": CODEC_VERSION, "slow": slow,
                "stored": stored_at + offset, "expires": expires_at + offset,
                "type": type_name, "value": encoder(value, offset),
            }
            return _dump(document)
    raise CacheEncodeError(f"cannot encode a {type(value).__name__} for the shared cache; only "
                           f"{', '.join(t.__name__ for _, t, _ in _ENTRY_TYPES)} are supported")


def decode_entry(payload: bytes, *, key: str, offset: float) -> CacheEntry:
    """Decode a payload, turning Unix times into times of the reader's loop clock.

    `offset` is the reader's `clock.wall() - clock.now()`. Raises CacheDecodeError, naming
    `key`, for a payload of another version or one that does not fit the layout.
    """
    document = _load_envelope(payload, key)
    try:
        decoder = _DECODERS.get(document["type"])
        if decoder is None:
            raise InvalidField("payload.type", f"unknown value type {document['type'][:40]!r}")
        value = decoder(document["value"], offset)
    except InvalidField as exc:
        raise CacheDecodeError(key, str(exc)) from None
    return CacheEntry(value, document["stored"] - offset, document["expires"] - offset,
                      document["slow"])


def is_slow_payload(payload: bytes, *, key: str) -> bool:
    """Read only the envelope's `slow` flag. Raises CacheDecodeError like `decode_entry`."""
    return bool(_load_envelope(payload, key)["slow"])


def _load_envelope(payload: bytes, key: str) -> dict[str, Any]:
    try:
        document = json.loads(payload, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise CacheDecodeError(key, f"invalid JSON ({exc})") from None

    try:
        document = read_dict(document, "payload")
        version = document.get("v")
        if version != CODEC_VERSION or isinstance(version, bool):
            raise InvalidField("payload.v",
                               f"payload version {version!r} is not supported (this node reads "
                               f"version {CODEC_VERSION}); a node running another snmpd-ng "
                               "version may have written it")
        read_field(document, "slow", "payload", read_bool)
        read_field(document, "stored", "payload", read_float)
        read_field(document, "expires", "payload", read_float)
        read_field(document, "type", "payload", read_str)
        read_field(document, "value", "payload", read_dict)
    except InvalidField as exc:
        raise CacheDecodeError(key, str(exc)) from None
    return document


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a valid JSON number")


def _dump(document: dict[str, Any]) -> bytes:
    try:
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        raise CacheEncodeError(f"cannot encode the entry: {exc}") from None
    return text.encode()


# Config specs

_METRIC_TYPES = frozenset(get_args(MetricType))
_INDEX_TYPES = frozenset(get_args(IndexType))


def _encode_object(spec: ObjectSpec) -> dict[str, Any]:
    return {"oid": oid_text(spec.oid), "name": spec.name, "type": spec.type, "help": spec.help}


def _decode_object(value: object, path: str) -> ObjectSpec:
    document = read_dict(value, path)
    metric_type = read_field(document, "type", path, read_str)
    if metric_type not in _METRIC_TYPES:
        raise InvalidField(f"{path}.type", f"unknown metric type {metric_type[:40]!r}")
    return ObjectSpec(read_field(document, "oid", path, read_oid),
                      read_field(document, "name", path, read_str),
                      metric_type,  # type: ignore[arg-type]
                      read_field(document, "help", path, read_str))


def _encode_index(spec: IndexSpec) -> dict[str, Any]:
    return {"label": spec.label, "type": spec.type, "length": spec.length}


def _decode_index(value: object, path: str) -> IndexSpec:
    document = read_dict(value, path)
    index_type = read_field(document, "type", path, read_str)
    if index_type not in _INDEX_TYPES:
        raise InvalidField(f"{path}.type", f"unknown index type {index_type[:40]!r}")
    length = read_nullable_field(document, "length", path, read_int)
    return IndexSpec(read_field(document, "label", path, read_str), index_type,  # type: ignore[arg-type]
                     length)


def _encode_table_spec(spec: TableSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "columns": [_encode_object(column) for column in spec.columns],
        "indexes": [_encode_index(index) for index in spec.indexes],
        "lookups": [{"label": lookup.label, "oid": oid_text(lookup.oid)}
                    for lookup in spec.lookups],
        "slow_changing": spec.slow_changing,
    }


def _decode_table_spec(value: object, path: str) -> TableSpec:
    document = read_dict(value, path)
    return TableSpec(
        read_field(document, "name", path, read_str),
        _tuple_of(document, "columns", path, _decode_object),
        _tuple_of(document, "indexes", path, _decode_index),
        _tuple_of(document, "lookups", path, _decode_lookup),
        read_field(document, "slow_changing", path, read_bool),
    )


def _decode_lookup(value: object, path: str) -> LookupSpec:
    document = read_dict(value, path)
    return LookupSpec(read_field(document, "label", path, read_str),
                      read_field(document, "oid", path, read_oid))


def _tuple_of(document: Mapping[str, Any], name: str, path: str,
              read: Callable[[object, str], T]) -> tuple[T, ...]:
    items = read_field(document, name, path, read_list)
    return tuple(read(item, f"{path}.{name}[{position}]") for position, item in enumerate(items))


# Parts and results


def _encode_scalars(part: ScalarPart, offset: float) -> dict[str, Any]:
    return {
        "objects": [_encode_object(spec) for spec in part.objects],
        "varbinds": encode_varbinds(part.varbinds),
        "fetched": part.fetched_at + offset,
    }


def _decode_scalars(value: object, path: str, offset: float) -> ScalarPart:
    document = read_dict(value, path)
    return ScalarPart(
        _tuple_of(document, "objects", path, _decode_object),
        decode_varbinds(read_field(document, "varbinds", path, read_list), f"{path}.varbinds"),
        read_field(document, "fetched", path, read_float) - offset,
    )


def encode_table_part(part: TablePart, offset: float) -> dict[str, Any]:
    """Encode a walked table as a JSON object, with Unix times in place of loop-clock times."""
    return {
        "spec": _encode_table_spec(part.spec),
        "columns": [_encode_column(spec, varbinds) for spec, varbinds in part.columns],
        "rows": [[oid_text(suffix), [list(pair) for pair in labels]]
                 for suffix, labels in part.row_labels.items()],
        "fetched": part.fetched_at + offset,
        "complete": part.complete,
    }


def _encode_column(spec: ObjectSpec, varbinds: Sequence[VarBind]) -> dict[str, Any]:
    # Store suffixes after the column's OID when every row is under it, else full OIDs.
    base = spec.oid if all(oid[:len(spec.oid)] == spec.oid for oid, _ in varbinds) else ()
    return {"object": _encode_object(spec), "base": oid_text(base),
            "varbinds": encode_varbinds(varbinds, base)}


def decode_table_part(value: object, path: str, offset: float) -> TablePart:
    """Decode what `encode_table_part` wrote. Raises InvalidField with `path`."""
    document = read_dict(value, path)
    columns = _tuple_of(document, "columns", path, _decode_column)
    rows = read_field(document, "rows", path, read_list)
    return TablePart(
        read_field(document, "spec", path, _decode_table_spec),
        columns,
        dict(_decode_row(row, f"{path}.rows[{position}]") for position, row in enumerate(rows)),
        read_field(document, "fetched", path, read_float) - offset,
        read_field(document, "complete", path, read_bool),
    )


def _decode_column(value: object, path: str) -> tuple[ObjectSpec, list[VarBind]]:
    document = read_dict(value, path)
    base = read_field(document, "base", path, read_oid)
    varbinds = read_field(document, "varbinds", path, read_list)
    return (read_field(document, "object", path, _decode_object),
            decode_varbinds(varbinds, f"{path}.varbinds", base))


def _decode_row(value: object, path: str) -> tuple[Oid, LabelPairs]:
    suffix, labels = read_items(read_list(value, path), 2, path)
    pairs: list[tuple[str, str]] = []
    for position, pair in enumerate(read_list(labels, f"{path}[1]")):
        pair_path = f"{path}[1][{position}]"
        label, text = read_items(read_list(pair, pair_path), 2, pair_path)
        pairs.append((read_str(label, pair_path), read_str(text, pair_path)))
    return read_oid(suffix, f"{path}[0]"), tuple(pairs)


def _encode_health(health: JobHealth) -> dict[str, Any]:
    return {
        "runs": health.runs, "failed_runs": health.failed_runs,
        "missed_slots": health.missed_slots, "errors": health.errors,
        "exception_values": health.exception_values,
        "malformed_values": health.malformed_values, "index_errors": health.index_errors,
        "failures": health.failures, "last_success_wall": health.last_success_wall,
        "last_duration": health.last_duration,
    }


def _decode_health(value: object, path: str) -> JobHealth:
    document = read_dict(value, path)
    return JobHealth(
        runs=read_field(document, "runs", path, read_int),
        failed_runs=read_field(document, "failed_runs", path, read_int),
        missed_slots=read_field(document, "missed_slots", path, read_int),
        errors=read_field(document, "errors", path, read_counts),
        exception_values=read_field(document, "exception_values", path, read_counts),
        malformed_values=read_field(document, "malformed_values", path, read_int),
        index_errors=read_field(document, "index_errors", path, read_int),
        failures=read_field(document, "failures", path, read_counts),
        last_success_wall=read_nullable_field(document, "last_success_wall", path, read_float),
        last_duration=read_field(document, "last_duration", path, read_float),
    )


def encode_poll_result(result: PollResult, offset: float) -> dict[str, Any]:
    """Encode a poll result, except `stats`, as a JSON object with Unix times."""
    return {
        "target": result.target, "job": result.job, "interval": result.interval,
        "stale_after": result.stale_after,
        "scheduled": result.scheduled_at + offset, "started": result.started_at + offset,
        "finished": result.finished_at + offset, "finished_wall": result.finished_wall,
        "reachable": result.reachable, "error_kind": result.error_kind, "error": result.error,
        "scalars": None if result.scalars is None else _encode_scalars(result.scalars, offset),
        "tables": [encode_table_part(table, offset) for table in result.tables],
        "health": _encode_health(result.health),
        "reboots": result.reboots,
    }


def decode_poll_result(value: object, offset: float) -> PollResult:
    """Decode what `encode_poll_result` wrote, with `stats=None`. Raises InvalidField."""
    document = read_dict(value, "value")
    tables = read_field(document, "tables", "value", read_list)
    return PollResult(
        target=read_field(document, "target", "value", read_str),
        job=read_field(document, "job", "value", read_str),
        interval=read_field(document, "interval", "value", read_float),
        stale_after=read_field(document, "stale_after", "value", read_int),
        scheduled_at=read_field(document, "scheduled", "value", read_float) - offset,
        started_at=read_field(document, "started", "value", read_float) - offset,
        finished_at=read_field(document, "finished", "value", read_float) - offset,
        finished_wall=read_field(document, "finished_wall", "value", read_float),
        reachable=read_field(document, "reachable", "value", read_bool),
        error_kind=read_nullable_field(document, "error_kind", "value", read_str),
        error=read_nullable_field(document, "error", "value", read_str),
        scalars=read_nullable_field(document, "scalars", "value",
                                lambda scalars, path: _decode_scalars(scalars, path, offset)),
        tables=tuple(decode_table_part(table, f"value.tables[{position}]", offset)
                     for position, table in enumerate(tables)),
        health=read_field(document, "health", "value", _decode_health),
        stats=None,
        reboots=read_field(document, "reboots", "value", read_int),
    )


def _encode_lookup_column(column: LookupColumn, offset: float) -> dict[str, Any]:
    return {"values": [[oid_text(suffix), text] for suffix, text in column.values.items()],
            "covered": sorted(oid_text(suffix) for suffix in column.covered)}


def _decode_lookup_column(value: object, offset: float) -> LookupColumn:
    document = read_dict(value, "value")
    values: dict[Oid, str] = {}
    for position, item in enumerate(read_field(document, "values", "value", read_list)):
        path = f"value.values[{position}]"
        suffix, text = read_items(read_list(item, path), 2, path)
        values[read_oid(suffix, f"{path}[0]")] = read_str(text, f"{path}[1]")
    covered = _tuple_of(document, "covered", "value", read_oid)
    return LookupColumn(values, frozenset(covered))


_ENTRY_TYPES: tuple[tuple[str, type, Callable[[Any, float], dict[str, Any]]], ...] = (
    ("poll_result", PollResult, encode_poll_result),
    ("table_part", TablePart, encode_table_part),
    ("lookup_column", LookupColumn, _encode_lookup_column),
)

_DECODERS: dict[str, Callable[[dict[str, Any], float], object]] = {
    "poll_result": decode_poll_result,
    "table_part": lambda value, offset: decode_table_part(value, "value", offset),
    "lookup_column": _decode_lookup_column,
}
