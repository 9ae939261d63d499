"""Redis commands of alerting in cluster mode, split by the part of the daemon that sent them.

bench/cluster_alerting.py counts commands with INFO commandstats and, over the same period, with
a MONITOR feed (bench/cluster_redis.py). On the feed, each command shows its client (`lua` for a
command that a script ran) and its arguments. A command belongs to a part by its key: every key
of a cluster starts with `{<prefix>}:` and then the part's name (snmpd_ng/cluster/keys.py). An
EVALSHA belongs to a part by the SHA-1 of its script.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field

from cluster_redis import KIND_BY_SHA as CLUSTER_KIND_BY_SHA
from cluster_redis import MonitorFeed

from snmpd_ng.alerting import redis_store_scripts
from snmpd_ng.cluster.keys import Keys
from snmpd_ng.cluster.rule_state import SAVE_SCRIPT
from snmpd_ng.cluster.signal_stream import APPEND_SCRIPT

ALERT_STORE = "alert store"
SIGNAL_STREAM = "signal stream"
RULE_STATE = "rule state"
POLLING = "polling and membership"
PARTS = (ALERT_STORE, SIGNAL_STREAM, RULE_STATE, POLLING)
ALERTING_PARTS = (ALERT_STORE, SIGNAL_STREAM, RULE_STATE)

STORE_SCRIPTS = ("APPLY", "CLAIM", "RECORD_OUTCOME", "REQUEUE_CLAIMED", "DEAD_LETTER",
                 "HISTORY", "HISTORY_PAGE", "LOAD_STATE", "NEXT_DUE", "PENDING_CHANNELS")
"""The Lua scripts of RedisAlertStore, by their names in redis_store_scripts."""


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


SCRIPT_BY_SHA: dict[str, tuple[str, str]] = {
    _sha(APPEND_SCRIPT): (SIGNAL_STREAM, "signal append script"),
    _sha(SAVE_SCRIPT): (RULE_STATE, "rule state save script"),
    **{_sha(getattr(redis_store_scripts, name)): (ALERT_STORE, f"store {name}")
       for name in STORE_SCRIPTS},
    **{sha: (POLLING, kind) for sha, kind in CLUSTER_KIND_BY_SHA.items()},
}
"""Part and name of each script, by the SHA-1 that redis-py's register_script sends."""
SIGNAL_COMMANDS = ("xreadgroup", "xack", "xgroup", "xautoclaim", "xpending", "xclaim")

_LINE = re.compile(rb'^\+\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]*)"(?: "([^"]*)")?(?: "([^"]*)")?')
"""A MONITOR line: time, database and client, then the command and its first two arguments."""


@dataclass(slots=True)
class PartCounts:
    """Commands of one period on the MONITOR feed, by part of the daemon."""

    sent: Counter[str] = field(default_factory=Counter)
    """Commands the nodes sent, by part."""
    in_scripts: Counter[str] = field(default_factory=Counter)
    """Commands that scripts ran, by part."""
    by_command: Counter[str] = field(default_factory=Counter)
    """Commands the nodes sent, by "<part>: <command or script name>"."""


def part_of_key(key: str, keys: Keys) -> str:
    """Name the part of the daemon that a key belongs to."""
    name = key.removeprefix(keys.base)
    if name.startswith("alerts:"):
        return ALERT_STORE
    if name.startswith("alert-signals"):
        return SIGNAL_STREAM
    if name.startswith("rules:"):
        return RULE_STATE
    return POLLING


def classify_sent(command: str, first: str, second: str, keys: Keys) -> tuple[str, str]:
    """Return the part and the name of a command that a node sent."""
    if command == "evalsha":
        return SCRIPT_BY_SHA.get(first, (POLLING, "other script"))
    if command in SIGNAL_COMMANDS:
        return SIGNAL_STREAM, command.upper()
    # XREADGROUP names its stream after GROUP and the options; every other command takes the
    # key first, apart from EVAL (the status read) and connection checks.
    key = first if first.startswith(keys.base) else second
    return part_of_key(key, keys), command.upper()


class PartFeed(MonitorFeed):
    """A MonitorFeed that counts commands by part of the daemon instead of by poll kind."""

    def __init__(self, port: int, keys: Keys) -> None:
        super().__init__(port, keys)
        self.parts = PartCounts()
        self._parts_markers = 0

    def _count(self, line: bytes) -> None:
        # The parent's count keeps its INFO markers, which end the feed after the second INFO.
        super()._count(line)
        match = _LINE.match(line)
        if match is None:
            return
        client, command_bytes, *arguments = match.groups()
        command = command_bytes.decode().lower()
        if command == "info":
            self._parts_markers += 1
        if self._parts_markers != 1 or command in ("info", "monitor"):
            return
        first, second = ((argument or b"").decode(errors="replace") for argument in arguments)
        if client == b"lua":
            self.parts.in_scripts[part_of_key(first, self._keys)] += 1
            return
        part, name = classify_sent(command, first, second, self._keys)
        self.parts.sent[part] += 1
        self.parts.by_command[f"{part}: {name}"] += 1
