"""A lightweight SNMPv2c responder that simulates many agents on loopback, for the daemon load test.

One process binds `--count` UDP sockets on 127.0.0.1 (ports chosen by the kernel) and responds
to GET, GETNEXT and GETBULK on each from the same small view: the system group and an ifTable of
`--interfaces` rows, with sysUpTime and the octet counters moving with the clock. It prints the
port list as one JSON line on stdout once every socket is bound. On SIGUSR1, and on SIGTERM or
SIGINT before it exits, it prints one more line: the datagrams it received so far (in all and
per PDU type) and how many ports got any.

It uses snmpd_ng's own codec, so a codec fault shows on both sides; the test measures the
daemon's CPU and memory, not the codec's correctness.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import functools
import json
import resource
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

import uvloop

from snmpd_ng.protocol.errors import DecodeError, EncodeError
from snmpd_ng.protocol.message import CommunityMessage, decode_message, encode_message
from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.pdu import BulkPdu, Pdu, PduType
from snmpd_ng.protocol.values import (
    END_OF_MIB_VIEW,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    Counter32,
    Integer32,
    ObjectIdentifier,
    OctetString,
    SnmpValue,
    TimeTicks,
    VarBind,
)

SYSTEM = (1, 3, 6, 1, 2, 1, 1)
IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)
MAX_RESPONSE_VARBINDS = 250
"""Varbinds in one GETBULK response at most, as an agent caps a response to fit its buffer."""

Value = SnmpValue | Callable[[], SnmpValue]
"""A fixed value, or a function of the clock for objects that change."""


class View:
    """The objects every simulated agent serves, in OID order."""

    def __init__(self, interfaces: int, started: float) -> None:
        self._started = started
        values: dict[Oid, Value] = {
            (*SYSTEM, 1, 0): OctetString(b"snmpd_ng bench responder"),
            (*SYSTEM, 2, 0): ObjectIdentifier((1, 3, 6, 1, 4, 1, 8072, 3, 2, 10)),
            (*SYSTEM, 3, 0): self._uptime,
            (*SYSTEM, 5, 0): OctetString(b"bench"),
            (*SYSTEM, 7, 0): Integer32(72),
            (1, 3, 6, 1, 2, 1, 2, 1, 0): Integer32(interfaces),
        }
        for index in range(1, interfaces + 1):
            values.update(self._interface(index))
        self._oids = sorted(values)
        self._values = values
        self._objects = {oid[:-1] for oid in values}
        """Object OIDs: each instance OID less its last arc, which is the index (or 0)."""

    def _uptime(self) -> SnmpValue:
        return TimeTicks(int((time.monotonic() - self._started) * 100) % 2**32)

    def _octets(self, bytes_per_second: int) -> Callable[[], SnmpValue]:
        return lambda: Counter32(int((time.monotonic() - self._started) * bytes_per_second)
                                 % 2**32)

    def _interface(self, index: int) -> dict[Oid, Value]:
        return {
            (*IF_ENTRY, 1, index): Integer32(index),
            (*IF_ENTRY, 2, index): OctetString(f"eth{index - 1}".encode()),
            (*IF_ENTRY, 3, index): Integer32(6),
            (*IF_ENTRY, 4, index): Integer32(1500),
            (*IF_ENTRY, 5, index): Integer32(1_000_000_000),
            (*IF_ENTRY, 7, index): Integer32(1),
            (*IF_ENTRY, 8, index): Integer32(1),
            (*IF_ENTRY, 10, index): self._octets(1_000_000 * index),
            (*IF_ENTRY, 14, index): Counter32(0),
            (*IF_ENTRY, 16, index): self._octets(500_000 * index),
            (*IF_ENTRY, 20, index): Counter32(0),
        }

    def _read(self, oid: Oid) -> SnmpValue:
        value = self._values[oid]
        return value() if callable(value) else value

    def get(self, oid: Oid) -> SnmpValue:
        if oid in self._values:
            return self._read(oid)
        # RFC 3416 section 4.2.1: noSuchInstance when the object exists but not this instance.
        return NO_SUCH_INSTANCE if oid[:-1] in self._objects else NO_SUCH_OBJECT

    def next(self, oid: Oid) -> VarBind:
        position = bisect.bisect_right(self._oids, oid)
        if position == len(self._oids):
            return VarBind(oid, END_OF_MIB_VIEW)
        found = self._oids[position]
        return VarBind(found, self._read(found))

    def bulk(self, pdu: BulkPdu) -> list[VarBind]:
        """Return the varbinds of a GETBULK response (RFC 3416 section 4.2.3), at most
        MAX_RESPONSE_VARBINDS."""
        non_repeaters = min(pdu.non_repeaters, len(pdu.varbinds))
        varbinds = [self.next(oid) for oid, _ in pdu.varbinds[:non_repeaters]]
        current = [oid for oid, _ in pdu.varbinds[non_repeaters:]]
        for _ in range(pdu.max_repetitions):
            if not current or len(varbinds) + len(current) > MAX_RESPONSE_VARBINDS:
                break
            row = [self.next(oid) for oid in current]
            varbinds.extend(row)
            if all(varbind.value is END_OF_MIB_VIEW for varbind in row):
                break
            current = [varbind.oid for varbind in row]
        return varbinds


class Responder(asyncio.DatagramProtocol):
    """The socket of one simulated agent."""

    def __init__(self, view: View, community: bytes, counts: Counter[str],
                 active_ports: set[int], port: int) -> None:
        self._view = view
        self._community = community
        self._counts = counts
        self._active_ports = active_ports
        self._port = port
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport has DatagramTransport's methods without subclassing it.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, address: tuple[str | Any, int]) -> None:
        self._counts["datagrams"] += 1
        self._active_ports.add(self._port)
        try:
            request = decode_message(data)
        except DecodeError:
            self._counts["undecodable"] += 1
            return
        # An agent drops a message with an unknown community and counts it
        # (snmpInBadCommunityNames, RFC 3418).
        if request.community != self._community:
            self._counts["bad_community"] += 1
            return
        self._counts[request.pdu.pdu_type.name] += 1
        self._answer(request, address)

    def _answer(self, request: CommunityMessage, address: tuple[str | Any, int]) -> None:
        pdu = request.pdu
        if isinstance(pdu, BulkPdu):
            varbinds = self._view.bulk(pdu)
        elif isinstance(pdu, Pdu) and pdu.pdu_type == PduType.GET:
            varbinds = [VarBind(oid, self._view.get(oid)) for oid, _ in pdu.varbinds]
        elif isinstance(pdu, Pdu) and pdu.pdu_type == PduType.GET_NEXT:
            varbinds = [self._view.next(oid) for oid, _ in pdu.varbinds]
        else:
            self._counts["dropped"] += 1
            return

        response = Pdu(PduType.RESPONSE, pdu.request_id, varbinds)
        try:
            data = encode_message(CommunityMessage(request.version, request.community, response))
        except EncodeError:
            self._counts["unencodable"] += 1
            return
        if self._transport is not None:
            self._transport.sendto(data, address)


# ---------------------------------------------------------------------------------------------
# Process


def raise_file_limit(needed: int) -> None:
    """Raise the soft limit of open files to `needed` if the hard limit allows it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


async def serve(count: int, interfaces: int, community: bytes) -> None:
    """Bind `count` sockets, print their ports, and serve until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    view = View(interfaces, time.monotonic())
    counts: Counter[str] = Counter()
    active_ports: set[int] = set()
    transports = []
    ports = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        factory = functools.partial(Responder, view, community, counts, active_ports, port)
        transport, _ = await loop.create_datagram_endpoint(factory, sock=sock)
        transports.append(transport)
        ports.append(port)
    print(json.dumps({"ports": ports}), flush=True)

    def print_counts() -> None:
        print(json.dumps({"datagrams": 0, **counts, "active_ports": len(active_ports)}),
              flush=True)

    stop = asyncio.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, print_counts)
    await stop.wait()

    for transport in transports:
        transport.close()
    print_counts()


def main() -> None:
    parser = argparse.ArgumentParser(description="Simulate many SNMPv2c agents on loopback; "
                                     "the community is read from standard input's first line.")
    parser.add_argument("--count", type=int, default=1000, help="agents (UDP ports) to simulate")
    parser.add_argument("--interfaces", type=int, default=8, help="ifTable rows of each agent")
    arguments = parser.parse_args()

    community = sys.stdin.readline().rstrip("\n").encode()
    raise_file_limit(arguments.count + 64)
    uvloop.run(serve(arguments.count, arguments.interfaces, community))


if __name__ == "__main__":
    main()
