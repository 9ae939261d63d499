"""One tool run: build the target, open a manager on a uvloop event loop, map errors to exit codes.

Each command is a coroutine `(manager, target, options, streams) -> exit code`. Errors that every
tool reports the same way (timeout, unknown host, socket failure, SNMPv3 security failure) are
handled here, once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TextIO

import structlog
import uvloop

from snmpd_ng.cli.agent import AgentAddress, parse_agent
from snmpd_ng.cli.messages import EXIT_FAILURE, security_error_message, timeout_message
from snmpd_ng.cli.options import ToolOptions
from snmpd_ng.cli.usm import SnmpV3Options
from snmpd_ng.manager import (
    InvalidRequestError,
    Manager,
    RequestTimeout,
    ResolutionError,
    SecurityError,
    Target,
    TransportError,
)
from snmpd_ng.protocol.message import SnmpVersion
from snmpd_ng.secret import Secret

_log = structlog.get_logger("snmpd_ng.cli")


@dataclass(frozen=True, slots=True)
class Streams:
    """The output streams of a command: `out` for values, `err` for errors."""

    out: TextIO
    err: TextIO


Command = Callable[[Manager, Target, ToolOptions, Streams], Awaitable[int]]


def build_target(options: ToolOptions, agent: AgentAddress) -> Target:
    """Build the manager's target from the command line; the label is the agent as written.

    With SNMPv1 and SNMPv2c the SNMPv3 options are ignored, as net-snmp ignores them, and with
    SNMPv3 the community is.
    """
    v3 = options.v3 if options.version == SnmpVersion.V3 else SnmpV3Options()
    return Target(
        host=agent.host,
        port=agent.port,
        version=options.version,
        community=Secret(options.community or ""),
        usm=options.usm,
        context_name=v3.context_name,
        context_engine_id=v3.context_engine_id,
        security_engine_id=v3.security_engine_id,
        timeout=options.timeout,
        retries=options.retries,
        max_repetitions=options.max_repetitions,
        name=agent.label,
    )


def run_command(command: Command, options: ToolOptions, streams: Streams) -> int:
    """Run one command to completion on a fresh uvloop loop and return its exit code."""
    agent = parse_agent(options.agent)
    target = build_target(options, agent)
    if options.version == SnmpVersion.V3 and options.v3.engine_boots_time is not None:
        # The transport learns boots and time from the agent's report, and net-snmp's -Z only
        # saves that one exchange.
        _log.debug("option -Z ignored", tool=options.tool.value, target=target.label)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_run(command, target, options, streams))


async def _run(command: Command, target: Target, options: ToolOptions, streams: Streams) -> int:
    tool = options.tool.value
    try:
        async with Manager() as manager:
            return await command(manager, target, options, streams)
    except RequestTimeout as exc:
        _log.debug("request timed out", tool=tool, target=target.label, attempts=exc.attempts)
        streams.err.write(timeout_message(options.tool, target.label))
    except SecurityError as exc:
        _log.debug("SNMPv3 request failed", tool=tool, target=target.label, kind=exc.kind,
                   error=str(exc))
        streams.err.write(security_error_message(options.tool, exc, target))
    except ResolutionError as exc:
        _log.debug("host name not resolved", tool=tool, target=target.label, reason=exc.reason)
        streams.err.write(f"snmpd-ng {tool}: Unknown host ({exc.host})\n")
    except (TransportError, InvalidRequestError) as exc:
        _log.debug("request failed", tool=tool, target=target.label, error=str(exc))
        streams.err.write(f"snmpd-ng {tool}: {exc}\n")
    return EXIT_FAILURE
