"""Per-source limits of the trap receiver: a token bucket of datagrams, and a log gate.

Both keep one entry per source address and forget the least recently seen source beyond
`capacity`, so a flood from many (possibly forged) addresses costs bounded memory. Sans-IO:
`now` is the caller's monotonic clock in seconds.
"""

from __future__ import annotations

from collections import OrderedDict

DEFAULT_CAPACITY = 16384
"""Sources remembered at once."""


class SourceRateLimit:
    """A token bucket per source: `rate` datagrams a second on average, `burst` at once."""

    __slots__ = ("_buckets", "_burst", "_capacity", "_rate")

    def __init__(self, rate: float, burst: int, capacity: int = DEFAULT_CAPACITY) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"a rate limit needs rate > 0 and burst >= 1, got {rate} and "
                             f"{burst}")
        self._rate = rate
        self._burst = float(burst)
        self._capacity = capacity
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        """Tokens left and the clock reading they were counted at, by source."""

    def admit(self, source: str, now: float) -> bool:
        """Take one token from `source`'s bucket; return False when it is empty."""
        tokens, updated = self._buckets.pop(source, (self._burst, now))
        tokens = min(self._burst, tokens + max(0.0, now - updated) * self._rate)
        admitted = tokens >= 1.0
        if admitted:
            tokens -= 1.0
        self._buckets[source] = (tokens, now)
        if len(self._buckets) > self._capacity:
            self._buckets.popitem(last=False)
        return admitted


class LogGate:
    """Admit one log line per key (source and kind) each `interval` seconds."""

    __slots__ = ("_capacity", "_interval", "_last")

    def __init__(self, interval: float = 60.0, capacity: int = DEFAULT_CAPACITY) -> None:
        self._interval = interval
        self._capacity = capacity
        self._last: OrderedDict[str, tuple[float, int]] = OrderedDict()
        """When the key's last line was logged, and the lines held back since."""

    def admit(self, key: str, now: float) -> int | None:
        """Return how many lines of `key` were held back since its last one, or None to hold
        this one back too."""
        last = self._last.get(key)
        if last is not None and now - last[0] < self._interval:
            self._last[key] = (last[0], last[1] + 1)
            return None
        self._last.pop(key, None)
        self._last[key] = (now, 0)
        if len(self._last) > self._capacity:
            self._last.popitem(last=False)
        return last[1] if last is not None else 0
