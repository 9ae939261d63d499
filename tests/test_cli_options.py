"""Command-line parsing of the CLI tools: options, agent addresses, OIDs and SET values."""

from __future__ import annotations

import pytest

from snmpd_ng.cli.agent import parse_agent
from snmpd_ng.cli.oids import parse_oid_argument, walk_request_oid
from snmpd_ng.cli.options import (
    DEFAULT_WALK_ROOT,
    OperandError,
    Tool,
    UsageError,
    parse_arguments,
    parse_output_letters,
)
from snmpd_ng.cli.output import OutputOptions
from snmpd_ng.cli.setvalues import parse_set_operands, parse_set_value
from snmpd_ng.protocol.message import SnmpVersion
from snmpd_ng.protocol.values import (
    NULL,
    Counter32,
    Counter64,
    Gauge32,
    Integer32,
    IpAddress,
    ObjectIdentifier,
    OctetString,
    Opaque,
    TimeTicks,
)

AGENT = "127.0.0.1:1161"


def test_parse_arguments_separate_values() -> None:
    options = parse_arguments(Tool.GET, ["-v", "1", "-c", "secret", "-t", "0.5", "-r", "2",
                                         AGENT, "1.3.6.1.2.1.1.5.0"])
    assert options.version == SnmpVersion.V1
    assert options.community == "secret"
    assert options.timeout == 0.5
    assert options.retries == 2
    assert options.agent == AGENT
    assert options.operands == ["1.3.6.1.2.1.1.5.0"]


def test_parse_arguments_attached_values() -> None:
    options = parse_arguments(Tool.BULKWALK, ["-v2c", "-cpublic", "-t2", "-r0", "-Cr25", "-Cn1",
                                              "-On", AGENT, ".1.3.6.1.2.1.2"])
    assert options.version == SnmpVersion.V2C
    assert options.community == "public"
    assert options.timeout == 2.0
    assert options.retries == 0
    assert options.max_repetitions == 25
    assert options.non_repeaters == 1
    assert options.output.numeric


def test_parse_arguments_defaults_as_netsnmp() -> None:
    options = parse_arguments(Tool.BULKWALK, ["-c", "public", AGENT])
    assert options.version == SnmpVersion.V2C
    assert options.timeout == 1.0
    assert options.retries == 5
    assert options.max_repetitions == 10
    assert options.non_repeaters == 0
    assert options.operands == [DEFAULT_WALK_ROOT]
    assert options.check_increasing
    assert options.get_root_if_empty


def test_parse_arguments_options_after_operands() -> None:
    # glibc's getopt, which net-snmp uses, accepts options anywhere.
    options = parse_arguments(Tool.GET, [AGENT, "-v2c", "1.3.6.1.2.1.1.5.0", "-c", "public",
                                         "-On"])
    assert options.community == "public"
    assert options.output.numeric
    assert options.operands == ["1.3.6.1.2.1.1.5.0"]


def test_parse_arguments_walk_flags() -> None:
    options = parse_arguments(Tool.WALK, ["-c", "public", "-Cc", "-CI", "-Cp", "-Ci", AGENT])
    assert not options.check_increasing
    assert not options.get_root_if_empty
    assert options.print_count
    assert options.include_root


def test_parse_arguments_bulk_size_as_next_word() -> None:
    options = parse_arguments(Tool.BULKWALK, ["-c", "public", "-Cr", "7", AGENT])
    assert options.max_repetitions == 7


def test_parse_arguments_set_negative_value() -> None:
    options = parse_arguments(Tool.SET, ["-c", "private", AGENT, "1.3.6.1.4.1.1.0", "i", "-5"])
    assert options.operands == ["1.3.6.1.4.1.1.0", "i", "-5"]


@pytest.mark.parametrize(("tool", "argv", "message"), [
    (Tool.GET, ["-c", "public", AGENT], "Missing object name"),
    (Tool.GET, [AGENT, "1.3.6.1"], "No community name specified."),
    (Tool.GET, ["-c", "public"], "No hostname specified."),
    (Tool.GET, ["-v5", "-c", "public", AGENT, "1.3.6"],
     "Invalid version specified after -v flag: 5"),
    (Tool.GET, ["-t", "abc", "-c", "public", AGENT, "1.3.6"], "Invalid timeout in seconds"),
    (Tool.GET, ["-t", "0", "-c", "public", AGENT, "1.3.6"], "Invalid timeout in seconds"),
    (Tool.GET, ["-r", "x", "-c", "public", AGENT, "1.3.6"], "Invalid number of retries"),
    (Tool.GET, ["-Oz", "-c", "public", AGENT, "1.3.6"], "Unknown output option passed to -O: z"),
    (Tool.GET, ["-Cr5", "-c", "public", AGENT, "1.3.6"], "Unknown flag passed to -C: r"),
    (Tool.WALK, ["-Cr5", "-c", "public", AGENT], "Unknown flag passed to -C: r"),
    (Tool.BULKWALK, ["-Cr0", "-c", "public", AGENT], "-Cr0 would never finish"),
    (Tool.BULKWALK, ["-v1", "-c", "public", AGENT], "Cannot send V2 PDU on V1 session"),
    (Tool.GET, ["-Q", "-c", "public", AGENT, "1.3.6"], "invalid option -- 'Q'"),
    (Tool.GET, ["-c"], "option -c requires an argument"),
    (Tool.WALK, ["-c", "public", AGENT, "1.3.6.1", "1.3.6.2"], "walk takes one OID"),
    (Tool.SET, ["-c", "private", AGENT, "1.3.6.1.2.1.1.4.0", "s"],
     "1.3.6.1.2.1.1.4.0: Needs value"),
])
def test_parse_arguments_usage_errors(tool: Tool, argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_arguments(tool, argv)


def test_parse_arguments_version_3() -> None:
    # The SNMPv3 options themselves are tested in test_cli_v3_options.py.
    options = parse_arguments(Tool.GET, ["-v3", "-u", "ops", AGENT, "1.3.6"])
    assert options.version == SnmpVersion.V3
    assert options.usm is not None


def test_parse_output_letters_toggles() -> None:
    assert parse_output_letters("q", OutputOptions()).quick
    both = parse_output_letters("qQ", OutputOptions())
    # snmpget -OqQ prints the default form with " = ": q and Q toggle the same switch.
    assert not both.quick
    assert both.quick_equals
    assert parse_output_letters("vv", OutputOptions()) == OutputOptions()
    assert parse_output_letters("fn", OutputOptions()).numeric
    assert parse_output_letters("sSbXE0Ue", OutputOptions()) == OutputOptions()


@pytest.mark.parametrize(("text", "host", "port"), [
    ("127.0.0.1", "127.0.0.1", 161),
    ("127.0.0.1:1161", "127.0.0.1", 1161),
    ("udp:127.0.0.1:1161", "127.0.0.1", 1161),
    ("localhost:1161", "localhost", 1161),
    ("[::1]:1161", "::1", 1161),
    ("udp6:[::1]:1161", "::1", 1161),
    ("udp6:[::1]", "::1", 161),
    ("udp6:::1", "::1", 161),
])
def test_parse_agent_forms(text: str, host: str, port: int) -> None:
    agent = parse_agent(text)
    assert agent.host == host
    assert agent.port == port
    assert agent.label == text


@pytest.mark.parametrize(("text", "message"), [
    ("tcp:127.0.0.1:1161", "not supported"),
    ("127.0.0.1:http", "port 'http'"),
    ("127.0.0.1:70000", "port '70000'"),
    ("[::1:1161", "closing"),
    (":1161", "no host"),
])
def test_parse_agent_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_agent(text)


def test_parse_oid_argument_forms() -> None:
    assert parse_oid_argument("1.3.6.1.2.1.1.5.0") == (1, 3, 6, 1, 2, 1, 1, 5, 0)
    assert parse_oid_argument(".1.3.6.1.2.1.1.5.0") == (1, 3, 6, 1, 2, 1, 1, 5, 0)
    assert parse_oid_argument("sysName.0") == (1, 3, 6, 1, 2, 1, 1, 5, 0)


@pytest.mark.parametrize("text", ["1.3.x.1", "sysNme.0", "5.1", ".1"])
def test_parse_oid_argument_errors(text: str) -> None:
    with pytest.raises(OperandError, match=f"{text}: Unknown Object Identifier"):
        parse_oid_argument(text)


def test_walk_root_single_arc() -> None:
    assert parse_oid_argument(".1", is_walk_root=True) == (1,)
    assert walk_request_oid((1,)) == (1, 0)
    assert walk_request_oid((1, 3, 6)) == (1, 3, 6)


@pytest.mark.parametrize(("letter", "text", "expected"), [
    ("i", "-5", Integer32(-5)),
    ("u", "4294967295", Gauge32(4294967295)),
    ("t", "100", TimeTicks(100)),
    ("c", "7", Counter32(7)),
    ("C", "18446744073709551615", Counter64(18446744073709551615)),
    ("a", "10.0.0.1", IpAddress(b"\x0a\x00\x00\x01")),
    ("o", ".1.3.6.1.4.1", ObjectIdentifier((1, 3, 6, 1, 4, 1))),
    ("s", "hello", OctetString(b"hello")),
    ("x", "41 42", OctetString(b"AB")),
    ("x", "4142", OctetString(b"AB")),
    ("x", "0x41", OctetString(b"A")),
    ("d", "65 66", OctetString(b"AB")),
    ("d", "65.66", OctetString(b"AB")),
    ("b", "1", OctetString(b"@")),
    ("b", "0 9", OctetString(b"\x80\x40")),
    ("n", "", NULL),
])
def test_parse_set_value_types(letter: str, text: str, expected: object) -> None:
    value = parse_set_value("1.3.6.1.4.1.1.0", letter, text)
    assert value == expected
    assert type(value) is type(expected)


def test_parse_set_value_opaque_types() -> None:
    assert bytes(parse_set_value("x", "F", "13.7")) == bytes.fromhex("9f7804415b3333")
    assert bytes(parse_set_value("x", "D", "13.7")) == bytes.fromhex("9f7908402b666666666666")
    unsigned = parse_set_value("x", "U", "256")
    assert isinstance(unsigned, Opaque)
    assert bytes(unsigned) == bytes.fromhex("9f7b020100")
    assert bytes(parse_set_value("x", "I", "-2")) == bytes.fromhex("9f7a01fe")


@pytest.mark.parametrize(("letter", "text", "message"), [
    ("q", "1", "Bad object type: q"),
    ("i", "abc", r"Bad value notation \(abc\)"),
    ("i", "2147483648", "Bad value notation"),
    ("u", "-1", "Bad value notation"),
    ("x", "414", "Bad value notation"),
    ("x", "zz", "Bad value notation"),
    ("d", "300", "Bad value notation"),
    ("a", "1.2.3", "Bad value notation"),
    ("o", "1.3.x", "Bad value notation"),
    ("F", "1e300", "Bad value notation"),
])
def test_parse_set_value_errors(letter: str, text: str, message: str) -> None:
    with pytest.raises(OperandError, match=message):
        parse_set_value("1.3.6.1.4.1.1.0", letter, text)


def test_parse_set_operands_triples() -> None:
    varbinds = parse_set_operands(["1.3.6.1.2.1.1.4.0", "s", "a", "1.3.6.1.2.1.1.6.0", "s", "b"])
    assert [varbind.oid[-2] for varbind in varbinds] == [4, 6]
    assert [bytes(varbind.value) for varbind in varbinds] == [b"a", b"b"]  # type: ignore[arg-type]
