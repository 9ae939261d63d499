"""`get`, `getnext` and `set`: one request, the response varbinds printed as snmpget prints them."""

from __future__ import annotations

from snmpd_ng.cli.messages import EXIT_ERROR_STATUS, EXIT_OK, error_in_packet
from snmpd_ng.cli.oids import parse_oid_argument
from snmpd_ng.cli.options import Tool, ToolOptions
from snmpd_ng.cli.output import format_varbind
from snmpd_ng.cli.runner import Streams
from snmpd_ng.cli.setvalues import parse_set_operands
from snmpd_ng.cli.usm import missing_level_note
from snmpd_ng.manager import NO_SUCH_NAME, ErrorStatusError, Manager, Target
from snmpd_ng.protocol.pdu import ErrorStatus
from snmpd_ng.protocol.values import VarBind


async def run_get(manager: Manager, target: Target, options: ToolOptions, streams: Streams) -> int:
    """GET or GETNEXT the OIDs on the command line and print one line per varbind.

    In SNMPv1 the manager sends a request again without each OID the agent rejected with
    noSuchName and marks that OID; here each mark becomes snmpget's error report (exit 2), as
    net-snmp does when it retries without the failed object. With -Cf net-snmp does not retry,
    so only the first report is printed and no values.
    """
    oids = [parse_oid_argument(text) for text in options.operands]
    try:
        if options.tool == Tool.GETNEXT:
            varbinds = await manager.get_next(target, oids)
        else:
            varbinds = await manager.get(target, oids)
    except ErrorStatusError as exc:
        streams.err.write(error_in_packet(options.tool, exc.status, exc.oid, options.output)
                          + missing_level_note(options.v3, exc.status))
        return EXIT_ERROR_STATUS

    failed = [varbind for varbind in varbinds if varbind.value is NO_SUCH_NAME]
    for varbind in failed[: 1 if not options.fix_pdu else None]:
        streams.err.write(error_in_packet(options.tool, ErrorStatus.NO_SUCH_NAME, varbind.oid,
                                          options.output))
    if failed and not options.fix_pdu:
        return EXIT_ERROR_STATUS

    print_varbinds(varbinds, options, streams)
    return EXIT_ERROR_STATUS if failed else EXIT_OK


async def run_set(manager: Manager, target: Target, options: ToolOptions, streams: Streams) -> int:
    """SET the `OID TYPE VALUE` triples in one request and print the agent's response."""
    request = parse_set_operands(options.operands)
    try:
        varbinds = await manager.set(target, request)
    except ErrorStatusError as exc:
        streams.err.write(error_in_packet(options.tool, exc.status, exc.oid, options.output)
                          + missing_level_note(options.v3, exc.status))
        return EXIT_ERROR_STATUS
    print_varbinds(varbinds, options, streams)
    return EXIT_OK


def print_varbinds(varbinds: list[VarBind], options: ToolOptions, streams: Streams) -> None:
    """Print each varbind on its own line, skipping SNMPv1 noSuchName marks."""
    for varbind in varbinds:
        if varbind.value is not NO_SUCH_NAME:
            streams.out.write(format_varbind(varbind, options.output) + "\n")
