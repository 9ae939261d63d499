"""The `alerting: traps:` section: the receiver's sockets, communities, users and trap rules.

```yaml
alerting:
  traps:
    listen: ["0.0.0.0:162", "[::]:162"]
    communities:
      ops: {env: SNMP_TRAP_COMMUNITY}
    users:
      - user: traps
        auth_protocol: SHA-256
        auth_passphrase: {file: trap-auth.txt}
        priv_protocol: AES
        priv_passphrase: {file: trap-priv.txt}
    rate_limit: {rate: 100, burst: 200}
    rules:
      - name: LinkDown
        trap: linkDown
        key: [ifIndex]
        severity: critical
        resolved_by: linkUp
```

`build_trap_settings(raw)` checks the section and returns `TrapSettings`, or raises ConfigError
listing every problem, each with its key path (`alerting.traps.rules[0].trap`). Users take the
keys and key forms of the `credentials:` profiles of SNMPv3 targets, checked by the same code.
Messages never show a community, passphrase or key. docs/traps.md documents every key.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from jinja2 import TemplateSyntaxError
from pydantic import BeforeValidator, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from snmpd_ng.alerting.rules.model import SEVERITY_LABEL, Severity
from snmpd_ng.alerting.rules.templates import compile_template
from snmpd_ng.alerting.traps.decode import Community
from snmpd_ng.alerting.traps.names import resolve_notification, resolve_object
from snmpd_ng.alerting.traps.rules import (
    DEFAULT_DEDUP_WINDOW,
    DEFAULT_RESOLVE_AFTER,
    KeyVarbind,
    TrapRule,
    VarbindMatch,
    key_varbind,
)
from snmpd_ng.config.build_state import BuildState
from snmpd_ng.config.credentials import UsmCredentials, build_credentials
from snmpd_ng.config.errors import ConfigError, ConfigIssue, KeyPath
from snmpd_ng.config.schema import (
    CredentialsEntry,
    Duration,
    EngineId,
    LabelName,
    SecretSource,
    StrictModel,
)
from snmpd_ng.config.secret_sources import resolve_secret
from snmpd_ng.config.usm import parse_hex
from snmpd_ng.security.receiver import ReceiverUser

SECTION: KeyPath = ("alerting", "traps")
DEFAULT_LISTEN = "0.0.0.0:162"
DEFAULT_SOCKET_NAME = "traps"
DEFAULT_QUEUE_SIZE = 10000

_RULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
# Keys of a credentials profile that mean nothing to a trap user: a user receives no requests,
# so it has no community and no context of its own.
_NOT_FOR_USERS = ("community", "context", "context_engine_id")


def _listen_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def parse_listen_address(text: str) -> tuple[str, int]:
    """Split "HOST:PORT" or "[IPV6]:PORT" into an IP address and a port.

    Raises ValueError naming the value; the host must be an IP address, because a socket is
    bound to an address, not to a name.
    """
    host, separator, port = text.strip().rpartition(":")
    if not separator or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"invalid listen address {text!r}: expected HOST:PORT such as "
                         "0.0.0.0:162 or [::]:162")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"invalid listen address {text!r}: write an IPv6 host in brackets, "
                         "such as [::]:162")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"invalid listen address {text!r}: {host!r} is not an IP address; "
                         "use 0.0.0.0 or :: for every address") from None
    return str(address), int(port)


class RateLimitEntry(StrictModel):
    rate: float = Field(default=100.0, gt=0)
    """Datagrams a second per source address, on average."""
    burst: int = Field(default=200, ge=1)
    """Datagrams a source may send at once before the rate applies."""


class MatchEntry(StrictModel):
    """A varbind condition given as a regular expression, matched against the whole value."""

    regex: str

    @field_validator("regex")
    @classmethod
    def _check_regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value


class KeyEntry(StrictModel):
    """A key varbind: an object name, or a numeric OID with the label to give its value."""

    SHAPE = "an object name, or a mapping with `oid` and `label`"
    SCALAR_KEY = "oid"

    oid: str = Field(min_length=1)
    label: LabelName | None = None

    @classmethod
    def from_raw(cls, value: Any) -> Any:
        return {"oid": value} if isinstance(value, str) else value


class TrapRuleEntry(StrictModel):
    """One trap rule as the config file writes it; docs/traps.md documents every key."""

    name: str
    trap: str = Field(min_length=1)
    sources: list[str] = Field(default_factory=list)
    varbinds: dict[str, str | MatchEntry] = Field(default_factory=dict)
    key: list[Annotated[KeyEntry, BeforeValidator(KeyEntry.from_raw)]] = Field(
        default_factory=list)
    severity: Severity = "warning"
    labels: dict[LabelName, str] = Field(default_factory=dict)
    annotations: dict[LabelName, str] = Field(default_factory=dict)
    resolved_by: str | None = Field(default=None, min_length=1)
    dedup_window: Duration = DEFAULT_DEDUP_WINDOW
    resolve_after: Duration | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _RULE_NAME.match(value):
            raise ValueError(f"invalid rule name {value!r}: use letters, digits, '_', '.' and "
                             "'-', starting with a letter, such as LinkDown")
        return value

    @field_validator("labels")
    @classmethod
    def _check_labels(cls, value: dict[str, str]) -> dict[str, str]:
        if SEVERITY_LABEL in value:
            raise ValueError("set the severity with the rule's `severity` key, not as a label")
        return value


class TrapsEntry(StrictModel):
    """The section's keys besides `users` and `rules`, which are checked one entry at a time."""

    listen: Annotated[list[str], BeforeValidator(_listen_list)] = Field(
        default_factory=lambda: [DEFAULT_LISTEN])
    socket_name: str = Field(default=DEFAULT_SOCKET_NAME, pattern=_NAME.pattern)
    communities: dict[str, SecretSource] = Field(default_factory=dict)
    engine_id: EngineId | None = None
    rate_limit: RateLimitEntry = RateLimitEntry()
    queue_size: int = Field(default=DEFAULT_QUEUE_SIZE, ge=1)
    users: list[Any] = Field(default_factory=list)
    """Checked by `_build_users`; here only so that messages list the key as allowed."""
    rules: list[Any] = Field(default_factory=list)
    """Checked by `_build_rules`, like `users`."""

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_listen_address(text)
        return value

    @field_validator("communities")
    @classmethod
    def _check_community_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"invalid community name {name!r}: use letters, digits, '_', "
                                 "'.' and '-'; the name, never the community, shows in logs")
        return value


@dataclass(frozen=True, slots=True)
class TrapSettings:
    """The checked section, ready for `TrapService`."""

    listen: tuple[tuple[str, int], ...] = (("0.0.0.0", 162),)
    socket_name: str = DEFAULT_SOCKET_NAME
    communities: tuple[Community, ...] = ()
    users: tuple[ReceiverUser, ...] = ()
    engine_id: bytes | None = None
    rate: float = 100.0
    burst: int = 200
    queue_size: int = DEFAULT_QUEUE_SIZE
    rules: tuple[TrapRule, ...] = ()


def build_trap_settings(raw: object, *, base_dir: Path | None = None,
                        environ: Mapping[str, str] | None = None, source: str = "config",
                        lines: Mapping[KeyPath, int] | None = None) -> TrapSettings:
    """Check the `alerting: traps:` mapping and build the receiver's settings.

    `raw` is the section as YAML parsed it; None gives the defaults. Relative secret files
    resolve against `base_dir`. Raises ConfigError listing every problem.
    """
    state = BuildState(source, base_dir or Path.cwd(),
                       os.environ if environ is None else environ, lines or {})
    settings = _build(raw if raw is not None else {}, state)
    if state.issues or settings is None:
        raise ConfigError(source, state.issues)
    return settings


def check_traps(raw: object, *, base_dir: Path | None = None,
                environ: Mapping[str, str] | None = None,
                lines: Mapping[KeyPath, int] | None = None) -> list[ConfigIssue]:
    """Return every problem of the section, for `check-config`; an empty list means valid."""
    try:
        build_trap_settings(raw, base_dir=base_dir, environ=environ, lines=lines)
    except ConfigError as exc:
        return list(exc.issues)
    return []


def _build(raw: object, state: BuildState) -> TrapSettings | None:
    if not isinstance(raw, Mapping):
        state.report(SECTION, "expected a mapping with keys such as listen, communities, users "
                              "and rules")
        return None
    # Users and rules are checked one entry at a time, and even when another key is invalid,
    # so that one run of check-config shows every problem.
    users = _build_users(_entries(raw, "users", state), state)
    rules = _build_rules(_entries(raw, "rules", state), state)
    try:
        entry = TrapsEntry.model_validate({**raw, "users": [], "rules": []})
    except ValidationError as exc:
        for error in exc.errors():
            _report_schema_error(state, SECTION, TrapsEntry, error)
        return None

    communities = tuple(Community(name, resolve_secret(state, (*SECTION, "communities", name),
                                                       secret))
                        for name, secret in entry.communities.items())
    return TrapSettings(
        listen=tuple(parse_listen_address(text) for text in entry.listen),
        socket_name=entry.socket_name, communities=communities, users=users,
        engine_id=parse_hex(entry.engine_id) if entry.engine_id else None,
        rate=entry.rate_limit.rate, burst=entry.rate_limit.burst,
        queue_size=entry.queue_size, rules=rules,
    )


def _entries(raw: Mapping[str, Any], key: str, state: BuildState) -> list[Any]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        state.report((*SECTION, key), f"expected a list of {key}")
        return []
    return value


# ---------------------------------------------------------------------------------------------
# Users


def _build_users(raw_users: list[Any], state: BuildState) -> tuple[ReceiverUser, ...]:
    users: list[ReceiverUser] = []
    seen: dict[tuple[bytes | None, str], int] = {}
    for index, raw in enumerate(raw_users):
        path: KeyPath = (*SECTION, "users", index)
        user = _build_user(raw, path, state)
        if user is None:
            continue
        identity = (user.engine_id, user.user.name)
        if identity in seen:
            state.report((*path, "user"), f"user {user.user.name!r} is already defined at "
                                          f"users[{seen[identity]}] for the same engine ID; "
                                          "remove one")
            continue
        seen[identity] = index
        users.append(user)
    return tuple(users)


def _build_user(raw: object, path: KeyPath, state: BuildState) -> ReceiverUser | None:
    if not isinstance(raw, Mapping) or "user" not in raw:
        state.report(path, "expected a mapping with `user` and its keys, such as "
                           "auth_protocol and auth_passphrase")
        return None
    misplaced = [key for key in _NOT_FOR_USERS if key in raw]
    for key in misplaced:
        state.report((*path, key), f"`{key}` is not a setting of a trap user; remove it")
    try:
        entry = CredentialsEntry.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            _report_schema_error(state, path, CredentialsEntry, error)
        return None
    if misplaced:
        return None

    built = _credentials(entry, path, state)
    if built is None:
        return None
    try:
        return ReceiverUser(built.user, built.security_engine_id)
    except ValueError as exc:
        state.report((*path, "engine_id"), str(exc))
        return None


def _credentials(entry: CredentialsEntry, path: KeyPath,
                 state: BuildState) -> UsmCredentials | None:
    """Build the user with the checks of the `credentials:` profiles, under our key path."""
    scratch = BuildState(state.source, state.base_dir, state.environ, {})
    built = build_credentials(scratch, "user", entry)
    # build_credentials reports under ("credentials", NAME, ...): move each issue to `path`.
    for issue in scratch.issues:
        state.report((*path, *issue.path[2:]), issue.message)
    if scratch.issues or not isinstance(built, UsmCredentials):
        return None
    return built


# ---------------------------------------------------------------------------------------------
# Rules


def _build_rules(raw_rules: list[Any], state: BuildState) -> tuple[TrapRule, ...]:
    rules: list[TrapRule] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(raw_rules):
        path: KeyPath = (*SECTION, "rules", index)
        rule = _build_rule(raw, path, state)
        if rule is None:
            continue
        if rule.name in first_index:
            state.report((*path, "name"), f"rule {rule.name!r}: the name is already used by "
                                          f"rules[{first_index[rule.name]}]; give each rule "
                                          "its own name")
            continue
        first_index[rule.name] = index
        rules.append(rule)
    return tuple(rules)


def _build_rule(raw: object, path: KeyPath, state: BuildState) -> TrapRule | None:
    try:
        entry = TrapRuleEntry.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            _report_schema_error(state, path, TrapRuleEntry, error)
        return None

    issues_before = len(state.issues)
    rule_state = _RuleState(state, path, entry.name)
    trap_oid = rule_state.notification("trap", entry.trap)
    resolved_by = (rule_state.notification("resolved_by", entry.resolved_by)
                   if entry.resolved_by is not None else None)
    sources = rule_state.networks(entry.sources)
    matches = rule_state.varbind_matches(entry.varbinds)
    keys = rule_state.keys(entry.key)
    templates = rule_state.templates(entry.annotations)
    if len(state.issues) > issues_before or trap_oid is None:
        return None

    resolve_after = entry.resolve_after
    if "resolve_after" not in entry.model_fields_set and resolved_by is None:
        resolve_after = DEFAULT_RESOLVE_AFTER
    return TrapRule(
        name=entry.name, trap_oid=trap_oid, severity=entry.severity, sources=sources,
        varbinds=matches, key=keys, labels=dict(entry.labels),
        annotations=dict(entry.annotations), templates=templates, resolved_by=resolved_by,
        dedup_window=entry.dedup_window, resolve_after=resolve_after,
    )


class _RuleState:
    """Resolves the names of one rule and reports each failure under its key."""

    def __init__(self, state: BuildState, path: KeyPath, name: str) -> None:
        self.state = state
        self.path = path
        self.title = f"rule {name!r}"

    def report(self, keys: tuple[str | int, ...], message: str) -> None:
        self.state.report((*self.path, *keys), f"{self.title}: {message}")

    def notification(self, key: str, text: str) -> tuple[int, ...] | None:
        try:
            return resolve_notification(text)
        except ValueError as exc:
            self.report((key,), str(exc))
            return None

    def networks(self, texts: list[str]) -> tuple[Any, ...]:
        networks = []
        for index, text in enumerate(texts):
            try:
                networks.append(ipaddress.ip_network(text.strip(), strict=False))
            except ValueError:
                self.report(("sources", index), f"invalid source {text!r}: expected an IP "
                                                "address or a network such as 192.0.2.0/24")
        return tuple(networks)

    def varbind_matches(self, varbinds: Mapping[str, str | MatchEntry],
                        ) -> tuple[VarbindMatch, ...]:
        matches = []
        for text, condition in varbinds.items():
            try:
                oid = resolve_object(text)[0]
            except ValueError as exc:
                self.report(("varbinds", text), str(exc))
                continue
            if isinstance(condition, MatchEntry):
                matches.append(VarbindMatch(text, oid, pattern=re.compile(condition.regex)))
            else:
                matches.append(VarbindMatch(text, oid, equals=condition))
        return tuple(matches)

    def keys(self, entries: list[KeyEntry]) -> tuple[KeyVarbind, ...]:
        keys = []
        for index, entry in enumerate(entries):
            try:
                keys.append(key_varbind(entry.oid, entry.label))
            except ValueError as exc:
                self.report(("key", index), str(exc))
        return tuple(keys)

    def templates(self, annotations: Mapping[str, str]) -> dict[str, Any]:
        templates = {}
        for name, text in annotations.items():
            try:
                templates[name] = compile_template(text)
            except TemplateSyntaxError as exc:
                reason = (exc.message or "syntax error").rstrip(".")
                self.report(("annotations", name), f"invalid template, line {exc.lineno} of the "
                                                   f"template: {reason}; templates are Jinja2, "
                                                   "such as {{ labels.ifIndex }}")
        return templates


# ---------------------------------------------------------------------------------------------
# Schema errors


def _report_schema_error(state: BuildState, path: KeyPath, model: type[StrictModel],
                         error: ErrorDetails) -> None:
    """Report one pydantic error under its key path, without showing a secret's value."""
    location: KeyPath = tuple(part for part in error["loc"]
                              if not (isinstance(part, str) and "[" in part))
    kind = error["type"]
    if kind == "missing":
        message = f"missing required key {location[-1]!r}"
    elif kind == "extra_forbidden":
        owner = _model_at(model, location[:-1])
        allowed = sorted(field.alias or key for key, field in owner.model_fields.items())
        message = f"unknown key {location[-1]!r}; allowed keys: {', '.join(allowed)}"
    elif kind == "value_error":
        message = str(error.get("ctx", {}).get("error", error["msg"]))
    else:
        text = error["msg"]
        message = f"invalid value: {text[:1].lower()}{text[1:]}"
    state.report((*path, *location), message)


def _model_at(model: type[StrictModel], location: KeyPath) -> type[StrictModel]:
    """Return the model that owns the keys at `location` below `model`, for "allowed keys"."""
    current = model
    for part in location:
        if not isinstance(part, str) or part not in current.model_fields:
            continue
        annotation = current.model_fields[part].annotation
        for candidate in getattr(annotation, "__args__", (annotation,)):
            if isinstance(candidate, type) and issubclass(candidate, StrictModel):
                current = candidate
                break
    return current
