"""Which node polls which target: weighted rendezvous (highest random weight) hashing.

Each (node, target) pair gets a pseudo-random number u in (0, 1) from a hash of both names; the
node's score for the target is `-capacity / ln(u)`, and the target goes to the node with the
highest score. Every node computes the same answer from the same member list, with no
coordination. When a node leaves, only its targets move (each to its own second choice); when a
node joins, it takes only the targets it now wins, about capacity / total capacity of each other
node's share. So v3 engine state and caches of every other target stay where they are.

The weighting (Schindelhauer and Schomaker's logarithmic method) gives a node of capacity c a
share of c / sum(c) of the targets, in expectation.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_HASH_SCALE = 2.0**64


def uniform(node_id: str, target: str) -> float:
    """Map the pair to a number in the open interval (0, 1), the same on every node and run."""
    digest = hashlib.blake2b(f"{node_id}\x00{target}".encode(), digest_size=8).digest()
    # +0.5 keeps the value away from 0 and 1, where the logarithm would be infinite or zero.
    return (int.from_bytes(digest, "big") + 0.5) / _HASH_SCALE


def score(node_id: str, capacity: float, target: str) -> float:
    """Return the node's weight for the target; the highest weight wins."""
    return -capacity / math.log(uniform(node_id, target))


def owner(target: str, nodes: Sequence[tuple[str, float]]) -> str | None:
    """Return the id of the node that polls `target`, None when `nodes` is empty.

    `nodes` contains (node id, capacity) pairs of the eligible members. Ties, which need two equal
    64-bit hashes, go to the smaller node id so that every node agrees.
    """
    best: tuple[float, str] | None = None
    for node_id, capacity in nodes:
        candidate = (score(node_id, capacity, target), node_id)
        if best is None or candidate[0] > best[0] or (
                candidate[0] == best[0] and candidate[1] < best[1]):
            best = candidate
    return None if best is None else best[1]


def assign(targets: Iterable[str], nodes: Sequence[tuple[str, float]]) -> dict[str, str]:
    """Map each target to its owner among `nodes`; empty when there is no node."""
    if not nodes:
        return {}
    result: dict[str, str] = {}
    for target in targets:
        chosen = owner(target, nodes)
        assert chosen is not None
        result[target] = chosen
    return result


@dataclass(frozen=True, slots=True)
class Member:
    """A live member as the heartbeat reply lists it; `joined_ms` is Redis time in ms."""

    node_id: str
    joined_ms: int
    capacity: float
    config_hash: str


def eligible_members(members: Sequence[Member], now_ms: int,
                     delay_ms: float) -> tuple[Member, ...]:
    """Return the members that may be given targets.

    A member becomes eligible after `join_delay`, which keeps a node that restarts in a loop
    from taking targets each time it comes back. Members that joined within `join_delay` of the
    oldest live member are eligible at once: they started together with the cluster, and
    waiting for each of them in turn would move targets back and forth at a cold start.
    """
    if not members:
        return ()
    oldest = min(member.joined_ms for member in members)
    return tuple(m for m in members
                 if now_ms - m.joined_ms >= delay_ms or m.joined_ms - oldest < delay_ms)
