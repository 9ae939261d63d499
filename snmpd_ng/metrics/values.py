"""Conversion of one polled value to one sample: its family type and its number or text."""

from __future__ import annotations

from typing import Literal

from snmpd_ng.config.model import MetricType
from snmpd_ng.polling.labels import value_text
from snmpd_ng.protocol.values import (
    Counter32,
    Counter64,
    Gauge32,
    Integer32,
    IpAddress,
    MalformedValue,
    ObjectIdentifier,
    OctetString,
    Opaque,
    TimeTicks,
)

SampleKind = Literal["counter", "gauge", "info"]

NUMERIC_KINDS: dict[type, SampleKind] = {
    Counter32: "counter",
    Counter64: "counter",
    Gauge32: "gauge",
    Integer32: "gauge",
    TimeTicks: "gauge",
}
"""Sample kinds of the exact numeric SNMP types: the fast path for the bulk of polled values."""


class UnconvertibleValue(ValueError):
    """A value that its configured metric type cannot show, such as text polled as a gauge."""


def auto_kind(value: object) -> SampleKind | None:
    """Pick the sample kind from the SNMP type: counters, numbers as gauges, text as info."""
    kind = NUMERIC_KINDS.get(type(value))
    if kind is not None:
        return kind
    if type(value) is OctetString:
        return "info"
    if isinstance(value, Counter32 | Counter64):
        return "counter"
    if isinstance(value, Opaque):
        return "info" if value.inner is None else "gauge"
    if isinstance(value, bytes | IpAddress | ObjectIdentifier):
        return "info"
    if isinstance(value, int):
        return "gauge"
    return None


def unwrap(value: object) -> object | None:
    """Return the value to export: the lenient reading of a MalformedValue, None for no data."""
    if isinstance(value, MalformedValue):
        return value.value
    return value


def convert(configured: MetricType,
            value: object) -> tuple[SampleKind, int | float | str] | None:
    """Return the sample kind and its number (counter, gauge) or label text (info).

    Returns None for values that carry no data (exceptions, NULL, a MalformedValue with no
    lenient reading) and for objects configured as "skip". Raises UnconvertibleValue when the
    configured type cannot show the value, such as text that is not a number polled as a gauge.
    """
    data = unwrap(value)
    kind = auto_kind(data)
    if kind is None or configured == "skip":
        return None
    if configured != "auto":
        kind = configured

    if kind == "info":
        text = value_text(data)
        return None if text is None else ("info", text)
    return kind, _number(data)


def _number(value: object) -> int | float:
    # Integers stay exact, so a Counter64 above 2^53 is written with all its digits. A float,
    # with its 53-bit mantissa, would lose the lowest bits here.
    if isinstance(value, Opaque) and value.inner is not None:
        return value.inner
    if isinstance(value, int):
        return int(value)

    text = (value_text(value) or "").strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise UnconvertibleValue(f"value {text!r} is not a number") from None
