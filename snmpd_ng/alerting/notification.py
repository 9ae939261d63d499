"""The data escalation passes to a channel, and the outcome the channel returns.

A `Notification` is plain data about one group of alerts at one moment (first firing, a repeat,
an acknowledgement, the resolution). A channel turns it into its provider's request and returns a
`Delivery`, which the outbox records in the history and uses to decide whether to try again later.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

NotificationEvent = str
"""One of "firing", "repeat", "acknowledged", "resolved"."""

EVENTS = frozenset({"firing", "repeat", "acknowledged", "resolved"})

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class AlertView:
    """The part of one alert that a channel may show."""

    fingerprint: str
    rule: str
    severity: str
    """critical, warning or info."""
    state: str
    """pending, firing, acknowledged or resolved."""
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    value: float | None
    starts_at: float
    """Unix seconds when the alert started firing."""
    ends_at: float | None = None
    """Unix seconds when it resolved, None while it fires."""
    acknowledged_by: str | None = None
    ack_comment: str | None = None


@dataclass(frozen=True)
class Notification:
    """One message about a group of alerts, for one receiver and escalation tier."""

    id: str
    """Idempotency key: the same for every delivery of one (group, event, tier, repeat)."""
    event: NotificationEvent
    group_key: str
    """Stable for the life of the group: PagerDuty's dedup_key and the tickets' lookup key."""
    alerts: tuple[AlertView, ...]
    receiver: str
    tier: int = 0
    references: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """External ids from earlier deliveries, by channel name (a Jira issue key, a sys_id)."""


class DeliveryKind(enum.Enum):
    """The outcome of a delivery."""

    DELIVERED = "delivered"
    RETRYABLE = "retryable"
    """Failed for now (timeout, 5xx, 429, connection error): the outbox may try again later."""
    FAILED = "failed"
    """Failed for good (rejected request, bad credentials): trying again cannot help."""


@dataclass(frozen=True)
class Delivery:
    """The outcome of `Channel.send`, for the history and the outbox."""

    kind: DeliveryKind
    detail: str
    """A line for the history: what the provider returned, or why it failed. Never a secret."""
    reference: str | None = None
    """The provider's id for what was created or updated (a Jira issue key, a sys_id)."""
    status: int | None = None
    """HTTP status or SMTP reply code of the last attempt, when there was one."""
    attempts: int = 1

    @property
    def is_delivered(self) -> bool:
        return self.kind is DeliveryKind.DELIVERED
