"""The HTTP listener: one aiohttp runner with a TCP site per configured address, TLS optional."""

from __future__ import annotations

import ssl

import structlog
from aiohttp import web

from snmpd_ng.config.model import TlsConfig

log = structlog.get_logger("snmpd_ng.http")

SHUTDOWN_TIMEOUT = 2.0
"""Seconds that requests in progress get to finish when the server stops."""


class HttpStartError(Exception):
    """An address could not be bound, or the TLS certificate could not be loaded."""


def split_listen_address(address: str) -> tuple[str, int]:
    """Split "127.0.0.1:9161" or "[::1]:9161" into host and port (validated by the schema)."""
    host, _, port = address.rpartition(":")
    return host.removeprefix("[").removesuffix("]"), int(port)


def format_listen_address(host: str, port: int) -> str:
    """Format a bound address as the config writes it: "127.0.0.1:9161" or "[::1]:9161"."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def create_ssl_context(tls: TlsConfig) -> ssl.SSLContext:
    """Build a server context with the certificate chain and key; TLS 1.2 at least."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    load_certificate(context, tls)
    return context


def load_certificate(context: ssl.SSLContext, tls: TlsConfig) -> None:
    """Load (or reload) the certificate and key into `context`.

    New connections use the reloaded pair, so a renewed certificate needs only a SIGHUP.
    Raises HttpStartError naming the files when they cannot be loaded.
    """
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise HttpStartError(
            f"cannot load TLS certificate {tls.cert_file!r} with key {tls.key_file!r}: {exc}"
        ) from exc


class HttpServer:
    """Serves `app` on every listen address until `stop()`."""

    def __init__(
        self, app: web.Application, listen: tuple[str, ...], ssl_context: ssl.SSLContext | None
    ) -> None:
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT
        )
        self._listen = listen
        self._ssl_context = ssl_context
        self._is_set_up = False

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        return self._ssl_context

    @property
    def bound_addresses(self) -> list[tuple[str, int]]:
        """(host, port) of every listening socket, with the real port when 0 was asked for."""
        found: list[tuple[str, int]] = []
        for address in self._runner.addresses:
            host, port = address[0], address[1]
            found.append((str(host), int(port)))
        return found

    async def start(self) -> None:
        """Bind every address; raise HttpStartError naming the one that failed."""
        await self._runner.setup()
        self._is_set_up = True
        for address in self._listen:
            host, port = split_listen_address(address)
            site = web.TCPSite(
                self._runner,
                host,
                port,
                ssl_context=self._ssl_context,
                reuse_address=True,
            )
            try:
                await site.start()
            except OSError as exc:
                raise HttpStartError(f"cannot listen on {address}: {exc.strerror or exc}") from exc
        # The daemon's start line lists the bound addresses, with the real port for port 0.
        scheme = "https" if self._ssl_context is not None else "http"
        log.info("http server listening", sockets=len(self._listen), scheme=scheme)

    async def stop(self) -> None:
        """Stop accepting, let requests in progress finish (SHUTDOWN_TIMEOUT), close."""
        if not self._is_set_up:
            return
        self._is_set_up = False
        await self._runner.cleanup()
        log.info("http server stopped")
