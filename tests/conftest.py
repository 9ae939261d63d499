"""Session fixtures that start real SNMP agents on loopback (see tests/agents.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog
from agents import (
    DeviceSimulator,
    NetSnmpAgent,
    skip_unless_installed,
    start_device_simulator,
    start_snmpd,
)

pytest_plugins = ["fixtures_v3", "redisfix"]
AGENT_FIXTURES = frozenset({"snmpd_agent", "device_simulator"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses an agent fixture with ``agent``, so ``-m "not agent"`` works."""
    for item in items:
        if AGENT_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.agent)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Undo a test's logging set-up, such as an in-process CLI run that configures logging.

    Without this, a later test's logs go to a stream pytest has closed, or are filtered at the
    level the earlier run chose, and log assertions fail depending on test order.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


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
