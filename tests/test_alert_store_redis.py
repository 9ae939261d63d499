"""Behaviour of the Redis alert store beyond the AlertStore contract: failures of Redis, the
leader fence and the key layout. The contract itself runs in test_alert_store_contract.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redisfix import RedisClusterDeployment, RedisServer

from snmpd_ng.alerting import redis_store_scripts as scripts
from snmpd_ng.alerting.backend import StateChanges, StoreError
from snmpd_ng.alerting.history import HistoryEntry
from snmpd_ng.alerting.notification import AlertView, Notification
from snmpd_ng.alerting.outbox_entry import DELIVERED, PENDING, OutboxEntry, OutboxOutcome
from snmpd_ng.alerting.redis_store import RedisAlertStore, changes_arguments, leader_key
from snmpd_ng.cluster.redis_conn import RedisClient, open_redis
from snmpd_ng.cluster.settings import RedisSettings

T0 = 1_714_996_800.0
"""Unix seconds: 2024-05-06T12:00:00Z."""


@pytest.fixture
def tag() -> str:
    """A hash tag of the test's own on the shared Redis."""
    return f"test-{uuid.uuid4().hex}"


def client_for(url: str, *, cluster: bool = False, command_timeout: float = 0.5) -> RedisClient:
    return open_redis(RedisSettings(url=url, cluster=cluster, connect_timeout=0.5,
                                    command_timeout=command_timeout))


@asynccontextmanager
async def opened(client: RedisClient, tag: str, *,
                 leader_check: Callable[[], str | None] | None = None,
                 ) -> AsyncIterator[RedisAlertStore]:
    """An open store on `client` under the tag's key base; closes the store and the client."""
    store = RedisAlertStore(client, "{" + tag + "}:alerts:", leader_check=leader_check)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
        await client.aclose()


def some_changes(value: int) -> StateChanges:
    """An alert row, a history entry and an outbox entry: one of each part of a unit."""
    changes = StateChanges()
    changes.put("alerts", "fp1", {"fingerprint": "fp1", "value": value})
    changes.record(HistoryEntry(at=T0 + value, kind=f"alert.step{value}", actor="rules",
                                fingerprint="fp1", group_key="g1"))
    view = AlertView(fingerprint="fp1", rule="LinkDown", severity="critical", state="firing",
                     labels={"target": "core1"}, annotations={}, value=1.0, starts_at=T0)
    notification = Notification(id=f"n{value}", event="firing", group_key="g1", alerts=(view,),
                                receiver="team", tier=1)
    changes.enqueue([OutboxEntry(notification, "chat", T0)], T0 + value)
    return changes


async def delivered(store: RedisAlertStore) -> None:
    """Claim the one due entry and record its delivery, with a reference."""
    (entry,) = await store.claim("chat", T0 + 10, 10)
    history = HistoryEntry(at=T0 + 11, kind="notification.delivered", actor="outbox",
                           group_key="g1")
    await store.record_outcome(OutboxOutcome(entry, DELIVERED, T0 + 11, "sent", history,
                                             reference="NET-1"))


# Redis failures


async def test_apply_with_redis_killed_raises(own_redis: RedisServer, tag: str) -> None:
    async with opened(client_for(own_redis.url), tag) as store:
        await store.apply(some_changes(1))
        own_redis.kill()

        with pytest.raises(StoreError, match="alert store in Redis"):
            await store.apply(some_changes(2))


async def test_apply_cut_by_crash_writes_nothing(own_redis: RedisServer, tag: str) -> None:
    admin = Redis.from_url(own_redis.url)
    # The client waits longer than the pause, so the crash ends the call and no timeout does.
    async with opened(client_for(own_redis.url, command_timeout=20.0), tag) as store:
        await store.apply(some_changes(1))
        # While paused, Redis delays the script call, so the crash comes after it was sent.
        await admin.client_pause(10_000, all=False)
        pending = asyncio.create_task(store.apply(some_changes(2)))
        await wait_for_paused_call(admin)
        own_redis.kill()
        with pytest.raises(StoreError):
            await pending
        own_redis.start()
        saved = await store.load_state()
        kinds = [entry.kind for entry in await store.history(None, 100)]
        counts = await store.counts()
    await admin.aclose()

    assert saved.alerts == [{"fingerprint": "fp1", "value": 1}]
    assert kinds == ["alert.step1", "notification.queued"]
    assert counts == {PENDING: 1}


async def wait_for_paused_call(admin: Redis) -> None:
    """Return once another client's EVALSHA waits in Redis for the pause to end.

    Redis 7.0 lists such a client with flag b (blocked) and its pending command.
    """
    for _ in range(500):
        clients = await admin.client_list()
        if any(client["cmd"] == "evalsha" and "b" in client["flags"] for client in clients):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no script call reached the paused Redis within 5 s")


async def test_applied_unit_survives_crash(own_redis: RedisServer, tag: str) -> None:
    async with opened(client_for(own_redis.url), tag) as store:
        await store.apply(some_changes(1))
        own_redis.kill()
        own_redis.start()

        assert (await store.load_state()).alerts == [{"fingerprint": "fp1", "value": 1}]
        assert await store.counts() == {PENDING: 1}


async def test_submit_with_redis_down_is_counted(own_redis: RedisServer, tag: str) -> None:
    async with opened(client_for(own_redis.url), tag) as store:
        own_redis.kill()
        store.submit(some_changes(1))
        await store.sync()
        own_redis.start()
        await store.apply(some_changes(2))

        assert store.failed_writes == 1
        assert (await store.load_state()).alerts == [{"fingerprint": "fp1", "value": 2}]


async def test_open_without_redis_raises(own_redis: RedisServer, tag: str) -> None:
    own_redis.kill()
    store = RedisAlertStore(client_for(own_redis.url), "{" + tag + "}:alerts:")

    with pytest.raises(StoreError, match="cannot open the alert store in Redis"):
        await store.open()
    assert not store.is_open
    await store.client.aclose()


# Calls that reach Redis twice


async def test_repeated_apply_call_writes_once(redis_server: RedisServer, tag: str) -> None:
    admin = Redis.from_url(redis_server.url)
    apply = admin.register_script(scripts.APPLY)
    arguments = ["{" + tag + "}:leader", "", "operation-1", *changes_arguments(some_changes(1))]
    for _ in range(2):
        await apply(keys=["{" + tag + "}:alerts:"], args=arguments)
    await admin.aclose()
    async with opened(client_for(redis_server.url), tag) as store:
        kinds = [entry.kind for entry in await store.history(None, 10)]

    assert kinds == ["alert.step1", "notification.queued"]


async def test_repeated_claim_call_returns_same(redis_server: RedisServer, tag: str) -> None:
    async with opened(client_for(redis_server.url), tag) as store:
        await store.apply(some_changes(1))
        await store.apply(some_changes(2))
    admin = Redis.from_url(redis_server.url)
    claim = admin.register_script(scripts.CLAIM)
    arguments = ["{" + tag + "}:leader", "", "operation-1", "chat", repr(T0 + 10), "1"]
    first = await claim(keys=["{" + tag + "}:alerts:"], args=arguments)
    second = await claim(keys=["{" + tag + "}:alerts:"], args=arguments)
    await admin.aclose()

    assert len(first) == 1
    assert second == first


# The leader fence


async def test_write_with_other_leader_rejected(redis_server: RedisServer, tag: str) -> None:
    admin = Redis.from_url(redis_server.url)
    await admin.set("{" + tag + "}:leader", "node-b")
    async with opened(client_for(redis_server.url), tag, leader_check=lambda: "node-a") as store:
        with pytest.raises(StoreError, match="not the leader"):
            await store.apply(some_changes(1))

        assert (await store.load_state()).alerts == []
        assert await store.history(None, 10) == []
    await admin.aclose()


async def test_write_as_leader_goes_ahead(redis_server: RedisServer, tag: str) -> None:
    admin = Redis.from_url(redis_server.url)
    await admin.set("{" + tag + "}:leader", "node-a")
    async with opened(client_for(redis_server.url), tag, leader_check=lambda: "node-a") as store:
        await store.apply(some_changes(1))
        await delivered(store)

        assert await store.counts() == {DELIVERED: 1}
    await admin.aclose()


async def test_claim_without_leader_key_rejected(redis_server: RedisServer, tag: str) -> None:
    async with opened(client_for(redis_server.url), tag) as unfenced:
        await unfenced.apply(some_changes(1))
    async with opened(client_for(redis_server.url), tag, leader_check=lambda: "node-a") as store:
        with pytest.raises(StoreError, match="not the leader"):
            await store.claim("chat", T0 + 10, 10)

        assert await store.counts() == {PENDING: 1}


async def test_node_not_leader_writes_nothing(redis_server: RedisServer, tag: str) -> None:
    async with opened(client_for(redis_server.url), tag, leader_check=lambda: None) as store:
        store.submit(some_changes(1))
        with pytest.raises(StoreError, match="not the leader"):
            await store.apply(some_changes(2))

        assert store.failed_writes == 1
        assert (await store.load_state()).alerts == []


# Empty names are names, as in SQLite


async def test_empty_names_match_nothing(redis_server: RedisServer, tag: str) -> None:
    async with opened(client_for(redis_server.url), tag) as store:
        await store.apply(some_changes(1))

        assert await store.history("", 10) == []
        assert (await store.history_page(limit=10, kind="")).entries == []
        assert await store.next_due("") is None


# The key layout


async def test_every_key_carries_the_hash_tag(redis_server: RedisServer, tag: str) -> None:
    admin = Redis.from_url(redis_server.url)
    before = await key_names(admin)
    async with opened(client_for(redis_server.url), tag) as store:
        await store.apply(some_changes(1))
        await delivered(store)
        await store.requeue_claimed(T0 + 20, "test")
        await store.dead_letter_unknown(frozenset(), T0 + 20)
    created = await key_names(admin) - before
    await admin.aclose()

    assert len(created) > 10
    assert [key for key in created if not key.startswith("{" + tag + "}:")] == []


async def key_names(admin: Redis) -> set[str]:
    return {key.decode() if isinstance(key, bytes) else key for key in await admin.keys("*")}


def test_key_base_without_hash_tag_rejected() -> None:
    with pytest.raises(ValueError, match="hash tag"):
        leader_key("alerts:")


def test_leader_key_is_the_cluster_leader() -> None:
    assert leader_key("{snmpd}:alerts:") == "{snmpd}:leader"


async def test_store_works_on_redis_cluster(redis_cluster: RedisClusterDeployment,
                                            tag: str) -> None:
    client = client_for(redis_cluster.url, cluster=True)
    assert isinstance(client, RedisCluster)
    async with opened(client, tag) as store:
        await store.apply(some_changes(1))
        await delivered(store)
        references = await store.references("g1", T0)
        kinds = [entry.kind for entry in await store.history("fp1", 10)]

    assert references == {"chat": "NET-1"}
    assert kinds == ["alert.step1", "notification.queued", "notification.attempt",
                     "notification.delivered"]
