"""VarBindList encoding and decoding (RFC 3416 section 3), the hot path of every response.

    VarBind ::= SEQUENCE { name ObjectName, CHOICE { value ObjectSyntax, unSpecified NULL,
                           noSuchObject [0] NULL, noSuchInstance [1] NULL, endOfMibView [2] NULL } }
    VarBindList ::= SEQUENCE (SIZE (0..max-bindings)) OF VarBind

`decode_varbinds` reads most varbinds on a fast path that only handles short lengths, one-octet
tags, valid names and valid values. Everything else goes through `_decode_varbind`, the
reference decoder, so every fault is reported the same way whichever path saw it.
"""

from __future__ import annotations

from collections.abc import Iterable

from snmpd_ng.protocol.ber import (
    FAST_VALUE_DECODERS,
    OID_HEADS,
    decode_oid_content,
    decode_oid_fast,
    decode_value,
    encode_length,
    encode_oid_tlv,
    encode_value,
    read_header,
)
from snmpd_ng.protocol.errors import DecodeError
from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.values import NULL, MalformedValue, OctetString, SnmpValue, Tag, VarBind

_SEQUENCE = b"\x30"
_NULL_TLV = b"\x05\x00"
_SHORT_LENGTHS = [bytes((length,)) for length in range(0x80)]

# NamedTuple's own constructor is a Python function; building the tuple directly is about twice
# as fast and gives the same object.
_new_tuple = tuple.__new__


def encode_varbinds(varbinds: Iterable[VarBind]) -> bytes:
    """Encode a VarBindList. Raises EncodeError for an OID or value that SNMP cannot carry."""
    pieces: list[bytes] = [_SEQUENCE, b""]
    total = 0
    for oid, value in varbinds:
        name = encode_oid_tlv(oid)
        encoded = _NULL_TLV if value is NULL else encode_value(value)
        length = len(name) + len(encoded)
        header = _SHORT_LENGTHS[length] if length < 0x80 else encode_length(length)
        pieces += (_SEQUENCE, header, name, encoded)
        total += 1 + len(header) + length
    pieces[1] = encode_length(total)
    return b"".join(pieces)


def decode_varbinds(data: bytes, pos: int, end: int) -> tuple[list[VarBind], int]:
    """Decode the VarBindList at data[pos:end]; return the varbinds and the position after it.

    Raises DecodeError when the list's framing is broken. A value that breaks its type's rules
    becomes a MalformedValue and the other varbinds are kept.
    """
    tag, start, stop = read_header(data, pos, end, "pdu.varbind-list")
    if tag != Tag.SEQUENCE:
        raise DecodeError(f"expected SEQUENCE (0x30), got tag 0x{tag:02x}",
                          field="pdu.varbind-list", offset=pos)
    return decode_varbind_items(data, start, stop), stop


def decode_varbind_items(data: bytes, start: int, stop: int) -> list[VarBind]:
    """Decode the VarBind TLVs that fill data[start:stop] exactly."""
    varbinds: list[VarBind] = []
    append = varbinds.append
    fast_decoders = FAST_VALUE_DECODERS
    cursor = start
    while cursor < stop:
        # Fast path: 30 LL 06 LL <name> TT LL <value>, every length in short form and the
        # value filling the rest of the varbind.
        if cursor + 4 <= stop and data[cursor] == 0x30 and data[cursor + 2] == 0x06:
            varbind_stop = cursor + 2 + data[cursor + 1]
            name_start = cursor + 4
            name_stop = name_start + data[cursor + 3]
            value_start = name_stop + 2
            if (
                name_start < name_stop
                and value_start <= varbind_stop <= stop
                and data[cursor + 1] < 0x80
                and data[cursor + 3] < 0x80
                and data[name_stop + 1] == varbind_stop - value_start
            ):
                chunk = data[name_start:name_stop]
                value_tag = data[name_stop]
                fast = fast_decoders.get(value_tag)
                if chunk.isascii():
                    oid: Oid | None = OID_HEADS[chunk[0]] + tuple(chunk[1:])
                else:
                    oid = decode_oid_fast(chunk)
                if oid is not None and (fast is not None or value_tag == 0x04):
                    value: SnmpValue | None
                    if fast is None:
                        value = OctetString(data[value_start:varbind_stop])
                    else:
                        value = fast(data, value_start, varbind_stop)
                        if value is None:
                            value = decode_value(value_tag, data, name_stop, value_start,
                                                 varbind_stop)
                    append(_new_tuple(VarBind, (oid, value)))
                    cursor = varbind_stop
                    continue

        varbind, cursor = _decode_varbind(data, cursor, stop, len(varbinds))
        append(varbind)
    return varbinds


def _decode_varbind(data: bytes, pos: int, end: int, index: int) -> tuple[VarBind, int]:
    """Decode one VarBind by the reference path; DecodeError fields name the varbind's index."""
    try:
        return decode_varbind(data, pos, end)
    except DecodeError as exc:
        raise DecodeError(exc.reason, field=f"varbind[{index}].{exc.field}",
                          offset=exc.offset) from None


def decode_varbind(data: bytes, pos: int, end: int) -> tuple[VarBind, int]:
    """Decode the VarBind TLV at `pos` (reference path); return it and the position after it."""
    tag, start, stop = read_header(data, pos, end, "sequence")
    if tag != Tag.SEQUENCE:
        raise DecodeError(f"expected SEQUENCE (0x30), got tag 0x{tag:02x}", field="sequence",
                          offset=pos)
    tag, name_start, name_stop = read_header(data, start, stop, "name")
    if tag != Tag.OBJECT_IDENTIFIER:
        raise DecodeError(f"expected OBJECT IDENTIFIER (0x06), got tag 0x{tag:02x}",
                          field="name", offset=start)
    oid, name_problem = decode_oid_content(data, name_start, name_stop)

    tag, value_start, value_stop = read_header(data, name_stop, stop, "value")
    if value_stop != stop:
        raise DecodeError(f"{stop - value_stop} bytes follow the value", field="value",
                          offset=value_stop)
    value = decode_value(tag, data, name_stop, value_start, value_stop)
    if name_problem is not None:
        value = _flag_name_problem(tag, data[pos:stop], name_problem, value)
    return VarBind(oid, value), stop


def _flag_name_problem(tag: int, raw: bytes, problem: str, value: SnmpValue) -> MalformedValue:
    """Mark a varbind whose name breaks the OID rules; its value stays as the lenient value.

    `raw` is the whole VarBind TLV, since the fault is in the name and not in the value. A value
    that is malformed as well is not nested: its reason and lenient value are carried over.
    """
    if isinstance(value, MalformedValue):
        return MalformedValue(tag, raw, f"name: {problem}; value: {value.reason}", value.value)
    return MalformedValue(tag, raw, f"name: {problem}", value)
