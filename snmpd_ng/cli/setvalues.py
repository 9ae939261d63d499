"""snmpset's TYPE letters and VALUE notation, turned into SNMP values.

    i INTEGER     u Unsigned32 (Gauge32)   t TimeTicks     a IpAddress     o OBJECT IDENTIFIER
    s STRING      x hex STRING ("41 42", "4142" or "0x41")  d decimal STRING ("65 66", "65.66")
    b BITS ("1 5")  n NULL   c Counter32   C Counter64
    U, I, F, D: Opaque-wrapped unsigned 64-bit, signed 64-bit, float and double (net-snmp's types)

net-snmp 5.9.3's snmpset rejects `c` and `C`; snmpd-ng accepts them for agents that take them.
Values outside their type's range are rejected here, before anything is sent.
"""

from __future__ import annotations

import ipaddress
import os
import re
import struct
from collections.abc import Callable

from snmpd_ng.cli.oids import parse_oid_argument
from snmpd_ng.cli.options import OperandError
from snmpd_ng.protocol.ber import encode_integer_content, encode_opaque_double, encode_opaque_float
from snmpd_ng.protocol.values import (
    NULL,
    Counter32,
    Counter64,
    Gauge32,
    Integer32,
    IpAddress,
    ObjectIdentifier,
    OctetString,
    Opaque,
    SnmpValue,
    TimeTicks,
    VarBind,
)

_INT32 = (-(2**31), 2**31 - 1)
_UINT32 = (0, 2**32 - 1)
_UINT64 = (0, 2**64 - 1)
_INT64 = (-(2**63), 2**63 - 1)

# Inner tags of net-snmp's Opaque-wrapped 64-bit integers (after 0x9F).
_OPAQUE_INT64 = 0x7A
_OPAQUE_UINT64 = 0x7B


def parse_set_operands(operands: list[str]) -> list[VarBind]:
    """Turn `OID TYPE VALUE` triples into varbinds. Raises OperandError naming the OID."""
    varbinds = []
    for start in range(0, len(operands), 3):
        oid_text, type_letter, value_text = operands[start:start + 3]
        oid = parse_oid_argument(oid_text)
        varbinds.append(VarBind(oid, parse_set_value(oid_text, type_letter, value_text)))
    return varbinds


def parse_set_value(oid_text: str, type_letter: str, text: str) -> SnmpValue:
    """Build the value for one TYPE letter. The messages follow snmpset's wording."""
    parser = _PARSERS.get(type_letter)
    if parser is None:
        raise OperandError(f"{oid_text}: Bad object type: {type_letter} "
                         "(expected one of i u t a o s x d b n c C U I F D)")
    try:
        return parser(text)
    except (ValueError, OverflowError):
        raise OperandError(
            f"{oid_text}: Bad value notation ({text}) for type {type_letter}"
        ) from None


def _ranged_integer(text: str, bounds: tuple[int, int]) -> int:
    number = int(text, 10)
    low, high = bounds
    if not low <= number <= high:
        raise ValueError(f"{number} is outside {low}..{high}")
    return number


def _parse_hex(text: str) -> OctetString:
    digits = re.sub(r"\s+", "", text)
    if digits[:2].lower() == "0x":
        digits = digits[2:]
    if len(digits) % 2:
        raise ValueError("odd number of hex digits")
    return OctetString(bytes.fromhex(digits))


def _parse_decimal(text: str) -> OctetString:
    parts = [part for part in re.split(r"[\s.]+", text) if part]
    return OctetString(bytes(_ranged_integer(part, (0, 255)) for part in parts))


def _parse_bits(text: str) -> OctetString:
    # RFC 2578 section 7.1.4: bit 0 is the most significant bit of the first octet.
    numbers = [_ranged_integer(part, (0, 65535)) for part in re.split(r"[\s,]+", text) if part]
    octets = bytearray((max(numbers) // 8 + 1) if numbers else 0)
    for number in numbers:
        octets[number // 8] |= 0x80 >> (number % 8)
    return OctetString(bytes(octets))


def _parse_ip_address(text: str) -> IpAddress:
    return IpAddress(ipaddress.IPv4Address(text).packed)


def _parse_oid_value(text: str) -> ObjectIdentifier:
    try:
        return ObjectIdentifier(parse_oid_argument(text))
    except OperandError as exc:
        raise ValueError(str(exc)) from None


def _opaque_integer(inner_tag: int, number: int) -> Opaque:
    content = encode_integer_content(number)
    if inner_tag == _OPAQUE_UINT64 and content[0] == 0 and len(content) > 1:
        content = content[1:]
    payload = bytes((0x9F, inner_tag, len(content))) + content
    return Opaque(payload, number, inner_tag)


def _parse_float(text: str) -> Opaque:
    number = float(text)
    # Raises OverflowError for a number too large for a 32-bit float, which the caller reports.
    struct.pack(">f", number)
    return encode_opaque_float(number)


_PARSERS: dict[str, Callable[[str], SnmpValue]] = {
    "i": lambda text: Integer32(_ranged_integer(text, _INT32)),
    "u": lambda text: Gauge32(_ranged_integer(text, _UINT32)),
    "t": lambda text: TimeTicks(_ranged_integer(text, _UINT32)),
    "c": lambda text: Counter32(_ranged_integer(text, _UINT32)),
    "C": lambda text: Counter64(_ranged_integer(text, _UINT64)),
    "a": _parse_ip_address,
    "o": _parse_oid_value,
    # The bytes as given on the command line, as snmpset sends them (no re-encoding).
    "s": lambda text: OctetString(os.fsencode(text)),
    "x": _parse_hex,
    "d": _parse_decimal,
    "b": _parse_bits,
    "n": lambda text: NULL,
    "U": lambda text: _opaque_integer(_OPAQUE_UINT64, _ranged_integer(text, _UINT64)),
    "I": lambda text: _opaque_integer(_OPAQUE_INT64, _ranged_integer(text, _INT64)),
    "F": _parse_float,
    "D": lambda text: encode_opaque_double(float(text)),
}
