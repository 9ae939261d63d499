"""The local lease table: which targets this node may poll now, from the assignment and leases.

Sans-IO: the node (snmpd_ng.cluster.node) talks to Redis and passes the replies and the time in;
this table decides. A lease's local deadline is the time the renewal request was *sent* plus the
TTL: Redis started the TTL later than that, so the lease surely lasts until the deadline, whatever
happened to the reply. A poll may start only while its lease has more time left than the poll's
budget plus a margin, so it ends before the lease could pass to another node.

A target that the assignment moved away drains: this node keeps polling it until a quiet
moment, when no slot of the target is due before the new owner's next heartbeat, and releases
it then, with no poll in progress. So the new owner holds the lease before the next slot, and
the move skips none. A target that never has such a moment (an interval shorter than a
heartbeat) is released after one lease TTL of draining.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

QuietCheck = Callable[[str, float], bool]
"""Given a target and a window in seconds, whether no slot of the target is due within it."""


@dataclass(slots=True)
class HeldLease:
    token: int
    deadline: float
    """Local monotonic seconds before which the lease is surely still ours."""


@dataclass(frozen=True, slots=True)
class Claim:
    """Permission to poll one target once, under one lease."""

    target: str
    node_id: str
    token: int

    @property
    def lease_value(self) -> str:
        """The value of the target's lease key while this claim's lease holds."""
        return f"{self.node_id} {self.token}"


@dataclass(frozen=True, slots=True)
class LeaseChanges:
    gained: frozenset[str]
    lost: frozenset[str]


class Ownership:
    """The local view of this node's target leases."""

    def __init__(self, node_id: str, margin: float) -> None:
        self.node_id = node_id
        self.margin = margin
        self.desired: frozenset[str] = frozenset()
        """Targets the assignment gives this node now."""
        self.held: dict[str, HeldLease] = {}
        self._in_flight: Counter[str] = Counter()
        self._draining_since: dict[str, float] = {}
        """Targets held but no longer desired, with the local time they started draining."""
        self.refused_claims = 0
        """Claims refused for a target this node wants but whose lease is too short or absent."""

    def set_desired(self, targets: Iterable[str]) -> None:
        self.desired = frozenset(targets)

    def to_request(self, now: float, quiet: QuietCheck, window: float,
                   max_drain: float) -> tuple[list[str], list[str]]:
        """Return the targets to hold (acquire or renew) and those to release now.

        A draining target is released when no poll of it runs and either no slot of it is due
        within `window` seconds, or it has drained for `max_drain` seconds. Until then it is
        renewed with the others.
        """
        for target in self.held:
            if target not in self.desired:
                self._draining_since.setdefault(target, now)
        for target in list(self._draining_since):
            if target in self.desired or target not in self.held:
                del self._draining_since[target]

        release = sorted(
            target for target, since in self._draining_since.items()
            if not self._in_flight[target]
            and (quiet(target, window) or now - since >= max_drain))
        hold = sorted((self.desired | set(self._draining_since)) - set(release))
        return hold, release

    def apply(self, held: Sequence[str], tokens: Sequence[int], released: Iterable[str],
              sent_at: float, ttl: float) -> LeaseChanges:
        """Record Redis's reply to a lease request sent at `sent_at` (local monotonic seconds)."""
        before = set(self.held)
        for target, token in zip(held, tokens, strict=True):
            if token > 0:
                self.held[target] = HeldLease(token, sent_at + ttl)
            else:
                self.held.pop(target, None)
        for target in released:
            self.held.pop(target, None)
        after = set(self.held)
        return LeaseChanges(frozenset(after - before), frozenset(before - after))

    def expire(self, now: float) -> frozenset[str]:
        """Forget leases whose deadline passed (Redis unreachable: self-fencing); return them."""
        lapsed = frozenset(t for t, lease in self.held.items() if lease.deadline <= now)
        for target in lapsed:
            del self.held[target]
        return lapsed

    def claim(self, target: str, budget: float, now: float) -> Claim | None:
        """Return a claim to poll `target` now, or None when this node must not poll it."""
        lease = self.held.get(target)
        if lease is None:
            if target in self.desired:
                self.refused_claims += 1
            return None
        if lease.deadline - now <= budget + self.margin:
            self.refused_claims += 1
            return None
        self._in_flight[target] += 1
        return Claim(target, self.node_id, lease.token)

    def finish(self, claim: Claim) -> None:
        """Record that the poll of `claim` ended, with or without success."""
        self._in_flight[claim.target] -= 1
        if self._in_flight[claim.target] <= 0:
            del self._in_flight[claim.target]

    def owns(self, target: str, now: float) -> bool:
        """Tell whether this node holds the target's lease now (draining targets included)."""
        lease = self.held.get(target)
        return lease is not None and lease.deadline > now

    def owned(self, now: float) -> frozenset[str]:
        return frozenset(t for t in self.held if self.owns(t, now))
