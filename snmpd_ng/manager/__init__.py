"""The public async manager API: `Manager`, `Target`, their errors and statistics."""

from snmpd_ng.manager.errors import (
    BudgetExceeded,
    DecryptionFailedError,
    ErrorStatusError,
    InvalidRequestError,
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
    WalkError,
    WrongDigestError,
)
from snmpd_ng.manager.manager import Manager, OidLike, WalkMethod
from snmpd_ng.manager.markers import NO_SUCH_NAME, NoSuchNameMarker
from snmpd_ng.manager.target import Target
from snmpd_ng.manager.walk import WalkResult
from snmpd_ng.security.credentials import CredentialError, KeyKind, SecurityLevel, UsmUser
from snmpd_ng.security.keys import AuthProtocol, PrivProtocol
from snmpd_ng.transport.stats import GlobalStats, TargetStats

__all__ = [
    "NO_SUCH_NAME",
    "AuthProtocol",
    "BudgetExceeded",
    "CredentialError",
    "DecryptionFailedError",
    "ErrorStatusError",
    "GlobalStats",
    "InvalidRequestError",
    "KeyKind",
    "Manager",
    "NoSuchNameMarker",
    "NotInTimeWindowError",
    "OidLike",
    "PrivProtocol",
    "PrivacyMismatchError",
    "ReportError",
    "RequestTimeout",
    "ResolutionError",
    "SecurityError",
    "SecurityLevel",
    "Target",
    "TargetError",
    "TargetStats",
    "TransportError",
    "UnknownContextError",
    "UnknownEngineIdError",
    "UnknownUserNameError",
    "UnsupportedSecurityLevelError",
    "UsmUser",
    "WalkError",
    "WalkMethod",
    "WalkResult",
    "WrongDigestError",
]
