"""Field cases of agent behaviour that the other case tests leave open, end to end.

docs/field-cases.md maps each case (SC-01 to SC-16) to all of its tests, and this module contains
the ones that close the gaps it lists. Recorded vectors are sent to the manager byte for byte: the
manager's first request-id is fixed to the one in the vector, so no test has to decode and
re-encode a vector, which would turn long-form lengths into short ones. A test marked xfail would
show a product bug that is still open (none is open now).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from agents import NetSnmpAgent
from codec_packets import hex_bytes, rewrite_length, tlv_length_positions
from fakeagent import (
    LOOPS,
    FakeAgent,
    MibScript,
    Reply,
    Request,
    Runner,
    Script,
    reply,
    response,
    runner_for,
    with_agent,
)

from snmpd_ng import (
    END_OF_MIB_VIEW,
    NO_SUCH_NAME,
    Counter32,
    Counter64,
    EncodeError,
    ErrorStatusError,
    Gauge32,
    Integer32,
    MalformedValue,
    Manager,
    ObjectIdentifier,
    OctetString,
    Opaque,
    RequestTimeout,
    Secret,
    SnmpVersion,
    Target,
    TargetStats,
    TimeTicks,
    VarBind,
    WalkError,
)
from snmpd_ng.config.errors import ConfigError
from snmpd_ng.config.loader import load_config
from snmpd_ng.manager import OidLike, WalkMethod
from snmpd_ng.protocol.ber import encode_integer_tlv, encode_oid_content, encode_tlv
from snmpd_ng.protocol.errors import DecodeError
from snmpd_ng.protocol.message import decode_message
from snmpd_ng.protocol.oid import Oid, format_oid
from snmpd_ng.protocol.pdu import BulkPdu, ErrorStatus, PduType
from snmpd_ng.protocol.values import SnmpValue, Tag

COMMUNITY = b"public"
VECTOR_REQUEST_ID = 0x1234
"""Request-id of most recorded vectors; the captured ones carry their own."""

SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
IF_DESCR = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
IF_TYPE = (1, 3, 6, 1, 2, 1, 2, 2, 1, 3)
IF_IN_OCTETS = (1, 3, 6, 1, 2, 1, 2, 2, 1, 10)
IF_SPECIFIC = (1, 3, 6, 1, 2, 1, 2, 2, 1, 22)
IF_HC_IN_OCTETS_1 = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1)
TEST_ENTERPRISE = (1, 3, 6, 1, 4, 1, 99999)
LA_LOAD_FLOAT_1 = (1, 3, 6, 1, 4, 1, 2021, 10, 1, 6, 1)
HOST = OctetString(b"host")


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Runner:
    """Run a coroutine on asyncio's loop and, as a second case, on uvloop's."""
    return runner_for(request.param)


# ---------------------------------------------------------------------------------------------
# Helpers: recorded vectors sent byte for byte, and hand-built datagrams


class FixedRequestIds(random.Random):
    """A random source whose `randint` returns one number.

    The manager's request-id allocator draws its start from `randint` once, so its first
    request gets this id and later ones count up from it.
    """

    def __init__(self, first_request_id: int) -> None:
        super().__init__(0)
        self.first_request_id = first_request_id

    def randint(self, a: int, b: int) -> int:
        return self.first_request_id


Action = Callable[[Manager, Target, FakeAgent], Awaitable[Any]]


async def with_fixed_ids(script: Script, action: Action, *,
                         first_request_id: int = VECTOR_REQUEST_ID, **target_fields: Any) -> Any:
    """Like `with_agent`, with a manager whose first request-id is `first_request_id`."""
    async with FakeAgent(script) as agent:
        fields = {"timeout": 0.2, "retries": 1, **target_fields}
        target = Target(agent.host, agent.port, **fields)
        async with Manager(rng=FixedRequestIds(first_request_id)) as manager:
            return await action(manager, target, agent)


def first_reply(datagram: bytes, then: Script | None = None) -> Script:
    """Reply to the first request with `datagram` as given, and to later ones with `then`."""
    def script(request: Request) -> list[Reply]:
        if request.index == 0:
            return [(0.0, datagram, None)]
        return list(then(request)) if then is not None else []

    return script


def get_replayed(run: Runner, vector: str, oid: Oid, *, version: SnmpVersion = SnmpVersion.V2C,
                 request_id: int = VECTOR_REQUEST_ID) -> tuple[VarBind, TargetStats]:
    """GET `oid` from an agent that replies with the recorded `vector`, byte for byte."""
    async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
        varbinds = await manager.get(target, [oid])
        return varbinds[0], manager.stats(target)

    result: tuple[VarBind, TargetStats] = run(with_fixed_ids(
        first_reply(hex_bytes(vector)), action, first_request_id=request_id, version=version))
    return result


def varbind_tlv(name_content: bytes, value_tlv: bytes) -> bytes:
    """Build a VarBind from raw OID content octets and a raw value TLV."""
    return encode_tlv(Tag.SEQUENCE, encode_tlv(Tag.OBJECT_IDENTIFIER, name_content) + value_tlv)


def frame_response(request_id: int, varbind_tlvs: bytes,
                   version: SnmpVersion = SnmpVersion.V2C) -> bytes:
    """Wrap raw VarBind TLVs in a noError Response message with community "public"."""
    pdu_body = (encode_integer_tlv(request_id) + encode_integer_tlv(0) + encode_integer_tlv(0)
                + encode_tlv(Tag.SEQUENCE, varbind_tlvs))
    return encode_tlv(Tag.SEQUENCE, encode_integer_tlv(version) + encode_tlv(
        Tag.OCTET_STRING, COMMUNITY) + encode_tlv(PduType.RESPONSE, pdu_body))


def raw(tag: int, hex_tlv: str, reason: str,
        value: SnmpValue | int | None = None) -> MalformedValue:
    """A table value that the scripted agent sends as the given bytes, unchanged."""
    return MalformedValue(tag, hex_bytes(hex_tlv), reason, value)


def oids_of(varbinds: list[VarBind]) -> list[Oid]:
    return [varbind.oid for varbind in varbinds]


# ---------------------------------------------------------------------------------------------
# Helpers: net-snmp's snmpd


def snmpd_target(agent: NetSnmpAgent, community: str = "public", **fields: Any) -> Target:
    return Target(agent.host, agent.port, community=Secret(community), **fields)


async def with_manager(action: Callable[[Manager], Awaitable[Any]]) -> Any:
    async with Manager() as manager:
        return await action(manager)


# ---------------------------------------------------------------------------------------------
# SC-01: a walk stops at the first OID that is not above the one requested.


BACKWARD_STEP = (
    "30 2D 02 01 01 04 06 70 75 62 6C 69 63 A2 20 02 02 12 34 02 01 00 02 01 00 30 14 30 12 06 0A"
    " 2B 06 01 02 01 02 02 01 02 01 04 04 65 74 68 30")


def interface_rows(rows: int = 3) -> dict[Oid, SnmpValue]:
    return {(*IF_DESCR, index): OctetString(f"eth{index}".encode()) for index in range(1, rows + 1)}


class TestWalkStopsAtNonIncreasingOid:
    def test_getbulk_backward_step_names_both_oids(self, run: Runner) -> None:
        # The second GETBULK requests the successor of ifDescr.3 and gets the recorded ifDescr.1.
        table = MibScript(interface_rows())

        def answer(request: Request) -> list[Reply]:
            if request.index == 1:
                return [(0.0, hex_bytes(BACKWARD_STEP), None)]
            return table(request)

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            result = await manager.walk_all(target, IF_DESCR, method="getbulk",
                                            max_repetitions=3)
            return result, agent.requests

        # The second request carries the vector's request-id.
        result, requests = run(with_fixed_ids(answer, action,
                                              first_request_id=VECTOR_REQUEST_ID - 1))
        assert isinstance(result.error, WalkError)
        assert result.error.requested == (*IF_DESCR, 3)
        assert result.error.returned == (*IF_DESCR, 1)
        assert "1.3.6.1.2.1.2.2.1.2.3 was followed by 1.3.6.1.2.1.2.2.1.2.1" in str(result.error)
        assert result.complete is False
        assert oids_of(result.varbinds) == [(*IF_DESCR, index) for index in (1, 2, 3)]
        assert len(requests) == 2
        assert all(isinstance(request.pdu, BulkPdu) for request in requests)

    def test_getbulk_repeat_names_both_oids(self, run: Runner) -> None:
        def repeat(request: Request) -> list[Reply]:
            rows = [VarBind((*IF_DESCR, index), OctetString(b"e")) for index in (1, 2, 3, 3, 3)]
            return reply(request, rows)

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.walk_all(target, IF_DESCR, max_repetitions=5), agent.requests

        result, requests = run(with_agent(repeat, action))
        assert isinstance(result.error, WalkError)
        assert result.error.requested == (*IF_DESCR, 3)
        assert result.error.returned == (*IF_DESCR, 3)
        assert oids_of(result.varbinds) == [(*IF_DESCR, index) for index in (1, 2, 3)]
        assert len(requests) == 1


# ---------------------------------------------------------------------------------------------
# SC-02: endOfMibView ends a walk cleanly; a walk of a leaf GETs the leaf.


class TestWalkEndsAtEndOfView:
    def test_v1_walk_of_leaf_matches_snmpwalk(self, run: Runner,
                                              snmpd_agent: NetSnmpAgent) -> None:
        target = snmpd_target(snmpd_agent, "system", version=SnmpVersion.V1)
        result = run(with_manager(lambda manager: manager.walk_all(target, SYS_NAME)))
        returncode, output, _ = snmpd_agent.run_netsnmp(
            "snmpwalk", "-v1", "-c", "system", "-On", format_oid(SYS_NAME))

        assert returncode == 0
        assert result.complete is True
        assert oids_of(result.varbinds) == [SYS_NAME]
        value = result.varbinds[0].value
        assert isinstance(value, OctetString)
        assert output == f'.{format_oid(SYS_NAME)} = STRING: "{value.decode()}"\n'

    @pytest.mark.parametrize("method", ["getnext", "getbulk"])
    def test_end_of_view_with_content_ends_walk(self, run: Runner,
                                                   method: WalkMethod) -> None:
        table = MibScript(interface_rows(2))

        def answer(request: Request) -> list[Reply]:
            last = (*IF_DESCR, 2)
            if request.oids == [last]:
                end = raw(Tag.END_OF_MIB_VIEW, "82 01 00", "content octets", END_OF_MIB_VIEW)
                return reply(request, [VarBind(last, end)])
            return reply(request, [table.successor(request.oids[0])])

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.walk_all(target, IF_DESCR, method=method), manager.stats(target)

        result, stats = run(with_agent(answer, action))
        assert result.error is None
        assert result.complete is True
        assert oids_of(result.varbinds) == [(*IF_DESCR, 1), (*IF_DESCR, 2)]
        assert stats.malformed_values == 1

    def test_end_of_view_with_content_ends_one_column(self, run: Runner) -> None:
        table = MibScript(two_uneven_columns())
        end = raw(Tag.END_OF_MIB_VIEW, "82 01 00", "content octets", END_OF_MIB_VIEW)

        def answer(request: Request) -> list[Reply]:
            # ifType ends at its second row with a flagged endOfMibView, ifDescr goes on.
            varbinds = [VarBind(oid, end) if oid == (*IF_TYPE, 2) else table.successor(oid)
                        for oid in request.oids]
            return reply(request, varbinds)

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.walk_all(target, TWO_COLUMNS, method="getnext")

        result = run(with_agent(answer, action))
        assert result.error is None
        assert [oid for oid in oids_of(result.varbinds) if oid[:-1] == IF_TYPE] == [
            (*IF_TYPE, 1), (*IF_TYPE, 2)]
        assert [oid for oid in oids_of(result.varbinds) if oid[:-1] == IF_DESCR] == [
            (*IF_DESCR, index) for index in range(1, 6)]


# ---------------------------------------------------------------------------------------------
# SC-03: each GETBULK column ends on its own; an ended column is not requested again.


TWO_COLUMNS: list[OidLike] = [IF_DESCR, IF_TYPE]


def two_uneven_columns() -> dict[Oid, SnmpValue]:
    """Five ifDescr rows and two ifType rows, with nothing after ifType."""
    values: dict[Oid, SnmpValue] = {(*IF_DESCR, index): OctetString(b"d") for index in range(1, 6)}
    values.update({(*IF_TYPE, index): Integer32(6) for index in (1, 2)})
    return values


class TestBulkColumnsEndSeparately:
    def test_column_at_view_end_not_requested(self, run: Runner) -> None:
        # ifType is the last object the agent has, so its column ends with endOfMibView while
        # ifDescr still has rows.
        values = two_uneven_columns()

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            result = await manager.walk_all(target, TWO_COLUMNS, max_repetitions=2)
            return result, [request.oids for request in agent.requests]

        result, asked = run(with_agent(MibScript(values), action))
        assert result.complete is True
        assert sorted(oids_of(result.varbinds)) == sorted(values)
        assert all(varbind.value is not END_OF_MIB_VIEW for varbind in result.varbinds)
        assert asked[1] == [(*IF_DESCR, 2), (*IF_TYPE, 2)]
        assert asked[2:] == [[(*IF_DESCR, 4)]]


# ---------------------------------------------------------------------------------------------
# SC-04: SNMPv1 noSuchName, in GETNEXT and in walks over several columns.


class TestV1NoSuchNameEverywhere:
    def test_getnext_reissued_without_failed_varbind(self, run: Runner) -> None:
        past_end = (*TEST_ENTERPRISE, 1)

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            names = [IF_DESCR, past_end, (*IF_DESCR, 1)]
            return await manager.get_next(target, names), [r.oids for r in agent.requests]

        result, asked = run(with_agent(MibScript(interface_rows()), action,
                                       version=SnmpVersion.V1))
        assert result == [
            VarBind((*IF_DESCR, 1), OctetString(b"eth1")),
            VarBind(past_end, NO_SUCH_NAME),
            VarBind((*IF_DESCR, 2), OctetString(b"eth2")),
        ]
        assert asked == [[IF_DESCR, past_end, (*IF_DESCR, 1)], [IF_DESCR, (*IF_DESCR, 1)]]

    def test_walk_ends_column_at_no_such_name(self, run: Runner) -> None:
        # ifType is the last object, so GETNEXT of its last row fails with noSuchName while
        # ifDescr goes on.
        values = two_uneven_columns()

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            result = await manager.walk_all(target, TWO_COLUMNS)
            return result, [request.oids for request in agent.requests]

        result, asked = run(with_agent(MibScript(values), action, version=SnmpVersion.V1))
        assert result.complete is True
        assert sorted(oids_of(result.varbinds)) == sorted(values)
        assert asked[2] == [(*IF_DESCR, 2), (*IF_TYPE, 2)]
        assert asked[3] == [(*IF_DESCR, 2)]
        assert len(asked) == 7

    def test_error_index_past_varbinds_raises_once(self, run: Runner) -> None:
        def answer(request: Request) -> list[Reply]:
            return reply(request, request.pdu.varbinds, error_status=ErrorStatus.NO_SUCH_NAME,
                         error_index=5)

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            with pytest.raises(ErrorStatusError) as caught:
                await manager.get(target, [SYS_NAME, SYS_UPTIME])
            return caught.value, len(agent.requests)

        error, requests = run(with_agent(answer, action, version=SnmpVersion.V1))
        assert error.status_name == "noSuchName"
        assert error.oid is None
        assert requests == 1


# ---------------------------------------------------------------------------------------------
# SC-06 and SC-14: length forms, sent to the manager as datagrams.


TOO_BIG_LONG_FORM = (
    "30 82 00 1F 02 01 01 04 06 70 75 62 6C 69 63 A2 82 00 10 02 04 4A 6D 8B 35 02 01 01 02 01 00"
    " 30 82 00 00")
INDEFINITE_OUTER_LENGTH = (
    "30 80 02 01 01 04 06 70 75 62 6C 69 63 A2 1B 02 02 12 34 02 01 00 02 01 00 30 0F 30 0D 06 08"
    " 2B 06 01 02 01 01 03 00 43 01 64 00 00")


def uptime_response(request_id: int) -> bytes:
    return frame_response(request_id, varbind_tlv(encode_oid_content(SYS_UPTIME), b"\x43\x01\x64"))


# Datagrams no decoder may accept: the recorded indefinite length, a message whose last two
# octets are 04 81 (a long-form length cut off), and a message cut two octets short.
UNDECODABLE = {
    "indefinite": hex_bytes(INDEFINITE_OUTER_LENGTH),
    "ends-04-81": frame_response(VECTOR_REQUEST_ID,
                                 varbind_tlv(encode_oid_content(SYS_UPTIME), b"\x04\x81")),
    "cut-short": uptime_response(VECTOR_REQUEST_ID)[:-2],
}


def broken_length_variants(datagram: bytes) -> list[bytes]:
    """Return `datagram` with each length in turn made indefinite, then one too long."""
    variants = []
    for position in tlv_length_positions(datagram):
        variants.append(datagram[:position] + b"\x80" + datagram[position + 1:])
        variants.append(datagram[:position] + bytes((datagram[position] + 1,))
                        + datagram[position + 1:])
    return variants


def long_form_variants(datagram: bytes) -> list[bytes]:
    """Return `datagram` with each length in turn in a longer form than needed."""
    variants = []
    for position in tlv_length_positions(datagram):
        short = datagram[position:position + 1]
        for form in (b"\x81", b"\x82\x00"):
            variants.append(rewrite_length(datagram, position, form + short, len(form)))
    return variants


class TestLengthFormsOnTheWire:
    def test_long_form_too_big_splits_get(self, run: Runner) -> None:
        table = MibScript({SYS_NAME: HOST, SYS_UPTIME: TimeTicks(7)})

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            values = await manager.get(target, [SYS_UPTIME, SYS_NAME])
            return values, manager.stats(target), [request.oids for request in agent.requests]

        values, stats, asked = run(with_fixed_ids(
            first_reply(hex_bytes(TOO_BIG_LONG_FORM), table), action,
            first_request_id=0x4A6D8B35))
        assert values == [VarBind(SYS_UPTIME, TimeTicks(7)), VarBind(SYS_NAME, HOST)]
        assert stats.too_big == 1
        assert stats.malformed_responses == 0
        assert asked == [[SYS_UPTIME, SYS_NAME], [SYS_UPTIME], [SYS_NAME]]

    @pytest.mark.parametrize("name", sorted(UNDECODABLE))
    def test_undecodable_reply_dropped_then_valid_accepted(self, run: Runner, name: str) -> None:
        def answer(request: Request) -> list[Reply]:
            return [(0.0, UNDECODABLE[name], None),
                    (0.0, uptime_response(request.request_id), None)]

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.get(target, [SYS_UPTIME]), manager.stats(target)

        values, stats = run(with_fixed_ids(answer, action))
        assert values == [VarBind(SYS_UPTIME, TimeTicks(100))]
        assert stats.malformed_responses == 1
        assert stats.responses == 1
        assert stats.timeouts == 0

    @pytest.mark.parametrize("name", sorted(UNDECODABLE))
    def test_only_undecodable_replies_time_out(self, run: Runner, name: str) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            with pytest.raises(RequestTimeout):
                await manager.get(target, [SYS_UPTIME])
            return manager.stats(target)

        stats = run(with_fixed_ids(lambda request: [(0.0, UNDECODABLE[name], None)], action,
                                   timeout=0.05))
        assert stats.malformed_responses == 2
        assert stats.timeouts == 1

    def test_broken_lengths_dropped_and_counted(self, run: Runner) -> None:
        # Every request-id from VECTOR_REQUEST_ID on has two octets, so each response has the
        # lengths at the same positions as this one.
        sample = broken_length_variants(uptime_response(VECTOR_REQUEST_ID))
        for broken in sample:
            with pytest.raises(DecodeError):
                decode_message(broken)
        count = len(sample)

        def answer(request: Request) -> list[Reply]:
            valid = uptime_response(request.request_id)
            return [(0.0, broken_length_variants(valid)[request.index], None), (0.0, valid, None)]

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            values = [await manager.get(target, [SYS_UPTIME]) for _ in range(count)]
            return values, manager.stats(target)

        values, stats = run(with_fixed_ids(answer, action))
        assert values == [[VarBind(SYS_UPTIME, TimeTicks(100))]] * count
        assert stats.malformed_responses == count
        assert stats.timeouts == 0

    def test_long_form_lengths_accepted(self, run: Runner) -> None:
        count = len(long_form_variants(uptime_response(VECTOR_REQUEST_ID)))

        def answer(request: Request) -> list[Reply]:
            variant = long_form_variants(uptime_response(request.request_id))[request.index]
            return [(0.0, variant, None)]

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            values = [await manager.get(target, [SYS_UPTIME]) for _ in range(count)]
            return values, manager.stats(target)

        values, stats = run(with_fixed_ids(answer, action))
        assert values == [[VarBind(SYS_UPTIME, TimeTicks(100))]] * count
        assert stats.malformed_responses == 0
        assert stats.responses == count


# ---------------------------------------------------------------------------------------------
# SC-07: unsigned values whose first content octet has bit 8 set.


def v1_in_octets(content: str) -> str:
    """The recorded SNMPv1 ifInOctets.3 response, with the Counter32 content `content`."""
    octets = len(content.split())
    return (f"30 {0x29 + octets:02X} 02 01 00 04 06 70 75 62 6C 69 63 A2 {0x1C + octets:02X}"
            f" 02 02 12 34 02 01 00 02 01 00 30 {0x10 + octets:02X} 30 {0x0E + octets:02X} 06 0A"
            f" 2B 06 01 02 01 02 02 01 0A 03 41 {octets:02X} {content}")


class TestUnsignedTopBit:
    def test_vector_builder_matches_recorded_vectors(self) -> None:
        assert hex_bytes(v1_in_octets("00 B3 99 61 ED")) == hex_bytes(
            "30 2E 02 01 00 04 06 70 75 62 6C 69 63 A2 21 02 02 12 34 02 01 00 02 01 00 30 15 30"
            " 13 06 0A 2B 06 01 02 01 02 02 01 0A 03 41 05 00 B3 99 61 ED")
        assert hex_bytes(v1_in_octets("B3 99 61 ED")) == hex_bytes(
            "30 2D 02 01 00 04 06 70 75 62 6C 69 63 A2 20 02 02 12 34 02 01 00 02 01 00 30 14 30"
            " 12 06 0A 2B 06 01 02 01 02 02 01 0A 03 41 04 B3 99 61 ED")

    @pytest.mark.parametrize(("content", "number", "flagged"), [
        ("00 B3 99 61 ED", 3013173741, False), ("B3 99 61 ED", 3013173741, True),
        ("FF FF", 65535, True), ("80 E8", 33000, True)])
    def test_recorded_counter32_reaches_caller(self, run: Runner, content: str, number: int,
                                               flagged: bool) -> None:
        varbind, stats = get_replayed(run, v1_in_octets(content), (*IF_IN_OCTETS, 3),
                                      version=SnmpVersion.V1)

        value = varbind.value
        if flagged:
            assert isinstance(value, MalformedValue)
        number_read = value.value if isinstance(value, MalformedValue) else value
        assert number_read == number
        assert type(number_read) is Counter32
        assert stats.malformed_values == int(flagged)
        assert stats.timeouts == 0

    def test_get_keeps_siblings_of_unpadded_values(self, run: Runner) -> None:
        names = [(*IF_IN_OCTETS, index) for index in range(1, 5)]
        table = MibScript({
            names[0]: Counter32(5),
            names[1]: raw(Tag.COUNTER32, "41 04 B3 99 61 ED", "no pad"),
            names[2]: raw(Tag.GAUGE32, "42 02 80 E8", "no pad"),
            names[3]: raw(Tag.TIMETICKS, "43 01 FF", "no pad"),
        })

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.get(target, names), manager.stats(target)

        values, stats = run(with_agent(table, action))
        assert values[0] == VarBind(names[0], Counter32(5))
        lenient = [varbind.value.value for varbind in values[1:]
                   if isinstance(varbind.value, MalformedValue)]
        assert lenient == [3013173741, 33000, 255]
        assert [type(value) for value in lenient] == [Counter32, Gauge32, TimeTicks]
        assert stats.malformed_values == 3


# ---------------------------------------------------------------------------------------------
# SC-08: Counter64 at or above 2^63.


COUNTER64_NINE_OCTETS = (
    "30 33 02 01 01 04 06 70 75 62 6C 69 63 A2 26 02 02 12 34 02 01 00 02 01 00 30 1A 30 18 06 0B"
    " 2B 06 01 02 01 1F 01 01 01 06 01 46 09 00 FF FF FF FF FF 1E E5 3A")


class TestCounter64HighValues:
    def test_recorded_nine_octet_counter64_reaches_caller(self, run: Runner) -> None:
        varbind, stats = get_replayed(run, COUNTER64_NINE_OCTETS, IF_HC_IN_OCTETS_1)

        assert varbind.value == 18446744073694799162
        assert type(varbind.value) is Counter64
        assert stats.malformed_values == 0

    def test_oversize_counter64_flagged_beside_valid(self, run: Runner) -> None:
        names = [(*IF_HC_IN_OCTETS_1[:-1], index) for index in range(1, 6)]
        table = MibScript({
            names[0]: raw(Tag.COUNTER64, "46 09 00 90 60 1F C3 C2 80 DC B8", "sent as recorded"),
            names[1]: raw(Tag.COUNTER64, "46 0A 00 00 FF FF FF FF FF 1E E5 3A", "ten octets"),
            names[2]: raw(Tag.COUNTER64, "46 09 01 00 00 00 00 00 00 00 00", "first octet 01"),
            names[3]: raw(Tag.COUNTER64, "46 09 FF FF FF FF FF FF FF FF FF", "negative"),
            names[4]: Counter64(2**64 - 1),
        })

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.get(target, names), manager.stats(target)

        values, stats = run(with_agent(table, action))
        decoded = [varbind.value for varbind in values]
        assert decoded[0] == 10403350064868154552
        assert type(decoded[0]) is Counter64
        assert decoded[4] == 2**64 - 1
        flagged = [value for value in decoded if isinstance(value, MalformedValue)]
        assert [value.value for value in flagged] == [18446744073694799162, 2**64, None]
        assert stats.malformed_values == 3


# ---------------------------------------------------------------------------------------------
# SC-09: INTEGER wider than 32 bits or without content octets.


WIDE_INTEGER = (
    "30 31 02 01 01 04 06 70 75 62 6C 69 63 A2 24 02 02 12 34 02 01 00 02 01 00 30 18 30 16 06 0D"
    " 2B 06 01 04 01 86 8D 1F 07 0C 01 15 01 02 05 00 FF FF FC 19")
EMPTY_INTEGER = (
    "30 30 02 01 01 04 06 70 75 62 6C 69 63 A2 23 02 02 12 34 02 01 00 02 01 00 30 17 30 15 06 11"
    " 2B 06 01 04 01 86 8D 1F 03 02 03 01 0B 01 01 0C 01 02 00")
OUTLET_STATUS = (1, 3, 6, 1, 4, 1, 1718, 3, 2, 3, 1, 5)


class TestBadIntegers:
    @pytest.mark.parametrize(("vector", "lenient"), [(WIDE_INTEGER, 4294966297),
                                                     (EMPTY_INTEGER, None)])
    def test_recorded_integer_flagged_not_dropped(self, run: Runner, vector: str,
                                                  lenient: int | None) -> None:
        oid = decode_message(hex_bytes(vector)).pdu.varbinds[0].oid

        varbind, stats = get_replayed(run, vector, oid)

        assert varbind.oid == oid
        assert isinstance(varbind.value, MalformedValue)
        assert varbind.value.value == lenient
        assert stats.malformed_values == 1

    def test_bulk_walk_continues_past_bad_integers(self, run: Runner) -> None:
        values: dict[Oid, SnmpValue] = {
            (*OUTLET_STATUS, index): Integer32(1) for index in range(1, 7)}
        values[(*OUTLET_STATUS, 3)] = raw(Tag.INTEGER, "02 00", "no content")
        values[(*OUTLET_STATUS, 5)] = raw(Tag.INTEGER, "02 05 00 FF FF FC 19", "above Integer32")

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            result = await manager.walk_all(target, OUTLET_STATUS, max_repetitions=4)
            return result, manager.stats(target)

        result, stats = run(with_agent(MibScript(values), action))
        assert result.complete is True
        assert oids_of(result.varbinds) == sorted(values)
        empty, wide = result.varbinds[2].value, result.varbinds[4].value
        assert isinstance(empty, MalformedValue)
        assert empty.value is None
        assert empty.raw == b"\x02\x00"
        assert isinstance(wide, MalformedValue)
        assert wide.value == 4294966297
        assert stats.malformed_values == 2


# ---------------------------------------------------------------------------------------------
# SC-10: OBJECT IDENTIFIER value without content octets.


EMPTY_OID_VALUE = (
    "30 29 02 01 00 04 06 70 75 62 6C 69 63 A2 1C 02 02 12 34 02 01 00 02 01 00 30 10 30 0E 06 0A"
    " 2B 06 01 02 01 02 02 01 16 01 06 00")


class TestEmptyOidValue:
    def test_empty_oid_reads_zero_dot_zero(self, run: Runner) -> None:
        varbind, stats = get_replayed(run, EMPTY_OID_VALUE, (*IF_SPECIFIC, 1),
                                      version=SnmpVersion.V1)

        assert isinstance(varbind.value, MalformedValue)
        assert varbind.value.value == ObjectIdentifier((0, 0))
        assert stats.malformed_values == 1
        assert stats.timeouts == 0

    def test_v1_walk_continues_past_empty_oid(self, run: Runner) -> None:
        values: dict[Oid, SnmpValue] = {(*IF_SPECIFIC, index): ObjectIdentifier((0, 0))
                                  for index in (1, 2, 3)}
        values[(*IF_SPECIFIC, 2)] = raw(Tag.OBJECT_IDENTIFIER, "06 00", "no content")

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.walk_all(target, IF_SPECIFIC)

        result = run(with_agent(MibScript(values), action, version=SnmpVersion.V1))
        assert result.complete is True
        assert oids_of(result.varbinds) == sorted(values)
        flagged = result.varbinds[1].value
        assert isinstance(flagged, MalformedValue)
        assert flagged.value == ObjectIdentifier((0, 0))


# ---------------------------------------------------------------------------------------------
# SC-11: OID sub-identifier encodings.


LEAD_0X80_NAME = (
    "30 82 00 38 02 01 00 04 06 70 75 62 6C 69 63 A2 82 00 29 02 04 75 F6 71 99 02 01 00 02 01 00"
    " 30 82 00 19 30 82 00 15 06 82 00 0E 2B 06 01 04 01 80 81 FE 48 01 08 05 01 00 02 01 0C")
OID_VALUE_2_999_1 = (
    "30 2D 02 01 01 04 06 70 75 62 6C 69 63 A2 20 02 02 12 34 02 01 00 02 01 00 30 14 30 12 06 0B"
    " 2B 06 01 02 01 19 03 02 01 04 01 06 03 88 37 01")


class TestOidEncodings:
    def test_0x80_lead_octet_name_flagged(self, run: Runner) -> None:
        name = (1, 3, 6, 1, 4, 1, 32584, 1, 8, 5, 1, 0)

        varbind, stats = get_replayed(run, LEAD_0X80_NAME, name, version=SnmpVersion.V1,
                                      request_id=0x75F67199)

        assert varbind.oid == name
        assert isinstance(varbind.value, MalformedValue)
        assert varbind.value.value == Integer32(12)
        assert stats.malformed_values == 1

    def test_recorded_oid_value_2_999_1(self, run: Runner) -> None:
        varbind, _ = get_replayed(run, OID_VALUE_2_999_1, (1, 3, 6, 1, 2, 1, 25, 3, 2, 1, 4, 1))

        assert varbind.value == ObjectIdentifier((2, 999, 1))
        assert type(varbind.value) is ObjectIdentifier

    @pytest.mark.parametrize("oid", [(0, 40, 1), (1, 40), (1, 3, 2**32), (3, 1)])
    def test_unencodable_oid_rejected_before_sending(self, run: Runner, oid: Oid) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            with pytest.raises(EncodeError):
                await manager.get(target, [oid])
            return len(agent.requests)

        assert run(with_agent(MibScript({}), action)) == 0

    def test_walk_error_at_oversize_name(self, run: Runner) -> None:
        oversize = encode_oid_content(IF_DESCR) + hex_bytes("90 80 80 80 00")

        def answer(request: Request) -> list[Reply]:
            if request.oids == [(*IF_DESCR, 1)]:
                datagram = frame_response(request.request_id,
                                          varbind_tlv(oversize, b"\x04\x01b"))
                return [(0.0, datagram, None)]
            return reply(request, [VarBind((*IF_DESCR, 1), OctetString(b"a"))])

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.walk_all(target, IF_DESCR, method="getnext")

        result = run(with_agent(answer, action))
        assert result.complete is False
        assert isinstance(result.error, WalkError)
        assert result.varbinds[0] == VarBind((*IF_DESCR, 1), OctetString(b"a"))
        assert result.error.returned == (*IF_DESCR, 4294967296)
        assert result.error.target.startswith("127.0.0.1:")
        assert "1.3.6.1.2.1.2.2.1.2.4294967296" in str(result.error)

    def test_walk_error_at_name_with_too_many_arcs(self, run: Runner) -> None:
        long_name = (*IF_DESCR, *([1] * 130))

        def answer(request: Request) -> list[Reply]:
            if request.oids == [IF_DESCR]:
                # Built by hand because the encoder rejects a name of more than 128 arcs.
                content = encode_oid_content(IF_DESCR) + b"\x01" * 130
                datagram = frame_response(request.request_id, varbind_tlv(content, b"\x04\x01b"))
                return [(0.0, datagram, None)]
            return reply(request, [VarBind(IF_TYPE, OctetString(b"x"))])

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.walk_all(target, IF_DESCR, method="getbulk"), agent.requests

        result, requests = run(with_agent(answer, action))
        assert isinstance(result.error, WalkError)
        assert result.error.returned == long_name
        assert len(requests) == 1

    def test_walk_of_unsendable_root_raises_encode_error(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            with pytest.raises(EncodeError) as caught:
                async for _ in manager.walk(target, (*IF_DESCR, 2**32), method="getnext"):
                    pass
            return caught.value, agent.requests

        error, requests = run(with_agent(MibScript({}), action))
        assert not isinstance(error, WalkError)
        assert requests == []


# ---------------------------------------------------------------------------------------------
# SC-12: Opaque-wrapped float and double.


OPAQUE_FLOAT = (
    "30 31 02 01 01 04 06 70 75 62 6C 69 63 A2 24 02 02 12 34 02 01 00 02 01 00 30 18 30 16 06 0B"
    " 2B 06 01 04 01 8F 65 0A 01 06 01 44 07 9F 78 04 41 5B 33 33")
OPAQUE_DOUBLE = (
    "30 35 02 01 01 04 06 70 75 62 6C 69 63 A2 28 02 02 12 34 02 01 00 02 01 00 30 1C 30 1A 06 0B"
    " 2B 06 01 04 01 8F 65 0A 01 06 01 44 0B 9F 79 08 40 2B 66 66 66 66 66 66")
UNWRAPPED_FLOAT = (
    "30 2F 02 01 01 04 06 70 75 62 6C 69 63 A2 22 02 02 12 34 02 01 00 02 01 00 30 16 30 14 06 0B"
    " 2B 06 01 04 01 8F 65 0A 01 06 01 9F 78 04 41 5B 33 33")
FLOAT_13_7 = 13.699999809265137
"""13.7 rounded to IEEE 754 single precision, as the 4-octet float carries it."""


class TestOpaqueFloat:
    @pytest.mark.parametrize(("vector", "inner_tag", "number"), [
        (OPAQUE_FLOAT, 0x78, FLOAT_13_7), (OPAQUE_DOUBLE, 0x79, 13.7)])
    def test_recorded_opaque_number_reaches_caller(self, run: Runner, vector: str,
                                                   inner_tag: int, number: float) -> None:
        varbind, stats = get_replayed(run, vector, LA_LOAD_FLOAT_1)

        assert isinstance(varbind.value, Opaque)
        assert varbind.value.inner_tag == inner_tag
        assert varbind.value.inner == number
        assert stats.malformed_values == 0

    def test_unwrapped_float_flagged_raw(self, run: Runner) -> None:
        varbind, stats = get_replayed(run, UNWRAPPED_FLOAT, LA_LOAD_FLOAT_1)

        assert isinstance(varbind.value, MalformedValue)
        assert varbind.value.tag == 0x9F78
        assert varbind.value.raw == hex_bytes("9F 78 04 41 5B 33 33")
        assert stats.malformed_values == 1

    def test_snmpd_load_float_matches_snmpget(self, run: Runner,
                                              snmpd_agent: NetSnmpAgent) -> None:
        def snmpget_load() -> float:
            returncode, output, _ = snmpd_agent.run_netsnmp(
                "snmpget", "-v2c", "-c", "public", "-Oqv", format_oid(LA_LOAD_FLOAT_1))
            assert returncode == 0
            return float(output)

        before = snmpget_load()
        values = run(with_manager(lambda manager: manager.get(snmpd_target(snmpd_agent),
                                                              [LA_LOAD_FLOAT_1])))
        after = snmpget_load()

        value = values[0].value
        assert isinstance(value, Opaque)
        assert value.inner_tag == 0x78
        assert isinstance(value.inner, float)
        # The load average may move between the three reads; snmpget prints six decimals.
        assert min(before, after) - 0.01 <= value.inner <= max(before, after) + 0.01


# ---------------------------------------------------------------------------------------------
# SC-07, SC-08 and SC-11 against snmpd: values served through pass_persist.


class TestSnmpdPassPersistValues:
    def test_high_values_decode_to_exact_types(self, run: Runner,
                                               snmpd_agent: NetSnmpAgent) -> None:
        expected = {
            (*TEST_ENTERPRISE, 1, 0): Counter32(3013173741),
            (*TEST_ENTERPRISE, 2, 0): Counter64(18446744073694799162),
            (*TEST_ENTERPRISE, 3, 0): Counter64(10403350064868154552),
            (*TEST_ENTERPRISE, 7, 0): ObjectIdentifier((2, 999, 1)),
        }

        values = run(with_manager(lambda manager: manager.get(snmpd_target(snmpd_agent),
                                                              list(expected))))

        assert [(varbind.oid, type(varbind.value)) for varbind in values] == [
            (oid, type(value)) for oid, value in expected.items()]
        assert [varbind.value for varbind in values] == list(expected.values())


# ---------------------------------------------------------------------------------------------
# SC-13: max-repetitions above 127 on the wire, and its configured range.


def load_targets(tmp_path: Path, default_repetitions: str | None) -> list[Target]:
    """Load a two-target config: `defaults` sets max_repetitions (unless None), the second
    target sets 12."""
    defaults = f"  max_repetitions: {default_repetitions}\n" if default_repetitions else ""
    text = ("credentials:\n  lab: {community: x}\n"
            "defaults:\n  credentials: lab\n  jobs: [j]\n" + defaults
            + "jobs:\n  j: {scalars: [sysUpTime]}\n"
            "targets:\n  - address: 127.0.0.1\n  - address: ::1\n    max_repetitions: 12\n")
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return [entry.target for entry in load_config(path, {}).targets]


class TestMaxRepetitionsRange:
    @pytest.mark.parametrize(("number", "encoded"), [
        (128, "02 02 00 80"), (255, "02 02 00 FF"), (256, "02 02 01 00")])
    def test_agent_reads_max_repetitions_sent(self, run: Runner, number: int,
                                              encoded: str) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            await manager.get_bulk(target, [IF_DESCR], max_repetitions=number)
            return agent.requests[0]

        request = run(with_fixed_ids(MibScript(interface_rows()), action))
        assert isinstance(request.pdu, BulkPdu)
        assert request.pdu.max_repetitions == number
        # request-id 0x1234, non-repeaters 0, then max-repetitions.
        assert hex_bytes("02 02 12 34 02 01 00 " + encoded) in request.data

    def test_config_accepts_largest_max_repetitions(self, tmp_path: Path) -> None:
        targets = load_targets(tmp_path, "2147483647")

        assert targets[0].max_repetitions == 2147483647
        assert targets[1].max_repetitions == 12

    @pytest.mark.parametrize("number", ["-1", "-128", "2147483648"])
    def test_config_rejects_max_repetitions_outside_range(self, tmp_path: Path,
                                                          number: str) -> None:
        with pytest.raises(ConfigError, match="max_repetitions"):
            load_targets(tmp_path, number)


# ---------------------------------------------------------------------------------------------
# SC-14: tooBig shrinks the request, for GETNEXT too, and each target keeps what it learned.


PICKY_NAMES = [(*TEST_ENTERPRISE, 1, index) for index in range(1, 26)]


def picky_agent(columns: int = 1) -> MibScript:
    """tooBig for GETBULK above 20 repetitions and for GET or GETNEXT above 10 varbinds."""
    values: dict[Oid, SnmpValue] = {(*TEST_ENTERPRISE, column, index): TimeTicks(index)
                                    for column in range(1, columns + 1) for index in range(1, 31)}

    def too_big(request: Request) -> bool:
        pdu = request.pdu
        if isinstance(pdu, BulkPdu):
            return pdu.max_repetitions > 20
        return len(pdu.varbinds) > 10

    return MibScript(values, too_big=too_big)


class TestTooBigRecovery:
    def test_getnext_split_in_halves(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.get_next(target, PICKY_NAMES), manager.stats(target)

        values, stats = run(with_agent(picky_agent(), action))
        assert oids_of(values) == [(*oid[:-1], oid[-1] + 1) for oid in PICKY_NAMES]
        assert stats.too_big >= 1
        assert stats.timeouts == 0

    def test_bulk_walk_keeps_getbulk_after_too_big(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            result = await manager.walk_all(target, (*TEST_ENTERPRISE, 1), max_repetitions=80)
            return result, agent.requests

        result, requests = run(with_agent(picky_agent(), action))
        assert result.complete is True
        assert len(result.varbinds) == 30
        assert all(isinstance(request.pdu, BulkPdu) for request in requests)
        assert [request.pdu.max_repetitions for request in requests[:3]] == [80, 40, 20]

    def test_learned_size_kept_per_target(self, run: Runner) -> None:
        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            other = Target(target.host, target.port, timeout=0.2, retries=1, name="other")
            await manager.get(target, PICKY_NAMES)
            learned_requests = len(agent.requests)
            await manager.get(target, PICKY_NAMES)
            again = agent.requests[learned_requests:]
            await manager.get(other, PICKY_NAMES)
            return again, manager.stats(target), manager.stats(other)

        again, first, other = run(with_agent(picky_agent(), action))
        assert all(len(request.oids) <= 10 for request in again)
        assert first.too_big >= 1
        assert other.too_big >= 1

    def test_default_max_repetitions_is_modest(self, tmp_path: Path) -> None:
        targets = load_targets(tmp_path, None)

        assert 10 <= targets[0].max_repetitions <= 25
        assert targets[1].max_repetitions == 12
        assert 10 <= Target("127.0.0.1").max_repetitions <= 25

    def test_getnext_walk_splits_columns_on_too_big(self, run: Runner) -> None:
        columns: list[OidLike] = [(*TEST_ENTERPRISE, column) for column in range(1, 13)]

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.walk_all(target, columns, method="getnext")

        result = run(with_agent(picky_agent(12), action))
        assert result.error is None
        assert result.complete is True
        assert len(result.varbinds) == 12 * 30

    def test_getnext_walk_keeps_learned_size(self, run: Runner) -> None:
        columns: list[OidLike] = [(*TEST_ENTERPRISE, column) for column in range(1, 13)]

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            result = await manager.walk_all(target, columns, method="getnext")
            return result, agent.requests

        result, requests = run(with_agent(picky_agent(12), action))
        sizes = [len(request.oids) for request in requests]
        assert result.complete is True
        assert sizes[0] == 12
        # The first tooBig halves the columns to 6 per request, and the walk keeps that size.
        assert max(sizes[3:]) == 6

    @pytest.mark.parametrize("method", ["getnext", "getbulk"])
    def test_walk_respects_max_varbinds_per_request(self, run: Runner,
                                                    method: WalkMethod) -> None:
        columns: list[OidLike] = [(*TEST_ENTERPRISE, column) for column in range(1, 8)]

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            result = await manager.walk_all(target, columns, method=method)
            return result, agent.requests

        result, requests = run(with_agent(picky_agent(7), action, max_varbinds_per_request=3))
        assert result.complete is True
        assert sorted(oids_of(result.varbinds)) == sorted(
            (*TEST_ENTERPRISE, column, index) for column in range(1, 8) for index in range(1, 31))
        assert max(len(request.oids) for request in requests) == 3


# ---------------------------------------------------------------------------------------------
# SC-15: a reply from another address never completes a request.


class TestReplySource:
    def test_spoofed_reply_dropped_then_genuine_accepted(self, run: Runner) -> None:
        def answer(request: Request) -> list[Reply]:
            datagram = response(request, [VarBind(SYS_NAME, HOST)])
            return [(0.0, datagram, "127.0.0.2"), (0.01, datagram, None)]

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            return await manager.get(target, [SYS_NAME]), manager.stats(target)

        values, stats = run(with_agent(answer, action))
        assert values == [VarBind(SYS_NAME, HOST)]
        assert stats.unexpected_source == 1
        assert stats.responses == 1

    def test_any_source_still_checks_community(self, run: Runner) -> None:
        def answer(request: Request) -> list[Reply]:
            datagram = response(request, [VarBind(SYS_NAME, HOST)], community=b"guess")
            return [(0.0, datagram, "127.0.0.2")]

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            with pytest.raises(RequestTimeout) as caught:
                await manager.get(target, [SYS_NAME])
            return caught.value, manager.stats(target)

        error, stats = run(with_agent(answer, action, accept_any_source=True))
        assert "wrong community" in error.diagnostic
        assert stats.wrong_community == 2
        assert stats.unexpected_source == 0


# ---------------------------------------------------------------------------------------------
# SC-16: a late reply never completes the next request.


class TestLateReply:
    def test_late_reply_not_taken_by_next_request(self, run: Runner) -> None:
        # Timeout 0.3 s. The first attempt's reply comes at 0.4 s. By then the retransmission got
        # its reply, and the second request (sent at 0.3 s, replied to at 0.5 s) is waiting.
        def answer(request: Request) -> list[Reply]:
            delay, text = {0: (0.4, b"late"), 1: (0.0, b"first"), 2: (0.2, b"second")}[
                request.index]
            return [(delay, response(request, [VarBind(SYS_NAME, OctetString(text))]), None)]

        async def action(manager: Manager, target: Target, agent: FakeAgent) -> Any:
            first = await manager.get(target, [SYS_NAME])
            second = await manager.get(target, [SYS_NAME])
            return first, second, manager.stats(target)

        first, second, stats = run(with_agent(answer, action, timeout=0.3, retries=1))
        assert first == [VarBind(SYS_NAME, OctetString(b"first"))]
        assert second == [VarBind(SYS_NAME, OctetString(b"second"))]
        assert stats.unknown_request_id == 1
        assert stats.timeouts == 0

