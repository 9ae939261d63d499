"""A limit on the requests waiting for a response at once, with a synchronous fast path.

`asyncio.Semaphore.acquire()` is a coroutine even when a slot is free, and every request takes
two limits (its target's and the transport's). Here a free slot is taken by a plain method
call, and only a request that has to wait creates a future. Waiters are served in arrival
order; a released slot goes straight to the first waiter, so a newcomer never overtakes it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque


class InFlightLimit:
    """Slots for requests in flight: `try_take()` or `await take()`, then `give()` once."""

    __slots__ = ("_waiters", "free")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"an in-flight limit must be at least 1, got {size}")
        self.free = size
        """Slots not taken and not promised to a waiter."""
        self._waiters: deque[asyncio.Future[bool]] = deque()

    def try_take(self) -> bool:
        """Take a slot if one is free and no waiter is queued; return whether it did."""
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return True
        return False

    async def take(self, deadline: float | None) -> None:
        """Take a slot, waiting in line for one; raise TimeoutError at `deadline` (loop time)."""
        if self.try_take():
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_at(deadline, _expire, waiter) if deadline is not None else None
        try:
            granted = await waiter
        except asyncio.CancelledError:
            self._leave(waiter)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if not granted:
            self._leave(waiter)
            raise TimeoutError("no in-flight slot became free before the deadline")

    def give(self) -> None:
        """Return a slot: hand it to the first waiter still waiting, or free it."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)
                return
        self.free += 1

    def _leave(self, waiter: asyncio.Future[bool]) -> None:
        """Drop a waiter that gives up; pass its slot on if one was handed to it already."""
        if waiter.done() and not waiter.cancelled() and waiter.result():
            self.give()
            return
        with contextlib.suppress(ValueError):  # give() dropped it already
            self._waiters.remove(waiter)


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


def take_both(first: InFlightLimit, second: InFlightLimit) -> bool:
    """Take a slot of both limits if both have one free right now, else take none.

    The same as two `try_take()` calls and a `give()` on failure, in one call, because every
    request runs it.
    """
    if first.free > 0 and second.free > 0 and not first._waiters and not second._waiters:
        first.free -= 1
        second.free -= 1
        return True
    return False
