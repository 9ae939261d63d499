"""Rule state in Redis (snmpd_ng.cluster.rule_state) and its sync with the rules engine
(snmpd_ng.alerting.rule_sync), on a real redis-server.

Lease keys are set by hand with the values ClusterNode writes ("<node> <token>"), which stands
for the lease script handing a target from node A to node B. Each test uses its own key prefix
on the session's Redis, or a Redis of its own (`own_redis`) when it stops the server.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable

import pytest
from fakes import FakeClock
from redis.asyncio import Redis
from redisfix import RedisServer
from structlog.testing import capture_logs

from snmpd_ng.alerting.rule_sync import RuleStateSync
from snmpd_ng.alerting.rules import Rule, RulesEngine, RuleSignal
from snmpd_ng.alerting.rules.handoff import STATE_VERSION
from snmpd_ng.alerting.series import Sample
from snmpd_ng.cluster import rule_state
from snmpd_ng.cluster.keys import Keys
from snmpd_ng.cluster.redis_conn import open_redis
from snmpd_ng.cluster.rule_state import RuleStateStore
from snmpd_ng.cluster.settings import RedisSettings

TTL = 60.0
TARGET = "core1"
LEASE_A = "node-a 1"
LEASE_B = "node-b 2"
FAST = Rule.build("Fast", "rate(ifInOctets) > 150")
WAIT_TIMEOUT = 10.0
"""Seconds a test waits for a save that runs on real Redis I/O."""

_prefixes = itertools.count()


@pytest.fixture
def keys(request: pytest.FixtureRequest) -> Keys:
    return Keys(f"test-rule-state-{request.node.name}-{next(_prefixes)}")


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    redis = client_for(redis_server)
    yield redis
    await redis.aclose()


def client_for(server: RedisServer) -> Redis:
    client = open_redis(RedisSettings(url=server.url, connect_timeout=0.5, command_timeout=0.5))
    assert isinstance(client, Redis)
    return client


async def wait_for(condition: Callable[[], bool]) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_TIMEOUT
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# The store


async def test_save_writes_where_lease_holds(client: Redis, keys: Keys) -> None:
    store = RuleStateStore(client, keys, TTL)
    await client.set(keys.lease("r1"), LEASE_A)
    await client.set(keys.lease("r2"), LEASE_B)

    written = await store.save({"r1": (LEASE_A, "state-1"), "r2": (LEASE_A, "state-2")})

    assert written == 1
    assert await store.load("r1") == "state-1"
    assert await store.load("r2") is None


async def test_save_without_lease_key_not_written(client: Redis, keys: Keys) -> None:
    store = RuleStateStore(client, keys, TTL)

    written = await store.save({"r1": (LEASE_A, "state-1")})

    assert written == 0
    assert await client.exists(keys.rule_state("r1")) == 0


async def test_save_sets_ttl(client: Redis, keys: Keys) -> None:
    store = RuleStateStore(client, keys, TTL)
    await client.set(keys.lease("r1"), LEASE_A)

    await store.save({"r1": (LEASE_A, "state-1")})

    ttl_ms = await client.pttl(keys.rule_state("r1"))
    assert 0 < ttl_ms <= TTL * 1000
    assert ttl_ms > (TTL - 5) * 1000


async def test_save_more_than_one_batch(client: Redis, keys: Keys) -> None:
    store = RuleStateStore(client, keys, TTL)
    targets = [f"r{index}" for index in range(rule_state.MAX_BATCH * 2 + 3)]
    for target in targets:
        await client.set(keys.lease(target), LEASE_A)

    written = await store.save({target: (LEASE_A, f"state-{target}") for target in targets})

    assert written == len(targets)
    assert await store.load(targets[-1]) == f"state-{targets[-1]}"


async def test_load_missing_is_none(client: Redis, keys: Keys) -> None:
    store = RuleStateStore(client, keys, TTL)

    assert await store.load("r1") is None


async def test_delete_removes_state(client: Redis, keys: Keys) -> None:
    store = RuleStateStore(client, keys, TTL)
    await client.set(keys.lease("r1"), LEASE_A)
    await store.save({"r1": (LEASE_A, "state-1")})

    await store.delete("r1")

    assert await store.load("r1") is None


async def test_load_invalid_utf8_raises(client: Redis, keys: Keys) -> None:
    store = RuleStateStore(client, keys, TTL)
    await client.set(keys.rule_state("r1"), b"\xff\xfe")

    with pytest.raises(UnicodeDecodeError):
        await store.load("r1")


def test_store_rejects_zero_ttl() -> None:
    with pytest.raises(ValueError, match="TTL must be positive"):
        RuleStateStore(Redis(), Keys("unused"), 0)


# The sync


class Node:
    """A rules engine with its sync, on a fake clock, holding leases named in `leases`."""

    def __init__(self, client: Redis, keys: Keys, *, clock_start: float,
                 timeout: float = 2.0) -> None:
        self.clock = FakeClock(start=clock_start)
        self.engine = RulesEngine([FAST], self.clock)
        self.store = RuleStateStore(client, keys, TTL)
        self.leases: dict[str, str] = {}
        self.sync = RuleStateSync(self.engine, self.store, self.leases.get, self.clock,
                                  timeout=timeout)
        self.signals: list[RuleSignal] = []

    def octets(self, value: int, seconds_after: float) -> Sample:
        """A sample fetched `seconds_after` seconds after the clocks' shared Unix start."""
        at = self.clock.now() + seconds_after
        wall = self.clock.wall() + seconds_after
        return Sample("ifInOctets", {"target": TARGET, "ifIndex": "3"}, value, "counter64",
                      "counter", at, wall, at + 240.0)

    async def evaluate(self, value: int, seconds_after: float) -> None:
        """Run one result through the pipeline as the daemon does: ready, observe, mark."""
        await self.sync.ready(TARGET)
        sample = self.octets(value, seconds_after)
        self.signals += self.engine.observe([sample], now=sample.at)
        self.sync.mark(TARGET)


async def test_sync_hands_rate_over(redis_server: RedisServer, keys: Keys) -> None:
    client_a, client_b = client_for(redis_server), client_for(redis_server)
    a = Node(client_a, keys, clock_start=1000.0)
    b = Node(client_b, keys, clock_start=9000.0)
    a.leases[TARGET] = LEASE_A
    await client_a.set(keys.lease(TARGET), LEASE_A)

    await a.evaluate(0, 0.0)
    await a.evaluate(6_000, 60.0)
    saved = await a.sync.flush()
    # The lease script moves the lease: A no longer holds it, B does.
    del a.leases[TARGET]
    await client_a.set(keys.lease(TARGET), LEASE_B)
    a.sync.lost([TARGET])
    b.leases[TARGET] = LEASE_B
    b.sync.gained([TARGET])
    await b.evaluate(18_000, 120.0)
    await a.sync.stop()
    await client_a.aclose()
    await client_b.aclose()

    assert saved == 1
    assert a.engine.export_target(TARGET, a.clock.now(), a.clock.wall()) is None
    assert a.sync.fenced_skips == 1
    assert b.sync.states_imported == 1
    [fired] = b.signals
    assert fired.value == 200.0


async def test_lost_saves_while_lease_holds(client: Redis, keys: Keys) -> None:
    a = Node(client, keys, clock_start=1000.0)
    a.leases[TARGET] = LEASE_A
    await client.set(keys.lease(TARGET), LEASE_A)
    await a.evaluate(0, 0.0)

    del a.leases[TARGET]  # ClusterNode drops a lost lease before it reports the loss.
    a.sync.lost([TARGET])
    await a.sync.stop()

    assert a.sync.saves == 1
    assert await a.store.load(TARGET) is not None


async def test_flush_task_saves_each_interval(client: Redis, keys: Keys) -> None:
    a = Node(client, keys, clock_start=1000.0)
    a.leases[TARGET] = LEASE_A
    await client.set(keys.lease(TARGET), LEASE_A)
    a.sync.start()
    await a.evaluate(0, 0.0)

    await a.clock.advance(1.0)
    await wait_for(lambda: a.sync.saves == 1)
    await a.evaluate(6_000, 60.0)
    await a.sync.stop()

    assert a.sync.saves == 2


async def test_mark_without_lease_is_fenced_skip(client: Redis, keys: Keys) -> None:
    a = Node(client, keys, clock_start=1000.0)
    await a.evaluate(0, 0.0)

    written = await a.sync.flush()

    assert written == 0
    assert a.sync.fenced_skips == 1


async def test_ready_without_load_returns(client: Redis, keys: Keys) -> None:
    b = Node(client, keys, clock_start=1000.0)

    await b.sync.ready(TARGET)

    assert b.sync.loads == 0


async def test_gained_without_stored_state_starts_fresh(client: Redis, keys: Keys) -> None:
    b = Node(client, keys, clock_start=1000.0)

    b.sync.gained([TARGET])
    await b.sync.ready(TARGET)

    assert b.sync.loads == 1
    assert b.sync.states_imported == 0


@pytest.mark.parametrize(("stored", "problem"), [
    ("{not json", "not valid JSON"),
    (f'{{"version":{STATE_VERSION + 1},"target":"{TARGET}","series":[],"rules":{{}}}}',
     "format version"),
])
async def test_malformed_stored_state_counted(client: Redis, keys: Keys, stored: str,
                                              problem: str) -> None:
    b = Node(client, keys, clock_start=1000.0)
    await client.set(keys.rule_state(TARGET), stored)

    with capture_logs() as logs:
        b.sync.gained([TARGET])
        await b.sync.ready(TARGET)

    assert b.sync.load_failures == 1
    assert b.sync.states_imported == 0
    [warning] = [entry for entry in logs if entry["log_level"] == "warning"]
    assert problem in warning["error"]


async def test_mark_cancels_pending_load(client: Redis, keys: Keys) -> None:
    b = Node(client, keys, clock_start=1000.0)

    b.sync.gained([TARGET])
    b.sync.mark(TARGET)
    await b.sync.ready(TARGET)
    await b.sync.stop()

    assert b.sync.states_imported == 0


async def test_redis_stopped_counted_not_raised(own_redis: RedisServer, keys: Keys) -> None:
    client = client_for(own_redis)
    a = Node(client, keys, clock_start=1000.0, timeout=1.0)
    a.leases[TARGET] = LEASE_A
    await a.evaluate(0, 0.0)
    own_redis.stop()

    with capture_logs() as logs:
        first = await a.sync.flush()
        second = await a.sync.flush()
        a.sync.gained([TARGET])
        await a.sync.ready(TARGET)
    await client.aclose()

    assert first == second == 0
    assert a.sync.save_failures == 2
    assert a.sync.load_failures == 1
    assert a.engine.store.metric(TARGET, "ifInOctets")
    saves = [entry for entry in logs if entry["event"].startswith("rule state not saved")]
    assert len(saves) == 1
