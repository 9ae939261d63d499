"""The transport: sends PDUs to targets over shared UDP sockets and matches the responses.

Theory of operation. Every request-id (or SNMPv3 msgID) in use maps to an `Exchange`, the
state of one logical request. Each attempt (the first send and every retransmission) takes a
new id and adds it to the same exchange, and all of them stay valid until the exchange ends,
so the first accepted response to any attempt completes the request (RFC 3416 section 4.1 allows
either id to be answered). The waiting coroutine awaits a plain future, and a `loop.call_at`
timer resolves that future with None when the attempt times out: no task and no
`asyncio.wait_for` per request. The receive loop of each socket decodes a datagram, finds its
exchange by key, checks the source address and the community, and resolves the future. Every
datagram that fails a check is dropped and counted, and never completes another request.
"""

from __future__ import annotations

import asyncio
import logging
import random

import structlog

from snmpd_ng.protocol.errors import DecodeError
from snmpd_ng.protocol.oid import format_oid
from snmpd_ng.protocol.pdu import AnyPdu, Pdu
from snmpd_ng.transport.channel import Channel
from snmpd_ng.transport.endpoint import Endpoint, SocketAddress, format_address
from snmpd_ng.transport.errors import BudgetExceeded, RequestTimeout, TransportError
from snmpd_ng.transport.processing import ResponseRejected, decode_inbound
from snmpd_ng.transport.ratelimit import WarningLimiter
from snmpd_ng.transport.request_id import RequestIdAllocator
from snmpd_ng.transport.stats import GlobalStats

_log = structlog.get_logger("snmpd_ng.transport")

# Fields of GlobalStats that are the sum of the same field over all targets.
_SUMMED_FIELDS = ("requests", "responses", "timeouts", "retries", "malformed_responses",
                  "malformed_values", "unexpected_source", "unknown_request_id",
                  "wrong_community", "too_big")


class Exchange:
    """One logical request: the ids of its attempts, the future of the current attempt, and
    what was dropped on its way."""

    __slots__ = ("address", "answered_key", "channel", "future", "keys", "rejections", "sent_at")

    def __init__(self, channel: Channel, address: tuple[str, int] | None) -> None:
        self.channel = channel
        self.address = address
        """Where the response must come from; None accepts any source."""
        self.future: asyncio.Future[Pdu | None] | None = None
        self.keys: list[int] = []
        self.sent_at: list[float] = []
        self.answered_key = 0
        self.rejections: dict[str, list[str]] = {}

    def reject(self, kind: str, detail: str) -> None:
        """Remember a dropped response, for the timeout's diagnostic."""
        self.rejections.setdefault(kind, []).append(detail)

    def diagnostic(self) -> str:
        """Describe the dropped responses, one clause per kind."""
        clauses = []
        for kind, details in self.rejections.items():
            clauses.append(f"{len(details)} response(s) dropped as {kind.replace('_', ' ')} "
                           f"(first: {details[0]})")
        return "; ".join(clauses)


def _expire(future: asyncio.Future[Pdu | None]) -> None:
    if not future.done():
        future.set_result(None)


def _is_debug_enabled() -> bool:
    checker = getattr(_log, "is_enabled_for", None)
    return bool(checker(logging.DEBUG)) if checker is not None else True


class Transport:
    """Shared sockets, request-id matching, timeouts, retries and in-flight limits.

    `max_in_flight` limits the requests waiting for a response at once across all targets;
    each channel adds its own limit. DEBUG logging per PDU is decided when the transport is
    created, so configure structlog before.
    """

    def __init__(self, *, max_in_flight: int = 1000, rng: random.Random | None = None) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self._semaphore = asyncio.Semaphore(max_in_flight)
        self._ids = RequestIdAllocator(rng)
        self._pending: dict[int, Exchange] = {}
        self._endpoints: dict[tuple[int, str | None], Endpoint] = {}
        self._endpoint_lock = asyncio.Lock()
        self._channels: dict[int, Channel] = {}
        self._by_address: dict[tuple[str, int], Channel] = {}
        self._stats = GlobalStats()
        self._warnings = WarningLimiter()
        self._debug = _is_debug_enabled()
        self._closed = False

    # -----------------------------------------------------------------------------------------
    # Requests

    def register(self, channel: Channel) -> None:
        """Count `channel` in the global statistics."""
        self._channels[id(channel)] = channel

    def unregister(self, channel: Channel) -> None:
        """Stop counting `channel` (a target removed from the configuration)."""
        self._channels.pop(id(channel), None)

    async def request(self, channel: Channel, pdu: AnyPdu, deadline: float | None = None) -> Pdu:
        """Send `pdu` to the channel's target, retrying as configured, and return the response.

        `deadline` is an absolute `loop.time()`. Raises RequestTimeout, BudgetExceeded,
        ResolutionError or TransportError; EncodeError when the PDU cannot be encoded.
        """
        if self._closed:
            raise TransportError("the manager is closed", target=channel.label)
        loop = asyncio.get_running_loop()
        if deadline is not None and loop.time() >= deadline:
            raise BudgetExceeded(target=channel.label, overrun=loop.time() - deadline)

        await _acquire(channel.semaphore, channel.label, deadline)
        try:
            await _acquire(self._semaphore, channel.label, deadline)
            try:
                return await self._exchange(loop, channel, pdu, deadline)
            finally:
                self._semaphore.release()
        finally:
            channel.semaphore.release()

    async def _exchange(self, loop: asyncio.AbstractEventLoop, channel: Channel, pdu: AnyPdu,
                        deadline: float | None) -> Pdu:
        family, address = await channel.resolve(loop)
        endpoint = await self._endpoint(family, channel)
        self._by_address[address] = channel
        settings = channel.settings
        exchange = Exchange(channel, None if settings.accept_any_source else address)
        channel.stats.requests += 1

        attempts = settings.retries + 1
        try:
            for attempt in range(attempts):
                wait = settings.timeout
                if attempt and settings.backoff != 1.0:
                    wait *= settings.backoff ** attempt
                response = await self._attempt(loop, exchange, endpoint, pdu, address, wait,
                                               deadline)
                if response is not None:
                    return response
                self._check_deadline(loop, exchange, deadline)
                if attempt + 1 < attempts:
                    channel.stats.retries += 1
                    _log.debug("request retried", target=channel.label,
                               request_id=exchange.keys[-1], attempt=attempt + 2)
            raise self._timed_out(exchange, attempts)
        finally:
            pending = self._pending
            for key in exchange.keys:
                pending.pop(key, None)

    async def _attempt(self, loop: asyncio.AbstractEventLoop, exchange: Exchange,
                       endpoint: Endpoint, pdu: AnyPdu, address: tuple[str, int], wait: float,
                       deadline: float | None) -> Pdu | None:
        key = self._ids.allocate(self._pending)
        channel = exchange.channel
        data = channel.processing.encode_request(pdu, key)
        self._pending[key] = exchange
        exchange.keys.append(key)

        future: asyncio.Future[Pdu | None] = loop.create_future()
        exchange.future = future
        now = loop.time()
        exchange.sent_at.append(now)
        expiry = now + wait
        if deadline is not None and deadline < expiry:
            expiry = deadline
        timer = loop.call_at(expiry, _expire, future)
        try:
            if self._debug:
                self._log_pdu("request sent", channel, key, pdu, address)
            await endpoint.send(data, address, target=channel.label)
            response = await future
        finally:
            timer.cancel()

        if response is not None:
            self._record_answer(loop, exchange, response)
        return response

    def _record_answer(self, loop: asyncio.AbstractEventLoop, exchange: Exchange,
                       response: Pdu) -> None:
        stats = exchange.channel.stats
        stats.responses += 1
        index = exchange.keys.index(exchange.answered_key)
        stats.last_rtt = loop.time() - exchange.sent_at[index]

    def _check_deadline(self, loop: asyncio.AbstractEventLoop, exchange: Exchange,
                        deadline: float | None) -> None:
        if deadline is None or loop.time() < deadline:
            return
        channel = exchange.channel
        channel.stats.timeouts += 1
        _log.info("request stopped at deadline", target=channel.label,
                  request_id=exchange.keys[-1], attempts=len(exchange.keys))
        raise BudgetExceeded(target=channel.label, overrun=loop.time() - deadline,
                             attempts=len(exchange.keys))

    def _timed_out(self, exchange: Exchange, attempts: int) -> RequestTimeout:
        channel = exchange.channel
        channel.stats.timeouts += 1
        channel.forget_resolution()
        diagnostic = exchange.diagnostic()
        _log.info("request timed out", target=channel.label, request_id=exchange.keys[-1],
                  attempts=attempts, diagnostic=diagnostic or None)
        return RequestTimeout(target=channel.label, attempts=attempts,
                              timeout=channel.settings.timeout, diagnostic=diagnostic)

    async def _endpoint(self, family: int, channel: Channel) -> Endpoint:
        source = channel.settings.source_address
        endpoint = self._endpoints.get((family, source))
        if endpoint is not None:
            return endpoint
        async with self._endpoint_lock:
            endpoint = self._endpoints.get((family, source))
            if endpoint is None:
                endpoint = await Endpoint.open(family, source, self._on_datagram,
                                               self._on_socket_error, target=channel.label)
                self._endpoints[(family, source)] = endpoint
            return endpoint

    # -----------------------------------------------------------------------------------------
    # Responses

    def _on_datagram(self, data: bytes, source: SocketAddress) -> None:
        try:
            key, message = decode_inbound(data)
        except DecodeError as exc:
            self._drop_undecodable(source, exc)
            return

        exchange = self._pending.get(key)
        if exchange is None:
            self._drop_unknown(key, source)
            return
        expected = exchange.address
        if expected is not None and (source[0] != expected[0] or source[1] != expected[1]):
            self._drop_rejected(exchange, key, source, "unexpected_source",
                                f"response from unexpected address {format_address(source)}")
            return
        try:
            response = exchange.channel.processing.accept_response(message)
        except ResponseRejected as exc:
            self._drop_rejected(exchange, key, source, exc.kind, exc.detail)
            return

        future = exchange.future
        if future is None or future.done():
            # A duplicate response to a completed request, or one just after its attempt expired.
            self._drop_unknown(key, source)
            return
        exchange.answered_key = key
        future.set_result(response)
        if self._debug:
            self._log_pdu("response received", exchange.channel, key, response, source)

    def _drop_undecodable(self, source: SocketAddress, exc: DecodeError) -> None:
        channel = self._by_address.get((source[0], source[1]))
        if channel is None:
            self._stats.undecodable_datagrams += 1
            self._warn(self._warnings, "undecodable datagram", format_address(source),
                       "undecodable", error=str(exc))
            return
        channel.stats.malformed_responses += 1
        self._warn(channel.warnings, "malformed response", channel.label, "malformed",
                   source=format_address(source), error=str(exc))

    def _drop_unknown(self, key: int, source: SocketAddress) -> None:
        channel = self._by_address.get((source[0], source[1]))
        if channel is None:
            self._stats.unmatched_datagrams += 1
        else:
            channel.stats.unknown_request_id += 1
        if self._debug:
            _log.debug("response with unknown request-id dropped", request_id=key,
                       source=format_address(source),
                       target=channel.label if channel is not None else None)

    def _drop_rejected(self, exchange: Exchange, key: int, source: SocketAddress, kind: str,
                       detail: str) -> None:
        channel = exchange.channel
        stats = channel.stats
        if kind == "unexpected_source":
            stats.unexpected_source += 1
        elif kind == "wrong_community":
            stats.wrong_community += 1
        else:
            stats.malformed_responses += 1
        exchange.reject(kind, detail)
        self._warn(channel.warnings, "response dropped", channel.label, kind, request_id=key,
                   reason=detail, source=format_address(source))

    def _on_socket_error(self, exc: OSError) -> None:
        self._stats.socket_errors += 1
        self._warn(self._warnings, "socket error", "socket", type(exc).__name__,
                   error=str(exc))

    def _warn(self, limiter: WarningLimiter, event: str, target: str, kind: str,
              **fields: object) -> None:
        suppressed = limiter.admit(kind, asyncio.get_running_loop().time())
        if suppressed is not None:
            _log.warning(event, target=target, kind=kind, suppressed=suppressed, **fields)

    def _log_pdu(self, event: str, channel: Channel, key: int, pdu: AnyPdu,
                 address: SocketAddress) -> None:
        _log.debug(event, target=channel.label, request_id=key, pdu_type=pdu.pdu_type.name,
                   peer=format_address(address), error_status=getattr(pdu, "error_status", 0),
                   oids=[format_oid(varbind.oid) for varbind in pdu.varbinds])

    # -----------------------------------------------------------------------------------------
    # Statistics and shutdown

    def global_stats(self) -> GlobalStats:
        """Return a snapshot of the counters of the whole transport."""
        total = GlobalStats(
            targets=len(self._channels),
            unmatched_datagrams=self._stats.unmatched_datagrams,
            undecodable_datagrams=self._stats.undecodable_datagrams,
            socket_errors=self._stats.socket_errors,
            in_flight=len({id(exchange) for exchange in self._pending.values()}),
        )
        for channel in self._channels.values():
            for name in _SUMMED_FIELDS:
                setattr(total, name, getattr(total, name) + getattr(channel.stats, name))
        return total

    async def close(self) -> None:
        """Close every socket. Requests still waiting end with TransportError or a timeout."""
        self._closed = True
        for exchange in set(self._pending.values()):
            future = exchange.future
            if future is not None and not future.done():
                future.set_exception(TransportError("the manager was closed while the request "
                                                    "waited", target=exchange.channel.label))
        endpoints = list(self._endpoints.values())
        self._endpoints.clear()
        for endpoint in endpoints:
            await endpoint.close()


async def _acquire(semaphore: asyncio.Semaphore, label: str, deadline: float | None) -> None:
    """Acquire an in-flight slot, giving up at the deadline."""
    if deadline is None or not semaphore.locked():
        await semaphore.acquire()
        return
    try:
        async with asyncio.timeout_at(deadline):
            await semaphore.acquire()
    except TimeoutError:
        loop = asyncio.get_running_loop()
        raise BudgetExceeded(target=label, overrun=loop.time() - deadline) from None

