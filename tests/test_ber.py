"""BER framing and value encoding/decoding (X.690, RFC 3417 section 8), both decoder paths."""

from __future__ import annotations

import struct

import pytest
from codec_packets import same_value
from hypothesis import example, given, settings
from hypothesis import strategies as st

from snmpd_ng.protocol.ber import (
    FAST_VALUE_DECODERS,
    MAX_FRAMING_INTEGER_OCTETS,
    OPAQUE_DOUBLE,
    OPAQUE_FLOAT,
    decode_opaque_payload,
    decode_value,
    encode_integer_content,
    encode_integer_tlv,
    encode_length,
    encode_opaque_double,
    encode_opaque_float,
    encode_tlv,
    encode_value,
    read_header,
    read_header_reference,
    read_integer,
    read_octet_string,
)
from snmpd_ng.protocol.errors import DecodeError, EncodeError
from snmpd_ng.protocol.values import (
    END_OF_MIB_VIEW,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    NULL,
    Counter32,
    Counter64,
    Gauge32,
    Integer32,
    IpAddress,
    MalformedValue,
    ObjectIdentifier,
    OctetString,
    Opaque,
    TimeTicks,
)

VALUE_TAGS = [0x02, 0x04, 0x05, 0x06, 0x40, 0x41, 0x42, 0x43, 0x44, 0x46, 0x80, 0x81, 0x82]


def decode_tlv(tlv: bytes) -> object:
    """Decode one value TLV with the reference decoder."""
    tag, start, stop = read_header(tlv, 0, len(tlv), "value")
    return decode_value(tag, tlv, 0, start, stop)


# --- Encoding


@pytest.mark.parametrize(("length", "encoded"), [
    (0, "00"), (127, "7f"), (128, "81 80"), (255, "81 ff"), (256, "82 01 00"),
    (65535, "82 ff ff"), (65536, "83 01 00 00")])
def test_encode_length_minimal(length: int, encoded: str) -> None:
    assert encode_length(length) == bytes.fromhex(encoded)


@pytest.mark.parametrize(("number", "content"), [
    (0, "00"), (1, "01"), (127, "7f"), (128, "00 80"), (255, "00 ff"), (256, "01 00"),
    (-1, "ff"), (-128, "80"), (-129, "ff 7f"), (2**31 - 1, "7f ff ff ff"),
    (-(2**31), "80 00 00 00"),
    (2**63, "00 80 00 00 00 00 00 00 00")])
def test_encode_integer_content_minimal_twos_complement(number: int, content: str) -> None:
    assert encode_integer_content(number) == bytes.fromhex(content)


@given(st.integers(min_value=-(2**70), max_value=2**70))
@settings(max_examples=300, deadline=None)
def test_encode_integer_content_round_trips(number: int) -> None:
    content = encode_integer_content(number)

    assert int.from_bytes(content, "big", signed=True) == number
    # Minimal (X.690 section 8.3.2): the first nine bits are never all equal.
    if len(content) > 1:
        top_nine = (content[0] << 1) | (content[1] >> 7)
        assert top_nine not in (0, 0x1FF)


@given(st.one_of(st.integers(-(2**40), 2**40), st.integers(-(2**1100), 2**1100)))
@settings(max_examples=300, deadline=None)
@example(0)
@example(127)
@example(128)
@example(-1)
@example(2**1015)
def test_encode_integer_tlv_matches_generic(number: int) -> None:
    assert encode_integer_tlv(number) == encode_tlv(0x02, encode_integer_content(number))


def test_encode_tlv_long_content_uses_long_length() -> None:
    assert encode_tlv(0x04, b"a" * 200)[:3] == b"\x04\x81\xc8"


@pytest.mark.parametrize(("value", "encoded"), [
    (Integer32(-5), "02 01 fb"),
    (5, "02 01 05"),
    (Counter32(3013173741), "41 05 00 b3 99 61 ed"),
    (Gauge32(4294967295), "42 05 00 ff ff ff ff"),
    (TimeTicks(0), "43 01 00"),
    (Counter64(2**64 - 1), "46 09 00 ff ff ff ff ff ff ff ff"),
    (OctetString(b"host"), "04 04 68 6f 73 74"),
    (b"host", "04 04 68 6f 73 74"),
    ("hé", "04 03 68 c3 a9"),
    (IpAddress(b"\x7f\x00\x00\x01"), "40 04 7f 00 00 01"),
    (Opaque(b"\x01\x02"), "44 02 01 02"),
    (ObjectIdentifier((1, 3, 6, 1)), "06 03 2b 06 01"),
    (NULL, "05 00"),
    (NO_SUCH_OBJECT, "80 00"),
    (NO_SUCH_INSTANCE, "81 00"),
    (END_OF_MIB_VIEW, "82 00"),
    (MalformedValue(0x41, b"\x41\x01\xff", "negative"), "41 01 ff"),
])
def test_encode_value_golden(value: object, encoded: str) -> None:
    assert encode_value(value) == bytes.fromhex(encoded)


@pytest.mark.parametrize("value", [
    Integer32(2**31), Integer32(-(2**31) - 1), 2**31, Counter32(-1), Counter32(2**32),
    Gauge32(2**32), TimeTicks(-1), Counter64(2**64), Counter64(-1), IpAddress(b"\x01\x02\x03"),
    ObjectIdentifier((1, 40)), True, 1.5, None, [1], (1, 3, 6)])
def test_encode_value_rejects(value: object) -> None:
    with pytest.raises(EncodeError):
        encode_value(value)


def test_opaque_float_encoding_matches_net_snmp_layout() -> None:
    value = encode_opaque_float(13.7)

    assert value == bytes.fromhex("9f 78 04 41 5b 33 33")
    assert value.inner == struct.unpack(">f", struct.pack(">f", 13.7))[0]
    assert value.inner_tag == OPAQUE_FLOAT


def test_opaque_double_encoding_matches_net_snmp_layout() -> None:
    value = encode_opaque_double(13.7)

    assert value == bytes.fromhex("9f 79 08 40 2b 66 66 66 66 66 66")
    assert value.inner == 13.7
    assert value.inner_tag == OPAQUE_DOUBLE


@given(st.floats(allow_nan=False, width=32))
@settings(max_examples=100, deadline=None)
def test_opaque_float_round_trips(number: float) -> None:
    value = encode_opaque_float(number)

    assert decode_opaque_payload(bytes(value)) == (OPAQUE_FLOAT, value.inner)


@pytest.mark.parametrize(("payload", "expected"), [
    ("9f 7a 01 ff", (0x7A, -1)),
    ("9f 7b 02 01 00", (0x7B, 256)),
    ("9f 76 09 00 ff ff ff ff ff ff ff ff", (0x76, 2**64 - 1)),
    ("9f 78 05 41 5b 33 33 00", (None, None)),
    ("9f 78 03 41 5b 33", (None, None)),
    ("9f 79 04 41 5b 33 33", (None, None)),
    ("9f 77 01 00", (None, None)),
    ("04 01 00", (None, None)),
    ("9f 78", (None, None)),
    ("", (None, None)),
])
def test_decode_opaque_payload(payload: str, expected: tuple[object, object]) -> None:
    assert decode_opaque_payload(bytes.fromhex(payload)) == expected


# --- Framing


@pytest.mark.parametrize(("data", "expected"), [
    ("04 03 61 62 63", (0x04, 2, 5)),
    ("04 81 03 61 62 63", (0x04, 3, 6)),
    ("04 82 00 03 61 62 63", (0x04, 4, 7)),
    ("04 84 00 00 00 03 61 62 63", (0x04, 6, 9)),
    ("9f 78 01 00", (0x9F78, 3, 4)),
    ("bf 81 01 00", (0xBF8101, 4, 4)),
    ("30 00", (0x30, 2, 2)),
])
def test_read_header_forms(data: str, expected: tuple[int, int, int]) -> None:
    octets = bytes.fromhex(data)

    assert read_header(octets, 0, len(octets), "value") == expected


@pytest.mark.parametrize(("data", "offset", "words"), [
    ("", 0, "at least 2"),
    ("04", 0, "at least 2"),
    ("04 80 00 00", 1, "indefinite"),
    ("04 ff 00", 1, "reserved"),
    ("04 82 00", 2, "needs 2"),
    ("04 05 00", 2, "runs past"),
    ("04 82 01 00 00", 4, "runs past"),
    ("9f 88 88", 3, "truncated"),
    ("9f 88 88 88 88 88 01 00", 5, "longer than 5"),
    ("9f 78", 2, "missing"),
])
def test_read_header_rejects(data: str, offset: int, words: str) -> None:
    octets = bytes.fromhex(data)

    with pytest.raises(DecodeError) as caught:
        read_header(octets, 0, len(octets), "value")

    assert caught.value.offset == offset
    assert caught.value.field == "value"
    assert words in caught.value.reason


def test_read_header_respects_container_end() -> None:
    data = bytes.fromhex("04 03 61 62 63")

    with pytest.raises(DecodeError):
        read_header(data, 0, 4, "value")


@given(st.binary(max_size=12), st.integers(0, 12))
@settings(max_examples=500, deadline=None)
@example(b"\x04\x03abc", 5)
def test_read_header_fast_path_matches_reference(data: bytes, end: int) -> None:
    end = min(end, len(data))
    try:
        expected: object = read_header_reference(data, 0, end, "value")
    except DecodeError as exc:
        expected = (exc.field, exc.offset, exc.reason)
    try:
        found: object = read_header(data, 0, end, "value")
    except DecodeError as exc:
        found = (exc.field, exc.offset, exc.reason)

    assert found == expected


@pytest.mark.parametrize(("data", "number"), [
    ("02 01 00", 0), ("02 01 ff", -1), ("02 04 7f ff ff ff", 2**31 - 1),
    ("02 05 00 ff ff ff ff", 2**32 - 1), ("02 81 01 05", 5),
    ("02 09 00 00 00 00 00 00 00 00 05", 5)])
def test_read_integer_values(data: str, number: int) -> None:
    octets = bytes.fromhex(data)

    assert read_integer(octets, 0, len(octets), "pdu.request-id") == (number, len(octets))


@pytest.mark.parametrize(("data", "words"), [
    ("02 00", "no content"),
    ("04 01 00", "expected INTEGER"),
    ("02 0a" + " 00" * 10, "too long"),
])
def test_read_integer_rejects(data: str, words: str) -> None:
    octets = bytes.fromhex(data)

    with pytest.raises(DecodeError, match=words) as caught:
        read_integer(octets, 0, len(octets), "pdu.request-id")

    assert caught.value.field == "pdu.request-id"


def test_read_integer_limit_allows_64_bit_padding() -> None:
    assert MAX_FRAMING_INTEGER_OCTETS == 9


def test_read_octet_string_returns_content_and_end() -> None:
    assert read_octet_string(b"\x04\x02hi\x05\x00", 0, 6, "message.community") == (b"hi", 4)


def test_read_octet_string_rejects_other_tag() -> None:
    with pytest.raises(DecodeError, match="expected OCTET STRING"):
        read_octet_string(b"\x02\x01\x00", 0, 3, "message.community")


# --- Values, reference path


@pytest.mark.parametrize(("tlv", "expected"), [
    ("02 01 05", Integer32(5)),
    ("02 01 80", Integer32(-128)),
    ("02 04 80 00 00 00", Integer32(-(2**31))),
    ("02 02 00 05", Integer32(5)),
    ("41 01 00", Counter32(0)),
    ("41 05 00 ff ff ff ff", Counter32(2**32 - 1)),
    ("42 03 00 80 e8", Gauge32(33000)),
    ("43 04 7f ff ff ff", TimeTicks(2**31 - 1)),
    ("46 09 00 80 00 00 00 00 00 00 00", Counter64(2**63)),
    ("04 00", OctetString(b"")),
    ("04 02 00 ff", OctetString(b"\x00\xff")),
    ("40 04 c0 00 02 01", IpAddress(b"\xc0\x00\x02\x01")),
    ("05 00", NULL),
    ("06 03 2b 06 01", ObjectIdentifier((1, 3, 6, 1))),
    ("44 02 01 02", Opaque(b"\x01\x02")),
    ("80 00", NO_SUCH_OBJECT),
    ("81 00", NO_SUCH_INSTANCE),
    ("82 00", END_OF_MIB_VIEW),
])
def test_decode_value_valid(tlv: str, expected: object) -> None:
    assert same_value(decode_tlv(bytes.fromhex(tlv)), expected)


@pytest.mark.parametrize(("tlv", "lenient", "words"), [
    ("02 00", None, "no content"),
    ("02 05 00 80 00 00 00", 2**31, "outside"),
    ("02 05 00 00 00 00 05", Integer32(5), "5 octets"),
    ("02 09" + " 00" * 9, None, "9 octets"),
    ("41 00", None, "no content"),
    ("41 01 ff", Counter32(255), "negative"),
    ("41 05 01 00 00 00 00", 2**32, "above"),
    ("41 06 00 00 00 00 00 05", Counter32(5), "6 octets"),
    ("41 0b" + " 00" * 11, None, "11 octets"),
    ("46 0a 00 00 ff ff ff ff ff ff ff ff", Counter64(2**64 - 1), "10 octets"),
    ("05 01 00", NULL, "NULL with content"),
    ("40 03 01 02 03", None, "3 octets instead of 4"),
    ("40 05 01 02 03 04 05", None, "5 octets instead of 4"),
    ("06 00", ObjectIdentifier((0, 0)), "empty"),
    ("06 02 2b 80", ObjectIdentifier((1, 3)), "truncated"),
    ("80 01 00", NO_SUCH_OBJECT, "content"),
    ("47 01 00", None, "unknown type tag 0x47"),
    ("9f 78 04 41 5b 33 33", None, "unknown type tag 0x9f78"),
    ("24 00", None, "unknown type tag 0x24"),
])
def test_decode_value_malformed(tlv: str, lenient: object, words: str) -> None:
    octets = bytes.fromhex(tlv)

    value = decode_tlv(octets)

    assert isinstance(value, MalformedValue)
    assert same_value(value.value, lenient)
    assert value.raw == octets
    assert words in value.reason


def test_decode_value_opaque_float_has_inner() -> None:
    value = decode_tlv(bytes.fromhex("44 07 9f 78 04 41 5b 33 33"))

    assert isinstance(value, Opaque)
    assert value.inner_tag == OPAQUE_FLOAT


@pytest.mark.parametrize("tag", VALUE_TAGS)
def test_decode_value_never_raises_on_any_content(tag: int) -> None:
    for content in (b"", b"\x00", b"\x80", b"\xff" * 9, b"\x00" * 20, b"\x9f\x78\x04"):
        tlv = bytes((tag, len(content))) + content
        decode_value(tag, tlv, 0, 2, len(tlv))


# --- Values, fast path against the reference


@given(st.sampled_from(sorted(FAST_VALUE_DECODERS)), st.binary(max_size=12))
@settings(max_examples=1500, deadline=None)
@example(0x41, b"\x00\xff\xff\xff\xff")
@example(0x41, b"\x00\x00\x00\x00\x05")
@example(0x46, b"\x00\xff\xff\xff\xff\xff\xff\xff\xff")
@example(0x02, b"")
@example(0x43, b"\x80")
def test_fast_value_decoders_agree_with_reference(tag: int, content: bytes) -> None:
    tlv = bytes((tag, len(content))) + content

    fast = FAST_VALUE_DECODERS[tag](tlv, 2, len(tlv))

    if fast is not None:
        assert same_value(fast, decode_value(tag, tlv, 0, 2, len(tlv)))


@pytest.mark.parametrize(("tag", "content"), [
    (0x02, "05"), (0x02, "ff"), (0x02, "7f ff ff ff"), (0x41, "00 ff ff ff ff"), (0x41, "05"),
    (0x46, "00 ff ff ff ff ff ff ff ff"), (0x43, "01 00"), (0x05, ""), (0x40, "7f 00 00 01"),
    (0x80, ""), (0x81, ""), (0x82, ""), (0x06, "2b 06 01 04 01 bf 08")])
def test_fast_value_decoders_take_common_valid_values(tag: int, content: str) -> None:
    octets = bytes.fromhex(content)
    tlv = bytes((tag, len(octets))) + octets

    assert FAST_VALUE_DECODERS[tag](tlv, 2, len(tlv)) is not None


@pytest.mark.parametrize(("tag", "content"), [
    (0x02, ""), (0x02, "00 00 00 00 05"), (0x41, "ff"), (0x41, "01 00 00 00 00"),
    (0x46, "01 00 00 00 00 00 00 00 00"), (0x05, "00"), (0x40, "01"), (0x82, "00"), (0x06, ""),
    (0x06, "2b 80 01"), (0x06, "2b 86")])
def test_fast_value_decoders_leave_faults_to_reference(tag: int, content: str) -> None:
    octets = bytes.fromhex(content)
    tlv = bytes((tag, len(octets))) + octets

    assert FAST_VALUE_DECODERS[tag](tlv, 2, len(tlv)) is None


def test_encode_value_keeps_type_of_subclass() -> None:
    class LinkCounter(Counter32):
        __slots__ = ()

    assert encode_value(LinkCounter(5)) == b"\x41\x01\x05"


def test_encode_value_sends_int_enum_as_integer() -> None:
    from snmpd_ng.protocol.pdu import ErrorStatus

    assert encode_value(ErrorStatus.GEN_ERR) == b"\x02\x01\x05"
