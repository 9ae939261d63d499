"""Names of the Redis keys of one cluster, and what each holds.

Every key starts with `{<prefix>}:`. The braces make the prefix a Redis Cluster hash tag, so all
keys of one cluster live in one slot and the Lua scripts may touch several of them at once. That
costs Redis Cluster its sharding for snmpd_ng's keys, which are few and small.

Times stored in Redis are milliseconds of Redis's own clock (`TIME`), so that nodes whose clocks
disagree still agree on which leases have expired. Poll slots are Unix seconds of the polling
node's clock (nodes are expected to run NTP).

- members (sorted set): node id -> membership lease expiry, ms.
- member:<node> (hash): the node's facts, written at each heartbeat: node_id, address, capacity,
  version, config_hash, config_sections ("section=hash" pairs), joined_ms, heartbeat_ms, owned
  (targets it holds leases on), polls_total, poll_errors_total, targets_up, heartbeat_rtt_ms.
- lease:<target> (string, with a TTL): "<node id> <fencing token>" of the node that may poll it.
- fences (hash): target -> the last fencing token handed out; INCR on each new lease holder.
- leader (string, with a TTL): node id of the node that exports the cluster-wide aggregates.
- polls (stream, capped): one entry per committed poll: node, target, job, slot, started,
  finished, token, ok. The tests check the polling invariants from it.
- slots (hash): "<target>\\x1f<job>" -> "<slot> <lease value>" of the last recorded poll, which
  makes a retried record write harmless.
- events (stream, capped): membership changes: kind (join, leave, expire), node, at_ms, and for an
  expiry the number of targets the node held.
- cache:<target>:<kind>:<name> (string, with a TTL): one cache entry (snmpd_ng.cache.codec).
- cache-index:<target> (set): the cache keys of one target, for invalidating them together.
- cache-invalidate (pub/sub channel): "<target>" or "<target>\\x1f<kind>\\x1f<name>", published
  after a cache write or removal so that nodes drop their local copies.
- alerts:* : the alert store of cluster mode (snmpd_ng.alerting.redis_store_scripts lists its keys).
- alert-signals (stream, capped): the rules' signals of every node, read by the leader's alert
  service through the consumer group `alerting`.
- alert-signals:publisher:<id> (string, with a TTL): the number of the last batch one signal
  publisher appended, so that a batch sent again after a lost reply is not appended twice.
- rules:<target> (string, with a TTL): the rules engine's state of one target (its series and
  pending or firing alerts, times in Unix seconds), written by the target's owner under its lease.
"""

from __future__ import annotations

from dataclasses import dataclass

FIELD_SEPARATOR = "\x1f"
"""Separates target, kind and name in invalidation messages; no config name may contain it."""


@dataclass(frozen=True, slots=True)
class Keys:
    """The key names for one cluster prefix."""

    prefix: str

    @property
    def base(self) -> str:
        return "{" + self.prefix + "}:"

    @property
    def members(self) -> str:
        return self.base + "members"

    def member(self, node_id: str) -> str:
        return f"{self.base}member:{node_id}"

    def lease(self, target: str) -> str:
        return f"{self.base}lease:{target}"

    @property
    def fences(self) -> str:
        return self.base + "fences"

    @property
    def leader(self) -> str:
        return self.base + "leader"

    @property
    def polls(self) -> str:
        return self.base + "polls"

    @property
    def slots(self) -> str:
        return self.base + "slots"

    @staticmethod
    def slot_field(target: str, job: str) -> str:
        """Return the field of `slots` for one target and job."""
        return f"{target}{FIELD_SEPARATOR}{job}"

    @property
    def events(self) -> str:
        return self.base + "events"

    def cache(self, target: str, kind: str, name: str) -> str:
        return f"{self.base}cache:{target}:{kind}:{name}"

    def cache_index(self, target: str) -> str:
        return f"{self.base}cache-index:{target}"

    @property
    def cache_channel(self) -> str:
        return self.base + "cache-invalidate"

    @property
    def alerts_base(self) -> str:
        """The key base of the alert store, passed to RedisAlertStore."""
        return self.base + "alerts:"

    @property
    def alert_signals(self) -> str:
        return self.base + "alert-signals"

    def alert_signal_publisher(self, publisher_id: str) -> str:
        return f"{self.alert_signals}:publisher:{publisher_id}"

    def rule_state(self, target: str) -> str:
        return f"{self.base}rules:{target}"
