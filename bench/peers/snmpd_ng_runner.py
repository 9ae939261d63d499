"""Benchmark runner for snmpd_ng's manager, through its public API on uvloop.

The same runner measures the pure-Python codec and the mypyc build: bench/run.py puts a compiled
copy of the package first on PYTHONPATH and sets BENCH_EXPECTED_BUILD to "mypyc". The runner names
itself after the build it imported and fails when that is not the expected one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace

import structlog
from common import AsyncPeer, BenchError, Settings, main
from security import PROFILES_BY_KEY

import snmpd_ng.protocol
from snmpd_ng import Manager, Secret, SnmpVersion, Target
from snmpd_ng.manager import AuthProtocol, PrivProtocol, UsmUser

EXPECTED_BUILD_VARIABLE = "BENCH_EXPECTED_BUILD"
"""Codec build ("python" or "mypyc") that bench/run.py expects this runner to import."""


class SnmpdNgPeer(AsyncPeer):
    name = "snmpd_ng"
    package = "snmpd-ng"
    securities = frozenset(PROFILES_BY_KEY)

    async def open(self, settings: Settings) -> None:
        self._settings = settings
        self._manager = Manager()
        await self._manager.open()
        self._target = self._make_target(in_flight=1)

    def _make_target(self, in_flight: int) -> Target:
        settings = self._settings
        # retries=0: the packet check counts every request once.
        target = Target(settings.host, port=settings.port, timeout=settings.timeout, retries=0,
                        max_repetitions=settings.max_repetitions, max_in_flight=in_flight)
        user = usm_user(settings)
        if user is None:
            return replace(target, community=Secret(settings.community))
        return replace(target, version=SnmpVersion.V3, usm=user)

    async def walk(self, oid: str) -> int:
        result = await self._manager.walk_all(self._target, oid)
        if result.error is not None:
            raise BenchError(f"walk of {oid} failed: {result.error}")
        return len(result.varbinds)

    async def get(self, oids: Sequence[str]) -> int:
        return len(await self._manager.get(self._target, oids))

    async def get_in_flight(self, oids: Sequence[str], count: int, concurrency: int) -> None:
        # A target lets max_in_flight of its requests wait for a response at once.
        target = self._make_target(in_flight=concurrency)
        remaining = [count]

        async def worker() -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                await self._manager.get(target, oids)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def close(self) -> None:
        await self._manager.close()


def usm_user(settings: Settings) -> UsmUser | None:
    """Return the SNMPv3 user of the settings' security profile, or None for SNMPv2c."""
    profile, passphrases = settings.security, settings.passphrases
    if not profile.is_v3 or passphrases is None:
        return None
    # The profiles use net-snmp's spellings, which are also the values of these enums.
    return UsmUser(profile.user, AuthProtocol(profile.auth_protocol), Secret(passphrases.auth),
                   PrivProtocol(profile.priv_protocol), Secret(passphrases.priv))


def check_build() -> str:
    """Return the codec build imported, or exit 1 when it is not the one bench/run.py expects.

    A compiled copy that fails to import falls back silently to the checkout's .py files, and
    its figures would then be reported as the compiled build's.
    """
    build = "mypyc" if snmpd_ng.protocol.COMPILED else "python"
    expected = os.environ.get(EXPECTED_BUILD_VARIABLE, build)
    if build != expected:
        print(f"snmpd_ng runner imported the {build} codec from "
              f"{snmpd_ng.protocol.__file__}, expected the {expected} build; "
              "check that the compiled copy is first on PYTHONPATH",
              file=sys.stderr)
        sys.exit(1)
    return build


if __name__ == "__main__":
    # The manager logs its start and stop at INFO; keep stdout for the result line.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    peer = SnmpdNgPeer()
    if check_build() == "mypyc":
        peer.name = "snmpd_ng (mypyc)"
    main(peer)
