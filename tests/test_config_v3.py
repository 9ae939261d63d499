"""SNMPv3 credentials profiles in the config: names, keys, versions, errors and secrecy."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from fakes import FakeClock, FakeManager

from snmpd_ng.config.errors import ConfigError
from snmpd_ng.config.loader import check_config_file, load_config
from snmpd_ng.config.model import DaemonConfig
from snmpd_ng.config.usm import (
    parse_auth_protocol,
    parse_hex,
    parse_priv_protocol,
    parse_security_level,
)
from snmpd_ng.manager.target import Target
from snmpd_ng.polling.service import PollingService
from snmpd_ng.protocol.message import SnmpVersion
from snmpd_ng.secret import Secret
from snmpd_ng.security.credentials import KeyKind, SecurityLevel, UsmUser
from snmpd_ng.security.keys import AuthProtocol, PrivProtocol

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "deploy" / "config.example.yaml"
AUTH_PASSPHRASE = "auth-passphrase-5b2e91"
PRIV_PASSPHRASE = "priv-passphrase-c47d10"
SHORT_PASSPHRASE = "sh0rt7x"
"""Seven octets, one below USM's minimum."""
SHA_MASTER_KEY = "9fb1c3a05e77d2846b0f1a2c3d4e5f6071829304"
"""20 octets: a master key of SHA-1's digest size."""
SECRETS = (AUTH_PASSPHRASE, PRIV_PASSPHRASE, SHORT_PASSPHRASE, SHA_MASTER_KEY)
KEYED_PROFILE = (f"keyed: {{user: k, auth_protocol: SHA, "
                 f"auth_key: {{master: '{SHA_MASTER_KEY}'}}}}\n")
"""A profile with a master key instead of a passphrase."""
ENVIRON = {"AUTH_PASSPHRASE": AUTH_PASSPHRASE, "PRIV_PASSPHRASE": PRIV_PASSPHRASE}

CONFIG = """\
credentials:
  lab:
    community: public-lab
  monitor:
    user: monitor
    auth_protocol: SHA-256
    auth_passphrase: {{env: AUTH_PASSPHRASE}}
    priv_protocol: AES
    priv_passphrase: {{env: PRIV_PASSPHRASE}}
{profile}
jobs:
  system:
    scalars: [sysUpTime]
defaults:
  jobs: [system]
  credentials: monitor
{defaults}
targets:
  - name: router
    address: 127.0.0.1
{target}
"""


def config_text(profile: str = "", defaults: str = "", target: str = "") -> str:
    """Return CONFIG with extra lines: under `credentials` (indented 2), `defaults` and the
    first target (indented 4)."""
    return CONFIG.format(
        profile=textwrap.indent(textwrap.dedent(profile), "  "),
        defaults=textwrap.indent(textwrap.dedent(defaults), "  "),
        target=textwrap.indent(textwrap.dedent(target), "    "),
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str) -> DaemonConfig:
    return load_config(write(tmp_path, text), ENVIRON)


def load_errors(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return str(caught.value)


def router(config: DaemonConfig) -> Target:
    return next(target.target for target in config.targets if target.name == "router")


def router_user(config: DaemonConfig) -> UsmUser:
    user = router(config).usm
    assert user is not None
    return user


class TestProtocolNames:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [("MD5", AuthProtocol.MD5), ("md5", AuthProtocol.MD5), ("SHA", AuthProtocol.SHA),
         ("sha-1", AuthProtocol.SHA), ("SHA1", AuthProtocol.SHA),
         ("SHA-224", AuthProtocol.SHA224), ("sha224", AuthProtocol.SHA224),
         ("SHA-256", AuthProtocol.SHA256), ("Sha256", AuthProtocol.SHA256),
         ("SHA-384", AuthProtocol.SHA384), ("SHA512", AuthProtocol.SHA512)],
    )  # fmt: skip
    def test_auth_protocol_takes_netsnmp_names(self, text: str,
                                               expected: AuthProtocol) -> None:
        assert parse_auth_protocol(text) is expected

    @pytest.mark.parametrize(
        ("text", "expected"),
        [("DES", PrivProtocol.DES), ("des", PrivProtocol.DES), ("AES", PrivProtocol.AES),
         ("AES-128", PrivProtocol.AES), ("aes128", PrivProtocol.AES),
         ("AES-192", PrivProtocol.AES192), ("AES192", PrivProtocol.AES192),
         ("AES-256", PrivProtocol.AES256), ("aes-192-c", PrivProtocol.AES192C),
         ("AES192C", PrivProtocol.AES192C), ("AES-256-C", PrivProtocol.AES256C),
         ("aes256c", PrivProtocol.AES256C)],
    )  # fmt: skip
    def test_priv_protocol_takes_netsnmp_names(self, text: str,
                                               expected: PrivProtocol) -> None:
        assert parse_priv_protocol(text) is expected

    @pytest.mark.parametrize(
        ("text", "expected"),
        [("noAuthNoPriv", SecurityLevel.NO_AUTH_NO_PRIV), ("noauth", SecurityLevel.NO_AUTH_NO_PRIV),
         ("NANP", SecurityLevel.NO_AUTH_NO_PRIV), ("authNoPriv", SecurityLevel.AUTH_NO_PRIV),
         ("auth", SecurityLevel.AUTH_NO_PRIV), ("anp", SecurityLevel.AUTH_NO_PRIV),
         ("authPriv", SecurityLevel.AUTH_PRIV), ("AUTHPRIV", SecurityLevel.AUTH_PRIV),
         ("priv", SecurityLevel.AUTH_PRIV), ("ap", SecurityLevel.AUTH_PRIV)],
    )  # fmt: skip
    def test_security_level_takes_netsnmp_names(self, text: str,
                                                expected: SecurityLevel) -> None:
        assert parse_security_level(text) is expected

    def test_sha2_is_ambiguous(self) -> None:
        with pytest.raises(ValueError) as caught:
            parse_auth_protocol("SHA2")

        message = str(caught.value)
        assert message.startswith("ambiguous authentication protocol 'SHA2'")
        assert "it may mean SHA-224, SHA-256, SHA-384, SHA-512;" in message

    def test_aes_prefix_names_both_key_extensions(self) -> None:
        with pytest.raises(ValueError, match="it may mean AES-192, AES-192-C;"):
            parse_priv_protocol("AES-19")

    def test_hyphen_before_c_suggests_reeder_name(self) -> None:
        # net-snmp 5.9.3 rejects AES-256C too, so it is an error here, with the fix.
        with pytest.raises(ValueError, match=r"did you mean 'AES-256-C'\?"):
            parse_priv_protocol("AES-256C")

    def test_unknown_protocol_lists_allowed_values(self) -> None:
        with pytest.raises(ValueError) as caught:
            parse_priv_protocol("3DES")

        expected = ("unknown privacy protocol '3DES'; allowed values: DES, AES, AES-192, "
                    "AES-256, AES-192-C, AES-256-C")
        assert str(caught.value) == expected

    def test_numeric_level_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="unknown security level '3'; allowed values: "
                                             "noAuthNoPriv, authNoPriv, authPriv"):
            parse_security_level("3")


class TestParseHex:
    @pytest.mark.parametrize(
        "text", ["80001f8804", "0x80001F8804", "80:00:1f:88:04", " 80 00 1f 88 04\n"]
    )
    def test_hex_forms_decode_alike(self, text: str) -> None:
        assert parse_hex(text) == bytes.fromhex("80001f8804")

    def test_odd_digit_count_is_rejected(self) -> None:
        with pytest.raises(ValueError, match=r"odd number of hex digits \(5\)"):
            parse_hex("80001")

    def test_message_never_shows_text(self) -> None:
        with pytest.raises(ValueError) as caught:
            parse_hex("secretzz")

        assert "secretzz" not in str(caught.value)
        assert "not hex digits" in str(caught.value)


class TestUsmProfile:
    def test_auth_priv_profile_builds_v3_target(self, tmp_path: Path) -> None:
        target = router(load(tmp_path, config_text()))

        assert target.version is SnmpVersion.V3
        user = target.usm
        assert user is not None
        assert user.name == "monitor"
        assert user.security_level is SecurityLevel.AUTH_PRIV
        assert user.auth_protocol is AuthProtocol.SHA256
        assert user.priv_protocol is PrivProtocol.AES
        assert user.auth_key == Secret(AUTH_PASSPHRASE)
        assert user.priv_key == Secret(PRIV_PASSPHRASE)
        assert user.auth_key_kind is KeyKind.PASSPHRASE
        assert target.context_name == ""
        assert target.security_engine_id is None

    def test_protocol_names_are_canonical(self, tmp_path: Path) -> None:
        text = config_text().replace("SHA-256", "sha256").replace("priv_protocol: AES",
                                                                  "priv_protocol: aes-256-c")

        user = router_user(load(tmp_path, text))

        assert user.auth_protocol is AuthProtocol.SHA256
        assert user.priv_protocol is PrivProtocol.AES256C

    def test_level_below_protocols_is_kept(self, tmp_path: Path) -> None:
        text = config_text().replace("user: monitor\n", "user: monitor\n    level: auth\n")

        user = router_user(load(tmp_path, text))

        assert user.security_level is SecurityLevel.AUTH_NO_PRIV

    def test_user_alone_is_no_auth_no_priv(self, tmp_path: Path) -> None:
        profile = "plain: {user: plain-user}\n"

        config = load(tmp_path, config_text(profile=profile, target="credentials: plain\n"))

        assert router_user(config).security_level is SecurityLevel.NO_AUTH_NO_PRIV

    def test_passphrase_from_file(self, tmp_path: Path) -> None:
        (tmp_path / "priv.txt").write_text(PRIV_PASSPHRASE + "\n", encoding="utf-8")
        text = config_text().replace("{env: PRIV_PASSPHRASE}", "{file: priv.txt}")

        user = router_user(load(tmp_path, text))

        assert user.priv_key == Secret(PRIV_PASSPHRASE)

    def test_master_key_is_decoded(self, tmp_path: Path) -> None:
        profile = f"""\
            keyed:
              user: keyed
              auth_protocol: SHA
              auth_key: {{master: "0x{SHA_MASTER_KEY}"}}
            """

        config = load(tmp_path, config_text(profile=profile, target="credentials: keyed\n"))

        user = router_user(config)
        assert user.auth_key == Secret(bytes.fromhex(SHA_MASTER_KEY))
        assert user.auth_key_kind is KeyKind.MASTER
        assert user.security_level is SecurityLevel.AUTH_NO_PRIV

    def test_localized_priv_key_from_env(self, tmp_path: Path) -> None:
        profile = """\
            keyed:
              user: keyed
              auth_protocol: MD5
              auth_key: {localized: 00112233445566778899aabbccddeeff}
              priv_protocol: AES-256-C
              priv_key: {localized: {env: PRIV_KEY}}
            """
        priv_key = "ab" * 32
        path = write(tmp_path, config_text(profile=profile, target="credentials: keyed\n"))

        config = load_config(path, {**ENVIRON, "PRIV_KEY": priv_key})

        user = router_user(config)
        assert user.priv_key == Secret(bytes.fromhex(priv_key))
        assert user.priv_key_kind is KeyKind.LOCALIZED
        assert user.auth_key_kind is KeyKind.LOCALIZED

    def test_engine_ids_are_decoded(self, tmp_path: Path) -> None:
        text = config_text().replace(
            "user: monitor\n",
            "user: monitor\n    engine_id: '80:00:1f:88:04:74:65:73:74'\n"
            "    context_engine_id: 800000090300aabbccddee\n",
        )

        target = router(load(tmp_path, text))

        assert target.security_engine_id == bytes.fromhex("80001f880474657374")
        assert target.context_engine_id == bytes.fromhex("800000090300aabbccddee")

    def test_target_context_replaces_profile_context(self, tmp_path: Path) -> None:
        text = config_text(target="context: vlan-20\n").replace(
            "user: monitor\n", "user: monitor\n    context: vlan-10\n"
        )
        text += "  - {name: other, address: 127.0.0.2}\n"

        config = load(tmp_path, text)

        contexts = {target.name: target.target.context_name for target in config.targets}
        assert contexts == {"router": "vlan-20", "other": "vlan-10"}


class TestVersion:
    def test_user_profile_implies_version_3(self, tmp_path: Path) -> None:
        assert router(load(tmp_path, config_text())).version is SnmpVersion.V3

    @pytest.mark.parametrize("written", ["3", "'3'", "v3"])
    def test_version_3_is_accepted(self, tmp_path: Path, written: str) -> None:
        target = router(load(tmp_path, config_text(target=f"version: {written}\n")))

        assert target.version is SnmpVersion.V3

    def test_target_version_2c_with_user_profile_is_error(self, tmp_path: Path) -> None:
        message = load_errors(tmp_path, config_text(target="version: 2c\n"))

        expected = ("config.yaml:21: targets[0].version: target 'router' has version 2c, but "
                    "its credentials profile 'monitor' is an SNMPv3 user: remove `version` or "
                    "set it to 3, or choose a profile with `community`")
        assert expected in message

    def test_defaults_version_and_profile_must_agree(self, tmp_path: Path) -> None:
        message = load_errors(tmp_path, config_text(defaults="version: 1\n"))

        expected = ("targets[0]: target 'router' has version 1 (from `defaults`), but its "
                    "credentials profile 'monitor' is an SNMPv3 user")
        assert expected in message

    def test_own_user_profile_wins_over_defaults_version(self, tmp_path: Path) -> None:
        text = config_text(defaults="version: 2c\n", target="credentials: monitor\n").replace(
            "  credentials: monitor\n  version", "  credentials: lab\n  version"
        )
        text += "  - {name: legacy, address: 127.0.0.2}\n"

        config = load(tmp_path, text)

        versions = {target.name: target.target.version for target in config.targets}
        assert versions == {"router": SnmpVersion.V3, "legacy": SnmpVersion.V2C}

    def test_own_community_profile_wins_over_defaults_version_3(self, tmp_path: Path) -> None:
        config = load(tmp_path, config_text(defaults="version: 3\n",
                                            target="credentials: lab\n"))

        assert router(config).version is SnmpVersion.V2C

    def test_version_1_with_community_profile(self, tmp_path: Path) -> None:
        config = load(tmp_path, config_text(target="credentials: lab\nversion: 1\n"))

        assert router(config).version is SnmpVersion.V1

    def test_version_3_with_community_profile_is_error(self, tmp_path: Path) -> None:
        message = load_errors(tmp_path, config_text(target="credentials: lab\nversion: 3\n"))

        expected = ("targets[0].version: target 'router' has version 3, but its credentials "
                    "profile 'lab' has a community: SNMPv3 needs a profile with `user`, or set "
                    "`version` to 1 or 2c")
        assert expected in message

    def test_context_on_community_target_is_error(self, tmp_path: Path) -> None:
        message = load_errors(tmp_path, config_text(target="credentials: lab\ncontext: c1\n"))

        expected = ("targets[0].context: `context` is an SNMPv3 setting, but credentials "
                    "profile 'lab' has a community")
        assert expected in message


class TestProfileErrors:
    @pytest.mark.parametrize(
        ("profile", "expected"),
        [("bad: {user: u, auth_protocol: MD5, auth_passphrase: " + SHORT_PASSPHRASE + "}",
          "credentials.bad.auth_passphrase: the authentication passphrase has 7 octets; USM "
          "needs at least 8: use a longer one, here and on the agent"),
         ("bad: {user: u, level: authPriv, auth_protocol: MD5, auth_passphrase: "
          + AUTH_PASSPHRASE + "}",
          "credentials.bad.level: level authPriv needs `priv_protocol` and `priv_passphrase` "
          "or `priv_key`; set them, or lower `level` to authNoPriv"),
         ("bad: {user: u, level: authNoPriv}",
          "credentials.bad.level: level authNoPriv needs `auth_protocol` and "
          "`auth_passphrase` or `auth_key`"),
         ("bad: {user: u, priv_protocol: AES, priv_passphrase: " + PRIV_PASSPHRASE + "}",
          "credentials.bad.priv_protocol: privacy needs authentication (RFC 3414)"),
         ("bad: {user: u, auth_protocol: SHA}",
          "credentials.bad.auth_protocol: `auth_protocol` needs `auth_passphrase` or "
          "`auth_key`"),
         ("bad: {user: u, auth_passphrase: " + AUTH_PASSPHRASE + "}",
          "credentials.bad.auth_passphrase: `auth_protocol` is missing: set the agent's "
          "authentication protocol, one of MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512"),
         ("bad: {user: u, auth_protocol: SHA, auth_passphrase: " + AUTH_PASSPHRASE
          + ", auth_key: {master: '" + SHA_MASTER_KEY + "'}}",
          "credentials.bad.auth_key: give `auth_passphrase` or `auth_key`, not both"),
         ("bad: {user: u, auth_protocol: SHA, auth_key: {master: 'zz" + SHA_MASTER_KEY + "'}}",
          "credentials.bad.auth_key.master: invalid master authentication key: it has "
          "characters that are not hex digits"),
         ("bad: {user: u, auth_protocol: SHA-256, auth_key: {master: '" + SHA_MASTER_KEY
          + "'}}",
          "credentials.bad.auth_key.master: the master authentication key has 20 octets; "
          "with SHA-256 it needs 32"),
         ("bad: {user: u, auth_protocol: SHA-512, auth_passphrase: " + AUTH_PASSPHRASE
          + ", priv_protocol: AES, priv_key: {master: '" + SHA_MASTER_KEY + "'}}",
          "credentials.bad.priv_key.master: the master privacy key has 20 octets; with SHA-512 "
          "(the authentication hash) it needs 64"),
         ("bad: {user: u, auth_protocol: SHA, auth_passphrase: " + AUTH_PASSPHRASE
          + ", priv_protocol: AES-256, priv_key: {localized: '" + SHA_MASTER_KEY + "'}}",
          "credentials.bad.priv_key.localized: the localized privacy key has 20 octets; with "
          "AES-256 it needs at least 32"),
         ("bad: {community: c, auth_protocol: SHA}",
          "credentials.bad.auth_protocol: `auth_protocol` is a setting of an SNMPv3 user, but "
          "this profile has a `community`: remove it, or replace `community` with `user`"),
         ("bad: {community: c, user: u}",
          "credentials.bad.user: give `community` (SNMPv1, SNMPv2c) or `user` (SNMPv3), "
          "not both"),
         ("bad: {context: c}",
          "credentials.bad: a credentials profile needs `community` (SNMPv1, SNMPv2c) or "
          "`user` (SNMPv3)"),
         ("bad: {user: u, auth_protocol: SHA-257, auth_passphrase: " + AUTH_PASSPHRASE + "}",
          "credentials.bad.auth_protocol: unknown authentication protocol 'SHA-257'; allowed "
          "values: MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512"),
         ("bad: {user: " + "u" * 33 + "}",
          "credentials.bad.user: invalid user name '" + "u" * 33 + "': it has 33 octets in "
          "UTF-8; SNMPv3 allows at most 32"),
         ("bad: {user: u, engine_id: '8000'}",
          "credentials.bad.engine_id: invalid engine ID '8000': it has 2 octets; an engine ID "
          "has 5 to 32"),
         ("bad: {user: u, auth_protocol: SHA, auth_key: {}}",
          "credentials.bad.auth_key: give the key as {master: HEX} or as {localized: HEX}, "
          "exactly one of them"),
         ("bad: {user: u, auth_protocol: SHA, auth_passphrase: {env: MISSING_PASSPHRASE}}",
          "credentials.bad.auth_passphrase: environment variable MISSING_PASSPHRASE is not set"),
         ("bad: {user: u, auth_protocol: SHA, auth_key: {master: 0x1234}}",
          "credentials.bad.auth_key.master: YAML reads this unquoted value as a number, which "
          "changes its text; quote it"),
         ("bad: {user: u, auth_protocol: SHA, auth_passphrase: }",
          "credentials.bad.auth_passphrase: missing value; expected a string, {env: NAME} or "
          "{file: PATH}")],
    )  # fmt: skip
    def test_profile_error_names_key(self, tmp_path: Path, profile: str, expected: str) -> None:
        message = load_errors(tmp_path, config_text(profile=profile + "\n"))

        assert f"config.yaml:10: {expected}" in message

    def test_every_problem_of_profile_is_reported(self, tmp_path: Path) -> None:
        profile = (f"bad: {{user: u, level: authPriv, auth_protocol: SHA, "
                   f"auth_passphrase: {SHORT_PASSPHRASE}}}\n")

        message = load_errors(tmp_path, config_text(profile=profile))

        assert "credentials.bad.auth_passphrase: the authentication passphrase has 7" in message
        assert "credentials.bad.level: level authPriv needs `priv_protocol`" in message

    def test_check_config_reports_profile_errors(self, tmp_path: Path) -> None:
        profile = f"bad: {{user: u, auth_protocol: MD5, auth_passphrase: {SHORT_PASSPHRASE}}}\n"

        result = check_config_file(write(tmp_path, config_text(profile=profile)), ENVIRON)

        assert result.exit_code == 1
        assert "credentials.bad.auth_passphrase: the authentication passphrase" in result.stderr


class TestSecretsStayHidden:
    @pytest.mark.parametrize(
        "profile",
        ["bad: {user: u, auth_protocol: MD5, auth_passphrase: " + SHORT_PASSPHRASE + "}",
         "bad: {user: u, auth_protocol: SHA-256, auth_key: {master: '" + SHA_MASTER_KEY + "'}}",
         "bad: {user: u, auth_protocol: SHA, auth_key: {master: 'zz" + SHA_MASTER_KEY + "'}}",
         "bad: {user: u, auth_protocol: SHA, auth_key: {master: [" + SHA_MASTER_KEY + "]}}",
         "bad: {user: u, auth_passphrase: {value: " + AUTH_PASSPHRASE + ", env: X}}",
         "bad: {user: u, priv_protocol: AES, priv_passphrase: " + PRIV_PASSPHRASE + "}",
         "bad: {community: c, auth_passphrase: " + AUTH_PASSPHRASE + "}"],
    )  # fmt: skip
    def test_error_messages_never_show_secret(self, tmp_path: Path, profile: str) -> None:
        message = load_errors(tmp_path, config_text(profile=profile + "\n"))

        assert "credentials.bad" in message
        for secret in SECRETS:
            assert secret not in message

    def test_config_repr_never_shows_secret(self, tmp_path: Path) -> None:
        text = config_text(profile=KEYED_PROFILE) + "  - {address: 127.0.0.2, credentials: keyed}\n"

        shown = repr(load(tmp_path, text))

        assert "monitor" in shown
        for secret in SECRETS:
            assert secret not in shown
        assert bytes.fromhex(SHA_MASTER_KEY).hex() not in shown

    def test_summary_shows_user_and_level_only(self, tmp_path: Path) -> None:
        text = config_text(target="context: vlan-20\n")

        result = check_config_file(write(tmp_path, text), ENVIRON)

        assert result.exit_code == 0
        assert "SNMPv3 targets: 1\n" in result.stdout
        assert ("  router: user 'monitor', authPriv (SHA-256, AES), context 'vlan-20'\n"
                in result.stdout)
        for secret in SECRETS:
            assert secret not in result.stdout + result.stderr

    def test_summary_names_key_form(self, tmp_path: Path) -> None:
        text = config_text(profile=KEYED_PROFILE, target="credentials: keyed\n")

        result = check_config_file(write(tmp_path, text), ENVIRON)

        assert "  router: user 'k', authNoPriv (SHA with a master key)\n" in result.stdout
        assert SHA_MASTER_KEY not in result.stdout


class TestReload:
    async def test_changed_passphrase_makes_manager_forget_target(self, tmp_path: Path) -> None:
        first = load(tmp_path, config_text())
        changed = load_config(write(tmp_path, config_text()),
                              {**ENVIRON, "AUTH_PASSPHRASE": AUTH_PASSPHRASE + "-new"})
        clock = FakeClock(1000.0)
        manager = FakeManager(clock)
        # FakeManager.walk_all types its roots more narrowly than ManagerLike does.
        service = PollingService(first, manager, clock=clock,  # type: ignore[arg-type]
                                 timer=clock.now)
        await service.start()

        await service.reload(changed)
        await service.stop()

        assert manager.forgotten == [router(first)]

    async def test_same_passphrase_keeps_manager_state(self, tmp_path: Path) -> None:
        first = load(tmp_path, config_text())
        again = load(tmp_path, config_text())
        clock = FakeClock(1000.0)
        manager = FakeManager(clock)
        # FakeManager.walk_all types its roots more narrowly than ManagerLike does.
        service = PollingService(first, manager, clock=clock,  # type: ignore[arg-type]
                                 timer=clock.now)
        await service.start()

        await service.reload(again)
        await service.stop()

        assert manager.forgotten == []


def uncomment_snmpv3_example(text: str) -> str:
    """Uncomment the example's SNMPv3 profile and target, and nothing else."""
    lines = []
    is_in_block = False
    for line in text.splitlines(keepends=True):
        stripped = line.lstrip()
        if stripped.startswith(("# monitor:", "# - name: core-switch")):
            is_in_block = True
        elif not stripped.startswith("#"):
            is_in_block = False
        if is_in_block:
            line = line.replace("# ", "", 1)
        lines.append(line)
    return "".join(lines)


class TestExample:
    def test_uncommented_snmpv3_example_is_valid(self, tmp_path: Path) -> None:
        (tmp_path / "community.txt").write_text("legacy-community\n", encoding="utf-8")
        text = uncomment_snmpv3_example(EXAMPLE.read_text(encoding="utf-8"))
        environ = {"SNMPD_NG_COMMUNITY": "c", "SNMPD_NG_AUTH_PASSPHRASE": AUTH_PASSPHRASE,
                   "SNMPD_NG_PRIV_PASSPHRASE": PRIV_PASSPHRASE}

        config = load_config(write(tmp_path, text), environ)

        switch = next(target.target for target in config.targets if target.name == "core-switch")
        assert switch.version is SnmpVersion.V3
        assert switch.context_name == "vlan-10"
        assert switch.usm is not None
        assert switch.usm.security_level is SecurityLevel.AUTH_PRIV
