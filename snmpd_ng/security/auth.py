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


def sign(protocol: AuthProtocol, key: bytes, message: bytes) -> bytes:
    """Compute the MAC of `message`, serialised with a zeroed MAC, under the localised `key`."""
    digest = hmac.new(key, message, HASH_NAMES[protocol]).digest()
    return digest[: MAC_LENGTHS[protocol]]


def verify(protocol: AuthProtocol, key: bytes, message: bytes, mac: bytes) -> bool:
    """Check a received MAC in constant time. A MAC of the wrong length never verifies."""
    if len(mac) != MAC_LENGTHS[protocol]:
        return False
    return hmac.compare_digest(sign(protocol, key, message), mac)
