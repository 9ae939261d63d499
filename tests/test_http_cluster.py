"""Tests of GET /cluster (snmpd_ng.http.cluster) on an aiohttp test server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from snmpd_ng.cluster.status import ClusterStatus, FailoverEvent, MemberStatus
from snmpd_ng.http.cluster import (
    CLUSTER_OFF_MESSAGE,
    NO_SNAPSHOT_MESSAGE,
    add_cluster_off_route,
    add_cluster_routes,
)

MEMBER = MemberStatus(
    node_id="node-a", address="http://127.0.0.1:9161", capacity=2.0, version="1.2.3",
    config_hash="h1", config_matches=True, joined_at=1_714_996_800.0, heartbeat_age=0.5,
    lease_expires_in=9.5, eligible=True, assigned=3, leases_held=3, is_leader=True,
    polls_total=10, poll_errors_total=1, targets_up=3)
STATUS = ClusterStatus(
    prefix="snmpd-ng", redis="redis://127.0.0.1:6379/0", leader="node-a", members=(MEMBER,),
    targets=4, unleased=("core1",), last_change=FailoverEvent("join", "node-a", 1.0e9, 0),
    last_expiry=None, node_id="node-a")


@dataclass
class SnapshotSource:
    """Stands in for the cluster node, whose snapshot the test sets."""

    status: ClusterStatus | None = None

    def __call__(self) -> ClusterStatus | None:
        return self.status


@dataclass
class Served:
    client: TestClient[web.Request, web.Application]
    source: SnapshotSource


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    source = SnapshotSource()
    app = web.Application()
    add_cluster_routes(app, source)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield Served(client, source)


class TestClusterRoute:
    async def test_503_before_first_snapshot(self, served: Served) -> None:
        response = await served.client.get("/cluster")

        assert response.status == 503
        assert response.content_type == "application/json"
        assert await response.json() == {"error": NO_SNAPSHOT_MESSAGE, "status": 503}

    async def test_returns_snapshot_as_json(self, served: Served) -> None:
        served.source.status = STATUS

        response = await served.client.get("/cluster")

        assert response.status == 200
        assert response.content_type == "application/json"
        document = await response.json()
        assert document["leader"] == "node-a"
        assert document["members"] == [{
            "node_id": "node-a", "address": "http://127.0.0.1:9161", "capacity": 2.0,
            "version": "1.2.3", "config_hash": "h1", "config_matches": True,
            "joined_at": 1_714_996_800.0, "heartbeat_age": 0.5, "lease_expires_in": 9.5,
            "eligible": True, "assigned": 3, "leases_held": 3, "is_leader": True,
            "polls_total": 10, "poll_errors_total": 1, "targets_up": 3}]
        assert document["unleased"] == ["core1"]
        assert document["last_change"] == {"kind": "join", "node_id": "node-a", "at": 1.0e9,
                                           "targets": 0}
        assert document["last_expiry"] is None
        assert document["fenced"] is False

    async def test_reads_snapshot_per_request(self, served: Served) -> None:
        served.source.status = STATUS
        await served.client.get("/cluster")
        served.source.status = None

        response = await served.client.get("/cluster")

        assert response.status == 503

    async def test_without_cluster_mode_404(self) -> None:
        app = web.Application()
        add_cluster_off_route(app)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            response = await client.get("/cluster")
            body = await response.json()

        assert response.status == 404
        assert body == {"error": CLUSTER_OFF_MESSAGE, "status": 404}
