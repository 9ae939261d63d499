"""SNMPv3 options of the CLI tools: parsing, defaults, the USM user they make, and their errors.

The expected behaviour was read from net-snmp 5.9.3's snmpget on Debian 12 (see docs/cli.md,
"SNMPv3"). No test here sends a packet.
"""

from __future__ import annotations

import io

import pytest

from snmpd_ng.cli.agent import parse_agent
from snmpd_ng.cli.errors import OperandError, UsageError, UsmUserError
from snmpd_ng.cli.main import main
from snmpd_ng.cli.messages import EXIT_FAILURE, security_error_message
from snmpd_ng.cli.options import Tool, ToolOptions, parse_arguments
from snmpd_ng.cli.runner import Streams, build_target, run_command
from snmpd_ng.cli.usm import parse_hex
from snmpd_ng.manager import (
    DecryptionFailedError,
    Manager,
    NotInTimeWindowError,
    PrivacyMismatchError,
    ReportError,
    SecurityError,
    Target,
    UnknownContextError,
    UnknownEngineIdError,
    UnknownUserNameError,
    UnsupportedSecurityLevelError,
    WrongDigestError,
)
from snmpd_ng.protocol.message import SnmpVersion
from snmpd_ng.secret import Secret
from snmpd_ng.security.credentials import KeyKind, SecurityLevel, UsmUser
from snmpd_ng.security.keys import AuthProtocol, PrivProtocol

AGENT = "127.0.0.1:1161"
OID = "1.3.6.1.2.1.1.5.0"
AUTH_PASSPHRASE = "auth-secret-1"
PRIV_PASSPHRASE = "priv-secret-2"
MD5_KEY = "6905add65e3a9f402cbc3953c1942342"  # 16 octets: an MD5 master or localized key
SHA256_KEY = "3decbf50d1f4fc3ddb4d21b0b429cd527f5005c41964ea9295deadf2deeb7590"  # 32 octets
ENGINE_ID = "80001f8880c2b8a811974e136b00000000"


def parse_v3(*args: str, tool: Tool = Tool.GET) -> ToolOptions:
    """Parse an SNMPv3 command line of `tool` for AGENT and OID."""
    operands = [] if tool in (Tool.WALK, Tool.BULKWALK) else [OID]
    return parse_arguments(tool, ["-v3", *args, AGENT, *operands])


def usm_of(*args: str) -> UsmUser:
    """Return the USM user that an SNMPv3 command line makes."""
    user = parse_v3(*args).usm
    assert user is not None
    return user


# ---------------------------------------------------------------------------------------------
# Options and what they set


def test_parse_v3_authpriv_separate_values() -> None:
    options = parse_v3("-u", "ops", "-l", "authPriv", "-a", "SHA-256", "-A", AUTH_PASSPHRASE,
                       "-x", "AES-256-C", "-X", PRIV_PASSPHRASE)
    user = options.usm
    assert options.version == SnmpVersion.V3
    assert user is not None
    assert user.name == "ops"
    assert user.security_level is SecurityLevel.AUTH_PRIV
    assert user.auth_protocol is AuthProtocol.SHA256
    assert user.auth_key == Secret(AUTH_PASSPHRASE)
    assert user.auth_key_kind is KeyKind.PASSPHRASE
    assert user.priv_protocol is PrivProtocol.AES256C
    assert user.priv_key == Secret(PRIV_PASSPHRASE)
    assert user.priv_key_kind is KeyKind.PASSPHRASE


def test_parse_v3_attached_values() -> None:
    user = usm_of("-uops", "-lauthPriv", "-aSHA", f"-A{AUTH_PASSPHRASE}", "-xAES",
                  f"-X{PRIV_PASSPHRASE}")
    assert user.name == "ops"
    assert user.security_level is SecurityLevel.AUTH_PRIV
    assert user.auth_protocol is AuthProtocol.SHA
    assert user.priv_protocol is PrivProtocol.AES
    assert user.priv_key == Secret(PRIV_PASSPHRASE)


def test_parse_v3_options_after_agent() -> None:
    options = parse_arguments(Tool.GET, [AGENT, "-v", "3", OID, "-u", "ops", "-l", "noauth"])
    assert options.usm is not None
    assert options.usm.name == "ops"
    assert options.operands == [OID]


@pytest.mark.parametrize(("text", "level"), [
    ("noAuthNoPriv", SecurityLevel.NO_AUTH_NO_PRIV),
    ("NOAUTHNOPRIV", SecurityLevel.NO_AUTH_NO_PRIV),
    ("noauth", SecurityLevel.NO_AUTH_NO_PRIV),
    ("nanp", SecurityLevel.NO_AUTH_NO_PRIV),
    ("1", SecurityLevel.NO_AUTH_NO_PRIV),
    ("authNoPriv", SecurityLevel.AUTH_NO_PRIV),
    ("Auth", SecurityLevel.AUTH_NO_PRIV),
    ("anp", SecurityLevel.AUTH_NO_PRIV),
    ("2", SecurityLevel.AUTH_NO_PRIV),
    ("authPriv", SecurityLevel.AUTH_PRIV),
    ("AUTHPRIV", SecurityLevel.AUTH_PRIV),
    ("priv", SecurityLevel.AUTH_PRIV),
    ("ap", SecurityLevel.AUTH_PRIV),
    ("3", SecurityLevel.AUTH_PRIV),
])
def test_parse_v3_level_spellings(text: str, level: SecurityLevel) -> None:
    user = usm_of("-u", "ops", "-l", text, "-A", AUTH_PASSPHRASE, "-X", PRIV_PASSPHRASE)
    assert user.security_level is level


@pytest.mark.parametrize(("text", "protocol"), [
    ("MD5", AuthProtocol.MD5),
    ("md5", AuthProtocol.MD5),
    ("SHA", AuthProtocol.SHA),
    ("sha", AuthProtocol.SHA),
    ("SHA-1", AuthProtocol.SHA),
    ("sha1", AuthProtocol.SHA),
    ("SHA-224", AuthProtocol.SHA224),
    ("sha224", AuthProtocol.SHA224),
    ("SHA-256", AuthProtocol.SHA256),
    ("Sha256", AuthProtocol.SHA256),
    ("sha-384", AuthProtocol.SHA384),
    ("SHA384", AuthProtocol.SHA384),
    ("SHA-512", AuthProtocol.SHA512),
    ("sha512", AuthProtocol.SHA512),
])
def test_parse_v3_auth_protocol_spellings(text: str, protocol: AuthProtocol) -> None:
    user = usm_of("-u", "ops", "-l", "auth", "-a", text, "-A", AUTH_PASSPHRASE)
    assert user.auth_protocol is protocol


@pytest.mark.parametrize(("text", "protocol"), [
    ("DES", PrivProtocol.DES),
    ("des", PrivProtocol.DES),
    ("AES", PrivProtocol.AES),
    ("aes", PrivProtocol.AES),
    ("AES-128", PrivProtocol.AES),
    ("aes128", PrivProtocol.AES),
    ("AES-192", PrivProtocol.AES192),
    ("aes192", PrivProtocol.AES192),
    ("AES-256", PrivProtocol.AES256),
    ("aes256", PrivProtocol.AES256),
    ("AES-192-C", PrivProtocol.AES192C),
    ("aes192c", PrivProtocol.AES192C),
    ("aes-256-c", PrivProtocol.AES256C),
    ("AES256C", PrivProtocol.AES256C),
])
def test_parse_v3_priv_protocol_spellings(text: str, protocol: PrivProtocol) -> None:
    user = usm_of("-u", "ops", "-l", "priv", "-a", "SHA-256", "-A", AUTH_PASSPHRASE, "-x", text,
                  "-X", PRIV_PASSPHRASE)
    assert user.priv_protocol is protocol


def test_parse_v3_context_and_engine_ids() -> None:
    options = parse_v3("-u", "ops", "-n", "bridge1", "-e", f"0x{ENGINE_ID}",
                       "-E", ENGINE_ID.upper())
    assert options.v3.context_name == "bridge1"
    assert options.v3.security_engine_id == bytes.fromhex(ENGINE_ID)
    assert options.v3.context_engine_id == bytes.fromhex(ENGINE_ID)


def test_parse_v3_engine_id_with_spaces() -> None:
    options = parse_v3("-u", "ops", "-e", "80001f88 80c2b8a8 11974e13 6b000000 00")
    assert options.v3.security_engine_id == bytes.fromhex(ENGINE_ID)


def test_parse_v3_boots_and_time_ignored() -> None:
    options = parse_v3("-u", "ops", "-Z", "3,86400")
    assert options.v3.engine_boots_time == (3, 86400)
    assert parse_v3("-u", "ops", "-Z", "3").v3.engine_boots_time == (3, None)


def test_parse_v3_bulkwalk() -> None:
    options = parse_v3("-u", "ops", "-Cr25", tool=Tool.BULKWALK)
    assert options.usm is not None
    assert options.max_repetitions == 25


# ---------------------------------------------------------------------------------------------
# Defaults, as snmpget 5.9.3 behaved


def test_parse_v3_level_defaults_to_noauthnopriv() -> None:
    # snmpget sends noAuthNoPriv without -l, even with -A and -X: the agent then refuses a user
    # that needs authentication.
    user = usm_of("-u", "ops", "-a", "SHA", "-A", AUTH_PASSPHRASE, "-X", PRIV_PASSPHRASE)
    assert user.security_level is SecurityLevel.NO_AUTH_NO_PRIV
    assert user.auth_key is None
    assert user.priv_key is None


def test_parse_v3_auth_protocol_defaults_to_md5() -> None:
    user = usm_of("-u", "ops", "-l", "authNoPriv", "-A", AUTH_PASSPHRASE)
    assert user.auth_protocol is AuthProtocol.MD5


def test_parse_v3_priv_protocol_defaults_to_des() -> None:
    user = usm_of("-u", "ops", "-l", "authPriv", "-A", AUTH_PASSPHRASE, "-X", PRIV_PASSPHRASE)
    assert user.priv_protocol is PrivProtocol.DES


def test_parse_v3_authnopriv_drops_privacy_key() -> None:
    user = usm_of("-u", "ops", "-l", "authNoPriv", "-A", AUTH_PASSPHRASE, "-x", "AES",
                  "-X", PRIV_PASSPHRASE)
    assert user.priv_protocol is None
    assert user.priv_key is None


def test_parse_v3_ignores_community() -> None:
    options = parse_v3("-u", "ops", "-c", "public")
    target = build_target(options, parse_agent(AGENT))
    assert target.version == SnmpVersion.V3
    assert target.usm == options.usm


def test_parse_v2c_ignores_v3_options() -> None:
    options = parse_arguments(Tool.GET, ["-v2c", "-c", "public", "-u", "ops", "-l", "authPriv",
                                         "-e", ENGINE_ID, "-n", "bridge1", AGENT, OID])
    target = build_target(options, parse_agent(AGENT))
    assert options.usm is None
    assert target.usm is None
    assert target.security_engine_id is None
    assert target.context_name == ""


def test_build_target_v3_fields() -> None:
    options = parse_v3("-u", "ops", "-n", "bridge1", "-e", ENGINE_ID, "-E", ENGINE_ID, "-t", "2")
    target = build_target(options, parse_agent(AGENT))
    assert target.version == SnmpVersion.V3
    assert target.usm is not None
    assert target.usm.name == "ops"
    assert target.context_name == "bridge1"
    assert target.security_engine_id == bytes.fromhex(ENGINE_ID)
    assert target.context_engine_id == bytes.fromhex(ENGINE_ID)
    assert target.timeout == 2.0
    assert target.label == AGENT


# ---------------------------------------------------------------------------------------------
# Keys given in hex


@pytest.mark.parametrize("words", [
    ["-3k", MD5_KEY],
    [f"-3k{MD5_KEY}"],
    ["-3k", f"0x{MD5_KEY}"],
    ["-3k", f"0X{MD5_KEY.upper()}"],
    ["-3", "k", MD5_KEY],
    ["-3", f"k{MD5_KEY}"],
    ["-3k", f"{MD5_KEY[:16]} {MD5_KEY[16:]}"],
])
def test_parse_v3_localized_key_forms(words: list[str]) -> None:
    user = usm_of("-u", "ops", "-l", "auth", *words)
    assert user.auth_key == Secret(bytes.fromhex(MD5_KEY))
    assert user.auth_key_kind is KeyKind.LOCALIZED


def test_parse_v3_master_keys() -> None:
    user = usm_of("-u", "ops", "-l", "priv", "-a", "SHA-256", "-3m", SHA256_KEY, "-x", "AES-256",
                  "-3M", SHA256_KEY)
    assert user.auth_key_kind is KeyKind.MASTER
    assert user.priv_key_kind is KeyKind.MASTER
    assert user.priv_key == Secret(bytes.fromhex(SHA256_KEY))


@pytest.mark.parametrize(("words", "kind"), [
    (["-A", AUTH_PASSPHRASE, "-3k", MD5_KEY], KeyKind.LOCALIZED),
    (["-3k", MD5_KEY, "-A", AUTH_PASSPHRASE], KeyKind.LOCALIZED),
    (["-3m", MD5_KEY, "-A", AUTH_PASSPHRASE], KeyKind.PASSPHRASE),
    (["-A", AUTH_PASSPHRASE, "-3m", MD5_KEY], KeyKind.PASSPHRASE),
    (["-3m", MD5_KEY, "-3k", MD5_KEY], KeyKind.LOCALIZED),
])
def test_parse_v3_key_precedence(words: list[str], kind: KeyKind) -> None:
    # snmpget 5.9.3 uses -3k before -A before -3m, whatever their order.
    assert usm_of("-u", "ops", "-l", "auth", *words).auth_key_kind is kind


def test_parse_v3_privacy_key_precedence() -> None:
    user = usm_of("-u", "ops", "-l", "priv", "-A", AUTH_PASSPHRASE, "-3K", MD5_KEY,
                  "-X", PRIV_PASSPHRASE, "-3M", MD5_KEY)
    assert user.priv_key_kind is KeyKind.LOCALIZED


def test_parse_v3_last_passphrase_wins() -> None:
    user = usm_of("-u", "ops", "-l", "auth", "-A", "first-passphrase", "-A", AUTH_PASSPHRASE)
    assert user.auth_key == Secret(AUTH_PASSPHRASE)


@pytest.mark.parametrize(("text", "expected"), [
    ("0a0B", b"\x0a\x0b"),
    ("0x0a0b", b"\x0a\x0b"),
    ("0a 0b", b"\x0a\x0b"),
    ("", b""),
    ("0a0", None),
    ("zz", None),
    ("0x0g", None),
])
def test_parse_hex_forms(text: str, expected: bytes | None) -> None:
    assert parse_hex(text) == expected


# ---------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(("args", "message"), [
    (["-u", "ops", "-l", "bogus"], "Invalid security level specified after -l flag: bogus"),
    (["-u", "ops", "-a", "MD-5"], "Invalid authentication protocol specified after -a flag: MD-5"),
    # net-snmp takes any prefix ("SHA2" is SHA-224 there); snmpd-ng wants a whole name.
    (["-u", "ops", "-a", "SHA2"], "Invalid authentication protocol specified after -a flag: SHA2"),
    (["-u", "ops", "-a", ""], "Invalid authentication protocol specified after -a flag"),
    (["-u", "ops", "-x", "3DES"], "Invalid privacy protocol specified after -x flag: 3DES"),
    (["-u", "ops", "-x", "AES-128-C"], "Invalid privacy protocol specified after -x flag"),
    (["-u", "ops", "-3q", MD5_KEY], "Unknown SNMPv3 option passed to -3: q"),
    (["-u", "ops", "-3k", "zz"], "Bad key value after -3k flag"),
    (["-u", "ops", "-3K", "0a0"], "Bad key value after -3K flag"),
    (["-u", "ops", "-3m", "0x"], "Bad key value after -3m flag"),
    (["-u", "ops", "-e", "zz"], "Bad engine ID value after -e flag"),
    (["-u", "ops", "-e", "80001f88"], "Invalid engine ID value after -e flag: '80001f88' has 4"),
    (["-u", "ops", "-e", "0x"], "Invalid engine ID value after -e flag"),
    (["-u", "ops", "-E", "00" * 33], "Invalid engine ID value after -E flag"),
    (["-u", "ops", "-n", "c" * 33], "Invalid context name after -n flag: it has 33 octets"),
    (["-u", "ops", "-Z", "x"], "Need engine boots value after -Z flag"),
    (["-u", "ops", "-Z", "3,x"], "Need engine time after"),
    (["-u", "ops", "-Z", "3,"], "Need engine time after"),
])
def test_parse_v3_usage_errors(args: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(")) as caught:
        parse_v3(*args)
    assert not isinstance(caught.value, OperandError)


def test_parse_v3_key_option_needs_value() -> None:
    with pytest.raises(UsageError, match="option -3k requires an argument"):
        parse_arguments(Tool.GET, ["-v3", "-u", "ops", "-3k"])


def test_parse_v3_key_option_without_letter() -> None:
    with pytest.raises(UsageError, match="option -3 requires an argument"):
        parse_arguments(Tool.GET, ["-v3", "-u", "ops", "-3"])


@pytest.mark.parametrize(("args", "message"), [
    ([], "No securityName specified: SNMPv3 needs -u USER-NAME"),
    (["-c", "public"], "No securityName specified"),
    (["-u", "ops", "-l", "authNoPriv"], "Security level authNoPriv needs an authentication key"),
    (["-u", "ops", "-l", "authPriv", "-X", PRIV_PASSPHRASE],
     "Security level authPriv needs an authentication key"),
    (["-u", "ops", "-l", "authPriv", "-A", AUTH_PASSPHRASE],
     "Security level authPriv needs a privacy key: give -X PASSPHRASE"),
    (["-u", "ops", "-A", "short"], "The passphrase after -A has 5 octets; USM needs at least 8"),
    (["-u", "ops", "-X", "1234567"], "The passphrase after -X has 7 octets"),
    (["-u", "ops", "-A", ""], "The passphrase after -A has 0 octets"),
    (["-u", "", "-l", "noauth"], "the user name has 0 octets"),
    (["-u", "u" * 33], "the user name has 33 octets"),
    (["-u", "ops", "-l", "auth", "-3k", MD5_KEY[:-2]],
     "the localized authentication key has 15 octets; MD5 keys have 16"),
    (["-u", "ops", "-l", "auth", "-a", "SHA", "-3m", MD5_KEY],
     "the master authentication key has 16 octets; SHA keys have 20"),
    (["-u", "ops", "-l", "priv", "-A", AUTH_PASSPHRASE, "-x", "AES-256", "-3K", MD5_KEY],
     "the localized privacy key has 16 octets; AES-256 needs at least 32"),
    (["-u", "ops", "-l", "priv", "-a", "SHA", "-A", AUTH_PASSPHRASE, "-3M", MD5_KEY],
     "the master privacy key has 16 octets; with SHA it must have 20"),
])
def test_parse_v3_user_errors(args: list[str], message: str) -> None:
    # net-snmp reports these without its usage text, and so does snmpd-ng.
    with pytest.raises(UsmUserError, match=message):
        parse_v3(*args)


def test_parse_v2c_rejects_short_passphrase() -> None:
    # net-snmp derives the key while it reads -A, so a short one fails even without -v 3.
    with pytest.raises(UsmUserError, match="The passphrase after -A has 5 octets"):
        parse_arguments(Tool.GET, ["-v2c", "-c", "public", "-A", "short", AGENT, OID])


def test_parse_v2c_needs_community_not_user() -> None:
    with pytest.raises(UsageError, match="No community name specified"):
        parse_arguments(Tool.GET, ["-v2c", "-u", "ops", AGENT, OID])


@pytest.mark.parametrize("args", [
    ["-u", "ops", "-A", "short-1"],
    ["-u", "ops", "-l", "auth", "-3k", MD5_KEY[:-2]],
    ["-u", "ops", "-l", "priv", "-a", "SHA", "-A", AUTH_PASSPHRASE, "-3M", MD5_KEY],
    ["-u", "ops", "-3k", f"{MD5_KEY}z"],
])
def test_parse_v3_errors_hide_keys(args: list[str]) -> None:
    with pytest.raises(UsageError) as caught:
        parse_v3(*args)
    message = str(caught.value)
    for secret in ("short-1", AUTH_PASSPHRASE, MD5_KEY, MD5_KEY[:-2]):
        assert secret not in message


def test_tool_options_repr_hides_keys() -> None:
    options = parse_v3("-u", "ops", "-l", "priv", "-A", AUTH_PASSPHRASE, "-X", PRIV_PASSPHRASE,
                       "-3k", MD5_KEY, "-3K", MD5_KEY)
    text = repr(options)
    assert AUTH_PASSPHRASE not in text
    assert PRIV_PASSPHRASE not in text
    assert MD5_KEY not in text
    assert repr(bytes.fromhex(MD5_KEY)) not in text


def test_netsnmp_n_is_not_an_option() -> None:
    with pytest.raises(UsageError, match="invalid option -- 'N'"):
        parse_v3("-u", "ops", "-N", "x")


# ---------------------------------------------------------------------------------------------
# What the tool prints


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["get", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_main_user_error_without_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "-v3", "-u", "ops", "-l", "authPriv", "-A",
                              AUTH_PASSPHRASE, AGENT, OID)
    assert code == EXIT_FAILURE
    assert out == ""
    assert err == ("Security level authPriv needs a privacy key: give -X PASSPHRASE, -3M HEX or "
                   "-3K HEX, or -l authNoPriv\n")


def test_main_unknown_protocol_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "-v3", "-u", "ops", "-x", "3DES", AGENT, OID)
    assert code == EXIT_FAILURE
    assert err.startswith("Invalid privacy protocol specified after -x flag: 3DES (expected one "
                          "of DES, AES, AES-192, AES-256, AES-192-C, AES-256-C)\n")
    assert "USAGE: snmpd-ng get" in err


def security_target(level: str = "authPriv") -> Target:
    options = parse_v3("-u", "ops", "-l", level, "-A", AUTH_PASSPHRASE, "-X", PRIV_PASSPHRASE,
                       "-n", "bridge1")
    return build_target(options, parse_agent(AGENT))


@pytest.mark.parametrize(("error_type", "start"), [
    (UnknownUserNameError, "Unknown user name: the agent at 127.0.0.1:1161 has no USM user 'ops'"),
    (WrongDigestError, "Authentication failure (incorrect password, community or key): "),
    (DecryptionFailedError, "Decryption error: "),
    (UnsupportedSecurityLevelError, "Unsupported security level: the agent at 127.0.0.1:1161 "
                                    "does not accept user 'ops' at authPriv; check -l"),
    (UnknownEngineIdError, "Unknown engine ID: "),
    (NotInTimeWindowError, "Not in time window: "),
    (UnknownContextError, "Unknown context: the agent at 127.0.0.1:1161 serves user 'ops' in "
                          "the default context but not in context 'bridge1'; check -n"),
    (PrivacyMismatchError, "Privacy failure: "),
    (ReportError, "SNMPv3 request failed: 127.0.0.1:1161: snmpInvalidMsgs report"),
])
def test_security_error_message_kinds(error_type: type[SecurityError], start: str) -> None:
    error = error_type("snmpInvalidMsgs report", target=AGENT, user="ops")
    line = security_error_message(Tool.GET, error, security_target())
    assert line.startswith("snmpd-ng get: " + start)
    assert line.endswith("\n")
    assert line.count("\n") == 1
    assert AUTH_PASSPHRASE not in line
    assert PRIV_PASSPHRASE not in line


def test_run_command_security_error_exit() -> None:
    async def fail(manager: Manager, target: Target, options: ToolOptions,
                   streams: Streams) -> int:
        raise WrongDigestError("usmStatsWrongDigests report", target=target.label,
                               user="ops")

    options = parse_v3("-u", "ops", "-l", "auth", "-A", AUTH_PASSPHRASE)
    out, err = io.StringIO(), io.StringIO()
    code = run_command(fail, options, Streams(out, err))
    # snmpget 5.9.3 exits 1 on "Authentication failure" and the other USM failures.
    assert code == EXIT_FAILURE
    assert out.getvalue() == ""
    assert err.getvalue() == (
        "snmpd-ng get: Authentication failure (incorrect password, community or key): the agent "
        "at 127.0.0.1:1161 rejected the digest of user 'ops'; check -a and -A (or -3m, -3k)\n")
