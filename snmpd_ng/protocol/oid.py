"""Object identifiers as tuples of non-negative integers.

A plain tuple keeps OIDs hashable and cheap, and Python's tuple ordering is exactly the
lexicographic order that GETNEXT and GETBULK follow (RFC 3416 section 4.2.2).
"""

from __future__ import annotations

from snmpd_ng.protocol.errors import EncodeError

Oid = tuple[int, ...]

# RFC 2578 section 3.5: at most 128 sub-identifiers, each at most 2^32-1.
MAX_SUBIDENTIFIERS = 128
MAX_SUBIDENTIFIER = 0xFFFFFFFF


def parse_oid(text: str) -> Oid:
    """Parse a dotted numeric OID such as "1.3.6.1.2.1.1.1.0" or ".1.3.6.1".

    Raises ValueError naming the text when a part is not a non-negative decimal number.
    """
    stripped = text.strip()
    if stripped.startswith("."):
        stripped = stripped[1:]
    if not stripped:
        raise ValueError(f"invalid OID {text!r}: it is empty")

    arcs: list[int] = []
    for part in stripped.split("."):
        if not part.isdigit() or not part.isascii():
            raise ValueError(f"invalid OID {text!r}: {part!r} is not a non-negative number")
        arcs.append(int(part))
    return tuple(arcs)


def format_oid(oid: Oid) -> str:
    """Format an OID in dotted decimal without a leading dot."""
    return ".".join(map(str, oid))


def is_prefix(prefix: Oid, oid: Oid) -> bool:
    """Tell whether `oid` lies in the subtree rooted at `prefix` (or equals it)."""
    return oid[: len(prefix)] == prefix


def validate_for_encoding(oid: Oid) -> None:
    """Raise EncodeError unless BER and SNMP can carry `oid` unchanged.

    X.690 section 8.19.4 packs the first two arcs into one sub-identifier, which only works when the
    first arc is 0, 1 or 2 and, below 2, the second arc is under 40.
    """
    for arc in oid:
        if not isinstance(arc, int):
            raise EncodeError(f"OID {oid!r}: arc {arc!r} is not an integer; use parse_oid for text")
    if len(oid) < 2:
        raise EncodeError(f"OID {format_oid(oid)!r} has {len(oid)} arc(s); at least 2 are needed")
    if len(oid) > MAX_SUBIDENTIFIERS:
        raise EncodeError(
            f"OID {format_oid(oid)[:40]}... has {len(oid)} arcs; SNMP allows {MAX_SUBIDENTIFIERS}"
        )
    first, second = oid[0], oid[1]
    if first > 2:
        raise EncodeError(f"OID {format_oid(oid)!r} starts with {first}; only 0, 1 or 2 are valid")
    if first < 2 and second >= 40:
        raise EncodeError(
            f"OID {format_oid(oid)!r}: the second arc must be below 40 when the first is {first}"
        )
    for arc in oid:
        if arc < 0 or arc > MAX_SUBIDENTIFIER:
            raise EncodeError(f"OID {format_oid(oid)!r}: arc {arc} is outside 0..4294967295")
