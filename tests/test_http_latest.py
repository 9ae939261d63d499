"""GET /api/v1/targets/{target}/latest (snmpd_ng.http.latest) on aiohttp's test server, over a
RedisCache on a real Redis: one node writes the results, the API of another node serves them."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cache_values import sample_result
from redisfix import RedisServer

from snmpd_ng.cache.base import CacheKey
from snmpd_ng.cache.redis import RedisCache
from snmpd_ng.clock import LoopClock
from snmpd_ng.cluster.keys import Keys
from snmpd_ng.cluster.redis_conn import open_redis
from snmpd_ng.cluster.settings import RedisSettings
from snmpd_ng.http.latest import add_latest_routes, value_json
from snmpd_ng.protocol.values import NO_SUCH_OBJECT, NULL, Counter64, IpAddress, Opaque

TARGETS = frozenset({"r1", "r2"})
_prefixes = itertools.count()


@dataclasses.dataclass
class Api:
    """The writing node's cache and a client of the other node's API."""

    writer: RedisCache
    client: TestClient[web.Request, web.Application]

    async def latest(self, target: str) -> tuple[int, Any]:
        response = await self.client.get(f"/api/v1/targets/{target}/latest")
        return response.status, await response.json()


@asynccontextmanager
async def serving(server: RedisServer) -> AsyncIterator[Api]:
    """Serve the API of a reading node; the writing node owns no target either, so both
    read and write Redis directly."""
    keys = Keys(f"test-latest-{next(_prefixes)}")
    settings = RedisSettings(url=server.url, connect_timeout=0.5, command_timeout=0.5)
    redis_clients = [open_redis(settings), open_redis(settings)]
    writer, reader = (RedisCache(redis_client, keys, LoopClock(), is_owned=lambda target: False,
                                 timeout=0.5) for redis_client in redis_clients)
    app = web.Application()
    add_latest_routes(app, reader, lambda: TARGETS)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield Api(writer, client)
    finally:
        await client.close()
        for redis_client in redis_clients:
            await redis_client.aclose()


async def test_latest_unknown_target_is_404(redis_server: RedisServer) -> None:
    async with serving(redis_server) as api:
        status, body = await api.latest("r9")
    assert status == 404
    assert body["status"] == 404
    assert body["error"] == "target 'r9' not found: it is not in the configuration"


async def test_latest_known_target_without_results(redis_server: RedisServer) -> None:
    async with serving(redis_server) as api:
        status, body = await api.latest("r2")
    assert status == 200
    assert body == {"target": "r2", "jobs": []}


async def test_latest_job_summary(redis_server: RedisServer) -> None:
    result = dataclasses.replace(sample_result(), error_kind="timeout", error="timed out")
    async with serving(redis_server) as api:
        await api.writer.put(CacheKey("r1", "job", "if"), result, 60.0)
        status, body = await api.latest("r1")

    assert status == 200
    assert body["target"] == "r1"
    [job] = body["jobs"]
    assert job["job"] == "if"
    assert job["finished"] == result.finished_wall
    assert job["reachable"] is True
    assert job["error_kind"] == "timeout"
    assert job["error"] == "timed out"


async def test_latest_values_by_object_name(redis_server: RedisServer) -> None:
    async with serving(redis_server) as api:
        await api.writer.put(CacheKey("r1", "job", "if"), sample_result(), 60.0)
        _, body = await api.latest("r1")
    values = body["jobs"][0]["values"]

    assert sorted(values) == ["ifDescr", "ifHCInOctets", "ifInOctets", "sysDescr"]
    assert values["sysDescr"] == [{"oid": "1.3.6.1.2.1.1.1.0", "type": "OctetString",
                                   "value": "Linux ünïcode 6.1"}]
    assert values["ifDescr"][0] == {
        "oid": "1.3.6.1.2.1.2.2.1.2.1", "type": "OctetString", "value": "Ethernet 1",
        "labels": {"ifIndex": "1", "ifName": "eth0"}}
    assert values["ifDescr"][1]["value"] == "0xFF62696E61727900"


async def test_latest_table_types_and_exceptions(redis_server: RedisServer) -> None:
    async with serving(redis_server) as api:
        await api.writer.put(CacheKey("r1", "job", "if"), sample_result(), 60.0)
        _, body = await api.latest("r1")
    values = body["jobs"][0]["values"]

    counter64, missing = values["ifHCInOctets"]
    assert counter64["type"] == "Counter64"
    assert counter64["value"] == 2**64 - 1
    assert missing == {"oid": "1.3.6.1.2.1.31.1.1.1.6.2", "type": "noSuchInstance",
                       "value": None, "labels": {"ifIndex": "2", "ifName": "eth1"}}
    malformed = values["ifInOctets"][1]
    assert malformed["type"] == "MalformedValue"
    assert malformed["value"] == 2**32 - 1
    assert malformed["reason"] == "too long"


async def test_latest_lists_jobs_sorted_without_other_kinds(redis_server: RedisServer) -> None:
    async with serving(redis_server) as api:
        await api.writer.put(CacheKey("r1", "job", "system"), sample_result(job="system"), 60.0)
        await api.writer.put(CacheKey("r1", "job", "if"), sample_result(job="if"), 60.0)
        await api.writer.put(CacheKey("r1", "table", "if/ifTable"),
                             sample_result().tables[0], 60.0, slow=True)
        _, body = await api.latest("r1")
    assert [job["job"] for job in body["jobs"]] == ["if", "system"]


async def test_latest_skips_expired_entries(redis_server: RedisServer) -> None:
    async with serving(redis_server) as api:
        await api.writer.put(CacheKey("r1", "job", "if"), sample_result(), 60.0)
        await api.writer.invalidate_target("r1", slow_only=False)
        await api.writer.put(CacheKey("r1", "job", "system"), sample_result(job="system"), 60.0)
        status, body = await api.latest("r1")
    assert status == 200
    assert [job["job"] for job in body["jobs"]] == ["system"]


async def test_latest_redis_down_is_503(own_redis: RedisServer) -> None:
    async with serving(own_redis) as api:
        own_redis.kill()
        status, body = await api.latest("r1")
    assert status == 503
    assert body["status"] == 503
    assert "the result cache could not be read" in body["error"]


@pytest.mark.parametrize(("value", "expected"), [
    (IpAddress(b"\xc0\x00\x02\x01"), "192.0.2.1"),
    (Opaque(b"\x9f\x78\x04\x3f\xc0\x00\x00", 1.5, 0x78), 1.5),
    (Opaque(b"\x01\x02"), "0x0102"),
    (NULL, None),
    (NO_SUCH_OBJECT, None),
    (Counter64(7), 7),
])
def test_value_json_renders_each_type(value: object, expected: object) -> None:
    assert value_json(value) == expected


@pytest.mark.parametrize(("inner", "expected"), [
    (math.nan, "NaN"), (math.inf, "+Inf"), (-math.inf, "-Inf")])
def test_value_json_non_finite_as_text(inner: float, expected: str) -> None:
    assert value_json(Opaque(b"", inner, 0x79)) == expected
