"""Helpers shared by the daemon and HTTP tests: stand-ins, certificates, ports, HTTP fetches."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import logging
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import pytest
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from snmpd_ng.config.model import DaemonConfig


@pytest.fixture
def default_logging() -> Iterator[None]:
    """Run a test with structlog's default set-up and no snmpd-ng stdlib handler, then restore.

    Tests elsewhere configure logging for the whole process (the CLI's configure_logging with a
    captured stream that pytest closes later), which would hide or break these tests' logs.
    """
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    structlog.reset_defaults()
    root.handlers[:] = [handler for handler in handlers if not getattr(handler, "_snmpd_ng", False)]
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free a moment ago on `host`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: dict[str, str]
    body: str


def fetch(
    url: str,
    headers: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
    timeout: float = 5.0,
) -> HttpReply:
    """GET `url` with urllib (blocking: call it through asyncio.to_thread from async tests)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            body = response.read()
            if response.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            return HttpReply(response.status, dict(response.headers), body.decode())
    except urllib.error.HTTPError as exc:
        return HttpReply(exc.code, dict(exc.headers), exc.read().decode())


def write_self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """Write a certificate for 127.0.0.1, ::1 and localhost, and its key; return both paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "snmpd-ng test")])
    now = datetime.datetime.now(datetime.UTC)
    alt_names = x509.SubjectAlternativeName([
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ])  # fmt: skip
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(alt_names, critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "tls.crt"
    key_path = directory / "tls.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def client_context(cert_path: Path) -> ssl.SSLContext:
    """An SSL client context that trusts exactly the test certificate."""
    return ssl.create_default_context(cafile=str(cert_path))


class StaticCollector(Collector):
    """A collector with one gauge, standing in for the polling service's collector."""

    def __init__(self, name: str = "stand_in_value", value: float = 42.0) -> None:
        self.name = name
        self.value = value

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(self.name, "A value from the stand-in collector.", value=self.value)


@dataclass
class FakePolling:
    """The polling service's interface, recording calls; until PollingService is used."""

    config: DaemonConfig
    manager: object
    calls: list[str] = field(default_factory=list)
    ready: bool = False
    fail_start: bool = False
    fail_reload: bool = False
    reloaded: list[DaemonConfig] = field(default_factory=list)
    reload_done: asyncio.Event = field(default_factory=asyncio.Event)
    on_stop: Callable[[], Awaitable[None]] | None = None
    """Awaited inside stop(), to observe or delay the stop."""
    collector_instance: StaticCollector = field(default_factory=StaticCollector)

    async def start(self) -> None:
        self.calls.append("polling.start")
        if self.fail_start:
            raise RuntimeError("stand-in polling failed to start")

    async def stop(self) -> None:
        self.calls.append("polling.stop")
        if self.on_stop is not None:
            await self.on_stop()

    async def reload(self, config: DaemonConfig) -> None:
        self.calls.append("polling.reload")
        if self.fail_reload:
            raise RuntimeError("stand-in polling failed to reload")
        # The real service logs its reload too, in whatever format the daemon set.
        structlog.get_logger("stand-in polling").info("polling reloaded")
        self.reloaded.append(config)
        self.config = config
        self.reload_done.set()

    def is_ready(self) -> bool:
        return self.ready

    def collector(self) -> Collector:
        return self.collector_instance


@dataclass
class FakeGlobalStats:
    targets: int = 1
    requests: int = 7
    in_flight: int = 0


@dataclass
class FakeManager:
    """An async context manager with `global_stats()`, recording open and close."""

    calls: list[str]

    async def __aenter__(self) -> FakeManager:
        self.calls.append("manager.open")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.calls.append("manager.close")

    def global_stats(self) -> FakeGlobalStats:
        return FakeGlobalStats()
