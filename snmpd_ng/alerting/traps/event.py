"""A received trap or inform in the SNMPv2 form, whatever version carried it."""

from __future__ import annotations

from dataclasses import dataclass

from snmpd_ng.protocol.message import SnmpVersion
from snmpd_ng.protocol.oid import Oid, format_oid
from snmpd_ng.protocol.values import VarBind

# SNMPv2-MIB (RFC 3418) objects that frame every SNMPv2 notification (RFC 3416 section 4.2.6).
SYS_UPTIME_0: Oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SNMP_TRAP_OID_0: Oid = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
SNMP_TRAP_ENTERPRISE_0: Oid = (1, 3, 6, 1, 6, 3, 1, 1, 4, 3, 0)
# SNMP-COMMUNITY-MIB (RFC 3584): the agent-addr of a translated SNMPv1 trap.
SNMP_TRAP_ADDRESS_0: Oid = (1, 3, 6, 1, 6, 3, 18, 1, 3, 0)
# snmpTraps: the generic traps of SNMPv1 are snmpTraps.(generic-trap + 1) (RFC 3584 3.1).
SNMP_TRAPS: Oid = (1, 3, 6, 1, 6, 3, 1, 1, 5)

VERSION_NAMES = {SnmpVersion.V1: "1", SnmpVersion.V2C: "2c", SnmpVersion.V3: "3"}
"""The versions as the config and the counters write them."""


@dataclass(frozen=True, slots=True)
class TrapEvent:
    """One trap or inform that passed every check.

    An SNMPv1 trap arrives translated as RFC 3584 section 3.1 describes, so every event has a
    trap OID and the varbinds that follow sysUpTime.0 and snmpTrapOID.0.
    """

    source: str
    """The sender's IP address, as the UDP datagram came from it (IPv4 in dotted form)."""
    source_port: int
    version: SnmpVersion
    security_name: str
    """The SNMPv3 user name, or the configured name of the community that matched (never the
    community itself)."""
    trap_oid: Oid
    uptime: int | None
    """The sender's sysUpTime.0 in hundredths of a second, when the trap carried it."""
    varbinds: tuple[VarBind, ...]
    received_at: float
    """Unix time of arrival, in seconds."""
    is_inform: bool = False
    engine_id: bytes = b""
    """SNMPv3: the sender's engine ID (contextEngineID for informs); empty for v1 and v2c."""

    @property
    def version_name(self) -> str:
        return VERSION_NAMES[self.version]

    def describe(self) -> str:
        """Return a short text for log lines: kind, trap OID and source."""
        kind = "inform" if self.is_inform else "trap"
        return f"{kind} {format_oid(self.trap_oid)} from {self.source}"
