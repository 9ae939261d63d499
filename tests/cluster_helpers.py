"""Run several `snmpd-ng run` processes as one cluster on loopback, and check what they polled.

The nodes are real subprocesses that share one YAML config (apart from the node id, the HTTP
port and the state directory) and one Redis. The tests read what the nodes did in three places:

- Redis: the `polls` stream of committed polls, the target leases and the `events` stream;
- each node's /metrics, /readyz and /cluster;
- the agents: net-snmp's snmpInPkts counter, and the arrival times a `SilentAgent` records.

`check_poll_log` states the polling guarantee of cluster mode as two invariants over the poll
log, and every test of tests/test_cluster_daemons.py applies it to the polls of its own time.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import redis
from agents import PUBLIC_COMMUNITY, NetSnmpAgent
from daemon_helpers import HttpReply, fetch, free_tcp_port
from prometheus_client.parser import text_string_to_metric_families

from snmpd_ng.cluster.assignment import owner

LOOPBACK = "127.0.0.1"
KEY_PREFIX = "daemons"
"""The cluster's key prefix in Redis (`cluster.redis.key_prefix`)."""
COMMUNITY_VARIABLE = "SNMPD_NG_CLUSTER_TEST_COMMUNITY"
"""The environment variable the config reads the community from, so that no log shows it."""
SNMP_IN_PKTS_OID = ".1.3.6.1.2.1.11.1.0"
"""SNMPv2-MIB snmpInPkts.0: messages the agent received, the agent's own count of requests."""

PROCESS_STOP_TIMEOUT = 10.0
"""Seconds a node may take to stop after SIGTERM before it is killed."""
HTTP_TIMEOUT = 2.0
POLL_STEP = 0.1
"""Seconds between two checks while waiting for a condition."""


@dataclass(frozen=True)
class Timing:
    """The cluster and job timing of the tests, in seconds, short so that failovers are quick."""

    lease_ttl: float = 3.0
    heartbeat: float = 0.75
    join_delay: float = 1.5
    lease_margin: float = 0.5
    interval: float = 2.0

    @property
    def failover_bound(self) -> float:
        """The documented bound: a dead node's targets are polled again within this time.

        The lease TTL, one heartbeat and one run (the capped budget and its grace), or one
        interval when longer (ClusterSettings.failover_bound_seconds).
        """
        longest_run = self.max_budget + min(1.0, 0.1 * self.max_budget)
        return max(self.interval, self.lease_ttl + self.heartbeat + longest_run)

    @property
    def max_budget(self) -> float:
        """The poll budget cluster mode caps every poll to (see ClusterRuntime.max_budget)."""
        return self.lease_ttl - self.heartbeat - self.lease_margin - 1.0


@dataclass(frozen=True)
class TargetSpec:
    name: str
    port: int
    timeout: float = 0.5


def spread_targets(count: int, agents: Sequence[NetSnmpAgent],
                   silent: Mapping[str, SilentAgent]) -> list[TargetSpec]:
    """Name `count` targets t00, t01, ... on the agents' ports, round robin, and add one target
    per silent agent, named by the key of `silent`, whose polls last the whole budget."""
    targets = [TargetSpec(f"t{number:02d}", agents[number % len(agents)].port)
               for number in range(count)]
    # A timeout longer than the capped budget (but below 0.8 x the interval, so that the config
    # raises no warning): each poll of a silent target lasts the whole budget.
    targets += [TargetSpec(name, agent.port, timeout=1.5) for name, agent in silent.items()]
    return targets


def silent_target_names(node_ids: Sequence[str]) -> list[str]:
    """Return one target name per node, the first of s00, s01, ... that the assignment gives
    that node when all of `node_ids` are eligible.

    So each node polls one silent target, and a pause can catch any node in the middle of a poll.
    """
    nodes = [(node_id, 1.0) for node_id in node_ids]
    names: dict[str, str] = {}
    number = 0
    while len(names) < len(node_ids):
        name = f"s{number:02d}"
        chosen = owner(name, nodes)
        assert chosen is not None
        names.setdefault(chosen, name)
        number += 1
    return [names[node_id] for node_id in node_ids]


def render_config(*, node_id: str, http_port: int, state_dir: Path, targets: Sequence[TargetSpec],
                  redis_section: dict[str, Any], timing: Timing,
                  overrides: Mapping[str, Any] | None = None) -> str:
    """Return the YAML config of one node; only node_id, http and state_dir differ between nodes.

    Each key of `overrides` replaces or adds that top-level section, such as `jobs` or
    `alerting`. The file is written as JSON, which YAML reads as it is.
    """
    config = {
        "credentials": {"pub": {"community": {"env": COMMUNITY_VARIABLE}}},
        "defaults": {"credentials": "pub", "timeout": "500ms", "retries": 0, "jobs": ["system"]},
        "jobs": {"system": {"interval": f"{timing.interval}s",
                            "scalars": ["sysUpTime", "sysName"]}},
        "targets": [{"name": target.name, "address": LOOPBACK, "port": target.port,
                     "timeout": f"{target.timeout}s"} for target in targets],
        "http": {"listen": [f"{LOOPBACK}:{http_port}"]},
        "state_dir": str(state_dir),
        "cluster": {
            "node_id": node_id,
            "advertise_url": f"http://{LOOPBACK}:{http_port}",
            "lease_ttl": f"{timing.lease_ttl}s",
            "heartbeat_interval": f"{timing.heartbeat}s",
            "join_delay": f"{timing.join_delay}s",
            "lease_margin": f"{timing.lease_margin}s",
            "redis": {**redis_section, "key_prefix": KEY_PREFIX},
        },
    }
    config.update(overrides or {})
    return json.dumps(config, indent=2) + "\n"


class SilentAgent:
    """A UDP socket on loopback that receives requests, records their arrival times, and never
    responds.

    It stands in for an unreachable agent. Every poll of its target lasts the whole poll budget,
    so a node paused just after a request arrived is caught in the middle of a poll.
    """

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((LOOPBACK, 0))
        self._socket.settimeout(0.2)
        self.port: int = self._socket.getsockname()[1]
        self._arrivals: list[float] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._receive, name=f"silent agent {self.port}",
                                        daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stopped.is_set():
            try:
                self._socket.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._arrivals.append(time.time())

    def arrivals(self) -> list[float]:
        """Unix times of the requests received so far."""
        with self._lock:
            return list(self._arrivals)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(2.0)
        self._socket.close()


def snmp_in_packets(agent: NetSnmpAgent) -> int:
    """Read the agent's snmpInPkts with net-snmp's snmpget; the request itself counts too."""
    returncode, stdout, stderr = agent.run_netsnmp(
        "snmpget", "-v2c", "-c", agent.public_community, "-On", "-Oqv", SNMP_IN_PKTS_OID)
    if returncode != 0:
        raise AssertionError(f"snmpget of snmpInPkts failed: {stderr.strip()}")
    return int(stdout.strip())


# Nodes


@dataclass
class NodeProcess:
    """One `snmpd-ng run` subprocess. Its log (JSON lines) collects every start in one file."""

    node_id: str
    config_path: Path
    http_port: int
    log_path: Path
    environ: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    paused: bool = False
    starts: int = 0
    should_run: bool = False
    """False once the test stopped the node; a node that exits while True has crashed."""

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.http_port}"

    @property
    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        command = [str(Path(sys.executable).with_name("snmpd-ng")), "run", "--config",
                   str(self.config_path), "--log-format", "json", "--log-level", "info"]
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(command, env={**os.environ, **self.environ},
                                            stdin=subprocess.DEVNULL, stdout=log_file,
                                            stderr=subprocess.STDOUT)
        self.paused = False
        self.should_run = True
        self.starts += 1

    def check_alive(self) -> None:
        """Raise AssertionError with the log's last lines if the node exited on its own."""
        if self.should_run and self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"{self.node_id} exited with status {self.process.returncode}:"
                                 f"\n{self.log_tail()}")

    def kill(self) -> None:
        """Stop the node with SIGKILL, as a crash would: it leaves nothing behind in Redis."""
        assert self.process is not None
        self.should_run = False
        self.process.kill()
        self.process.wait(PROCESS_STOP_TIMEOUT)
        self.paused = False

    def terminate(self) -> int:
        """Stop the node with SIGTERM and return its exit status."""
        assert self.process is not None
        self.should_run = False
        self.resume()
        self.process.terminate()
        return self.process.wait(PROCESS_STOP_TIMEOUT)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.process is not None and self.paused:
            self.process.send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self) -> None:
        """Stop the node whatever its state (for teardown): SIGTERM, then SIGKILL."""
        self.should_run = False
        if not self.is_running:
            return
        assert self.process is not None
        self.resume()
        self.process.terminate()
        try:
            self.process.wait(PROCESS_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(PROCESS_STOP_TIMEOUT)

    def get(self, path: str) -> HttpReply | None:
        """GET `path` from the node; None when it does not answer (stopped, paused, starting)."""
        try:
            return fetch(self.url + path, timeout=HTTP_TIMEOUT)
        except OSError:
            return None

    def metrics(self) -> Metrics:
        reply = self.get("/metrics")
        if reply is None or reply.status != 200:
            raise AssertionError(f"{self.node_id}: /metrics did not answer: {reply}")
        return Metrics.parse(reply.body)

    def cluster_status(self) -> dict[str, Any]:
        reply = self.get("/cluster")
        if reply is None or reply.status != 200:
            raise AssertionError(f"{self.node_id}: /cluster did not answer: {reply}")
        document: dict[str, Any] = json.loads(reply.body)
        return document

    def ready_status(self) -> int | None:
        reply = self.get("/readyz")
        return None if reply is None else reply.status

    def log_events(self, since: float = 0.0) -> list[dict[str, Any]]:
        """The JSON log lines of every start, from Unix time `since` on; other lines are skipped."""
        events = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and _event_time(event) >= since:
                events.append(event)
        return events

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _event_time(event: dict[str, Any]) -> float:
    """The Unix time of a log event; its `timestamp` is ISO 8601 in UTC, such as
    2024-06-05T10:00:00.123456Z."""
    stamp = str(event.get("timestamp", ""))
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


CRASH_EVENTS = frozenset({"poll crashed", "scheduled run failed", "cluster heartbeat step failed",
                          "cluster change listener failed", "result consumer failed",
                          "cache listener failed", "stop step failed"})
"""Log events of a fault that a catch-all handler caught: each is a bug."""


def find_crashes(nodes: Iterable[NodeProcess], since: float) -> list[str]:
    """List the nodes that exited on their own, and the log events of faults (CRASH_EVENTS, or
    any event with a traceback) from Unix time `since` on."""
    crashes = []
    for node in nodes:
        if node.should_run and not node.is_running:
            crashes.append(f"{node.node_id} exited:\n{node.log_tail()}")
        for event in node.log_events(since):
            if event.get("event") in CRASH_EVENTS or "exception" in event:
                crashes.append(f"{node.node_id}: {event}")
    return crashes


@dataclass(frozen=True)
class Metrics:
    """The samples of one /metrics scrape."""

    samples: tuple[tuple[str, dict[str, str], float], ...]

    @classmethod
    def parse(cls, body: str) -> Metrics:
        samples = []
        for family in text_string_to_metric_families(body):
            for sample in family.samples:
                samples.append((sample.name, dict(sample.labels), float(sample.value)))
        return cls(tuple(samples))

    def value(self, name: str) -> float | None:
        """The value of the unlabelled sample `name` (or `name_total`), None when absent."""
        for sample_name, _labels, value in self.samples:
            if sample_name in (name, f"{name}_total"):
                return value
        return None

    def has_family(self, name: str) -> bool:
        return any(sample_name in (name, f"{name}_total") for sample_name, _, _ in self.samples)

    def targets(self) -> set[str]:
        """Every value of the `target` label."""
        return {labels["target"] for _, labels, _ in self.samples if "target" in labels}


@dataclass
class Cluster:
    """The nodes of one cluster, the Redis they share, and what they poll."""

    nodes: list[NodeProcess]
    redis_client: redis.Redis
    targets: list[TargetSpec]
    timing: Timing
    keys_base: str = "{" + KEY_PREFIX + "}:"

    @property
    def target_names(self) -> set[str]:
        return {target.name for target in self.targets}

    def node(self, node_id: str) -> NodeProcess:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise LookupError(f"no node {node_id!r}")

    def start(self) -> None:
        for node in self.nodes:
            node.start()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def lease_owners(self) -> dict[str, str]:
        """Target -> node id of the node that holds its lease in Redis now."""
        names = sorted(self.target_names)
        values = cast(list[str | None], self.redis_client.mget(
            [f"{self.keys_base}lease:{name}" for name in names]))
        owners = {}
        for name, value in zip(names, values, strict=True):
            if value is not None:
                owners[name] = value.split(" ")[0]
        return owners

    def members(self) -> set[str]:
        return set(cast(list[str], self.redis_client.zrange(f"{self.keys_base}members", 0, -1)))

    def events(self, since_ms: int = 0) -> list[dict[str, str]]:
        """The membership events (join, leave, expire) added since `since_ms` (Redis time)."""
        entries = read_stream(self.redis_client, f"{self.keys_base}events", f"{since_ms}-0")
        return [fields for _id, fields in entries]

    def redis_time_ms(self) -> int:
        seconds, microseconds = self.redis_client.time()
        return int(seconds) * 1000 + int(microseconds) // 1000

    def polls(self, since_ms: int = 0) -> list[PollRecord]:
        return read_polls(self.redis_client, f"{self.keys_base}polls", since_ms)

    def is_settled(self, nodes: Iterable[NodeProcess] | None = None) -> bool:
        """Whether every running node is a member, every target leased, and each node owns some.

        `nodes` (default: every running, unpaused node) are the nodes expected to share the
        targets.
        """
        expected = {node.node_id for node in (nodes if nodes is not None else self.live_nodes())}
        if self.members() != expected:
            return False
        owners = self.lease_owners()
        if set(owners) != self.target_names:
            return False
        return set(owners.values()) == expected

    def live_nodes(self) -> list[NodeProcess]:
        return [node for node in self.nodes if node.is_running and not node.paused]

    def wait_settled(self, timeout: float, nodes: Iterable[NodeProcess] | None = None) -> float:
        """Wait until `is_settled`, and every live node answers /readyz with 200; return seconds
        waited."""
        chosen = list(nodes) if nodes is not None else None

        def settled() -> bool:
            for node in self.nodes:
                node.check_alive()
            live = chosen if chosen is not None else self.live_nodes()
            return self.is_settled(live) and all(node.ready_status() == 200 for node in live)

        return wait_for(settled, timeout, "the cluster to settle", self.describe)

    def describe(self) -> str:
        """The state of the cluster for a failure message: members, owners, node logs."""
        owners = self.lease_owners()
        shares: dict[str, int] = defaultdict(int)
        for node_id in owners.values():
            shares[node_id] += 1
        lines = [f"members: {sorted(self.members())}",
                 f"leases held: {dict(shares)}; unleased: "
                 f"{sorted(self.target_names - set(owners))}"]
        for node in self.nodes:
            state = "running" if node.is_running else "stopped"
            lines.append(f"--- {node.node_id} ({state}, paused={node.paused}):\n"
                         f"{node.log_tail(10)}")
        return "\n".join(lines)


def wait_for(condition: Callable[[], bool], timeout: float, what: str,
             describe: Callable[[], str] | None = None) -> float:
    """Check `condition` every POLL_STEP s until it is true; return the seconds it took.

    Raises AssertionError naming `what` (and the output of `describe`) after `timeout` s.
    """
    started = time.monotonic()
    while True:
        if condition():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            detail = f"\n{describe()}" if describe is not None else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{detail}")
        time.sleep(POLL_STEP)


# The poll log and its invariants


@dataclass(frozen=True)
class PollRecord:
    """One entry of the `polls` stream; times in Unix seconds of the polling node's clock."""

    entry_ms: int
    """The stream entry's id time: Redis's clock when the record was written, in ms."""
    node: str
    target: str
    job: str
    slot: float
    started: float
    finished: float
    token: int
    ok: bool

    def __str__(self) -> str:
        return (f"{self.target}/{self.job} slot {self.slot:.3f} by {self.node} "
                f"(token {self.token}, started {self.started:.3f}, "
                f"finished {self.finished:.3f})")


def read_polls(client: redis.Redis, key: str, since_ms: int = 0) -> list[PollRecord]:
    """Read the `polls` stream from `since_ms` (Redis time) on, in batches."""
    records: list[PollRecord] = []
    start = f"{since_ms}-0"
    while True:
        entries = read_stream(client, key, start, count=1000)
        for entry_id, fields in entries:
            records.append(_poll_record(entry_id, fields))
        if len(entries) < 1000:
            return records
        start = "(" + entries[-1][0]


StreamEntry = tuple[str, dict[str, str]]


def read_stream(client: redis.Redis, key: str, start: str,
                count: int | None = None) -> list[StreamEntry]:
    """XRANGE from `start` on, typed for a client with decode_responses=True."""
    return cast(list[StreamEntry], client.xrange(key, min=start, count=count))


def _poll_record(entry_id: str, fields: dict[str, str]) -> PollRecord:
    return PollRecord(
        entry_ms=int(entry_id.split("-")[0]),
        node=fields["node"],
        target=fields["target"],
        job=fields["job"],
        slot=float(fields["slot"]),
        started=float(fields["started"]),
        finished=float(fields["finished"]),
        token=int(fields["token"]),
        ok=fields["ok"] == "1",
    )


@dataclass(frozen=True)
class Outage:
    """A deliberate fault from `start` to `end` (Unix seconds), such as a killed node or a
    stopped Redis. A gap in polling that spans it must end within the bound after `end`."""

    start: float
    end: float
    what: str


@dataclass
class PollLogReport:
    """What `check_poll_log` found; the lists hold one line per violation."""

    records: int = 0
    doubles: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    worst_gap: float = 0.0
    """The longest gap between two polls of one target and job that spans no outage."""
    worst_recovery: float = 0.0
    """The longest time from the end of an outage to the next poll of a target it delayed."""

    @property
    def violations(self) -> list[str]:
        return self.doubles + self.gaps


def check_poll_log(records: Sequence[PollRecord], timing: Timing, *, double_margin: float,
                   gap_margin: float, outages: Sequence[Outage] = ()) -> PollLogReport:
    """Check the two invariants of cluster mode over `records`.

    No double poll: two polls of one target and job have slots at least
    `interval - double_margin` apart. The slots lie on a grid of whole intervals, so any two
    closer than that are a second poll of one slot.

    No gap: two consecutive polls of one target and job are at most
    `failover_bound + gap_margin` apart, unless the gap spans an outage; then the later poll
    comes at most `failover_bound + gap_margin` after the end of the outage.
    """
    report = PollLogReport(records=len(records))
    for series in _series(records).values():
        for earlier, later in itertools.pairwise(series):
            _check_pair(earlier, later, timing, double_margin, gap_margin, outages, report)
    return report


def _series(records: Iterable[PollRecord]) -> dict[tuple[str, str], list[PollRecord]]:
    by_key: dict[tuple[str, str], list[PollRecord]] = defaultdict(list)
    for record in records:
        by_key[(record.target, record.job)].append(record)
    for series in by_key.values():
        series.sort(key=lambda record: record.slot)
    return by_key


def _check_pair(earlier: PollRecord, later: PollRecord, timing: Timing, double_margin: float,
                gap_margin: float, outages: Sequence[Outage], report: PollLogReport) -> None:
    gap = later.slot - earlier.slot
    if gap < timing.interval - double_margin:
        report.doubles.append(f"double poll, slots {gap:.3f} s apart: {earlier} and {later}")
        return

    bound = timing.failover_bound + gap_margin
    spanned = [o for o in outages if earlier.slot <= o.end and later.slot >= o.start]
    if not spanned:
        report.worst_gap = max(report.worst_gap, gap)
        if gap > bound:
            report.gaps.append(f"gap of {gap:.3f} s (bound {bound:.3f} s): {earlier} then "
                               f"{later}")
        return

    last_end = max(outage.end for outage in spanned)
    recovery = later.slot - last_end
    report.worst_recovery = max(report.worst_recovery, recovery)
    if recovery > bound:
        names = ", ".join(outage.what for outage in spanned)
        report.gaps.append(f"polled again {recovery:.3f} s after the end of {names} "
                           f"(bound {bound:.3f} s): {earlier} then {later}")


def stale_targets(records: Sequence[PollRecord], targets: Iterable[str], now: float,
                  within: float) -> dict[str, float | None]:
    """Targets with no poll slot in the last `within` s before `now`: target -> age or None."""
    last: dict[str, float] = {}
    for record in records:
        last[record.target] = max(last.get(record.target, 0.0), record.slot)
    stale: dict[str, float | None] = {}
    for target in targets:
        slot = last.get(target)
        if slot is None:
            stale[target] = None
        elif now - slot > within:
            stale[target] = now - slot
    return stale


def community_environment() -> dict[str, str]:
    return {COMMUNITY_VARIABLE: PUBLIC_COMMUNITY}


def build_cluster(base_dir: Path, *, node_ids: Sequence[str], targets: list[TargetSpec],
                  redis_section: dict[str, Any], redis_client: redis.Redis,
                  timing: Timing, overrides: Mapping[str, Any] | None = None) -> Cluster:
    """Write each node's config and state directory under `base_dir`; start nothing.

    `overrides` replaces or adds top-level sections of every node's config (see render_config).
    """
    nodes = []
    for node_id in node_ids:
        directory = base_dir / node_id
        directory.mkdir(parents=True, exist_ok=True)
        http_port = free_tcp_port()
        config_path = directory / "config.yaml"
        config_path.write_text(render_config(
            node_id=node_id, http_port=http_port, state_dir=directory / "state",
            targets=targets, redis_section=redis_section, timing=timing, overrides=overrides))
        nodes.append(NodeProcess(node_id, config_path, http_port, directory / "node.log",
                                 community_environment()))
    return Cluster(nodes, redis_client, targets, timing)
