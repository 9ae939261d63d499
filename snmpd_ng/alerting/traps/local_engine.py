"""Our SNMPv3 engine ID and engineBoots, kept in a small file in the state directory.

A device that sends informs to us localises its keys to our engine ID, and many devices need
that ID configured by hand (`snmp-server engineID remote ...` on Cisco), so it must not change
across restarts. engineBoots counts the starts since the ID was set (RFC 3414 2.2.2). Each
start adds one and writes the file before any response or report is sent, so a sender never
gets a (boots, time) pair twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from snmpd_ng.protocol.errors import SnmpError
from snmpd_ng.security.engine import MAX_ENGINE_BOOTS
from snmpd_ng.security.receiver import (
    ENGINE_ID_RANDOM_OCTETS,
    MAX_ENGINE_ID_OCTETS,
    MIN_ENGINE_ID_OCTETS,
    LocalEngine,
    make_engine_id,
)

ENGINE_FILE_NAME = "snmp-engine.json"


class LocalEngineError(SnmpError):
    """The engine file cannot be read, parsed or written."""


@dataclass(frozen=True, slots=True)
class EngineIdentity:
    """The engine to run as, and where its ID and boots came from (for the start log line)."""

    engine: LocalEngine
    source: str
    """"config", "state file" or "generated"."""
    path: Path | None
    """The file that keeps the boots, or None when nothing is persisted."""


def start_local_engine(state_dir: Path | None, configured_id: bytes | None, now: float, *,
                       random_octets: Callable[[int], bytes] = os.urandom) -> EngineIdentity:
    """Read the engine file, count this start in engineBoots, and write it back.

    The configured ID wins over the stored one; a changed ID starts again at boots 1. Without
    a state directory nothing is stored: the boots are 1, and a generated ID lasts as long
    as the process. `now` is the monotonic clock reading at which engineTime is 0.
    Raises LocalEngineError when the file cannot be read or written.
    """
    path = state_dir / ENGINE_FILE_NAME if state_dir is not None else None
    stored = _read(path) if path is not None else None

    if configured_id is not None:
        engine_id, source = configured_id, "config"
    elif stored is not None:
        engine_id, source = stored[0], "state file"
    else:
        engine_id, source = make_engine_id(random_octets(ENGINE_ID_RANDOM_OCTETS)), "generated"

    boots = 1
    if stored is not None and stored[0] == engine_id:
        # RFC 3414 2.2.2: once at 2^31-1, engineBoots stays there.
        boots = min(MAX_ENGINE_BOOTS, stored[1] + 1)
    if path is not None:
        _write(path, engine_id, boots)
    return EngineIdentity(LocalEngine(engine_id, boots, now), source, path)


def _read(path: Path) -> tuple[bytes, int] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LocalEngineError(f"cannot read the SNMP engine file {str(path)!r}: "
                               f"{exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
        engine_id = bytes.fromhex(data["engine_id"])
        boots = data["engine_boots"]
    except (ValueError, TypeError, KeyError) as exc:
        raise LocalEngineError(
            f"the SNMP engine file {str(path)!r} is invalid ({type(exc).__name__}: {exc}); "
            "restore it, or delete it to start with a new engine ID that senders of informs "
            "must then be given") from None
    if not (isinstance(boots, int) and 0 <= boots <= MAX_ENGINE_BOOTS
            and MIN_ENGINE_ID_OCTETS <= len(engine_id) <= MAX_ENGINE_ID_OCTETS):
        raise LocalEngineError(f"the SNMP engine file {str(path)!r} contains an engine ID of "
                               f"{len(engine_id)} octets or boots {boots!r}, outside their "
                               "ranges; restore it or delete it")
    return engine_id, boots


def _write(path: Path, engine_id: bytes, boots: int) -> None:
    """Replace the file in one rename, so a crash leaves the old or the new one."""
    text = json.dumps({"engine_id": engine_id.hex(), "engine_boots": boots}) + "\n"
    partial = path.with_name(path.name + ".tmp")
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(partial, path)
    except OSError as exc:
        raise LocalEngineError(f"cannot write the SNMP engine file {str(path)!r}: "
                               f"{exc.strerror or exc}; check that the state directory is "
                               "writable") from exc
