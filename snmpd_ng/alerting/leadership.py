"""Cluster mode: the alert service runs on the node that holds the leader lease, and only there.

`AlertLeadership` watches the node's leadership a few times a second. When the node becomes
the leader, it starts the alert service, which loads the state from the store in Redis and
puts back the sends its predecessor left claimed. Then it starts the signal consumer, which
takes over the stream entries the predecessor read but did not acknowledge. When the node
stops leading, it stops the consumer and then the service, whose sends in progress are
cancelled.

The leader lease ends on the node's own clock before Redis hands it on (ClusterNode.is_leader),
and the store's scripts reject the writes of a node the leader key does not name. So two
services never write at once, and the one unavoidable duplicate is a send cut between the
provider's reply and the recording of its outcome (docs/cluster.md).

`apply_signals` is the consumer's handler: it hands the signals to the service and returns
once the store has them, so that the consumer acknowledges only applied entries.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Protocol

import structlog

from snmpd_ng.alerting.backend import StoreError
from snmpd_ng.alerting.rules.model import RuleSignal
from snmpd_ng.alerting.service import AlertService
from snmpd_ng.clock import Clock
from snmpd_ng.ratelimit import WarningLimiter

log = structlog.get_logger(__name__)

CHECK_INTERVAL = 0.25
"""Seconds between two looks at the node's leadership."""


class Leader(Protocol):
    """The part of snmpd_ng.cluster.node.ClusterNode this module reads."""

    node_id: str

    @property
    def is_leader(self) -> bool: ...


class Consumer(Protocol):
    """The signal stream's consumer (snmpd_ng.cluster.signal_stream.SignalConsumer)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class NotLeaderError(StoreError):
    """Signals were read, but this node stopped leading before the store had them."""


class AlertLeadership:
    """Starts and stops the alert service and the signal consumer with the leader lease."""

    def __init__(self, node: Leader, service: AlertService, consumer: Consumer, clock: Clock,
                 *, interval: float = CHECK_INTERVAL) -> None:
        self._node = node
        self._service = service
        self._consumer = consumer
        self._clock = clock
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._warnings = WarningLimiter()
        self.terms = 0
        """Times this node took over the alert service since the start."""
        self.start_failures = 0

    @property
    def is_active(self) -> bool:
        """True while this node runs the alert service."""
        return self._service.is_running

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="alert-leadership")
        log.info("alert leadership watch started", node=self._node.node_id)

    async def stop(self) -> None:
        """Stop watching, and stop the service if this node runs it."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._service.is_running:
            await self._hand_over("the daemon stops")

    async def apply_signals(self, signals: Sequence[RuleSignal]) -> None:
        """Apply `signals` and return once the store has them; raise so they are read again.

        Raises NotLeaderError when the node lost the leadership meanwhile, and StoreError when
        a write failed (after taking the state from the store again).
        """
        if not self._node.is_leader or not self._service.is_running:
            raise NotLeaderError("this node does not run the alert service now")
        failed = self._service.store.failed_writes
        for signal in signals:
            self._service.submit(signal)
        await self._service.sync()

        if self._service.store.failed_writes != failed:
            await self._service.reload_saved_state()
            raise StoreError("the alert store did not take every signal; they are read again")
        if not self._node.is_leader:
            raise NotLeaderError("this node stopped leading while it applied the signals")

    async def _loop(self) -> None:
        while True:
            try:
                await self._check()
            except Exception as exc:  # The watch must outlive any fault of one check.
                log.error("alert leadership check failed", node=self._node.node_id,
                          error=repr(exc), exc_info=exc)
            await self._clock.sleep_until(self._clock.now() + self._interval)

    async def _check(self) -> None:
        leading = self._node.is_leader
        if leading and not self._service.is_running:
            await self._take_over()
        elif not leading and self._service.is_running:
            await self._hand_over("the leader lease passed to another node or ran out")

    async def _take_over(self) -> None:
        try:
            await self._service.start()
        except StoreError as exc:
            self.start_failures += 1
            suppressed = self._warnings.admit("start", self._clock.now())
            if suppressed is not None:
                log.error("alert service could not start on the new leader; trying again",
                          node=self._node.node_id, error=str(exc),
                          suppressed_since_last=suppressed)
            return
        await self._consumer.start()
        self.terms += 1
        log.info("alert service taken over: this node leads the cluster",
                 node=self._node.node_id, terms=self.terms)

    async def _hand_over(self, reason: str) -> None:
        await self._consumer.stop()
        await self._service.stop()
        log.info("alert service handed over", node=self._node.node_id, reason=reason)
