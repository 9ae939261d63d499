"""The public async manager API: `Manager`, `Target`, their errors and statistics."""

from snmpd_ng.manager.errors import (
    BudgetExceeded,
    ErrorStatusError,
    InvalidRequestError,
    RequestTimeout,
    ResolutionError,
    TargetError,
    TransportError,
    WalkError,
)
from snmpd_ng.manager.manager import Manager, OidLike, WalkMethod
from snmpd_ng.manager.markers import NO_SUCH_NAME, NoSuchNameMarker
from snmpd_ng.manager.target import Target
from snmpd_ng.manager.walk import WalkResult
from snmpd_ng.transport.stats import GlobalStats, TargetStats

__all__ = [
    "NO_SUCH_NAME",
    "BudgetExceeded",
    "ErrorStatusError",
    "GlobalStats",
    "InvalidRequestError",
    "Manager",
    "NoSuchNameMarker",
    "OidLike",
    "RequestTimeout",
    "ResolutionError",
    "Target",
    "TargetError",
    "TargetStats",
    "TransportError",
    "WalkError",
    "WalkMethod",
    "WalkResult",
]
