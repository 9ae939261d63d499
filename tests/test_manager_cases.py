"""Field cases of agent behaviour, each tested through the manager against a scripted agent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
import structlog
from fakeagent import (
    LOOPS,
    FakeAgent,
    MibScript,
    Reply,
    Request,
    Runner,
    reply,
    response,
    runner_for,
    with_agent,
    with_request_id,
)

from snmpd_ng import (
    END_OF_MIB_VIEW,
    NO_SUCH_INSTANCE,
    NO_SUCH_NAME,
    NO_SUCH_OBJECT,
    ErrorStatusError,
    Manager,
    OctetString,
    RequestTimeout,
    SnmpVersion,
    Target,
    TimeTicks,
    VarBind,
    WalkError,
)
from snmpd_ng.manager import OidLike
from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.pdu import BulkPdu, ErrorStatus, PduType
from snmpd_ng.protocol.values import SnmpValue

IF_DESCR = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
IF_TYPE = (1, 3, 6, 1, 2, 1, 2, 2, 1, 3)
SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
SYS_OR_DESCR = (1, 3, 6, 1, 2, 1, 1, 9, 1, 3)
SYS_OR_UPTIME = (1, 3, 6, 1, 2, 1, 1, 9, 1, 4)
IF_COLUMNS: list[OidLike] = [IF_DESCR, IF_TYPE]
SYS_OR_COLUMNS: list[OidLike] = [SYS_OR_DESCR, SYS_OR_UPTIME]


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Runner:
    """Run a coroutine on asyncio's loop and, as a second case, on uvloop's."""
    return runner_for(request.param)


def hexbytes(text: str) -> bytes:
    return bytes.fromhex(text)


def if_table(rows: int = 3) -> dict[tuple[int, ...], Any]:
    values: dict[tuple[int, ...], Any] = {}
    for index in range(1, rows + 1):
        values[(*IF_DESCR, index)] = OctetString(f"eth{index}".encode())
        values[(*IF_TYPE, index)] = TimeTicks(6)
    return values


def system_group() -> dict[tuple[int, ...], Any]:
    values: dict[tuple[int, ...], Any] = {SYS_NAME: OctetString(b"host")}
    for index in range(1, 11):
        values[(*SYS_OR_DESCR, index)] = OctetString(b"x")
        values[(*SYS_OR_UPTIME, index)] = TimeTicks(0)
    return values




# ---------------------------------------------------------------------------------------------
# SC-01: an agent that repeats or cycles OIDs never makes a walk loop.


class TestNonIncreasingOids:
    def cycle_script(self) -> MibScript:
        """GETNEXT(B)->B.1, B.1->B.2, B.2->B.3, B.3->B.1 (the captured backward step)."""
        backward = hexbytes(
            "30 2D 02 01 01 04 06 70 75 62 6C 69 63 A2 20 02 02 12 34 02 01 00 02 01 00 30 14 30"
            " 12 06 0A 2B 06 01 02 01 02 02 01 02 01 04 04 65 74 68 30")

        def override(request: Request) -> list[Reply] | None:
            if request.oids == [(*IF_DESCR, 3)]:
                return [(0.0, with_request_id(backward, request.request_id), None)]
            return None

        return MibScript(if_table(), override=override)

    def test_getnext_cycle_stops_with_both_oids(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.walk_all(target, IF_DESCR, method="getnext"), agent.requests

        result, requests = run(with_agent(self.cycle_script(), action))
        error = result.error
        assert isinstance(error, WalkError)
        assert error.requested == (*IF_DESCR, 3)
        assert error.returned == (*IF_DESCR, 1)
        assert "1.3.6.1.2.1.2.2.1.2.3" in str(error)
        assert "1.3.6.1.2.1.2.2.1.2.1" in str(error)
        assert result.complete is False
        assert [varbind.oid for varbind in result.varbinds] == [(*IF_DESCR, i) for i in (1, 2, 3)]
        assert error.varbinds == result.varbinds
        assert len(requests) == 4

    def test_getnext_walk_iterator_raises(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> list[VarBind]:
            seen: list[VarBind] = []
            with pytest.raises(WalkError):
                async for varbind in manager.walk(target, IF_DESCR, method="getnext"):
                    seen.append(varbind)
            return seen

        assert len(run(with_agent(self.cycle_script(), action))) == 3

    def test_getnext_repeat_stops(self, run: Runner) -> None:
        def override(request: Request) -> list[Reply] | None:
            if request.oids == [(*IF_DESCR, 3)]:
                return reply(request, [VarBind((*IF_DESCR, 3), OctetString(b"eth3"))])
            return None

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.walk_all(target, IF_DESCR, method="getnext")

        result = run(with_agent(MibScript(if_table(), override=override), action))
        assert isinstance(result.error, WalkError)
        assert result.error.requested == result.error.returned == (*IF_DESCR, 3)

    def test_getbulk_repeated_rows_stop(self, run: Runner) -> None:
        def override(request: Request) -> list[Reply] | None:
            rows = [VarBind((*IF_DESCR, i), OctetString(b"e")) for i in (1, 2, 3)]
            rows += [VarBind((*IF_DESCR, 3), OctetString(b"e"))] * 7
            return reply(request, rows)

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.walk_all(target, IF_DESCR, method="getbulk"), agent.requests

        result, requests = run(with_agent(MibScript({}, override=override), action))
        assert isinstance(result.error, WalkError)
        assert len(result.varbinds) == 3
        assert len(requests) == 1

    def test_getbulk_second_column_cycle_stops(self, run: Runner) -> None:
        def override(request: Request) -> list[Reply] | None:
            if not isinstance(request.pdu, BulkPdu):
                return None
            return reply(request, [
                VarBind((*IF_DESCR, 1), OctetString(b"a")), VarBind((*IF_TYPE, 1), TimeTicks(6)),
                VarBind((*IF_DESCR, 2), OctetString(b"b")), VarBind((*IF_TYPE, 1), TimeTicks(6)),
            ])

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.walk_all(target, IF_COLUMNS, method="getbulk")

        result = run(with_agent(MibScript({}, override=override), action))
        assert isinstance(result.error, WalkError)
        assert result.error.returned == (*IF_TYPE, 1)
        assert [varbind.oid for varbind in result.varbinds] == [
            (*IF_DESCR, 1), (*IF_TYPE, 1), (*IF_DESCR, 2)]

    def test_getnext_second_column_cycle_stops(self, run: Runner) -> None:
        def override(request: Request) -> list[Reply] | None:
            if request.oids[1:] == [(*IF_TYPE, 2)]:
                return reply(request, [MibScript(if_table()).successor(request.oids[0]),
                                       VarBind((*IF_TYPE, 1), TimeTicks(6))])
            return None

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.walk_all(target, IF_COLUMNS, method="getnext")

        result = run(with_agent(MibScript(if_table(), override=override), action))
        assert isinstance(result.error, WalkError)
        assert result.error.requested == (*IF_TYPE, 2)

    def test_tolerance_skips_out_of_order_rows(self, run: Runner) -> None:
        # An agent with an unsorted table: 1, 3, 2, 4, then the end.
        order = [(*IF_DESCR, i) for i in (1, 3, 2, 4)]

        def override(request: Request) -> list[Reply] | None:
            asked = request.oids[0]
            position = order.index(asked) + 1 if asked in order else 0
            if position >= len(order):
                return reply(request, [VarBind(asked, END_OF_MIB_VIEW)])
            return reply(request, [VarBind(order[position], OctetString(b"e"))])

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.walk_all(target, IF_DESCR, method="getnext")

        result = run(with_agent(MibScript({}, override=override), action,
                                non_increasing_tolerance=1))
        assert result.complete is True
        assert [varbind.oid[-1] for varbind in result.varbinds] == [1, 3, 4]

    def test_tolerance_runs_out_on_repeat(self, run: Runner) -> None:
        def override(request: Request) -> list[Reply] | None:
            return reply(request, [VarBind((*IF_DESCR, 1), OctetString(b"e"))])

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.walk_all(target, IF_DESCR, method="getnext"), agent.requests

        result, requests = run(with_agent(MibScript({}, override=override), action,
                                          non_increasing_tolerance=3))
        assert isinstance(result.error, WalkError)
        assert len(requests) == 5
        assert len(result.varbinds) == 1

    def test_request_cap_stops_endless_agent(self, run: Runner) -> None:
        def override(request: Request) -> list[Reply] | None:
            return reply(request, [VarBind((*request.oids[0], 1), OctetString(b"e"))])

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.walk_all(target, IF_DESCR, method="getnext"), agent.requests

        result, requests = run(with_agent(MibScript({}, override=override), action,
                                          max_walk_requests=5))
        assert isinstance(result.error, WalkError)
        assert "max_walk_requests" in str(result.error)
        assert len(requests) == 5

    def test_varbind_cap_stops_endless_agent(self, run: Runner) -> None:
        def override(request: Request) -> list[Reply] | None:
            last = request.oids[0]
            rows = []
            for _ in range(10):
                last = (*last, 1)
                rows.append(VarBind(last, OctetString(b"e")))
            return reply(request, rows)

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.walk_all(target, IF_DESCR)

        result = run(with_agent(MibScript({}, override=override), action, max_walk_varbinds=25))
        assert isinstance(result.error, WalkError)
        assert "max_walk_varbinds" in str(result.error)


# ---------------------------------------------------------------------------------------------
# SC-02: endOfMibView ends a walk; a walk of a leaf GETs the root.


class TestEndOfMibView:
    END_VECTOR = hexbytes(
        "30 29 02 01 01 04 06 70 75 62 6C 69 63 A2 1C 02 02 12 34 02 01 00 02 01 00 30 10 30 0E"
        " 06 0A 2B 06 01 02 01 01 09 01 04 0A 82 00")

    def script(self) -> MibScript:
        def override(request: Request) -> list[Reply] | None:
            if request.oids == [(*SYS_OR_UPTIME, 10)]:
                return [(0.0, with_request_id(self.END_VECTOR, request.request_id), None)]
            return None

        return MibScript(system_group(), override=override)

    def test_end_of_mib_view_ends_getnext_walk(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.walk_all(target, (1, 3, 6, 1, 2, 1, 1), method="getnext")

        result = run(with_agent(self.script(), action))
        assert result.complete is True
        assert result.error is None
        assert result.varbinds[-1].oid == (*SYS_OR_UPTIME, 10)
        assert all(varbind.value is not END_OF_MIB_VIEW for varbind in result.varbinds)

    def test_end_of_mib_view_ends_getbulk_walk(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.walk_all(target, (1, 3, 6, 1, 2, 1))

        result = run(with_agent(MibScript(system_group()), action))
        assert result.complete is True
        assert len(result.varbinds) == 21

    def test_walk_of_leaf_gets_root(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            result = await manager.walk_all(target, SYS_NAME)
            return result, [request.pdu.pdu_type for request in agent.requests]

        result, types = run(with_agent(MibScript(system_group()), action))
        assert result.varbinds == [VarBind(SYS_NAME, OctetString(b"host"))]
        assert types[-1] == PduType.GET

    def test_walk_of_leaf_without_get_root(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.walk_all(target, SYS_NAME, get_root_if_empty=False)

        result = run(with_agent(MibScript(system_group()), action))
        assert result.varbinds == []
        assert result.complete is True


# ---------------------------------------------------------------------------------------------
# SC-03: per-column tracking in a multi-column GETBULK walk.


class TestMultiColumnBulk:
    VECTOR = hexbytes(
        "30 5C 02 01 01 04 06 70 75 62 6C 69 63 A2 4F 02 02 12 34 02 01 00 02 01 00 30 43 30 0F"
        " 06 0A 2B 06 01 02 01 01 09 01 03 0A 04 01 78 30 0F 06 0A 2B 06 01 02 01 01 09 01 04 0A"
        " 43 01 00 30 0F 06 0A 2B 06 01 02 01 01 09 01 04 01 43 01 00 30 0E 06 0A 2B 06 01 02 01"
        " 01 09 01 04 0A 82 00")

    def test_columns_end_separately(self, run: Runner) -> None:
        table = MibScript(system_group())

        def override(request: Request) -> list[Reply] | None:
            if request.oids == [(*SYS_OR_DESCR, 9), (*SYS_OR_UPTIME, 9)]:
                return [(0.0, with_request_id(self.VECTOR, request.request_id), None)]
            if request.oids == [SYS_OR_DESCR, SYS_OR_UPTIME]:
                rows = []
                for index in range(1, 10):
                    rows += [table.successor((*SYS_OR_DESCR, index - 1)),
                             table.successor((*SYS_OR_UPTIME, index - 1))]
                return reply(request, rows)
            return None

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            result = await manager.walk_all(target, SYS_OR_COLUMNS,
                                            method="getbulk", max_repetitions=9)
            return result, len(agent.requests)

        result, requests = run(with_agent(MibScript({}, override=override), action))
        assert result.complete is True
        assert len(result.varbinds) == 20
        assert result.varbinds[-2:] == [
            VarBind((*SYS_OR_DESCR, 10), OctetString(b"x")),
            VarBind((*SYS_OR_UPTIME, 10), TimeTicks(0)),
        ]
        assert requests == 2

    def test_ended_column_is_not_requested_again(self, run: Runner) -> None:
        values = system_group()
        for index in range(11, 30):
            values[(*SYS_OR_UPTIME, index)] = TimeTicks(index)

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            result = await manager.walk_all(target, SYS_OR_COLUMNS,
                                            max_repetitions=5)
            return result, [request.oids for request in agent.requests]

        result, asked = run(with_agent(MibScript(values), action))
        assert result.complete is True
        assert len(result.varbinds) == 10 + 29
        # sysORDescr ends in the third response; later requests ask for sysORUpTime alone.
        assert all(len(oids) == 1 for oids in asked[3:])
        assert len(asked[2]) == 2


    def test_gen_err_on_bulk_falls_back_to_getnext(self, run: Runner) -> None:
        # net-snmp 5.9.3 returns genErr to a two-column GETBULK at the end of a view.
        table = MibScript(system_group())

        def script(request: Request) -> list[Reply]:
            if isinstance(request.pdu, BulkPdu) and request.oids[0] == (*SYS_OR_DESCR, 8):
                return reply(request, [], error_status=ErrorStatus.GEN_ERR)
            return table(request)

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.walk_all(target, SYS_OR_COLUMNS,
                                          max_repetitions=4)

        result = run(with_agent(script, action))
        assert result.complete is True
        assert len(result.varbinds) == 20


# ---------------------------------------------------------------------------------------------
# SC-04: SNMPv1 noSuchName ends a walk; a GET with one bad varbind is sent again without it.


class TestV1NoSuchName:
    WALK_END = hexbytes(
        "30 29 02 01 00 04 06 70 75 62 6C 69 63 A2 1C 02 02 12 34 02 01 02 02 01 01 30 10 30 0E"
        " 06 0A 2B 06 01 02 01 01 09 01 04 0A 05 00")
    GET_FAILS = hexbytes(
        "30 37 02 01 00 04 06 70 75 62 6C 69 63 A2 2A 02 02 12 34 02 01 02 02 01 02 30 1E 30 0C"
        " 06 08 2B 06 01 02 01 01 05 00 05 00 30 0E 06 0A 2B 06 01 02 01 02 02 01 02 63 05 00")

    def test_no_such_name_ends_walk(self, run: Runner) -> None:
        def override(request: Request) -> list[Reply] | None:
            if request.oids == [(*SYS_OR_UPTIME, 10)]:
                return [(0.0, with_request_id(self.WALK_END, request.request_id), None)]
            return None

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.walk_all(target, SYS_OR_UPTIME)

        result = run(with_agent(MibScript(system_group(), override=override), action,
                                version=SnmpVersion.V1))
        assert result.complete is True
        assert len(result.varbinds) == 10

    def test_get_reissued_without_failed_varbind(self, run: Runner) -> None:
        missing = (*IF_DESCR, 99)

        def override(request: Request) -> list[Reply] | None:
            if request.oids == [SYS_NAME, missing]:
                return [(0.0, with_request_id(self.GET_FAILS, request.request_id), None)]
            return None

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.get(target, [SYS_NAME, missing]), agent.requests

        result, requests = run(with_agent(MibScript(system_group(), override=override), action,
                                          version=SnmpVersion.V1))
        assert result == [VarBind(SYS_NAME, OctetString(b"host")), VarBind(missing, NO_SUCH_NAME)]
        assert requests[1].oids == [SYS_NAME]

    def test_get_of_only_unknown_oids_ends(self, run: Runner) -> None:
        names = [(1, 3, 6, 1, 4, 1, 99999, index) for index in (1, 2, 3)]

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.get(target, names), len(agent.requests)

        result, requests = run(with_agent(MibScript({}), action, version=SnmpVersion.V1))
        assert [varbind.value for varbind in result] == [NO_SUCH_NAME] * 3
        assert requests == 3

    def test_error_index_zero_raises(self, run: Runner) -> None:
        def override(request: Request) -> list[Reply] | None:
            return reply(request, request.pdu.varbinds, error_status=ErrorStatus.NO_SUCH_NAME)

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            with pytest.raises(ErrorStatusError) as caught:
                await manager.get(target, [SYS_NAME])
            return caught.value, len(agent.requests)

        error, requests = run(with_agent(MibScript({}, override=override), action,
                                         version=SnmpVersion.V1))
        assert error.status_name == "noSuchName"
        assert requests == 1


# ---------------------------------------------------------------------------------------------
# SC-05: per-varbind exceptions never fail a GET.


class TestExceptionsInGet:
    VECTOR = hexbytes(
        "30 4B 02 01 01 04 06 70 75 62 6C 69 63 A2 3E 02 02 12 34 02 01 00 02 01 00 30 32 30 10"
        " 06 08 2B 06 01 02 01 01 05 00 04 04 68 6F 73 74 30 0E 06 0A 2B 06 01 02 01 02 02 01 02"
        " 63 81 00 30 0E 06 0A 2B 06 01 04 01 86 8D 1F 01 00 80 00")

    def test_exceptions_are_values(self, run: Runner) -> None:
        enterprise = (1, 3, 6, 1, 4, 1, 99999, 1, 0)

        def script(request: Request) -> list[Reply]:
            return [(0.0, with_request_id(self.VECTOR, request.request_id), None)]

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            values = await manager.get(target, [SYS_NAME, (*IF_DESCR, 99), enterprise])
            return values, manager.stats(target)

        values, stats = run(with_agent(script, action))
        assert values == [VarBind(SYS_NAME, OctetString(b"host")),
                          VarBind((*IF_DESCR, 99), NO_SUCH_INSTANCE),
                          VarBind(enterprise, NO_SUCH_OBJECT)]
        assert stats.error_status == {}


# ---------------------------------------------------------------------------------------------
# SC-14: tooBig shrinks max-repetitions or splits the varbind list, and is remembered.


def picky_agent() -> MibScript:
    """tooBig for GETBULK above 20 repetitions and for GET or GETNEXT above 10 varbinds."""
    values: dict[Oid, SnmpValue] = {(1, 3, 6, 1, 4, 1, 99999, 1, index): TimeTicks(index)
                                    for index in range(1, 101)}

    def too_big(request: Request) -> bool:
        pdu = request.pdu
        if isinstance(pdu, BulkPdu):
            return pdu.max_repetitions > 20
        return len(pdu.varbinds) > 10

    return MibScript(values, too_big=too_big)


class TestTooBig:
    NAMES: ClassVar[list[tuple[int, ...]]] = [
        (1, 3, 6, 1, 4, 1, 99999, 1, index) for index in range(1, 26)]

    def test_get_split_in_halves(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            first = await manager.get(target, self.NAMES)
            too_big_after_first = manager.stats(target).too_big
            await manager.get(target, self.NAMES)
            return first, too_big_after_first, manager.stats(target)

        values, too_big_after_first, stats = run(with_agent(picky_agent(), action))
        assert [varbind.oid for varbind in values] == self.NAMES
        assert too_big_after_first >= 1
        assert stats.too_big == too_big_after_first
        assert stats.timeouts == 0

    def test_bulk_walk_halves_repetitions(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            result = await manager.walk_all(target, (1, 3, 6, 1, 4, 1, 99999), max_repetitions=50)
            too_big_after_first = manager.stats(target).too_big
            again = await manager.walk_all(target, (1, 3, 6, 1, 4, 1, 99999), max_repetitions=50)
            return result, again, too_big_after_first, manager.stats(target)

        result, again, too_big_after_first, stats = run(with_agent(picky_agent(), action))
        assert result.complete is True
        assert len(result.varbinds) == 100
        assert too_big_after_first == 2
        assert stats.too_big == 2
        assert again.varbinds == result.varbinds

    def test_single_varbind_too_big_raises_error_status(self, run: Runner) -> None:
        def script(request: Request) -> list[Reply]:
            return reply(request, [], error_status=ErrorStatus.TOO_BIG)

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            with pytest.raises(ErrorStatusError) as caught:
                await manager.get(target, [SYS_NAME])
            return caught.value

        assert run(with_agent(script, action)).status_name == "tooBig"

    def test_captured_long_form_too_big_splits(self, run: Runner) -> None:
        too_big = hexbytes("30 82 00 1F 02 01 01 04 06 70 75 62 6C 69 63 A2 82 00 10 02 04 4A 6D"
                           " 8B 35 02 01 01 02 01 00 30 82 00 00")
        table = MibScript(system_group())

        def script(request: Request) -> list[Reply]:
            if len(request.oids) > 1:
                return [(0.0, with_request_id(too_big, request.request_id), None)]
            return table(request)

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.get(target, [SYS_NAME, (*SYS_OR_DESCR, 1)])

        values = run(with_agent(script, action))
        assert [varbind.oid for varbind in values] == [SYS_NAME, (*SYS_OR_DESCR, 1)]

    def test_minimal_too_big_on_bulk_at_one_raises(self, run: Runner) -> None:
        minimal = hexbytes("30 19 02 01 01 04 06 70 75 62 6C 69 63 A2 0C 02 02 12 34 02 01 01 02"
                           " 01 00 30 00")

        def script(request: Request) -> list[Reply]:
            return [(0.0, with_request_id(minimal, request.request_id), None)]

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            with pytest.raises(ErrorStatusError):
                await manager.get_bulk(target, [SYS_NAME], max_repetitions=4)
            return [request.pdu.max_repetitions for request in agent.requests]  # type: ignore[union-attr]

        assert run(with_agent(script, action)) == [4, 2, 1]


# ---------------------------------------------------------------------------------------------
# SC-15: a response from another address or port is dropped.


class TestUnexpectedSource:
    def from_source(self, source: Any) -> Callable[[Request], list[Reply]]:
        table = MibScript(system_group())

        def script(request: Request) -> list[Reply]:
            return [(0.0, datagram, source) for _, datagram, _ in table(request)]

        return script

    def test_other_address_times_out_with_diagnostic(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            with pytest.raises(RequestTimeout) as caught:
                await manager.get(target, [SYS_NAME])
            return caught.value, manager.stats(target), agent.port

        with structlog.testing.capture_logs() as logs:
            error, stats, port = run(with_agent(self.from_source("127.0.0.2"), action))
        assert f"unexpected address 127.0.0.2:{port}" in error.diagnostic
        assert stats.unexpected_source == 2
        assert stats.responses == 0
        warnings = [entry for entry in logs if entry["log_level"] == "warning"]
        assert len(warnings) == 1
        assert warnings[0]["kind"] == "unexpected_source"

    def test_other_port_times_out(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            with pytest.raises(RequestTimeout) as caught:
                await manager.get(target, [SYS_NAME])
            return caught.value

        error = run(with_agent(self.from_source(("127.0.0.1", 0)), action))
        assert "unexpected address 127.0.0.1:" in error.diagnostic

    def test_accept_any_source_opt_in(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.get(target, [SYS_NAME])

        values = run(with_agent(self.from_source("127.0.0.2"), action, accept_any_source=True))
        assert values == [VarBind(SYS_NAME, OctetString(b"host"))]

    def test_wrong_community_times_out_with_diagnostic(self, run: Runner) -> None:
        def script(request: Request) -> list[Reply]:
            return reply(request, [VarBind(SYS_NAME, OctetString(b"x"))], community=b"guess")

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            with pytest.raises(RequestTimeout) as caught:
                await manager.get(target, [SYS_NAME])
            return caught.value, manager.stats(target)

        error, stats = run(with_agent(script, action))
        assert "wrong community" in error.diagnostic
        assert "public" not in str(error)
        assert stats.wrong_community == 2


# ---------------------------------------------------------------------------------------------
# SC-16: late, duplicated and mismatched replies.


class TestLateAndDuplicateReplies:
    def test_late_first_reply_still_wins(self, run: Runner) -> None:
        # Timeout 0.1 s: the first reply comes at 0.15 s, the retransmission's at 0.28 s.
        def script(request: Request) -> list[Reply]:
            if request.index == 0:
                return [(0.15, response(request, [VarBind(SYS_NAME, OctetString(b"first"))]),
                         None)]
            return [(0.18, response(request, [VarBind(SYS_NAME, OctetString(b"second"))]), None)]

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            values = await manager.get(target, [SYS_NAME])
            await asyncio.sleep(0.25)
            return values, manager.stats(target)

        values, stats = run(with_agent(script, action, timeout=0.1, retries=2))
        assert values[0].value == b"first"
        assert stats.unknown_request_id == 1
        assert stats.retries == 1

    def test_duplicates_are_dropped_and_never_consumed(self, run: Runner) -> None:
        values: dict[Oid, SnmpValue] = {(1, 3, 6, 1, 4, 1, 99999, index): TimeTicks(index)
                                        for index in range(20)}
        table = MibScript(values)

        def twice(request: Request) -> list[Reply]:
            return table(request) * 2

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            results = await asyncio.gather(*(manager.get(target, [name]) for name in values))
            await asyncio.sleep(0.05)
            return results, manager.stats(target)

        results, stats = run(with_agent(twice, action, max_in_flight=20))
        assert [result[0].oid for result in results] == list(values)
        assert stats.unknown_request_id == 20
        assert stats.responses == 20

    def test_mismatched_id_then_right_one(self, run: Runner) -> None:
        def script(request: Request) -> list[Reply]:
            wrong = response(request, [VarBind(SYS_NAME, OctetString(b"wrong"))],
                             request_id=request.request_id + 1)
            right = response(request, [VarBind(SYS_NAME, OctetString(b"right"))])
            return [(0.0, wrong, None), (0.01, right, None)]

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.get(target, [SYS_NAME]), manager.stats(target)

        values, stats = run(with_agent(script, action))
        assert values[0].value == b"right"
        assert stats.unknown_request_id == 1
