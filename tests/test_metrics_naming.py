"""Metric and label naming, and how each SNMP type becomes a sample."""

from __future__ import annotations

import pytest

from snmpd_ng.metrics.naming import add_label, label_name, metric_name
from snmpd_ng.metrics.values import UnconvertibleValue, convert
from snmpd_ng.protocol.values import (
    END_OF_MIB_VIEW,
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
    TimeTicks,
)


@pytest.mark.parametrize(("name", "expected"), [
    ("ifHCInOctets", "ifHCInOctets"),
    ("hrStorage-Size", "hrStorage_Size"),
    ("1stValue", "_1stValue"),
    ("a:b", "a:b"),
])
def test_metric_name_sanitized(name: str, expected: str) -> None:
    assert metric_name(name) == expected


@pytest.mark.parametrize(("name", "expected"), [
    ("ifIndex", "ifIndex"),
    ("a:b", "a_b"),
    ("__meta", "_meta"),
    ("9lives", "_9lives"),
])
def test_label_name_sanitized(name: str, expected: str) -> None:
    assert label_name(name) == expected


def test_add_label_clash_becomes_exported() -> None:
    labels = {"target": "router"}

    add_label(labels, "target", "from-config")

    assert labels == {"target": "router", "exported_target": "from-config"}


@pytest.mark.parametrize(("value", "expected"), [
    (Counter32(5), ("counter", 5.0)),
    (Counter64(2**63), ("counter", float(2**63))),
    (Gauge32(7), ("gauge", 7.0)),
    (Integer32(-3), ("gauge", -3.0)),
    (TimeTicks(12345), ("gauge", 12345.0)),
    (Opaque(b"\x9f\x78\x04\x41\x5b\x33\x33", 13.5, 0x78), ("gauge", 13.5)),
    (OctetString(b"Linux"), ("info", "Linux")),
    (IpAddress(b"\x7f\x00\x00\x01"), ("info", "127.0.0.1")),
    (ObjectIdentifier((1, 3, 6, 1, 4, 1, 8072)), ("info", "1.3.6.1.4.1.8072")),
    (MalformedValue(0x41, b"\x41\x02\xff\xff", "no pad", Counter32(65535)),
     ("counter", 65535.0)),
])
def test_convert_auto_by_snmp_type(value: object, expected: tuple[str, object]) -> None:
    assert convert("auto", value) == expected


@pytest.mark.parametrize("value", [
    END_OF_MIB_VIEW, NULL, MalformedValue(0x02, b"\x02\x00", "empty"), "not snmp"])
def test_convert_no_data_gives_no_sample(value: object) -> None:
    assert convert("auto", value) is None


def test_convert_skip_gives_no_sample() -> None:
    assert convert("skip", Counter32(1)) is None


def test_convert_gauge_parses_numeric_text() -> None:
    # UCD-SNMP-MIB laLoad is a DisplayString such as "0.15".
    assert convert("gauge", OctetString(b"0.15")) == ("gauge", 0.15)


def test_convert_gauge_rejects_other_text() -> None:
    with pytest.raises(UnconvertibleValue, match="'up' is not a number"):
        convert("gauge", OctetString(b"up"))


def test_convert_counter_override_on_gauge() -> None:
    assert convert("counter", Gauge32(9)) == ("counter", 9.0)


def test_convert_info_override_on_number() -> None:
    assert convert("info", Integer32(6)) == ("info", "6")
