"""SNMP PDUs and community-based messages (SNMPv1, RFC 1157; SNMPv2c, RFC 1901) in BER.

    Message ::= SEQUENCE { version INTEGER, community OCTET STRING, data PDUs }

SNMPv3 messages (RFC 3412) wrap the same PDUs in a scopedPDU; `encode_pdu` and `decode_pdu` are
public so that the v3 message processing reuses them unchanged. `decode_version` returns a
datagram's version, so that a caller can pick the message processing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from snmpd_ng.protocol.ber import (
    INT32_MAX,
    INT32_MIN,
    UINT32_MAX,
    decode_oid_content,
    encode_integer_content,
    encode_integer_tlv,
    encode_length,
    encode_oid_tlv,
    encode_tlv,
    read_header,
    read_integer,
    read_octet_string,
)
from snmpd_ng.protocol.errors import DecodeError, EncodeError
from snmpd_ng.protocol.oid import format_oid
from snmpd_ng.protocol.pdu import AnyPdu, BulkPdu, Pdu, PduType, TrapV1Pdu
from snmpd_ng.protocol.values import Counter64, ExceptionValue, IpAddress, Tag
from snmpd_ng.protocol.varbinds import decode_varbinds, encode_varbinds

__all__ = [
    "CommunityMessage",
    "SnmpVersion",
    "decode_message",
    "decode_pdu",
    "decode_varbinds",
    "decode_version",
    "encode_message",
    "encode_pdu",
    "encode_varbinds",
]

_PDU_TYPES = {int(pdu_type): pdu_type for pdu_type in PduType}
_PDU_TAG_OCTETS = {pdu_type: bytes((pdu_type,)) for pdu_type in PduType}
# A plain int: reading an enum member is a slow attribute lookup on the encoding hot path.
_OCTET_STRING = int(Tag.OCTET_STRING)


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
        return (
            f"CommunityMessage(version={self.version.name}, community=<redacted>, "
            f"pdu={self.pdu!r})"
        )


_COMMUNITY_VERSIONS = {0: SnmpVersion.V1, 1: SnmpVersion.V2C}


# ---------------------------------------------------------------------------------------------
# Encoding


def encode_pdu(pdu: AnyPdu) -> bytes:
    """Encode a PDU. Raises EncodeError for fields outside their range."""
    if isinstance(pdu, TrapV1Pdu):
        return _encode_trap_v1(pdu)
    if isinstance(pdu, BulkPdu):
        # RFC 3416 section 3: non-repeaters and max-repetitions are INTEGER (0..2147483647).
        second, third = pdu.non_repeaters, pdu.max_repetitions
        names = ("GETBULK non-repeaters", "GETBULK max-repetitions")
    else:
        second, third = pdu.error_status, pdu.error_index
        names = ("error-status", "error-index")
    if not (INT32_MIN <= pdu.request_id <= INT32_MAX and 0 <= second <= INT32_MAX
            and 0 <= third <= INT32_MAX):
        _check_range("request-id", pdu.request_id, INT32_MIN, INT32_MAX)
        _check_range(names[0], second, 0, INT32_MAX)
        _check_range(names[1], third, 0, INT32_MAX)

    body = b"".join((
        encode_integer_tlv(pdu.request_id),
        encode_integer_tlv(second),
        encode_integer_tlv(third),
        encode_varbinds(pdu.varbinds),
    ))
    return b"".join((_PDU_TAG_OCTETS[pdu.pdu_type], encode_length(len(body)), body))


def _check_range(name: str, number: int, low: int, high: int) -> None:
    if not low <= number <= high:
        raise EncodeError(f"{name} {number} is outside {low}..{high}")


def _encode_trap_v1(pdu: TrapV1Pdu) -> bytes:
    """Encode an SNMPv1 Trap-PDU (RFC 1157 section 4.1.6)."""
    if len(pdu.agent_address) != 4:
        raise EncodeError(f"agent-addr must be 4 octets, got {len(pdu.agent_address)}")
    _check_range("generic-trap", pdu.generic_trap, 0, 6)
    _check_range("specific-trap", pdu.specific_trap, INT32_MIN, INT32_MAX)
    _check_range("time-stamp", pdu.time_stamp, 0, UINT32_MAX)
    body = b"".join((
        encode_oid_tlv(pdu.enterprise),
        encode_tlv(Tag.IP_ADDRESS, bytes(pdu.agent_address)),
        encode_integer_tlv(pdu.generic_trap),
        encode_integer_tlv(pdu.specific_trap),
        encode_tlv(Tag.TIMETICKS, encode_integer_content(pdu.time_stamp)),
        encode_varbinds(pdu.varbinds),
    ))
    return encode_tlv(PduType.TRAP_V1, body)


def encode_message(message: CommunityMessage) -> bytes:
    """Encode an SNMPv1 or SNMPv2c message. Raises EncodeError for what SNMP cannot carry."""
    version = message.version
    if version != SnmpVersion.V1 and version != SnmpVersion.V2C:
        raise EncodeError(
            f"version {version!r} is not community-based; SNMPv3 uses the v3 message processing"
        )
    if version == SnmpVersion.V1:
        _check_v1_pdu(message.pdu)
    body = b"".join((
        encode_integer_tlv(version),
        encode_tlv(_OCTET_STRING, message.community),
        encode_pdu(message.pdu),
    ))
    return b"".join((b"\x30", encode_length(len(body)), body))


# RFC 1157 section 4.1 defines only these PDUs; SNMPv1 also has no Counter64 and no exception
# values, which came with SNMPv2.
_V1_PDU_TYPES = frozenset((PduType.GET, PduType.GET_NEXT, PduType.RESPONSE, PduType.SET,
                           PduType.TRAP_V1))


def _check_v1_pdu(pdu: AnyPdu) -> None:
    """Raise EncodeError for what SNMPv1 cannot carry."""
    if pdu.pdu_type not in _V1_PDU_TYPES:
        raise EncodeError(f"{pdu.pdu_type.name} does not exist in SNMPv1; use SNMPv2c")
    for oid, value in pdu.varbinds:
        if isinstance(value, (Counter64, ExceptionValue)):
            raise EncodeError(
                f"SNMPv1 cannot carry {value!r} (varbind {format_oid(oid)}); use SNMPv2c"
            )


# ---------------------------------------------------------------------------------------------
# Decoding


def decode_message(data: bytes | bytearray | memoryview) -> CommunityMessage:
    """Decode an SNMPv1 or SNMPv2c message from one datagram.

    Raises DecodeError, and no other exception, when the framing is broken or the version is not
    1 or 2c; values that break their type's rules come back as MalformedValue inside the varbinds.
    """
    try:
        return _decode_message(bytes(data) if type(data) is not bytes else data)
    except DecodeError:
        raise
    except Exception as exc:
        raise _internal_error(exc, "message") from exc


def decode_pdu(data: bytes, pos: int, end: int) -> tuple[AnyPdu, int]:
    """Decode the PDU at data[pos:end]; return it and the position after it.

    Raises DecodeError and no other exception, like `decode_message`.
    """
    try:
        return _decode_pdu(data, pos, end)
    except DecodeError:
        raise
    except Exception as exc:
        raise _internal_error(exc, "pdu") from exc


def _internal_error(exc: Exception, field: str) -> DecodeError:
    # The decoder's contract is that only DecodeError escapes. Reaching this is a decoder bug;
    # the fuzz tests check that no input gets here.
    return DecodeError(
        f"internal decoder error ({type(exc).__name__}); please report it with the datagram",
        field=field, offset=0,
    )


def decode_version(data: bytes) -> int:
    """Read msgVersion alone, so a caller can hand v3 messages to the v3 message processing.

    Raises DecodeError when the message header or the version cannot be read.
    """
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

    number, pos = read_integer(data, start, stop, "message.version")
    version = _COMMUNITY_VERSIONS.get(number)
    if version is None:
        raise DecodeError(
            f"version {number} is not a community-based SNMP version (0 = v1, 1 = v2c)",
            field="message.version", offset=start,
        )
    community, pos = read_octet_string(data, pos, stop, "message.community")
    pdu, pos = _decode_pdu(data, pos, stop)
    if pos != stop:
        raise DecodeError(f"{stop - pos} bytes follow the PDU", field="message", offset=pos)
    return CommunityMessage(version, community, pdu)


def _decode_pdu(data: bytes, pos: int, end: int) -> tuple[AnyPdu, int]:
    tag, start, stop = read_header(data, pos, end, "pdu")
    pdu_type = _PDU_TYPES.get(tag)
    if pdu_type is None:
        raise DecodeError(f"unknown PDU tag 0x{tag:02x}", field="pdu", offset=pos)
    if pdu_type is PduType.TRAP_V1:
        return _decode_trap_v1(data, start, stop), stop

    request_id, second, third, cursor = _read_pdu_integers(data, start, stop)
    varbinds, cursor = decode_varbinds(data, cursor, stop)
    if cursor != stop:
        raise DecodeError(f"{stop - cursor} bytes follow the varbind list", field="pdu",
                          offset=cursor)
    if pdu_type is PduType.GET_BULK:
        return BulkPdu(request_id, second, third, varbinds), stop
    return Pdu(pdu_type, request_id, varbinds, second, third), stop


def _read_pdu_integers(data: bytes, start: int, stop: int) -> tuple[int, int, int, int]:
    """Read request-id, error-status and error-index (non-repeaters and max-repetitions in a
    GetBulk); return them and the position after them."""
    # Fast path: 02 LL <request-id of 1 to 4 octets> 02 01 XX 02 01 YY, as almost every agent
    # sends it.
    cursor = start + 2 + (data[start + 1] if start + 2 <= stop else 0)
    if (
        cursor + 6 <= stop
        and data[start] == 0x02
        and 0 < cursor - start - 2 <= 4
        and data[cursor:cursor + 2] == b"\x02\x01"
        and data[cursor + 3:cursor + 5] == b"\x02\x01"
    ):
        request_id = int.from_bytes(data[start + 2:cursor], "big", signed=True)
        # One octet in two's complement: 0x80..0xFF are -128..-1.
        second = (data[cursor + 2] ^ 0x80) - 0x80
        third = (data[cursor + 5] ^ 0x80) - 0x80
        return request_id, second, third, cursor + 6

    request_id, cursor = read_integer(data, start, stop, "pdu.request-id")
    second, cursor = read_integer(data, cursor, stop, "pdu.error-status")
    third, cursor = read_integer(data, cursor, stop, "pdu.error-index")
    return request_id, second, third, cursor


def _decode_trap_v1(data: bytes, start: int, stop: int) -> TrapV1Pdu:
    """Decode an SNMPv1 Trap-PDU body (RFC 1157 section 4.1.6)."""
    tag, oid_start, cursor = read_header(data, start, stop, "trap.enterprise")
    if tag != Tag.OBJECT_IDENTIFIER:
        raise DecodeError(f"expected OBJECT IDENTIFIER, got tag 0x{tag:02x}",
                          field="trap.enterprise", offset=start)
    # The trap has no place to flag a bad enterprise, so it is a framing fault here.
    enterprise, problem = decode_oid_content(data, oid_start, cursor)
    if problem is not None:
        raise DecodeError(problem, field="trap.enterprise", offset=oid_start)

    tag, addr_start, addr_stop = read_header(data, cursor, stop, "trap.agent-addr")
    if tag != Tag.IP_ADDRESS:
        raise DecodeError(f"expected IpAddress, got tag 0x{tag:02x}", field="trap.agent-addr",
                          offset=cursor)
    agent_address = IpAddress(data[addr_start:addr_stop])

    generic, cursor = read_integer(data, addr_stop, stop, "trap.generic-trap")
    specific, cursor = read_integer(data, cursor, stop, "trap.specific-trap")
    time_stamp, cursor = _read_time_stamp(data, cursor, stop)
    varbinds, cursor = decode_varbinds(data, cursor, stop)
    if cursor != stop:
        raise DecodeError(f"{stop - cursor} bytes follow the varbind list", field="trap",
                          offset=cursor)
    return TrapV1Pdu(enterprise, agent_address, generic, specific, time_stamp, varbinds)


def _read_time_stamp(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """Read the trap's TimeTicks time-stamp as an unsigned number, like the varbind values."""
    tag, start, stop = read_header(data, pos, end, "trap.time-stamp")
    if tag != Tag.TIMETICKS:
        raise DecodeError(f"expected TimeTicks (0x43), got tag 0x{tag:02x}",
                          field="trap.time-stamp", offset=pos)
    if not 0 < stop - start <= 5:
        raise DecodeError(f"TimeTicks of {stop - start} octets (1 to 5 expected)",
                          field="trap.time-stamp", offset=start)
    return int.from_bytes(data[start:stop], "big"), stop
