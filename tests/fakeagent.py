"""A scripted SNMP agent on loopback, for tests of the manager, the transport and their users.

A script is a callable that takes each `Request` the agent receives and returns the replies to
send: `(delay_seconds, datagram, source)` tuples, where `source` is None for the socket that
received the request, a host ("127.0.0.2") for a socket on that host and the same port, or a
(host, port) pair (port 0: any free port). The agent records every request, so a test can check
what the manager sent. `MibScript` answers GET, GETNEXT and GETBULK from a table of values, with
hooks to misbehave.

Tests run their coroutines through `runner_for(name)` on both event loops the daemon may use
(asyncio's and uvloop's), with a fixture parametrized over `LOOPS`.
"""

from __future__ import annotations

import asyncio
import bisect
import socket
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import uvloop

from snmpd_ng.manager import Manager, Target
from snmpd_ng.protocol.message import CommunityMessage, SnmpVersion, decode_message, encode_message
from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.pdu import BulkPdu, ErrorStatus, Pdu, PduType
from snmpd_ng.protocol.values import END_OF_MIB_VIEW, NO_SUCH_OBJECT, SnmpValue, VarBind

Source = None | str | tuple[str, int]
Reply = tuple[float, bytes, Source]
_T = TypeVar("_T")

LOOPS = ("asyncio", "uvloop")


def run_async(loop_name: str, coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run `coroutine` to the end on a new event loop of the named kind."""
    factory = uvloop.new_event_loop if loop_name == "uvloop" else asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coroutine)


Runner = Callable[[Coroutine[Any, Any, Any]], Any]


def runner_for(loop_name: str) -> Runner:
    """Return a function that runs a coroutine on a new loop of the named kind.

    Test modules turn it into a fixture parametrized over LOOPS, so each test runs twice.
    """
    return lambda coroutine: run_async(loop_name, coroutine)


@dataclass(slots=True)
class Request:
    """One datagram the agent received, decoded."""

    data: bytes
    message: CommunityMessage
    source: tuple[str, int]
    index: int
    """0 for the first request the agent received, 1 for the next, and so on."""

    @property
    def pdu(self) -> Pdu | BulkPdu:
        pdu = self.message.pdu
        assert isinstance(pdu, Pdu | BulkPdu)
        return pdu

    @property
    def request_id(self) -> int:
        return self.pdu.request_id

    @property
    def oids(self) -> list[Oid]:
        return [varbind.oid for varbind in self.pdu.varbinds]


Script = Callable[[Request], Iterable[Reply]]


def response(request: Request, varbinds: Sequence[VarBind], *, error_status: int = 0,
             error_index: int = 0, community: bytes | None = None,
             request_id: int | None = None) -> bytes:
    """Encode a Response to `request`, by default with its version, community and request-id."""
    pdu = Pdu(PduType.RESPONSE, request.request_id if request_id is None else request_id,
              list(varbinds), error_status, error_index)
    message = CommunityMessage(request.message.version,
                               request.message.community if community is None else community, pdu)
    return encode_message(message)


def reply(request: Request, varbinds: Sequence[VarBind], **fields: Any) -> list[Reply]:
    """Return one immediate Response from the receiving socket."""
    return [(0.0, response(request, varbinds, **fields), None)]


def with_request_id(datagram: bytes, request_id: int) -> bytes:
    """Return `datagram` (a community message) with its PDU's request-id replaced."""
    message = decode_message(datagram)
    assert isinstance(message.pdu, Pdu)
    message.pdu.request_id = request_id
    return encode_message(message)


class _AgentProtocol(asyncio.DatagramProtocol):
    def __init__(self, agent: FakeAgent) -> None:
        self.agent = agent

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.agent.receive(data, (str(addr[0]), int(addr[1])))


class FakeAgent:
    """A UDP agent on one loopback address that answers with a script."""

    def __init__(self, script: Script, host: str = "127.0.0.1") -> None:
        self.script = script
        self.host = host
        self.port = 0
        self.requests: list[Request] = []
        self.undecodable: list[bytes] = []
        self._transport: asyncio.DatagramTransport | None = None
        self._extra: dict[tuple[str, int], socket.socket] = {}

    async def __aenter__(self) -> FakeAgent:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _AgentProtocol(self), local_addr=(self.host, 0))
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._transport is not None:
            self._transport.close()
        for extra in self._extra.values():
            extra.close()

    def receive(self, data: bytes, source: tuple[str, int]) -> None:
        try:
            message = decode_message(data)
        except Exception:  # the agent under test may send garbage on purpose
            self.undecodable.append(data)
            return
        request = Request(data, message, source, len(self.requests))
        self.requests.append(request)
        loop = asyncio.get_running_loop()
        for delay, datagram, reply_source in self.script(request):
            loop.call_later(delay, self._send, datagram, reply_source, source)

    def _send(self, datagram: bytes, reply_source: Source, destination: tuple[str, int]) -> None:
        if reply_source is None:
            assert self._transport is not None
            self._transport.sendto(datagram, destination)
            return
        address = (reply_source, self.port) if isinstance(reply_source, str) else reply_source
        self._socket_at(address).sendto(datagram, destination)

    def _socket_at(self, address: tuple[str, int]) -> socket.socket:
        extra = self._extra.get(address)
        if extra is None:
            family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
            extra = socket.socket(family, socket.SOCK_DGRAM)
            extra.bind(address)
            self._extra[address] = extra
        return extra


class MibScript:
    """Answer GET, GETNEXT and GETBULK from `values` as a well-behaved SNMPv2c agent would.

    For SNMPv1 requests it answers noSuchName where SNMPv2c has exceptions. `too_big` is called
    with each request and returns True to answer tooBig instead. `override` may return replies
    for a request (or None to answer normally).
    """

    def __init__(self, values: Mapping[Oid, SnmpValue], *,
                 too_big: Callable[[Request], bool] | None = None,
                 override: Callable[[Request], list[Reply] | None] | None = None) -> None:
        self.values = dict(values)
        self.oids = sorted(self.values)
        self.too_big = too_big
        self.override = override

    def __call__(self, request: Request) -> list[Reply]:
        if self.override is not None:
            replies = self.override(request)
            if replies is not None:
                return replies
        if self.too_big is not None and self.too_big(request):
            return reply(request, [], error_status=ErrorStatus.TOO_BIG)
        pdu = request.pdu
        if isinstance(pdu, BulkPdu):
            return reply(request, self._bulk(pdu))
        if request.message.version == SnmpVersion.V1:
            return self._v1(request)
        if pdu.pdu_type == PduType.GET:
            return reply(request, [VarBind(oid, self.values.get(oid, NO_SUCH_OBJECT))
                                   for oid in request.oids])
        return reply(request, [self.successor(oid) for oid in request.oids])

    def successor(self, oid: Oid) -> VarBind:
        """Return the varbind after `oid`, or endOfMibView."""
        position = bisect.bisect_right(self.oids, oid)
        if position >= len(self.oids):
            return VarBind(oid, END_OF_MIB_VIEW)
        following = self.oids[position]
        return VarBind(following, self.values[following])

    def _bulk(self, pdu: BulkPdu) -> list[VarBind]:
        names = [varbind.oid for varbind in pdu.varbinds]
        result = [self.successor(oid) for oid in names[:pdu.non_repeaters]]
        columns = names[pdu.non_repeaters:]
        for _ in range(pdu.max_repetitions):
            row = [self.successor(oid) for oid in columns]
            result.extend(row)
            columns = [varbind.oid for varbind in row]
            if all(varbind.value is END_OF_MIB_VIEW for varbind in row):
                break
        return result

    def _v1(self, request: Request) -> list[Reply]:
        answers = []
        for position, oid in enumerate(request.oids, start=1):
            if request.pdu.pdu_type == PduType.GET:
                found = self.values.get(oid)
                answer = VarBind(oid, found) if found is not None else None
            else:
                answer = self.successor(oid)
                answer = None if answer.value is END_OF_MIB_VIEW else answer
            if answer is None:
                return reply(request, request.pdu.varbinds,
                             error_status=ErrorStatus.NO_SUCH_NAME, error_index=position)
            answers.append(answer)
        return reply(request, answers)


async def with_agent(script: Script, action: Callable[[Manager, Target, FakeAgent], Awaitable[Any]],
                     host: str = "127.0.0.1", **target_fields: Any) -> Any:
    """Start an agent with `script`, and run `action` with a manager and a target for it.

    The target gets a 0.2 s timeout and 1 retry unless `target_fields` set others.
    """
    async with FakeAgent(script, host=host) as agent:
        fields = {"timeout": 0.2, "retries": 1, **target_fields}
        target = Target(host, agent.port, **fields)
        async with Manager() as manager:
            return await action(manager, target, agent)
