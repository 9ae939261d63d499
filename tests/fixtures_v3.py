"""pytest fixtures with net-snmp agents for SNMPv3 tests (users and agents: tests/v3agent.py).

tests/conftest.py loads this module through `pytest_plugins`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from agents import skip_unless_installed
from v3agent import (
    RestartableV3Agent,
    V3Agent,
    start_cloned_v3_agents,
    start_restartable_v3_agent,
    start_v3_agent,
)

V3_AGENT_FIXTURES = frozenset({"snmpd_v3_agent", "restartable_v3_agent", "cloned_v3_agents"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a v3 agent fixture with `agent`, as conftest does for its own."""
    for item in items:
        if V3_AGENT_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.agent)


@pytest.fixture(scope="session")
def snmpd_v3_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[V3Agent]:
    """snmpd on 127.0.0.1 with every user of v3agent.USERS, started once per session."""
    skip_unless_installed("snmpd", "snmpget")
    agent = start_v3_agent(tmp_path_factory.mktemp("snmpd-v3"))
    try:
        yield agent
    finally:
        agent.stop()


@pytest.fixture
def restartable_v3_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableV3Agent]:
    """A new snmpd per test whose restart() keeps the engine ID and raises engineBoots.

    It starts at engineBoots 1 and has the users noauth, auth_sha256 and priv_sha_aes.
    """
    skip_unless_installed("snmpd", "snmpget")
    agent = start_restartable_v3_agent(tmp_path_factory.mktemp("snmpd-v3-restart"))
    try:
        yield agent
    finally:
        agent.stop()


@pytest.fixture(scope="module")
def cloned_v3_agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[V3Agent]]:
    """Two snmpd agents on separate ports with the same engine ID, as cloned devices have.

    Both have the users noauth, auth_sha256 and priv_sha_aes.
    """
    skip_unless_installed("snmpd", "snmpget")
    agents = start_cloned_v3_agents(tmp_path_factory.mktemp("snmpd-v3-clones"))
    try:
        yield agents
    finally:
        for agent in agents:
            agent.stop()
