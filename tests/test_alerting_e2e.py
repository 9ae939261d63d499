"""End-to-end alerting: `snmpd-ng run` polls net-snmp agents and notifies provider emulators.

Each case runs against the real daemon as a subprocess, as a user runs it. One daemon serves
most cases, each with its own agent (a net-snmp snmpd whose pass_persist value the test
changes), target, route, policy and receivers, so that the cases do not see each other's
alerts. The restart case runs a daemon of its own, since it kills it. Delays are seconds
(`for: 0s`, tiers `after: 2s`), so the whole file takes well under a minute.

The emulators (tests/receivers.py) run in this module's event loop on 127.0.0.1: SMTP
(aiosmtpd), a signed webhook, Slack, PagerDuty, Jira and ServiceNow.
"""

from __future__ import annotations

import signal
import string
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from agents import (
    DYNAMIC_VALUE_OID,
    NetSnmpAgent,
    free_udp_port,
    skip_unless_installed,
    start_snmpd,
)
from alerting_e2e_helpers import (
    API_TOKEN,
    SECRETS,
    TRAP_AUTH_PASSPHRASE,
    TRAP_COMMUNITY,
    TRAP_PRIV_PASSPHRASE,
    TRAP_USER,
    Receivers,
    alerts,
    cli_ack,
    daemon_environment,
    events,
    history,
    mail_events,
    run_program,
    send_netsnmp,
    sleep_until,
    start_receivers,
    stop_receivers,
    wait_until,
)
from daemon_helpers import free_tcp_port
from receivers import Fault
from test_daemon_e2e import DaemonProcess, find_value, get, parse_samples, snmpd_ng_command

pytestmark = pytest.mark.asyncio(loop_scope="module")

VALUE_OID = ".".join(str(arc) for arc in DYNAMIC_VALUE_OID)
LOW, HIGH = "10", "90"
"""Values of the agents' dynamic object below and above the rules' threshold of 50."""

CHANNELS = string.Template("""\
    mail:
      type: email
      host: 127.0.0.1
      port: ${smtp_port}
      security: plain
      from: snmpd-ng@example.net
      to: [noc@example.net]
      subject: "{{ event }} {{ title }}"
    hook:
      type: webhook
      url: http://127.0.0.1:${hook_port}/hooks/alerts
      secret: {env: SNMPD_NG_E2E_WEBHOOK_SECRET}
    chat:
      type: slack
      webhook_url: {env: SNMPD_NG_E2E_SLACK_URL}
    page:
      type: pagerduty
      url: http://127.0.0.1:${pagerduty_port}/v2/enqueue
      routing_key: {env: SNMPD_NG_E2E_PAGERDUTY_KEY}
    jira:
      type: jira
      base_url: http://127.0.0.1:${jira_port}
      email: alerts@example.net
      api_token: {env: SNMPD_NG_E2E_JIRA_TOKEN}
      project: OPS
    itsm:
      type: servicenow
      base_url: http://127.0.0.1:${servicenow_port}
      username: snmpd-ng.integration
      password: {env: SNMPD_NG_E2E_SERVICENOW_PASSWORD}
    flaky:
      type: webhook
      url: http://127.0.0.1:${flaky_port}/hooks/alerts
      secret: {env: SNMPD_NG_E2E_WEBHOOK_SECRET}
      retry: {max_attempts: 2, base: 100ms, cap: 100ms}
    down:
      type: webhook
      url: http://127.0.0.1:${down_port}/hooks/alerts
      secret: {env: SNMPD_NG_E2E_WEBHOOK_SECRET}
    traps:
      type: webhook
      url: http://127.0.0.1:${traps_port}/hooks/alerts
      secret: {env: SNMPD_NG_E2E_WEBHOOK_SECRET}
""")

SHARED = string.Template("""\
credentials:
  fixture: {community: {env: SNMPD_NG_TEST_COMMUNITY}}
defaults: {credentials: fixture, timeout: 300ms, retries: 0}
jobs:
  value:
    interval: 500ms
    scalars:
      - {oid: ${value_oid}, name: fixture_value, type: gauge}
  interfaces:
    interval: 500ms
    tables:
      - {table: ifTable, columns: [ifOperStatus], lookups: [ifDescr]}
targets:
  - {name: escalated, address: 127.0.0.1, port: ${escalation_agent}, jobs: [value],
     labels: {case: escalation}}
  - {name: flaky-target, address: 127.0.0.1, port: ${retry_agent}, jobs: [value],
     labels: {case: retry}}
  - {name: router, address: 127.0.0.1, port: ${down_agent}, jobs: [interfaces],
     labels: {case: down}}
scheduler: {jitter: 0}
http:
  listen: ["127.0.0.1:${http_port}"]
state_dir: ${state_dir}
alerting:
  api: {token_file: api-token}
  rules:
    - name: ValueHigh
      expr: fixture_value > 50
      for: 0s
      severity: critical
      annotations: {summary: "{{ target }} at {{ value }}"}
    - name: TargetDown
      expr: up == 0
      for: 0s
      severity: critical
    - name: InterfaceSilent
      expr: absent_for(ifOperStatus, 2s)
      for: 0s
      annotations: {summary: "no ifOperStatus of {{ labels.ifDescr }} on {{ target }}"}
  traps:
    listen: ["127.0.0.1:${trap_port}"]
    communities: {ops: {env: SNMPD_NG_E2E_TRAP_COMMUNITY}}
    users:
      - {user: ${trap_user}, auth_protocol: SHA-256, auth_passphrase: {env: SNMPD_NG_E2E_TRAP_AUTH},
         priv_protocol: AES, priv_passphrase: {env: SNMPD_NG_E2E_TRAP_PRIV}}
    rules:
      - {name: LinkDown, trap: linkDown, key: [ifIndex], severity: critical,
         resolved_by: linkUp, labels: {case: traps}}
  channels:
${channels}
  receivers:
    noc: {channels: [mail, hook]}
    tickets: {channels: [jira, itsm]}
    chat: {channels: [chat]}
    oncall: {channels: [page]}
    flaky: {channels: [flaky]}
    down: {channels: [down]}
    traps: {channels: [traps]}
  policies:
    escalation:
      tiers:
        - receivers: [noc, tickets]
        - {receivers: [chat], after: 2s}
        - {receivers: [oncall], after: 6s}
    flaky: {tiers: [{receivers: [flaky]}]}
    down: {tiers: [{receivers: [down]}]}
    traps: {tiers: [{receivers: [traps]}]}
  grouping: {group_by: [target, rule], group_wait: 0s, group_interval: 1s}
  routes:
    - {matchers: ['case="escalation"'], policy: escalation}
    - {matchers: ['case="retry"'], policy: flaky}
    - {matchers: ['case="down"'], policy: down, group_by: [target], group_wait: 2s}
    - {matchers: ['case="traps"'], policy: traps}
  outbox: {retry_base: 500ms, retry_cap: 1s}
""")

TIER_3_AFTER = 6.0
"""Seconds from the start of the escalation case's escalation to its PagerDuty tier."""


@dataclass
class Agents:
    """One net-snmp agent per case that changes or stops it."""

    escalation: NetSnmpAgent
    retry: NetSnmpAgent
    down: NetSnmpAgent
    restart: NetSnmpAgent


@dataclass
class SharedDaemon:
    """The `snmpd-ng run` process that all cases but the restart case use."""

    process: DaemonProcess
    url: str
    token_file: Path
    trap_port: int
    client_dir: Path
    """SNMPCONFPATH and SNMP_PERSISTENT_DIR of the net-snmp tools the test runs."""

    def assert_running(self) -> None:
        assert self.process.process.poll() is None, self.process.logs()[-4000:]


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agents]:
    skip_unless_installed("snmpd", "snmpget", "snmptrap", "snmpinform")
    started: list[NetSnmpAgent] = []
    try:
        for name in ("escalation", "retry", "down", "restart"):
            agent = start_snmpd(tmp_path_factory.mktemp(f"snmpd-{name}"))
            started.append(agent)
            agent.set_dynamic_value(LOW)
        yield Agents(*started)
    finally:
        for agent in started:
            agent.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def receivers(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Receivers]:
    started = await start_receivers(tmp_path_factory.mktemp("smtp"))
    try:
        yield started
    finally:
        await stop_receivers(started)


async def metrics(url: str) -> str:
    try:
        return (await get(url + "/metrics")).body
    except OSError:
        return ""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(agents: Agents, receivers: Receivers,
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SharedDaemon]:
    directory = tmp_path_factory.mktemp("shared-daemon")
    http_port, trap_port = free_tcp_port(), free_udp_port()
    config = directory / "config.yaml"
    channels = CHANNELS.substitute(receivers.ports()).rstrip("\n")
    config.write_text(SHARED.substitute(
        receivers.ports(), channels=channels, value_oid=VALUE_OID,
        escalation_agent=agents.escalation.port, retry_agent=agents.retry.port,
        down_agent=agents.down.port, http_port=http_port, trap_port=trap_port,
        state_dir=directory / "state", trap_user=TRAP_USER))
    token_file = directory / "api-token"
    token_file.write_text(API_TOKEN + "\n", encoding="utf-8")
    token_file.chmod(0o600)
    client_dir = directory / "client"
    client_dir.mkdir()
    environ = daemon_environment(agents.escalation.public_community, receivers.slack.webhook_url)
    process = DaemonProcess(config, environ, directory / "daemon.log")
    daemon = SharedDaemon(process, f"http://127.0.0.1:{http_port}", token_file, trap_port,
                          client_dir)
    try:
        await wait_until(lambda: shared_polled(daemon), "the first polls of every target")
        yield daemon
    finally:
        process.kill()


async def shared_polled(daemon: SharedDaemon) -> bool:
    daemon.assert_running()
    body = await metrics(daemon.url)
    return (find_value(body, "fixture_value", target="escalated") == float(LOW)
            and find_value(body, "fixture_value", target="flaky-target") == float(LOW)
            and find_value(body, "ifOperStatus", target="router") is not None)


@pytest.mark.agent
class TestEscalation:
    async def test_tiers_ack_and_resolve(self, shared: SharedDaemon, agents: Agents,
                                         receivers: Receivers) -> None:
        """Tier 1 (mail, webhook, tickets), tier 2 (Slack), ack stops tier 3 (PagerDuty)."""
        agents.escalation.set_dynamic_value(HIGH)

        async def first_tier() -> bool:
            shared.assert_running()
            return events(receivers.hook) == ["firing"]

        await wait_until(first_tier, "the first tier's webhook notification")
        started = time.monotonic()
        fingerprint = receivers.hook.verified[0]["alerts"][0]["fingerprint"]

        async def second_tier() -> bool:
            return len(receivers.slack.requests) == 1

        await wait_until(second_tier, "the second tier's Slack message")
        ack = await cli_ack(shared.url, shared.token_file, fingerprint)

        async def acknowledged() -> bool:
            return events(receivers.hook) == ["firing", "acknowledged"]

        await wait_until(acknowledged, "the acknowledged notification")
        # Past the third tier's due time: an escalation that the ack did not stop pages now.
        await sleep_until(started + TIER_3_AFTER + 1.5)
        pages_before_resolve = list(receivers.pagerduty.requests)
        agents.escalation.set_dynamic_value(LOW)

        async def resolved() -> bool:
            return (events(receivers.hook)[-1:] == ["resolved"]
                    and mail_events(receivers.smtp)[-1:] == ["resolved"]
                    and len(receivers.slack.requests) == 3
                    and all(issue.status == "Done" for issue in receivers.jira.issues.values())
                    and all(record["state"] == "6"
                            for record in receivers.servicenow.records.values()))

        await wait_until(resolved, "the resolve on every notified channel")
        steps = list(reversed(await history(shared.url, "escalation.")))
        slack_texts = [request.json()["text"] for request in receivers.slack.requests]
        incidents = list(receivers.servicenow.records.values())

        assert ack[0] == 0, ack
        assert [(step["kind"], step["detail"]["tier"]) for step in steps] == [
            ("escalation.started", None), ("escalation.tier", 1), ("escalation.tier", 2),
            ("escalation.stopped", None)]
        assert steps[2]["at"] - steps[0]["at"] >= 2.0
        assert steps[3]["detail"]["detail"] == "acknowledged"
        assert pages_before_resolve == []
        assert receivers.pagerduty.requests == []
        assert events(receivers.hook) == ["firing", "acknowledged", "resolved"]
        assert mail_events(receivers.smtp) == ["firing", "acknowledged", "resolved"]
        assert receivers.smtp.mails[0].recipients == ["noc@example.net"]
        assert receivers.hook.verified[0]["alerts"][0]["annotations"]["summary"] == \
            "escalated at 90"
        assert receivers.hook.verified[1]["alerts"][0]["acknowledged_by"] == "alice"
        assert [text.split(" ", 1)[0] for text in slack_texts] == \
            ["[FIRING:1]", "[ACKNOWLEDGED]", "[RESOLVED]"]
        assert [issue.status for issue in receivers.jira.issues.values()] == ["Done"]
        assert len(receivers.jira.issues["OPS-1"].comments) == 2
        assert [record["active"] for record in incidents] == ["false"]
        assert len(incidents[0]["work_notes_list"]) == 2
        assert incidents[0]["close_code"] == "Solution provided"


@pytest.mark.agent
class TestRetry:
    async def test_failing_receiver_gets_one_copy(self, shared: SharedDaemon, agents: Agents,
                                                  receivers: Receivers) -> None:
        """The webhook answers 500 five times: two sends of two attempts fail, a third passes."""
        receivers.flaky.fail_next(*[Fault(status=500) for _ in range(5)])
        agents.retry.set_dynamic_value(HIGH)

        async def delivered() -> bool:
            shared.assert_running()
            return events(receivers.flaky) == ["firing"]

        await wait_until(delivered, "the firing notification after the receiver recovered")
        agents.retry.set_dynamic_value(LOW)

        async def resolved() -> bool:
            return "resolved" in events(receivers.flaky)

        await wait_until(resolved, "the resolve notification")
        ids = [request.headers["X-Snmpd-Ng-Notification-Id"]
               for request in receivers.flaky.requests]
        retries = await history(shared.url, "notification.retry")

        assert events(receivers.flaky) == ["firing", "resolved"]
        assert len(ids) == 7
        assert len(set(ids[:6])) == 1
        assert ids[6] != ids[0]
        assert len([entry for entry in retries
                    if entry["detail"].get("channel") == "flaky"]) >= 2


@pytest.mark.agent
class TestDeviceDown:
    async def test_one_notification_for_device(self, shared: SharedDaemon, agents: Agents,
                                               receivers: Receivers) -> None:
        """The agent stops: TargetDown is notified; its interfaces' alerts are inhibited."""
        body = await metrics(shared.url)
        interfaces = {labels["ifIndex"] for name, labels, _ in parse_samples(body)
                      if name == "ifOperStatus" and labels.get("target") == "router"}
        agents.down.stop()

        async def all_fired() -> bool:
            shared.assert_running()
            silent = await alerts(shared.url, rule="InterfaceSilent", target="router")
            return bool(receivers.down.verified) and len(silent) == len(interfaces)

        await wait_until(all_fired, "TargetDown's notification and every interface's alert")
        fired_at = time.monotonic()
        # Two group intervals: time for a second notification of the group, were one sent.
        await sleep_until(fired_at + 2.5)
        silent = await alerts(shared.url, rule="InterfaceSilent", target="router")
        down = await alerts(shared.url, rule="TargetDown", target="router")
        notification = receivers.down.verified[0]

        assert len(interfaces) >= 2, "the agent must list two interfaces or more"
        assert events(receivers.down) == ["firing"]
        assert [alert["rule"] for alert in notification["alerts"]] == ["TargetDown"]
        assert [alert["state"] for alert in down] == ["firing"]
        assert {alert["labels"]["ifIndex"] for alert in silent} == interfaces
        assert {alert["inhibited_by"] for alert in silent} == \
            {"target router is unreachable"}


LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
LINK_UP = "1.3.6.1.6.3.1.1.5.4"
COLD_START = "1.3.6.1.6.3.1.1.5.1"
IF_INDEX_3 = ("1.3.6.1.2.1.2.2.1.1.3", "i", "3")


@pytest.mark.agent
class TestTraps:
    async def test_link_down_up_and_inform(self, shared: SharedDaemon,
                                           receivers: Receivers) -> None:
        """snmptrap v2c linkDown fires, linkUp resolves; snmpinform v3 authPriv is answered."""
        address = f"udp:127.0.0.1:{shared.trap_port}"
        v2c = ("-v", "2c", "-c", TRAP_COMMUNITY, address, "")
        down = await send_netsnmp("snmptrap", shared.client_dir, *v2c, LINK_DOWN, *IF_INDEX_3)

        async def fired() -> bool:
            shared.assert_running()
            return events(receivers.traps) == ["firing"]

        await wait_until(fired, "the linkDown notification")
        up = await send_netsnmp("snmptrap", shared.client_dir, *v2c, LINK_UP, *IF_INDEX_3)

        async def resolved() -> bool:
            return events(receivers.traps) == ["firing", "resolved"]

        await wait_until(resolved, "the resolve by linkUp")
        inform = await send_netsnmp(
            "snmpinform", shared.client_dir, "-v", "3", "-t", "2", "-r", "1", "-l", "authPriv",
            "-u", TRAP_USER, "-a", "SHA-256", "-A", TRAP_AUTH_PASSPHRASE, "-x", "AES",
            "-X", TRAP_PRIV_PASSPHRASE, address, "", COLD_START)
        body = await metrics(shared.url)
        firing = receivers.traps.verified[0]["alerts"][0]

        assert down[0] == 0, down
        assert up[0] == 0, up
        assert (firing["rule"], firing["labels"]["ifIndex"]) == ("LinkDown", "3")
        assert firing["labels"]["source"] == "127.0.0.1"
        assert receivers.traps.verified[1]["alerts"][0]["state"] == "resolved"
        assert inform[0] == 0, inform
        assert find_value(body, "snmpd_ng_trap_informs_acknowledged") == 1.0
        assert find_value(body, "snmpd_ng_trap_accepted") == 3.0


@pytest.mark.agent
class TestSharedLog:
    async def test_log_has_no_secret(self, shared: SharedDaemon) -> None:
        """After the cases above, no secret of the config is in the debug log."""
        shared.assert_running()
        log = shared.process.logs()

        for secret in SECRETS:
            assert secret not in log, f"a secret ({len(secret)} characters) is in the log"


RESTART = string.Template("""\
credentials:
  fixture: {community: {env: SNMPD_NG_TEST_COMMUNITY}}
jobs:
  value:
    interval: 500ms
    scalars:
      - {oid: ${value_oid}, name: fixture_value, type: gauge}
targets:
  - {name: restarted, address: 127.0.0.1, port: ${agent_port}, credentials: fixture,
     jobs: [value], timeout: 300ms, retries: 0}
scheduler: {jitter: 0}
http:
  listen: ["127.0.0.1:${http_port}"]
state_dir: ${state_dir}
alerting:
  rules:
    - {name: ValueHigh, expr: fixture_value > 50, for: 0s, severity: critical}
  channels:
    first: {type: webhook, url: "http://127.0.0.1:${first_port}/hooks/alerts",
            secret: {env: SNMPD_NG_E2E_WEBHOOK_SECRET}}
    second: {type: webhook, url: "http://127.0.0.1:${second_port}/hooks/alerts",
             secret: {env: SNMPD_NG_E2E_WEBHOOK_SECRET}}
  receivers:
    first: {channels: [first]}
    second: {channels: [second]}
  policies:
    two-tiers:
      tiers:
        - receivers: [first]
        - {receivers: [second], after: ${second_after}s}
  grouping: {group_wait: 0s, group_interval: 1s}
  routes:
    - policy: two-tiers
""")

SECOND_AFTER = 3.0
"""Seconds from the first tier to the second in the restart case; the daemon is down then."""


@pytest.mark.agent
class TestRestart:
    async def test_pending_step_after_sigkill(self, agents: Agents, receivers: Receivers,
                                              tmp_path: Path) -> None:
        """SIGKILL before tier 2 is due; the restarted daemon sends it once, tier 1 not again."""
        http_port = free_tcp_port()
        url = f"http://127.0.0.1:{http_port}"
        config = tmp_path / "config.yaml"
        config.write_text(RESTART.substitute(
            receivers.ports(), value_oid=VALUE_OID, agent_port=agents.restart.port,
            http_port=http_port, state_dir=tmp_path / "state", second_after=SECOND_AFTER))
        environ = daemon_environment(agents.restart.public_community, "")
        processes = [DaemonProcess(config, environ, tmp_path / "daemon-0.log")]
        try:
            agents.restart.set_dynamic_value(HIGH)

            async def first_delivered() -> bool:
                assert processes[0].process.poll() is None, processes[0].logs()[-4000:]
                delivered = await _api_history_or_empty(url, "notification.delivered")
                return bool(delivered)

            await wait_until(first_delivered, "tier 1's delivery, committed in the store")
            killed = time.monotonic()
            processes[0].process.send_signal(signal.SIGKILL)
            processes[0].wait(5.0)
            await sleep_until(killed + SECOND_AFTER + 0.5)
            processes.append(DaemonProcess(config, environ, tmp_path / "daemon-1.log"))

            async def second_delivered() -> bool:
                assert processes[1].process.poll() is None, processes[1].logs()[-4000:]
                return events(receivers.second) == ["firing"]

            await wait_until(second_delivered, "tier 2's notification after the restart")
            # A second copy from a requeued entry or a repeated step would come within this.
            await sleep_until(time.monotonic() + 2.0)
            deliveries = await history(url, "notification.delivered")
        finally:
            for process in processes:
                process.kill()

        assert processes[0].process.returncode == -signal.SIGKILL
        assert events(receivers.first) == ["firing"]
        assert events(receivers.second) == ["firing"]
        assert len(receivers.second.requests) == 1
        assert sorted(entry["detail"]["channel"] for entry in deliveries) == ["first", "second"]


async def _api_history_or_empty(url: str, kind: str) -> list[dict[str, Any]]:
    """Return history entries of `kind`, or none while the daemon's API is not up yet."""
    try:
        return await history(url, kind)
    except OSError:
        return []


BROKEN = """\
jobs:
  value:
    interval: 10s
    scalars:
      - {oid: 1.3.6.1.4.1.99999.12.0, name: fixture_value, type: gauge}
targets: []
state_dir: state
alerting:
  rules:
    - name: ValueHigh
      expr: fixture_value >
  channels:
    hook:
      type: webhook
      url: http://127.0.0.1:9/hooks/alerts
      secret: not-sent
  receivers:
    ops:
      channels: [hok]
  policies:
    ops:
      tiers:
        - receivers: [ops]
  routes:
    - policy: ops
      matchers: ['case=="x"']
"""


def line_of(text: str, fragment: str) -> int:
    """Return the 1-based number of the first line of `text` that contains `fragment`."""
    return next(number for number, line in enumerate(text.splitlines(), start=1)
                if fragment in line)


class TestCheckConfig:
    async def test_reports_each_alerting_error(self, tmp_path: Path) -> None:
        """A bad expression, an unknown channel and a bad matcher, each with line and fix."""
        config = tmp_path / "config.yaml"
        config.write_text(BROKEN, encoding="utf-8")

        status, out, err = await run_program(*snmpd_ng_command(), "check-config", str(config))
        lines = (out + err).splitlines()

        assert status == 1
        assert f"{config}: 3 errors in the configuration" in lines
        assert (f"{config}:{line_of(BROKEN, 'expr:')}: alerting.rules[0].expr: rule "
                "'ValueHigh': column 16: the expression ends too early; expected a name, a "
                "number, a duration such as 5m, '(', 'bool', 'ignoring' or 'on'") in lines
        assert (f"{config}:{line_of(BROKEN, '[hok]')}: alerting.receivers.ops.channels[0]: "
                "unknown channel 'hok' (did you mean 'hook'?); configured: hook") in lines
        assert (f"{config}:{line_of(BROKEN, 'matchers:')}: alerting.routes[0].matchers: "
                "invalid matcher 'case==\"x\"': a '\"' inside an unquoted value at character "
                "6; expected such as target=\"core1\" or ifName=~\"Gi.*\"") in lines
