"""The net-snmp agent that every peer of the benchmark polls, started once per bench run.

The agent is Debian's snmpd (net-snmp 5.9.3 when this was written) on 127.0.0.1 and a free UDP
port, reading only its own config (`-C -c`) and keeping its state in a temporary folder. A full
walk of `.1` returns about 7,000 varbinds from it, enough for the per-varbind measure.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

SNMP_IN_PKTS = "1.3.6.1.2.1.11.1.0"
"""SNMPv2-MIB snmpInPkts: messages the agent received, counted by the agent itself."""

START_TIMEOUT = 10.0
"""Seconds to wait for a started snmpd to respond to its first GET."""


class AgentError(RuntimeError):
    """The bench agent could not be started or read."""


def free_udp_port() -> int:
    """Return a UDP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_tcp_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def client_environment() -> dict[str, str]:
    """Return the environment with `MIBS=`, so that net-snmp programs load no MIB file."""
    return {**os.environ, "MIBS": ""}


def read_counter(port: int, community: str, oid: str = SNMP_IN_PKTS) -> int:
    """Read one integer object from the agent with net-snmp's snmpget (one request, no retry)."""
    command = ["snmpget", "-v2c", "-c", community, "-r", "0", "-t", "2", "-Oqv",
               f"127.0.0.1:{port}", oid]
    result = subprocess.run(command, capture_output=True, text=True, env=client_environment(),
                            check=False)
    if result.returncode != 0:
        raise AgentError(f"snmpget of {oid} from 127.0.0.1:{port} failed "
                         f"(exit {result.returncode}): {result.stderr.strip()}")

    try:
        return int(result.stdout.strip())
    except ValueError:
        raise AgentError(f"{oid} from 127.0.0.1:{port} is not an integer: "
                         f"{result.stdout.strip()!r}") from None


def find_snmpd() -> str:
    """Return the path of snmpd, which Debian puts in /usr/sbin, off a normal user's PATH."""
    program = shutil.which("snmpd") or shutil.which("snmpd", path="/usr/sbin:/sbin")
    if program is None:
        raise AgentError("snmpd not found; install it with `apt-get install -y snmpd snmp` "
                         "(or `make deps`)")
    return program


class BenchAgent:
    """A private snmpd on 127.0.0.1 that lives as long as the `with` block.

    `extra_config` lines go into its snmpd.conf after the community, for example the
    `createUser` and `rouser` lines of SNMPv3 users.
    """

    def __init__(self, community: str, extra_config: Sequence[str] = ()) -> None:
        self.community = community
        self.extra_config = tuple(extra_config)
        self.port = free_udp_port()
        self._folder = Path(tempfile.mkdtemp(prefix="snmpd-ng-bench-"))
        self._pid: int | None = None

    def __enter__(self) -> BenchAgent:
        try:
            self._start()
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    @property
    def log_file(self) -> Path:
        return self._folder / "snmpd.log"

    def _start(self) -> None:
        program = find_snmpd()

        config = self._folder / "snmpd.conf"
        lines = [f"agentAddress udp:127.0.0.1:{self.port}",
                 f"rocommunity {self.community} 127.0.0.1", *self.extra_config]
        config.write_text("".join(f"{line}\n" for line in lines))
        pid_file = self._folder / "snmpd.pid"
        environment = {**client_environment(), "SNMP_PERSISTENT_DIR": str(self._folder / "state")}

        # -I -smux: the SMUX module would bind TCP port 199, which another agent on the machine
        # may hold; the bench does not need it.
        command = [program, "-C", "-c", str(config), "-r", "-I", "-smux", "-p", str(pid_file),
                   "-Lf", str(self.log_file)]
        result = subprocess.run(command, env=environment, capture_output=True, text=True,
                                check=False)
        if result.returncode != 0:
            raise AgentError(f"snmpd exited with {result.returncode}: {result.stderr.strip()}; "
                             f"see {self.log_file}")

        self._pid = self._read_pid(pid_file)

    def _read_pid(self, pid_file: Path) -> int:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            text = pid_file.read_text().strip() if pid_file.exists() else ""
            if text:
                return int(text)
            time.sleep(0.05)
        raise AgentError(f"snmpd wrote no pid file within {START_TIMEOUT} s; see {self.log_file}")

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                read_counter(self.port, self.community)
                return
            except AgentError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)

    def read_in_packets(self) -> int:
        """Return snmpInPkts. The GET that reads it is counted in the value it returns."""
        return read_counter(self.port, self.community)

    def stop(self) -> None:
        """Stop snmpd and remove its folder; safe to call twice and after a failed start."""
        if self._pid is not None:
            _terminate(self._pid)
            self._pid = None
        shutil.rmtree(self._folder, ignore_errors=True)


def _terminate(pid: int) -> None:
    """Send SIGTERM and wait until the process is gone, so that it writes no state file after
    its folder is removed. snmpd daemonises, so it is not our child and cannot be waited for."""
    deadline = time.monotonic() + START_TIMEOUT
    try:
        os.kill(pid, signal.SIGTERM)
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.05)
    except ProcessLookupError:
        return
