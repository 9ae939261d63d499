r"""Pieces of the Prometheus text exposition format, version 0.0.4.

The format, as Prometheus documents it ("Exposition formats", text-based format):
a family is `# HELP name text` and `# TYPE name type` followed by its sample lines
`name{label="value",...} value`. In HELP text a backslash and a line feed are escaped as `\\`
and `\n`. In label values a double quote is escaped as `\"` too. Values are Go float literals,
with `NaN`, `+Inf` and `-Inf` for the special values. Unlike OpenMetrics, 0.0.4 does not
require a counter's samples to end in `_total`, so `# TYPE ifHCInOctets counter` followed by
`ifHCInOctets 1` is valid.

Metric and label names are not checked here, because `snmpd_ng.metrics.naming` makes them
valid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_MAX_EXACT_FLOAT_INTEGER = 2.0**64
"""Integral floats below this magnitude are written as integers, without a fraction or
exponent. Above it, `repr` is shorter (1e+300 rather than 301 digits) and still exact."""

_LABEL_VALUE_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})
_HELP_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n"})


def escape_label_value(value: str) -> str:
    """Escape a backslash, a double quote and a line feed, the three the format requires."""
    return value.translate(_LABEL_VALUE_ESCAPES)


def escape_help(text: str) -> str:
    """Escape a backslash and a line feed in HELP text; quotes stay as they are."""
    return text.translate(_HELP_ESCAPES)


def format_labels(labels: Mapping[str, str]) -> str:
    """Return `{name="value",...}` with the labels sorted by name, or "" for no labels."""
    if not labels:
        return ""
    pairs = [f'{name}="{escape_label_value(labels[name])}"' for name in sorted(labels)]
    return "{" + ",".join(pairs) + "}"


def format_value(value: int | float) -> str:
    """Write a sample value so that Prometheus reads back the nearest float to it.

    Integers are written in full: a Counter64 above 2^53 keeps every digit, and Prometheus
    rounds it once, to the nearest float, when it parses it. An integral float is written
    without `.0`, and other floats as Python's shortest repr that reads back exactly.
    """
    if isinstance(value, int):
        return int.__repr__(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < _MAX_EXACT_FLOAT_INTEGER:
        return int.__repr__(int(value))
    return repr(value)


def format_header(name: str, help_text: str, family_type: str) -> str:
    """Return the HELP and TYPE lines of a family; `family_type` is written as given."""
    return f"# HELP {name} {escape_help(help_text)}\n# TYPE {name} {family_type}\n"


def format_sample(name: str, labels: Mapping[str, str], value: int | float) -> str:
    """Return one sample line, line feed included."""
    return f"{name}{format_labels(labels)} {format_value(value)}\n"


@runtime_checkable
class TextExposed(Protocol):
    """A collector that also writes its samples itself, in this format.

    /metrics joins `render_text()` with prometheus-client's rendering of the other collectors,
    and never calls such a collector's `collect`.
    """

    def render_text(self) -> bytes:
        """Return complete families in the text format 0.0.4, UTF-8."""
        ...
