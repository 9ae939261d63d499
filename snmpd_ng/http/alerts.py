"""The alerts API: versioned JSON routes under /api/v1 over the alert service.

Reads list and filter alerts, silences and the history. Writes (acknowledge, create and expire
silences) need `Authorization: Bearer TOKEN`, with the token read from a file that is read again
when it changes (see secret_file.py). Without a usable token file, write requests get 503 with
the reason. PagerDuty's V3 webhook is authenticated by its HMAC signature instead, with a secret
from a second file. Handlers parse the request, call the service and render its result. Every
error is a JSON object `{"error": MESSAGE, "status": CODE}` whose message names the value to fix.

Basic auth, when the daemon has it, guards these routes too (see app.py). A write request cannot
send both Basic credentials and the bearer token, which share the Authorization header, so
`is_exempt_from_basic_auth` tells the basic auth middleware which requests carry their own proof.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from aiohttp import hdrs, web

from snmpd_ng.alerting.backend import StoreError
from snmpd_ng.alerting.channels.summary import group_fingerprint
from snmpd_ng.alerting.dispatch import AcknowledgeError, AckResult, AlertNotFoundError
from snmpd_ng.alerting.history_page import MAX_PAGE_SIZE
from snmpd_ng.alerting.lifecycle import Alert, AlertState
from snmpd_ng.alerting.matchers import MatcherError
from snmpd_ng.alerting.service import AlertService
from snmpd_ng.alerting.silences import Silence, SilenceError, SilenceNotFoundError
from snmpd_ng.clock import Clock, LoopClock
from snmpd_ng.http import alert_requests as requests
from snmpd_ng.http import pagerduty_webhook as pagerduty
from snmpd_ng.http.alert_requests import ApiError
from snmpd_ng.http.secret_file import SecretFile, is_same_secret
from snmpd_ng.ratelimit import WarningLimiter

log = structlog.get_logger("snmpd_ng.http")

API_PREFIX = "/api/v1"
ACK_SOURCE = "api"
"""The `source` of an acknowledgement made through this API, as the history shows it."""
BEARER_CHALLENGE = 'Bearer realm="snmpd-ng"'
DEFAULT_HISTORY_PAGE = 100
PAGERDUTY_WEBHOOK_PATH = f"{API_PREFIX}/webhooks/pagerduty"
CLOCK_SKEW_ALLOWANCE = 60.0
"""Seconds an alert may start after a PagerDuty event and still count as acknowledged by it,
because PagerDuty's clock and this host's may differ."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class AlertApiStats:
    """Counters of the API's rejections; the daemon may export them as metrics."""

    token_rejections: int = 0
    """Writes rejected for a missing or wrong bearer token."""
    webhook_rejections: int = 0
    """PagerDuty deliveries rejected for a missing or wrong signature or a malformed body."""
    webhook_acknowledgements: int = 0
    """PagerDuty deliveries that acknowledged at least one alert."""


@dataclass
class AlertApi:
    """The handlers' state: the service, the secret files, the clock and the counters."""

    service: AlertService
    token_file: SecretFile
    pagerduty_secret_file: SecretFile
    clock: Clock
    stats: AlertApiStats = field(default_factory=AlertApiStats)
    warnings: WarningLimiter = field(default_factory=WarningLimiter)

    def reload(self) -> None:
        """Read both secret files again at their next use (call it on SIGHUP)."""
        self.token_file.reload()
        self.pagerduty_secret_file.reload()


ALERT_API_KEY = web.AppKey("alert_api", AlertApi)


def add_alert_routes(app: web.Application, service: AlertService, token_file: Path | None, *,
                     pagerduty_secret_file: Path | None = None,
                     clock: Clock | None = None) -> AlertApi:
    """Add the /api/v1 routes and their JSON error middleware to `app`, before it starts.

    `token_file` contains the bearer token of the write routes, and `pagerduty_secret_file` the
    signing secret of PagerDuty's webhook; None disables them. `clock` decides which silences
    are active (the service's clock, so that both agree). Returns the API's state, whose
    `reload()` the daemon calls on SIGHUP.
    """
    api = AlertApi(service=service,
                   token_file=SecretFile(token_file, "API token file"),
                   pagerduty_secret_file=SecretFile(pagerduty_secret_file,
                                                    "PagerDuty webhook secret file"),
                   clock=clock if clock is not None else LoopClock())
    app[ALERT_API_KEY] = api
    app.middlewares.append(_json_errors)
    router = app.router
    router.add_get(f"{API_PREFIX}/alerts", _list_alerts)
    router.add_get(f"{API_PREFIX}/alerts/{{fingerprint}}", _get_alert)
    router.add_post(f"{API_PREFIX}/alerts/{{fingerprint}}/ack", _acknowledge)
    router.add_post(f"{API_PREFIX}/groups/ack", _acknowledge_group)
    router.add_get(f"{API_PREFIX}/alerts/{{fingerprint}}/history", _alert_history)
    router.add_get(f"{API_PREFIX}/silences", _list_silences)
    router.add_post(f"{API_PREFIX}/silences", _create_silence)
    router.add_get(f"{API_PREFIX}/silences/{{silence_id}}", _get_silence)
    router.add_delete(f"{API_PREFIX}/silences/{{silence_id}}", _expire_silence)
    router.add_get(f"{API_PREFIX}/history", _history_page)
    router.add_post(PAGERDUTY_WEBHOOK_PATH, _pagerduty_webhook)
    return api


# Errors


_DOMAIN_ERRORS: tuple[tuple[type[Exception], int], ...] = (
    (AlertNotFoundError, 404),
    (SilenceNotFoundError, 404),
    (AcknowledgeError, 409),
    (SilenceError, 400),
    (MatcherError, 400),
    (StoreError, 503),
)
"""HTTP status of each error the service raises for a request; the first match wins."""


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error of an /api/ request into a JSON body; leave other paths alone."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    try:
        return await handler(request)
    except ApiError as exc:
        return _error_response(exc.status, exc.message, exc.headers)
    except web.HTTPException as exc:
        # The router's own 404 and 405, and aiohttp's 413 for a body over the size limit.
        return _error_response(exc.status, _http_error_message(request, exc), _allow(exc))
    except Exception as exc:
        for error_type, status in _DOMAIN_ERRORS:
            if isinstance(exc, error_type):
                return _error_response(status, _domain_message(exc))
        log.error("alert api request failed", method=request.method, path=request.path,
                  error=str(exc), error_type=type(exc).__name__, exc_info=True)
        return _error_response(500, "internal error; the daemon's log has the details")


def _error_response(status: int, message: str,
                    headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message, "status": status}, status=status,
                             headers=headers)


def _http_error_message(request: web.Request, exc: web.HTTPException) -> str:
    if exc.status == 404:
        return f"no API route {request.path}; the routes are under {API_PREFIX}/"
    if exc.status == 405:
        allowed = exc.headers.get(hdrs.ALLOW, "")
        return f"method {request.method} not allowed on {request.path}; allowed: {allowed}"
    return exc.text or exc.reason


def _allow(exc: web.HTTPException) -> dict[str, str]:
    allowed = exc.headers.get(hdrs.ALLOW)
    return {hdrs.ALLOW: allowed} if allowed is not None else {}


def _domain_message(exc: Exception) -> str:
    # KeyError and LookupError subclasses quote their argument; the message is the argument.
    return str(exc.args[0]) if exc.args else str(exc)


# Authentication of the write routes


def is_exempt_from_basic_auth(request: web.Request) -> bool:
    """Tell whether a request proves itself without basic auth.

    True for PagerDuty's webhook, which its handler authenticates by the HMAC signature, and
    for an /api/v1 request with the valid bearer token, which grants more than basic auth.
    False on an app without these routes.
    """
    api = request.app.get(ALERT_API_KEY)
    if api is None or not request.path.startswith(f"{API_PREFIX}/"):
        return False
    if request.path == PAGERDUTY_WEBHOOK_PATH:
        return True
    lookup = api.token_file.lookup()
    token = _bearer_token(request)
    return lookup.secret is not None and token is not None and \
        is_same_secret(token.encode("utf-8"), lookup.secret)


def _bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get(hdrs.AUTHORIZATION, "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _require_token(request: web.Request, api: AlertApi) -> None:
    """Raise ApiError unless the request carries the configured bearer token."""
    lookup = api.token_file.lookup()
    if lookup.secret is None:
        raise ApiError(503, f"writes are disabled: the API token file "
                            f"{api.token_file.path or '(none configured)'} is {lookup.problem}; "
                            "write a token into it to enable them")
    token = _bearer_token(request)
    if token is None:
        _reject_token(request, api, "missing")
        raise ApiError(401, "missing bearer token: send the header 'Authorization: Bearer "
                            "TOKEN' with the token from the API token file",
                       {hdrs.WWW_AUTHENTICATE: BEARER_CHALLENGE})
    if not is_same_secret(token.encode("utf-8"), lookup.secret):
        _reject_token(request, api, "wrong")
        raise ApiError(401, "wrong bearer token: it differs from the API token file's",
                       {hdrs.WWW_AUTHENTICATE: f'{BEARER_CHALLENGE}, error="invalid_token"'})


def _reject_token(request: web.Request, api: AlertApi, reason: str) -> None:
    api.stats.token_rejections += 1
    # A scanner can send many bad requests, so one line a minute; the counter has them all.
    suppressed = api.warnings.admit("token", time.monotonic())
    if suppressed is not None:
        log.warning("api write rejected: missing or wrong bearer token", reason=reason,
                    method=request.method, path=request.path, remote=request.remote,
                    rejections_total=api.stats.token_rejections, suppressed=suppressed)


# Alerts


async def _list_alerts(request: web.Request) -> web.Response:
    api = request.app[ALERT_API_KEY]
    query = requests.alert_query(request.query)
    alerts = [alert for alert in api.service.alerts(query.alert_filter)
              if not query.severities or alert.severity in query.severities]
    alerts.sort(key=lambda alert: (-alert.active_since, alert.fingerprint))
    return web.json_response({"alerts": [alert_json(alert) for alert in alerts],
                              "count": len(alerts)})


async def _get_alert(request: web.Request) -> web.Response:
    api = request.app[ALERT_API_KEY]
    alert = _find_alert(api, request.match_info["fingerprint"])
    return web.json_response({"alert": alert_json(alert)})


async def _acknowledge(request: web.Request) -> web.Response:
    api = request.app[ALERT_API_KEY]
    _require_token(request, api)
    body = await requests.json_object(request)
    by = requests.text(body, "by", required=True)
    comment = requests.text(body, "comment")
    alert = _find_alert(api, request.match_info["fingerprint"])
    assert by is not None
    result = await api.service.acknowledge(alert.fingerprint, by, comment, source=ACK_SOURCE)
    updated = _find_alert(api, alert.fingerprint)
    return web.json_response({**_ack_json(result), "alert": alert_json(updated)})


async def _acknowledge_group(request: web.Request) -> web.Response:
    api = request.app[ALERT_API_KEY]
    _require_token(request, api)
    body = await requests.json_object(request)
    key = requests.text(body, "group_key", required=True)
    by = requests.text(body, "by", required=True)
    comment = requests.text(body, "comment")
    assert key is not None and by is not None
    # The service also takes a fingerprint as the key, so the key is checked to be a group's.
    if not any(key in alert.group_keys for alert in api.service.alerts()):
        raise AlertNotFoundError(f"no group with key {key!r}; `GET {API_PREFIX}/alerts/"
                                 "FINGERPRINT` lists the groups of an alert")
    result = await api.service.acknowledge(key, by, comment, source=ACK_SOURCE)
    return web.json_response(_ack_json(result))


def _ack_json(result: AckResult) -> dict[str, Any]:
    groups = [{"group_key": group.key, "unacknowledged": group.unacknowledged,
               "escalation": group.escalation} for group in result.groups]
    return {"acknowledged": list(result.fingerprints), "group_keys": list(result.group_keys),
            "groups": groups}


async def _alert_history(request: web.Request) -> web.Response:
    api = request.app[ALERT_API_KEY]
    text = requests.fingerprint_text(request.match_info["fingerprint"])
    limit = requests.integer(request.query, "limit", 1000, minimum=1, maximum=MAX_PAGE_SIZE)
    if len(text) < requests.FINGERPRINT_LENGTH:
        text = _find_alert(api, text).fingerprint
    entries = await api.service.history(text, limit)
    if not entries and not _matching_alerts(api, text):
        raise AlertNotFoundError(f"no history for fingerprint {text!r}; check it with "
                                 f"GET {API_PREFIX}/alerts?state=all")
    return web.json_response({"fingerprint": text,
                              "entries": [requests.entry_json(entry) for entry in entries]})


def _find_alert(api: AlertApi, text: str) -> Alert:
    """Return the one alert whose fingerprint starts with `text`; raise 400 or 404 if none."""
    prefix = requests.fingerprint_text(text)
    found = _matching_alerts(api, prefix)
    if not found:
        raise AlertNotFoundError(f"no alert with fingerprint {prefix!r}; resolved alerts are "
                                 f"forgotten after their retention, their history stays at "
                                 f"GET {API_PREFIX}/alerts/FINGERPRINT/history")
    if len(found) > 1:
        raise ApiError(400, f"fingerprint prefix {prefix!r} is ambiguous: {len(found)} alerts "
                            "start with it; give more digits")
    return found[0]


def _matching_alerts(api: AlertApi, prefix: str) -> list[Alert]:
    every_state = requests.AlertQuery.every_state()
    return [alert for alert in api.service.alerts(every_state)
            if alert.fingerprint.startswith(prefix)]


def alert_json(alert: Alert) -> dict[str, Any]:
    """Render an alert for the API; times are Unix seconds."""
    return {
        "fingerprint": alert.fingerprint, "rule": alert.rule, "state": alert.state.value,
        "severity": alert.severity, "labels": alert.labels, "annotations": alert.annotations,
        "value": alert.value, "active_since": alert.active_since, "starts_at": alert.starts_at,
        "ends_at": alert.ends_at, "episode": alert.episode,
        "acknowledged_by": alert.acknowledged_by, "ack_comment": alert.ack_comment,
        "ack_source": alert.ack_source, "acknowledged_at": alert.acknowledged_at,
        "silenced_by": list(alert.silenced_by), "inhibited_by": alert.inhibited_by,
        "group_keys": list(alert.group_keys),
        "resolve_held_until": (alert.held_resolve or {}).get("until"),
    }


# Silences


async def _list_silences(request: web.Request) -> web.Response:
    api = request.app[ALERT_API_KEY]
    states = requests.silence_states(request.query)
    now = api.clock.wall()
    silences = [silence for silence in api.service.silences()
                if requests.silence_state(silence, now) in states]
    silences.sort(key=lambda silence: (-silence.created_at, silence.id))
    return web.json_response({"silences": [silence_json(silence, now) for silence in silences],
                              "count": len(silences)})


async def _get_silence(request: web.Request) -> web.Response:
    api = request.app[ALERT_API_KEY]
    silence = _find_silence(api, request.match_info["silence_id"])
    return web.json_response({"silence": silence_json(silence, api.clock.wall())})


async def _create_silence(request: web.Request) -> web.Response:
    api = request.app[ALERT_API_KEY]
    _require_token(request, api)
    body = await requests.json_object(request)
    fields = requests.silence_fields(body, api.clock.wall())
    created = await api.service.silence(fields.matchers, created_by=fields.created_by,
                                        comment=fields.comment, starts_at=fields.starts_at,
                                        ends_at=fields.ends_at)
    return web.json_response({"silence": silence_json(created, api.clock.wall())}, status=201)


async def _expire_silence(request: web.Request) -> web.Response:
    api = request.app[ALERT_API_KEY]
    _require_token(request, api)
    by = requests.text(request.query, "by", required=True)
    assert by is not None
    silence = _find_silence(api, request.match_info["silence_id"])
    try:
        expired = await api.service.expire_silence(silence.id, by)
    except SilenceNotFoundError:
        raise
    except SilenceError as exc:
        raise ApiError(409, str(exc)) from None
    return web.json_response({"silence": silence_json(expired, api.clock.wall())})


def _find_silence(api: AlertApi, text: str) -> Silence:
    prefix = requests.silence_id_text(text)
    found = [silence for silence in api.service.silences() if silence.id.startswith(prefix)]
    if not found:
        raise SilenceNotFoundError(f"no silence with id {prefix!r}; ended silences are "
                                   "forgotten after their retention")
    if len(found) > 1:
        raise ApiError(400, f"silence id prefix {prefix!r} is ambiguous: {len(found)} "
                            "silences start with it; give more digits")
    return found[0]


def silence_json(silence: Silence, now: float) -> dict[str, Any]:
    """Render a silence with its state at `now`: pending, active or expired."""
    return {**silence.to_dict(), "state": requests.silence_state(silence, now)}


# History


async def _history_page(request: web.Request) -> web.Response:
    api = request.app[ALERT_API_KEY]
    limit = requests.integer(request.query, "limit", DEFAULT_HISTORY_PAGE, minimum=1,
                             maximum=MAX_PAGE_SIZE)
    before = requests.optional_integer(request.query, "before", minimum=1)
    kind = request.query.get("kind") or None
    page = await api.service.store.history_page(limit=limit, before=before, kind=kind)
    return web.json_response({"entries": [requests.entry_json(entry) for entry in page.entries],
                              "next_before": page.next_before})


# PagerDuty's webhook


async def _pagerduty_webhook(request: web.Request) -> web.Response:
    api = request.app[ALERT_API_KEY]
    lookup = api.pagerduty_secret_file.lookup()
    if lookup.secret is None:
        raise ApiError(503, f"the PagerDuty webhook is disabled: its secret file "
                            f"{api.pagerduty_secret_file.path or '(none configured)'} is "
                            f"{lookup.problem}; write the subscription's signing secret into it")
    body = await request.read()
    try:
        is_signed = _is_signed(request, body, lookup.secret.reveal())
        event = pagerduty.parse_event(body) if is_signed else None
    except pagerduty.WebhookError as exc:
        _reject_webhook(request, api, str(exc))
        raise ApiError(400, str(exc)) from None
    if event is None:
        _reject_webhook(request, api, "invalid signature")
        # 403 rather than 401: there is no credential to retry with, only a wrong secret.
        raise ApiError(403, f"invalid {pagerduty.SIGNATURE_HEADER}: no signature matches the "
                            "body with the configured secret; compare the secret file with "
                            "the webhook subscription's signing secret")
    return web.json_response(await _apply_incident_event(api, event))


def _is_signed(request: web.Request, body: bytes, secret: bytes) -> bool:
    header = request.headers.get(pagerduty.SIGNATURE_HEADER)
    if header is None:
        raise pagerduty.WebhookError(f"missing header {pagerduty.SIGNATURE_HEADER}; "
                                     "only PagerDuty's V3 webhooks are accepted here")
    return pagerduty.is_signed(body, header, secret)


def _reject_webhook(request: web.Request, api: AlertApi, reason: str) -> None:
    api.stats.webhook_rejections += 1
    suppressed = api.warnings.admit("webhook", time.monotonic())
    if suppressed is not None:
        log.warning("pagerduty webhook rejected", reason=reason, remote=request.remote,
                    rejections_total=api.stats.webhook_rejections, suppressed=suppressed)


async def _apply_incident_event(api: AlertApi,
                                event: pagerduty.IncidentEvent) -> dict[str, Any]:
    """Acknowledge the firing alerts of the incident's group; return the response body.

    Only alerts that fired before the event are acknowledged, because the person who acted in
    PagerDuty had not seen an alert that fired (again) after it. Every event that is not ours
    to act on gets 200 with status "ignored", because PagerDuty delivers again after an error
    status, and another delivery would change nothing.
    """
    if event.event_type not in pagerduty.HANDLED_EVENT_TYPES:
        return _ignored(event, f"event type {event.event_type} is not acted on")
    if event.incident_key is None:
        return _ignored(event, "the incident has no incident_key: snmpd-ng did not open it")
    in_group = _alerts_of_group(api, event.incident_key)
    if not in_group:
        return _ignored(event, "no alert group has this incident_key")
    firing = [alert for alert in in_group if alert.state is AlertState.FIRING]
    covered = [alert for alert in firing if _fired_before(alert, event)]
    if not firing:
        return _ignored(event, "the group has no firing alert to acknowledge")
    if not covered:
        return _ignored(event, "the event is older than the alerts that fire now")
    fingerprints, group_keys = await _acknowledge_all(api, covered, event)
    if fingerprints:
        api.stats.webhook_acknowledgements += 1
    log.info("pagerduty webhook applied", event_type=event.event_type,
             incident=event.incident, event_id=event.event_id, acknowledged=len(fingerprints))
    return {"status": "acknowledged", "fingerprints": fingerprints,
            "group_keys": sorted(group_keys)}


def _alerts_of_group(api: AlertApi, dedup_key: str) -> list[Alert]:
    """Return the alerts of the group whose key, or its hash, is PagerDuty's dedup_key."""
    every_state = requests.AlertQuery.every_state()
    return [alert for alert in api.service.alerts(every_state)
            if any(dedup_key in (key, group_fingerprint(key)) for key in alert.group_keys)]


def _fired_before(alert: Alert, event: pagerduty.IncidentEvent) -> bool:
    if event.occurred_at is None:
        return True
    started = alert.starts_at if alert.starts_at is not None else alert.active_since
    return started <= event.occurred_at + CLOCK_SKEW_ALLOWANCE


async def _acknowledge_all(api: AlertApi, alerts: list[Alert],
                           event: pagerduty.IncidentEvent) -> tuple[list[str], set[str]]:
    verb = event.event_type.removeprefix("incident.")
    comment = f"{verb} in PagerDuty incident {event.incident}"
    if event.url:
        comment += f" ({event.url})"
    fingerprints: list[str] = []
    group_keys: set[str] = set()
    for alert in alerts:
        try:
            result = await api.service.acknowledge(alert.fingerprint, event.agent, comment,
                                                   source="pagerduty")
        except (AlertNotFoundError, AcknowledgeError):
            # It resolved or was forgotten since the list was made: nothing to acknowledge.
            continue
        fingerprints.extend(result.fingerprints)
        group_keys.update(result.group_keys)
    return fingerprints, group_keys


def _ignored(event: pagerduty.IncidentEvent, reason: str) -> dict[str, Any]:
    log.info("pagerduty webhook ignored", event_type=event.event_type,
             incident=event.incident, event_id=event.event_id, reason=reason)
    return {"status": "ignored", "reason": reason}

