"""The `snmpd-ng` console script: net-snmp compatible tools and the daemon's commands.

    snmpd-ng get|getnext|walk|bulkwalk|set [OPTIONS] AGENT ...   like snmpget, snmpwalk, ...
    snmpd-ng run --config FILE                                 run the polling daemon
    snmpd-ng check-config FILE                                 validate a config file
    snmpd-ng test-rules FILE...                                run alerting rule unit tests
    snmpd-ng alerts list|show|ack|silence|silences|expire|history   alerts through the API
    snmpd-ng cluster status --config FILE                      the cluster's state in Redis
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version

from snmpd_ng.cli.messages import EXIT_FAILURE, EXIT_OK
from snmpd_ng.cli.options import OperandError, Tool, ToolOptions, UsageError, parse_arguments
from snmpd_ng.cli.runner import Command, Streams, run_command
from snmpd_ng.cli.usm import V3_HELP
from snmpd_ng.logging import configure_logging
from snmpd_ng.protocol import BUILD as CODEC_BUILD

EXIT_USAGE = 2
"""Exit status of `snmpd-ng` without a command."""

_SYNOPSIS = {
    Tool.GET: "get [OPTIONS] AGENT OID [OID]...",
    Tool.GETNEXT: "getnext [OPTIONS] AGENT OID [OID]...",
    Tool.WALK: "walk [OPTIONS] AGENT [OID]",
    Tool.BULKWALK: "bulkwalk [OPTIONS] AGENT [OID]",
    Tool.SET: "set [OPTIONS] AGENT OID TYPE VALUE [OID TYPE VALUE]...",
}

_TOOL_HELP = """\
AGENT is [udp:|udp6:]HOST[:PORT] or [IPV6-ADDRESS]:PORT (port 161 by default).
OID is numeric (1.3.6.1.2.1.1.5.0 or .1.3.6.1.2.1.1.5.0) or a built-in name (sysName.0).

Options (as in net-snmp's tools; options may follow the agent):
  -v 1|2c|3      SNMP version (default 2c)
  -c COMMUNITY   community string (required with -v 1 and -v 2c)
  -t SECONDS     timeout of one attempt, in seconds (default 1)
  -r RETRIES     attempts after the first one (default 5)
  -O LETTERS     output: n numeric OIDs, f full OIDs, q quick, Q quick with '=', v values only,
                 x strings in hex, a strings as text, t timeticks as a number
  -C LETTERS     walk: c do not check that OIDs increase, I do not GET the root of an empty
                 walk, i GET the root first, p print the number of varbinds found;
                 bulkwalk also: nNUM non-repeaters (default 0), rNUM max-repetitions
                 (default 10); get and getnext: f do not retry an SNMPv1 GET without the
                 OID that failed
  -d             log each request and response to stderr
  -h, --help     show this help;  -V, --version  show the version
"""

_SET_HELP = """\
TYPE: i INTEGER, u Unsigned32, t TimeTicks, a IpAddress, o OID, s STRING, x hex STRING,
      d decimal STRING, b BITS, n NULL, c Counter32, C Counter64.
      U, I, F and D: Opaque unsigned 64-bit, signed 64-bit, float and double.
"""

_MAIN_HELP = """\
usage: snmpd-ng COMMAND [ARGUMENTS]

net-snmp compatible tools (run 'snmpd-ng COMMAND --help' for their options):
  get        GET one or more OIDs (like snmpget)
  getnext    GETNEXT one or more OIDs (like snmpgetnext)
  walk       walk a subtree with GETNEXT (like snmpwalk)
  bulkwalk   walk a subtree with GETBULK (like snmpbulkwalk)
  set        SET one or more values (like snmpset)

The daemon:
  run --config FILE     run the polling daemon
  check-config FILE     check a config file and print a summary
  test-rules FILE...    run alerting rule unit tests (like promtool test rules)
  alerts VERB ...       list, acknowledge and silence alerts through the daemon's API
  cluster status ...    show the cluster's nodes, assignment and leases, read from Redis

  -h, --help     show this help
  --version      show the version
"""


def main(argv: list[str] | None = None) -> int:
    """Run `snmpd-ng` with `argv` (sys.argv[1:] by default) and return the exit code."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    if not arguments:
        # A missing command is a usage error: help on stderr and status 2, as argparse does
        # for `snmpd-ng run` and `snmpd-ng check-config` without their arguments.
        sys.stderr.write(_MAIN_HELP)
        return EXIT_USAGE
    if arguments[0] in ("-h", "--help", "help"):
        sys.stdout.write(_MAIN_HELP)
        return EXIT_OK
    if arguments[0] in ("--version", "-V"):
        sys.stdout.write(f"snmpd-ng {package_version()} (codec: {CODEC_BUILD})\n")
        return EXIT_OK

    command, rest = arguments[0], arguments[1:]
    if command == "run":
        from snmpd_ng.daemon import cli_run

        return cli_run(rest)
    if command == "check-config":
        from snmpd_ng.daemon import cli_check_config

        return cli_check_config(rest)
    if command == "test-rules":
        from snmpd_ng.cli.test_rules import cli_test_rules

        return cli_test_rules(rest)
    if command == "alerts":
        from snmpd_ng.cli.alerts import cli_alerts

        return cli_alerts(rest)
    if command == "cluster":
        from snmpd_ng.cli.cluster import cli_cluster

        return cli_cluster(rest)
    try:
        tool = Tool(command)
    except ValueError:
        sys.stderr.write(f"snmpd-ng: unknown command {command!r}; run 'snmpd-ng --help' "
                         "for the list of commands\n")
        return EXIT_FAILURE
    return run_tool(tool, rest)


def run_tool(tool: Tool, argv: list[str]) -> int:
    """Parse one tool's options and run it. Usage errors exit 1, as in net-snmp."""
    streams = Streams(sys.stdout, sys.stderr)
    try:
        options = parse_arguments(tool, argv)
        if options.show_help:
            streams.out.write(usage(tool) + _TOOL_HELP + V3_HELP
                              + (_SET_HELP if tool == Tool.SET else ""))
            return EXIT_OK
        if options.show_version:
            streams.out.write(f"snmpd-ng {package_version()} (codec: {CODEC_BUILD})\n")
            return EXIT_OK
        configure_logging("debug" if options.debug else "error", "console", streams.err)
        return run_command(_command(options), options, streams)
    except OperandError as exc:
        streams.err.write(f"{exc}\n")
    except UsageError as exc:
        streams.err.write(f"{exc}\n{usage(tool)}Run 'snmpd-ng {tool.value} --help' for the "
                          "options.\n")
    return EXIT_FAILURE


def usage(tool: Tool) -> str:
    """Return the one-line synopsis of a tool."""
    return f"USAGE: snmpd-ng {_SYNOPSIS[tool]}\n"


def _command(options: ToolOptions) -> Command:
    # Imported here so that `snmpd-ng --help` and the daemon's commands load less.
    from snmpd_ng.cli.commands import run_get, run_set
    from snmpd_ng.cli.walk import run_walk

    if options.tool in (Tool.WALK, Tool.BULKWALK):
        return run_walk
    if options.tool == Tool.SET:
        return run_set
    return run_get


def package_version() -> str:
    """Return the installed version of snmpd-ng, or 'unknown' when run from a bare checkout."""
    try:
        return version("snmpd-ng")
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
