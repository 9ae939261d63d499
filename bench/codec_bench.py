"""Micro-benchmark of the BER codec: decoding responses and encoding requests, against pyasn1.

    .venv/bin/python bench/codec_bench.py                # about 20 seconds
    .venv/bin/python bench/codec_bench.py --quick        # fewer rounds, for a smoke run
    .venv/bin/python bench/codec_bench.py --json out.json
    .venv/bin/python bench/codec_bench.py --mypyc        # also a mypyc build, 2 to 4 minutes

Each case runs `rounds` times `iterations` calls and reports the fastest round, in microseconds
per call: wall time from time.perf_counter_ns and the process's CPU time from
time.process_time_ns. The targets are checked against CPU time, which other work on a shared
machine disturbs less; the fastest round is the one least disturbed.
pyasn1 decodes the same bytes with the SNMP syntax of tests/codec_oracle_asn1.py, for context.
The targets are the codec's share of the manager's CPU budget (see docs/decisions/0001-codec.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Set by --mypyc for the second run: a folder with a copy of snmpd_ng whose codec is compiled.
PACKAGE_ROOT_VARIABLE = "CODEC_BENCH_PACKAGE_ROOT"
sys.path[:0] = [os.environ.get(PACKAGE_ROOT_VARIABLE) or str(REPO), str(REPO / "tests")]

from compiled_build import build_compiled_copy  # noqa: E402

from snmpd_ng.protocol import ber  # noqa: E402
from snmpd_ng.protocol.message import (  # noqa: E402 - after the sys.path change above
    CommunityMessage,
    SnmpVersion,
    decode_message,
    encode_message,
)
from snmpd_ng.protocol.pdu import Pdu, PduType  # noqa: E402
from snmpd_ng.protocol.values import (  # noqa: E402
    NULL,
    Counter32,
    Gauge32,
    Integer32,
    OctetString,
    TimeTicks,
    VarBind,
)

PACKET = REPO / "tests" / "data" / "packets" / "v2c-bulkwalk-iftable-01.response.hex"
IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)
SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)

# Microseconds: 25-varbind response per varbind, 2-varbind GET per request.
TARGET_DECODE_PER_VARBIND_US = 1.2
TARGET_ENCODE_GET_US = 3.0


@dataclass
class Result:
    case: str
    wall_us: float
    cpu_us: float
    varbinds: int
    target_us: float | None = None

    @property
    def cpu_per_varbind_us(self) -> float:
        return self.cpu_us / self.varbinds if self.varbinds else self.cpu_us


def load_hex(path: Path) -> bytes:
    text = path.read_text(encoding="ascii")
    return bytes.fromhex("".join(line for line in text.splitlines() if not line.startswith("#")))


def switch_response() -> bytes:
    """Build a 25-varbind ifTable response as a switch sends it: ifIndex above 127, big counters."""
    columns = [(2, lambda n: OctetString(b"GigabitEthernet1/0/%d" % n)),
               (5, lambda n: Gauge32(1_000_000_000)),
               (8, lambda n: Integer32(1)),
               (9, lambda n: TimeTicks(123_456_789)),
               (10, lambda n: Counter32(3_000_000_000 + n))]
    varbinds = [VarBind((*IF_ENTRY, column, 10100 + n), make(n))
                for n in range(1, 6) for column, make in columns]
    pdu = Pdu(PduType.RESPONSE, 0x12345678, varbinds)
    return encode_message(CommunityMessage(SnmpVersion.V2C, b"public", pdu))


def get_request() -> CommunityMessage:
    pdu = Pdu(PduType.GET, 0x12345678, [VarBind(SYS_NAME, NULL), VarBind(SYS_UPTIME, NULL)])
    return CommunityMessage(SnmpVersion.V2C, b"public", pdu)


def get_response() -> bytes:
    pdu = Pdu(PduType.RESPONSE, 0x12345678,
              [VarBind(SYS_NAME, OctetString(b"router-1")), VarBind(SYS_UPTIME, TimeTicks(4242))])
    return encode_message(CommunityMessage(SnmpVersion.V2C, b"public", pdu))


def measure(call: Callable[[], object], iterations: int, rounds: int) -> tuple[float, float]:
    """Return the fastest round's (wall, CPU) microseconds per call."""
    for _ in range(min(iterations, 1000)):
        call()
    best_wall = best_cpu = float("inf")
    for _ in range(rounds):
        wall_start, cpu_start = time.perf_counter_ns(), time.process_time_ns()
        for _ in range(iterations):
            call()
        wall = (time.perf_counter_ns() - wall_start) / iterations / 1000
        cpu = (time.process_time_ns() - cpu_start) / iterations / 1000
        best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
    return best_wall, best_cpu


def run_cases(iterations: int, rounds: int, with_pyasn1: bool) -> list[Result]:
    captured = load_hex(PACKET)
    switch = switch_response()
    response = get_response()
    request = get_request()
    results = []
    for name, data in (("decode 25-varbind response (net-snmp ifTable)", captured),
                       ("decode 25-varbind response (switch, ifIndex > 127)", switch),
                       ("decode 2-varbind GET response", response)):
        count = len(decode_message(data).pdu.varbinds)
        wall, cpu = measure(lambda data=data: decode_message(data), iterations, rounds)
        target = TARGET_DECODE_PER_VARBIND_US if count == 25 else None
        results.append(Result(name, wall, cpu, count, target))

    wall, cpu = measure(lambda: encode_message(request), iterations, rounds)
    results.append(Result("encode 2-varbind GET", wall, cpu, 0, TARGET_ENCODE_GET_US))
    wall, cpu = measure(lambda: encode_message(get_request()), iterations, rounds)
    results.append(Result("build and encode 2-varbind GET", wall, cpu, 0))

    if with_pyasn1:
        results.extend(run_pyasn1(captured, max(iterations // 50, 20), rounds))
    return results


def run_pyasn1(data: bytes, iterations: int, rounds: int) -> list[Result]:
    try:
        from codec_oracle_asn1 import asn1_decode
    except ImportError as exc:
        print(f"pyasn1 comparison skipped: {exc}", file=sys.stderr)
        return []
    count = len(asn1_decode(data).pdu.varbinds)
    wall, cpu = measure(lambda: asn1_decode(data), iterations, rounds)
    return [Result("pyasn1: decode 25-varbind response (net-snmp ifTable)", wall, cpu, count)]


def render(results: list[Result]) -> str:
    build = "mypyc" if not ber.__file__ or not ber.__file__.endswith(".py") else "pure Python"
    lines = [f"Python {platform.python_version()} ({platform.python_implementation()}), "
             f"{platform.machine()}, {platform.processor() or 'unknown processor'}; codec: {build}",
             "",
             "| case | us/message | CPU us/message | CPU us/varbind | target (CPU) |",
             "|---|---:|---:|---:|---|"]
    for result in results:
        per_varbind = f"{result.cpu_per_varbind_us:.3f}" if result.varbinds else ""
        measured = result.cpu_per_varbind_us
        target = ""
        if result.target_us is not None:
            verdict = "met" if measured <= result.target_us else "MISSED"
            target = f"{result.target_us} us: {verdict}"
        lines.append(f"| {result.case} | {result.wall_us:.2f} | {result.cpu_us:.2f} | "
                     f"{per_varbind} | {target} |")
    return "\n".join(lines)


def run_compiled(arguments: list[str]) -> None:
    """Build the mypyc copy in a temporary folder and run this script again against it."""
    with tempfile.TemporaryDirectory(prefix="codec-mypyc-") as folder:
        build_compiled_copy(Path(folder))
        environment = dict(os.environ, **{PACKAGE_ROOT_VARIABLE: folder})
        subprocess.run([sys.executable, __file__, *arguments], env=environment, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1/10 of the iterations, 3 rounds")
    parser.add_argument("--no-pyasn1", action="store_true", help="skip the pyasn1 comparison")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--mypyc", action="store_true",
                        help="then build the codec with mypyc in a temporary folder and run again")
    args = parser.parse_args()

    iterations, rounds = (2_000, 3) if args.quick else (20_000, 7)
    results = run_cases(iterations, rounds, not args.no_pyasn1)
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(result) for result in results], indent=2))
    if args.mypyc:
        print()
        run_compiled(["--no-pyasn1", *(["--quick"] if args.quick else [])])


if __name__ == "__main__":
    main()
