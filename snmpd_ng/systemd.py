"""systemd's notify protocol (sd_notify(3)): state lines sent as one datagram to $NOTIFY_SOCKET.

Without $NOTIFY_SOCKET (not started by systemd with Type=notify) every call does nothing.
A failed send is logged and otherwise ignored: the daemon keeps polling, and systemd acts on the
missing message (a start timeout, or a watchdog restart).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

import structlog

log = structlog.get_logger("snmpd_ng.systemd")


class SystemdNotifier:
    """Sends READY=1, RELOADING=1, STOPPING=1 and WATCHDOG=1 to the service manager."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # A leading "@" names a socket in the abstract namespace, written with a NUL byte.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._watchdog_interval = _watchdog_interval(env)

    @property
    def is_enabled(self) -> bool:
        return bool(self._address)

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between two WATCHDOG=1 pings (half of $WATCHDOG_USEC), or None when off."""
        return self._watchdog_interval

    def ready(self) -> None:
        self.notify("READY=1\nSTATUS=polling")

    def reloading(self) -> None:
        # Type=notify-reload (systemd 253+) requires MONOTONIC_USEC with RELOADING=1, taken
        # from CLOCK_MONOTONIC in microseconds.
        monotonic_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.notify(f"RELOADING=1\nMONOTONIC_USEC={monotonic_usec}\nSTATUS=reloading")

    def stopping(self) -> None:
        self.notify("STOPPING=1\nSTATUS=stopping")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def notify(self, state: str) -> bool:
        """Send `state` (newline-separated KEY=VALUE lines); return whether it was sent."""
        if not self._address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                # Non-blocking: this runs on the event loop, and a full socket buffer on
                # systemd's side must cost one lost message, never a stalled loop.
                sock.setblocking(False)
                sock.sendto(state.encode("utf-8"), self._address)
        except OSError as exc:
            log.warning("sd_notify failed", state=state.split("\n", 1)[0], error=str(exc))
            return False
        return True


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Read $WATCHDOG_USEC; the watchdog is ours unless $WATCHDOG_PID names another process."""
    usec_text = env.get("WATCHDOG_USEC", "")
    pid_text = env.get("WATCHDOG_PID", "")
    if not usec_text.isdigit() or int(usec_text) == 0:
        return None
    if pid_text and pid_text != str(os.getpid()):
        return None
    # sd_watchdog_enabled(3) advises pinging at half the timeout.
    return int(usec_text) / 1_000_000 / 2
