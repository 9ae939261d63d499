"""Tests for USM HMAC authentication (RFC 3414 sections 6 and 7, RFC 7860)."""

from __future__ import annotations

import pytest

from snmpd_ng.security.auth import MAC_LENGTHS, sign, verify, zeroed_mac
from snmpd_ng.security.keys import AuthProtocol

# RFC 2202 and RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?". USM sends
# the first MAC_LENGTHS octets of these HMACs.
JEFE_KEY = b"Jefe"
JEFE_DATA = b"what do ya want for nothing?"
JEFE_HMACS = {
    AuthProtocol.MD5: "750c783e6ab0b503eaa86e310a5db738",
    AuthProtocol.SHA: "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
    AuthProtocol.SHA224: "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
    AuthProtocol.SHA256: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    AuthProtocol.SHA384: (
        "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
        "8e2240ca5e69e2c78b3239ecfab21649"
    ),
    AuthProtocol.SHA512: (
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
        "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
    ),
}
EXPECTED_MAC_LENGTHS = {
    AuthProtocol.MD5: 12,
    AuthProtocol.SHA: 12,
    AuthProtocol.SHA224: 16,
    AuthProtocol.SHA256: 24,
    AuthProtocol.SHA384: 32,
    AuthProtocol.SHA512: 48,
}
MESSAGE = bytes(range(256)) * 4

all_protocols = pytest.mark.parametrize("protocol", list(AuthProtocol), ids=lambda p: p.value)


@all_protocols
def test_mac_length_per_protocol(protocol: AuthProtocol) -> None:
    assert MAC_LENGTHS[protocol] == EXPECTED_MAC_LENGTHS[protocol]
    assert zeroed_mac(protocol) == bytes(EXPECTED_MAC_LENGTHS[protocol])


@all_protocols
def test_sign_known_answer(protocol: AuthProtocol) -> None:
    expected = bytes.fromhex(JEFE_HMACS[protocol])[: EXPECTED_MAC_LENGTHS[protocol]]
    assert sign(protocol, JEFE_KEY, JEFE_DATA) == expected


@all_protocols
def test_verify_accepts_own_mac(protocol: AuthProtocol) -> None:
    key = bytes(range(64))
    assert verify(protocol, key, MESSAGE, sign(protocol, key, MESSAGE))


@all_protocols
def test_verify_rejects_changed_message(protocol: AuthProtocol) -> None:
    key = bytes(range(64))
    mac = sign(protocol, key, MESSAGE)
    changed = bytes([MESSAGE[0] ^ 1]) + MESSAGE[1:]
    assert not verify(protocol, key, changed, mac)


@all_protocols
def test_verify_rejects_wrong_key(protocol: AuthProtocol) -> None:
    mac = sign(protocol, bytes(range(64)), MESSAGE)
    assert not verify(protocol, bytes(64), MESSAGE, mac)


@all_protocols
def test_verify_rejects_wrong_length(protocol: AuthProtocol) -> None:
    key = bytes(range(64))
    full = bytes.fromhex(JEFE_HMACS[protocol])
    mac = sign(protocol, key, MESSAGE)
    assert not verify(protocol, key, MESSAGE, mac[:-1])
    assert not verify(protocol, key, MESSAGE, mac + b"\x00")
    assert not verify(protocol, JEFE_KEY, JEFE_DATA, full)
    assert not verify(protocol, key, MESSAGE, b"")
