"""Alerting in cluster mode: Redis commands per notification, escalation after the leader's
SIGKILL, and CPU time per 1,000 signals next to a single node.

Every process runs on 127.0.0.1 and is started here: one redis-server, one net-snmp snmpd, one
webhook receiver (aiohttp, in a thread of this process) and `snmpd-ng run` nodes. Each of the
`--targets` targets is the same snmpd under its own name and polls one value of it every
`--interval` seconds. The bench sets that value for all targets at once, and rule `Fire<N>`
(`bench_value == N`, no `for`) fires on every target while the value is N. Each alert is its own
group, grouped by target.

1. CPU, single node: the CPU time of one node without cluster mode over a quiet window. Then
   the same over a window in which the value flips between 2 and 0 every `--flip-period` s.
2. Redis commands: with 3 nodes, INFO commandstats and a MONITOR feed from before the value is
   set to 1 until the leader has delivered one notification per target.
3. CPU, cluster: the windows of 1 on the 3 nodes, the leader and the followers apart.
4. Escalation: a policy of two tiers, the second `--tier2-after` seconds after the first. With
   the tier-1 notifications in, SIGKILL the leader `--kill-lead` seconds before the first tier 2
   is due, and time each group's tier 2 past its due time; restart the node. `--repeats` times.

    .venv/bin/python bench/cluster_alerting.py            # about 5 minutes
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import redis
from agent import free_tcp_port
from cluster import cluster_machine_facts
from cluster_alerting_measure import (
    CommandsResult,
    CpuResult,
    EscalationPlan,
    EscalationResult,
    find_leader,
    measure_commands,
    measure_cpu,
    measure_escalation,
)
from cluster_alerting_report import as_json, render_report
from cluster_measure import progress
from cluster_nodes import (
    BenchError,
    ClusterTiming,
    Node,
    Processes,
    count_log_events,
    launch_node,
    start_redis,
    wait_for_assignment,
)
from cluster_redis import MonitorError
from daemon_load import COMMUNITY_VARIABLE, LoadError
from report import load_average, save_report

from snmpd_ng.cluster.keys import Keys

# The net-snmp agent and the webhook receiver of the cluster tests; import them, do not copy.
sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))
from agents import DYNAMIC_VALUE_OID, AgentStartError, NetSnmpAgent, start_snmpd
from cluster_alerting_helpers import WEBHOOK_SECRET, WEBHOOK_SECRET_VARIABLE, HookRecorder

KEY_PREFIX = "bench"
MEASURES = ("cpu", "commands", "escalation")
CLUSTER_NODES = ("node-1", "node-2", "node-3")
VALUE_NAME = "bench_value"
"""The metric name of the agent's value that the rules compare."""


@dataclass(frozen=True, slots=True)
class AlertingOptions:
    """Sizes, durations and cluster settings of one run."""

    targets: int = 200
    interval: float = 2.0
    """Seconds between two polls of a target's value."""
    window: float = 24.0
    """Seconds of each CPU window (quiet, then flipping)."""
    flip_period: float = 4.0
    """Seconds between two changes of the value in the flipping window."""
    repeats: int = 5
    """SIGKILLs of the leader."""
    tier2_after: float = 10.0
    """Seconds from a group's tier 1 to its tier 2."""
    kill_lead: float = 1.5
    """Seconds before the first tier 2 is due that the leader is killed."""
    timing: ClusterTiming = field(default_factory=ClusterTiming)

    @property
    def cases(self) -> int:
        """Rules Fire1 ... Fire<cases>: one each for commands and CPU, one per kill."""
        return 2 + self.repeats

    @property
    def wait_timeout(self) -> float:
        """Seconds to wait for the notifications of one step: generous for a busy machine."""
        return 3 * (self.timing.lease_ttl + self.timing.heartbeat + self.interval) + 30.0


# ---------------------------------------------------------------------------------------------
# Config


def alerting_section(options: AlertingOptions, recorder: HookRecorder) -> dict[str, Any]:
    """Return the `alerting:` section: rule, route and policy per case, two webhook channels."""
    tiers = [{"receivers": ["first"], "after": "0s"},
             {"receivers": ["second"], "after": f"{options.tier2_after:g}s"}]
    cases = range(1, options.cases + 1)
    return {
        "rules": [{"name": f"Fire{case}", "expr": f"{VALUE_NAME} == {case}",
                   "severity": "critical"} for case in cases],
        # The default rate limit (1 a second, a burst of 10) would queue a burst of
        # notifications for minutes. The bench measures alerting, not the limit.
        "channels": {receiver: {"type": "webhook", "url": recorder.url(receiver),
                                "secret": {"env": WEBHOOK_SECRET_VARIABLE},
                                "rate_limit": {"rate": 10000, "burst": 10000}}
                     for receiver in ("first", "second")},
        "receivers": {receiver: {"channels": [receiver]} for receiver in ("first", "second")},
        "policies": {"single": {"tiers": tiers[:1]}, "escalation": {"tiers": tiers}},
        "grouping": {"group_by": ["target"], "group_wait": "0s", "group_interval": "1s"},
        "routes": [{"name": f"fire{case}", "matchers": [f'rule="Fire{case}"'],
                    "policy": "single" if case < 3 else "escalation"} for case in cases],
    }


def node_config(options: AlertingOptions, agent: NetSnmpAgent, recorder: HookRecorder,
                folder: Path, cluster: dict[str, Any] | None) -> dict[str, Any]:
    """Return one node's config: every target is the agent under its own name."""
    interval = f"{options.interval:g}s"
    # Below 0.8 x the interval, over which the config check warns. This agent responds at once.
    timeout = f"{min(1.0, options.interval / 2):g}s"
    value = {"oid": ".".join(str(arc) for arc in DYNAMIC_VALUE_OID), "name": VALUE_NAME,
             "type": "gauge"}
    config: dict[str, Any] = {
        "defaults": {"version": "2c", "credentials": "bench", "timeout": timeout, "retries": 0,
                     "interval": interval, "jobs": ["value"]},
        "credentials": {"bench": {"community": {"env": COMMUNITY_VARIABLE}}},
        "jobs": {"value": {"interval": interval, "scalars": [value]}},
        "targets": [{"name": name, "address": "127.0.0.1", "port": agent.port}
                    for name in target_names(options.targets)],
        "http": {"listen": [f"127.0.0.1:{free_tcp_port()}"]},
        "logging": {"level": "warning", "format": "json"},
        "state_dir": str(folder / "state"),
        "alerting": alerting_section(options, recorder),
    }
    if cluster is not None:
        config["cluster"] = cluster
    return config


def target_names(count: int) -> list[str]:
    return [f"alert{number:04d}" for number in range(count)]


# ---------------------------------------------------------------------------------------------
# The run


@dataclass(slots=True)
class AlertingResult:
    options: AlertingOptions
    machine: dict[str, str]
    command: str
    commands: CommandsResult | None = None
    cpu: CpuResult | None = None
    escalation: EscalationResult | None = None
    log_events: dict[str, int] = field(default_factory=dict)
    """Warnings and errors in the nodes' logs over the whole run, by event and error."""
    elapsed: float = 0.0
    error: str = ""


class AlertingBench:
    """The processes of one run: Redis, the agent, the webhook receiver and the nodes."""

    def __init__(self, processes: Processes, folder: Path, options: AlertingOptions) -> None:
        self.processes = processes
        self.folder = folder
        self.options = options
        self.targets = target_names(options.targets)
        self.keys = Keys(KEY_PREFIX)
        self.recorder = HookRecorder()
        self.recorder.start()
        processes.callback(self.recorder.stop)
        os.environ[WEBHOOK_SECRET_VARIABLE] = WEBHOOK_SECRET
        self.agent = _start_agent(processes, folder / "agent")
        self.set_value(0)
        self.redis = start_redis(processes, folder / "redis")
        self.client: redis.Redis = self.redis.admin()
        processes.callback(self.client.close)
        self.nodes: list[Node] = []

    def set_value(self, value: int) -> None:
        """Serve `value` to every target from the agent's next response on."""
        self.agent.set_dynamic_value(str(value))

    def start_node(self, name: str, cluster: dict[str, Any] | None) -> Node:
        folder = self.folder / name
        config = node_config(self.options, self.agent, self.recorder, folder, cluster)
        return launch_node(self.processes, Node(name, folder, config))

    def start_cluster(self) -> float:
        """Start the 3 cluster nodes; return the seconds until the targets settled."""
        timing = self.options.timing
        for name in CLUSTER_NODES:
            self.nodes.append(self.start_node(name, timing.section(name, self.redis.url,
                                                                   KEY_PREFIX)))
        for node in self.nodes:
            node.wait_until_ready()
        return wait_for_assignment(self.client, self.keys, self.targets, list(CLUSTER_NODES),
                                   self.settle_timeout)

    @property
    def settle_timeout(self) -> float:
        return 3 * self.options.timing.failover_bound(self.options.interval) + 30.0

    @property
    def settle(self) -> float:
        """Seconds for a change of the value to reach every target's rules and notifications."""
        return 2 * self.options.interval + 2.0


def _start_agent(processes: Processes, folder: Path) -> NetSnmpAgent:
    folder.mkdir(parents=True)
    try:
        agent = start_snmpd(folder)
    except AgentStartError as exc:
        raise BenchError(f"net-snmp's snmpd did not start: {exc}") from exc
    processes.callback(agent.stop)
    return agent


def run_single(bench: AlertingBench, result: AlertingResult) -> None:
    options = bench.options
    progress(f"1 node without cluster mode, {options.targets} targets ...")
    node = bench.start_node("single", None)
    try:
        node.wait_until_ready()
        time.sleep(bench.settle)
        result.cpu = CpuResult(options.flip_period, options.window)
        result.cpu.rows += measure_cpu(bench, [node], ["single node"], options.window,
                                       options.flip_period, bench.settle)
    finally:
        node.stop()


def run_cluster(bench: AlertingBench, result: AlertingResult, measures: Sequence[str]) -> None:
    options = bench.options
    settled = bench.start_cluster()
    progress(f"3 nodes in cluster mode, settled in {settled:.1f} s")
    time.sleep(bench.settle)
    if "commands" in measures:
        progress("Redis commands until every target's alert is notified ...")
        result.commands = measure_commands(bench, bench.nodes, bench.redis.port,
                                           options.wait_timeout)
    if "cpu" in measures:
        progress("CPU of the 3 nodes ...")
        leader = find_leader(bench.nodes)
        nodes = [leader, *(node for node in bench.nodes if node is not leader)]
        roles = ["leader", "follower", "follower"]
        if result.cpu is None:
            result.cpu = CpuResult(options.flip_period, options.window)
        result.cpu.rows += measure_cpu(bench, nodes, roles, options.window, options.flip_period,
                                       bench.settle)
    if "escalation" in measures:
        progress(f"{options.repeats} SIGKILLs of the leader ...")
        timing = options.timing
        plan = EscalationPlan(options.tier2_after, options.kill_lead, options.wait_timeout,
                              bench.settle_timeout)
        result.escalation = EscalationResult(timing.lease_ttl, timing.heartbeat,
                                             options.tier2_after)
        bench.set_value(0)
        time.sleep(bench.settle)
        measure_escalation(bench, bench.nodes, options.repeats, plan, result.escalation)


def run_bench(options: AlertingOptions, result: AlertingResult,
              measures: Sequence[str]) -> None:
    """Run the measures; a failure is kept in `result.error`, with what was measured before."""
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="snmpd-ng-alerting-") as folder, \
                Processes() as processes:
            # Registered first, so it runs last: after every node has stopped.
            processes.callback(_collect_log_events, Path(folder), result)
            bench = AlertingBench(processes, Path(folder), options)
            if "cpu" in measures:
                run_single(bench, result)
            run_cluster(bench, result, measures)
    except (BenchError, LoadError, MonitorError, redis.RedisError, OSError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        progress(f"failed: {result.error}")
    result.elapsed = time.monotonic() - started


def _collect_log_events(folder: Path, result: AlertingResult) -> None:
    result.log_events = count_log_events(folder)


# ---------------------------------------------------------------------------------------------
# Command line


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    defaults = AlertingOptions()
    parser = argparse.ArgumentParser(description="Measure alerting in cluster mode on "
                                     "loopback: Redis commands per notification, escalation "
                                     "after the leader's SIGKILL, CPU per 1,000 signals.")
    parser.add_argument("--targets", type=int, default=defaults.targets,
                        help="targets, each with one alert per case (default: %(default)s)")
    parser.add_argument("--interval", type=float, default=defaults.interval,
                        help="seconds between two polls of a target (default: %(default)s)")
    parser.add_argument("--window", type=float, default=defaults.window,
                        help="seconds of each CPU window (default: %(default)s)")
    parser.add_argument("--flip-period", type=float, default=defaults.flip_period,
                        help="seconds between two changes of the value in the flipping "
                        "window; at least twice the interval (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=defaults.repeats,
                        help="SIGKILLs of the leader (default: %(default)s)")
    parser.add_argument("--tier2-after", type=float, default=defaults.tier2_after,
                        help="seconds from tier 1 to tier 2 (default: %(default)s)")
    parser.add_argument("--kill-lead", type=float, default=defaults.kill_lead,
                        help="seconds before the first tier 2 is due that the leader is "
                        "killed (default: %(default)s)")
    parser.add_argument("--lease-ttl", type=float, default=defaults.timing.lease_ttl,
                        help="cluster.lease_ttl in seconds; the heartbeat is a quarter of it "
                        "(default: %(default)s)")
    parser.add_argument("--measures", type=_measures, default=",".join(MEASURES),
                        help=f"comma-separated measures, of {', '.join(MEASURES)} "
                        "(default: all)")
    parser.add_argument("--output", type=Path, help="also write the Markdown report here")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    return parser.parse_args(argv)


def _measures(text: str) -> str:
    unknown = sorted(set(text.split(",")) - set(MEASURES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown measure {', '.join(unknown)}: use "
                                         f"{', '.join(MEASURES)}")
    return text


def build_options(arguments: argparse.Namespace) -> AlertingOptions:
    timing = replace(ClusterTiming(), lease_ttl=arguments.lease_ttl,
                     heartbeat=arguments.lease_ttl / 4)
    options = AlertingOptions(targets=arguments.targets, interval=arguments.interval,
                              window=arguments.window, flip_period=arguments.flip_period,
                              repeats=arguments.repeats, tier2_after=arguments.tier2_after,
                              kill_lead=arguments.kill_lead, timing=timing)
    if options.flip_period < 2 * options.interval:
        raise SystemExit(f"--flip-period {options.flip_period:g} is shorter than twice the "
                         f"interval ({2 * options.interval:g} s), so some targets would miss "
                         "a flip; raise it or lower --interval")
    return options


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    options = build_options(arguments)
    command = " ".join(["bench/cluster_alerting.py", *(sys.argv[1:] if argv is None else argv)])
    result = AlertingResult(options, cluster_machine_facts(), command)

    try:
        run_bench(options, result, arguments.measures.split(","))
    except KeyboardInterrupt:
        progress("interrupted; the processes it started are stopped")
        sys.exit(130)
    result.machine["load average at end"] = load_average()
    markdown = render_report(result)
    print(markdown)
    raw = {"options": asdict(options), "machine": result.machine, "command": command,
           "elapsed": result.elapsed, "error": result.error,
           "commands": as_json(result.commands), "cpu": as_json(result.cpu),
           "escalation": as_json(result.escalation), "log_events": result.log_events}
    save_report(markdown, raw, arguments.output, arguments.json)
    if result.error:
        sys.exit(1)


if __name__ == "__main__":
    main()
