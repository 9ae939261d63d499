"""ServiceNow Table API: one `incident` record per alert group, with work notes and resolution.

Each incident carries its group's fingerprint (`summary.group_fingerprint`) in `correlation_id`.
Before creating one, the channel looks for an active incident with that correlation_id, so an
attempt retried after a crash between "created" and "recorded" updates the first incident.
Requests, from ServiceNow's Table API reference:

- look up: `GET /api/now/table/incident` with `sysparm_query=correlation_id=X^active=true`,
  `sysparm_fields` and `sysparm_limit=1`; the reply's `result` is a list of records;
- create: `POST /api/now/table/incident`, reply 201 with `result.sys_id`;
- update: `PATCH /api/now/table/incident/{sys_id}` with `work_notes`, and to resolve also
  `state` (6 is Resolved in the base system), `close_code` and `close_notes`, reply 200.

Authentication is basic auth with a user and password, or an OAuth bearer token.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from snmpd_ng.alerting.channels import summary
from snmpd_ng.alerting.channels.base import DeliveryPolicy, PermanentError
from snmpd_ng.alerting.channels.http import (
    JSON_TYPE,
    HttpChannel,
    HttpReply,
    basic_auth,
    json_body,
)
from snmpd_ng.alerting.notification import Delivery, DeliveryKind, Notification
from snmpd_ng.clock import Clock
from snmpd_ng.secret import Secret

TABLE_PATH = "/api/now/table/incident"
SHORT_DESCRIPTION_MAX = 160
CORRELATION_DISPLAY = "snmpd-ng"
_EMPTY: Mapping[str, str] = MappingProxyType({})

IMPACT_URGENCY = {"critical": "1", "warning": "2", "info": "3"}
"""Our severity to the incident's impact and urgency: 1 high, 2 medium, 3 low."""


@dataclass(frozen=True)
class ServiceNowSettings:
    base_url: str
    """The instance, such as https://example.service-now.com."""
    username: str | None = None
    password: Secret | None = None
    token: Secret | None = None
    """An OAuth access token, sent as a bearer token, in place of a user and password."""
    resolve_state: str = "6"
    close_code: str = "Solution provided"
    close_notes: str = "The alert condition cleared; resolved by snmpd-ng."
    fields: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """Extra fields set on a new incident, such as assignment_group or category."""


def incident_fields(notification: Notification, settings: ServiceNowSettings) -> dict[str, str]:
    """Return the fields of a new incident for the notification's group."""
    level = IMPACT_URGENCY.get(summary.top_severity(notification.alerts), "3")
    record = {
        "short_description": summary.title(notification)[:SHORT_DESCRIPTION_MAX],
        "description": "\n".join(summary.text_lines(notification)),
        "correlation_id": summary.group_fingerprint(notification.group_key),
        "correlation_display": CORRELATION_DISPLAY,
        "impact": level,
        "urgency": level,
    }
    record.update(settings.fields)
    return record


def work_note(notification: Notification) -> str:
    return "\n".join(summary.text_lines(notification))


class ServiceNowChannel(HttpChannel):
    type = "servicenow"

    def __init__(self, name: str, settings: ServiceNowSettings, policy: DeliveryPolicy,
                 clock: Clock, rng: random.Random | None = None) -> None:
        secrets = [secret for secret in (settings.password, settings.token) if secret]
        super().__init__(name, policy, clock, rng, secrets=secrets)
        self._settings = settings
        self._headers = {"Accept": JSON_TYPE}
        if settings.token is not None:
            self._headers["Authorization"] = "Bearer " + settings.token.reveal().decode("utf-8")
        elif settings.username is not None and settings.password is not None:
            self._headers["Authorization"] = basic_auth(settings.username, settings.password)

    async def _attempt(self, notification: Notification) -> Delivery:
        sys_id = await self._find_active(notification)
        if sys_id is None and notification.event in ("firing", "repeat"):
            sys_id = await self._create(notification)
            return Delivery(DeliveryKind.DELIVERED, f"created incident {sys_id}",
                            reference=sys_id)
        if sys_id is None:
            return Delivery(DeliveryKind.DELIVERED, "no active incident for this group; "
                            f"nothing to do on {notification.event}")

        update = {"work_notes": work_note(notification)}
        if notification.event == "resolved":
            update |= {"state": self._settings.resolve_state,
                       "close_code": self._settings.close_code,
                       "close_notes": self._settings.close_notes}
        await self._call("PATCH", f"{TABLE_PATH}/{quote(sys_id, safe='')}", update, 200)
        verb = "resolved" if notification.event == "resolved" else "updated"
        return Delivery(DeliveryKind.DELIVERED, f"{verb} incident {sys_id}", reference=sys_id)

    async def _find_active(self, notification: Notification) -> str | None:
        correlation_id = summary.group_fingerprint(notification.group_key)
        params = {"sysparm_query": f"correlation_id={correlation_id}^active=true",
                  "sysparm_fields": "sys_id,number", "sysparm_limit": "1"}
        reply = await self._call("GET", TABLE_PATH, None, 200, params=params)
        records = _result(reply, list)
        if not records:
            return None
        record = records[0]
        sys_id = record.get("sys_id") if isinstance(record, dict) else None
        if not isinstance(sys_id, str):
            raise PermanentError(f"HTTP {reply.status}: record without a sys_id",
                                 status=reply.status)
        return sys_id

    async def _create(self, notification: Notification) -> str:
        record = incident_fields(notification, self._settings)
        reply = await self._call("POST", TABLE_PATH, record, 201)
        created = _result(reply, dict)
        sys_id = created.get("sys_id")
        if not isinstance(sys_id, str):
            raise PermanentError(f"HTTP {reply.status}: created record without a sys_id",
                                 status=reply.status)
        return sys_id

    async def _call(self, method: str, path: str, document: object | None, *expected: int,
                    params: Mapping[str, str] | None = None) -> HttpReply:
        url = self._settings.base_url.rstrip("/") + path
        headers = dict(self._headers)
        body = None
        if document is not None:
            headers["Content-Type"] = JSON_TYPE
            body = json_body(document)
        reply = await self._request(method, url, body=body, headers=headers, params=params)
        return self._check(reply, *expected)


def _result(reply: HttpReply, kind: type) -> Any:
    document = reply.json()
    result = document.get("result") if isinstance(document, dict) else None
    if not isinstance(result, kind):
        raise PermanentError(f"HTTP {reply.status}: reply has no 'result' of the expected type",
                             status=reply.status)
    return result
