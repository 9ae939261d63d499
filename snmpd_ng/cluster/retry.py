"""The delay between two attempts of a loop that retries a Redis call until it succeeds."""

from __future__ import annotations

from snmpd_ng.clock import Clock

RETRY_MIN = 0.2
RETRY_MAX = 5.0
"""Seconds before the next attempt: RETRY_MIN after the first failure, doubling up to RETRY_MAX."""


class RetryDelay:
    """Waits RETRY_MIN after the first failure, twice as long after each further one, at most
    RETRY_MAX, and RETRY_MIN again after `reset()`."""

    def __init__(self, clock: Clock, minimum: float = RETRY_MIN,
                 maximum: float = RETRY_MAX) -> None:
        self._clock = clock
        self._minimum = minimum
        self._maximum = maximum
        self._next = minimum

    @property
    def next_seconds(self) -> float:
        """Seconds the next `wait()` waits."""
        return self._next

    async def wait(self) -> None:
        await self._clock.sleep_until(self._clock.now() + self._next)
        self._next = min(2 * self._next, self._maximum)

    def reset(self) -> None:
        self._next = self._minimum
