"""Start and stop real Redis deployments for the cluster tests, on free loopback ports.

Each server runs Debian's `redis-server` (7.0) with its own directory, config and log, bound to
127.0.0.1 only, with no password unless one is asked for. Besides single servers there are a
Sentinel deployment (a master, one replica and `redis-sentinel` processes) and a Redis Cluster of
three masters. `make deps` installs the packages. Like tests/agents.py, this module does not
import snmpd_ng.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import pytest
import redis

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 15.0
"""Seconds a server may take to answer PING after start; it took 0.05 s on a 2-core machine."""
STOP_TIMEOUT = 5.0
SENTINEL_READY_TIMEOUT = 10.0
"""Seconds the Sentinels may take to see the master and the replica; 0.1 s on a 2-core machine."""
FAILOVER_TIMEOUT = 15.0
"""Seconds a failover may take; with the timings below it took 1 to 2 s on a 2-core machine."""
SENTINEL_DOWN_AFTER_MS = 500
"""Milliseconds without a reply before a Sentinel considers the master down (default 30000)."""
SENTINEL_FAILOVER_TIMEOUT_MS = 2000
"""Sentinel's failover-timeout (default 180000); also the minimum gap between two failovers."""
CLUSTER_READY_TIMEOUT = 30.0
"""Seconds a new Redis Cluster may take to report cluster_state:ok; about 2 s on 2 cores."""
CLUSTER_NODE_TIMEOUT_MS = 2000
POLL_INTERVAL = 0.02
"""Seconds between two checks while waiting for a server, a Sentinel or the cluster."""


class RedisStartError(RuntimeError):
    """A test Redis deployment did not start or did not become ready in time."""


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def skip_without_redis(*programs: str) -> None:
    """Skip the test unless redis-server and the other `programs` are installed."""
    for program in ("redis-server", *programs):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed; run `make deps`")


def resp_command(*args: str) -> bytes:
    """Encode a command in RESP, as redis-cli sends it."""
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def raw_command(port: int, *args: str, password: str | None = None,
                timeout: float = 2.0) -> bytes:
    """Send one command on a fresh connection (after AUTH when `password` is set); return the reply.

    The reply is read with one recv(), which is enough for the short replies the fixtures need.
    """
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        if password is not None:
            sock.sendall(resp_command("AUTH", password))
            sock.recv(64)
        sock.sendall(resp_command(*args))
        return sock.recv(4096)


def ping(port: int, timeout: float = 0.5, password: str | None = None) -> bool:
    """Send a RESP PING on a fresh connection; True when +PONG came back."""
    try:
        return raw_command(port, "PING", password=password, timeout=timeout).startswith(b"+PONG")
    except OSError:
        return False


def admin_client(port: int, password: str | None = None) -> redis.Redis:
    """A synchronous client for the fixtures' own checks (INFO, SENTINEL, CLUSTER INFO)."""
    return redis.Redis(host=LOOPBACK, port=port, password=password, socket_timeout=2.0,
                       decode_responses=True)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Call `condition` until it returns True; raise RedisStartError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (OSError, redis.RedisError):
            pass
        time.sleep(POLL_INTERVAL)
    raise RedisStartError(f"timed out after {timeout} s waiting for {what}")


def start_process(argv: list[str], port: int, password: str | None,
                  log_file: Path) -> subprocess.Popen[bytes]:
    """Run a redis-server or redis-sentinel and wait until it answers PING on `port`."""
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if ping(port, password=password):
            return process
        if process.poll() is not None:
            break
        time.sleep(POLL_INTERVAL)
    log = log_file.read_text() if log_file.exists() else "(no log)"
    stop_process(process)
    raise RedisStartError(f"{argv[0]} on port {port} did not start:\n{log[-2000:]}")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop a process with SIGTERM (SIGKILL after STOP_TIMEOUT) and wait for it."""
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)


class ServerProcess:
    """Start, stop and reach one redis-server or redis-sentinel process.

    The dataclasses below provide the fields (`directory`, `port`, `password`, `process`) and
    `config_text()`; the class variables name the program and its files.
    """

    program: ClassVar[str] = "redis-server"
    config_name: ClassVar[str] = "redis.conf"
    log_name: ClassVar[str] = "redis.log"
    directory: Path
    port: int
    password: str | None
    process: subprocess.Popen[bytes] | None

    @property
    def log_file(self) -> Path:
        return self.directory / self.log_name

    def config_text(self) -> str:
        raise NotImplementedError

    def common_config(self) -> list[str]:
        """The config lines every server and Sentinel here has: loopback only, own files."""
        return [
            f"bind {LOOPBACK}",
            f"port {self.port}",
            f"dir {self.directory}",
            f"logfile {self.log_file}",
            "daemonize no",
        ]

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / self.config_name
        config.write_text(self.config_text())
        self.process = start_process([self.program, str(config)], self.port, self.password,
                                     self.log_file)

    def stop(self) -> None:
        """Stop the process with SIGTERM (SIGKILL after STOP_TIMEOUT) and wait for it."""
        if self.process is None:
            return
        stop_process(self.process)
        self.process = None

    def admin(self) -> redis.Redis:
        return admin_client(self.port, self.password)


@dataclass
class RedisServer(ServerProcess):
    """One redis-server process; `stop()` and `start()` may be called again to simulate outages.

    The port stays the same across restarts, so clients reconnect to the same address. With
    `password` the server sets requirepass, and masterauth for a replica of a server with the
    same password. `replica_of` is the port of the master to replicate.
    """

    directory: Path
    port: int = field(default_factory=free_tcp_port)
    appendonly: bool = True
    extra_config: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    password: str | None = None
    replica_of: int | None = None

    @property
    def url(self) -> str:
        """The server's address, without the password (tests pass that separately)."""
        return f"redis://{LOOPBACK}:{self.port}/0"

    def config_text(self) -> str:
        lines = [
            *self.common_config(),
            "save ''",
            f"appendonly {'yes' if self.appendonly else 'no'}",
            "protected-mode yes",
            # A replica syncs at once instead of after the default 5 s delay.
            "repl-diskless-sync-delay 0",
        ]
        if self.password is not None:
            lines += [f"requirepass {self.password}", f"masterauth {self.password}"]
        if self.replica_of is not None:
            lines.append(f"replicaof {LOOPBACK} {self.replica_of}")
        return "\n".join([*lines, *self.extra_config]) + "\n"

    def kill(self) -> None:
        """Stop the server with SIGKILL, as a crash would."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait(STOP_TIMEOUT)
        self.process = None

    def flush(self) -> None:
        """Empty every database, over a raw RESP connection."""
        raw_command(self.port, "FLUSHALL", password=self.password)


def running_redis(directory: Path, **options: object) -> Iterator[RedisServer]:
    """Start a server in `directory`, yield it, and stop it at the end (for fixtures)."""
    skip_without_redis()
    server = RedisServer(directory, **options)  # type: ignore[arg-type]
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class SentinelServer(ServerProcess):
    """One redis-sentinel process that monitors one master under `service_name`.

    `password` is the Sentinel's own requirepass; `master_password` is what it logs in to the
    master and replicas with (sentinel auth-pass).
    """

    directory: Path
    master_port: int
    service_name: str
    port: int = field(default_factory=free_tcp_port)
    password: str | None = None
    master_password: str | None = None
    process: subprocess.Popen[bytes] | None = None
    # Sentinel rewrites its config file (known replicas, epochs), so it must be writable.
    program: ClassVar[str] = "redis-sentinel"
    config_name: ClassVar[str] = "sentinel.conf"
    log_name: ClassVar[str] = "sentinel.log"

    def config_text(self) -> str:
        name = self.service_name
        lines = [
            *self.common_config(),
            # Quorum 1: one Sentinel may declare the master down, enough for tests.
            f"sentinel monitor {name} {LOOPBACK} {self.master_port} 1",
            f"sentinel down-after-milliseconds {name} {SENTINEL_DOWN_AFTER_MS}",
            f"sentinel failover-timeout {name} {SENTINEL_FAILOVER_TIMEOUT_MS}",
        ]
        if self.master_password is not None:
            lines.append(f"sentinel auth-pass {name} {self.master_password}")
        if self.password is not None:
            lines.append(f"requirepass {self.password}")
        return "\n".join(lines) + "\n"


@dataclass
class SentinelDeployment:
    """A master, one replica and `sentinel_count` Sentinels, all on loopback.

    `password` protects the master and the replica, `sentinel_password` the Sentinels. After a
    failover `master()` is the promoted server; the old master, if it still runs, is a replica.
    """

    directory: Path
    service_name: str = "snmpd-ng-test"
    sentinel_count: int = 1
    password: str | None = None
    sentinel_password: str | None = None
    servers: list[RedisServer] = field(default_factory=list)
    sentinels: list[SentinelServer] = field(default_factory=list)

    @property
    def sentinel_addresses(self) -> tuple[tuple[str, int], ...]:
        return tuple((LOOPBACK, sentinel.port) for sentinel in self.sentinels)

    def start(self) -> None:
        """Start master, replica and Sentinels; on a failure stop what was started and raise."""
        try:
            self._start_servers()
            self._start_sentinels()
        except BaseException:
            self.stop()
            raise

    def _start_servers(self) -> None:
        # shutdown-timeout 0: a master stops at once instead of waiting up to 10 s (the
        # default) for its replica to catch up.
        config = ("shutdown-timeout 0",)
        master = RedisServer(self.directory / "master", password=self.password,
                             extra_config=config)
        self.servers.append(master)
        master.start()
        replica = RedisServer(self.directory / "replica", password=self.password,
                              replica_of=master.port, extra_config=config)
        self.servers.append(replica)
        replica.start()
        wait_until(lambda: _replica_online(master), START_TIMEOUT,
                   f"the replica on port {replica.port} to sync with the master")

    def _start_sentinels(self) -> None:
        master, replica = self.servers
        for number in range(self.sentinel_count):
            sentinel = SentinelServer(self.directory / f"sentinel-{number}", master.port,
                                      self.service_name, password=self.sentinel_password,
                                      master_password=self.password)
            self.sentinels.append(sentinel)
            sentinel.start()
        for sentinel in self.sentinels:
            wait_until(partial(self._sentinel_ready, sentinel, replica.port),
                       SENTINEL_READY_TIMEOUT,
                       f"the Sentinel on port {sentinel.port} to see the replica and its peers")

    def _sentinel_ready(self, sentinel: SentinelServer, replica_port: int) -> bool:
        """True once `sentinel` has a live link to the replica and has found the other Sentinels.

        A failover can promote only a replica the Sentinel has read INFO from, and with several
        Sentinels the leader election needs each to know the others (hello messages every 2 s).
        """
        client = sentinel.admin()
        try:
            replicas: list[dict[str, Any]] = client.sentinel_slaves(self.service_name)
            state: dict[str, Any] = client.sentinel_master(self.service_name)  # type: ignore[assignment]
        finally:
            client.close()
        linked = any(int(entry["port"]) == replica_port and not entry["is_disconnected"]
                     and entry.get("master-link-status") == "ok" for entry in replicas)
        return linked and int(state["num-other-sentinels"]) == self.sentinel_count - 1

    def master_port(self) -> int:
        """The port of the server a running Sentinel names as the master now."""
        for sentinel in self.sentinels:
            if sentinel.process is None:
                continue
            client = sentinel.admin()
            try:
                address: tuple[str, int] = client.sentinel_get_master_addr_by_name(  # type: ignore[assignment]
                    self.service_name)
                _host, port = address
            finally:
                client.close()
            return int(port)
        raise RedisStartError("no Sentinel runs")

    def master(self) -> RedisServer:
        return self.server_on(self.master_port())

    def server_on(self, port: int) -> RedisServer:
        for server in self.servers:
            if server.port == port:
                return server
        raise LookupError(f"no server of the deployment listens on port {port}")

    def failover(self, timeout: float = FAILOVER_TIMEOUT) -> RedisServer:
        """Ask a Sentinel for a failover (SENTINEL FAILOVER) and return the promoted server.

        The old master is then made a replica of the new one here. Sentinel 7.0 would do the
        same, but only at its next INFO of the old master, up to 10 s later. Until then the old
        master still accepts writes from the clients connected to it.
        """
        old = self.master()
        client = self.sentinels[0].admin()
        try:
            client.sentinel_failover(self.service_name)
        finally:
            client.close()
        new = self._wait_for_new_master(old.port, timeout)

        admin = old.admin()
        try:
            admin.replicaof(LOOPBACK, new.port)
        finally:
            admin.close()
        return new

    def kill_master(self, timeout: float = FAILOVER_TIMEOUT) -> RedisServer:
        """Kill the master (SIGKILL) and return the server the Sentinels promote instead."""
        old = self.master()
        old.kill()
        return self._wait_for_new_master(old.port, timeout)

    def _wait_for_new_master(self, old_port: int, timeout: float) -> RedisServer:
        def promoted() -> bool:
            port = self.master_port()
            return port != old_port and _role(self.server_on(port)) == "master"

        wait_until(promoted, timeout, f"the Sentinels to promote a replica of port {old_port}")
        return self.master()

    def stop(self) -> None:
        """Stop the Sentinels first, so that they start no failover while the servers stop."""
        for sentinel in self.sentinels:
            sentinel.stop()
        for server in self.servers:
            server.stop()


def _replica_online(master: RedisServer) -> bool:
    client = master.admin()
    try:
        info = client.info("replication")
    finally:
        client.close()
    replica = info.get("slave0")
    return isinstance(replica, dict) and replica.get("state") == "online"


def _role(server: RedisServer) -> str:
    client = server.admin()
    try:
        reply: list[Any] = client.execute_command("ROLE")  # type: ignore[no-untyped-call]
        return str(reply[0])
    finally:
        client.close()


def running_sentinel(directory: Path, **options: object) -> Iterator[SentinelDeployment]:
    """Start a Sentinel deployment in `directory`, yield it, and stop it at the end."""
    skip_without_redis("redis-sentinel")
    deployment = SentinelDeployment(directory, **options)  # type: ignore[arg-type]
    deployment.start()
    try:
        yield deployment
    finally:
        deployment.stop()


@dataclass
class RedisClusterDeployment:
    """A Redis Cluster of `size` masters and no replicas, joined by `redis-cli --cluster create`."""

    directory: Path
    size: int = 3
    nodes: list[RedisServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The first node's address; a cluster client learns the others from it."""
        return self.nodes[0].url

    def start(self) -> None:
        """Start the nodes and join them; on a failure stop what was started and raise."""
        try:
            for number in range(self.size):
                node = self._node(number)
                self.nodes.append(node)
                node.start()
            self._create()
            for node in self.nodes:
                wait_until(partial(_cluster_ok, node), CLUSTER_READY_TIMEOUT,
                           f"the cluster node on port {node.port} to report cluster_state:ok")
        except BaseException:
            self.stop()
            raise

    def _node(self, number: int) -> RedisServer:
        directory = self.directory / f"node-{number}"
        # The bus port is set explicitly because the default, port + 10000, may exceed 65535
        # for a port from the ephemeral range.
        config = (
            "cluster-enabled yes",
            f"cluster-port {free_tcp_port()}",
            f"cluster-config-file {directory / 'nodes.conf'}",
            f"cluster-node-timeout {CLUSTER_NODE_TIMEOUT_MS}",
        )
        return RedisServer(directory, extra_config=config)

    def _create(self) -> None:
        addresses = [f"{LOOPBACK}:{node.port}" for node in self.nodes]
        argv = ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "0",
                "--cluster-yes"]
        result = subprocess.run(argv, capture_output=True, text=True,
                                timeout=CLUSTER_READY_TIMEOUT, check=False)
        if result.returncode != 0:
            raise RedisStartError(f"redis-cli --cluster create failed ({result.returncode}):\n"
                                  f"{result.stdout[-2000:]}{result.stderr[-2000:]}")

    def flush(self) -> None:
        for node in self.nodes:
            node.flush()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _cluster_ok(node: RedisServer) -> bool:
    return b"cluster_state:ok" in raw_command(node.port, "CLUSTER", "INFO")


def running_cluster(directory: Path, size: int = 3) -> Iterator[RedisClusterDeployment]:
    """Start a Redis Cluster in `directory`, yield it, and stop it at the end."""
    skip_without_redis("redis-cli")
    deployment = RedisClusterDeployment(directory, size)
    deployment.start()
    try:
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One Redis for the whole session; tests use their own key prefixes or flush it."""
    yield from running_redis(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own, which the test may stop, kill and start again."""
    yield from running_redis(tmp_path / "redis")


@pytest.fixture(scope="session")
def redis_password_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis with requirepass set to a random password (in `.password`), for login tests."""
    password = secrets.token_hex(12)
    yield from running_redis(tmp_path_factory.mktemp("redis-password"), password=password)


@pytest.fixture
def redis_sentinel(tmp_path: Path) -> Iterator[SentinelDeployment]:
    """A master, a replica and one Sentinel of the test's own; the test may fail them over."""
    yield from running_sentinel(tmp_path / "sentinel")


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterDeployment]:
    """A Redis Cluster of three masters for the whole session; tests use their own prefixes."""
    yield from running_cluster(tmp_path_factory.mktemp("redis-cluster"))
