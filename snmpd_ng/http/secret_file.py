"""Secrets kept in files: the API's bearer token and PagerDuty's webhook signing secret.

The file is read again when its inode, size, modification or change time differ from the last
read, so an operator rotates a token by replacing the file, without a restart. `reload()`
forces the next read, for a SIGHUP. Leading and trailing whitespace (the newline an editor
adds) is not part of the secret. A missing, unreadable or empty file leaves the secret unset,
and callers then disable what needs it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import structlog

from snmpd_ng.secret import Secret

log = structlog.get_logger("snmpd_ng.http")

_FileIdentity = tuple[int, int, int, int, int]
"""(device, inode, size, mtime_ns, ctime_ns): a change of any of them means new content."""


@dataclass(frozen=True)
class SecretLookup:
    """The secret of a file, or why there is none."""

    secret: Secret | None
    problem: str | None = None
    """The file's problem when `secret` is None, such as "not found"."""


class SecretFile:
    """One secret file, read again when it changes."""

    def __init__(self, path: Path | None, purpose: str) -> None:
        """`purpose` names the secret in log lines and messages, such as "API token file"."""
        self.path = path
        self.purpose = purpose
        self._identity: _FileIdentity | None = None
        self._lookup = SecretLookup(None, "not configured")

    def lookup(self) -> SecretLookup:
        """Return the secret, reading the file again if it changed since the last read."""
        if self.path is None:
            return self._lookup
        try:
            info = self.path.stat()
        except OSError as exc:
            return self._remember(None, _problem(exc))
        identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        if identity == self._identity:
            return self._lookup
        return self._remember(identity, None, info.st_mode)

    def reload(self) -> None:
        """Forget the last read, so that the next lookup reads the file."""
        self._identity = None

    def _remember(self, identity: _FileIdentity | None, problem: str | None,
                  mode: int = 0) -> SecretLookup:
        lookup = self._read() if problem is None else SecretLookup(None, problem)
        if lookup != self._lookup:
            self._log_change(lookup, mode)
        self._identity = identity
        self._lookup = lookup
        return lookup

    def _read(self) -> SecretLookup:
        assert self.path is not None
        try:
            content = self.path.read_bytes().strip()
        except OSError as exc:
            return SecretLookup(None, _problem(exc))
        if not content:
            return SecretLookup(None, "empty")
        return SecretLookup(Secret(content))

    def _log_change(self, lookup: SecretLookup, mode: int) -> None:
        # Logged when the state changes, not on every request, so a missing file costs one
        # line. The secret itself is never logged, nor its length.
        if lookup.secret is None:
            log.warning(f"{self.purpose} unusable", path=str(self.path), problem=lookup.problem)
            return
        log.info(f"{self.purpose} loaded", path=str(self.path))
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            log.warning(f"{self.purpose} is readable by other users; chmod 600 it",
                        path=str(self.path), mode=oct(stat.S_IMODE(mode)))


def is_same_secret(presented: bytes, secret: Secret) -> bool:
    """Tell whether `presented` equals `secret`, in constant time.

    Both sides are hashed first, so the time taken depends neither on where they differ nor
    on their lengths.
    """
    expected = hashlib.sha256(secret.reveal()).digest()
    return hmac.compare_digest(hashlib.sha256(presented).digest(), expected)


def _problem(error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return "not found"
    if isinstance(error, PermissionError):
        return f"not readable by this process (uid {os.getuid()})"
    return f"not readable: {error.strerror or error}"
