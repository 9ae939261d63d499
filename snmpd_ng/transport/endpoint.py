"""One unconnected UDP socket, shared by every target of its address family and source address.

An unconnected socket reports the errors of earlier sends (ICMP port unreachable, for example)
on a later call, without saying which send caused them. So such errors are handed to
`on_error` and counted, and the request they belong to times out as if nothing came back.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any, cast

import asyncio_dgram
import structlog

from snmpd_ng.transport.errors import TransportError

_log = structlog.get_logger("snmpd_ng.transport")

SocketAddress = tuple[Any, ...]
DatagramHandler = Callable[[bytes, SocketAddress], None]
ErrorHandler = Callable[[OSError], None]


def wildcard_address(family: int) -> str:
    """Return the any-address of `family`, used when the target sets no source address."""
    return "::" if family == socket.AF_INET6 else "0.0.0.0"


class Endpoint:
    """A bound UDP socket (asyncio-dgram) with its receive loop."""

    def __init__(self, stream: asyncio_dgram.DatagramServer, label: str,
                 on_datagram: DatagramHandler, on_error: ErrorHandler) -> None:
        self._stream = stream
        self.label = label
        self._on_datagram = on_datagram
        self._on_error = on_error
        self._receiver: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, family: int, source_address: str | None, on_datagram: DatagramHandler,
                   on_error: ErrorHandler, *, target: str) -> Endpoint:
        """Bind a socket on an ephemeral port and start its receive loop."""
        host = source_address or wildcard_address(family)
        try:
            stream = await asyncio_dgram.bind((host, 0))
        except OSError as exc:
            raise TransportError(
                f"cannot bind a UDP socket to source address {host}: {exc.strerror or exc}; "
                "check that the address belongs to this host", target=target,
            ) from exc

        endpoint = cls(stream, f"{host}:{stream.sockname[1]}", on_datagram, on_error)
        endpoint._receiver = asyncio.get_running_loop().create_task(
            endpoint._receive_loop(), name=f"snmp-receive {endpoint.label}")
        _log.info("socket opened", socket=endpoint.label)
        return endpoint

    async def send(self, data: bytes, address: SocketAddress, *, target: str) -> None:
        """Send one datagram, reporting a stale error of an earlier send once and retrying."""
        try:
            await self._stream.send(data, address)
        except asyncio_dgram.TransportClosed as exc:
            raise TransportError(f"socket {self.label} is closed", target=target) from exc
        except OSError as exc:
            # The error belongs to an earlier send, and asyncio-dgram raises it before sending.
            self._on_error(exc)
            try:
                await self._stream.send(data, address)
            except (OSError, asyncio_dgram.TransportClosed) as again:
                raise TransportError(f"send on socket {self.label} failed: {again}",
                                     target=target) from again

    async def _receive_loop(self) -> None:
        on_datagram = self._on_datagram
        while True:
            try:
                data, received_from = await self._stream.recv()
            except asyncio_dgram.TransportClosed:
                return
            except OSError as exc:
                self._on_error(exc)
                continue
            address = cast(SocketAddress, received_from)  # IP sockets report (host, port, ...)
            try:
                on_datagram(data, address)
            except Exception:  # one bad datagram must never stop the loop
                _log.exception("datagram handler failed", socket=self.label,
                               source=format_address(address))

    async def close(self) -> None:
        """Close the socket and wait for the receive loop to end."""
        self._stream.close()
        if self._receiver is not None:
            self._receiver.cancel()
            try:
                await self._receiver
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
        _log.info("socket closed", socket=self.label)


def format_address(address: SocketAddress) -> str:
    """Format a socket address as host:port, with brackets around an IPv6 host."""
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"

