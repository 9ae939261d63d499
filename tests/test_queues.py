"""Result queues: coalescing versus lossless delivery, overflow counting and consumer faults."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
import structlog
from fakes import FakeClock, settle

from snmpd_ng.polling.queues import CoalescingQueue, Delivery, ResultBus


@dataclass(frozen=True)
class Item:
    target: str
    job: str
    sequence: int

    @property
    def key(self) -> tuple[str, str]:
        return (self.target, self.job)


def item_key(item: Item) -> tuple[str, str]:
    return item.key


class Consumer:
    """Records the items it gets; blocks on `gate` while it is set to a pending future."""

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.gate: asyncio.Future[None] | None = None

    async def __call__(self, item: Item) -> None:
        if self.gate is not None:
            await self.gate
        self.items.append(item)


async def test_coalescing_queue_keeps_latest_per_key() -> None:
    queue: CoalescingQueue[Item] = CoalescingQueue(10, item_key)
    for sequence in range(5):
        queue.put_nowait(Item("router", "if", sequence))
    queue.put_nowait(Item("switch", "if", 0))

    first = await queue.get()
    second = await queue.get()

    assert first == Item("router", "if", 4)
    assert second == Item("switch", "if", 0)
    assert queue.coalesced == 4


async def test_coalescing_queue_overflow_drops_oldest_and_counts() -> None:
    queue: CoalescingQueue[Item] = CoalescingQueue(2, item_key)
    assert queue.put_nowait(Item("a", "if", 0))
    assert queue.put_nowait(Item("b", "if", 0))

    assert not queue.put_nowait(Item("c", "if", 0))

    assert queue.dropped == 1
    assert [await queue.get(), await queue.get()] == [Item("b", "if", 0), Item("c", "if", 0)]


async def test_bus_coalescing_consumer_sees_latest_only() -> None:
    bus: ResultBus[Item] = ResultBus(100, item_key, FakeClock())
    consumer = Consumer()
    consumer.gate = asyncio.get_running_loop().create_future()
    bus.subscribe("metrics", consumer, Delivery.COALESCE)
    bus.start()

    await bus.publish(Item("router", "if", 0))
    await settle()
    for sequence in range(1, 6):
        await bus.publish(Item("router", "if", sequence))
    consumer.gate.set_result(None)
    await settle()
    await bus.stop()

    assert [item.sequence for item in consumer.items] == [0, 5]
    assert bus.stats()[0].coalesced == 4


async def test_bus_lossless_consumer_gets_every_item() -> None:
    bus: ResultBus[Item] = ResultBus(2, item_key, FakeClock())
    consumer = Consumer()
    consumer.gate = asyncio.get_running_loop().create_future()
    bus.subscribe("alerting", consumer, Delivery.LOSSLESS)
    bus.start()

    publisher = asyncio.ensure_future(_publish_all(bus, 6))
    await settle()
    assert not publisher.done()  # Backpressure: the full queue blocks the publisher.

    consumer.gate.set_result(None)
    await publisher
    await settle()
    await bus.stop()

    assert [item.sequence for item in consumer.items] == list(range(6))
    assert bus.stats()[0].blocked >= 1
    assert bus.stats()[0].dropped == 0


async def _publish_all(bus: ResultBus[Item], count: int) -> None:
    for sequence in range(count):
        await bus.publish(Item("router", "if", sequence))


async def test_bus_coalescing_overflow_is_counted_and_logged() -> None:
    bus: ResultBus[Item] = ResultBus(2, item_key, FakeClock())
    bus.subscribe("cache", Consumer(), Delivery.COALESCE)

    with structlog.testing.capture_logs() as logs:
        for number in range(5):
            await bus.publish(Item(f"target-{number}", "if", 0))

    assert bus.stats()[0].dropped == 3
    warnings = [entry for entry in logs if entry["event"] == "results queue overflowed"]
    assert len(warnings) == 1  # Rate-limited: one line per consumer per minute.
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["overflows_total"] == 1


async def test_bus_slow_consumer_does_not_hold_another() -> None:
    bus: ResultBus[Item] = ResultBus(100, item_key, FakeClock())
    slow = Consumer()
    slow.gate = asyncio.get_running_loop().create_future()
    fast = Consumer()
    bus.subscribe("slow", slow, Delivery.COALESCE)
    bus.subscribe("fast", fast, Delivery.COALESCE)
    bus.start()

    for number in range(3):
        await bus.publish(Item(f"target-{number}", "if", 0))
    await settle()

    assert len(fast.items) == 3
    assert slow.items == []
    slow.gate.cancel()
    await bus.stop()


async def test_bus_consumer_error_is_counted_and_consumer_continues() -> None:
    bus: ResultBus[Item] = ResultBus(100, item_key, FakeClock())
    seen: list[int] = []

    async def flaky(item: Item) -> None:
        seen.append(item.sequence)
        if item.sequence == 0:
            raise RuntimeError("broken item")

    bus.subscribe("flaky", flaky, Delivery.LOSSLESS)
    bus.start()
    with structlog.testing.capture_logs() as logs:
        await bus.publish(Item("router", "if", 0))
        await bus.publish(Item("router", "if", 1))
        await settle()
    await bus.stop()

    assert seen == [0, 1]
    assert bus.stats()[0].consumer_errors == 1
    errors = [entry for entry in logs if entry["event"] == "result consumer failed"]
    assert errors[0]["target"] == "router"
    assert errors[0]["job"] == "if"


async def test_bus_subscribe_after_start_runs_consumer() -> None:
    bus: ResultBus[Item] = ResultBus(100, item_key, FakeClock())
    bus.start()
    consumer = Consumer()

    bus.subscribe("late", consumer)
    await bus.publish(Item("router", "if", 0))
    await settle()
    await bus.stop()

    assert len(consumer.items) == 1


def test_bus_rejects_duplicate_consumer_name() -> None:
    bus: ResultBus[Item] = ResultBus(100, item_key, FakeClock())
    bus.subscribe("metrics", Consumer())

    with pytest.raises(ValueError, match="already subscribed"):
        bus.subscribe("metrics", Consumer())
