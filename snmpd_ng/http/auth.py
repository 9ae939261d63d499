"""HTTP basic authentication (RFC 7617) for /metrics, compared in constant time."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from snmpd_ng.config.model import BasicAuthConfig

REALM = "snmpd-ng"
CHALLENGE = f'Basic realm="{REALM}", charset="UTF-8"'
"""The WWW-Authenticate value of a 401 response."""


def is_authorized(header: str | None, auth: BasicAuthConfig) -> bool:
    """Tell whether an Authorization header carries the configured username and password."""
    credentials = _decode_basic(header)
    if credentials is None:
        return False
    username, password = credentials

    # Comparing digests takes the same time whatever the lengths. Both parts are compared, so a
    # wrong username costs as long as a wrong password.
    username_ok = hmac.compare_digest(_digest(username), _digest(auth.username.encode("utf-8")))
    password_ok = hmac.compare_digest(_digest(password), _digest(auth.password.reveal()))
    return username_ok and password_ok


def _decode_basic(header: str | None) -> tuple[bytes, bytes] | None:
    """Split "Basic base64(user:password)" into its two parts; None when malformed."""
    if header is None:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    username, separator, password = decoded.partition(b":")
    if not separator:
        return None
    return username, password


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()
