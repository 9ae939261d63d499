"""The metric and label naming rule (docs/decisions/0004-metric-names.md).

Polled values are named after their MIB object with no prefix, as snmp_exporter names them, and
characters Prometheus does not allow in a name become underscores.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

CounterNaming = Literal["object", "total"]
"""The exposition of SNMP counters.

"object" (the default) keeps the object's name (ifHCInOctets) and exposes the family as untyped,
because prometheus-client appends `_total` to every counter family, which would rename the series
that snmp_exporter dashboards query. "total" exposes a typed counter named ifHCInOctets_total.
"""

TARGET_LABEL = "target"

_INVALID_METRIC_CHARS = re.compile(r"[^a-zA-Z0-9_:]")
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


@lru_cache(maxsize=4096)
def metric_name(name: str) -> str:
    """Return `name` with every character outside [a-zA-Z0-9_:] replaced by an underscore."""
    cleaned = _INVALID_METRIC_CHARS.sub("_", name)
    if not cleaned or cleaned[0].isdigit():
        cleaned = "_" + cleaned
    return cleaned


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
