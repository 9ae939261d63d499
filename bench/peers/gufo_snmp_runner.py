"""Benchmark runner for gufo-snmp's asyncio client (a Rust core behind a Python API)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from common import AsyncPeer, Settings, main
from gufo.snmp.aio.client import SnmpSession
from gufo_snmp_user import SECURITIES, session_options


class GufoSnmpPeer(AsyncPeer):
    name = "gufo-snmp"
    package = "gufo-snmp"
    securities = SECURITIES

    async def open(self, settings: Settings) -> None:
        self._settings = settings
        self._session = await self._open_session()

    async def _open_session(self) -> SnmpSession:
        # For SNMPv3, entering the session discovers the engine and its time.
        session = SnmpSession(self._settings.host, port=self._settings.port,
                              timeout=self._settings.timeout,
                              max_repetitions=self._settings.max_repetitions,
                              **session_options(self._settings))  # type: ignore[arg-type]
        await session.__aenter__()
        return session

    async def walk(self, oid: str) -> int:
        count = 0
        async for _oid, _value in self._session.getbulk(oid):
            count += 1
        return count

    async def get(self, oids: Sequence[str]) -> int:
        return len(await self._session.get_many(oids))

    async def get_in_flight(self, oids: Sequence[str], count: int, concurrency: int) -> None:
        # One session owns one socket and reads it for one response at a time, so requests in
        # flight need a session each.
        if not hasattr(self, "_workers"):
            self._workers = [await self._open_session() for _ in range(concurrency)]
        remaining = [count]

        async def worker(session: SnmpSession) -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                await session.get_many(oids)

        await asyncio.gather(*(worker(session) for session in self._workers[:concurrency]))


if __name__ == "__main__":
    main(GufoSnmpPeer())
