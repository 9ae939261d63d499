"""The rule signal stream of cluster mode (snmpd_ng.cluster.signal_stream and signal_consumer)
on a real Redis: the entry codec, publishers, the consumer group, failures of the handler and
of Redis, and the publisher's buffer limit.

Each test uses its own key prefix on the session's Redis, or a Redis of its own (`own_redis`)
when it stops the server. The loops read and write Redis for real, so the tests wait on their
counters with a timeout instead of advancing a clock.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fakes import FakeClock
from redis.asyncio import Redis
from redisfix import RedisClusterDeployment, RedisServer

from snmpd_ng.alerting.rules.model import RuleSignal, SignalState
from snmpd_ng.clock import LoopClock
from snmpd_ng.cluster.keys import Keys
from snmpd_ng.cluster.redis_conn import open_redis
from snmpd_ng.cluster.settings import RedisSettings
from snmpd_ng.cluster.signal_stream import (
    APPEND_SCRIPT,
    GROUP,
    SignalConsumer,
    SignalDecodeError,
    SignalPublisher,
    decode_signal,
    encode_signal,
)
from snmpd_ng.protocol.errors import SnmpError

WAIT_TIMEOUT = 20.0
"""Seconds a test waits for a counter; a Redis restart and the retry backoff take a few."""

_prefixes = itertools.count()


@pytest.fixture
def keys(request: pytest.FixtureRequest) -> Keys:
    """A key prefix of the test's own on the shared Redis."""
    return Keys(f"test-signals-{request.node.name}-{next(_prefixes)}")


def client_for(server: RedisServer) -> Redis:
    client = open_redis(RedisSettings(url=server.url, connect_timeout=0.5, command_timeout=1.0))
    assert isinstance(client, Redis)
    return client


def make_signal(number: int, *, source: str = "a", state: SignalState = "firing",
                value: float | None = 1.5) -> RuleSignal:
    return RuleSignal(
        rule="ifDown", labels={"target": f"r{number}", "source": source, "n": str(number)},
        state=state, value=value, active_since=1_700_000_000.25, at=1_700_000_060.5 + number,
        severity="critical", annotations={"summary": f"interface {number} is down"})


def signal_number(signal: RuleSignal) -> tuple[str, int]:
    return signal.labels["source"], int(signal.labels["n"])


class Recorder:
    """A consumer handler that records the batches it gets.

    It raises on its first `failures` calls (after recording), and with `hang` it never returns
    once it has recorded a batch, as a leader that dies before acknowledging.
    """

    def __init__(self, *, failures: int = 0, hang: bool = False) -> None:
        self.batches: list[list[RuleSignal]] = []
        self._failures = failures
        self._hang = hang

    async def __call__(self, signals: list[RuleSignal]) -> None:
        self.batches.append(list(signals))
        if self._failures > 0:
            self._failures -= 1
            raise RuntimeError("the alert store did not take the signals")
        if self._hang:
            await asyncio.Event().wait()

    @property
    def signals(self) -> list[RuleSignal]:
        return [signal for batch in self.batches for signal in batch]


async def wait_for(condition: Callable[[], bool]) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_TIMEOUT
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {WAIT_TIMEOUT} s")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def publisher_on(server: RedisServer, keys: Keys, *, start: bool = True,
                       **options: Any) -> AsyncIterator[SignalPublisher]:
    client = client_for(server)
    publisher = SignalPublisher(client, keys, clock=LoopClock(), **options)
    if start:
        publisher.start()
    try:
        yield publisher
    finally:
        await publisher.stop()
        await client.aclose()


@asynccontextmanager
async def consumer_on(server: RedisServer, keys: Keys, handler: Recorder, *,
                      clock: Any = None, **options: Any) -> AsyncIterator[SignalConsumer]:
    client = client_for(server)
    consumer = SignalConsumer(client, keys, handler, clock=clock or LoopClock(), **options)
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()
        await client.aclose()


async def pending_count(server: RedisServer, keys: Keys) -> int:
    client = client_for(server)
    try:
        summary = await client.xpending(keys.alert_signals, GROUP)
    finally:
        await client.aclose()
    return int(summary["pending"])


async def stream_signals(server: RedisServer, keys: Keys) -> list[RuleSignal]:
    client = client_for(server)
    try:
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await client.xrange(  # type: ignore[assignment]
            keys.alert_signals)
    finally:
        await client.aclose()
    return [decode_signal(fields, entry_id=entry_id.decode()) for entry_id, fields in entries]


# The codec

EXACT_FLOATS = [0.1, 1 / 3, 1e-300, 5e-324, 1.7976931348623157e308, 2.0**53 + 2, 123456.789]


@pytest.mark.parametrize("value", EXACT_FLOATS)
def test_codec_round_trip_exact_float(value: float) -> None:
    signal = RuleSignal(rule="r", labels={}, state="firing", value=value, active_since=value,
                        at=value, severity="info", annotations={})
    assert decode_signal(encode_signal(signal)) == signal


def test_codec_round_trip_negative_zero() -> None:
    signal = make_signal(1, value=-0.0)
    decoded = decode_signal(encode_signal(signal))
    assert decoded.value is not None
    assert math.copysign(1.0, decoded.value) == -1.0


def test_codec_round_trip_none_value() -> None:
    signal = make_signal(1, state="resolved", value=None)
    assert decode_signal(encode_signal(signal)) == signal


def test_codec_round_trip_nan_and_infinity() -> None:
    nan = decode_signal(encode_signal(make_signal(1, value=math.nan)))
    infinite = decode_signal(encode_signal(make_signal(1, value=-math.inf)))
    assert nan.value is not None and math.isnan(nan.value)
    assert infinite.value == -math.inf


def test_codec_round_trip_unicode_labels_as_bytes() -> None:
    signal = RuleSignal(rule="Überlast", labels={"ifAlias": "Uplink — 東京 🚀", "": "leer"},
                        state="pending", value=2.5, active_since=1.0, at=2.0,
                        severity="warning", annotations={"summary": "Zürich → 東京"})
    as_bytes = {key.encode(): value.encode() for key, value in encode_signal(signal).items()}
    assert decode_signal(as_bytes) == signal


def test_codec_integer_number_becomes_float() -> None:
    fields = encode_signal(make_signal(1))
    fields["signal"] = fields["signal"].replace('"value":1.5', '"value":3')
    decoded = decode_signal(fields)
    assert decoded.value == 3.0
    assert isinstance(decoded.value, float)


def _with_signal(text: str) -> dict[str, str]:
    return {"version": "1", "signal": text}


def _replaced(key: str, value: object) -> dict[str, str]:
    document = json.loads(encode_signal(make_signal(1))["signal"])
    document[key] = value
    return _with_signal(json.dumps(document))


def _without(key: str) -> dict[str, str]:
    document = json.loads(encode_signal(make_signal(1))["signal"])
    del document[key]
    return _with_signal(json.dumps(document))


BAD_ENTRIES: list[tuple[str, dict[Any, Any], str]] = [
    ("no fields", {}, "'version' is None"),
    ("unknown version", {"version": "2", "signal": "{}"}, "'version' is '2'"),
    ("no signal field", {"version": "1"}, "'signal' is missing"),
    ("invalid JSON", _with_signal("{rule"), "not valid JSON"),
    ("JSON array", _with_signal("[]"), "not a JSON object"),
    ("missing key", _without("at"), "'at' is missing"),
    ("unknown state", _replaced("state", "burning"), "'state' is 'burning'"),
    ("unknown severity", _replaced("severity", "fatal"), "'severity' is 'fatal'"),
    ("rule not a string", _replaced("rule", 5), "'rule' is 5"),
    ("value a string", _replaced("value", "1.5"), "'value' is '1.5'"),
    ("time a bool", _replaced("at", True), "'at' is True"),
    ("time null", _replaced("active_since", None), "'active_since' is None"),
    ("huge integer", _with_signal(encode_signal(make_signal(1))["signal"].replace(
        '"value":1.5', '"value":' + "9" * 400)), "too large"),
    ("labels a list", _replaced("labels", ["a"]), "'labels' is ['a']"),
    ("label value a number", _replaced("labels", {"n": 1}), "labels['n'] is 1"),
    ("annotation null", _replaced("annotations", {"s": None}), "annotations['s'] is None"),
    ("not UTF-8", {b"version": b"1", b"signal": b"\xff\xfe"}, "not UTF-8"),
]


@pytest.mark.parametrize(("fields", "reason"), [(f, r) for _, f, r in BAD_ENTRIES],
                         ids=[name for name, _, _ in BAD_ENTRIES])
def test_codec_bad_entry_raises_with_entry_id(fields: dict[Any, Any], reason: str) -> None:
    with pytest.raises(SignalDecodeError) as caught:
        decode_signal(fields, entry_id="1700000000000-7")
    assert caught.value.entry_id == "1700000000000-7"
    assert "stream entry 1700000000000-7" in str(caught.value)
    assert reason in caught.value.reason


def test_codec_decode_error_is_snmp_error() -> None:
    assert issubclass(SignalDecodeError, SnmpError)


async def test_codec_round_trip_through_redis(redis_server: RedisServer, keys: Keys) -> None:
    signals = [make_signal(1), make_signal(2, state="resolved", value=None)]
    client = client_for(redis_server)
    try:
        for signal in signals:
            await client.xadd(keys.alert_signals, encode_signal(signal))  # type: ignore[arg-type]
    finally:
        await client.aclose()
    assert await stream_signals(redis_server, keys) == signals


# Publishing and consuming

async def test_stream_keeps_order_of_two_publishers(redis_server: RedisServer,
                                                    keys: Keys) -> None:
    recorder = Recorder()
    async with (publisher_on(redis_server, keys) as first,
                publisher_on(redis_server, keys) as second,
                consumer_on(redis_server, keys, recorder) as consumer):
        for number in range(500):
            first.submit(make_signal(number, source="a"))
            second.submit(make_signal(number, source="b"))
            if number % 50 == 0:
                await asyncio.sleep(0)
        await wait_for(lambda: consumer.acked >= 1000)

    numbers = [signal_number(signal) for signal in recorder.signals]
    assert [n for source, n in numbers if source == "a"] == list(range(500))
    assert [n for source, n in numbers if source == "b"] == list(range(500))
    assert first.published == 500
    assert second.published == 500
    assert consumer.applied == 1000
    assert await pending_count(redis_server, keys) == 0


async def test_consumer_stopped_before_ack_redelivers(redis_server: RedisServer,
                                                      keys: Keys) -> None:
    dying = Recorder(hang=True)
    async with publisher_on(redis_server, keys) as publisher:
        for number in range(10):
            publisher.submit(make_signal(number))
    async with consumer_on(redis_server, keys, dying):
        await wait_for(lambda: len(dying.signals) == 10)
    assert await pending_count(redis_server, keys) == 10

    successor = Recorder()
    async with consumer_on(redis_server, keys, successor) as consumer:
        await wait_for(lambda: consumer.acked == 10)
    assert successor.signals == dying.signals
    assert await pending_count(redis_server, keys) == 0


async def test_consumer_handler_failure_redelivers(redis_server: RedisServer,
                                                   keys: Keys) -> None:
    recorder = Recorder(failures=1)
    async with publisher_on(redis_server, keys) as publisher:
        for number in range(5):
            publisher.submit(make_signal(number))
    async with consumer_on(redis_server, keys, recorder) as consumer:
        await wait_for(lambda: consumer.acked == 5)
    assert consumer.handler_failures == 1
    assert len(recorder.batches) == 2
    assert recorder.batches[1] == recorder.batches[0]
    assert consumer.applied == 5
    assert await pending_count(redis_server, keys) == 0


async def test_consumer_acks_undecodable_entry(redis_server: RedisServer, keys: Keys) -> None:
    client = client_for(redis_server)
    try:
        await client.xadd(keys.alert_signals, {"version": "9", "signal": "{}"})
        await client.xadd(keys.alert_signals, encode_signal(make_signal(1)))  # type: ignore[arg-type]
    finally:
        await client.aclose()
    recorder = Recorder()
    async with consumer_on(redis_server, keys, recorder) as consumer:
        await wait_for(lambda: consumer.acked == 2)
    assert consumer.decode_errors == 1
    assert recorder.signals == [make_signal(1)]
    assert await pending_count(redis_server, keys) == 0


async def test_consumer_counts_trimmed_pending_entry(redis_server: RedisServer,
                                                     keys: Keys) -> None:
    client = client_for(redis_server)
    try:
        await client.xgroup_create(keys.alert_signals, GROUP, id="0", mkstream=True)
        for number in range(3):
            await client.xadd(keys.alert_signals, encode_signal(make_signal(number)))  # type: ignore[arg-type]
        # A predecessor read all three, then Redis trimmed the first two away.
        await client.xreadgroup(GROUP, "leader", {keys.alert_signals: ">"})
        await client.xtrim(keys.alert_signals, maxlen=1, approximate=False)
    finally:
        await client.aclose()
    recorder = Recorder()
    async with consumer_on(redis_server, keys, recorder) as consumer:
        await wait_for(lambda: consumer.acked == 3)
    assert consumer.trimmed == 2
    assert recorder.signals == [make_signal(2)]


async def test_consumer_stop_while_blocked(redis_server: RedisServer, keys: Keys) -> None:
    client = client_for(redis_server)
    consumer = SignalConsumer(client, keys, Recorder(), clock=LoopClock(), block_ms=5000)
    try:
        await consumer.start()
        await wait_for(lambda: consumer.lag is not None)
        await asyncio.sleep(0.1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await consumer.stop()
        assert loop.time() - started < 0.3
        assert await client.ping()
    finally:
        await client.aclose()


async def test_consumer_creates_lost_group_again(redis_server: RedisServer, keys: Keys) -> None:
    recorder = Recorder()
    async with (publisher_on(redis_server, keys) as publisher,
                consumer_on(redis_server, keys, recorder) as consumer):
        publisher.submit(make_signal(1))
        await wait_for(lambda: consumer.acked == 1)
        admin = client_for(redis_server)
        try:
            await admin.delete(keys.alert_signals)
        finally:
            await admin.aclose()
        publisher.submit(make_signal(2))
        await wait_for(lambda: consumer.acked == 2)
    assert recorder.signals == [make_signal(1), make_signal(2)]


async def test_consumer_refreshes_lag_and_pending(redis_server: RedisServer, keys: Keys) -> None:
    async with publisher_on(redis_server, keys) as publisher:
        for number in range(3):
            publisher.submit(make_signal(number))
    clock = FakeClock()
    async with consumer_on(redis_server, keys, Recorder(), clock=clock,
                           block_ms=100) as consumer:
        await wait_for(lambda: consumer.acked == 3)
        assert consumer.lag == 3
        assert consumer.pending == 0
        await clock.advance(5.0)
        await wait_for(lambda: consumer.lag == 0)


# Redis outages and the buffer limit

async def test_redis_restart_publisher_buffers_and_delivers(own_redis: RedisServer,
                                                            keys: Keys) -> None:
    recorder = Recorder()
    async with (publisher_on(own_redis, keys) as publisher,
                consumer_on(own_redis, keys, recorder) as consumer):
        for number in range(50):
            publisher.submit(make_signal(number))
        await wait_for(lambda: consumer.acked == 50)

        own_redis.stop()
        for number in range(50, 100):
            publisher.submit(make_signal(number))
        # Both loops must see Redis fail before it comes back: redis-py retries a broken
        # connection by itself for up to about 1.5 s.
        await wait_for(lambda: publisher.failed_batches >= 1)
        await wait_for(lambda: consumer.read_failures >= 1)
        assert publisher.buffered == 50
        own_redis.start()

        await wait_for(lambda: consumer.acked >= 100)
        assert publisher.buffered == 0

    first_seen = list(dict.fromkeys(signal_number(signal) for signal in recorder.signals))
    assert first_seen == [("a", number) for number in range(100)]
    assert publisher.dropped == 0


async def test_publisher_overflow_drops_oldest(redis_server: RedisServer, keys: Keys) -> None:
    async with publisher_on(redis_server, keys, start=False, max_buffer=10) as publisher:
        for number in range(15):
            publisher.submit(make_signal(number))
        assert publisher.dropped == 5
        assert publisher.buffered == 10
        publisher.start()
        await wait_for(lambda: publisher.published == 10)
    numbers = [signal_number(signal)[1] for signal in await stream_signals(redis_server, keys)]
    assert numbers == list(range(5, 15))


async def test_publisher_stop_flushes_buffer(redis_server: RedisServer, keys: Keys) -> None:
    async with publisher_on(redis_server, keys) as publisher:
        for number in range(450):
            publisher.submit(make_signal(number))
    assert publisher.published == 450
    assert len(await stream_signals(redis_server, keys)) == 450


async def test_publisher_stop_without_redis_counts_unsent(own_redis: RedisServer,
                                                          keys: Keys) -> None:
    own_redis.stop()
    async with publisher_on(own_redis, keys, stop_timeout=0.3) as publisher:
        for number in range(7):
            publisher.submit(make_signal(number))
    assert publisher.dropped == 7
    assert publisher.buffered == 0
    publisher.submit(make_signal(8))
    assert publisher.dropped == 8


async def test_append_script_repeated_batch_adds_nothing(redis_server: RedisServer,
                                                         keys: Keys) -> None:
    client = client_for(redis_server)
    script = client.register_script(APPEND_SCRIPT)
    args: list[str | int] = [1000, 60_000, 1, 2]
    for number in (1, 2):
        flat = [text for pair in encode_signal(make_signal(number)).items() for text in pair]
        args += [len(flat), *flat]
    stream_keys = [keys.alert_signals, keys.alert_signals + ":publisher:test"]
    try:
        first = await script(keys=stream_keys, args=args)
        repeated = await script(keys=stream_keys, args=args)
        length = await client.xlen(keys.alert_signals)
    finally:
        await client.aclose()
    assert first == 2
    assert repeated == 0
    assert length == 2


def test_publisher_rejects_empty_buffer(redis_server: RedisServer, keys: Keys) -> None:
    with pytest.raises(ValueError, match="max_buffer"):
        SignalPublisher(client_for(redis_server), keys, clock=LoopClock(), max_buffer=0)



async def test_redis_cluster_delivers_in_order(redis_cluster: RedisClusterDeployment,
                                               keys: Keys) -> None:
    settings = RedisSettings(url=redis_cluster.url, cluster=True, connect_timeout=0.5,
                             command_timeout=1.0)
    client = open_redis(settings)
    recorder = Recorder()
    publisher = SignalPublisher(client, keys, clock=LoopClock())
    consumer = SignalConsumer(client, keys, recorder, clock=LoopClock())
    try:
        publisher.start()
        await consumer.start()
        for number in range(300):
            publisher.submit(make_signal(number))
        await wait_for(lambda: consumer.acked == 300)
    finally:
        await consumer.stop()
        await publisher.stop()
        await client.aclose()
    assert [signal_number(signal)[1] for signal in recorder.signals] == list(range(300))


async def test_publisher_submit_unencodable_signal_counts(redis_server: RedisServer,
                                                    keys: Keys) -> None:
    publisher = SignalPublisher(client_for(redis_server), keys, clock=LoopClock())
    broken = RuleSignal(rule="r", labels={"target": object()},  # type: ignore[dict-item]
                        state="firing", value=1.0, active_since=1.0, at=2.0,
                        severity="info", annotations={})
    publisher.submit(broken)
    assert publisher.encode_errors == 1
    assert publisher.buffered == 0
