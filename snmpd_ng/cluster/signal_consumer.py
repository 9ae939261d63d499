"""The leader's reader of the rule signal stream, through the consumer group `alerting`.

Theory of operation. Redis keeps, per consumer name, the entries it delivered and that were not
acknowledged (the pending entries list). The consumer first reads its own pending entries
(XREADGROUP from id 0) until none is left, then new entries (id `>`, blocking). Every leader
uses the same consumer name, so a new leader first takes over what its predecessor read but
did not acknowledge. An entry is acknowledged (XACK) only after the handler returned, which it
does once the alert store has applied the signals. When the handler raises, or a read fails,
the consumer goes back to its pending entries, so they are handed over again.

So the handler can get a signal twice: after a handler failure, or after a failover between
a batch's apply and its XACK. A repeated firing or resolve is harmless in the alert lifecycle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias

import structlog
from redis.exceptions import ResponseError

from snmpd_ng.alerting.rules.model import RuleSignal
from snmpd_ng.clock import Clock
from snmpd_ng.cluster.keys import Keys
from snmpd_ng.cluster.redis_conn import REDIS_ERRORS, RedisClient
from snmpd_ng.cluster.retry import RetryDelay
from snmpd_ng.cluster.signal_codec import SignalDecodeError, decode_signal
from snmpd_ng.ratelimit import WarningLimiter

log = structlog.get_logger(__name__)

SignalHandler: TypeAlias = Callable[[list[RuleSignal]], Awaitable[None]]
"""Applies signals and returns once they are durable; raises to have them read again."""

GROUP = "alerting"
DEFAULT_CONSUMER = "leader"
DEFAULT_BATCH = 500
DEFAULT_BLOCK_MS = 1000
PENDING_REFRESH_INTERVAL = 5.0
"""Seconds between two reads of the group's pending count and lag (XINFO GROUPS)."""

Entry: TypeAlias = tuple[bytes, dict[bytes, bytes] | None]


class SignalConsumer:
    """Reads the signal stream as consumer `consumer` of the group `alerting` and hands each
    batch of signals to `handler`.

    Counters:
    - `received`: entries read. An entry read again counts again.
    - `applied`: signals the handler took. `acked`: entries acknowledged.
    - `decode_errors`: entries that are no signal. `trimmed`: pending entries that MAXLEN
      removed before they were acknowledged, that is lost signals.
    - `handler_failures`, `read_failures`, `ack_failures`: failed calls of each kind.
    - `pending` (entries delivered and not acknowledged) and `lag` (entries not delivered yet):
      from XINFO GROUPS, read at most every PENDING_REFRESH_INTERVAL seconds. Both are None
      before the first read, and `lag` also when Redis cannot compute it.
    """

    def __init__(self, client: RedisClient, keys: Keys, handler: SignalHandler, *,
                 clock: Clock, consumer: str = DEFAULT_CONSUMER, batch: int = DEFAULT_BATCH,
                 block_ms: int = DEFAULT_BLOCK_MS) -> None:
        if batch < 1 or block_ms < 1:
            raise ValueError(f"batch ({batch}) and block_ms ({block_ms}) must be >= 1")
        self._client = client
        self._stream = keys.alert_signals
        self._handler = handler
        self._clock = clock
        self._consumer = consumer
        self._batch = batch
        self._block_ms = _block_time(client, block_ms)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._warnings = WarningLimiter()
        self._refreshed_at: float | None = None
        self.received = self.applied = self.acked = 0
        self.decode_errors = self.trimmed = 0
        self.handler_failures = self.read_failures = self.ack_failures = 0
        self.pending: int | None = None
        self.lag: int | None = None

    @property
    def is_running(self) -> bool:
        return self._task is not None

    async def start(self) -> None:
        """Start the reading task; it creates the group first, retrying until Redis responds."""
        if self._task is not None:
            return
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="alert-signal-consumer")
        log.info("alert signal consumer started", stream=self._stream, group=GROUP,
                 consumer=self._consumer, block_ms=self._block_ms)

    async def stop(self) -> None:
        """Cancel the task, a blocked read or a running handler included. Entries read and not
        acknowledged stay pending for the next consumer of the same name."""
        task, self._task = self._task, None
        if task is None:
            return
        # NOTE: redis-py 8.2's Redis Cluster client at times swallows the cancellation of a
        # blocked read and goes on. The flag then ends the loop once that read returns.
        self._stopping = True
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        log.info("alert signal consumer stopped", stream=self._stream, consumer=self._consumer,
                 applied=self.applied, acked=self.acked)

    async def _run(self) -> None:
        delay = RetryDelay(self._clock)
        await self._create_group(delay)
        from_pending = True
        while not self._stopping:
            entries = await self._read(from_pending, delay)
            if self._stopping:
                return
            if entries is None:
                from_pending = True
                await delay.wait()
                continue
            if not entries:
                # Only a read of the pending entries returns at once with nothing.
                from_pending = False
            elif await self._process(entries):
                delay.reset()
            else:
                from_pending = True
                await delay.wait()
            await self._refresh_pending()

    async def _create_group(self, delay: RetryDelay) -> None:
        """Create the group (and the stream) unless it exists; retry until Redis responds."""
        while True:
            try:
                await self._client.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
                log.info("alert signal group created", stream=self._stream, group=GROUP)
                return
            except ResponseError as exc:
                if str(exc).startswith("BUSYGROUP"):
                    return
                self._count_read_failure("XGROUP CREATE", exc, delay)
            except REDIS_ERRORS as exc:
                self._count_read_failure("XGROUP CREATE", exc, delay)
            await delay.wait()

    async def _read(self, from_pending: bool, delay: RetryDelay) -> list[Entry] | None:
        """Read pending entries (or new ones, waiting up to block_ms); None when Redis failed."""
        start_id = "0" if from_pending else ">"
        block = None if from_pending else self._block_ms
        try:
            reply = await self._client.xreadgroup(GROUP, self._consumer, {self._stream: start_id},
                                                  count=self._batch, block=block)
        except ResponseError as exc:
            if not str(exc).startswith("NOGROUP"):
                self._count_read_failure("XREADGROUP", exc, delay)
                return None
            # Redis lost the group, for example when it restarted without persistence.
            log.warning("alert signal group missing; creating it again", stream=self._stream,
                        group=GROUP)
            await self._create_group(RetryDelay(self._clock))
            return None
        except REDIS_ERRORS as exc:
            self._count_read_failure("XREADGROUP", exc, delay)
            return None
        self._warnings.forget("read")
        return _entries(reply)

    async def _process(self, entries: list[Entry]) -> bool:
        """Hand the entries' signals to the handler, then acknowledge every entry.

        Returns False when the handler raised; nothing is acknowledged then.
        """
        self.received += len(entries)
        # A batch applied again repeats its older signals after its newer ones, so the alert
        # lifecycle ignores a firing signal older than the resolve it already has.
        signals = [signal for entry in entries if (signal := self._decode(entry)) is not None]
        if signals:
            try:
                await self._handler(signals)
            except Exception as exc:  # Any fault of the handler: the entries are read again.
                self.handler_failures += 1
                self._warn("handler", "alert signal handler failed; reading the signals again",
                           error=repr(exc), signals=len(signals),
                           failures=self.handler_failures)
                return False
            self.applied += len(signals)
        await self._ack([entry_id for entry_id, _ in entries])
        return True

    def _decode(self, entry: Entry) -> RuleSignal | None:
        entry_id, fields = entry
        text_id = entry_id.decode()
        if not fields:
            # XREADGROUP returns a pending entry that MAXLEN trimmed without its fields.
            self.trimmed += 1
            self._warn("trimmed", "alert signal lost: trimmed from the stream before it was "
                       "acknowledged", entry_id=text_id, trimmed=self.trimmed)
            return None
        try:
            return decode_signal(fields, entry_id=text_id)
        except SignalDecodeError as exc:
            # Acknowledged with its batch, or it would be read again forever.
            self.decode_errors += 1
            self._warn("decode", "alert signal undecodable; dropping it", entry_id=text_id,
                       error=str(exc), decode_errors=self.decode_errors)
            return None

    async def _ack(self, entry_ids: Sequence[bytes]) -> None:
        """Acknowledge the entries, retrying until XACK succeeds, because reading them again
        would apply them again."""
        delay = RetryDelay(self._clock)
        while True:
            try:
                acked = await self._client.xack(self._stream, GROUP, *entry_ids)
            except REDIS_ERRORS as exc:
                self.ack_failures += 1
                self._warn("ack", "alert signals not acknowledged; retrying", error=repr(exc),
                           entries=len(entry_ids), retry_in_seconds=delay.next_seconds)
                await delay.wait()
                continue
            self.acked += int(acked)
            self._warnings.forget("ack")
            return

    async def _refresh_pending(self) -> None:
        now = self._clock.now()
        if self._refreshed_at is not None and now - self._refreshed_at < PENDING_REFRESH_INTERVAL:
            return
        self._refreshed_at = now
        try:
            groups = await self._client.xinfo_groups(self._stream)
        except REDIS_ERRORS as exc:
            self._warn("info", "alert signal group info not read", error=repr(exc))
            return
        for group in groups:
            if _text(group.get("name")) == GROUP:
                self.pending = _count(group.get("pending"))
                self.lag = _count(group.get("lag"))

    def _count_read_failure(self, command: str, exc: Exception, delay: RetryDelay) -> None:
        self.read_failures += 1
        self._warn("read", "alert signal stream read failed; retrying", command=command,
                   error=repr(exc), retry_in_seconds=delay.next_seconds)

    def _warn(self, kind: str, event: str, *, is_fault: bool = False, **fields: object) -> None:
        suppressed = self._warnings.admit(kind, self._clock.now())
        if suppressed is None:
            return
        emit = log.error if is_fault else log.warning
        emit(event, stream=self._stream, consumer=self._consumer,
             suppressed_since_last=suppressed, **fields)


def _block_time(client: RedisClient, block_ms: int) -> int:
    """Limit a blocking read to half the client's socket timeout, which would cut it off."""
    timeout = client.get_connection_kwargs().get("socket_timeout")
    if not isinstance(timeout, int | float):
        return block_ms
    return max(1, min(block_ms, int(timeout * 1000 / 2)))


def _entries(reply: Any) -> list[Entry]:
    """Return the entries of an XREADGROUP reply of one stream. redis-py parses it (RESP2, the
    protocol open_redis uses) as [[stream, [(id, fields), ...]]], or None after a block."""
    if not reply:
        return []
    _stream, entries = reply[0]
    return [(entry_id, fields) for entry_id, fields in entries]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _count(value: object) -> int | None:
    return value if isinstance(value, int) else None
