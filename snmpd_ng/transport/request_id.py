"""Allocation of request-ids (and, for SNMPv3, msgIDs) unique among outstanding requests."""

from __future__ import annotations

import random
from collections.abc import Container

# RFC 3416 section 3: request-id is Integer32. Only positive values are used, because some
# agents mishandle negative ones (and RFC 3412 limits msgID to 0..2147483647).
MAX_REQUEST_ID = 2**31 - 1


class RequestIdAllocator:
    """Hand out ids counting up from a random start, skipping ids still in use.

    Counting up means an id comes back only after 2^31 - 1 others, so a late reply cannot match
    a newer request that happens to reuse its id.
    """

    __slots__ = ("_next",)

    def __init__(self, rng: random.Random | None = None) -> None:
        source = rng if rng is not None else random.SystemRandom()
        self._next = source.randint(1, MAX_REQUEST_ID)

    def allocate(self, in_use: Container[int]) -> int:
        """Return the next id not in `in_use`."""
        while True:
            request_id = self._next
            self._next = request_id + 1 if request_id < MAX_REQUEST_ID else 1
            if request_id not in in_use:
                return request_id
