"""Readers of Redis for the cluster benchmark: command counts, the MONITOR feed, poll records.

`INFO commandstats` counts every command Redis ran, the ones that the Lua scripts call included,
and counts all scripts together under `evalsha`. So during the same period a MONITOR connection
reads each command as it runs. Redis writes the commands that a script calls with the client
`lua`, and the others with the sending client's address. The SHA-1 of an EVALSHA names the script.
Together they split the commands into the ones the nodes sent and the ones scripts ran, and the
scripts by what they do.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import redis

from snmpd_ng.cache import redis as cache_redis
from snmpd_ng.cluster import scripts, status_reader
from snmpd_ng.cluster.keys import Keys

SCRIPT_KINDS = {
    scripts.HEARTBEAT: "heartbeat script",
    scripts.LEASES: "lease script",
    scripts.LEAVE: "leave script",
    scripts.COMMIT_POLL: "poll record script",
    cache_redis.WRITE_SCRIPT: "cache write script",
    cache_redis.REMOVE_SCRIPT: "cache removal script",
}
KIND_BY_SHA = {hashlib.sha1(text.encode()).hexdigest(): kind
               for text, kind in SCRIPT_KINDS.items()}
"""Script kind by the SHA-1 that redis-py's register_script sends with EVALSHA."""

STATUS_READ = "status read"
CACHE_READ = "cache read"
BENCH_COMMANDS = ("info", "monitor")
"""Commands the benchmark itself sends during a period; left out of every count."""

_LINE = re.compile(rb'^\+\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]*)"(?: "([^"]*)")?')
"""A MONITOR line: time, database and client, then the command and its first argument."""
RECEIVE_BYTES = 1 << 20
STREAM_PAGE = 5000
"""Entries per XRANGE call."""
MAX_SEQUENCE = 2**64 - 1
"""The highest sequence number of a stream entry id, for an inclusive upper end in ms."""


class MonitorError(RuntimeError):
    """The MONITOR feed could not be opened or read to the end of the period."""


@dataclass(slots=True)
class CommandCounts:
    """Commands seen on the MONITOR feed between the benchmark's two INFO calls."""

    sent: Counter[str] = field(default_factory=Counter)
    """Commands the nodes sent, by command name."""
    in_scripts: Counter[str] = field(default_factory=Counter)
    """Commands the Lua scripts ran, by command name."""
    kinds: Counter[str] = field(default_factory=Counter)
    """Commands the nodes sent, by what they do (see `classify`)."""


def classify(command: str, first: str, keys: Keys) -> str:
    """Name what a command that a node sent does, from its name and first argument."""
    if command == "evalsha":
        return KIND_BY_SHA.get(first, "other script")
    if command == "eval":
        return STATUS_READ if first == status_reader.SLOT_TIME else "other script"
    if first.startswith(keys.base + "cache"):
        # GET reads one cache entry; SMEMBERS and MGET read an index before a removal.
        return CACHE_READ if command == "get" else "cache removal reads"
    if command in ("zrange", "xrevrange", "mget", "hgetall", "get"):
        return STATUS_READ
    if command in ("ping", "subscribe", "unsubscribe"):
        return "pub/sub and connection checks"
    return "other"


class MonitorFeed:
    """A MONITOR connection whose reader thread counts the commands between two INFO calls.

    Call `start()`, then run INFO twice on another connection (the start and the end of the
    period), then `finish()`, which waits for the second INFO on the feed and returns the counts.
    """

    def __init__(self, port: int, keys: Keys) -> None:
        self._keys = keys
        self._socket = socket.create_connection(("127.0.0.1", port), timeout=10.0)
        self._counts = CommandCounts()
        self._markers = 0
        self._subscribed = threading.Event()
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._read, name="redis monitor", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        """Send MONITOR and wait for its +OK, after which every command shows on the feed."""
        self._socket.sendall(b"MONITOR\r\n")
        self._thread.start()
        if not self._subscribed.wait(timeout):
            self._socket.close()
            raise MonitorError(f"Redis did not accept MONITOR within {timeout:.0f} s: "
                               f"{self._error or 'no reply'}")

    def finish(self, timeout: float = 30.0) -> CommandCounts:
        """Return the counts once the feed has shown the second INFO; close the connection."""
        finished = self._done.wait(timeout)
        self._socket.close()
        self._thread.join(timeout)
        if self._error is not None:
            raise MonitorError(f"reading the MONITOR feed failed: {self._error}")
        if not finished:
            raise MonitorError(f"the MONITOR feed did not show the end of the period within "
                               f"{timeout:.0f} s")
        return self._counts

    def _read(self) -> None:
        try:
            for line in _lines(self._socket):
                if line == b"+OK":
                    self._subscribed.set()
                    continue
                if line.startswith(b"-"):
                    raise ValueError(f"Redis rejected MONITOR: {line[1:].decode()}")
                self._count(line)
                if self._markers == 2:
                    break
        except (OSError, ValueError) as exc:
            self._error = exc
        self._done.set()

    def _count(self, line: bytes) -> None:
        match = _LINE.match(line)
        if match is None:
            return
        client, command_bytes, first_bytes = match.groups()
        command = command_bytes.decode().lower()
        if command in BENCH_COMMANDS:
            self._markers += command == "info"
            return
        if self._markers != 1:
            return
        if client == b"lua":
            self._counts.in_scripts[command] += 1
            return
        self._counts.sent[command] += 1
        first = (first_bytes or b"").decode(errors="replace")
        self._counts.kinds[classify(command, first, self._keys)] += 1


def _lines(sock: socket.socket) -> Iterator[bytes]:
    """Yield the CRLF-terminated lines that arrive on `sock` until it closes."""
    pending = b""
    while True:
        data = sock.recv(RECEIVE_BYTES)
        if not data:
            return
        pending += data
        *complete, pending = pending.split(b"\r\n")
        yield from complete


# ---------------------------------------------------------------------------------------------
# INFO and the polls stream


@dataclass(frozen=True, slots=True)
class InfoSnapshot:
    """Calls per command from INFO commandstats, and Redis's clock when INFO ran."""

    calls: Mapping[str, int]
    server_time_ms: int


def read_info(client: redis.Redis) -> InfoSnapshot:
    """Run one INFO for the server and commandstats sections."""
    info: dict[str, Any] = client.info("server", "commandstats")
    calls = {name.removeprefix("cmdstat_"): int(stats["calls"])
             for name, stats in info.items() if name.startswith("cmdstat_")}
    return InfoSnapshot(calls, int(info["server_time_usec"]) // 1000)


def calls_between(before: InfoSnapshot, after: InfoSnapshot) -> dict[str, int]:
    """Return the calls per command between two snapshots, the benchmark's own left out."""
    names = set(before.calls) | set(after.calls)
    differences = {name: after.calls.get(name, 0) - before.calls.get(name, 0) for name in names}
    return {name: count for name, count in differences.items()
            if count > 0 and name.split("|")[0] not in BENCH_COMMANDS}


def count_polls(client: redis.Redis, keys: Keys, start_ms: int, end_ms: int) -> int:
    """Count the entries of the polls stream recorded from `start_ms` to `end_ms` (Redis time)."""
    count = 0
    for _ in poll_records(client, keys, f"{start_ms}-0", f"{end_ms}-{MAX_SEQUENCE}"):
        count += 1
    return count


def poll_records(client: redis.Redis, keys: Keys, low: str,
                 high: str = "+") -> Iterator[tuple[str, dict[str, str]]]:
    """Yield (entry id, fields) of the poll records from ID `low` to `high`, in pages.

    An entry id is "<Redis time in ms>-<sequence>"; `low` and `high` take XRANGE's forms, such
    as "(ID" for the entries after ID.
    """
    while True:
        # The bench's client decodes replies, so ids and fields are text.
        page = cast(list[tuple[str, dict[str, str]]],
                    client.xrange(keys.polls, min=low, max=high, count=STREAM_PAGE))
        yield from page
        if len(page) < STREAM_PAGE:
            return
        low = "(" + page[-1][0]


def entry_time_ms(entry_id: str) -> int:
    """Return the Redis time in ms at which a stream entry was added, from its id."""
    return int(entry_id.split("-", 1)[0])
