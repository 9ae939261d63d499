"""Slack incoming webhooks: a Block Kit message with the alert group's header, fields and context.

Slack's incoming webhook takes `POST {"text": ..., "blocks": [...], "attachments": [...]}` and
replies 200 with the body "ok". Its errors are 400 (`invalid_payload`), 403, 404 (`no_service`,
`channel_not_found`), 410 (`channel_is_archived`) and 429 with Retry-After. Block Kit has no colour,
so the details go in one legacy attachment whose `color` shows the severity, while the header stays
a top-level block. Limits kept here, from Slack's Block Kit reference: a header's text is at most
150 characters, a section has at most 10 fields and 3000 characters of text, a context at most 10
elements, a message at most 50 blocks.

The webhook URL is the credential (anyone who has it can post), so it is a `Secret`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from snmpd_ng.alerting.channels import summary
from snmpd_ng.alerting.channels.base import DeliveryPolicy
from snmpd_ng.alerting.channels.http import JSON_TYPE, HttpChannel, json_body
from snmpd_ng.alerting.notification import AlertView, Delivery, DeliveryKind, Notification
from snmpd_ng.clock import Clock
from snmpd_ng.secret import Secret

HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
ALERT_SECTIONS_MAX = 10
"""Alerts shown one section each; more are counted in a last line."""

COLOURS = {
    "critical": "#d0021b",
    "warning": "#f5a623",
    "info": "#4a90e2",
    "resolved": "#2eb67d",
    "acknowledged": "#9b9b9b",
}


@dataclass(frozen=True)
class SlackSettings:
    webhook_url: Secret


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn reserves for links and mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def colour(notification: Notification) -> str:
    if notification.event == "resolved":
        return COLOURS["resolved"]
    if notification.event == "acknowledged":
        return COLOURS["acknowledged"]
    return COLOURS.get(summary.top_severity(notification.alerts), COLOURS["info"])


def build_message(notification: Notification) -> dict[str, Any]:
    """Build the webhook body: fallback text, a header block, and a coloured attachment."""
    title = summary.title(notification)
    header = {"type": "header",
              "text": {"type": "plain_text", "text": clip(title, HEADER_MAX), "emoji": True}}
    details = [_overview_section(notification), *_alert_sections(notification),
               _context(notification)]
    return {
        "text": f"{title}: {summary.event_sentence(notification)}",
        "blocks": [header],
        "attachments": [{"color": colour(notification), "blocks": details}],
    }


def _overview_section(notification: Notification) -> dict[str, Any]:
    fields = [
        ("Status", summary.status_word(notification).capitalize()),
        ("Severity", summary.top_severity(notification.alerts)),
        ("Alerts", f"{len(summary.active_alerts(notification))} firing, "
                   f"{len(notification.alerts)} in group"),
        ("Receiver", notification.receiver),
    ]
    for name, value in summary.shared_labels(notification.alerts).items():
        fields.append((name.capitalize(), value))
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": escape_mrkdwn(summary.event_sentence(notification))},
        "fields": [_field(name, value) for name, value in fields[:10]],
    }


def _field(name: str, value: str) -> dict[str, str]:
    text = f"*{escape_mrkdwn(name)}*\n{escape_mrkdwn(value)}"
    return {"type": "mrkdwn", "text": clip(text, FIELD_TEXT_MAX)}


def _alert_sections(notification: Notification) -> list[dict[str, Any]]:
    listed = notification.alerts[:ALERT_SECTIONS_MAX]
    sections = [_alert_section(alert) for alert in listed]
    hidden = len(notification.alerts) - len(listed)
    if hidden > 0:
        more = {"type": "mrkdwn", "text": f"and {hidden} more alerts in this group"}
        sections.append({"type": "section", "text": more})
    return sections


def _alert_section(alert: AlertView) -> dict[str, Any]:
    lines = [f"*{escape_mrkdwn(summary.alert_summary(alert))}*",
             f"{alert.state}, value {summary.format_value(alert.value)}, "
             f"since {summary.format_time(alert.starts_at)}"]
    if alert.labels:
        lines.append(f"`{escape_mrkdwn(summary.format_labels(alert.labels))}`")
    text = clip("\n".join(lines), SECTION_TEXT_MAX)
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(notification: Notification) -> dict[str, Any]:
    elements = [f"group {notification.group_key}", f"tier {notification.tier}",
                f"notification {notification.id}"]
    return {"type": "context",
            "elements": [{"type": "mrkdwn", "text": escape_mrkdwn(clip(text, FIELD_TEXT_MAX))}
                         for text in elements]}


def _url_secrets(url: Secret) -> list[Secret]:
    """Return the URL and its secret parts, the path and its last segment, for scrubbing.

    A reply may echo the path without the host; the last segment is the webhook's token.
    """
    path = urlsplit(url.reveal().decode("utf-8", errors="replace")).path
    token = path.rstrip("/").rsplit("/", 1)[-1]
    # Scrub the longest text first, so the URL is replaced whole and not around its path.
    return [url, *(Secret(part) for part in (path, token) if len(part) >= 8)]


class SlackChannel(HttpChannel):
    type = "slack"

    def __init__(self, name: str, settings: SlackSettings, policy: DeliveryPolicy,
                 clock: Clock, rng: random.Random | None = None) -> None:
        super().__init__(name, policy, clock, rng, secrets=_url_secrets(settings.webhook_url))
        self._settings = settings

    async def _attempt(self, notification: Notification) -> Delivery:
        url = self._settings.webhook_url.reveal().decode("utf-8")
        self._check(await self._request(
            "POST", url, body=json_body(build_message(notification)),
            headers={"Content-Type": JSON_TYPE},
        ), 200)
        return Delivery(DeliveryKind.DELIVERED, "Slack accepted the message", status=200)
