"""Smoke test of bench/cluster_alerting.py at a tiny size: 6 targets, short windows, one kill.

The figures of such a run mean nothing, so the tests check that every measure produced one:
commands split by part, CPU rows with signals, and a tier 2 sent by the new leader.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from agents import skip_unless_installed
from redisfix import skip_without_redis

from snmpd_ng.cluster.keys import Keys
from snmpd_ng.cluster.signal_stream import APPEND_SCRIPT

# bench/ is a folder of scripts, not a package.
sys.path.append(str(Path(__file__).resolve().parent.parent / "bench"))

from cluster_alerting_measure import metric_sum
from cluster_alerting_redis import (
    ALERT_STORE,
    POLLING,
    RULE_STATE,
    SIGNAL_STREAM,
    classify_sent,
    part_of_key,
)

REPO = Path(__file__).resolve().parent.parent
TINY_ARGUMENTS = ["--targets", "6", "--interval", "1", "--window", "6", "--flip-period", "2",
                  "--repeats", "1", "--tier2-after", "4", "--kill-lead", "1",
                  "--lease-ttl", "2.5"]
# Seconds the run may take; it took about 60 on 2 cores shared with other work.
RUN_TIMEOUT = 180
KEYS = Keys("bench")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the bench once at a tiny size and return its JSON results and report."""
    skip_without_redis()
    skip_unless_installed("snmpd", "snmpget")
    folder = tmp_path_factory.mktemp("bench-cluster-alerting")
    completed = subprocess.run(
        [sys.executable, "bench/cluster_alerting.py", *TINY_ARGUMENTS,
         "--json", str(folder / "results.json"), "--output", str(folder / "report.md")],
        cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    assert completed.returncode == 0, completed.stderr

    results: dict[str, Any] = json.loads((folder / "results.json").read_text())
    results["report"] = (folder / "report.md").read_text()
    return results


@pytest.mark.timeout(RUN_TIMEOUT + 30)
def test_tiny_run_counts_commands_per_notification(tiny_run: dict[str, Any]) -> None:
    commands = tiny_run["commands"]
    sent = commands["parts"]["sent"]

    assert commands["notifications"] == 6
    assert commands["delivered"] >= 6
    assert sent[ALERT_STORE] > 0
    assert sent[SIGNAL_STREAM] > 0


@pytest.mark.timeout(RUN_TIMEOUT + 30)
def test_tiny_run_cpu_rows_have_signals(tiny_run: dict[str, Any]) -> None:
    rows = tiny_run["cpu"]["rows"]

    assert [row["role"] for row in rows] == ["single node", "leader", "follower", "follower"]
    assert rows[0]["signals"] > 0
    assert rows[1]["signals"] > 0


@pytest.mark.timeout(RUN_TIMEOUT + 30)
def test_tiny_run_escalates_after_leader_kill(tiny_run: dict[str, Any]) -> None:
    repeat = tiny_run["escalation"]["repeats"][0]

    assert repeat["groups"] == 6
    assert len(repeat["delays"]) == 6
    assert repeat["first_after_kill"] > 0
    assert repeat["duplicates"] == 0


@pytest.mark.timeout(RUN_TIMEOUT + 30)
def test_tiny_run_report_has_tables(tiny_run: dict[str, Any]) -> None:
    report = tiny_run["report"]

    assert "#### Redis commands per notification" in report
    assert "#### CPU per 1,000 signals" in report
    assert "#### Escalation after the leader's SIGKILL" in report


# ---------------------------------------------------------------------------------------------
# Parts


@pytest.mark.parametrize(("key", "part"), [
    (KEYS.alerts_base + "outbox:claimed", ALERT_STORE),
    (KEYS.alert_signals, SIGNAL_STREAM),
    (KEYS.rule_state("alert0001"), RULE_STATE),
    (KEYS.lease("alert0001"), POLLING),
])
def test_part_of_key_by_name(key: str, part: str) -> None:
    assert part_of_key(key, KEYS) == part


def test_classify_sent_names_append_script() -> None:
    sha = hashlib.sha1(APPEND_SCRIPT.encode()).hexdigest()

    assert classify_sent("evalsha", sha, "1", KEYS) == (SIGNAL_STREAM, "signal append script")


def test_classify_sent_xreadgroup_is_signal_stream() -> None:
    assert classify_sent("xreadgroup", "GROUP", "alerting", KEYS) == (SIGNAL_STREAM,
                                                                       "XREADGROUP")


def test_metric_sum_filters_by_label() -> None:
    exposition = "\n".join([
        'snmpd_ng_alert_notifications_total{channel="a",result="delivered"} 3.0',
        'snmpd_ng_alert_notifications_total{channel="b",result="delivered"} 4.0',
        'snmpd_ng_alert_notifications_total{channel="a",result="failed"} 9.0',
    ])

    assert metric_sum(exposition, "snmpd_ng_alert_notifications_total",
                      'result="delivered"') == 7.0
