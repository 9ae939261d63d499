"""Values the pollers cache, for the tests of the cache codec, the Redis cache and the latest-values
API: a poll result with scalars and a table, its parts, and hypothesis strategies for each."""

from __future__ import annotations

from codec_strategies import ARC, oids, values
from fakes import SYS_DESCR, SYS_UPTIME, if_table, obj
from hypothesis import strategies as st

from snmpd_ng.config.model import IndexSpec, LookupSpec, ObjectSpec, TableSpec
from snmpd_ng.polling.labels import LabelPairs
from snmpd_ng.polling.poller import LookupColumn
from snmpd_ng.polling.result import JobHealth, PollResult, ScalarPart, TablePart
from snmpd_ng.protocol.oid import Oid, parse_oid
from snmpd_ng.protocol.values import (
    NO_SUCH_INSTANCE,
    Counter32,
    Counter64,
    MalformedValue,
    OctetString,
    SnmpValue,
    TimeTicks,
    VarBind,
)

START = 1000.0
"""Loop-clock time of the sample results; FakeClock starts there too."""
WALL_OFFSET = 1_700_000_000.0 - START
"""FakeClock's `wall() - now()`."""

SYS_DESCR_OBJECT = obj("sysDescr", SYS_DESCR)
UPTIME_OBJECT = obj("sysUpTime", SYS_UPTIME)


def sample_table(at: float = START) -> TablePart:
    """ifTable with two rows: ifDescr, ifInOctets and ifHCInOctets, labelled by ifName."""
    spec = if_table(slow=False, lookups=True)
    descr, in_octets, hc_in_octets = spec.columns
    columns = (
        (descr, [VarBind((*descr.oid, 1), OctetString(b"Ethernet 1")),
                 VarBind((*descr.oid, 2), OctetString(b"\xffbinary\x00"))]),
        (in_octets, [VarBind((*in_octets.oid, 1), Counter32(1000)),
                     VarBind((*in_octets.oid, 2), MalformedValue(
                         0x41, b"\x41\x05\xff\xff\xff\xff\xff", "too long",
                         Counter32(2**32 - 1)))]),
        (hc_in_octets, [VarBind((*hc_in_octets.oid, 1), Counter64(2**64 - 1)),
                        VarBind((*hc_in_octets.oid, 2), NO_SUCH_INSTANCE)]),
    )
    row_labels: dict[Oid, LabelPairs] = {(1,): (("ifIndex", "1"), ("ifName", "eth0")),
                                         (2,): (("ifIndex", "2"), ("ifName", "eth1"))}
    return TablePart(spec, columns, row_labels, at)


def sample_result(target: str = "r1", job: str = "if", at: float = START,
                  uptime: int = 123456) -> PollResult:
    """A successful run with two scalars (plus an unlisted sysUpTime.0) and `sample_table`."""
    scalars = ScalarPart(
        (SYS_DESCR_OBJECT,),
        [VarBind(SYS_DESCR_OBJECT.oid, OctetString("Linux ünïcode 6.1".encode())),
         VarBind(parse_oid(SYS_UPTIME), TimeTicks(uptime))],
        at,
    )
    health = JobHealth(runs=3, failed_runs=1, missed_slots=2, errors={"timeout": 1},
                       exception_values={"noSuchInstance": 3}, malformed_values=1,
                       index_errors=0, failures={"scalars": 0, "ifTable": 0},
                       last_success_wall=at + WALL_OFFSET, last_duration=0.25)
    return PollResult(target, job, 10.0, 3, at - 0.5, at - 0.4, at, at + WALL_OFFSET, True,
                      None, None, scalars, (sample_table(at - 0.1),), health, None, reboots=1)


def sample_lookup() -> LookupColumn:
    return LookupColumn({(1,): "eth0", (2,): "eth1"}, frozenset({(1,), (2,), (3,)}))


# Hypothesis strategies

NAMES = st.text(max_size=20)
TIMES = st.floats(-1e12, 1e12, allow_nan=False)
COUNTS = st.integers(0, 2**63)


def malformed_values() -> st.SearchStrategy[MalformedValue]:
    lenient: st.SearchStrategy[SnmpValue | int | None] = st.one_of(
        st.none(), st.integers(-(2**70), 2**70), values())
    return st.builds(MalformedValue, st.integers(0, 0xFFFF), st.binary(max_size=20), NAMES,
                     lenient)


def every_value() -> st.SearchStrategy[SnmpValue]:
    """Every SNMP value type, malformed values included."""
    return st.one_of(values(), malformed_values())


SUFFIXES: st.SearchStrategy[Oid] = st.lists(ARC, max_size=6).map(tuple)
OBJECTS = st.builds(ObjectSpec, oids(), NAMES,
                    st.sampled_from(["auto", "counter", "gauge", "info", "skip"]), NAMES)
INDEXES = st.builds(IndexSpec, NAMES,
                    st.sampled_from(["integer", "string", "fixed_string", "ipaddress", "oid",
                                     "mac"]),
                    st.none() | st.integers(0, 64))
TABLE_SPECS = st.builds(TableSpec, NAMES, st.lists(OBJECTS, max_size=3).map(tuple),
                        st.lists(INDEXES, max_size=3).map(tuple),
                        st.lists(st.builds(LookupSpec, NAMES, oids()), max_size=2).map(tuple),
                        st.booleans())
LABEL_PAIRS = st.lists(st.tuples(NAMES, NAMES), max_size=3).map(tuple)


@st.composite
def columns(draw: st.DrawFn) -> tuple[ObjectSpec, list[VarBind]]:
    """A column whose rows are under its OID, or (sometimes) anywhere."""
    spec = draw(OBJECTS)
    rows = draw(st.lists(st.builds(VarBind, SUFFIXES.map(lambda s: spec.oid + s),
                                   every_value()), max_size=4))
    strays = draw(st.lists(st.builds(VarBind, oids(), every_value()), max_size=1))
    return spec, rows + strays


TABLE_PARTS = st.builds(TablePart, TABLE_SPECS, st.lists(columns(), max_size=3).map(tuple),
                        st.dictionaries(SUFFIXES, LABEL_PAIRS, max_size=4), TIMES,
                        st.booleans())
SCALAR_PARTS = st.builds(ScalarPart, st.lists(OBJECTS, max_size=3).map(tuple),
                         st.lists(st.builds(VarBind, oids(), every_value()), max_size=4), TIMES)
HEALTH = st.builds(JobHealth, COUNTS, COUNTS, COUNTS,
                   st.dictionaries(NAMES, COUNTS, max_size=3),
                   st.dictionaries(NAMES, COUNTS, max_size=3), COUNTS, COUNTS,
                   st.dictionaries(NAMES, COUNTS, max_size=3), st.none() | TIMES, TIMES)
POLL_RESULTS = st.builds(
    PollResult, NAMES, NAMES, st.floats(0.001, 1e6), st.integers(0, 100), TIMES, TIMES, TIMES,
    TIMES, st.booleans(), st.none() | NAMES, st.none() | NAMES, st.none() | SCALAR_PARTS,
    st.lists(TABLE_PARTS, max_size=2).map(tuple), HEALTH, st.none(), COUNTS)
LOOKUP_COLUMNS = st.builds(LookupColumn, st.dictionaries(SUFFIXES, NAMES, max_size=4),
                           st.frozensets(SUFFIXES, max_size=4))
