"""The failover measure of the cluster benchmark: kill a node, time the takeover of its targets.

With 3 nodes running, the measure reads every target's lease, sends SIGKILL to one node and
follows the leases and the `polls` stream until each of the node's targets has a poll by
another node. A target counts as taken over at the start of that poll (the record's `started`
field, Unix seconds of the polling node, on the same host as the benchmark). The new owner
polls a slot that the dead node missed at once and records it under that earlier slot, so the
record's `slot` can lie before the kill while its `started` lies after it. The entry's id is
when the record was written, after the poll ended, so it orders the records by their ends
rather than by their starts.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis
from cluster_measure import BenchOptions, progress, read_metrics, sum_samples
from cluster_nodes import BenchError, Node, lease_holders, wait_for_assignment
from cluster_redis import entry_time_ms, poll_records

from snmpd_ng.cluster.keys import Keys

STREAM_CHECK_PERIOD = 0.1
"""Seconds between two reads of the polls stream while waiting for a takeover."""
RECORD_DELAY = 1.0
"""Seconds a poll record may take to reach the stream after its poll ended: the commit script's
round trip on a busy node."""
BOUND_METRIC = "snmpd_ng_cluster_failover_bound_seconds"


@dataclass(slots=True)
class Failover:
    """The times of one failover: a node killed with SIGKILL, its targets taken over, and the
    node back."""

    node: str
    targets: int
    """Targets whose lease the node held when it was killed."""
    seconds: float | None = None
    """From the kill to the start of the last of its targets' first polls by another node;
    None when some target had none within the wait."""
    first_seconds: float | None = None
    """From the kill to the start of the first such poll."""
    leases_seconds: float | None = None
    """From the kill to the first check that found every one of its targets leased by another
    node. The checks run about every STREAM_CHECK_PERIOD seconds."""
    missing: int = 0
    """Targets with no poll by another node within the wait."""
    slowest: dict[str, str] = field(default_factory=dict)
    """The poll record of the target taken over last, with its stream entry id as "id"."""
    rejoin_seconds: float = 0.0
    """From the restart to the node's holding every target the assignment gives it again."""


@dataclass(slots=True)
class FailoverResult:
    bound: float
    """The daemon's default failover bound: lease_ttl + heartbeat_interval + one run (the
    capped budget and its grace), or the interval when longer."""
    lease_bound: float
    """lease_ttl + heartbeat_interval: the part of the bound before the leases move."""
    daemon_bound: float | None = None
    """The bound that a node exports as snmpd_ng_cluster_failover_bound_seconds; None when
    its /metrics has no such sample."""
    repeats: list[Failover] = field(default_factory=list)

    @property
    def times(self) -> list[float]:
        """Failover seconds of the repeats in which every target was taken over."""
        return [repeat.seconds for repeat in self.repeats if repeat.seconds is not None]

    @property
    def median_seconds(self) -> float | None:
        return statistics.median(self.times) if self.times else None

    @property
    def max_seconds(self) -> float | None:
        return max(self.times) if self.times else None

    @property
    def lease_times(self) -> list[float]:
        return [repeat.leases_seconds for repeat in self.repeats
                if repeat.leases_seconds is not None]

    @property
    def incomplete(self) -> int:
        """Repeats in which some target had no poll by another node within the wait."""
        return len(self.repeats) - len(self.times)


@dataclass(slots=True)
class Takeover:
    """The takeover of one node's targets, as Unix times in ms (every process runs on this
    host)."""

    first_polls: dict[str, tuple[int, str, dict[str, str]]] = field(default_factory=dict)
    """Per target: the start, entry id and fields of its first poll by another node."""
    leased_ms: int | None = None
    """When every target was first seen leased by another node."""

    def note(self, entry_id: str, fields: dict[str, str], started_ms: int) -> None:
        """Keep the record if it is the earliest start of its target seen so far."""
        target = fields.get("target", "")
        known = self.first_polls.get(target)
        if known is None or started_ms < known[0]:
            self.first_polls[target] = (started_ms, entry_id, fields)


def wait_for_takeover(client: redis.Redis, keys: Keys, victim: str, targets: Sequence[str],
                      killed_ms: int, longest_run: float, timeout: float) -> Takeover:
    """Follow the leases and the polls stream after `victim` was killed at `killed_ms`.

    Returns once every target of `targets` is leased by another node and has a poll by
    another node, and the polls that started before the latest of those first polls have
    ended (`longest_run` seconds) and been recorded. Returns what it saw after `timeout`
    seconds otherwise.
    """
    takeover = Takeover()
    watched = set(targets)
    low = f"{killed_ms}-0"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if takeover.leased_ms is None and _leased_elsewhere(client, keys, victim, targets):
            takeover.leased_ms = _now_ms()

        for entry_id, fields in poll_records(client, keys, low):
            low = "(" + entry_id
            started_ms = _started_ms(fields, entry_id)
            if (fields.get("target") in watched and fields.get("node") != victim
                    and started_ms >= killed_ms):
                takeover.note(entry_id, fields, started_ms)

        if takeover.leased_ms is not None and len(takeover.first_polls) == len(watched):
            latest = max(start for start, _, _ in takeover.first_polls.values())
            if _now_ms() > latest + 1000 * (longest_run + RECORD_DELAY):
                break
        time.sleep(STREAM_CHECK_PERIOD)
    return takeover


def _started_ms(fields: dict[str, str], entry_id: str) -> int:
    """Return the poll's start in Unix ms; a record without `started` counts at its write."""
    try:
        return round(float(fields["started"]) * 1000)
    except (KeyError, ValueError):
        return entry_time_ms(entry_id)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _leased_elsewhere(client: redis.Redis, keys: Keys, victim: str,
                      targets: Sequence[str]) -> bool:
    holders = lease_holders(client, keys, targets)
    return all(holder is not None and holder != victim for holder in holders)


def summarize(takeover: Takeover, node: str, held: int, killed_ms: int) -> Failover:
    """Turn the takeover of `held` targets of `node`, killed at `killed_ms`, into times."""
    polls = takeover.first_polls
    failover = Failover(node=node, targets=held, missing=held - len(polls))
    if takeover.leased_ms is not None:
        failover.leases_seconds = (takeover.leased_ms - killed_ms) / 1000
    if not polls:
        return failover

    starts = [start for start, _, _ in polls.values()]
    failover.first_seconds = (min(starts) - killed_ms) / 1000
    if not failover.missing:
        failover.seconds = (max(starts) - killed_ms) / 1000
        _, entry_id, fields = max(polls.values(), key=lambda poll: poll[0])
        failover.slowest = {"id": entry_id, **fields}
    return failover


def fail_one(client: redis.Redis, keys: Keys, nodes: Sequence[Node], victim: Node,
             targets: Sequence[str], options: BenchOptions) -> Failover:
    """Kill `victim`, time the takeover of its targets, restart it and wait for its share."""
    holders = lease_holders(client, keys, targets)
    held = [target for target, holder in zip(targets, holders, strict=True)
            if holder == victim.name]
    if not held:
        raise BenchError(f"node {victim.name} has no lease, so its failover cannot be "
                         "measured; check its log for why it polls nothing")
    timing = options.timing
    killed_ms = _now_ms()
    victim.kill()
    takeover = wait_for_takeover(client, keys, victim.name, held, killed_ms,
                                 timing.longest_run(), 3 * timing.failover_bound(
                                     options.interval))
    failover = summarize(takeover, victim.name, len(held), killed_ms)

    restarted = time.monotonic()
    victim.start()
    wait_for_assignment(client, keys, targets, [node.name for node in nodes],
                        options.settle_timeout)
    failover.rejoin_seconds = time.monotonic() - restarted
    return failover


def read_daemon_bound(node: Node) -> float | None:
    """Return the failover bound that `node` exports, None when it exports none."""
    text = read_metrics(node)
    if BOUND_METRIC not in text:
        return None
    return sum_samples(text, BOUND_METRIC)


def measure_failovers(client: redis.Redis, keys: Keys, nodes: Sequence[Node],
                      targets: Sequence[str], options: BenchOptions) -> FailoverResult:
    """Kill each node in turn, `options.repeats` times in all."""
    timing = options.timing
    result = FailoverResult(bound=timing.failover_bound(options.interval),
                            lease_bound=timing.lease_ttl + timing.heartbeat,
                            daemon_bound=read_daemon_bound(nodes[0]))
    if result.daemon_bound is not None and abs(result.daemon_bound - result.bound) > 0.001:
        progress(f"warning: the nodes export a failover bound of {result.daemon_bound:g} s, "
                 f"but the bench computed {result.bound:g} s; fix ClusterTiming")

    for repeat in range(options.repeats):
        victim = nodes[repeat % len(nodes)]
        failover = fail_one(client, keys, nodes, victim, targets, options)
        progress(f"failover {repeat + 1}/{options.repeats}: {victim.name} held "
                 f"{failover.targets} targets, leased elsewhere after "
                 f"{_seconds(failover.leases_seconds)}, polled after "
                 f"{_seconds(failover.seconds)}, back in {failover.rejoin_seconds:.1f} s")
        result.repeats.append(failover)
    return result


def _seconds(value: float | None) -> str:
    return "— (not within the wait)" if value is None else f"{value:.1f} s"
