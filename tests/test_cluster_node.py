"""Tests of the cluster node (snmpd_ng.cluster.node) against a real Redis.

Several ClusterNode objects in one process stand for several daemons. Each test uses its own key
prefix, and drives heartbeats by calling `beat()`; leases last a second or less, so expiry tests
wait for real time (Redis owns the clock of the leases).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import structlog
from redis.asyncio import Redis
from redisfix import RedisClusterDeployment, RedisServer, running_redis

from snmpd_ng.clock import LoopClock
from snmpd_ng.cluster.node import ClusterNode
from snmpd_ng.cluster.ownership import LeaseChanges
from snmpd_ng.cluster.redis_conn import open_redis
from snmpd_ng.cluster.settings import ClusterSettings, RedisSettings

TARGETS = [f"router-{i:02d}" for i in range(30)]

NodeFactory = Callable[..., ClusterNode]


@pytest.fixture
async def make_node(redis_server: RedisServer) -> AsyncIterator[NodeFactory]:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    clients: list[Redis] = []

    def make(node_id: str, *, lease_ttl: float = 1.0, join_delay: float = 0.0,
             capacity: float = 1.0, config_hash: str = "same",
             config_sections: str = "alerting=1111,jobs=2222",
             url: str = redis_server.url) -> ClusterNode:
        settings = ClusterSettings(
            redis=RedisSettings(url=url, key_prefix=prefix, connect_timeout=0.3,
                                command_timeout=0.3),
            node_id=node_id, capacity=capacity, lease_ttl=lease_ttl,
            heartbeat_interval=lease_ttl / 4, lease_margin=0.05, join_delay=join_delay,
            config_hash=config_hash, config_sections=config_sections)
        client = Redis.from_url(url, socket_connect_timeout=0.3, socket_timeout=0.3)
        clients.append(client)
        return ClusterNode(settings, node_id=node_id, targets=TARGETS, client=client,
                           clock=LoopClock())

    yield make
    for client in clients:
        await client.aclose()


async def test_single_node_takes_every_target(make_node: NodeFactory) -> None:
    node = make_node("a")

    await node.beat()

    assert node.owned() == frozenset(TARGETS)


async def test_two_nodes_split_targets_without_overlap(make_node: NodeFactory) -> None:
    a, b = make_node("a"), make_node("b")

    await a.beat()
    await b.beat()
    await a.beat()  # a sees b now and releases b's share.
    await b.beat()  # b acquires it.

    assert a.owned() | b.owned() == frozenset(TARGETS)
    assert not a.owned() & b.owned()


async def test_new_node_waits_join_delay(make_node: NodeFactory) -> None:
    a = make_node("a", join_delay=0.5)
    await a.beat()
    await asyncio.sleep(0.6)  # a is now eligible; b will not be for 0.5 s after it joins.
    b = make_node("b", join_delay=0.5)

    await b.beat()
    await a.beat()
    await b.beat()

    assert b.owned() == frozenset()


async def test_leaving_node_hands_over_at_next_beat(make_node: NodeFactory) -> None:
    a, b = make_node("a"), make_node("b")
    for node in (a, b, a, b):
        await node.beat()

    await b.stop()
    await a.beat()

    assert a.owned() == frozenset(TARGETS)


async def test_joined_node_gets_share_after_join_delay(make_node: NodeFactory) -> None:
    a = make_node("a", join_delay=0.3)
    await a.beat()
    await asyncio.sleep(0.35)
    b = make_node("b", join_delay=0.3)
    await b.beat()

    await asyncio.sleep(0.35)
    for node in (a, b):
        await node.beat()

    assert b.owned()


async def test_dead_node_targets_move_after_lease_ends(make_node: NodeFactory) -> None:
    a, b = make_node("a", lease_ttl=0.6), make_node("b", lease_ttl=0.6)
    for node in (a, b, a, b):
        await node.beat()
    b_share = b.owned()

    await asyncio.sleep(0.7)  # b stops beating: its membership and leases expire.
    await a.beat()

    assert b_share and b_share <= a.owned()


async def test_claim_refused_for_target_of_other_node(make_node: NodeFactory) -> None:
    a, b = make_node("a"), make_node("b")
    for node in (a, b, a, b):
        await node.beat()
    theirs = next(iter(b.owned()))

    assert a.claim(theirs, budget=0.1) is None


async def test_claim_refused_when_lease_shorter_than_budget(make_node: NodeFactory) -> None:
    a = make_node("a", lease_ttl=1.0)
    await a.beat()

    assert a.claim(TARGETS[0], budget=5.0) is None


async def test_commit_rejected_after_lease_passed_on(make_node: NodeFactory) -> None:
    a = make_node("a", lease_ttl=0.6)
    await a.beat()
    claim = a.claim(TARGETS[0], budget=0.1)
    assert claim is not None
    b = make_node("b", lease_ttl=0.6)

    await asyncio.sleep(0.7)  # a's lease ends; b takes the target with a new token.
    await b.beat()
    written = await a.commit(claim, {"job": "system", "slot": "1.000"})

    assert written is False


async def test_commit_written_while_lease_holds(make_node: NodeFactory) -> None:
    a = make_node("a")
    await a.beat()
    claim = a.claim(TARGETS[0], budget=0.1)
    assert claim is not None

    assert await a.commit(claim, {"job": "system", "slot": "1.000"}) is True


async def test_commit_repeated_slot_writes_one_record(make_node: NodeFactory) -> None:
    a = make_node("a")
    await a.beat()
    claim = a.claim(TARGETS[0], budget=0.1)
    assert claim is not None

    for _ in range(2):
        await a.commit(claim, {"job": "system", "slot": "1.000"})

    assert await a._client.xlen(a.keys.polls) == 1


async def test_new_holder_gets_larger_token(make_node: NodeFactory) -> None:
    a = make_node("a", lease_ttl=0.6)
    await a.beat()
    first = a.ownership.held[TARGETS[0]].token
    b = make_node("b", lease_ttl=0.6)

    await asyncio.sleep(0.7)
    await b.beat()

    assert b.ownership.held[TARGETS[0]].token > first


async def test_listener_told_of_gained_targets(make_node: NodeFactory) -> None:
    a = make_node("a")
    seen: list[LeaseChanges] = []
    a.add_listener(seen.append)

    await a.beat()

    assert seen[0].gained == frozenset(TARGETS)


async def test_config_hash_minority_is_flagged(make_node: NodeFactory) -> None:
    a, b = make_node("a"), make_node("b")
    c = make_node("c", config_hash="other")
    for node in (a, b, c):
        await node.beat()

    await c.beat()

    assert c.config_mismatch is True


async def test_config_mismatch_names_differing_sections(make_node: NodeFactory) -> None:
    a, b = make_node("a"), make_node("b")
    c = make_node("c", config_hash="other", config_sections="alerting=9999,jobs=2222")
    for node in (a, b):
        await node.beat()

    with structlog.testing.capture_logs() as logs:
        await c.beat()

    errors = [entry for entry in logs if entry["event"].startswith("cluster config differs")]
    assert [entry["differing_sections"] for entry in errors] == [["alerting"]]


async def test_config_hash_majority_is_not_flagged(make_node: NodeFactory) -> None:
    a, b = make_node("a"), make_node("b")
    c = make_node("c", config_hash="other")
    for node in (a, b, c):
        await node.beat()

    await a.beat()

    assert a.config_mismatch is False


async def test_duplicate_node_id_polls_nothing(make_node: NodeFactory) -> None:
    first, second = make_node("a"), make_node("a")
    await first.beat()

    await second.beat()

    assert (second.duplicate_of, second.owned()) == (first.instance, frozenset())


async def test_duplicate_node_id_leaves_first_alone(make_node: NodeFactory) -> None:
    first, second = make_node("a"), make_node("a")
    await first.beat()
    await second.beat()

    await second.stop()
    await first.beat()

    assert (first.joined, first.owned()) == (True, frozenset(TARGETS))


async def test_restarted_node_replaces_stale_instance(make_node: NodeFactory) -> None:
    crashed = make_node("a", lease_ttl=1.0)
    await crashed.beat()
    await asyncio.sleep(0.6)  # Two heartbeats (0.25 s each) without one: the process is gone.
    restarted = make_node("a", lease_ttl=1.0)

    await restarted.beat()

    assert (restarted.duplicate_of, restarted.joined) == (None, True)


async def test_first_node_becomes_leader(make_node: NodeFactory) -> None:
    a, b = make_node("a"), make_node("b")

    await a.beat()
    await b.beat()

    assert (a.is_leader, b.is_leader) == (True, False)


async def test_leader_lease_ends_on_local_clock(make_node: NodeFactory) -> None:
    leader = make_node("a", lease_ttl=0.4)
    await leader.beat()

    # No heartbeat for longer than the lease: the node must not act as leader any more,
    # even though its last reply named it.
    await asyncio.sleep(0.4)

    assert leader.is_leader is False



async def test_node_fences_itself_without_redis(tmp_path: Path,
                                                make_node: NodeFactory) -> None:
    for server in running_redis(tmp_path / "redis"):
        node = make_node("a", lease_ttl=0.6, url=server.url)
        await node.beat()
        server.kill()

        await asyncio.sleep(0.7)
        await node.beat()

        assert (node.fenced, node.owned()) == (True, frozenset())


async def test_fenced_node_rejoins_when_redis_returns(tmp_path: Path,
                                                      make_node: NodeFactory) -> None:
    for server in running_redis(tmp_path / "redis"):
        node = make_node("a", lease_ttl=0.6, url=server.url)
        await node.beat()
        server.kill()
        await asyncio.sleep(0.7)
        await node.beat()

        server.start()
        await node.beat()

        assert (node.fenced, node.owned()) == (False, frozenset(TARGETS))


@asynccontextmanager
async def nodes_on_redis_cluster(
        deployment: RedisClusterDeployment) -> AsyncIterator[list[ClusterNode]]:
    """Two nodes, a and b, on the Redis Cluster, after two heartbeats each."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    settings = {
        node_id: ClusterSettings(
            redis=RedisSettings(url=deployment.url, cluster=True, key_prefix=prefix),
            node_id=node_id, lease_ttl=1.0, heartbeat_interval=0.25, lease_margin=0.05,
            join_delay=0.0)
        for node_id in ("a", "b")
    }
    clients = {node_id: open_redis(s.redis) for node_id, s in settings.items()}
    nodes = [ClusterNode(settings[n], node_id=n, targets=TARGETS, client=clients[n],
                         clock=LoopClock()) for n in ("a", "b")]
    try:
        for node in (*nodes, *nodes):
            await node.beat()
        yield nodes
    finally:
        for client in clients.values():
            await client.aclose()


async def test_nodes_share_targets_on_redis_cluster(
        redis_cluster: RedisClusterDeployment) -> None:
    async with nodes_on_redis_cluster(redis_cluster) as nodes:
        claim = nodes[0].claim(next(iter(nodes[0].owned())), budget=0.1)
        assert claim is not None
        written = await nodes[0].commit(claim, {"job": "system", "slot": "1.000"})

        assert (nodes[0].owned() | nodes[1].owned(), written) == (frozenset(TARGETS), True)


async def test_status_read_on_redis_cluster(redis_cluster: RedisClusterDeployment) -> None:
    async with nodes_on_redis_cluster(redis_cluster) as nodes:
        await nodes[0].beat()  # b took its share after a's last read.
        snapshot = nodes[0].snapshot

    assert snapshot is not None
    assert (len(snapshot.members), snapshot.unleased_count) == (2, 0)


async def test_release_hook_runs_while_the_leases_still_hold(make_node: NodeFactory) -> None:
    a = make_node("a")
    await a.beat()
    seen: list[tuple[frozenset[str], bool]] = []

    async def hook(targets: frozenset[str]) -> None:
        target = min(targets)
        seen.append((targets, a.lease_value(target) is not None))

    a.set_release_hook(hook)
    b = make_node("b")
    for node in (b, a, b, a):
        await node.beat()

    assert seen and all(held for _, held in seen)


async def test_failing_release_hook_does_not_stop_the_release(make_node: NodeFactory) -> None:
    a = make_node("a")
    await a.beat()

    async def hook(targets: frozenset[str]) -> None:
        raise RuntimeError("hook broke")

    a.set_release_hook(hook)
    b = make_node("b")
    for node in (b, a, b, a, b):
        await node.beat()

    assert a.owned() | b.owned() == frozenset(TARGETS)
    assert not a.owned() & b.owned()


async def test_last_slot_is_the_last_recorded_poll(make_node: NodeFactory) -> None:
    a = make_node("a")
    await a.beat()
    claim = a.claim(TARGETS[0], budget=0.1)
    assert claim is not None
    for slot in ("1700000000.000", "1700000010.000"):
        await a.commit(claim, {"job": "system", "slot": slot})

    slots = await a.last_slots([(TARGETS[0], "system")])

    assert slots == {(TARGETS[0], "system"): 1700000010.0}


async def test_last_slot_unknown_without_a_record(make_node: NodeFactory) -> None:
    a = make_node("a")
    await a.beat()

    slots = await a.last_slots([(TARGETS[0], "system")])

    assert slots == {(TARGETS[0], "system"): None}


async def test_heartbeat_error_kept_until_redis_answers(make_node: NodeFactory) -> None:
    node = make_node("a", url="redis://127.0.0.1:9/0")

    await node.beat()

    assert node.last_heartbeat_error is not None
    assert "127.0.0.1:9" in node.last_heartbeat_error
