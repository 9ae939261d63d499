"""SaltCounter: the 32-bit DES and 64-bit AES salt counters (RFC 3414 8.1.1.1, RFC 3826 3.1.2.1)."""

from __future__ import annotations

import random

import pytest

from snmpd_ng.security.keys import PrivProtocol
from snmpd_ng.security.salt import SaltCounter

AES_PROTOCOLS = [protocol for protocol in PrivProtocol if protocol is not PrivProtocol.DES]


class FixedBits(random.Random):
    """A random source whose getrandbits returns one chosen value per width."""

    def __init__(self, values: dict[int, int]) -> None:
        super().__init__(0)
        self.values = values

    def getrandbits(self, k: int, /) -> int:
        return self.values[k]


def test_start_comes_from_seeded_rng() -> None:
    expected = random.Random(20261204)
    des_start, aes_start = expected.getrandbits(32), expected.getrandbits(64)

    salts = SaltCounter(random.Random(20261204))

    assert salts.next(PrivProtocol.DES) == (des_start + 1) % 2**32
    assert salts.next(PrivProtocol.AES) == (aes_start + 1) % 2**64


def test_same_seed_same_sequence() -> None:
    first = SaltCounter(random.Random(7))
    second = SaltCounter(random.Random(7))

    assert [first.next(PrivProtocol.AES) for _ in range(3)] == [
        second.next(PrivProtocol.AES) for _ in range(3)]


def test_other_seed_other_start() -> None:
    first = SaltCounter(random.Random(1)).next(PrivProtocol.AES)
    second = SaltCounter(random.Random(2)).next(PrivProtocol.AES)

    assert first != second


def test_default_start_is_random() -> None:
    # Two processes (or two nodes) with the same user must not walk the same salts. The chance
    # that two 64-bit random starts are equal is 2^-64.
    assert SaltCounter().next(PrivProtocol.AES) != SaltCounter().next(PrivProtocol.AES)


def test_counts_up_by_one() -> None:
    salts = SaltCounter(FixedBits({32: 100, 64: 5_000}))

    assert [salts.next(PrivProtocol.DES) for _ in range(3)] == [101, 102, 103]
    assert [salts.next(PrivProtocol.AES) for _ in range(3)] == [5_001, 5_002, 5_003]


def test_des_wraps_at_2_to_32() -> None:
    salts = SaltCounter(FixedBits({32: 2**32 - 2, 64: 0}))

    assert salts.next(PrivProtocol.DES) == 2**32 - 1
    assert salts.next(PrivProtocol.DES) == 0
    assert salts.next(PrivProtocol.DES) == 1


def test_aes_wraps_at_2_to_64() -> None:
    salts = SaltCounter(FixedBits({32: 0, 64: 2**64 - 2}))

    assert salts.next(PrivProtocol.AES) == 2**64 - 1
    assert salts.next(PrivProtocol.AES) == 0
    assert salts.next(PrivProtocol.AES) == 1


def test_aes_counter_passes_2_to_32() -> None:
    # The AES counter is 64 bits wide: it must not wrap where the DES one does.
    salts = SaltCounter(FixedBits({32: 0, 64: 2**32 - 1}))

    assert salts.next(PrivProtocol.AES) == 2**32


def test_des_and_aes_counters_independent() -> None:
    salts = SaltCounter(FixedBits({32: 10, 64: 1_000}))

    salts.next(PrivProtocol.DES)
    salts.next(PrivProtocol.DES)
    aes = salts.next(PrivProtocol.AES)
    salts.next(PrivProtocol.AES)
    des = salts.next(PrivProtocol.DES)

    assert aes == 1_001
    assert des == 13


@pytest.mark.parametrize("protocol", AES_PROTOCOLS, ids=lambda p: p.value)
def test_aes_variants_share_one_counter(protocol: PrivProtocol) -> None:
    # One 64-bit counter for every AES key size: the salt only has to differ under one key.
    salts = SaltCounter(FixedBits({32: 0, 64: 40}))

    assert salts.next(PrivProtocol.AES) == 41
    assert salts.next(protocol) == 42
    assert salts.next(PrivProtocol.AES) == 43


@pytest.mark.parametrize("seed", range(20))
def test_salts_stay_in_range(seed: int) -> None:
    salts = SaltCounter(random.Random(seed))

    for _ in range(100):
        assert 0 <= salts.next(PrivProtocol.DES) < 2**32
        assert 0 <= salts.next(PrivProtocol.AES256C) < 2**64


def test_salts_do_not_repeat_in_a_run() -> None:
    salts = SaltCounter(FixedBits({32: 2**32 - 500, 64: 2**64 - 500}))

    des = [salts.next(PrivProtocol.DES) for _ in range(1_000)]
    aes = [salts.next(PrivProtocol.AES) for _ in range(1_000)]

    assert len(set(des)) == len(des)
    assert len(set(aes)) == len(aes)
