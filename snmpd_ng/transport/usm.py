"""SNMPv3 message processing with USM for one target: discovery, time synchronisation, reports.

This is the stateful shell around the sans-IO USM (`snmpd_ng.security.usm`): it reads the clock,
takes salts, keeps the engine's state, counts, logs, and turns reports into the transport's
outcomes. The transport calls it as any `MessageProcessing`:

- `encode_request` sends a discovery probe while the engine ID is unknown (RFC 3414 section 4),
  and otherwise the request, authenticated and encrypted as the user's security level requires.
- `accept_response` checks what comes back. A report that taught us the engine ID or its time
  makes the transport send the request again at once (AttemptOutcome without error); any other
  report fails the request with its own SecurityError.
- `diagnose_timeout` tells a wrong privacy key apart from a dead agent: when authPriv requests
  time out although the agent answers discovery, one authNoPriv request proves the auth key.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from snmpd_ng.protocol.message import SnmpVersion
from snmpd_ng.protocol.pdu import AnyPdu, Pdu, PduType
from snmpd_ng.protocol.v3 import V3Message
from snmpd_ng.protocol.values import NULL, VarBind
from snmpd_ng.ratelimit import WarningLimiter
from snmpd_ng.security.credentials import SecurityLevel, UsmUser
from snmpd_ng.security.engine import EngineState, EngineStatus, EngineTable, TimeUpdate
from snmpd_ng.security.keycache import KeyCache
from snmpd_ng.security.salt import SaltCounter
from snmpd_ng.security.usm import (
    Incoming,
    LocalizedKeys,
    Rejected,
    ReportKind,
    classify_report,
    discovery_request,
    incoming_message,
    outgoing_request,
)
from snmpd_ng.transport.errors import (
    DecryptionFailedError,
    NotInTimeWindowError,
    PrivacyMismatchError,
    ReportError,
    RequestTimeout,
    SecurityError,
    UnknownContextError,
    UnknownEngineIdError,
    UnknownUserNameError,
    UnsupportedSecurityLevelError,
    WrongDigestError,
)
from snmpd_ng.transport.logger import get_logger
from snmpd_ng.transport.processing import AttemptOutcome, ResponseRejected
from snmpd_ng.transport.stats import TargetStats
from snmpd_ng.transport.transport import is_debug_enabled

_log = get_logger("snmpd_ng.transport")

# notInTimeWindow reports in a row, older than what we know, after which the engine's time is
# taken from the agent anyway: an agent that lost its engineBoots otherwise stays unreachable.
STALE_REPORTS_BEFORE_RESET = 2

# Seconds a privacy-mismatch diagnosis is reused before another authNoPriv probe is sent.
DIAGNOSIS_TTL = 60.0

# Discovery probes' msgIDs remembered per target, to tell a report to a probe from a report to a
# request. Probes are rare (a new or replaced engine), so a few suffice; requests are not kept,
# because a daemon with thousands of targets would hold that many entries per target.
_PROBE_MEMORY = 64

# snmpEngineTime.0 (SNMP-FRAMEWORK-MIB): every SNMPv3 agent has it; the probe reads it.
_ENGINE_TIME_OID = (1, 3, 6, 1, 6, 3, 10, 2, 1, 3, 0)


class UsmContext:
    """The state all targets of one manager share: engine states, derived keys and salts."""

    __slots__ = ("clock", "engines", "keys", "salts")

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 salts: SaltCounter | None = None) -> None:
        self.engines = EngineTable()
        self.keys = KeyCache()
        self.salts = salts if salts is not None else SaltCounter()
        self.clock = clock


class UsmProcessing:
    """SNMPv3 with USM for one target (RFC 3412 section 7, RFC 3414 section 3)."""

    timeout_hint = ("check the address and port; agents also drop SNMPv3 requests without a "
                    "report for an unknown context or a wrong privacy key")

    def __init__(self, *, user: UsmUser, host: str, port: int, label: str,
                 context: UsmContext, context_name: str = "",
                 context_engine_id: bytes | None = None,
                 security_engine_id: bytes | None = None,
                 level: SecurityLevel | None = None) -> None:
        self.version = SnmpVersion.V3
        self.user = user
        self.level = level if level is not None else user.security_level
        self.label = label
        self.stats = TargetStats()
        self.warnings = WarningLimiter()
        self._context = context
        self._address = (host, port)
        self._user_name = user.name.encode("utf-8")
        self._context_name = context_name.encode("utf-8")
        self._context_engine_id = context_engine_id
        self._probe_keys: dict[int, None] = {}
        """msgIDs of the discovery probes sent, oldest first (an ordered set)."""
        self._diagnosis: tuple[float, SecurityError | None] | None = None
        """When the last privacy probe ran, and the mismatch it found (None: none found)."""
        self._probe_channels: dict[tuple[SecurityLevel, str], Any] = {}
        self._engine_keys: tuple[bytes, LocalizedKeys | None] | None = None
        """Keys localised to an engine ID, with that engine ID: the last ones looked up."""
        self._conflicts_seen: set[tuple[str, int]] = set()
        """Other addresses already reported as sharing this target's engine ID."""
        self._debug = is_debug_enabled(_log)

        self.engine = self._initial_engine(security_engine_id)
        self._reboots_seen = self.engine.reboots

    def _initial_engine(self, configured: bytes | None) -> EngineState:
        engines = self._context.engines
        if configured:
            engine = engines.get(self._address, configured)
            if engine.status is EngineStatus.UNKNOWN:
                # A configured engine ID skips discovery; the time comes from the first report.
                engine.status = EngineStatus.DISCOVERED
            return engine
        # A placeholder of this target alone until discovery names the engine.
        return engines.latest(self._address) or EngineState()

    def bind(self, channel: Any) -> None:
        """Count into the channel's statistics and share its log rate limits."""
        self.stats = channel.stats
        self.warnings = channel.warnings

    # -----------------------------------------------------------------------------------------
    # Requests

    def encode_request(self, pdu: AnyPdu, key: int) -> bytes:
        engine = self.engine
        if engine.status is EngineStatus.UNKNOWN or engine.status is EngineStatus.DISCOVERING:
            self._remember_probe(key)
            engine.status = EngineStatus.DISCOVERING
            return discovery_request(key, key)

        pdu.request_id = key  # type: ignore[union-attr]  # TrapV1Pdu is never a request
        keys = self._keys()
        salt = 0
        if keys is not None and keys.priv_protocol is not None and self.level is (
                SecurityLevel.AUTH_PRIV):
            salt = self._context.salts.next(keys.priv_protocol)
        context_engine_id = self._context_engine_id or engine.engine_id
        return outgoing_request(self.user, self.level, keys, engine, pdu, key,
                                context_engine_id=context_engine_id,
                                context_name=self._context_name, now=self._context.clock(),
                                salt=salt)

    def _keys(self) -> LocalizedKeys | None:
        engine_id = self.engine.engine_id
        if self.level is SecurityLevel.NO_AUTH_NO_PRIV or not engine_id:
            return None
        # The keys of the current engine are kept here: a KeyCache lookup hashes the user's
        # identity, which costs more than the rest of this method, twice per request.
        cached = self._engine_keys
        if cached is not None and cached[0] == engine_id:
            return cached[1]
        user = self.user if self.level is self.user.security_level else replace(
            self.user, level=self.level)
        keys = self._context.keys.keys(user, engine_id)
        self._engine_keys = (engine_id, keys)
        return keys

    def _remember_probe(self, key: int) -> None:
        probes = self._probe_keys
        probes[key] = None
        if len(probes) > _PROBE_MEMORY:
            del probes[next(iter(probes))]

    def too_many_resends(self) -> SecurityError:
        """Return and count the error of a request that reports sent back too often."""
        error = NotInTimeWindowError(
            f"the agent kept sending reports (last engine state: "
            f"{self.engine.status.value}, boots {self.engine.boots}); check the agent's clock "
            "and that its engineBoots is kept across restarts", target=self.label,
            user=self.user.name)
        self._warn("SNMPv3 request failed", error.kind, user=self.user.name,
                   report="usmStatsNotInTimeWindows", error=str(error))
        return self._count_error(error)

    # -----------------------------------------------------------------------------------------
    # Responses

    def accept_response(self, message: object) -> Pdu:
        if not isinstance(message, V3Message):
            raise ResponseRejected("wrong_version", "response is not an SNMPv3 message")
        probe = message.msg_id in self._probe_keys
        try:
            incoming = incoming_message(message, self.user, self._keys(), self.engine.engine_id)
        except Rejected as exc:
            raise self._drop(exc.reason, exc.detail) from None

        pdu = incoming.scoped.pdu
        if not isinstance(pdu, Pdu):
            raise self._drop("not_response", f"received a {pdu.pdu_type.name} PDU")
        if pdu.pdu_type == PduType.REPORT:
            raise self._on_report(pdu, incoming, probe)
        if probe:
            # An agent that sends a Response to the empty probe still names its engine.
            raise self._discovered(incoming)
        return self._accept(pdu, incoming)

    def _accept(self, pdu: Pdu, incoming: Incoming) -> Pdu:
        if pdu.pdu_type != PduType.RESPONSE:
            raise self._drop("not_response", f"received a {pdu.pdu_type.name} PDU")
        # RFC 3412 7.2 step 12: a response comes at the request's security level.
        if incoming.authenticated != (self.level is not SecurityLevel.NO_AUTH_NO_PRIV):
            raise self._drop("wrong_security_level",
                             "the response's security level differs from the request's")
        if incoming.authenticated:
            self._check_time(incoming)
        engine = self.engine
        if engine.reboots != self._reboots_seen:
            # Every target of the engine counts the restart, whichever one learned it first.
            self.stats.engine_reboots += engine.reboots - self._reboots_seen
            self._reboots_seen = engine.reboots
        return pdu

    def _check_time(self, incoming: Incoming) -> None:
        usm, engine, now = incoming.usm, self.engine, self._context.clock()
        self._note_update(engine.update(usm.engine_boots, usm.engine_time, now))
        if not engine.in_window(usm.engine_boots, usm.engine_time, now):
            raise self._drop("outside_time_window",
                             f"the message's engine time (boots {usm.engine_boots}, time "
                             f"{usm.engine_time}) is outside the 150 s window; a replay?")

    def _note_update(self, update: TimeUpdate) -> None:
        stats = self.stats
        if update is TimeUpdate.FIRST:
            stats.engine_time_syncs += 1
        elif update is TimeUpdate.REBOOTED:
            stats.engine_time_syncs += 1
            _log.info("agent restarted", target=self.label, engine_boots=self.engine.boots)
        if update is not TimeUpdate.UNCHANGED:
            self._check_clones()

    def _check_clones(self) -> None:
        now = self._context.clock()
        # Counted and logged once per other address, not on every poll that moves the clock.
        others = [address for address in
                  self._context.engines.conflicts(self._address, self.engine, now)
                  if address not in self._conflicts_seen]
        if others:
            self._conflicts_seen.update(others)
            self.stats.engine_id_conflicts += 1
            self._warn("engine ID shared by other agents", "engine_id_conflict",
                       engine_id=self.engine.engine_id.hex(),
                       other_addresses=[f"{host}:{port}" for host, port in others],
                       advice="cloned machines keep one engine ID; give each its own "
                              "(net-snmp: engineID or engineIDType in snmpd.conf)")

    def _drop(self, reason: str, detail: str) -> ResponseRejected:
        drops = self.stats.security_drops
        drops[reason] = drops.get(reason, 0) + 1
        return ResponseRejected(reason, detail, counted=True)

    # -----------------------------------------------------------------------------------------
    # Reports

    def _on_report(self, pdu: Pdu, incoming: Incoming, probe: bool) -> Exception:
        kind, name = classify_report(pdu)
        reports = self.stats.reports
        reports[kind.value] = reports.get(kind.value, 0) + 1
        if kind is ReportKind.UNKNOWN_ENGINE_ID:
            return self._on_unknown_engine(incoming, probe)
        if kind is ReportKind.NOT_IN_TIME_WINDOW:
            return self._on_not_in_time_window(incoming)
        return self._fail(kind, name)

    def _on_unknown_engine(self, incoming: Incoming, probe: bool) -> Exception:
        engine_id = incoming.usm.engine_id
        if not 5 <= len(engine_id) <= 32:
            return self._drop("malformed", f"the discovery report carries an engine ID of "
                                           f"{len(engine_id)} octets (5 to 32 expected)")
        if not probe and engine_id == self.engine.engine_id:
            return self._fail(ReportKind.UNKNOWN_ENGINE_ID, "usmStatsUnknownEngineIDs")
        if not probe:
            # The agent at this address has a new engine ID: a replaced or reset device.
            _log.info("agent engine ID changed", target=self.label,
                      old_engine_id=self.engine.engine_id.hex(), engine_id=engine_id.hex())
        return self._discovered(incoming)

    def _discovered(self, incoming: Incoming) -> AttemptOutcome:
        usm = incoming.usm
        engine = self._context.engines.get(self._address, usm.engine_id)
        if engine.status is not EngineStatus.SYNCED:
            engine.discovered(usm.engine_id, usm.engine_boots, usm.engine_time,
                              self._context.clock())
        self.engine = engine
        self._reboots_seen = engine.reboots
        self.stats.engine_discoveries += 1
        if self._debug:
            _log.debug("engine discovered", target=self.label, engine_id=usm.engine_id.hex(),
                       engine_boots=usm.engine_boots, engine_time=usm.engine_time)
        return AttemptOutcome()

    def _on_not_in_time_window(self, incoming: Incoming) -> Exception:
        usm, engine, now = incoming.usm, self.engine, self._context.clock()
        if not incoming.authenticated:
            # RFC 3414 3.2 step 7b: only authenticated values move the notion. Before the first
            # authenticated message, the report's values are a hint worth one more try.
            if engine.status is EngineStatus.SYNCED:
                return self._drop("unauthenticated_report",
                                  "an unauthenticated notInTimeWindow report was ignored")
            if not engine.engine_id:
                # Some agents send this report to the discovery probe instead of
                # unknownEngineID. It names the engine all the same.
                return self._on_unknown_engine(incoming, probe=True)
            engine.discovered(engine.engine_id, usm.engine_boots, usm.engine_time, now)
            return AttemptOutcome()

        update = engine.update(usm.engine_boots, usm.engine_time, now)
        if update is not TimeUpdate.UNCHANGED:
            self._note_update(update)
            return AttemptOutcome()
        if engine.in_window(usm.engine_boots, usm.engine_time, now):
            # Another request in flight already brought the notion up to date.
            return AttemptOutcome()
        engine.stale_reports += 1
        if engine.stale_reports < STALE_REPORTS_BEFORE_RESET:
            return AttemptOutcome()
        self._warn("agent engine time went back", "time_reset",
                   engine_boots=usm.engine_boots, known_engine_boots=engine.boots,
                   advice="the agent probably does not keep engineBoots across restarts; "
                          "its clock is taken as it is now")
        engine.forget_time()
        self._note_update(engine.update(usm.engine_boots, usm.engine_time, now))
        # The agent's clock went back: it restarted, without keeping engineBoots.
        engine.reboots += 1
        return AttemptOutcome()

    def _fail(self, kind: ReportKind, name: str) -> AttemptOutcome:
        error = self._error(kind, name)
        errors = self.stats.security_errors
        errors[error.kind] = errors.get(error.kind, 0) + 1
        self._warn("SNMPv3 request failed", error.kind, user=self.user.name, report=name,
                   error=str(error))
        return AttemptOutcome(error=error)

    def _error(self, kind: ReportKind, name: str) -> SecurityError:
        user, level = self.user, self.level
        target, who = self.label, user.name
        auth = user.auth_protocol.value if user.auth_protocol else "none"
        priv = user.priv_protocol.value if user.priv_protocol else "none"
        if kind is ReportKind.UNKNOWN_USER_NAME:
            return UnknownUserNameError(
                f"the agent has no USM user {who!r} ({name}); check the user name and that "
                "the agent defines it", target=target, user=who)
        if kind is ReportKind.WRONG_DIGEST:
            return WrongDigestError(
                f"the agent rejected the authentication of user {who!r} ({name}); check the "
                f"authentication passphrase or key and the protocol ({auth})",
                target=target, user=who)
        if kind is ReportKind.DECRYPTION_ERROR:
            return DecryptionFailedError(
                f"the agent could not decrypt the request of user {who!r} ({name}); check the "
                f"privacy protocol ({priv}) and passphrase", target=target, user=who)
        if kind is ReportKind.UNSUPPORTED_SECURITY_LEVEL:
            return UnsupportedSecurityLevelError(
                f"the agent does not allow user {who!r} at {level.value} ({name}); check the "
                "security level and the keys the agent has for this user",
                target=target, user=who)
        if kind is ReportKind.UNKNOWN_ENGINE_ID:
            return UnknownEngineIdError(
                f"the agent does not accept engine ID {self.engine.engine_id.hex()} ({name}); "
                "remove a configured engine ID or set the agent's own", target=target, user=who)
        if kind is ReportKind.UNKNOWN_CONTEXT:
            return UnknownContextError(
                f"the agent has no context {self._context_name.decode('utf-8', 'replace')!r} "
                f"({name}); check the context name", target=target, user=who)
        return ReportError(f"the agent sent a report of {name}", target=target,
                           user=who)

    # -----------------------------------------------------------------------------------------
    # Timeouts

    def diagnose_timeout(self, transport: Any, channel: Any, timeout: Exception,
                         deadline: float | None) -> Awaitable[Exception] | None:
        """Look for what agents drop silently behind a timeout: a privacy mismatch at
        authPriv, or an unknown context (see the module docstring)."""
        if not isinstance(timeout, RequestTimeout):
            return None
        if self.level is not SecurityLevel.AUTH_PRIV and not self._context_name:
            return None
        if self.engine.status not in (EngineStatus.DISCOVERED, EngineStatus.SYNCED):
            return None
        return self._diagnose(transport, channel, timeout, deadline)

    async def _diagnose(self, transport: Any, channel: Any, silence: RequestTimeout,
                        deadline: float | None) -> Exception:
        now = self._context.clock()
        if self._diagnosis is not None and now - self._diagnosis[0] < DIAGNOSIS_TTL:
            # One diagnosis a minute at most: a dead agent must not cost two timeouts per poll.
            found = self._diagnosis[1]
            return self._count_error(found) if found is not None else silence
        self._diagnosis = (now, None)
        try:
            error = await self._find_silent_cause(transport, channel, deadline)
        except SecurityError as exc:
            # The auth key itself is wrong, or the agent refuses the probe for another reason.
            return exc
        except Exception:  # the agent is gone: keep the timeout
            return silence
        if error is None:
            return silence
        self._diagnosis = (now, error)
        # The event is "privacy mismatch" or "unknown context".
        _log.warning(error.kind.replace("_", " "), target=self.label, user=self.user.name,
                     error=str(error))
        return self._count_error(error)

    async def _find_silent_cause(self, transport: Any, channel: Any,
                                 deadline: float | None) -> SecurityError | None:
        """Probe at a lower level or in the default context; return the cause the responses show.

        Raises RequestTimeout or BudgetExceeded when even the first probe gets no response.
        """
        probe_level = (SecurityLevel.AUTH_NO_PRIV if self.user.authenticates
                       else SecurityLevel.NO_AUTH_NO_PRIV)
        context = self._context_name.decode("utf-8", "replace")
        if context:
            # Agents drop a request for a context they do not serve (net-snmp 5.9.3 does).
            await self._probe(transport, channel, probe_level, "", deadline)
            if self.level is not SecurityLevel.AUTH_PRIV:
                return self._unknown_context(context)
            try:
                await self._probe(transport, channel, probe_level, context, deadline)
            except SecurityError:
                raise
            except Exception:
                return self._unknown_context(context)
            return self._privacy_mismatch()
        await self._probe(transport, channel, probe_level, "", deadline)
        return self._privacy_mismatch()

    def _unknown_context(self, context: str) -> SecurityError:
        return UnknownContextError(
            f"requests in context {context!r} time out, but the agent responds to user "
            f"{self.user.name!r} in the default context: it probably serves no context of that "
            "name; check the context name", target=self.label, user=self.user.name)

    def _privacy_mismatch(self) -> SecurityError:
        priv = self.user.priv_protocol.value if self.user.priv_protocol else "none"
        return PrivacyMismatchError(
            f"authPriv requests of user {self.user.name!r} time out, but an authNoPriv request "
            "with the same authentication key is answered: the privacy passphrase or key, or "
            f"the privacy protocol ({priv}), probably differs from the agent's; for AES-192 "
            "and AES-256 also try the -C variants, which Cisco devices use, or the reverse",
            target=self.label, user=self.user.name)

    async def _probe(self, transport: Any, channel: Any, level: SecurityLevel, context: str,
                     deadline: float | None) -> None:
        """Send one GET of snmpEngineTime.0 at `level` in `context`, and return on its response."""
        key = (level, context)
        probe = self._probe_channels.get(key)
        if probe is None:
            probe = self._probe_channels[key] = self._make_probe_channel(channel, level, context)
        await transport.request(probe, Pdu(PduType.GET, 0, [VarBind(_ENGINE_TIME_OID, NULL)]),
                                deadline)

    def _count_error(self, error: SecurityError) -> SecurityError:
        errors = self.stats.security_errors
        errors[error.kind] = errors.get(error.kind, 0) + 1
        return error

    def _make_probe_channel(self, channel: Any, level: SecurityLevel, context: str) -> Any:
        probe = UsmProcessing(user=self.user, host=self._address[0], port=self._address[1],
                              label=self.label, context=self._context, context_name=context,
                              context_engine_id=self._context_engine_id, level=level)
        probe.engine = self.engine
        settings = replace(channel.settings, retries=min(channel.settings.retries, 1),
                           max_in_flight=1)
        probe_channel = type(channel)(settings, probe)
        # The probe's requests and timeouts count as the target's own.
        probe_channel.stats = probe.stats = self.stats
        return probe_channel

    # -----------------------------------------------------------------------------------------
    # Logging

    def _warn(self, event: str, kind: str, **fields: object) -> None:
        suppressed = self.warnings.admit(kind, _loop_time())
        if suppressed is not None:
            _log.warning(event, target=self.label, suppressed=suppressed, **fields)


def _loop_time() -> float:
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()

