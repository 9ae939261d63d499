"""SNMPv3 message framing (RFC 3412 section 6, RFC 3414 section 2.4).

Tests cover the engine discovery packets and net-snmp's own v3 datagrams byte for byte, round
trips for every msgFlags combination, the place of the MAC, pyasn1 as an independent BER codec,
every framing fault, and fuzzing of the two decoders.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest
from codec_oracle_asn1 import MessageAsn1, Pdus, from_asn1, to_asn1
from codec_packets import captured_packets, hex_bytes, same_pdu
from codec_strategies import NON_NEGATIVE_INT32, pdus
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

# pyasn1 ships without type hints.
from pyasn1.codec.ber import decoder, encoder  # type: ignore[import-untyped]
from pyasn1.type import namedtype, univ  # type: ignore[import-untyped]
from test_codec_oracle import has_pyasn1_padded_number

from snmpd_ng.protocol import v3 as v3_module
from snmpd_ng.protocol.ber import encode_integer_tlv, encode_tlv
from snmpd_ng.protocol.errors import DecodeError, EncodeError
from snmpd_ng.protocol.message import CommunityMessage, SnmpVersion
from snmpd_ng.protocol.pdu import AnyPdu, Pdu, PduType
from snmpd_ng.protocol.v3 import (
    FLAG_AUTH,
    FLAG_PRIV,
    FLAG_REPORTABLE,
    INT32_MAX,
    MIN_MAX_SIZE,
    USM_SECURITY_MODEL,
    ScopedPdu,
    UsmParameters,
    V3Message,
    decode_message,
    decode_msg_id,
    decode_scoped_pdu,
    encode_message,
    encode_scoped_pdu,
)
from snmpd_ng.protocol.values import NULL, Counter32, OctetString, VarBind
from snmpd_ng.security.usm import MAX_MESSAGE_SIZE, discovery_request

# Field case SC-17: the discovery probe (msgID 0x4321, request-id 0x1234), and the same probe with
# msgFlags 0x00 as faulty managers send it. Then two usmStatsUnknownEngineIDs reports of an agent:
# one with boots 5 and time 1234, one with boots 0 and time 0.
DISCOVERY_PROBE = hex_bytes(
    "30 3A 02 01 03 30 0F 02 02 43 21 02 03 00 FF E3 04 01 04 02 01 03 04 10 30 0E 04 00 02 01 00"
    " 02 01 00 04 00 04 00 04 00 30 12 04 00 04 00 A0 0C 02 02 12 34 02 01 00 02 01 00 30 00")
UNREPORTABLE_PROBE = hex_bytes(
    "30 3A 02 01 03 30 0F 02 02 43 21 02 03 00 FF E3 04 01 00 02 01 03 04 10 30 0E 04 00 02 01 00"
    " 02 01 00 04 00 04 00 04 00 30 12 04 00 04 00 A0 0C 02 02 12 34 02 01 00 02 01 00 30 00")
DISCOVERY_REPORT = hex_bytes(
    "30 64 02 01 03 30 0F 02 02 43 21 02 03 00 FF E3 04 01 00 02 01 03 04 1D 30 1B 04 0C 80 00 1F"
    " 88 04 61 67 65 6E 74 30 31 02 01 05 02 02 04 D2 04 00 04 00 04 00 30 2F 04 0C 80 00 1F 88"
    " 04 61 67 65 6E 74 30 31 04 00 A8 1D 02 02 12 34 02 01 00 02 01 00 30 11 30 0F 06 0A 2B 06"
    " 01 06 03 0F 01 01 04 00 41 01 01")
DISCOVERY_REPORT_ZERO_TIME = hex_bytes(
    "30 63 02 01 03 30 0F 02 02 43 21 02 03 00 FF E3 04 01 00 02 01 03 04 1C 30 1A 04 0C 80 00 1F"
    " 88 04 61 67 65 6E 74 30 31 02 01 00 02 01 00 04 00 04 00 04 00 30 2F 04 0C 80 00 1F 88 04"
    " 61 67 65 6E 74 30 31 04 00 A8 1D 02 02 12 34 02 01 00 02 01 00 30 11 30 0F 06 0A 2B 06 01"
    " 06 03 0F 01 01 04 00 41 01 01")
PROBE_MSG_ID = 0x4321
PROBE_REQUEST_ID = 0x1234
# The text engine ID format of net-snmp: 80 00 1F 88 04 and the text "agent01".
AGENT01_ENGINE_ID = hex_bytes("80 00 1F 88 04") + b"agent01"
USM_STATS_UNKNOWN_ENGINE_IDS = (1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0)

# SNMPv3 datagrams of net-snmp 5.9.3's snmpget and snmpd (see tests/data/packets/README.md).
NETSNMP_V3_PACKETS = {name: data for name, data in captured_packets().items()
                      if name.startswith("v3-")}

# The msgFlags values RFC 3412 section 6.4 allows: privacy only with authentication.
VALID_FLAGS = [0x00, 0x01, 0x03, 0x04, 0x05, 0x07]

ENGINE_ID = hex_bytes("80 00 1F 88 04") + b"unit-test"
USER_NAME = b"user1"
SCOPED_GET = encode_scoped_pdu(ENGINE_ID, b"", Pdu(PduType.GET, 7, [
    VarBind((1, 3, 6, 1, 2, 1, 1, 5, 0), NULL)]))
CIPHERTEXT = bytes(range(48))

SEQUENCE, OCTET_STRING = 0x30, 0x04


def usm_parameters(mac: bytes = b"", salt: bytes = b"", **changes: Any) -> UsmParameters:
    fields: dict[str, Any] = {"engine_id": ENGINE_ID, "engine_boots": 5, "engine_time": 1234,
                              "user_name": USER_NAME}
    fields.update(changes)
    return UsmParameters(**fields, auth_parameters=mac, priv_parameters=salt)


def encode_with_flags(flags: int, mac: bytes = bytes(12)) -> bytes:
    """Encode a message at `flags`, with a MAC field and a salt when the flags need them."""
    encrypted = bool(flags & FLAG_PRIV)
    usm = usm_parameters(mac if flags & FLAG_AUTH else b"", bytes(8) if encrypted else b"")
    data = CIPHERTEXT if encrypted else SCOPED_GET
    message, _ = encode_message(99, MAX_MESSAGE_SIZE, flags, usm, data, encrypted=encrypted)
    return message


# ---------------------------------------------------------------------------------------------
# Engine discovery packets


def test_encode_message_writes_discovery_probe() -> None:
    scoped = encode_scoped_pdu(b"", b"", Pdu(PduType.GET, PROBE_REQUEST_ID, []))
    message, offset = encode_message(PROBE_MSG_ID, MAX_MESSAGE_SIZE, FLAG_REPORTABLE,
                                     UsmParameters(b"", 0, 0, b""), scoped, encrypted=False)

    assert message == DISCOVERY_PROBE
    assert DISCOVERY_PROBE[offset - 2:offset] == b"\x04\x00"


def test_discovery_request_matches_probe_bytes() -> None:
    assert discovery_request(PROBE_MSG_ID, PROBE_REQUEST_ID) == DISCOVERY_PROBE


def test_decode_discovery_probe_fields() -> None:
    message = decode_message(DISCOVERY_PROBE)

    assert message.msg_id == PROBE_MSG_ID
    assert message.max_size == MAX_MESSAGE_SIZE
    assert message.flags == FLAG_REPORTABLE
    assert message.reportable
    assert message.security_model == USM_SECURITY_MODEL
    assert not message.encrypted
    assert message.usm == UsmParameters(b"", 0, 0, b"", b"", b"")


def test_decode_discovery_probe_scoped_pdu() -> None:
    scoped = decode_scoped_pdu(decode_message(DISCOVERY_PROBE).data)

    assert scoped == ScopedPdu(b"", b"", Pdu(PduType.GET, PROBE_REQUEST_ID, []))


def test_decode_unreportable_probe() -> None:
    message = decode_message(UNREPORTABLE_PROBE)

    assert message.flags == 0x00
    assert not message.reportable
    assert message.msg_id == PROBE_MSG_ID


@pytest.mark.parametrize(("data", "boots", "engine_time"), [
    (DISCOVERY_REPORT, 5, 1234),
    (DISCOVERY_REPORT_ZERO_TIME, 0, 0),
], ids=["boots-5", "boots-0"])
def test_decode_discovery_report_engine(data: bytes, boots: int, engine_time: int) -> None:
    message = decode_message(data)

    assert message.usm is not None
    assert message.usm.engine_id == AGENT01_ENGINE_ID
    assert message.usm.engine_boots == boots
    assert message.usm.engine_time == engine_time
    assert message.usm.user_name == b""
    assert message.flags == 0x00
    assert not message.reportable


@pytest.mark.parametrize("data", [DISCOVERY_REPORT, DISCOVERY_REPORT_ZERO_TIME],
                         ids=["boots-5", "boots-0"])
def test_decode_discovery_report_scoped_pdu(data: bytes) -> None:
    scoped = decode_scoped_pdu(decode_message(data).data)

    assert scoped.context_engine_id == AGENT01_ENGINE_ID
    assert scoped.context_name == b""
    assert scoped.pdu == Pdu(PduType.REPORT, PROBE_REQUEST_ID, [
        VarBind(USM_STATS_UNKNOWN_ENGINE_IDS, Counter32(1))])


@pytest.mark.parametrize("data", [DISCOVERY_PROBE, UNREPORTABLE_PROBE, DISCOVERY_REPORT,
                                  DISCOVERY_REPORT_ZERO_TIME])
def test_decode_msg_id_of_discovery_packets(data: bytes) -> None:
    assert decode_msg_id(data) == PROBE_MSG_ID


# ---------------------------------------------------------------------------------------------
# net-snmp's datagrams


def test_netsnmp_v3_packets_present() -> None:
    assert len(NETSNMP_V3_PACKETS) >= 4


@pytest.mark.parametrize("name", sorted(NETSNMP_V3_PACKETS))
def test_netsnmp_v3_packet_reencodes_byte_for_byte(name: str) -> None:
    data = NETSNMP_V3_PACKETS[name]
    message = decode_message(data)
    assert message.usm is not None

    encoded, _ = encode_message(message.msg_id, message.max_size, message.flags, message.usm,
                                message.data, encrypted=message.encrypted)

    assert encoded == data


@pytest.mark.parametrize("name", sorted(NETSNMP_V3_PACKETS))
def test_netsnmp_v3_packet_scoped_pdu_reencodes(name: str) -> None:
    message = decode_message(NETSNMP_V3_PACKETS[name])
    scoped = decode_scoped_pdu(message.data)

    encoded = encode_scoped_pdu(scoped.context_engine_id, scoped.context_name, scoped.pdu)

    assert encoded == message.data


# ---------------------------------------------------------------------------------------------
# Round trips and the MAC's place


@pytest.mark.parametrize("flags", VALID_FLAGS, ids=lambda flags: f"0x{flags:02x}")
def test_round_trip_every_flag_combination(flags: int) -> None:
    data = encode_with_flags(flags)

    message = decode_message(data)

    assert message.flags == flags
    assert message.reportable is bool(flags & FLAG_REPORTABLE)
    assert message.encrypted is bool(flags & FLAG_PRIV)
    assert message.msg_id == 99
    assert message.max_size == MAX_MESSAGE_SIZE
    assert message.usm is not None
    assert message.usm.engine_id == ENGINE_ID
    assert message.usm.user_name == USER_NAME
    assert message.data == (CIPHERTEXT if flags & FLAG_PRIV else SCOPED_GET)


@pytest.mark.parametrize("flags", VALID_FLAGS, ids=lambda flags: f"0x{flags:02x}")
def test_reencode_every_flag_combination(flags: int) -> None:
    data = encode_with_flags(flags)
    message = decode_message(data)
    assert message.usm is not None

    encoded, _ = encode_message(message.msg_id, message.max_size, message.flags, message.usm,
                                message.data, encrypted=message.encrypted)

    assert encoded == data


@pytest.mark.parametrize("size", [0, 1, 127, 128, 255, 256, 70_000])
def test_round_trip_encrypted_data_of_any_size(size: int) -> None:
    ciphertext = bytes(index % 251 for index in range(size))
    usm = usm_parameters(bytes(12), bytes(8))

    data, _ = encode_message(1, MIN_MAX_SIZE, FLAG_AUTH | FLAG_PRIV, usm, ciphertext,
                             encrypted=True)
    message = decode_message(data)

    assert message.encrypted
    assert message.data == ciphertext
    assert message.usm is not None
    assert message.usm.priv_parameters == bytes(8)


def test_round_trip_limits_of_integer_fields() -> None:
    usm = usm_parameters(engine_boots=INT32_MAX, engine_time=INT32_MAX)

    data, _ = encode_message(INT32_MAX, INT32_MAX, 0, usm, SCOPED_GET, encrypted=False)
    message = decode_message(data)

    assert message.msg_id == INT32_MAX
    assert message.max_size == INT32_MAX
    assert message.usm is not None
    assert message.usm.engine_boots == INT32_MAX
    assert message.usm.engine_time == INT32_MAX


@pytest.mark.parametrize("mac_length", [0, 12, 16, 24, 32, 48])
@pytest.mark.parametrize("padding", [0, 200, 70_000], ids=["short", "long-form", "3-octet"])
def test_mac_offset_points_at_zeros(mac_length: int, padding: int) -> None:
    # A long context name makes every enclosing length long-form, which moves the MAC.
    scoped = encode_scoped_pdu(ENGINE_ID, b"c" * padding, Pdu(PduType.GET, 1, []))
    usm = usm_parameters(bytes(mac_length))

    data, offset = encode_message(1, MAX_MESSAGE_SIZE, FLAG_AUTH, usm, scoped, encrypted=False)

    assert data[offset - 2:offset] == bytes((OCTET_STRING, mac_length))
    assert data[offset:offset + mac_length] == bytes(mac_length)
    assert data[offset + mac_length:offset + mac_length + 2] == b"\x04\x00"


@pytest.mark.parametrize("mac_length", [12, 16, 24, 32, 48])
def test_mac_offset_matches_decoded_place(mac_length: int) -> None:
    mac = bytes(range(1, mac_length + 1))

    data, offset = encode_message(1, MAX_MESSAGE_SIZE, FLAG_AUTH, usm_parameters(mac),
                                  SCOPED_GET, encrypted=False)
    message = decode_message(data)

    assert data[offset:offset + mac_length] == mac
    assert message.auth_start == offset
    assert message.auth_stop == offset + mac_length
    assert message.usm is not None
    assert message.usm.auth_parameters == mac


def test_zeroed_replaces_mac_with_zeros() -> None:
    mac = bytes(range(1, 13))
    signed, _ = encode_message(1, MAX_MESSAGE_SIZE, FLAG_AUTH, usm_parameters(mac), SCOPED_GET,
                               encrypted=False)
    unsigned, _ = encode_message(1, MAX_MESSAGE_SIZE, FLAG_AUTH, usm_parameters(bytes(12)),
                                 SCOPED_GET, encrypted=False)

    message = decode_message(signed)

    assert message.zeroed() == unsigned
    assert message.raw == signed


def test_zeroed_without_mac_is_the_datagram() -> None:
    assert decode_message(DISCOVERY_REPORT).zeroed() == DISCOVERY_REPORT


def test_zeroed_keeps_mac_length_at_each_size() -> None:
    for mac_length in (12, 16, 24, 32, 48):
        mac = b"\xff" * mac_length
        signed, offset = encode_message(1, MAX_MESSAGE_SIZE, FLAG_AUTH, usm_parameters(mac),
                                        SCOPED_GET, encrypted=False)

        zeroed = decode_message(signed).zeroed()

        assert len(zeroed) == len(signed)
        assert zeroed[offset:offset + mac_length] == bytes(mac_length)
        assert zeroed[:offset] == signed[:offset]
        assert zeroed[offset + mac_length:] == signed[offset + mac_length:]


def test_usm_parameters_repr_leaves_out_mac_and_salt() -> None:
    text = repr(usm_parameters(b"\xab" * 12, b"\xcd" * 8))

    assert ENGINE_ID.hex() in text
    assert "ab" * 12 not in text
    assert "cd" * 8 not in text


def test_scoped_pdu_round_trip() -> None:
    pdu = Pdu(PduType.RESPONSE, 5, [VarBind((1, 3, 6, 1, 2, 1, 1, 5, 0), OctetString(b"x"))])

    scoped = decode_scoped_pdu(encode_scoped_pdu(ENGINE_ID, b"ctx", pdu))

    assert scoped == ScopedPdu(ENGINE_ID, b"ctx", pdu)


def test_decode_scoped_pdu_ignores_des_padding() -> None:
    # RFC 3414 8.1.1.2: DES pads the plaintext to 8 octets with unspecified octets.
    padded = SCOPED_GET + b"\xa5" * (-len(SCOPED_GET) % 8 or 8)

    assert decode_scoped_pdu(padded) == decode_scoped_pdu(SCOPED_GET)


# ---------------------------------------------------------------------------------------------
# Encoding faults


@pytest.mark.parametrize(("changes", "words"), [
    ({"msg_id": -1}, "msgID -1"),
    ({"msg_id": INT32_MAX + 1}, "msgID 2147483648"),
    ({"max_size": MIN_MAX_SIZE - 1}, "msgMaxSize 483"),
    ({"max_size": INT32_MAX + 1}, "msgMaxSize 2147483648"),
    ({"flags": FLAG_PRIV}, "msgFlags 0x02"),
    ({"flags": FLAG_PRIV | FLAG_REPORTABLE}, "msgFlags 0x06"),
    ({"flags": 0x08}, "msgFlags 0x08"),
    ({"engine_boots": -1}, "EngineBoots -1"),
    ({"engine_time": INT32_MAX + 1}, "EngineTime 2147483648"),
    ({"user_name": b"u" * 33}, "33 octets"),
], ids=["msg-id-negative", "msg-id-large", "max-size-small", "max-size-large", "priv-only",
        "priv-only-reportable", "reserved-flag", "boots-negative", "time-large", "user-33"])
def test_encode_message_rejects(changes: dict[str, Any], words: str) -> None:
    arguments: dict[str, Any] = {"msg_id": 1, "max_size": MAX_MESSAGE_SIZE, "flags": 0}
    usm_changes = {key: value for key, value in changes.items() if key not in arguments}
    arguments.update((key, value) for key, value in changes.items() if key in arguments)

    with pytest.raises(EncodeError, match=words):
        encode_message(**arguments, usm=usm_parameters(**usm_changes), data=SCOPED_GET,
                       encrypted=False)


def test_encode_message_accepts_32_octet_user_name() -> None:
    data, _ = encode_message(1, MAX_MESSAGE_SIZE, 0, usm_parameters(user_name=b"u" * 32),
                             SCOPED_GET, encrypted=False)

    assert decode_message(data).usm == usm_parameters(user_name=b"u" * 32)


# ---------------------------------------------------------------------------------------------
# Decoding faults, built field by field without encode_message's checks


def raw_usm(*, engine_id: bytes = ENGINE_ID, boots: int = 5, engine_time: int = 1234,
            user_name: bytes = USER_NAME, mac: bytes = bytes(12), salt: bytes = b"",
            mac_tag: int = OCTET_STRING, tail: bytes = b"") -> bytes:
    """Encode UsmSecurityParameters from any values, valid or not."""
    return encode_tlv(SEQUENCE, b"".join((
        encode_tlv(OCTET_STRING, engine_id), encode_integer_tlv(boots),
        encode_integer_tlv(engine_time), encode_tlv(OCTET_STRING, user_name),
        encode_tlv(mac_tag, mac), encode_tlv(OCTET_STRING, salt), tail)))


def raw_message(*, message_tag: int = SEQUENCE, version: int = 3, msg_id: int = 1,
                max_size: int = MAX_MESSAGE_SIZE, flags: bytes = b"\x05",
                security_model: int = USM_SECURITY_MODEL, global_tag: int = SEQUENCE,
                global_tail: bytes = b"", parameters_tag: int = OCTET_STRING,
                parameters: bytes | None = None, msg_data: bytes = SCOPED_GET,
                inner_tail: bytes = b"", tail: bytes = b"") -> bytes:
    """Encode an SNMPv3 message from any values. The defaults give a valid authNoPriv one."""
    global_data = encode_tlv(global_tag, b"".join((
        encode_integer_tlv(msg_id), encode_integer_tlv(max_size), encode_tlv(OCTET_STRING, flags),
        encode_integer_tlv(security_model), global_tail)))
    security = encode_tlv(parameters_tag, raw_usm() if parameters is None else parameters)
    body = encode_integer_tlv(version) + global_data + security + msg_data + inner_tail
    return encode_tlv(message_tag, body) + tail


ENCRYPTED_DATA = encode_tlv(OCTET_STRING, CIPHERTEXT)

# (case, datagram, the field DecodeError must name, words its message must contain)
DECODE_FAULTS = [
    ("privacy-without-auth", raw_message(flags=b"\x02", msg_data=ENCRYPTED_DATA), "msgFlags",
     "privacy without authentication"),
    ("privacy-without-auth-reportable", raw_message(flags=b"\x06", msg_data=ENCRYPTED_DATA),
     "msgFlags", "privacy without authentication"),
    ("flags-of-2-octets", raw_message(flags=b"\x05\x00"), "msgFlags", "2 octets"),
    ("flags-empty", raw_message(flags=b""), "msgFlags", "0 octets"),
    ("max-size-483", raw_message(max_size=483), "msgMaxSize", "483"),
    ("max-size-above-int32", raw_message(max_size=INT32_MAX + 1), "msgMaxSize",
     "2147483648 is outside"),
    ("msg-id-negative", raw_message(msg_id=-1), "msgID", "-1"),
    ("msg-id-above-int32", raw_message(msg_id=INT32_MAX + 1), "msgID",
     "2147483648 is outside"),
    ("user-name-33-octets", raw_message(parameters=raw_usm(user_name=b"u" * 33)), "msgUserName",
     "33 octets"),
    ("trailing-bytes", raw_message(tail=b"\x00\x00"), "message", "2 bytes follow"),
    ("priv-flag-with-plaintext", raw_message(flags=b"\x07"), "msgData", "encrypted"),
    ("no-priv-flag-with-encrypted", raw_message(flags=b"\x05", msg_data=ENCRYPTED_DATA),
     "msgData", "encrypted"),
    ("version-2", raw_message(version=1), "message.version", "not SNMPv3"),
    ("message-not-sequence", raw_message(message_tag=0x31), "message", "0x31"),
    ("global-data-not-sequence", raw_message(global_tag=0x31), "msgGlobalData", "0x31"),
    ("bytes-after-security-model", raw_message(global_tail=encode_integer_tlv(0)),
     "msgGlobalData", "3 bytes follow"),
    ("parameters-not-octet-string", raw_message(parameters_tag=SEQUENCE),
     "msgSecurityParameters", "0x30"),
    ("parameters-not-sequence", raw_message(parameters=encode_tlv(OCTET_STRING, b"x")),
     "UsmSecurityParameters", "SEQUENCE"),
    ("parameters-with-trailing-bytes", raw_message(parameters=raw_usm() + b"\x04\x00"),
     "UsmSecurityParameters", "SEQUENCE"),
    ("bytes-after-privacy-parameters", raw_message(parameters=raw_usm(tail=b"\x04\x00")),
     "UsmSecurityParameters", "2 bytes follow"),
    ("mac-not-octet-string", raw_message(parameters=raw_usm(mac_tag=SEQUENCE)),
     "msgAuthenticationParameters", "0x30"),
    ("boots-negative", raw_message(parameters=raw_usm(boots=-1)), "UsmSecurityParameters",
     "engineBoots"),
    ("time-negative", raw_message(parameters=raw_usm(engine_time=-1)), "UsmSecurityParameters",
     "engineTime"),
    ("boots-above-int32", raw_message(parameters=raw_usm(boots=INT32_MAX + 1)),
     "UsmSecurityParameters", "2147483648"),
    ("time-above-int32", raw_message(parameters=raw_usm(engine_time=INT32_MAX + 1)),
     "UsmSecurityParameters", "2147483648"),
    ("msg-data-integer", raw_message(msg_data=encode_integer_tlv(1)), "msgData", "0x02"),
    ("bytes-after-msg-data", raw_message(inner_tail=b"\x04\x00"), "msgData", "2 bytes follow"),
    ("msg-data-missing", raw_message(msg_data=b""), "msgData", "2 bytes"),
]


def test_raw_message_defaults_decode() -> None:
    # The faults below change one field of this message, so each fails for its own reason.
    message = decode_message(raw_message())

    assert message.flags == FLAG_AUTH | FLAG_REPORTABLE
    assert message.usm == usm_parameters(bytes(12))
    assert message.data == SCOPED_GET


@pytest.mark.parametrize(("data", "field", "words"),
                         [case[1:] for case in DECODE_FAULTS],
                         ids=[case[0] for case in DECODE_FAULTS])
def test_decode_fault_names_field(data: bytes, field: str, words: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_message(data)

    assert caught.value.field == field
    assert words in caught.value.reason
    assert 0 <= caught.value.offset <= len(data)
    assert caught.value.__cause__ is None


def test_decode_other_security_model_has_no_usm() -> None:
    message = decode_message(raw_message(security_model=2, parameters=b"opaque"))

    assert message.security_model == 2
    assert message.usm is None
    assert message.data == SCOPED_GET


TRUNCATION_SOURCES = {
    "discovery-probe": DISCOVERY_PROBE,
    "discovery-report": DISCOVERY_REPORT,
    "auth-priv": encode_with_flags(FLAG_AUTH | FLAG_PRIV | FLAG_REPORTABLE, bytes(48)),
    "long-form": encode_message(1, MAX_MESSAGE_SIZE, FLAG_AUTH, usm_parameters(bytes(12)),
                                encode_scoped_pdu(ENGINE_ID, b"c" * 300, Pdu(PduType.GET, 1, [])),
                                encrypted=False)[0],
    **NETSNMP_V3_PACKETS,
}


@pytest.mark.parametrize("name", sorted(TRUNCATION_SOURCES))
def test_decode_every_truncation_raises_decode_error(name: str) -> None:
    data = TRUNCATION_SOURCES[name]
    decode_message(data)

    for length in range(len(data)):
        with pytest.raises(DecodeError) as caught:
            decode_message(data[:length])
        assert caught.value.__cause__ is None, f"internal decoder error at length {length}"


@pytest.mark.parametrize("name", sorted(TRUNCATION_SOURCES))
def test_decode_msg_id_every_truncation_raises_decode_error(name: str) -> None:
    data = TRUNCATION_SOURCES[name]

    # The outer SEQUENCE's length counts the whole datagram, so even a prefix that contains
    # msgID fails.
    for length in range(len(data)):
        with pytest.raises(DecodeError):
            decode_msg_id(data[:length])


def test_decode_scoped_pdu_every_truncation_raises_decode_error() -> None:
    for length in range(len(SCOPED_GET)):
        with pytest.raises(DecodeError) as caught:
            decode_scoped_pdu(SCOPED_GET[:length])
        assert caught.value.__cause__ is None, f"internal decoder error at length {length}"


@pytest.mark.parametrize(("data", "field"), [
    (encode_tlv(0x31, SCOPED_GET[2:]), "ScopedPDU"),
    (encode_tlv(SEQUENCE, encode_integer_tlv(1) + SCOPED_GET[2 + len(ENGINE_ID) + 2:]),
     "contextEngineID"),
    (encode_tlv(SEQUENCE, SCOPED_GET[2:] + b"\x04\x00"), "ScopedPDU"),
    (encode_tlv(SEQUENCE, encode_tlv(OCTET_STRING, b"") + encode_tlv(OCTET_STRING, b"")),
     "pdu"),
], ids=["not-sequence", "engine-id-integer", "bytes-after-pdu", "pdu-missing"])
def test_decode_scoped_pdu_fault_names_field(data: bytes, field: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_scoped_pdu(data)

    assert caught.value.field == field


# ---------------------------------------------------------------------------------------------
# pyasn1 as an oracle: the ASN.1 of RFC 3412 section 6 and RFC 3414 section 2.4


class HeaderDataAsn1(univ.Sequence):  # type: ignore[misc]
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("msgID", univ.Integer()),
        namedtype.NamedType("msgMaxSize", univ.Integer()),
        namedtype.NamedType("msgFlags", univ.OctetString()),
        namedtype.NamedType("msgSecurityModel", univ.Integer()),
    )


class ScopedPduAsn1(univ.Sequence):  # type: ignore[misc]
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("contextEngineID", univ.OctetString()),
        namedtype.NamedType("contextName", univ.OctetString()),
        namedtype.NamedType("data", Pdus()),
    )


class ScopedPduDataAsn1(univ.Choice):  # type: ignore[misc]
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("plaintext", ScopedPduAsn1()),
        namedtype.NamedType("encryptedPDU", univ.OctetString()),
    )


class SnmpV3MessageAsn1(univ.Sequence):  # type: ignore[misc]
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("msgVersion", univ.Integer()),
        namedtype.NamedType("msgGlobalData", HeaderDataAsn1()),
        namedtype.NamedType("msgSecurityParameters", univ.OctetString()),
        namedtype.NamedType("msgData", ScopedPduDataAsn1()),
    )


class UsmSecurityParametersAsn1(univ.Sequence):  # type: ignore[misc]
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("msgAuthoritativeEngineID", univ.OctetString()),
        namedtype.NamedType("msgAuthoritativeEngineBoots", univ.Integer()),
        namedtype.NamedType("msgAuthoritativeEngineTime", univ.Integer()),
        namedtype.NamedType("msgUserName", univ.OctetString()),
        namedtype.NamedType("msgAuthenticationParameters", univ.OctetString()),
        namedtype.NamedType("msgPrivacyParameters", univ.OctetString()),
    )


class V3Fields(NamedTuple):
    """What encode_message takes, with the PDU itself when msgData is a plaintext ScopedPDU."""

    msg_id: int
    max_size: int
    flags: int
    usm: UsmParameters
    context_engine_id: bytes
    context_name: bytes
    pdu: AnyPdu | None
    """None when msgData is an encryptedPDU."""
    data: bytes

    @property
    def encrypted(self) -> bool:
        return self.pdu is None

    def encode(self) -> bytes:
        message, _ = encode_message(self.msg_id, self.max_size, self.flags, self.usm, self.data,
                                    encrypted=self.encrypted)
        return message


@st.composite
def v3_fields(draw: st.DrawFn) -> V3Fields:
    """Valid SNMPv3 messages with USM, encrypted or not, with any PDU of SNMPv2c."""
    flags = draw(st.sampled_from(VALID_FLAGS))
    usm = UsmParameters(
        engine_id=draw(st.binary(max_size=32)),
        engine_boots=draw(NON_NEGATIVE_INT32),
        engine_time=draw(NON_NEGATIVE_INT32),
        user_name=draw(st.binary(max_size=32)),
        auth_parameters=draw(st.sampled_from([b"", bytes(12), bytes(range(48))])),
        priv_parameters=draw(st.binary(max_size=8)),
    )
    msg_id = draw(NON_NEGATIVE_INT32)
    max_size = draw(st.integers(MIN_MAX_SIZE, INT32_MAX))
    if flags & FLAG_PRIV:
        ciphertext = draw(st.binary(max_size=300))
        return V3Fields(msg_id, max_size, flags, usm, b"", b"", None, ciphertext)
    context_engine_id = draw(st.binary(max_size=32))
    context_name = draw(st.binary(max_size=32))
    pdu = draw(pdus(SnmpVersion.V2C))
    data = encode_scoped_pdu(context_engine_id, context_name, pdu)
    return V3Fields(msg_id, max_size, flags, usm, context_engine_id, context_name, pdu, data)


def pdus_to_asn1(pdu: AnyPdu) -> Any:
    """Build the pyasn1 PDUs CHOICE of a PDU, through the v1/v2c oracle's message converter."""
    return to_asn1(CommunityMessage(SnmpVersion.V2C, b"", pdu))["data"]


def pdu_from_asn1(pdus_choice: Any) -> AnyPdu:
    wrapper = MessageAsn1()
    wrapper["version"] = int(SnmpVersion.V2C)
    wrapper["community"] = b""
    wrapper["data"] = pdus_choice
    return from_asn1(wrapper).pdu


def asn1_encode_v3(fields: V3Fields) -> bytes:
    """Encode the same message with pyasn1's BER encoder."""
    usm = UsmSecurityParametersAsn1()
    usm["msgAuthoritativeEngineID"] = fields.usm.engine_id
    usm["msgAuthoritativeEngineBoots"] = fields.usm.engine_boots
    usm["msgAuthoritativeEngineTime"] = fields.usm.engine_time
    usm["msgUserName"] = fields.usm.user_name
    usm["msgAuthenticationParameters"] = fields.usm.auth_parameters
    usm["msgPrivacyParameters"] = fields.usm.priv_parameters

    message = SnmpV3MessageAsn1()
    message["msgVersion"] = 3
    header = message["msgGlobalData"]
    header["msgID"] = fields.msg_id
    header["msgMaxSize"] = fields.max_size
    header["msgFlags"] = bytes((fields.flags,))
    header["msgSecurityModel"] = USM_SECURITY_MODEL
    message["msgSecurityParameters"] = encoder.encode(usm)
    if fields.pdu is None:
        message["msgData"]["encryptedPDU"] = fields.data
    else:
        scoped = message["msgData"]["plaintext"]
        scoped["contextEngineID"] = fields.context_engine_id
        scoped["contextName"] = fields.context_name
        scoped["data"] = pdus_to_asn1(fields.pdu)
    return bytes(encoder.encode(message))


def asn1_decode_v3(data: bytes) -> V3Fields:
    """Decode a datagram with pyasn1's BER decoder into the fields encode_message takes."""
    message, rest = decoder.decode(data, asn1Spec=SnmpV3MessageAsn1())
    assert not rest
    assert int(message["msgVersion"]) == 3
    header = message["msgGlobalData"]
    assert int(header["msgSecurityModel"]) == USM_SECURITY_MODEL
    params, rest = decoder.decode(bytes(message["msgSecurityParameters"]),
                                  asn1Spec=UsmSecurityParametersAsn1())
    assert not rest
    usm = UsmParameters(
        bytes(params["msgAuthoritativeEngineID"]), int(params["msgAuthoritativeEngineBoots"]),
        int(params["msgAuthoritativeEngineTime"]), bytes(params["msgUserName"]),
        bytes(params["msgAuthenticationParameters"]), bytes(params["msgPrivacyParameters"]))
    msg_id, max_size = int(header["msgID"]), int(header["msgMaxSize"])
    flags = bytes(header["msgFlags"])[0]
    msg_data = message["msgData"]
    if msg_data.getName() == "encryptedPDU":
        ciphertext = bytes(msg_data.getComponent())
        return V3Fields(msg_id, max_size, flags, usm, b"", b"", None, ciphertext)
    scoped = msg_data.getComponent()
    pdu = pdu_from_asn1(scoped["data"])
    return V3Fields(msg_id, max_size, flags, usm, bytes(scoped["contextEngineID"]),
                    bytes(scoped["contextName"]), pdu, b"")


def same_fields(left: V3Fields, right: V3Fields) -> bool:
    """Compare two messages' fields, the PDUs by type and value, and data only when encrypted."""
    header_equal = (left.msg_id, left.max_size, left.flags, left.usm) == (
        right.msg_id, right.max_size, right.flags, right.usm)
    if left.pdu is None or right.pdu is None:
        return header_equal and left.pdu is right.pdu and left.data == right.data
    return (header_equal and (left.context_engine_id, left.context_name) == (
        right.context_engine_id, right.context_name) and same_pdu(left.pdu, right.pdu))


def decoded_fields(data: bytes) -> V3Fields:
    """Decode a datagram with our decoders into the same fields."""
    message = decode_message(data)
    assert message.usm is not None
    if message.encrypted:
        return V3Fields(message.msg_id, message.max_size, message.flags, message.usm, b"", b"",
                        None, message.data)
    scoped = decode_scoped_pdu(message.data)
    return V3Fields(message.msg_id, message.max_size, message.flags, message.usm,
                    scoped.context_engine_id, scoped.context_name, scoped.pdu, b"")


def has_padded_number(fields: V3Fields) -> bool:
    """Tell whether pyasn1 would write a number in the PDU with a redundant leading octet."""
    return fields.pdu is not None and has_pyasn1_padded_number(
        CommunityMessage(SnmpVersion.V2C, b"", fields.pdu))


ORACLE_SETTINGS = settings(max_examples=150, deadline=None,
                           suppress_health_check=[HealthCheck.too_slow])


@given(v3_fields())
@ORACLE_SETTINGS
def test_our_encoding_equals_pyasn1_encoding(fields: V3Fields) -> None:
    assume(not has_padded_number(fields))

    assert fields.encode() == asn1_encode_v3(fields)


@given(v3_fields())
@ORACLE_SETTINGS
def test_pyasn1_decodes_our_encoding(fields: V3Fields) -> None:
    assert same_fields(asn1_decode_v3(fields.encode()), fields)


@given(v3_fields())
@ORACLE_SETTINGS
def test_we_decode_pyasn1_encoding(fields: V3Fields) -> None:
    assume(not has_padded_number(fields))

    assert same_fields(decoded_fields(asn1_encode_v3(fields)), fields)


@pytest.mark.parametrize("data", [DISCOVERY_PROBE, UNREPORTABLE_PROBE, DISCOVERY_REPORT,
                                  DISCOVERY_REPORT_ZERO_TIME, *NETSNMP_V3_PACKETS.values()])
def test_pyasn1_and_we_read_packets_alike(data: bytes) -> None:
    assert same_fields(decoded_fields(data), asn1_decode_v3(data))


# ---------------------------------------------------------------------------------------------
# Fuzzing: the decoders raise DecodeError and nothing else, and never through their net


FUZZ_SEEDS = [DISCOVERY_PROBE, DISCOVERY_REPORT, *TRUNCATION_SOURCES.values(),
              *(encode_with_flags(flags) for flags in VALID_FLAGS)]
FUZZ_SETTINGS = settings(max_examples=1500, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow])
LONG_FUZZ_SETTINGS = settings(max_examples=50_000, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])


def check_scoped_contract(data: bytes) -> None:
    try:
        scoped = decode_scoped_pdu(data)
    except DecodeError as exc:
        assert exc.__cause__ is None, f"internal decoder error on {data.hex()}"
        return
    repr(scoped)


def check_decode_contract(data: bytes) -> None:
    """Decode one datagram and check what every outcome must allow."""
    try:
        message = decode_message(data)
    except DecodeError as exc:
        assert exc.__cause__ is None, f"internal decoder error on {data.hex()}"
        assert 0 <= exc.offset <= len(data)
        str(exc)
        return
    check_decoded(message, data)


def check_decoded(message: V3Message, data: bytes) -> None:
    repr(message)
    assert decode_msg_id(data) == message.msg_id
    assert len(message.zeroed()) == len(data)
    assert 0 <= message.auth_start <= message.auth_stop <= len(data)
    assert message.encrypted is bool(message.flags & FLAG_PRIV)
    if message.usm is not None:
        assert message.usm.auth_parameters == data[message.auth_start:message.auth_stop]
    if not message.encrypted:
        check_scoped_contract(message.data)


@st.composite
def mutated_seeds(draw: st.DrawFn) -> bytes:
    """A seed datagram with a few octets changed, inserted or removed."""
    data = bytearray(draw(st.sampled_from(FUZZ_SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["set", "insert", "delete"]))
        octet = draw(st.sampled_from([0x00, 0x01, 0x02, 0x04, 0x30, 0x7F, 0x80, 0x81, 0x84,
                                      0xFF]) | st.integers(0, 255))
        if action == "insert":
            data[position:position] = bytes((octet,))
        elif position < len(data):
            if action == "set":
                data[position] = octet
            else:
                del data[position]
    return bytes(data)


EDGE_INTEGERS = st.sampled_from([-(2**31), -1, 0, 1, 483, 484, INT32_MAX, INT32_MAX + 1,
                                 2**63]) | st.integers(-(2**40), 2**40)


@st.composite
def odd_messages(draw: st.DrawFn) -> bytes:
    """Well-framed messages with any value in each field, to reach the checks past framing."""
    parameters = raw_usm(
        engine_id=draw(st.binary(max_size=40)), boots=draw(EDGE_INTEGERS),
        engine_time=draw(EDGE_INTEGERS), user_name=draw(st.binary(max_size=40)),
        mac=draw(st.binary(max_size=50)), salt=draw(st.binary(max_size=10)),
        mac_tag=draw(st.sampled_from([OCTET_STRING, SEQUENCE, 0x02])),
    )
    msg_data = draw(st.sampled_from([SCOPED_GET, ENCRYPTED_DATA, b"", encode_tlv(SEQUENCE, b""),
                                     encode_integer_tlv(0)]) | st.binary(max_size=30))
    return raw_message(
        version=draw(st.sampled_from([3, 3, 3, 1, 0, -1])), msg_id=draw(EDGE_INTEGERS),
        max_size=draw(EDGE_INTEGERS), flags=draw(st.binary(max_size=3)),
        security_model=draw(st.sampled_from([USM_SECURITY_MODEL, 0, 2, -3])),
        parameters=draw(st.sampled_from([parameters, parameters, b"", b"\x30\x00"])),
        msg_data=msg_data,
    )


@given(st.binary(max_size=200))
@FUZZ_SETTINGS
def test_fuzz_random_bytes_keep_contract(data: bytes) -> None:
    check_decode_contract(data)
    check_scoped_contract(data)


@given(mutated_seeds())
@FUZZ_SETTINGS
def test_fuzz_mutated_messages_keep_contract(data: bytes) -> None:
    check_decode_contract(data)


@given(odd_messages())
@FUZZ_SETTINGS
def test_fuzz_odd_field_values_keep_contract(data: bytes) -> None:
    check_decode_contract(data)


@given(st.sampled_from([SCOPED_GET, *(decode_message(seed).data for seed in FUZZ_SEEDS
                                      if not decode_message(seed).encrypted)]),
       st.integers(0, 400), st.binary(min_size=1, max_size=4))
@FUZZ_SETTINGS
def test_fuzz_mutated_scoped_pdus_keep_contract(seed: bytes, position: int,
                                                octets: bytes) -> None:
    position %= len(seed)
    check_scoped_contract(seed[:position] + octets + seed[position + len(octets):])


@pytest.mark.slow
@pytest.mark.timeout(600)
@given(st.one_of(mutated_seeds(), odd_messages(), st.binary(max_size=400)))
@LONG_FUZZ_SETTINGS
def test_fuzz_decoders_long_run(data: bytes) -> None:
    check_decode_contract(data)
    check_scoped_contract(data)


# ---------------------------------------------------------------------------------------------
# The fast path of the usual message shape against the full decoder


def check_fast_path_agrees(data: bytes) -> None:
    """`_decode_usual` returns what `_decode_message` returns, or leaves the message to it."""
    try:
        fast = v3_module._decode_usual(data)
    except (v3_module._Unusual, IndexError):
        fast = None
    if fast is None:
        return
    try:
        full = v3_module._decode_message(data)
    except DecodeError as exc:
        raise AssertionError(f"the fast path accepted what the full decoder rejects: {exc}") \
            from exc
    assert fast == full


@pytest.mark.parametrize("name", sorted(TRUNCATION_SOURCES))
def test_fast_path_takes_usual_messages(name: str) -> None:
    data = TRUNCATION_SOURCES[name]
    assert v3_module._decode_usual(data) == v3_module._decode_message(data)


@given(st.one_of(mutated_seeds(), odd_messages()))
@FUZZ_SETTINGS
def test_fuzz_fast_path_agrees_with_full_decoder(data: bytes) -> None:
    check_fast_path_agrees(data)
