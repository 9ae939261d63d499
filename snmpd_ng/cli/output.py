"""Varbinds printed as net-snmp 5.9's tools print them when no MIB files are loaded.

Every string here was checked against snmpget 5.9.3 (Debian 12) run with `MIBS=` against an agent
serving the same bytes. Without MIB files net-snmp names only the three top-level arcs
(`iso.3.6.1...`), applies no DISPLAY-HINT, and picks STRING or Hex-STRING from the bytes alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.values import (
    Counter32,
    Counter64,
    ExceptionValue,
    Gauge32,
    Integer32,
    IpAddress,
    MalformedValue,
    Null,
    ObjectIdentifier,
    Opaque,
    SnmpValue,
    Tag,
    TimeTicks,
    VarBind,
)

# The only OID names net-snmp prints with no MIB loaded: the roots of the OID tree (X.660).
_ROOT_NAMES = {0: "ccitt", 1: "iso", 2: "joint-iso-ccitt"}

# Inner tags of net-snmp's Opaque-wrapped values (after 0x9F), and the label it prints for each.
_OPAQUE_INTEGER_LABELS = {0x76: "Counter64", 0x7A: "Int64", 0x7B: "UInt64"}
_OPAQUE_FLOAT_TAGS = frozenset({0x78, 0x79})

_EXCEPTION_TEXTS = {
    Tag.NO_SUCH_OBJECT: "No Such Object available on this agent at this OID",
    Tag.NO_SUCH_INSTANCE: "No Such Instance currently exists at this OID",
    Tag.END_OF_MIB_VIEW: (
        "No more variables left in this MIB View (It is past the end of the MIB tree)"
    ),
}

# C's isspace() in the C locale: space, \t, \n, \v, \f and \r.
_SPACE_BYTES = frozenset(b" \t\n\v\f\r")

_HEX_BYTES_PER_LINE = 16
_UINT32_MASK = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class OutputOptions:
    """The `-O` output switches that change what net-snmp prints without MIB files."""

    numeric: bool = False
    """-On: OIDs as .1.3.6.1... instead of iso.3.6.1..."""
    full: bool = False
    """-Of: a leading dot before the symbolic form (.iso.3.6.1...)."""
    quick: bool = False
    """-Oq: no type labels, and a space instead of ' = ' between OID and value."""
    quick_equals: bool = False
    """-OQ: like -Oq but keeps ' = '."""
    value_only: bool = False
    """-Ov: the value without the OID."""
    hex_strings: bool = False
    """-Ox: every OCTET STRING in hex."""
    ascii_strings: bool = False
    """-Oa: every OCTET STRING as text, with '.' for bytes that are not printable."""
    numeric_timeticks: bool = False
    """-Ot: TimeTicks as the bare number of hundredths of a second."""


def format_oid_name(oid: Oid, options: OutputOptions) -> str:
    """Format an OID as net-snmp names it with no MIB loaded: `iso.3.6.1.2.1` or `.1.3.6.1.2.1`."""
    numbers = ".".join(map(str, oid))
    if options.numeric or not oid or oid[0] not in _ROOT_NAMES:
        return "." + numbers
    named = _ROOT_NAMES[oid[0]] + numbers[len(str(oid[0])):]
    return "." + named if options.full else named


def format_varbind(varbind: VarBind, options: OutputOptions) -> str:
    """Format one varbind as one output line, without the newline (values may contain some)."""
    value = format_value(varbind.value, options)
    if options.value_only:
        return value
    separator = " " if options.quick and not options.quick_equals else " = "
    return format_oid_name(varbind.oid, options) + separator + value


def format_value(value: SnmpValue, options: OutputOptions) -> str:
    """Format a value with net-snmp's type label (`Counter32: 5`), or bare under -Oq."""
    if isinstance(value, MalformedValue):
        return _format_malformed(value, options)
    if isinstance(value, ExceptionValue):
        return _EXCEPTION_TEXTS.get(Tag(value.tag), _EXCEPTION_TEXTS[Tag.NO_SUCH_OBJECT])
    if isinstance(value, Null):
        return "NULL"
    if isinstance(value, int):
        return _format_number(value, options)
    if isinstance(value, ObjectIdentifier):
        return _labelled("OID", format_oid_name(value, options), options)
    if isinstance(value, IpAddress):
        return _labelled("IpAddress", str(value), options)
    if isinstance(value, Opaque):
        return _format_opaque(value, options)
    return format_octet_string(value, options)


def _labelled(label: str, text: str, options: OutputOptions) -> str:
    return text if options.quick else f"{label}: {text}"


def _format_number(value: int, options: OutputOptions) -> str:
    if isinstance(value, TimeTicks):
        return format_timeticks(value, options)
    if isinstance(value, Counter32):
        label = "Counter32"
    elif isinstance(value, Gauge32):
        label = "Gauge32"
    elif isinstance(value, Counter64):
        label = "Counter64"
    else:
        label = "INTEGER"
    return _labelled(label, str(int(value)), options)


def format_timeticks(ticks: int, options: OutputOptions) -> str:
    """Format TimeTicks: `Timeticks: (8640000) 1 day, 0:00:00.00`, `1:0:00:00.00` under -Oq."""
    if options.numeric_timeticks:
        return str(ticks)
    hundredths = ticks % 100
    seconds_total = ticks // 100
    days, rest = divmod(seconds_total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = f"{hours}:{minutes:02d}:{seconds:02d}.{hundredths:02d}"
    if options.quick:
        return f"{days}:{clock}"
    if days == 0:
        uptime = clock
    elif days == 1:
        uptime = f"1 day, {clock}"
    else:
        uptime = f"{days} days, {clock}"
    return f"Timeticks: ({ticks}) {uptime}"


def format_octet_string(data: bytes, options: OutputOptions) -> str:
    """Format an OCTET STRING as `STRING: "text"` or `Hex-STRING: 00 1A `, as net-snmp decides.

    net-snmp prints text when every byte passes C's isprint() or isspace() in the C locale, so a
    trailing NUL, UTF-8 or DEL make it hex. An empty string is `""` with no label.
    """
    if not data:
        return '""'
    as_hex = options.hex_strings or (not options.ascii_strings and not is_printable(data))
    if as_hex:
        text = format_hex(data)
        return f'"{text}"' if options.quick else f"Hex-STRING: {text}"
    quoted = '"' + _escape_text(data) + '"'
    return quoted if options.quick else f"STRING: {quoted}"


def is_printable(data: bytes) -> bool:
    """Tell whether net-snmp prints `data` as text: each byte is 0x20-0x7E or a C space."""
    return all(0x20 <= byte <= 0x7E or byte in _SPACE_BYTES for byte in data)


def _escape_text(data: bytes) -> str:
    characters = []
    for byte in data:
        if 0x20 <= byte <= 0x7E or byte in _SPACE_BYTES:
            character = chr(byte)
            # net-snmp escapes only the two characters that would end or break the quoting.
            characters.append("\\" + character if character in '"\\' else character)
        else:
            characters.append(".")
    return "".join(characters)


def format_hex(data: bytes) -> str:
    """Format bytes as net-snmp does: `XX ` per byte, and a newline after each 16 if more follow."""
    lines = []
    for start in range(0, len(data), _HEX_BYTES_PER_LINE):
        chunk = data[start:start + _HEX_BYTES_PER_LINE]
        lines.append("".join(f"{byte:02X} " for byte in chunk))
    return "\n".join(lines)


def _format_opaque(value: Opaque, options: OutputOptions) -> str:
    inner_tag, inner = value.inner_tag, value.inner
    if inner is not None and inner_tag in _OPAQUE_FLOAT_TAGS:
        # net-snmp 5.9.3 labels doubles "Float" too, and prints both with C's "%f".
        return _labelled("Opaque: Float", f"{float(inner):f}", options)
    if inner is not None and inner_tag in _OPAQUE_INTEGER_LABELS:
        return _labelled(f"Opaque: {_OPAQUE_INTEGER_LABELS[inner_tag]}", str(int(inner)), options)
    return _labelled("OPAQUE", format_hex(bytes(value)), options)


# Value classes by tag, for MalformedValue's lenient numbers, which may come as a plain int.
_NUMBER_TYPES: dict[int, type[int]] = {
    Tag.INTEGER: Integer32,
    Tag.COUNTER32: Counter32,
    Tag.GAUGE32: Gauge32,
    Tag.TIMETICKS: TimeTicks,
    Tag.COUNTER64: Counter64,
}


def _format_malformed(value: MalformedValue, options: OutputOptions) -> str:
    """Format a value the agent encoded wrongly.

    With a lenient reading, print it as net-snmp prints the same bytes (checked for an unpadded
    or short Counter32, an oversized Counter32, which net-snmp cuts to 32 bits, and an INTEGER
    wider than 32 bits). Without one net-snmp drops the whole response, so no output can match;
    print the reason and the raw TLV instead.
    """
    lenient = value.value
    number_type = _NUMBER_TYPES.get(value.tag)
    if isinstance(lenient, int) and number_type is not None:
        if number_type in (Counter32, Gauge32, TimeTicks):
            lenient &= _UINT32_MASK
        return _format_number(number_type(lenient), options)
    if lenient is not None and not isinstance(lenient, int):
        return format_value(lenient, options)
    return f"Wrong Type ({value.reason}): Hex-STRING: {format_hex(value.raw)}"
