"""The `alerting:` section of the config file, checked with the rest of the file.

The section has five parts. Four have their own loader in `snmpd_ng.alerting`: `rules`
(`load_rules`), `channels` (`build_channels`), `traps` (`build_trap_settings`), and the alert
handling keys (`load_alerting`: routes, policies, receivers, store, ...). This module runs them
with the file's name, lines, folder and environment, so that their errors read like every other
error of the file (`FILE:LINE: alerting.rules[0].expr: ...`) and are reported in the same pass.
The fifth, `api`, names the secret files of the alerts HTTP API and is checked here.
docs/alerting.md, docs/alerting-rules.md and docs/alerting-channels.md document the keys.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from snmpd_ng.alerting.channels.base import Channel
from snmpd_ng.alerting.channels.config import CHANNEL_TYPES, build_channels
from snmpd_ng.alerting.config import AlertingConfig, channel_types, load_alerting
from snmpd_ng.alerting.rules import Rule, load_rules
from snmpd_ng.alerting.traps.config import TrapSettings, build_trap_settings
from snmpd_ng.config.build_state import BuildState
from snmpd_ng.config.errors import ConfigError, ConfigIssue, KeyPath
from snmpd_ng.config.model import JobConfig
from snmpd_ng.config.schema import SecretSource, StrictModel
from snmpd_ng.config.schema_errors import line_of
from snmpd_ng.config.secret_sources import resolve_secret
from snmpd_ng.metrics.naming import metric_name

SECTION: KeyPath = ("alerting",)
CHANNELS_PATH: KeyPath = (*SECTION, "channels")


@dataclass(frozen=True)
class ChannelSpec:
    """One configured channel: the built channel and a digest of its settings."""

    name: str
    type: str
    channel: Channel = field(compare=False, repr=False)
    digest: str = field(repr=False)
    """SHA-256 of the channel's entry and the values of its secrets. A reload keeps a running
    channel whose digest did not change, and replaces one whose digest did."""


class ApiEntry(StrictModel):
    """The `alerting: api:` mapping: paths, relative to the config file's folder."""

    token_file: str | None = Field(default=None, min_length=1)
    pagerduty_secret_file: str | None = Field(default=None, min_length=1)


API_KEYS = ("token_file", "pagerduty_secret_file")


@dataclass(frozen=True)
class AlertingSettings:
    """The checked `alerting:` section: what the daemon's alert service and rules run on."""

    rules: tuple[Rule, ...]
    handling: AlertingConfig
    """Routes, policies, receivers, grouping, silences, the store and the outbox."""
    channels: Mapping[str, ChannelSpec] = field(default_factory=dict)
    traps: TrapSettings | None = field(default=None, repr=False)
    """The trap receiver's settings, or None when the section has no `traps:` key."""
    traps_entry: Mapping[str, Any] | None = field(default=None, repr=False)
    """The `traps:` mapping as YAML parsed it, to tell whether a reload changed it."""
    api_token_file: Path | None = None
    """The file with the bearer token of the alerts API's write routes; None disables them."""
    pagerduty_secret_file: Path | None = None
    """The file with the signing secret of PagerDuty's webhook; None disables the webhook."""

    def built_channels(self) -> dict[str, Channel]:
        """Return the channel objects by name."""
        return {name: spec.channel for name, spec in self.channels.items()}


def known_metrics(jobs: Mapping[str, JobConfig]) -> set[str]:
    """Return the metric names the jobs export, as /metrics and the rules name them.

    Counters keep their object's name, because the daemon names counters that way.
    """
    names: set[str] = set()
    for job in jobs.values():
        specs = [*job.scalars, *(column for table in job.tables for column in table.columns)]
        names.update(metric_name(spec.name) for spec in specs if spec.type != "skip")
    return names


def build_alerting(raw: object, state: BuildState,
                   metrics: Set[str]) -> tuple[AlertingSettings | None, list[ConfigIssue]]:
    """Check the `alerting:` section and build its settings; return them and the warnings.

    Errors go to `state`, so the caller reports them with the rest of the file. Returns None
    for the settings when the file has no `alerting:` section or when it has errors.
    """
    if raw is None:
        return None, []
    if not isinstance(raw, Mapping):
        state.report(SECTION, "invalid value; expected a mapping with keys such as rules, "
                              "channels, routes and policies")
        return None, []

    errors_before = len(state.issues)
    rules, warnings = _rules(raw.get("rules"), state, metrics)
    channels = _channels(raw.get("channels"), state)
    handling = _handling(raw, state)
    api_files = _api_files(raw.get("api"), state, warnings)
    traps = _traps(raw.get("traps"), state)
    if len(state.issues) > errors_before or handling is None:
        return None, warnings
    settings = AlertingSettings(tuple(rules), handling, channels, traps,
                                raw.get("traps") if traps is not None else None,
                                api_token_file=api_files[0],
                                pagerduty_secret_file=api_files[1])
    return settings, warnings


def _rules(raw: object, state: BuildState,
           metrics: Set[str]) -> tuple[list[Rule], list[ConfigIssue]]:
    rules, issues = load_rules(raw, metrics)
    warnings = []
    for issue in issues:
        if issue.is_error:
            state.report(issue.path, issue.message)
        else:
            warnings.append(ConfigIssue(issue.path, issue.message,
                                        line_of(issue.path, state.lines)))
    return rules, warnings


def _channels(raw: object, state: BuildState) -> dict[str, ChannelSpec]:
    try:
        built = build_channels(raw, base_dir=state.base_dir, environ=state.environ,
                               source=state.source, lines=state.lines)
    except ConfigError as exc:
        _report_all(state, exc)
        return {}
    entries: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    return {name: ChannelSpec(name, channel.type, channel,
                              _channel_digest(name, entries[name], state))
            for name, channel in built.items()}


def _handling(raw: Mapping[str, Any], state: BuildState) -> AlertingConfig | None:
    # References to channels are checked against every named channel, also those with an
    # error of their own, so that one mistake is reported once.
    try:
        return load_alerting(raw, channel_types(raw.get("channels")), source=state.source,
                             lines=state.lines)
    except ConfigError as exc:
        _report_all(state, exc)
        return None


def _traps(raw: object, state: BuildState) -> TrapSettings | None:
    if raw is None:
        return None
    try:
        return build_trap_settings(raw, base_dir=state.base_dir, environ=state.environ,
                                   source=state.source, lines=state.lines)
    except ConfigError as exc:
        _report_all(state, exc)
        return None


def _api_files(raw: object, state: BuildState,
               warnings: list[ConfigIssue]) -> tuple[Path | None, Path | None]:
    """Check `alerting: api:`; return the token file and PagerDuty's secret file."""
    path: KeyPath = (*SECTION, "api")
    try:
        entry = ApiEntry.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        for error in exc.errors():
            state.report((*path, *error["loc"]), _api_message(error))
        return None, None

    files = []
    for key in API_KEYS:
        text = getattr(entry, key)
        file = state.resolve_path(text) if text is not None else None
        if file is not None and not file.is_file():
            # A missing file is valid: the API disables what needs it until the file exists.
            message = (f"file {str(file)!r} does not exist or is not a file; until it does, "
                       "the API rejects the requests that need it with 503")
            warnings.append(ConfigIssue((*path, key), message, line_of((*path, key),
                                                                       state.lines)))
        files.append(file)
    return files[0], files[1]


def _api_message(error: ErrorDetails) -> str:
    location = error["loc"]
    key = str(location[-1]) if location else ""
    if error["type"] == "extra_forbidden":
        return f"unknown key {key!r}; allowed keys: {', '.join(API_KEYS)}"
    if error["type"] == "model_type":
        return f"invalid value; expected a mapping with the keys {', '.join(API_KEYS)}"
    return f"invalid value for {key!r}; expected the path of a file"


def _report_all(state: BuildState, error: ConfigError) -> None:
    for issue in error.issues:
        state.report(issue.path, issue.message)


def _channel_digest(name: str, entry: Mapping[str, Any], state: BuildState) -> str:
    """Hash the entry as written, the values of its secrets and the bytes of its CA file.

    A secret given as {file: PATH} or {env: NAME} keeps its text in the entry when its value
    changes, so the value itself is hashed too.
    """
    digest = hashlib.sha256(json.dumps(entry, sort_keys=True, default=repr).encode("utf-8"))
    # These secrets resolved when the channel was built; a scratch state keeps any repeated
    # report out of `state`.
    scratch = BuildState(state.source, state.base_dir, state.environ, state.lines)
    for key in _secret_keys(str(entry.get("type", ""))):
        if entry.get(key) is None:
            continue
        source = SecretSource.model_validate(entry[key])
        secret = resolve_secret(scratch, (*CHANNELS_PATH, name, key), source)
        digest.update(b"\0" + key.encode("utf-8") + b"\0" + secret.reveal())
    ca_file = entry.get("ca_file")
    if isinstance(ca_file, str):
        # An unreadable file cannot reach here: build_channels reported it as an error.
        with contextlib.suppress(OSError):
            digest.update(b"\0ca_file\0" + state.resolve_path(ca_file).read_bytes())
    return digest.hexdigest()


def _secret_keys(channel_type: str) -> list[str]:
    """Return the keys of a channel type whose values are secrets."""
    found = CHANNEL_TYPES.get(channel_type)
    if found is None:
        return []
    model = found[0]
    return sorted(field.alias or key for key, field in model.model_fields.items()
                  if _is_secret_field(field))


def _is_secret_field(field: FieldInfo) -> bool:
    annotation = field.annotation
    return annotation is SecretSource or SecretSource in getattr(annotation, "__args__", ())
