"""USM authentication: HMAC digests over the whole message (RFC 3414 sections 6 and 7, RFC 7860).

The caller serialises the message with msgAuthenticationParameters set to MAC-length zero octets,
signs those octets, and puts the MAC in place of the zeros. Verification takes the same zeroed
message and the MAC that was received.
"""

from __future__ import annotations

import hmac

from snmpd_ng.security.keys import HASH_NAMES, AuthProtocol

# Octets of the truncated HMAC that goes into msgAuthenticationParameters: 12 for HMAC-MD5-96 and
# HMAC-SHA-96 (RFC 3414), 16, 24, 32 and 48 for the SHA-2 protocols (RFC 7860 section 4.2.1).
MAC_LENGTHS: dict[AuthProtocol, int] = {
    AuthProtocol.MD5: 12,
    AuthProtocol.SHA: 12,
    AuthProtocol.SHA224: 16,
    AuthProtocol.SHA256: 24,
    AuthProtocol.SHA384: 32,
    AuthProtocol.SHA512: 48,
}


def zeroed_mac(protocol: AuthProtocol) -> bytes:
    """Return the zeros that msgAuthenticationParameters contains while the MAC is computed."""
    return bytes(MAC_LENGTHS[protocol])


# HMAC objects already keyed, by localised key. hmac.new hashes the key's padded block into the
# inner and outer states (RFC 2104), and a copy of those states skips that work for every
# message after the first. The oldest entry goes first once there are KEYED_CAPACITY.
# NOTE: with more keys in use than that (one per user and engine ID), polling in turn evicts
# each entry before its next use, and every MAC costs what it did without the cache.
KEYED_CAPACITY = 4096
_keyed: dict[bytes, tuple[AuthProtocol, hmac.HMAC, int]] = {}


def _keyed_hmac(protocol: AuthProtocol, key: bytes) -> tuple[AuthProtocol, hmac.HMAC, int]:
    """Return the protocol, a keyed HMAC object and the MAC length for `key`."""
    found = _keyed.get(key)
    # The protocol is compared by identity and not part of the dict key, because hashing an
    # Enum member runs Python code.
    if found is not None and found[0] is protocol:
        return found

    found = (protocol, hmac.new(key, digestmod=HASH_NAMES[protocol]), MAC_LENGTHS[protocol])
    if len(_keyed) >= KEYED_CAPACITY:
        del _keyed[next(iter(_keyed))]
    _keyed[key] = found
    return found


def sign(protocol: AuthProtocol, key: bytes, message: bytes) -> bytes:
    """Compute the MAC of `message`, serialised with a zeroed MAC, under the localised `key`."""
    _, keyed, length = _keyed_hmac(protocol, key)
    mac = keyed.copy()
    mac.update(message)
    return mac.digest()[:length]


def verify(protocol: AuthProtocol, key: bytes, message: bytes, mac: bytes) -> bool:
    """Check a received MAC in constant time. A MAC of the wrong length never verifies."""
    expected = sign(protocol, key, message)
    if len(mac) != len(expected):
        return False
    return hmac.compare_digest(expected, mac)
