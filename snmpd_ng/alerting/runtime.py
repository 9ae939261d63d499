"""The alerting of one daemon: channels, the alert service, the rules and their feed, in order.

Start: the alert service (its store opened, the state saved before a restart loaded, its timer
and outbox workers started), then the rules pipeline, subscribed to the polling service's
result bus before polling starts, then the trap receiver. The daemon stops them in the reverse
order, as separate steps. The trap receiver runs the traps it queued through its rules, and
the rules' timer runs once more. Then the alert service writes what is queued, and last the
channels close their connections.

In cluster mode (snmpd_ng.daemon_cluster_alerting) the daemon passes the store in Redis, the
sink that sends signals to the leader, and the send check; the alert service then starts only
on the leader.

A reload applies new rules, target labels, channels and alert handling settings. Alerts,
groups, escalations, silences and the outbox stay. A channel whose settings changed is closed,
and the one built from the new settings takes its place. An unchanged channel keeps its
connections and its rate limit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import structlog

from snmpd_ng.alerting.backend import AlertStore
from snmpd_ng.alerting.channels.base import Channel
from snmpd_ng.alerting.pipeline import RulesPipeline, SignalSink
from snmpd_ng.alerting.rules.model import SEVERITIES, RuleSignal, Severity
from snmpd_ng.alerting.service import AlertService
from snmpd_ng.alerting.sqlite_store import SqliteAlertStore
from snmpd_ng.alerting.traps import TrapService, TrapSettings
from snmpd_ng.clock import Clock
from snmpd_ng.config.alerting import AlertingSettings, ChannelSpec
from snmpd_ng.config.model import TargetConfig
from snmpd_ng.metrics.alerting import AlertingCollector, AlertingSnapshot, ApiCounters
from snmpd_ng.metrics.naming import CounterNaming
from snmpd_ng.polling.queues import Delivery, ResultBus
from snmpd_ng.polling.result import PollResult
from snmpd_ng.protocol.errors import SnmpError

log = structlog.get_logger(__name__)

CONSUMER = "alerting"
"""The consumer's name on the result bus, and its `consumer` label on /metrics."""


class AlertingStartError(SnmpError):
    """Alerting cannot start with this configuration; the message names the key to change."""


def store_path(settings: AlertingSettings, state_dir: Path | None) -> Path:
    """Return the alert store's file; raise AlertingStartError when it needs a state dir."""
    configured = settings.handling.store_path
    if state_dir is None:
        if configured is not None and Path(configured).expanduser().is_absolute():
            return Path(configured).expanduser()
        raise AlertingStartError(
            "alerting.store.path: the alert store needs a state directory; set `state_dir` "
            "(systemd sets $STATE_DIRECTORY), or give `alerting.store.path` as an absolute path")
    return settings.handling.resolve_store_path(state_dir)


def target_labels(targets: Sequence[TargetConfig]) -> dict[str, Mapping[str, str]]:
    return {target.name: target.labels for target in targets}


@dataclasses.dataclass(frozen=True)
class SharedAlerting:
    """Alerting's cluster mode parts: where state and signals go, and which node sends."""

    store: AlertStore
    """The alert store in Redis, whose writes only the leader may make."""
    signal_sink: SignalSink
    """Takes the rules' and traps' signals to the leader's alert service."""
    may_send: Callable[[], bool]
    """True while this node leads the cluster, asked before each send."""


class Alerting:
    """The running alerting of the daemon, built from the `alerting:` section."""

    def __init__(self, settings: AlertingSettings, targets: Sequence[TargetConfig], *,
                 state_dir: Path | None, clock: Clock,
                 counter_naming: CounterNaming = "object",
                 shared: SharedAlerting | None = None) -> None:
        self._state_dir = state_dir
        self.clock = clock
        self.shared = shared
        self.store_path = None if shared is not None else store_path(settings, state_dir)
        self.api_counters: ApiCounters | None = None
        """The alerts API's counters, for /metrics, once the daemon serves the API."""
        self.traps: TrapService | None = None
        """The trap receiver, once started."""
        self._channels = dict(settings.channels)
        if shared is None:
            assert self.store_path is not None
            self.service = AlertService(settings.handling, settings.built_channels(),
                                        store=SqliteAlertStore(self.store_path), clock=clock)
        else:
            self.service = AlertService(settings.handling, settings.built_channels(),
                                        store=shared.store, clock=clock,
                                        may_send=shared.may_send, confirm_restored=False,
                                        resumed_after="a change of cluster leader or a restart")
        sink = shared.signal_sink if shared is not None else None
        self.pipeline = RulesPipeline(settings.rules, self.service, clock,
                                      target_labels=target_labels(targets),
                                      counter_naming=counter_naming, signal_sink=sink)

    async def start_service(self) -> None:
        """Open the store and start the alert service; raises StoreError."""
        await self.service.start()

    async def start_rules(self, bus: ResultBus[PollResult]) -> None:
        """Subscribe the rules to `bus` (lossless, see the pipeline) and start their timer."""
        bus.subscribe(CONSUMER, self.pipeline.handle_result, Delivery.LOSSLESS)
        self.pipeline.start()
        await self.pipeline.refresh_outbox()

    async def start_traps(self, settings: TrapSettings, *, environ: Mapping[str, str],
                          target_names: Mapping[str, str]) -> None:
        """Start the trap receiver, which submits its signals to the alert service.

        The active trap alerts restored from the store are handed back to the trap rules
        first, so that a linkUp after a restart resolves the linkDown alert from before it.
        Raises TrapReceiverError or LocalEngineError.
        """
        submit = self.shared.signal_sink if self.shared is not None else self.service.submit
        traps = TrapService(settings, submit, clock=self.clock,
                            state_dir=self._state_dir, environ=environ,
                            target_names=target_names)
        rule_names = {rule.name for rule in settings.rules}
        traps.restore([signal for signal in self._active_signals() if signal.rule in rule_names])
        await traps.start()
        self.traps = traps

    async def stop_traps(self) -> None:
        if self.traps is not None:
            await self.traps.stop()

    async def stop_rules(self) -> None:
        await self.pipeline.stop()

    async def stop_service(self) -> None:
        """Stop the alert service (it writes what is queued), then close every channel."""
        if self.shared is None or self.service.is_running:
            await self.service.stop()
        await _close_all(self._channels.values())

    async def reload(self, settings: AlertingSettings, targets: Sequence[TargetConfig]) -> None:
        """Apply a new `alerting:` section; alert state, groups and the outbox stay."""
        self._warn_if_store_moved(settings)
        self.pipeline.reload(settings.rules, target_labels(targets))

        running, retired = self._swap_channels(settings.channels)
        channels = {name: spec.channel for name, spec in running.items()}
        await self.service.reload(settings.handling, channels)
        await _close_all(retired.values())
        self._channels = running
        log.info("alert channels reloaded", channels=sorted(running),
                 replaced=sorted(name for name in retired if name in running),
                 removed=sorted(name for name in retired if name not in running))

    def _active_signals(self) -> list[RuleSignal]:
        """Return a firing signal for each pending, firing or acknowledged alert."""
        now = self.clock.wall()
        return [RuleSignal(alert.rule, dict(alert.labels), "firing", alert.value,
                           alert.active_since, now, _severity(alert.severity),
                           dict(alert.annotations))
                for alert in self.service.alerts()]

    def channels(self) -> dict[str, Channel]:
        """Return the running channels by name."""
        return {name: spec.channel for name, spec in self._channels.items()}

    def snapshot(self) -> AlertingSnapshot:
        snapshot = self.pipeline.snapshot(self._channels)
        traps = self.traps.stats if self.traps is not None else None
        return dataclasses.replace(snapshot, api=self.api_counters, traps=traps)

    def collector(self) -> AlertingCollector:
        return AlertingCollector(self.snapshot)

    def _warn_if_store_moved(self, settings: AlertingSettings) -> None:
        # The store stays open on its file until a restart, like the state directory.
        if self.store_path is None:
            return
        try:
            wanted = store_path(settings, self._state_dir)
        except AlertingStartError:
            return  # Impossible: the same state directory gave a path at start.
        if wanted != self.store_path:
            log.warning("alert store path changed; restart snmpd-ng to apply",
                        path=str(self.store_path), configured=str(wanted))

    def _swap_channels(self, new: Mapping[str, ChannelSpec]
                       ) -> tuple[dict[str, ChannelSpec], dict[str, ChannelSpec]]:
        """Return the channels to run (running ones where unchanged) and the ones to close."""
        running: dict[str, ChannelSpec] = {}
        for name, spec in new.items():
            old = self._channels.get(name)
            if old is not None and old.digest == spec.digest:
                spec = dataclasses.replace(spec, channel=old.channel)
            running[name] = spec
        retired = {name: spec for name, spec in self._channels.items()
                   if running.get(name) is None or running[name].channel is not spec.channel}
        return running, retired


def _severity(text: str) -> Severity:
    # Alerts come from rules, whose severities the config checked.
    return text if text in SEVERITIES else "warning"


async def _close_all(specs: Iterable[ChannelSpec]) -> None:
    for spec in list(specs):
        await _close(spec.channel)


async def _close(channel: Channel) -> None:
    try:
        await channel.close()
    except Exception as exc:
        # A channel that fails to close must not keep the others open.
        log.error("alert channel close failed", channel=channel.name, error=str(exc),
                  error_type=type(exc).__name__)
