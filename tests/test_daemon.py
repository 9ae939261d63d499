"""Tests of the daemon's lifecycle with stand-ins for the manager and the polling service."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import FakeManager, FakePolling, default_logging, fetch
from structlog.testing import capture_logs

from snmpd_ng import daemon as daemon_module
from snmpd_ng.cli.main import main as snmpd_ng_main
from snmpd_ng.config.model import DaemonConfig
from snmpd_ng.daemon import Daemon, DaemonOptions, StartError, cli_check_config, cli_run
from snmpd_ng.logging import LogFormat, configure_logging
from snmpd_ng.systemd import SystemdNotifier

pytestmark = pytest.mark.usefixtures(default_logging.__name__)

COMMUNITY = "daemon-test-secret-0d4e"

CONFIG = """\
credentials:
  lab:
    community: {community}
defaults: {{credentials: lab, jobs: [system]}}
jobs:
  system:
    interval: {interval}
    scalars: [sysUpTime]
targets:
  - {{name: agent, address: 127.0.0.1, port: 1161}}
http:
  listen: ["127.0.0.1:0"]
"""


def write_config(path: Path, interval: str = "30s", extra: str = "") -> Path:
    path.write_text(CONFIG.format(community=COMMUNITY, interval=interval) + extra)
    return path


@dataclass
class Harness:
    """A daemon with stand-ins, and what they recorded."""

    daemon: Daemon
    config_path: Path
    calls: list[str] = field(default_factory=list)
    pollings: list[FakePolling] = field(default_factory=list)

    @property
    def polling(self) -> FakePolling:
        return self.pollings[-1]

    def url(self, path: str) -> str:
        host, port = self.daemon.http_addresses[0]
        return f"http://{host}:{port}{path}"

    async def get(self, path: str) -> Any:
        return await asyncio.to_thread(fetch, self.url(path))


def make_harness(
    config_path: Path,
    environ: dict[str, str] | None = None,
    *,
    fail_start: bool = False,
    notifier: SystemdNotifier | None = None,
    log_flags: bool = True,
) -> Harness:
    """Build a daemon with stand-ins; `log_flags` gives --log-level and --log-format, which
    override the config's logging section."""
    calls: list[str] = []
    pollings: list[FakePolling] = []

    def polling_factory(config: DaemonConfig, manager: object) -> FakePolling:
        polling = FakePolling(config, manager, calls=calls, fail_start=fail_start)
        pollings.append(polling)
        return polling

    daemon = Daemon(
        DaemonOptions(str(config_path), log_level="debug", log_format="json")
        if log_flags
        else DaemonOptions(str(config_path)),
        environ=environ or {},
        manager_factory=lambda: FakeManager(calls),
        polling_factory=polling_factory,
        notifier=notifier or SystemdNotifier({}),
    )
    return Harness(daemon, config_path, calls, pollings)


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return make_harness(write_config(tmp_path / "config.yaml"))


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    try:
        yield sock, path
    finally:
        sock.close()


def drain(sock: socket.socket) -> list[str]:
    """Return the first line of every datagram waiting on `sock`."""
    messages = []
    while True:
        try:
            messages.append(sock.recv(4096).decode().splitlines()[0])
        except BlockingIOError:
            return messages


class TestStartAndStop:
    async def test_start_order(self, harness: Harness) -> None:
        await harness.daemon.start()
        try:
            assert harness.calls == ["manager.open", "polling.start"]
            assert (await harness.get("/metrics")).status == 200
        finally:
            await harness.daemon.stop()

    async def test_stop_order_http_polling_manager(self, harness: Harness) -> None:
        await harness.daemon.start()
        url = harness.url("/healthz")
        http_open_during_polling_stop: list[bool] = []

        async def probe_http() -> None:
            try:
                await asyncio.to_thread(fetch, url, None, None, 1.0)
                http_open_during_polling_stop.append(True)
            except OSError:
                http_open_during_polling_stop.append(False)

        harness.polling.on_stop = probe_http
        await harness.daemon.stop()

        assert http_open_during_polling_stop == [False]
        assert harness.calls[-2:] == ["polling.stop", "manager.close"]

    async def test_stop_twice_is_harmless(self, harness: Harness) -> None:
        await harness.daemon.start()

        await harness.daemon.stop()
        await harness.daemon.stop()

        assert harness.calls.count("manager.close") == 1

    async def test_invalid_config_starts_nothing(self, tmp_path: Path) -> None:
        path = tmp_path / "config.yaml"
        path.write_text("targets: []\n")
        harness = make_harness(path)

        with pytest.raises(StartError, match="missing required key 'jobs'"):
            await harness.daemon.start()

        assert harness.calls == []

    async def test_failed_polling_start_closes_manager(self, tmp_path: Path) -> None:
        harness = make_harness(write_config(tmp_path / "config.yaml"), fail_start=True)

        with pytest.raises(RuntimeError, match="stand-in polling failed to start"):
            await harness.daemon.start()

        assert harness.calls == ["manager.open", "polling.start", "polling.stop", "manager.close"]

    async def test_busy_http_port_stops_polling(self, tmp_path: Path) -> None:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            config = write_config(tmp_path / "config.yaml")
            config.write_text(config.read_text().replace("127.0.0.1:0", f"127.0.0.1:{port}"))
            harness = make_harness(config)

            with pytest.raises(StartError, match=f"cannot listen on 127.0.0.1:{port}"):
                await harness.daemon.start()

        assert harness.calls == ["manager.open", "polling.start", "polling.stop", "manager.close"]

    async def test_run_returns_1_on_start_failure(self, tmp_path: Path) -> None:
        harness = make_harness(tmp_path / "absent.yaml")

        with capture_logs() as logs:
            status = await harness.daemon.run()

        assert status == 1
        assert any(entry["event"] == "daemon start failed" for entry in logs)

    async def test_start_failure_lists_config_errors(self, tmp_path: Path) -> None:
        path = write_config(tmp_path / "config.yaml", interval="soon")
        path.write_text(path.read_text().replace("port: 1161", "port: 99999"))
        harness = make_harness(path)

        with capture_logs() as logs:
            await harness.daemon.run()

        failed = [entry for entry in logs if entry["event"] == "daemon start failed"]
        assert failed[0]["errors"][0] == f"{path}: 2 errors in the configuration"
        assert "jobs.system.interval: invalid duration 'soon'" in failed[0]["errors"][1]
        assert "targets[0].port: invalid value 99999" in failed[0]["errors"][2]

    async def test_start_failure_prints_one_error_per_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = write_config(tmp_path / "config.yaml", interval="soon")
        configure_logging("info", "console")
        harness = make_harness(path, log_flags=False)

        await harness.daemon.run()

        lines = capsys.readouterr().err.splitlines()
        assert "daemon start failed" in lines[0]
        assert lines[1] == f"    {path}: 1 error in the configuration"
        assert lines[2].startswith(f"    {path}:7: jobs.system.interval: invalid duration 'soon'")

    async def test_start_line_shows_listen_addresses_once(self, harness: Harness) -> None:
        with capture_logs() as logs:
            await harness.daemon.start()
            await harness.daemon.stop()

        listen = next(entry for entry in logs if entry["event"] == "daemon started")["listen"]
        listening = next(entry for entry in logs if entry["event"] == "http server listening")
        assert listen[0].startswith("127.0.0.1:")
        assert listen[0] != "127.0.0.1:0"
        assert "addresses" not in listening

    async def test_start_logs_config_warnings(self, tmp_path: Path) -> None:
        harness = make_harness(write_config(tmp_path / "config.yaml", interval="5s"))

        with capture_logs() as logs:
            await harness.daemon.start()
            await harness.daemon.stop()

        warnings = [entry for entry in logs if entry["event"] == "config warning"]
        assert len(warnings) == 1
        assert ": warning: targets[0]: one request may wait 6 s" in warnings[0]["warning"]

    async def test_sigterm_stops_run_quickly(self, harness: Harness) -> None:
        task = asyncio.create_task(harness.daemon.run())
        async with asyncio.timeout(5):
            await harness.daemon.wait_started()

        os.kill(os.getpid(), signal.SIGTERM)
        async with asyncio.timeout(5):
            status = await task

        assert status == 0
        assert harness.calls[-1] == "manager.close"

    async def test_slow_stop_step_is_bounded(
        self, harness: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(daemon_module, "STOP_STEP_TIMEOUT", 0.2)
        await harness.daemon.start()

        async def hang() -> None:
            await asyncio.sleep(60)

        harness.polling.on_stop = hang
        with capture_logs() as logs:
            async with asyncio.timeout(5):
                await harness.daemon.stop()

        assert harness.calls[-1] == "manager.close"
        assert any(entry["event"] == "stop step timed out" for entry in logs)


def notified_harness(tmp_path: Path, socket_path: str) -> Harness:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": socket_path})
    return make_harness(write_config(tmp_path / "config.yaml"), notifier=notifier)


def line_formats(text: str) -> list[str]:
    """Name the format of each log line: "json" for a JSON object, else "console"."""
    return ["json" if line.startswith("{") else "console" for line in text.splitlines()
            if not line.startswith(" ")]


def console_config_harness(tmp_path: Path, command_line_format: LogFormat = "console") -> Harness:
    """A harness whose config asks for console logs, after `snmpd-ng run` set up logging in
    `command_line_format` (it does before it reads the config)."""
    path = write_config(tmp_path / "config.yaml", extra="logging: {format: console}\n")
    configure_logging("info", command_line_format)
    return make_harness(path, log_flags=False)


class TestLogFormat:
    async def test_config_format_applies_from_first_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        harness = console_config_harness(tmp_path, command_line_format="json")

        await harness.daemon.start()
        await harness.daemon.stop()

        text = capsys.readouterr().err
        assert "daemon starting" in text.splitlines()[0]
        assert set(line_formats(text)) == {"console"}

    async def test_reload_switches_format_before_applying(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        harness = console_config_harness(tmp_path)
        await harness.daemon.start()
        try:
            capsys.readouterr()
            write_config(harness.config_path, extra="logging: {format: json}\n")

            await harness.daemon.reload()

            lines = capsys.readouterr().err.splitlines()
        finally:
            await harness.daemon.stop()
        assert "config reload started" in lines[0]
        assert line_formats("\n".join(lines)) == ["console", "json", "json"]
        assert [json.loads(line)["event"] for line in lines[1:]] == [
            "polling reloaded", "config reloaded"]

    async def test_failed_reload_logs_in_previous_format(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        harness = console_config_harness(tmp_path)
        await harness.daemon.start()
        try:
            harness.polling.fail_reload = True
            write_config(harness.config_path, extra="logging: {format: json}\n")
            capsys.readouterr()

            await harness.daemon.reload()

            text = capsys.readouterr().err
        finally:
            await harness.daemon.stop()
        assert "config reload failed" in text
        assert set(line_formats(text)) == {"console"}


class TestNotifications:
    async def test_ready_after_http_and_polling(
        self, tmp_path: Path, notify_socket: tuple[socket.socket, str]
    ) -> None:
        sock, path = notify_socket
        harness = notified_harness(tmp_path, path)

        await harness.daemon.start()
        try:
            assert drain(sock) == ["READY=1"]
            assert "polling.start" in harness.calls
        finally:
            await harness.daemon.stop()
        assert drain(sock) == ["STOPPING=1"]

    async def test_reload_is_wrapped_in_reloading_ready(
        self, tmp_path: Path, notify_socket: tuple[socket.socket, str]
    ) -> None:
        sock, path = notify_socket
        harness = notified_harness(tmp_path, path)
        await harness.daemon.start()
        drain(sock)
        try:
            await harness.daemon.reload()
            assert drain(sock) == ["RELOADING=1", "READY=1"]
        finally:
            await harness.daemon.stop()

    async def test_watchdog_pings_at_half_timeout(
        self, tmp_path: Path, notify_socket: tuple[socket.socket, str]
    ) -> None:
        sock, path = notify_socket
        environ = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"}
        harness = make_harness(
            write_config(tmp_path / "config.yaml"), environ, notifier=SystemdNotifier(environ)
        )
        await harness.daemon.start()
        try:
            await asyncio.sleep(0.35)
            pings = drain(sock).count("WATCHDOG=1")
            health = await harness.get("/healthz")
        finally:
            await harness.daemon.stop()

        assert 3 <= pings <= 5  # at 0, 0.1, 0.2 and 0.3 s
        assert health.status == 200


class TestReload:
    async def test_reload_applies_new_config(self, harness: Harness) -> None:
        await harness.daemon.start()
        try:
            write_config(harness.config_path, interval="45s")

            applied = await harness.daemon.reload()

            assert applied
            assert harness.polling.reloaded[0].targets[0].jobs[0].interval == 45.0
            assert harness.daemon.stats.reloads_succeeded == 1
        finally:
            await harness.daemon.stop()

    async def test_bad_reload_keeps_old_config(self, harness: Harness) -> None:
        await harness.daemon.start()
        try:
            old = harness.daemon.config
            write_config(harness.config_path, interval="soon")

            with capture_logs() as logs:
                applied = await harness.daemon.reload()

            assert not applied
            assert harness.daemon.config is old
            assert harness.polling.reloaded == []
            assert harness.daemon.stats.reloads_failed == 1
            rejected = [e for e in logs if e["event"].startswith("config reload rejected")]
            assert "invalid duration 'soon'" in "\n".join(rejected[0]["errors"])
        finally:
            await harness.daemon.stop()

    async def test_bad_reload_shows_in_metrics(self, harness: Harness) -> None:
        await harness.daemon.start()
        try:
            write_config(harness.config_path, interval="soon")
            await harness.daemon.reload()

            body = (await harness.get("/metrics")).body

            assert "snmpd_ng_config_last_reload_successful 0.0" in body
            assert 'snmpd_ng_config_reloads_total{result="failure"} 1.0' in body
        finally:
            await harness.daemon.stop()

    async def test_failed_polling_reload_keeps_old_config(self, harness: Harness) -> None:
        await harness.daemon.start()
        try:
            old = harness.daemon.config
            harness.polling.fail_reload = True

            applied = await harness.daemon.reload()

            assert not applied
            assert harness.daemon.config is old
        finally:
            await harness.daemon.stop()

    async def test_sighup_reloads(self, harness: Harness) -> None:
        task = asyncio.create_task(harness.daemon.run())
        async with asyncio.timeout(5):
            await harness.daemon.wait_started()
        write_config(harness.config_path, interval="50s")

        os.kill(os.getpid(), signal.SIGHUP)
        async with asyncio.timeout(5):
            await harness.polling.reload_done.wait()
        harness.daemon.request_stop()
        await task

        assert harness.polling.reloaded[0].targets[0].jobs[0].interval == 50.0

    async def test_reload_changes_basic_auth(self, harness: Harness) -> None:
        await harness.daemon.start()
        try:
            auth = "  basic_auth: {username: u, password: {env: PW}}\n"
            text = harness.config_path.read_text()
            harness.config_path.write_text(text + auth)
            harness.daemon._environ = {"PW": "pw"}  # the variable appears before the reload

            await harness.daemon.reload()

            assert (await harness.get("/metrics")).status == 401
        finally:
            await harness.daemon.stop()

    async def test_reload_names_listen_change(self, harness: Harness) -> None:
        await harness.daemon.start()
        try:
            text = harness.config_path.read_text()
            two_addresses = text.replace('"127.0.0.1:0"', '"127.0.0.1:0", "[::1]:0"')
            harness.config_path.write_text(two_addresses)

            with capture_logs() as logs:
                await harness.daemon.reload()
        finally:
            await harness.daemon.stop()

        warnings = [entry for entry in logs if "restart snmpd-ng to apply" in entry["event"]]
        assert warnings[0]["changed"] == ["listen"]

    async def test_readyz_needs_polling_ready(self, harness: Harness) -> None:
        await harness.daemon.start()
        try:
            before = (await harness.get("/readyz")).status
            harness.polling.ready = True
            after = (await harness.get("/readyz")).status
        finally:
            await harness.daemon.stop()

        assert before == 503
        assert after == 200


class TestStateDir:
    async def test_config_state_dir_is_created(self, tmp_path: Path) -> None:
        state = tmp_path / "state" / "nested"
        harness = make_harness(
            write_config(tmp_path / "config.yaml", extra=f"state_dir: {state}\n")
        )

        await harness.daemon.start()
        await harness.daemon.stop()

        assert state.is_dir()
        assert list(state.iterdir()) == []

    async def test_systemd_state_directory_wins(self, tmp_path: Path) -> None:
        from_systemd = tmp_path / "systemd-state"
        harness = make_harness(
            write_config(tmp_path / "config.yaml", extra=f"state_dir: {tmp_path / 'conf'}\n"),
            {"STATE_DIRECTORY": str(from_systemd)},
        )

        await harness.daemon.start()
        await harness.daemon.stop()

        assert from_systemd.is_dir()
        assert not (tmp_path / "conf").exists()

    async def test_unwritable_state_dir_fails_start(self, tmp_path: Path) -> None:
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        harness = make_harness(
            write_config(tmp_path / "config.yaml", extra=f"state_dir: {blocker / 'state'}\n")
        )

        with pytest.raises(StartError, match="is not writable"):
            await harness.daemon.start()

        assert harness.calls == []


class TestCommandLine:
    def test_check_config_valid_prints_summary(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = write_config(tmp_path / "config.yaml")

        status = cli_check_config([str(path)])

        output = capsys.readouterr()
        assert status == 0
        assert "targets: 1 (agent)" in output.out
        assert COMMUNITY not in output.out + output.err

    def test_check_config_invalid_exits_1(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = write_config(tmp_path / "config.yaml", interval="soon")

        status = cli_check_config([str(path)])

        assert status == 1
        assert "invalid duration 'soon'" in capsys.readouterr().err

    def test_check_config_missing_file_exits_2(self, tmp_path: Path) -> None:
        assert cli_check_config([str(tmp_path / "absent.yaml")]) == 2

    def test_check_config_without_file_exits_2(self) -> None:
        assert cli_check_config([]) == 2

    def test_run_without_config_exits_2(self) -> None:
        assert cli_run([]) == 2

    def test_run_help_exits_0(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert cli_run(["--help"]) == 0
        assert "--log-format" in capsys.readouterr().out

    def test_run_help_explains_c_option(self, capsys: pytest.CaptureFixture[str]) -> None:
        cli_run(["--help"])

        help_text = " ".join(capsys.readouterr().out.split())
        assert "Here -c is short for --config" in help_text
        assert "where -c is the community" in help_text

    def test_no_command_prints_usage_and_exits_2(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        status = snmpd_ng_main([])

        output = capsys.readouterr()
        assert status == 2
        assert output.err.startswith("usage: snmpd-ng COMMAND")
        assert output.out == ""

    def test_run_with_invalid_config_exits_1(self, tmp_path: Path) -> None:
        path = tmp_path / "config.yaml"
        path.write_text(textwrap.dedent("targets: []\n"))

        assert cli_run(["--config", str(path), "--log-format", "json"]) == 1
