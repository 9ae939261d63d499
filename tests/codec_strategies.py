"""Hypothesis strategies for SNMP values, varbinds, PDUs and v1/v2c messages that SNMP can carry."""

from __future__ import annotations

from hypothesis import strategies as st

from snmpd_ng.protocol.ber import encode_opaque_double, encode_opaque_float
from snmpd_ng.protocol.message import CommunityMessage, SnmpVersion
from snmpd_ng.protocol.oid import MAX_SUBIDENTIFIER
from snmpd_ng.protocol.pdu import AnyPdu, BulkPdu, Pdu, PduType, TrapV1Pdu
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
    ObjectIdentifier,
    OctetString,
    Opaque,
    SnmpValue,
    TimeTicks,
    VarBind,
)

INT32 = st.integers(-(2**31), 2**31 - 1)
UINT32 = st.integers(0, 2**32 - 1)
NON_NEGATIVE_INT32 = st.integers(0, 2**31 - 1)
# Small arcs most of the time, so that both the one-octet fast path and multi-octet
# sub-identifiers are common.
ARC = st.one_of(st.integers(0, 127), st.integers(0, MAX_SUBIDENTIFIER))


@st.composite
def oids(draw: st.DrawFn, max_arcs: int = 20) -> tuple[int, ...]:
    """OIDs that SNMP can carry: first arc 0..2, second below 40 unless the first is 2."""
    first = draw(st.integers(0, 2))
    second = draw(ARC if first == 2 else st.integers(0, 39))
    rest = draw(st.lists(ARC, max_size=max_arcs - 2))
    return (first, second, *rest)


def opaque_values() -> st.SearchStrategy[Opaque]:
    return st.one_of(
        st.binary(max_size=20).map(Opaque),
        st.floats(allow_nan=False, width=32).map(encode_opaque_float),
        st.floats(allow_nan=False).map(encode_opaque_double),
    )


def values(version: SnmpVersion = SnmpVersion.V2C) -> st.SearchStrategy[SnmpValue]:
    """Every value type with its whole valid range, exceptions and NULL included.

    SNMPv1 has no Counter64 and no exceptions (RFC 3584 section 4.1.2.1).
    """
    v1_values = st.one_of(
        INT32.map(Integer32),
        UINT32.map(Counter32),
        UINT32.map(Gauge32),
        UINT32.map(TimeTicks),
        st.binary(max_size=300).map(OctetString),
        st.binary(min_size=4, max_size=4).map(IpAddress),
        opaque_values(),
        oids().map(ObjectIdentifier),
        st.just(NULL),
    )
    if version == SnmpVersion.V1:
        return v1_values
    return st.one_of(
        v1_values,
        st.integers(0, 2**64 - 1).map(Counter64),
        st.sampled_from([NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW]),
    )


def varbind_lists(
    version: SnmpVersion = SnmpVersion.V2C, max_size: int = 12
) -> st.SearchStrategy[list[VarBind]]:
    return st.lists(st.builds(VarBind, oids(), values(version)), max_size=max_size)


PLAIN_PDU_TYPES = [pdu_type for pdu_type in PduType
                   if pdu_type not in (PduType.GET_BULK, PduType.TRAP_V1)]
V1_PDU_TYPES = [PduType.GET, PduType.GET_NEXT, PduType.RESPONSE, PduType.SET]


def pdus(version: SnmpVersion) -> st.SearchStrategy[AnyPdu]:
    types = V1_PDU_TYPES if version == SnmpVersion.V1 else PLAIN_PDU_TYPES
    plain = st.builds(Pdu, st.sampled_from(types), INT32, varbind_lists(version),
                      st.integers(0, 18), NON_NEGATIVE_INT32)
    if version == SnmpVersion.V1:
        trap = st.builds(TrapV1Pdu, oids(), st.binary(min_size=4, max_size=4).map(IpAddress),
                         st.integers(0, 6), INT32, UINT32, varbind_lists(version))
        return st.one_of(plain, trap)
    bulk = st.builds(BulkPdu, INT32, NON_NEGATIVE_INT32, NON_NEGATIVE_INT32, varbind_lists())
    return st.one_of(plain, bulk)


@st.composite
def messages(draw: st.DrawFn) -> CommunityMessage:
    """SNMPv1 and SNMPv2c messages; v1 carries traps, v2c carries GETBULK."""
    version = draw(st.sampled_from([SnmpVersion.V1, SnmpVersion.V2C]))
    community = draw(st.binary(max_size=40))
    return CommunityMessage(version, community, draw(pdus(version)))
