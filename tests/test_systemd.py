"""Tests of the sd_notify client (snmpd_ng.systemd) against a datagram socket of our own."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_helpers import default_logging
from structlog.testing import capture_logs

from snmpd_ng.systemd import SystemdNotifier

pytestmark = pytest.mark.usefixtures(default_logging.__name__)


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound AF_UNIX datagram socket, as systemd's $NOTIFY_SOCKET is."""
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2.0)
    try:
        yield sock, path
    finally:
        sock.close()


def receive(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_notifier_without_socket_does_nothing() -> None:
    notifier = SystemdNotifier({})

    assert not notifier.is_enabled
    assert notifier.notify("READY=1") is False


def test_ready_sends_ready(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket

    SystemdNotifier({"NOTIFY_SOCKET": path}).ready()

    assert receive(sock).splitlines()[0] == "READY=1"


def test_stopping_and_watchdog_messages(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path})

    notifier.stopping()
    notifier.watchdog()

    assert receive(sock).splitlines()[0] == "STOPPING=1"
    assert receive(sock) == "WATCHDOG=1"


def test_reloading_carries_monotonic_usec(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000

    SystemdNotifier({"NOTIFY_SOCKET": path}).reloading()

    fields = dict(line.split("=", 1) for line in receive(sock).splitlines())
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert fields["RELOADING"] == "1"
    assert before <= int(fields["MONOTONIC_USEC"]) <= after


def test_abstract_socket_address() -> None:
    name = f"snmpd-ng-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2.0)

        SystemdNotifier({"NOTIFY_SOCKET": "@" + name}).ready()

        assert receive(sock).startswith("READY=1")


def test_send_failure_is_logged_not_raised(tmp_path: Path) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "absent")})

    with capture_logs() as logs:
        sent = notifier.notify("READY=1")

    assert sent is False
    assert logs[0]["event"] == "sd_notify failed"
    assert logs[0]["state"] == "READY=1"


@pytest.mark.parametrize(
    ("environ", "interval"),
    [
        ({"WATCHDOG_USEC": "10000000"}, 5.0),
        ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())}, 5.0),
        ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "ten"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_timeout(environ: dict[str, str], interval: float | None) -> None:
    assert SystemdNotifier(environ).watchdog_interval == interval
