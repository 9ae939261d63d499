"""The alert store's interface: the domain operations alerting persists, and their guarantees.

AlertService, Outbox and the HTTP API use only `AlertStore`. `SqliteAlertStore`
(sqlite_store.py) implements it today. A second backend, such as Redis for cluster mode,
implements the same methods with the same rules, which the docstrings below state.

Rules that hold for every method:

- Order: operations take effect in the order they were called, whether submitted or awaited.
  A read returns every write called before it, including writes still queued by `submit`.
- Atomic units: one `StateChanges` (its rows, history entries and outbox entries), one
  `claim` with its `notification.attempt` history entries, one `record_outcome` with its
  history entry and reference, one `requeue_claimed` and one `dead_letter_unknown`. Each unit
  is written whole or not at all, and no reader sees half of one.
- Durability: an awaited write survives a crash of the process once it returned, and a
  submitted write once a later `sync` returned. A crash loses at most the submitted writes
  not yet synced, each unit whole.
- Time: callers pass every time (Unix seconds) that the store records about alerts, the
  history and the outbox.
- Errors: an awaited method raises StoreError when the backend fails, and its write is then
  not applied. A submitted write that fails is logged and counted in `failed_writes`.
- History: entries are never changed or deleted, and their ids increase in commit order. The
  outbox operations write history entries built by `outbox_entry.entry_history`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from snmpd_ng.alerting.history import HistoryEntry
from snmpd_ng.alerting.history_page import HistoryPage
from snmpd_ng.alerting.outbox_entry import OutboxEntry, OutboxOutcome
from snmpd_ng.protocol.errors import SnmpError

STATE_TABLES = ("alerts", "groups", "silences")
"""The kinds of state rows, each keyed by a string: fingerprint, group key, silence id."""


class StoreError(SnmpError):
    """The alert store cannot be opened or written; the message names the store and the cause."""


@dataclass
class StateChanges:
    """Writes that belong together: state rows, history entries and outbox entries.

    The store applies them as one unit, so a crash keeps all of them or none. That is what
    makes an escalation step and the notifications it queued survive together.
    """

    rows: dict[str, dict[str, dict[str, Any] | None]] = field(
        default_factory=lambda: {table: {} for table in STATE_TABLES})
    """New content by key for each kind of state row; None deletes the row."""
    history: list[HistoryEntry] = field(default_factory=list)
    outbox: list[OutboxEntry] = field(default_factory=list)
    """Entries to insert, each queued and due at its `created_at`."""

    def put(self, table: str, key: str, data: dict[str, Any] | None) -> None:
        self.rows[table][key] = data

    def record(self, entry: HistoryEntry) -> None:
        self.history.append(entry)

    def enqueue(self, entries: Iterable[OutboxEntry], now: float) -> None:
        """Add outbox entries, queued at `now` (Unix seconds) and due at once."""
        self.outbox.extend(replace(entry, created_at=now) for entry in entries)

    def is_empty(self) -> bool:
        return not (any(self.rows.values()) or self.history or self.outbox)


@dataclass(frozen=True)
class SavedState:
    alerts: list[dict[str, Any]]
    groups: list[dict[str, Any]]
    silences: list[dict[str, Any]]


class AlertStore(Protocol):
    """Alerts, groups, silences, the history and the notification outbox, kept across restarts.

    The rules of the module docstring (order, atomic units, durability, errors) hold for
    every method.
    """

    @property
    def is_open(self) -> bool: ...

    @property
    def failed_writes(self) -> int:
        """Submitted writes that failed since the start; each was also logged."""
        ...

    async def open(self) -> None:
        """Connect and prepare the backend (for SQLite: migrate the schema).

        Raises StoreError when the backend cannot be opened.
        """
        ...

    async def close(self) -> None:
        """Apply every write called so far, then release the backend.

        Awaited methods raise StoreError after `close`, and a write submitted after it is not
        applied. Calling it twice does nothing.
        """
        ...

    async def sync(self) -> None:
        """Wait until every write called so far is durable."""
        ...

    def queued(self) -> int:
        """Return the number of writes waiting to be applied (approximate)."""
        ...

    # State and history

    def submit(self, changes: StateChanges) -> None:
        """Queue `changes` and return at once, without blocking the event loop.

        They are applied as one unit, after every operation called before. A failure is
        logged and counted, never raised, and it leaves nothing of these changes and undoes
        nothing of other writes.
        """
        ...

    async def apply(self, changes: StateChanges) -> None:
        """Apply `changes` as one unit and return once they are durable.

        Rows are written first (None deletes a row), then the history entries in list order,
        then the outbox entries. An outbox entry whose notification id and channel are
        already in the outbox is left alone. Each entry inserted is pending, due at its
        `created_at`, and gets a `notification.queued` history entry at that time. Raises
        StoreError, and then nothing of `changes` is written.
        """
        ...

    async def load_state(self) -> SavedState:
        """Return every saved alert, group and silence, in no defined order."""
        ...

    async def history(self, key: str | None, limit: int) -> list[HistoryEntry]:
        """Return the newest `limit` entries about one alert or group, oldest first.

        For key None, the newest `limit` entries of all. For a fingerprint, the group entries
        (those without a fingerprint) of every group the alert was in come too, because
        notifications are recorded by group. Entries about the other alerts of those groups
        do not.
        """
        ...

    async def history_page(self, *, limit: int, before: int | None = None,
                           kind: str | None = None) -> HistoryPage:
        """Return up to `limit` entries with an id below `before`, newest first.

        `kind` keeps the entries of one kind ("alert.firing"), or of a family when it ends in
        a dot ("notification.", compared literally). `next_before` is the smallest id of the
        page when older entries exist, else None. Raises ValueError for a limit outside 1 to
        MAX_PAGE_SIZE.
        """
        ...

    # The outbox

    async def claim(self, channel: str, now: float, limit: int) -> list[OutboxEntry]:
        """Claim up to `limit` due entries of `channel` and return them, oldest first.

        An entry is due when it is pending and its next attempt time is at or before `now`.
        Only the oldest unfinished (pending or claimed) entry of each group key and channel
        can be claimed, so a group's entries go out in the order they were queued. Claiming
        sets the entry to claimed and adds 1 to its attempts (the returned entry shows the new
        count). It commits with one `notification.attempt` history entry per claimed entry.
        An entry claimed once is not returned by another claim, from this or another
        process, until it is settled by `record_outcome` or put back by `requeue_claimed`.
        Each returned notification carries the references of its group's life
        (`references`).
        """
        ...

    async def record_outcome(self, outcome: OutboxOutcome) -> None:
        """Record the outcome of one send of a claimed entry, with its history entry.

        DELIVERED and DEAD finish the entry at `outcome.at`. PENDING makes it due again at
        `outcome.next_attempt_at`. Both keep `outcome.detail` as the entry's last detail. A
        reference, when given, replaces the one saved for the group's life and channel. The
        state, the history entry and the reference commit together.
        """
        ...

    async def requeue_claimed(self, now: float, reason: str) -> int:
        """Put every claimed entry back to pending, due at `now`; return how many.

        Each gets a `notification.requeued` history entry with `reason`, in the same unit.
        Callers run it only while no send is in progress: at the start, or after the
        outbox workers stopped.
        NOTE: it requeues every claimed entry, so it would also take back the sends in
        progress of other processes on the same store. Cluster mode needs a claim owner or a
        lease first.
        """
        ...

    async def dead_letter_unknown(self, known: frozenset[str], now: float) -> dict[str, int]:
        """Finish as dead every pending entry of a channel not in `known`; return the counts.

        The counts are by channel. Each entry gets `unknown_channel_detail` as its last detail
        and a `notification.failed` history entry, in the same unit. Claimed entries are left
        as they are.
        """
        ...

    async def next_due(self, channel: str | None = None) -> float | None:
        """Return the earliest next attempt time of the pending entries (of one channel)."""
        ...

    async def counts(self) -> dict[str, int]:
        """Return the number of entries by state: pending, claimed, delivered, dead."""
        ...

    async def channel_counts(self) -> dict[tuple[str, str], int]:
        """Return the number of entries by (channel, state)."""
        ...

    async def references(self, group_key: str, group_started: float) -> dict[str, str]:
        """Return the saved references of one life of a group, by channel."""
        ...
