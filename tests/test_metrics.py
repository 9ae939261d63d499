"""PollingMetrics: what its text exposition shows for results, across targets, staleness and
type clashes."""

from __future__ import annotations

import dataclasses

from fakes import FakeClock, obj

from snmpd_ng.config.model import IndexSpec, ObjectSpec, TableSpec
from snmpd_ng.metrics.collector import PollingMetrics
from snmpd_ng.metrics.health import PipelineStats
from snmpd_ng.polling.result import JobHealth, PollResult, ScalarPart, TablePart
from snmpd_ng.protocol.oid import parse_oid
from snmpd_ng.protocol.values import Counter32, Gauge32, OctetString, VarBind
from snmpd_ng.transport.stats import TargetStats

START = 1000.0
UPTIME = obj("sysUpTimeLike", "1.3.6.1.4.1.99999.1.0")
LOAD = obj("laLoad", "1.3.6.1.4.1.2021.10.1.3.1", type="gauge")


def pipeline() -> PipelineStats:
    from snmpd_ng.cache.base import CacheStats

    return PipelineStats([], CacheStats(0, 0, 0, 0, 0), 0, 1, 0, 0, 0, 0)


def result(target: str, *varbinds: VarBind, objects: tuple[ObjectSpec, ...] = (UPTIME,),
           at: float = START, failures: int = 0,
           tables: tuple[TablePart, ...] = ()) -> PollResult:
    health = JobHealth(runs=1, failures={"scalars": failures})
    scalars = ScalarPart(objects, list(varbinds), at) if varbinds else None
    return PollResult(target, "job", 10.0, 3, at, at, at, at + 1.7e9, True, None, None,
                      scalars, tables, health, None)


def render(metrics: PollingMetrics) -> str:
    return metrics.render_text().decode()


async def test_render_merges_families_across_targets() -> None:
    metrics = PollingMetrics(FakeClock(START), pipeline)
    oid = UPTIME.oid
    await metrics.handle(result("a", VarBind(oid, Gauge32(1))))
    await metrics.handle(result("b", VarBind(oid, Gauge32(2))))

    text = render(metrics)

    assert text.count("# TYPE sysUpTimeLike gauge") == 1
    assert 'sysUpTimeLike{target="a"} 1\n' in text
    assert 'sysUpTimeLike{target="b"} 2\n' in text


async def test_render_clashing_type_keeps_counter_counts_once() -> None:
    metrics = PollingMetrics(FakeClock(START), pipeline)
    oid = UPTIME.oid
    await metrics.handle(result("a", VarBind(oid, Gauge32(1))))
    await metrics.handle(result("b", VarBind(oid, Counter32(2))))
    await metrics.handle(result("b", VarBind(oid, Counter32(3))))

    text = render(metrics)
    render(metrics)

    assert 'sysUpTimeLike{target="a"}' not in text
    assert 'sysUpTimeLike{target="b"} 3\n' in text
    assert text.count("# TYPE sysUpTimeLike ") == 1
    assert "# TYPE sysUpTimeLike counter" in text
    assert metrics.values.type_conflicts == 1


async def test_render_drops_values_when_results_stop() -> None:
    clock = FakeClock(START)
    metrics = PollingMetrics(clock, pipeline)
    await metrics.handle(result("a", VarBind(UPTIME.oid, Gauge32(1))))

    await clock.advance(40.0)  # (stale_after + 1) x interval
    kept = render(metrics)
    await clock.advance(0.1)
    dropped = render(metrics)

    assert 'sysUpTimeLike{target="a"}' in kept
    assert 'sysUpTimeLike{target="a"}' not in dropped
    assert 'snmp_poll_values_stale{job="job",target="a"} 0\n' in kept
    assert 'snmp_poll_values_stale{job="job",target="a"} 1\n' in dropped


async def test_render_failed_part_keeps_series_until_stale_after() -> None:
    metrics = PollingMetrics(FakeClock(START), pipeline)
    await metrics.handle(result("a", VarBind(UPTIME.oid, Gauge32(1))))

    await metrics.handle(result("a", failures=2))
    kept = render(metrics)
    await metrics.handle(result("a", failures=3))
    dropped = render(metrics)

    assert 'sysUpTimeLike{target="a"} 1\n' in kept
    assert "sysUpTimeLike{" not in dropped


async def test_render_counts_unconvertible_values() -> None:
    metrics = PollingMetrics(FakeClock(START), pipeline)
    await metrics.handle(result("a", VarBind(LOAD.oid, OctetString(b"n/a")), objects=(LOAD,)))

    text = render(metrics)

    assert "laLoad{" not in text
    assert 'snmp_poll_unconvertible_values_total{job="job",target="a"} 1\n' in text


async def test_render_config_label_clash_with_index_label() -> None:
    metrics = PollingMetrics(FakeClock(START), pipeline)
    metrics.set_target_labels("a", {"ifIndex": "from-config"})
    column = obj("ifInOctets", "1.3.6.1.2.1.2.2.1.10")
    table = TableSpec("ifTable", (column,), (IndexSpec("ifIndex"),))
    rows = [VarBind((*column.oid, 4), Counter32(9))]
    part = TablePart(table, ((column, rows),), {(4,): (("ifIndex", "4"),)}, START)
    await metrics.handle(result("a", tables=(part,)))

    text = render(metrics)

    assert 'ifInOctets{exported_ifIndex="4",ifIndex="from-config",target="a"} 9\n' in text


async def test_render_is_repeatable_and_leaves_state_alone() -> None:
    metrics = PollingMetrics(FakeClock(START), pipeline)
    await metrics.handle(result("a", VarBind(UPTIME.oid, Gauge32(1))))

    first = render(metrics)
    second = render(metrics)

    assert first == second


async def test_remove_target_drops_series_and_health() -> None:
    metrics = PollingMetrics(FakeClock(START), pipeline)
    await metrics.handle(result("a", VarBind(UPTIME.oid, Gauge32(1))))

    metrics.remove_target("a")
    text = render(metrics)

    assert 'target="a"' not in text


async def test_scalars_matched_by_oid_and_extra_varbinds_ignored() -> None:
    metrics = PollingMetrics(FakeClock(START), pipeline)
    other = obj("other", "1.3.6.1.4.1.99999.2.0")
    uptime = VarBind(parse_oid("1.3.6.1.2.1.1.3.0"), Gauge32(5))  # Asked for reboot checks only.
    await metrics.handle(result("a", VarBind(other.oid, Gauge32(2)), uptime,
                                VarBind(UPTIME.oid, Gauge32(1)), objects=(UPTIME, other)))

    text = render(metrics)

    assert 'sysUpTimeLike{target="a"} 1\n' in text
    assert 'other{target="a"} 2\n' in text
    assert " 5\n" not in text


async def test_target_request_help_says_resends_count_apart() -> None:
    metrics = PollingMetrics(FakeClock(START), pipeline)
    stats = TargetStats(requests=1, retries=1, timeouts=1)
    await metrics.handle(dataclasses.replace(result("a", VarBind(UPTIME.oid, Gauge32(1))),
                                             stats=stats))

    text = render(metrics)

    assert ("# HELP snmp_target_requests_total Requests sent to the target, each counted once; "
            "resends count in snmp_target_retries_total.\n") in text
    assert ("# HELP snmp_target_retries_total Resends of a request after one of its attempts "
            "timed out.\n") in text
    assert "snmp_target_requests_total{target=\"a\"} 1\n" in text


def shared_pipeline() -> PipelineStats:
    from snmpd_ng.cache.base import CacheStats

    cache = CacheStats(0, 5, 1, 0, 0, local_hits=3, fenced_writes=2, shared=True)
    return PipelineStats([], cache, 0, 1, 0, 0, 0, 0)


def test_shared_cache_counters_exported() -> None:
    metrics = PollingMetrics(FakeClock(START), shared_pipeline)

    text = render(metrics)

    assert "\nsnmp_cache_local_hits_total 3\n" in text
    assert "\nsnmp_cache_fenced_writes_total 2\n" in text


def test_in_process_cache_has_no_shared_counters() -> None:
    metrics = PollingMetrics(FakeClock(START), pipeline)

    assert "snmp_cache_local_hits" not in render(metrics)
