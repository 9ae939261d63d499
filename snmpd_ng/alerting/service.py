"""The alert service: the async shell around the dispatcher, the store and the outbox.

`submit(signal)` is what the rules engine calls. It never blocks and never raises: it applies
the signal in memory, queues the store write, and wakes the timer task. The timer task runs the
dispatcher whenever it is woken or something is due (a group flush, an escalation step, a
silence boundary), queues the resulting notifications in the store, and wakes the outbox
workers, one per channel, so that a slow provider never holds up another.

`acknowledge`, `silence`, `expire_silence`, `alerts` and `history` are the entry points of
the HTTP API and of PagerDuty's webhook. Their writes are committed before they return.

With `run_tasks=False` no task is started, and the caller drives the service with `run_due`
and `deliver_due`, as the tests do with a fake clock.

In cluster mode the service runs on the leader only: it starts when the node becomes the
leader and stops when it stops being it, possibly several times in one process. Each start
loads the state from the store again, and each stop drops it from memory. `may_send`, when
given, is asked before each send, so that a node that lost the leadership sends nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import structlog

from snmpd_ng.alerting import history
from snmpd_ng.alerting.backend import AlertStore, StateChanges, StoreError
from snmpd_ng.alerting.channels.base import Channel
from snmpd_ng.alerting.config import AlertingConfig
from snmpd_ng.alerting.dispatch import AckResult, Counters, Dispatcher
from snmpd_ng.alerting.history import HistoryEntry
from snmpd_ng.alerting.lifecycle import ACTIVE_STATES, Alert, AlertState
from snmpd_ng.alerting.matchers import Matcher, matches_all, parse_matchers
from snmpd_ng.alerting.outbox import Outbox
from snmpd_ng.alerting.rules.model import RuleSignal
from snmpd_ng.alerting.silences import Silence
from snmpd_ng.clock import Clock, LoopClock

log = structlog.get_logger(__name__)

IDLE_WAIT = 3600.0
"""Seconds a task sleeps when nothing is due; any change wakes it sooner."""


@dataclass(frozen=True)
class AlertFilter:
    """The conditions on the alerts `AlertService.alerts` returns; all given must hold."""

    states: frozenset[AlertState] = frozenset({AlertState.PENDING, *ACTIVE_STATES})
    matchers: tuple[Matcher, ...] = ()
    silenced: bool | None = None
    inhibited: bool | None = None

    def accepts(self, alert: Alert) -> bool:
        if alert.state not in self.states:
            return False
        if self.silenced is not None and bool(alert.silenced_by) != self.silenced:
            return False
        if self.inhibited is not None and (alert.inhibited_by is not None) != self.inhibited:
            return False
        return matches_all(self.matchers, alert.match_labels)


class AlertService:
    """Alert handling of the daemon: lifecycle, grouping, escalation, outbox and history."""

    def __init__(self, config: AlertingConfig, channels: Mapping[str, Channel], *,
                 store: AlertStore, clock: Clock | None = None, run_tasks: bool = True,
                 may_send: Callable[[], bool] | None = None,
                 confirm_restored: bool = True, resumed_after: str = "a restart") -> None:
        self._clock: Clock = clock if clock is not None else LoopClock()
        self._channels = dict(channels)
        self._store = store
        self._outbox = Outbox(self._store, self._channels, self._clock, config.outbox,
                              may_send=may_send)
        self._dispatcher = Dispatcher(config, _types(self._channels))
        self._run_tasks = run_tasks
        self._confirm_restored = confirm_restored
        """Whether restored alerts wait for the rules to confirm them (see `start`)."""
        self._resumed_after = resumed_after
        """Cause of the interrupted sends that `start` puts back, for its log and history."""
        self._wake: asyncio.Event | None = None
        self._channel_wakes: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def counters(self) -> Counters:
        return self._dispatcher.counters

    @property
    def store(self) -> AlertStore:
        return self._store

    @property
    def is_running(self) -> bool:
        """True between `start` and `stop`."""
        return self._wake is not None

    async def start(self) -> None:
        """Open the store, load the state saved before a restart, and start the tasks.

        After a restart the rules engine starts empty and signals every alert that still
        holds, so restored alerts that no signal confirms within a grace time resolve. In
        cluster mode (`confirm_restored` False) the rules on the other nodes keep their state
        across a change of leader and signal only changes, so restored alerts are taken as
        they are. Raises StoreError when the store cannot be opened.
        """
        await self._store.open()
        try:
            saved = await self._store.load_state()
            self._dispatcher = self._new_dispatcher()
            self._dispatcher.restore(saved, self._clock.wall(), confirm=self._confirm_restored)
            requeued = await self._outbox.recover(after=self._resumed_after)
        except StoreError:
            # Closed again, so that a later start (the next leader term) opens it afresh.
            await self._store.close()
            raise
        self._wake = asyncio.Event()
        if self._run_tasks:
            self._tasks["timer"] = asyncio.create_task(self._timer_loop(), name="alert-timer")
            self._start_workers()
        log.info("alert service started", alerts=len(saved.alerts), groups=len(saved.groups),
                 silences=len(saved.silences), notifications_requeued=requeued,
                 channels=len(self._channels))

    async def stop(self) -> None:
        """Stop the tasks (a send in progress is cancelled), then write what is queued."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._wake = None
        self._channel_wakes.clear()
        await self._store.close()
        # A later start loads the state again, which another node may have changed meanwhile.
        self._dispatcher = self._new_dispatcher()
        log.info("alert service stopped")

    async def reload(self, config: AlertingConfig, channels: Mapping[str, Channel] | None = None,
                     *, actor: str = "reload") -> None:
        """Apply a new config: groups keep their escalation; history records the reload."""
        if channels is not None:
            self._channels = dict(channels)
            self._outbox.channels = self._channels
        self._outbox.policy = config.outbox
        self._dispatcher.configure(config, _types(self._channels))
        if not self.is_running:
            # A cluster node that does not lead: the config applies when it starts, and the
            # leader records the reload in the history.
            return
        changes = StateChanges()
        changes.record(HistoryEntry(at=self._clock.wall(), kind="config.reloaded", actor=actor,
                                    detail={"routes": len(config.routes),
                                            "policies": sorted(config.policies),
                                            "receivers": sorted(config.receivers),
                                            "channels": sorted(self._channels)}))
        await self._store.apply(changes)
        if self._run_tasks:
            await self._restart_workers()
        self._poke()
        log.info("alert service reloaded", routes=len(config.routes),
                 policies=len(config.policies), channels=len(self._channels))

    # Entry points

    def submit(self, signal: RuleSignal) -> None:
        """Take one signal of the rules engine; never blocks, never raises."""
        if self._wake is None:
            self._dispatcher.counters.signals_rejected += 1
            log.warning("alert signal before the alert service started", rule=signal.rule,
                        state=signal.state)
            return
        changes = StateChanges()
        try:
            applied = self._dispatcher.apply_signal(signal, changes)
        except Exception as exc:
            # A fault here must not stop the rules engine's loop that called submit().
            self._dispatcher.counters.signals_rejected += 1
            log.error("alert signal failed", rule=signal.rule, state=signal.state,
                      error=repr(exc))
            return
        if applied or not changes.is_empty():
            self._store.submit(changes)
            self._poke()

    async def acknowledge(self, key: str, by: str, comment: str | None = None,
                          source: str = "snmpd-ng") -> AckResult:
        """Acknowledge an alert by fingerprint, or a group's firing alerts by group key.

        `source` is where the acknowledgement was made. With "pagerduty" (PagerDuty's webhook)
        the key may be the dedup_key, and no acknowledge is sent back through PagerDuty
        channels. Raises AlertNotFoundError or AcknowledgeError (from dispatch).
        """
        changes = StateChanges()
        result, entries = self._dispatcher.acknowledge(key, by, comment, source,
                                                       self._clock.wall(), changes)
        if not await self._commit(changes):
            raise StoreError(f"the acknowledgement of {key!r} could not be saved; try again")
        self._wake_channels({entry.channel for entry in entries})
        self._poke()
        log.info("alerts acknowledged", key=key, by=by, source=source,
                 alerts=len(result.fingerprints))
        return result

    async def silence(self, matchers: Sequence[Matcher] | str, *, created_by: str,
                      comment: str, starts_at: float | None = None,
                      ends_at: float | None = None) -> Silence:
        """Create a silence; raise SilenceError (or MatcherError for matcher text) if invalid."""
        parsed = parse_matchers(matchers) if isinstance(matchers, str) else list(matchers)
        now = self._clock.wall()
        created = self._dispatcher.silences.create(parsed, created_by=created_by,
                                                   comment=comment, now=now,
                                                   starts_at=starts_at, ends_at=ends_at)
        await self._save_silence(created, "silence.created", created_by, now)
        log.info("silence created", silence_id=created.id, created_by=created.created_by,
                 matchers=len(created.matchers), ends_at=created.ends_at)
        return created

    async def expire_silence(self, silence_id: str, by: str) -> Silence:
        """End a silence now; raise SilenceNotFoundError or SilenceError."""
        now = self._clock.wall()
        expired = self._dispatcher.silences.expire(silence_id, by, now)
        await self._save_silence(expired, "silence.expired", by, now)
        log.info("silence expired", silence_id=silence_id, by=by)
        return expired

    def alert_counts(self) -> dict[tuple[str, str], int]:
        """Return the number of alerts by (state, severity), resolved alerts still kept included.

        Cheaper than `alerts()`, which copies every alert: /metrics calls this on each scrape.
        """
        return dict(Counter((alert.state.value, alert.severity)
                            for alert in self._dispatcher.alerts()))

    @property
    def notification_results(self) -> Mapping[tuple[str, str], int]:
        """Sends by (channel, result) since the start: delivered, retried or failed."""
        return self._outbox.results

    async def outbox_counts(self) -> dict[tuple[str, str], int]:
        """Return the outbox entries by (channel, state): pending, claimed, delivered, dead."""
        return await self._outbox.channel_counts()

    def silences(self) -> list[Silence]:
        return list(self._dispatcher.silences)

    def alerts(self, alert_filter: AlertFilter | None = None) -> list[Alert]:
        """Return copies of the alerts that pass the filter (by default the unresolved)."""
        chosen = alert_filter or AlertFilter()
        return [Alert.from_dict(alert.to_dict()) for alert in self._dispatcher.alerts()
                if chosen.accepts(alert)]

    async def history(self, key: str | None = None,
                      limit: int = history.DEFAULT_LIMIT) -> list[HistoryEntry]:
        """Return the history of an alert (fingerprint) or a group (key), oldest first."""
        return await self._store.history(key, limit)

    # Running what is due

    async def run_due(self) -> int:
        """Run everything due now; return the number of notifications queued."""
        changes = StateChanges()
        entries = self._dispatcher.run_due(self._clock.wall(), changes)
        if changes.is_empty() or not await self._commit(changes):
            return 0
        self._wake_channels({entry.channel for entry in entries})
        return len(entries)

    async def _commit(self, changes: StateChanges) -> bool:
        """Write `changes`; on failure take the saved state again and return False."""
        try:
            await self._store.apply(changes)
        except StoreError as exc:
            # Memory is ahead of the store now, and the store is consistent, so its
            # state is taken again. The next run redoes the steps of this one.
            log.error("alert state write failed; reloading the saved state",
                      error=str(exc), error_type=type(exc.__cause__ or exc).__name__)
            await self._reload_saved_state()
            return False
        return True

    async def reload_saved_state(self) -> None:
        """Take the state from the store again, dropping what memory has that it lacks.

        For a caller that learnt that writes failed (`store.failed_writes` grew): memory is
        then ahead of the store, and a signal applied again would change nothing in memory
        and so write nothing.
        """
        await self._reload_saved_state()
        self._poke()

    async def _reload_saved_state(self) -> None:
        saved = await self._store.load_state()
        dispatcher = self._new_dispatcher()
        dispatcher.restore(saved, self._clock.wall(), confirm=False)
        self._dispatcher = dispatcher

    def _new_dispatcher(self) -> Dispatcher:
        """Return an empty dispatcher with the config, and the counters since the start."""
        dispatcher = Dispatcher(self._dispatcher.config, _types(self._channels))
        dispatcher.counters = self._dispatcher.counters
        return dispatcher

    async def deliver_due(self) -> int:
        """Send every due outbox entry of every channel once; return how many were sent."""
        return await self._outbox.deliver_due()

    async def sync(self) -> None:
        """Wait until every write queued so far is committed."""
        await self._store.sync()

    # Tasks

    async def _timer_loop(self) -> None:
        while True:
            assert self._wake is not None
            self._wake.clear()
            try:
                await self.run_due()
            except Exception as exc:
                # A bug in one run must not stop alerting; the next wake tries again.
                log.error("alert run failed", error=str(exc), error_type=type(exc).__name__)
            due = self._dispatcher.next_due(self._clock.wall())
            await self._wait(self._wake, due)

    async def _worker_loop(self, channel: str) -> None:
        wake = self._channel_wakes[channel]
        while True:
            wake.clear()
            try:
                await self._outbox.deliver_due(channel)
                due = await self._outbox.next_due(channel)
            except Exception as exc:
                log.error("alert outbox run failed", channel=channel, error=str(exc),
                          error_type=type(exc).__name__)
                due = self._clock.wall() + 60.0
            await self._wait(wake, due)

    async def _wait(self, wake: asyncio.Event, due: float | None) -> None:
        delay = IDLE_WAIT if due is None else max(0.0, due - self._clock.wall())
        sleeper = asyncio.ensure_future(self._clock.sleep_until(self._clock.now() + delay))
        waiter = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waiter.cancel()

    def _start_workers(self) -> None:
        for name in self._channels:
            self._channel_wakes[name] = asyncio.Event()
            self._tasks[f"outbox:{name}"] = asyncio.create_task(
                self._worker_loop(name), name=f"alert-outbox-{name}")
        self._tasks["dead-letters"] = asyncio.create_task(self._dead_letters_once())

    async def _restart_workers(self) -> None:
        workers = [self._tasks.pop(key) for key in list(self._tasks) if key.startswith("outbox:")]
        for task in workers:
            task.cancel()
        for task in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # A send cancelled here left its entry claimed, and a claimed entry holds back the
        # later entries of its group on that channel, so it goes back to pending now.
        await self._outbox.recover(after="a config reload")
        self._channel_wakes.clear()
        self._start_workers()

    async def _dead_letters_once(self) -> None:
        # Entries for channels removed from the config can never be sent.
        await self._outbox.dead_letter_unknown()

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _wake_channels(self, channels: set[str]) -> None:
        for name in channels:
            wake = self._channel_wakes.get(name)
            if wake is not None:
                wake.set()

    async def _save_silence(self, silence: Silence, kind: str, actor: str, now: float) -> None:
        changes = StateChanges()
        changes.put("silences", silence.id, silence.to_dict())
        changes.record(HistoryEntry(at=now, kind=kind, actor=actor, detail=silence.to_dict()))
        await self._store.apply(changes)
        self._dispatcher.mark_all()
        self._poke()


def _types(channels: Mapping[str, Channel]) -> dict[str, str]:
    return {name: channel.type for name, channel in channels.items()}

