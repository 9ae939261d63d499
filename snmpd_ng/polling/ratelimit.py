"""Rate limiting of repeated log lines, so a dead target logs once a minute, not every poll."""

from __future__ import annotations

from snmpd_ng.clock import Clock
from snmpd_ng.ratelimit import WarningLimiter


class LogRateLimiter:
    """Allow one log line per key per `period` seconds of the polling clock, and count the rest."""

    def __init__(self, clock: Clock, period: float = 60.0) -> None:
        self._clock = clock
        self._limiter = WarningLimiter(period)

    def allow(self, key: str) -> int | None:
        """Return None to hold this line back, else the number of lines held back since the
        last one that was allowed (to log with it)."""
        return self._limiter.admit(key, self._clock.now())

    def forget(self, key: str) -> None:
        self._limiter.forget(key)
