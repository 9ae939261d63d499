"""`snmpd-ng test-rules FILE...`: run rule unit tests, as `promtool test rules` does.

Prints PASS or FAIL for each test case, with the expected and actual alerts of a failure.
Exits 0 when every case of every file passed, 2 on wrong arguments, and 1 otherwise, including
a file that cannot be run.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from snmpd_ng.alerting.rules.testing import format_results, run_test_file
from snmpd_ng.cli.messages import EXIT_FAILURE, EXIT_OK
from snmpd_ng.logging import configure_logging

EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snmpd-ng test-rules",
        description="Run alerting rule unit tests: input series over time and the alerts "
        "expected at given times. docs/alerting-rules.md describes the file format.",
    )
    parser.add_argument("files", metavar="FILE", nargs="+", help="YAML rule test file")
    return parser


def cli_test_rules(argv: list[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the test files named in `argv` and print the results; return the exit status."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE

    # Evaluation and template errors of the rules are logged by the engine; they go to
    # stderr, apart from the report.
    configure_logging("warning", "console", err)
    results = [run_test_file(path) for path in args.files]
    lines, passed = format_results(results)
    out.write("\n".join(lines) + "\n")
    return EXIT_OK if passed else EXIT_FAILURE
