"""Errors of the transport: the request never got a usable response.

They subclass `SnmpError` and carry the target's label (its name or host:port), never its
community. `snmpd_ng.manager.errors` re-exports them next to the errors of the manager itself.
"""

from __future__ import annotations

from snmpd_ng.protocol.errors import SnmpError


class TargetError(SnmpError):
    """An error about one target; `target` is the target's label."""

    def __init__(self, message: str, *, target: str) -> None:
        self.target = target
        super().__init__(f"{target}: {message}")


class RequestTimeout(TargetError):
    """No acceptable response came within the timeout and retries.

    `diagnostic` explains responses that did arrive but were dropped (from an unexpected address,
    with a wrong community), or is empty when nothing came back at all.
    """

    def __init__(self, *, target: str, attempts: int, timeout: float,
                 diagnostic: str = "") -> None:
        self.attempts = attempts
        self.timeout = timeout
        self.diagnostic = diagnostic
        message = f"no response after {attempts} attempt(s) of {timeout:g} s"
        if diagnostic:
            message += f"; {diagnostic}"
        else:
            message += ("; check the address, port and community (agents drop requests with a "
                        "wrong community silently)")
        super().__init__(message, target=target)


class BudgetExceeded(TargetError):
    """The operation's deadline passed before it could finish."""

    def __init__(self, *, target: str, overrun: float, attempts: int = 0) -> None:
        self.overrun = overrun
        self.attempts = attempts
        super().__init__(
            f"the operation's deadline passed {overrun:.3f} s ago after {attempts} attempt(s); "
            "pass a later deadline, or lower the target's timeout and retries",
            target=target,
        )


class ResolutionError(TargetError):
    """The target's host name could not be resolved to an address."""

    def __init__(self, *, target: str, host: str, reason: str) -> None:
        self.host = host
        self.reason = reason
        super().__init__(f"cannot resolve host {host!r}: {reason}", target=target)


class TransportError(TargetError):
    """A socket operation failed: bind to the source address, or send."""
