"""CPU share of the alerting rules in a running daemon, and whether polling ever waited for them.

`snmpd-ng run` polls with an `alerting:` section of six rules (below) and one webhook channel.
Two setups:

    .venv/bin/python bench/alerting_load.py --demo     # config/demo.yaml on net-snmp's snmpd
    .venv/bin/python bench/alerting_load.py            # 1,000 agents of bench/responder.py

`--demo` polls net-snmp's snmpd (bench/agent.py) with the config of `make demo`: two targets,
four jobs every 10 s and 30 s. The default polls `--targets` simulated agents the way
bench/daemon_load.py does: sysUpTime and sysName, and five ifTable columns with ifDescr of
`--interfaces` rows, every `--interval` seconds.

After `--warm-up` seconds, the window measures the daemon's CPU time (all threads) from /proc.
From /metrics it reads the rules consumer's own CPU time
(`snmpd_ng_alert_rules_cpu_seconds_total`, the event loop thread's CPU time while it runs the
consumer) and the results it evaluated. It also reads the times the publisher had to wait for
room in the consumer's queue (`snmp_results_queue_overflows_total{consumer="alerting"}`), and
the queue's depth every `--depth-every` seconds. Those scrapes count in the daemon's CPU.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from agent import BenchAgent, free_tcp_port
from daemon_load import (
    COMMUNITY,
    COMMUNITY_VARIABLE,
    LoadOptions,
    Responder,
    build_config,
    default_daemon_command,
    read_cpu_seconds,
    scrape_metrics,
    stop_daemon,
    wait_until_ready,
)
from prometheus_client.parser import text_string_to_metric_families

BENCH_DIR = Path(__file__).resolve().parent
DEMO_CONFIG = BENCH_DIR.parent / "config" / "demo.yaml"
DEMO_USER_LINES = ("createUser demo SHA-256 demo-auth-pass AES demo-priv-pass",
                   "rouser demo priv")
"""The SNMPv3 user that config/demo.yaml's second target polls, as deploy/demo.sh creates it."""

RULES: list[dict[str, Any]] = [
    {"name": "TargetDown", "expr": "up == 0", "for": "2m", "severity": "critical"},
    {"name": "PollFailing", "expr": "poll_success == 0 and up == 1", "for": "10m"},
    {"name": "TargetRebooted", "expr": "rebooted == 1", "severity": "info"},
    {"name": "InterfaceDown", "expr": "ifOperStatus != 1", "for": "1m"},
    {"name": "TrafficHigh", "expr": "rate(ifInOctets) > 7.5e6", "for": "5m",
     "recover": "rate(ifInOctets) < 7e6",
     "annotations": {"summary": "{{ labels.ifDescr }} on {{ target }} at {{ value }} B/s"}},
    {"name": "CountersStopped", "expr": "absent_for(ifInOctets, 10m)"},
]
"""Rules of docs/alerting-rules.md's kinds. On the simulated agents, TrafficHigh is pending
(for 5 m) for the interfaces of index 8 and above, whose counters grow 1 MB/s per index."""


@dataclass(slots=True)
class AlertingLoad:
    setup: str
    window: float
    cpu_seconds: float = 0.0
    """The daemon's CPU seconds in the window, all threads."""
    rules_cpu_seconds: float = 0.0
    results: float = 0.0
    blocked: float = 0.0
    """Puts that waited for room in the alerting queue, since the start."""
    depths: list[float] = field(default_factory=list)


def alerting_section(webhook_port: int) -> dict[str, Any]:
    # Nothing listens on the webhook port; no rule fires within the window, so nothing is sent.
    return {
        "rules": RULES,
        "channels": {"hook": {"type": "webhook", "url": f"http://127.0.0.1:{webhook_port}/h",
                              "secret": "bench-webhook-secret"}},
        "receivers": {"ops": {"channels": ["hook"]}},
        "policies": {"ops": {"tiers": [{"receivers": ["ops"]}]}},
        "routes": [{"policy": "ops"}],
    }


def demo_config(agent_port: int, http_port: int, folder: Path) -> dict[str, Any]:
    text = (DEMO_CONFIG.read_text().replace("@AGENT_PORT@", str(agent_port))
            .replace("@HTTP_PORT@", str(http_port))
            .replace("@STATE_DIR@", str(folder / "state")))
    config: dict[str, Any] = yaml.safe_load(text)
    config["logging"] = {"level": "info", "format": "json"}
    return config


def metric_sum(exposition: str, name: str, **labels: str) -> float:
    """Sum the samples named `name` whose labels include `labels`."""
    total = 0.0
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def run(config: dict[str, Any], folder: Path, http_port: int, environ: dict[str, str],
        arguments: argparse.Namespace, setup: str) -> AlertingLoad:
    config["alerting"] = alerting_section(free_tcp_port())
    config_file = folder / "config.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    log_file = folder / "daemon.log"
    command = [*default_daemon_command(), "--config", str(config_file)]
    result = AlertingLoad(setup, arguments.window)
    with log_file.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, **environ})
        try:
            wait_until_ready(process, http_port, log_file)
            time.sleep(arguments.warm_up)
            measure(process.pid, http_port, arguments, result)
        finally:
            stop_daemon(process)
    return result


def measure(pid: int, http_port: int, arguments: argparse.Namespace,
            result: AlertingLoad) -> None:
    before = scrape_metrics(http_port)
    cpu_before = read_cpu_seconds(pid)
    started = time.monotonic()
    while time.monotonic() - started < arguments.window:
        time.sleep(arguments.depth_every)
        depth = metric_sum(scrape_metrics(http_port), "snmp_results_queue_depth",
                           consumer="alerting")
        result.depths.append(depth)
    result.cpu_seconds = read_cpu_seconds(pid) - cpu_before
    result.window = time.monotonic() - started
    after = scrape_metrics(http_port)

    def delta(name: str, **labels: str) -> float:
        return metric_sum(after, name, **labels) - metric_sum(before, name, **labels)

    result.rules_cpu_seconds = delta("snmpd_ng_alert_rules_cpu_seconds_total")
    result.results = delta("snmpd_ng_alert_rules_results_total")
    result.blocked = metric_sum(after, "snmp_results_queue_overflows_total",
                                consumer="alerting")


def run_demo(arguments: argparse.Namespace) -> AlertingLoad:
    with BenchAgent(COMMUNITY, DEMO_USER_LINES) as agent, \
            tempfile.TemporaryDirectory(prefix="snmpd-ng-alerting-") as name:
        folder = Path(name)
        http_port = free_tcp_port()
        config = demo_config(agent.port, http_port, folder)
        return run(config, folder, http_port, {}, arguments, "config/demo.yaml, net-snmp")


def run_simulated(arguments: argparse.Namespace) -> AlertingLoad:
    options = LoadOptions(targets=arguments.targets, interval=arguments.interval,
                          interfaces=arguments.interfaces)
    responder = Responder(options.targets, options.interfaces)
    try:
        with tempfile.TemporaryDirectory(prefix="snmpd-ng-alerting-") as name:
            folder = Path(name)
            http_port = free_tcp_port()
            config = build_config(responder.ports, options, http_port, folder / "state")
            setup = (f"{options.targets:,} simulated agents, {options.interfaces} interfaces, "
                     f"every {options.interval:g} s")
            return run(config, folder, http_port, {COMMUNITY_VARIABLE: COMMUNITY}, arguments,
                       setup)
    finally:
        responder.stop()


def render(result: AlertingLoad) -> str:
    share = result.rules_cpu_seconds / result.cpu_seconds if result.cpu_seconds else 0.0
    rows = [
        ("Daemon CPU (share of one core)", f"{result.cpu_seconds / result.window:.2%}"),
        ("Rules consumer CPU (share of one core)",
         f"{result.rules_cpu_seconds / result.window:.2%}"),
        ("Rules consumer's share of the daemon's CPU", f"{share:.1%}"),
        ("Results evaluated per second", f"{result.results / result.window:,.1f}"),
        ("CPU per result", f"{result.rules_cpu_seconds / max(result.results, 1) * 1e3:.3f} ms"),
        ("Publisher waits for room (since start)", f"{result.blocked:,.0f}"),
        ("Alerting queue depth, max of samples", f"{max(result.depths, default=0):,.0f}"),
    ]
    lines = [f"### {result.setup}, {result.window:.0f} s window", "",
             "| Measure | Value |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)]
    return "\n".join(lines) + "\n"


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", action="store_true",
                        help="poll net-snmp's snmpd with config/demo.yaml instead")
    parser.add_argument("--targets", type=int, default=1000, help="simulated agents")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between polls")
    parser.add_argument("--interfaces", type=int, default=8, help="ifTable rows per agent")
    parser.add_argument("--warm-up", type=float, default=20.0, help="seconds before the window")
    parser.add_argument("--window", type=float, default=60.0, help="seconds measured")
    parser.add_argument("--depth-every", type=float, default=5.0,
                        help="seconds between two reads of the queue depth")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    # SIGTERM raises KeyboardInterrupt, as Ctrl-C does, so the `finally` blocks stop the
    # daemon and the agent.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    result = run_demo(arguments) if arguments.demo else run_simulated(arguments)
    sys.stdout.write(render(result))


if __name__ == "__main__":
    main()
