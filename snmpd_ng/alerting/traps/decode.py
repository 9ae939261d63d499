"""From one datagram to a `TrapEvent`: decoding, authentication, and the response to an inform.

Sans-IO: `TrapDecoder.decode` takes the datagram, its source and the clock readings, and
returns the event with the bytes to send back, or raises `TrapDropped`. The receiver counts,
logs and sends.

- SNMPv1 Trap-PDU: translated to the SNMPv2 form as RFC 3584 section 3.1 describes.
- SNMPv2c SNMPv2-Trap and InformRequest: checked against the configured communities; an
  inform gets a Response with the same request-id and varbinds (RFC 3416 4.2.7).
- SNMPv3: the USM of the receiving side (`snmpd_ng.security.receiver`) checks and opens the
  message, and builds the reports and the Response.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from snmpd_ng.alerting.traps.event import (
    SNMP_TRAP_ADDRESS_0,
    SNMP_TRAP_ENTERPRISE_0,
    SNMP_TRAP_OID_0,
    SNMP_TRAPS,
    SYS_UPTIME_0,
    VERSION_NAMES,
    TrapEvent,
)
from snmpd_ng.protocol import v3
from snmpd_ng.protocol.errors import DecodeError, EncodeError
from snmpd_ng.protocol.message import (
    CommunityMessage,
    SnmpVersion,
    decode_message,
    decode_version,
    encode_message,
)
from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.pdu import AnyPdu, Pdu, PduType, TrapV1Pdu
from snmpd_ng.protocol.values import IpAddress, ObjectIdentifier, VarBind
from snmpd_ng.secret import Secret
from snmpd_ng.security.receiver import Discarded, DiscardReason, Received, UsmReceiver
from snmpd_ng.security.salt import SaltCounter

# RFC 1157 generic-trap values: coldStart(0) .. enterpriseSpecific(6).
ENTERPRISE_SPECIFIC = 6
_NOTIFICATION_TYPES = (PduType.TRAP_V2, PduType.INFORM)


class DropKind(enum.Enum):
    """The kind of failure that dropped a datagram. Each kind has its own counter."""

    MALFORMED = "malformed"
    UNAUTHENTICATED = "unauthenticated"
    UNEXPECTED_PDU = "unexpected_pdu"
    DISCOVERY = "discovery"
    """An SNMPv3 discovery probe. It is no failure: the report sent back names our engine ID."""


class TrapDropped(Exception):
    """A datagram that yields no event. The message never shows a community or a key.

    `reason` is the counter's label (such as "wrong_digest"), `version` the SNMP version when it
    could be read, and `reply` a report to send back, if any.
    """

    def __init__(self, kind: DropKind, reason: str, detail: str, *, version: str | None = None,
                 reply: bytes | None = None) -> None:
        self.kind = kind
        self.reason = reason
        self.detail = detail
        self.version = version
        self.reply = reply
        super().__init__(detail)


@dataclass(frozen=True, slots=True)
class Decoded:
    """An accepted trap or inform, and the Response to send back for an inform."""

    event: TrapEvent
    reply: bytes | None = None


@dataclass(frozen=True, slots=True)
class Community:
    """A community we accept, under a name that logs and labels may show."""

    name: str
    secret: Secret

    def __repr__(self) -> str:
        return f"Community({self.name!r}, <redacted>)"


@dataclass(frozen=True, slots=True)
class _Source:
    address: str
    port: int
    wall: float


class TrapDecoder:
    """Decode and authenticate datagrams sent to the trap port."""

    def __init__(self, communities: Sequence[Community], usm: UsmReceiver | None = None,
                 salts: SaltCounter | None = None) -> None:
        self._communities = tuple(communities)
        self.usm = usm
        """The SNMPv3 receiving engine, or None when no SNMPv3 user is configured."""
        self._salts = salts if salts is not None else SaltCounter()

    def decode(self, data: bytes, source: str, port: int, now: float, wall: float) -> Decoded:
        """Decode one datagram from `source`; raise TrapDropped when it yields no event.

        `now` is the monotonic clock in seconds (the SNMPv3 time window), `wall` Unix time.
        """
        try:
            version = decode_version(data)
        except DecodeError as exc:
            raise TrapDropped(DropKind.MALFORMED, "malformed",
                              f"not an SNMP message: {exc}") from None
        origin = _Source(source, port, wall)
        if version in (SnmpVersion.V1, SnmpVersion.V2C):
            return self._decode_community(data, origin)
        if version == SnmpVersion.V3:
            return self._decode_v3(data, origin, now)
        raise TrapDropped(DropKind.MALFORMED, "malformed",
                          f"SNMP version field {version} is none of 0 (v1), 1 (v2c) or 3")

    # -----------------------------------------------------------------------------------------
    # SNMPv1 and SNMPv2c

    def _decode_community(self, data: bytes, origin: _Source) -> Decoded:
        try:
            message = decode_message(data)
        except DecodeError as exc:
            raise TrapDropped(DropKind.MALFORMED, "malformed", str(exc)) from None
        version = "1" if message.version is SnmpVersion.V1 else "2c"

        name = self._community_name(message.community)
        if name is None:
            raise TrapDropped(DropKind.UNAUTHENTICATED, "unknown_community",
                              "the community matches none of the configured ones",
                              version=version)
        pdu = message.pdu
        if message.version is SnmpVersion.V1 and isinstance(pdu, TrapV1Pdu):
            event = _event_from_v1(pdu, name, origin, version)
            return Decoded(event)
        if message.version is SnmpVersion.V2C and _is_notification(pdu):
            assert isinstance(pdu, Pdu)
            event = _event_from_v2(pdu, message.version, name, origin, b"")
            reply = _community_response(message, pdu) if event.is_inform else None
            return Decoded(event, reply)
        raise TrapDropped(DropKind.UNEXPECTED_PDU, "unexpected_pdu",
                          f"an SNMPv{version} {pdu.pdu_type.name} PDU is no trap or inform",
                          version=version)

    def _community_name(self, community: bytes) -> str | None:
        """Return the name of the configured community equal to `community`, or None.

        Every configured community is compared, in constant time, so the time taken does
        not tell which one came close.
        """
        found = None
        for each in self._communities:
            if hmac.compare_digest(each.secret.reveal(), community) and found is None:
                found = each.name
        return found

    # -----------------------------------------------------------------------------------------
    # SNMPv3

    def _decode_v3(self, data: bytes, origin: _Source, now: float) -> Decoded:
        try:
            message = v3.decode_message(data)
        except DecodeError as exc:
            raise TrapDropped(DropKind.MALFORMED, "malformed", str(exc), version="3") from None
        if self.usm is None:
            raise TrapDropped(DropKind.UNAUTHENTICATED, DiscardReason.UNKNOWN_USER_NAME.value,
                              "no SNMPv3 user is configured for traps", version="3")

        try:
            received = self.usm.receive(message, now)
        except Discarded as exc:
            raise _dropped_by_usm(exc, message) from None
        pdu = received.scoped.pdu
        if not _is_notification(pdu) or (pdu.pdu_type is PduType.INFORM
                                         and not received.is_authoritative):
            raise TrapDropped(DropKind.UNEXPECTED_PDU, "unexpected_pdu",
                              f"an SNMPv3 {pdu.pdu_type.name} PDU is no trap, or an inform "
                              "not sent to our engine ID", version="3")
        assert isinstance(pdu, Pdu)

        # A trap's authoritative engine is its sender. An inform's is us, so its sender is
        # named by contextEngineID.
        engine_id = (received.scoped.context_engine_id if received.is_authoritative
                     else received.usm.engine_id)
        event = _event_from_v2(pdu, SnmpVersion.V3, received.user.name, origin, engine_id)
        reply = self._v3_response(received, pdu, now) if event.is_inform else None
        return Decoded(event, reply)

    def _v3_response(self, received: Received, pdu: Pdu, now: float) -> bytes | None:
        assert self.usm is not None
        keys = received.keys
        salt = 0
        if keys is not None and keys.priv_protocol is not None:
            salt = self._salts.next(keys.priv_protocol)
        response = Pdu(PduType.RESPONSE, pdu.request_id, list(pdu.varbinds))
        try:
            return self.usm.response(received, response, now, salt)
        except EncodeError as exc:
            raise TrapDropped(DropKind.MALFORMED, "malformed",
                              f"the inform's Response cannot be encoded: {exc}",
                              version="3") from None


def _dropped_by_usm(exc: Discarded, message: v3.V3Message) -> TrapDropped:
    """Turn the USM's discard into a drop. A discovery probe is no failure."""
    assert message.usm is not None or exc.reason is DiscardReason.UNKNOWN_SECURITY_MODEL
    if exc.reason is DiscardReason.MALFORMED:
        kind = DropKind.MALFORMED
    elif (exc.reason is DiscardReason.UNKNOWN_ENGINE_ID and message.usm is not None
          and not message.usm.engine_id):
        kind = DropKind.DISCOVERY
    else:
        kind = DropKind.UNAUTHENTICATED
    return TrapDropped(kind, exc.reason.value, exc.detail, version="3", reply=exc.report)


def _is_notification(pdu: AnyPdu) -> bool:
    return isinstance(pdu, Pdu) and pdu.pdu_type in _NOTIFICATION_TYPES


# ---------------------------------------------------------------------------------------------
# Events


def _event_from_v1(pdu: TrapV1Pdu, name: str, origin: _Source, version: str) -> TrapEvent:
    """Translate an SNMPv1 Trap-PDU (RFC 3584 3.1).

    The trap OID is snmpTraps.(generic-trap + 1) for a generic trap, and
    enterprise.0.specific-trap for an enterprise-specific one. snmpTrapAddress.0 carries the
    agent-addr, which can differ from the UDP source behind NAT or a relay, and
    snmpTrapEnterprise.0 the enterprise. snmpTrapCommunity.0 is left out because the
    community is a secret here.
    """
    if not 0 <= pdu.generic_trap <= ENTERPRISE_SPECIFIC:
        raise TrapDropped(DropKind.MALFORMED, "malformed",
                          f"generic-trap {pdu.generic_trap} is outside 0..6", version=version)
    if pdu.generic_trap == ENTERPRISE_SPECIFIC:
        if pdu.specific_trap < 0:
            raise TrapDropped(DropKind.MALFORMED, "malformed",
                              f"specific-trap {pdu.specific_trap} is negative, so it cannot "
                              "end a trap OID", version=version)
        trap_oid: Oid = (*pdu.enterprise, 0, pdu.specific_trap)
    else:
        trap_oid = (*SNMP_TRAPS, pdu.generic_trap + 1)

    varbinds = (
        *pdu.varbinds,
        VarBind(SNMP_TRAP_ADDRESS_0, IpAddress(pdu.agent_address)),
        VarBind(SNMP_TRAP_ENTERPRISE_0, ObjectIdentifier(pdu.enterprise)),
    )
    return TrapEvent(origin.address, origin.port, SnmpVersion.V1, name, trap_oid,
                     pdu.time_stamp, varbinds, origin.wall)


def _event_from_v2(pdu: Pdu, version: SnmpVersion, name: str, origin: _Source,
                   engine_id: bytes) -> TrapEvent:
    """Read an SNMPv2-Trap or InformRequest: sysUpTime.0, snmpTrapOID.0, then the rest.

    RFC 3416 4.2.6 puts sysUpTime.0 first and snmpTrapOID.0 second. A trap without
    sysUpTime.0 is accepted with no uptime; one without snmpTrapOID.0 is malformed.
    """
    varbinds = pdu.varbinds
    uptime: int | None = None
    position = 0
    if varbinds and varbinds[0].oid == SYS_UPTIME_0:
        value = varbinds[0].value
        uptime = int(value) if isinstance(value, int) else None
        position = 1
    if len(varbinds) <= position or varbinds[position].oid != SNMP_TRAP_OID_0:
        raise TrapDropped(DropKind.MALFORMED, "malformed",
                          f"the {pdu.pdu_type.name} PDU has no snmpTrapOID.0 after "
                          "sysUpTime.0", version=VERSION_NAMES[version])
    trap_oid = varbinds[position].value
    if not isinstance(trap_oid, ObjectIdentifier):
        raise TrapDropped(DropKind.MALFORMED, "malformed",
                          f"snmpTrapOID.0 holds {trap_oid!r}, not an OBJECT IDENTIFIER",
                          version=VERSION_NAMES[version])
    return TrapEvent(origin.address, origin.port, version, name, tuple(trap_oid), uptime,
                     tuple(varbinds[position + 1:]), origin.wall,
                     is_inform=pdu.pdu_type is PduType.INFORM, engine_id=engine_id)


def _community_response(message: CommunityMessage, pdu: Pdu) -> bytes | None:
    """Encode the Response to an SNMPv2c inform: same request-id and varbinds, noError."""
    response = Pdu(PduType.RESPONSE, pdu.request_id, list(pdu.varbinds))
    try:
        return encode_message(CommunityMessage(message.version, message.community, response))
    except EncodeError as exc:
        raise TrapDropped(DropKind.MALFORMED, "malformed",
                          f"the inform's Response cannot be encoded: {exc}",
                          version="2c") from None
