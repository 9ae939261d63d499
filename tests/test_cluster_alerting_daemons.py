"""Alerting in cluster mode end to end: three `snmpd-ng run` processes, a real Redis, net-snmp.

The three nodes share one config: 12 targets on two net-snmp agents, polled every 2 s, with
leases of 3 s (the timing of tests/test_cluster_daemons.py). Rule `CaseN` fires on every target
while the agents serve the value N (see tests/cluster_alerting_helpers.py), after `for: 1s`.
Each alert is its own group (grouped by target, group_wait 0), whose escalation notifies the
receivers first, second and third after 0, 6 and 12 s. Each receiver is one webhook channel
posting to its own path of one HookRecorder in the test process.

Each test proves one promise of cluster alerting:

- one notification per group, tier and receiver, although three nodes evaluate rules;
- escalation that goes on after the leader's SIGKILL;
- alerts that neither resolve nor fire again when a follower that polled their targets dies,
  nor when it comes back and takes the targets back;
- the same alerts and silences through every node's API;
- alert counts on the leader's /metrics only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import redis
from agents import NetSnmpAgent, skip_unless_installed, start_snmpd
from cluster_alerting_helpers import (
    RECEIVERS,
    TIER_AFTER,
    WEBHOOK_SECRET,
    WEBHOOK_SECRET_VARIABLE,
    Delivery,
    HookRecorder,
    alert_fingerprints,
    alerting_overrides,
    api_request,
    family_sum,
    first_arrivals,
    group_key,
    set_case,
    tier_counts,
    write_token_file,
)
from cluster_helpers import (
    Cluster,
    NodeProcess,
    Timing,
    build_cluster,
    find_crashes,
    spread_targets,
    wait_for,
)
from redisfix import LOOPBACK, RedisServer, running_redis

pytestmark = pytest.mark.agent

TIMING = Timing()
TARGET_COUNT = 12
NODE_IDS = ("node-a", "node-b", "node-c")
SETTLE_TIMEOUT = 25.0
"""Seconds a trio may take to settle: start-up, join delay and the rebalance."""
FIRE_TIMEOUT = 20.0
"""Seconds from setting a case's value to the first tier of every group: a poll interval, the
rule's `for`, the next poll, the signal stream and the outbox, with room for a loaded machine."""
TIER_MARGIN = 2.0
"""Seconds a tier may arrive after its due time while the leader lives: the escalation's timer
and the outbox on a busy 2-core machine."""
FAILOVER_MARGIN = TIMING.lease_ttl + TIMING.heartbeat + 3.0
"""Seconds a tier due after the leader's SIGKILL may arrive late. The leader lease runs out
(lease_ttl) and the next heartbeat takes it (heartbeat). The new leader then loads the store and
starts its escalation timers, for which 3 s is an allowance, not a measured bound."""
QUIET_AFTER = 2.0
"""Seconds to keep recording after the last expected notification, to catch late duplicates."""
KILL_DELAY = 1.0
"""Seconds from the last tier-1 arrival to the leader's SIGKILL at least: time for the leader
to record the outcome of that send."""
KILL_LEAD = 1.5
"""Seconds before the first tier 2 is due that the leader is killed, so that the tier-2 sends
fall due while no node leads (the leader lease lasts lease_ttl after the kill)."""


# Fixtures


@pytest.fixture(scope="module")
def snmp_agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[NetSnmpAgent]]:
    """Two net-snmp agents whose dynamic value the tests set."""
    skip_unless_installed("snmpd", "snmpget")
    agents: list[NetSnmpAgent] = []
    try:
        for number in range(2):
            agent = start_snmpd(tmp_path_factory.mktemp(f"alerting-agent-{number}"))
            agents.append(agent)
            agent.set_dynamic_value("0")
        yield agents
    finally:
        for agent in agents:
            agent.stop()


@pytest.fixture(scope="module")
def recorder() -> Iterator[HookRecorder]:
    hooks = HookRecorder()
    hooks.start()
    try:
        yield hooks
    finally:
        hooks.stop()


@pytest.fixture(scope="module")
def module_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    yield from running_redis(tmp_path_factory.mktemp("alerting-redis"))


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory, snmp_agents: list[NetSnmpAgent],
         recorder: HookRecorder, module_redis: RedisServer) -> Iterator[Cluster]:
    """Three nodes with alerting on `module_redis`, started once for the module."""
    base = tmp_path_factory.mktemp("alerting-trio")
    client = redis.Redis(host=LOOPBACK, port=module_redis.port, decode_responses=True,
                         socket_timeout=2.0)
    overrides = alerting_overrides(recorder, write_token_file(base), TIMING)
    cluster = build_cluster(base, node_ids=NODE_IDS,
                            targets=spread_targets(TARGET_COUNT, snmp_agents, {}),
                            redis_section={"url": module_redis.url}, redis_client=client,
                            timing=TIMING, overrides=overrides)
    for node in cluster.nodes:
        node.environ[WEBHOOK_SECRET_VARIABLE] = WEBHOOK_SECRET
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        client.close()


@dataclass
class Scenario:
    """A settled trio at the start of one test."""

    cluster: Cluster
    agents: list[NetSnmpAgent]
    recorder: HookRecorder
    started_at: float = field(default_factory=time.time)
    case: int = 0
    """N of the rule CaseN that the test made fire."""

    @property
    def groups(self) -> dict[str, str]:
        """Target -> its group key, for the case the test set."""
        return {name: group_key(self.case, name) for name in sorted(self.cluster.target_names)}

    def fire(self, case: int) -> None:
        """Make rule Case<case> fire on every target."""
        self.case = case
        set_case(self.agents, case)

    def fire_and_list(self, case: int) -> NodeProcess:
        """Make rule Case<case> fire on every target and wait until the leader's alerts API
        lists every one of its alerts as firing; return the leader."""
        self.fire(case)
        leader = self.leader()
        wait_for(lambda: len(alert_fingerprints(leader, f"Case{case}")) == TARGET_COUNT,
                 FIRE_TIMEOUT, f"every Case{case} alert to fire", self.describe)
        return leader

    def deliveries(self) -> list[Delivery]:
        return self.recorder.deliveries(f"case{self.case}")

    def wait_tiers(self, tiers: tuple[int, ...], timeout: float) -> None:
        """Wait until every group of the case got a `firing` notification of each of `tiers`."""
        expected = {(key, tier) for key in self.groups.values() for tier in tiers}

        def arrived() -> bool:
            seen = {(item.group_key, item.tier) for item in self.deliveries()
                    if item.event == "firing"}
            return expected <= seen

        wait_for(arrived, timeout, f"tiers {tiers} of every case{self.case} group",
                 self.describe)

    def leader(self) -> NodeProcess:
        """The node that GET /cluster of a live node names as the leader."""
        for node in self.cluster.live_nodes():
            leader_id = node.cluster_status().get("leader")
            if leader_id:
                return self.cluster.node(str(leader_id))
        raise AssertionError(f"no live node names a leader\n{self.describe()}")

    def followers(self) -> list[NodeProcess]:
        leader = self.leader()
        return [node for node in self.cluster.live_nodes() if node is not leader]

    def owned_by(self, node: NodeProcess) -> set[str]:
        """The targets whose lease `node` holds now."""
        return {target for target, owner in self.cluster.lease_owners().items()
                if owner == node.node_id}

    def claimed_entries(self) -> int:
        """Outbox entries claimed for a send whose outcome is not recorded yet."""
        return int(self.cluster.redis_client.zcard(
            self.cluster.keys_base + "alerts:outbox:claimed"))

    def kill(self, node: NodeProcess) -> float:
        killed_at = time.time()
        node.kill()
        return killed_at

    def check_no_crash(self) -> None:
        crashes = find_crashes(self.cluster.nodes, self.started_at)
        assert not crashes, "\n".join(crashes)

    def describe(self) -> str:
        """The case's notifications and the cluster's state, for a failure message."""
        lines = [f"case{self.case} notifications:"]
        lines += [str(item) for item in self.deliveries()]
        lines.append(self.cluster.describe())
        return "\n".join(lines)


@pytest.fixture
def scenario(trio: Cluster, snmp_agents: list[NetSnmpAgent],
             recorder: HookRecorder) -> Scenario:
    """The module's trio with every node running again, settled."""
    for node in trio.nodes:
        if not node.is_running:
            node.start()
    trio.wait_settled(SETTLE_TIMEOUT)
    return Scenario(trio, snmp_agents, recorder)


def report(capsys: pytest.CaptureFixture[str], text: str) -> None:
    """Print a measurement into the test output, also when the test passes."""
    with capsys.disabled():
        print(f"\n[cluster alerting] {text}")


def expected_tiers(scenario: Scenario, tiers: tuple[int, ...] = (1, 2, 3)
                   ) -> set[tuple[str, int, str]]:
    """(group key, tier, path) of every notification the escalation of the case sends."""
    return {(key, tier, f"/hooks/{RECEIVERS[tier - 1]}")
            for key in scenario.groups.values() for tier in tiers}


def duplicates(deliveries: list[Delivery]) -> dict[tuple[str, int, str], int]:
    return {key: count for key, count in tier_counts(deliveries).items() if count > 1}


# Tests


@pytest.mark.timeout(90)
def test_steady_state_one_notification_per_tier(scenario: Scenario,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    scenario.fire(1)
    scenario.wait_tiers((1, 2, 3), FIRE_TIMEOUT + TIER_AFTER[-1] + TIER_MARGIN)
    time.sleep(QUIET_AFTER)

    deliveries = scenario.deliveries()
    counts = tier_counts(deliveries)
    assert duplicates(deliveries) == {}
    assert expected_tiers(scenario) - set(counts) == set()
    assert set(counts) - expected_tiers(scenario) == set()
    assert [str(item) for item in deliveries if not item.signed] == []

    first = first_arrivals(deliveries, 1)
    lateness = []
    for tier in (2, 3):
        for key, arrived in first_arrivals(deliveries, tier).items():
            lateness.append(arrived - first[key] - TIER_AFTER[tier - 1])
    report(capsys, f"steady state: {len(deliveries)} notifications; tiers 2 and 3 arrived "
           f"{min(lateness):+.3f} to {max(lateness):+.3f} s from their due time")
    assert min(lateness) >= -0.5
    assert max(lateness) <= TIER_MARGIN
    scenario.check_no_crash()


@pytest.mark.timeout(90)
def test_leader_sigkill_escalation_continues(scenario: Scenario,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    scenario.fire(2)
    scenario.wait_tiers((1,), FIRE_TIMEOUT)
    first = first_arrivals(scenario.deliveries(), 1)
    # The kill falls between sends: no outbox entry is claimed (every tier-1 send has its
    # outcome recorded) and tier 2 is not due yet. So no send is cut between the receiver's
    # response and its record, the one documented duplicate window, and the test allows no
    # duplicate at all. NOTE: an entry claimed in the milliseconds between the check and the
    # SIGKILL would reopen the window; nothing is due then, so none is expected.
    kill_at = max(max(first.values()) + KILL_DELAY, min(first.values()) + TIER_AFTER[1] - KILL_LEAD)
    time.sleep(max(0.0, kill_at - time.time()))
    wait_for(lambda: scenario.claimed_entries() == 0, 1.0, "the outbox to have no claimed entry",
             scenario.describe)
    victim = scenario.leader()
    killed_at = scenario.kill(victim)
    assert killed_at < min(first.values()) + TIER_AFTER[1], "tier 2 was due before the kill"

    scenario.wait_tiers((2, 3), TIER_AFTER[-1] + FAILOVER_MARGIN + 5.0)
    time.sleep(QUIET_AFTER)

    deliveries = scenario.deliveries()
    lateness = {}
    for tier in (2, 3):
        for key, arrived in first_arrivals(deliveries, tier).items():
            lateness[(key, tier)] = arrived - first[key] - TIER_AFTER[tier - 1]
    worst = max(lateness.values())
    successor = scenario.leader()
    tier_2 = [late for (_key, tier), late in lateness.items() if tier == 2]
    report(capsys, f"leader {victim.node_id} killed {killed_at - min(first.values()):.2f} s "
           f"after the first tier 1; {successor.node_id} leads; tier 2 arrived "
           f"{min(tier_2):.3f} to {max(tier_2):.3f} s after its due time, tiers 2 and 3 at "
           f"most {worst:.3f} s (bound {FAILOVER_MARGIN:.2f} s)")
    assert successor is not victim
    assert worst <= FAILOVER_MARGIN
    assert duplicates(deliveries) == {}
    assert expected_tiers(scenario) - set(tier_counts(deliveries)) == set()
    assert [str(item) for item in deliveries if item.event == "resolved"] == []
    scenario.check_no_crash()


@pytest.mark.timeout(90)
def test_follower_sigkill_alerts_stay_firing(scenario: Scenario,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    trio = scenario.cluster
    scenario.fire(3)
    scenario.wait_tiers((1,), FIRE_TIMEOUT)
    victim = max(scenario.followers(), key=lambda node: len(scenario.owned_by(node)))
    moved = scenario.owned_by(victim)
    assert moved, f"{victim.node_id} holds no target lease"

    killed_at = scenario.kill(victim)
    wait_for(lambda: set(trio.lease_owners()) == trio.target_names
             and victim.node_id not in trio.lease_owners().values(),
             TIMING.failover_bound + 5.0, "the victim's targets to move", trio.describe)
    moved_at = time.time()
    # The restarted node takes its targets back after its join delay, from nodes that live on:
    # the second move is the one where an owner that lost a target could resolve its alerts.
    victim.start()
    trio.wait_settled(SETTLE_TIMEOUT)
    # Its node id and so its assignment are the same, but a target drains before it moves.
    wait_for(lambda: moved <= scenario.owned_by(victim), SETTLE_TIMEOUT,
             "the restarted node to hold its targets again", trio.describe)
    returned_at = time.time()
    scenario.wait_tiers((1, 2, 3), TIER_AFTER[-1] + TIER_MARGIN + 5.0)
    # The restarted node has evaluated each returned target at least twice.
    time.sleep(max(QUIET_AFTER, returned_at + 2 * TIMING.interval + 1.0 - time.time()))

    moved_groups = {scenario.groups[target] for target in moved}
    deliveries = [item for item in scenario.deliveries() if item.group_key in moved_groups]
    report(capsys, f"follower {victim.node_id} killed; {len(moved)} targets moved within "
           f"{moved_at - killed_at:.2f} s, and back {returned_at - moved_at:.2f} s later; "
           f"{len(deliveries)} notifications for their groups")
    assert [str(item) for item in deliveries if item.event == "resolved"] == []
    assert duplicates(deliveries) == {}

    leader = scenario.leader()
    reply = api_request(leader, "GET", "alerts?rule=Case3&state=all")
    assert reply.status == 200, reply.document
    episodes = {alert["labels"]["target"]: (alert["state"], alert["episode"])
                for alert in reply.document["alerts"]}
    assert {target: episodes.get(target) for target in moved} == \
        {target: ("firing", 1) for target in moved}
    scenario.check_no_crash()


@pytest.mark.timeout(60)
def test_alerts_api_same_on_every_node(scenario: Scenario) -> None:
    leader = scenario.fire_and_list(4)

    listed = {node.node_id: alert_fingerprints(node, "Case4") for node in scenario.cluster.nodes}
    for node_id, fingerprints in listed.items():
        assert fingerprints == listed[leader.node_id], f"{node_id} lists other alerts"

    writer, reader = scenario.followers()
    created = api_request(writer, "POST", "silences", {
        "matchers": 'rule="Case4", target="t00"', "created_by": "cluster-test",
        "comment": "silence made through a follower", "duration": "10m"})
    assert created.status == 201, created.document
    silence_id = created.document["silence"]["id"]
    try:
        for node in (leader, reader):
            reply = api_request(node, "GET", f"silences/{silence_id}")
            assert reply.status == 200, f"{node.node_id}: {reply.document}"
            assert reply.document["silence"]["created_by"] == "cluster-test"
    finally:
        api_request(reader, "DELETE", f"silences/{silence_id}?by=cluster-test")
    scenario.check_no_crash()


@pytest.mark.timeout(60)
def test_follower_metrics_leave_out_alert_counts(scenario: Scenario) -> None:
    leader = scenario.fire_and_list(5)

    # The alerts API and /metrics are read at different moments, so the gauge gets a moment to
    # catch up.
    wait_for(lambda: family_sum(leader.metrics(), "snmpd_ng_alerts", state="firing")
             >= TARGET_COUNT, 5.0, "the leader's snmpd_ng_alerts to count the alerts")
    for node in scenario.followers():
        firing = family_sum(node.metrics(), "snmpd_ng_alerts", state="firing")
        assert firing == 0, f"{node.node_id} exports {firing} firing alerts"
        queued = family_sum(node.metrics(), "snmpd_ng_alert_outbox_depth")
        assert queued == 0, f"{node.node_id} exports an outbox depth of {queued}"
    scenario.check_no_crash()
