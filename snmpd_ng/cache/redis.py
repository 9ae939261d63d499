"""The result cache of cluster mode: entries in Redis, so that any node serves any target.

Layout (snmpd_ng.cluster.keys): each entry is one string key `cache:<target>:<kind>:<name>`
with a PX TTL, holding a payload of snmpd_ng.cache.codec. The set `cache-index:<target>` lists
a target's entry keys, so they can be invalidated together; it expires with the longest TTL
written into it. After every write and removal, the writer publishes the entry
(`<target>\\x1f<kind>\\x1f<name>`) or the target (`<target>`) on the `cache-invalidate` channel.

Local copies and their consistency rule: a node keeps a local copy only of entries of the
targets it owns (`is_owned(target)`), because the owner is the only node that writes them. So
its own copy is always the newest (read-your-writes), and a get of an owned target with a copy
needs no Redis call. For every other target, each get reads Redis. When ownership changes, the
cluster calls `drop_local(target)`. A pub/sub message for a key or a target from another node
drops the local copies it names, which covers a target that two nodes own for a moment during
a handover. Copies are kept only while the listener is subscribed to the channel: on every
(re)subscription, and whenever the subscription is lost, all copies are dropped, because
messages may have been missed. `local_cache=False` turns the copies off.

Redis errors never reach the caller: a failed get is a miss, a failed put or invalidation is
counted (`CacheStats.read_errors`, `write_errors`) and logged, at most once a minute per kind.
Each Redis call is bounded by `timeout` seconds on top of the client's own timeouts and
retries. Redis 7.0 or newer is needed (PEXPIRE with NX and GT).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog

from snmpd_ng.cache.base import CacheEntry, CacheKey, CacheStats
from snmpd_ng.cache.codec import CacheDecodeError, decode_entry, encode_entry, is_slow_payload
from snmpd_ng.cache.codec_values import CacheEncodeError
from snmpd_ng.cache.local_copies import LocalCopies
from snmpd_ng.clock import Clock
from snmpd_ng.cluster.keys import FIELD_SEPARATOR, Keys
from snmpd_ng.cluster.redis_conn import REDIS_ERRORS, RedisClient
from snmpd_ng.ratelimit import WarningLimiter

log = structlog.get_logger(__name__)

T = TypeVar("T")

DEFAULT_TIMEOUT = 2.0
"""Seconds one cache operation may wait for Redis before it counts as failed."""
RETRY_MIN = 0.1
RETRY_MAX = 5.0
"""Seconds between two attempts to subscribe again, doubling from RETRY_MIN up to RETRY_MAX."""
PING_INTERVAL = 5.0
"""Seconds without a message after which the listener sends PING to check its connection."""
PING_TIMEOUT = 3 * PING_INTERVAL
"""Seconds without any message or reply after which the subscription counts as lost."""

# Writes and removals are Lua scripts, so that each is atomic and one round trip, and so that
# PUBLISH goes with them on Redis Cluster too, where redis-py refuses it in a pipeline. All
# keys carry the cluster's hash tag, so they are in one slot.

WRITE_SCRIPT = """
-- KEYS: entry, index, the target's lease. ARGV: payload, TTL in ms, channel, message, and the
-- lease value the writer holds ('' when the write is not fenced). Returns 0 when the lease has
-- passed to another node: the fencing check.
if ARGV[5] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[5] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], KEYS[1])
-- The index lives as long as its longest-lived entry: NX sets a TTL on a new index and GT
-- extends an existing one.
redis.call('PEXPIRE', KEYS[2], ARGV[2], 'NX')
redis.call('PEXPIRE', KEYS[2], ARGV[2], 'GT')
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
"""

REMOVE_SCRIPT = """
-- KEYS: index, then the entries to delete. ARGV: channel, message, then index members whose
-- entry has expired. Returns how many entries were deleted.
local deleted = 0
for i = 2, #KEYS do
  deleted = deleted + redis.call('DEL', KEYS[i])
  redis.call('SREM', KEYS[1], KEYS[i])
end
for i = 3, #ARGV do
  redis.call('SREM', KEYS[1], ARGV[i])
end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return deleted
"""


class RedisCache:
    """A `ResultCache` in Redis, shared by the nodes of a cluster, with local copies.

    `is_owned(target)` returns whether this node owns (polls) the target now. It runs on every
    get and put, so it must be cheap. `clock` gives the loop-clock times of the entries and the
    offset to Unix time that the codec needs. Call `start()` to run the pub/sub listener,
    without which no local copies are kept, and `stop()` at shutdown.
    """

    def __init__(self, client: RedisClient, keys: Keys, clock: Clock, *,
                 is_owned: Callable[[str], bool], local_cache: bool = True,
                 timeout: float = DEFAULT_TIMEOUT,
                 fence: Callable[[str], str | None] | None = None) -> None:
        self._client = client
        self._keys = keys
        self._clock = clock
        self._is_owned = is_owned
        self._fence = fence
        self.fenced_writes = 0
        """Writes not made because this node no longer held the target's lease."""
        self._local_cache = local_cache
        self._timeout = timeout
        self._local = LocalCopies()
        self._generation = 0
        """Counts the events that drop every local copy."""
        self._target_generations: dict[str, int] = {}
        """Counts the events that drop local copies of one target. A read or write that saw
        either count change while it waited for Redis keeps no copy, which may be stale."""
        self._own_messages: dict[str, int] = {}
        """Messages this node published and its listener has not received yet, by text."""
        self._subscribed = False
        self._listener: asyncio.Task[None] | None = None
        self._warnings = WarningLimiter()
        self._write_script = client.register_script(WRITE_SCRIPT)
        self._remove_script = client.register_script(REMOVE_SCRIPT)
        self._hits = self._local_hits = self._misses = 0
        self._decode_errors = self._read_errors = self._write_errors = 0
        self._invalidated = 0

    @property
    def is_subscribed(self) -> bool:
        """Whether the listener receives invalidation messages now."""
        return self._subscribed

    # ResultCache

    async def get(self, key: CacheKey) -> CacheEntry | None:
        keeps_copy = self._keeps_copy(key.target)
        if keeps_copy:
            entry = self._local.get(key, self._clock.now())
            if entry is not None:
                self._hits += 1
                self._local_hits += 1
                return entry

        generation = self._generation_of(key.target)
        entry = await self._read(key)
        if entry is None:
            self._misses += 1
            return None

        self._hits += 1
        if keeps_copy and generation == self._generation_of(key.target):
            self._local.put(key, entry, self._clock.now())
        return entry

    async def put(self, key: CacheKey, value: object, ttl: float, *, slow: bool = False) -> None:
        now = self._clock.now()
        entry = CacheEntry(value, now, now + ttl, slow)
        name = self._name(key)
        try:
            payload = encode_entry(value, stored_at=now, expires_at=now + ttl, slow=slow,
                                   offset=self._offset())
        except CacheEncodeError as exc:
            self._local.drop(key)
            # A value the codec cannot encode is a fault of the daemon, not of Redis.
            self._write_errors += 1
            self._warn("encode", "cache entry not encodable", key=name, error=str(exc),
                       is_fault=True)
            return

        generation = self._generation_of(key.target)
        written = await self._write(key, payload, ttl)
        if (written and self._keeps_copy(key.target)
                and generation == self._generation_of(key.target)):
            self._local.put(key, entry, now)
        else:
            self._local.drop(key)

    async def invalidate_target(self, target: str, *, slow_only: bool) -> int:
        self._local.drop_target(target, slow_only=slow_only)
        self._count_drop(target)
        message = target
        self._expect_own(message)
        try:
            removed = await self._bounded(self._remove(target, slow_only, message))
        except REDIS_ERRORS as exc:
            self._forget_own(message)
            self._count_write_error("invalidate", "cache invalidation failed",
                                    self._keys.cache_index(target), exc)
            return 0
        self._invalidated += removed
        return removed

    def stats(self) -> CacheStats:
        return CacheStats(
            entries=len(self._local), hits=self._hits, misses=self._misses,
            expired=self._local.expired, invalidated=self._invalidated,
            local_hits=self._local_hits, decode_errors=self._decode_errors,
            read_errors=self._read_errors, write_errors=self._write_errors,
            fenced_writes=self.fenced_writes, shared=True,
        )

    # Ownership and listing

    def drop_local(self, target: str) -> None:
        """Drop the local copies of `target`. The cluster calls it when the target's owner
        changes."""
        self._local.drop_target(target, slow_only=False)
        self._count_drop(target)

    async def target_keys(self, target: str) -> list[CacheKey] | None:
        """Return the keys in the target's index, or None when Redis could not be read.

        The index may still list entries that have expired: a get of those returns None.
        """
        index = self._keys.cache_index(target)
        try:
            names = await self._bounded(self._client.smembers(index))
        except REDIS_ERRORS as exc:
            self._read_errors += 1
            self._warn("read", "cache index read failed", key=index, error=repr(exc))
            return None
        head = self._keys.cache(target, "", "").removesuffix(":")
        texts = [_text(name) for name in names]
        return sorted(_parse_key(target, text[len(head):]) for text in texts
                      if text.startswith(head))

    # Reading and writing Redis

    async def _read(self, key: CacheKey) -> CacheEntry | None:
        name = self._name(key)
        try:
            payload = await self._bounded(self._client.get(name))
        except REDIS_ERRORS as exc:
            self._read_errors += 1
            self._warn("read", "cache read failed", key=name, error=repr(exc))
            return None
        if payload is None:
            return None

        try:
            return decode_entry(_bytes(payload), key=name, offset=self._offset())
        except CacheDecodeError as exc:
            self._decode_errors += 1
            self._warn("decode", "cache entry undecodable", key=name, error=str(exc))
            return None

    async def _write(self, key: CacheKey, payload: bytes, ttl: float) -> bool:
        name = self._name(key)
        index = self._keys.cache_index(key.target)
        lease = ""
        if self._fence is not None:
            held = self._fence(key.target)
            if held is None:
                self.fenced_writes += 1
                return False
            lease = held
        # Redis needs a whole, positive number of milliseconds.
        ttl_ms = max(1, math.ceil(ttl * 1000))
        message = FIELD_SEPARATOR.join(key)
        self._expect_own(message)
        try:
            written = await self._bounded(self._write_script(
                keys=[name, index, self._keys.lease(key.target)],
                args=[payload, ttl_ms, self._keys.cache_channel, message, lease]))
        except REDIS_ERRORS as exc:
            self._forget_own(message)
            self._count_write_error("write", "cache write failed", name, exc)
            return False
        if not written:
            self._forget_own(message)
            self.fenced_writes += 1
            return False
        return True

    async def _remove(self, target: str, slow_only: bool, message: str) -> int:
        index = self._keys.cache_index(target)
        names = sorted(_bytes(name) for name in await self._client.smembers(index))
        doomed, expired_names = names, list[bytes]()
        if slow_only and names:
            payloads = [None if payload is None else _bytes(payload)
                        for payload in await self._client.mget(names)]
            doomed, expired_names = self._slow_entries(names, payloads)

        deleted = await self._remove_script(
            keys=[index, *doomed], args=[self._keys.cache_channel, message, *expired_names])
        return int(deleted)

    def _slow_entries(self, names: list[bytes], payloads: list[bytes | None],
                      ) -> tuple[list[bytes], list[bytes]]:
        """Split the index into slow entries and names whose entry has expired."""
        doomed: list[bytes] = []
        expired_names: list[bytes] = []
        for name, payload in zip(names, payloads, strict=True):
            if payload is None:
                expired_names.append(name)
            elif self._is_slow(name, payload):
                doomed.append(name)
        return doomed, expired_names

    def _is_slow(self, name: bytes, payload: bytes) -> bool:
        # An entry this node cannot read is removed too: for this node it is only a miss.
        key = name.decode("utf-8", "replace")
        try:
            return is_slow_payload(payload, key=key)
        except CacheDecodeError as exc:
            self._decode_errors += 1
            self._warn("decode", "cache entry undecodable", key=key, error=str(exc))
            return True

    async def _bounded(self, awaitable: Awaitable[T]) -> T:
        async with asyncio.timeout(self._timeout):
            return await awaitable

    # The pub/sub listener

    async def start(self) -> None:
        """Start the listener task, which subscribes to the invalidation channel."""
        if self._listener is not None:
            return
        self._listener = asyncio.create_task(self._listen(), name="redis-cache-listener")
        log.info("cache listener started", channel=self._keys.cache_channel,
                 local_cache=self._local_cache)

    async def stop(self) -> None:
        """Stop the listener and drop every local copy."""
        task, self._listener = self._listener, None
        if task is None:
            return
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        self._unsubscribed()
        log.info("cache listener stopped", channel=self._keys.cache_channel)

    async def _listen(self) -> None:
        """Subscribe, handle messages, and subscribe again after every failure."""
        delay = RETRY_MIN
        while True:
            try:
                await self._listen_once()
            except REDIS_ERRORS as exc:
                if self._subscribed:
                    delay = RETRY_MIN
                self._unsubscribed()
                self._warn("subscribe", "cache subscription lost",
                           channel=self._keys.cache_channel, error=repr(exc),
                           retry_in_seconds=delay)
            except Exception as exc:  # A fault here must not end invalidation for good.
                self._unsubscribed()
                log.error("cache listener failed", channel=self._keys.cache_channel,
                          error=repr(exc), exc_info=exc, retry_in_seconds=delay)
            await self._clock.sleep_until(self._clock.now() + delay)
            delay = min(2 * delay, RETRY_MAX)

    async def _listen_once(self) -> None:
        pubsub = self._client.pubsub()
        try:
            await pubsub.subscribe(self._keys.cache_channel)
            await self._receive(pubsub)
        finally:
            try:
                await pubsub.aclose()
            except REDIS_ERRORS as exc:
                log.debug("cache subscription close failed", error=repr(exc))

    async def _receive(self, pubsub: Any) -> None:
        """Handle messages until the connection fails, and send PING when idle to find a dead
        connection."""
        loop = asyncio.get_running_loop()
        last_seen = loop.time()
        while True:
            message = await pubsub.get_message(timeout=PING_INTERVAL)
            if message is not None:
                last_seen = loop.time()
                self._handle(message)
            elif loop.time() - last_seen > PING_TIMEOUT:
                raise TimeoutError(f"no message and no reply to PING for {PING_TIMEOUT:g} s")
            else:
                await pubsub.ping()

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "subscribe":
            # The first subscription, or a resubscription after the client reconnected by
            # itself: messages published in between are lost.
            self._unsubscribed()
            self._subscribed = True
            log.info("cache subscribed", channel=self._keys.cache_channel)
            self._warnings.forget("subscribe")
        elif kind == "message":
            self._invalidate_local(_text(message["data"]))

    def _invalidate_local(self, text: str) -> None:
        pending = self._own_messages.get(text, 0)
        if pending:
            if pending == 1:
                del self._own_messages[text]
            else:
                self._own_messages[text] = pending - 1
            return

        fields = text.split(FIELD_SEPARATOR)
        if len(fields) == 1:
            self._local.drop_target(text, slow_only=False)
        elif len(fields) == 3:
            self._local.drop(CacheKey(*fields))
        else:
            self._warn("message", "cache invalidation message malformed", message=text[:200],
                       hint="expected <target> or <target>\\x1f<kind>\\x1f<name>")
            return
        self._count_drop(fields[0])

    def _unsubscribed(self) -> None:
        self._subscribed = False
        self._local.clear()
        self._own_messages.clear()
        self._generation += 1

    # Own messages: the listener receives this node's messages too, which must not drop the
    # copy the node has just written.

    def _expect_own(self, message: str) -> None:
        if self._subscribed:
            self._own_messages[message] = self._own_messages.get(message, 0) + 1

    def _forget_own(self, message: str) -> None:
        # The message may have gone out or not. Forgetting it is the safe choice: if it
        # arrives, it only drops a copy that a read then fetches again.
        pending = self._own_messages.get(message, 0)
        if pending <= 1:
            self._own_messages.pop(message, None)
        else:
            self._own_messages[message] = pending - 1

    # Helpers

    def _generation_of(self, target: str) -> tuple[int, int]:
        return self._generation, self._target_generations.get(target, 0)

    def _count_drop(self, target: str) -> None:
        # Targets come from the config, so the dict contains at most one count per target.
        self._target_generations[target] = self._target_generations.get(target, 0) + 1

    def _keeps_copy(self, target: str) -> bool:
        return self._local_cache and self._subscribed and self._is_owned(target)

    def _name(self, key: CacheKey) -> str:
        return self._keys.cache(key.target, key.kind, key.name)

    def _offset(self) -> float:
        return self._clock.wall() - self._clock.now()

    def _count_write_error(self, kind: str, event: str, key: str, exc: Exception) -> None:
        self._write_errors += 1
        self._warn(kind, event, key=key, error=repr(exc))

    def _warn(self, kind: str, event: str, is_fault: bool = False, **fields: object) -> None:
        """Log `event` unless an event of `kind` was logged less than a minute ago.

        A fault of the daemon itself (`is_fault`) is logged at ERROR, the rest at WARNING.
        """
        suppressed = self._warnings.admit(kind, self._clock.now())
        if suppressed is None:
            return
        emit = log.error if is_fault else log.warning
        emit(event, suppressed_since_last=suppressed, **fields)


def _parse_key(target: str, rest: str) -> CacheKey:
    """Build the key of `target` from the `<kind>:<name>` after its key prefix."""
    kind, _, name = rest.partition(":")
    return CacheKey(target, kind, name)


# The client is built with decode_responses=False, so responses are bytes; redis-py's types
# also allow str.

def _bytes(response: bytes | str) -> bytes:
    return response.encode() if isinstance(response, str) else response


def _text(response: bytes | str) -> str:
    return response if isinstance(response, str) else response.decode("utf-8", "replace")

