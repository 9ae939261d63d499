"""Honest fakes for polling tests: a clock that moves only when advanced, and a manager that
serves a dict of OIDs per host, records every request and takes fake time to respond.

The fake manager follows the real one's contract (docs/api.md): `get` returns one varbind per OID
in request order with NO_SUCH_OBJECT for unknown ones, `walk_all` returns the rows under each
root in OID order, a dead agent raises RequestTimeout after timeout x (retries + 1), and a
deadline that passes first raises BudgetExceeded.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from snmpd_ng.clock import Clock
from snmpd_ng.config.model import (
    CacheConfig,
    DaemonConfig,
    IndexSpec,
    JobConfig,
    LookupSpec,
    ObjectSpec,
    SchedulerConfig,
    TableSpec,
    TargetConfig,
)
from snmpd_ng.manager.errors import BudgetExceeded, RequestTimeout, SnmpError, WalkError
from snmpd_ng.manager.target import Target
from snmpd_ng.manager.walk import WalkResult
from snmpd_ng.protocol.oid import Oid, is_prefix, parse_oid
from snmpd_ng.protocol.values import (
    NO_SUCH_OBJECT,
    Counter32,
    Counter64,
    Integer32,
    OctetString,
    SnmpValue,
    TimeTicks,
    VarBind,
)
from snmpd_ng.secret import Secret
from snmpd_ng.transport.stats import TargetStats

# Rounds of asyncio.sleep(0) after each clock step, so every task woken by the step runs until
# it waits again. Bounded so that a task spinning without waiting cannot hang a test.
MAX_SETTLE_ROUNDS = 200


class FakeClock(Clock):
    """A clock whose time moves only in `advance` and `run_until`, waking sleepers in order."""

    def __init__(self, start: float = 1000.0, wall_start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_start - start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._sequence = itertools.count()

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    async def sleep_until(self, when: float) -> None:
        if when <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (when, next(self._sequence), future))
        await future

    async def advance(self, seconds: float) -> None:
        await self.run_until(self._now + seconds)

    async def run_until(self, when: float) -> None:
        """Move time to `when`, stopping at each sleeper's wake time to let woken tasks run."""
        await settle()
        while self._sleepers and self._sleepers[0][0] <= when:
            wake_at, _, future = heapq.heappop(self._sleepers)
            if future.done():
                continue
            self._now = max(self._now, wake_at)
            future.set_result(None)
            await settle()
        self._now = max(self._now, when)
        await settle()


async def settle() -> None:
    """Let every runnable task run until all of them wait on something."""
    loop = asyncio.get_running_loop()
    for _ in range(MAX_SETTLE_ROUNDS):
        await asyncio.sleep(0)
        ready = getattr(loop, "_ready", None)
        if ready is not None and not ready:
            return


@dataclass
class FakeAgent:
    """What one fake host serves and how it behaves."""

    values: dict[Oid, SnmpValue] = field(default_factory=dict)
    delay: float = 0.0
    """Fake seconds each request takes."""
    dead: bool = False
    """Never respond: requests end with RequestTimeout, or BudgetExceeded at the deadline."""
    walk_error_at: Oid | None = None
    """Stop walks with a WalkError when they reach this OID."""

    def set(self, oid: str, value: SnmpValue) -> None:
        self.values[parse_oid(oid)] = value


@dataclass(frozen=True)
class Call:
    method: str
    host: str
    oids: tuple[Oid, ...]
    deadline: float | None
    started_at: float
    ended_at: float | None = None


class FakeManager:
    """Serves `agents` by target host and records every call in `calls`."""

    def __init__(self, clock: FakeClock, agents: dict[str, FakeAgent] | None = None) -> None:
        self.clock = clock
        self.agents: dict[str, FakeAgent] = agents if agents is not None else {}
        self.calls: list[Call] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.forgotten: list[Target] = []
        """Targets passed to `forget`, in call order."""
        self._stats: dict[str, TargetStats] = {}

    def agent(self, host: str) -> FakeAgent:
        return self.agents.setdefault(host, FakeAgent())

    def calls_to(self, host: str, method: str | None = None) -> list[Call]:
        return [call for call in self.calls
                if call.host == host and (method is None or call.method == method)]

    async def get(self, target: Target, oids: Sequence[Oid], *,
                  deadline: float | None = None) -> list[VarBind]:
        async with self._request(target, "get", tuple(oids), deadline) as agent:
            return [VarBind(oid, agent.values.get(oid, NO_SUCH_OBJECT)) for oid in oids]

    async def walk_all(self, target: Target, root: Oid | list[Oid], *,
                       get_root_if_empty: bool = True,
                       deadline: float | None = None) -> WalkResult:
        roots = tuple(root) if isinstance(root, list) else (root,)
        try:
            async with self._request(target, "walk", roots, deadline) as agent:
                rows = [VarBind(oid, value) for oid, value in sorted(agent.values.items())
                        if any(is_prefix(root, oid) and oid != root for root in roots)]
        except SnmpError as exc:
            return WalkResult([], False, exc)
        return self._cut_walk(target, agent, rows)

    def stats(self, target: Target) -> TargetStats:
        return self._stats.setdefault(target.host, TargetStats()).snapshot()

    def forget(self, target: Target) -> None:
        """Drop the target's counters, as the real manager drops its session."""
        self.forgotten.append(target)
        self._stats.pop(target.host, None)

    def _cut_walk(self, target: Target, agent: FakeAgent, rows: list[VarBind]) -> WalkResult:
        if agent.walk_error_at is None:
            return WalkResult(rows, True, None)
        kept = [row for row in rows if row.oid < agent.walk_error_at]
        error = WalkError("OID not increasing", target=target.label, varbinds=kept)
        return WalkResult(kept, False, error)

    def _request(self, target: Target, method: str, oids: tuple[Oid, ...],
                 deadline: float | None) -> _Request:
        return _Request(self, target, method, oids, deadline)


class _Request:
    """One fake request: records it, counts it, waits its fake time, and fails like the agent."""

    def __init__(self, manager: FakeManager, target: Target, method: str,
                 oids: tuple[Oid, ...], deadline: float | None) -> None:
        self.manager = manager
        self.target = target
        self.agent = manager.agent(target.host)
        self.stats = manager._stats.setdefault(target.host, TargetStats())
        self.call = Call(method, target.host, oids, deadline, manager.clock.now())

    async def __aenter__(self) -> FakeAgent:
        manager = self.manager
        manager.in_flight += 1
        manager.max_in_flight = max(manager.max_in_flight, manager.in_flight)
        self.stats.requests += 1
        try:
            await self._wait()
        except BaseException:
            self._end()
            raise
        self.stats.responses += 1
        return self.agent

    async def __aexit__(self, *exc_info: object) -> None:
        self._end()

    async def _wait(self) -> None:
        clock = self.manager.clock
        now = clock.now()
        if self.agent.dead:
            give_up = now + self.target.timeout * (self.target.retries + 1)
            if self.call.deadline is not None and self.call.deadline < give_up:
                await clock.sleep_until(self.call.deadline)
                raise BudgetExceeded(target=self.target.label, overrun=0.0)
            await clock.sleep_until(give_up)
            self.stats.timeouts += 1
            raise RequestTimeout(target=self.target.label, attempts=self.target.retries + 1,
                                 timeout=self.target.timeout)
        await clock.sleep_until(now + self.agent.delay)

    def _end(self) -> None:
        self.manager.in_flight -= 1
        ended = self.manager.clock.now()
        call = self.call
        self.manager.calls.append(Call(call.method, call.host, call.oids, call.deadline,
                                       call.started_at, ended))


# Objects of a small IF-MIB and system group, for configs and fake agents in polling tests.
SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_SERVICES = "1.3.6.1.2.1.1.7.0"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_IN_OCTETS = "1.3.6.1.2.1.2.2.1.10"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_HC_IN_OCTETS = "1.3.6.1.2.1.31.1.1.1.6"


def if_mib_agent(interfaces: int = 2, uptime: int = 123456) -> FakeAgent:
    """A fake agent with the system group and `interfaces` rows of ifTable and ifXTable."""
    agent = FakeAgent()
    agent.set(SYS_DESCR, OctetString(b"Linux test 6.1"))
    agent.set(SYS_UPTIME, TimeTicks(uptime))
    agent.set(SYS_SERVICES, Integer32(72))
    for index in range(1, interfaces + 1):
        agent.set(f"{IF_DESCR}.{index}", OctetString(f"Ethernet {index}".encode()))
        agent.set(f"{IF_IN_OCTETS}.{index}", Counter32(1000 * index))
        agent.set(f"{IF_NAME}.{index}", OctetString(f"eth{index - 1}".encode()))
        agent.set(f"{IF_HC_IN_OCTETS}.{index}", Counter64(10**12 * index))
    return agent


# Config builders for polling tests.
COMMUNITY = "s3cret-community"


def obj(name: str, oid: str, **fields: object) -> ObjectSpec:
    return ObjectSpec(parse_oid(oid), name, **fields)  # type: ignore[arg-type]


def system_job(interval: float = 10.0) -> JobConfig:
    return JobConfig("system", interval, scalars=(
        obj("sysDescr", SYS_DESCR), obj("sysServices", SYS_SERVICES)))


def if_table(slow: bool = False, lookups: bool = True) -> TableSpec:
    return TableSpec(
        "ifTable",
        columns=(obj("ifDescr", IF_DESCR), obj("ifInOctets", IF_IN_OCTETS),
                 obj("ifHCInOctets", IF_HC_IN_OCTETS)),
        indexes=(IndexSpec("ifIndex"),),
        lookups=(LookupSpec("ifName", parse_oid(IF_NAME)),) if lookups else (),
        slow_changing=slow,
    )


def if_job(interval: float = 10.0, slow: bool = False, lookups: bool = True) -> JobConfig:
    return JobConfig("if", interval, tables=(if_table(slow, lookups),))


def target(name: str, host: str, *jobs: JobConfig, **fields: object) -> TargetConfig:
    snmp_target = Target(host, community=Secret(COMMUNITY), timeout=1.0, retries=1, name=name)
    return TargetConfig(name, snmp_target, tuple(jobs), **fields)  # type: ignore[arg-type]


def daemon(*targets: TargetConfig, jitter: float = 0.0, max_concurrent_polls: int = 256,
           slow_ttl: float = 3600.0, queue_size: int = 10000) -> DaemonConfig:
    return DaemonConfig(
        targets=targets,
        scheduler=SchedulerConfig(max_concurrent_polls=max_concurrent_polls, jitter=jitter,
                                  results_queue_size=queue_size),
        cache=CacheConfig(slow_ttl=slow_ttl),
    )
