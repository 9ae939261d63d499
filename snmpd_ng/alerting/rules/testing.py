"""Rule unit tests, as `promtool test rules` runs them: input series in, expected alerts out.

Each test group feeds its input series to a fresh `RulesEngine`, one sample per series every
`interval`, starting at time 0, and calls `tick` at each input time and each `eval_time`. At an
`eval_time` the alerts of `alertname` in the tested state (firing by default) must be exactly
the expected ones: the same labels (the series' labels, the rule's labels and `severity`), and
the same annotations where the test lists them. testfile.py describes the file format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from snmpd_ng.alerting.rules.config import RULES_PATH, RuleIssue, load_rules
from snmpd_ng.alerting.rules.engine import RulesEngine
from snmpd_ng.alerting.rules.model import Rule, RuleSignal
from snmpd_ng.alerting.rules.testfile import (
    AlertRuleTest,
    NotationError,
    RuleTestFile,
    RuleTestGroup,
    expand_values,
    parse_series,
)
from snmpd_ng.alerting.series import REBOOTS, Sample, label_key
from snmpd_ng.config.errors import ConfigError, KeyPath, format_key_path
from snmpd_ng.config.loader import parse_yaml
from snmpd_ng.metrics.naming import TARGET_LABEL
from snmpd_ng.metrics.values import SampleKind

MAX_STEPS = 1_000_000
"""Input intervals one test group may span; more is a typo in an eval_time or interval."""


class RuleTestError(ValueError):
    """A test file or rule file that cannot be run; the message names the file and key."""


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of one `alert_rule_test` entry."""

    group: str
    alertname: str
    eval_time: float
    state: str
    passed: bool
    details: tuple[str, ...] = ()
    """Expected and actual alerts, when the case failed."""

    def title(self) -> str:
        group = f"{self.group}: " if self.group else ""
        return (f"{group}{self.alertname} at {_format_seconds(self.eval_time)}, "
                f"{self.state} alerts")


@dataclass(slots=True)
class FileResult:
    path: str
    cases: list[CaseResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Problems that stopped the file from running, each a full message."""

    @property
    def passed(self) -> bool:
        return not self.errors and all(case.passed for case in self.cases)


class ManualClock:
    """A clock for the engine that shows the time its owner sets.

    `wall()` is `time` plus `wall_offset`; the rule tests keep the offset at 0, so Unix times
    start at the epoch, as in promtool.
    """

    def __init__(self, time: float = 0.0, wall_offset: float = 0.0) -> None:
        self.time = time
        self.wall_offset = wall_offset

    def now(self) -> float:
        return self.time

    def wall(self) -> float:
        return self.time + self.wall_offset


def run_test_file(path: str | Path) -> FileResult:
    """Run every test of the file at `path`; errors in the files are reported, not raised."""
    source = str(path)
    result = FileResult(source)
    try:
        spec, lines = _load_test_file(Path(path))
        rules = _load_all_rules(spec, Path(path), lines)
    except RuleTestError as exc:
        result.errors.append(str(exc))
        return result

    for index, group in enumerate(spec.tests):
        try:
            result.cases.extend(run_group(group, rules, f"{source}: tests[{index}]"))
        except RuleTestError as exc:
            result.errors.append(str(exc))
    return result


def _read_yaml(path: Path) -> tuple[Any, Mapping[KeyPath, int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleTestError(f"{path}: cannot read the file: {exc}") from exc
    try:
        document = parse_yaml(text, str(path))
    except ConfigError as exc:
        raise RuleTestError(str(exc)) from exc
    return document.data, document.lines


def _load_test_file(path: Path) -> tuple[RuleTestFile, Mapping[KeyPath, int]]:
    data, lines = _read_yaml(path)
    try:
        return RuleTestFile.model_validate(data), lines
    except ValidationError as exc:
        messages = []
        for error in exc.errors():
            key_path: KeyPath = tuple(part for part in error["loc"] if part != "[key]")
            line = lines.get(key_path)
            where = f"{path}:{line}" if line is not None else str(path)
            messages.append(f"{where}: {format_key_path(key_path)}: {error['msg']}")
        raise RuleTestError("\n".join(messages)) from None


def _load_all_rules(spec: RuleTestFile, path: Path,
                    lines: Mapping[KeyPath, int]) -> list[Rule]:
    sources: list[tuple[Path, object, KeyPath, Mapping[KeyPath, int]]] = []
    if spec.rules is not None:
        sources.append((path, spec.rules, ("rules",), lines))
    for name in spec.rule_files:
        rule_path = path.parent / name
        data, rule_lines = _read_yaml(rule_path)
        raw, key_path = _rules_section(data, rule_path)
        sources.append((rule_path, raw, key_path, rule_lines))
    if not sources:
        raise RuleTestError(f"{path}: no rules to test; list files under 'rule_files' or give "
                            "the rules under 'rules'")

    rules: list[Rule] = []
    for source, raw, key_path, source_lines in sources:
        # Warnings are left out: the only kind names metrics that no job polls, and a test
        # file has no jobs.
        loaded, issues = load_rules(raw, frozenset(), path=key_path)
        errors = [_format_issue(issue, source, source_lines) for issue in issues
                  if issue.is_error]
        if errors:
            raise RuleTestError("\n".join(errors))
        rules.extend(loaded)
    return rules


def _rules_section(data: object, path: Path) -> tuple[object, KeyPath]:
    if isinstance(data, list):
        return data, ()
    if isinstance(data, Mapping):
        alerting = data.get("alerting")
        if isinstance(alerting, Mapping) and "rules" in alerting:
            return alerting["rules"], RULES_PATH
        if "rules" in data:
            return data["rules"], ("rules",)
    raise RuleTestError(f"{path}: no rules found; expected 'alerting: rules:' as in the config "
                        "file, a top-level 'rules:' list, or a list of rules")


def _format_issue(issue: RuleIssue, source: Path, lines: Mapping[KeyPath, int]) -> str:
    located = RuleIssue(issue.path, issue.message, lines.get(issue.path), issue.severity)
    return located.format(str(source))


# Running a group


def run_group(group: RuleTestGroup, rules: Sequence[Rule], where: str) -> list[CaseResult]:
    """Feed the group's input series to a fresh engine and check each alert test."""
    inputs = _expand_inputs(group, where)
    clock = ManualClock()
    engine = RulesEngine(rules, clock)
    known_rules = {rule.name for rule in rules}
    for test in group.alert_rule_test:
        if test.alertname not in known_rules:
            raise RuleTestError(f"{where}: alert_rule_test names the rule {test.alertname!r}, "
                                f"which is not loaded; rules: {', '.join(sorted(known_rules))}")

    input_steps = max((len(values) for _, values in inputs), default=0)
    eval_times = sorted({test.eval_time for test in group.alert_rule_test})
    last_time = max([*eval_times, (input_steps - 1) * group.interval, 0.0])
    if last_time / group.interval > MAX_STEPS:
        raise RuleTestError(f"{where}: the test spans more than {MAX_STEPS} intervals; check "
                            "eval_time and interval")

    reboots = _reboot_counts(inputs, input_steps)
    snapshots: dict[float, list[RuleSignal]] = {}
    for time, step in _timeline(input_steps, group.interval, eval_times):
        clock.time = time
        if step is not None:
            samples = _samples_at(inputs, step, time, group, reboots)
            engine.observe(samples, time)
        engine.tick(time)
        if time in eval_times:
            snapshots[time] = engine.active_alerts()
    return [_check(test, snapshots[test.eval_time], group.name) for test in group.alert_rule_test]


_Input = tuple[Sample, list[float | None]]
"""A template sample with the series' name, labels and type, and its value at each step."""


def _expand_inputs(group: RuleTestGroup, where: str) -> list[_Input]:
    inputs = []
    for index, series in enumerate(group.input_series):
        try:
            name, labels = parse_series(series.series)
            values = expand_values(series.values)
        except NotationError as exc:
            raise RuleTestError(f"{where}.input_series[{index}]: {exc}") from None
        kind: SampleKind = "counter" if series.type.startswith("counter") else "gauge"
        template = Sample(name, labels, 0, series.type, kind, 0.0, 0.0, 0.0)
        inputs.append((template, values))
    return inputs


def _timeline(input_steps: int, interval: float,
              eval_times: list[float]) -> list[tuple[float, int | None]]:
    times: dict[float, int | None] = {step * interval: step for step in range(input_steps)}
    for time in eval_times:
        times.setdefault(time, None)
    return sorted(times.items())


def _samples_at(inputs: list[_Input], step: int, time: float, group: RuleTestGroup,
                reboots: Mapping[str, list[int]]) -> list[Sample]:
    expires_at = time + (group.stale_after + 1) * group.interval
    samples = []
    for template, values in inputs:
        value = values[step] if step < len(values) else None
        if value is None:
            continue
        number: float = int(value) if value.is_integer() else value
        samples.append(Sample(template.name, template.labels, number, template.type,
                              template.kind, time, time, expires_at,
                              _reboots_of(reboots, template.target, step), template.key))
    return samples


def _reboot_counts(inputs: list[_Input], steps: int) -> dict[str, list[int]]:
    """Return the reboot count of each target at each step, from its `reboots` input series.

    Every sample of the target carries that count, as in a poll result, so that a step across
    a reboot is a discontinuity. A missing value repeats the one before it.
    """
    counts: dict[str, list[int]] = {}
    for template, values in inputs:
        if template.name != REBOOTS:
            continue
        filled, current = [], 0
        for step in range(steps):
            value = values[step] if step < len(values) else None
            current = current if value is None else int(value)
            filled.append(current)
        counts[template.labels.get(TARGET_LABEL, "")] = filled
    return counts


def _reboots_of(reboots: Mapping[str, list[int]], target: str, step: int) -> int:
    counts = reboots.get(target)
    return counts[step] if counts else 0


# Checking


def _check(test: AlertRuleTest, alerts: list[RuleSignal], group: str) -> CaseResult:
    actual = [alert for alert in alerts
              if alert.rule == test.alertname and alert.state == test.state]
    unmatched = list(actual)
    missing = []
    for expected in test.exp_alerts:
        found = next((alert for alert in unmatched if _matches(expected.exp_labels,
                                                               expected.exp_annotations, alert)),
                     None)
        if found is None:
            missing.append(expected)
        else:
            unmatched.remove(found)

    passed = not missing and not unmatched
    details: list[str] = []
    if not passed:
        if test.exp_alerts:
            details.append(f"expected {len(test.exp_alerts)} {test.state} alert(s):")
        else:
            details.append(f"expected no {test.state} alerts")
        details.extend(f"  {_format_alert(expected.exp_labels, expected.exp_annotations)}"
                       for expected in test.exp_alerts)
        details.append(f"got {len(actual)}:" if actual else f"got no {test.state} alerts")
        details.extend(f"  {_format_alert(alert.labels, alert.annotations)}" for alert in actual)
    return CaseResult(group, test.alertname, test.eval_time, test.state, passed, tuple(details))


def _matches(labels: Mapping[str, str], annotations: Mapping[str, str] | None,
             alert: RuleSignal) -> bool:
    if dict(labels) != dict(alert.labels):
        return False
    return annotations is None or dict(annotations) == dict(alert.annotations)


def _format_alert(labels: Mapping[str, str], annotations: Mapping[str, str] | None) -> str:
    text = "{" + ", ".join(f'{name}="{value}"' for name, value in label_key(labels)) + "}"
    if annotations:
        text += " " + ", ".join(f"{name}={value!r}" for name, value in sorted(annotations.items()))
    return text


def _format_seconds(seconds: float) -> str:
    if seconds % 60 == 0 and seconds:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def format_results(results: Sequence[FileResult]) -> tuple[list[str], bool]:
    """Return the report lines of every file and case, and whether all passed."""
    lines: list[str] = []
    for result in results:
        lines.extend(f"ERROR {error}" for error in result.errors)
        for case in result.cases:
            lines.append(f"{'PASS' if case.passed else 'FAIL'} {result.path}: {case.title()}")
            lines.extend(f"    {detail}" for detail in case.details)
    passed_cases = sum(case.passed for result in results for case in result.cases)
    total_cases = sum(len(result.cases) for result in results)
    all_passed = all(result.passed for result in results)
    lines.append(f"{passed_cases} of {total_cases} case(s) passed"
                 + ("" if all_passed else "; FAILED"))
    return lines, all_passed
