"""Tests of the Manager's operations against the scripted agent."""

from __future__ import annotations

import asyncio
import re
from typing import Any

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
    runner_for,
    with_agent,
)

from snmpd_ng import (
    NO_SUCH_OBJECT,
    BudgetExceeded,
    ErrorStatusError,
    InvalidRequestError,
    Manager,
    OctetString,
    RequestTimeout,
    Secret,
    SnmpVersion,
    Target,
    TargetStats,
    TimeTicks,
    TransportError,
    VarBind,
)
from snmpd_ng.protocol.pdu import BulkPdu, ErrorStatus, PduType

SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
TABLE = (1, 3, 6, 1, 4, 1, 99999, 1)
VALUES: dict[tuple[int, ...], Any] = {
    SYS_UPTIME: TimeTicks(42),
    SYS_NAME: OctetString(b"host"),
    **{(*TABLE, index): TimeTicks(index) for index in range(1, 31)},
}


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Runner:
    """Run a coroutine on asyncio's loop and, as a second case, on uvloop's."""
    return runner_for(request.param)




class TestGet:
    def test_get_accepts_text_and_tuples(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.get(target, ["1.3.6.1.2.1.1.5.0", SYS_UPTIME])

        assert run(with_agent(MibScript(VALUES), action)) == [
            VarBind(SYS_NAME, OctetString(b"host")), VarBind(SYS_UPTIME, TimeTicks(42))]

    def test_get_sends_one_datagram(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            await manager.get(target, [SYS_NAME, SYS_UPTIME])
            return len(agent.requests)

        assert run(with_agent(MibScript(VALUES), action)) == 1

    def test_get_split_by_max_varbinds(self, run: Runner) -> None:
        names = [(*TABLE, index) for index in range(1, 26)]

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            values = await manager.get(target, names)
            return values, [len(request.oids) for request in agent.requests]

        values, sizes = run(with_agent(MibScript(VALUES), action, max_varbinds_per_request=10))
        assert [varbind.oid for varbind in values] == names
        assert sorted(sizes) == [5, 10, 10]

    def test_get_v2c_missing_oid_is_exception_value(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.get(target, [(1, 3, 6, 1, 4, 1, 99999, 9, 0)])

        assert run(with_agent(MibScript(VALUES), action))[0].value is NO_SUCH_OBJECT

    def test_get_over_ipv6(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.get(target, [SYS_NAME])

        assert run(with_agent(MibScript(VALUES), action, host="::1"))[0].value == b"host"

    def test_get_by_dns_name(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            named = Target("localhost", agent.port, source_address="127.0.0.1", timeout=0.2)
            return await manager.get(named, [SYS_NAME])

        assert run(with_agent(MibScript(VALUES), action))[0].value == b"host"

    def test_genErr_raises_error_status_error(self, run: Runner) -> None:
        def script(request: Request) -> list[Reply]:
            return reply(request, request.pdu.varbinds, error_status=ErrorStatus.GEN_ERR,
                         error_index=2)

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            with pytest.raises(ErrorStatusError) as caught:
                await manager.get(target, [SYS_NAME, SYS_UPTIME])
            return caught.value, manager.stats(target)

        error, stats = run(with_agent(script, action))
        assert error.status_name == "genErr"
        assert error.index == 2
        assert error.oid == SYS_UPTIME
        assert "1.3.6.1.2.1.1.3.0" in str(error)
        assert stats.error_status == {"genErr": 1}


class TestGetNextAndBulk:
    def test_get_next_returns_successors(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.get_next(target, [SYS_UPTIME, (*TABLE, 3)])

        values = run(with_agent(MibScript(VALUES), action))
        assert [varbind.oid for varbind in values] == [SYS_NAME, (*TABLE, 4)]

    def test_get_bulk_uses_target_repetitions(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            values = await manager.get_bulk(target, [TABLE])
            pdu = agent.requests[0].pdu
            assert isinstance(pdu, BulkPdu)
            return values, pdu.max_repetitions

        values, repetitions = run(with_agent(MibScript(VALUES), action, max_repetitions=7))
        assert repetitions == 7
        assert len(values) == 7

    def test_get_bulk_non_repeaters(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.get_bulk(target, [SYS_UPTIME, TABLE], non_repeaters=1,
                                          max_repetitions=3)

        values = run(with_agent(MibScript(VALUES), action))
        assert [varbind.oid for varbind in values] == [SYS_NAME, *((*TABLE, i) for i in (1, 2, 3))]

    def test_get_bulk_over_v1_is_invalid(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            await manager.get_bulk(target, [TABLE])

        with pytest.raises(InvalidRequestError, match="SNMPv1"):
            run(with_agent(MibScript(VALUES), action, version=SnmpVersion.V1))

    def test_negative_repetitions_are_invalid(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            await manager.get_bulk(target, [TABLE], max_repetitions=-1)

        with pytest.raises(InvalidRequestError, match="max_repetitions"):
            run(with_agent(MibScript(VALUES), action))


class TestSet:
    def test_set_sends_values(self, run: Runner) -> None:
        def script(request: Request) -> list[Reply]:
            return reply(request, request.pdu.varbinds)

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            values = await manager.set(target, [VarBind(SYS_NAME, OctetString(b"new"))])
            return values, agent.requests[0]

        values, request = run(with_agent(script, action))
        assert request.pdu.pdu_type == PduType.SET
        assert values == [VarBind(SYS_NAME, OctetString(b"new"))]

    def test_set_not_writable_raises(self, run: Runner) -> None:
        def script(request: Request) -> list[Reply]:
            return reply(request, request.pdu.varbinds, error_status=ErrorStatus.NOT_WRITABLE,
                         error_index=1)

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            await manager.set(target, [VarBind(SYS_NAME, OctetString(b"new"))])

        with pytest.raises(ErrorStatusError, match="notWritable"):
            run(with_agent(script, action))


class TestWalk:
    def test_walk_yields_subtree(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return [varbind async for varbind in manager.walk(target, TABLE)]

        assert len(run(with_agent(MibScript(VALUES), action))) == 30

    def test_walk_v1_uses_getnext(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            result = await manager.walk_all(target, TABLE)
            return result, {request.pdu.pdu_type for request in agent.requests}

        result, types = run(with_agent(MibScript(VALUES), action, version=SnmpVersion.V1))
        assert len(result.varbinds) == 30
        assert types == {PduType.GET_NEXT}

    def test_walk_deadline_covers_whole_walk(self, run: Runner) -> None:
        table = MibScript(VALUES)

        def slow(request: Request) -> list[Reply]:
            return [(0.03, datagram, source) for _, datagram, source in table(request)]

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            deadline = asyncio.get_running_loop().time() + 0.1
            return await manager.walk_all(target, TABLE, method="getnext", deadline=deadline)

        result = run(with_agent(slow, action, timeout=1.0))
        assert isinstance(result.error, BudgetExceeded)
        assert 1 <= len(result.varbinds) <= 4

    def test_invalid_method_raises(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.walk_all(target, TABLE, method="fast")  # type: ignore[arg-type]

        assert isinstance(run(with_agent(MibScript(VALUES), action)).error, InvalidRequestError)


class TestStats:
    def test_stats_of_unused_target_are_zero(self) -> None:
        assert Manager().stats(Target("127.0.0.1")) == TargetStats()

    def test_stats_snapshot_does_not_change(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            await manager.get(target, [SYS_NAME])
            snapshot = manager.stats(target)
            await manager.get(target, [SYS_NAME])
            return snapshot, manager.stats(target)

        snapshot, later = run(with_agent(MibScript(VALUES), action))
        assert snapshot.requests == 1
        assert later.requests == 2

    def test_equal_targets_share_state(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            await manager.get(target, [SYS_NAME])
            twin = Target(target.host, target.port, timeout=target.timeout,
                          retries=target.retries)
            return manager.stats(twin).requests

        assert run(with_agent(MibScript(VALUES), action)) == 1

    def test_global_stats_add_up_targets(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            other = Target(target.host, target.port, name="other", timeout=0.2)
            await manager.get(target, [SYS_NAME])
            await manager.get(other, [SYS_NAME])
            return manager.global_stats()

        stats = run(with_agent(MibScript(VALUES), action))
        assert stats.targets == 2
        assert stats.requests == 2
        assert stats.in_flight == 0

    def test_global_stats_include_kernel_drops(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            await manager.get(target, [SYS_NAME])
            return manager.global_stats().receive_buffer_drops

        assert run(with_agent(MibScript(VALUES), action)) == 0

    def test_forget_drops_target(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            await manager.get(target, [SYS_NAME])
            manager.forget(target)
            return manager.stats(target), manager.global_stats().targets

        stats, targets = run(with_agent(MibScript(VALUES), action))
        assert stats.requests == 0
        assert targets == 0


class TestArguments:
    def test_bad_oid_text_is_invalid(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            await manager.get(target, ["1.3.six"])

        with pytest.raises(InvalidRequestError, match="six"):
            run(with_agent(MibScript(VALUES), action))

    def test_string_instead_of_list_is_invalid(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            # A str is a Sequence of OID texts to the type checker; only the manager rejects it.
            await manager.get(target, "1.3.6.1")

        with pytest.raises(InvalidRequestError, match="list of OIDs"):
            run(with_agent(MibScript(VALUES), action))

    def test_invalid_target_setting(self) -> None:
        # Target checks its settings when it is built, before anything can be sent with them.
        with pytest.raises(ValueError, match="timeout 0 s must be above 0"):
            Target("127.0.0.1", 1161, timeout=0)

    @pytest.mark.parametrize(("settings", "message"), [
        ({"port": 0}, "port 0 is outside 1..65535"),
        ({"retries": -3}, "retries -3 must be 0 or more"),
        ({"max_repetitions": 0}, "max_repetitions 0 is outside"),
        ({"backoff": 0.5}, "backoff 0.5 must be 1.0 or more"),
        ({"max_in_flight": 0}, "max_in_flight 0 must be 1 or more"),
    ])
    def test_target_rejects_bad_settings(self, settings: dict[str, Any], message: str) -> None:
        with pytest.raises(ValueError, match=re.escape(message)):
            Target("127.0.0.1", **settings)

    def test_v3_without_user_is_refused(self) -> None:
        with pytest.raises(ValueError, match="SNMPv3 needs a USM user"):
            Target("127.0.0.1", 161, version=SnmpVersion.V3)

    def test_closed_manager_raises(self, run: Runner) -> None:
        async def body() -> None:
            manager = Manager()
            await manager.get(Target("127.0.0.1"), [SYS_NAME])

        with pytest.raises(InvalidRequestError, match="not open"):
            run(body())

    def test_manager_closed_during_request(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            waiting = asyncio.ensure_future(manager.get(target, [SYS_NAME]))
            await asyncio.sleep(0.02)
            await manager.close()
            await waiting

        with pytest.raises(TransportError):
            run(with_agent(lambda request: [], action, timeout=5.0))


class TestWalkLogging:
    def test_walk_stopped_logged_once_a_minute(self, run: Runner) -> None:
        """A silent target stops every walk; the log says so once, the result every time."""

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return [await manager.walk_all(target, "1.3.6.1.2.1.2") for _ in range(3)]

        with structlog.testing.capture_logs() as logs:
            results = run(with_agent(lambda request: [], action, timeout=0.05, retries=0))
        assert [result.complete for result in results] == [False, False, False]
        assert len([entry for entry in logs if entry["event"] == "walk stopped"]) == 1


class TestSecrets:
    def test_community_never_logged_or_raised(self, run: Runner) -> None:
        def script(request: Request) -> list[Reply]:
            return reply(request, [], community=b"other")

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            with pytest.raises(RequestTimeout) as caught:
                await manager.get(target, [SYS_NAME])
            return caught.value

        with structlog.testing.capture_logs() as logs:
            error = run(with_agent(script, action, community=Secret("s3cr3t-community"),
                                   retries=0))
        assert "s3cr3t-community" not in str(error)
        assert "s3cr3t-community" not in repr(logs)


class TestSocketBuffers:
    def test_buffer_sizes_reach_socket(self, run: Runner) -> None:
        size = 128 * 1024

        async def body() -> None:
            async with FakeAgent(MibScript(VALUES)) as agent:
                target = Target(agent.host, agent.port, timeout=0.2, retries=1)
                async with Manager(receive_buffer_size=size, send_buffer_size=size) as manager:
                    await manager.get(target, [SYS_NAME])

        with structlog.testing.capture_logs() as logs:
            run(body())
        opened = [entry for entry in logs if entry["event"] == "socket opened"]
        assert opened[0]["receive_buffer_bytes"] == size
        assert opened[0]["send_buffer_bytes"] == size
