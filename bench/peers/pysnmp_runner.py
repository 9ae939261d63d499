"""Benchmark runner for pysnmp 7 (pure Python, asyncio high-level API, MIB lookup off)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from common import AsyncPeer, BenchError, Settings, main

# pysnmp ships no type information.
from pysnmp.hlapi.v3arch.asyncio import (  # type: ignore[import-untyped]
    USM_AUTH_HMAC192_SHA256,
    USM_AUTH_HMAC384_SHA512,
    USM_PRIV_CFB128_AES,
    USM_PRIV_CFB256_AES_BLUMENTHAL,
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_walk_cmd,
    get_cmd,
)
from security import PROFILES_BY_KEY

# pysnmp's protocol objects by net-snmp's spelling. net-snmp's AES-256 extends the key as the
# Blumenthal draft does; pysnmp's USM_PRIV_CFB256_AES is the Reeder (Cisco) extension.
AUTH_PROTOCOLS = {"SHA-256": USM_AUTH_HMAC192_SHA256, "SHA-512": USM_AUTH_HMAC384_SHA512}
PRIV_PROTOCOLS = {"AES": USM_PRIV_CFB128_AES, "AES-256": USM_PRIV_CFB256_AES_BLUMENTHAL}


class PysnmpPeer(AsyncPeer):
    name = "pysnmp"
    package = "pysnmp"
    securities = frozenset(PROFILES_BY_KEY)

    async def open(self, settings: Settings) -> None:
        self._engine = SnmpEngine()
        self._auth = authentication(settings)
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


def authentication(settings: Settings) -> Any:
    """Return pysnmp's CommunityData for SNMPv2c, or UsmUserData for an SNMPv3 profile."""
    profile, passphrases = settings.security, settings.passphrases
    if not profile.is_v3 or passphrases is None:
        # mpModel=1 is SNMPv2c.
        return CommunityData(settings.community, mpModel=1)
    return UsmUserData(profile.user, passphrases.auth, passphrases.priv,
                       authProtocol=AUTH_PROTOCOLS[profile.auth_protocol],
                       privProtocol=PRIV_PROTOCOLS[profile.priv_protocol])


if __name__ == "__main__":
    main(PysnmpPeer())
