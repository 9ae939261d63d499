"""The `alerting: channels:` section: building channels, and errors that name channel and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from channel_helpers import SkipClock

from snmpd_ng.alerting.channels.config import build_channels, check_channels, url_problem
from snmpd_ng.alerting.channels.email import EmailChannel
from snmpd_ng.alerting.channels.jira import JiraChannel
from snmpd_ng.alerting.channels.pagerduty import DEFAULT_URL, PagerDutyChannel
from snmpd_ng.alerting.channels.servicenow import ServiceNowChannel
from snmpd_ng.alerting.channels.slack import SlackChannel
from snmpd_ng.alerting.channels.sms import SmsChannel
from snmpd_ng.alerting.channels.webhook import WebhookChannel
from snmpd_ng.config.errors import ConfigError, format_key_path

FULL = """
mail:
  type: email
  host: smtp.example.com
  username: alerts
  password: {env: SMTP_PASSWORD}
  from: alerts@example.com
  to: [noc@example.com]
  subject: "[snmpd-ng] {{ title }}"
chat:
  type: slack
  webhook_url: {file: slack-url.txt}
hook:
  type: webhook
  url: https://hooks.example.com/snmpd-ng
  secret: {env: WEBHOOK_SECRET}
pager:
  type: pagerduty
  routing_key: {env: PD_KEY}
  timeout: 5s
  retry: {max_attempts: 6, base: 500ms, cap: 2m, max_retry_after: 10m}
  rate_limit: {rate: 2, burst: 20}
text:
  type: sms
  account_sid: AC0123
  auth_token: {env: TWILIO_TOKEN}
  from: "+15550100000"
  to: ["+15550100001"]
tickets:
  type: jira
  base_url: https://example.atlassian.net
  email: alerts@example.com
  api_token: {env: JIRA_TOKEN}
  project: OPS
itsm:
  type: servicenow
  base_url: https://example.service-now.com
  username: integration
  password: {env: SNOW_PASSWORD}
"""

ENVIRON = {
    "SMTP_PASSWORD": "smtp-secret-value", "WEBHOOK_SECRET": "hmac-secret-value",
    "PD_KEY": "pd-secret-value-0123456789abcdef", "TWILIO_TOKEN": "twilio-secret-value",
    "JIRA_TOKEN": "jira-secret-value", "SNOW_PASSWORD": "snow-secret-value",
}
SLACK_URL = "https://hooks.slack.com/services/T0/B0/slack-secret-value"


def load(text: str) -> Any:
    return yaml.safe_load(text)


def issues_of(raw: object, tmp_path: Path, environ: dict[str, str] | None = None) -> list[str]:
    issues = check_channels(raw, base_dir=tmp_path,
                            environ=ENVIRON if environ is None else environ)
    return [f"{format_key_path(issue.path)}: {issue.message}" for issue in issues]


def test_config_builds_every_channel_type(tmp_path: Path) -> None:
    (tmp_path / "slack-url.txt").write_text(SLACK_URL + "\n")
    channels = build_channels(load(FULL), clock=SkipClock(), base_dir=tmp_path,
                              environ=ENVIRON)

    types = {name: type(channel) for name, channel in channels.items()}
    assert types == {"mail": EmailChannel, "chat": SlackChannel, "hook": WebhookChannel,
                     "pager": PagerDutyChannel, "text": SmsChannel, "tickets": JiraChannel,
                     "itsm": ServiceNowChannel}


def test_config_policy_from_keys(tmp_path: Path) -> None:
    (tmp_path / "slack-url.txt").write_text(SLACK_URL)
    channels = build_channels(load(FULL), clock=SkipClock(), base_dir=tmp_path,
                              environ=ENVIRON)

    policy = channels["pager"].policy
    assert policy.timeout == 5.0
    assert policy.max_attempts == 6
    assert policy.backoff_base == 0.5
    assert policy.backoff_cap == 120.0
    assert policy.max_retry_after == 600.0
    assert policy.rate == 2.0
    assert policy.burst == 20
    assert channels["mail"].policy.timeout == 10.0


def test_config_defaults_to_real_endpoints(tmp_path: Path) -> None:
    raw = load("p: {type: pagerduty, routing_key: abc}\n"
               "s: {type: sms, account_sid: AC1, auth_token: t, from: '+1555', to: ['+1556']}")
    channels = build_channels(raw, clock=SkipClock(), base_dir=tmp_path, environ={})

    assert channels["p"]._settings.url == DEFAULT_URL  # type: ignore[attr-defined]
    assert channels["s"]._settings.base_url == "https://api.twilio.com"  # type: ignore[attr-defined]


def test_config_empty_section_builds_nothing(tmp_path: Path) -> None:
    assert build_channels(None, base_dir=tmp_path, environ={}) == {}


@pytest.mark.parametrize(("text", "expected"), [
    ("x: {type: teams}",
     "alerting.channels.x.type: invalid value 'teams'; allowed values: email, slack, "
     "webhook, pagerduty, sms, jira, servicenow"),
    ("x: {webhook_url: a}",
     "alerting.channels.x.type: missing; allowed values: email, slack, webhook, pagerduty, "
     "sms, jira, servicenow"),
    ("x: {type: pagerduty}", "alerting.channels.x.routing_key: missing required key "
                             "'routing_key'"),
    ("x: {type: pagerduty, routing_key: k, colour: red}",
     "alerting.channels.x.colour: unknown key 'colour'; allowed keys: allow_insecure, "
     "client_url, rate_limit, retry, routing_key, severity_map, source_label, timeout, type, "
     "url"),
    ("x: {type: pagerduty, routing_key: k, timeout: 10 minutes}",
     "alerting.channels.x.timeout: invalid duration '10 minutes': use a number of seconds, "
     "or a number with ms, s, m or h such as 500ms, 30s, 5m"),
    ("x: {type: pagerduty, routing_key: k, timeout: 1h}",
     "alerting.channels.x.timeout: invalid value: input should be less than or equal to 300"),
    ("x: {type: pagerduty, routing_key: k, retry: {max_attempts: 0}}",
     "alerting.channels.x.retry.max_attempts: invalid value: input should be greater than or "
     "equal to 1"),
    ("x: {type: pagerduty, routing_key: k, severity_map: {critical: page}}",
     "alerting.channels.x.severity_map.critical: invalid value: input should be 'critical', "
     "'error', 'warning' or 'info'"),
    ("x: {type: webhook, url: 'http://hooks.example.com/', secret: s}",
     "alerting.channels.x.url: http sends credentials and alerts unencrypted; use https, or "
     "set allow_insecure: true for a receiver on a trusted network"),
    ("x: {type: email, host: smtp.example.com, security: plain, from: a@example.com, to: "
     "[b@example.com]}",
     "alerting.channels.x.security: plain SMTP sends mail and the password unencrypted; use "
     "starttls or tls, or set allow_insecure: true for a relay on a trusted network"),
    ("x: {type: email, host: h, from: a@example.com, to: [nobody]}",
     "alerting.channels.x.to: invalid email address 'nobody': expected user@domain"),
    ("x: {type: email, host: h, from: a@example.com, to: [b@example.com], subject: '{{ x'}",
     "alerting.channels.x.subject: invalid template at line 1: unexpected end of template, "
     "expected 'end of print statement'."),
    ("x: {type: servicenow, base_url: 'https://sn.example.com'}",
     "alerting.channels.x: give either username and password, or token, for authentication"),
    ("x: {type: jira, base_url: 'https://j.example.com', email: e, api_token: t, project: P, "
     "labels: [two words]}",
     "alerting.channels.x.labels: invalid label 'two words': Jira labels cannot contain spaces"),
    ("'two words': {type: pagerduty, routing_key: k}",
     "alerting.channels.two words: invalid channel name: use a name without spaces"),
])
def test_config_error_names_channel_and_key(tmp_path: Path, text: str, expected: str) -> None:
    assert issues_of(load(text), tmp_path) == [expected]


def test_config_plain_smtp_allowed_on_loopback(tmp_path: Path) -> None:
    raw = load("x: {type: email, host: 127.0.0.1, security: plain, from: a@example.com, "
               "to: [b@example.com]}")
    assert issues_of(raw, tmp_path) == []


def test_config_plain_smtp_allowed_explicitly(tmp_path: Path) -> None:
    raw = load("x: {type: email, host: relay.lan, security: plain, allow_insecure: true, "
               "from: a@example.com, to: [b@example.com]}")
    assert issues_of(raw, tmp_path) == []


def test_config_missing_secret_names_variable(tmp_path: Path) -> None:
    raw = load("x: {type: pagerduty, routing_key: {env: PD_KEY}}")
    assert issues_of(raw, tmp_path, environ={}) == [
        "alerting.channels.x.routing_key: environment variable PD_KEY is not set"]


def test_config_missing_secret_file(tmp_path: Path) -> None:
    raw = load("x: {type: slack, webhook_url: {file: nowhere.txt}}")
    [issue] = issues_of(raw, tmp_path)
    assert issue.startswith("alerting.channels.x.webhook_url: cannot read secret file")


def test_config_slack_url_checked_without_showing_it(tmp_path: Path) -> None:
    raw = load("x: {type: slack, webhook_url: {env: SLACK}}")
    issues = issues_of(raw, tmp_path, environ={"SLACK": "hooks.slack.com/services/T/B/secret1"})
    assert issues == ["alerting.channels.x.webhook_url: not an http or https URL with a host "
                      "name"]


def test_config_jira_url_checked(tmp_path: Path) -> None:
    raw = load("x: {type: jira, base_url: example.atlassian.net, email: e, api_token: t, "
               "project: P}")
    assert issues_of(raw, tmp_path) == [
        "alerting.channels.x.base_url: not an http or https URL with a host name"]


def test_config_missing_ca_file(tmp_path: Path) -> None:
    raw = load("x: {type: email, host: h, from: a@example.com, to: [b@example.com], "
               "ca_file: missing.pem}")
    assert issues_of(raw, tmp_path) == [
        "alerting.channels.x.ca_file: cannot load CA file: No such file or directory"]


def test_config_ca_file_not_pem(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    raw = load("x: {type: email, host: h, from: a@example.com, to: [b@example.com], "
               "ca_file: ca.pem}")
    [issue] = issues_of(raw, tmp_path)
    assert issue.startswith("alerting.channels.x.ca_file: cannot load CA file: ")


def test_config_errors_never_show_secrets(tmp_path: Path) -> None:
    raw = load("x: {type: pagerduty, routing_key: {env: PD_KEY, value: topsecret-value}}\n"
               "y: {type: webhook, url: 'ftp://h', secret: topsecret-value}")
    with pytest.raises(ConfigError) as caught:
        build_channels(raw, base_dir=tmp_path, environ={"PD_KEY": "topsecret-value"})
    assert "topsecret-value" not in str(caught.value)
    assert len(caught.value.issues) == 2


def test_config_every_problem_reported_at_once(tmp_path: Path) -> None:
    raw = load("a: {type: pagerduty}\nb: {type: slack}\nc: {type: nope}")
    assert len(issues_of(raw, tmp_path)) == 3


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://events.pagerduty.com/v2/enqueue", True),
    ("http://127.0.0.1:8080/hook", True),
    ("http://[::1]/hook", True),
    ("http://localhost/hook", True),
    ("http://hooks.example.com/hook", False),
    ("ftp://example.com/", False),
    ("https:///no-host", False),
])
def test_url_problem(url: str, allowed: bool) -> None:
    assert (url_problem(url, allow_insecure=False) is None) is allowed
