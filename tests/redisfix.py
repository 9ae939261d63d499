"""Start and stop real Redis servers for the cluster tests, on free loopback ports.

Each server runs Debian's `redis-server` with its own directory, config and log, bound to
127.0.0.1 only, with no password. `make deps` installs the package. Like tests/agents.py, this
module does not import snmpd_ng.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 15.0
"""Seconds a server may take to answer PING after start; it took 0.05 s on a 2-core machine."""
STOP_TIMEOUT = 5.0


class RedisStartError(RuntimeError):
    """A test Redis server did not start or did not answer within START_TIMEOUT."""


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def skip_without_redis() -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed; run `make deps`")


def ping(port: int, timeout: float = 0.5) -> bool:
    """Send a RESP PING on a fresh connection; True when +PONG came back."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    """One redis-server process; `stop()` and `start()` may be called again to simulate outages.

    The port stays the same across restarts, so clients reconnect to the same address.
    """

    directory: Path
    port: int = field(default_factory=free_tcp_port)
    appendonly: bool = True
    extra_config: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def log_file(self) -> Path:
        return self.directory / "redis.log"

    def config_text(self) -> str:
        lines = [
            f"bind {LOOPBACK}",
            f"port {self.port}",
            f"dir {self.directory}",
            f"logfile {self.log_file}",
            "daemonize no",
            "save ''",
            f"appendonly {'yes' if self.appendonly else 'no'}",
            "protected-mode yes",
            *self.extra_config,
        ]
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "redis.conf"
        config.write_text(self.config_text())
        self.process = subprocess.Popen(["redis-server", str(config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if ping(self.port):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        log = self.log_file.read_text() if self.log_file.exists() else "(no log)"
        self.stop()
        raise RedisStartError(f"redis-server on port {self.port} did not start:\n{log[-2000:]}")

    def stop(self) -> None:
        """Stop the server with SIGTERM (SIGKILL after STOP_TIMEOUT) and wait for it."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)
        self.process = None

    def kill(self) -> None:
        """Stop the server with SIGKILL, as a crash would."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait(STOP_TIMEOUT)
        self.process = None

    def flush(self) -> None:
        """Empty every database, over a raw RESP connection."""
        with socket.create_connection((LOOPBACK, self.port), timeout=2.0) as sock:
            sock.sendall(b"*1\r\n$8\r\nFLUSHALL\r\n")
            sock.recv(64)


def running_redis(directory: Path, **options: object) -> Iterator[RedisServer]:
    """Start a server in `directory`, yield it, and stop it at the end (for fixtures)."""
    skip_without_redis()
    server = RedisServer(directory, **options)  # type: ignore[arg-type]
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One Redis for the whole session; tests use their own key prefixes or flush it."""
    yield from running_redis(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own, which the test may stop, kill and start again."""
    yield from running_redis(tmp_path / "redis")
