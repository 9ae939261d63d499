"""A node's local copies of shared cache entries, kept by the Redis cache (snmpd_ng.cache.redis).

The Redis cache decides which entries may be copied and when copies must go. This store only
keeps them by key and by target, and drops them when they expire.
"""

from __future__ import annotations

from snmpd_ng.cache.base import CacheEntry, CacheKey
from snmpd_ng.cache.memory import SWEEP_INTERVAL


class LocalCopies:
    """Cache entries by key, with an index of keys per target.

    Times are on the node's loop clock. Expired copies are dropped when read, and by a sweep
    that `put` runs at most once per `SWEEP_INTERVAL` seconds. `expired` counts both.
    """

    def __init__(self) -> None:
        self._entries: dict[CacheKey, CacheEntry] = {}
        self._keys_by_target: dict[str, set[CacheKey]] = {}
        self._next_sweep: float | None = None
        self.expired = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey, now: float) -> CacheEntry | None:
        """Return the copy of `key`, or None when there is none or it has expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= now:
            self.drop(key)
            self.expired += 1
            return None
        return entry

    def put(self, key: CacheKey, entry: CacheEntry, now: float) -> None:
        """Keep `entry` as the copy of `key`, unless it has already expired."""
        if entry.expires_at <= now:
            self.drop(key)
            return
        self._entries[key] = entry
        self._keys_by_target.setdefault(key.target, set()).add(key)

        if self._next_sweep is None:
            self._next_sweep = now + SWEEP_INTERVAL
        elif now >= self._next_sweep:
            self._sweep(now)

    def drop(self, key: CacheKey) -> None:
        if self._entries.pop(key, None) is None:
            return
        keys = self._keys_by_target[key.target]
        keys.discard(key)
        if not keys:
            del self._keys_by_target[key.target]

    def drop_target(self, target: str, *, slow_only: bool) -> int:
        """Drop the copies of `target` (only its slow ones when `slow_only`); return how many."""
        keys = self._keys_by_target.get(target, set())
        doomed = [key for key in keys if not slow_only or self._entries[key].slow]
        for key in doomed:
            self.drop(key)
        return len(doomed)

    def clear(self) -> None:
        self._entries.clear()
        self._keys_by_target.clear()

    def _sweep(self, now: float) -> None:
        expired = [key for key, entry in self._entries.items() if entry.expires_at <= now]
        for key in expired:
            self.drop(key)
        self.expired += len(expired)
        self._next_sweep = now + SWEEP_INTERVAL
