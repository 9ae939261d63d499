"""Rate limiting of repeated log lines (misbehaving peers, dead targets, full queues)."""

from __future__ import annotations

# Seconds between two warnings of the same kind about the same target.
WARNING_INTERVAL = 60.0


class WarningLimiter:
    """Decide whether a warning of one kind may be logged now, and count the ones held back."""

    __slots__ = ("_interval", "_last", "_suppressed")

    def __init__(self, interval: float = WARNING_INTERVAL) -> None:
        self._interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def admit(self, kind: str, now: float) -> int | None:
        """Return the count suppressed since the last warning of `kind`, or None to hold it back.

        `now` is in seconds on a monotonic clock (the event loop's time).
        """
        last = self._last.get(kind)
        if last is not None and now - last < self._interval:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return None
        self._last[kind] = now
        return self._suppressed.pop(kind, 0)

    def forget(self, kind: str) -> None:
        """Drop the state of `kind`, so that its next line is logged at once."""
        self._last.pop(kind, None)
        self._suppressed.pop(kind, None)
