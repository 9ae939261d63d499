"""Names of the standard notifications and of the objects that trap rules refer to.

The built-in MIB table (`snmpd_ng.mibs`) names objects to poll, not notifications, so the
NOTIFICATION-TYPE names that trap rules use live here. Sources, typed from the module text:
SNMPv2-MIB (RFC 3418): coldStart, warmStart, authenticationFailure, and the objects
snmpTrapOID, snmpTrapEnterprise; IF-MIB (RFC 2863): linkDown, linkUp; RFC 1213:
egpNeighborLoss; SNMP-COMMUNITY-MIB (RFC 3584): snmpTrapAddress. Any other notification is
written as its numeric OID.
"""

from __future__ import annotations

import difflib

from snmpd_ng import mibs
from snmpd_ng.alerting.traps.event import SNMP_TRAPS
from snmpd_ng.protocol.oid import Oid, format_oid, parse_oid

NOTIFICATIONS: dict[str, Oid] = {
    "coldStart": (*SNMP_TRAPS, 1),
    "warmStart": (*SNMP_TRAPS, 2),
    "linkDown": (*SNMP_TRAPS, 3),
    "linkUp": (*SNMP_TRAPS, 4),
    "authenticationFailure": (*SNMP_TRAPS, 5),
    "egpNeighborLoss": (*SNMP_TRAPS, 6),
}
_NOTIFICATION_NAMES = {oid: name for name, oid in NOTIFICATIONS.items()}

# Objects of notifications that the polling table lacks (accessible-for-notify).
_NOTIFY_OBJECTS: dict[str, Oid] = {
    "snmpTrapOID": (1, 3, 6, 1, 6, 3, 1, 1, 4, 1),
    "snmpTrapEnterprise": (1, 3, 6, 1, 6, 3, 1, 1, 4, 3),
    "snmpTrapAddress": (1, 3, 6, 1, 6, 3, 18, 1, 3),
}
_NOTIFY_OBJECT_NAMES = {oid: name for name, oid in _NOTIFY_OBJECTS.items()}


def resolve_notification(text: str) -> Oid:
    """Resolve a notification name such as "linkDown" or a numeric OID to its OID.

    Raises ValueError with a suggestion when the name is unknown.
    """
    stripped = text.strip()
    if stripped[:1].isdigit() or stripped.startswith("."):
        return parse_oid(stripped)
    oid = NOTIFICATIONS.get(stripped)
    if oid is not None:
        return oid
    message = f"unknown notification name {stripped!r}"
    close = difflib.get_close_matches(stripped, list(NOTIFICATIONS), n=1, cutoff=0.6)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    raise ValueError(f"{message}; built-in names: {', '.join(NOTIFICATIONS)}, or give the "
                     "numeric OID")


def notification_name(oid: Oid) -> str:
    """Return the built-in name of a notification, or its dotted OID."""
    return _NOTIFICATION_NAMES.get(oid) or format_oid(oid)


def resolve_object(text: str) -> tuple[Oid, Oid | None]:
    """Resolve an object name ("ifIndex", "snmpTrapAddress") or a numeric OID.

    Returns the object's OID and, for a table column, the OID of its table's entry, which a
    rule uses to read the row index when the column itself is not in the trap. Raises
    ValueError with a suggestion when the name is unknown.
    """
    stripped = text.strip()
    found = _NOTIFY_OBJECTS.get(stripped)
    if found is not None:
        return found, None
    resolved = mibs.resolve(stripped)
    mib_object = resolved.mib_object
    if mib_object is None or mib_object.table is None or resolved.suffix:
        return resolved.oid, None
    table = mibs.find_table(mib_object.table)
    return resolved.oid, table.entry_oid if table is not None else None


def object_name(oid: Oid) -> str | None:
    """Return the name of an object (no instance suffix), if the built-in tables have it."""
    return _NOTIFY_OBJECT_NAMES.get(oid) or mibs.name_of(oid)
