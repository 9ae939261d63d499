"""Benchmark runner for ezsnmp 2 (net-snmp's C library behind a C++ and Python wrapper)."""

from __future__ import annotations

from collections.abc import Sequence

from common import Settings, SyncPeer, main
from ezsnmp import Session  # type: ignore[import-untyped]  # ezsnmp ships no type information


class EzsnmpPeer(SyncPeer):
    name = "ezsnmp"
    package = "ezsnmp"

    def open(self, settings: Settings) -> None:
        # ezsnmp counts a timeout in whole seconds and passes it to net-snmp's `-t`.
        self._session = Session(hostname=settings.host, port_number=settings.port, version=2,
                                community=settings.community, retries=0,
                                timeout=max(1, round(settings.timeout)),
                                print_oids_numerically=True,
                                set_max_repeaters_to_num=settings.max_repetitions)

    def walk(self, oid: str) -> int:
        return len(self._session.bulk_walk(oid))

    def get(self, oids: Sequence[str]) -> int:
        return len(self._session.get(list(oids)))

    def close(self) -> None:
        self._session.close()


if __name__ == "__main__":
    main(EzsnmpPeer())
