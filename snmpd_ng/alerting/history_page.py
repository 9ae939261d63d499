"""Pages of the whole alert history, newest first, for the HTTP API's `GET /api/v1/history`.

A page is addressed by a cursor, the smallest entry id of the previous page, rather than by an
offset: entries are only ever appended, so a cursor page stays the same while new entries
arrive, and the store walks its ids instead of skipping entries.
"""

from __future__ import annotations

from dataclasses import dataclass

from snmpd_ng.alerting.history import HistoryEntry

MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class HistoryPage:
    entries: list[HistoryEntry]
    """Newest first."""
    next_before: int | None
    """The cursor of the next (older) page, or None when this page is the last."""


def check_page_limit(limit: int) -> None:
    """Raise ValueError for a page size outside 1 to MAX_PAGE_SIZE."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"invalid limit {limit}: allowed 1 to {MAX_PAGE_SIZE}")
