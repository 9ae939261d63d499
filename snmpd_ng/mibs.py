"""Symbolic names for the common MIB objects, typed from the MIB modules' own text.

snmpd_ng loads no MIB files. This table covers the objects that most polling configs need, so a
job can list `ifHCInOctets` instead of 1.3.6.1.2.1.31.1.1.1.6 and a table named `ifXTable` gets its
index labels and counter types right. Anything else is polled by numeric OID.

Sources, typed by hand from the module text:
- SNMPv2-MIB (RFC 3418): the system group and sysORTable.
- IF-MIB (RFC 2863): ifNumber, ifTable, ifXTable, ifTableLastChange.
- HOST-RESOURCES-MIB (RFC 2790): hrSystem, hrMemorySize, hrStorageTable, hrDeviceTable,
  hrProcessorTable.
- UCD-SNMP-MIB (net-snmp 5.9): memory, dskTable, laTable, systemStats.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from snmpd_ng.config.model import IndexSpec, MetricType
from snmpd_ng.protocol.oid import Oid, parse_oid

BaseType = Literal[
    "INTEGER",
    "OCTET STRING",
    "OBJECT IDENTIFIER",
    "IpAddress",
    "Counter32",
    "Gauge32",
    "TimeTicks",
    "Opaque",
    "Counter64",
]
"""The SNMP type on the wire (RFC 2578 section 7.1), after textual conventions are resolved."""

# Textual conventions used below -> the type their values have on the wire.
_SYNTAX_BASE: dict[str, BaseType] = {
    "INTEGER": "INTEGER",
    "Integer32": "INTEGER",
    "InterfaceIndex": "INTEGER",
    "IANAifType": "INTEGER",
    "TruthValue": "INTEGER",
    "KBytes": "INTEGER",
    "UCDErrorFlag": "INTEGER",
    "OCTET STRING": "OCTET STRING",
    "DisplayString": "OCTET STRING",
    "InternationalDisplayString": "OCTET STRING",
    "PhysAddress": "OCTET STRING",
    "DateAndTime": "OCTET STRING",
    "OBJECT IDENTIFIER": "OBJECT IDENTIFIER",
    "AutonomousType": "OBJECT IDENTIFIER",
    "ProductID": "OBJECT IDENTIFIER",
    "IpAddress": "IpAddress",
    "Counter32": "Counter32",
    "Counter64": "Counter64",
    # HCNUM-TC (RFC 2856) defines CounterBasedGauge64 as a gauge with SYNTAX Counter64, so the
    # wire type looks like a counter while the value goes up and down.
    "CounterBasedGauge64": "Counter64",
    "Gauge32": "Gauge32",
    "Unsigned32": "Gauge32",
    "TimeTicks": "TimeTicks",
    "TimeStamp": "TimeTicks",
    # UCD-SNMP-MIB's Float: an Opaque that wraps a float (the net-snmp opaque encoding).
    "Float": "Opaque",
}

_NUMERIC_BASES = frozenset({"INTEGER", "Counter32", "Gauge32", "TimeTicks", "Counter64"})
_COUNTER_SYNTAXES = frozenset({"Counter32", "Counter64"})


@dataclass(frozen=True, slots=True)
class MibObject:
    """One OBJECT-TYPE: a scalar (instance `.0`) or a column of `table`."""

    name: str
    oid: Oid
    syntax: str
    """The SYNTAX clause: a base type or a textual convention such as DisplayString."""
    module: str
    table: str | None = None

    @property
    def base_type(self) -> BaseType:
        return _SYNTAX_BASE[self.syntax]

    @property
    def is_counter(self) -> bool:
        """True for Counter32 and Counter64, whose rate is meaningful and whose value wraps."""
        return self.syntax in _COUNTER_SYNTAXES

    @property
    def is_scalar(self) -> bool:
        return self.table is None

    @property
    def metric_type(self) -> MetricType:
        """How the object becomes a metric: counters stay counters, other numbers are gauges.

        Strings, OIDs and addresses stay "auto", which the polling layer turns into info metrics.
        """
        if self.is_counter:
            return "counter"
        if self.base_type in _NUMERIC_BASES:
            return "gauge"
        return "auto"


@dataclass(frozen=True, slots=True)
class MibTable:
    """A conceptual table: its entry OID, the INDEX clause as labels, and its column names."""

    name: str
    entry_oid: Oid
    indexes: tuple[IndexSpec, ...]
    columns: tuple[str, ...]
    module: str


_OBJECTS: dict[str, MibObject] = {}
_TABLES: dict[str, MibTable] = {}
_NAMES_BY_OID: dict[Oid, str] = {}


def _add_scalars(module: str, group: str, rows: list[tuple[str, int, str]]) -> None:
    """Add scalars `(name, arc, syntax)` that sit directly under the group OID."""
    group_oid = parse_oid(group)
    for name, arc, syntax in rows:
        _add_object(MibObject(name, (*group_oid, arc), syntax, module))


def _add_table(
    module: str,
    name: str,
    entry: str,
    indexes: tuple[IndexSpec, ...],
    rows: list[tuple[str, int, str]],
) -> None:
    """Add a table and its columns `(name, arc, syntax)` under the entry OID."""
    entry_oid = parse_oid(entry)
    for column, arc, syntax in rows:
        _add_object(MibObject(column, (*entry_oid, arc), syntax, module, table=name))
    columns = tuple(row[0] for row in rows)
    _TABLES[name] = MibTable(name, entry_oid, indexes, columns, module)


def _add_object(mib_object: MibObject) -> None:
    # A typo in the rows below must fail at import, not produce a silently wrong metric.
    if mib_object.syntax not in _SYNTAX_BASE:
        raise ValueError(f"{mib_object.name}: unknown syntax {mib_object.syntax!r}")
    if mib_object.name in _OBJECTS or mib_object.oid in _NAMES_BY_OID:
        raise ValueError(f"{mib_object.name}: name or OID defined twice")
    _OBJECTS[mib_object.name] = mib_object
    _NAMES_BY_OID[mib_object.oid] = mib_object.name


# SNMPv2-MIB (RFC 3418), system group: 1.3.6.1.2.1.1.
_add_scalars("SNMPv2-MIB", "1.3.6.1.2.1.1", [
    ("sysDescr", 1, "DisplayString"),
    ("sysObjectID", 2, "OBJECT IDENTIFIER"),
    ("sysUpTime", 3, "TimeTicks"),
    ("sysContact", 4, "DisplayString"),
    ("sysName", 5, "DisplayString"),
    ("sysLocation", 6, "DisplayString"),
    ("sysServices", 7, "INTEGER"),
    ("sysORLastChange", 8, "TimeStamp"),
])
_add_table("SNMPv2-MIB", "sysORTable", "1.3.6.1.2.1.1.9.1", (IndexSpec("sysORIndex"),), [
    ("sysORIndex", 1, "INTEGER"),
    ("sysORID", 2, "OBJECT IDENTIFIER"),
    ("sysORDescr", 3, "DisplayString"),
    ("sysORUpTime", 4, "TimeStamp"),
])

# IF-MIB (RFC 2863): interfaces group 1.3.6.1.2.1.2 and ifMIBObjects 1.3.6.1.2.1.31.1.
_IF_INDEX = (IndexSpec("ifIndex"),)
_add_scalars("IF-MIB", "1.3.6.1.2.1.2", [("ifNumber", 1, "Integer32")])
_add_table("IF-MIB", "ifTable", "1.3.6.1.2.1.2.2.1", _IF_INDEX, [
    ("ifIndex", 1, "InterfaceIndex"),
    ("ifDescr", 2, "DisplayString"),
    ("ifType", 3, "IANAifType"),
    ("ifMtu", 4, "Integer32"),
    ("ifSpeed", 5, "Gauge32"),
    ("ifPhysAddress", 6, "PhysAddress"),
    ("ifAdminStatus", 7, "INTEGER"),
    ("ifOperStatus", 8, "INTEGER"),
    ("ifLastChange", 9, "TimeTicks"),
    ("ifInOctets", 10, "Counter32"),
    ("ifInUcastPkts", 11, "Counter32"),
    ("ifInNUcastPkts", 12, "Counter32"),
    ("ifInDiscards", 13, "Counter32"),
    ("ifInErrors", 14, "Counter32"),
    ("ifInUnknownProtos", 15, "Counter32"),
    ("ifOutOctets", 16, "Counter32"),
    ("ifOutUcastPkts", 17, "Counter32"),
    ("ifOutNUcastPkts", 18, "Counter32"),
    ("ifOutDiscards", 19, "Counter32"),
    ("ifOutErrors", 20, "Counter32"),
    ("ifOutQLen", 21, "Gauge32"),
    ("ifSpecific", 22, "OBJECT IDENTIFIER"),
])
# ifXEntry AUGMENTS ifEntry, so its rows have ifTable's index.
_add_table("IF-MIB", "ifXTable", "1.3.6.1.2.1.31.1.1.1", _IF_INDEX, [
    ("ifName", 1, "DisplayString"),
    ("ifInMulticastPkts", 2, "Counter32"),
    ("ifInBroadcastPkts", 3, "Counter32"),
    ("ifOutMulticastPkts", 4, "Counter32"),
    ("ifOutBroadcastPkts", 5, "Counter32"),
    ("ifHCInOctets", 6, "Counter64"),
    ("ifHCInUcastPkts", 7, "Counter64"),
    ("ifHCInMulticastPkts", 8, "Counter64"),
    ("ifHCInBroadcastPkts", 9, "Counter64"),
    ("ifHCOutOctets", 10, "Counter64"),
    ("ifHCOutUcastPkts", 11, "Counter64"),
    ("ifHCOutMulticastPkts", 12, "Counter64"),
    ("ifHCOutBroadcastPkts", 13, "Counter64"),
    ("ifLinkUpDownTrapEnable", 14, "INTEGER"),
    ("ifHighSpeed", 15, "Gauge32"),
    ("ifPromiscuousMode", 16, "TruthValue"),
    ("ifConnectorPresent", 17, "TruthValue"),
    ("ifAlias", 18, "DisplayString"),
    ("ifCounterDiscontinuityTime", 19, "TimeStamp"),
])
_add_scalars("IF-MIB", "1.3.6.1.2.1.31.1", [("ifTableLastChange", 5, "TimeStamp")])

# HOST-RESOURCES-MIB (RFC 2790): host 1.3.6.1.2.1.25.
_add_scalars("HOST-RESOURCES-MIB", "1.3.6.1.2.1.25.1", [
    ("hrSystemUptime", 1, "TimeTicks"),
    ("hrSystemDate", 2, "DateAndTime"),
    ("hrSystemInitialLoadDevice", 3, "Integer32"),
    ("hrSystemInitialLoadParameters", 4, "InternationalDisplayString"),
    ("hrSystemNumUsers", 5, "Gauge32"),
    ("hrSystemProcesses", 6, "Gauge32"),
    ("hrSystemMaxProcesses", 7, "Integer32"),
])
_add_scalars("HOST-RESOURCES-MIB", "1.3.6.1.2.1.25.2", [("hrMemorySize", 2, "KBytes")])
_HR_STORAGE_INDEX = (IndexSpec("hrStorageIndex"),)
_add_table("HOST-RESOURCES-MIB", "hrStorageTable", "1.3.6.1.2.1.25.2.3.1", _HR_STORAGE_INDEX, [
    ("hrStorageIndex", 1, "Integer32"),
    ("hrStorageType", 2, "AutonomousType"),
    ("hrStorageDescr", 3, "DisplayString"),
    ("hrStorageAllocationUnits", 4, "Integer32"),
    ("hrStorageSize", 5, "Integer32"),
    ("hrStorageUsed", 6, "Integer32"),
    ("hrStorageAllocationFailures", 7, "Counter32"),
])
# hrProcessorEntry is indexed by hrDeviceIndex, so hrDeviceDescr can label processor rows.
_HR_DEVICE_INDEX = (IndexSpec("hrDeviceIndex"),)
_add_table("HOST-RESOURCES-MIB", "hrDeviceTable", "1.3.6.1.2.1.25.3.2.1", _HR_DEVICE_INDEX, [
    ("hrDeviceIndex", 1, "Integer32"),
    ("hrDeviceType", 2, "AutonomousType"),
    ("hrDeviceDescr", 3, "DisplayString"),
    ("hrDeviceID", 4, "ProductID"),
    ("hrDeviceStatus", 5, "INTEGER"),
    ("hrDeviceErrors", 6, "Counter32"),
])
_add_table("HOST-RESOURCES-MIB", "hrProcessorTable", "1.3.6.1.2.1.25.3.3.1", _HR_DEVICE_INDEX, [
    ("hrProcessorFrwID", 1, "ProductID"),
    ("hrProcessorLoad", 2, "Integer32"),
])

# UCD-SNMP-MIB (net-snmp): ucdavis 1.3.6.1.4.1.2021. memory and systemStats are scalar groups.
_add_scalars("UCD-SNMP-MIB", "1.3.6.1.4.1.2021.4", [
    ("memIndex", 1, "Integer32"),
    ("memErrorName", 2, "DisplayString"),
    ("memTotalSwap", 3, "Integer32"),
    ("memAvailSwap", 4, "Integer32"),
    ("memTotalReal", 5, "Integer32"),
    ("memAvailReal", 6, "Integer32"),
    ("memTotalSwapTXT", 7, "Integer32"),
    ("memAvailSwapTXT", 8, "Integer32"),
    ("memTotalRealTXT", 9, "Integer32"),
    ("memAvailRealTXT", 10, "Integer32"),
    ("memTotalFree", 11, "Integer32"),
    ("memMinimumSwap", 12, "Integer32"),
    ("memShared", 13, "Integer32"),
    ("memBuffer", 14, "Integer32"),
    ("memCached", 15, "Integer32"),
    ("memUsedSwapTXT", 16, "Integer32"),
    ("memUsedRealTXT", 17, "Integer32"),
    ("memTotalSwapX", 18, "CounterBasedGauge64"),
    ("memAvailSwapX", 19, "CounterBasedGauge64"),
    ("memTotalRealX", 20, "CounterBasedGauge64"),
    ("memAvailRealX", 21, "CounterBasedGauge64"),
    ("memTotalFreeX", 22, "CounterBasedGauge64"),
    ("memMinimumSwapX", 23, "CounterBasedGauge64"),
    ("memSharedX", 24, "CounterBasedGauge64"),
    ("memBufferX", 25, "CounterBasedGauge64"),
    ("memCachedX", 26, "CounterBasedGauge64"),
    ("memSysAvail", 27, "CounterBasedGauge64"),
    ("memSwapError", 100, "UCDErrorFlag"),
    ("memSwapErrorMsg", 101, "DisplayString"),
])
_add_table("UCD-SNMP-MIB", "dskTable", "1.3.6.1.4.1.2021.9.1", (IndexSpec("dskIndex"),), [
    ("dskIndex", 1, "Integer32"),
    ("dskPath", 2, "DisplayString"),
    ("dskDevice", 3, "DisplayString"),
    ("dskMinimum", 4, "Integer32"),
    ("dskMinPercent", 5, "Integer32"),
    ("dskTotal", 6, "Integer32"),
    ("dskAvail", 7, "Integer32"),
    ("dskUsed", 8, "Integer32"),
    ("dskPercent", 9, "Integer32"),
    ("dskPercentNode", 10, "Integer32"),
    ("dskTotalLow", 11, "Unsigned32"),
    ("dskTotalHigh", 12, "Unsigned32"),
    ("dskAvailLow", 13, "Unsigned32"),
    ("dskAvailHigh", 14, "Unsigned32"),
    ("dskUsedLow", 15, "Unsigned32"),
    ("dskUsedHigh", 16, "Unsigned32"),
    ("dskErrorFlag", 100, "UCDErrorFlag"),
    ("dskErrorMsg", 101, "DisplayString"),
])
_add_table("UCD-SNMP-MIB", "laTable", "1.3.6.1.4.1.2021.10.1", (IndexSpec("laIndex"),), [
    ("laIndex", 1, "Integer32"),
    ("laNames", 2, "DisplayString"),
    ("laLoad", 3, "DisplayString"),
    ("laConfig", 4, "DisplayString"),
    ("laLoadInt", 5, "Integer32"),
    ("laLoadFloat", 6, "Float"),
    ("laErrorFlag", 100, "UCDErrorFlag"),
    ("laErrMessage", 101, "DisplayString"),
])
_add_scalars("UCD-SNMP-MIB", "1.3.6.1.4.1.2021.11", [
    ("ssIndex", 1, "Integer32"),
    ("ssErrorName", 2, "DisplayString"),
    ("ssSwapIn", 3, "Integer32"),
    ("ssSwapOut", 4, "Integer32"),
    ("ssIOSent", 5, "Integer32"),
    ("ssIOReceive", 6, "Integer32"),
    ("ssSysInterrupts", 7, "Integer32"),
    ("ssSysContext", 8, "Integer32"),
    ("ssCpuUser", 9, "Integer32"),
    ("ssCpuSystem", 10, "Integer32"),
    ("ssCpuIdle", 11, "Integer32"),
    ("ssCpuRawUser", 50, "Counter32"),
    ("ssCpuRawNice", 51, "Counter32"),
    ("ssCpuRawSystem", 52, "Counter32"),
    ("ssCpuRawIdle", 53, "Counter32"),
    ("ssCpuRawWait", 54, "Counter32"),
    ("ssCpuRawKernel", 55, "Counter32"),
    ("ssCpuRawInterrupt", 56, "Counter32"),
    ("ssIORawSent", 57, "Counter32"),
    ("ssIORawReceived", 58, "Counter32"),
    ("ssRawInterrupts", 59, "Counter32"),
    ("ssRawContexts", 60, "Counter32"),
    ("ssCpuRawSoftIRQ", 61, "Counter32"),
    ("ssRawSwapIn", 62, "Counter32"),
    ("ssRawSwapOut", 63, "Counter32"),
    ("ssCpuRawSteal", 64, "Counter32"),
    ("ssCpuRawGuest", 65, "Counter32"),
    ("ssCpuRawGuestNice", 66, "Counter32"),
    ("ssCpuNumCpus", 67, "Integer32"),
])


@dataclass(frozen=True, slots=True)
class ResolvedName:
    """An OID written as a name with an optional numeric suffix, or as plain numbers."""

    oid: Oid
    mib_object: MibObject | None
    """The named object; None when the text was numeric."""
    suffix: Oid
    """Arcs written after the name, such as (1,) in "ifDescr.1"; empty for numeric text."""


def find_object(name: str) -> MibObject | None:
    return _OBJECTS.get(name)


def find_table(name: str) -> MibTable | None:
    return _TABLES.get(name)


def name_of(oid: Oid) -> str | None:
    """Return the name of the object whose OID is exactly `oid`, if this table has it."""
    return _NAMES_BY_OID.get(oid)


def resolve(text: str) -> ResolvedName:
    """Resolve "1.3.6.1.2.1.1.3.0", ".1.3.6...", "sysUpTime" or "ifDescr.2" to an OID.

    Raises ValueError with a suggestion when the name is unknown or a suffix is not numeric.
    """
    stripped = text.strip()
    if stripped[:1].isdigit() or stripped.startswith("."):
        return ResolvedName(parse_oid(stripped), None, ())

    name, _, rest = stripped.partition(".")
    mib_object = _OBJECTS.get(name)
    if mib_object is None:
        raise ValueError(_unknown_name_message(name))
    suffix = parse_oid(rest) if rest else ()
    return ResolvedName(mib_object.oid + suffix, mib_object, suffix)


def suggest(name: str, candidates: list[str] | None = None, cutoff: float = 0.75) -> str | None:
    """Return the closest known object or table name to `name`, for "did you mean" hints.

    `cutoff` is difflib's similarity ratio (0 to 1) below which nothing is suggested.
    """
    pool = candidates if candidates is not None else [*_OBJECTS, *_TABLES]
    matches = difflib.get_close_matches(name, pool, n=1, cutoff=cutoff)
    if not matches:
        # Case slips (ifhcinoctets) score low with difflib, so compare case-insensitively too.
        folded = {candidate.lower(): candidate for candidate in pool}
        return folded.get(name.lower())
    return matches[0]


def _unknown_name_message(name: str) -> str:
    message = f"unknown object name {name!r}"
    close = suggest(name)
    if close is not None:
        message += f"; did you mean {close!r}?"
    return message + " Use a numeric OID for objects outside the built-in MIB table."


def object_names() -> list[str]:
    return sorted(_OBJECTS)


def table_names() -> list[str]:
    return sorted(_TABLES)
