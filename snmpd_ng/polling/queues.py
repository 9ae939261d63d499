"""Bounded queues that carry poll results from the pollers to each consumer.

Every consumer has its own queue, so a slow one never holds up another. Two delivery modes:

- `Delivery.COALESCE`: for consumers that need only the latest result per key (target and job),
  such as the cache and the metric snapshot. A new result replaces a pending one with the same
  key, and putting never waits. When the queue holds `maxsize` distinct keys, the oldest pending
  result is dropped to make room, and the drop is counted and logged.
- `Delivery.LOSSLESS`: for consumers that need every sample (rates, `for` timers). Nothing is
  dropped: when the queue is full, the publisher waits for room (backpressure), so polling slows
  down rather than losing data. Each wait is counted and logged.

Adding a consumer is one call: `bus.subscribe("alerting", handle_result, Delivery.LOSSLESS)`.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog

from snmpd_ng.clock import Clock
from snmpd_ng.polling.ratelimit import LogRateLimiter

log = structlog.get_logger(__name__)

T = TypeVar("T")


class Delivery(enum.Enum):
    COALESCE = "coalesce"
    LOSSLESS = "lossless"


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Counters of one consumer's queue since it was created."""

    consumer: str
    delivery: Delivery
    depth: int
    maxsize: int
    delivered: int
    """Items the consumer took from the queue."""
    coalesced: int
    """Items replaced by a newer item with the same key before the consumer took them."""
    dropped: int
    """Items dropped because the queue was full (coalescing mode only)."""
    blocked: int
    """Puts that had to wait for room because the queue was full (lossless mode only)."""
    consumer_errors: int
    """Items whose handler raised."""


class CoalescingQueue(Generic[T]):
    """Pending items by key, oldest first; a put replaces the pending item with the same key."""

    def __init__(self, maxsize: int, key: Callable[[T], Hashable]) -> None:
        self.maxsize = maxsize
        self._key = key
        self._pending: dict[Hashable, T] = {}
        self._not_empty = asyncio.Event()
        self.coalesced = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._pending)

    def put_nowait(self, item: T) -> bool:
        """Queue `item`; return False when the oldest pending item had to be dropped for it."""
        key = self._key(item)
        room = True
        if key in self._pending:
            self.coalesced += 1
        elif len(self._pending) >= self.maxsize:
            del self._pending[next(iter(self._pending))]
            self.dropped += 1
            room = False

        self._pending[key] = item
        self._not_empty.set()
        return room

    async def get(self) -> T:
        while not self._pending:
            self._not_empty.clear()
            await self._not_empty.wait()
        key = next(iter(self._pending))
        return self._pending.pop(key)


@dataclass(slots=True)
class _Subscription(Generic[T]):
    name: str
    delivery: Delivery
    handler: Callable[[T], Awaitable[object]]
    coalescing: CoalescingQueue[T] | None
    lossless: asyncio.Queue[T] | None
    task: asyncio.Task[None] | None = None
    delivered: int = 0
    blocked: int = 0
    errors: int = 0

    @property
    def depth(self) -> int:
        if self.coalescing is not None:
            return len(self.coalescing)
        assert self.lossless is not None
        return self.lossless.qsize()


class ResultBus(Generic[T]):
    """Fans each published item out to every subscribed consumer's bounded queue."""

    def __init__(self, maxsize: int, key: Callable[[T], Hashable], clock: Clock) -> None:
        self._maxsize = maxsize
        self._key = key
        self._subscriptions: list[_Subscription[T]] = []
        self._overflow_log = LogRateLimiter(clock)
        self._running = False

    def subscribe(self, name: str, handler: Callable[[T], Awaitable[object]],
                  delivery: Delivery = Delivery.COALESCE) -> None:
        """Add a consumer; `handler` is awaited once per item, in the consumer's own task."""
        if any(subscription.name == name for subscription in self._subscriptions):
            raise ValueError(f"a consumer named {name!r} is already subscribed")

        coalescing = CoalescingQueue(self._maxsize, self._key)
        subscription: _Subscription[T] = _Subscription(
            name, delivery, handler,
            coalescing if delivery is Delivery.COALESCE else None,
            asyncio.Queue(self._maxsize) if delivery is Delivery.LOSSLESS else None,
        )
        self._subscriptions.append(subscription)
        if self._running:
            self._start_consumer(subscription)

    async def publish(self, item: T) -> None:
        """Queue `item` for every consumer; waits only while a lossless queue is full."""
        for subscription in self._subscriptions:
            if subscription.coalescing is not None:
                if not subscription.coalescing.put_nowait(item):
                    self._log_overflow(subscription, "dropped_oldest",
                                       subscription.coalescing.dropped)
            else:
                await self._put_lossless(subscription, item)

    def start(self) -> None:
        self._running = True
        for subscription in self._subscriptions:
            self._start_consumer(subscription)

    async def stop(self) -> None:
        """Cancel the consumer tasks; items still queued are discarded."""
        self._running = False
        tasks = [sub.task for sub in self._subscriptions if sub.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for subscription in self._subscriptions:
            subscription.task = None

    def stats(self) -> list[QueueStats]:
        return [self._stats(subscription) for subscription in self._subscriptions]

    def _stats(self, sub: _Subscription[T]) -> QueueStats:
        coalesced = sub.coalescing.coalesced if sub.coalescing is not None else 0
        dropped = sub.coalescing.dropped if sub.coalescing is not None else 0
        return QueueStats(sub.name, sub.delivery, sub.depth, self._maxsize, sub.delivered,
                          coalesced, dropped, sub.blocked, sub.errors)

    async def _put_lossless(self, subscription: _Subscription[T], item: T) -> None:
        assert subscription.lossless is not None
        if subscription.lossless.full():
            subscription.blocked += 1
            self._log_overflow(subscription, "blocked_publisher", subscription.blocked)
        await subscription.lossless.put(item)

    def _start_consumer(self, subscription: _Subscription[T]) -> None:
        if subscription.task is None:
            subscription.task = asyncio.create_task(self._consume(subscription),
                                                    name=f"consumer {subscription.name}")

    async def _consume(self, subscription: _Subscription[T]) -> None:
        while True:
            if subscription.coalescing is not None:
                item = await subscription.coalescing.get()
            else:
                assert subscription.lossless is not None
                item = await subscription.lossless.get()

            subscription.delivered += 1
            try:
                await subscription.handler(item)
            except Exception as exc:  # One bad item must not stop the consumer.
                subscription.errors += 1
                log.error("result consumer failed", consumer=subscription.name,
                          target=getattr(item, "target", None), job=getattr(item, "job", None),
                          error=repr(exc), exc_info=exc)

    def _log_overflow(self, subscription: _Subscription[T], action: str, total: int) -> None:
        suppressed = self._overflow_log.allow(subscription.name)
        if suppressed is not None:
            log.warning("results queue overflowed", consumer=subscription.name, action=action,
                        maxsize=self._maxsize, overflows_total=total,
                        suppressed_since_last=suppressed)
