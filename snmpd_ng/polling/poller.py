"""One run of one job on one target: GET the scalars, walk the tables, build a `PollResult`.

A run never raises for the target's faults: every manager error is caught, logged with target and
job, counted by kind in the job's `JobHealth`, and carried in the result. An error that shows the
target cannot be reached (timeout, budget exceeded, DNS or socket failure) ends the run early, so
a dead target costs one timeout per run rather than one per table column.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import structlog

from snmpd_ng.cache.base import CacheKey, ResultCache
from snmpd_ng.clock import Clock
from snmpd_ng.config.model import (
    CacheConfig,
    JobConfig,
    LookupSpec,
    ObjectSpec,
    TableSpec,
    TargetConfig,
)
from snmpd_ng.manager.errors import SecurityError
from snmpd_ng.manager.manager import OidLike
from snmpd_ng.polling.interfaces import ManagerLike, TargetStatsLike
from snmpd_ng.polling.labels import IndexDecodeError, LabelPairs, decode_index, value_text
from snmpd_ng.polling.ratelimit import LogRateLimiter
from snmpd_ng.polling.result import SCALARS_PART, JobHealth, PollResult, ScalarPart, TablePart
from snmpd_ng.protocol.errors import SnmpError
from snmpd_ng.protocol.oid import Oid, format_oid
from snmpd_ng.protocol.values import ExceptionValue, MalformedValue, Null, VarBind

log = structlog.get_logger(__name__)

T = TypeVar("T")

SYS_UPTIME: Oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)
"""sysUpTime.0 (SNMPv2-MIB): TimeTicks since the agent's network management part started."""

# Error kinds by manager exception class name. Matching by name keeps polling independent of the
# manager's module layout; an unknown SnmpError subclass gets its class name in snake case.
_ERROR_KINDS = {
    "RequestTimeout": "timeout",
    "BudgetExceeded": "budget_exceeded",
    "ErrorStatusError": "error_status",
    "WalkError": "walk",
    "ResolutionError": "resolution",
    "TransportError": "transport",
    "DecodeError": "decode",
}

# SNMPv3 failures (a wrong passphrase, an unknown user) fail every request of the run alike.
SECURITY_KINDS = frozenset({
    "unknown_user_name", "wrong_digest", "decryption_error", "unsupported_security_level",
    "unknown_engine_id", "not_in_time_window", "unknown_context", "privacy_mismatch",
    "other_report",
})

UNREACHABLE_KINDS = frozenset({"timeout", "budget_exceeded", "resolution", "transport",
                               *SECURITY_KINDS})
"""Error kinds after which the rest of a run is skipped."""


def error_kind(exc: BaseException) -> str:
    """Name the kind of a caught error for logs and the errors-by-kind metric.

    An SNMPv3 SecurityError has the same kind here as in the target's security counters.
    """
    if isinstance(exc, SecurityError):
        return exc.kind
    for cls in type(exc).__mro__:
        kind = _ERROR_KINDS.get(cls.__name__)
        if kind is not None:
            return kind
    if isinstance(exc, SnmpError):
        return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()
    return "internal"


async def run_until(clock: Clock, when: float, awaitable: Awaitable[T]) -> tuple[bool, T | None]:
    """Run `awaitable` until it ends or the clock reaches `when`, whichever comes first.

    Returns (True, its result), or (False, None) after cancelling it at `when`. This guards the
    poll budget with the passed-in clock, in case the manager overruns the deadline it was given.
    """
    task = asyncio.ensure_future(awaitable)
    guard = asyncio.ensure_future(clock.sleep_until(when))
    try:
        await asyncio.wait({task, guard}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        guard.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if task.cancelled():
        return False, None
    return True, task.result()


@dataclass(slots=True)
class TargetState:
    """State shared by the pollers of one target's jobs: the last sysUpTime and reboots seen."""

    last_uptime: int | None = None
    reboots: int = 0


@dataclass(frozen=True, slots=True)
class LookupColumn:
    """A cached lookup column: label text by row suffix, and every suffix the walk covered."""

    values: Mapping[Oid, str]
    covered: frozenset[Oid]

    def covers(self, suffixes: Sequence[Oid]) -> bool:
        return all(suffix in self.covered for suffix in suffixes)


class _Abort(Exception):
    """Ends a run after an error that shows the target cannot be reached."""


Timer = Callable[[], float]
"""Seconds from an arbitrary start, read twice to measure a duration."""


@dataclass(slots=True)
class _Run:
    """The state of one run in progress; a cancelled run keeps what it gathered."""

    deadline: float
    timer_start: float
    """The timer's reading when the run started, to measure its duration."""
    responded: bool = False
    error_kind: str | None = None
    error: str | None = None
    uptime: int | None = None
    scalars: ScalarPart | None = None
    tables: list[TablePart] = field(default_factory=list)
    ok_parts: set[str] = field(default_factory=set)


class JobPoller:
    """Runs one job on one target when the scheduler calls `run`, and keeps its totals."""

    def __init__(self, target: TargetConfig, job: JobConfig, *, manager: ManagerLike,
                 cache: ResultCache, cache_config: CacheConfig, clock: Clock,
                 target_state: TargetState, failure_log: LogRateLimiter,
                 timer: Timer = time.perf_counter, max_budget: float | None = None) -> None:
        self.target = target
        self.job = job
        self.health = JobHealth()
        self._manager = manager
        self._cache = cache
        self.cache_config = cache_config
        self._clock = clock
        self._target_state = target_state
        self._failure_log = failure_log
        # Durations come from a timer rather than the clock: uvloop's loop.time() counts whole
        # milliseconds, which shows a LAN poll as 0 or 0.001 s. Slots and deadlines stay on the
        # clock, which the manager's deadlines share.
        self._timer = timer
        self._log = log.bind(target=target.name, job=job.name)
        self._budget = target.budget_for(job)
        if max_budget is not None:
            # Cluster mode: a poll must end before its target lease could pass to another node.
            self._budget = min(self._budget, max_budget)
        self._checks_reboot = any(t.slow_changing or t.lookups for t in job.tables)

    @property
    def longest_run(self) -> float:
        """Seconds a run can last at most after its slot: the budget plus the grace."""
        return self._budget + run_grace(self._budget)

    @property
    def part_names(self) -> tuple[str, ...]:
        names = (SCALARS_PART,) if self.job.scalars else ()
        return names + tuple(table.name for table in self.job.tables)

    async def run(self, scheduled_at: float, missed: int = 0) -> PollResult:
        """Poll the job once for the slot `scheduled_at`; `missed` is the slots skipped before."""
        self._count_missed(missed)
        started_at = self._clock.now()
        run = _Run(deadline=scheduled_at + self._budget, timer_start=self._timer())
        self._log.debug("poll started", scheduled_at=scheduled_at, missed_slots=missed)

        if started_at >= run.deadline:
            self._record(run, "concurrency_limit",
                         "the run waited for a free poll slot past its budget; raise "
                         "scheduler.max_concurrent_polls or lengthen the interval")
        else:
            await self._run_guarded(run)

        return self._finish(run, scheduled_at, started_at)

    async def _run_guarded(self, run: _Run) -> None:
        # A moment past the deadline, so that a manager honouring it raises BudgetExceeded first.
        grace = run_grace(self._budget)
        try:
            finished, _ = await run_until(self._clock, run.deadline + grace, self._collect(run))
        except Exception as exc:  # A fault in one run must not stop the schedule.
            self._log.error("poll crashed", error=repr(exc), exc_info=exc)
            self._record(run, "internal", repr(exc))
            return
        if not finished:
            self._record(run, "budget_exceeded",
                         f"the run did not end within its budget of {self._budget:g} s")

    async def _collect(self, run: _Run) -> None:
        try:
            await self._poll_scalars(run)
            await self._check_reboot(run)
            for table in self.job.tables:
                await self._poll_table(run, table)
        except _Abort:
            pass

    # Scalars and reboot detection

    async def _poll_scalars(self, run: _Run) -> None:
        oids = [spec.oid for spec in self.job.scalars]
        if self._checks_reboot and SYS_UPTIME not in oids:
            oids.append(SYS_UPTIME)
        if not oids:
            return

        varbinds = await self._get(run, oids)
        if varbinds is None:
            return

        run.uptime = _find_uptime(varbinds)
        if self.job.scalars:
            run.scalars = ScalarPart(self.job.scalars, varbinds, self._clock.now())
            run.ok_parts.add(SCALARS_PART)

    async def _check_reboot(self, run: _Run) -> None:
        # NOTE: a reboot that happens and is followed by more uptime than the time between two
        # checks goes unseen, and sysUpTime wrapping after 497 days looks like a reboot (which
        # only costs one early walk of the slow tables).
        state = self._target_state
        if run.uptime is None:
            return
        last = state.last_uptime
        state.last_uptime = run.uptime
        if last is None or run.uptime >= last:
            return

        state.reboots += 1
        removed = await self._cache.invalidate_target(self.target.name, slow_only=True)
        self._log.info("target rebooted", sys_uptime=run.uptime, previous_sys_uptime=last,
                       invalidated_entries=removed)

    # Tables

    async def _poll_table(self, run: _Run, table: TableSpec) -> None:
        key = CacheKey(self.target.name, "table", f"{self.job.name}/{table.name}")
        if table.slow_changing:
            entry = await self._cache.get(key)
            if entry is not None and isinstance(entry.value, TablePart):
                run.tables.append(entry.value)
                run.ok_parts.add(table.name)
                return

        part = await self._walk_table(run, table)
        if part is None:
            return
        run.tables.append(part)
        run.ok_parts.add(table.name)
        if table.slow_changing and part.complete:
            await self._cache.put(key, part, self.cache_config.slow_ttl, slow=True)

    async def _walk_table(self, run: _Run, table: TableSpec) -> TablePart | None:
        specs = [spec for spec in table.columns if spec.type != "skip"]
        if not specs:
            return None

        # One walk for all columns, so each GETBULK requests every column still open.
        varbinds, complete = await self._walk(run, [spec.oid for spec in specs])
        if not varbinds and not complete:
            return None

        columns = _split_columns(specs, varbinds)
        suffixes = _row_suffixes(columns)
        lookups = [await self._lookup(run, lookup, suffixes) for lookup in table.lookups]
        row_labels = self._row_labels(table, suffixes, lookups)
        return TablePart(table, columns, row_labels, self._clock.now(), complete)

    def _row_labels(self, table: TableSpec, suffixes: Sequence[Oid],
                    lookups: list[tuple[str, Mapping[Oid, str]]]) -> dict[Oid, LabelPairs]:
        row_labels: dict[Oid, LabelPairs] = {}
        for suffix in suffixes:
            try:
                index_labels = decode_index(suffix, table.indexes)
            except IndexDecodeError as exc:
                self.health.index_errors += 1
                self._log.debug("row index invalid", table=table.name, error=str(exc))
                continue
            lookup_labels = tuple((label, values.get(suffix, "")) for label, values in lookups)
            row_labels[suffix] = index_labels + lookup_labels
        return row_labels

    async def _lookup(self, run: _Run, lookup: LookupSpec,
                      suffixes: Sequence[Oid]) -> tuple[str, Mapping[Oid, str]]:
        # Lookup columns contain names, so they are cached with the slow TTL whatever the
        # table's own setting. A row missing from the cached column (a new interface) walks it
        # again.
        key = CacheKey(self.target.name, "lookup", format_oid(lookup.oid))
        entry = await self._cache.get(key)
        if (entry is not None and isinstance(entry.value, LookupColumn)
                and entry.value.covers(suffixes)):
            return lookup.label, entry.value.values

        varbinds, complete = await self._walk(run, [lookup.oid])
        values = _column_text(lookup.oid, varbinds)
        if complete:
            column = LookupColumn(values, frozenset(suffixes) | frozenset(values))
            await self._cache.put(key, column, self.cache_config.slow_ttl, slow=True)
        return lookup.label, values

    # Manager calls

    async def _get(self, run: _Run, oids: list[Oid]) -> Sequence[VarBind] | None:
        try:
            varbinds = await self._manager.get(self.target.target, oids, deadline=run.deadline)
        except SnmpError as exc:
            self._record_exception(run, exc, format_oid(oids[0]))
            return None
        run.responded = True
        self._scan_values(varbinds)
        return varbinds

    async def _walk(self, run: _Run, roots: list[Oid]) -> tuple[Sequence[VarBind], bool]:
        try:
            result = await self._manager.walk_all(self.target.target, list[OidLike](roots),
                                                  get_root_if_empty=False,
                                                  deadline=run.deadline)
        except SnmpError as exc:
            self._record_exception(run, exc, format_oid(roots[0]))
            return (), False

        varbinds = result.varbinds
        if result.error is None or varbinds:
            run.responded = True
        self._scan_values(varbinds)
        if result.error is not None:
            self._record_exception(run, result.error, format_oid(roots[0]), abort=not varbinds)
        return varbinds, result.complete

    def _scan_values(self, varbinds: Sequence[VarBind]) -> None:
        for varbind in varbinds:
            value = varbind.value
            if isinstance(value, ExceptionValue):
                self.health.count_exception(value.name)
            elif isinstance(value, MalformedValue):
                self.health.malformed_values += 1
            elif isinstance(value, Null):
                self.health.count_exception("null")

    # Errors and the result

    def _record_exception(self, run: _Run, exc: BaseException, oid: str,
                          abort: bool = True) -> None:
        kind = error_kind(exc)
        message = str(exc) or type(exc).__name__
        if kind == "budget_exceeded":
            # The manager's deadline is the run's poll budget, a term the manager does not use.
            message += (" (the deadline is the target's poll_budget, by default 0.8 x the job's "
                        "interval: raise it, or lower the timeout and retries)")
        self._record(run, kind, message, oid=oid)
        if abort and kind in UNREACHABLE_KINDS:
            raise _Abort

    def _record(self, run: _Run, kind: str, message: str, **fields: object) -> None:
        self.health.count_error(kind)
        self._log.debug("poll error", error_kind=kind, error=message, **fields)
        if run.error_kind is None:
            run.error_kind = kind
            run.error = message

    def _count_missed(self, missed: int) -> None:
        if missed <= 0:
            return
        self.health.missed_slots += missed
        for name in self.part_names:
            self.health.failures[name] = self.health.failures.get(name, 0) + missed

    def _finish(self, run: _Run, scheduled_at: float, started_at: float) -> PollResult:
        finished_at = self._clock.now()
        finished_wall = self._clock.wall()
        duration = self._timer() - run.timer_start
        self._update_health(run, duration, finished_wall)
        self._log.debug("poll finished", duration_seconds=duration,
                        reachable=run.responded, error_kind=run.error_kind)
        if run.error_kind is not None:
            self._log_failure(run)

        return PollResult(
            target=self.target.name, job=self.job.name, interval=self.job.interval,
            stale_after=self.target.stale_after, scheduled_at=scheduled_at,
            started_at=started_at, finished_at=finished_at, finished_wall=finished_wall,
            reachable=run.responded, error_kind=run.error_kind, error=run.error,
            scalars=run.scalars, tables=tuple(run.tables), health=self.health.copy(),
            stats=self._read_stats(), reboots=self._target_state.reboots,
        )

    def _update_health(self, run: _Run, duration: float, finished_wall: float) -> None:
        health = self.health
        health.runs += 1
        health.last_duration = duration
        for name in self.part_names:
            failed = name not in run.ok_parts
            health.failures[name] = health.failures.get(name, 0) + 1 if failed else 0
        if run.error_kind is not None:
            health.failed_runs += 1
        elif run.ok_parts or not self.part_names:
            health.last_success_wall = finished_wall

    def _log_failure(self, run: _Run) -> None:
        suppressed = self._failure_log.allow(self.target.name)
        if suppressed is not None:
            self._log.info("poll failed", error_kind=run.error_kind, error=run.error,
                           reachable=run.responded, suppressed_since_last=suppressed)

    def _read_stats(self) -> TargetStatsLike | None:
        try:
            return self._manager.stats(self.target.target)
        except (SnmpError, LookupError) as exc:
            self._log.debug("target stats unavailable", error=repr(exc))
            return None


def _find_uptime(varbinds: Sequence[VarBind]) -> int | None:
    for varbind in varbinds:
        if varbind.oid == SYS_UPTIME and isinstance(varbind.value, int):
            return int(varbind.value)
    return None


def _split_columns(specs: Sequence[ObjectSpec], varbinds: Sequence[VarBind],
                   ) -> tuple[tuple[ObjectSpec, Sequence[VarBind]], ...]:
    """Sort the varbinds of a multi-column walk into their columns, dropping any outside them."""
    by_column: dict[Oid, list[VarBind]] = {spec.oid: [] for spec in specs}
    prefix_lengths = sorted({len(spec.oid) for spec in specs})
    for varbind in varbinds:
        for prefix_length in prefix_lengths:
            rows = by_column.get(varbind.oid[:prefix_length])
            if rows is not None and len(varbind.oid) > prefix_length:
                rows.append(varbind)
                break
    return tuple((spec, by_column[spec.oid]) for spec in specs)


def _row_suffixes(columns: Sequence[tuple[ObjectSpec, Sequence[VarBind]]]) -> list[Oid]:
    """Return the instance suffixes of all rows of the walked columns, in first-seen order."""
    suffixes: dict[Oid, None] = {}
    for spec, varbinds in columns:
        prefix_length = len(spec.oid)
        for varbind in varbinds:
            suffixes[varbind.oid[prefix_length:]] = None
    return list(suffixes)


def _column_text(root: Oid, varbinds: Sequence[VarBind]) -> dict[Oid, str]:
    values: dict[Oid, str] = {}
    prefix_length = len(root)
    for varbind in varbinds:
        text = value_text(varbind.value)
        if text is not None:
            values[varbind.oid[prefix_length:]] = text
    return values


def run_grace(budget: float) -> float:
    """Seconds past the deadline a run may end: the manager raises BudgetExceeded first."""
    return min(1.0, 0.1 * budget)
