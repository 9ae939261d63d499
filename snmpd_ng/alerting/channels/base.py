"""The channel interface and the delivery machinery every provider shares.

`Channel.send` runs attempts until one succeeds, one fails for good, or the attempts run out:

1. take tokens from the channel's token bucket, waiting on the clock when it is empty;
2. run one attempt (the provider's requests) under the per-attempt timeout;
3. on a retryable failure, wait the provider's Retry-After if it sent one, else a backoff of
   exponential growth with full jitter: a uniform draw from [0, min(cap, base * 2**retry)],
   as in the AWS Architecture Blog's "Exponential Backoff And Jitter" (2015).

A provider raises `RetryableError` or `PermanentError` from an attempt, and `classify_status`
returns which of the two an HTTP status is. Every failed attempt and every final outcome is one log
event with the channel, the notification id and the status code. Details and messages never carry a
secret: `scrub` replaces any secret text a provider echoes back. """

from __future__ import annotations

import asyncio
import dataclasses
import random
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import structlog

from snmpd_ng.alerting.notification import Delivery, DeliveryKind, Notification
from snmpd_ng.clock import Clock
from snmpd_ng.secret import Secret

log = structlog.get_logger(__name__)

REDACTED = "<redacted>"
_MAX_DETAIL = 300
"""Characters of a provider's reply kept in a detail: enough for its error text."""


class AttemptError(Exception):
    """One attempt failed. `detail` is safe to log: it never contains a secret."""

    retryable: ClassVar[bool] = False

    def __init__(self, detail: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.retry_after = retry_after
        """Seconds the provider asked us to wait (Retry-After), when it did."""


class RetryableError(AttemptError):
    """A failure that may pass: timeout, connection error, HTTP 5xx, 408 or 429."""

    retryable = True


class PermanentError(AttemptError):
    """A failure that repeats on every attempt: a rejected request or bad credentials."""


def classify_status(status: int) -> bool:
    """Return True when an HTTP error status is worth retrying.

    5xx, 408 (Request Timeout) and 429 (Too Many Requests) retry; any other 4xx is a request the
    provider will reject again. A 3xx that reaches us (redirects are followed) is also permanent.
    """
    return status >= 500 or status in (408, 429)


@dataclass(frozen=True)
class DeliveryPolicy:
    """Timeout, retries and rate limit of one channel. Times are in seconds."""

    timeout: float = 10.0
    """Limit of one attempt, all of its requests included."""
    max_attempts: int = 4
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    max_retry_after: float = 300.0
    """A longer Retry-After ends this send as retryable, leaving the wait to the outbox."""
    rate: float = 1.0
    """Tokens added to the bucket per second; one request to the provider takes one token."""
    burst: int = 10
    """Bucket size: requests allowed at once after a quiet time."""

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Return the wait before retry number `retry` (1 for the first retry): full jitter."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (retry - 1))
        return rng.uniform(0.0, ceiling)


class TokenBucket:
    """A token bucket on an injected clock: `rate` tokens a second, at most `burst` stored."""

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        # Set at the first acquire: a LoopClock cannot be read before the loop runs, and a
        # channel is built from the config before that.
        self._updated: float | None = None
        self._lock = asyncio.Lock()

    async def acquire(self, cost: int = 1) -> float:
        """Take `cost` tokens, waiting until there are enough; return the seconds waited.

        A cost above the bucket size is cut to the bucket size, or it could never be paid.
        """
        cost_tokens = min(float(cost), self._burst)
        waited = 0.0
        async with self._lock:
            while True:
                self._refill()
                if self._tokens >= cost_tokens:
                    self._tokens -= cost_tokens
                    return waited
                wait = (cost_tokens - self._tokens) / self._rate
                waited += wait
                await self._clock.sleep_until(self._clock.now() + wait)

    def _refill(self) -> None:
        now = self._clock.now()
        if self._updated is not None:
            self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now


def scrub(text: str, secrets: Iterable[Secret]) -> str:
    """Replace the text of every secret in `text` with <redacted>."""
    for secret in secrets:
        value = secret.reveal().decode("utf-8", errors="replace")
        if value:
            text = text.replace(value, REDACTED)
    return text


def shorten(text: str, limit: int = _MAX_DETAIL) -> str:
    """Cut `text` to `limit` characters on one line, marking a cut with "..."."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


class Channel(ABC):
    """A notification channel: one provider account or endpoint, by its configured name.

    Subclasses implement `_attempt` (one try, raising `AttemptError` on failure) and may
    override `_cost` (tokens an attempt takes) and `close`.
    """

    type: ClassVar[str] = ""
    """The `type` key of the channel's config, such as "slack"."""

    def __init__(self, name: str, policy: DeliveryPolicy, clock: Clock,
                 rng: random.Random | None = None, secrets: Iterable[Secret] = ()) -> None:
        self.name = name
        self.policy = policy
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._bucket = TokenBucket(policy.rate, policy.burst, clock)
        self._secrets = tuple(secret for secret in secrets if secret)
        self._closed = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    async def send(self, notification: Notification) -> Delivery:
        """Deliver `notification`, retrying as the policy allows, and return the outcome.

        A provider's failure comes back as a `Delivery`, not as an exception. CancelledError
        propagates, so a shutdown stops a send between or inside attempts.
        """
        bound = log.bind(channel=self.name, channel_type=self.type,
                         notification_id=notification.id)
        if self._closed:
            return self._finish(bound, Delivery(DeliveryKind.RETRYABLE, "channel is closed",
                                                attempts=0))
        attempt = 0
        while True:
            attempt += 1
            await self._take_tokens(bound, notification)
            try:
                delivery = await self._timed_attempt(notification)
            except AttemptError as exc:
                error = exc
            else:
                return self._finish(bound, dataclasses.replace(delivery, attempts=attempt))

            wait = self._retry_wait(error, attempt)
            if wait is None:
                return self._finish(bound, self._failure(error, attempt))
            bound.warning("alert delivery attempt failed", attempt=attempt, status=error.status,
                          error=error.detail, retry_in_seconds=round(wait, 3))
            await self._clock.sleep_until(self._clock.now() + wait)

    async def close(self) -> None:
        """Release the channel's connections; a later `send` returns a retryable delivery."""
        self._closed = True

    @abstractmethod
    async def _attempt(self, notification: Notification) -> Delivery:
        """Make one try at delivering; raise `AttemptError` when it fails."""

    def _cost(self, notification: Notification) -> int:
        """Return the tokens one attempt takes: the requests it makes to the provider."""
        return 1

    def _scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    async def _take_tokens(self, bound: structlog.typing.FilteringBoundLogger,
                           notification: Notification) -> None:
        waited = await self._bucket.acquire(self._cost(notification))
        if waited > 0:
            bound.debug("alert delivery rate limited", waited_seconds=round(waited, 3))

    async def _timed_attempt(self, notification: Notification) -> Delivery:
        # NOTE: the timeout runs on the event loop's time, not on the injected clock, because it
        # bounds network I/O that runs on that loop. Backoff and the rate limit use the clock.
        try:
            async with asyncio.timeout(self.policy.timeout):
                return await self._attempt(notification)
        except TimeoutError:
            raise RetryableError(f"timed out after {self.policy.timeout:g} s") from None
        except AttemptError as exc:
            exc.detail = self._scrub(exc.detail)
            raise
        except Exception as exc:
            # A provider's reply of a shape we did not expect must not stop the outbox. The
            # traceback is not logged, because a renderer that prints local variables would
            # print revealed secrets.
            message = self._scrub(shorten(str(exc)))
            raise PermanentError(f"unexpected error {type(exc).__name__}: {message}") from exc

    def _retry_wait(self, error: AttemptError, attempt: int) -> float | None:
        """Return the seconds to wait before the next attempt, or None to stop now."""
        if not error.retryable or attempt >= self.policy.max_attempts:
            return None
        if error.retry_after is None:
            return self.policy.backoff(attempt, self._rng)
        if error.retry_after > self.policy.max_retry_after:
            error.detail += (f" (the provider asked to retry after {error.retry_after:g} s, "
                             f"more than max_retry_after {self.policy.max_retry_after:g} s)")
            return None
        return max(0.0, error.retry_after)

    @staticmethod
    def _failure(error: AttemptError, attempts: int) -> Delivery:
        kind = DeliveryKind.RETRYABLE if error.retryable else DeliveryKind.FAILED
        return Delivery(kind, error.detail, status=error.status, attempts=attempts)

    @staticmethod
    def _finish(bound: structlog.typing.FilteringBoundLogger, delivery: Delivery) -> Delivery:
        fields = {"attempts": delivery.attempts, "status": delivery.status,
                  "detail": delivery.detail}
        if delivery.is_delivered:
            bound.info("alert delivered", reference=delivery.reference, **fields)
        elif delivery.kind is DeliveryKind.RETRYABLE:
            bound.warning("alert delivery failed", retryable=True, **fields)
        else:
            bound.error("alert delivery failed", retryable=False, **fields)
        return delivery
