"""SNMPv3 benchmark: CPU per GET and per walked varbind with SNMPv2c and two authPriv suites.

Starts one private net-snmp snmpd, as bench/run.py does, with one USM user per SNMPv3 profile of
bench/peers/security.py (`createUser NAME SHA-256 PASS AES PASS`, `rouser NAME priv`), and
passphrases drawn anew for the run. Then it runs each peer's runner once per measure and
profile, in its own process, and reads the agent's snmpInPkts around each run.

Unless `--skip-instructions` is given, bench/instructions.py then counts snmpd_ng's user-space
instructions per GET and per walk with valgrind's cachegrind, for every profile. Prints Markdown
tables; `--output` and `--json` save them.

    .venv/bin/python bench/v3_run.py                  # about 4 minutes
    .venv/bin/python bench/v3_run.py --quick --peers snmpd_ng,gufo-snmp --skip-instructions
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from agent import BenchAgent
from instructions import InstructionCount, count_instructions, missing_valgrind
from report import Outcome, PeerSpec, load_average, machine_facts, save_report
from run import COMMUNITY, PEERS_DIR, Options, select_peers
from run import run_measure as run_runner
from v3_report import render_v3

sys.path.append(str(PEERS_DIR))
from security import (
    PROFILES,
    Passphrases,
    agent_config_lines,
    passphrase_environment,
)

PEERS = (
    PeerSpec("snmpd_ng", "snmpd_ng_runner.py", ("walk", "get")),
    PeerSpec("pysnmp", "pysnmp_runner.py", ("walk", "get")),
    PeerSpec("gufo-snmp", "gufo_snmp_runner.py", ("walk", "get")),
    PeerSpec("gufo-snmp-sync", "gufo_snmp_sync_runner.py", ("walk", "get")),
    PeerSpec("net-snmp", "netsnmp_runner.py", ("walk", "get", "getnext")),
)


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    names = ", ".join(spec.key for spec in PEERS)
    parser = argparse.ArgumentParser(
        description="Benchmark SNMPv3 authPriv against SNMPv2c, for snmpd_ng and its peers.")
    parser.add_argument("--peers", default="all",
                        help=f"comma-separated peers to measure, from: {names} (default: all)")
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="CPU seconds each measure of each peer spends timing (default: 2)")
    parser.add_argument("--quick", action="store_true",
                        help="0.2 CPU seconds per measure, for a smoke test; figures are rough")
    parser.add_argument("--measures", default="walk,get,getnext",
                        help="comma-separated measures to run where a peer has them: walk, "
                        "get, getnext (net-snmp's snmpwalk only) (default: all)")
    parser.add_argument("--max-repetitions", type=int, default=10,
                        help="GETBULK max-repetitions of every walk (default: 10, as snmpbulkwalk)")
    parser.add_argument("--timeout", type=float, default=2.0,
                        help="seconds a peer waits for one response (default: 2)")
    parser.add_argument("--skip-instructions", action="store_true",
                        help="leave out the cachegrind instruction counts (about 2.5 minutes)")
    parser.add_argument("--output", type=Path, help="also write the Markdown report to this file")
    parser.add_argument("--json", type=Path, help="also write the raw results to this JSON file")
    return parser.parse_args(argv)


def new_passphrases() -> Passphrases:
    # 16 random octets in hex: above net-snmp's minimum of 8, and nothing the shell or
    # snmpd.conf would split.
    return Passphrases(secrets.token_hex(16), secrets.token_hex(16))


def run_all(agent: BenchAgent, specs: Sequence[PeerSpec], measures: Sequence[str],
            options: Options, passphrases: Passphrases) -> list[Outcome]:
    """Run the `measures` of every peer with every profile, SNMPv2c first."""
    environment = passphrase_environment(passphrases)
    outcomes = []
    for spec in specs:
        for profile in PROFILES:
            for measure in [measure for measure in spec.measures if measure in measures]:
                print(f"bench: {spec.key} {profile.key} {measure} ...", file=sys.stderr,
                      flush=True)
                outcome = run_runner(agent, spec, measure, options, security=profile.key,
                                     secrets=environment)
                if outcome.error:
                    print(f"bench: {spec.key} {profile.key} {measure} failed: {outcome.error}",
                          file=sys.stderr, flush=True)
                outcomes.append(outcome)
    return outcomes


def count_all(agent: BenchAgent, passphrases: Passphrases) -> list[InstructionCount]:
    """Count snmpd_ng's instructions per GET and per walk for every profile."""
    counts = []
    for profile in PROFILES:
        for measure in ("get", "walk"):
            print(f"bench: instructions of snmpd_ng {profile.key} {measure} ...",
                  file=sys.stderr, flush=True)
            counts.append(count_instructions(agent.port, "snmpd_ng", profile.key, measure,
                                             passphrases))
    return counts


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    options = Options(seconds=0.2 if arguments.quick else arguments.seconds, concurrency=1,
                      max_repetitions=arguments.max_repetitions, timeout=arguments.timeout)
    specs = select_peers(arguments.peers, PEERS)
    measures = [measure.strip() for measure in arguments.measures.split(",")]
    command = " ".join(["bench/v3_run.py", *(sys.argv[1:] if argv is None else argv)])
    missing = None if arguments.skip_instructions else missing_valgrind()
    if missing:
        print(f"bench: skipping the instruction counts: {missing}", file=sys.stderr, flush=True)

    started = time.monotonic()
    machine = machine_facts()
    passphrases = new_passphrases()
    counts: list[InstructionCount] = []
    with BenchAgent(COMMUNITY, agent_config_lines(PROFILES, passphrases)) as agent:
        outcomes = run_all(agent, specs, measures, options, passphrases)
        if not (arguments.skip_instructions or missing):
            counts = count_all(agent, passphrases)
    machine["load average at end"] = load_average()
    markdown = render_v3(outcomes, counts, machine, command, time.monotonic() - started)
    print(markdown)

    raw = {"command": command, "machine": machine, "options": asdict(options),
           "outcomes": [asdict(outcome) for outcome in outcomes],
           "instructions": [asdict(count) for count in counts]}
    save_report(markdown, raw, arguments.output, arguments.json)


if __name__ == "__main__":
    main()
