"""Read the cluster's state from Redis into a ClusterStatus, and render it as text for the CLI.

The reader takes two round trips, and a third only to search the events stream further back
for an expiry. All times come from Redis's clock (`TIME`), as the leases do. A member hash
written by another snmpd_ng version may lack fields or hold values this version cannot parse.
Such a field takes a default (the heartbeat script's where it has one), so the status still
shows the node.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from snmpd_ng.cluster.assignment import Member, assign, eligible_members
from snmpd_ng.cluster.keys import Keys
from snmpd_ng.cluster.redis_conn import RedisClient
from snmpd_ng.cluster.reply import reply_number, reply_text
from snmpd_ng.cluster.status import ClusterStatus, FailoverEvent, MemberStatus
from snmpd_ng.text_table import format_table

MGET_CHUNK = 500
"""Lease keys per MGET, so that no single reply grows with the number of targets."""
MAX_UNLEASED_NAMES = 20
"""Names of unleased targets a status lists (ClusterStatus.unleased)."""
FIRST_EVENTS = 100
"""Newest entries of the events stream read in the first round trip."""
EVENT_SCAN_PAGE = 1000
"""Entries per further page when the first ones hold no expiry (the stream keeps about 1000)."""
DEFAULT_CAPACITY = 1.0
SLOT_TIME = "return redis.call('TIME')"
"""Lua that returns TIME of the server holding KEYS[1]. On Redis Cluster a plain TIME goes to
some other node, whose clock is not the one the leases are measured by."""


@dataclass(frozen=True, slots=True)
class _FirstReply:
    """The parsed replies of the first round trip."""

    now_ms: int
    live: tuple[tuple[str, float], ...]
    """(node id, membership lease expiry in ms) of members whose lease has not expired."""
    leader: str | None
    holders: tuple[str | None, ...]
    """Per configured target, in order: the node id in its lease, None when unleased."""
    events: tuple[tuple[bytes, dict[bytes, bytes]], ...]
    """The newest entries of the events stream, newest first."""


async def read_status(client: RedisClient, keys: Keys, *, redis: str, targets: Sequence[str],
                      join_delay: float, self_id: str | None = None,
                      config_hash: str | None = None, fenced: bool = False) -> ClusterStatus:
    """Read members, leases, the leader and the newest events, and compute the assignment.

    `redis` names the server for the status, without credentials. `join_delay` is in seconds.
    `config_hash` is the reading node's. Without it, a member's config matches when it equals
    the hash most members have (the leader's on a tie), which is how the node decides. Redis's
    errors propagate as redis-py raises them (RedisError, or RedisClusterException from a
    Redis Cluster client); redis_conn.explain_redis_error words them for users.
    """
    first = await _read_first(client, keys, targets)
    hashes = await _read_member_hashes(client, keys, [node for node, _ in first.live])
    last_expiry = _newest_expiry(first.events)
    if last_expiry is None and len(first.events) == FIRST_EVENTS:
        last_expiry = await _search_expiry(client, keys, first.events[-1][0])

    members = _build_members(first, hashes, targets, join_delay, config_hash)
    unleased = [target for target, holder in zip(targets, first.holders, strict=True)
                if holder is None]
    return ClusterStatus(
        prefix=keys.prefix, redis=redis, leader=first.leader, members=members,
        targets=len(targets), unleased=tuple(unleased[:MAX_UNLEASED_NAMES]),
        last_change=_parse_event(*first.events[0]) if first.events else None,
        last_expiry=last_expiry, node_id=self_id, fenced=fenced,
        unleased_count=len(unleased), read_at=first.now_ms / 1000)


async def _read_first(client: RedisClient, keys: Keys, targets: Sequence[str]) -> _FirstReply:
    lease_keys = [keys.lease(target) for target in targets]
    chunks = [lease_keys[start:start + MGET_CHUNK]
              for start in range(0, len(lease_keys), MGET_CHUNK)]
    async with client.pipeline(transaction=False) as pipe:
        pipe.eval(SLOT_TIME, 1, keys.members)
        pipe.zrange(keys.members, 0, -1, withscores=True)
        pipe.get(keys.leader)
        pipe.xrevrange(keys.events, count=FIRST_EVENTS)
        replies = list(await pipe.execute())
    # MGET goes outside the pipeline: redis-py refuses multi-key commands in a Redis Cluster
    # pipeline, although all these keys share one slot. One round trip per 500 targets.
    for chunk in chunks:
        replies.append(await client.mget(chunk))

    seconds, microseconds = replies[0]
    now_ms = int(seconds) * 1000 + int(microseconds) // 1000
    # The heartbeat script counts a member as dead once its expiry is <= now.
    live = tuple((reply_text(node), float(expiry)) for node, expiry in replies[1]
                 if expiry > now_ms)
    values = [value for reply in replies[4:] for value in reply]
    return _FirstReply(now_ms=now_ms, live=live,
                       leader=None if replies[2] is None else reply_text(replies[2]),
                       holders=tuple(_lease_holder(value) for value in values),
                       events=tuple(_stream_entries(replies[3])))


async def _read_member_hashes(client: RedisClient, keys: Keys,
                              nodes: Sequence[str]) -> list[dict[bytes, bytes]]:
    if not nodes:
        return []
    async with client.pipeline(transaction=False) as pipe:
        for node in nodes:
            pipe.hgetall(keys.member(node))
        # A key of the wrong type (another program wrote it) fails only its own command; that
        # member then shows with defaults.
        replies = await pipe.execute(raise_on_error=False)
    return [reply if isinstance(reply, dict) else {} for reply in replies]


async def _search_expiry(client: RedisClient, keys: Keys,
                         oldest_read: bytes) -> FailoverEvent | None:
    """Page back through the events stream from before `oldest_read` to the newest expiry."""
    before = oldest_read
    while True:
        # "(" makes the bound exclusive (Redis 6.2 and later).
        reply = await client.xrevrange(keys.events, max=b"(" + before, count=EVENT_SCAN_PAGE)
        page = _stream_entries(reply)
        expiry = _newest_expiry(page)
        if expiry is not None or len(page) < EVENT_SCAN_PAGE:
            return expiry
        before = page[-1][0]


def _stream_entries(reply: object) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """Return the (id, fields) pairs of an XRANGE or XREVRANGE reply; fields {} when absent."""
    if not isinstance(reply, list):
        return []
    return [(entry_id, fields if isinstance(fields, dict) else {}) for entry_id, fields in reply]


def _newest_expiry(entries: Sequence[tuple[bytes, Mapping[bytes, bytes]]]) -> FailoverEvent | None:
    for entry_id, fields in entries:
        if fields.get(b"kind") == b"expire":
            return _parse_event(entry_id, fields)
    return None


def _parse_event(entry_id: bytes, fields: Mapping[bytes, bytes]) -> FailoverEvent:
    # A stream entry id starts with the milliseconds of Redis's clock when it was added.
    id_ms = reply_number(entry_id.split(b"-")[0], 0.0)
    return FailoverEvent(kind=reply_text(fields.get(b"kind"), "unknown"),
                         node_id=reply_text(fields.get(b"node"), "unknown"),
                         at=reply_number(fields.get(b"at_ms"), id_ms) / 1000,
                         targets=_count(fields.get(b"targets")))


def _build_members(first: _FirstReply, hashes: Sequence[Mapping[bytes, bytes]],
                   targets: Sequence[str], join_delay: float,
                   config_hash: str | None) -> tuple[MemberStatus, ...]:
    facts = [_MemberFacts.parse(hash_fields, first.now_ms) for hash_fields in hashes]
    nodes = [(node, fact.capacity) for (node, _), fact in zip(first.live, facts, strict=True)]
    # The node's own rule, so that the status shows the assignment the nodes compute.
    live = [Member(node, int(fact.joined_ms), capacity, fact.config_hash)
            for (node, capacity), fact in zip(nodes, facts, strict=True)]
    chosen = {m.node_id for m in eligible_members(live, first.now_ms, join_delay * 1000)}
    eligible = [(node, capacity) for node, capacity in nodes if node in chosen]
    assigned = Counter(assign(targets, eligible).values())
    leases = Counter(holder for holder in first.holders if holder is not None)
    if config_hash is None:
        config_hash = _majority_hash(nodes, facts, first.leader)
    eligible_ids = {node for node, _ in eligible}

    members = [
        fact.status(node, expiry, first.now_ms, eligible=node in eligible_ids,
                    assigned=assigned[node], leases_held=leases[node],
                    is_leader=node == first.leader,
                    config_matches=fact.config_hash == config_hash)
        for (node, expiry), fact in zip(first.live, facts, strict=True)]
    return tuple(sorted(members, key=lambda member: member.node_id))


def _majority_hash(nodes: Sequence[tuple[str, float]], facts: Sequence[_MemberFacts],
                   leader: str | None) -> str | None:
    """Return the config hash most members have; on a tie the leader's, as the node decides."""
    ranked = Counter(fact.config_hash for fact in facts).most_common(2)
    if not ranked:
        return None
    if len(ranked) == 2 and ranked[0][1] == ranked[1][1]:
        for (node, _), fact in zip(nodes, facts, strict=True):
            if node == leader:
                return fact.config_hash
    return ranked[0][0]


@dataclass(frozen=True, slots=True)
class _MemberFacts:
    """A member hash's fields, each parsed or defaulted."""

    address: str
    capacity: float
    version: str
    config_hash: str
    joined_ms: float
    heartbeat_ms: float
    polls_total: int
    poll_errors_total: int
    targets_up: int

    @classmethod
    def parse(cls, fields: Mapping[bytes, bytes], now_ms: int) -> _MemberFacts:
        # Like the heartbeat script: no joined_ms means the node joined just now.
        joined_ms = reply_number(fields.get(b"joined_ms"), float(now_ms))
        capacity = reply_number(fields.get(b"capacity"), DEFAULT_CAPACITY)
        return cls(address=reply_text(fields.get(b"address")),
                   capacity=capacity if capacity > 0 else DEFAULT_CAPACITY,
                   version=reply_text(fields.get(b"version")),
                   config_hash=reply_text(fields.get(b"config_hash")),
                   joined_ms=joined_ms,
                   heartbeat_ms=reply_number(fields.get(b"heartbeat_ms"), joined_ms),
                   polls_total=_count(fields.get(b"polls_total")),
                   poll_errors_total=_count(fields.get(b"poll_errors_total")),
                   targets_up=_count(fields.get(b"targets_up")))

    def status(self, node_id: str, lease_expiry_ms: float, now_ms: int, *, eligible: bool,
               assigned: int, leases_held: int, is_leader: bool,
               config_matches: bool) -> MemberStatus:
        return MemberStatus(
            node_id=node_id, address=self.address, capacity=self.capacity,
            version=self.version, config_hash=self.config_hash, config_matches=config_matches,
            joined_at=self.joined_ms / 1000,
            heartbeat_age=max(0.0, (now_ms - self.heartbeat_ms) / 1000),
            lease_expires_in=(lease_expiry_ms - now_ms) / 1000, eligible=eligible,
            assigned=assigned, leases_held=leases_held, is_leader=is_leader,
            polls_total=self.polls_total, poll_errors_total=self.poll_errors_total,
            targets_up=self.targets_up)


def _lease_holder(value: bytes | None) -> str | None:
    """Return the node id of a lease value "<node id> <fencing token>", None for no lease."""
    if value is None:
        return None
    return reply_text(value).rsplit(" ", 1)[0]


def _count(value: bytes | None) -> int:
    """Parse a count; 0 for a missing, unparsable or negative one."""
    return max(0, int(reply_number(value, 0.0)))


# Text for `snmpd-ng cluster status`

_MEMBER_COLUMNS = ("NODE", "ADDRESS", "CAPACITY", "ELIGIBLE", "ASSIGNED", "LEASES", "HEARTBEAT",
                   "CONFIG", "LEADER")


def format_status(status: ClusterStatus, now: float | None = None) -> str:
    """Render `status` as a member table and a summary of targets and membership changes.

    `now` (Unix seconds) dates the events' "N s ago"; by default Redis's time of the read, so
    that "ago" does not depend on this host's clock.
    """
    if now is None:
        now = status.read_at if status.read_at is not None else time.time()
    lines = [_heading(status), ""]
    if status.members:
        lines.append(format_table(_MEMBER_COLUMNS, [_member_row(m) for m in status.members]))
    else:
        lines.append("No live members.")
    lines += ["", _targets_line(status),
              f"Last change: {_describe_event(status.last_change, now)}",
              f"Last expiry: {_describe_event(status.last_expiry, now)}"]
    return "\n".join(lines) + "\n"


def _heading(status: ClusterStatus) -> str:
    heading = f"Cluster {status.prefix!r} on Redis {status.redis}"
    if status.node_id is not None:
        heading += f", as seen by {status.node_id}"
    heading += f"\nLeader: {status.leader or 'none'}"
    if status.fenced:
        heading += (f"\nWARNING: {status.node_id or 'this node'} lost Redis and stopped "
                    "polling (self-fenced); these facts may be stale.")
    return heading


def _member_row(member: MemberStatus) -> list[str]:
    return [member.node_id, member.address or "-", f"{member.capacity:g}",
            "yes" if member.eligible else "no", str(member.assigned), str(member.leases_held),
            f"{member.heartbeat_age:.1f} s ago", "same" if member.config_matches else "differs",
            "yes" if member.is_leader else "-"]


def _targets_line(status: ClusterStatus) -> str:
    line = f"Targets: {status.targets} configured, "
    if not status.unleased:
        return line + "every one leased"
    listed = ", ".join(status.unleased)
    count = max(status.unleased_count, len(status.unleased))
    if count > len(status.unleased):
        return line + f"{count} unleased, among them: {listed}"
    return line + f"{count} unleased: {listed}"


def _describe_event(event: FailoverEvent | None, now: float) -> str:
    if event is None:
        return "none recorded"
    when = datetime.fromtimestamp(event.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = f"{event.kind} of {event.node_id} at {when} ({max(0.0, now - event.at):.0f} s ago)"
    if event.kind == "expire":
        noun = "lease" if event.targets == 1 else "leases"
        text += f", which held {event.targets} target {noun}"
    return text

