"""End-to-end tests of the daemon with the real manager and polling service against net-snmp.

The daemon runs in-process (for values, labels, readiness, TLS and basic auth) and as a real
`snmpd-ng run` subprocess (for signals and the logs it writes). Values are compared with what
net-snmp's own snmpget and snmpwalk read from the same agent.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import (
    HttpReply,
    client_context,
    default_logging,
    fetch,
    free_tcp_port,
    write_self_signed_certificate,
)
from prometheus_client.parser import text_string_to_metric_families

from snmpd_ng.daemon import Daemon, DaemonOptions, running

pytestmark = pytest.mark.usefixtures(default_logging.__name__)

REPO = Path(__file__).resolve().parent.parent
WRONG_COMMUNITY = "e2e-wrong-community-8c1f"
"""A community the agent rejects: requests with it time out, which exercises error logging."""

CONFIG = """\
credentials:
  fixture: {{community: {{env: SNMPD_NG_TEST_COMMUNITY}}}}
  wrong: {{community: {{env: SNMPD_NG_WRONG_COMMUNITY}}}}
defaults: {{credentials: fixture, timeout: 500ms, retries: 0}}
jobs:
  system: {{interval: {interval}, scalars: [sysUpTime, sysServices, sysName]}}
  interfaces:
    interval: {interval}
    tables:
      - {{table: ifTable, columns: [ifMtu, ifSpeed], lookups: [ifName, ifDescr]}}
  storage:
    interval: {interval}
    tables:
      - {{table: hrStorageTable, columns: [hrStorageSize], lookups: [hrStorageDescr]}}
  fixed:
    interval: {interval}
    scalars:
      - {{oid: 1.3.6.1.4.1.99999.1.0, name: fixture_counter, type: counter}}
      - {{oid: 1.3.6.1.4.1.99999.4.0, name: fixture_integer}}
      - {{oid: 1.3.6.1.4.1.99999.5.0, name: fixture_gauge}}
targets:
  - name: agent
    address: {host}
    port: {port}
    jobs: [system, interfaces, storage, fixed]
    labels: {{site: test}}
{extra_targets}
scheduler: {{jitter: 0}}
http:
  listen: ["{listen}"]
{http_extra}
"""

WRONG_TARGET = """\
  - {{name: rejected, address: {host}, port: {port}, credentials: wrong, jobs: [system]}}
"""


def render_config(agent: Any, **overrides: str) -> str:
    values = {
        "host": agent.host,
        "port": str(agent.port),
        "interval": "1s",
        "listen": "127.0.0.1:0",
        "extra_targets": "",
        "http_extra": "",
    }
    values.update(overrides)
    return CONFIG.format(**values)


def environ_for(agent: Any) -> dict[str, str]:
    return {
        "SNMPD_NG_TEST_COMMUNITY": agent.public_community,
        "SNMPD_NG_WRONG_COMMUNITY": WRONG_COMMUNITY,
    }


def parse_samples(body: str) -> list[tuple[str, dict[str, str], float]]:
    samples = []
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            samples.append((sample.name, dict(sample.labels), float(sample.value)))
    return samples


def find_value(body: str, name: str, **labels: str) -> float | None:
    """Return the value of the sample `name` (or `name_total`) whose labels include `labels`."""
    for sample_name, sample_labels, value in parse_samples(body):
        if sample_name in (name, f"{name}_total") and labels.items() <= sample_labels.items():
            return value
    return None


def agent_rows(body: str, metric: str) -> list[tuple[str, dict[str, str], float]]:
    """Return (index, labels, value) of each row of a table metric of the `agent` target."""
    index_label = "hrStorageIndex" if metric.startswith("hr") else "ifIndex"
    return [
        (labels[index_label], labels, value)
        for name, labels, value in parse_samples(body)
        if name == metric and labels.get("target") == "agent"
    ]


def snmpget_value(agent: Any, oid: str) -> str | None:
    """Return net-snmp's value text for `oid`, or None when the agent has no such object."""
    rc, stdout, stderr = agent.run_netsnmp(
        "snmpget", "-v2c", "-c", agent.public_community, "-On", "-Oqv", oid
    )
    assert rc == 0, stderr
    text = stdout.strip()
    return None if text.startswith("No Such") else text.strip('"')


def snmpwalk_column(agent: Any, column: str) -> dict[str, str]:
    """Return {index: value text} of a column walked by net-snmp's snmpwalk."""
    rc, stdout, stderr = agent.run_netsnmp(
        "snmpwalk", "-v2c", "-c", agent.public_community, "-On", "-Oq", column
    )
    assert rc == 0, stderr
    rows = {}
    for line in stdout.splitlines():
        oid, _, value = line.partition(" ")
        rows[oid.removeprefix(column + ".")] = value.strip('"')
    return rows


async def get(url: str, **kwargs: Any) -> HttpReply:
    return await asyncio.to_thread(fetch, url, kwargs.get("headers"), kwargs.get("context"))


WAIT_SECONDS = 10.0
POLL_STEP = 0.1
JOBS = ("system", "interfaces", "storage", "fixed")


async def wait_until(predicate: Callable[[], Awaitable[bool]]) -> None:
    """Check `predicate` every POLL_STEP seconds until it is true; fail after WAIT_SECONDS."""
    for _ in range(int(WAIT_SECONDS / POLL_STEP)):
        if await predicate():
            return
        await asyncio.sleep(POLL_STEP)
    raise AssertionError(f"condition not met within {WAIT_SECONDS} s")


async def wait_ready(base_url: str, context: Any = None) -> None:
    async def is_ready() -> bool:
        return (await get(base_url + "/readyz", context=context)).status == 200

    await wait_until(is_ready)


async def wait_all_jobs_polled(base_url: str, context: Any = None, headers: Any = None) -> None:
    """Wait until every job of the agent target has a successful poll.

    /readyz turns 200 after the first attempt of each target, which can be before its slower
    jobs finish.
    """

    async def all_polled() -> bool:
        body = (await get(base_url + "/metrics", context=context, headers=headers)).body
        name = "snmp_poll_last_success_timestamp_seconds"
        return all(find_value(body, name, target="agent", job=job) is not None for job in JOBS)

    await wait_until(all_polled)


@pytest.fixture
async def daemon_url(snmpd_agent: Any, tmp_path: Path) -> AsyncIterator[str]:
    """An in-process daemon polling the agent, ready (first polls done); yields its base URL."""
    config = tmp_path / "config.yaml"
    config.write_text(render_config(snmpd_agent))
    daemon = Daemon(
        DaemonOptions(str(config), log_level="info", log_format="json"),
        environ=environ_for(snmpd_agent),
    )
    async with running(daemon):
        host, port = daemon.http_addresses[0]
        url = f"http://{host}:{port}"
        await wait_ready(url)
        await wait_all_jobs_polled(url)
        yield url


class TestValuesMatchSnmpget:
    @pytest.mark.parametrize(
        ("metric", "oid"),
        [
            ("sysServices", ".1.3.6.1.2.1.1.7.0"),
            ("fixture_counter", ".1.3.6.1.4.1.99999.1.0"),
            ("fixture_integer", ".1.3.6.1.4.1.99999.4.0"),
            ("fixture_gauge", ".1.3.6.1.4.1.99999.5.0"),
        ],
    )
    async def test_scalar_equals_snmpget(
        self, daemon_url: str, snmpd_agent: Any, metric: str, oid: str
    ) -> None:
        body = (await get(daemon_url + "/metrics")).body
        expected = snmpget_value(snmpd_agent, oid)

        value = find_value(body, metric, target="agent", site="test")

        # An object the agent does not have (net-snmp serves sysServices only when configured)
        # must produce no sample.
        assert value == (None if expected is None else float(expected))

    @pytest.mark.parametrize(
        ("metric", "column"),
        [
            ("ifMtu", ".1.3.6.1.2.1.2.2.1.4"),
            ("ifSpeed", ".1.3.6.1.2.1.2.2.1.5"),
            ("hrStorageSize", ".1.3.6.1.2.1.25.2.3.1.5"),
        ],
    )
    async def test_column_equals_snmpwalk(
        self, daemon_url: str, snmpd_agent: Any, metric: str, column: str
    ) -> None:
        body = (await get(daemon_url + "/metrics")).body
        expected = snmpwalk_column(snmpd_agent, column)

        exported = {index: value for index, _, value in agent_rows(body, metric)}

        assert exported == {index: float(value) for index, value in expected.items()}

    @pytest.mark.parametrize(
        ("metric", "label", "column"),
        [
            ("ifMtu", "ifName", ".1.3.6.1.2.1.31.1.1.1.1"),
            ("ifMtu", "ifDescr", ".1.3.6.1.2.1.2.2.1.2"),
            ("hrStorageSize", "hrStorageDescr", ".1.3.6.1.2.1.25.2.3.1.3"),
        ],
    )
    async def test_lookup_labels_equal_snmpwalk(
        self, daemon_url: str, snmpd_agent: Any, metric: str, label: str, column: str
    ) -> None:
        body = (await get(daemon_url + "/metrics")).body
        expected = snmpwalk_column(snmpd_agent, column)

        exported = {index: labels[label] for index, labels, _ in agent_rows(body, metric)}

        assert exported == expected

    async def test_daemon_metrics_are_exported(self, daemon_url: str) -> None:
        body = (await get(daemon_url + "/metrics")).body

        assert find_value(body, "snmpd_ng_config_last_reload_successful") == 1.0
        assert (find_value(body, "snmpd_ng_manager_requests") or 0) > 0
        assert find_value(body, "process_resident_memory_bytes") is not None


class TestReadiness:
    async def test_readyz_flips_after_first_polls(self, snmpd_agent: Any, tmp_path: Path) -> None:
        # The second target's agent rejects its community, so its first attempt ends only
        # when the 500 ms timeout expires: /readyz must stay 503 until then.
        config = tmp_path / "config.yaml"
        extra = WRONG_TARGET.format(host=snmpd_agent.host, port=snmpd_agent.port)
        config.write_text(render_config(snmpd_agent, interval="30s", extra_targets=extra))
        daemon = Daemon(
            DaemonOptions(str(config), log_level="info", log_format="json"),
            environ=environ_for(snmpd_agent),
        )
        async with running(daemon):
            host, port = daemon.http_addresses[0]
            url = f"http://{host}:{port}"
            first = (await get(url + "/readyz")).status
            started = time.monotonic()
            await wait_ready(url)
            waited = time.monotonic() - started

        assert first == 503
        assert waited < 5.0


class TestTlsAndBasicAuth:
    async def test_https_with_basic_auth(self, snmpd_agent: Any, tmp_path: Path) -> None:
        cert, key = write_self_signed_certificate(tmp_path)
        http_extra = (
            f"  tls: {{cert_file: {cert}, key_file: {key}}}\n"
            "  basic_auth: {username: prometheus, password: {env: SNMPD_NG_TEST_PASSWORD}}\n"
        )
        config = tmp_path / "config.yaml"
        config.write_text(render_config(snmpd_agent, http_extra=http_extra))
        environ = {**environ_for(snmpd_agent), "SNMPD_NG_TEST_PASSWORD": "pw-7e2b"}
        daemon = Daemon(
            DaemonOptions(str(config), log_level="info", log_format="json"), environ=environ
        )
        context = client_context(cert)
        token = "Basic cHJvbWV0aGV1czpwdy03ZTJi"  # base64 of "prometheus:pw-7e2b"
        async with running(daemon):
            _, port = daemon.http_addresses[0]
            url = f"https://127.0.0.1:{port}"
            await wait_ready(url, context)
            await wait_all_jobs_polled(url, context=context, headers={"Authorization": token})
            denied = await get(url + "/metrics", context=context)
            allowed = await get(url + "/metrics", context=context, headers={"Authorization": token})

        assert denied.status == 401
        assert allowed.status == 200
        assert find_value(allowed.body, "fixture_gauge", target="agent") == 4294967295.0


class DaemonProcess:
    """`snmpd-ng run` as a subprocess, with its stderr collected in a file."""

    def __init__(self, config: Path, environ: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log_file = log_path.open("wb")
        command = [*snmpd_ng_command(), "run", "--config", str(config), "--log-level", "debug"]
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **environ},
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def send(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self._log_file.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self._log_file.close()


def snmpd_ng_command() -> list[str]:
    """The installed console script, as a user runs it."""
    script = Path(sys.executable).with_name("snmpd-ng")
    return [str(script)]


@pytest.fixture
def daemon_process(snmpd_agent: Any, tmp_path: Path) -> Iterator[tuple[DaemonProcess, str, Path]]:
    """A `snmpd-ng run` subprocess polling the agent and a target it rejects."""
    port = free_tcp_port()
    config = tmp_path / "config.yaml"
    extra = WRONG_TARGET.format(host=snmpd_agent.host, port=snmpd_agent.port)
    config.write_text(
        render_config(snmpd_agent, listen=f"127.0.0.1:{port}", extra_targets=extra)
    )
    process = DaemonProcess(config, environ_for(snmpd_agent), tmp_path / "daemon.log")
    try:
        yield process, f"http://127.0.0.1:{port}", config
    finally:
        process.kill()


async def wait_listening(process: DaemonProcess, url: str) -> None:
    async def is_ready() -> bool:
        assert process.process.poll() is None, process.logs()
        try:
            return (await get(url + "/readyz")).status == 200
        except OSError:
            return False

    await wait_until(is_ready)


class TestDaemonProcess:
    async def test_sigterm_stops_within_5s(
        self, daemon_process: tuple[DaemonProcess, str, Path]
    ) -> None:
        process, url, _ = daemon_process
        await wait_listening(process, url)

        started = time.monotonic()
        process.send(signal.SIGTERM)
        status = await asyncio.to_thread(process.wait, 5.0)

        assert status == 0
        assert time.monotonic() - started < 5.0
        assert '"event": "daemon stopped"' in process.logs()

    async def test_sighup_applies_changed_config(
        self, daemon_process: tuple[DaemonProcess, str, Path]
    ) -> None:
        process, url, config = daemon_process
        await wait_listening(process, url)
        config.write_text(config.read_text().replace("labels: {site: test}", "labels: {site: b}"))

        process.send(signal.SIGHUP)

        async def relabelled() -> bool:
            body = (await get(url + "/metrics")).body
            return find_value(body, "fixture_gauge", target="agent", site="b") is not None

        await wait_until(relabelled)
        assert '"event": "config reloaded"' in process.logs()

    async def test_bad_reload_keeps_polling(
        self, daemon_process: tuple[DaemonProcess, str, Path]
    ) -> None:
        process, url, config = daemon_process
        await wait_listening(process, url)
        config.write_text(config.read_text().replace("interval: 1s", "interval: soon", 1))

        process.send(signal.SIGHUP)

        async def rejected() -> bool:
            body = (await get(url + "/metrics")).body
            return find_value(body, "snmpd_ng_config_last_reload_successful") == 0.0

        await wait_until(rejected)
        polls_before = await self.polls(url)
        await asyncio.sleep(2.2)  # two 1 s intervals of the old config
        polls_after = await self.polls(url)
        assert polls_after > polls_before
        assert "config reload rejected" in process.logs()
        assert "invalid duration 'soon'" in process.logs()

    async def polls(self, url: str) -> float:
        body = (await get(url + "/metrics")).body
        value = find_value(body, "snmp_polls", target="agent", job="fixed")
        assert value is not None
        return value

    async def test_community_never_in_logs_or_metrics(
        self, daemon_process: tuple[DaemonProcess, str, Path], snmpd_agent: Any
    ) -> None:
        process, url, _ = daemon_process
        await wait_listening(process, url)
        body = (await get(url + "/metrics")).body
        process.send(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 5.0)
        logs = process.logs()

        assert '"level": "debug"' in logs  # per-PDU logging was on
        assert "timed out" in logs  # the rejected target's error path was logged
        for community in (snmpd_agent.public_community, WRONG_COMMUNITY):
            assert community not in logs
            assert community not in body
