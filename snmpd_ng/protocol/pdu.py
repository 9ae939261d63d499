"""SNMP PDUs (RFC 3416 section 3, RFC 1157 section 4.1.6 for the SNMPv1 trap)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.values import VarBind


class PduType(IntEnum):
    """The context-class constructed tags that start each PDU."""

    GET = 0xA0
    GET_NEXT = 0xA1
    RESPONSE = 0xA2
    SET = 0xA3
    TRAP_V1 = 0xA4
    GET_BULK = 0xA5
    INFORM = 0xA6
    TRAP_V2 = 0xA7
    REPORT = 0xA8


class ErrorStatus(IntEnum):
    """error-status values (RFC 3416 section 3; 0 to 5 are SNMPv1's too)."""

    NO_ERROR = 0
    TOO_BIG = 1
    NO_SUCH_NAME = 2
    BAD_VALUE = 3
    READ_ONLY = 4
    GEN_ERR = 5
    NO_ACCESS = 6
    WRONG_TYPE = 7
    WRONG_LENGTH = 8
    WRONG_ENCODING = 9
    WRONG_VALUE = 10
    NO_CREATION = 11
    INCONSISTENT_VALUE = 12
    RESOURCE_UNAVAILABLE = 13
    COMMIT_FAILED = 14
    UNDO_FAILED = 15
    AUTHORIZATION_ERROR = 16
    NOT_WRITABLE = 17
    INCONSISTENT_NAME = 18


# The names RFC 3416 gives, as net-snmp prints them.
ERROR_STATUS_NAMES = {
    0: "noError", 1: "tooBig", 2: "noSuchName", 3: "badValue", 4: "readOnly", 5: "genErr",
    6: "noAccess", 7: "wrongType", 8: "wrongLength", 9: "wrongEncoding", 10: "wrongValue",
    11: "noCreation", 12: "inconsistentValue", 13: "resourceUnavailable", 14: "commitFailed",
    15: "undoFailed", 16: "authorizationError", 17: "notWritable", 18: "inconsistentName",
}


def error_status_name(status: int) -> str:
    """Return RFC 3416's name for an error-status, or a placeholder for values outside it."""
    return ERROR_STATUS_NAMES.get(status, f"unknownError({status})")


@dataclass(slots=True)
class Pdu:
    """Get, GetNext, Response, Set, SNMPv2-Trap, Inform and Report PDUs.

    error_status and error_index stay plain integers, since agents send values outside the enum.
    """

    pdu_type: PduType
    request_id: int
    varbinds: list[VarBind] = field(default_factory=list)
    error_status: int = 0
    error_index: int = 0


@dataclass(slots=True)
class BulkPdu:
    """GetBulkRequest: the error fields carry non-repeaters and max-repetitions."""

    request_id: int
    non_repeaters: int
    max_repetitions: int
    varbinds: list[VarBind] = field(default_factory=list)

    @property
    def pdu_type(self) -> PduType:
        return PduType.GET_BULK


@dataclass(slots=True)
class TrapV1Pdu:
    """SNMPv1 Trap-PDU (RFC 1157 section 4.1.6).

    `time_stamp` is the agent's sysUpTime in hundredths of a second.
    """

    enterprise: Oid
    agent_address: bytes
    generic_trap: int
    specific_trap: int
    time_stamp: int
    varbinds: list[VarBind] = field(default_factory=list)

    @property
    def pdu_type(self) -> PduType:
        return PduType.TRAP_V1


AnyPdu = Pdu | BulkPdu | TrapV1Pdu
