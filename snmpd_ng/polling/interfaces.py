"""Structural types of the manager operations the polling service uses.

`ManagerLike` lists only the manager methods polling calls, so tests can pass an honest fake
(tests/fakes.py) that records what was asked, and the daemon passes the real `Manager`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from snmpd_ng.manager.manager import OidLike
from snmpd_ng.manager.target import Target
from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.values import VarBind


class WalkResultLike(Protocol):
    """The varbinds of one subtree walk, whether it reached the end, and why not."""

    @property
    def varbinds(self) -> Sequence[VarBind]: ...

    @property
    def complete(self) -> bool: ...

    @property
    def error(self) -> BaseException | None: ...


class TargetStatsLike(Protocol):
    """The manager's counters for one target, since the manager started."""

    @property
    def requests(self) -> int: ...

    @property
    def responses(self) -> int: ...

    @property
    def timeouts(self) -> int: ...

    @property
    def retries(self) -> int: ...

    @property
    def malformed_responses(self) -> int: ...

    @property
    def malformed_values(self) -> int: ...

    @property
    def unexpected_source(self) -> int: ...

    @property
    def unknown_request_id(self) -> int: ...

    @property
    def wrong_community(self) -> int: ...

    @property
    def too_big(self) -> int: ...

    @property
    def error_status(self) -> Mapping[str, int]: ...

    @property
    def last_rtt(self) -> float | None: ...


class ManagerLike(Protocol):
    """The manager operations polling uses; `deadline` is an absolute `loop.time()`."""

    async def get(self, target: Target, oids: Sequence[Oid], *,
                  deadline: float | None = None) -> Sequence[VarBind]: ...

    async def walk_all(self, target: Target, root: Oid | list[OidLike], *,
                       get_root_if_empty: bool = True,
                       deadline: float | None = None) -> WalkResultLike:
        """Walk one subtree, or several columns side by side when `root` is a list."""
        ...

    def stats(self, target: Target) -> TargetStatsLike: ...

    def forget(self, target: Target) -> None:
        """Drop the state and counters of a target that will not be polled again."""
        ...


def _check_manager_fits() -> ManagerLike:
    """Fail type checking (never called) if the real Manager stops fitting ManagerLike."""
    from snmpd_ng.manager.manager import Manager

    return Manager()
