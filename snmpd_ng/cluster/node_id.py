"""The node ID that names this daemon in the cluster, and the file that keeps it across restarts.

A configured `cluster.node_id` wins. Without one, the ID is read from `<state_dir>/node-id`, or
generated as `<short hostname>-<8 hex digits>` and written there, so that a restarted daemon
rejoins under the same ID and keeps its targets (rendezvous hashing ranks nodes by their IDs).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import tempfile
from pathlib import Path

import structlog

from snmpd_ng.cluster.settings import ClusterSettings
from snmpd_ng.protocol.errors import SnmpError

log = structlog.get_logger("snmpd_ng.cluster")

NODE_ID_FILE = "node-id"
"""Name of the file in the state directory that keeps a generated node ID."""
MAX_NODE_ID_LENGTH = 64
NODE_ID_RULE = "1 to 64 letters, digits, '.', '_' or '-'"
"""The node ID rule in words, for messages."""
_NODE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_NOT_IN_LABEL = re.compile(r"[^A-Za-z0-9_-]+")
_SUFFIX_OCTETS = 4
"""Random octets of a generated ID: 8 hex digits keep two nodes on one host name apart."""
_MAX_SHOWN_CHARACTERS = 70


class NodeIdError(SnmpError):
    """No node ID: none is configured, and the state directory cannot supply or keep one."""


def is_valid_node_id(text: str) -> bool:
    """Tell whether `text` follows NODE_ID_RULE."""
    return _NODE_ID.fullmatch(text) is not None


def resolve_node_id(
    settings: ClusterSettings, state_dir: Path | None, *, hostname: str | None = None
) -> str:
    """Return the configured node ID, else the stored one, else a new one that is then stored.

    `hostname` replaces socket.gethostname() in a generated ID. Raises NodeIdError when there
    is neither a configured ID nor a state directory, or when the file cannot be read, is
    invalid or cannot be written.
    """
    if settings.node_id is not None:
        return settings.node_id
    if state_dir is None:
        raise NodeIdError(
            "cluster.node_id is not set and there is no state directory to keep a generated "
            "node ID in; set cluster.node_id, or set state_dir (under systemd, "
            "StateDirectory= sets one)"
        )

    path = state_dir / NODE_ID_FILE
    stored = read_node_id(path)
    if stored is not None:
        return stored

    node_id = generate_node_id(socket.gethostname() if hostname is None else hostname)
    return _store_node_id(path, node_id)


def generate_node_id(hostname: str, suffix: str | None = None) -> str:
    """Build `<short hostname>-<suffix>`, with a random 8-hex-digit suffix by default.

    Characters that NODE_ID_RULE rejects become '-', and the host name is cut so that the ID
    has at most 64 characters.
    """
    if suffix is None:
        suffix = secrets.token_hex(_SUFFIX_OCTETS)
    short_name = hostname.split(".", 1)[0]
    label = _NOT_IN_LABEL.sub("-", short_name).strip("-")
    label = label[: MAX_NODE_ID_LENGTH - len(suffix) - 1].rstrip("-") or "node"
    return f"{label}-{suffix}"


def read_node_id(path: Path) -> str | None:
    """Return the node ID stored at `path`, or None when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise NodeIdError(
            f"cannot read the node ID file {str(path)!r}: {exc.strerror or exc}; make it "
            "readable by the daemon's user, or set cluster.node_id"
        ) from exc
    except UnicodeDecodeError as exc:
        raise NodeIdError(
            f"the node ID file {str(path)!r} is not UTF-8 text; correct it, or delete it to "
            "generate a new node ID"
        ) from exc

    # An editor may add a final newline; the ID is the text without surrounding whitespace.
    node_id = text.strip()
    if not is_valid_node_id(node_id):
        shown_text = repr(node_id[:_MAX_SHOWN_CHARACTERS])
        if len(node_id) > _MAX_SHOWN_CHARACTERS:
            shown_text += "..."
        raise NodeIdError(
            f"the node ID file {str(path)!r} contains {shown_text}, which is not a valid node ID "
            f"({NODE_ID_RULE}); correct it, or delete it to generate a new node ID"
        )
    return node_id


def _store_node_id(path: Path, node_id: str) -> str:
    """Write `node_id` to `path` unless the file exists; return the ID the file then holds.

    The file is written in full under a temporary name and then hard-linked to `path`. The link
    fails when `path` exists, so a crash never leaves a partial file, and of two daemons started
    at once on one state directory the second one reads the first one's ID instead of replacing
    it. NOTE: this needs a file system with hard links, as every usual Linux one has.
    """
    try:
        partial = _write_partial(path, node_id)
    except OSError as exc:
        raise _write_error(path, exc) from exc

    try:
        os.link(partial, path)
    except FileExistsError:
        return _read_winner(path)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(partial)

    _sync_directory(path.parent)
    log.info("node id generated", node_id=node_id, path=str(path))
    return node_id


def _read_winner(path: Path) -> str:
    """Read the ID that another process stored at `path` while this one wrote its own."""
    stored = read_node_id(path)
    if stored is None:
        raise NodeIdError(f"the node ID file {str(path)!r} was removed while this daemon wrote "
                          "it; check what else uses the state directory, then start again")
    log.info("node id file written by another process", path=str(path), node_id=stored)
    return stored


def _write_partial(path: Path, node_id: str) -> Path:
    """Write the ID to a new temporary file next to `path` (mode 0644) and return its path."""
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            # mkstemp creates the file with mode 0600; the ID is no secret, so others may read it.
            os.fchmod(stream.fileno(), 0o644)
            stream.write(node_id + "\n")
            stream.flush()
            os.fsync(stream.fileno())
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return Path(name)


def _sync_directory(directory: Path) -> None:
    """Flush the directory entry of a new file, so that the ID survives a power loss."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError as exc:
        log.warning("node id file not synced", path=str(directory), error=str(exc))
        return
    try:
        os.fsync(descriptor)
    except OSError as exc:
        log.warning("node id file not synced", path=str(directory), error=str(exc))
    finally:
        os.close(descriptor)


def _write_error(path: Path, exc: OSError) -> NodeIdError:
    return NodeIdError(
        f"cannot write the node ID file {str(path)!r}: {exc.strerror or exc}; check that the "
        "state directory exists and is writable by the daemon's user, or set cluster.node_id"
    )
