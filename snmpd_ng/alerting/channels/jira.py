"""Jira Cloud REST API v3: one issue per alert group, commented on, resolved by a transition.

Each issue carries the label `snmpd-ng-<hash>` of its group (`summary.group_fingerprint`).
Before creating one, the channel searches (JQL) for an open issue with that label, so an attempt
retried after a crash between "created" and "recorded" finds the first issue instead of making a
second. Requests, from Atlassian's REST API v3 reference:

- search: `POST /rest/api/3/search/jql` with `{"jql", "fields", "maxResults"}`, reply `issues`;
- create: `POST /rest/api/3/issue` with `fields` (project, issuetype, summary, description in
  Atlassian Document Format, labels), reply 201 with `key`;
- comment: `POST /rest/api/3/issue/{key}/comment` with an ADF `body`, reply 201;
- resolve: `GET /rest/api/3/issue/{key}/transitions`, find the configured transition by name,
  then `POST` `{"transition": {"id"}}` to the same path, reply 204.

Authentication is basic auth with the account's email address and an API token.
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
from snmpd_ng.alerting.notification import AlertView, Delivery, DeliveryKind, Notification
from snmpd_ng.clock import Clock
from snmpd_ng.secret import Secret

SUMMARY_MAX = 255
PRODUCT_LABEL = "snmpd-ng"
_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class JiraSettings:
    base_url: str
    """The site, such as https://example.atlassian.net."""
    email: str
    api_token: Secret
    project: str
    """The project key, such as OPS."""
    issue_type: str = "Task"
    resolve_transition: str = "Done"
    labels: tuple[str, ...] = ()
    priority_map: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """Our severity to a Jira priority name; empty leaves the project's default priority."""


def jql_string(text: str) -> str:
    """Quote `text` as a JQL string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def open_issue_jql(project: str, label: str) -> str:
    return (f"project = {jql_string(project)} AND labels = {jql_string(label)} "
            "AND statusCategory != Done ORDER BY created DESC")


def adf_text(text: str, *marks: str) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text or " "}
    if marks:
        node["marks"] = [{"type": mark} for mark in marks]
    return node


def adf_paragraph(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(content)}


def adf_document(notification: Notification) -> dict[str, Any]:
    """Describe the notification in Atlassian Document Format (version 1)."""
    content: list[dict[str, Any]] = [
        {"type": "heading", "attrs": {"level": 3},
         "content": [adf_text(summary.title(notification))]},
        adf_paragraph(adf_text(summary.event_sentence(notification))),
    ]
    if notification.alerts:
        items = [{"type": "listItem", "content": [_alert_paragraph(alert)]}
                 for alert in notification.alerts]
        content.append({"type": "bulletList", "content": items})
    content.append(adf_paragraph(adf_text("Group: "), adf_text(notification.group_key, "code")))
    return {"type": "doc", "version": 1, "content": content}


def _alert_paragraph(alert: AlertView) -> dict[str, Any]:
    details = (f"state {alert.state}, severity {alert.severity}, "
               f"value {summary.format_value(alert.value)}, "
               f"since {summary.format_time(alert.starts_at)}")
    parts = [adf_text(summary.alert_summary(alert), "strong"), {"type": "hardBreak"},
             adf_text(details)]
    if alert.labels:
        parts += [{"type": "hardBreak"}, adf_text(summary.format_labels(alert.labels), "code")]
    return adf_paragraph(*parts)


class JiraChannel(HttpChannel):
    type = "jira"

    def __init__(self, name: str, settings: JiraSettings, policy: DeliveryPolicy,
                 clock: Clock, rng: random.Random | None = None) -> None:
        super().__init__(name, policy, clock, rng, secrets=[settings.api_token])
        self._settings = settings
        self._authorization = basic_auth(settings.email, settings.api_token)

    async def _attempt(self, notification: Notification) -> Delivery:
        key = await self._find_open_issue(notification)
        if key is None and notification.event in ("firing", "repeat"):
            key = await self._create(notification)
            return Delivery(DeliveryKind.DELIVERED, f"created {key}", reference=key)
        if key is None:
            return Delivery(DeliveryKind.DELIVERED,
                            f"no open issue for this group; nothing to do on {notification.event}")

        await self._comment(key, notification)
        if notification.event != "resolved":
            return Delivery(DeliveryKind.DELIVERED, f"commented on {key}", reference=key)
        transition = await self._transition(key)
        return Delivery(DeliveryKind.DELIVERED, f"resolved {key} through {transition!r}",
                        reference=key)

    async def _find_open_issue(self, notification: Notification) -> str | None:
        label = summary.group_fingerprint(notification.group_key)
        query = {"jql": open_issue_jql(self._settings.project, label),
                 "fields": ["status"], "maxResults": 1}
        reply = await self._call("POST", "/rest/api/3/search/jql", query, 200)
        issues = _get(reply, "issues", list)
        if not issues:
            return None
        return str(_get_from(reply, issues[0], "key", str))

    async def _create(self, notification: Notification) -> str:
        settings = self._settings
        fields: dict[str, Any] = {
            "project": {"key": settings.project},
            "issuetype": {"name": settings.issue_type},
            "summary": summary.title(notification)[:SUMMARY_MAX],
            "description": adf_document(notification),
            "labels": [summary.group_fingerprint(notification.group_key), PRODUCT_LABEL,
                       *settings.labels],
        }
        priority = settings.priority_map.get(summary.top_severity(notification.alerts))
        if priority:
            fields["priority"] = {"name": priority}
        reply = await self._call("POST", "/rest/api/3/issue", {"fields": fields}, 201)
        return str(_get(reply, "key", str))

    async def _comment(self, key: str, notification: Notification) -> None:
        path = f"/rest/api/3/issue/{quote(key, safe='')}/comment"
        await self._call("POST", path, {"body": adf_document(notification)}, 201)

    async def _transition(self, key: str) -> str:
        path = f"/rest/api/3/issue/{quote(key, safe='')}/transitions"
        reply = await self._call("GET", path, None, 200)
        expected_name = self._settings.resolve_transition
        names = []
        for transition in _get(reply, "transitions", list):
            name = transition.get("name") if isinstance(transition, dict) else None
            names.append(str(name))
            if isinstance(name, str) and name.casefold() == expected_name.casefold():
                transition_id = _get_from(reply, transition, "id", str)
                await self._call("POST", path, {"transition": {"id": transition_id}}, 204)
                return name
        raise PermanentError(f"{key} has no transition named {expected_name!r} now; available: "
                             f"{', '.join(names) or 'none'}; set resolve_transition to one")

    async def _call(self, method: str, path: str, document: object | None,
                    *expected: int) -> HttpReply:
        url = self._settings.base_url.rstrip("/") + path
        headers = {"Accept": JSON_TYPE, "Authorization": self._authorization}
        body = None
        if document is not None:
            headers["Content-Type"] = JSON_TYPE
            body = json_body(document)
        reply = await self._request(method, url, body=body, headers=headers)
        return self._check(reply, *expected)


def _get(reply: HttpReply, key: str, kind: type) -> Any:
    return _get_from(reply, reply.json(), key, kind)


def _get_from(reply: HttpReply, document: object, key: str, kind: type) -> Any:
    """Return `document[key]` when it is a `kind`; a reply of another shape fails for good."""
    value = document.get(key) if isinstance(document, dict) else None
    if not isinstance(value, kind):
        raise PermanentError(f"HTTP {reply.status}: reply has no {key!r} of the expected type",
                             status=reply.status)
    return value
