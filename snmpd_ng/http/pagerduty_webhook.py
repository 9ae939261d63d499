"""PagerDuty's V3 webhooks: signature check and the incident events that acknowledge alerts.

PagerDuty signs each delivery with an HMAC-SHA256 of the raw body, keyed with the
subscription's secret, and sends it hex-encoded as `v1=<hex>` in the `X-PagerDuty-Signature`
header. During a secret rotation the header contains several signatures, comma-separated, and one
valid signature is enough (PagerDuty's developer docs, "Verifying Signatures").

The body is `{"event": {"event_type": ..., "agent": {...}, "data": {...}}}`. For an incident
event, `data.incident_key` is the dedup_key that snmpd-ng's PagerDuty channel sent, which is the
group key, or its hash for a key longer than 255 characters. No I/O here: bytes in, values or
WebhookError out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SIGNATURE_HEADER = "X-PagerDuty-Signature"
SIGNATURE_VERSION = "v1"
HANDLED_EVENT_TYPES = frozenset({"incident.acknowledged", "incident.resolved"})
"""Events that acknowledge snmpd-ng's alerts: both mean a person took the incident in hand."""


class WebhookError(ValueError):
    """A delivery that is not a well-formed V3 webhook; the message names the field."""


@dataclass(frozen=True)
class IncidentEvent:
    """The parts of an incident event that snmpd-ng uses: which group, who acted, and where."""

    event_id: str
    event_type: str
    incident_key: str | None
    """The dedup_key of the incident; None for an incident opened by hand in PagerDuty."""
    agent: str
    """The user or integration that acted, as PagerDuty names it."""
    incident: str
    """The incident's number (#1234) or id, for the acknowledgement's comment."""
    occurred_at: float | None = None
    """Unix time of the event, by PagerDuty's clock; None when missing or unreadable."""
    url: str | None = None


def signatures(header: str) -> list[str]:
    """Return the hex digests of the header's `v1=` signatures; others are skipped.

    Raises WebhookError when the header has no v1 signature.
    """
    found = []
    for item in header.split(","):
        version, separator, digest = item.strip().partition("=")
        if separator and version == SIGNATURE_VERSION and digest:
            found.append(digest.lower())
    if not found:
        raise WebhookError(f"{SIGNATURE_HEADER} has no {SIGNATURE_VERSION}= signature; "
                           "expected v1=<hex HMAC-SHA256 of the body>")
    return found


def is_signed(body: bytes, header: str, secret: bytes) -> bool:
    """Tell whether one of the header's signatures is the HMAC-SHA256 of `body` with `secret`.

    Raises WebhookError for a header without a v1 signature. Each comparison takes constant
    time.
    """
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    matched = False
    for digest in signatures(header):
        # Every signature is compared, so the time taken does not tell which one matched.
        matched |= hmac.compare_digest(digest.encode("ascii", "replace"),
                                       expected.encode("ascii"))
    return matched


def parse_event(body: bytes) -> IncidentEvent:
    """Read the event of a delivery; raise WebhookError when a required field is missing."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WebhookError(f"the body is not JSON: {exc}") from None
    event = _mapping(document, "event", "the body")
    event_type = _text(event, "event_type", "event")
    data = _mapping(event, "data", "event") if event_type.startswith("incident.") else {}
    agent = event.get("agent")
    return IncidentEvent(
        event_id=str(event.get("id", "")),
        event_type=event_type,
        incident_key=_optional_text(data, "incident_key"),
        agent=_agent_name(agent),
        incident=_incident_name(data),
        occurred_at=_timestamp(event.get("occurred_at")),
        url=_optional_text(data, "html_url"),
    )


def _mapping(container: Any, key: str, where: str) -> Mapping[str, Any]:
    value = container.get(key) if isinstance(container, Mapping) else None
    if not isinstance(value, Mapping):
        raise WebhookError(f"missing object {key!r} in {where}; is this a V3 webhook?")
    return value


def _text(container: Mapping[str, Any], key: str, where: str) -> str:
    value = container.get(key)
    if not isinstance(value, str) or not value:
        raise WebhookError(f"missing string {key!r} in {where}")
    return value


def _optional_text(container: Mapping[str, Any], key: str) -> str | None:
    value = container.get(key)
    return value if isinstance(value, str) and value else None


def _agent_name(agent: Any) -> str:
    if isinstance(agent, Mapping):
        name = _optional_text(agent, "summary") or _optional_text(agent, "id")
        if name is not None:
            return name
    return "PagerDuty"


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def _incident_name(data: Mapping[str, Any]) -> str:
    number = data.get("number")
    if isinstance(number, int) and not isinstance(number, bool):
        return f"#{number}"
    return _optional_text(data, "id") or "unknown"
