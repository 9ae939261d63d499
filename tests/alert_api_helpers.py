"""A real AlertService behind the alerts API on an aiohttp test server on 127.0.0.1.

The service has two tiers (noc on `chat` at once, oncall on the PagerDuty-typed `pager` after
15 minutes), a fake clock and fake channels, and is driven by hand with `step`.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer
from alerting_helpers import FakeChannel, channels, config, new_clock, signal, started
from alerting_helpers import step as run_step
from fakes import FakeClock

from snmpd_ng.alerting.lifecycle import fingerprint
from snmpd_ng.alerting.service import AlertService
from snmpd_ng.http.alerts import AlertApi, add_alert_routes

TOKEN = "api-token-5f0c9e2b"
WEBHOOK_SECRET = "pd-signing-secret-77aa"
GROUP = 'network:{target="core1"}'
CORE1 = fingerprint("LinkDown", {"target": "core1", "ifName": "Gi0/1", "severity": "critical"})
CORE2_CPU = fingerprint("HighCpu", {"target": "core2", "ifName": "Gi0/1", "severity": "warning"})
TWO_TIERS = {
    "grouping": {"group_by": ["target"], "group_wait": "0s", "group_interval": "5m"},
    "receivers": {"noc": {"channels": ["chat"]}, "oncall": {"channels": ["pager"]}},
    "policies": {"network": {"tiers": [{"receivers": ["noc"]},
                                       {"receivers": ["oncall"], "after": "15m"}]}},
    "routes": [{"policy": "network"}],
}


@dataclass
class ApiServer:
    server: TestServer
    service: AlertService
    clock: FakeClock
    fakes: dict[str, FakeChannel]
    api: AlertApi
    token_file: Path
    secret_file: Path

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def step(self, seconds: float = 0.0) -> None:
        await run_step(self.service, self.clock, seconds)

    async def fire(self) -> None:
        """Fire LinkDown on core1 and flush its group, which notifies tier 1."""
        self.service.submit(signal(at=self.clock.wall()))
        await self.step()

    async def fire_two(self) -> None:
        """Fire LinkDown on core1 and HighCpu (a warning) on core2."""
        self.service.submit(signal(at=self.clock.wall(), target="core1", ifName="Gi0/1"))
        self.service.submit(signal(rule="HighCpu", severity="warning", at=self.clock.wall(),
                                   target="core2", ifName="Gi0/1"))
        await self.step()


@asynccontextmanager
async def serving(tmp_path: Path,
                  build_app: Callable[[], web.Application] = web.Application,
                  tls: ssl.SSLContext | None = None) -> AsyncIterator[ApiServer]:
    """Start the service and the API on an app from `build_app`; stop both at the end."""
    clock = new_clock()
    fakes = channels("chat", pager="pagerduty")
    service = await started(tmp_path, clock, config(TWO_TIERS, fakes), fakes)
    token_file = _secret(tmp_path / "api-token", TOKEN + "\n")
    secret_file = _secret(tmp_path / "pagerduty-secret", WEBHOOK_SECRET)
    app = build_app()
    api = add_alert_routes(app, service, token_file, pagerduty_secret_file=secret_file,
                           clock=clock)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(ssl=tls)
    try:
        yield ApiServer(server, service, clock, fakes, api, token_file, secret_file)
    finally:
        await server.close()
        await service.stop()


def _secret(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    path.chmod(0o600)
    return path
