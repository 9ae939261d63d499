"""Cluster mode benchmark: scale-out over 1 to 3 nodes, Redis commands per poll, failover time.

One Redis server, bench/responder.py (one loopback UDP port per simulated agent) and `snmpd-ng
run` nodes, all started here on 127.0.0.1 and stopped at the end, also on an error or Ctrl-C.

1. Scale-out: one node without cluster mode, then 1, 2 and 3 nodes in cluster mode, each
   polling the same targets. Per row: polls per second, from the nodes' /metrics, and the CPU
   time of the nodes, Redis and the responder over the window, from /proc/PID/stat.
2. Redis commands: INFO commandstats before and after a period with 3 nodes, and a MONITOR feed
   over the same period that separates the commands the nodes sent from those their scripts
   ran, per poll recorded.
3. Failover: with 3 nodes, SIGKILL one, and time until each of its targets has a poll started
   by another node, from the `polls` stream; restart it and wait until it holds its share
   again.

    .venv/bin/python bench/cluster.py                 # about 7 minutes
    .venv/bin/python bench/cluster.py --quick         # under a minute, rough figures
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import redis
from cluster_failover import FailoverResult, measure_failovers
from cluster_measure import (
    BenchOptions,
    CommandResult,
    ScaleRow,
    as_json,
    measure_commands,
    measure_scale,
    progress,
)
from cluster_nodes import (
    IDLE_CAPACITY,
    BenchError,
    ClusterTiming,
    Node,
    Processes,
    count_log_events,
    launch_node,
    node_config,
    start_redis,
    start_responder,
    target_names,
    wait_for_assignment,
)
from cluster_redis import MonitorError
from cluster_report import render_report
from daemon_load import LoadError, LoadOptions, Responder
from report import load_average, machine_facts, save_report

from snmpd_ng.cluster.keys import Keys

KEY_PREFIX = "bench"
MEASURES = ("scale", "idle", "commands", "failover")
QUICK_MEASURES = ("scale", "commands", "failover")
"""The quick mode leaves out the idle member to stay under a minute."""

CLUSTER_NODES = 3
"""Nodes of the command count and the failovers, and of the last scale-out row."""
QUICK = BenchOptions(targets=200, interval=2.0, warm_up=0.5, window=2.0, command_window=1.5,
                     repeats=3, node_counts=(1, 3),
                     timing=ClusterTiming(lease_ttl=3.0, heartbeat=0.75, lease_margin=0.5))
"""Rough figures in under a minute: few targets, short leases, no row for 2 nodes."""


@dataclass(slots=True)
class BenchResult:
    options: BenchOptions
    machine: dict[str, str]
    command: str
    scale: list[ScaleRow] = field(default_factory=list)
    idle: ScaleRow | None = None
    """A fourth member that holds no lease, next to the 3 nodes."""
    commands: CommandResult | None = None
    failover: FailoverResult | None = None
    log_events: dict[str, int] = field(default_factory=dict)
    """Warnings and errors in the nodes' logs over the whole run, by event and error."""
    elapsed: float = 0.0
    error: str = ""


class Bench:
    """The processes of one run, shared by the three measures."""

    def __init__(self, processes: Processes, folder: Path, options: BenchOptions) -> None:
        self.processes = processes
        self.folder = folder
        self.options = options
        self.load = LoadOptions(targets=options.targets, interval=options.interval,
                                interfaces=options.interfaces)
        self.targets = target_names(options.targets)
        self.keys = Keys(KEY_PREFIX)
        self.redis = start_redis(processes, folder / "redis")
        self.client: redis.Redis = self.redis.admin()
        processes.callback(self.client.close)
        self.responder: Responder = start_responder(processes, options.targets,
                                                    options.interfaces)
        self.nodes: list[Node] = []

    def others(self) -> dict[str, int]:
        assert self.redis.process is not None
        return {"redis": self.redis.process.pid, "responder": self.responder.process.pid}

    def start_node(self, name: str, cluster: dict[str, Any] | None) -> Node:
        """Start a node named `name`, in cluster mode when `cluster` (the config's section) is
        given."""
        folder = self.folder / name
        config = node_config(self.responder, self.load, folder, cluster,
                             self.options.max_concurrent_polls, self.options.log_level)
        return launch_node(self.processes, Node(name, folder, config,
                                                self.options.daemon_command))

    def standalone_row(self) -> ScaleRow:
        """Measure one node without cluster mode, then stop it."""
        node = self.start_node("standalone", None)
        try:
            node.wait_until_ready()
            time.sleep(self.options.warm_up)
            return measure_scale([node], self.others(), self.options.window, cluster=False)
        finally:
            node.stop()

    def add_nodes(self, count: int) -> float:
        """Start `count` more cluster nodes at once; return the seconds until the targets
        settled on all the nodes."""
        started = []
        for _ in range(count):
            name = f"node-{len(self.nodes) + 1}"
            section = self.options.timing.section(name, self.redis.url, KEY_PREFIX)
            started.append(self.start_node(name, section))
            self.nodes.append(started[-1])
        for node in started:
            node.wait_until_ready()
        return wait_for_assignment(self.client, self.keys, self.targets,
                                   [node.name for node in self.nodes],
                                   self.options.settle_timeout)

    def cluster_row(self) -> ScaleRow:
        time.sleep(self.options.warm_up)
        return measure_scale(self.nodes, self.others(), self.options.window, cluster=True)

    def idle_row(self) -> ScaleRow:
        """Measure a member that the assignment gives no target, then stop it.

        Its CPU is what every node pays whatever its share: heartbeats, the status read and
        a schedule for every target of the config, whose slots it skips.
        """
        section = self.options.timing.section("idle", self.redis.url, KEY_PREFIX)
        section["capacity"] = IDLE_CAPACITY
        node = self.start_node("idle", section)
        try:
            node.wait_until_ready()
            time.sleep(self.options.timing.join_delay_seconds() + self.options.warm_up)
            return measure_scale([node], self.others(), self.options.window, cluster=True)
        finally:
            node.stop()


def run_measures(bench: Bench, result: BenchResult, measures: Sequence[str]) -> None:
    """Run the `measures` named (of MEASURES); the nodes start in any case."""
    options = bench.options
    scale = "scale" in measures
    if scale:
        progress(f"1 node without cluster mode, {options.targets} targets every "
                 f"{options.interval:g} s ...")
        result.scale.append(bench.standalone_row())
    for count in sorted({*options.node_counts, CLUSTER_NODES}):
        settled = bench.add_nodes(count - len(bench.nodes))
        progress(f"{count} of {CLUSTER_NODES} nodes in cluster mode, settled in "
                 f"{settled:.1f} s")
        if scale and count in options.node_counts:
            result.scale.append(bench.cluster_row())
    if "idle" in measures:
        progress("a fourth member that holds no lease ...")
        result.idle = bench.idle_row()

    if "commands" in measures:
        progress(f"Redis commands over {options.command_window:g} s ...")
        result.commands = measure_commands(bench.client, bench.redis.port, bench.keys,
                                           len(bench.nodes), options.command_window)
    if "failover" in measures:
        progress(f"{options.repeats} failovers ...")
        result.failover = measure_failovers(bench.client, bench.keys, bench.nodes,
                                            bench.targets, options)


def run_bench(options: BenchOptions, result: BenchResult, measures: Sequence[str],
              keep: Path | None = None) -> None:
    """Run every measure; a failure is kept in `result.error`, with what was measured before.

    The processes' folders (configs, logs, Redis data) go to `keep` when given, and are kept;
    otherwise to a temporary folder that is removed at the end.
    """
    started = time.monotonic()
    try:
        with _run_folder(keep) as folder, Processes() as processes:
            # Registered first, so it runs last: after every node has stopped.
            processes.callback(_collect_log_events, Path(folder), result)
            run_measures(Bench(processes, Path(folder), options), result, measures)
    except (BenchError, LoadError, MonitorError, redis.RedisError, OSError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        progress(f"failed: {result.error}")
    result.elapsed = time.monotonic() - started


def _run_folder(keep: Path | None) -> AbstractContextManager[str]:
    if keep is None:
        return tempfile.TemporaryDirectory(prefix="snmpd-ng-cluster-")
    keep.mkdir(parents=True, exist_ok=True)
    return nullcontext(str(keep))


def _collect_log_events(folder: Path, result: BenchResult) -> None:
    result.log_events = count_log_events(folder)


# ---------------------------------------------------------------------------------------------
# Machine and command line


def cluster_machine_facts() -> dict[str, str]:
    """Describe the machine and the versions that the cluster figures depend on."""
    facts = machine_facts()
    relevant = ("date", "cpu", "cores", "kernel", "python", "load average at start", "snmpd-ng",
            "uvloop")
    selected = {key: facts[key] for key in relevant if key in facts}
    selected["RAM"] = _memory_total()
    selected["redis-server"] = _redis_server_version()
    selected["redis-py"] = metadata.version("redis")
    return selected


def _memory_total() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    return "unknown"


def _redis_server_version() -> str:
    try:
        completed = subprocess.run(["redis-server", "--version"], capture_output=True,
                                   text=True, check=False)
    except OSError:
        return "not installed"
    # "Redis server v=7.0.15 sha=... malloc=... bits=64 build=..."
    for word in completed.stdout.split():
        if word.startswith("v="):
            return word[2:]
    return completed.stdout.strip() or "unknown"


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    defaults = BenchOptions()
    parser = argparse.ArgumentParser(description="Measure cluster mode on loopback: polls per "
                                     "second of 1 to 3 nodes, Redis commands per poll and "
                                     "failover time.")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK.targets} targets every {QUICK.interval:g} s, short "
                        f"windows, {QUICK.repeats} failovers and lease_ttl "
                        f"{QUICK.timing.lease_ttl:g} s; rough figures in under a minute")

    parser.add_argument("--targets", type=int, help=f"simulated agents (default: "
                        f"{defaults.targets}, quick: {QUICK.targets})")
    parser.add_argument("--interval", type=float, help=f"seconds between polls of one job "
                        f"(default: {defaults.interval:g}, quick: {QUICK.interval:g})")
    parser.add_argument("--window", type=float, help=f"seconds measured per scale-out row "
                        f"(default: {defaults.window:g}, quick: {QUICK.window:g})")
    parser.add_argument("--warm-up", type=float, help="seconds of polling after the targets "
                        f"settled, before a window (default: {defaults.warm_up:g}, quick: "
                        f"{QUICK.warm_up:g})")
    parser.add_argument("--command-window", type=float, help="seconds over which Redis "
                        f"commands are counted (default: {defaults.command_window:g}, quick: "
                        f"{QUICK.command_window:g})")
    parser.add_argument("--repeats", type=int, help=f"failovers (default: {defaults.repeats}, "
                        f"quick: {QUICK.repeats})")
    parser.add_argument("--lease-ttl", type=float, help="cluster.lease_ttl in seconds; the "
                        "heartbeat is a quarter of it (default: "
                        f"{defaults.timing.lease_ttl:g}, quick: {QUICK.timing.lease_ttl:g})")

    parser.add_argument("--max-concurrent-polls", type=int,
                        help="scheduler.max_concurrent_polls of every node (default: the "
                        "daemon's, 256)")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                        help="logging.level of every node (default: warning); with --keep, "
                        "info shows what each node did at a failover")
    parser.add_argument("--measures", type=_measures,
                        help=f"comma-separated measures to run, of {', '.join(MEASURES)} "
                        f"(default: all; quick: {', '.join(QUICK_MEASURES)})")

    parser.add_argument("--keep", type=Path, metavar="FOLDER",
                        help="run the processes in FOLDER and keep their configs, logs and "
                        "Redis data there (default: a temporary folder, removed at the end)")
    parser.add_argument("--output", type=Path, help="also write the Markdown report here")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    return parser.parse_args(argv)


def _measures(text: str) -> str:
    unknown = sorted(set(text.split(",")) - set(MEASURES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown measure {', '.join(unknown)}: use "
                                         f"{', '.join(MEASURES)}")
    return text


def _selected_measures(arguments: argparse.Namespace) -> list[str]:
    if arguments.measures:
        return list(arguments.measures.split(","))
    return list(QUICK_MEASURES if arguments.quick else MEASURES)


def build_options(arguments: argparse.Namespace) -> BenchOptions:
    options = QUICK if arguments.quick else BenchOptions()
    changes: dict[str, Any] = {}
    for name in ("targets", "interval", "window", "warm_up", "command_window", "repeats",
                 "max_concurrent_polls", "log_level"):
        value = getattr(arguments, name)
        if value is not None:
            changes[name] = value
    if arguments.lease_ttl is not None:
        changes["timing"] = replace(options.timing, lease_ttl=arguments.lease_ttl,
                                    heartbeat=arguments.lease_ttl / 4)
    return replace(options, **changes)


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    options = build_options(arguments)
    command = " ".join(["bench/cluster.py", *(sys.argv[1:] if argv is None else argv)])
    result = BenchResult(options, cluster_machine_facts(), command)

    try:
        run_bench(options, result, _selected_measures(arguments), arguments.keep)
    except KeyboardInterrupt:
        progress("interrupted; the processes it started are stopped")
        sys.exit(130)
    result.machine["load average at end"] = load_average()
    markdown = render_report(result)
    print(markdown)
    raw = {"options": asdict(options), "machine": result.machine, "command": command,
           "elapsed": result.elapsed, "error": result.error,
           "scale": [as_json(row) for row in result.scale], "idle": as_json(result.idle),
           "commands": as_json(result.commands),
           "failover": as_json(result.failover), "log_events": result.log_events}
    save_report(markdown, raw, arguments.output, arguments.json)
    if result.error:
        sys.exit(1)


if __name__ == "__main__":
    main()
