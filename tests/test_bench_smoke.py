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
