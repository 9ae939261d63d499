"""End to end: the daemon follows an SNMPv3 agent that restarts while it polls.

net-snmp's snmpd restarts with its state file, so it keeps its engine ID and raises engineBoots,
as a rebooted device does. The daemon must go on polling without a restart of its own, and count
the agent's restart on every target that polls it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from daemon_helpers import fetch, free_tcp_port
from v3agent import RestartableV3Agent

REPO = Path(__file__).resolve().parent.parent
WAIT_SECONDS = 30.0
USERS = ("auth_sha256", "priv_sha_aes")


def render_config(agent: RestartableV3Agent, http_port: int) -> str:
    lines = [
        "defaults: {timeout: 300ms, retries: 2, jobs: [system]}",
        "jobs: {system: {interval: 1s, scalars: [sysUpTime, sysName]}}",
        "scheduler: {jitter: 0}",
        f'http: {{listen: ["127.0.0.1:{http_port}"]}}',
        "credentials:",
    ]
    targets = ["targets:"]
    for name in USERS:
        user = agent.user(name)
        assert user.auth_protocol is not None
        lines += [f"  {name}:", f"    user: {name}",
                  f"    auth_protocol: {user.auth_protocol.value}",
                  f"    auth_passphrase: {{env: AUTH_{name.upper()}}}"]
        if user.priv_protocol is not None:
            lines += [f"    priv_protocol: {user.priv_protocol.value}",
                      f"    priv_passphrase: {{env: PRIV_{name.upper()}}}"]
        targets.append(f"  - {{name: {name}, address: {agent.host}, port: {agent.port}, "
                       f"credentials: {name}}}")
    return "\n".join(lines + targets) + "\n"


def environ_for(agent: RestartableV3Agent) -> dict[str, str]:
    environ = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name in USERS:
        user = agent.user(name)
        environ[f"AUTH_{name.upper()}"] = user.auth_passphrase or ""
        if user.priv_passphrase is not None:
            environ[f"PRIV_{name.upper()}"] = user.priv_passphrase
    return environ


def counter(body: str, name: str, target: str) -> float | None:
    match = re.search(rf'^{name}{{[^}}]*target="{target}"[^}}]*}} (\S+)$', body, re.MULTILINE)
    return float(match.group(1)) if match else None


def wait_until(url: str, condition: str, check: Callable[[str], bool]) -> str:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            body = fetch(url).body
        except OSError:
            body = ""
        if body and check(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{condition} not seen within {WAIT_SECONDS} s:\n{body[-3000:]}")
        time.sleep(0.2)


def successes(body: str) -> dict[str, float | None]:
    return {name: counter(body, "snmp_poll_last_success_timestamp_seconds", name)
            for name in USERS}


def test_daemon_follows_agent_restart(restartable_v3_agent: RestartableV3Agent,
                                      tmp_path: Path) -> None:
    agent = restartable_v3_agent
    http_port = free_tcp_port()
    config = tmp_path / "config.yaml"
    config.write_text(render_config(agent, http_port), encoding="utf-8")
    url = f"http://127.0.0.1:{http_port}/metrics"
    command = [str(Path(sys.executable).with_name("snmpd-ng")), "run", "--config", str(config)]
    with (tmp_path / "daemon.log").open("wb") as log:
        process = subprocess.Popen(command, env=environ_for(agent), stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        before = successes(wait_until(url, "first polls",
                                      lambda body: all(successes(body).values())))
        agent.restart()
        assert agent.engine_boots == 2

        after = wait_until(url, "polls after the restart", lambda body: all(
            (successes(body)[name] or 0) > (before[name] or 0) + 1.5 for name in USERS)
            and all(counter(body, "snmp_target_engine_reboots_total", name) == 1
                    for name in USERS))
        assert process.poll() is None
        for name in USERS:
            assert counter(after, "snmp_target_security_errors_total", name) is None, name
    finally:
        process.terminate()
        process.wait(10)
