"""Tests of the cluster mode's Redis client (snmpd_ng.cluster.redis_conn) against real servers."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path

import pytest
import redis
from daemon_helpers import write_self_signed_certificate
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import SSLConnection
from redis.exceptions import AuthenticationError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redisfix import (
    LOOPBACK,
    RedisClusterDeployment,
    RedisServer,
    SentinelDeployment,
    free_tcp_port,
    running_redis,
    running_sentinel,
    wait_until,
)
from structlog.testing import capture_logs

from snmpd_ng.cluster.keys import Keys
from snmpd_ng.cluster.redis_conn import (
    MAX_CONNECTIONS,
    ClusterRedisError,
    RedisClient,
    check_reachable,
    describe,
    explain_redis_error,
    open_redis,
    persistence_warning,
)
from snmpd_ng.cluster.settings import RedisSettings
from snmpd_ng.secret import Secret

TWO_KEY_SCRIPT = """
redis.call('SET', KEYS[1], ARGV[1])
redis.call('INCR', KEYS[2])
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])}
"""
"""Touches two keys in one script, which Redis Cluster allows only within one hash slot."""

FAILOVER_DEADLINE = 15.0
"""Seconds `wait_until_writable` keeps trying before it gives up."""
CLIENT_RECOVERY_LIMIT = 3.0
"""Seconds the client may take to write again once the Sentinels name the new master; it took
0.1 to 0.6 s on a 2-core machine."""


def unique_keys() -> Keys:
    return Keys(f"test-{uuid.uuid4().hex[:12]}")


async def run_command_and_script(client: RedisClient) -> None:
    """Run SET/GET and the two-key script under a fresh prefix; assert the bytes replies."""
    keys = unique_keys()
    first, second = keys.member("a"), keys.member("b")

    assert await client.set(first, b"hello") is True
    assert await client.get(first) == b"hello"
    reply = await client.eval(TWO_KEY_SCRIPT, 2, first, second, "value")  # type: ignore[misc]
    assert reply == [b"value", b"1"]


@pytest.fixture
async def opened() -> AsyncIterator[list[RedisClient]]:
    """Clients a test opens; they are closed at the end whatever the outcome."""
    clients: list[RedisClient] = []
    yield clients
    for client in clients:
        await client.aclose()


def open_for_test(settings: RedisSettings, opened: list[RedisClient]) -> RedisClient:
    client = open_redis(settings)
    opened.append(client)
    return client


def sentinel_settings(deployment: SentinelDeployment, **options: object) -> RedisSettings:
    return RedisSettings(sentinels=deployment.sentinel_addresses,
                         service_name=deployment.service_name, connect_timeout=0.5,
                         command_timeout=0.5, **options)  # type: ignore[arg-type]


def closed_port() -> int:
    """A loopback port that nothing listens on (free a moment ago)."""
    return free_tcp_port()


# Standalone


async def test_standalone_waits_for_free_connection(redis_server: RedisServer,
                                                    opened: list[RedisClient]) -> None:
    # More commands at once than the pool has connections: they wait rather than fail.
    client = open_for_test(RedisSettings(url=redis_server.url), opened)

    replies = await asyncio.gather(*(client.ping() for _ in range(3 * MAX_CONNECTIONS)))

    assert all(replies)


async def test_standalone_runs_command_and_script(redis_server: RedisServer,
                                                  opened: list[RedisClient]) -> None:
    settings = RedisSettings(url=redis_server.url)
    client = open_for_test(settings, opened)

    await check_reachable(client, settings)
    await run_command_and_script(client)


async def test_standalone_over_unix_socket(tmp_path: Path, opened: list[RedisClient]) -> None:
    path = tmp_path / "redis.sock"
    for _server in running_redis(tmp_path / "redis", extra_config=(f"unixsocket {path}",)):
        settings = RedisSettings(url=f"unix://{path}")
        client = open_for_test(settings, opened)

        await run_command_and_script(client)


async def test_standalone_over_tls(tmp_path: Path, opened: list[RedisClient]) -> None:
    cert, key = write_self_signed_certificate(tmp_path)
    tls_port = free_tcp_port()
    tls_config = (f"tls-port {tls_port}", f"tls-cert-file {cert}", f"tls-key-file {key}",
                  f"tls-ca-cert-file {cert}", "tls-auth-clients no")
    for _server in running_redis(tmp_path / "redis", extra_config=tls_config):
        settings = RedisSettings(url=f"rediss://{LOOPBACK}:{tls_port}/0?ssl_ca_certs={cert}")
        client = open_for_test(settings, opened)

        assert isinstance(client, Redis)
        assert client.connection_pool.connection_class is SSLConnection
        await run_command_and_script(client)


async def test_standalone_uses_database_from_settings(redis_server: RedisServer,
                                                      opened: list[RedisClient]) -> None:
    url = f"redis://{LOOPBACK}:{redis_server.port}"
    client = open_for_test(RedisSettings(url=url, db=3), opened)
    key = unique_keys().leader

    await client.set(key, b"in-db-3")

    admin = redis.Redis(host=LOOPBACK, port=redis_server.port, db=3)
    try:
        assert admin.get(key) == b"in-db-3"
    finally:
        admin.close()


async def test_standalone_repr_has_no_password(redis_password_server: RedisServer,
                                               opened: list[RedisClient]) -> None:
    password = redis_password_server.password
    assert password is not None
    client = open_for_test(RedisSettings(url=redis_password_server.url,
                                         password=Secret(password)), opened)

    await client.ping()

    assert password not in repr(client)
    assert password not in repr(client.connection_pool)


# Login and reachability errors


async def test_wrong_password_names_address_not_password(redis_password_server: RedisServer,
                                                         opened: list[RedisClient]) -> None:
    wrong = "wrong-" + uuid.uuid4().hex
    settings = RedisSettings(url=redis_password_server.url, password=Secret(wrong))
    client = open_for_test(settings, opened)

    with pytest.raises(ClusterRedisError) as raised:
        await check_reachable(client, settings)

    message = str(raised.value)
    assert f"127.0.0.1:{redis_password_server.port}" in message
    assert "cluster.redis.password" in message
    assert wrong not in message
    assert str(redis_password_server.password) not in message
    assert raised.value.__cause__ is None


async def test_missing_password_asks_for_one(redis_password_server: RedisServer,
                                             opened: list[RedisClient]) -> None:
    settings = RedisSettings(url=redis_password_server.url)
    client = open_for_test(settings, opened)

    with pytest.raises(ClusterRedisError) as raised:
        await check_reachable(client, settings)

    assert "requires a password: set cluster.redis.password" in str(raised.value)


async def test_wrong_acl_user_is_a_login_error(redis_server: RedisServer,
                                               opened: list[RedisClient]) -> None:
    secret = "acl-" + uuid.uuid4().hex
    settings = RedisSettings(url=redis_server.url, username="nobody", password=Secret(secret))
    client = open_for_test(settings, opened)

    with pytest.raises(ClusterRedisError, match=r"cluster\.redis\.username") as raised:
        await check_reachable(client, settings)

    assert secret not in str(raised.value)


async def test_nothing_listening_is_cluster_redis_error(opened: list[RedisClient]) -> None:
    port = closed_port()
    settings = RedisSettings(url=f"redis://{LOOPBACK}:{port}/0")
    client = open_for_test(settings, opened)

    with pytest.raises(ClusterRedisError) as raised:
        await check_reachable(client, settings)

    message = str(raised.value)
    assert message.startswith(f"cannot connect to Redis at redis://127.0.0.1:{port}/0 (")
    assert "check that Redis runs there" in message


async def test_silent_server_times_out(opened: list[RedisClient]) -> None:
    # A listening socket that never accepts: the TCP handshake succeeds, no reply ever comes.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        settings = RedisSettings(url=f"redis://{LOOPBACK}:{port}/0", connect_timeout=0.5,
                                 command_timeout=0.5)
        client = open_for_test(settings, opened)
        started = time.monotonic()

        with pytest.raises(ClusterRedisError, match="timed out"):
            await check_reachable(client, settings)

        # A timed-out command is not retried, so it costs one timeout of 0.5 s, not four.
        assert time.monotonic() - started < 1.0


def test_explain_redis_error_redacts_passwords() -> None:
    # redis-py does not quote passwords in its errors; this checks the last line of defence.
    password, sentinel_password = "pw-" + uuid.uuid4().hex, "spw-" + uuid.uuid4().hex
    settings = RedisSettings(url=f"redis://{LOOPBACK}:6379/0", password=Secret(password),
                             sentinel_password=Secret(sentinel_password))
    error = RedisConnectionError(f"reset after AUTH {password} / {sentinel_password}")

    message = explain_redis_error(settings, error)

    assert password not in message
    assert sentinel_password not in message
    assert "reset after AUTH <redacted> / <redacted>" in message


def test_explain_password_for_server_without_one() -> None:
    # Redis 5 replies so to AUTH on a server without requirepass; Redis 6 and later accept any
    # password for a default user with nopass, so no test server here produces this reply.
    settings = RedisSettings(url=f"redis://{LOOPBACK}:6379/0", password=Secret("unneeded"))
    error = AuthenticationError("Client sent AUTH, but no password is set")

    message = explain_redis_error(settings, error)

    assert "has no password configured but cluster.redis.password is set" in message


def test_explain_busy_pool_names_the_load() -> None:
    settings = RedisSettings(url=f"redis://{LOOPBACK}:6379/0", command_timeout=0.5)
    error = RedisConnectionError("No connection available.")

    message = explain_redis_error(settings, error)

    assert "pooled connections" in message
    assert "cannot connect" not in message


# open_redis and describe


def test_open_redis_without_address_raises() -> None:
    with pytest.raises(ClusterRedisError, match="neither a url nor sentinels"):
        open_redis(RedisSettings())


def test_open_redis_sentinel_without_service_name_raises() -> None:
    settings = RedisSettings(sentinels=((LOOPBACK, 26379),))

    with pytest.raises(ClusterRedisError, match="service_name is missing"):
        open_redis(settings)


def test_open_redis_rejects_unknown_scheme() -> None:
    with pytest.raises(ClusterRedisError, match=r"cluster.redis.url http://127.0.0.1:6379/0 is"):
        open_redis(RedisSettings(url="http://127.0.0.1:6379/0"))


def test_open_redis_cluster_rejects_database() -> None:
    settings = RedisSettings(url=f"redis://{LOOPBACK}:7000", cluster=True, db=2)

    with pytest.raises(ClusterRedisError, match="Redis Cluster has only database 0"):
        open_redis(settings)


def test_open_redis_sets_timeouts_and_bytes() -> None:
    settings = RedisSettings(url=f"redis://{LOOPBACK}:6379/0", connect_timeout=1.5,
                             command_timeout=0.75)
    client = open_redis(settings)
    options = client.connection_pool.connection_kwargs  # type: ignore[union-attr]

    assert options["socket_connect_timeout"] == 1.5
    assert options["socket_timeout"] == 0.75
    assert options["decode_responses"] is False


def test_open_redis_logs_no_password() -> None:
    secret = "log-" + uuid.uuid4().hex
    with capture_logs() as logs:
        open_redis(RedisSettings(url=f"redis://{LOOPBACK}:6379/0", password=Secret(secret)))

    assert logs
    assert all(secret not in repr(entry) for entry in logs)


def test_describe_drops_credentials_and_options() -> None:
    settings = RedisSettings(url="rediss://user:pa55@redis.example:6380/2?ssl_ca_certs=/ca.pem")

    assert describe(settings) == "rediss://redis.example:6380/2"


def test_describe_unix_socket() -> None:
    assert describe(RedisSettings(url="unix:///run/redis/redis.sock")) == (
        "unix:///run/redis/redis.sock")


def test_describe_sentinels_brackets_ipv6() -> None:
    settings = RedisSettings(sentinels=(("127.0.0.1", 26379), ("::1", 26380)),
                             service_name="main")

    assert describe(settings) == "sentinel://127.0.0.1:26379,[::1]:26380/main"


# Persistence


async def test_persistence_warning_none_with_appendonly(redis_server: RedisServer,
                                                       opened: list[RedisClient]) -> None:
    client = open_for_test(RedisSettings(url=redis_server.url), opened)

    assert await persistence_warning(client) is None


async def test_persistence_warning_without_appendonly(tmp_path: Path,
                                                      opened: list[RedisClient]) -> None:
    for server in running_redis(tmp_path / "redis", appendonly=False):
        client = open_for_test(RedisSettings(url=server.url), opened)

        warning = await persistence_warning(client)

        assert warning is not None
        assert f"127.0.0.1:{server.port}" in warning
        assert "appendonly no" in warning
        assert "is lost when Redis restarts" in warning
        assert "lost when Redis restarts" in warning
        assert "`appendonly yes`" in warning


async def test_persistence_warning_when_config_renamed(tmp_path: Path,
                                                       opened: list[RedisClient]) -> None:
    for server in running_redis(tmp_path / "redis", extra_config=('rename-command CONFIG ""',)):
        client = open_for_test(RedisSettings(url=server.url), opened)

        warning = await persistence_warning(client)

        assert warning is not None
        assert warning.startswith(f"cannot check whether Redis at 127.0.0.1:{server.port}")
        assert "unknown command" in warning
        assert "appendonly yes" in warning


async def test_persistence_warning_when_acl_denies_config(tmp_path: Path,
                                                          opened: list[RedisClient]) -> None:
    secret = "acl-" + uuid.uuid4().hex
    user = f"user poller on >{secret} ~* &* +@all -config"
    for server in running_redis(tmp_path / "redis", extra_config=(user,)):
        settings = RedisSettings(url=server.url, username="poller", password=Secret(secret))
        client = open_for_test(settings, opened)
        await check_reachable(client, settings)

        warning = await persistence_warning(client)

        assert warning is not None
        assert warning.startswith("cannot check whether Redis")
        assert "NOPERM" in warning or "no permissions" in warning
        assert secret not in warning


async def test_persistence_warning_unreachable_raises(opened: list[RedisClient]) -> None:
    port = closed_port()
    client = open_for_test(RedisSettings(url=f"redis://{LOOPBACK}:{port}/0"), opened)

    with pytest.raises(ClusterRedisError, match=f"cannot connect to Redis at 127.0.0.1:{port}: "):
        await persistence_warning(client)


# Sentinel


async def test_sentinel_runs_command_and_script(redis_sentinel: SentinelDeployment,
                                                opened: list[RedisClient]) -> None:
    settings = sentinel_settings(redis_sentinel)
    client = open_for_test(settings, opened)

    await check_reachable(client, settings)
    await run_command_and_script(client)

    assert await persistence_warning(client) is None


async def test_sentinel_persistence_warning_names_master(redis_sentinel: SentinelDeployment,
                                                        opened: list[RedisClient]) -> None:
    master = redis_sentinel.master()
    admin = master.admin()
    try:
        admin.config_set("appendonly", "no")
    finally:
        admin.close()
    client = open_for_test(sentinel_settings(redis_sentinel), opened)

    warning = await persistence_warning(client)

    assert warning is not None
    assert f"127.0.0.1:{master.port} (Sentinel master 'snmpd-ng-test')" in warning
    assert "appendonly no" in warning


async def wait_until_writable(client: RedisClient, key: str) -> float:
    """SET `key` until it succeeds; return the seconds that took."""
    started = time.monotonic()
    while True:
        try:
            await client.set(key, b"after")
            return time.monotonic() - started
        except RedisError:
            if time.monotonic() - started > FAILOVER_DEADLINE:
                raise
            await asyncio.sleep(0.05)


async def test_sentinel_follows_master_killed(redis_sentinel: SentinelDeployment,
                                              opened: list[RedisClient]) -> None:
    client = open_for_test(sentinel_settings(redis_sentinel), opened)
    keys = unique_keys()
    await client.set(keys.leader, b"before")
    # WAIT: the replica has the write before its master dies. Each WAIT's 400 ms limit stays
    # below the client's command_timeout of 0.5 s; a loaded machine may need several.
    acknowledged = 0
    for _ in range(25):
        acknowledged = await client.wait(1, 400)
        if acknowledged:
            break
    assert acknowledged == 1
    old_master = redis_sentinel.master()

    new_master = await asyncio.to_thread(redis_sentinel.kill_master)
    recovery = await wait_until_writable(client, keys.members)

    assert new_master.port != old_master.port
    assert recovery < CLIENT_RECOVERY_LIMIT
    assert await client.get(keys.leader) == b"before"
    admin = new_master.admin()
    try:
        assert admin.get(keys.members) == "after"
    finally:
        admin.close()


async def test_sentinel_follows_sentinel_failover(redis_sentinel: SentinelDeployment,
                                                  opened: list[RedisClient]) -> None:
    client = open_for_test(sentinel_settings(redis_sentinel), opened)
    keys = unique_keys()
    await client.set(keys.leader, b"before")
    old_master = redis_sentinel.master()

    new_master = await asyncio.to_thread(redis_sentinel.failover)
    # The old master still runs, now as a replica: writes there fail with READONLY until the
    # client asks Sentinel again.
    recovery = await wait_until_writable(client, keys.members)

    assert new_master.port != old_master.port
    assert recovery < CLIENT_RECOVERY_LIMIT
    admin = new_master.admin()
    try:
        assert admin.get(keys.members) == "after"
    finally:
        admin.close()


@pytest.fixture
def sentinel_with_passwords(tmp_path: Path) -> Iterator[SentinelDeployment]:
    yield from running_sentinel(tmp_path / "sentinel", password="master-" + uuid.uuid4().hex,
                                sentinel_password="sentinel-" + uuid.uuid4().hex)


async def test_sentinel_with_passwords(sentinel_with_passwords: SentinelDeployment,
                                       opened: list[RedisClient]) -> None:
    deployment = sentinel_with_passwords
    settings = sentinel_settings(deployment, password=Secret(str(deployment.password)),
                                 sentinel_password=Secret(str(deployment.sentinel_password)))
    client = open_for_test(settings, opened)

    await check_reachable(client, settings)
    await run_command_and_script(client)

    assert str(deployment.password) not in repr(client)
    assert str(deployment.sentinel_password) not in repr(client)


async def test_sentinel_wrong_sentinel_password(sentinel_with_passwords: SentinelDeployment,
                                                opened: list[RedisClient]) -> None:
    deployment = sentinel_with_passwords
    wrong = "wrong-" + uuid.uuid4().hex
    settings = sentinel_settings(deployment, password=Secret(str(deployment.password)),
                                 sentinel_password=Secret(wrong))
    client = open_for_test(settings, opened)

    with pytest.raises(ClusterRedisError) as raised:
        await check_reachable(client, settings)

    message = str(raised.value)
    assert f"sentinel://127.0.0.1:{deployment.sentinels[0].port}/" in message
    assert "cluster.redis.sentinel_password" in message
    assert wrong not in message
    assert str(deployment.password) not in message


async def test_sentinel_wrong_master_password(sentinel_with_passwords: SentinelDeployment,
                                              opened: list[RedisClient]) -> None:
    deployment = sentinel_with_passwords
    wrong = "wrong-" + uuid.uuid4().hex
    settings = sentinel_settings(deployment, password=Secret(wrong),
                                 sentinel_password=Secret(str(deployment.sentinel_password)))
    client = open_for_test(settings, opened)

    with pytest.raises(ClusterRedisError) as raised:
        await check_reachable(client, settings)

    message = str(raised.value)
    assert "rejected the login" in message
    assert "cluster.redis.password" in message
    assert wrong not in message
    assert str(deployment.sentinel_password) not in message


async def test_sentinel_unknown_service_name(redis_sentinel: SentinelDeployment,
                                             opened: list[RedisClient]) -> None:
    settings = RedisSettings(sentinels=redis_sentinel.sentinel_addresses, service_name="other")
    client = open_for_test(settings, opened)

    with pytest.raises(ClusterRedisError, match="names a healthy master 'other'"):
        await check_reachable(client, settings)


async def test_sentinel_nothing_listening(opened: list[RedisClient]) -> None:
    ports = closed_port(), closed_port()
    settings = RedisSettings(sentinels=((LOOPBACK, ports[0]), (LOOPBACK, ports[1])),
                             service_name="main")
    client = open_for_test(settings, opened)

    with pytest.raises(ClusterRedisError) as raised:
        await check_reachable(client, settings)

    expected = f"no Sentinel at sentinel://127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}/main could"
    assert str(raised.value).startswith(expected)
    assert "cluster.redis.sentinels" in str(raised.value)


async def test_sentinel_client_close_closes_sentinel_links(
        redis_sentinel: SentinelDeployment) -> None:
    sentinel = redis_sentinel.sentinels[0]
    admin = sentinel.admin()
    try:
        before = int(admin.info("clients")["connected_clients"])
        client = open_redis(sentinel_settings(redis_sentinel))
        await client.ping()
        during = int(admin.info("clients")["connected_clients"])

        await client.aclose()
        await asyncio.sleep(0.1)
        after = int(admin.info("clients")["connected_clients"])
    finally:
        admin.close()

    assert during == before + 1
    assert after == before


# Redis Cluster


async def test_redis_cluster_runs_command_and_script(redis_cluster: RedisClusterDeployment,
                                                     opened: list[RedisClient]) -> None:
    settings = RedisSettings(url=redis_cluster.url, cluster=True)
    client = open_for_test(settings, opened)

    await check_reachable(client, settings)
    await run_command_and_script(client)

    assert isinstance(client, RedisCluster)


async def test_redis_cluster_persistence_checks_every_primary(
        redis_cluster: RedisClusterDeployment, opened: list[RedisClient]) -> None:
    client = open_for_test(RedisSettings(url=redis_cluster.url, cluster=True), opened)
    assert await persistence_warning(client) is None

    node = redis_cluster.nodes[2]
    admin = node.admin()
    try:
        admin.config_set("appendonly", "no")
        warning = await persistence_warning(client)
    finally:
        admin.config_set("appendonly", "yes")
        # Turning appendonly on writes a first AOF in the background, and until it is written
        # the node ignores SIGTERM; the session's other tests and its shutdown need it done.
        wait_until(partial(initial_aof_written, admin), 10.0, "the first AOF file")
        admin.close()

    assert warning is not None
    assert f"127.0.0.1:{node.port} runs with appendonly no" in warning
    assert f"127.0.0.1:{redis_cluster.nodes[0].port}" not in warning


def initial_aof_written(admin: redis.Redis) -> bool:
    info = admin.info("persistence")
    return info["aof_enabled"] == 1 and info["aof_rewrite_in_progress"] == 0 and (
        info["aof_rewrite_scheduled"] == 0)


async def test_redis_cluster_on_standalone_server(redis_server: RedisServer,
                                                  opened: list[RedisClient]) -> None:
    settings = RedisSettings(url=redis_server.url, cluster=True)
    client = open_for_test(settings, opened)

    with pytest.raises(ClusterRedisError, match="cluster-enabled yes"):
        await check_reachable(client, settings)


async def test_redis_cluster_nothing_listening(opened: list[RedisClient]) -> None:
    port = closed_port()
    settings = RedisSettings(url=f"redis://{LOOPBACK}:{port}", cluster=True)
    client = open_for_test(settings, opened)

    with pytest.raises(ClusterRedisError, match=f"Redis Cluster at redis://127.0.0.1:{port}"):
        await check_reachable(client, settings)
