"""The trap service and its datagram handler: counters, responses, queue, timers, start, stop."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agents import LOOPBACK_V4, LOOPBACK_V6, free_udp_port, free_udp_port_on, has_ipv6_loopback
from fakes import FakeClock
from structlog.testing import capture_logs

from snmpd_ng.alerting.rules.model import RuleSignal
from snmpd_ng.alerting.traps import TrapService, build_trap_settings
from snmpd_ng.alerting.traps.decode import Community, TrapDecoder
from snmpd_ng.alerting.traps.event import SNMP_TRAP_OID_0, SYS_UPTIME_0, TrapEvent
from snmpd_ng.alerting.traps.limits import SourceRateLimit
from snmpd_ng.alerting.traps.local_engine import ENGINE_FILE_NAME
from snmpd_ng.alerting.traps.receiver import (
    TrapHandler,
    TrapReceiverError,
    _bind_message,
    source_host,
)
from snmpd_ng.protocol.message import CommunityMessage, SnmpVersion, decode_message, encode_message
from snmpd_ng.protocol.pdu import Pdu, PduType
from snmpd_ng.protocol.values import ObjectIdentifier, TimeTicks, VarBind
from snmpd_ng.secret import Secret

COMMUNITY = "trap-community-1"  # test value
COLD_START = (1, 3, 6, 1, 6, 3, 1, 1, 5, 1)
PEER = ("192.0.2.10", 40000)


def notification(pdu_type: PduType = PduType.TRAP_V2, request_id: int = 1) -> bytes:
    pdu = Pdu(pdu_type, request_id, [VarBind(SYS_UPTIME_0, TimeTicks(9)),
                                     VarBind(SNMP_TRAP_OID_0, ObjectIdentifier(COLD_START))])
    return encode_message(CommunityMessage(SnmpVersion.V2C, COMMUNITY.encode(), pdu))


class Sent:
    """Records what the handler sends back."""

    def __init__(self) -> None:
        self.datagrams: list[tuple[bytes, tuple[Any, ...]]] = []

    def __call__(self, data: bytes, address: tuple[Any, ...]) -> None:
        self.datagrams.append((data, address))


def handler(queue_size: int = 10, burst: int = 100) -> tuple[TrapHandler, asyncio.Queue[Any]]:
    events: asyncio.Queue[Any] = asyncio.Queue(maxsize=queue_size)
    decoder = TrapDecoder([Community("ops", Secret(COMMUNITY))])
    return TrapHandler(decoder, SourceRateLimit(1.0, burst), events, FakeClock()), events


# ---------------------------------------------------------------------------------------------
# The handler


async def test_handler_queues_event() -> None:
    trap_handler, events = handler()
    trap_handler.handle(notification(), PEER, Sent())
    event: TrapEvent = events.get_nowait()
    assert event.trap_oid == COLD_START
    assert trap_handler.stats.traps == 1
    assert trap_handler.stats.by_version == {"2c": 1}


async def test_handler_answers_inform() -> None:
    trap_handler, _ = handler()
    sent = Sent()
    trap_handler.handle(notification(PduType.INFORM, 77), PEER, sent)
    (data, address), = sent.datagrams
    assert address == PEER
    assert decode_message(data).pdu.pdu_type is PduType.RESPONSE
    assert trap_handler.stats.informs_acknowledged == 1


async def test_handler_counts_full_queue() -> None:
    trap_handler, _ = handler(queue_size=1)
    with capture_logs() as logs:
        trap_handler.handle(notification(), PEER, Sent())
        trap_handler.handle(notification(), PEER, Sent())
    assert trap_handler.stats.queue_full == 1
    assert trap_handler.stats.traps == 1
    warnings = [entry["event"] for entry in logs if entry["log_level"] == "warning"]
    assert warnings == ["trap dropped: the rules are behind"]


async def test_handler_rate_limits_before_decoding() -> None:
    trap_handler, _ = handler(burst=1)
    trap_handler.handle(notification(), PEER, Sent())
    trap_handler.handle(b"junk", PEER, Sent())
    assert trap_handler.stats.rate_limited == 1
    assert trap_handler.stats.malformed == 0


async def test_handler_counts_unexpected_pdu() -> None:
    trap_handler, _ = handler()
    trap_handler.handle(notification(PduType.GET), PEER, Sent())
    assert trap_handler.stats.unexpected_pdus == 1


@pytest.mark.parametrize(("host", "expected"), [
    ("::ffff:192.0.2.10", "192.0.2.10"),
    ("2001:db8::1", "2001:db8::1"),
    ("192.0.2.10", "192.0.2.10"),
])
def test_source_host_normalised(host: str, expected: str) -> None:
    assert source_host((host, 162, 0, 0)) == expected


def test_privileged_port_message_names_remedies() -> None:
    message = _bind_message("0.0.0.0", 162, PermissionError(errno.EACCES, "Permission denied"))
    assert "snmpd-ng-traps.socket" in message
    assert "CAP_NET_BIND_SERVICE" in message


# ---------------------------------------------------------------------------------------------
# The service


@pytest.fixture
async def services() -> AsyncIterator[list[TrapService]]:
    started: list[TrapService] = []
    yield started
    for service in started:
        await service.stop()


def settings_for(port: int, **overrides: Any) -> Any:
    section: dict[str, Any] = {
        "listen": [f"{LOOPBACK_V4}:{port}"], "communities": {"ops": COMMUNITY},
        "rules": [{"name": "DeviceRestarted", "trap": "coldStart", "resolve_after": "1h"}],
    }
    section.update(overrides)
    return build_trap_settings(section, environ={})


async def wait_for_signals(signals: list[RuleSignal], count: int, clock: FakeClock) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while len(signals) < count:
        assert loop.time() < deadline, f"got {signals}"
        await asyncio.sleep(0.005)
        await clock.advance(0)


async def test_service_resolves_after_timeout(services: list[TrapService]) -> None:
    clock = FakeClock()
    signals: list[RuleSignal] = []
    port = free_udp_port()
    service = TrapService(settings_for(port), signals.append, clock=clock, environ={})
    await service.start()
    services.append(service)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(notification(), (LOOPBACK_V4, port))
    await wait_for_signals(signals, 1, clock)
    await clock.advance(3599)
    assert [signal.state for signal in signals] == ["firing"]
    await clock.advance(2)
    assert [signal.state for signal in signals] == ["firing", "resolved"]


async def test_service_survives_failing_submit(services: list[TrapService]) -> None:
    clock = FakeClock()
    received: list[RuleSignal] = []

    def submit(signal: RuleSignal) -> None:
        received.append(signal)
        raise RuntimeError("lifecycle unavailable")

    port = free_udp_port()
    service = TrapService(settings_for(port), submit, clock=clock, environ={})
    await service.start()
    services.append(service)
    with capture_logs() as logs, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(notification(), (LOOPBACK_V4, port))
        await wait_for_signals(received, 1, clock)
        await clock.advance(3601)
    assert [signal.state for signal in received] == ["firing", "resolved"]
    assert [entry["event"] for entry in logs].count("alert signal not accepted") == 2


async def test_service_without_users_has_no_engine(tmp_path: Path,
                                                   services: list[TrapService]) -> None:
    service = TrapService(settings_for(free_udp_port()), print, state_dir=tmp_path,
                          environ={})
    await service.start()
    services.append(service)
    assert service.engine is None
    assert not (tmp_path / ENGINE_FILE_NAME).exists()


async def test_service_with_users_stores_engine(tmp_path: Path,
                                                services: list[TrapService]) -> None:
    users = [{"user": "traps", "auth_protocol": "SHA", "auth_passphrase": "trap-auth-pass-1"}]
    service = TrapService(settings_for(free_udp_port(), users=users), print,
                          state_dir=tmp_path, environ={})
    with capture_logs() as logs:
        await service.start()
    services.append(service)
    assert service.engine is not None
    assert (tmp_path / ENGINE_FILE_NAME).exists()
    started = [entry for entry in logs if entry["event"] == "trap receiver started"]
    assert started[0]["engine_id"] == service.engine.engine_id.hex()


async def test_service_warns_when_boots_not_persisted(services: list[TrapService]) -> None:
    users = [{"user": "traps", "auth_protocol": "SHA", "auth_passphrase": "trap-auth-pass-1"}]
    service = TrapService(settings_for(free_udp_port(), users=users), print, environ={})
    with capture_logs() as logs:
        await service.start()
    services.append(service)
    assert "SNMPv3 engine boots not persisted" in [entry["event"] for entry in logs]


async def test_failed_start_closes_opened_sockets() -> None:
    first = free_udp_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as occupied:
        occupied.bind((LOOPBACK_V4, 0))
        taken = occupied.getsockname()[1]
        settings = settings_for(first, listen=[f"{LOOPBACK_V4}:{first}",
                                               f"{LOOPBACK_V4}:{taken}"])
        service = TrapService(settings, print, environ={})
        with pytest.raises(TrapReceiverError, match=str(taken)):
            await service.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((LOOPBACK_V4, first))


async def test_stop_releases_port(services: list[TrapService]) -> None:
    port = free_udp_port()
    service = TrapService(settings_for(port), print, environ={})
    await service.start()
    await service.stop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((LOOPBACK_V4, port))


async def test_ipv4_and_ipv6_bound_on_one_port(services: list[TrapService]) -> None:
    if not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback on this host")
    port = free_udp_port_on([LOOPBACK_V4, LOOPBACK_V6])
    listen = [f"{LOOPBACK_V4}:{port}", f"[{LOOPBACK_V6}]:{port}"]
    service = TrapService(settings_for(port, listen=listen), print, environ={})
    await service.start()
    services.append(service)
    assert service.addresses == [(LOOPBACK_V4, port), (LOOPBACK_V6, port)]
