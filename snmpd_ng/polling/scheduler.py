"""Fixed-rate schedules of job runs, one asyncio task per target and job.

Theory of operation. Each (target, job) has slots at `first + k * interval`. The first slot is
spread over `jitter * interval` seconds by a hash of the target and job names, so that targets
do not all start at once and a restart or reload keeps each one's phase. A run starts at its
slot, or later while it waits for one of `max_concurrent_polls` places. The next slot is the
previous slot plus the interval, never the end of the run plus the interval, so schedules do not
drift. A run that ends after its next slot has passed skips every slot that already passed;
the count of skipped slots is passed to the next run, which counts them. One task per schedule
means one job never runs twice at once on one target. A slow target only holds its own task and
one concurrency place, and its runs end at their budget, so it never delays the others.
"""

from __future__ import annotations

import asyncio
import math
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from snmpd_ng.clock import Clock

log = structlog.get_logger(__name__)

ScheduleKey = tuple[str, str]
"""Target name and job name."""

RunFunction = Callable[[float, int], Awaitable[object]]
"""Called with the slot's clock time and the number of slots skipped since the last run."""

FirstSlot = Callable[[ScheduleKey, float, float], float]
"""Given the key, the interval and the jitter, return the clock time of the first slot."""


class ConcurrencyLimit:
    """A semaphore whose limit can change while it is in use (on config reload).

    Places are handed to waiters in arrival order. Lowering the limit never interrupts holders;
    new acquisitions wait until the number in use is below the new limit.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.waits = 0
        """Acquisitions that had to wait for a place, since creation."""

    @property
    def limit(self) -> int:
        return self._limit

    @limit.setter
    def limit(self, value: int) -> None:
        self._limit = value
        self._wake()

    @property
    def in_use(self) -> int:
        return self._in_use

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> None:
        if self._in_use < self._limit and not self._waiters:
            self._in_use += 1
            return

        self.waits += 1
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # The place was granted just before the cancellation arrived: pass it on.
                self.release()
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self._in_use -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._in_use < self._limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_use += 1
                waiter.set_result(None)

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()


def first_slot_offset(key: ScheduleKey, interval: float, jitter: float) -> float:
    """Return the seconds after the schedule's start at which its first slot lies.

    The offset is in [0, jitter * interval), derived from a CRC-32 of the names so that it is
    stable across restarts and reloads and spread evenly over many targets.
    """
    digest = zlib.crc32(f"{key[0]}\x00{key[1]}".encode())
    return jitter * interval * (digest / 2**32)


def aligned_first_slot(key: ScheduleKey, interval: float, jitter: float, now: float,
                       wall: float) -> float:
    """Return the first slot at or after `now` on a grid fixed in Unix time.

    The grid is `phase + k * interval` Unix seconds, with the same phase as first_slot_offset.
    Every node of a cluster computes the same grid (their clocks agree through NTP), so a target
    that moves to another node keeps its slots, and is neither polled twice in one interval nor
    left out of one.
    """
    phase = first_slot_offset(key, interval, jitter)
    return now + (phase - wall) % interval


def skipped_slots(next_slot: float, now: float, interval: float) -> int:
    """Count the slots at `next_slot + k * interval` (k >= 0) that lie before `now`."""
    if now <= next_slot:
        return 0
    return math.ceil((now - next_slot) / interval)


@dataclass(slots=True)
class _Schedule:
    key: ScheduleKey
    interval: float
    run: RunFunction
    task: asyncio.Task[None] | None = None
    next_slot: float = 0.0
    skipped: int = 0


class Scheduler:
    """Starts, replaces and stops the schedule tasks; all timing comes from the passed-in clock."""

    def __init__(self, clock: Clock, limit: ConcurrencyLimit, jitter: float,
                 first_slot: FirstSlot | None = None) -> None:
        self._clock = clock
        self._first_slot = first_slot
        self._limit = limit
        self.jitter = jitter
        self._schedules: dict[ScheduleKey, _Schedule] = {}
        self.skipped_total = 0
        """Slots skipped because a run overran, over all schedules, since creation."""

    @property
    def limit(self) -> ConcurrencyLimit:
        return self._limit

    def keys(self) -> list[ScheduleKey]:
        return list(self._schedules)

    def next_slot(self, key: ScheduleKey) -> float | None:
        """Return the clock time of the schedule's next slot, None for an unknown key."""
        schedule = self._schedules.get(key)
        return None if schedule is None else schedule.next_slot

    def add(self, key: ScheduleKey, interval: float, run: RunFunction) -> None:
        """Start a schedule whose first slot is jittered from now; `key` must be new."""
        if key in self._schedules:
            raise ValueError(f"schedule {key[0]}/{key[1]} already exists; remove it first")
        if interval <= 0:
            raise ValueError(f"interval of {key[0]}/{key[1]} is {interval!r}; it must be > 0")

        schedule = _Schedule(key, interval, run)
        if self._first_slot is not None:
            schedule.next_slot = self._first_slot(key, interval, self.jitter)
        else:
            schedule.next_slot = self._clock.now() + first_slot_offset(key, interval, self.jitter)
        schedule.task = asyncio.create_task(self._loop(schedule), name=f"poll {key[0]}/{key[1]}")
        self._schedules[key] = schedule
        log.debug("schedule started", target=key[0], job=key[1], interval=interval,
                  first_slot=schedule.next_slot)

    async def remove(self, keys: list[ScheduleKey]) -> None:
        """Stop the schedules of `keys`, cancelling runs in progress, and wait for them."""
        tasks = []
        for key in keys:
            schedule = self._schedules.pop(key, None)
            if schedule is not None and schedule.task is not None:
                schedule.task.cancel()
                tasks.append(schedule.task)
                log.debug("schedule stopped", target=key[0], job=key[1])
        await asyncio.gather(*tasks, return_exceptions=True)

    async def stop(self) -> None:
        await self.remove(self.keys())

    async def _loop(self, schedule: _Schedule) -> None:
        while True:
            await self._clock.sleep_until(schedule.next_slot)
            async with self._limit:
                await self._run_once(schedule)
            self._advance(schedule)

    async def _run_once(self, schedule: _Schedule) -> None:
        skipped, schedule.skipped = schedule.skipped, 0
        try:
            await schedule.run(schedule.next_slot, skipped)
        except Exception as exc:  # The schedule must outlive any fault of one run.
            log.error("scheduled run failed", target=schedule.key[0], job=schedule.key[1],
                      error=repr(exc), exc_info=exc)

    def _advance(self, schedule: _Schedule) -> None:
        schedule.next_slot += schedule.interval
        skipped = skipped_slots(schedule.next_slot, self._clock.now(), schedule.interval)
        if skipped == 0:
            return

        schedule.next_slot += skipped * schedule.interval
        schedule.skipped = skipped
        self.skipped_total += skipped
        log.debug("slots skipped", target=schedule.key[0], job=schedule.key[1],
                  skipped=skipped, next_slot=schedule.next_slot)

