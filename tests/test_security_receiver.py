"""USM procedures of the receiving engine (RFC 3414 3.2): SNMPv3 traps and informs.

The sender's side is played with `usm.outgoing_request`: a trap sender is authoritative and
signs with its own engine's boots and time, an inform sender signs with ours. Reports and
Responses are opened again with the auth and priv modules directly, as a sender would.
net-snmp's own tools check the same procedures on loopback in test_traps_netsnmp.py.
"""

from __future__ import annotations

import pytest

from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.pdu import Pdu, PduType
from snmpd_ng.protocol.v3 import (
    FLAG_AUTH,
    FLAG_PRIV,
    FLAG_REPORTABLE,
    ScopedPdu,
    V3Message,
    decode_message,
    decode_scoped_pdu,
)
from snmpd_ng.protocol.values import Counter32, Integer32, ObjectIdentifier, TimeTicks, VarBind
from snmpd_ng.secret import Secret
from snmpd_ng.security import auth, priv
from snmpd_ng.security.credentials import KeyKind, SecurityLevel, UsmUser
from snmpd_ng.security.engine import MAX_ENGINE_BOOTS, EngineState, EngineStatus
from snmpd_ng.security.keycache import KeyCache
from snmpd_ng.security.keys import AuthProtocol, PrivProtocol, localized_auth_key
from snmpd_ng.security.receiver import (
    ENGINE_ID_FORMAT_OCTETS,
    REPORT_OIDS,
    Discarded,
    DiscardReason,
    LocalEngine,
    ReceiverUser,
    UserTable,
    UsmReceiver,
    make_engine_id,
    message_level,
)
from snmpd_ng.security.usm import LocalizedKeys, discovery_request, outgoing_request

OUR_ENGINE_ID = make_engine_id(bytes(range(1, 13)))
SENDER_ENGINE_ID = bytes.fromhex("8000000001020304")
STARTED_AT = 500.0
NOW = 1_000.0
OUR_BOOTS = 7
SENDER_BOOTS = 3
SENDER_TIME = 40_000
MSG_ID = 9001
# Test passphrases only.
AUTH_PASSPHRASE = "trap-auth-pass-1"
PRIV_PASSPHRASE = "trap-priv-pass-2"
WRONG_PASSPHRASE = "not-the-passphrase"

SYS_UPTIME_0: Oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SNMP_TRAP_OID_0: Oid = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
LINK_DOWN: Oid = (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)
IF_INDEX_3: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 3)
NOTIFICATION_VARBINDS = [
    VarBind(SYS_UPTIME_0, TimeTicks(12345)),
    VarBind(SNMP_TRAP_OID_0, ObjectIdentifier(LINK_DOWN)),
    VarBind(IF_INDEX_3, Integer32(3)),
]

_KEY_CACHE = KeyCache()


def make_user(name: str = "trapper", auth_protocol: AuthProtocol | None = AuthProtocol.SHA,
              priv_protocol: PrivProtocol | None = None,
              auth_passphrase: str = AUTH_PASSPHRASE,
              priv_passphrase: str = PRIV_PASSPHRASE) -> UsmUser:
    return UsmUser(name, auth_protocol=auth_protocol,
                   auth_key=Secret(auth_passphrase) if auth_protocol else None,
                   priv_protocol=priv_protocol,
                   priv_key=Secret(priv_passphrase) if priv_protocol else None)


def receiver_for(*users: UsmUser | ReceiverUser, boots: int = OUR_BOOTS,
                 sender_capacity: int = 100) -> UsmReceiver:
    entries = [user if isinstance(user, ReceiverUser) else ReceiverUser(user) for user in users]
    local = LocalEngine(OUR_ENGINE_ID, boots, STARTED_AT)
    return UsmReceiver(local, UserTable(entries), sender_capacity=sender_capacity)


def keys_of(user: UsmUser, engine_id: bytes) -> LocalizedKeys | None:
    return _KEY_CACHE.keys(user, engine_id)


def sender_engine(engine_id: bytes = SENDER_ENGINE_ID, boots: int = SENDER_BOOTS,
                  engine_time: int = SENDER_TIME, now: float = NOW) -> EngineState:
    return EngineState(engine_id=engine_id, status=EngineStatus.SYNCED, boots=boots,
                       time=engine_time, learned_at=now)


def trap(user: UsmUser, level: SecurityLevel | None = None, *,
         engine: EngineState | None = None, signing_user: UsmUser | None = None,
         pdu_type: PduType = PduType.TRAP_V2) -> V3Message:
    """Encode a trap as its authoritative sender does, and decode its framing."""
    engine = engine if engine is not None else sender_engine()
    signer = signing_user if signing_user is not None else user
    pdu = Pdu(pdu_type, 77, list(NOTIFICATION_VARBINDS))
    data = outgoing_request(user, level or user.security_level,
                            keys_of(signer, engine.engine_id), engine, pdu, MSG_ID,
                            context_engine_id=engine.engine_id, context_name=b"", now=NOW,
                            salt=1, reportable=False)
    return decode_message(data)


def inform(user: UsmUser, level: SecurityLevel | None = None, *, boots: int = OUR_BOOTS,
           engine_time: int | None = None, signing_user: UsmUser | None = None,
           engine_id: bytes = OUR_ENGINE_ID) -> V3Message:
    """Encode an inform as a sender does after discovering our engine."""
    engine_time = int(NOW - STARTED_AT) if engine_time is None else engine_time
    engine = EngineState(engine_id=engine_id, status=EngineStatus.SYNCED, boots=boots,
                         time=engine_time, learned_at=NOW)
    signer = signing_user if signing_user is not None else user
    pdu = Pdu(PduType.INFORM, 78, list(NOTIFICATION_VARBINDS))
    data = outgoing_request(user, level or user.security_level, keys_of(signer, engine_id),
                            engine, pdu, MSG_ID, context_engine_id=SENDER_ENGINE_ID,
                            context_name=b"", now=NOW, salt=2)
    return decode_message(data)


def open_report(report: bytes | None) -> tuple[V3Message, ScopedPdu]:
    assert report is not None
    message = decode_message(report)
    return message, decode_scoped_pdu(message.data)


def discard(receiver: UsmReceiver, message: V3Message, now: float = NOW) -> Discarded:
    with pytest.raises(Discarded) as caught:
        receiver.receive(message, now)
    return caught.value


# ---------------------------------------------------------------------------------------------
# Our engine


def test_make_engine_id_follows_rfc_3411_format() -> None:
    engine_id = make_engine_id(b"\xaa" * 12)
    assert engine_id[:4] == b"\x80\x00\x00\x00"
    assert engine_id[4] == ENGINE_ID_FORMAT_OCTETS
    assert engine_id[5:] == b"\xaa" * 12


def test_make_engine_id_takes_enterprise_number() -> None:
    assert make_engine_id(b"\x01", enterprise=8072)[:4] == bytes.fromhex("80001f88")


@pytest.mark.parametrize("length", [0, 28])
def test_make_engine_id_rejects_random_length(length: int) -> None:
    with pytest.raises(ValueError, match="octets"):
        make_engine_id(bytes(length))


def test_local_engine_time_counts_seconds_since_start() -> None:
    local = LocalEngine(OUR_ENGINE_ID, 1, STARTED_AT)
    assert local.time(STARTED_AT + 12.9) == 12


@pytest.mark.parametrize(("boots", "offset", "expected"), [
    (OUR_BOOTS, 0, True),
    (OUR_BOOTS, 150, True),
    (OUR_BOOTS, -150, True),
    (OUR_BOOTS, 151, False),
    (OUR_BOOTS, -151, False),
    (OUR_BOOTS - 1, 0, False),
    (OUR_BOOTS + 1, 0, False),
])
def test_local_engine_time_window(boots: int, offset: int, expected: bool) -> None:
    local = LocalEngine(OUR_ENGINE_ID, OUR_BOOTS, STARTED_AT)
    assert local.is_timely(boots, local.time(NOW) + offset, NOW) is expected


def test_local_engine_at_max_boots_is_never_timely() -> None:
    local = LocalEngine(OUR_ENGINE_ID, MAX_ENGINE_BOOTS, STARTED_AT)
    assert local.is_timely(MAX_ENGINE_BOOTS, local.time(NOW), NOW) is False


@pytest.mark.parametrize(("flags", "level"), [
    (0, SecurityLevel.NO_AUTH_NO_PRIV),
    (FLAG_REPORTABLE, SecurityLevel.NO_AUTH_NO_PRIV),
    (FLAG_AUTH, SecurityLevel.AUTH_NO_PRIV),
    (FLAG_AUTH | FLAG_PRIV, SecurityLevel.AUTH_PRIV),
])
def test_message_level_from_flags(flags: int, level: SecurityLevel) -> None:
    assert message_level(flags) is level


# ---------------------------------------------------------------------------------------------
# Users


def test_receiver_user_with_localized_key_needs_engine_id() -> None:
    key = Secret(localized_auth_key(AuthProtocol.SHA, AUTH_PASSPHRASE.encode(),
                                    SENDER_ENGINE_ID))
    user = UsmUser("keyed", auth_protocol=AuthProtocol.SHA, auth_key=key,
                   auth_key_kind=KeyKind.LOCALIZED)
    with pytest.raises(ValueError, match="localised key"):
        ReceiverUser(user)


def test_user_table_prefers_user_bound_to_engine() -> None:
    bound = make_user(auth_passphrase="bound-pass-1234")
    anywhere = make_user()
    table = UserTable([ReceiverUser(anywhere), ReceiverUser(bound, SENDER_ENGINE_ID)])
    assert table.find(SENDER_ENGINE_ID, b"trapper") is bound
    assert table.find(OUR_ENGINE_ID, b"trapper") is anywhere


def test_user_table_misses_unknown_name() -> None:
    table = UserTable([ReceiverUser(make_user())])
    assert table.find(SENDER_ENGINE_ID, b"nobody") is None


# ---------------------------------------------------------------------------------------------
# Traps: the sender is authoritative


def test_trap_auth_no_priv_accepted() -> None:
    user = make_user()
    received = receiver_for(user).receive(trap(user), NOW)
    assert received.is_authoritative is False
    assert received.scoped.pdu.pdu_type is PduType.TRAP_V2
    assert received.usm.engine_id == SENDER_ENGINE_ID


@pytest.mark.parametrize("priv_protocol", list(PrivProtocol), ids=lambda p: p.value)
def test_trap_auth_priv_decrypts(priv_protocol: PrivProtocol) -> None:
    user = make_user(auth_protocol=AuthProtocol.SHA256, priv_protocol=priv_protocol)
    received = receiver_for(user).receive(trap(user), NOW)
    assert isinstance(received.scoped.pdu, Pdu)
    assert received.scoped.pdu.varbinds == NOTIFICATION_VARBINDS


def test_trap_no_auth_user_accepted() -> None:
    user = make_user(auth_protocol=None)
    received = receiver_for(user).receive(trap(user), NOW)
    assert received.level is SecurityLevel.NO_AUTH_NO_PRIV


def test_trap_learns_sender_clock() -> None:
    user = make_user()
    receiver = receiver_for(user)
    receiver.receive(trap(user), NOW)
    state = receiver.sender_state(SENDER_ENGINE_ID)
    assert state is not None
    assert (state.boots, state.time) == (SENDER_BOOTS, SENDER_TIME)


def test_trap_wrong_digest_rejected_without_report() -> None:
    user = make_user()
    impostor = make_user(auth_passphrase=WRONG_PASSPHRASE)
    receiver = receiver_for(user)
    discarded = discard(receiver, trap(user, signing_user=impostor))
    assert discarded.reason is DiscardReason.WRONG_DIGEST
    assert discarded.report is None
    assert receiver.stats[DiscardReason.WRONG_DIGEST] == 1


def test_trap_wrong_digest_keeps_sender_clock_unknown() -> None:
    user = make_user()
    receiver = receiver_for(user)
    discard(receiver, trap(user, signing_user=make_user(auth_passphrase=WRONG_PASSPHRASE)))
    assert receiver.sender_state(SENDER_ENGINE_ID) is None


def test_trap_unknown_user_rejected() -> None:
    receiver = receiver_for(make_user("someone-else"))
    discarded = discard(receiver, trap(make_user()))
    assert discarded.reason is DiscardReason.UNKNOWN_USER_NAME
    assert discarded.report is None


def test_trap_below_user_level_rejected() -> None:
    user = make_user(priv_protocol=PrivProtocol.AES)
    discarded = discard(receiver_for(user), trap(user, SecurityLevel.AUTH_NO_PRIV))
    assert discarded.reason is DiscardReason.UNSUPPORTED_SECURITY_LEVEL
    assert "below" in discarded.detail


def test_trap_above_user_level_rejected() -> None:
    configured = make_user(auth_protocol=None)
    sender = make_user()
    discarded = discard(receiver_for(configured), trap(sender))
    assert discarded.reason is DiscardReason.UNSUPPORTED_SECURITY_LEVEL
    assert "above" in discarded.detail


def test_trap_wrong_priv_key_is_decryption_error() -> None:
    user = make_user(priv_protocol=PrivProtocol.DES)
    sender = make_user(priv_protocol=PrivProtocol.DES, priv_passphrase=WRONG_PASSPHRASE)
    discarded = discard(receiver_for(user), trap(user, signing_user=sender))
    assert discarded.reason is DiscardReason.DECRYPTION_ERROR


def test_trap_from_lower_boots_rejected_as_replay() -> None:
    user = make_user()
    receiver = receiver_for(user)
    receiver.receive(trap(user), NOW)
    old = trap(user, engine=sender_engine(boots=SENDER_BOOTS - 1))
    discarded = discard(receiver, old)
    assert discarded.reason is DiscardReason.NOT_IN_TIME_WINDOW
    assert "lost its engineBoots" in discarded.detail


def test_trap_slightly_older_time_accepted() -> None:
    user = make_user()
    receiver = receiver_for(user)
    receiver.receive(trap(user), NOW)
    receiver.receive(trap(user, engine=sender_engine(engine_time=SENDER_TIME - 150)), NOW)


def test_trap_older_than_window_rejected() -> None:
    user = make_user()
    receiver = receiver_for(user)
    receiver.receive(trap(user), NOW)
    discarded = discard(receiver, trap(user, engine=sender_engine(engine_time=SENDER_TIME - 151)))
    assert discarded.reason is DiscardReason.NOT_IN_TIME_WINDOW


def test_trap_after_sender_reboot_accepted() -> None:
    user = make_user()
    receiver = receiver_for(user)
    receiver.receive(trap(user), NOW)
    receiver.receive(trap(user, engine=sender_engine(boots=SENDER_BOOTS + 1, engine_time=5)),
                     NOW)
    state = receiver.sender_state(SENDER_ENGINE_ID)
    assert state is not None
    assert state.boots == SENDER_BOOTS + 1


def test_trap_senders_kept_apart_by_engine_id() -> None:
    user = make_user()
    receiver = receiver_for(user)
    other_id = bytes.fromhex("8000000001020399")
    receiver.receive(trap(user), NOW)
    receiver.receive(trap(user, engine=sender_engine(other_id, boots=1, engine_time=10)), NOW)
    assert receiver.sender_state(other_id) is not None
    assert receiver.sender_state(SENDER_ENGINE_ID) is not None


def test_trap_sender_states_bounded_by_capacity() -> None:
    user = make_user()
    receiver = receiver_for(user, sender_capacity=1)
    other_id = bytes.fromhex("8000000001020399")
    receiver.receive(trap(user), NOW)
    receiver.receive(trap(user, engine=sender_engine(other_id)), NOW)
    assert receiver.sender_state(SENDER_ENGINE_ID) is None


def test_trap_with_empty_engine_id_rejected() -> None:
    user = make_user(auth_protocol=None)
    discarded = discard(receiver_for(user), trap(user, engine=sender_engine(b"")))
    assert discarded.reason is DiscardReason.UNKNOWN_ENGINE_ID
    assert discarded.report is None


def test_trap_user_bound_to_other_engine_is_unknown() -> None:
    user = make_user()
    bound = ReceiverUser(user, bytes.fromhex("8000000001020399"))
    discarded = discard(receiver_for(bound), trap(user))
    assert discarded.reason is DiscardReason.UNKNOWN_USER_NAME


def test_trap_with_localized_key_of_its_sender_accepted() -> None:
    key = Secret(localized_auth_key(AuthProtocol.SHA, AUTH_PASSPHRASE.encode(),
                                    SENDER_ENGINE_ID))
    keyed = UsmUser("trapper", auth_protocol=AuthProtocol.SHA, auth_key=key,
                    auth_key_kind=KeyKind.LOCALIZED)
    receiver = receiver_for(ReceiverUser(keyed, SENDER_ENGINE_ID))
    received = receiver.receive(trap(make_user()), NOW)
    assert received.user is keyed


def test_unknown_security_model_rejected_without_report() -> None:
    user = make_user()
    message = inform(user)
    message.security_model = 2
    discarded = discard(receiver_for(user), message)
    assert discarded.reason is DiscardReason.UNKNOWN_SECURITY_MODEL
    assert discarded.report is None


# ---------------------------------------------------------------------------------------------
# Informs: we are authoritative


def test_discovery_probe_gets_our_engine_id() -> None:
    receiver = receiver_for(make_user())
    discarded = discard(receiver, decode_message(discovery_request(MSG_ID, 55)))
    message, _ = open_report(discarded.report)
    assert discarded.reason is DiscardReason.UNKNOWN_ENGINE_ID
    assert message.usm is not None
    assert message.usm.engine_id == OUR_ENGINE_ID
    assert (message.usm.engine_boots, message.usm.engine_time) == (OUR_BOOTS, 500)


def test_discovery_report_is_unauthenticated_under_request_msg_id() -> None:
    discarded = discard(receiver_for(make_user()), decode_message(discovery_request(MSG_ID, 55)))
    message, scoped = open_report(discarded.report)
    assert message.msg_id == MSG_ID
    assert message.flags == 0
    assert scoped.context_engine_id == OUR_ENGINE_ID


def test_discovery_report_carries_counter_and_request_id() -> None:
    receiver = receiver_for(make_user())
    discard(receiver, decode_message(discovery_request(MSG_ID, 55)))
    discarded = discard(receiver, decode_message(discovery_request(MSG_ID, 56)))
    _, scoped = open_report(discarded.report)
    assert isinstance(scoped.pdu, Pdu)
    assert scoped.pdu.pdu_type is PduType.REPORT
    assert scoped.pdu.request_id == 56
    assert scoped.pdu.varbinds == [VarBind(REPORT_OIDS[DiscardReason.UNKNOWN_ENGINE_ID],
                                           Counter32(2))]


def test_inform_to_other_engine_gets_unknown_engine_id() -> None:
    user = make_user()
    discarded = discard(receiver_for(user), inform(user, engine_id=SENDER_ENGINE_ID))
    assert discarded.reason is DiscardReason.UNKNOWN_ENGINE_ID
    assert discarded.report is not None


@pytest.mark.parametrize(("auth_protocol", "priv_protocol"), [
    (AuthProtocol.MD5, None),
    (AuthProtocol.SHA512, None),
    (AuthProtocol.SHA, PrivProtocol.DES),
    (AuthProtocol.SHA256, PrivProtocol.AES256C),
], ids=["MD5", "SHA-512", "SHA-DES", "SHA-256-AES-256-C"])
def test_inform_accepted_as_authoritative(auth_protocol: AuthProtocol,
                                          priv_protocol: PrivProtocol | None) -> None:
    user = make_user(auth_protocol=auth_protocol, priv_protocol=priv_protocol)
    received = receiver_for(user).receive(inform(user), NOW)
    assert received.is_authoritative is True
    assert received.scoped.pdu.pdu_type is PduType.INFORM


def test_inform_response_signed_with_our_engine() -> None:
    user = make_user(auth_protocol=AuthProtocol.SHA256, priv_protocol=PrivProtocol.AES)
    receiver = receiver_for(user)
    received = receiver.receive(inform(user), NOW)
    response = Pdu(PduType.RESPONSE, 78, list(NOTIFICATION_VARBINDS))
    message = decode_message(receiver.response(received, response, NOW, salt=99))
    keys = keys_of(user, OUR_ENGINE_ID)
    assert keys is not None and keys.auth_protocol is not None
    assert message.usm is not None
    assert message.usm.engine_id == OUR_ENGINE_ID
    assert auth.verify(keys.auth_protocol, keys.auth_key, message.zeroed(),
                       message.usm.auth_parameters)


def test_inform_response_keeps_level_and_is_not_reportable() -> None:
    user = make_user(auth_protocol=AuthProtocol.SHA256, priv_protocol=PrivProtocol.AES)
    receiver = receiver_for(user)
    received = receiver.receive(inform(user), NOW)
    response = Pdu(PduType.RESPONSE, 78, list(NOTIFICATION_VARBINDS))
    message = decode_message(receiver.response(received, response, NOW, salt=99))
    assert message.flags == FLAG_AUTH | FLAG_PRIV
    assert message.msg_id == MSG_ID


def test_inform_response_decrypts_to_same_request_id() -> None:
    user = make_user(auth_protocol=AuthProtocol.SHA, priv_protocol=PrivProtocol.AES)
    receiver = receiver_for(user)
    received = receiver.receive(inform(user), NOW)
    response = Pdu(PduType.RESPONSE, 78, list(NOTIFICATION_VARBINDS))
    message = decode_message(receiver.response(received, response, NOW, salt=99))
    keys = keys_of(user, OUR_ENGINE_ID)
    assert keys is not None and keys.priv_protocol is not None and message.usm is not None
    plaintext = priv.decrypt(keys.priv_protocol, keys.priv_key, message.data,
                             message.usm.priv_parameters, engine_boots=message.usm.engine_boots,
                             engine_time=message.usm.engine_time)
    scoped = decode_scoped_pdu(plaintext)
    assert scoped.pdu == response
    assert scoped.context_engine_id == SENDER_ENGINE_ID


@pytest.mark.parametrize("offset", [-151, 151])
def test_inform_outside_window_gets_signed_report(offset: int) -> None:
    user = make_user(priv_protocol=PrivProtocol.AES)
    receiver = receiver_for(user)
    discarded = discard(receiver, inform(user, engine_time=int(NOW - STARTED_AT) + offset))
    message, _ = open_report(discarded.report)
    keys = keys_of(user, OUR_ENGINE_ID)
    assert keys is not None and keys.auth_protocol is not None and message.usm is not None
    assert discarded.reason is DiscardReason.NOT_IN_TIME_WINDOW
    assert message.flags == FLAG_AUTH
    assert auth.verify(keys.auth_protocol, keys.auth_key, message.zeroed(),
                       message.usm.auth_parameters)
    assert (message.usm.engine_boots, message.usm.engine_time) == (OUR_BOOTS, 500)


def test_inform_with_old_boots_gets_not_in_time_window() -> None:
    user = make_user()
    discarded = discard(receiver_for(user), inform(user, boots=OUR_BOOTS - 1))
    _, scoped = open_report(discarded.report)
    assert isinstance(scoped.pdu, Pdu)
    assert scoped.pdu.varbinds[0].oid == REPORT_OIDS[DiscardReason.NOT_IN_TIME_WINDOW]


@pytest.mark.parametrize(("configured", "sent", "signer", "reason"), [
    (make_user("other"), make_user(), None, DiscardReason.UNKNOWN_USER_NAME),
    (make_user(), make_user(), make_user(auth_passphrase=WRONG_PASSPHRASE),
     DiscardReason.WRONG_DIGEST),
    (make_user(priv_protocol=PrivProtocol.AES), make_user(priv_protocol=PrivProtocol.AES),
     make_user(priv_protocol=PrivProtocol.AES, priv_passphrase=WRONG_PASSPHRASE),
     DiscardReason.DECRYPTION_ERROR),
    (make_user(auth_protocol=None), make_user(), None,
     DiscardReason.UNSUPPORTED_SECURITY_LEVEL),
], ids=["unknown-user", "wrong-digest", "decryption-error", "unsupported-level"])
def test_inform_rejection_gets_unauthenticated_report(configured: UsmUser, sent: UsmUser,
                                                    signer: UsmUser | None,
                                                    reason: DiscardReason) -> None:
    discarded = discard(receiver_for(configured), inform(sent, signing_user=signer))
    message, scoped = open_report(discarded.report)
    assert discarded.reason is reason
    assert message.flags == 0
    assert isinstance(scoped.pdu, Pdu)
    assert scoped.pdu.varbinds == [VarBind(REPORT_OIDS[reason], Counter32(1))]


def test_inform_report_of_encrypted_request_has_request_id_zero() -> None:
    user = make_user(priv_protocol=PrivProtocol.AES)
    signer = make_user(priv_protocol=PrivProtocol.AES, priv_passphrase=WRONG_PASSPHRASE)
    discarded = discard(receiver_for(user), inform(user, signing_user=signer))
    _, scoped = open_report(discarded.report)
    assert isinstance(scoped.pdu, Pdu)
    assert scoped.pdu.request_id == 0


def test_inform_report_names_request_user() -> None:
    discarded = discard(receiver_for(make_user("other")), inform(make_user()))
    message, _ = open_report(discarded.report)
    assert message.usm is not None
    assert message.usm.user_name == b"trapper"


def test_discard_detail_never_shows_passphrase() -> None:
    user = make_user(priv_protocol=PrivProtocol.AES)
    signer = make_user(priv_protocol=PrivProtocol.AES, auth_passphrase=WRONG_PASSPHRASE)
    discarded = discard(receiver_for(user), inform(user, signing_user=signer))
    for secret in (AUTH_PASSPHRASE, PRIV_PASSPHRASE, WRONG_PASSPHRASE):
        assert secret not in discarded.detail
