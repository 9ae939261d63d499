"""Per-source limits of the trap receiver: the token bucket and the log gate."""

from __future__ import annotations

import pytest

from snmpd_ng.alerting.traps.limits import LogGate, SourceRateLimit

SOURCE = "192.0.2.10"
OTHER = "192.0.2.11"


def test_burst_admitted_then_dropped() -> None:
    limit = SourceRateLimit(rate=1.0, burst=3)
    assert [limit.admit(SOURCE, 0.0) for _ in range(4)] == [True, True, True, False]


def test_tokens_refill_at_rate() -> None:
    limit = SourceRateLimit(rate=2.0, burst=1)
    assert limit.admit(SOURCE, 0.0) is True
    assert limit.admit(SOURCE, 0.4) is False
    assert limit.admit(SOURCE, 0.5) is True


def test_refill_capped_at_burst() -> None:
    limit = SourceRateLimit(rate=100.0, burst=2)
    limit.admit(SOURCE, 0.0)
    assert [limit.admit(SOURCE, 1000.0) for _ in range(3)] == [True, True, False]


def test_sources_have_own_buckets() -> None:
    limit = SourceRateLimit(rate=1.0, burst=1)
    assert limit.admit(SOURCE, 0.0) is True
    assert limit.admit(OTHER, 0.0) is True


def test_forgotten_source_starts_full() -> None:
    limit = SourceRateLimit(rate=0.001, burst=1, capacity=1)
    limit.admit(SOURCE, 0.0)
    limit.admit(OTHER, 0.0)
    assert limit.admit(SOURCE, 0.0) is True


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (1.0, 0)])
def test_invalid_limit_rejected(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate"):
        SourceRateLimit(rate, burst)


def test_log_gate_admits_once_an_interval() -> None:
    gate = LogGate(interval=60.0)
    assert gate.admit("a", 0.0) == 0
    assert gate.admit("a", 30.0) is None
    assert gate.admit("a", 59.9) is None
    assert gate.admit("a", 60.0) == 2


def test_log_gate_keys_independent() -> None:
    gate = LogGate(interval=60.0)
    gate.admit("a", 0.0)
    assert gate.admit("b", 1.0) == 0


def test_log_gate_bounded() -> None:
    gate = LogGate(interval=60.0, capacity=1)
    gate.admit("a", 0.0)
    gate.admit("b", 1.0)
    assert gate.admit("a", 2.0) == 0
