"""The summary that `snmpd-ng check-config` prints for a valid file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from snmpd_ng.cluster.settings import ClusterSettings
from snmpd_ng.config.alerting import AlertingSettings
from snmpd_ng.config.model import DaemonConfig, JobConfig, TargetConfig
from snmpd_ng.security.credentials import KeyKind, UsmUser

_MAX_LISTED_TARGETS = 10


def count(number: int, noun: str, plural: str | None = None) -> str:
    """Write "1 table" or "2 tables": the noun in the singular only for exactly one."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def summarize(config: DaemonConfig) -> str:
    """Describe a valid config in a few lines: targets, jobs, objects and the HTTP face."""
    jobs = {job.name: job for target in config.targets for job in target.jobs}
    names = [target.name for target in config.targets]
    listed = ", ".join(names[:_MAX_LISTED_TARGETS])
    if len(names) > _MAX_LISTED_TARGETS:
        listed += f", and {len(names) - _MAX_LISTED_TARGETS} more"
    lines = [
        f"{config.source_file}: the configuration is valid",
        f"targets: {len(names)}" + (f" ({listed})" if names else ""),
        *_describe_snmpv3_targets(config.targets),
        f"jobs used: {len(jobs)}",
    ]
    lines += [f"  {_describe_job(job)}" for job in jobs.values()]

    scalars = sum(len(job.scalars) for job in jobs.values())
    columns = sum(len(table.columns) for job in jobs.values() for table in job.tables)
    pairs = sum(len(target.jobs) for target in config.targets)
    lines.append(
        f"objects: {scalars + columns} ({count(scalars, 'scalar')}, "
        f"{count(columns, 'table column')})"
    )
    lines.append(f"polls: {count(pairs, 'target-job pair')}")
    lines.append(f"http: {', '.join(config.http.listen)}{_describe_http_options(config)}")
    if config.alerting is not None:
        lines += _describe_alerting(config.alerting, clustered=config.cluster is not None)
    if config.cluster is not None:
        lines.append(_describe_cluster(config.cluster))
    return "\n".join(lines) + "\n"


def _describe_cluster(settings: ClusterSettings) -> str:
    from snmpd_ng.cluster.redis_conn import describe

    node = settings.node_id or "from the node-id file in state_dir"
    return (f"cluster: node {node}, capacity {settings.capacity:g}, "
            f"Redis {describe(settings.redis)}, lease "
            f"{settings.lease_ttl:g} s, heartbeat {settings.heartbeat_seconds:g} s, "
            f"config hash {settings.config_hash}")


def _describe_snmpv3_targets(targets: tuple[TargetConfig, ...]) -> list[str]:
    """List the SNMPv3 targets with user, level and protocols; keys are never shown."""
    snmpv3 = [target for target in targets if target.target.usm is not None]
    if not snmpv3:
        return []
    lines = [f"SNMPv3 targets: {len(snmpv3)}"]
    for target in snmpv3[:_MAX_LISTED_TARGETS]:
        assert target.target.usm is not None
        context = target.target.context_name
        line = f"  {target.name}: {_describe_user(target.target.usm)}"
        lines.append(line + (f", context {context!r}" if context else ""))
    if len(snmpv3) > _MAX_LISTED_TARGETS:
        lines.append(f"  and {len(snmpv3) - _MAX_LISTED_TARGETS} more")
    return lines


def _describe_user(user: UsmUser) -> str:
    """Write "user monitor, authPriv (SHA-256, AES)", with the key form when not a passphrase."""
    parts = []
    if user.authenticates and user.auth_protocol is not None:
        parts.append(user.auth_protocol.value + _key_form(user.auth_key_kind))
    if user.encrypts and user.priv_protocol is not None:
        parts.append(user.priv_protocol.value + _key_form(user.priv_key_kind))
    protocols = f" ({', '.join(parts)})" if parts else ""
    return f"user {user.name!r}, {user.security_level.value}{protocols}"


def _key_form(kind: KeyKind) -> str:
    return "" if kind is KeyKind.PASSPHRASE else f" with a {kind.value} key"


def _describe_job(job: JobConfig) -> str:
    columns = sum(len(table.columns) for table in job.tables)
    lookups = sum(len(table.lookups) for table in job.tables)
    return (
        f"{job.name}: every {job.interval:g} s, {count(len(job.scalars), 'scalar')}, "
        f"{count(len(job.tables), 'table')} ({count(columns, 'column')}, "
        f"{count(lookups, 'lookup')})"
    )


def _describe_http_options(config: DaemonConfig) -> str:
    options = []
    if config.http.tls is not None:
        options.append("TLS")
    if config.http.basic_auth is not None:
        options.append("basic auth")
    return f" with {' and '.join(options)}" if options else ""


def _describe_alerting(alerting: AlertingSettings, *, clustered: bool) -> list[str]:
    """List the rules, channels, policies and routes by name; no channel setting is shown."""
    handling = alerting.handling
    channels = [f"{name}: {spec.type}" for name, spec in alerting.channels.items()]
    policies = [f"{name}: {count(len(policy.tiers), 'tier')}"
                for name, policy in handling.policies.items()]
    lines = [
        "alerting:",
        f"  rules: {_listed([rule.name for rule in alerting.rules])}",
        f"  channels: {_listed(channels)}",
        f"  policies: {_listed(policies)}",
        f"  routes: {_listed([route.name for route in handling.routes])}",
        f"  store: {_describe_store(handling.store_path, clustered)}",
    ]
    traps = alerting.traps
    if traps is not None:
        listen = ", ".join(f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
                           for host, port in traps.listen)
        lines.append(f"  traps: listen {listen}; rules: "
                     f"{_listed([rule.name for rule in traps.rules])}; "
                     f"{count(len(traps.communities), 'community', 'communities')}, "
                     f"{count(len(traps.users), 'SNMPv3 user')}")
    return lines


def _listed(names: Sequence[str]) -> str:
    """Write "3 (a, b, c)", naming at most _MAX_LISTED_TARGETS of them."""
    shown = ", ".join(names[:_MAX_LISTED_TARGETS])
    if len(names) > _MAX_LISTED_TARGETS:
        shown += f", and {len(names) - _MAX_LISTED_TARGETS} more"
    return f"{len(names)} ({shown})" if names else "0"


def _describe_store(path: str | None, clustered: bool) -> str:
    if clustered:
        return "Redis, shared by the cluster (alerting.store.path is not used)"
    if path is None:
        return "alerts.db in the state directory"
    if Path(path).expanduser().is_absolute():
        return path
    return f"{path} in the state directory"
