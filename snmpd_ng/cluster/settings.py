"""The `cluster:` section of the config as the daemon uses it (built in snmpd_ng.config.cluster)."""

from __future__ import annotations

from dataclasses import dataclass

from snmpd_ng.secret import Secret

DEFAULT_LEASE_TTL = 15.0
"""Seconds a node's membership lease and its target leases last without a renewal.

With the default heartbeat (a quarter of it) and margins, polls get 9.25 s, more than the 6 s
that net-snmp's default timeout and retries may wait for a silent agent."""


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """Address of Redis and its login. Exactly one of `url` and `sentinels` is set.

    `url` is a redis://, rediss:// or unix:// address of a standalone server (or of one node of a
    Redis Cluster when `cluster` is true). `sentinels` lists Sentinel addresses; the master is
    the one Sentinel names `service_name`.
    """

    url: str | None = None
    sentinels: tuple[tuple[str, int], ...] = ()
    service_name: str | None = None
    cluster: bool = False
    """Redis Cluster: every key carries the same hash tag, so all of them live in one slot."""
    username: str | None = None
    password: Secret | None = None
    sentinel_password: Secret | None = None
    db: int = 0
    key_prefix: str = "snmpd-ng"
    """Names the cluster in Redis: nodes with the same prefix form one cluster."""
    connect_timeout: float = 2.0
    command_timeout: float = 2.0
    """Seconds one Redis command may take before it counts as failed."""


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    """Cluster mode settings. Absent (None in DaemonConfig) means one node, no Redis."""

    redis: RedisSettings
    node_id: str | None = None
    """None: read from (or first written to) the state directory's `node-id` file."""
    capacity: float = 1.0
    """Relative weight in the assignment: a node of capacity 2 gets twice the targets of 1."""
    advertise_url: str | None = None
    """The URL other nodes and `cluster status` show for this node's HTTP server."""
    lease_ttl: float = DEFAULT_LEASE_TTL
    heartbeat_interval: float | None = None
    """None: a quarter of `lease_ttl`."""
    lease_margin: float = 1.0
    """Seconds of lease that must remain beyond a poll's budget before the poll may start."""
    join_delay: float | None = None
    """Seconds a node must stay alive before it is given targets (hysteresis against a flapping
    node). None: two heartbeat intervals."""
    failover_bound: float | None = None
    """Seconds within which a dead node's targets are polled again; None: the computed default
    (`lease_ttl + heartbeat_interval + ` the longest job interval). Only reported and checked
    against, never enforced by waiting."""
    local_cache: bool = True
    """Keep a read-through copy of the Redis cache, invalidated through pub/sub."""
    config_hash: str = ""
    """Hash of the normalised config file without node-local keys; set by the config loader."""
    config_sections: str = ""
    """"section=hash" pairs of the same, comma-separated, to name the sections that differ."""

    @property
    def heartbeat_seconds(self) -> float:
        if self.heartbeat_interval is not None:
            return self.heartbeat_interval
        return self.lease_ttl / 4

    @property
    def join_delay_seconds(self) -> float:
        if self.join_delay is not None:
            return self.join_delay
        return 2 * self.heartbeat_seconds

    def failover_bound_seconds(self, longest_interval: float, longest_run: float) -> float:
        """Return the seconds within which a dead node's targets are polled again.

        The lease of a dead node ends at most `lease_ttl` after its death, and another node
        takes the target at its next heartbeat. It then polls the slot the dead node missed at
        once, unless the schedule's next slot comes within one run (`longest_run`: the longest
        poll budget and its grace). A slot not missed yet is polled on time, within one
        interval of the death.
        """
        if self.failover_bound is not None:
            return self.failover_bound
        return max(longest_interval, self.lease_ttl + self.heartbeat_seconds + longest_run)
