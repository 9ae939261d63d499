"""Samples from poll results: the names, labels and values of /metrics, and the built-ins."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator, Mapping

import pytest
from agents import DYNAMIC_VALUE_OID, NetSnmpAgent
from fakes import FakeClock, obj

from snmpd_ng.alerting.rules import Rule, RulesEngine, RuleSignal
from snmpd_ng.alerting.series import (
    POLL_SUCCESS,
    REBOOTS,
    UP,
    Sample,
    label_key,
    samples_from_result,
)
from snmpd_ng.clock import LoopClock
from snmpd_ng.config.model import (
    DaemonConfig,
    IndexSpec,
    JobConfig,
    ObjectSpec,
    SchedulerConfig,
    TableSpec,
    TargetConfig,
)
from snmpd_ng.manager import Manager, Target
from snmpd_ng.metrics.snapshot import ValueSnapshot
from snmpd_ng.polling.labels import LabelPairs
from snmpd_ng.polling.result import JobHealth, PollResult, ScalarPart, TablePart
from snmpd_ng.polling.service import PollingService
from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.values import (
    NO_SUCH_INSTANCE,
    Counter32,
    Counter64,
    Gauge32,
    Integer32,
    MalformedValue,
    OctetString,
    SnmpValue,
    VarBind,
)
from snmpd_ng.secret import Secret

IF_IN_OCTETS = obj("ifInOctets", "1.3.6.1.2.1.2.2.1.10")
IF_OPER_STATUS = obj("ifOperStatus", "1.3.6.1.2.1.2.2.1.8")
IF_ALIAS = obj("ifAlias", "1.3.6.1.2.1.31.1.1.1.18")
IF_TABLE = TableSpec("ifTable", (IF_IN_OCTETS, IF_OPER_STATUS, IF_ALIAS),
                     (IndexSpec("ifIndex"),))
SYS_UPTIME = obj("sysUpTime", "1.3.6.1.2.1.1.3.0")
TEMPERATURE = obj("temperature", "1.3.6.1.4.1.99999.20.0", type="gauge")

SAMPLE_LINE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? "
                         r"(?P<value>\S+)$")
LABEL_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"')

FINISHED_AT = 500.0
FETCHED_AT = 499.5
WALL_OFFSET = 1_700_000_000.0


def column(spec: ObjectSpec, values: Mapping[int, SnmpValue]) -> tuple[ObjectSpec, list[VarBind]]:
    return spec, [VarBind((*spec.oid, index), value) for index, value in values.items()]


def if_table_part(rows: dict[int, str] | None = None) -> TablePart:
    rows = {1: "Gi0/1", 2: "Gi0/2"} if rows is None else rows
    columns = (
        column(IF_IN_OCTETS, {index: Counter32(1000 * index) for index in rows}),
        column(IF_OPER_STATUS, {index: Integer32(1) for index in rows}),
        column(IF_ALIAS, {index: OctetString(f"uplink {index}".encode()) for index in rows}),
    )
    labels: dict[Oid, LabelPairs] = {(index,): (("ifIndex", str(index)), ("ifName", name))
                                     for index, name in rows.items()}
    return TablePart(IF_TABLE, columns, labels, FETCHED_AT)


def poll_result(*, scalars: ScalarPart | None = None, tables: tuple[TablePart, ...] = (),
                reachable: bool = True, error_kind: str | None = None,
                reboots: int = 0) -> PollResult:
    return PollResult(
        target="core1", job="if", interval=10.0, stale_after=3, scheduled_at=FINISHED_AT - 1,
        started_at=FINISHED_AT - 1, finished_at=FINISHED_AT,
        finished_wall=WALL_OFFSET + FINISHED_AT, reachable=reachable, error_kind=error_kind,
        error=None if error_kind is None else "timed out", scalars=scalars, tables=tables,
        health=JobHealth(), stats=None, reboots=reboots)


def scalar_part(*pairs: tuple[ObjectSpec, SnmpValue]) -> ScalarPart:
    return ScalarPart(tuple(spec for spec, _ in pairs),
                      [VarBind(spec.oid, value) for spec, value in pairs], FETCHED_AT)


def exposition_samples(text: str) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    """Read the sample lines of the text format; label values here contain no escapes.

    prometheus-client's parser is not used because it renames counters to `<name>_total`.
    """
    found = set()
    for line in text.splitlines():
        match = SAMPLE_LINE.match(line)
        if match is not None:
            labels = dict(LABEL_PAIR.findall(match.group("labels") or ""))
            found.add((match.group("name"), label_key(labels), float(match.group("value"))))
    return found


def by_name(samples: list[Sample], name: str) -> list[Sample]:
    return [sample for sample in samples if sample.name == name]


# Polled values


def test_scalar_counter_sample_fields() -> None:
    counter = obj("sysCounter", "1.3.6.1.4.1.99999.1.0")
    result = poll_result(scalars=scalar_part((counter, Counter32(42))), reboots=2)

    [sample] = by_name(samples_from_result(result), "sysCounter")

    assert sample.labels == {"target": "core1"}
    assert sample.value == 42
    assert sample.type == "counter32"
    assert sample.kind == "counter"
    assert sample.at == FETCHED_AT
    assert sample.wall == WALL_OFFSET + FETCHED_AT
    assert sample.expires_at == FINISHED_AT + (3 + 1) * 10.0
    assert sample.reboots == 2
    assert sample.key == (("target", "core1"),)


def test_counter64_value_stays_exact_int() -> None:
    counter = obj("bigCounter", "1.3.6.1.4.1.99999.2.0")
    value = 18446744073694799162
    result = poll_result(scalars=scalar_part((counter, Counter64(value))))

    [sample] = by_name(samples_from_result(result), "bigCounter")

    assert sample.value == value
    assert isinstance(sample.value, int)
    assert sample.type == "counter64"


def test_target_labels_follow_target_with_clash_renamed() -> None:
    result = poll_result(scalars=scalar_part((TEMPERATURE, Gauge32(40))))

    [sample] = by_name(samples_from_result(result, {"site": "lab", "target": "x"}),
                       "temperature")

    assert sample.labels == {"target": "core1", "site": "lab", "exported_target": "x"}


def test_table_rows_carry_index_and_lookup_labels() -> None:
    samples = samples_from_result(poll_result(tables=(if_table_part(),)))

    statuses = {sample.labels["ifIndex"]: sample for sample in by_name(samples, "ifOperStatus")}

    assert statuses["2"].labels == {"target": "core1", "ifIndex": "2", "ifName": "Gi0/2"}
    assert statuses["2"].type == "integer"
    assert statuses["2"].kind == "gauge"


def test_text_value_becomes_info_label() -> None:
    samples = samples_from_result(poll_result(tables=(if_table_part({1: "Gi0/1"}),)))

    [alias] = by_name(samples, "ifAlias")

    assert alias.labels["ifAlias"] == "uplink 1"
    assert alias.value == 1
    assert alias.kind == "info"
    assert alias.key == label_key(alias.labels)


def test_row_without_decoded_index_has_no_sample() -> None:
    part = if_table_part({1: "Gi0/1"})
    extra = column(IF_OPER_STATUS, {1: Integer32(1), 7: Integer32(2)})
    part = TablePart(part.spec, (extra,), part.row_labels, part.fetched_at)

    samples = by_name(samples_from_result(poll_result(tables=(part,))), "ifOperStatus")

    assert [sample.labels["ifIndex"] for sample in samples] == ["1"]


@pytest.mark.parametrize(("spec", "value"), [
    (TEMPERATURE, NO_SUCH_INSTANCE),
    (TEMPERATURE, OctetString(b"hot")),
    (TEMPERATURE, MalformedValue(0x42, b"\x42\x00", "bad length")),
    (obj("snmp_reserved", "1.3.6.1.4.1.99999.3.0"), Gauge32(1)),
])
def test_value_left_out_of_metrics_has_no_sample(spec: ObjectSpec, value: SnmpValue) -> None:
    samples = samples_from_result(poll_result(scalars=scalar_part((spec, value))))

    assert by_name(samples, spec.name) == []


def test_text_number_configured_as_gauge_is_parsed() -> None:
    result = poll_result(scalars=scalar_part((TEMPERATURE, OctetString(b"71.5"))))

    [sample] = by_name(samples_from_result(result), "temperature")

    assert sample.value == 71.5
    assert sample.type == "string"


def test_counter_naming_total_appends_suffix_to_counters() -> None:
    samples = samples_from_result(poll_result(tables=(if_table_part(),)),
                                  counter_naming="total")

    names = {sample.name for sample in samples}

    assert "ifInOctets_total" in names
    assert "ifOperStatus" in names


def test_samples_match_metrics_exposition() -> None:
    result = poll_result(scalars=scalar_part((SYS_UPTIME, Integer32(5)),
                                             (TEMPERATURE, OctetString(b"30"))),
                         tables=(if_table_part(),))
    snapshot = ValueSnapshot(FakeClock(FINISHED_AT))
    snapshot.set_target_labels("core1", {"site": "lab"})
    snapshot.apply(result)
    exported = exposition_samples(snapshot.render().decode())

    samples = samples_from_result(result, {"site": "lab"})
    polled = {(sample.name, sample.key, float(sample.value)) for sample in samples
              if sample.name not in (UP, POLL_SUCCESS, REBOOTS)}

    assert polled == exported


# Built-in series


def test_builtins_of_answered_run() -> None:
    samples = samples_from_result(poll_result(reboots=3), {"site": "lab"})

    [up] = by_name(samples, UP)
    [success] = by_name(samples, POLL_SUCCESS)
    [reboots] = by_name(samples, REBOOTS)

    assert (up.value, success.value, reboots.value) == (1, 1, 3)
    assert up.labels == {"target": "core1", "site": "lab", "job": "if"}
    assert reboots.labels == {"target": "core1", "site": "lab"}
    assert up.at == FINISHED_AT
    assert reboots.kind == "counter"


def test_builtins_of_timed_out_run() -> None:
    samples = samples_from_result(poll_result(reachable=False, error_kind="timeout"))

    [up] = by_name(samples, UP)
    [success] = by_name(samples, POLL_SUCCESS)

    assert up.value == 0
    assert success.value == 0


def test_builtins_of_run_with_error_but_answer() -> None:
    samples = samples_from_result(poll_result(reachable=True, error_kind="error_status"))

    assert by_name(samples, UP)[0].value == 1
    assert by_name(samples, POLL_SUCCESS)[0].value == 0


# End to end with net-snmp's snmpd


TEMPERATURE_THRESHOLD_RULE = Rule.build(
    "HighTemperature", "testTemperature > 90", severity="critical",
    annotations={"summary": "{{ target }} at {{ value }} degrees"})


@pytest.fixture
def hot_agent(snmpd_agent: NetSnmpAgent) -> Iterator[NetSnmpAgent]:
    """The session's agent serving 95 as its dynamic value, restored afterwards."""
    path = snmpd_agent.dynamic_value_path
    previous = path.read_text(encoding="utf-8") if path.exists() else None
    snmpd_agent.set_dynamic_value("95")
    try:
        yield snmpd_agent
    finally:
        if previous is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(previous, encoding="utf-8")


@pytest.fixture
async def netsnmp_signals(hot_agent: NetSnmpAgent) -> AsyncIterator[list[RuleSignal]]:
    target = Target(hot_agent.host, hot_agent.port,
                    community=Secret(hot_agent.public_community), timeout=1.0, retries=1,
                    name="snmpd")
    # The dynamic value is an OCTET STRING; configured as a gauge, its text is parsed.
    job = JobConfig("env", 5.0, scalars=(
        ObjectSpec(DYNAMIC_VALUE_OID, "testTemperature", "gauge"),))
    config = DaemonConfig(targets=(TargetConfig("snmpd", target, (job,),
                                                labels={"site": "lab"}),),
                          scheduler=SchedulerConfig(jitter=0.0))
    signals: list[RuleSignal] = []
    observed = asyncio.Event()

    clock = LoopClock()
    async with Manager() as manager:
        service = PollingService(config, manager, clock=clock)
        engine = RulesEngine([TEMPERATURE_THRESHOLD_RULE], clock)

        async def feed_rules(result: PollResult) -> None:
            signals.extend(engine.observe(samples_from_result(result, {"site": "lab"})))
            observed.set()

        service.bus.subscribe("alerting", feed_rules)
        await service.start()
        try:
            async with asyncio.timeout(10.0):
                await observed.wait()
        finally:
            await service.stop()
    yield signals


async def test_netsnmp_result_fires_threshold_rule(netsnmp_signals: list[RuleSignal]) -> None:
    [signal] = netsnmp_signals

    assert signal.rule == "HighTemperature"
    assert signal.state == "firing"
    assert signal.value == 95
    assert signal.labels == {"target": "snmpd", "site": "lab", "severity": "critical"}
    assert signal.annotations == {"summary": "snmpd at 95 degrees"}

