"""Tests for the per-key cache of USM authentication (snmpd_ng.security.auth).

The cache must change no result: every MAC is compared with what the standard library's hmac
computes without one.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

import pytest

from snmpd_ng.security import auth
from snmpd_ng.security.keys import HASH_NAMES, AuthProtocol

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
