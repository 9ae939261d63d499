"""`snmpd-ng cluster status`: the cluster's members, assignment and leases, read from Redis.

The command reads Redis directly, with the config file's `cluster:` settings, so it works
while every daemon is down. Exit 0 on success, 1 when the config cannot be loaded, has no
`cluster:` section or Redis cannot be read, and 2 on a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from redis.exceptions import RedisClusterException, RedisError

from snmpd_ng.cli.messages import EXIT_FAILURE, EXIT_OK
from snmpd_ng.cluster.keys import Keys
from snmpd_ng.cluster.redis_conn import (
    ClusterRedisError,
    describe,
    explain_redis_error,
    open_redis,
)
from snmpd_ng.cluster.settings import ClusterSettings
from snmpd_ng.cluster.status import ClusterStatus
from snmpd_ng.cluster.status_reader import format_status, read_status
from snmpd_ng.config.errors import ConfigError
from snmpd_ng.config.loader import load_config
from snmpd_ng.logging import configure_logging

EXIT_USAGE = 2
PROGRAM = "snmpd-ng cluster status"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snmpd-ng cluster",
        description="Show the state of an snmpd-ng cluster, read from its Redis.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    status = verbs.add_parser(
        "status", help="list the live nodes, their targets and leases, and the last failover",
        description="List the live nodes of the cluster that the config file's cluster: "
        "section names, with their assigned targets and leases, and the last failover.")
    status.add_argument("-c", "--config", required=True, metavar="FILE",
                        help="the daemon's YAML config file; its cluster: section names Redis")
    status.add_argument("--json", action="store_true",
                        help="print the status as JSON, as GET /cluster returns it")
    return parser


def cli_cluster(argv: Sequence[str], out: TextIO | None = None,
                err: TextIO | None = None) -> int:
    """Run `snmpd-ng cluster` with `argv` (the words after `cluster`); return the exit code."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE

    configure_logging("error", "console", err)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        err.write(f"{exc}\n")
        return EXIT_FAILURE

    # TODO: read `config.cluster` directly once DaemonConfig has the cluster section.
    settings: ClusterSettings | None = getattr(config, "cluster", None)
    if settings is None:
        err.write(f"{PROGRAM}: {args.config} has no cluster: section, so this daemon runs "
                  "alone and there is no cluster to show; add a cluster: section with the "
                  "Redis address to enable cluster mode\n")
        return EXIT_FAILURE
    targets = [target.name for target in config.targets]
    return asyncio.run(cluster_status_command(settings, targets, args.json, out=out, err=err))


async def cluster_status_command(settings: ClusterSettings, targets: Sequence[str],
                                 json_output: bool, *, out: TextIO | None = None,
                                 err: TextIO | None = None) -> int:
    """Read the status from Redis and print it as text or JSON; return the exit code."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        status = await _read(settings, targets)
    except ClusterRedisError as exc:
        err.write(f"{PROGRAM}: {exc}\n")
        return EXIT_FAILURE

    if json_output:
        out.write(json.dumps(status.to_json(), indent=2) + "\n")
    else:
        out.write(format_status(status))
    return EXIT_OK


async def _read(settings: ClusterSettings, targets: Sequence[str]) -> ClusterStatus:
    """Open Redis, read the status and close; raise ClusterRedisError with the user's message."""
    client = open_redis(settings.redis)
    try:
        return await read_status(client, Keys(settings.redis.key_prefix),
                                 redis=describe(settings.redis), targets=targets,
                                 join_delay=settings.join_delay_seconds)
    except (RedisError, RedisClusterException) as exc:
        raise ClusterRedisError(explain_redis_error(settings.redis, exc)) from exc
    finally:
        await client.aclose()
