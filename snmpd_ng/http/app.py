"""The aiohttp application: /metrics, /healthz, /readyz and an index page.

Handlers only read: the registry renders snapshots that the polling service keeps up to date,
the heartbeat is a timestamp and readiness is a flag. Basic auth, when configured, protects every
path except /healthz and /readyz, which reveal nothing and must stay open to orchestrators'
probes.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiohttp import hdrs, web
from prometheus_client import CollectorRegistry

from snmpd_ng.config.model import BasicAuthConfig
from snmpd_ng.http.alerts import is_exempt_from_basic_auth
from snmpd_ng.http.auth import CHALLENGE, is_authorized
from snmpd_ng.http.health import Heartbeat
from snmpd_ng.http.metrics import DaemonStats, render

log = structlog.get_logger("snmpd_ng.http")

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
_AUTH_LOG_INTERVAL = 60.0
"""Seconds between two log lines about rejected credentials; the rest are only counted."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class HttpState:
    """Snapshot sources of the handlers. The daemon replaces `basic_auth` on a reload."""

    registry: CollectorRegistry
    heartbeat: Heartbeat
    is_ready: Callable[[], bool]
    stats: DaemonStats
    basic_auth: BasicAuthConfig | None = None
    last_auth_log: float = float("-inf")
    not_ready_reason: Callable[[], str] | None = None
    """Why /readyz answers 503; by default, the first poll attempts are still running."""
    index_lines: tuple[str, ...] = ()
    """More lines of the index page, one per optional route (such as /cluster)."""


STATE_KEY = web.AppKey("state", HttpState)


def build_app(state: HttpState) -> web.Application:
    app = web.Application(middlewares=[_basic_auth_middleware])
    app[STATE_KEY] = state
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/", _index)
    return app


@web.middleware
async def _basic_auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    auth = state.basic_auth
    if auth is None or request.path in OPEN_PATHS:
        return await handler(request)
    if is_authorized(request.headers.get(hdrs.AUTHORIZATION), auth):
        return await handler(request)
    # The alerts API's bearer token and PagerDuty's signed webhook use their own proof, and the
    # bearer token takes the Authorization header that basic auth would need.
    if is_exempt_from_basic_auth(request):
        return await handler(request)

    state.stats.auth_failures += 1
    _log_auth_failure(state, request)
    return web.Response(
        status=401,
        text="401 Unauthorized: send the configured basic auth credentials\n",
        headers={hdrs.WWW_AUTHENTICATE: CHALLENGE},
    )


def _log_auth_failure(state: HttpState, request: web.Request) -> None:
    # A scanner can send thousands of bad requests, so log once per interval at most.
    now = time.monotonic()
    if now - state.last_auth_log < _AUTH_LOG_INTERVAL:
        return
    state.last_auth_log = now
    log.warning(
        "http request rejected: missing or wrong basic auth credentials",
        path=request.path,
        remote=request.remote,
        failures_total=state.stats.auth_failures,
    )


async def _metrics(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    try:
        body, content_type = render(state.registry)
    except Exception as exc:
        # A bug in a collector must cost one scrape, not the server.
        state.stats.render_failures += 1
        log.error("metrics rendering failed", error=repr(exc), exc_info=True)
        return web.Response(status=500, text="500 metrics rendering failed; see the log\n")
    response = web.Response(body=body, headers={hdrs.CONTENT_TYPE: content_type})
    # aiohttp (3.14) compresses a body above MAX_SYNC_CHUNK_SIZE (4 KiB) in its executor
    # thread, so gzip of a large /metrics body does not stall the event loop.
    response.enable_compression()
    return response


async def _healthz(request: web.Request) -> web.StreamResponse:
    heartbeat = request.app[STATE_KEY].heartbeat
    if heartbeat.is_alive():
        return web.Response(text="ok\n")
    age = heartbeat.age()
    detail = "no heartbeat yet" if age is None else f"last heartbeat {age:.1f} s ago"
    return web.Response(status=503, text=f"unhealthy: event loop watchdog stalled ({detail})\n")


async def _readyz(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    if state.is_ready():
        return web.Response(text="ready\n")
    reason = "waiting for the first poll attempt of every target"
    if state.not_ready_reason is not None:
        reason = state.not_ready_reason()
    return web.Response(status=503, text=f"not ready: {reason}\n")


async def _index(request: web.Request) -> web.StreamResponse:
    lines = ["snmpd-ng", "/metrics  Prometheus metrics", "/healthz  liveness",
             "/readyz   readiness", *request.app[STATE_KEY].index_lines]
    return web.Response(text="\n".join(lines) + "\n")
