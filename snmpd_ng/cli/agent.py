"""net-snmp's agent argument: `[udp:|udp6:]HOST[:PORT]`, with IPv6 literals in brackets."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from snmpd_ng.cli.options import UsageError

DEFAULT_PORT = 161
_TRANSPORTS = ("udp", "udp6", "udpv6", "udpipv6")
_UNSUPPORTED_TRANSPORTS = ("tcp", "tcp6", "tcpv6", "tcpipv6", "unix", "dtlsudp", "tlstcp", "ssh")


@dataclass(frozen=True, slots=True)
class AgentAddress:
    """The agent's host and port, and `label`, the argument as written.

    net-snmp's messages repeat the label (`Timeout: No Response from udp6:[::1]:1161.`).
    """

    host: str
    port: int
    label: str


def parse_agent(text: str) -> AgentAddress:
    """Parse `127.0.0.1`, `localhost:1161`, `udp:HOST:PORT`, `[::1]:1161` or `udp6:[::1]`.

    Raises UsageError for other transports (tcp:, unix:, ...), a bad port or an empty host.
    """
    rest = text
    prefix, colon, after = text.partition(":")
    if colon and prefix.lower() in _TRANSPORTS:
        rest = after
    elif colon and prefix.lower() in _UNSUPPORTED_TRANSPORTS:
        raise UsageError(
            f"transport {prefix!r} in agent {text!r} is not supported; use udp: or udp6:"
        )

    host, port = _split_host_port(rest, text)
    if not host:
        raise UsageError(f"agent {text!r} has no host name or address")
    return AgentAddress(host, port, text)


def _split_host_port(text: str, original: str) -> tuple[str, int]:
    if text.startswith("["):
        host, bracket, after = text[1:].partition("]")
        if not bracket:
            raise UsageError(f"agent {original!r}: the IPv6 address misses its closing ']'")
        if not after:
            return host, DEFAULT_PORT
        if not after.startswith(":"):
            raise UsageError(f"agent {original!r}: expected ':PORT' after ']'")
        return host, _parse_port(after[1:], original)

    if text.count(":") > 1:
        # Several colons without brackets: an IPv6 literal with no port (udp6:::1).
        _check_ipv6(text, original)
        return text, DEFAULT_PORT
    host, colon, port_text = text.partition(":")
    return host, _parse_port(port_text, original) if colon else DEFAULT_PORT


def _parse_port(text: str, original: str) -> int:
    if not text.isdigit() or not 0 < int(text) <= 65535:
        raise UsageError(f"agent {original!r}: port {text!r} is not a number in 1..65535")
    return int(text)


def _check_ipv6(text: str, original: str) -> None:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        raise UsageError(f"agent {original!r}: {text!r} is not an IPv6 address; "
                         "write [ADDRESS]:PORT to give a port") from None
