"""PDUs and v1/v2c messages: round trips, net-snmp's own bytes, and every way framing breaks."""

from __future__ import annotations

import pytest
from codec_packets import (
    captured_packets,
    community_packets,
    hex_bytes,
    reference_varbinds,
    same_pdu,
    same_value,
    same_varbinds,
)
from codec_strategies import messages
from hypothesis import given, settings
from hypothesis import strategies as st

from snmpd_ng.protocol import varbinds as varbinds_module
from snmpd_ng.protocol.ber import encode_integer_content, read_header
from snmpd_ng.protocol.errors import DecodeError, EncodeError
from snmpd_ng.protocol.message import (
    CommunityMessage,
    SnmpVersion,
    decode_message,
    decode_pdu,
    decode_varbinds,
    decode_version,
    encode_message,
    encode_pdu,
    encode_varbinds,
)
from snmpd_ng.protocol.pdu import BulkPdu, Pdu, PduType, TrapV1Pdu
from snmpd_ng.protocol.values import (
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
    VarBind,
)
from snmpd_ng.protocol.varbinds import decode_varbind_items

SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
GET_SYS_NAME = hex_bytes(
    "30 27 02 01 01 04 06 70 75 62 6c 69 63 a0 1a 02 02 12 34 02 01 00 02 01 00 30 0e 30 0c"
    " 06 08 2b 06 01 02 01 01 05 00 05 00"
)
PACKETS = community_packets()


def get_message(*oids: tuple[int, ...], version: SnmpVersion = SnmpVersion.V2C) -> CommunityMessage:
    pdu = Pdu(PduType.GET, 0x1234, [VarBind(oid, NULL) for oid in oids])
    return CommunityMessage(version, b"public", pdu)


def varbind_list_bounds(data: bytes) -> tuple[int, int]:
    """Return (content start, content stop) of a v1/v2c message's VarBind list."""
    message = decode_message(data)
    tail = encode_varbinds(message.pdu.varbinds)
    assert data.endswith(tail), "the varbind list is not the last TLV"
    _, start, stop = read_header(data, len(data) - len(tail), len(data), "test")
    return start, stop


# --- Encoding


def test_encode_get_golden_bytes() -> None:
    assert encode_message(get_message(SYS_NAME)) == GET_SYS_NAME


def test_encode_v1_get_golden_version() -> None:
    assert encode_message(get_message(SYS_NAME, version=SnmpVersion.V1))[2:5] == b"\x02\x01\x00"


def test_encode_varbinds_long_list_uses_long_lengths() -> None:
    varbinds = [VarBind(SYS_NAME, OctetString(b"x" * 200))]

    encoded = encode_varbinds(varbinds)

    assert encoded[:4] == b"\x30\x81\xd8\x30"
    assert decode_varbinds(encoded, 0, len(encoded))[0] == varbinds


@pytest.mark.parametrize("pdu", [
    BulkPdu(1, 0, 10, []),
    Pdu(PduType.INFORM, 1, []),
    Pdu(PduType.TRAP_V2, 1, []),
    Pdu(PduType.REPORT, 1, []),
    Pdu(PduType.RESPONSE, 1, [VarBind(SYS_NAME, Counter64(1))]),
    Pdu(PduType.RESPONSE, 1, [VarBind(SYS_NAME, NO_SUCH_OBJECT)]),
])
def test_encode_v1_rejects_what_v1_cannot_carry(pdu: Pdu | BulkPdu) -> None:
    with pytest.raises(EncodeError, match="SNMPv"):
        encode_message(CommunityMessage(SnmpVersion.V1, b"public", pdu))


def test_encode_message_rejects_v3() -> None:
    with pytest.raises(EncodeError, match="not community-based"):
        encode_message(CommunityMessage(SnmpVersion.V3, b"public", Pdu(PduType.GET, 1, [])))


@pytest.mark.parametrize(("pdu", "field"), [
    (Pdu(PduType.GET, 2**31, []), "request-id"),
    (Pdu(PduType.GET, -(2**31) - 1, []), "request-id"),
    (Pdu(PduType.RESPONSE, 1, [], -1, 0), "error-status"),
    (Pdu(PduType.RESPONSE, 1, [], 0, -1), "error-index"),
    (BulkPdu(1, -1, 10, []), "non-repeaters"),
    (BulkPdu(1, 0, 2**31, []), "max-repetitions"),
    (TrapV1Pdu((1, 3, 6), b"\x01\x02\x03", 0, 0, 0, []), "agent-addr"),
    (TrapV1Pdu((1, 3, 6), b"\x01\x02\x03\x04", 7, 0, 0, []), "generic-trap"),
    (TrapV1Pdu((1, 3, 6), b"\x01\x02\x03\x04", 6, 0, 2**32, []), "time-stamp"),
    (TrapV1Pdu((1, 3, 6), b"\x01\x02\x03\x04", 6, 2**31, 0, []), "specific-trap"),
])
def test_encode_pdu_rejects_out_of_range_fields(pdu: Pdu, field: str) -> None:
    with pytest.raises(EncodeError, match=field):
        encode_pdu(pdu)


def test_encode_error_names_varbind_value() -> None:
    pdu = Pdu(PduType.SET, 1, [VarBind(SYS_NAME, Integer32(2**31))])

    with pytest.raises(EncodeError, match="2147483648"):
        encode_pdu(pdu)


@given(messages())
@settings(max_examples=300, deadline=None)
def test_message_round_trips(message: CommunityMessage) -> None:
    decoded = decode_message(encode_message(message))

    assert decoded.version is message.version
    assert decoded.community == message.community
    assert same_pdu(decoded.pdu, message.pdu)


@given(messages())
@settings(max_examples=200, deadline=None)
def test_encoding_is_canonical(message: CommunityMessage) -> None:
    encoded = encode_message(message)

    assert encode_message(decode_message(encoded)) == encoded


def test_community_message_repr_hides_community() -> None:
    message = get_message(SYS_NAME)
    message.community = b"s3cret-community"

    assert "s3cret" not in repr(message)
    assert "<redacted>" in repr(message)


# --- net-snmp's bytes


@pytest.mark.parametrize("name", sorted(PACKETS))
def test_captured_packet_decodes(name: str) -> None:
    message = decode_message(PACKETS[name])

    assert message.community in (b"public", b"system")
    assert not any(isinstance(varbind.value, MalformedValue) for varbind in message.pdu.varbinds)


@pytest.mark.parametrize("name", sorted(PACKETS))
def test_captured_packet_re_encodes_byte_for_byte(name: str) -> None:
    assert encode_message(decode_message(PACKETS[name])) == PACKETS[name]


@pytest.mark.parametrize("name", sorted(PACKETS))
def test_fast_path_matches_reference_on_captured_packet(name: str) -> None:
    data = PACKETS[name]
    start, stop = varbind_list_bounds(data)

    assert same_varbinds(decode_varbind_items(data, start, stop),
                         reference_varbinds(data, start, stop))


def test_captured_bulk_response_has_25_varbinds() -> None:
    pdu = decode_message(PACKETS["v2c-bulkwalk-iftable-01.response"]).pdu

    assert pdu.pdu_type is PduType.RESPONSE
    assert len(pdu.varbinds) == 25


def test_captured_v1_trap_decodes_fields() -> None:
    pdu = decode_message(PACKETS["v1-trap-01.notification"]).pdu

    assert isinstance(pdu, TrapV1Pdu)
    assert pdu.enterprise == (1, 3, 6, 1, 4, 1, 99999)
    assert pdu.agent_address == IpAddress(b"\x7f\x00\x00\x01")
    assert (pdu.generic_trap, pdu.specific_trap, pdu.time_stamp) == (6, 17, 1234)


def test_captured_v3_packets_report_version_3() -> None:
    v3 = {name: data for name, data in captured_packets().items() if name.startswith("v3-")}

    assert len(v3) == 4
    assert {decode_version(data) for data in v3.values()} == {3}


def test_decode_pdu_reads_scoped_pdu_of_v3_report() -> None:
    data = captured_packets()["v3-get-unknown-user-01.response"]
    position = data.rindex(b"\xa8")

    pdu, stop = decode_pdu(data, position, len(data))

    assert pdu.pdu_type is PduType.REPORT
    assert stop == len(data)
    assert pdu.varbinds[0].oid[:9] == (1, 3, 6, 1, 6, 3, 15, 1, 1)


# --- Broken framing


@pytest.mark.parametrize("name", sorted(captured_packets()))
def test_every_truncated_prefix_raises_decode_error(name: str) -> None:
    data = captured_packets()[name]
    decode = decode_version if name.startswith("v3-") else decode_message

    for size in range(len(data)):
        with pytest.raises(DecodeError) as caught:
            decode(data[:size])
        assert caught.value.__cause__ is None, size


def test_trailing_bytes_after_message_rejected() -> None:
    with pytest.raises(DecodeError, match="follow the message") as caught:
        decode_message(GET_SYS_NAME + b"\x00")

    assert caught.value.offset == len(GET_SYS_NAME)


@pytest.mark.parametrize(("change", "field", "offset"), [
    ((0, 0x31), "message", 0),
    ((2, 0x04), "message.version", 2),
    ((4, 0x02), "message.version", 2),
    ((5, 0x02), "message.community", 5),
    ((13, 0xA9), "pdu", 13),
    ((15, 0x04), "pdu.request-id", 15),
    ((19, 0x04), "pdu.error-status", 19),
    ((22, 0x04), "pdu.error-index", 22),
    ((25, 0x31), "pdu.varbind-list", 25),
    ((27, 0x31), "varbind[0].sequence", 27),
    ((29, 0x04), "varbind[0].name", 29),
    ((40, 0x06), "varbind[0].value", 41),
])
def test_decode_error_names_field_and_offset(
    change: tuple[int, int], field: str, offset: int
) -> None:
    position, octet = change
    data = bytearray(GET_SYS_NAME)
    data[position] = octet

    with pytest.raises(DecodeError) as caught:
        decode_message(bytes(data))

    assert caught.value.field == field
    assert caught.value.offset == offset
    assert f"at byte {offset}" in str(caught.value)


def test_decode_error_counts_varbind_index() -> None:
    message = get_message(SYS_NAME, SYS_UPTIME, SYS_NAME)
    data = bytearray(encode_message(message))
    data[data.rindex(b"\x05\x00") + 1] = 0x01

    with pytest.raises(DecodeError) as caught:
        decode_message(bytes(data))

    assert caught.value.field.startswith("varbind[2].")


def test_decode_message_rejects_v3_and_unknown_versions() -> None:
    data = bytearray(GET_SYS_NAME)
    data[4] = 2

    with pytest.raises(DecodeError, match="version 2 is not"):
        decode_message(bytes(data))


def test_decode_message_accepts_bytearray_and_memoryview() -> None:
    expected = repr(decode_message(GET_SYS_NAME))

    assert repr(decode_message(bytearray(GET_SYS_NAME))) == expected
    assert repr(decode_message(memoryview(GET_SYS_NAME))) == expected


def test_decode_message_community_is_bytes() -> None:
    assert type(decode_message(GET_SYS_NAME).community) is bytes


def test_decode_version_reads_v2c() -> None:
    assert decode_version(GET_SYS_NAME) == 1


@pytest.mark.parametrize("data", [b"", b"\x30", b"\x04\x00", b"\x30\x03\x04\x01\x00"])
def test_decode_version_rejects_non_messages(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_version(data)


# Compiled modules call each other directly, so a patched module attribute is never called.
@pytest.mark.skipif(not varbinds_module.__file__ or not varbinds_module.__file__.endswith(".py"),
                    reason="the protocol modules are compiled with mypyc")
def test_unexpected_exception_becomes_decode_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data: bytes, start: int, stop: int) -> list[VarBind]:
        raise IndexError("simulated decoder bug")

    monkeypatch.setattr(varbinds_module, "decode_varbind_items", broken)

    with pytest.raises(DecodeError, match="internal decoder error") as caught:
        decode_message(GET_SYS_NAME)

    assert isinstance(caught.value.__cause__, IndexError)


def integer_tlv(number: int, size: int) -> bytes:
    return bytes((0x02, size)) + number.to_bytes(size, "big", signed=True)


@given(st.lists(st.tuples(st.integers(-(2**31), 2**31 - 1), st.integers(0, 2)), min_size=3,
                max_size=3))
@settings(max_examples=300, deadline=None)
def test_pdu_integers_fast_path_agrees_with_reference(fields: list[tuple[int, int]]) -> None:
    # Each field minimal or with up to two octets of padding, so both paths are taken.
    encoded = b"".join(
        integer_tlv(number, len(encode_integer_content(number)) + padding)
        for number, padding in fields)
    pdu_bytes = bytes((0xA2, len(encoded) + 2)) + encoded + b"\x30\x00"

    pdu, _ = decode_pdu(pdu_bytes, 0, len(pdu_bytes))

    assert isinstance(pdu, Pdu)
    assert (pdu.request_id, pdu.error_status, pdu.error_index) == tuple(n for n, _ in fields)


def test_pdu_negative_one_octet_fields_decode_signed() -> None:
    pdu_bytes = hex_bytes("a2 0b 02 01 01 02 01 80 02 01 ff 30 00")

    pdu, _ = decode_pdu(pdu_bytes, 0, len(pdu_bytes))

    assert isinstance(pdu, Pdu)
    assert (pdu.error_status, pdu.error_index) == (-128, -1)


PASS_PERSIST_VALUES = [
    (1, Counter32(3013173741)),
    (2, Counter64(18446744073694799162)),
    (3, Counter64(10403350064868154552)),
    (4, Integer32(-5)),
    (5, Gauge32(4294967295)),
    (6, ObjectIdentifier((2, 999, 1))),
    (7, IpAddress(b"\x7f\x00\xc8\x01")),
    (8, TimeTicks(4294967295)),
]


@pytest.mark.parametrize(("index", "expected"), PASS_PERSIST_VALUES)
def test_captured_snmpd_value_decodes_to_type(index: int, expected: object) -> None:
    # snmpd served these through pass_persist; see tests/data/packets/capture.py.
    pdu = decode_message(PACKETS[f"v2c-walk-pass-persist-{index:02d}.response"]).pdu
    varbind = pdu.varbinds[0]

    assert varbind.oid == (1, 3, 6, 1, 4, 1, 99999, index, 0)
    assert same_value(varbind.value, expected)


def test_captured_opaque_float_decodes_inner_number() -> None:
    pdu = decode_message(PACKETS["v2c-get-opaque-float-01.response"]).pdu
    value = pdu.varbinds[0].value

    assert isinstance(value, Opaque)
    assert value.inner_tag == 0x78
    assert isinstance(value.inner, float)


def test_captured_get_keeps_value_beside_exceptions() -> None:
    pdu = decode_message(PACKETS["v2c-get-exceptions-01.response"]).pdu

    assert isinstance(pdu.varbinds[0].value, OctetString)
    assert pdu.varbinds[1].value is NO_SUCH_INSTANCE
    assert pdu.varbinds[2].value is NO_SUCH_OBJECT


def test_captured_v1_no_such_name_response() -> None:
    pdu = decode_message(PACKETS["v1-get-nosuchname-01.response"]).pdu

    assert isinstance(pdu, Pdu)
    assert pdu.error_status == 2
    assert pdu.error_index == 2
