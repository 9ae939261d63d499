"""Forwarding of the alerts API from a cluster node that is not the leader to the leader.

In cluster mode only the leader runs the alert service. Every other node forwards each request
under the alerts API's prefixes to the leader's `cluster.advertise_url` and returns the leader's
response unchanged: status, body, Content-Type, and the WWW-Authenticate, Allow, Retry-After and
Location headers. The leader's URL comes only from the cluster's member list in Redis, through
the lookup callable, and never from the request, so a client cannot aim the proxy at another host.

A forwarded request carries `X-Snmpd-Ng-Forwarded-By: <node id>`. A node that receives such a
request and is not the leader either returns 503 instead of forwarding it again, so a request
never travels in a loop while the leader changes. When no leader is known, or the leader does not
respond, the proxy returns the alerts API's JSON error body plus a `reason` code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import structlog
from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware
from multidict import CIMultiDict
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from yarl import URL

from snmpd_ng.clock import Clock, LoopClock
from snmpd_ng.cluster.status import ClusterStatus
from snmpd_ng.http.alerts import API_PREFIX, PAGERDUTY_WEBHOOK_PATH
from snmpd_ng.ratelimit import WarningLimiter

log = structlog.get_logger("snmpd_ng.http")

ALERT_API_PREFIXES = (f"{API_PREFIX}/alerts", f"{API_PREFIX}/groups", f"{API_PREFIX}/silences",
                      f"{API_PREFIX}/history", PAGERDUTY_WEBHOOK_PATH)
"""The paths of every route that `add_alert_routes` registers, for `LeaderProxy.middleware`."""
FORWARDED_BY_HEADER = "X-Snmpd-Ng-Forwarded-By"
"""Request header with the node id of the node that forwarded the request."""
LEADER_HEADER = "X-Snmpd-Ng-Leader"
"""Response header with the node id of the node whose alert service handled the request."""
DEFAULT_TIMEOUT = 10.0
"""Seconds a forwarded request may take, from connecting to the last byte of the response."""
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""Maximum size in bytes of a response body from the leader. A larger one gets a 502 response.

A guard against a server at advertise_url that sends without end. An alert with three labels
and no annotations takes 575 bytes in an alerts list, so a list reaches the limit at roughly
100,000 alerts (an estimate, fewer with long annotations).
"""
FORWARDED_REQUEST_HEADERS = (hdrs.AUTHORIZATION, hdrs.CONTENT_TYPE, hdrs.ACCEPT,
                             "X-PagerDuty-Signature")
"""Request headers passed to the leader. PagerDuty's webhook needs its signature header."""
RETURNED_RESPONSE_HEADERS = (hdrs.CONTENT_TYPE, hdrs.WWW_AUTHENTICATE, hdrs.ALLOW,
                             hdrs.RETRY_AFTER, hdrs.LOCATION)
"""Response headers of the leader passed back to the client, next to the status and body."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Reason(enum.StrEnum):
    """The `reason` code in the body of an error response of the proxy."""

    NO_LEADER = "no_leader"
    """No node holds the leader lease, or the leader is not in this node's member list yet."""
    NOT_JOINED = "not_joined"
    """This node is not a cluster member yet, so it has not read the member list."""
    REDIS_UNREACHABLE = "redis_unreachable"
    """This node lost Redis for longer than its leases (it is fenced)."""
    NO_ADVERTISE_URL = "no_advertise_url"
    INVALID_ADVERTISE_URL = "invalid_advertise_url"
    LEADER_CHANGED = "leader_changed"
    """The request was already forwarded once, or this node's own leader lease is lapsing."""
    LEADER_UNREACHABLE = "leader_unreachable"
    LEADER_TIMEOUT = "leader_timeout"
    LEADER_RESPONSE_INVALID = "leader_response_invalid"


# The result of a leader lookup


@dataclass(frozen=True, slots=True)
class LocalLeader:
    """This node is the leader: its own alert service handles the request."""


@dataclass(frozen=True, slots=True)
class RemoteLeader:
    """Another node is the leader, reachable at its advertised base URL."""

    node_id: str
    url: str


@dataclass(frozen=True, slots=True)
class NoLeader:
    """No leader to forward to. `detail` completes "cannot forward the request, because"."""

    reason: Reason
    detail: str


LeaderLookup = LocalLeader | RemoteLeader | NoLeader


class LeaderSource(Protocol):
    """The parts of a `ClusterNode` that tell who the leader is."""

    node_id: str
    leader: str | None
    snapshot: ClusterStatus | None

    @property
    def is_leader(self) -> bool: ...

    @property
    def joined(self) -> bool: ...

    @property
    def fenced(self) -> bool: ...


def lookup_leader(node: LeaderSource) -> LeaderLookup:
    """Find the leader from the node's last heartbeat and its member list."""
    if node.is_leader:
        return LocalLeader()
    if node.fenced:
        return NoLeader(Reason.REDIS_UNREACHABLE,
                        "this node cannot reach Redis, so it does not know the leader; retry "
                        "once Redis responds, or send the request to another node")
    if not node.joined:
        return NoLeader(Reason.NOT_JOINED, "this node has not joined the cluster yet, because "
                                           "its heartbeats to Redis have not succeeded; retry "
                                           "in a few seconds")
    if node.leader is None:
        return NoLeader(Reason.NO_LEADER, "no node holds the leader lease yet; retry in a few "
                                          "seconds")
    if node.leader == node.node_id:
        # The heartbeat named this node, but is_leader is False because the lease may end before
        # the next renewal, so another node may take it.
        return NoLeader(Reason.LEADER_CHANGED, "this node's leader lease was not renewed in "
                                               "time, so the leader may be changing; retry in "
                                               "a few seconds")
    return _member_address(node.leader, node.snapshot)


def _member_address(leader: str, snapshot: ClusterStatus | None) -> LeaderLookup:
    members = snapshot.members if snapshot is not None else ()
    for member in members:
        if member.node_id == leader:
            if not member.address:
                return NoLeader(Reason.NO_ADVERTISE_URL,
                                f"the leader {leader} has no cluster.advertise_url; set it in "
                                "that node's config and restart that node")
            return RemoteLeader(leader, member.address)
    return NoLeader(Reason.NO_LEADER, f"the leader {leader} is not in this node's member list "
                                      "yet; retry in a few seconds")


# Counters


@dataclass
class LeaderProxyStats:
    """Counts of the requests under the proxied prefixes, by outcome, for /metrics."""

    forwarded: int = 0
    """Requests the leader responded to, whatever the status of its response."""
    local: int = 0
    """Requests handled by this node, because it is the leader."""
    no_leader: int = 0
    """Requests rejected with 503 because no leader was known."""
    leader_changed: int = 0
    """Forwarded requests that reached a node that is not the leader (the loop guard)."""
    upstream_errors: int = 0
    """Requests whose forwarding failed: the leader was unreachable, timed out or misbehaved."""


class LeaderProxyCollector(Collector):
    """Render `LeaderProxyStats` as `snmpd_ng_cluster_api_requests_total{outcome}`."""

    def __init__(self, stats: LeaderProxyStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "snmpd_ng_cluster_api_requests",
            "Requests of the alerts API by outcome: forwarded to the leader, handled locally "
            "by the leader, or answered with an error by the proxy.",
            labels=["outcome"])
        stats = self._stats
        for outcome, value in (("forwarded", stats.forwarded), ("local", stats.local),
                               ("no_leader", stats.no_leader),
                               ("leader_changed", stats.leader_changed),
                               ("upstream_error", stats.upstream_errors)):
            family.add_metric([outcome], value)
        yield family


# The proxy


class UpstreamError(Exception):
    """A forwarded request that got no usable response from the leader."""

    def __init__(self, reason: Reason, cause: str) -> None:
        super().__init__(cause)
        self.reason = reason
        self.cause = cause


@dataclass
class LeaderProxy:
    """Forward requests under given path prefixes to the cluster leader.

    `leader_url` is called once per proxied request, usually as
    `lambda: lookup_leader(node)`. `node_id` is this node's id, sent to the leader in
    X-Snmpd-Ng-Forwarded-By. `session_factory` builds the one ClientSession, at the first
    forwarded request; by default it has no proxy from the environment and no cookie jar.
    Call `close()` when the daemon stops.
    """

    leader_url: Callable[[], LeaderLookup]
    _: dataclasses.KW_ONLY
    node_id: str
    timeout: float = DEFAULT_TIMEOUT
    session_factory: Callable[[], aiohttp.ClientSession] | None = None
    clock: Clock = field(default_factory=LoopClock)
    stats: LeaderProxyStats = field(default_factory=LeaderProxyStats)
    warnings: WarningLimiter = field(default_factory=WarningLimiter)
    _session: aiohttp.ClientSession | None = field(default=None, init=False, repr=False)

    def middleware(self, prefixes: tuple[str, ...] = ALERT_API_PREFIXES) -> Middleware:
        """Build the aiohttp middleware that proxies the paths under `prefixes`.

        A path matches a prefix when it equals it or continues it with "/". Other paths go to
        the next handler untouched.
        """

        @web.middleware
        async def leader_proxy(request: web.Request, handler: Handler) -> web.StreamResponse:
            if not is_proxied_path(request.path, prefixes):
                return await handler(request)
            return await self.route(request, handler)

        return leader_proxy

    async def route(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Handle the request here on the leader, forward it to the leader, or reject it."""
        lookup = self.leader_url()
        if isinstance(lookup, LocalLeader):
            return await self._handle_locally(request, handler)
        if FORWARDED_BY_HEADER in request.headers:
            return self._reject_forwarded_twice(request)
        if isinstance(lookup, NoLeader):
            return self._reject_no_leader(request, lookup)
        return await self._forward(request, lookup)

    async def close(self) -> None:
        """Close the ClientSession. A later forwarded request opens a new one."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()
            log.info("leader proxy session closed", node=self.node_id)

    async def _handle_locally(self, request: web.Request,
                              handler: Handler) -> web.StreamResponse:
        self.stats.local += 1
        response = await handler(request)
        if not response.prepared:
            response.headers[LEADER_HEADER] = self.node_id
        return response

    def _reject_forwarded_twice(self, request: web.Request) -> web.Response:
        self.stats.leader_changed += 1
        self._warn("leader_changed", "alerts api request forwarded to a node that is not the "
                   "leader; rejected", method=request.method, path=request.path)
        sender = request.headers.get(FORWARDED_BY_HEADER, "another node")[:64]
        return _error_response(503, f"leader changed during the request: node {sender} "
                                    f"forwarded it to node {self.node_id}, which is not the "
                                    "leader; retry",
                               Reason.LEADER_CHANGED)

    def _reject_no_leader(self, request: web.Request, lookup: NoLeader) -> web.Response:
        self.stats.no_leader += 1
        self._warn(f"no_leader:{lookup.reason}", "alerts api request not forwarded: no leader "
                   "this node can forward to", reason=lookup.reason.value, detail=lookup.detail,
                   method=request.method, path=request.path)
        return _error_response(503, f"this node is not the cluster leader and cannot forward "
                                    f"the request, because {lookup.detail}", lookup.reason)

    async def _forward(self, request: web.Request, leader: RemoteLeader) -> web.StreamResponse:
        base = leader_base_url(leader.url)
        if base is None:
            return self._reject_no_leader(request, NoLeader(
                Reason.INVALID_ADVERTISE_URL,
                f"the leader {leader.node_id} advertises an invalid URL; its "
                "cluster.advertise_url must be an http:// or https:// URL without user name or "
                "password"))
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            return _error_response(exc.status, exc.text or exc.reason, None)
        try:
            response = await self._exchange(request, base, body, leader)
        except UpstreamError as exc:
            return self._reject_upstream(request, leader, base, exc)
        self.stats.forwarded += 1
        log.debug("alerts api request forwarded", method=request.method, path=request.path,
                  leader=leader.node_id, status=response.status)
        return response

    async def _exchange(self, request: web.Request, base: URL, body: bytes,
                        leader: RemoteLeader) -> web.Response:
        """Send the request to the leader and copy its response, or raise UpstreamError."""
        url = URL(str(base).rstrip("/") + request.raw_path, encoded=True)
        try:
            async with asyncio.timeout(self.timeout):
                async with self._client().request(
                        request.method, url, data=body or None,
                        headers=self._forwarded_headers(request),
                        allow_redirects=False) as upstream:
                    payload = await _read_body(upstream)
        except TimeoutError:
            raise UpstreamError(Reason.LEADER_TIMEOUT,
                                f"no response within {self.timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(Reason.LEADER_UNREACHABLE,
                                str(exc) or type(exc).__name__) from None
        return _copy_response(upstream, payload, leader.node_id)

    def _forwarded_headers(self, request: web.Request) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict()
        for name in FORWARDED_REQUEST_HEADERS:
            for value in request.headers.getall(name, ()):
                headers.add(name, value)
        client = request.remote or "unknown"
        earlier = request.headers.get(hdrs.X_FORWARDED_FOR)
        headers[hdrs.X_FORWARDED_FOR] = f"{earlier}, {client}" if earlier else client
        headers[FORWARDED_BY_HEADER] = self.node_id
        return headers

    def _reject_upstream(self, request: web.Request, leader: RemoteLeader, base: URL,
                         exc: UpstreamError) -> web.Response:
        self.stats.upstream_errors += 1
        self._warn(f"upstream:{exc.reason}", "alerts api request to the leader failed",
                   reason=exc.reason.value, leader=leader.node_id, leader_url=str(base),
                   error=exc.cause, method=request.method, path=request.path)
        status = 503 if exc.reason is Reason.LEADER_TIMEOUT else 502
        return _error_response(status, f"the request was forwarded to the cluster leader "
                                       f"{leader.node_id} at {base}, which failed: {exc.cause}; "
                                       "retry, and check that node if this persists",
                               exc.reason, leader=str(base))

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            factory = self.session_factory or _default_session
            self._session = factory()
            log.info("leader proxy session opened", node=self.node_id, timeout=self.timeout)
        return self._session

    def _warn(self, kind: str, event: str, **fields: object) -> None:
        suppressed = self.warnings.admit(kind, self.clock.now())
        if suppressed is not None:
            log.warning(event, node=self.node_id, suppressed=suppressed, **fields)


def is_proxied_path(path: str, prefixes: tuple[str, ...]) -> bool:
    """Tell whether `path` lies under one of `prefixes`, on a segment boundary.

    A path with a "." or ".." segment never matches, because the client library would resolve
    it and could forward the request to a route outside the prefixes.
    """
    segments = path.split("/")
    if "." in segments or ".." in segments:
        return False
    return any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)


def leader_base_url(address: str) -> URL | None:
    """Parse a member's advertised URL, or return None unless it is http(s) with a host and no
    user name or password."""
    try:
        url = URL(address)
    except ValueError:
        return None
    if url.scheme not in ("http", "https") or not url.host:
        return None
    if url.user is not None or url.password is not None:
        return None
    return url.with_query(None).with_fragment(None)


def _default_session() -> aiohttp.ClientSession:
    # NOTE: an https:// leader is verified against the system's CA store only, so a leader with a
    # certificate from a private CA gets 502 unless the daemon passes a session_factory.
    # trust_env=False, the default, keeps HTTP(S)_PROXY from sending the alerts API elsewhere.
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), trust_env=False)


async def _read_body(upstream: aiohttp.ClientResponse) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in upstream.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise UpstreamError(Reason.LEADER_RESPONSE_INVALID,
                                f"the response body is larger than {MAX_RESPONSE_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _copy_response(upstream: aiohttp.ClientResponse, payload: bytes,
                   leader: str) -> web.Response:
    headers: CIMultiDict[str] = CIMultiDict()
    for name in RETURNED_RESPONSE_HEADERS:
        for value in upstream.headers.getall(name, ()):
            headers.add(name, value)
    headers[LEADER_HEADER] = leader
    return web.Response(status=upstream.status, reason=upstream.reason, body=payload,
                        headers=headers)


def _error_response(status: int, message: str, reason: Reason | None,
                    **extra: Any) -> web.Response:
    """Build the alerts API's error body, `{"error": ..., "status": ...}`, plus `reason`."""
    body: dict[str, Any] = {"error": message, "status": status}
    if reason is not None:
        body["reason"] = reason.value
    return web.json_response({**body, **extra}, status=status)
