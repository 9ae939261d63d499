"""Handing a target's rule state from one engine to another (snmpd_ng.alerting.rules.handoff).

Two engines stand for two nodes. Their monotonic clocks differ by OFFSET_B seconds at the same
Unix time, as the clocks of two processes do, so every test also checks the time conversion.
The state travels as the JSON text that cluster mode stores in Redis.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import pytest

from snmpd_ng.alerting.rules import Rule, RulesEngine, RuleSignal
from snmpd_ng.alerting.rules.handoff import (
    STATE_VERSION,
    TargetStateError,
    decode_target_state,
    encode_target_state,
)
from snmpd_ng.alerting.rules.testing import ManualClock
from snmpd_ng.alerting.series import REBOOTS, Sample

WALL_BASE = 1_700_000_000.0
INTERVAL = 60.0
OFFSET_A = 0.0
OFFSET_B = 5_000.0
"""Node B's monotonic clock reads this many seconds more than A's at the same Unix time."""
ROW = {"ifIndex": "3", "ifName": "Gi0/3"}

HOT = Rule.build("Hot", "temperature > 70")
HOT_FOR = Rule.build("Hot", "temperature > 70", for_seconds=120)
HOT_BAND = Rule.build("Hot", "temperature > 70", recover="temperature < 60")
COLD = Rule.build("Cold", "temperature < 90")
FAST = Rule.build("Fast", "rate(ifInOctets) > 150")
STOPPED = Rule.build("Stopped", "absent_for(ifInOctets, 10m)")


class Node:
    """An engine on a manual clock that runs `offset` seconds ahead of Unix time - WALL_BASE.

    Test times `t` are seconds since WALL_BASE, the same on every node.
    """

    def __init__(self, *rules: Rule, offset: float) -> None:
        self.offset = offset
        self.clock = ManualClock(wall_offset=WALL_BASE - offset)
        self.engine = RulesEngine(list(rules), self.clock)
        self.signals: list[RuleSignal] = []

    def set_time(self, t: float) -> None:
        self.clock.time = t + self.offset

    def sample(self, name: str, value: float, t: float, *, snmp_type: str = "gauge",
               labels: dict[str, str] | None = None, reboots: int = 0) -> Sample:
        kind = "counter" if snmp_type.startswith("counter") else "gauge"
        at = t + self.offset
        return Sample(name, {"target": "core1", **(labels or {})}, value, snmp_type,
                      kind, at, WALL_BASE + t, at + 4 * INTERVAL,  # type: ignore[arg-type]
                      reboots)

    def observe(self, t: float, *samples: Sample) -> list[RuleSignal]:
        self.set_time(t)
        found = self.engine.observe(samples)
        self.signals.extend(found)
        return found

    def tick(self, t: float) -> list[RuleSignal]:
        self.set_time(t)
        found = self.engine.tick()
        self.signals.extend(found)
        return found

    def feed(self, metric: str, values: list[float], start: float) -> None:
        for step, value in enumerate(values):
            t = start + step * INTERVAL
            self.observe(t, self.sample(metric, value, t))

    def export(self, t: float, target: str = "core1") -> dict[str, Any] | None:
        self.set_time(t)
        return self.engine.export_target(target, self.clock.now(), self.clock.wall())

    def import_(self, t: float, data: dict[str, Any], **options: Any) -> int:
        self.set_time(t)
        return self.engine.import_target("core1", data, self.clock.now(), self.clock.wall(),
                                         **options)

    def states(self) -> list[str]:
        return [signal.state for signal in self.signals]


def hand_over(old: Node, new: Node, t: float) -> int:
    """Export the target from `old` at `t`, through JSON text, into `new`; drop it on `old`."""
    data = old.export(t)
    assert data is not None
    text = encode_target_state(data)
    old.engine.drop_target("core1")
    return new.import_(t, decode_target_state(text))


def octets(node: Node, value: int, t: float, reboots: int = 0) -> Sample:
    return node.sample("ifInOctets", value, t, snmp_type="counter64", labels=ROW,
                       reboots=reboots)


# Continuation on the new owner


def test_rate_continues_on_new_engine() -> None:
    a, b = Node(FAST, offset=OFFSET_A), Node(FAST, offset=OFFSET_B)
    a.observe(0.0, octets(a, 0, 0.0))
    a.observe(60.0, octets(a, 6_000, 60.0))

    hand_over(a, b, 90.0)
    b.observe(120.0, octets(b, 18_000, 120.0))

    assert a.signals == []
    [fired] = b.signals
    assert fired.state == "firing"
    assert fired.value == 200.0


def test_rate_without_handover_has_no_first_value() -> None:
    # The control case for the test above: B alone has one point and no rate.
    b = Node(FAST, offset=OFFSET_B)
    b.observe(120.0, octets(b, 18_000, 120.0))

    assert b.signals == []


def test_for_timer_keeps_its_start() -> None:
    a, b = Node(HOT_FOR, offset=OFFSET_A), Node(HOT_FOR, offset=OFFSET_B)
    a.feed("temperature", [80, 80], start=0.0)

    hand_over(a, b, 60.0)
    b.feed("temperature", [80], start=120.0)

    assert a.states() == ["pending"]
    assert b.states() == ["firing"]
    assert b.signals[0].active_since == WALL_BASE


def test_for_timer_not_done_stays_pending() -> None:
    a, b = Node(HOT_FOR, offset=OFFSET_A), Node(HOT_FOR, offset=OFFSET_B)
    a.feed("temperature", [80], start=0.0)

    hand_over(a, b, 30.0)
    b.feed("temperature", [80], start=60.0)

    assert b.signals == []
    [alert] = b.engine.active_alerts()
    assert alert.state == "pending"


def test_firing_alert_resolves_once() -> None:
    a, b = Node(HOT, offset=OFFSET_A), Node(HOT, offset=OFFSET_B)
    a.feed("temperature", [80], start=0.0)

    hand_over(a, b, 30.0)
    b.feed("temperature", [80, 50], start=60.0)

    assert a.states() == ["firing"]
    assert b.states() == ["resolved"]
    assert b.signals[0].active_since == WALL_BASE


def test_hysteresis_band_continues() -> None:
    a, b = Node(HOT_BAND, offset=OFFSET_A), Node(HOT_BAND, offset=OFFSET_B)
    a.feed("temperature", [80, 65], start=0.0)

    hand_over(a, b, 90.0)
    b.feed("temperature", [65, 55], start=120.0)

    assert b.states() == ["resolved"]
    assert b.signals[0].value == 55


def test_absent_for_continues() -> None:
    a, b = Node(STOPPED, offset=OFFSET_A), Node(STOPPED, offset=OFFSET_B)
    a.observe(0.0, octets(a, 1, 0.0))
    a.tick(300.0)

    hand_over(a, b, 300.0)
    before = b.tick(600.0)
    after = b.tick(601.0)

    assert before == []
    [fired] = after
    assert fired.state == "firing"
    assert fired.value == 601.0


def test_import_emits_no_signals() -> None:
    a, b = Node(HOT, offset=OFFSET_A), Node(HOT, offset=OFFSET_B)
    a.feed("temperature", [80], start=0.0)

    hand_over(a, b, 30.0)
    signals = b.tick(31.0)

    assert signals == []
    assert [alert.state for alert in b.engine.active_alerts()] == ["firing"]


def test_import_replaces_existing_state() -> None:
    a, b = Node(HOT, offset=OFFSET_A), Node(HOT, offset=OFFSET_B)
    a.feed("temperature", [50], start=0.0)
    b.feed("temperature", [80], start=0.0)

    hand_over(a, b, 30.0)

    assert b.engine.active_alerts() == []
    [series] = b.engine.store.metric("core1", "temperature").values()
    assert series.last.value == 50


def test_times_converted_to_unix() -> None:
    a = Node(HOT, offset=OFFSET_B)
    a.feed("temperature", [80], start=10.0)

    data = a.export(20.0)

    assert data is not None
    [series] = data["series"]
    assert series["received_at"] == WALL_BASE + 10.0
    assert series["last"][1] == WALL_BASE + 10.0
    assert series["expires_at"] == WALL_BASE + 10.0 + 4 * INTERVAL
    [alert] = data["rules"]["Hot"]["alerts"]
    assert alert["active_since"] == WALL_BASE + 10.0
    assert data["version"] == STATE_VERSION


# Reboot counts of different nodes


def reboots_sample(node: Node, count: int, t: float) -> Sample:
    return node.sample(REBOOTS, count, t, snmp_type="counter", reboots=count)


def test_reboot_count_rebased_to_new_node() -> None:
    # A counted 2 reboots of the target; B's poller starts again from 0.
    a, b = Node(FAST, offset=OFFSET_A), Node(FAST, offset=OFFSET_B)
    for t, value in ((0.0, 0), (60.0, 6_000)):
        a.observe(t, octets(a, value, t, reboots=2), reboots_sample(a, 2, t))
    data = a.export(90.0)
    assert data is not None

    b.import_(90.0, data, reboots=0)
    b.observe(120.0, octets(b, 18_000, 120.0), reboots_sample(b, 0, 120.0))

    [fired] = b.signals
    assert fired.value == 200.0
    [reboots] = b.engine.store.metric("core1", REBOOTS).values()
    assert reboots.previous is not None
    assert reboots.previous.value == 0


def test_reboot_count_not_rebased_breaks_rate() -> None:
    a, b = Node(FAST, offset=OFFSET_A), Node(FAST, offset=OFFSET_B)
    for t, value in ((0.0, 0), (60.0, 6_000)):
        a.observe(t, octets(a, value, t, reboots=2), reboots_sample(a, 2, t))
    data = a.export(90.0)
    assert data is not None

    b.import_(90.0, data)
    b.observe(120.0, octets(b, 18_000, 120.0), reboots_sample(b, 0, 120.0))

    assert b.signals == []


# Rules that changed between the nodes


def test_removed_rule_alerts_dropped() -> None:
    a, b = Node(HOT, COLD, offset=OFFSET_A), Node(HOT, offset=OFFSET_B)
    a.feed("temperature", [80], start=0.0)

    dropped = hand_over(a, b, 30.0)

    assert dropped == 1
    assert [alert.rule for alert in b.engine.active_alerts()] == ["Hot"]


@pytest.mark.parametrize("changed", [
    Rule.build("Hot", "temperature > 70", severity="critical"),
    Rule.build("Hot", "temperature > 70", labels={"team": "dc"}),
])
def test_changed_rule_alerts_dropped(changed: Rule) -> None:
    a, b = Node(HOT, offset=OFFSET_A), Node(changed, offset=OFFSET_B)
    a.feed("temperature", [80], start=0.0)

    dropped = hand_over(a, b, 30.0)

    assert dropped == 1
    assert b.engine.active_alerts() == []


def test_changed_expression_keeps_alerts() -> None:
    a = Node(HOT, offset=OFFSET_A)
    b = Node(Rule.build("Hot", "temperature > 75"), offset=OFFSET_B)
    a.feed("temperature", [80], start=0.0)

    dropped = hand_over(a, b, 30.0)

    assert dropped == 0
    assert len(b.engine.active_alerts()) == 1


def test_rule_now_across_targets_drops_alerts() -> None:
    a = Node(HOT, offset=OFFSET_A)
    b = Node(Rule.build("Hot", "temperature > ignoring(target) temperature"), offset=OFFSET_B)
    a.feed("temperature", [80], start=0.0)

    dropped = hand_over(a, b, 30.0)

    assert dropped == 1
    assert b.engine.active_alerts() == []


# Export of nothing, and dropping


def test_export_unknown_target_is_none() -> None:
    a = Node(HOT, offset=OFFSET_A)
    a.feed("temperature", [80], start=0.0)

    assert a.export(30.0, target="edge9") is None


def test_drop_target_forgets_without_signals() -> None:
    a = Node(HOT, offset=OFFSET_A)
    a.feed("temperature", [80], start=0.0)

    a.engine.drop_target("core1")

    assert a.states() == ["firing"]
    assert a.engine.store.targets == {}
    assert a.engine.active_alerts() == []
    assert a.tick(600.0) == []


def test_forget_target_still_resolves() -> None:
    a = Node(HOT, offset=OFFSET_A)
    a.feed("temperature", [80], start=0.0)

    signals = a.engine.forget_target("core1")

    assert [signal.state for signal in signals] == ["resolved"]


# Malformed state


def valid_state() -> dict[str, Any]:
    a = Node(HOT_FOR, offset=OFFSET_A)
    a.observe(0.0, octets(a, 5, 0.0))
    a.feed("temperature", [80, 80], start=0.0)
    data = a.export(60.0)
    assert data is not None
    return data


def set_path(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        item: Any = data
        for step in path[:-1]:
            item = item[step]
        item[path[-1]] = value
    return change


def delete_key(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda data: data.pop(name)


SERIES = ("series", 0)
ALERT = ("rules", "Hot", "alerts", 0)

MALFORMED = {
    "unknown version": (set_path(("version",), 2), "format version 2"),
    "missing version": (delete_key("version"), "format version None"),
    "other target": (set_path(("target",), "edge9"), "target is 'edge9'"),
    "series missing": (delete_key("series"), "state.series must be a list"),
    "rules not object": (set_path(("rules",), []), "state.rules must be an object"),
    "series not object": (set_path(SERIES, 3), "series[0] must be an object"),
    "series of other target": (set_path((*SERIES, "labels", "target"), "edge9"),
                               "series[0].labels.target"),
    "label not text": (set_path((*SERIES, "labels", "ifIndex"), 3), "series[0].labels"),
    "bad kind": (set_path((*SERIES, "kind"), "histogram"), "series[0].kind"),
    "short point": (set_path((*SERIES, "last"), [1, 2]), "series[0].last"),
    "point time text": (set_path((*SERIES, "last", 1), "now"), "series[0].last[1]"),
    "point reboots float": (set_path((*SERIES, "last", 2), 1.5), "series[0].last[2]"),
    "expires infinite": (set_path((*SERIES, "expires_at"), math.inf), "series[0].expires_at"),
    "received missing": (lambda data: data["series"][0].pop("received_at"),
                         "series[0].received_at"),
    "alert state resolved": (set_path((*ALERT, "state"), "resolved"), ".state is 'resolved'"),
    "alert value text": (set_path((*ALERT, "value"), "80"), ".value must be a number"),
    "alert value bool": (set_path((*ALERT, "value"), True), ".value must be a number"),
    "alert key pairs": (set_path((*ALERT, "key"), [["target"]]), ".key must be a list"),
    "alert since missing": (lambda data: data["rules"]["Hot"]["alerts"][0].pop("active_since"),
                            ".active_since"),
    "severity not text": (set_path(("rules", "Hot", "severity"), 1), "severity must be a string"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_state_raises(case: str) -> None:
    change, message = MALFORMED[case]
    data = valid_state()
    change(data)
    b = Node(HOT_FOR, offset=OFFSET_B)

    with pytest.raises(TargetStateError) as caught:
        b.import_(60.0, data)

    assert message in str(caught.value)


def test_malformed_state_changes_nothing() -> None:
    b = Node(HOT_FOR, offset=OFFSET_B)
    b.import_(60.0, valid_state())
    before = b.export(60.0)
    data = valid_state()
    data["rules"]["Hot"]["alerts"][0]["state"] = "resolved"

    with pytest.raises(TargetStateError):
        b.import_(60.0, data)

    assert b.export(60.0) == before


def test_valid_state_imports() -> None:
    # The base of the malformed cases imports cleanly, so each case fails on its own change.
    b = Node(HOT_FOR, offset=OFFSET_B)

    assert b.import_(60.0, copy.deepcopy(valid_state())) == 0
    assert len(b.engine.active_alerts()) == 1


# Text


def test_encode_is_compact_json() -> None:
    text = encode_target_state({"version": 1, "series": []})

    assert text == '{"version":1,"series":[]}'


def test_encode_decode_keeps_infinite_value() -> None:
    text = encode_target_state({"value": math.inf})

    assert decode_target_state(text) == {"value": math.inf}


def test_encode_unencodable_raises() -> None:
    with pytest.raises(TargetStateError, match="cannot be encoded"):
        encode_target_state({"labels": {1, 2}})


@pytest.mark.parametrize(("text", "message"), [
    ("{", "not valid JSON"),
    ("", "not valid JSON"),
    ("[1, 2]", "must be a JSON object, got list"),
    ("null", "must be a JSON object, got NoneType"),
])
def test_decode_invalid_text_raises(text: str, message: str) -> None:
    with pytest.raises(TargetStateError, match=message):
        decode_target_state(text)
