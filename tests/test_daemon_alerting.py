"""End-to-end test of alerting: `snmpd-ng run` polls net-snmp and notifies a webhook receiver.

The daemon runs as a real subprocess. It polls the session's snmpd, whose pass_persist value
this test changes, evaluates one threshold rule over it, and posts signed notifications to a
webhook receiver (tests/receivers.py) on loopback, which verifies each signature as a user's
receiver would. The alert is acknowledged through the daemon's alerts API.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from agents import (
    DYNAMIC_VALUE_OID,
    NetSnmpAgent,
    free_udp_port,
    netsnmp_environment,
    skip_unless_installed,
)
from daemon_helpers import FakeManager, default_logging, free_tcp_port
from receivers import WebhookReceiver
from test_daemon_e2e import DaemonProcess, find_value, get

from snmpd_ng.alerting.lifecycle import Alert
from snmpd_ng.config.loader import load_config
from snmpd_ng.daemon import Daemon, DaemonOptions, StartError, running
from snmpd_ng.daemon_alerting import target_names

pytestmark = pytest.mark.usefixtures(default_logging.__name__)

WEBHOOK_SECRET = "e2e-webhook-secret-41d7"
API_TOKEN = "e2e-api-token-93b0"
WAIT_SECONDS = 15.0
POLL_STEP = 0.1

CONFIG = """\
credentials:
  fixture: {{community: {{env: SNMPD_NG_TEST_COMMUNITY}}}}
jobs:
  env:
    interval: 1s
    scalars:
      - {{oid: {oid}, name: fixture_value, type: gauge}}
targets:
  - {{name: agent, address: {host}, port: {port}, credentials: fixture, jobs: [env],
     timeout: 500ms, retries: 0,
     labels: {{site: test}}}}
scheduler: {{jitter: 0}}
http:
  listen: ["127.0.0.1:{http_port}"]
state_dir: {state_dir}
alerting:
  api: {{token_file: api-token}}
  rules:
    - name: ValueHigh
      expr: fixture_value > 50
      for: 0s
      severity: critical
      annotations:
        summary: "{{{{ target }}}} at {{{{ value }}}}"
  channels:
    hook:
      type: webhook
      url: {webhook_url}
      secret: {{env: SNMPD_NG_TEST_WEBHOOK_SECRET}}
      timeout: 2s
  receivers:
    ops: {{channels: [hook]}}
  policies:
    ops: {{tiers: [{{receivers: [ops]}}]}}
  grouping: {{group_wait: 0s, group_interval: 1s}}
  routes:
    - policy: ops
"""


async def wait_until(predicate: Callable[[], Awaitable[bool]], what: str) -> None:
    """Check `predicate` every POLL_STEP seconds; fail naming `what` after WAIT_SECONDS."""
    for _ in range(int(WAIT_SECONDS / POLL_STEP)):
        if await predicate():
            return
        await asyncio.sleep(POLL_STEP)
    raise AssertionError(f"{what} did not happen within {WAIT_SECONDS} s")


@pytest.fixture
def controlled_value(snmpd_agent: NetSnmpAgent) -> Iterator[NetSnmpAgent]:
    """The session's agent serving 10 as its dynamic value, restored afterwards."""
    path = snmpd_agent.dynamic_value_path
    previous = path.read_text(encoding="utf-8") if path.exists() else None
    snmpd_agent.set_dynamic_value("10")
    try:
        yield snmpd_agent
    finally:
        if previous is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(previous, encoding="utf-8")


@pytest.fixture
async def webhook() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver(WEBHOOK_SECRET.encode())
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


@dataclass
class AlertingDaemon:
    """A config with one rule and the webhook channel, and the `snmpd-ng run` processes of it."""

    config: Path
    environ: dict[str, str]
    url: str
    processes: list[DaemonProcess] = field(default_factory=list)

    def start(self) -> DaemonProcess:
        log_path = self.config.with_name(f"daemon-{len(self.processes)}.log")
        process = DaemonProcess(self.config, self.environ, log_path)
        self.processes.append(process)
        return process


@pytest.fixture
def alerting_daemon(controlled_value: NetSnmpAgent, webhook: WebhookReceiver,
                    tmp_path: Path) -> Iterator[AlertingDaemon]:
    http_port = free_tcp_port()
    oid = ".".join(str(arc) for arc in DYNAMIC_VALUE_OID)
    config = tmp_path / "config.yaml"
    (tmp_path / "api-token").write_text(API_TOKEN + "\n", encoding="utf-8")
    config.write_text(CONFIG.format(
        oid=oid, host=controlled_value.host, port=controlled_value.port, http_port=http_port,
        state_dir=tmp_path / "state", webhook_url=webhook.url + "/hooks/alerts"))
    environ = {"SNMPD_NG_TEST_COMMUNITY": controlled_value.public_community,
               "SNMPD_NG_TEST_WEBHOOK_SECRET": WEBHOOK_SECRET}
    daemon = AlertingDaemon(config, environ, f"http://127.0.0.1:{http_port}")
    try:
        yield daemon
    finally:
        for process in daemon.processes:
            process.kill()


def events(receiver: WebhookReceiver) -> list[str]:
    return [body["event"] for body in receiver.verified]


async def acknowledge(url: str, fingerprint: str, token: str) -> tuple[int, dict[str, Any]]:
    """POST an acknowledgement to the alerts API; return the status and the JSON body."""
    async with aiohttp.ClientSession() as session, session.post(
            f"{url}/api/v1/alerts/{fingerprint}/ack", json={"by": "alice", "comment": "on it"},
            headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, await response.json()


async def metrics(url: str) -> str:
    try:
        return (await get(url + "/metrics")).body
    except OSError:
        return ""


class TestThresholdNotifications:
    async def test_threshold_fire_ack_resolve(
        self, alerting_daemon: AlertingDaemon, controlled_value: NetSnmpAgent,
        webhook: WebhookReceiver,
    ) -> None:
        process, url = alerting_daemon.start(), alerting_daemon.url

        async def value_polled() -> bool:
            assert process.process.poll() is None, process.logs()
            return find_value(await metrics(url), "fixture_value", target="agent") == 10.0

        await wait_until(value_polled, "the first poll of the value")
        controlled_value.set_dynamic_value("90")

        async def fired() -> bool:
            return "firing" in events(webhook)

        await wait_until(fired, "the firing notification")
        firing = webhook.verified[events(webhook).index("firing")]
        fingerprint = firing["alerts"][0]["fingerprint"]
        wrong_token = await acknowledge(url, fingerprint, "not-the-token")
        ack_status, ack_body = await acknowledge(url, fingerprint, API_TOKEN)

        async def acknowledged() -> bool:
            return "acknowledged" in events(webhook)

        await wait_until(acknowledged, "the acknowledged notification")
        controlled_value.set_dynamic_value("10")

        async def resolved() -> bool:
            return "resolved" in events(webhook)

        await wait_until(resolved, "the resolve notification")
        resolve = webhook.verified[events(webhook).index("resolved")]

        async def resolve_recorded() -> bool:
            # The receiver has the resolve before the daemon records its delivery.
            return find_value(await metrics(url), "snmpd_ng_alert_notifications", channel="hook",
                              result="delivered") == 3.0

        await wait_until(resolve_recorded, "the resolve's delivery on /metrics")
        body = await metrics(url)
        process.send(signal.SIGTERM)
        status = await asyncio.to_thread(process.wait, 5.0)

        assert events(webhook) == ["firing", "acknowledged", "resolved"]
        assert firing["alerts"][0]["labels"]["target"] == "agent"
        assert firing["alerts"][0]["labels"]["site"] == "test"
        assert firing["alerts"][0]["annotations"]["summary"] == "agent at 90"
        assert wrong_token[0] == 401
        assert ack_status == 200
        assert ack_body["acknowledged"] == [fingerprint]
        assert resolve["alerts"][0]["state"] == "resolved"
        assert find_value(body, "snmpd_ng_alert_notifications", channel="hook",
                          result="delivered") == 3.0
        assert find_value(body, "snmpd_ng_alert_api_token_rejections") == 1.0
        assert find_value(body, "snmp_results_queue_overflows", consumer="alerting") == 0.0
        assert status == 0
        assert WEBHOOK_SECRET not in process.logs()

    async def test_firing_alert_survives_restart(
        self, alerting_daemon: AlertingDaemon, controlled_value: NetSnmpAgent,
        webhook: WebhookReceiver,
    ) -> None:
        first, url = alerting_daemon.start(), alerting_daemon.url
        controlled_value.set_dynamic_value("90")

        async def fired() -> bool:
            assert first.process.poll() is None, first.logs()
            return "firing" in events(webhook)

        await wait_until(fired, "the firing notification")
        first.send(signal.SIGTERM)
        await asyncio.to_thread(first.wait, 5.0)
        second = alerting_daemon.start()

        async def confirmed() -> bool:
            # Three results after the signal give a wrong second notification time to go out.
            assert second.process.poll() is None, second.logs()
            body = await metrics(url)
            return ((find_value(body, "snmpd_ng_alert_signals") or 0) >= 1
                    and (find_value(body, "snmpd_ng_alert_rules_results") or 0) >= 4)

        await wait_until(confirmed, "the rules' signal and three more results after the restart")
        body = await metrics(url)

        assert find_value(body, "snmpd_ng_alerts", state="firing", severity="critical") == 1.0
        assert events(webhook) == ["firing"]


NO_TARGETS = """\
jobs: {{system: {{interval: 10s, scalars: [sysUpTime]}}}}
targets: []
http: {{listen: ["127.0.0.1:0"]}}
state_dir: {state_dir}
alerting:
  api: {{token_file: {token_file}}}
"""


class TestReload:
    async def test_reload_reads_moved_token_file(self, tmp_path: Path) -> None:
        (tmp_path / "first").write_text("first-token\n", encoding="utf-8")
        (tmp_path / "second").write_text("second-token\n", encoding="utf-8")
        config = tmp_path / "config.yaml"
        config.write_text(NO_TARGETS.format(state_dir=tmp_path / "state", token_file="first"))
        daemon = Daemon(DaemonOptions(str(config), log_level="info", log_format="json"),
                        environ={}, manager_factory=lambda: FakeManager([]))
        async with running(daemon):
            host, port = daemon.http_addresses[0]
            url = f"http://{host}:{port}"
            # An unknown alert is 404 once the token is accepted, 401 before.
            before = await acknowledge(url, "0" * 64, "first-token")
            config.write_text(NO_TARGETS.format(state_dir=tmp_path / "state",
                                                token_file="second"))
            applied = await daemon.reload()
            old_token = await acknowledge(url, "0" * 64, "first-token")
            new_token = await acknowledge(url, "0" * 64, "second-token")

        assert before[0] == 404
        assert applied
        assert old_token[0] == 401
        assert new_token[0] == 404


TRAP_COMMUNITY = "e2e-trap-community-2f61"
LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
LINK_UP = "1.3.6.1.6.3.1.1.5.4"
IF_INDEX_3 = ("1.3.6.1.2.1.2.2.1.1.3", "i", "3")

TRAPS = """\
jobs: {{system: {{interval: 10s, scalars: [sysUpTime]}}}}
targets: []
http: {{listen: ["127.0.0.1:0"]}}
state_dir: {state_dir}
alerting:
  traps:
    listen: ["127.0.0.1:{trap_port}"]
    communities: {{ops: {{env: SNMPD_NG_TEST_TRAP_COMMUNITY}}}}
    rules:
      - {{name: LinkDown, trap: linkDown, key: [ifIndex], severity: critical,
         resolved_by: linkUp}}
"""


async def send_trap(client_dir: Path, port: int, *trap: str) -> None:
    """Send an SNMPv2c trap with net-snmp's snmptrap to the daemon's trap port."""
    process = await asyncio.create_subprocess_exec(
        "snmptrap", "-v", "2c", "-c", TRAP_COMMUNITY, f"udp:127.0.0.1:{port}", "", *trap,
        env=netsnmp_environment(client_dir), stderr=asyncio.subprocess.PIPE)
    _, error = await asyncio.wait_for(process.communicate(), WAIT_SECONDS)
    assert process.returncode == 0, error.decode(errors="replace")


def active_alerts(daemon: Daemon) -> list[Alert]:
    assert daemon.alerting is not None
    return daemon.alerting.service.alerts()


class TestTraps:
    async def test_link_down_survives_restart(self, tmp_path: Path) -> None:
        skip_unless_installed("snmptrap")
        trap_port = free_udp_port()
        config = tmp_path / "config.yaml"
        config.write_text(TRAPS.format(state_dir=tmp_path / "state", trap_port=trap_port))
        client_dir = tmp_path / "client"
        client_dir.mkdir()

        def new_daemon() -> Daemon:
            return Daemon(DaemonOptions(str(config), log_level="info", log_format="json"),
                          environ={"SNMPD_NG_TEST_TRAP_COMMUNITY": TRAP_COMMUNITY},
                          manager_factory=lambda: FakeManager([]))

        async with running(new_daemon()) as first:
            await send_trap(client_dir, trap_port, LINK_DOWN, *IF_INDEX_3)

            async def link_down() -> bool:
                return bool(active_alerts(first))

            await wait_until(link_down, "the linkDown alert")
            fired = active_alerts(first)[0]
            host, port = first.http_addresses[0]
            body = await metrics(f"http://{host}:{port}")
        async with running(new_daemon()) as second:
            restored = active_alerts(second)
            await send_trap(client_dir, trap_port, LINK_UP, *IF_INDEX_3)

            async def link_up() -> bool:
                return not active_alerts(second)

            await wait_until(link_up, "the resolve by linkUp after the restart")

        assert (fired.rule, fired.state.value) == ("LinkDown", "firing")
        assert fired.labels["target"] == "127.0.0.1"
        assert fired.labels["ifIndex"] == "3"
        assert [alert.fingerprint for alert in restored] == [fired.fingerprint]
        assert find_value(body, "snmpd_ng_trap_accepted") == 1.0
        assert find_value(body, "snmpd_ng_trap_datagrams_by_version", version="2c") == 1.0


async def test_start_without_state_dir_fails(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(NO_TARGETS.format(state_dir=tmp_path, token_file="token").replace(
        f"state_dir: {tmp_path}\n", ""))
    daemon = Daemon(DaemonOptions(str(config), log_level="info", log_format="json"),
                    environ={}, manager_factory=lambda: FakeManager([]))

    with pytest.raises(StartError, match="alert store needs a state directory"):
        await daemon.start()
    await daemon.stop()


def test_first_target_names_shared_address(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("""\
credentials: {lab: {community: public}}
jobs: {system: {interval: 10s, scalars: [sysUpTime]}}
targets:
  - {name: core1, address: 192.0.2.1, credentials: lab, jobs: [system]}
  - {name: core1-context, address: 192.0.2.1, credentials: lab, jobs: [system]}
  - {name: edge, address: 192.0.2.2, credentials: lab, jobs: [system]}
""")

    names = target_names(load_config(config, {}))

    assert names == {"192.0.2.1": "core1", "192.0.2.2": "edge"}
