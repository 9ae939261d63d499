"""What one run of one job on one target produced, as its consumers receive it.

Results travel through queues that may coalesce them, keeping only the latest per target and
job. So the poller counts everything cumulative, such as errors and consecutive failures, and
each result carries totals, never increments that a consumer would have to add up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from snmpd_ng.config.model import ObjectSpec, TableSpec
from snmpd_ng.polling.interfaces import TargetStatsLike
from snmpd_ng.polling.labels import LabelPairs
from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.values import VarBind

SCALARS_PART = "scalars"
"""Part name of a job's scalar objects; each table is a part named after the table."""


@dataclass(frozen=True, slots=True)
class ScalarPart:
    """The scalar objects of a job and the varbinds the GET returned for them."""

    objects: tuple[ObjectSpec, ...]
    varbinds: Sequence[VarBind]
    fetched_at: float
    """Clock time (`Clock.now()`) the values were fetched."""


@dataclass(frozen=True, slots=True)
class TablePart:
    """The walked columns of one table and the labels of each row.

    `row_labels` maps a row's instance suffix to its index labels followed by its lookup labels.
    Rows whose suffix does not decode are absent from it, so their values are not exported.
    """

    spec: TableSpec
    columns: tuple[tuple[ObjectSpec, Sequence[VarBind]], ...]
    row_labels: Mapping[Oid, LabelPairs]
    fetched_at: float
    """Clock time the rows were walked; older than the run when served from the cache."""
    complete: bool = True


@dataclass(slots=True)
class JobHealth:
    """Running totals of one job on one target, kept by its poller across runs."""

    runs: int = 0
    failed_runs: int = 0
    missed_slots: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    """Caught errors by kind, such as "timeout" or "error_status"."""
    exception_values: dict[str, int] = field(default_factory=dict)
    """Varbinds that carried noSuchObject, noSuchInstance or endOfMibView, by exception name."""
    malformed_values: int = 0
    """Varbinds whose value broke its type's encoding rules (exported when a lenient reading
    exists)."""
    index_errors: int = 0
    """Table rows dropped because their index suffix did not fit the index definition."""
    failures: dict[str, int] = field(default_factory=dict)
    """Consecutive failed or missed runs per part (scalars, or a table name); 0 after a success."""
    last_success_wall: float | None = None
    """Unix time of the end of the last run in which every part succeeded."""
    last_duration: float = 0.0
    """Seconds the last run took."""

    def count_error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def count_exception(self, name: str) -> None:
        self.exception_values[name] = self.exception_values.get(name, 0) + 1

    def copy(self) -> JobHealth:
        return replace(self, errors=dict(self.errors),
                       exception_values=dict(self.exception_values),
                       failures=dict(self.failures))


@dataclass(frozen=True, slots=True)
class PollResult:
    """One run of one job on one target."""

    target: str
    job: str
    interval: float
    stale_after: int
    scheduled_at: float
    started_at: float
    finished_at: float
    finished_wall: float
    reachable: bool
    """Whether the target sent at least one response during the run."""
    error_kind: str | None
    """Kind of the first error caught in the run, None when there was none."""
    error: str | None
    scalars: ScalarPart | None
    tables: tuple[TablePart, ...]
    health: JobHealth
    """A copy of the job's totals after this run."""
    stats: TargetStatsLike | None
    """The manager's counters for the target after this run, None if they were unavailable."""
    reboots: int = 0
    """Reboots of the target seen so far, from sysUpTime going backwards."""

    @property
    def key(self) -> tuple[str, str]:
        """Target and job: results with the same key supersede each other."""
        return (self.target, self.job)
