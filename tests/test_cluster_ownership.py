"""Tests of the local lease table (snmpd_ng.cluster.ownership): claims and draining."""

from __future__ import annotations

from snmpd_ng.cluster.ownership import Ownership

TTL = 10.0
WINDOW = 3.0
MAX_DRAIN = 10.0


def holding(*targets: str, now: float = 0.0) -> Ownership:
    """An ownership that desires and holds `targets` with fresh leases."""
    ownership = Ownership("a", margin=1.0)
    ownership.set_desired(targets)
    ownership.apply(list(targets), [1] * len(targets), [], sent_at=now, ttl=TTL)
    return ownership


def never_quiet(target: str, window: float) -> bool:
    return False


def always_quiet(target: str, window: float) -> bool:
    return True


def test_draining_target_kept_until_quiet() -> None:
    ownership = holding("r1")
    ownership.set_desired([])

    hold, release = ownership.to_request(1.0, never_quiet, WINDOW, MAX_DRAIN)

    assert (hold, release) == (["r1"], [])


def test_draining_target_released_when_quiet() -> None:
    ownership = holding("r1")
    ownership.set_desired([])

    hold, release = ownership.to_request(1.0, always_quiet, WINDOW, MAX_DRAIN)

    assert (hold, release) == ([], ["r1"])


def test_draining_target_with_poll_in_flight_kept() -> None:
    ownership = holding("r1")
    claim = ownership.claim("r1", budget=1.0, now=0.5)
    assert claim is not None
    ownership.set_desired([])

    _, release = ownership.to_request(1.0, always_quiet, WINDOW, MAX_DRAIN)

    assert release == []


def test_draining_target_released_after_max_drain() -> None:
    ownership = holding("r1")
    ownership.set_desired([])
    ownership.to_request(1.0, never_quiet, WINDOW, MAX_DRAIN)

    _, release = ownership.to_request(1.0 + MAX_DRAIN, never_quiet, WINDOW, MAX_DRAIN)

    assert release == ["r1"]


def test_draining_target_still_claimable() -> None:
    ownership = holding("r1")
    ownership.set_desired([])

    assert ownership.claim("r1", budget=1.0, now=1.0) is not None


def test_target_desired_again_stops_draining() -> None:
    ownership = holding("r1")
    ownership.set_desired([])
    ownership.to_request(1.0, never_quiet, WINDOW, MAX_DRAIN)
    ownership.set_desired(["r1"])

    _, release = ownership.to_request(1.0 + MAX_DRAIN, always_quiet, WINDOW, MAX_DRAIN)

    assert release == []


def test_claim_refused_when_lease_too_short() -> None:
    ownership = holding("r1")

    # 10 s of lease left, against a budget of 9.5 s plus the margin of 1 s.
    assert ownership.claim("r1", budget=9.5, now=0.0) is None


def test_claim_refused_without_lease_is_counted() -> None:
    ownership = Ownership("a", margin=1.0)
    ownership.set_desired(["r1"])

    ownership.claim("r1", budget=1.0, now=0.0)

    assert ownership.refused_claims == 1
