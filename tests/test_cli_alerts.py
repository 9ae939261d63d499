"""`snmpd-ng alerts` run in-process against the alerts API on a real aiohttp server on loopback."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alert_api_helpers import CORE1, CORE2_CPU, GROUP, ApiServer, serving
from alerting_helpers import signal
from daemon_helpers import default_logging, write_self_signed_certificate
from prometheus_client import CollectorRegistry

from snmpd_ng.alerting.lifecycle import AlertState
from snmpd_ng.cli import alerts as cli
from snmpd_ng.cli.main import main
from snmpd_ng.config.model import BasicAuthConfig, TlsConfig
from snmpd_ng.http.app import HttpState, build_app
from snmpd_ng.http.health import Heartbeat
from snmpd_ng.http.metrics import DaemonStats
from snmpd_ng.http.server import create_ssl_context
from snmpd_ng.secret import Secret

pytestmark = pytest.mark.usefixtures(default_logging.__name__)

PASSWORD = "basic-password-c41d"


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[ApiServer]:
    async with serving(tmp_path) as server:
        yield server


async def run(served: ApiServer, *words: str, token: bool = True) -> Run:
    """Run `snmpd-ng alerts WORDS --url ...`, with the token file unless `token` is False."""
    argv = [*words, "--url", served.url]
    if token:
        argv += ["--token-file", str(served.token_file)]
    return await run_argv(argv)


async def run_argv(argv: list[str]) -> Run:
    out, err = io.StringIO(), io.StringIO()
    code = await cli.run_alerts(argv, cli.Streams(out, err))
    return Run(code, out.getvalue(), err.getvalue())


def closed_port() -> int:
    """Return a loopback TCP port that nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TestList:
    async def test_table_lists_alerts(self, served: ApiServer) -> None:
        await served.fire_two()
        result = await run(served, "list")
        lines = result.out.splitlines()

        assert result.code == 0
        assert lines[0].split() == ["FINGERPRINT", "STATE", "SEVERITY", "RULE", "TARGET",
                                    "SINCE", "MUTED", "SUMMARY"]
        assert len(lines) == 3
        assert any(line.startswith(CORE1[:12]) and "LinkDown" in line for line in lines)

    async def test_json_output(self, served: ApiServer) -> None:
        await served.fire_two()
        result = await run(served, "list", "--json", "--severity", "warning")
        document = result.json()

        assert result.code == 0
        assert isinstance(document, dict)
        assert [alert["fingerprint"] for alert in document["alerts"]] == [CORE2_CPU]

    async def test_filter_and_target(self, served: ApiServer) -> None:
        await served.fire_two()
        result = await run(served, "list", "--filter", 'rule=~"Link.*"', "--target", "core1")

        assert result.code == 0
        assert CORE1[:12] in result.out
        assert CORE2_CPU[:12] not in result.out

    async def test_no_match_says_so(self, served: ApiServer) -> None:
        result = await run(served, "list")

        assert result.code == 0
        assert result.out == "No alerts match.\n"

    async def test_bad_matcher_exits_1(self, served: ApiServer) -> None:
        result = await run(served, "list", "--filter", "=x")

        assert result.code == cli.EXIT_API_ERROR
        assert "invalid query parameter filter" in result.err
        assert "(HTTP 400)" in result.err


class TestShow:
    async def test_shows_alert_by_prefix(self, served: ApiServer) -> None:
        await served.fire()
        result = await run(served, "show", CORE1[:12])

        assert result.code == 0
        assert f"fingerprint   {CORE1}" in result.out
        assert "  target=core1" in result.out
        assert "  summary: LinkDown on core1" in result.out

    async def test_unknown_exits_3(self, served: ApiServer) -> None:
        result = await run(served, "show", "0" * 12)

        assert result.code == cli.EXIT_NOT_FOUND
        assert "no alert with fingerprint" in result.err


class TestAck:
    async def test_ack_acknowledges(self, served: ApiServer) -> None:
        await served.fire()
        result = await run(served, "ack", CORE1[:12], "-m", "on it", "--by", "alice")
        alert = served.service.alerts()[0]

        assert result.code == 0
        assert result.out.startswith(f"Acknowledged 1 alert: {CORE1[:12]} LinkDown on core1")
        assert alert.state is AlertState.ACKNOWLEDGED
        assert alert.acknowledged_by == "alice"
        assert alert.ack_comment == "on it"

    async def test_partial_ack_says_escalation_continues(self, served: ApiServer) -> None:
        served.service.submit(signal(at=served.clock.wall(), target="core1", ifName="Gi0/2"))
        await served.fire()
        result = await run(served, "ack", CORE1, "--by", "alice")

        assert result.code == 0
        assert (f"Group {GROUP}: 1 alert still unacknowledged, escalation continues."
                in result.out)

    async def test_last_ack_says_escalation_stopped(self, served: ApiServer) -> None:
        await served.fire()
        result = await run(served, "ack", CORE1, "--by", "alice")

        assert f"Group {GROUP}: every alert acknowledged, escalation stopped." in result.out

    async def test_ack_group_acknowledges_all(self, served: ApiServer) -> None:
        served.service.submit(signal(at=served.clock.wall(), target="core1", ifName="Gi0/2"))
        await served.fire()
        result = await run(served, "ack-group", GROUP, "--by", "alice")

        assert result.code == 0
        assert result.out.startswith("Acknowledged 2 alerts.\n")
        assert f"Group {GROUP}: every alert acknowledged, escalation stopped." in result.out

    async def test_ack_twice_says_already(self, served: ApiServer) -> None:
        await served.fire()
        await run(served, "ack", CORE1, "--by", "alice")
        result = await run(served, "ack", CORE1, "--by", "bob")

        assert result.code == 0
        assert "already acknowledged" in result.out

    async def test_ack_without_token_file_exits_2(self, served: ApiServer) -> None:
        await served.fire()
        result = await run(served, "ack", CORE1, "--by", "alice", token=False)

        assert result.code == cli.EXIT_USAGE
        assert "--token-file" in result.err
        assert served.service.alerts()[0].state is AlertState.FIRING

    async def test_wrong_token_exits_4(self, served: ApiServer, tmp_path: Path) -> None:
        await served.fire()
        wrong = tmp_path / "wrong-token"
        wrong.write_text("not-the-token\n", encoding="utf-8")
        result = await run_argv(["ack", CORE1, "--by", "alice", "--url", served.url,
                                 "--token-file", str(wrong)])

        assert result.code == cli.EXIT_AUTH
        assert "wrong bearer token" in result.err
        assert "not-the-token" not in result.err

    async def test_missing_token_file_exits_2(self, served: ApiServer, tmp_path: Path) -> None:
        result = await run_argv(["ack", CORE1, "--by", "a", "--url", served.url,
                                 "--token-file", str(tmp_path / "absent")])

        assert result.code == cli.EXIT_USAGE
        assert "cannot read the token file" in result.err

    async def test_ack_stops_tier_two(self, served: ApiServer) -> None:
        await served.fire()
        await run(served, "ack", CORE1, "--by", "alice")
        await served.step(20 * 60)

        assert served.fakes["pager"].calls == []


class TestSilences:
    async def test_silence_list_expire(self, served: ApiServer) -> None:
        await served.fire()
        created = await run(served, "silence", 'target="core1"', 'ifName=~"Gi.*"',
                            "-m", "maintenance", "--duration", "2h", "--by", "bob")
        silence_id = served.service.silences()[0].id
        listed = await run(served, "silences")
        expired = await run(served, "expire", silence_id[:12], "--by", "bob")
        after = await run(served, "silences")
        with_expired = await run(served, "silences", "--all")

        assert created.code == 0
        assert created.out.startswith(f"Silence {silence_id[:12]} created: ")
        assert listed.code == 0
        assert silence_id[:12] in listed.out
        assert "active" in listed.out
        assert expired.code == 0
        assert "expired" in expired.out
        assert after.out == "No silences match.\n"
        assert silence_id[:12] in with_expired.out

    async def test_silence_needs_comment(self, served: ApiServer) -> None:
        result = await run(served, "silence", 'target="core1"')

        assert result.code == cli.EXIT_USAGE
        assert "--comment" in result.err

    async def test_silence_with_end_time(self, served: ApiServer) -> None:
        end = served.clock.wall() + 600
        result = await run(served, "silence", 'target="core1"', "-m", "c", "--by", "bob",
                           "--ends-at", str(end), "--json")
        document = result.json()

        assert result.code == 0
        assert isinstance(document, dict)
        assert document["silence"]["ends_at"] == end

    async def test_expire_unknown_exits_3(self, served: ApiServer) -> None:
        result = await run(served, "expire", "ab" * 6, "--by", "bob")

        assert result.code == cli.EXIT_NOT_FOUND


class TestHistory:
    async def test_alert_history(self, served: ApiServer) -> None:
        await served.fire()
        await run(served, "ack", CORE1, "--by", "alice")
        result = await run(served, "history", CORE1[:12])
        kinds = [line.split()[3] for line in result.out.splitlines()[1:]]

        assert result.code == 0
        assert kinds[0] == "alert.firing"
        assert "alert.acknowledged" in kinds

    async def test_whole_history_pages(self, served: ApiServer) -> None:
        await served.fire_two()
        result = await run(served, "history", "--limit", "2")

        assert result.code == 0
        assert len(result.out.splitlines()) == 3
        assert result.err.startswith("More entries: add --before ")

    async def test_before_with_fingerprint_exits_2(self, served: ApiServer) -> None:
        result = await run(served, "history", CORE1, "--before", "3")

        assert result.code == cli.EXIT_USAGE


class TestConnection:
    async def test_refused_exits_5(self) -> None:
        result = await run_argv(["list", "--url", f"http://127.0.0.1:{closed_port()}"])

        assert result.code == cli.EXIT_UNREACHABLE
        assert "cannot reach the daemon" in result.err

    async def test_usage_error_exits_2(self) -> None:
        result = await run_argv(["frobnicate"])

        assert result.code == cli.EXIT_USAGE

    async def test_main_dispatches_alerts(self, served: ApiServer,
                                          capsys: pytest.CaptureFixture[str]) -> None:
        await served.fire()
        # main() runs its own event loop, so it runs in a thread while this loop serves.
        code = await asyncio.to_thread(main, ["alerts", "list", "--url", served.url])

        assert code == 0
        assert CORE1[:12] in capsys.readouterr().out


class TestBasicAuth:
    @pytest.fixture
    async def protected(self, tmp_path: Path) -> AsyncIterator[ApiServer]:
        state = HttpState(registry=CollectorRegistry(), heartbeat=Heartbeat(5.0, time.monotonic),
                          is_ready=lambda: True, stats=DaemonStats(),
                          basic_auth=BasicAuthConfig(username="ops", password=Secret(PASSWORD)))
        async with serving(tmp_path, lambda: build_app(state)) as server:
            yield server

    async def test_credentials_accepted(self, protected: ApiServer, tmp_path: Path) -> None:
        password_file = tmp_path / "password"
        password_file.write_text(PASSWORD, encoding="utf-8")
        result = await run(protected, "list", "--user", "ops", "--password-file",
                           str(password_file), token=False)

        assert result.code == 0

    async def test_without_credentials_exits_4(self, protected: ApiServer) -> None:
        result = await run(protected, "list", token=False)

        assert result.code == cli.EXIT_AUTH
        assert "401 Unauthorized" in result.err

    async def test_user_without_password_exits_2(self, protected: ApiServer) -> None:
        result = await run(protected, "list", "--user", "ops", token=False)

        assert result.code == cli.EXIT_USAGE
        assert "--password-file" in result.err


class TestTls:
    @pytest.fixture
    async def tls(self, tmp_path: Path) -> AsyncIterator[tuple[ApiServer, Path]]:
        cert, key = write_self_signed_certificate(tmp_path)
        context = create_ssl_context(TlsConfig(cert_file=str(cert), key_file=str(key)))
        async with serving(tmp_path, tls=context) as server:
            yield server, cert

    async def test_cacert_verifies(self, tls: tuple[ApiServer, Path]) -> None:
        served, cert = tls
        result = await run(served, "list", "--cacert", str(cert))

        assert served.url.startswith("https://")
        assert result.code == 0

    async def test_unknown_issuer_exits_5(self, tls: tuple[ApiServer, Path]) -> None:
        served, _ = tls
        result = await run(served, "list")

        assert result.code == cli.EXIT_UNREACHABLE
        assert "certificate" in result.err.lower()

    async def test_insecure_skips_verification(self, tls: tuple[ApiServer, Path]) -> None:
        served, _ = tls
        result = await run(served, "list", "--insecure")

        assert result.code == 0

