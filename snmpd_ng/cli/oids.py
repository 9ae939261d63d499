"""OIDs as written on the command line: numeric, with or without the leading dot, or a name from
snmpd_ng's built-in MIB table (sysName.0, ifDescr.2)."""

from __future__ import annotations

from snmpd_ng.cli.options import OperandError
from snmpd_ng.mibs import resolve
from snmpd_ng.protocol.errors import EncodeError
from snmpd_ng.protocol.oid import Oid, validate_for_encoding


def parse_oid_argument(text: str, *, is_walk_root: bool = False) -> Oid:
    """Parse one OID argument. Raises OperandError in snmpget's words, with the reason.

    A walk root may be a single arc (`.1`, the whole tree), which `walk_request_oid` sends as
    two arcs.
    """
    try:
        oid = resolve(text).oid
        validate_for_encoding(walk_request_oid(oid) if is_walk_root else oid)
    except (ValueError, EncodeError) as exc:
        raise OperandError(f"{text}: Unknown Object Identifier ({exc})") from None
    return oid


def walk_request_oid(root: Oid) -> Oid:
    """Return the OID to send for a walk root: BER needs two arcs, so `1` is sent as `1.0`.

    net-snmp 5.9 sends the same; GETNEXT of 1.0 returns the first object under 1.
    """
    return (*root, 0) if len(root) == 1 else root
