"""The in-process TTL cache: a dict in the daemon's memory, lost on restart."""

from __future__ import annotations

from snmpd_ng.cache.base import CacheEntry, CacheKey, CacheStats
from snmpd_ng.clock import Clock

# Seconds between two sweeps that drop expired entries no read has removed, so that the entries
# of removed targets and renamed jobs do not accumulate.
SWEEP_INTERVAL = 60.0


class MemoryCache:
    """A `ResultCache` kept in a dict, with an index of keys per target for invalidation.

    Expired entries are dropped when read and by a sweep that runs from `put` at most once per
    `SWEEP_INTERVAL` seconds. Values are stored by reference, so callers must not mutate them.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._entries: dict[CacheKey, CacheEntry] = {}
        self._keys_by_target: dict[str, set[CacheKey]] = {}
        self._next_sweep: float | None = None
        self._hits = 0
        self._misses = 0
        self._expired = 0
        self._invalidated = 0

    async def get(self, key: CacheKey) -> CacheEntry | None:
        entry = self._entries.get(key)
        if entry is None:
            self._misses += 1
            return None

        if entry.expires_at <= self._clock.now():
            self._remove(key)
            self._expired += 1
            self._misses += 1
            return None

        self._hits += 1
        return entry

    async def put(self, key: CacheKey, value: object, ttl: float, *, slow: bool = False) -> None:
        now = self._clock.now()
        self._entries[key] = CacheEntry(value, now, now + ttl, slow)
        self._keys_by_target.setdefault(key.target, set()).add(key)

        if self._next_sweep is None:
            self._next_sweep = now + SWEEP_INTERVAL
        elif now >= self._next_sweep:
            self._sweep(now)

    async def invalidate_target(self, target: str, *, slow_only: bool) -> int:
        keys = self._keys_by_target.get(target, set())
        doomed = [key for key in keys if not slow_only or self._entries[key].slow]
        for key in doomed:
            self._remove(key)
        self._invalidated += len(doomed)
        return len(doomed)

    def stats(self) -> CacheStats:
        return CacheStats(len(self._entries), self._hits, self._misses, self._expired,
                          self._invalidated)

    def _sweep(self, now: float) -> None:
        expired = [key for key, entry in self._entries.items() if entry.expires_at <= now]
        for key in expired:
            self._remove(key)
        self._expired += len(expired)
        self._next_sweep = now + SWEEP_INTERVAL

    def _remove(self, key: CacheKey) -> None:
        del self._entries[key]
        keys = self._keys_by_target[key.target]
        keys.discard(key)
        if not keys:
            del self._keys_by_target[key.target]
