"""Markdown tables and JSON of bench/cluster_alerting.py's results, for the section "Alerting in
cluster mode" of docs/benchmarks.md."""

from __future__ import annotations

import statistics
from dataclasses import asdict, is_dataclass
from typing import TYPE_CHECKING, Any

from cluster_alerting_measure import CommandsResult, CpuResult, CpuRow, EscalationResult
from cluster_alerting_redis import ALERTING_PARTS, PARTS
from cluster_report import _table, render_log_events

if TYPE_CHECKING:
    from cluster_alerting import AlertingOptions, AlertingResult

SIGNAL_COMMANDS = ("signal stream: signal append script", "signal stream: XREADGROUP",
                   "signal stream: XACK", "alert store: store APPLY")
"""The per-signal rows: the publishers' batches, the leader's reads, acks and store writes."""


def _per(count: float, divisor: float) -> str:
    return f"{count / divisor:.2f}" if divisor else "—"


def render_settings(options: AlertingOptions) -> list[str]:
    timing = options.timing
    return [
        f"Targets: {options.targets:,}, each net-snmp's snmpd under its own name, polled every "
        f"{options.interval:g} s for one value. One alert per target and rule, each its own "
        f"group. Cluster settings: lease_ttl {timing.lease_ttl:g} s, heartbeat_interval "
        f"{timing.heartbeat:g} s, lease_margin {timing.lease_margin:g} s.", ""]


def render_commands(result: CommandsResult | None) -> list[str]:
    """Return the tables of Redis commands per notification, by part and per signal."""
    if result is None:
        return []
    notifications = result.notifications
    parts = result.parts
    total = sum(result.calls.values())
    rows = [[part, f"{parts.sent[part]:,}", _per(parts.sent[part], notifications),
             f"{parts.in_scripts[part]:,}", _per(parts.in_scripts[part], notifications)]
            for part in PARTS]
    alerting_sent = sum(parts.sent[part] for part in ALERTING_PARTS)
    alerting_scripts = sum(parts.in_scripts[part] for part in ALERTING_PARTS)
    rows.append(["**alerting (the first three)**", f"{alerting_sent:,}",
                 _per(alerting_sent, notifications), f"{alerting_scripts:,}",
                 _per(alerting_scripts, notifications)])

    lines = ["#### Redis commands per notification", "",
             f"3 nodes, from before the value changed until the leader had delivered every "
             f"notification: {result.seconds:.1f} s by Redis's clock, {notifications:,} "
             f"notifications received ({result.delivered:,.0f} counted delivered by the "
             f"leader) and {result.signals:,.0f} signals published. INFO commandstats "
             f"counted {total:,} commands, {_per(total, notifications)} per notification, "
             "polling included. The MONITOR feed splits them by the key or script of each "
             "command.", "",
             *_table(["Part", "Sent by the nodes", "Per notification", "Run by scripts",
                      "Per notification"], rows)]
    signal_rows = [[name, f"{parts.by_command[name]:,}",
                    _per(parts.by_command[name], result.signals),
                    _per(parts.by_command[name], notifications)] for name in SIGNAL_COMMANDS]
    lines += ["Per signal: the commands that carry signals from the rules to the alert "
              "store.", "",
              *_table(["Command", "Calls", "Per signal", "Per notification"], signal_rows)]
    alerting = sorted((name, count) for name, count in parts.by_command.items()
                      if name.split(":", 1)[0] in ALERTING_PARTS)
    lines += ["Every alerting command the nodes sent: " + ", ".join(
        f"{name} {count:,}" for name, count in alerting) + ".", ""]
    return lines


def render_cpu(result: CpuResult | None) -> list[str]:
    """Return the table of CPU per 1,000 signals, with the ratios to the single node."""
    if result is None or not result.rows:
        return []
    single = next((row for row in result.rows if row.role == "single node"), None)
    reference = single.cpu_per_thousand if single else None
    rows = [_cpu_row(row, reference) for row in result.rows]
    cluster = [row for row in result.rows if row.role != "single node"]
    taken = sum(row.taken for row in cluster)
    if cluster and taken:
        per_thousand = 1000 * sum(row.extra_cpu for row in cluster) / taken
        rows.append(["**3 nodes together**", "", "", "", f"{taken:,.0f}",
                     f"{per_thousand:.3f}", _ratio(per_thousand, reference)])
    return ["#### CPU per 1,000 signals", "",
            f"CPU time (user plus system, /proc/PID/stat) over a quiet window of "
            f"{result.window:g} s, then over a window of the same length in which the value "
            f"flipped every {result.flip_period:g} s, so that every target's alert fired and "
            "resolved. Extra CPU is the flipping window's less the quiet window's; it "
            "includes the notifications. The leader and the single node divide it by the "
            "signals their alert service took, a follower by the signals it published.", "",
            *_table(["Node", "Quiet CPU (cores)", "Flipping CPU (cores)", "Extra CPU (s)",
                     "Signals", "CPU s per 1,000 signals", "÷ single node"], rows)]


def _cpu_row(row: CpuRow, reference: float | None) -> list[str]:
    per_thousand = row.cpu_per_thousand
    return [f"{row.role} ({row.node})", _cores(row.quiet_cpu, row.quiet_seconds),
            _cores(row.flipping_cpu, row.flipping_seconds), f"{row.extra_cpu:.2f}",
            f"{row.signals:,.0f}", "—" if per_thousand is None else f"{per_thousand:.3f}",
            "—" if per_thousand is None else _ratio(per_thousand, reference)]


def _cores(cpu: float, seconds: float) -> str:
    return f"{cpu / seconds:.3f}" if seconds else "—"


def _ratio(value: float, reference: float | None) -> str:
    return f"{value / reference:.2f}" if reference else "—"


def render_escalation(result: EscalationResult | None) -> list[str]:
    """Return the table of tier-2 delays after the leader's SIGKILL."""
    if result is None or not result.repeats:
        return []
    rows = [[str(number), repeat.leader, f"{repeat.groups:,}", f"{repeat.kill_before_due:.1f}",
             f"{statistics.median(repeat.delays):.1f} / {max(repeat.delays):.1f}",
             f"{repeat.first_after_kill:.1f}", str(repeat.duplicates),
             f"{repeat.rejoin_seconds:.1f}"]
            for number, repeat in enumerate(result.repeats, 1)]
    median, maximum = result.median_delay, result.max_delay
    summary = ("—" if median is None or maximum is None
               else f"{median:.1f} s median and {maximum:.1f} s max")
    return ["#### Escalation after the leader's SIGKILL", "",
            f"Tier 2 is due {result.tier2_after:g} s after a group's tier-1 notification "
            "arrived. Late: from that due time to the arrival of the group's tier 2. First "
            "tier 2: from the kill to the first tier-2 arrival, against lease_ttl + "
            f"heartbeat_interval = {result.bound:g} s. Over every group of every kill, tier 2 "
            f"was late by {summary}.", "",
            *_table(["Kill", "Leader killed", "Groups", "Kill before first due (s)",
                     "Late, median / max (s)", "First tier 2 after the kill (s)",
                     "Duplicates", "Rejoin (s)"], rows)]


def render_report(result: AlertingResult) -> str:
    """Return the Markdown of one run: heading, settings and the three tables."""
    machine = result.machine
    lines = [f"### Run of {machine['date']}", "",
             f"Command: `{result.command}` (whole run: {result.elapsed:.0f} s)", "",
             "Machine: " + "; ".join(f"{key} {value}" for key, value in machine.items()
                                     if key != "date"), "",
             *render_settings(result.options)]
    if result.error:
        lines += [f"The run failed: {result.error}", ""]
    lines += render_commands(result.commands)
    lines += render_cpu(result.cpu)
    lines += render_escalation(result.escalation)
    lines += render_log_events(result.log_events)
    return "\n".join(lines)


COMPUTED = ("extra_cpu", "signals", "cpu_per_thousand", "bound", "median_delay", "max_delay")
"""Properties of the result classes that the --json file carries beside their fields."""


def as_json(value: Any) -> Any:
    """Return a result as JSON data with its computed figures; other values as they are."""
    if not is_dataclass(value) or isinstance(value, type):
        return value
    data = asdict(value)
    if isinstance(value, CommandsResult):
        # asdict() would rebuild each Counter from its (name, count) pairs as keys.
        data["parts"] = {"sent": dict(value.parts.sent),
                         "in_scripts": dict(value.parts.in_scripts),
                         "by_command": dict(value.parts.by_command)}
    if isinstance(value, CpuResult):
        data["rows"] = [as_json(row) for row in value.rows]
    for name in COMPUTED:
        if hasattr(value, name):
            data[name] = getattr(value, name)
    return data
