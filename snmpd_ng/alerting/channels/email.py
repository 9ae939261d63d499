"""Email over SMTP (aiosmtplib): STARTTLS, implicit TLS, or plain SMTP for a local relay.

Each notification is one message to every recipient, `multipart/alternative` with a plain-text
and an HTML part, and a subject rendered from a Jinja2 template in the sandboxed environment
(see `SUBJECT_VARIABLES`). The Message-ID derives from the notification id, so a message sent
again after a lost reply carries the same id and mail systems can drop the copy.

SMTP reply codes decide retries (RFC 5321, section 4.2.1): 4yz is a transient failure and
retries, 5yz is permanent. Connection errors and timeouts retry.
"""

from __future__ import annotations

import enum
import hashlib
import html
import random
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import aiosmtplib
from jinja2 import Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from snmpd_ng.alerting.channels import summary
from snmpd_ng.alerting.channels.base import (
    AttemptError,
    Channel,
    DeliveryPolicy,
    PermanentError,
    RetryableError,
    log,
    shorten,
)
from snmpd_ng.alerting.notification import AlertView, Delivery, DeliveryKind, Notification
from snmpd_ng.clock import Clock
from snmpd_ng.secret import Secret

DEFAULT_SUBJECT = "{{ title }}"
SUBJECT_VARIABLES = ("title", "status", "event", "severity", "rules", "firing", "group_key",
                     "receiver", "tier", "alerts")
"""Names a subject template may use; `alerts` is the list of alerts with their fields."""
SUBJECT_MAX = 250

_ENVIRONMENT = SandboxedEnvironment(autoescape=False)


class SmtpSecurity(enum.Enum):
    STARTTLS = "starttls"
    """Connect in plain text, then upgrade with STARTTLS (RFC 3207); port 587."""
    TLS = "tls"
    """TLS from the first byte, "implicit TLS" (RFC 8314); port 465."""
    PLAIN = "plain"
    """No encryption; only for a relay on the same host unless explicitly allowed."""


DEFAULT_PORTS = {SmtpSecurity.STARTTLS: 587, SmtpSecurity.TLS: 465, SmtpSecurity.PLAIN: 25}


@dataclass(frozen=True)
class EmailSettings:
    host: str
    sender: str
    recipients: tuple[str, ...]
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    port: int | None = None
    """None means the usual port of `security`."""
    username: str | None = None
    password: Secret | None = None
    subject: str = DEFAULT_SUBJECT
    ca_file: str | None = None
    """A PEM bundle of CA certificates to trust in place of the system's."""
    local_hostname: str | None = None
    """The name sent in EHLO; None sends the host's fully qualified name."""


def compile_subject(text: str) -> Template:
    """Compile a subject template; raises jinja2.TemplateSyntaxError for a broken one."""
    return _ENVIRONMENT.from_string(text)


def subject_context(notification: Notification) -> dict[str, Any]:
    return {
        "title": summary.title(notification),
        "status": summary.status_word(notification),
        "event": notification.event,
        "severity": summary.top_severity(notification.alerts),
        "rules": summary.rule_names(notification),
        "firing": len(summary.active_alerts(notification)),
        "group_key": notification.group_key,
        "receiver": notification.receiver,
        "tier": notification.tier,
        "alerts": list(notification.alerts),
    }


def render_subject(template: Template, notification: Notification) -> str:
    """Render the subject on one line; a template that fails falls back to the title."""
    try:
        text = template.render(subject_context(notification))
    except TemplateError as exc:
        log.warning("email subject template failed; the title is used instead",
                    notification_id=notification.id, error=shorten(str(exc), 200))
        text = summary.title(notification)
    # Header values may not contain line breaks, so every run of whitespace becomes one space.
    line = " ".join(text.split()) or summary.title(notification)
    return line[:SUBJECT_MAX]


def html_body(notification: Notification) -> str:
    """Return the HTML part: the title, the event, and a table of the alerts."""
    rows = "".join(_html_row(alert) for alert in notification.alerts)
    escape = html.escape
    return (
        "<!DOCTYPE html>\n<html><body>\n"
        f"<h2>{escape(summary.title(notification))}</h2>\n"
        f"<p>{escape(summary.event_sentence(notification))}</p>\n"
        "<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\">\n"
        "<tr><th>Alert</th><th>State</th><th>Severity</th><th>Value</th><th>Since</th>"
        "<th>Labels</th></tr>\n"
        f"{rows}</table>\n"
        f"<p>Group: <code>{escape(notification.group_key)}</code><br>"
        f"Receiver: {escape(notification.receiver)}</p>\n"
        "</body></html>\n"
    )


def _html_row(alert: AlertView) -> str:
    cells = (summary.alert_summary(alert), alert.state, alert.severity,
             summary.format_value(alert.value), summary.format_time(alert.starts_at),
             summary.format_labels(alert.labels))
    return "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>\n"


def message_id(notification: Notification, sender: str) -> str:
    """Return a Message-ID that is the same for every attempt at one notification."""
    domain = sender.rpartition("@")[2] or "snmpd-ng.invalid"
    digest = hashlib.sha256(notification.id.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}.snmpd-ng@{domain}>"


class EmailChannel(Channel):
    type = "email"

    def __init__(self, name: str, settings: EmailSettings, policy: DeliveryPolicy,
                 clock: Clock, rng: random.Random | None = None) -> None:
        secrets = [settings.password] if settings.password else []
        super().__init__(name, policy, clock, rng, secrets=secrets)
        self._settings = settings
        self._subject = compile_subject(settings.subject)
        self._tls_context = None
        if settings.security is not SmtpSecurity.PLAIN:
            # Reads ca_file now, so a missing file is a config error and not a failed send.
            self._tls_context = ssl.create_default_context(cafile=settings.ca_file)

    def build_message(self, notification: Notification) -> EmailMessage:
        settings = self._settings
        message = EmailMessage()
        message["From"] = settings.sender
        message["To"] = ", ".join(settings.recipients)
        message["Subject"] = render_subject(self._subject, notification)
        message["Date"] = formatdate(self._clock.wall(), usegmt=True)
        message["Message-ID"] = message_id(notification, settings.sender)
        message["X-Snmpd-Ng-Notification-Id"] = notification.id
        message.set_content("\n".join(summary.text_lines(notification)) + "\n")
        message.add_alternative(html_body(notification), subtype="html")
        return message

    async def _attempt(self, notification: Notification) -> Delivery:
        message = self.build_message(notification)
        try:
            refused = await self._submit(message)
        except aiosmtplib.SMTPTimeoutError:
            raise RetryableError(f"timed out after {self.policy.timeout:g} s") from None
        except ssl.SSLCertVerificationError as exc:
            raise PermanentError(f"TLS certificate of {self._settings.host} was rejected: "
                                 f"{exc.verify_message}; set ca_file to trust it") from None
        except aiosmtplib.SMTPException as exc:
            raise _smtp_error(exc) from None
        except OSError as exc:
            raise RetryableError(f"SMTP connection failed: {exc.strerror or type(exc).__name__}")\
                from None
        detail = f"accepted by {self._settings.host} for {len(self._settings.recipients)} " \
                 "recipients"
        if refused:
            detail += "; refused: " + ", ".join(
                f"{address} ({reply.code} {shorten(reply.message, 80)})"
                for address, reply in refused.items())
        return Delivery(DeliveryKind.DELIVERED, detail, reference=str(message["Message-ID"]),
                        status=250)

    async def _submit(self, message: EmailMessage) -> dict[str, Any]:
        settings = self._settings
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port or DEFAULT_PORTS[settings.security],
            use_tls=settings.security is SmtpSecurity.TLS,
            start_tls=settings.security is SmtpSecurity.STARTTLS,
            tls_context=self._tls_context,
            local_hostname=settings.local_hostname,
            timeout=self.policy.timeout,
        )
        async with client:
            if settings.username is not None and settings.password is not None:
                await client.login(settings.username, settings.password.reveal())
            refused, _ = await client.send_message(
                message, sender=settings.sender, recipients=list(settings.recipients))
        return dict(refused)


def _smtp_error(exc: aiosmtplib.SMTPException) -> AttemptError:
    """Classify an aiosmtplib error by its reply code: 4yz retries, 5yz does not."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [refusal.code for refusal in exc.recipients]
        text = "; ".join(f"{refusal.recipient}: {refusal.code} {shorten(refusal.message, 80)}"
                         for refusal in exc.recipients)
        error_type = RetryableError if any(400 <= code < 500 for code in codes) else PermanentError
        return error_type(f"all recipients refused: {text}", status=codes[0] if codes else None)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        detail = f"SMTP {exc.code}: {shorten(exc.message, 200)}"
        if 400 <= exc.code < 500:
            return RetryableError(detail, status=exc.code)
        return PermanentError(detail, status=exc.code)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return PermanentError(f"SMTP server does not support it: {shorten(str(exc), 200)}")
    return RetryableError(f"SMTP failed: {type(exc).__name__}: {shorten(str(exc), 200)}")
