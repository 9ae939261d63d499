"""Tests of the manager against net-snmp's snmpd, checked against net-snmp's own tools."""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from agents import NetSnmpAgent
from fakeagent import LOOPS, Runner, runner_for

from snmpd_ng import (
    NO_SUCH_INSTANCE,
    NO_SUCH_NAME,
    NO_SUCH_OBJECT,
    Counter32,
    Counter64,
    ErrorStatusError,
    Gauge32,
    Integer32,
    IpAddress,
    Manager,
    ObjectIdentifier,
    OctetString,
    RequestTimeout,
    Secret,
    SnmpVersion,
    Target,
    TimeTicks,
    VarBind,
    format_oid,
)
from snmpd_ng.manager import OidLike, WalkResult

SYSTEM = (1, 3, 6, 1, 2, 1, 1)
SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
SYS_LOCATION = (1, 3, 6, 1, 2, 1, 1, 6, 0)
IF_DESCR_99 = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2, 99)
IF_NAME = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1)
UNREGISTERED = (1, 3, 6, 1, 4, 1, 99998, 1, 0)

# Subtrees whose rows differ between two walks: each walker's own sockets and processes.
MOVING_SUBTREES = (
    "1.3.6.1.2.1.6.", "1.3.6.1.2.1.7.", "1.3.6.1.2.1.25.4.", "1.3.6.1.2.1.25.5.",
    "1.3.6.1.2.1.4.31.", "1.3.6.1.2.1.5.", "1.3.6.1.2.1.11.",
    # NET-SNMP-AGENT-MIB's nsCacheTable: the agent adds a row when a walk fills one of its
    # caches, so the rows differ between two walks on a busy machine.
    "1.3.6.1.4.1.8072.1.5.3.",
)


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Runner:
    """Run a coroutine on asyncio's loop and, as a second case, on uvloop's."""
    return runner_for(request.param)


def target_of(agent: NetSnmpAgent, community: str = "public", **fields: Any) -> Target:
    return Target(agent.host, agent.port, community=Secret(community), **fields)


async def walk_column(agent: NetSnmpAgent, column: OidLike, manager: Manager) -> WalkResult:
    return await manager.walk_all(target_of(agent, "system"), column)


async def with_manager(action: Callable[[Manager], Awaitable[Any]]) -> Any:
    async with Manager() as manager:
        return await action(manager)


def netsnmp_walk(agent: NetSnmpAgent, *args: str) -> dict[str, str]:
    """Return {oid: "TYPE: value"} from a net-snmp walk tool with -On."""
    returncode, output, errors = agent.run_netsnmp(*args)
    assert returncode == 0, errors
    entries: dict[str, str] = {}
    last = ""
    for line in output.splitlines():
        if " = " in line and line.startswith("."):
            oid, text = line[1:].split(" = ", 1)
            if text.startswith("No more variables left"):
                # endOfMibView after the last row: net-snmp prints it under that row's OID.
                last = ""
                continue
            last = oid
            entries[last] = text
        elif last:
            entries[last] += "\n" + line
    return entries


def netsnmp_text(value: object) -> str | None:
    """Format a value as net-snmp 5.9 prints it with -On and no MIBs, or None to skip it."""
    if isinstance(value, Counter32):
        return f"Counter32: {int(value)}"
    if isinstance(value, Counter64):
        return f"Counter64: {int(value)}"
    if isinstance(value, Gauge32):
        return f"Gauge32: {int(value)}"
    if isinstance(value, TimeTicks):
        return f"Timeticks: ({int(value)})"
    if isinstance(value, Integer32):
        return f"INTEGER: {int(value)}"
    if isinstance(value, ObjectIdentifier):
        return f"OID: .{format_oid(value)}"
    if isinstance(value, IpAddress):
        return f"IpAddress: {value}"
    if isinstance(value, OctetString):
        return "".join(f"{octet:02X}" for octet in value)
    return None


def normalise_netsnmp(text: str) -> str | None:
    """Reduce net-snmp's text to what netsnmp_text produces, or None to skip it."""
    if text.startswith("Timeticks: "):
        return text.split(")")[0] + ")"
    if text.startswith("Hex-STRING: "):
        return re.sub(r"\s+", "", text[len("Hex-STRING: "):])
    if text == '""':
        return ""
    if text.startswith('STRING: "') and '\\' not in text:
        return "".join(f"{octet:02X}" for octet in text[len('STRING: "'):-1].encode())
    if text.startswith(("STRING", "Opaque", "Network Address")):
        return None
    return text


class TestAgainstNetSnmp:
    def test_get_matches_snmpget(self, run: Runner, snmpd_agent: NetSnmpAgent) -> None:
        values = run(with_manager(lambda manager: manager.get(
            target_of(snmpd_agent), [SYS_DESCR, SYS_NAME])))
        returncode, output, _ = snmpd_agent.run_netsnmp(
            "snmpget", "-v2c", "-c", "public", "-Oqv", format_oid(SYS_DESCR), format_oid(SYS_NAME))
        assert returncode == 0
        expected = [line.strip('"') for line in output.splitlines()]
        assert [bytes(varbind.value).decode() for varbind in values] == expected

    def test_full_walk_matches_snmpbulkwalk(self, run: Runner,
                                            snmpd_agent: NetSnmpAgent) -> None:
        before = netsnmp_walk(snmpd_agent, "snmpbulkwalk", "-v2c", "-c", "public", "-On", ".1")
        result = run(with_manager(lambda manager: manager.walk_all(
            target_of(snmpd_agent), (1,))))
        after = netsnmp_walk(snmpd_agent, "snmpbulkwalk", "-v2c", "-c", "public", "-On", ".1")

        assert result.complete is True
        ours = {format_oid(varbind.oid): varbind.value for varbind in result.varbinds}
        stable = {oid: text for oid, text in before.items()
                  if after.get(oid) == text and not oid.startswith(MOVING_SUBTREES)}
        assert len(stable) > 3000
        missing = sorted(oid for oid in stable if oid not in ours)
        assert missing == []
        unknown = sorted(oid for oid in ours if oid not in before and oid not in after
                         and not oid.startswith(MOVING_SUBTREES))
        assert unknown == []
        different = []
        for oid, text in stable.items():
            expected = normalise_netsnmp(text)
            actual = netsnmp_text(ours[oid])
            if expected is not None and actual is not None and actual != expected:
                different.append((oid, text, actual))
        assert different == []

    def test_walk_order_is_increasing(self, run: Runner, snmpd_agent: NetSnmpAgent) -> None:
        result = run(with_manager(lambda manager: manager.walk_all(
            target_of(snmpd_agent), (1, 3, 6, 1, 2, 1), method="getnext")))
        oids = [varbind.oid for varbind in result.varbinds]
        assert oids == sorted(oids)
        assert len(set(oids)) == len(oids)

    def test_ipv6_get(self, run: Runner, snmpd_agent: NetSnmpAgent) -> None:
        if snmpd_agent.ipv6_host is None:
            pytest.skip("no IPv6 loopback on this machine")
        target = Target(snmpd_agent.ipv6_host, snmpd_agent.port)
        values = run(with_manager(lambda manager: manager.get(target, [SYS_NAME])))
        assert isinstance(values[0].value, OctetString)


class TestViewEnd:
    """SC-02 and SC-03 on a community whose view ends after the system group."""

    def test_getnext_walk_ends_at_view(self, run: Runner, snmpd_agent: NetSnmpAgent) -> None:
        result = run(with_manager(lambda manager: manager.walk_all(
            target_of(snmpd_agent, "system"), (1, 3, 6, 1, 2, 1), method="getnext")))
        expected = netsnmp_walk(snmpd_agent, "snmpwalk", "-v2c", "-c", "system", "-On",
                                ".1.3.6.1.2.1")
        assert result.complete is True
        assert [format_oid(varbind.oid) for varbind in result.varbinds] == list(expected)

    def test_bulk_walk_ends_at_view(self, run: Runner, snmpd_agent: NetSnmpAgent) -> None:
        result = run(with_manager(lambda manager: manager.walk_all(
            target_of(snmpd_agent, "system"), (1, 3, 6, 1, 2, 1), max_repetitions=25)))
        expected = netsnmp_walk(snmpd_agent, "snmpwalk", "-v2c", "-c", "system", "-On",
                                ".1.3.6.1.2.1")
        assert result.complete is True
        assert [format_oid(varbind.oid) for varbind in result.varbinds] == list(expected)

    def test_two_column_bulk_walk_at_view_end(self, run: Runner,
                                              snmpd_agent: NetSnmpAgent) -> None:
        columns: list[OidLike] = [(*SYSTEM, 9, 1, 3), (*SYSTEM, 9, 1, 4)]
        result = run(with_manager(lambda manager: manager.walk_all(
            target_of(snmpd_agent, "system"), columns, max_repetitions=4)))
        single = [run(with_manager(functools.partial(walk_column, snmpd_agent, column)))
                  for column in columns]
        assert result.complete is True
        assert sorted(result.varbinds) == sorted(single[0].varbinds + single[1].varbinds)

    def test_walk_of_leaf_gets_root(self, run: Runner, snmpd_agent: NetSnmpAgent) -> None:
        result = run(with_manager(lambda manager: manager.walk_all(
            target_of(snmpd_agent, "system"), SYS_NAME)))
        assert [varbind.oid for varbind in result.varbinds] == [SYS_NAME]

    def test_v2c_walk_of_absent_oid_yields_no_such_object(self, run: Runner,
                                                         snmpd_agent: NetSnmpAgent) -> None:
        result = run(with_manager(lambda manager: manager.walk_all(
            target_of(snmpd_agent), (*SYSTEM, 99))))
        assert result.varbinds == [VarBind((*SYSTEM, 99), NO_SUCH_OBJECT)]


class TestSnmpV1:
    """SC-04 against snmpd: noSuchName ends a walk and drops one varbind of a GET."""

    def test_v1_walk_ends_at_view(self, run: Runner, snmpd_agent: NetSnmpAgent) -> None:
        result = run(with_manager(lambda manager: manager.walk_all(
            target_of(snmpd_agent, "system", version=SnmpVersion.V1), (1, 3, 6, 1, 2, 1))))
        expected = netsnmp_walk(snmpd_agent, "snmpwalk", "-v1", "-c", "system", "-On",
                                ".1.3.6.1.2.1")
        assert result.complete is True
        assert [format_oid(varbind.oid) for varbind in result.varbinds] == list(expected)

    def test_v1_get_with_one_unknown_oid(self, run: Runner, snmpd_agent: NetSnmpAgent) -> None:
        values = run(with_manager(lambda manager: manager.get(
            target_of(snmpd_agent, version=SnmpVersion.V1), [SYS_NAME, IF_DESCR_99])))
        assert values[0].oid == SYS_NAME
        assert isinstance(values[0].value, OctetString)
        assert values[1] == VarBind(IF_DESCR_99, NO_SUCH_NAME)

    def test_v1_walk_of_absent_oid_is_empty(self, run: Runner,
                                            snmpd_agent: NetSnmpAgent) -> None:
        result = run(with_manager(lambda manager: manager.walk_all(
            target_of(snmpd_agent, version=SnmpVersion.V1), (*SYSTEM, 99))))
        assert result.varbinds == []
        assert result.complete is True


class TestExceptionsAndBulk:
    def test_get_with_exceptions_succeeds(self, run: Runner, snmpd_agent: NetSnmpAgent) -> None:
        values = run(with_manager(lambda manager: manager.get(
            target_of(snmpd_agent), [SYS_NAME, IF_DESCR_99, UNREGISTERED])))
        assert isinstance(values[0].value, OctetString)
        assert values[1].value is NO_SUCH_INSTANCE
        assert values[2].value is NO_SUCH_OBJECT

    def test_bulk_128_repetitions(self, run: Runner, snmpd_agent: NetSnmpAgent) -> None:
        # max-repetitions 128 is encoded as 02 02 00 80; a wrong 02 01 80 reads as -128, which
        # the agent treats as 0, so no rows come back.
        values = run(with_manager(lambda manager: manager.get_bulk(
            target_of(snmpd_agent), [IF_NAME], max_repetitions=128)))
        returncode, output, _ = snmpd_agent.run_netsnmp(
            "snmpbulkget", "-v2c", "-c", "public", "-On", "-Cr128", format_oid(IF_NAME))
        assert returncode == 0
        # The test agent's configuration raises snmpd's cap of 100 varbinds per GETBULK response.
        assert len(values) == len(output.splitlines())
        assert len(values) == 128


class TestSetAndErrors:
    def test_set_and_read_back(self, run: Runner, snmpd_agent: NetSnmpAgent) -> None:
        writer = target_of(snmpd_agent, "private")

        async def action(manager: Manager) -> tuple[Any, Any]:
            original = (await manager.get(writer, [SYS_LOCATION]))[0].value
            await manager.set(writer, [VarBind(SYS_LOCATION, OctetString(b"rack 7"))])
            changed = (await manager.get(writer, [SYS_LOCATION]))[0].value
            await manager.set(writer, [VarBind(SYS_LOCATION, original)])
            return changed, (await manager.get(writer, [SYS_LOCATION]))[0].value == original

        changed, restored = run(with_manager(action))
        assert changed == b"rack 7"
        assert restored is True

    def test_set_read_only_object_fails(self, run: Runner, snmpd_agent: NetSnmpAgent) -> None:
        async def action(manager: Manager) -> None:
            await manager.set(target_of(snmpd_agent, "private"),
                              [VarBind(SYS_DESCR, OctetString(b"x"))])

        with pytest.raises(ErrorStatusError, match="notWritable"):
            run(with_manager(action))

    def test_unknown_community_times_out(self, run: Runner, snmpd_agent: NetSnmpAgent) -> None:
        target = target_of(snmpd_agent, "not-a-community", timeout=0.1, retries=1)

        async def action(manager: Manager) -> None:
            await manager.get(target, [SYS_NAME])

        with pytest.raises(RequestTimeout) as caught:
            run(with_manager(action))
        assert "not-a-community" not in str(caught.value)

    def test_concurrent_gets_share_socket(self, run: Runner, snmpd_agent: NetSnmpAgent) -> None:
        target = target_of(snmpd_agent, max_in_flight=50)

        async def action(manager: Manager) -> Any:
            results = await asyncio.gather(*(manager.get(target, [SYS_NAME]) for _ in range(200)))
            return results, manager.stats(target)

        results, stats = run(with_manager(action))
        assert len(results) == 200
        assert stats.responses == 200
        assert stats.unknown_request_id == 0
