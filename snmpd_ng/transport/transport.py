"""The transport: sends PDUs to targets over shared UDP sockets and matches the responses.

Theory of operation. Every request-id (or SNMPv3 msgID) in use maps to an `Exchange`, the
state of one logical request. Each attempt (the first send and every retransmission) takes a
new id and adds it to the same exchange, and all of them stay valid until the exchange ends,
so the first accepted response to any attempt completes the request (RFC 3416 section 4.1 allows
either id to be answered). The waiting coroutine awaits a plain future, and a `loop.call_at`
timer resolves that future with None when the attempt times out: no task and no
`asyncio.wait_for` per request. When a datagram arrives, the socket's protocol callback decodes
it, finds its exchange by key, checks the source address and the community, and resolves the
future, all within that one callback. Every datagram that fails a check is dropped and counted,
and never completes another request.

The request path is the daemon's hot path: a request that finds free in-flight slots, a cached
address and an open socket awaits nothing but its response.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

from snmpd_ng.protocol.errors import DecodeError
from snmpd_ng.protocol.oid import format_oid
from snmpd_ng.protocol.pdu import AnyPdu, ErrorStatus, Pdu, error_status_name
from snmpd_ng.protocol.values import MalformedValue
from snmpd_ng.ratelimit import WarningLimiter
from snmpd_ng.transport.channel import Channel
from snmpd_ng.transport.drops import read_receive_drops
from snmpd_ng.transport.endpoint import (
    DEFAULT_RECEIVE_BUFFER_SIZE,
    DEFAULT_SEND_BUFFER_SIZE,
    Endpoint,
    SocketAddress,
    format_address,
)
from snmpd_ng.transport.errors import BudgetExceeded, RequestTimeout, TransportError
from snmpd_ng.transport.limit import InFlightLimit, take_both
from snmpd_ng.transport.logger import get_logger
from snmpd_ng.transport.processing import AttemptOutcome, ResponseRejected, decode_inbound
from snmpd_ng.transport.request_id import RequestIdAllocator
from snmpd_ng.transport.stats import GlobalStats

_log = get_logger("snmpd_ng.transport")

# Sends of one request that reports may cause on top of its attempts (SNMPv3 discovery and time
# synchronisation).
MAX_RESENDS = 4

Route = tuple[Endpoint, tuple[str, int]]
"""The socket to send from and the (host, port) to send to."""

# Fields of GlobalStats that are the sum of the same field over all targets.
_SUMMED_FIELDS = ("requests", "responses", "timeouts", "retries", "malformed_responses",
                  "malformed_values", "unexpected_source", "unknown_request_id",
                  "wrong_community", "too_big")


class Exchange:
    """One logical request: the ids of its attempts, the future of the current attempt, and
    what was dropped on its way."""

    __slots__ = ("answered_key", "channel", "destination", "endpoint", "expected_source",
                 "expiry", "future", "keys", "received_at", "rejections", "sent_at")

    def __init__(self, channel: Channel, endpoint: Endpoint,
                 destination: tuple[str, int]) -> None:
        self.channel = channel
        self.endpoint = endpoint
        """The socket every attempt is sent from."""
        self.destination = destination
        """The address every attempt is sent to, fixed when the exchange starts."""
        self.expected_source = None if channel.settings.accept_any_source else destination
        """Where the response must come from; None accepts any source."""
        self.future: asyncio.Future[Pdu | AttemptOutcome | None] | None = None
        self.keys: list[int] = []
        self.sent_at: list[float] = []
        """time.perf_counter() at each attempt's send, in the order of `keys`."""
        self.received_at = 0.0
        """time.perf_counter() when the accepted response arrived."""
        self.answered_key = 0
        self.expiry = 0.0
        """Loop time at which the current attempt times out."""
        self.rejections: dict[str, list[str]] | None = None
        """Dropped responses by kind, created at the first one."""

    def reject(self, kind: str, detail: str) -> None:
        """Remember a dropped response, for the timeout's diagnostic."""
        if self.rejections is None:
            self.rejections = {}
        self.rejections.setdefault(kind, []).append(detail)

    def diagnostic(self) -> str:
        """Describe the dropped responses, one clause per kind."""
        clauses = []
        for kind, details in (self.rejections or {}).items():
            clauses.append(f"{len(details)} response(s) dropped as {kind.replace('_', ' ')} "
                           f"(first: {details[0]})")
        return "; ".join(clauses)


def _expire(future: asyncio.Future[Pdu | AttemptOutcome | None]) -> None:
    if not future.done():
        future.set_result(None)


def is_debug_enabled(logger: Any) -> bool:
    """Tell whether `logger` (a library or structlog logger) would emit DEBUG events now.

    A disabled `debug()` call still costs about 2 us when loggers are not cached, as the
    daemon configures them, so the hot path tests a flag taken from this instead.
    """
    checker = getattr(logger, "is_enabled_for", None)
    return bool(checker(logging.DEBUG)) if checker is not None else True


class Transport:
    """Shared sockets, request-id matching, timeouts, retries and in-flight limits.

    `max_in_flight` limits the requests waiting for a response at once across all targets;
    each channel adds its own limit. `receive_buffer_size` and `send_buffer_size` are the
    SO_RCVBUF and SO_SNDBUF sizes in bytes asked for on every socket (None keeps the kernel's
    default; Linux caps them at net.core.rmem_max and net.core.wmem_max). DEBUG logging per PDU
    is decided when the transport is created, so configure logging before.
    """

    def __init__(self, *, max_in_flight: int = 1000, rng: random.Random | None = None,
                 receive_buffer_size: int | None = DEFAULT_RECEIVE_BUFFER_SIZE,
                 send_buffer_size: int | None = DEFAULT_SEND_BUFFER_SIZE) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        for name, size in (("receive_buffer_size", receive_buffer_size),
                           ("send_buffer_size", send_buffer_size)):
            if size is not None and size < 1:
                raise ValueError(f"{name} must be at least 1 byte or None, got {size}")
        self._limit = InFlightLimit(max_in_flight)
        self._ids = RequestIdAllocator(rng)
        self._pending: dict[int, Exchange] = {}
        self._endpoints: dict[tuple[int, str | None], Endpoint] = {}
        self._endpoint_lock = asyncio.Lock()
        self._buffer_sizes = (receive_buffer_size, send_buffer_size)
        self._closed_socket_drops = 0
        self._channels: dict[int, Channel] = {}
        self._by_address: dict[tuple[str, int], Channel] = {}
        self._stats = GlobalStats()
        self._warnings = WarningLimiter()
        self._debug = is_debug_enabled(_log)
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

        # The target's slot first, so that a target at its own limit takes no shared slot.
        limit, shared = channel.limit, self._limit
        if not take_both(limit, shared):
            await _wait_for_both(limit, shared, channel.label, deadline)
        exchange: Exchange | None = None
        try:
            route = self._route(loop, channel) or await self._open_route(loop, channel)
            endpoint = route[0]
            exchange = Exchange(channel, endpoint, route[1])
            attempts = channel.settings.retries + 1
            attempt = resends = 0
            while attempt < attempts:
                if endpoint.paused:
                    await endpoint.wait_writable()
                future, timer = self._send_attempt(loop, exchange, pdu, attempt, deadline)
                if attempt == 0 and resends == 0:
                    # Counted once sent: a PDU that cannot be encoded never left the socket.
                    channel.stats.requests += 1
                try:
                    response = await future
                finally:
                    timer.cancel()
                if type(response) is Pdu:
                    self._record_answer(exchange, response)
                    return response
                if response is not None:
                    resends = self._after_report(exchange, response, resends)
                    continue
                attempt += 1
                self._after_silence(loop, exchange, attempt, attempts, deadline)
            timeout = self._timed_out(exchange, attempts)
        finally:
            if exchange is not None:
                self._end(exchange)
            shared.give()
            limit.give()
        diagnosis = channel.processing.diagnose_timeout(self, channel, timeout, deadline)
        if diagnosis is not None:
            raise await diagnosis
        raise timeout

    def _after_report(self, exchange: Exchange, outcome: Pdu | AttemptOutcome,
                      resends: int) -> int:
        """Fail the request with the report's error, or allow one more immediate send."""
        assert isinstance(outcome, AttemptOutcome)
        if outcome.error is not None:
            raise outcome.error
        # Discovery, the first time synchronisation and one re-synchronisation take three
        # sends; a fourth means the agent and we disagree for good.
        if resends >= MAX_RESENDS:
            raise exchange.channel.processing.too_many_resends()  # type: ignore[attr-defined]
        return resends + 1

    def _route(self, loop: asyncio.AbstractEventLoop, channel: Channel) -> Route | None:
        """Return the socket and address to send to, or None unless both are ready."""
        resolved = channel.cached(loop.time())
        if resolved is None:
            return None
        endpoint = self._endpoints.get((resolved[0], channel.settings.source_address))
        if endpoint is None or endpoint.closed:
            return None
        address = resolved[1]
        self._by_address[address] = channel
        return endpoint, address

    async def _open_route(self, loop: asyncio.AbstractEventLoop, channel: Channel) -> Route:
        """Resolve the target's address and open the socket for its family, as needed.

        A socket that the loop closed after a fatal error is replaced by a new one.
        """
        family, address = await channel.resolve(loop)
        source = channel.settings.source_address
        async with self._endpoint_lock:
            endpoint = self._endpoints.get((family, source))
            if endpoint is None or endpoint.closed:
                receive, send = self._buffer_sizes
                endpoint = await Endpoint.open(family, source, self._on_datagram,
                                               self._on_socket_error, target=channel.label,
                                               receive_buffer_size=receive,
                                               send_buffer_size=send)
                self._endpoints[(family, source)] = endpoint
        self._by_address[address] = channel
        return endpoint, address

    def _send_attempt(self, loop: asyncio.AbstractEventLoop, exchange: Exchange, pdu: AnyPdu,
                      attempt: int, deadline: float | None,
                      ) -> tuple[asyncio.Future[Pdu | AttemptOutcome | None], asyncio.Handle]:
        """Send one attempt under a new key; return the future it resolves and its timer."""
        channel = exchange.channel
        key = self._ids.allocate(self._pending)
        data = channel.processing.encode_request(pdu, key)
        address = exchange.destination
        future: asyncio.Future[Pdu | AttemptOutcome | None] = loop.create_future()
        now = loop.time()
        settings = channel.settings
        if attempt == 0 or settings.backoff == 1.0:
            expiry = now + settings.timeout
        else:
            expiry = now + settings.timeout * settings.backoff ** attempt
        if deadline is not None and deadline < expiry:
            expiry = deadline
        timer = loop.call_at(expiry, _expire, future)
        exchange.expiry = expiry
        # Durations use perf_counter: uvloop's loop.time() is rounded to whole milliseconds,
        # so a LAN round trip would read 0 or 1 ms. Timers and deadlines stay on the loop clock.
        sent_at = time.perf_counter()
        try:
            exchange.endpoint.send(data, address, channel.label)
        except BaseException:
            timer.cancel()
            raise
        self._pending[key] = exchange
        exchange.future = future
        exchange.keys.append(key)
        exchange.sent_at.append(sent_at)
        if self._debug:
            self._log_pdu("request sent", channel, key, pdu, address)
        return future, timer

    def _end(self, exchange: Exchange) -> None:
        """Retire the keys of a finished exchange; a late response to them is then unknown."""
        pending = self._pending
        for key in exchange.keys:
            pending.pop(key, None)

    def _record_answer(self, exchange: Exchange, response: Pdu) -> None:
        """Count an accepted response, its error-status and malformed values, and its RTT."""
        stats = exchange.channel.stats
        stats.responses += 1
        keys = exchange.keys
        index = len(keys) - 1 if keys[-1] == exchange.answered_key else keys.index(
            exchange.answered_key)
        stats.last_rtt = exchange.received_at - exchange.sent_at[index]

        status = response.error_status
        if status:
            name = error_status_name(status)
            stats.error_status[name] = stats.error_status.get(name, 0) + 1
            if status == ErrorStatus.TOO_BIG:
                stats.too_big += 1
        malformed = 0
        for varbind in response.varbinds:
            if varbind[1].__class__ is MalformedValue:
                malformed += 1
        if malformed:
            stats.malformed_values += malformed
            if self._debug:
                _log.debug("malformed values received", target=exchange.channel.label,
                           request_id=response.request_id, count=malformed)

    def _after_silence(self, loop: asyncio.AbstractEventLoop, exchange: Exchange, made: int,
                       attempts: int, deadline: float | None) -> None:
        """Stop at the deadline after attempt number `made` got no response, or count the
        retry. Sends that reports caused are not attempts, so `made` is not len(keys)."""
        channel = exchange.channel
        # An attempt whose timer was due at the deadline has reached it, even though uvloop
        # may run that timer a fraction of a microsecond early by loop.time().
        if deadline is not None and (exchange.expiry >= deadline or loop.time() >= deadline):
            channel.stats.timeouts += 1
            self._log_limited(channel, "request stopped at deadline", "deadline",
                              request_id=exchange.keys[-1], attempts=made)
            raise BudgetExceeded(target=channel.label, overrun=loop.time() - deadline,
                                 attempts=made)
        if made < attempts:
            channel.stats.retries += 1
            if self._debug:
                _log.debug("request retried", target=channel.label,
                           request_id=exchange.keys[-1], attempt=made + 1)

    def _timed_out(self, exchange: Exchange, attempts: int) -> RequestTimeout:
        channel = exchange.channel
        channel.stats.timeouts += 1
        channel.forget_resolution()
        diagnostic = exchange.diagnostic()
        self._log_limited(channel, "request timed out", "timeout",
                          request_id=exchange.keys[-1], attempts=attempts, diagnostic=diagnostic)
        return RequestTimeout(target=channel.label, attempts=attempts,
                              timeout=channel.settings.timeout, diagnostic=diagnostic,
                              hint=getattr(channel.processing, "timeout_hint", None))

    # -----------------------------------------------------------------------------------------
    # Responses

    def _on_datagram(self, data: bytes, source: SocketAddress) -> None:
        received_at = time.perf_counter()
        try:
            key, message = decode_inbound(data)
        except DecodeError as exc:
            self._drop_undecodable(source, exc)
            return

        exchange = self._pending.get(key)
        if exchange is None:
            self._drop_unknown(key, source)
            return
        expected = exchange.expected_source
        if expected is not None and (source[0] != expected[0] or source[1] != expected[1]):
            self._drop_rejected(exchange, key, source, "unexpected_source",
                                f"response from unexpected address {format_address(source)}")
            return
        try:
            response: Pdu | AttemptOutcome = exchange.channel.processing.accept_response(message)
        except ResponseRejected as exc:
            self._drop_rejected(exchange, key, source, exc.kind, exc.detail, exc.counted)
            return
        except AttemptOutcome as outcome:
            response = outcome

        future = exchange.future
        if future is None or future.done():
            # A duplicate response to a completed request, or one just after its attempt expired.
            self._drop_unknown(key, source)
            return
        exchange.answered_key = key
        exchange.received_at = received_at
        future.set_result(response)
        if self._debug and type(response) is Pdu:
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
                       detail: str, counted: bool = False) -> None:
        channel = exchange.channel
        stats = channel.stats
        if kind == "unexpected_source":
            stats.unexpected_source += 1
        elif kind == "wrong_community":
            stats.wrong_community += 1
        elif not counted:
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

    def _log_limited(self, channel: Channel, event: str, kind: str, **fields: object) -> None:
        # A dead target times out on every poll: one INFO line per target and kind a minute,
        # with the count held back, keeps the log readable. The counters see every one.
        suppressed = channel.warnings.admit(kind, asyncio.get_running_loop().time())
        if suppressed is not None:
            _log.info(event, target=channel.label, suppressed=suppressed, **fields)

    def _log_pdu(self, event: str, channel: Channel, key: int, pdu: AnyPdu,
                 address: SocketAddress) -> None:
        _log.debug(event, target=channel.label, request_id=key, pdu_type=pdu.pdu_type.name,
                   peer=format_address(address), error_status=getattr(pdu, "error_status", 0),
                   oids=[format_oid(varbind.oid) for varbind in pdu.varbinds])

    # -----------------------------------------------------------------------------------------
    # Statistics and shutdown

    def global_stats(self) -> GlobalStats:
        """Return a snapshot of the counters of the whole transport.

        Reads the kernel's drop counts from /proc/net/udp, so call it at scrape time, not per
        request.
        """
        total = GlobalStats(
            targets=len(self._channels),
            unmatched_datagrams=self._stats.unmatched_datagrams,
            undecodable_datagrams=self._stats.undecodable_datagrams,
            socket_errors=self._stats.socket_errors,
            in_flight=len({id(exchange) for exchange in self._pending.values()}),
            receive_buffer_drops=self._receive_buffer_drops(list(self._endpoints.values())),
        )
        for channel in self._channels.values():
            for name in _SUMMED_FIELDS:
                setattr(total, name, getattr(total, name) + getattr(channel.stats, name))
        return total

    def _receive_buffer_drops(self, endpoints: list[Endpoint]) -> int | None:
        """Add up the kernel's drop counts of `endpoints` and of the sockets closed before."""
        if not endpoints:
            return self._closed_socket_drops
        drops = read_receive_drops([endpoint.inode for endpoint in endpoints])
        if drops is None:
            return None
        return self._closed_socket_drops + sum(drops.values())

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
        # The kernel drops a socket's drop count with the socket, so keep the last reading.
        self._closed_socket_drops = self._receive_buffer_drops(endpoints) or 0
        for endpoint in endpoints:
            await endpoint.close()


async def _wait_for_both(first: InFlightLimit, second: InFlightLimit, label: str,
                         deadline: float | None) -> None:
    """Take a slot of `first`, then of `second`, giving up at the deadline."""
    try:
        await first.take(deadline)
    except TimeoutError:
        raise _budget_exceeded(label, deadline) from None
    try:
        await second.take(deadline)
    except TimeoutError:
        first.give()
        raise _budget_exceeded(label, deadline) from None
    except BaseException:
        first.give()
        raise


def _budget_exceeded(label: str, deadline: float | None) -> BudgetExceeded:
    overrun = asyncio.get_running_loop().time() - deadline if deadline is not None else 0.0
    return BudgetExceeded(target=label, overrun=overrun)
