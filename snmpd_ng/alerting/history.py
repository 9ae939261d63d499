"""The append-only history: every state change, notification, acknowledgement, silence, reload.

Each entry records when (Unix seconds), what (`kind`), who (`actor`: "rules" for the rules engine,
"routing", "silences", "inhibition", "escalation", "outbox", "restart", "reload", or the person
who acknowledged or silenced), and about which alert or group, with a JSON `detail`. The
table's triggers reject UPDATE and DELETE, so an entry, once written, stays as written.

Kinds:
  alert.pending, alert.firing, alert.acknowledged, alert.resolved, alert.resolve_held,
  alert.resolve_cancelled, alert.confirmed, alert.silenced, alert.unsilenced, alert.inhibited,
  alert.uninhibited, alert.unrouted, alert.rejected (a signal its state does not allow),
  escalation.started, escalation.tier, escalation.repeat, escalation.loop, escalation.skipped,
  escalation.stopped, notification.queued, notification.attempt, notification.delivered,
  notification.retry, notification.failed, notification.requeued, silence.created,
  silence.expired, config.reloaded.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_LIMIT = 1000


@dataclass(frozen=True)
class HistoryEntry:
    at: float
    kind: str
    actor: str
    fingerprint: str | None = None
    group_key: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None
    """The row id, set when read back from the store."""


def append(connection: sqlite3.Connection, entries: list[HistoryEntry]) -> None:
    """Insert entries; runs on the store's thread, inside its transaction."""
    connection.executemany(
        "INSERT INTO history (at, kind, actor, fingerprint, group_key, detail) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(entry.at, entry.kind, entry.actor, entry.fingerprint, entry.group_key,
          json.dumps(dict(entry.detail), sort_keys=True, default=str)) for entry in entries],
    )


def query(connection: sqlite3.Connection, key: str | None = None,
          limit: int = DEFAULT_LIMIT) -> list[HistoryEntry]:
    """Return entries about one alert or group, oldest first; all entries for key None.

    For a fingerprint, the group entries (escalation and notifications, which have no
    fingerprint) of the groups the alert was in come too, because the notifications about an
    alert are recorded by group. Entries about the other alerts of those groups do not.
    """
    if key is None:
        rows = connection.execute(
            "SELECT id, at, kind, actor, fingerprint, group_key, detail FROM history "
            "ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    else:
        rows = connection.execute(
            "SELECT id, at, kind, actor, fingerprint, group_key, detail FROM history "
            "WHERE fingerprint = :key OR group_key = :key "
            "OR (fingerprint IS NULL AND group_key IN ("
            "  SELECT DISTINCT group_key FROM history"
            "  WHERE fingerprint = :key AND group_key IS NOT NULL)) "
            "ORDER BY id DESC LIMIT :limit", {"key": key, "limit": limit}).fetchall()
    return [_entry(row) for row in reversed(rows)]


def _entry(row: tuple[Any, ...]) -> HistoryEntry:
    return HistoryEntry(id=row[0], at=row[1], kind=row[2], actor=row[3], fingerprint=row[4],
                        group_key=row[5], detail=json.loads(row[6]))
