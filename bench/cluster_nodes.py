"""Processes of the cluster benchmark: one Redis server and the `snmpd-ng run` nodes.

Redis is tests/redisfix.py's RedisServer (redis-server on 127.0.0.1, a free port and a folder of
its own). Each node runs the config of bench/daemon_load.py with a `cluster:` section added, or
without one for the single node that shows what cluster mode itself costs. `Processes` stops
everything it started, in reverse order, when its `with` block ends, also on an error or Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import redis
import yaml
from agent import free_tcp_port
from daemon_load import (
    COMMUNITY,
    COMMUNITY_VARIABLE,
    LoadError,
    LoadOptions,
    Responder,
    build_config,
    default_daemon_command,
    read_cpu_seconds,
    stop_daemon,
    wait_until_ready,
)

from snmpd_ng.cluster.assignment import assign
from snmpd_ng.cluster.keys import Keys

# tests/redisfix.py starts the Redis servers of the cluster tests; import it, do not copy it.
sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))
from redisfix import RedisServer, RedisStartError

JOBS_PER_TARGET = 2
"""bench/daemon_load.py's config polls two jobs on each target: system and interfaces."""
LEASE_CHECK_PERIOD = 0.2
"""Seconds between two reads of the lease keys while waiting for an assignment to settle."""
IDLE_CAPACITY = 1e-9
"""Capacity of the idle member: against members of capacity 1 it wins no target."""
MGET_CHUNK = 1000
"""Lease keys per MGET, so that no single reply grows with the number of targets."""


class BenchError(RuntimeError):
    """A process of the benchmark did not start, or the cluster did not reach a state in time."""


@dataclass(frozen=True, slots=True)
class ClusterTiming:
    """The lease settings of the `cluster:` section, in seconds.

    The lease is shorter than the daemon's default (DEFAULT_LEASE_TTL), so that ten failovers
    fit in the run, and the settings are the same in every part of the run. They cap each poll
    budget at lease_ttl - heartbeat - lease_margin - 1 s (ClusterRuntime.max_budget): 2.25 s.
    """

    lease_ttl: float = 5.0
    heartbeat: float = 1.25
    lease_margin: float = 0.5
    join_delay: float | None = None
    """None: the daemon's default, two heartbeat intervals."""

    def longest_run(self) -> float:
        """Return the seconds one poll may take: the budget that cluster mode caps, and its
        grace (run_grace in snmpd_ng/polling/poller.py).

        The bench's budgets (0.8 x the interval) are all above the cap.
        """
        cap = max(0.1, self.lease_ttl - self.heartbeat - self.lease_margin - 1.0)
        return cap + min(1.0, 0.1 * cap)

    def failover_bound(self, interval: float) -> float:
        """Return the daemon's default bound: the lease TTL, one heartbeat and one run, or
        one interval when longer (ClusterSettings.failover_bound_seconds).

        The daemon exports it as snmpd_ng_cluster_failover_bound_seconds.
        """
        return max(interval, self.lease_ttl + self.heartbeat + self.longest_run())

    def join_delay_seconds(self) -> float:
        return 2 * self.heartbeat if self.join_delay is None else self.join_delay

    def section(self, node_id: str, redis_url: str, key_prefix: str) -> dict[str, Any]:
        """Return the `cluster:` section of one node's config."""
        section: dict[str, Any] = {
            "node_id": node_id,
            "lease_ttl": self.lease_ttl,
            "heartbeat_interval": self.heartbeat,
            "lease_margin": self.lease_margin,
            "redis": {"url": redis_url, "key_prefix": key_prefix},
        }
        if self.join_delay is not None:
            section["join_delay"] = self.join_delay
        return section


class Processes(ExitStack):
    """An ExitStack that also turns SIGTERM into KeyboardInterrupt while it is open.

    So a bench stopped with SIGTERM or Ctrl-C leaves the stack as on any error, and every
    process registered on it is stopped.
    """

    def __enter__(self) -> Processes:
        super().__enter__()
        previous = signal.signal(signal.SIGTERM, _interrupt)
        self.callback(signal.signal, signal.SIGTERM, previous)
        return self


def _interrupt(number: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {number}")


def start_redis(processes: Processes, folder: Path) -> RedisServer:
    """Start redis-server in `folder` on a free loopback port; `processes` stops it."""
    server = RedisServer(folder)
    processes.callback(server.stop)
    try:
        server.start()
    except RedisStartError as exc:
        raise BenchError(str(exc)) from exc
    return server


def start_responder(processes: Processes, targets: int, interfaces: int) -> Responder:
    """Start bench/responder.py with one UDP port per target; `processes` stops it."""
    responder = Responder(targets, interfaces)
    processes.callback(responder.stop)
    return responder


def target_names(count: int) -> list[str]:
    """Return the target names of bench/daemon_load.py's config, in order."""
    return [f"sim{number:04d}" for number in range(count)]


class Node:
    """One `snmpd-ng run` process with its own folder: config, state directory and log."""

    def __init__(self, name: str, folder: Path, config: dict[str, Any],
                 command: Sequence[str] = ()) -> None:
        self.name = name
        self.folder = folder
        self.http_port = int(config["http"]["listen"][0].rsplit(":", 1)[1])
        self.command = [*(command or default_daemon_command()), "--config",
                        str(folder / "config.yaml")]
        self.log_file = folder / "daemon.log"
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchError(f"node {self.name} is not running")
        return self.process.pid

    def start(self) -> None:
        """Start the process (again, after a kill) and wait until /readyz returns 200."""
        self.launch()
        self.wait_until_ready()

    def launch(self) -> None:
        """Start the process without waiting for it."""
        environment = {**os.environ, COMMUNITY_VARIABLE: COMMUNITY}
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                            env=environment)

    def wait_until_ready(self) -> None:
        """Wait until /readyz returns 200; raise BenchError if the process exits first."""
        if self.process is None:
            raise BenchError(f"node {self.name} is not running")
        try:
            wait_until_ready(self.process, self.http_port, self.log_file)
        except LoadError as exc:
            raise BenchError(f"node {self.name}: {exc}") from exc

    def kill(self) -> None:
        """Stop the process with SIGKILL, as a crash would: it releases nothing."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        """Stop the process with SIGTERM (SIGKILL after a timeout), so it leaves the cluster."""
        if self.process is not None:
            stop_daemon(self.process)
            self.process = None

    def cpu_seconds(self) -> float:
        return read_cpu_seconds(self.pid)


def node_config(responder: Responder, options: LoadOptions, folder: Path,
                cluster: dict[str, Any] | None,
                max_concurrent_polls: int | None = None,
                log_level: str = "warning") -> dict[str, Any]:
    """Return bench/daemon_load.py's config for one node, with `cluster` as its section.

    `max_concurrent_polls` sets the scheduler's limit; None leaves the daemon's default.
    """
    config = build_config(responder.ports, options, free_tcp_port(), folder / "state")
    config["logging"]["level"] = log_level
    if max_concurrent_polls is not None:
        config["scheduler"] = {"max_concurrent_polls": max_concurrent_polls}
    if cluster is not None:
        config["cluster"] = cluster
    return config


def launch_node(processes: Processes, node: Node) -> Node:
    """Start `node` without waiting for it, and register its stop on `processes`."""
    processes.callback(node.stop)
    node.launch()
    return node


def count_log_events(folder: Path) -> dict[str, int]:
    """Count the warnings and errors in the logs of every node under `folder`, by event and
    error, such as "cache write failed: network:MaxConnectionsError"."""
    counts: dict[str, int] = {}
    for log_file in sorted(folder.glob("*/daemon.log")):
        for line in log_file.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(entry, dict) or entry.get("level") not in ("warning", "error"):
                continue
            key = str(entry.get("event", ""))
            if entry.get("error"):
                key += f": {entry['error']}"
            counts[key] = counts.get(key, 0) + 1
    return counts


# ---------------------------------------------------------------------------------------------
# Leases


def lease_holders(client: redis.Redis, keys: Keys, targets: Sequence[str]) -> list[str | None]:
    """Return the node id in each target's lease, None where no node holds one."""
    holders: list[str | None] = []
    for start in range(0, len(targets), MGET_CHUNK):
        chunk = [keys.lease(target) for target in targets[start:start + MGET_CHUNK]]
        for value in client.mget(chunk):
            holders.append(None if value is None else _text(value).split(" ", 1)[0])
    return holders


def wait_for_assignment(client: redis.Redis, keys: Keys, targets: Sequence[str],
                        node_ids: Sequence[str], timeout: float) -> float:
    """Wait until every target is leased by its owner under the rendezvous assignment of
    `node_ids` (capacity 1 each); return the seconds waited.

    Raises BenchError after `timeout` seconds, with the number of targets still elsewhere.
    """
    owners = assign(targets, [(node_id, 1.0) for node_id in node_ids])
    expected = [owners[target] for target in targets]
    started = time.monotonic()
    while True:
        holders = lease_holders(client, keys, targets)
        misplaced = sum(1 for held, wanted in zip(holders, expected, strict=True)
                        if held != wanted)
        if misplaced == 0:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise BenchError(f"{misplaced} of {len(targets)} targets were not leased by their "
                             f"assigned node among {', '.join(node_ids)} after {timeout:.0f} s")
        time.sleep(LEASE_CHECK_PERIOD)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
