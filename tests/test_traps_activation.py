"""Socket activation: the trap receiver takes the UDP socket that systemd bound and passed.

The end-to-end tests start the receiver in a child process that gets the socket as systemd
passes it: as file descriptor 3, with LISTEN_FDS, LISTEN_PID set to the child's own process ID,
and LISTEN_FDNAMES. One test builds that by hand, another lets systemd's own
systemd-socket-activate bind the socket and start the child when the first trap arrives.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agents import LOOPBACK_V4, find_program, free_udp_port, netsnmp_environment

from snmpd_ng.alerting.traps.activation import (
    LISTEN_FDS_START,
    ActivationError,
    ListenFd,
    listen_fds,
    take_datagram_sockets,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
COMMUNITY = "trap-community-1"  # test value
COLD_START = "1.3.6.1.6.3.1.1.5.1"
CHILD_TIMEOUT = 20.0

# The receiver as a daemon runs it: settings from JSON, each signal printed as one JSON line,
# logs on stderr, and a clean stop on SIGTERM.
CHILD = """
import asyncio, json, signal, sys
import structlog
from snmpd_ng.alerting.traps import TrapService, build_trap_settings

structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))

def emit(change):
    print(json.dumps({"rule": change.rule, "state": change.state}), flush=True)

async def main():
    settings = build_trap_settings(json.loads(sys.argv[1]), environ={})
    service = TrapService(settings, emit)
    await service.start()
    print(json.dumps({"activated": service.is_socket_activated,
                      "addresses": service.addresses}), flush=True)
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    await stopping.wait()
    await service.stop()

asyncio.run(main())
"""

# What systemd does before it runs the daemon: the socket moves to descriptor 3, and
# LISTEN_PID names the process that runs the daemon. exec keeps the process ID.
LAUNCHER = """
import os, sys
descriptor = int(sys.argv[1])
os.dup2(descriptor, 3)
os.close(descriptor)
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.executable, [sys.executable, "-c", sys.argv[2], sys.argv[3]])
"""


def section(port: int) -> str:
    """Return settings whose own listen address would fail, to prove the passed socket is used."""
    return json.dumps({
        "listen": [f"{LOOPBACK_V4}:{port}"], "socket_name": "traps",
        "communities": {"ops": COMMUNITY},
        "rules": [{"name": "DeviceRestarted", "trap": "coldStart"}],
    })


# ---------------------------------------------------------------------------------------------
# The variables


def test_listen_fds_named() -> None:
    environ = {"LISTEN_PID": "42", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "traps:http"}
    assert listen_fds(environ, 42) == [ListenFd(LISTEN_FDS_START, "traps"),
                                       ListenFd(LISTEN_FDS_START + 1, "http")]


def test_listen_fds_unnamed() -> None:
    assert listen_fds({"LISTEN_PID": "42", "LISTEN_FDS": "1"}, 42) == [ListenFd(3, "unknown")]


def test_listen_fds_for_other_process_ignored() -> None:
    assert listen_fds({"LISTEN_PID": "41", "LISTEN_FDS": "1"}, 42) == []


def test_listen_fds_absent() -> None:
    assert listen_fds({}, 42) == []


@pytest.mark.parametrize("environ", [
    {"LISTEN_PID": "x", "LISTEN_FDS": "1"},
    {"LISTEN_PID": "42", "LISTEN_FDS": "-1"},
    {"LISTEN_PID": "42", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "traps"},
], ids=["pid-not-number", "count-not-number", "names-count-differs"])
def test_listen_fds_invalid(environ: dict[str, str]) -> None:
    with pytest.raises(ActivationError):
        listen_fds(environ, 42)


def test_take_datagram_sockets_by_name() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as original:
        original.bind((LOOPBACK_V4, 0))
        passed = os.dup(original.fileno())
        other = os.dup(original.fileno())
        try:
            taken = take_datagram_sockets([ListenFd(passed, "traps"), ListenFd(other, "http")],
                                          "traps")
            assert [sock.fileno() for sock in taken] == [passed]
            assert taken[0].getsockname() == original.getsockname()
            assert os.get_inheritable(passed) is False
            taken[0].close()
        finally:
            os.close(other)


def test_take_datagram_sockets_rejects_stream_socket() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as stream:
        passed = os.dup(stream.fileno())
        with pytest.raises(ActivationError, match="ListenDatagram"):
            take_datagram_sockets([ListenFd(passed, "traps")], "traps")
        with pytest.raises(OSError):
            os.fstat(passed)  # closed, not leaked


# ---------------------------------------------------------------------------------------------
# End to end


async def read_json_line(stream: asyncio.StreamReader) -> dict[str, Any]:
    line = await asyncio.wait_for(stream.readline(), CHILD_TIMEOUT)
    assert line, "the child exited without output"
    result: dict[str, Any] = json.loads(line)
    return result


async def send_cold_start(port: int, client_dir: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        "snmptrap", "-v", "2c", "-c", COMMUNITY, f"udp:{LOOPBACK_V4}:{port}", "", COLD_START,
        env=netsnmp_environment(client_dir))
    assert await asyncio.wait_for(process.wait(), CHILD_TIMEOUT) == 0


@pytest.fixture
async def child_processes() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """Processes a test started; each gets SIGTERM, then must exit on its own."""
    processes: list[asyncio.subprocess.Process] = []
    yield processes
    for process in processes:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), CHILD_TIMEOUT)


def child_environment() -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("LISTEN_")}
    environment["PYTHONPATH"] = str(REPO_ROOT)
    return environment


async def test_inherited_socket_receives_trap(tmp_path: Path,
                                              child_processes: list[Any]) -> None:
    if find_program("snmptrap") is None:
        pytest.skip("snmptrap not installed")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as bound:
        bound.bind((LOOPBACK_V4, 0))
        port = bound.getsockname()[1]
        environment = child_environment()
        environment.update(LISTEN_FDS="1", LISTEN_FDNAMES="traps")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", LAUNCHER, str(bound.fileno()), CHILD, section(port + 1),
            env=environment, pass_fds=(bound.fileno(),), stdout=asyncio.subprocess.PIPE)
    child_processes.append(process)
    assert process.stdout is not None

    started = await read_json_line(process.stdout)
    assert started == {"activated": True, "addresses": [[LOOPBACK_V4, port]]}
    await send_cold_start(port, tmp_path)
    assert await read_json_line(process.stdout) == {"rule": "DeviceRestarted",
                                                    "state": "firing"}


async def test_systemd_socket_activate_starts_receiver(tmp_path: Path,
                                                       child_processes: list[Any]) -> None:
    launcher = find_program("systemd-socket-activate")
    if launcher is None or find_program("snmptrap") is None:
        pytest.skip("systemd-socket-activate or snmptrap not installed")
    port = free_udp_port()
    process = await asyncio.create_subprocess_exec(
        launcher, "--datagram", f"--listen={LOOPBACK_V4}:{port}", "--fdname=traps",
        sys.executable, "-c", CHILD, section(free_udp_port()),
        env=child_environment(), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    child_processes.append(process)
    assert process.stdout is not None

    # systemd-socket-activate starts the receiver when the first datagram arrives, which
    # then waits in the socket for it.
    await wait_until_bound(port)
    await send_cold_start(port, tmp_path)
    started = await read_json_line(process.stdout)
    assert started["activated"] is True
    assert await read_json_line(process.stdout) == {"rule": "DeviceRestarted",
                                                    "state": "firing"}


async def wait_until_bound(port: int) -> None:
    """Wait until a process has bound `port`, which a bind of our own then fails to get."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CHILD_TIMEOUT
    while loop.time() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((LOOPBACK_V4, port))
            except OSError:
                return
        await asyncio.sleep(0.02)
    raise AssertionError(f"nothing bound UDP port {port}")
