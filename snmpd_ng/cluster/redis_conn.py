"""Opening the Redis client of cluster mode: standalone, Sentinel or Redis Cluster."""

from __future__ import annotations

from typing import TypeAlias

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from snmpd_ng.cluster.settings import RedisSettings

RedisClient: TypeAlias = Redis | RedisCluster
"""What the cluster modules talk to; both run the same commands and Lua scripts."""


class ClusterRedisError(Exception):
    """Redis could not be reached or refused a command; the message says what and where."""


def open_redis(settings: RedisSettings) -> RedisClient:
    """Build the client for `settings`; it connects lazily, at its first command."""
    # TODO: Sentinel and Redis Cluster (the settings already carry them).
    assert settings.url is not None
    password = settings.password.reveal().decode() if settings.password else None
    return Redis.from_url(settings.url, username=settings.username, password=password,
                          socket_connect_timeout=settings.connect_timeout,
                          socket_timeout=settings.command_timeout, decode_responses=False)


def describe(settings: RedisSettings) -> str:
    """Name where Redis is for logs and /cluster, never with credentials."""
    if settings.sentinels:
        hosts = ",".join(f"{host}:{port}" for host, port in settings.sentinels)
        return f"sentinel://{hosts}/{settings.service_name}"
    return settings.url.split("@")[-1] if settings.url else "(none)"


async def persistence_warning(client: RedisClient) -> str | None:
    """Return a warning when Redis keeps no append-only file, else None."""
    # TODO: implement (CONFIG GET appendonly; a server that refuses CONFIG gets its own text).
    return None
