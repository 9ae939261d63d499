"""SMS through Twilio's Programmable Messaging REST API, or any service that copies it.

`POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json` with the form fields `To`,
`From` and `Body`, authenticated with HTTP basic auth (the account SID and the auth token).
Twilio replies 201 with the message resource, whose `sid` starts with "SM"; an error reply is
JSON with `code`, `message` and `status`. One message goes to each recipient, its body cut to
`max_length` characters.

A retry sends only to the recipients that have not received the message yet: the channel keeps
the recipients reached per notification id, for the last `REMEMBERED_NOTIFICATIONS` ids.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlencode

from snmpd_ng.alerting.channels import summary
from snmpd_ng.alerting.channels.base import (
    AttemptError,
    DeliveryPolicy,
    PermanentError,
    RetryableError,
    shorten,
)
from snmpd_ng.alerting.channels.http import HttpChannel, basic_auth
from snmpd_ng.alerting.notification import Delivery, DeliveryKind, Notification
from snmpd_ng.clock import Clock
from snmpd_ng.secret import Secret

DEFAULT_BASE_URL = "https://api.twilio.com"
DEFAULT_MAX_LENGTH = 160
"""One SMS segment of the GSM 7-bit alphabet; Twilio accepts up to 1600 characters."""
REMEMBERED_NOTIFICATIONS = 1024


@dataclass(frozen=True)
class SmsSettings:
    account_sid: str
    auth_token: Secret
    sender: str
    """The `From` number (E.164) or a messaging service's sender id."""
    recipients: tuple[str, ...]
    base_url: str = DEFAULT_BASE_URL
    max_length: int = DEFAULT_MAX_LENGTH


def message_text(notification: Notification, max_length: int) -> str:
    """Return the SMS body: title, event and the first alert's summary, cut to `max_length`.

    The cut is marked with "..." in ASCII: a non-GSM character such as "…" would switch the
    whole message to UCS-2 and shrink a segment from 160 to 70 characters.
    """
    parts = [summary.title(notification), summary.event_sentence(notification)]
    if notification.alerts:
        parts.append(summary.alert_summary(notification.alerts[0]))
    text = " ".join(parts)
    return text if len(text) <= max_length else text[: max(0, max_length - 3)] + "..."


class SmsChannel(HttpChannel):
    type = "sms"

    def __init__(self, name: str, settings: SmsSettings, policy: DeliveryPolicy,
                 clock: Clock, rng: random.Random | None = None) -> None:
        super().__init__(name, policy, clock, rng, secrets=[settings.auth_token])
        self._settings = settings
        self._reached: OrderedDict[str, dict[str, str]] = OrderedDict()
        """Message SIDs by recipient, by notification id."""

    def _cost(self, notification: Notification) -> int:
        return max(1, len(self._pending(notification)))

    def _pending(self, notification: Notification) -> list[str]:
        reached = self._reached.get(notification.id, {})
        return [number for number in self._settings.recipients if number not in reached]

    async def _attempt(self, notification: Notification) -> Delivery:
        reached = self._remember(notification.id)
        body = message_text(notification, self._settings.max_length)
        failures: dict[str, AttemptError] = {}
        for number in self._pending(notification):
            try:
                reached[number] = await self._send_one(number, body)
            except AttemptError as exc:
                failures[number] = exc
        return self._outcome(reached, failures)

    def _remember(self, notification_id: str) -> dict[str, str]:
        reached = self._reached.setdefault(notification_id, {})
        self._reached.move_to_end(notification_id)
        while len(self._reached) > REMEMBERED_NOTIFICATIONS:
            self._reached.popitem(last=False)
        return reached

    async def _send_one(self, number: str, body: str) -> str:
        settings = self._settings
        url = (f"{settings.base_url.rstrip('/')}/2010-04-01/Accounts/"
               f"{settings.account_sid}/Messages.json")
        form = {"To": number, "From": settings.sender, "Body": body}
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "Authorization": basic_auth(settings.account_sid, settings.auth_token)}
        encoded = urlencode(form).encode("ascii")
        reply = self._check(await self._request("POST", url, body=encoded, headers=headers),
                            200, 201)
        document = reply.json()
        sid = document.get("sid") if isinstance(document, dict) else None
        if not isinstance(sid, str):
            raise PermanentError(f"HTTP {reply.status}: reply has no message sid: "
                                 f"{shorten(reply.text(), 80)}", status=reply.status)
        return sid

    def _outcome(self, reached: dict[str, str], failures: dict[str, AttemptError]) -> Delivery:
        total = len(self._settings.recipients)
        failed_text = "; ".join(f"{number}: {error.detail}" for number, error in failures.items())
        reference = ",".join(reached[number] for number in self._settings.recipients
                             if number in reached) or None
        if any(error.retryable for error in failures.values()):
            last = next(error for error in failures.values() if error.retryable)
            raise RetryableError(f"sent to {len(reached)} of {total}; {failed_text}",
                                 status=last.status, retry_after=last.retry_after)
        if failures and not reached:
            status = next(iter(failures.values())).status
            raise PermanentError(f"sent to none of {total}; {failed_text}", status=status)
        detail = f"sent to {len(reached)} of {total}"
        if failures:
            detail += f"; rejected: {failed_text}"
        return Delivery(DeliveryKind.DELIVERED, detail, reference=reference)
