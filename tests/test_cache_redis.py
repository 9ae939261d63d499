"""RedisCache (snmpd_ng.cache.redis) on a real Redis: entries, TTLs, invalidation, two nodes
sharing one Redis, local copies and their invalidation by pub/sub, and Redis outages.

Each test uses its own key prefix on the session's Redis, or a Redis of its own (`own_redis`)
when it stops the server. Redis owns the TTL clock, so the TTL tests wait for real, under a
second.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from cache_values import sample_lookup, sample_result, sample_table
from redis.asyncio import Redis
from redisfix import RedisClusterDeployment, RedisServer, SentinelDeployment
from structlog.testing import capture_logs

from snmpd_ng.cache import redis as cache_redis
from snmpd_ng.cache.base import CacheKey
from snmpd_ng.cache.codec import CODEC_VERSION
from snmpd_ng.cache.redis import RedisCache
from snmpd_ng.clock import LoopClock
from snmpd_ng.cluster.keys import FIELD_SEPARATOR, Keys
from snmpd_ng.cluster.redis_conn import open_redis
from snmpd_ng.cluster.settings import RedisSettings
from snmpd_ng.polling.result import PollResult

JOB = CacheKey("r1", "job", "if")
TABLE = CacheKey("r1", "table", "if/ifTable")
LOOKUP = CacheKey("r1", "lookup", "1.3.6.1.2.1.31.1.1.1.1")
OTHER = CacheKey("r2", "job", "if")
MARKER = CacheKey("marker", "job", "m")
WAIT_TIMEOUT = 10.0
"""Seconds a test waits for the listener to see a message or to subscribe again."""

_prefixes = itertools.count()


@pytest.fixture
def keys(request: pytest.FixtureRequest) -> Keys:
    """A key prefix of the test's own on the shared Redis."""
    return Keys(f"test-cache-{request.node.name}-{next(_prefixes)}")


def client_for(server: RedisServer) -> Redis:
    client = open_redis(RedisSettings(url=server.url, connect_timeout=0.5,
                                      command_timeout=0.5))
    assert isinstance(client, Redis)
    return client


@asynccontextmanager
async def node(server: RedisServer, keys: Keys, owned: set[str], *, local_cache: bool = True,
               start: bool = True) -> AsyncIterator[RedisCache]:
    """A RedisCache as one node runs it: its own client, owning the targets in `owned` and the
    marker target of `wait_until_handled`."""
    client = client_for(server)
    owned = {*owned, MARKER.target}
    cache = RedisCache(client, keys, LoopClock(), is_owned=owned.__contains__,
                       local_cache=local_cache, timeout=0.5)
    try:
        if start:
            await cache.start()
            await wait_for(lambda: cache.is_subscribed)
        yield cache
    finally:
        await cache.stop()
        await client.aclose()


async def wait_for(condition: Callable[[], bool]) -> None:
    """Wait until `condition()` holds; the listener runs on real I/O, so there is no clock to
    advance."""
    deadline = asyncio.get_running_loop().time() + WAIT_TIMEOUT
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def wait_until_handled(cache: RedisCache, raw: Redis, keys: Keys) -> None:
    """Wait until the listener has handled every message published before this call.

    Messages arrive in order, so the drop of a marker copy, published now, comes after them.
    """
    copies = cache.stats().entries
    await cache.put(MARKER, sample_lookup(), 60.0)
    assert cache.stats().entries == copies + 1
    await raw.publish(keys.cache_channel, FIELD_SEPARATOR.join(MARKER))
    await wait_for(lambda: cache.stats().entries == copies)


# Entries


async def test_put_get_round_trip(redis_server: RedisServer, keys: Keys) -> None:
    async with node(redis_server, keys, set()) as cache:
        await cache.put(JOB, sample_result(), 60.0)
        entry = await cache.get(JOB)

    assert entry is not None
    result = entry.value
    assert isinstance(result, PollResult)
    assert result.target == "r1"
    assert result.tables[0].row_labels == sample_table().row_labels
    assert entry.slow is False
    assert entry.expires_at - entry.stored_at == pytest.approx(60.0, abs=1e-3)


async def test_get_missing_key_is_miss(redis_server: RedisServer, keys: Keys) -> None:
    async with node(redis_server, keys, set()) as cache:
        assert await cache.get(JOB) is None
        stats = cache.stats()
    assert stats.misses == 1
    assert stats.hits == 0


async def test_put_sets_ttl_and_index(redis_server: RedisServer, keys: Keys) -> None:
    raw = client_for(redis_server)
    async with node(redis_server, keys, set()) as cache:
        await cache.put(JOB, sample_result(), 60.0)
        await cache.put(TABLE, sample_table(), 3600.0, slow=True)

    name = keys.cache(*JOB)
    assert 59_000 < await raw.pttl(name) <= 60_000
    assert await raw.smembers(keys.cache_index("r1")) == {
        name.encode(), keys.cache(*TABLE).encode()}
    assert 3_599_000 < await raw.pttl(keys.cache_index("r1")) <= 3_600_000
    await raw.aclose()


async def test_entry_expires_after_ttl(redis_server: RedisServer, keys: Keys) -> None:
    async with node(redis_server, keys, set()) as cache:
        await cache.put(JOB, sample_result(), 0.2)
        assert await cache.get(JOB) is not None
        await asyncio.sleep(0.3)
        assert await cache.get(JOB) is None


async def test_local_copy_expires_after_ttl(redis_server: RedisServer, keys: Keys) -> None:
    async with node(redis_server, keys, {"r1"}) as cache:
        await cache.put(JOB, sample_result(), 0.2)
        assert await cache.get(JOB) is not None
        await asyncio.sleep(0.3)
        assert await cache.get(JOB) is None
        stats = cache.stats()
    assert stats.local_hits == 1
    assert stats.expired == 1


async def test_target_keys_lists_index(redis_server: RedisServer, keys: Keys) -> None:
    async with node(redis_server, keys, set()) as cache:
        await cache.put(JOB, sample_result(), 60.0)
        await cache.put(LOOKUP, sample_lookup(), 60.0, slow=True)
        await cache.put(OTHER, sample_result("r2"), 60.0)
        listed = await cache.target_keys("r1")
    assert listed == sorted([JOB, LOOKUP])


# Invalidation


async def fill(cache: RedisCache) -> None:
    await cache.put(JOB, sample_result(), 60.0)
    await cache.put(TABLE, sample_table(), 3600.0, slow=True)
    await cache.put(LOOKUP, sample_lookup(), 3600.0, slow=True)
    await cache.put(OTHER, sample_result("r2"), 60.0)


@pytest.mark.parametrize("owned", [set(), {"r1", "r2"}], ids=["remote", "owner"])
async def test_invalidate_target_removes_all(redis_server: RedisServer, keys: Keys,
                                             owned: set[str]) -> None:
    async with node(redis_server, keys, owned) as cache:
        await fill(cache)
        removed = await cache.invalidate_target("r1", slow_only=False)

        assert removed == 3
        for key in (JOB, TABLE, LOOKUP):
            assert await cache.get(key) is None, key
        assert await cache.get(OTHER) is not None
        assert await cache.target_keys("r1") == []
        assert cache.stats().invalidated == 3


@pytest.mark.parametrize("owned", [set(), {"r1", "r2"}], ids=["remote", "owner"])
async def test_invalidate_target_slow_only(redis_server: RedisServer, keys: Keys,
                                           owned: set[str]) -> None:
    async with node(redis_server, keys, owned) as cache:
        await fill(cache)
        removed = await cache.invalidate_target("r1", slow_only=True)

        assert removed == 2
        assert await cache.get(JOB) is not None
        assert await cache.get(TABLE) is None
        assert await cache.get(LOOKUP) is None
        assert await cache.target_keys("r1") == [JOB]


async def test_invalidate_unknown_target_removes_nothing(redis_server: RedisServer,
                                                         keys: Keys) -> None:
    async with node(redis_server, keys, set()) as cache:
        assert await cache.invalidate_target("nowhere", slow_only=False) == 0


async def test_invalidate_drops_expired_index_members(redis_server: RedisServer,
                                                      keys: Keys) -> None:
    raw = client_for(redis_server)
    async with node(redis_server, keys, set()) as cache:
        await cache.put(JOB, sample_result(), 60.0)
        await raw.delete(keys.cache(*JOB))
        assert await cache.invalidate_target("r1", slow_only=True) == 0
    assert await raw.smembers(keys.cache_index("r1")) == set()
    await raw.aclose()


# Two nodes on one Redis


async def test_owner_write_read_by_other_node(redis_server: RedisServer, keys: Keys) -> None:
    async with node(redis_server, keys, {"r1"}) as owner, \
            node(redis_server, keys, set()) as other:
        await owner.put(JOB, sample_result(uptime=1), 60.0)
        first = await other.get(JOB)
        await owner.put(JOB, sample_result(uptime=2), 60.0)
        second = await other.get(JOB)
        other_stats = other.stats()

    assert first is not None
    assert second is not None
    assert uptime_of(first.value) == 1
    assert uptime_of(second.value) == 2
    assert other_stats.entries == 0
    assert other_stats.local_hits == 0


def uptime_of(result: Any) -> int:
    return int(result.scalars.varbinds[1].value)


async def test_owner_copy_served_without_redis(redis_server: RedisServer, keys: Keys) -> None:
    raw = client_for(redis_server)
    async with node(redis_server, keys, {"r1"}) as owner:
        await owner.put(JOB, sample_result(), 60.0)
        # Removed behind the cache's back, without a message: only the local copy has it.
        await raw.delete(keys.cache(*JOB))
        entry = await owner.get(JOB)
        stats = owner.stats()

    assert entry is not None
    assert stats.local_hits == 1
    assert stats.hits == 1
    assert stats.entries == 1
    await raw.aclose()


async def test_owner_reads_through_and_keeps_copy(redis_server: RedisServer,
                                                  keys: Keys) -> None:
    raw = client_for(redis_server)
    async with node(redis_server, keys, set()) as writer, \
            node(redis_server, keys, {"r1"}) as owner:
        await writer.put(JOB, sample_result(), 60.0)
        await wait_until_handled(owner, raw, keys)
        assert await owner.get(JOB) is not None
        assert await owner.get(JOB) is not None
        stats = owner.stats()
    assert stats.hits == 2
    assert stats.local_hits == 1
    await raw.aclose()


async def test_local_cache_off_reads_redis(redis_server: RedisServer, keys: Keys) -> None:
    raw = client_for(redis_server)
    async with node(redis_server, keys, {"r1"}, local_cache=False) as owner:
        await owner.put(JOB, sample_result(), 60.0)
        await raw.delete(keys.cache(*JOB))
        assert await owner.get(JOB) is None
        assert owner.stats().entries == 0
    await raw.aclose()


async def test_no_copies_before_start(redis_server: RedisServer, keys: Keys) -> None:
    async with node(redis_server, keys, {"r1"}, start=False) as owner:
        await owner.put(JOB, sample_result(), 60.0)
        assert owner.stats().entries == 0
        assert await owner.get(JOB) is not None
        assert owner.stats().entries == 0


async def test_drop_local_forgets_target(redis_server: RedisServer, keys: Keys) -> None:
    async with node(redis_server, keys, {"r1", "r2"}) as owner:
        await fill(owner)
        owner.drop_local("r1")
        assert owner.stats().entries == 1
        assert await owner.get(JOB) is not None
        assert owner.stats().local_hits == 0


async def test_stop_drops_copies(redis_server: RedisServer, keys: Keys) -> None:
    async with node(redis_server, keys, {"r1"}) as owner:
        await owner.put(JOB, sample_result(), 60.0)
        await owner.stop()
        assert owner.stats().entries == 0
        assert owner.is_subscribed is False


# Pub/sub


async def test_message_for_key_drops_copy(redis_server: RedisServer, keys: Keys) -> None:
    raw = client_for(redis_server)
    async with node(redis_server, keys, {"r1"}) as owner:
        await owner.put(JOB, sample_result(), 60.0)
        await owner.put(TABLE, sample_table(), 60.0, slow=True)
        await raw.publish(keys.cache_channel, FIELD_SEPARATOR.join(JOB))
        await wait_for(lambda: owner.stats().entries == 1)

        assert await owner.get(JOB) is not None
        assert owner.stats().local_hits == 0
    await raw.aclose()


async def test_message_for_target_drops_its_copies(redis_server: RedisServer,
                                                   keys: Keys) -> None:
    raw = client_for(redis_server)
    async with node(redis_server, keys, {"r1", "r2"}) as owner:
        await fill(owner)
        await raw.publish(keys.cache_channel, "r1")
        await wait_for(lambda: owner.stats().entries == 1)
        assert await owner.get(OTHER) is not None
        assert owner.stats().local_hits == 1
    await raw.aclose()


async def test_own_message_keeps_copy(redis_server: RedisServer, keys: Keys) -> None:
    raw = client_for(redis_server)
    async with node(redis_server, keys, {"r1"}) as owner:
        await owner.put(JOB, sample_result(), 60.0)
        await wait_until_handled(owner, raw, keys)
        assert await owner.get(JOB) is not None
        assert owner.stats().local_hits == 1
    await raw.aclose()


async def test_second_writer_drops_owner_copy(redis_server: RedisServer, keys: Keys) -> None:
    # Two nodes that both believe they own r1, as for a moment during a handover.
    async with node(redis_server, keys, {"r1"}) as owner, \
            node(redis_server, keys, {"r1"}) as newcomer:
        await owner.put(JOB, sample_result(uptime=1), 60.0)
        await newcomer.put(JOB, sample_result(uptime=2), 60.0)
        await wait_for(lambda: owner.stats().entries == 0)
        entry = await owner.get(JOB)
    assert entry is not None
    assert uptime_of(entry.value) == 2


async def test_malformed_message_logged(redis_server: RedisServer, keys: Keys) -> None:
    raw = client_for(redis_server)
    async with node(redis_server, keys, {"r1"}) as owner:
        with capture_logs() as logs:
            await raw.publish(keys.cache_channel, f"a{FIELD_SEPARATOR}b")
            await wait_until_handled(owner, raw, keys)
        assert owner.is_subscribed
    events = [entry["event"] for entry in logs]
    assert "cache invalidation message malformed" in events
    await raw.aclose()


# Payloads another writer stored


async def test_undecodable_entry_is_miss(redis_server: RedisServer, keys: Keys) -> None:
    raw = client_for(redis_server)
    await raw.set(keys.cache(*JOB), b"\x80\x04pickle")
    await raw.set(keys.cache(*TABLE), f'{{"v": {CODEC_VERSION + 1}}}'.encode())
    async with node(redis_server, keys, {"r1"}) as owner:
        with capture_logs() as logs:
            assert await owner.get(JOB) is None
            assert await owner.get(TABLE) is None
        stats = owner.stats()

    assert stats.decode_errors == 2
    assert stats.misses == 2
    assert stats.entries == 0
    warning = next(entry for entry in logs if entry["event"] == "cache entry undecodable")
    assert warning["key"] == keys.cache(*JOB)
    assert "invalid JSON" in warning["error"]
    await raw.aclose()


async def test_put_of_unknown_type_counted(redis_server: RedisServer, keys: Keys) -> None:
    async with node(redis_server, keys, {"r1"}) as owner:
        with capture_logs() as logs:
            await owner.put(JOB, {"not": "cacheable"}, 60.0)
        assert owner.stats().write_errors == 1
        assert await owner.get(JOB) is None
    [error] = [entry for entry in logs if entry["event"] == "cache entry not encodable"]
    assert error["log_level"] == "error"
    assert "cannot encode a dict" in error["error"]


# Redis outages


async def test_redis_killed_get_misses_put_counted(own_redis: RedisServer, keys: Keys) -> None:
    async with node(own_redis, keys, {"r1"}) as owner:
        await owner.put(JOB, sample_result(), 60.0)
        own_redis.kill()

        assert await owner.get(OTHER) is None
        await owner.put(OTHER, sample_result("r2"), 60.0)
        assert await owner.invalidate_target("r2", slow_only=False) == 0
        assert await owner.target_keys("r2") is None
        await wait_for(lambda: not owner.is_subscribed)
        assert await owner.get(JOB) is None
        stats = owner.stats()

    assert stats.read_errors == 3
    assert stats.write_errors == 2
    assert stats.misses == 2
    assert stats.entries == 0


async def test_redis_back_works_without_restart(own_redis: RedisServer, keys: Keys) -> None:
    async with node(own_redis, keys, {"r1"}) as owner:
        own_redis.kill()
        await wait_for(lambda: not owner.is_subscribed)
        await owner.put(JOB, sample_result(), 60.0)
        assert owner.stats().write_errors == 1

        own_redis.start()
        await wait_for(lambda: owner.is_subscribed)
        await owner.put(JOB, sample_result(), 60.0)
        assert await owner.get(JOB) is not None
        assert owner.stats().local_hits == 1
        assert owner.stats().write_errors == 1


async def test_reconnect_drops_copies(own_redis: RedisServer, keys: Keys) -> None:
    async with node(own_redis, keys, {"r1"}) as owner:
        await owner.put(JOB, sample_result(), 60.0)
        own_redis.stop()
        own_redis.start()
        await wait_for(lambda: owner.stats().entries == 0)
        await wait_for(lambda: owner.is_subscribed)

        # The entry survived the restart in Redis's append-only file.
        assert await owner.get(JOB) is not None
        assert owner.stats().local_hits == 0


# Other Redis deployments


async def test_redis_cluster_entries_and_messages(redis_cluster: RedisClusterDeployment,
                                                  keys: Keys) -> None:
    settings = RedisSettings(url=redis_cluster.url, cluster=True, connect_timeout=0.5,
                             command_timeout=0.5)
    clients = [open_redis(settings), open_redis(settings)]
    owner, other = (RedisCache(client, keys, LoopClock(), is_owned={"r1"}.__contains__,
                               timeout=0.5) for client in clients)
    try:
        await owner.start()
        await other.start()
        await wait_for(lambda: owner.is_subscribed and other.is_subscribed)

        await fill(owner)
        assert await other.get(JOB) is not None
        assert other.stats().entries == 1
        await owner.put(JOB, sample_result(uptime=2), 60.0)
        await wait_for(lambda: other.stats().entries == 0)
        entry = await other.get(JOB)
        assert entry is not None
        assert uptime_of(entry.value) == 2
        assert await owner.invalidate_target("r1", slow_only=True) == 2
        assert await other.target_keys("r1") == [JOB]
    finally:
        for cache in (owner, other):
            await cache.stop()
        for client in clients:
            await client.aclose()


async def test_sentinel_master_killed_cache_recovers(redis_sentinel: SentinelDeployment,
                                                     keys: Keys) -> None:
    settings = RedisSettings(sentinels=redis_sentinel.sentinel_addresses,
                             service_name=redis_sentinel.service_name, connect_timeout=0.5,
                             command_timeout=0.5)
    client = open_redis(settings)
    cache = RedisCache(client, keys, LoopClock(), is_owned={"r1"}.__contains__, timeout=0.5)
    try:
        await cache.start()
        await wait_for(lambda: cache.is_subscribed)
        await cache.put(JOB, sample_result(), 60.0)
        assert cache.stats().entries == 1

        await asyncio.to_thread(redis_sentinel.kill_master)
        await wait_for(lambda: cache.stats().entries == 0)
        await wait_for(lambda: cache.is_subscribed)
        await wait_for_write(cache, TABLE)

        assert await cache.get(TABLE) is not None
        assert cache.stats().local_hits == 1
    finally:
        await cache.stop()
        await client.aclose()


async def wait_for_write(cache: RedisCache, key: CacheKey) -> None:
    """Put until a write succeeds, as the pollers would at each poll."""
    deadline = asyncio.get_running_loop().time() + WAIT_TIMEOUT
    errors = cache.stats().write_errors
    while True:
        await cache.put(key, sample_table(), 60.0, slow=True)
        if cache.stats().write_errors == errors:
            return
        errors = cache.stats().write_errors
        assert asyncio.get_running_loop().time() < deadline, "no write succeeded in time"
        await asyncio.sleep(0.05)


async def test_silent_redis_detected_by_ping(own_redis: RedisServer, keys: Keys,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # SIGSTOP keeps the connection open but leaves every PING unanswered, as a network
    # partition without a reset would.
    monkeypatch.setattr(cache_redis, "PING_INTERVAL", 0.05)
    monkeypatch.setattr(cache_redis, "PING_TIMEOUT", 0.3)
    async with node(own_redis, keys, {"r1"}) as owner:
        await owner.put(JOB, sample_result(), 60.0)
        await asyncio.sleep(0.5)
        assert owner.is_subscribed
        assert owner.stats().entries == 1

        assert own_redis.process is not None
        own_redis.process.send_signal(signal.SIGSTOP)
        try:
            await wait_for(lambda: not owner.is_subscribed)
            assert owner.stats().entries == 0
        finally:
            own_redis.process.send_signal(signal.SIGCONT)
        await wait_for(lambda: owner.is_subscribed)


# Fencing


@asynccontextmanager
async def fenced_cache(server: RedisServer, keys: Keys,
                       lease: str | None) -> AsyncIterator[RedisCache]:
    """A cache whose writes are fenced by `lease`, the lease value this node believes it holds."""
    client = client_for(server)
    try:
        yield RedisCache(client, keys, LoopClock(), is_owned=lambda target: True,
                         local_cache=False, timeout=0.5, fence=lambda target: lease)
    finally:
        await client.aclose()


async def test_fenced_write_made_while_lease_holds(redis_server: RedisServer,
                                                   keys: Keys) -> None:
    raw = client_for(redis_server)
    await raw.set(keys.lease(JOB.target), "node-a 3")
    async with fenced_cache(redis_server, keys, "node-a 3") as cache:
        await cache.put(JOB, sample_result(), 60.0)

    assert await raw.exists(keys.cache(*JOB)) == 1
    await raw.aclose()


async def test_fenced_write_rejected_after_lease_passed_on(redis_server: RedisServer,
                                                           keys: Keys) -> None:
    raw = client_for(redis_server)
    await raw.set(keys.lease(JOB.target), "node-b 4")
    async with fenced_cache(redis_server, keys, "node-a 3") as cache:
        await cache.put(JOB, sample_result(), 60.0)

    assert (await raw.exists(keys.cache(*JOB)), cache.fenced_writes) == (0, 1)
    await raw.aclose()


async def test_fenced_write_skipped_without_lease(redis_server: RedisServer,
                                                  keys: Keys) -> None:
    raw = client_for(redis_server)
    async with fenced_cache(redis_server, keys, None) as cache:
        await cache.put(JOB, sample_result(), 60.0)

    assert (await raw.exists(keys.cache(*JOB)), cache.fenced_writes) == (0, 1)
    await raw.aclose()
