"""The SQLite implementation of `AlertStore` (backend.py), on the database thread of store.py.

The one thread runs operations in the order they were called, which gives the interface's
order rule. Each operation runs in its own savepoint of the thread's transaction, which makes
each `StateChanges`, claim and outcome one atomic unit. The transaction commits with
`synchronous=FULL` before an awaited call returns, which gives durability. Errors of SQLite and
of the file become StoreError here, at the edge.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

from snmpd_ng.alerting import sqlite_history, sqlite_outbox
from snmpd_ng.alerting.backend import SavedState, StateChanges, StoreError
from snmpd_ng.alerting.history import HistoryEntry
from snmpd_ng.alerting.history_page import HistoryPage, check_page_limit
from snmpd_ng.alerting.outbox_entry import OutboxEntry, OutboxOutcome
from snmpd_ng.alerting.store import Store

T = TypeVar("T")

_KEY_COLUMNS = {"alerts": "fingerprint", "groups": "group_key", "silences": "id"}
"""The primary key column of each table of state rows, one for each of STATE_TABLES."""


def write_changes(connection: sqlite3.Connection, changes: StateChanges) -> None:
    """Write the rows, then the history entries, then the outbox entries of `changes`."""
    for table, key_column in _KEY_COLUMNS.items():
        for key, data in changes.rows[table].items():
            if data is None:
                connection.execute(f"DELETE FROM {table} WHERE {key_column} = ?", (key,))
            else:
                connection.execute(
                    f"INSERT OR REPLACE INTO {table} ({key_column}, data) VALUES (?, ?)",
                    (key, json.dumps(data, sort_keys=True)))
    sqlite_history.append(connection, changes.history)
    sqlite_outbox.insert_entries(connection, changes.outbox)


def read_state(connection: sqlite3.Connection) -> SavedState:
    """Read every alert, group and silence, as written by `write_changes`."""
    loaded = {}
    for table in _KEY_COLUMNS:
        rows = connection.execute(f"SELECT data FROM {table}").fetchall()
        loaded[table] = [json.loads(row[0]) for row in rows]
    return SavedState(alerts=loaded["alerts"], groups=loaded["groups"],
                      silences=loaded["silences"])


class SqliteAlertStore:
    """The alert store in one SQLite file; see `AlertStore` for the contract of each method."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.database = Store(path)
        """The thread that runs every operation on the file."""

    @property
    def is_open(self) -> bool:
        return self.database.is_open

    @property
    def failed_writes(self) -> int:
        return self.database.failed_writes

    async def open(self) -> None:
        await self.database.open()

    async def close(self) -> None:
        await self.database.close()

    async def sync(self) -> None:
        await self._call(lambda connection: None)

    def queued(self) -> int:
        return self.database.queued()

    def submit(self, changes: StateChanges) -> None:
        # The database thread logs and counts a failure of a submitted operation.
        self.database.submit(partial(write_changes, changes=changes))

    async def apply(self, changes: StateChanges) -> None:
        try:
            await self.database.call(partial(write_changes, changes=changes))
        except (sqlite3.Error, OSError, TypeError, ValueError) as exc:
            # TypeError and ValueError come from json.dumps on a row it cannot encode.
            raise StoreError(f"the alert store {self.path} could not write the changes: "
                             f"{exc}") from exc

    async def load_state(self) -> SavedState:
        return await self._call(read_state)

    async def history(self, key: str | None, limit: int) -> list[HistoryEntry]:
        return await self._call(partial(sqlite_history.query, key=key, limit=limit))

    async def history_page(self, *, limit: int, before: int | None = None,
                           kind: str | None = None) -> HistoryPage:
        check_page_limit(limit)
        return await self._call(partial(sqlite_history.query_page, limit=limit,
                                        before=before, kind=kind))

    async def claim(self, channel: str, now: float, limit: int) -> list[OutboxEntry]:
        return await self._call(partial(sqlite_outbox.claim, channel=channel, now=now,
                                        limit=limit))

    async def record_outcome(self, outcome: OutboxOutcome) -> None:
        await self._call(partial(sqlite_outbox.record_outcome, outcome=outcome))

    async def requeue_claimed(self, now: float, reason: str) -> int:
        return await self._call(partial(sqlite_outbox.requeue_claimed, now=now,
                                        reason=reason))

    async def dead_letter_unknown(self, known: frozenset[str], now: float) -> dict[str, int]:
        return await self._call(partial(sqlite_outbox.dead_letter_unknown, known=known,
                                        now=now))

    async def next_due(self, channel: str | None = None) -> float | None:
        return await self._call(partial(sqlite_outbox.next_due, channel=channel))

    async def counts(self) -> dict[str, int]:
        return await self._call(sqlite_outbox.counts)

    async def channel_counts(self) -> dict[tuple[str, str], int]:
        return await self._call(sqlite_outbox.channel_counts)

    async def references(self, group_key: str, group_started: float) -> dict[str, str]:
        return await self._call(partial(sqlite_outbox.references, group_key=group_key,
                                        group_started=group_started))

    async def _call(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await self.database.call(operation)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"the alert store {self.path} failed: {exc}") from exc
