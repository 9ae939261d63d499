"""Notification channels: email, Slack, generic webhook, PagerDuty, SMS, Jira and ServiceNow.

Every channel implements `Channel.send(notification) -> Delivery` (snmpd_ng.alerting.channels
.base) with shared timeouts, retries and rate limiting; `config.build_channels` builds them from
the `alerting: channels:` section.
"""
