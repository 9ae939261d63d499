"""End to end: `snmpd-ng run` polls net-snmp's snmpd as every SNMPv3 user of the test matrix.

One daemon subprocess polls one target per user of tests/v3agent.py, and the targets that must
fail: a wrong authentication passphrase, a wrong privacy passphrase and an unknown context.
/metrics is compared with what net-snmp's snmpget and snmpwalk read as the same users, and the
daemon's log and /metrics are searched for every passphrase.

net-snmp 5.9.3's snmpd drops a request for a context it does not serve without a report (its
own snmpget with `-n` times out too), so the unknown context shows as timeouts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from daemon_helpers import fetch, free_tcp_port
from prometheus_client.parser import text_string_to_metric_families
from v3agent import (
    SYS_LOCATION,
    USERS,
    WRONG_AUTH_PASSPHRASE,
    WRONG_PRIV_PASSPHRASE,
    V3Agent,
    V3User,
    netsnmp_args,
    user_by_name,
)

REPO = Path(__file__).resolve().parent.parent
SYSTEM_STRINGS = {
    "sysDescr": ".1.3.6.1.2.1.1.1.0",
    "sysName": ".1.3.6.1.2.1.1.5.0",
    "sysLocation": ".1.3.6.1.2.1.1.6.0",
}
"""Text objects of the system group that net-snmp serves, by metric name."""
IF_MTU_COLUMN = ".1.3.6.1.2.1.2.2.1.4"
WAIT_SECONDS = 30.0
"""Time for the first polls of every target, discovery and key localisation included."""
POLL_STEP = 0.2

WRONG_AUTH_USER = user_by_name("auth_sha256")
WRONG_PRIV_USER = user_by_name("priv_sha_aes")
CONTEXT_USER = user_by_name("priv_sha256_aes256")
MISSING_CONTEXT = "no-such-context"
FAILING_TARGETS = ("wrong-auth", "wrong-priv", "unknown-context")

CONFIG_HEAD = """\
defaults: {{timeout: 500ms, retries: 1, jobs: [system, interfaces]}}
jobs:
  system: {{interval: 2s, scalars: [sysUpTime, sysDescr, sysName, sysLocation]}}
  interfaces:
    interval: 2s
    tables: [{{table: ifTable, columns: [ifMtu, ifType], lookups: [ifDescr]}}]
scheduler: {{jitter: 0}}
http: {{listen: ["127.0.0.1:{http_port}"]}}
"""


def env_name(user: V3User, key: str) -> str:
    """Name the environment variable of one passphrase: V3_AUTH_PRIV_SHA_AES."""
    return f"V3_{key.upper()}_{user.name.upper()}"


def profile_lines(name: str, user: V3User, auth_env: str | None = None,
                  priv_env: str | None = None) -> list[str]:
    """Write the credentials profile `name` for `user`, its passphrases from the environment."""
    lines = [f"  {name}:", f"    user: {user.name}"]
    if user.auth_protocol is not None:
        lines += [f"    auth_protocol: {user.auth_protocol.value}",
                  f"    auth_passphrase: {{env: {auth_env or env_name(user, 'auth')}}}"]
    if user.priv_protocol is not None:
        lines += [f"    priv_protocol: {user.priv_protocol.value}",
                  f"    priv_passphrase: {{env: {priv_env or env_name(user, 'priv')}}}"]
    return lines


def render_config(agent: V3Agent, http_port: int) -> str:
    """Return a config with one target per matrix user and the three failing targets."""
    lines = [CONFIG_HEAD.format(http_port=http_port).rstrip("\n"), "credentials:"]
    for user in USERS:
        lines += profile_lines(user.name, user)
    lines += profile_lines("wrong_auth", WRONG_AUTH_USER, auth_env="V3_WRONG_AUTH")
    lines += profile_lines("wrong_priv", WRONG_PRIV_USER, priv_env="V3_WRONG_PRIV")

    where = f"address: {agent.host}, port: {agent.port}"
    lines.append("targets:")
    lines += [f"  - {{name: {user.name}, {where}, credentials: {user.name}}}" for user in USERS]
    lines += [
        f"  - {{name: wrong-auth, {where}, credentials: wrong_auth, jobs: [system]}}",
        f"  - {{name: wrong-priv, {where}, credentials: wrong_priv, jobs: [system]}}",
        f"  - {{name: unknown-context, {where}, credentials: {CONTEXT_USER.name}, "
        f"context: {MISSING_CONTEXT}, jobs: [system]}}",
    ]
    return "\n".join(lines) + "\n"


def passphrase_environ() -> dict[str, str]:
    environ = {"V3_WRONG_AUTH": WRONG_AUTH_PASSPHRASE, "V3_WRONG_PRIV": WRONG_PRIV_PASSPHRASE}
    for user in USERS:
        if user.auth_passphrase is not None:
            environ[env_name(user, "auth")] = user.auth_passphrase
        if user.priv_passphrase is not None:
            environ[env_name(user, "priv")] = user.priv_passphrase
    return environ


Samples = list[tuple[str, dict[str, str], float]]


def parse_samples(body: str) -> Samples:
    return [(sample.name, dict(sample.labels), float(sample.value))
            for family in text_string_to_metric_families(body) for sample in family.samples]


def value_of(samples: Samples, name: str, **labels: str) -> float | None:
    """Return the value of the sample `name` whose labels include `labels`, or None."""
    for sample_name, sample_labels, value in samples:
        if sample_name == name and labels.items() <= sample_labels.items():
            return value
    return None


def rows_of(samples: Samples, name: str, target: str) -> dict[str, float]:
    """Return {ifIndex: value} of a table metric of `target`."""
    return {labels["ifIndex"]: value for sample_name, labels, value in samples
            if sample_name == name and labels.get("target") == target}


@dataclass
class V3Daemon:
    """A `snmpd-ng run` subprocess and where to reach it."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metrics(self) -> Samples:
        return parse_samples(self.metrics_text())

    def metrics_text(self) -> str:
        assert self.process.poll() is None, self.logs()
        return fetch(self.url + "/metrics").body

    def wait_for(self, condition: Callable[[Samples], bool], description: str) -> Samples:
        """Return the samples once `condition` holds for them; fail after WAIT_SECONDS."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            try:
                samples = self.metrics()
            except OSError:
                samples = []  # Not listening yet.
            if samples and condition(samples):
                return samples
            if time.monotonic() > deadline:
                raise AssertionError(f"{description} not seen within {WAIT_SECONDS} s")
            time.sleep(POLL_STEP)


def has_polled_every_target(samples: Samples) -> bool:
    """Tell whether every matrix target had a good run of both jobs, and every failing target
    a failed one."""
    name = "snmp_poll_last_success_timestamp_seconds"
    polled = all(value_of(samples, name, target=user.name, job=job) is not None
                 for user in USERS for job in ("system", "interfaces"))
    failed = all(value_of(samples, "snmp_poll_failures_total", target=target)
                 for target in FAILING_TARGETS)
    return polled and failed


@pytest.fixture(scope="module")
def v3_daemon(snmpd_v3_agent: V3Agent, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[V3Daemon]:
    """A daemon polling every matrix user, after the first polls of every target."""
    work_dir = tmp_path_factory.mktemp("daemon-v3")
    http_port = free_tcp_port()
    config = work_dir / "config.yaml"
    config.write_text(render_config(snmpd_v3_agent, http_port), encoding="utf-8")
    log_path = work_dir / "daemon.log"
    command = [str(Path(sys.executable).with_name("snmpd-ng")), "run", "--config", str(config),
               "--log-level", "debug", "--log-format", "json"]

    with log_path.open("wb") as log_file:
        # Unbuffered, so that the log file is complete whenever a test reads it.
        environ = {**os.environ, **passphrase_environ(), "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(command, env=environ, stdin=subprocess.DEVNULL,
                                   stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO)
    daemon = V3Daemon(process, f"http://127.0.0.1:{http_port}", log_path)
    try:
        daemon.wait_for(has_polled_every_target, "a poll of every target")
        yield daemon
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def snmpget_values(agent: V3Agent, user: V3User, *oids: str) -> dict[str, str]:
    """Return {oid: value text} that net-snmp's snmpget reads as `user`."""
    returncode, stdout, stderr = agent.snmpget([*netsnmp_args(user), "-Oqv"], *oids)
    assert returncode == 0, f"{user.name}: {stderr}"
    return dict(zip(oids, (line.strip('"') for line in stdout.splitlines()), strict=True))


def snmpwalk_column(agent: V3Agent, user: V3User, column: str) -> dict[str, float]:
    """Return {index: value} of a column that net-snmp's snmpwalk reads as `user`."""
    returncode, stdout, stderr = agent.snmpd.run_netsnmp(
        "snmpwalk", *netsnmp_args(user), "-On", "-Oq", column
    )
    assert returncode == 0, stderr
    rows = {}
    for line in stdout.splitlines():
        oid, _, value = line.partition(" ")
        rows[oid.removeprefix(column + ".")] = float(value)
    return rows


class TestEveryUser:
    def test_system_group_equals_snmpget(self, v3_daemon: V3Daemon,
                                         snmpd_v3_agent: V3Agent) -> None:
        samples = v3_daemon.metrics()
        oids = list(SYSTEM_STRINGS.values())
        with ThreadPoolExecutor(max_workers=8) as pool:
            read = pool.map(lambda user: snmpget_values(snmpd_v3_agent, user, *oids), USERS)
            expected = {user.name: {name: values[oid] for name, oid in SYSTEM_STRINGS.items()}
                        for user, values in zip(USERS, read, strict=True)}

        exported = {user.name: {name: labels[name] for name in SYSTEM_STRINGS
                                for sample_name, labels, _ in samples
                                if sample_name == name and labels["target"] == user.name}
                    for user in USERS}

        assert expected[USERS[0].name]["sysLocation"] == SYS_LOCATION
        assert exported == expected

    def test_uptime_polled_for_every_user(self, v3_daemon: V3Daemon) -> None:
        samples = v3_daemon.metrics()

        missing = [user.name for user in USERS
                   if value_of(samples, "sysUpTime", target=user.name) is None]

        assert missing == []

    def test_if_table_equals_snmpwalk(self, v3_daemon: V3Daemon,
                                      snmpd_v3_agent: V3Agent) -> None:
        samples = v3_daemon.metrics()
        expected = snmpwalk_column(snmpd_v3_agent, user_by_name("noauth"), IF_MTU_COLUMN)

        differing = [user.name for user in USERS
                     if rows_of(samples, "ifMtu", user.name) != expected]

        assert expected
        assert differing == []

    def test_no_matrix_target_has_security_errors(self, v3_daemon: V3Daemon) -> None:
        samples = v3_daemon.metrics()
        users = {user.name for user in USERS}

        errors = [(labels["target"], labels["kind"]) for name, labels, _ in samples
                  if name == "snmp_target_security_errors_total" and labels["target"] in users]

        assert errors == []

    def test_engine_discovered(self, v3_daemon: V3Daemon) -> None:
        samples = v3_daemon.metrics()

        discoveries = sum(value for name, _, value in samples
                          if name == "snmp_target_engine_discoveries_total")

        assert discoveries >= 1


class TestFailingTargets:
    def test_wrong_auth_passphrase_counts_wrong_digest(self, v3_daemon: V3Daemon) -> None:
        samples = v3_daemon.metrics()

        errors = value_of(samples, "snmp_target_security_errors_total", target="wrong-auth",
                          kind="wrong_digest")
        reports = value_of(samples, "snmp_target_reports_total", target="wrong-auth",
                           kind="wrong_digest")

        assert errors is not None and errors >= 1
        assert reports is not None and reports >= 1

    def test_wrong_priv_passphrase_counts_privacy_mismatch(self, v3_daemon: V3Daemon) -> None:
        samples = v3_daemon.metrics()

        errors = value_of(samples, "snmp_target_security_errors_total", target="wrong-priv",
                          kind="privacy_mismatch")

        assert errors is not None and errors >= 1

    def test_target_context_reaches_agent(self, v3_daemon: V3Daemon) -> None:
        samples = v3_daemon.metrics()

        timeouts = value_of(samples, "snmp_poll_errors_total", target="unknown-context",
                            kind="unknown_context")
        # The same user gets responses in the default context.
        answered = value_of(samples, "sysUpTime", target=CONTEXT_USER.name)

        assert timeouts is not None and timeouts >= 1
        assert answered is not None

    def test_failing_targets_export_no_values(self, v3_daemon: V3Daemon) -> None:
        samples = v3_daemon.metrics()

        for target in FAILING_TARGETS:
            assert value_of(samples, "sysUpTime", target=target) is None, target


class TestSecrets:
    def test_no_passphrase_in_logs_or_metrics(self, v3_daemon: V3Daemon) -> None:
        body = v3_daemon.metrics_text()
        logs = v3_daemon.logs()
        passphrases = set(passphrase_environ().values())

        assert '"level": "debug"' in logs  # Per-PDU logging was on.
        assert re.search(r"wrong_digest|WrongDigest", logs)  # The failures were logged.
        for passphrase in passphrases:
            assert passphrase not in logs, passphrase
            assert passphrase not in body, passphrase
