"""Daemon load test: CPU and memory of `snmpd-ng run` polling many simulated agents.

bench/responder.py simulates `--targets` agents on as many loopback UDP ports in one process. The
daemon polls each of them every `--interval` seconds with two jobs: the system scalars sysUpTime
and sysName, and five ifTable columns (with ifDescr as a label) of `--interfaces` rows. After
the first rounds (`--warm-up` seconds), the daemon's own CPU time and resident memory are read
from /proc once a second for `--window` seconds. The responder counts the datagrams it received
in the window, so the report also shows the requests per target and interval.

    .venv/bin/python bench/daemon_load.py              # 1,000 targets every 10 s, about 90 s
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml
from agent import free_tcp_port
from prometheus_client.parser import text_string_to_metric_families

BENCH_DIR = Path(__file__).resolve().parent
COMMUNITY = "public"
COMMUNITY_VARIABLE = "SNMPD_NG_BENCH_COMMUNITY"
READY_TIMEOUT = 60.0
"""Seconds the daemon may take to load its config and respond to /readyz."""
STOP_TIMEOUT = 15.0


class LoadError(RuntimeError):
    """The daemon or the responder did not start, or stopped early."""


@dataclass(frozen=True, slots=True)
class LoadOptions:
    targets: int = 1000
    interval: float = 10.0
    """Seconds between two polls of one job on one target."""
    interfaces: int = 8
    warm_up: float = 20.0
    window: float = 60.0
    daemon_command: tuple[str, ...] = ()
    """The command that runs the daemon, without `--config FILE`; empty means snmpd-ng run."""


@dataclass(slots=True)
class LoadResult:
    """Resources the daemon used while it polled, and the requests the responder counted."""

    options: LoadOptions
    cpu_seconds_per_second: float = 0.0
    rss_mib_median: float = 0.0
    rss_mib_max: float = 0.0
    datagrams: int = 0
    """Requests the responder received during the window."""
    retries: float | None = None
    timeouts: float | None = None
    """Sums of the daemon's snmp_target_retries and snmp_target_timeouts over the window, or
    None when /metrics has no such counter."""
    receive_drops: int = 0
    """Datagrams the kernel dropped during the window on the daemon's UDP sockets, mostly for a
    full receive buffer (the drops column of /proc/net/udp and /proc/net/udp6)."""
    scrape_cpu_seconds: float = 0.0
    """Daemon CPU time around one GET of /metrics, polling during it included."""
    scrape_bytes: int = 0
    active_ports: int = 0
    """Simulated agents that received at least one request since the start."""
    error: str = ""
    rss_samples: list[float] = field(default_factory=list)


def default_daemon_command() -> tuple[str, ...]:
    """`snmpd-ng run` from the virtual environment that runs this script."""
    return (str(Path(sys.executable).parent / "snmpd-ng"), "run")


def build_config(ports: Sequence[int], options: LoadOptions, http_port: int,
                 state_dir: Path) -> dict[str, Any]:
    """Return the daemon's config (as YAML data) for one target per responder port."""
    interval = f"{options.interval:g}s"
    return {
        "defaults": {"version": "2c", "credentials": "bench", "timeout": "2s", "retries": 1,
                     "max_repetitions": 25, "interval": interval,
                     "jobs": ["system", "interfaces"]},
        "credentials": {"bench": {"community": {"env": COMMUNITY_VARIABLE}}},
        "jobs": {
            "system": {"interval": interval, "scalars": ["sysUpTime", "sysName"]},
            "interfaces": {"interval": interval, "tables": [{
                "table": "ifTable",
                "columns": ["ifOperStatus", "ifInOctets", "ifOutOctets", "ifInErrors",
                            "ifOutErrors"],
                "lookups": ["ifDescr"],
            }]},
        },
        "targets": [{"name": f"sim{number:04d}", "address": "127.0.0.1", "port": port}
                    for number, port in enumerate(ports)],
        "http": {"listen": [f"127.0.0.1:{http_port}"]},
        "logging": {"level": "info", "format": "json"},
        "state_dir": str(state_dir),
    }


# ---------------------------------------------------------------------------------------------
# Processes


class Responder:
    """bench/responder.py as a child process; counts are read by sending SIGUSR1."""

    def __init__(self, targets: int, interfaces: int) -> None:
        command = [sys.executable, str(BENCH_DIR / "responder.py"), "--count", str(targets),
                   "--interfaces", str(interfaces)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)
        stdin = self._pipe(self.process.stdin)
        stdin.write(COMMUNITY + "\n")
        stdin.close()
        self.ports: list[int] = self._read_line()["ports"]

    @staticmethod
    def _pipe(pipe: IO[str] | None) -> IO[str]:
        if pipe is None:
            raise LoadError("the responder's pipe is not open")
        return pipe

    def _read_line(self) -> dict[str, Any]:
        line = self._pipe(self.process.stdout).readline()
        if not line:
            raise LoadError(f"the responder exited with {self.process.wait()} before it "
                            "printed its counts")
        value: dict[str, Any] = json.loads(line)
        return value

    def counts(self) -> dict[str, Any]:
        """Return the responder's counts so far."""
        self.process.send_signal(signal.SIGUSR1)
        return self._read_line()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def read_cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU seconds of a process, all its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: fields[11] is utime and fields[12] stime (proc(5) 14 and 15).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_rss_mib(pid: int) -> float:
    """Return the resident set size of a process in MiB (VmRSS of /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise LoadError(f"/proc/{pid}/status has no VmRSS line")


def wait_until_ready(process: subprocess.Popen[bytes], http_port: int, log_file: Path) -> None:
    """Wait until the daemon responds to /readyz with 200; raise LoadError if it exits first."""
    deadline = time.monotonic() + READY_TIMEOUT
    url = f"http://127.0.0.1:{http_port}/readyz"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LoadError(f"the daemon exited with {process.returncode}: "
                            f"{_log_tail(log_file)}")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise LoadError(f"the daemon did not respond to {url} within {READY_TIMEOUT:.0f} s: "
                    f"{_log_tail(log_file)}")


def _log_tail(log_file: Path) -> str:
    try:
        lines = log_file.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return " | ".join(lines[-3:]) or "empty log"


def read_udp_drops(pid: int) -> int:
    """Return the datagrams dropped so far on the UDP sockets that process `pid` has open."""
    inodes = set()
    for link in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(link)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])

    drops = 0
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            # proc(5): the inode is the 10th field and drops the last one.
            if fields[9] in inodes:
                drops += int(fields[-1])
    return drops


def scrape_metrics(http_port: int) -> str:
    url = f"http://127.0.0.1:{http_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=30.0) as response:
            text: str = response.read().decode()
            return text
    except (urllib.error.URLError, OSError) as exc:
        raise LoadError(f"GET {url} failed: {exc}") from exc


def sum_counter(exposition: str, name: str) -> float | None:
    """Sum every series of the counter `name` in a Prometheus text exposition, or None."""
    total = None
    for family in text_string_to_metric_families(exposition):
        if family.name == name:
            total = sum(sample.value for sample in family.samples
                        if sample.name == f"{name}_total")
    return total


def stop_daemon(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---------------------------------------------------------------------------------------------
# Measure


def sample_window(pid: int, window: float, result: LoadResult) -> None:
    """Read the daemon's CPU time at both ends of the window and its RSS once a second."""
    cpu_start = read_cpu_seconds(pid)
    started = time.monotonic()
    while time.monotonic() - started < window:
        time.sleep(1.0)
        result.rss_samples.append(read_rss_mib(pid))
    elapsed = time.monotonic() - started

    result.cpu_seconds_per_second = (read_cpu_seconds(pid) - cpu_start) / elapsed
    ordered = sorted(result.rss_samples)
    result.rss_mib_median = ordered[len(ordered) // 2]
    result.rss_mib_max = ordered[-1]


def run_daemon(responder: Responder, options: LoadOptions, folder: Path,
               result: LoadResult) -> None:
    http_port = free_tcp_port()
    config_file = folder / "config.yaml"
    config = build_config(responder.ports, options, http_port, folder / "state")
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    log_file = folder / "daemon.log"
    command = [*(options.daemon_command or default_daemon_command()), "--config",
               str(config_file)]
    environment = {**os.environ, COMMUNITY_VARIABLE: COMMUNITY}

    with log_file.open("wb") as log:
        try:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                       env=environment)
        except OSError as exc:
            raise LoadError(f"cannot start the daemon with {command[0]}: {exc}") from exc
        try:
            wait_until_ready(process, http_port, log_file)
            time.sleep(options.warm_up)
            metrics_before = _timed_scrape(process.pid, http_port, result)
            before = responder.counts()
            drops_before = read_udp_drops(process.pid)
            sample_window(process.pid, options.window, result)
            result.receive_drops = read_udp_drops(process.pid) - drops_before
            after = responder.counts()
            metrics_after = scrape_metrics(http_port)
        finally:
            stop_daemon(process)

    result.datagrams = after["datagrams"] - before["datagrams"]
    result.active_ports = after["active_ports"]
    result.retries = _difference(metrics_before, metrics_after, "snmp_target_retries")
    result.timeouts = _difference(metrics_before, metrics_after, "snmp_target_timeouts")


def _timed_scrape(pid: int, http_port: int, result: LoadResult) -> str:
    cpu_start = read_cpu_seconds(pid)
    exposition = scrape_metrics(http_port)
    result.scrape_cpu_seconds = read_cpu_seconds(pid) - cpu_start
    result.scrape_bytes = len(exposition.encode())
    return exposition


def _difference(before: str, after: str, name: str) -> float | None:
    first, last = sum_counter(before, name), sum_counter(after, name)
    return None if first is None or last is None else last - first


def measure_daemon(options: LoadOptions) -> LoadResult:
    """Run the whole load test. A failure of the daemon, the responder, /proc or /metrics is
    returned in `error` instead of raised, so that bench/run.py still prints the other results."""
    result = LoadResult(options)
    responder = None
    try:
        with tempfile.TemporaryDirectory(prefix="snmpd-ng-load-") as folder:
            responder = Responder(options.targets, options.interfaces)
            run_daemon(responder, options, Path(folder), result)
    except (LoadError, OSError, KeyError, ValueError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        if responder is not None:
            responder.stop()
    return result


# ---------------------------------------------------------------------------------------------
# Report


def render_daemon(result: LoadResult) -> str:
    """Return the Markdown section of the daemon load test."""
    options = result.options
    title = (f"### Daemon: {options.targets:,} targets every {options.interval:g} s")
    setup = (f"Each target: sysUpTime and sysName (GET), five ifTable columns and ifDescr of "
             f"{options.interfaces} rows (walk), simulated by bench/responder.py on its own "
             f"loopback UDP port. Measured over {options.window:g} s after "
             f"{options.warm_up:g} s of warm-up; CPU and RSS of the daemon process from /proc.")
    if result.error:
        return "\n".join([title, "", setup, "", f"Not measured: {result.error}", ""])

    rounds = options.window / options.interval
    per_target = result.datagrams / options.targets / rounds if rounds else 0.0
    rows = [
        ("CPU (share of one core)", f"{result.cpu_seconds_per_second * 100:.1f} %"),
        ("RSS, median of samples", f"{result.rss_mib_median:.1f} MiB"),
        ("RSS, max of samples", f"{result.rss_mib_max:.1f} MiB"),
        ("Requests per second", f"{result.datagrams / options.window:,.0f}"),
        ("Requests per target and interval", f"{per_target:.2f}"),
        ("Retries in the window", _count(result.retries)),
        ("Timeouts in the window (after all retries)", _count(result.timeouts)),
        ("Datagrams dropped by the kernel on the daemon's sockets", f"{result.receive_drops:,}"),
        ("Targets that were polled", f"{result.active_ports:,} of {options.targets:,}"),
        ("One GET of /metrics, outside the window",
         f"{result.scrape_cpu_seconds * 1000:,.0f} ms of CPU for "
         f"{result.scrape_bytes / 1e6:.1f} MB"),
    ]
    table = ["| Measure | Value |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)]
    return "\n".join([title, "", setup, "", *table, ""])


def _count(value: float | None) -> str:
    return "not in /metrics" if value is None else f"{value:,.0f}"


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Measure the daemon's CPU and memory while it "
                                     "polls many simulated agents on loopback.")
    parser.add_argument("--targets", type=int, default=1000, help="simulated agents")
    parser.add_argument("--interval", type=float, default=10.0,
                        help="seconds between polls of one target (default: 10)")
    parser.add_argument("--interfaces", type=int, default=8,
                        help="ifTable rows of each simulated agent (default: 8)")
    parser.add_argument("--warm-up", type=float, default=20.0,
                        help="seconds of polling before the measure starts (default: 20)")
    parser.add_argument("--window", type=float, default=60.0,
                        help="seconds measured (default: 60)")
    parser.add_argument("--daemon-command",
                        help="command line that runs the daemon, to which `--config FILE` is "
                        "added (default: snmpd-ng run from this virtual environment)")
    parser.add_argument("--json", type=Path, help="also write the result to this JSON file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    options = LoadOptions(targets=arguments.targets, interval=arguments.interval,
                          interfaces=arguments.interfaces, warm_up=arguments.warm_up,
                          window=arguments.window,
                          daemon_command=tuple(shlex.split(arguments.daemon_command or "")))
    result = measure_daemon(options)
    print(render_daemon(result))
    if arguments.json:
        arguments.json.write_text(json.dumps(asdict(result), indent=2) + "\n")
    if result.error:
        sys.exit(1)


if __name__ == "__main__":
    main()
