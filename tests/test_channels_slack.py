"""The Slack channel against a loopback server that emulates Slack's incoming webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from channel_helpers import (
    MaxRandom,
    SkipClock,
    alert,
    captured_logs,
    events,
    fast_policy,
    notification,
)
from receivers import Fault, SlackReceiver

from snmpd_ng.alerting.channels import slack
from snmpd_ng.alerting.channels.base import DeliveryPolicy
from snmpd_ng.alerting.channels.slack import SlackChannel, SlackSettings
from snmpd_ng.alerting.notification import DeliveryKind
from snmpd_ng.secret import Secret


@pytest.fixture
async def receiver() -> AsyncIterator[SlackReceiver]:
    server = SlackReceiver()
    await server.start()
    yield server
    await server.stop()


def make_channel(receiver: SlackReceiver, clock: SkipClock,
                 policy: DeliveryPolicy | None = None) -> SlackChannel:
    settings = SlackSettings(Secret(receiver.webhook_url))
    return SlackChannel("ops-slack", settings, policy or fast_policy(), clock, MaxRandom())


async def test_slack_delivers_block_kit_message(receiver: SlackReceiver) -> None:
    channel = make_channel(receiver, SkipClock())
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request.path == SlackReceiver.PATH
    assert request.headers["Content-Type"] == "application/json"


async def test_slack_body_has_header_fields_context(receiver: SlackReceiver) -> None:
    channel = make_channel(receiver, SkipClock())
    await channel.send(notification())
    await channel.close()

    body = receiver.requests[0].json()
    assert body["text"] == "[FIRING:1] LinkSaturated on core1: Firing."
    header = body["blocks"][0]
    assert header == {"type": "header", "text": {"type": "plain_text",
                                                  "text": "[FIRING:1] LinkSaturated on core1",
                                                  "emoji": True}}
    attachment = body["attachments"][0]
    assert attachment["color"] == slack.COLOURS["critical"]
    kinds = [block["type"] for block in attachment["blocks"]]
    assert kinds == ["section", "section", "context"]
    fields = [field["text"] for field in attachment["blocks"][0]["fields"]]
    assert "*Severity*\ncritical" in fields
    assert "*Target*\ncore1" in fields
    assert all(field["type"] == "mrkdwn" for field in attachment["blocks"][0]["fields"])
    assert "Gi0/1 on core1 at 97%" in attachment["blocks"][1]["text"]["text"]


@pytest.mark.parametrize(("event", "state", "word", "colour"), [
    ("resolved", "resolved", "[RESOLVED]", "resolved"),
    ("acknowledged", "acknowledged", "[ACKNOWLEDGED]", "acknowledged"),
    ("repeat", "firing", "[FIRING:1, repeat]", "critical"),
])
async def test_slack_wording_by_event(receiver: SlackReceiver, event: str, state: str,
                                      word: str, colour: str) -> None:
    view = alert(state=state, acknowledged_by="alice" if event == "acknowledged" else None,
                 ack_comment="on it" if event == "acknowledged" else None)
    channel = make_channel(receiver, SkipClock())
    await channel.send(notification(event, (view,)))
    await channel.close()

    body = receiver.requests[0].json()
    assert body["blocks"][0]["text"]["text"].startswith(word)
    assert body["attachments"][0]["color"] == slack.COLOURS[colour]
    if event == "acknowledged":
        assert "Acknowledged by alice: on it" in body["text"]


async def test_slack_escapes_mrkdwn_and_clips_header(receiver: SlackReceiver) -> None:
    view = alert(rule="R" * 200, annotations={"summary": "a <b> & c"})
    channel = make_channel(receiver, SkipClock())
    await channel.send(notification(alerts=(view,)))
    await channel.close()

    body = receiver.requests[0].json()
    assert len(body["blocks"][0]["text"]["text"]) == slack.HEADER_MAX
    assert "a &lt;b&gt; &amp; c" in body["attachments"][0]["blocks"][1]["text"]["text"]


async def test_slack_many_alerts_counted_not_listed(receiver: SlackReceiver) -> None:
    views = tuple(alert(labels={"target": "core1", "ifIndex": str(index)})
                  for index in range(15))
    channel = make_channel(receiver, SkipClock())
    await channel.send(notification(alerts=views))
    await channel.close()

    blocks = receiver.requests[0].json()["attachments"][0]["blocks"]
    assert len(blocks) == 1 + slack.ALERT_SECTIONS_MAX + 1 + 1
    assert blocks[-2]["text"]["text"] == "and 5 more alerts in this group"


async def test_slack_retries_500_then_delivers_once(receiver: SlackReceiver) -> None:
    receiver.fail_next(Fault(500, "rollup_error"))
    clock = SkipClock()
    channel = make_channel(receiver, clock)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert delivery.attempts == 2
    assert len(receiver.requests) == 2
    assert clock.waits == [1.0]


async def test_slack_no_retry_on_400(receiver: SlackReceiver) -> None:
    receiver.fail_next(Fault(400, "invalid_payload"))
    channel = make_channel(receiver, SkipClock())
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.FAILED
    assert delivery.status == 400
    assert "invalid_payload" in delivery.detail
    assert len(receiver.requests) == 1


async def test_slack_honours_retry_after(receiver: SlackReceiver) -> None:
    receiver.fail_next(Fault(429, "rate_limited", {"Retry-After": "30"}))
    clock = SkipClock()
    channel = make_channel(receiver, clock)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert clock.waits == [30.0]


async def test_slack_gives_up_after_max_attempts(receiver: SlackReceiver) -> None:
    receiver.fail_next(*[Fault(503, "unavailable")] * 3)
    clock = SkipClock()
    channel = make_channel(receiver, clock)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.RETRYABLE
    assert delivery.attempts == 3
    assert clock.waits == [1.0, 2.0]


async def test_slack_rate_limit_spaces_requests(receiver: SlackReceiver) -> None:
    clock = SkipClock()
    channel = make_channel(receiver, clock, fast_policy(rate=0.5, burst=1))
    for number in range(3):
        await channel.send(notification(id=f"n-{number}"))
    await channel.close()

    assert len(receiver.requests) == 3
    assert clock.waits == [2.0, 2.0]


async def test_slack_attempt_times_out(receiver: SlackReceiver) -> None:
    receiver.fail_next(Fault(hang=True), Fault(hang=True))
    channel = make_channel(receiver, SkipClock(), fast_policy(timeout=0.05, max_attempts=2))
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.RETRYABLE
    assert delivery.detail == "timed out after 0.05 s"
    assert len(receiver.requests) == 2


async def test_slack_url_never_in_logs_or_repr(receiver: SlackReceiver) -> None:
    receiver.fail_next(Fault(500, f"echo {SlackReceiver.PATH}"), Fault(404, "no_service"))
    channel = make_channel(receiver, SkipClock())
    with captured_logs() as logs:
        delivery = await channel.send(notification())
    await channel.close()

    secret_part = SlackReceiver.PATH.rsplit("/", 1)[1]
    assert secret_part not in repr(logs)
    assert secret_part not in delivery.detail
    assert secret_part not in repr(channel)
    assert "<redacted>" in events(logs, "alert delivery attempt failed")[0]["error"]
    assert events(logs, "alert delivery failed")[0]["status"] == 404


async def test_slack_connection_refused_retries() -> None:
    receiver = SlackReceiver()
    await receiver.start()
    url = receiver.webhook_url
    await receiver.stop()
    channel = SlackChannel("ops-slack", SlackSettings(Secret(url)), fast_policy(max_attempts=2),
                           SkipClock(), MaxRandom())
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.RETRYABLE
    assert delivery.detail.startswith("cannot connect to 127.0.0.1:")
    assert "XXXXXXXX" not in delivery.detail


async def test_slack_send_after_close_is_retryable(receiver: SlackReceiver) -> None:
    channel = make_channel(receiver, SkipClock())
    await channel.close()
    delivery = await channel.send(notification())

    assert delivery.kind is DeliveryKind.RETRYABLE
    assert receiver.requests == []


async def test_slack_one_session_closed_on_close(receiver: SlackReceiver) -> None:
    channel = make_channel(receiver, SkipClock())
    await channel.send(notification(id="n-1"))
    session = channel._session
    await channel.send(notification(id="n-2"))

    assert session is not None
    assert channel._session is session
    await channel.close()
    assert session.closed
    assert channel._session is None
