"""Benchmark runner for pysnmp 7 (pure Python, asyncio high-level API, MIB lookup off)."""

from __future__ import annotations

from collections.abc import Sequence

from common import AsyncPeer, BenchError, Settings, main

# pysnmp ships no type information.
from pysnmp.hlapi.v3arch.asyncio import (  # type: ignore[import-untyped]
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    bulk_walk_cmd,
    get_cmd,
)


class PysnmpPeer(AsyncPeer):
    name = "pysnmp"
    package = "pysnmp"

    async def open(self, settings: Settings) -> None:
        self._engine = SnmpEngine()
        # mpModel=1 is SNMPv2c.
        self._auth = CommunityData(settings.community, mpModel=1)
        self._transport = await UdpTransportTarget.create((settings.host, settings.port),
                                                          timeout=settings.timeout, retries=0)
        self._context = ContextData()
        self._max_repetitions = settings.max_repetitions

    async def walk(self, oid: str) -> int:
        count = 0
        walk = bulk_walk_cmd(self._engine, self._auth, self._transport, self._context,
                             0, self._max_repetitions, ObjectType(ObjectIdentity(oid)),
                             lookupMib=False, lexicographicMode=False)
        async for error, status, _index, varbinds in walk:
            if error or status:
                raise BenchError(f"walk of {oid} failed: {error or status}")
            count += len(varbinds)
        return count

    async def get(self, oids: Sequence[str]) -> int:
        objects = [ObjectType(ObjectIdentity(oid)) for oid in oids]
        error, status, _index, varbinds = await get_cmd(
            self._engine, self._auth, self._transport, self._context, *objects, lookupMib=False)
        if error or status:
            raise BenchError(f"GET failed: {error or status}")
        return len(varbinds)

    async def close(self) -> None:
        self._engine.close_dispatcher()


if __name__ == "__main__":
    main(PysnmpPeer())
