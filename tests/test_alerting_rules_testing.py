"""The promtool-like rule test runner and `snmpd-ng test-rules`."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from snmpd_ng.alerting.rules.testfile import NotationError, expand_values, parse_series
from snmpd_ng.alerting.rules.testing import format_results, run_test_file
from snmpd_ng.cli.main import main
from snmpd_ng.cli.test_rules import cli_test_rules

RULES_DIR = Path(__file__).parent / "data" / "rules"
PASSING = RULES_DIR / "network.test.yml"
FAILING = RULES_DIR / "failing.test.yml"


# Notation


@pytest.mark.parametrize(("text", "expected"), [
    ("1 2 3", [1.0, 2.0, 3.0]),
    ("-2+4x3", [-2.0, 2.0, 6.0, 10.0]),
    ("1-2x4", [1.0, -1.0, -3.0, -5.0, -7.0]),
    ("1x4", [1.0] * 5),
    ("1 _x3 stale", [1.0, None, None, None, None]),
    ("_ 5", [None, 5.0]),
    ("1e9+1.5e9x2", [1e9, 2.5e9, 4e9]),
    ("", []),
])
def test_expand_values(text: str, expected: list[float | None]) -> None:
    assert expand_values(text) == expected


@pytest.mark.parametrize("text", ["1+x3", "abc", "1+2y3", "0+1x1000000000"])
def test_expand_values_rejects_invalid(text: str) -> None:
    with pytest.raises(NotationError):
        expand_values(text)


def test_parse_series() -> None:
    name, labels = parse_series('ifHCInOctets{target="core1", ifIndex="3"}')

    assert name == "ifHCInOctets"
    assert labels == {"target": "core1", "ifIndex": "3"}


@pytest.mark.parametrize(("text", "fragment"), [
    ('x{a=~"b"}', "labels take '='"),
    ("x + y", "write one metric with its labels"),
    ("x{", "column 3"),
])
def test_parse_series_rejects(text: str, fragment: str) -> None:
    with pytest.raises(NotationError, match=fragment):
        parse_series(text)


# Running files


def test_passing_file_passes_every_case() -> None:
    result = run_test_file(PASSING)

    assert result.errors == []
    assert len(result.cases) == 17
    assert [case.title() for case in result.cases if not case.passed] == []
    assert result.passed


def test_failing_file_reports_case_and_alerts() -> None:
    result = run_test_file(FAILING)

    assert not result.passed
    failed = [case for case in result.cases if not case.passed]
    [case] = failed
    assert case.title() == "expects firing too early: LinkSaturated at 3m, firing alerts"
    assert case.details[0] == "expected 1 firing alert(s):"
    assert 'ifName="Gi0/1"' in case.details[1]
    assert case.details[2] == "got no firing alerts"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


INLINE = """
rules:
  - name: Hot
    expr: temperature > 70
    annotations: {summary: "{{ target }} at {{ value }}"}
tests:
  - interval: 1m
    input_series:
      - series: 'temperature{target="srv1"}'
        values: '60 75 80'
    alert_rule_test:
      - eval_time: 1m
        alertname: Hot
        exp_alerts:
          - exp_labels: {target: srv1, severity: warning}
            exp_annotations: {summary: "srv1 at 75"}
"""


def test_inline_rules_and_annotations(tmp_path: Path) -> None:
    result = run_test_file(write(tmp_path, "inline.test.yml", INLINE))

    assert result.errors == []
    assert [case.passed for case in result.cases] == [True]


def test_wrong_annotation_fails(tmp_path: Path) -> None:
    text = INLINE.replace('summary: "srv1 at 75"', 'summary: "srv1 at 76"')

    result = run_test_file(write(tmp_path, "inline.test.yml", text))

    [case] = result.cases
    assert not case.passed
    assert "summary='srv1 at 76'" in "\n".join(case.details)


def test_rule_error_stops_file_with_location(tmp_path: Path) -> None:
    text = INLINE.replace("expr: temperature > 70", "expr: temperature >")

    result = run_test_file(write(tmp_path, "bad.test.yml", text))

    [error] = result.errors
    assert "bad.test.yml:4: rules[0].expr: rule 'Hot': column 14: the expression ends" in error
    assert result.cases == []


def test_unknown_alertname_is_error(tmp_path: Path) -> None:
    text = INLINE.replace("alertname: Hot", "alertname: Cold")

    result = run_test_file(write(tmp_path, "cold.test.yml", text))

    [error] = result.errors
    assert "names the rule 'Cold', which is not loaded" in error


def test_invalid_values_is_error(tmp_path: Path) -> None:
    text = INLINE.replace("'60 75 80'", "'60 hot'")

    result = run_test_file(write(tmp_path, "values.test.yml", text))

    [error] = result.errors
    assert "input_series[0]: invalid value 'hot'" in error


def test_schema_error_names_key_and_line(tmp_path: Path) -> None:
    text = INLINE.replace("eval_time: 1m", "eval_tme: 1m")

    result = run_test_file(write(tmp_path, "typo.test.yml", text))

    assert any("typo.test.yml:" in error and "eval_tme" in error for error in result.errors)


def test_missing_file_is_error(tmp_path: Path) -> None:
    result = run_test_file(tmp_path / "absent.yml")

    [error] = result.errors
    assert "cannot read the file" in error


def test_yaml_error_is_error(tmp_path: Path) -> None:
    result = run_test_file(write(tmp_path, "broken.test.yml", "tests: [\n"))

    assert result.errors
    assert not result.passed


def test_unexpected_alert_names_both_sides(tmp_path: Path) -> None:
    text = INLINE.replace("""        exp_alerts:
          - exp_labels: {target: srv1, severity: warning}
            exp_annotations: {summary: "srv1 at 75"}
""", "        exp_alerts: []\n")
    result = run_test_file(write(tmp_path, "none.test.yml", text))

    [case] = result.cases
    assert not case.passed
    assert case.details[0] == "expected no firing alerts"
    assert case.details[1] == "got 1:"
    assert 'target="srv1"' in case.details[2]


def test_rule_file_as_plain_list(tmp_path: Path) -> None:
    write(tmp_path, "list.rules.yml", "- {name: Hot, expr: temperature > 70}\n")
    text = INLINE.replace("rules:\n  - name: Hot\n    expr: temperature > 70\n"
                          "    annotations: {summary: \"{{ target }} at {{ value }}\"}\n",
                          "rule_files: [list.rules.yml]\n")
    text = text.replace("            exp_annotations: {summary: \"srv1 at 75\"}\n", "")

    result = run_test_file(write(tmp_path, "list.test.yml", text))

    assert result.errors == []
    assert result.passed


def test_reboots_series_makes_counter_step_discontinuous(tmp_path: Path) -> None:
    text = """
rules:
  - name: Fast
    expr: rate(ifHCInOctets) > 1000
tests:
  - interval: 1m
    input_series:
      - series: 'ifHCInOctets{target="core1", ifIndex="1"}'
        type: counter64
        values: '0 600 1000000 1000600'
      - series: 'reboots{target="core1"}'
        values: '0 0 1 1'
    alert_rule_test:
      - eval_time: 2m
        alertname: Fast
        exp_alerts: []
"""
    result = run_test_file(write(tmp_path, "reboot.test.yml", text))

    assert result.passed


def test_format_results_summary() -> None:
    lines, passed = format_results([run_test_file(PASSING), run_test_file(FAILING)])

    assert not passed
    assert lines[-1] == "18 of 19 case(s) passed; FAILED"
    assert any(line.startswith("FAIL ") and "failing.test.yml" in line for line in lines)


# The command


def test_cli_passing_file_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["test-rules", str(PASSING)])

    out = capsys.readouterr().out
    assert status == 0
    assert out.count("PASS ") == 17
    assert "FAIL" not in out


def test_cli_failing_file_exits_1() -> None:
    out = io.StringIO()

    status = cli_test_rules([str(PASSING), str(FAILING)], out, io.StringIO())

    assert status == 1
    assert "FAIL " in out.getvalue()


def test_cli_without_files_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    status = cli_test_rules([])

    assert status == 2
    assert "FILE" in capsys.readouterr().err
