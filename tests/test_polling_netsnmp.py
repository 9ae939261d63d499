"""End to end: the polling service with the real manager against net-snmp's snmpd, compared with
`snmpget` and `snmpwalk` output for the same OIDs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from agents import NetSnmpAgent
from fakes import obj
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from snmpd_ng.config.model import (
    DaemonConfig,
    IndexSpec,
    JobConfig,
    LookupSpec,
    SchedulerConfig,
    TableSpec,
    TargetConfig,
)
from snmpd_ng.manager import Manager, Target
from snmpd_ng.polling.result import PollResult
from snmpd_ng.polling.service import PollingService
from snmpd_ng.protocol.oid import parse_oid
from snmpd_ng.secret import Secret

IF_NUMBER = "1.3.6.1.2.1.2.1.0"
PASS_COUNTER32 = "1.3.6.1.4.1.99999.1.0"
PASS_COUNTER64 = "1.3.6.1.4.1.99999.2.0"
PASS_GAUGE = "1.3.6.1.4.1.99999.5.0"
PASS_IPADDRESS = "1.3.6.1.4.1.99999.8.0"
IF_MTU = "1.3.6.1.2.1.2.2.1.4"
IF_SPEED = "1.3.6.1.2.1.2.2.1.5"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"

READY_TIMEOUT = 10.0


def agent_config(agent: NetSnmpAgent) -> DaemonConfig:
    target = Target(agent.host, agent.port, community=Secret(agent.public_community),
                    timeout=1.0, retries=1, name="snmpd")
    scalars = JobConfig("scalars", 5.0, scalars=(
        obj("ifNumber", IF_NUMBER), obj("testCounter", PASS_COUNTER32),
        obj("testCounter64", PASS_COUNTER64), obj("testGauge", PASS_GAUGE),
        obj("testAddress", PASS_IPADDRESS)))
    interfaces = JobConfig("if", 5.0, tables=(TableSpec(
        "ifTable", (obj("ifMtu", IF_MTU), obj("ifSpeed", IF_SPEED)),
        (IndexSpec("ifIndex"),), (LookupSpec("ifName", parse_oid(IF_NAME)),)),))
    return DaemonConfig(
        targets=(TargetConfig("snmpd", target, (scalars, interfaces), labels={"site": "lab"}),),
        scheduler=SchedulerConfig(jitter=0.0))


@pytest.fixture
async def polled_metrics(snmpd_agent: NetSnmpAgent) -> AsyncIterator[str]:
    async with Manager() as manager:
        service = PollingService(agent_config(snmpd_agent), manager)
        polled_jobs: set[str] = set()
        both_polled = asyncio.Event()

        async def note_job(result: PollResult) -> None:
            polled_jobs.add(result.job)
            if polled_jobs == {"scalars", "if"}:
                both_polled.set()

        # Subscribed after the metrics consumer, so it sees each result after the metrics do.
        service.bus.subscribe("test", note_job)
        await service.start()
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await both_polled.wait()
            assert service.is_ready()
            registry = CollectorRegistry()
            registry.register(service.collector())
            yield generate_latest(registry).decode()
        finally:
            await service.stop()


def snmpget_value(agent: NetSnmpAgent, oid: str) -> str:
    returncode, stdout, stderr = agent.run_netsnmp(
        "snmpget", "-v2c", "-c", agent.public_community, "-On", "-Oqv", "-Ot", oid)
    assert returncode == 0, stderr
    return stdout.strip()


def snmpwalk_values(agent: NetSnmpAgent, oid: str) -> dict[str, str]:
    """Return the walked values by the instance suffix after `oid`."""
    returncode, stdout, stderr = agent.run_netsnmp(
        "snmpwalk", "-v2c", "-c", agent.public_community, "-On", "-Oq", "-Ot", oid)
    assert returncode == 0, stderr
    values = {}
    for line in stdout.splitlines():
        name, _, value = line.partition(" ")
        values[name.removeprefix("." + oid + ".")] = value.strip().strip('"')
    return values


def exported(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [(dict(sample.labels), sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == name]


def only_value(text: str, name: str) -> float:
    samples = exported(text, name)
    assert len(samples) == 1, samples
    return samples[0][1]


@pytest.mark.parametrize(("name", "oid"), [
    ("ifNumber", IF_NUMBER),
    ("testCounter", PASS_COUNTER32),
    ("testGauge", PASS_GAUGE),
])
async def test_polled_scalar_equals_snmpget(polled_metrics: str, snmpd_agent: NetSnmpAgent,
                                            name: str, oid: str) -> None:
    assert only_value(polled_metrics, name) == float(snmpget_value(snmpd_agent, oid))


async def test_polled_counter64_equals_snmpget_as_float(polled_metrics: str,
                                                        snmpd_agent: NetSnmpAgent) -> None:
    expected = int(snmpget_value(snmpd_agent, PASS_COUNTER64))

    assert only_value(polled_metrics, "testCounter64") == float(expected)


async def test_polled_ipaddress_is_info_label(polled_metrics: str,
                                              snmpd_agent: NetSnmpAgent) -> None:
    [(labels, value)] = exported(polled_metrics, "testAddress")

    assert labels["testAddress"] == snmpget_value(snmpd_agent, PASS_IPADDRESS)
    assert value == 1.0


async def test_polled_table_rows_equal_snmpwalk(polled_metrics: str,
                                                snmpd_agent: NetSnmpAgent) -> None:
    mtus = snmpwalk_values(snmpd_agent, IF_MTU)
    names = snmpwalk_values(snmpd_agent, IF_NAME)
    rows = {labels["ifIndex"]: (labels, value) for labels, value in
            exported(polled_metrics, "ifMtu")}

    assert set(rows) == set(mtus)
    for index, (labels, value) in rows.items():
        assert value == float(mtus[index])
        assert labels["ifName"] == names[index]
        assert labels["site"] == "lab"
        assert labels["target"] == "snmpd"


async def test_polled_target_is_reachable_and_counted(polled_metrics: str) -> None:
    assert only_value(polled_metrics, "snmp_target_reachable") == 1.0
    assert only_value(polled_metrics, "snmp_target_timeouts_total") == 0.0
    assert "public" not in polled_metrics
