"""Sockets passed by systemd's socket activation (sd_listen_fds(3)).

systemd binds the sockets of a .socket unit itself, so the daemon needs no privilege to receive
on port 162, and passes them to the service as file descriptors 3, 4, ... with three variables:
LISTEN_PID (the process they are meant for), LISTEN_FDS (how many) and LISTEN_FDNAMES (their
FileDescriptorName= values, colon-separated). The trap receiver takes the datagram sockets
named by its `socket_name` setting.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

# sd_listen_fds(3): the first passed descriptor is 3 (SD_LISTEN_FDS_START).
LISTEN_FDS_START = 3


class ActivationError(ValueError):
    """Socket activation variables that cannot be used, or a passed socket of the wrong kind."""


@dataclass(frozen=True, slots=True)
class ListenFd:
    """One passed file descriptor and its name (systemd's default name is "unknown")."""

    fd: int
    name: str


def listen_fds(environ: Mapping[str, str], pid: int) -> list[ListenFd]:
    """Return the descriptors that systemd passed to process `pid`, or [] when none were.

    Raises ActivationError when the variables are present but invalid.
    """
    pid_text = environ.get("LISTEN_PID", "")
    count_text = environ.get("LISTEN_FDS", "")
    if not pid_text or not count_text:
        return []
    if not pid_text.isdigit() or not count_text.isdigit():
        raise ActivationError(f"LISTEN_PID={pid_text!r} and LISTEN_FDS={count_text!r} must be "
                              "numbers; start the daemon from its systemd unit")
    if int(pid_text) != pid:
        # The variables were meant for a parent process: they are not ours to use.
        return []

    count = int(count_text)
    names = environ.get("LISTEN_FDNAMES", "")
    name_list = names.split(":") if names else []
    if name_list and len(name_list) != count:
        raise ActivationError(f"LISTEN_FDNAMES has {len(name_list)} names for {count} "
                              "descriptors in LISTEN_FDS")
    return [ListenFd(LISTEN_FDS_START + index,
                     name_list[index] if name_list else "unknown")
            for index in range(count)]


def take_datagram_sockets(fds: list[ListenFd], name: str) -> list[socket.socket]:
    """Wrap the passed descriptors named `name` as sockets; each must be a UDP socket.

    Raises ActivationError naming the descriptor when one is not a datagram socket.
    """
    sockets: list[socket.socket] = []
    for listen_fd in fds:
        if listen_fd.name != name:
            continue
        try:
            sock = socket.socket(fileno=listen_fd.fd)
        except OSError as exc:
            _close_all(sockets)
            raise ActivationError(f"passed descriptor {listen_fd.fd} ({name}) is not a socket: "
                                  f"{exc.strerror or exc}") from exc
        if sock.type != socket.SOCK_DGRAM:
            sock.close()
            _close_all(sockets)
            raise ActivationError(f"passed descriptor {listen_fd.fd} ({name}) is not a "
                                  "datagram socket: use ListenDatagram= in the .socket unit")
        # sd_listen_fds(3) sets close-on-exec too: no child process should inherit them.
        os.set_inheritable(listen_fd.fd, False)
        sock.setblocking(False)
        sockets.append(sock)
    return sockets


def _close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()
