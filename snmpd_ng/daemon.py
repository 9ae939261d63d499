"""The polling daemon: `snmpd-ng run` and `snmpd-ng check-config`.

`Daemon` owns the one event loop's services and their order. Start: config, state directory,
watchdog task, manager, the alert service, the alerting rules and the trap receiver (when the
config has an `alerting:` section), polling, HTTP, then READY=1. Stop (SIGTERM or SIGINT):
STOPPING=1, HTTP stops accepting, polling stops, the trap receiver and the rules stop, the
alert service writes what is queued and closes its channels, the manager closes, the watchdog
task ends. Each stop step is bounded in
time and runs even when an earlier one failed, and a start that failed half-way stops only
what it started. SIGHUP reloads the config; a rejected config leaves the running one in place.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import structlog
import uvloop
from prometheus_client.registry import Collector

from snmpd_ng.alerting.runtime import Alerting
from snmpd_ng.clock import LoopClock
from snmpd_ng.cluster.node_id import NodeIdError
from snmpd_ng.config.errors import ConfigError
from snmpd_ng.config.loader import check_config_file, format_warnings, load_config
from snmpd_ng.config.model import DaemonConfig, ManagerConfig
from snmpd_ng.daemon_alerting import (
    ALERTING_START_ERRORS,
    add_alert_api,
    reload_alert_api,
    target_names,
    warn_if_traps_changed,
)
from snmpd_ng.http.alerts import AlertApi
from snmpd_ng.http.app import HttpState, build_app
from snmpd_ng.http.health import Heartbeat
from snmpd_ng.http.metrics import DaemonCollector, DaemonStats, build_registry
from snmpd_ng.http.server import (
    HttpServer,
    HttpStartError,
    create_ssl_context,
    format_listen_address,
    load_certificate,
)
from snmpd_ng.logging import LogFormat, LogLevel, configure_logging
from snmpd_ng.metrics.naming import CounterNaming
from snmpd_ng.polling.queues import ResultBus
from snmpd_ng.polling.result import PollResult
from snmpd_ng.state_dir import StateDirError, choose_state_dir, prepare_state_dir
from snmpd_ng.systemd import SystemdNotifier

if TYPE_CHECKING:
    from snmpd_ng.daemon_cluster import ClusterRuntime
    from snmpd_ng.daemon_cluster_alerting import ClusterAlerting

log = structlog.get_logger("snmpd_ng.daemon")

HEARTBEAT_INTERVAL = 1.0
"""Seconds between heartbeats when systemd's watchdog is off; with it on, half its timeout."""
STOP_STEP_TIMEOUT = 3.0
"""Seconds each stop step (HTTP, polling, rules, alerting, manager) may take before the next
one runs."""
COUNTER_NAMING: CounterNaming = "object"
"""The names of SNMP counters, on /metrics and in the alerting rules alike."""


class PollingLike(Protocol):
    """The polling service as the daemon uses it (snmpd_ng.polling.service.PollingService)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def reload(self, config: DaemonConfig) -> None: ...

    def is_ready(self) -> bool: ...

    def collector(self) -> Collector: ...

    @property
    def bus(self) -> ResultBus[PollResult]:
        """The result bus, to which the alerting rules subscribe."""
        ...


ManagerFactory = Callable[[], AbstractAsyncContextManager[Any]]
PollingFactory = Callable[..., PollingLike]
"""Called with the config and the manager, and in cluster mode with the keyword arguments of
`ClusterRuntime.polling_options`."""


def _default_manager(settings: ManagerConfig) -> AbstractAsyncContextManager[Any]:
    from snmpd_ng.manager import Manager

    return Manager(receive_buffer_size=settings.receive_buffer_size,
                   send_buffer_size=settings.send_buffer_size)


def _default_polling(config: DaemonConfig, manager: Any, **cluster: Any) -> PollingLike:
    from snmpd_ng.polling.service import PollingService

    return PollingService(config, manager, counter_naming=COUNTER_NAMING, **cluster)


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    """Command-line settings of `snmpd-ng run`; the log flags override the config file."""

    config_path: str
    log_level: LogLevel | None = None
    log_format: LogFormat | None = None


class StartError(Exception):
    """The daemon could not start; the message names what failed and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.errors = message.splitlines()
        """The message one line per item: a config error lists each problem on its own line."""


class Daemon:
    """Runs the services of one config file until asked to stop."""

    def __init__(
        self,
        options: DaemonOptions,
        *,
        environ: Mapping[str, str] | None = None,
        manager_factory: ManagerFactory | None = None,
        polling_factory: PollingFactory = _default_polling,
        notifier: SystemdNotifier | None = None,
    ) -> None:
        self._options = options
        self._environ = os.environ if environ is None else environ
        self._manager_factory = manager_factory
        self._polling_factory = polling_factory
        self._notifier = notifier or SystemdNotifier(self._environ)
        self._stats = DaemonStats()
        self._stack = AsyncExitStack()
        self._stop_requested = asyncio.Event()
        self._started = asyncio.Event()
        self._config: DaemonConfig | None = None
        self._polling: PollingLike | None = None
        self._alerting: Alerting | None = None
        self._cluster: ClusterRuntime | None = None
        self._cluster_alerting: ClusterAlerting | None = None
        self._alert_api: AlertApi | None = None
        self._http_state: HttpState | None = None
        self._server: HttpServer | None = None
        self._reload_task: asyncio.Task[None] | None = None
        self._reload_again = False
        self._heartbeat: Heartbeat | None = None
        self._is_stopped = False

    @property
    def config(self) -> DaemonConfig | None:
        """The configuration in effect."""
        return self._config

    @property
    def alerting(self) -> Alerting | None:
        """The running alerting, when the config has an `alerting:` section."""
        return self._alerting

    @property
    def stats(self) -> DaemonStats:
        return self._stats

    @property
    def http_addresses(self) -> list[tuple[str, int]]:
        return self._server.bound_addresses if self._server is not None else []

    async def run(self) -> int:
        """Start, serve until SIGTERM or SIGINT, stop. Return the process exit status."""
        self._install_signal_handlers()
        try:
            try:
                await self.start()
            except StartError as exc:
                log.error("daemon start failed", errors=exc.errors)
                return 1
            except Exception as exc:
                log.error("daemon start failed", error=repr(exc), exc_info=True)
                return 1
            await self._stop_requested.wait()
            return 0
        finally:
            await self.stop()
            self._remove_signal_handlers()

    async def start(self) -> None:
        """Start every service in order; on failure, stop what started and raise StartError."""
        loop = asyncio.get_running_loop()
        try:
            config = self._load_config()
            # The config's log format applies from the first line, so the stream has one format.
            self._apply_logging(config)
            log.info("daemon starting", config=self._options.config_path, pid=os.getpid())
            self._log_config(config, "config loaded")
            self._prepare_state_dir(config)
            self._start_watchdog(loop)
            manager = await self._open_manager(config)
            self._polling = await self._build_polling(config, manager)
            await self._start_alerting(config, self._polling)
            self._stack.push_async_callback(self._stop_step, "polling", self._polling.stop)
            await self._polling.start()
            await self._start_http(config, manager)
        except (ConfigError, StateDirError, HttpStartError, NodeIdError,
                *ALERTING_START_ERRORS) as exc:
            await self._stack.aclose()
            raise StartError(str(exc)) from exc
        except BaseException:
            await self._stack.aclose()
            raise
        self._config = config

        # Move every object made so far (modules, MIB tables, the config) to the permanent
        # generation, so that later collections no longer scan them. They live as long as the
        # process. NOTE: the saving, about 3% of a walk's time, was measured once by hand.
        gc.freeze()

        self._notifier.ready()
        self._started.set()
        listen = [format_listen_address(host, port) for host, port in self.http_addresses]
        log.info("daemon started", targets=len(config.targets), listen=listen)

    async def wait_started(self) -> None:
        """Wait until start() has completed (never returns if it fails: use a timeout)."""
        await self._started.wait()

    def request_stop(self, reason: str = "requested") -> None:
        if not self._stop_requested.is_set():
            log.info("daemon stop requested", reason=reason)
        self._stop_requested.set()

    async def stop(self) -> None:
        """Stop every started service in reverse order. Safe to call twice."""
        if self._is_stopped:
            return
        self._is_stopped = True
        self._stop_requested.set()
        self._notifier.stopping()
        if self._reload_task is not None:
            self._reload_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reload_task
            self._reload_task = None
        await self._stack.aclose()
        log.info("daemon stopped")

    async def _stop_step(self, name: str, step: Callable[[], Awaitable[None]]) -> None:
        """Run one stop step with a time limit; log and swallow its failure.

        The next steps must still run: a manager left open keeps its sockets.
        """
        try:
            async with asyncio.timeout(STOP_STEP_TIMEOUT):
                await step()
        except TimeoutError:
            log.error("stop step timed out", step=name, timeout_seconds=STOP_STEP_TIMEOUT)
        except Exception as exc:
            log.error("stop step failed", step=name, error=repr(exc), exc_info=True)

    async def _open_manager(self, config: DaemonConfig) -> Any:
        """Open the manager, and register its close as a bounded stop step.

        Without a `manager_factory`, the manager gets the config's `manager` settings.
        """
        if self._manager_factory is None:
            context = _default_manager(config.manager)
        else:
            context = self._manager_factory()
        manager = await context.__aenter__()

        async def close() -> None:
            await context.__aexit__(None, None, None)

        self._stack.push_async_callback(self._stop_step, "manager", close)
        return manager

    async def _build_polling(self, config: DaemonConfig, manager: Any) -> PollingLike:
        """Build the polling service; in cluster mode, start the cluster node first."""
        if config.cluster is None:
            return self._polling_factory(config, manager)

        from snmpd_ng.daemon_cluster import ClusterRuntime, polling_totals

        state_dir = choose_state_dir(config.state_dir, self._environ)
        cluster = ClusterRuntime.build(config, state_dir, LoopClock())
        polling = self._polling_factory(config, manager, **cluster.polling_options(config))
        await cluster.start(self._stack, self._stop_step, lambda: polling_totals(polling))
        cluster.node.add_listener(self._forget_moved_targets)
        self._cluster = cluster
        return polling

    def _forget_moved_targets(self, changes: Any) -> None:
        """Let the alerting rules hand over the targets that another cluster node polls now."""
        if self._cluster_alerting is not None:
            self._cluster_alerting.targets_moved(changes)

    async def _start_alerting(self, config: DaemonConfig, polling: PollingLike) -> None:
        """Start the alert service, then the rules, subscribed to the polling results.

        Raises AlertingStartError or StoreError when the alert store cannot be opened.
        """
        if config.alerting is None:
            return
        state_dir = choose_state_dir(config.state_dir, self._environ)
        clock = LoopClock()
        shared = None
        if self._cluster is not None:
            from snmpd_ng.daemon_cluster_alerting import ClusterAlerting

            shared = ClusterAlerting(self._cluster, clock)
        alerting = Alerting(config.alerting, config.targets, state_dir=state_dir,
                            clock=clock, counter_naming=COUNTER_NAMING,
                            shared=shared.shared if shared is not None else None)
        self._stack.push_async_callback(self._stop_step, "alerting", alerting.stop_service)
        if shared is None:
            await alerting.start_service()
        else:
            # In cluster mode the alert service starts when this node becomes the leader.
            shared.attach(alerting, getattr(polling, "reboot_count", None))
            self._stack.push_async_callback(self._stop_step, "cluster alerting", shared.stop)
            await shared.start()
            self._cluster_alerting = shared
        self._stack.push_async_callback(self._stop_step, "rules", alerting.stop_rules)
        await alerting.start_rules(polling.bus)
        self._alerting = alerting
        if config.alerting.traps is not None:
            self._stack.push_async_callback(self._stop_step, "traps", alerting.stop_traps)
            await alerting.start_traps(config.alerting.traps, environ=self._environ,
                                       target_names=target_names(config))

    def _load_config(self) -> DaemonConfig:
        config = load_config(self._options.config_path, self._environ)
        self._stats.config_loaded_timestamp = time.time()
        return config

    def _log_config(self, config: DaemonConfig, event: str) -> None:
        """Log that `config` is in effect, then each of its warnings."""
        log.info(
            event,
            file=config.source_file,
            targets=len(config.targets),
            jobs=len({job.name for target in config.targets for job in target.jobs}),
            warnings=len(config.warnings),
        )
        for warning in format_warnings(config):
            log.warning("config warning", warning=warning)

    def _apply_logging(self, config: DaemonConfig) -> None:
        if self._options.log_level is None or self._options.log_format is None:
            configure_logging(
                self._options.log_level or config.logging.level,
                self._options.log_format or config.logging.format,
            )

    def _prepare_state_dir(self, config: DaemonConfig) -> None:
        path = choose_state_dir(config.state_dir, self._environ)
        if path is None:
            if config.cluster is None or config.cluster.node_id is not None:
                log.info("no state directory configured; nothing needs one yet")
            return
        prepare_state_dir(path)
        log.info("state directory ready", path=str(path))

    def _start_watchdog(self, loop: asyncio.AbstractEventLoop) -> None:
        interval = self._notifier.watchdog_interval or HEARTBEAT_INTERVAL
        # Two missed beats plus a second of slack before /healthz turns 503.
        self._heartbeat = Heartbeat(max_age=2 * interval + 1.0, now=loop.time)
        task = asyncio.create_task(self._watchdog_loop(interval), name="snmpd-ng watchdog")
        self._stack.push_async_callback(_cancel_task, task)

    async def _watchdog_loop(self, interval: float) -> None:
        """Beat and ping systemd from a task, so a blocked loop stops both."""
        assert self._heartbeat is not None
        sends_watchdog = self._notifier.watchdog_interval is not None
        log.info("watchdog started", interval_seconds=interval, systemd=sends_watchdog)
        while True:
            self._heartbeat.beat()
            if sends_watchdog:
                self._notifier.watchdog()
            await asyncio.sleep(interval)

    async def _start_http(self, config: DaemonConfig, manager: Any) -> None:
        assert self._polling is not None and self._heartbeat is not None
        global_stats = getattr(manager, "global_stats", None)
        collectors = [self._polling.collector(), DaemonCollector(self._stats, global_stats)]
        if self._alerting is not None:
            collectors.append(self._alerting.collector())
        if self._cluster is not None:
            collectors.append(self._cluster.collector())
        if self._cluster_alerting is not None and self._alerting is not None:
            pipeline = self._alerting.pipeline
            collectors.extend(self._cluster_alerting.collectors(lambda: pipeline.results_dropped))
        self._http_state = HttpState(
            registry=build_registry(collectors),
            heartbeat=self._heartbeat,
            is_ready=self._is_ready,
            stats=self._stats,
            basic_auth=config.http.basic_auth,
        )
        if self._cluster is not None:
            self._http_state.not_ready_reason = self._cluster.not_ready_reason
            self._http_state.index_lines = (
                "/cluster  cluster members, leases and the last failover (JSON)",
                "/api/v1/targets/NAME/latest  a target's latest values from the shared cache")
        ssl_context = create_ssl_context(config.http.tls) if config.http.tls else None
        app = build_app(self._http_state)
        if self._alerting is not None and config.alerting is not None:
            self._alert_api = add_alert_api(app, self._alerting, config.alerting)
        if self._cluster_alerting is not None:
            self._cluster_alerting.add_proxy(app)
        if self._cluster is not None:
            self._cluster.add_routes(app)
        else:
            from snmpd_ng.http.cluster import add_cluster_off_route

            add_cluster_off_route(app)
        self._server = HttpServer(app, config.http.listen, ssl_context)
        self._stack.push_async_callback(self._stop_step, "http", self._server.stop)
        await self._server.start()

    def _is_ready(self) -> bool:
        return self._config is not None and self._polling is not None and self._polling.is_ready()

    def request_reload(self) -> None:
        """Reload the config soon; a request during a reload runs one more reload after it."""
        if self._config is None or self._stop_requested.is_set():
            log.warning("reload ignored: the daemon is not running")
            return
        if self._reload_task is not None and not self._reload_task.done():
            self._reload_again = True
            return
        self._reload_task = asyncio.create_task(self._reload_loop(), name="snmpd-ng reload")

    async def _reload_loop(self) -> None:
        while True:
            self._reload_again = False
            await self.reload()
            if not self._reload_again:
                return

    async def reload(self) -> bool:
        """Load the config file again and apply it; return whether it was applied."""
        log.info("config reload started", file=self._options.config_path)
        self._notifier.reloading()
        try:
            applied = await self._apply_new_config()
        finally:
            self._notifier.ready()
        if applied:
            self._stats.reloads_succeeded += 1
            self._stats.last_reload_successful = True
        else:
            self._stats.reloads_failed += 1
            self._stats.last_reload_successful = False
            self._stats.last_reload_failure_timestamp = time.time()
        return applied

    async def _apply_new_config(self) -> bool:
        assert self._polling is not None and self._config is not None
        old = self._config
        try:
            config = load_config(self._options.config_path, self._environ)
            if config.http.tls is not None:
                create_ssl_context(config.http.tls)  # rejects a bad certificate before any change
        except (ConfigError, HttpStartError) as exc:
            self._log_rejected(exc)
            return False

        # One switch of the log format: every later line of this reload uses the new one, and
        # a failed reload switches back before it logs.
        self._apply_logging(config)
        try:
            await self._polling.reload(config)
            if self._cluster is not None:
                self._cluster.reload(config)
            await self._reload_alerting(config)
            self._apply_http_changes(old, config)
            _warn_if_manager_changed(old, config)
        except HttpStartError as exc:
            self._apply_logging(old)
            self._log_rejected(exc)
            return False
        except Exception as exc:
            self._apply_logging(old)
            log.error(
                "config reload failed; the previous configuration stays in effect",
                error=repr(exc),
                exc_info=True,
            )
            return False

        self._config = config
        self._stats.config_loaded_timestamp = time.time()
        self._log_config(config, "config reloaded")
        return True

    async def _reload_alerting(self, config: DaemonConfig) -> None:
        """Apply the new `alerting:` section; turning alerting on or off needs a restart."""
        is_running = self._alerting is not None
        if is_running != (config.alerting is not None):
            # NOTE: the result bus cannot remove a consumer, and the alert store opens at start.
            log.warning("alerting turned on or off; restart snmpd-ng to apply",
                        alerting="on" if config.alerting is not None else "off")
        if self._alerting is not None and config.alerting is not None:
            await self._alerting.reload(config.alerting, config.targets)
            if self._alert_api is not None:
                reload_alert_api(self._alert_api, config.alerting)
            if self._config is not None:
                warn_if_traps_changed(self._config, config)

    def _log_rejected(self, exc: Exception) -> None:
        log.error(
            "config reload rejected; the previous configuration stays in effect",
            file=self._options.config_path,
            errors=str(exc).splitlines(),
        )

    def _apply_http_changes(self, old: DaemonConfig, new: DaemonConfig) -> None:
        """Apply what changes without a restart: credentials and the TLS certificate."""
        if self._http_state is not None:
            self._http_state.basic_auth = new.http.basic_auth
        context = self._server.ssl_context if self._server is not None else None
        if context is not None and new.http.tls is not None:
            load_certificate(context, new.http.tls)
        # NOTE: listen addresses and switching TLS on or off need a restart: the sockets and
        # their SSL contexts are made once, at start.
        changed = []
        if old.http.listen != new.http.listen:
            changed.append("listen")
        if (old.http.tls is None) != (new.http.tls is None):
            changed.append("tls turned " + ("on" if new.http.tls is not None else "off"))
        if changed:
            log.warning(
                "http listen addresses or TLS on/off changed; restart snmpd-ng to apply",
                changed=changed, listen=list(new.http.listen),
            )

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop, signal.Signals(signum).name)
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)

    def _on_sighup(self) -> None:
        log.info("SIGHUP received")
        self.request_reload()

    def _remove_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)


async def _cancel_task(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@contextlib.asynccontextmanager
async def running(daemon: Daemon) -> AsyncIterator[Daemon]:
    """Start `daemon` for the body of an `async with`, then stop it (for tests and scripts)."""
    await daemon.start()
    try:
        yield daemon
    finally:
        await daemon.stop()


def _run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snmpd-ng run",
        description="Run the SNMP polling daemon with a Prometheus /metrics endpoint.",
    )
    parser.add_argument(
        "--config",
        "-c",
        required=True,
        metavar="FILE",
        help="YAML config file. Here -c is short for --config, unlike in the SNMP commands "
        "(get, walk, ...) and net-snmp's tools, where -c is the community",
    )
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="minimum level logged; overrides logging.level of the config",
    )
    parser.add_argument(
        "--log-format",
        choices=["auto", "json", "console"],
        help="json lines, console text, or auto: console on a terminal, else json; "
        "overrides logging.format of the config",
    )
    return parser


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | int:
    """Parse `argv`; return the exit status instead when argparse exits (usage, --help)."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2


def cli_run(argv: list[str]) -> int:
    """`snmpd-ng run --config FILE`: run until SIGTERM or SIGINT. Exit 0, 1 on start failure."""
    args = _parse(_run_parser(), argv)
    if isinstance(args, int):
        return args
    options = DaemonOptions(args.config, args.log_level, args.log_format)
    configure_logging(options.log_level or "info", options.log_format or "auto")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(Daemon(options).run())


def cli_check_config(argv: list[str]) -> int:
    """`snmpd-ng check-config FILE`: print a summary (exit 0) or every error (exit 1).

    Exit 2 when the file cannot be read or the arguments are wrong.
    """
    parser = argparse.ArgumentParser(
        prog="snmpd-ng check-config",
        description="Validate a config file without starting the daemon. Secrets given as "
        "{env: NAME} are read from this shell's environment.",
    )
    parser.add_argument("file", metavar="FILE", help="YAML config file")
    args = _parse(parser, argv)
    if isinstance(args, int):
        return args
    result = check_config_file(args.file)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.exit_code


def _warn_if_manager_changed(old: DaemonConfig, new: DaemonConfig) -> None:
    """Warn that the manager's settings apply only at start: its sockets are already open."""
    if old.manager != new.manager:
        log.warning("manager settings changed; restart snmpd-ng to apply",
                    receive_buffer_size=new.manager.receive_buffer_size,
                    send_buffer_size=new.manager.send_buffer_size)
