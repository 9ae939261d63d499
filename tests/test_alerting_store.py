"""The SQLite store: migrations, WAL mode, append-only history, batching and saved state.

The rules every store backend follows are tested in test_alert_store_contract.py; these tests
cover what only the SQLite file and its thread do.
"""

from __future__ import annotations

import sqlite3
from functools import partial
from pathlib import Path

import pytest

from snmpd_ng.alerting import sqlite_history as history
from snmpd_ng.alerting.backend import StateChanges
from snmpd_ng.alerting.history import HistoryEntry
from snmpd_ng.alerting.sqlite_store import SqliteAlertStore, read_state, write_changes
from snmpd_ng.alerting.store import (
    MIGRATIONS,
    Migration,
    Store,
    StoreError,
    migrate,
    schema_version,
)


@pytest.fixture
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    opened = Store(tmp_path / "alerts.db")
    await opened.open()
    yield opened
    await opened.close()


def tables(connection: sqlite3.Connection) -> set[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {row[0] for row in rows}


class TestMigrations:
    def test_empty_database_gets_every_table(self, tmp_path: Path) -> None:
        connection = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
        applied = migrate(connection)

        assert applied == [migration.version for migration in MIGRATIONS]
        assert {"history", "alerts", "groups", "silences", "outbox", "delivery_references",
                "schema_migrations"} <= tables(connection)

    def test_second_run_applies_nothing(self, tmp_path: Path) -> None:
        connection = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
        migrate(connection)

        assert migrate(connection) == []
        assert schema_version(connection) == MIGRATIONS[-1].version

    def test_later_migration_is_applied_on_top(self, tmp_path: Path) -> None:
        connection = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
        migrate(connection)
        extra = Migration(MIGRATIONS[-1].version + 1, "a test column",
                          ("ALTER TABLE alerts ADD COLUMN note TEXT",))

        assert migrate(connection, (*MIGRATIONS, extra)) == [extra.version]
        columns = [row[1] for row in connection.execute("PRAGMA table_info(alerts)")]
        assert "note" in columns

    def test_newer_schema_is_rejected(self, tmp_path: Path) -> None:
        connection = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
        migrate(connection)
        connection.execute("INSERT INTO schema_migrations VALUES (99, 'future', 0)")

        with pytest.raises(StoreError, match="schema version 99"):
            migrate(connection)

    async def test_open_records_migration(self, store: Store) -> None:
        rows = await store.call(lambda connection: connection.execute(
            "SELECT version, description FROM schema_migrations").fetchall())

        assert [row[0] for row in rows] == [migration.version for migration in MIGRATIONS]

    async def test_database_is_in_wal_mode(self, store: Store) -> None:
        mode = await store.call(lambda connection: connection.execute(
            "PRAGMA journal_mode").fetchone()[0])

        assert mode == "wal"

    async def test_open_on_a_directory_raises(self, tmp_path: Path) -> None:
        (tmp_path / "dir.db").mkdir()

        with pytest.raises(StoreError, match="cannot open the alert store"):
            await Store(tmp_path / "dir.db").open()


def entry(kind: str = "alert.firing", fingerprint: str | None = "fp1",
          group_key: str | None = None) -> HistoryEntry:
    return HistoryEntry(at=1.0, kind=kind, actor="rules", fingerprint=fingerprint,
                        group_key=group_key, detail={"value": 2.5})


class TestHistory:
    async def test_entries_read_back_in_order(self, store: Store) -> None:
        changes = StateChanges()
        changes.record(entry("alert.pending"))
        changes.record(entry("alert.firing"))
        await store.call(partial(write_changes, changes=changes))
        entries = await store.call(lambda connection: history.query(connection, "fp1", 10))

        assert [item.kind for item in entries] == ["alert.pending", "alert.firing"]
        assert entries[0].detail == {"value": 2.5}

    async def test_update_is_rejected(self, store: Store) -> None:
        await store.call(lambda connection: history.append(connection, [entry()]))

        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            await store.call(lambda connection: connection.execute(
                "UPDATE history SET actor = 'mallory'"))

    async def test_delete_is_rejected(self, store: Store) -> None:
        await store.call(lambda connection: history.append(connection, [entry()]))

        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            await store.call(lambda connection: connection.execute("DELETE FROM history"))

    async def test_rejected_update_leaves_entry_unchanged(self, store: Store) -> None:
        await store.call(lambda connection: history.append(connection, [entry()]))
        with pytest.raises(sqlite3.IntegrityError):
            await store.call(lambda connection: connection.execute(
                "UPDATE history SET actor = 'mallory'"))
        (kept,) = await store.call(lambda connection: history.query(connection, "fp1", 10))

        assert kept.actor == "rules"

    async def test_fingerprint_query_includes_its_groups(self, store: Store) -> None:
        await store.call(lambda connection: history.append(connection, [
            entry("alert.grouped", "fp1", "g1"),
            entry("notification.queued", None, "g1"),
            entry("notification.queued", None, "g2"),
        ]))
        entries = await store.call(lambda connection: history.query(connection, "fp1", 10))

        assert [(item.kind, item.group_key) for item in entries] == [
            ("alert.grouped", "g1"), ("notification.queued", "g1")]


class TestOperations:
    async def test_failing_operation_keeps_the_others(self, store: Store) -> None:
        def broken(connection: sqlite3.Connection) -> None:
            connection.execute("INSERT INTO alerts VALUES ('x', 'y')")
            raise ValueError("broken on purpose")

        store.submit(lambda connection: history.append(connection, [entry()]))
        store.submit(broken)
        await store.sync()
        entries = await store.call(lambda connection: history.query(connection, None, 10))
        alerts = await store.call(lambda connection: connection.execute(
            "SELECT COUNT(*) FROM alerts").fetchone()[0])

        assert len(entries) == 1
        assert alerts == 0
        assert store.failed_writes == 1

    async def test_call_raises_the_operation_error(self, store: Store) -> None:
        def broken(connection: sqlite3.Connection) -> None:
            raise ValueError("broken on purpose")

        with pytest.raises(ValueError, match="on purpose"):
            await store.call(broken)

    async def test_call_after_close_raises(self, tmp_path: Path) -> None:
        closed = Store(tmp_path / "alerts.db")
        await closed.open()
        await closed.close()

        with pytest.raises(StoreError, match="not open"):
            await closed.sync()

    async def test_state_round_trip(self, store: Store) -> None:
        changes = StateChanges()
        changes.put("alerts", "fp1", {"fingerprint": "fp1", "state": "firing"})
        changes.put("groups", "g1", {"group": {"key": "g1"}})
        changes.put("silences", "s1", {"id": "s1"})
        await store.call(partial(write_changes, changes=changes))
        saved = await store.call(read_state)

        assert saved.alerts == [{"fingerprint": "fp1", "state": "firing"}]
        assert saved.groups == [{"group": {"key": "g1"}}]
        assert saved.silences == [{"id": "s1"}]

    async def test_none_deletes_the_row(self, store: Store) -> None:
        changes = StateChanges()
        changes.put("alerts", "fp1", {"fingerprint": "fp1"})
        await store.call(partial(write_changes, changes=changes))
        removal = StateChanges()
        removal.put("alerts", "fp1", None)
        await store.call(partial(write_changes, changes=removal))

        assert (await store.call(read_state)).alerts == []

    async def test_writes_survive_reopen(self, tmp_path: Path) -> None:
        first = Store(tmp_path / "alerts.db")
        await first.open()
        first.submit(lambda connection: history.append(connection, [entry()]))
        await first.close()
        second = Store(tmp_path / "alerts.db")
        applied = await second.open()
        entries = await second.call(lambda connection: history.query(connection, None, 10))
        await second.close()

        assert applied == []
        assert len(entries) == 1


class TestSqliteAlertStore:
    async def test_sqlite_error_becomes_store_error(self, tmp_path: Path) -> None:
        alert_store = SqliteAlertStore(tmp_path / "alerts.db")
        await alert_store.open()
        await alert_store.database.call(lambda connection: connection.execute(
            "DROP TABLE outbox"))

        with pytest.raises(StoreError, match="no such table: outbox"):
            await alert_store.counts()
        await alert_store.close()

    async def test_unencodable_row_raises_store_error(self, tmp_path: Path) -> None:
        alert_store = SqliteAlertStore(tmp_path / "alerts.db")
        await alert_store.open()
        changes = StateChanges()
        changes.put("alerts", "fp1", {"value": object()})

        with pytest.raises(StoreError, match="could not write the changes"):
            await alert_store.apply(changes)
        saved = await alert_store.load_state()
        await alert_store.close()

        assert saved.alerts == []

    async def test_database_written_before_opens_unchanged(self, tmp_path: Path) -> None:
        # A file with the version 1 schema and rows as earlier releases wrote them.
        connection = sqlite3.connect(tmp_path / "alerts.db", isolation_level=None)
        migrate(connection)
        connection.execute("INSERT INTO alerts VALUES ('fp1', '{\"fingerprint\": \"fp1\"}')")
        connection.execute("INSERT INTO history (at, kind, actor, detail) "
                           "VALUES (1.0, 'alert.firing', 'rules', '{}')")
        connection.close()
        alert_store = SqliteAlertStore(tmp_path / "alerts.db")
        await alert_store.open()
        saved = await alert_store.load_state()
        entries = await alert_store.history(None, 10)
        await alert_store.close()

        assert saved.alerts == [{"fingerprint": "fp1"}]
        assert [entry.kind for entry in entries] == ["alert.firing"]
