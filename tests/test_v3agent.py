"""Check the SNMPv3 users and agents of tests/v3agent.py with net-snmp's own snmpget."""

from __future__ import annotations

import pytest
from v3agent import (
    FEW_USERS,
    IF_DESCR_1_OID,
    IF_INDEX_1_OID,
    SNMP_ENGINE_ID_OID,
    SYS_LOCATION,
    SYS_LOCATION_OID,
    USERS,
    RestartableV3Agent,
    V3Agent,
    V3User,
    engine_id_from_text,
    make_user,
    netsnmp_args,
    user_by_name,
)

from snmpd_ng.security.credentials import SecurityLevel
from snmpd_ng.security.keys import AuthProtocol, PrivProtocol

# Seconds to wait for a response that must not come; such requests also get no retry.
SHORT_TIMEOUT = 0.3

AUTH_USERS = [user for user in USERS if user.level is SecurityLevel.AUTH_NO_PRIV]
PRIV_USERS = [user for user in USERS if user.level is SecurityLevel.AUTH_PRIV]
by_name = pytest.mark.parametrize("user", USERS, ids=lambda user: user.name)


def engine_id_output(engine_id: bytes) -> str:
    """Return how snmpget -On prints an engine ID: `Hex-STRING: 80 00 1F 88 ...`."""
    return "Hex-STRING: " + " ".join(f"{octet:02X}" for octet in engine_id)


def joined_lines(output: str) -> str:
    """Return `output` with line breaks as single spaces; snmpget wraps hex after 16 octets."""
    return " ".join(output.split())


class TestUserMatrix:
    def test_has_37_users(self) -> None:
        assert len(USERS) == 37

    def test_names_are_unique(self) -> None:
        assert len({user.name for user in USERS}) == len(USERS)

    def test_counts_per_level(self) -> None:
        assert len(AUTH_USERS) == 6
        assert len(PRIV_USERS) == 30

    def test_covers_every_protocol_pair(self) -> None:
        pairs = {(user.auth_protocol, user.priv_protocol) for user in PRIV_USERS}
        blumenthal = {PrivProtocol.DES, PrivProtocol.AES, PrivProtocol.AES192, PrivProtocol.AES256}
        for auth in AuthProtocol:
            for priv in blumenthal:
                assert (auth, priv) in pairs
        for auth in (AuthProtocol.MD5, AuthProtocol.SHA, AuthProtocol.SHA224):
            assert (auth, PrivProtocol.AES192C) in pairs
            assert (auth, PrivProtocol.AES256C) in pairs

    @by_name
    def test_name_fits_usm(self, user: V3User) -> None:
        assert 1 <= len(user.name.encode()) <= 32

    @pytest.mark.parametrize("user", AUTH_USERS + PRIV_USERS, ids=lambda user: user.name)
    def test_passphrases_are_long_enough(self, user: V3User) -> None:
        assert user.auth_passphrase is not None
        assert len(user.auth_passphrase.encode()) >= 8
        if user.priv_passphrase is not None:
            assert len(user.priv_passphrase.encode()) >= 8
            assert user.priv_passphrase != user.auth_passphrase

    @by_name
    def test_usm_user_has_level(self, user: V3User) -> None:
        assert user.usm_user().security_level is user.level

    def test_usm_user_at_lower_level(self) -> None:
        usm = user_by_name("priv_sha_aes").usm_user(SecurityLevel.AUTH_NO_PRIV)
        assert usm.security_level is SecurityLevel.AUTH_NO_PRIV

    def test_lookup_returns_user(self) -> None:
        user = user_by_name("priv_md5_aes192c")
        assert user.auth_protocol is AuthProtocol.MD5
        assert user.priv_protocol is PrivProtocol.AES192C

    def test_lookup_unknown_name_raises(self) -> None:
        with pytest.raises(KeyError, match="priv_sha_aes512"):
            user_by_name("priv_sha_aes512")

    def test_make_user_priv_without_auth_raises(self) -> None:
        with pytest.raises(ValueError, match="authentication protocol"):
            make_user(None, PrivProtocol.AES)


class TestConfigLines:
    def test_create_user_line_priv(self) -> None:
        line = user_by_name("priv_sha256_aes256").create_user_line()
        expected = (
            "createUser priv_sha256_aes256 SHA-256 priv_sha256_aes256-authpass "
            "AES-256 priv_sha256_aes256-privpass"
        )
        assert line == expected

    def test_create_user_line_noauth(self) -> None:
        assert user_by_name("noauth").create_user_line() == "createUser noauth"

    @pytest.mark.parametrize(
        ("name", "keyword"),
        [("noauth", "noauth"), ("auth_md5", "auth"), ("priv_sha_des", "priv")],
    )
    def test_rouser_line_uses_own_level(self, name: str, keyword: str) -> None:
        assert user_by_name(name).rouser_line() == f"rouser {name} {keyword} -V v3test"

    def test_engine_id_from_text(self) -> None:
        assert engine_id_from_text("ab") == bytes.fromhex("80001f88046162")


class TestNetSnmpArgs:
    def test_priv_user(self) -> None:
        args = netsnmp_args(user_by_name("priv_md5_des"))
        assert args == [
            "-v3", "-u", "priv_md5_des", "-l", "authPriv",
            "-a", "MD5", "-A", "priv_md5_des-authpass",
            "-x", "DES", "-X", "priv_md5_des-privpass",
        ]  # fmt: skip

    def test_lower_level_leaves_out_priv(self) -> None:
        args = netsnmp_args(user_by_name("priv_md5_des"), level=SecurityLevel.AUTH_NO_PRIV)
        assert "-x" not in args
        assert args[4] == "authNoPriv"

    def test_wrong_passphrases(self) -> None:
        args = netsnmp_args(user_by_name("priv_sha_aes"), wrong_auth=True, wrong_priv=True)
        assert "priv_sha_aes-authpass" not in args
        assert "priv_sha_aes-privpass" not in args

    def test_timeout_and_retries(self) -> None:
        args = netsnmp_args(user_by_name("noauth"), timeout=0.3, retries=0)
        assert args[-4:] == ["-t", "0.3", "-r", "0"]

    def test_auth_level_for_noauth_user_raises(self) -> None:
        with pytest.raises(ValueError, match="no authentication protocol"):
            netsnmp_args(user_by_name("noauth"), level=SecurityLevel.AUTH_NO_PRIV)


class TestSessionAgent:
    @by_name
    def test_user_reads_system_and_if_table(self, snmpd_v3_agent: V3Agent, user: V3User) -> None:
        returncode, stdout, stderr = snmpd_v3_agent.snmpget(
            netsnmp_args(user), SYS_LOCATION_OID, IF_INDEX_1_OID, IF_DESCR_1_OID, SNMP_ENGINE_ID_OID
        )
        assert returncode == 0, stderr
        assert f'{SYS_LOCATION_OID} = STRING: "{SYS_LOCATION}"' in stdout
        assert f"{IF_INDEX_1_OID} = INTEGER: 1" in stdout
        assert f"{IF_DESCR_1_OID} = STRING: " in stdout
        engine_id = engine_id_output(snmpd_v3_agent.engine_id)
        assert f"{SNMP_ENGINE_ID_OID} = {engine_id}" in joined_lines(stdout)

    @pytest.mark.parametrize("user", AUTH_USERS, ids=lambda user: user.name)
    def test_wrong_auth_passphrase_fails_auth(self, snmpd_v3_agent: V3Agent, user: V3User) -> None:
        returncode, _, stderr = snmpd_v3_agent.snmpget(
            netsnmp_args(user, wrong_auth=True, timeout=SHORT_TIMEOUT, retries=0), SYS_LOCATION_OID
        )
        assert returncode != 0
        assert "Authentication failure" in stderr

    @pytest.mark.parametrize("name", ["priv_md5_des", "priv_sha512_aes256", "priv_sha_aes256c"])
    def test_wrong_priv_passphrase_times_out(self, snmpd_v3_agent: V3Agent, name: str) -> None:
        user = snmpd_v3_agent.user(name)
        returncode, _, stderr = snmpd_v3_agent.snmpget(
            netsnmp_args(user, wrong_priv=True, timeout=SHORT_TIMEOUT, retries=0), SYS_LOCATION_OID
        )
        assert returncode != 0
        assert "Timeout" in stderr

    @pytest.mark.parametrize(
        ("name", "level"),
        [
            ("priv_sha256_aes", SecurityLevel.AUTH_NO_PRIV),
            ("priv_md5_aes192c", SecurityLevel.NO_AUTH_NO_PRIV),
            ("auth_sha", SecurityLevel.NO_AUTH_NO_PRIV),
        ],
    )
    def test_lower_level_gets_authorization_error(
        self, snmpd_v3_agent: V3Agent, name: str, level: SecurityLevel
    ) -> None:
        # The passphrases are right, so the error comes from the level in the rouser line.
        user = snmpd_v3_agent.user(name)
        returncode, _, stderr = snmpd_v3_agent.snmpget(
            netsnmp_args(user, level=level), SYS_LOCATION_OID
        )
        assert returncode != 0
        assert "authorizationError" in stderr

    def test_unknown_user_is_reported(self, snmpd_v3_agent: V3Agent) -> None:
        stranger = V3User("stranger", SecurityLevel.NO_AUTH_NO_PRIV, None, None, None, None)
        returncode, _, stderr = snmpd_v3_agent.snmpget(
            netsnmp_args(stranger, timeout=SHORT_TIMEOUT, retries=0), SYS_LOCATION_OID
        )
        assert returncode != 0
        assert "Unknown user name" in stderr

    def test_agent_lists_all_users(self, snmpd_v3_agent: V3Agent) -> None:
        assert snmpd_v3_agent.users == USERS

    def test_agent_user_not_on_agent_raises(self, snmpd_v3_agent: V3Agent) -> None:
        with pytest.raises(KeyError, match="stranger"):
            snmpd_v3_agent.user("stranger")


class TestRestartableAgent:
    def test_starts_at_one_boot(self, restartable_v3_agent: RestartableV3Agent) -> None:
        assert restartable_v3_agent.engine_boots == 1

    def test_restart_raises_boots(self, restartable_v3_agent: RestartableV3Agent) -> None:
        restartable_v3_agent.restart()
        assert restartable_v3_agent.engine_boots == 2
        restartable_v3_agent.restart()
        assert restartable_v3_agent.engine_boots == 3

    def test_restart_keeps_engine_id(self, restartable_v3_agent: RestartableV3Agent) -> None:
        restartable_v3_agent.restart()
        returncode, stdout, stderr = restartable_v3_agent.snmpget(
            netsnmp_args(restartable_v3_agent.user("noauth")), SNMP_ENGINE_ID_OID
        )
        assert returncode == 0, stderr
        assert engine_id_output(restartable_v3_agent.engine_id) in joined_lines(stdout)

    def test_restart_forgetting_boots_starts_at_one(
        self, restartable_v3_agent: RestartableV3Agent
    ) -> None:
        restartable_v3_agent.restart()
        restartable_v3_agent.restart(forget_engine_boots=True)
        assert restartable_v3_agent.engine_boots == 1

    @pytest.mark.parametrize("user", FEW_USERS, ids=lambda user: user.name)
    def test_users_answer_after_restart(
        self, restartable_v3_agent: RestartableV3Agent, user: V3User
    ) -> None:
        restartable_v3_agent.restart()
        returncode, stdout, stderr = restartable_v3_agent.snmpget(
            netsnmp_args(user), SYS_LOCATION_OID
        )
        assert returncode == 0, stderr
        assert SYS_LOCATION in stdout

    def test_delete_boots_of_running_agent_raises(
        self, restartable_v3_agent: RestartableV3Agent
    ) -> None:
        with pytest.raises(RuntimeError, match="is running"):
            restartable_v3_agent.delete_saved_engine_boots()


class TestClonedAgents:
    def test_ports_differ(self, cloned_v3_agents: list[V3Agent]) -> None:
        first, second = cloned_v3_agents
        assert first.port != second.port

    @pytest.mark.parametrize("index", [0, 1])
    def test_clone_reports_shared_engine_id(
        self, cloned_v3_agents: list[V3Agent], index: int
    ) -> None:
        agent = cloned_v3_agents[index]
        returncode, stdout, stderr = agent.snmpget(
            netsnmp_args(agent.user("priv_sha_aes")), SNMP_ENGINE_ID_OID
        )
        assert returncode == 0, stderr
        assert engine_id_output(cloned_v3_agents[0].engine_id) in joined_lines(stdout)
