"""Load: the alerting rules on 1,000 simulated targets polled every 10 s, on the fake clock.

Polling runs as in tests/test_polling_load.py (fake manager and fake clock, 24 interfaces per
target), with the daemon's alerting subscribed to the result bus: seven rules, one of which
fires on 1% of the targets, and a fake channel. The CPU measured is the whole process's:
polling, the fake manager, the metric snapshot, the rules and the alert service. The rules
consumer's own part is its thread CPU time.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from alerting_helpers import FakeChannel, config
from fakes import FakeClock, FakeManager, daemon, if_job, if_mib_agent, system_job, target
from test_polling_load import info_logging

from snmpd_ng.alerting.rules import Rule
from snmpd_ng.alerting.runtime import Alerting
from snmpd_ng.config.alerting import AlertingSettings, ChannelSpec
from snmpd_ng.polling.result import PollResult
from snmpd_ng.polling.service import PollingService
from snmpd_ng.protocol.values import Integer32

TARGETS = 1000
INTERFACES = 24
INTERVAL = 10.0
CYCLES = 2
HOT_EVERY = 100
"""Every 100th target reports sysServices 80, which fires ServicesHigh."""

# CPU seconds the rules consumer may spend per 10 s cycle. An estimate of the budget, not a
# measured limit: about 0.55 s was measured on a 2-core x86-64 VM (Python 3.11), and the bound
# leaves room for slower runners while still catching a per-sample cost grown several times.
MAX_RULES_CPU_PER_CYCLE = 2.0

pytestmark = pytest.mark.usefixtures(info_logging.__name__)

RULES = (
    Rule.build("TargetDown", "up == 0", for_seconds=120, severity="critical"),
    Rule.build("PollFailing", "poll_success == 0 and up == 1", for_seconds=600),
    Rule.build("TargetRebooted", "rebooted == 1", severity="info"),
    Rule.build("TrafficHigh", "rate(ifHCInOctets) > 1e8", for_seconds=300,
               recover="rate(ifHCInOctets) < 0.8e8",
               annotations={"summary": "{{ labels.ifName }} on {{ target }} at {{ value }}"}),
    Rule.build("LegacyTrafficHigh", "rate(ifInOctets) > 1e7", for_seconds=300),
    Rule.build("CountersStopped", "absent_for(ifHCInOctets, 10m)"),
    Rule.build("ServicesHigh", "sysServices > 75", severity="critical"),
)


def alerting_settings(channel: FakeChannel) -> AlertingSettings:
    handling = config({
        "grouping": {"group_by": ["target", "rule"], "group_wait": "0s"},
        "receivers": {"noc": {"channels": [channel.name]}},
        "policies": {"noc": {"tiers": [{"receivers": ["noc"]}]}},
        "routes": [{"policy": "noc"}],
    }, {channel.name: channel})
    spec = ChannelSpec(channel.name, channel.type, channel, "digest")
    return AlertingSettings(RULES, handling, {channel.name: spec})


async def test_rules_on_1000_targets_keep_up(tmp_path: Path) -> None:
    clock = FakeClock()
    manager = FakeManager(clock)
    targets = []
    for number in range(TARGETS):
        host = f"sim-{number}"
        manager.agents[host] = if_mib_agent(INTERFACES)
        if number % HOT_EVERY == 0:
            manager.agents[host].set("1.3.6.1.2.1.1.7.0", Integer32(80))
        targets.append(target(f"t{number}", host, system_job(INTERVAL), if_job(INTERVAL)))
    config_ = daemon(*targets, jitter=0.5)
    polling = PollingService(config_, manager, clock=clock)
    channel = FakeChannel("noc")
    alerting = Alerting(alerting_settings(channel), config_.targets, state_dir=tmp_path,
                        clock=clock)

    # Record how many results wait behind each one the consumer takes.
    depths: list[int] = []
    handle = alerting.pipeline.handle_result

    async def measured(result: PollResult) -> None:
        depths.append(next(queue.depth for queue in polling.bus.stats()
                           if queue.consumer == "alerting"))
        await handle(result)

    alerting.pipeline.handle_result = measured  # type: ignore[method-assign]
    await alerting.start_service()
    await alerting.start_rules(polling.bus)
    await polling.start()
    await clock.advance(INTERVAL)  # Warm-up: first walks, first samples of every series.

    cpu_before, rules_before = time.process_time(), alerting.pipeline.cpu_seconds
    for _ in range(CYCLES):
        await clock.advance(INTERVAL)
    total_cpu = (time.process_time() - cpu_before) / CYCLES
    rules_cpu = (alerting.pipeline.cpu_seconds - rules_before) / CYCLES
    await alerting.service.sync()
    queue = next(queue for queue in polling.bus.stats() if queue.consumer == "alerting")
    firing = [alert for alert in alerting.service.alerts() if alert.state.value == "firing"]
    await polling.stop()
    await alerting.stop_rules()
    await alerting.stop_service()

    print(f"\nper {INTERVAL:g} s cycle of {TARGETS} targets: {total_cpu:.3f} s CPU in all, "
          f"{rules_cpu:.3f} s in the rules consumer ({rules_cpu / total_cpu:.1%}); "
          f"{queue.delivered} results, max queue depth {max(depths)}, "
          f"publisher waits {queue.blocked}")
    assert queue.blocked == 0
    assert alerting.pipeline.results == queue.delivered
    assert len(firing) == TARGETS // HOT_EVERY
    assert rules_cpu < MAX_RULES_CPU_PER_CYCLE
