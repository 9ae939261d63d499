"""A snapshot of the cluster state stored in Redis, for /cluster and `snmpd-ng cluster status`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class MemberStatus:
    """One live node, from its member hash and membership lease."""

    node_id: str
    address: str
    capacity: float
    version: str
    config_hash: str
    config_matches: bool
    """Whether its config hash equals the reading node's (or the majority's, read from the CLI)."""
    joined_at: float
    """Unix seconds."""
    heartbeat_age: float
    """Seconds since its last heartbeat, by Redis's clock: the lag."""
    lease_expires_in: float
    eligible: bool
    """Old enough (join_delay) to be given targets."""
    assigned: int
    """Targets the rendezvous assignment gives it now."""
    leases_held: int
    """Target leases it holds in Redis now."""
    is_leader: bool
    polls_total: int
    poll_errors_total: int
    targets_up: int


@dataclass(frozen=True, slots=True)
class FailoverEvent:
    """The newest membership change: a node that joined, left, or whose lease expired."""

    kind: str
    node_id: str
    at: float
    """Unix seconds, by Redis's clock."""
    targets: int


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    prefix: str
    redis: str
    """Address of Redis, without credentials."""
    leader: str | None
    members: tuple[MemberStatus, ...]
    targets: int
    """Targets in the config."""
    unleased: tuple[str, ...]
    """Targets no node holds a lease on now (at most 20 names; a failover in progress)."""
    last_change: FailoverEvent | None
    last_expiry: FailoverEvent | None
    """The newest node whose lease expired (a failover)."""
    node_id: str | None = None
    """Node that built the snapshot (None from the CLI)."""
    fenced: bool = False
    """Whether that node lost Redis and stopped polling (self-fenced)."""
    unleased_count: int = 0
    """Targets no node holds a lease on now (all of them, where `unleased` lists 20)."""
    read_at: float | None = None
    """Unix seconds of the read, by Redis's clock (the base of every "ago")."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
