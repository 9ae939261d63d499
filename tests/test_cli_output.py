"""Value and OID formatting of the CLI, against lines captured from net-snmp 5.9.3's snmpget.

Each expected string below was printed by `MIBS= snmpget -v2c` (with the -O letters named) for an
agent serving the same value; test_cli_oracle.py repeats the comparison live.
"""

from __future__ import annotations

import pytest

from snmpd_ng.cli.output import (
    OutputOptions,
    format_hex,
    format_oid_name,
    format_value,
    format_varbind,
    is_printable,
)
from snmpd_ng.protocol.ber import encode_opaque_double, encode_opaque_float
from snmpd_ng.protocol.values import (
    END_OF_MIB_VIEW,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    NULL,
    Counter32,
    Counter64,
    Gauge32,
    Integer32,
    IpAddress,
    MalformedValue,
    ObjectIdentifier,
    OctetString,
    Opaque,
    SnmpValue,
    TimeTicks,
    VarBind,
)

DEFAULT = OutputOptions()
NUMERIC = OutputOptions(numeric=True)
QUICK = OutputOptions(quick=True)

# (value, default output, -Oq output), all captured from snmpget 5.9.3.
CAPTURED: list[tuple[SnmpValue, str, str]] = [
    (Integer32(-5), "INTEGER: -5", "-5"),
    (Integer32(-2147483648), "INTEGER: -2147483648", "-2147483648"),
    (Counter32(3013173741), "Counter32: 3013173741", "3013173741"),
    (Gauge32(4294967295), "Gauge32: 4294967295", "4294967295"),
    (Counter64(18446744073694799162), "Counter64: 18446744073694799162",
     "18446744073694799162"),
    (Counter64(0), "Counter64: 0", "0"),
    (TimeTicks(0), "Timeticks: (0) 0:00:00.00", "0:0:00:00.00"),
    (TimeTicks(8640000), "Timeticks: (8640000) 1 day, 0:00:00.00", "1:0:00:00.00"),
    (TimeTicks(123456789), "Timeticks: (123456789) 14 days, 6:56:07.89", "14:6:56:07.89"),
    (TimeTicks(4294967295), "Timeticks: (4294967295) 497 days, 2:27:52.95", "497:2:27:52.95"),
    (IpAddress(b"\x0a\x00\x00\x01"), "IpAddress: 10.0.0.1", "10.0.0.1"),
    (ObjectIdentifier((2, 999, 1)), "OID: joint-iso-ccitt.999.1", "joint-iso-ccitt.999.1"),
    (ObjectIdentifier((0, 0)), "OID: ccitt.0", "ccitt.0"),
    (ObjectIdentifier((1, 3)), "OID: iso.3", "iso.3"),
    (NULL, "NULL", "NULL"),
    (OctetString(b""), '""', '""'),
    (OctetString(b"initial"), 'STRING: "initial"', '"initial"'),
    (OctetString(b"line1\nline2"), 'STRING: "line1\nline2"', '"line1\nline2"'),
    (OctetString(b"a\tb\r\nc"), 'STRING: "a\tb\r\nc"', '"a\tb\r\nc"'),
    (OctetString(b"a\x0bb\x0cc"), 'STRING: "a\x0bb\x0cc"', '"a\x0bb\x0cc"'),
    (OctetString(b'say "hi" \\ there'), 'STRING: "say \\"hi\\" \\\\ there"',
     '"say \\"hi\\" \\\\ there"'),
    (OctetString(b"\x00\xff\x80\x7f\x0a\x20"), "Hex-STRING: 00 FF 80 7F 0A 20 ",
     '"00 FF 80 7F 0A 20 "'),
    (OctetString(b"abc\x00"), "Hex-STRING: 61 62 63 00 ", '"61 62 63 00 "'),
    (OctetString("héllo".encode()), "Hex-STRING: 68 C3 A9 6C 6C 6F ", '"68 C3 A9 6C 6C 6F "'),
    (OctetString(b"ab\x7f"), "Hex-STRING: 61 62 7F ", '"61 62 7F "'),
    (encode_opaque_float(13.7), "Opaque: Float: 13.700000", "13.700000"),
    (encode_opaque_double(13.7), "Opaque: Float: 13.700000", "13.700000"),
    (Opaque(b"\x01\x02\x03"), "OPAQUE: 01 02 03 ", "01 02 03 "),
    (Opaque(b""), "OPAQUE: ", ""),
    (Opaque(b"\x9f\x76\x03\x01\x00\x00", 65536, 0x76), "Opaque: Counter64: 65536", "65536"),
    (Opaque(b"\x9f\x7a\x02\xff\xfe", -2, 0x7A), "Opaque: Int64: -2", "-2"),
    (Opaque(b"\x9f\x7b\x02\x01\x00", 256, 0x7B), "Opaque: UInt64: 256", "256"),
    (NO_SUCH_OBJECT, "No Such Object available on this agent at this OID",
     "No Such Object available on this agent at this OID"),
    (NO_SUCH_INSTANCE, "No Such Instance currently exists at this OID",
     "No Such Instance currently exists at this OID"),
    (END_OF_MIB_VIEW,
     "No more variables left in this MIB View (It is past the end of the MIB tree)",
     "No more variables left in this MIB View (It is past the end of the MIB tree)"),
]


@pytest.mark.parametrize(("value", "expected", "_quick"), CAPTURED)
def test_format_value_default(value: SnmpValue, expected: str, _quick: str) -> None:
    assert format_value(value, DEFAULT) == expected


@pytest.mark.parametrize(("value", "_default", "expected"), CAPTURED)
def test_format_value_quick(value: SnmpValue, _default: str, expected: str) -> None:
    assert format_value(value, QUICK) == expected


def test_format_value_oid_numeric() -> None:
    assert format_value(ObjectIdentifier((1, 3, 6, 1, 4, 1, 8072)), NUMERIC) == \
        "OID: .1.3.6.1.4.1.8072"


def test_format_oid_name_forms() -> None:
    oid = (1, 3, 6, 1, 2, 1, 1, 5, 0)
    assert format_oid_name(oid, DEFAULT) == "iso.3.6.1.2.1.1.5.0"
    assert format_oid_name(oid, NUMERIC) == ".1.3.6.1.2.1.1.5.0"
    assert format_oid_name(oid, OutputOptions(full=True)) == ".iso.3.6.1.2.1.1.5.0"
    assert format_oid_name((0, 0), DEFAULT) == "ccitt.0"
    assert format_oid_name((0, 0), NUMERIC) == ".0.0"


def test_format_hex_wraps_after_16_bytes() -> None:
    # snmpget: 16 bytes stay on one line; the 17th starts a new one.
    sixteen = bytes(range(0x80, 0x90))
    assert format_hex(sixteen) == "80 81 82 83 84 85 86 87 88 89 8A 8B 8C 8D 8E 8F "
    assert format_hex(bytes(range(0x80, 0x91))) == (
        "80 81 82 83 84 85 86 87 88 89 8A 8B 8C 8D 8E 8F \n90 ")
    assert format_hex(bytes(range(0x80, 0xA0))) == (
        "80 81 82 83 84 85 86 87 88 89 8A 8B 8C 8D 8E 8F \n"
        "90 91 92 93 94 95 96 97 98 99 9A 9B 9C 9D 9E 9F ")


def test_is_printable_rules() -> None:
    assert is_printable(b"plain text ~")
    assert is_printable(b"\t\n\v\f\r ")
    assert not is_printable(b"trailing nul\x00")
    assert not is_printable(b"\x7f")
    assert not is_printable(b"\xc3\xa9")


def test_format_varbind_separators() -> None:
    varbind = VarBind((1, 3, 6, 1, 2, 1, 1, 5, 0), OctetString(b"vm"))
    assert format_varbind(varbind, NUMERIC) == '.1.3.6.1.2.1.1.5.0 = STRING: "vm"'
    assert format_varbind(varbind, OutputOptions(numeric=True, quick=True)) == \
        '.1.3.6.1.2.1.1.5.0 "vm"'
    assert format_varbind(varbind, OutputOptions(quick=True, quick_equals=True)) == \
        'iso.3.6.1.2.1.1.5.0 = "vm"'
    assert format_varbind(varbind, OutputOptions(value_only=True)) == 'STRING: "vm"'


def test_format_value_string_modes() -> None:
    assert format_value(OctetString(b"line1\nline2"), OutputOptions(hex_strings=True)) == \
        "Hex-STRING: 6C 69 6E 65 31 0A 6C 69 6E 65 32 "
    assert format_value(OctetString(b"\x00\xff\x80\x7f\x0a\x20"),
                        OutputOptions(ascii_strings=True)) == 'STRING: "....\n "'
    assert format_value(OctetString(b""), OutputOptions(hex_strings=True)) == '""'


def test_format_value_numeric_timeticks() -> None:
    assert format_value(TimeTicks(123456789), OutputOptions(numeric_timeticks=True)) == \
        "123456789"


# Malformed values that net-snmp 5.9.3 still prints, with what it printed for the same bytes.
MALFORMED_CAPTURED = [
    (MalformedValue(0x41, bytes.fromhex("4104B39961ED"), "unpadded", Counter32(3013173741)),
     "Counter32: 3013173741"),
    (MalformedValue(0x41, bytes.fromhex("4102FFFF"), "unpadded", Counter32(65535)),
     "Counter32: 65535"),
    (MalformedValue(0x41, bytes.fromhex("410501000000"), "above", 4294967296),
     "Counter32: 0"),
    (MalformedValue(0x02, bytes.fromhex("020500FFFFFC19"), "range", 4294966297),
     "INTEGER: 4294966297"),
    (MalformedValue(0x46, bytes.fromhex("4608FFFFFFFFFF1EE53A"), "unpadded",
                    Counter64(18446744073694799162)), "Counter64: 18446744073694799162"),
    (MalformedValue(0x05, bytes.fromhex("050100"), "content", NULL), "NULL"),
    (MalformedValue(0x80, bytes.fromhex("800100"), "content", NO_SUCH_OBJECT),
     "No Such Object available on this agent at this OID"),
    (MalformedValue(0x06, bytes.fromhex("06032B8001"), "0x80", ObjectIdentifier((1, 3, 1))),
     "OID: .1.3.1"),
]


@pytest.mark.parametrize(("value", "expected"), MALFORMED_CAPTURED)
def test_format_malformed_lenient(value: MalformedValue, expected: str) -> None:
    assert format_value(value, NUMERIC) == expected


def test_format_malformed_without_value() -> None:
    # net-snmp drops the whole response for these bytes, so there is no line to match.
    value = MalformedValue(0x40, bytes.fromhex("40030A0001"), "IpAddress has 3 octets instead of 4")
    assert format_value(value, DEFAULT) == \
        "Wrong Type (IpAddress has 3 octets instead of 4): Hex-STRING: 40 03 0A 00 01 "
