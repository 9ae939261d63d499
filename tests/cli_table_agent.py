"""A table-driven SNMPv1/v2c agent on loopback, for comparing `snmpd-ng` with net-snmp's tools.

net-snmp's snmpd only serves the values its MIB modules produce. The CLI tests also need values
that no real agent sends on request: every byte of an OCTET STRING, Opaque doubles, malformed
encodings and OIDs that do not increase. This agent serves GET, GETNEXT, GETBULK and SET from a
sorted table of (OID, value) pairs. A value may be a `MalformedValue`, whose raw TLV is sent as is.

It runs in a thread with a blocking socket, so the same agent serves net-snmp's tools (run as
subprocesses) and `snmpd-ng` running in-process on its own event loop.
"""

from __future__ import annotations

import bisect
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from snmpd_ng.protocol.errors import DecodeError
from snmpd_ng.protocol.message import CommunityMessage, SnmpVersion, decode_message, encode_message
from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.pdu import BulkPdu, ErrorStatus, Pdu, PduType
from snmpd_ng.protocol.values import (
    END_OF_MIB_VIEW,
    NO_SUCH_OBJECT,
    Counter64,
    SnmpValue,
    VarBind,
)

# A hook that may replace the table's response: it gets the decoded request and returns the
# response PDU to send, or None to let the table respond.
ResponseHook = Callable[[CommunityMessage], Pdu | None]


@dataclass
class TableAgent:
    """The agent's table, its behaviour switches and the bound address once started."""

    table: dict[Oid, SnmpValue]
    community: bytes = b"public"
    set_error: tuple[int, int] | None = None
    """(error-status, error-index) returned to every SET, or None to accept and echo it."""
    hook: ResponseHook | None = None
    host: str = "127.0.0.1"
    port: int = 0
    _sorted: list[Oid] = field(default_factory=list)
    _socket: socket.socket | None = None
    _thread: threading.Thread | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def address(self) -> str:
        """The agent address in net-snmp's HOST:PORT form."""
        return f"{self.host}:{self.port}"

    def start(self) -> TableAgent:
        self._sorted = sorted(self.table)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((self.host, 0))
        self._socket.settimeout(0.1)
        self.port = self._socket.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="cli-table-agent", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._socket is not None:
            self._socket.close()

    def _serve(self) -> None:
        assert self._socket is not None
        while not self._stopping.is_set():
            try:
                data, source = self._socket.recvfrom(65535)
            except TimeoutError:
                continue
            reply = self._answer(data)
            if reply is not None:
                self._socket.sendto(reply, source)

    def _answer(self, data: bytes) -> bytes | None:
        try:
            request = decode_message(data)
        except DecodeError:
            return None
        if request.community != self.community:
            return None

        response = self.hook(request) if self.hook is not None else None
        if response is None:
            response = self._answer_from_table(request)
        return encode_message(CommunityMessage(request.version, request.community, response))

    def _answer_from_table(self, request: CommunityMessage) -> Pdu:
        pdu = request.pdu
        if isinstance(pdu, BulkPdu):
            return self._answer_bulk(pdu)
        assert isinstance(pdu, Pdu)
        if pdu.pdu_type == PduType.SET:
            return self._answer_set(pdu)

        is_v1 = request.version == SnmpVersion.V1
        varbinds: list[VarBind] = []
        for index, (oid, _) in enumerate(pdu.varbinds, start=1):
            if pdu.pdu_type == PduType.GET_NEXT:
                varbind = self._next(oid, skip_counter64=is_v1)
            else:
                varbind = VarBind(oid, self.table.get(oid, NO_SUCH_OBJECT))
            if is_v1 and varbind.value in (NO_SUCH_OBJECT, END_OF_MIB_VIEW):
                # RFC 1157 section 4.1.2: SNMPv1 fails the whole request with noSuchName.
                return Pdu(PduType.RESPONSE, pdu.request_id, list(pdu.varbinds),
                           ErrorStatus.NO_SUCH_NAME, index)
            varbinds.append(varbind)
        return Pdu(PduType.RESPONSE, pdu.request_id, varbinds)

    def _next(self, oid: Oid, *, skip_counter64: bool = False) -> VarBind:
        position = bisect.bisect_right(self._sorted, oid)
        # RFC 3584 section 4.2.2.1: an SNMPv1 GETNEXT skips Counter64 objects, which SNMPv1
        # cannot carry.
        while (skip_counter64 and position < len(self._sorted)
               and isinstance(self.table[self._sorted[position]], Counter64)):
            position += 1
        if position == len(self._sorted):
            return VarBind(oid, END_OF_MIB_VIEW)
        successor = self._sorted[position]
        return VarBind(successor, self.table[successor])

    def _answer_bulk(self, pdu: BulkPdu) -> Pdu:
        non_repeaters = min(pdu.non_repeaters, len(pdu.varbinds))
        varbinds = [self._next(oid) for oid, _ in pdu.varbinds[:non_repeaters]]
        columns: Sequence[Oid] = [oid for oid, _ in pdu.varbinds[non_repeaters:]]
        for _ in range(pdu.max_repetitions):
            row = [self._next(oid) for oid in columns]
            varbinds.extend(row)
            columns = [varbind.oid for varbind in row]
            if all(varbind.value is END_OF_MIB_VIEW for varbind in row):
                break
        return Pdu(PduType.RESPONSE, pdu.request_id, varbinds)

    def _answer_set(self, pdu: Pdu) -> Pdu:
        if self.set_error is not None:
            status, index = self.set_error
            return Pdu(PduType.RESPONSE, pdu.request_id, list(pdu.varbinds), status, index)
        for oid, value in pdu.varbinds:
            self.table[oid] = value
        return Pdu(PduType.RESPONSE, pdu.request_id, list(pdu.varbinds))
