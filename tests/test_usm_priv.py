"""Tests for USM privacy: DES-CBC (RFC 3414 section 8) and AES-CFB-128 (RFC 3826)."""

from __future__ import annotations

import warnings

import pytest

from snmpd_ng.security.keys import PRIV_KEY_LENGTHS, PrivProtocol
from snmpd_ng.security.priv import PrivacyError, decrypt, encrypt

SCOPED_PDU = bytes.fromhex("3020040b80001f8804757365726b657904007e0e02010102010002010030033001")
ENGINE = {"engine_boots": 7, "engine_time": 123_456}

all_protocols = pytest.mark.parametrize("protocol", list(PrivProtocol), ids=lambda p: p.value)


def key_for(protocol: PrivProtocol, seed: int = 1) -> bytes:
    return bytes((seed + i) % 256 for i in range(PRIV_KEY_LENGTHS[protocol]))


def test_aes_known_answer_nist_cfb128() -> None:
    # NIST SP 800-38A F.3.13 (CFB128-AES128.Encrypt, first block). Its IV 000102...0f is
    # engineBoots 0x00010203, engineTime 0x04050607 and salt 0x08090a0b0c0d0e0f under RFC 3826.
    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    plaintext = bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")
    ciphertext, parameters = encrypt(
        PrivProtocol.AES,
        key,
        plaintext,
        engine_boots=0x00010203,
        engine_time=0x04050607,
        salt=0x08090A0B0C0D0E0F,
    )
    assert ciphertext == bytes.fromhex("3b3fd92eb72dad20333449f8e83cfb4a")
    assert parameters == bytes.fromhex("08090a0b0c0d0e0f")


def test_des_known_answer_fips81_cbc() -> None:
    # FIPS 81 appendix C (CBC): key 0123456789abcdef, IV 1234567890abcdef. As a USM privacy key
    # the IV is the pre-IV, and a salt of zero boots and zero counter leaves it unchanged.
    key = bytes.fromhex("0123456789abcdef1234567890abcdef")
    ciphertext, parameters = encrypt(
        PrivProtocol.DES, key, b"Now is the time for all ", engine_boots=0, engine_time=0, salt=0
    )
    expected = bytes.fromhex("e5c7cdde872bf27c43e934008c389c0f683788499a7c05f6")
    assert ciphertext == expected
    assert parameters == bytes(8)


def test_des_salt_is_boots_and_counter() -> None:
    key = key_for(PrivProtocol.DES)
    _, parameters = encrypt(
        PrivProtocol.DES, key, SCOPED_PDU, engine_boots=7, engine_time=0, salt=0x01020304
    )
    assert parameters == bytes.fromhex("0000000701020304")


def test_des_pads_to_block() -> None:
    key = key_for(PrivProtocol.DES)
    ciphertext, _ = encrypt(PrivProtocol.DES, key, SCOPED_PDU, **ENGINE, salt=1)
    assert len(SCOPED_PDU) % 8 != 0
    assert len(ciphertext) % 8 == 0
    assert len(ciphertext) - len(SCOPED_PDU) < 8


@all_protocols
def test_round_trip(protocol: PrivProtocol) -> None:
    key = key_for(protocol)
    ciphertext, parameters = encrypt(protocol, key, SCOPED_PDU, **ENGINE, salt=42)
    plaintext = decrypt(protocol, key, ciphertext, parameters, **ENGINE)
    assert ciphertext[: len(SCOPED_PDU)] != SCOPED_PDU
    assert plaintext[: len(SCOPED_PDU)] == SCOPED_PDU


@all_protocols
def test_round_trip_longer_key_is_cut(protocol: PrivProtocol) -> None:
    key = key_for(protocol)
    ciphertext, parameters = encrypt(protocol, key + b"extra", SCOPED_PDU, **ENGINE, salt=42)
    assert decrypt(protocol, key, ciphertext, parameters, **ENGINE)[: len(SCOPED_PDU)] == SCOPED_PDU


@all_protocols
def test_wrong_key_gives_garbage(protocol: PrivProtocol) -> None:
    ciphertext, parameters = encrypt(protocol, key_for(protocol), SCOPED_PDU, **ENGINE, salt=42)
    plaintext = decrypt(protocol, key_for(protocol, seed=2), ciphertext, parameters, **ENGINE)
    assert len(plaintext) == len(ciphertext)
    assert plaintext[: len(SCOPED_PDU)] != SCOPED_PDU


@all_protocols
def test_salt_changes_ciphertext(protocol: PrivProtocol) -> None:
    key = key_for(protocol)
    first, _ = encrypt(protocol, key, SCOPED_PDU, **ENGINE, salt=1)
    second, _ = encrypt(protocol, key, SCOPED_PDU, **ENGINE, salt=2)
    assert first != second


def test_aes_engine_time_changes_ciphertext() -> None:
    key = key_for(PrivProtocol.AES)
    first, _ = encrypt(PrivProtocol.AES, key, SCOPED_PDU, engine_boots=1, engine_time=1, salt=1)
    second, _ = encrypt(PrivProtocol.AES, key, SCOPED_PDU, engine_boots=1, engine_time=2, salt=1)
    assert first != second


@all_protocols
def test_short_key_rejected(protocol: PrivProtocol) -> None:
    with pytest.raises(PrivacyError, match="privacy key has"):
        encrypt(protocol, key_for(protocol)[:-1], SCOPED_PDU, **ENGINE, salt=1)


@all_protocols
def test_bad_priv_parameters_rejected(protocol: PrivProtocol) -> None:
    with pytest.raises(PrivacyError, match="msgPrivacyParameters has 7 octets"):
        decrypt(protocol, key_for(protocol), bytes(16), bytes(7), **ENGINE)


def test_des_ciphertext_length_rejected() -> None:
    with pytest.raises(PrivacyError, match="not a multiple of 8"):
        decrypt(PrivProtocol.DES, key_for(PrivProtocol.DES), bytes(15), bytes(8), **ENGINE)


@pytest.mark.parametrize(
    ("field", "value"),
    [("salt", -1), ("salt", 2**64), ("engine_boots", 2**32), ("engine_time", -1)],
)
def test_aes_out_of_range_rejected(field: str, value: int) -> None:
    arguments = {"engine_boots": 1, "engine_time": 1, "salt": 1, field: value}
    with pytest.raises(PrivacyError, match="out of range"):
        encrypt(PrivProtocol.AES, key_for(PrivProtocol.AES), SCOPED_PDU, **arguments)


def test_des_counter_out_of_range_rejected() -> None:
    with pytest.raises(PrivacyError, match="out of range"):
        encrypt(PrivProtocol.DES, key_for(PrivProtocol.DES), SCOPED_PDU, **ENGINE, salt=2**32)


@all_protocols
def test_no_deprecation_warning(protocol: PrivProtocol) -> None:
    key = key_for(protocol)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ciphertext, parameters = encrypt(protocol, key, SCOPED_PDU, **ENGINE, salt=3)
        decrypt(protocol, key, ciphertext, parameters, **ENGINE)
