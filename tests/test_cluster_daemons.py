"""Cluster mode end to end: three `snmpd-ng run` processes, a real Redis, net-snmp's snmpd.

The three nodes share one config: 30 targets spread over two snmpd agents, and one target per
node on a silent agent whose polls last the whole poll budget. The timing is short (lease 3 s,
heartbeat 0.75 s, join delay 1.5 s, margin 0.5 s, job interval 2 s), so the documented failover
bound is lease_ttl + heartbeat + interval = 5.75 s.

One trio runs for the whole module. The `cluster` fixture restores it before each test: Redis
up, every node running and a member, every target leased. Each test then checks the poll log of
its own time with `check_poll_log`:

- no double poll: two polls of one target and job have slots at least
  `interval - DOUBLE_MARGIN` apart, because slots lie on a grid of whole intervals;
- no gap longer than the failover bound plus GAP_MARGIN, except across a deliberate outage,
  after whose end the next poll must come within that same time.

The chaos test runs for SNMPD_NG_CHAOS_SECONDS (default CHAOS_SECONDS) with the random seed
SNMPD_NG_CHAOS_SEED, and `make chaos` runs it longer.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from agents import NetSnmpAgent, skip_unless_installed, start_snmpd
from cluster_helpers import (
    Cluster,
    NodeProcess,
    Outage,
    PollLogReport,
    PollRecord,
    SilentAgent,
    Timing,
    build_cluster,
    check_poll_log,
    find_crashes,
    read_stream,
    silent_target_names,
    snmp_in_packets,
    spread_targets,
    stale_targets,
    wait_for,
)
from redisfix import LOOPBACK, RedisServer, SentinelDeployment, running_redis

from snmpd_ng.cluster.scripts import COMMIT_POLL

pytestmark = pytest.mark.agent

TIMING = Timing()
TARGET_COUNT = 30
NODE_IDS = ("node-a", "node-b", "node-c")

DOUBLE_MARGIN = 0.5 * TIMING.interval
"""Seconds: slots closer than `interval - DOUBLE_MARGIN` are two polls of one slot. On one
machine the grid is exact to the millisecond, and half an interval also covers nodes whose
clocks NTP keeps apart."""
GAP_MARGIN = 1.5
"""Seconds added to the failover bound. They cover a heartbeat delayed by a busy 2-core machine,
a lease read in the few milliseconds between a member's expiry and its target leases' expiry,
and the new owner's read of the last slots before it decides to poll a missed one. One chaos
run on a loaded machine (another benchmark running) recovered 0.017 s past a margin of 1.0 s."""
SETTLE_TIMEOUT = 25.0
"""Seconds a trio may take to settle: start-up (about 1 s per node on 2 cores), join delay and
the rebalance."""
CHAOS_SECONDS = 60.0
"""Seconds the chaos loop runs unless SNMPD_NG_CHAOS_SECONDS sets another length."""
CHAOS_SEED = int(os.environ.get("SNMPD_NG_CHAOS_SEED", "20240605"))


# Fixtures


@pytest.fixture(scope="module")
def snmp_agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[NetSnmpAgent]]:
    """Two net-snmp agents that back the module's targets."""
    skip_unless_installed("snmpd", "snmpget")
    agents: list[NetSnmpAgent] = []
    try:
        for number in range(2):
            agents.append(start_snmpd(tmp_path_factory.mktemp(f"cluster-agent-{number}")))
        yield agents
    finally:
        for agent in agents:
            agent.stop()


@pytest.fixture(scope="module")
def silent_agents() -> Iterator[dict[str, SilentAgent]]:
    """One silent agent per node, keyed by the name of the target on it."""
    agents = {name: SilentAgent() for name in silent_target_names(NODE_IDS)}
    try:
        yield agents
    finally:
        for agent in agents.values():
            agent.stop()


@pytest.fixture(scope="module")
def module_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The trio's Redis, which tests stop and start again on the same port."""
    yield from running_redis(tmp_path_factory.mktemp("cluster-redis"))


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory, snmp_agents: list[NetSnmpAgent],
         silent_agents: dict[str, SilentAgent], module_redis: RedisServer) -> Iterator[Cluster]:
    """Three nodes on `module_redis`, started once for the module and stopped at its end."""
    client = redis.Redis(host=LOOPBACK, port=module_redis.port, decode_responses=True,
                         socket_timeout=2.0)
    cluster = build_cluster(tmp_path_factory.mktemp("trio"), node_ids=NODE_IDS,
                            targets=spread_targets(TARGET_COUNT, snmp_agents, silent_agents),
                            redis_section={"url": module_redis.url}, redis_client=client,
                            timing=TIMING)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        client.close()


@dataclass
class Scenario:
    """A settled trio at the start of one test, and the outages the test caused."""

    cluster: Cluster
    redis_server: RedisServer
    agents: list[NetSnmpAgent]
    silent: dict[str, SilentAgent]
    """Silent agents by the name of their target."""
    since_ms: int
    """Redis time at the start of the test, in ms: the poll log is read from here on."""
    started_at: float = field(default_factory=time.time)
    outages: list[Outage] = field(default_factory=list)

    def poll_log_report(self) -> PollLogReport:
        """Check both invariants over the polls of this test, with this test's outages."""
        return check_poll_log(self.cluster.polls(self.since_ms), TIMING,
                              double_margin=DOUBLE_MARGIN, gap_margin=GAP_MARGIN,
                              outages=self.outages)

    def check_invariants(self, result: PollLogReport | None = None) -> PollLogReport:
        """Assert both invariants over the polls of this test (or `result`); return the report."""
        result = result if result is not None else self.poll_log_report()
        assert result.records > 0, "no poll was recorded during the test"
        assert not result.doubles, "\n".join(result.doubles)
        assert not result.gaps, "\n".join(result.gaps)
        return result

    def kill(self, node: NodeProcess) -> float:
        """SIGKILL `node`, note the kill as an outage, and return its Unix time."""
        killed_at = time.time()
        node.kill()
        self.outages.append(Outage(killed_at, killed_at, f"SIGKILL of {node.node_id}"))
        return killed_at

    def check_no_crash(self) -> None:
        """Assert that no node exited on its own or logged a fault during the test."""
        crashes = find_crashes(self.cluster.nodes, self.started_at)
        assert not crashes, "\n".join(crashes)


@pytest.fixture
def cluster(trio: Cluster, module_redis: RedisServer, snmp_agents: list[NetSnmpAgent],
            silent_agents: dict[str, SilentAgent]) -> Scenario:
    """The module's trio, restored to a settled state: Redis up, every node running."""
    if module_redis.process is None:
        module_redis.start()
    for node in trio.nodes:
        if node.paused:
            node.resume()
        if not node.is_running:
            node.start()
    trio.wait_settled(SETTLE_TIMEOUT)
    return Scenario(trio, module_redis, snmp_agents, silent_agents, trio.redis_time_ms())


def report(capsys: pytest.CaptureFixture[str], text: str) -> None:
    """Print a measurement into the test output, also when the test passes."""
    with capsys.disabled():
        print(f"\n[cluster] {text}")


# check_poll_log


def record(target: str, slot: float, node: str = "node-a") -> PollRecord:
    return PollRecord(entry_ms=int(slot * 1000), node=node, target=target, job="system",
                      slot=slot, started=slot, finished=slot + 0.01, token=1, ok=True)


def check(records: list[PollRecord], outages: tuple[Outage, ...] = ()) -> PollLogReport:
    return check_poll_log(records, TIMING, double_margin=DOUBLE_MARGIN, gap_margin=GAP_MARGIN,
                          outages=outages)


class TestPollLogCheck:
    def test_regular_polls_pass(self) -> None:
        result = check([record("t", 100 + 2 * k) for k in range(5)])

        assert result.violations == []
        assert result.worst_gap == pytest.approx(2.0)

    def test_same_slot_twice_is_double(self) -> None:
        result = check([record("t", 100.0), record("t", 100.0, node="node-b")])

        assert len(result.doubles) == 1

    def test_gap_over_bound_reported(self) -> None:
        result = check([record("t", 100.0), record("t", 108.0)])

        assert len(result.gaps) == 1

    def test_gap_across_outage_allowed(self) -> None:
        outage = Outage(101.0, 104.0, "Redis stopped")

        result = check([record("t", 100.0), record("t", 109.0)], (outage,))

        assert result.violations == []
        assert result.worst_recovery == pytest.approx(5.0)

    def test_late_recovery_after_outage_reported(self) -> None:
        outage = Outage(101.0, 101.0, "SIGKILL")

        result = check([record("t", 100.0), record("t", 108.0)], (outage,))

        assert len(result.gaps) == 1


def test_poll_log_keeps_second_holder_of_slot(module_redis: RedisServer) -> None:
    client = redis.Redis(host=LOOPBACK, port=module_redis.port, decode_responses=True)
    base = "{commit-test}:"
    commit = client.register_script(COMMIT_POLL)
    try:
        client.set(base + "lease:t", "node-a 1")
        commit(keys=[base + "members"],
               args=[base, "t", "node-a 1", "1000", "system", "100.000", "node", "node-a"])
        # The lease passed to node-b (node-a's lease expired), which polls the same slot.
        client.set(base + "lease:t", "node-b 2")
        commit(keys=[base + "members"],
               args=[base, "t", "node-b 2", "1000", "system", "100.000", "node", "node-b"])

        nodes = [fields["node"] for _id, fields in read_stream(client, base + "polls", "-")]

        assert nodes == ["node-a", "node-b"]
    finally:
        client.delete(*client.keys(base + "*"))
        client.close()


# Scenarios on the module's trio


@pytest.mark.timeout(90)
def test_startup_each_target_on_one_node(cluster: Scenario) -> None:
    trio = cluster.cluster
    owners = trio.lease_owners()

    assert set(owners) == trio.target_names
    assert set(owners.values()) == set(NODE_IDS)

    def metrics_match_leases() -> bool:
        owners.update(trio.lease_owners())
        return all(node.metrics().targets() == _owned_by(owners, node.node_id)
                   for node in trio.nodes)

    wait_for(metrics_match_leases, 3 * TIMING.interval, "each node's /metrics to show its "
             "own targets", trio.describe)
    target_sets = [node.metrics().targets() for node in trio.nodes]
    assert set().union(*target_sets) == trio.target_names
    for number, first in enumerate(target_sets):
        for second in target_sets[number + 1:]:
            assert not first & second

    exporters = [node.node_id for node in trio.nodes
                 if node.metrics().has_family("snmpd_ng_cluster_members")]
    assert len(exporters) == 1
    assert exporters == [trio.redis_client.get(trio.keys_base + "leader")]
    assert [node.ready_status() for node in trio.nodes] == [200, 200, 200]
    cluster.check_no_crash()


def _owned_by(owners: dict[str, str], node_id: str) -> set[str]:
    return {target for target, owner in owners.items() if owner == node_id}


def test_steady_state_polls_each_slot_once(cluster: Scenario,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    since = time.time()
    window = 3 * TIMING.interval
    # A record is written when its poll ends, up to a budget after its slot.
    time.sleep(window + TIMING.max_budget + 1.0)

    result = cluster.check_invariants()
    records = [r for r in cluster.cluster.polls(cluster.since_ms)
               if since <= r.slot < since + window]

    counts = {name: 0 for name in cluster.cluster.target_names}
    for entry in records:
        counts[entry.target] += 1
    # Three intervals hold exactly three slots of each target.
    assert {name: count for name, count in counts.items() if count != 3} == {}
    report(capsys, f"steady state: {result.records} polls, worst gap {result.worst_gap:.3f} s")
    cluster.check_no_crash()


@pytest.mark.timeout(90)
def test_sigkill_targets_polled_within_bound(cluster: Scenario,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    trio = cluster.cluster
    victim = trio.node("node-b")
    orphans = _owned_by(trio.lease_owners(), victim.node_id)

    killed_at = cluster.kill(victim)

    delays = wait_repolled(trio, orphans, killed_at, exclude=victim.node_id)
    worst = max(delays.values())
    report(capsys, f"SIGKILL: {len(orphans)} targets polled again after at most {worst:.3f} s "
           f"(bound {TIMING.failover_bound} s + margin {GAP_MARGIN} s)")
    assert worst <= TIMING.failover_bound + GAP_MARGIN

    assert victim.node_id not in trio.members()
    assert victim.node_id not in set(trio.lease_owners().values())
    survivor = trio.node("node-a")
    wait_for(lambda: (survivor.cluster_status().get("last_expiry") or {}).get("node_id")
             == victim.node_id, 2 * TIMING.heartbeat + 1, "/cluster to name the expired node")
    cluster.check_invariants()
    cluster.check_no_crash()


def wait_repolled(trio: Cluster, targets: set[str], since: float, exclude: str | None = None,
                  timeout: float | None = None) -> dict[str, float]:
    """Wait until each of `targets` has a poll started after `since`, by a node other than
    `exclude`; return target -> seconds from `since` to that start."""
    limit = timeout if timeout is not None else TIMING.failover_bound + GAP_MARGIN + 5
    delays: dict[str, float] = {}

    def all_repolled() -> bool:
        # The start of the poll, not its slot: a slot missed by the dead node is polled late,
        # at the takeover, under its own slot.
        for entry in trio.polls(int(since * 1000) - 10_000):
            if entry.target in targets and entry.started > since and entry.node != exclude:
                delays[entry.target] = min(delays.get(entry.target, 1e9), entry.started - since)
        return set(delays) == targets

    wait_for(all_repolled, limit, "every target to be polled again", trio.describe)
    return delays


@pytest.mark.timeout(90)
def test_restarted_node_rejoins_after_join_delay(cluster: Scenario,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    trio = cluster.cluster
    victim = trio.node("node-c")
    orphans = _owned_by(trio.lease_owners(), victim.node_id)
    killed_at = cluster.kill(victim)
    wait_repolled(trio, orphans, killed_at, exclude=victim.node_id)
    assert victim.node_id not in trio.members()

    restart_ms = trio.redis_time_ms()
    victim.start()
    first_owned_ms = wait_first_lease(trio, victim.node_id, timeout=SETTLE_TIMEOUT)
    joins = [e for e in trio.events(restart_ms)
             if e["kind"] == "join" and e["node"] == victim.node_id]
    assert len(joins) == 1
    waited = (first_owned_ms - int(joins[0]["at_ms"])) / 1000
    report(capsys, f"restart: node-c joined and held its first lease {waited:.3f} s later "
           f"(join_delay {TIMING.join_delay} s)")
    assert waited >= TIMING.join_delay

    trio.wait_settled(SETTLE_TIMEOUT)
    shares = {node: len(_owned_by(trio.lease_owners(), node)) for node in NODE_IDS}
    assert all(count > 0 for count in shares.values()), shares
    cluster.check_invariants()
    cluster.check_no_crash()


def wait_first_lease(trio: Cluster, node_id: str, timeout: float) -> int:
    """Wait until `node_id` holds a target lease; return Redis's time then, in ms."""
    seen: list[int] = []

    def holds_one() -> bool:
        if node_id in trio.lease_owners().values():
            seen.append(trio.redis_time_ms())
            return True
        return False

    wait_for(holds_one, timeout, f"{node_id} to hold a target lease", trio.describe)
    return seen[0]


@pytest.mark.timeout(120)
def test_redis_outage_fences_then_rejoins(cluster: Scenario,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    trio = cluster.cluster
    pids = [node.process.pid for node in trio.nodes if node.process is not None]
    before = {node.node_id: node.metrics() for node in trio.nodes}

    stopped_at = time.time()
    cluster.redis_server.stop()
    fenced_after = wait_for(lambda: all(node.metrics().value("snmpd_ng_cluster_fenced") == 1.0
                                        for node in trio.nodes),
                            TIMING.lease_ttl + 2 * TIMING.heartbeat + 3, "every node to fence")
    assert [node.ready_status() for node in trio.nodes] == [503, 503, 503]

    # The agents' view: nothing reaches them while the nodes are fenced.
    fenced_at = time.time()
    packets_before = [snmp_in_packets(agent) for agent in cluster.agents]
    silent_before = [len(agent.arrivals()) for agent in cluster.silent.values()]
    time.sleep(TIMING.interval + 1)
    packets_after = [snmp_in_packets(agent) for agent in cluster.agents]
    silent_after = [len(agent.arrivals()) for agent in cluster.silent.values()]
    # Each agent counts the second snmpget itself, one packet.
    assert [a - b for a, b in zip(packets_after, packets_before, strict=True)] == [1, 1]
    assert silent_after == silent_before
    last_silent = max(max(agent.arrivals(), default=0.0) for agent in cluster.silent.values())
    assert last_silent < stopped_at + TIMING.lease_ttl

    cluster.redis_server.start()
    restarted_at = time.time()
    cluster.outages.append(Outage(stopped_at, restarted_at, "Redis stopped"))
    rejoined_after = trio.wait_settled(SETTLE_TIMEOUT)
    delays = wait_repolled(trio, trio.target_names, restarted_at)
    report(capsys, f"Redis outage of {restarted_at - stopped_at:.1f} s: fenced after "
           f"{fenced_after:.2f} s, nothing polled from {fenced_at - stopped_at:.2f} s on; "
           f"settled {rejoined_after:.2f} s after the restart; every target polled again "
           f"within {max(delays.values()):.3f} s")

    assert [node.process.pid for node in trio.nodes if node.process is not None] == pids
    for node in trio.nodes:
        after = node.metrics()
        assert after.value("snmpd_ng_cluster_fenced") == 0.0
        for counter in ("snmpd_ng_cluster_fenced_episodes", "snmpd_ng_cluster_rejoins"):
            assert after.value(counter) == (before[node.node_id].value(counter) or 0) + 1
    cluster.check_invariants()
    cluster.check_no_crash()


@pytest.mark.timeout(90)
def test_sigterm_node_leaves_at_once(cluster: Scenario,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    trio = cluster.cluster
    leaver = trio.node("node-a")
    orphans = _owned_by(trio.lease_owners(), leaver.node_id)
    since_ms = trio.redis_time_ms()

    stopped_at = time.time()
    status = leaver.terminate()
    took = time.time() - stopped_at

    assert status == 0
    leaves = [e for e in trio.events(since_ms) if e["kind"] == "leave"]
    assert [e["node"] for e in leaves] == [leaver.node_id]
    assert leaver.node_id not in trio.members()
    delays = wait_repolled(trio, orphans, stopped_at, exclude=leaver.node_id)
    worst = max(delays.values())
    report(capsys, f"SIGTERM: stopped in {took:.2f} s; {len(orphans)} targets polled again "
           f"after at most {worst:.3f} s (heartbeat + interval = "
           f"{TIMING.heartbeat + TIMING.interval} s)")
    assert worst <= TIMING.heartbeat + TIMING.interval + GAP_MARGIN
    cluster.check_invariants()
    cluster.check_no_crash()


REJOIN_CYCLES = 4
"""Pause and resume cycles of the rejoin test. Before targets drained to a quiet moment, one
cycle missed the bound in about 3 runs of 4 on a 2-core machine."""


@pytest.mark.timeout(120)
def test_rejoin_at_lease_expiry_keeps_bound(cluster: Scenario,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    trio = cluster.cluster
    node = trio.node("node-c")
    for cycle in range(REJOIN_CYCLES):
        orphans = _owned_by(trio.lease_owners(), node.node_id)
        wait_heartbeat(trio, node.node_id)
        paused_at = time.time()
        node.pause()
        # SIGCONT just after the membership lease ended: the node rejoins as a new member.
        time.sleep(max(0.0, membership_expiry(trio, node.node_id) + 0.1 - time.time()))
        node.resume()

        delays = wait_repolled(trio, orphans, paused_at)
        worst = max(delays.values())
        report(capsys, f"rejoin at lease expiry, cycle {cycle}: {len(orphans)} targets "
               f"polled again after at most {worst:.3f} s")
        assert worst <= TIMING.failover_bound + GAP_MARGIN
        trio.wait_settled(SETTLE_TIMEOUT)


def wait_heartbeat(trio: Cluster, node_id: str) -> None:
    """Wait for the node's next heartbeat, so that its membership lease is 3 s from now."""
    key = f"{trio.keys_base}member:{node_id}"
    last = trio.redis_client.hget(key, "heartbeat_ms")
    wait_for(lambda: trio.redis_client.hget(key, "heartbeat_ms") != last,
             2 * TIMING.heartbeat + 1, f"a heartbeat of {node_id}")


def membership_expiry(trio: Cluster, node_id: str) -> float:
    """The end of the node's membership lease, as a Unix time of this machine's clock."""
    score = trio.redis_client.zscore(f"{trio.keys_base}members", node_id)
    assert score is not None, f"{node_id} is no member"
    offset = time.time() - trio.redis_time_ms() / 1000
    return score / 1000 + offset


# Sentinel


@pytest.fixture
def sentinel_trio(tmp_path: Path, redis_sentinel: SentinelDeployment,
                  snmp_agents: list[NetSnmpAgent],
                  silent_agents: dict[str, SilentAgent]) -> Iterator[Cluster]:
    """A second trio, on a Sentinel deployment (master, replica, one Sentinel)."""
    sentinel = redis.Sentinel(list(redis_sentinel.sentinel_addresses), socket_timeout=2.0)
    client = sentinel.master_for(redis_sentinel.service_name, decode_responses=True,
                                 socket_timeout=2.0)
    section = {"sentinels": [f"{host}:{port}" for host, port in
                             redis_sentinel.sentinel_addresses],
               "service_name": redis_sentinel.service_name}
    cluster = build_cluster(tmp_path / "trio", node_ids=NODE_IDS,
                            targets=spread_targets(TARGET_COUNT, snmp_agents, silent_agents),
                            redis_section=section, redis_client=client, timing=TIMING)
    try:
        cluster.start()
        cluster.wait_settled(SETTLE_TIMEOUT)
        yield cluster
    finally:
        cluster.stop()
        client.close()


SENTINEL_BOUND = TIMING.failover_bound + GAP_MARGIN
"""Seconds after a Sentinel failover ends within which every target is polled again. The
guarantee against double polls does not hold during a failover (replication is asynchronous),
so only this liveness is checked."""


@pytest.mark.timeout(120)
def test_sentinel_failover_keeps_polling(sentinel_trio: Cluster,
                                         redis_sentinel: SentinelDeployment,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    started_at = time.time()
    old_port = redis_sentinel.master_port()
    new_master = redis_sentinel.failover()
    failed_over_at = time.time()

    assert new_master.port != old_port
    delays = wait_repolled(sentinel_trio, sentinel_trio.target_names, failed_over_at,
                           timeout=SENTINEL_BOUND + 5)
    worst = max(delays.values())
    settled_after = sentinel_trio.wait_settled(SETTLE_TIMEOUT)
    report(capsys, f"Sentinel failover took {failed_over_at - started_at:.2f} s; every target "
           f"polled again within {worst:.3f} s after it; settled {settled_after:.2f} s later")
    assert worst <= SENTINEL_BOUND
    crashes = find_crashes(sentinel_trio.nodes, since=0.0)
    assert not crashes, "\n".join(crashes)


# Chaos


@dataclass(frozen=True)
class PauseEpisode:
    """One SIGSTOP and SIGCONT of a node, caught (or not) in the middle of a poll."""

    node: str
    paused_at: float
    resumed_at: float
    in_flight: bool
    """A poll of one of the node's silent targets had started less than a budget before."""
    rejected: float
    """How much the node's snmpd_ng_cluster_poll_records_rejected rose after the resume."""


@dataclass
class Chaos:
    """The state of one chaos run: its random source and what each fault did."""

    scenario: Scenario
    rng: random.Random
    faults: list[str] = field(default_factory=list)
    pauses: list[PauseEpisode] = field(default_factory=list)

    @property
    def trio(self) -> Cluster:
        return self.scenario.cluster

    def pick_node(self) -> NodeProcess:
        return self.rng.choice(self.trio.live_nodes())

    def kill_and_restart(self) -> None:
        """SIGKILL a node just after its heartbeat, and start it again.

        The downtime is drawn from zero (back while its membership lease holds) to beyond the
        others' takeover, through the moment its lease ends.
        """
        node = self.pick_node()
        wait_heartbeat(self.trio, node.node_id)
        self.scenario.kill(node)
        taken_over = TIMING.failover_bound + TIMING.interval
        down = self.rng.uniform(0.0, taken_over + 2.0)
        time.sleep(down)
        node.start()
        self.faults.append(f"SIGKILL {node.node_id}, started again after {down:.1f} s")

    def restart(self) -> None:
        """Stop a node with SIGTERM, so that it leaves, and start it again at once."""
        node = self.pick_node()
        status = node.terminate()
        assert status == 0, f"{node.node_id} exited with {status} after SIGTERM"
        node.start()
        self.faults.append(f"SIGTERM {node.node_id} and start")

    def stop_redis(self) -> None:
        """Stop Redis for one to two leases, then start it on the same port."""
        down = self.rng.uniform(TIMING.lease_ttl, 2 * TIMING.lease_ttl)
        stopped_at = time.time()
        self.scenario.redis_server.stop()
        time.sleep(down)
        self.scenario.redis_server.start()
        self.scenario.outages.append(Outage(stopped_at, time.time(), "Redis stopped"))
        self.faults.append(f"Redis stopped for {down:.1f} s")

    def pause(self) -> None:
        """SIGSTOP the owner of a silent target just after that target's poll started, for
        longer than the lease, then SIGCONT it."""
        node = self.pick_node()
        owners = self.trio.lease_owners()
        owned = sorted(name for name in self.scenario.silent if owners.get(name) == node.node_id)
        target = self.rng.choice(owned or sorted(set(self.scenario.silent) & set(owners)))
        node = self.trio.node(owners[target])
        agent = self.scenario.silent[target]
        rejected_before = node.metrics().value("snmpd_ng_cluster_poll_records_rejected") or 0
        count = len(agent.arrivals())
        wait_for(lambda: len(agent.arrivals()) > count, TIMING.interval + 1,
                 f"a poll of {target}")

        paused_at = time.time()
        node.pause()
        in_flight = paused_at - agent.arrivals()[-1] < TIMING.max_budget - 0.1
        self.scenario.outages.append(Outage(paused_at, paused_at, f"SIGSTOP of {node.node_id}"))
        time.sleep(TIMING.lease_ttl + 1.5)
        node.resume()
        resumed_at = time.time()

        rejected = 0.0
        if in_flight:
            rejected = wait_rejected(node, rejected_before)
        self.pauses.append(PauseEpisode(node.node_id, paused_at, resumed_at, in_flight,
                                        rejected))
        self.faults.append(f"SIGSTOP {node.node_id} for {resumed_at - paused_at:.1f} s "
                           f"(poll of {target} in flight: {in_flight}, records rejected: "
                           f"{rejected:g})")


def wait_rejected(node: NodeProcess, before: float) -> float:
    """Wait until the node's rejected poll records rose above `before`; return the rise (0 if
    it did not within a few seconds)."""
    rise: list[float] = []

    def risen() -> bool:
        value = node.metrics().value("snmpd_ng_cluster_poll_records_rejected") or 0
        rise.append(value - before)
        return value > before

    try:
        wait_for(risen, TIMING.interval + 2, f"{node.node_id} to reject its stale record")
    except AssertionError:
        return 0.0
    return rise[-1]


CHAOS_LENGTH = float(os.environ.get("SNMPD_NG_CHAOS_SECONDS", CHAOS_SECONDS))
CHAOS_FAULTS = ("kill_and_restart", "pause", "stop_redis", "restart")
CHAOS_FAULT_RESERVE = 8.0
"""Seconds a fault takes at least; no fault starts when less than this is left."""


@pytest.mark.timeout(CHAOS_LENGTH + 90)
def test_chaos_keeps_invariants(cluster: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    chaos = Chaos(cluster, random.Random(CHAOS_SEED))
    trio = cluster.cluster
    # Every kind of fault once, in a random order, then random ones.
    planned = chaos.rng.sample(CHAOS_FAULTS, len(CHAOS_FAULTS))
    deadline = time.monotonic() + CHAOS_LENGTH
    while time.monotonic() < deadline - CHAOS_FAULT_RESERVE:
        kind = planned.pop(0) if planned else chaos.rng.choice(CHAOS_FAULTS)
        getattr(chaos, kind)()
        trio.wait_settled(SETTLE_TIMEOUT)
        time.sleep(chaos.rng.uniform(0.0, TIMING.interval))

    time.sleep(TIMING.interval + 0.5)
    result = cluster.poll_log_report()
    records = trio.polls(cluster.since_ms)
    stale = stale_targets(records, trio.target_names, time.time(),
                          TIMING.failover_bound + GAP_MARGIN)
    report(capsys, f"chaos (seed {CHAOS_SEED}, {CHAOS_LENGTH:.0f} s): "
           + "; ".join(chaos.faults)
           + f". {result.records} polls, worst gap {result.worst_gap:.3f} s, worst recovery "
           f"after an outage {result.worst_recovery:.3f} s")

    cluster.check_invariants(result)
    assert not stale, f"targets not polled in the last bound: {stale}"
    assert len(chaos.faults) >= len(CHAOS_FAULTS)
    caught = [pause for pause in chaos.pauses if pause.in_flight]
    assert caught, "no pause caught a node in the middle of a poll"
    assert all(pause.rejected >= 1 for pause in caught), caught
    for pause in chaos.pauses:
        spanning = [r for r in records if r.node == pause.node
                    and r.started <= pause.paused_at and r.finished >= pause.resumed_at]
        assert not spanning, [str(r) for r in spanning]
    cluster.check_no_crash()
