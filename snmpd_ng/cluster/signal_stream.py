"""The rule signal stream of cluster mode: every node publishes, the leader consumes.

Every node's rules engine (and trap receiver) hands its RuleSignals to a `SignalPublisher`,
which appends them to the stream `alert-signals` (snmpd_ng.cluster.keys). The leader's
`SignalConsumer` (snmpd_ng.cluster.signal_consumer) reads the stream through the consumer
group `alerting`, hands the signals to the alert service and acknowledges them once the store
has applied them. The entries' fields are described in snmpd_ng.cluster.signal_codec.

Delivery is at least once, in the order each publisher submitted its signals. A signal is lost
only when a publisher's buffer overflows (the oldest are dropped and counted), when a publisher
cannot reach Redis within its stop timeout, or when Redis trims an entry (MAXLEN) before the
leader read it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from itertools import islice

import structlog

from snmpd_ng.alerting.rules.model import RuleSignal
from snmpd_ng.clock import Clock
from snmpd_ng.cluster.keys import Keys
from snmpd_ng.cluster.redis_conn import REDIS_ERRORS, RedisClient
from snmpd_ng.cluster.retry import RetryDelay
from snmpd_ng.cluster.signal_codec import SignalDecodeError, decode_signal, encode_signal
from snmpd_ng.cluster.signal_consumer import GROUP, SignalConsumer, SignalHandler
from snmpd_ng.ratelimit import WarningLimiter

__all__ = [
    "GROUP",
    "SignalConsumer",
    "SignalDecodeError",
    "SignalHandler",
    "SignalPublisher",
    "decode_signal",
    "encode_signal",
]

log = structlog.get_logger(__name__)

DEFAULT_MAX_BUFFER = 100_000
"""Signals a publisher keeps while Redis is unreachable, before it drops the oldest."""
DEFAULT_MAX_LEN = 100_000
"""Approximate maximum entries of the stream (XADD MAXLEN ~)."""
BATCH_SIZE = 200
"""Signals sent in one round trip."""
SEND_TIMEOUT = 10.0
"""Seconds one batch may take, on top of the client's own timeouts and retries."""
STOP_TIMEOUT = 3.0
"""Default seconds `stop()` waits for the buffered signals to reach Redis."""
SEQUENCE_TTL_MS = 24 * 3600 * 1000
"""Milliseconds Redis keeps a publisher's sequence key after its last batch."""

# One batch is one script: atomic, so a batch is in the stream whole or not at all, and
# numbered, so a batch sent again after a lost reply adds nothing twice. redis-py re-sends a
# command whose connection broke, and a pipeline of XADDs repeated from its start would put
# an older firing signal after a newer resolve of the same alert.
APPEND_SCRIPT = """
-- KEYS: the stream, the publisher's sequence key. ARGV: MAXLEN, the sequence key's TTL in
-- ms, the first and the last sequence number of the batch, then for each signal the number of
-- its field and value strings followed by them. Returns how many entries were added.
local done = tonumber(redis.call('GET', KEYS[2]) or '0')
local sequence = tonumber(ARGV[3])
local added = 0
local i = 5
while i <= #ARGV do
  local count = tonumber(ARGV[i])
  -- A sequence number at or below the stored one was added by an earlier attempt.
  if sequence > done then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, i + 1, i + count))
    added = added + 1
  end
  sequence = sequence + 1
  i = i + count + 1
end
if tonumber(ARGV[4]) > done then
  redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return added
"""


class SignalPublisher:
    """Appends RuleSignals to the signal stream from a buffer, in the order submitted.

    `submit` never blocks and never raises. A task started by `start()` sends the buffer in
    batches as soon as signals arrive. When Redis fails, it keeps the batch and tries again
    after 0.2 s, doubling up to 5 s. When the buffer holds `max_buffer` signals, each new one
    drops the oldest.
    """

    def __init__(self, client: RedisClient, keys: Keys, *, clock: Clock,
                 max_buffer: int = DEFAULT_MAX_BUFFER, max_len: int = DEFAULT_MAX_LEN,
                 stop_timeout: float = STOP_TIMEOUT) -> None:
        if max_buffer < 1 or max_len < 1:
            raise ValueError(f"max_buffer ({max_buffer}) and max_len ({max_len}) must be >= 1")
        self._keys = keys
        self._clock = clock
        self._max_buffer = max_buffer
        self._max_len = max_len
        self._stop_timeout = stop_timeout
        self.publisher_id = secrets.token_hex(8)
        """Random per instance; names the key that numbers this publisher's batches."""
        self._sequence_key = keys.alert_signal_publisher(self.publisher_id)
        self._script = client.register_script(APPEND_SCRIPT)
        self._buffer: deque[tuple[int, tuple[str, ...]]] = deque()
        """(sequence number, the entry's field and value strings), oldest first."""
        self._next_sequence = 1
        self._in_flight_last: int | None = None
        """Sequence number of the last signal in the batch being sent, None between batches."""
        self._dropped_in_flight = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stopped = False
        self._warnings = WarningLimiter()
        self.published = 0
        self.dropped = 0
        """Signals lost: dropped from a full buffer, submitted after stop, or unsent at stop."""
        self.failed_batches = 0
        self.encode_errors = 0

    @property
    def buffered(self) -> int:
        """Signals waiting to be sent, the batch being sent included."""
        return len(self._buffer)

    def submit(self, signal: RuleSignal) -> None:
        """Queue `signal` for the stream without waiting; an unencodable signal is counted."""
        if self._stopped:
            self.dropped += 1
            self._warn("stopped", "alert signal submitted after the publisher stopped",
                       rule=signal.rule, state=signal.state)
            return
        try:
            fields = encode_signal(signal)
        except (TypeError, ValueError) as exc:
            self.encode_errors += 1
            self._warn("encode", "alert signal not encodable", is_fault=True,
                       rule=signal.rule, error=repr(exc))
            return

        if len(self._buffer) >= self._max_buffer:
            self._drop_oldest()
        flat = tuple(text for pair in fields.items() for text in pair)
        self._buffer.append((self._next_sequence, flat))
        self._next_sequence += 1
        self._wake.set()

    def _drop_oldest(self) -> None:
        sequence, _ = self._buffer.popleft()
        if self._in_flight_last is not None and sequence <= self._in_flight_last:
            # It is in the batch being sent: counted as lost only if that batch fails.
            self._dropped_in_flight += 1
        else:
            self.dropped += 1
        self._warn("overflow", "alert signal buffer full; dropped the oldest signal",
                   max_buffer=self._max_buffer, dropped=self.dropped)

    def start(self) -> None:
        """Start the task that sends the buffer."""
        if self._task is not None:
            return
        self._stopped = self._stopping = False
        self._task = asyncio.create_task(self._run(), name="alert-signal-publisher")
        log.info("alert signal publisher started", stream=self._keys.alert_signals,
                 publisher=self.publisher_id, buffered=self.buffered)

    async def stop(self) -> None:
        """Stop the task, and send what is buffered for up to `stop_timeout` seconds."""
        task, self._task = self._task, None
        if task is None:
            return
        # The flag ends the loop should the Redis client swallow the cancellation.
        self._stopping = True
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

        try:
            async with asyncio.timeout(self._stop_timeout):
                await self._flush()
        except TimeoutError:
            unsent = len(self._buffer)
            self.dropped += unsent
            self._buffer.clear()
            log.warning("alert signal publisher stopped with signals unsent",
                        stream=self._keys.alert_signals, unsent=unsent,
                        timeout_seconds=self._stop_timeout)
        self._stopped = True
        log.info("alert signal publisher stopped", stream=self._keys.alert_signals,
                 publisher=self.publisher_id, published=self.published, dropped=self.dropped)

    async def _run(self) -> None:
        delay = RetryDelay(self._clock)
        while not self._stopping:
            if not self._buffer:
                self._wake.clear()
                await self._wake.wait()
            elif await self._send_batch():
                delay.reset()
            else:
                await delay.wait()

    async def _flush(self) -> None:
        delay = RetryDelay(self._clock)
        while self._buffer:
            if not await self._send_batch():
                await delay.wait()

    async def _send_batch(self) -> bool:
        """Send the oldest signals; return False when Redis failed, keeping them buffered."""
        batch = list(islice(self._buffer, BATCH_SIZE))
        first, last = batch[0][0], batch[-1][0]
        args: list[str | int] = [self._max_len, SEQUENCE_TTL_MS, first, last]
        for _, flat in batch:
            args += [len(flat), *flat]

        self._in_flight_last = last
        sent = False
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                added = await self._script(keys=[self._keys.alert_signals, self._sequence_key],
                                           args=args)
            sent = True
        except REDIS_ERRORS as exc:
            self.failed_batches += 1
            self._warn("send", "alert signals not sent; retrying", error=repr(exc),
                       batch=len(batch), buffered=len(self._buffer))
        finally:
            self._settle_batch(len(batch), last, sent)
        if sent and int(added) < len(batch):
            log.debug("alert signals already in the stream", repeated=len(batch) - int(added))
        return sent

    def _settle_batch(self, size: int, last: int, sent: bool) -> None:
        self._in_flight_last = None
        if sent:
            # Signals dropped from the buffer while their batch was sent reached Redis too.
            while self._buffer and self._buffer[0][0] <= last:
                self._buffer.popleft()
            self.published += size
            self._warnings.forget("send")
        else:
            self.dropped += self._dropped_in_flight
        self._dropped_in_flight = 0

    def _warn(self, kind: str, event: str, *, is_fault: bool = False, **fields: object) -> None:
        suppressed = self._warnings.admit(kind, self._clock.now())
        if suppressed is None:
            return
        emit = log.error if is_fault else log.warning
        emit(event, stream=self._keys.alert_signals, publisher=self.publisher_id,
             suppressed_since_last=suppressed, **fields)
