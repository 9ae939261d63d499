"""GET /cluster: the cluster's state as this node last read it from Redis, as JSON.

The handler renders the node's latest snapshot and never talks to Redis itself, so a slow or
lost Redis cannot stall the HTTP server. A daemon without cluster mode responds 404 with a JSON
body that says so.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from snmpd_ng.cluster.status import ClusterStatus

CLUSTER_PATH = "/cluster"
CLUSTER_OFF_MESSAGE = ("cluster mode is off: the config file has no `cluster:` section, so this "
                       "daemon polls every target alone")
NO_SNAPSHOT_MESSAGE = ("no cluster status yet: this node has not read the cluster's state from "
                       "Redis since it started; retry in a few seconds and check the log for "
                       "Redis errors if this persists")


def add_cluster_routes(app: web.Application,
                       snapshot: Callable[[], ClusterStatus | None]) -> None:
    """Add GET /cluster, which renders `snapshot()`, or returns 503 while that is None."""

    async def cluster_status(request: web.Request) -> web.StreamResponse:
        status = snapshot()
        if status is None:
            return web.json_response({"error": NO_SNAPSHOT_MESSAGE, "status": 503}, status=503)
        return web.json_response(status.to_json())

    app.router.add_get(CLUSTER_PATH, cluster_status)


def add_cluster_off_route(app: web.Application) -> None:
    """Add GET /cluster for a daemon without cluster mode: 404 with a JSON reason."""

    async def cluster_off(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": CLUSTER_OFF_MESSAGE, "status": 404}, status=404)

    app.router.add_get(CLUSTER_PATH, cluster_off)
