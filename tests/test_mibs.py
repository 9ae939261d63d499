"""Tests of the built-in MIB name table (snmpd_ng.mibs)."""

from __future__ import annotations

import pytest

from snmpd_ng import mibs
from snmpd_ng.config.model import IndexSpec


@pytest.mark.parametrize(
    ("name", "oid"),
    [
        ("sysDescr", "1.3.6.1.2.1.1.1"),
        ("sysUpTime", "1.3.6.1.2.1.1.3"),
        ("sysServices", "1.3.6.1.2.1.1.7"),
        ("ifMtu", "1.3.6.1.2.1.2.2.1.4"),
        ("ifSpeed", "1.3.6.1.2.1.2.2.1.5"),
        ("ifOutErrors", "1.3.6.1.2.1.2.2.1.20"),
        ("ifName", "1.3.6.1.2.1.31.1.1.1.1"),
        ("ifHCInOctets", "1.3.6.1.2.1.31.1.1.1.6"),
        ("ifHighSpeed", "1.3.6.1.2.1.31.1.1.1.15"),
        ("ifAlias", "1.3.6.1.2.1.31.1.1.1.18"),
        ("hrSystemProcesses", "1.3.6.1.2.1.25.1.6"),
        ("hrStorageSize", "1.3.6.1.2.1.25.2.3.1.5"),
        ("hrProcessorLoad", "1.3.6.1.2.1.25.3.3.1.2"),
        ("memTotalReal", "1.3.6.1.4.1.2021.4.5"),
        ("memAvailRealX", "1.3.6.1.4.1.2021.4.21"),
        ("dskPercent", "1.3.6.1.4.1.2021.9.1.9"),
        ("laLoadInt", "1.3.6.1.4.1.2021.10.1.5"),
        ("ssCpuRawIdle", "1.3.6.1.4.1.2021.11.53"),
    ],
)
def test_resolve_name_gives_mib_oid(name: str, oid: str) -> None:
    assert mibs.resolve(name).oid == tuple(int(arc) for arc in oid.split("."))


def test_resolve_name_with_suffix() -> None:
    resolved = mibs.resolve("ifDescr.2")

    assert resolved.oid == (1, 3, 6, 1, 2, 1, 2, 2, 1, 2, 2)
    assert resolved.suffix == (2,)
    assert resolved.mib_object is not None
    assert resolved.mib_object.name == "ifDescr"


@pytest.mark.parametrize("text", ["1.3.6.1.2.1.1.3.0", ".1.3.6.1.2.1.1.3.0"])
def test_resolve_numeric_oid_has_no_object(text: str) -> None:
    resolved = mibs.resolve(text)

    assert resolved.oid == (1, 3, 6, 1, 2, 1, 1, 3, 0)
    assert resolved.mib_object is None


def test_resolve_unknown_name_suggests_close_one() -> None:
    with pytest.raises(ValueError, match="did you mean 'ifHCInOctets'"):
        mibs.resolve("ifHCInOctet")


def test_resolve_non_numeric_suffix_is_rejected() -> None:
    with pytest.raises(ValueError, match="invalid OID"):
        mibs.resolve("ifDescr.x")


@pytest.mark.parametrize(
    ("name", "metric_type"),
    [
        ("ifInOctets", "counter"),  # Counter32
        ("ifHCInOctets", "counter"),  # Counter64
        ("ifSpeed", "gauge"),  # Gauge32
        ("ifMtu", "gauge"),  # Integer32
        ("sysUpTime", "gauge"),  # TimeTicks
        ("memTotalRealX", "gauge"),  # CounterBasedGauge64: Counter64 on the wire, a gauge
        ("ifDescr", "auto"),  # DisplayString
        ("hrStorageType", "auto"),  # AutonomousType
        ("laLoadFloat", "auto"),  # Opaque float
    ],
)
def test_metric_type_follows_syntax(name: str, metric_type: str) -> None:
    mib_object = mibs.find_object(name)

    assert mib_object is not None
    assert mib_object.metric_type == metric_type


def test_counter_based_gauge_is_counter64_on_wire() -> None:
    mib_object = mibs.find_object("memAvailRealX")

    assert mib_object is not None
    assert mib_object.base_type == "Counter64"
    assert not mib_object.is_counter


@pytest.mark.parametrize(
    ("table", "label"),
    [
        ("ifTable", "ifIndex"),
        ("ifXTable", "ifIndex"),
        ("hrStorageTable", "hrStorageIndex"),
        ("hrProcessorTable", "hrDeviceIndex"),
        ("hrDeviceTable", "hrDeviceIndex"),
        ("laTable", "laIndex"),
        ("dskTable", "dskIndex"),
        ("sysORTable", "sysORIndex"),
    ],
)
def test_table_index_is_labelled_by_index_object(table: str, label: str) -> None:
    mib_table = mibs.find_table(table)

    assert mib_table is not None
    assert mib_table.indexes == (IndexSpec(label, "integer"),)


def test_table_columns_sit_under_entry() -> None:
    for table_name in mibs.table_names():
        mib_table = mibs.find_table(table_name)
        assert mib_table is not None
        for column in mib_table.columns:
            mib_object = mibs.find_object(column)
            assert mib_object is not None
            assert mib_object.oid[:-1] == mib_table.entry_oid, column
            assert mib_object.table == table_name, column


def test_name_of_reverses_resolve() -> None:
    for name in mibs.object_names():
        assert mibs.name_of(mibs.resolve(name).oid) == name


def test_scalar_and_column_are_told_apart() -> None:
    scalar = mibs.find_object("sysUpTime")
    column = mibs.find_object("ifName")

    assert scalar is not None and scalar.is_scalar
    assert column is not None and not column.is_scalar


def test_suggest_ignores_case() -> None:
    assert mibs.suggest("ifhcinoctets") == "ifHCInOctets"


# net-snmp's type labels (snmpwalk -On, no MIBs loaded) for each base type. An empty OCTET STRING
# prints as `""` with no label.
NETSNMP_LABELS = {
    "INTEGER": {"INTEGER"},
    "OCTET STRING": {"STRING", "Hex-STRING", '""'},
    "OBJECT IDENTIFIER": {"OID"},
    "IpAddress": {"IpAddress"},
    "Counter32": {"Counter32"},
    "Gauge32": {"Gauge32"},
    "TimeTicks": {"Timeticks"},
    "Opaque": {"Opaque"},
    "Counter64": {"Counter64"},
}
WALKED_SUBTREES = (
    ".1.3.6.1.2.1.1",
    ".1.3.6.1.2.1.2",
    ".1.3.6.1.2.1.31.1",
    ".1.3.6.1.2.1.25.1",
    ".1.3.6.1.2.1.25.2",
    ".1.3.6.1.2.1.25.3.2",
    ".1.3.6.1.2.1.25.3.3",
    ".1.3.6.1.4.1.2021",
)


def object_of_instance(oid: tuple[int, ...]) -> mibs.MibObject | None:
    """Find the table object whose OID is the longest prefix of an instance OID."""
    for end in range(len(oid) - 1, 0, -1):
        name = mibs.name_of(oid[:end])
        if name is not None:
            return mibs.find_object(name)
    return None


def test_types_match_netsnmp_agent(snmpd_agent) -> None:  # type: ignore[no-untyped-def]
    checked = 0
    for subtree in WALKED_SUBTREES:
        rc, stdout, stderr = snmpd_agent.run_netsnmp(
            "snmpbulkwalk", "-v2c", "-c", snmpd_agent.public_community, "-On", subtree
        )
        assert rc == 0, stderr
        for line in stdout.splitlines():
            oid_text, separator, value = line.partition(" = ")
            if not separator or not oid_text.startswith("."):
                continue  # a continuation line of a multi-line string
            mib_object = object_of_instance(tuple(int(arc) for arc in oid_text[1:].split(".")))
            if mib_object is None:
                continue
            label = value.split(":", 1)[0] if ":" in value else value
            assert label in NETSNMP_LABELS[mib_object.base_type], (mib_object.name, line)
            checked += 1
    assert checked > 100
