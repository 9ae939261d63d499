"""USM procedures of the manager (RFC 3414 section 3): requests out, responses in, reports.

An authoritative-side helper below plays the agent. It signs and encrypts responses with
`encode_message` and the auth and priv modules directly, and opens our requests the same way.
So each test checks `outgoing_request` and `incoming_message` against a second path through the
RFC, not only against each other.
"""

from __future__ import annotations

import functools
import hmac
from dataclasses import replace

import pytest

from snmpd_ng.protocol.ber import read_header
from snmpd_ng.protocol.errors import DecodeError, EncodeError
from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.pdu import AnyPdu, Pdu, PduType
from snmpd_ng.protocol.v3 import (
    FLAG_AUTH,
    FLAG_PRIV,
    FLAG_REPORTABLE,
    ScopedPdu,
    UsmParameters,
    V3Message,
    decode_message,
    decode_scoped_pdu,
    encode_message,
    encode_scoped_pdu,
)
from snmpd_ng.protocol.values import NULL, Counter32, OctetString, VarBind
from snmpd_ng.secret import Secret
from snmpd_ng.security import auth, priv
from snmpd_ng.security.auth import MAC_LENGTHS
from snmpd_ng.security.credentials import SecurityLevel, UsmUser
from snmpd_ng.security.engine import EngineState
from snmpd_ng.security.keycache import KeyCache
from snmpd_ng.security.keys import HASH_NAMES, AuthProtocol, PrivProtocol
from snmpd_ng.security.usm import (
    MAX_MESSAGE_SIZE,
    REPORT_NAMES,
    Incoming,
    LocalizedKeys,
    Rejected,
    ReportKind,
    classify_report,
    discovery_request,
    incoming_message,
    outgoing_request,
)

ENGINE_ID = bytes.fromhex("80001f8804") + b"procedures"
OTHER_ENGINE_ID = bytes.fromhex("80001f8804") + b"elsewhere"
USER_NAME = "user1"
# Test passphrases only.
AUTH_PASSPHRASE = "auth-passphrase-1"
PRIV_PASSPHRASE = "priv-passphrase-2"
OTHER_PASSPHRASE = "another-passphrase-3"

BOOTS = 12
TIME = 86_400
LEARNED_AT = 1_000.0
MSG_ID = 4711
SALT = 0x0102_0304
SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
REQUEST = Pdu(PduType.GET, 31, [VarBind(SYS_NAME, NULL)])
RESPONSE = Pdu(PduType.RESPONSE, 31, [VarBind(SYS_NAME, OctetString(b"agent-name"))])

AUTH_PROTOCOLS = list(AuthProtocol)
PRIV_PROTOCOLS = list(PrivProtocol)
all_auth = pytest.mark.parametrize("auth_protocol", AUTH_PROTOCOLS, ids=lambda p: p.value)
all_priv = pytest.mark.parametrize("priv_protocol", PRIV_PROTOCOLS, ids=lambda p: p.value)

# One protocol pair of each level, for tests about the level rather than the protocols.
LEVELS = [
    (SecurityLevel.NO_AUTH_NO_PRIV, None, None),
    (SecurityLevel.AUTH_NO_PRIV, AuthProtocol.SHA256, None),
    (SecurityLevel.AUTH_PRIV, AuthProtocol.SHA, PrivProtocol.AES),
]
each_level = pytest.mark.parametrize(("level", "auth_protocol", "priv_protocol"), LEVELS,
                                     ids=[level.value for level, _, _ in LEVELS])
LEVEL_FLAGS = {SecurityLevel.NO_AUTH_NO_PRIV: 0, SecurityLevel.AUTH_NO_PRIV: FLAG_AUTH,
               SecurityLevel.AUTH_PRIV: FLAG_AUTH | FLAG_PRIV}

_KEY_CACHE = KeyCache()


def make_user(auth_protocol: AuthProtocol | None, priv_protocol: PrivProtocol | None,
              priv_passphrase: str = PRIV_PASSPHRASE) -> UsmUser:
    return UsmUser(
        USER_NAME,
        auth_protocol=auth_protocol,
        auth_key=Secret(AUTH_PASSPHRASE) if auth_protocol else None,
        priv_protocol=priv_protocol,
        priv_key=Secret(priv_passphrase) if priv_protocol else None,
    )


@functools.cache
def keys_for(auth_protocol: AuthProtocol | None, priv_protocol: PrivProtocol | None,
             priv_passphrase: str = PRIV_PASSPHRASE) -> LocalizedKeys | None:
    return _KEY_CACHE.keys(make_user(auth_protocol, priv_protocol, priv_passphrase), ENGINE_ID)


def known_engine() -> EngineState:
    """Return the agent's engine as the manager stores it after one authenticated message."""
    engine = EngineState()
    engine.discovered(ENGINE_ID, 0, 0, LEARNED_AT)
    engine.update(BOOTS, TIME, LEARNED_AT)
    return engine


def request(level: SecurityLevel, auth_protocol: AuthProtocol | None,
            priv_protocol: PrivProtocol | None, *, now: float = LEARNED_AT,
            pdu: AnyPdu = REQUEST, context_name: bytes = b"") -> bytes:
    return outgoing_request(make_user(auth_protocol, priv_protocol), level,
                            keys_for(auth_protocol, priv_protocol), known_engine(), pdu, MSG_ID,
                            context_engine_id=ENGINE_ID, context_name=context_name, now=now,
                            salt=SALT)


# ---------------------------------------------------------------------------------------------
# The authoritative side


def agent_message(keys: LocalizedKeys | None, pdu: AnyPdu, *, flags: int,
                  engine_id: bytes = ENGINE_ID, user_name: bytes = USER_NAME.encode(),
                  mac_length: int | None = None, boots: int = BOOTS,
                  engine_time: int = TIME + 5) -> bytes:
    """Build a message as an agent does: encrypt the scopedPDU, then sign the whole message.

    `mac_length` overrides the protocol's MAC length, to send a MAC of the wrong size.
    """
    scoped = encode_scoped_pdu(ENGINE_ID, b"", pdu)
    usm = UsmParameters(engine_id, boots, engine_time, user_name)
    data, encrypted = scoped, False
    if flags & FLAG_PRIV:
        assert keys is not None and keys.priv_protocol is not None
        data, usm.priv_parameters = priv.encrypt(keys.priv_protocol, keys.priv_key, scoped,
                                                 engine_boots=boots, engine_time=engine_time,
                                                 salt=0xA5A5)
        encrypted = True
    length = 0
    if flags & FLAG_AUTH:
        assert keys is not None and keys.auth_protocol is not None
        length = MAC_LENGTHS[keys.auth_protocol] if mac_length is None else mac_length
        usm.auth_parameters = bytes(length)
    message, offset = encode_message(MSG_ID, 1500, flags, usm, data, encrypted=encrypted)
    if not flags & FLAG_AUTH:
        return message

    assert keys is not None and keys.auth_protocol is not None
    digest = hmac.new(keys.auth_key, message, HASH_NAMES[keys.auth_protocol]).digest()
    mac = (digest * (1 + length // len(digest)))[:length]
    return message[:offset] + mac + message[offset + length:]


def agent_opens(data: bytes, keys: LocalizedKeys | None) -> tuple[V3Message, ScopedPdu]:
    """Open a request as the agent does (RFC 3414 3.2): check the MAC, then decrypt."""
    message = decode_message(data)
    assert message.usm is not None
    plaintext = message.data
    if message.flags & FLAG_AUTH:
        assert keys is not None and keys.auth_protocol is not None
        assert auth.verify(keys.auth_protocol, keys.auth_key, message.zeroed(),
                           message.usm.auth_parameters)
    if message.encrypted:
        assert keys is not None and keys.priv_protocol is not None
        plaintext = priv.decrypt(keys.priv_protocol, keys.priv_key, message.data,
                                 message.usm.priv_parameters,
                                 engine_boots=message.usm.engine_boots,
                                 engine_time=message.usm.engine_time)
    return message, decode_scoped_pdu(plaintext)


def manager_opens(data: bytes, keys: LocalizedKeys | None, user: UsmUser | None = None,
                  engine_id: bytes = ENGINE_ID) -> Incoming:
    user = user if user is not None else make_user(AuthProtocol.MD5, None)
    return incoming_message(decode_message(data), user, keys, engine_id)


# ---------------------------------------------------------------------------------------------
# outgoing_request


def test_discovery_request_fields() -> None:
    message, scoped = agent_opens(discovery_request(17, 23), None)

    assert message.flags == FLAG_REPORTABLE
    assert message.msg_id == 17
    assert message.max_size == MAX_MESSAGE_SIZE
    assert message.usm == UsmParameters(b"", 0, 0, b"")
    assert scoped == ScopedPdu(b"", b"", Pdu(PduType.GET, 23, []))


@each_level
def test_outgoing_request_flags(level: SecurityLevel, auth_protocol: AuthProtocol | None,
                                priv_protocol: PrivProtocol | None) -> None:
    message = decode_message(request(level, auth_protocol, priv_protocol))

    assert message.flags == LEVEL_FLAGS[level] | FLAG_REPORTABLE
    assert message.msg_id == MSG_ID
    assert message.max_size == MAX_MESSAGE_SIZE


@each_level
def test_outgoing_request_names_engine_and_user(
        level: SecurityLevel, auth_protocol: AuthProtocol | None,
        priv_protocol: PrivProtocol | None) -> None:
    usm = decode_message(request(level, auth_protocol, priv_protocol)).usm

    assert usm is not None
    assert usm.engine_id == ENGINE_ID
    assert usm.user_name == USER_NAME.encode()
    assert (usm.engine_boots, usm.engine_time) == (BOOTS, TIME)


def test_outgoing_request_no_auth_opens_as_agent() -> None:
    data = request(SecurityLevel.NO_AUTH_NO_PRIV, None, None, context_name=b"ctx")

    message, scoped = agent_opens(data, None)

    assert message.usm is not None
    assert message.usm.auth_parameters == b""
    assert message.usm.priv_parameters == b""
    assert scoped == ScopedPdu(ENGINE_ID, b"ctx", REQUEST)


@all_auth
def test_outgoing_request_auth_opens_as_agent(auth_protocol: AuthProtocol) -> None:
    data = request(SecurityLevel.AUTH_NO_PRIV, auth_protocol, None)

    message, scoped = agent_opens(data, keys_for(auth_protocol, None))

    assert message.usm is not None
    assert len(message.usm.auth_parameters) == MAC_LENGTHS[auth_protocol]
    assert message.usm.priv_parameters == b""
    assert scoped == ScopedPdu(ENGINE_ID, b"", REQUEST)


@all_priv
@all_auth
def test_outgoing_request_priv_opens_as_agent(auth_protocol: AuthProtocol,
                                              priv_protocol: PrivProtocol) -> None:
    data = request(SecurityLevel.AUTH_PRIV, auth_protocol, priv_protocol)

    message, scoped = agent_opens(data, keys_for(auth_protocol, priv_protocol))

    assert message.encrypted
    assert message.usm is not None
    assert len(message.usm.priv_parameters) == 8
    assert scoped == ScopedPdu(ENGINE_ID, b"", REQUEST)


@all_priv
def test_outgoing_request_priv_hides_pdu(priv_protocol: PrivProtocol) -> None:
    plaintext = encode_scoped_pdu(ENGINE_ID, b"", REQUEST)

    data = request(SecurityLevel.AUTH_PRIV, AuthProtocol.SHA, priv_protocol)

    assert plaintext[-12:] not in data
    assert bytes((0x2B, 6, 1, 2, 1, 1, 5, 0)) not in data


@all_auth
def test_outgoing_request_auth_opens_with_incoming_message(auth_protocol: AuthProtocol) -> None:
    keys = keys_for(auth_protocol, None)
    data = request(SecurityLevel.AUTH_NO_PRIV, auth_protocol, None)

    incoming = manager_opens(data, keys, make_user(auth_protocol, None))

    assert incoming.authenticated
    assert incoming.scoped == ScopedPdu(ENGINE_ID, b"", REQUEST)


@all_priv
@all_auth
def test_outgoing_request_priv_opens_with_incoming_message(auth_protocol: AuthProtocol,
                                                           priv_protocol: PrivProtocol) -> None:
    keys = keys_for(auth_protocol, priv_protocol)
    data = request(SecurityLevel.AUTH_PRIV, auth_protocol, priv_protocol)

    incoming = manager_opens(data, keys, make_user(auth_protocol, priv_protocol))

    assert incoming.authenticated
    assert incoming.scoped == ScopedPdu(ENGINE_ID, b"", REQUEST)


def test_outgoing_request_no_auth_opens_with_incoming_message() -> None:
    incoming = manager_opens(request(SecurityLevel.NO_AUTH_NO_PRIV, None, None), None)

    assert not incoming.authenticated
    assert incoming.scoped == ScopedPdu(ENGINE_ID, b"", REQUEST)


def test_outgoing_request_uses_estimated_engine_time() -> None:
    data = request(SecurityLevel.AUTH_PRIV, AuthProtocol.SHA, PrivProtocol.AES,
                   now=LEARNED_AT + 42.7)

    message, scoped = agent_opens(data, keys_for(AuthProtocol.SHA, PrivProtocol.AES))

    assert message.usm is not None
    assert message.usm.engine_boots == BOOTS
    assert message.usm.engine_time == TIME + 42
    assert scoped.pdu == REQUEST


def test_outgoing_request_des_salt_is_boots_and_counter() -> None:
    usm = decode_message(request(SecurityLevel.AUTH_PRIV, AuthProtocol.MD5, PrivProtocol.DES)).usm

    assert usm is not None
    assert usm.priv_parameters == BOOTS.to_bytes(4, "big") + SALT.to_bytes(4, "big")


def test_outgoing_request_aes_salt_is_counter() -> None:
    usm = decode_message(request(SecurityLevel.AUTH_PRIV, AuthProtocol.MD5, PrivProtocol.AES)).usm

    assert usm is not None
    assert usm.priv_parameters == SALT.to_bytes(8, "big")


def test_outgoing_request_below_user_level_does_not_encrypt() -> None:
    # The privacy-mismatch probe: an authPriv user sends one authNoPriv request.
    user = make_user(AuthProtocol.SHA, PrivProtocol.AES)
    keys = keys_for(AuthProtocol.SHA, PrivProtocol.AES)

    data = outgoing_request(user, SecurityLevel.AUTH_NO_PRIV, keys, known_engine(), REQUEST,
                            MSG_ID, context_engine_id=ENGINE_ID, context_name=b"",
                            now=LEARNED_AT, salt=SALT)
    message, scoped = agent_opens(data, keys)

    assert message.flags == FLAG_AUTH | FLAG_REPORTABLE
    assert scoped.pdu == REQUEST


@pytest.mark.parametrize(("level", "keys"), [
    (SecurityLevel.AUTH_NO_PRIV, None),
    (SecurityLevel.AUTH_PRIV, None),
    (SecurityLevel.AUTH_NO_PRIV, LocalizedKeys(None, b"", None, b"")),
    (SecurityLevel.AUTH_PRIV, LocalizedKeys(AuthProtocol.SHA, bytes(20), None, b"")),
], ids=["auth-no-keys", "priv-no-keys", "auth-no-auth-key", "priv-no-priv-key"])
def test_outgoing_request_rejects_missing_keys(level: SecurityLevel,
                                               keys: LocalizedKeys | None) -> None:
    # RFC 3414 3.1: a level the keys cannot give fails, and is never sent at a lower level.
    user = make_user(AuthProtocol.SHA, PrivProtocol.AES)

    with pytest.raises(EncodeError, match=level.value):
        outgoing_request(user, level, keys, known_engine(), REQUEST, MSG_ID,
                         context_engine_id=ENGINE_ID, context_name=b"", now=LEARNED_AT,
                         salt=SALT)


def test_outgoing_request_sends_context() -> None:
    other_context = b"\x80\x00\x1f\x88\x04bridge"

    data = outgoing_request(make_user(None, None), SecurityLevel.NO_AUTH_NO_PRIV, None,
                            known_engine(), REQUEST, MSG_ID, context_engine_id=other_context,
                            context_name=b"vlan-7", now=LEARNED_AT, salt=0)

    assert agent_opens(data, None)[1] == ScopedPdu(other_context, b"vlan-7", REQUEST)


# ---------------------------------------------------------------------------------------------
# incoming_message: what the agent sends


@each_level
def test_incoming_opens_agent_response(level: SecurityLevel, auth_protocol: AuthProtocol | None,
                                       priv_protocol: PrivProtocol | None) -> None:
    keys = keys_for(auth_protocol, priv_protocol)
    data = agent_message(keys, RESPONSE, flags=LEVEL_FLAGS[level])

    incoming = manager_opens(data, keys, make_user(auth_protocol, priv_protocol))

    assert incoming.authenticated is (level is not SecurityLevel.NO_AUTH_NO_PRIV)
    assert incoming.scoped == ScopedPdu(ENGINE_ID, b"", RESPONSE)
    assert (incoming.usm.engine_boots, incoming.usm.engine_time) == (BOOTS, TIME + 5)


@all_auth
def test_incoming_opens_auth_response_each_protocol(auth_protocol: AuthProtocol) -> None:
    keys = keys_for(auth_protocol, None)
    data = agent_message(keys, RESPONSE, flags=FLAG_AUTH)

    incoming = manager_opens(data, keys, make_user(auth_protocol, None))

    assert incoming.authenticated
    assert incoming.scoped.pdu == RESPONSE


@all_priv
@all_auth
def test_incoming_opens_priv_response_each_pair(auth_protocol: AuthProtocol,
                                                priv_protocol: PrivProtocol) -> None:
    keys = keys_for(auth_protocol, priv_protocol)
    data = agent_message(keys, RESPONSE, flags=FLAG_AUTH | FLAG_PRIV)

    incoming = manager_opens(data, keys, make_user(auth_protocol, priv_protocol))

    assert incoming.authenticated
    assert incoming.scoped.pdu == RESPONSE


def test_incoming_unauthenticated_report_passes_with_any_engine() -> None:
    # A discovery report: unauthenticated, from an engine the manager does not know yet.
    report = Pdu(PduType.REPORT, 31, [VarBind((1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0), Counter32(1))])
    data = agent_message(None, report, flags=0, engine_id=OTHER_ENGINE_ID, user_name=b"")

    incoming = manager_opens(data, keys_for(AuthProtocol.SHA, PrivProtocol.AES),
                             make_user(AuthProtocol.SHA, PrivProtocol.AES), engine_id=b"")

    assert not incoming.authenticated
    assert incoming.usm.engine_id == OTHER_ENGINE_ID
    assert incoming.scoped.pdu == report


def signed_response_positions(flags: int) -> tuple[bytes, dict[int, str]]:
    """Return a signed response and, for octets where a change is caught before the MAC, the
    reason incoming_message gives."""
    data = agent_message(keys_for(AuthProtocol.SHA256, PrivProtocol.AES), RESPONSE, flags=flags)
    reasons: dict[int, str] = {}
    engine_start = data.index(ENGINE_ID)
    for position in range(engine_start, engine_start + len(ENGINE_ID)):
        reasons[position] = "wrong_engine_id"
    user_start = data.index(USER_NAME.encode(), engine_start + len(ENGINE_ID))
    for position in range(user_start, user_start + len(USER_NAME)):
        reasons[position] = "wrong_user"
    # msgSecurityModel is the last octet of msgGlobalData, after the 3-octet version.
    _, outer_start, _ = read_header(data, 0, len(data), "test")
    _, _, global_stop = read_header(data, outer_start + 3, len(data), "test")
    reasons[global_stop - 1] = "wrong_security_model"
    return data, reasons


@pytest.mark.parametrize("flags", [FLAG_AUTH, FLAG_AUTH | FLAG_PRIV], ids=["auth", "priv"])
@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
def test_incoming_tampered_octet_never_opens(flags: int, mask: int) -> None:
    data, reasons = signed_response_positions(flags)
    keys = keys_for(AuthProtocol.SHA256, PrivProtocol.AES)
    user = make_user(AuthProtocol.SHA256, PrivProtocol.AES)
    flags_position = data.index(bytes((0x04, 0x01, flags)), 4) + 2
    failed_mac = 0

    for position in range(len(data)):
        tampered = bytearray(data)
        tampered[position] ^= mask
        try:
            message = decode_message(bytes(tampered))
        except DecodeError:
            continue
        try:
            incoming = incoming_message(message, user, keys, ENGINE_ID)
        except Rejected as exc:
            assert exc.reason == reasons.get(position, "authentication_failed"), position
            failed_mac += exc.reason == "authentication_failed"
            continue
        # Only clearing the auth flag opens the message, and then as unauthenticated, which
        # the caller does not accept for a response to an authenticated request.
        assert position == flags_position
        assert not incoming.authenticated

    # Most changes keep the framing intact, so the test reaches the MAC check.
    assert failed_mac > len(data) // 2


@all_auth
def test_incoming_wrong_auth_key_fails(auth_protocol: AuthProtocol) -> None:
    other = _KEY_CACHE.keys(replace(make_user(auth_protocol, None),
                                    auth_key=Secret(OTHER_PASSPHRASE)), ENGINE_ID)
    data = agent_message(other, RESPONSE, flags=FLAG_AUTH)

    with pytest.raises(Rejected) as caught:
        manager_opens(data, keys_for(auth_protocol, None), make_user(auth_protocol, None))

    assert caught.value.reason == "authentication_failed"


PROTOCOL_MAC_LENGTHS = sorted(set(MAC_LENGTHS.values()))


@all_auth
def test_incoming_mac_of_wrong_length_fails(auth_protocol: AuthProtocol) -> None:
    # MD5 and SHA-1 send 12 octets, the SHA-2 protocols 16, 24, 32 and 48 (RFC 7860). Any other
    # length fails, even when its octets are the HMAC cut to that length.
    keys = keys_for(auth_protocol, None)
    user = make_user(auth_protocol, None)
    own = MAC_LENGTHS[auth_protocol]
    lengths = sorted({0, own - 1, own + 1, *PROTOCOL_MAC_LENGTHS} - {own})

    for length in lengths:
        data = agent_message(keys, RESPONSE, flags=FLAG_AUTH, mac_length=length)
        with pytest.raises(Rejected) as caught:
            manager_opens(data, keys, user)
        assert caught.value.reason == "authentication_failed", length


@all_auth
def test_incoming_mac_of_own_length_opens(auth_protocol: AuthProtocol) -> None:
    # The counterpart of the test above: the same helper with the right length passes.
    keys = keys_for(auth_protocol, None)
    data = agent_message(keys, RESPONSE, flags=FLAG_AUTH,
                         mac_length=MAC_LENGTHS[auth_protocol])

    assert manager_opens(data, keys, make_user(auth_protocol, None)).authenticated


@pytest.mark.parametrize(("engine_id", "user_name", "reason", "words"), [
    (OTHER_ENGINE_ID, USER_NAME.encode(), "wrong_engine_id", OTHER_ENGINE_ID.hex()),
    (b"", USER_NAME.encode(), "wrong_engine_id", "(empty)"),
    (ENGINE_ID, b"user2", "wrong_user", "user2"),
], ids=["other-engine-id", "empty-engine-id", "other-user"])
def test_incoming_wrong_engine_or_user(engine_id: bytes, user_name: bytes, reason: str,
                                       words: str) -> None:
    keys = keys_for(AuthProtocol.SHA, None)
    data = agent_message(keys, RESPONSE, flags=FLAG_AUTH, engine_id=engine_id,
                         user_name=user_name)

    with pytest.raises(Rejected) as caught:
        manager_opens(data, keys, make_user(AuthProtocol.SHA, None))

    assert caught.value.reason == reason
    assert words in caught.value.detail


@pytest.mark.parametrize("flags", [FLAG_AUTH, FLAG_AUTH | FLAG_PRIV], ids=["auth", "priv"])
def test_incoming_authenticated_without_keys(flags: int) -> None:
    data = agent_message(keys_for(AuthProtocol.SHA, PrivProtocol.AES), RESPONSE, flags=flags)

    with pytest.raises(Rejected) as caught:
        manager_opens(data, None, make_user(AuthProtocol.SHA, PrivProtocol.AES))

    assert caught.value.reason == "wrong_security_level"


def test_incoming_encrypted_without_priv_key() -> None:
    data = agent_message(keys_for(AuthProtocol.SHA, PrivProtocol.AES), RESPONSE,
                         flags=FLAG_AUTH | FLAG_PRIV)

    with pytest.raises(Rejected) as caught:
        manager_opens(data, keys_for(AuthProtocol.SHA, None), make_user(AuthProtocol.SHA, None))

    assert caught.value.reason == "wrong_security_level"
    assert "privacy key" in caught.value.detail


@all_priv
def test_incoming_wrong_priv_key_is_decryption_failure(priv_protocol: PrivProtocol) -> None:
    # The agent encrypted under another privacy passphrase: the MAC passes (same auth key) but
    # the plaintext is garbage.
    agent_keys = keys_for(AuthProtocol.SHA256, priv_protocol, OTHER_PASSPHRASE)
    data = agent_message(agent_keys, RESPONSE, flags=FLAG_AUTH | FLAG_PRIV)

    with pytest.raises(Rejected) as caught:
        manager_opens(data, keys_for(AuthProtocol.SHA256, priv_protocol),
                      make_user(AuthProtocol.SHA256, priv_protocol))

    assert caught.value.reason == "decryption_failed"


def test_incoming_other_aes_key_extension_is_decryption_failure() -> None:
    # AES-256 (Blumenthal key extension) on one side, AES-256-C (Reeder) on the other.
    data = agent_message(keys_for(AuthProtocol.MD5, PrivProtocol.AES256C), RESPONSE,
                         flags=FLAG_AUTH | FLAG_PRIV)

    with pytest.raises(Rejected) as caught:
        manager_opens(data, keys_for(AuthProtocol.MD5, PrivProtocol.AES256),
                      make_user(AuthProtocol.MD5, PrivProtocol.AES256))

    assert caught.value.reason == "decryption_failed"
    assert "-C variants" in caught.value.detail


def test_incoming_odd_des_ciphertext_fails() -> None:
    keys = keys_for(AuthProtocol.MD5, PrivProtocol.DES)
    assert keys is not None
    data = agent_message(keys, RESPONSE, flags=FLAG_AUTH | FLAG_PRIV)
    ciphertext = decode_message(data).data
    # One octet less of ciphertext, with every enclosing length one less and a fresh MAC.
    shorter = agent_message_with_ciphertext(keys, data, ciphertext[:-1])

    with pytest.raises(Rejected) as caught:
        manager_opens(shorter, keys, make_user(AuthProtocol.MD5, PrivProtocol.DES))

    assert caught.value.reason == "decryption_failed"


def test_incoming_short_priv_parameters_is_decryption_failure() -> None:
    keys = keys_for(AuthProtocol.MD5, PrivProtocol.AES)
    assert keys is not None
    message = decode_message(agent_message(keys, RESPONSE, flags=FLAG_AUTH | FLAG_PRIV))
    assert message.usm is not None
    usm = replace(message.usm, priv_parameters=message.usm.priv_parameters[:7])
    data = sign_as_agent(keys, message.flags, usm, message.data)

    with pytest.raises(Rejected) as caught:
        manager_opens(data, keys, make_user(AuthProtocol.MD5, PrivProtocol.AES))

    assert caught.value.reason == "decryption_failed"


def sign_as_agent(keys: LocalizedKeys, flags: int, usm: UsmParameters, data: bytes) -> bytes:
    """Encode and sign a message whose parts the test chose, even inconsistent ones."""
    assert keys.auth_protocol is not None
    usm = replace(usm, auth_parameters=auth.zeroed_mac(keys.auth_protocol))
    message, offset = encode_message(MSG_ID, 1500, flags, usm, data,
                                     encrypted=bool(flags & FLAG_PRIV))
    mac = auth.sign(keys.auth_protocol, keys.auth_key, message)
    return message[:offset] + mac + message[offset + len(mac):]


def agent_message_with_ciphertext(keys: LocalizedKeys, data: bytes, ciphertext: bytes) -> bytes:
    message = decode_message(data)
    assert message.usm is not None
    return sign_as_agent(keys, message.flags, message.usm, ciphertext)


def test_incoming_authenticated_garbage_plaintext_is_malformed() -> None:
    keys = keys_for(AuthProtocol.SHA, None)
    assert keys is not None
    usm = UsmParameters(ENGINE_ID, BOOTS, TIME, USER_NAME.encode())
    data = sign_as_agent(keys, FLAG_AUTH, usm, b"\x30\x03\x04\x01\x00")

    with pytest.raises(Rejected) as caught:
        manager_opens(data, keys, make_user(AuthProtocol.SHA, None))

    assert caught.value.reason == "malformed"


def test_incoming_unauthenticated_garbage_plaintext_is_malformed() -> None:
    usm = UsmParameters(ENGINE_ID, 0, 0, b"")
    data, _ = encode_message(MSG_ID, 1500, 0, usm, b"\x30\x02\x04\x00", encrypted=False)

    with pytest.raises(Rejected) as caught:
        manager_opens(data, None)

    assert caught.value.reason == "malformed"


def test_incoming_other_security_model() -> None:
    message = decode_message(agent_message(None, RESPONSE, flags=0))
    message.security_model = 2
    message.usm = None

    with pytest.raises(Rejected) as caught:
        incoming_message(message, make_user(None, None), None, ENGINE_ID)

    assert caught.value.reason == "wrong_security_model"


def test_rejected_details_never_show_keys() -> None:
    keys = keys_for(AuthProtocol.SHA, PrivProtocol.AES)
    assert keys is not None
    secrets = [AUTH_PASSPHRASE, PRIV_PASSPHRASE, keys.auth_key.hex(), keys.priv_key.hex()]
    cases = [
        agent_message(keys, RESPONSE, flags=FLAG_AUTH, engine_id=OTHER_ENGINE_ID),
        agent_message(keys, RESPONSE, flags=FLAG_AUTH, user_name=b"user2"),
        agent_message(keys, RESPONSE, flags=FLAG_AUTH, mac_length=11),
        agent_message(keys_for(AuthProtocol.SHA, PrivProtocol.AES, OTHER_PASSPHRASE), RESPONSE,
                      flags=FLAG_AUTH | FLAG_PRIV),
    ]

    for data in cases:
        with pytest.raises(Rejected) as caught:
            manager_opens(data, keys, make_user(AuthProtocol.SHA, PrivProtocol.AES))
        text = f"{caught.value} {caught.value.detail} {caught.value!r}"
        assert not any(secret in text for secret in secrets), caught.value.reason


def test_localized_keys_repr_hides_keys() -> None:
    keys = keys_for(AuthProtocol.SHA, PrivProtocol.AES)
    assert keys is not None

    text = f"{keys!r} {keys!s}"

    assert keys.auth_key.hex() not in text
    assert keys.priv_key.hex() not in text
    assert "redacted" in text


# ---------------------------------------------------------------------------------------------
# classify_report


USM_STATS = (1, 3, 6, 1, 6, 3, 15, 1, 1)
REPORT_CASES: list[tuple[Oid, ReportKind, str]] = [
    ((*USM_STATS, 1, 0), ReportKind.UNSUPPORTED_SECURITY_LEVEL, "usmStatsUnsupportedSecLevels"),
    ((*USM_STATS, 2, 0), ReportKind.NOT_IN_TIME_WINDOW, "usmStatsNotInTimeWindows"),
    ((*USM_STATS, 3, 0), ReportKind.UNKNOWN_USER_NAME, "usmStatsUnknownUserNames"),
    ((*USM_STATS, 4, 0), ReportKind.UNKNOWN_ENGINE_ID, "usmStatsUnknownEngineIDs"),
    ((*USM_STATS, 5, 0), ReportKind.WRONG_DIGEST, "usmStatsWrongDigests"),
    ((*USM_STATS, 6, 0), ReportKind.DECRYPTION_ERROR, "usmStatsDecryptionErrors"),
    ((1, 3, 6, 1, 6, 3, 12, 1, 5, 0), ReportKind.UNKNOWN_CONTEXT, "snmpUnknownContexts"),
    ((1, 3, 6, 1, 6, 3, 12, 1, 4, 0), ReportKind.OTHER, "snmpUnavailableContexts"),
    ((1, 3, 6, 1, 6, 3, 11, 2, 1, 1, 0), ReportKind.OTHER, "snmpUnknownSecurityModels"),
    ((1, 3, 6, 1, 6, 3, 11, 2, 1, 2, 0), ReportKind.OTHER, "snmpInvalidMsgs"),
    ((1, 3, 6, 1, 6, 3, 11, 2, 1, 3, 0), ReportKind.OTHER, "snmpUnknownPDUHandlers"),
]


def report(*oids: Oid) -> Pdu:
    return Pdu(PduType.REPORT, 31, [VarBind(oid, Counter32(1)) for oid in oids])


@pytest.mark.parametrize(("oid", "kind", "name"), REPORT_CASES,
                         ids=[name for _, _, name in REPORT_CASES])
def test_classify_report(oid: Oid, kind: ReportKind, name: str) -> None:
    assert classify_report(report(oid)) == (kind, name)


def test_classify_report_covers_every_named_oid() -> None:
    assert {oid for oid, _, _ in REPORT_CASES} == set(REPORT_NAMES)


def test_classify_report_unknown_oid_is_other() -> None:
    assert classify_report(report((1, 3, 6, 1, 4, 1, 99999, 1, 0))) == (
        ReportKind.OTHER, "1.3.6.1.4.1.99999.1.0")


def test_classify_report_usm_stats_without_instance_is_other() -> None:
    assert classify_report(report((*USM_STATS, 4)))[0] is ReportKind.OTHER


def test_classify_report_empty_is_other() -> None:
    assert classify_report(report()) == (ReportKind.OTHER, "an empty report")


def test_classify_report_reads_first_varbind() -> None:
    pdu = report((*USM_STATS, 2, 0), (*USM_STATS, 4, 0))

    assert classify_report(pdu)[0] is ReportKind.NOT_IN_TIME_WINDOW


def test_report_kind_values_are_distinct() -> None:
    assert len({kind.value for kind in ReportKind}) == len(ReportKind)
