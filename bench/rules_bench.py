"""CPU of the alerting rules per poll cycle: samples from results, storing, evaluating.

    .venv/bin/python bench/rules_bench.py                    # 1,000 targets, a few seconds
    .venv/bin/python bench/rules_bench.py --targets 50 --cycles 3   # a smoke run

Each target has one job with an ifXTable of 12 interfaces x 4 columns: ifHCInOctets and
ifHCOutOctets as Counter64, ifHighSpeed as Gauge32, ifOperStatus as Integer32. Rows are labelled
by ifIndex and ifName. So a result gives 48 polled samples plus `up`, `poll_success` and
`reboots`: 51 series per target. Every 10 s cycle delivers one result per target, and the
engine's `tick` runs 10 times (once a second, as the service would call it).

The rules are those of docs/alerting-rules.md: saturation in and out with hysteresis,
interface down, target unreachable, reboot and data stopped (absent_for), 6 in all. About 1%
of the interfaces run hot, so alerts do change state.

The figure is the process's CPU time (time.process_time) of one cycle, the mean over the
cycles after the first (which fills the store), split into building samples from results
(`samples_from_result`) and the engine (`observe` and `tick`).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

from snmpd_ng.alerting.rules import Rule, RulesEngine  # noqa: E402 - after the sys.path change
from snmpd_ng.alerting.rules.testing import ManualClock  # noqa: E402
from snmpd_ng.alerting.series import samples_from_result  # noqa: E402
from snmpd_ng.config.model import IndexSpec, ObjectSpec, TableSpec  # noqa: E402
from snmpd_ng.polling.result import JobHealth, PollResult, TablePart  # noqa: E402
from snmpd_ng.protocol.oid import Oid, parse_oid  # noqa: E402
from snmpd_ng.protocol.values import Counter64, Gauge32, Integer32, VarBind  # noqa: E402

INTERVAL = 10.0
WALL_OFFSET = 1_700_000_000.0
ROWS = 12
IF_X_TABLE = TableSpec("ifXTable", (
    ObjectSpec(parse_oid("1.3.6.1.2.1.31.1.1.1.6"), "ifHCInOctets"),
    ObjectSpec(parse_oid("1.3.6.1.2.1.31.1.1.1.10"), "ifHCOutOctets"),
    ObjectSpec(parse_oid("1.3.6.1.2.1.31.1.1.1.15"), "ifHighSpeed"),
    ObjectSpec(parse_oid("1.3.6.1.2.1.2.2.1.8"), "ifOperStatus"),
), (IndexSpec("ifIndex"),))

RULES = [
    Rule.build("LinkSaturatedIn", "rate(ifHCInOctets) * 8 / (ifHighSpeed * 1e6) > 0.9",
               for_seconds=300, recover="rate(ifHCInOctets) * 8 / (ifHighSpeed * 1e6) < 0.8",
               annotations={"summary": "{{ labels.ifName }} at {{ value | percent }}"}),
    Rule.build("LinkSaturatedOut", "rate(ifHCOutOctets) * 8 / (ifHighSpeed * 1e6) > 0.9",
               for_seconds=300, recover="rate(ifHCOutOctets) * 8 / (ifHighSpeed * 1e6) < 0.8"),
    Rule.build("InterfaceDown", "ifOperStatus != 1", for_seconds=60, severity="critical"),
    Rule.build("TargetUnreachable", "up == 0", for_seconds=120, severity="critical"),
    Rule.build("TargetRebooted", "rebooted == 1", severity="info"),
    Rule.build("CountersStopped", "absent_for(ifHCInOctets, 10m)"),
]


def table_result(target: int, cycle: int, now: float) -> PollResult:
    """Return the ifXTable result of one target in one cycle."""
    columns: list[tuple[ObjectSpec, list[VarBind]]] = []
    row_labels: dict[Oid, tuple[tuple[str, str], ...]] = {}
    for row in range(1, ROWS + 1):
        row_labels[(row,)] = (("ifIndex", str(row)), ("ifName", f"Gi0/{row}"))
    hot = (target * ROWS) % 100 == 0
    octets_per_cycle = int((0.95 if hot else 0.3) * 1e9 / 8 * INTERVAL)
    makers = (
        lambda row: Counter64(cycle * octets_per_cycle + row),
        lambda row: Counter64(cycle * octets_per_cycle // 2 + row),
        lambda row: Gauge32(1000),
        lambda row: Integer32(1),
    )
    for spec, make in zip(IF_X_TABLE.columns, makers, strict=True):
        columns.append((spec, [VarBind((*spec.oid, row), make(row))
                               for row in range(1, ROWS + 1)]))
    part = TablePart(IF_X_TABLE, tuple(columns), row_labels, now)
    return PollResult(
        target=f"t{target}", job="if", interval=INTERVAL, stale_after=3, scheduled_at=now,
        started_at=now, finished_at=now, finished_wall=WALL_OFFSET + now, reachable=True,
        error_kind=None, error=None, scalars=None, tables=(part,), health=JobHealth(),
        stats=None)


def run(targets: int, cycles: int) -> tuple[float, float, int]:
    """Return the mean CPU seconds per cycle for samples and for the engine, and the series."""
    clock = ManualClock(1000.0, WALL_OFFSET)
    engine = RulesEngine(RULES, clock)
    sample_seconds: list[float] = []
    engine_seconds: list[float] = []
    for cycle in range(cycles):
        results = [table_result(target, cycle, clock.time) for target in range(targets)]
        start = time.process_time()
        batches = [samples_from_result(result, {"site": "lab"}) for result in results]
        built = time.process_time()
        for batch in batches:
            engine.observe(batch)
        for _ in range(10):
            clock.time += INTERVAL / 10
            engine.tick()
        done = time.process_time()
        if cycle > 0:
            sample_seconds.append(built - start)
            engine_seconds.append(done - built)
    count = engine.store.series_count()
    return (sum(sample_seconds) / len(sample_seconds),
            sum(engine_seconds) / len(engine_seconds), count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=6, help="10 s cycles, 2 or more")
    args = parser.parse_args()
    samples, engine, series = run(args.targets, max(2, args.cycles))
    print(f"Python {platform.python_version()} on {platform.machine()}, "
          f"{args.targets} targets, {series} series, {len(RULES)} rules")
    print(f"CPU per 10 s cycle: samples_from_result {samples:.3f} s, "
          f"engine {engine:.3f} s, total {samples + engine:.3f} s "
          f"({(samples + engine) / INTERVAL:.1%} of one core)")


if __name__ == "__main__":
    main()
