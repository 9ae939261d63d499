"""Scheduler timing with the fake clock: no drift, no overlap, jitter, concurrency, isolation."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

import pytest
from fakes import FakeClock, settle

from snmpd_ng.polling.scheduler import (
    ConcurrencyLimit,
    Scheduler,
    first_slot_offset,
    skipped_slots,
)

START = 1000.0


@dataclass
class Recorder:
    """A run function that takes `duration` fake seconds and records each run."""

    clock: FakeClock
    duration: float = 0.0
    starts: list[float] = field(default_factory=list)
    slots: list[float] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    """Per-run durations; `duration` applies once these run out."""

    async def __call__(self, slot: float, missed: int) -> None:
        self.starts.append(self.clock.now())
        self.slots.append(slot)
        self.missed.append(missed)
        duration = self.durations.pop(0) if self.durations else self.duration
        await self.clock.sleep_until(self.clock.now() + duration)
        self.ends.append(self.clock.now())


def make_scheduler(clock: FakeClock, limit: int = 100, jitter: float = 0.0) -> Scheduler:
    return Scheduler(clock, ConcurrencyLimit(limit), jitter)


async def test_scheduler_no_drift_with_long_runs() -> None:
    clock = FakeClock(START)
    scheduler = make_scheduler(clock)
    recorder = Recorder(clock, duration=3.7)
    scheduler.add(("router", "if"), 10.0, recorder)

    await clock.advance(95.0)
    await scheduler.stop()

    assert recorder.starts == [START + 10.0 * k for k in range(10)]
    assert recorder.slots == recorder.starts


async def test_scheduler_overrun_skips_and_counts_missed_slots() -> None:
    clock = FakeClock(START)
    scheduler = make_scheduler(clock)
    recorder = Recorder(clock, durations=[25.0])
    scheduler.add(("router", "if"), 10.0, recorder)

    await clock.advance(45.0)
    await scheduler.stop()

    # The first run ends at +25 s, so the slots at +10 and +20 are skipped.
    assert recorder.starts == [START, START + 30.0, START + 40.0]
    assert recorder.missed == [0, 2, 0]
    assert scheduler.skipped_total == 2


async def test_scheduler_run_ending_on_next_slot_skips_nothing() -> None:
    clock = FakeClock(START)
    scheduler = make_scheduler(clock)
    recorder = Recorder(clock, durations=[10.0])
    scheduler.add(("router", "if"), 10.0, recorder)

    await clock.advance(15.0)
    await scheduler.stop()

    assert recorder.starts == [START, START + 10.0]
    assert recorder.missed == [0, 0]


async def test_scheduler_never_overlaps_runs_of_one_job() -> None:
    clock = FakeClock(START)
    scheduler = make_scheduler(clock)
    recorder = Recorder(clock, durations=[15.0, 4.0, 31.0, 2.0, 12.0])
    scheduler.add(("router", "if"), 10.0, recorder)

    await clock.advance(120.0)
    await scheduler.stop()

    runs = list(zip(recorder.starts, recorder.ends, strict=False))
    for (_, previous_end), (next_start, _) in itertools.pairwise(runs):
        assert next_start >= previous_end


async def test_scheduler_jitter_stays_within_bounds() -> None:
    clock = FakeClock(START)
    scheduler = make_scheduler(clock, jitter=0.25)
    recorders = [Recorder(clock) for _ in range(200)]
    for number, recorder in enumerate(recorders):
        scheduler.add((f"target-{number}", "system"), 60.0, recorder)

    await clock.advance(15.0)
    await scheduler.stop()

    first_starts = [recorder.starts[0] for recorder in recorders]
    assert min(first_starts) >= START
    assert max(first_starts) < START + 0.25 * 60.0
    # Spread: the 200 first runs are not bunched into a few instants.
    assert len({round(start, 1) for start in first_starts}) > 100


async def test_scheduler_jitter_offsets_keep_interval_after_first() -> None:
    clock = FakeClock(START)
    scheduler = make_scheduler(clock, jitter=0.5)
    recorder = Recorder(clock, duration=1.0)
    scheduler.add(("edge", "if"), 10.0, recorder)

    await clock.advance(50.0)
    await scheduler.stop()

    gaps = {round(b - a, 9) for a, b in itertools.pairwise(recorder.starts)}
    assert gaps == {10.0}


def test_first_slot_offset_is_stable_per_key() -> None:
    first = first_slot_offset(("core1", "if"), 60.0, 0.1)
    again = first_slot_offset(("core1", "if"), 60.0, 0.1)
    other_job = first_slot_offset(("core1", "system"), 60.0, 0.1)

    assert first == again
    assert first != other_job
    assert 0.0 <= first < 6.0


def test_first_slot_offset_zero_jitter_is_zero() -> None:
    assert first_slot_offset(("core1", "if"), 60.0, 0.0) == 0.0


@pytest.mark.parametrize(("next_slot", "now", "expected"), [
    (10.0, 9.0, 0),
    (10.0, 10.0, 0),
    (10.0, 10.5, 1),
    (10.0, 20.0, 1),
    (10.0, 20.5, 2),
    (10.0, 45.0, 4),
])
def test_skipped_slots_counts_passed_slots(next_slot: float, now: float, expected: int) -> None:
    assert skipped_slots(next_slot, now, 10.0) == expected


async def test_scheduler_respects_concurrency_limit() -> None:
    clock = FakeClock(START)
    scheduler = make_scheduler(clock, limit=3)
    active = 0
    peak = 0

    async def run(slot: float, missed: int) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await clock.sleep_until(clock.now() + 2.0)
        active -= 1

    for number in range(10):
        scheduler.add((f"target-{number}", "if"), 10.0, run)
    await clock.advance(9.0)

    assert peak == 3
    assert scheduler.limit.waits == 7
    await scheduler.stop()


async def test_scheduler_slow_run_does_not_delay_others() -> None:
    clock = FakeClock(START)
    scheduler = make_scheduler(clock, limit=2)
    stuck = Recorder(clock, duration=1000.0)
    healthy = Recorder(clock, duration=0.5)
    scheduler.add(("dead", "if"), 10.0, stuck)
    scheduler.add(("alive", "if"), 10.0, healthy)

    await clock.advance(55.0)
    await scheduler.stop()

    assert healthy.starts == [START + 10.0 * k for k in range(6)]
    assert len(stuck.starts) == 1


async def test_scheduler_rejects_duplicate_key() -> None:
    clock = FakeClock(START)
    scheduler = make_scheduler(clock)
    scheduler.add(("router", "if"), 10.0, Recorder(clock))

    with pytest.raises(ValueError, match="already exists"):
        scheduler.add(("router", "if"), 10.0, Recorder(clock))
    await scheduler.stop()


async def test_scheduler_remove_cancels_run_in_progress() -> None:
    clock = FakeClock(START)
    scheduler = make_scheduler(clock, limit=1)
    recorder = Recorder(clock, duration=100.0)
    scheduler.add(("router", "if"), 10.0, recorder)
    await clock.advance(1.0)

    await scheduler.remove([("router", "if")])

    assert recorder.ends == []
    assert scheduler.limit.in_use == 0
    assert scheduler.keys() == []


async def test_scheduler_survives_run_that_raises() -> None:
    clock = FakeClock(START)
    scheduler = make_scheduler(clock)
    starts: list[float] = []

    async def run(slot: float, missed: int) -> None:
        starts.append(slot)
        raise RuntimeError("bug in one run")

    scheduler.add(("router", "if"), 10.0, run)
    await clock.advance(25.0)
    await scheduler.stop()

    assert starts == [START, START + 10.0, START + 20.0]


async def test_concurrency_limit_cancelled_waiter_frees_nothing() -> None:
    limit = ConcurrencyLimit(1)
    await limit.acquire()
    waiter = asyncio.ensure_future(limit.acquire())
    await settle()

    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)

    assert limit.in_use == 1
    assert limit.waiting == 0


async def test_concurrency_limit_raised_wakes_waiters() -> None:
    limit = ConcurrencyLimit(1)
    await limit.acquire()
    waiters = [asyncio.ensure_future(limit.acquire()) for _ in range(2)]
    await settle()

    limit.limit = 3
    await settle()

    assert all(waiter.done() for waiter in waiters)
    assert limit.in_use == 3
