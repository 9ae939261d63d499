"""The `cluster:` section of the config file: its schema, its checks, and the config hash.

Several daemons that read the same file and the same Redis share the polling of its targets.
The schema here checks each key alone. `build_cluster` then checks the keys against each other
(the lease timing, the Redis address forms) and against the rest of the file. It builds the
`ClusterSettings` of snmpd_ng.cluster.settings. docs/config.md documents every key.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, TypeAdapter, ValidationError

from snmpd_ng.cluster.keys import FIELD_SEPARATOR
from snmpd_ng.cluster.node_id import NODE_ID_RULE, is_valid_node_id
from snmpd_ng.cluster.settings import DEFAULT_LEASE_TTL, ClusterSettings, RedisSettings

# The module rather than resolve_secret itself, because an import that starts at secret_sources
# reaches this module through schema.py before resolve_secret exists.
from snmpd_ng.config import secret_sources
from snmpd_ng.config.build_state import BuildState
from snmpd_ng.config.errors import ConfigIssue, KeyPath
from snmpd_ng.config.redis_url import RedisUrl, has_valid_port, parse_redis_url
from snmpd_ng.config.schema import (
    Address,
    ConfigFile,
    SecretSource,
    StrictModel,
    Timeout,
    format_seconds,
    parse_duration,
)
from snmpd_ng.secret import Secret

SECTION: KeyPath = ("cluster",)
REDIS_SECTION: KeyPath = (*SECTION, "redis")

NODE_LOCAL_KEYS = ("http", "logging", "state_dir")
"""Top-level keys that may differ between the nodes of one cluster; the config hash omits them."""
NODE_LOCAL_CLUSTER_KEYS = ("node_id", "capacity", "advertise_url", "redis")
"""Keys of the `cluster:` section that may differ between nodes; the config hash omits them.

`redis` is among them: nodes may reach the same Redis by different addresses (a local socket,
a Sentinel near each node), and nodes that reach different ones never meet anyway."""
CONFIG_HASH_LENGTH = 16
"""Hex digits of SHA-256 kept in the config hash: 64 bits tell configs apart well enough."""

DEFAULT_SENTINEL_PORT = 26379
MIN_LEASE_TTL = 1.0
MIN_HEARTBEATS_PER_LEASE = 3
"""Below this many heartbeats per lease, two lost heartbeats in a row let the lease expire."""

_KEY_PREFIX = re.compile(r"[A-Za-z0-9._-]{1,64}")
_DIGITS = re.compile(r"[0-9]+")
_ADDRESS = TypeAdapter(Address)


def _duration_from(minimum: float, *, is_minimum_allowed: bool) -> Callable[[object], object]:
    """Build a before-validator of a finite duration of at least (or above) `minimum` seconds."""
    allowed = (f"{format_seconds(minimum)} or more" if is_minimum_allowed
               else f"above {minimum:g}")

    def check(value: object) -> object:
        seconds = parse_duration(value)
        if not isinstance(seconds, float):
            return seconds
        is_low = seconds < minimum if is_minimum_allowed else seconds <= minimum
        if is_low or not math.isfinite(seconds):
            raise ValueError(f"invalid duration {value!r}; allowed values: {allowed}")
        return seconds

    return check


PositiveDuration = Annotated[float, BeforeValidator(_duration_from(0.0, is_minimum_allowed=False))]
"""A finite duration above 0 seconds."""
NonNegativeDuration = Annotated[float,
                                BeforeValidator(_duration_from(0.0, is_minimum_allowed=True))]
"""A finite duration of 0 seconds or more."""
LeaseTtl = Annotated[float, BeforeValidator(_duration_from(MIN_LEASE_TTL, is_minimum_allowed=True))]


def _check_node_id(value: str) -> str:
    if not is_valid_node_id(value):
        raise ValueError(f"invalid node ID {value!r}: use {NODE_ID_RULE}")
    return value


def _check_key_prefix(value: str) -> str:
    if not _KEY_PREFIX.fullmatch(value):
        reason = ""
        if "{" in value or "}" in value:
            reason = " (Redis keys put the prefix between braces as a hash tag, so it cannot " \
                     "contain braces)"
        raise ValueError(f"invalid key prefix {value!r}: use 1 to 64 letters, digits, '.', '_' "
                         f"or '-'{reason}")
    return value


def _check_redis_url(value: str) -> str:
    parse_redis_url(value)
    return value


def _check_advertise_url(value: str) -> str:
    """Accept an http:// or https:// URL with a host and no user information."""
    parts = urlsplit(value)
    # Checked first, so that no later message shows a password in the URL.
    if "@" in parts.netloc:
        raise ValueError("invalid advertise_url: it contains user information, which every "
                         "node and `cluster status` would show; remove it")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"invalid advertise_url {value!r}: expected the URL of this node's HTTP "
                         "server, such as http://192.0.2.5:9161")
    if not has_valid_port(parts):
        raise ValueError(f"invalid advertise_url {value!r}: the port must be a number from 1 "
                         "to 65535")
    return value


def parse_sentinel(text: str) -> tuple[str, int]:
    """Split "HOST:PORT", "[IPV6]:PORT" or "HOST" (port 26379) into host and port.

    Raises ValueError with the expected forms.
    """
    expected = (f"invalid Sentinel address {text!r}: expected HOST:PORT such as "
                "127.0.0.1:26379 or [::1]:26379 (the port defaults to 26379)")
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(expected)
        has_port, port_text = bool(rest), rest[1:]
    elif text.count(":") > 1:
        raise ValueError(expected + "; write an IPv6 address in brackets")
    else:
        host, colon, port_text = text.partition(":")
        has_port = bool(colon)

    if has_port and not (_DIGITS.fullmatch(port_text) and 1 <= int(port_text) <= 65535):
        raise ValueError(expected)
    if not _is_host(host):
        raise ValueError(expected)
    return host, int(port_text) if has_port else DEFAULT_SENTINEL_PORT


def _is_host(text: str) -> bool:
    """Tell whether `text` is an IP address or a DNS name, by the rule of `targets[].address`."""
    try:
        _ADDRESS.validate_python(text)
    except ValidationError:
        return False
    return True


def _check_sentinel(value: str) -> str:
    parse_sentinel(value)
    return value


RedisUrlText = Annotated[str, AfterValidator(_check_redis_url)]
SentinelAddress = Annotated[str, AfterValidator(_check_sentinel)]
KeyPrefix = Annotated[str, AfterValidator(_check_key_prefix)]
NodeId = Annotated[str, AfterValidator(_check_node_id)]
AdvertiseUrl = Annotated[str, AfterValidator(_check_advertise_url)]


class RedisEntry(StrictModel):
    """The `cluster.redis` mapping: where Redis is and how to log in."""

    SHAPE = "a mapping with `url`, or with `sentinels` and `service_name`"

    url: RedisUrlText | None = None
    sentinels: list[SentinelAddress] | None = Field(default=None, min_length=1)
    service_name: str | None = Field(default=None, min_length=1)
    cluster: bool = False
    username: str | None = Field(default=None, min_length=1)
    password: SecretSource | None = None
    sentinel_password: SecretSource | None = None
    db: int = Field(default=0, ge=0)
    key_prefix: KeyPrefix = "snmpd-ng"
    connect_timeout: Timeout = 2.0
    command_timeout: Timeout = 2.0


class ClusterEntry(StrictModel):
    """The `cluster:` section; its presence turns cluster mode on."""

    SHAPE = "a mapping with `redis` and the optional keys of docs/config.md"

    redis: RedisEntry
    node_id: NodeId | None = None
    capacity: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    advertise_url: AdvertiseUrl | None = None
    lease_ttl: LeaseTtl = DEFAULT_LEASE_TTL
    heartbeat_interval: PositiveDuration | None = None
    lease_margin: NonNegativeDuration = 1.0
    join_delay: NonNegativeDuration | None = None
    failover_bound: PositiveDuration | None = None
    local_cache: bool = True


# ConfigFile names ClusterEntry in its `cluster` field, but cannot import this module, which
# builds on its models; this resolves the name once ClusterEntry exists.
ConfigFile.model_rebuild()


def build_cluster(state: BuildState, config_file: ConfigFile) -> ClusterSettings | None:
    """Check the `cluster:` section against itself and the rest of the file, and build it.

    Errors go to `state`. Returns None when the file has no `cluster:` section.
    """
    entry = config_file.cluster
    if entry is None:
        return None
    _check_lease_timing(state, entry)
    _check_names(state, config_file)
    redis = _build_redis(state, entry.redis)
    return ClusterSettings(
        redis=redis,
        node_id=entry.node_id,
        capacity=entry.capacity,
        advertise_url=entry.advertise_url,
        lease_ttl=entry.lease_ttl,
        heartbeat_interval=entry.heartbeat_interval,
        lease_margin=entry.lease_margin,
        join_delay=entry.join_delay,
        failover_bound=entry.failover_bound,
        local_cache=entry.local_cache,
        config_hash=config_hash(config_file.document),
        config_sections=config_section_hashes(config_file.document),
    )


def _check_lease_timing(state: BuildState, entry: ClusterEntry) -> None:
    ttl = entry.lease_ttl
    heartbeat = entry.heartbeat_interval
    if heartbeat is not None and heartbeat >= ttl / 2:
        state.report((*SECTION, "heartbeat_interval"), (
            f"heartbeat_interval {heartbeat:g} s is not shorter than half of lease_ttl "
            f"({ttl:g} s), so one lost heartbeat lets the node's lease expire; set it below "
            f"{ttl / 2:g} s (the default is lease_ttl / 4) or raise lease_ttl"))
    if entry.lease_margin >= ttl:
        state.report((*SECTION, "lease_margin"), (
            f"lease_margin {entry.lease_margin:g} s is not shorter than lease_ttl {ttl:g} s; a "
            "poll starts only while more than lease_margin of its target's lease remains, so "
            "none would ever start; lower lease_margin or raise lease_ttl"))
    bound = entry.failover_bound
    if bound is not None and bound <= ttl:
        state.report((*SECTION, "failover_bound"), (
            f"failover_bound {bound:g} s is not longer than lease_ttl {ttl:g} s, but the "
            "targets of a failed node move only after its lease expired; raise it above "
            "lease_ttl, or remove it to use the computed bound"))


def _check_names(state: BuildState, config_file: ConfigFile) -> None:
    """Report target and job names with the separator of the cache invalidation messages."""
    reason = ("contains the control character U+001F, which cluster mode uses to separate the "
              "fields of its cache messages in Redis; remove it")
    for position, target in enumerate(config_file.targets):
        if target.name is not None and FIELD_SEPARATOR in target.name:
            state.report(("targets", position, "name"), f"target name {target.name!r} {reason}")
    for name in config_file.jobs:
        if FIELD_SEPARATOR in name:
            state.report(("jobs", name), f"job name {name!r} {reason}")


def _build_redis(state: BuildState, entry: RedisEntry) -> RedisSettings:
    url = parse_redis_url(entry.url) if entry.url is not None else None
    _check_redis_address(state, entry, url)
    db = _database(state, entry, url)
    username = entry.username
    if url is not None and url.username is not None:
        if username is not None:
            state.report((*REDIS_SECTION, "username"), (
                "the url contains a user name too; give the user name in one place"))
        username = url.username

    return RedisSettings(
        url=entry.url,
        sentinels=tuple(parse_sentinel(text) for text in entry.sentinels or ()),
        service_name=entry.service_name,
        cluster=entry.cluster,
        username=username,
        password=_secret(state, "password", entry.password),
        sentinel_password=_secret(state, "sentinel_password", entry.sentinel_password),
        db=db,
        key_prefix=entry.key_prefix,
        connect_timeout=entry.connect_timeout,
        command_timeout=entry.command_timeout,
    )


def _secret(state: BuildState, key: str, source: SecretSource | None) -> Secret | None:
    if source is None:
        return None
    return secret_sources.resolve_secret(state, (*REDIS_SECTION, key), source)


def _check_redis_address(state: BuildState, entry: RedisEntry, url: RedisUrl | None) -> None:
    """Report a missing or doubled Redis address, and keys that its form does not use."""
    if entry.url is None and entry.sentinels is None:
        state.report(REDIS_SECTION, (
            "missing Redis address: set `url` (redis://, rediss:// or unix://), or `sentinels` "
            "with `service_name`"))
    if entry.url is not None and entry.sentinels is not None:
        state.report((*REDIS_SECTION, "sentinels"), (
            "`url` and `sentinels` are both set; keep `url` for one server or one node of a "
            "Redis Cluster, or `sentinels` with `service_name` for a Sentinel setup"))
    if entry.sentinels is not None and entry.service_name is None:
        state.report((*REDIS_SECTION, "service_name"), (
            "missing required key 'service_name': with `sentinels`, name the master that the "
            "Sentinels monitor, such as mymaster"))
    if entry.sentinels is None:
        for key in ("service_name", "sentinel_password"):
            if getattr(entry, key) is not None:
                state.report((*REDIS_SECTION, key), (
                    f"`{key}` applies only with `sentinels`; remove it, or replace `url` "
                    "with `sentinels`"))
    if entry.cluster and entry.sentinels is not None:
        state.report((*REDIS_SECTION, "cluster"), (
            "Redis Cluster does not use Sentinel; with `cluster: true`, set `url` to one node "
            "of the Redis Cluster instead of `sentinels`"))
    if entry.cluster and url is not None and url.scheme == "unix":
        state.report((*REDIS_SECTION, "cluster"), (
            "with `cluster: true`, `url` must be a redis:// or rediss:// address of one node of "
            "the Redis Cluster, not a unix socket"))


def _database(state: BuildState, entry: RedisEntry, url: RedisUrl | None) -> int:
    """Return the database number from the url or `db`, reporting a conflict between them."""
    db = entry.db
    if url is not None and url.db is not None:
        if "db" in entry.model_fields_set and entry.db != url.db:
            state.report((*REDIS_SECTION, "db"), (
                f"db {entry.db} differs from database {url.db} in the url; give the database "
                "in one place"))
        db = url.db
    if entry.cluster and db != 0:
        state.report((*REDIS_SECTION, "db"), (
            f"Redis Cluster has only database 0, so db {db} cannot be selected; remove it (and "
            "the database from the url)"))
    return db


def cluster_warnings(
    settings: ClusterSettings | None, state_dir: str | None, state: BuildState,
    *, alerting: bool = False,
) -> list[ConfigIssue]:
    """Return the warnings of a valid `cluster:` section: settings that are probably mistakes."""
    if settings is None:
        return []

    found: list[tuple[KeyPath, str]] = []
    ttl, heartbeat = settings.lease_ttl, settings.heartbeat_seconds
    if ttl < MIN_HEARTBEATS_PER_LEASE * heartbeat:
        found.append(((*SECTION, "heartbeat_interval"), (
            f"lease_ttl {ttl:g} s is shorter than {MIN_HEARTBEATS_PER_LEASE} heartbeats of "
            f"{heartbeat:g} s, so two heartbeats lost in a row (a Redis failover, a paused "
            "process) let the node's lease expire and its targets move to other nodes; set "
            "heartbeat_interval to at most lease_ttl / 3")))

    command_timeout = settings.redis.command_timeout
    if heartbeat + command_timeout >= ttl:
        found.append(((*REDIS_SECTION, "command_timeout"), (
            f"heartbeat_interval ({heartbeat:g} s) plus command_timeout ({command_timeout:g} s) "
            f"is not shorter than lease_ttl ({ttl:g} s), so a heartbeat that waits the whole "
            "timeout for Redis ends after the lease expired; lower command_timeout or "
            "heartbeat_interval, or raise lease_ttl")))

    # $STATE_DIRECTORY, which systemd's StateDirectory= sets, takes precedence over state_dir.
    if settings.node_id is None and state_dir is None and not state.environ.get("STATE_DIRECTORY"):
        found.append(((*SECTION, "node_id"), (
            "neither cluster.node_id nor state_dir is set, so a generated node ID cannot be "
            "kept and the daemon will not start (unless systemd sets $STATE_DIRECTORY); set "
            "cluster.node_id, or state_dir")))

    if alerting and settings.advertise_url is None:
        found.append(((*SECTION, "advertise_url"), (
            "not set, so while this node leads the cluster the other nodes cannot forward the "
            "alerts API to it and answer 503; set it to this node's HTTP URL, as the other "
            "nodes reach it")))

    # A scratch BuildState finds each path's line the way error reports do, and keeps these
    # warnings out of the errors of `state`.
    scratch = BuildState(state.source, state.base_dir, state.environ, state.lines)
    for path, message in found:
        scratch.report(path, message)
    return scratch.issues


def config_hash(document: Any) -> str:
    """Hash the parsed YAML document without its node-local keys: 16 hex digits of SHA-256.

    Nodes compare hashes to tell that they run the same config. The document is hashed as
    canonical JSON (sorted keys, fixed separators), so that comments, key order, quoting and
    whitespace do not change the hash. A secret given as {env: NAME} or {file: PATH} is hashed
    as that reference, not as its value, but a literal secret is part of the document.
    """
    shared = _without_node_local_keys(document)
    text = json.dumps(_canonical(shared), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:CONFIG_HASH_LENGTH]


def config_section_hashes(document: Any) -> str:
    """Return "section=hash" pairs, comma-separated, of the shared top-level sections.

    A node whose config hash differs from the others' names the sections whose hash differs,
    so that the operator knows where to look. Each hash is 8 hex digits of SHA-256.
    """
    shared = _without_node_local_keys(document)
    if not isinstance(shared, Mapping):
        return ""
    pairs = []
    for key in sorted(shared, key=str):
        text = json.dumps(_canonical(shared[key]), sort_keys=True, separators=(",", ":"))
        pairs.append(f"{key}={hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]}")
    return ",".join(pairs)


def differing_sections(mine: str, theirs: str) -> list[str]:
    """Return the sections whose hash differs between two config_section_hashes results."""
    first, second = _section_map(mine), _section_map(theirs)
    return sorted(key for key in first.keys() | second.keys() if first.get(key) != second.get(key))


def _section_map(pairs: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in pairs.split(",") if "=" in pair)


def _without_node_local_keys(document: Any) -> Any:
    if not isinstance(document, Mapping):
        return document
    shared = {key: value for key, value in document.items() if key not in NODE_LOCAL_KEYS}
    cluster = shared.get("cluster")
    if isinstance(cluster, Mapping):
        shared["cluster"] = {key: value for key, value in cluster.items()
                             if key not in NODE_LOCAL_CLUSTER_KEYS}
    return shared


def _canonical(value: Any) -> Any:
    """Turn YAML's values into JSON's: keys become strings, dates and sets get one spelling."""
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted(json.dumps(_canonical(item), sort_keys=True) for item in value)
    if isinstance(value, bytes):
        return value.hex()
    if value is None or isinstance(value, str | int | float):
        return value
    # Dates and times, the only other values that PyYAML's safe loader builds.
    return str(value)
