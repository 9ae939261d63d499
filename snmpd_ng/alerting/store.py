"""The SQLite database of the alert store: its schema, and the thread that runs every operation.

`SqliteAlertStore` (sqlite_store.py) builds the alert store's operations on this. One thread
owns the one connection and runs every operation in the order it was queued, so a read returns
every write queued before it. `submit` queues a write and returns at once, which is
what lets `AlertService.submit` never block; `call` queues an operation and awaits its result.
The thread takes up to `MAX_BATCH` queued operations at a time and runs them in one
transaction, each inside a savepoint, so one failing operation does not undo the others and
many small writes share one commit.

The database runs in WAL mode with `synchronous=FULL`: a committed transaction survives a crash
of the process and a power loss. The schema is versioned: `schema_migrations` lists each
migration applied, and `open` applies the missing ones in order.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import structlog

# Imported under its own name so that `from snmpd_ng.alerting.store import StoreError` keeps
# working for the modules that import it from here.
from snmpd_ng.alerting.backend import StoreError as StoreError

log = structlog.get_logger(__name__)

T = TypeVar("T")
Operation = Callable[[sqlite3.Connection], Any]

MAX_BATCH = 500
"""Operations run in one transaction at most: bounds how long one commit holds the lock."""
BUSY_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "alerts, groups, silences, outbox and append-only history", (
        "CREATE TABLE history (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, "
        "kind TEXT NOT NULL, actor TEXT NOT NULL, fingerprint TEXT, group_key TEXT, "
        "detail TEXT NOT NULL)",
        "CREATE INDEX history_fingerprint ON history (fingerprint)",
        "CREATE INDEX history_group_key ON history (group_key)",
        "CREATE TRIGGER history_no_update BEFORE UPDATE ON history "
        "BEGIN SELECT RAISE(ABORT, 'the alert history is append-only'); END",
        "CREATE TRIGGER history_no_delete BEFORE DELETE ON history "
        "BEGIN SELECT RAISE(ABORT, 'the alert history is append-only'); END",
        "CREATE TABLE alerts (fingerprint TEXT PRIMARY KEY, data TEXT NOT NULL)",
        "CREATE TABLE groups (group_key TEXT PRIMARY KEY, data TEXT NOT NULL)",
        "CREATE TABLE silences (id TEXT PRIMARY KEY, data TEXT NOT NULL)",
        "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "notification_id TEXT NOT NULL, channel TEXT NOT NULL, group_key TEXT NOT NULL, "
        "group_started REAL NOT NULL, payload TEXT NOT NULL, state TEXT NOT NULL, "
        "attempts INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, "
        "next_attempt_at REAL NOT NULL, claimed_at REAL, finished_at REAL, last_detail TEXT, "
        "UNIQUE (notification_id, channel))",
        "CREATE INDEX outbox_due ON outbox (state, channel, next_attempt_at)",
        "CREATE TABLE delivery_references (group_key TEXT NOT NULL, "
        "group_started REAL NOT NULL, channel TEXT NOT NULL, reference TEXT NOT NULL, "
        "PRIMARY KEY (group_key, group_started, channel))",
    )),
)


def schema_version(connection: sqlite3.Connection) -> int:
    """Return the highest migration applied, 0 for an empty database."""
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "description TEXT NOT NULL, applied_at REAL NOT NULL)")
    row = connection.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(connection: sqlite3.Connection,
            migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Apply the migrations the database lacks, in order; return their versions.

    Raises StoreError for a database written by a newer snmpd-ng, whose schema this one does
    not know.
    """
    current = schema_version(connection)
    known = max((migration.version for migration in migrations), default=0)
    if current > known:
        raise StoreError(f"the alert store has schema version {current}, newer than the "
                         f"{known} this snmpd-ng knows; run a newer snmpd-ng or move the file")
    applied = []
    for migration in migrations:
        if migration.version <= current:
            continue
        for statement in migration.statements:
            connection.execute(statement)
        connection.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                           (migration.version, migration.description, time.time()))
        applied.append(migration.version)
    return applied


def connect(path: Path) -> sqlite3.Connection:
    """Open the database in WAL mode, with transactions under our control."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        log.warning("alert store not in WAL mode", path=str(path), journal_mode=mode)
    connection.execute("PRAGMA synchronous = FULL")
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


class _Task:
    """One queued operation and, for `call`, the future that gets its result."""

    __slots__ = ("future", "loop", "operation")

    def __init__(self, operation: Operation, loop: asyncio.AbstractEventLoop | None,
                 future: asyncio.Future[Any] | None) -> None:
        self.operation = operation
        self.loop = loop
        self.future = future


class Store:
    """The database file and the thread that runs every operation on it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.failed_writes = 0
        """Operations queued with `submit` that raised; each is also logged."""
        self._queue: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._connection: sqlite3.Connection | None = None

    @property
    def is_open(self) -> bool:
        return self._thread is not None

    async def open(self) -> list[int]:
        """Start the thread, open the file and apply missing migrations; return them.

        Raises StoreError when the file cannot be opened or migrated.
        """
        self._thread = threading.Thread(target=self._run, name="alert-store", daemon=True)
        self._thread.start()
        try:
            applied = await self.call(migrate)
        except (sqlite3.Error, OSError) as exc:
            await self.close()
            raise StoreError(f"cannot open the alert store {self.path}: {exc}") from exc
        except StoreError:
            await self.close()
            raise
        log.info("alert store opened", path=str(self.path), migrations_applied=applied)
        return applied

    async def close(self) -> None:
        """Run what is queued, then stop the thread and close the file."""
        thread = self._thread
        if thread is None:
            return
        self._queue.put(None)
        await asyncio.get_running_loop().run_in_executor(None, thread.join)
        self._thread = None
        log.info("alert store closed", path=str(self.path))

    def submit(self, operation: Operation) -> None:
        """Queue a write and return at once; a failure is logged and counted."""
        self._queue.put(_Task(operation, None, None))

    async def call(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Queue an operation and wait for its result, after every operation queued before."""
        if self._thread is None:
            raise StoreError(f"the alert store {self.path} is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Task(operation, loop, future))
        return await future

    async def sync(self) -> None:
        """Wait until every operation queued so far is committed."""
        await self.call(lambda connection: None)

    def queued(self) -> int:
        """Return the number of operations waiting for the thread (approximate)."""
        return self._queue.qsize()

    def _run(self) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                break
            batch = [task]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            self._run_batch(batch)
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _run_batch(self, batch: list[_Task]) -> None:
        try:
            if self._connection is None:
                self._connection = connect(self.path)
            results = self._transaction(self._connection, batch)
        except (sqlite3.Error, OSError) as exc:
            log.error("alert store transaction failed", path=str(self.path), error=str(exc),
                      operations=len(batch))
            results = [(False, exc)] * len(batch)
        for task, (ok, value) in zip(batch, results, strict=True):
            self._deliver(task, ok, value)

    @staticmethod
    def _transaction(connection: sqlite3.Connection,
                     batch: list[_Task]) -> list[tuple[bool, Any]]:
        results: list[tuple[bool, Any]] = []
        connection.execute("BEGIN IMMEDIATE")
        try:
            for task in batch:
                connection.execute("SAVEPOINT operation")
                try:
                    value = task.operation(connection)
                except Exception as exc:
                    connection.execute("ROLLBACK TO operation")
                    results.append((False, exc))
                else:
                    results.append((True, value))
                connection.execute("RELEASE operation")
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return results

    def _deliver(self, task: _Task, ok: bool, value: Any) -> None:
        if task.future is None:
            if not ok:
                self.failed_writes += 1
                log.error("alert store write failed", path=str(self.path), error=str(value),
                          error_type=type(value).__name__)
            return
        assert task.loop is not None
        future = task.future
        if ok:
            task.loop.call_soon_threadsafe(_set_result, future, value)
        else:
            task.loop.call_soon_threadsafe(_set_exception, future, value)


def _set_result(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
