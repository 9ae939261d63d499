"""The leader proxy (snmpd_ng.http.leader_proxy) between real aiohttp servers on 127.0.0.1.

A follower app carries the proxy's middleware and a few local routes. The leader is either an
echo app, which records each request it receives and returns it as JSON, or the real alerts API
over a real AlertService (alert_api_helpers.serving). The lookup is a mutable `Leadership`, so
each test decides who the leader is.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from alert_api_helpers import TOKEN, serving
from daemon_helpers import default_logging
from prometheus_client import CollectorRegistry, generate_latest
from structlog.testing import capture_logs

from snmpd_ng.cluster.status import ClusterStatus, MemberStatus
from snmpd_ng.http import leader_proxy
from snmpd_ng.http.leader_proxy import (
    ALERT_API_PREFIXES,
    FORWARDED_BY_HEADER,
    LEADER_HEADER,
    LeaderLookup,
    LeaderProxy,
    LeaderProxyCollector,
    LocalLeader,
    NoLeader,
    Reason,
    RemoteLeader,
    is_proxied_path,
    leader_base_url,
    lookup_leader,
)

pytestmark = pytest.mark.usefixtures(default_logging.__name__)

FOLLOWER = "poller-b"
LEADER = "poller-a"
SECRET_HEADER_VALUE = "Bearer proxy-test-token-9d31"
VENDOR_TYPE = "application/vnd.snmpd-ng-test+json; charset=utf-8"


# The leader side: an echo app


@dataclass
class Echo:
    """An app that records each request and returns its parts as JSON."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def build(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/alerts/denied", self.denied)
        app.router.add_get("/api/v1/history", self.vendor_type)
        app.router.add_get("/api/v1/alerts/slow", self.slow)
        app.router.add_get("/api/v1/alerts/huge", self.huge)
        app.router.add_get("/api/v1/alerts/moved", self.moved)
        app.router.add_route("*", "/{tail:.*}", self.echo)
        return app

    async def echo(self, request: web.Request) -> web.Response:
        body = await request.read()
        seen = {"method": request.method, "path": request.path,
                "query": request.rel_url.raw_query_string, "body": body.decode(),
                "headers": dict(request.headers)}
        self.requests.append(seen)
        return web.json_response(seen)

    async def denied(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path})
        return web.json_response({"error": "missing bearer token", "status": 401}, status=401,
                                 headers={"WWW-Authenticate": 'Bearer realm="snmpd-ng"'})

    async def vendor_type(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path})
        return web.Response(status=409, body=b'{"conflict": true}',
                            headers={"Content-Type": VENDOR_TYPE})

    async def slow(self, request: web.Request) -> web.Response:
        await self.release.wait()
        return web.json_response({})

    async def huge(self, request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 4096, content_type="application/json")

    async def moved(self, request: web.Request) -> web.Response:
        return web.Response(status=307, headers={"Location": "http://127.0.0.1:9/elsewhere"})


# The follower side: the proxy's middleware and local routes


@dataclass
class Leadership:
    """The lookup the proxy calls, changed by the tests."""

    lookup: LeaderLookup
    calls: int = 0

    def __call__(self) -> LeaderLookup:
        self.calls += 1
        return self.lookup


async def _local(request: web.Request) -> web.Response:
    return web.json_response({"handled_by": "follower", "path": request.path})


def follower_app(proxy: LeaderProxy) -> web.Application:
    app = web.Application(middlewares=[proxy.middleware(ALERT_API_PREFIXES)])
    app.router.add_get("/api/v1/alerts", _local)
    app.router.add_get("/api/v1/alertsfoo", _local)
    app.router.add_get("/api/v1/targets/{target}/latest", _local)
    app.router.add_get("/metrics", _local)
    return app


@dataclass
class Pair:
    """A follower with the proxy, a leader, and a client session of the test."""

    proxy: LeaderProxy
    leadership: Leadership
    follower: TestServer
    leader: TestServer
    echo: Echo
    session: aiohttp.ClientSession

    def url(self, path: str) -> str:
        return str(self.follower.make_url("")).rstrip("/") + path

    def leader_url(self) -> str:
        return str(self.leader.make_url("")).rstrip("/")

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.session.request(method, self.url(path), **kwargs) as response:
            return response.status, await response.json()


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    echo = Echo()
    leader = TestServer(echo.build(), host="127.0.0.1")
    await leader.start_server()
    leadership = Leadership(LocalLeader())
    proxy = LeaderProxy(leadership, node_id=FOLLOWER, timeout=2.0)
    leadership.lookup = RemoteLeader(LEADER, str(leader.make_url("")).rstrip("/"))
    follower = TestServer(follower_app(proxy), host="127.0.0.1")
    await follower.start_server()
    async with aiohttp.ClientSession() as session:
        yield Pair(proxy, leadership, follower, leader, echo, session)
    echo.release.set()
    await follower.close()
    await proxy.close()
    await leader.close()


def free_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on now (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# Forwarding


class TestForwarding:
    async def test_get_keeps_query_and_authorization(self, pair: Pair) -> None:
        query = "state=firing&state=acknowledged&filter=target%3D%22core1%22"
        async with pair.session.get(pair.url(f"/api/v1/alerts?{query}"),
                                    headers={"Authorization": SECRET_HEADER_VALUE,
                                             "Accept": "application/json"}) as response:
            seen = await response.json()
            answered_by = response.headers.get(LEADER_HEADER)

        assert response.status == 200
        assert seen["method"] == "GET"
        assert seen["path"] == "/api/v1/alerts"
        assert seen["query"] == query
        assert seen["headers"]["Authorization"] == SECRET_HEADER_VALUE
        assert seen["headers"]["Accept"] == "application/json"
        assert seen["headers"][FORWARDED_BY_HEADER] == FOLLOWER
        assert seen["headers"]["X-Forwarded-For"] == "127.0.0.1"
        assert answered_by == LEADER

    async def test_post_keeps_body_and_content_type(self, pair: Pair) -> None:
        body = {"matchers": 'target="core1"', "created_by": "bob", "duration": "2h"}
        status, seen = await pair.call("POST", "/api/v1/silences", json=body,
                                       headers={"Authorization": SECRET_HEADER_VALUE})

        assert status == 200
        assert seen["method"] == "POST"
        assert json.loads(seen["body"]) == body
        assert seen["headers"]["Content-Type"] == "application/json"
        assert seen["headers"]["Authorization"] == SECRET_HEADER_VALUE

    async def test_delete_keeps_encoded_path_and_query(self, pair: Pair) -> None:
        status, seen = await pair.call("DELETE", "/api/v1/silences/0f3a%2Fb?by=bob%20smith")

        assert status == 200
        assert seen["method"] == "DELETE"
        assert seen["path"] == "/api/v1/silences/0f3a/b"
        assert seen["query"] == "by=bob%20smith"

    async def test_pagerduty_signature_forwarded(self, pair: Pair) -> None:
        payload = b'{"event": {}}'
        status, seen = await pair.call(
            "POST", "/api/v1/webhooks/pagerduty", data=payload,
            headers={"X-PagerDuty-Signature": "v1=abc123", "Content-Type": "application/json"})

        assert status == 200
        assert seen["body"] == payload.decode()
        assert seen["headers"]["X-PagerDuty-Signature"] == "v1=abc123"

    async def test_earlier_forwarded_for_extended(self, pair: Pair) -> None:
        _, seen = await pair.call("GET", "/api/v1/alerts",
                                  headers={"X-Forwarded-For": "192.0.2.7"})

        assert seen["headers"]["X-Forwarded-For"] == "192.0.2.7, 127.0.0.1"

    async def test_body_over_limit_gets_413(self, pair: Pair) -> None:
        # aiohttp's default client_max_size on the follower is 1 MiB.
        status, body = await pair.call("POST", "/api/v1/silences", data=b"x" * (1024 ** 2 + 1),
                                       headers={"Content-Type": "application/json"})

        assert status == 413
        assert body["status"] == 413
        assert "1048576" in body["error"]
        assert pair.echo.requests == []

    async def test_other_headers_not_forwarded(self, pair: Pair) -> None:
        _, seen = await pair.call("GET", "/api/v1/alerts",
                                  headers={"Cookie": "session=1", "X-Custom": "1"})

        assert "Cookie" not in seen["headers"]
        assert "X-Custom" not in seen["headers"]

    async def test_base_url_path_prefix_kept(self, pair: Pair) -> None:
        pair.leadership.lookup = RemoteLeader(LEADER, pair.leader_url() + "/snmpd/")
        _, seen = await pair.call("GET", "/api/v1/alerts?state=all")

        assert seen["path"] == "/snmpd/api/v1/alerts"
        assert seen["query"] == "state=all"


class TestLeaderResponseUnchanged:
    async def test_status_body_and_content_type(self, pair: Pair) -> None:
        async with pair.session.get(pair.url("/api/v1/history")) as response:
            body = await response.read()

        assert response.status == 409
        assert body == b'{"conflict": true}'
        assert response.headers["Content-Type"] == VENDOR_TYPE

    async def test_401_with_challenge(self, pair: Pair) -> None:
        async with pair.session.get(pair.url("/api/v1/alerts/denied")) as response:
            body = await response.json()

        assert response.status == 401
        assert body == {"error": "missing bearer token", "status": 401}
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="snmpd-ng"'
        assert response.headers[LEADER_HEADER] == LEADER

    async def test_redirect_returned_not_followed(self, pair: Pair) -> None:
        async with pair.session.get(pair.url("/api/v1/alerts/moved"),
                                    allow_redirects=False) as response:
            location = response.headers.get("Location")

        assert response.status == 307
        assert location == "http://127.0.0.1:9/elsewhere"


class TestRealAlertsApi:
    """The real alerts API as the leader: the follower's responses equal the leader's own."""

    @pytest.fixture
    async def real(self, tmp_path: Path) -> AsyncIterator[tuple[Pair, str]]:
        async with serving(tmp_path) as api:
            leadership = Leadership(RemoteLeader(LEADER, api.url))
            proxy = LeaderProxy(leadership, node_id=FOLLOWER, timeout=5.0)
            follower = TestServer(follower_app(proxy), host="127.0.0.1")
            await follower.start_server()
            async with aiohttp.ClientSession() as session:
                yield Pair(proxy, leadership, follower, api.server, Echo(), session), api.url
            await follower.close()
            await proxy.close()

    async def test_write_without_token_gets_leaders_401(
            self, real: tuple[Pair, str]) -> None:
        pair, direct = real
        silence = {"matchers": 'target="core1"', "created_by": "bob", "duration": "1h"}
        async with pair.session.post(pair.url("/api/v1/silences"), json=silence) as proxied:
            proxied_body = await proxied.json()
        async with pair.session.post(direct + "/api/v1/silences", json=silence) as response:
            direct_body = await response.json()

        assert proxied.status == 401
        assert proxied_body == direct_body
        assert proxied.headers["WWW-Authenticate"] == response.headers["WWW-Authenticate"]

    async def test_silence_created_through_follower(self, real: tuple[Pair, str]) -> None:
        pair, direct = real
        silence = {"matchers": 'target="core1"', "created_by": "bob", "comment": "maintenance",
                   "duration": "1h"}
        status, created = await pair.call("POST", "/api/v1/silences", json=silence,
                                          headers={"Authorization": f"Bearer {TOKEN}"})
        _, proxied_list = await pair.call("GET", "/api/v1/silences")
        async with pair.session.get(direct + "/api/v1/silences") as response:
            direct_list = await response.json()

        assert status == 201
        assert created["silence"]["created_by"] == "bob"
        assert proxied_list == direct_list
        assert direct_list["count"] == 1

    async def test_unknown_route_gets_leaders_404(self, real: tuple[Pair, str]) -> None:
        pair, _ = real
        status, body = await pair.call("GET", "/api/v1/alerts/abcdef0123/nosuch")

        assert status == 404
        assert body["status"] == 404


# Local handling and pass-through


class TestLocal:
    async def test_leader_handles_locally(self, pair: Pair) -> None:
        pair.leadership.lookup = LocalLeader()
        async with pair.session.get(pair.url("/api/v1/alerts")) as response:
            body = await response.json()

        assert body == {"handled_by": "follower", "path": "/api/v1/alerts"}
        assert response.headers[LEADER_HEADER] == FOLLOWER
        assert pair.echo.requests == []
        assert pair.proxy.stats.local == 1

    async def test_leader_handles_forwarded_request(self, pair: Pair) -> None:
        pair.leadership.lookup = LocalLeader()
        status, body = await pair.call("GET", "/api/v1/alerts",
                                       headers={FORWARDED_BY_HEADER: "poller-c"})

        assert status == 200
        assert body["handled_by"] == "follower"

    @pytest.mark.parametrize("path", [
        "/metrics",
        "/api/v1/targets/core1/latest",
        "/api/v1/alertsfoo",
    ])
    async def test_other_paths_untouched(self, pair: Pair, path: str) -> None:
        async with pair.session.get(pair.url(path)) as response:
            body = await response.json()

        assert body["handled_by"] == "follower"
        assert LEADER_HEADER not in response.headers
        assert pair.echo.requests == []
        assert pair.leadership.calls == 0

    async def test_dot_segments_not_forwarded(self, pair: Pair) -> None:
        # Sent raw, because a client library would resolve the dot segments itself.
        host, port = pair.follower.host, pair.follower.port
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /api/v1/alerts/../../../metrics HTTP/1.1\r\nHost: x\r\n"
                     b"Connection: close\r\n\r\n")
        await writer.drain()
        reply = await reader.read()
        writer.close()
        await writer.wait_closed()

        assert reply.startswith(b"HTTP/1.1 404")
        assert pair.echo.requests == []


# Errors


class TestNoLeader:
    @pytest.mark.parametrize("reason", [Reason.NO_LEADER, Reason.REDIS_UNREACHABLE,
                                        Reason.NO_ADVERTISE_URL, Reason.NOT_JOINED])
    async def test_503_with_reason(self, pair: Pair, reason: Reason) -> None:
        pair.leadership.lookup = NoLeader(reason, "the test says so")
        async with pair.session.get(pair.url("/api/v1/alerts")) as response:
            body = await response.json()

        assert response.status == 503
        assert response.content_type == "application/json"
        assert body["status"] == 503
        assert body["reason"] == reason.value
        assert "because the test says so" in body["error"]
        assert pair.proxy.stats.no_leader == 1

    @pytest.mark.parametrize("address", ["ftp://127.0.0.1:21", "http://user:pw@127.0.0.1:1",
                                         "not a url", "http:///nohost"])
    async def test_invalid_advertise_url(self, pair: Pair, address: str) -> None:
        pair.leadership.lookup = RemoteLeader(LEADER, address)
        status, body = await pair.call("GET", "/api/v1/alerts")

        assert status == 503
        assert body["reason"] == "invalid_advertise_url"
        assert "pw" not in body["error"]


class TestLeaderFailure:
    async def test_nothing_listening_gets_502(self, pair: Pair) -> None:
        dead = f"http://127.0.0.1:{free_port()}"
        pair.leadership.lookup = RemoteLeader(LEADER, dead)
        status, body = await pair.call("GET", "/api/v1/alerts",
                                       headers={"Authorization": SECRET_HEADER_VALUE})

        assert status == 502
        assert body["reason"] == "leader_unreachable"
        assert body["leader"] == dead
        assert dead in body["error"]
        assert "proxy-test-token" not in json.dumps(body)
        assert pair.proxy.stats.upstream_errors == 1

    async def test_timeout_gets_503(self, pair: Pair) -> None:
        pair.proxy.timeout = 0.2
        status, body = await pair.call("GET", "/api/v1/alerts/slow")

        assert status == 503
        assert body["reason"] == "leader_timeout"
        assert "0.2 s" in body["error"]
        assert pair.leader_url() in body["error"]

    async def test_response_over_limit_gets_502(self, pair: Pair,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(leader_proxy, "MAX_RESPONSE_BYTES", 1024)
        status, body = await pair.call("GET", "/api/v1/alerts/huge")

        assert status == 502
        assert body["reason"] == "leader_response_invalid"

    async def test_failures_logged_once_a_minute(self, pair: Pair) -> None:
        pair.leadership.lookup = RemoteLeader(LEADER, f"http://127.0.0.1:{free_port()}")
        with capture_logs() as logs:
            for _ in range(3):
                await pair.call("GET", "/api/v1/alerts",
                                headers={"Authorization": SECRET_HEADER_VALUE})
        warnings = [entry for entry in logs if entry["log_level"] == "warning"]

        assert len(warnings) == 1
        assert warnings[0]["reason"] == "leader_unreachable"
        assert "proxy-test-token" not in repr(logs)
        assert pair.proxy.stats.upstream_errors == 3


class TestLoopGuard:
    async def test_forwarded_request_not_forwarded_again(self, pair: Pair) -> None:
        status, body = await pair.call("GET", "/api/v1/alerts",
                                       headers={FORWARDED_BY_HEADER: "poller-c"})

        assert status == 503
        assert body["reason"] == "leader_changed"
        assert "retry" in body["error"]
        assert pair.echo.requests == []
        assert pair.proxy.stats.leader_changed == 1

    async def test_rejection_names_both_nodes(self, pair: Pair) -> None:
        _, body = await pair.call("GET", "/api/v1/alerts",
                                  headers={FORWARDED_BY_HEADER: "poller-c"})

        assert f"node poller-c forwarded it to node {pair.proxy.node_id}" in body["error"]

    async def test_two_followers_naming_each_other(self, pair: Pair) -> None:
        # A second follower, poller-c, takes the first for the leader, and the first takes
        # poller-c: the request travels one hop and is rejected there.
        other = Leadership(RemoteLeader(FOLLOWER, pair.url("")))
        other_proxy = LeaderProxy(other, node_id="poller-c", timeout=2.0)
        other_server = TestServer(follower_app(other_proxy), host="127.0.0.1")
        await other_server.start_server()
        pair.leadership.lookup = RemoteLeader(
            "poller-c", str(other_server.make_url("")).rstrip("/"))
        try:
            async with pair.session.get(pair.url("/api/v1/alerts")) as response:
                body = await response.json()
        finally:
            await other_server.close()
            await other_proxy.close()

        assert response.status == 503
        assert body["reason"] == "leader_changed"
        assert response.headers[LEADER_HEADER] == "poller-c"
        assert pair.proxy.stats.forwarded == 1
        assert other_proxy.stats.leader_changed == 1


# Counters, session life and helpers


class TestCounters:
    async def test_each_outcome_counted(self, pair: Pair) -> None:
        await pair.call("GET", "/api/v1/alerts")
        await pair.call("GET", "/api/v1/alerts", headers={FORWARDED_BY_HEADER: "poller-c"})
        pair.leadership.lookup = NoLeader(Reason.NO_LEADER, "none yet")
        await pair.call("GET", "/api/v1/alerts")
        pair.leadership.lookup = RemoteLeader(LEADER, f"http://127.0.0.1:{free_port()}")
        await pair.call("GET", "/api/v1/alerts")
        pair.leadership.lookup = LocalLeader()
        await pair.call("GET", "/api/v1/alerts")
        await pair.call("GET", "/metrics")
        stats = pair.proxy.stats

        assert stats.forwarded == 1
        assert stats.leader_changed == 1
        assert stats.no_leader == 1
        assert stats.upstream_errors == 1
        assert stats.local == 1

    async def test_collector_renders_outcomes(self, pair: Pair) -> None:
        await pair.call("GET", "/api/v1/alerts")
        registry = CollectorRegistry()
        registry.register(LeaderProxyCollector(pair.proxy.stats))
        text = generate_latest(registry).decode()

        assert 'snmpd_ng_cluster_api_requests_total{outcome="forwarded"} 1.0' in text
        assert 'snmpd_ng_cluster_api_requests_total{outcome="upstream_error"} 0.0' in text


class TestSession:
    async def test_one_session_reused(self, pair: Pair) -> None:
        await pair.call("GET", "/api/v1/alerts")
        first = pair.proxy._session
        await pair.call("GET", "/api/v1/alerts")

        assert first is not None
        assert pair.proxy._session is first

    async def test_close_then_reopen(self, pair: Pair) -> None:
        await pair.call("GET", "/api/v1/alerts")
        first = pair.proxy._session
        await pair.proxy.close()
        status, _ = await pair.call("GET", "/api/v1/alerts")

        assert first is not None
        assert first.closed
        assert status == 200
        assert pair.proxy._session is not first

    async def test_session_factory_used(self, pair: Pair) -> None:
        built: list[aiohttp.ClientSession] = []

        def factory() -> aiohttp.ClientSession:
            built.append(aiohttp.ClientSession())
            return built[-1]

        pair.proxy.session_factory = factory
        await pair.proxy.close()
        await pair.call("GET", "/api/v1/alerts")

        assert len(built) == 1
        assert pair.proxy._session is built[0]


@pytest.mark.parametrize(("path", "expected"), [
    ("/api/v1/alerts", True),
    ("/api/v1/alerts/abc/ack", True),
    ("/api/v1/groups/ack", True),
    ("/api/v1/silences", True),
    ("/api/v1/history", True),
    ("/api/v1/webhooks/pagerduty", True),
    ("/api/v1/alertsfoo", False),
    ("/api/v1/targets/core1/latest", False),
    ("/api/v1/webhooks/other", False),
    ("/api/v1/alerts/./x", False),
    ("/api/v1/alerts/../../metrics", False),
    ("/metrics", False),
])
def test_is_proxied_path_cases(path: str, expected: bool) -> None:
    assert is_proxied_path(path, ALERT_API_PREFIXES) is expected


@pytest.mark.parametrize(("address", "expected"), [
    ("http://127.0.0.1:9161", "http://127.0.0.1:9161"),
    ("https://[::1]:9161/snmpd/", "https://[::1]:9161/snmpd/"),
    ("http://127.0.0.1:9161/?a=1#frag", "http://127.0.0.1:9161/"),
    ("ftp://127.0.0.1", None),
    ("http://user:pw@127.0.0.1:9161", None),
    ("127.0.0.1:9161", None),
    ("", None),
])
def test_leader_base_url_cases(address: str, expected: str | None) -> None:
    url = leader_base_url(address)

    assert (str(url) if url is not None else None) == expected


# lookup_leader over a node's state


@dataclass
class FakeNode:
    node_id: str = FOLLOWER
    leader: str | None = LEADER
    snapshot: ClusterStatus | None = None
    is_leader: bool = False
    joined: bool = True
    fenced: bool = False


def member(node_id: str, address: str) -> MemberStatus:
    return MemberStatus(node_id=node_id, address=address, capacity=1.0, version="0.1.0",
                        config_hash="94dcec356e48b2da", config_matches=True, joined_at=0.0,
                        heartbeat_age=0.1, lease_expires_in=10.0, eligible=True, assigned=1,
                        leases_held=1, is_leader=node_id == LEADER, polls_total=0,
                        poll_errors_total=0, targets_up=0)


def status(*members: MemberStatus) -> ClusterStatus:
    return ClusterStatus(prefix="snmpd-ng", redis="redis://127.0.0.1:6379/0", leader=LEADER,
                         members=members, targets=1, unleased=(), last_change=None,
                         last_expiry=None, node_id=FOLLOWER)


class TestLookupLeader:
    def test_leader_is_local(self) -> None:
        assert lookup_leader(FakeNode(leader=FOLLOWER, is_leader=True)) == LocalLeader()

    def test_remote_leader_from_member_list(self) -> None:
        node = FakeNode(snapshot=status(member(LEADER, "http://127.0.0.1:9161"),
                                        member(FOLLOWER, "http://127.0.0.1:9162")))

        assert lookup_leader(node) == RemoteLeader(LEADER, "http://127.0.0.1:9161")

    @pytest.mark.parametrize(("node", "reason"), [
        (FakeNode(fenced=True, joined=False), Reason.REDIS_UNREACHABLE),
        (FakeNode(joined=False), Reason.NOT_JOINED),
        (FakeNode(leader=None), Reason.NO_LEADER),
        (FakeNode(leader=FOLLOWER), Reason.LEADER_CHANGED),
        (FakeNode(snapshot=None), Reason.NO_LEADER),
        (FakeNode(snapshot=status(member(FOLLOWER, "http://127.0.0.1:9162"))),
         Reason.NO_LEADER),
        (FakeNode(snapshot=status(member(LEADER, ""))), Reason.NO_ADVERTISE_URL),
    ])
    def test_no_leader_reasons(self, node: FakeNode, reason: Reason) -> None:
        found = lookup_leader(node)

        assert isinstance(found, NoLeader)
        assert found.reason is reason

    def test_no_advertise_url_names_leader(self) -> None:
        found = lookup_leader(FakeNode(snapshot=status(member(LEADER, ""))))

        assert isinstance(found, NoLeader)
        assert LEADER in found.detail
        assert "cluster.advertise_url" in found.detail
