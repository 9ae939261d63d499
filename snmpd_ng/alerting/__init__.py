"""Alerting: rules, alert lifecycle, grouping, escalation and notification channels."""
