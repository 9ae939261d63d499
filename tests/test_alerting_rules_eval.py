"""Evaluation of rules: counters, vector matching, `for`, hysteresis, time and templates."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytest
from structlog.testing import capture_logs

from snmpd_ng.alerting.rules import Rule, RulesEngine, RuleSignal
from snmpd_ng.alerting.rules.counters import counter_rate, counter_step
from snmpd_ng.alerting.rules.store import SeriesStore
from snmpd_ng.alerting.rules.templates import humanize, humanize_duration, percent
from snmpd_ng.alerting.rules.testing import ManualClock
from snmpd_ng.alerting.series import REBOOTS, Sample, label_key

INTERVAL = 60.0
WALL_BASE = 1_700_000_000.0
ROW = {"ifIndex": "3", "ifName": "Gi0/3"}


def sample(name: str, value: float, at: float, *, labels: Mapping[str, str] | None = None,
           snmp_type: str = "gauge", target: str = "core1", reboots: int = 0) -> Sample:
    kind = "counter" if snmp_type.startswith("counter") else "gauge"
    full = {"target": target, **(labels or {})}
    return Sample(name, full, value, snmp_type, kind, at, WALL_BASE + at,  # type: ignore[arg-type]
                  at + 4 * INTERVAL, reboots)


class Harness:
    """An engine on a manual clock, fed one batch of samples at a time."""

    def __init__(self, *rules: Rule) -> None:
        self.clock = ManualClock(wall_offset=WALL_BASE)
        self.engine = RulesEngine(list(rules), self.clock)
        self.signals: list[RuleSignal] = []

    def observe(self, at: float, *samples: Sample) -> list[RuleSignal]:
        self.clock.time = at
        found = self.engine.observe(samples)
        self.signals.extend(found)
        return found

    def tick(self, at: float) -> list[RuleSignal]:
        self.clock.time = at
        found = self.engine.tick()
        self.signals.extend(found)
        return found

    def states(self) -> list[str]:
        return [signal.state for signal in self.signals]


def store_with(*samples: Sample) -> SeriesStore:
    store = SeriesStore()
    for item in samples:
        store.add(item, item.at)
    return store


def series_of(store: SeriesStore, name: str, labels: Mapping[str, str] | None = None,
              target: str = "core1") -> object:
    key = label_key({"target": target, **(labels or ROW)})
    return store.metric(target, name)[key]


def counter_pair(name: str, first: int, second: int, snmp_type: str, *,
                 reboots: tuple[int, int] = (0, 0)) -> list[Sample]:
    return [sample(name, first, 0.0, labels=ROW, snmp_type=snmp_type, reboots=reboots[0]),
            sample(name, second, INTERVAL, labels=ROW, snmp_type=snmp_type, reboots=reboots[1])]


def rate_of(*samples: Sample, name: str = "ifInOctets") -> float | None:
    store = store_with(*samples)
    return counter_rate(series_of(store, name), store)  # type: ignore[arg-type]


# Counters


def test_counter64_rate_per_second() -> None:
    assert rate_of(*counter_pair("ifInOctets", 1000, 7000, "counter64")) == 100.0


def test_counter64_rate_exact_near_two_to_64() -> None:
    first = 2**64 - 10_000
    samples = counter_pair("ifInOctets", first, first + 6000, "counter64")

    assert rate_of(*samples) == 100.0


def test_counter64_reset_gives_no_rate() -> None:
    assert rate_of(*counter_pair("ifInOctets", 9_000_000, 1000, "counter64")) is None


def speed_samples(*, high_speed: int | None = None, speed: int | None = None) -> list[Sample]:
    found = []
    if high_speed is not None:
        found.append(sample("ifHighSpeed", high_speed, 0.0, labels=ROW))
    if speed is not None:
        found.append(sample("ifSpeed", speed, 0.0, labels=ROW))
    return found


# 600,000,000 octets in 60 s after a wrap: 80 Mbit/s.
WRAP_BEFORE = 2**32 - 100_000_000
WRAP_AFTER = 500_000_000


def test_counter32_wrap_plausible_for_speed() -> None:
    samples = counter_pair("ifInOctets", WRAP_BEFORE, WRAP_AFTER, "counter32")

    rate = rate_of(*speed_samples(high_speed=1000), *samples)

    assert rate == 600_000_000 / INTERVAL


def test_counter32_wrap_implausible_for_speed() -> None:
    # 80 Mbit/s cannot pass a 10 Mbit/s interface: a reset, not a wrap.
    samples = counter_pair("ifInOctets", WRAP_BEFORE, WRAP_AFTER, "counter32")

    assert rate_of(*speed_samples(speed=10_000_000), *samples) is None


def test_counter64_decrease_never_a_wrap() -> None:
    # The same values as a plausible Counter32 wrap, but a Counter64 does not wrap.
    samples = counter_pair("ifInOctets", WRAP_BEFORE, WRAP_AFTER, "counter64")

    assert rate_of(*speed_samples(high_speed=1000), *samples) is None


def test_counter32_wrap_with_unknown_speed_is_discontinuity() -> None:
    assert rate_of(*counter_pair("ifInOctets", WRAP_BEFORE, WRAP_AFTER, "counter32")) is None


def test_counter32_wrap_uses_ifspeed_without_ifhighspeed() -> None:
    samples = counter_pair("ifInOctets", WRAP_BEFORE, WRAP_AFTER, "counter32")

    assert rate_of(*speed_samples(speed=100_000_000), *samples) == 600_000_000 / INTERVAL


def test_counter32_wrap_ifhighspeed_preferred_over_ifspeed() -> None:
    samples = counter_pair("ifInOctets", WRAP_BEFORE, WRAP_AFTER, "counter32")

    rate = rate_of(*speed_samples(high_speed=1000, speed=10_000_000), *samples)

    assert rate == 600_000_000 / INTERVAL


def test_counter32_wrap_ifhighspeed_zero_falls_back_to_ifspeed() -> None:
    samples = counter_pair("ifInOctets", WRAP_BEFORE, WRAP_AFTER, "counter32")

    assert rate_of(*speed_samples(high_speed=0, speed=10_000_000), *samples) is None


def test_counter32_wrap_saturated_ifspeed_is_unknown() -> None:
    samples = counter_pair("ifInOctets", WRAP_BEFORE, WRAP_AFTER, "counter32")

    assert rate_of(*speed_samples(speed=2**32 - 1), *samples) is None


def test_counter32_wrap_speed_of_other_interface_not_used() -> None:
    other = sample("ifHighSpeed", 1000, 0.0, labels={"ifIndex": "4", "ifName": "Gi0/4"})
    samples = counter_pair("ifInOctets", WRAP_BEFORE, WRAP_AFTER, "counter32")

    assert rate_of(other, *samples) is None


def test_reboot_between_points_is_discontinuity() -> None:
    # The counter went up, but the target rebooted in between: no rate either way.
    samples = counter_pair("ifInOctets", 1000, 7000, "counter64", reboots=(0, 1))

    assert rate_of(*samples) is None


def test_gauge_delta_may_be_negative() -> None:
    store = store_with(sample("temperature", 50, 0.0, labels=ROW),
                       sample("temperature", 45, INTERVAL, labels=ROW))

    assert counter_step(series_of(store, "temperature"), store) == -5  # type: ignore[arg-type]


def test_first_point_has_no_rate() -> None:
    assert rate_of(sample("ifInOctets", 5, 0.0, labels=ROW, snmp_type="counter64")) is None


def test_cached_point_served_again_is_not_new() -> None:
    # A slow table served from the cache brings back its old fetch time.
    first = sample("ifInOctets", 1000, 0.0, labels=ROW, snmp_type="counter64")
    second = sample("ifInOctets", 7000, INTERVAL, labels=ROW, snmp_type="counter64")

    assert rate_of(first, second, second) == 100.0


# Counters in rules

FAST = Rule.build("Fast", "rate(ifInOctets) > 1000000")


def test_counter64_reset_does_not_fire() -> None:
    harness = Harness(FAST)

    for step, value in enumerate([10**12, 10**12 + 1000, 5, 1005]):
        harness.observe(step * INTERVAL, sample("ifInOctets", value, step * INTERVAL,
                                                labels=ROW, snmp_type="counter64"))

    assert harness.signals == []


def test_counter32_implausible_wrap_does_not_fire() -> None:
    harness = Harness(FAST)
    harness.observe(0.0, sample("ifSpeed", 10_000_000, 0.0, labels=ROW))

    for step, value in enumerate([WRAP_BEFORE, WRAP_AFTER]):
        harness.observe(step * INTERVAL, sample("ifInOctets", value, step * INTERVAL,
                                                labels=ROW, snmp_type="counter32"))

    assert harness.signals == []


def test_counter32_plausible_wrap_gives_rate() -> None:
    harness = Harness(FAST)
    harness.observe(0.0, sample("ifHighSpeed", 1000, 0.0, labels=ROW))

    for step, value in enumerate([WRAP_BEFORE, WRAP_AFTER]):
        harness.observe(step * INTERVAL, sample("ifInOctets", value, step * INTERVAL,
                                                labels=ROW, snmp_type="counter32"))

    [signal] = harness.signals
    assert signal.value == 10_000_000


def test_reboot_seen_in_result_does_not_fire_rate() -> None:
    # The counter restarted from 0 and climbed past its old value before the next poll.
    harness = Harness(FAST)

    harness.observe(0.0, sample("ifInOctets", 1000, 0.0, labels=ROW, snmp_type="counter64"))
    harness.observe(INTERVAL, sample("ifInOctets", 10**10, INTERVAL, labels=ROW,
                                     snmp_type="counter64", reboots=1))

    assert harness.signals == []


# Vector matching


def values_of(rule: Rule, *samples: Sample) -> dict[tuple[tuple[str, str], ...], float | None]:
    harness = Harness(rule)
    harness.observe(0.0, *samples)
    return {label_key({key: value for key, value in signal.labels.items()
                       if key != "severity"}): signal.value
            for signal in harness.signals}


def test_default_matching_pairs_same_labels() -> None:
    rule = Rule.build("Ratio", "used / size > 0.5")
    found = values_of(rule,
                      sample("used", 60, 0.0, labels={"index": "1"}),
                      sample("size", 100, 0.0, labels={"index": "1"}),
                      sample("used", 60, 0.0, labels={"index": "2"}),
                      sample("size", 100, 0.0, labels={"index": "3"}))

    assert found == {label_key({"target": "core1", "index": "1"}): 0.6}


def test_on_matching_keeps_left_labels() -> None:
    rule = Rule.build("Busy", "rate_bits / on(target, ifIndex) ifSpeed > 0.5")
    found = values_of(rule,
                      sample("rate_bits", 80, 0.0, labels={"ifIndex": "3", "ifName": "Gi0/3"}),
                      sample("ifSpeed", 100, 0.0, labels={"ifIndex": "3", "ifDescr": "eth3"}))

    assert found == {label_key({"target": "core1", "ifIndex": "3", "ifName": "Gi0/3"}): 0.8}


def test_ignoring_matching() -> None:
    rule = Rule.build("Down", "ifOperStatus != ignoring(ifAlias) ifAdminStatus")
    found = values_of(rule,
                      sample("ifOperStatus", 2, 0.0, labels={"ifIndex": "3", "ifAlias": "up"}),
                      sample("ifAdminStatus", 1, 0.0, labels={"ifIndex": "3"}))

    assert found == {label_key({"target": "core1", "ifIndex": "3", "ifAlias": "up"}): 2}


def test_many_to_many_match_counted_and_logged() -> None:
    rule = Rule.build("Ambiguous", "a / on(target) b > 0")
    harness = Harness(rule)

    with capture_logs() as logs:
        harness.observe(0.0, sample("a", 1, 0.0, labels={"index": "1"}),
                        sample("b", 1, 0.0, labels={"index": "1"}),
                        sample("b", 2, 0.0, labels={"index": "2"}))

    assert harness.signals == []
    assert harness.engine.evaluation_errors == {"Ambiguous": 1}
    [event] = [entry for entry in logs if entry["event"] == "rule evaluation failed"]
    assert event["rule"] == "Ambiguous"
    assert "two series on the right side" in event["error"]


def test_evaluation_error_log_rate_limited() -> None:
    rule = Rule.build("Ambiguous", "a / on(target) b > 0")
    harness = Harness(rule)
    batch = [sample("a", 1, 0.0, labels={"index": "1"}),
             sample("b", 1, 0.0, labels={"index": "1"}),
             sample("b", 2, 0.0, labels={"index": "2"})]

    with capture_logs() as logs:
        harness.observe(0.0, *batch)
        harness.observe(1.0, *batch)

    assert harness.engine.evaluation_errors == {"Ambiguous": 2}
    assert len([entry for entry in logs if entry["event"] == "rule evaluation failed"]) == 1


@pytest.mark.parametrize(("expr", "expected"), [
    ("a > 0 and b > 0", {"1"}),
    ("a > 0 unless b > 0", {"2"}),
    ("a > 0 and not b > 0", {"2"}),
    ("a > 0 or b > 0", {"1", "2", "3"}),
])
def test_set_operators(expr: str, expected: set[str]) -> None:
    rule = Rule.build("Set", expr)
    found = values_of(rule,
                      sample("a", 1, 0.0, labels={"index": "1"}),
                      sample("a", 1, 0.0, labels={"index": "2"}),
                      sample("b", 1, 0.0, labels={"index": "1"}),
                      sample("b", 1, 0.0, labels={"index": "3"}))

    assert {dict(key)["index"] for key in found} == expected


def test_set_operator_with_on_matching() -> None:
    rule = Rule.build("Set", "a > 0 and on(target, index) b > 0")
    found = values_of(rule, sample("a", 1, 0.0, labels={"index": "1", "x": "1"}),
                      sample("b", 1, 0.0, labels={"index": "1", "y": "2"}))

    assert list(found) == [label_key({"target": "core1", "index": "1", "x": "1"})]


def test_number_on_left_keeps_series_value() -> None:
    found = values_of(Rule.build("Hot", "70 < temperature"),
                      sample("temperature", 75, 0.0))

    assert list(found.values()) == [75]


def test_bool_comparison_yields_zero_or_one() -> None:
    found = values_of(Rule.build("Flag", "(temperature > bool 80) == 0"),
                      sample("temperature", 75, 0.0))

    assert list(found.values()) == [0.0]


def test_division_by_zero_is_infinite() -> None:
    found = values_of(Rule.build("Ratio", "used / size > 1"),
                      sample("used", 5, 0.0), sample("size", 0, 0.0))

    assert list(found.values()) == [math.inf]


@pytest.mark.parametrize(("expr", "expected"), [
    ("abs(x) > 0", 3.0),
    ("min(x, 1) < 0", -3.0),
    ("max(x, -1) > -2", -1.0),
    ("max(x, y) > 0", 10.0),
    ("-x > 0", 3.0),
    ("x - 2 * y < 0", -23.0),
])
def test_arithmetic_functions(expr: str, expected: float) -> None:
    found = values_of(Rule.build("Math", expr), sample("x", -3, 0.0), sample("y", 10, 0.0))

    assert list(found.values()) == [expected]


def test_rule_evaluates_per_target() -> None:
    # The same labels but for the target: two alerts, never a mix of the two targets.
    found = values_of(Rule.build("Ratio", "used / size > 0.5"),
                      sample("used", 60, 0.0, target="a"), sample("size", 100, 0.0, target="a"),
                      sample("used", 10, 0.0, target="b"), sample("size", 100, 0.0, target="b"))

    assert found == {label_key({"target": "a"}): 0.6}


def test_rule_across_targets_evaluated_on_tick() -> None:
    rule = Rule.build("Mismatch", 'mtu{target="a"} != ignoring(target) mtu{target="b"}')
    harness = Harness(rule)

    observed = harness.observe(0.0, sample("mtu", 1500, 0.0, target="a"),
                               sample("mtu", 9000, 0.0, target="b"))
    ticked = harness.tick(1.0)

    assert observed == []
    [signal] = ticked
    assert signal.labels["target"] == "a"


# Alert states: for, recover, flapping

HOT = Rule.build("Hot", "temperature > 70", for_seconds=120,
                 recover="temperature < 60", severity="critical", labels={"team": "dc"})
HOT_NO_RECOVER = Rule.build("Hot", "temperature > 70", for_seconds=120)


def feed(harness: Harness, metric: str, values: list[float], start: float = 0.0) -> None:
    for step, value in enumerate(values):
        at = start + step * INTERVAL
        harness.observe(at, sample(metric, value, at))


def test_for_keeps_pending_then_fires() -> None:
    harness = Harness(HOT_NO_RECOVER)

    feed(harness, "temperature", [80, 80, 80])

    assert harness.states() == ["pending", "firing"]
    pending, firing = harness.signals
    assert pending.at == WALL_BASE
    assert firing.at == WALL_BASE + 2 * INTERVAL
    assert firing.active_since == WALL_BASE


def test_pending_alert_resolves_with_signal() -> None:
    harness = Harness(HOT_NO_RECOVER)

    feed(harness, "temperature", [80, 50])

    assert harness.states() == ["pending", "resolved"]


def test_rule_without_for_fires_at_once() -> None:
    harness = Harness(Rule.build("Hot", "temperature > 70"))

    feed(harness, "temperature", [80, 80, 50])

    assert harness.states() == ["firing", "resolved"]
    assert harness.signals[1].value == 80


def test_hysteresis_band_keeps_firing() -> None:
    harness = Harness(HOT)

    feed(harness, "temperature", [80, 80, 80, 65, 65, 65])

    assert harness.states() == ["pending", "firing"]


def test_recover_resolves_with_recover_value() -> None:
    harness = Harness(HOT)

    feed(harness, "temperature", [80, 80, 80, 65, 55])

    assert harness.states() == ["pending", "firing", "resolved"]
    assert harness.signals[-1].value == 55


def test_pending_in_band_fires_after_for() -> None:
    harness = Harness(HOT)

    feed(harness, "temperature", [80, 65, 65])

    assert harness.states() == ["pending", "firing"]


def test_flapping_without_for_fires_and_resolves_each_time() -> None:
    harness = Harness(Rule.build("Hot", "temperature > 70"))

    feed(harness, "temperature", [75, 65] * 3)

    assert harness.states() == ["firing", "resolved"] * 3


def test_flapping_with_for_never_fires() -> None:
    harness = Harness(HOT_NO_RECOVER)

    feed(harness, "temperature", [75, 65] * 3)

    assert "firing" not in harness.states()


def test_flapping_with_recover_fires_once() -> None:
    harness = Harness(Rule.build("Hot", "temperature > 70", recover="temperature < 60"))

    feed(harness, "temperature", [75, 65] * 3)

    assert harness.states() == ["firing"]


def test_recover_keeps_state_across_counter_discontinuity() -> None:
    rule = Rule.build("Busy", "rate(ifInOctets) > 100", recover="rate(ifInOctets) < 50")
    harness = Harness(rule)

    for step, (value, reboots) in enumerate([(0, 0), (12000, 0), (500, 1), (12500, 1)]):
        at = step * INTERVAL
        harness.observe(at, sample("ifInOctets", value, at, labels=ROW, snmp_type="counter64",
                                   reboots=reboots))

    assert harness.states() == ["firing"]


def test_without_recover_counter_discontinuity_resolves() -> None:
    harness = Harness(Rule.build("Busy", "rate(ifInOctets) > 100"))

    for step, (value, reboots) in enumerate([(0, 0), (12000, 0), (500, 1), (12500, 1)]):
        at = step * INTERVAL
        harness.observe(at, sample("ifInOctets", value, at, labels=ROW, snmp_type="counter64",
                                   reboots=reboots))

    assert harness.states() == ["firing", "resolved", "firing"]


def test_recover_alert_resolves_when_series_expires() -> None:
    harness = Harness(HOT)
    feed(harness, "temperature", [80, 80, 80])

    still_current = harness.tick(2 * INTERVAL + 4 * INTERVAL)
    expired = harness.tick(2 * INTERVAL + 4 * INTERVAL + 1)

    assert still_current == []
    assert [signal.state for signal in expired] == ["resolved"]


def test_alert_resolves_when_target_stops_answering() -> None:
    harness = Harness(Rule.build("Hot", "temperature > 70"))
    feed(harness, "temperature", [80])

    harness.tick(4 * INTERVAL + 1)

    assert harness.states() == ["firing", "resolved"]


def test_stale_series_not_selected() -> None:
    harness = Harness(Rule.build("Ratio", "used / size > 0.5"))
    harness.observe(0.0, sample("size", 100, 0.0))

    harness.observe(10 * INTERVAL, sample("used", 60, 10 * INTERVAL))

    assert harness.signals == []


# Built-in series and time


def test_rebooted_fires_for_one_result() -> None:
    harness = Harness(Rule.build("Rebooted", "rebooted == 1", severity="info"))

    for step, count in enumerate([0, 0, 1, 1]):
        at = step * INTERVAL
        harness.observe(at, sample(REBOOTS, count, at, snmp_type="builtin", reboots=count))

    assert harness.states() == ["firing", "resolved"]
    assert harness.signals[0].at == WALL_BASE + 2 * INTERVAL
    assert harness.signals[0].labels == {"target": "core1", "severity": "info"}


def test_absent_for_fires_then_resolves() -> None:
    harness = Harness(Rule.build("Stopped", "absent_for(ifInOctets, 10m)"))
    harness.observe(0.0, sample("ifInOctets", 1, 0.0, labels=ROW, snmp_type="counter64"))

    before = harness.tick(600.0)
    after = harness.tick(601.0)
    harness.observe(700.0, sample("ifInOctets", 2, 700.0, labels=ROW, snmp_type="counter64"))

    assert before == []
    [fired] = after
    assert fired.state == "firing"
    assert fired.value == 601.0
    assert harness.states() == ["firing", "resolved"]


def test_forget_target_resolves_its_alerts() -> None:
    harness = Harness(Rule.build("Hot", "temperature > 70"))
    feed(harness, "temperature", [80])

    resolved = harness.engine.forget_target("core1")

    assert [signal.state for signal in resolved] == ["resolved"]
    assert harness.engine.store.targets == {}


def test_retention_drops_unseen_series() -> None:
    harness = Harness()
    harness.engine = RulesEngine([], harness.clock, retention=3600.0)
    harness.observe(0.0, sample("temperature", 80, 0.0))

    harness.tick(3599.0)
    count_before = harness.engine.store.series_count()
    harness.tick(3661.0)

    assert count_before == 1
    assert harness.engine.store.series_count() == 0


def test_active_alerts_lists_pending_and_firing() -> None:
    harness = Harness(HOT_NO_RECOVER, Rule.build("Warm", "temperature > 60"))
    feed(harness, "temperature", [80])

    active = {(alert.rule, alert.state) for alert in harness.engine.active_alerts()}

    assert active == {("Hot", "pending"), ("Warm", "firing")}


def test_duplicate_rule_names_rejected() -> None:
    with pytest.raises(ValueError, match="repeated: Hot"):
        RulesEngine([HOT, HOT], ManualClock())


# Signals and templates


def test_signal_labels_severity_and_rule_labels() -> None:
    harness = Harness(Rule.build("Hot", "temperature > 70", severity="critical",
                                 labels={"team": "dc", "site": "override"}))

    harness.observe(0.0, sample("temperature", 80, 0.0, labels={"site": "lab"}))

    [signal] = harness.signals
    assert signal.labels == {"target": "core1", "site": "override", "team": "dc",
                             "severity": "critical"}
    assert signal.severity == "critical"


def test_annotations_rendered_with_value_labels_target() -> None:
    rule = Rule.build("Busy", "util > 0.9", annotations={
        "summary": "{{ labels.ifName }} on {{ target }} at {{ value | percent }}",
        "detail": "{{ rule }}: {{ value | humanize }}",
    })
    harness = Harness(rule)

    harness.observe(0.0, sample("util", 0.934, 0.0, labels=ROW))

    assert harness.signals[0].annotations == {"summary": "Gi0/3 on core1 at 93.4%",
                                              "detail": "Busy: 934m"}


def test_annotation_render_error_counted_not_raised() -> None:
    rule = Rule.build("Busy", "util > 0.9", annotations={"summary": "{{ labels | percent }}"})
    harness = Harness(rule)

    with capture_logs() as logs:
        harness.observe(0.0, sample("util", 0.95, 0.0))

    [signal] = harness.signals
    assert signal.annotations["summary"].startswith("(annotation 'summary' failed to render")
    assert harness.engine.render_errors == {"Busy": 1}
    assert any(entry["event"] == "annotation template failed" for entry in logs)


def test_template_sandbox_hides_python_objects() -> None:
    rule = Rule.build("Busy", "util > 0.9", annotations={
        "summary": "{{ value.__class__.__mro__ }}"})
    harness = Harness(rule)

    harness.observe(0.0, sample("util", 0.95, 0.0))

    summary = harness.signals[0].annotations["summary"]
    assert "SecurityError" in summary
    assert "<class" not in summary


@pytest.mark.parametrize(("value", "expected"), [
    (0.934, "93.4%"), (1, "100.0%"), (0, "0.0%"), (math.inf, "inf"),
])
def test_percent_filter(value: float, expected: str) -> None:
    assert percent(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (1234567, "1.235M"), (950_000_000, "950M"), (1e12, "1T"), (0.0123, "12.3m"),
    (0, "0"), (-2500, "-2.5k"), (12, "12"),
])
def test_humanize_filter(value: float, expected: str) -> None:
    assert humanize(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (5400, "1h 30m"), (601, "10m 1s"), (90061, "1d 1h 1m 1s"), (0.25, "0.25s"),
])
def test_humanize_duration_filter(value: float, expected: str) -> None:
    assert humanize_duration(value) == expected
