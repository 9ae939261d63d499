"""Benchmark runner for gufo-snmp's blocking client, which skips the event loop altogether."""

from __future__ import annotations

from collections.abc import Sequence

from common import Settings, SyncPeer, main
from gufo.snmp.sync.client import SnmpSession
from gufo_snmp_user import SECURITIES, session_options


class GufoSnmpSyncPeer(SyncPeer):
    name = "gufo-snmp (sync)"
    package = "gufo-snmp"
    securities = SECURITIES

    def open(self, settings: Settings) -> None:
        self._session = SnmpSession(settings.host, port=settings.port, timeout=settings.timeout,
                                    max_repetitions=settings.max_repetitions,
                                    **session_options(settings))  # type: ignore[arg-type]
        self._session.__enter__()

    def walk(self, oid: str) -> int:
        return sum(1 for _ in self._session.getbulk(oid))

    def get(self, oids: Sequence[str]) -> int:
        return len(self._session.get_many(oids))


if __name__ == "__main__":
    main(GufoSnmpSyncPeer())
