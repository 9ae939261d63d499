"""Tests for the per-key caches of USM authentication and privacy (snmpd_ng.security.auth, priv).

The caches must change no result: every MAC is compared with what the standard library's hmac
computes without a cache, and every plaintext with cryptography's own AES-CFB decryption.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from snmpd_ng.security import auth, priv
from snmpd_ng.security.keys import HASH_NAMES, PRIV_KEY_LENGTHS, AuthProtocol, PrivProtocol

try:
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:
    from cryptography.hazmat.primitives.ciphers.modes import CFB

MESSAGE = bytes(range(256)) * 2

all_auth_protocols = pytest.mark.parametrize("protocol", list(AuthProtocol),
                                             ids=lambda protocol: protocol.value)


def reference_mac(protocol: AuthProtocol, key: bytes, message: bytes) -> bytes:
    digest = hmac.new(key, message, HASH_NAMES[protocol]).digest()
    return digest[: auth.MAC_LENGTHS[protocol]]


@pytest.fixture
def small_auth_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Shrink the keyed-HMAC cache to two entries, and start it empty."""
    monkeypatch.setattr(auth, "KEYED_CAPACITY", 2)
    monkeypatch.setattr(auth, "_keyed", {})
    yield


@all_auth_protocols
def test_sign_repeated_matches_hmac(protocol: AuthProtocol) -> None:
    key = bytes(range(32))

    # The second and third calls copy the cached keyed object, which must not carry the
    # previous message's data.
    for message in (MESSAGE, MESSAGE[:100], MESSAGE):
        assert auth.sign(protocol, key, message) == reference_mac(protocol, key, message)


def test_sign_same_key_two_protocols() -> None:
    key = bytes(range(64))

    assert auth.sign(AuthProtocol.SHA256, key, MESSAGE) == reference_mac(
        AuthProtocol.SHA256, key, MESSAGE)
    assert auth.sign(AuthProtocol.SHA512, key, MESSAGE) == reference_mac(
        AuthProtocol.SHA512, key, MESSAGE)
    assert auth.sign(AuthProtocol.SHA256, key, MESSAGE) == reference_mac(
        AuthProtocol.SHA256, key, MESSAGE)


@pytest.mark.usefixtures("small_auth_cache")
def test_sign_cache_keeps_capacity() -> None:
    keys = [bytes([number]) * 32 for number in range(5)]

    for key in keys:
        assert auth.sign(AuthProtocol.SHA256, key, MESSAGE) == reference_mac(
            AuthProtocol.SHA256, key, MESSAGE)
    assert len(auth._keyed) == 2
    # The oldest keys went first.
    assert list(auth._keyed) == keys[-2:]


@pytest.mark.usefixtures("small_auth_cache")
def test_verify_after_eviction() -> None:
    first, second, third = (bytes([number]) * 20 for number in (1, 2, 3))
    mac = auth.sign(AuthProtocol.SHA, first, MESSAGE)
    auth.sign(AuthProtocol.SHA, second, MESSAGE)
    auth.sign(AuthProtocol.SHA, third, MESSAGE)

    assert first not in auth._keyed
    assert auth.verify(AuthProtocol.SHA, first, MESSAGE, mac)
    assert not auth.verify(AuthProtocol.SHA, second, MESSAGE, mac)


# ---------------------------------------------------------------------------------------------
# Privacy

AES_PROTOCOLS = [protocol for protocol in PrivProtocol if protocol is not PrivProtocol.DES]
ENGINE = {"engine_boots": 7, "engine_time": 123_456}
# 64 octets, the longest localised key (SHA-512); each protocol uses its first octets.
LONG_KEY = bytes(range(100, 164))

all_aes_protocols = pytest.mark.parametrize("protocol", AES_PROTOCOLS,
                                            ids=lambda protocol: protocol.value)


def reference_decrypt(protocol: PrivProtocol, key: bytes, ciphertext: bytes,
                      salt: bytes) -> bytes:
    """Decrypt with cryptography's CFB mode, as priv did before it cached anything."""
    iv = (ENGINE["engine_boots"].to_bytes(4, "big") + ENGINE["engine_time"].to_bytes(4, "big")
          + salt)
    decryptor = Cipher(algorithms.AES(key[: PRIV_KEY_LENGTHS[protocol]]), CFB(iv)).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


@pytest.fixture
def small_aes_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Shrink the AES state cache to two entries, and start it empty."""
    monkeypatch.setattr(priv, "AES_CAPACITY", 2)
    monkeypatch.setattr(priv, "_aes_states", {})
    yield


@all_aes_protocols
def test_aes_decrypt_every_length(protocol: PrivProtocol) -> None:
    salt = bytes(range(8))

    # Whole blocks, short last blocks and the empty PDU, all through one cached ECB context.
    for size in range(0, 81):
        ciphertext = bytes((position * 37 + size) % 256 for position in range(size))
        plaintext = priv.decrypt(protocol, LONG_KEY, ciphertext, salt, **ENGINE)
        assert plaintext == reference_decrypt(protocol, LONG_KEY, ciphertext, salt), size


@all_aes_protocols
def test_aes_round_trip_every_length(protocol: PrivProtocol) -> None:
    for size in (1, 15, 16, 17, 100, 1400):
        plaintext = bytes(range(256)) * 6
        ciphertext, salt = priv.encrypt(protocol, LONG_KEY, plaintext[:size], salt=size,
                                        **ENGINE)
        assert priv.decrypt(protocol, LONG_KEY, ciphertext, salt, **ENGINE) == plaintext[:size]


def test_aes_same_key_two_protocols() -> None:
    ciphertext = bytes(range(40))
    salt = bytes(8)

    # AES uses the first 16 octets of the key and AES-256 all 32: one cached entry per key
    # must not serve the other protocol.
    for protocol in (PrivProtocol.AES, PrivProtocol.AES256, PrivProtocol.AES):
        plaintext = priv.decrypt(protocol, LONG_KEY, ciphertext, salt, **ENGINE)
        assert plaintext == reference_decrypt(protocol, LONG_KEY, ciphertext, salt)


@pytest.mark.usefixtures("small_aes_cache")
def test_aes_cache_keeps_capacity() -> None:
    keys = [bytes([number]) * 16 for number in range(5)]

    for key in keys:
        ciphertext, salt = priv.encrypt(PrivProtocol.AES, key, b"scoped", salt=1, **ENGINE)
        assert priv.decrypt(PrivProtocol.AES, key, ciphertext, salt, **ENGINE) == b"scoped"
    assert len(priv._aes_states) == 2
    # The oldest keys went first.
    assert list(priv._aes_states) == keys[-2:]


@pytest.mark.usefixtures("small_aes_cache")
def test_aes_short_key_not_cached() -> None:
    with pytest.raises(priv.PrivacyError, match="privacy key has 15 octets"):
        priv.decrypt(PrivProtocol.AES, bytes(15), bytes(16), bytes(8), **ENGINE)

    assert priv._aes_states == {}
