"""USM key derivation: password to key, key localisation and privacy key extension.

RFC 3414 section 2.6 and appendix A.2 define the algorithms for MD5 and SHA-1, and RFC 7860
section 9.3 applies them unchanged to the SHA-2 hashes.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable

from snmpd_ng.secret import Secret

# RFC 3414 A.2: the password is repeated to fill 1,048,576 octets, which are hashed at once.
PASSWORD_STREAM_OCTETS = 1_048_576


class AuthProtocol(enum.Enum):
    """USM authentication protocol, valued with net-snmp's `-a` spelling."""

    MD5 = "MD5"
    SHA = "SHA"
    SHA224 = "SHA-224"
    SHA256 = "SHA-256"
    SHA384 = "SHA-384"
    SHA512 = "SHA-512"


class PrivProtocol(enum.Enum):
    """USM privacy protocol, valued with net-snmp's `-x` spelling.

    AES192 and AES256 extend the key as the Blumenthal draft does, AES192C and AES256C as the
    Reeder draft (used by Cisco) does.
    """

    DES = "DES"
    AES = "AES"
    AES192 = "AES-192"
    AES256 = "AES-256"
    AES192C = "AES-192-C"
    AES256C = "AES-256-C"


HASH_NAMES: dict[AuthProtocol, str] = {
    AuthProtocol.MD5: "md5",
    AuthProtocol.SHA: "sha1",
    AuthProtocol.SHA224: "sha224",
    AuthProtocol.SHA256: "sha256",
    AuthProtocol.SHA384: "sha384",
    AuthProtocol.SHA512: "sha512",
}

# Octets of privacy key that each protocol uses. DES takes 16: the DES key and the pre-IV.
PRIV_KEY_LENGTHS: dict[PrivProtocol, int] = {
    PrivProtocol.DES: 16,
    PrivProtocol.AES: 16,
    PrivProtocol.AES192: 24,
    PrivProtocol.AES256: 32,
    PrivProtocol.AES192C: 24,
    PrivProtocol.AES256C: 32,
}

_REEDER_PROTOCOLS = frozenset({PrivProtocol.AES192C, PrivProtocol.AES256C})


class KeyDerivationError(ValueError):
    """A password or engine ID that USM cannot derive a key from."""


def hash_function(protocol: AuthProtocol) -> Callable[[bytes], bytes]:
    """Return a function that hashes octets with the hash of `protocol`."""
    name = HASH_NAMES[protocol]
    return lambda data: hashlib.new(name, data).digest()


def password_to_key(protocol: AuthProtocol, password: Secret | bytes) -> bytes:
    """Derive the non-localised key Ku from a password (RFC 3414 A.2)."""
    octets = password.reveal() if isinstance(password, Secret) else password
    if not octets:
        raise KeyDerivationError("the USM password is empty; set a passphrase of 8 or more octets")

    # Building the 1 MiB stream once and hashing it in one call is about 100 times faster than
    # feeding 64-octet blocks from Python.
    repeats = -(-PASSWORD_STREAM_OCTETS // len(octets))
    stream = (octets * repeats)[:PASSWORD_STREAM_OCTETS]
    return hashlib.new(HASH_NAMES[protocol], stream).digest()


def localize_key(protocol: AuthProtocol, key: bytes, engine_id: bytes) -> bytes:
    """Localise Ku to one authoritative engine: Kul = H(Ku || engineID || Ku) (RFC 3414 2.6)."""
    if not engine_id:
        raise KeyDerivationError("the engine ID is empty; discover the engine ID first")
    return hash_function(protocol)(key + engine_id + key)


def localized_auth_key(protocol: AuthProtocol, password: Secret | bytes, engine_id: bytes) -> bytes:
    """Derive the localised authentication key from a passphrase and an engine ID."""
    return localize_key(protocol, password_to_key(protocol, password), engine_id)


def localized_priv_key(
    auth_protocol: AuthProtocol,
    priv_protocol: PrivProtocol,
    password: Secret | bytes,
    engine_id: bytes,
) -> bytes:
    """Derive the localised privacy key, extended and cut to the length `priv_protocol` uses.

    The privacy passphrase goes through the authentication protocol's hash (RFC 3414 2.6).
    """
    localized = localized_auth_key(auth_protocol, password, engine_id)
    length = PRIV_KEY_LENGTHS[priv_protocol]
    if priv_protocol in _REEDER_PROTOCOLS:
        return extend_key_reeder(auth_protocol, localized, engine_id, length)
    return extend_key_blumenthal(auth_protocol, localized, length)


def extend_key_blumenthal(protocol: AuthProtocol, localized: bytes, length: int) -> bytes:
    """Extend a localised key to `length` octets as draft-blumenthal-aes-usm-04 does.

    Each round appends the hash of the whole key so far: Kul || H(Kul) || H(Kul || H(Kul)) ...
    NOTE: checked against net-snmp 5.9.3, where one round always suffices. The hash input of a
    second round is not confirmed against the draft's text.
    """
    digest = hash_function(protocol)
    key = localized
    while len(key) < length:
        key += digest(key)
    return key[:length]


def extend_key_reeder(
    protocol: AuthProtocol, localized: bytes, engine_id: bytes, length: int
) -> bytes:
    """Extend a localised key to `length` octets as draft-reeder-snmpv3-usm-3desede-00 does.

    Each round treats the last block as a password, runs password to key and localisation on it,
    and appends the result: Kul || Kul' where Kul' = localize(password_to_key(Kul)).
    """
    key = localized
    block = localized
    while len(key) < length:
        block = localize_key(protocol, password_to_key(protocol, block), engine_id)
        key += block
    return key[:length]
