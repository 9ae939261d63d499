"""Parsing of the alerts API's query parameters and JSON bodies, and the shared renderings.

The parsers raise ApiError (status 400) with a message that names the parameter or field
and the value expected, so that the handlers in alerts.py stay thin.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from snmpd_ng.alerting.history import HistoryEntry
from snmpd_ng.alerting.lifecycle import RULE_LABEL, AlertState
from snmpd_ng.alerting.matchers import Matcher, MatcherError, MatchType, parse_matchers
from snmpd_ng.alerting.service import AlertFilter
from snmpd_ng.alerting.silences import Silence
from snmpd_ng.config.schema import parse_duration

FINGERPRINT_LENGTH = 64
"""Hex digits of a whole fingerprint (SHA-256)."""
MIN_ID_PREFIX = 8
"""Minimum length of a fingerprint or silence id prefix that the API accepts for the whole id."""
MAX_TEXT_LENGTH = 1000
"""Maximum length of a name or comment, in characters."""
SILENCE_STATES = ("pending", "active", "expired")
TARGET_LABEL = "target"

_HEX = re.compile(r"[0-9a-f]+")
_ALL = "all"


class ApiError(Exception):
    """A request the API rejects: the HTTP status, the message and extra response headers."""

    def __init__(self, status: int, message: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


Query = MultiMapping[str]


@dataclass(frozen=True)
class AlertQuery:
    """The filters of `GET /alerts`: the service's filter and the requested severities."""

    alert_filter: AlertFilter
    severities: frozenset[str]

    @staticmethod
    def every_state() -> AlertFilter:
        return AlertFilter(states=frozenset(AlertState))


def alert_query(query: Query) -> AlertQuery:
    """Parse state, severity, rule, target, filter, silenced and inhibited."""
    matchers = _filter_matchers(query)
    for name, label in (("rule", RULE_LABEL), ("target", TARGET_LABEL)):
        for value in _list(query, name):
            matchers.append(Matcher.build(label, MatchType.EQUAL, value))
    states = _states(query)
    alert_filter = AlertFilter(states=states, matchers=tuple(matchers),
                               silenced=_boolean(query, "silenced"),
                               inhibited=_boolean(query, "inhibited"))
    return AlertQuery(alert_filter, frozenset(_list(query, "severity")))


def _states(query: Query) -> frozenset[AlertState]:
    names = _list(query, "state")
    if not names:
        return AlertFilter().states
    if _ALL in names:
        return frozenset(AlertState)
    allowed = {state.value: state for state in AlertState}
    for name in names:
        if name not in allowed:
            raise ApiError(400, f"invalid state {name!r} in query parameter state; allowed: "
                                f"{', '.join(allowed)}, {_ALL}")
    return frozenset(allowed[name] for name in names)


def _filter_matchers(query: Query) -> list[Matcher]:
    matchers: list[Matcher] = []
    for text in query.getall("filter", []):
        try:
            matchers.extend(parse_matchers(text))
        except MatcherError as exc:
            raise ApiError(400, f"invalid query parameter filter: {exc}") from None
    return matchers


def _list(query: Query, name: str) -> list[str]:
    """Return the values of a parameter given repeated, comma-separated, or both."""
    return [item.strip() for value in query.getall(name, []) for item in value.split(",")
            if item.strip()]


def _boolean(query: Query, name: str) -> bool | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise ApiError(400, f"invalid query parameter {name}={value!r}; use true or false")


def integer(query: Query, name: str, default: int, *, minimum: int, maximum: int) -> int:
    """Read an integer parameter within [minimum, maximum], or the default when absent."""
    value = optional_integer(query, name, minimum=minimum, maximum=maximum)
    return default if value is None else value


def optional_integer(query: Query, name: str, *, minimum: int,
                     maximum: int | None = None) -> int | None:
    text = query.get(name)
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, f"invalid query parameter {name}={text!r}; use a whole "
                            "number") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" to {maximum}" if maximum is not None else " or more"
        raise ApiError(400, f"invalid query parameter {name}={value}; allowed: "
                            f"{minimum}{upper}")
    return value


def fingerprint_text(text: str) -> str:
    """Check a fingerprint or its first digits (at least MIN_ID_PREFIX); return it lowercased."""
    return _hex_id(text, "fingerprint", FINGERPRINT_LENGTH)


def silence_id_text(text: str) -> str:
    return _hex_id(text, "silence id", 32)


def _hex_id(text: str, what: str, length: int) -> str:
    value = text.strip().lower()
    if not MIN_ID_PREFIX <= len(value) <= length or _HEX.fullmatch(value) is None:
        raise ApiError(400, f"invalid {what} {text!r}: expected {MIN_ID_PREFIX} to {length} "
                            "hex digits (the first digits are enough when no other id "
                            "starts with them)")
    return value


# JSON bodies


async def json_object(request: web.Request) -> dict[str, Any]:
    """Read the body as a JSON object; an empty body is an empty object."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"invalid JSON body: {exc}; send a JSON object such as "
                            '{"by": "alice"}') from None
    if not isinstance(document, dict):
        raise ApiError(400, f"invalid JSON body: expected an object, got "
                            f"{type(document).__name__}")
    return document


def text(source: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    """Read a string field (or query parameter): stripped, at most MAX_TEXT_LENGTH long."""
    value = source.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ApiError(400, f"missing {name}: {_PURPOSE.get(name, 'give a value')}")
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"invalid {name}: expected a string, got {type(value).__name__}")
    if len(value) > MAX_TEXT_LENGTH:
        raise ApiError(400, f"invalid {name}: {len(value)} characters, more than the "
                            f"maximum of {MAX_TEXT_LENGTH}")
    return value.strip()


_PURPOSE = {
    "by": "name who does this, such as alice",
    "created_by": "name who creates the silence",
    "comment": "say why the alerts are silenced",
    "matchers": "give at least one, such as \"matchers\": \"target=\\\"core1\\\"\"",
}


@dataclass(frozen=True)
class SilenceFields:
    matchers: list[Matcher]
    created_by: str
    comment: str
    starts_at: float | None
    ends_at: float | None


def silence_fields(body: Mapping[str, Any], now: float) -> SilenceFields:
    """Read a new silence: matchers, created_by, comment, and starts_at with ends_at or
    duration. Times are Unix seconds or ISO 8601 with an offset; `now` starts a duration
    without starts_at."""
    starts_at = _time(body, "starts_at")
    ends_at = _time(body, "ends_at")
    if body.get("duration") is not None:
        if ends_at is not None:
            raise ApiError(400, "invalid silence: give ends_at or duration, not both")
        ends_at = (starts_at if starts_at is not None else now) + _duration(body)
    created_by = text(body, "created_by", required=True)
    comment = text(body, "comment", required=True)
    assert created_by is not None and comment is not None
    return SilenceFields(_silence_matchers(body), created_by, comment, starts_at, ends_at)


def _silence_matchers(body: Mapping[str, Any]) -> list[Matcher]:
    value = body.get("matchers")
    items = [value] if isinstance(value, str) else value
    if not items or not isinstance(items, list) or \
            not all(isinstance(item, str) for item in items):
        raise ApiError(400, f"missing matchers: {_PURPOSE['matchers']}, or a list of such "
                            "strings")
    matchers: list[Matcher] = []
    for item in items:
        try:
            matchers.extend(parse_matchers(item))
        except MatcherError as exc:
            raise ApiError(400, f"invalid matchers: {exc}") from None
    return matchers


def _time(body: Mapping[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.timestamp()
    raise ApiError(400, f"invalid {name} {value!r}: use Unix seconds or ISO 8601 with an "
                        "offset, such as 2024-05-06T14:00:00Z")


def _duration(body: Mapping[str, Any]) -> float:
    value = body.get("duration")
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ApiError(400, f"invalid duration: {exc}") from None
    if not isinstance(seconds, float) or not seconds > 0:
        raise ApiError(400, f"invalid duration {value!r}: use a positive number of seconds "
                            "or a text such as 90m or 2h")
    return seconds


# Renderings shared by the handlers


def silence_states(query: Query) -> frozenset[str]:
    names = _list(query, "state")
    if not names or _ALL in names:
        return frozenset(SILENCE_STATES)
    for name in names:
        if name not in SILENCE_STATES:
            raise ApiError(400, f"invalid state {name!r} in query parameter state; allowed: "
                                f"{', '.join(SILENCE_STATES)}, {_ALL}")
    return frozenset(names)


def silence_state(silence: Silence, now: float) -> str:
    if now < silence.starts_at:
        return "pending"
    return "active" if silence.is_active(now) else "expired"


def entry_json(entry: HistoryEntry) -> dict[str, Any]:
    """Render a history entry; `at` is Unix seconds."""
    return {"id": entry.id, "at": entry.at, "kind": entry.kind, "actor": entry.actor,
            "fingerprint": entry.fingerprint, "group_key": entry.group_key,
            "detail": dict(entry.detail)}
