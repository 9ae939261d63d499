"""Markdown tables of bench/cluster.py's results, for the "Cluster mode" section of
docs/benchmarks.md."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cluster_failover import FailoverResult
from cluster_measure import BenchOptions, CommandResult, ScaleRow
from cluster_nodes import IDLE_CAPACITY

if TYPE_CHECKING:
    from cluster import BenchResult

KIND_ORDER = ("heartbeat script", "lease script", "status read", "poll record script",
              "cache write script", "cache read", "cache removal script", "cache removal reads",
              "leave script", "pub/sub and connection checks", "other script", "other")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _number(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _ratio(value: float, reference: float | None) -> str:
    return f"{value / reference:.2f}" if reference else "—"


def render_settings(options: BenchOptions) -> list[str]:
    timing = options.timing
    return [
        f"Targets: {options.targets:,} simulated agents (bench/responder.py), each polled every "
        f"{options.interval:g} s with two jobs, so {options.scheduled_polls_per_second:,.0f} "
        f"polls per second are scheduled. Cluster settings: lease_ttl {timing.lease_ttl:g} s, "
        f"heartbeat_interval {timing.heartbeat:g} s, lease_margin {timing.lease_margin:g} s, "
        f"join_delay {timing.join_delay_seconds():g} s.", ""]


# ---------------------------------------------------------------------------------------------
# Scale-out


def _setup(row: ScaleRow) -> str:
    nodes = f"{row.nodes} node{'s' if row.nodes > 1 else ''}"
    return nodes if row.cluster else f"{nodes}, no cluster mode"


def render_scale(rows: Sequence[ScaleRow], options: BenchOptions) -> list[str]:
    """Return the scale-out table, with the ratios to one node in cluster mode."""
    if not rows:
        return []
    reference = next((row for row in rows if row.cluster and row.nodes == 1), None)
    polls_reference = reference.polls_per_second if reference else None
    cpu_reference = reference.polls_per_cpu_second if reference else None
    header = ["Setup", "Polls/s", "Of scheduled", "Nodes' CPU (cores)", "Busiest node (cores)",
              "Polls per CPU second of the nodes", "Polls/s ÷ 1 node",
              "Per CPU second ÷ 1 node", "Redis CPU (cores)", "Responder CPU (cores)",
              "Failed polls", "Skipped slots", "Redis errors"]
    table = [[_setup(row), _number(row.polls_per_second),
              f"{row.polls_per_second / options.scheduled_polls_per_second:.0%}",
              f"{row.daemon_cores:.2f}", f"{_busiest(row):.2f}",
              _number(row.polls_per_cpu_second),
              _ratio(row.polls_per_second, polls_reference),
              _ratio(row.polls_per_cpu_second, cpu_reference),
              _cores(row.redis_cpu_seconds, row), _cores(row.responder_cpu_seconds, row),
              _number(row.counts.get("failed_polls")), _number(row.counts.get("skipped_slots")),
              _number(row.counts.get("redis_errors")) if row.cluster else "—"]
             for row in rows]
    limit = options.max_concurrent_polls or "the default 256"
    note = ("Polls/s counts job runs (target x job) that ended without an error, from the "
            "nodes' `snmp_polls_total` less `snmp_poll_failures_total`. CPU is user plus "
            f"system time from /proc/PID/stat over {options.window:g} s windows, after "
            f"{options.warm_up:g} s of polling once the targets had settled on their nodes. "
            "The ratios compare with 1 node in cluster mode. Redis errors: heartbeats, lease "
            "requests and poll records that failed (the nodes' snmpd_ng_cluster_*_failures "
            f"counters). scheduler.max_concurrent_polls: {limit}.")
    return ["#### Scale-out", "", note, "", *_table(header, table), *_saturation(rows, options),
            *_error_kinds(rows)]


SATURATED_CORES = 0.9
"""A node above this share of one core is busy: its event loop runs in one thread."""
SATURATED_SHARE = 0.97
"""Below this share of the scheduled polls done without error, a node falls behind."""


def is_saturated(row: ScaleRow, options: BenchOptions) -> bool:
    """Tell whether a single node was busy and still did not complete its schedule."""
    return (_busiest(row) >= SATURATED_CORES
            and row.polls_per_second < SATURATED_SHARE * options.scheduled_polls_per_second)


def _saturation(rows: Sequence[ScaleRow], options: BenchOptions) -> list[str]:
    """Return one sentence per single-node row on whether that node saturated."""
    lines = []
    for row in rows:
        if row.nodes != 1:
            continue
        facts = (f"{_busiest(row):.2f} cores and "
                 f"{row.polls_per_second / options.scheduled_polls_per_second:.0%} of the "
                 "scheduled polls")
        if is_saturated(row, options):
            lines.append(f"- {_setup(row)}: saturated ({facts}), so one such node does about "
                         f"{row.polls_per_second:,.0f} polls/s on this machine.")
        else:
            lines.append(f"- {_setup(row)}: not saturated ({facts}).")
    return [*lines, ""] if lines else []


def _busiest(row: ScaleRow) -> float:
    return max(row.node_cpu_seconds, default=0.0) / row.seconds if row.seconds else 0.0


def _cores(cpu_seconds: float, row: ScaleRow) -> str:
    return f"{cpu_seconds / row.seconds:.2f}" if row.seconds else "—"


def _error_kinds(rows: Sequence[ScaleRow]) -> list[str]:
    """Return one line per row with failed polls: how many failed of each kind."""
    lines = []
    for row in rows:
        kinds = sorted(row.error_kinds.items(), key=lambda item: -item[1])
        if kinds:
            listed = ", ".join(f"{kind} {count:,.0f}" for kind, count in kinds)
            lines.append(f"- {_setup(row)}: {listed}")
    if not lines:
        return []
    return ["Poll errors by kind (`snmp_poll_errors_total`):", "", *lines, ""]


def render_idle(idle: ScaleRow | None, rows: Sequence[ScaleRow]) -> list[str]:
    """Return the sentence on the member that holds no lease."""
    if idle is None or not idle.seconds:
        return []
    cores = idle.daemon_cores
    text = (f"A fourth member that the assignment gives no target (capacity {IDLE_CAPACITY:g}) "
            f"used {cores:.2f} cores beside the 3 nodes: heartbeats, the status read, and a "
            "schedule for every target whose slots it skips. Every node pays this on top of "
            "its share")
    three = next((row for row in rows if row.cluster and row.nodes == 3), None)
    if three is not None and three.daemon_cores:
        share = 3 * cores / three.daemon_cores
        text += (f". Three times this is {share:.0%} of the CPU of the 3 nodes above, an "
                 "estimate of what the schedules and heartbeats cost them")
    return [text + ".", ""]


# ---------------------------------------------------------------------------------------------
# Redis commands


def _kinds(result: CommandResult) -> list[str]:
    found = set(result.counts.kinds)
    return [kind for kind in KIND_ORDER if kind in found] + sorted(found - set(KIND_ORDER))


def render_commands(result: CommandResult | None) -> list[str]:
    """Return the tables of Redis commands per poll: by kind, then by command."""
    if result is None:
        return []
    polls = result.polls or 1
    heartbeats = result.heartbeats or 1
    kind_rows = [[kind, _number(count), f"{count / polls:.3f}", f"{count / heartbeats:.2f}"]
                 for kind in _kinds(result) for count in [result.counts.kinds[kind]]]
    sent = sum(result.counts.kinds.values())
    kind_rows.append(["**all**", _number(sent), f"{sent / polls:.3f}",
                      f"{sent / heartbeats:.2f}"])

    commands = sorted(result.calls, key=lambda name: (-result.calls[name], name))
    command_rows = [[f"`{name}`", _number(result.calls[name]),
                     f"{result.calls[name] / polls:.3f}",
                     _number(result.counts.sent.get(name.split("|")[0], 0)),
                     _number(result.counts.in_scripts.get(name.split("|")[0], 0))]
                    for name in commands]
    summary = (f"{result.nodes} nodes over {result.seconds:.1f} s by Redis's clock: "
               f"{result.polls:,} polls recorded in the `polls` stream and "
               f"{result.heartbeats:,} heartbeats. INFO commandstats counted "
               f"{sum(result.calls.values()):,} commands; the MONITOR feed showed {sent:,} "
               f"sent by the nodes and {sum(result.counts.in_scripts.values()):,} run by "
               "their scripts.")
    return ["#### Redis commands per poll", "", summary, "",
            *_table(["Kind", "Commands sent by the nodes", "Per poll", "Per heartbeat of one "
                     "node"], kind_rows),
            *_table(["Command", "Calls (INFO commandstats)", "Per poll", "Sent by the nodes",
                     "Run by scripts"], command_rows)]


# ---------------------------------------------------------------------------------------------
# Failover


def render_failover(result: FailoverResult | None, options: BenchOptions) -> list[str]:
    """Return the failover table, the times of each repeat and the slowest takeover."""
    if result is None or not result.repeats:
        return []
    repeats = result.repeats
    rejoins = [repeat.rejoin_seconds for repeat in repeats]
    firsts = [repeat.first_seconds for repeat in repeats if repeat.first_seconds is not None]

    row = [str(len(repeats)), _number(statistics.median(r.targets for r in repeats)),
           _median_max(result.lease_times), f"{result.lease_bound:g}",
           _number(statistics.median(firsts) if firsts else None, 1),
           _median_max(result.times), f"{result.bound:g}", _median_max(rejoins)]
    lines = ["#### Failover", "", _failover_note(result, options), "",
             *_table(["Repeats", "Targets of the killed node (median)",
                      "Leased, median / max (s)", "Bound (s)", "First poll, median (s)",
                      "Polled, median / max (s)", "Bound (s)",
                      "Rejoin, median / max (s)"], [row]),
             "Each repeat, leased / polled (s): " + ", ".join(
                 f"{_number(r.leases_seconds, 1)} / {_number(r.seconds, 1)}" for r in repeats)
             + ".", ""]
    lines += _slowest_takeover(result)
    if result.incomplete:
        lines += [f"In {result.incomplete} repeats some targets had no poll by another node "
                  "within three times the bound.", ""]
    return lines


def _failover_note(result: FailoverResult, options: BenchOptions) -> str:
    timing = options.timing
    exported = ("No node exports snmpd_ng_cluster_failover_bound_seconds"
                if result.daemon_bound is None else
                f"The nodes export {result.daemon_bound:g} s as "
                "snmpd_ng_cluster_failover_bound_seconds")
    return (f"Seconds from the SIGKILL of one of 3 nodes. Leased: until a check found every "
            f"target it held leased by another node, against lease_ttl + heartbeat_interval "
            f"({timing.lease_ttl:g} + {timing.heartbeat:g} s). Polled: until the last of "
            f"those targets had a poll started by another node (the poll record's "
            f"`started`). Its bound is the daemon's default: that plus one run (the capped "
            f"budget and its grace, {timing.longest_run():.3g} s), or the interval "
            f"({options.interval:g} s) when longer. {exported}. First poll: the first such "
            "start. Rejoin: from the restart of the killed node until it held every target "
            "the assignment gives it again.")


def _slowest_takeover(result: FailoverResult) -> list[str]:
    """Describe the poll that ended the slowest repeat, from its record in the stream."""
    slowest = max((r for r in result.repeats if r.seconds is not None),
                  key=lambda r: r.seconds or 0.0, default=None)
    if slowest is None or not slowest.slowest:
        return []
    record = slowest.slowest
    try:
        late = float(record["started"]) - float(record["slot"])
    except (KeyError, ValueError):
        return []
    return [f"Slowest repeat ({slowest.seconds:.1f} s, {slowest.node} killed): its last "
            f"target, {record.get('target', '?')}, was first polled by "
            f"{record.get('node', '?')} (job {record.get('job', '?')}), in a poll that started "
            f"{late:.1f} s after its slot.", ""]


def _median_max(values: Sequence[float]) -> str:
    if not values:
        return "—"
    return f"{statistics.median(values):.1f} / {max(values):.1f}"


LOG_EVENTS_SHOWN = 10


def render_log_events(events: dict[str, int]) -> list[str]:
    """Return the most frequent warnings and errors of the nodes' logs, one line each."""
    if not events:
        return []
    ranked = sorted(events.items(), key=lambda item: (-item[1], item[0]))[:LOG_EVENTS_SHOWN]
    return ["#### Warnings and errors in the nodes' logs", "",
            "Over the whole run, by event and error. The daemon logs a repeated warning at "
            "most once a minute per kind, so a count is a lower bound.", "",
            *(f"- {count:,} x {event}" for event, count in ranked), ""]


def render_report(result: BenchResult) -> str:
    """Return the Markdown of one run: heading, settings and the three tables."""
    machine = result.machine
    lines = [f"### Run of {machine['date']}", "",
             f"Command: `{result.command}` (whole run: {result.elapsed:.0f} s)", "",
             "Machine: " + "; ".join(f"{key} {value}" for key, value in machine.items()
                                     if key != "date"), "",
             *render_settings(result.options)]
    if result.error:
        lines += [f"The run failed: {result.error}", ""]
    lines += render_scale(result.scale, result.options)
    lines += render_idle(result.idle, result.scale)
    lines += render_commands(result.commands)
    lines += render_failover(result.failover, result.options)
    lines += render_log_events(result.log_events)
    return "\n".join(lines)
