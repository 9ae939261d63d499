"""The cluster's families on /metrics: this node's own, and the cluster-wide ones on the leader.

Each node exports what concerns itself (membership, leases, fencing, Redis round trips), so that
its /metrics stays Prometheus-conventional. The aggregates over all nodes (members, targets up,
polls) come only from the node that holds the leader lease, so that a sum over every node's
/metrics never counts them twice. They come from the status snapshot of the last heartbeat.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from snmpd_ng.cluster.node import ClusterNode
from snmpd_ng.cluster.status import ClusterStatus

PREFIX = "snmpd_ng_cluster"


class ClusterCollector(Collector):
    def __init__(self, node: ClusterNode) -> None:
        self._node = node

    def collect(self) -> Iterator[Metric]:
        yield from self._node_state()
        yield from self._node_counters()
        snapshot = self._node.snapshot
        if self._node.is_leader and snapshot is not None:
            yield from self._aggregates(snapshot)

    def _node_state(self) -> Iterator[Metric]:
        node = self._node
        states = {
            "joined": ("1 when this node is a live member of the cluster.", node.joined),
            "fenced": ("1 when this node lost Redis for longer than its leases and polls "
                       "nothing.", node.fenced),
            "leader": ("1 when this node holds the leader lease and exports the cluster-wide "
                       "families.", node.is_leader),
            "config_mismatch": ("1 when this node's config hash differs from the other "
                                "nodes'.", node.config_mismatch),
            "duplicate_node_id": ("1 while another live process uses this node's id, so "
                                  "this one polls nothing.", node.duplicate_of is not None),
        }
        for name, (help_text, value) in states.items():
            yield GaugeMetricFamily(f"{PREFIX}_{name}", help_text, value=1.0 if value else 0.0)
        yield GaugeMetricFamily(f"{PREFIX}_owned_targets",
                                "Targets whose lease this node holds.",
                                value=len(node.ownership.held))
        if node.failover_bound is not None:
            yield GaugeMetricFamily(f"{PREFIX}_failover_bound_seconds",
                                    "Seconds within which a dead node's targets are polled "
                                    "again: lease_ttl + heartbeat_interval + the longest job "
                                    "interval, or cluster.failover_bound.",
                                    value=node.failover_bound)
        yield GaugeMetricFamily(f"{PREFIX}_heartbeat_rtt_seconds",
                                "Round trip of the last heartbeat to Redis.",
                                value=node.counters.last_heartbeat_rtt)

    def _node_counters(self) -> Iterator[Metric]:
        counters = self._node.counters
        values = {
            "heartbeats": ("Heartbeats Redis answered.", counters.heartbeats),
            "heartbeat_failures": ("Heartbeats that failed (Redis unreachable or erring).",
                                   counters.heartbeat_failures),
            "lease_request_failures": ("Lease requests that failed.",
                                       counters.lease_requests_failed),
            "claims_refused": ("Polls not started on a target this node is assigned, because "
                               "its lease was absent or too short for the poll's budget.",
                               self._node.ownership.refused_claims),
            "poll_records": ("Polls recorded in Redis under their lease.", counters.commits),
            "poll_records_rejected": ("Poll results dropped because the target's lease passed "
                                      "to another node during the poll.",
                                      counters.commits_rejected),
            "poll_record_failures": ("Poll records not written because Redis failed; the "
                                     "results were kept.", counters.commit_failures),
            "fenced_episodes": ("Times this node fenced itself after losing Redis.",
                                counters.fenced_episodes),
            "rejoins": ("Times this node rejoined after being fenced.", counters.rejoins),
        }
        for name, (help_text, value) in values.items():
            yield CounterMetricFamily(f"{PREFIX}_{name}", help_text, value=value)

    def _aggregates(self, snapshot: ClusterStatus) -> Iterator[Metric]:
        yield GaugeMetricFamily(f"{PREFIX}_members", "Live members (exported by the leader).",
                                value=len(snapshot.members))
        yield GaugeMetricFamily(f"{PREFIX}_targets",
                                "Targets in the config (exported by the leader).",
                                value=snapshot.targets)
        yield GaugeMetricFamily(f"{PREFIX}_targets_unleased",
                                "Targets no node holds a lease on: a failover in progress "
                                "(exported by the leader).", value=snapshot.unleased_count)
        yield GaugeMetricFamily(f"{PREFIX}_targets_up",
                                "Targets whose last poll got an answer, over all members "
                                "(exported by the leader).",
                                value=sum(m.targets_up for m in snapshot.members))
        yield GaugeMetricFamily(f"{PREFIX}_polls_per_second",
                                "Polls per second over all members, between the last two "
                                "heartbeats (exported by the leader).",
                                value=self._node.poll_rate.value)
        yield from self._per_member(snapshot)

    def _per_member(self, snapshot: ClusterStatus) -> Iterator[Metric]:
        polls = CounterMetricFamily(f"{PREFIX}_member_polls",
                                    "Polls run by each member since it started (exported by "
                                    "the leader).", labels=["node"])
        errors = CounterMetricFamily(f"{PREFIX}_member_poll_errors",
                                     "Failed polls of each member since it started (exported "
                                     "by the leader).", labels=["node"])
        age = GaugeMetricFamily(f"{PREFIX}_member_heartbeat_age_seconds",
                                "Seconds since each member's last heartbeat, by Redis's clock "
                                "(exported by the leader).", labels=["node"])
        assigned = GaugeMetricFamily(f"{PREFIX}_member_assigned_targets",
                                     "Targets the assignment gives each member (exported by "
                                     "the leader).", labels=["node"])
        for member in snapshot.members:
            polls.add_metric([member.node_id], member.polls_total)
            errors.add_metric([member.node_id], member.poll_errors_total)
            age.add_metric([member.node_id], member.heartbeat_age)
            assigned.add_metric([member.node_id], member.assigned)
        yield from (polls, errors, age, assigned)
