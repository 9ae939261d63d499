"""snmpd-ng against net-snmp's own tools, both asking the same table-driven agent.

The table agent (tests/cli_table_agent.py) serves values and misbehaviour that net-snmp's snmpd
never produces: every byte of an OCTET STRING, Opaque doubles, OIDs that go backwards and every
error-status. Each test runs net-snmp's tool and `snmpd-ng` with the same arguments and expects
the same stdout, stderr and exit code.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from cli_table_agent import TableAgent

from snmpd_ng.cli.main import main
from snmpd_ng.protocol.ber import encode_opaque_double, encode_opaque_float
from snmpd_ng.protocol.message import CommunityMessage
from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.pdu import BulkPdu, Pdu, PduType
from snmpd_ng.protocol.values import (
    NULL,
    Counter32,
    Counter64,
    Gauge32,
    Integer32,
    IpAddress,
    MalformedValue,
    ObjectIdentifier,
    OctetString,
    Opaque,
    SnmpValue,
    TimeTicks,
    VarBind,
)

pytestmark = pytest.mark.skipif(shutil.which("snmpget") is None,
                                reason="net-snmp's tools (apt-get install snmp) are missing")

BASE = (1, 3, 6, 1, 4, 1, 99999, 50)
RESULT = tuple[int, str, str]


def _random_strings(count: int) -> list[bytes]:
    # Mostly printable bytes with a few controls, so both STRING and Hex-STRING come out.
    rng = random.Random(20240601)
    alphabet = bytes(range(0x20, 0x7F)) * 4 + bytes(range(0, 0x20)) + bytes(range(0x7F, 0x100))
    return [bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(count)]


def _table_values() -> list[SnmpValue]:
    fixed: list[SnmpValue] = [
        Integer32(-5), Integer32(2147483647), Counter32(3013173741), Gauge32(0),
        Counter64(18446744073709551615), TimeTicks(8640000), TimeTicks(4294967295),
        IpAddress(b"\x7f\x00\xc8\x01"), ObjectIdentifier((2, 999, 1)),
        ObjectIdentifier((0, 0)), NULL, OctetString(b""), OctetString(b'q"uo\\te'),
        OctetString(b"line1\nline2"), OctetString(bytes(range(0x80, 0xA1))),
        encode_opaque_float(13.7), encode_opaque_double(-0.5), Opaque(b"\x01\x02"),
        MalformedValue(0x41, bytes.fromhex("4104B39961ED"), "unpadded", Counter32(3013173741)),
        MalformedValue(0x41, bytes.fromhex("4102FFFF"), "unpadded", Counter32(65535)),
    ]
    return fixed + [OctetString(data) for data in _random_strings(40)]


def with_address(args: list[str], agent: TableAgent) -> list[str]:
    """Insert the agent address after the options (the words that start with "-")."""
    split = next(index for index, word in enumerate(args) if not word.startswith("-"))
    return [*args[:split], agent.address, *args[split:]]


def run_netsnmp(tool: str, agent: TableAgent, args: list[str]) -> RESULT:
    """Run a net-snmp tool with no MIB files and no user config, against the table agent."""
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MIBS": "",
                   "HOME": "/nonexistent", "SNMPCONFPATH": "/nonexistent"}
    completed = subprocess.run([tool, *with_address(args, agent)], env=environment,
                               capture_output=True, text=True, timeout=60, check=False)
    return completed.returncode, completed.stdout, completed.stderr


def run_ours(capsys: pytest.CaptureFixture[str], command: str, agent: TableAgent,
             args: list[str]) -> RESULT:
    """Run `snmpd-ng COMMAND` in-process, and return its exit code, stdout and stderr."""
    code = main([command, *with_address(args, agent)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def table_agent() -> Iterator[TableAgent]:
    table: dict[Oid, SnmpValue] = {
        (*BASE, index, 0): value for index, value in enumerate(_table_values(), start=1)
    }
    agent = TableAgent(table).start()
    yield agent
    agent.stop()


def _oids(agent: TableAgent) -> list[str]:
    return ["." + ".".join(map(str, oid)) for oid in sorted(agent.table)]


@pytest.mark.parametrize("output", ["-On", "-Oq", "-OQ", "-Ov", "-Ox", "-Oa", "-Ot", "-Of"])
def test_get_every_value_matches_snmpget(capsys: pytest.CaptureFixture[str],
                                         table_agent: TableAgent, output: str) -> None:
    oids = _oids(table_agent)
    args = ["-v2c", "-cpublic", output]
    # One OID per call would start 60 processes; snmpget takes them all in one request.
    expected = run_netsnmp("snmpget", table_agent, [*args, *oids])
    actual = run_ours(capsys, "get", table_agent, [*args, *oids])
    assert actual[1].splitlines() == expected[1].splitlines()
    assert actual == expected


@pytest.mark.parametrize("command", ["walk", "bulkwalk"])
def test_walk_of_table_matches(capsys: pytest.CaptureFixture[str], table_agent: TableAgent,
                               command: str) -> None:
    args = ["-v2c", "-cpublic", "-On", ".1.3.6.1.4.1.99999"]
    expected = run_netsnmp("snmp" + command, table_agent, args)
    assert run_ours(capsys, command, table_agent, args) == expected


def _going_backwards(request: CommunityMessage) -> Pdu | None:
    # Respond to GETNEXT/GETBULK of .3.0 with .1.0, as an agent whose walk goes backwards.
    pdu = request.pdu
    if isinstance(pdu, (Pdu, BulkPdu)) and pdu.varbinds[0].oid == (*BASE, 3, 0):
        backwards = [VarBind((*BASE, 1, 0), Integer32(1))]
        return Pdu(PduType.RESPONSE, pdu.request_id, backwards)
    return None


@pytest.mark.parametrize("command", ["walk", "bulkwalk"])
def test_walk_oid_not_increasing(capsys: pytest.CaptureFixture[str], table_agent: TableAgent,
                                 command: str) -> None:
    table_agent.hook = _going_backwards
    # -Cr1 makes snmpbulkwalk request .3.0 alone, and the hook returns .1.0 for it.
    args = ["-v2c", "-cpublic", "-On", "-Cr1" if command == "bulkwalk" else "-Cp",
            ".1.3.6.1.4.1.99999"]
    expected = run_netsnmp("snmp" + command, table_agent, args)
    actual = run_ours(capsys, command, table_agent, args)
    assert "OID not increasing" in expected[2]
    assert actual == expected


@pytest.mark.parametrize("status", [1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
                                    25])
def test_set_error_status_matches_snmpset(capsys: pytest.CaptureFixture[str],
                                          table_agent: TableAgent, status: int) -> None:
    table_agent.set_error = (status, 1)
    args = ["-v2c", "-cpublic", "-On", ".1.3.6.1.4.1.99999.50.1.0", "i", "5"]
    expected = run_netsnmp("snmpset", table_agent, args)
    assert run_ours(capsys, "set", table_agent, args) == expected


def test_get_error_index_zero_matches(capsys: pytest.CaptureFixture[str],
                                      table_agent: TableAgent) -> None:
    def gen_err(request: CommunityMessage) -> Pdu | None:
        assert isinstance(request.pdu, Pdu)
        return Pdu(PduType.RESPONSE, request.pdu.request_id, list(request.pdu.varbinds), 5, 0)

    table_agent.hook = gen_err
    args = ["-v2c", "-cpublic", "-On", ".1.3.6.1.4.1.99999.50.1.0"]
    expected = run_netsnmp("snmpget", table_agent, args)
    assert run_ours(capsys, "get", table_agent, args) == expected


@pytest.mark.parametrize(("command", "args"), [
    ("walk", ["-v1", "-cpublic", "-On", ".1.3.6.1.4.1.99999.50"]),
    ("walk", ["-v1", "-cpublic", "-Cp", ".1.3.6.1.4.1.99999.60"]),
    ("walk", ["-v2c", "-cpublic", "-On", ".1.3.6.1.4.1.99999.50.3.0"]),
    ("walk", ["-v2c", "-cpublic", "-On", "-CI", ".1.3.6.1.4.1.99999.50.3.0"]),
    ("walk", ["-v2c", "-cpublic", "-On", "-Cp", ".1.3.6.1.4.1.99999.60"]),
    ("walk", ["-v2c", "-cpublic", "-On", "-Ci", ".1.3.6.1.4.1.99999.50.2"]),
    ("bulkwalk", ["-v2c", "-cpublic", "-On", "-Cr3", ".1.3.6.1.4.1.99999.50"]),
    ("bulkwalk", ["-v2c", "-cpublic", "-On", "-Cn1", ".1.3.6.1.4.1.99999.50.5"]),
    ("getnext", ["-v1", "-cpublic", "-On", ".1.3.6.1.4.1.99999.50.60.0"]),
    ("get", ["-v1", "-cpublic", "-On", ".1.3.6.1.4.1.99999.50.1.0",
             ".1.3.6.1.4.1.99999.50.99.0"]),
    ("get", ["-v1", "-cpublic", "-On", "-Cf", ".1.3.6.1.4.1.99999.50.1.0",
             ".1.3.6.1.4.1.99999.50.99.0"]),
])
def test_walk_and_get_endings_match(capsys: pytest.CaptureFixture[str], table_agent: TableAgent,
                                    command: str, args: list[str]) -> None:
    expected = run_netsnmp("snmp" + command, table_agent, args)
    assert run_ours(capsys, command, table_agent, args) == expected
