"""The alert handling keys of `alerting:`: defaults, references and messages that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from snmpd_ng.alerting.config import (
    AlertingConfig,
    channel_types,
    check_alerting,
    load_alerting,
)
from snmpd_ng.config.errors import ConfigError

CHANNELS = {"chat": "slack", "pager": "pagerduty", "mail": "email"}


def valid(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "time_windows": {"business-hours": {
            "location": "Europe/Berlin", "weekdays": ["monday:friday"],
            "times": [{"start": "08:00", "end": "18:00"}]}},
        "receivers": {"noc": {"channels": ["chat", "mail"]}, "oncall": {"channels": ["pager"]}},
        "policies": {"network": {
            "loops": 2, "loop_after": "2h",
            "tiers": [
                {"receivers": ["noc"], "repeat": "30m", "active_in": ["business-hours"]},
                {"receivers": ["oncall"], "after": "15m", "handoff": True},
            ]}},
        "routes": [{"matchers": ['team="network"'], "policy": "network", "group_by": ["site"]},
                   {"policy": "network"}],
        "inhibit": [{"source_matchers": ['rule="SiteDown"'],
                     "target_matchers": ['severity="warning"'], "equal": ["site"]}],
        "dependencies": {"access1": ["core1"]},
        "rules": [{"name": "ignored here"}],
        "channels": {"chat": {"type": "slack"}},
    }
    raw.update(overrides)
    return raw


def messages(raw: object, types: dict[str, str] | None = CHANNELS) -> list[str]:
    return [issue.format("config") for issue in check_alerting(raw, types)]


class TestValidConfig:
    def test_full_example_loads(self) -> None:
        loaded = load_alerting(valid(), CHANNELS)
        policy = loaded.policies["network"]

        assert [tier.after for tier in policy.tiers] == [0.0, 900.0]
        assert policy.tiers[0].repeat == 1800.0
        assert policy.tiers[1].handoff
        assert policy.loop_after == 7200.0
        assert loaded.routes[0].grouping.group_by == ("site",)
        assert loaded.routes[1].grouping.group_by == ("target", "rule")
        assert loaded.routes[0].name == "network"
        assert loaded.inhibition.dependencies == {"access1": ("core1",)}

    def test_empty_section_has_defaults(self) -> None:
        loaded = load_alerting(None)

        assert loaded == AlertingConfig(inhibition=loaded.inhibition)
        assert [str(matcher) for matcher in loaded.inhibition.unreachable] == \
            ['rule="TargetDown"']
        assert loaded.grouping.group_wait == 30.0

    def test_store_path_resolves_against_state_dir(self) -> None:
        loaded = load_alerting({"store": {"path": "alerting/alerts.db"}})

        assert loaded.resolve_store_path(Path("/var/lib/snmpd-ng")) == \
            Path("/var/lib/snmpd-ng/alerting/alerts.db")

    def test_default_store_path(self) -> None:
        assert load_alerting({}).resolve_store_path(Path("/state")) == Path("/state/alerts.db")

    def test_channel_types_from_raw_section(self) -> None:
        assert channel_types({"a": {"type": "slack"}, "b": "broken"}) == {"a": "slack"}

    def test_weekday_range_wraps_over_the_weekend(self) -> None:
        raw = {"time_windows": {"w": {"weekdays": ["friday:monday"]}}}
        raw_policy = {"p": {"tiers": [{"receivers": ["noc"], "active_in": ["w"]}]}}
        loaded = load_alerting({**raw, "receivers": {"noc": {"channels": ["chat"]}},
                                "policies": raw_policy}, CHANNELS)

        assert loaded.policies["p"].tiers[0].active_in[0].weekdays == frozenset({4, 5, 6, 0})


class TestMessages:
    def test_unknown_receiver_names_the_tier(self) -> None:
        raw = valid()
        raw["policies"]["network"]["tiers"][1]["receivers"] = ["oncal"]

        assert messages(raw) == [
            "config: alerting.policies.network.tiers[1].receivers[0]: unknown receiver "
            "'oncal' (did you mean 'oncall'?); configured: noc, oncall"]

    def test_unknown_channel_names_the_receiver(self) -> None:
        raw = valid(receivers={"noc": {"channels": ["chatt"]},
                               "oncall": {"channels": ["pager"]}})

        (message,) = messages(raw)
        assert message.startswith("config: alerting.receivers.noc.channels[0]: unknown "
                                   "channel 'chatt'")

    def test_channels_unchecked_without_channel_types(self) -> None:
        raw = valid(receivers={"noc": {"channels": ["x"]}, "oncall": {"channels": ["y"]}})

        assert messages(raw, None) == []

    def test_unknown_policy_in_route(self) -> None:
        raw = valid(routes=[{"policy": "netwrk"}])

        (message,) = messages(raw)
        assert "alerting.routes[0].policy: unknown policy 'netwrk'" in message

    def test_unknown_time_window(self) -> None:
        raw = valid()
        raw["policies"]["network"]["tiers"][0]["active_in"] = ["office"]

        (message,) = messages(raw)
        assert "tiers[0].active_in[0]: unknown time window 'office'" in message

    def test_invalid_matcher_shows_the_text(self) -> None:
        raw = valid(routes=[{"matchers": ['team=~"(net"'], "policy": "network"}])

        (message,) = messages(raw)
        assert "alerting.routes[0].matchers" in message
        assert "invalid regular expression" in message

    def test_unknown_top_level_key(self) -> None:
        (message,) = messages(valid(polices={}))

        assert "alerting.polices: unknown key 'polices'; allowed keys:" in message

    def test_unknown_tier_key(self) -> None:
        raw = valid()
        raw["policies"]["network"]["tiers"][0]["delay"] = "5m"

        (message,) = messages(raw)
        assert "alerting.policies.network.tiers[0].delay: unknown key 'delay'" in message

    def test_tiers_must_not_go_back_in_time(self) -> None:
        raw = valid()
        raw["policies"]["network"]["tiers"][0]["after"] = "1h"

        (message,) = messages(raw)
        assert "tiers[1].after: invalid value" in message

    def test_loops_need_loop_after(self) -> None:
        raw = valid()
        del raw["policies"]["network"]["loop_after"]

        (message,) = messages(raw)
        assert "alerting.policies.network.loop_after: missing key 'loop_after'" in message

    def test_loop_after_must_follow_last_tier(self) -> None:
        raw = valid()
        raw["policies"]["network"]["loop_after"] = "10m"

        (message,) = messages(raw)
        assert "loop_after: invalid value 600s" in message

    def test_handoff_needs_a_pagerduty_channel(self) -> None:
        raw = valid()
        raw["policies"]["network"]["tiers"][0]["handoff"] = True

        (message,) = messages(raw)
        assert "tiers[0].handoff: invalid value true" in message

    def test_unknown_time_zone(self) -> None:
        raw = valid()
        raw["time_windows"]["business-hours"]["location"] = "Europe/Berln"

        (message,) = messages(raw)
        assert "business-hours.location: unknown time zone 'Europe/Berln'" in message

    @pytest.mark.parametrize(("start", "end", "problem"), [
        ("8am", "18:00", "start: invalid time '8am'"),
        ("08:00", "24:01", "end: invalid time '24:01'"),
        ("18:00", "08:00", "end: invalid range 18:00-08:00"),
    ])
    def test_invalid_times(self, start: str, end: str, problem: str) -> None:
        raw = valid()
        raw["time_windows"]["business-hours"]["times"] = [{"start": start, "end": end}]

        (message,) = messages(raw)
        assert f"business-hours.times[0].{problem}" in message

    def test_invalid_weekday(self) -> None:
        raw = valid()
        raw["time_windows"]["business-hours"]["weekdays"] = ["mon"]

        (message,) = messages(raw)
        assert "weekdays[0]: invalid weekday 'mon'" in message

    def test_dependency_cycle(self) -> None:
        raw = valid(dependencies={"a": ["b"], "b": ["a"]})

        assert len(messages(raw)) == 2
        assert "the chain a -> b returns to a" in messages(raw)[0]

    def test_invalid_duration(self) -> None:
        raw = valid(grouping={"group_wait": "soon"})

        (message,) = messages(raw)
        assert "alerting.grouping.group_wait: invalid duration 'soon'" in message

    def test_every_problem_is_reported(self) -> None:
        raw = valid(routes=[{"policy": "nope"}], dependencies={"a": []})

        assert len(messages(raw)) == 2

    def test_load_raises_config_error(self) -> None:
        with pytest.raises(ConfigError, match="1 error"):
            load_alerting(valid(routes=[{"policy": "nope"}]), CHANNELS)

    def test_section_must_be_a_mapping(self) -> None:
        (message,) = messages(["routes"])

        assert "alerting: invalid value (a list); expected a mapping" in message


DOCS = Path(__file__).resolve().parent.parent / "docs" / "alerting.md"


def test_docs_examples_load() -> None:
    text = DOCS.read_text(encoding="utf-8")
    blocks = [block.split("```", 1)[0] for block in text.split("```yaml\n")[1:]]
    types = {"noc-slack": "slack", "noc-mail": "email", "lead-sms": "sms",
             "oncall-pagerduty": "pagerduty"}
    for block in blocks:
        section = yaml.safe_load(block)["alerting"]
        policies = {name: {"tiers": [{"receivers": ["noc"]}]}
                    for route in section.get("routes", []) for name in [route["policy"]]}
        section = {"receivers": {"noc": {"channels": ["noc-slack"]}},
                   "policies": policies, **section}

        assert check_alerting(section, types) == []
