"""The Redis implementation of `AlertStore` (backend.py), for cluster mode.

Each atomic unit of the contract is one Lua script call (redis_store_scripts.py, which also
describes the key layout), so no reader sees half of one and a failed call writes nothing.
Every operation, read or write, goes through one asyncio queue that one writer task empties in
order: that gives the interface's order rule, and a read returns every write submitted before
it. Errors of Redis become StoreError here, at the edge.

Fencing: with `leader_check`, every writing script gets the value the leader key must contain
and rejects the write when the key contains another, so a node that lost the leadership cannot
change the store.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import structlog
from redis.exceptions import ResponseError

from snmpd_ng.alerting import redis_store_scripts as scripts
from snmpd_ng.alerting.backend import STATE_TABLES, SavedState, StateChanges, StoreError
from snmpd_ng.alerting.history import HistoryEntry
from snmpd_ng.alerting.history_page import HistoryPage, check_page_limit
from snmpd_ng.alerting.outbox_entry import (
    DEAD,
    DELIVERED,
    PENDING,
    OutboxEntry,
    OutboxOutcome,
    decode_notification,
    encode_notification,
    entry_history,
    unknown_channel_detail,
)
from snmpd_ng.cluster.keys import FIELD_SEPARATOR
from snmpd_ng.cluster.redis_conn import REDIS_ERRORS, RedisClient

log = structlog.get_logger(__name__)

T = TypeVar("T")

NOT_LEADER = "NOTLEADER"
"""The prefix of the error reply of a script whose fencing check failed."""


@dataclass
class _Task:
    """One queued operation and, for an awaited call, the future that gets its result."""

    operation: Callable[[], Awaitable[Any]]
    future: asyncio.Future[Any] | None


def leader_key(keys_base: str) -> str:
    """Return the cluster's leader key for a base such as `{prefix}:alerts:`.

    It is `{prefix}:leader`, the key snmpd_ng.cluster.keys names. Raises ValueError for a base
    without the `{prefix}:` hash tag.
    """
    end = keys_base.find("}:")
    if not keys_base.startswith("{") or end < 0:
        raise ValueError(f"invalid alert store key base {keys_base!r}: it must start with "
                         "the cluster's hash tag, as in '{snmpd}:alerts:'")
    return keys_base[:end + 2] + "leader"


def _text(value: float) -> str:
    """Format a time so that Redis and Python read back the same float."""
    return repr(float(value))


def history_record(entry: HistoryEntry) -> str:
    """Encode a history entry as the scripts store it: `at` and `detail` as strings."""
    return json.dumps({"at": _text(entry.at), "kind": entry.kind, "actor": entry.actor,
                       "fingerprint": entry.fingerprint, "group_key": entry.group_key,
                       "detail": json.dumps(dict(entry.detail), sort_keys=True, default=str)})


def decode_history(entry_id: bytes, record: bytes) -> HistoryEntry:
    data = json.loads(record)
    return HistoryEntry(at=float(data["at"]), kind=data["kind"], actor=data["actor"],
                        fingerprint=data.get("fingerprint"), group_key=data.get("group_key"),
                        detail=json.loads(data["detail"]), id=int(entry_id))


def _history_arguments(entry: HistoryEntry) -> list[str]:
    return [history_record(entry), entry.fingerprint or "", entry.group_key or ""]


def changes_arguments(changes: StateChanges) -> list[str]:
    """Encode `changes` as the ARGV of the APPLY script (after the operation id).

    Raises TypeError or ValueError when a row or a notification cannot be encoded as JSON.
    """
    rows: list[str] = []
    for table in STATE_TABLES:
        for key, data in changes.rows[table].items():
            encoded = "" if data is None else json.dumps(data, sort_keys=True)
            rows += [table, key, encoded]
    history = [part for entry in changes.history for part in _history_arguments(entry)]
    outbox = [part for entry in changes.outbox for part in _outbox_arguments(entry)]
    return [str(len(rows) // 3), *rows, str(len(changes.history)), *history,
            str(len(changes.outbox)), *outbox]


def _outbox_arguments(entry: OutboxEntry) -> list[str]:
    notification = entry.notification
    # The scripts write the later history entries about the entry from this detail, with the
    # attempt count of the moment.
    detail = json.dumps(dict(entry_history(0.0, "", entry).detail), sort_keys=True)
    queued = entry_history(entry.created_at, "notification.queued", entry)
    return [notification.id, entry.channel, notification.group_key,
            _text(entry.group_started), encode_notification(notification),
            _text(entry.created_at), detail, history_record(queued)]


def _claimed_entry(row: list[bytes]) -> OutboxEntry:
    """Decode one entry of the CLAIM script's reply, with its group life's references."""
    entry_id, channel, group_started, payload, attempts, created_at = row[:6]
    references = {row[i].decode(): row[i + 1].decode() for i in range(7, len(row), 2)}
    notification = decode_notification(payload.decode())
    if references:
        notification = replace(notification, references=references)
    return OutboxEntry(notification=notification, channel=channel.decode(),
                       group_started=float(group_started), id=int(entry_id),
                       attempts=int(attempts), created_at=float(created_at))


def _outcome_arguments(outcome: OutboxOutcome) -> list[str]:
    if outcome.state not in (PENDING, DELIVERED, DEAD):
        raise ValueError(f"invalid outbox outcome state {outcome.state!r} for entry "
                         f"{outcome.entry.id}: expected {PENDING}, {DELIVERED} or {DEAD}")
    if outcome.entry.id is None:
        raise ValueError("the outbox outcome's entry has no id: pass an entry from claim")
    next_attempt = "" if outcome.next_attempt_at is None else _text(outcome.next_attempt_at)
    if outcome.state == PENDING and not next_attempt:
        raise ValueError(f"the retry of outbox entry {outcome.entry.id} has no next_attempt_at")
    return [str(outcome.entry.id), outcome.state, _text(outcome.at), outcome.detail,
            next_attempt, outcome.reference or "", *_history_arguments(outcome.history)]


class RedisAlertStore:
    """The alert store in Redis; see `AlertStore` for the contract of each method.

    `client` belongs to the caller, who closes it after `close`. `keys_base` starts with the
    cluster's hash tag (`{prefix}:alerts:`). `leader_check` returns the node id the leader key
    must contain for a write to go ahead, or None when this node is not the leader.
    """

    def __init__(self, client: RedisClient, keys_base: str, *,
                 leader_check: Callable[[], str | None] | None = None) -> None:
        self.client = client
        self.keys_base = keys_base
        self.leader_key = leader_key(keys_base)
        self.leader_check = leader_check
        self._failed_writes = 0
        self._queue: asyncio.Queue[_Task | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._scripts = {name: client.register_script(getattr(scripts, name)) for name in (
            "APPLY", "CLAIM", "RECORD_OUTCOME", "REQUEUE_CLAIMED", "DEAD_LETTER", "HISTORY",
            "HISTORY_PAGE", "LOAD_STATE", "NEXT_DUE", "PENDING_CHANNELS")}

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    @property
    def failed_writes(self) -> int:
        return self._failed_writes

    async def open(self) -> None:
        if self._writer is not None:
            return
        try:
            await self.client.ping()
        except REDIS_ERRORS as exc:
            raise StoreError(f"cannot open the alert store in Redis ({self.keys_base}): {exc}; "
                             "check that Redis runs and this node can reach it") from exc
        self._writer = asyncio.create_task(self._run(), name="redis-alert-store")
        log.info("alert store opened", backend="redis", keys_base=self.keys_base)

    async def close(self) -> None:
        writer = self._writer
        if writer is None:
            return
        self._queue.put_nowait(None)
        await writer
        self._writer = None
        log.info("alert store closed", backend="redis", keys_base=self.keys_base)

    async def sync(self) -> None:
        # NOTE: a write returns once Redis ran it, and it is as durable as Redis's appendfsync
        # makes it (everysec by default: up to one second lost on a power loss). Redis 7.0
        # has no WAITAOF to wait for the fsync.
        await self._call(self._nothing)

    def queued(self) -> int:
        return self._queue.qsize()

    # State and history

    def submit(self, changes: StateChanges) -> None:
        if self._writer is None:
            self._count_failure("submit", "the alert store is not open")
            return
        self._queue.put_nowait(_Task(lambda: self._write_changes(changes), None))

    async def apply(self, changes: StateChanges) -> None:
        await self._call(lambda: self._write_changes(changes))

    async def load_state(self) -> SavedState:
        return await self._call(self._read_state)

    async def history(self, key: str | None, limit: int) -> list[HistoryEntry]:
        arguments = [str(limit)] if key is None else [str(limit), key]
        reply = await self._call(lambda: self._script("HISTORY", arguments))
        return _history_entries(reply)

    async def history_page(self, *, limit: int, before: int | None = None,
                           kind: str | None = None) -> HistoryPage:
        check_page_limit(limit)
        upper = "+inf" if before is None else f"({before}"
        arguments = [str(limit + 1), upper] if kind is None else [str(limit + 1), upper, kind]
        reply = await self._call(lambda: self._script("HISTORY_PAGE", arguments))
        # One entry more than requested shows whether an older page exists.
        entries = _history_entries(reply)
        page = entries[:limit]
        has_more = len(entries) > limit
        return HistoryPage(page, page[-1].id if has_more and page else None)

    # The outbox

    async def claim(self, channel: str, now: float, limit: int) -> list[OutboxEntry]:
        reply = await self._call(
            lambda: self._write("CLAIM", [channel, _text(now), str(limit)]))
        return [_claimed_entry(row) for row in reply]

    async def record_outcome(self, outcome: OutboxOutcome) -> None:
        arguments = _outcome_arguments(outcome)
        await self._call(lambda: self._write("RECORD_OUTCOME", arguments))

    async def requeue_claimed(self, now: float, reason: str) -> int:
        reply = await self._call(lambda: self._write("REQUEUE_CLAIMED", [_text(now), reason]))
        return int(reply)

    async def dead_letter_unknown(self, known: frozenset[str], now: float) -> dict[str, int]:
        return await self._call(lambda: self._dead_letter(known, now))

    async def next_due(self, channel: str | None = None) -> float | None:
        arguments = [] if channel is None else [channel]
        reply = await self._call(lambda: self._script("NEXT_DUE", arguments))
        return None if reply is None else float(reply)

    async def counts(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for (_, state), count in (await self.channel_counts()).items():
            totals[state] = totals.get(state, 0) + count
        return totals

    async def channel_counts(self) -> dict[tuple[str, str], int]:
        reply = await self._call(lambda: self._read_hash(self._key("outbox:counts")))
        counts = {}
        for field, value in reply.items():
            channel, _, state = field.rpartition(FIELD_SEPARATOR)
            if int(value) > 0:
                counts[(channel, state)] = int(value)
        return counts

    async def references(self, group_key: str, group_started: float) -> dict[str, str]:
        life = self._key(f"references:{group_key}{FIELD_SEPARATOR}{_text(group_started)}")
        return await self._call(lambda: self._read_hash(life))

    # The operations, run by the writer task

    async def _write_changes(self, changes: StateChanges) -> None:
        try:
            arguments = changes_arguments(changes)
        except (TypeError, ValueError) as exc:
            # json.dumps raises these for a row or a notification it cannot encode.
            raise StoreError(f"the alert store in Redis ({self.keys_base}) could not encode "
                             f"the changes: {exc}") from exc
        await self._write("APPLY", arguments)

    async def _read_state(self) -> SavedState:
        replies = await self._script("LOAD_STATE", [])
        loaded = {table: [json.loads(row) for row in rows]
                  for table, rows in zip(STATE_TABLES, replies, strict=True)}
        return SavedState(**loaded)

    async def _dead_letter(self, known: frozenset[str], now: float) -> dict[str, int]:
        # The detail quotes each channel name with Python's repr, so Python reads the names
        # first. The script then finishes the entries that are pending when it runs.
        pending = await self._script("PENDING_CHANNELS", [])
        unknown = sorted({name.decode() for name in pending} - known)
        if not unknown:
            return {}
        pairs = [part for name in unknown for part in (name, unknown_channel_detail(name))]
        reply = await self._write("DEAD_LETTER", [_text(now), *pairs])
        return {name: int(count) for name, count in zip(unknown, reply, strict=True)
                if int(count) > 0}

    async def _read_hash(self, key: str) -> dict[str, str]:
        reply = await self.client.hgetall(key)
        return {_decode(field): _decode(value) for field, value in reply.items()}

    async def _nothing(self) -> None:
        return None

    async def _write(self, name: str, arguments: list[str]) -> Any:
        """Run a writing script, with the fence and a new operation id before `arguments`."""
        expected = ""
        if self.leader_check is not None:
            leader = self.leader_check()
            if leader is None:
                raise StoreError(f"the alert store in Redis ({self.keys_base}) rejected the "
                                 "write: this node is not the leader")
            expected = leader
        operation_id = uuid.uuid4().hex
        return await self._script(name, [self.leader_key, expected, operation_id, *arguments])

    async def _script(self, name: str, arguments: list[str]) -> Any:
        return await self._scripts[name](keys=[self.keys_base], args=arguments)

    def _key(self, name: str) -> str:
        return self.keys_base + name

    # The queue

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Queue an operation and wait for its result, after every operation queued before."""
        if self._writer is None:
            raise StoreError(f"the alert store in Redis ({self.keys_base}) is not open")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Task(operation, future))
        return await future

    async def _run(self) -> None:
        while True:
            task = await self._queue.get()
            if task is None:
                return
            try:
                value = await self._run_operation(task.operation)
            except Exception as exc:
                # The one writer outlives every failed operation: its caller gets the error.
                self._settle_error(task, exc)
            else:
                if task.future is not None and not task.future.done():
                    task.future.set_result(value)

    async def _run_operation(self, operation: Callable[[], Awaitable[T]]) -> T:
        try:
            return await operation()
        except ResponseError as exc:
            if str(exc).startswith(NOT_LEADER):
                raise StoreError(f"the alert store in Redis ({self.keys_base}) rejected the "
                                 f"write: this node is not the leader ({self.leader_key} "
                                 "names another node)") from exc
            raise StoreError(f"the alert store in Redis ({self.keys_base}) failed: "
                             f"{exc}") from exc
        except REDIS_ERRORS as exc:
            raise StoreError(f"the alert store in Redis ({self.keys_base}) failed: {exc}; "
                             "check that Redis runs and this node can reach it") from exc

    def _settle_error(self, task: _Task, error: Exception) -> None:
        if task.future is None:
            self._count_failure("submit", str(error))
        elif not task.future.done():
            task.future.set_exception(error)

    def _count_failure(self, operation: str, error: str) -> None:
        self._failed_writes += 1
        log.error("alert store write failed", backend="redis", keys_base=self.keys_base,
                  operation=operation, error=error)


def _history_entries(reply: list[bytes]) -> list[HistoryEntry]:
    return [decode_history(reply[i], reply[i + 1]) for i in range(0, len(reply), 2)]


def _decode(value: bytes | str) -> str:
    # The client returns bytes (decode_responses=False); str only from a differently built one.
    return value.decode() if isinstance(value, bytes) else value
