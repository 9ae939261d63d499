"""The simulated agents' view in bench/responder.py: GET, GETNEXT and GETBULK semantics."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# bench/ is a folder of scripts, not a package.
sys.path.append(str(Path(__file__).resolve().parent.parent / "bench"))

from responder import IF_ENTRY, MAX_RESPONSE_VARBINDS, SYSTEM, View

from snmpd_ng.protocol.pdu import BulkPdu
from snmpd_ng.protocol.values import (
    END_OF_MIB_VIEW,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    NULL,
    Counter32,
    OctetString,
    TimeTicks,
    VarBind,
)

IF_DESCR = (*IF_ENTRY, 2)
IF_IN_OCTETS = (*IF_ENTRY, 10)
LAST_OID = (*IF_ENTRY, 20, 4)
"""ifOutErrors of the last row, with four interfaces."""


@pytest.fixture
def view() -> View:
    return View(interfaces=4, started=0.0)


def _bulk(view: View, non_repeaters: int, max_repetitions: int,
          *oids: tuple[int, ...]) -> list[VarBind]:
    request = BulkPdu(1, non_repeaters, max_repetitions, [VarBind(oid, NULL) for oid in oids])
    return view.bulk(request)


def test_get_returns_fixed_and_clock_values(view: View) -> None:
    assert view.get((*SYSTEM, 5, 0)) == OctetString(b"bench")
    assert isinstance(view.get((*SYSTEM, 3, 0)), TimeTicks)
    assert isinstance(view.get((*IF_IN_OCTETS, 2)), Counter32)


def test_get_missing_instance_of_known_object(view: View) -> None:
    assert view.get((*IF_DESCR, 99)) is NO_SUCH_INSTANCE


def test_get_unknown_object(view: View) -> None:
    assert view.get((1, 3, 6, 1, 4, 1, 99999, 0)) is NO_SUCH_OBJECT


def test_next_returns_following_oid(view: View) -> None:
    varbind = view.next((*IF_DESCR, 4))

    assert varbind.oid == (*IF_ENTRY, 3, 1)


def test_next_after_last_oid_is_end_of_view(view: View) -> None:
    varbind = view.next(LAST_OID)

    assert varbind.oid == LAST_OID
    assert varbind.value is END_OF_MIB_VIEW


def test_bulk_repeats_columns_row_by_row(view: View) -> None:
    varbinds = _bulk(view, 1, 2, (*SYSTEM, 5), IF_DESCR, IF_IN_OCTETS)

    assert [varbind.oid for varbind in varbinds] == [
        (*SYSTEM, 5, 0),
        (*IF_DESCR, 1), (*IF_IN_OCTETS, 1),
        (*IF_DESCR, 2), (*IF_IN_OCTETS, 2),
    ]


def test_bulk_stops_at_end_of_view(view: View) -> None:
    varbinds = _bulk(view, 0, 10, LAST_OID)

    assert len(varbinds) == 1
    assert varbinds[0].value is END_OF_MIB_VIEW


def test_bulk_caps_response_size() -> None:
    large = View(interfaces=200, started=0.0)

    varbinds = _bulk(large, 0, 1000, IF_DESCR, IF_IN_OCTETS)

    # Whole rows of two columns, as many as fit.
    assert len(varbinds) == MAX_RESPONSE_VARBINDS - MAX_RESPONSE_VARBINDS % 2
