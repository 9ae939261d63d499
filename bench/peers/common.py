"""The measuring loop shared by the peer runners of the benchmark.

Each runner (`<peer>_runner.py` beside this file) is started by bench/run.py as its own process,
once per measure, so that `time.process_time()` here is the CPU time of that manager alone. A runner
defines a SyncPeer or AsyncPeer and calls `main()` with it; the result is one JSON object on stdout.

Measures, each after a warm-up:
- walk: CPU microseconds per varbind of a GETBULK walk of 1.3.6.1 (the agent's whole tree);
- get: CPU microseconds per request of sequential GETs of two varbinds;
- in_flight: GETs per CPU second and per wall-clock second with N requests in flight (async only).

`--security` picks SNMPv2c (the default) or one of the SNMPv3 profiles of security.py. A peer
lists the profiles it supports in `securities`. For any other, the runner prints the reason
and exits with UNSUPPORTED_EXIT, and bench/v3_run.py shows that in place of a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata

from security import (
    PROFILES_BY_KEY,
    V2C,
    Passphrases,
    SecurityProfile,
    passphrases_from_environment,
)

WALK_ROOT = "1.3.6.1"
GET_OIDS = ("1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.3.0")
"""sysDescr.0 (OCTET STRING) and sysUpTime.0 (TimeTicks)."""

COMMUNITY_VARIABLE = "BENCH_COMMUNITY"
"""The community comes from this environment variable, so it is not visible in `ps`."""

WARM_UP_GETS = 10
CALIBRATION_GETS = 20
GET_BATCHES = 5
MIN_WALKS = 3
MAX_WALKS = 20
IN_FLIGHT_BATCHES = 3

UNSUPPORTED_EXIT = 3
"""Exit status of a runner asked for a security profile its peer does not support."""


class BenchError(RuntimeError):
    """A peer returned something other than what the measure expects."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str
    port: int
    community: str = field(repr=False)
    max_repetitions: int
    timeout: float
    """Seconds a peer waits for one response before it retries or fails."""
    security: SecurityProfile = V2C
    passphrases: Passphrases | None = field(default=None, repr=False)
    """The SNMPv3 passphrases; None for SNMPv2c."""


@dataclass(slots=True)
class Result:
    """The figures of one measure of one peer, each the median over its batches."""

    peer: str
    version: str
    measure: str
    security: str = V2C.key
    """Key of the security profile the requests used."""
    requests_sent: int = 0
    """Requests the runner sent in all, warm-up included, other than those of whole walks."""
    walks_run: int = 0
    """Whole walks the runner made, warm-up included, for the packets-per-walk figure."""
    walks: int = 0
    """Timed walks."""
    varbinds_per_walk: int = 0
    cpu_us_per_varbind: float | None = None
    cpu_us_per_request: float | None = None
    requests_per_cpu_second: float | None = None
    requests_per_second: float | None = None
    concurrency: int = 0
    cpu_seconds: float = 0.0
    system_seconds: float | None = None
    """The part of cpu_seconds spent in the kernel (sockets, epoll), where the runner reads it."""
    wall_seconds: float = 0.0
    samples: list[float] = field(default_factory=list)
    """The per-batch figures the median was taken from, in the measure's unit."""


class SyncPeer(ABC):
    """A peer whose calls block until the response is in."""

    name: str
    package: str
    """Distribution name, for the version in the report."""
    securities: frozenset[str] = frozenset({V2C.key})
    """Keys of the security profiles (security.py) that the peer's runner implements."""

    @abstractmethod
    def open(self, settings: Settings) -> None: ...

    @abstractmethod
    def walk(self, oid: str) -> int:
        """Walk the subtree under `oid` with GETBULK and return the number of varbinds."""

    @abstractmethod
    def get(self, oids: Sequence[str]) -> int:
        """Send one GET for `oids` and return the number of varbinds in the response."""

    def close(self) -> None:
        return None


class AsyncPeer(ABC):
    """A peer with an asyncio API; it runs on uvloop like snmpd_ng does."""

    name: str
    package: str
    securities: frozenset[str] = frozenset({V2C.key})

    @abstractmethod
    async def open(self, settings: Settings) -> None: ...

    @abstractmethod
    async def walk(self, oid: str) -> int: ...

    @abstractmethod
    async def get(self, oids: Sequence[str]) -> int: ...

    async def get_in_flight(self, oids: Sequence[str], count: int, concurrency: int) -> None:
        """Send `count` GETs with `concurrency` of them waiting for a response at any time."""
        remaining = [count]

        async def worker() -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                _check_get(await self.get(oids), oids)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def close(self) -> None:
        return None


def _check_get(varbinds: int, oids: Sequence[str]) -> None:
    if varbinds != len(oids):
        raise BenchError(f"a GET for {len(oids)} OIDs returned {varbinds} varbinds")


Batch = Callable[[int], Awaitable[int]]
"""Runs n operations of one measure and returns how many units (varbinds or requests) they made."""


@dataclass(frozen=True, slots=True)
class Timing:
    units: int
    cpu_seconds: float
    """User plus system CPU time of this process."""
    system_seconds: float
    wall_seconds: float


async def _timed(batch: Batch, operations: int) -> Timing:
    wall_start = time.perf_counter()
    start = resource.getrusage(resource.RUSAGE_SELF)
    units = await batch(operations)
    end = resource.getrusage(resource.RUSAGE_SELF)
    system = end.ru_stime - start.ru_stime
    cpu = (end.ru_utime - start.ru_utime) + system
    return Timing(units, cpu, system, time.perf_counter() - wall_start)


def _sync_batches(peer: SyncPeer, oids: Sequence[str]) -> tuple[Batch, Batch]:
    """Wrap a blocking peer in batches; the loop runs without an await per call."""

    async def walk(operations: int) -> int:
        return sum(peer.walk(WALK_ROOT) for _ in range(operations))

    async def get(operations: int) -> int:
        for _ in range(operations):
            _check_get(peer.get(oids), oids)
        return operations

    return walk, get


def _async_batches(peer: AsyncPeer, oids: Sequence[str]) -> tuple[Batch, Batch]:
    async def walk(operations: int) -> int:
        return sum([await peer.walk(WALK_ROOT) for _ in range(operations)])

    async def get(operations: int) -> int:
        for _ in range(operations):
            _check_get(await peer.get(oids), oids)
        return operations

    return walk, get


async def measure_walk(result: Result, walk: Batch, get: Batch, seconds: float) -> None:
    """CPU per varbind of whole walks; the number of walks fills about `seconds` of CPU."""
    await get(1)
    first = await _timed(walk, 1)
    walks = min(MAX_WALKS, max(MIN_WALKS, round(seconds / max(first.cpu_seconds, 1e-6))))
    timings = [await _timed(walk, 1) for _ in range(walks)]

    sizes = [timing.units for timing in timings]
    _check_walk_sizes([first.units, *sizes])
    result.requests_sent = 1
    result.walks = walks
    result.walks_run = walks + 1
    result.varbinds_per_walk = round(statistics.median(sizes))
    result.samples = [timing.cpu_seconds / timing.units * 1e6 for timing in timings]
    result.cpu_us_per_varbind = statistics.median(result.samples)
    _add_totals(result, timings)


def _check_walk_sizes(sizes: Sequence[int]) -> None:
    # The agent's tree changes a little while it runs (sockets, processes), but a walk that
    # stopped early would be far shorter.
    if min(sizes) < 0.9 * max(sizes) or max(sizes) < 100:
        raise BenchError(f"walks returned inconsistent varbind counts: {sorted(set(sizes))}")


async def measure_get(result: Result, get: Batch, seconds: float) -> None:
    """CPU per sequential GET, in GET_BATCHES batches that together fill about `seconds`."""
    await get(WARM_UP_GETS)
    calibration = await _timed(get, CALIBRATION_GETS)
    per_request = max(calibration.cpu_seconds / CALIBRATION_GETS, 1e-6)
    size = max(CALIBRATION_GETS, round(seconds / GET_BATCHES / per_request))
    timings = [await _timed(get, size) for _ in range(GET_BATCHES)]

    result.requests_sent = WARM_UP_GETS + CALIBRATION_GETS + size * GET_BATCHES
    result.samples = [timing.cpu_seconds / timing.units * 1e6 for timing in timings]
    result.cpu_us_per_request = statistics.median(result.samples)
    _add_totals(result, timings)


async def measure_in_flight(result: Result, peer: AsyncPeer, seconds: float,
                            concurrency: int) -> None:
    """GETs per CPU second and per wall-clock second with `concurrency` requests in flight."""

    async def batch(count: int) -> int:
        await peer.get_in_flight(GET_OIDS, count, concurrency)
        return count

    warm_up = concurrency * 2
    await batch(warm_up)
    calibration = await _timed(batch, concurrency * 20)
    per_request = max(calibration.cpu_seconds / calibration.units, 1e-6)
    size = max(concurrency * 20, round(seconds / IN_FLIGHT_BATCHES / per_request))
    timings = [await _timed(batch, size) for _ in range(IN_FLIGHT_BATCHES)]

    result.concurrency = concurrency
    result.requests_sent = warm_up + calibration.units + size * IN_FLIGHT_BATCHES
    result.samples = [timing.units / timing.cpu_seconds for timing in timings]
    result.requests_per_cpu_second = statistics.median(result.samples)
    result.cpu_us_per_request = 1e6 / result.requests_per_cpu_second
    result.requests_per_second = statistics.median(
        timing.units / timing.wall_seconds for timing in timings)
    _add_totals(result, timings)


def _add_totals(result: Result, timings: Sequence[Timing]) -> None:
    result.cpu_seconds = sum(timing.cpu_seconds for timing in timings)
    result.system_seconds = sum(timing.system_seconds for timing in timings)
    result.wall_seconds = sum(timing.wall_seconds for timing in timings)


# ---------------------------------------------------------------------------------------------
# Command line


def parse_arguments(argv: Sequence[str] | None = None,
                    measures: Sequence[str] = ("walk", "get", "in_flight")) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Measure one peer against a running agent; "
                                     f"the community is read from ${COMMUNITY_VARIABLE}.")
    parser.add_argument("measure", choices=measures)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-repetitions", type=int, default=10,
                        help="GETBULK max-repetitions of the walk (default: 10)")
    parser.add_argument("--timeout", type=float, default=2.0,
                        help="seconds to wait for one response (default: 2)")
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="CPU seconds to spend on the timed part of the measure (default: 2)")
    parser.add_argument("--concurrency", type=int, default=20,
                        help="requests in flight for the in_flight measure (default: 20)")
    parser.add_argument("--security", choices=sorted(PROFILES_BY_KEY), default=V2C.key,
                        help="SNMPv2c, or an SNMPv3 authPriv profile of security.py whose "
                        "passphrases are read from the environment (default: v2c)")
    return parser.parse_args(argv)


def settings_from(arguments: argparse.Namespace) -> Settings:
    """Build the Settings of a runner's command line; the secrets come from the environment."""
    security = PROFILES_BY_KEY[arguments.security]
    passphrases = passphrases_from_environment() if security.is_v3 else None
    return Settings(host=arguments.host, port=arguments.port,
                    community=os.environ.get(COMMUNITY_VARIABLE, "public"),
                    max_repetitions=arguments.max_repetitions, timeout=arguments.timeout,
                    security=security, passphrases=passphrases)


def check_supported(peer: SyncPeer | AsyncPeer, security: SecurityProfile) -> None:
    """Exit with UNSUPPORTED_EXIT when the peer's runner has no code for `security`."""
    if security.key not in peer.securities:
        print(f"not supported: the {peer.name} runner has no {security.label}",
              file=sys.stderr)
        sys.exit(UNSUPPORTED_EXIT)


def package_version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


async def _run_sync(peer: SyncPeer, arguments: argparse.Namespace, result: Result) -> None:
    peer.open(settings_from(arguments))
    try:
        walk, get = _sync_batches(peer, GET_OIDS)
        await _run_measure(arguments, result, walk, get, None)
    finally:
        peer.close()


async def _run_async(peer: AsyncPeer, arguments: argparse.Namespace, result: Result) -> None:
    await peer.open(settings_from(arguments))
    try:
        walk, get = _async_batches(peer, GET_OIDS)
        await _run_measure(arguments, result, walk, get, peer)
    finally:
        await peer.close()


async def _run_measure(arguments: argparse.Namespace, result: Result, walk: Batch, get: Batch,
                       async_peer: AsyncPeer | None) -> None:
    if arguments.measure == "walk":
        await measure_walk(result, walk, get, arguments.seconds)
    elif arguments.measure == "get":
        await measure_get(result, get, arguments.seconds)
    elif async_peer is None:
        raise BenchError(f"{result.peer} has no asyncio API, so it cannot keep requests in flight")
    else:
        await measure_in_flight(result, async_peer, arguments.seconds, arguments.concurrency)


def main(peer: SyncPeer | AsyncPeer, argv: Sequence[str] | None = None) -> None:
    """Run one measure of `peer` and print its Result as JSON; exit 1 with a message on failure."""
    import uvloop

    arguments = parse_arguments(argv)
    check_supported(peer, PROFILES_BY_KEY[arguments.security])
    result = Result(peer=peer.name, version=package_version(peer.package),
                    measure=arguments.measure, security=arguments.security)
    runner = _run_sync(peer, arguments, result) if isinstance(peer, SyncPeer) else _run_async(
        peer, arguments, result)
    try:
        uvloop.run(runner)
    except Exception as exc:
        print(f"{peer.name} {arguments.measure} failed: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        sys.exit(1)
    print(json.dumps(asdict(result)))
