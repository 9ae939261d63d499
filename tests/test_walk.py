"""Tests of the walk state: rows, column ends, non-increasing OIDs and limits, without a network."""

from __future__ import annotations

import pytest

from snmpd_ng import (
    END_OF_MIB_VIEW,
    NO_SUCH_INSTANCE,
    Integer32,
    MalformedValue,
    VarBind,
    WalkError,
)
from snmpd_ng.manager.walk import WalkState, is_end_of_mib_view, subtree_end

ROOT = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
OTHER = (1, 3, 6, 1, 2, 1, 2, 2, 1, 3)
THIRD = (1, 3, 6, 1, 2, 1, 2, 2, 1, 4)

# endOfMibView and noSuchInstance sent with one content octet, as the decoder returns them.
FLAGGED_END = MalformedValue(0x82, bytes.fromhex("820100"), "content octets", END_OF_MIB_VIEW)
FLAGGED_NO_SUCH_INSTANCE = MalformedValue(0x81, bytes.fromhex("810100"), "content octets",
                                          NO_SUCH_INSTANCE)


def state(*roots: tuple[int, ...], tolerance: int = 0, max_requests: int = 1000,
          max_varbinds: int = 1000) -> WalkState:
    return WalkState(list(roots), label="agent", tolerance=tolerance, max_requests=max_requests,
                     max_varbinds=max_varbinds)


def row(*oid: int) -> VarBind:
    return VarBind(tuple(oid), Integer32(1))


class TestSubtreeEnd:
    def test_increments_last_arc(self) -> None:
        assert subtree_end((1, 3, 6)) == (1, 3, 7)

    def test_every_descendant_is_below(self) -> None:
        assert subtree_end((1, 3, 6)) > (1, 3, 6, 4294967295, 9)

    def test_next_sibling_is_not_below(self) -> None:
        assert not subtree_end((1, 3, 6)) > (1, 3, 7)


class TestSingleColumn:
    def test_rows_inside_subtree_are_kept(self) -> None:
        walk = state(ROOT)
        rows = [row(*ROOT, 1), row(*ROOT, 2)]
        assert walk.absorb(rows) == rows
        assert walk.active == [0]

    def test_next_request_continues_after_last_row(self) -> None:
        walk = state(ROOT)
        walk.absorb([row(*ROOT, 1), row(*ROOT, 2)])
        assert walk.next_request() == [(*ROOT, 2)]

    def test_oid_past_subtree_ends_column(self) -> None:
        walk = state(ROOT)
        assert walk.absorb([row(*ROOT, 1), row(*OTHER, 1), row(*OTHER, 2)]) == [row(*ROOT, 1)]
        assert walk.active == []

    def test_first_oid_past_subtree_ends_column(self) -> None:
        walk = state(ROOT)
        assert walk.absorb([row(*OTHER, 1), row(*OTHER, 2)]) == []
        assert walk.active == []

    def test_entries_after_subtree_end_are_not_rows(self) -> None:
        walk = state(ROOT)
        rows = walk.absorb([row(*ROOT, 1), row(*ROOT, 2), row(*OTHER, 1), row(*ROOT, 3)])
        assert rows == [row(*ROOT, 1), row(*ROOT, 2)]
        assert walk.active == []

    def test_end_of_mib_view_ends_column(self) -> None:
        walk = state(ROOT)
        rows = walk.absorb([row(*ROOT, 1), VarBind((*ROOT, 1), END_OF_MIB_VIEW)])
        assert rows == [row(*ROOT, 1)]
        assert walk.active == []

    def test_other_exception_is_a_row(self) -> None:
        walk = state(ROOT)
        varbind = VarBind((*ROOT, 1), NO_SUCH_INSTANCE)
        assert walk.absorb([varbind]) == [varbind]

    def test_end_of_mib_view_with_content_ends_column(self) -> None:
        walk = state(ROOT)
        rows = walk.absorb([row(*ROOT, 1), VarBind((*ROOT, 1), FLAGGED_END)])
        assert rows == [row(*ROOT, 1)]
        assert walk.active == []

    def test_flagged_end_in_order_is_not_row(self) -> None:
        walk = state(ROOT)
        rows = walk.absorb([row(*ROOT, 1), VarBind((*ROOT, 2), FLAGGED_END), row(*ROOT, 3)])
        assert rows == [row(*ROOT, 1)]
        assert walk.active == []

    def test_other_exception_with_content_is_a_row(self) -> None:
        walk = state(ROOT)
        varbind = VarBind((*ROOT, 1), FLAGGED_NO_SUCH_INSTANCE)
        assert walk.absorb([varbind, row(*ROOT, 2)]) == [varbind, row(*ROOT, 2)]
        assert walk.active == [0]

    def test_malformed_value_in_order_is_a_row(self) -> None:
        walk = state(ROOT)
        flagged = VarBind((*ROOT, 2), MalformedValue(0x41, b"\x41\x01\x80", "no pad", 128))
        rows = walk.absorb([row(*ROOT, 1), flagged, row(*ROOT, 3)])
        assert rows == [row(*ROOT, 1), flagged, row(*ROOT, 3)]
        assert walk.next_request() == [(*ROOT, 3)]

    def test_empty_response_ends_walk(self) -> None:
        walk = state(ROOT)
        assert walk.absorb([]) == []
        assert walk.active == []

    def test_repeat_raises_with_both_oids(self) -> None:
        walk = state(ROOT)
        walk.absorb([row(*ROOT, 1)])
        with pytest.raises(WalkError) as caught:
            walk.absorb([row(*ROOT, 2), row(*ROOT, 2)])
        assert caught.value.requested == (*ROOT, 2)
        assert caught.value.returned == (*ROOT, 2)

    def test_error_carries_rows_before_bad_oid(self) -> None:
        walk = state(ROOT)
        walk.absorb([row(*ROOT, 1)])
        with pytest.raises(WalkError) as caught:
            walk.absorb([row(*ROOT, 2), row(*ROOT, 1)])
        assert caught.value.varbinds == [row(*ROOT, 1), row(*ROOT, 2)]

    def test_oid_before_root_raises(self) -> None:
        walk = state(ROOT)
        with pytest.raises(WalkError):
            walk.absorb([row(1, 3, 6, 1)])

    def test_tolerated_step_back_is_skipped(self) -> None:
        walk = state(ROOT, tolerance=1)
        rows = walk.absorb([row(*ROOT, 1), row(*ROOT, 3), row(*ROOT, 2), row(*ROOT, 4)])
        assert rows == [row(*ROOT, 1), row(*ROOT, 3), row(*ROOT, 4)]

    def test_tolerance_is_used_up(self) -> None:
        walk = state(ROOT, tolerance=1)
        with pytest.raises(WalkError):
            walk.absorb([row(*ROOT, 3), row(*ROOT, 2), row(*ROOT, 1)])

    def test_after_step_back_request_continues_from_it(self) -> None:
        walk = state(ROOT, tolerance=1)
        walk.absorb([row(*ROOT, 3), row(*ROOT, 2)])
        assert walk.next_request() == [(*ROOT, 2)]


class TestSeveralColumns:
    def test_rows_are_assigned_round_robin(self) -> None:
        walk = state(ROOT, OTHER)
        rows = walk.absorb([row(*ROOT, 1), row(*OTHER, 1), row(*ROOT, 2), row(*OTHER, 2)])
        assert len(rows) == 4
        assert walk.next_request() == [(*ROOT, 2), (*OTHER, 2)]

    def test_one_column_ends_other_continues(self) -> None:
        walk = state(ROOT, OTHER)
        rows = walk.absorb([row(*ROOT, 1), row(*OTHER, 1), row(*OTHER, 1), row(*OTHER, 2)])
        assert rows == [row(*ROOT, 1), row(*OTHER, 1), row(*OTHER, 2)]
        assert walk.next_request() == [(*OTHER, 2)]

    def test_ended_column_trailing_entries_are_not_rows(self) -> None:
        walk = state(ROOT, OTHER)
        rows = walk.absorb([VarBind((*ROOT, 9), END_OF_MIB_VIEW), row(*OTHER, 1),
                            row(*ROOT, 5), row(*OTHER, 2)])
        assert rows == [row(*OTHER, 1), row(*OTHER, 2)]

    def test_end_column_by_number(self) -> None:
        walk = state(ROOT, OTHER, THIRD)
        walk.end_column(1)
        assert walk.next_request() == [ROOT, THIRD]

    def test_flagged_end_ends_its_column(self) -> None:
        walk = state(ROOT, OTHER)
        rows = walk.absorb([VarBind(ROOT, FLAGGED_END), row(*OTHER, 1)])
        assert rows == [row(*OTHER, 1)]
        assert walk.active == [1]


class TestParts:
    def test_columns_that_fit_make_one_part(self) -> None:
        assert state(ROOT, OTHER, THIRD).parts(3) == [[0, 1, 2]]

    def test_columns_split_by_size(self) -> None:
        assert state(ROOT, OTHER, THIRD).parts(2) == [[0, 1], [2]]

    def test_next_request_for_part(self) -> None:
        walk = state(ROOT, OTHER, THIRD)
        assert walk.next_request([2]) == [THIRD]

    def test_absorb_part_sorts_by_its_columns(self) -> None:
        walk = state(ROOT, OTHER, THIRD)
        rows = walk.absorb([row(*OTHER, 1), row(*THIRD, 1), row(*OTHER, 2), row(*THIRD, 2)],
                           [1, 2])
        assert len(rows) == 4
        assert walk.next_request() == [ROOT, (*OTHER, 2), (*THIRD, 2)]

    def test_part_column_end_keeps_other_columns(self) -> None:
        walk = state(ROOT, OTHER, THIRD)
        walk.absorb([VarBind((*THIRD, 1), END_OF_MIB_VIEW)], [2])
        assert walk.active == [0, 1]


class TestIsEndOfMibView:
    def test_bare_value(self) -> None:
        assert is_end_of_mib_view(END_OF_MIB_VIEW) is True

    def test_with_content(self) -> None:
        assert is_end_of_mib_view(FLAGGED_END) is True

    def test_other_exception_with_content(self) -> None:
        assert is_end_of_mib_view(FLAGGED_NO_SUCH_INSTANCE) is False

    def test_data_value(self) -> None:
        assert is_end_of_mib_view(Integer32(1)) is False


class TestLimits:
    def test_request_limit(self) -> None:
        walk = state(ROOT, max_requests=2)
        walk.next_request()
        walk.next_request()
        with pytest.raises(WalkError, match="max_walk_requests"):
            walk.next_request()

    def test_varbind_limit(self) -> None:
        walk = state(ROOT, max_varbinds=2)
        with pytest.raises(WalkError, match="max_walk_varbinds"):
            walk.absorb([row(*ROOT, 1), row(*ROOT, 2), row(*ROOT, 3)])
