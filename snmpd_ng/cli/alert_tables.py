"""Human output of `snmpd-ng alerts`: tables and detail views of the API's JSON documents.

Times are printed in UTC as `2024-05-06 12:00:00Z`. Fingerprints and silence ids are cut to
ID_WIDTH characters, which the API accepts in place of the whole id while no other id starts
with the same characters.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from snmpd_ng import text_table

ID_WIDTH = 12
DETAIL_WIDTH = 70
"""Maximum characters of a history entry's detail in the table; --json shows all of it."""


def format_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Return the table with a final newline, as the commands print it."""
    return text_table.format_table(headers, rows) + "\n"


def format_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def short_id(identifier: str | None) -> str:
    return (identifier or "-")[:ID_WIDTH]


def alerts_table(alerts: Sequence[Mapping[str, Any]]) -> str:
    if not alerts:
        return "No alerts match.\n"
    rows = [(short_id(alert["fingerprint"]), alert["state"], alert["severity"], alert["rule"],
             alert["labels"].get("target", "-"), format_time(alert["active_since"]),
             _muting(alert), alert["annotations"].get("summary", ""))
            for alert in alerts]
    return format_table(("FINGERPRINT", "STATE", "SEVERITY", "RULE", "TARGET", "SINCE",
                         "MUTED", "SUMMARY"), rows)


def _muting(alert: Mapping[str, Any]) -> str:
    if alert["silenced_by"]:
        return "silenced"
    return "inhibited" if alert["inhibited_by"] else "-"


def alert_detail(alert: Mapping[str, Any]) -> str:
    """Render one alert as `name  value` lines, labels and annotations last."""
    fields = [
        ("fingerprint", alert["fingerprint"]),
        ("rule", alert["rule"]),
        ("state", alert["state"]),
        ("severity", alert["severity"]),
        ("value", _value(alert["value"])),
        ("active since", format_time(alert["active_since"])),
        ("firing since", format_time(alert["starts_at"])),
        ("resolved at", format_time(alert["ends_at"])),
        ("acknowledged", _acknowledgement(alert)),
        ("silenced by", ", ".join(alert["silenced_by"]) or "-"),
        ("inhibited by", alert["inhibited_by"] or "-"),
        ("groups", ", ".join(alert["group_keys"]) or "-"),
    ]
    lines = [f"{name:<14}{value}" for name, value in fields]
    lines.append("labels")
    lines.extend(f"  {name}={value}" for name, value in sorted(alert["labels"].items()))
    lines.append("annotations")
    lines.extend(f"  {name}: {value}" for name, value in sorted(alert["annotations"].items()))
    return "\n".join(lines) + "\n"


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _acknowledgement(alert: Mapping[str, Any]) -> str:
    if not alert["acknowledged_by"]:
        return "-"
    text = (f"by {alert['acknowledged_by']} at {format_time(alert['acknowledged_at'])} "
            f"(through {alert['ack_source']})")
    comment = alert["ack_comment"]
    return f"{text}: {comment}" if comment else text


def acknowledged(document: Mapping[str, Any]) -> str:
    alert = document["alert"]
    if not document["acknowledged"]:
        head = f"Alert {short_id(alert['fingerprint'])} was already acknowledged.\n"
    else:
        count = len(document["acknowledged"])
        noun = "alert" if count == 1 else "alerts"
        head = (f"Acknowledged {count} {noun}: {short_id(alert['fingerprint'])} "
                f"{alert['rule']} on {alert['labels'].get('target', '-')}.\n")
    return head + "".join(group_ack_line(group) for group in document.get("groups", []))


def group_acknowledged(document: Mapping[str, Any]) -> str:
    count = len(document["acknowledged"])
    noun = "alert" if count == 1 else "alerts"
    head = f"Acknowledged {count} {noun}.\n"
    return head + "".join(group_ack_line(group) for group in document["groups"])


ESCALATION_STATES = {
    "waiting": "escalation starts with the group's first notification",
    "running": "escalation continues",
    "acknowledged": "escalation stopped",
    "muted": "escalation stopped because the rest are silenced or inhibited",
    "handed_off": "escalation was handed off to PagerDuty",
}


def group_ack_line(group: Mapping[str, Any]) -> str:
    """Describe one group after an acknowledgement: what is left and whether escalation runs."""
    count = group["unacknowledged"]
    if count == 0:
        left = "every alert acknowledged"
    else:
        left = f"{count} {'alert' if count == 1 else 'alerts'} still unacknowledged"
    escalation = ESCALATION_STATES.get(group["escalation"], f"escalation {group['escalation']}")
    return f"Group {group['group_key']}: {left}, {escalation}.\n"


def silences_table(silences: Sequence[Mapping[str, Any]]) -> str:
    if not silences:
        return "No silences match.\n"
    rows = [(short_id(silence["id"]), silence["state"], format_time(silence["starts_at"]),
             format_time(silence["ends_at"]), silence["created_by"], silence["matchers"],
             silence["comment"])
            for silence in silences]
    return format_table(("ID", "STATE", "STARTS", "ENDS", "CREATED BY", "MATCHERS",
                         "COMMENT"), rows)


def silence_line(verb: str, silence: Mapping[str, Any]) -> str:
    return (f"Silence {short_id(silence['id'])} {verb}: {silence['matchers']} from "
            f"{format_time(silence['starts_at'])} to {format_time(silence['ends_at'])}.\n")


def history_table(entries: Sequence[Mapping[str, Any]]) -> str:
    if not entries:
        return "No history entries match.\n"
    rows = [(str(entry["id"]), format_time(entry["at"]), entry["kind"], entry["actor"],
             _subject(entry), _detail(entry["detail"]))
            for entry in entries]
    return format_table(("ID", "TIME", "KIND", "ACTOR", "ALERT OR GROUP", "DETAIL"), rows)


def _subject(entry: Mapping[str, Any]) -> str:
    if entry["fingerprint"]:
        return short_id(entry["fingerprint"])
    return str(entry["group_key"] or "-")


def _detail(detail: Mapping[str, Any]) -> str:
    text = json.dumps(detail, separators=(",", ":"), sort_keys=True, default=str)
    return text if len(text) <= DETAIL_WIDTH else text[:DETAIL_WIDTH - 3] + "..."
