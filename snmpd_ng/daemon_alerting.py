"""The daemon's alerting parts that touch its other faces: the alerts API and the trap sources.

`snmpd_ng.daemon` starts and stops alerting (snmpd_ng.alerting.runtime) in its order. The
functions here add the alerts API to its HTTP app and reload that API's secret files. They also
name trap sources after the polled targets, and warn about settings that only a restart applies.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from snmpd_ng.alerting.runtime import Alerting, AlertingStartError
from snmpd_ng.alerting.store import StoreError
from snmpd_ng.alerting.traps.local_engine import LocalEngineError
from snmpd_ng.alerting.traps.receiver import TrapReceiverError
from snmpd_ng.config.alerting import AlertingSettings
from snmpd_ng.config.model import DaemonConfig
from snmpd_ng.http.alerts import AlertApi, add_alert_routes
from snmpd_ng.http.secret_file import SecretFile

log = structlog.get_logger("snmpd_ng.daemon")

ALERTING_START_ERRORS = (AlertingStartError, StoreError, TrapReceiverError, LocalEngineError)
"""Errors of a start of alerting that a change of the config or the host fixes."""


def add_alert_api(app: web.Application, alerting: Alerting,
                  settings: AlertingSettings) -> AlertApi:
    """Serve the alerts API under /api/v1, and show its counters on /metrics."""
    api = add_alert_routes(app, alerting.service, settings.api_token_file,
                           pagerduty_secret_file=settings.pagerduty_secret_file,
                           clock=alerting.clock)
    alerting.api_counters = api.stats
    return api


def reload_alert_api(api: AlertApi, settings: AlertingSettings) -> None:
    """Read the API's secret files again, from their new paths if the config moved them."""
    if api.token_file.path != settings.api_token_file:
        api.token_file = SecretFile(settings.api_token_file, api.token_file.purpose)
    pagerduty = api.pagerduty_secret_file
    if pagerduty.path != settings.pagerduty_secret_file:
        api.pagerduty_secret_file = SecretFile(settings.pagerduty_secret_file, pagerduty.purpose)
    api.reload()


def target_names(config: DaemonConfig) -> dict[str, str]:
    """Map each target's address to its name, for the `target` label of trap alerts.

    When several targets poll one address, the first one in the config names it.
    """
    names: dict[str, str] = {}
    for target in config.targets:
        names.setdefault(target.target.host, target.name)
    return names


def warn_if_traps_changed(old: DaemonConfig, new: DaemonConfig) -> None:
    """Warn that the trap receiver's settings and target names apply at a restart."""
    # NOTE: the trap receiver has no reload; its sockets, users and rules are set at start.
    if old.alerting is None or new.alerting is None:
        return
    changed = []
    if old.alerting.traps_entry != new.alerting.traps_entry:
        changed.append("alerting.traps")
    if old.alerting.traps is not None and target_names(old) != target_names(new):
        changed.append("the targets' addresses, which name trap sources")
    if changed:
        log.warning("trap receiver settings changed; restart snmpd-ng to apply",
                    changed=changed)
