"""The append-only history: every state change, notification, acknowledgement, silence, reload.

Each entry records when (Unix seconds), what (`kind`), who (`actor`: "rules" for the rules engine,
"routing", "silences", "inhibition", "escalation", "outbox", "restart", "reload", or the person
who acknowledged or silenced), and about which alert or group, with a JSON `detail`. The store
never changes or deletes an entry once written (in SQLite, the table's triggers reject UPDATE
and DELETE).

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
    """The entry's id, set when read back from the store."""
