"""The YAML schema of the daemon's config file, as pydantic models.

These models check the shape and the value of every key: unknown keys, types, ranges, durations,
addresses and object names. References between sections (a target's credentials profile and
jobs), secret lookups and OID resolution happen afterwards in `snmpd_ng.config.loader`, which
turns these models into the frozen `snmpd_ng.config.model.DaemonConfig`.
docs/config.md documents every key.
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    field_validator,
    model_validator,
)

from snmpd_ng import mibs
from snmpd_ng.config.model import IndexType, MetricType
from snmpd_ng.config.usm import (
    parse_auth_protocol,
    parse_hex,
    parse_priv_protocol,
    parse_security_level,
)
from snmpd_ng.protocol.errors import EncodeError
from snmpd_ng.protocol.oid import validate_for_encoding
from snmpd_ng.transport.endpoint import DEFAULT_RECEIVE_BUFFER_SIZE, DEFAULT_SEND_BUFFER_SIZE

if TYPE_CHECKING:
    from snmpd_ng.config.cluster import ClusterEntry

SECRET_KEYS = frozenset({
    "community", "password", "auth_passphrase", "auth_key", "priv_passphrase", "priv_key",
    "sentinel_password",
})
"""Keys whose values are secret: error messages never show them, nor values under them."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_METRIC_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def parse_duration(value: object) -> object:
    """Turn 30, 2.5, "500ms", "30s", "5m" or "1h" into seconds; other input passes unchanged.

    Booleans are rejected, since YAML reads `yes` as true and a duration of 1 s would surprise.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: {_DURATION_HINT}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"invalid duration {value!r}: {_DURATION_HINT}")
        return float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    return value


_DURATION_HINT = "use a number of seconds, or a number with ms, s, m or h such as 500ms, 30s, 5m"

MAX_INTERVAL = 86400.0
"""Maximum job interval and poll budget in seconds (24 h). A longer one is a typo more often than
a plan, and its first slot could lie so far ahead that the job is never polled."""
MAX_TIMEOUT = 60.0
"""Maximum wait for one attempt in seconds: an agent that needs longer is not responding."""


def format_seconds(seconds: float) -> str:
    """Format a duration limit the way the config writes it: 60s, 24h, 1.5s."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    return f"{seconds:g}s"


def _duration_within(maximum: float) -> Any:
    """Build a before-validator that parses a duration and checks 0 < seconds <= maximum."""

    def check(value: object) -> object:
        seconds = parse_duration(value)
        if isinstance(seconds, float) and not 0 < seconds <= maximum:
            limit = "above 0" if math.isinf(maximum) else f"above 0 up to {format_seconds(maximum)}"
            raise ValueError(f"invalid duration {value!r}; allowed values: {limit}")
        return seconds

    return check


Duration = Annotated[float, BeforeValidator(_duration_within(math.inf))]
"""A positive duration in seconds."""
Interval = Annotated[float, BeforeValidator(_duration_within(MAX_INTERVAL))]
"""A job interval or poll budget: above 0, at most 24 h."""
Timeout = Annotated[float, BeforeValidator(_duration_within(MAX_TIMEOUT))]
"""The wait for one attempt: above 0, at most 60 s."""


def _normalize_version(value: object) -> object:
    # YAML reads `version: 1` as an int and `version: 2c` as a string.
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and value.lower().removeprefix("v") == "3":
        return "3"
    return value


SnmpVersionText = Annotated[Literal["1", "2c", "3"], BeforeValidator(_normalize_version)]


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _check_object_reference(value: str) -> str:
    """Reject an OID that is neither numeric nor a known name, or that no request can carry."""
    oid = mibs.resolve(value).oid
    try:
        validate_for_encoding(oid)
    except EncodeError as exc:
        raise ValueError(f"{exc}, so no request can carry it; fix the OID") from None
    return value


ObjectReference = Annotated[
    str, BeforeValidator(_strip), Field(min_length=1), AfterValidator(_check_object_reference)
]
"""A numeric OID such as 1.3.6.1.2.1.1.3.0, or a name from snmpd_ng.mibs such as sysUpTime."""


def _check_metric_name(value: str) -> str:
    if not _METRIC_NAME.match(value):
        raise ValueError(
            f"invalid name {value!r}: a metric name is letters, digits and underscores, "
            "and does not start with a digit"
        )
    return value


MetricName = Annotated[str, AfterValidator(_check_metric_name)]


def _check_label_name(value: str) -> str:
    if not _LABEL_NAME.match(value) or value.startswith("__"):
        raise ValueError(
            f"invalid label name {value!r}: use letters, digits and underscores, not starting "
            "with a digit or with two underscores"
        )
    return value


LabelName = Annotated[str, AfterValidator(_check_label_name)]


class StrictModel(BaseModel):
    """Base of every section: unknown keys are errors, and numbers are accepted as strings.

    A number whose text YAML changed (0123 read as 83) never reaches a string field: the loader
    rejects it before validation, with a hint to quote it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    SHAPE: ClassVar[str] = "a mapping"
    """The form of a value of this section, for messages about a value of the wrong type."""
    SCALAR_KEY: ClassVar[str | None] = None
    """The key that a plain string stands for (`sysUpTime` means `{oid: sysUpTime}`), if any."""


def _wrap_scalar(key: str) -> Any:
    """Build a before-validator that accepts `VALUE` as shorthand for `{key: VALUE}`."""

    def wrap(value: Any) -> Any:
        if isinstance(value, str | int) and not isinstance(value, bool):
            return {key: value}
        return value

    return wrap


class SecretSource(StrictModel):
    """A community or password: a literal, `{value: TEXT}`, `{env: NAME}` or `{file: PATH}`."""

    SHAPE = "a string, {env: NAME} or {file: PATH}"
    SCALAR_KEY = "value"

    value: str | None = None
    env: str | None = Field(default=None, min_length=1)
    file: str | None = Field(default=None, min_length=1)

    _from_scalar = model_validator(mode="before")(_wrap_scalar(SCALAR_KEY))

    @model_validator(mode="after")
    def _check_one_source(self) -> SecretSource:
        given = [name for name in ("value", "env", "file") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "give the secret as a literal string, as {env: VARIABLE} or as {file: PATH}, "
                f"exactly one of them (found {len(given)})"
            )
        return self


class ObjectEntry(StrictModel):
    """A scalar or column to poll: a name or numeric OID, with optional metric settings."""

    SHAPE = "an object name, a numeric OID, or a mapping with `oid`"
    SCALAR_KEY = "oid"

    oid: ObjectReference
    name: MetricName | None = None
    type: MetricType | None = None
    help: str | None = None

    _from_scalar = model_validator(mode="before")(_wrap_scalar(SCALAR_KEY))


class IndexEntry(StrictModel):
    """One part of a table's INDEX clause, read from the row's OID suffix into a label."""

    label: LabelName
    type: IndexType = "integer"
    length: int | None = Field(default=None, ge=1, le=128)

    @model_validator(mode="after")
    def _check_length(self) -> IndexEntry:
        if (self.type == "fixed_string") != (self.length is not None):
            raise ValueError("`length` is required for type fixed_string and allowed only there")
        return self


class LookupEntry(StrictModel):
    """A column of the same index whose value becomes a label, such as ifName."""

    SHAPE = "a column name, a numeric OID, or a mapping with `oid` and `label`"
    SCALAR_KEY = "oid"

    oid: ObjectReference
    label: LabelName | None = None

    _from_scalar = model_validator(mode="before")(_wrap_scalar(SCALAR_KEY))


class TableEntry(StrictModel):
    """A table walk: a built-in MIB table by name, or columns by numeric OID."""

    SHAPE = "a built-in table name, or a mapping with `table` or with `name` and `columns`"
    SCALAR_KEY = "table"

    table: str | None = None
    name: MetricName | None = None
    columns: list[ObjectEntry] | None = None
    indexes: list[IndexEntry] | None = None
    lookups: list[LookupEntry] = []
    slow_changing: bool = False

    _from_scalar = model_validator(mode="before")(_wrap_scalar(SCALAR_KEY))

    @field_validator("table")
    @classmethod
    def _check_table(cls, value: str | None) -> str | None:
        if value is not None and mibs.find_table(value) is None:
            message = f"unknown table {value!r}"
            close = mibs.suggest(value, mibs.table_names())
            message += f" (did you mean {close!r}?)" if close else ""
            raise ValueError(f"{message}; built-in tables: {', '.join(mibs.table_names())}")
        return value

    @model_validator(mode="after")
    def _check_custom_table(self) -> TableEntry:
        if self.table is None and (self.name is None or not self.columns):
            raise ValueError(
                "a table outside the built-in MIB table needs `name` and `columns` "
                "(numeric column OIDs), or use `table: NAME` for a built-in one"
            )
        return self


class JobEntry(StrictModel):
    """Objects polled together on one interval."""

    interval: Interval | None = None
    scalars: list[ObjectEntry] = []
    tables: list[TableEntry] = []

    @model_validator(mode="after")
    def _check_not_empty(self) -> JobEntry:
        if not self.scalars and not self.tables:
            raise ValueError("a job needs at least one entry under `scalars` or `tables`")
        return self


def _check_admin_string(subject: str) -> Any:
    """Build an after-validator of an SnmpAdminString of at most 32 octets (RFC 3411)."""

    def check(value: str) -> str:
        octets = len(value.encode("utf-8"))
        if octets > 32:
            raise ValueError(f"invalid {subject} {value!r}: it has {octets} octets in UTF-8; "
                             "SNMPv3 allows at most 32")
        return value

    return check


def _check_engine_id(value: str) -> str:
    """Accept an engine ID of 5 to 32 octets in hex (RFC 3411 SnmpEngineID)."""
    try:
        octets = parse_hex(value)
    except ValueError as exc:
        raise ValueError(f"invalid engine ID {value!r}: it {exc}") from None
    if not 5 <= len(octets) <= 32:
        raise ValueError(f"invalid engine ID {value!r}: it has {len(octets)} octets; an engine "
                         "ID has 5 to 32")
    return value


def _canonical_name(parse: Any) -> Any:
    """Build an after-validator that checks a name with `parse` and keeps its canonical form."""

    def check(value: str) -> str:
        return str(parse(value).value)

    return check


UserName = Annotated[str, Field(min_length=1), AfterValidator(_check_admin_string("user name"))]
ContextName = Annotated[str, AfterValidator(_check_admin_string("context name"))]
EngineId = Annotated[str, BeforeValidator(_strip), AfterValidator(_check_engine_id)]
"""Hex octets of an SNMP engine ID; the builder decodes them."""
AuthProtocolName = Annotated[str, AfterValidator(_canonical_name(parse_auth_protocol))]
PrivProtocolName = Annotated[str, AfterValidator(_canonical_name(parse_priv_protocol))]
SecurityLevelName = Annotated[str, AfterValidator(_canonical_name(parse_security_level))]


class _ValueRequired:
    """The type of VALUE_REQUIRED."""


VALUE_REQUIRED = _ValueRequired()
"""Marks an optional key whose empty or null value is an error, "missing value", rather than
the same as leaving the key out: `community:` with nothing after it is a mistake."""


class KeyEntry(StrictModel):
    """A USM key given as hex octets instead of a passphrase."""

    SHAPE = "{master: HEX} or {localized: HEX}"

    master: SecretSource | None = None
    """Ku, the passphrase already run through the hash (net-snmp's -3m and -3M)."""
    localized: SecretSource | None = None
    """Kul, already localised to the agent's engine ID (net-snmp's -3k and -3K)."""

    @model_validator(mode="after")
    def _check_one_form(self) -> KeyEntry:
        if (self.master is None) == (self.localized is None):
            raise ValueError("give the key as {master: HEX} or as {localized: HEX}, "
                             "exactly one of them")
        return self


class CredentialsEntry(StrictModel):
    """A named set of credentials that targets refer to: a community, or an SNMPv3 user.

    Which keys go together is checked when the config is built, where each problem can name
    its key (snmpd_ng.config.credentials).
    """

    community: Annotated[SecretSource | None, VALUE_REQUIRED] = None
    user: Annotated[UserName | None, VALUE_REQUIRED] = None
    level: Annotated[SecurityLevelName | None, VALUE_REQUIRED] = None
    auth_protocol: Annotated[AuthProtocolName | None, VALUE_REQUIRED] = None
    auth_passphrase: Annotated[SecretSource | None, VALUE_REQUIRED] = None
    auth_key: KeyEntry | None = None
    priv_protocol: Annotated[PrivProtocolName | None, VALUE_REQUIRED] = None
    priv_passphrase: Annotated[SecretSource | None, VALUE_REQUIRED] = None
    priv_key: KeyEntry | None = None
    context: Annotated[ContextName | None, VALUE_REQUIRED] = None
    context_engine_id: Annotated[EngineId | None, VALUE_REQUIRED] = None
    engine_id: Annotated[EngineId | None, VALUE_REQUIRED] = None

    SNMPV3_KEYS: ClassVar[tuple[str, ...]] = (
        "level", "auth_protocol", "auth_passphrase", "auth_key", "priv_protocol",
        "priv_passphrase", "priv_key", "context", "context_engine_id", "engine_id",
    )
    """The keys of an SNMPv3 user besides `user`."""


def _check_address(value: str) -> str:
    """Accept an IPv4 or IPv6 literal or a DNS name; never resolve it here."""
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if value.startswith("[") or value.count(":") == 1:
        raise ValueError(
            f"invalid address {value!r}: give the host alone (IPv6 without brackets) "
            "and the port under `port`"
        )
    labels = value.rstrip(".").split(".")
    if len(value) > 253 or not all(_HOSTNAME_LABEL.match(label) for label in labels):
        raise ValueError(f"invalid address {value!r}: expected an IP address or a DNS name")
    # RFC 1123 section 2.1: a host name's top-level label is never all digits, so a name that
    # ends in one is a mistyped IPv4 address, which the resolver would only fail to find.
    if labels[-1].isdigit():
        raise ValueError(
            f"invalid IPv4 address {value!r}: expected four numbers from 0 to 255 such as "
            "192.0.2.1 (a DNS name never ends in a label of digits only)"
        )
    return value


Address = Annotated[str, BeforeValidator(_strip), AfterValidator(_check_address)]


class TargetSettings(StrictModel):
    """Settings that `defaults` gives to every target and a target may override."""

    port: int | None = Field(default=None, ge=1, le=65535)
    version: SnmpVersionText | None = None
    credentials: str | None = None
    timeout: Timeout | None = None
    retries: int | None = Field(default=None, ge=0, le=20)
    backoff: float | None = Field(default=None, ge=1.0, le=10.0)
    max_repetitions: int | None = Field(default=None, ge=1, le=2147483647)
    max_varbinds_per_request: int | None = Field(default=None, ge=1, le=1000)
    max_in_flight: int | None = Field(default=None, ge=1, le=1000)
    source_address: str | None = None
    non_increasing_tolerance: int | None = Field(default=None, ge=0)
    accept_any_source: bool | None = None
    poll_budget: Interval | None = None
    stale_after: int | None = Field(default=None, ge=1)
    jobs: list[str] | None = None
    labels: dict[LabelName, str] = {}

    @field_validator("source_address")
    @classmethod
    def _check_source_address(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(
                    f"invalid source address {value!r}: expected an IP address"
                ) from None
        return value


class DefaultsEntry(TargetSettings):
    """The `defaults` section: target settings plus the default job interval."""

    interval: Interval | None = None


class TargetEntry(TargetSettings):
    """One agent to poll."""

    name: str | None = Field(default=None, min_length=1)
    address: Address
    context: Annotated[ContextName | None, VALUE_REQUIRED] = None
    """SNMPv3 contextName; it replaces the `context` of the credentials profile."""


def _listen_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class TlsEntry(StrictModel):
    cert_file: str = Field(min_length=1)
    key_file: str = Field(min_length=1)


class BasicAuthEntry(StrictModel):
    username: str = Field(min_length=1)
    password: SecretSource


def _check_listen_address(value: str) -> str:
    """Accept "HOST:PORT" with an IPv4 address or name, or "[IPV6]:PORT"."""
    host, separator, port = value.rpartition(":")
    if not separator or not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
        raise ValueError(
            f"invalid listen address {value!r}: expected HOST:PORT such as 127.0.0.1:9161 "
            "or [::1]:9161"
        )
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError(f"invalid listen address {value!r}: missing ']' after the IPv6 host")
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"invalid listen address {value!r}: write an IPv6 host as [::1]:9161")
    _check_address(host)
    return value


ListenAddress = Annotated[str, AfterValidator(_check_listen_address)]


class HttpEntry(StrictModel):
    listen: Annotated[list[ListenAddress], BeforeValidator(_listen_list)] = Field(
        default=["127.0.0.1:9161"], min_length=1
    )
    tls: TlsEntry | None = None
    basic_auth: BasicAuthEntry | None = None


class SchedulerEntry(StrictModel):
    max_concurrent_polls: int = Field(default=256, ge=1)
    jitter: float = Field(default=1.0, ge=0.0, le=1.0)
    results_queue_size: int = Field(default=10000, ge=1)


class CacheEntry(StrictModel):
    ttl_factor: float = Field(default=2.0, ge=1.0)
    slow_ttl: Duration = 3600.0


class ManagerEntry(StrictModel):
    # SO_RCVBUF and SO_SNDBUF take a C int; null keeps the kernel's default.
    receive_buffer_size: int | None = Field(default=DEFAULT_RECEIVE_BUFFER_SIZE, ge=1,
                                            le=2**31 - 1)
    send_buffer_size: int | None = Field(default=DEFAULT_SEND_BUFFER_SIZE, ge=1, le=2**31 - 1)


class LoggingEntry(StrictModel):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class ConfigFile(StrictModel):
    """The whole file."""

    defaults: DefaultsEntry = DefaultsEntry()
    credentials: dict[str, CredentialsEntry] = {}
    jobs: dict[str, JobEntry]
    targets: list[TargetEntry]
    http: HttpEntry = HttpEntry()
    scheduler: SchedulerEntry = SchedulerEntry()
    cache: CacheEntry = CacheEntry()
    manager: ManagerEntry = ManagerEntry()
    logging: LoggingEntry = LoggingEntry()
    state_dir: str | None = Field(default=None, min_length=1)
    alerting: dict[str, Any] | None = None
    """Checked by `snmpd_ng.config.alerting`, with the loaders of the alerting package."""
    cluster: ClusterEntry | None = None
    """Cluster mode (snmpd_ng.config.cluster); None, or `cluster:` without keys, is one node."""

    _document: Any = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_document(cls, data: Any, handler: ModelWrapValidatorHandler[ConfigFile]) -> Any:
        model = handler(data)
        model._document = data
        return model

    @property
    def document(self) -> Any:
        """The parsed YAML this model was validated from, for the cluster's config hash."""
        return self._document


# The models of the `cluster:` section build on the ones above, so their module is imported
# last; it completes ConfigFile's `cluster` field once ClusterEntry exists.
from snmpd_ng.config import cluster as _cluster  # noqa: E402, F401
