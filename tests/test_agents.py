"""Check the agent fixtures with net-snmp's own tools only; snmpd_ng is not imported here."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from agents import (
    DYNAMIC_VALUE_OID,
    AgentStartError,
    DeviceSimulator,
    NetSnmpAgent,
    Record,
    free_udp_port,
    insert_agent_address,
    load_recordings,
    parse_snmprec,
    skip_unless_installed,
    start_snmpd,
)

SYS_DESCR = ".1.3.6.1.2.1.1.1.0"
SYS_LOCATION = ".1.3.6.1.2.1.1.6.0"
SYSTEM_GROUP = ".1.3.6.1.2.1.1"
PASS_PERSIST = ".1.3.6.1.4.1.99999"
DYNAMIC_VALUE = "." + ".".join(str(arc) for arc in DYNAMIC_VALUE_OID)

# snmpget -On output of each fixed pass_persist object (net-snmp 5.9.3 formatting).
PASS_PERSIST_OUTPUT = {
    "1.0": "Counter32: 3013173741",
    "2.0": "Counter64: 18446744073694799162",
    "3.0": "Counter64: 10403350064868154552",
    "4.0": "INTEGER: -5",
    "5.0": "Gauge32: 4294967295",
    "6.0": "Timeticks: (123456789) 14 days, 6:56:07.89",
    "7.0": "OID: .2.999.1",
    "8.0": "IpAddress: 127.0.200.1",
    "9.0": '""',
    "10.0": "Hex-STRING: 00 FF 80 7F 0A 20",
    "11.0": 'STRING: "line1\nline2"',
}

DEVICE_NAMES = sorted(load_recordings())


def value_of(output: str) -> str:
    """Return the text after ``OID = `` in one varbind of net-snmp output."""
    return output.split(" = ", 1)[1].rstrip()


def get(agent: NetSnmpAgent, oid: str, community: str = "public") -> tuple[int, str, str]:
    return agent.run_netsnmp("snmpget", "-v2c", "-c", community, "-On", oid)


def test_free_udp_port_can_be_bound() -> None:
    port = free_udp_port()

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", port))
        assert server.getsockname()[1] == port


def test_parse_snmprec_keeps_pipe_in_value() -> None:
    records = parse_snmprec("1.3.6.1.2.1.1.5.0|4|a|b\n")

    assert records == [Record((1, 3, 6, 1, 2, 1, 1, 5, 0), "4", "a|b")]


def test_parse_snmprec_skips_empty_lines() -> None:
    records = parse_snmprec("1.3.6.1.2.1.1.5.0|4x|6869\n\n1.3.6.1.2.1.1.3.0|67|12\n\n")

    assert records == [
        Record((1, 3, 6, 1, 2, 1, 1, 5, 0), "4x", "6869"),
        Record((1, 3, 6, 1, 2, 1, 1, 3, 0), "67", "12"),
    ]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("-v2c", "-c", "public", "-On", ".1.3"), ["-v2c", "-c", "public", "-On", "AGENT", ".1.3"]),
        (
            ("-v", "2c", "-cpublic", ".1.3", "i", "-7"),
            ["-v", "2c", "-cpublic", "AGENT", ".1.3", "i", "-7"],
        ),
        (("-v1", "--", ".1.3"), ["-v1", "--", "AGENT", ".1.3"]),
        ((), ["AGENT"]),
    ],
)
def test_insert_agent_address_before_first_operand(
    args: tuple[str, ...], expected: list[str]
) -> None:
    assert insert_agent_address(args, "AGENT") == expected


def test_parse_snmprec_rejects_line_without_type() -> None:
    with pytest.raises(ValueError, match="line 1"):
        parse_snmprec("1.3.6.1.2.1.1.5.0 host\n")


def test_snmpd_answers_sysdescr_on_ipv4(snmpd_agent: NetSnmpAgent) -> None:
    returncode, stdout, stderr = get(snmpd_agent, SYS_DESCR)

    assert returncode == 0, stderr
    assert stdout.startswith(f"{SYS_DESCR} = STRING: ")


def test_snmpd_answers_sysdescr_on_ipv6(snmpd_agent: NetSnmpAgent) -> None:
    if not snmpd_agent.has_ipv6:
        pytest.skip("no IPv6 loopback on this machine")

    returncode, stdout, stderr = snmpd_agent.run_netsnmp(
        "snmpget", "-v2c", "-c", "public", "-On", SYS_DESCR, ipv6=True
    )

    assert returncode == 0, stderr
    assert stdout.startswith(f"{SYS_DESCR} = STRING: ")


def test_system_view_v2c_walk_end(snmpd_agent: NetSnmpAgent) -> None:
    returncode, stdout, stderr = snmpd_agent.run_netsnmp(
        "snmpwalk", "-v2c", "-c", snmpd_agent.system_community, "-On", SYSTEM_GROUP
    )

    assert returncode == 0, stderr
    assert stdout.rstrip().endswith(
        "No more variables left in this MIB View (It is past the end of the MIB tree)"
    )


def test_system_view_v1_walk_end(snmpd_agent: NetSnmpAgent) -> None:
    returncode, stdout, stderr = snmpd_agent.run_netsnmp(
        "snmpwalk", "-v1", "-c", snmpd_agent.system_community, "-On", SYSTEM_GROUP
    )

    assert returncode == 0, stderr
    assert stdout.rstrip().endswith("End of MIB")


def test_system_view_hides_other_subtrees(snmpd_agent: NetSnmpAgent) -> None:
    returncode, stdout, _ = get(snmpd_agent, f"{PASS_PERSIST}.1.0", snmpd_agent.system_community)

    assert returncode == 0
    assert "No Such Object" in stdout


@pytest.mark.parametrize("suffix", sorted(PASS_PERSIST_OUTPUT))
def test_pass_persist_serves_fixed_value(snmpd_agent: NetSnmpAgent, suffix: str) -> None:
    returncode, stdout, stderr = get(snmpd_agent, f"{PASS_PERSIST}.{suffix}")

    assert returncode == 0, stderr
    assert value_of(stdout) == PASS_PERSIST_OUTPUT[suffix]


def test_pass_persist_walk_returns_every_object(snmpd_agent: NetSnmpAgent) -> None:
    returncode, stdout, stderr = snmpd_agent.run_netsnmp(
        "snmpwalk", "-v2c", "-c", "public", "-On", "-Cp", PASS_PERSIST
    )

    assert returncode == 0, stderr
    assert stdout.rstrip().endswith(f"Variables found: {len(PASS_PERSIST_OUTPUT) + 1}")


def test_pass_persist_dynamic_value_follows_file(snmpd_agent: NetSnmpAgent) -> None:
    for text in ("first", "second"):
        snmpd_agent.set_dynamic_value(text)

        _, stdout, stderr = get(snmpd_agent, DYNAMIC_VALUE)

        assert value_of(stdout) == f'STRING: "{text}"', stderr


def test_private_community_sets_dynamic_value(snmpd_agent: NetSnmpAgent) -> None:
    returncode, _, stderr = snmpd_agent.run_netsnmp(
        "snmpset", "-v2c", "-c", snmpd_agent.private_community, DYNAMIC_VALUE, "s", "-set-"
    )

    assert returncode == 0, stderr
    assert snmpd_agent.dynamic_value_path.read_text(encoding="utf-8") == "-set-\n"


def test_private_community_sets_sys_location(snmpd_agent: NetSnmpAgent) -> None:
    returncode, _, stderr = snmpd_agent.run_netsnmp(
        "snmpset", "-v2c", "-c", snmpd_agent.private_community, SYS_LOCATION, "s", "rack 7"
    )
    assert returncode == 0, stderr

    _, stdout, _ = get(snmpd_agent, SYS_LOCATION)

    assert value_of(stdout) == 'STRING: "rack 7"'


def test_public_community_set_is_rejected(snmpd_agent: NetSnmpAgent) -> None:
    returncode, _, stderr = snmpd_agent.run_netsnmp(
        "snmpset", "-v2c", "-c", "public", SYS_LOCATION, "s", "nowhere"
    )

    assert returncode != 0
    assert "noAccess" in stderr


def test_fixed_pass_persist_object_is_not_writable(snmpd_agent: NetSnmpAgent) -> None:
    returncode, _, stderr = snmpd_agent.run_netsnmp(
        "snmpset", "-v2c", "-c", snmpd_agent.private_community, f"{PASS_PERSIST}.4.0", "i", "3"
    )

    assert returncode != 0
    assert "notWritable" in stderr


def test_device_simulator_serves_every_recording(device_simulator: DeviceSimulator) -> None:
    assert device_simulator.devices == DEVICE_NAMES


@pytest.mark.parametrize("device", DEVICE_NAMES)
def test_device_walk_matches_recording_size(device_simulator: DeviceSimulator, device: str) -> None:
    returncode, stdout, stderr = device_simulator.run_netsnmp(
        "snmpwalk", "-v2c", "-c", device, "-On", "-Cp", ".1"
    )

    # The GETNEXT after the recording's last OID returns endOfMibView, and net-snmp 5.9.3
    # counts that varbind in "Variables found" too.
    assert returncode == 0, stderr
    assert "No more variables left in this MIB View" in stdout
    expected = len(device_simulator.recordings[device]) + 1
    assert stdout.rstrip().endswith(f"Variables found: {expected}")


def test_device_walk_returns_recording_oids_in_order(device_simulator: DeviceSimulator) -> None:
    # sentry3 has two lines out of OID order in its file; the served copy must be sorted.
    returncode, stdout, stderr = device_simulator.run_netsnmp(
        "snmpwalk", "-v2c", "-c", "sentry3", "-On", "-Oq", ".1"
    )
    assert returncode == 0, stderr

    walked = [
        line.split(" ", 1)[0]
        for line in stdout.splitlines()
        if line.startswith(".") and "No more variables left" not in line
    ]
    recorded = sorted(record.oid for record in device_simulator.recordings["sentry3"])

    assert walked == ["." + ".".join(str(arc) for arc in oid) for oid in recorded]


@pytest.mark.agent
def test_start_snmpd_appends_extra_config(tmp_path: Path) -> None:
    skip_unless_installed("snmpd", "snmpget")

    agent = start_snmpd(
        tmp_path, extra_config=["createUser user1 SHA authpass1234", "rouser user1 auth"]
    )
    try:
        returncode, stdout, stderr = agent.run_netsnmp(
            "snmpget",
            "-v3",
            "-l",
            "authNoPriv",
            "-u",
            "user1",
            "-a",
            "SHA",
            "-A",
            "authpass1234",
            "-On",
            SYS_DESCR,
        )
    finally:
        agent.stop()

    assert returncode == 0, stderr
    assert stdout.startswith(f"{SYS_DESCR} = STRING: ")


def test_config_without_ipv6_listens_on_ipv4_only(tmp_path: Path) -> None:
    agent = NetSnmpAgent(host="127.0.0.1", port=16100, ipv6_host=None, work_dir=tmp_path)

    agent.write_config()

    config = agent.config_path.read_text(encoding="utf-8")
    assert "agentAddress udp:127.0.0.1:16100\n" in config
    assert "udp6" not in config


def test_address_without_ipv6_raises(tmp_path: Path) -> None:
    agent = NetSnmpAgent(host="127.0.0.1", port=16100, ipv6_host=None, work_dir=tmp_path)

    with pytest.raises(AgentStartError, match="no IPv6 loopback"):
        agent.address(ipv6=True)
