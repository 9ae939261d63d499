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
    with a wrong community), or is empty when nothing came back at all. `hint` replaces the
    advice given when nothing came back; the default one names the community.
    """

    def __init__(self, *, target: str, attempts: int, timeout: float,
                 diagnostic: str = "", hint: str | None = None) -> None:
        self.attempts = attempts
        self.timeout = timeout
        self.diagnostic = diagnostic
        message = f"no response after {attempts} attempt(s) of {timeout:g} s"
        if diagnostic:
            message += f"; {diagnostic}"
        elif hint is not None:
            message += f"; {hint}"
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


class SecurityError(TargetError):
    """An SNMPv3 request failed in the User-based Security Model (RFC 3414).

    `kind` names the counter it goes to in `TargetStats.security_errors`; `user` is the USM user
    name. Messages say what to check and never show a passphrase or a key.
    """

    kind = "security"

    def __init__(self, message: str, *, target: str, user: str) -> None:
        self.user = user
        super().__init__(message, target=target)


class UnknownUserNameError(SecurityError):
    """The agent reported usmStatsUnknownUserNames: it has no user of that name."""

    kind = "unknown_user_name"


class WrongDigestError(SecurityError):
    """The agent reported usmStatsWrongDigests: the authentication passphrase, key or protocol
    differs from the agent's."""

    kind = "wrong_digest"


class DecryptionFailedError(SecurityError):
    """The agent reported usmStatsDecryptionErrors: it could not decrypt the request."""

    kind = "decryption_error"


class UnsupportedSecurityLevelError(SecurityError):
    """The agent reported usmStatsUnsupportedSecLevels: the user does not have that level."""

    kind = "unsupported_security_level"


class UnknownEngineIdError(SecurityError):
    """The agent reported usmStatsUnknownEngineIDs again after discovery, or a configured
    engine ID is not the agent's."""

    kind = "unknown_engine_id"


class NotInTimeWindowError(SecurityError):
    """The agent kept reporting usmStatsNotInTimeWindows after re-synchronisation."""

    kind = "not_in_time_window"


class UnknownContextError(SecurityError):
    """The agent reported snmpUnknownContexts: it serves no context of that name."""

    kind = "unknown_context"


class PrivacyMismatchError(SecurityError):
    """authPriv requests time out while an authNoPriv request of the same user gets a response: the
    privacy passphrase, key or AES key extension probably differs from the agent's."""

    kind = "privacy_mismatch"


class ReportError(SecurityError):
    """The agent sent a Report PDU that no more specific error covers
    (snmpInvalidMsgs, snmpUnknownSecurityModels, snmpUnavailableContexts, ...)."""

    kind = "other_report"
