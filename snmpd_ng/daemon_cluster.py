"""The daemon's cluster mode: what it builds and starts when the config has a `cluster:` section.

Start order: node id, Redis client, the shared cache (and its invalidation listener), the cluster
node (its first heartbeat runs in the background, so a Redis that is down delays polling, not the
start). Polling then gets the node as its gate and the Redis cache. Stop order is the reverse,
after polling has stopped: the node releases its leases and leaves, so the other nodes take its
targets at their next heartbeat rather than after the leases expire.
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AsyncExitStack
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from prometheus_client.registry import Collector

from snmpd_ng.cache.redis import RedisCache
from snmpd_ng.clock import Clock
from snmpd_ng.cluster.metrics import ClusterCollector
from snmpd_ng.cluster.node import ClusterNode, PollTotals
from snmpd_ng.cluster.node_id import NodeIdError, resolve_node_id
from snmpd_ng.cluster.ownership import LeaseChanges
from snmpd_ng.cluster.redis_conn import RedisClient, describe, open_redis
from snmpd_ng.cluster.settings import ClusterSettings
from snmpd_ng.config.model import DaemonConfig
from snmpd_ng.config.warnings import request_wait
from snmpd_ng.http.cluster import add_cluster_routes
from snmpd_ng.http.latest import add_latest_routes
from snmpd_ng.polling.poller import run_grace

log = structlog.get_logger("snmpd_ng.daemon")

CLUSTER_START_ERRORS: tuple[type[Exception], ...] = (NodeIdError,)

RELOADED_KEYS = ("config_hash", "config_sections", "advertise_url", "capacity")
"""ClusterSettings fields a reload applies; the others take a restart."""
"""Errors that stop the start with their message (a Redis that is down does not)."""


class ClusterRuntime:
    """The cluster node, its Redis client and the shared cache of one daemon."""

    def __init__(self, settings: ClusterSettings, node: ClusterNode, client: RedisClient,
                 cache: RedisCache) -> None:
        self.settings = settings
        self.node = node
        self.client = client
        self.cache = cache

    @classmethod
    def build(cls, config: DaemonConfig, state_dir: Path | None, clock: Clock) -> ClusterRuntime:
        """Resolve the node id and build the parts; nothing talks to Redis yet.

        Raises NodeIdError when the node has no id and no state directory to keep one in.
        """
        settings = config.cluster
        assert settings is not None
        node_id = resolve_node_id(settings, state_dir)
        client = open_redis(settings.redis)
        longest = max((job.interval for target in config.targets for job in target.jobs),
                      default=0.0)
        cap = max_budget(settings)
        longest_run = max((run_grace(budget) + budget
                           for target in config.targets for job in target.jobs
                           for budget in (min(target.budget_for(job), cap),)), default=0.0)
        node = ClusterNode(settings, node_id=node_id, targets=_target_names(config),
                           client=client, clock=clock,
                           failover_bound=_failover_bound(settings, longest, longest_run))
        cache = RedisCache(client, node.keys, clock, is_owned=node.owns,
                           local_cache=settings.local_cache, fence=node.lease_value)
        node.add_listener(lambda changes: _drop_local_copies(cache, changes))
        return cls(settings, node, client, cache)

    def polling_options(self, config: DaemonConfig) -> dict[str, Any]:
        """Keyword arguments of PollingService for cluster mode."""
        cap = self.max_budget()
        capped = sum(1 for target in config.targets for job in target.jobs
                     if target.budget_for(job) > cap)
        # A shorter budget matters only where one request to a silent agent outlasts it: then
        # the last retries are never sent.
        cut_retries = sorted(target.name for target in config.targets
                             if request_wait(target) > cap)
        if cut_retries:
            log.warning("cluster mode caps poll budgets below the time one request may wait "
                        "for a silent agent, so its last retries are never sent; raise "
                        "cluster.lease_ttl, or lower timeout or retries",
                        max_budget=round(cap, 3), targets=len(cut_retries),
                        first_targets=cut_retries[:5])
        elif capped:
            log.info("cluster mode caps poll budgets so that each poll ends inside its lease",
                     max_budget=round(cap, 3), jobs=capped)
        return {"gate": self.node, "cache": self.cache, "max_budget": cap}

    def max_budget(self) -> float:
        return max_budget(self.settings)

    async def start(self, stack: AsyncExitStack, stop_step: Any,
                    poll_totals: Any) -> None:
        """Start the cache listener and the node, and register their stops on `stack`."""
        self.node.set_poll_totals(poll_totals)
        stack.push_async_callback(stop_step, "redis client", self._close_client)
        stack.push_async_callback(stop_step, "cluster cache", self.cache.stop)
        await self.cache.start()
        stack.push_async_callback(stop_step, "cluster node", self.node.stop)
        await self.node.start()
        log.info("cluster mode started", node=self.node.node_id,
                 redis=describe(self.settings.redis))

    async def _close_client(self) -> None:
        await self.client.aclose()

    def collector(self) -> Collector:
        return ClusterCollector(self.node)

    def add_routes(self, app: web.Application) -> None:
        add_cluster_routes(app, lambda: self.node.snapshot)
        add_latest_routes(app, self.cache, lambda: self.node.targets)

    def not_ready_reason(self) -> str:
        """Return why /readyz responds 503 in cluster mode."""
        node = self.node
        if node.duplicate_of is not None:
            return (f"another process is running with node id {node.node_id}; give each node "
                    "its own cluster.node_id or state_dir")
        if node.fenced:
            return ("fenced: Redis has failed for longer than the leases (the log says why: "
                    "unreachable, a rejected login, or a timeout)")
        if not node.joined:
            error = node.last_heartbeat_error
            if error is not None:
                return f"not a cluster member yet: the heartbeats to Redis fail: {error}"
            return "not a cluster member yet: waiting for Redis to answer a heartbeat"
        return "waiting for the first poll attempt of every target this node holds"

    def reload(self, config: DaemonConfig) -> None:
        """Take the reloaded targets, config hash, advertise_url and capacity.

        The config hash changes with any shared key (a job's interval, say), so it is taken at
        once: the other nodes compare it at the next heartbeat, which also publishes the new
        advertise_url and capacity. Other cluster settings need a restart.
        """
        self.node.update_targets(_target_names(config))
        new = config.cluster
        if new is None:
            log.warning("cluster section removed; cluster mode ends when the daemon restarts",
                        node=self.node.node_id)
            return
        live = {key: getattr(new, key) for key in RELOADED_KEYS}
        waiting = sorted(field.name for field in fields(new)
                         if field.name not in RELOADED_KEYS
                         and getattr(new, field.name) != getattr(self.settings, field.name))
        if waiting:
            log.warning("cluster settings changed; they apply when the daemon restarts",
                        node=self.node.node_id, keys=[f"cluster.{key}" for key in waiting])
        self.settings = replace(self.settings, **live)
        self.node.settings = replace(self.node.settings, **live)


def max_budget(settings: ClusterSettings) -> float:
    """Return the maximum poll budget whose poll still ends inside a lease renewed on time.

    A lease has at least `lease_ttl - heartbeat_interval` seconds left between renewals. A
    poll needs its budget, the grace after it (at most 1 s, counted in the margin check of
    each claim) and the margin.
    """
    return max(0.1, settings.lease_ttl - settings.heartbeat_seconds
               - settings.lease_margin - 1.0)


def polling_totals(polling: Any) -> PollTotals:
    runs, failed, up = polling.poll_totals()
    return PollTotals(polls=runs, poll_errors=failed, targets_up=up)


def _target_names(config: DaemonConfig) -> Collection[str]:
    return [target.name for target in config.targets]


def _drop_local_copies(cache: RedisCache, changes: LeaseChanges) -> None:
    for target in changes.gained | changes.lost:
        cache.drop_local(target)


def _failover_bound(settings: ClusterSettings, longest_interval: float,
                    longest_run: float) -> float:
    """Return the failover bound, and warn when a configured one is shorter than can hold."""
    computed = max(longest_interval,
                   settings.lease_ttl + settings.heartbeat_seconds + longest_run)
    bound = settings.failover_bound_seconds(longest_interval, longest_run)
    if bound < computed:
        log.warning("cluster.failover_bound is shorter than a failover can take (lease_ttl + "
                    "heartbeat_interval + the longest poll budget, or the longest job "
                    "interval when longer); it will be missed",
                    failover_bound=bound, computed_bound=round(computed, 3))
    return bound
