"""Tests of the weighted rendezvous assignment (snmpd_ng.cluster.assignment)."""

from __future__ import annotations

from collections import Counter

from snmpd_ng.cluster.assignment import Member, assign, eligible_members, owner, uniform

TARGETS = [f"router-{i:04d}" for i in range(3000)]


def test_uniform_is_inside_open_interval() -> None:
    values = [uniform("node-a", target) for target in TARGETS]

    assert min(values) > 0.0
    assert max(values) < 1.0


def test_uniform_is_stable_for_the_same_pair() -> None:
    assert uniform("node-a", "router-1") == uniform("node-a", "router-1")


def test_owner_of_no_nodes_is_none() -> None:
    assert owner("router-1", []) is None


def test_assign_gives_every_target_an_owner() -> None:
    result = assign(TARGETS, [("a", 1.0), ("b", 1.0), ("c", 1.0)])

    assert set(result) == set(TARGETS)


def test_assign_does_not_depend_on_node_order() -> None:
    forward = assign(TARGETS, [("a", 1.0), ("b", 1.0), ("c", 1.0)])
    backward = assign(TARGETS, [("c", 1.0), ("b", 1.0), ("a", 1.0)])

    assert forward == backward


def test_assign_spreads_equal_capacities_evenly() -> None:
    counts = Counter(assign(TARGETS, [("a", 1.0), ("b", 1.0), ("c", 1.0)]).values())

    # 1,000 expected each; 3 standard deviations of a binomial(3000, 1/3) is about 77.
    assert all(900 <= count <= 1100 for count in counts.values()), counts


def test_assign_follows_capacity_weights() -> None:
    counts = Counter(assign(TARGETS, [("a", 2.0), ("b", 1.0)]).values())

    # 2,000 and 1,000 expected.
    assert 1900 <= counts["a"] <= 2100, counts


def test_removing_a_node_moves_only_its_targets() -> None:
    before = assign(TARGETS, [("a", 1.0), ("b", 1.0), ("c", 1.0)])
    after = assign(TARGETS, [("a", 1.0), ("c", 1.0)])

    moved = {target for target in TARGETS if before[target] != after[target]}

    assert moved == {target for target in TARGETS if before[target] == "b"}


def test_adding_a_node_takes_targets_only_for_itself() -> None:
    before = assign(TARGETS, [("a", 1.0), ("b", 1.0)])
    after = assign(TARGETS, [("a", 1.0), ("b", 1.0), ("c", 1.0)])

    moved_elsewhere = [t for t in TARGETS if before[t] != after[t] and after[t] != "c"]

    assert moved_elsewhere == []


DELAY_MS = 5000


def member(node_id: str, joined_ms: int) -> Member:
    return Member(node_id, joined_ms, 1.0, "hash")


def test_members_started_together_are_eligible_at_once() -> None:
    members = [member("a", 0), member("b", 400)]

    eligible = eligible_members(members, now_ms=1000, delay_ms=DELAY_MS)

    assert [m.node_id for m in eligible] == ["a", "b"]


def test_late_member_waits_join_delay() -> None:
    members = [member("a", 0), member("b", 60_000)]

    eligible = eligible_members(members, now_ms=61_000, delay_ms=DELAY_MS)

    assert [m.node_id for m in eligible] == ["a"]


def test_late_member_eligible_after_join_delay() -> None:
    members = [member("a", 0), member("b", 60_000)]

    eligible = eligible_members(members, now_ms=65_000, delay_ms=DELAY_MS)

    assert [m.node_id for m in eligible] == ["a", "b"]


def test_no_members_none_eligible() -> None:
    assert eligible_members([], now_ms=0, delay_ms=DELAY_MS) == ()
