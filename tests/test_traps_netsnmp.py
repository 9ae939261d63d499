"""The trap receiver against net-snmp's own snmptrap and snmpinform, on loopback.

Each test starts a `TrapService` on a free port, sends with net-snmp 5.9.3's tools as a device
would, and checks the counters and the signals the trap rules emit. snmpinform exits 0 only
when our Response came back, so its exit status proves the acknowledgement. For SNMPv3 it
first discovers our engine ID from our report.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from agents import (
    LOOPBACK_V4,
    LOOPBACK_V6,
    free_udp_port,
    has_ipv6_loopback,
    netsnmp_address,
    netsnmp_environment,
    skip_unless_installed,
)
from structlog.testing import capture_logs

from snmpd_ng.alerting.rules.model import RuleSignal
from snmpd_ng.alerting.traps import TrapService, TrapStats, build_trap_settings

# Test secrets only.
COMMUNITY = "trap-community-1"
AUTH_PASSPHRASE = "trap-auth-pass-1"
PRIV_PASSPHRASE = "trap-priv-pass-2"
WRONG_PASSPHRASE = "wrong-passphrase-9"
SENDER_ENGINE_ID = "0x8000000001020304"

LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
LINK_UP = "1.3.6.1.6.3.1.1.5.4"
COLD_START = "1.3.6.1.6.3.1.1.5.1"
IF_INDEX_3 = ("1.3.6.1.2.1.2.2.1.1.3", "i", "3")
TOOL_TIMEOUT = 20.0
WAIT_TIMEOUT = 5.0

USERS = [
    {"user": "authuser", "auth_protocol": "SHA", "auth_passphrase": AUTH_PASSPHRASE},
    {"user": "privuser", "auth_protocol": "SHA-256", "auth_passphrase": AUTH_PASSPHRASE,
     "priv_protocol": "AES", "priv_passphrase": PRIV_PASSPHRASE},
    {"user": "desuser", "auth_protocol": "MD5", "auth_passphrase": AUTH_PASSPHRASE,
     "priv_protocol": "DES", "priv_passphrase": PRIV_PASSPHRASE},
    {"user": "ciscouser", "auth_protocol": "SHA", "auth_passphrase": AUTH_PASSPHRASE,
     "priv_protocol": "AES-256-C", "priv_passphrase": PRIV_PASSPHRASE},
]
RULES = [
    {"name": "LinkDown", "trap": "linkDown", "key": ["ifIndex"], "severity": "critical",
     "resolved_by": "linkUp", "annotations": {"summary": "ifIndex {{ labels.ifIndex }} down"}},
    {"name": "DeviceRestarted", "trap": "coldStart", "severity": "info"},
]

# The SNMPv3 options of each configured user, as net-snmp's tools take them.
USER_OPTIONS = {
    "authuser": ["-l", "authNoPriv", "-u", "authuser", "-a", "SHA", "-A", AUTH_PASSPHRASE],
    "privuser": ["-l", "authPriv", "-u", "privuser", "-a", "SHA-256", "-A", AUTH_PASSPHRASE,
                 "-x", "AES", "-X", PRIV_PASSPHRASE],
    "desuser": ["-l", "authPriv", "-u", "desuser", "-a", "MD5", "-A", AUTH_PASSPHRASE,
                "-x", "DES", "-X", PRIV_PASSPHRASE],
    "ciscouser": ["-l", "authPriv", "-u", "ciscouser", "-a", "SHA", "-A", AUTH_PASSPHRASE,
                  "-x", "AES-256-C", "-X", PRIV_PASSPHRASE],
}


class Receiver:
    """A running TrapService, the signals it emitted, and a way to send it traps."""

    def __init__(self, service: TrapService, signals: list[RuleSignal], host: str, port: int,
                 client_dir: Path) -> None:
        self.service = service
        self.signals = signals
        self.host = host
        self.port = port
        self.client_dir = client_dir

    @property
    def address(self) -> str:
        return netsnmp_address(self.host, self.port)

    @property
    def stats(self) -> TrapStats:
        return self.service.stats

    async def tool(self, *arguments: str) -> tuple[int, str]:
        """Run a net-snmp tool; return its exit status and its error output."""
        return await run_tool(self.client_dir, *arguments)

    async def wait_for(self, condition: Callable[[TrapStats], bool]) -> TrapStats:
        """Wait until the counters satisfy `condition`: the loop handles datagrams a moment
        after a tool that sends and exits has returned."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_TIMEOUT
        while not condition(self.stats):
            if loop.time() > deadline:
                raise AssertionError(f"counters never matched; last: {self.stats}")
            await asyncio.sleep(0.01)
        # Let the rules task take the queued events.
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return self.stats


async def run_tool(client_dir: Path, *arguments: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *arguments, env=netsnmp_environment(client_dir), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    _, error = await asyncio.wait_for(process.communicate(), TOOL_TIMEOUT)
    assert process.returncode is not None
    return process.returncode, error.decode(errors="replace")


StartReceiver = Callable[..., Awaitable[Receiver]]


@pytest.fixture
async def start_receiver(tmp_path: Path) -> AsyncIterator[StartReceiver]:
    """Start receivers on free loopback ports; stop them after the test."""
    skip_unless_installed("snmptrap", "snmpinform")
    services: list[TrapService] = []

    async def start(host: str = LOOPBACK_V4, **overrides: Any) -> Receiver:
        port = free_udp_port(host)
        listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        section: dict[str, Any] = {"listen": [listen], "communities": {"ops": COMMUNITY},
                                   "users": USERS, "rules": RULES}
        section.update(overrides)
        signals: list[RuleSignal] = []
        service = TrapService(build_trap_settings(section, environ={}), signals.append,
                              state_dir=tmp_path / "state", environ={})
        (tmp_path / "state").mkdir(exist_ok=True)
        await service.start()
        services.append(service)
        client_dir = tmp_path / "client"
        client_dir.mkdir(exist_ok=True)
        return Receiver(service, signals, host, port, client_dir)

    yield start
    for service in services:
        await service.stop()


def v3_trap(receiver: Receiver, user: str, *trap: str) -> list[str]:
    return ["snmptrap", "-v", "3", "-e", SENDER_ENGINE_ID, *USER_OPTIONS[user],
            receiver.address, "", *trap]


def v3_inform(receiver: Receiver, user: str, *trap: str) -> list[str]:
    return ["snmpinform", "-v", "3", "-t", "2", "-r", "1", *USER_OPTIONS[user],
            receiver.address, "", *trap]


# ---------------------------------------------------------------------------------------------
# SNMPv1 and SNMPv2c


async def test_v1_cold_start_emits_signal(start_receiver: StartReceiver) -> None:
    receiver = await start_receiver()
    status, _ = await receiver.tool("snmptrap", "-v", "1", "-c", COMMUNITY, receiver.address,
                                    "1.3.6.1.4.1.8072", "127.0.0.1", "0", "0", "")
    stats = await receiver.wait_for(lambda stats: stats.traps == 1)
    assert status == 0
    assert stats.by_version == {"1": 1}
    assert [signal.rule for signal in receiver.signals] == ["DeviceRestarted"]


async def test_v2c_link_down_fires(start_receiver: StartReceiver) -> None:
    receiver = await start_receiver()
    await receiver.tool("snmptrap", "-v", "2c", "-c", COMMUNITY, receiver.address, "",
                        LINK_DOWN, *IF_INDEX_3)
    await receiver.wait_for(lambda stats: stats.traps == 1)
    signal = receiver.signals[0]
    assert (signal.rule, signal.state) == ("LinkDown", "firing")
    assert signal.labels["ifIndex"] == "3"
    assert signal.annotations == {"summary": "ifIndex 3 down"}


async def test_v2c_repeat_deduplicated_then_link_up_resolves(
        start_receiver: StartReceiver) -> None:
    receiver = await start_receiver()
    for trap in (LINK_DOWN, LINK_DOWN, LINK_UP):
        await receiver.tool("snmptrap", "-v", "2c", "-c", COMMUNITY, receiver.address, "",
                            trap, *IF_INDEX_3)
    await receiver.wait_for(lambda stats: stats.traps == 3)
    assert [signal.state for signal in receiver.signals] == ["firing", "resolved"]
    assert receiver.service.rules.deduplicated == {"LinkDown": 1}


async def test_v2c_inform_acknowledged(start_receiver: StartReceiver) -> None:
    receiver = await start_receiver()
    status, error = await receiver.tool("snmpinform", "-v", "2c", "-c", COMMUNITY, "-t", "2",
                                        "-r", "1", receiver.address, "", LINK_DOWN,
                                        *IF_INDEX_3)
    assert status == 0, error
    assert receiver.stats.informs_acknowledged == 1


async def test_v2c_wrong_community_dropped(start_receiver: StartReceiver) -> None:
    receiver = await start_receiver()
    await receiver.tool("snmptrap", "-v", "2c", "-c", "not-the-community", receiver.address, "",
                        LINK_DOWN)
    stats = await receiver.wait_for(lambda stats: stats.received == 1)
    assert stats.unauthenticated == {"unknown_community": 1}
    assert stats.traps == 0
    assert receiver.signals == []


async def test_v2c_inform_wrong_community_unanswered(start_receiver: StartReceiver) -> None:
    receiver = await start_receiver()
    status, _ = await receiver.tool("snmpinform", "-v", "2c", "-c", "not-the-community", "-t",
                                    "0.5", "-r", "0", receiver.address, "", LINK_DOWN)
    assert status != 0
    assert receiver.stats.informs_acknowledged == 0


async def test_ipv6_trap_received(start_receiver: StartReceiver) -> None:
    if not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback on this host")
    receiver = await start_receiver(LOOPBACK_V6)
    await receiver.tool("snmptrap", "-v", "2c", "-c", COMMUNITY, receiver.address, "",
                        COLD_START)
    await receiver.wait_for(lambda stats: stats.traps == 1)
    assert receiver.signals[0].labels["source"] == LOOPBACK_V6


# ---------------------------------------------------------------------------------------------
# SNMPv3 traps: the sender's engine ID, given with -e


@pytest.mark.parametrize("user", ["authuser", "privuser", "desuser", "ciscouser"])
async def test_v3_trap_accepted(start_receiver: StartReceiver, user: str) -> None:
    receiver = await start_receiver()
    status, error = await receiver.tool(*v3_trap(receiver, user, LINK_DOWN, *IF_INDEX_3))
    stats = await receiver.wait_for(lambda stats: stats.traps == 1)
    assert status == 0, error
    assert stats.by_version == {"3": 1}
    assert receiver.signals[0].labels["ifIndex"] == "3"


async def test_v3_trap_wrong_digest_dropped(start_receiver: StartReceiver) -> None:
    receiver = await start_receiver()
    await receiver.tool("snmptrap", "-v", "3", "-e", SENDER_ENGINE_ID, "-l", "authNoPriv",
                        "-u", "authuser", "-a", "SHA", "-A", WRONG_PASSPHRASE, receiver.address,
                        "", LINK_DOWN)
    stats = await receiver.wait_for(lambda stats: stats.received == 1)
    assert stats.unauthenticated == {"wrong_digest": 1}
    assert receiver.signals == []


async def test_v3_trap_unknown_user_dropped(start_receiver: StartReceiver) -> None:
    receiver = await start_receiver()
    await receiver.tool("snmptrap", "-v", "3", "-e", SENDER_ENGINE_ID, "-l", "authNoPriv",
                        "-u", "stranger", "-a", "SHA", "-A", AUTH_PASSPHRASE, receiver.address,
                        "", LINK_DOWN)
    stats = await receiver.wait_for(lambda stats: stats.received == 1)
    assert stats.unauthenticated == {"unknown_user_name": 1}


async def test_v3_trap_below_user_level_dropped(start_receiver: StartReceiver) -> None:
    receiver = await start_receiver()
    await receiver.tool("snmptrap", "-v", "3", "-e", SENDER_ENGINE_ID, "-l", "authNoPriv",
                        "-u", "privuser", "-a", "SHA-256", "-A", AUTH_PASSPHRASE,
                        receiver.address, "", LINK_DOWN)
    stats = await receiver.wait_for(lambda stats: stats.received == 1)
    assert stats.unauthenticated == {"unsupported_security_level": 1}


# ---------------------------------------------------------------------------------------------
# SNMPv3 informs: discovery of our engine ID, then the acknowledgement


@pytest.mark.parametrize("user", ["authuser", "privuser", "desuser", "ciscouser"])
async def test_v3_inform_acknowledged(start_receiver: StartReceiver, user: str) -> None:
    receiver = await start_receiver()
    status, error = await receiver.tool(*v3_inform(receiver, user, LINK_DOWN, *IF_INDEX_3))
    assert status == 0, error
    stats = await receiver.wait_for(lambda stats: stats.traps == 1)
    assert stats.informs_acknowledged == 1
    assert stats.discoveries == 1
    assert receiver.signals[0].labels["ifIndex"] == "3"


async def test_v3_inform_wrong_digest_reported(start_receiver: StartReceiver) -> None:
    receiver = await start_receiver()
    status, error = await receiver.tool(
        "snmpinform", "-v", "3", "-t", "2", "-r", "0", "-l", "authNoPriv", "-u", "authuser",
        "-a", "SHA", "-A", WRONG_PASSPHRASE, receiver.address, "", LINK_DOWN)
    assert status != 0
    assert "Authentication failure" in error
    assert receiver.stats.unauthenticated == {"wrong_digest": 1}


async def test_v3_inform_unknown_user_reported(start_receiver: StartReceiver) -> None:
    receiver = await start_receiver()
    status, error = await receiver.tool(
        "snmpinform", "-v", "3", "-t", "2", "-r", "0", "-l", "authNoPriv", "-u", "stranger",
        "-a", "SHA", "-A", AUTH_PASSPHRASE, receiver.address, "", LINK_DOWN)
    assert status != 0
    assert "Unknown user name" in error
    assert receiver.stats.unauthenticated == {"unknown_user_name": 1}


async def test_v3_inform_to_configured_engine_id(start_receiver: StartReceiver) -> None:
    engine_id = "80000000050a0b0c0d0e0f1011"
    receiver = await start_receiver(engine_id=engine_id)
    status, error = await receiver.tool(
        "snmpinform", "-v", "3", "-e", "0x" + engine_id, "-t", "2", "-r", "1",
        *USER_OPTIONS["privuser"], receiver.address, "", COLD_START)
    assert status == 0, error
    assert receiver.stats.informs_acknowledged == 1


async def test_v3_inform_to_other_engine_id_fails(start_receiver: StartReceiver) -> None:
    receiver = await start_receiver()
    status, _ = await receiver.tool(
        "snmpinform", "-v", "3", "-e", "0x80000000050102030405", "-t", "1", "-r", "0",
        *USER_OPTIONS["authuser"], receiver.address, "", COLD_START)
    assert status != 0
    assert receiver.stats.informs_acknowledged == 0
    assert receiver.stats.unauthenticated == {"unknown_engine_id": 1}


# ---------------------------------------------------------------------------------------------
# Malformed datagrams and the rate limit


async def test_malformed_datagrams_counted(start_receiver: StartReceiver) -> None:
    receiver = await start_receiver()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for data in (b"", b"\x30\x03\x02\x01", b"not SNMP at all", b"\x30\x03\x02\x01\x07"):
            sender.sendto(data, (receiver.host, receiver.port))
    stats = await receiver.wait_for(lambda stats: stats.received == 4)
    assert stats.malformed == 4
    assert stats.traps == 0


async def test_malformed_datagram_logged_once_a_minute(start_receiver: StartReceiver) -> None:
    receiver = await start_receiver()
    with capture_logs() as logs:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for _ in range(5):
                sender.sendto(b"junk", (receiver.host, receiver.port))
        await receiver.wait_for(lambda stats: stats.received == 5)
    dropped = [entry for entry in logs if entry["event"] == "trap dropped"]
    assert len(dropped) == 1
    assert dropped[0]["reason"] == "malformed"


async def test_rate_limit_drops_excess(start_receiver: StartReceiver) -> None:
    receiver = await start_receiver(rate_limit={"rate": 0.001, "burst": 2})
    for _ in range(4):
        await receiver.tool("snmptrap", "-v", "2c", "-c", COMMUNITY, receiver.address, "",
                            COLD_START)
    stats = await receiver.wait_for(lambda stats: stats.received == 4)
    assert stats.rate_limited == 2
    assert stats.traps == 2


async def test_logs_never_show_secrets(start_receiver: StartReceiver) -> None:
    receiver = await start_receiver()
    with capture_logs() as logs:
        await receiver.tool("snmptrap", "-v", "2c", "-c", "wrong-community-7", receiver.address,
                            "", LINK_DOWN)
        await receiver.tool("snmpinform", "-v", "3", "-t", "1", "-r", "0", "-l", "authPriv",
                            "-u", "privuser", "-a", "SHA-256", "-A", WRONG_PASSPHRASE, "-x",
                            "AES", "-X", WRONG_PASSPHRASE, receiver.address, "", LINK_DOWN)
        await receiver.wait_for(lambda stats: sum(stats.unauthenticated.values()) == 2)
    text = repr(logs)
    for secret in (COMMUNITY, "wrong-community-7", AUTH_PASSPHRASE, PRIV_PASSPHRASE,
                   WRONG_PASSPHRASE):
        assert secret not in text
