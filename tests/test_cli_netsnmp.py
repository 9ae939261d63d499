"""`snmpd-ng` and net-snmp's tools against the same real agents: snmpd and the device simulator.

Most runs call `main(argv)` in-process; a few start the installed `snmpd-ng` console script.

The full-walk comparison cannot expect two walks of a live agent to be equal, so it uses this
rule: net-snmp walks the agent before and after snmpd-ng does. A row whose line is the same in
both net-snmp walks must appear unchanged in snmpd-ng's walk. A row that changed between them (a
counter, a time, a load) must appear with the same type label. Process and socket tables are left
out, because each walker sees its own process (hrSWRunTable, hrSWRunPerfTable) and its own UDP
socket (udpTable, udpEndpointTable), and so is net-snmp's nsCacheStatus, which each walk flips
between active and expired depending on its timing.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from agents import DeviceSimulator, NetSnmpAgent, insert_agent_address

from snmpd_ng.cli.main import main

RESULT = tuple[int, str, str]

# Subtrees whose rows depend on the walker (see the module docstring).
_WALKER_OWN_ROWS = (
    ".1.3.6.1.2.1.25.4.2.",  # hrSWRunTable
    ".1.3.6.1.2.1.25.5.1.",  # hrSWRunPerfTable
    ".1.3.6.1.2.1.7.5.",  # udpTable
    ".1.3.6.1.2.1.7.7.",  # udpEndpointTable
    ".1.3.6.1.4.1.8072.1.5.3.1.3.",  # nsCacheStatus
)
_ROW_START = re.compile(r"^(\.[0-9.]+) = ")


def run_ours(capsys: pytest.CaptureFixture[str], command: str, address: str,
             args: list[str]) -> RESULT:
    """Run `snmpd-ng COMMAND` in-process, with the address placed as net-snmp's tools expect."""
    code = main([command, *insert_agent_address(args, address)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def closed_udp_port() -> int:
    """Return a loopback UDP port with no listener, so requests to it time out."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def parse_rows(output: str) -> dict[str, str]:
    """Split -On walk output into rows by OID; a value with newlines spans several lines."""
    rows: dict[str, str] = {}
    current = None
    for line in output.splitlines():
        match = _ROW_START.match(line)
        if match:
            current = match.group(1)
            rows[current] = line
        elif current is not None:
            rows[current] += "\n" + line
    return rows


def _type_label(row: str) -> str:
    value = row.split(" = ", 1)[1]
    return value.split(":", 1)[0] if ":" in value else value


def _is_walker_own(oid: str) -> bool:
    return oid.startswith(_WALKER_OWN_ROWS)


# ---------------------------------------------------------------------------------------------
# Single requests


@pytest.mark.parametrize(("command", "args"), [
    ("get", ["-v2c", "-c", "public", "-On", ".1.3.6.1.2.1.1.1.0", ".1.3.6.1.2.1.1.2.0",
             ".1.3.6.1.4.1.99999.1.0", ".1.3.6.1.4.1.99999.11.0", ".1.3.6.1.2.1.2.2.1.2.99",
             ".1.3.6.1.4.1.99998.1.0"]),
    ("get", ["-v2c", "-c", "public", ".1.3.6.1.4.1.99999.7.0", "1.3.6.1.4.1.99999.10.0"]),
    ("get", ["-v1", "-c", "public", "-On", ".1.3.6.1.2.1.1.5.0", ".1.3.6.1.2.1.2.2.1.2.99"]),
    ("get", ["-v1", "-c", "public", ".1.3.6.1.2.1.2.2.1.2.99"]),
    ("getnext", ["-v2c", "-c", "public", "-On", ".1.3.6.1.4.1.99999", ".1.3.6.1.2.1.1.9"]),
    ("getnext", ["-v2c", "-c", "system", "-On", ".1.3.6.1.2.1.1.9.1.4.10"]),
    ("getnext", ["-v1", "-c", "system", ".1.3.6.1.2.1.1.9.1.4.10", ".1.3.6.1.2.1.1.1.0"]),
    ("get", ["-v2c", "-c", "public", "-Oqv", ".1.3.6.1.4.1.99999.6.0"]),
])
def test_get_matches_netsnmp(capsys: pytest.CaptureFixture[str], snmpd_agent: NetSnmpAgent,
                             command: str, args: list[str]) -> None:
    expected = snmpd_agent.run_netsnmp("snmp" + command, *args)
    assert run_ours(capsys, command, snmpd_agent.address(), args) == expected


@pytest.mark.parametrize(("command", "args"), [
    ("walk", ["-v2c", "-c", "public", "-On", ".1.3.6.1.4.1.99999"]),
    ("walk", ["-v2c", "-c", "public", ".1.3.6.1.4.1.99999"]),
    ("walk", ["-v2c", "-c", "public", "-Cp", ".1.3.6.1.2.1.1.5.0"]),
    ("walk", ["-v2c", "-c", "public", "-CI", ".1.3.6.1.2.1.1.5.0"]),
    ("walk", ["-v2c", "-c", "public", "-On", ".1.3.6.1.4.1.99998"]),
    ("walk", ["-v2c", "-c", "system", "-On", ".1.3.6.1.2.1.1.9"]),
    ("walk", ["-v2c", "-c", "system", "-On", ".1.3.6.1.2.1.2"]),
    ("walk", ["-v1", "-c", "system", "-On", ".1.3.6.1.2.1.1.9.1.4"]),
    ("walk", ["-v1", "-c", "system", "-On", ".1.3.6.1.2.1.2"]),
    ("bulkwalk", ["-v2c", "-c", "public", "-On", ".1.3.6.1.4.1.99999"]),
    ("bulkwalk", ["-v2c", "-c", "public", "-On", "-Cr3", "-Cp", ".1.3.6.1.2.1.1"]),
    ("bulkwalk", ["-v2c", "-c", "system", "-On", ".1.3.6.1.2.1.1.9.1.4"]),
    ("bulkwalk", ["-v2c", "-c", "public", ".1.3.6.1.2.1.1.5.0"]),
])
def test_walk_matches_netsnmp(capsys: pytest.CaptureFixture[str], snmpd_agent: NetSnmpAgent,
                              command: str, args: list[str]) -> None:
    expected = snmpd_agent.run_netsnmp("snmp" + command, *args)
    returncode, output, errors = run_ours(capsys, command, snmpd_agent.address(), args)
    assert returncode == expected[0]
    assert _mask_uptime(output) == _mask_uptime(expected[1])
    assert errors == expected[2]


# sysUpTime.0 moves by one every hundredth of a second, so two walks never agree on it.
_SYS_UP_TIME_ROW = re.compile(r"^(\.1\.3\.6\.1\.2\.1\.1\.3\.0 = Timeticks: )\(\d+\) .*$",
                              re.MULTILINE)


def _mask_uptime(output: str) -> str:
    return _SYS_UP_TIME_ROW.sub(r"\1(masked)", output)


def test_walk_over_ipv6_matches(capsys: pytest.CaptureFixture[str],
                                snmpd_agent: NetSnmpAgent) -> None:
    if not snmpd_agent.has_ipv6:
        pytest.skip("this machine has no IPv6 loopback")
    args = ["-v2c", "-c", "public", "-On", ".1.3.6.1.4.1.99999"]
    expected = snmpd_agent.run_netsnmp("snmpwalk", *args, ipv6=True)
    assert run_ours(capsys, "walk", snmpd_agent.address(ipv6=True), args) == expected


@pytest.mark.parametrize("args", [
    ["-v2c", "-c", "private", "-On", ".1.3.6.1.2.1.1.6.0", "s", "rack 4",
     ".1.3.6.1.2.1.1.4.0", "s", "ops@example.org"],
    ["-v2c", "-c", "private", ".1.3.6.1.2.1.1.1.0", "s", "x"],
    ["-v2c", "-c", "public", ".1.3.6.1.2.1.1.4.0", "s", "x"],
    ["-v1", "-c", "private", ".1.3.6.1.2.1.1.1.0", "s", "x"],
    ["-v2c", "-c", "private", ".1.3.6.1.2.1.1.4.0", "i", "5"],
])
def test_set_matches_netsnmp(capsys: pytest.CaptureFixture[str], snmpd_agent: NetSnmpAgent,
                             args: list[str]) -> None:
    expected = snmpd_agent.run_netsnmp("snmpset", *args)
    assert run_ours(capsys, "set", snmpd_agent.address(), args) == expected


def test_set_hex_value_reads_back(capsys: pytest.CaptureFixture[str],
                                  snmpd_agent: NetSnmpAgent) -> None:
    address = snmpd_agent.address()
    code, out, err = run_ours(capsys, "set", address,
                              ["-v2c", "-c", "private", "-On", ".1.3.6.1.2.1.1.6.0", "x", "41 42"])
    assert (code, err) == (0, "")
    assert out == '.1.3.6.1.2.1.1.6.0 = STRING: "AB"\n'
    assert snmpd_agent.run_netsnmp("snmpget", "-v2c", "-c", "public", "-Oqv",
                                   ".1.3.6.1.2.1.1.6.0")[1] == '"AB"\n'


# ---------------------------------------------------------------------------------------------
# Timeouts and errors


@pytest.mark.parametrize("command", ["get", "getnext", "walk", "bulkwalk", "set"])
def test_timeout_matches_netsnmp(capsys: pytest.CaptureFixture[str], command: str) -> None:
    if shutil.which("snmpget") is None:
        pytest.skip("net-snmp's tools are missing")
    address = f"127.0.0.1:{closed_udp_port()}"
    operands = [".1.3.6.1.2.1.1.4.0", "s", "x"] if command == "set" else [".1.3.6.1.2.1.1"]
    args = ["-v2c", "-c", "public", "-t", "0.1", "-r", "1", address, *operands]
    expected = subprocess.run(["snmp" + command, *args], capture_output=True, text=True,
                              env={"MIBS": "", "PATH": "/usr/bin:/bin"}, check=False)
    code = main([command, *args])
    captured = capsys.readouterr()
    assert (code, captured.out, captured.err) == \
        (expected.returncode, expected.stdout, expected.stderr)


def test_bad_oid_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["get", "-v2c", "-c", "public", "127.0.0.1:1161", "1.3.6.x.1"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.startswith("1.3.6.x.1: Unknown Object Identifier")


def test_unknown_host_reported(capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    # The resolver is replaced, so no name is ever sent to a DNS server.
    import uvloop

    async def no_such_host(self: object, *args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(uvloop.Loop, "getaddrinfo", no_such_host)
    code = main(["get", "-v2c", "-c", "public", "-t", "0.1", "-r", "0", "agent.invalid",
                 "1.3.6.1.2.1.1.5.0"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err == "snmpd-ng get: Unknown host (agent.invalid)\n"


def test_community_never_printed(capsys: pytest.CaptureFixture[str]) -> None:
    address = f"127.0.0.1:{closed_udp_port()}"
    main(["walk", "-v2c", "-c", "s3cr3t-community", "-d", "-t", "0.1", "-r", "0", address])
    captured = capsys.readouterr()
    assert "s3cr3t-community" not in captured.out
    assert "s3cr3t-community" not in captured.err


# ---------------------------------------------------------------------------------------------
# Whole walks


@pytest.mark.parametrize("command", ["walk", "bulkwalk"])
def test_full_walk_matches_netsnmp(capsys: pytest.CaptureFixture[str],
                                   snmpd_agent: NetSnmpAgent, command: str) -> None:
    args = ["-v2c", "-c", "public", "-On", ".1"]
    before = snmpd_agent.run_netsnmp("snmp" + command, *args)
    ours = run_ours(capsys, command, snmpd_agent.address(), args)
    after = snmpd_agent.run_netsnmp("snmp" + command, *args)
    assert ours[0] == before[0] == 0
    assert ours[2] == ""

    first, second, actual = parse_rows(before[1]), parse_rows(after[1]), parse_rows(ours[1])
    stable = {oid for oid in first if second.get(oid) == first[oid] and not _is_walker_own(oid)}
    assert len(stable) > 5000
    for oid in sorted(stable):
        assert actual.get(oid) == first[oid]
    for oid, row in actual.items():
        if _is_walker_own(oid) or oid in stable:
            continue
        reference = first.get(oid) or second.get(oid)
        assert reference is not None, f"row {oid} is in neither net-snmp walk"
        assert _type_label(row) == _type_label(reference)
    # The walk ends on the endOfMibView row, as net-snmp's does.
    assert ours[1].splitlines()[-1] == before[1].splitlines()[-1]


def test_bulkwalk_every_simulated_device(capsys: pytest.CaptureFixture[str],
                                         device_simulator: DeviceSimulator) -> None:
    for device in device_simulator.devices:
        args = ["-v2c", "-c", device, "-On", ".1"]
        expected = device_simulator.run_netsnmp("snmpbulkwalk", *args)
        code, out, err = run_ours(capsys, "bulkwalk", device_simulator.address(), args)
        # subprocess turned net-snmp's "\r\n" into "\n" (text mode), so compare by lines.
        assert out.splitlines() == expected[1].splitlines(), device
        assert (code, err) == (expected[0], expected[2]), device


# ---------------------------------------------------------------------------------------------
# The installed console script


def _console_script() -> str:
    script = Path(sys.executable).with_name("snmpd-ng")
    if not script.exists():
        pytest.skip("the snmpd-ng console script is not installed (pip install -e .)")
    return str(script)


def test_console_script_get(snmpd_agent: NetSnmpAgent) -> None:
    args = ["-v2c", "-c", "public", "-On", ".1.3.6.1.4.1.99999.1.0", ".1.3.6.1.4.1.99999.10.0"]
    expected = snmpd_agent.run_netsnmp("snmpget", *args)
    completed = subprocess.run([_console_script(), "get",
                                *insert_agent_address(args, snmpd_agent.address())],
                               capture_output=True, text=True, check=False, timeout=60)
    assert (completed.returncode, completed.stdout, completed.stderr) == expected


def test_console_script_walk(snmpd_agent: NetSnmpAgent) -> None:
    args = ["-v2c", "-c", "system", "-On", ".1.3.6.1.2.1.1.9"]
    expected = snmpd_agent.run_netsnmp("snmpwalk", *args)
    completed = subprocess.run([_console_script(), "walk",
                                *insert_agent_address(args, snmpd_agent.address())],
                               capture_output=True, text=True, check=False, timeout=60)
    assert (completed.returncode, completed.stdout, completed.stderr) == expected


def test_console_script_timeout_exit_code() -> None:
    address = f"127.0.0.1:{closed_udp_port()}"
    completed = subprocess.run([_console_script(), "get", "-v2c", "-c", "public", "-t", "0.1",
                                "-r", "0", address, "1.3.6.1.2.1.1.5.0"],
                               capture_output=True, text=True, check=False, timeout=60)
    assert completed.returncode == 1
    assert completed.stderr == f"Timeout: No Response from {address}.\n"


def test_console_script_version_and_help() -> None:
    version = subprocess.run([_console_script(), "--version"], capture_output=True, text=True,
                             check=False, timeout=60)
    assert version.returncode == 0
    assert version.stdout.startswith("snmpd-ng ")
    helped = subprocess.run([_console_script(), "bulkwalk", "--help"], capture_output=True,
                            text=True, check=False, timeout=60)
    assert helped.returncode == 0
    assert "-Cr" not in helped.stdout or "max-repetitions" in helped.stdout
    assert helped.stdout.startswith("USAGE: snmpd-ng bulkwalk")
