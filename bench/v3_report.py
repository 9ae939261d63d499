"""Markdown tables of bench/v3_run.py: SNMPv3 authPriv next to SNMPv2c, per manager."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from instructions import InstructionCount
from report import (
    OURS,
    Outcome,
    _figure,
    _number,
    _spread,
    _system_share,
    _table,
    render_heading,
)

sys.path.append(str(Path(__file__).resolve().parent / "peers"))
from security import PROFILES, PROFILES_BY_KEY, V2C

V3_GOAL = 1.5
"""snmpd_ng's cost of an SNMPv3 authPriv operation, at most this many times its SNMPv2c cost."""

UNSUPPORTED_PREFIX = "not supported"
"""Start of a runner's message when its peer lacks a profile (common.check_supported)."""

Key = tuple[str, str, str]
"""Peer, security profile and measure of one outcome."""


def _index(outcomes: Sequence[Outcome]) -> dict[Key, Outcome]:
    return {(outcome.peer, outcome.security, outcome.measure): outcome for outcome in outcomes}


def _ratio(numerator: float | None, denominator: float | None) -> str:
    return "—" if numerator is None or not denominator else f"{numerator / denominator:.2f}"


def _label(outcome: Outcome) -> str:
    return outcome.name if outcome.result else outcome.peer


def _failure(outcome: Outcome) -> str:
    if outcome.error.startswith(UNSUPPORTED_PREFIX):
        return UNSUPPORTED_PREFIX
    return f"failed: {outcome.error}"


Row = Callable[[Outcome, float | None], list[str]]


def _rows(outcomes: Sequence[Outcome], measures: Sequence[str], key: str, ours_measure: str,
          row: Row) -> list[list[str]]:
    """Return a row per outcome of `measures`, in run order. A failed one shows its reason."""
    index = _index(outcomes)
    rows = []
    for outcome in outcomes:
        if outcome.measure not in measures:
            continue
        security = PROFILES_BY_KEY[outcome.security].label
        if outcome.error:
            rows.append([outcome.peer, security, _failure(outcome)])
            continue
        figure = _figure(outcome, key)
        v2c = _figure(index.get((outcome.peer, V2C.key, outcome.measure)), key)
        ours = _figure(index.get((OURS, outcome.security, ours_measure)), key)
        versus_v2c = "—" if outcome.security == V2C.key else _ratio(figure, v2c)
        versus_peer = "—" if outcome.peer == OURS else _ratio(ours, figure)
        rows.append([_label(outcome), security, *row(outcome, figure), versus_v2c, versus_peer])
    return rows


def _pad(rows: list[list[str]], width: int) -> list[list[str]]:
    """Fill a failure's row with dashes, so that its reason stays in the figure's column."""
    return [row + ["—"] * (width - len(row)) for row in rows]


def render_get(outcomes: Sequence[Outcome]) -> list[str]:
    def row(outcome: Outcome, figure: float | None) -> list[str]:
        return [_number(figure), _spread(outcome), _system_share(outcome),
                _number(outcome.packets_per_request(), 3)]

    header = ["Manager", "Security", "CPU µs per request", "Spread of batches", "System share",
              "Packets per request", "v3 ÷ v2c", "snmpd_ng ÷ peer"]
    rows = _rows(outcomes, ("get", "getnext"), "cpu_us_per_request", "get", row)
    note = ("GETs of sysDescr.0 and sysUpTime.0, one request at a time, median over batches. "
            "v3 ÷ v2c compares a manager with itself; a snmpd_ng ÷ peer ratio below 1 means "
            "snmpd_ng uses less CPU with the same security. Packets per request above 1 are "
            "the SNMPv3 engine discovery at the start of each process: one probe for "
            "snmpd_ng, two for gufo-snmp, and one for each snmpget process, whose row also "
            "includes the key derivation of each process. net-snmp snmpwalk: GETNEXT "
            "requests of one varbind in one process.")
    return ["### GET: CPU per request, by security", "", note, "",
            *_table(header, _pad(rows, len(header))), ""]


def render_walk(outcomes: Sequence[Outcome]) -> list[str]:
    def row(outcome: Outcome, figure: float | None) -> list[str]:
        return [f"{outcome.result['varbinds_per_walk']:,}", _number(figure, 2), _spread(outcome),
                _system_share(outcome)]

    header = ["Manager", "Security", "Varbinds per walk", "CPU µs per varbind",
              "Spread of batches", "System share", "v3 ÷ v2c", "snmpd_ng ÷ peer"]
    rows = _rows(outcomes, ("walk",), "cpu_us_per_varbind", "walk", row)
    note = ("GETBULK walk of the agent's whole tree (1.3.6.1), max-repetitions 10, median over "
            "whole walks. Ratios as in the GET table.")
    return ["### Walk: CPU per varbind, by security", "", note, "",
            *_table(header, _pad(rows, len(header))), ""]


def _count(counts: Sequence[InstructionCount], security: str,
           measure: str) -> InstructionCount | None:
    for count in counts:
        if (count.peer, count.security, count.measure) == (OURS, security, measure):
            return count
    return None


def render_instructions(counts: Sequence[InstructionCount]) -> list[str]:
    if not counts:
        return []
    rows = []
    for count in counts:
        security = PROFILES_BY_KEY[count.security].label
        operation = "GET of 2 varbinds" if count.measure == "get" else "walk of 1.3.6.1.2.1.2"
        if count.error:
            rows.append([count.peer, operation, security, f"failed: {count.error}", "—", "—"])
            continue
        v2c = _count(counts, V2C.key, count.measure)
        versus_v2c = "—" if count.security == V2C.key or v2c is None else _ratio(
            count.per_operation, v2c.per_operation)
        per_varbind = _number(count.per_varbind, 0) if count.measure == "walk" else "—"
        rows.append([count.peer, operation, security, _number(count.per_operation, 0),
                     per_varbind, versus_v2c])
    header = ["Manager", "Operation", "Security", "Instructions per operation",
              "Instructions per varbind", "v3 ÷ v2c"]
    note = ("User-space instructions counted by valgrind's cachegrind (bench/instructions.py): "
            "the difference of two runs with a different number of operations, so start-up "
            "and warm-up cancel out. Repeated runs of the same code differ by about 1 %.")
    return ["### Instructions per operation (cachegrind)", "", note, "", *_table(header, rows),
            ""]


def _verdict(ratio: str) -> str:
    if ratio == "—":
        return "not measured"
    return "yes" if float(ratio) <= V3_GOAL else "no"


def render_goal(outcomes: Sequence[Outcome], counts: Sequence[InstructionCount]) -> list[str]:
    """Compare snmpd_ng's v3 ÷ v2c ratios with the goal, in CPU time and in instructions."""
    index = _index(outcomes)
    keys = {"get": "cpu_us_per_request", "walk": "cpu_us_per_varbind"}
    rows = []
    for measure, key in keys.items():
        cpu_v2c = _figure(index.get((OURS, V2C.key, measure)), key)
        count_v2c = _count(counts, V2C.key, measure)
        for profile in PROFILES[1:]:
            cpu = _ratio(_figure(index.get((OURS, profile.key, measure)), key), cpu_v2c)
            count = _count(counts, profile.key, measure)
            instructions = "—"
            if count is not None and count_v2c is not None:
                instructions = _ratio(count.per_operation, count_v2c.per_operation)
            rows.append(["GET" if measure == "get" else "Walk", profile.label, cpu,
                         _verdict(cpu), instructions, _verdict(instructions)])
    header = ["Measure", "Security", "CPU v3 ÷ v2c", f"CPU within {V3_GOAL}",
              "Instructions v3 ÷ v2c", f"Instructions within {V3_GOAL}"]
    note = (f"Goal: an SNMPv3 authPriv operation costs snmpd_ng at most {V3_GOAL} times its "
            "SNMPv2c cost. CPU time includes the kernel's work for each datagram, which is "
            "about the same for both versions, and moves with the machine's load between two "
            "runs minutes apart. Instructions count user space alone and do not move, so their "
            "ratio is the higher and steadier one. The CPU walk is of the whole tree and the "
            "counted walk of the interfaces group (9 GETBULKs).")
    return ["### snmpd_ng: SNMPv3 over SNMPv2c", "", note, "", *_table(header, rows), ""]


def render_v3(outcomes: Sequence[Outcome], counts: Sequence[InstructionCount],
              machine: dict[str, str], command: str, elapsed: float) -> str:
    """Return the whole report: command, machine, the tables and the goal."""
    lines = render_heading("SNMPv3 benchmark run", machine, command, elapsed)
    lines += render_get(outcomes)
    lines += render_walk(outcomes)
    lines += render_instructions(counts)
    lines += render_goal(outcomes, counts)
    return "\n".join(lines)
