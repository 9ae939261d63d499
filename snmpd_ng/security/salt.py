"""Salt counters for DES and AES privacy (RFC 3414 8.1.1.1, RFC 3826 3.1.2.1).

A salt must never repeat under one key. The counters start at a random value in each process, so
that a restart, or another node polling with the same user, does not walk the same sequence.
"""

from __future__ import annotations

import random
import secrets

from snmpd_ng.security.keys import PrivProtocol

_UINT32 = 1 << 32
_UINT64 = 1 << 64


class SaltCounter:
    """The 32-bit DES and 64-bit AES salt counters of one manager."""

    __slots__ = ("_aes", "_des")

    def __init__(self, rng: random.Random | None = None) -> None:
        source = rng if rng is not None else secrets.SystemRandom()
        self._des = source.getrandbits(32)
        self._aes = source.getrandbits(64)

    def next(self, protocol: PrivProtocol) -> int:
        """Return the next salt for `protocol`, wrapping around at its width."""
        if protocol is PrivProtocol.DES:
            self._des = (self._des + 1) % _UINT32
            return self._des
        self._aes = (self._aes + 1) % _UINT64
        return self._aes
