"""The public async SNMP manager: get, get_next, get_bulk, set and walk for any number of targets.

One `Manager` shares its sockets, request-ids and in-flight limit among all targets, so a
daemon creates one and passes `Target` objects to each call. Every operation takes `deadline`,
an absolute `loop.time()` by which the whole operation (retries and all walk requests) must end.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Coroutine, Iterable, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar

from snmpd_ng.manager.errors import ErrorStatusError, InvalidRequestError, SnmpError, WalkError
from snmpd_ng.manager.markers import NO_SUCH_NAME
from snmpd_ng.manager.session import ProcessingFactory, TargetSession, standard_processing
from snmpd_ng.manager.target import Target
from snmpd_ng.manager.walk import WalkResult, WalkState
from snmpd_ng.protocol.errors import EncodeError
from snmpd_ng.protocol.message import SnmpVersion
from snmpd_ng.protocol.oid import Oid, format_oid, parse_oid, validate_for_encoding
from snmpd_ng.protocol.pdu import AnyPdu, BulkPdu, ErrorStatus, Pdu, PduType
from snmpd_ng.protocol.values import NULL, VarBind
from snmpd_ng.transport.channel import DNS_REFRESH_INTERVAL
from snmpd_ng.transport.endpoint import DEFAULT_RECEIVE_BUFFER_SIZE, DEFAULT_SEND_BUFFER_SIZE
from snmpd_ng.transport.logger import get_logger
from snmpd_ng.transport.stats import GlobalStats, TargetStats
from snmpd_ng.transport.transport import Transport, is_debug_enabled
from snmpd_ng.transport.usm import UsmContext

_log = get_logger("snmpd_ng.manager")

OidLike = str | Sequence[int]
WalkMethod = Literal["auto", "getnext", "getbulk"]
_T = TypeVar("_T")


class Manager:
    """An SNMP manager for many targets at once. Use it as an async context manager.

    `max_in_flight` limits the requests waiting for a response at once over all targets (each
    target adds its own `max_in_flight`). `dns_refresh_interval` is in seconds.
    `receive_buffer_size` and `send_buffer_size` are the SO_RCVBUF and SO_SNDBUF sizes in bytes
    asked for on each UDP socket (None keeps the kernel's default); Linux caps them at
    net.core.rmem_max and net.core.wmem_max, and the sizes granted are logged when a socket
    opens. `processing_factory` builds the message processing of a target; the default
    handles SNMPv1, SNMPv2c, and SNMPv3 with USM, whose targets share `usm_context`.
    """

    def __init__(self, max_in_flight: int = 1000, *,
                 dns_refresh_interval: float = DNS_REFRESH_INTERVAL,
                 processing_factory: ProcessingFactory | None = None,
                 usm_context: UsmContext | None = None,
                 rng: random.Random | None = None,
                 receive_buffer_size: int | None = DEFAULT_RECEIVE_BUFFER_SIZE,
                 send_buffer_size: int | None = DEFAULT_SEND_BUFFER_SIZE) -> None:
        self._max_in_flight = max_in_flight
        self._dns_refresh_interval = dns_refresh_interval
        self.usm_context = usm_context if usm_context is not None else UsmContext()
        """Engine states, localised keys and salt counters of the SNMPv3 targets."""
        self._processing_factory = (processing_factory if processing_factory is not None
                                    else standard_processing(self.usm_context))
        self._rng = rng
        self._buffer_sizes = (receive_buffer_size, send_buffer_size)
        self._transport: Transport | None = None
        self._sessions: dict[Target, TargetSession] = {}
        self._by_identity: dict[int, TargetSession] = {}
        self._debug = False

    async def __aenter__(self) -> Manager:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, traceback: TracebackType | None) -> None:
        await self.close()

    async def open(self) -> None:
        """Prepare the transport; sockets open on the first request of each address family."""
        if self._transport is None:
            receive, send = self._buffer_sizes
            transport = Transport(max_in_flight=self._max_in_flight, rng=self._rng,
                                  receive_buffer_size=receive, send_buffer_size=send)
            for session in self._sessions.values():
                transport.register(session.channel)
            self._transport = transport
            self._debug = is_debug_enabled(_log)
            _log.info("manager started", max_in_flight=self._max_in_flight,
                      receive_buffer_bytes=receive, send_buffer_bytes=send)

    async def close(self) -> None:
        """Close the sockets. Requests still waiting end with TransportError."""
        if self._transport is not None:
            transport, self._transport = self._transport, None
            await transport.close()
            _log.info("manager stopped", targets=len(self._sessions))

    # -----------------------------------------------------------------------------------------
    # Operations

    async def get(self, target: Target, oids: Sequence[OidLike], *,
                  deadline: float | None = None) -> list[VarBind]:
        """GET the OIDs; return one varbind per OID, in request order.

        SNMPv2c exceptions (noSuchObject, noSuchInstance) come back as values. In SNMPv1, an OID
        the agent rejects with noSuchName comes back with the value NO_SUCH_NAME.
        """
        session = self._session(target)
        return await self._read(session, PduType.GET, _to_oids(oids), deadline)

    async def get_next(self, target: Target, oids: Sequence[OidLike], *,
                       deadline: float | None = None) -> list[VarBind]:
        """GETNEXT the OIDs; return the successor of each, in request order.

        In SNMPv1, an OID without a successor (noSuchName) comes back with NO_SUCH_NAME.
        """
        session = self._session(target)
        return await self._read(session, PduType.GET_NEXT, _to_oids(oids), deadline)

    async def get_bulk(self, target: Target, oids: Sequence[OidLike], non_repeaters: int = 0,
                       max_repetitions: int | None = None, *,
                       deadline: float | None = None) -> list[VarBind]:
        """GETBULK (SNMPv2c); `max_repetitions` defaults to the target's.

        A tooBig response halves max-repetitions (at least 1) and retries, and the target keeps
        the lower value as a cap for later requests.
        """
        session = self._session(target)
        names = _to_oids(oids)
        _check_bulk(session, non_repeaters, max_repetitions)
        return await self._bulk(session, names, non_repeaters,
                                session.repetitions(max_repetitions), deadline)

    async def set(self, target: Target, varbinds: Sequence[VarBind], *,
                  deadline: float | None = None) -> list[VarBind]:
        """SET the varbinds in one request (never split, since a SET is atomic)."""
        session = self._session(target)
        request = [VarBind(_to_oid(oid), value) for oid, value in varbinds]
        response = await self._send(session, Pdu(PduType.SET, 0, request), deadline)
        if response.error_status:
            raise _status_error(session, response, request, "SET")
        return response.varbinds

    async def walk(self, target: Target, root: OidLike | list[OidLike], *,
                   method: WalkMethod = "auto", max_repetitions: int | None = None,
                   get_root_if_empty: bool = True,
                   deadline: float | None = None) -> AsyncIterator[VarBind]:
        """Yield the varbinds of the subtree under `root`, in the order the agent returns them.

        `method` "auto" uses GETBULK for SNMPv2c and GETNEXT for SNMPv1. A list of roots walks
        those columns side by side. When the subtree of a single root is empty and
        `get_root_if_empty` is true, the root itself is fetched with GET and yielded whatever
        its value (except SNMPv1's noSuchName), as net-snmp's snmpwalk does without -CI.
        Raises WalkError on an agent that breaks the ordering rules (with the rows so far).
        """
        async for batch in self._walk_batches(target, root, method, max_repetitions,
                                              get_root_if_empty, deadline):
            for varbind in batch:
                yield varbind

    async def walk_all(self, target: Target, root: OidLike | list[OidLike], *,
                       method: WalkMethod = "auto", max_repetitions: int | None = None,
                       get_root_if_empty: bool = True,
                       deadline: float | None = None) -> WalkResult:
        """Walk like `walk()` and collect the rows; an error ends the walk and is returned."""
        result = WalkResult()
        rows = result.varbinds
        try:
            async for batch in self._walk_batches(target, root, method, max_repetitions,
                                                  get_root_if_empty, deadline):
                rows.extend(batch)
        except SnmpError as exc:
            result.complete = False
            result.error = exc
            if isinstance(exc, WalkError):
                # Includes the rows of the response that broke the rules, before the bad OID.
                result.varbinds = rows = exc.varbinds
            self._log_walk_stopped(target, exc, len(rows))
        return result

    def _log_walk_stopped(self, target: Target, exc: SnmpError, rows: int) -> None:
        # A dead or misconfigured target stops every walk of every poll: one line per target
        # and error type a minute, with the count held back.
        session = self._find_session(target)
        if session is not None:
            now = asyncio.get_running_loop().time()
            suppressed = session.channel.warnings.admit(f"walk:{type(exc).__name__}", now)
            if suppressed is None:
                return
            _log.info("walk stopped", target=target.label, error=str(exc), rows=rows,
                      suppressed=suppressed)
            return
        _log.info("walk stopped", target=target.label, error=str(exc), rows=rows)

    # -----------------------------------------------------------------------------------------
    # Statistics

    def stats(self, target: Target) -> TargetStats:
        """Return a snapshot of the target's counters (all zero for a target never used)."""
        session = self._find_session(target)
        return session.channel.stats.snapshot() if session is not None else TargetStats()

    def global_stats(self) -> GlobalStats:
        """Return a snapshot of the counters of all targets, plus datagrams no target claims."""
        if self._transport is None:
            return GlobalStats(targets=len(self._sessions))
        return self._transport.global_stats()

    def forget(self, target: Target) -> None:
        """Drop the state of a target that will not be polled again (its counters too)."""
        session = self._sessions.pop(target, None)
        if session is not None:
            self._by_identity.pop(id(session.target), None)
            if self._transport is not None:
                self._transport.unregister(session.channel)
            address = (target.host, target.port)
            if not any((other.host, other.port) == address for other in self._sessions):
                self.usm_context.engines.discard(address)

    # -----------------------------------------------------------------------------------------
    # Internals: sessions and requests

    def _find_session(self, target: Target) -> TargetSession | None:
        session = self._by_identity.get(id(target))
        if session is not None and session.target is target:
            return session
        return self._sessions.get(target)

    def _session(self, target: Target) -> TargetSession:
        session = self._by_identity.get(id(target))
        if session is not None and session.target is target:
            return session
        session = self._sessions.get(target)
        if session is None:
            session = TargetSession(target, self._processing_factory(target),
                                    dns_refresh_interval=self._dns_refresh_interval)
            self._sessions[target] = session
            if self._transport is not None:
                self._transport.register(session.channel)
        self._by_identity[id(target)] = session
        return session

    def _send(self, session: TargetSession, pdu: AnyPdu,
              deadline: float | None) -> Coroutine[Any, Any, Pdu]:
        """Return the transport's coroutine that sends `pdu` and counts the response.

        A plain function that returns the coroutine, so each request has one frame less.
        """
        transport = self._transport
        if transport is None:
            raise InvalidRequestError("the manager is not open; use 'async with Manager()'")
        return transport.request(session.channel, pdu, deadline)

    def _read(self, session: TargetSession, pdu_type: PduType, names: list[Oid],
              deadline: float | None) -> Coroutine[Any, Any, list[VarBind]]:
        """Return the coroutine that reads `names`, in one request when they fit in one.

        A plain function, so a GET that fits in one request has no frame for this step.
        """
        if len(names) <= session.max_varbinds:
            return self._read_chunk(session, pdu_type, names, deadline)
        return self._read_in_chunks(session, pdu_type, names, deadline)

    async def _read_in_chunks(self, session: TargetSession, pdu_type: PduType, names: list[Oid],
                              deadline: float | None) -> list[VarBind]:
        limit = session.max_varbinds
        chunks = [names[start:start + limit] for start in range(0, len(names), limit)]
        parts = await _gather(self._read_chunk(session, pdu_type, chunk, deadline)
                              for chunk in chunks)
        return [varbind for part in parts for varbind in part]

    async def _read_chunk(self, session: TargetSession, pdu_type: PduType, names: list[Oid],
                          deadline: float | None) -> list[VarBind]:
        request = _null_varbinds(names)
        response = await self._send(session, Pdu(pdu_type, 0, request), deadline)
        status = response.error_status
        if status == ErrorStatus.NO_ERROR:
            return response.varbinds
        if status == ErrorStatus.TOO_BIG and len(names) > 1:
            return await self._split_after_too_big(session, pdu_type, names, deadline)
        if (status == ErrorStatus.NO_SUCH_NAME and session.version == SnmpVersion.V1
                and 1 <= response.error_index <= len(names)):
            return await self._reissue_without(session, pdu_type, names,
                                               response.error_index - 1, deadline)
        raise _status_error(session, response, request, pdu_type.name.replace("_", ""))

    async def _split_after_too_big(self, session: TargetSession, pdu_type: PduType,
                                   names: list[Oid], deadline: float | None) -> list[VarBind]:
        half = len(names) // 2
        _lower_max_varbinds(session, half)
        # Each part is at most half the size, so the splitting ends at single varbinds.
        first = await self._read(session, pdu_type, names[:half], deadline)
        second = await self._read(session, pdu_type, names[half:], deadline)
        return first + second

    async def _reissue_without(self, session: TargetSession, pdu_type: PduType,
                               names: list[Oid], failed: int,
                               deadline: float | None) -> list[VarBind]:
        # RFC 1157 4.1.2: the whole SNMPv1 request failed, so the others are sent again. Each
        # round drops one OID, so this ends after at most len(names) requests.
        _log.debug("request sent again without a noSuchName varbind", target=session.label,
                   failed_index=failed + 1)
        remaining = names[:failed] + names[failed + 1:]
        rest = await self._read_chunk(session, pdu_type, remaining, deadline) if remaining else []
        return [*rest[:failed], VarBind(names[failed], NO_SUCH_NAME), *rest[failed:]]

    async def _bulk(self, session: TargetSession, names: list[Oid], non_repeaters: int,
                    repetitions: int, deadline: float | None) -> list[VarBind]:
        request = _null_varbinds(names)
        while True:
            pdu = BulkPdu(0, non_repeaters, repetitions, request)
            response = await self._send(session, pdu, deadline)
            status = response.error_status
            if status == ErrorStatus.NO_ERROR:
                return response.varbinds
            if status != ErrorStatus.TOO_BIG or repetitions <= 1:
                raise _status_error(session, response, request, "GETBULK")
            # RFC 3416 4.2.3 lets the agent trim a GETBULK response itself, but some return
            # tooBig instead; halving ends at 1 after about 31 rounds at most.
            repetitions //= 2
            session.lower_bulk_cap(repetitions)
            _log.info("max-repetitions lowered after tooBig", target=session.label,
                      max_repetitions=repetitions)

    # -----------------------------------------------------------------------------------------
    # Internals: walks

    async def _walk_batches(self, target: Target, root: OidLike | list[OidLike],
                            method: WalkMethod, max_repetitions: int | None,
                            get_root_if_empty: bool,
                            deadline: float | None) -> AsyncIterator[list[VarBind]]:
        session = self._session(target)
        roots = [_to_oid(item) for item in root] if isinstance(root, list) else [_to_oid(root)]
        use_bulk = _uses_bulk(session, method)
        if use_bulk:
            _check_bulk(session, 0, max_repetitions)
        state = WalkState(roots, label=session.label, tolerance=target.non_increasing_tolerance,
                          max_requests=target.max_walk_requests,
                          max_varbinds=target.max_walk_varbinds)
        # The caller's roots raise EncodeError here, so that one raised later is the agent's.
        for name in state.resume:
            validate_for_encoding(name)
        if self._debug:
            _log.debug("walk started", target=session.label, roots=len(roots), bulk=use_bulk)

        while state.active:
            # Columns beyond the varbinds a request may carry go in further requests. The size
            # is read each round, so a size lowered after a tooBig applies from then on.
            for columns in state.parts(session.max_varbinds):
                varbinds = await self._walk_step(session, state, columns, use_bulk,
                                                 max_repetitions, deadline)
                if varbinds is None:
                    continue
                rows = state.absorb(varbinds, columns)
                if rows:
                    yield rows

        if state.rows == 0 and get_root_if_empty and len(roots) == 1 and len(roots[0]) > 1:
            found = await self._read(session, PduType.GET, roots, deadline)
            # net-snmp 5.9's snmpwalk prints the GET's varbind, except an SNMPv1 noSuchName.
            if found[0].value is not NO_SUCH_NAME:
                yield found

    async def _walk_step(self, session: TargetSession, state: WalkState, columns: list[int],
                         use_bulk: bool, max_repetitions: int | None,
                         deadline: float | None) -> list[VarBind] | None:
        """Send the request of one walk step for `columns`; None when noSuchName ended one.

        A name that cannot be encoded came from the agent, since the roots were checked
        before the walk, so it stops the walk with WalkError instead of EncodeError.
        """
        names = state.next_request(columns)
        try:
            if use_bulk:
                return await self._walk_bulk(session, state, columns, names, max_repetitions,
                                             deadline)
            return await self._walk_next(session, state, columns, names, deadline)
        except EncodeError as exc:
            raise _unsendable_name_error(state, names, exc) from exc

    async def _walk_bulk(self, session: TargetSession, state: WalkState, columns: list[int],
                         names: list[Oid], max_repetitions: int | None,
                         deadline: float | None) -> list[VarBind] | None:
        """Send one GETBULK of a walk, falling back to one GETNEXT after a genErr."""
        try:
            return await self._bulk(session, names, 0, session.repetitions(max_repetitions),
                                    deadline)
        except ErrorStatusError as exc:
            if exc.status != ErrorStatus.GEN_ERR:
                raise
            # net-snmp 5.9.3's agent returns genErr to a GETBULK over several columns when one
            # of them reaches the end of the view; GETNEXT gets endOfMibView there instead.
            _log.info("GETBULK failed with genErr; sending GETNEXT for this step",
                      target=session.label, request_id=exc.request_id)
            return await self._walk_next(session, state, columns, names, deadline)

    async def _walk_next(self, session: TargetSession, state: WalkState, columns: list[int],
                         names: list[Oid], deadline: float | None) -> list[VarBind] | None:
        """Send one GETNEXT of a walk; return None when noSuchName closed a column instead.

        `columns` are the walk's column numbers of `names`, in the same order.
        """
        request = _null_varbinds(names)
        response = await self._send(session, Pdu(PduType.GET_NEXT, 0, request), deadline)
        status = response.error_status
        if status == ErrorStatus.NO_ERROR:
            return response.varbinds
        if status == ErrorStatus.NO_SUCH_NAME and 1 <= response.error_index <= len(names):
            # RFC 1157 4.1.3: no successor. That column is done; the others are asked again.
            state.end_column(columns[response.error_index - 1])
            return None
        if status == ErrorStatus.TOO_BIG and len(names) > 1:
            return await self._walk_next_in_halves(session, state, columns, names, deadline)
        raise _status_error(session, response, request, "GETNEXT")

    async def _walk_next_in_halves(self, session: TargetSession, state: WalkState,
                                   columns: list[int], names: list[Oid],
                                   deadline: float | None) -> list[VarBind] | None:
        """Send the GETNEXT of a walk step as two requests after a tooBig, as reads do.

        The responses of the halves, put together, are one successor per column in column
        order, as one response would have been. Each half is at most half the size, so the
        splitting ends at single columns.
        """
        half = len(names) // 2
        _lower_max_varbinds(session, half)
        first = await self._walk_next(session, state, columns[:half], names[:half], deadline)
        if first is None:
            return None
        second = await self._walk_next(session, state, columns[half:], names[half:], deadline)
        if second is None:
            return None
        return first + second


# ---------------------------------------------------------------------------------------------
# Helpers


# Parsed OID texts. Pollers send the same OIDs every interval, and parsing costs about 4 us per
# OID, a tenth of a GET. Cleared when full, so memory stays bounded.
_PARSED_OIDS: dict[str, Oid] = {}
_PARSED_OIDS_MAX = 100_000


def _to_oid(value: OidLike) -> Oid:
    if type(value) is tuple and value:
        return value
    if isinstance(value, str):
        parsed = _PARSED_OIDS.get(value)
        if parsed is not None:
            return parsed
        try:
            parsed = parse_oid(value)
        except ValueError as exc:
            raise InvalidRequestError(str(exc)) from None
        if len(_PARSED_OIDS) >= _PARSED_OIDS_MAX:
            _PARSED_OIDS.clear()
        _PARSED_OIDS[value] = parsed
        return parsed
    try:
        oid = tuple(int(arc) for arc in value)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"invalid OID {value!r}: {exc}") from None
    if not oid:
        raise InvalidRequestError("invalid OID (): it is empty")
    return oid


def _to_oids(values: Sequence[OidLike]) -> list[Oid]:
    if isinstance(values, str):
        raise InvalidRequestError(f"expected a list of OIDs, got the string {values!r}")
    return [_to_oid(value) for value in values]


# VarBind is a NamedTuple, whose constructor is a Python function; tuple.__new__ builds the
# same object without that call.
_new_tuple = tuple.__new__


def _null_varbinds(names: list[Oid]) -> list[VarBind]:
    """Return the request varbinds of a read: each name with the value NULL."""
    return [_new_tuple(VarBind, (name, NULL)) for name in names]


def _uses_bulk(session: TargetSession, method: WalkMethod) -> bool:
    if method == "getnext":
        return False
    if method == "getbulk":
        return True
    if method == "auto":
        return session.version != SnmpVersion.V1
    raise InvalidRequestError(f"invalid walk method {method!r}; use auto, getnext or getbulk")


def _check_bulk(session: TargetSession, non_repeaters: int, max_repetitions: int | None) -> None:
    if session.version == SnmpVersion.V1:
        raise InvalidRequestError(
            f"{session.label}: GETBULK does not exist in SNMPv1; use GETNEXT or SNMPv2c")
    if not 0 <= non_repeaters <= 2**31 - 1:
        raise InvalidRequestError(f"non_repeaters {non_repeaters} must be in 0..2147483647")
    if max_repetitions is not None and not 0 <= max_repetitions <= 2**31 - 1:
        raise InvalidRequestError(f"max_repetitions {max_repetitions} must be in 0..2147483647")


def _lower_max_varbinds(session: TargetSession, size: int) -> None:
    """Remember that requests of more than `size` varbinds got tooBig from the target."""
    if size < session.max_varbinds:
        session.max_varbinds = size
        _log.info("varbinds per request lowered after tooBig", target=session.label,
                  max_varbinds=size)


def _unsendable_name_error(state: WalkState, names: list[Oid], exc: EncodeError) -> WalkError:
    """Build the WalkError for a row name from the agent that no request can carry."""
    bad = next((name for name in names if not _is_encodable(name)), None)
    bad_text = format_oid(bad) if bad is not None else "a returned name"
    _log.warning("walk stopped at a name that cannot be sent", target=state.label,
                 returned=bad_text, error=str(exc))
    return state.error(
        f"walk stopped: the agent returned the name {bad_text}, which no request can carry "
        f"({exc}); the agent is at fault, so report it to its vendor", returned=bad)


def _is_encodable(oid: Oid) -> bool:
    try:
        validate_for_encoding(oid)
    except EncodeError:
        return False
    return True


def _status_error(session: TargetSession, response: Pdu, request: list[VarBind],
                  pdu_type: str) -> ErrorStatusError:
    index = response.error_index
    oid = request[index - 1].oid if 1 <= index <= len(request) else None
    error = ErrorStatusError(target=session.label, status=response.error_status, index=index,
                             oid=oid, request_id=response.request_id, pdu_type=pdu_type)
    _log.info("agent returned an error-status", target=session.label,
              request_id=response.request_id, error=str(error))
    return error


async def _gather(awaitables: Iterable[Awaitable[_T]]) -> list[_T]:
    """Run the awaitables at once; wait for all, then raise the first error if any failed."""
    results = await asyncio.gather(*awaitables, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]  # no exception left in the list
