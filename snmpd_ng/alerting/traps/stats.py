"""Counters of the trap receiver, for /metrics and for tests."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(slots=True)
class TrapStats:
    """Counters of the receiver's datagrams by outcome. `snapshot()` returns a copy."""

    received: int = 0
    """Datagrams that arrived, whatever became of them."""
    by_version: dict[str, int] = field(default_factory=dict)
    """Datagrams whose SNMP version could be read, by version: "1", "2c", "3"."""
    malformed: int = 0
    """Datagrams that do not decode as an SNMP message, or a trap without snmpTrapOID.0."""
    unauthenticated: dict[str, int] = field(default_factory=dict)
    """Messages rejected by the community check or the USM, by reason: unknown_community,
    unknown_user_name, wrong_digest, not_in_time_window, unsupported_security_level,
    decryption_error, unknown_engine_id, unknown_security_model."""
    unexpected_pdus: int = 0
    """Authenticated messages that carry no trap or inform, such as a GET sent to the port."""
    rate_limited: int = 0
    """Datagrams dropped because their source exceeded its rate limit."""
    traps: int = 0
    """Traps and informs accepted and handed to the rules."""
    informs_acknowledged: int = 0
    """Informs acknowledged with a Response."""
    reports_sent: int = 0
    """SNMPv3 reports sent back: discovery of our engine ID, and rejected informs."""
    discoveries: int = 0
    """SNMPv3 discovery probes, each sent a report with our engine ID (RFC 3414 section 4)."""
    queue_full: int = 0
    """Accepted traps dropped because the rules had not taken the earlier ones yet."""
    send_errors: int = 0
    """Responses and reports that the socket failed to send."""

    def count_version(self, version: str) -> None:
        self.by_version[version] = self.by_version.get(version, 0) + 1

    def count_unauthenticated(self, reason: str) -> None:
        self.unauthenticated[reason] = self.unauthenticated.get(reason, 0) + 1

    def snapshot(self) -> TrapStats:
        """Return a copy that later traffic does not change."""
        return replace(self, by_version=dict(self.by_version),
                       unauthenticated=dict(self.unauthenticated))
