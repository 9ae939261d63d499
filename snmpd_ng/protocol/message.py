"""SNMP PDUs and community-based messages (SNMPv1, RFC 1157; SNMPv2c, RFC 1901) in BER.

    Message ::= SEQUENCE { version INTEGER, community OCTET STRING, data PDUs }

SNMPv3 messages (RFC 3412) wrap the same PDUs in a scopedPDU; `encode_pdu` and `decode_pdu` are
public so that the v3 message processing reuses them unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from snmpd_ng.protocol.ber import (
    decode_oid_content,
    decode_value,
    encode_integer_content,
    encode_length,
    encode_oid_content,
    encode_tlv,
    encode_value,
    read_header,
    read_integer,
    read_octet_string,
)
from snmpd_ng.protocol.errors import DecodeError, EncodeError
from snmpd_ng.protocol.pdu import AnyPdu, BulkPdu, Pdu, PduType, TrapV1Pdu
from snmpd_ng.protocol.values import MalformedValue, Tag, VarBind

_PDU_TAGS = frozenset(int(t) for t in PduType)


class SnmpVersion(IntEnum):
    """msgVersion values on the wire."""

    V1 = 0
    V2C = 1
    V3 = 3


@dataclass(slots=True)
class CommunityMessage:
    """An SNMPv1 or SNMPv2c message. `community` is secret: it never appears in repr."""

    version: SnmpVersion
    community: bytes
    pdu: AnyPdu

    def __repr__(self) -> str:
        return f"CommunityMessage(version={self.version.name}, community=<redacted>, pdu={self.pdu!r})"


# ---------------------------------------------------------------------------------------------
# Encoding


def encode_varbinds(varbinds: list[VarBind]) -> bytes:
    """Encode a VarBindList (RFC 3416 section 3)."""
    parts = []
    for oid, value in varbinds:
        body = encode_tlv(Tag.OBJECT_IDENTIFIER, encode_oid_content(oid)) + encode_value(value)
        parts.append(encode_tlv(Tag.SEQUENCE, body))
    return encode_tlv(Tag.SEQUENCE, b"".join(parts))


def _encode_int(value: int) -> bytes:
    return encode_tlv(Tag.INTEGER, encode_integer_content(value))


def encode_pdu(pdu: AnyPdu) -> bytes:
    """Encode a PDU. Raises EncodeError for fields outside their range."""
    if isinstance(pdu, TrapV1Pdu):
        return _encode_trap_v1(pdu)
    if isinstance(pdu, BulkPdu):
        # RFC 3416 section 3: non-repeaters and max-repetitions are INTEGER (0..2147483647).
        for name, number in (("non-repeaters", pdu.non_repeaters),
                             ("max-repetitions", pdu.max_repetitions)):
            if not 0 <= number <= 2**31 - 1:
                raise EncodeError(f"GETBULK {name} {number} is outside 0..2147483647")
        fields = (pdu.request_id, pdu.non_repeaters, pdu.max_repetitions)
    else:
        fields = (pdu.request_id, pdu.error_status, pdu.error_index)

    if not -(2**31) <= pdu.request_id <= 2**31 - 1:
        raise EncodeError(f"request-id {pdu.request_id} is outside Integer32's range")
    body = b"".join(_encode_int(number) for number in fields) + encode_varbinds(pdu.varbinds)
    return encode_tlv(pdu.pdu_type, body)


def _encode_trap_v1(pdu: TrapV1Pdu) -> bytes:
    if len(pdu.agent_address) != 4:
        raise EncodeError(f"agent-addr must be 4 octets, got {len(pdu.agent_address)}")
    body = b"".join((
        encode_tlv(Tag.OBJECT_IDENTIFIER, encode_oid_content(pdu.enterprise)),
        encode_tlv(Tag.IP_ADDRESS, pdu.agent_address),
        _encode_int(pdu.generic_trap),
        _encode_int(pdu.specific_trap),
        encode_tlv(Tag.TIMETICKS, encode_integer_content(pdu.time_stamp)),
        encode_varbinds(pdu.varbinds),
    ))
    return encode_tlv(PduType.TRAP_V1, body)


def encode_message(message: CommunityMessage) -> bytes:
    """Encode an SNMPv1 or SNMPv2c message."""
    if message.version == SnmpVersion.V3:
        raise EncodeError("SNMPv3 messages are not community-based; use the v3 message processing")
    if message.version == SnmpVersion.V1 and isinstance(message.pdu, BulkPdu):
        raise EncodeError("GETBULK does not exist in SNMPv1; use GETNEXT or SNMPv2c")
    body = (
        _encode_int(message.version)
        + encode_tlv(Tag.OCTET_STRING, message.community)
        + encode_pdu(message.pdu)
    )
    return b"\x30" + encode_length(len(body)) + body


# ---------------------------------------------------------------------------------------------
# Decoding


def decode_message(data: bytes) -> CommunityMessage:
    """Decode an SNMPv1 or SNMPv2c message from one datagram.

    Raises DecodeError, and no other exception, when the framing is broken or the version is not
    1 or 2c; values that break their type's rules come back as MalformedValue inside the varbinds.
    """
    try:
        return _decode_message(data)
    except DecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - the contract is that only DecodeError escapes
        raise DecodeError(f"internal decoder error {type(exc).__name__}: {exc}",
                          field="message", offset=0) from exc


def decode_version(data: bytes) -> int:
    """Read msgVersion alone, so a caller can hand v3 messages to the v3 message processing."""
    tag, start, stop = read_header(data, 0, len(data), "message")
    if tag != Tag.SEQUENCE:
        raise DecodeError(f"expected SEQUENCE (0x30), got tag 0x{tag:02x}", field="message",
                          offset=0)
    version, _ = read_integer(data, start, stop, "message.version")
    return version


def _decode_message(data: bytes) -> CommunityMessage:
    end = len(data)
    tag, start, stop = read_header(data, 0, end, "message")
    if tag != Tag.SEQUENCE:
        raise DecodeError(f"expected SEQUENCE (0x30), got tag 0x{tag:02x}", field="message",
                          offset=0)
    if stop != end:
        raise DecodeError(f"{end - stop} bytes follow the message", field="message", offset=stop)

    version, pos = read_integer(data, start, stop, "message.version")
    if version not in (SnmpVersion.V1, SnmpVersion.V2C):
        raise DecodeError(
            f"version {version} is not a community-based SNMP version (0 = v1, 1 = v2c)",
            field="message.version", offset=start,
        )
    community, pos = read_octet_string(data, pos, stop, "message.community")
    pdu, pos = decode_pdu(data, pos, stop)
    if pos != stop:
        raise DecodeError(f"{stop - pos} bytes follow the PDU", field="message", offset=pos)
    return CommunityMessage(SnmpVersion(version), community, pdu)


def decode_pdu(data: bytes, pos: int, end: int) -> tuple[AnyPdu, int]:
    """Decode the PDU at data[pos:end]; return it and the position after it."""
    tag, start, stop = read_header(data, pos, end, "pdu")
    if tag not in _PDU_TAGS:
        raise DecodeError(f"unknown PDU tag 0x{tag:02x}", field="pdu", offset=pos)
    if tag == PduType.TRAP_V1:
        return _decode_trap_v1(data, start, stop), stop

    request_id, cursor = read_integer(data, start, stop, "pdu.request-id")
    second, cursor = read_integer(data, cursor, stop, "pdu.error-status")
    third, cursor = read_integer(data, cursor, stop, "pdu.error-index")
    varbinds, cursor = decode_varbinds(data, cursor, stop)
    if cursor != stop:
        raise DecodeError(f"{stop - cursor} bytes follow the varbind list", field="pdu",
                          offset=cursor)
    if tag == PduType.GET_BULK:
        return BulkPdu(request_id, second, third, varbinds), stop
    return Pdu(PduType(tag), request_id, varbinds, second, third), stop


def _decode_trap_v1(data: bytes, start: int, stop: int) -> TrapV1Pdu:
    tag, oid_start, cursor = read_header(data, start, stop, "trap.enterprise")
    if tag != Tag.OBJECT_IDENTIFIER:
        raise DecodeError(f"expected OBJECT IDENTIFIER, got tag 0x{tag:02x}",
                          field="trap.enterprise", offset=start)
    enterprise, _ = decode_oid_content(data, oid_start, cursor)

    tag, addr_start, addr_stop = read_header(data, cursor, stop, "trap.agent-addr")
    if tag != Tag.IP_ADDRESS:
        raise DecodeError(f"expected IpAddress, got tag 0x{tag:02x}", field="trap.agent-addr",
                          offset=cursor)
    agent_address = data[addr_start:addr_stop]

    generic, cursor = read_integer(data, addr_stop, stop, "trap.generic-trap")
    specific, cursor = read_integer(data, cursor, stop, "trap.specific-trap")
    tag, ts_start, ts_stop = read_header(data, cursor, stop, "trap.time-stamp")
    if tag != Tag.TIMETICKS:
        raise DecodeError(f"expected TimeTicks, got tag 0x{tag:02x}", field="trap.time-stamp",
                          offset=cursor)
    time_stamp = int.from_bytes(data[ts_start:ts_stop], "big")
    varbinds, cursor = decode_varbinds(data, ts_stop, stop)
    return TrapV1Pdu(enterprise, agent_address, generic, specific, time_stamp, varbinds)


def decode_varbinds(data: bytes, pos: int, end: int) -> tuple[list[VarBind], int]:
    """Decode a VarBindList; return the varbinds and the position after the list."""
    tag, start, stop = read_header(data, pos, end, "pdu.varbind-list")
    if tag != Tag.SEQUENCE:
        raise DecodeError(f"expected SEQUENCE (0x30), got tag 0x{tag:02x}",
                          field="pdu.varbind-list", offset=pos)
    varbinds: list[VarBind] = []
    cursor = start
    while cursor < stop:
        try:
            varbind, cursor = _decode_varbind(data, cursor, stop)
        except DecodeError as exc:
            raise DecodeError(exc.reason, field=f"varbind[{len(varbinds)}].{exc.field}",
                              offset=exc.offset) from None
        varbinds.append(varbind)
    return varbinds, stop


def _decode_varbind(data: bytes, pos: int, end: int) -> tuple[VarBind, int]:
    tag, start, stop = read_header(data, pos, end, "sequence")
    if tag != Tag.SEQUENCE:
        raise DecodeError(f"expected SEQUENCE (0x30), got tag 0x{tag:02x}", field="sequence",
                          offset=pos)
    tag, name_start, name_stop = read_header(data, start, stop, "name")
    if tag != Tag.OBJECT_IDENTIFIER:
        raise DecodeError(f"expected OBJECT IDENTIFIER (0x06), got tag 0x{tag:02x}", field="name",
                          offset=start)
    oid, name_problem = decode_oid_content(data, name_start, name_stop)

    tag, value_start, value_stop = read_header(data, name_stop, stop, "value")
    if value_stop != stop:
        raise DecodeError(f"{stop - value_stop} bytes follow the value", field="value",
                          offset=value_stop)
    value = decode_value(tag, data, name_stop, value_start, value_stop)
    if name_problem is not None:
        value = MalformedValue(tag, data[name_stop:value_stop], f"name: {name_problem}", value)
    return VarBind(oid, value), stop
