"""The cache codec (snmpd_ng.cache.codec): round trips of every cached value and SNMP type, time
translation between nodes, and rejection of every payload that does not fit the layout."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from cache_values import (
    LOOKUP_COLUMNS,
    POLL_RESULTS,
    START,
    TABLE_PARTS,
    WALL_OFFSET,
    every_value,
    sample_lookup,
    sample_result,
    sample_table,
)
from codec_strategies import oids
from fakes import FakeClock
from hypothesis import given, settings
from hypothesis import strategies as st

from snmpd_ng.cache.base import CacheStats
from snmpd_ng.cache.codec import (
    CODEC_VERSION,
    CacheDecodeError,
    decode_entry,
    encode_entry,
    is_slow_payload,
)
from snmpd_ng.cache.codec_values import (
    CacheEncodeError,
    InvalidField,
    decode_value,
    encode_value,
    type_name,
)
from snmpd_ng.metrics.collector import PollingMetrics
from snmpd_ng.metrics.health import PipelineStats
from snmpd_ng.polling.result import PollResult
from snmpd_ng.protocol.values import (
    END_OF_MIB_VIEW,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    NULL,
    ExceptionValue,
    MalformedValue,
    ObjectIdentifier,
    Opaque,
    SnmpValue,
    VarBind,
)
from snmpd_ng.transport.stats import TargetStats

KEY = "{test}:cache:r1:job:if"


def signature(value: object) -> object:
    """What must survive a round trip: the exact type, the data, an Opaque's inner number."""
    if value is None or type(value) is int:
        return value
    if isinstance(value, MalformedValue):
        return ("MalformedValue", value.tag, value.raw, value.reason, signature(value.value))
    if isinstance(value, Opaque):
        inner = value.inner.hex() if isinstance(value.inner, float) else value.inner
        return ("Opaque", bytes(value), inner, value.inner_tag)
    if isinstance(value, ExceptionValue):
        return ("exception", value.name)
    return (type(value).__name__, value)


def varbinds_of(result: PollResult) -> Iterator[VarBind]:
    if result.scalars is not None:
        yield from result.scalars.varbinds
    for table in result.tables:
        for _, varbinds in table.columns:
            yield from varbinds


def round_trip(value: object, *, offset: float = 0.0, slow: bool = False) -> Any:
    payload = encode_entry(value, stored_at=START, expires_at=START + 20.0, slow=slow,
                           offset=offset)
    return decode_entry(payload, key=KEY, offset=offset).value


# SNMP values


@given(every_value())
def test_value_round_trip_keeps_type_and_data(value: SnmpValue) -> None:
    decoded = decode_value(json.loads(json.dumps(encode_value(value))), "value")
    assert signature(decoded) == signature(value)


@pytest.mark.parametrize("exception", [NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW, NULL])
def test_value_singletons_decode_to_same_object(exception: SnmpValue) -> None:
    assert decode_value(encode_value(exception), "value") is exception


@pytest.mark.parametrize("inner", [math.nan, math.inf, -0.0, 1.5, 2**70])
def test_value_opaque_inner_number_survives(inner: float | int) -> None:
    value = Opaque(b"\x9f\x78\x04\x00\x00\x00\x00", inner, 0x78)
    decoded = decode_value(json.loads(json.dumps(encode_value(value))), "value")
    assert isinstance(decoded, Opaque)
    assert signature(decoded) == signature(value)


def test_value_type_names_match_codec_tags() -> None:
    for value in (ObjectIdentifier((1, 3)), NO_SUCH_OBJECT, NULL, Opaque(b"")):
        assert encode_value(value)[0] == type_name(value)


def test_value_unknown_type_raises_encode_error() -> None:
    with pytest.raises(CacheEncodeError, match="float"):
        encode_value(1.5)  # type: ignore[arg-type]


# Cached values


@given(POLL_RESULTS)
@settings(max_examples=60)
def test_poll_result_round_trip(result: PollResult) -> None:
    decoded = round_trip(result)
    assert decoded == result
    assert [signature(v.value) for v in varbinds_of(decoded)] == [
        signature(v.value) for v in varbinds_of(result)]


@given(TABLE_PARTS)
@settings(max_examples=60)
def test_table_part_round_trip(part: Any) -> None:
    assert round_trip(part, slow=True) == part


@given(LOOKUP_COLUMNS)
def test_lookup_column_round_trip(column: Any) -> None:
    assert round_trip(column, slow=True) == column


def test_poll_result_stats_decode_to_none() -> None:
    result = dataclasses.replace(sample_result(), stats=TargetStats(requests=5))
    decoded = round_trip(result)
    assert decoded.stats is None
    assert decoded == dataclasses.replace(result, stats=None)


def test_poll_result_table_stores_suffixes_not_full_oids() -> None:
    payload = encode_entry(sample_table(), stored_at=START, expires_at=START + 1, slow=True,
                           offset=0.0)
    column = json.loads(payload)["value"]["columns"][0]
    assert column["base"] == "1.3.6.1.2.1.2.2.1.2"
    assert [row[0] for row in column["varbinds"]] == ["1", "2"]


@given(oids(), st.lists(oids(), min_size=1, max_size=3))
def test_table_column_with_stray_rows_keeps_full_oids(column_oid: Any, strays: Any) -> None:
    part = sample_table()
    spec = dataclasses.replace(part.spec.columns[0], oid=column_oid)
    varbinds = [VarBind(oid, NULL) for oid in strays]
    odd = dataclasses.replace(part, columns=((spec, varbinds),))
    assert round_trip(odd) == odd


def test_encode_entry_rejects_other_types() -> None:
    with pytest.raises(CacheEncodeError, match="dict"):
        encode_entry({"a": 1}, stored_at=0.0, expires_at=1.0, slow=False, offset=0.0)


def test_encode_entry_rejects_nan_time() -> None:
    with pytest.raises(CacheEncodeError, match="Out of range float"):
        encode_entry(sample_lookup(), stored_at=math.nan, expires_at=1.0, slow=False,
                     offset=0.0)


# Times between nodes


def test_times_move_to_reader_clock() -> None:
    writer_offset, reader_offset = 1.7e9, 1.7e9 + 500.0
    result = sample_result()
    payload = encode_entry(result, stored_at=START, expires_at=START + 20.0, slow=False,
                           offset=writer_offset)
    entry = decode_entry(payload, key=KEY, offset=reader_offset)
    decoded: Any = entry.value

    shift = writer_offset - reader_offset
    assert entry.stored_at == pytest.approx(START + shift, abs=1e-6)
    assert entry.expires_at == pytest.approx(START + 20.0 + shift, abs=1e-6)
    assert decoded.scheduled_at == pytest.approx(result.scheduled_at + shift, abs=1e-6)
    assert decoded.started_at == pytest.approx(result.started_at + shift, abs=1e-6)
    assert decoded.finished_at == pytest.approx(result.finished_at + shift, abs=1e-6)
    assert result.scalars is not None
    assert decoded.scalars.fetched_at == pytest.approx(result.scalars.fetched_at + shift,
                                                       abs=1e-6)
    assert decoded.tables[0].fetched_at == pytest.approx(result.tables[0].fetched_at + shift,
                                                         abs=1e-6)


def test_times_unix_fields_stay_unchanged() -> None:
    result = sample_result()
    decoded = round_trip(result, offset=1.7e9)
    assert decoded.finished_wall == result.finished_wall
    assert decoded.health.last_success_wall == result.health.last_success_wall


def test_payload_stores_unix_times() -> None:
    payload = json.loads(encode_entry(sample_lookup(), stored_at=10.0, expires_at=30.0,
                                      slow=True, offset=1.7e9))
    assert payload["stored"] == 1.7e9 + 10.0
    assert payload["expires"] == 1.7e9 + 30.0


def test_is_slow_payload_reads_flag() -> None:
    for slow in (True, False):
        payload = encode_entry(sample_lookup(), stored_at=0.0, expires_at=1.0, slow=slow,
                               offset=0.0)
        assert is_slow_payload(payload, key=KEY) is slow


# Rendering


def pipeline() -> PipelineStats:
    return PipelineStats([], CacheStats(0, 0, 0, 0, 0), 0, 1, 0, 0, 0, 0)


async def render(result: PollResult) -> list[str]:
    metrics = PollingMetrics(FakeClock(START), pipeline)
    metrics.set_target_labels(result.target, {"site": "lab"})
    await metrics.handle(result)
    return metrics.render_text().decode().splitlines()


async def test_decoded_result_renders_same_metrics() -> None:
    original = dataclasses.replace(sample_result(), stats=TargetStats(requests=7, responses=7))
    decoded = round_trip(original, offset=WALL_OFFSET)

    expected = await render(dataclasses.replace(original, stats=None))
    assert await render(decoded) == expected
    assert any(line.startswith("ifHCInOctets{") for line in expected)
    assert any(line.startswith("sysDescr{") for line in expected)


async def test_decoded_result_lacks_only_manager_counters() -> None:
    original = dataclasses.replace(sample_result(), stats=TargetStats(requests=7, responses=7))
    decoded = round_trip(original, offset=WALL_OFFSET)

    missing = set(await render(original)) - set(await render(decoded))
    assert missing
    assert all("snmp_target_" in line for line in missing)


# Rejected payloads


def valid_document() -> dict[str, Any]:
    payload = encode_entry(sample_result(), stored_at=START, expires_at=START + 20.0,
                           slow=False, offset=WALL_OFFSET)
    document: dict[str, Any] = json.loads(payload)
    return document


def test_decode_rejects_other_version_with_key() -> None:
    document = valid_document()
    document["v"] = CODEC_VERSION + 1
    with pytest.raises(CacheDecodeError) as caught:
        decode_entry(json.dumps(document).encode(), key=KEY, offset=0.0)
    assert caught.value.key == KEY
    assert KEY in str(caught.value)
    assert f"payload version {CODEC_VERSION + 1} is not supported" in str(caught.value)


def edit(path: list[str | int], replacement: Any) -> bytes:
    document = valid_document()
    node: Any = document
    for step in path[:-1]:
        node = node[step]
    if replacement is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = replacement
    return json.dumps(document).encode()


DELETE = object()
SCALARS: list[str | int] = ["value", "scalars"]
FIRST_COLUMN: list[str | int] = ["value", "tables", 0, "columns", 0]

MALFORMED = [
    pytest.param(b"", "invalid JSON", id="empty"),
    pytest.param(b"\xff\xfe", "invalid JSON", id="not-utf8"),
    pytest.param(b"[1, 2]", "payload: expected an object", id="array"),
    pytest.param(b'{"v": true}', "payload version True", id="version-true"),
    pytest.param(edit(["v"], DELETE), "payload version None", id="version-missing"),
    pytest.param(edit(["slow"], "yes"), "payload.slow: expected true or false", id="slow"),
    pytest.param(edit(["stored"], DELETE), "payload.stored: missing", id="stored-missing"),
    pytest.param(edit(["type"], "pickle"), "unknown value type 'pickle'", id="type"),
    pytest.param(edit(["value", "reachable"], 1), "value.reachable: expected true or false",
                 id="reachable-int"),
    pytest.param(edit(["value", "interval"], True), "value.interval: expected a number",
                 id="interval-bool"),
    pytest.param(edit(["value", "error"], DELETE), "value.error: missing", id="error-missing"),
    pytest.param(edit([*SCALARS, "varbinds", 0, 0], "1.3.x"), "invalid OID '1.3.x'",
                 id="oid-text"),
    pytest.param(edit([*SCALARS, "varbinds", 0, 0], "1." + "9" * 50), "at most 40 digits",
                 id="oid-huge-arc"),
    pytest.param(edit([*SCALARS, "varbinds", 0, 1], ["Counter33", 1]),
                 "unknown SNMP value type 'Counter33'", id="value-type"),
    pytest.param(edit([*SCALARS, "varbinds", 0, 1], ["Counter32"]),
                 "expected 1 argument(s) after the type name", id="value-arguments"),
    pytest.param(edit([*SCALARS, "varbinds", 0, 1], ["OctetString", {"hex": "zz"}]),
                 "invalid hex digits", id="octets-hex"),
    pytest.param(edit([*SCALARS, "varbinds", 0, 1], []), "empty value", id="value-empty"),
    pytest.param(edit([*SCALARS, "varbinds", 0, 1], ["noSuchObject", 1]),
                 "unknown SNMP value type", id="exception-argument"),
    pytest.param(edit([*SCALARS, "varbinds", 0, 1], ["Opaque", "", ["double", "0x1p0"], 1]),
                 "expected 'int' or 'float'", id="opaque-kind"),
    pytest.param(edit([*SCALARS, "varbinds", 0, 1], ["Opaque", "", ["float", "0x1.8pq"], 1]),
                 "invalid hexadecimal float", id="opaque-float"),
    pytest.param(edit([*SCALARS, "varbinds", 0, 1],
                      ["MalformedValue", 65, "", "r", ["MalformedValue", 65, "", "r", None]]),
                 "cannot be malformed itself", id="malformed-nested"),
    pytest.param(edit([*SCALARS, "objects", 0, "type"], "histogram"),
                 "unknown metric type 'histogram'", id="metric-type"),
    pytest.param(edit(["value", "tables", 0, "spec", "indexes", 0, "type"], "uuid"),
                 "unknown index type 'uuid'", id="index-type"),
    pytest.param(edit([*FIRST_COLUMN, "varbinds"], {"1": 2}),
                 "value.tables[0].columns[0].varbinds: expected an array", id="column-rows"),
    pytest.param(edit(["value", "tables", 0, "rows", 0], ["1"]),
                 "value.tables[0].rows[0]: expected 2 items, got 1", id="row-items"),
    pytest.param(edit(["value", "health", "errors", "timeout"], "1"),
                 "value.health.errors.timeout: expected an integer", id="health-count"),
    pytest.param(b'{"v": 1, "slow": false, "stored": NaN, "expires": 1, "type": "x",'
                 b' "value": {}}', "NaN is not a valid JSON number", id="nan"),
]


@pytest.mark.parametrize(("payload", "message"), MALFORMED)
def test_decode_rejects_malformed_payload(payload: bytes, message: str) -> None:
    with pytest.raises(CacheDecodeError) as caught:
        decode_entry(payload, key=KEY, offset=0.0)
    assert message in str(caught.value)


def test_decode_rejects_every_truncated_prefix() -> None:
    payload = encode_entry(sample_result(), stored_at=START, expires_at=START + 1, slow=False,
                           offset=0.0)
    for end in range(len(payload)):
        with pytest.raises(CacheDecodeError):
            decode_entry(payload[:end], key=KEY, offset=0.0)


def test_decode_rejects_deep_nesting() -> None:
    payload = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(CacheDecodeError, match="invalid JSON"):
        decode_entry(payload, key=KEY, offset=0.0)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a member or item of a decoded JSON document."""
    children = node.items() if isinstance(node, dict) else enumerate(node) \
        if isinstance(node, list) else ()
    for step, child in children:
        yield (*prefix, step)
        yield from paths(child, (*prefix, step))


VALID_PATHS = list(paths(valid_document()))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6)


@given(st.sampled_from(VALID_PATHS), JSON_VALUES | st.just(DELETE))
@settings(max_examples=300)
def test_decode_of_edited_payload_raises_only_decode_error(path: tuple[Any, ...],
                                                           replacement: Any) -> None:
    payload = edit(list(path), replacement)
    try:
        decode_entry(payload, key=KEY, offset=0.0)
    except CacheDecodeError as exc:
        assert exc.key == KEY


@given(st.binary(max_size=200))
def test_decode_of_random_bytes_raises_only_decode_error(payload: bytes) -> None:
    with pytest.raises(CacheDecodeError):
        decode_entry(payload, key=KEY, offset=0.0)


def test_invalid_field_message_names_path() -> None:
    assert str(InvalidField("value.job", "missing")) == "value.job: missing"
