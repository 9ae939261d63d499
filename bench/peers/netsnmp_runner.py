"""Benchmark runner for net-snmp's C command-line tools (snmpbulkwalk, snmpget, snmpwalk).

A tool is a new process per call, so its CPU time is read with `getrusage(RUSAGE_CHILDREN)` and the
cost of starting a tool is subtracted:
- walk: (CPU of a walk of the whole tree - CPU of a walk of sysDescr alone) / (difference in
  varbinds), so start-up, the first request and the end of the walk cancel out;
- get: CPU of `snmpget` with two OIDs - CPU of the same command without OIDs, which reads its
  config and exits before it opens a session;
- getnext: per request of `snmpwalk`, which sends one GETNEXT with one varbind per object in one
  session: the nearest net-snmp tools come to a long-lived manager's cost per request.

For an SNMPv3 profile the user, protocols and passphrases go into a private snmp.conf
(`defSecurityName` and the like) that the tools find through SNMPCONFPATH, so no passphrase is
on a command line. Each tool process then discovers the agent's engine and localises its keys
before its first request.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

from common import (
    COMMUNITY_VARIABLE,
    GET_BATCHES,
    GET_OIDS,
    MAX_WALKS,
    MIN_WALKS,
    WALK_ROOT,
    BenchError,
    Result,
    Settings,
    package_version,
    parse_arguments,
    settings_from,
)

SMALL_WALK_ROOT = "1.3.6.1.2.1.1.1"
"""sysDescr: a subtree of one varbind, walked for the start-up cost of a walk."""

MEASURES = ("walk", "get", "getnext", "in_flight")
START_UP_BUDGET_FACTOR = 3


class ToolRun(NamedTuple):
    cpu_seconds: float
    output: str


def run_tool(command: Sequence[str], environment: dict[str, str]) -> ToolRun:
    """Run one net-snmp tool and return the CPU time it used, user plus system."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(command, capture_output=True, text=True, check=False,
                               env=environment)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return ToolRun(cpu, completed.stdout + completed.stderr)


class NetSnmpTools:
    """Command lines for one agent; the tool name comes first.

    `folder` contains the snmp.conf of an SNMPv3 profile and the tools' persistent state.
    """

    def __init__(self, settings: Settings, folder: Path) -> None:
        self.agent = f"{settings.host}:{settings.port}"
        self.environment = {**os.environ, "MIBS": ""}
        # -r 0: one attempt per request, so the packet check counts every request once.
        self.common = ["-r", "0", "-t", str(settings.timeout), "-On"]
        if settings.security.is_v3:
            write_client_config(settings, folder)
            self.environment.update(SNMPCONFPATH=str(folder), SNMP_PERSISTENT_DIR=str(folder))
        else:
            community = os.environ.get(COMMUNITY_VARIABLE, "public")
            self.common = ["-v2c", "-c", community, *self.common]
        self.max_repetitions = settings.max_repetitions

    def run(self, command: Sequence[str]) -> ToolRun:
        return run_tool(command, self.environment)

    def bulk_walk(self, oid: str) -> tuple[float, int]:
        """Return the CPU seconds of an snmpbulkwalk of `oid` and the varbinds it found."""
        run = self.run(["snmpbulkwalk", *self.common, f"-Cr{self.max_repetitions}", "-Cp",
                        self.agent, oid])
        return run.cpu_seconds, _variables_found(run.output)

    def get_next_walk(self, oid: str) -> tuple[float, int]:
        run = self.run(["snmpwalk", *self.common, "-Cp", self.agent, oid])
        return run.cpu_seconds, _variables_found(run.output)

    def get(self) -> float:
        run = self.run(["snmpget", *self.common, self.agent, *GET_OIDS])
        if run.output.count("\n") != len(GET_OIDS):
            raise BenchError(f"snmpget returned {run.output.count(chr(10))} lines, "
                             f"expected {len(GET_OIDS)}")
        return run.cpu_seconds

    def start_only(self) -> float:
        """CPU of snmpget without OIDs: it parses its arguments and config, then exits."""
        return self.run(["snmpget", *self.common, self.agent]).cpu_seconds


def write_client_config(settings: Settings, folder: Path) -> None:
    """Write the snmp.conf that makes every tool an SNMPv3 client of the profile's user."""
    profile, passphrases = settings.security, settings.passphrases
    assert passphrases is not None
    lines = ["defVersion 3", f"defSecurityName {profile.user}", "defSecurityLevel authPriv",
             f"defAuthType {profile.auth_protocol}", f"defAuthPassphrase {passphrases.auth}",
             f"defPrivType {profile.priv_protocol}", f"defPrivPassphrase {passphrases.priv}"]
    config = folder / "snmp.conf"
    config.write_text("".join(f"{line}\n" for line in lines))
    config.chmod(0o600)


def _variables_found(output: str) -> int:
    """Return the varbinds a walk tool printed, from the "Variables found: N" line of `-Cp`.

    At the end of the agent's tree the tools print the endOfMibView exception as one more
    variable and count it, so it is taken off here.
    """
    lines = output.splitlines()
    for position in range(len(lines) - 1, -1, -1):
        if lines[position].startswith("Variables found:"):
            found = int(lines[position].split(":")[1])
            is_end_of_view = position > 0 and "No more variables left" in lines[position - 1]
            return found - 1 if is_end_of_view else found
    raise BenchError(f"walk printed no variable count; its last output: {output[-200:]!r}")


def _walk_count(seconds: float, cpu_of_one: float) -> int:
    return min(MAX_WALKS, max(MIN_WALKS, round(seconds / max(cpu_of_one, 1e-6))))


def measure_walk(result: Result, tools: NetSnmpTools, seconds: float) -> None:
    """CPU per varbind of snmpbulkwalk, as the difference between a whole and a one-varbind walk."""
    tools.bulk_walk(SMALL_WALK_ROOT)
    first_cpu, first_size = tools.bulk_walk(WALK_ROOT)
    walks = _walk_count(seconds, first_cpu)
    sizes = [first_size]

    for _ in range(walks):
        small_cpu, small_size = tools.bulk_walk(SMALL_WALK_ROOT)
        cpu, size = tools.bulk_walk(WALK_ROOT)
        sizes.append(size)
        result.samples.append((cpu - small_cpu) / (size - small_size) * 1e6)
        result.cpu_seconds += cpu

    # Each one-varbind walk is one GETBULK request.
    result.requests_sent = walks + 1
    result.walks = walks
    result.walks_run = walks + 1
    result.varbinds_per_walk = round(statistics.median(sizes))
    result.cpu_us_per_varbind = statistics.median(result.samples)


def measure_get(result: Result, tools: NetSnmpTools, seconds: float) -> None:
    """CPU per snmpget process less the CPU of its start-up, in GET_BATCHES batches."""
    tools.start_only()
    first = tools.get()
    # A pair is one snmpget with OIDs and one without; its cost is about twice the first call.
    # The difference is small beside the start-up's own spread, so this measure gets
    # START_UP_BUDGET_FACTOR times the CPU budget of the others.
    budget = seconds * START_UP_BUDGET_FACTOR
    pairs = max(20, round(budget / GET_BATCHES / (2 * max(first, 1e-6))))

    for _ in range(GET_BATCHES):
        # Alternating the two commands keeps slow drifts of the machine out of the difference.
        get_cpu = start_cpu = 0.0
        for _ in range(pairs):
            get_cpu += tools.get()
            start_cpu += tools.start_only()
        result.samples.append((get_cpu - start_cpu) / pairs * 1e6)
        result.cpu_seconds += get_cpu

    result.requests_sent = 1 + pairs * GET_BATCHES
    result.cpu_us_per_request = statistics.median(result.samples)


def measure_get_next(result: Result, tools: NetSnmpTools, seconds: float) -> None:
    """CPU per GETNEXT request of snmpwalk, from whole-tree walks less a one-varbind walk."""
    small_cpu, small_size = tools.get_next_walk(SMALL_WALK_ROOT)
    first_cpu, first_size = tools.get_next_walk(WALK_ROOT)
    # A GETNEXT walk sends one request per varbind and one more that leaves the subtree.
    requests = (small_size + 1) + (first_size + 1)

    for _ in range(_walk_count(seconds, first_cpu)):
        small_cpu, small_size = tools.get_next_walk(SMALL_WALK_ROOT)
        cpu, size = tools.get_next_walk(WALK_ROOT)
        requests += (small_size + 1) + (size + 1)
        result.samples.append((cpu - small_cpu) / (size - small_size) * 1e6)
        result.cpu_seconds += cpu

    result.requests_sent = requests
    result.cpu_us_per_request = statistics.median(result.samples)


def main(argv: Sequence[str] | None = None) -> None:
    """Run one measure and print its Result as JSON; exit 1 with a message on failure."""
    arguments = parse_arguments(argv, MEASURES)
    name = {"get": "net-snmp snmpget", "getnext": "net-snmp snmpwalk"}.get(
        arguments.measure, "net-snmp snmpbulkwalk")
    result = Result(peer=name, version=_netsnmp_version(), measure=arguments.measure,
                    security=arguments.security)
    with tempfile.TemporaryDirectory(prefix="bench-netsnmp-") as folder:
        tools = NetSnmpTools(settings_from(arguments), Path(folder))
        try:
            _run(arguments.measure, result, tools, arguments.seconds)
        except (BenchError, OSError, ValueError) as exc:
            print(f"{name} {arguments.measure} failed: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
            sys.exit(1)
    print(json.dumps(asdict(result)))


def _run(measure: str, result: Result, tools: NetSnmpTools, seconds: float) -> None:
    if measure == "walk":
        measure_walk(result, tools, seconds)
    elif measure == "get":
        measure_get(result, tools, seconds)
    elif measure == "getnext":
        measure_get_next(result, tools, seconds)
    else:
        raise BenchError("net-snmp's tools send one request at a time, so nothing is in flight")


def _netsnmp_version() -> str:
    completed = subprocess.run(["snmpget", "--version"], capture_output=True, text=True,
                               check=False)
    # It prints "NET-SNMP version: 5.9.3" on stderr.
    text = (completed.stdout + completed.stderr).strip()
    return text.rsplit(" ", 1)[-1] if text else package_version("net-snmp")


if __name__ == "__main__":
    main()
