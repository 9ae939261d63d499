"""`walk` (GETNEXT) and `bulkwalk` (GETBULK), with the rules of net-snmp 5.9's snmpwalk.

These differ from the manager's own walk, which is made for polling, so the loop is written here
on top of `get_next` and `get_bulk`:

- a varbind outside the subtree ends the walk silently;
- an exception value inside it (endOfMibView, for one) is printed and ends the walk;
- an SNMPv1 noSuchName ends the walk with the line `End of MIB`;
- an OID that does not increase is reported and ends the walk with exit 1, unless -Cc;
- when nothing was printed, the root itself is fetched with a GET and printed if the GET
  succeeds (its errors are ignored), unless -CI.
"""

from __future__ import annotations

from dataclasses import dataclass

from snmpd_ng.cli.messages import (
    EXIT_ERROR_STATUS,
    EXIT_FAILURE,
    EXIT_OK,
    error_in_packet,
    oid_not_increasing,
)
from snmpd_ng.cli.oids import parse_oid_argument, walk_request_oid
from snmpd_ng.cli.options import Tool, ToolOptions
from snmpd_ng.cli.output import format_varbind
from snmpd_ng.cli.runner import Streams
from snmpd_ng.cli.usm import missing_level_note
from snmpd_ng.manager import NO_SUCH_NAME, ErrorStatusError, Manager, RequestTimeout, Target
from snmpd_ng.protocol.oid import Oid, is_prefix
from snmpd_ng.protocol.values import VarBind, is_exception


@dataclass
class _Walk:
    """The state of one walk: the last OID requested or printed, and what has been printed."""

    root: Oid
    last: Oid
    printed: int = 0
    running: bool = True
    exit_code: int = EXIT_OK


async def run_walk(manager: Manager, target: Target, options: ToolOptions,
                   streams: Streams) -> int:
    """Walk the subtree under the one OID argument (mib-2 by default) and print every varbind."""
    root = parse_oid_argument(options.operands[0], is_walk_root=True)
    walk = _Walk(root, walk_request_oid(root))
    if options.include_root:
        await _get_and_print(manager, target, walk, options, streams)

    try:
        while walk.running:
            varbinds = await _request(manager, target, options, walk.last)
            _absorb(walk, varbinds, options, streams)
    except ErrorStatusError as exc:
        streams.err.write(error_in_packet(options.tool, exc.status, exc.oid, options.output)
                          + missing_level_note(options.v3, exc.status))
        walk.exit_code = EXIT_ERROR_STATUS
    except RequestTimeout:
        # net-snmp prints the rows gathered so far, then the timeout; no GET of the root.
        if options.print_count:
            _print_count(walk, streams)
        raise

    if walk.printed == 0 and walk.exit_code == EXIT_OK and options.get_root_if_empty:
        await _get_and_print(manager, target, walk, options, streams)
    if options.print_count:
        _print_count(walk, streams)
    return walk.exit_code


async def _request(manager: Manager, target: Target, options: ToolOptions,
                   name: Oid) -> list[VarBind]:
    if options.tool == Tool.BULKWALK:
        return await manager.get_bulk(target, [name], non_repeaters=options.non_repeaters,
                                      max_repetitions=options.max_repetitions)
    return await manager.get_next(target, [name])


def _absorb(walk: _Walk, varbinds: list[VarBind], options: ToolOptions, streams: Streams) -> None:
    """Print the varbinds of one response that belong to the walk, and decide whether to go on."""
    if not varbinds:
        # An agent that returns nothing would make the same request forever.
        walk.running = False
        return

    # As in net-snmp, a stop condition ends the walk after this response, but every varbind of a
    # GETBULK response that lies in the subtree is still printed (snmpsim pads the last
    # response with endOfMibView rows, and snmpbulkwalk prints each one).
    for varbind in varbinds:
        if varbind.value is NO_SUCH_NAME:
            streams.out.write("End of MIB\n")
            walk.running = False
            return
        if not is_prefix(walk.root, varbind.oid):
            walk.running = False
            continue

        streams.out.write(format_varbind(varbind, options.output) + "\n")
        walk.printed += 1
        if is_exception(varbind.value):
            walk.running = False
            continue
        if options.check_increasing and varbind.oid <= walk.last:
            streams.err.write(oid_not_increasing(walk.last, varbind.oid, options.output))
            walk.exit_code = EXIT_FAILURE
            walk.running = False
        walk.last = varbind.oid


async def _get_and_print(manager: Manager, target: Target, walk: _Walk, options: ToolOptions,
                         streams: Streams) -> None:
    # net-snmp ignores every failure of this GET, a timeout included.
    try:
        varbinds = await manager.get(target, [walk_request_oid(walk.root)])
    except (ErrorStatusError, RequestTimeout):
        return
    for varbind in varbinds:
        if varbind.value is NO_SUCH_NAME:
            return
    for varbind in varbinds:
        streams.out.write(format_varbind(varbind, options.output) + "\n")
        walk.printed += 1


def _print_count(walk: _Walk, streams: Streams) -> None:
    streams.out.write(f"Variables found: {walk.printed}\n")
