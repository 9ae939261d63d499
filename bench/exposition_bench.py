"""CPU of one /metrics render of polled values: our text exposition against prometheus-client.

    .venv/bin/python bench/exposition_bench.py               # 1,000 targets, about 1 minute
    .venv/bin/python bench/exposition_bench.py --targets 50 --rounds 2   # a smoke run

Each target has one job with an ifTable of 24 interfaces x 10 columns (four Counter64, four
Counter32, a Gauge32 and an Integer32), labelled by ifIndex and the lookups ifName and ifAlias,
so 1,000 targets make 240,000 samples. Some Counter64 values are above 2^53.

Cases, each the process's CPU time (time.process_time) of the fastest of `rounds` rounds:
- apply: turning every target's poll result into samples (once per poll cycle, not per scrape).
  "before" builds prometheus-client Sample objects (tests/exposition_oracle.py, the previous
  code), "after" writes the sample lines (snmpd_ng.metrics.snapshot).
- render values: one scrape's work for the polled values. "before" is prometheus-client's
  generate_latest over the oracle, "after" joins the values' chunks (ValueSnapshot.render).
- render health: the per-target and per-job health and the pipeline metrics. "before" is
  generate_latest over them, "after" joins their chunks and writes the stale flags.
- render all: the whole body the polling service adds to /metrics. "after" is
  PollingMetrics.render_text.
"after" also builds the health chunks in apply, so its apply figure includes them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from exposition_oracle import ClientValueSnapshot  # noqa: E402 - after the sys.path change
from prometheus_client.exposition import generate_latest  # noqa: E402
from prometheus_client.metrics_core import Metric  # noqa: E402
from prometheus_client.registry import CollectorRegistry  # noqa: E402

from snmpd_ng.cache.base import CacheStats  # noqa: E402
from snmpd_ng.config.model import IndexSpec, LookupSpec, ObjectSpec, TableSpec  # noqa: E402
from snmpd_ng.metrics.collector import PollingMetrics  # noqa: E402
from snmpd_ng.metrics.health import (  # noqa: E402
    PipelineStats,
    render_pipeline,
    render_target_health,
)
from snmpd_ng.polling.labels import LabelPairs  # noqa: E402
from snmpd_ng.polling.result import JobHealth, PollResult, TablePart  # noqa: E402
from snmpd_ng.protocol.oid import Oid  # noqa: E402
from snmpd_ng.protocol.values import (  # noqa: E402
    Counter32,
    Counter64,
    Gauge32,
    Integer32,
    SnmpValue,
    VarBind,
)
from snmpd_ng.transport.stats import TargetStats  # noqa: E402

IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IF_X_ENTRY = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
START = 1000.0

# Column name, OID and value of row n. Counter64 values start above 2^53 on odd rows.
COLUMNS: tuple[tuple[str, Oid, Callable[[int], SnmpValue]], ...] = (
    ("ifHCInOctets", (*IF_X_ENTRY, 6), lambda n: Counter64(2**53 * (n % 2) + 10**9 * n + 7)),
    ("ifHCOutOctets", (*IF_X_ENTRY, 10), lambda n: Counter64(10**12 * n + 3)),
    ("ifHCInUcastPkts", (*IF_X_ENTRY, 7), lambda n: Counter64(10**8 * n + 1)),
    ("ifHCOutUcastPkts", (*IF_X_ENTRY, 11), lambda n: Counter64(10**8 * n + 2)),
    ("ifInErrors", (*IF_ENTRY, 14), lambda n: Counter32(n)),
    ("ifOutErrors", (*IF_ENTRY, 20), lambda n: Counter32(2 * n)),
    ("ifInDiscards", (*IF_ENTRY, 13), lambda n: Counter32(3 * n)),
    ("ifOutDiscards", (*IF_ENTRY, 19), lambda n: Counter32(4 * n)),
    ("ifHighSpeed", (*IF_X_ENTRY, 15), lambda n: Gauge32(10_000)),
    ("ifOperStatus", (*IF_ENTRY, 8), lambda n: Integer32(1 + n % 2)),
)


class FixedClock:
    def now(self) -> float:
        return START

    def wall(self) -> float:
        return 1.7e9

    async def sleep_until(self, when: float) -> None:
        return None


def if_table() -> TableSpec:
    columns = tuple(ObjectSpec(oid, name) for name, oid, _ in COLUMNS)
    lookups = (LookupSpec("ifName", (*IF_X_ENTRY, 1)), LookupSpec("ifAlias", (*IF_X_ENTRY, 18)))
    return TableSpec("ifTable", columns, (IndexSpec("ifIndex"),), lookups)


def poll_result(target: str, table: TableSpec, interfaces: int) -> PollResult:
    """Build one result of the ifTable job as the poller hands it to the metrics consumer."""
    rows = range(1, interfaces + 1)
    columns = tuple((spec, [VarBind((*spec.oid, n), make(n)) for n in rows])
                    for spec, (_, _, make) in zip(table.columns, COLUMNS, strict=True))
    row_labels: dict[Oid, LabelPairs] = {
        (n,): (("ifIndex", str(n)), ("ifName", f"Ethernet{n}"),
               ("ifAlias", f'uplink "{n}" to core\\1'))
        for n in rows}
    part = TablePart(table, columns, row_labels, START)
    health = JobHealth(runs=5, failures={"ifTable": 0}, last_success_wall=1.7e9,
                       last_duration=0.05, errors={"timeout": 1})
    stats = TargetStats(requests=120, responses=119, timeouts=1, retries=1,
                        error_status={"noSuchName": 2}, last_rtt=0.002)
    return PollResult(target, "if", 10.0, 3, START, START, START + 0.05, 1.7e9, True, None, None,
                      None, (part,), health, stats)


def pipeline_stats() -> PipelineStats:
    return PipelineStats([], CacheStats(0, 0, 0, 0, 0), 0, 256, 0, 0, 0, 0)


@dataclass
class Case:
    name: str
    before_s: float
    after_s: float
    before_bytes: int = 0
    after_bytes: int = 0


def fastest(call: Callable[[], object], rounds: int) -> tuple[float, object]:
    """Return the least CPU seconds of `rounds` calls, and the last call's return value."""
    best = float("inf")
    value: object = None
    for _ in range(rounds):
        started = time.process_time()
        value = call()
        best = min(best, time.process_time() - started)
    return best, value


async def handle_all(metrics: PollingMetrics, results: list[PollResult]) -> None:
    for result in results:
        await metrics.handle(result)


class ClientHealth:
    """The health and pipeline metrics of `metrics` as prometheus-client renders them."""

    def __init__(self, metrics: PollingMetrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        values = self._metrics.values
        yield from render_target_health(self._metrics.health.latest(), values.base_labels,
                                        values.stale_jobs(), values.unconvertible)
        yield from render_pipeline(pipeline_stats())


def run(targets: int, interfaces: int, rounds: int) -> list[Case]:
    table = if_table()
    results = [poll_result(f"sw{number:04d}", table, interfaces) for number in range(targets)]
    metrics = PollingMetrics(FixedClock(), pipeline_stats)
    oracle = ClientValueSnapshot()
    client_health = CollectorRegistry()
    client_health.register(ClientHealth(metrics))
    client_all = CollectorRegistry()
    client_all.register(oracle)
    client_all.register(ClientHealth(metrics))

    def apply_before() -> None:
        for result in results:
            oracle.apply(result)

    def apply_after() -> None:
        asyncio.run(handle_all(metrics, results))

    def render_health_after() -> bytes:
        return b"".join(metrics.health.render(set()))

    cases = [
        measure_case("apply every result", apply_before, apply_after, rounds),
        measure_case("render values", oracle.exposition, metrics.values.render, rounds),
        measure_case("render health", lambda: generate_latest(client_health),
                     render_health_after, rounds),
        measure_case("render all", lambda: generate_latest(client_all), metrics.render_text,
                     rounds),
    ]
    return cases


def measure_case(name: str, before: Callable[[], object], after: Callable[[], object],
                 rounds: int) -> Case:
    before_s, before_value = fastest(before, rounds)
    after_s, after_value = fastest(after, rounds)
    before_bytes = len(before_value) if isinstance(before_value, bytes) else 0
    after_bytes = len(after_value) if isinstance(after_value, bytes) else 0
    return Case(name, before_s, after_s, before_bytes, after_bytes)


def render(cases: list[Case], targets: int, interfaces: int, rounds: int) -> str:
    samples = targets * interfaces * len(COLUMNS)
    lines = [f"{targets} targets x {interfaces} interfaces x {len(COLUMNS)} columns = "
             f"{samples:,} samples; Python {platform.python_version()}, {platform.machine()}, "
             f"fastest of {rounds} rounds, CPU seconds",
             "",
             "| case | before (prometheus-client) | after (own exposition) | ratio | body |",
             "|---|---:|---:|---:|---|"]
    for case in cases:
        ratio = case.before_s / case.after_s if case.after_s else float("inf")
        body = ""
        if case.after_bytes:
            body = f"{case.before_bytes / 1e6:.1f} MB / {case.after_bytes / 1e6:.1f} MB"
        lines.append(f"| {case.name} | {case.before_s:.3f} | {case.after_s:.3f} | "
                     f"{ratio:.1f}x | {body} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000, help="targets (default 1000)")
    parser.add_argument("--interfaces", type=int, default=24,
                        help="ifTable rows per target (default 24)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds per case; the fastest counts (default 5)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    options = parser.parse_args()

    cases = run(options.targets, options.interfaces, options.rounds)
    print(render(cases, options.targets, options.interfaces, options.rounds))
    if options.json is not None:
        options.json.write_text(json.dumps([asdict(case) for case in cases], indent=2) + "\n")


if __name__ == "__main__":
    main()
