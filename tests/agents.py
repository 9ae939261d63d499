"""Start and stop the SNMP agents that tests talk to: net-snmp's snmpd and snmpsim's simulator.

Both listen on loopback only, on a free UDP port picked at start. Tests reach them with net-snmp's
command-line tools through ``run_netsnmp``, or with snmpd_ng itself through ``host`` and ``port``.
This module does not import snmpd_ng, so a broken package cannot break the fixtures.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import pytest
import structlog

log = structlog.get_logger(__name__)

DATA_DIR = Path(__file__).parent / "data"
SNMPD_DATA_DIR = DATA_DIR / "snmpd"
DEVICES_DIR = DATA_DIR / "devices"

LOOPBACK_V4 = "127.0.0.1"
LOOPBACK_V6 = "::1"

NETSNMP_TOOLS = ("snmpget", "snmpgetnext", "snmpwalk", "snmpbulkwalk", "snmpbulkget", "snmpset")

# Test communities of the snmpd agent (see tests/data/snmpd/snmpd.conf.template).
PUBLIC_COMMUNITY = "public"  # read-only, whole tree
PRIVATE_COMMUNITY = "private"  # read-write, system group and the pass_persist subtree
SYSTEM_COMMUNITY = "system"  # read-only, system group only

# Objects served by tests/data/snmpd/pass_persist.py.
PASS_PERSIST_ROOT = (1, 3, 6, 1, 4, 1, 99999)
DYNAMIC_VALUE_OID = (*PASS_PERSIST_ROOT, 12, 0)
DYNAMIC_VALUE_FILE_NAME = "dynamic-value.txt"

# Bounds for start-up, shutdown and one tool run, in seconds. snmpd responded within 0.3 s and
# snmpsim (14 recordings, index built on start) within 3 s on a 2-core machine. The bounds leave
# room for a loaded CI runner.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
TOOL_TIMEOUT = 60.0

SYS_DESCR_OID = ".1.3.6.1.2.1.1.1.0"


class AgentStartError(RuntimeError):
    """A test agent did not start or did not respond within START_TIMEOUT."""


class Record(NamedTuple):
    """One line of a ``.snmprec`` recording: ``OID|TYPE|VALUE``."""

    oid: tuple[int, ...]
    type_tag: str  # BER tag number as text, with a trailing "x" when the value is hex
    value: str


def free_udp_port(host: str = LOOPBACK_V4) -> int:
    """Return a UDP port that was free on ``host`` a moment ago.

    The port is released before returning, so another process may take it first. A server
    started on it then fails with a bind error.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


def is_udp_port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def has_ipv6_loopback() -> bool:
    """Return whether a UDP socket can bind to ::1 (containers may run without IPv6)."""
    if not socket.has_ipv6:
        return False
    try:
        free_udp_port(LOOPBACK_V6)
    except OSError:
        return False
    return True


def free_udp_port_on(hosts: Sequence[str], attempts: int = 20) -> int:
    """Return a UDP port that was free on every address in ``hosts``."""
    for _ in range(attempts):
        port = free_udp_port(hosts[0])
        if all(is_udp_port_free(host, port) for host in hosts[1:]):
            return port
    raise AgentStartError(f"no UDP port was free on all of {list(hosts)} in {attempts} attempts")


def netsnmp_address(host: str, port: int) -> str:
    """Return the net-snmp transport address of ``host``: ``udp:H:P`` or ``udp6:[H]:P``."""
    if ":" in host:
        return f"udp6:[{host}]:{port}"
    return f"udp:{host}:{port}"


def netsnmp_environment(client_dir: Path) -> dict[str, str]:
    """Return an environment for net-snmp tools that ignores the host's net-snmp set-up.

    MIBS="" skips loading MIB files, so OIDs print numerically. SNMPCONFPATH points at an empty
    folder, so no snmp.conf of the host changes defaults. SNMP_PERSISTENT_DIR keeps the files the
    tools create out of /var/lib/snmp.
    """
    environment = dict(os.environ)
    environment["MIBS"] = ""
    environment["SNMPCONFPATH"] = str(client_dir)
    environment["SNMP_PERSISTENT_DIR"] = str(client_dir)
    return environment


# net-snmp 5.9.3 options that take their value as the next argument when it is not attached
# ("-c public" as well as "-cpublic").
NETSNMP_VALUE_OPTIONS = frozenset("aAcCeEIlLmMnOPrtuvxXYZ")


def insert_agent_address(args: Sequence[str], address: str) -> list[str]:
    """Return ``args`` with ``address`` before the first operand, where net-snmp expects it.

    net-snmp 5.9.3's snmpset rejects options that follow the agent address ("-v2c: Bad object
    type"), so the address goes after the options, as in the tools' usage line.
    """
    index = 0
    while index < len(args):
        argument = args[index]
        if argument == "--":
            return [*args[: index + 1], address, *args[index + 1 :]]
        if not argument.startswith("-") or argument == "-":
            break
        takes_next = len(argument) == 2 and argument[1] in NETSNMP_VALUE_OPTIONS
        index += 2 if takes_next else 1
    return [*args[:index], address, *args[index:]]


def run_netsnmp_tool(
    tool: str, address: str, args: Sequence[str], client_dir: Path
) -> tuple[int, str, str]:
    """Run a net-snmp tool against ``address`` and return (returncode, stdout, stderr)."""
    if tool not in NETSNMP_TOOLS:
        raise ValueError(f"unknown net-snmp tool {tool!r}; expected one of {NETSNMP_TOOLS}")
    completed = subprocess.run(
        [tool, *insert_agent_address(args, address)],
        env=netsnmp_environment(client_dir),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )
    return completed.returncode, completed.stdout, completed.stderr


def read_log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no log file)"
    return "\n".join(text.splitlines()[-lines:])


def wait_until_responding(
    process: subprocess.Popen[bytes], is_responding: Callable[[], bool], name: str, log_path: Path
) -> None:
    """Poll ``is_responding`` until it returns True; raise if the process exits or time runs out."""
    deadline = time.monotonic() + START_TIMEOUT
    attempts = 0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AgentStartError(
                f"{name} exited with status {process.returncode} during start-up; "
                f"last lines of {log_path}:\n{read_log_tail(log_path)}"
            )
        attempts += 1
        if is_responding():
            log.info("agent_ready", agent=name, pid=process.pid, attempts=attempts)
            return
    raise AgentStartError(
        f"{name} did not respond within {START_TIMEOUT} s ({attempts} probes); "
        f"last lines of {log_path}:\n{read_log_tail(log_path)}"
    )


def stop_process(process: subprocess.Popen[bytes], name: str) -> None:
    """Stop ``process`` with SIGTERM, then SIGKILL after STOP_TIMEOUT; safe to call twice."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        log.warning("agent_kill", agent=name, pid=process.pid, timeout_seconds=STOP_TIMEOUT)
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)
    log.info("agent_stopped", agent=name, pid=process.pid, returncode=process.returncode)


def find_program(name: str) -> str | None:
    """Return the path of ``name`` on PATH or in /usr/sbin and /sbin, where Debian puts snmpd."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def skip_unless_installed(*programs: str) -> None:
    """Skip when a program is missing, except in CI, where a skip would hide a broken set-up."""
    missing = [program for program in programs if find_program(program) is None]
    if missing and not os.environ.get("CI"):
        pytest.skip(f"{', '.join(missing)} not installed; run `make deps`")


def require_programs(*programs: str) -> None:
    missing = [program for program in programs if find_program(program) is None]
    if missing:
        raise AgentStartError(
            f"missing programs: {', '.join(missing)}; run `make deps` "
            "(installs Debian's snmpd and snmp packages)"
        )


@dataclass
class NetSnmpAgent:
    """A private net-snmp snmpd on loopback, with its configuration and state in ``work_dir``."""

    host: str
    port: int
    ipv6_host: str | None  # "::1", or None when this machine has no IPv6 loopback
    work_dir: Path
    public_community: str = PUBLIC_COMMUNITY
    private_community: str = PRIVATE_COMMUNITY
    system_community: str = SYSTEM_COMMUNITY
    # Lines appended to the configuration, such as createUser and rouser lines for SNMPv3.
    extra_config: Sequence[str] = ()
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def has_ipv6(self) -> bool:
        return self.ipv6_host is not None

    @property
    def config_path(self) -> Path:
        return self.work_dir / "snmpd.conf"

    @property
    def state_dir(self) -> Path:
        """SNMP_PERSISTENT_DIR of the agent; it also contains the pass_persist value file."""
        return self.work_dir / "state"

    @property
    def log_path(self) -> Path:
        return self.work_dir / "snmpd.log"

    @property
    def pid_path(self) -> Path:
        return self.work_dir / "snmpd.pid"

    @property
    def client_dir(self) -> Path:
        return self.work_dir / "client"

    @property
    def dynamic_value_path(self) -> Path:
        return self.state_dir / DYNAMIC_VALUE_FILE_NAME

    def set_dynamic_value(self, text: str) -> None:
        """Change the value of DYNAMIC_VALUE_OID; the agent serves it from the next request on."""
        if "\n" in text or "\r" in text:
            raise ValueError("the dynamic value is served on one line; remove the line break")
        self.dynamic_value_path.write_text(text + "\n", encoding="utf-8")

    def address(self, ipv6: bool = False) -> str:
        """Return the agent's net-snmp transport address on IPv4 or IPv6 loopback."""
        if not ipv6:
            return netsnmp_address(self.host, self.port)
        if self.ipv6_host is None:
            raise AgentStartError("this machine has no IPv6 loopback; check has_ipv6 first")
        return netsnmp_address(self.ipv6_host, self.port)

    def run_netsnmp(self, tool: str, *args: str, ipv6: bool = False) -> tuple[int, str, str]:
        """Run a net-snmp tool (snmpget, snmpwalk, ...) against this agent.

        ``args`` are the tool's options and operands without the agent address, for example
        ``("-v2c", "-c", "public", "-On", ".1.3.6.1.2.1.1.1.0")``.
        """
        return run_netsnmp_tool(tool, self.address(ipv6), args, self.client_dir)

    def is_responding(self) -> bool:
        returncode, _, _ = self.run_netsnmp(
            "snmpget", "-v2c", "-c", self.public_community, "-t", "0.2", "-r", "0", SYS_DESCR_OID
        )
        return returncode == 0

    def write_config(self) -> None:
        addresses = [netsnmp_address(self.host, self.port)]
        if self.ipv6_host is not None:
            addresses.append(netsnmp_address(self.ipv6_host, self.port))
        template = string.Template(
            (SNMPD_DATA_DIR / "snmpd.conf.template").read_text(encoding="utf-8")
        )
        config = template.substitute(
            agent_address=",".join(addresses),
            public_community=self.public_community,
            private_community=self.private_community,
            system_community=self.system_community,
            python=sys.executable,
            pass_persist_script=SNMPD_DATA_DIR / "pass_persist.py",
            state_dir=self.state_dir,
        )
        extra = "".join(f"{line}\n" for line in self.extra_config)
        self.config_path.write_text(config + extra, encoding="utf-8")

    def start(self) -> None:
        """Write the configuration, start snmpd in the foreground and wait until it responds."""
        require_programs("snmpd", "snmpget")
        for directory in (self.state_dir, self.client_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.write_config()

        environment = dict(os.environ, MIBS="", SNMP_PERSISTENT_DIR=str(self.state_dir))
        # -f keeps snmpd our child, so stop() can wait for it; a daemonised snmpd becomes a zombie
        # in containers whose PID 1 does not reap. -C: read only -c; -r: no root-only files.
        command = [str(find_program("snmpd")), "-f", "-C", "-c", str(self.config_path), "-r"]
        command += ["-p", str(self.pid_path), "-Lf", str(self.log_path)]
        self.process = subprocess.Popen(
            command,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        log.info("agent_starting", agent="snmpd", pid=self.process.pid, port=self.port)
        try:
            wait_until_responding(self.process, self.is_responding, "snmpd", self.log_path)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, "snmpd")


def start_snmpd(work_dir: Path, extra_config: Sequence[str] = ()) -> NetSnmpAgent:
    """Start a NetSnmpAgent with its files in ``work_dir``; the caller must call stop().

    Tests that need another agent than the session's ``snmpd_agent`` (SNMPv3 users, a fixed
    engine ID) pass their configuration lines in ``extra_config``.
    """
    ipv6_host = LOOPBACK_V6 if has_ipv6_loopback() else None
    hosts = [LOOPBACK_V4] if ipv6_host is None else [LOOPBACK_V4, ipv6_host]
    agent = NetSnmpAgent(
        host=LOOPBACK_V4,
        port=free_udp_port_on(hosts),
        ipv6_host=ipv6_host,
        work_dir=work_dir,
        extra_config=tuple(extra_config),
    )
    agent.start()
    return agent


def parse_snmprec(text: str) -> list[Record]:
    """Parse a ``.snmprec`` recording; empty lines are skipped, the order is kept."""
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line:
            continue
        oid_text, type_tag, value = _split_snmprec_line(line, number)
        records.append(Record(tuple(int(arc) for arc in oid_text.split(".")), type_tag, value))
    return records


def _split_snmprec_line(line: str, number: int) -> tuple[str, str, str]:
    parts = line.split("|", 2)
    if len(parts) != 3 or not all(arc.isdigit() for arc in parts[0].split(".")):
        raise ValueError(f"line {number} is not OID|TYPE|VALUE with a dotted decimal OID")
    return parts[0], parts[1], parts[2]


def format_snmprec(records: Sequence[Record]) -> str:
    return "".join(
        ".".join(str(arc) for arc in record.oid) + f"|{record.type_tag}|{record.value}\n"
        for record in records
    )


def load_recordings(directory: Path = DEVICES_DIR) -> dict[str, list[Record]]:
    """Return the parsed recordings in ``directory``, keyed by file stem (the device name)."""
    return {
        path.stem: parse_snmprec(path.read_text(encoding="ascii"))
        for path in sorted(directory.glob("*.snmprec"))
    }


@dataclass
class DeviceSimulator:
    """snmpsim serving each recording under the community named after its file stem."""

    host: str
    port: int
    work_dir: Path
    recordings: dict[str, list[Record]]  # device name -> records in the file's order
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def devices(self) -> list[str]:
        return sorted(self.recordings)

    @property
    def data_dir(self) -> Path:
        """Folder of the served copies, sorted by OID."""
        return self.work_dir / "data"

    @property
    def log_path(self) -> Path:
        return self.work_dir / "snmpsim.log"

    @property
    def client_dir(self) -> Path:
        return self.work_dir / "client"

    def address(self) -> str:
        return netsnmp_address(self.host, self.port)

    def run_netsnmp(self, tool: str, *args: str) -> tuple[int, str, str]:
        """Run a net-snmp tool against the simulator; select a device with ``-c DEVICE``."""
        return run_netsnmp_tool(tool, self.address(), args, self.client_dir)

    def is_responding(self) -> bool:
        device = self.devices[0]
        returncode, _, _ = self.run_netsnmp(
            "snmpgetnext", "-v2c", "-c", device, "-t", "0.5", "-r", "0", ".1"
        )
        return returncode == 0

    def write_sorted_copies(self) -> None:
        """Write each recording sorted by OID.

        snmpsim 1.2 responds to GETNEXT with the next line of the file, so a line out of OID order
        sends a walk backwards (sentry3 has two).
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for device, records in self.recordings.items():
            ordered = sorted(records, key=lambda record: record.oid)
            (self.data_dir / f"{device}.snmprec").write_text(
                format_snmprec(ordered), encoding="ascii"
            )

    def start(self) -> None:
        """Write the data folder, start snmpsim and wait until it responds."""
        require_programs("snmpgetnext")
        responder = Path(sys.executable).with_name("snmpsim-command-responder")
        if not responder.exists():
            raise AgentStartError(f"{responder} not found; run `make venv` (test extra)")
        self.client_dir.mkdir(parents=True, exist_ok=True)
        self.write_sorted_copies()

        environment = dict(os.environ)
        if os.geteuid() == 0:
            # snmpsim 1.2 exits when run as root unless it can drop to --process-user. Dropping
            # fails when Python lives in a home folder that user cannot read (pyenv under /root).
            # So the fixture sets snmpsim's own switch to stay root. It binds only loopback.
            environment["SNMPSIM_ALLOW_ROOT"] = "true"
        command = [
            str(responder),
            f"--data-dir={self.data_dir}",
            f"--cache-dir={self.work_dir / 'cache'}",
            f"--agent-udpv4-endpoint={self.host}:{self.port}",
            "--logging-method=stderr",
        ]
        with open(self.log_path, "wb") as output:
            self.process = subprocess.Popen(
                command,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        log.info("agent_starting", agent="snmpsim", pid=self.process.pid, port=self.port)
        try:
            wait_until_responding(self.process, self.is_responding, "snmpsim", self.log_path)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, "snmpsim")


def start_device_simulator(work_dir: Path, devices_dir: Path = DEVICES_DIR) -> DeviceSimulator:
    """Start a DeviceSimulator for the recordings in ``devices_dir``; the caller must stop() it."""
    simulator = DeviceSimulator(
        host=LOOPBACK_V4,
        port=free_udp_port(LOOPBACK_V4),
        work_dir=work_dir,
        recordings=load_recordings(devices_dir),
    )
    simulator.start()
    return simulator
