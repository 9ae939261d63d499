"""The daemon's state directory: $STATE_DIRECTORY under systemd, else `state_dir` from the config.

Nothing is stored there yet. The daemon creates the directory at start and proves that it can
write to it, so a later feature that persists state fails at start rather than at first use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from snmpd_ng.protocol.errors import SnmpError


class StateDirError(SnmpError):
    """The state directory cannot be created or written."""


def choose_state_dir(configured: str | None, environ: Mapping[str, str]) -> Path | None:
    """Return $STATE_DIRECTORY (its first entry) if set, else `configured`, else None.

    systemd's StateDirectory= sets $STATE_DIRECTORY to the one directory that the sandbox
    (ProtectSystem=strict) leaves writable, so it wins over the config file.
    """
    from_systemd = environ.get("STATE_DIRECTORY", "")
    if from_systemd:
        # Several StateDirectory= entries arrive colon-separated; the first is ours.
        return Path(from_systemd.split(":", 1)[0])
    return Path(configured) if configured else None


def prepare_state_dir(path: Path) -> None:
    """Create `path` (mode 0700) if missing and check that a file can be written there."""
    probe = path / f".write-test-{os.getpid()}"
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise StateDirError(
            f"state directory {str(path)!r} is not writable: {reason}; create it for the "
            "daemon's user or change `state_dir`"
        ) from exc
