"""Label values from SNMP data: table index suffixes and values shown as text.

A table row's instance suffix (the arcs after the column's OID) encodes its index objects by the
rules of RFC 2578 section 7.7. An integer is one arc. A variable-length string is its length
followed by one arc per octet. A fixed-length string or an IpAddress has no length arc. An
OBJECT IDENTIFIER written last (IMPLIED) takes the rest of the suffix. `IndexSpec` tells which of
these each part of the index is.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from snmpd_ng.config.model import IndexSpec
from snmpd_ng.protocol.oid import Oid, format_oid
from snmpd_ng.protocol.values import (
    Counter32,
    Counter64,
    Gauge32,
    Integer32,
    IpAddress,
    MalformedValue,
    ObjectIdentifier,
    Opaque,
    TimeTicks,
)

LabelPairs = tuple[tuple[str, str], ...]
"""Label names and values in a fixed order, hashable so rows can share them."""

_MAX_OCTET = 255


class IndexDecodeError(ValueError):
    """A row's instance suffix that does not fit the table's index definition."""

    def __init__(self, suffix: Oid, reason: str) -> None:
        self.suffix = suffix
        self.reason = reason
        super().__init__(
            f"invalid index {format_oid(suffix) or '(empty)'}: {reason}; check the table's "
            "index definition in the config against the MIB"
        )


def octets_text(octets: bytes) -> str:
    """Show an OCTET STRING as text when it is printable UTF-8, else as 0x-prefixed hex.

    Trailing NUL octets are dropped first, because many agents count the C string terminator in
    DisplayString values. The hex form matches snmp_exporter's rendering of binary strings.
    """
    trimmed = octets.rstrip(b"\x00")
    try:
        text = trimmed.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + octets.hex().upper()
    if text.isprintable():
        return text
    return "0x" + octets.hex().upper()


def value_text(value: object) -> str | None:
    """Show an SNMP value as a label value, or return None when it carries no data.

    Exceptions such as noSuchObject and NULL carry no data. A MalformedValue shows its lenient
    reading when it has one.
    """
    if isinstance(value, MalformedValue):
        return None if value.value is None else value_text(value.value)
    if isinstance(value, IpAddress | ObjectIdentifier):
        return str(value)
    if isinstance(value, Opaque):
        return octets_text(value) if value.inner is None else str(value.inner)
    if isinstance(value, bytes):
        return octets_text(value)
    if isinstance(value, Integer32 | Counter32 | Gauge32 | TimeTicks | Counter64 | int):
        return str(int(value))
    return None


def _take(suffix: Oid, position: int, count: int, what: str) -> Oid:
    end = position + count
    if end > len(suffix):
        raise IndexDecodeError(
            suffix, f"{what} needs {count} arc(s) at position {position}, "
                    f"only {len(suffix) - position} remain")
    return suffix[position:end]


def _octets(suffix: Oid, arcs: Oid, what: str) -> bytes:
    if any(arc > _MAX_OCTET for arc in arcs):
        raise IndexDecodeError(suffix, f"{what} has an arc above 255, so it is not an octet")
    return bytes(arcs)


def _decode_integer(suffix: Oid, position: int, spec: IndexSpec) -> tuple[str, int]:
    arcs = _take(suffix, position, 1, f"integer index {spec.label!r}")
    return str(arcs[0]), position + 1


def _decode_string(suffix: Oid, position: int, spec: IndexSpec) -> tuple[str, int]:
    what = f"string index {spec.label!r}"
    length = _take(suffix, position, 1, what)[0]
    arcs = _take(suffix, position + 1, length, what)
    return octets_text(_octets(suffix, arcs, what)), position + 1 + length


def _decode_fixed_string(suffix: Oid, position: int, spec: IndexSpec) -> tuple[str, int]:
    what = f"fixed_string index {spec.label!r}"
    if spec.length is None:
        raise IndexDecodeError(suffix, f"{what} has no length configured")
    arcs = _take(suffix, position, spec.length, what)
    return octets_text(_octets(suffix, arcs, what)), position + spec.length


def _decode_ipaddress(suffix: Oid, position: int, spec: IndexSpec) -> tuple[str, int]:
    what = f"ipaddress index {spec.label!r}"
    arcs = _take(suffix, position, 4, what)
    return ".".join(map(str, _octets(suffix, arcs, what))), position + 4


def _decode_mac(suffix: Oid, position: int, spec: IndexSpec) -> tuple[str, int]:
    what = f"mac index {spec.label!r}"
    arcs = _take(suffix, position, 6, what)
    # Upper-case hex pairs, as snmp_exporter shows PhysAddress, so label values match its.
    return ":".join(f"{octet:02X}" for octet in _octets(suffix, arcs, what)), position + 6


def _decode_oid(suffix: Oid, position: int, spec: IndexSpec) -> tuple[str, int]:
    return format_oid(suffix[position:]), len(suffix)


_DECODERS: dict[str, Callable[[Oid, int, IndexSpec], tuple[str, int]]] = {
    "integer": _decode_integer,
    "string": _decode_string,
    "fixed_string": _decode_fixed_string,
    "ipaddress": _decode_ipaddress,
    "mac": _decode_mac,
    "oid": _decode_oid,
}


@lru_cache(maxsize=65536)
def decode_index(suffix: Oid, indexes: tuple[IndexSpec, ...]) -> LabelPairs:
    """Turn a row's instance suffix into (label, value) pairs, one per index part.

    Raises IndexDecodeError when the suffix is too short, has arcs left over, or has an arc above
    255 where an octet is expected. Results are memoized, since the same rows come back every poll.
    """
    pairs: list[tuple[str, str]] = []
    position = 0
    for spec in indexes:
        text, position = _DECODERS[spec.type](suffix, position, spec)
        pairs.append((spec.label, text))

    if position != len(suffix):
        raise IndexDecodeError(
            suffix, f"{len(suffix) - position} arc(s) are left after the last index part")
    return tuple(pairs)
