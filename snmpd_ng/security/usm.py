"""USM procedures of a non-authoritative engine (RFC 3414 section 3): sign and encrypt requests,
check and decrypt what comes back, and classify reports.

Sans-IO: keys, engine state, the salt and the clock reading are passed in; nothing here sends,
sleeps or logs. The message framing is `snmpd_ng.protocol.v3`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from snmpd_ng.protocol.errors import DecodeError, EncodeError
from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.pdu import AnyPdu, Pdu, PduType
from snmpd_ng.protocol.v3 import (
    FLAG_AUTH,
    FLAG_PRIV,
    FLAG_REPORTABLE,
    USM_SECURITY_MODEL,
    ScopedPdu,
    UsmParameters,
    V3Message,
    decode_scoped_pdu,
    encode_message,
    encode_scoped_pdu,
)
from snmpd_ng.security import auth, priv
from snmpd_ng.security.credentials import SecurityLevel, UsmUser
from snmpd_ng.security.engine import EngineState
from snmpd_ng.security.keys import AuthProtocol, PrivProtocol

# The largest message we accept, advertised as msgMaxSize: the largest UDP payload over IPv4.
MAX_MESSAGE_SIZE = 65507


class ReportKind(enum.Enum):
    """The kind of a Report PDU, by the counter in its first varbind (RFC 3414 3.2, 3412 7.2)."""

    UNSUPPORTED_SECURITY_LEVEL = "unsupported_security_level"
    NOT_IN_TIME_WINDOW = "not_in_time_window"
    UNKNOWN_USER_NAME = "unknown_user_name"
    UNKNOWN_ENGINE_ID = "unknown_engine_id"
    WRONG_DIGEST = "wrong_digest"
    DECRYPTION_ERROR = "decryption_error"
    UNKNOWN_CONTEXT = "unknown_context"
    OTHER = "other_report"


_USM_STATS = (1, 3, 6, 1, 6, 3, 15, 1, 1)
_REPORT_KINDS: dict[Oid, ReportKind] = {
    (*_USM_STATS, 1, 0): ReportKind.UNSUPPORTED_SECURITY_LEVEL,
    (*_USM_STATS, 2, 0): ReportKind.NOT_IN_TIME_WINDOW,
    (*_USM_STATS, 3, 0): ReportKind.UNKNOWN_USER_NAME,
    (*_USM_STATS, 4, 0): ReportKind.UNKNOWN_ENGINE_ID,
    (*_USM_STATS, 5, 0): ReportKind.WRONG_DIGEST,
    (*_USM_STATS, 6, 0): ReportKind.DECRYPTION_ERROR,
    # snmpUnknownContexts of SNMP-TARGET-MIB (RFC 3413).
    (1, 3, 6, 1, 6, 3, 12, 1, 5, 0): ReportKind.UNKNOWN_CONTEXT,
}

# Report OIDs of RFC 3412 (SNMP-MPD-MIB) and RFC 3413, named for the ReportError message.
REPORT_NAMES: dict[Oid, str] = {
    (1, 3, 6, 1, 6, 3, 11, 2, 1, 1, 0): "snmpUnknownSecurityModels",
    (1, 3, 6, 1, 6, 3, 11, 2, 1, 2, 0): "snmpInvalidMsgs",
    (1, 3, 6, 1, 6, 3, 11, 2, 1, 3, 0): "snmpUnknownPDUHandlers",
    (1, 3, 6, 1, 6, 3, 12, 1, 4, 0): "snmpUnavailableContexts",
    (1, 3, 6, 1, 6, 3, 12, 1, 5, 0): "snmpUnknownContexts",
    (*_USM_STATS, 1, 0): "usmStatsUnsupportedSecLevels",
    (*_USM_STATS, 2, 0): "usmStatsNotInTimeWindows",
    (*_USM_STATS, 3, 0): "usmStatsUnknownUserNames",
    (*_USM_STATS, 4, 0): "usmStatsUnknownEngineIDs",
    (*_USM_STATS, 5, 0): "usmStatsWrongDigests",
    (*_USM_STATS, 6, 0): "usmStatsDecryptionErrors",
}


def classify_report(pdu: Pdu) -> tuple[ReportKind, str]:
    """Return the kind of a Report PDU and the name of the counter it carries."""
    if not pdu.varbinds:
        return ReportKind.OTHER, "an empty report"
    oid = pdu.varbinds[0].oid
    name = REPORT_NAMES.get(oid, ".".join(map(str, oid)))
    return _REPORT_KINDS.get(oid, ReportKind.OTHER), name


@dataclass(frozen=True, slots=True)
class LocalizedKeys:
    """A user's keys localised to one engine ID. Never logged: the repr hides them."""

    auth_protocol: AuthProtocol | None
    auth_key: bytes
    priv_protocol: PrivProtocol | None
    priv_key: bytes

    def __repr__(self) -> str:
        return "LocalizedKeys(<redacted>)"


class Rejected(Exception):
    """A message from the agent that our USM drops (RFC 3414 3.2). `reason` names the counter."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(detail)


@dataclass(slots=True)
class Incoming:
    """A message that passed our checks: its scoped PDU and how it was protected."""

    scoped: ScopedPdu
    usm: UsmParameters
    authenticated: bool


# ---------------------------------------------------------------------------------------------
# Outgoing


def discovery_request(msg_id: int, request_id: int) -> bytes:
    """Encode the engine discovery probe of RFC 3414 section 4: reportable, noAuthNoPriv, empty
    engine ID and user name, and a GET without varbinds."""
    scoped = encode_scoped_pdu(b"", b"", Pdu(PduType.GET, request_id, []))
    message, _ = encode_message(msg_id, MAX_MESSAGE_SIZE, FLAG_REPORTABLE,
                                UsmParameters(b"", 0, 0, b""), scoped, encrypted=False)
    return message


def outgoing_request(user: UsmUser, level: SecurityLevel, keys: LocalizedKeys | None,
                     engine: EngineState, pdu: AnyPdu, msg_id: int, *, context_engine_id: bytes,
                     context_name: bytes, now: float, salt: int,
                     reportable: bool = True) -> bytes:
    """Encode, encrypt and sign a request to `engine` (RFC 3414 3.1).

    `keys` are the user's keys localised to the engine, needed above noAuthNoPriv. Boots and
    time are the engine's, estimated from the local clock; `salt` is the caller's counter.
    An authoritative engine that answers an inform passes itself as `engine` and
    `reportable=False`, because a Response or Report must not ask for a report (RFC 3412 6.4).
    Raises EncodeError when `keys` lack what `level` needs, rather than send at a lower level.
    """
    scoped = encode_scoped_pdu(context_engine_id, context_name, pdu)
    flags = FLAG_REPORTABLE if reportable else 0
    boots, engine_time = engine.boots, engine.estimated_time(now)
    usm = UsmParameters(engine.engine_id, boots, engine_time, user.name.encode("utf-8"))
    if level is SecurityLevel.NO_AUTH_NO_PRIV:
        message, _ = encode_message(msg_id, MAX_MESSAGE_SIZE, flags, usm, scoped,
                                    encrypted=False)
        return message

    # RFC 3414 3.1 steps 6 and 7: a level the keys cannot give is unsupportedSecurityLevel.
    _check_keys(level, keys)
    assert keys is not None and keys.auth_protocol is not None
    flags |= FLAG_AUTH
    data, encrypted = scoped, False
    if level is SecurityLevel.AUTH_PRIV and keys.priv_protocol is not None:
        flags |= FLAG_PRIV
        data, usm.priv_parameters = priv.encrypt(keys.priv_protocol, keys.priv_key, scoped,
                                                 engine_boots=boots, engine_time=engine_time,
                                                 salt=salt)
        encrypted = True
    usm.auth_parameters = auth.zeroed_mac(keys.auth_protocol)
    message, offset = encode_message(msg_id, MAX_MESSAGE_SIZE, flags, usm, data,
                                     encrypted=encrypted)
    mac = auth.sign(keys.auth_protocol, keys.auth_key, message)
    return message[:offset] + mac + message[offset + len(mac):]


def _check_keys(level: SecurityLevel, keys: LocalizedKeys | None) -> None:
    if keys is None or keys.auth_protocol is None:
        raise EncodeError(f"security level {level.value} needs the user's authentication key "
                          "localised to the engine, and none was given; discover the engine "
                          "ID first")
    if level is SecurityLevel.AUTH_PRIV and keys.priv_protocol is None:
        raise EncodeError("security level authPriv needs the user's privacy key localised to "
                          "the engine, and none was given")


# ---------------------------------------------------------------------------------------------
# Incoming


def incoming_message(message: V3Message, user: UsmUser, keys: LocalizedKeys | None,
                     engine_id: bytes) -> Incoming:
    """Check and open a message from the agent (RFC 3414 3.2 steps 1 to 8, minus the time check).

    An unauthenticated message comes back as it is: only a Report may be unauthenticated, and
    the caller decides what it may do. The time window is checked by the caller, which knows
    whether the message is a report. Raises Rejected.
    """
    usm = authenticate_message(message, user, keys, engine_id)
    authenticated = bool(message.flags & FLAG_AUTH)
    return Incoming(open_scoped_pdu(message, keys), usm, authenticated=authenticated)


def authenticate_message(message: V3Message, user: UsmUser, keys: LocalizedKeys | None,
                         engine_id: bytes) -> UsmParameters:
    """Check the security model and, for an authenticated message, the engine ID, the user name
    and the MAC (RFC 3414 3.2 steps 1 to 6); return the message's USM parameters.

    An engine that must check the time window before decrypting (step 7) calls this, then
    `open_scoped_pdu`. Raises Rejected.
    """
    usm = message.usm
    if message.security_model != USM_SECURITY_MODEL or usm is None:
        raise Rejected("wrong_security_model",
                       f"the message uses security model {message.security_model}, not USM (3)")
    if not message.flags & FLAG_AUTH:
        return usm

    if keys is None or keys.auth_protocol is None:
        raise Rejected("wrong_security_level",
                       "the message is authenticated, but the user has no authentication key")
    if usm.engine_id != engine_id:
        raise Rejected("wrong_engine_id",
                       f"the message comes from engine {usm.engine_id.hex() or '(empty)'}, "
                       f"not {engine_id.hex()}")
    if usm.user_name != user.name.encode("utf-8"):
        raise Rejected("wrong_user", f"the message is for user {usm.user_name!r}, "
                                     f"not {user.name!r}")
    if not auth.verify(keys.auth_protocol, keys.auth_key, message.zeroed(),
                       usm.auth_parameters):
        raise Rejected("authentication_failed",
                       "the message's MAC does not match: it was altered, or signed with another "
                       "key")
    return usm


def open_scoped_pdu(message: V3Message, keys: LocalizedKeys | None) -> ScopedPdu:
    """Decrypt the scopedPDU when it is encrypted, and decode it (RFC 3414 3.2 step 8).

    Call it after `authenticate_message` passed. Raises Rejected.
    """
    if not message.flags & FLAG_AUTH or not message.encrypted:
        return _open_plaintext(message)
    if message.usm is None:
        raise Rejected("wrong_security_model", "the message has no USM security parameters")
    return _decrypt(message, message.usm, keys)


def _open_plaintext(message: V3Message) -> ScopedPdu:
    if message.encrypted:
        raise Rejected("wrong_security_level", "the message is encrypted but not authenticated")
    try:
        return decode_scoped_pdu(message.data)
    except DecodeError as exc:
        raise Rejected("malformed", f"the scopedPDU cannot be decoded: {exc}") from None


def _decrypt(message: V3Message, usm: UsmParameters, keys: LocalizedKeys | None) -> ScopedPdu:
    if keys is None or keys.priv_protocol is None:
        raise Rejected("wrong_security_level",
                       "the message is encrypted, but the user has no privacy key")
    try:
        plaintext = priv.decrypt(keys.priv_protocol, keys.priv_key, message.data,
                                 usm.priv_parameters, engine_boots=usm.engine_boots,
                                 engine_time=usm.engine_time)
        return decode_scoped_pdu(plaintext)
    except (priv.PrivacyError, DecodeError):
        # Authenticated, yet it does not decrypt to a scopedPDU: our privacy key or AES key
        # extension differs from the agent's (RFC 3414 8.3.2, decryptionError).
        raise Rejected("decryption_failed",
                       "the authenticated response does not decrypt to a scopedPDU: check the "
                       "privacy passphrase and protocol (AES-192/256 against the -C variants)",
                       ) from None
