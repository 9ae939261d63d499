"""The time source of the scheduler, the cache and the metric snapshot.

Services read time only through a `Clock`, so tests drive them with a fake clock and never sleep.
`now()` is monotonic seconds on the event loop's own base (`loop.time()`), which is also the base of
the manager's `deadline` argument, so a deadline computed from `now()` can be passed on unchanged.
`wall()` is Unix time in seconds, for timestamps that leave the process (such as the last successful
poll in /metrics).
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic time, Unix time, and a way to wait until a monotonic instant."""

    def now(self) -> float:
        """Return monotonic seconds on the event loop's time base."""
        ...

    def wall(self) -> float:
        """Return Unix time in seconds."""
        ...

    async def sleep_until(self, when: float) -> None:
        """Wait until `now()` is at least `when`; return at once if it already is."""
        ...


class LoopClock:
    """The real clock: the running event loop's `time()` and `asyncio.sleep`.

    The loop is looked up on first use, so the clock can be built before the loop runs.
    """

    __slots__ = ("_loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def now(self) -> float:
        return self._get_loop().time()

    def wall(self) -> float:
        return time.time()

    async def sleep_until(self, when: float) -> None:
        delay = when - self.now()
        if delay > 0:
            await asyncio.sleep(delay)
