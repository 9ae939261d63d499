"""Index suffixes to labels (RFC 2578 section 7.7) and SNMP values shown as label text."""

from __future__ import annotations

import pytest

from snmpd_ng.config.model import IndexSpec
from snmpd_ng.polling.labels import IndexDecodeError, decode_index, octets_text, value_text
from snmpd_ng.protocol.values import (
    NO_SUCH_OBJECT,
    Counter64,
    Gauge32,
    IpAddress,
    MalformedValue,
    ObjectIdentifier,
    OctetString,
    Opaque,
)


@pytest.mark.parametrize(("suffix", "indexes", "expected"), [
    ((7,), (IndexSpec("ifIndex"),), (("ifIndex", "7"),)),
    ((3, 101, 116, 104, 5), (IndexSpec("name", "string"), IndexSpec("id")),
     (("name", "eth"), ("id", "5"))),
    ((0, 1), (IndexSpec("name", "string"), IndexSpec("id")), (("name", ""), ("id", "1"))),
    ((97, 98), (IndexSpec("code", "fixed_string", length=2),), (("code", "ab"),)),
    ((192, 0, 2, 10), (IndexSpec("address", "ipaddress"),), (("address", "192.0.2.10"),)),
    ((0, 17, 34, 170, 187, 204), (IndexSpec("mac", "mac"),),
     (("mac", "00:11:22:AA:BB:CC"),)),
    ((4, 1, 3, 6, 1), (IndexSpec("kind"), IndexSpec("oid", "oid")),
     (("kind", "4"), ("oid", "1.3.6.1"))),
    ((2, 0, 255, 9), (IndexSpec("raw", "string"), IndexSpec("id")),
     (("raw", "0x00FF"), ("id", "9"))),
])
def test_decode_index_each_type(suffix: tuple[int, ...], indexes: tuple[IndexSpec, ...],
                                expected: tuple[tuple[str, str], ...]) -> None:
    assert decode_index(suffix, indexes) == expected


@pytest.mark.parametrize(("suffix", "indexes", "message"), [
    ((), (IndexSpec("ifIndex"),), "needs 1 arc"),
    ((1, 2), (IndexSpec("ifIndex"),), "1 arc(s) are left"),
    ((5, 97, 98), (IndexSpec("name", "string"),), "needs 5 arc(s) at position 1"),
    ((1, 300), (IndexSpec("name", "string"),), "above 255"),
    ((192, 0, 2), (IndexSpec("address", "ipaddress"),), "needs 4 arc(s)"),
    ((1, 2), (IndexSpec("code", "fixed_string"),), "no length configured"),
])
def test_decode_index_rejects_bad_suffix(suffix: tuple[int, ...],
                                         indexes: tuple[IndexSpec, ...], message: str) -> None:
    with pytest.raises(IndexDecodeError) as caught:
        decode_index(suffix, indexes)

    assert message in str(caught.value)
    assert "check the table's index definition" in str(caught.value)


def test_octets_text_drops_trailing_nul() -> None:
    assert octets_text(b"eth0\x00") == "eth0"


def test_octets_text_binary_as_hex() -> None:
    assert octets_text(b"\x00\x1b\x21\x3c\x9d\xf8") == "0x001B213C9DF8"


def test_octets_text_control_characters_as_hex() -> None:
    assert octets_text(b"a\nb") == "0x610A62"


def test_octets_text_utf8_kept() -> None:
    assert octets_text("Zürich".encode()) == "Zürich"


@pytest.mark.parametrize(("value", "expected"), [
    (OctetString(b"eth0"), "eth0"),
    (IpAddress(b"\xc0\x00\x02\x01"), "192.0.2.1"),
    (ObjectIdentifier((1, 3, 6, 1)), "1.3.6.1"),
    (Gauge32(5), "5"),
    (Counter64(2**64 - 1), "18446744073709551615"),
    (Opaque(b"\x9f\x78\x04\x41\x5b\x33\x33", 13.699999809265137, 0x78), "13.699999809265137"),
    (MalformedValue(0x41, b"\x41\x01\xff", "no pad", Gauge32(255)), "255"),
    (MalformedValue(0x02, b"\x02\x00", "empty"), None),
    (NO_SUCH_OBJECT, None),
])
def test_value_text_per_type(value: object, expected: str | None) -> None:
    assert value_text(value) == expected
