"""PollingService with the fake manager and fake clock: what is polled, when, and what /metrics
shows for it."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
import structlog
from fakes import (
    COMMUNITY,
    IF_DESCR,
    IF_HC_IN_OCTETS,
    IF_IN_OCTETS,
    IF_NAME,
    SYS_UPTIME,
    FakeClock,
    FakeManager,
    daemon,
    if_job,
    if_mib_agent,
    system_job,
    target,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from snmpd_ng.metrics.naming import CounterNaming
from snmpd_ng.polling.service import PollingService
from snmpd_ng.protocol.oid import parse_oid
from snmpd_ng.protocol.values import (
    NO_SUCH_INSTANCE,
    Counter32,
    Counter64,
    MalformedValue,
    OctetString,
    TimeTicks,
)

START = 1000.0
ROUTER = "192.0.2.1"
SWITCH = "192.0.2.2"


def make_service(*targets, counter_naming: CounterNaming = "object", timer=None, **settings):  # type: ignore[no-untyped-def]
    clock = FakeClock(START)
    manager = FakeManager(clock, {ROUTER: if_mib_agent(), SWITCH: if_mib_agent(3)})
    service = PollingService(daemon(*targets, **settings), manager, clock=clock,
                             timer=timer or clock.now, counter_naming=counter_naming)
    return service, manager, clock


def scrape(service: PollingService) -> str:
    registry = CollectorRegistry()
    registry.register(service.collector())
    return generate_latest(registry).decode()


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [(dict(sample.labels), sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == name]


def family_type(text: str, name: str) -> str | None:
    for line in text.splitlines():
        if line.startswith(f"# TYPE {name} "):
            return line.split()[-1]
    return None


def value_of(text: str, name: str, **labels: str) -> float | None:
    for sample_labels, value in samples(text, name):
        if all(sample_labels.get(key) == wanted for key, wanted in labels.items()):
            return value
    return None


async def test_service_polls_every_target_and_job() -> None:
    service, manager, clock = make_service(
        target("router", ROUTER, system_job(), if_job()),
        target("switch", SWITCH, system_job()))
    await service.start()
    await clock.advance(0.0)
    await service.stop()

    # The if job has a lookup, so it GETs sysUpTime.0 to see reboots.
    assert [call.oids for call in manager.calls_to(ROUTER, "get")] == [
        (parse_oid("1.3.6.1.2.1.1.1.0"), parse_oid("1.3.6.1.2.1.1.7.0")),
        (parse_oid(SYS_UPTIME),)]
    assert len(manager.calls_to(SWITCH, "get")) == 1
    assert [call.oids for call in manager.calls_to(ROUTER, "walk")] == [
        (parse_oid(IF_DESCR), parse_oid(IF_IN_OCTETS), parse_oid(IF_HC_IN_OCTETS)),
        (parse_oid(IF_NAME),)]


async def test_service_ready_after_first_attempts() -> None:
    service, manager, clock = make_service(
        target("router", ROUTER, system_job()), target("switch", SWITCH, system_job()))
    manager.agent(SWITCH).dead = True
    await service.start()

    assert not service.is_ready()
    await clock.advance(0.0)
    assert not service.is_ready()  # The dead switch is still in its first attempt.
    await clock.advance(8.0)
    assert service.is_ready()
    await service.stop()


async def test_service_scalars_exported_with_target_labels() -> None:
    service, _, clock = make_service(target("router", ROUTER, system_job(),
                                            labels={"site": "lab", "bad-name": "x"}))
    await service.start()
    await clock.advance(0.0)
    text = scrape(service)
    await service.stop()

    assert samples(text, "sysServices") == [
        ({"target": "router", "site": "lab", "bad_name": "x"}, 72.0)]
    assert family_type(text, "sysServices") == "gauge"


async def test_service_string_scalar_is_info_style_gauge() -> None:
    service, _, clock = make_service(target("router", ROUTER, system_job()))
    await service.start()
    await clock.advance(0.0)
    text = scrape(service)
    await service.stop()

    assert samples(text, "sysDescr") == [({"target": "router", "sysDescr": "Linux test 6.1"}, 1.0)]


async def test_service_table_rows_get_index_and_lookup_labels() -> None:
    service, _, clock = make_service(target("router", ROUTER, if_job()))
    await service.start()
    await clock.advance(0.0)
    text = scrape(service)
    await service.stop()

    assert sorted(samples(text, "ifInOctets"), key=lambda s: s[1]) == [
        ({"target": "router", "ifIndex": "1", "ifName": "eth0"}, 1000.0),
        ({"target": "router", "ifIndex": "2", "ifName": "eth1"}, 2000.0),
    ]
    assert value_of(text, "ifDescr", ifIndex="2", ifDescr="Ethernet 2") == 1.0


async def test_service_counters_keep_object_name_by_default() -> None:
    service, _, clock = make_service(target("router", ROUTER, if_job()))
    await service.start()
    await clock.advance(0.0)
    text = scrape(service)
    await service.stop()

    assert family_type(text, "ifHCInOctets") == "untyped"
    assert value_of(text, "ifHCInOctets", ifIndex="1") == 1e12
    assert samples(text, "ifHCInOctets_total") == []


async def test_service_counters_typed_with_total_naming() -> None:
    service, _, clock = make_service(target("router", ROUTER, if_job()), counter_naming="total")
    await service.start()
    await clock.advance(0.0)
    text = scrape(service)
    await service.stop()

    assert family_type(text, "ifHCInOctets_total") == "counter"
    assert value_of(text, "ifHCInOctets_total", ifIndex="1") == 1e12


async def test_service_passes_budget_as_deadline() -> None:
    service, manager, clock = make_service(
        target("router", ROUTER, system_job(interval=30.0)),
        target("switch", SWITCH, system_job(interval=30.0), poll_budget=5.0))
    await service.start()
    await clock.advance(0.0)
    await service.stop()

    assert manager.calls_to(ROUTER)[0].deadline == START + 0.8 * 30.0
    assert manager.calls_to(SWITCH)[0].deadline == START + 5.0


async def test_service_slow_table_walked_once_per_slow_ttl() -> None:
    service, manager, clock = make_service(target("router", ROUTER, if_job(slow=True)),
                                           slow_ttl=60.0)
    await service.start()
    await clock.advance(95.0)
    text = scrape(service)
    await service.stop()

    column_walks = [call for call in manager.calls_to(ROUTER, "walk")
                    if parse_oid(IF_DESCR) in call.oids]
    assert [call.started_at for call in column_walks] == [START, START + 60.0]
    assert value_of(text, "ifInOctets", ifIndex="1") == 1000.0


async def test_service_lookup_served_from_cache_between_walks() -> None:
    service, manager, clock = make_service(target("router", ROUTER, if_job()), slow_ttl=3600.0)
    await service.start()
    await clock.advance(45.0)
    await service.stop()

    lookup_walks = [call for call in manager.calls_to(ROUTER, "walk")
                    if call.oids == (parse_oid(IF_NAME),)]
    column_walks = [call for call in manager.calls_to(ROUTER, "walk")
                    if parse_oid(IF_DESCR) in call.oids]
    assert len(column_walks) == 5
    assert len(lookup_walks) == 1


async def test_service_lookup_walked_again_for_new_row() -> None:
    service, manager, clock = make_service(target("router", ROUTER, if_job()))
    await service.start()
    await clock.advance(0.0)
    agent = manager.agent(ROUTER)
    agent.set(f"{IF_IN_OCTETS}.3", Counter32(3000))
    agent.set(f"{IF_NAME}.3", OctetString(b"eth2"))

    await clock.advance(10.0)
    text = scrape(service)
    await service.stop()

    lookup_walks = [call for call in manager.calls_to(ROUTER, "walk")
                    if call.oids == (parse_oid(IF_NAME),)]
    assert len(lookup_walks) == 2
    assert value_of(text, "ifInOctets", ifIndex="3", ifName="eth2") == 3000.0


async def test_service_reboot_invalidates_slow_entries() -> None:
    service, manager, clock = make_service(target("router", ROUTER, if_job(slow=True)))
    await service.start()
    await clock.advance(10.0)
    manager.agent(ROUTER).set(SYS_UPTIME, TimeTicks(50))
    manager.agent(ROUTER).set(f"{IF_NAME}.1", OctetString(b"renamed0"))

    with structlog.testing.capture_logs() as logs:
        await clock.advance(10.0)
    text = scrape(service)
    await service.stop()

    column_walks = [call for call in manager.calls_to(ROUTER, "walk")
                    if parse_oid(IF_DESCR) in call.oids]
    assert [call.started_at for call in column_walks] == [START, START + 20.0]
    assert value_of(text, "ifInOctets", ifIndex="1", ifName="renamed0") == 1000.0
    assert value_of(text, "snmp_target_reboots_total", target="router") == 1.0
    assert any(entry["event"] == "target rebooted" for entry in logs)


async def test_service_reboot_count_of_a_target() -> None:
    service, manager, clock = make_service(target("router", ROUTER, if_job(slow=True)))
    await service.start()
    await clock.advance(10.0)
    manager.agent(ROUTER).set(SYS_UPTIME, TimeTicks(50))
    await clock.advance(10.0)
    await service.stop()

    assert service.reboot_count("router") == 1


async def test_service_reboot_count_unknown_before_a_poll() -> None:
    service, _, _ = make_service(target("router", ROUTER, if_job(slow=True)))

    assert service.reboot_count("switch") is None


async def test_service_uptime_only_for_slow_jobs() -> None:
    service, manager, clock = make_service(
        target("router", ROUTER, system_job(), if_job(lookups=False)))
    await service.start()
    await clock.advance(0.0)
    await service.stop()

    asked = [oid for call in manager.calls_to(ROUTER, "get") for oid in call.oids]
    assert parse_oid(SYS_UPTIME) not in asked


async def test_service_dead_target_drops_values_after_stale_after() -> None:
    service, manager, clock = make_service(
        target("router", ROUTER, system_job(), stale_after=3),
        target("switch", SWITCH, system_job()))
    await service.start()
    await clock.advance(0.0)
    manager.agent(ROUTER).dead = True

    await clock.advance(25.0)  # Two failed runs: values still served.
    two_failed = scrape(service)
    await clock.advance(10.0)  # Third failed run.
    three_failed = scrape(service)
    await service.stop()

    assert value_of(two_failed, "sysServices", target="router") == 72.0
    assert value_of(three_failed, "sysServices", target="router") is None
    assert value_of(three_failed, "sysServices", target="switch") == 72.0
    assert value_of(three_failed, "snmp_target_reachable", target="router") == 0.0
    assert value_of(three_failed, "snmp_target_reachable", target="switch") == 1.0
    assert value_of(three_failed, "snmp_poll_values_stale", target="router") == 1.0
    assert value_of(three_failed, "snmp_poll_errors_total", target="router",
                    kind="timeout") == 3.0


async def test_service_dead_target_does_not_delay_others() -> None:
    service, manager, clock = make_service(
        target("dead", ROUTER, system_job(), poll_budget=1.5),
        target("alive", SWITCH, system_job()),
        max_concurrent_polls=1)
    manager.agent(ROUTER).dead = True
    await service.start()
    await clock.advance(35.0)
    text = scrape(service)
    await service.stop()

    # With one poll place, each dead run ends at its 1.5 s budget and the alive target runs
    # right after it, well inside its own interval.
    starts = [call.started_at - START for call in manager.calls_to(SWITCH)]
    assert starts == [1.5, 11.5, 21.5, 31.5]
    assert all(call.ended_at == call.deadline for call in manager.calls_to(ROUTER))
    assert value_of(text, "snmp_poll_errors_total", target="dead",
                    kind="budget_exceeded") == 4.0


async def test_service_manager_overrunning_deadline_is_cut_by_guard() -> None:
    service, manager, clock = make_service(target("router", ROUTER, system_job()))
    manager.agent(ROUTER).delay = 50.0  # Ignores the deadline, as a buggy manager would.
    await service.start()
    await clock.advance(9.5)
    text = scrape(service)
    await service.stop()

    assert value_of(text, "snmp_poll_errors_total", kind="budget_exceeded") == 1.0
    assert value_of(text, "snmp_polls_total", job="system") == 1.0


async def test_service_exceptions_counted_without_samples() -> None:
    service, manager, clock = make_service(target("router", ROUTER, system_job()))
    manager.agent(ROUTER).values.pop(parse_oid("1.3.6.1.2.1.1.7.0"))
    await service.start()
    await clock.advance(0.0)
    text = scrape(service)
    await service.stop()

    assert samples(text, "sysServices") == []
    assert value_of(text, "snmp_poll_exception_values_total", exception="noSuchObject") == 1.0


async def test_service_malformed_value_exported_leniently_and_counted() -> None:
    service, manager, clock = make_service(target("router", ROUTER, if_job(lookups=False)))
    agent = manager.agent(ROUTER)
    agent.set(f"{IF_IN_OCTETS}.1", MalformedValue(0x41, b"\x41\x04\xb3\x99\x61\xed",
                                                  "no 0x00 pad", Counter32(3013173741)))
    agent.set(f"{IF_IN_OCTETS}.2", MalformedValue(0x41, b"\x41\x00", "empty content"))
    agent.set(f"{IF_DESCR}.2", NO_SUCH_INSTANCE)
    await service.start()
    await clock.advance(0.0)
    text = scrape(service)
    await service.stop()

    assert value_of(text, "ifInOctets", ifIndex="1") == 3013173741.0
    assert value_of(text, "ifInOctets", ifIndex="2") is None
    assert value_of(text, "snmp_poll_malformed_values_total", job="if") == 2.0
    assert value_of(text, "snmp_poll_exception_values_total",
                    exception="noSuchInstance") == 1.0


async def test_service_counter64_above_2_53_loses_low_bits() -> None:
    service, manager, clock = make_service(target("router", ROUTER, if_job(lookups=False)))
    manager.agent(ROUTER).set(f"{IF_HC_IN_OCTETS}.1", Counter64(18446744073694799162))
    await service.start()
    await clock.advance(0.0)
    text = scrape(service)
    await service.stop()

    assert value_of(text, "ifHCInOctets", ifIndex="1") == float(18446744073694799162)


async def test_service_walk_error_keeps_rows_before_it() -> None:
    service, manager, clock = make_service(target("router", ROUTER, if_job(lookups=False)))
    manager.agent(ROUTER).walk_error_at = parse_oid(f"{IF_IN_OCTETS}.2")
    await service.start()
    await clock.advance(0.0)
    text = scrape(service)
    await service.stop()

    assert value_of(text, "ifInOctets", ifIndex="1") == 1000.0
    assert value_of(text, "ifInOctets", ifIndex="2") is None
    assert value_of(text, "snmp_poll_errors_total", kind="walk") == 1.0
    assert value_of(text, "snmp_target_reachable", target="router") == 1.0


async def test_service_bad_index_row_dropped_and_counted() -> None:
    service, manager, clock = make_service(target("router", ROUTER, if_job(lookups=False)))
    manager.agent(ROUTER).set(f"{IF_IN_OCTETS}.7.7", Counter32(7))
    await service.start()
    await clock.advance(0.0)
    text = scrape(service)
    await service.stop()

    assert len(samples(text, "ifInOctets")) == 2
    assert value_of(text, "snmp_poll_index_errors_total", job="if") == 1.0


async def test_service_failed_poll_logged_once_per_minute() -> None:
    service, manager, clock = make_service(target("router", ROUTER, system_job()))
    manager.agent(ROUTER).dead = True
    await service.start()
    with structlog.testing.capture_logs() as logs:
        await clock.advance(75.0)
    await service.stop()

    failures = [entry for entry in logs if entry["event"] == "poll failed"]
    assert [entry["log_level"] for entry in failures] == ["info", "info"]
    assert failures[0]["target"] == "router"
    assert failures[0]["job"] == "system"
    assert failures[1]["suppressed_since_last"] == 5


async def test_service_metrics_and_logs_never_show_community() -> None:
    service, manager, clock = make_service(target("router", ROUTER, system_job()),
                                           target("switch", SWITCH, system_job()))
    manager.agent(SWITCH).dead = True
    with structlog.testing.capture_logs() as logs:
        await service.start()
        await clock.advance(30.0)
    text = scrape(service)
    await service.stop()

    assert COMMUNITY not in text
    assert COMMUNITY not in repr(logs)


async def test_service_health_metrics_per_job() -> None:
    service, _, clock = make_service(target("router", ROUTER, system_job()))
    await service.start()
    await clock.advance(20.0)
    text = scrape(service)
    await service.stop()

    assert value_of(text, "snmp_polls_total", job="system") == 3.0
    assert value_of(text, "snmp_poll_last_success_timestamp_seconds",
                    job="system") == clock.wall() - 0.0
    assert value_of(text, "snmp_poll_duration_seconds", job="system") == 0.0
    assert value_of(text, "snmp_target_requests_total", target="router") == 3.0
    assert value_of(text, "snmp_results_delivered_total", consumer="metrics") == 3.0
    assert value_of(text, "snmp_scheduler_schedules") == 1.0


async def test_service_reload_keeps_unchanged_target_schedule_and_counters() -> None:
    router = target("router", ROUTER, system_job())
    service, manager, clock = make_service(router, target("switch", SWITCH, system_job()))
    await service.start()
    await clock.advance(5.0)

    await service.reload(daemon(router, target("switch", SWITCH, system_job(interval=20.0))))
    await clock.advance(20.0)
    text = scrape(service)
    await service.stop()

    router_starts = [call.started_at - START for call in manager.calls_to(ROUTER)]
    switch_starts = [call.started_at - START for call in manager.calls_to(SWITCH)]
    assert router_starts == [0.0, 10.0, 20.0]
    assert switch_starts == [0.0, 5.0, 25.0]  # Rescheduled from the reload at +5 s.
    assert value_of(text, "snmp_polls_total", target="router") == 3.0


async def test_service_reload_changed_target_keeps_unchanged_job_counters() -> None:
    service, _, clock = make_service(target("router", ROUTER, system_job()))
    await service.start()
    await clock.advance(10.0)

    await service.reload(daemon(target("router", ROUTER, system_job(), labels={"site": "b"})))
    await clock.advance(0.0)
    text = scrape(service)
    await service.stop()

    assert value_of(text, "snmp_polls_total", target="router") == 3.0
    assert value_of(text, "sysServices", site="b") == 72.0


async def test_service_reload_removes_and_adds_targets() -> None:
    service, _, clock = make_service(target("router", ROUTER, system_job()))
    await service.start()
    await clock.advance(0.0)

    await service.reload(daemon(target("switch", SWITCH, system_job())))
    assert not service.is_ready()
    await clock.advance(0.0)
    text = scrape(service)
    await service.stop()

    assert value_of(text, "sysServices", target="router") is None
    assert value_of(text, "snmp_polls_total", target="router") is None
    assert value_of(text, "sysServices", target="switch") == 72.0
    assert service.is_ready()


async def test_service_stop_cancels_runs_in_progress() -> None:
    service, manager, clock = make_service(target("router", ROUTER, system_job()))
    manager.agent(ROUTER).dead = True
    await service.start()
    await clock.advance(1.0)

    await asyncio.wait_for(service.stop(), timeout=2.0)

    assert manager.in_flight == 0
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    assert [task.get_name() for task in tasks if not task.done()] == []


async def test_service_extra_consumer_is_one_line() -> None:
    service, _, clock = make_service(target("router", ROUTER, system_job()))
    received = []

    async def alerting(result: object) -> None:
        received.append(result)

    from snmpd_ng.polling.queues import Delivery
    service.bus.subscribe("alerting", alerting, Delivery.LOSSLESS)
    await service.start()
    await clock.advance(20.0)
    await service.stop()

    assert len(received) == 3


@pytest.mark.parametrize("interfaces", [0])
async def test_service_empty_table_exports_nothing(interfaces: int) -> None:
    service, manager, clock = make_service(target("router", ROUTER, if_job()))
    manager.agents[ROUTER] = if_mib_agent(interfaces)
    await service.start()
    await clock.advance(0.0)
    text = scrape(service)
    await service.stop()

    assert samples(text, "ifInOctets") == []
    assert value_of(text, "snmp_poll_errors_total", target="router") is None
    assert value_of(text, "snmp_target_reachable", target="router") == 1.0


async def test_service_run_waiting_past_budget_is_skipped() -> None:
    service, manager, clock = make_service(
        target("slow", ROUTER, system_job()), target("queued", SWITCH, system_job()),
        max_concurrent_polls=1)
    manager.agent(ROUTER).delay = 50.0  # Holds the only place until the guard cuts it at 8.8 s.
    await service.start()
    await clock.advance(9.0)
    text = scrape(service)
    await service.stop()

    assert manager.calls_to(SWITCH) == []
    assert value_of(text, "snmp_poll_errors_total", target="queued",
                    kind="concurrency_limit") == 1.0
    assert value_of(text, "snmp_scheduler_concurrency_waits_total") == 1.0


async def test_service_reload_applies_new_concurrency_limit() -> None:
    router = target("router", ROUTER, system_job())
    service, _, clock = make_service(router, max_concurrent_polls=1)
    await service.start()

    await service.reload(daemon(router, max_concurrent_polls=7))
    await clock.advance(0.0)
    text = scrape(service)
    await service.stop()

    assert value_of(text, "snmp_scheduler_max_concurrent_polls") == 7.0


async def test_service_reload_forgets_removed_and_changed_targets() -> None:
    router, switch = target("router", ROUTER, system_job()), target("switch", SWITCH, system_job())
    kept = target("kept", "192.0.2.3", system_job())
    service, manager, clock = make_service(router, switch, kept)
    await service.start()
    await clock.advance(0.0)

    changed = target("switch", SWITCH, system_job(), labels={"site": "b"})
    changed = dataclasses.replace(changed, target=dataclasses.replace(changed.target, port=1161))
    await service.reload(daemon(changed, kept))
    await service.stop()

    assert manager.forgotten == [router.target, switch.target]


async def test_service_reload_keeps_target_with_same_snmp_settings() -> None:
    service, manager, _ = make_service(target("router", ROUTER, system_job()))
    await service.start()

    await service.reload(daemon(target("router", ROUTER, system_job(), labels={"site": "b"})))
    await service.stop()

    assert manager.forgotten == []


async def test_service_logs_sentence_style_events() -> None:
    service, manager, clock = make_service(target("router", ROUTER, system_job()))
    manager.agent(ROUTER).dead = True
    with structlog.testing.capture_logs() as logs:
        await service.start()
        await clock.advance(5.0)
        await service.reload(daemon(target("router", ROUTER, system_job(interval=20.0))))
        await service.stop()

    events = {entry["event"] for entry in logs}
    assert {"polling started", "poll failed", "polling reloaded", "polling stopped"} <= events
    assert [event for event in events if "." in event or "_" in event] == []


async def test_service_duration_comes_from_timer() -> None:
    readings = iter(step * 0.00025 for step in range(1000))
    service, _, clock = make_service(target("router", ROUTER, system_job()),
                                     timer=lambda: next(readings))
    await service.start()
    await clock.advance(0.0)
    text = scrape(service)
    await service.stop()

    assert value_of(text, "snmp_poll_duration_seconds", job="system") == 0.00025


async def test_service_default_timer_sees_sub_millisecond_runs() -> None:
    clock = FakeClock(START)
    manager = FakeManager(clock, {ROUTER: if_mib_agent()})
    service = PollingService(daemon(target("router", ROUTER, system_job())), manager, clock=clock)
    await service.start()
    await clock.advance(0.0)
    text = scrape(service)
    await service.stop()

    duration = value_of(text, "snmp_poll_duration_seconds", job="system")
    assert duration is not None
    assert 0.0 < duration < 1.0
