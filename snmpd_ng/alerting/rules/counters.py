"""The step between a series' last two points, with counter resets and wraps handled.

SNMP counters only go up, until they are reset (an agent restart, a cleared interface) or a
Counter32 passes 2^32 - 1 and starts again from 0 (RFC 2578 section 7.1.6). A step must never
turn either into a false spike, so a step that cannot be explained yields no value at all:

- a reboot of the target between the two points is a discontinuity, whatever the values;
- a Counter64 that went down was reset: a Counter64 does not wrap within any plausible time;
- a Counter32 that went down wrapped once only if the implied rate fits the interface. The
  increase in bits per second must not exceed the speed of the interface with the same target
  and `ifIndex` (`ifHighSpeed`, else `ifSpeed`, when polled). Without a known speed the step is
  a discontinuity;
- any other counter (text configured as a counter) that went down was reset.
"""

from __future__ import annotations

from collections.abc import Mapping

from snmpd_ng.alerting.rules.store import Series, SeriesStore
from snmpd_ng.alerting.series import LabelKey

COUNTER32_MODULUS = 2**32

IF_INDEX_LABEL = "ifIndex"
IF_HIGH_SPEED = "ifHighSpeed"
"""IF-MIB ifHighSpeed: the interface's speed in units of 1,000,000 bits per second."""
IF_SPEED = "ifSpeed"
"""IF-MIB ifSpeed: bits per second, 4294967295 when the speed is too high for a Gauge32."""
IF_SPEED_SATURATED = 2**32 - 1

SPEED_MARGIN = 1.25
"""How far above the interface speed an implied rate may be and still count as a wrap.

NOTE: an estimate. Agents refresh their counters on a timer of their own, so the increase seen
between two polls can include traffic from a little more than the poll interval.
"""

BITS_PER_OCTET = 8


def counter_step(series: Series, store: SeriesStore) -> float | None:
    """Return the increase between the last two points, or None for a discontinuity.

    For a gauge the plain difference is returned, negative when it went down.
    """
    previous = series.previous
    if previous is None:
        return None
    last = series.last
    if last.reboots != previous.reboots:
        return None

    difference = last.value - previous.value
    if difference >= 0 or series.kind != "counter":
        return difference
    if series.type != "counter32":
        return None

    wrapped = difference + COUNTER32_MODULUS
    seconds = last.at - previous.at
    speed = interface_speed(series, store)
    if speed is None or seconds <= 0:
        return None
    if wrapped * BITS_PER_OCTET / seconds > speed * SPEED_MARGIN:
        return None
    return wrapped


def counter_rate(series: Series, store: SeriesStore) -> float | None:
    """Return the per-second increase between the last two points, or None."""
    previous = series.previous
    if previous is None:
        return None
    seconds = series.last.at - previous.at
    if seconds <= 0:
        return None
    step = counter_step(series, store)
    return None if step is None else step / seconds


def interface_speed(series: Series, store: SeriesStore) -> float | None:
    """Return the speed in bits per second of the series' interface, or None when unknown.

    The interface is the one with the series' target and `ifIndex` label. A counter in octets
    sent at the interface's speed moves by speed / 8 per second, and a counter of packets or
    errors by less, so this speed bounds the rate of any counter of the interface.
    """
    if_index = series.labels.get(IF_INDEX_LABEL)
    if if_index is None:
        return None

    high_speed = _value_for_index(store.metric(series.target, IF_HIGH_SPEED), if_index)
    if high_speed is not None and high_speed > 0:
        return high_speed * 1_000_000
    speed = _value_for_index(store.metric(series.target, IF_SPEED), if_index)
    if speed is not None and 0 < speed < IF_SPEED_SATURATED:
        return speed
    return None


def _value_for_index(by_key: Mapping[LabelKey, Series], if_index: str) -> float | None:
    # A linear scan: it runs only when a Counter32 went down, which is rare.
    for candidate in by_key.values():
        if candidate.labels.get(IF_INDEX_LABEL) == if_index:
            return candidate.last.value
    return None
