"""SNMPv3 counters of each target in /metrics: names, kinds, types, and no secret anywhere."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path
from types import SimpleNamespace

from fakes import FakeClock, FakeManager, obj
from prometheus_client.parser import text_string_to_metric_families

from snmpd_ng.cache.base import CacheStats
from snmpd_ng.config.loader import load_config
from snmpd_ng.manager.target import Target
from snmpd_ng.metrics.collector import PollingMetrics
from snmpd_ng.metrics.health import PipelineStats
from snmpd_ng.polling.result import JobHealth, PollResult, ScalarPart
from snmpd_ng.polling.service import PollingService
from snmpd_ng.protocol.values import Gauge32, VarBind
from snmpd_ng.transport.stats import TargetStats

START = 1000.0
UPTIME = obj("sysUpTimeLike", "1.3.6.1.4.1.99999.1.0")
AUTH_PASSPHRASE = "auth-passphrase-90d1f3"
PRIV_PASSPHRASE = "priv-passphrase-2ac8e7"
V3_STATS = TargetStats(
    requests=4, responses=3,
    reports={"unknown_engine_id": 1, "wrong_digest": 2},
    security_errors={"wrong_digest": 2, "privacy_mismatch": 1},
    security_drops={"authentication_failed": 5},
    engine_discoveries=1, engine_time_syncs=2, engine_reboots=3, engine_id_conflicts=4,
)  # fmt: skip


def pipeline() -> PipelineStats:
    return PipelineStats([], CacheStats(0, 0, 0, 0, 0), 0, 1, 0, 0, 0, 0)


def result(target: str, stats: object) -> PollResult:
    """Return a result of one scalar; `stats` may lack fields, as a fake manager's may."""
    scalars = ScalarPart((UPTIME,), [VarBind(UPTIME.oid, Gauge32(1))], START)
    return PollResult(target, "job", 10.0, 3, START, START, START, START + 1.7e9, True, None,
                      None, scalars, (), JobHealth(runs=1), stats)  # type: ignore[arg-type]


async def render_for(stats: object, labels: dict[str, str] | None = None) -> str:
    metrics = PollingMetrics(FakeClock(START), pipeline)
    if labels is not None:
        metrics.set_target_labels("a", labels)
    await metrics.handle(result("a", stats))
    return metrics.render_text().decode()


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Return the values of the samples called `name`, by their sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def family_types(text: str) -> dict[str, str]:
    return {family.name: family.type for family in text_string_to_metric_families(text)}


class TestUsmCounters:
    async def test_reports_by_kind(self) -> None:
        text = await render_for(V3_STATS)

        assert samples(text, "snmp_target_reports_total") == {
            (("kind", "unknown_engine_id"), ("target", "a")): 1.0,
            (("kind", "wrong_digest"), ("target", "a")): 2.0,
        }

    async def test_security_errors_and_drops_by_kind(self) -> None:
        text = await render_for(V3_STATS)

        assert samples(text, "snmp_target_security_errors_total") == {
            (("kind", "privacy_mismatch"), ("target", "a")): 1.0,
            (("kind", "wrong_digest"), ("target", "a")): 2.0,
        }
        assert samples(text, "snmp_target_security_drops_total") == {
            (("kind", "authentication_failed"), ("target", "a")): 5.0,
        }

    async def test_engine_counters(self) -> None:
        text = await render_for(V3_STATS)

        target = (("target", "a"),)
        assert samples(text, "snmp_target_engine_discoveries_total") == {target: 1.0}
        assert samples(text, "snmp_target_engine_time_syncs_total") == {target: 2.0}
        assert samples(text, "snmp_target_engine_reboots_total") == {target: 3.0}
        assert samples(text, "snmp_target_engine_id_conflicts_total") == {target: 4.0}

    async def test_families_are_counters(self) -> None:
        types = family_types(await render_for(V3_STATS))

        for name in ("snmp_target_reports", "snmp_target_security_errors",
                     "snmp_target_security_drops", "snmp_target_engine_discoveries",
                     "snmp_target_engine_time_syncs", "snmp_target_engine_reboots",
                     "snmp_target_engine_id_conflicts"):
            assert types.get(name) == "counter", name

    async def test_help_and_type_lines(self) -> None:
        text = await render_for(V3_STATS)

        assert "# TYPE snmp_target_reports_total counter\n" in text
        assert ("# HELP snmp_target_engine_reboots_total Times the target's SNMPv3 engineBoots "
                "went up: the agent restarted.\n") in text

    async def test_target_labels_carried(self) -> None:
        text = await render_for(V3_STATS, {"site": "lab"})

        assert samples(text, "snmp_target_engine_reboots_total") == {
            (("site", "lab"), ("target", "a")): 3.0,
        }

    async def test_v2c_stats_show_zero_engine_counters_only(self) -> None:
        text = await render_for(TargetStats(requests=1, responses=1))

        assert samples(text, "snmp_target_engine_discoveries_total") == {(("target", "a"),): 0.0}
        assert samples(text, "snmp_target_reports_total") == {}
        assert samples(text, "snmp_target_security_errors_total") == {}
        assert samples(text, "snmp_target_security_drops_total") == {}

    async def test_stats_without_usm_fields_add_nothing(self) -> None:
        old_stats = SimpleNamespace(**{
            field.name: getattr(TargetStats(), field.name)
            for field in dataclasses.fields(TargetStats)
            if field.name in {"requests", "responses", "timeouts", "retries",
                              "malformed_responses", "malformed_values", "unexpected_source",
                              "unknown_request_id", "wrong_community", "too_big",
                              "error_status", "last_rtt"}
        })

        text = await render_for(old_stats)

        assert "snmp_target_requests_total" in text
        assert "snmp_target_engine" not in text

    async def test_registry_view_has_counters(self) -> None:
        metrics = PollingMetrics(FakeClock(START), pipeline)
        await metrics.handle(result("a", V3_STATS))

        families = {family.name: family for family in metrics.collect()}

        reports = families["snmp_target_reports"]
        assert reports.type == "counter"
        assert {sample.labels["kind"]: sample.value for sample in reports.samples} == {
            "unknown_engine_id": 1.0, "wrong_digest": 2.0,
        }


CONFIG = """\
credentials:
  monitor:
    user: monitor
    auth_protocol: SHA-256
    auth_passphrase: {{env: AUTH_PASSPHRASE}}
    priv_protocol: AES-256-C
    priv_passphrase: {priv}
jobs:
  system: {{interval: 10s, scalars: [sysUpTime]}}
targets:
  - {{name: router, address: 192.0.2.1, credentials: monitor, jobs: [system],
     labels: {{site: lab}}}}
scheduler: {{jitter: 0}}
"""


class StatsManager(FakeManager):
    """A FakeManager whose target stats carry SNMPv3 counters."""

    def stats(self, target: Target) -> TargetStats:
        return dataclasses.replace(V3_STATS, requests=len(self.calls))


class TestPolledV3Target:
    async def test_v3_target_polled_and_counted(self, tmp_path: Path) -> None:
        text = await self.scrape(tmp_path)

        assert 'sysUpTime{site="lab",target="router"} ' in text
        assert 'snmp_target_engine_reboots_total{site="lab",target="router"} 3\n' in text
        assert ('snmp_target_reports_total{kind="wrong_digest",site="lab",target="router"} 2\n'
                in text)

    async def test_metrics_never_show_secret(self, tmp_path: Path) -> None:
        text = await self.scrape(tmp_path)

        assert AUTH_PASSPHRASE not in text
        assert PRIV_PASSPHRASE not in text
        assert "monitor" not in text

    async def scrape(self, tmp_path: Path) -> str:
        path = tmp_path / "config.yaml"
        path.write_text(textwrap.dedent(CONFIG.format(priv=PRIV_PASSPHRASE)), encoding="utf-8")
        config = load_config(path, {"AUTH_PASSPHRASE": AUTH_PASSPHRASE})
        clock = FakeClock(START)
        manager = StatsManager(clock)
        manager.agent("192.0.2.1").set("1.3.6.1.2.1.1.3.0", Gauge32(7))
        # FakeManager.walk_all types its roots more narrowly than ManagerLike does.
        service = PollingService(config, manager, clock=clock,  # type: ignore[arg-type]
                                 timer=clock.now)
        await service.start()
        await clock.advance(0.0)

        collector = service.collector()
        assert isinstance(collector, PollingMetrics)
        text = collector.render_text().decode()
        await service.stop()
        return text
