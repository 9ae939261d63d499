"""snmpd_ng: an asyncio SNMP manager library and polling daemon.

The public API is the manager: `Manager`, `Target`, `Secret`, the SNMP value types and the
errors, all importable from this package.
"""

import logging

from snmpd_ng.manager import (
    NO_SUCH_NAME,
    BudgetExceeded,
    ErrorStatusError,
    GlobalStats,
    InvalidRequestError,
    Manager,
    NoSuchNameMarker,
    RequestTimeout,
    ResolutionError,
    Target,
    TargetError,
    TargetStats,
    TransportError,
    WalkError,
    WalkResult,
)
from snmpd_ng.protocol.errors import DecodeError, EncodeError, SnmpError
from snmpd_ng.protocol.message import SnmpVersion
from snmpd_ng.protocol.oid import Oid, format_oid, parse_oid
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
    MalformedValue,
    Null,
    ObjectIdentifier,
    OctetString,
    Opaque,
    SnmpValue,
    TimeTicks,
    Unsigned32,
    VarBind,
    is_exception,
)
from snmpd_ng.secret import Secret

__all__ = [
    "END_OF_MIB_VIEW",
    "NO_SUCH_INSTANCE",
    "NO_SUCH_NAME",
    "NO_SUCH_OBJECT",
    "NULL",
    "BudgetExceeded",
    "Counter32",
    "Counter64",
    "DecodeError",
    "EncodeError",
    "ErrorStatusError",
    "ExceptionValue",
    "Gauge32",
    "GlobalStats",
    "Integer32",
    "InvalidRequestError",
    "IpAddress",
    "MalformedValue",
    "Manager",
    "NoSuchNameMarker",
    "Null",
    "ObjectIdentifier",
    "OctetString",
    "Oid",
    "Opaque",
    "RequestTimeout",
    "ResolutionError",
    "Secret",
    "SnmpError",
    "SnmpValue",
    "SnmpVersion",
    "Target",
    "TargetError",
    "TargetStats",
    "TimeTicks",
    "TransportError",
    "Unsigned32",
    "VarBind",
    "WalkError",
    "WalkResult",
    "format_oid",
    "is_exception",
    "parse_oid",
]

# A library adds only a NullHandler to its loggers (Python's logging HOWTO, "Configuring
# Logging for a Library"): the application decides what is shown. See docs/api.md, "Logging".
logging.getLogger("snmpd_ng").addHandler(logging.NullHandler())
