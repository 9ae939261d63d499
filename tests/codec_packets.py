"""Test helpers for the codec tests: captured datagrams and typed comparison of decoded values."""

from __future__ import annotations

from pathlib import Path

from snmpd_ng.protocol.ber import read_header
from snmpd_ng.protocol.pdu import AnyPdu, BulkPdu, Pdu, TrapV1Pdu
from snmpd_ng.protocol.values import MalformedValue, Opaque, VarBind
from snmpd_ng.protocol.varbinds import decode_varbind

PACKET_DIR = Path(__file__).resolve().parent / "data" / "packets"


def hex_bytes(text: str) -> bytes:
    """Turn hex with any spacing or line breaks ("30 2D 02 01 ...") into bytes."""
    return bytes.fromhex("".join(text.split()))


def load_packet(name: str) -> bytes:
    """Read one captured datagram, tests/data/packets/NAME.hex, skipping its # comment lines."""
    text = (PACKET_DIR / f"{name}.hex").read_text(encoding="ascii")
    return hex_bytes("".join(line for line in text.splitlines() if not line.startswith("#")))


def captured_packets() -> dict[str, bytes]:
    """Return every captured datagram by file name without the .hex suffix, sorted by name."""
    return {path.stem: load_packet(path.stem) for path in sorted(PACKET_DIR.glob("*.hex"))}


def community_packets() -> dict[str, bytes]:
    """Return the captured SNMPv1 and SNMPv2c datagrams (the v3 ones start with "v3-")."""
    return {name: data for name, data in captured_packets().items() if not name.startswith("v3-")}


def reference_varbinds(data: bytes, start: int, stop: int) -> list[VarBind]:
    """Decode the VarBind TLVs in data[start:stop] with the reference path only."""
    varbinds = []
    cursor = start
    while cursor < stop:
        varbind, cursor = decode_varbind(data, cursor, stop)
        varbinds.append(varbind)
    return varbinds


def same_value(left: object, right: object) -> bool:
    """Compare two decoded values including their type, which == alone ignores (Counter32(1) ==
    Gauge32(1)), and including the fields that bytes equality skips."""
    if type(left) is not type(right):
        return False
    if isinstance(left, MalformedValue) and isinstance(right, MalformedValue):
        return (left.tag == right.tag and left.raw == right.raw and left.reason == right.reason
                and same_value(left.value, right.value))
    if isinstance(left, Opaque) and isinstance(right, Opaque):
        return (bytes(left) == bytes(right) and left.inner_tag == right.inner_tag
                and same_value(left.inner, right.inner))
    if isinstance(left, tuple) and isinstance(right, tuple):
        return len(left) == len(right) and all(map(same_value, left, right))
    return left == right


def same_varbinds(left: list[VarBind], right: list[VarBind]) -> bool:
    """Compare varbind lists name by name and value by value, types included."""
    return len(left) == len(right) and all(
        type(a) is type(b) and a.oid == b.oid and same_value(a.value, b.value)
        for a, b in zip(left, right, strict=True)
    )


def same_pdu(left: AnyPdu, right: AnyPdu) -> bool:
    """Compare two PDUs field by field, varbind values by type and value."""
    if type(left) is not type(right):
        return False
    if isinstance(left, Pdu) and isinstance(right, Pdu):
        fields_equal = (left.pdu_type, left.request_id, left.error_status, left.error_index) == (
            right.pdu_type, right.request_id, right.error_status, right.error_index)
    elif isinstance(left, BulkPdu) and isinstance(right, BulkPdu):
        fields_equal = (left.request_id, left.non_repeaters, left.max_repetitions) == (
            right.request_id, right.non_repeaters, right.max_repetitions)
    elif isinstance(left, TrapV1Pdu) and isinstance(right, TrapV1Pdu):
        fields_equal = (left.enterprise, bytes(left.agent_address), left.generic_trap,
                        left.specific_trap, left.time_stamp) == (
            right.enterprise, bytes(right.agent_address), right.generic_trap,
            right.specific_trap, right.time_stamp)
    else:
        return False
    return fields_equal and same_varbinds(left.varbinds, right.varbinds)


def tlv_length_positions(data: bytes) -> list[int]:
    """Return the offset of every TLV's first length octet in a message, outermost first."""
    positions: list[int] = []

    def walk(start: int, stop: int) -> None:
        cursor = start
        while cursor < stop:
            tag, content_start, content_stop = read_header(data, cursor, stop, "test")
            positions.append(cursor + 1)
            if tag & 0x20:
                walk(content_start, content_stop)
            cursor = content_stop

    walk(0, len(data))
    return positions


def rewrite_length(data: bytes, position: int, new_octets: bytes, delta: int) -> bytes:
    """Replace the short length at `position` and grow every enclosing length by `delta`."""
    out = bytearray(data[:position]) + new_octets + data[position + 1:]
    for enclosing in tlv_length_positions(data):
        if enclosing < position:
            _, start, stop = read_header(data, enclosing - 1, len(data), "test")
            if start <= position < stop:
                assert out[enclosing] + delta < 0x80, "enclosing lengths must stay short"
                out[enclosing] += delta
    return bytes(out)
