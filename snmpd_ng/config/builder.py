"""Turn a schema-valid `ConfigFile` into the frozen `DaemonConfig` that services consume.

This step checks what the schema cannot see alone: references between sections, secrets in
environment variables and files, and the index of every table column and lookup. It merges the
`defaults` section and the built-in defaults into each target.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from snmpd_ng import mibs
from snmpd_ng.config.alerting import build_alerting, known_metrics
from snmpd_ng.config.build_state import BuildState, did_you_mean
from snmpd_ng.config.cluster import build_cluster, cluster_warnings
from snmpd_ng.config.credentials import Credentials, build_credentials, target_security
from snmpd_ng.config.errors import ConfigError, ConfigIssue, KeyPath
from snmpd_ng.config.model import (
    BasicAuthConfig,
    CacheConfig,
    DaemonConfig,
    HttpConfig,
    IndexSpec,
    JobConfig,
    LoggingConfig,
    LookupSpec,
    ManagerConfig,
    ObjectSpec,
    SchedulerConfig,
    TableSpec,
    TargetConfig,
    TlsConfig,
)
from snmpd_ng.config.schema import (
    ConfigFile,
    HttpEntry,
    JobEntry,
    LookupEntry,
    ObjectEntry,
    TableEntry,
    TargetEntry,
)
from snmpd_ng.config.secret_sources import resolve_secret
from snmpd_ng.config.warnings import find_warnings
from snmpd_ng.manager.target import Target
from snmpd_ng.metrics.naming import RESERVED_LABELS, RESERVED_PREFIXES, metric_name
from snmpd_ng.protocol.oid import Oid, format_oid

# Built-in target defaults, used when neither the target nor `defaults` sets a key. They are
# the daemon's, not net-snmp's: a poller with many targets wants a short timeout and few retries.
TARGET_DEFAULTS: dict[str, Any] = {
    "port": 161,
    "timeout": 2.0,
    "retries": 2,
    "backoff": 1.0,
    "max_repetitions": 25,
    "max_varbinds_per_request": 60,
    "max_in_flight": 4,
    "source_address": None,
    "non_increasing_tolerance": 0,
    "accept_any_source": False,
    "poll_budget": None,
    "stale_after": 3,
    "jobs": None,
}
DEFAULT_INTERVAL = 60.0
"""Seconds between job runs when neither the job nor `defaults.interval` sets one."""

def build_config(
    config_file: ConfigFile,
    *,
    source: str,
    base_dir: Path,
    environ: Mapping[str, str],
    lines: Mapping[KeyPath, int],
) -> DaemonConfig:
    """Build the DaemonConfig; raise ConfigError listing every problem found."""
    builder = BuildState(source, base_dir, environ, lines)
    default_interval = config_file.defaults.interval or DEFAULT_INTERVAL
    jobs = {
        name: _build_job(builder, name, entry, default_interval)
        for name, entry in config_file.jobs.items()
    }
    profiles = {
        name: build_credentials(builder, name, entry)
        for name, entry in config_file.credentials.items()
    }
    targets = _build_targets(builder, config_file, jobs, profiles)
    http = _build_http(builder, config_file.http)
    _check_reserved_labels(builder, ("defaults", "labels"), config_file.defaults.labels)
    alerting, alerting_warnings = build_alerting(config_file.alerting, builder,
                                                 known_metrics(jobs))
    cluster = build_cluster(builder, config_file)

    if builder.issues:
        raise ConfigError(source, builder.issues)
    return DaemonConfig(
        targets=targets,
        http=http,
        scheduler=SchedulerConfig(**config_file.scheduler.model_dump()),
        cache=CacheConfig(**config_file.cache.model_dump()),
        manager=ManagerConfig(**config_file.manager.model_dump()),
        logging=LoggingConfig(**config_file.logging.model_dump()),
        state_dir=config_file.state_dir,
        alerting=alerting,
        cluster=cluster,
        source_file=source,
        warnings=_by_line([*find_warnings(config_file, targets, lines), *alerting_warnings,
                           *cluster_warnings(cluster, config_file.state_dir, builder,
                                             alerting=alerting is not None)]),
    )


def _by_line(issues: list[ConfigIssue]) -> tuple[ConfigIssue, ...]:
    """Sort warnings by line, so they read in file order (the alerting section may come first)."""
    return tuple(sorted(issues, key=lambda issue: issue.line or 0))


def _build_job(
    builder: BuildState, name: str, entry: JobEntry, default_interval: float
) -> JobConfig:
    path: KeyPath = ("jobs", name)
    scalars = tuple(
        spec
        for position, scalar in enumerate(entry.scalars)
        if (spec := _build_scalar(builder, (*path, "scalars", position), scalar)) is not None
    )
    tables = tuple(
        table_spec
        for position, table in enumerate(entry.tables)
        if (table_spec := _build_table(builder, (*path, "tables", position), table)) is not None
    )
    _check_unique_names(builder, path, [spec.name for spec in scalars] + [
        column.name for table in tables for column in table.columns
    ])
    return JobConfig(name, entry.interval or default_interval, scalars, tables)


def _check_unique_names(builder: BuildState, path: KeyPath, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            builder.report(path, f"metric name {name!r} appears twice in this job; set `name`")
        seen.add(name)


def _build_scalar(builder: BuildState, path: KeyPath, entry: ObjectEntry) -> ObjectSpec | None:
    """Resolve a scalar: a scalar's name gets its `.0` instance, a column needs an instance."""
    resolved = mibs.resolve(entry.oid)
    mib_object = resolved.mib_object
    oid = resolved.oid
    if mib_object is not None and not mib_object.is_scalar and not resolved.suffix:
        builder.report(
            (*path, "oid"),
            f"{entry.oid!r} is a column of {mib_object.table}: list the table under `tables`, "
            f"or give one instance such as {entry.oid}.1",
        )
        return None
    if mib_object is not None and mib_object.is_scalar and not resolved.suffix:
        oid = (*oid, 0)
    if mib_object is None:
        mib_object = _object_of_instance(oid)

    name = entry.name or _default_scalar_name(oid, mib_object)
    if not _is_free_metric_name(builder, path, entry, name):
        return None
    return _object_spec(oid, name, entry, mib_object)


def _object_of_instance(oid: Oid) -> mibs.MibObject | None:
    """Find the scalar whose `.0` instance is `oid`, to name and type a numeric scalar."""
    name = mibs.name_of(oid[:-1]) if oid[-1:] == (0,) else None
    return mibs.find_object(name) if name is not None else None


def _default_scalar_name(oid: Oid, mib_object: mibs.MibObject | None) -> str:
    if mib_object is None:
        return "oid_" + format_oid(oid).replace(".", "_")
    suffix = oid[len(mib_object.oid) :]
    if suffix in ((), (0,)):
        return mib_object.name
    # An instance of a column polled as a scalar, such as ifDescr.2: the suffix keeps the
    # names of two instances apart.
    return mib_object.name + "_" + "_".join(map(str, suffix))


def _object_spec(
    oid: Oid, name: str, entry: ObjectEntry, mib_object: mibs.MibObject | None
) -> ObjectSpec:
    metric_type = entry.type or (mib_object.metric_type if mib_object else "auto")
    if entry.help:
        help_text = entry.help
    elif mib_object is not None:
        help_text = f"{mib_object.module}::{mib_object.name}"
    else:
        help_text = f"OID {format_oid(oid)}"
    return ObjectSpec(oid=oid, name=name, type=metric_type, help=help_text)


def _build_table(builder: BuildState, path: KeyPath, entry: TableEntry) -> TableSpec | None:
    mib_table = mibs.find_table(entry.table) if entry.table else None
    name = entry.name or entry.table or ""
    if entry.indexes is not None:
        indexes = tuple(IndexSpec(i.label, i.type, i.length) for i in entry.indexes)
    elif mib_table is not None:
        indexes = mib_table.indexes
    else:
        indexes = (IndexSpec("index"),)

    if entry.columns:
        column_entries = entry.columns
    elif mib_table is not None:
        column_entries = [ObjectEntry(oid=column) for column in mib_table.columns]
    else:
        column_entries = []

    columns = tuple(
        spec
        for position, column in enumerate(column_entries)
        if (spec := _build_column(builder, (*path, "columns", position), column, indexes))
        is not None
    )
    lookups = tuple(
        lookup_spec
        for position, lookup in enumerate(entry.lookups)
        if (lookup_spec := _build_lookup(builder, (*path, "lookups", position), lookup, indexes))
        is not None
    )
    if len(columns) != len(column_entries) or len(lookups) != len(entry.lookups):
        return None
    return TableSpec(name, columns, indexes, lookups, entry.slow_changing)


def _build_column(
    builder: BuildState, path: KeyPath, entry: ObjectEntry, indexes: tuple[IndexSpec, ...]
) -> ObjectSpec | None:
    resolved = mibs.resolve(entry.oid)
    mib_object = resolved.mib_object or _column_of(resolved.oid)
    if not _check_column(builder, (*path, "oid"), entry.oid, resolved, indexes):
        return None
    name = entry.name or (mib_object.name if mib_object else None)
    if name is None:
        name = "oid_" + format_oid(resolved.oid).replace(".", "_")
    if not _is_free_metric_name(builder, path, entry, name):
        return None
    return _object_spec(resolved.oid, name, entry, mib_object)


def _is_free_metric_name(builder: BuildState, path: KeyPath, entry: ObjectEntry, name: str) -> bool:
    """Report a metric name that starts like the daemon's own metrics (snmp_, process_, ...)."""
    exposed = metric_name(name)
    prefix = next((prefix for prefix in RESERVED_PREFIXES if exposed.startswith(prefix)), None)
    if prefix is None:
        return True
    builder.report(
        (*path, "name" if entry.name else "oid"),
        f"metric name {exposed!r} starts with {prefix!r}, which the daemon's own metrics use; "
        "set `name` to a name without that prefix",
    )
    return False


def _column_of(oid: Oid) -> mibs.MibObject | None:
    name = mibs.name_of(oid)
    mib_object = mibs.find_object(name) if name else None
    return mib_object if mib_object is not None and not mib_object.is_scalar else None


def _check_column(
    builder: BuildState,
    path: KeyPath,
    text: str,
    resolved: mibs.ResolvedName,
    indexes: tuple[IndexSpec, ...],
) -> bool:
    """Report a named column that is a scalar, has a suffix or has another table's index."""
    mib_object = resolved.mib_object
    if mib_object is None:
        return True
    if mib_object.is_scalar:
        builder.report(path, f"{text!r} is a scalar, not a table column: list it under `scalars`")
        return False
    if resolved.suffix:
        builder.report(path, f"{text!r}: give the column without an instance suffix")
        return False
    table = mibs.find_table(mib_object.table or "")
    if table is not None and table.indexes != indexes:
        theirs = ", ".join(index.label for index in table.indexes)
        ours = ", ".join(index.label for index in indexes)
        builder.report(
            path,
            f"{text!r} belongs to {table.name}, indexed by {theirs}, but this table's index "
            f"is {ours}: rows would not match",
        )
        return False
    return True


def _build_lookup(
    builder: BuildState, path: KeyPath, entry: LookupEntry, indexes: tuple[IndexSpec, ...]
) -> LookupSpec | None:
    resolved = mibs.resolve(entry.oid)
    if not _check_column(builder, (*path, "oid"), entry.oid, resolved, indexes):
        return None
    mib_object = resolved.mib_object or _column_of(resolved.oid)
    label = entry.label or (mib_object.name if mib_object else None)
    if label is None:
        builder.report(path, f"lookup {entry.oid!r} needs a `label` (no name is known for it)")
        return None
    return LookupSpec(label=label, oid=resolved.oid)


def _build_targets(
    builder: BuildState,
    config_file: ConfigFile,
    jobs: Mapping[str, JobConfig],
    profiles: Mapping[str, Credentials | None],
) -> tuple[TargetConfig, ...]:
    targets: list[TargetConfig] = []
    first_positions: dict[str, int] = {}
    for position, entry in enumerate(config_file.targets):
        path: KeyPath = ("targets", position)
        target = _build_target(builder, path, entry, config_file, jobs, profiles)
        if target.name in first_positions:
            first = first_positions[target.name]
            builder.report(path, f"target name {target.name!r} is already used by targets[{first}]")
        first_positions.setdefault(target.name, position)
        targets.append(target)
    return tuple(targets)


def _merged(entry: TargetEntry, config_file: ConfigFile, key: str) -> Any:
    """Return the target's value for `key`, else the `defaults` value, else the built-in one."""
    value = getattr(entry, key)
    if value is None:
        value = getattr(config_file.defaults, key)
    return TARGET_DEFAULTS[key] if value is None else value


def _build_target(
    builder: BuildState,
    path: KeyPath,
    entry: TargetEntry,
    config_file: ConfigFile,
    jobs: Mapping[str, JobConfig],
    profiles: Mapping[str, Credentials | None],
) -> TargetConfig:
    def merged(key: str) -> Any:
        return _merged(entry, config_file, key)

    security = target_security(builder, path, entry, config_file, profiles)
    target_jobs = _target_jobs(builder, path, merged("jobs"), jobs)
    target = Target(
        host=entry.address,
        port=merged("port"),
        **security,
        timeout=merged("timeout"),
        retries=merged("retries"),
        backoff=merged("backoff"),
        max_repetitions=merged("max_repetitions"),
        max_varbinds_per_request=merged("max_varbinds_per_request"),
        max_in_flight=merged("max_in_flight"),
        source_address=merged("source_address"),
        non_increasing_tolerance=merged("non_increasing_tolerance"),
        accept_any_source=merged("accept_any_source"),
        name=entry.name,
    )
    labels = {**config_file.defaults.labels, **entry.labels}
    _check_reserved_labels(builder, (*path, "labels"), entry.labels)
    _check_table_labels(builder, path, entry, labels, target_jobs)
    return TargetConfig(
        name=target.label,
        target=target,
        jobs=target_jobs,
        labels=labels,
        poll_budget=merged("poll_budget"),
        stale_after=merged("stale_after"),
    )


def _check_reserved_labels(builder: BuildState, path: KeyPath, labels: Mapping[str, str]) -> None:
    """Report configured labels that the daemon or Prometheus set themselves."""
    for label in labels:
        reason = RESERVED_LABELS.get(label)
        if reason is not None:
            builder.report((*path, label), f"the label `{label}` is {reason}; choose another name")


def _check_table_labels(
    builder: BuildState,
    path: KeyPath,
    entry: TargetEntry,
    labels: Mapping[str, str],
    jobs: tuple[JobConfig, ...],
) -> None:
    """Report configured labels named like an index or lookup label of the target's tables.

    The row's own label would lose its name to `exported_<name>` on every polled value.
    """
    row_labels: dict[str, str] = {}
    for job in jobs:
        for table in job.tables:
            for index in table.indexes:
                row_labels.setdefault(index.label, f"the index of table {table.name!r} in job "
                                                   f"{job.name!r}")
            for lookup in table.lookups:
                row_labels.setdefault(lookup.label, f"a lookup of table {table.name!r} in job "
                                                    f"{job.name!r}")
    for label in labels:
        source = row_labels.get(label)
        if source is None:
            continue
        owner = (*path, "labels") if label in entry.labels else ("defaults", "labels")
        message = f"the label `{label}` is set from {source} on every row; choose another name"
        builder.report((*owner, label), message)


def _target_jobs(
    builder: BuildState, path: KeyPath, names: list[str] | None, jobs: Mapping[str, JobConfig]
) -> tuple[JobConfig, ...]:
    if not names:
        builder.report(
            (*path, "jobs"), "no jobs to poll: set `jobs` on the target or under `defaults`"
        )
        return ()
    found: list[JobConfig] = []
    for position, name in enumerate(names):
        if name in jobs:
            found.append(jobs[name])
            continue
        builder.report(
            (*path, "jobs", position),
            f"unknown job {name!r}{did_you_mean(name, jobs)}; jobs defined: "
            f"{', '.join(sorted(jobs))}",
        )
    return tuple(found)


def _build_http(builder: BuildState, entry: HttpEntry) -> HttpConfig:
    tls = None
    if entry.tls is not None:
        cert_file = _readable_file(builder, ("http", "tls", "cert_file"), entry.tls.cert_file)
        key_file = _readable_file(builder, ("http", "tls", "key_file"), entry.tls.key_file)
        tls = TlsConfig(cert_file=cert_file, key_file=key_file)
    basic_auth = None
    if entry.basic_auth is not None:
        password_path: KeyPath = ("http", "basic_auth", "password")
        password = resolve_secret(builder, password_path, entry.basic_auth.password)
        basic_auth = BasicAuthConfig(username=entry.basic_auth.username, password=password)
    return HttpConfig(listen=tuple(entry.listen), tls=tls, basic_auth=basic_auth)


def _readable_file(builder: BuildState, path: KeyPath, name: str) -> str:
    file_path = builder.resolve_path(name)
    if not file_path.is_file():
        builder.report(path, f"file {str(file_path)!r} does not exist or is not a file")
    elif not os.access(file_path, os.R_OK):
        builder.report(path, f"file {str(file_path)!r} is not readable by this user")
    return str(file_path)
