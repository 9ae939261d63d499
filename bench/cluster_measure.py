"""The measures of the cluster benchmark: scale-out and Redis commands per poll.

Each measure takes running processes (bench/cluster_nodes.py) and returns a result dataclass.
The failover measure is in bench/cluster_failover.py. bench/cluster.py starts the processes in
the order the measures need, and bench/cluster_report.py renders the results.
"""

from __future__ import annotations

import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

import redis
from cluster_nodes import (
    JOBS_PER_TARGET,
    BenchError,
    ClusterTiming,
    Node,
)
from cluster_redis import (
    CommandCounts,
    MonitorFeed,
    calls_between,
    count_polls,
    read_info,
)
from daemon_load import read_cpu_seconds

from snmpd_ng.cluster.keys import Keys

SCRAPE_TIMEOUT = 60.0
"""Seconds one GET of /metrics may take: generous, for a busy node with thousands of targets."""


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """Sizes, durations and cluster settings of one run."""

    targets: int = 2000
    interval: float = 5.0
    """Seconds between two polls of one job on one target."""
    interfaces: int = 8
    warm_up: float = 3.0
    """Seconds of polling after the targets settled on their nodes, before a window starts."""
    window: float = 12.0
    """Seconds over which the polls and the CPU time of one scale-out row are counted."""
    command_window: float = 10.0
    """Seconds over which the Redis commands are counted."""
    repeats: int = 10
    """Failovers measured."""
    node_counts: tuple[int, ...] = (1, 2, 3)
    """Node counts, up to 3, that get a scale-out row in cluster mode."""
    max_concurrent_polls: int | None = None
    """The scheduler's limit of job runs in progress; None: the daemon's default (256)."""
    log_level: str = "warning"
    """logging.level of every node; "info" adds, among others, each missed slot polled at
    takeover."""
    timing: ClusterTiming = field(default_factory=ClusterTiming)
    daemon_command: tuple[str, ...] = ()

    @property
    def scheduled_polls_per_second(self) -> float:
        return self.targets * JOBS_PER_TARGET / self.interval

    @property
    def settle_timeout(self) -> float:
        """Seconds the targets may take to settle on their nodes after a node starts."""
        return 3 * self.timing.failover_bound(self.interval) + 30.0


_STARTED = time.monotonic()


def progress(message: str) -> None:
    """Print a progress line on stderr with the seconds since the benchmark started."""
    print(f"bench: {time.monotonic() - _STARTED:5.1f} s: {message}", file=sys.stderr,
          flush=True)


# ---------------------------------------------------------------------------------------------
# Scale-out


COUNTERS = {
    "polls": ("snmp_polls_total",),
    "failed_polls": ("snmp_poll_failures_total",),
    "skipped_slots": ("snmp_scheduler_skipped_slots_total",),
    "redis_errors": ("snmpd_ng_cluster_heartbeat_failures_total",
                     "snmpd_ng_cluster_lease_request_failures_total",
                     "snmpd_ng_cluster_poll_record_failures_total"),
}
"""The counts of a scale-out row, each with the /metrics counters it sums."""
ERROR_KIND = re.compile(r'^snmp_poll_errors_total\{[^}]*kind="([^"]+)"[^}]*\} (\S+)$',
                        re.MULTILINE)


@dataclass(slots=True)
class ScaleRow:
    """Polls and CPU time over one window with a given number of nodes."""

    nodes: int
    cluster: bool
    seconds: float = 0.0
    """Length of the CPU window."""
    poll_seconds: float = 0.0
    """Time between the two reads of /metrics that count the polls (the window and the reads)."""
    counts: dict[str, float] = field(default_factory=dict)
    """Increase of each counter of COUNTERS over the window, and of each poll error kind
    (snmp_poll_errors_total) as "error:<kind>"."""
    node_cpu_seconds: list[float] = field(default_factory=list)
    redis_cpu_seconds: float = 0.0
    responder_cpu_seconds: float = 0.0

    @property
    def good_polls(self) -> float:
        """Polls that ended without an error: the work done."""
        return self.counts.get("polls", 0.0) - self.counts.get("failed_polls", 0.0)

    @property
    def polls_per_second(self) -> float:
        return self.good_polls / self.poll_seconds if self.poll_seconds else 0.0

    @property
    def daemon_cores(self) -> float:
        """CPU seconds of all nodes per second of the window: the cores they kept busy."""
        return sum(self.node_cpu_seconds) / self.seconds if self.seconds else 0.0

    @property
    def polls_per_cpu_second(self) -> float:
        cores = self.daemon_cores
        return self.polls_per_second / cores if cores else 0.0

    @property
    def error_kinds(self) -> dict[str, float]:
        return {name.removeprefix("error:"): count for name, count in self.counts.items()
                if name.startswith("error:") and count > 0}


def sum_samples(exposition: str, name: str) -> float:
    """Sum every sample of `name` in a Prometheus text exposition.

    A plain line scan: prometheus_client's parser takes seconds for the 10 MB that a node with
    thousands of targets exposes, on the cores that the nodes need.
    """
    total = 0.0
    for line in exposition.splitlines():
        if line.startswith((name + "{", name + " ")):
            total += float(line.rsplit(" ", 1)[1])
    return total


def read_metrics(node: Node) -> str:
    """Return the node's /metrics exposition; raise BenchError when the GET fails."""
    url = f"http://127.0.0.1:{node.http_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT) as response:
            return str(response.read().decode())
    except (urllib.error.URLError, OSError) as exc:
        raise BenchError(f"GET {url} of node {node.name} failed: {exc}") from exc


def read_counts(node: Node) -> dict[str, float]:
    """Return the node's counters of COUNTERS and its poll errors by kind, from /metrics."""
    text = read_metrics(node)
    counts = {key: sum(sum_samples(text, name) for name in names)
              for key, names in COUNTERS.items()}
    for kind, value in ERROR_KIND.findall(text):
        counts[f"error:{kind}"] = counts.get(f"error:{kind}", 0.0) + float(value)
    return counts


def _sum_counts(nodes: Sequence[Node]) -> tuple[dict[str, float], float]:
    """Read and add up every node's counts; return them with the middle time of the reads."""
    started = time.monotonic()
    total: dict[str, float] = {}
    for node in nodes:
        for name, value in read_counts(node).items():
            total[name] = total.get(name, 0.0) + value
    return total, (started + time.monotonic()) / 2


def measure_scale(nodes: Sequence[Node], others: dict[str, int], window: float,
                  cluster: bool) -> ScaleRow:
    """Count the polls of `nodes` and the CPU time of every process over `window` seconds.

    `others` maps "redis" and "responder" to their process ids. The polls are read from
    /metrics just before and just after the CPU window, so the reads' own CPU stays out of it.
    """
    row = ScaleRow(nodes=len(nodes), cluster=cluster)
    counts_before, counted_from = _sum_counts(nodes)
    pids = [node.pid for node in nodes]
    cpu_before = [read_cpu_seconds(pid) for pid in pids]
    others_before = {name: read_cpu_seconds(pid) for name, pid in others.items()}
    started = time.monotonic()
    time.sleep(window)

    row.node_cpu_seconds = [read_cpu_seconds(pid) - before
                            for pid, before in zip(pids, cpu_before, strict=True)]
    row.redis_cpu_seconds = read_cpu_seconds(others["redis"]) - others_before["redis"]
    row.responder_cpu_seconds = (read_cpu_seconds(others["responder"])
                                 - others_before["responder"])
    row.seconds = time.monotonic() - started

    counts_after, counted_to = _sum_counts(nodes)
    row.poll_seconds = counted_to - counted_from
    row.counts = {name: value - counts_before.get(name, 0.0)
                  for name, value in counts_after.items()}
    return row


# ---------------------------------------------------------------------------------------------
# Redis commands per poll


@dataclass(slots=True)
class CommandResult:
    """Redis commands over one period with every node running."""

    nodes: int
    seconds: float = 0.0
    """Length of the period by Redis's clock."""
    polls: int = 0
    """Entries added to the polls stream in the period."""
    calls: dict[str, int] = field(default_factory=dict)
    """Calls per command from INFO commandstats, commands run by scripts included."""
    counts: CommandCounts = field(default_factory=CommandCounts)

    @property
    def heartbeats(self) -> int:
        return self.counts.kinds["heartbeat script"]


def measure_commands(client: redis.Redis, port: int, keys: Keys, nodes: int,
                     seconds: float) -> CommandResult:
    """Count the Redis commands of `seconds` of steady polling, by INFO and by MONITOR."""
    feed = MonitorFeed(port, keys)
    feed.start()
    before = read_info(client)
    time.sleep(seconds)
    after = read_info(client)
    counts = feed.finish()

    return CommandResult(
        nodes=nodes, seconds=(after.server_time_ms - before.server_time_ms) / 1000,
        polls=count_polls(client, keys, before.server_time_ms, after.server_time_ms),
        calls=calls_between(before, after), counts=counts)


COMPUTED_FIGURES = ("good_polls", "polls_per_second", "daemon_cores", "polls_per_cpu_second",
                    "heartbeats", "median_seconds", "max_seconds", "incomplete")
"""Properties of the result classes that the --json file carries beside their fields."""


def as_json(value: Any) -> Any:
    """Return a result as JSON data, with its computed figures; other values as they are."""
    if not is_dataclass(value) or isinstance(value, type):
        return value
    data = asdict(value)
    if isinstance(value, CommandResult):
        # asdict() would rebuild each Counter from its (name, count) pairs as keys.
        counts = value.counts
        data["counts"] = {"sent": dict(counts.sent), "in_scripts": dict(counts.in_scripts),
                          "kinds": dict(counts.kinds)}
    for name in COMPUTED_FIGURES:
        if hasattr(value, name):
            data[name] = getattr(value, name)
    return data
