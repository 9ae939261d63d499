"""Smoke test of bench/cluster.py: its quick mode with a few targets and one failover.

The figures of such a run mean nothing, so the tests check that every measure produced one and
that the MONITOR feed saw the same scripts as INFO commandstats. They also check that no process
the benchmark started outlives it, also when it is stopped with SIGTERM.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redisfix import skip_without_redis

from snmpd_ng.cache.redis import WRITE_SCRIPT
from snmpd_ng.cluster.keys import Keys
from snmpd_ng.cluster.scripts import COMMIT_POLL, HEARTBEAT

# bench/ is a folder of scripts, not a package.
sys.path.append(str(Path(__file__).resolve().parent.parent / "bench"))

from cluster_measure import sum_samples
from cluster_redis import CACHE_READ, STATUS_READ, classify

REPO = Path(__file__).resolve().parent.parent
QUICK_ARGUMENTS = ["--quick", "--targets", "20", "--interval", "1", "--window", "1",
                   "--warm-up", "0.5", "--command-window", "1", "--repeats", "1",
                   "--lease-ttl", "2.5", "--measures", "scale,idle,commands,failover"]
# Seconds the run may take; it took 25 to 28 on 2 cores shared with other work.
RUN_TIMEOUT = 90
STOP_TIMEOUT = 30
EXIT_GRACE = 5.0
"""Seconds the processes the bench stopped may take to disappear after the bench exited."""
KEYS = Keys("bench")


def _sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the quick mode once with tiny numbers and return its JSON results and report."""
    skip_without_redis()
    folder = tmp_path_factory.mktemp("bench-cluster")
    completed = subprocess.run(
        [sys.executable, "bench/cluster.py", *QUICK_ARGUMENTS,
         "--json", str(folder / "results.json"), "--output", str(folder / "report.md")],
        cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    assert completed.returncode == 0, completed.stderr

    results: dict[str, Any] = json.loads((folder / "results.json").read_text())
    results["report"] = (folder / "report.md").read_text()
    return results


@pytest.mark.timeout(RUN_TIMEOUT + 30)
def test_quick_run_measures_each_scale_row(quick_run: dict[str, Any]) -> None:
    rows = quick_run["scale"]

    assert [(row["nodes"], row["cluster"]) for row in rows] == [(1, False), (1, True),
                                                                 (3, True)]
    for row in rows:
        assert row["polls_per_second"] > 0
        assert row["daemon_cores"] > 0


@pytest.mark.timeout(RUN_TIMEOUT + 30)
def test_quick_run_idle_member_polls_nothing(quick_run: dict[str, Any]) -> None:
    idle = quick_run["idle"]

    assert idle["counts"]["polls"] == 0
    # Measured, but an idle member may use less than one 10 ms clock tick in the quick run's
    # 1 s window, so 0 is a valid result.
    assert idle["daemon_cores"] >= 0.0


@pytest.mark.timeout(RUN_TIMEOUT + 30)
def test_quick_run_counts_commands_per_poll(quick_run: dict[str, Any]) -> None:
    commands = quick_run["commands"]
    kinds = commands["counts"]["kinds"]

    assert commands["polls"] > 0
    assert kinds["poll record script"] > 0
    assert kinds["heartbeat script"] > 0
    assert kinds["lease script"] > 0


@pytest.mark.timeout(RUN_TIMEOUT + 30)
def test_quick_run_monitor_sees_every_script_call(quick_run: dict[str, Any]) -> None:
    commands = quick_run["commands"]

    # Both counts end at the benchmark's INFO calls, so they cover the same commands.
    assert commands["counts"]["sent"]["evalsha"] == commands["calls"]["evalsha"]


@pytest.mark.timeout(RUN_TIMEOUT + 30)
def test_quick_run_times_failover(quick_run: dict[str, Any]) -> None:
    failover = quick_run["failover"]
    repeat = failover["repeats"][0]

    assert len(failover["repeats"]) == 1
    assert repeat["targets"] > 0
    assert repeat["missing"] == 0
    assert repeat["seconds"] > 0
    assert repeat["rejoin_seconds"] > 0


@pytest.mark.timeout(RUN_TIMEOUT + 30)
def test_quick_run_report_has_tables(quick_run: dict[str, Any]) -> None:
    report = quick_run["report"]

    assert report.startswith("### Run of ")
    assert "#### Scale-out" in report
    assert "#### Redis commands per poll" in report
    assert "#### Failover" in report
    assert "redis-server" in report


# ---------------------------------------------------------------------------------------------
# Stopping


def _children(pid: int) -> set[int]:
    """Return the ids of the processes whose parent is `pid`, from /proc."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command name: fields[1] is the parent's id (proc(5) field 4).
        if int(fields[1]) == pid:
            children.add(int(stat.parent.name))
    return children


def _is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def bench_process() -> Iterator[subprocess.Popen[str]]:
    skip_without_redis()
    process = subprocess.Popen([sys.executable, "bench/cluster.py", *QUICK_ARGUMENTS],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


def _runs_node(pid: int) -> bool:
    try:
        return b"snmpd-ng" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def test_sigterm_stops_every_process_started(bench_process: subprocess.Popen[str]) -> None:
    # Redis and the responder start before the first node.
    deadline = time.monotonic() + STOP_TIMEOUT
    children: set[int] = set()
    nodes: list[int] = []
    while not nodes and time.monotonic() < deadline:
        time.sleep(0.1)
        children = _children(bench_process.pid)
        nodes = [pid for pid in children if _runs_node(pid)]
    bench_process.send_signal(signal.SIGTERM)
    returncode = bench_process.wait(STOP_TIMEOUT)

    # A process stopped just before the bench exited may still be tearing down for a moment.
    exit_deadline = time.monotonic() + EXIT_GRACE
    while any(_is_alive(pid) for pid in children) and time.monotonic() < exit_deadline:
        time.sleep(0.1)

    assert nodes
    assert len(children) >= 3
    assert returncode == 130
    assert [pid for pid in children if _is_alive(pid)] == []


# ---------------------------------------------------------------------------------------------
# Parts


@pytest.mark.parametrize(("script", "kind"), [
    (HEARTBEAT, "heartbeat script"),
    (COMMIT_POLL, "poll record script"),
    (WRITE_SCRIPT, "cache write script"),
])
def test_classify_names_script_by_sha(script: str, kind: str) -> None:
    assert classify("evalsha", _sha(script), KEYS) == kind


def test_classify_unknown_sha_is_other_script() -> None:
    assert classify("evalsha", "0" * 40, KEYS) == "other script"


def test_classify_get_by_key() -> None:
    assert classify("get", KEYS.cache("sim0001", "job", "system"), KEYS) == CACHE_READ
    assert classify("get", KEYS.leader, KEYS) == STATUS_READ


def test_sum_samples_adds_every_series_of_name() -> None:
    exposition = "\n".join([
        "# TYPE snmp_polls counter",
        'snmp_polls_total{target="a",job="system"} 3.0',
        'snmp_polls_total{target="b",job="system"} 4.0',
        'snmp_polls_created{target="a",job="system"} 1.7e9',
        "snmp_poll_failures_total 9.0",
    ])

    assert sum_samples(exposition, "snmp_polls_total") == 7.0
    assert sum_samples(exposition, "snmp_poll_failures_total") == 9.0
