"""The contract of `AlertStore` (backend.py), run against every store implementation.

Each test names the rule of the interface it checks. A new backend joins by adding one entry
to STORE_FACTORIES. The entry is a function that returns a new, unopened store over the data
kept in the given directory, or on a server that a fixture started. Two stores from one factory
share their data, as two processes or a restarted process do.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from redis.asyncio import Redis

from snmpd_ng.alerting.backend import AlertStore, StateChanges, StoreError
from snmpd_ng.alerting.history import HistoryEntry
from snmpd_ng.alerting.notification import AlertView, Notification
from snmpd_ng.alerting.outbox_entry import (
    CLAIMED,
    DEAD,
    DELIVERED,
    PENDING,
    OutboxEntry,
    OutboxOutcome,
    entry_history,
)
from snmpd_ng.alerting.redis_store import RedisAlertStore
from snmpd_ng.alerting.sqlite_store import SqliteAlertStore

T0 = 1_714_996_800.0
"""Unix seconds: 2024-05-06T12:00:00Z."""

@dataclass
class StoreSite:
    """Where the stores of one test keep their data: a directory, or a key base on Redis."""

    directory: Path
    request: pytest.FixtureRequest
    key_base: str = field(default_factory=lambda: f"{{test-{uuid.uuid4().hex}}}:alerts:")
    clients: list[Redis] = field(default_factory=list)

    def redis_client(self) -> Redis:
        """Return a new client of the session's Redis, which starts at its first use."""
        server = self.request.getfixturevalue("redis_server")
        client = Redis.from_url(server.url)
        self.clients.append(client)
        return client


STORE_FACTORIES: dict[str, Callable[[StoreSite], AlertStore]] = {
    "sqlite": lambda site: SqliteAlertStore(site.directory / "alerts.db"),
    "redis": lambda site: RedisAlertStore(site.redis_client(), site.key_base),
}

NewStore = Callable[[], AlertStore]


@pytest.fixture(params=sorted(STORE_FACTORIES))
async def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[NewStore]:
    """Return a function that builds another store over the same data."""
    factory = STORE_FACTORIES[request.param]
    site = StoreSite(tmp_path, request)
    yield lambda: factory(site)
    for client in site.clients:
        await client.aclose()


@pytest.fixture
async def store(new_store: NewStore) -> AsyncIterator[AlertStore]:
    opened = new_store()
    await opened.open()
    yield opened
    await opened.close()


async def reopened(store: AlertStore, new_store: NewStore) -> AlertStore:
    """Close `store`, as a stopping process does, and open another over the same data."""
    await store.close()
    again = new_store()
    await again.open()
    return again


# Builders


def alert_view(**labels: object) -> AlertView:
    return AlertView(fingerprint="fp1", rule="LinkDown", severity="critical", state="firing",
                     labels=labels or {"target": "core1"},  # type: ignore[arg-type]
                     annotations={}, value=1.0, starts_at=T0)


def outbox_entry(notification_id: str, channel: str = "chat", group_key: str = "g1",
                 group_started: float = T0, view: AlertView | None = None) -> OutboxEntry:
    notification = Notification(id=notification_id, event="firing", group_key=group_key,
                                alerts=(view or alert_view(),), receiver="team", tier=1)
    return OutboxEntry(notification, channel, group_started)


def history_entry(kind: str = "alert.firing", fingerprint: str | None = "fp1",
                  group_key: str | None = None, at: float = T0) -> HistoryEntry:
    return HistoryEntry(at=at, kind=kind, actor="rules", fingerprint=fingerprint,
                        group_key=group_key, detail={"value": 2.5})


def alert_row(changes: StateChanges, value: int) -> StateChanges:
    changes.put("alerts", "fp1", {"fingerprint": "fp1", "value": value})
    changes.record(history_entry(f"alert.step{value}"))
    return changes


async def queue(store: AlertStore, *entries: OutboxEntry, now: float = T0) -> None:
    changes = StateChanges()
    changes.enqueue(entries, now)
    await store.apply(changes)


def outcome(entry: OutboxEntry, state: str, at: float, *, next_attempt_at: float | None = None,
            reference: str | None = None) -> OutboxOutcome:
    kinds = {DELIVERED: "notification.delivered", PENDING: "notification.retry",
             DEAD: "notification.failed"}
    history = entry_history(at, kinds[state], entry, {"detail": "test outcome"})
    return OutboxOutcome(entry, state, at, "test outcome", history,
                         next_attempt_at=next_attempt_at, reference=reference)


def ids(entries: list[OutboxEntry]) -> list[str]:
    return [entry.notification.id for entry in entries]


async def kinds(store: AlertStore) -> list[str]:
    return [entry.kind for entry in await store.history(None, 1000)]


# Opening and closing


class TestOpenClose:
    async def test_open_store_is_open(self, store: AlertStore) -> None:
        assert store.is_open

    async def test_closed_store_is_not_open(self, store: AlertStore) -> None:
        await store.close()

        assert not store.is_open

    async def test_awaited_call_after_close_raises(self, store: AlertStore) -> None:
        await store.close()

        with pytest.raises(StoreError):
            await store.load_state()

    async def test_second_close_does_nothing(self, store: AlertStore) -> None:
        await store.close()
        await store.close()

        assert not store.is_open


# submit and apply


class TestSubmit:
    async def test_submitted_changes_apply_in_order(self, store: AlertStore) -> None:
        for value in (1, 2, 3):
            store.submit(alert_row(StateChanges(), value))
        await store.sync()
        saved = await store.load_state()

        assert saved.alerts == [{"fingerprint": "fp1", "value": 3}]
        assert await kinds(store) == ["alert.step1", "alert.step2", "alert.step3"]

    async def test_submit_and_apply_keep_call_order(self, store: AlertStore) -> None:
        store.submit(alert_row(StateChanges(), 1))
        await store.apply(alert_row(StateChanges(), 2))
        store.submit(alert_row(StateChanges(), 3))

        assert (await store.load_state()).alerts == [{"fingerprint": "fp1", "value": 3}]

    async def test_read_sees_earlier_submit(self, store: AlertStore) -> None:
        store.submit(alert_row(StateChanges(), 1))

        assert await kinds(store) == ["alert.step1"]

    async def test_failing_submit_leaves_nothing(self, store: AlertStore) -> None:
        store.submit(alert_row(StateChanges(), 1))
        broken = alert_row(StateChanges(), 2)
        broken.enqueue([outbox_entry("n1", view=alert_view(bad=object()))], T0)
        store.submit(broken)
        store.submit(alert_row(StateChanges(), 3))
        await store.sync()

        assert await kinds(store) == ["alert.step1", "alert.step3"]
        assert (await store.load_state()).alerts == [{"fingerprint": "fp1", "value": 3}]
        assert await store.counts() == {}

    async def test_failing_submit_is_counted(self, store: AlertStore) -> None:
        broken = StateChanges()
        broken.enqueue([outbox_entry("n1", view=alert_view(bad=object()))], T0)
        store.submit(broken)
        await store.sync()

        assert store.failed_writes == 1

    async def test_close_applies_submitted_changes(self, store: AlertStore,
                                                   new_store: NewStore) -> None:
        store.submit(alert_row(StateChanges(), 1))
        again = await reopened(store, new_store)
        saved = await again.load_state()
        await again.close()

        assert saved.alerts == [{"fingerprint": "fp1", "value": 1}]


class TestApply:
    async def test_failing_part_leaves_nothing(self, store: AlertStore) -> None:
        changes = alert_row(StateChanges(), 1)
        changes.put("silences", "s1", {"id": "s1"})
        changes.enqueue([outbox_entry("n1"), outbox_entry("n2", view=alert_view(bad=object()))],
                        T0)

        with pytest.raises(StoreError):
            await store.apply(changes)
        saved = await store.load_state()

        assert saved.alerts == []
        assert saved.silences == []
        assert await store.history(None, 10) == []
        assert await store.counts() == {}

    async def test_rows_history_and_outbox_are_written(self, store: AlertStore) -> None:
        changes = alert_row(StateChanges(), 1)
        changes.enqueue([outbox_entry("n1")], T0)
        await store.apply(changes)

        assert (await store.load_state()).alerts == [{"fingerprint": "fp1", "value": 1}]
        assert await kinds(store) == ["alert.step1", "notification.queued"]
        assert await store.counts() == {PENDING: 1}

    async def test_queued_entry_is_due_at_its_queue_time(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1"), now=T0 + 5)
        (queued,) = await store.history(None, 10)

        assert await store.next_due() == T0 + 5
        assert queued.at == T0 + 5
        assert queued.group_key == "g1"
        assert queued.detail["notification_id"] == "n1"

    async def test_entry_queued_twice_is_left_alone(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1"))
        await queue(store, outbox_entry("n1"), now=T0 + 60)

        assert await store.counts() == {PENDING: 1}
        assert await store.next_due() == T0
        assert await kinds(store) == ["notification.queued"]

    async def test_same_notification_on_two_channels(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1", "chat"), outbox_entry("n1", "pager"))

        assert await store.channel_counts() == {("chat", PENDING): 1, ("pager", PENDING): 1}

    async def test_none_deletes_the_row(self, store: AlertStore) -> None:
        await store.apply(alert_row(StateChanges(), 1))
        removal = StateChanges()
        removal.put("alerts", "fp1", None)
        await store.apply(removal)

        assert (await store.load_state()).alerts == []


# Saved state


class TestLoadState:
    async def test_empty_store_has_no_state(self, store: AlertStore) -> None:
        saved = await store.load_state()

        assert (saved.alerts, saved.groups, saved.silences) == ([], [], [])

    async def test_state_round_trip_across_reopen(self, store: AlertStore,
                                                  new_store: NewStore) -> None:
        changes = StateChanges()
        changes.put("alerts", "fp1", {"fingerprint": "fp1", "labels": {"target": "core1"}})
        changes.put("alerts", "fp2", {"fingerprint": "fp2", "value": 0.5})
        changes.put("groups", "g1", {"group": {"key": "g1", "fingerprints": ["fp1"]}})
        changes.put("silences", "s1", {"id": "s1", "ends_at": T0 + 3600})
        await store.apply(changes)
        again = await reopened(store, new_store)
        saved = await again.load_state()
        await again.close()

        assert sorted(saved.alerts, key=lambda row: row["fingerprint"]) == [
            {"fingerprint": "fp1", "labels": {"target": "core1"}},
            {"fingerprint": "fp2", "value": 0.5}]
        assert saved.groups == [{"group": {"key": "g1", "fingerprints": ["fp1"]}}]
        assert saved.silences == [{"id": "s1", "ends_at": T0 + 3600}]


# History


async def record(store: AlertStore, *entries: HistoryEntry) -> None:
    changes = StateChanges()
    for entry in entries:
        changes.record(entry)
    await store.apply(changes)


class TestHistory:
    async def test_entries_read_back_as_written(self, store: AlertStore) -> None:
        written = history_entry("alert.firing", "fp1", "g1", at=T0 + 1)
        await record(store, written)
        (read,) = await store.history("fp1", 10)

        assert read.id is not None
        assert (read.at, read.kind, read.actor) == (T0 + 1, "alert.firing", "rules")
        assert (read.fingerprint, read.group_key) == ("fp1", "g1")
        assert read.detail == {"value": 2.5}

    async def test_fingerprint_query_includes_its_groups(self, store: AlertStore) -> None:
        await record(store,
                     history_entry("alert.grouped", "fp1", "g1"),
                     history_entry("notification.queued", None, "g1"),
                     history_entry("notification.queued", None, "g2"),
                     history_entry("alert.firing", "fp2", "g1"))
        entries = await store.history("fp1", 10)

        assert [(entry.kind, entry.group_key) for entry in entries] == [
            ("alert.grouped", "g1"), ("notification.queued", "g1")]

    async def test_group_query_returns_its_entries(self, store: AlertStore) -> None:
        await record(store,
                     history_entry("alert.grouped", "fp1", "g1"),
                     history_entry("notification.queued", None, "g1"),
                     history_entry("notification.queued", None, "g2"))
        entries = await store.history("g1", 10)

        assert [entry.kind for entry in entries] == ["alert.grouped", "notification.queued"]

    async def test_limit_keeps_newest_oldest_first(self, store: AlertStore) -> None:
        await record(store, *(history_entry(f"alert.step{index}") for index in range(5)))

        assert [entry.kind for entry in await store.history(None, 2)] == [
            "alert.step3", "alert.step4"]
        assert [entry.kind for entry in await store.history("fp1", 2)] == [
            "alert.step3", "alert.step4"]

    async def test_ids_increase_in_commit_order(self, store: AlertStore) -> None:
        await record(store, history_entry("alert.pending"))
        store.submit(alert_row(StateChanges(), 1))
        await record(store, history_entry("alert.firing"))
        entries = await store.history(None, 10)
        entry_ids = [entry.id for entry in entries if entry.id is not None]

        assert [entry.kind for entry in entries] == ["alert.pending", "alert.step1",
                                                     "alert.firing"]
        assert entry_ids == sorted(entry_ids)
        assert len(set(entry_ids)) == 3


class TestHistoryPage:
    async def test_pages_walk_back_to_the_oldest(self, store: AlertStore) -> None:
        await record(store, *(history_entry(f"alert.step{index}") for index in range(5)))
        pages = []
        before = None
        while True:
            page = await store.history_page(limit=2, before=before)
            pages.append([entry.kind for entry in page.entries])
            if page.next_before is None:
                break
            before = page.next_before

        assert pages == [["alert.step4", "alert.step3"], ["alert.step2", "alert.step1"],
                         ["alert.step0"]]

    async def test_cursor_is_smallest_id_of_page(self, store: AlertStore) -> None:
        await record(store, *(history_entry(f"alert.step{index}") for index in range(3)))
        page = await store.history_page(limit=2)

        assert page.next_before == page.entries[-1].id

    async def test_exact_page_has_no_cursor(self, store: AlertStore) -> None:
        await record(store, history_entry("alert.pending"), history_entry("alert.firing"))
        page = await store.history_page(limit=2)

        assert len(page.entries) == 2
        assert page.next_before is None

    async def test_page_stays_while_entries_arrive(self, store: AlertStore) -> None:
        await record(store, *(history_entry(f"alert.step{index}") for index in range(4)))
        first = await store.history_page(limit=2)
        await record(store, history_entry("alert.later"))
        second = await store.history_page(limit=2, before=first.next_before)

        assert [entry.kind for entry in second.entries] == ["alert.step1", "alert.step0"]

    async def test_kind_filter_is_exact(self, store: AlertStore) -> None:
        await record(store, history_entry("alert.firing"), history_entry("alert.firing2"),
                     history_entry("alert.pending"))
        page = await store.history_page(limit=10, kind="alert.firing")

        assert [entry.kind for entry in page.entries] == ["alert.firing"]

    async def test_kind_family_is_a_literal_prefix(self, store: AlertStore) -> None:
        await record(store, history_entry("my_kind.one"), history_entry("myXkind.two"),
                     history_entry("my_kind.three"), history_entry("alert.firing"))
        page = await store.history_page(limit=10, kind="my_kind.")

        assert [entry.kind for entry in page.entries] == ["my_kind.three", "my_kind.one"]

    @pytest.mark.parametrize("limit", [0, 1001])
    async def test_limit_out_of_range_raises(self, store: AlertStore, limit: int) -> None:
        with pytest.raises(ValueError, match=f"invalid limit {limit}"):
            await store.history_page(limit=limit)


# The outbox: claims


class TestClaim:
    async def test_due_entries_come_oldest_first(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1", group_key="g1"), outbox_entry("n2", group_key="g2"))
        await queue(store, outbox_entry("n3", group_key="g3"), now=T0 + 1)

        assert ids(await store.claim("chat", T0 + 1, 10)) == ["n1", "n2", "n3"]

    async def test_entry_not_due_is_not_claimed(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1"), now=T0 + 10)

        assert await store.claim("chat", T0 + 9, 10) == []
        assert ids(await store.claim("chat", T0 + 10, 10)) == ["n1"]

    async def test_other_channel_is_not_claimed(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1", "pager"))

        assert await store.claim("chat", T0, 10) == []

    async def test_limit_bounds_the_claim(self, store: AlertStore) -> None:
        await queue(store, *(outbox_entry(f"n{index}", group_key=f"g{index}")
                             for index in range(5)))

        assert ids(await store.claim("chat", T0, 2)) == ["n0", "n1"]
        assert ids(await store.claim("chat", T0, 10)) == ["n2", "n3", "n4"]

    async def test_claim_counts_the_attempt(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1"))
        (claimed,) = await store.claim("chat", T0 + 2, 10)

        assert claimed.attempts == 1
        assert claimed.id is not None
        assert claimed.created_at == T0
        assert claimed.group_started == T0
        assert await store.counts() == {CLAIMED: 1}

    async def test_claim_writes_attempt_history(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1"))
        await store.claim("chat", T0 + 2, 10)
        attempt = (await store.history("g1", 10))[-1]

        assert attempt.kind == "notification.attempt"
        assert attempt.at == T0 + 2
        assert attempt.actor == "outbox"
        assert attempt.detail["attempt"] == 1
        assert attempt.detail["notification_id"] == "n1"

    async def test_empty_claim_writes_no_history(self, store: AlertStore) -> None:
        await store.claim("chat", T0, 10)

        assert await store.history(None, 10) == []

    async def test_notification_round_trips(self, store: AlertStore) -> None:
        queued = outbox_entry("n1")
        await queue(store, queued)
        (claimed,) = await store.claim("chat", T0, 10)

        assert claimed.notification == queued.notification
        assert claimed.channel == "chat"


class TestClaimOrder:
    async def test_only_oldest_of_group_and_channel(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1"), outbox_entry("n2"))

        assert ids(await store.claim("chat", T0, 10)) == ["n1"]
        assert await store.claim("chat", T0, 10) == []

    async def test_next_of_group_after_outcome(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1"), outbox_entry("n2"))
        (first,) = await store.claim("chat", T0, 10)
        await store.record_outcome(outcome(first, DELIVERED, T0 + 1))

        assert ids(await store.claim("chat", T0 + 1, 10)) == ["n2"]

    async def test_retry_holds_back_the_group(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1"), outbox_entry("n2"))
        (first,) = await store.claim("chat", T0, 10)
        await store.record_outcome(outcome(first, PENDING, T0, next_attempt_at=T0 + 30))

        assert await store.claim("chat", T0 + 10, 10) == []
        assert ids(await store.claim("chat", T0 + 30, 10)) == ["n1"]

    async def test_dead_entry_releases_the_group(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1"), outbox_entry("n2"))
        (first,) = await store.claim("chat", T0, 10)
        await store.record_outcome(outcome(first, DEAD, T0 + 1))

        assert ids(await store.claim("chat", T0 + 1, 10)) == ["n2"]

    async def test_groups_and_channels_are_independent(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1", "chat", "g1"), outbox_entry("n2", "chat", "g1"),
                    outbox_entry("n1", "pager", "g1"), outbox_entry("n3", "chat", "g2"))

        assert ids(await store.claim("chat", T0, 10)) == ["n1", "n3"]
        assert ids(await store.claim("pager", T0, 10)) == ["n1"]


class TestClaimVisibility:
    async def test_claimed_entry_is_not_claimed_again(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1"))
        await store.claim("chat", T0, 10)

        assert await store.claim("chat", T0 + 3600, 10) == []

    async def test_second_store_does_not_claim_it(self, store: AlertStore,
                                                  new_store: NewStore) -> None:
        await queue(store, outbox_entry("n1"))
        await store.claim("chat", T0, 10)
        other = new_store()
        await other.open()
        try:
            claimed = await other.claim("chat", T0 + 3600, 10)
        finally:
            await other.close()

        assert claimed == []

    async def test_concurrent_claims_are_disjoint(self, store: AlertStore,
                                                  new_store: NewStore) -> None:
        await queue(store, *(outbox_entry(f"n{index}", group_key=f"g{index}")
                             for index in range(20)))
        other = new_store()
        await other.open()
        try:
            mine, theirs = await asyncio.gather(store.claim("chat", T0, 20),
                                                other.claim("chat", T0, 20))
        finally:
            await other.close()

        assert set(ids(mine)).isdisjoint(ids(theirs))
        assert sorted(ids(mine) + ids(theirs)) == sorted(f"n{index}" for index in range(20))


# The outbox: outcomes and references


class TestRecordOutcome:
    async def test_delivered_entry_is_finished(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1"))
        (claimed,) = await store.claim("chat", T0, 10)
        await store.record_outcome(outcome(claimed, DELIVERED, T0 + 1))

        assert await store.counts() == {DELIVERED: 1}
        assert await store.next_due() is None
        assert await store.claim("chat", T0 + 3600, 10) == []

    async def test_outcome_history_is_written(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1"))
        (claimed,) = await store.claim("chat", T0, 10)
        await store.record_outcome(outcome(claimed, DELIVERED, T0 + 1))
        delivered = (await store.history("g1", 10))[-1]

        assert delivered.kind == "notification.delivered"
        assert delivered.at == T0 + 1
        assert delivered.detail["detail"] == "test outcome"

    async def test_retry_is_due_again_later(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1"))
        (claimed,) = await store.claim("chat", T0, 10)
        await store.record_outcome(outcome(claimed, PENDING, T0, next_attempt_at=T0 + 30))
        (again,) = await store.claim("chat", T0 + 30, 10)

        assert await store.next_due() is None
        assert again.attempts == 2

    async def test_retry_sets_next_due(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1"))
        (claimed,) = await store.claim("chat", T0, 10)
        await store.record_outcome(outcome(claimed, PENDING, T0, next_attempt_at=T0 + 30))

        assert await store.counts() == {PENDING: 1}
        assert await store.next_due("chat") == T0 + 30

    async def test_dead_entry_is_finished(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1"))
        (claimed,) = await store.claim("chat", T0, 10)
        await store.record_outcome(outcome(claimed, DEAD, T0 + 1))

        assert await store.counts() == {DEAD: 1}
        assert await store.claim("chat", T0 + 3600, 10) == []

    async def test_reference_is_saved_for_the_group_life(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1", "jira"))
        (claimed,) = await store.claim("jira", T0, 10)
        await store.record_outcome(outcome(claimed, DELIVERED, T0 + 1, reference="NET-1"))

        assert await store.references("g1", T0) == {"jira": "NET-1"}
        assert await store.references("g1", T0 + 1) == {}
        assert await store.references("g2", T0) == {}

    async def test_later_reference_replaces_earlier(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1", "jira"), outbox_entry("n2", "jira"))
        (first,) = await store.claim("jira", T0, 10)
        await store.record_outcome(outcome(first, DELIVERED, T0, reference="NET-1"))
        (second,) = await store.claim("jira", T0, 10)
        await store.record_outcome(outcome(second, DELIVERED, T0, reference="NET-2"))

        assert await store.references("g1", T0) == {"jira": "NET-2"}

    async def test_claim_carries_the_references(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1", "jira"), outbox_entry("n1", "chat"),
                    outbox_entry("n2", "chat"))
        (ticket,) = await store.claim("jira", T0, 10)
        await store.record_outcome(outcome(ticket, DELIVERED, T0, reference="NET-1"))
        (first,) = await store.claim("chat", T0, 10)
        await store.record_outcome(outcome(first, DELIVERED, T0))
        (second,) = await store.claim("chat", T0, 10)

        assert dict(first.notification.references) == {"jira": "NET-1"}
        assert dict(second.notification.references) == {"jira": "NET-1"}

    async def test_outcome_survives_reopen(self, store: AlertStore,
                                           new_store: NewStore) -> None:
        await queue(store, outbox_entry("n1"))
        (claimed,) = await store.claim("chat", T0, 10)
        await store.record_outcome(outcome(claimed, DELIVERED, T0 + 1))
        again = await reopened(store, new_store)
        counts = await again.counts()
        await again.close()

        assert counts == {DELIVERED: 1}


# The outbox: restarts and unknown channels


class TestRequeueClaimed:
    async def test_claim_cut_by_restart_is_claimable_again(self, store: AlertStore,
                                                           new_store: NewStore) -> None:
        await queue(store, outbox_entry("n1"))
        await store.claim("chat", T0, 10)
        again = await reopened(store, new_store)
        requeued = await again.requeue_claimed(T0 + 60, "claimed before a restart")
        claimed = await again.claim("chat", T0 + 60, 10)
        await again.close()

        assert requeued == 1
        assert ids(claimed) == ["n1"]
        assert claimed[0].attempts == 2

    async def test_requeued_entry_is_due_at_now(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1"))
        await store.claim("chat", T0, 10)
        await store.requeue_claimed(T0 + 60, "claimed before a restart")

        assert await store.counts() == {PENDING: 1}
        assert await store.next_due() == T0 + 60

    async def test_requeue_writes_history_with_reason(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1"), outbox_entry("n2", group_key="g2"))
        await store.claim("chat", T0, 10)
        await store.requeue_claimed(T0 + 60, "claimed before a config reload")
        requeued = [entry for entry in await store.history(None, 100)
                    if entry.kind == "notification.requeued"]

        assert [entry.detail["notification_id"] for entry in requeued] == ["n1", "n2"]
        assert requeued[0].detail["reason"] == "claimed before a config reload"
        assert requeued[0].at == T0 + 60

    async def test_nothing_claimed_requeues_nothing(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1"))

        assert await store.requeue_claimed(T0, "claimed before a restart") == 0
        assert "notification.requeued" not in await kinds(store)

    async def test_finished_entries_stay_finished(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1"))
        (claimed,) = await store.claim("chat", T0, 10)
        await store.record_outcome(outcome(claimed, DELIVERED, T0))
        await store.requeue_claimed(T0 + 60, "claimed before a restart")

        assert await store.counts() == {DELIVERED: 1}


class TestDeadLetterUnknown:
    async def test_pending_entries_of_unknown_channels_die(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1", "chat"), outbox_entry("n1", "old"),
                    outbox_entry("n2", "old", "g2"), outbox_entry("n1", "gone"))
        dead = await store.dead_letter_unknown(frozenset({"chat"}), T0 + 5)

        assert dead == {"gone": 1, "old": 2}
        assert await store.channel_counts() == {
            ("chat", PENDING): 1, ("gone", DEAD): 1, ("old", DEAD): 2}

    async def test_dead_letter_history_names_the_channel(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1", "old"))
        await store.dead_letter_unknown(frozenset({"chat"}), T0 + 5)
        failed = (await store.history(None, 10))[-1]

        assert failed.kind == "notification.failed"
        assert failed.at == T0 + 5
        assert failed.detail["detail"] == "channel 'old' is not configured"

    async def test_claimed_entries_are_left(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1", "old"))
        await store.claim("old", T0, 10)
        dead = await store.dead_letter_unknown(frozenset(), T0 + 5)

        assert dead == {}
        assert await store.counts() == {CLAIMED: 1}

    async def test_known_channels_are_left(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1", "chat"))

        assert await store.dead_letter_unknown(frozenset({"chat"}), T0) == {}
        assert await kinds(store) == ["notification.queued"]


# The outbox: counts and due times


class TestCounts:
    async def test_empty_outbox_counts_nothing(self, store: AlertStore) -> None:
        assert await store.counts() == {}
        assert await store.channel_counts() == {}
        assert await store.next_due() is None

    async def test_counts_by_state_and_channel(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1", "chat"), outbox_entry("n2", "chat", "g2"),
                    outbox_entry("n1", "pager"))
        await store.claim("chat", T0, 1)

        assert await store.counts() == {PENDING: 2, CLAIMED: 1}
        assert await store.channel_counts() == {
            ("chat", CLAIMED): 1, ("chat", PENDING): 1, ("pager", PENDING): 1}

    async def test_next_due_per_channel(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1", "chat"), now=T0 + 20)
        await queue(store, outbox_entry("n1", "pager"), now=T0 + 10)

        assert await store.next_due() == T0 + 10
        assert await store.next_due("chat") == T0 + 20
        assert await store.next_due("pager") == T0 + 10
        assert await store.next_due("mail") is None

    async def test_claimed_entry_is_not_due(self, store: AlertStore) -> None:
        await queue(store, outbox_entry("n1"))
        await store.claim("chat", T0, 10)

        assert await store.next_due() is None
