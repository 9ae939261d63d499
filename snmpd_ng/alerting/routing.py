"""Routes, receivers, escalation policies and time windows: who hears of which alert, and when.

An alert goes to the first route whose matchers all hold for its labels (and `rule`), and to
later matching routes too while the matched route has `continue`. A route names an escalation
policy and how to group its alerts. A policy is a list of tiers. Each tier names receivers, how
long after the group's first notification it is notified while no alert is acknowledged, how
often to repeat it, and the time windows in which it is active. A receiver is a person or team and
names the channels that reach it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from snmpd_ng.alerting.grouping import GroupSettings
from snmpd_ng.alerting.matchers import Matcher, matches_all


@dataclass(frozen=True)
class Receiver:
    name: str
    channels: tuple[str, ...]


@dataclass(frozen=True)
class TimeRange:
    """Minutes after local midnight: `start` included, `end` excluded (1440 is midnight)."""

    start: int
    end: int


@dataclass(frozen=True)
class TimeWindow:
    """Days of the week and times of day in one time zone, such as business hours."""

    name: str
    location: ZoneInfo
    weekdays: frozenset[int] = frozenset()
    """0 is Monday; empty means every day."""
    times: tuple[TimeRange, ...] = ()
    """Empty means the whole day."""

    def contains(self, unix_time: float) -> bool:
        """Tell whether `unix_time` falls in the window, in the window's time zone."""
        local = datetime.fromtimestamp(unix_time, tz=self.location)
        if self.weekdays and local.weekday() not in self.weekdays:
            return False
        if not self.times:
            return True
        minute = local.hour * 60 + local.minute
        return any(span.start <= minute < span.end for span in self.times)


@dataclass(frozen=True)
class Tier:
    receivers: tuple[str, ...]
    after: float = 0.0
    """Seconds after the escalation pass started (the group's first notification) without an
    acknowledgement before this tier is notified."""
    repeat: float | None = None
    """Seconds between repeats to this tier while it is the last one notified; None never."""
    active_in: tuple[TimeWindow, ...] = ()
    """The tier is notified only within one of these windows; empty means always."""
    muted_in: tuple[TimeWindow, ...] = ()
    """The tier is skipped within any of these windows."""
    handoff: bool = False
    """Once this tier is notified its provider (PagerDuty) owns escalation: snmpd_ng stops
    its own later tiers, repeats and loops, and only sends updates, acks and resolves."""

    def is_active(self, unix_time: float) -> bool:
        if any(window.contains(unix_time) for window in self.muted_in):
            return False
        return not self.active_in or any(window.contains(unix_time) for window in self.active_in)


@dataclass(frozen=True)
class Policy:
    name: str
    tiers: tuple[Tier, ...]
    loops: int = 1
    """Passes through the tiers before escalation stops (the last tier keeps its repeats)."""
    loop_after: float | None = None
    """Seconds from the start of one pass to the start of the next; needed when loops > 1."""


@dataclass(frozen=True)
class Route:
    name: str
    """The first part of the group key, so it should not change between reloads."""
    policy: str
    matchers: tuple[Matcher, ...] = ()
    grouping: GroupSettings = field(default_factory=GroupSettings)
    continue_matching: bool = False


class Router:
    """Pick the routes of an alert from its labels."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(routes)

    def routes_for(self, labels: Mapping[str, str]) -> list[Route]:
        """Return the matching routes in order: the first, and more while `continue` is set."""
        chosen: list[Route] = []
        for route in self.routes:
            if not matches_all(route.matchers, labels):
                continue
            chosen.append(route)
            if not route.continue_matching:
                break
        return chosen


def receivers_of(tiers: Iterable[Tier]) -> set[str]:
    return {name for tier in tiers for name in tier.receivers}
