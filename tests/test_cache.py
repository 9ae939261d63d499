"""The in-process TTL cache, and slow-table caching and reboot invalidation through the poller."""

from __future__ import annotations

from fakes import FakeClock

from snmpd_ng.cache import CacheKey, MemoryCache
from snmpd_ng.cache.memory import SWEEP_INTERVAL

KEY = CacheKey("router", "job", "if")


async def test_memory_cache_returns_fresh_entry() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock)
    await cache.put(KEY, "rows", ttl=20.0)

    await clock.advance(19.9)
    entry = await cache.get(KEY)

    assert entry is not None
    assert entry.value == "rows"
    assert entry.stored_at == 1000.0


async def test_memory_cache_expires_after_ttl() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock)
    await cache.put(KEY, "rows", ttl=20.0)

    await clock.advance(20.0)

    assert await cache.get(KEY) is None
    assert cache.stats().expired == 1
    assert cache.stats().entries == 0


async def test_memory_cache_slow_entry_outlives_normal_one() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock)
    names = CacheKey("router", "lookup", "1.3.6.1.2.1.31.1.1.1.1")
    await cache.put(KEY, "counters", ttl=20.0)
    await cache.put(names, "ifName", ttl=3600.0, slow=True)

    await clock.advance(600.0)

    assert await cache.get(KEY) is None
    assert await cache.get(names) is not None


async def test_memory_cache_put_replaces_and_restarts_ttl() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock)
    await cache.put(KEY, "old", ttl=20.0)
    await clock.advance(15.0)
    await cache.put(KEY, "new", ttl=20.0)

    await clock.advance(15.0)
    entry = await cache.get(KEY)

    assert entry is not None
    assert entry.value == "new"


async def test_memory_cache_invalidates_only_slow_entries_of_target() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock)
    slow = CacheKey("router", "table", "if/ifXTable")
    other_target = CacheKey("switch", "table", "if/ifXTable")
    await cache.put(KEY, "counters", ttl=20.0)
    await cache.put(slow, "names", ttl=3600.0, slow=True)
    await cache.put(other_target, "names", ttl=3600.0, slow=True)

    removed = await cache.invalidate_target("router", slow_only=True)

    assert removed == 1
    assert await cache.get(slow) is None
    assert await cache.get(KEY) is not None
    assert await cache.get(other_target) is not None


async def test_memory_cache_invalidates_whole_target() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock)
    await cache.put(KEY, "counters", ttl=20.0)
    await cache.put(CacheKey("router", "table", "t"), "names", ttl=3600.0, slow=True)

    removed = await cache.invalidate_target("router", slow_only=False)

    assert removed == 2
    assert cache.stats().entries == 0
    assert cache.stats().invalidated == 2


async def test_memory_cache_invalidating_unknown_target_is_noop() -> None:
    cache = MemoryCache(FakeClock())

    assert await cache.invalidate_target("nobody", slow_only=True) == 0


async def test_memory_cache_sweep_drops_unread_expired_entries() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock)
    await cache.put(CacheKey("gone", "job", "if"), "rows", ttl=5.0)
    await cache.put(KEY, "first", ttl=1000.0)

    await clock.advance(SWEEP_INTERVAL + 1.0)
    await cache.put(KEY, "second", ttl=1000.0)

    assert cache.stats().entries == 1
    assert cache.stats().expired == 1


async def test_memory_cache_counts_hits_and_misses() -> None:
    cache = MemoryCache(FakeClock())
    await cache.put(KEY, "rows", ttl=20.0)

    await cache.get(KEY)
    await cache.get(CacheKey("router", "job", "other"))

    assert cache.stats().hits == 1
    assert cache.stats().misses == 1
