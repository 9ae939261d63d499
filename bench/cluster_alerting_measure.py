"""The measures of bench/cluster_alerting.py: Redis commands per notification, the delay of
escalation steps after the leader's SIGKILL, and the CPU time of alerting per signal.

Each measure takes the running processes of an `AlertingBench` (bench/cluster_alerting.py) and
returns a result dataclass. Every target polls one value of the net-snmp agent, which the bench
sets for all of them at once. Rule `Fire<N>` fires on every target while the value is N.
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import redis
from cluster_alerting_redis import PartCounts, PartFeed
from cluster_measure import progress
from cluster_nodes import BenchError, Node, wait_for_assignment
from cluster_redis import calls_between, read_info
from daemon_load import read_cpu_seconds

from snmpd_ng.cluster.keys import Keys

if TYPE_CHECKING:
    # tests/cluster_alerting_helpers.py, on the path that cluster_nodes adds.
    from cluster_alerting_helpers import Delivery, HookRecorder

HTTP_TIMEOUT = 30.0
"""Seconds one GET of /metrics or /cluster may take on a busy node."""
CHECK_PERIOD = 0.1
"""Seconds between two checks while waiting for notifications."""
COMMANDS_CASE = 1
CPU_CASE = 2
FIRST_FAILOVER_CASE = 3
"""Rule Fire<N> of each measure; the failovers take one case each from this one on."""


class BenchSetup(Protocol):
    """The parts of the running bench (bench/cluster_alerting.py) that the measures use."""

    client: redis.Redis
    keys: Keys
    recorder: HookRecorder
    targets: list[str]

    def set_value(self, value: int) -> None: ...


# ---------------------------------------------------------------------------------------------
# Reading the nodes


def fetch_text(node: Node, path: str) -> str:
    url = f"http://127.0.0.1:{node.http_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as response:
            return str(response.read().decode())
    except (urllib.error.URLError, OSError) as exc:
        raise BenchError(f"GET {url} of node {node.name} failed: {exc}") from exc


def metric_sum(exposition: str, name: str, label: str = "") -> float:
    """Sum the samples of `name` in a Prometheus text exposition whose labels contain `label`
    (such as 'result="delivered"'); every sample of `name` when `label` is empty."""
    total = 0.0
    for line in exposition.splitlines():
        if line.startswith((name + "{", name + " ")) and label in line.split(" ", 1)[0]:
            total += float(line.rsplit(" ", 1)[1])
    return total


SIGNALS_TAKEN = ("snmpd_ng_alert_signals_total", "")
"""Signals the alert service took: on a single node, or on the cluster's leader."""
SIGNALS_PUBLISHED = ("snmpd_ng_cluster_signals_sent_total", 'result="published"')
"""Signals a cluster node's rules sent to the stream."""
DELIVERED = ("snmpd_ng_alert_notifications_total", 'result="delivered"')


def read_counter(node: Node, counter: tuple[str, str]) -> float:
    return metric_sum(fetch_text(node, "/metrics"), *counter)


def find_leader(nodes: Sequence[Node]) -> Node:
    """Return the node that a live node's GET /cluster names as the leader."""
    for node in nodes:
        if node.process is None:
            continue
        leader = json.loads(fetch_text(node, "/cluster")).get("leader")
        for candidate in nodes:
            if candidate.name == leader and candidate.process is not None:
                return candidate
    raise BenchError("no live node names a live leader in GET /cluster")


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Wait until `condition()` holds; return the seconds waited, or raise BenchError."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(CHECK_PERIOD)
    return time.monotonic() - started


def firing(recorder: HookRecorder, case: int, tier: int) -> list[Delivery]:
    """Return the `firing` notifications of rule Fire<case> of `tier`, oldest first."""
    return [item for item in recorder.deliveries(f"fire{case}")
            if item.event == "firing" and item.tier == tier]


def wait_for_groups(recorder: HookRecorder, case: int, tier: int, groups: int,
                    timeout: float) -> dict[str, float]:
    """Wait until `groups` groups of Fire<case> got `tier`; return group key -> first arrival."""
    def arrived() -> bool:
        return len({item.group_key for item in firing(recorder, case, tier)}) >= groups

    wait_until(arrived, timeout, f"tier {tier} of {groups} groups of rule Fire{case}")
    arrivals: dict[str, float] = {}
    for item in firing(recorder, case, tier):
        arrivals.setdefault(item.group_key, item.arrived)
    return arrivals


# ---------------------------------------------------------------------------------------------
# Redis commands per notification


@dataclass(slots=True)
class CommandsResult:
    """Redis commands from before the alerts fired until every notification was delivered."""

    seconds: float = 0.0
    """Length of the period by Redis's clock."""
    notifications: int = 0
    """Notifications the webhook receiver got in the period."""
    delivered: float = 0.0
    """Increase of the leader's delivered notifications counter in the period."""
    signals: float = 0.0
    """Signals the nodes published to the stream in the period."""
    calls: dict[str, int] = field(default_factory=dict)
    """Calls per command from INFO commandstats, commands that scripts ran included."""
    parts: PartCounts = field(default_factory=PartCounts)


def measure_commands(bench: BenchSetup, nodes: Sequence[Node], port: int,
                     timeout: float) -> CommandsResult:
    """Fire one alert per target and count the Redis commands until all are notified."""
    leader = find_leader(nodes)
    delivered_before = read_counter(leader, DELIVERED)
    published_before = sum(read_counter(node, SIGNALS_PUBLISHED) for node in nodes)
    targets = len(bench.targets)

    feed = PartFeed(port, bench.keys)
    feed.start()
    before = read_info(bench.client)
    bench.set_value(COMMANDS_CASE)
    wait_for_groups(bench.recorder, COMMANDS_CASE, 1, targets, timeout)
    # The outcome of the last send is written after the receiver replied.
    wait_until(lambda: read_counter(leader, DELIVERED) - delivered_before >= targets, timeout,
               f"{targets} delivered notifications on the leader {leader.name}")
    after = read_info(bench.client)
    feed.finish()

    return CommandsResult(
        seconds=(after.server_time_ms - before.server_time_ms) / 1000,
        notifications=len(firing(bench.recorder, COMMANDS_CASE, 1)),
        delivered=read_counter(leader, DELIVERED) - delivered_before,
        signals=sum(read_counter(node, SIGNALS_PUBLISHED) for node in nodes) - published_before,
        calls=calls_between(before, after), parts=feed.parts)


# ---------------------------------------------------------------------------------------------
# Escalation after the leader's SIGKILL


@dataclass(slots=True)
class EscalationFailover:
    """Record of one SIGKILL of the leader before the tier-2 steps of every group were due."""

    leader: str
    groups: int
    kill_before_due: float
    """Seconds from the kill to the first tier-2 due time."""
    delays: list[float] = field(default_factory=list)
    """Per group: seconds from its tier-2 due time (its tier-1 arrival + the tier's `after`) to
    the arrival of its tier-2 notification."""
    first_after_kill: float = 0.0
    """Seconds from the kill to the first tier-2 notification: the takeover of the alert
    service."""
    duplicates: int = 0
    """Tier-1 and tier-2 notifications that a group got more than once."""
    rejoin_seconds: float = 0.0


@dataclass(slots=True)
class EscalationResult:
    lease_ttl: float
    heartbeat: float
    tier2_after: float
    repeats: list[EscalationFailover] = field(default_factory=list)

    @property
    def bound(self) -> float:
        """lease_ttl + heartbeat_interval: the longest wait for a new leader."""
        return self.lease_ttl + self.heartbeat

    @property
    def all_delays(self) -> list[float]:
        return [delay for repeat in self.repeats for delay in repeat.delays]

    @property
    def median_delay(self) -> float | None:
        return statistics.median(self.all_delays) if self.all_delays else None

    @property
    def max_delay(self) -> float | None:
        return max(self.all_delays) if self.all_delays else None


@dataclass(frozen=True, slots=True)
class EscalationPlan:
    tier2_after: float
    kill_lead: float
    """Seconds before the first tier-2 due time that the leader is killed."""
    timeout: float
    settle_timeout: float


def fail_leader(bench: BenchSetup, nodes: Sequence[Node], case: int,
                plan: EscalationPlan) -> EscalationFailover:
    """Fire rule Fire<case>, kill the leader before tier 2 is due, and time the tier-2 sends."""
    groups = len(bench.targets)
    bench.set_value(case)
    first = wait_for_groups(bench.recorder, case, 1, groups, plan.timeout)
    due = {key: arrived + plan.tier2_after for key, arrived in first.items()}

    leader = find_leader(nodes)
    kill_at = min(due.values()) - plan.kill_lead
    time.sleep(max(0.0, kill_at - time.time()))
    killed = time.time()
    leader.kill()
    second = wait_for_groups(bench.recorder, case, 2, groups, plan.timeout)

    result = EscalationFailover(leader=leader.name, groups=groups,
                                kill_before_due=min(due.values()) - killed,
                                delays=[second[key] - due[key] for key in sorted(due)],
                                first_after_kill=min(second.values()) - killed)
    result.duplicates = _duplicates(bench.recorder, case)

    restarted = time.monotonic()
    leader.start()
    wait_for_assignment(bench.client, bench.keys, bench.targets, [node.name for node in nodes],
                        plan.settle_timeout)
    result.rejoin_seconds = time.monotonic() - restarted
    return result


def _duplicates(recorder: HookRecorder, case: int) -> int:
    counts = Counter((item.group_key, item.tier) for item in recorder.deliveries(f"fire{case}")
                     if item.event == "firing")
    return sum(count - 1 for count in counts.values())


def measure_escalation(bench: BenchSetup, nodes: Sequence[Node], repeats: int,
                       plan: EscalationPlan, result: EscalationResult) -> None:
    """Kill the leader `repeats` times, each time with new alerts (rule Fire<case>)."""
    for repeat in range(repeats):
        failover = fail_leader(bench, nodes, FIRST_FAILOVER_CASE + repeat, plan)
        result.repeats.append(failover)
        progress(f"leader kill {repeat + 1}/{repeats}: {failover.leader}, tier 2 late by "
                 f"{statistics.median(failover.delays):.1f} s (median) to "
                 f"{max(failover.delays):.1f} s, first tier 2 {failover.first_after_kill:.1f} s "
                 f"after the kill, {failover.duplicates} duplicates")


# ---------------------------------------------------------------------------------------------
# CPU time per signal


@dataclass(slots=True)
class CpuRow:
    """CPU time of one node over a quiet window and over a window in which alerts flip."""

    role: str
    """"single node", "leader" or "follower"."""
    node: str
    quiet_cpu: float = 0.0
    flipping_cpu: float = 0.0
    quiet_seconds: float = 0.0
    flipping_seconds: float = 0.0
    published: float = 0.0
    """Signals this node's rules sent to the stream during the flipping window (cluster)."""
    taken: float = 0.0
    """Signals this node's alert service took during the flipping window."""
    quiet_signals: float = 0.0
    """Signals of either kind during the quiet window; 0 unless something else fired."""

    @property
    def extra_cpu(self) -> float:
        """CPU seconds that the flips added, with the quiet window's rate as the baseline."""
        if not self.quiet_seconds:
            return 0.0
        return self.flipping_cpu - self.quiet_cpu * self.flipping_seconds / self.quiet_seconds

    @property
    def signals(self) -> float:
        """The signals this node's CPU is divided by: those its alert service took on a single
        node and on the leader, those it published on a follower."""
        return self.published if self.role == "follower" else self.taken

    @property
    def cpu_per_thousand(self) -> float | None:
        return 1000 * self.extra_cpu / self.signals if self.signals else None


@dataclass(slots=True)
class CpuResult:
    flip_period: float
    window: float
    rows: list[CpuRow] = field(default_factory=list)


def _window(bench: BenchSetup, nodes: Sequence[Node], window: float, flip_period: float,
            flipping: bool) -> tuple[list[float], float, list[tuple[float, float]]]:
    """Run one window; return each node's CPU seconds, the window's length, and each node's
    signals (published, taken) counted from just before to just after it."""
    signals_before = [(read_counter(node, SIGNALS_PUBLISHED), read_counter(node, SIGNALS_TAKEN))
                      for node in nodes]
    cpu_before = [read_cpu_seconds(node.pid) for node in nodes]
    started = time.monotonic()
    if flipping:
        _flip(bench, window, flip_period, started)
    else:
        time.sleep(window)
    cpu = [read_cpu_seconds(node.pid) - before for node, before in zip(nodes, cpu_before,
                                                                        strict=True)]
    seconds = time.monotonic() - started
    signals = [(read_counter(node, SIGNALS_PUBLISHED) - published,
                read_counter(node, SIGNALS_TAKEN) - taken)
               for node, (published, taken) in zip(nodes, signals_before, strict=True)]
    return cpu, seconds, signals


def _flip(bench: BenchSetup, window: float, flip_period: float, started: float) -> None:
    """Set the value to CPU_CASE and back to 0 every `flip_period` seconds, so each target's
    alert fires and resolves. The last flip (back to 0) leaves one period for its signals."""
    flips = int(window // flip_period) - 1
    flips -= flips % 2
    for number in range(flips):
        bench.set_value(CPU_CASE if number % 2 == 0 else 0)
        time.sleep(max(0.0, started + (number + 1) * flip_period - time.monotonic()))
    time.sleep(max(0.0, started + window - time.monotonic()))


def measure_cpu(bench: BenchSetup, nodes: Sequence[Node], roles: Sequence[str],
                window: float, flip_period: float, settle: float) -> list[CpuRow]:
    """Measure each node's CPU over a quiet window and over one of flipping alerts.

    The value is set to 0 `settle` seconds before the quiet window, so that the alerts of an
    earlier measure have resolved and been notified by then.
    """
    bench.set_value(0)
    time.sleep(settle)
    quiet_cpu, quiet_seconds, quiet_signals = _window(bench, nodes, window, flip_period, False)
    cpu, seconds, signals = _window(bench, nodes, window, flip_period, True)
    return [CpuRow(role=role, node=node.name, quiet_cpu=quiet, flipping_cpu=flipping,
                   quiet_seconds=quiet_seconds, flipping_seconds=seconds,
                   published=published, taken=taken, quiet_signals=sum(quiet_pair))
            for role, node, quiet, flipping, (published, taken), quiet_pair
            in zip(roles, nodes, quiet_cpu, cpu, signals, quiet_signals, strict=True)]
