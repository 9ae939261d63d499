"""Opening the Redis client of cluster mode: standalone, Sentinel or Redis Cluster.

Every client returns bytes (`decode_responses=False`), connects lazily at its first command and
retries a command whose connection failed a few times with a short backoff. On standalone Redis
and Sentinel a command that timed out is not retried, because it may have run and waiting again
would delay a lease renewal by another `command_timeout`. redis-py's Redis Cluster client retries
timeouts and CLUSTERDOWN replies too, with the same count and backoff. `check_reachable` turns
redis-py's exceptions into `ClusterRedisError`, whose message names the Redis address (never a
credential) and the setting to check.
"""

from __future__ import annotations

from typing import Any, TypeAlias
from urllib.parse import urlsplit

import structlog
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import (
    AuthenticationError,
    ClusterDownError,
    RedisClusterException,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from snmpd_ng.cluster.settings import RedisSettings
from snmpd_ng.secret import Secret

log = structlog.get_logger(__name__)

RedisClient: TypeAlias = Redis | RedisCluster
"""The client type of the cluster modules: both classes run the same commands and Lua scripts."""

COMMAND_RETRIES = 3
"""Retries of a command whose connection failed, before the error reaches the caller."""
RETRY_BACKOFF_BASE = 0.05
RETRY_BACKOFF_CAP = 0.5
"""Seconds: the n-th retry waits a random time up to min(cap, base * 2**n)."""

REDACTED = "<redacted>"


REDIS_ERRORS = (RedisError, RedisClusterException, OSError)
"""Exceptions of a failed Redis call. RedisClusterException covers an unreachable Redis Cluster
(it is no RedisError), and OSError the builtin TimeoutError of a bounded call."""


class ClusterRedisError(Exception):
    """Redis could not be reached or rejected a command. The message names the address and what
    to check."""


def open_redis(settings: RedisSettings) -> RedisClient:
    """Build the client for `settings`. It connects lazily, at its first command.

    Raises ClusterRedisError when the settings cannot describe a client (no address, a Sentinel
    without a service name, a URL redis-py rejects, a database other than 0 on Redis Cluster).
    """
    if settings.sentinels:
        client: RedisClient = _open_sentinel_master(settings)
        mode = "sentinel"
    elif settings.url is None:
        raise ClusterRedisError("cluster.redis has neither a url nor sentinels: set one of them")
    elif settings.cluster:
        client = _open_redis_cluster(settings, settings.url)
        mode = "redis-cluster"
    else:
        client = _open_standalone(settings, settings.url)
        mode = "standalone"

    log.debug("redis client created", redis=describe(settings), mode=mode)
    return client


MAX_CONNECTIONS = 64
"""Maximum connections to one Redis server per client. This is enough for a busy node, because
each command uses a connection only for one round trip."""
POOL_MAX_CONNECTIONS = 1024
"""The limit of the Sentinel and Redis Cluster pools, which fail at once when it is reached."""


def _connection_options(settings: RedisSettings) -> dict[str, Any]:
    """Keyword arguments shared by the connections to a Redis server (not to a Sentinel)."""
    # NOTE: redis-py also retries a command whose connection broke after it was sent, so a
    # write may reach Redis twice. The cluster's Lua scripts have to tolerate a repeat.
    retry = Retry(ExponentialWithJitterBackoff(cap=RETRY_BACKOFF_CAP, base=RETRY_BACKOFF_BASE),
                  COMMAND_RETRIES, supported_errors=(RedisConnectionError,),
                  is_retryable=_is_retryable)
    return {
        "username": settings.username,
        "password": _reveal(settings.password),
        "socket_connect_timeout": settings.connect_timeout,
        "socket_timeout": settings.command_timeout,
        "decode_responses": False,
        "retry": retry,
    }


def _is_retryable(exc: Exception) -> bool:
    # AuthenticationError is a ConnectionError, but the same login fails again.
    return not isinstance(exc, AuthenticationError)


def _open_standalone(settings: RedisSettings, url: str) -> Redis:
    # A database number in the URL's path takes precedence over `db` (redis-py's rule).
    # A busy node runs up to max_concurrent_polls polls, each writing to Redis. In a blocking
    # pool a command waits for a free connection (up to command_timeout), whereas redis-py's
    # default pool fails at once when every connection is busy.
    try:
        pool = BlockingConnectionPool.from_url(
            url, db=settings.db, max_connections=MAX_CONNECTIONS,
            timeout=settings.command_timeout, **_connection_options(settings))
    except ValueError as exc:
        raise ClusterRedisError(_invalid_url_message(settings, exc)) from None
    return Redis(connection_pool=pool)


def _open_redis_cluster(settings: RedisSettings, url: str) -> RedisCluster:
    if settings.db != 0:
        raise ClusterRedisError(
            f"cluster.redis.db is {settings.db}, but Redis Cluster has only database 0: "
            "remove db or set it to 0")
    try:
        # NOTE: redis-py's cluster pool fails at once when full rather than waiting, so its
        # limit is set far above what max_concurrent_polls can use.
        return RedisCluster.from_url(url, max_connections=POOL_MAX_CONNECTIONS,
                                     **_connection_options(settings))
    except (ValueError, RedisClusterException) as exc:
        raise ClusterRedisError(_invalid_url_message(settings, exc)) from None


def _invalid_url_message(settings: RedisSettings, exc: Exception) -> str:
    reason = _redact(str(exc), settings)
    return f"cluster.redis.url {describe(settings)} is invalid: {reason}"


class _SentinelMasterPool(SentinelConnectionPool):
    """A SentinelConnectionPool that also closes the connections to the Sentinels on close.

    redis-py leaves those open when the master's client closes, because a `Sentinel` may serve
    several clients. Here each client has a `Sentinel` of its own.
    """

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            await self.sentinel_manager.aclose()


def _open_sentinel_master(settings: RedisSettings) -> Redis:
    """Build a client of the master that Sentinel names, which follows a failover by itself.

    Before each new connection the pool requests the master's address from the Sentinels, and
    a connection to a master that was demoted (READONLY replies) is closed and opened again.
    """
    # NOTE: an open connection is not moved when the Sentinels promote a replica while the old
    # master still runs. Its writes go to the old master until Sentinel 7.0 demotes it at its
    # next INFO, up to 10 s later, and are lost then.
    if not settings.service_name:
        raise ClusterRedisError(
            "cluster.redis.sentinels is set but service_name is missing: set it to the name "
            "the Sentinels monitor the master under (sentinel monitor <name> ...)")
    sentinel_options = {
        "password": _reveal(settings.sentinel_password),
        "socket_connect_timeout": settings.connect_timeout,
        "socket_timeout": settings.command_timeout,
    }
    sentinel = Sentinel(list(settings.sentinels), sentinel_kwargs=sentinel_options,
                        **_connection_options(settings))
    # NOTE: the Sentinel pool fails at once when full rather than waiting, so its limit is set
    # far above what max_concurrent_polls can use.
    master: Redis = sentinel.master_for(settings.service_name,
                                        connection_pool_class=_SentinelMasterPool,
                                        db=settings.db, max_connections=POOL_MAX_CONNECTIONS)
    return master


def describe(settings: RedisSettings) -> str:
    """Name where Redis is for logs and messages, never with credentials or URL options."""
    if settings.sentinels:
        hosts = ",".join(_host_port(host, port) for host, port in settings.sentinels)
        return f"sentinel://{hosts}/{settings.service_name}"
    if not settings.url:
        return "(none)"
    parts = urlsplit(settings.url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _reveal(secret: Secret | None) -> str | None:
    return secret.reveal().decode() if secret else None


def _redact(text: str, settings: RedisSettings) -> str:
    """Remove the passwords from a message that quotes redis-py or a server."""
    for secret in (settings.password, settings.sentinel_password):
        value = _reveal(secret)
        if value:
            text = text.replace(value, REDACTED)
    return text


async def check_reachable(client: RedisClient, settings: RedisSettings) -> None:
    """Send PING; raise ClusterRedisError naming the address and what to check when it fails."""
    try:
        await client.ping()
    except (RedisError, RedisClusterException) as exc:
        raise ClusterRedisError(explain_redis_error(settings, exc)) from None


def explain_redis_error(settings: RedisSettings, exc: BaseException) -> str:
    """Turn a redis-py exception into a message for the user, without credentials."""
    return _redact(_explain(settings, exc), settings)


def _explain(settings: RedisSettings, exc: BaseException) -> str:
    server = _server_name(settings)
    if isinstance(exc, RedisClusterException) and isinstance(exc.__cause__, RedisError):
        # The slot map could not be read because a login or a connection failed: explain that.
        return _explain(settings, exc.__cause__)
    if isinstance(exc, MasterNotFoundError):
        return _explain_master_not_found(settings, str(exc))
    if isinstance(exc, AuthenticationError) or _is_auth_reply(exc):
        return _explain_login(server, exc)
    if isinstance(exc, RedisTimeoutError):
        return (f"{server} timed out ({exc}): check that it runs and is not overloaded, or "
                "raise cluster.redis.connect_timeout and command_timeout")
    if isinstance(exc, RedisConnectionError) and str(exc) == POOL_EXHAUSTED:
        return (f"every one of the {MAX_CONNECTIONS} pooled connections to {server} stayed "
                f"busy for cluster.redis.command_timeout ({settings.command_timeout:g} s): "
                "Redis answers too slowly for this node's load; check Redis's latency, or "
                "raise command_timeout")
    if isinstance(exc, RedisConnectionError):
        return (f"cannot connect to {server} ({exc}): check that Redis runs there and "
                f"{_address_settings(settings)}")
    if isinstance(exc, RedisClusterException):
        return (f"cannot read the slot map of {server} ({exc}): check that cluster.redis.url "
                "points at a node with cluster-enabled yes, or set cluster.redis.cluster to "
                "false for a standalone server")
    return f"{server} failed: {exc}"


POOL_EXHAUSTED = "No connection available."
"""redis-py's message when a blocking pool had no free connection within its timeout."""


def _server_name(settings: RedisSettings) -> str:
    kind = "Redis Cluster" if settings.cluster and not settings.sentinels else "Redis"
    return f"{kind} at {describe(settings)}"


def _address_settings(settings: RedisSettings) -> str:
    if settings.sentinels:
        return "that the Sentinels name a master this host can reach"
    return "that cluster.redis.url is right"


def _is_auth_reply(exc: BaseException) -> bool:
    """True for NOAUTH and WRONGPASS replies that redis-py raised as a plain ResponseError."""
    return isinstance(exc, ResponseError) and str(exc).startswith(("NOAUTH", "WRONGPASS"))


def _explain_login(server: str, exc: BaseException) -> str:
    reply = str(exc)
    # redis-py 8 keeps the reply's first word (NOAUTH, WRONGPASS) in `status_code`.
    if getattr(exc, "status_code", None) == "NOAUTH" or reply.startswith("NOAUTH"):
        return f"{server} requires a password: set cluster.redis.password"
    # Redis 5 and the one-argument AUTH of Redis 6 and later; a `nopass` ACL user accepts any.
    if "no password is set" in reply or "without any password configured" in reply:
        return (f"{server} has no password configured but cluster.redis.password is set: "
                "remove the password, or set requirepass on the server")
    return (f"{server} rejected the login ({reply}): check cluster.redis.username and "
            "cluster.redis.password")


def _explain_master_not_found(settings: RedisSettings, text: str) -> str:
    """Explain redis-py's MasterNotFoundError, whose text lists each Sentinel's error."""
    where = describe(settings)
    # The text is "No master found for '<name>'" and, when Sentinels failed, " : " and their
    # errors as "<client repr> - <exception repr>" (redis-py 8.2).
    if "AuthenticationError" in text:
        return (f"a Sentinel at {where} rejected the login: check "
                "cluster.redis.sentinel_password (the Sentinels' requirepass)")
    if "ConnectionError" in text or "TimeoutError" in text:
        return (f"no Sentinel at {where} could be reached: check that the Sentinels run and that "
                "cluster.redis.sentinels lists their addresses")
    return (f"no Sentinel at {where} names a healthy master {settings.service_name!r}: check "
            "cluster.redis.service_name against `SENTINEL MASTERS` on a Sentinel (the master "
            "may also be down or in the middle of a failover)")


async def persistence_warning(client: RedisClient) -> str | None:
    """Return a warning when Redis keeps no append-only file, else None.

    On Redis Cluster every primary is checked, since the cluster's slot may move to any of them.
    Raises ClusterRedisError only when Redis cannot be reached.
    """
    try:
        values = await _appendonly_by_server(client)
    except ClusterDownError as exc:
        where = client_address(client)
        raise ClusterRedisError(f"Redis Cluster at {where} is down: {exc}") from None
    except ResponseError as exc:
        # Managed services rename CONFIG or an ACL denies it (NOPERM): both are ResponseErrors.
        reason = f"CONFIG GET was rejected: {exc}"
        return _unchecked_persistence_text(client_address(client), reason)
    except (RedisError, RedisClusterException) as exc:
        raise ClusterRedisError(
            f"cannot connect to Redis at {client_address(client)}: {exc}") from None

    if not values or None in values.values():
        reason = "CONFIG GET returned no appendonly setting"
        return _unchecked_persistence_text(client_address(client), reason)
    off = sorted(server for server, value in values.items() if value != "yes")
    if not off:
        return None
    return (f"Redis at {', '.join(off)} runs with appendonly no, so the cluster's state "
            "(members, leases, fencing tokens, the poll log and the shared cache) is lost when "
            "Redis restarts, and every node rejoins from scratch: set `appendonly yes` in "
            "redis.conf, or run CONFIG SET appendonly yes and then CONFIG REWRITE")


def _unchecked_persistence_text(where: str, reason: str) -> str:
    return (f"cannot check whether Redis at {where} keeps an append-only file ({reason}); "
            "managed Redis services often block CONFIG. Make sure the service persists its data "
            "(appendonly yes), or the cluster's state is lost when Redis restarts")


async def _appendonly_by_server(client: RedisClient) -> dict[str, str | None]:
    """Read `appendonly` from the server, or from each primary of a Redis Cluster."""
    if not isinstance(client, RedisCluster):
        reply = await client.config_get("appendonly")
        return {client_address(client): _appendonly_value(reply)}

    await client.initialize()
    values: dict[str, str | None] = {}
    for node in client.get_primaries():
        reply = await client.config_get("appendonly", target_nodes=node)
        values[node.name] = _appendonly_value(reply)
    return values


def _appendonly_value(reply: object) -> str | None:
    # redis-py decodes CONFIG GET replies to str even with decode_responses=False (8.2).
    if not isinstance(reply, dict):
        return None
    value = reply.get("appendonly")
    return value if isinstance(value, str) else None


def client_address(client: RedisClient) -> str:
    """Name the server or servers `client` talks to, without credentials."""
    if isinstance(client, RedisCluster):
        return ",".join(sorted(client.nodes_manager.startup_nodes))
    pool = client.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        # The master's address is known once the pool has asked the Sentinels for it.
        name = f"Sentinel master {pool.service_name!r}"
        if pool.master_address is None:
            return name
        host, port = pool.master_address
        return f"{_host_port(str(host), int(port))} ({name})"
    options = pool.connection_kwargs
    if options.get("path"):
        return f"unix://{options['path']}"
    return _host_port(str(options.get("host")), int(options.get("port", 6379)))
