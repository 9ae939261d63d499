"""The trap port: UDP sockets whose datagrams go through `TrapDecoder`, with responses sent back.

Each socket is an `asyncio.DatagramProtocol`, and every socket hands its datagrams to one
`TrapHandler`: per-source rate limit, decode, count, respond to an inform or a discovery probe,
and queue the event for the rules. Nothing here waits, so a storm of traps costs CPU time and
never blocks the loop; what the rules cannot take in time is dropped and counted.

Sockets come from systemd's socket activation when it passed datagram sockets named
`socket_name` (see `activation`), else they are bound to the configured addresses. An IPv6
socket is bound with IPV6_V6ONLY, so "0.0.0.0:162" and "[::]:162" can be bound together.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from snmpd_ng.alerting.traps.activation import (
    ActivationError,
    listen_fds,
    take_datagram_sockets,
)
from snmpd_ng.alerting.traps.decode import DropKind, TrapDecoder, TrapDropped
from snmpd_ng.alerting.traps.event import TrapEvent
from snmpd_ng.alerting.traps.limits import LogGate, SourceRateLimit
from snmpd_ng.alerting.traps.stats import TrapStats
from snmpd_ng.clock import Clock
from snmpd_ng.protocol.errors import SnmpError
from snmpd_ng.protocol.oid import format_oid

log = structlog.get_logger("snmpd_ng.traps")

SocketAddress = tuple[Any, ...]
Sender = Callable[[bytes, SocketAddress], None]

RECEIVE_BUFFER_SIZE = 4 * 1024 * 1024
"""Bytes asked for with SO_RCVBUF, so that a burst of traps from many devices (a power cut
that restarts them all) waits in the kernel while the loop works."""
# Ports below this need CAP_NET_BIND_SERVICE on Linux (net.ipv4.ip_unprivileged_port_start).
_PRIVILEGED_PORTS = 1024


class TrapReceiverError(SnmpError):
    """A trap socket that cannot be opened. The message names what to change."""


def source_host(address: SocketAddress) -> str:
    """Return the sender's IP address; an IPv4-mapped IPv6 address becomes dotted IPv4."""
    host = str(address[0])
    try:
        parsed = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(parsed)


class TrapHandler:
    """The handling of each datagram, shared by every socket of the receiver."""

    def __init__(self, decoder: TrapDecoder, limits: SourceRateLimit, events: asyncio.Queue[Any],
                 clock: Clock, *, stats: TrapStats | None = None,
                 log_gate: LogGate | None = None) -> None:
        self.decoder = decoder
        self.stats = stats if stats is not None else TrapStats()
        self._limits = limits
        self._events: asyncio.Queue[TrapEvent] = events
        self._clock = clock
        self._log_gate = log_gate if log_gate is not None else LogGate()

    def handle(self, data: bytes, address: SocketAddress, send: Sender) -> None:
        """Rate-limit, decode and respond to one datagram, and queue its event for the rules."""
        now, wall = self._clock.now(), self._clock.wall()
        stats = self.stats
        stats.received += 1
        source = source_host(address)
        if not self._limits.admit(source, now):
            stats.rate_limited += 1
            self._warn(source, "rate_limited", now, "trap datagrams dropped by the rate limit",
                       hint="raise alerting.traps.rate_limit, or find why the source sends "
                            "so many")
            return

        try:
            decoded = self.decoder.decode(data, source, int(address[1]), now, wall)
        except TrapDropped as exc:
            self._dropped(exc, source, address, send, now)
            return
        event = decoded.event
        stats.count_version(event.version_name)
        if decoded.reply is not None:
            send(decoded.reply, address)
            stats.informs_acknowledged += 1
        self._queue(event, now)

    def _queue(self, event: TrapEvent, now: float) -> None:
        try:
            self._events.put_nowait(event)
        except asyncio.QueueFull:
            self.stats.queue_full += 1
            self._warn(event.source, "queue_full", now, "trap dropped: the rules are behind",
                       trap=format_oid(event.trap_oid), queue_size=self._events.maxsize,
                       hint="raise alerting.traps.queue_size, or check what slows the rules")
            return
        self.stats.traps += 1
        log.debug("trap received", source=event.source, version=event.version_name,
                  trap=format_oid(event.trap_oid), inform=event.is_inform,
                  security_name=event.security_name)

    def _dropped(self, exc: TrapDropped, source: str, address: SocketAddress, send: Sender,
                 now: float) -> None:
        stats = self.stats
        if exc.version is not None:
            stats.count_version(exc.version)
        if exc.reply is not None:
            send(exc.reply, address)
            stats.reports_sent += 1

        if exc.kind is DropKind.DISCOVERY:
            stats.discoveries += 1
            log.debug("SNMPv3 discovery report sent", source=source)
            return
        if exc.kind is DropKind.MALFORMED:
            stats.malformed += 1
        elif exc.kind is DropKind.UNEXPECTED_PDU:
            stats.unexpected_pdus += 1
        else:
            stats.count_unauthenticated(exc.reason)
        self._warn(source, f"{exc.kind.value}:{exc.reason}", now, "trap dropped",
                   kind=exc.kind.value, reason=exc.reason, version=exc.version,
                   error=exc.detail, report_sent=exc.reply is not None)

    def _warn(self, source: str, gate_key: str, now: float, event: str, **fields: Any) -> None:
        """Log one line per source and kind of drop a minute, with the count held back since."""
        suppressed = self._log_gate.admit(f"{source}|{gate_key}", now)
        if suppressed is not None:
            log.warning(event, source=source, suppressed_since_last=suppressed, **fields)


class TrapProtocol(asyncio.DatagramProtocol):
    """One trap socket: its datagrams go to the shared handler, its responses back out."""

    def __init__(self, handler: TrapHandler, label: str) -> None:
        self.label = label
        self._handler = handler
        self._transport: asyncio.DatagramTransport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a datagram endpoint's

    def datagram_received(self, data: bytes, addr: SocketAddress) -> None:
        try:
            self._handler.handle(data, addr, self._send)
        except Exception:  # one bad datagram must never stop the socket
            log.exception("trap handler failed", socket=self.label, source=source_host(addr))

    def _send(self, data: bytes, address: SocketAddress) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            self._handler.stats.send_errors += 1
            return
        try:
            transport.sendto(data, address)
        except (OSError, ValueError) as exc:  # uvloop raises ValueError for a family mismatch
            self._handler.stats.send_errors += 1
            log.warning("trap response not sent", socket=self.label,
                        destination=source_host(address), error=str(exc))

    def error_received(self, exc: Exception) -> None:
        # An unconnected socket reports the ICMP error of an earlier response here.
        self._handler.stats.send_errors += 1
        log.debug("trap socket reported an error", socket=self.label, error=str(exc))

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if exc is not None:
            log.error("trap socket failed", socket=self.label, error=str(exc))
        if not self.closed.done():
            self.closed.set_result(None)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        elif not self.closed.done():
            self.closed.set_result(None)


class TrapReceiver:
    """The receiver's sockets: inherited from systemd, or bound to `listen`."""

    def __init__(self, handler: TrapHandler, listen: tuple[tuple[str, int], ...],
                 socket_name: str, *, environ: Mapping[str, str] | None = None,
                 pid: int | None = None) -> None:
        self._handler = handler
        self._listen = listen
        self._socket_name = socket_name
        self._environ = os.environ if environ is None else environ
        self._pid = os.getpid() if pid is None else pid
        self._protocols: list[TrapProtocol] = []
        self.addresses: list[tuple[str, int]] = []
        """The bound addresses, with the real port when 0 was configured."""
        self.is_inherited = False
        """True when the sockets came from systemd's socket activation."""

    async def start(self) -> None:
        """Open every socket; on failure close the ones opened. Raises TrapReceiverError."""
        sockets = self._inherited_sockets()
        self.is_inherited = bool(sockets)
        try:
            if not sockets:
                for host, port in self._listen:
                    sockets.append(_bind(host, port))
            while sockets:
                await self._serve(sockets[0])
                # The loop's transport owns the socket from here and closes it in stop().
                sockets.pop(0)
        except BaseException:
            for sock in sockets:
                sock.close()
            await self.stop()
            raise

    async def stop(self) -> None:
        """Close every socket and wait until the loop released them."""
        protocols, self._protocols = self._protocols, []
        for protocol in protocols:
            protocol.close()
        for protocol in protocols:
            await asyncio.shield(protocol.closed)

    def _inherited_sockets(self) -> list[socket.socket]:
        try:
            fds = listen_fds(self._environ, self._pid)
            return take_datagram_sockets(fds, self._socket_name)
        except ActivationError as exc:
            raise TrapReceiverError(f"socket activation failed: {exc}") from exc

    async def _serve(self, sock: socket.socket) -> None:
        host, port = sock.getsockname()[:2]
        label = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
        protocol = TrapProtocol(self._handler, label)
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: protocol, sock=sock)
        self._protocols.append(protocol)
        self.addresses.append((str(host), int(port)))


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setblocking(False)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_SIZE)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise TrapReceiverError(_bind_message(host, port, exc)) from exc
    return sock


def _bind_message(host: str, port: int, exc: OSError) -> str:
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    message = f"cannot receive traps on {address}: {exc.strerror or exc}"
    if isinstance(exc, PermissionError) and port < _PRIVILEGED_PORTS:
        return (f"{message}; port {port} needs privilege: use the systemd socket unit "
                "snmpd-ng-traps.socket, or give the daemon CAP_NET_BIND_SERVICE "
                "(docs/traps.md), or listen on a port from 1024")
    return f"{message}; check that the address belongs to this host and the port is free"
