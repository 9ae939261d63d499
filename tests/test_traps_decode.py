"""Decoding traps and informs: SNMPv1 translation, SNMPv2c, SNMPv3, and what is dropped.

net-snmp 5.9.3's snmptrap sent the captured datagrams on loopback, with the test community
"trapcomm". The decoder is checked on these real packets and on every prefix of them, which
must be dropped as malformed and never raise anything else.
"""

from __future__ import annotations

import pytest

from snmpd_ng.alerting.traps.decode import Community, DropKind, TrapDecoder, TrapDropped
from snmpd_ng.alerting.traps.event import (
    SNMP_TRAP_ADDRESS_0,
    SNMP_TRAP_ENTERPRISE_0,
    SNMP_TRAP_OID_0,
    SYS_UPTIME_0,
)
from snmpd_ng.protocol.message import CommunityMessage, SnmpVersion, decode_message, encode_message
from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.pdu import AnyPdu, Pdu, PduType, TrapV1Pdu
from snmpd_ng.protocol.values import (
    Integer32,
    IpAddress,
    ObjectIdentifier,
    OctetString,
    TimeTicks,
    VarBind,
)
from snmpd_ng.secret import Secret
from snmpd_ng.security.credentials import UsmUser
from snmpd_ng.security.engine import EngineState, EngineStatus
from snmpd_ng.security.keycache import KeyCache
from snmpd_ng.security.keys import AuthProtocol
from snmpd_ng.security.receiver import LocalEngine, ReceiverUser, UserTable, UsmReceiver
from snmpd_ng.security.usm import discovery_request, outgoing_request

COMMUNITY = "trapcomm"  # test value, as in the captured datagrams
SOURCE = "192.0.2.10"
NOW = 100.0
WALL = 1_700_000_000.0

# snmptrap -v 1 -c trapcomm HOST 1.3.6.1.4.1.8072.2.3 192.0.2.7 6 17 12345
#     1.3.6.1.2.1.1.5.0 s "edge-1"
V1_ENTERPRISE_SPECIFIC = bytes.fromhex(
    "3040020100040874726170636f6d6da43106092b06010401bf0802034004c000020702010602011143023039"
    "3014301206082b060102010105000406656467652d31")
# snmptrap -v 1 -c trapcomm HOST 1.3.6.1.4.1.8072.2.3 192.0.2.7 2 0 12345
#     1.3.6.1.2.1.2.2.1.1.4 i 4
V1_LINK_DOWN = bytes.fromhex(
    "303d020100040874726170636f6d6da42e06092b06010401bf0802034004c000020702010202010043023039"
    "3011300f060a2b060102010202010104020104")
# snmptrap -v 2c -c trapcomm HOST 54321 1.3.6.1.6.3.1.1.5.3 1.3.6.1.2.1.2.2.1.1.3 i 3
#     1.3.6.1.2.1.2.2.1.7.3 i 1 1.3.6.1.2.1.2.2.1.8.3 i 2
V2C_LINK_DOWN = bytes.fromhex(
    "307a020101040874726170636f6d6da76b020459d34524020100020100305d300f06082b0601020101030043"
    "0300d4313017060a2b06010603010104010006092b0601060301010503300f060a2b06010201020201010302"
    "0103300f060a2b060102010202010703020101300f060a2b060102010202010803020102")
CAPTURED = {"v1-enterprise-specific": V1_ENTERPRISE_SPECIFIC, "v1-link-down": V1_LINK_DOWN,
            "v2c-link-down": V2C_LINK_DOWN}

LINK_DOWN: Oid = (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)
ENTERPRISE: Oid = (1, 3, 6, 1, 4, 1, 8072, 2, 3)
IF_INDEX_3: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 3)
NOTIFICATION = [
    VarBind(SYS_UPTIME_0, TimeTicks(500)),
    VarBind(SNMP_TRAP_OID_0, ObjectIdentifier(LINK_DOWN)),
    VarBind(IF_INDEX_3, Integer32(3)),
]


def decoder(*communities: str, usm: UsmReceiver | None = None) -> TrapDecoder:
    names = communities or (COMMUNITY,)
    return TrapDecoder([Community(f"c{index}", Secret(text))
                        for index, text in enumerate(names)], usm)


def community_message(pdu: AnyPdu, version: SnmpVersion = SnmpVersion.V2C,
                      community: str = COMMUNITY) -> bytes:
    return encode_message(CommunityMessage(version, community.encode(), pdu))


def dropped(data: bytes, trap_decoder: TrapDecoder | None = None) -> TrapDropped:
    with pytest.raises(TrapDropped) as caught:
        (trap_decoder or decoder()).decode(data, SOURCE, 162, NOW, WALL)
    return caught.value


# ---------------------------------------------------------------------------------------------
# SNMPv1: RFC 3584 3.1 translation


def test_v1_enterprise_specific_trap_oid() -> None:
    event = decoder().decode(V1_ENTERPRISE_SPECIFIC, SOURCE, 162, NOW, WALL).event
    assert event.trap_oid == (*ENTERPRISE, 0, 17)


def test_v1_generic_trap_maps_to_snmp_traps() -> None:
    event = decoder().decode(V1_LINK_DOWN, SOURCE, 162, NOW, WALL).event
    assert event.trap_oid == LINK_DOWN


def test_v1_time_stamp_becomes_uptime() -> None:
    event = decoder().decode(V1_LINK_DOWN, SOURCE, 162, NOW, WALL).event
    assert event.uptime == 12345


def test_v1_appends_agent_address_and_enterprise() -> None:
    event = decoder().decode(V1_ENTERPRISE_SPECIFIC, SOURCE, 162, NOW, WALL).event
    assert event.varbinds[-2] == VarBind(SNMP_TRAP_ADDRESS_0, IpAddress(b"\xc0\x00\x02\x07"))
    assert event.varbinds[-1] == VarBind(SNMP_TRAP_ENTERPRISE_0, ObjectIdentifier(ENTERPRISE))


def test_v1_keeps_trap_varbinds_first() -> None:
    event = decoder().decode(V1_ENTERPRISE_SPECIFIC, SOURCE, 162, NOW, WALL).event
    assert event.varbinds[0] == VarBind((1, 3, 6, 1, 2, 1, 1, 5, 0), OctetString(b"edge-1"))
    assert len(event.varbinds) == 3


def test_v1_event_names_community_not_its_value() -> None:
    event = decoder().decode(V1_LINK_DOWN, SOURCE, 162, NOW, WALL).event
    assert event.security_name == "c0"
    assert event.version is SnmpVersion.V1


def test_v1_trap_gets_no_reply() -> None:
    assert decoder().decode(V1_LINK_DOWN, SOURCE, 162, NOW, WALL).reply is None


@pytest.mark.parametrize("generic", [-1, 7])
def test_v1_generic_trap_out_of_range_is_malformed(generic: int) -> None:
    pdu = TrapV1Pdu(ENTERPRISE, b"\x7f\x00\x00\x01", 0, 0, 1)
    data = bytearray(community_message(pdu, SnmpVersion.V1))
    # generic-trap is the INTEGER after the 4-octet agent-addr: patch its one content octet.
    position = data.index(b"\x40\x04\x7f\x00\x00\x01") + 8
    data[position] = generic & 0xFF
    drop = dropped(bytes(data))
    assert drop.kind is DropKind.MALFORMED
    assert "generic-trap" in drop.detail


def test_v1_negative_specific_trap_is_malformed() -> None:
    pdu = TrapV1Pdu(ENTERPRISE, b"\x7f\x00\x00\x01", 6, -3, 1)
    drop = dropped(community_message(pdu, SnmpVersion.V1))
    assert drop.kind is DropKind.MALFORMED
    assert "specific-trap" in drop.detail


def test_v1_message_with_v2_trap_is_unexpected() -> None:
    data = community_message(Pdu(PduType.GET, 1, []), SnmpVersion.V1)
    assert dropped(data).kind is DropKind.UNEXPECTED_PDU


# ---------------------------------------------------------------------------------------------
# SNMPv2c


def test_v2c_captured_link_down() -> None:
    event = decoder().decode(V2C_LINK_DOWN, SOURCE, 40000, NOW, WALL).event
    assert event.trap_oid == LINK_DOWN
    assert event.uptime == 54321
    assert event.varbinds[0] == VarBind(IF_INDEX_3, Integer32(3))
    assert len(event.varbinds) == 3


def test_v2c_event_records_source_and_time() -> None:
    event = decoder().decode(V2C_LINK_DOWN, SOURCE, 40000, NOW, WALL).event
    assert (event.source, event.source_port) == (SOURCE, 40000)
    assert event.received_at == WALL
    assert event.is_inform is False


def test_v2c_trap_without_uptime_accepted() -> None:
    pdu = Pdu(PduType.TRAP_V2, 5, NOTIFICATION[1:])
    event = decoder().decode(community_message(pdu), SOURCE, 162, NOW, WALL).event
    assert event.uptime is None
    assert event.trap_oid == LINK_DOWN


def test_v2c_trap_without_trap_oid_is_malformed() -> None:
    pdu = Pdu(PduType.TRAP_V2, 5, [NOTIFICATION[0], NOTIFICATION[2]])
    drop = dropped(community_message(pdu))
    assert drop.kind is DropKind.MALFORMED
    assert "snmpTrapOID.0" in drop.detail


def test_v2c_trap_oid_of_wrong_type_is_malformed() -> None:
    pdu = Pdu(PduType.TRAP_V2, 5, [VarBind(SNMP_TRAP_OID_0, Integer32(3))])
    drop = dropped(community_message(pdu))
    assert drop.kind is DropKind.MALFORMED
    assert "OBJECT IDENTIFIER" in drop.detail


def test_v2c_inform_answered_with_same_request_id() -> None:
    data = community_message(Pdu(PduType.INFORM, 4242, list(NOTIFICATION)))
    decoded = decoder().decode(data, SOURCE, 162, NOW, WALL)
    assert decoded.reply is not None
    response = decode_message(decoded.reply)
    assert response.pdu == Pdu(PduType.RESPONSE, 4242, list(NOTIFICATION))
    assert response.community == COMMUNITY.encode()
    assert decoded.event.is_inform is True


@pytest.mark.parametrize("pdu_type", [PduType.GET, PduType.SET, PduType.RESPONSE,
                                      PduType.REPORT])
def test_v2c_other_pdus_are_unexpected(pdu_type: PduType) -> None:
    drop = dropped(community_message(Pdu(pdu_type, 1, list(NOTIFICATION))))
    assert drop.kind is DropKind.UNEXPECTED_PDU
    assert drop.version == "2c"


def test_v2c_message_with_v1_trap_is_unexpected() -> None:
    pdu = TrapV1Pdu(ENTERPRISE, b"\x7f\x00\x00\x01", 0, 0, 1)
    assert dropped(community_message(pdu, SnmpVersion.V2C)).kind is DropKind.UNEXPECTED_PDU


# ---------------------------------------------------------------------------------------------
# Communities


def test_wrong_community_unauthenticated() -> None:
    drop = dropped(V2C_LINK_DOWN, decoder("another-community"))
    assert drop.kind is DropKind.UNAUTHENTICATED
    assert drop.reason == "unknown_community"


def test_wrong_community_detail_hides_both_values() -> None:
    drop = dropped(V2C_LINK_DOWN, decoder("another-community"))
    assert COMMUNITY not in drop.detail
    assert "another-community" not in drop.detail


def test_no_configured_community_rejects_v2c() -> None:
    drop = dropped(V2C_LINK_DOWN, TrapDecoder([]))
    assert drop.reason == "unknown_community"


def test_second_community_matches_by_name() -> None:
    event = decoder("first-community", COMMUNITY).decode(V2C_LINK_DOWN, SOURCE, 162, NOW,
                                                         WALL).event
    assert event.security_name == "c1"


def test_community_repr_hides_secret() -> None:
    assert COMMUNITY not in repr(Community("ops", Secret(COMMUNITY)))


# ---------------------------------------------------------------------------------------------
# Malformed datagrams


@pytest.mark.parametrize("name", sorted(CAPTURED))
def test_every_truncated_prefix_is_malformed(name: str) -> None:
    data = CAPTURED[name]
    for length in range(len(data)):
        drop = dropped(data[:length])
        assert drop.kind is DropKind.MALFORMED, length


@pytest.mark.parametrize("name", sorted(CAPTURED))
def test_trailing_bytes_are_malformed(name: str) -> None:
    assert dropped(CAPTURED[name] + b"\x00").kind is DropKind.MALFORMED


@pytest.mark.parametrize("data", [b"", b"\x00", b"garbage that is not BER", b"\x30\x03\x02\x01\x02",
                                  bytes(range(256))],
                         ids=["empty", "zero", "text", "version-2", "all-octets"])
def test_garbage_is_malformed(data: bytes) -> None:
    assert dropped(data).kind is DropKind.MALFORMED


def test_unknown_version_names_value() -> None:
    assert "version field 2" in dropped(b"\x30\x03\x02\x01\x02").detail


# ---------------------------------------------------------------------------------------------
# SNMPv3 through the decoder

OUR_ENGINE_ID = bytes.fromhex("80000000050102030405060708090a0b0c")
SENDER_ENGINE_ID = bytes.fromhex("8000000001020304")
USER = UsmUser("trapper", auth_protocol=AuthProtocol.SHA, auth_key=Secret("trap-auth-pass-1"))


def v3_decoder() -> TrapDecoder:
    local = LocalEngine(OUR_ENGINE_ID, 1, 0.0)
    return decoder(usm=UsmReceiver(local, UserTable([ReceiverUser(USER)])))


def v3_message(pdu_type: PduType, engine_id: bytes, *, reportable: bool) -> bytes:
    engine = EngineState(engine_id=engine_id, status=EngineStatus.SYNCED, boots=1,
                         time=int(NOW), learned_at=NOW)
    keys = KeyCache().keys(USER, engine_id)
    return outgoing_request(USER, USER.security_level, keys, engine,
                            Pdu(pdu_type, 9, list(NOTIFICATION)), 31,
                            context_engine_id=SENDER_ENGINE_ID, context_name=b"", now=NOW,
                            salt=0, reportable=reportable)


def test_v3_trap_event_names_user_and_sender_engine() -> None:
    data = v3_message(PduType.TRAP_V2, SENDER_ENGINE_ID, reportable=False)
    event = v3_decoder().decode(data, SOURCE, 162, NOW, WALL).event
    assert event.security_name == "trapper"
    assert event.engine_id == SENDER_ENGINE_ID
    assert event.version is SnmpVersion.V3


def test_v3_inform_gets_response() -> None:
    data = v3_message(PduType.INFORM, OUR_ENGINE_ID, reportable=True)
    decoded = v3_decoder().decode(data, SOURCE, 162, NOW, WALL)
    assert decoded.reply is not None
    assert decoded.event.is_inform is True
    assert decoded.event.engine_id == SENDER_ENGINE_ID


def test_v3_discovery_probe_is_discovery_with_report() -> None:
    drop = dropped(discovery_request(7, 8), v3_decoder())
    assert drop.kind is DropKind.DISCOVERY
    assert drop.reply is not None


def test_v3_without_users_is_unauthenticated() -> None:
    data = v3_message(PduType.TRAP_V2, SENDER_ENGINE_ID, reportable=False)
    drop = dropped(data, decoder())
    assert drop.kind is DropKind.UNAUTHENTICATED
    assert drop.version == "3"


def test_v3_inform_from_sender_engine_unexpected() -> None:
    data = v3_message(PduType.INFORM, SENDER_ENGINE_ID, reportable=False)
    assert dropped(data, v3_decoder()).kind is DropKind.UNEXPECTED_PDU


def test_v3_get_is_unexpected() -> None:
    data = v3_message(PduType.GET, OUR_ENGINE_ID, reportable=True)
    assert dropped(data, v3_decoder()).kind is DropKind.UNEXPECTED_PDU


def test_v3_truncated_is_malformed() -> None:
    data = v3_message(PduType.TRAP_V2, SENDER_ENGINE_ID, reportable=False)
    for length in range(len(data)):
        assert dropped(data[:length], v3_decoder()).kind is DropKind.MALFORMED, length
