"""Check our USM keys, MACs and ciphers against packets that net-snmp 5.9.3 exchanged.

tests/data/v3/captured.json contains GET requests and responses between net-snmp's snmpget and
snmpd, with the users' test passphrases (regenerate it with tests/data/v3/capture.py). pyasn1
only finds the fields. snmpd_ng.security derives the keys, verifies each MAC and decrypts each
scopedPDU, so a pass means that two independent implementations agree. The last two classes
run our own v3 codec and USM procedures on the same packets.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# pyasn1 ships without type hints.
from pyasn1.codec.ber import decoder  # type: ignore[import-untyped]
from pyasn1.type import namedtype, tag, univ  # type: ignore[import-untyped]

from snmpd_ng.protocol import v3
from snmpd_ng.protocol.errors import DecodeError
from snmpd_ng.protocol.pdu import Pdu, PduType
from snmpd_ng.protocol.values import OctetString
from snmpd_ng.secret import Secret
from snmpd_ng.security import auth, priv, usm
from snmpd_ng.security.credentials import AUTH_KEY_LENGTHS, UsmUser
from snmpd_ng.security.engine import EngineState
from snmpd_ng.security.keys import (
    PRIV_KEY_LENGTHS,
    AuthProtocol,
    PrivProtocol,
    localized_auth_key,
    localized_priv_key,
)
from snmpd_ng.security.usm import Incoming, LocalizedKeys

CAPTURE_PATH = Path(__file__).parent / "data" / "v3" / "captured.json"
CAPTURE: dict[str, Any] = json.loads(CAPTURE_PATH.read_text(encoding="utf-8"))
ENGINE_ID = bytes.fromhex(CAPTURE["engine_id"])
EXCHANGES: list[dict[str, Any]] = CAPTURE["exchanges"]

# msgFlags bits (RFC 3412 section 6.4).
AUTH_FLAG = 0x01
PRIV_FLAG = 0x02
REPORTABLE_FLAG = 0x04
LEVEL_FLAGS = {"noAuthNoPriv": 0x00, "authNoPriv": AUTH_FLAG, "authPriv": AUTH_FLAG | PRIV_FLAG}

# Context-specific tag numbers of the PDUs (RFC 3416 section 3).
GET_REQUEST_TAG = 0
RESPONSE_TAG = 2
REPORT_TAG = 8

USM_STATS_UNKNOWN_ENGINE_IDS = univ.ObjectIdentifier("1.3.6.1.6.3.15.1.1.4.0")
COUNTER32_TAG_OCTET = 0x41
WRONG_PASSPHRASE = Secret("not-the-passphrase")

# The minimum set of captures: (auth protocol, priv protocol), with None for a level without it.
REQUIRED_PAIRS = {
    ("MD5", "DES"),
    ("SHA", "AES"),
    ("SHA-224", "AES-192"),
    ("SHA-256", "AES-256"),
    ("SHA-384", "AES-192-C"),
    ("SHA-512", "AES-256-C"),
    ("SHA-256", None),
    (None, None),
}


# pyasn1 specifications of the fields the tests read. An Any field keeps its whole encoding
# (tag, length and contents), so the tests see the octets that were on the wire.
class HeaderDataAsn1(univ.Sequence):  # type: ignore[misc]
    """RFC 3412 HeaderData."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("msgID", univ.Integer()),
        namedtype.NamedType("msgMaxSize", univ.Integer()),
        namedtype.NamedType("msgFlags", univ.OctetString()),
        namedtype.NamedType("msgSecurityModel", univ.Integer()),
    )


class SnmpV3MessageAsn1(univ.Sequence):  # type: ignore[misc]
    """RFC 3412 SNMPv3Message, with msgData (a scopedPDU or an encryptedPDU) left encoded."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("msgVersion", univ.Integer()),
        namedtype.NamedType("msgGlobalData", HeaderDataAsn1()),
        namedtype.NamedType("msgSecurityParameters", univ.OctetString()),
        namedtype.NamedType("msgData", univ.Any()),
    )


class UsmSecurityParametersAsn1(univ.Sequence):  # type: ignore[misc]
    """RFC 3414 UsmSecurityParameters, the contents of msgSecurityParameters."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("msgAuthoritativeEngineID", univ.OctetString()),
        namedtype.NamedType("msgAuthoritativeEngineBoots", univ.Integer()),
        namedtype.NamedType("msgAuthoritativeEngineTime", univ.Integer()),
        namedtype.NamedType("msgUserName", univ.OctetString()),
        namedtype.NamedType("msgAuthenticationParameters", univ.OctetString()),
        namedtype.NamedType("msgPrivacyParameters", univ.OctetString()),
    )


class ScopedPduAsn1(univ.Sequence):  # type: ignore[misc]
    """RFC 3412 ScopedPDU, with the PDU left encoded."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("contextEngineID", univ.OctetString()),
        namedtype.NamedType("contextName", univ.OctetString()),
        namedtype.NamedType("data", univ.Any()),
    )


class VarBindAsn1(univ.Sequence):  # type: ignore[misc]
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("name", univ.ObjectIdentifier()),
        namedtype.NamedType("value", univ.Any()),
    )


class VarBindListAsn1(univ.SequenceOf):  # type: ignore[misc]
    componentType = VarBindAsn1()


class PduAsn1(univ.Sequence):  # type: ignore[misc]
    """RFC 3416 PDU without its tag, which pdu_spec adds for each PDU type."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("request-id", univ.Integer()),
        namedtype.NamedType("error-status", univ.Integer()),
        namedtype.NamedType("error-index", univ.Integer()),
        namedtype.NamedType("variable-bindings", VarBindListAsn1()),
    )


def pdu_spec(tag_number: int) -> PduAsn1:
    """Return the spec of the PDU with context-specific constructed tag `tag_number`."""
    pdu_tag = tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, tag_number)
    return PduAsn1().subtype(implicitTag=pdu_tag)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Message:
    """The fields of one captured SNMPv3 message that the tests check."""

    octets: bytes
    msg_id: int
    flags: int
    engine_id: bytes
    engine_boots: int
    engine_time: int
    user_name: bytes
    auth_parameters: bytes
    priv_parameters: bytes
    msg_data: bytes
    """The encoded scopedPDU, or the encoded OCTET STRING of the encryptedPDU."""


@dataclass(frozen=True)
class DecodedPdu:
    context_engine_id: bytes
    tag_number: int
    request_id: int
    error_status: int
    varbinds: list[tuple[univ.ObjectIdentifier, bytes]]
    """(name, encoded value) pairs."""


def parse_message(hex_octets: str) -> Message:
    octets = bytes.fromhex(hex_octets)
    message, rest = decoder.decode(octets, asn1Spec=SnmpV3MessageAsn1())
    assert rest == b"", "trailing octets after the message"

    security = message["msgSecurityParameters"].asOctets()
    usm_parameters, rest = decoder.decode(security, asn1Spec=UsmSecurityParametersAsn1())
    assert rest == b"", "trailing octets after UsmSecurityParameters"

    header = message["msgGlobalData"]
    return Message(
        octets=octets,
        msg_id=int(header["msgID"]),
        flags=header["msgFlags"].asOctets()[0],
        engine_id=usm_parameters["msgAuthoritativeEngineID"].asOctets(),
        engine_boots=int(usm_parameters["msgAuthoritativeEngineBoots"]),
        engine_time=int(usm_parameters["msgAuthoritativeEngineTime"]),
        user_name=usm_parameters["msgUserName"].asOctets(),
        auth_parameters=usm_parameters["msgAuthenticationParameters"].asOctets(),
        priv_parameters=usm_parameters["msgPrivacyParameters"].asOctets(),
        msg_data=message["msgData"].asOctets(),
    )


def decode_scoped_pdu(plaintext: bytes) -> DecodedPdu:
    """Decode a scopedPDU; DES padding after it is ignored, as RFC 3414 8.1.1.2 allows."""
    scoped, _ = decoder.decode(plaintext, asn1Spec=ScopedPduAsn1())
    encoded_pdu = scoped["data"].asOctets()
    tag_number = encoded_pdu[0] & 0x1F
    pdu, rest = decoder.decode(encoded_pdu, asn1Spec=pdu_spec(tag_number))
    assert rest == b"", "trailing octets after the PDU"

    varbinds = [(vb["name"], vb["value"].asOctets()) for vb in pdu["variable-bindings"]]
    return DecodedPdu(
        context_engine_id=scoped["contextEngineID"].asOctets(),
        tag_number=tag_number,
        request_id=int(pdu["request-id"]),
        error_status=int(pdu["error-status"]),
        varbinds=varbinds,
    )


def zero_mac(message: Message) -> bytes:
    """Return the message with msgAuthenticationParameters set to zeros, as it was signed."""
    mac = message.auth_parameters
    assert message.octets.count(mac) == 1, "the MAC octets occur more than once in the message"
    return message.octets.replace(mac, bytes(len(mac)))


@functools.cache
def auth_key(protocol: AuthProtocol, passphrase: str) -> bytes:
    return localized_auth_key(protocol, Secret(passphrase), ENGINE_ID)


@functools.cache
def priv_key(auth_protocol: AuthProtocol, priv_protocol: PrivProtocol, passphrase: str) -> bytes:
    return localized_priv_key(auth_protocol, priv_protocol, Secret(passphrase), ENGINE_ID)


def exchange_auth_protocol(exchange: dict[str, Any]) -> AuthProtocol:
    return AuthProtocol(exchange["auth_protocol"])


def exchange_priv_protocol(exchange: dict[str, Any]) -> PrivProtocol:
    return PrivProtocol(exchange["priv_protocol"])


def exchange_priv_key(exchange: dict[str, Any]) -> bytes:
    return priv_key(
        exchange_auth_protocol(exchange),
        exchange_priv_protocol(exchange),
        exchange["priv_passphrase"],
    )


def decrypt_with(protocol: PrivProtocol, key: bytes, message: Message) -> bytes:
    ciphertext, rest = decoder.decode(message.msg_data, asn1Spec=univ.OctetString())
    assert rest == b"", "trailing octets after the encryptedPDU"
    return priv.decrypt(
        protocol,
        key,
        ciphertext.asOctets(),
        message.priv_parameters,
        engine_boots=message.engine_boots,
        engine_time=message.engine_time,
    )


def scoped_pdu_octets(exchange: dict[str, Any], message: Message) -> bytes:
    """Return the plaintext scopedPDU of a message, decrypted with our keys if it is encrypted."""
    if not message.flags & PRIV_FLAG:
        return message.msg_data
    return decrypt_with(exchange_priv_protocol(exchange), exchange_priv_key(exchange), message)


def printed_string(exchange: dict[str, Any]) -> bytes:
    """Return the OCTET STRING value that snmpget printed: `OID = STRING: "VALUE"`."""
    match = re.fullmatch(r'\S+ = STRING: "(.*)"', exchange["printed"])
    assert match is not None, f"unexpected snmpget output {exchange['printed']!r}"
    return match.group(1).encode("utf-8")


def exchange_id(exchange: dict[str, Any]) -> str:
    return str(exchange["user"])


def messages_of(exchanges: list[dict[str, Any]]) -> list[Any]:
    """Return pytest params of (exchange, direction) for the request and the response."""
    return [
        pytest.param(exchange, direction, id=f"{exchange['user']}-{direction}")
        for exchange in exchanges
        for direction in ("request", "response")
    ]


AUTHENTICATED = [exchange for exchange in EXCHANGES if exchange["level"] != "noAuthNoPriv"]
ENCRYPTED = [exchange for exchange in EXCHANGES if exchange["level"] == "authPriv"]
all_exchanges = pytest.mark.parametrize("exchange", EXCHANGES, ids=exchange_id)
all_messages = pytest.mark.parametrize(("exchange", "direction"), messages_of(EXCHANGES))
authenticated_messages = pytest.mark.parametrize(
    ("exchange", "direction"), messages_of(AUTHENTICATED)
)
encrypted_messages = pytest.mark.parametrize(("exchange", "direction"), messages_of(ENCRYPTED))


def test_capture_covers_required_pairs() -> None:
    pairs = {(exchange["auth_protocol"], exchange["priv_protocol"]) for exchange in EXCHANGES}
    assert pairs >= REQUIRED_PAIRS


@all_messages
def test_message_names_engine_and_user(exchange: dict[str, Any], direction: str) -> None:
    message = parse_message(exchange[direction])
    assert message.engine_id == ENGINE_ID
    assert message.user_name == exchange["user"].encode()


@all_messages
def test_message_flags_match_level(exchange: dict[str, Any], direction: str) -> None:
    message = parse_message(exchange[direction])
    expected = LEVEL_FLAGS[exchange["level"]]
    if direction == "request":
        expected |= REPORTABLE_FLAG
    assert message.flags == expected


@all_exchanges
def test_response_echoes_msg_id(exchange: dict[str, Any]) -> None:
    request = parse_message(exchange["request"])
    response = parse_message(exchange["response"])
    assert response.msg_id == request.msg_id


@authenticated_messages
def test_mac_has_protocol_length(exchange: dict[str, Any], direction: str) -> None:
    message = parse_message(exchange[direction])
    assert len(message.auth_parameters) == auth.MAC_LENGTHS[exchange_auth_protocol(exchange)]


@authenticated_messages
def test_mac_verifies_with_our_key(exchange: dict[str, Any], direction: str) -> None:
    message = parse_message(exchange[direction])
    protocol = exchange_auth_protocol(exchange)
    key = auth_key(protocol, exchange["auth_passphrase"])
    assert auth.verify(protocol, key, zero_mac(message), message.auth_parameters)


@authenticated_messages
def test_mac_fails_with_wrong_passphrase(exchange: dict[str, Any], direction: str) -> None:
    message = parse_message(exchange[direction])
    protocol = exchange_auth_protocol(exchange)
    key = localized_auth_key(protocol, WRONG_PASSPHRASE, ENGINE_ID)
    assert not auth.verify(protocol, key, zero_mac(message), message.auth_parameters)


@authenticated_messages
def test_mac_fails_on_changed_octet(exchange: dict[str, Any], direction: str) -> None:
    message = parse_message(exchange[direction])
    protocol = exchange_auth_protocol(exchange)
    key = auth_key(protocol, exchange["auth_passphrase"])
    changed = bytearray(zero_mac(message))
    changed[-1] ^= 0x01
    assert not auth.verify(protocol, key, bytes(changed), message.auth_parameters)


@pytest.mark.parametrize(
    ("exchange", "direction"),
    messages_of([exchange for exchange in EXCHANGES if exchange["level"] == "noAuthNoPriv"]),
)
def test_noauth_message_has_no_mac_or_salt(exchange: dict[str, Any], direction: str) -> None:
    message = parse_message(exchange[direction])
    assert message.auth_parameters == b""
    assert message.priv_parameters == b""


@pytest.mark.parametrize(
    "exchange",
    [exchange for exchange in ENCRYPTED if exchange["priv_protocol"] == "DES"],
    ids=exchange_id,
)
def test_des_salt_of_response_starts_with_boots(exchange: dict[str, Any]) -> None:
    # RFC 3414 8.1.1.1: the DES salt is the encrypting engine's snmpEngineBoots (4 octets) and
    # a local integer. Only the response's boots is in the capture: snmpget puts its own
    # engineBoots into the request's salt, not the agent's.
    message = parse_message(exchange["response"])
    assert message.priv_parameters[:4] == message.engine_boots.to_bytes(4, "big")


@encrypted_messages
def test_scoped_pdu_decrypts_to_sequence(exchange: dict[str, Any], direction: str) -> None:
    plaintext = scoped_pdu_octets(exchange, parse_message(exchange[direction]))
    assert plaintext[0] == 0x30
    assert decode_scoped_pdu(plaintext).context_engine_id == ENGINE_ID


@all_exchanges
def test_request_is_get_of_oid(exchange: dict[str, Any]) -> None:
    request = parse_message(exchange["request"])
    pdu = decode_scoped_pdu(scoped_pdu_octets(exchange, request))
    assert pdu.context_engine_id == ENGINE_ID
    assert pdu.tag_number == GET_REQUEST_TAG
    assert [name for name, _ in pdu.varbinds] == [univ.ObjectIdentifier(exchange["oid"][1:])]


@all_exchanges
def test_response_has_printed_value(exchange: dict[str, Any]) -> None:
    request = decode_scoped_pdu(scoped_pdu_octets(exchange, parse_message(exchange["request"])))
    response = decode_scoped_pdu(scoped_pdu_octets(exchange, parse_message(exchange["response"])))
    assert response.tag_number == RESPONSE_TAG
    assert response.request_id == request.request_id
    assert response.error_status == 0

    [(name, encoded_value)] = response.varbinds
    value, _ = decoder.decode(encoded_value, asn1Spec=univ.OctetString())
    assert name == univ.ObjectIdentifier(exchange["oid"][1:])
    assert value.asOctets() == printed_string(exchange)


@encrypted_messages
def test_decrypt_with_wrong_passphrase_differs(exchange: dict[str, Any], direction: str) -> None:
    message = parse_message(exchange[direction])
    protocol = exchange_priv_protocol(exchange)
    wrong_key = localized_priv_key(
        exchange_auth_protocol(exchange), protocol, WRONG_PASSPHRASE, ENGINE_ID
    )
    right = decrypt_with(protocol, exchange_priv_key(exchange), message)
    assert decrypt_with(protocol, wrong_key, message) != right


# The Blumenthal and Reeder key extensions agree on the octets the hash gives and differ on the
# octets they add. A capture whose hash is shorter than its AES key decrypts only with its own
# extension, and one whose hash is long enough decrypts with either.
OTHER_EXTENSION = {
    PrivProtocol.AES192: PrivProtocol.AES192C,
    PrivProtocol.AES256: PrivProtocol.AES256C,
    PrivProtocol.AES192C: PrivProtocol.AES192,
    PrivProtocol.AES256C: PrivProtocol.AES256,
}
EXTENDED = [
    exchange for exchange in ENCRYPTED if PrivProtocol(exchange["priv_protocol"]) in OTHER_EXTENSION
]


@pytest.mark.parametrize("exchange", EXTENDED, ids=exchange_id)
def test_other_key_extension_decrypts_only_long_hash(exchange: dict[str, Any]) -> None:
    message = parse_message(exchange["request"])
    auth_protocol = exchange_auth_protocol(exchange)
    protocol = exchange_priv_protocol(exchange)
    other_key = priv_key(auth_protocol, OTHER_EXTENSION[protocol], exchange["priv_passphrase"])
    is_extended = AUTH_KEY_LENGTHS[auth_protocol] < PRIV_KEY_LENGTHS[protocol]

    right = decrypt_with(protocol, exchange_priv_key(exchange), message)
    other = decrypt_with(protocol, other_key, message)
    assert (other == right) is not is_extended


def test_capture_exercises_both_extensions() -> None:
    users = {exchange["user"] for exchange in EXTENDED}
    assert "priv_md5_aes256" in users
    assert "priv_sha_aes256c" in users


class TestDiscovery:
    """The probe that snmpget sent before its first GET, and snmpd's report."""

    probe = parse_message(CAPTURE["discovery"]["probe"])
    report = parse_message(CAPTURE["discovery"]["report"])

    def test_probe_is_reportable_noauth(self) -> None:
        assert self.probe.flags == REPORTABLE_FLAG

    def test_probe_has_empty_engine_and_user(self) -> None:
        assert self.probe.engine_id == b""
        assert self.probe.user_name == b""
        assert self.probe.engine_boots == 0
        assert self.probe.engine_time == 0

    def test_probe_is_empty_get(self) -> None:
        pdu = decode_scoped_pdu(self.probe.msg_data)
        assert pdu.tag_number == GET_REQUEST_TAG
        assert pdu.varbinds == []

    def test_report_is_not_reportable(self) -> None:
        assert self.report.flags == 0

    def test_report_names_agent_engine(self) -> None:
        assert self.report.engine_id == ENGINE_ID
        assert self.report.msg_id == self.probe.msg_id

    def test_report_has_boots_and_time(self) -> None:
        # capture.py restarts the agent once and waits 5.5 s, so the AES IVs of the captures
        # contain two distinct values above 1, and a swap or a dropped field shows.
        assert self.report.engine_boots > 1
        assert self.report.engine_time > 1
        assert self.report.engine_boots != self.report.engine_time

    def test_report_counts_unknown_engine_id(self) -> None:
        pdu = decode_scoped_pdu(self.report.msg_data)
        assert pdu.tag_number == REPORT_TAG
        assert pdu.request_id == decode_scoped_pdu(self.probe.msg_data).request_id

        [(name, encoded_value)] = pdu.varbinds
        assert name == USM_STATS_UNKNOWN_ENGINE_IDS
        assert encoded_value[0] == COUNTER32_TAG_OCTET


# Our own codec and USM procedures on the same packets: snmpd_ng.protocol.v3 must read every
# packet as pyasn1 does, and snmpd_ng.security.usm must open every response and build the same
# requests as net-snmp.
ALL_PACKETS = [
    pytest.param(CAPTURE["discovery"]["probe"], id="discovery-probe"),
    pytest.param(CAPTURE["discovery"]["report"], id="discovery-report"),
    *(
        pytest.param(exchange[direction], id=f"{exchange['user']}-{direction}")
        for exchange in EXCHANGES
        for direction in ("request", "response")
    ),
]
all_packets = pytest.mark.parametrize("hex_octets", ALL_PACKETS)


def exchange_usm_user(exchange: dict[str, Any]) -> UsmUser:
    auth_passphrase, priv_passphrase = exchange["auth_passphrase"], exchange["priv_passphrase"]
    return UsmUser(
        name=exchange["user"],
        auth_protocol=AuthProtocol(exchange["auth_protocol"]) if auth_passphrase else None,
        auth_key=Secret(auth_passphrase) if auth_passphrase else None,
        priv_protocol=PrivProtocol(exchange["priv_protocol"]) if priv_passphrase else None,
        priv_key=Secret(priv_passphrase) if priv_passphrase else None,
    )


def exchange_keys(
    exchange: dict[str, Any], priv_protocol: PrivProtocol | None = None
) -> LocalizedKeys:
    """Derive the exchange's keys for the capture's engine.

    A `priv_protocol` other than the exchange's gives the privacy key of that protocol's key
    extension, as a user who picked the wrong AES variant would have.
    """
    if exchange["auth_protocol"] is None:
        return LocalizedKeys(None, b"", None, b"")
    auth_protocol = exchange_auth_protocol(exchange)
    key = auth_key(auth_protocol, exchange["auth_passphrase"])
    if exchange["priv_protocol"] is None:
        return LocalizedKeys(auth_protocol, key, None, b"")
    protocol = priv_protocol or exchange_priv_protocol(exchange)
    return LocalizedKeys(
        auth_protocol, key, protocol, priv_key(auth_protocol, protocol, exchange["priv_passphrase"])
    )


def opened_response(exchange: dict[str, Any]) -> Incoming:
    message = v3.decode_message(bytes.fromhex(exchange["response"]))
    return usm.incoming_message(
        message, exchange_usm_user(exchange), exchange_keys(exchange), ENGINE_ID
    )


class TestOurDecoder:
    @all_packets
    def test_decode_matches_pyasn1(self, hex_octets: str) -> None:
        expected = parse_message(hex_octets)
        message = v3.decode_message(bytes.fromhex(hex_octets))
        assert message.usm is not None
        assert message.msg_id == expected.msg_id
        assert message.flags == expected.flags
        assert message.encrypted == bool(expected.flags & PRIV_FLAG)
        assert message.usm.engine_id == expected.engine_id
        assert message.usm.engine_boots == expected.engine_boots
        assert message.usm.engine_time == expected.engine_time
        assert message.usm.user_name == expected.user_name
        assert message.usm.auth_parameters == expected.auth_parameters
        assert message.usm.priv_parameters == expected.priv_parameters

    @all_packets
    def test_decode_reads_net_snmp_max_size(self, hex_octets: str) -> None:
        # net-snmp 5.9.3 advertises the largest UDP payload over IPv4, as we do.
        assert v3.decode_message(bytes.fromhex(hex_octets)).max_size == usm.MAX_MESSAGE_SIZE

    @authenticated_messages
    def test_zeroed_matches_located_mac(self, exchange: dict[str, Any], direction: str) -> None:
        message = v3.decode_message(bytes.fromhex(exchange[direction]))
        assert message.zeroed() == zero_mac(parse_message(exchange[direction]))

    @all_packets
    def test_encode_reproduces_packet(self, hex_octets: str) -> None:
        octets = bytes.fromhex(hex_octets)
        message = v3.decode_message(octets)
        assert message.usm is not None
        encoded, _ = v3.encode_message(
            message.msg_id,
            message.max_size,
            message.flags,
            message.usm,
            message.data,
            encrypted=message.encrypted,
        )
        assert encoded == octets

    @all_packets
    def test_truncated_packet_raises_decode_error(self, hex_octets: str) -> None:
        octets = bytes.fromhex(hex_octets)
        for length in range(len(octets)):
            with pytest.raises(DecodeError):
                v3.decode_message(octets[:length])

    @all_exchanges
    def test_decoded_request_is_get_of_oid(self, exchange: dict[str, Any]) -> None:
        message = v3.decode_message(bytes.fromhex(exchange["request"]))
        assert message.usm is not None
        plaintext = message.data
        if message.encrypted:
            plaintext = priv.decrypt(
                exchange_priv_protocol(exchange),
                exchange_priv_key(exchange),
                message.data,
                message.usm.priv_parameters,
                engine_boots=message.usm.engine_boots,
                engine_time=message.usm.engine_time,
            )

        scoped = v3.decode_scoped_pdu(plaintext)
        assert scoped.context_engine_id == ENGINE_ID
        assert scoped.pdu.pdu_type is PduType.GET
        assert isinstance(scoped.pdu, Pdu)
        assert [varbind.oid for varbind in scoped.pdu.varbinds] == [oid_of(exchange)]


def oid_of(exchange: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(arc) for arc in exchange["oid"].strip(".").split("."))


class TestOurUsm:
    @all_exchanges
    def test_response_opens_with_printed_value(self, exchange: dict[str, Any]) -> None:
        pdu = opened_response(exchange).scoped.pdu
        assert isinstance(pdu, Pdu)
        assert pdu.pdu_type is PduType.RESPONSE
        assert pdu.error_status == 0
        assert [varbind.oid for varbind in pdu.varbinds] == [oid_of(exchange)]
        assert pdu.varbinds[0].value == OctetString(printed_string(exchange))

    @all_exchanges
    def test_response_authenticated_above_noauth(self, exchange: dict[str, Any]) -> None:
        expected = exchange["level"] != "noAuthNoPriv"
        assert opened_response(exchange).authenticated is expected

    @pytest.mark.parametrize("exchange", AUTHENTICATED, ids=exchange_id)
    def test_response_with_wrong_auth_key_rejected(self, exchange: dict[str, Any]) -> None:
        message = v3.decode_message(bytes.fromhex(exchange["response"]))
        right = exchange_keys(exchange)
        wrong = LocalizedKeys(
            right.auth_protocol,
            localized_auth_key(exchange_auth_protocol(exchange), WRONG_PASSPHRASE, ENGINE_ID),
            right.priv_protocol,
            right.priv_key,
        )
        with pytest.raises(usm.Rejected) as caught:
            usm.incoming_message(message, exchange_usm_user(exchange), wrong, ENGINE_ID)
        assert caught.value.reason == "authentication_failed"

    @pytest.mark.parametrize(
        "exchange",
        [
            exchange
            for exchange in EXTENDED
            if AUTH_KEY_LENGTHS[exchange_auth_protocol(exchange)]
            < PRIV_KEY_LENGTHS[exchange_priv_protocol(exchange)]
        ],
        ids=exchange_id,
    )
    def test_response_with_other_extension_rejected(self, exchange: dict[str, Any]) -> None:
        message = v3.decode_message(bytes.fromhex(exchange["response"]))
        other = exchange_keys(exchange, OTHER_EXTENSION[exchange_priv_protocol(exchange)])
        with pytest.raises(usm.Rejected) as caught:
            usm.incoming_message(message, exchange_usm_user(exchange), other, ENGINE_ID)
        assert caught.value.reason == "decryption_failed"

    @pytest.mark.parametrize(
        "exchange",
        [exchange for exchange in EXCHANGES if exchange["priv_protocol"] != "DES"],
        ids=exchange_id,
    )
    def test_outgoing_request_equals_net_snmp(self, exchange: dict[str, Any]) -> None:
        # With net-snmp's msgID, request-id, salt and the engine's boots and time, our request
        # is the same octets. DES is left out: net-snmp puts its own engineBoots into the salt
        # and pads with the padding length, where we pad with zeros.
        captured = bytes.fromhex(exchange["request"])
        message = v3.decode_message(captured)
        assert message.usm is not None
        scoped = v3.decode_scoped_pdu(
            scoped_pdu_octets(exchange, parse_message(exchange["request"]))
        )
        engine = EngineState(
            engine_id=ENGINE_ID,
            boots=message.usm.engine_boots,
            time=message.usm.engine_time,
            learned_at=0.0,
        )
        user = exchange_usm_user(exchange)
        request = usm.outgoing_request(
            user,
            user.security_level,
            exchange_keys(exchange),
            engine,
            scoped.pdu,
            message.msg_id,
            context_engine_id=scoped.context_engine_id,
            context_name=scoped.context_name,
            now=0.0,
            salt=int.from_bytes(message.usm.priv_parameters or bytes(8), "big"),
        )
        assert request == captured

    def test_discovery_request_equals_net_snmp(self) -> None:
        probe = bytes.fromhex(CAPTURE["discovery"]["probe"])
        message = v3.decode_message(probe)
        pdu = v3.decode_scoped_pdu(message.data).pdu
        assert isinstance(pdu, Pdu)
        assert usm.discovery_request(message.msg_id, pdu.request_id) == probe

    def test_discovery_report_is_unknown_engine_id(self) -> None:
        report = v3.decode_message(bytes.fromhex(CAPTURE["discovery"]["report"]))
        pdu = v3.decode_scoped_pdu(report.data).pdu
        assert isinstance(pdu, Pdu)
        assert usm.classify_report(pdu) == (
            usm.ReportKind.UNKNOWN_ENGINE_ID,
            "usmStatsUnknownEngineIDs",
        )
