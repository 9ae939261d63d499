"""Silences: matchers with a start, an end, an author and a comment that mute alerts.

A silence mutes every alert whose labels (with `rule`) satisfy all of its matchers while
`starts_at <= now < ends_at`. A muted alert still changes state and is kept in the history,
but it is left out of notifications and does not escalate. As in Alertmanager, a silence needs
at least one matcher that does not match an empty label, so it cannot mute every alert by
mistake. Expiring a silence sets its end to now. Times are Unix seconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from snmpd_ng.alerting.matchers import Matcher, format_matchers, matches_all, parse_matchers


class SilenceError(ValueError):
    """A silence that cannot be created or expired; the message names what to change."""


class SilenceNotFoundError(SilenceError, LookupError):
    """No silence has the id given."""


@dataclass(frozen=True)
class SilencePolicy:
    """Defaults and limits of silences, in seconds."""

    default_duration: float = 7200.0
    max_duration: float = 30 * 86400.0
    retention: float = 7 * 86400.0
    """How long an ended silence stays listed before it is forgotten (the history keeps it)."""


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    created_at: float
    expired_by: str | None = None
    """The person who ended the silence early, or None."""

    def is_active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        return matches_all(self.matchers, labels)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "matchers": format_matchers(self.matchers),
                "starts_at": self.starts_at, "ends_at": self.ends_at,
                "created_by": self.created_by, "comment": self.comment,
                "created_at": self.created_at, "expired_by": self.expired_by}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Silence:
        return cls(id=data["id"], matchers=tuple(parse_matchers(data["matchers"])),
                   starts_at=data["starts_at"], ends_at=data["ends_at"],
                   created_by=data["created_by"], comment=data["comment"],
                   created_at=data["created_at"], expired_by=data.get("expired_by"))


class Silences:
    """The silences in memory: creation with its checks, expiry, and which mute an alert."""

    def __init__(self, policy: SilencePolicy | None = None) -> None:
        self.policy = policy or SilencePolicy()
        self._silences: dict[str, Silence] = {}

    def __iter__(self) -> Iterator[Silence]:
        return iter(list(self._silences.values()))

    def get(self, silence_id: str) -> Silence | None:
        return self._silences.get(silence_id)

    def create(self, matchers: Sequence[Matcher], *, created_by: str, comment: str, now: float,
               starts_at: float | None = None, ends_at: float | None = None) -> Silence:
        """Check and add a silence; a missing start is now, a missing end the default duration.

        Raises SilenceError naming the field to change.
        """
        start = now if starts_at is None else starts_at
        end = start + self.policy.default_duration if ends_at is None else ends_at
        self._check(matchers, created_by, comment, start, end, now)
        silence = Silence(id=uuid.uuid4().hex, matchers=tuple(matchers), starts_at=start,
                          ends_at=end, created_by=created_by.strip(), comment=comment.strip(),
                          created_at=now)
        self._silences[silence.id] = silence
        return silence

    def expire(self, silence_id: str, by: str, now: float) -> Silence:
        """End a silence now; raise SilenceNotFoundError or SilenceError if it already ended."""
        silence = self._silences.get(silence_id)
        if silence is None:
            raise SilenceNotFoundError(f"silence {silence_id!r} not found")
        if silence.ends_at <= now:
            raise SilenceError(f"silence {silence_id!r} already ended")
        expired = replace(silence, ends_at=max(now, silence.starts_at), expired_by=by)
        self._silences[silence_id] = expired
        return expired

    def muting(self, labels: Mapping[str, str], now: float) -> tuple[str, ...]:
        """Return the ids of the active silences that mute an alert with `labels`."""
        return tuple(silence.id for silence in self._silences.values()
                     if silence.is_active(now) and silence.matches(labels))

    def next_change(self, now: float) -> float | None:
        """Return the next time after `now` when a silence starts or ends, or None."""
        times = [time for silence in self._silences.values()
                 for time in (silence.starts_at, silence.ends_at) if time > now]
        return min(times, default=None)

    def restore(self, silences: Iterable[Silence]) -> None:
        for silence in silences:
            self._silences[silence.id] = silence

    def prune(self, now: float) -> list[str]:
        """Forget silences that ended more than the retention ago; return their ids."""
        removed = [key for key, silence in self._silences.items()
                   if silence.ends_at + self.policy.retention <= now]
        for key in removed:
            del self._silences[key]
        return removed

    def _check(self, matchers: Sequence[Matcher], created_by: str, comment: str,
               start: float, end: float, now: float) -> None:
        if not matchers:
            raise SilenceError("missing matchers: give at least one, such as target=\"core1\"")
        if all(matcher.matches_empty() for matcher in matchers):
            raise SilenceError(f"matchers {format_matchers(matchers)} match every alert; give "
                               "at least one matcher that requires a label value")
        if not created_by.strip():
            raise SilenceError("missing created_by: name who creates the silence")
        if not comment.strip():
            raise SilenceError("missing comment: say why the alerts are silenced")
        if end <= start:
            raise SilenceError("invalid end: ends_at must be after starts_at")
        if end <= now:
            raise SilenceError("invalid end: ends_at is in the past")
        if end - start > self.policy.max_duration:
            raise SilenceError(f"invalid end: the silence lasts {end - start:g} s, more than "
                               f"the maximum of {self.policy.max_duration:g} s")
