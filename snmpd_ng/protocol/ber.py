"""BER encoding and decoding of SNMP values (X.690, as restricted by RFC 3417 section 8).

Encoding is strict: definite lengths in their minimal form, minimal two's complement integers and
values checked against their type's range. Decoding follows X.690 for framing, so a length that
runs past its container, an indefinite length or a missing octet raises `DecodeError` with the
field and byte offset, but it is lenient about values. What real agents get wrong inside one value
turns that value into a `MalformedValue` and leaves its siblings alone:

- long-form lengths with more octets than needed (accepted silently, RFC 3417 section 8 allows it);
- INTEGER and unsigned contents with redundant leading 0x00 or 0xFF octets (accepted silently);
- unsigned types (Counter32, Gauge32, TimeTicks, Counter64) whose top bit is set without the 0x00
  pad: flagged, with the octets read as an unsigned number as the lenient value;
- integers outside their type's range: flagged, with the number as the lenient value;
- an empty INTEGER, NULL with content, an IpAddress that is not 4 octets: flagged, no value;
- an empty OBJECT IDENTIFIER: flagged, with 0.0 (zeroDotZero) as the lenient value;
- OID sub-identifiers with a 0x80 lead octet or above 2^32-1: flagged, with the arcs as read;
- an unknown tag: flagged, raw bytes kept.
"""

from __future__ import annotations

import struct

from snmpd_ng.protocol.errors import DecodeError, EncodeError
from snmpd_ng.protocol.oid import MAX_SUBIDENTIFIER, MAX_SUBIDENTIFIERS, Oid, validate_for_encoding
from snmpd_ng.protocol.values import (
    END_OF_MIB_VIEW,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    NULL,
    Counter32,
    Counter64,
    ExceptionValue,
    Gauge32,
    Integer32,
    IpAddress,
    MalformedValue,
    Null,
    ObjectIdentifier,
    OctetString,
    Opaque,
    SnmpValue,
    Tag,
    TimeTicks,
)

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1

# Inner tags after 0x9F in net-snmp's Opaque-wrapped values (net-snmp's asn1.h, ASN_OPAQUE_*).
OPAQUE_COUNTER64 = 0x76
OPAQUE_FLOAT = 0x78
OPAQUE_DOUBLE = 0x79
OPAQUE_INT64 = 0x7A
OPAQUE_UINT64 = 0x7B


# ---------------------------------------------------------------------------------------------
# Encoding


def encode_length(length: int) -> bytes:
    """Encode a definite length in its minimal form (X.690 section 8.1.3)."""
    if length < 0x80:
        return bytes((length,))
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(octets),)) + octets


def encode_tlv(tag: int, content: bytes) -> bytes:
    """Encode one TLV with a single-octet identifier."""
    length = len(content)
    if length < 0x80:
        return bytes((tag, length)) + content
    return bytes((tag,)) + encode_length(length) + content


def encode_integer_content(value: int) -> bytes:
    """Encode an integer as minimal two's complement content octets (X.690 section 8.3.2)."""
    if value >= 0:
        size = value.bit_length() // 8 + 1
    else:
        size = (~value).bit_length() // 8 + 1
    return value.to_bytes(size, "big", signed=True)


def encode_oid_content(oid: Oid) -> bytes:
    """Encode OID content octets (X.690 section 8.19): the first two arcs share one sub-identifier."""
    validate_for_encoding(oid)
    out = bytearray()
    for arc in (oid[0] * 40 + oid[1], *oid[2:]):
        if arc < 0x80:
            out.append(arc)
            continue
        chunk = bytearray((arc & 0x7F,))
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        chunk.reverse()
        out += chunk
    return bytes(out)


def _encode_ranged(tag: int, value: int, low: int, high: int, type_name: str) -> bytes:
    if not low <= value <= high:
        raise EncodeError(f"{type_name} value {value} is outside {low}..{high}")
    return encode_tlv(tag, encode_integer_content(value))


def encode_value(value: SnmpValue | int | bytes | str) -> bytes:
    """Encode a varbind value as a TLV.

    A plain `int` is sent as Integer32, `bytes` as OCTET STRING and `str` as UTF-8 OCTET STRING.
    Raises EncodeError when the value is outside its type's range.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return _encode_int_value(value)
    if isinstance(value, bytes):
        return _encode_bytes_value(value)
    if isinstance(value, str):
        return encode_tlv(Tag.OCTET_STRING, value.encode("utf-8"))
    if isinstance(value, ObjectIdentifier):
        return encode_tlv(Tag.OBJECT_IDENTIFIER, encode_oid_content(value))
    if isinstance(value, Null):
        return b"\x05\x00"
    if isinstance(value, ExceptionValue):
        return bytes((value.tag, 0))
    if isinstance(value, MalformedValue):
        return value.raw
    raise EncodeError(f"cannot encode {type(value).__name__} value {value!r} as an SNMP value")


def _encode_int_value(value: int) -> bytes:
    if isinstance(value, Counter32):
        return _encode_ranged(Tag.COUNTER32, value, 0, UINT32_MAX, "Counter32")
    if isinstance(value, Gauge32):
        return _encode_ranged(Tag.GAUGE32, value, 0, UINT32_MAX, "Gauge32")
    if isinstance(value, TimeTicks):
        return _encode_ranged(Tag.TIMETICKS, value, 0, UINT32_MAX, "TimeTicks")
    if isinstance(value, Counter64):
        return _encode_ranged(Tag.COUNTER64, value, 0, UINT64_MAX, "Counter64")
    return _encode_ranged(Tag.INTEGER, value, INT32_MIN, INT32_MAX, "Integer32")


def _encode_bytes_value(value: bytes) -> bytes:
    if isinstance(value, IpAddress):
        if len(value) != 4:
            raise EncodeError(f"IpAddress must be 4 octets, got {len(value)}")
        return encode_tlv(Tag.IP_ADDRESS, bytes(value))
    if isinstance(value, Opaque):
        return encode_tlv(Tag.OPAQUE, bytes(value))
    return encode_tlv(Tag.OCTET_STRING, bytes(value))


def encode_opaque_float(number: float) -> Opaque:
    """Wrap a float as net-snmp does: Opaque containing 0x9F 0x78, length 4, IEEE 754 single."""
    return Opaque(b"\x9f\x78\x04" + struct.pack(">f", number), number, OPAQUE_FLOAT)


def encode_opaque_double(number: float) -> Opaque:
    """Wrap a double as net-snmp does: Opaque containing 0x9F 0x79, length 8, IEEE 754 double."""
    return Opaque(b"\x9f\x79\x08" + struct.pack(">d", number), number, OPAQUE_DOUBLE)


# ---------------------------------------------------------------------------------------------
# Decoding: framing


def read_header(data: bytes, pos: int, end: int, field: str) -> tuple[int, int, int]:
    """Read the identifier and length of the TLV at `pos`, which must end by `end`.

    Returns (tag, content_start, content_end). The tag of a multi-octet identifier is its octets
    as one big-endian integer (0x9F78). Raises DecodeError on an indefinite or overrunning length.
    """
    if end - pos < 2:
        raise DecodeError(f"a TLV needs at least 2 bytes, {end - pos} left", field=field, offset=pos)
    start = pos
    tag = data[pos]
    pos += 1
    if tag & 0x1F == 0x1F:
        tag, pos = _read_long_tag(data, pos, end, tag, field)

    if pos >= end:
        raise DecodeError("the length octet is missing", field=field, offset=pos)
    length = data[pos]
    pos += 1
    if length & 0x80:
        length, pos = _read_long_length(data, pos, end, length & 0x7F, field)

    if length > end - pos:
        raise DecodeError(
            f"length {length} runs past the end of its container ({end - pos} bytes left, "
            f"TLV starts at byte {start})",
            field=field,
            offset=pos,
        )
    return tag, pos, pos + length


def _read_long_tag(data: bytes, pos: int, end: int, tag: int, field: str) -> tuple[int, int]:
    # X.690 section 8.1.2.4: subsequent octets carry bit 8 while more follow. Four are plenty for
    # any tag SNMP peers use; more is garbage.
    for _ in range(4):
        if pos >= end:
            raise DecodeError("the identifier is truncated", field=field, offset=pos)
        octet = data[pos]
        pos += 1
        tag = (tag << 8) | octet
        if not octet & 0x80:
            return tag, pos
    raise DecodeError("the identifier is longer than 5 octets", field=field, offset=pos)


def _read_long_length(data: bytes, pos: int, end: int, count: int, field: str) -> tuple[int, int]:
    if count == 0:
        raise DecodeError(
            "indefinite length (0x80) is not allowed in SNMP (RFC 3417 section 8)",
            field=field, offset=pos - 1,
        )
    if count > end - pos:
        raise DecodeError(
            f"the long-form length needs {count} octets, {end - pos} left", field=field, offset=pos
        )
    length = int.from_bytes(data[pos:pos + count], "big")
    return length, pos + count


def read_integer(data: bytes, pos: int, end: int, field: str) -> tuple[int, int]:
    """Read an INTEGER that is part of the framing (version, request-id, error-status, ...).

    Returns (value, position after it). Unlike a varbind value, a bad one here is a DecodeError.
    """
    tag, start, stop = read_header(data, pos, end, field)
    if tag != Tag.INTEGER:
        raise DecodeError(f"expected INTEGER (0x02), got tag 0x{tag:02x}", field=field, offset=pos)
    if start == stop:
        raise DecodeError("INTEGER has no content octets", field=field, offset=start)
    return int.from_bytes(data[start:stop], "big", signed=True), stop


def read_octet_string(data: bytes, pos: int, end: int, field: str) -> tuple[bytes, int]:
    """Read an OCTET STRING that is part of the framing (community, engine ID, ...)."""
    tag, start, stop = read_header(data, pos, end, field)
    if tag != Tag.OCTET_STRING:
        raise DecodeError(
            f"expected OCTET STRING (0x04), got tag 0x{tag:02x}", field=field, offset=pos
        )
    return data[start:stop], stop


# ---------------------------------------------------------------------------------------------
# Decoding: OIDs and values


def decode_oid_content(data: bytes, start: int, stop: int) -> tuple[Oid, str | None]:
    """Decode OID content octets leniently (X.690 section 8.19).

    Returns the arcs and None, or the arcs as read and the rule they break. An empty content gives
    (0, 0), the zeroDotZero that agents mean by it.
    """
    if start == stop:
        return (0, 0), "empty OBJECT IDENTIFIER (read as 0.0)"

    arcs: list[int] = []
    problem: str | None = None
    value = 0
    at_start = True
    for octet in data[start:stop]:
        if at_start and octet == 0x80:
            problem = "sub-identifier with a 0x80 lead octet (X.690 section 8.19.2)"
        value = (value << 7) | (octet & 0x7F)
        at_start = not octet & 0x80
        if at_start:
            arcs.append(value)
            value = 0
    if not at_start:
        return tuple(arcs) or (0, 0), "the last sub-identifier is truncated"

    first = arcs[0]
    if first < 40:
        head: tuple[int, ...] = (0, first)
    elif first < 80:
        head = (1, first - 40)
    else:
        head = (2, first - 80)
    oid = head + tuple(arcs[1:])

    if len(oid) > MAX_SUBIDENTIFIERS:
        problem = f"{len(oid)} sub-identifiers, more than {MAX_SUBIDENTIFIERS} (RFC 2578 section 3.5)"
    elif any(arc > MAX_SUBIDENTIFIER for arc in oid):
        problem = "a sub-identifier is above 2^32-1 (RFC 2578 section 3.5)"
    return oid, problem


def decode_value(tag: int, data: bytes, tlv_start: int, start: int, stop: int) -> SnmpValue:
    """Decode one varbind value whose TLV spans data[tlv_start:stop] and content data[start:stop]."""
    if tag == Tag.OCTET_STRING:
        return OctetString(data[start:stop])
    decoder = _VALUE_DECODERS.get(tag)
    if decoder is None:
        return MalformedValue(tag, data[tlv_start:stop], f"unknown type tag 0x{tag:02x}")
    return decoder(tag, data, tlv_start, start, stop)


def _decode_integer32(tag: int, data: bytes, tlv_start: int, start: int, stop: int) -> SnmpValue:
    if start == stop:
        return MalformedValue(tag, data[tlv_start:stop], "INTEGER has no content octets")
    number = int.from_bytes(data[start:stop], "big", signed=True)
    if INT32_MIN <= number <= INT32_MAX:
        return Integer32(number)
    return MalformedValue(
        tag, data[tlv_start:stop], f"INTEGER {number} is outside Integer32's range", number
    )


def _decode_unsigned(tag: int, data: bytes, tlv_start: int, start: int, stop: int) -> SnmpValue:
    kind = _UNSIGNED_TYPES[tag]
    limit = UINT64_MAX if tag == Tag.COUNTER64 else UINT32_MAX
    if start == stop:
        return MalformedValue(tag, data[tlv_start:stop], f"{kind.__name__} has no content octets")

    number = int.from_bytes(data[start:stop], "big")
    if data[start] & 0x80:
        reason = f"{kind.__name__} encoded as a negative number (no 0x00 pad); read as unsigned"
        lenient = kind(number) if number <= limit else None
        return MalformedValue(tag, data[tlv_start:stop], reason, lenient)
    if number > limit:
        reason = f"{kind.__name__} {number} is above {limit}"
        return MalformedValue(tag, data[tlv_start:stop], reason, number)
    return kind(number)


def _decode_null(tag: int, data: bytes, tlv_start: int, start: int, stop: int) -> SnmpValue:
    if start != stop:
        return MalformedValue(tag, data[tlv_start:stop], "NULL with content octets", NULL)
    return NULL


def _decode_oid_value(tag: int, data: bytes, tlv_start: int, start: int, stop: int) -> SnmpValue:
    oid, problem = decode_oid_content(data, start, stop)
    if problem is None:
        return ObjectIdentifier(oid)
    return MalformedValue(tag, data[tlv_start:stop], problem, ObjectIdentifier(oid))


def _decode_ip_address(tag: int, data: bytes, tlv_start: int, start: int, stop: int) -> SnmpValue:
    if stop - start != 4:
        return MalformedValue(
            tag, data[tlv_start:stop], f"IpAddress has {stop - start} octets instead of 4"
        )
    return IpAddress(data[start:stop])


def _decode_opaque(tag: int, data: bytes, tlv_start: int, start: int, stop: int) -> SnmpValue:
    payload = data[start:stop]
    inner_tag, inner = decode_opaque_payload(payload)
    return Opaque(payload, inner, inner_tag)


def decode_opaque_payload(payload: bytes) -> tuple[int | None, float | int | None]:
    """Read net-snmp's Opaque-wrapped float, double or 64-bit integer, if the payload is one.

    Returns (inner tag, number), or (None, None) for any other payload, which stays raw.
    """
    if len(payload) < 3 or payload[0] != 0x9F or payload[2] != len(payload) - 3:
        return None, None
    inner_tag = payload[1]
    body = payload[3:]
    if inner_tag == OPAQUE_FLOAT and len(body) == 4:
        return inner_tag, float(struct.unpack(">f", body)[0])
    if inner_tag == OPAQUE_DOUBLE and len(body) == 8:
        return inner_tag, float(struct.unpack(">d", body)[0])
    if inner_tag in (OPAQUE_COUNTER64, OPAQUE_UINT64) and 0 < len(body) <= 9:
        return inner_tag, int.from_bytes(body, "big")
    if inner_tag == OPAQUE_INT64 and 0 < len(body) <= 8:
        return inner_tag, int.from_bytes(body, "big", signed=True)
    return None, None


def _decode_exception(tag: int, data: bytes, tlv_start: int, start: int, stop: int) -> SnmpValue:
    value = _EXCEPTIONS[tag]
    if start != stop:
        return MalformedValue(tag, data[tlv_start:stop], f"{value.name} with content octets", value)
    return value


_UNSIGNED_TYPES: dict[int, type[int]] = {
    Tag.COUNTER32: Counter32,
    Tag.GAUGE32: Gauge32,
    Tag.TIMETICKS: TimeTicks,
    Tag.COUNTER64: Counter64,
}

_EXCEPTIONS = {
    Tag.NO_SUCH_OBJECT: NO_SUCH_OBJECT,
    Tag.NO_SUCH_INSTANCE: NO_SUCH_INSTANCE,
    Tag.END_OF_MIB_VIEW: END_OF_MIB_VIEW,
}

_VALUE_DECODERS = {
    Tag.INTEGER: _decode_integer32,
    Tag.NULL: _decode_null,
    Tag.OBJECT_IDENTIFIER: _decode_oid_value,
    Tag.IP_ADDRESS: _decode_ip_address,
    Tag.COUNTER32: _decode_unsigned,
    Tag.GAUGE32: _decode_unsigned,
    Tag.TIMETICKS: _decode_unsigned,
    Tag.COUNTER64: _decode_unsigned,
    Tag.OPAQUE: _decode_opaque,
    Tag.NO_SUCH_OBJECT: _decode_exception,
    Tag.NO_SUCH_INSTANCE: _decode_exception,
    Tag.END_OF_MIB_VIEW: _decode_exception,
}
