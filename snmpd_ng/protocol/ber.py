"""BER encoding and decoding of SNMP values (X.690, as restricted by RFC 3417 section 8).

Encoding is strict: definite lengths in their minimal form, minimal two's complement integers and
values checked against their type's range. Decoding follows X.690 for framing, so a length that
runs past its container, an indefinite length or a missing octet raises `DecodeError` with the
field and byte offset. Inside one varbind value it is lenient, because real agents get values
wrong: docs/protocol.md lists every tolerated deviation and what the decoder returns for it.

Each value decoder exists twice. `decode_value` is the reference: it handles every case and
explains each fault in a `MalformedValue`. `FAST_VALUE_DECODERS` cover only the common, valid
encodings and return None for anything else, so that the caller falls back to the reference.
The tests check that both give the same result.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

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

# Inner tags after 0x9F in net-snmp's Opaque-wrapped values (ASN_OPAQUE_* in net-snmp 5.9's
# asn1.h).
OPAQUE_COUNTER64 = 0x76
OPAQUE_FLOAT = 0x78
OPAQUE_DOUBLE = 0x79
OPAQUE_INT64 = 0x7A
OPAQUE_UINT64 = 0x7B

# Framing INTEGERs (version, request-id, error-status, msgID, ...) are at most 32 bits. Padded
# contents are accepted up to nine octets, the size of a 64-bit number with its 0x00 pad. Longer
# ones are garbage and would only make huge numbers.
MAX_FRAMING_INTEGER_OCTETS = 9

UnsignedValue = Counter32 | Gauge32 | TimeTicks | Counter64
ValueDecoder = Callable[[int, bytes, int, int, int], SnmpValue]
FastValueDecoder = Callable[[bytes, int, int], SnmpValue | None]

_SINGLE_OCTETS = [bytes((octet,)) for octet in range(256)]


# ---------------------------------------------------------------------------------------------
# Encoding


def encode_length(length: int) -> bytes:
    """Encode a definite length in its minimal form (X.690 section 8.1.3)."""
    if length < 0x80:
        return _SINGLE_OCTETS[length]
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return _SINGLE_OCTETS[0x80 | len(octets)] + octets


def encode_tlv(tag: int, content: bytes) -> bytes:
    """Encode one TLV with a single-octet identifier."""
    length = len(content)
    if length < 0x80:
        return b"".join((_SINGLE_OCTETS[tag], _SINGLE_OCTETS[length], content))
    return b"".join((_SINGLE_OCTETS[tag], encode_length(length), content))


def encode_integer_content(value: int) -> bytes:
    """Encode an integer as minimal two's complement content octets (X.690 section 8.3.2)."""
    magnitude = value if value >= 0 else ~value
    return value.to_bytes(magnitude.bit_length() // 8 + 1, "big", signed=True)


# The INTEGER TLVs of 0..127, which cover error-status, error-index and most small fields, and
# the INTEGER headers by content size.
_SMALL_INTEGER_TLVS = [b"\x02\x01" + _SINGLE_OCTETS[number] for number in range(128)]
_INTEGER_HEADERS = [b"\x02" + _SINGLE_OCTETS[size] for size in range(128)]


def encode_integer_tlv(value: int) -> bytes:
    """Encode an INTEGER TLV without a range check."""
    if 0 <= value < 0x80:
        return _SMALL_INTEGER_TLVS[value]
    magnitude = value if value >= 0 else ~value
    size = magnitude.bit_length() // 8 + 1
    if size < 0x80:
        return _INTEGER_HEADERS[size] + value.to_bytes(size, "big", signed=True)
    return encode_tlv(Tag.INTEGER, encode_integer_content(value))


def encode_oid_content(oid: Oid) -> bytes:
    """Encode OID content octets (X.690 section 8.19).

    The first two arcs share one sub-identifier (40 * first + second). Raises EncodeError for an
    OID that SNMP cannot carry, see `validate_for_encoding`.
    """
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


# Encoded OBJECT IDENTIFIER TLVs by OID. A poller requests the same OIDs on every cycle, so most
# requests find their names here. The cache is bounded: it is emptied when full.
_OID_TLV_CACHE: dict[Oid, bytes] = {}
OID_TLV_CACHE_SIZE = 8192


def encode_oid_tlv(oid: Oid) -> bytes:
    """Encode an OID as an OBJECT IDENTIFIER TLV. Raises EncodeError like `encode_oid_content`."""
    if type(oid) is tuple:
        cached = _OID_TLV_CACHE.get(oid)
        if cached is not None:
            return cached
    tlv = encode_tlv(Tag.OBJECT_IDENTIFIER, encode_oid_content(oid))
    if type(oid) is tuple and all(type(arc) is int for arc in oid):
        if len(_OID_TLV_CACHE) >= OID_TLV_CACHE_SIZE:
            _OID_TLV_CACHE.clear()
        _OID_TLV_CACHE[oid] = tlv
    return tlv


def _encode_ranged(value: int, tag: int, low: int, high: int, type_name: str) -> bytes:
    if not low <= value <= high:
        raise EncodeError(f"{type_name} value {value} is outside {low}..{high}")
    return encode_tlv(tag, encode_integer_content(value))


# (tag, minimum, maximum, name) of each integer type. A plain int is sent as Integer32.
_INTEGER_TYPES: dict[type, tuple[int, int, int, str]] = {
    Integer32: (Tag.INTEGER, INT32_MIN, INT32_MAX, "Integer32"),
    Counter32: (Tag.COUNTER32, 0, UINT32_MAX, "Counter32"),
    Gauge32: (Tag.GAUGE32, 0, UINT32_MAX, "Gauge32"),
    TimeTicks: (Tag.TIMETICKS, 0, UINT32_MAX, "TimeTicks"),
    Counter64: (Tag.COUNTER64, 0, UINT64_MAX, "Counter64"),
    int: (Tag.INTEGER, INT32_MIN, INT32_MAX, "Integer32"),
}


def encode_value(value: object) -> bytes:
    """Encode a varbind value as a TLV.

    A plain `int` is sent as Integer32, `bytes` as OCTET STRING and `str` as UTF-8 OCTET STRING.
    A `MalformedValue` is sent as its raw bytes, unchanged: that is how test agents send broken
    values on purpose. Raises EncodeError when the value is outside its type's range or is not an
    SNMP value at all.
    """
    if value is NULL:
        return b"\x05\x00"
    # Looked up by exact type, which also keeps the subclass when this module is compiled with
    # mypyc: there an argument declared `int` becomes a native integer and loses its class.
    integer_type = _INTEGER_TYPES.get(type(value))
    if integer_type is None and isinstance(value, int) and not isinstance(value, bool):
        integer_type = next(
            spec for kind, spec in _INTEGER_TYPES.items() if isinstance(value, kind))
    if integer_type is not None and isinstance(value, int):
        return _encode_ranged(value, *integer_type)
    if isinstance(value, bytes):
        return _encode_bytes_value(value)
    if isinstance(value, str):
        return encode_tlv(Tag.OCTET_STRING, value.encode("utf-8"))
    if isinstance(value, ObjectIdentifier):
        return encode_oid_tlv(value)
    if isinstance(value, Null):
        return b"\x05\x00"
    if isinstance(value, ExceptionValue):
        return bytes((value.tag, 0))
    if isinstance(value, MalformedValue):
        return value.raw
    raise EncodeError(
        f"cannot encode a {type(value).__name__} as an SNMP value; use one of the value types "
        "such as Integer32, OctetString or ObjectIdentifier"
    )


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
    payload = b"\x9f\x78\x04" + struct.pack(">f", number)
    return Opaque(payload, struct.unpack(">f", payload[3:])[0], OPAQUE_FLOAT)


def encode_opaque_double(number: float) -> Opaque:
    """Wrap a float as net-snmp does: Opaque containing 0x9F 0x79, length 8, IEEE 754 double."""
    return Opaque(b"\x9f\x79\x08" + struct.pack(">d", number), float(number), OPAQUE_DOUBLE)


# ---------------------------------------------------------------------------------------------
# Decoding: framing


def read_header(data: bytes, pos: int, end: int, field: str) -> tuple[int, int, int]:
    """Read the identifier and length of the TLV at `pos`, which must end by `end`.

    Returns (tag, content_start, content_end). The tag of a multi-octet identifier is its octets
    as one big-endian integer (0x9F78). Raises DecodeError on an indefinite or overrunning length.
    """
    # Fast path: a one-octet identifier and a short-form length that fits.
    if pos + 2 <= end:
        length = data[pos + 1]
        if length < 0x80 and pos + 2 + length <= end and data[pos] & 0x1F != 0x1F:
            return data[pos], pos + 2, pos + 2 + length
    return read_header_reference(data, pos, end, field)


def read_header_reference(data: bytes, pos: int, end: int, field: str) -> tuple[int, int, int]:
    """Read a TLV header like `read_header`, handling every form; the fast path's reference."""
    if end - pos < 2:
        raise DecodeError(f"a TLV needs at least 2 bytes, {end - pos} left", field=field,
                          offset=pos)
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
    if count == 0x7F:
        raise DecodeError("length octet 0xFF is reserved (X.690 section 8.1.3.5)", field=field,
                          offset=pos - 1)
    if count > end - pos:
        raise DecodeError(
            f"the long-form length needs {count} octets, {end - pos} left", field=field, offset=pos
        )
    # RFC 3417 section 8 allows more length octets than needed, so leading zeros are accepted.
    length = int.from_bytes(data[pos:pos + count], "big")
    return length, pos + count


def read_integer(data: bytes, pos: int, end: int, field: str) -> tuple[int, int]:
    """Read an INTEGER that is part of the framing (version, request-id, error-status, ...).

    Returns (value, position after it). Unlike a varbind value, a bad one here is a DecodeError.
    """
    # Fast path: 02 LL with 1 to 4 content octets.
    if pos + 3 <= end and data[pos] == 0x02:
        size = data[pos + 1]
        if 0 < size <= 4 and pos + 2 + size <= end:
            stop = pos + 2 + size
            return int.from_bytes(data[pos + 2:stop], "big", signed=True), stop
    tag, start, stop = read_header(data, pos, end, field)
    if tag != Tag.INTEGER:
        raise DecodeError(f"expected INTEGER (0x02), got tag 0x{tag:02x}", field=field, offset=pos)
    if start == stop:
        raise DecodeError("INTEGER has no content octets", field=field, offset=start)
    if stop - start > MAX_FRAMING_INTEGER_OCTETS:
        raise DecodeError(
            f"INTEGER of {stop - start} octets is too long for this field (32 bits expected)",
            field=field, offset=start,
        )
    return int.from_bytes(data[start:stop], "big", signed=True), stop


def read_octet_string(data: bytes, pos: int, end: int, field: str) -> tuple[bytes, int]:
    """Read an OCTET STRING that is part of the framing (community, engine ID, ...)."""
    tag, start, stop = read_header(data, pos, end, field)
    if tag != Tag.OCTET_STRING:
        raise DecodeError(
            f"expected OCTET STRING (0x04), got tag 0x{tag:02x}", field=field, offset=pos
        )
    return bytes(data[start:stop]), stop


# ---------------------------------------------------------------------------------------------
# Decoding: OIDs


# The first two arcs for a first sub-identifier below 128 (X.690 section 8.19.4): below 40 is
# 0.n, below 80 is 1.(n-40), otherwise 2.(n-80).
OID_HEADS = [(n // 40, n % 40) if n < 80 else (2, n - 80) for n in range(128)]


def decode_oid_content(data: bytes, start: int, stop: int) -> tuple[Oid, str | None]:
    """Decode OID content octets leniently (X.690 section 8.19).

    Returns the arcs and None, or the arcs as read and the rule they break. An empty content gives
    (0, 0), the zeroDotZero that agents mean by it (RFC 2578 section 2).
    """
    if start == stop:
        return (0, 0), "empty OBJECT IDENTIFIER (read as 0.0)"
    chunk = data[start:stop]
    if chunk.isascii() and len(chunk) < MAX_SUBIDENTIFIERS:
        # Every sub-identifier is one octet below 128, so none of the checks below can fail.
        return OID_HEADS[chunk[0]] + tuple(chunk[1:]), None

    subidentifiers, problem = _read_subidentifiers(chunk)
    first = subidentifiers[0]
    head = (first // 40, first % 40) if first < 80 else (2, first - 80)
    oid = head + tuple(subidentifiers[1:])

    if problem is None and len(oid) > MAX_SUBIDENTIFIERS:
        problem = f"{len(oid)} sub-identifiers, more than {MAX_SUBIDENTIFIERS} (RFC 2578 3.5)"
    elif problem is None and max(oid) > MAX_SUBIDENTIFIER:
        problem = "a sub-identifier is above 2^32-1 (RFC 2578 section 3.5)"
    return oid, problem


_LOW_OCTETS = bytes(range(0x80))


def decode_oid_fast(chunk: bytes) -> Oid | None:
    """Decode valid OID content octets quickly; return None for anything the reference handles.

    Covers OIDs whose first sub-identifier is one octet and whose later ones are valid, which is
    every name of a table indexed by numbers above 127 (ifIndex 10101 is CE 75).
    """
    if not chunk or len(chunk) >= MAX_SUBIDENTIFIERS:
        return None
    if chunk.isascii():
        return OID_HEADS[chunk[0]] + tuple(chunk[1:])
    if chunk[0] & 0x80 or chunk[-1] & 0x80:
        return None
    if chunk[-2] > 0x80 and chunk[:-2].isascii():
        # Only the last sub-identifier has two octets: a row index of 128 to 16383.
        return OID_HEADS[chunk[0]] + tuple(chunk[1:-2]) + (((chunk[-2] & 0x7F) << 7) | chunk[-1],)
    # Leading one-octet sub-identifiers in one step, then the rest octet by octet.
    head_size = len(chunk) - len(chunk.lstrip(_LOW_OCTETS))
    arcs = list(chunk[1:head_size])
    value = 0
    for octet in chunk[head_size:]:
        if octet & 0x80:
            if (octet == 0x80 and not value) or value > MAX_SUBIDENTIFIER:
                return None
            value = (value | (octet & 0x7F)) << 7
        else:
            value |= octet
            if value > MAX_SUBIDENTIFIER:
                return None
            arcs.append(value)
            value = 0
    return OID_HEADS[chunk[0]] + tuple(arcs)


# Sub-identifiers stop growing here. Without a bound, one long run of continuation octets costs
# time quadratic in its length and makes a number too long for str().
SUBIDENTIFIER_CAP = 2**64


def _read_subidentifiers(chunk: bytes) -> tuple[list[int], str | None]:
    """Split content octets into base-128 sub-identifiers; return them and a problem or None.

    A sub-identifier above 2^64 is returned as 2^64.
    """
    subidentifiers: list[int] = []
    problem: str | None = None
    value = 0
    at_start = True
    for octet in chunk:
        if at_start and octet == 0x80:
            # X.690 section 8.19.2 forbids it, but the value it encodes is still unambiguous.
            problem = "sub-identifier with a 0x80 lead octet (X.690 section 8.19.2)"
        value = min((value << 7) | (octet & 0x7F), SUBIDENTIFIER_CAP)
        at_start = not octet & 0x80
        if at_start:
            subidentifiers.append(value)
            value = 0
    if not at_start:
        # The last octet still has bit 8 set: keep what was complete, or 0 when nothing was.
        return subidentifiers or [0], "the last sub-identifier is truncated"
    return subidentifiers, problem


# ---------------------------------------------------------------------------------------------
# Decoding: values, reference path


def decode_value(tag: int, data: bytes, tlv_start: int, start: int, stop: int) -> SnmpValue:
    """Decode one varbind value whose TLV spans data[tlv_start:stop] and content data[start:stop].

    Never raises: a value that breaks its type's rules comes back as a MalformedValue.
    """
    if tag == Tag.OCTET_STRING:
        return OctetString(data[start:stop])
    decoder = _VALUE_DECODERS.get(tag)
    if decoder is None:
        return MalformedValue(tag, data[tlv_start:stop], f"unknown type tag 0x{tag:02x}")
    return decoder(tag, data, tlv_start, start, stop)


def _decode_integer32(tag: int, data: bytes, tlv_start: int, start: int, stop: int) -> SnmpValue:
    if start == stop:
        return MalformedValue(tag, data[tlv_start:stop], "INTEGER has no content octets")
    if stop - start > 8:
        # Too long for any number a consumer could use; keep only the raw bytes.
        return MalformedValue(tag, data[tlv_start:stop], f"INTEGER of {stop - start} octets")
    number = int.from_bytes(data[start:stop], "big", signed=True)
    if INT32_MIN <= number <= INT32_MAX:
        if stop - start > 4:
            reason = f"INTEGER in {stop - start} octets, more than Integer32's 4"
            return MalformedValue(tag, data[tlv_start:stop], reason, Integer32(number))
        return Integer32(number)
    return MalformedValue(
        tag, data[tlv_start:stop], f"INTEGER {number} is outside Integer32's range", number
    )


_UNSIGNED_TYPES: dict[int, tuple[type[UnsignedValue], int]] = {
    Tag.COUNTER32: (Counter32, UINT32_MAX),
    Tag.GAUGE32: (Gauge32, UINT32_MAX),
    Tag.TIMETICKS: (TimeTicks, UINT32_MAX),
    Tag.COUNTER64: (Counter64, UINT64_MAX),
}


def _decode_unsigned(tag: int, data: bytes, tlv_start: int, start: int, stop: int) -> SnmpValue:
    kind, limit = _UNSIGNED_TYPES[tag]
    name = kind.__name__
    raw = data[tlv_start:stop]
    size = stop - start
    if size == 0:
        return MalformedValue(tag, raw, f"{name} has no content octets")
    # The widest valid content is the value's octets plus one 0x00 pad: 5 or 9 octets.
    widest = (limit.bit_length() // 8) + 1
    if size > 2 * widest:
        return MalformedValue(tag, raw, f"{name} of {size} octets")

    number = int.from_bytes(data[start:stop], "big")
    if data[start] & 0x80:
        # X.690 section 8.3.3 makes this a negative number. Agents mean the unsigned one.
        reason = f"{name} encoded as a negative number (no 0x00 pad); read as unsigned"
        return MalformedValue(tag, raw, reason, kind(number) if number <= limit else None)
    if number > limit:
        return MalformedValue(tag, raw, f"{name} {number} is above {limit}", number)
    if size > widest:
        return MalformedValue(tag, raw, f"{name} in {size} octets, more than {widest}",
                              kind(number))
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


_EXCEPTIONS: dict[int, ExceptionValue] = {
    Tag.NO_SUCH_OBJECT: NO_SUCH_OBJECT,
    Tag.NO_SUCH_INSTANCE: NO_SUCH_INSTANCE,
    Tag.END_OF_MIB_VIEW: END_OF_MIB_VIEW,
}


def _decode_exception(tag: int, data: bytes, tlv_start: int, start: int, stop: int) -> SnmpValue:
    value = _EXCEPTIONS[tag]
    if start != stop:
        return MalformedValue(tag, data[tlv_start:stop], f"{value.name} with content octets", value)
    return value


_VALUE_DECODERS: dict[int, ValueDecoder] = {
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


# ---------------------------------------------------------------------------------------------
# Decoding: values, fast path
#
# Each fast decoder takes (data, content start, content stop) and returns the value, or None when
# the content is anything but the plain valid case, so that the caller asks `decode_value`.

# One-octet contents, decoded once: values are immutable, so every varbind can share them.
_SMALL_INTEGER32 = [Integer32(octet - 256 if octet & 0x80 else octet) for octet in range(256)]
_SMALL_UNSIGNED = {
    tag: [kind(octet) for octet in range(0x80)] for tag, (kind, _) in _UNSIGNED_TYPES.items()
}


def _fast_integer32(data: bytes, start: int, stop: int) -> SnmpValue | None:
    size = stop - start
    if size == 1:
        return _SMALL_INTEGER32[data[start]]
    if 1 < size <= 4:
        return Integer32(int.from_bytes(data[start:stop], "big", signed=True))
    return None


def _make_fast_unsigned(tag: int) -> FastValueDecoder:
    kind, limit = _UNSIGNED_TYPES[tag]
    small = _SMALL_UNSIGNED[tag]
    value_octets = limit.bit_length() // 8

    def decode(data: bytes, start: int, stop: int) -> SnmpValue | None:
        size = stop - start
        first = data[start] if size else 0x80
        if first & 0x80:
            return None
        if size == 1:
            return small[first]
        if size <= value_octets or (size == value_octets + 1 and first == 0):
            return kind(int.from_bytes(data[start:stop], "big"))
        return None

    return decode


def _fast_null(data: bytes, start: int, stop: int) -> SnmpValue | None:
    return NULL if start == stop else None


def _fast_oid_value(data: bytes, start: int, stop: int) -> SnmpValue | None:
    oid = decode_oid_fast(data[start:stop])
    return ObjectIdentifier(oid) if oid is not None else None


def _fast_ip_address(data: bytes, start: int, stop: int) -> SnmpValue | None:
    return IpAddress(data[start:stop]) if stop - start == 4 else None


def _make_fast_exception(value: ExceptionValue) -> FastValueDecoder:
    def decode(data: bytes, start: int, stop: int) -> SnmpValue | None:
        return value if start == stop else None

    return decode


FAST_VALUE_DECODERS: dict[int, FastValueDecoder] = {
    Tag.INTEGER: _fast_integer32,
    Tag.NULL: _fast_null,
    Tag.OBJECT_IDENTIFIER: _fast_oid_value,
    Tag.IP_ADDRESS: _fast_ip_address,
    **{tag: _make_fast_unsigned(tag) for tag in _UNSIGNED_TYPES},
    **{tag: _make_fast_exception(value) for tag, value in _EXCEPTIONS.items()},
}
