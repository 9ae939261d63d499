"""OID parsing, formatting, ordering and the BER sub-identifier rules (X.690 section 8.19)."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from snmpd_ng.protocol.ber import (
    decode_oid_content,
    decode_oid_fast,
    encode_oid_content,
    encode_oid_tlv,
)
from snmpd_ng.protocol.errors import EncodeError
from snmpd_ng.protocol.oid import (
    MAX_SUBIDENTIFIER,
    format_oid,
    is_prefix,
    parse_oid,
    validate_for_encoding,
)

ARC = st.integers(min_value=0, max_value=MAX_SUBIDENTIFIER)


@st.composite
def valid_oids(draw: st.DrawFn) -> tuple[int, ...]:
    """OIDs that SNMP can carry: first arc 0..2, second below 40 unless the first is 2."""
    first = draw(st.integers(0, 2))
    second = draw(ARC if first == 2 else st.integers(0, 39))
    rest = draw(st.lists(st.one_of(st.integers(0, 200), ARC), max_size=20))
    return (first, second, *rest)


def test_parse_oid_accepts_leading_dot() -> None:
    assert parse_oid(".1.3.6.1.2.1.1.5.0") == (1, 3, 6, 1, 2, 1, 1, 5, 0)


def test_parse_oid_strips_whitespace() -> None:
    assert parse_oid(" 1.3.6 ") == (1, 3, 6)


@pytest.mark.parametrize("text", ["", ".", "1..3", "1.3.a", "1.-3", "1.3.", "\u0661.\u0663"])
def test_parse_oid_rejects_invalid_text(text: str) -> None:
    with pytest.raises(ValueError, match="invalid OID"):
        parse_oid(text)


def test_format_oid_has_no_leading_dot() -> None:
    assert format_oid((1, 3, 6, 1)) == "1.3.6.1"


@given(valid_oids())
@settings(max_examples=200, deadline=None)
def test_format_then_parse_round_trips(oid: tuple[int, ...]) -> None:
    assert parse_oid(format_oid(oid)) == oid


def test_is_prefix_of_itself() -> None:
    assert is_prefix((1, 3, 6), (1, 3, 6))


def test_is_prefix_of_descendant() -> None:
    assert is_prefix((1, 3, 6), (1, 3, 6, 1, 2))


def test_is_prefix_rejects_sibling_with_same_digits() -> None:
    # 1.3.6.10 is not under 1.3.6.1 although its text starts the same.
    assert not is_prefix((1, 3, 6, 1), (1, 3, 6, 10))


def test_is_prefix_rejects_shorter_oid() -> None:
    assert not is_prefix((1, 3, 6, 1), (1, 3, 6))


def test_tuple_order_is_lexicographic_oid_order() -> None:
    oids = [(1, 3, 6, 1, 10), (1, 3, 6, 1), (1, 3, 6, 1, 2, 1), (1, 3, 6, 2)]

    assert sorted(oids) == [(1, 3, 6, 1), (1, 3, 6, 1, 2, 1), (1, 3, 6, 1, 10), (1, 3, 6, 2)]


@pytest.mark.parametrize("oid", [
    (0, 40), (1, 40), (1, 99), (3, 0), (1,), (), (1, 3, MAX_SUBIDENTIFIER + 1), (1, 3, -1),
    (1, 3) + (1,) * 127, (1.0, 3), (1, 3, "6"), "1.3.6"])
def test_validate_for_encoding_rejects(oid: tuple[int, ...]) -> None:
    with pytest.raises(EncodeError):
        validate_for_encoding(oid)


def test_encode_oid_tlv_rejects_float_arc() -> None:
    with pytest.raises(EncodeError, match="not an integer"):
        encode_oid_tlv((1, 3, 6, 99, 7.5))  # type: ignore[arg-type]


@pytest.mark.parametrize("oid", [
    (0, 39), (1, 39), (2, 40), (2, 999, 1), (2, MAX_SUBIDENTIFIER), (1, 3, MAX_SUBIDENTIFIER),
    (1, 3) + (1,) * 126])
def test_validate_for_encoding_accepts(oid: tuple[int, ...]) -> None:
    validate_for_encoding(oid)


@pytest.mark.parametrize(("oid", "content"), [
    ((1, 3, 6, 1), "2b 06 01"),
    ((1, 3, 6, 1, 4, 1, 32584), "2b 06 01 04 01 81 fe 48"),
    ((1, 3, 127, 128), "2b 7f 81 00"),
    ((1, 3, MAX_SUBIDENTIFIER), "2b 8f ff ff ff 7f"),
    ((2, 999, 1), "88 37 01"),
    ((0, 0), "00"),
])
def test_encode_oid_content_golden(oid: tuple[int, ...], content: str) -> None:
    assert encode_oid_content(oid) == bytes.fromhex(content)


@given(valid_oids())
@settings(max_examples=300, deadline=None)
def test_oid_content_round_trips(oid: tuple[int, ...]) -> None:
    content = encode_oid_content(oid)

    assert decode_oid_content(content, 0, len(content)) == (oid, None)


def test_encode_oid_tlv_cache_returns_same_bytes() -> None:
    oid = (1, 3, 6, 1, 2, 1, 1, 5, 0)

    first = encode_oid_tlv(oid)

    assert encode_oid_tlv(oid) == first == b"\x06\x08" + encode_oid_content(oid)


def test_encode_oid_tlv_validates_uncached_oid() -> None:
    encode_oid_tlv((1, 3, 6))

    with pytest.raises(EncodeError):
        encode_oid_tlv((1, 3, -6))


def test_encode_oid_tlv_accepts_object_identifier_subclass() -> None:
    from snmpd_ng.protocol.values import ObjectIdentifier

    assert encode_oid_tlv(ObjectIdentifier((1, 3, 6))) == b"\x06\x02\x2b\x06"


@pytest.mark.parametrize(("content", "expected", "problem"), [
    ("", (0, 0), "empty"),
    ("2b 80 01", (1, 3, 1), "0x80"),
    ("2b 90 80 80 80 00", (1, 3, 2**32), "2^32-1"),
    ("2b 06 81", (1, 3, 6), "truncated"),
    ("81", (0, 0), "truncated"),
    ("2b" + " 01" * 127, (1, 3) + (1,) * 127, "128"),
])
def test_decode_oid_content_flags_problems(
    content: str, expected: tuple[int, ...], problem: str
) -> None:
    octets = bytes.fromhex(content)

    oid, found = decode_oid_content(octets, 0, len(octets))

    assert oid == expected
    assert found is not None
    assert problem in found


def test_decode_oid_content_caps_huge_subidentifier() -> None:
    content = b"\x2b" + b"\xff" * 40 + b"\x7f"

    oid, problem = decode_oid_content(content, 0, len(content))

    assert oid == (1, 3, 2**64)
    assert problem is not None


def test_decode_oid_content_reads_within_bounds() -> None:
    data = b"\xff\x2b\x06\x01\xff"

    assert decode_oid_content(data, 1, 4) == ((1, 3, 6, 1), None)


@given(st.binary(max_size=20))
@settings(max_examples=1000, deadline=None)
@example(bytes.fromhex("2b 06 01 02 01 02 02 01 0a ce 75"))
@example(bytes.fromhex("2b 06 81 80 00"))
@example(bytes.fromhex("2b 80 01"))
@example(bytes.fromhex("2b 90 80 80 80 00"))
@example(bytes.fromhex("2b 8f ff ff ff 7f"))
def test_decode_oid_fast_agrees_with_reference(content: bytes) -> None:
    fast = decode_oid_fast(content)

    if fast is not None:
        assert (fast, None) == decode_oid_content(content, 0, len(content))


@given(valid_oids())
@settings(max_examples=300, deadline=None)
def test_decode_oid_fast_takes_valid_oids(oid: tuple[int, ...]) -> None:
    content = encode_oid_content(oid)

    if content[0] < 0x80:
        assert decode_oid_fast(content) == oid
