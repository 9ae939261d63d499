"""The daemon's configuration after validation: what polling, cache and HTTP consume.

The YAML schema (snmpd_ng.config.schema) validates a file and turns it into these frozen objects,
with defaults merged, durations in seconds, names resolved to OIDs and secrets wrapped in `Secret`.
Services never see raw YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from snmpd_ng.cluster.settings import ClusterSettings
from snmpd_ng.config.errors import ConfigIssue
from snmpd_ng.manager.target import Target
from snmpd_ng.protocol.oid import Oid
from snmpd_ng.secret import Secret
from snmpd_ng.transport.endpoint import DEFAULT_RECEIVE_BUFFER_SIZE, DEFAULT_SEND_BUFFER_SIZE

if TYPE_CHECKING:
    # Only for the annotation: snmpd_ng.config.alerting imports the alerting package, which
    # imports this module.
    from snmpd_ng.config.alerting import AlertingSettings

MetricType = Literal["auto", "counter", "gauge", "info", "skip"]
"""The metric type of a polled object. "auto" takes it from the SNMP type of the value:
Counter32/Counter64 are counters, numbers are gauges, strings become an info metric."""

IndexType = Literal["integer", "string", "fixed_string", "ipaddress", "oid", "mac"]
"""The encoding of one part of a table index in the OID suffix, which becomes a label.
"integer" is one arc. "string" is a length-prefixed string (RFC 2578 section 7.7). "fixed_string"
takes `length` arcs, "ipaddress" takes 4 arcs and "mac" takes 6 arcs shown as 00:11:22:33:44:55.
"oid" takes the rest of the suffix."""


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    """One object to poll: a scalar instance (GET) or a table column (walked)."""

    oid: Oid
    name: str
    """Metric name stem, e.g. "ifHCInOctets" (from the MIB name table or the config)."""
    type: MetricType = "auto"
    help: str = ""


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """One part of a table row's index, turned into a label."""

    label: str
    type: IndexType = "integer"
    length: int | None = None
    """Number of arcs, for "fixed_string" only."""


@dataclass(frozen=True, slots=True)
class LookupSpec:
    """A column of the same table (same index) whose value becomes a label of every row's metrics,
    such as ifName for ifTable. The lookup column itself is walked but not exported unless listed
    in `columns` too."""

    label: str
    oid: Oid


@dataclass(frozen=True, slots=True)
class TableSpec:
    """Columns walked together; each row's index becomes labels."""

    name: str
    columns: tuple[ObjectSpec, ...]
    indexes: tuple[IndexSpec, ...] = (IndexSpec("index"),)
    lookups: tuple[LookupSpec, ...] = ()
    slow_changing: bool = False
    """Names and indexes that rarely change: cached with `CacheConfig.slow_ttl`, refreshed when
    sysUpTime shows the agent rebooted."""


@dataclass(frozen=True, slots=True)
class JobConfig:
    """A set of objects polled together on one interval."""

    name: str
    interval: float
    """Seconds between the starts of two runs of this job on one target."""
    scalars: tuple[ObjectSpec, ...] = ()
    tables: tuple[TableSpec, ...] = ()


BUDGET_FRACTION = 0.8
"""Share of the job's interval a run may take when the target sets no poll_budget."""


@dataclass(frozen=True, slots=True)
class TargetConfig:
    """One agent to poll, with defaults merged in."""

    name: str
    target: Target
    jobs: tuple[JobConfig, ...]
    labels: dict[str, str] = field(default_factory=dict)
    poll_budget: float | None = None
    """Seconds a whole run of one job may take on this target; None means 0.8 x the interval."""
    stale_after: int = 3
    """Missed intervals after which the target's value series are dropped from /metrics."""

    def budget_for(self, job: JobConfig) -> float:
        """Return the seconds one run of `job` may take on this target."""
        if self.poll_budget is not None:
            return self.poll_budget
        return BUDGET_FRACTION * job.interval


@dataclass(frozen=True, slots=True)
class TlsConfig:
    cert_file: str
    key_file: str


@dataclass(frozen=True, slots=True)
class BasicAuthConfig:
    username: str
    password: Secret


@dataclass(frozen=True, slots=True)
class HttpConfig:
    listen: tuple[str, ...] = ("127.0.0.1:9161",)
    """host:port pairs; IPv6 as [::1]:9161."""
    tls: TlsConfig | None = None
    basic_auth: BasicAuthConfig | None = None


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    max_concurrent_polls: int = 256
    """Job runs (target x job) in progress at once across all targets."""
    jitter: float = 1.0
    """Fraction of the interval used to spread the first run of each target and job."""
    results_queue_size: int = 10000
    """Maximum poll results in each consumer's queue before overflow is counted and logged."""


@dataclass(frozen=True, slots=True)
class CacheConfig:
    ttl_factor: float = 2.0
    """A value stays in the cache for this many intervals of its job."""
    slow_ttl: float = 3600.0
    """Seconds that slow-changing tables (names, indexes) stay cached."""


@dataclass(frozen=True, slots=True)
class ManagerConfig:
    """Settings of the daemon's one SNMP manager, applied when it starts."""

    receive_buffer_size: int | None = DEFAULT_RECEIVE_BUFFER_SIZE
    """SO_RCVBUF in bytes asked for on each UDP socket; None keeps the kernel's default."""
    send_buffer_size: int | None = DEFAULT_SEND_BUFFER_SIZE
    """SO_SNDBUF in bytes asked for on each UDP socket; None keeps the kernel's default."""


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    """The whole validated configuration."""

    targets: tuple[TargetConfig, ...]
    http: HttpConfig = HttpConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    cache: CacheConfig = CacheConfig()
    manager: ManagerConfig = ManagerConfig()
    logging: LoggingConfig = LoggingConfig()
    state_dir: str | None = None
    alerting: AlertingSettings | None = None
    """The `alerting:` section; None when the file has none, which turns alerting off."""
    cluster: ClusterSettings | None = None
    """The `cluster:` section; None when the file has none, which runs one node without Redis."""
    source_file: str | None = None
    """Path of the YAML file this came from, for messages."""
    warnings: tuple[ConfigIssue, ...] = ()
    """Settings that are valid but probably not what was meant, such as a timeout with retries
    longer than the poll budget. check-config prints them; the daemon logs them."""
