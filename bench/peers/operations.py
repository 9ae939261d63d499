"""Run a fixed number of GETs or walks of one peer, for bench/instructions.py to count.

Unlike the timing runners, this one does a set number of operations after a fixed warm-up
(WARM_UP_GETS GETs and one walk), so that two runs that differ only in `--count` differ only in
the operations counted. It prints one JSON object: the operations run and the varbinds they
returned.

    python bench/peers/operations.py snmpd_ng get --count 100 --port PORT --security v2c
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence

import structlog
from common import GET_OIDS, WARM_UP_GETS, AsyncPeer, SyncPeer, settings_from
from security import PROFILES_BY_KEY

WALK_OID = "1.3.6.1.2.1.2"
"""The interfaces group (ifNumber and ifTable): a walk of a few GETBULKs whose size is stable,
where the agent's whole tree grows and shrinks with the machine's sockets."""

PEER_CLASSES = {
    "snmpd_ng": ("snmpd_ng_runner", "SnmpdNgPeer"),
    "pysnmp": ("pysnmp_runner", "PysnmpPeer"),
    "gufo-snmp": ("gufo_snmp_runner", "GufoSnmpPeer"),
    "gufo-snmp-sync": ("gufo_snmp_sync_runner", "GufoSnmpSyncPeer"),
}
"""Peer key to the runner module and class that implement it."""


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run N operations of one peer, for counting.")
    parser.add_argument("peer", choices=sorted(PEER_CLASSES))
    parser.add_argument("measure", choices=("get", "walk"))
    parser.add_argument("--count", type=int, required=True, help="operations after the warm-up")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--security", choices=sorted(PROFILES_BY_KEY), default="v2c")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds to wait for one response; valgrind slows the peer down "
                        "(default: 30)")
    parser.add_argument("--max-repetitions", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=1, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def make_peer(key: str) -> AsyncPeer | SyncPeer:
    module_name, class_name = PEER_CLASSES[key]
    peer: AsyncPeer | SyncPeer = getattr(importlib.import_module(module_name), class_name)()
    return peer


async def run_async(peer: AsyncPeer, arguments: argparse.Namespace) -> int:
    await peer.open(settings_from(arguments))
    try:
        for _ in range(WARM_UP_GETS):
            await peer.get(GET_OIDS)
        await peer.walk(WALK_OID)
        varbinds = 0
        for _ in range(arguments.count):
            if arguments.measure == "get":
                varbinds += await peer.get(GET_OIDS)
            else:
                varbinds += await peer.walk(WALK_OID)
        return varbinds
    finally:
        await peer.close()


def run_sync(peer: SyncPeer, arguments: argparse.Namespace) -> int:
    peer.open(settings_from(arguments))
    try:
        for _ in range(WARM_UP_GETS):
            peer.get(GET_OIDS)
        peer.walk(WALK_OID)
        varbinds = 0
        for _ in range(arguments.count):
            if arguments.measure == "get":
                varbinds += peer.get(GET_OIDS)
            else:
                varbinds += peer.walk(WALK_OID)
        return varbinds
    finally:
        peer.close()


def main(argv: Sequence[str] | None = None) -> None:
    import uvloop

    arguments = parse_arguments(argv)
    # snmpd_ng's manager logs its start and stop at INFO; keep stdout for the result line.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    peer = make_peer(arguments.peer)
    if isinstance(peer, SyncPeer):
        varbinds = run_sync(peer, arguments)
    else:
        varbinds = uvloop.run(run_async(peer, arguments))
    print(json.dumps({"operations": arguments.count, "varbinds": varbinds}))


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:
        print(f"operations failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
