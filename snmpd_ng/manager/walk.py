"""Walk state: which columns are still open, and where each one continues.

A walk requests the successors of one OID per open column, with GETNEXT or GETBULK. RFC 3416
sections 4.2.2 and 4.2.3 require each returned OID to be the lexicographic successor of the one
it follows, so for each column:

- a varbind inside the column's subtree and above the last OID returned is a row;
- endOfMibView, or an OID past the subtree, ends the column (its later entries in the same
  GETBULK response are not rows, and the column is not requested again). An endOfMibView sent
  with content octets (`82 01 00`) decodes as a MalformedValue that keeps its meaning, so it ends
  the column too. The transport counts it as a malformed value. noSuchObject and noSuchInstance,
  bare or with content, are rows like any other value when their OID is in order;
- an OID not above the one requested is an agent error: the walk stops with WalkError naming
  both OIDs, unless the target tolerates a number of them. A tolerated one is skipped and the
  column continues from it, but only OIDs above the highest row become rows, so a cycle never
  repeats a row and ends when the tolerance is used up.

A GETBULK response with non-repeaters 0 contains the columns side by side, row after row, so
varbind i belongs to requested column i modulo the number of columns requested. A walk with
more open columns than fit in one request asks for them in parts, and each response is sorted
against the columns of its own request.

The single-column loop does one comparison and two identity tests per varbind: it checks that
the OIDs increase and that the value is neither endOfMibView nor malformed, and compares only the
last one with the end of the subtree. The rest runs only where a column ends, a value is
malformed or the agent misbehaves.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from snmpd_ng.manager.errors import SnmpError, WalkError
from snmpd_ng.protocol.oid import Oid, format_oid
from snmpd_ng.protocol.values import END_OF_MIB_VIEW, MalformedValue, SnmpValue, VarBind
from snmpd_ng.transport.logger import get_logger

_log = get_logger("snmpd_ng.manager")

# Outcomes of one varbind of a walk response.
_ROW = "row"
_END = "end"
_SKIP = "skip"


@dataclass(slots=True)
class WalkResult:
    """The rows of a walk, whether it reached the end of every column, and what stopped it."""

    varbinds: list[VarBind] = field(default_factory=list)
    complete: bool = True
    error: SnmpError | None = None


def _oid_of(varbind: VarBind) -> Oid:
    return varbind[0]


def is_end_of_mib_view(value: SnmpValue) -> bool:
    """Tell whether `value` is endOfMibView, bare or sent with content octets."""
    if value is END_OF_MIB_VIEW:
        return True
    return isinstance(value, MalformedValue) and value.value is END_OF_MIB_VIEW


def subtree_end(root: Oid) -> Oid:
    """Return the smallest OID above every OID of the subtree rooted at `root`."""
    return (*root[:-1], root[-1] + 1)


class WalkState:
    """The open columns of one walk and the counts its limits apply to."""

    __slots__ = ("active", "batches", "current", "ends", "highest", "label", "max_requests",
                 "max_varbinds", "requests", "resume", "roots", "rows", "tolerance")

    def __init__(self, roots: list[Oid], *, label: str, tolerance: int, max_requests: int,
                 max_varbinds: int) -> None:
        self.roots = roots
        self.ends = [subtree_end(root) for root in roots]
        self.highest = list(roots)
        """Highest OID returned as a row, per column (the root before the first row)."""
        # BER cannot encode an OID of one arc, so a walk of ".1" starts after 1.0, which is
        # never an object (RFC 2578 section 3.5 assigns no object to it).
        self.resume = [root if len(root) > 1 else (*root, 0) for root in roots]
        """The OID to send in the next request, per column (its successor comes back)."""
        self.active = list(range(len(roots)))
        self.batches: list[list[VarBind]] = []
        self.current: list[VarBind] = []
        """Rows of the response being sorted, so that an error in its middle keeps them."""
        self.rows = 0
        self.requests = 0
        self.label = label
        self.tolerance = tolerance
        self.max_requests = max_requests
        self.max_varbinds = max_varbinds

    def next_request(self, columns: list[int] | None = None) -> list[Oid]:
        """Count one more request against the limit and return the OIDs to send in it.

        `columns` are the open columns the request contains, every open column by default.
        """
        self.requests += 1
        if self.requests > self.max_requests:
            raise self.error(f"walk stopped after {self.max_requests} requests "
                              "(the target's max_walk_requests)")
        return [self.resume[column] for column in (self.active if columns is None else columns)]

    def parts(self, size: int) -> list[list[int]]:
        """Split the open columns into requests of at most `size` columns each."""
        active = self.active
        if len(active) <= size:
            return [list(active)]
        return [active[start:start + size] for start in range(0, len(active), size)]

    def gathered(self) -> list[VarBind]:
        """Return every row so far, in the order they came."""
        return [varbind for batch in (*self.batches, self.current) for varbind in batch]

    def end_column(self, column: int) -> None:
        """Close `column`, a column number as in `parts()` (SNMPv1 noSuchName on it)."""
        if column in self.active:
            self.active.remove(column)

    def end_all(self) -> None:
        """Close every column."""
        self.active.clear()

    def absorb(self, varbinds: list[VarBind], columns: list[int] | None = None) -> list[VarBind]:
        """Sort one response into rows and column ends; return the rows.

        `columns` are the columns the request asked for, every open column by default.
        """
        if columns is None:
            columns = self.active
        if len(columns) == 1:
            rows = self._absorb_single(columns[0], varbinds)
        else:
            rows = self._absorb_from(columns, varbinds, 0, [])
        self.current = []
        if rows:
            self.batches.append(rows)
            self.rows += len(rows)
            if self.rows > self.max_varbinds:
                raise self.error(f"walk stopped after {self.max_varbinds} varbinds "
                                  "(the target's max_walk_varbinds)")
        return rows

    def _absorb_single(self, column: int, varbinds: list[VarBind]) -> list[VarBind]:
        highest = self.highest[column]
        count = 0
        for oid, value in varbinds:
            # A malformed value may be an endOfMibView with content: _classify decides.
            if highest < oid and value is not END_OF_MIB_VIEW and (
                    value.__class__ is not MalformedValue):
                highest = oid
                count += 1
                continue
            break
        end = self.ends[column]
        if highest >= end:
            # The OIDs so far increase, so those inside the subtree come first.
            count = bisect.bisect_left(varbinds, end, hi=count, key=_oid_of)
            highest = varbinds[count - 1][0] if count else self.highest[column]
        self.highest[column] = highest
        if count == len(varbinds) and count:
            self.resume[column] = highest
            return varbinds
        if count:
            self.resume[column] = highest
        return self._absorb_from([column], varbinds, count, varbinds[:count])

    def _absorb_from(self, columns: list[int], varbinds: list[VarBind], start: int,
                     rows: list[VarBind]) -> list[VarBind]:
        self.current = rows
        if not varbinds:
            # An empty response would be asked again forever, so it ends the walk.
            self.end_all()
            return rows
        width = len(columns)
        ended: set[int] = set()
        for position in range(start, len(varbinds)):
            column = columns[position % width]
            if column in ended:
                continue
            outcome = self._classify(column, varbinds[position])
            if outcome is _ROW:
                rows.append(varbinds[position])
            elif outcome is _END:
                ended.add(column)
        if ended:
            self.active = [column for column in self.active if column not in ended]
        return rows

    def _classify(self, column: int, varbind: VarBind) -> str:
        """Decide whether a varbind is a row, ends its column, or is skipped; raise on an error."""
        oid, value = varbind
        requested = self.resume[column]
        is_end = is_end_of_mib_view(value)
        if self.highest[column] < oid < self.ends[column] and not is_end:
            self.highest[column] = oid
            self.resume[column] = oid
            return _ROW
        if is_end or oid >= self.ends[column]:
            return _END
        if oid <= requested:
            self._tolerate(requested, oid)
        # A tolerated step back, or a step forward that is not yet above the highest row.
        self.resume[column] = oid
        return _SKIP

    def _tolerate(self, requested: Oid, returned: Oid) -> None:
        if self.tolerance <= 0:
            raise self.error(
                f"OID not increasing: {format_oid(requested)} was followed by "
                f"{format_oid(returned)}", requested=requested, returned=returned)
        self.tolerance -= 1
        _log.warning("non-increasing OID skipped", target=self.label,
                     requested=format_oid(requested), returned=format_oid(returned),
                     tolerance_left=self.tolerance)

    def error(self, message: str, *, requested: Oid | None = None,
              returned: Oid | None = None) -> WalkError:
        """Build a WalkError that carries the target's label and the rows so far."""
        return WalkError(message, target=self.label, varbinds=self.gathered(),
                         requested=requested, returned=returned)
