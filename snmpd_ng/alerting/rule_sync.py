"""Rule state that follows a target between cluster nodes: saves it while the target is ours and
loads it when the target becomes ours.

The owner of a target marks it after each evaluated result. Once per `flush_interval` the marked
targets are exported from the rules engine and saved in one batch, each fenced by the target's
lease, so only the current owner writes. A node that gains a target starts loading its state at
once, and the rules pipeline awaits `ready(target)` before it evaluates the target's first
result, so that rates, `absent_for` and `for` timers continue from where the old owner stopped.
A node that loses a target saves it one last time and drops it from the engine without signals.

What is lost in a handover: anything the old owner evaluated after its last successful save.
With the default interval that is at most the last second, unless Redis failed. A target whose
state cannot be loaded (Redis down, none stored, malformed) starts fresh, as on a single node
after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, Protocol

import structlog

from snmpd_ng.alerting.rules import RulesEngine
from snmpd_ng.alerting.rules.handoff import (
    TargetState,
    TargetStateError,
    decode_target_state,
    encode_target_state,
)
from snmpd_ng.clock import Clock
from snmpd_ng.cluster.redis_conn import REDIS_ERRORS
from snmpd_ng.ratelimit import WarningLimiter

log = structlog.get_logger(__name__)

DEFAULT_FLUSH_INTERVAL = 1.0
"""Seconds between two saves of the marked targets."""
DEFAULT_TIMEOUT = 2.0
"""Seconds one save or load may wait for Redis before it counts as failed."""


class StateStore(Protocol):
    """The part of `snmpd_ng.cluster.rule_state.RuleStateStore` the sync uses."""

    async def save(self, items: Mapping[str, tuple[str, str]]) -> int: ...

    async def load(self, target: str) -> str | None: ...


class RuleStateSync:
    """Keeps the rule state of this node's targets in Redis and brings in the state of gained ones.

    `lease_value(target)` returns the value of the target's lease key while this node holds it
    (`ClusterNode.lease_value`), else None. `reboots(target)`, when given, returns this node's
    reboot count of the target, to which imported points are rebased.

    Counters, for /metrics:
    - `saves`: states written;
    - `save_failures`: states not written because Redis failed or the state could not be encoded;
    - `fenced_skips`: states not written because the lease was not ours;
    - `loads`: loads that Redis replied to, with or without a state;
    - `load_failures`: loads that failed, and states that could not be decoded or imported;
    - `states_imported`.
    """

    def __init__(self, engine: RulesEngine, store: StateStore,
                 lease_value: Callable[[str], str | None], clock: Clock,
                 flush_interval: float = DEFAULT_FLUSH_INTERVAL, *,
                 timeout: float = DEFAULT_TIMEOUT,
                 reboots: Callable[[str], int | None] | None = None) -> None:
        if flush_interval <= 0:
            raise ValueError(f"flush_interval must be positive, got {flush_interval} s")
        self.engine = engine
        self._store = store
        self._lease_value = lease_value
        self._clock = clock
        self._interval = flush_interval
        self._timeout = timeout
        self._reboots = reboots
        self._dirty: dict[str, None] = {}
        """Targets marked since their last save, in marking order."""
        self._leases: dict[str, str] = {}
        """The lease value seen at each target's last mark. `lost` saves under it, because the
        cluster node removes a lost lease from its table before it reports the loss. Redis
        rejects the write if the lease key no longer has this value."""
        self._loads: dict[str, asyncio.Task[TargetState | None]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._save_lock = asyncio.Lock()
        """Makes saves run one at a time, so an older export never overwrites a newer one."""
        self._task: asyncio.Task[None] | None = None
        self._warnings = WarningLimiter()
        self.saves = 0
        self.save_failures = 0
        self.fenced_skips = 0
        self.loads = 0
        self.load_failures = 0
        self.states_imported = 0

    # Life cycle

    def start(self) -> None:
        """Start the flush task."""
        log.info("rule state sync starting", flush_interval=self._interval)
        self._task = asyncio.create_task(self._run(), name="snmpd-ng rule state flush")

    async def stop(self) -> None:
        """Stop the flush task, wait for the last saves, and flush once more.

        Call it before the cluster node releases its leases, or the final flush is fenced off.
        """
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        loads = list(self._loads.values())
        self._loads.clear()
        for task in loads:
            task.cancel()
        await asyncio.gather(*loads, *self._background, return_exceptions=True)
        await self.flush()
        log.info("rule state sync stopped", saves=self.saves, save_failures=self.save_failures)

    async def _run(self) -> None:
        while True:
            await self._clock.sleep_until(self._clock.now() + self._interval)
            try:
                await self.flush()
            except Exception as exc:  # A fault here must not end the flushes of later states.
                log.error("rule state flush failed", error=repr(exc), exc_info=exc)

    # Saving

    def mark(self, target: str) -> None:
        """Record that a result of `target` was evaluated, so its state is saved at the next flush.

        A load of the target still pending is cancelled: the engine's state is newer than the
        stored one. That happens only when the caller skipped `ready(target)`.
        """
        lease_value = self._lease_value(target)
        if lease_value is not None:
            self._leases[target] = lease_value
        self._dirty[target] = None
        pending = self._loads.pop(target, None)
        if pending is not None:
            pending.cancel()

    async def flush(self) -> int:
        """Save the targets marked since the last flush; return how many states were written.

        Redis errors are counted, not raised, and the targets are saved again at the next flush
        (where this node still holds their leases, Redis accepts the write).
        """
        async with self._save_lock:
            targets = list(self._dirty)
            self._dirty.clear()
            items = self._export(targets)
            return await self._save(items)

    def _export(self, targets: Iterable[str]) -> dict[str, tuple[str, str]]:
        now, wall = self._clock.now(), self._clock.wall()
        items = {}
        for target in targets:
            lease_value = self._lease_value(target) or self._leases.get(target)
            if lease_value is None:
                self.fenced_skips += 1
                continue
            state = self.engine.export_target(target, now, wall)
            if state is None:
                continue
            try:
                items[target] = (lease_value, encode_target_state(state))
            except TargetStateError as exc:
                self.save_failures += 1
                self._warn("encode", "rule state not saved: it cannot be encoded",
                           target=target, error=str(exc))
        return items

    async def _save(self, items: dict[str, tuple[str, str]]) -> int:
        if not items:
            return 0
        try:
            async with asyncio.timeout(self._timeout):
                written = await self._store.save(items)
        except REDIS_ERRORS as exc:
            self.save_failures += len(items)
            self._dirty.update(dict.fromkeys(t for t in items if t in self._leases))
            self._warn("save", "rule state not saved: Redis failed; retrying at the next "
                       "flush", targets=len(items), error=_describe(exc))
            return 0
        self.saves += written
        self.fenced_skips += len(items) - written
        return written

    # Handover

    def gained(self, targets: Iterable[str]) -> None:
        """Start loading the stored state of each target this node now holds the lease of."""
        for target in targets:
            if target not in self._loads:
                self._loads[target] = asyncio.create_task(
                    self._load(target), name=f"snmpd-ng rule state load {target}")

    async def ready(self, target: str) -> None:
        """Wait for the pending load of `target`, if any, and import its state into the engine.

        Returns at once when no load is pending. Call it before evaluating a result of `target`.
        """
        task = self._loads.get(target)
        if task is None:
            return
        # asyncio.wait neither raises the task's error nor cancels the task when the caller
        # is cancelled.
        await asyncio.wait([task])
        if self._loads.get(target) is not task:
            return  # Another caller imported it, or a mark or a loss cancelled it.
        del self._loads[target]

        error = task.exception()
        if error is not None:
            self.load_failures += 1
            log.error("rule state load failed unexpectedly; the target starts fresh",
                      target=target, error=repr(error), exc_info=error)
            return
        state = task.result()
        if state is not None:
            self._import(target, state)

    def lost(self, targets: Iterable[str]) -> None:
        """Save each target's state one last time in the background, then drop it from the engine.

        The save is best effort: the node has usually released the lease already, and then
        Redis rejects the write (counted in `fenced_skips`). The periodic flush saved the state
        of all but the last second before.
        """
        targets = list(targets)
        for target in targets:
            self._dirty.pop(target, None)
            pending = self._loads.pop(target, None)
            if pending is not None:
                pending.cancel()
        items = self._export(targets)
        for target in targets:
            self._leases.pop(target, None)
            self.engine.drop_target(target)
        if items:
            self._spawn(self._save_last(items))

    async def _save_last(self, items: dict[str, tuple[str, str]]) -> None:
        async with self._save_lock:
            await self._save(items)

    async def _load(self, target: str) -> TargetState | None:
        try:
            async with asyncio.timeout(self._timeout):
                text = await self._store.load(target)
        except (*REDIS_ERRORS, UnicodeDecodeError) as exc:
            self.load_failures += 1
            self._warn("load", "rule state not loaded: the target starts fresh", target=target,
                       error=_describe(exc))
            return None
        self.loads += 1
        if text is None:
            return None
        try:
            return decode_target_state(text)
        except TargetStateError as exc:
            self.load_failures += 1
            self._warn("decode", "rule state not loaded: the target starts fresh", target=target,
                       error=str(exc))
            return None

    def _import(self, target: str, state: TargetState) -> None:
        reboots = self._reboots(target) if self._reboots is not None else None
        now, wall = self._clock.now(), self._clock.wall()
        try:
            dropped = self.engine.import_target(target, state, now, wall, reboots=reboots)
        except TargetStateError as exc:
            self.load_failures += 1
            self._warn("import", "rule state not imported: the target starts fresh",
                       target=target, error=str(exc))
            return
        self.states_imported += 1
        log.debug("rule state imported", target=target, dropped_alerts=dropped)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name="snmpd-ng rule state save")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _warn(self, kind: str, event: str, **fields: object) -> None:
        suppressed = self._warnings.admit(kind, self._clock.now())
        if suppressed is not None:
            log.warning(event, suppressed_since_last=suppressed, **fields)


def _describe(exc: BaseException) -> str:
    # asyncio.timeout raises a TimeoutError whose message is empty.
    if isinstance(exc, TimeoutError) and not str(exc):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
