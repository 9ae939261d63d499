"""Matchers in Alertmanager's syntax, silences, and silenced alerts in the service."""

from __future__ import annotations

from pathlib import Path

import pytest
from alerting_helpers import MONDAY_NOON_UTC, channels, new_clock, signal, simple_config, started
from alerting_helpers import step as run_step

from snmpd_ng.alerting.lifecycle import AlertState
from snmpd_ng.alerting.matchers import (
    Matcher,
    MatcherError,
    MatchType,
    format_matchers,
    parse_matchers,
)
from snmpd_ng.alerting.service import AlertFilter
from snmpd_ng.alerting.silences import (
    SilenceError,
    SilenceNotFoundError,
    SilencePolicy,
    Silences,
)

T0 = MONDAY_NOON_UTC


class TestMatcherParsing:
    @pytest.mark.parametrize(("text", "kind"), [
        ('target="core1"', MatchType.EQUAL),
        ('target!="core1"', MatchType.NOT_EQUAL),
        ('target=~"core.*"', MatchType.REGEX),
        ('target!~"core.*"', MatchType.NOT_REGEX),
    ])
    def test_operator(self, text: str, kind: MatchType) -> None:
        (matcher,) = parse_matchers(text)

        assert matcher.type is kind
        assert matcher.name == "target"

    def test_bare_value(self) -> None:
        (matcher,) = parse_matchers("rule = TargetDown")

        assert matcher.value == "TargetDown"

    def test_braces_and_commas(self) -> None:
        matchers = parse_matchers('{target="core1", site=~"fra|ber"}')

        assert [matcher.name for matcher in matchers] == ["target", "site"]

    def test_escapes_in_quoted_value(self) -> None:
        (matcher,) = parse_matchers(r'note="a \"b\" \\ c"')

        assert matcher.value == 'a "b" \\ c'

    def test_comma_inside_quotes(self) -> None:
        (matcher,) = parse_matchers('ifName="Gi0/1,2"')

        assert matcher.value == "Gi0/1,2"

    def test_round_trip_through_format(self) -> None:
        matchers = parse_matchers(r'{a="x\"y", b!~"1|2"}')

        assert parse_matchers(format_matchers(matchers)) == matchers

    @pytest.mark.parametrize(("text", "problem"), [
        ('="core1"', "expected a label name at character 1"),
        ("target core1", "expected one of"),
        ('target="core1', "missing closing"),
        ('{target="core1"', "missing closing '}'"),
        ('target=~"(unclosed"', "invalid regular expression"),
        (r'target="\q"', "unknown escape"),
        ('a="1" b="2"', "expected ','"),
    ])
    def test_invalid_text(self, text: str, problem: str) -> None:
        with pytest.raises(MatcherError, match=problem.replace("(", r"\(")):
            parse_matchers(text)


class TestMatcherMeaning:
    def test_regex_is_anchored(self) -> None:
        (matcher,) = parse_matchers('target=~"core"')

        assert not matcher.matches({"target": "core1"})

    def test_regex_alternation_is_anchored_as_a_whole(self) -> None:
        (matcher,) = parse_matchers('target=~"a|b"')

        assert not matcher.matches({"target": "ab"})
        assert matcher.matches({"target": "b"})

    def test_missing_label_counts_as_empty(self) -> None:
        (matcher,) = parse_matchers('site=""')

        assert matcher.matches({"target": "core1"})

    def test_not_regex_on_missing_label(self) -> None:
        (matcher,) = parse_matchers('site!~".+"')

        assert matcher.matches({})

    def test_not_equal_matches_missing_label(self) -> None:
        assert Matcher.build("site", MatchType.NOT_EQUAL, "fra").matches({})


def silences(**policy: float) -> Silences:
    return Silences(SilencePolicy(**policy))


class TestSilences:
    def test_defaults_start_now_and_last_default_duration(self) -> None:
        store = silences(default_duration=3600)
        silence = store.create(parse_matchers('target="core1"'), created_by="alice",
                               comment="maintenance", now=T0)

        assert silence.starts_at == T0
        assert silence.ends_at == T0 + 3600

    def test_active_only_between_start_and_end(self) -> None:
        store = silences()
        silence = store.create(parse_matchers('target="core1"'), created_by="alice",
                               comment="maintenance", now=T0, starts_at=T0 + 100,
                               ends_at=T0 + 200)
        labels = {"target": "core1"}

        assert store.muting(labels, T0 + 99) == ()
        assert store.muting(labels, T0 + 100) == (silence.id,)
        assert store.muting(labels, T0 + 200) == ()

    def test_only_matching_alerts_are_muted(self) -> None:
        store = silences()
        store.create(parse_matchers('target="core1", rule="LinkDown"'), created_by="alice",
                     comment="maintenance", now=T0)

        assert store.muting({"target": "core1", "rule": "CpuHigh"}, T0) == ()

    @pytest.mark.parametrize(("matchers", "fields", "problem"), [
        ("", {}, "missing matchers"),
        ('site=~".*"', {}, "match every alert"),
        ('target="a"', {"created_by": " "}, "missing created_by"),
        ('target="a"', {"comment": ""}, "missing comment"),
        ('target="a"', {"starts_at": T0 + 10, "ends_at": T0 + 5}, "after starts_at"),
        ('target="a"', {"starts_at": T0 - 100, "ends_at": T0 - 1}, "in the past"),
        ('target="a"', {"ends_at": T0 + 40 * 86400}, "more than the maximum"),
    ])
    def test_invalid_silence(self, matchers: str, fields: dict[str, object],
                             problem: str) -> None:
        arguments: dict[str, object] = {"created_by": "alice", "comment": "why", **fields}
        with pytest.raises(SilenceError, match=problem):
            silences().create(parse_matchers(matchers), now=T0, **arguments)  # type: ignore[arg-type]

    def test_expire_ends_silence_now(self) -> None:
        store = silences()
        silence = store.create(parse_matchers('target="core1"'), created_by="alice",
                               comment="maintenance", now=T0)
        expired = store.expire(silence.id, "bob", T0 + 60)

        assert expired.ends_at == T0 + 60
        assert expired.expired_by == "bob"
        assert store.muting({"target": "core1"}, T0 + 60) == ()

    def test_expire_unknown_silence_raises(self) -> None:
        with pytest.raises(SilenceNotFoundError):
            silences().expire("nope", "bob", T0)

    def test_expire_twice_raises(self) -> None:
        store = silences()
        silence = store.create(parse_matchers('target="core1"'), created_by="alice",
                               comment="maintenance", now=T0)
        store.expire(silence.id, "bob", T0 + 60)

        with pytest.raises(SilenceError, match="already ended"):
            store.expire(silence.id, "bob", T0 + 61)

    def test_next_change_is_next_start_or_end(self) -> None:
        store = silences()
        store.create(parse_matchers('target="core1"'), created_by="alice", comment="x",
                     now=T0, starts_at=T0 + 100, ends_at=T0 + 200)

        assert store.next_change(T0) == T0 + 100
        assert store.next_change(T0 + 100) == T0 + 200
        assert store.next_change(T0 + 200) is None

    def test_prune_after_retention(self) -> None:
        store = silences(retention=3600)
        silence = store.create(parse_matchers('target="core1"'), created_by="alice",
                               comment="x", now=T0, ends_at=T0 + 60)

        assert store.prune(T0 + 3659) == []
        assert store.prune(T0 + 3660) == [silence.id]


class TestSilencedAlerts:
    async def test_silenced_alert_is_not_notified(self, tmp_path: Path) -> None:
        clock = new_clock()
        fakes = channels("chat")
        service = await started(tmp_path, clock, simple_config(fakes), fakes)
        await service.silence('target="core1"', created_by="alice", comment="maintenance")
        service.submit(signal(at=clock.wall()))
        await run_step(service, clock)
        await run_step(service, clock, 60)

        assert fakes["chat"].calls == []
        (alert,) = service.alerts(AlertFilter(silenced=True))
        assert alert.state is AlertState.FIRING
        await service.stop()

    async def test_alert_is_notified_when_silence_expires(self, tmp_path: Path) -> None:
        clock = new_clock()
        fakes = channels("chat")
        service = await started(tmp_path, clock, simple_config(fakes), fakes)
        silence = await service.silence('target="core1"', created_by="alice", comment="x")
        service.submit(signal(at=clock.wall()))
        await run_step(service, clock)
        await run_step(service, clock, 60)
        await service.expire_silence(silence.id, "bob")
        await run_step(service, clock, 1)

        assert fakes["chat"].events() == [("firing", "team", 1)]
        await service.stop()

    async def test_silence_ending_on_time_unmutes(self, tmp_path: Path) -> None:
        clock = new_clock()
        fakes = channels("chat")
        service = await started(tmp_path, clock, simple_config(fakes), fakes)
        await service.silence('target="core1"', created_by="alice", comment="x",
                              ends_at=clock.wall() + 600)
        service.submit(signal(at=clock.wall()))
        await run_step(service, clock)
        await run_step(service, clock, 60)
        await run_step(service, clock, 600)

        assert [call.event for call in fakes["chat"].calls] == ["firing"]
        await service.stop()

    async def test_silence_is_in_history(self, tmp_path: Path) -> None:
        clock = new_clock()
        fakes = channels("chat")
        service = await started(tmp_path, clock, simple_config(fakes), fakes)
        silence = await service.silence('target="core1"', created_by="alice", comment="x")
        await service.expire_silence(silence.id, "bob")
        entries = await service.history()

        assert [(entry.kind, entry.actor) for entry in entries] == [
            ("silence.created", "alice"), ("silence.expired", "bob")]
        await service.stop()

    async def test_silences_survive_restart(self, tmp_path: Path) -> None:
        clock = new_clock()
        fakes = channels("chat")
        service = await started(tmp_path, clock, simple_config(fakes), fakes)
        silence = await service.silence('target="core1"', created_by="alice", comment="x")
        await service.stop()

        again = await started(tmp_path, clock, simple_config(fakes), fakes)
        assert [kept.id for kept in again.silences()] == [silence.id]
        await again.stop()

    async def test_resolve_while_silenced_goes_out(self, tmp_path: Path) -> None:
        clock = new_clock()
        fakes = channels("chat")
        service = await started(tmp_path, clock, simple_config(fakes), fakes)
        service.submit(signal(at=clock.wall()))
        await run_step(service, clock)
        await run_step(service, clock, 30)
        await service.silence('target="core1"', created_by="alice", comment="maintenance")
        await run_step(service, clock, 300)
        service.submit(signal(state="resolved", at=clock.wall()))
        await run_step(service, clock)
        await run_step(service, clock, 300)

        assert [call.event for call in fakes["chat"].calls] == ["firing", "resolved"]
        assert [alert.state for alert in fakes["chat"].calls[-1].alerts] == ["resolved"]
        await service.stop()
