"""Message processing: how PDUs are framed into datagrams for one target, and checked on return.

The transport matches a response to its request by a key taken from the datagram before any
per-target work: the request-id for SNMPv1 and SNMPv2c, the msgID for SNMPv3 (RFC 3412 section
7.2). So there are two halves:

- an inbound decoder per message version (`INBOUND_DECODERS`) turns a datagram into its key and
  a decoded message, without knowing the target;
- a `MessageProcessing` object per target encodes requests under a key and accepts or rejects a
  decoded message that carries one of its keys (community check here, authentication in v3).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from snmpd_ng.protocol.ber import encode_length, encode_tlv
from snmpd_ng.protocol.errors import DecodeError
from snmpd_ng.protocol.message import (
    CommunityMessage,
    SnmpVersion,
    decode_message,
    decode_version,
    encode_pdu,
)
from snmpd_ng.protocol.pdu import AnyPdu, Pdu, PduType
from snmpd_ng.protocol.v3 import decode_message as decode_v3_message
from snmpd_ng.protocol.values import Tag

if TYPE_CHECKING:
    from collections.abc import Awaitable


class ResponseRejected(Exception):
    """A decoded message carries a key of ours but is not an acceptable response.

    `kind` is the counter it goes to ("wrong_community", "wrong_version", "not_response");
    `detail` describes the problem without quoting any secret. `counted` is True when the
    message processing has already counted the drop in its own counter (the SNMPv3
    `security_drops`), so the transport does not count it again as malformed.
    """

    def __init__(self, kind: str, detail: str, *, counted: bool = False) -> None:
        self.kind = kind
        self.detail = detail
        self.counted = counted
        super().__init__(detail)


class AttemptOutcome(Exception):
    """A message that answers an attempt without being its response: an SNMPv3 report.

    With `error` set, the request fails with it at once (a wrong digest, an unknown user). Without,
    the message taught the processing something (the engine ID, the engine's time), and the
    request is sent again at once under a new key, without counting a retry.
    """

    def __init__(self, *, error: Exception | None = None) -> None:
        self.error = error
        super().__init__(str(error) if error is not None else "send again")


class MessageProcessing(Protocol):
    """Per-target framing of requests and acceptance of responses."""

    version: SnmpVersion

    def encode_request(self, pdu: AnyPdu, key: int) -> bytes:
        """Encode `pdu` as one datagram whose responses will carry `key`."""
        ...

    def accept_response(self, message: object) -> Pdu:
        """Return the response PDU inside `message`; raise ResponseRejected to drop it, or
        AttemptOutcome to fail or send again."""
        ...

    def diagnose_timeout(self, transport: Any, channel: Any, timeout: Exception,
                         deadline: float | None) -> Awaitable[Exception] | None:
        """Return an awaitable that finds a better error than `timeout`, or None."""
        ...


class CommunityProcessing:
    """SNMPv1 and SNMPv2c (RFC 1157, RFC 1901): the key is the request-id.

    The message header (version and community) is the same for every request, so it is encoded
    once here.
    """

    __slots__ = ("_community", "_header", "version")

    def __init__(self, version: SnmpVersion, community: bytes) -> None:
        if version not in (SnmpVersion.V1, SnmpVersion.V2C):
            raise ValueError(f"community framing needs SNMPv1 or SNMPv2c, not {version.name}")
        self.version: SnmpVersion = version
        self._community = community
        self._header = (encode_tlv(Tag.INTEGER, bytes((int(version),)))
                        + encode_tlv(Tag.OCTET_STRING, community))

    def encode_request(self, pdu: AnyPdu, key: int) -> bytes:
        pdu.request_id = key  # type: ignore[union-attr]  # TrapV1Pdu is never a request
        body = self._header + encode_pdu(pdu)
        return b"\x30" + encode_length(len(body)) + body

    def accept_response(self, message: object) -> Pdu:
        if not isinstance(message, CommunityMessage):
            raise ResponseRejected("wrong_version", "response is not a community-based message")
        if message.version != self.version:
            raise ResponseRejected(
                "wrong_version",
                f"response has version {message.version.name}, request had {self.version.name}",
            )
        # Compared in constant time because the community is a password.
        if not hmac.compare_digest(message.community, self._community):
            raise ResponseRejected("wrong_community", "response community differs from request's")
        pdu = message.pdu
        if not isinstance(pdu, Pdu) or pdu.pdu_type != PduType.RESPONSE:
            raise ResponseRejected("not_response", f"received a {pdu.pdu_type.name} PDU")
        return pdu

    def diagnose_timeout(self, transport: Any, channel: Any, timeout: Exception,
                         deadline: float | None) -> Awaitable[Exception] | None:
        # An agent drops a wrong community silently: nothing more can be learned.
        return None


InboundDecoder = Callable[[bytes], tuple[int, object]]


def decode_community_inbound(data: bytes) -> tuple[int, object]:
    """Decode an SNMPv1 or SNMPv2c datagram; the key is the PDU's request-id."""
    message = decode_message(data)
    pdu = message.pdu
    if not isinstance(pdu, Pdu):
        raise DecodeError(f"a {pdu.pdu_type.name} PDU is never a response", field="pdu",
                          offset=0)
    return pdu.request_id, message


def decode_v3_inbound(data: bytes) -> tuple[int, object]:
    """Decode an SNMPv3 datagram's framing; the key is the msgID (RFC 3412 7.2 step 10).

    The MAC, the time and the encrypted scopedPDU are checked later by the target's USM.
    """
    message = decode_v3_message(data)
    return message.msg_id, message


# Decoders by msgVersion.
INBOUND_DECODERS: dict[int, InboundDecoder] = {
    SnmpVersion.V1: decode_community_inbound,
    SnmpVersion.V2C: decode_community_inbound,
    SnmpVersion.V3: decode_v3_inbound,
}


def peek_version(data: bytes) -> int:
    """Read msgVersion, fast for the usual short header, else through the full BER reader."""
    if len(data) > 6 and data[0] == 0x30:
        length_octet = data[1]
        position = 2 if length_octet < 0x80 else 2 + (length_octet & 0x7F)
        if data[position:position + 2] == b"\x02\x01":
            # msgVersion is a BER INTEGER (X.690 8.3), so one octet is two's complement: 0x81
            # is -127, never a version, and not 129.
            octet = data[position + 2]
            return octet - 0x100 if octet >= 0x80 else octet
    return decode_version(data)


def decode_inbound(data: bytes) -> tuple[int, object]:
    """Decode a datagram into its key and message. Raises DecodeError for anything unusable."""
    version = peek_version(data)
    decoder = INBOUND_DECODERS.get(version)
    if decoder is None:
        raise DecodeError(f"no message processing for version {version}",
                          field="message.version", offset=0)
    return decoder(data)
