"""Which targets this node may poll now, from the assignment and the leases it holds.

Sans-IO: the node (snmpd_ng.cluster.node) talks to Redis and passes the replies and the time in;
this table decides. A lease's local deadline is the time the renewal request was *sent* plus the
TTL: Redis started the TTL later than that, so the lease surely lasts until the deadline, whatever
happened to the reply. A poll may start only while its lease has more time left than the poll's
budget plus a margin, so it ends before the lease could pass to another node. A target the
assignment moved away is released only once its polls in progress have ended.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


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
        self.refused_claims = 0
        """Claims refused for a target this node wants but whose lease is too short or absent."""

    def set_desired(self, targets: Iterable[str]) -> None:
        self.desired = frozenset(targets)

    def to_request(self) -> tuple[list[str], list[str]]:
        """Return the targets to hold (acquire or renew) and those to release now."""
        hold = sorted(self.desired)
        release = sorted(t for t in self.held if t not in self.desired and not self._in_flight[t])
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
        if lease is None or target not in self.desired:
            if target in self.desired:
                self.refused_claims += 1
            return None
        if lease.deadline - now <= budget + self.margin:
            self.refused_claims += 1
            return None
        self._in_flight[target] += 1
        return Claim(target, self.node_id, lease.token)

    def finish(self, claim: Claim) -> None:
        """The poll of `claim` ended (with or without success)."""
        self._in_flight[claim.target] -= 1
        if self._in_flight[claim.target] <= 0:
            del self._in_flight[claim.target]

    def owns(self, target: str, now: float) -> bool:
        lease = self.held.get(target)
        return lease is not None and lease.deadline > now and target in self.desired

    def owned(self, now: float) -> frozenset[str]:
        return frozenset(t for t in self.held if self.owns(t, now))
