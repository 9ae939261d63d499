"""`snmpd-ng` and net-snmp's tools with SNMPv3, against the same snmpd and the same options.

Every user of tests/v3agent.py (each security level, authentication and privacy protocol, and
both AES key extensions) runs one get and two bulkwalks through both tools, with the same
arguments. The net-snmp runs go in parallel subprocesses and the snmpd-ng runs in-process, so the
37 users take a few seconds. Walk rows that changed between two net-snmp walks (sysUpTime, the
loopback counters that the walks themselves move) only need the same type label, as in
test_cli_netsnmp.py.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from agents import insert_agent_address
from test_cli_netsnmp import parse_rows
from v3agent import (
    USERS,
    WRONG_AUTH_PASSPHRASE,
    WRONG_PRIV_PASSPHRASE,
    V3Agent,
    V3User,
    netsnmp_args,
    user_by_name,
)

from snmpd_ng.cli.main import main
from snmpd_ng.security.keys import localize_key, localized_priv_key, password_to_key

Result = tuple[int, str, str]

SYS_DESCR_OID = ".1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID_OID = ".1.3.6.1.2.1.1.2.0"
SYS_LOCATION_OID = ".1.3.6.1.2.1.1.6.0"
SYSTEM_OID = ".1.3.6.1.2.1.1"
IF_TABLE_OID = ".1.3.6.1.2.1.2.2"

# Seconds to wait for a response that must not come. Such requests get no retry either.
SHORT_TIMEOUT = "0.3"

# The requests every user sends: (name, net-snmp tool, snmpd-ng command, arguments after the
# user's options).
REQUESTS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("get", "snmpget", "get", (SYS_DESCR_OID, SYS_OBJECT_ID_OID)),
    ("system", "snmpbulkwalk", "bulkwalk", ("-On", SYSTEM_OID)),
    ("iftable", "snmpbulkwalk", "bulkwalk", ("-On", IF_TABLE_OID)),
)

by_user = pytest.mark.parametrize("user", USERS, ids=lambda user: user.name)


def run_ours(agent: V3Agent, command: str, args: Sequence[str]) -> Result:
    """Run `snmpd-ng COMMAND` in-process against `agent` and capture what it prints."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([command, *insert_agent_address(args, agent.snmpd.address())])
    return code, out.getvalue(), err.getvalue()


def run_netsnmp_all(agent: V3Agent, runs: Sequence[tuple[str, Sequence[str]]]) -> list[Result]:
    """Run net-snmp tools against `agent`, several at a time, and return results in order."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(agent.snmpd.run_netsnmp, tool, *args) for tool, args in runs]
        return [future.result() for future in futures]


@pytest.fixture(scope="module")
def matrix_results(snmpd_v3_agent: V3Agent) -> dict[tuple[str, str], tuple[Result, ...]]:
    """Run REQUESTS for every user: net-snmp, then snmpd-ng, then net-snmp again.

    Returns (before, ours, after) by (user name, request name).
    """
    keys = [(user, request) for user in USERS for request in REQUESTS]
    netsnmp_runs = [(tool, [*netsnmp_args(user), *args])
                    for user, (_, tool, _, args) in keys]

    before = run_netsnmp_all(snmpd_v3_agent, netsnmp_runs)
    ours = [run_ours(snmpd_v3_agent, command, [*netsnmp_args(user), *args])
            for user, (_, _, command, args) in keys]
    after = run_netsnmp_all(snmpd_v3_agent, netsnmp_runs)

    results = zip(before, ours, after, strict=True)
    return {(user.name, request[0]): result
            for (user, request), result in zip(keys, results, strict=True)}


def type_label(row: str) -> str:
    """Return the type label of a `-On` row, such as `Counter32` or `Timeticks`."""
    value = row.split(" = ", 1)[1]
    return value.split(":", 1)[0] if ":" in value else value


def assert_walks_match(before: Result, ours: Result, after: Result) -> None:
    """Check a walk against two net-snmp walks around it; see the module docstring."""
    assert ours[0] == before[0] == 0
    assert ours[2] == before[2] == ""

    first, second, actual = parse_rows(before[1]), parse_rows(after[1]), parse_rows(ours[1])
    assert list(actual) == list(first)
    for oid, row in actual.items():
        if second.get(oid) == first[oid]:
            assert row == first[oid]
        else:
            assert type_label(row) == type_label(first[oid]), oid


# ---------------------------------------------------------------------------------------------
# Every user of the matrix


@by_user
def test_get_matches_snmpget(matrix_results: dict[tuple[str, str], tuple[Result, ...]],
                             user: V3User) -> None:
    before, ours, _ = matrix_results[user.name, "get"]
    assert before[0] == 0, before[2]
    assert ours == before


@by_user
def test_bulkwalk_system_matches(matrix_results: dict[tuple[str, str], tuple[Result, ...]],
                                 user: V3User) -> None:
    before, ours, after = matrix_results[user.name, "system"]
    assert len(parse_rows(before[1])) >= 7
    assert_walks_match(before, ours, after)


@by_user
def test_bulkwalk_iftable_matches(matrix_results: dict[tuple[str, str], tuple[Result, ...]],
                                  user: V3User) -> None:
    before, ours, after = matrix_results[user.name, "iftable"]
    assert len(parse_rows(before[1])) >= 20
    assert_walks_match(before, ours, after)


# ---------------------------------------------------------------------------------------------
# Other tools and options, for one user


def test_walk_matches_snmpwalk(snmpd_v3_agent: V3Agent) -> None:
    args = [*netsnmp_args(user_by_name("priv_sha256_aes")), "-On", SYSTEM_OID]
    before = snmpd_v3_agent.snmpd.run_netsnmp("snmpwalk", *args)
    ours = run_ours(snmpd_v3_agent, "walk", args)
    after = snmpd_v3_agent.snmpd.run_netsnmp("snmpwalk", *args)
    assert_walks_match(before, ours, after)


@pytest.mark.parametrize(("tool", "command", "operands"), [
    ("snmpgetnext", "getnext", [SYSTEM_OID, SYS_DESCR_OID]),
    # The test users are read-only, so the agent rejects the SET with an error-status.
    ("snmpset", "set", [SYS_LOCATION_OID, "s", "elsewhere"]),
])
def test_getnext_and_set_match(snmpd_v3_agent: V3Agent, tool: str, command: str,
                               operands: list[str]) -> None:
    args = [*netsnmp_args(user_by_name("priv_sha384_aes192")), *operands]
    expected = snmpd_v3_agent.snmpd.run_netsnmp(tool, *args)
    assert run_ours(snmpd_v3_agent, command, args) == expected


def localized_key_args(agent: V3Agent, user: V3User) -> list[str]:
    """Return -3k and -3K options with `user`'s keys localized to `agent`'s engine ID."""
    assert user.auth_protocol is not None and user.auth_passphrase is not None
    assert user.priv_protocol is not None and user.priv_passphrase is not None
    auth_key = localize_key(user.auth_protocol,
                            password_to_key(user.auth_protocol, user.auth_passphrase.encode()),
                            agent.engine_id)
    priv_key = localized_priv_key(user.auth_protocol, user.priv_protocol,
                                  user.priv_passphrase.encode(), agent.engine_id)
    # Attached, because insert_agent_address handles one-letter options only and would take a
    # separate key for the first operand.
    return [f"-3k{auth_key.hex()}", f"-3K0x{priv_key.hex()}"]


def master_key_args(user: V3User) -> list[str]:
    """Return -3m and -3M options with `user`'s master keys (Ku)."""
    assert user.auth_protocol is not None and user.auth_passphrase is not None
    assert user.priv_passphrase is not None
    auth_key = password_to_key(user.auth_protocol, user.auth_passphrase.encode())
    priv_key = password_to_key(user.auth_protocol, user.priv_passphrase.encode())
    return [f"-3m{auth_key.hex()}", f"-3M{priv_key.hex()}"]


def user_options_without_passphrases(user: V3User) -> list[str]:
    assert user.auth_protocol is not None and user.priv_protocol is not None
    return ["-v3", "-u", user.name, "-l", "authPriv", "-a", user.auth_protocol.value,
            "-x", user.priv_protocol.value]


@pytest.mark.parametrize("name", ["priv_md5_des", "priv_sha_aes256", "priv_sha224_aes256c"])
@pytest.mark.parametrize("keys", ["localized", "master"])
def test_key_options_match(snmpd_v3_agent: V3Agent, name: str, keys: str) -> None:
    user = user_by_name(name)
    key_args = (localized_key_args(snmpd_v3_agent, user) if keys == "localized"
                else master_key_args(user))
    args = [*user_options_without_passphrases(user), *key_args, SYS_DESCR_OID]
    expected = snmpd_v3_agent.snmpd.run_netsnmp("snmpget", *args)
    assert expected[0] == 0, expected[2]
    assert run_ours(snmpd_v3_agent, "get", args) == expected


def test_engine_id_option_matches(snmpd_v3_agent: V3Agent) -> None:
    args = [*netsnmp_args(user_by_name("auth_sha512")), "-e", snmpd_v3_agent.engine_id.hex(),
            "-n", "", SYS_DESCR_OID]
    expected = snmpd_v3_agent.snmpd.run_netsnmp("snmpget", *args)
    assert expected[0] == 0, expected[2]
    assert run_ours(snmpd_v3_agent, "get", args) == expected


def test_missing_level_matches(snmpd_v3_agent: V3Agent) -> None:
    # Without -l both tools send noAuthNoPriv, which the agent rejects for an authNoPriv user
    # with an authorizationError.
    user = user_by_name("auth_md5")
    assert user.auth_passphrase is not None
    args = ["-v3", "-u", user.name, "-A", user.auth_passphrase, SYS_DESCR_OID]
    expected = snmpd_v3_agent.snmpd.run_netsnmp("snmpget", *args)
    assert expected[0] == 2
    code, out, err = run_ours(snmpd_v3_agent, "get", args)
    assert (code, out) == expected[:2]
    # The same error lines, then a note that names the missing -l.
    assert err.startswith(expected[2])
    assert "no -l was given" in err[len(expected[2]):]


# ---------------------------------------------------------------------------------------------
# Security failures: the same exit code, and net-snmp's text at the start of the line


@pytest.mark.parametrize(("args", "text"), [
    (["-v3", "-u", "nobody", "-l", "authNoPriv", "-a", "SHA", "-A", WRONG_AUTH_PASSPHRASE],
     "Unknown user name"),
    (netsnmp_args(user_by_name("auth_sha"), wrong_auth=True),
     "Authentication failure (incorrect password, community or key)"),
    (netsnmp_args(user_by_name("priv_sha_aes"), wrong_auth=True),
     "Authentication failure (incorrect password, community or key)"),
    (["-v3", "-u", "noauth", "-l", "authNoPriv", "-A", WRONG_AUTH_PASSPHRASE],
     "Unsupported security level"),
    # The last -x wins in both tools: AES where the agent has DES.
    ([*netsnmp_args(user_by_name("priv_md5_des")), "-x", "AES"], "Decryption error"),
])
def test_security_failure_matches(snmpd_v3_agent: V3Agent, args: list[str], text: str) -> None:
    full_args = [*args, "-t", SHORT_TIMEOUT, "-r", "0", SYS_DESCR_OID]
    expected = snmpd_v3_agent.snmpd.run_netsnmp("snmpget", *full_args)
    code, out, err = run_ours(snmpd_v3_agent, "get", full_args)
    assert expected[2] == f"snmpget: {text}\n"
    assert code == expected[0] == 1
    assert out == expected[1] == ""
    assert err.startswith(f"snmpd-ng get: {text}: ")
    assert err.count("\n") == 1


@pytest.mark.parametrize(("name", "priv_args"), [
    ("priv_sha_aes", ["-X", WRONG_PRIV_PASSPHRASE]),
    # The Reeder key instead of the Blumenthal one: net-snmp's agent cannot decrypt either.
    ("priv_md5_aes256", ["-x", "AES-256-C"]),
])
def test_privacy_mismatch_reported(snmpd_v3_agent: V3Agent, name: str,
                                   priv_args: list[str]) -> None:
    user = user_by_name(name)
    args = [*netsnmp_args(user), *priv_args, "-t", SHORT_TIMEOUT, "-r", "0", SYS_DESCR_OID]
    expected = snmpd_v3_agent.snmpd.run_netsnmp("snmpget", *args)
    code, out, err = run_ours(snmpd_v3_agent, "get", args)
    # net-snmp only times out; snmpd-ng names the cause.
    assert expected[2].startswith("Timeout: No Response from")
    assert code == expected[0] == 1
    assert out == ""
    assert err.startswith(f"snmpd-ng get: Privacy failure: the agent at "
                          f"{snmpd_v3_agent.snmpd.address()} responds to user '{name}' at "
                          "authNoPriv but not at authPriv")


def test_debug_output_hides_secrets(snmpd_v3_agent: V3Agent) -> None:
    user = user_by_name("priv_sha512_aes256")
    assert user.auth_passphrase is not None and user.priv_passphrase is not None
    key_args = localized_key_args(snmpd_v3_agent, user)
    runs = [
        [*netsnmp_args(user), "-d", SYS_DESCR_OID],
        [*user_options_without_passphrases(user), *key_args, "-d", SYS_DESCR_OID],
        [*netsnmp_args(user, wrong_auth=True), "-d", "-r", "0", SYS_DESCR_OID],
    ]
    secrets = [user.auth_passphrase, user.priv_passphrase, WRONG_AUTH_PASSPHRASE,
               key_args[0].removeprefix("-3k"), key_args[1].removeprefix("-3K0x")]
    for args in runs:
        _, out, err = run_ours(snmpd_v3_agent, "get", args)
        assert "debug" in err  # the request was logged
        for secret in secrets:
            assert secret not in out
            assert secret not in err
            assert secret.encode().hex() not in err
