"""Profile of steady SNMPv3 polling: no key localisation per request, and where the CPU goes.

Starts a private snmpd with the bench's SNMPv3 users (bench/peers/security.py) and polls it
with one snmpd_ng Manager. After a warm-up of WARM_UP_GETS GETs of 2 varbinds (engine discovery
and key derivation happen there) it:

1. times `--gets` GETs without a profiler, in blocks that alternate with as many SNMPv2c GETs
   of the same Manager, for the CPU of a whole GET of each version;
2. runs `--gets` more SNMPv3 GETs under cProfile and checks that
   - no key derivation function of snmpd_ng/security/keys.py (password to key, localisation,
     key extension) was called,
   - `KeyCache.derivations`, the passphrases run through password to key, did not change,
   - every profiled GET went through SNMPv3 USM (`outgoing_request`), so that the first two
     checks cannot pass on a run that polled with another version.

It prints the checks and the functions with the most time of their own under cProfile. The
profiler's own cost inflates functions that make many small calls, so bench/v3_steps.py
measures each step of a GET alone. Exits 1 when a check fails.

    .venv/bin/python bench/v3_profile.py                       # 2,000 GETs, SHA-256 + AES-128
    .venv/bin/python bench/v3_profile.py --security sha512-aes256 --gets 5000
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import pstats
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import structlog
import uvloop
from agent import BenchAgent

from snmpd_ng import Manager, Secret, SnmpVersion, Target
from snmpd_ng.manager import AuthProtocol, PrivProtocol, UsmUser

sys.path.append(str(Path(__file__).resolve().parent / "peers"))
from security import (
    PROFILES,
    PROFILES_BY_KEY,
    Passphrases,
    SecurityProfile,
    agent_config_lines,
)

GET_OIDS = ("1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.3.0")
"""sysDescr.0 and sysUpTime.0, as bench/run.py's GET measure."""
WARM_UP_GETS = 200
TIMING_BLOCKS = 4

KEY_DERIVATION_FUNCTIONS = frozenset({
    "password_to_key", "localize_key", "localized_auth_key", "localized_priv_key",
    "extend_key_blumenthal", "extend_key_reeder",
})
"""Functions of snmpd_ng/security/keys.py that a steady poller must not call."""
KEYS_MODULE = "snmpd_ng/security/keys.py"
USM_MODULE = "snmpd_ng/security/usm.py"

FunctionKey = tuple[str, int, str]
"""pstats' key of a function: file name, line number, function name."""


@dataclass(slots=True)
class ProfileReport:
    security: str
    gets: int
    cpu_us_per_get: float
    """CPU per GET through the Manager, without the profiler."""
    v2c_cpu_us_per_get: float
    """The same with SNMPv2c, timed in blocks that alternate with the SNMPv3 ones."""
    derivations_before: int
    derivations_after: int
    usm_requests: int
    """Calls of outgoing_request during the profiled GETs."""
    key_functions_called: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        problems = []
        if self.key_functions_called:
            problems.append("key derivation ran during steady polling: "
                            + ", ".join(self.key_functions_called))
        if self.derivations_after != self.derivations_before:
            problems.append(f"KeyCache.derivations went from {self.derivations_before} to "
                            f"{self.derivations_after}")
        if self.derivations_before == 0:
            problems.append("KeyCache.derivations is 0 after the warm-up: no passphrase was "
                            "ever turned into a key, so the GETs did not use the SNMPv3 user")
        if self.usm_requests < self.gets:
            problems.append(f"only {self.usm_requests} of {self.gets} profiled GETs went "
                            "through SNMPv3 USM (outgoing_request)")
        return problems


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    v3_keys = [profile.key for profile in PROFILES if profile.is_v3]
    parser = argparse.ArgumentParser(description="Profile steady SNMPv3 polling.")
    parser.add_argument("--gets", type=int, default=2000,
                        help="GETs timed, and GETs profiled (default: 2000)")
    parser.add_argument("--security", choices=v3_keys, default=v3_keys[0],
                        help=f"SNMPv3 profile (default: {v3_keys[0]})")
    parser.add_argument("--lines", type=int, default=25,
                        help="functions listed by own time under cProfile (default: 25; 0: none)")
    parser.add_argument("--json", type=Path, help="also write the report to this JSON file")
    return parser.parse_args(argv)


def usm_user(profile: SecurityProfile, passphrases: Passphrases) -> UsmUser:
    return UsmUser(profile.user, AuthProtocol(profile.auth_protocol), Secret(passphrases.auth),
                   PrivProtocol(profile.priv_protocol), Secret(passphrases.priv))


async def run_gets(manager: Manager, target: Target, gets: int) -> None:
    for _ in range(gets):
        await manager.get(target, GET_OIDS)


async def time_gets(manager: Manager, targets: Sequence[Target], gets: int) -> list[float]:
    """Return the CPU µs per GET of each target, timed in TIMING_BLOCKS blocks per target
    that alternate between the targets, so that a slow spell of the machine hits both."""
    seconds = [0.0] * len(targets)
    per_block = max(1, gets // TIMING_BLOCKS)
    for _ in range(TIMING_BLOCKS):
        for position, target in enumerate(targets):
            started = time.process_time()
            await run_gets(manager, target, per_block)
            seconds[position] += time.process_time() - started
    return [total / (per_block * TIMING_BLOCKS) * 1e6 for total in seconds]


async def measure(port: int, user: UsmUser, gets: int, security: str
                  ) -> tuple[ProfileReport, pstats.Stats]:
    """Warm up, time the GETs and their steps, then profile GETs and check the key cache."""
    target = Target("127.0.0.1", port, version=SnmpVersion.V3, usm=user, retries=0, timeout=2.0)
    v2c_target = Target("127.0.0.1", port, retries=0, timeout=2.0)
    async with Manager() as manager:
        await run_gets(manager, target, WARM_UP_GETS)
        await run_gets(manager, v2c_target, WARM_UP_GETS)
        context = manager.usm_context
        before = context.keys.derivations

        cpu_us_per_get, v2c_cpu_us_per_get = await time_gets(manager, (target, v2c_target),
                                                             gets)

        profiler = cProfile.Profile()
        profiler.enable()
        await run_gets(manager, target, gets)
        profiler.disable()
        stats = pstats.Stats(profiler)
        report = ProfileReport(security, gets, cpu_us_per_get, v2c_cpu_us_per_get, before,
                               context.keys.derivations, usm_requests(stats),
                               key_functions_called(stats))
        return report, stats


def _entries(stats: pstats.Stats) -> dict[FunctionKey, tuple[Any, ...]]:
    entries: dict[FunctionKey, tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    return entries


def key_functions_called(stats: pstats.Stats) -> list[str]:
    return sorted(name for path, _line, name in _entries(stats)
                  if _in_module(path, KEYS_MODULE) and name in KEY_DERIVATION_FUNCTIONS)


def usm_requests(stats: pstats.Stats) -> int:
    # An entry is (primitive calls, calls, own time, cumulative time, callers).
    return sum(entry[1] for (path, _line, name), entry in _entries(stats).items()
               if _in_module(path, USM_MODULE) and name == "outgoing_request")


def _in_module(path: str, module: str) -> bool:
    return path.replace(os.sep, "/").endswith(module)


def render(report: ProfileReport) -> str:
    label = PROFILES_BY_KEY[report.security].label
    lines = [f"SNMPv3 GETs of 2 varbinds ({label}), after {WARM_UP_GETS} GETs of warm-up.", "",
             f"Whole GET through the Manager, without the profiler (mean of {report.gets:,} "
             f"GETs): {report.cpu_us_per_get:.1f} µs of CPU, against "
             f"{report.v2c_cpu_us_per_get:.1f} µs with SNMPv2c "
             f"({report.cpu_us_per_get / report.v2c_cpu_us_per_get:.2f} times).", "",
             f"Checks over {report.gets:,} more GETs under cProfile:",
             "- key derivation functions called: "
             + (", ".join(report.key_functions_called) or "none"),
             f"- KeyCache.derivations: {report.derivations_before} before, "
             f"{report.derivations_after} after",
             f"- GETs through SNMPv3 USM (outgoing_request calls): {report.usm_requests:,}", ""]
    problems = report.problems
    lines.append("Check: " + ("passed" if not problems else "FAILED: " + "; ".join(problems)))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    profile = PROFILES_BY_KEY[arguments.security]
    passphrases = Passphrases(os.urandom(16).hex(), os.urandom(16).hex())

    with BenchAgent("public", agent_config_lines(PROFILES, passphrases)) as agent:
        report, stats = uvloop.run(measure(agent.port, usm_user(profile, passphrases),
                                           arguments.gets, profile.key))
    print(render(report))
    if arguments.lines:
        print(f"\nFunctions by own time under cProfile (top {arguments.lines}):")
        stats.sort_stats("tottime").print_stats(arguments.lines)
    if arguments.json:
        raw = {**asdict(report), "problems": report.problems}
        arguments.json.write_text(json.dumps(raw, indent=2) + "\n")
    if report.problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
