"""Pages of the whole alert history, newest first, for the HTTP API's `GET /api/v1/history`.

A page is addressed by a cursor, the smallest row id of the previous page, rather than by an
offset: rows are only ever appended, so a cursor page stays the same while new rows arrive, and
the query walks the primary key instead of skipping rows. Runs on the store's thread (see
`Store.call`).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from snmpd_ng.alerting.history import HistoryEntry

MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class HistoryPage:
    entries: list[HistoryEntry]
    """Newest first."""
    next_before: int | None
    """The cursor of the next (older) page, or None when this page is the last."""


def query_page(connection: sqlite3.Connection, *, limit: int, before: int | None = None,
               kind: str | None = None) -> HistoryPage:
    """Return up to `limit` entries with an id below `before`, newest first.

    `kind` keeps the entries of one kind ("alert.firing"), or of a family when it ends in a
    dot ("notification."). Raises ValueError for a limit outside 1 to MAX_PAGE_SIZE.
    """
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"invalid limit {limit}: allowed 1 to {MAX_PAGE_SIZE}")
    conditions, parameters = _conditions(before, kind)
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    # One row more than requested shows whether an older page exists.
    rows = connection.execute(
        "SELECT id, at, kind, actor, fingerprint, group_key, detail FROM history "
        f"{where}ORDER BY id DESC LIMIT ?", (*parameters, limit + 1)).fetchall()
    entries = [_entry(row) for row in rows[:limit]]
    has_more = len(rows) > limit
    return HistoryPage(entries, entries[-1].id if has_more and entries else None)


def _conditions(before: int | None, kind: str | None) -> tuple[list[str], list[object]]:
    conditions: list[str] = []
    parameters: list[object] = []
    if before is not None:
        conditions.append("id < ?")
        parameters.append(before)
    if kind is not None and kind.endswith("."):
        # substr compares the prefix literally, where LIKE would read _ and % as wildcards.
        conditions.append("substr(kind, 1, ?) = ?")
        parameters.extend([len(kind), kind])
    elif kind is not None:
        conditions.append("kind = ?")
        parameters.append(kind)
    return conditions, parameters


def _entry(row: tuple[Any, ...]) -> HistoryEntry:
    return HistoryEntry(id=row[0], at=row[1], kind=row[2], actor=row[3], fingerprint=row[4],
                        group_key=row[5], detail=json.loads(row[6]))
