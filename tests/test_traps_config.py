"""The `alerting: traps:` section: defaults, building, and the messages of each problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from snmpd_ng.alerting.traps.config import (
    DEFAULT_QUEUE_SIZE,
    TrapSettings,
    build_trap_settings,
    check_traps,
    parse_listen_address,
)
from snmpd_ng.alerting.traps.names import NOTIFICATIONS
from snmpd_ng.alerting.traps.rules import DEFAULT_RESOLVE_AFTER
from snmpd_ng.config.errors import ConfigError, format_key_path
from snmpd_ng.security.credentials import KeyKind, SecurityLevel
from snmpd_ng.security.keys import AuthProtocol, PrivProtocol

# Test secrets only.
COMMUNITY = "trap-community-1"
AUTH_PASSPHRASE = "trap-auth-pass-1"
PRIV_PASSPHRASE = "trap-priv-pass-2"
SHORT_PASSPHRASE = "short"
ENGINE_ID_HEX = "80000000050102030405060708090a0b0c"


def full_section() -> dict[str, Any]:
    return {
        "listen": ["127.0.0.1:1162", "[::1]:1162"],
        "communities": {"ops": COMMUNITY},
        "users": [{"user": "traps", "auth_protocol": "SHA-256",
                   "auth_passphrase": AUTH_PASSPHRASE, "priv_protocol": "AES",
                   "priv_passphrase": PRIV_PASSPHRASE}],
        "engine_id": ENGINE_ID_HEX,
        "rate_limit": {"rate": 10, "burst": 20},
        "queue_size": 50,
        "rules": [
            {"name": "LinkDown", "trap": "linkDown", "key": ["ifIndex"],
             "severity": "critical", "resolved_by": "linkUp", "dedup_window": "2m",
             "varbinds": {"ifAdminStatus": "1", "ifDescr": {"regex": "Gi.*"}},
             "sources": ["192.0.2.0/24"], "labels": {"team": "network"},
             "annotations": {"summary": "{{ labels.ifIndex }} down"}},
            {"name": "ColdStart", "trap": "coldStart"},
        ],
    }


def issues_of(section: object, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Return the problems by key path; fails when the section builds."""
    with pytest.raises(ConfigError) as caught:
        build_trap_settings(section, environ=environ or {})
    return {format_key_path(issue.path): issue.message for issue in caught.value.issues}


def build(section: object) -> TrapSettings:
    return build_trap_settings(section, environ={})


# ---------------------------------------------------------------------------------------------
# Building


def test_missing_section_gives_defaults() -> None:
    settings = build(None)
    assert settings.listen == (("0.0.0.0", 162),)
    assert settings.communities == ()
    assert settings.users == ()
    assert settings.queue_size == DEFAULT_QUEUE_SIZE


def test_full_section_builds_sockets_and_limits() -> None:
    settings = build(full_section())
    assert settings.listen == (("127.0.0.1", 1162), ("::1", 1162))
    assert (settings.rate, settings.burst, settings.queue_size) == (10.0, 20, 50)
    assert settings.engine_id == bytes.fromhex(ENGINE_ID_HEX)


def test_community_keeps_name_and_secret() -> None:
    community = build(full_section()).communities[0]
    assert community.name == "ops"
    assert community.secret.reveal() == COMMUNITY.encode()


def test_community_from_environment() -> None:
    section = {"communities": {"ops": {"env": "TRAP_COMMUNITY"}}}
    settings = build_trap_settings(section, environ={"TRAP_COMMUNITY": COMMUNITY})
    assert settings.communities[0].secret.reveal() == COMMUNITY.encode()


def test_user_built_like_credentials_profile() -> None:
    user = build(full_section()).users[0]
    assert user.user.name == "traps"
    assert user.user.auth_protocol is AuthProtocol.SHA256
    assert user.user.priv_protocol is PrivProtocol.AES
    assert user.user.security_level is SecurityLevel.AUTH_PRIV
    assert user.engine_id is None


def test_user_with_localized_key_and_engine_id() -> None:
    key = "aa" * 20
    section = {"users": [{"user": "keyed", "auth_protocol": "SHA",
                          "auth_key": {"localized": key}, "engine_id": "8000000001020304"}]}
    user = build(section).users[0]
    assert user.user.auth_key_kind is KeyKind.LOCALIZED
    assert user.engine_id == bytes.fromhex("8000000001020304")


def test_rule_names_resolved() -> None:
    rule = build(full_section()).rules[0]
    assert rule.trap_oid == NOTIFICATIONS["linkDown"]
    assert rule.resolved_by == NOTIFICATIONS["linkUp"]
    assert rule.key[0].label == "ifIndex"
    assert rule.dedup_window == 120.0


def test_rule_varbind_conditions() -> None:
    conditions = {match.name: match for match in build(full_section()).rules[0].varbinds}
    assert conditions["ifAdminStatus"].equals == "1"
    assert conditions["ifDescr"].pattern is not None


def test_resolve_after_defaults_without_resolved_by() -> None:
    rules = build(full_section()).rules
    assert rules[0].resolve_after is None
    assert rules[1].resolve_after == DEFAULT_RESOLVE_AFTER


def test_resolve_after_null_keeps_alert() -> None:
    section = {"rules": [{"name": "ColdStart", "trap": "coldStart", "resolve_after": None}]}
    assert build(section).rules[0].resolve_after is None


def test_numeric_key_with_label() -> None:
    section = {"rules": [{"name": "Vendor", "trap": "1.3.6.1.4.1.9.0.1",
                          "key": [{"oid": "1.3.6.1.4.1.9.2.1", "label": "slot"}]}]}
    assert build(section).rules[0].key[0].label == "slot"


def test_check_traps_valid_section() -> None:
    assert check_traps(full_section(), environ={}) == []


@pytest.mark.parametrize(("text", "expected"), [
    ("0.0.0.0:162", ("0.0.0.0", 162)),
    ("[::]:162", ("::", 162)),
    ("127.0.0.1:0", ("127.0.0.1", 0)),
])
def test_parse_listen_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen_address(text) == expected


# ---------------------------------------------------------------------------------------------
# Problems


def test_section_not_mapping() -> None:
    assert "expected a mapping" in issues_of(["listen"])["alerting.traps"]


@pytest.mark.parametrize(("listen", "fragment"), [
    ("localhost:162", "not an IP address"),
    ("::1:162", "brackets"),
    ("127.0.0.1", "HOST:PORT"),
    ("127.0.0.1:70000", "HOST:PORT"),
])
def test_invalid_listen_address(listen: str, fragment: str) -> None:
    assert fragment in issues_of({"listen": [listen]})["alerting.traps.listen"]


def test_unknown_key_lists_allowed() -> None:
    message = issues_of({"listn": ["0.0.0.0:162"]})["alerting.traps.listn"]
    assert "allowed keys" in message
    assert "listen" in message


def test_unknown_rule_key_names_rule_keys() -> None:
    section = {"rules": [{"name": "A", "trap": "coldStart", "resolve_by": "linkUp"}]}
    message = issues_of(section)["alerting.traps.rules[0].resolve_by"]
    assert "resolved_by" in message


def test_unknown_trap_name_suggests() -> None:
    section = {"rules": [{"name": "A", "trap": "linkDwn"}]}
    message = issues_of(section)["alerting.traps.rules[0].trap"]
    assert "did you mean 'linkDown'" in message
    assert message.startswith("rule 'A'")


def test_unknown_key_object_reported() -> None:
    section = {"rules": [{"name": "A", "trap": "linkDown", "key": ["ifIndx"]}]}
    assert "ifIndex" in issues_of(section)["alerting.traps.rules[0].key[0]"]


def test_numeric_key_without_label_reported() -> None:
    section = {"rules": [{"name": "A", "trap": "linkDown", "key": ["1.3.6.1.4.1.9.2.1"]}]}
    assert "label" in issues_of(section)["alerting.traps.rules[0].key[0]"]


def test_invalid_source_network() -> None:
    section = {"rules": [{"name": "A", "trap": "linkDown", "sources": ["192.0.2.0/33"]}]}
    assert "invalid source" in issues_of(section)["alerting.traps.rules[0].sources[0]"]


def test_invalid_regex() -> None:
    section = {"rules": [{"name": "A", "trap": "linkDown",
                          "varbinds": {"ifDescr": {"regex": "Gi(0"}}}]}
    issues = issues_of(section)
    assert any("invalid regular expression" in message for message in issues.values())


def test_invalid_template() -> None:
    section = {"rules": [{"name": "A", "trap": "linkDown",
                          "annotations": {"summary": "{{ labels.ifIndex "}}]}
    assert "invalid template" in issues_of(section)["alerting.traps.rules[0].annotations.summary"]


def test_severity_as_label_rejected() -> None:
    section = {"rules": [{"name": "A", "trap": "linkDown", "labels": {"severity": "critical"}}]}
    assert "severity" in issues_of(section)["alerting.traps.rules[0].labels"]


def test_duplicate_rule_name() -> None:
    section = {"rules": [{"name": "A", "trap": "linkDown"}, {"name": "A", "trap": "linkUp"}]}
    assert "already used" in issues_of(section)["alerting.traps.rules[1].name"]


def test_invalid_rule_name() -> None:
    section = {"rules": [{"name": "link down", "trap": "linkDown"}]}
    assert "invalid rule name" in issues_of(section)["alerting.traps.rules[0].name"]


def test_every_problem_reported_at_once() -> None:
    section = {"listen": ["nowhere"], "rules": [{"name": "A", "trap": "nothing"}],
               "users": [{"user": "traps", "auth_protocol": "SHA",
                          "auth_passphrase": SHORT_PASSPHRASE}]}
    assert set(issues_of(section)) == {"alerting.traps.listen", "alerting.traps.rules[0].trap",
                                       "alerting.traps.users[0].auth_passphrase"}


def test_rules_not_a_list() -> None:
    assert "expected a list" in issues_of({"rules": {"name": "A"}})["alerting.traps.rules"]


def test_all_rules_checked() -> None:
    section = {"rules": [{"name": "A", "trap": "nothing"}, {"name": "B", "trap": "nada"}]}
    assert set(issues_of(section)) == {"alerting.traps.rules[0].trap",
                                       "alerting.traps.rules[1].trap"}


def test_short_passphrase_reported_at_its_key() -> None:
    section = {"users": [{"user": "traps", "auth_protocol": "SHA",
                          "auth_passphrase": SHORT_PASSPHRASE}]}
    message = issues_of(section)["alerting.traps.users[0].auth_passphrase"]
    assert "at least 8" in message
    assert SHORT_PASSPHRASE not in message


def test_user_without_name_reported() -> None:
    section = {"users": [{"auth_protocol": "SHA", "auth_passphrase": AUTH_PASSPHRASE}]}
    assert "`user`" in issues_of(section)["alerting.traps.users[0]"]


def test_user_with_community_reported() -> None:
    section = {"users": [{"user": "traps", "community": COMMUNITY}]}
    message = issues_of(section)["alerting.traps.users[0].community"]
    assert "not a setting of a trap user" in message
    assert COMMUNITY not in message


def test_localized_key_without_engine_id_reported() -> None:
    section = {"users": [{"user": "keyed", "auth_protocol": "SHA",
                          "auth_key": {"localized": "aa" * 20}}]}
    assert "engine ID" in issues_of(section)["alerting.traps.users[0].engine_id"]


def test_duplicate_user_reported() -> None:
    user = {"user": "traps", "auth_protocol": "SHA", "auth_passphrase": AUTH_PASSPHRASE}
    assert "already defined" in issues_of({"users": [user, user]})["alerting.traps.users[1].user"]


def test_missing_community_variable_names_variable() -> None:
    section = {"communities": {"ops": {"env": "NO_SUCH_VARIABLE"}}}
    message = issues_of(section)["alerting.traps.communities.ops"]
    assert "NO_SUCH_VARIABLE" in message


def test_community_file_relative_to_base_dir(tmp_path: Path) -> None:
    (tmp_path / "community.txt").write_text(COMMUNITY + "\n", encoding="utf-8")
    section = {"communities": {"ops": {"file": "community.txt"}}}
    settings = build_trap_settings(section, base_dir=tmp_path, environ={})
    assert settings.communities[0].secret.reveal() == COMMUNITY.encode()


def test_invalid_community_name() -> None:
    section = {"communities": {"my ops": COMMUNITY}}
    assert "invalid community name" in issues_of(section)["alerting.traps.communities"]


def test_invalid_engine_id() -> None:
    assert "5 to 32" in issues_of({"engine_id": "8000"})["alerting.traps.engine_id"]


def test_messages_never_show_secrets() -> None:
    section = {
        "listen": "bad",
        "communities": {"ops": COMMUNITY, "bad name": COMMUNITY},
        "users": [{"user": "traps", "auth_protocol": "SHA", "auth_passphrase": SHORT_PASSPHRASE,
                   "priv_protocol": "AES", "priv_passphrase": SHORT_PASSPHRASE},
                  {"user": "other", "community": COMMUNITY}],
    }
    issues = issues_of(section)
    assert len(issues) == 5
    text = "\n".join(issues.values())
    assert COMMUNITY not in text
    assert SHORT_PASSPHRASE not in text
