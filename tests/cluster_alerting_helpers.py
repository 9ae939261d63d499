"""A webhook recorder, the alerting config and API calls for the cluster alerting tests.

tests/test_cluster_alerting_daemons.py runs three `snmpd-ng run` processes as one cluster
(tests/cluster_helpers.py) with an `alerting:` section. Every node's webhook channels post to one
`HookRecorder`, an aiohttp server on 127.0.0.1 in a thread of the test process, which records
each request with its path, body and arrival time.

The rules fire on a value the test controls: each net-snmp agent serves DYNAMIC_VALUE_OID from a
file (its pass_persist script reads it on every request), and rule `CaseN` fires while that
value is N. Each test sets its own N, so its alerts start fresh. The route's name at the start
of the group key separates its notifications from the other tests'.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents import DYNAMIC_VALUE_OID, NetSnmpAgent
from aiohttp import web
from cluster_helpers import LOOPBACK, Metrics, NodeProcess, Timing

WEBHOOK_SECRET_VARIABLE = "SNMPD_NG_CLUSTER_TEST_WEBHOOK_SECRET"
WEBHOOK_SECRET = "cluster-alerting-webhook-secret-4b1e"
API_TOKEN = "cluster-alerting-api-token-93c0"
TIER_AFTER = (0.0, 6.0, 12.0)
"""Seconds from the start of a group's escalation to each of its three tiers."""
RECEIVERS = ("first", "second", "third")
"""The receiver of each tier; each has one webhook channel posting to /hooks/<receiver>."""
RULE_FOR = 1.0
"""Seconds a rule's condition must hold before its alert fires (`for:`)."""
CASES = 5
"""Rules Case1 ... Case5, one per test."""
HTTP_TIMEOUT = 5.0


# The webhook recorder


@dataclass(frozen=True)
class Delivery:
    """One webhook request: the path it was posted to, its JSON body, its arrival (Unix s)."""

    path: str
    body: dict[str, Any]
    arrived: float
    signed: bool
    """Whether the X-Snmpd-Ng-Signature header matched the body and WEBHOOK_SECRET."""

    @property
    def group_key(self) -> str:
        return str(self.body.get("group_key", ""))

    @property
    def route(self) -> str:
        """The route's name, the part of the group key before the first colon."""
        return self.group_key.split(":", 1)[0]

    @property
    def event(self) -> str:
        return str(self.body.get("event", ""))

    @property
    def tier(self) -> int:
        return int(self.body.get("tier", 0))

    @property
    def receiver(self) -> str:
        return str(self.body.get("receiver", ""))

    def targets(self) -> set[str]:
        """The `target` labels of the alerts in the notification."""
        return {str(alert.get("labels", {}).get("target", ""))
                for alert in self.body.get("alerts", [])}

    def __str__(self) -> str:
        return (f"{self.event} tier {self.tier} to {self.path} for {self.group_key} at "
                f"{self.arrived:.3f}")


class HookRecorder:
    """An aiohttp server on 127.0.0.1 that records every POST under /hooks/ and responds 204.

    It runs in its own thread and event loop, so that the synchronous tests can read it."""

    def __init__(self) -> None:
        self.port = 0
        self._deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="hook recorder",
                                        daemon=True)
        self._runner: web.AppRunner | None = None

    def url(self, receiver: str) -> str:
        return f"http://{LOOPBACK}:{self.port}/hooks/{receiver}"

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(HTTP_TIMEOUT)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(
                HTTP_TIMEOUT)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(HTTP_TIMEOUT)
        self._loop.close()

    def deliveries(self, route: str | None = None) -> list[Delivery]:
        """The requests so far, oldest first; with `route`, only that route's groups."""
        with self._lock:
            recorded = list(self._deliveries)
        return [item for item in recorded if route is None or item.route == route]

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks/{receiver}", self._record)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, LOOPBACK, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def _record(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        arrived = time.time()
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"unparsed": raw.decode(errors="replace")}
        delivery = Delivery(request.path, body, arrived, _signed(request, raw))
        with self._lock:
            self._deliveries.append(delivery)
        return web.Response(status=204)


def _signed(request: web.Request, body: bytes) -> bool:
    """Check the signature as docs/alerting-channels.md describes it for receivers."""
    timestamp = request.headers.get("X-Snmpd-Ng-Timestamp", "")
    signature = request.headers.get("X-Snmpd-Ng-Signature", "")
    expected = hmac.new(WEBHOOK_SECRET.encode(), timestamp.encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature, "sha256=" + expected)


# What the recorder got


def tier_counts(deliveries: Iterable[Delivery], event: str = "firing"
                ) -> Counter[tuple[str, int, str]]:
    """Count the notifications of `event` by (group key, tier, path)."""
    return Counter((item.group_key, item.tier, item.path) for item in deliveries
                   if item.event == event)


def first_arrivals(deliveries: Iterable[Delivery], tier: int) -> dict[str, float]:
    """Group key -> arrival of its first `firing` notification of `tier`."""
    arrivals: dict[str, float] = {}
    for item in deliveries:
        if item.event == "firing" and item.tier == tier:
            arrivals.setdefault(item.group_key, item.arrived)
    return arrivals


def group_key(case: int, target: str) -> str:
    """The group key of one target's alert of rule Case<case>: route and `group_by` labels."""
    return f'case{case}:{{target="{target}"}}'


# Config


def alerting_overrides(recorder: HookRecorder, token_file: Path, timing: Timing,
                       ) -> dict[str, Any]:
    """Return the config sections the cluster tests add to each node's config: the jobs, with
    the agents' dynamic value, and the `alerting:` section."""
    interval = f"{timing.interval}s"
    value = {"oid": ".".join(str(arc) for arc in DYNAMIC_VALUE_OID), "name": "fixture_value",
             "type": "gauge"}
    return {
        "jobs": {"system": {"interval": interval, "scalars": ["sysUpTime", "sysName"]},
                 "value": {"interval": interval, "scalars": [value]}},
        "defaults": {"credentials": "pub", "timeout": "500ms", "retries": 0,
                     "jobs": ["system", "value"]},
        "alerting": _alerting_section(recorder, token_file),
    }


def _alerting_section(recorder: HookRecorder, token_file: Path) -> dict[str, Any]:
    secret = {"env": WEBHOOK_SECRET_VARIABLE}
    tiers = [{"receivers": [receiver], "after": f"{after}s"}
             for receiver, after in zip(RECEIVERS, TIER_AFTER, strict=True)]
    return {
        "api": {"token_file": str(token_file)},
        "rules": [{"name": f"Case{case}", "expr": f"fixture_value == {case}",
                   "for": f"{RULE_FOR}s", "severity": "critical"}
                  for case in range(1, CASES + 1)],
        # The default rate limit (1 a second, a burst of 10) would queue the notifications
        # of 12 groups that change at once for seconds, past the tiers' due times.
        "channels": {receiver: {"type": "webhook", "url": recorder.url(receiver),
                                "secret": secret, "rate_limit": {"rate": 100, "burst": 100}}
                     for receiver in RECEIVERS},
        "receivers": {receiver: {"channels": [receiver]} for receiver in RECEIVERS},
        "policies": {"escalation": {"tiers": tiers}},
        "grouping": {"group_by": ["target"], "group_wait": "0s", "group_interval": "1s"},
        "routes": [{"name": f"case{case}", "matchers": [f'rule="Case{case}"'],
                    "policy": "escalation"} for case in range(1, CASES + 1)],
        "outbox": {"retry_base": "500ms", "retry_cap": "1s"},
    }


def write_token_file(directory: Path) -> Path:
    """Write the alerts API's bearer token to a file only its owner may read."""
    path = directory / "api-token"
    path.write_text(API_TOKEN + "\n")
    path.chmod(0o600)
    return path


def set_case(agents: Sequence[NetSnmpAgent], case: int) -> None:
    """Serve `case` as every agent's dynamic value, so that rule Case<case> fires on every
    target and the other cases' alerts resolve."""
    for agent in agents:
        agent.set_dynamic_value(str(case))


# The alerts API and /metrics


@dataclass(frozen=True)
class ApiReply:
    status: int
    document: dict[str, Any]


def api_request(node: NodeProcess, method: str, path: str,
                body: dict[str, Any] | None = None) -> ApiReply:
    """Send one request to the node's alerts API (with the bearer token) and decode the JSON."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{node.url}/api/v1/{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {API_TOKEN}",
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            return ApiReply(response.status, json.loads(response.read() or b"{}"))
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            document = json.loads(text)
        except ValueError:
            document = {"error": text.decode(errors="replace")}
        return ApiReply(error.code, document)


def alert_fingerprints(node: NodeProcess, rule: str, state: str = "firing") -> set[str]:
    """The fingerprints GET /api/v1/alerts lists on `node` for `rule` in `state`."""
    reply = api_request(node, "GET", f"alerts?rule={rule}&state={state}")
    if reply.status != 200:
        raise AssertionError(f"{node.node_id}: GET /api/v1/alerts returned {reply.status}: "
                             f"{reply.document}")
    return {str(alert["fingerprint"]) for alert in reply.document["alerts"]}


def family_sum(metrics: Metrics, name: str, **labels: str) -> float:
    """The sum of the samples of family `name` whose labels include `labels`."""
    return sum(value for sample, sample_labels, value in metrics.samples
               if sample in (name, f"{name}_total")
               and all(sample_labels.get(key) == wanted for key, wanted in labels.items()))
