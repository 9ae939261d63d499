"""Capture real SNMP datagrams from net-snmp's agent and tools into the .hex files beside this one.

Run from the repository root: `.venv/bin/python tests/data/packets/capture.py`. The script starts a
throwaway snmpd on a free 127.0.0.1 port, with its own config and state directory and no system
file. It puts a UDP relay in front of the agent and runs net-snmp's client tools against the
relay. Every datagram the relay saw is written as `NAME-NN.request.hex` or
`NAME-NN.response.hex`. Notifications go to a plain UDP listener instead of the agent and are
stored as `NAME-NN.notification.hex`. Nothing is sent to any address but 127.0.0.1.

Each file contains one datagram: `#` comment lines with the command that produced it, then the hex.
The values differ from run to run (uptime, counters, request-ids), so tests must not compare
values that change; they use the files for decoding, truncation and fuzzing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"

# pass_persist values that snmpd itself never produces on a test machine.
PASS_PERSIST_SCRIPT = r'''
import sys
VALUES = {
    ".1.3.6.1.4.1.99999.1.0": ("counter", "3013173741"),
    ".1.3.6.1.4.1.99999.2.0": ("counter64", "18446744073694799162"),
    ".1.3.6.1.4.1.99999.3.0": ("counter64", "10403350064868154552"),
    ".1.3.6.1.4.1.99999.4.0": ("integer", "-5"),
    ".1.3.6.1.4.1.99999.5.0": ("gauge", "4294967295"),
    ".1.3.6.1.4.1.99999.6.0": ("objectid", ".2.999.1"),
    ".1.3.6.1.4.1.99999.7.0": ("ipaddress", "127.0.200.1"),
    ".1.3.6.1.4.1.99999.8.0": ("timeticks", "4294967295"),
}
ORDER = sorted(VALUES, key=lambda text: [int(arc) for arc in text.strip(".").split(".")])
while True:
    line = sys.stdin.readline()
    if not line:
        break
    command = line.strip()
    if command == "PING":
        print("PONG", flush=True)
        continue
    oid = sys.stdin.readline().strip()
    if command == "get":
        found = oid if oid in VALUES else None
    elif command == "getnext":
        key = [int(arc) for arc in oid.strip(".").split(".")]
        found = next((name for name in ORDER
                      if [int(arc) for arc in name.strip(".").split(".")] > key), None)
    else:
        sys.stdin.readline()
        print("not-writable", flush=True)
        continue
    if found is None:
        print("NONE", flush=True)
    else:
        kind, value = VALUES[found]
        print(found, kind, value, sep="\n", flush=True)
'''

CONFIG = """\
agentAddress udp:{host}:{port}
view all included .1
view systemonly included .1.3.6.1.2.1.1
rocommunity public default -V all
rocommunity system default -V systemonly
pass_persist .1.3.6.1.4.1.99999 {python} {script}
"""

SYSTEM = "1.3.6.1.2.1.1"
IF_TABLE = "1.3.6.1.2.1.2.2"
IFX_TABLE = "1.3.6.1.2.1.31.1.1"
COMMON = ("-On", "-t", "1", "-r", "0")

# (name, tool, arguments after the agent address). The agent address is inserted after COMMON
# and the SNMP version/community options.
AGENT_COMMANDS: list[tuple[str, list[str]]] = [
    ("v2c-get-system", ["snmpget", "-v2c", "-c", "public", "@",
                        f"{SYSTEM}.1.0", f"{SYSTEM}.2.0", f"{SYSTEM}.3.0", f"{SYSTEM}.5.0"]),
    ("v1-get-system", ["snmpget", "-v1", "-c", "public", "@", f"{SYSTEM}.1.0", f"{SYSTEM}.3.0"]),
    ("v2c-get-exceptions", ["snmpget", "-v2c", "-c", "public", "@", f"{SYSTEM}.5.0",
                            "1.3.6.1.2.1.2.2.1.2.99", "1.3.6.1.4.1.99998.1.0"]),
    ("v1-get-nosuchname", ["snmpget", "-v1", "-c", "public", "-Cf", "@", f"{SYSTEM}.5.0",
                           "1.3.6.1.2.1.2.2.1.2.99"]),
    ("v1-getnext-end-of-view", ["snmpgetnext", "-v1", "-c", "system", "@",
                                f"{SYSTEM}.9.1.4.10"]),
    ("v2c-getnext-end-of-view", ["snmpgetnext", "-v2c", "-c", "system", "@",
                                 f"{SYSTEM}.9.1.4.10"]),
    ("v2c-bulkwalk-iftable", ["snmpbulkwalk", "-v2c", "-c", "public", "-Cr25", "@", IF_TABLE]),
    ("v2c-bulkwalk-ifxtable", ["snmpbulkwalk", "-v2c", "-c", "public", "-Cr25", "@", IFX_TABLE]),
    ("v2c-bulkget-system-end", ["snmpbulkget", "-v2c", "-c", "system", "-Cn0", "-Cr3", "@",
                                f"{SYSTEM}.9.1.3.9", f"{SYSTEM}.9.1.4.9"]),
    ("v1-walk-system", ["snmpwalk", "-v1", "-c", "public", "@", f"{SYSTEM}.9.1.2"]),
    ("v2c-get-opaque-float", ["snmpget", "-v2c", "-c", "public", "@",
                              "1.3.6.1.4.1.2021.10.1.6.1", "1.3.6.1.4.1.2021.10.1.6.2"]),
    ("v2c-walk-ipaddrtable", ["snmpbulkwalk", "-v2c", "-c", "public", "@", "1.3.6.1.2.1.4.20"]),
    ("v2c-walk-pass-persist", ["snmpwalk", "-v2c", "-c", "public", "@", "1.3.6.1.4.1.99999"]),
    ("v2c-set-read-only", ["snmpset", "-v2c", "-c", "public", "@", f"{SYSTEM}.6.0", "s", "lab"]),
    ("v3-get-unknown-user", ["snmpget", "-v3", "-l", "noAuthNoPriv", "-u", "nobody", "@",
                             f"{SYSTEM}.5.0"]),
]

NOTIFY_COMMANDS: list[tuple[str, list[str]]] = [
    ("v1-trap", ["snmptrap", "-v1", "-c", "public", "@", "1.3.6.1.4.1.99999", HOST, "6", "17",
                 "1234", f"{SYSTEM}.5.0", "s", "host"]),
    ("v2c-trap", ["snmptrap", "-v2c", "-c", "public", "@", "1234", "1.3.6.1.6.3.1.1.5.3",
                  "1.3.6.1.2.1.2.2.1.1.2", "i", "2"]),
    ("v2c-inform", ["snmpinform", "-v2c", "-c", "public", "@", "1234", "1.3.6.1.6.3.1.1.5.4",
                    "1.3.6.1.2.1.2.2.1.1.2", "i", "2"]),
]


def free_port() -> int:
    """Return a UDP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class Relay(threading.Thread):
    """Forward datagrams from one client to the agent and back, recording both directions."""

    def __init__(self, agent_port: int | None) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.agent = (HOST, agent_port) if agent_port else None
        self.records: list[tuple[str, bytes]] = []
        self.running = True
        self.client: tuple[str, int] | None = None

    def run(self) -> None:
        while self.running:
            try:
                data, source = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            if self.agent is None:
                self.records.append(("notification", data))
            elif source == self.agent:
                self.records.append(("response", data))
                if self.client is not None:
                    self.sock.sendto(data, self.client)
            else:
                self.client = source
                self.records.append(("request", data))
                self.sock.sendto(data, self.agent)


def run_tool(argv: list[str], port: int) -> str:
    """Run one net-snmp tool against the relay; return the command line for the file header."""
    at = argv.index("@")
    full = [argv[0], *COMMON, *argv[1:at], f"udp:{HOST}:{port}", *argv[at + 1:]]
    env = dict(os.environ, MIBS="")
    subprocess.run(full, env=env, capture_output=True, timeout=30, check=False)
    recorded = [argv[0], *COMMON, *argv[1:at], "udp:127.0.0.1:PORT", *argv[at + 1:]]
    return " ".join(recorded)


def capture(name: str, argv: list[str], agent_port: int | None) -> None:
    """Run one command through a fresh relay and write each datagram it saw."""
    relay = Relay(agent_port)
    relay.start()
    command = run_tool(argv, relay.port)
    time.sleep(0.3)
    relay.running = False
    relay.join()
    relay.sock.close()

    counters: dict[str, int] = {}
    exchange = 0
    for direction, data in relay.records:
        if direction in ("request", "notification"):
            exchange += 1
        counters[direction] = counters.get(direction, 0) + 1
        path = HERE / f"{name}-{exchange:02d}.{direction}.hex"
        header = f"# {direction} {exchange} of: {command}\n# net-snmp 5.9.3 (Debian 12), loopback\n"
        path.write_text(header + data.hex(" ") + "\n", encoding="ascii")
    print(name, counters)


def start_agent(workdir: Path) -> tuple[int, Path]:
    """Start a private snmpd; return its port and pid file."""
    port = free_port()
    script = workdir / "pass_persist.py"
    script.write_text(PASS_PERSIST_SCRIPT, encoding="utf-8")
    config = workdir / "snmpd.conf"
    config.write_text(CONFIG.format(host=HOST, port=port, python=sys.executable, script=script),
                      encoding="utf-8")
    pidfile = workdir / "snmpd.pid"
    env = dict(os.environ, MIBS="", SNMP_PERSISTENT_DIR=str(workdir / "state"))
    subprocess.run(["snmpd", "-C", "-c", str(config), "-r", "-p", str(pidfile),
                    "-Lf", str(workdir / "snmpd.log")], env=env, check=True)
    for _ in range(50):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        time.sleep(0.1)
    time.sleep(0.5)
    return port, pidfile


def stop_agent(pid: int) -> None:
    """Stop the agent and wait until it has written its state and exited."""
    os.kill(pid, 15)
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="snmpd-capture-") as tmp:
        workdir = Path(tmp)
        port, pidfile = start_agent(workdir)
        try:
            for name, argv in AGENT_COMMANDS:
                capture(name, argv, port)
            for name, argv in NOTIFY_COMMANDS:
                capture(name, argv, None)
        finally:
            stop_agent(int(pidfile.read_text().strip()))


if __name__ == "__main__":
    main()
