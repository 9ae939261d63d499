"""Tests for USM key derivation: RFC 3414 appendix A.3 vectors and keys that snmpd stored."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from agents import skip_unless_installed, start_snmpd

from snmpd_ng.secret import Secret
from snmpd_ng.security.keys import (
    AuthProtocol,
    KeyDerivationError,
    PrivProtocol,
    localize_key,
    localized_auth_key,
    localized_priv_key,
    password_to_key,
)

RFC_PASSWORD = b"maplesyrup"
RFC_ENGINE_ID = bytes.fromhex("000000000000000000000002")

# Passphrases of the net-snmp users below; test values only.
AUTH_PASSWORD = "authpass1234"
PRIV_PASSWORD = "privpass5678"
# snmpd turns `engineID usmkeys` into 80 00 1F 88 04 followed by the text.
NETSNMP_ENGINE_ID = bytes.fromhex("80001f8804") + b"usmkeys"

# usmUserAuthProtocol values in net-snmp's usmUser lines (RFC 3414, RFC 7860).
AUTH_PROTOCOL_OIDS = {
    ".1.3.6.1.6.3.10.1.1.2": AuthProtocol.MD5,
    ".1.3.6.1.6.3.10.1.1.3": AuthProtocol.SHA,
    ".1.3.6.1.6.3.10.1.1.4": AuthProtocol.SHA224,
    ".1.3.6.1.6.3.10.1.1.5": AuthProtocol.SHA256,
    ".1.3.6.1.6.3.10.1.1.6": AuthProtocol.SHA384,
    ".1.3.6.1.6.3.10.1.1.7": AuthProtocol.SHA512,
}


class StoredUser(NamedTuple):
    """One usmUser line of snmpd's persistent state: the keys net-snmp localised."""

    engine_id: bytes
    auth_protocol: AuthProtocol
    auth_key: bytes
    priv_key: bytes


def user_name(auth: AuthProtocol, priv: PrivProtocol) -> str:
    return f"u{auth.name}{priv.name}"


def parse_usm_user(line: str) -> tuple[str, StoredUser]:
    """Parse `usmUser 1 3 ENGINE NAME SECNAME NULL AUTHOID AUTHKEY PRIVOID PRIVKEY ""`."""
    fields = line.split()
    name = fields[4]
    # snmpd writes a name with characters outside [A-Za-z0-9] in hex.
    name = bytes.fromhex(name[2:]).decode() if name.startswith("0x") else name.strip('"')
    user = StoredUser(
        engine_id=bytes.fromhex(fields[3].removeprefix("0x")),
        auth_protocol=AUTH_PROTOCOL_OIDS[fields[7]],
        auth_key=bytes.fromhex(fields[8].removeprefix("0x")),
        priv_key=bytes.fromhex(fields[10].removeprefix("0x")),
    )
    return name, user


@pytest.fixture(scope="session")
def netsnmp_users(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, StoredUser]]:
    """Start snmpd with one user per protocol pair, stop it, and read the keys it stored."""
    skip_unless_installed("snmpd", "snmpget")
    lines = ["engineID usmkeys"]
    for auth in AuthProtocol:
        for priv in PrivProtocol:
            name = user_name(auth, priv)
            lines.append(
                f"createUser {name} {auth.value} {AUTH_PASSWORD} {priv.value} {PRIV_PASSWORD}"
            )
    agent = start_snmpd(tmp_path_factory.mktemp("snmpd-usm"), extra_config=lines)
    agent.stop()

    state = Path(agent.state_dir, "snmpd.conf").read_text(encoding="utf-8")
    users = dict(parse_usm_user(line) for line in state.splitlines() if line.startswith("usmUser "))
    yield users


def test_password_to_key_rfc3414_md5() -> None:
    # RFC 3414 A.3.1
    expected = bytes.fromhex("9f af 32 83 88 4e 92 83 4e bc 98 47 d8 ed d9 63")
    assert password_to_key(AuthProtocol.MD5, RFC_PASSWORD) == expected


def test_localize_key_rfc3414_md5() -> None:
    # RFC 3414 A.3.1
    ku = bytes.fromhex("9f af 32 83 88 4e 92 83 4e bc 98 47 d8 ed d9 63")
    expected = bytes.fromhex("52 6f 5e ed 9f cc e2 6f 89 64 c2 93 07 87 d8 2b")
    assert localize_key(AuthProtocol.MD5, ku, RFC_ENGINE_ID) == expected


def test_password_to_key_rfc3414_sha() -> None:
    # RFC 3414 A.3.2
    expected = bytes.fromhex("9f b5 cc 03 81 49 7b 37 93 52 89 39 ff 78 8d 5d 79 14 52 11")
    assert password_to_key(AuthProtocol.SHA, RFC_PASSWORD) == expected


def test_localize_key_rfc3414_sha() -> None:
    # RFC 3414 A.3.2
    ku = bytes.fromhex("9f b5 cc 03 81 49 7b 37 93 52 89 39 ff 78 8d 5d 79 14 52 11")
    expected = bytes.fromhex("66 95 fe bc 92 88 e3 62 82 23 5f c7 15 1f 12 84 97 b3 8f 3f")
    assert localize_key(AuthProtocol.SHA, ku, RFC_ENGINE_ID) == expected


def test_password_to_key_accepts_secret() -> None:
    plain = password_to_key(AuthProtocol.SHA256, RFC_PASSWORD)
    assert password_to_key(AuthProtocol.SHA256, Secret(RFC_PASSWORD)) == plain


def test_password_to_key_empty_password_rejected() -> None:
    with pytest.raises(KeyDerivationError, match="empty"):
        password_to_key(AuthProtocol.MD5, b"")


def test_localize_key_empty_engine_id_rejected() -> None:
    with pytest.raises(KeyDerivationError, match="engine ID"):
        localize_key(AuthProtocol.MD5, bytes(16), b"")


def test_password_to_key_is_fast() -> None:
    # One derivation per user and engine; SHA-512 over 1 MiB takes a few milliseconds here, so
    # 0.5 s only catches a return to hashing in small Python-level chunks.
    started = time.perf_counter()
    password_to_key(AuthProtocol.SHA512, RFC_PASSWORD)
    assert time.perf_counter() - started < 0.5


def test_netsnmp_stored_every_user(netsnmp_users: dict[str, StoredUser]) -> None:
    assert len(netsnmp_users) == len(AuthProtocol) * len(PrivProtocol)


@pytest.mark.parametrize("auth", list(AuthProtocol), ids=lambda p: p.value)
def test_localized_auth_key_matches_netsnmp(
    netsnmp_users: dict[str, StoredUser], auth: AuthProtocol
) -> None:
    stored = netsnmp_users[user_name(auth, PrivProtocol.AES)]
    assert stored.engine_id == NETSNMP_ENGINE_ID
    assert stored.auth_protocol is auth
    assert localized_auth_key(auth, AUTH_PASSWORD.encode(), stored.engine_id) == stored.auth_key


@pytest.mark.parametrize("priv", list(PrivProtocol), ids=lambda p: p.value)
@pytest.mark.parametrize("auth", list(AuthProtocol), ids=lambda p: p.value)
def test_localized_priv_key_matches_netsnmp(
    netsnmp_users: dict[str, StoredUser], auth: AuthProtocol, priv: PrivProtocol
) -> None:
    stored = netsnmp_users[user_name(auth, priv)]
    derived = localized_priv_key(auth, priv, PRIV_PASSWORD.encode(), stored.engine_id)
    assert derived == stored.priv_key


def test_aes256_extensions_differ() -> None:
    # MD5 gives 16 octets, so both drafts must extend, and they extend differently.
    blumenthal = localized_priv_key(
        AuthProtocol.MD5, PrivProtocol.AES256, RFC_PASSWORD, RFC_ENGINE_ID
    )
    reeder = localized_priv_key(AuthProtocol.MD5, PrivProtocol.AES256C, RFC_PASSWORD, RFC_ENGINE_ID)
    assert blumenthal[:16] == reeder[:16]
    assert blumenthal[16:] != reeder[16:]
