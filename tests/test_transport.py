"""Tests of the transport: request-ids, framing, matching, timeouts, limits and sockets."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import MutableMapping
from pathlib import Path
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
    response,
    runner_for,
)

from snmpd_ng.protocol.errors import DecodeError, EncodeError
from snmpd_ng.protocol.message import SnmpVersion, decode_message, decode_version
from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.pdu import Pdu, PduType
from snmpd_ng.protocol.values import NULL, OctetString, SnmpValue, VarBind
from snmpd_ng.ratelimit import WarningLimiter
from snmpd_ng.transport import (
    BudgetExceeded,
    Channel,
    ChannelSettings,
    CommunityProcessing,
    RequestTimeout,
    ResolutionError,
    Transport,
    TransportError,
)
from snmpd_ng.transport.drops import read_receive_drops
from snmpd_ng.transport.endpoint import Endpoint
from snmpd_ng.transport.limit import InFlightLimit, take_both
from snmpd_ng.transport.processing import ResponseRejected, decode_inbound, peek_version
from snmpd_ng.transport.request_id import MAX_REQUEST_ID, RequestIdAllocator

SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
VALUES: dict[Oid, SnmpValue] = {SYS_NAME: OctetString(b"router")}


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Runner:
    """Run a coroutine on asyncio's loop and, as a second case, on uvloop's."""
    return runner_for(request.param)


def make_channel(host: str, port: int, *, timeout: float = 0.2, retries: int = 1,
                 backoff: float = 1.0, max_in_flight: int = 4, community: bytes = b"public",
                 accept_any_source: bool = False, source_address: str | None = None) -> Channel:
    settings = ChannelSettings(label=f"{host}:{port}", host=host, port=port, timeout=timeout,
                               retries=retries, backoff=backoff, max_in_flight=max_in_flight,
                               source_address=source_address,
                               accept_any_source=accept_any_source)
    return Channel(settings, CommunityProcessing(SnmpVersion.V2C, community))


def get_pdu() -> Pdu:
    return Pdu(PduType.GET, 0, [VarBind(SYS_NAME, NULL)])


async def answered_channel(source_address: str | None = None,
                           **sizes: int | None) -> Channel:
    """Send one GET through a new Transport(**sizes); return the channel, with its counters."""
    async with FakeAgent(MibScript(VALUES)) as agent:
        transport = Transport(**sizes)  # type: ignore[arg-type]  # only buffer sizes
        channel = make_channel(agent.host, agent.port, source_address=source_address)
        await transport.request(channel, get_pdu())
        await transport.close()
        return channel


class TestRequestIdAllocator:
    def test_ids_are_positive_31_bit(self) -> None:
        allocator = RequestIdAllocator(random.Random(1))
        ids = [allocator.allocate(()) for _ in range(1000)]
        assert all(1 <= request_id <= MAX_REQUEST_ID for request_id in ids)

    def test_ids_do_not_repeat_quickly(self) -> None:
        allocator = RequestIdAllocator(random.Random(2))
        ids = [allocator.allocate(()) for _ in range(10000)]
        assert len(set(ids)) == len(ids)

    def test_ids_in_use_are_skipped(self) -> None:
        allocator = RequestIdAllocator(random.Random(3))
        first = allocator.allocate(())
        allocator = RequestIdAllocator(random.Random(3))
        assert allocator.allocate({first}) == first + 1

    def test_wraps_to_one_after_maximum(self) -> None:
        allocator = RequestIdAllocator(random.Random(4))
        allocator._next = MAX_REQUEST_ID
        assert allocator.allocate(()) == MAX_REQUEST_ID
        assert allocator.allocate(()) == 1

    def test_start_is_random(self) -> None:
        starts = {RequestIdAllocator().allocate(()) for _ in range(5)}
        assert len(starts) > 1


class TestWarningLimiter:
    def test_first_warning_passes(self) -> None:
        assert WarningLimiter().admit("kind", 0.0) == 0

    def test_repeat_within_interval_is_held_back(self) -> None:
        limiter = WarningLimiter(60.0)
        limiter.admit("kind", 0.0)
        assert limiter.admit("kind", 59.0) is None

    def test_next_warning_reports_suppressed_count(self) -> None:
        limiter = WarningLimiter(60.0)
        limiter.admit("kind", 0.0)
        limiter.admit("kind", 1.0)
        limiter.admit("kind", 2.0)
        assert limiter.admit("kind", 61.0) == 2

    def test_kinds_are_limited_separately(self) -> None:
        limiter = WarningLimiter(60.0)
        limiter.admit("a", 0.0)
        assert limiter.admit("b", 1.0) == 0

    def test_forget_lets_next_warning_pass(self) -> None:
        limiter = WarningLimiter(60.0)
        limiter.admit("kind", 0.0)
        limiter.admit("kind", 1.0)
        limiter.forget("kind")
        assert limiter.admit("kind", 2.0) == 0


class TestCommunityProcessing:
    def test_encode_request_sets_request_id(self) -> None:
        processing = CommunityProcessing(SnmpVersion.V2C, b"public")
        message = decode_message(processing.encode_request(get_pdu(), 4660))
        assert isinstance(message.pdu, Pdu)
        assert message.pdu.request_id == 4660

    def test_encode_request_frames_version_and_community(self) -> None:
        processing = CommunityProcessing(SnmpVersion.V1, b"secret")
        message = decode_message(processing.encode_request(get_pdu(), 1))
        assert message.version == SnmpVersion.V1
        assert message.community == b"secret"

    def test_long_message_gets_long_form_length(self) -> None:
        processing = CommunityProcessing(SnmpVersion.V2C, b"public")
        pdu = Pdu(PduType.SET, 0, [VarBind(SYS_NAME, OctetString(b"x" * 300))])
        message = decode_message(processing.encode_request(pdu, 7))
        assert message.pdu.varbinds[0].value == b"x" * 300

    def test_wrong_community_is_rejected(self) -> None:
        processing = CommunityProcessing(SnmpVersion.V2C, b"public")
        request = CommunityProcessing(SnmpVersion.V2C, b"other").encode_request(
            Pdu(PduType.RESPONSE, 0, []), 5)
        _, message = decode_inbound(request)
        with pytest.raises(ResponseRejected) as caught:
            processing.accept_response(message)
        assert caught.value.kind == "wrong_community"

    def test_rejection_never_quotes_community(self) -> None:
        processing = CommunityProcessing(SnmpVersion.V2C, b"topsecret")
        datagram = CommunityProcessing(SnmpVersion.V2C, b"guess").encode_request(
            Pdu(PduType.RESPONSE, 0, []), 5)
        _, message = decode_inbound(datagram)
        with pytest.raises(ResponseRejected) as caught:
            processing.accept_response(message)
        assert "topsecret" not in str(caught.value)
        assert "guess" not in str(caught.value)

    def test_request_pdu_is_not_a_response(self) -> None:
        processing = CommunityProcessing(SnmpVersion.V2C, b"public")
        _, message = decode_inbound(processing.encode_request(get_pdu(), 9))
        with pytest.raises(ResponseRejected) as caught:
            processing.accept_response(message)
        assert caught.value.kind == "not_response"

    def test_other_version_is_rejected(self) -> None:
        processing = CommunityProcessing(SnmpVersion.V2C, b"public")
        datagram = CommunityProcessing(SnmpVersion.V1, b"public").encode_request(
            Pdu(PduType.RESPONSE, 0, []), 5)
        _, message = decode_inbound(datagram)
        with pytest.raises(ResponseRejected) as caught:
            processing.accept_response(message)
        assert caught.value.kind == "wrong_version"

    def test_v3_is_not_community_based(self) -> None:
        with pytest.raises(ValueError, match="SNMPv1 or SNMPv2c"):
            CommunityProcessing(SnmpVersion.V3, b"public")


class TestPeekVersion:
    def test_short_header(self) -> None:
        datagram = CommunityProcessing(SnmpVersion.V1, b"public").encode_request(get_pdu(), 1)
        assert peek_version(datagram) == 0

    def test_long_form_header(self) -> None:
        # A tooBig response with non-minimal long-form lengths, as a real agent sent it.
        datagram = bytes.fromhex("30 82 00 1F 02 01 01 04 06 70 75 62 6C 69 63 A2 82 00 10 02 04"
                                 " 4A 6D 8B 35 02 01 01 02 01 00 30 82 00 00")
        assert peek_version(datagram) == 1

    @pytest.mark.parametrize(("octet", "version"), [(0x7F, 127), (0x80, -128), (0x81, -127),
                                                    (0xFF, -1)])
    def test_version_octet_is_signed(self, octet: int, version: int) -> None:
        datagram = bytes([0x30, 0x05, 0x02, 0x01, octet, 0x04, 0x00])
        assert peek_version(datagram) == version

    @pytest.mark.parametrize("octet", [0x00, 0x01, 0x03, 0x80, 0xFF])
    def test_fast_path_matches_full_reader(self, octet: int) -> None:
        datagram = bytes([0x30, 0x05, 0x02, 0x01, octet, 0x04, 0x00])
        assert peek_version(datagram) == decode_version(datagram)

    def test_negative_version_is_rejected(self) -> None:
        datagram = bytes([0x30, 0x05, 0x02, 0x01, 0x81, 0x04, 0x00])
        with pytest.raises(DecodeError, match="no message processing for version -127"):
            decode_inbound(datagram)

    def test_decode_inbound_returns_request_id_as_key(self) -> None:
        datagram = CommunityProcessing(SnmpVersion.V2C, b"public").encode_request(
            Pdu(PduType.RESPONSE, 0, []), 77)
        key, _ = decode_inbound(datagram)
        assert key == 77


class TestTransportMatching:
    def test_response_completes_request(self, run: Runner) -> None:
        async def body() -> Pdu:
            async with FakeAgent(MibScript(VALUES)) as agent:
                transport = Transport()
                channel = make_channel(agent.host, agent.port)
                try:
                    return await transport.request(channel, get_pdu())
                finally:
                    await transport.close()

        result = run(body())
        assert result.varbinds == [VarBind(SYS_NAME, OctetString(b"router"))]

    def test_response_counted(self, run: Runner) -> None:
        channel = run(answered_channel())
        assert channel.stats.requests == 1
        assert channel.stats.responses == 1
        assert channel.stats.last_rtt is not None

    def test_unencodable_request_not_counted(self, run: Runner) -> None:
        async def body() -> Channel:
            async with FakeAgent(MibScript(VALUES)) as agent:
                transport = Transport()
                channel = make_channel(agent.host, agent.port)
                bad = Pdu(PduType.GET, 0, [VarBind((1, 3, 6, 1, 2**32), NULL)])
                try:
                    with pytest.raises(EncodeError):
                        await transport.request(channel, bad)
                finally:
                    await transport.close()
                return channel

        channel = run(body())
        assert channel.stats.requests == 0
        assert channel.stats.timeouts == 0

    def test_rtt_finer_than_loop_clock(self, run: Runner) -> None:
        rtt = run(answered_channel()).stats.last_rtt
        assert rtt is not None
        assert 0 < rtt < 0.2
        # uvloop's loop.time() counts whole milliseconds, so an RTT taken from it would be one.
        milliseconds = rtt * 1000
        assert abs(milliseconds - round(milliseconds)) > 1e-6

    def test_ipv6_loopback(self, run: Runner) -> None:
        async def body() -> Pdu:
            async with FakeAgent(MibScript(VALUES), host="::1") as agent:
                transport = Transport()
                try:
                    return await transport.request(make_channel("::1", agent.port), get_pdu())
                finally:
                    await transport.close()

        assert run(body()).varbinds[0].value == b"router"

    def test_dns_name_is_resolved(self, run: Runner) -> None:
        async def body() -> Pdu:
            async with FakeAgent(MibScript(VALUES)) as agent:
                transport = Transport()
                channel = make_channel("localhost", agent.port, source_address="127.0.0.1")
                try:
                    return await transport.request(channel, get_pdu())
                finally:
                    await transport.close()

        assert run(body()).varbinds[0].value == b"router"

    def test_unresolvable_name_raises_resolution_error(self, run: Runner) -> None:
        async def body() -> None:
            transport = Transport()
            try:
                await transport.request(make_channel("name.invalid", 161), get_pdu())
            finally:
                await transport.close()

        with pytest.raises(ResolutionError, match=r"name\.invalid"):
            run(body())

    def test_many_targets_share_one_socket(self, run: Runner) -> None:
        async def body() -> set[tuple[str, int]]:
            async with FakeAgent(MibScript(VALUES)) as first, \
                    FakeAgent(MibScript(VALUES)) as second:
                transport = Transport()
                for agent in (first, second):
                    await transport.request(make_channel(agent.host, agent.port), get_pdu())
                await transport.close()
                return {request.source for request in first.requests + second.requests}

        assert len(run(body())) == 1

    def test_retransmission_uses_new_request_id(self, run: Runner) -> None:
        def silent_then_answer(request: Request) -> list[Reply]:
            return [] if request.index == 0 else reply(request, [VarBind(SYS_NAME, NULL)])

        async def body() -> list[int]:
            async with FakeAgent(silent_then_answer) as agent:
                transport = Transport()
                await transport.request(make_channel(agent.host, agent.port, timeout=0.05),
                                        get_pdu())
                await transport.close()
                return [request.request_id for request in agent.requests]

        first, second = run(body())
        assert first != second

    def test_timeout_after_retries(self, run: Runner) -> None:
        async def body() -> tuple[RequestTimeout, int, Channel]:
            async with FakeAgent(lambda request: []) as agent:
                transport = Transport()
                channel = make_channel(agent.host, agent.port, timeout=0.03, retries=2)
                try:
                    await transport.request(channel, get_pdu())
                except RequestTimeout as exc:
                    return exc, len(agent.requests), channel
                finally:
                    await transport.close()
                raise AssertionError("no timeout")

        error, sent, channel = run(body())
        assert error.attempts == 3
        assert sent == 3
        assert channel.stats.timeouts == 1
        assert channel.stats.retries == 2
        assert error.diagnostic == ""

    def test_backoff_lengthens_each_attempt(self, run: Runner) -> None:
        async def body() -> float:
            async with FakeAgent(lambda request: []) as agent:
                transport = Transport()
                channel = make_channel(agent.host, agent.port, timeout=0.05, retries=2,
                                       backoff=2.0)
                loop = asyncio.get_running_loop()
                started = loop.time()
                with pytest.raises(RequestTimeout):
                    await transport.request(channel, get_pdu())
                await transport.close()
                return loop.time() - started

        # 0.05 + 0.1 + 0.2 seconds with backoff 2, against 0.15 without.
        assert run(body()) >= 0.34

    def test_deadline_ends_retries(self, run: Runner) -> None:
        async def body() -> tuple[float, int]:
            async with FakeAgent(lambda request: []) as agent:
                transport = Transport()
                channel = make_channel(agent.host, agent.port, timeout=1.0, retries=5)
                loop = asyncio.get_running_loop()
                started = loop.time()
                with pytest.raises(BudgetExceeded):
                    await transport.request(channel, get_pdu(), deadline=started + 0.1)
                await transport.close()
                return loop.time() - started, len(agent.requests)

        elapsed, sent = run(body())
        assert elapsed < 0.5
        assert sent == 1

    def test_past_deadline_sends_nothing(self, run: Runner) -> None:
        async def body() -> int:
            async with FakeAgent(MibScript(VALUES)) as agent:
                transport = Transport()
                channel = make_channel(agent.host, agent.port)
                deadline = asyncio.get_running_loop().time() - 1.0
                with pytest.raises(BudgetExceeded):
                    await transport.request(channel, get_pdu(), deadline=deadline)
                await transport.close()
                return len(agent.requests)

        assert run(body()) == 0

    def test_unknown_request_id_counted_for_target(self, run: Runner) -> None:
        def wrong_id_first(request: Request) -> list[Reply]:
            wrong = response(request, [], request_id=request.request_id + 1000)
            return [(0.0, wrong, None), *reply(request, [VarBind(SYS_NAME, NULL)])]

        async def body() -> Channel:
            async with FakeAgent(wrong_id_first) as agent:
                transport = Transport()
                channel = make_channel(agent.host, agent.port)
                await transport.request(channel, get_pdu())
                await asyncio.sleep(0.02)
                await transport.close()
                return channel

        channel = run(body())
        assert channel.stats.unknown_request_id == 1
        assert channel.stats.responses == 1

    def test_undecodable_response_counted_malformed(self, run: Runner) -> None:
        def garbage_first(request: Request) -> list[Reply]:
            return [(0.0, b"\x30\x80garbage", None), *reply(request, [VarBind(SYS_NAME, NULL)])]

        async def body() -> Channel:
            async with FakeAgent(garbage_first) as agent:
                transport = Transport()
                channel = make_channel(agent.host, agent.port)
                await transport.request(channel, get_pdu())
                await transport.close()
                return channel

        channel = run(body())
        assert channel.stats.malformed_responses == 1
        assert channel.stats.responses == 1

    def test_datagram_from_stranger_counted_globally(self, run: Runner) -> None:
        def answer_from_other_port(request: Request) -> list[Reply]:
            stray = response(request, [], request_id=request.request_id + 5000)
            return [(0.0, stray, ("127.0.0.1", 0)), *reply(request, [VarBind(SYS_NAME, NULL)])]

        async def body() -> Transport:
            async with FakeAgent(answer_from_other_port) as agent:
                transport = Transport()
                await transport.request(make_channel(agent.host, agent.port), get_pdu())
                await asyncio.sleep(0.02)
                await transport.close()
                return transport

        assert run(body()).global_stats().unmatched_datagrams == 1


class TestTransportLimits:
    def test_per_target_limit_serialises_requests(self, run: Runner) -> None:
        async def body() -> int:
            in_flight = 0
            most = 0

            def slow(request: Request) -> list[Reply]:
                nonlocal in_flight, most
                in_flight += 1
                most = max(most, in_flight)
                asyncio.get_running_loop().call_later(0.02, release)
                return [(0.02, response(request, [VarBind(SYS_NAME, NULL)]), None)]

            def release() -> None:
                nonlocal in_flight
                in_flight -= 1

            async with FakeAgent(slow) as agent:
                transport = Transport()
                channel = make_channel(agent.host, agent.port, max_in_flight=2)
                await asyncio.gather(*(transport.request(channel, get_pdu()) for _ in range(6)))
                await transport.close()
            return most

        assert run(body()) <= 2

    def test_global_limit_waits_until_deadline(self, run: Runner) -> None:
        async def body() -> None:
            async with FakeAgent(lambda request: []) as agent:
                transport = Transport(max_in_flight=1)
                channel = make_channel(agent.host, agent.port, timeout=1.0, retries=0)
                blocker = asyncio.ensure_future(transport.request(channel, get_pdu()))
                await asyncio.sleep(0.01)
                deadline = asyncio.get_running_loop().time() + 0.05
                try:
                    await transport.request(make_channel(agent.host, agent.port), get_pdu(),
                                            deadline=deadline)
                finally:
                    blocker.cancel()
                    await transport.close()

        with pytest.raises(BudgetExceeded):
            run(body())

    def test_max_in_flight_must_be_positive(self) -> None:
        with pytest.raises(ValueError, match="max_in_flight"):
            Transport(max_in_flight=0)


class TestTransportSockets:
    def test_bind_to_foreign_source_raises_transport_error(self, run: Runner) -> None:
        async def body() -> None:
            transport = Transport()
            # 192.0.2.1 (TEST-NET-1) is never assigned to this host, so bind fails; nothing is sent.
            channel = make_channel("127.0.0.1", 161, source_address="192.0.2.1")
            try:
                await transport.request(channel, get_pdu())
            finally:
                await transport.close()

        with pytest.raises(TransportError, match=r"192\.0\.2\.1"):
            run(body())

    def test_close_fails_waiting_request(self, run: Runner) -> None:
        async def body() -> None:
            async with FakeAgent(lambda request: []) as agent:
                transport = Transport()
                channel = make_channel(agent.host, agent.port, timeout=5.0)
                waiting = asyncio.ensure_future(transport.request(channel, get_pdu()))
                await asyncio.sleep(0.02)
                await transport.close()
                await waiting

        with pytest.raises(TransportError, match="closed"):
            run(body())

    def test_request_after_close_raises(self, run: Runner) -> None:
        async def body() -> None:
            transport = Transport()
            await transport.close()
            await transport.request(make_channel("127.0.0.1", 161), get_pdu())

        with pytest.raises(TransportError, match="closed"):
            run(body())

    def test_closed_port_times_out_and_socket_lives(self, run: Runner) -> None:
        # Linux reports ICMP port unreachable on an unconnected socket only with IP_RECVERR, so
        # the request times out; the socket must still serve the next request.
        async def body() -> bytes:
            async with FakeAgent(MibScript(VALUES)) as agent:
                closed = FakeAgent(MibScript(VALUES))
                async with closed:
                    dead_port = closed.port
                transport = Transport()
                with pytest.raises(RequestTimeout):
                    await transport.request(make_channel("127.0.0.1", dead_port, timeout=0.05,
                                                         retries=1), get_pdu())
                answer = await transport.request(make_channel(agent.host, agent.port), get_pdu())
                await transport.close()
                return bytes(answer.varbinds[0].value)  # type: ignore[arg-type]

        assert run(body()) == b"router"


class TestTransportLogging:
    def test_timeout_logged_at_info_with_request_id(self, run: Runner) -> None:
        async def body() -> None:
            async with FakeAgent(lambda request: []) as agent:
                transport = Transport()
                with pytest.raises(RequestTimeout):
                    await transport.request(make_channel(agent.host, agent.port, timeout=0.02,
                                                         retries=0), get_pdu())
                await transport.close()

        with structlog.testing.capture_logs() as logs:
            run(body())
        timeouts = [entry for entry in logs if entry["event"] == "request timed out"]
        assert timeouts[0]["log_level"] == "info"
        assert timeouts[0]["request_id"] > 0

    def test_repeated_timeouts_logged_once_a_minute(self, run: Runner) -> None:
        async def body() -> int:
            async with FakeAgent(lambda request: []) as agent:
                transport = Transport()
                channel = make_channel(agent.host, agent.port, timeout=0.02, retries=0)
                for _ in range(3):
                    with pytest.raises(RequestTimeout):
                        await transport.request(channel, get_pdu())
                await transport.close()
                return channel.stats.timeouts

        with structlog.testing.capture_logs() as logs:
            counted = run(body())
        timeouts = [entry for entry in logs if entry["event"] == "request timed out"]
        assert counted == 3
        assert len(timeouts) == 1
        assert timeouts[0]["suppressed"] == 0


class TestInFlightLimit:
    def test_free_slot_is_taken_without_waiting(self) -> None:
        limit = InFlightLimit(2)
        assert limit.try_take()
        assert limit.free == 1

    def test_full_limit_refuses_try_take(self) -> None:
        limit = InFlightLimit(1)
        limit.try_take()
        assert not limit.try_take()

    def test_size_must_be_positive(self) -> None:
        with pytest.raises(ValueError, match="at least 1"):
            InFlightLimit(0)

    def test_take_both_takes_none_when_one_is_full(self) -> None:
        first, second = InFlightLimit(1), InFlightLimit(1)
        second.try_take()
        assert not take_both(first, second)
        assert first.free == 1

    def test_released_slot_goes_to_first_waiter(self, run: Runner) -> None:
        async def body() -> list[str]:
            limit = InFlightLimit(1)
            limit.try_take()
            order: list[str] = []

            async def wait(name: str) -> None:
                await limit.take(None)
                order.append(name)

            waiters = [asyncio.ensure_future(wait(name)) for name in ("first", "second")]
            await asyncio.sleep(0)
            limit.give()
            await asyncio.sleep(0)
            limit.give()
            await asyncio.gather(*waiters)
            return order

        assert run(body()) == ["first", "second"]

    def test_newcomer_does_not_overtake_waiter(self, run: Runner) -> None:
        async def body() -> bool:
            limit = InFlightLimit(1)
            limit.try_take()
            waiter = asyncio.ensure_future(limit.take(None))
            await asyncio.sleep(0)
            limit.give()
            overtaken = limit.try_take()
            await waiter
            return overtaken

        assert run(body()) is False

    def test_take_times_out_at_deadline(self, run: Runner) -> None:
        async def body() -> int:
            limit = InFlightLimit(1)
            limit.try_take()
            deadline = asyncio.get_running_loop().time() + 0.01
            with pytest.raises(TimeoutError):
                await limit.take(deadline)
            limit.give()
            return limit.free

        assert run(body()) == 1

    def test_cancelled_waiter_passes_slot_on(self, run: Runner) -> None:
        async def body() -> bool:
            limit = InFlightLimit(1)
            limit.try_take()
            first = asyncio.ensure_future(limit.take(None))
            second = asyncio.ensure_future(limit.take(None))
            await asyncio.sleep(0)
            limit.give()  # the slot is handed to `first`, which is cancelled before it runs
            first.cancel()
            await asyncio.wait_for(second, 1.0)
            return first.cancelled()

        assert run(body()) is True


def udp_table(*rows: tuple[int, int]) -> str:
    """Render /proc/net/udp lines with the given (inode, drops) pairs."""
    header = ("   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid "
              " timeout inode ref pointer drops\n")
    lines = [f"  {number}: 0100007F:A1B2 00000000:0000 07 00000000:00000000 00:00000000 "
             f"00000000     0        0 {inode} 2 0000000000000000 {drops}\n"
             for number, (inode, drops) in enumerate(rows)]
    return header + "".join(lines)


class TestReceiveDrops:
    def test_drops_of_our_inodes_are_read(self, tmp_path: Path) -> None:
        table = tmp_path / "udp"
        table.write_text(udp_table((1001, 5), (1002, 7), (1003, 11)))
        assert read_receive_drops([1001, 1003], [table]) == {1001: 5, 1003: 11}

    def test_both_tables_are_read(self, tmp_path: Path) -> None:
        (tmp_path / "udp").write_text(udp_table((1001, 5)))
        (tmp_path / "udp6").write_text(udp_table((2002, 3)))
        drops = read_receive_drops([1001, 2002], [tmp_path / "udp", tmp_path / "udp6"])
        assert drops == {1001: 5, 2002: 3}

    def test_missing_tables_give_none(self, tmp_path: Path) -> None:
        assert read_receive_drops([1001], [tmp_path / "absent"]) is None

    def test_truncated_line_is_skipped(self, tmp_path: Path) -> None:
        table = tmp_path / "udp"
        table.write_text(udp_table((1001, 5)) + "  9: 0100007F:A1B2 00000000:0000 07\n")
        assert read_receive_drops([1001], [table]) == {1001: 5}

    def test_kernel_drops_are_counted(self, run: Runner) -> None:
        async def body() -> int | None:
            transport = await overflowed_transport()
            drops = transport.global_stats().receive_buffer_drops
            await transport.close()
            return drops

        drops = run(body())
        assert drops is not None
        assert drops > 0

    def test_drops_survive_close(self, run: Runner) -> None:
        async def body() -> tuple[int | None, int | None]:
            transport = await overflowed_transport()
            before = transport.global_stats().receive_buffer_drops
            await transport.close()
            return before, transport.global_stats().receive_buffer_drops

        before, after = run(body())
        assert after == before


async def overflowed_transport() -> Transport:
    """Return a transport whose socket the kernel has just dropped datagrams on.

    A receive buffer of 1 byte is raised to the kernel's minimum (about 2 KiB), so a burst sent
    while the loop is busy in this function overflows it.
    """
    async with FakeAgent(MibScript(VALUES)) as agent:
        transport = Transport(receive_buffer_size=1)
        await transport.request(make_channel(agent.host, agent.port), get_pdu())
        manager_port = agent.requests[0].source[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for _ in range(200):
            sender.sendto(b"\x00" * 512, ("127.0.0.1", manager_port))
    return transport


def kernel_limit(name: str) -> int:
    return int(Path(f"/proc/sys/net/core/{name}").read_text())


def socket_logs(run: Runner, source_address: str | None = None,
                **sizes: int | None) -> list[MutableMapping[str, Any]]:
    """Send one request through a Transport(**sizes); return the log entries it produced."""
    with structlog.testing.capture_logs() as logs:
        run(answered_channel(source_address, **sizes))
    return logs


def socket_opened(logs: list[MutableMapping[str, Any]]) -> MutableMapping[str, Any]:
    return next(entry for entry in logs if entry["event"] == "socket opened")


class TestSocketBuffers:
    def test_configured_sizes_are_applied(self, run: Runner) -> None:
        size = 256 * 1024
        if kernel_limit("rmem_max") < size or kernel_limit("wmem_max") < size:
            pytest.skip("net.core.rmem_max or wmem_max is below 256 KiB on this machine")
        opened = socket_opened(socket_logs(run, receive_buffer_size=size, send_buffer_size=size))
        assert opened["receive_buffer_bytes"] == size
        assert opened["send_buffer_bytes"] == size

    def test_default_receive_buffer_is_four_mib(self, run: Runner) -> None:
        expected = min(4 * 1024 * 1024, kernel_limit("rmem_max"))
        assert socket_opened(socket_logs(run))["receive_buffer_bytes"] == expected

    def test_oversized_buffer_capped_with_warning(self, run: Runner) -> None:
        cap = kernel_limit("rmem_max")
        logs = socket_logs(run, receive_buffer_size=cap * 2)
        warnings = [entry for entry in logs
                    if entry["event"] == "receive buffer smaller than configured"]
        assert socket_opened(logs)["receive_buffer_bytes"] == cap
        assert warnings[0]["log_level"] == "warning"
        assert "net.core.rmem_max" in warnings[0]["hint"]

    def test_none_keeps_kernel_default(self, run: Runner) -> None:
        logs = socket_logs(run, receive_buffer_size=None, send_buffer_size=None)
        assert socket_opened(logs)["receive_buffer_bytes"] == kernel_limit("rmem_default") // 2

    def test_buffer_size_must_be_positive(self) -> None:
        with pytest.raises(ValueError, match="receive_buffer_size"):
            Transport(receive_buffer_size=0)


class TestEndpoint:
    def test_failed_send_raises_transport_error(self, run: Runner) -> None:
        # Port 0 is not a valid destination, so the kernel rejects the send (EINVAL).
        async def body() -> None:
            async with FakeAgent(MibScript(VALUES)) as agent:
                transport = Transport()
                await transport.request(make_channel(agent.host, agent.port), get_pdu())
                try:
                    await transport.request(make_channel("127.0.0.1", 0), get_pdu())
                finally:
                    await transport.close()

        with pytest.raises(TransportError, match="send on socket"):
            run(body())

    def test_late_socket_error_goes_to_handler(self) -> None:
        errors: list[OSError] = []
        endpoint = Endpoint("test", lambda data, source: None, errors.append)
        endpoint.error_received(ConnectionRefusedError(111, "Connection refused"))
        assert isinstance(errors[0], ConnectionRefusedError)

    def test_failing_handler_does_not_escape(self) -> None:
        def broken(data: bytes, source: tuple[object, ...]) -> None:
            raise RuntimeError("handler bug")

        endpoint = Endpoint("test", broken, lambda error: None)
        with structlog.testing.capture_logs() as logs:
            endpoint.datagram_received(b"\x30\x00", ("127.0.0.1", 161))
        assert logs[0]["event"] == "datagram handler failed"

    def test_closed_socket_is_replaced(self, run: Runner) -> None:
        async def body() -> bytes:
            async with FakeAgent(MibScript(VALUES)) as agent:
                transport = Transport()
                channel = make_channel(agent.host, agent.port)
                await transport.request(channel, get_pdu())
                # As uvloop does after a fatal socket error: the loop closes the socket.
                for endpoint in transport._endpoints.values():
                    await endpoint.close()
                answer = await transport.request(channel, get_pdu())
                await transport.close()
                return bytes(answer.varbinds[0].value)  # type: ignore[arg-type]

        assert run(body()) == b"router"


class TestErrorMessages:
    def test_timeout_without_responses_hints_community(self) -> None:
        error = RequestTimeout(target="agent:161", attempts=2, timeout=1.0)
        assert "check the address, port and community" in str(error)
        assert "wrong community silently" in str(error)

    def test_timeout_with_diagnostic_keeps_it(self) -> None:
        error = RequestTimeout(target="agent:161", attempts=2, timeout=1.0,
                               diagnostic="1 response(s) dropped as wrong community")
        assert str(error).endswith("1 response(s) dropped as wrong community")

    def test_budget_exceeded_speaks_api_words(self) -> None:
        error = BudgetExceeded(target="agent:161", overrun=0.25, attempts=3)
        assert "the operation's deadline passed 0.250 s ago after 3 attempt(s)" in str(error)
        assert "poll budget" not in str(error)


class TestBoundAddressLog:
    def test_wildcard_bind_explains_matching(self, run: Runner) -> None:
        opened = socket_opened(socket_logs(run))
        assert opened["bound"].startswith("0.0.0.0:")
        assert opened["bound"].endswith(
            "(any address; responses are matched by source and request-id)")

    def test_source_address_bind_names_setting(self, run: Runner) -> None:
        opened = socket_opened(socket_logs(run, source_address="127.0.0.1"))
        assert opened["bound"].startswith("127.0.0.1:")
        assert opened["bound"].endswith("(the target's source_address)")
