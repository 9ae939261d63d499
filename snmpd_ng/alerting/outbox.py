"""The outbox: notifications written to the store before they are sent, and sent until done.

An entry is one notification for one channel. Its states:

    pending --claim--> claimed --delivered--> delivered
                          |----retryable----> pending (again after a backoff)
                          |----failed, or out of attempts or time--> dead

Escalation inserts entries in the same transaction as the step that made them, so a step is
never recorded without its notifications, nor the reverse. A worker claims due entries of one
channel (the claim is committed, with a `notification.attempt` history entry), sends them one
at a time, and commits the outcome with the channel's `Delivery` detail.

Entries of one group and channel go out in the order they were queued: only the oldest
unfinished one can be claimed, so a resolve never overtakes the firing it resolves.

The duplicate window: an entry claimed but whose outcome was not committed when the process
stopped is claimed again after the restart (`recover`) and sent again. That is the only way a
notification is sent twice. PagerDuty merges the copy by its dedup_key (the group key), and the
ticket channels look the group's ticket up before creating one.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import structlog

from snmpd_ng.alerting.channels.base import Channel
from snmpd_ng.alerting.history import HistoryEntry, append
from snmpd_ng.alerting.notification import AlertView, Delivery, DeliveryKind, Notification
from snmpd_ng.alerting.store import Operation, Store
from snmpd_ng.clock import Clock

log = structlog.get_logger(__name__)

MAX_ROUNDS = 100
"""Claim rounds of one `deliver_due` call per channel; the worker loop calls again."""

PENDING = "pending"
CLAIMED = "claimed"
DELIVERED = "delivered"
DEAD = "dead"

RESULTS = {"notification.delivered": "delivered", "notification.retry": "retried",
           "notification.failed": "failed"}
"""The result of one send, as `Outbox.results` counts it, by the history kind it records."""


@dataclass(frozen=True)
class OutboxPolicy:
    """When the outbox tries a retryable notification again, and when it gives up (seconds)."""

    retry_base: float = 30.0
    """Wait after the first retryable failure; it doubles with each further failure."""
    retry_cap: float = 1800.0
    max_attempts: int = 20
    """Sends (each with the channel's own retries) before the entry is dead-lettered."""
    max_age: float = 86400.0
    """Seconds after queueing after which a failing entry is dead-lettered."""
    batch: int = 50
    """Entries claimed at once per channel."""

    def backoff(self, attempts: int) -> float:
        return float(min(self.retry_cap, self.retry_base * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class OutboxEntry:
    notification: Notification
    channel: str
    group_started: float
    """The group's creation time: with the group key, it names one life of the group."""
    id: int | None = None
    attempts: int = 0
    created_at: float = 0.0


def encode_notification(notification: Notification) -> str:
    data = {"id": notification.id, "event": notification.event,
            "group_key": notification.group_key, "receiver": notification.receiver,
            "tier": notification.tier, "references": dict(notification.references),
            "alerts": [_alert_dict(alert) for alert in notification.alerts]}
    return json.dumps(data, sort_keys=True)


def _alert_dict(alert: AlertView) -> dict[str, Any]:
    data = {name: getattr(alert, name) for name in alert.__dataclass_fields__}
    data["labels"] = dict(alert.labels)
    data["annotations"] = dict(alert.annotations)
    return data


def decode_notification(text: str) -> Notification:
    data = json.loads(text)
    alerts = tuple(AlertView(**alert) for alert in data.pop("alerts"))
    return Notification(alerts=alerts, **data)


def insert_entries(entries: list[OutboxEntry], now: float) -> Operation:
    """Return the operation that queues `entries`; an entry already queued is left alone."""

    def run(connection: sqlite3.Connection) -> None:
        history = []
        for entry in entries:
            notification = entry.notification
            cursor = connection.execute(
                "INSERT OR IGNORE INTO outbox (notification_id, channel, group_key, "
                "group_started, payload, state, created_at, next_attempt_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (notification.id, entry.channel, notification.group_key, entry.group_started,
                 encode_notification(notification), PENDING, now, now))
            if cursor.rowcount:
                history.append(_entry_history(now, "notification.queued", entry))
        append(connection, history)

    return run


class Outbox:
    """Claims due entries, sends them through their channel, and records each outcome."""

    def __init__(self, store: Store, channels: Mapping[str, Channel], clock: Clock,
                 policy: OutboxPolicy | None = None) -> None:
        self.store = store
        self.channels = dict(channels)
        self.clock = clock
        self.policy = policy or OutboxPolicy()
        self.results: Counter[tuple[str, str]] = Counter()
        """Sends by (channel, result) since the start: delivered, retried (a retryable
        failure that will be tried again) or failed (dead-lettered)."""

    async def recover(self, after: str = "a restart") -> int:
        """Put entries claimed before a restart back to pending; return how many.

        Their outcome was never recorded, so each may have been sent. This is the duplicate
        window, and each gets a `notification.requeued` history entry. `after` names what
        interrupted the sends, for the log and the history: a restart, or a reload that
        stopped the workers.
        """
        count = await self.store.call(lambda connection: _requeue(connection,
                                                                  self.clock.wall(), after))
        if count:
            log.warning("alert notifications requeued; they may be sent twice", after=after,
                        count=count)
        return count

    async def deliver_due(self, channel: str | None = None) -> int:
        """Send the due entries of one channel, or of every channel; return how many were sent.

        Entries of channels that are not configured are dead-lettered.
        """
        if channel is None:
            await self.dead_letter_unknown()
        names = [channel] if channel is not None else sorted(self.channels)
        sent = 0
        for name in names:
            sent += await self._deliver_channel(name)
        return sent

    async def dead_letter_unknown(self) -> None:
        """Dead-letter pending entries of channels that are not configured (any more)."""
        await self.store.call(lambda connection: _dead_letter_unknown(
            connection, set(self.channels), self.clock.wall()))

    async def next_due(self, channel: str | None = None) -> float | None:
        """Return the Unix time of the earliest pending entry (of one channel), or None."""
        return await self.store.call(lambda connection: _next_due(connection, channel))

    async def counts(self) -> dict[str, int]:
        """Return the number of entries in each state."""
        return await self.store.call(_counts)

    async def channel_counts(self) -> dict[tuple[str, str], int]:
        """Return the number of entries by (channel, state)."""
        return await self.store.call(_channel_counts)

    async def _deliver_channel(self, name: str) -> int:
        """Claim and send rounds of due entries until none is left.

        One round claims at most one entry per group (the oldest), so the next entry of a
        group becomes claimable only after the round that settled the one before it.
        """
        target = self.channels.get(name)
        if target is None:
            return 0
        sent = 0
        for _ in range(MAX_ROUNDS):
            entries = await self.store.call(partial(
                _claim, channel=name, now=self.clock.wall(), limit=self.policy.batch))
            if not entries:
                break
            for entry in entries:
                delivery = await self._send(target, entry)
                kind = await self.store.call(partial(self._record, entry=entry,
                                                     delivery=delivery, now=self.clock.wall()))
                self.results[(name, RESULTS[kind])] += 1
            sent += len(entries)
        return sent

    @staticmethod
    async def _send(channel: Channel, entry: OutboxEntry) -> Delivery:
        try:
            return await channel.send(entry.notification)
        except Exception as exc:
            # Channel.send turns provider errors into a Delivery, so this is a bug in a
            # channel; the entry is retried rather than lost.
            log.error("alert channel raised", channel=entry.channel,
                      notification_id=entry.notification.id, error=str(exc),
                      error_type=type(exc).__name__)
            return Delivery(DeliveryKind.RETRYABLE, f"channel raised {type(exc).__name__}")

    def _record(self, connection: sqlite3.Connection, *, entry: OutboxEntry,
                delivery: Delivery, now: float) -> str:
        """Record the outcome of one send; return the history kind written."""
        detail: dict[str, Any] = {"detail": delivery.detail, "status": delivery.status,
                  "attempts": delivery.attempts, "reference": delivery.reference}
        if delivery.is_delivered:
            _finish(connection, entry, DELIVERED, delivery.detail, now)
            _save_reference(connection, entry, delivery.reference)
            kind = "notification.delivered"
        elif delivery.kind is DeliveryKind.RETRYABLE and not self._gives_up(entry, now):
            wait = self.policy.backoff(entry.attempts)
            connection.execute(
                "UPDATE outbox SET state = ?, next_attempt_at = ?, last_detail = ? WHERE id = ?",
                (PENDING, now + wait, delivery.detail, entry.id))
            kind, detail["retry_in_seconds"] = "notification.retry", wait
        else:
            _finish(connection, entry, DEAD, delivery.detail, now)
            kind = "notification.failed"
            log.error("alert notification dead-lettered", channel=entry.channel,
                      notification_id=entry.notification.id, attempts=entry.attempts,
                      detail=delivery.detail)
        append(connection, [_entry_history(now, kind, entry, detail)])
        return kind

    def _gives_up(self, entry: OutboxEntry, now: float) -> bool:
        return (entry.attempts >= self.policy.max_attempts
                or now - entry.created_at >= self.policy.max_age)


def _entry_history(now: float, kind: str, entry: OutboxEntry,
                   extra: Mapping[str, Any] | None = None) -> HistoryEntry:
    notification = entry.notification
    detail = {"notification_id": notification.id, "channel": entry.channel,
              "receiver": notification.receiver, "event": notification.event,
              "tier": notification.tier, "alerts": len(notification.alerts),
              "attempt": entry.attempts, **(extra or {})}
    return HistoryEntry(at=now, kind=kind, actor="outbox", group_key=notification.group_key,
                        detail=detail)


_SELECT = ("SELECT id, channel, group_started, payload, attempts, created_at, group_key "
           "FROM outbox o ")


def _row_entry(row: tuple[Any, ...], references: Mapping[str, str] | None = None,
               attempts: int | None = None) -> OutboxEntry:
    notification = decode_notification(row[3])
    if references:
        notification = replace(notification, references=dict(references))
    return OutboxEntry(notification=notification, channel=row[1], group_started=row[2],
                       id=row[0], attempts=row[4] if attempts is None else attempts,
                       created_at=row[5])


def _claim(connection: sqlite3.Connection, channel: str, now: float,
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
        references = _references(connection, row[6], row[2])
        entries.append(_row_entry(row, references, attempts=row[4] + 1))
    append(connection, [_entry_history(now, "notification.attempt", entry) for entry in entries])
    return entries


def _references(connection: sqlite3.Connection, group_key: str,
                group_started: float) -> dict[str, str]:
    rows = connection.execute(
        "SELECT channel, reference FROM delivery_references WHERE group_key = ? "
        "AND group_started = ?", (group_key, group_started)).fetchall()
    return {str(channel): str(reference) for channel, reference in rows}


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


def _requeue(connection: sqlite3.Connection, now: float, after: str) -> int:
    rows = connection.execute(_SELECT + "WHERE state = ?", (CLAIMED,)).fetchall()
    connection.execute("UPDATE outbox SET state = ?, next_attempt_at = ? WHERE state = ?",
                       (PENDING, now, CLAIMED))
    append(connection, [_entry_history(now, "notification.requeued", _row_entry(row), {
        "reason": f"claimed before {after} without a recorded outcome; it may have been "
                  "sent, so it is sent again"}) for row in rows])
    return len(rows)


def _dead_letter_unknown(connection: sqlite3.Connection, known: set[str], now: float) -> None:
    names = [str(row[0]) for row in connection.execute(
        "SELECT DISTINCT channel FROM outbox WHERE state = ?", (PENDING,))]
    history = []
    for name in sorted(set(names) - known):
        detail = f"channel {name!r} is not configured"
        rows = connection.execute(_SELECT + "WHERE state = ? AND channel = ?",
                                  (PENDING, name)).fetchall()
        for row in rows:
            entry = _row_entry(row)
            _finish(connection, entry, DEAD, detail, now)
            history.append(_entry_history(now, "notification.failed", entry, {"detail": detail}))
        log.error("alert notifications dead-lettered", channel=name, count=len(rows),
                  detail=detail)
    append(connection, history)


def _next_due(connection: sqlite3.Connection, channel: str | None) -> float | None:
    if channel is None:
        row = connection.execute("SELECT MIN(next_attempt_at) FROM outbox WHERE state = ?",
                                 (PENDING,)).fetchone()
    else:
        row = connection.execute("SELECT MIN(next_attempt_at) FROM outbox WHERE state = ? "
                                 "AND channel = ?", (PENDING, channel)).fetchone()
    return float(row[0]) if row[0] is not None else None


def _counts(connection: sqlite3.Connection) -> dict[str, int]:
    rows = connection.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall()
    return {str(state): int(count) for state, count in rows}


def _channel_counts(connection: sqlite3.Connection) -> dict[tuple[str, str], int]:
    rows = connection.execute(
        "SELECT channel, state, COUNT(*) FROM outbox GROUP BY channel, state").fetchall()
    return {(str(channel), str(state)): int(count) for channel, state, count in rows}
