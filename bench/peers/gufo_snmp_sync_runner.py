"""Benchmark runner for gufo-snmp's blocking client, which skips the event loop altogether."""

from __future__ import annotations

from collections.abc import Sequence

from common import Settings, SyncPeer, main
from gufo.snmp.sync.client import SnmpSession


class GufoSnmpSyncPeer(SyncPeer):
    name = "gufo-snmp (sync)"
    package = "gufo-snmp"

    def open(self, settings: Settings) -> None:
        self._session = SnmpSession(settings.host, port=settings.port,
                                    community=settings.community, timeout=settings.timeout,
                                    max_repetitions=settings.max_repetitions)
        self._session.__enter__()

    def walk(self, oid: str) -> int:
        return sum(1 for _ in self._session.getbulk(oid))

    def get(self, oids: Sequence[str]) -> int:
        return len(self._session.get_many(oids))


if __name__ == "__main__":
    main(GufoSnmpSyncPeer())
