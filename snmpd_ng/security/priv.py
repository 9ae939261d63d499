"""USM privacy: DES-CBC (RFC 3414 section 8) and AES-CFB-128 (RFC 3826).

The caller owns the salt counter and the engine's boots and time. The only state here is a
bounded cache of AES objects per localised key, which changes no result. `encrypt` returns the
ciphertext and the msgPrivacyParameters that go with it, and `decrypt` takes both back. A wrong
key decrypts to garbage without an error, because neither cipher authenticates (RFC 3414
8.3.2): the caller finds out when the plaintext does not decode as a scopedPDU.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from snmpd_ng.security.keys import PRIV_KEY_LENGTHS, PrivProtocol

try:
    # 50.x keeps TripleDES among the decrepit ciphers and warns when it is imported from the
    # primitives. Older releases fall back to the primitives.
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES

try:
    # 50.x keeps CFB among the decrepit modes and warns on the old name. Older releases
    # keep it among the primitives only.
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:
    from cryptography.hazmat.primitives.ciphers.modes import CFB

DES_BLOCK_OCTETS = 8
AES_BLOCK_OCTETS = 16
# msgPrivacyParameters is 8 octets for both protocols: the DES salt or the AES salt.
PRIV_PARAMETERS_OCTETS = 8
_UINT32_MAX = 0xFFFFFFFF
_UINT64_MAX = 0xFFFFFFFFFFFFFFFF


class PrivacyError(ValueError):
    """Input that cannot be encrypted or decrypted, such as a short key or a bad ciphertext length.

    On decryption this is RFC 3414's decryptionError (usmStatsDecryptionErrors).
    """


def encrypt(
    protocol: PrivProtocol,
    key: bytes,
    plaintext: bytes,
    *,
    engine_boots: int,
    engine_time: int,
    salt: int,
) -> tuple[bytes, bytes]:
    """Encrypt a serialised scopedPDU; return (ciphertext, msgPrivacyParameters).

    `salt` is the caller's 32-bit counter for DES and 64-bit counter for AES. `engine_time` is
    part of the AES IV only.
    """
    if protocol is PrivProtocol.DES:
        return _encrypt_des(_cut_key(protocol, key), plaintext, engine_boots, salt)
    return _encrypt_aes(_aes_state(protocol, key), plaintext, engine_boots, engine_time, salt)


def decrypt(
    protocol: PrivProtocol,
    key: bytes,
    ciphertext: bytes,
    priv_parameters: bytes,
    *,
    engine_boots: int,
    engine_time: int,
) -> bytes:
    """Decrypt an encryptedPDU with the msgPrivacyParameters that came with it.

    DES output keeps the sender's padding, which the BER decoder ignores as trailing octets.
    """
    if protocol is PrivProtocol.DES:
        key = _cut_key(protocol, key)
        _check_priv_parameters(priv_parameters)
        return _decrypt_des(key, ciphertext, priv_parameters)
    state = _aes_state(protocol, key)
    _check_priv_parameters(priv_parameters)
    iv = _aes_iv(engine_boots, engine_time, priv_parameters)
    return _decrypt_aes(state, iv, ciphertext)


def _check_priv_parameters(priv_parameters: bytes) -> None:
    if len(priv_parameters) != PRIV_PARAMETERS_OCTETS:
        raise PrivacyError(
            f"msgPrivacyParameters has {len(priv_parameters)} octets, expected "
            f"{PRIV_PARAMETERS_OCTETS}; the message is malformed"
        )


def _cut_key(protocol: PrivProtocol, key: bytes) -> bytes:
    """Return the octets of `key` that `protocol` uses; a longer localised key is allowed."""
    expected = PRIV_KEY_LENGTHS[protocol]
    if len(key) < expected:
        raise PrivacyError(
            f"the {protocol.value} privacy key has {len(key)} octets, expected {expected}; "
            "derive it with localized_priv_key"
        )
    return key[:expected]


def _check_unsigned(name: str, value: int, maximum: int) -> None:
    if not 0 <= value <= maximum:
        raise PrivacyError(f"{name} {value} is out of range 0..{maximum}")


# RFC 3414 8.1.1.1: the DES key is the first 8 octets of the 16-octet privacy key, the pre-IV the
# last 8. The salt is engineBoots (4 octets) || a local 32-bit integer, and IV = pre-IV XOR salt.
def _des_cipher(key: bytes, salt: bytes) -> Cipher[modes.CBC]:
    des_key = key[:8]
    pre_iv = key[8:16]
    iv = bytes(a ^ b for a, b in zip(pre_iv, salt, strict=True))

    # Single DES is TripleDES with the same 8-octet key three times (EDE with K1 = K2 = K3).
    return Cipher(TripleDES(des_key * 3), modes.CBC(iv))


def _encrypt_des(
    key: bytes, plaintext: bytes, engine_boots: int, counter: int
) -> tuple[bytes, bytes]:
    _check_unsigned("engine_boots", engine_boots, _UINT32_MAX)
    _check_unsigned("salt", counter, _UINT32_MAX)
    salt = engine_boots.to_bytes(4, "big") + counter.to_bytes(4, "big")

    # RFC 3414 8.1.1.2: pad to a multiple of 8 octets; the padding's value is not specified.
    padding = -len(plaintext) % DES_BLOCK_OCTETS
    encryptor = _des_cipher(key, salt).encryptor()
    return encryptor.update(plaintext + bytes(padding)) + encryptor.finalize(), salt


def _decrypt_des(key: bytes, ciphertext: bytes, salt: bytes) -> bytes:
    # RFC 3414 8.3.2 step 2: a length that is not a multiple of 8 is a decryptionError.
    if len(ciphertext) % DES_BLOCK_OCTETS != 0:
        raise PrivacyError(
            f"the DES ciphertext has {len(ciphertext)} octets, not a multiple of "
            f"{DES_BLOCK_OCTETS}; the message is malformed"
        )
    decryptor = _des_cipher(key, salt).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


# RFC 3826 3.1.2.1: IV = engineBoots (4 octets) || engineTime (4 octets) || the 64-bit salt, and
# msgPrivacyParameters carries the salt. The AES key is the first 16, 24 or 32 octets of the key.
def _aes_iv(engine_boots: int, engine_time: int, salt: bytes) -> bytes:
    _check_unsigned("engine_boots", engine_boots, _UINT32_MAX)
    _check_unsigned("engine_time", engine_time, _UINT32_MAX)
    return engine_boots.to_bytes(4, "big") + engine_time.to_bytes(4, "big") + salt


@dataclass(frozen=True, slots=True)
class _AesState:
    """The AES objects of one localised key, which encrypt and decrypt reuse."""

    protocol: PrivProtocol
    algorithm: algorithms.AES
    """AES with the key cut to its length, which checked that length once."""
    block_encryptor: CipherContext
    """AES-ECB, one block at a time: decrypt's CFB keystream."""


# AES states by localised key. Building a cipher context took about 80 % of a decrypt's
# instructions (bench/v3_steps.py), and an ECB context serves every message, where a CFB one is
# bound to its IV. The oldest entry goes first once there are AES_CAPACITY.
# NOTE: with more keys in use than that (one per user and engine ID), polling in turn evicts
# each entry before its next use, and every message costs a little more than without the cache.
AES_CAPACITY = 4096
_aes_states: dict[bytes, _AesState] = {}


def _aes_state(protocol: PrivProtocol, key: bytes) -> _AesState:
    found = _aes_states.get(key)
    # The protocol is compared by identity and not part of the dict key, because hashing an
    # Enum member runs Python code.
    if found is not None and found.protocol is protocol:
        return found

    algorithm = algorithms.AES(_cut_key(protocol, key))
    found = _AesState(protocol, algorithm, Cipher(algorithm, modes.ECB()).encryptor())
    if len(_aes_states) >= AES_CAPACITY:
        del _aes_states[next(iter(_aes_states))]
    _aes_states[key] = found
    return found


def _encrypt_aes(
    state: _AesState, plaintext: bytes, engine_boots: int, engine_time: int, counter: int
) -> tuple[bytes, bytes]:
    _check_unsigned("salt", counter, _UINT64_MAX)
    salt = counter.to_bytes(8, "big")
    iv = _aes_iv(engine_boots, engine_time, salt)

    # CFB-128 is a stream mode, so the ciphertext is as long as the plaintext (no padding).
    # Each block's AES input is the previous ciphertext block, so encryption is sequential and
    # stays with cryptography's CFB mode.
    encryptor = Cipher(state.algorithm, CFB(iv)).encryptor()
    return encryptor.update(plaintext) + encryptor.finalize(), salt


def _decrypt_aes(state: _AesState, iv: bytes, ciphertext: bytes) -> bytes:
    """Decrypt AES-CFB-128 with one ECB call for the whole keystream.

    Plaintext block j is ciphertext block j XOR AES(ciphertext block j-1), with the IV before
    the first block, and a short last block uses the first octets of its AES output. Every AES
    input is known before decryption starts: the IV and all ciphertext blocks but the last.
    """
    size = len(ciphertext)
    if size == 0:
        return b""
    inputs = iv + ciphertext[: (size - 1) // AES_BLOCK_OCTETS * AES_BLOCK_OCTETS]
    keystream = state.block_encryptor.update(inputs)
    plaintext = int.from_bytes(ciphertext, "big") ^ int.from_bytes(keystream[:size], "big")
    return plaintext.to_bytes(size, "big")
