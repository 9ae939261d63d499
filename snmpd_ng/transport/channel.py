"""The transport's state for one target: address, limits, counters and warning rate limits."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

from snmpd_ng.ratelimit import WarningLimiter
from snmpd_ng.transport.errors import ResolutionError
from snmpd_ng.transport.limit import InFlightLimit
from snmpd_ng.transport.processing import MessageProcessing
from snmpd_ng.transport.stats import TargetStats

# Seconds after which a DNS name is resolved again. getaddrinfo does not return the record's TTL,
# so this is a fixed interval, and a timeout also makes the next request resolve the name again.
DNS_REFRESH_INTERVAL = 300.0


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """Settings of one target that the transport uses."""

    label: str
    host: str
    port: int
    timeout: float
    retries: int
    backoff: float
    max_in_flight: int
    source_address: str | None
    accept_any_source: bool


class Channel:
    """Per-target transport state. Create one per target and reuse it for every request."""

    def __init__(self, settings: ChannelSettings, processing: MessageProcessing, *,
                 dns_refresh_interval: float = DNS_REFRESH_INTERVAL) -> None:
        self.settings = settings
        self.label = settings.label
        self.processing = processing
        self.stats = TargetStats()
        self.warnings = WarningLimiter()
        self.limit = InFlightLimit(settings.max_in_flight)
        self._dns_refresh_interval = dns_refresh_interval
        self._literal = _parse_literal(settings.host, settings.port)
        self._resolved: tuple[int, tuple[str, int]] | None = self._literal
        self._resolved_at = 0.0

    @property
    def resolved(self) -> tuple[int, tuple[str, int]] | None:
        """The address family and (host, port) last resolved, or None before the first request."""
        return self._resolved

    def cached(self, now: float) -> tuple[int, tuple[str, int]] | None:
        """Return the family and (host, port) to send to, or None when a lookup is due.

        `now` is the loop's time. This is the fast path of `resolve()`, without an await.
        """
        resolved = self._resolved
        if resolved is not None and (
            self._literal is not None or now - self._resolved_at < self._dns_refresh_interval
        ):
            return resolved
        return None

    async def resolve(self, loop: asyncio.AbstractEventLoop) -> tuple[int, tuple[str, int]]:
        """Return the family and (host, port) to send to, resolving a DNS name when due."""
        resolved = self.cached(loop.time())
        if resolved is not None:
            return resolved
        resolved = await self._lookup(loop)
        self._resolved = resolved
        self._resolved_at = loop.time()
        return resolved

    def forget_resolution(self) -> None:
        """Resolve the name again on the next request, because a timeout may mean it moved."""
        if self._literal is None:
            self._resolved = None

    async def _lookup(self, loop: asyncio.AbstractEventLoop) -> tuple[int, tuple[str, int]]:
        settings = self.settings
        family = _family_of(settings.source_address)
        try:
            infos = await loop.getaddrinfo(settings.host, settings.port, family=family,
                                           type=socket.SOCK_DGRAM, proto=socket.IPPROTO_UDP)
        except (socket.gaierror, UnicodeError) as exc:
            raise ResolutionError(target=self.label, host=settings.host, reason=str(exc)) from exc
        if not infos:
            raise ResolutionError(target=self.label, host=settings.host,
                                  reason="no address returned")
        found_family, _, _, _, sockaddr = infos[0]
        return int(found_family), (str(sockaddr[0]), int(sockaddr[1]))


def _parse_literal(host: str, port: int) -> tuple[int, tuple[str, int]] | None:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    return int(family), (address.compressed, port)


def _family_of(source_address: str | None) -> int:
    """Return the family a name must resolve to so that the source address can send to it."""
    if source_address is None:
        return socket.AF_UNSPEC
    literal = _parse_literal(source_address, 0)
    return literal[0] if literal is not None else socket.AF_UNSPEC
