"""AlertLeadership: the alert service follows the node's leader lease (cluster mode)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alerting_helpers import channels, new_clock, signal, simple_config
from fakes import FakeClock

from snmpd_ng.alerting.backend import StoreError
from snmpd_ng.alerting.leadership import AlertLeadership, NotLeaderError
from snmpd_ng.alerting.service import AlertService
from snmpd_ng.alerting.sqlite_store import SqliteAlertStore


class FakeNode:
    def __init__(self) -> None:
        self.node_id = "node-a"
        self.is_leader = False


class FakeConsumer:
    def __init__(self) -> None:
        self.running = False
        self.starts = 0

    async def start(self) -> None:
        self.running = True
        self.starts += 1

    async def stop(self) -> None:
        self.running = False


def make(tmp_path: Path) -> tuple[AlertLeadership, FakeNode, FakeConsumer, AlertService,
                                  FakeClock]:
    clock = new_clock()
    fakes = channels("chat")
    service = AlertService(simple_config(fakes), fakes,
                           store=SqliteAlertStore(tmp_path / "alerts.db"), clock=clock,
                           run_tasks=False, confirm_restored=False)
    node, consumer = FakeNode(), FakeConsumer()
    return AlertLeadership(node, service, consumer, clock), node, consumer, service, clock


async def test_service_starts_when_node_becomes_leader(tmp_path: Path) -> None:
    leadership, node, consumer, service, _ = make(tmp_path)
    node.is_leader = True

    await leadership._check()

    assert (service.is_running, consumer.running) == (True, True)
    await leadership.stop()


async def test_follower_runs_no_service(tmp_path: Path) -> None:
    leadership, _, consumer, service, _ = make(tmp_path)

    await leadership._check()

    assert (service.is_running, consumer.starts) == (False, 0)


async def test_service_stops_when_lease_is_lost(tmp_path: Path) -> None:
    leadership, node, consumer, service, _ = make(tmp_path)
    node.is_leader = True
    await leadership._check()
    node.is_leader = False

    await leadership._check()

    assert (service.is_running, consumer.running) == (False, False)


async def test_second_term_counts(tmp_path: Path) -> None:
    leadership, node, _, _, _ = make(tmp_path)
    for leading in (True, False, True):
        node.is_leader = leading
        await leadership._check()

    assert leadership.terms == 2
    await leadership.stop()


async def test_applied_signals_are_in_the_store(tmp_path: Path) -> None:
    leadership, node, _, service, clock = make(tmp_path)
    node.is_leader = True
    await leadership._check()

    await leadership.apply_signals([signal(at=clock.wall())])

    saved = await service.store.load_state()
    assert len(saved.alerts) == 1
    await leadership.stop()


async def test_signals_refused_by_a_follower(tmp_path: Path) -> None:
    leadership, _, _, _, clock = make(tmp_path)

    with pytest.raises(NotLeaderError):
        await leadership.apply_signals([signal(at=clock.wall())])


async def test_lost_lease_during_apply_refuses_the_batch(tmp_path: Path) -> None:
    leadership, node, _, service, clock = make(tmp_path)
    node.is_leader = True
    await leadership._check()

    original_sync = service.sync

    async def sync_then_lose() -> None:
        await original_sync()
        node.is_leader = False

    service.sync = sync_then_lose  # type: ignore[method-assign]

    with pytest.raises(NotLeaderError):
        await leadership.apply_signals([signal(at=clock.wall())])
    await leadership.stop()


async def test_failed_store_write_refuses_the_batch(tmp_path: Path) -> None:
    leadership, node, _, service, clock = make(tmp_path)
    node.is_leader = True
    await leadership._check()
    store = service.store
    assert isinstance(store, SqliteAlertStore)
    original_sync = service.sync

    async def sync_with_a_failed_write() -> None:
        await original_sync()
        store.database.failed_writes += 1

    service.sync = sync_with_a_failed_write  # type: ignore[method-assign]

    with pytest.raises(StoreError, match="read again"):
        await leadership.apply_signals([signal(at=clock.wall())])
    await leadership.stop()
