"""Errors of the manager API.

Every error subclasses `snmpd_ng.protocol.errors.SnmpError` and carries `target`, the target's
label (its name, or host:port), never its community. The transport's errors are re-exported
here so that callers import all of them from one place.
"""

from __future__ import annotations

from snmpd_ng.protocol.errors import SnmpError
from snmpd_ng.protocol.oid import Oid, format_oid
from snmpd_ng.protocol.pdu import error_status_name
from snmpd_ng.protocol.values import VarBind
from snmpd_ng.transport.errors import (
    BudgetExceeded,
    DecryptionFailedError,
    NotInTimeWindowError,
    PrivacyMismatchError,
    ReportError,
    RequestTimeout,
    ResolutionError,
    SecurityError,
    TargetError,
    TransportError,
    UnknownContextError,
    UnknownEngineIdError,
    UnknownUserNameError,
    UnsupportedSecurityLevelError,
    WrongDigestError,
)

__all__ = [
    "BudgetExceeded",
    "DecryptionFailedError",
    "ErrorStatusError",
    "InvalidRequestError",
    "NotInTimeWindowError",
    "PrivacyMismatchError",
    "ReportError",
    "RequestTimeout",
    "ResolutionError",
    "SecurityError",
    "SnmpError",
    "TargetError",
    "TransportError",
    "UnknownContextError",
    "UnknownEngineIdError",
    "UnknownUserNameError",
    "UnsupportedSecurityLevelError",
    "WalkError",
    "WrongDigestError",
]


class InvalidRequestError(SnmpError, ValueError):
    """The caller asked for something SNMP cannot express, such as an OID that is not numeric
    or GETBULK over SNMPv1."""


class ErrorStatusError(TargetError):
    """The agent responded with an error-status other than noError.

    `status` is the number, `status_name` RFC 3416's name as net-snmp prints it (noSuchName,
    tooBig, notWritable, ...), `index` the 1-based error-index and `oid` the OID of the varbind
    it points at (None when the index is 0 or outside the request).
    """

    def __init__(self, *, target: str, status: int, index: int, oid: Oid | None,
                 request_id: int, pdu_type: str) -> None:
        self.status = status
        self.status_name = error_status_name(status)
        self.index = index
        self.oid = oid
        self.request_id = request_id
        self.pdu_type = pdu_type
        where = f" at varbind {index} ({format_oid(oid)})" if oid is not None else ""
        super().__init__(f"{pdu_type} failed with error-status {self.status_name} "
                         f"({status}){where}", target=target)


class WalkError(TargetError):
    """A walk stopped because the agent broke the rules of GETNEXT or GETBULK, or hit a limit.

    For a non-increasing OID, `requested` is the OID the agent had to return a successor of and
    `returned` what it sent instead. For a returned name that no request can carry (an arc
    above 2^32-1, more than 128 arcs), `returned` is that name. `varbinds` are the rows
    gathered before the stop.
    """

    def __init__(self, message: str, *, target: str, varbinds: list[VarBind],
                 requested: Oid | None = None, returned: Oid | None = None) -> None:
        self.requested = requested
        self.returned = returned
        self.varbinds = varbinds
        super().__init__(message, target=target)
