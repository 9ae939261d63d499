"""The daemon's alerting in cluster mode: one alert service for the cluster, on the leader.

What changes against a single node (docs/decisions/0010-cluster-alerting.md):

- The alert store is in Redis (RedisAlertStore); only the leader writes it.
- Each node evaluates the rules over the targets it polls and sends the signals, and those of
  its trap receiver, to a Redis stream (SignalPublisher). The leader's alert service reads the
  stream (SignalConsumer) and acknowledges what its store took.
- AlertLeadership starts the alert service when the node becomes the leader and stops it when
  the node stops leading.
- Each target's rule state follows the target (RuleStateSync): the owner saves it every
  second under its lease, and a node that gains the target loads it before evaluating the
  target's first result there.
- The alerts API of a node that does not lead forwards to the leader (LeaderProxy).

Start: the publisher, then the leadership watch, then the rule state sync. The daemon stops
them in the reverse order, after the rules, so that the rules' last signals are sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog
from aiohttp import web
from prometheus_client.registry import Collector

from snmpd_ng.alerting.leadership import AlertLeadership
from snmpd_ng.alerting.redis_store import RedisAlertStore
from snmpd_ng.alerting.rule_sync import RuleStateSync
from snmpd_ng.alerting.rules.engine import DEFAULT_RETENTION
from snmpd_ng.alerting.rules.model import RuleSignal
from snmpd_ng.alerting.runtime import Alerting, SharedAlerting
from snmpd_ng.clock import Clock
from snmpd_ng.cluster.alerting_metrics import AlertingClusterCollector, AlertingClusterSnapshot
from snmpd_ng.cluster.ownership import LeaseChanges
from snmpd_ng.cluster.rule_state import RuleStateStore
from snmpd_ng.cluster.signal_consumer import SignalConsumer
from snmpd_ng.cluster.signal_stream import SignalPublisher
from snmpd_ng.daemon_cluster import ClusterRuntime
from snmpd_ng.http.leader_proxy import (
    LeaderLookup,
    LeaderProxy,
    LeaderProxyCollector,
    LocalLeader,
    NoLeader,
    Reason,
    lookup_leader,
)

log = structlog.get_logger("snmpd_ng.daemon")


class ClusterAlerting:
    """The cluster parts of one daemon's alerting, built before `Alerting` and attached to it."""

    def __init__(self, cluster: ClusterRuntime, clock: Clock) -> None:
        node = cluster.node
        self._node = node
        self._cluster = cluster
        self._clock = clock
        self.store = RedisAlertStore(cluster.client, node.keys.alerts_base,
                                     leader_check=self._leader_id)
        self.publisher = SignalPublisher(cluster.client, node.keys, clock=clock)
        self.shared = SharedAlerting(store=self.store, signal_sink=self.publisher.submit,
                                     may_send=lambda: node.is_leader)
        self.leadership: AlertLeadership | None = None
        self.consumer: SignalConsumer | None = None
        self.rule_sync: RuleStateSync | None = None
        self.proxy = LeaderProxy(self._find_leader, node_id=node.node_id)

    def attach(self, alerting: Alerting,
               reboots: Callable[[str], int | None] | None = None) -> None:
        """Build the parts that need the alert service and the rules engine of `alerting`.

        `reboots(target)` returns the reboots of the target this node's polling has seen.
        """
        cluster, node = self._cluster, self._node
        self.consumer = SignalConsumer(cluster.client, node.keys, self._apply,
                                       clock=self._clock)
        self.leadership = AlertLeadership(node, alerting.service, self.consumer, self._clock)
        store = RuleStateStore(cluster.client, node.keys, ttl_seconds=DEFAULT_RETENTION)
        self.rule_sync = RuleStateSync(alerting.pipeline.engine, store,
                                       lease_value=node.lease_value, clock=self._clock,
                                       reboots=reboots)
        alerting.pipeline.handoff = _Handoff(self.rule_sync, node.owns)
        node.set_release_hook(self._save_before_release)
        # Targets whose leases this node has already (the node started first) load too.
        self.rule_sync.gained(node.owned())

    async def start(self) -> None:
        assert self.leadership is not None
        assert self.rule_sync is not None
        self.publisher.start()
        self.leadership.start()
        self.rule_sync.start()
        log.info("cluster alerting started", node=self._node.node_id)

    async def stop(self) -> None:
        """Save the rule state, step down as the alert service, then send the last signals."""
        assert self.leadership is not None
        assert self.rule_sync is not None
        await self.rule_sync.stop()
        await self.leadership.stop()
        await self.publisher.stop()
        await self.proxy.close()
        log.info("cluster alerting stopped", node=self._node.node_id)

    def add_proxy(self, app: web.Application) -> None:
        """Forward the alerts API to the leader when this node does not lead.

        The proxy comes before every other middleware, basic auth included: the leader checks
        the credentials, so that every node accepts the same ones, the leader's.
        """
        app.middlewares.insert(0, self.proxy.middleware())

    def collectors(self, results_dropped: Callable[[], int]) -> list[Collector]:
        """Return the collectors of the proxy and of alerting's cluster parts."""
        return [LeaderProxyCollector(self.proxy.stats),
                AlertingClusterCollector(lambda: self.snapshot(results_dropped()))]

    def snapshot(self, results_dropped: int) -> AlertingClusterSnapshot:
        leadership, consumer, sync = self.leadership, self.consumer, self.rule_sync
        assert leadership is not None
        assert consumer is not None
        assert sync is not None
        publisher = self.publisher
        return AlertingClusterSnapshot(
            alert_service_active=leadership.is_active, alert_service_terms=leadership.terms,
            signals_published=publisher.published, signals_dropped=publisher.dropped,
            signals_buffered=publisher.buffered, signal_batches_failed=publisher.failed_batches,
            signals_received=consumer.received, signals_applied=consumer.applied,
            signals_acked=consumer.acked, signal_decode_errors=consumer.decode_errors,
            signal_handler_failures=consumer.handler_failures, signals_pending=consumer.pending,
            rule_state_saves=sync.saves, rule_state_save_failures=sync.save_failures,
            rule_state_fenced_skips=sync.fenced_skips, rule_state_loads=sync.loads,
            rule_state_load_failures=sync.load_failures,
            rule_states_imported=sync.states_imported, results_dropped=results_dropped)

    def targets_moved(self, changes: LeaseChanges) -> None:
        """Load the rule state of gained targets; save and drop that of lost ones."""
        if self.rule_sync is None:
            return
        if changes.lost:
            self.rule_sync.lost(changes.lost)
        if changes.gained:
            self.rule_sync.gained(changes.gained)

    def _find_leader(self) -> LeaderLookup:
        found = lookup_leader(self._node)
        if isinstance(found, LocalLeader) and not (self.leadership and self.leadership.is_active):
            return NoLeader(Reason.LEADER_CHANGED, "this node has just become the leader and "
                                                   "its alert service is starting; retry in a "
                                                   "second")
        return found

    async def _save_before_release(self, targets: frozenset[str]) -> None:
        # The periodic save, brought forward: the leases still hold, so the fencing lets it in.
        assert self.rule_sync is not None
        await self.rule_sync.flush()

    def _leader_id(self) -> str | None:
        return self._node.node_id if self._node.is_leader else None

    async def _apply(self, signals: Sequence[RuleSignal]) -> None:
        assert self.leadership is not None
        await self.leadership.apply_signals(signals)


class _Handoff:
    """The rules pipeline's view of the rule state sync and of target ownership."""

    def __init__(self, sync: RuleStateSync, owns: Callable[[str], bool]) -> None:
        self._sync = sync
        self._owns = owns

    def wants(self, target: str) -> bool:
        return self._owns(target)

    async def ready(self, target: str) -> None:
        await self._sync.ready(target)

    def mark(self, target: str) -> None:
        self._sync.mark(target)
