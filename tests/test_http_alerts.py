"""The alerts API (snmpd_ng.http.alerts) on aiohttp's test server over a real AlertService.

The service runs on a SQLite file in tmp_path with a fake clock and fake channels, driven by
hand (`step`), so escalation is observed through what the fake channels were sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, make_mocked_request
from alert_api_helpers import CORE1, CORE2_CPU, GROUP, TOKEN, WEBHOOK_SECRET, ApiServer, serving
from alerting_helpers import signal
from daemon_helpers import default_logging
from structlog.testing import capture_logs

from snmpd_ng.alerting.channels.summary import group_fingerprint
from snmpd_ng.alerting.lifecycle import AlertState
from snmpd_ng.config.model import BasicAuthConfig
from snmpd_ng.http.alerts import is_exempt_from_basic_auth
from snmpd_ng.http.app import HttpState, build_app
from snmpd_ng.http.health import Heartbeat
from snmpd_ng.http.metrics import DaemonStats, build_registry
from snmpd_ng.http.pagerduty_webhook import is_signed, parse_event
from snmpd_ng.secret import Secret

pytestmark = pytest.mark.usefixtures(default_logging.__name__)


@dataclass
class Served:
    """The API server and a client of it."""

    served: ApiServer
    client: TestClient[web.Request, web.Application]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.served, name)

    async def get(self, path: str, **params: Any) -> tuple[int, Any]:
        response = await self.client.get(path, params=params)
        return response.status, await response.json()

    async def write(self, method: str, path: str, body: Any = None, token: str | None = TOKEN,
                    **params: str) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        response = await self.client.request(method, path, json=body, headers=headers,
                                             params=params)
        return response.status, await response.json()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with serving(tmp_path) as server:
        client = TestClient(server.server)
        await client.start_server()
        yield Served(server, client)
        await client.close()


async def fire(served: Served) -> None:
    await served.served.fire()


async def fire_two(served: Served) -> None:
    await served.served.fire_two()


def signed(body: bytes, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-PagerDuty-Signature": f"v1={digest}", "Content-Type": "application/json"}


def incident_event(event_type: str = "incident.acknowledged", key: str | None = GROUP,
                   occurred_at: str = "2024-05-06T12:05:00Z") -> bytes:
    data: dict[str, Any] = {"id": "Q1ABC", "type": "incident", "number": 42,
                            "status": event_type.removeprefix("incident."),
                            "html_url": "https://example.pagerduty.com/incidents/Q1ABC"}
    if key is not None:
        data["incident_key"] = key
    event = {"event": {"id": "01EVT", "event_type": event_type, "resource_type": "incident",
                       "occurred_at": occurred_at,
                       "agent": {"summary": "Dana Oncall", "type": "user_reference"},
                       "data": data}}
    return json.dumps(event).encode()


class TestListAlerts:
    async def test_lists_firing_alerts(self, served: Served) -> None:
        await fire_two(served)
        status, body = await served.get("/api/v1/alerts")

        assert status == 200
        assert body["count"] == 2
        assert {alert["fingerprint"] for alert in body["alerts"]} == {CORE1, CORE2_CPU}

    async def test_filter_by_matcher(self, served: Served) -> None:
        await fire_two(served)
        status, body = await served.get("/api/v1/alerts", filter='target=~"core1|core9"')

        assert status == 200
        assert [alert["fingerprint"] for alert in body["alerts"]] == [CORE1]

    async def test_filter_by_rule_severity_target(self, served: Served) -> None:
        await fire_two(served)
        _, by_rule = await served.get("/api/v1/alerts", rule="HighCpu")
        _, by_severity = await served.get("/api/v1/alerts", severity="critical")
        _, by_target = await served.get("/api/v1/alerts", target="core2")

        assert [alert["rule"] for alert in by_rule["alerts"]] == ["HighCpu"]
        assert [alert["rule"] for alert in by_severity["alerts"]] == ["LinkDown"]
        assert [alert["rule"] for alert in by_target["alerts"]] == ["HighCpu"]

    async def test_filter_by_state(self, served: Served) -> None:
        await fire_two(served)
        served.service.submit(signal(state="resolved", at=served.clock.wall()))
        await served.step()
        _, unresolved = await served.get("/api/v1/alerts")
        _, resolved = await served.get("/api/v1/alerts", state="resolved")
        _, every = await served.get("/api/v1/alerts", state="all")

        assert [alert["rule"] for alert in unresolved["alerts"]] == ["HighCpu"]
        assert [alert["fingerprint"] for alert in resolved["alerts"]] == [CORE1]
        assert every["count"] == 2

    async def test_bad_matcher_names_position(self, served: Served) -> None:
        status, body = await served.get("/api/v1/alerts", filter='target="core1", =x')

        assert status == 400
        assert "filter" in body["error"]
        assert "at character 17" in body["error"]

    async def test_bad_state_lists_allowed(self, served: Served) -> None:
        status, body = await served.get("/api/v1/alerts", state="burning")

        assert status == 400
        assert "pending, firing, acknowledged, resolved, all" in body["error"]


class TestOneAlert:
    async def test_get_by_prefix(self, served: Served) -> None:
        await fire(served)
        status, body = await served.get(f"/api/v1/alerts/{CORE1[:12]}")

        assert status == 200
        assert body["alert"]["fingerprint"] == CORE1
        assert body["alert"]["state"] == "firing"

    async def test_unknown_fingerprint_is_404(self, served: Served) -> None:
        status, body = await served.get(f"/api/v1/alerts/{'0' * 64}")

        assert status == 404
        assert "no alert with fingerprint" in body["error"]

    async def test_malformed_fingerprint_is_400(self, served: Served) -> None:
        status, body = await served.get("/api/v1/alerts/core1")

        assert status == 400
        assert "hex digits" in body["error"]

    async def test_unknown_route_is_json_404(self, served: Served) -> None:
        status, body = await served.get("/api/v1/alarms")

        assert status == 404
        assert "/api/v1/alarms" in body["error"]

    async def test_wrong_method_is_json_405(self, served: Served) -> None:
        status, body = await served.write("PUT", "/api/v1/alerts", {})

        assert status == 405
        assert "allowed: GET" in body["error"]


class TestAcknowledge:
    async def test_ack_stops_escalation(self, served: Served) -> None:
        await fire(served)
        status, body = await served.write("POST", f"/api/v1/alerts/{CORE1[:12]}/ack",
                                          {"by": "alice", "comment": "on it"})
        await served.step(20 * 60)

        assert status == 200
        assert body["acknowledged"] == [CORE1]
        assert body["alert"]["acknowledged_by"] == "alice"
        assert body["alert"]["ack_source"] == "api"
        assert served.fakes["chat"].events() == [("firing", "noc", 1), ("acknowledged", "noc", 1)]
        assert served.fakes["pager"].calls == []

    async def test_partial_ack_reports_group_left(self, served: Served) -> None:
        served.served.service.submit(signal(at=served.served.clock.wall(), target="core1",
                                            ifName="Gi0/2"))
        await fire(served)
        status, body = await served.write("POST", f"/api/v1/alerts/{CORE1}/ack", {"by": "alice"})

        assert status == 200
        assert body["groups"] == [{"group_key": GROUP, "unacknowledged": 1,
                                   "escalation": "running"}]

    async def test_last_ack_reports_escalation_stopped(self, served: Served) -> None:
        await fire(served)
        status, body = await served.write("POST", f"/api/v1/alerts/{CORE1}/ack", {"by": "alice"})

        assert status == 200
        assert body["groups"] == [{"group_key": GROUP, "unacknowledged": 0,
                                   "escalation": "acknowledged"}]

    async def test_group_ack_acknowledges_every_alert(self, served: Served) -> None:
        served.served.service.submit(signal(at=served.served.clock.wall(), target="core1",
                                            ifName="Gi0/2"))
        await fire(served)
        status, body = await served.write("POST", "/api/v1/groups/ack",
                                          {"group_key": GROUP, "by": "alice"})

        assert status == 200
        assert len(body["acknowledged"]) == 2
        assert body["groups"] == [{"group_key": GROUP, "unacknowledged": 0,
                                   "escalation": "acknowledged"}]

    async def test_group_ack_of_fingerprint_is_404(self, served: Served) -> None:
        await fire(served)
        status, body = await served.write("POST", "/api/v1/groups/ack",
                                          {"group_key": CORE1, "by": "alice"})

        assert status == 404
        assert "no group with key" in body["error"]

    async def test_without_ack_tier_two_is_paged(self, served: Served) -> None:
        await fire(served)
        await served.step(20 * 60)

        assert served.fakes["pager"].events() == [("firing", "oncall", 2)]

    async def test_ack_of_resolved_is_409(self, served: Served) -> None:
        await fire(served)
        served.service.submit(signal(state="resolved", at=served.clock.wall()))
        await served.step()
        status, body = await served.write("POST", f"/api/v1/alerts/{CORE1}/ack", {"by": "a"})

        assert status == 409
        assert "pending or resolved" in body["error"]

    async def test_ack_needs_by(self, served: Served) -> None:
        await fire(served)
        status, body = await served.write("POST", f"/api/v1/alerts/{CORE1}/ack", {})

        assert status == 400
        assert body["error"].startswith("missing by")

    async def test_ack_of_unknown_is_404(self, served: Served) -> None:
        status, _ = await served.write("POST", f"/api/v1/alerts/{'a' * 64}/ack", {"by": "a"})

        assert status == 404

    async def test_invalid_json_is_400(self, served: Served) -> None:
        response = await served.client.post(f"/api/v1/alerts/{CORE1}/ack", data=b"{by: a",
                                            headers={"Authorization": f"Bearer {TOKEN}"})
        body = await response.json()

        assert response.status == 400
        assert "invalid JSON body" in body["error"]


class TestToken:
    async def test_missing_token_is_401(self, served: Served) -> None:
        await fire(served)
        status, body = await served.write("POST", f"/api/v1/alerts/{CORE1}/ack", {"by": "a"},
                                          token=None)

        assert status == 401
        assert "missing bearer token" in body["error"]
        assert served.service.alerts()[0].state is AlertState.FIRING

    async def test_wrong_token_is_401(self, served: Served) -> None:
        await fire(served)
        with capture_logs() as logs:
            status, body = await served.write("POST", f"/api/v1/alerts/{CORE1}/ack",
                                              {"by": "a"}, token="guess")

        assert status == 401
        assert "wrong bearer token" in body["error"]
        assert served.api.stats.token_rejections == 1
        assert served.service.alerts()[0].state is AlertState.FIRING
        assert TOKEN not in repr(logs)

    async def test_basic_scheme_is_not_a_token(self, served: Served) -> None:
        response = await served.client.post(f"/api/v1/alerts/{CORE1}/ack", json={"by": "a"},
                                             headers={"Authorization": f"Basic {TOKEN}"})

        assert response.status == 401
        assert "Bearer" in response.headers["WWW-Authenticate"]

    async def test_missing_file_disables_writes(self, served: Served) -> None:
        served.token_file.unlink()
        status, body = await served.write("POST", "/api/v1/silences", {})

        assert status == 503
        assert "writes are disabled" in body["error"]
        assert "not found" in body["error"]
        assert TOKEN not in json.dumps(body)

    async def test_empty_file_disables_writes(self, served: Served) -> None:
        served.token_file.write_text("\n", encoding="utf-8")
        status, body = await served.write("POST", "/api/v1/silences", {})

        assert status == 503
        assert "is empty" in body["error"]

    async def test_changed_file_is_read_again(self, served: Served) -> None:
        await fire(served)
        served.token_file.write_text("rotated-token-aa11\n", encoding="utf-8")
        old, _ = await served.write("POST", f"/api/v1/alerts/{CORE1}/ack", {"by": "a"})
        new, _ = await served.write("POST", f"/api/v1/alerts/{CORE1}/ack", {"by": "a"},
                                    token="rotated-token-aa11")

        assert old == 401
        assert new == 200

    async def test_readable_file_is_warned(self, served: Served) -> None:
        served.token_file.chmod(0o644)
        with capture_logs() as logs:
            await served.get("/api/v1/alerts")
            await served.write("POST", "/api/v1/silences", {})
            await served.write("POST", "/api/v1/silences", {})
        warnings = [entry["event"] for entry in logs if entry["log_level"] == "warning"]

        assert warnings == ["API token file is readable by other users; chmod 600 it"]
        assert TOKEN not in repr(logs)

    async def test_reads_need_no_token(self, served: Served) -> None:
        served.token_file.unlink()
        status, _ = await served.get("/api/v1/alerts")

        assert status == 200


class TestBasicAuthExemption:
    def exempt(self, served: Served, path: str, authorization: str | None) -> bool:
        headers = {"Authorization": authorization} if authorization is not None else {}
        request = make_mocked_request("POST", path, headers=headers, app=served.client.app)
        return is_exempt_from_basic_auth(request)

    def test_valid_bearer_is_exempt(self, served: Served) -> None:
        assert self.exempt(served, "/api/v1/silences", f"Bearer {TOKEN}")

    def test_wrong_bearer_is_not(self, served: Served) -> None:
        assert not self.exempt(served, "/api/v1/silences", "Bearer guess")

    def test_no_header_is_not(self, served: Served) -> None:
        assert not self.exempt(served, "/api/v1/alerts", None)

    def test_webhook_is_exempt(self, served: Served) -> None:
        assert self.exempt(served, "/api/v1/webhooks/pagerduty", None)

    def test_other_paths_are_not(self, served: Served) -> None:
        assert not self.exempt(served, "/metrics", f"Bearer {TOKEN}")


class TestSilences:
    async def test_create_mutes_then_expire_unmutes(self, served: Served) -> None:
        await fire(served)
        status, body = await served.write("POST", "/api/v1/silences", {
            "matchers": 'target="core1"', "created_by": "bob", "comment": "maintenance",
            "duration": "2h"})
        await served.step()
        muted = served.service.alerts()[0].silenced_by
        silence_id = body["silence"]["id"]
        expired_status, expired = await served.write("DELETE", f"/api/v1/silences/"
                                                     f"{silence_id[:8]}", by="bob")
        await served.step()

        assert status == 201
        assert body["silence"]["state"] == "active"
        assert body["silence"]["ends_at"] == served.clock.wall() + 7200
        assert muted == (silence_id,)
        assert expired_status == 200
        assert expired["silence"]["state"] == "expired"
        assert expired["silence"]["expired_by"] == "bob"
        assert served.service.alerts()[0].silenced_by == ()

    async def test_list_by_state(self, served: Served) -> None:
        future = served.clock.wall() + 3600
        await served.write("POST", "/api/v1/silences", {
            "matchers": ['target="core1"', 'ifName=~"Gi.*"'], "created_by": "bob",
            "comment": "later", "starts_at": future, "ends_at": future + 60})
        _, everything = await served.get("/api/v1/silences")
        _, active = await served.get("/api/v1/silences", state="active")

        assert [item["state"] for item in everything["silences"]] == ["pending"]
        assert everything["silences"][0]["matchers"] == '{target="core1", ifName=~"Gi.*"}'
        assert active["count"] == 0

    async def test_iso_times_accepted(self, served: Served) -> None:
        status, body = await served.write("POST", "/api/v1/silences", {
            "matchers": 'target="core1"', "created_by": "bob", "comment": "c",
            "starts_at": "2024-05-06T12:00:00Z", "ends_at": "2024-05-06T13:00:00+00:00"})

        assert status == 201
        assert body["silence"]["ends_at"] - body["silence"]["starts_at"] == 3600

    async def test_silence_of_everything_rejected(self, served: Served) -> None:
        status, body = await served.write("POST", "/api/v1/silences", {
            "matchers": 'target=~".*"', "created_by": "bob", "comment": "c"})

        assert status == 400
        assert "match every alert" in body["error"]

    async def test_bad_matcher_rejected(self, served: Served) -> None:
        status, body = await served.write("POST", "/api/v1/silences", {
            "matchers": 'target="core1', "created_by": "bob", "comment": "c"})

        assert status == 400
        assert "missing closing" in body["error"]

    async def test_naive_time_rejected(self, served: Served) -> None:
        status, body = await served.write("POST", "/api/v1/silences", {
            "matchers": 'target="core1"', "created_by": "bob", "comment": "c",
            "ends_at": "2024-05-06T13:00:00"})

        assert status == 400
        assert "ends_at" in body["error"]
        assert "offset" in body["error"]

    async def test_expire_twice_is_409(self, served: Served) -> None:
        _, body = await served.write("POST", "/api/v1/silences", {
            "matchers": 'target="core1"', "created_by": "bob", "comment": "c"})
        silence_id = body["silence"]["id"]
        await served.write("DELETE", f"/api/v1/silences/{silence_id}", by="bob")
        status, again = await served.write("DELETE", f"/api/v1/silences/{silence_id}", by="bob")

        assert status == 409
        assert "already ended" in again["error"]

    async def test_expire_unknown_is_404(self, served: Served) -> None:
        status, _ = await served.write("DELETE", f"/api/v1/silences/{'b' * 32}", by="bob")

        assert status == 404

    async def test_expire_needs_by(self, served: Served) -> None:
        status, body = await served.write("DELETE", f"/api/v1/silences/{'b' * 32}")

        assert status == 400
        assert body["error"].startswith("missing by")


class TestHistory:
    async def test_alert_history_in_order(self, served: Served) -> None:
        await fire(served)
        await served.write("POST", f"/api/v1/alerts/{CORE1}/ack", {"by": "alice"})
        status, body = await served.get(f"/api/v1/alerts/{CORE1[:10]}/history")
        kinds = [entry["kind"] for entry in body["entries"]]

        assert status == 200
        assert kinds[0] == "alert.firing"
        assert "alert.acknowledged" in kinds
        assert kinds.index("alert.firing") < kinds.index("alert.acknowledged")

    async def test_history_of_unknown_is_404(self, served: Served) -> None:
        status, _ = await served.get(f"/api/v1/alerts/{'c' * 64}/history")

        assert status == 404

    async def test_pages_cover_everything_once(self, served: Served) -> None:
        await fire_two(served)
        await served.step(20 * 60)
        _, whole = await served.get("/api/v1/history", limit=1000)
        seen: list[int] = []
        before: int | None = None
        while True:
            params = {"limit": 3} if before is None else {"limit": 3, "before": before}
            _, page = await served.get("/api/v1/history", **params)
            seen.extend(entry["id"] for entry in page["entries"])
            before = page["next_before"]
            if before is None:
                break

        assert len(whole["entries"]) > 3
        assert seen == [entry["id"] for entry in whole["entries"]]
        assert seen == sorted(seen, reverse=True)

    async def test_kind_family_filter(self, served: Served) -> None:
        await fire(served)
        _, page = await served.get("/api/v1/history", kind="notification.")

        assert page["entries"]
        assert {entry["kind"].split(".")[0] for entry in page["entries"]} == {"notification"}

    async def test_bad_limit_is_400(self, served: Served) -> None:
        status, body = await served.get("/api/v1/history", limit=0)

        assert status == 400
        assert "allowed: 1 to 1000" in body["error"]


class TestPagerDutyWebhook:
    async def post(self, served: Served, body: bytes,
                   headers: dict[str, str]) -> tuple[int, Any]:
        response = await served.client.post("/api/v1/webhooks/pagerduty", data=body,
                                            headers=headers)
        return response.status, await response.json()

    async def test_valid_ack_stops_own_tiers(self, served: Served) -> None:
        await fire(served)
        body = incident_event()
        status, reply = await self.post(served, body, signed(body))
        await served.step(20 * 60)
        alert = served.service.alerts()[0]

        assert status == 200
        assert reply["status"] == "acknowledged"
        assert reply["fingerprints"] == [CORE1]
        assert alert.acknowledged_by == "Dana Oncall"
        assert alert.ack_source == "pagerduty"
        assert "incident #42" in (alert.ack_comment or "")
        assert served.fakes["pager"].calls == []
        assert served.api.stats.webhook_acknowledgements == 1

    async def test_resolved_event_acknowledges(self, served: Served) -> None:
        await fire(served)
        body = incident_event("incident.resolved")
        status, reply = await self.post(served, body, signed(body))

        assert status == 200
        assert reply["fingerprints"] == [CORE1]

    async def test_hashed_dedup_key_maps_to_group(self, served: Served) -> None:
        await fire(served)
        body = incident_event(key=group_fingerprint(GROUP))
        _, reply = await self.post(served, body, signed(body))

        assert reply["group_keys"] == [GROUP]

    async def test_invalid_signature_is_403(self, served: Served) -> None:
        await fire(served)
        body = incident_event()
        with capture_logs() as logs:
            status, reply = await self.post(served, body, signed(body, "another-secret"))

        assert status == 403
        assert "X-PagerDuty-Signature" in reply["error"]
        assert served.service.alerts()[0].state is AlertState.FIRING
        assert served.api.stats.webhook_rejections == 1
        assert [entry["log_level"] for entry in logs
                if entry["event"] == "pagerduty webhook rejected"] == ["warning"]
        assert WEBHOOK_SECRET not in repr(logs)

    async def test_tampered_body_is_403(self, served: Served) -> None:
        await fire(served)
        body = incident_event()
        status, _ = await self.post(served, body.replace(b"Dana", b"Mallory"), signed(body))

        assert status == 403
        assert served.service.alerts()[0].state is AlertState.FIRING

    async def test_missing_signature_is_400(self, served: Served) -> None:
        status, reply = await self.post(served, incident_event(), {})

        assert status == 400
        assert "missing header X-PagerDuty-Signature" in reply["error"]

    async def test_rotation_second_signature_accepted(self, served: Served) -> None:
        await fire(served)
        body = incident_event()
        old = signed(body, "old-secret")["X-PagerDuty-Signature"]
        new = signed(body)["X-PagerDuty-Signature"]
        status, _ = await self.post(served, body, {"X-PagerDuty-Signature": f"{old},{new}"})

        assert status == 200

    async def test_event_before_firing_ignored(self, served: Served) -> None:
        await fire(served)
        body = incident_event(occurred_at="2024-05-06T11:00:00Z")
        status, reply = await self.post(served, body, signed(body))

        assert status == 200
        assert reply["reason"] == "the event is older than the alerts that fire now"
        assert served.service.alerts()[0].state is AlertState.FIRING

    async def test_alert_fired_after_event_stays(self, served: Served) -> None:
        await fire(served)
        await served.step(10 * 60)
        served.service.submit(signal(at=served.clock.wall(), target="core1", ifName="Gi0/2"))
        await served.step()
        body = incident_event(occurred_at="2024-05-06T12:05:00Z")
        _, reply = await self.post(served, body, signed(body))
        states = {alert.labels["ifName"]: alert.state for alert in served.service.alerts()}

        assert reply["fingerprints"] == [CORE1]
        assert states == {"Gi0/1": AlertState.ACKNOWLEDGED, "Gi0/2": AlertState.FIRING}

    async def test_other_event_ignored(self, served: Served) -> None:
        body = incident_event("incident.triggered")
        status, reply = await self.post(served, body, signed(body))

        assert status == 200
        assert reply["status"] == "ignored"

    async def test_unknown_key_ignored(self, served: Served) -> None:
        body = incident_event(key="someone-elses-incident")
        status, reply = await self.post(served, body, signed(body))

        assert status == 200
        assert reply["reason"] == "no alert group has this incident_key"

    async def test_malformed_body_is_400(self, served: Served) -> None:
        body = b'{"messages": []}'
        status, reply = await self.post(served, body, signed(body))

        assert status == 400
        assert "'event'" in reply["error"]
        assert served.api.stats.webhook_rejections == 1

    async def test_missing_secret_file_is_503(self, served: Served) -> None:
        assert served.api.pagerduty_secret_file.path is not None
        served.api.pagerduty_secret_file.path.unlink()
        body = incident_event()
        status, reply = await self.post(served, body, signed(body))

        assert status == 503
        assert "webhook is disabled" in reply["error"]
        assert WEBHOOK_SECRET not in json.dumps(reply)


class TestWebhookParsing:
    def test_signature_of_known_vector(self) -> None:
        body = b'{"event":{}}'
        digest = hmac.new(b"secret", body, hashlib.sha256).hexdigest()

        assert is_signed(body, f"v1={digest}", b"secret")
        assert not is_signed(body, f"v1={digest}", b"secreT")
        assert not is_signed(body, f"v0={digest},v1={'0' * 64}", b"secret")

    def test_agent_defaults_to_pagerduty(self) -> None:
        event = parse_event(b'{"event": {"event_type": "incident.acknowledged", '
                            b'"data": {"incident_key": "k", "id": "Q1"}}}')

        assert event.agent == "PagerDuty"
        assert event.incident == "Q1"
        assert event.incident_key == "k"


class TestBehindBasicAuth:
    """The daemon's app with basic auth: the bearer token and the signed webhook get through."""

    @staticmethod
    def app_with_basic_auth() -> web.Application:
        state = HttpState(registry=build_registry([]),
                          heartbeat=Heartbeat(max_age=3.0, now=time.monotonic),
                          is_ready=lambda: True, stats=DaemonStats(),
                          basic_auth=BasicAuthConfig(username="prometheus",
                                                     password=Secret("scrape-password")))
        return build_app(state)

    async def post(self, tmp_path: Path, headers: dict[str, str]) -> tuple[int, str]:
        silence = {"matchers": 'target="core1"', "created_by": "bob", "comment": "maintenance",
                   "duration": "1h"}
        async with serving(tmp_path, self.app_with_basic_auth) as server, ClientSession() as \
                session, session.post(f"{server.url}/api/v1/silences", headers=headers,
                                      json=silence) as response:
            return response.status, response.headers.get("WWW-Authenticate", "")

    async def test_bearer_write_passes_basic_auth(self, tmp_path: Path) -> None:
        status, _ = await self.post(tmp_path, {"Authorization": f"Bearer {TOKEN}"})
        assert status == 201

    async def test_no_credentials_get_basic_challenge(self, tmp_path: Path) -> None:
        status, challenge = await self.post(tmp_path, {})
        assert status == 401
        assert challenge.startswith("Basic")
