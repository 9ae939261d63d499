"""Field cases at the decode and encode level: what real agents send, byte for byte.

Each vector is a UDP payload as an agent sent it (or the smallest one showing the behaviour);
community "public" and request-id 0x1234 are placeholders. Where a case stands for a whole kind
of fault (every unsigned type, every length position), the test covers the kind.
"""

from __future__ import annotations

import struct

import pytest
from codec_packets import community_packets, hex_bytes, rewrite_length, tlv_length_positions

from snmpd_ng.protocol.ber import encode_oid_content
from snmpd_ng.protocol.errors import DecodeError, EncodeError
from snmpd_ng.protocol.message import (
    CommunityMessage,
    SnmpVersion,
    decode_message,
    decode_version,
    encode_message,
)
from snmpd_ng.protocol.pdu import BulkPdu, ErrorStatus, Pdu, PduType
from snmpd_ng.protocol.values import (
    END_OF_MIB_VIEW,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    NULL,
    Counter32,
    Counter64,
    Gauge32,
    Integer32,
    MalformedValue,
    ObjectIdentifier,
    OctetString,
    Opaque,
    TimeTicks,
    VarBind,
)

SYS_OR_DESCR = (1, 3, 6, 1, 2, 1, 1, 9, 1, 3)
SYS_OR_UPTIME = (1, 3, 6, 1, 2, 1, 1, 9, 1, 4)
IF_IN_OCTETS_3 = (1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 3)


def response_pdu(payload: str) -> Pdu:
    """Decode a hex payload and return its PDU, which must be a plain PDU."""
    pdu = decode_message(hex_bytes(payload)).pdu
    assert isinstance(pdu, Pdu)
    return pdu


def v2c_response(varbind_bytes: bytes, version: int = 1) -> bytes:
    """Wrap VarBind TLVs in a Response, request-id 0x1234, community "public"."""
    varbind_list = bytes((0x30, len(varbind_bytes))) + varbind_bytes
    pdu_body = hex_bytes("02 02 12 34 02 01 00 02 01 00") + varbind_list
    pdu = bytes((0xA2, len(pdu_body))) + pdu_body
    body = bytes((0x02, 0x01, version)) + b"\x04\x06public" + pdu
    return bytes((0x30, len(body))) + body


def varbind_tlv(name: tuple[int, ...], value_tlv: bytes) -> bytes:
    name_content = encode_oid_content(name)
    body = bytes((0x06, len(name_content))) + name_content + value_tlv
    return bytes((0x30, len(body))) + body


# --- Exception values in GETBULK rows: tags 0x80..0x82 are values, never PDU tags


BULK_ROWS_WITH_END_OF_VIEW = (
    "30 5C 02 01 01 04 06 70 75 62 6C 69 63 A2 4F 02 02 12 34 02 01 00 02 01 00 30 43 30 0F 06 0A"
    " 2B 06 01 02 01 01 09 01 03 0A 04 01 78 30 0F 06 0A 2B 06 01 02 01 01 09 01 04 0A 43 01 00 30"
    " 0F 06 0A 2B 06 01 02 01 01 09 01 04 01 43 01 00 30 0E 06 0A 2B 06 01 02 01 01 09 01 04 0A 82"
    " 00"
)


def test_bulk_rows_with_end_of_mib_view() -> None:
    pdu = response_pdu(BULK_ROWS_WITH_END_OF_VIEW)

    assert pdu.pdu_type is PduType.RESPONSE
    assert [varbind.oid for varbind in pdu.varbinds] == [
        (*SYS_OR_DESCR, 10), (*SYS_OR_UPTIME, 10), (*SYS_OR_UPTIME, 1), (*SYS_OR_UPTIME, 10)]
    assert pdu.varbinds[0].value == OctetString(b"x")
    assert type(pdu.varbinds[1].value) is TimeTicks
    assert pdu.varbinds[3].value is END_OF_MIB_VIEW


@pytest.mark.parametrize(("octet", "expected"), [
    (0x80, NO_SUCH_OBJECT), (0x81, NO_SUCH_INSTANCE), (0x82, END_OF_MIB_VIEW)])
def test_exception_tags_decode_as_values(octet: int, expected: object) -> None:
    data = v2c_response(varbind_tlv(SYS_OR_UPTIME, bytes((octet, 0))))

    assert decode_message(data).pdu.varbinds[0].value is expected


@pytest.mark.parametrize("octet", [0xA0, 0xA1, 0xA2, 0xA5, 0xA8, 0x83, 0x9F])
def test_context_tags_that_are_no_exception_are_malformed(octet: int) -> None:
    # Constructed context tags are PDU tags one level up; inside a varbind they are unknown
    # values. 0x83 is a context tag SNMP does not define. 0x9F 0x01 is a high-number form.
    value_tlv = bytes((octet, 0x01, 0x00)) if octet == 0x9F else bytes((octet, 0))
    data = v2c_response(varbind_tlv(SYS_OR_UPTIME, value_tlv))

    value = decode_message(data).pdu.varbinds[0].value

    assert isinstance(value, MalformedValue)
    assert value.raw == value_tlv


def test_exception_with_content_is_flagged_but_keeps_meaning() -> None:
    data = v2c_response(varbind_tlv(SYS_OR_UPTIME, b"\x82\x01\x00"))

    value = decode_message(data).pdu.varbinds[0].value

    assert isinstance(value, MalformedValue)
    assert value.value is END_OF_MIB_VIEW


# --- noSuchObject / noSuchInstance inside a multi-varbind GET


def test_get_response_keeps_value_beside_exceptions() -> None:
    pdu = response_pdu(
        "30 4B 02 01 01 04 06 70 75 62 6C 69 63 A2 3E 02 02 12 34 02 01 00 02 01 00 30 32 30 10 06"
        " 08 2B 06 01 02 01 01 05 00 04 04 68 6F 73 74 30 0E 06 0A 2B 06 01 02 01 02 02 01 02 63 81"
        " 00 30 0E 06 0A 2B 06 01 04 01 86 8D 1F 01 00 80 00"
    )

    assert pdu.error_status == ErrorStatus.NO_ERROR
    assert pdu.varbinds[0] == VarBind((1, 3, 6, 1, 2, 1, 1, 5, 0), OctetString(b"host"))
    assert pdu.varbinds[1].value is NO_SUCH_INSTANCE
    assert pdu.varbinds[2].oid == (1, 3, 6, 1, 4, 1, 99999, 1, 0)
    assert pdu.varbinds[2].value is NO_SUCH_OBJECT


# --- Length forms: non-minimal long form accepted, indefinite and truncated rejected


TOO_BIG_LONG_FORM = (
    "30 82 00 1F 02 01 01 04 06 70 75 62 6C 69 63 A2 82 00 10 02 04 4A 6D 8B 35 02 01 01 02 01 00"
    " 30 82 00 00"
)


def test_too_big_long_form_lengths_decode() -> None:
    pdu = response_pdu(TOO_BIG_LONG_FORM)

    assert pdu.error_status == ErrorStatus.TOO_BIG
    assert pdu.error_index == 0
    assert pdu.varbinds == []
    assert pdu.request_id == 0x4A6D8B35


def test_minimal_too_big_decodes() -> None:
    pdu = response_pdu(
        "30 19 02 01 01 04 06 70 75 62 6C 69 63 A2 0C 02 02 12 34 02 01 01 02 01 00 30 00")

    assert pdu.error_status == ErrorStatus.TOO_BIG
    assert pdu.varbinds == []


def test_indefinite_outer_length_is_rejected() -> None:
    data = hex_bytes(
        "30 80 02 01 01 04 06 70 75 62 6C 69 63 A2 1B 02 02 12 34 02 01 00 02 01 00 30 0F 30 0D 06"
        " 08 2B 06 01 02 01 01 03 00 43 01 64 00 00"
    )

    with pytest.raises(DecodeError) as caught:
        decode_message(data)

    assert caught.value.field == "message"
    assert caught.value.offset == 1
    assert "indefinite" in caught.value.reason


def test_truncated_long_form_length_is_rejected() -> None:
    # A message whose last two octets are 04 81: the length needs one more octet.
    data = hex_bytes("30 0B 02 01 01 04 06 70 75 62 6C 69 63 04 81")
    data = bytes((0x30, len(data) - 2)) + data[2:]

    with pytest.raises(DecodeError) as caught:
        decode_message(data)

    assert caught.value.offset == len(data)


SHORT_PACKETS = {name: data for name, data in community_packets().items()
                 if len(data) < 0x70 and data[1] < 0x80}


@pytest.mark.parametrize("name", sorted(SHORT_PACKETS))
def test_every_length_accepts_non_minimal_long_form(name: str) -> None:
    data = SHORT_PACKETS[name]
    expected = repr(decode_message(data))

    for position in tlv_length_positions(data):
        for form in (b"\x81", b"\x82\x00", b"\x84\x00\x00\x00"):
            changed = rewrite_length(data, position, form + data[position:position + 1], len(form))

            assert repr(decode_message(changed)) == expected, (position, form)


@pytest.mark.parametrize("name", sorted(SHORT_PACKETS))
def test_every_length_rejects_indefinite_and_overrun(name: str) -> None:
    data = SHORT_PACKETS[name]

    for position in tlv_length_positions(data):
        indefinite = data[:position] + b"\x80" + data[position + 1:]
        longer = data[:position] + bytes((data[position] + 1,)) + data[position + 1:]
        for broken in (indefinite, longer):
            with pytest.raises(DecodeError):
                decode_message(broken)


# --- Unsigned types whose content has the top bit set, with and without the 0x00 pad

UNSIGNED_TYPES = [(0x41, Counter32), (0x42, Gauge32), (0x43, TimeTicks), (0x46, Counter64)]


def test_counter32_padded_vector_decodes() -> None:
    pdu = response_pdu(
        "30 2E 02 01 00 04 06 70 75 62 6C 69 63 A2 21 02 02 12 34 02 01 00 02 01 00 30 15 30 13 06"
        " 0A 2B 06 01 02 01 02 02 01 0A 03 41 05 00 B3 99 61 ED"
    )

    assert pdu.varbinds[0] == VarBind(IF_IN_OCTETS_3, Counter32(3013173741))
    assert type(pdu.varbinds[0].value) is Counter32


def test_counter32_unpadded_vector_is_flagged_with_unsigned_value() -> None:
    pdu = response_pdu(
        "30 2D 02 01 00 04 06 70 75 62 6C 69 63 A2 20 02 02 12 34 02 01 00 02 01 00 30 14 30 12 06"
        " 0A 2B 06 01 02 01 02 02 01 0A 03 41 04 B3 99 61 ED"
    )
    value = pdu.varbinds[0].value

    assert isinstance(value, MalformedValue)
    assert value.raw == hex_bytes("41 04 B3 99 61 ED")
    assert value.value == 3013173741
    assert type(value.value) is Counter32


@pytest.mark.parametrize(("content", "meant"), [
    ("B3 99 61 ED", 3013173741), ("FF FF", 65535), ("80 E8", 33000), ("80", 128),
    ("FF FF FF FF", 4294967295)])
@pytest.mark.parametrize(("tag", "kind"), UNSIGNED_TYPES)
def test_unsigned_without_pad_is_flagged_with_unsigned_value(
    tag: int, kind: type, content: str, meant: int
) -> None:
    octets = hex_bytes(content)
    data = v2c_response(varbind_tlv(IF_IN_OCTETS_3, bytes((tag, len(octets))) + octets))

    value = decode_message(data).pdu.varbinds[0].value

    assert isinstance(value, MalformedValue)
    assert value.value == meant
    assert type(value.value) is kind
    assert "negative" in value.reason


@pytest.mark.parametrize(("tag", "kind"), UNSIGNED_TYPES)
def test_unsigned_with_pad_decodes_to_type(tag: int, kind: type) -> None:
    data = v2c_response(varbind_tlv(IF_IN_OCTETS_3, bytes((tag, 3, 0x00, 0x80, 0xE8))))

    value = decode_message(data).pdu.varbinds[0].value

    assert value == 33000
    assert type(value) is kind


def test_short_unsigned_messages_of_the_vector_decode() -> None:
    # The vector's message with 41 02 FF FF in place of the four-octet content.
    data = hex_bytes(
        "30 2B 02 01 00 04 06 70 75 62 6C 69 63 A2 1E 02 02 12 34 02 01 00 02 01 00 30 12 30 10 06"
        " 0A 2B 06 01 02 01 02 02 01 0A 03 41 02 FF FF"
    )

    value = decode_message(data).pdu.varbinds[0].value

    assert isinstance(value, MalformedValue)
    assert value.value == 65535


# --- Counter64 at or above 2^63


def test_counter64_nine_octets_decodes_full_precision() -> None:
    pdu = response_pdu(
        "30 33 02 01 01 04 06 70 75 62 6C 69 63 A2 26 02 02 12 34 02 01 00 02 01 00 30 1A 30 18 06"
        " 0B 2B 06 01 02 01 1F 01 01 01 06 01 46 09 00 FF FF FF FF FF 1E E5 3A"
    )

    assert pdu.varbinds[0].value == 18446744073694799162
    assert type(pdu.varbinds[0].value) is Counter64


def test_counter64_field_report_value_decodes() -> None:
    data = v2c_response(varbind_tlv(IF_IN_OCTETS_3, hex_bytes("46 09 00 90 60 1F C3 C2 80 DC B8")))

    value = decode_message(data).pdu.varbinds[0].value

    assert value == 10403350064868154552
    assert type(value) is Counter64


@pytest.mark.parametrize(("content", "lenient"), [
    ("00 00 FF FF FF FF FF 1E E5 3A", 18446744073694799162),  # ten octets, value fits
    ("01 00 00 00 00 00 00 00 00", 2**64),  # nine octets, first not 0x00
    ("FF FF FF FF FF FF FF FF FF", None),  # nine octets, negative
])
def test_counter64_oversize_is_flagged(content: str, lenient: int | None) -> None:
    octets = hex_bytes(content)
    data = v2c_response(varbind_tlv(IF_IN_OCTETS_3, bytes((0x46, len(octets))) + octets))

    value = decode_message(data).pdu.varbinds[0].value

    assert isinstance(value, MalformedValue)
    assert value.value == lenient


# --- INTEGER wider than 32 bits, and INTEGER with zero length


def test_integer_above_int32_is_flagged_with_number() -> None:
    pdu = response_pdu(
        "30 31 02 01 01 04 06 70 75 62 6C 69 63 A2 24 02 02 12 34 02 01 00 02 01 00 30 18 30 16 06"
        " 0D 2B 06 01 04 01 86 8D 1F 07 0C 01 15 01 02 05 00 FF FF FC 19"
    )
    value = pdu.varbinds[0].value

    assert isinstance(value, MalformedValue)
    assert value.value == 4294966297
    assert value.raw == hex_bytes("02 05 00 FF FF FC 19")
    assert "range" in value.reason


def test_integer_without_content_is_flagged_without_value() -> None:
    pdu = response_pdu(
        "30 30 02 01 01 04 06 70 75 62 6C 69 63 A2 23 02 02 12 34 02 01 00 02 01 00 30 17 30 15 06"
        " 11 2B 06 01 04 01 86 8D 1F 03 02 03 01 0B 01 01 0C 01 02 00"
    )
    value = pdu.varbinds[0].value

    assert isinstance(value, MalformedValue)
    assert value.value is None
    assert value.raw == b"\x02\x00"


def test_bad_integer_row_keeps_sibling_varbinds() -> None:
    rows = b"".join((
        varbind_tlv((1, 3, 6, 1, 4, 1, 1718, 3, 1), b"\x02\x01\x05"),
        varbind_tlv((1, 3, 6, 1, 4, 1, 1718, 3, 2), b"\x02\x00"),
        varbind_tlv((1, 3, 6, 1, 4, 1, 1718, 3, 3), b"\x02\x01\x07"),
    ))

    varbinds = decode_message(v2c_response(rows)).pdu.varbinds

    assert varbinds[0].value == Integer32(5)
    assert isinstance(varbinds[1].value, MalformedValue)
    assert varbinds[2].value == Integer32(7)


# --- Zero-length OBJECT IDENTIFIER value


def test_empty_oid_value_reads_zero_dot_zero() -> None:
    pdu = response_pdu(
        "30 29 02 01 00 04 06 70 75 62 6C 69 63 A2 1C 02 02 12 34 02 01 00 02 01 00 30 10 30 0E 06"
        " 0A 2B 06 01 02 01 02 02 01 16 01 06 00"
    )
    value = pdu.varbinds[0].value

    assert isinstance(value, MalformedValue)
    assert value.value == ObjectIdentifier((0, 0))
    assert pdu.varbinds[0].oid == (1, 3, 6, 1, 2, 1, 2, 2, 1, 22, 1)


# --- OID sub-identifier encodings


def test_name_0x80_lead_octet_flagged() -> None:
    pdu = response_pdu(
        "30 82 00 38 02 01 00 04 06 70 75 62 6C 69 63 A2 82 00 29 02 04 75 F6 71 99 02 01 00 02 01"
        " 00 30 82 00 19 30 82 00 15 06 82 00 0E 2B 06 01 04 01 80 81 FE 48 01 08 05 01 00 02 01 0C"
    )
    varbind = pdu.varbinds[0]

    assert varbind.oid == (1, 3, 6, 1, 4, 1, 32584, 1, 8, 5, 1, 0)
    assert isinstance(varbind.value, MalformedValue)
    assert varbind.value.value == Integer32(12)
    assert "0x80" in varbind.value.reason


@pytest.mark.parametrize(("content", "expected"), [
    ("7E", (2, 46)), ("88 37 01", (2, 999, 1)), ("27", (0, 39)), ("28", (1, 0)),
    ("4F", (1, 39)), ("50", (2, 0))])
def test_first_subidentifier_splits_into_two_arcs(content: str, expected: tuple[int, ...]) -> None:
    octets = hex_bytes(content)
    data = v2c_response(varbind_tlv(SYS_OR_UPTIME, bytes((0x06, len(octets))) + octets))

    value = decode_message(data).pdu.varbinds[0].value

    assert value == ObjectIdentifier(expected)
    assert type(value) is ObjectIdentifier


def test_oid_value_2_999_1_vector_decodes() -> None:
    pdu = response_pdu(
        "30 2D 02 01 01 04 06 70 75 62 6C 69 63 A2 20 02 02 12 34 02 01 00 02 01 00 30 14 30 12 06"
        " 0B 2B 06 01 02 01 19 03 02 01 04 01 06 03 88 37 01"
    )

    assert pdu.varbinds[0].value == ObjectIdentifier((2, 999, 1))


def test_subidentifier_above_2_32_is_flagged_with_arcs() -> None:
    data = v2c_response(varbind_tlv(SYS_OR_UPTIME, hex_bytes("06 06 2B 90 80 80 80 00")))

    value = decode_message(data).pdu.varbinds[0].value

    assert isinstance(value, MalformedValue)
    assert value.value == ObjectIdentifier((1, 3, 4294967296))


def test_name_above_2_32_keeps_siblings() -> None:
    bad_name = hex_bytes("30 0B 06 06 2B 90 80 80 80 00 02 01 01")
    rows = varbind_tlv(SYS_OR_UPTIME, b"\x43\x01\x05") + bad_name

    varbinds = decode_message(v2c_response(rows)).pdu.varbinds

    assert varbinds[0].value == TimeTicks(5)
    assert varbinds[1].oid == (1, 3, 4294967296)
    assert isinstance(varbinds[1].value, MalformedValue)
    assert varbinds[1].value.raw == bad_name


@pytest.mark.parametrize("oid", [(0, 40), (1, 40), (1, 3, 2**32), (3, 1), (1,), (1, 3, -1)])
def test_encoder_rejects_oid_snmp_cannot_carry(oid: tuple[int, ...]) -> None:
    message = CommunityMessage(SnmpVersion.V2C, b"public",
                               Pdu(PduType.GET, 1, [VarBind(oid, NULL)]))

    with pytest.raises(EncodeError):
        encode_message(message)


def test_encoder_writes_2_999_as_one_subidentifier() -> None:
    assert encode_oid_content((2, 999, 1)) == hex_bytes("88 37 01")


# --- Opaque-wrapped Float and Double


def test_opaque_float_vector_decodes_inner_number() -> None:
    pdu = response_pdu(
        "30 31 02 01 01 04 06 70 75 62 6C 69 63 A2 24 02 02 12 34 02 01 00 02 01 00 30 18 30 16 06"
        " 0B 2B 06 01 04 01 8F 65 0A 01 06 01 44 07 9F 78 04 41 5B 33 33"
    )
    value = pdu.varbinds[0].value

    assert isinstance(value, Opaque)
    assert value == hex_bytes("9F 78 04 41 5B 33 33")
    assert value.inner == struct.unpack(">f", struct.pack(">f", 13.7))[0]
    assert value.inner_tag == 0x78


def test_opaque_double_vector_decodes_inner_number() -> None:
    pdu = response_pdu(
        "30 35 02 01 01 04 06 70 75 62 6C 69 63 A2 28 02 02 12 34 02 01 00 02 01 00 30 1C 30 1A 06"
        " 0B 2B 06 01 04 01 8F 65 0A 01 06 01 44 0B 9F 79 08 40 2B 66 66 66 66 66 66"
    )
    value = pdu.varbinds[0].value

    assert isinstance(value, Opaque)
    assert value.inner == 13.7
    assert value.inner_tag == 0x79


def test_unwrapped_float_is_flagged_unknown_tag() -> None:
    pdu = response_pdu(
        "30 2F 02 01 01 04 06 70 75 62 6C 69 63 A2 22 02 02 12 34 02 01 00 02 01 00 30 16 30 14 06"
        " 0B 2B 06 01 04 01 8F 65 0A 01 06 01 9F 78 04 41 5B 33 33"
    )
    value = pdu.varbinds[0].value

    assert isinstance(value, MalformedValue)
    assert value.tag == 0x9F78
    assert value.raw == hex_bytes("9F 78 04 41 5B 33 33")


# --- GETBULK max-repetitions above 127


IF_NAME = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1)


def bulk_request(max_repetitions: int) -> bytes:
    pdu = BulkPdu(0x1234, 0, max_repetitions, [VarBind(IF_NAME, NULL)])
    return encode_message(CommunityMessage(SnmpVersion.V2C, b"public", pdu))


def test_bulk_max_repetitions_128_golden_bytes() -> None:
    assert bulk_request(128) == hex_bytes(
        "30 2A 02 01 01 04 06 70 75 62 6C 69 63 A5 1D 02 02 12 34 02 01 00 02 02 00 80 30 10 30 0E"
        " 06 0A 2B 06 01 02 01 1F 01 01 01 01 05 00"
    )


@pytest.mark.parametrize(("number", "encoded"), [
    (127, "02 01 7F"), (128, "02 02 00 80"), (255, "02 02 00 FF"), (256, "02 02 01 00"),
    (2147483647, "02 04 7F FF FF FF")])
def test_bulk_max_repetitions_minimal_twos_complement(number: int, encoded: str) -> None:
    assert hex_bytes(encoded) in bulk_request(number)


@pytest.mark.parametrize("number", [-1, -128, 2**31])
def test_bulk_max_repetitions_out_of_range_rejected(number: int) -> None:
    with pytest.raises(EncodeError):
        bulk_request(number)


def test_buggy_negative_max_repetitions_decodes_as_sent() -> None:
    data = hex_bytes(
        "30 29 02 01 01 04 06 70 75 62 6C 69 63 A5 1C 02 02 12 34 02 01 00 02 01 80 30 10 30 0E 06"
        " 0A 2B 06 01 02 01 1F 01 01 01 01 05 00"
    )

    pdu = decode_message(data).pdu

    assert isinstance(pdu, BulkPdu)
    assert pdu.max_repetitions == -128


# --- SNMPv1 noSuchName responses and a walk's backward step decode


def test_v1_no_such_name_end_of_walk() -> None:
    message = decode_message(hex_bytes(
        "30 29 02 01 00 04 06 70 75 62 6C 69 63 A2 1C 02 02 12 34 02 01 02 02 01 01 30 10 30 0E 06"
        " 0A 2B 06 01 02 01 01 09 01 04 0A 05 00"
    ))
    pdu = message.pdu

    assert message.version is SnmpVersion.V1
    assert isinstance(pdu, Pdu)
    assert pdu.error_status == ErrorStatus.NO_SUCH_NAME
    assert pdu.error_index == 1
    assert pdu.varbinds[0].value is NULL


def test_v1_no_such_name_on_second_varbind_decodes() -> None:
    pdu = response_pdu(
        "30 37 02 01 00 04 06 70 75 62 6C 69 63 A2 2A 02 02 12 34 02 01 02 02 01 02 30 1E 30 0C 06"
        " 08 2B 06 01 02 01 01 05 00 05 00 30 0E 06 0A 2B 06 01 02 01 02 02 01 02 63 05 00"
    )

    assert pdu.error_status == ErrorStatus.NO_SUCH_NAME
    assert pdu.error_index == 2
    assert [varbind.value for varbind in pdu.varbinds] == [NULL, NULL]


def test_backward_step_response_decodes() -> None:
    pdu = response_pdu(
        "30 2D 02 01 01 04 06 70 75 62 6C 69 63 A2 20 02 02 12 34 02 01 00 02 01 00 30 14 30 12 06"
        " 0A 2B 06 01 02 01 02 02 01 02 01 04 04 65 74 68 30"
    )

    assert pdu.varbinds == [VarBind((1, 3, 6, 1, 2, 1, 2, 2, 1, 2, 1), OctetString(b"eth0"))]


def test_end_of_mib_view_via_getnext_decodes() -> None:
    pdu = response_pdu(
        "30 29 02 01 01 04 06 70 75 62 6C 69 63 A2 1C 02 02 12 34 02 01 00 02 01 00 30 10 30 0E 06"
        " 0A 2B 06 01 02 01 01 09 01 04 0A 82 00"
    )

    assert pdu.varbinds[0].value is END_OF_MIB_VIEW


# --- SNMPv3 messages are recognised by their version


V3_MESSAGES = [
    "30 3A 02 01 03 30 0F 02 02 43 21 02 03 00 FF E3 04 01 04 02 01 03 04 10 30 0E 04 00 02 01 00"
    " 02 01 00 04 00 04 00 04 00 30 12 04 00 04 00 A0 0C 02 02 12 34 02 01 00 02 01 00 30 00",
    "30 64 02 01 03 30 0F 02 02 43 21 02 03 00 FF E3 04 01 00 02 01 03 04 1D 30 1B 04 0C 80 00 1F"
    " 88 04 61 67 65 6E 74 30 31 02 01 05 02 02 04 D2 04 00 04 00 04 00 30 2F 04 0C 80 00 1F 88 04"
    " 61 67 65 6E 74 30 31 04 00 A8 1D 02 02 12 34 02 01 00 02 01 00 30 11 30 0F 06 0A 2B 06 01 06"
    " 03 0F 01 01 04 00 41 01 01",
    "30 63 02 01 03 30 0F 02 02 43 21 02 03 00 FF E3 04 01 00 02 01 03 04 1C 30 1A 04 0C 80 00 1F"
    " 88 04 61 67 65 6E 74 30 31 02 01 00 02 01 00 04 00 04 00 04 00 30 2F 04 0C 80 00 1F 88 04 61"
    " 67 65 6E 74 30 31 04 00 A8 1D 02 02 12 34 02 01 00 02 01 00 30 11 30 0F 06 0A 2B 06 01 06 03"
    " 0F 01 01 04 00 41 01 01",
]


@pytest.mark.parametrize("payload", V3_MESSAGES)
def test_v3_message_version_is_3(payload: str) -> None:
    assert decode_version(hex_bytes(payload)) == SnmpVersion.V3


@pytest.mark.parametrize("payload", V3_MESSAGES)
def test_v3_message_is_not_decoded_as_community(payload: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_message(hex_bytes(payload))

    assert caught.value.field == "message.version"
