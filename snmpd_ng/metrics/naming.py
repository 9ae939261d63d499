"""The metric and label naming rule (docs/decisions/0004-metric-names.md).

Polled values are named after their MIB object with no prefix, as snmp_exporter names them, and
characters Prometheus does not allow in a name become underscores.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

CounterNaming = Literal["object", "total"]
"""The name of an SNMP counter's family; its type is `counter` either way.

"object" (the default) keeps the object's name, `ifHCInOctets`, as snmp_exporter does, so its
dashboards and rules work unchanged. "total" appends `_total`, `ifHCInOctets_total`, for users
who follow Prometheus's naming guide or OpenMetrics.
"""

TARGET_LABEL = "target"

RESERVED_LABELS = {
    TARGET_LABEL: "set from the target's name",
    "job": "set from the job's name on the polling metrics, and by Prometheus to its scrape job",
    "instance": "set by Prometheus to the address it scrapes",
    "kind": "set by snmp_poll_errors_total and the SNMPv3 counters snmp_target_reports_total, "
            "snmp_target_security_errors_total and snmp_target_security_drops_total to a kind",
    "exception": "set by snmp_poll_exception_values_total to the exception's name",
    "status": "set by snmp_target_error_status_responses_total to the error-status name",
}
"""Label names that a target's configured labels may not use, with what sets them. These are
the labels that share a series with the target's labels; a clash would make Prometheus rename
one of them to `exported_<name>`."""

RESERVED_PREFIXES = ("snmp_", "snmpd_ng_", "process_", "python_")
"""Metric name prefixes of the daemon's own metrics: polling health, the daemon's statistics,
and prometheus-client's process and Python collectors. A polled object whose metric name starts
with one is left out, so that no family name appears twice in /metrics. ASN.1 identifiers
contain no underscore, so only names set in the config, or MIB names with hyphens (which
become underscores), can hit this. The config loader rejects such names; the renderer still
leaves them out for callers that build an `ObjectSpec` themselves."""

_INVALID_METRIC_CHARS = re.compile(r"[^a-zA-Z0-9_:]")
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


@lru_cache(maxsize=4096)
def metric_name(name: str) -> str:
    """Return `name` with every character outside [a-zA-Z0-9_:] replaced by an underscore."""
    cleaned = _INVALID_METRIC_CHARS.sub("_", name)
    if not cleaned or cleaned[0].isdigit():
        cleaned = "_" + cleaned
    return cleaned


def is_reserved_name(name: str) -> bool:
    """Tell whether a polled object's metric name is reserved for the daemon's own metrics."""
    return name.startswith(RESERVED_PREFIXES)


@lru_cache(maxsize=4096)
def label_name(name: str) -> str:
    """Return `name` as a valid label name that does not use the reserved `__` prefix."""
    cleaned = _INVALID_LABEL_CHARS.sub("_", name)
    if not cleaned or cleaned[0].isdigit():
        cleaned = "_" + cleaned
    if cleaned.startswith("__"):
        cleaned = "_" + cleaned.lstrip("_")
    return cleaned


def add_label(labels: dict[str, str], name: str, value: str) -> None:
    """Add a label, renaming it to `exported_<name>` if an earlier label has the name.

    Earlier labels win because they are the more general ones (target, then the target's
    configured labels, then index labels, then lookups), as Prometheus renames scraped labels
    that clash with target labels.
    """
    key = label_name(name)
    if key in labels:
        key = "exported_" + key
    labels[key] = value
