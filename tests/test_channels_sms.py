"""The SMS channel against a loopback emulation of Twilio's Messages resource."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from channel_helpers import (
    MaxRandom,
    SkipClock,
    alert,
    captured_logs,
    fast_policy,
    notification,
)
from receivers import Fault, TwilioReceiver

from snmpd_ng.alerting.channels.base import DeliveryPolicy
from snmpd_ng.alerting.channels.sms import SmsChannel, SmsSettings, message_text
from snmpd_ng.alerting.notification import DeliveryKind
from snmpd_ng.secret import Secret

ACCOUNT = "AC0123456789abcdef0123456789abcdef"
TOKEN = "twilio-auth-token-0123456789abcdef"
RECIPIENTS = ("+15550100001", "+15550100002")


@pytest.fixture
async def receiver() -> AsyncIterator[TwilioReceiver]:
    server = TwilioReceiver(ACCOUNT, TOKEN)
    await server.start()
    yield server
    await server.stop()


def make_channel(receiver: TwilioReceiver, clock: SkipClock | None = None,
                 policy: DeliveryPolicy | None = None, token: str = TOKEN,
                 recipients: tuple[str, ...] = RECIPIENTS, max_length: int = 160) -> SmsChannel:
    settings = SmsSettings(account_sid=ACCOUNT, auth_token=Secret(token), sender="+15550100000",
                           recipients=recipients, base_url=receiver.url, max_length=max_length)
    return SmsChannel("pager-sms", settings, policy or fast_policy(), clock or SkipClock(),
                      MaxRandom())


async def test_sms_one_message_per_recipient(receiver: TwilioReceiver) -> None:
    channel = make_channel(receiver)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert [message["To"] for message in receiver.messages] == list(RECIPIENTS)
    assert all(message["From"] == "+15550100000" for message in receiver.messages)
    assert delivery.reference == ",".join(message["sid"] for message in receiver.messages)


async def test_sms_request_format(receiver: TwilioReceiver) -> None:
    channel = make_channel(receiver, recipients=RECIPIENTS[:1])
    await channel.send(notification())
    await channel.close()

    request = receiver.requests[0]
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Authorization"].startswith("Basic ")
    assert receiver.messages[0]["Body"] == (
        "[FIRING:1] LinkSaturated on core1 Firing. Gi0/1 on core1 at 97%")


def test_sms_body_cut_to_max_length() -> None:
    long_alert = alert(annotations={"summary": "x" * 500})
    text = message_text(notification(alerts=(long_alert,)), 100)
    assert len(text) == 100
    assert text.endswith("...")


async def test_sms_body_cut_on_the_wire(receiver: TwilioReceiver) -> None:
    channel = make_channel(receiver, recipients=RECIPIENTS[:1], max_length=20)
    await channel.send(notification())
    await channel.close()

    assert receiver.messages[0]["Body"] == "[FIRING:1] LinkSa..."


async def test_sms_retry_skips_reached_recipients(receiver: TwilioReceiver) -> None:
    # The first recipient gets the message; the second hits a 500 and is retried alone.
    channel = make_channel(receiver)
    original = channel._send_one
    calls: list[str] = []

    async def flaky(number: str, body: str) -> str:
        calls.append(number)
        if len(calls) == 2:
            receiver.fail_next(Fault(500))
        return await original(number, body)

    channel._send_one = flaky  # type: ignore[method-assign]
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert calls == ["+15550100001", "+15550100002", "+15550100002"]
    assert [message["To"] for message in receiver.messages] == list(RECIPIENTS)


async def test_sms_retries_500_then_delivers_once(receiver: TwilioReceiver) -> None:
    receiver.fail_next(Fault(500))
    clock = SkipClock()
    channel = make_channel(receiver, clock, recipients=RECIPIENTS[:1])
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert len(receiver.messages) == 1
    assert clock.waits == [1.0]


async def test_sms_invalid_number_not_retried(receiver: TwilioReceiver) -> None:
    channel = make_channel(receiver, recipients=("5550100",))
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.FAILED
    assert delivery.status == 400
    assert "21211" in delivery.detail
    assert len(receiver.requests) == 1


async def test_sms_partial_rejection_still_delivered(receiver: TwilioReceiver) -> None:
    channel = make_channel(receiver, recipients=("+15550100001", "bad-number"))
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert delivery.detail.startswith("sent to 1 of 2; rejected: bad-number: HTTP 400")


async def test_sms_honours_retry_after(receiver: TwilioReceiver) -> None:
    receiver.fail_next(Fault(429, '{"code": 20429}', {"Retry-After": "3"}))
    clock = SkipClock()
    channel = make_channel(receiver, clock, recipients=RECIPIENTS[:1])
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert clock.waits == [3.0]


async def test_sms_rate_limit_counts_recipients(receiver: TwilioReceiver) -> None:
    clock = SkipClock()
    channel = make_channel(receiver, clock, fast_policy(rate=1.0, burst=2))
    await channel.send(notification(id="n-1"))
    await channel.send(notification(id="n-2"))
    await channel.close()

    assert len(receiver.messages) == 4
    assert clock.waits == [2.0]


async def test_sms_timeout(receiver: TwilioReceiver) -> None:
    receiver.fail_next(Fault(hang=True))
    channel = make_channel(receiver, policy=fast_policy(timeout=0.05, max_attempts=1),
                           recipients=RECIPIENTS[:1])
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.RETRYABLE
    assert "timed out" in delivery.detail


async def test_sms_auth_token_never_logged(receiver: TwilioReceiver) -> None:
    channel = make_channel(receiver, token="wrong-token-abcdef0123456789")
    with captured_logs() as logs:
        delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.FAILED
    assert delivery.status == 401
    assert "wrong-token-abcdef0123456789" not in repr(logs)
    assert "wrong-token-abcdef0123456789" not in repr(channel._settings)
