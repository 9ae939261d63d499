"""The SQL of the outbox: insert, claim, record outcomes, requeue, dead-letter and count.

Runs on the SQLite store's thread, inside its transaction (see store.py). The rules each
function implements are those of the matching `AlertStore` method (backend.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from snmpd_ng.alerting.outbox_entry import (
    CLAIMED,
    DEAD,
    DELIVERED,
    PENDING,
    OutboxEntry,
    OutboxOutcome,
    decode_notification,
    encode_notification,
    entry_history,
    unknown_channel_detail,
)
from snmpd_ng.alerting.sqlite_history import append

_SELECT = ("SELECT id, channel, group_started, payload, attempts, created_at, group_key "
           "FROM outbox o ")


def insert_entries(connection: sqlite3.Connection, entries: list[OutboxEntry]) -> None:
    """Queue `entries`, each due at its `created_at`; an entry already queued is left alone."""
    history = []
    for entry in entries:
        notification = entry.notification
        now = entry.created_at
        cursor = connection.execute(
            "INSERT OR IGNORE INTO outbox (notification_id, channel, group_key, "
            "group_started, payload, state, created_at, next_attempt_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (notification.id, entry.channel, notification.group_key, entry.group_started,
             encode_notification(notification), PENDING, now, now))
        if cursor.rowcount:
            history.append(entry_history(now, "notification.queued", entry))
    append(connection, history)


def _row_entry(row: tuple[Any, ...], references: Mapping[str, str] | None = None,
               attempts: int | None = None) -> OutboxEntry:
    notification = decode_notification(row[3])
    if references:
        notification = replace(notification, references=dict(references))
    return OutboxEntry(notification=notification, channel=row[1], group_started=row[2],
                       id=row[0], attempts=row[4] if attempts is None else attempts,
                       created_at=row[5])


def claim(connection: sqlite3.Connection, channel: str, now: float,
          limit: int) -> list[OutboxEntry]:
    rows = connection.execute(
        _SELECT + "WHERE state = ? AND channel = ? AND next_attempt_at <= ? AND id = ("
        "  SELECT MIN(id) FROM outbox p WHERE p.group_key = o.group_key"
        "  AND p.channel = o.channel AND p.state IN (?, ?)) "
        "ORDER BY id LIMIT ?", (PENDING, channel, now, PENDING, CLAIMED, limit)).fetchall()
    entries = []
    for row in rows:
        connection.execute(
            "UPDATE outbox SET state = ?, claimed_at = ?, attempts = attempts + 1 WHERE id = ?",
            (CLAIMED, now, row[0]))
        group_references = references(connection, row[6], row[2])
        entries.append(_row_entry(row, group_references, attempts=row[4] + 1))
    append(connection, [entry_history(now, "notification.attempt", entry) for entry in entries])
    return entries


def references(connection: sqlite3.Connection, group_key: str,
               group_started: float) -> dict[str, str]:
    rows = connection.execute(
        "SELECT channel, reference FROM delivery_references WHERE group_key = ? "
        "AND group_started = ?", (group_key, group_started)).fetchall()
    return {str(channel): str(reference) for channel, reference in rows}


def record_outcome(connection: sqlite3.Connection, outcome: OutboxOutcome) -> None:
    entry = outcome.entry
    if outcome.state == PENDING:
        connection.execute(
            "UPDATE outbox SET state = ?, next_attempt_at = ?, last_detail = ? WHERE id = ?",
            (PENDING, outcome.next_attempt_at, outcome.detail, entry.id))
    elif outcome.state in (DELIVERED, DEAD):
        _finish(connection, entry, outcome.state, outcome.detail, outcome.at)
    else:
        raise ValueError(f"invalid outbox outcome state {outcome.state!r} for entry "
                         f"{entry.id}: expected {PENDING}, {DELIVERED} or {DEAD}")
    _save_reference(connection, entry, outcome.reference)
    append(connection, [outcome.history])


def _save_reference(connection: sqlite3.Connection, entry: OutboxEntry,
                    reference: str | None) -> None:
    if reference:
        connection.execute(
            "INSERT OR REPLACE INTO delivery_references VALUES (?, ?, ?, ?)",
            (entry.notification.group_key, entry.group_started, entry.channel, reference))


def _finish(connection: sqlite3.Connection, entry: OutboxEntry, state: str, detail: str,
            now: float) -> None:
    connection.execute(
        "UPDATE outbox SET state = ?, finished_at = ?, last_detail = ? WHERE id = ?",
        (state, now, detail, entry.id))


def requeue_claimed(connection: sqlite3.Connection, now: float, reason: str) -> int:
    rows = connection.execute(_SELECT + "WHERE state = ?", (CLAIMED,)).fetchall()
    connection.execute("UPDATE outbox SET state = ?, next_attempt_at = ? WHERE state = ?",
                       (PENDING, now, CLAIMED))
    append(connection, [entry_history(now, "notification.requeued", _row_entry(row),
                                      {"reason": reason}) for row in rows])
    return len(rows)


def dead_letter_unknown(connection: sqlite3.Connection, known: frozenset[str],
                        now: float) -> dict[str, int]:
    names = [str(row[0]) for row in connection.execute(
        "SELECT DISTINCT channel FROM outbox WHERE state = ?", (PENDING,))]
    history = []
    counts = {}
    for name in sorted(set(names) - known):
        detail = unknown_channel_detail(name)
        rows = connection.execute(_SELECT + "WHERE state = ? AND channel = ?",
                                  (PENDING, name)).fetchall()
        for row in rows:
            entry = _row_entry(row)
            _finish(connection, entry, DEAD, detail, now)
            history.append(entry_history(now, "notification.failed", entry, {"detail": detail}))
        counts[name] = len(rows)
    append(connection, history)
    return counts


def next_due(connection: sqlite3.Connection, channel: str | None) -> float | None:
    if channel is None:
        row = connection.execute("SELECT MIN(next_attempt_at) FROM outbox WHERE state = ?",
                                 (PENDING,)).fetchone()
    else:
        row = connection.execute("SELECT MIN(next_attempt_at) FROM outbox WHERE state = ? "
                                 "AND channel = ?", (PENDING, channel)).fetchone()
    return float(row[0]) if row[0] is not None else None


def counts(connection: sqlite3.Connection) -> dict[str, int]:
    rows = connection.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall()
    return {str(state): int(count) for state, count in rows}


def channel_counts(connection: sqlite3.Connection) -> dict[tuple[str, str], int]:
    rows = connection.execute(
        "SELECT channel, state, COUNT(*) FROM outbox GROUP BY channel, state").fetchall()
    return {(str(channel), str(state)): int(count) for channel, state, count in rows}
