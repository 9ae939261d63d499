"""Markdown tables and machine facts for bench/run.py's report."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

OURS = "snmpd_ng"
OURS_COMPILED = "snmpd_ng-mypyc"
"""Peer key of snmpd_ng with its codec hot path compiled by mypyc."""
OURS_BUILDS = (OURS, OURS_COMPILED)
REFERENCE = "gufo-snmp"
"""The peer that the performance goals compare snmpd_ng with: gufo-snmp's asyncio client."""

WALK_GOAL_FACTOR = 1.0
GET_GOAL_FACTOR = 0.7
IN_FLIGHT_GOAL = 20_000.0
"""GETs per CPU second of the manager process, that is on one core."""

PACKAGES = ("snmpd-ng", "pysnmp", "ezsnmp", "gufo-snmp", "uvloop")


@dataclass(frozen=True, slots=True)
class PeerSpec:
    key: str
    runner: str
    """File name of the runner in bench/peers/."""
    measures: tuple[str, ...]
    build: str = "python"
    """Codec build of snmpd_ng that the runner must import: "python" or "mypyc"."""


@dataclass(slots=True)
class Outcome:
    """One measure of one peer: the runner's result, or why there is none."""

    peer: str
    measure: str
    result: dict[str, Any] = field(default_factory=dict)
    security: str = "v2c"
    """Key of the security profile (bench/peers/security.py) the requests used."""
    packets: int = 0
    """Datagrams the agent received during the run, from snmpInPkts."""
    error: str = ""
    elapsed: float = 0.0
    """Wall-clock seconds of the run, start-up of the runner included."""

    @property
    def name(self) -> str:
        label = self.result.get("peer", self.peer)
        version = self.result.get("version")
        return f"{label} {version}" if version else str(label)

    def packets_per_request(self) -> float | None:
        sent = self.result.get("requests_sent", 0)
        return self.packets / sent if sent else None

    def packets_per_walk(self) -> float | None:
        walks = self.result.get("walks_run", 0)
        return (self.packets - self.result.get("requests_sent", 0)) / walks if walks else None


def machine_facts() -> dict[str, str]:
    """Describe the machine, the interpreter and the versions of the managers measured."""
    facts = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "net-snmp": _netsnmp_version(),
        "load average at start": load_average(),
    }
    for package in PACKAGES:
        try:
            facts[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            facts[package] = "not installed"
    return facts


def load_average() -> str:
    """Return the 1-minute load average: other work on the machine inflates CPU figures."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "unknown"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _netsnmp_version() -> str:
    try:
        completed = subprocess.run(["snmpget", "--version"], capture_output=True, text=True,
                                   check=False)
    except OSError:
        return "not installed"
    return (completed.stdout + completed.stderr).strip().rsplit(" ", 1)[-1]


# ---------------------------------------------------------------------------------------------
# Tables


def _number(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _spread(outcome: Outcome) -> str:
    samples = outcome.result.get("samples") or []
    if not samples:
        return "—"
    digits = 0 if min(samples) >= 1000 else 1
    return f"{min(samples):,.{digits}f} to {max(samples):,.{digits}f}"


def _system_share(outcome: Outcome) -> str:
    system = outcome.result.get("system_seconds")
    cpu = outcome.result.get("cpu_seconds")
    if system is None or not cpu:
        return "—"
    return f"{system / cpu * 100:.0f} %"


def _ratio(outcome: Outcome, ours: float | None, theirs: float | None) -> str:
    if outcome.peer in OURS_BUILDS or ours is None or not theirs:
        return "—"
    return f"{ours / theirs:.2f}"


def _find(outcomes: Sequence[Outcome], peer: str, measure: str) -> Outcome | None:
    for outcome in outcomes:
        if outcome.peer == peer and outcome.measure == measure and not outcome.error:
            return outcome
    return None


def _figure(outcome: Outcome | None, key: str) -> float | None:
    if outcome is None:
        return None
    value = outcome.result.get(key)
    return None if value is None else float(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _failures(outcomes: Sequence[Outcome], measures: Sequence[str]) -> list[str]:
    return [f"- {outcome.peer}: not measured: {outcome.error}" for outcome in outcomes
            if outcome.measure in measures and outcome.error]


Row = Callable[[Outcome], list[str]]


def _section(title: str, note: str, header: Sequence[str], outcomes: Sequence[Outcome],
             measures: Sequence[str], row: Row) -> list[str]:
    chosen = [outcome for outcome in outcomes if outcome.measure in measures and not outcome.error]
    lines = [f"### {title}", "", note, ""]
    lines += _table(header, [row(outcome) for outcome in chosen])
    failures = _failures(outcomes, measures)
    return [*lines, *(["", *failures] if failures else []), ""]


def render_walk(outcomes: Sequence[Outcome]) -> list[str]:
    ours = _figure(_find(outcomes, OURS, "walk"), "cpu_us_per_varbind")

    def row(outcome: Outcome) -> list[str]:
        figure = _figure(outcome, "cpu_us_per_varbind")
        return [outcome.name, f"{outcome.result['varbinds_per_walk']:,}",
                _number(outcome.packets_per_walk()), _number(figure, 2), _spread(outcome),
                _system_share(outcome), _ratio(outcome, ours, figure)]

    header = ["Manager", "Varbinds per walk", "Requests per walk", "CPU µs per varbind",
              "Spread of batches", "System share", "snmpd_ng ÷ peer"]
    note = ("GETBULK walk of the agent's whole tree (1.3.6.1). Median over whole walks; a ratio "
            "below 1 means snmpd_ng uses less CPU. System share: the part of the CPU time spent "
            "in the kernel (sockets, epoll).")
    return _section("Walk: CPU per varbind", note, header, outcomes, ("walk",), row)


def render_get(outcomes: Sequence[Outcome]) -> list[str]:
    ours = _figure(_find(outcomes, OURS, "get"), "cpu_us_per_request")

    def row(outcome: Outcome) -> list[str]:
        figure = _figure(outcome, "cpu_us_per_request")
        return [outcome.name, _number(figure), _spread(outcome), _system_share(outcome),
                _number(outcome.packets_per_request(), 3), _ratio(outcome, ours, figure)]

    header = ["Manager", "CPU µs per request", "Spread of batches", "System share",
              "Packets per request", "snmpd_ng ÷ peer"]
    note = ("GETs of sysDescr.0 and sysUpTime.0, one request at a time. Median over batches; a "
            "ratio below 1 means snmpd_ng uses less CPU. net-snmp snmpget: one process per GET, "
            "less the CPU of the same command without OIDs (start-up). net-snmp snmpwalk: "
            "GETNEXT requests of one varbind in one process, the closest the tools come to a "
            "long-lived manager.")
    return _section("GET: CPU per request", note, header, outcomes, ("get", "getnext"), row)


def render_in_flight(outcomes: Sequence[Outcome], concurrency: int) -> list[str]:
    ours = _figure(_find(outcomes, OURS, "in_flight"), "requests_per_cpu_second")

    def row(outcome: Outcome) -> list[str]:
        per_cpu = _figure(outcome, "requests_per_cpu_second")
        return [outcome.name, _number(per_cpu, 0),
                _number(_figure(outcome, "requests_per_second"), 0),
                _number(_figure(outcome, "cpu_us_per_request")), _spread(outcome),
                _system_share(outcome), _number(outcome.packets_per_request(), 3),
                _ratio(outcome, ours, per_cpu)]

    header = ["Manager", "GETs per CPU second", "GETs per second (wall clock)",
              "CPU µs per GET", "Spread of batches (per CPU second)", "System share",
              "Packets per GET", "snmpd_ng ÷ peer"]
    note = (f"{concurrency} GETs in flight at any time (two varbinds each). GETs per CPU second "
            "is what one core of the manager sustains; the wall-clock rate is also bounded by "
            "the single-threaded agent on the other core. A ratio above 1 means snmpd_ng "
            "handles more GETs per CPU second. Only managers with an asyncio API are measured.")
    return _section(f"Requests in flight: GETs per second, {concurrency} in flight", note,
                    header, outcomes, ("in_flight",), row)


def render_goals(outcomes: Sequence[Outcome]) -> list[str]:
    """Compare each build of snmpd_ng with the performance goals, which are stated against
    gufo-snmp's asyncio client and one core."""
    walk_limit = _scaled(_figure(_find(outcomes, REFERENCE, "walk"), "cpu_us_per_varbind"),
                         WALK_GOAL_FACTOR)
    get_limit = _scaled(_figure(_find(outcomes, REFERENCE, "get"), "cpu_us_per_request"),
                        GET_GOAL_FACTOR)
    goals = (
        ("Walk: CPU µs per varbind ≤ gufo-snmp's", "walk", "cpu_us_per_varbind", 2, walk_limit),
        ("GET: CPU µs per request ≤ 0.7 x gufo-snmp's", "get", "cpu_us_per_request", 1,
         get_limit),
        ("GETs per CPU second with requests in flight ≥ 20,000", "in_flight",
         "requests_per_cpu_second", 0, IN_FLIGHT_GOAL),
    )

    rows = []
    for goal, measure, key, digits, limit in goals:
        # Rates are better high, CPU costs low.
        lower_is_better = measure != "in_flight"
        for peer in OURS_BUILDS:
            outcome = _find(outcomes, peer, measure)
            value = _figure(outcome, key)
            label = outcome.name if outcome is not None else peer
            rows.append([goal, label, _number(value, digits), _number(limit, digits),
                         _verdict(value, limit, lower_is_better=lower_is_better)])
    return ["### Goals", "", *_table(["Goal", "Build", "Figure", "Limit", "Met"], rows), ""]


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def _verdict(value: float | None, limit: float | None, *, lower_is_better: bool) -> str:
    if value is None or limit is None:
        return "not measured"
    met = value <= limit if lower_is_better else value >= limit
    return "yes" if met else "no"


def save_report(markdown: str, raw: dict[str, Any], output: Path | None,
                json_file: Path | None) -> None:
    """Write the Markdown report to `output` and the raw results to `json_file`, where given."""
    if output:
        output.write_text(markdown)
    if json_file:
        json_file.write_text(json.dumps(raw, indent=2) + "\n")


def render_heading(title: str, machine: dict[str, str], command: str,
                   elapsed: float) -> list[str]:
    """Return the heading of a run's report: its title and date, the command and the machine."""
    return [
        f"## {title} of {machine['date']}", "",
        f"Command: `{command}` (whole run: {elapsed:.0f} s)", "",
        "Machine: " + "; ".join(f"{key} {value}" for key, value in machine.items()
                                if key != "date"), "",
    ]


def render(outcomes: Sequence[Outcome], machine: dict[str, str], command: str,
           concurrency: int, elapsed: float) -> str:
    """Return the whole report: command, machine, one table per measure and the goals."""
    lines = render_heading("Benchmark run", machine, command, elapsed)
    lines += render_walk(outcomes)
    lines += render_get(outcomes)
    lines += render_in_flight(outcomes, concurrency)
    lines += render_goals(outcomes)
    return "\n".join(lines)
