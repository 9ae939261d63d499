"""Smoke test of the benchmark harness: bench/run.py in its quick mode, with snmpd_ng and one peer.

Where gcc and mypyc are installed, the quick run also measures snmpd_ng-mypyc, the same runner
on a compiled copy of the codec, and the tests check that it imported the compiled build.

It runs only where the `bench` extra is installed (`pip install -e '.[bench]'`), since `make test`
does not install the peers. The figures of a quick run are rough, so the test checks only that
every measure produced one, that each GET cost one datagram, and that the report has its tables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from agents import skip_unless_installed
from compiled_build import missing_build_tools

REPO = Path(__file__).resolve().parent.parent
BENCH_PACKAGES = ("pysnmp", "ezsnmp", "gufo-snmp")
RUNNER = REPO / "bench" / "peers" / "snmpd_ng_runner.py"
# Seconds the quick run may take; it took about 30 on 2 cores, the mypyc build included.
QUICK_RUN_TIMEOUT = 120


def _missing_bench_packages() -> list[str]:
    missing = []
    for package in BENCH_PACKAGES:
        try:
            metadata.version(package)
        except metadata.PackageNotFoundError:
            missing.append(package)
    return missing


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run `bench/run.py --quick` for snmpd_ng and gufo-snmp once and return its JSON results."""
    missing = _missing_bench_packages()
    if missing:
        pytest.skip(f"bench extra not installed ({', '.join(missing)} missing); "
                    "run `.venv/bin/pip install -e '.[bench]'`")
    skip_unless_installed("snmpd", "snmpget")

    folder = tmp_path_factory.mktemp("bench")
    environment = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin"}
    peers = "snmpd_ng,gufo-snmp" if missing_build_tools() else "snmpd_ng,snmpd_ng-mypyc,gufo-snmp"
    completed = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--peers", peers,
         "--json", str(folder / "results.json"), "--output", str(folder / "report.md")],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=QUICK_RUN_TIMEOUT,
        check=False)
    assert completed.returncode == 0, completed.stderr

    results: dict[str, Any] = json.loads((folder / "results.json").read_text())
    results["report"] = (folder / "report.md").read_text()
    return results


def _outcome(results: dict[str, Any], peer: str, measure: str) -> dict[str, Any]:
    for outcome in results["outcomes"]:
        if outcome["peer"] == peer and outcome["measure"] == measure:
            found: dict[str, Any] = outcome
            return found
    raise AssertionError(f"no outcome for {peer} {measure}")


@pytest.mark.parametrize("peer", ["snmpd_ng", "gufo-snmp"])
@pytest.mark.parametrize("measure", ["walk", "get", "in_flight"])
def test_quick_run_measures_every_peer(quick_run: dict[str, Any], peer: str,
                                       measure: str) -> None:
    outcome = _outcome(quick_run, peer, measure)

    assert outcome["error"] == ""
    assert outcome["result"]["cpu_seconds"] > 0


@pytest.mark.parametrize("peer", ["snmpd_ng", "gufo-snmp"])
def test_quick_run_walk_reaches_whole_tree(quick_run: dict[str, Any], peer: str) -> None:
    result = _outcome(quick_run, peer, "walk")["result"]

    # net-snmp 5.9's agent has about 7,000 objects under 1.3.6.1; a short walk stopped early.
    assert result["varbinds_per_walk"] > 1000


@pytest.mark.parametrize("peer", ["snmpd_ng", "gufo-snmp"])
@pytest.mark.parametrize("measure", ["get", "in_flight"])
def test_quick_run_get_costs_one_packet(quick_run: dict[str, Any], peer: str,
                                        measure: str) -> None:
    outcome = _outcome(quick_run, peer, measure)

    assert outcome["result"]["requests_sent"] > 0
    assert outcome["packets"] == outcome["result"]["requests_sent"]


def test_quick_run_report_has_tables(quick_run: dict[str, Any]) -> None:
    report = quick_run["report"]

    assert "### Walk: CPU per varbind" in report
    assert "### GET: CPU per request" in report
    assert "### Requests in flight" in report
    assert "### Goals" in report


def _skip_without_build_tools() -> None:
    missing = missing_build_tools()
    if missing:
        pytest.skip(f"no mypyc build: {', '.join(missing)} not found")


@pytest.mark.parametrize("measure", ["walk", "get", "in_flight"])
def test_quick_run_mypyc_peer_imports_compiled_codec(quick_run: dict[str, Any],
                                                     measure: str) -> None:
    _skip_without_build_tools()
    outcome = _outcome(quick_run, "snmpd_ng-mypyc", measure)

    assert outcome["error"] == ""
    assert outcome["result"]["peer"] == "snmpd_ng (mypyc)"


def test_quick_run_goals_list_both_builds(quick_run: dict[str, Any]) -> None:
    _skip_without_build_tools()
    goals = quick_run["report"].split("### Goals", 1)[1]

    assert "| snmpd_ng 0" in goals
    assert "| snmpd_ng (mypyc) 0" in goals


def test_runner_rejects_pure_python_codec_when_mypyc_expected() -> None:
    # The checkout's .py codec is what a failed import of the compiled copy falls back to.
    environment = {**os.environ, "BENCH_EXPECTED_BUILD": "mypyc", "BENCH_COMMUNITY": "public"}
    environment.pop("PYTHONPATH", None)
    completed = subprocess.run(
        [sys.executable, str(RUNNER), "get", "--port", "9", "--seconds", "0.1"],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=60, check=False)

    assert completed.returncode == 1
    assert "imported the python codec" in completed.stderr
    assert "expected the mypyc build" in completed.stderr


# ---------------------------------------------------------------------------------------------
# SNMPv3: bench/v3_run.py, bench/v3_profile.py, bench/v3_steps.py and bench/instructions.py

V3_PROFILES = ("v2c", "sha256-aes128", "sha512-aes256")
V3_GET_PEERS = ("snmpd_ng", "pysnmp", "gufo-snmp", "net-snmp")
V3_WALK_PEERS = ("snmpd_ng", "gufo-snmp")
# Seconds each quick SNMPv3 run may take; the GET run took about 40 and the walk run about 25
# on 2 cores.
V3_RUN_TIMEOUT = 150
# A profiled run of 100 GETs, and the two cachegrind runs of a few GETs, take about 10 s each.
V3_TOOL_TIMEOUT = 120


def _run_bench(arguments: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin"}
    return subprocess.run([sys.executable, *arguments], cwd=REPO, env=environment,
                          capture_output=True, text=True, timeout=timeout, check=False)


def _quick_v3_run(folder: Path, peers: tuple[str, ...], measures: str) -> dict[str, Any]:
    missing = _missing_bench_packages()
    if missing:
        pytest.skip(f"bench extra not installed ({', '.join(missing)} missing); "
                    "run `.venv/bin/pip install -e '.[bench]'`")
    skip_unless_installed("snmpd", "snmpget")

    completed = _run_bench(["bench/v3_run.py", "--quick", "--skip-instructions",
                            "--peers", ",".join(peers), "--measures", measures,
                            "--json", str(folder / "results.json"),
                            "--output", str(folder / "report.md")], V3_RUN_TIMEOUT)
    assert completed.returncode == 0, completed.stderr

    results: dict[str, Any] = json.loads((folder / "results.json").read_text())
    results["report"] = (folder / "report.md").read_text()
    return results


@pytest.fixture(scope="module")
def quick_v3_get_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run `bench/v3_run.py --quick` for the GET measure of four peers, every profile."""
    return _quick_v3_run(tmp_path_factory.mktemp("bench-v3-get"), V3_GET_PEERS, "get")


@pytest.fixture(scope="module")
def quick_v3_walk_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run `bench/v3_run.py --quick` for the walk measure of two peers, every profile."""
    return _quick_v3_run(tmp_path_factory.mktemp("bench-v3-walk"), V3_WALK_PEERS, "walk")


def _v3_outcome(results: dict[str, Any], peer: str, security: str,
                measure: str) -> dict[str, Any]:
    for outcome in results["outcomes"]:
        if (outcome["peer"], outcome["security"], outcome["measure"]) == (peer, security,
                                                                          measure):
            found: dict[str, Any] = outcome
            return found
    raise AssertionError(f"no outcome for {peer} {security} {measure}")


@pytest.mark.timeout(V3_RUN_TIMEOUT + 30)
@pytest.mark.parametrize("peer", V3_GET_PEERS)
@pytest.mark.parametrize("security", V3_PROFILES)
def test_v3_quick_run_measures_get(quick_v3_get_run: dict[str, Any], peer: str,
                                   security: str) -> None:
    outcome = _v3_outcome(quick_v3_get_run, peer, security, "get")

    assert outcome["error"] == ""
    assert outcome["result"]["security"] == security
    # Not the figure itself: net-snmp's snmpget row is a difference that a quick run can
    # leave below zero.
    assert outcome["result"]["cpu_seconds"] > 0


# Datagrams that an SNMPv3 runner sends besides its requests. snmpd_ng sends one discovery
# probe, whose report also carries the engine's time. gufo-snmp sends a second probe for the time.
V3_SET_UP_PACKETS = {"snmpd_ng": 1, "gufo-snmp": 2}


@pytest.mark.timeout(V3_RUN_TIMEOUT + 30)
@pytest.mark.parametrize("peer", sorted(V3_SET_UP_PACKETS))
@pytest.mark.parametrize("security", V3_PROFILES)
def test_v3_quick_run_get_packets(quick_v3_get_run: dict[str, Any], peer: str,
                                  security: str) -> None:
    outcome = _v3_outcome(quick_v3_get_run, peer, security, "get")
    extra = outcome["packets"] - outcome["result"]["requests_sent"]

    # Anything above the set-up packets is a retry or a repeated discovery.
    assert extra == (0 if security == "v2c" else V3_SET_UP_PACKETS[peer])


@pytest.mark.timeout(V3_RUN_TIMEOUT + 30)
@pytest.mark.parametrize("peer", V3_WALK_PEERS)
@pytest.mark.parametrize("security", V3_PROFILES)
def test_v3_quick_run_walks_whole_tree(quick_v3_walk_run: dict[str, Any], peer: str,
                                       security: str) -> None:
    outcome = _v3_outcome(quick_v3_walk_run, peer, security, "walk")

    assert outcome["error"] == ""
    # net-snmp 5.9's agent has about 7,000 objects under 1.3.6.1 for every user of the bench.
    assert outcome["result"]["varbinds_per_walk"] > 1000


@pytest.mark.timeout(V3_RUN_TIMEOUT + 30)
def test_v3_quick_run_report_has_tables(quick_v3_get_run: dict[str, Any]) -> None:
    report = quick_v3_get_run["report"]

    assert "### GET: CPU per request, by security" in report
    assert "### snmpd_ng: SNMPv3 over SNMPv2c" in report
    assert "| snmpd_ng 0" in report
    assert "SHA-512 + AES-256" in report


def test_v3_runner_rejects_unsupported_profile() -> None:
    if _missing_bench_packages():
        pytest.skip("bench extra not installed")
    # ezsnmp's runner has no SNMPv3 code, so it must refuse rather than measure SNMPv2c.
    completed = _run_bench([str(REPO / "bench" / "peers" / "ezsnmp_runner.py"), "get",
                            "--port", "9", "--security", "sha256-aes128"], 60)

    assert completed.returncode == 3
    assert completed.stderr.startswith("not supported")


@pytest.mark.timeout(V3_TOOL_TIMEOUT + 30)
def test_v3_profile_finds_no_key_localisation(tmp_path: Path) -> None:
    skip_unless_installed("snmpd", "snmpget")
    completed = _run_bench(["bench/v3_profile.py", "--gets", "100", "--lines", "0",
                            "--json", str(tmp_path / "profile.json")], V3_TOOL_TIMEOUT)
    report = json.loads((tmp_path / "profile.json").read_text())

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert report["problems"] == []
    assert report["key_functions_called"] == []
    assert report["derivations_after"] == report["derivations_before"]
    assert report["usm_requests"] == 100


def test_v3_steps_run_every_step() -> None:
    completed = _run_bench(["bench/v3_steps.py", "--security", "sha256-aes128",
                            "--repetitions", "5"], V3_TOOL_TIMEOUT)
    rows = [line for line in completed.stdout.splitlines() if line.startswith("| ")]

    assert completed.returncode == 0, completed.stderr
    assert any(row.startswith("| HMAC: verify the response") for row in rows)
    assert any(row.startswith("| Response, verify to decode") for row in rows)
    # A header and 14 steps.
    assert len(rows) == 15


@pytest.mark.timeout(V3_TOOL_TIMEOUT + 30)
def test_v3_instructions_count_a_get() -> None:
    skip_unless_installed("snmpd", "snmpget", "valgrind")
    completed = _run_bench(["bench/instructions.py", "--security", "sha256-aes128",
                            "--measures", "get", "--counts", "5,25"], V3_TOOL_TIMEOUT)
    lines = completed.stdout.strip().splitlines()

    assert completed.returncode == 0, completed.stderr
    assert len(lines) == 1
    assert "instructions per operation" in lines[-1]
    # Roughly 0.2 to 0.6 million instructions per SNMPv3 GET; a wrong difference of the two
    # runs (or none) lands far outside.
    figure = int(lines[-1].split()[3].replace(",", ""))
    assert 100_000 < figure < 2_000_000
