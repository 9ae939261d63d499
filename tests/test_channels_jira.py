"""The Jira channel against a loopback emulation of Jira Cloud's REST API v3."""

from __future__ import annotations

import base64
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
from receivers import Fault, JiraIssue, JiraReceiver, is_adf

from snmpd_ng.alerting.channels.base import DeliveryPolicy
from snmpd_ng.alerting.channels.jira import JiraChannel, JiraSettings, open_issue_jql
from snmpd_ng.alerting.channels.summary import group_fingerprint
from snmpd_ng.alerting.notification import DeliveryKind
from snmpd_ng.secret import Secret

EMAIL = "alerts@example.com"
TOKEN = "ATATT3xFfGF0-jira-api-token-0123456789"
GROUP = '{}:{alertname="LinkSaturated"}'


@pytest.fixture
async def receiver() -> AsyncIterator[JiraReceiver]:
    server = JiraReceiver(EMAIL, TOKEN, project="OPS")
    await server.start()
    yield server
    await server.stop()


def make_channel(receiver: JiraReceiver, clock: SkipClock | None = None,
                 policy: DeliveryPolicy | None = None, token: str = TOKEN,
                 transition: str = "Done") -> JiraChannel:
    settings = JiraSettings(base_url=receiver.url, email=EMAIL, api_token=Secret(token),
                            project="OPS", issue_type="Incident", resolve_transition=transition,
                            labels=("network",), priority_map={"critical": "Highest"})
    return JiraChannel("tickets", settings, policy or fast_policy(), clock or SkipClock(),
                       MaxRandom())


async def test_jira_firing_creates_issue(receiver: JiraReceiver) -> None:
    channel = make_channel(receiver)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert delivery.reference == "OPS-1"
    fields = receiver.issues["OPS-1"].fields
    assert fields["project"] == {"key": "OPS"}
    assert fields["issuetype"] == {"name": "Incident"}
    assert fields["summary"] == "[FIRING:1] LinkSaturated on core1"
    assert fields["labels"] == [group_fingerprint(GROUP), "snmpd-ng", "network"]
    assert fields["priority"] == {"name": "Highest"}


async def test_jira_description_is_adf(receiver: JiraReceiver) -> None:
    channel = make_channel(receiver)
    await channel.send(notification())
    await channel.close()

    description = receiver.issues["OPS-1"].fields["description"]
    assert is_adf(description)
    kinds = [node["type"] for node in description["content"]]
    assert kinds == ["heading", "paragraph", "bulletList", "paragraph"]
    item = description["content"][2]["content"][0]["content"][0]["content"]
    assert item[0] == {"type": "text", "text": "Gi0/1 on core1 at 97%",
                       "marks": [{"type": "strong"}]}


async def test_jira_requests_use_basic_auth(receiver: JiraReceiver) -> None:
    channel = make_channel(receiver)
    await channel.send(notification())
    await channel.close()

    expected = "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
    assert all(request.headers["Authorization"] == expected for request in receiver.requests)
    assert [request.path for request in receiver.requests] == [
        "/rest/api/3/search/jql", "/rest/api/3/issue"]


async def test_jira_searches_label_before_create(receiver: JiraReceiver) -> None:
    # An issue made by an attempt whose result was lost (a crash before recording it).
    label = group_fingerprint(GROUP)
    receiver.issues["OPS-7"] = JiraIssue("OPS-7", {"labels": [label, "snmpd-ng"]})
    channel = make_channel(receiver)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.reference == "OPS-7"
    assert list(receiver.issues) == ["OPS-7"]
    assert len(receiver.issues["OPS-7"].comments) == 1
    assert receiver.searches == [open_issue_jql("OPS", label)]


async def test_jira_closed_issue_not_reused(receiver: JiraReceiver) -> None:
    label = group_fingerprint(GROUP)
    receiver.issues["OPS-1"] = JiraIssue("OPS-1", {"labels": [label]}, status="Done")
    channel = make_channel(receiver)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.reference == "OPS-2"


async def test_jira_lifecycle_comment_then_resolve(receiver: JiraReceiver) -> None:
    channel = make_channel(receiver)
    await channel.send(notification())
    acked = alert(state="acknowledged", acknowledged_by="alice", ack_comment="on it")
    ack = await channel.send(notification("acknowledged", (acked,), id="n-ack"))
    resolved = await channel.send(notification("resolved", (alert(state="resolved"),),
                                                id="n-resolved"))
    await channel.close()

    issue = receiver.issues["OPS-1"]
    assert ack.detail == "commented on OPS-1"
    assert resolved.detail == "resolved OPS-1 through 'Done'"
    assert issue.status == "Done"
    assert len(issue.comments) == 2
    texts = [node["text"] for node in issue.comments[0]["content"][1]["content"]]
    assert texts == ["Acknowledged by alice: on it"]
    transition = receiver.requests[-1]
    assert transition.json() == {"transition": {"id": "31"}}


async def test_jira_resolve_without_issue_is_noop(receiver: JiraReceiver) -> None:
    channel = make_channel(receiver)
    delivery = await channel.send(notification("resolved", id="n-resolved"))
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert delivery.reference is None
    assert receiver.issues == {}


async def test_jira_unknown_transition_fails_for_good(receiver: JiraReceiver) -> None:
    channel = make_channel(receiver, transition="Close Issue")
    await channel.send(notification())
    delivery = await channel.send(notification("resolved", id="n-resolved"))
    await channel.close()

    assert delivery.kind is DeliveryKind.FAILED
    assert "no transition named 'Close Issue'" in delivery.detail
    assert "available: In Progress, Done" in delivery.detail


async def test_jira_lost_create_reply_makes_one_issue(receiver: JiraReceiver) -> None:
    # The create succeeds on the server but its reply is lost as a 502 from a proxy: the retry
    # must find the issue by its label instead of creating a second one.
    receiver.lose_create_replies = 1
    channel = make_channel(receiver)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert delivery.attempts == 2
    assert list(receiver.issues) == ["OPS-1"]
    assert delivery.reference == "OPS-1"


async def test_jira_retries_500_then_delivers_once(receiver: JiraReceiver) -> None:
    receiver.fail_next(Fault(500))
    clock = SkipClock()
    channel = make_channel(receiver, clock)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert len(receiver.issues) == 1
    assert clock.waits == [1.0]


async def test_jira_bad_token_not_retried(receiver: JiraReceiver) -> None:
    channel = make_channel(receiver, token="wrong-token-0123456789")
    with captured_logs() as logs:
        delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.FAILED
    assert delivery.status == 401
    assert len(receiver.requests) == 1
    assert "wrong-token-0123456789" not in repr(logs)


async def test_jira_honours_retry_after(receiver: JiraReceiver) -> None:
    receiver.fail_next(Fault(429, "{}", {"Retry-After": "12"}))
    clock = SkipClock()
    channel = make_channel(receiver, clock)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert clock.waits == [12.0]


async def test_jira_rate_limit(receiver: JiraReceiver) -> None:
    clock = SkipClock()
    channel = make_channel(receiver, clock, fast_policy(rate=0.1, burst=1))
    await channel.send(notification(id="n-1"))
    await channel.send(notification("repeat", id="n-2"))
    await channel.close()

    assert clock.waits == [10.0]


async def test_jira_timeout(receiver: JiraReceiver) -> None:
    receiver.fail_next(Fault(hang=True))
    channel = make_channel(receiver, policy=fast_policy(timeout=0.05, max_attempts=1))
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.RETRYABLE
    assert "timed out" in delivery.detail


async def test_jira_token_never_in_logs_or_repr(receiver: JiraReceiver) -> None:
    receiver.fail_next(Fault(500, f"token {TOKEN}"), Fault(400, f"token {TOKEN}"))
    channel = make_channel(receiver)
    with captured_logs() as logs:
        delivery = await channel.send(notification())
    await channel.close()

    assert TOKEN not in repr(logs)
    assert TOKEN not in delivery.detail
    assert TOKEN not in repr(channel)
    assert TOKEN not in repr(channel._settings)
