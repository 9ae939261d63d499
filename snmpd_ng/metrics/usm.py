"""SNMPv3 counters of each target: Report PDUs, security failures and engine events (RFC 3414).

They come from the manager's `TargetStats`, like the other `snmp_target_*` counters. Only the
names below and the kinds the manager counts become labels, so no user name, passphrase or key
reaches a label or a value. A counter by kind gets a series for a kind once that kind was
counted, as `snmp_target_error_status_responses_total` does. The engine counters are written
for every target, 0 on SNMPv1 and SNMPv2c targets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    # health.py calls add_usm_stats, so a run-time import would be circular.
    from snmpd_ng.metrics.health import FamilySink

# Counters by kind: attribute of TargetStats, metric name stem and help text.
_COUNTS_BY_KIND = (
    ("reports", "snmp_target_reports",
     "SNMPv3 Report PDUs received from the target, by kind (the usmStats or snmp counter the "
     "agent reported), including the unknown_engine_id report of engine discovery."),
    ("security_errors", "snmp_target_security_errors",
     "SNMPv3 requests that failed with a security error, by kind."),
    ("security_drops", "snmp_target_security_drops",
     "SNMPv3 messages from the target that the manager's USM checks dropped, by kind."),
)

# Engine counters: attribute of TargetStats, metric name stem and help text.
_ENGINE_COUNTS = (
    ("engine_discoveries", "snmp_target_engine_discoveries",
     "SNMPv3 engine ID discoveries completed with the target (RFC 3414 section 4)."),
    ("engine_time_syncs", "snmp_target_engine_time_syncs",
     "Times the target's engineBoots and engineTime were learned outside the normal flow: "
     "after discovery, and after a notInTimeWindow report."),
    ("engine_reboots", "snmp_target_engine_reboots",
     "Times the target's SNMPv3 engineBoots went up: the agent restarted."),
    ("engine_id_conflicts", "snmp_target_engine_id_conflicts",
     "Times another address answered with the target's engine ID and a disagreeing boots or "
     "time: machines sharing one engine ID."),
)


@runtime_checkable
class UsmStatsLike(Protocol):
    """The manager's SNMPv3 counters of one target (`snmpd_ng.transport.stats.TargetStats`)."""

    @property
    def reports(self) -> Mapping[str, int]: ...

    @property
    def security_errors(self) -> Mapping[str, int]: ...

    @property
    def security_drops(self) -> Mapping[str, int]: ...

    @property
    def engine_discoveries(self) -> int: ...

    @property
    def engine_time_syncs(self) -> int: ...

    @property
    def engine_reboots(self) -> int: ...

    @property
    def engine_id_conflicts(self) -> int: ...


def add_usm_stats(families: FamilySink, stats: object, labels: Mapping[str, str]) -> None:
    """Add the SNMPv3 counters of `stats`, when it has them, with the target's `labels`.

    A stats object without them, from a manager that predates SNMPv3 or a test's fake, adds
    nothing.
    """
    if not isinstance(stats, UsmStatsLike):
        return
    for attribute, name, help_text in _COUNTS_BY_KIND:
        counts: Mapping[str, int] = getattr(stats, attribute)
        for kind, count in sorted(counts.items()):
            families.add(name, "counter", help_text, {**labels, "kind": kind}, count)
    for attribute, name, help_text in _ENGINE_COUNTS:
        families.add(name, "counter", help_text, labels, getattr(stats, attribute))
