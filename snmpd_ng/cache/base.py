"""The interface every result cache implements: in-process now, Redis in cluster mode later.

Keys name one target's piece of data (a job's latest result, a slow-changing table, a lookup
column). Entries expire after a TTL in seconds on the cache's clock. An entry can be marked slow:
slow entries hold names and indexes that only change when the agent reboots or is reconfigured,
so they live longer and a reboot of their target invalidates them as a group.

The methods are coroutines although the in-process cache never waits, so that a networked cache
fits behind the same interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol


class CacheKey(NamedTuple):
    """Target name, kind of data ("job", "table", "lookup") and the name within that kind."""

    target: str
    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A cached value with the clock time it was stored at and the time it expires at."""

    value: object
    stored_at: float
    expires_at: float
    slow: bool


class ResultCache(Protocol):
    """A TTL cache of poll results, shared by the pollers and the result consumers."""

    async def get(self, key: CacheKey) -> CacheEntry | None:
        """Return the entry for `key`, or None when there is none or it has expired."""
        ...

    async def put(self, key: CacheKey, value: object, ttl: float, *, slow: bool = False) -> None:
        """Store `value` under `key` for `ttl` seconds, replacing any entry there."""
        ...

    async def invalidate_target(self, target: str, *, slow_only: bool) -> int:
        """Remove the target's entries (only its slow ones when `slow_only`); return how many."""
        ...

    def stats(self) -> CacheStats:
        """Return the counters for /metrics; never waits."""
        ...


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters of one cache since it was created.

    The fields after `invalidated` are counted by the Redis cache of cluster mode only, and
    stay 0 for the in-process cache.
    """

    entries: int
    """Entries in this process's memory: for the Redis cache, the node's local copies."""
    hits: int
    misses: int
    expired: int
    invalidated: int
    local_hits: int = 0
    """Hits served from a local copy without asking Redis; they count in `hits` too."""
    decode_errors: int = 0
    """Entries read from Redis that could not be decoded; they count in `misses` too."""
    read_errors: int = 0
    """Reads that failed because Redis failed or timed out; they count in `misses` too."""
    write_errors: int = 0
    """Writes and invalidations that failed (Redis failed or timed out, or the value could not
    be encoded)."""
    fenced_writes: int = 0
    """Writes not made because the node no longer held the target's lease."""
    shared: bool = False
    """Whether the cache is the shared one of cluster mode, whose extra counters /metrics shows."""
