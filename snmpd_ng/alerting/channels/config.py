"""The `alerting: channels:` section: one named channel per entry, checked and built.

```yaml
alerting:
  channels:
    oncall:
      type: pagerduty
      routing_key: {env: PAGERDUTY_ROUTING_KEY}
      timeout: 10s
      retry: {max_attempts: 4, base: 1s, cap: 1m, max_retry_after: 5m}
      rate_limit: {rate: 1, burst: 10}
```

Secrets take the config's usual forms (a literal, `{env: NAME}`, `{file: PATH}`) and are read by
`snmpd_ng.config.secret_sources.resolve_secret`. Every problem becomes a `ConfigIssue` whose key
path names the channel and the key, such as `alerting.channels.oncall.routing_key`; messages
never show a secret's value. docs/alerting-channels.md documents every key.
"""

from __future__ import annotations

import ipaddress
import os
import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import pydantic
from jinja2 import TemplateSyntaxError
from pydantic import Field, field_validator, model_validator
from pydantic_core import ErrorDetails

from snmpd_ng.alerting.channels import email, jira, pagerduty, servicenow, slack, sms, webhook
from snmpd_ng.alerting.channels.base import Channel, DeliveryPolicy
from snmpd_ng.clock import Clock, LoopClock
from snmpd_ng.config.build_state import BuildState
from snmpd_ng.config.errors import ConfigError, ConfigIssue, KeyPath
from snmpd_ng.config.schema import Duration, SecretSource, StrictModel
from snmpd_ng.config.secret_sources import resolve_secret
from snmpd_ng.secret import Secret

SECTION: KeyPath = ("alerting", "channels")
MAX_CHANNEL_TIMEOUT = 300.0


Text = Annotated[str, Field(min_length=1)]


def is_loopback_host(host: str) -> bool:
    """Return True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def url_problem(url: str, allow_insecure: bool) -> str | None:
    """Return why `url` cannot be used, or None. The message never repeats the URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an http or https URL with a host name"
    if parts.scheme == "http" and not (allow_insecure or is_loopback_host(parts.hostname)):
        return ("http sends credentials and alerts unencrypted; use https, or set "
                "allow_insecure: true for a receiver on a trusted network")
    return None


class RetryEntry(StrictModel):
    max_attempts: int = Field(default=4, ge=1, le=20)
    base: Duration = 1.0
    cap: Duration = 60.0
    max_retry_after: Duration = 300.0


class RateLimitEntry(StrictModel):
    rate: float = Field(default=1.0, gt=0)
    """Requests per second over time."""
    burst: int = Field(default=10, ge=1)


class ChannelEntry(StrictModel):
    """Keys every channel type has."""

    type: str
    timeout: Duration = Field(default=10.0, le=MAX_CHANNEL_TIMEOUT)
    """Seconds, above 0 and at most 300."""
    retry: RetryEntry = RetryEntry()
    rate_limit: RateLimitEntry = RateLimitEntry()
    allow_insecure: bool = False
    """Allow plain SMTP or http:// to a host that is not loopback."""

    def policy(self) -> DeliveryPolicy:
        return DeliveryPolicy(
            timeout=self.timeout, max_attempts=self.retry.max_attempts,
            backoff_base=self.retry.base, backoff_cap=self.retry.cap,
            max_retry_after=self.retry.max_retry_after,
            rate=self.rate_limit.rate, burst=self.rate_limit.burst,
        )


def _check_addresses(addresses: list[str]) -> list[str]:
    for address in addresses:
        if "@" not in address or any(char.isspace() for char in address):
            raise ValueError(f"invalid email address {address!r}: expected user@domain")
    return addresses


class EmailEntry(ChannelEntry):
    type: Literal["email"]
    host: Text
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["starttls", "tls", "plain"] = "starttls"
    username: Text | None = None
    password: SecretSource | None = None
    sender: Text = Field(alias="from")
    to: list[str] = Field(min_length=1)
    subject: str = email.DEFAULT_SUBJECT
    ca_file: Text | None = None
    local_hostname: Text | None = None

    @field_validator("to")
    @classmethod
    def _check_to(cls, value: list[str]) -> list[str]:
        return _check_addresses(value)

    @field_validator("sender")
    @classmethod
    def _check_sender(cls, value: str) -> str:
        return _check_addresses([value])[0]

    @field_validator("subject")
    @classmethod
    def _check_subject(cls, value: str) -> str:
        try:
            email.compile_subject(value)
        except TemplateSyntaxError as exc:
            raise ValueError(f"invalid template at line {exc.lineno}: {exc.message}") from None
        return value

    @model_validator(mode="after")
    def _check_security(self) -> EmailEntry:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password for SMTP AUTH, or neither")
        return self


class SlackEntry(ChannelEntry):
    type: Literal["slack"]
    webhook_url: SecretSource


class WebhookEntry(ChannelEntry):
    type: Literal["webhook"]
    url: Text
    secret: SecretSource


PagerDutySeverity = Literal["critical", "error", "warning", "info"]


def _default_severity_map() -> dict[str, PagerDutySeverity]:
    return {"critical": "critical", "warning": "warning", "info": "info"}


class PagerDutyEntry(ChannelEntry):
    type: Literal["pagerduty"]
    routing_key: SecretSource
    url: Text = pagerduty.DEFAULT_URL
    severity_map: dict[str, PagerDutySeverity] = Field(default_factory=_default_severity_map)
    source_label: Text = "target"
    client_url: Text | None = None


class SmsEntry(ChannelEntry):
    type: Literal["sms"]
    account_sid: Text
    auth_token: SecretSource
    sender: Text = Field(alias="from")
    to: list[Text] = Field(min_length=1)
    base_url: Text = sms.DEFAULT_BASE_URL
    max_length: int = Field(default=sms.DEFAULT_MAX_LENGTH, ge=10, le=1600)


class JiraEntry(ChannelEntry):
    type: Literal["jira"]
    base_url: Text
    email: Text
    api_token: SecretSource
    project: Text
    issue_type: Text = "Task"
    resolve_transition: Text = "Done"
    labels: list[Text] = Field(default_factory=list)
    priority_map: dict[str, Text] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _check_labels(cls, labels: list[str]) -> list[str]:
        for label in labels:
            if any(char.isspace() for char in label):
                raise ValueError(f"invalid label {label!r}: Jira labels cannot contain spaces")
        return labels


class ServiceNowEntry(ChannelEntry):
    type: Literal["servicenow"]
    base_url: Text
    username: Text | None = None
    password: SecretSource | None = None
    token: SecretSource | None = None
    resolve_state: Text = "6"
    close_code: Text = "Solution provided"
    close_notes: Text = "The alert condition cleared; resolved by snmpd-ng."
    fields: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> ServiceNowEntry:
        basic = self.username is not None and self.password is not None
        if basic == (self.token is not None) or (self.username is None) != (self.password is None):
            raise ValueError("give either username and password, or token, for authentication")
        return self


class _Context:
    """The state that building one channel needs: its key path, the issue list, clock and rng."""

    def __init__(self, builder: BuildState, path: KeyPath, clock: Clock,
                 rng: random.Random | None) -> None:
        self.builder = builder
        self.path = path
        self.clock = clock
        self.rng = rng

    def secret(self, key: str, source: SecretSource) -> Secret:
        return resolve_secret(self.builder, (*self.path, key), source)

    def optional_secret(self, key: str, source: SecretSource | None) -> Secret | None:
        return None if source is None else self.secret(key, source)

    def check_url(self, key: str, url: str, allow_insecure: bool) -> None:
        problem = url_problem(url, allow_insecure)
        if problem:
            self.builder.report((*self.path, key), problem)


def _build_email(name: str, entry: EmailEntry, context: _Context) -> Channel:
    plain = entry.security == "plain"
    if plain and not (entry.allow_insecure or is_loopback_host(entry.host)):
        context.builder.report((*context.path, "security"), (
            "plain SMTP sends mail and the password unencrypted; use starttls or tls, or set "
            "allow_insecure: true for a relay on a trusted network"))
    settings = email.EmailSettings(
        host=entry.host, sender=entry.sender, recipients=tuple(entry.to),
        security=email.SmtpSecurity(entry.security), port=entry.port,
        username=entry.username, password=context.optional_secret("password", entry.password),
        subject=entry.subject,
        ca_file=str(context.builder.resolve_path(entry.ca_file)) if entry.ca_file else None,
        local_hostname=entry.local_hostname,
    )
    return email.EmailChannel(name, settings, entry.policy(), context.clock, context.rng)


def _build_slack(name: str, entry: SlackEntry, context: _Context) -> Channel:
    url = context.secret("webhook_url", entry.webhook_url)
    if url:
        text = url.reveal().decode("utf-8", errors="replace")
        context.check_url("webhook_url", text, entry.allow_insecure)
    return slack.SlackChannel(name, slack.SlackSettings(url), entry.policy(), context.clock,
                              context.rng)


def _build_webhook(name: str, entry: WebhookEntry, context: _Context) -> Channel:
    context.check_url("url", entry.url, entry.allow_insecure)
    settings = webhook.WebhookSettings(entry.url, context.secret("secret", entry.secret))
    return webhook.WebhookChannel(name, settings, entry.policy(), context.clock, context.rng)


def _build_pagerduty(name: str, entry: PagerDutyEntry, context: _Context) -> Channel:
    context.check_url("url", entry.url, entry.allow_insecure)
    settings = pagerduty.PagerDutySettings(
        routing_key=context.secret("routing_key", entry.routing_key), url=entry.url,
        severity_map=dict(entry.severity_map), source_label=entry.source_label,
        client_url=entry.client_url,
    )
    return pagerduty.PagerDutyChannel(name, settings, entry.policy(), context.clock,
                                      context.rng)


def _build_sms(name: str, entry: SmsEntry, context: _Context) -> Channel:
    context.check_url("base_url", entry.base_url, entry.allow_insecure)
    settings = sms.SmsSettings(
        account_sid=entry.account_sid, auth_token=context.secret("auth_token", entry.auth_token),
        sender=entry.sender, recipients=tuple(entry.to), base_url=entry.base_url,
        max_length=entry.max_length,
    )
    return sms.SmsChannel(name, settings, entry.policy(), context.clock, context.rng)


def _build_jira(name: str, entry: JiraEntry, context: _Context) -> Channel:
    context.check_url("base_url", entry.base_url, entry.allow_insecure)
    settings = jira.JiraSettings(
        base_url=entry.base_url, email=entry.email,
        api_token=context.secret("api_token", entry.api_token), project=entry.project,
        issue_type=entry.issue_type, resolve_transition=entry.resolve_transition,
        labels=tuple(entry.labels), priority_map=dict(entry.priority_map),
    )
    return jira.JiraChannel(name, settings, entry.policy(), context.clock, context.rng)


def _build_servicenow(name: str, entry: ServiceNowEntry, context: _Context) -> Channel:
    context.check_url("base_url", entry.base_url, entry.allow_insecure)
    settings = servicenow.ServiceNowSettings(
        base_url=entry.base_url, username=entry.username,
        password=context.optional_secret("password", entry.password),
        token=context.optional_secret("token", entry.token),
        resolve_state=entry.resolve_state, close_code=entry.close_code,
        close_notes=entry.close_notes, fields=dict(entry.fields),
    )
    return servicenow.ServiceNowChannel(name, settings, entry.policy(), context.clock,
                                        context.rng)


Builder = Callable[[str, Any, _Context], Channel]

CHANNEL_TYPES: dict[str, tuple[type[ChannelEntry], Builder]] = {
    "email": (EmailEntry, _build_email),
    "slack": (SlackEntry, _build_slack),
    "webhook": (WebhookEntry, _build_webhook),
    "pagerduty": (PagerDutyEntry, _build_pagerduty),
    "sms": (SmsEntry, _build_sms),
    "jira": (JiraEntry, _build_jira),
    "servicenow": (ServiceNowEntry, _build_servicenow),
}


def build_channels(raw: object, *, clock: Clock | None = None,
                   rng: random.Random | None = None, base_dir: Path | None = None,
                   environ: Mapping[str, str] | None = None, source: str = "config",
                   lines: Mapping[KeyPath, int] | None = None) -> dict[str, Channel]:
    """Check the `alerting: channels:` mapping and build one channel per entry.

    `raw` is the section as YAML parsed it. Relative paths (secret files, ca_file) resolve
    against `base_dir`. Raises ConfigError listing every problem, each with the channel's key
    path; nothing is sent and no connection is opened here.
    """
    builder = BuildState(source, base_dir or Path.cwd(),
                         os.environ if environ is None else environ, lines or {})
    channels = _build_all(raw, builder, clock or LoopClock(), rng)
    if builder.issues:
        raise ConfigError(source, builder.issues)
    return channels


def check_channels(raw: object, *, base_dir: Path | None = None,
                   environ: Mapping[str, str] | None = None,
                   lines: Mapping[KeyPath, int] | None = None) -> list[ConfigIssue]:
    """Return every problem of the section, for `check-config`; an empty list means valid."""
    try:
        build_channels(raw, base_dir=base_dir, environ=environ, lines=lines)
    except ConfigError as exc:
        return list(exc.issues)
    return []


def _build_all(raw: object, builder: BuildState, clock: Clock,
               rng: random.Random | None) -> dict[str, Channel]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        builder.report(SECTION, "expected a mapping of channel names to channel settings")
        return {}
    channels: dict[str, Channel] = {}
    for name, entry in raw.items():
        path = (*SECTION, str(name))
        channel = _build_one(str(name), entry, _Context(builder, path, clock, rng))
        if channel is not None:
            channels[str(name)] = channel
    return channels


def _build_one(name: str, raw: object, context: _Context) -> Channel | None:
    if not name or any(char.isspace() for char in name):
        context.builder.report(context.path, "invalid channel name: use a name without spaces")
        return None
    if not isinstance(raw, Mapping):
        context.builder.report(context.path, "expected a mapping with a `type` key")
        return None
    kind = raw.get("type")
    if kind not in CHANNEL_TYPES:
        allowed = ", ".join(CHANNEL_TYPES)
        found = "missing" if kind is None else f"invalid value {kind!r}"
        context.builder.report((*context.path, "type"), f"{found}; allowed values: {allowed}")
        return None
    model, build = CHANNEL_TYPES[str(kind)]
    try:
        entry = model.model_validate(raw)
    except pydantic.ValidationError as exc:
        for error in exc.errors():
            _report_schema_error(context, model, error)
        return None
    return _construct(name, entry, build, context)


def _construct(name: str, entry: ChannelEntry, build: Builder, context: _Context) -> Channel | None:
    try:
        return build(name, entry, context)
    except OSError as exc:
        # The only I/O of a build: reading an email channel's ca_file into a TLS context
        # (ssl.SSLError, for a file that is not PEM, is an OSError too).
        reason = exc.strerror or type(exc).__name__
        context.builder.report((*context.path, "ca_file"), f"cannot load CA file: {reason}")
        return None


def _report_schema_error(context: _Context, model: type[ChannelEntry],
                         error: ErrorDetails) -> None:
    location: KeyPath = tuple(error["loc"])
    path = (*context.path, *location)
    kind = error["type"]
    if kind == "missing":
        message = f"missing required key {location[-1]!r}"
    elif kind == "extra_forbidden":
        allowed = sorted(field.alias or key for key, field in model.model_fields.items())
        message = f"unknown key {location[-1]!r}; allowed keys: {', '.join(allowed)}"
    elif kind == "value_error":
        message = str(error.get("ctx", {}).get("error", error["msg"]))
    else:
        text = error["msg"]
        message = f"invalid value: {text[:1].lower()}{text[1:]}"
    context.builder.report(path, message)
