"""USM procedures of a receiving engine: SNMPv3 traps and informs (RFC 3414 section 3.2).

The sender's role decides which engine is authoritative (RFC 3411 section 3.1.1.2):

- A trap is unconfirmed, so its sender is authoritative. msgAuthoritativeEngineID, boots and
  time are the sender's, keys are localised to the sender's engine ID, and the receiver keeps
  a notion of each sender's clock as a non-authoritative engine does (step 7b), keyed by the
  sender's engine ID. Traps are not reportable, so a discarded trap is only counted.
- An inform is confirmed, so the receiver is authoritative. msgAuthoritativeEngineID must be
  our engine ID, keys are localised to it, and boots and time must be ours within 150 seconds
  (step 7a). A discarded inform gets a report that lets the sender recover: unknownEngineID
  (discovery of our engine ID), notInTimeWindow (authenticated, so the sender may take our
  clock from it), unknownUserName, unsupportedSecLevel, wrongDigest or decryptionError.

Sans-IO: the clock reading, salts and random octets are passed in; nothing here sends or logs.
The message framing is `snmpd_ng.protocol.v3`, the checks of MAC and privacy are
`snmpd_ng.security.usm`.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from snmpd_ng.protocol.errors import DecodeError
from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.pdu import Pdu, PduType
from snmpd_ng.protocol.v3 import (
    FLAG_AUTH,
    FLAG_PRIV,
    USM_SECURITY_MODEL,
    ScopedPdu,
    UsmParameters,
    V3Message,
    decode_scoped_pdu,
    encode_message,
    encode_scoped_pdu,
)
from snmpd_ng.protocol.values import Counter32, VarBind
from snmpd_ng.security.credentials import KeyKind, SecurityLevel, UsmUser
from snmpd_ng.security.engine import (
    MAX_ENGINE_BOOTS,
    MAX_ENGINE_TIME,
    TIME_WINDOW_SECONDS,
    EngineState,
    EngineStatus,
)
from snmpd_ng.security.keycache import KeyCache
from snmpd_ng.security.usm import (
    MAX_MESSAGE_SIZE,
    LocalizedKeys,
    Rejected,
    authenticate_message,
    open_scoped_pdu,
    outgoing_request,
)

# RFC 3411 SnmpEngineID: four octets hold the first bit set and the enterprise number, then
# a format octet follows. Format 5 means "octets, administratively assigned".
ENGINE_ID_FORMAT_OCTETS = 5
ENTERPRISE_NUMBER = 0
"""NOTE: snmpd_ng has no IANA private enterprise number. IANA reserves 0, so a generated ID
cannot equal one that a vendor assigns. Set the engine ID in the config to use another."""
ENGINE_ID_RANDOM_OCTETS = 12
# RFC 3411: an SnmpEngineID has 5 to 32 octets.
MIN_ENGINE_ID_OCTETS = 5
MAX_ENGINE_ID_OCTETS = 32

# Sender engines whose clocks are kept; the one heard from least recently is dropped first.
DEFAULT_SENDER_CAPACITY = 65536

_USM_STATS = (1, 3, 6, 1, 6, 3, 15, 1, 1)


class DiscardReason(enum.Enum):
    """Why the USM discarded a message: the usmStats counter of RFC 3414, or a framing fault."""

    UNKNOWN_SECURITY_MODEL = "unknown_security_model"
    """msgSecurityModel is not USM (snmpUnknownSecurityModels, RFC 3412 7.2 step 4)."""
    UNSUPPORTED_SECURITY_LEVEL = "unsupported_security_level"
    NOT_IN_TIME_WINDOW = "not_in_time_window"
    UNKNOWN_USER_NAME = "unknown_user_name"
    UNKNOWN_ENGINE_ID = "unknown_engine_id"
    WRONG_DIGEST = "wrong_digest"
    DECRYPTION_ERROR = "decryption_error"
    MALFORMED = "malformed"
    """The plaintext scopedPDU does not decode."""


# The usmStats counter that each report carries (RFC 3414 section 5, SNMP-USER-BASED-SM-MIB).
REPORT_OIDS: dict[DiscardReason, Oid] = {
    DiscardReason.UNSUPPORTED_SECURITY_LEVEL: (*_USM_STATS, 1, 0),
    DiscardReason.NOT_IN_TIME_WINDOW: (*_USM_STATS, 2, 0),
    DiscardReason.UNKNOWN_USER_NAME: (*_USM_STATS, 3, 0),
    DiscardReason.UNKNOWN_ENGINE_ID: (*_USM_STATS, 4, 0),
    DiscardReason.WRONG_DIGEST: (*_USM_STATS, 5, 0),
    DiscardReason.DECRYPTION_ERROR: (*_USM_STATS, 6, 0),
}

_LEVEL_RANKS = {
    SecurityLevel.NO_AUTH_NO_PRIV: 0,
    SecurityLevel.AUTH_NO_PRIV: 1,
    SecurityLevel.AUTH_PRIV: 2,
}


def make_engine_id(random_octets: bytes, enterprise: int = ENTERPRISE_NUMBER) -> bytes:
    """Build an RFC 3411 engine ID of format 5 (octets) from the caller's random octets."""
    if not 1 <= len(random_octets) <= MAX_ENGINE_ID_OCTETS - 5:
        raise ValueError(f"an engine ID of format 5 takes 1 to {MAX_ENGINE_ID_OCTETS - 5} "
                         f"octets after its 5-octet head, got {len(random_octets)}")
    if not 0 <= enterprise < 2**31:
        raise ValueError(f"enterprise number {enterprise} is outside 0..2147483647")
    head = (0x8000_0000 | enterprise).to_bytes(4, "big")
    return head + bytes((ENGINE_ID_FORMAT_OCTETS,)) + random_octets


def message_level(flags: int) -> SecurityLevel:
    """Return the security level that msgFlags requests."""
    if flags & FLAG_PRIV:
        return SecurityLevel.AUTH_PRIV
    if flags & FLAG_AUTH:
        return SecurityLevel.AUTH_NO_PRIV
    return SecurityLevel.NO_AUTH_NO_PRIV


@dataclass(slots=True)
class LocalEngine:
    """Our own authoritative engine: its ID, boots, and when its engineTime was 0."""

    engine_id: bytes
    boots: int
    started_at: float
    """Monotonic clock reading (seconds) at which engineTime was 0: the start of the process."""

    def time(self, now: float) -> int:
        """Return snmpEngineTime: whole seconds since `started_at`."""
        return min(MAX_ENGINE_TIME, max(0, int(now - self.started_at)))

    def is_timely(self, boots: int, engine_time: int, now: float) -> bool:
        """Tell whether a message to us is inside the time window (RFC 3414 3.2 step 7a)."""
        if self.boots == MAX_ENGINE_BOOTS or boots != self.boots:
            return False
        return abs(engine_time - self.time(now)) <= TIME_WINDOW_SECONDS

    def as_engine_state(self, now: float) -> EngineState:
        """Return our boots and time in the form `usm.outgoing_request` signs with."""
        return EngineState(engine_id=self.engine_id, status=EngineStatus.SYNCED,
                           boots=self.boots, time=self.time(now), learned_at=now)


@dataclass(frozen=True, slots=True)
class ReceiverUser:
    """A USM user that may send us traps or informs.

    `engine_id` binds the user to one engine: the sender's for traps, ours for informs. A user
    given with localised keys needs it, because those keys work with that engine only.
    """

    user: UsmUser
    engine_id: bytes | None = None

    def __post_init__(self) -> None:
        localized = KeyKind.LOCALIZED in (self.user.auth_key_kind, self.user.priv_key_kind)
        if localized and self.user.authenticates and self.engine_id is None:
            raise ValueError(f"USM user {self.user.name!r} has a localised key, which works with "
                             "one engine only: give the engine ID it was localised to")


class UserTable:
    """The users we accept, found by engine ID and user name."""

    def __init__(self, users: Iterable[ReceiverUser]) -> None:
        self._bound: dict[tuple[bytes, bytes], UsmUser] = {}
        self._any_engine: dict[bytes, UsmUser] = {}
        for entry in users:
            name = entry.user.name.encode("utf-8")
            if entry.engine_id is None:
                self._any_engine[name] = entry.user
            else:
                self._bound[(entry.engine_id, name)] = entry.user

    def find(self, engine_id: bytes, user_name: bytes) -> UsmUser | None:
        """Return the user bound to `engine_id`, else the one for every engine, else None."""
        found = self._bound.get((engine_id, user_name))
        return found if found is not None else self._any_engine.get(user_name)

    def __len__(self) -> int:
        return len(self._bound) + len(self._any_engine)


class Discarded(Exception):
    """A message the USM drops. `report` is the encoded report to send back, if any."""

    def __init__(self, reason: DiscardReason, detail: str, report: bytes | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.report = report
        super().__init__(detail)


@dataclass(slots=True)
class Received:
    """A message that passed every USM check, with what a response to it needs."""

    scoped: ScopedPdu
    usm: UsmParameters
    user: UsmUser
    level: SecurityLevel
    is_authoritative: bool
    """True when we are the authoritative engine: an inform, which gets a Response."""
    msg_id: int
    keys: LocalizedKeys | None


class UsmReceiver:
    """The USM state of our receiving engine: users, sender clocks, derived keys, usmStats.

    Not thread-safe: one per receiver, called from the event loop.
    """

    def __init__(self, local: LocalEngine, users: UserTable, *, key_cache: KeyCache | None = None,
                 sender_capacity: int = DEFAULT_SENDER_CAPACITY) -> None:
        self.local = local
        self.users = users
        self._keys = key_cache if key_cache is not None else KeyCache()
        self._senders: OrderedDict[bytes, EngineState] = OrderedDict()
        self._sender_capacity = sender_capacity
        self.stats: dict[DiscardReason, int] = dict.fromkeys(DiscardReason, 0)
        """Discarded messages by reason; a report carries its counter's value."""

    def receive(self, message: V3Message, now: float) -> Received:
        """Run RFC 3414 3.2 on a decoded message; return it opened, or raise Discarded.

        `now` is the monotonic clock in seconds, on the base of `local.started_at`.
        """
        usm = self._check_security_model(message)
        is_authoritative = self._check_engine_id(message, usm, now)
        user = self._find_user(message, usm, now)
        level = message_level(message.flags)
        self._check_level(message, usm, user, level, now)

        keys = None
        if level is not SecurityLevel.NO_AUTH_NO_PRIV:
            keys = self._keys.keys(user, usm.engine_id)
            self._authenticate(message, usm, user, keys, now)
            self._check_time(message, usm, user, keys, is_authoritative, now)
        scoped = self._open(message, usm, keys, now)
        return Received(scoped, usm, user, level, is_authoritative, message.msg_id, keys)

    def response(self, received: Received, pdu: Pdu, now: float, salt: int) -> bytes:
        """Encode the Response to an inform, protected as the inform was (RFC 3414 3.1).

        `salt` is the caller's counter for the privacy protocol; it is unused below authPriv.
        """
        scoped = received.scoped
        return outgoing_request(
            received.user, received.level, received.keys, self.local.as_engine_state(now), pdu,
            received.msg_id, context_engine_id=scoped.context_engine_id,
            context_name=scoped.context_name, now=now, salt=salt, reportable=False,
        )

    def sender_state(self, engine_id: bytes) -> EngineState | None:
        """Return what we know of a trap sender's clock, if it sent us an authenticated trap."""
        return self._senders.get(engine_id)

    # -----------------------------------------------------------------------------------------
    # The steps of RFC 3414 3.2

    def _check_security_model(self, message: V3Message) -> UsmParameters:
        # RFC 3412 7.2 step 4: no report, because it would need a security model we lack.
        if message.security_model != USM_SECURITY_MODEL or message.usm is None:
            raise self._discard(DiscardReason.UNKNOWN_SECURITY_MODEL,
                                f"the message uses security model {message.security_model}, not "
                                "USM (3)")
        return message.usm

    def _check_engine_id(self, message: V3Message, usm: UsmParameters, now: float) -> bool:
        """Decide who is authoritative (step 3); return True when we are.

        A reportable message requests a report, so it is a confirmed-class PDU for which we
        must be authoritative. Any other engine ID there, the empty one of a discovery probe
        included, gets the unknownEngineID report that names ours (RFC 3414 section 4).
        """
        if usm.engine_id == self.local.engine_id:
            return True
        if message.reportable:
            raise self._discard(DiscardReason.UNKNOWN_ENGINE_ID,
                                f"the message is for engine {usm.engine_id.hex() or '(empty)'}, "
                                f"and ours is {self.local.engine_id.hex()}",
                                message, usm, now)
        if not MIN_ENGINE_ID_OCTETS <= len(usm.engine_id) <= MAX_ENGINE_ID_OCTETS:
            raise self._discard(DiscardReason.UNKNOWN_ENGINE_ID,
                                f"the trap names sender engine ID "
                                f"{usm.engine_id.hex() or '(empty)'}, which is not 5 to 32 "
                                "octets: set the sender's engine ID")
        return False

    def _find_user(self, message: V3Message, usm: UsmParameters, now: float) -> UsmUser:
        """Step 4: the user must be configured for this engine."""
        user = self.users.find(usm.engine_id, usm.user_name)
        if user is None:
            raise self._discard(DiscardReason.UNKNOWN_USER_NAME,
                                f"user {usm.user_name!r} is not configured for engine "
                                f"{usm.engine_id.hex()}", message, usm, now)
        return user

    def _check_level(self, message: V3Message, usm: UsmParameters, user: UsmUser,
                     level: SecurityLevel, now: float) -> None:
        """Step 5, and a level below the user's: this receiver requires each user's level."""
        required = user.security_level
        if _LEVEL_RANKS[level] == _LEVEL_RANKS[required]:
            return
        word = "above" if _LEVEL_RANKS[level] > _LEVEL_RANKS[required] else "below"
        raise self._discard(DiscardReason.UNSUPPORTED_SECURITY_LEVEL,
                            f"the message is {level.value}, {word} the level {required.value} "
                            f"configured for user {user.name!r}", message, usm, now)

    def _authenticate(self, message: V3Message, usm: UsmParameters, user: UsmUser,
                      keys: LocalizedKeys | None, now: float) -> None:
        """Step 6: the MAC must match the user's key localised to the authoritative engine."""
        try:
            authenticate_message(message, user, keys, usm.engine_id)
        except Rejected as exc:
            raise self._discard(DiscardReason.WRONG_DIGEST,
                                f"user {user.name!r}: {exc.detail}; check the authentication "
                                "protocol and passphrase on both sides", message, usm, now,
                                ) from None

    def _check_time(self, message: V3Message, usm: UsmParameters, user: UsmUser,
                    keys: LocalizedKeys | None, is_authoritative: bool, now: float) -> None:
        """Step 7: 7a against our clock for an inform, 7b against the sender's for a trap."""
        if is_authoritative:
            if self.local.is_timely(usm.engine_boots, usm.engine_time, now):
                return
            detail = (f"boots {usm.engine_boots} and time {usm.engine_time} are not ours "
                      f"({self.local.boots}, {self.local.time(now)}) within "
                      f"{TIME_WINDOW_SECONDS} s; the sender resynchronises from our report")
            # The report is authenticated (authNoPriv), so the sender can trust our clock.
            report = self._signed_report(DiscardReason.NOT_IN_TIME_WINDOW, message, usm, user,
                                         keys, now)
            raise Discarded(DiscardReason.NOT_IN_TIME_WINDOW, detail, report)
        self._check_sender_time(usm, now)

    def _check_sender_time(self, usm: UsmParameters, now: float) -> None:
        """Step 7b: learn the sender's newer boots and time, then check the window."""
        state = self._sender(usm.engine_id)
        known_boots, known_time = state.boots, state.estimated_time(now)
        state.update(usm.engine_boots, usm.engine_time, now)
        if state.in_window(usm.engine_boots, usm.engine_time, now):
            return
        # RFC 3414 keeps the notion, so a sender that lost its engineBoots stays rejected
        # until it counts past what we saw or this process restarts.
        raise self._discard(DiscardReason.NOT_IN_TIME_WINDOW,
                            f"engine {usm.engine_id.hex()} sent boots {usm.engine_boots} and time "
                            f"{usm.engine_time}, older than the {known_boots} and {known_time} "
                            "seen before: a replayed trap, or a sender that lost its engineBoots")

    def _open(self, message: V3Message, usm: UsmParameters, keys: LocalizedKeys | None,
              now: float) -> ScopedPdu:
        """Step 8: decrypt when encrypted, and decode the scopedPDU."""
        try:
            return open_scoped_pdu(message, keys)
        except Rejected as exc:
            if exc.reason == "malformed":
                raise self._discard(DiscardReason.MALFORMED, exc.detail) from None
            raise self._discard(DiscardReason.DECRYPTION_ERROR,
                                "the message does not decrypt to a scopedPDU: check the privacy "
                                "protocol and passphrase on both sides (AES-192 and AES-256 "
                                "against the -C variants)", message, usm, now) from None

    # -----------------------------------------------------------------------------------------
    # Counting and reports

    def _sender(self, engine_id: bytes) -> EngineState:
        state = self._senders.get(engine_id)
        if state is None:
            state = self._senders[engine_id] = EngineState(engine_id=engine_id)
            if len(self._senders) > self._sender_capacity:
                self._senders.popitem(last=False)
        else:
            self._senders.move_to_end(engine_id)
        return state

    def _count(self, reason: DiscardReason) -> int:
        self.stats[reason] += 1
        return self.stats[reason]

    def _discard(self, reason: DiscardReason, detail: str, message: V3Message | None = None,
                 usm: UsmParameters | None = None, now: float = 0.0) -> Discarded:
        """Count a discarded message, with the unauthenticated report when it requests one.

        `message` and `usm` are given only where RFC 3414 sends a report for `reason`.
        """
        count = self._count(reason)
        report = None
        if message is not None and usm is not None and message.reportable:
            report = self._plain_report(reason, count, message, usm, now)
        return Discarded(reason, detail, report)

    def _plain_report(self, reason: DiscardReason, count: int, message: V3Message,
                      usm: UsmParameters, now: float) -> bytes:
        """Encode a noAuthNoPriv report of `reason`'s counter under the request's msgID."""
        pdu = _report_pdu(reason, count, _request_id(message))
        scoped = encode_scoped_pdu(self.local.engine_id, b"", pdu)
        params = UsmParameters(self.local.engine_id, self.local.boots, self.local.time(now),
                               usm.user_name)
        encoded, _ = encode_message(message.msg_id, MAX_MESSAGE_SIZE, 0, params, scoped,
                                    encrypted=False)
        return encoded

    def _signed_report(self, reason: DiscardReason, message: V3Message, usm: UsmParameters,
                       user: UsmUser, keys: LocalizedKeys | None, now: float) -> bytes | None:
        count = self._count(reason)
        if not message.reportable:
            return None
        pdu = _report_pdu(reason, count, _request_id(message))
        return outgoing_request(user, SecurityLevel.AUTH_NO_PRIV, keys,
                                self.local.as_engine_state(now), pdu, message.msg_id,
                                context_engine_id=self.local.engine_id, context_name=b"",
                                now=now, salt=0, reportable=False)


def _report_pdu(reason: DiscardReason, count: int, request_id: int) -> Pdu:
    value = Counter32(count % 2**32)
    return Pdu(PduType.REPORT, request_id, [VarBind(REPORT_OIDS[reason], value)])


def _request_id(message: V3Message) -> int:
    """Return the request-id of a plaintext message, or 0 when it is encrypted or broken.

    A report carries the request's request-id where it can be read. The sender matches the
    report to its request by msgID, which every report carries.
    """
    if message.encrypted:
        return 0
    try:
        pdu = decode_scoped_pdu(message.data).pdu
    except DecodeError:
        return 0
    return pdu.request_id if isinstance(pdu, Pdu) else 0
