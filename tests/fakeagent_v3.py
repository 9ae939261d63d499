"""A scripted SNMPv3 agent on loopback: the authoritative side of USM, for tests of the manager.

It is the SNMPv3 counterpart of tests/fakeagent.py, built from the project's sans-IO pieces: the
message framing of `snmpd_ng.protocol.v3`, key localisation (`KeyCache`), HMAC (`auth`) and
privacy (`priv`). The agent has an engine ID, an engineBoots and an engine clock that the test
controls (`reboot`, `lose_boots`, `set_engine_time`, and the `clock` it reads), USM users whose
keys it localises to its engine ID, and the values its Responses to GET, GETNEXT and GETBULK
carry.

Every request first goes through the agent's USM checks (RFC 3414 3.2), whose result is the
request's `verdict`. A script then picks the replies: it returns a list of `Reply`, or None for
the normal reply to that verdict (a Response, or the Report RFC 3414 requires). The helpers
`respond`, `report`, `replay` and `duplicate` build the misbehaving replies: a tampered MAC, an
old engine time, another engine ID, a report of any kind with or without authentication.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from snmpd_ng.manager import Manager, SecurityLevel, Target, UsmUser
from snmpd_ng.protocol.errors import DecodeError
from snmpd_ng.protocol.message import SnmpVersion
from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.pdu import AnyPdu, BulkPdu, Pdu, PduType
from snmpd_ng.protocol.v3 import (
    FLAG_AUTH,
    FLAG_PRIV,
    FLAG_REPORTABLE,
    USM_SECURITY_MODEL,
    ScopedPdu,
    UsmParameters,
    V3Message,
    decode_message,
    decode_scoped_pdu,
    encode_message,
    encode_scoped_pdu,
)
from snmpd_ng.protocol.values import (
    END_OF_MIB_VIEW,
    NO_SUCH_OBJECT,
    Counter32,
    Integer32,
    ObjectIdentifier,
    OctetString,
    SnmpValue,
    TimeTicks,
    VarBind,
)
from snmpd_ng.secret import Secret
from snmpd_ng.security import auth, priv
from snmpd_ng.security.keycache import KeyCache
from snmpd_ng.security.keys import AuthProtocol, PrivProtocol
from snmpd_ng.security.usm import LocalizedKeys
from snmpd_ng.transport.usm import UsmContext

Reply = tuple[float, bytes]
"""A datagram to send back and the seconds to wait before sending it."""

# Verdicts of the agent's USM checks. Apart from OK, each is the report kind the manager's
# TargetStats counts under the same name.
OK = "ok"
UNKNOWN_ENGINE_ID = "unknown_engine_id"
UNKNOWN_USER_NAME = "unknown_user_name"
UNSUPPORTED_SECURITY_LEVEL = "unsupported_security_level"
WRONG_DIGEST = "wrong_digest"
NOT_IN_TIME_WINDOW = "not_in_time_window"
DECRYPTION_ERROR = "decryption_error"
UNKNOWN_CONTEXT = "unknown_context"
MALFORMED = "malformed"
"""The scopedPDU of a plaintext request does not decode; the agent drops it."""

# Report OIDs: the usmStats counters (RFC 3414 section 5), snmpUnknownContexts (RFC 3413) and
# snmpInvalidMsgs (RFC 3412), by the report kind they stand for.
_USM_STATS = (1, 3, 6, 1, 6, 3, 15, 1, 1)
REPORT_OIDS: dict[str, Oid] = {
    UNSUPPORTED_SECURITY_LEVEL: (*_USM_STATS, 1, 0),
    NOT_IN_TIME_WINDOW: (*_USM_STATS, 2, 0),
    UNKNOWN_USER_NAME: (*_USM_STATS, 3, 0),
    UNKNOWN_ENGINE_ID: (*_USM_STATS, 4, 0),
    WRONG_DIGEST: (*_USM_STATS, 5, 0),
    DECRYPTION_ERROR: (*_USM_STATS, 6, 0),
    UNKNOWN_CONTEXT: (1, 3, 6, 1, 6, 3, 12, 1, 5, 0),
    "invalid_msgs": (1, 3, 6, 1, 6, 3, 11, 2, 1, 2, 0),
}

# RFC 3414 2.2.3: a request is timely if its engine time is within 150 seconds of the agent's.
TIME_WINDOW_SECONDS = 150
MAX_ENGINE_BOOTS = 2_147_483_647
MAX_MESSAGE_SIZE = 65507

# An engine ID in net-snmp's text format (80 00 1F 88 04, then the text), as RFC 3411 allows.
ENGINE_ID = bytes.fromhex("80001f8804") + b"fakev3agent"
OTHER_ENGINE_ID = bytes.fromhex("80001f8804") + b"otherengine"

SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
SYS_OBJECT_ID = (1, 3, 6, 1, 2, 1, 1, 2, 0)
SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
# snmpEngineID, snmpEngineBoots and snmpEngineTime (SNMP-FRAMEWORK-MIB): served from the
# agent's engine state, as a real agent does.
SNMP_ENGINE_ID = (1, 3, 6, 1, 6, 3, 10, 2, 1, 1, 0)
SNMP_ENGINE_BOOTS = (1, 3, 6, 1, 6, 3, 10, 2, 1, 2, 0)
SNMP_ENGINE_TIME = (1, 3, 6, 1, 6, 3, 10, 2, 1, 3, 0)

SYS_NAME_TEXT = b"fakev3"
VALUES: dict[Oid, SnmpValue] = {
    SYS_DESCR: OctetString(b"fake SNMPv3 agent"),
    SYS_OBJECT_ID: ObjectIdentifier((1, 3, 6, 1, 4, 1, 8072, 3, 2, 10)),
    SYS_UPTIME: TimeTicks(4200),
    SYS_NAME: OctetString(SYS_NAME_TEXT),
}

# Test users at each security level. The passphrases are fixed so that a test can look for
# them in logs and error messages.
NOAUTH_USER = UsmUser("noauth")
AUTH_USER = UsmUser("auth_sha256", AuthProtocol.SHA256, Secret("fake-auth-sha256-pass"))
PRIV_USER = UsmUser("priv_sha_aes", AuthProtocol.SHA, Secret("fake-priv-sha-authpass"),
                    PrivProtocol.AES, Secret("fake-priv-sha-aes-privpass"))
DES_USER = UsmUser("priv_md5_des", AuthProtocol.MD5, Secret("fake-priv-md5-authpass"),
                   PrivProtocol.DES, Secret("fake-priv-md5-des-privpass"))
USERS = (NOAUTH_USER, AUTH_USER, PRIV_USER, DES_USER)

_LEVELS_BY_FLAGS = {
    0: SecurityLevel.NO_AUTH_NO_PRIV,
    FLAG_AUTH: SecurityLevel.AUTH_NO_PRIV,
    FLAG_AUTH | FLAG_PRIV: SecurityLevel.AUTH_PRIV,
}
_LEVEL_RANKS = {
    SecurityLevel.NO_AUTH_NO_PRIV: 0,
    SecurityLevel.AUTH_NO_PRIV: 1,
    SecurityLevel.AUTH_PRIV: 2,
}


class ManualClock:
    """Monotonic seconds that move only when a test calls `advance`.

    Pass the same clock to the agent and to the manager's UsmContext, so that both engines see
    the same time pass, and none passes while the test runs.
    """

    def __init__(self, start: float = 10_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(slots=True)
class V3Request:
    """One datagram the agent received, decoded, and what its USM checks found."""

    data: bytes
    message: V3Message
    source: tuple[str, int]
    index: int
    """0 for the first request the agent received, 1 for the next, and so on."""
    verdict: str = OK
    user: UsmUser | None = None
    """The agent's user of that name, None when the name is unknown or empty."""
    scoped: ScopedPdu | None = None
    """The scopedPDU, None when it could not be read (an undecryptable or malformed request)."""

    @property
    def msg_id(self) -> int:
        return self.message.msg_id

    @property
    def usm(self) -> UsmParameters:
        assert self.message.usm is not None, "the agent drops messages of other security models"
        return self.message.usm

    @property
    def level(self) -> SecurityLevel:
        return _LEVELS_BY_FLAGS[self.message.flags & (FLAG_AUTH | FLAG_PRIV)]

    @property
    def is_discovery(self) -> bool:
        """Tell whether this is an engine discovery probe (RFC 3414 section 4)."""
        return not self.usm.engine_id and self.level is SecurityLevel.NO_AUTH_NO_PRIV

    @property
    def pdu(self) -> AnyPdu | None:
        return self.scoped.pdu if self.scoped is not None else None

    @property
    def request_id(self) -> int:
        """The PDU's request-id, or 0 when the PDU could not be read (RFC 3412 7.1 step 3)."""
        pdu = self.pdu
        return pdu.request_id if isinstance(pdu, Pdu | BulkPdu) else 0

    @property
    def oids(self) -> list[Oid]:
        pdu = self.pdu
        return [varbind.oid for varbind in pdu.varbinds] if pdu is not None else []


@dataclass(slots=True)
class SentResponse:
    """A Response the agent sent, kept so that a test can replay it."""

    msg_id: int
    datagram: bytes
    pdu: Pdu
    engine_boots: int
    engine_time: int


Script = Callable[["FakeV3Agent", V3Request], list[Reply] | None]


def answer_normally(agent: FakeV3Agent, request: V3Request) -> list[Reply] | None:
    """The default script: every request gets the normal reply to its verdict."""
    return None


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, agent: FakeV3Agent) -> None:
        self.agent = agent

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.agent.receive(data, (str(addr[0]), int(addr[1])))


class FakeV3Agent:
    """A UDP SNMPv3 agent on one loopback address whose replies a script chooses.

    `engine_time` is the agent's snmpEngineTime when it starts; it then follows `clock`
    (monotonic seconds). Reports are sent only for requests with the reportable flag, as RFC
    3412 7.1 step 3 says. A request that decrypts to garbage is dropped, as net-snmp 5.9.3 does,
    unless `report_decryption_errors` asks for the decryptionError report of RFC 3414 3.2 step 8.
    """

    def __init__(self, users: Sequence[UsmUser] = USERS,
                 values: Mapping[Oid, SnmpValue] = VALUES, *, script: Script = answer_normally,
                 engine_id: bytes = ENGINE_ID, engine_boots: int = 1, engine_time: int = 0,
                 clock: Callable[[], float] = time.monotonic, host: str = "127.0.0.1",
                 contexts: Sequence[str] = ("",),
                 report_decryption_errors: bool = False) -> None:
        self.users = {user.name.encode("utf-8"): user for user in users}
        self.values = dict(values)
        self.script = script
        self.engine_id = engine_id
        self.engine_boots = engine_boots
        self.clock = clock
        self.host = host
        self.port = 0
        self.contexts = {name.encode("utf-8") for name in contexts}
        self.report_decryption_errors = report_decryption_errors
        self.requests: list[V3Request] = []
        self.sent: list[SentResponse] = []
        self.undecodable: list[bytes] = []
        self.counters: dict[str, int] = {}
        """Reports the agent sent, by kind: the values of its usmStats counters."""
        self._epoch = clock() - engine_time
        self._keys = KeyCache()
        self._salt = 0
        self._transport: asyncio.DatagramTransport | None = None

    async def __aenter__(self) -> FakeV3Agent:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=(self.host, 0))
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._transport is not None:
            self._transport.close()

    # -----------------------------------------------------------------------------------------
    # The engine's boots and clock

    @property
    def engine_time(self) -> int:
        """snmpEngineTime now: whole seconds since the last (re)start, as the clock counts."""
        return max(0, int(self.clock() - self._epoch))

    def set_engine_time(self, seconds: int) -> None:
        self._epoch = self.clock() - seconds

    def reboot(self) -> None:
        """Restart as an agent that keeps its state does: engineBoots + 1, engineTime 0."""
        self.engine_boots += 1
        self._epoch = self.clock()

    def lose_boots(self, engine_boots: int | None = None) -> None:
        """Restart as an agent that does not save engineBoots: engineTime 0, and engineBoots
        unchanged or set to `engine_boots` (0 and 1 are what such agents start with)."""
        if engine_boots is not None:
            self.engine_boots = engine_boots
        self._epoch = self.clock()

    def target(self, user: UsmUser, **fields: Any) -> Target:
        """Return an SNMPv3 target for this agent and `user`: 0.2 s timeout, 1 retry by default."""
        settings: dict[str, Any] = {"timeout": 0.2, "retries": 1, **fields}
        return Target(self.host, self.port, version=SnmpVersion.V3, usm=user, **settings)

    # -----------------------------------------------------------------------------------------
    # Receiving

    def receive(self, data: bytes, source: tuple[str, int]) -> None:
        try:
            message = decode_message(data)
        except DecodeError:
            self.undecodable.append(data)
            return
        if message.security_model != USM_SECURITY_MODEL or message.usm is None:
            self.undecodable.append(data)
            return

        request = V3Request(data, message, source, len(self.requests))
        request.verdict = self._check(request)
        self.requests.append(request)
        replies = self.script(self, request)
        if replies is None:
            replies = self.answer(request)
        loop = asyncio.get_running_loop()
        for delay, datagram in replies:
            loop.call_later(delay, self._send, datagram, source)

    def _send(self, datagram: bytes, destination: tuple[str, int]) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(datagram, destination)

    def _check(self, request: V3Request) -> str:
        """Run the authoritative engine's checks of RFC 3414 3.2 steps 3 to 8, in order."""
        usm = request.usm
        if not request.message.encrypted:
            # Read at once, so that even a report carries the request's request-id.
            request.scoped = _decode_or_none(request.message.data)
        if usm.engine_id != self.engine_id:
            return UNKNOWN_ENGINE_ID
        user = self.users.get(usm.user_name)
        if user is None:
            return UNKNOWN_USER_NAME
        request.user = user
        if _LEVEL_RANKS[request.level] > _LEVEL_RANKS[user.security_level]:
            return UNSUPPORTED_SECURITY_LEVEL

        if request.level is not SecurityLevel.NO_AUTH_NO_PRIV:
            keys = self.keys_of(user)
            assert keys.auth_protocol is not None
            if not auth.verify(keys.auth_protocol, keys.auth_key, request.message.zeroed(),
                               usm.auth_parameters):
                return WRONG_DIGEST
            if not self._is_timely(usm):
                return NOT_IN_TIME_WINDOW
        return self._open(request)

    def _is_timely(self, usm: UsmParameters) -> bool:
        # RFC 3414 3.2 step 7a: the agent's own boots and time are the reference.
        return (self.engine_boots != MAX_ENGINE_BOOTS and usm.engine_boots == self.engine_boots
                and abs(usm.engine_time - self.engine_time) <= TIME_WINDOW_SECONDS)

    def _open(self, request: V3Request) -> str:
        """Decrypt the scopedPDU if it is encrypted, then check its context."""
        if request.message.encrypted:
            assert request.user is not None
            request.scoped = self._decrypt(request, self.keys_of(request.user))
            if request.scoped is None:
                # A wrong privacy key decrypts to octets that do not decode (RFC 3414 8.3.2).
                return DECRYPTION_ERROR
        if request.scoped is None:
            return MALFORMED
        if request.scoped.context_name not in self.contexts:
            return UNKNOWN_CONTEXT
        return OK

    @staticmethod
    def _decrypt(request: V3Request, keys: LocalizedKeys) -> ScopedPdu | None:
        assert keys.priv_protocol is not None
        usm = request.usm
        try:
            plaintext = priv.decrypt(keys.priv_protocol, keys.priv_key, request.message.data,
                                     usm.priv_parameters, engine_boots=usm.engine_boots,
                                     engine_time=usm.engine_time)
        except priv.PrivacyError:
            return None
        return _decode_or_none(plaintext)

    def keys_of(self, user: UsmUser, engine_id: bytes | None = None) -> LocalizedKeys:
        """Return `user`'s keys localised to `engine_id`, by default the agent's own."""
        keys = self._keys.keys(user, engine_id or self.engine_id)
        assert keys is not None, f"user {user.name} has no keys at noAuthNoPriv"
        return keys

    # -----------------------------------------------------------------------------------------
    # Answers

    def answer(self, request: V3Request) -> list[Reply]:
        """Return the normal reply to `request`'s verdict."""
        verdict = request.verdict
        if verdict == OK:
            return self.respond(request)
        if verdict == MALFORMED or (verdict == DECRYPTION_ERROR
                                    and not self.report_decryption_errors):
            return []
        # RFC 3414 3.2 step 7a: the notInTimeWindow report is authenticated, so that the
        # manager may take its boots and time; the other reports cannot be.
        return self.report(request, verdict, authenticated=verdict == NOT_IN_TIME_WINDOW)

    def respond(self, request: V3Request, varbinds: Sequence[VarBind] | None = None, *,
                pdu: Pdu | None = None, engine_id: bytes | None = None,
                engine_boots: int | None = None, engine_time: int | None = None,
                tamper: bool = False) -> list[Reply]:
        """Return a Response at the request's security level.

        By default it carries the values of the requested OIDs and the agent's engine ID, boots
        and time. `varbinds` or a whole `pdu` replace the values. `engine_id`, `engine_boots`
        and `engine_time` replace the USM header, and a response from another engine is signed
        with keys localised to that engine. `tamper` flips a bit of the MAC after signing.
        """
        if pdu is None:
            found = self.answer_pdu(request) if varbinds is None else list(varbinds)
            pdu = Pdu(PduType.RESPONSE, request.request_id, found)
        boots = self.engine_boots if engine_boots is None else engine_boots
        now = self.engine_time if engine_time is None else engine_time
        datagram = self.encode(request, pdu, level=request.level,
                               engine_id=engine_id or self.engine_id, engine_boots=boots,
                               engine_time=now, tamper=tamper)
        self.sent.append(SentResponse(request.msg_id, datagram, pdu, boots, now))
        return [(0.0, datagram)]

    def report(self, request: V3Request, kind: str, *, authenticated: bool = False,
               engine_boots: int | None = None, engine_time: int | None = None) -> list[Reply]:
        """Return a Report of `kind` (a key of REPORT_OIDS), or nothing when the request is not
        reportable.

        An authenticated report goes at authNoPriv with the request's user. `engine_boots` and
        `engine_time` replace the agent's own in its header: 0 and 0 mimic agents that leave
        them out of the discovery report.
        """
        if not request.message.flags & FLAG_REPORTABLE:
            return []
        count = self.counters[kind] = self.counters.get(kind, 0) + 1
        pdu = Pdu(PduType.REPORT, request.request_id,
                  [VarBind(REPORT_OIDS[kind], Counter32(count))])
        level = SecurityLevel.AUTH_NO_PRIV if authenticated else SecurityLevel.NO_AUTH_NO_PRIV
        boots = self.engine_boots if engine_boots is None else engine_boots
        now = self.engine_time if engine_time is None else engine_time
        datagram = self.encode(request, pdu, level=level, engine_id=self.engine_id,
                               engine_boots=boots, engine_time=now)
        return [(0.0, datagram)]

    def replay(self, request: V3Request, old: SentResponse) -> list[Reply]:
        """Return an earlier Response's PDU with its engine boots and time, under the request's
        msgID: what a replayed message looks like once it matches an outstanding msgID."""
        pdu = Pdu(PduType.RESPONSE, request.request_id, list(old.pdu.varbinds))
        return self.respond(request, pdu=pdu, engine_boots=old.engine_boots,
                            engine_time=old.engine_time)

    @staticmethod
    def duplicate(old: SentResponse) -> list[Reply]:
        """Return an earlier Response byte for byte, under its own old msgID."""
        return [(0.0, old.datagram)]

    def answer_pdu(self, request: V3Request) -> list[VarBind]:
        """Return the varbinds of the Response to the request's GET, GETNEXT or GETBULK."""
        pdu = request.pdu
        values = self._current_values()
        if isinstance(pdu, BulkPdu):
            return _bulk(values, pdu)
        if pdu is None or pdu.pdu_type != PduType.GET_NEXT:
            return [VarBind(oid, values.get(oid, NO_SUCH_OBJECT)) for oid in request.oids]
        return [_successor(values, oid) for oid in request.oids]

    def _current_values(self) -> dict[Oid, SnmpValue]:
        values = dict(self.values)
        values[SNMP_ENGINE_ID] = OctetString(self.engine_id)
        values[SNMP_ENGINE_BOOTS] = Integer32(self.engine_boots)
        values[SNMP_ENGINE_TIME] = Integer32(self.engine_time)
        return values

    # -----------------------------------------------------------------------------------------
    # Encoding

    def encode(self, request: V3Request, pdu: Pdu, *, level: SecurityLevel, engine_id: bytes,
               engine_boots: int, engine_time: int, tamper: bool = False) -> bytes:
        """Encode, encrypt and sign a reply to `request` (RFC 3414 3.1).

        The reply is not reportable (RFC 3412 6.4: Response and Report PDUs never are).
        """
        scoped = encode_scoped_pdu(self.engine_id, b"", pdu)
        user_name = request.usm.user_name
        usm = UsmParameters(engine_id, engine_boots, engine_time, user_name)
        if level is SecurityLevel.NO_AUTH_NO_PRIV:
            message, _ = encode_message(request.msg_id, MAX_MESSAGE_SIZE, 0, usm, scoped,
                                        encrypted=False)
            return message

        assert request.user is not None, "an authenticated reply needs a known user"
        keys = self.keys_of(request.user, engine_id)
        assert keys.auth_protocol is not None
        flags, data = FLAG_AUTH, scoped
        if level is SecurityLevel.AUTH_PRIV:
            assert keys.priv_protocol is not None
            self._salt += 1
            flags |= FLAG_PRIV
            data, usm.priv_parameters = priv.encrypt(keys.priv_protocol, keys.priv_key, scoped,
                                                     engine_boots=engine_boots,
                                                     engine_time=engine_time, salt=self._salt)
        usm.auth_parameters = auth.zeroed_mac(keys.auth_protocol)
        message, offset = encode_message(request.msg_id, MAX_MESSAGE_SIZE, flags, usm, data,
                                         encrypted=bool(flags & FLAG_PRIV))
        mac = bytearray(auth.sign(keys.auth_protocol, keys.auth_key, message))
        if tamper:
            mac[-1] ^= 0x01
        return message[:offset] + bytes(mac) + message[offset + len(mac):]


def _decode_or_none(data: bytes) -> ScopedPdu | None:
    try:
        return decode_scoped_pdu(data)
    except DecodeError:
        return None


def _successor(values: Mapping[Oid, SnmpValue], oid: Oid) -> VarBind:
    following = [candidate for candidate in values if candidate > oid]
    if not following:
        return VarBind(oid, END_OF_MIB_VIEW)
    found = min(following)
    return VarBind(found, values[found])


def _bulk(values: Mapping[Oid, SnmpValue], pdu: BulkPdu) -> list[VarBind]:
    names = [varbind.oid for varbind in pdu.varbinds]
    result = [_successor(values, oid) for oid in names[:pdu.non_repeaters]]
    columns = names[pdu.non_repeaters:]
    for _ in range(pdu.max_repetitions):
        row = [_successor(values, oid) for oid in columns]
        result.extend(row)
        columns = [varbind.oid for varbind in row]
        if all(varbind.value is END_OF_MIB_VIEW for varbind in row):
            break
    return result


# ---------------------------------------------------------------------------------------------
# Scripts


def zero_discovery(agent: FakeV3Agent, request: V3Request) -> list[Reply] | None:
    """Answer discovery with engineBoots and engineTime 0, as some agents do. The manager then
    learns the real ones from the authenticated notInTimeWindow report that follows."""
    if request.is_discovery:
        return agent.report(request, UNKNOWN_ENGINE_ID, engine_boots=0, engine_time=0)
    return None


def drop_level(level: SecurityLevel) -> Script:
    """Return a script that drops every request at `level`, and answers the others."""

    def script(agent: FakeV3Agent, request: V3Request) -> list[Reply] | None:
        return [] if request.level is level else None

    return script


def drop_after_discovery(agent: FakeV3Agent, request: V3Request) -> list[Reply] | None:
    """Answer discovery and nothing else: an agent that died after it was discovered."""
    return None if request.is_discovery else []


def on_verdict(verdict: str, action: Callable[[FakeV3Agent, V3Request], list[Reply]],
               times: int | None = None) -> Script:
    """Return a script that answers requests whose verdict is `verdict` with `action`, the
    first `times` of them or all when `times` is None, and the others normally."""
    done = 0

    def script(agent: FakeV3Agent, request: V3Request) -> list[Reply] | None:
        nonlocal done
        if request.verdict != verdict or (times is not None and done >= times):
            return None
        done += 1
        return action(agent, request)

    return script


@dataclass
class Setup:
    """What `with_v3_agent` hands to a test's action."""

    agent: FakeV3Agent
    manager: Manager
    clock: ManualClock

    def target(self, user: UsmUser = AUTH_USER, **fields: Any) -> Target:
        return self.agent.target(user, **fields)


async def with_v3_agent(action: Callable[[Setup], Coroutine[Any, Any, Any]],
                        **agent_fields: Any) -> Any:
    """Start a FakeV3Agent and a Manager that share one ManualClock, and run `action`.

    Engine time does not move for either unless the test advances the clock.
    """
    clock = ManualClock()
    async with (FakeV3Agent(clock=clock, **agent_fields) as agent,
                Manager(usm_context=UsmContext(clock=clock)) as manager):
        return await action(Setup(agent, manager, clock))
