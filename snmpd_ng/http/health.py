"""The liveness signal behind /healthz: a heartbeat that a task on the event loop renews.

The daemon's watchdog task calls `beat()` on every tick, the same tick that sends WATCHDOG=1 to
systemd. When a callback blocks the loop or the task dies, the beats stop and /healthz turns 503
once `max_age` has passed, as systemd's watchdog would restart the unit.
"""

from __future__ import annotations

from collections.abc import Callable


class Heartbeat:
    """The time of the last beat, and whether it is recent enough."""

    def __init__(self, max_age: float, now: Callable[[], float]) -> None:
        """`max_age` is in seconds; `now` returns monotonic seconds (the loop's time)."""
        self.max_age = max_age
        self._now = now
        self._last: float | None = None

    def beat(self) -> None:
        self._last = self._now()

    def age(self) -> float | None:
        """Seconds since the last beat, or None before the first one."""
        return None if self._last is None else self._now() - self._last

    def is_alive(self) -> bool:
        age = self.age()
        return age is not None and age <= self.max_age
