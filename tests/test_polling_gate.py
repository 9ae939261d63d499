"""PollingService in cluster mode, with a fake gate in place of the cluster node.

The gate decides which targets this node polls; these tests check what polling does with its
answers: skip, poll and record, drop a result whose lease passed on, and leave /metrics when a
target moves away. The real node is tested in test_cluster_node.py and end to end in
test_cluster_daemons.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fakes import FakeClock, FakeManager, daemon, if_mib_agent, system_job, target
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry

from snmpd_ng.polling.gate import OwnershipChange
from snmpd_ng.polling.scheduler import aligned_first_slot
from snmpd_ng.polling.service import PollingService

ROUTER = "192.0.2.1"
SWITCH = "192.0.2.2"


@dataclass(frozen=True)
class FakeClaim:
    target: str
    token: int


@dataclass(frozen=True)
class Change:
    gained: frozenset[str] = frozenset()
    lost: frozenset[str] = frozenset()


@dataclass
class FakeGate:
    """Owns the targets in `mine`; `keep` answers each commit."""

    mine: set[str]
    node_id: str = "node-a"
    keep: bool = True
    joined: bool = True
    commits: list[dict[str, str]] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    budgets: list[float] = field(default_factory=list)
    listeners: list[Callable[[OwnershipChange], None]] = field(default_factory=list)
    quiet: Callable[[str, float], bool] | None = None
    recorded_slots: dict[tuple[str, str], float] = field(default_factory=dict)
    """The slot (Unix seconds) of the last poll on record, by target and job."""

    def claim(self, target: str, budget: float) -> FakeClaim | None:
        self.budgets.append(budget)
        return FakeClaim(target, 7) if target in self.mine else None

    def finish(self, claim: FakeClaim) -> None:
        self.finished.append(claim.target)

    async def commit(self, claim: FakeClaim, fields: dict[str, str]) -> bool:
        self.commits.append(fields)
        return self.keep

    def owns(self, target: str) -> bool:
        return target in self.mine

    def owned(self) -> frozenset[str]:
        return frozenset(self.mine)

    async def last_slots(self, keys: Sequence[tuple[str, str]]
                         ) -> dict[tuple[str, str], float | None]:
        return {key: self.recorded_slots.get(key) for key in keys}

    def add_listener(self, listener: Callable[[OwnershipChange], None]) -> None:
        self.listeners.append(listener)

    def set_quiet_check(self, quiet: Callable[[str, float], bool]) -> None:
        self.quiet = quiet

    def move(self, change: Change) -> None:
        self.mine |= change.gained
        self.mine -= change.lost
        for listener in self.listeners:
            listener(change)


def make_service(gate: FakeGate, max_budget: float | None = None
                 ) -> tuple[PollingService, FakeManager, FakeClock]:
    clock = FakeClock(1000.0)
    manager = FakeManager(clock, {ROUTER: if_mib_agent(), SWITCH: if_mib_agent()})
    config = daemon(target("router", ROUTER, system_job()), target("switch", SWITCH, system_job()))
    service = PollingService(config, manager, clock=clock, timer=clock.now, gate=gate,
                             max_budget=max_budget)
    return service, manager, clock


def scrape(service: PollingService) -> str:
    registry = CollectorRegistry()
    registry.register(service.collector())
    return generate_latest(registry).decode()


async def run_one_interval(service: PollingService, clock: FakeClock) -> None:
    await service.start()
    await clock.advance(10.0)


async def test_gated_service_polls_only_owned_targets() -> None:
    gate = FakeGate({"router"})
    service, manager, clock = make_service(gate)

    await run_one_interval(service, clock)
    await service.stop()

    assert (len(manager.calls_to(ROUTER, "get")) > 0, manager.calls_to(SWITCH, "get")) == (
        True, [])


async def test_gated_service_records_each_poll_with_its_slot() -> None:
    gate = FakeGate({"router"})
    service, _, clock = make_service(gate)

    await run_one_interval(service, clock)
    await service.stop()

    assert {(c["target"], c["job"], c["token"], c["node"]) for c in gate.commits} == {
        ("router", "system", "7", "node-a")}


async def test_gated_service_finishes_every_claim() -> None:
    gate = FakeGate({"router"})
    service, _, clock = make_service(gate)

    await run_one_interval(service, clock)
    await service.stop()

    assert len(gate.finished) == len(gate.commits)


async def test_gated_service_drops_result_whose_lease_passed_on() -> None:
    gate = FakeGate({"router"}, keep=False)
    service, _, clock = make_service(gate)

    await run_one_interval(service, clock)
    text = scrape(service)
    await service.stop()

    assert service.results_dropped > 0
    assert 'target="router"' not in text


async def test_gated_service_removes_lost_target_from_metrics() -> None:
    gate = FakeGate({"router"})
    service, _, clock = make_service(gate)
    await run_one_interval(service, clock)

    gate.move(Change(lost=frozenset({"router"})))
    text = scrape(service)
    await service.stop()

    assert 'sysServices{target="router"' not in text


async def test_gated_service_polls_gained_target() -> None:
    gate = FakeGate(set())
    service, manager, clock = make_service(gate)
    await run_one_interval(service, clock)

    gate.move(Change(gained=frozenset({"switch"})))
    await clock.advance(10.0)
    await service.stop()

    assert len(manager.calls_to(SWITCH, "get")) > 0


async def test_gated_service_is_not_ready_before_joining() -> None:
    gate = FakeGate({"router"}, joined=False)
    service, _, clock = make_service(gate)

    await run_one_interval(service, clock)
    ready = service.is_ready()
    await service.stop()

    assert ready is False


async def test_gated_service_ready_when_owned_targets_tried() -> None:
    gate = FakeGate({"router"})
    service, _, clock = make_service(gate)

    await run_one_interval(service, clock)
    ready = service.is_ready()
    await service.stop()

    assert ready is True


async def test_gated_service_caps_poll_budget() -> None:
    gate = FakeGate({"router"})
    service, _, clock = make_service(gate, max_budget=0.5)

    await run_one_interval(service, clock)
    await service.stop()

    # The claim asks for the budget plus its grace (a tenth of it, at most 1 s).
    assert set(gate.budgets) == {0.55}


def test_aligned_first_slot_is_same_grid_from_any_start() -> None:
    key = ("router", "system")
    first = aligned_first_slot(key, 10.0, 1.0, now=0.0, wall=1_700_000_000.0)
    later = aligned_first_slot(key, 10.0, 1.0, now=3.7, wall=1_700_000_003.7)

    # Both land on the same Unix-time grid: their wall times differ by whole intervals.
    wall_first = 1_700_000_000.0 + first
    wall_later = 1_700_000_003.7 + (later - 3.7)
    assert round((wall_later - wall_first) / 10.0, 6) % 1 == 0


def test_aligned_first_slot_is_not_in_the_past() -> None:
    slot = aligned_first_slot(("router", "system"), 10.0, 1.0, now=50.0, wall=1_700_000_123.4)

    assert 50.0 <= slot < 60.0


async def test_target_not_quiet_just_before_its_slot() -> None:
    gate = FakeGate({"router"})
    service, _, clock = make_service(gate)
    await run_one_interval(service, clock)

    # The system job runs every 10 s from t=0 (no jitter): the next slot is 10 s away.
    assert gate.quiet is not None
    assert gate.quiet("router", 10.5) is False
    await service.stop()


async def test_target_quiet_far_from_its_slot() -> None:
    gate = FakeGate({"router"})
    service, _, clock = make_service(gate)
    await run_one_interval(service, clock)

    assert gate.quiet is not None
    assert gate.quiet("router", 1.0) is True
    await service.stop()


async def test_gained_target_keeps_node_ready() -> None:
    gate = FakeGate({"router"})
    service, _, clock = make_service(gate)
    await run_one_interval(service, clock)
    assert service.is_ready()

    gate.move(Change(gained=frozenset({"switch"})))
    ready = service.is_ready()
    await service.stop()

    assert ready is True


async def test_rejoined_node_waits_for_first_polls() -> None:
    gate = FakeGate({"router"})
    service, _, clock = make_service(gate)
    await run_one_interval(service, clock)
    assert service.is_ready()
    gate.joined = False
    assert not service.is_ready()

    gate.joined = True
    gate.move(Change(gained=frozenset({"switch"})))
    ready = service.is_ready()
    await service.stop()

    assert ready is False


class TestCatchUp:
    """A gained target's slot that its old owner missed is polled at once, under that slot."""

    async def gain_switch(self, gate: FakeGate, last_slot_age: float | None
                          ) -> tuple[PollingService, FakeClock]:
        service, _, clock = make_service(gate)
        await run_one_interval(service, clock)
        if last_slot_age is not None:
            gate.recorded_slots[("switch", "system")] = clock.wall() - last_slot_age
        gate.commits.clear()
        gate.move(Change(gained=frozenset({"switch"})))
        await clock.advance(0.0)
        return service, clock

    @staticmethod
    def switch_slots(gate: FakeGate) -> list[str]:
        return [c["slot"] for c in gate.commits if c["target"] == "switch"]

    async def test_missed_slot_polled_at_once(self) -> None:
        gate = FakeGate({"router"})
        service, clock = await self.gain_switch(gate, last_slot_age=14.0)
        await service.stop()

        missed = clock.wall() - 14.0 + 10.0
        assert self.switch_slots(gate) == [f"{missed:.3f}"]

    async def test_catch_up_counted(self) -> None:
        gate = FakeGate({"router"})
        service, _ = await self.gain_switch(gate, last_slot_age=14.0)
        await service.stop()

        assert service.catch_up_polls == 1

    async def test_slot_not_missed_yet_waits_for_schedule(self) -> None:
        gate = FakeGate({"router"})
        service, _ = await self.gain_switch(gate, last_slot_age=4.0)
        await service.stop()

        assert self.switch_slots(gate) == []

    async def test_no_record_waits_for_schedule(self) -> None:
        gate = FakeGate({"router"})
        service, _ = await self.gain_switch(gate, last_slot_age=None)
        await service.stop()

        assert self.switch_slots(gate) == []

    async def test_next_slot_within_budget_skips(self) -> None:
        gate = FakeGate({"router"})
        service, _, clock = make_service(gate)
        await run_one_interval(service, clock)
        next_slot = service._scheduler.next_slot(("switch", "system"))
        assert next_slot is not None
        await clock.advance(next_slot - clock.now() - 1.0)
        gate.recorded_slots[("switch", "system")] = clock.wall() - 19.0
        gate.commits.clear()

        gate.move(Change(gained=frozenset({"switch"})))
        await clock.advance(0.0)
        await service.stop()

        assert self.switch_slots(gate) == []
