"""The agent a manager talks to, and how to talk to it."""

from __future__ import annotations

from dataclasses import dataclass, field

from snmpd_ng.protocol.message import SnmpVersion
from snmpd_ng.secret import Secret
from snmpd_ng.security.credentials import UsmUser


@dataclass(frozen=True, slots=True)
class Target:
    """One SNMP agent and the settings of the requests sent to it.

    Defaults follow net-snmp's tools (1 s timeout, 5 retries, 10 repetitions per GETBULK), so that
    a script behaves as `snmpget` does. The daemon's config sets its own defaults.
    """

    host: str
    """IPv4 or IPv6 literal, or a DNS name (resolved again after the manager's refresh interval,
    and after a timeout)."""
    port: int = 161
    version: SnmpVersion = SnmpVersion.V2C
    community: Secret = field(default_factory=lambda: Secret("public"))
    timeout: float = 1.0
    """Seconds to wait for a response to one attempt."""
    retries: int = 5
    """Attempts after the first one before a request times out."""
    max_repetitions: int = 10
    """GETBULK max-repetitions; a tooBig response halves it for this target."""
    max_varbinds_per_request: int = 60
    """A GET for more OIDs than this is split into several requests."""
    max_in_flight: int = 4
    """Requests to this target that may wait for a response at once."""
    source_address: str | None = None
    """Local address to send from, for agents whose ACL allows one poller address."""
    non_increasing_tolerance: int = 0
    """Non-increasing OIDs a walk accepts (skipping them) before it stops with an error."""
    accept_any_source: bool = False
    """Accept responses from any address, matched by request-id and community alone."""
    name: str | None = None
    """Name for logs and errors; defaults to host:port."""
    backoff: float = 1.0
    """Factor applied to the timeout for each retry; 1.0 keeps it fixed, as net-snmp does."""
    max_walk_requests: int = 100_000
    """Requests one walk may send before it stops with WalkError, whatever the agent returns."""
    max_walk_varbinds: int = 1_000_000
    """Varbinds one walk may return before it stops with WalkError."""
    usm: UsmUser | None = None
    """The SNMPv3 user (RFC 3414); required with version V3, refused with the others."""
    context_name: str = ""
    """SNMPv3 contextName of every request (net-snmp's `-n`)."""
    context_engine_id: bytes | None = None
    """SNMPv3 contextEngineID (`-E`); None uses the agent's discovered engine ID."""
    security_engine_id: bytes | None = None
    """The agent's authoritative engine ID (`-e`), to skip its discovery; None discovers it."""

    def __post_init__(self) -> None:
        problems = [
            message for is_bad, message in (
                (not self.host, "host is empty"),
                (not 1 <= self.port <= 65535, f"port {self.port} is outside 1..65535"),
                (not self.timeout > 0, f"timeout {self.timeout} s must be above 0"),
                (self.retries < 0, f"retries {self.retries} must be 0 or more"),
                (not self.backoff >= 1.0, f"backoff {self.backoff} must be 1.0 or more"),
                (not 1 <= self.max_repetitions <= 2**31 - 1,
                 f"max_repetitions {self.max_repetitions} is outside 1..2147483647"),
                (self.max_varbinds_per_request < 1,
                 f"max_varbinds_per_request {self.max_varbinds_per_request} must be 1 or more"),
                (self.max_in_flight < 1, f"max_in_flight {self.max_in_flight} must be 1 or more"),
                (self.non_increasing_tolerance < 0,
                 f"non_increasing_tolerance {self.non_increasing_tolerance} must be 0 or more"),
                (self.max_walk_requests < 1,
                 f"max_walk_requests {self.max_walk_requests} must be 1 or more"),
                (self.max_walk_varbinds < 1,
                 f"max_walk_varbinds {self.max_walk_varbinds} must be 1 or more"),
                (self.version == SnmpVersion.V3 and self.usm is None,
                 "SNMPv3 needs a USM user (usm=UsmUser(...))"),
                (self.version != SnmpVersion.V3 and self.usm is not None,
                 f"a USM user needs version V3, not {self.version.name}"),
                (len(self.context_name.encode("utf-8")) > 32,
                 "context_name is longer than 32 octets"),
                (self.context_engine_id is not None and not 5 <= len(self.context_engine_id) <= 32,
                 "context_engine_id must have 5 to 32 octets"),
                (self.security_engine_id is not None
                 and not 5 <= len(self.security_engine_id) <= 32,
                 "security_engine_id must have 5 to 32 octets"),
            ) if is_bad
        ]
        if problems:
            raise ValueError(f"invalid Target for {self.host!r}: " + "; ".join(problems))

    @property
    def label(self) -> str:
        """The name logs and errors use for this target."""
        if self.name:
            return self.name
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"
