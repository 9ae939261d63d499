"""KeyCache: localised keys derived once per user and engine ID, and known key vectors.

Password to key hashes 1 MiB per passphrase, so the cache must run it once per passphrase
whatever the number of engines. The vectors of field cases SC-19 (AES-192/256 key extension) and
SC-20 (SHA-2 authentication) use the passphrase "maplesyrup" and engine ID 00...02 of RFC 3414
A.3. A net-snmp agent given that engine ID stores the same keys, as the agent tests below check.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from agents import skip_unless_installed, start_snmpd

from snmpd_ng.secret import Secret
from snmpd_ng.security.credentials import KeyKind, SecurityLevel, UsmUser
from snmpd_ng.security.keycache import KeyCache
from snmpd_ng.security.keys import (
    PRIV_KEY_LENGTHS,
    AuthProtocol,
    PrivProtocol,
    localize_key,
    localized_auth_key,
    localized_priv_key,
    password_to_key,
)

# Test passphrases only.
AUTH_PASSPHRASE = b"auth-passphrase-1"
PRIV_PASSPHRASE = b"priv-passphrase-2"
ENGINE_IDS = [bytes.fromhex("80001f8804") + f"engine-{number}".encode() for number in range(12)]
ENGINE_ID = ENGINE_IDS[0]

RFC_PASSPHRASE = b"maplesyrup"
RFC_ENGINE_ID = bytes.fromhex("000000000000000000000002")

# Localised authentication keys of the SHA-2 protocols (RFC 7860), field case SC-20.
SHA2_AUTH_KEYS = {
    AuthProtocol.SHA224: "0bd8827c6e29f8065e08e09237f177e410f69b90e1782be682075674",
    AuthProtocol.SHA256: "8982e0e549e866db361a6b625d84cccc11162d453ee8ce3a6445c2d6776f0f8b",
    AuthProtocol.SHA384: "3b298f16164a11184279d5432bf169e2d2a48307de02b3d3f7e2b4f36eb6f0455a5368"
                         "9a3937eea07319a633d2ccba78",
    AuthProtocol.SHA512: "22a5a36cedfcc085807a128d7bc6c2382167ad6c0dbc5fdff856740f3d84c099ad1ea8"
                         "7a8db096714d9788bd544047c9021e4229ce27e4c0a69250adfcffbb0b",
}
# AES-256 privacy keys by the Blumenthal (AES-256) and Reeder (AES-256-C) key extensions, field
# case SC-19.
# AES-192 keys are their first 24 octets.
AES256_KEYS = {
    (AuthProtocol.MD5, PrivProtocol.AES256):
        "526f5eed9fcce26f8964c2930787d82bfa24a92467426c2f4b09192be10dfaec",
    (AuthProtocol.MD5, PrivProtocol.AES256C):
        "526f5eed9fcce26f8964c2930787d82b79eff44a90650ee0a3a40abfac5acc12",
    (AuthProtocol.SHA, PrivProtocol.AES256):
        "6695febc9288e36282235fc7151f128497b38f3f505e07eb9af25568fa1f5dbe",
    (AuthProtocol.SHA, PrivProtocol.AES256C):
        "6695febc9288e36282235fc7151f128497b38f3f9b8b6d78936ba6e7d19dfd9c",
}
AES192_OF = {PrivProtocol.AES256: PrivProtocol.AES192, PrivProtocol.AES256C: PrivProtocol.AES192C}


def passphrase_user(auth_protocol: AuthProtocol = AuthProtocol.SHA,
                    priv_protocol: PrivProtocol | None = PrivProtocol.AES,
                    name: str = "user1", auth: bytes = AUTH_PASSPHRASE,
                    priv: bytes = PRIV_PASSPHRASE,
                    level: SecurityLevel | None = None) -> UsmUser:
    return UsmUser(name, auth_protocol, Secret(auth), priv_protocol,
                   Secret(priv) if priv_protocol else None, level)


# ---------------------------------------------------------------------------------------------
# Derivations


def test_one_derivation_per_passphrase_for_many_engines() -> None:
    cache = KeyCache()
    user = passphrase_user()

    for engine_id in ENGINE_IDS:
        cache.keys(user, engine_id)

    assert cache.derivations == 2


def test_repeated_request_derives_nothing() -> None:
    cache = KeyCache()
    user = passphrase_user()
    first = cache.keys(user, ENGINE_ID)

    again = cache.keys(user, ENGINE_ID)

    assert again is first
    assert cache.derivations == 2


def test_same_passphrase_for_auth_and_priv_derives_once() -> None:
    cache = KeyCache()

    cache.keys(passphrase_user(auth=AUTH_PASSPHRASE, priv=AUTH_PASSPHRASE), ENGINE_ID)

    assert cache.derivations == 1


def test_users_sharing_passphrases_derive_once() -> None:
    cache = KeyCache()

    for name in ("first", "second", "third"):
        for engine_id in ENGINE_IDS[:3]:
            cache.keys(passphrase_user(name=name), engine_id)

    assert cache.derivations == 2


def test_other_auth_protocol_derives_again() -> None:
    # Password to key runs the authentication protocol's hash, so the master key differs.
    cache = KeyCache()

    cache.keys(passphrase_user(AuthProtocol.SHA), ENGINE_ID)
    cache.keys(passphrase_user(AuthProtocol.SHA256), ENGINE_ID)

    assert cache.derivations == 4


def test_equal_users_share_entry() -> None:
    cache = KeyCache()

    first = cache.keys(passphrase_user(), ENGINE_ID)
    second = cache.keys(passphrase_user(), ENGINE_ID)

    assert second is first


def test_changed_passphrase_gets_new_keys() -> None:
    cache = KeyCache()
    before = cache.keys(passphrase_user(), ENGINE_ID)

    after = cache.keys(passphrase_user(priv=b"changed-privacy-passphrase"), ENGINE_ID)

    assert before is not None and after is not None
    assert after.auth_key == before.auth_key
    assert after.priv_key != before.priv_key


def test_capacity_drops_oldest_localized_keys() -> None:
    cache = KeyCache(capacity=2)
    user = passphrase_user()
    oldest = cache.keys(user, ENGINE_IDS[0])
    cache.keys(user, ENGINE_IDS[1])
    cache.keys(user, ENGINE_IDS[2])

    again = cache.keys(user, ENGINE_IDS[0])

    assert again is not oldest
    assert again == oldest
    assert cache.derivations == 2


def test_capacity_drops_oldest_master_keys() -> None:
    cache = KeyCache(capacity=1)

    cache.keys(passphrase_user(priv_protocol=None), ENGINE_ID)
    cache.keys(passphrase_user(priv_protocol=None, auth=b"second-passphrase"), ENGINE_ID)
    cache.keys(passphrase_user(priv_protocol=None), ENGINE_IDS[1])

    assert cache.derivations == 3


# ---------------------------------------------------------------------------------------------
# What the keys are


@pytest.mark.parametrize("priv_protocol", list(PrivProtocol), ids=lambda p: p.value)
@pytest.mark.parametrize("auth_protocol", list(AuthProtocol), ids=lambda p: p.value)
def test_passphrase_keys_equal_derivation(auth_protocol: AuthProtocol,
                                          priv_protocol: PrivProtocol) -> None:
    keys = KeyCache().keys(passphrase_user(auth_protocol, priv_protocol), ENGINE_ID)

    assert keys is not None
    assert keys.auth_protocol is auth_protocol
    assert keys.priv_protocol is priv_protocol
    assert keys.auth_key == localized_auth_key(auth_protocol, AUTH_PASSPHRASE, ENGINE_ID)
    assert keys.priv_key == localized_priv_key(auth_protocol, priv_protocol, PRIV_PASSPHRASE,
                                               ENGINE_ID)


def test_keys_differ_per_engine() -> None:
    cache = KeyCache()
    user = passphrase_user()

    first = cache.keys(user, ENGINE_IDS[0])
    second = cache.keys(user, ENGINE_IDS[1])

    assert first is not None and second is not None
    assert first.auth_key != second.auth_key
    assert first.priv_key != second.priv_key


def test_no_auth_no_priv_has_no_keys() -> None:
    assert KeyCache().keys(UsmUser("user1"), ENGINE_ID) is None


def test_auth_no_priv_level_leaves_out_privacy() -> None:
    user = passphrase_user(level=SecurityLevel.AUTH_NO_PRIV)

    keys = KeyCache().keys(user, ENGINE_ID)

    assert keys is not None
    assert keys.priv_protocol is None
    assert keys.priv_key == b""


def test_auth_no_priv_level_derives_no_privacy_key() -> None:
    cache = KeyCache()

    cache.keys(passphrase_user(level=SecurityLevel.AUTH_NO_PRIV), ENGINE_ID)

    assert cache.derivations == 1


@pytest.mark.parametrize("priv_protocol", list(PrivProtocol), ids=lambda p: p.value)
@pytest.mark.parametrize("auth_protocol", [AuthProtocol.MD5, AuthProtocol.SHA,
                                           AuthProtocol.SHA224, AuthProtocol.SHA512],
                         ids=lambda p: p.value)
def test_master_keys_equal_passphrase_keys(auth_protocol: AuthProtocol,
                                           priv_protocol: PrivProtocol) -> None:
    # net-snmp's -3m and -3M: Ku given in place of the passphrase.
    cache = KeyCache()
    user = UsmUser("user1", auth_protocol, Secret(password_to_key(auth_protocol, AUTH_PASSPHRASE)),
                   priv_protocol, Secret(password_to_key(auth_protocol, PRIV_PASSPHRASE)),
                   auth_key_kind=KeyKind.MASTER, priv_key_kind=KeyKind.MASTER)

    keys = cache.keys(user, ENGINE_ID)

    assert keys == KeyCache().keys(passphrase_user(auth_protocol, priv_protocol), ENGINE_ID)
    assert cache.derivations == 0


@pytest.mark.parametrize("priv_protocol", list(PrivProtocol), ids=lambda p: p.value)
def test_localized_keys_are_used_as_given(priv_protocol: PrivProtocol) -> None:
    # net-snmp's -3k and -3K: Kul, already localised (and extended) for one engine.
    auth_key = localized_auth_key(AuthProtocol.SHA256, AUTH_PASSPHRASE, ENGINE_ID)
    priv_key = localized_priv_key(AuthProtocol.SHA256, priv_protocol, PRIV_PASSPHRASE, ENGINE_ID)
    user = UsmUser("user1", AuthProtocol.SHA256, Secret(auth_key), priv_protocol,
                   Secret(priv_key), auth_key_kind=KeyKind.LOCALIZED,
                   priv_key_kind=KeyKind.LOCALIZED)
    cache = KeyCache()

    keys = cache.keys(user, ENGINE_IDS[5])

    assert keys is not None
    assert keys.auth_key == auth_key
    assert keys.priv_key == priv_key
    assert cache.derivations == 0


def test_mixed_key_kinds() -> None:
    master = password_to_key(AuthProtocol.SHA, AUTH_PASSPHRASE)
    user = UsmUser("user1", AuthProtocol.SHA, Secret(master), PrivProtocol.AES256C,
                   Secret(PRIV_PASSPHRASE), auth_key_kind=KeyKind.MASTER)
    cache = KeyCache()

    keys = cache.keys(user, ENGINE_ID)

    assert keys == KeyCache().keys(passphrase_user(priv_protocol=PrivProtocol.AES256C), ENGINE_ID)
    assert cache.derivations == 1


@pytest.mark.parametrize("priv_protocol", list(PrivProtocol), ids=lambda p: p.value)
def test_priv_key_has_cipher_length(priv_protocol: PrivProtocol) -> None:
    keys = KeyCache().keys(passphrase_user(AuthProtocol.MD5, priv_protocol), ENGINE_ID)

    assert keys is not None
    assert len(keys.priv_key) == PRIV_KEY_LENGTHS[priv_protocol]


def test_repr_never_shows_keys_or_passphrases() -> None:
    cache = KeyCache()
    user = passphrase_user(AuthProtocol.SHA, PrivProtocol.AES256)
    keys = cache.keys(user, ENGINE_ID)
    assert keys is not None
    hidden = [AUTH_PASSPHRASE.decode(), PRIV_PASSPHRASE.decode(), keys.auth_key.hex(),
              keys.priv_key.hex(), password_to_key(AuthProtocol.SHA, AUTH_PASSPHRASE).hex()]

    texts = [repr(cache), str(cache), repr(keys), str(keys), repr(user), str(user)]

    for text in texts:
        assert not any(secret in text for secret in hidden), text


# ---------------------------------------------------------------------------------------------
# Key vectors


def rfc_user(auth_protocol: AuthProtocol, priv_protocol: PrivProtocol | None) -> UsmUser:
    return UsmUser("user1", auth_protocol, Secret(RFC_PASSPHRASE), priv_protocol,
                   Secret(RFC_PASSPHRASE) if priv_protocol else None)


@pytest.mark.parametrize("auth_protocol", list(SHA2_AUTH_KEYS), ids=lambda p: p.value)
def test_sha2_auth_key_vector(auth_protocol: AuthProtocol) -> None:
    keys = KeyCache().keys(rfc_user(auth_protocol, None), RFC_ENGINE_ID)

    assert keys is not None
    assert keys.auth_key.hex() == SHA2_AUTH_KEYS[auth_protocol]


@pytest.mark.parametrize(("auth_protocol", "priv_protocol"), list(AES256_KEYS),
                         ids=lambda p: p.value)
def test_aes256_key_vector(auth_protocol: AuthProtocol, priv_protocol: PrivProtocol) -> None:
    keys = KeyCache().keys(rfc_user(auth_protocol, priv_protocol), RFC_ENGINE_ID)

    assert keys is not None
    assert keys.priv_key.hex() == AES256_KEYS[auth_protocol, priv_protocol]


@pytest.mark.parametrize(("auth_protocol", "priv_protocol"), list(AES256_KEYS),
                         ids=lambda p: p.value)
def test_aes192_key_vector_is_prefix(auth_protocol: AuthProtocol,
                                   priv_protocol: PrivProtocol) -> None:
    keys = KeyCache().keys(rfc_user(auth_protocol, AES192_OF[priv_protocol]), RFC_ENGINE_ID)

    assert keys is not None
    assert keys.priv_key.hex() == AES256_KEYS[auth_protocol, priv_protocol][:48]


def test_aes_extensions_agree_on_first_hash() -> None:
    md5 = bytes.fromhex(AES256_KEYS[AuthProtocol.MD5, PrivProtocol.AES256])
    sha = bytes.fromhex(AES256_KEYS[AuthProtocol.SHA, PrivProtocol.AES256])

    assert md5[:16] == localize_key(AuthProtocol.MD5, password_to_key(
        AuthProtocol.MD5, RFC_PASSPHRASE), RFC_ENGINE_ID)
    assert sha[:20] == localize_key(AuthProtocol.SHA, password_to_key(
        AuthProtocol.SHA, RFC_PASSPHRASE), RFC_ENGINE_ID)


def test_aes256_key_with_sha224_is_extended() -> None:
    # SHA-224 gives 28 octets, fewer than AES-256's 32, so the key is extended too.
    keys = KeyCache().keys(rfc_user(AuthProtocol.SHA224, PrivProtocol.AES256), RFC_ENGINE_ID)

    assert keys is not None
    assert keys.priv_key[:28].hex() == SHA2_AUTH_KEYS[AuthProtocol.SHA224]
    assert len(keys.priv_key) == 32


# net-snmp's names of the protocols in usmUser lines (RFC 3414, RFC 7860, and the AES drafts).
NETSNMP_AUTH_OIDS = {
    AuthProtocol.MD5: ".1.3.6.1.6.3.10.1.1.2",
    AuthProtocol.SHA: ".1.3.6.1.6.3.10.1.1.3",
    AuthProtocol.SHA224: ".1.3.6.1.6.3.10.1.1.4",
    AuthProtocol.SHA256: ".1.3.6.1.6.3.10.1.1.5",
    AuthProtocol.SHA384: ".1.3.6.1.6.3.10.1.1.6",
    AuthProtocol.SHA512: ".1.3.6.1.6.3.10.1.1.7",
}
NETSNMP_PRIV_OIDS = {
    PrivProtocol.AES: ".1.3.6.1.6.3.10.1.2.4",
    PrivProtocol.AES192: ".1.3.6.1.4.1.14832.1.3",
    PrivProtocol.AES256: ".1.3.6.1.4.1.14832.1.4",
    PrivProtocol.AES192C: ".1.3.6.1.4.1.9.12.6.1.1",
    PrivProtocol.AES256C: ".1.3.6.1.4.1.9.12.6.1.2",
}
# (user name, auth protocol, priv protocol) of the agent below: every key vector above.
NETSNMP_USERS = [
    *((f"sha2{auth.name.lower()}", auth, PrivProtocol.AES) for auth in SHA2_AUTH_KEYS),
    *((f"aes{auth.name.lower()}{priv.name.lower()}", auth, priv)
      for auth, priv in AES256_KEYS),
    *((f"aes{auth.name.lower()}{AES192_OF[priv].name.lower()}", auth, AES192_OF[priv])
      for auth, priv in AES256_KEYS),
]


@pytest.fixture(scope="module")
def netsnmp_vector_keys(tmp_path_factory: pytest.TempPathFactory,
                            ) -> Iterator[dict[str, tuple[str, str, str, str]]]:
    """Start snmpd with engine ID 00...02 and the SC users, stop it, and read its usmUser lines.

    Returns (auth protocol OID, auth key hex, priv protocol OID, priv key hex) by user name.
    """
    skip_unless_installed("snmpd", "snmpget")
    lines = ["exactEngineID 0x" + RFC_ENGINE_ID.hex()]
    lines += [f"createUser {name} {auth.value} {RFC_PASSPHRASE.decode()} {priv.value} "
              f"{RFC_PASSPHRASE.decode()}" for name, auth, priv in NETSNMP_USERS]
    agent = start_snmpd(tmp_path_factory.mktemp("snmpd-key-vectors"), extra_config=lines)
    agent.stop()

    state = Path(agent.state_dir, "snmpd.conf").read_text(encoding="utf-8")
    stored = {}
    for line in state.splitlines():
        # usmUser 1 3 ENGINE "NAME" "SECNAME" NULL AUTHOID AUTHKEY PRIVOID PRIVKEY ""
        fields = line.split()
        if fields[:1] == ["usmUser"]:
            assert fields[3] == "0x" + RFC_ENGINE_ID.hex()
            stored[fields[4].strip('"')] = (fields[7], fields[8].removeprefix("0x"), fields[9],
                                            fields[10].removeprefix("0x"))
    yield stored


@pytest.mark.agent
@pytest.mark.parametrize(("name", "auth_protocol", "priv_protocol"), NETSNMP_USERS,
                         ids=[name for name, _, _ in NETSNMP_USERS])
def test_vector_keys_match_netsnmp(netsnmp_vector_keys: dict[str, tuple[str, str, str, str]],
                               name: str, auth_protocol: AuthProtocol,
                               priv_protocol: PrivProtocol) -> None:
    auth_oid, auth_key, priv_oid, priv_key = netsnmp_vector_keys[name]
    keys = KeyCache().keys(rfc_user(auth_protocol, priv_protocol), RFC_ENGINE_ID)
    assert keys is not None

    assert auth_oid == NETSNMP_AUTH_OIDS[auth_protocol]
    assert priv_oid == NETSNMP_PRIV_OIDS[priv_protocol]
    assert auth_key == keys.auth_key.hex()
    assert priv_key == keys.priv_key.hex()


@pytest.mark.agent
def test_vector_hex_matches_netsnmp(
        netsnmp_vector_keys: dict[str, tuple[str, str, str, str]]) -> None:
    # The case file's hex itself, not only our derivation, against what net-snmp stored.
    for auth_protocol, expected in SHA2_AUTH_KEYS.items():
        assert netsnmp_vector_keys[f"sha2{auth_protocol.name.lower()}"][1] == expected
    for (auth_protocol, priv_protocol), expected in AES256_KEYS.items():
        name = f"aes{auth_protocol.name.lower()}{priv_protocol.name.lower()}"
        assert netsnmp_vector_keys[name][3] == expected
