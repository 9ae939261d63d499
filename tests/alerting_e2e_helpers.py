"""Receivers, credentials and API calls for the end-to-end alerting tests.

tests/test_alerting_e2e.py runs `snmpd-ng run` as a subprocess against net-snmp's snmpd. The
daemon notifies the provider emulators of tests/receivers.py, which run on 127.0.0.1 in the
test's event loop. The helpers here start those emulators, hold the secrets that the daemon
reads from its environment, and read the daemon's alerts API as a user's script would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import aiohttp
from agents import netsnmp_environment
from receivers import (
    JiraReceiver,
    PagerDutyReceiver,
    ServiceNowReceiver,
    SlackReceiver,
    SmtpReceiver,
    WebhookReceiver,
    make_certificate,
)
from test_daemon_e2e import snmpd_ng_command

WAIT_SECONDS = 15.0
"""Seconds a wait for the daemon may take before the test fails, ample for a loaded CI machine."""
POLL_STEP = 0.1

API_TOKEN = "e2e-alert-api-token-5c2e"
WEBHOOK_SECRET = "e2e-webhook-secret-a7d3"
JIRA_EMAIL = "alerts@example.net"
JIRA_TOKEN = "e2e-jira-token-61f0"
SERVICENOW_USER = "snmpd-ng.integration"
SERVICENOW_PASSWORD = "e2e-servicenow-password-0b9c"
PAGERDUTY_ROUTING_KEY = "e2e0routing0key00000000000000d41"
"""32 characters, the length of a PagerDuty integration key, which the emulator checks."""
TRAP_COMMUNITY = "e2e-trap-community-7e15"
TRAP_USER = "e2e-traps"
TRAP_AUTH_PASSPHRASE = "e2e-trap-auth-passphrase-3a"
TRAP_PRIV_PASSPHRASE = "e2e-trap-priv-passphrase-9f"

SECRETS = (API_TOKEN, WEBHOOK_SECRET, JIRA_TOKEN, SERVICENOW_PASSWORD, PAGERDUTY_ROUTING_KEY,
           TRAP_COMMUNITY, TRAP_AUTH_PASSPHRASE, TRAP_PRIV_PASSPHRASE)
"""Every secret the daemon gets; none may show in its log."""


def daemon_environment(community: str, slack_url: str) -> dict[str, str]:
    """Return the variables that the configs' `{env: NAME}` secrets name."""
    return {
        "SNMPD_NG_TEST_COMMUNITY": community,
        "SNMPD_NG_E2E_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SNMPD_NG_E2E_SLACK_URL": slack_url,
        "SNMPD_NG_E2E_JIRA_TOKEN": JIRA_TOKEN,
        "SNMPD_NG_E2E_SERVICENOW_PASSWORD": SERVICENOW_PASSWORD,
        "SNMPD_NG_E2E_PAGERDUTY_KEY": PAGERDUTY_ROUTING_KEY,
        "SNMPD_NG_E2E_TRAP_COMMUNITY": TRAP_COMMUNITY,
        "SNMPD_NG_E2E_TRAP_AUTH": TRAP_AUTH_PASSPHRASE,
        "SNMPD_NG_E2E_TRAP_PRIV": TRAP_PRIV_PASSPHRASE,
    }


async def wait_until(predicate: Callable[[], Awaitable[bool]], what: str) -> None:
    """Check `predicate` every POLL_STEP seconds; fail naming `what` after WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(POLL_STEP)
    raise AssertionError(f"{what} did not happen within {WAIT_SECONDS} s")


async def sleep_until(deadline: float) -> None:
    """Sleep until the monotonic clock reaches `deadline`, keeping the receivers serving."""
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))


@dataclass
class Receivers:
    """One emulator per channel of the tests' configs, each on its own loopback port."""

    smtp: SmtpReceiver
    hook: WebhookReceiver
    slack: SlackReceiver
    pagerduty: PagerDutyReceiver
    jira: JiraReceiver
    servicenow: ServiceNowReceiver
    flaky: WebhookReceiver
    """The webhook of the retry case, which fails on request."""
    down: WebhookReceiver
    """The webhook of the device-down case."""
    traps: WebhookReceiver
    first: WebhookReceiver
    """Tier 1 of the restart case."""
    second: WebhookReceiver
    """Tier 2 of the restart case, due while the daemon is killed."""

    def __iter__(self) -> Iterator[Any]:
        return (getattr(self, item.name) for item in fields(self))

    def ports(self) -> dict[str, int]:
        return {f"{item.name}_port": getattr(self, item.name).port for item in fields(self)}


async def start_receivers(certificate_dir: Path) -> Receivers:
    """Start every emulator; the caller stops them with `stop_receivers`."""
    secret = WEBHOOK_SECRET.encode()
    receivers = Receivers(
        smtp=SmtpReceiver(make_certificate(certificate_dir), "plain"),
        hook=WebhookReceiver(secret), slack=SlackReceiver(), pagerduty=PagerDutyReceiver(),
        jira=JiraReceiver(JIRA_EMAIL, JIRA_TOKEN),
        servicenow=ServiceNowReceiver(SERVICENOW_USER, SERVICENOW_PASSWORD),
        flaky=WebhookReceiver(secret), down=WebhookReceiver(secret),
        traps=WebhookReceiver(secret), first=WebhookReceiver(secret),
        second=WebhookReceiver(secret))
    for receiver in receivers:
        await receiver.start()
    return receivers


async def stop_receivers(receivers: Receivers) -> None:
    for receiver in receivers:
        await receiver.stop()


def events(receiver: WebhookReceiver) -> list[str]:
    """Return the `event` of each notification whose signature the receiver verified."""
    return [body["event"] for body in receiver.verified]


def mail_events(smtp: SmtpReceiver) -> list[str]:
    """Return the event of each mail; the configs' subject template starts with it."""
    return [str(mail.message["Subject"]).split(" ", 1)[0] for mail in smtp.mails]


async def api_get(url: str, path: str, **params: str) -> dict[str, Any]:
    """GET a document of the daemon's alerts API; fail on any status but 200."""
    async with aiohttp.ClientSession() as session, session.get(
            f"{url}/api/v1/{path}", params=params) as response:
        document: dict[str, Any] = await response.json()
        assert response.status == 200, document
        return document


async def alerts(url: str, **params: str) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = (await api_get(url, "alerts", **params))["alerts"]
    return alerts


async def history(url: str, kind: str) -> list[dict[str, Any]]:
    """Return the newest 1000 history entries of `kind` (a kind, or a family ending in '.')."""
    entries: list[dict[str, Any]] = (
        await api_get(url, "history", kind=kind, limit="1000"))["entries"]
    return entries


async def run_program(*command: str, environ: dict[str, str] | None = None
                      ) -> tuple[int, str, str]:
    """Run a program without blocking the loop; return its exit status, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        *command, env=environ, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), WAIT_SECONDS)
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")


async def cli_ack(url: str, token_file: Path, fingerprint: str) -> tuple[int, str, str]:
    """Acknowledge an alert with `snmpd-ng alerts ack`, as an operator would."""
    return await run_program(*snmpd_ng_command(), "alerts", "ack", fingerprint, "--url", url,
                             "--token-file", str(token_file), "--by", "alice",
                             "--comment", "on it")


async def send_netsnmp(tool: str, client_dir: Path, *args: str) -> tuple[int, str, str]:
    """Run snmptrap or snmpinform with a set-up that ignores the host's net-snmp files."""
    return await run_program(tool, *args, environ=netsnmp_environment(client_dir))
