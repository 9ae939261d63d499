"""The email channel against aiosmtpd on loopback: STARTTLS, implicit TLS, plain, AUTH."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from channel_helpers import (
    MaxRandom,
    SkipClock,
    alert,
    captured_logs,
    fast_policy,
    notification,
)
from receivers import SmtpReceiver, make_certificate

from snmpd_ng.alerting.channels.base import DeliveryPolicy
from snmpd_ng.alerting.channels.email import (
    EmailChannel,
    EmailSettings,
    SmtpSecurity,
    compile_subject,
    render_subject,
)
from snmpd_ng.alerting.notification import DeliveryKind
from snmpd_ng.secret import Secret

PASSWORD = "smtp-password-0123456789"
RECIPIENTS = ("noc@example.com", "oncall@example.com")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
async def server(certificate: tuple[Path, Path]) -> AsyncIterator[SmtpReceiver]:
    receiver = SmtpReceiver(certificate, "starttls", password=PASSWORD)
    await receiver.start()
    yield receiver
    await receiver.stop()


def make_channel(server: SmtpReceiver, certificate: tuple[Path, Path],
                 security: SmtpSecurity = SmtpSecurity.STARTTLS, password: str = PASSWORD,
                 policy: DeliveryPolicy | None = None, clock: SkipClock | None = None,
                 subject: str = "{{ title }}") -> EmailChannel:
    settings = EmailSettings(
        host="127.0.0.1", port=server.port, security=security, sender="alerts@example.com",
        recipients=RECIPIENTS, username="alerts", password=Secret(password),
        subject=subject, ca_file=str(certificate[0]), local_hostname="snmpd-ng.test",
    )
    return EmailChannel("mail", settings, policy or fast_policy(),
                        clock or SkipClock(wall_start=1_714_564_800.0), MaxRandom())


async def test_email_starttls_auth_delivers(server: SmtpReceiver,
                                            certificate: tuple[Path, Path]) -> None:
    channel = make_channel(server, certificate)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert len(server.mails) == 1
    mail = server.mails[0]
    assert mail.tls
    assert mail.authenticated_as == "alerts"
    assert mail.sender == "alerts@example.com"
    assert mail.recipients == list(RECIPIENTS)


async def test_email_message_is_multipart_alternative(server: SmtpReceiver,
                                                      certificate: tuple[Path, Path]) -> None:
    channel = make_channel(server, certificate)
    delivery = await channel.send(notification())
    await channel.close()

    message = server.mails[0].message
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert message["Subject"] == "[FIRING:1] LinkSaturated on core1"
    assert message["To"] == "noc@example.com, oncall@example.com"
    assert message["Date"].datetime == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert message["Message-ID"] == delivery.reference
    assert message["X-Snmpd-Ng-Notification-Id"] == "n-firing-1"


async def test_email_bodies_describe_alerts(server: SmtpReceiver,
                                            certificate: tuple[Path, Path]) -> None:
    view = alert(annotations={"summary": "load <high> & rising"})
    channel = make_channel(server, certificate)
    await channel.send(notification(alerts=(view,)))
    await channel.close()

    text_part, html_part = server.mails[0].message.iter_parts()
    text = text_part.get_content()
    html = html_part.get_content()
    assert "- load <high> & rising" in text
    assert "since: 2024-05-01T11:50:00Z" in text
    assert "<td>load &lt;high&gt; &amp; rising</td>" in html
    assert "<h2>[FIRING:1] LinkSaturated on core1</h2>" in html


async def test_email_auth_login_mechanism(certificate: tuple[Path, Path]) -> None:
    server = SmtpReceiver(certificate, "starttls", password=PASSWORD,
                          exclude_mechanisms=("PLAIN",))
    await server.start()
    channel = make_channel(server, certificate)
    delivery = await channel.send(notification())
    await channel.close()
    await server.stop()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert server.auth_mechanisms == ["LOGIN"]
    assert server.mails[0].authenticated_as == "alerts"


async def test_email_implicit_tls(certificate: tuple[Path, Path]) -> None:
    server = SmtpReceiver(certificate, "tls", password=PASSWORD)
    await server.start()
    channel = make_channel(server, certificate, SmtpSecurity.TLS)
    delivery = await channel.send(notification())
    await channel.close()
    await server.stop()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert server.mails[0].tls


async def test_email_plain_on_loopback(certificate: tuple[Path, Path]) -> None:
    server = SmtpReceiver(certificate, "plain")
    await server.start()
    settings = EmailSettings(host="127.0.0.1", port=server.port, security=SmtpSecurity.PLAIN,
                             sender="alerts@example.com", recipients=RECIPIENTS[:1])
    channel = EmailChannel("relay", settings, fast_policy(), SkipClock(), MaxRandom())
    delivery = await channel.send(notification())
    await channel.close()
    await server.stop()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert not server.mails[0].tls
    assert server.mails[0].authenticated_as is None


async def test_email_untrusted_certificate_fails(server: SmtpReceiver,
                                                 certificate: tuple[Path, Path]) -> None:
    settings = EmailSettings(host="127.0.0.1", port=server.port, sender="alerts@example.com",
                             recipients=RECIPIENTS, username="alerts",
                             password=Secret(PASSWORD))
    channel = EmailChannel("mail", settings, fast_policy(max_attempts=1), SkipClock(),
                           MaxRandom())
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.FAILED
    assert delivery.detail.startswith("TLS certificate of 127.0.0.1 was rejected")
    assert server.mails == []


async def test_email_templated_subject(server: SmtpReceiver,
                                       certificate: tuple[Path, Path]) -> None:
    template = "{{ status }} {{ severity | upper }}: {{ firing }} x {{ rules }}"
    channel = make_channel(server, certificate, subject=template)
    await channel.send(notification())
    await channel.close()

    assert server.mails[0].message["Subject"] == "FIRING CRITICAL: 1 x LinkSaturated"


def test_email_subject_on_one_line() -> None:
    template = compile_subject("{{ title }}\nBcc: someone@example.net")
    subject = render_subject(template, notification())
    assert "\n" not in subject
    assert subject.endswith("Bcc: someone@example.net")


def test_email_subject_sandbox_falls_back_to_title() -> None:
    template = compile_subject("{{ alerts[0].__class__.__mro__ }}")
    with captured_logs() as logs:
        subject = render_subject(template, notification())
    assert subject == "[FIRING:1] LinkSaturated on core1"
    assert logs[0]["event"] == "email subject template failed; the title is used instead"


async def test_email_wrong_password_not_retried(server: SmtpReceiver,
                                                certificate: tuple[Path, Path]) -> None:
    channel = make_channel(server, certificate, password="wrong-password-0123456789")
    with captured_logs() as logs:
        delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.FAILED
    assert delivery.status == 535
    assert server.auth_mechanisms == ["PLAIN", "LOGIN"]
    assert "wrong-password-0123456789" not in repr(logs)
    assert "wrong-password-0123456789" not in delivery.detail


async def test_email_4xx_retries_then_delivers_once(server: SmtpReceiver,
                                                    certificate: tuple[Path, Path]) -> None:
    server.data_replies.append("451 4.3.0 Try again later")
    clock = SkipClock()
    channel = make_channel(server, certificate, clock=clock)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.DELIVERED
    assert delivery.attempts == 2
    assert len(server.mails) == 2
    assert server.mails[0].message["Message-ID"] == server.mails[1].message["Message-ID"]
    assert clock.waits == [1.0]


async def test_email_5xx_not_retried(server: SmtpReceiver,
                                     certificate: tuple[Path, Path]) -> None:
    server.data_replies.append("554 5.6.0 Message rejected")
    channel = make_channel(server, certificate)
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.FAILED
    assert delivery.status == 554
    assert delivery.attempts == 1


async def test_email_connection_refused_retries(certificate: tuple[Path, Path]) -> None:
    server = SmtpReceiver(certificate, "starttls")
    await server.start()
    await server.stop()
    clock = SkipClock()
    channel = make_channel(server, certificate, clock=clock, policy=fast_policy(max_attempts=2))
    delivery = await channel.send(notification())
    await channel.close()

    assert delivery.kind is DeliveryKind.RETRYABLE
    assert delivery.attempts == 2
    assert clock.waits == [1.0]


async def test_email_rate_limit(server: SmtpReceiver, certificate: tuple[Path, Path]) -> None:
    clock = SkipClock()
    channel = make_channel(server, certificate, clock=clock,
                           policy=fast_policy(rate=1 / 60, burst=1))
    await channel.send(notification(id="n-1"))
    await channel.send(notification(id="n-2"))
    await channel.close()

    assert len(server.mails) == 2
    assert clock.waits == [pytest.approx(60.0)]


async def test_email_timeout(certificate: tuple[Path, Path]) -> None:
    # A listener that accepts the connection and never sends the SMTP greeting.
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    settings = EmailSettings(host="127.0.0.1", port=port, sender="alerts@example.com",
                             recipients=RECIPIENTS, ca_file=str(certificate[0]))
    channel = EmailChannel("mail", settings, fast_policy(timeout=0.05, max_attempts=1),
                           SkipClock(), MaxRandom())
    delivery = await channel.send(notification())
    await channel.close()
    listener.close()

    assert delivery.kind is DeliveryKind.RETRYABLE
    assert delivery.detail == "timed out after 0.05 s"


def test_email_password_not_in_repr(certificate: tuple[Path, Path]) -> None:
    settings = EmailSettings(host="127.0.0.1", sender="a@example.com", recipients=RECIPIENTS,
                             username="alerts", password=Secret(PASSWORD))
    channel = EmailChannel("mail", settings, fast_policy(), SkipClock())
    assert PASSWORD not in repr(channel)
    assert PASSWORD not in repr(settings)
