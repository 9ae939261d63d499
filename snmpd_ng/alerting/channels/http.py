"""The shared part of the channels that speak HTTP: one aiohttp session, requests, replies.

A request's failure becomes an `AttemptError` here, once: connection errors and timeouts retry,
an HTTP status is classified by `classify_status`, and a 429 or 503 carries the provider's
Retry-After. Messages name the host and the status, never the URL: a Slack webhook URL is itself
the credential, and other providers put account ids in the path.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from snmpd_ng.alerting.channels.base import (
    Channel,
    DeliveryPolicy,
    PermanentError,
    RetryableError,
    classify_status,
    shorten,
)
from snmpd_ng.clock import Clock
from snmpd_ng.secret import Secret

USER_AGENT = "snmpd-ng"
JSON_TYPE = "application/json"


@dataclass(frozen=True)
class HttpReply:
    """A provider's reply, read in full."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """Decode the body as JSON; a body that is not JSON is the provider's fault."""
        try:
            return json.loads(self.body)
        except ValueError:
            raise PermanentError(
                f"HTTP {self.status}: expected a JSON reply, got {shorten(self.text(), 80)!r}",
                status=self.status,
            ) from None


def parse_retry_after(value: str | None, now_wall: float) -> float | None:
    """Read a Retry-After header (RFC 9110, section 10.2.3): delay-seconds or an HTTP-date.

    Returns seconds from now, at least 0, or None for a missing or unreadable header.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now_wall)


def basic_auth(user: str, password: Secret) -> str:
    """Return an Authorization header value for HTTP basic auth (RFC 7617), UTF-8 encoded."""
    credentials = user.encode("utf-8") + b":" + password.reveal()
    return "Basic " + base64.b64encode(credentials).decode("ascii")


def json_body(document: object) -> bytes:
    """Serialise a request body as compact UTF-8 JSON."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class HttpChannel(Channel):
    """A channel with one aiohttp session, opened at the first request and closed by `close`."""

    def __init__(self, name: str, policy: DeliveryPolicy, clock: Clock,
                 rng: random.Random | None = None, secrets: Iterable[Secret] = ()) -> None:
        super().__init__(name, policy, clock, rng, secrets)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        await super().close()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        # Built on first use, inside the running loop; the constructor does not await, so two
        # concurrent first sends cannot build two sessions.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": USER_AGENT},
                timeout=aiohttp.ClientTimeout(total=None),
                raise_for_status=False,
            )
        return self._session

    async def _request(self, method: str, url: str, *, body: bytes | None = None,
                       headers: Mapping[str, str] | None = None,
                       params: Mapping[str, str] | None = None) -> HttpReply:
        """Send one request and read the whole reply; transport failures raise AttemptError."""
        session = self._get_session()
        try:
            async with session.request(method, url, data=body, headers=headers, params=params,
                                       allow_redirects=True) as response:
                payload = await response.read()
                return HttpReply(response.status, response.headers, payload)
        except aiohttp.ClientConnectorCertificateError as exc:
            raise PermanentError(f"TLS certificate of {exc.host}:{exc.port} was rejected: "
                                 f"{shorten(str(exc.certificate_error), 120)}") from None
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror or type(exc.os_error).__name__
            raise RetryableError(f"cannot connect to {exc.host}:{exc.port}: {reason}") from None
        except (aiohttp.InvalidURL, aiohttp.TooManyRedirects) as exc:
            raise PermanentError(f"request failed: {type(exc).__name__}; check the URL") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise RetryableError(f"request failed: {type(exc).__name__}") from None

    def _check(self, reply: HttpReply, *expected: int) -> HttpReply:
        """Return `reply` when its status is one of `expected`, else raise the right error."""
        if reply.status in expected:
            return reply
        detail = f"HTTP {reply.status}: {shorten(reply.text()) or '(empty body)'}"
        if not classify_status(reply.status):
            raise PermanentError(detail, status=reply.status)
        retry_after = None
        if reply.status in (429, 503):
            retry_after = parse_retry_after(reply.headers.get("Retry-After"), self._clock.wall())
        raise RetryableError(detail, status=reply.status, retry_after=retry_after)
