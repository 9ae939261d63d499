"""Tests of the daemon's cluster wiring (snmpd_ng.daemon_cluster) that need no running node.

Building a ClusterRuntime opens no connection, so these tests point it at a closed loopback port.
The running daemons are tested in test_cluster_daemons.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from snmpd_ng.clock import LoopClock
from snmpd_ng.config.loader import load_config
from snmpd_ng.config.model import DaemonConfig
from snmpd_ng.daemon_cluster import ClusterRuntime

CONFIG = """\
credentials:
  lab: {{community: public}}
jobs:
  system: {{interval: {interval}, scalars: [sysUpTime]}}
targets:
  - {{name: router-1, address: 127.0.0.1, port: 1161, credentials: lab, jobs: [system]}}
cluster:
  node_id: poller-a
  lease_ttl: {lease_ttl}
  redis: {{url: "redis://127.0.0.1:9/0"}}
{extra}"""


def config(tmp_path: Path, *, interval: str = "30s", lease_ttl: str = "15s",
           extra: str = "") -> DaemonConfig:
    path = tmp_path / f"config-{interval}-{lease_ttl}-{len(extra)}.yaml"
    path.write_text(CONFIG.format(interval=interval, lease_ttl=lease_ttl, extra=extra))
    return load_config(str(path), {})


@pytest.fixture(autouse=True)
def _plain_logging() -> None:
    structlog.reset_defaults()


async def test_reload_takes_new_config_hash(tmp_path: Path) -> None:
    runtime = ClusterRuntime.build(config(tmp_path), None, LoopClock())
    reloaded = config(tmp_path, interval="60s")

    runtime.reload(reloaded)

    assert reloaded.cluster is not None
    assert runtime.node.settings.config_hash == reloaded.cluster.config_hash
    await runtime.client.aclose()


async def test_reload_of_shared_key_is_no_cluster_change(tmp_path: Path) -> None:
    runtime = ClusterRuntime.build(config(tmp_path), None, LoopClock())

    with capture_logs() as logs:
        runtime.reload(config(tmp_path, interval="60s"))

    assert [e for e in logs if e["event"].startswith("cluster settings changed")] == []
    await runtime.client.aclose()


async def test_reload_of_lease_ttl_needs_restart(tmp_path: Path) -> None:
    runtime = ClusterRuntime.build(config(tmp_path), None, LoopClock())

    with capture_logs() as logs:
        runtime.reload(config(tmp_path, lease_ttl="20s"))

    changed = [e for e in logs if e["event"].startswith("cluster settings changed")]
    assert [e["keys"] for e in changed] == [["cluster.lease_ttl"]]
    await runtime.client.aclose()


async def test_reload_applies_advertise_url(tmp_path: Path) -> None:
    runtime = ClusterRuntime.build(config(tmp_path), None, LoopClock())

    with capture_logs() as logs:
        runtime.reload(config(tmp_path, extra="  advertise_url: http://127.0.0.1:9161\n"))

    assert runtime.node.settings.advertise_url == "http://127.0.0.1:9161"
    assert [e for e in logs if e["event"].startswith("cluster settings changed")] == []
    await runtime.client.aclose()


async def test_failover_bound_is_the_interval_when_longer(tmp_path: Path) -> None:
    runtime = ClusterRuntime.build(config(tmp_path, interval="60s"), None, LoopClock())

    # lease_ttl 15 s + heartbeat 3.75 s + the capped budget 9.25 s and its grace 0.925 s is
    # 28.925 s, shorter than the interval: a slot not missed yet comes within one interval.
    assert runtime.node.failover_bound == 60.0
    await runtime.client.aclose()


async def test_failover_bound_adds_lease_and_one_poll(tmp_path: Path) -> None:
    runtime = ClusterRuntime.build(config(tmp_path, interval="20s"), None, LoopClock())

    # lease_ttl 15 s + heartbeat 3.75 s + the budget capped at 9.25 s + its grace 0.925 s.
    assert runtime.node.failover_bound == pytest.approx(28.925)
    await runtime.client.aclose()


async def test_budget_cap_quiet_with_default_lease(tmp_path: Path) -> None:
    loaded = config(tmp_path)
    runtime = ClusterRuntime.build(loaded, None, LoopClock())

    with capture_logs() as logs:
        runtime.polling_options(loaded)

    assert [e for e in logs if e["log_level"] == "warning"] == []
    await runtime.client.aclose()


async def test_budget_cap_warns_when_retries_cut(tmp_path: Path) -> None:
    # The target keeps net-snmp's defaults, 6 attempts of 1 s; a 10 s lease caps polls at 5.5 s.
    loaded = config(tmp_path, lease_ttl="10s")
    runtime = ClusterRuntime.build(loaded, None, LoopClock())

    with capture_logs() as logs:
        runtime.polling_options(loaded)

    warnings = [e["event"] for e in logs if e["log_level"] == "warning"]
    assert any("retries are never sent" in event for event in warnings)
    await runtime.client.aclose()


async def test_not_ready_reason_names_the_heartbeat_error(tmp_path: Path) -> None:
    runtime = ClusterRuntime.build(config(tmp_path), None, LoopClock())
    await runtime.node.beat()

    reason = runtime.not_ready_reason()

    assert reason.startswith("not a cluster member yet: the heartbeats to Redis fail: ")
    await runtime.client.aclose()
