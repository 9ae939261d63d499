"""Rate limiting of repeated log lines, so a dead target logs once a minute, not every poll."""

from __future__ import annotations

from dataclasses import dataclass

from snmpd_ng.clock import Clock


@dataclass(slots=True)
class _Window:
    opened_at: float
    suppressed: int = 0


class LogRateLimiter:
    """Allow one log line per key per `period` seconds and count the lines held back."""

    def __init__(self, clock: Clock, period: float = 60.0) -> None:
        self._clock = clock
        self._period = period
        self._windows: dict[str, _Window] = {}

    def allow(self, key: str) -> int | None:
        """Return None to hold this line back, else the number of lines held back since the
        last one that was allowed (to log with it)."""
        now = self._clock.now()
        window = self._windows.get(key)
        if window is not None and now - window.opened_at < self._period:
            window.suppressed += 1
            return None

        suppressed = 0 if window is None else window.suppressed
        self._windows[key] = _Window(now)
        return suppressed

    def forget(self, key: str) -> None:
        self._windows.pop(key, None)
