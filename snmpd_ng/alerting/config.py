"""The alert handling keys of the `alerting:` section: routes, policies, receivers and the rest.

`load_alerting(raw, channel_types)` takes the `alerting:` mapping as YAML parsed it and the
configured channels (name to type, from `alerting: channels:`). It checks every key and every
reference between entries and returns an `AlertingConfig`. Otherwise it raises ConfigError
listing every problem with its key path, such as `alerting.policies.network.tiers[1].receivers[0]`.
The `rules` and `channels` keys belong to their own loaders and are skipped here.
docs/alerting.md documents every key.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pydantic
from pydantic import BeforeValidator, Field, field_validator
from pydantic_core import ErrorDetails

from snmpd_ng.alerting.grouping import GROUP_BY_ALL, GroupSettings
from snmpd_ng.alerting.inhibition import InhibitionConfig, InhibitRule
from snmpd_ng.alerting.lifecycle import FlapPolicy
from snmpd_ng.alerting.matchers import Matcher, MatcherError, parse_matchers
from snmpd_ng.alerting.outbox import OutboxPolicy
from snmpd_ng.alerting.routing import Policy, Receiver, Route, Tier, TimeRange, TimeWindow
from snmpd_ng.alerting.silences import SilencePolicy
from snmpd_ng.config.build_state import BuildState, did_you_mean
from snmpd_ng.config.errors import ConfigError, ConfigIssue, KeyPath
from snmpd_ng.config.schema import Duration, StrictModel, parse_duration
from snmpd_ng.config.schema_errors import format_value

SECTION: KeyPath = ("alerting",)
OTHER_KEYS = frozenset({"rules", "channels", "traps", "api"})
"""Keys of `alerting:` that other loaders check."""
DEFAULT_UNREACHABLE = ('rule="TargetDown"',)
PAGERDUTY_TYPE = "pagerduty"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_CLOCK_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


def _duration_or_zero(value: object) -> object:
    seconds = parse_duration(value)
    if isinstance(seconds, float) and not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"invalid duration {value!r}; allowed values: 0 or above, such as 5m")
    return seconds


DurationOrZero = Annotated[float, BeforeValidator(_duration_or_zero)]


def _check_matchers(texts: list[str]) -> list[str]:
    for text in texts:
        parse_matchers(text)
    return texts


class StoreEntry(StrictModel):
    path: str | None = None
    """The SQLite file; relative to the state directory. None: alerts.db there."""
    restore_grace: Duration = 600.0


class GroupingEntry(StrictModel):
    group_by: list[str] = Field(default_factory=lambda: ["target", "rule"])
    group_wait: DurationOrZero = 30.0
    group_interval: Duration = 300.0


class FlappingEntry(StrictModel):
    window: Duration = 900.0
    threshold: int = Field(default=4, ge=2, le=1000)
    hold: DurationOrZero = 300.0


class SilencesEntry(StrictModel):
    default_duration: Duration = 7200.0
    max_duration: Duration = 30 * 86400.0
    retention: DurationOrZero = 7 * 86400.0


class OutboxEntry(StrictModel):
    retry_base: Duration = 30.0
    retry_cap: Duration = 1800.0
    max_attempts: int = Field(default=20, ge=1, le=1000)
    max_age: Duration = 86400.0


class TimeRangeEntry(StrictModel):
    start: str
    end: str


class TimeWindowEntry(StrictModel):
    location: str = "UTC"
    weekdays: list[str] = Field(default_factory=list)
    times: list[TimeRangeEntry] = Field(default_factory=list)


class ReceiverEntry(StrictModel):
    channels: list[str] = Field(min_length=1)


class TierEntry(StrictModel):
    receivers: list[str] = Field(min_length=1)
    after: DurationOrZero = 0.0
    repeat: Duration | None = None
    active_in: list[str] = Field(default_factory=list)
    muted_in: list[str] = Field(default_factory=list)
    handoff: bool = False


class PolicyEntry(StrictModel):
    tiers: list[TierEntry] = Field(min_length=1)
    loops: int = Field(default=1, ge=1, le=100)
    loop_after: Duration | None = None


class RouteEntry(StrictModel):
    policy: str
    name: str | None = None
    matchers: list[str] = Field(default_factory=list)
    group_by: list[str] | None = None
    group_wait: DurationOrZero | None = None
    group_interval: Duration | None = None
    continue_: bool = Field(default=False, alias="continue")

    _matchers = field_validator("matchers")(_check_matchers)


class InhibitEntry(StrictModel):
    source_matchers: list[str] = Field(min_length=1)
    target_matchers: list[str] = Field(min_length=1)
    equal: list[str] = Field(default_factory=list)

    _source = field_validator("source_matchers")(_check_matchers)
    _target = field_validator("target_matchers")(_check_matchers)


class AlertingEntry(StrictModel):
    store: StoreEntry = StoreEntry()
    grouping: GroupingEntry = GroupingEntry()
    flapping: FlappingEntry = FlappingEntry()
    silences: SilencesEntry = SilencesEntry()
    outbox: OutboxEntry = OutboxEntry()
    time_windows: dict[str, TimeWindowEntry] = Field(default_factory=dict)
    receivers: dict[str, ReceiverEntry] = Field(default_factory=dict)
    policies: dict[str, PolicyEntry] = Field(default_factory=dict)
    routes: list[RouteEntry] = Field(default_factory=list)
    inhibit: list[InhibitEntry] = Field(default_factory=list)
    unreachable: list[str] = Field(default_factory=lambda: list(DEFAULT_UNREACHABLE))
    dependencies: dict[str, list[str]] = Field(default_factory=dict)

    _unreachable = field_validator("unreachable")(_check_matchers)


ALLOWED_KEYS = tuple(sorted({*(field.alias or name for name, field in
                               AlertingEntry.model_fields.items()), *OTHER_KEYS}))


@dataclass(frozen=True)
class AlertingConfig:
    """The checked alert handling settings that the alert service runs on."""

    store_path: str | None = None
    restore_grace: float = 600.0
    grouping: GroupSettings = field(default_factory=GroupSettings)
    flapping: FlapPolicy = field(default_factory=FlapPolicy)
    silences: SilencePolicy = field(default_factory=SilencePolicy)
    outbox: OutboxPolicy = field(default_factory=OutboxPolicy)
    receivers: Mapping[str, Receiver] = field(default_factory=dict)
    policies: Mapping[str, Policy] = field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    inhibition: InhibitionConfig = field(default_factory=InhibitionConfig)

    def resolve_store_path(self, state_dir: Path) -> Path:
        """Return the database file: `store.path` against `state_dir`, or alerts.db there."""
        if self.store_path is None:
            return state_dir / "alerts.db"
        path = Path(self.store_path).expanduser()
        return path if path.is_absolute() else state_dir / path


def load_alerting(raw: object, channel_types: Mapping[str, str] | None = None, *,
                  source: str = "config", lines: Mapping[KeyPath, int] | None = None,
                  path: KeyPath = SECTION) -> AlertingConfig:
    """Check the `alerting:` mapping and build the alert handling settings.

    `channel_types` maps each configured channel name to its type; with None, channel names
    are not checked. Raises ConfigError listing every problem.
    """
    state = BuildState(source, Path.cwd(), os.environ, lines or {})
    config = _Builder(state, path, channel_types).build(raw)
    if state.issues or config is None:
        raise ConfigError(source, state.issues)
    return config


def check_alerting(raw: object, channel_types: Mapping[str, str] | None = None, *,
                   lines: Mapping[KeyPath, int] | None = None) -> list[ConfigIssue]:
    """Return every problem of the section, for `check-config`; empty when it is valid."""
    try:
        load_alerting(raw, channel_types, lines=lines)
    except ConfigError as exc:
        return list(exc.issues)
    return []


class _Builder:
    """Turns the checked entries into the config, reporting broken references."""

    def __init__(self, state: BuildState, path: KeyPath,
                 channel_types: Mapping[str, str] | None) -> None:
        self.state = state
        self.path = path
        self.channel_types = channel_types
        self.windows: dict[str, TimeWindow] = {}
        self.invalid_windows: set[str] = set()
        """Windows with an error of their own: references to them are not errors too."""
        self.receivers: dict[str, Receiver] = {}
        self.invalid_keys: set[str] = set()
        """Keys of the section with a schema error. They are left out, and references into
        them are not checked, because every such reference would look unknown."""

    def report(self, where: KeyPath, message: str) -> None:
        self.state.report((*self.path, *where), message)

    def build(self, raw: object) -> AlertingConfig | None:
        entry = self._validate(raw)
        if entry is None:
            return None
        self.windows = self._time_windows(entry.time_windows)
        self.invalid_windows = set(entry.time_windows) - set(self.windows)
        self.receivers = self._receivers(entry.receivers)
        policies = {name: self._policy(name, policy) for name, policy in entry.policies.items()}
        grouping = _group_settings(entry.grouping)
        routes = tuple(self._route(index, route, grouping, policies)
                       for index, route in enumerate(entry.routes))
        self._check_group_by(("grouping", "group_by"), entry.grouping.group_by)
        return AlertingConfig(
            store_path=entry.store.path, restore_grace=entry.store.restore_grace,
            grouping=grouping,
            flapping=FlapPolicy(entry.flapping.window, entry.flapping.threshold,
                                entry.flapping.hold),
            silences=SilencePolicy(entry.silences.default_duration,
                                   entry.silences.max_duration, entry.silences.retention),
            outbox=OutboxPolicy(retry_base=entry.outbox.retry_base,
                                retry_cap=entry.outbox.retry_cap,
                                max_attempts=entry.outbox.max_attempts,
                                max_age=entry.outbox.max_age),
            receivers=self.receivers, policies=policies, routes=routes,
            inhibition=self._inhibition(entry),
        )

    def _validate(self, raw: object) -> AlertingEntry | None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            self.report((), f"invalid value{format_value(raw, is_secret=False)}; expected a "
                        "mapping with keys such as routes, policies and receivers")
            return None
        mine = {key: value for key, value in raw.items() if key not in OTHER_KEYS}
        try:
            return AlertingEntry.model_validate(mine)
        except pydantic.ValidationError as exc:
            for error in exc.errors():
                self._report_schema_error(error)
            self.invalid_keys = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}

        # The keys without errors are still built and checked, so that a bad matcher in a
        # route does not hide an unknown channel of a receiver. All problems come out at once.
        valid = {key: value for key, value in mine.items() if key not in self.invalid_keys}
        try:
            return AlertingEntry.model_validate(valid)
        except pydantic.ValidationError:
            return None

    def _report_schema_error(self, error: ErrorDetails) -> None:
        location: KeyPath = tuple("continue" if part == "continue_" else part
                                  for part in error["loc"] if part != "[key]")
        self.report(location, _schema_message(error, location))

    def _time_windows(self, entries: Mapping[str, TimeWindowEntry]) -> dict[str, TimeWindow]:
        windows = {}
        for name, entry in entries.items():
            where = ("time_windows", name)
            location = self._zone(where, entry.location)
            weekdays = self._weekdays(where, entry.weekdays)
            times = tuple(self._time_range((*where, "times", index), span)
                          for index, span in enumerate(entry.times))
            if location is not None and weekdays is not None and None not in times:
                windows[name] = TimeWindow(name, location, weekdays,
                                           tuple(span for span in times if span is not None))
        return windows

    def _zone(self, where: KeyPath, name: str) -> ZoneInfo | None:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            self.report((*where, "location"), f"unknown time zone {name!r}; use an IANA name "
                        "such as Europe/Berlin or UTC")
            return None

    def _weekdays(self, where: KeyPath, texts: list[str]) -> frozenset[int] | None:
        days: set[int] = set()
        for index, text in enumerate(texts):
            parts = [part.strip().lower() for part in text.split(":")]
            if len(parts) > 2 or any(part not in WEEKDAYS for part in parts):
                self.report((*where, "weekdays", index), f"invalid weekday {text!r}; use a day "
                            "name such as monday, or a range such as monday:friday")
                return None
            first, last = WEEKDAYS.index(parts[0]), WEEKDAYS.index(parts[-1])
            days.update(range(first, last + 1) if first <= last else
                        [*range(first, 7), *range(0, last + 1)])
        return frozenset(days)

    def _time_range(self, where: KeyPath, entry: TimeRangeEntry) -> TimeRange | None:
        start = self._minutes((*where, "start"), entry.start, allow_midnight=False)
        end = self._minutes((*where, "end"), entry.end, allow_midnight=True)
        if start is None or end is None:
            return None
        if end <= start:
            self.report((*where, "end"), f"invalid range {entry.start}-{entry.end}: the end "
                        "must be after the start; split a range over midnight in two")
            return None
        return TimeRange(start, end)

    def _minutes(self, where: KeyPath, text: str, *, allow_midnight: bool) -> int | None:
        match = _CLOCK_TIME.match(text.strip())
        minutes = None
        if match is not None and int(match.group(2)) < 60:
            minutes = int(match.group(1)) * 60 + int(match.group(2))
        limit = 1440 if allow_midnight else 1439
        if minutes is None or minutes > limit:
            allowed = "00:00 to 24:00" if allow_midnight else "00:00 to 23:59"
            self.report(where, f"invalid time {text!r}; use HH:MM from {allowed}")
            return None
        return minutes

    def _receivers(self, entries: Mapping[str, ReceiverEntry]) -> dict[str, Receiver]:
        receivers = {}
        for name, entry in entries.items():
            for index, channel in enumerate(entry.channels):
                self._check_known(("receivers", name, "channels", index), "channel", channel,
                                  self.channel_types)
            receivers[name] = Receiver(name, tuple(entry.channels))
        return receivers

    def _policy(self, name: str, entry: PolicyEntry) -> Policy:
        where: KeyPath = ("policies", name)
        tiers = tuple(self._tier((*where, "tiers", index), tier)
                      for index, tier in enumerate(entry.tiers))
        for index in range(1, len(tiers)):
            if tiers[index].after < tiers[index - 1].after:
                self.report((*where, "tiers", index, "after"), "invalid value: a tier's "
                            "`after` must not be shorter than the previous tier's, because "
                            "both count from the start of the escalation")
        self._check_loops(where, entry, tiers)
        return Policy(name, tiers, entry.loops, entry.loop_after)

    def _check_loops(self, where: KeyPath, entry: PolicyEntry, tiers: tuple[Tier, ...]) -> None:
        if entry.loops > 1 and entry.loop_after is None:
            self.report((*where, "loop_after"), f"missing key 'loop_after': with loops: "
                        f"{entry.loops}, set when the next pass starts, such as 1h")
        elif entry.loop_after is not None and entry.loop_after <= tiers[-1].after:
            self.report((*where, "loop_after"), f"invalid value {entry.loop_after:g}s: it "
                        f"must be longer than the last tier's after ({tiers[-1].after:g}s)")

    def _tier(self, where: KeyPath, entry: TierEntry) -> Tier:
        for index, name in enumerate(entry.receivers):
            self._check_known((*where, "receivers", index), "receiver", name,
                              self._known("receivers", self.receivers))
        active = self._window_refs((*where, "active_in"), entry.active_in)
        muted = self._window_refs((*where, "muted_in"), entry.muted_in)
        if entry.handoff:
            self._check_handoff(where, entry.receivers)
        return Tier(tuple(entry.receivers), entry.after, entry.repeat, active, muted,
                    entry.handoff)

    def _check_handoff(self, where: KeyPath, receivers: list[str]) -> None:
        if self.channel_types is None or any(name not in self.receivers for name in receivers):
            return
        types = {self.channel_types.get(channel) for name in receivers
                 if name in self.receivers for channel in self.receivers[name].channels}
        if PAGERDUTY_TYPE not in types:
            self.report((*where, "handoff"), "invalid value true: handoff passes escalation "
                        "to PagerDuty, but no receiver of this tier has a pagerduty channel")

    def _window_refs(self, where: KeyPath, names: list[str]) -> tuple[TimeWindow, ...]:
        windows = []
        for index, name in enumerate(names):
            if name in self.invalid_windows or "time_windows" in self.invalid_keys:
                continue
            if self._check_known((*where, index), "time window", name, self.windows):
                windows.append(self.windows[name])
        return tuple(windows)

    def _route(self, index: int, entry: RouteEntry, defaults: GroupSettings,
               policies: Mapping[str, Policy]) -> Route:
        where: KeyPath = ("routes", index)
        self._check_known((*where, "policy"), "policy", entry.policy,
                          self._known("policies", policies))
        if entry.name is not None and not _NAME.match(entry.name):
            self.report((*where, "name"), f"invalid route name {entry.name!r}: use letters, "
                        "digits, '_', '.' and '-'")
        if entry.group_by is not None:
            self._check_group_by((*where, "group_by"), entry.group_by)
        grouping = GroupSettings(
            tuple(entry.group_by) if entry.group_by is not None else defaults.group_by,
            entry.group_wait if entry.group_wait is not None else defaults.group_wait,
            entry.group_interval if entry.group_interval is not None
            else defaults.group_interval)
        matchers = tuple(matcher for text in entry.matchers for matcher in parse_matchers(text))
        return Route(entry.name or entry.policy, entry.policy, matchers, grouping,
                     entry.continue_)

    def _check_group_by(self, where: KeyPath, names: list[str]) -> None:
        for index, name in enumerate(names):
            if name != GROUP_BY_ALL and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
                self.report((*where, index), f"invalid label name {name!r}; use a label name "
                            "such as target, or ... to group by every label")

    def _inhibition(self, entry: AlertingEntry) -> InhibitionConfig:
        rules = tuple(InhibitRule(_parse_all(rule.source_matchers),
                                  _parse_all(rule.target_matchers), tuple(rule.equal))
                      for rule in entry.inhibit)
        self._check_dependencies(entry.dependencies)
        dependencies = {target: tuple(upstreams)
                        for target, upstreams in entry.dependencies.items()}
        return InhibitionConfig(rules, _parse_all(entry.unreachable), dependencies)

    def _check_dependencies(self, dependencies: Mapping[str, list[str]]) -> None:
        for target, upstreams in dependencies.items():
            if not upstreams:
                self.report(("dependencies", target), "missing upstream targets: list the "
                            "targets this one is reached through, such as [core1]")
            cycle = _find_cycle(target, dependencies)
            if cycle is not None:
                self.report(("dependencies", target), "invalid dependency: the chain "
                            f"{' -> '.join(cycle)} returns to {target}; remove one link")

    def _known(self, key: str, entries: Mapping[str, object]) -> Mapping[str, object] | None:
        """Return `entries` to check references against, or None when `key` had errors."""
        return None if key in self.invalid_keys else entries

    def _check_known(self, where: KeyPath, kind: str, name: str,
                     known: Mapping[str, object] | None) -> bool:
        if known is None or name in known:
            return True
        listed = ", ".join(sorted(known)) or "none"
        self.report(where, f"unknown {kind} {name!r}{did_you_mean(name, known)}; "
                    f"configured: {listed}")
        return False


def _group_settings(entry: GroupingEntry) -> GroupSettings:
    return GroupSettings(tuple(entry.group_by), entry.group_wait, entry.group_interval)


def _parse_all(texts: list[str]) -> tuple[Matcher, ...]:
    return tuple(matcher for text in texts for matcher in parse_matchers(text))


def _find_cycle(start: str, dependencies: Mapping[str, list[str]]) -> list[str] | None:
    """Return a chain of upstreams from `start` back to `start`, or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, chain = stack.pop()
        for upstream in dependencies.get(node, []):
            if upstream == start:
                return chain
            if upstream not in seen:
                seen.add(upstream)
                stack.append((upstream, [*chain, upstream]))
    return None


_MESSAGES: dict[str, Callable[[str, KeyPath], str]] = {
    "missing": lambda shown, loc: f"missing required key {loc[-1]!r}",
    "extra_forbidden": lambda shown, loc: f"unknown key {loc[-1]!r}",
    "dict_type": lambda shown, loc: f"invalid value{shown}; expected a mapping",
    "list_type": lambda shown, loc: f"invalid value{shown}; expected a list",
    "string_type": lambda shown, loc: f"invalid value{shown}; expected a string",
    "bool_type": lambda shown, loc: f"invalid value{shown}; expected true or false",
    "bool_parsing": lambda shown, loc: f"invalid value{shown}; expected true or false",
    "int_type": lambda shown, loc: f"invalid value{shown}; expected a whole number",
    "int_parsing": lambda shown, loc: f"invalid value{shown}; expected a whole number",
    "too_short": lambda shown, loc: f"invalid value{shown}; expected at least one entry",
}


def _schema_message(error: ErrorDetails, location: KeyPath) -> str:
    kind = error["type"]
    shown = format_value(error.get("input"), is_secret=False)
    if kind == "extra_forbidden" and len(location) == 1:
        return f"unknown key {location[0]!r}; allowed keys: {', '.join(ALLOWED_KEYS)}"
    if kind in _MESSAGES:
        return _MESSAGES[kind](shown, location)
    if kind == "value_error":
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, MatcherError):
            return str(cause)
        return str(cause or error["msg"])
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"invalid value{shown}: {error['msg'][:1].lower()}{error['msg'][1:]}"
    return f"invalid value{shown}: {error['msg']}"


def channel_types(raw_channels: object) -> dict[str, str]:
    """Return name to type of the `alerting: channels:` mapping as YAML parsed it."""
    if not isinstance(raw_channels, Mapping):
        return {}
    return {str(name): str(entry.get("type", "")) for name, entry in raw_channels.items()
            if isinstance(entry, Mapping)}

