"""Config builders shared by the polling and metrics tests."""

from __future__ import annotations

from fakes import IF_DESCR, IF_HC_IN_OCTETS, IF_IN_OCTETS, IF_NAME, SYS_DESCR, SYS_SERVICES

from snmpd_ng.config.model import (
    CacheConfig,
    DaemonConfig,
    IndexSpec,
    JobConfig,
    LookupSpec,
    ObjectSpec,
    SchedulerConfig,
    TableSpec,
    TargetConfig,
)
from snmpd_ng.manager.target import Target
from snmpd_ng.protocol.oid import parse_oid
from snmpd_ng.secret import Secret

COMMUNITY = "s3cret-community"


def obj(name: str, oid: str, **fields: object) -> ObjectSpec:
    return ObjectSpec(parse_oid(oid), name, **fields)  # type: ignore[arg-type]


def system_job(interval: float = 10.0) -> JobConfig:
    return JobConfig("system", interval, scalars=(
        obj("sysDescr", SYS_DESCR), obj("sysServices", SYS_SERVICES)))


def if_table(slow: bool = False, lookups: bool = True) -> TableSpec:
    return TableSpec(
        "ifTable",
        columns=(obj("ifDescr", IF_DESCR), obj("ifInOctets", IF_IN_OCTETS),
                 obj("ifHCInOctets", IF_HC_IN_OCTETS)),
        indexes=(IndexSpec("ifIndex"),),
        lookups=(LookupSpec("ifName", parse_oid(IF_NAME)),) if lookups else (),
        slow_changing=slow,
    )


def if_job(interval: float = 10.0, slow: bool = False, lookups: bool = True) -> JobConfig:
    return JobConfig("if", interval, tables=(if_table(slow, lookups),))


def target(name: str, host: str, *jobs: JobConfig, **fields: object) -> TargetConfig:
    snmp_target = Target(host, community=Secret(COMMUNITY), timeout=1.0, retries=1, name=name)
    return TargetConfig(name, snmp_target, tuple(jobs), **fields)  # type: ignore[arg-type]


def daemon(*targets: TargetConfig, jitter: float = 0.0, max_concurrent_polls: int = 256,
           slow_ttl: float = 3600.0, queue_size: int = 10000) -> DaemonConfig:
    return DaemonConfig(
        targets=targets,
        scheduler=SchedulerConfig(max_concurrent_polls=max_concurrent_polls, jitter=jitter,
                                  results_queue_size=queue_size),
        cache=CacheConfig(slow_ttl=slow_ttl),
    )
