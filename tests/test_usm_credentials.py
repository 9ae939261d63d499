"""UsmUser: the security level it derives, and the messages of settings that cannot work.

Every rejected case also checks that the message shows no key or passphrase.
"""

from __future__ import annotations

from typing import Any

import pytest

from snmpd_ng.secret import Secret
from snmpd_ng.security.credentials import (
    AUTH_KEY_LENGTHS,
    MIN_PASSPHRASE_OCTETS,
    CredentialError,
    KeyKind,
    SecurityLevel,
    UsmUser,
)
from snmpd_ng.security.keys import PRIV_KEY_LENGTHS, AuthProtocol, PrivProtocol

# Test passphrases only. Each is distinctive, so a leak into a message is easy to spot.
AUTH_PASSPHRASE = "auth-passphrase-XYZ"
PRIV_PASSPHRASE = "priv-passphrase-QRS"
SHORT_PASSPHRASE = "sh0rtPW"
KEY_OCTET = b"\x5a"


def key(length: int) -> Secret:
    return Secret(KEY_OCTET * length)


def secret_texts(settings: dict[str, Any]) -> list[str]:
    """Return each way a secret of `settings` could show up in a message."""
    texts = []
    for name in ("auth_key", "priv_key"):
        secret = settings.get(name)
        if isinstance(secret, Secret) and secret:
            value = secret.reveal()
            texts += [value.hex(), repr(value)[2:-1]]
            if value.isascii() and value.decode().isprintable():
                texts.append(value.decode())
    return texts


# ---------------------------------------------------------------------------------------------
# Level


def test_level_without_protocols_is_no_auth_no_priv() -> None:
    user = UsmUser("monitor")

    assert user.security_level is SecurityLevel.NO_AUTH_NO_PRIV
    assert not user.authenticates
    assert not user.encrypts


def test_level_with_auth_is_auth_no_priv() -> None:
    user = UsmUser("monitor", AuthProtocol.SHA256, Secret(AUTH_PASSPHRASE))

    assert user.security_level is SecurityLevel.AUTH_NO_PRIV
    assert user.authenticates
    assert not user.encrypts


def test_level_with_auth_and_priv_is_auth_priv() -> None:
    user = UsmUser("monitor", AuthProtocol.SHA256, Secret(AUTH_PASSPHRASE), PrivProtocol.AES,
                   Secret(PRIV_PASSPHRASE))

    assert user.security_level is SecurityLevel.AUTH_PRIV
    assert user.authenticates
    assert user.encrypts


def test_level_below_protocols_is_kept() -> None:
    user = UsmUser("monitor", AuthProtocol.SHA, Secret(AUTH_PASSPHRASE), PrivProtocol.AES,
                   Secret(PRIV_PASSPHRASE), level=SecurityLevel.AUTH_NO_PRIV)

    assert user.security_level is SecurityLevel.AUTH_NO_PRIV
    assert user.authenticates
    assert not user.encrypts


def test_no_auth_level_with_keys_is_kept() -> None:
    user = UsmUser("monitor", AuthProtocol.SHA, Secret(AUTH_PASSPHRASE),
                   level=SecurityLevel.NO_AUTH_NO_PRIV)

    assert user.security_level is SecurityLevel.NO_AUTH_NO_PRIV
    assert not user.authenticates


def test_level_below_ignores_what_it_does_not_use() -> None:
    # An authNoPriv user with a privacy key that would be too short is valid: it never encrypts.
    user = UsmUser("monitor", AuthProtocol.SHA, Secret(AUTH_PASSPHRASE), PrivProtocol.AES,
                   Secret(SHORT_PASSPHRASE), level=SecurityLevel.AUTH_NO_PRIV)

    assert user.security_level is SecurityLevel.AUTH_NO_PRIV


def test_security_level_values_are_netsnmp_spellings() -> None:
    assert [level.value for level in SecurityLevel] == ["noAuthNoPriv", "authNoPriv", "authPriv"]


def test_user_is_frozen() -> None:
    user = UsmUser("monitor")

    with pytest.raises(AttributeError):
        user.name = "other"  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# Accepted edges


@pytest.mark.parametrize("name", ["u", "u" * 32, "é" * 16], ids=["1-octet", "32-octets",
                                                                 "16-two-octet-characters"])
def test_name_lengths_accepted(name: str) -> None:
    assert UsmUser(name).name == name


def test_passphrase_of_8_octets_accepted() -> None:
    user = UsmUser("monitor", AuthProtocol.MD5, Secret("x" * MIN_PASSPHRASE_OCTETS))

    assert user.authenticates


@pytest.mark.parametrize("protocol", list(AuthProtocol), ids=lambda p: p.value)
@pytest.mark.parametrize("kind", [KeyKind.MASTER, KeyKind.LOCALIZED], ids=lambda k: k.value)
def test_auth_key_of_digest_length_accepted(protocol: AuthProtocol, kind: KeyKind) -> None:
    user = UsmUser("monitor", protocol, key(AUTH_KEY_LENGTHS[protocol]), auth_key_kind=kind)

    assert user.security_level is SecurityLevel.AUTH_NO_PRIV


@pytest.mark.parametrize("priv_protocol", list(PrivProtocol), ids=lambda p: p.value)
def test_localized_priv_key_of_cipher_length_accepted(priv_protocol: PrivProtocol) -> None:
    user = UsmUser("monitor", AuthProtocol.MD5, Secret(AUTH_PASSPHRASE), priv_protocol,
                   key(PRIV_KEY_LENGTHS[priv_protocol]), priv_key_kind=KeyKind.LOCALIZED)

    assert user.encrypts


def test_localized_priv_key_longer_than_cipher_accepted() -> None:
    user = UsmUser("monitor", AuthProtocol.SHA, Secret(AUTH_PASSPHRASE), PrivProtocol.AES,
                   key(20), priv_key_kind=KeyKind.LOCALIZED)

    assert user.encrypts


@pytest.mark.parametrize("auth_protocol", list(AuthProtocol), ids=lambda p: p.value)
def test_master_priv_key_of_auth_digest_length_accepted(auth_protocol: AuthProtocol) -> None:
    # A master privacy key is the privacy passphrase run through the authentication hash.
    user = UsmUser("monitor", auth_protocol, Secret(AUTH_PASSPHRASE), PrivProtocol.AES256,
                   key(AUTH_KEY_LENGTHS[auth_protocol]), priv_key_kind=KeyKind.MASTER)

    assert user.encrypts


# ---------------------------------------------------------------------------------------------
# Rejected settings: the message names what is wrong and never shows a key


REJECTED: list[tuple[str, dict[str, Any], str]] = [
    ("empty-name", {"name": ""}, "USM user '': the user name has 0 octets; it needs 1 to 32"),
    ("name-33-octets", {"name": "n" * 33}, "the user name has 33 octets; it needs 1 to 32"),
    ("name-17-two-octet-characters", {"name": "é" * 17},
     "the user name has 34 octets; it needs 1 to 32"),
    ("auth-level-without-protocol", {"level": SecurityLevel.AUTH_NO_PRIV},
     "security level authNoPriv needs an authentication protocol"),
    ("auth-without-key", {"auth_protocol": AuthProtocol.SHA},
     "security level authNoPriv needs an authentication passphrase or key"),
    ("auth-with-empty-key", {"auth_protocol": AuthProtocol.SHA, "auth_key": Secret("")},
     "security level authNoPriv needs an authentication passphrase or key"),
    ("auth-passphrase-7-octets", {"auth_protocol": AuthProtocol.SHA,
                                  "auth_key": Secret(SHORT_PASSPHRASE)},
     "the authentication passphrase has 7 octets; USM needs at least 8"),
    ("auth-master-key-short", {"auth_protocol": AuthProtocol.SHA, "auth_key": key(16),
                               "auth_key_kind": KeyKind.MASTER},
     "the master authentication key has 16 octets; SHA keys have 20"),
    ("auth-localized-key-long", {"auth_protocol": AuthProtocol.MD5, "auth_key": key(20),
                                 "auth_key_kind": KeyKind.LOCALIZED},
     "the localized authentication key has 20 octets; MD5 keys have 16"),
    ("priv-level-without-protocol", {"auth_protocol": AuthProtocol.SHA,
                                     "auth_key": Secret(AUTH_PASSPHRASE),
                                     "level": SecurityLevel.AUTH_PRIV},
     "security level authPriv needs a privacy protocol"),
    ("priv-without-key", {"auth_protocol": AuthProtocol.SHA, "auth_key": Secret(AUTH_PASSPHRASE),
                          "priv_protocol": PrivProtocol.AES},
     "security level authPriv needs a privacy passphrase or key"),
    ("priv-passphrase-7-octets", {"auth_protocol": AuthProtocol.SHA,
                                  "auth_key": Secret(AUTH_PASSPHRASE),
                                  "priv_protocol": PrivProtocol.DES,
                                  "priv_key": Secret(SHORT_PASSPHRASE)},
     "the privacy passphrase has 7 octets; USM needs at least 8"),
    ("priv-master-key-not-auth-length", {"auth_protocol": AuthProtocol.SHA256,
                                         "auth_key": Secret(AUTH_PASSPHRASE),
                                         "priv_protocol": PrivProtocol.AES,
                                         "priv_key": key(16),
                                         "priv_key_kind": KeyKind.MASTER},
     "the master privacy key has 16 octets; with SHA-256 it must have 32"),
    ("priv-localized-key-short", {"auth_protocol": AuthProtocol.SHA,
                                  "auth_key": Secret(AUTH_PASSPHRASE),
                                  "priv_protocol": PrivProtocol.AES256C, "priv_key": key(20),
                                  "priv_key_kind": KeyKind.LOCALIZED},
     "the localized privacy key has 20 octets; AES-256-C needs at least 32"),
    ("priv-localized-key-empty", {"auth_protocol": AuthProtocol.SHA,
                                  "auth_key": Secret(AUTH_PASSPHRASE),
                                  "priv_protocol": PrivProtocol.AES, "priv_key": Secret(b""),
                                  "priv_key_kind": KeyKind.LOCALIZED},
     "USM user 'monitor': security level authPriv needs a privacy passphrase or key"),
]


@pytest.mark.parametrize(("settings", "message"), [case[1:] for case in REJECTED],
                         ids=[case[0] for case in REJECTED])
def test_rejected_settings_message(settings: dict[str, Any], message: str) -> None:
    arguments = {"name": "monitor", **settings}

    with pytest.raises(CredentialError) as caught:
        UsmUser(**arguments)

    assert message in str(caught.value)


@pytest.mark.parametrize("settings", [case[1] for case in REJECTED],
                         ids=[case[0] for case in REJECTED])
def test_rejected_settings_hide_keys(settings: dict[str, Any]) -> None:
    arguments = {"name": "monitor", **settings}

    with pytest.raises(CredentialError) as caught:
        UsmUser(**arguments)

    text = f"{caught.value} {caught.value!r}"
    for secret in secret_texts(arguments):
        assert secret not in text


def test_rejected_empty_localized_priv_key_has_one_message() -> None:
    # A missing key is one problem, so its length is not reported a second time.
    with pytest.raises(CredentialError) as caught:
        UsmUser("monitor", AuthProtocol.SHA, Secret(AUTH_PASSPHRASE), PrivProtocol.AES,
                Secret(b""), priv_key_kind=KeyKind.LOCALIZED)

    assert str(caught.value).count(";") == 0


def test_rejected_lists_every_problem() -> None:
    with pytest.raises(CredentialError) as caught:
        UsmUser("", AuthProtocol.SHA, Secret(SHORT_PASSPHRASE), PrivProtocol.AES,
                Secret("tiny"))

    message = str(caught.value)
    assert message.startswith("USM user '': ")
    assert "the user name has 0 octets" in message
    assert "the authentication passphrase has 7 octets" in message
    assert "the privacy passphrase has 4 octets" in message
    assert SHORT_PASSPHRASE not in message
    assert "tiny" not in message


def test_credential_error_is_value_error() -> None:
    with pytest.raises(ValueError, match="user name"):
        UsmUser("")


# ---------------------------------------------------------------------------------------------
# Secrets and identity


def test_repr_hides_keys() -> None:
    user = UsmUser("monitor", AuthProtocol.SHA, Secret(AUTH_PASSPHRASE), PrivProtocol.AES,
                   Secret(PRIV_PASSPHRASE))

    text = f"{user!r} {user!s}"

    assert AUTH_PASSPHRASE not in text
    assert PRIV_PASSPHRASE not in text
    assert "monitor" in text


def test_repr_hides_binary_keys() -> None:
    user = UsmUser("monitor", AuthProtocol.SHA, key(20), auth_key_kind=KeyKind.MASTER)

    assert (KEY_OCTET * 20).hex() not in repr(user)
    assert repr(KEY_OCTET * 20)[2:-1] not in repr(user)


def test_identity_equal_for_equal_settings() -> None:
    first = UsmUser("monitor", AuthProtocol.SHA, Secret(AUTH_PASSPHRASE))
    second = UsmUser("monitor", AuthProtocol.SHA, Secret(AUTH_PASSPHRASE))

    assert first.identity == second.identity
    assert hash(first.identity) == hash(second.identity)


@pytest.mark.parametrize("change", [
    {"name": "other"},
    {"auth_protocol": AuthProtocol.SHA256},
    {"auth_key": Secret("another-auth-passphrase")},
    {"priv_protocol": PrivProtocol.AES256C},
    {"priv_key": Secret("another-priv-passphrase")},
], ids=["name", "auth-protocol", "auth-key", "priv-protocol", "priv-key"])
def test_identity_differs_for_other_settings(change: dict[str, Any]) -> None:
    settings: dict[str, Any] = {"name": "monitor", "auth_protocol": AuthProtocol.SHA,
                                "auth_key": Secret(AUTH_PASSPHRASE),
                                "priv_protocol": PrivProtocol.AES256,
                                "priv_key": Secret(PRIV_PASSPHRASE)}

    changed = UsmUser(**{**settings, **change})

    assert changed.identity != UsmUser(**settings).identity


def test_identity_differs_by_key_kind() -> None:
    # The same octets as a passphrase and as a master key are different keys.
    octets = b"m" * 20
    passphrase = UsmUser("monitor", AuthProtocol.SHA, Secret(octets))
    master = UsmUser("monitor", AuthProtocol.SHA, Secret(octets), auth_key_kind=KeyKind.MASTER)

    assert passphrase.identity != master.identity
