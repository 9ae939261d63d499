"""Walk every recorded device served by snmpsim and compare the result with the recording itself.

The CLI tests compare our output with net-snmp's for the same simulator; these compare the
manager's decoded varbinds with the recording file, so neither net-snmp nor our formatter is
between the data and the check.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Literal

import pytest
import uvloop
from agents import DeviceSimulator, Record

from snmpd_ng import Manager, Secret, SnmpVersion, Target
from snmpd_ng.protocol.oid import parse_oid
from snmpd_ng.protocol.values import (
    NULL,
    Counter32,
    Counter64,
    Gauge32,
    Integer32,
    IpAddress,
    ObjectIdentifier,
    OctetString,
    Opaque,
    SnmpValue,
    TimeTicks,
)

_NUMBER_TYPES: dict[str, type[int]] = {
    "2": Integer32, "65": Counter32, "66": Gauge32, "67": TimeTicks, "70": Counter64,
}


def expected_value(record: Record) -> SnmpValue:
    """Return the value snmpsim serves for one recording line (snmpsim's type tags)."""
    tag, is_hex = record.type_tag.rstrip("x"), record.type_tag.endswith("x")
    # snmpsim 1.2 strips the whitespace that ends a line, so apc_netbotz's sysDescr, which ends
    # with a space in the file, is served without it.
    raw = bytes.fromhex(record.value) if is_hex else record.value.rstrip().encode("ascii")
    if tag in _NUMBER_TYPES:
        return _NUMBER_TYPES[tag](int(raw))  # type: ignore[return-value]
    if tag == "4":
        return OctetString(raw)
    if tag == "5":
        return NULL
    if tag == "6":
        return ObjectIdentifier(parse_oid(raw.decode("ascii")))
    if tag == "64":
        return IpAddress(raw if is_hex else ipaddress.IPv4Address(raw.decode("ascii")).packed)
    if tag == "68":
        return Opaque(raw)
    raise AssertionError(f"recording type {record.type_tag!r} has no expected value here")


WalkMethod = Literal["getnext", "getbulk"]


async def walk_device(simulator: DeviceSimulator, device: str,
                      method: WalkMethod) -> list[tuple[tuple[int, ...], SnmpValue]]:
    target = Target(simulator.host, simulator.port, version=SnmpVersion.V2C,
                    community=Secret(device), timeout=2.0, retries=2, max_repetitions=25)
    async with Manager() as manager:
        result = await manager.walk_all(target, (1,), method=method)
    assert result.complete, f"{device}: walk stopped early: {result.error}"
    return [(varbind.oid, varbind.value) for varbind in result.varbinds]


@pytest.mark.parametrize("method", ["getbulk", "getnext"])
def test_walk_returns_every_recorded_varbind(device_simulator: DeviceSimulator,
                                             method: WalkMethod) -> None:
    for device in device_simulator.devices:
        records = sorted(device_simulator.recordings[device], key=lambda record: record.oid)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            walked = runner.run(walk_device(device_simulator, device, method))

        assert [oid for oid, _ in walked] == [record.oid for record in records], device
        for (oid, value), record in zip(walked, records, strict=True):
            expected = expected_value(record)
            assert type(value) is type(expected), (device, oid, value, expected)
            assert value == expected, (device, oid)
