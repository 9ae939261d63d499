"""The SQL of the alert history: append, query by alert or group, and cursor pages.

Runs on the SQLite store's thread, inside its transaction (see store.py).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from snmpd_ng.alerting.history import HistoryEntry
from snmpd_ng.alerting.history_page import HistoryPage, check_page_limit

_COLUMNS = "SELECT id, at, kind, actor, fingerprint, group_key, detail FROM history "


def append(connection: sqlite3.Connection, entries: list[HistoryEntry]) -> None:
    """Insert entries; runs on the store's thread, inside its transaction."""
    connection.executemany(
        "INSERT INTO history (at, kind, actor, fingerprint, group_key, detail) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(entry.at, entry.kind, entry.actor, entry.fingerprint, entry.group_key,
          json.dumps(dict(entry.detail), sort_keys=True, default=str)) for entry in entries],
    )


def query(connection: sqlite3.Connection, key: str | None, limit: int) -> list[HistoryEntry]:
    """Return entries about one alert or group, oldest first; all entries for key None.

    For a fingerprint, the group entries (escalation and notifications, which have no
    fingerprint) of the groups the alert was in come too, because the notifications about an
    alert are recorded by group. Entries about the other alerts of those groups do not.
    """
    if key is None:
        rows = connection.execute(
            _COLUMNS + "ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    else:
        rows = connection.execute(
            _COLUMNS + "WHERE fingerprint = :key OR group_key = :key "
            "OR (fingerprint IS NULL AND group_key IN ("
            "  SELECT DISTINCT group_key FROM history"
            "  WHERE fingerprint = :key AND group_key IS NOT NULL)) "
            "ORDER BY id DESC LIMIT :limit", {"key": key, "limit": limit}).fetchall()
    return [_entry(row) for row in reversed(rows)]


def query_page(connection: sqlite3.Connection, *, limit: int, before: int | None = None,
               kind: str | None = None) -> HistoryPage:
    """Return up to `limit` entries with an id below `before`, newest first.

    `kind` keeps the entries of one kind ("alert.firing"), or of a family when it ends in a
    dot ("notification."). Raises ValueError for a limit outside 1 to MAX_PAGE_SIZE.
    """
    check_page_limit(limit)
    conditions, parameters = _conditions(before, kind)
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    # One row more than requested shows whether an older page exists.
    rows = connection.execute(
        _COLUMNS + f"{where}ORDER BY id DESC LIMIT ?", (*parameters, limit + 1)).fetchall()
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
