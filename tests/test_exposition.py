"""The text exposition of /metrics: format pieces, parsers' verdicts, equality with the previous
prometheus-client rendering, contiguity, staleness and the HTTP response."""

from __future__ import annotations

import asyncio
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer
from exposition_oracle import ClientValueSnapshot
from fakes import FakeClock, obj
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from snmpd_ng.cache.base import CacheStats
from snmpd_ng.config.model import IndexSpec, LookupSpec, ObjectSpec, TableSpec
from snmpd_ng.http.app import HttpState, build_app
from snmpd_ng.http.health import Heartbeat
from snmpd_ng.http.metrics import DaemonCollector, DaemonStats, build_registry
from snmpd_ng.metrics.collector import PollingMetrics
from snmpd_ng.metrics.exposition import (
    CONTENT_TYPE,
    escape_help,
    escape_label_value,
    format_labels,
    format_value,
)
from snmpd_ng.metrics.health import PipelineStats
from snmpd_ng.polling.labels import LabelPairs
from snmpd_ng.polling.result import JobHealth, PollResult, ScalarPart, TablePart
from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.values import (
    Counter32,
    Counter64,
    Gauge32,
    Integer32,
    IpAddress,
    OctetString,
    Opaque,
    TimeTicks,
    VarBind,
)
from snmpd_ng.transport.stats import TargetStats

START = 1000.0
IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IF_X_ENTRY = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
IN_OCTETS = ObjectSpec((*IF_X_ENTRY, 6), "ifHCInOctets")
OPER_STATUS = ObjectSpec((*IF_ENTRY, 8), "ifOperStatus")
ERRORS = ObjectSpec((*IF_ENTRY, 14), "ifInErrors")
DESCR = ObjectSpec((*IF_ENTRY, 2), "ifDescr")
IF_TABLE = TableSpec("ifTable", (IN_OCTETS, OPER_STATUS, ERRORS, DESCR), (IndexSpec("ifIndex"),),
                     (LookupSpec("ifName", (*IF_X_ENTRY, 1)),))
UPTIME = obj("sysUpTime", "1.3.6.1.2.1.1.3.0")
LOCATION = obj("sysLocation", "1.3.6.1.2.1.1.6.0", help='Where the "box" is:\nrack \\3.')
ADDRESS = obj("agentAddress", "1.3.6.1.4.1.99999.3.0")
TEMPERATURE = obj("temperature", "1.3.6.1.4.1.99999.4.0")
LOAD = obj("laLoad", "1.3.6.1.4.1.2021.10.1.3.1", type="gauge")
BIG_COUNTER = 2**64 - 1
"""The largest Counter64, far above 2^53, where a float loses the lowest bits."""

# promtool's lint remarks on names that snmp_exporter's naming keeps on purpose.
ACCEPTED_LINT = ('counter metrics should have "_total" suffix',
                 "metric names should be written in 'snake_case' not 'camelCase'",
                 "label names should be written in 'snake_case' not 'camelCase'")


def pipeline() -> PipelineStats:
    return PipelineStats([], CacheStats(0, 0, 0, 0, 0), 0, 1, 0, 0, 0, 0)


def table_part(rows: int = 3, descr: str = "Ethernet") -> TablePart:
    columns = (
        (IN_OCTETS, [VarBind((*IN_OCTETS.oid, n), Counter64(BIG_COUNTER - n)) for n in
                     range(1, rows + 1)]),
        (OPER_STATUS, [VarBind((*OPER_STATUS.oid, n), Integer32(n % 2 + 1)) for n in
                       range(1, rows + 1)]),
        (ERRORS, [VarBind((*ERRORS.oid, n), Counter32(7 * n)) for n in range(1, rows + 1)]),
        (DESCR, [VarBind((*DESCR.oid, n), OctetString(f"{descr} {n}".encode()))
                 for n in range(1, rows + 1)]),
    )
    row_labels: dict[Oid, LabelPairs] = {
        (n,): (("ifIndex", str(n)), ("ifName", f'eth{n} "\\up\n"')) for n in range(1, rows + 1)}
    return TablePart(IF_TABLE, columns, row_labels, START)


def scalar_part() -> ScalarPart:
    objects = (UPTIME, LOCATION, ADDRESS, TEMPERATURE, LOAD)
    varbinds = [VarBind(UPTIME.oid, TimeTicks(123456)),
                VarBind(LOCATION.oid, OctetString(b'lab "A"\\B')),
                VarBind(ADDRESS.oid, IpAddress(bytes([192, 0, 2, 1]))),
                VarBind(TEMPERATURE.oid, Opaque(b"", inner=21.5, inner_tag=0x78)),
                VarBind(LOAD.oid, OctetString(b"0.15"))]
    return ScalarPart(objects, varbinds, START)


def result(target: str, job: str = "if", *, scalars: ScalarPart | None = None,
           tables: tuple[TablePart, ...] = (), at: float = START,
           failures: dict[str, int] | None = None) -> PollResult:
    health = JobHealth(runs=2, failures=failures or {}, last_success_wall=1.7e9,
                       errors={"timeout": 1})
    stats = TargetStats(requests=9, responses=8, timeouts=1, error_status={"genErr": 1},
                        last_rtt=0.002)
    return PollResult(target, job, 10.0, 3, at, at, at + 0.1, 1.7e9, True, None, None,
                      scalars, tables, health, stats)


async def filled_metrics(*targets: str, clock: FakeClock | None = None) -> PollingMetrics:
    """PollingMetrics after one result of a scalar job and one of an ifTable job per target."""
    metrics = PollingMetrics(clock or FakeClock(START), pipeline)
    for target in targets:
        metrics.set_target_labels(target, {"site": 'lab "1"\\\n', "bad-name": "x"})
        await metrics.handle(result(target, "system", scalars=scalar_part()))
        await metrics.handle(result(target, "if", tables=(table_part(),)))
    return metrics


def parsed_values(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Parse `text` with prometheus-client's parser; key each sample by name and labels.

    The parser names a counter's samples `<family>_total` even when the text does not, so a
    counter family's samples are keyed by the family's name as written.
    """
    values: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name
            if family.type == "counter" and f"# TYPE {family.name} counter" in text:
                name = family.name
            values[(name, frozenset(sample.labels.items()))] = sample.value
    return values


def sample_lines(text: str, name: str, **labels: str) -> list[str]:
    """Return the sample lines of `name` that contain every `label="value"` given."""
    pairs = [f'{label}="{value}"' for label, value in labels.items()]
    return [line for line in text.splitlines()
            if line.startswith(name + "{") and all(pair in line for pair in pairs)]


def type_lines(text: str) -> list[str]:
    return [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]


def assert_contiguous(text: str) -> None:
    """Check that every sample follows the TYPE line of its own name, and no name repeats."""
    seen: set[str] = set()
    current = None
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            current = line.split()[2]
            assert current not in seen, f"second TYPE line for {current}"
            seen.add(current)
        elif not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            assert name == current, f"sample {name} under the TYPE line of {current}"


class TestFormatValue:
    @pytest.mark.parametrize(("value", "text"), [
        (0, "0"), (-5, "-5"), (Counter64(BIG_COUNTER), "18446744073709551615"),
        (Counter32(7), "7"), (TimeTicks(100), "100"), (True, "1"),
        (3.0, "3"), (-0.0, "0"), (0.15, "0.15"), (2.5e-7, "2.5e-07"), (1e300, "1e+300"),
        (float("nan"), "NaN"), (float("inf"), "+Inf"), (float("-inf"), "-Inf"),
    ])
    def test_format_value_cases(self, value: int | float, text: str) -> None:
        assert format_value(value) == text

    def test_format_value_big_counter_exact(self) -> None:
        # A float would print 1.8446744073709552e+19, 1 above the counter's real value.
        assert int(format_value(Counter64(BIG_COUNTER))) == BIG_COUNTER

    def test_format_value_floats_read_back_exactly(self) -> None:
        for value in (0.1, 1 / 3, 2**53 + 2.0, 1.7e9 + 0.123, 5e-324):
            assert float(format_value(value)) == value


class TestEscaping:
    def test_label_value_escapes_three_characters(self) -> None:
        assert escape_label_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'

    def test_label_value_keeps_other_text(self) -> None:
        assert escape_label_value("é 0x00 \t {}=,") == "é 0x00 \t {}=,"

    def test_help_escapes_backslash_and_newline_only(self) -> None:
        assert escape_help('a\\b"c\nd') == 'a\\\\b"c\\nd'

    def test_labels_sorted_by_name(self) -> None:
        assert format_labels({"b": "2", "a": "1"}) == '{a="1",b="2"}'

    def test_no_labels_no_braces(self) -> None:
        assert format_labels({}) == ""

    async def test_escaped_labels_parse_back(self) -> None:
        metrics = await filled_metrics("router")

        values = parsed_values(metrics.render_text().decode())

        key = ("sysLocation", frozenset({("target", "router"), ("site", 'lab "1"\\\n'),
                                         ("bad_name", "x"), ("sysLocation", 'lab "A"\\B')}))
        assert values[key] == 1.0

    async def test_escaped_help_parses_back(self) -> None:
        metrics = await filled_metrics("router")

        families = {family.name: family
                    for family in text_string_to_metric_families(metrics.render_text().decode())}

        assert families["sysLocation"].documentation == 'Where the "box" is:\nrack \\3.'


class TestParsers:
    async def test_client_parser_reads_every_sample(self) -> None:
        metrics = await filled_metrics("router", "switch")
        text = metrics.render_text().decode()

        values = parsed_values(text)

        samples = [line for line in text.splitlines() if line and not line.startswith("#")]
        assert len(values) == len(samples)

    async def test_counter64_above_2_53_parses_to_nearest_float(self) -> None:
        metrics = await filled_metrics("router")

        values = parsed_values(metrics.render_text().decode())

        key = next(key for key in values
                   if key[0] == "ifHCInOctets" and ("ifIndex", "1") in key[1])
        assert float(values[key]) == float(BIG_COUNTER - 1)

    async def test_counters_typed_without_total(self) -> None:
        metrics = await filled_metrics("router")
        text = metrics.render_text().decode()

        assert "# TYPE ifHCInOctets counter\n" in text
        assert "\nifHCInOctets{" in text
        assert "ifHCInOctets_total" not in text

    async def test_total_naming_adds_suffix(self) -> None:
        metrics = PollingMetrics(FakeClock(START), pipeline, counter_naming="total")
        await metrics.handle(result("router", tables=(table_part(),)))
        text = metrics.render_text().decode()

        assert "# TYPE ifHCInOctets_total counter\n" in text
        assert "\nifHCInOctets_total{" in text
        assert "# TYPE ifOperStatus gauge\n" in text

    @pytest.mark.skipif(shutil.which("promtool") is None,
                        reason="promtool not on PATH (Debian package prometheus)")
    async def test_promtool_accepts_output(self) -> None:
        metrics = await filled_metrics("router", "switch")
        body, _ = render_all(metrics)

        checked = await asyncio.to_thread(subprocess.run, ["promtool", "check", "metrics"],
                                          input=body, capture_output=True, timeout=60,
                                          check=False)

        remarks = (checked.stdout + checked.stderr).decode()
        assert checked.returncode in (0, 3), remarks  # 3: lint remarks only, parsed fine.
        assert "error" not in remarks
        for line in remarks.splitlines():
            assert line.endswith(ACCEPTED_LINT), line


def render_all(metrics: PollingMetrics) -> tuple[bytes, str]:
    from snmpd_ng.http.metrics import render

    return render(build_registry([metrics, DaemonCollector(DaemonStats(), None)]))


class TestOracle:
    async def test_values_equal_previous_rendering(self) -> None:
        metrics = PollingMetrics(FakeClock(START), pipeline)
        oracle = ClientValueSnapshot()
        for target in ("router", "switch"):
            labels = {"site": 'lab "1"\\\n', "bad-name": "x"}
            metrics.set_target_labels(target, labels)
            oracle.set_target_labels(target, labels)
            for polled in (result(target, "system", scalars=scalar_part()),
                           result(target, "if", tables=(table_part(),))):
                await metrics.handle(polled)
                oracle.apply(polled)

        new = parsed_values(metrics.values.render().decode())
        old = parsed_values(oracle.exposition().decode())

        assert new.keys() == old.keys()
        for key, value in old.items():
            assert float(new[key]) == value, key

    async def test_types_differ_only_for_counters(self) -> None:
        metrics = await filled_metrics("router")
        oracle = ClientValueSnapshot()
        oracle.set_target_labels("router", {})
        oracle.apply(result("router", "system", scalars=scalar_part()))
        oracle.apply(result("router", "if", tables=(table_part(),)))

        new = {f.name: f.type for f in text_string_to_metric_families(
            metrics.values.render().decode())}
        old = {f.name: f.type for f in text_string_to_metric_families(
            oracle.exposition().decode())}

        assert {name for name in new if new[name] != old[name]} == {"ifHCInOctets",
                                                                   "ifInErrors"}
        assert old["ifHCInOctets"] == "unknown"
        assert new["ifHCInOctets"] == "counter"

    async def test_health_equals_client_rendering(self) -> None:
        metrics = await filled_metrics("router", "switch")
        registry = CollectorRegistry()
        registry.register(metrics)
        client = parsed_values(generate_latest(registry).decode())

        own = parsed_values(metrics.render_text().decode())

        health_keys = {key for key in client if key[0].startswith("snmp_")}
        assert health_keys
        assert health_keys == {key for key in own if key[0].startswith("snmp_")}
        for key in health_keys:
            assert own[key] == client[key], key


class TestContiguity:
    async def test_families_contiguous_across_targets(self) -> None:
        metrics = await filled_metrics("a", "c", "b")

        assert_contiguous(metrics.render_text().decode())

    async def test_families_contiguous_with_daemon_metrics(self) -> None:
        metrics = await filled_metrics("a", "b")
        body, _ = render_all(metrics)

        assert_contiguous(body.decode())

    async def test_families_sorted_and_parts_in_target_order(self) -> None:
        metrics = await filled_metrics("b", "a")
        text = metrics.values.render().decode()

        names = type_lines(text)
        lines = sample_lines(text, "ifOperStatus")
        assert names == sorted(names)
        assert lines.index(sample_lines(text, "ifOperStatus", target="a")[-1]) == 2
        assert lines.index(sample_lines(text, "ifOperStatus", target="b")[0]) == 3

    async def test_new_result_replaces_part_in_place(self) -> None:
        metrics = await filled_metrics("a", "b")
        await metrics.handle(result("a", "if", tables=(table_part(rows=1, descr="Port"),)))
        text = metrics.values.render().decode()

        assert_contiguous(text)
        assert len(sample_lines(text, "ifOperStatus", target="a")) == 1
        assert len(sample_lines(text, "ifOperStatus", target="b")) == 3
        assert 'ifDescr="Port 1"' in text


    async def test_changed_target_labels_rewrite_rows(self) -> None:
        metrics = await filled_metrics("a")
        metrics.set_target_labels("a", {"site": "new"})
        await metrics.handle(result("a", "if", tables=(table_part(),)))
        text = metrics.values.render().decode()

        assert len(sample_lines(text, "ifOperStatus", site="new", target="a")) == 3
        assert not sample_lines(text, "ifOperStatus", bad_name="x")

class TestStaleness:
    async def test_stale_part_disappears_with_empty_family(self) -> None:
        clock = FakeClock(START)
        metrics = await filled_metrics("a", clock=clock)
        await clock.advance(41.0)  # Past (stale_after + 1) x interval without a result.
        await metrics.handle(result("b", "system", scalars=scalar_part(), at=clock.now()))

        text = metrics.render_text().decode()

        assert 'target="a"' not in metrics.values.render().decode()
        assert "# TYPE ifOperStatus " not in text
        assert sample_lines(text, "sysUpTime", target="b")
        assert sample_lines(text, "snmp_poll_values_stale", job="if", target="a")[0].endswith(
            " 1")
        assert sample_lines(text, "snmp_target_reachable", target="a")[0].endswith(" 1")

    async def test_failed_part_goes_stale_other_part_stays(self) -> None:
        metrics = await filled_metrics("a")
        await metrics.handle(result("a", "if", failures={"ifTable": 3}))

        text = metrics.render_text().decode()

        assert "ifOperStatus{" not in text
        assert sample_lines(text, "sysUpTime", target="a")
        assert sample_lines(text, "snmp_poll_values_stale", job="if")[0].endswith(" 1")
        assert sample_lines(text, "snmp_poll_values_stale", job="system")[0].endswith(" 0")

    async def test_stale_part_comes_back_with_success(self) -> None:
        metrics = await filled_metrics("a")
        await metrics.handle(result("a", "if", failures={"ifTable": 3}))
        await metrics.handle(result("a", "if", tables=(table_part(),)))

        assert "ifOperStatus{" in metrics.render_text().decode()

    async def test_removed_target_leaves_no_line(self) -> None:
        metrics = await filled_metrics("a", "b")

        metrics.remove_target("a")
        text = metrics.render_text().decode()

        assert 'target="a"' not in text
        assert 'target="b"' in text

    async def test_removed_job_keeps_target_health_of_kept_job(self) -> None:
        metrics = await filled_metrics("a")

        metrics.remove_target("a", keep_jobs=["system"])
        text = metrics.render_text().decode()

        assert 'job="if"' not in text
        assert sample_lines(text, "snmp_polls_total", job="system")
        assert sample_lines(text, "snmp_target_requests_total", bad_name="x", target="a")


class TestConflicts:
    async def test_type_conflict_counter_wins_logged_once(self) -> None:
        as_gauge = ObjectSpec(UPTIME.oid, "sysUpTime", type="gauge")
        as_counter = ObjectSpec(UPTIME.oid, "sysUpTime", type="counter")
        metrics = PollingMetrics(FakeClock(START), pipeline)

        with structlog.testing.capture_logs() as logs:
            for _ in range(2):
                await metrics.handle(result("a", "x", scalars=ScalarPart(
                    (as_gauge,), [VarBind(UPTIME.oid, TimeTicks(5))], START)))
                await metrics.handle(result("b", "x", scalars=ScalarPart(
                    (as_counter,), [VarBind(UPTIME.oid, TimeTicks(6))], START)))
            text = metrics.render_text().decode()
            metrics.render_text()

        conflicts = [entry for entry in logs if entry["event"].startswith("metric type conflict")]
        assert len(conflicts) == 1
        assert conflicts[0]["metric"] == "sysUpTime"
        assert conflicts[0]["types"] == ["counter", "gauge"]
        assert metrics.values.type_conflicts == 1
        assert "# TYPE sysUpTime counter\n" in text
        assert 'sysUpTime{target="b"} 6\n' in text
        assert 'sysUpTime{target="a"}' not in text

    async def test_type_conflict_counted_again_after_it_ended(self) -> None:
        as_gauge = ObjectSpec(UPTIME.oid, "sysUpTime", type="gauge")
        as_counter = ObjectSpec(UPTIME.oid, "sysUpTime", type="counter")
        metrics = PollingMetrics(FakeClock(START), pipeline)
        varbinds = [VarBind(UPTIME.oid, TimeTicks(5))]

        await metrics.handle(result("a", "x", scalars=ScalarPart((as_gauge,), varbinds, START)))
        await metrics.handle(result("b", "x", scalars=ScalarPart((as_counter,), varbinds, START)))
        metrics.remove_target("b")
        await metrics.handle(result("b", "x", scalars=ScalarPart((as_counter,), varbinds, START)))

        assert metrics.values.type_conflicts == 2

    async def test_reserved_name_left_out_and_counted(self) -> None:
        clash = obj("snmp_target_reachable", "1.3.6.1.4.1.99999.5.0")
        metrics = PollingMetrics(FakeClock(START), pipeline)
        varbinds = [VarBind(clash.oid, Gauge32(5)), VarBind(UPTIME.oid, TimeTicks(1))]

        with structlog.testing.capture_logs() as logs:
            for _ in range(2):
                await metrics.handle(result("a", "x", scalars=ScalarPart((clash, UPTIME),
                                                                         varbinds, START)))
        body, _ = render_all(metrics)
        text = body.decode()

        assert [entry["metric"] for entry in logs
                if entry["event"].startswith("polled object left out")] == [
            "snmp_target_reachable"]
        assert metrics.values.reserved_names == {"snmp_target_reachable"}
        assert 'snmp_target_reachable{target="a"} 1\n' in text
        assert "} 5\n" not in text
        assert_contiguous(text)


class TestClientView:
    async def test_collect_shows_object_counters_untyped(self) -> None:
        metrics = await filled_metrics("a")
        registry = CollectorRegistry()
        registry.register(metrics)

        text = generate_latest(registry).decode()

        assert "# TYPE ifHCInOctets untyped\n" in text
        assert "# TYPE snmp_polls_total counter\n" in text

    async def test_collect_keeps_total_counters_typed(self) -> None:
        metrics = PollingMetrics(FakeClock(START), pipeline, counter_naming="total")
        await metrics.handle(result("a", tables=(table_part(),)))
        registry = CollectorRegistry()
        registry.register(metrics)

        text = generate_latest(registry).decode()

        assert "# TYPE ifHCInOctets_total counter\n" in text
        assert "\nifHCInOctets_total{" in text


class TestHttp:
    async def test_metrics_text_format_even_for_openmetrics(self) -> None:
        metrics = await filled_metrics("a")
        state = HttpState(
            registry=build_registry([metrics, DaemonCollector(DaemonStats(), None)]),
            heartbeat=Heartbeat(max_age=3.0, now=FakeClock().now),
            is_ready=lambda: True, stats=DaemonStats())
        accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"

        async with TestClient(TestServer(build_app(state))) as client:
            response = await client.get("/metrics", headers={"Accept": accept})
            body = await response.text()

        assert response.status == 200
        assert response.headers["Content-Type"] == CONTENT_TYPE
        assert "# EOF" not in body
        assert "# TYPE ifHCInOctets counter\n" in body
        assert "snmpd_ng_build_info{" in body
        assert "process_cpu_seconds_total" in body
        assert_contiguous(body)


def test_bench_runs_small(tmp_path: Path) -> None:
    bench = Path(__file__).resolve().parent.parent / "bench" / "exposition_bench.py"

    finished = subprocess.run(
        [sys.executable, str(bench), "--targets", "3", "--interfaces", "2", "--rounds", "1",
         "--json", str(tmp_path / "out.json")],
        capture_output=True, text=True, timeout=120, check=False)

    assert finished.returncode == 0, finished.stderr
    assert "| render all |" in finished.stdout
    assert (tmp_path / "out.json").exists()


def test_nan_value_written_as_nan() -> None:
    assert math.isnan(float(format_value(float("nan"))))
