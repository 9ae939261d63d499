"""User-space instructions per GET and per walk, counted with valgrind's cachegrind.

CPU time on a shared machine moves by a third between runs. The number of instructions a
process executes does not, as long as the code and the work are the same. The count of a
whole process includes Python's start-up, the imports and the warm-up, so each figure is the
difference of two runs of bench/peers/operations.py that differ only in the number of
operations, divided by that difference:

    (I(LARGE) - I(SMALL)) / (LARGE - SMALL)

Both runs use PYTHONHASHSEED=0. What still differs between runs (random request-ids and salts,
whose BER length varies, and garbage collections) moves a figure by about 1 %.

Run alone, it starts its own agent with the bench's SNMPv3 users:

    .venv/bin/python bench/instructions.py                   # snmpd_ng, every profile
    .venv/bin/python bench/instructions.py --peers snmpd_ng,gufo-snmp --measures get
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from agent import BenchAgent

BENCH_DIR = Path(__file__).resolve().parent
OPERATIONS = BENCH_DIR / "peers" / "operations.py"
sys.path.append(str(OPERATIONS.parent))
from security import (  # noqa: E402
    PROFILES,
    PROFILES_BY_KEY,
    Passphrases,
    agent_config_lines,
    passphrase_environment,
)

# Operations of the two runs whose difference is counted. A GET of snmpd_ng costs 0.2 to 0.6
# million instructions and a walk of the interfaces group 2 to 6 million. So the difference is
# large beside the noise of start-up, and a run under valgrind stays under about 15 s.
COUNTS = {"get": (100, 600), "walk": (5, 25)}
VALGRIND_TIMEOUT = 600.0
"""Seconds one run under valgrind may take before it is killed."""

_TOTAL = re.compile(r"I\s+refs:\s+([\d,]+)")


class CountError(RuntimeError):
    """A run under valgrind failed or printed no instruction count."""


@dataclass(frozen=True, slots=True)
class InstructionCount:
    """Instructions per operation of one peer, measure and security profile."""

    peer: str
    security: str
    measure: str
    per_operation: float | None = None
    per_varbind: float | None = None
    """Per varbind returned; for walks, where the varbinds per walk are what varies."""
    varbinds_per_operation: float | None = None
    error: str = ""


def missing_valgrind() -> str | None:
    """Return why no count can be made here, or None when valgrind is installed."""
    if shutil.which("valgrind") is None:
        return "valgrind not found; install it with `apt-get install -y valgrind`"
    return None


def count_run(port: int, peer: str, security: str, measure: str, count: int,
              passphrases: Passphrases) -> tuple[int, int]:
    """Run `count` operations under cachegrind; return the instructions and varbinds."""
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no",
               "--cachegrind-out-file=/dev/null", sys.executable, str(OPERATIONS), peer, measure,
               "--count", str(count), "--port", str(port), "--security", security]
    environment = {**os.environ, "MIBS": "", "PYTHONHASHSEED": "0",
                   **passphrase_environment(passphrases)}
    try:
        completed = subprocess.run(command, capture_output=True, text=True, env=environment,
                                   timeout=VALGRIND_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise CountError(f"no result within {VALGRIND_TIMEOUT:.0f} s") from None
    if completed.returncode != 0:
        lines = [line for line in completed.stderr.splitlines() if not line.startswith("==")]
        raise CountError(lines[-1] if lines else f"exit status {completed.returncode}")

    total = _TOTAL.search(completed.stderr)
    if total is None:
        raise CountError("valgrind printed no `I refs` line")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    return int(total.group(1).replace(",", "")), int(result["varbinds"])


def count_instructions(port: int, peer: str, security: str, measure: str,
                       passphrases: Passphrases,
                       counts: tuple[int, int] | None = None) -> InstructionCount:
    """Count the instructions of one operation as the difference of two runs (see above).

    `counts` replaces the operations of the two runs, COUNTS[measure] by default.
    """
    small, large = counts or COUNTS[measure]
    try:
        small_total, small_varbinds = count_run(port, peer, security, measure, small,
                                                passphrases)
        large_total, large_varbinds = count_run(port, peer, security, measure, large,
                                                passphrases)
    except CountError as exc:
        return InstructionCount(peer, security, measure, error=str(exc))

    operations = large - small
    varbinds = large_varbinds - small_varbinds
    instructions = large_total - small_total
    return InstructionCount(peer, security, measure, per_operation=instructions / operations,
                            per_varbind=instructions / varbinds if varbinds else None,
                            varbinds_per_operation=varbinds / operations)


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Count instructions per GET and per walk.")
    parser.add_argument("--peers", default="snmpd_ng",
                        help="comma-separated peers: snmpd_ng, pysnmp, gufo-snmp, "
                        "gufo-snmp-sync (default: snmpd_ng)")
    parser.add_argument("--security", default=",".join(profile.key for profile in PROFILES),
                        help="comma-separated profiles (default: all)")
    parser.add_argument("--measures", default="get,walk", help="get, walk or both")
    parser.add_argument("--counts", help="operations of the two runs, as SMALL,LARGE (default: "
                        + "; ".join(f"{measure} {small},{large}"
                                    for measure, (small, large) in COUNTS.items()) + ")")
    parser.add_argument("--json", type=Path, help="also write the counts to this JSON file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    missing = missing_valgrind()
    if missing:
        raise SystemExit(missing)
    profiles = [PROFILES_BY_KEY[key] for key in arguments.security.split(",")]
    run_counts = None
    if arguments.counts:
        small, large = (int(number) for number in arguments.counts.split(","))
        run_counts = (small, large)
    passphrases = Passphrases(os.urandom(16).hex(), os.urandom(16).hex())

    counts = []
    with BenchAgent("public", agent_config_lines(PROFILES, passphrases)) as agent:
        for peer in arguments.peers.split(","):
            for profile in profiles:
                for measure in arguments.measures.split(","):
                    count = count_instructions(agent.port, peer, profile.key, measure,
                                               passphrases, run_counts)
                    counts.append(count)
                    print(_format(count), flush=True)
    if arguments.json:
        arguments.json.write_text(json.dumps([asdict(count) for count in counts], indent=2))


def _format(count: InstructionCount) -> str:
    head = f"{count.peer:16} {count.security:14} {count.measure:5}"
    if count.error:
        return f"{head} failed: {count.error}"
    line = f"{head} {count.per_operation:12,.0f} instructions per operation"
    if count.measure == "walk" and count.per_varbind is not None:
        line += (f", {count.per_varbind:,.0f} per varbind "
                 f"({count.varbinds_per_operation:.0f} varbinds per walk)")
    return line


if __name__ == "__main__":
    main()
