"""The interface polling calls in cluster mode before and after each poll (the cluster node).

Polling depends on this protocol, never on the cluster package, so one node runs without Redis
and without importing it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar


class ClaimLike(Protocol):
    """Permission to poll one target once, under its lease and fencing token."""

    @property
    def target(self) -> str: ...

    @property
    def token(self) -> int: ...


class OwnershipChange(Protocol):
    @property
    def gained(self) -> frozenset[str]: ...

    @property
    def lost(self) -> frozenset[str]: ...


ClaimT = TypeVar("ClaimT", bound=ClaimLike)


class PollGate(Protocol[ClaimT]):
    node_id: str

    def claim(self, target: str, budget: float) -> ClaimT | None:
        """Return a claim when this node may poll `target` for `budget` seconds, else None."""
        ...

    def finish(self, claim: ClaimT) -> None:
        """Record that the poll under `claim` ended and its result is written."""
        ...

    async def commit(self, claim: ClaimT, fields: dict[str, str]) -> bool:
        """Record the poll; False when the lease passed to another node meanwhile."""
        ...

    def owns(self, target: str) -> bool: ...

    async def last_slots(self, keys: Sequence[tuple[str, str]]
                         ) -> dict[tuple[str, str], float | None]:
        """Return the slot (Unix seconds) of the last recorded poll of each (target, job)."""
        ...

    def owned(self) -> frozenset[str]: ...

    @property
    def joined(self) -> bool: ...

    def add_listener(self, listener: Callable[[OwnershipChange], None]) -> None: ...

    def set_quiet_check(self, quiet: Callable[[str, float], bool]) -> None:
        """Let the gate ask whether no slot of a target is due within a window (seconds)."""
        ...
