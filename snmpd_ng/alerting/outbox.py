"""The outbox: notifications written to the store before they are sent, and sent until done.

An entry is one notification for one channel. Its states:

    pending --claim--> claimed --delivered--> delivered
                          |----retryable----> pending (again after a backoff)
                          |----failed, or out of attempts or time--> dead

Escalation inserts entries in the same transaction as the step that made them, so a step is
never recorded without its notifications, nor the reverse. A worker claims due entries of one
channel (the claim is committed, with a `notification.attempt` history entry), sends them one
at a time, and commits the outcome with the channel's `Delivery` detail. The store
(`AlertStore`, backend.py) carries out each of these steps as one atomic unit.

Entries of one group and channel go out in the order they were queued: only the oldest
unfinished one can be claimed, so a resolve never overtakes the firing it resolves.

The duplicate window: an entry claimed but whose outcome was not committed when the process
stopped is claimed again after the restart (`recover`) and sent again. That is the only way a
notification is sent twice. PagerDuty merges the copy by its dedup_key (the group key), and the
ticket channels look the group's ticket up before creating one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from snmpd_ng.alerting.backend import AlertStore
from snmpd_ng.alerting.channels.base import Channel
from snmpd_ng.alerting.notification import Delivery, DeliveryKind
from snmpd_ng.alerting.outbox_entry import (
    DEAD,
    DELIVERED,
    PENDING,
    OutboxEntry,
    OutboxOutcome,
    entry_history,
    unknown_channel_detail,
)
from snmpd_ng.clock import Clock

log = structlog.get_logger(__name__)

MAX_ROUNDS = 100
"""Claim rounds of one `deliver_due` call per channel; the worker loop calls again."""

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


class Outbox:
    """Claims due entries, sends them through their channel, and records each outcome."""

    def __init__(self, store: AlertStore, channels: Mapping[str, Channel], clock: Clock,
                 policy: OutboxPolicy | None = None, *,
                 may_send: Callable[[], bool] | None = None) -> None:
        self.store = store
        self.may_send = may_send
        """Asked before each send; False stops the round and leaves the rest claimed."""
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
        reason = (f"claimed before {after} without a recorded outcome; it may have been "
                  "sent, so it is sent again")
        count = await self.store.requeue_claimed(self.clock.wall(), reason)
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
        dead = await self.store.dead_letter_unknown(frozenset(self.channels),
                                                    self.clock.wall())
        for name, count in dead.items():
            log.error("alert notifications dead-lettered", channel=name, count=count,
                      detail=unknown_channel_detail(name))

    async def next_due(self, channel: str | None = None) -> float | None:
        """Return the Unix time of the earliest pending entry (of one channel), or None."""
        return await self.store.next_due(channel)

    async def counts(self) -> dict[str, int]:
        """Return the number of entries in each state."""
        return await self.store.counts()

    async def channel_counts(self) -> dict[tuple[str, str], int]:
        """Return the number of entries by (channel, state)."""
        return await self.store.channel_counts()

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
            entries = await self.store.claim(name, self.clock.wall(), self.policy.batch)
            if not entries:
                break
            for entry in entries:
                if not self._may_send(name, len(entries)):
                    return sent
                delivery = await self._send(target, entry)
                kind = await self._record(entry, delivery, self.clock.wall())
                self.results[(name, RESULTS[kind])] += 1
                sent += 1
        return sent

    def _may_send(self, channel: str, claimed: int) -> bool:
        if self.may_send is None or self.may_send():
            return True
        # The entries stay claimed, because claimed entries are what a stopped sender leaves.
        # The node that sends next puts them back to pending when it starts.
        log.warning("alert sends stopped: this node no longer leads the cluster",
                    channel=channel, claimed=claimed)
        return False

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

    async def _record(self, entry: OutboxEntry, delivery: Delivery, now: float) -> str:
        """Record the outcome of one send; return the history kind written."""
        outcome = self._outcome(entry, delivery, now)
        await self.store.record_outcome(outcome)
        if outcome.state == DEAD:
            log.error("alert notification dead-lettered", channel=entry.channel,
                      notification_id=entry.notification.id, attempts=entry.attempts,
                      detail=delivery.detail)
        return outcome.history.kind

    def _outcome(self, entry: OutboxEntry, delivery: Delivery, now: float) -> OutboxOutcome:
        """Decide what a send's delivery means for the entry: delivered, retry or dead."""
        detail: dict[str, Any] = {"detail": delivery.detail, "status": delivery.status,
                                  "attempts": delivery.attempts, "reference": delivery.reference}
        if delivery.is_delivered:
            history = entry_history(now, "notification.delivered", entry, detail)
            return OutboxOutcome(entry, DELIVERED, now, delivery.detail, history,
                                 reference=delivery.reference)
        if delivery.kind is DeliveryKind.RETRYABLE and not self._gives_up(entry, now):
            wait = self.policy.backoff(entry.attempts)
            detail["retry_in_seconds"] = wait
            history = entry_history(now, "notification.retry", entry, detail)
            return OutboxOutcome(entry, PENDING, now, delivery.detail, history,
                                 next_attempt_at=now + wait)
        history = entry_history(now, "notification.failed", entry, detail)
        return OutboxOutcome(entry, DEAD, now, delivery.detail, history)

    def _gives_up(self, entry: OutboxEntry, now: float) -> bool:
        return (entry.attempts >= self.policy.max_attempts
                or now - entry.created_at >= self.policy.max_age)
