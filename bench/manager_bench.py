"""CPU cost of the manager alone against net-snmp's snmpd on loopback.

Starts a private snmpd (the tests' fixture code), warms up, then measures this process's CPU
time (time.process_time, so the agent's own CPU is not counted) for:

- sequential 2-varbind GETs (CPU per GET, one request in flight);
- concurrent 2-varbind GETs with 20 in flight (GETs per second and CPU per GET);
- a GETBULK walk of the whole agent (CPU per varbind).

`--profile MEASURE` runs one measure under cProfile with `time.process_time` as its clock, so
time spent blocked in the kernel (a loopback send runs the agent's side too) is not charged to
the function that made the call. The profiler's own cost inflates functions that make many small
calls, so read its figures as shares, and the plain run for the totals.

Run: .venv/bin/python bench/manager_bench.py [--loop asyncio|uvloop|both] [--gets N]
     .venv/bin/python bench/manager_bench.py --loop uvloop --profile get
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from agents import NetSnmpAgent, start_snmpd

from snmpd_ng import Manager, Target

OIDS = ["1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.3.0"]
CONCURRENCY = 20
PROFILE_LINES = 30


async def measure(action: Callable[[], Awaitable[int]]) -> tuple[float, float, int]:
    """Run `action` once; return CPU seconds, wall seconds and the count it returns."""
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    count = await action()
    return time.process_time() - cpu_start, time.perf_counter() - wall_start, count


async def sequential_gets(manager: Manager, target: Target, count: int) -> int:
    for _ in range(count):
        await manager.get(target, OIDS)
    return count


async def concurrent_gets(manager: Manager, target: Target, count: int) -> int:
    per_worker = count // CONCURRENCY

    async def worker() -> None:
        for _ in range(per_worker):
            await manager.get(target, OIDS)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return per_worker * CONCURRENCY


async def full_walk(manager: Manager, target: Target) -> int:
    # max-repetitions 10, as snmpbulkwalk and bench/run.py use.
    result = await manager.walk_all(target, "1.3.6.1", max_repetitions=10)
    assert result.complete, result.error
    return len(result.varbinds)


async def profile(agent: NetSnmpAgent, measure: str, gets: int) -> None:
    """Run one measure under cProfile and print the functions with the most CPU time."""
    target = Target(agent.host, agent.port, max_in_flight=CONCURRENCY)
    actions: dict[str, Callable[[Manager], Awaitable[int]]] = {
        "get": lambda manager: sequential_gets(manager, target, gets),
        "in_flight": lambda manager: concurrent_gets(manager, target, gets * 2),
        "walk": lambda manager: full_walk(manager, target),
    }
    async with Manager() as manager:
        await sequential_gets(manager, target, 500)
        await full_walk(manager, target)
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        count = await actions[measure](manager)
        profiler.disable()
    print(f"{measure}: {count} GETs or varbinds; functions by own CPU time:")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(PROFILE_LINES)


async def run_all(agent: NetSnmpAgent, gets: int) -> dict[str, str]:
    target = Target(agent.host, agent.port, max_in_flight=CONCURRENCY)
    report = {}
    async with Manager() as manager:
        await sequential_gets(manager, target, 500)
        await full_walk(manager, target)

        cpu, wall, count = await measure(lambda: sequential_gets(manager, target, gets))
        report["sequential GET"] = f"{cpu / count * 1e6:.1f} us CPU/GET, {count / wall:.0f} GET/s"

        cpu, wall, count = await measure(lambda: concurrent_gets(manager, target, gets * 2))
        report[f"{CONCURRENCY} in flight"] = (f"{cpu / count * 1e6:.1f} us CPU/GET, "
                                              f"{count / wall:.0f} GET/s, "
                                              f"{count / cpu:.0f} GET per CPU-second")

        cpu, wall, count = await measure(lambda: full_walk(manager, target))
        report["bulk walk"] = f"{cpu / count * 1e6:.2f} us CPU/varbind over {count} varbinds"
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop", choices=("asyncio", "uvloop", "both"), default="both")
    parser.add_argument("--gets", type=int, default=5000, help="GETs per measurement")
    parser.add_argument("--profile", choices=("get", "in_flight", "walk"),
                        help="profile this measure with cProfile instead of timing all three")
    options = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    agent = start_snmpd(Path(tempfile.mkdtemp(prefix="manager-bench-")))
    try:
        loops = ("asyncio", "uvloop") if options.loop == "both" else (options.loop,)
        for loop_name in loops:
            factory = uvloop.new_event_loop if loop_name == "uvloop" else asyncio.new_event_loop
            with asyncio.Runner(loop_factory=factory) as runner:
                if options.profile:
                    runner.run(profile(agent, options.profile, options.gets))
                    continue
                report = runner.run(run_all(agent, options.gets))
            for name, figures in report.items():
                print(f"{loop_name:8} {name:16} {figures}")
    finally:
        agent.stop()


if __name__ == "__main__":
    main()
