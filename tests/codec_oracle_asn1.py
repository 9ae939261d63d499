"""SNMPv1/v2c message syntax written for pyasn1, used as an independent BER codec to test ours.

The types follow the ASN.1 of RFC 1157 section 4 (Message, Trap-PDU), RFC 3416 section 3 (PDUs,
BulkPDU, VarBind with its three exceptions) and RFC 2578 section 7 (application types). No
ranges are declared, so pyasn1 accepts any number and the comparison is about BER alone.
`to_asn1` and `from_asn1` convert between pyasn1 objects and our message classes.
"""

from __future__ import annotations

from typing import Any

# pyasn1 ships without type hints.
from pyasn1.codec.ber import decoder, encoder  # type: ignore[import-untyped]
from pyasn1.type import namedtype, tag, univ  # type: ignore[import-untyped]

from snmpd_ng.protocol.ber import decode_opaque_payload
from snmpd_ng.protocol.message import CommunityMessage, SnmpVersion
from snmpd_ng.protocol.pdu import AnyPdu, BulkPdu, Pdu, PduType, TrapV1Pdu
from snmpd_ng.protocol.values import (
    END_OF_MIB_VIEW,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    NULL,
    Counter32,
    Counter64,
    ExceptionValue,
    Gauge32,
    Integer32,
    IpAddress,
    Null,
    ObjectIdentifier,
    OctetString,
    Opaque,
    SnmpValue,
    TimeTicks,
    VarBind,
)


def _application(base: Any, number: int) -> Any:
    return base.subtype(implicitTag=tag.Tag(tag.tagClassApplication, tag.tagFormatSimple, number))


def _context_null(number: int) -> Any:
    return univ.Null().subtype(
        implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, number))


# (component name, pyasn1 type, our class) for each CHOICE alternative of a varbind value.
VALUE_ALTERNATIVES: list[tuple[str, Any, type]] = [
    ("integer", univ.Integer(), Integer32),
    ("string", univ.OctetString(), OctetString),
    ("objectID", univ.ObjectIdentifier(), ObjectIdentifier),
    ("unSpecified", univ.Null(), Null),
    ("ipAddress", _application(univ.OctetString(), 0), IpAddress),
    ("counter32", _application(univ.Integer(), 1), Counter32),
    ("gauge32", _application(univ.Integer(), 2), Gauge32),
    ("timeTicks", _application(univ.Integer(), 3), TimeTicks),
    ("opaque", _application(univ.OctetString(), 4), Opaque),
    ("counter64", _application(univ.Integer(), 6), Counter64),
    ("noSuchObject", _context_null(0), ExceptionValue),
    ("noSuchInstance", _context_null(1), ExceptionValue),
    ("endOfMibView", _context_null(2), ExceptionValue),
]
_EXCEPTION_NAMES = {NO_SUCH_OBJECT: "noSuchObject", NO_SUCH_INSTANCE: "noSuchInstance",
                    END_OF_MIB_VIEW: "endOfMibView"}
_EXCEPTIONS_BY_NAME = {name: value for value, name in _EXCEPTION_NAMES.items()}


class Value(univ.Choice):  # type: ignore[misc]
    componentType = namedtype.NamedTypes(
        *(namedtype.NamedType(name, asn1) for name, asn1, _ in VALUE_ALTERNATIVES))


class VarBindAsn1(univ.Sequence):  # type: ignore[misc]
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("name", univ.ObjectIdentifier()),
        namedtype.NamedType("value", Value()),
    )


class VarBindList(univ.SequenceOf):  # type: ignore[misc]
    componentType = VarBindAsn1()


def _pdu_sequence(second: str, third: str) -> type:
    class PduSequence(univ.Sequence):  # type: ignore[misc]
        componentType = namedtype.NamedTypes(
            namedtype.NamedType("request-id", univ.Integer()),
            namedtype.NamedType(second, univ.Integer()),
            namedtype.NamedType(third, univ.Integer()),
            namedtype.NamedType("variable-bindings", VarBindList()),
        )
    return PduSequence


PduAsn1 = _pdu_sequence("error-status", "error-index")
BulkPduAsn1 = _pdu_sequence("non-repeaters", "max-repetitions")


class TrapPduAsn1(univ.Sequence):  # type: ignore[misc]
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("enterprise", univ.ObjectIdentifier()),
        namedtype.NamedType("agent-addr", _application(univ.OctetString(), 0)),
        namedtype.NamedType("generic-trap", univ.Integer()),
        namedtype.NamedType("specific-trap", univ.Integer()),
        namedtype.NamedType("time-stamp", _application(univ.Integer(), 3)),
        namedtype.NamedType("variable-bindings", VarBindList()),
    )


def _context_pdu(base: type, number: int) -> Any:
    return base().subtype(
        implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, number))


PDU_NAMES = {pdu_type: pdu_type.name.lower().replace("_", "-") for pdu_type in PduType}
_PDU_BASES = {PduType.GET_BULK: BulkPduAsn1, PduType.TRAP_V1: TrapPduAsn1}


class Pdus(univ.Choice):  # type: ignore[misc]
    componentType = namedtype.NamedTypes(*(
        namedtype.NamedType(PDU_NAMES[pdu_type],
                            _context_pdu(_PDU_BASES.get(pdu_type, PduAsn1), pdu_type & 0x1F))
        for pdu_type in PduType
    ))


class MessageAsn1(univ.Sequence):  # type: ignore[misc]
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("version", univ.Integer()),
        namedtype.NamedType("community", univ.OctetString()),
        namedtype.NamedType("data", Pdus()),
    )


# --- conversion from our classes


def _value_to_asn1(value: SnmpValue) -> Any:
    choice = Value()
    if isinstance(value, ExceptionValue):
        name = _EXCEPTION_NAMES[value]
        choice[name] = choice.componentType[name].asn1Object.clone("")
        return choice
    for name, _, kind in VALUE_ALTERNATIVES:
        if type(value) is kind:
            schema = choice.componentType[name].asn1Object
            if kind is Null:
                choice[name] = schema.clone("")
            elif kind is ObjectIdentifier:
                choice[name] = schema.clone(tuple(value))  # type: ignore[arg-type]
            else:
                choice[name] = schema.clone(value)
            return choice
    raise TypeError(f"no ASN.1 alternative for {value!r}")


def _varbinds_to_asn1(varbinds: list[VarBind], target: Any) -> None:
    for index, (oid, value) in enumerate(varbinds):
        target[index]["name"] = univ.ObjectIdentifier(oid)
        target[index]["value"] = _value_to_asn1(value)


def to_asn1(message: CommunityMessage) -> Any:
    """Build the pyasn1 object of one of our messages."""
    asn1 = MessageAsn1()
    asn1["version"] = int(message.version)
    asn1["community"] = message.community
    pdu = message.pdu
    body = asn1["data"][PDU_NAMES[pdu.pdu_type]]
    if isinstance(pdu, TrapV1Pdu):
        body["enterprise"] = univ.ObjectIdentifier(pdu.enterprise)
        body["agent-addr"] = bytes(pdu.agent_address)
        body["generic-trap"] = pdu.generic_trap
        body["specific-trap"] = pdu.specific_trap
        body["time-stamp"] = pdu.time_stamp
    elif isinstance(pdu, BulkPdu):
        body["request-id"] = pdu.request_id
        body["non-repeaters"] = pdu.non_repeaters
        body["max-repetitions"] = pdu.max_repetitions
    else:
        body["request-id"] = pdu.request_id
        body["error-status"] = pdu.error_status
        body["error-index"] = pdu.error_index
    bindings = body["variable-bindings"]
    bindings.clear()
    _varbinds_to_asn1(pdu.varbinds, bindings)
    return asn1


def asn1_encode(message: CommunityMessage) -> bytes:
    """Encode one of our messages with pyasn1's BER encoder."""
    return bytes(encoder.encode(to_asn1(message)))


# --- conversion to our classes


def _value_from_asn1(choice: Any) -> SnmpValue:
    name = choice.getName()
    component = choice.getComponent()
    if name in _EXCEPTIONS_BY_NAME:
        return _EXCEPTIONS_BY_NAME[name]
    kind = next(kind for alternative, _, kind in VALUE_ALTERNATIVES if alternative == name)
    if kind is Null:
        return NULL
    if kind is ObjectIdentifier:
        return ObjectIdentifier(tuple(component))
    if kind is Opaque:
        payload = bytes(component)
        inner_tag, inner = decode_opaque_payload(payload)
        return Opaque(payload, inner, inner_tag)
    if kind in (OctetString, IpAddress):
        return kind(bytes(component))
    return kind(int(component))  # type: ignore[no-any-return]


def _varbinds_from_asn1(bindings: Any) -> list[VarBind]:
    return [VarBind(tuple(item["name"]), _value_from_asn1(item["value"])) for item in bindings]


def from_asn1(asn1: Any) -> CommunityMessage:
    """Build our message from a decoded pyasn1 message."""
    data = asn1["data"]
    name = data.getName()
    pdu_type = next(pdu_type for pdu_type, text in PDU_NAMES.items() if text == name)
    body = data.getComponent()
    varbinds = _varbinds_from_asn1(body["variable-bindings"])
    pdu: AnyPdu
    if pdu_type is PduType.TRAP_V1:
        pdu = TrapV1Pdu(tuple(body["enterprise"]), IpAddress(bytes(body["agent-addr"])),
                        int(body["generic-trap"]), int(body["specific-trap"]),
                        int(body["time-stamp"]), varbinds)
    elif pdu_type is PduType.GET_BULK:
        pdu = BulkPdu(int(body["request-id"]), int(body["non-repeaters"]),
                      int(body["max-repetitions"]), varbinds)
    else:
        pdu = Pdu(pdu_type, int(body["request-id"]), varbinds, int(body["error-status"]),
                  int(body["error-index"]))
    return CommunityMessage(SnmpVersion(int(asn1["version"])), bytes(asn1["community"]), pdu)


def asn1_decode(data: bytes) -> CommunityMessage:
    """Decode a datagram with pyasn1's BER decoder; raises pyasn1's errors on bad input."""
    asn1, rest = decoder.decode(data, asn1Spec=MessageAsn1())
    if rest:
        raise ValueError(f"{len(rest)} bytes follow the message")
    return from_asn1(asn1)
