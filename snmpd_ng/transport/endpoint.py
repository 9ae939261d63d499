"""One unconnected UDP socket, shared by every target of its address family and source address.

The socket is an `asyncio.DatagramProtocol`: the event loop calls `datagram_received` for each
datagram, and the transport's handler resolves the waiting request's future right there, with
no queue and no reader task in between. Sending is a plain `sendto` with no await, unless the
loop has paused writing because its send buffer is full.

An unconnected socket reports the errors of earlier sends (ICMP port unreachable, for example)
on a later call, without saying which send caused them. The loop passes such errors to
`error_received`, which hands them to `on_error` to be counted. The request they belong to times
out as if nothing came back. An error that the loop reports while `send` runs belongs to that
send, so `send` raises it as TransportError.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

from snmpd_ng.transport.errors import TransportError
from snmpd_ng.transport.logger import get_logger

_log = get_logger("snmpd_ng.transport")

SocketAddress = tuple[Any, ...]
DatagramHandler = Callable[[bytes, SocketAddress], None]
ErrorHandler = Callable[[OSError], None]

DEFAULT_RECEIVE_BUFFER_SIZE = 4 * 1024 * 1024
"""Bytes asked for with SO_RCVBUF. Responses of many targets can arrive while the loop is busy,
and with the usual kernel default (net.core.rmem_default, 212,992 bytes) the daemon's socket
dropped datagrams when it polled 1,000 targets."""
DEFAULT_SEND_BUFFER_SIZE = 1024 * 1024
"""Bytes asked for with SO_SNDBUF, for a burst of requests to many targets at once."""

# Linux doubles the size set with setsockopt() for its bookkeeping and reports the doubled
# figure in getsockopt() (socket(7)), so half of it is what was granted.
_KERNEL_FACTOR = 2 if sys.platform.startswith("linux") else 1


def wildcard_address(family: int) -> str:
    """Return the any-address of `family`, used when the target sets no source address."""
    return "::" if family == socket.AF_INET6 else "0.0.0.0"


class Endpoint(asyncio.DatagramProtocol):
    """A bound UDP socket whose datagrams go straight to the transport's handler."""

    def __init__(self, label: str, on_datagram: DatagramHandler, on_error: ErrorHandler) -> None:
        self.label = label
        self.inode = 0
        """The socket's inode number, which /proc/net/udp lists it under."""
        self.receive_buffer_size = 0
        """Receive buffer granted by the kernel, in bytes."""
        self.send_buffer_size = 0
        """Send buffer granted by the kernel, in bytes."""
        self._on_datagram = on_datagram
        self._on_error = on_error
        self._transport: asyncio.DatagramTransport | None = None
        self.closed = False
        """True once the loop has released the socket, after close() or a fatal socket error."""
        self._closed: asyncio.Future[None] | None = None
        self.paused = False
        """True while the loop has paused writing because the socket's send buffer is full."""
        self._writable: asyncio.Future[None] | None = None
        self._sending = False
        self._send_error: Exception | None = None

    @classmethod
    async def open(cls, family: int, source_address: str | None, on_datagram: DatagramHandler,
                   on_error: ErrorHandler, *, target: str, receive_buffer_size: int | None,
                   send_buffer_size: int | None) -> Endpoint:
        """Bind a socket on an ephemeral port, size its buffers and start receiving.

        A buffer size of None keeps the kernel's default.
        """
        host = source_address or wildcard_address(family)
        sock = _bind(family, host, target)
        try:
            receive = _set_buffer(sock, socket.SO_RCVBUF, receive_buffer_size)
            send = _set_buffer(sock, socket.SO_SNDBUF, send_buffer_size)
            endpoint = cls(format_address((host, sock.getsockname()[1])), on_datagram, on_error)
            endpoint.inode = os.fstat(sock.fileno()).st_ino
            endpoint.receive_buffer_size, endpoint.send_buffer_size = receive, send
            loop = asyncio.get_running_loop()
            endpoint._closed = loop.create_future()
            await loop.create_datagram_endpoint(lambda: endpoint, sock=sock)
        except BaseException:
            sock.close()
            raise

        _log.info("socket opened", socket=endpoint.label,
                  bound=_describe_binding(host, sock.getsockname()[1], source_address is None),
                  receive_buffer_bytes=receive, send_buffer_bytes=send)
        _warn_if_capped("receive", "net.core.rmem_max", receive_buffer_size, receive,
                        endpoint.label)
        _warn_if_capped("send", "net.core.wmem_max", send_buffer_size, send, endpoint.label)
        return endpoint

    # -----------------------------------------------------------------------------------------
    # asyncio.DatagramProtocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a datagram endpoint's

    def datagram_received(self, data: bytes, addr: SocketAddress) -> None:
        try:
            self._on_datagram(data, addr)
        except Exception:  # one bad datagram must never stop the socket
            _log.exception("datagram handler failed", socket=self.label,
                           source=format_address(addr))

    def error_received(self, exc: Exception) -> None:
        if self._sending:
            self._send_error = exc
        elif isinstance(exc, OSError):
            self._on_error(exc)
        else:
            _log.error("socket reported an unexpected error", socket=self.label, error=repr(exc))

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self.closed = True
        if exc is not None:
            _log.error("socket failed", socket=self.label, error=str(exc))
        self.resume_writing()
        _resolve(self._closed)

    def pause_writing(self) -> None:
        self.paused = True
        if self._writable is None or self._writable.done():
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        self.paused = False
        _resolve(self._writable)

    # -----------------------------------------------------------------------------------------
    # Sending and closing

    async def wait_writable(self) -> None:
        """Wait until the loop accepts sends again (call only when `paused`)."""
        if self._writable is not None:
            await asyncio.shield(self._writable)

    def send(self, data: bytes, address: SocketAddress, target: str) -> None:
        """Send one datagram; raise TransportError when the socket is closed or the send fails."""
        transport = self._transport
        if transport is None or transport.is_closing():
            raise TransportError(f"socket {self.label} is closed", target=target)
        self._sending = True
        try:
            transport.sendto(data, address)
        except (OSError, ValueError) as exc:  # uvloop raises ValueError for a family mismatch
            raise TransportError(f"send on socket {self.label} failed: {exc}",
                                 target=target) from exc
        finally:
            self._sending = False
        error, self._send_error = self._send_error, None
        if error is not None:
            raise TransportError(f"send on socket {self.label} failed: {error}",
                                 target=target) from error

    async def close(self) -> None:
        """Close the socket and wait until the loop has released it."""
        transport = self._transport
        if transport is not None:
            transport.close()
        if self._closed is not None:
            await asyncio.shield(self._closed)
        _log.info("socket closed", socket=self.label)


def _bind(family: int, host: str, target: str) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setblocking(False)
        sock.bind((host, 0))
    except OSError as exc:
        sock.close()
        raise TransportError(
            f"cannot bind a UDP socket to source address {host}: {exc.strerror or exc}; "
            "check that the address belongs to this host", target=target,
        ) from exc
    return sock


def _describe_binding(host: str, port: int, is_wildcard: bool) -> str:
    """Describe the bound address for the start log line, with why it is the wildcard."""
    address = format_address((host, port))
    if not is_wildcard:
        return f"{address} (the target's source_address)"
    # One unconnected socket receives the responses of every agent, so it cannot be connected
    # to one. The transport checks each response's source address and request-id instead.
    return f"{address} (any address; responses are matched by source and request-id)"


def _set_buffer(sock: socket.socket, option: int, size: int | None) -> int:
    """Ask for a buffer of `size` bytes (None: keep the default); return the size granted."""
    if size is not None:
        sock.setsockopt(socket.SOL_SOCKET, option, size)
    return int(sock.getsockopt(socket.SOL_SOCKET, option)) // _KERNEL_FACTOR


def _warn_if_capped(kind: str, sysctl: str, requested: int | None, granted: int,
                    label: str) -> None:
    # Linux caps SO_RCVBUF at net.core.rmem_max and SO_SNDBUF at net.core.wmem_max, and says
    # nothing when it does.
    if requested is not None and granted < requested:
        _log.warning(f"{kind} buffer smaller than configured", socket=label,
                     requested_bytes=requested, granted_bytes=granted,
                     hint=f"raise the kernel's limit, e.g. sysctl -w {sysctl}={requested}")


def _resolve(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


def format_address(address: SocketAddress) -> str:
    """Format a socket address as host:port, with brackets around an IPv6 host."""
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
