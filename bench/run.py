"""Side-by-side benchmark of snmpd_ng's manager and other SNMP managers against one local agent.

Starts a private net-snmp snmpd on 127.0.0.1, then runs each peer's runner (bench/peers/) once per
measure in its own process, so that the CPU time it reports is that manager's alone. Around each
run it reads the agent's snmpInPkts, which counts the datagrams the agent received, to check that
each GET costs exactly one packet. Then bench/daemon_load.py measures the daemon polling 1,000
simulated agents. Prints Markdown tables; `--output` and `--json` save them.

The peer snmpd_ng-mypyc runs the same snmpd_ng runner against a copy of the package whose codec
hot path is compiled with mypyc, built once per run into a temporary folder.

    .venv/bin/python bench/run.py                  # every peer and the daemon, about 3.5 minutes
    .venv/bin/python bench/run.py --quick --peers gufo-snmp
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent import BenchAgent
from daemon_load import LoadOptions, measure_daemon, render_daemon
from report import (
    OURS_COMPILED,
    Outcome,
    PeerSpec,
    load_average,
    machine_facts,
    render,
    save_report,
)

BENCH_DIR = Path(__file__).resolve().parent
PEERS_DIR = BENCH_DIR / "peers"
# tests/compiled_build.py builds the compiled copy for the tests too; import it, do not copy it.
sys.path.append(str(BENCH_DIR.parent / "tests"))
from compiled_build import build_compiled_copy, missing_build_tools  # noqa: E402

COMMUNITY = "public"
RUNNER_TIMEOUT = 180.0
"""Seconds one runner may take before it is killed and its measure reported as failed."""

PEERS = (
    PeerSpec("snmpd_ng", "snmpd_ng_runner.py", ("walk", "get", "in_flight")),
    PeerSpec(OURS_COMPILED, "snmpd_ng_runner.py", ("walk", "get", "in_flight"), build="mypyc"),
    PeerSpec("pysnmp", "pysnmp_runner.py", ("walk", "get", "in_flight")),
    PeerSpec("ezsnmp", "ezsnmp_runner.py", ("walk", "get")),
    PeerSpec("gufo-snmp", "gufo_snmp_runner.py", ("walk", "get", "in_flight")),
    PeerSpec("gufo-snmp-sync", "gufo_snmp_sync_runner.py", ("walk", "get")),
    PeerSpec("net-snmp", "netsnmp_runner.py", ("walk", "get", "getnext")),
)


@dataclass(frozen=True, slots=True)
class Options:
    seconds: float
    concurrency: int
    max_repetitions: int
    timeout: float


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    names = ", ".join(spec.key for spec in PEERS)
    parser = argparse.ArgumentParser(description="Benchmark SNMP managers side by side.")
    parser.add_argument("--peers", default="all",
                        help=f"comma-separated peers to measure, from: {names} (default: all)")
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="CPU seconds each measure of each peer spends timing (default: 2)")
    parser.add_argument("--quick", action="store_true",
                        help="0.2 CPU seconds per measure, for a smoke test; figures are rough")
    parser.add_argument("--concurrency", type=int, default=20,
                        help="GETs in flight for the in-flight measure (default: 20)")
    parser.add_argument("--max-repetitions", type=int, default=10,
                        help="GETBULK max-repetitions of every walk (default: 10, as snmpbulkwalk)")
    parser.add_argument("--timeout", type=float, default=2.0,
                        help="seconds a peer waits for one response (default: 2)")
    parser.add_argument("--skip-daemon", action="store_true",
                        help="leave out the daemon load test (1,000 targets, about 90 s); "
                        "--quick leaves it out too")
    parser.add_argument("--daemon-command",
                        help="command line that runs the daemon, to which `--config FILE` is "
                        "added (default: snmpd-ng run from this virtual environment)")
    parser.add_argument("--output", type=Path, help="also write the Markdown report to this file")
    parser.add_argument("--json", type=Path, help="also write the raw results to this JSON file")
    return parser.parse_args(argv)


def select_peers(selection: str, available: Sequence[PeerSpec] = PEERS) -> list[PeerSpec]:
    """Return the PeerSpecs of `available` named in a comma-separated list, or all of them for
    "all"."""
    if selection == "all":
        return list(available)
    by_key = {spec.key: spec for spec in available}
    keys = [key.strip() for key in selection.split(",") if key.strip()]
    unknown = [key for key in keys if key not in by_key]
    if unknown:
        raise SystemExit(f"unknown peer {', '.join(unknown)}; choose from {', '.join(by_key)}")
    return [by_key[key] for key in keys]


def runner_command(spec: PeerSpec, measure: str, port: int, options: Options,
                   security: str = "v2c") -> list[str]:
    return [sys.executable, str(PEERS_DIR / spec.runner), measure, "--port", str(port),
            "--seconds", str(options.seconds), "--concurrency", str(options.concurrency),
            "--max-repetitions", str(options.max_repetitions), "--timeout", str(options.timeout),
            "--security", security]


def runner_environment(agent: BenchAgent, spec: PeerSpec, compiled: Path | None) -> dict[str, str]:
    """Return the runner's environment: the community, and for the mypyc peer the compiled copy
    first on PYTHONPATH and the build the runner must check it imported."""
    environment = {**os.environ, "MIBS": "", "BENCH_COMMUNITY": agent.community,
                   "BENCH_EXPECTED_BUILD": spec.build}
    if spec.build == "mypyc" and compiled is not None:
        paths = [str(compiled), *filter(None, [os.environ.get("PYTHONPATH")])]
        environment["PYTHONPATH"] = os.pathsep.join(paths)
    return environment


def run_measure(agent: BenchAgent, spec: PeerSpec, measure: str, options: Options,
                compiled: Path | None = None, security: str = "v2c",
                secrets: Mapping[str, str] | None = None) -> Outcome:
    """Run one runner between two reads of snmpInPkts; a failed runner becomes a failed Outcome.

    `compiled` is the folder of the compiled copy of snmpd_ng, used by the mypyc peer only.
    `security` is the runner's `--security` profile, and `secrets` the environment variables
    that carry its passphrases.
    """
    environment = {**runner_environment(agent, spec, compiled), **(secrets or {})}
    command = runner_command(spec, measure, agent.port, options, security)
    before = agent.read_in_packets()
    started = time.monotonic()
    try:
        completed = subprocess.run(command, capture_output=True, text=True, env=environment,
                                   timeout=RUNNER_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return Outcome(spec.key, measure, security=security,
                       error=f"no result within {RUNNER_TIMEOUT:.0f} s")
    # The read of snmpInPkts after the run counts itself in the value it returns.
    packets = agent.read_in_packets() - before - 1
    elapsed = time.monotonic() - started

    if completed.returncode != 0:
        lines = completed.stderr.strip().splitlines() or [f"exit status {completed.returncode}"]
        return Outcome(spec.key, measure, security=security, error=lines[-1], elapsed=elapsed)
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return Outcome(spec.key, measure, result=result, security=security, packets=packets,
                   elapsed=elapsed)


@contextmanager
def compiled_copy(specs: Sequence[PeerSpec]) -> Iterator[Path | None]:
    """Build the compiled copy of snmpd_ng in a temporary folder if a selected peer needs it.

    Yields the folder, or None when no peer needs it or the build cannot run or fails. In the
    last two cases the reason is printed, and run_all skips the mypyc peer.
    """
    if not any(spec.build == "mypyc" for spec in specs):
        yield None
        return
    missing = missing_build_tools()
    if missing:
        print(f"bench: skipping {OURS_COMPILED}: {', '.join(missing)} not found",
              file=sys.stderr, flush=True)
        yield None
        return

    with tempfile.TemporaryDirectory(prefix="bench-mypyc-") as folder:
        print(f"bench: building the mypyc codec in {folder} ...", file=sys.stderr, flush=True)
        try:
            build_compiled_copy(Path(folder))
        except subprocess.CalledProcessError as exc:
            output = (exc.stdout or "") + (exc.stderr or "")
            last = output.strip().splitlines()[-1:] or [f"exit status {exc.returncode}"]
            print(f"bench: skipping {OURS_COMPILED}: mypyc build failed: {last[0]}",
                  file=sys.stderr, flush=True)
            yield None
            return
        yield Path(folder)


def run_all(specs: Sequence[PeerSpec], options: Options) -> list[Outcome]:
    outcomes = []
    with compiled_copy(specs) as compiled, BenchAgent(COMMUNITY) as agent:
        for spec in specs:
            if spec.build == "mypyc" and compiled is None:
                continue
            for measure in spec.measures:
                print(f"bench: {spec.key} {measure} ...", file=sys.stderr, flush=True)
                outcome = run_measure(agent, spec, measure, options, compiled)
                if outcome.error:
                    print(f"bench: {spec.key} {measure} failed: {outcome.error}",
                          file=sys.stderr, flush=True)
                outcomes.append(outcome)
    return outcomes


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    options = Options(seconds=0.2 if arguments.quick else arguments.seconds,
                      concurrency=arguments.concurrency,
                      max_repetitions=arguments.max_repetitions, timeout=arguments.timeout)
    specs = select_peers(arguments.peers)
    command = " ".join(["bench/run.py", *(sys.argv[1:] if argv is None else argv)])

    started = time.monotonic()
    machine = machine_facts()
    outcomes = run_all(specs, options)
    load = None
    if not (arguments.quick or arguments.skip_daemon):
        print("bench: daemon load test ...", file=sys.stderr, flush=True)
        daemon_command = tuple(shlex.split(arguments.daemon_command or ""))
        load = measure_daemon(LoadOptions(daemon_command=daemon_command))
    machine["load average at end"] = load_average()
    markdown = render(outcomes, machine, command, options.concurrency,
                      time.monotonic() - started)
    if load is not None:
        markdown += "\n" + render_daemon(load)
    print(markdown)

    raw = {"command": command, "machine": machine, "options": asdict(options),
           "outcomes": [asdict(outcome) for outcome in outcomes],
           "daemon": asdict(load) if load is not None else None}
    save_report(markdown, raw, arguments.output, arguments.json)


if __name__ == "__main__":
    main()
