"""Session fixtures that start real SNMP agents on loopback (see tests/agents.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from agents import (
    DeviceSimulator,
    NetSnmpAgent,
    skip_unless_installed,
    start_device_simulator,
    start_snmpd,
)

AGENT_FIXTURES = frozenset({"snmpd_agent", "device_simulator"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses an agent fixture with ``agent``, so ``-m "not agent"`` works."""
    for item in items:
        if AGENT_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.agent)


@pytest.fixture(scope="session")
def snmpd_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetSnmpAgent]:
    """net-snmp's snmpd on 127.0.0.1 (and ::1 when available), started once per session."""
    skip_unless_installed("snmpd", "snmpget")
    agent = start_snmpd(tmp_path_factory.mktemp("snmpd"))
    try:
        yield agent
    finally:
        agent.stop()


@pytest.fixture(scope="session")
def device_simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeviceSimulator]:
    """snmpsim serving tests/data/devices/*.snmprec on 127.0.0.1, started once per session."""
    skip_unless_installed("snmpgetnext")
    simulator = start_device_simulator(tmp_path_factory.mktemp("snmpsim"))
    try:
        yield simulator
    finally:
        simulator.stop()
