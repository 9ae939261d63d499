"""GET /api/v1/targets/{target}/latest: the latest result of each of a target's jobs, as JSON.

The handler reads the result cache, so in cluster mode, where the cache is in Redis, any node
serves any target. A reply for a known target:

    {"target": "r1", "jobs": [{"job": "if", "finished": 1700000000.5, "reachable": true,
      "error_kind": null, "error": null,
      "values": {"ifHCInOctets": [{"oid": "1.3.6.1.2.1.31.1.1.1.6.1", "type": "Counter64",
                                   "value": 1234, "labels": {"ifIndex": "1"}}]}}]}

`finished` is Unix seconds. `values` maps each object name to its samples: one for a scalar,
one per row for a table column, with the row's index and lookup labels. Strings are shown as
/metrics labels show them (printable UTF-8 as text, else 0x-prefixed hex). Exceptions such as
noSuchInstance have a null value, and a malformed value carries its lenient reading and a
`reason`. Errors are `{"error": MESSAGE, "status": CODE}`: 404 for a target that is not in
the config, 503 when the cache cannot be read. A known target that has no cached result yet
gets 200 with no jobs. The reads count in the cache's hit and miss counters like the pollers'.

NOTE: integers are JSON numbers, so a Counter64 above 2^53 loses its low digits in clients that
read numbers as doubles, such as JavaScript's JSON.parse.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from typing import Any, Protocol

import structlog
from aiohttp import web

from snmpd_ng.cache.base import CacheKey, ResultCache
from snmpd_ng.cache.codec_values import type_name
from snmpd_ng.polling.labels import LabelPairs, octets_text
from snmpd_ng.polling.result import PollResult, TablePart
from snmpd_ng.protocol.oid import format_oid
from snmpd_ng.protocol.values import (
    IpAddress,
    MalformedValue,
    ObjectIdentifier,
    Opaque,
    VarBind,
)

log = structlog.get_logger("snmpd_ng.http")

LATEST_PATH = "/api/v1/targets/{target}/latest"
JOB_KIND = "job"
"""The cache kind of a job's latest PollResult (see snmpd_ng.polling.service)."""


class LatestSource(ResultCache, Protocol):
    """A result cache that can list a target's entries, as the Redis cache can."""

    async def target_keys(self, target: str) -> list[CacheKey] | None:
        """Return the keys of the target's entries, or None when the cache cannot be read."""
        ...


def add_latest_routes(app: web.Application, cache: LatestSource,
                      targets: Callable[[], Collection[str]]) -> None:
    """Add GET `LATEST_PATH` to `app`; `targets()` returns the names of the configured targets."""
    app.router.add_get(LATEST_PATH, _LatestHandler(cache, targets).handle)


class _LatestHandler:
    def __init__(self, cache: LatestSource, targets: Callable[[], Collection[str]]) -> None:
        self._cache = cache
        self._targets = targets

    async def handle(self, request: web.Request) -> web.Response:
        target = request.match_info["target"]
        if target not in self._targets():
            return _error(404, f"target {target!r} not found: it is not in the configuration")

        keys = await self._cache.target_keys(target)
        if keys is None:
            log.warning("latest values unavailable", target=target,
                        reason="the result cache could not be read")
            return _error(503, "the result cache could not be read (is Redis reachable?); "
                               "retry later")

        jobs = [await self._job(key) for key in sorted(keys) if key.kind == JOB_KIND]
        return web.json_response({"target": target,
                                  "jobs": [job for job in jobs if job is not None]})

    async def _job(self, key: CacheKey) -> dict[str, Any] | None:
        entry = await self._cache.get(key)
        if entry is None or not isinstance(entry.value, PollResult):
            return None
        return job_json(entry.value)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message, "status": status}, status=status)


def job_json(result: PollResult) -> dict[str, Any]:
    """Render one job's latest result as the API shows it."""
    return {
        "job": result.job, "finished": result.finished_wall, "reachable": result.reachable,
        "error_kind": result.error_kind, "error": result.error,
        "values": values_json(result),
    }


def values_json(result: PollResult) -> dict[str, list[dict[str, Any]]]:
    """Map each object name to its samples: the scalars first, then the tables' columns.

    Varbinds of no listed object, such as the sysUpTime.0 that reboot detection adds, are left
    out, as /metrics leaves them out.
    """
    values: dict[str, list[dict[str, Any]]] = {}
    if result.scalars is not None:
        names = {spec.oid: spec.name for spec in result.scalars.objects}
        for varbind in result.scalars.varbinds:
            name = names.get(varbind.oid)
            if name is not None:
                values.setdefault(name, []).append(sample_json(varbind))

    for table in result.tables:
        _add_table(values, table)
    return values


def _add_table(values: dict[str, list[dict[str, Any]]], table: TablePart) -> None:
    for spec, varbinds in table.columns:
        prefix_length = len(spec.oid)
        samples = values.setdefault(spec.name, [])
        for varbind in varbinds:
            # A row whose index did not decode has no labels; its OID still names the row.
            labels: LabelPairs = table.row_labels.get(varbind.oid[prefix_length:], ())
            samples.append(sample_json(varbind, dict(labels)))


def sample_json(varbind: VarBind, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """Render one varbind: its OID, SNMP type and value, and the row's labels for a table."""
    value = varbind.value
    sample: dict[str, Any] = {"oid": format_oid(varbind.oid), "type": type_name(value),
                              "value": value_json(value)}
    if isinstance(value, MalformedValue):
        sample["reason"] = value.reason
    if labels is not None:
        sample["labels"] = labels
    return sample


def value_json(value: object) -> int | float | str | None:
    """Render an SNMP value as a JSON number or string, or None when it carries no data."""
    if isinstance(value, MalformedValue):
        return None if value.value is None else value_json(value.value)
    if isinstance(value, Opaque):
        return _number_json(value.inner) if value.inner is not None else octets_text(value)
    if isinstance(value, IpAddress | ObjectIdentifier):
        return str(value)
    if isinstance(value, bytes):
        return octets_text(value)
    if isinstance(value, int):
        return int(value)
    return None


def _number_json(number: float | int) -> float | int | str:
    # JSON has no NaN or infinity, so those are written as text, as Prometheus writes them.
    if isinstance(number, float) and not math.isfinite(number):
        return {math.inf: "+Inf", -math.inf: "-Inf"}.get(number, "NaN")
    return number
