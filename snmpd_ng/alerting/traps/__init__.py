"""The SNMP trap and inform receiver: traps of SNMPv1, v2c and v3 as input to alerting.

`TrapService` opens the UDP sockets, decodes and authenticates each datagram (`decode`),
acknowledges informs, and runs the trap rules (`rules`), whose `RuleSignal`s go to the alert
lifecycle like those of the polling rules. `build_trap_settings` checks the `alerting: traps:`
section of the config. docs/traps.md describes the receiver and its configuration.
"""

from snmpd_ng.alerting.traps.config import TrapSettings, build_trap_settings, check_traps
from snmpd_ng.alerting.traps.event import TrapEvent
from snmpd_ng.alerting.traps.rules import TrapRule, TrapRules
from snmpd_ng.alerting.traps.service import TrapService
from snmpd_ng.alerting.traps.stats import TrapStats

__all__ = [
    "TrapEvent",
    "TrapRule",
    "TrapRules",
    "TrapService",
    "TrapSettings",
    "TrapStats",
    "build_trap_settings",
    "check_traps",
]
