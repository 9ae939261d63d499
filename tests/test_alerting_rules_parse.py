"""The rule language's parser and the `alerting: rules:` config: trees, errors and issues."""

from __future__ import annotations

import pytest

from snmpd_ng.alerting.rules import ExpressionError, load_rules, parse_expression
from snmpd_ng.alerting.rules.ast import (
    AbsentFor,
    BinaryOp,
    FunctionCall,
    Negate,
    Number,
    Selector,
    crosses_targets,
    has_absent_for,
    metric_names,
)
from snmpd_ng.alerting.rules.config import RuleIssue

KNOWN_METRICS = {"ifHCInOctets", "ifHighSpeed", "ifOperStatus", "ifAdminStatus"}

SATURATION = "rate(ifHCInOctets) * 8 / (ifHighSpeed * 1e6) > 0.9"


def binary(text: str) -> BinaryOp:
    node = parse_expression(text)
    assert isinstance(node, BinaryOp)
    return node


def parse_error(text: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        parse_expression(text)
    return caught.value


# Trees


def test_saturation_rule_tree() -> None:
    node = binary(SATURATION)

    assert node.operator == ">"
    assert node.right == Number(0.9, len(SATURATION) - 2)
    divide = node.left
    assert isinstance(divide, BinaryOp)
    assert divide.operator == "/"
    multiply = divide.left
    assert isinstance(multiply, BinaryOp)
    assert multiply.left == FunctionCall("rate", (Selector("ifHCInOctets", (), 6),), 1)


@pytest.mark.parametrize(("text", "top", "right"), [
    ("a + b * c", "+", "*"),
    ("a * b + c", "+", None),
    ("a > 1 and b", "and", None),
    ("a or b and c", "or", "and"),
    ("a or b unless c", "or", "unless"),
    ("a - b - c", "-", None),
    ("a == bool 1", "==", None),
])
def test_operator_precedence(text: str, top: str, right: str | None) -> None:
    node = binary(text)

    assert node.operator == top
    if right is not None:
        assert isinstance(node.right, BinaryOp)
        assert node.right.operator == right


def test_subtraction_groups_left() -> None:
    node = binary("a - b - c")

    assert isinstance(node.left, BinaryOp)
    assert node.right == Selector("c", (), 9)


def test_and_not_is_unless() -> None:
    assert binary("a and not b").operator == "unless"


def test_unary_minus() -> None:
    node = parse_expression("-a")

    assert node == Negate(Selector("a", (), 2), 1)


def test_selector_matchers() -> None:
    node = parse_expression('ifHCInOctets{ifName=~"Gi.*", target!="lab", ifAlias!~"", x="a"}')

    assert isinstance(node, Selector)
    matchers = {matcher.label: matcher for matcher in node.matchers}
    assert matchers["ifName"].operator == "=~"
    assert matchers["target"].operator == "!="
    assert matchers["ifAlias"].operator == "!~"
    assert matchers["x"].matches({"x": "a"})


def test_regex_matches_whole_value() -> None:
    node = parse_expression('x{ifName=~"Gi"}')

    assert isinstance(node, Selector)
    assert not node.matchers[0].matches({"ifName": "Gi0/1"})
    assert node.matchers[0].matches({"ifName": "Gi"})


def test_missing_label_matches_as_empty() -> None:
    node = parse_expression('x{ifAlias=""}')

    assert isinstance(node, Selector)
    assert node.matchers[0].matches({})


@pytest.mark.parametrize(("text", "expected"), [
    ('x{a="say \\"hi\\""}', 'say "hi"'),
    ("x{a='it\\'s'}", "it's"),
    ('x{a="Gi\\\\d+"}', "Gi\\d+"),
    ('x{a="tab\\there"}', "tab\there"),
])
def test_string_escapes(text: str, expected: str) -> None:
    node = parse_expression(text)

    assert isinstance(node, Selector)
    assert node.matchers[0].value == expected


@pytest.mark.parametrize(("text", "seconds"), [
    ("5m", 300.0), ("1h30m", 5400.0), ("500ms", 0.5), ("2d", 172800.0), ("1w", 604800.0),
])
def test_duration_literal_is_seconds(text: str, seconds: float) -> None:
    node = binary(f"x > {text}")

    assert node.right == Number(seconds, 5)


def test_absent_for_node() -> None:
    node = parse_expression("absent_for(up{job=\"if\"}, 10m)")

    assert isinstance(node, AbsentFor)
    assert node.seconds == 600.0
    assert node.selector.metric == "up"


def test_keywords_may_name_labels() -> None:
    node = parse_expression('x{on="1", and="2", bool="3"}')

    assert isinstance(node, Selector)
    assert [matcher.label for matcher in node.matchers] == ["on", "and", "bool"]


def test_matching_modifiers() -> None:
    on = binary("a / on(target, ifIndex) b")
    ignoring = binary("a > ignoring(ifAlias) b")

    assert on.matching is not None
    assert on.matching.is_on
    assert on.matching.labels == ("target", "ifIndex")
    assert ignoring.matching is not None
    assert not ignoring.matching.is_on


def test_tree_facts() -> None:
    node = parse_expression("rate(a) > 1 and absent_for(b, 5m) or c / on(ifName) d")

    assert metric_names(node) == {"a", "b", "c", "d"}
    assert has_absent_for(node)
    assert crosses_targets(node)


@pytest.mark.parametrize(("text", "crosses"), [
    ("a / b", False),
    ("a / on(target, ifIndex) b", False),
    ("a / ignoring(ifAlias) b", False),
    ("a / ignoring(target) b", True),
    ("a and on(ifName) b", True),
])
def test_crosses_targets(text: str, crosses: bool) -> None:
    assert crosses_targets(parse_expression(text)) is crosses


# Errors


@pytest.mark.parametrize(("text", "column", "reason", "expected"), [
    ("x >", 4, "the expression ends too early", ("a name", "a number")),
    ("rate(x", 7, "the expression ends too early", ("',' or ')'",)),
    ("x > 5 )", 7, "unexpected ')'", ("the end of the expression",)),
    ("a ! b", 3, "unexpected character '!'", ("an operator",)),
    ("x{a b}", 5, "unexpected name 'b'", ("'=', '!=', '=~' or '!~'",)),
    ('x{1a="b"}', 3, "unexpected number 1", ("a name or '}'",)),
    ('"abc"', 1, 'unexpected string "abc"', ("a name",)),
])
def test_syntax_error_names_column_and_expected(text: str, column: int, reason: str,
                                                expected: tuple[str, ...]) -> None:
    error = parse_error(text)

    assert error.column == column
    assert error.reason == reason
    message = error.describe()
    for words in expected:
        assert words in message


@pytest.mark.parametrize(("text", "column", "fragment"), [
    ("rat(x)", 1, "unknown function 'rat'; did you mean 'rate'?"),
    ("rate(x + 1)", 1, "rate() takes a metric selector"),
    ("delta(5)", 1, "delta() takes a metric selector"),
    ("min(x)", 1, "min() takes 2 arguments, got 1"),
    ("abs(x, y)", 1, "abs() takes 1 argument, got 2"),
    ("absent_for(x)", 1, "absent_for() takes 2 arguments"),
    ("absent_for(x + 1, 5m)", 1, "first argument of absent_for() must be a metric selector"),
    ("absent_for(x, y)", 1, "second argument of absent_for() must be a duration"),
    ("5 > 3", 3, "needs 'bool'"),
    ("5 and x", 3, "'and' combines two sets of series"),
    ("x unless 1", 3, "'unless' combines two sets of series"),
    ("x + on(a) 5", 3, "a number needs no matching"),
    ('x{a=~"("}', 6, "invalid regex '('"),
    ('x{a="\\d"}', 6, "unknown escape '\\d'"),
    ("x / on(a:b) y", 8, "invalid label name 'a:b'"),
    ("", 1, "the expression is empty"),
])
def test_meaning_error_names_column(text: str, column: int, fragment: str) -> None:
    error = parse_error(text)

    assert error.column == column
    assert fragment in error.reason


def test_error_pointer_marks_column() -> None:
    error = parse_error("x > )")

    assert error.pointer() == "x > )\n    ^"


def test_overlong_expression_rejected() -> None:
    error = parse_error("x + " * 3000 + "x")

    assert "longer than" in error.reason


# The rules section


SATURATION_RULE = {
    "name": "LinkSaturated",
    "expr": SATURATION,
    "for": "5m",
    "recover": "rate(ifHCInOctets) * 8 / (ifHighSpeed * 1e6) < 0.8",
    "severity": "warning",
    "labels": {"team": "network"},
    "annotations": {"summary": "{{ labels.ifName }} at {{ value | percent }}"},
}


def only_issue(raw: object) -> RuleIssue:
    _, issues = load_rules(raw, KNOWN_METRICS)
    assert len(issues) == 1, issues
    return issues[0]


def test_load_valid_rule() -> None:
    [rule], issues = load_rules([SATURATION_RULE], KNOWN_METRICS)

    assert issues == []
    assert rule.name == "LinkSaturated"
    assert rule.for_seconds == 300.0
    assert rule.recover_expression is not None
    assert rule.labels == {"team": "network"}
    assert set(rule.templates) == {"summary"}


def test_load_defaults() -> None:
    [rule], _ = load_rules([{"name": "Down", "expr": "up == 0"}], set())

    assert rule.for_seconds == 0.0
    assert rule.severity == "warning"
    assert rule.recover is None


def test_missing_section_loads_nothing() -> None:
    assert load_rules(None, KNOWN_METRICS) == ([], [])


def test_section_not_a_list() -> None:
    issue = only_issue({"name": "x"})

    assert issue.path == ("alerting", "rules")
    assert "expected a list of rules" in issue.message


def test_parse_error_names_rule_key_and_column() -> None:
    issue = only_issue([{**SATURATION_RULE, "expr": "rate(ifHCInOctets) > )"}])

    assert issue.path == ("alerting", "rules", 0, "expr")
    assert issue.is_error
    assert issue.message.startswith("rule 'LinkSaturated': column 22: unexpected ')'")
    assert "expected a name" in issue.message
    assert issue.message.endswith("rate(ifHCInOctets) > )\n                         ^")


def test_recover_parse_error_names_key() -> None:
    issue = only_issue([{**SATURATION_RULE, "recover": "rate(ifHCInOctets) <"}])

    assert issue.path == ("alerting", "rules", 0, "recover")


def test_unknown_key_suggests_fix() -> None:
    issue = only_issue([{**SATURATION_RULE, "fro": "5m"}])

    assert issue.path == ("alerting", "rules", 0, "fro")
    assert "unknown key 'fro' (did you mean 'for'?)" in issue.message


def test_invalid_severity_lists_allowed() -> None:
    issue = only_issue([{**SATURATION_RULE, "severity": "urgent"}])

    assert issue.path == ("alerting", "rules", 0, "severity")
    assert "allowed values: critical, warning, info" in issue.message


def test_invalid_for_duration() -> None:
    issue = only_issue([{**SATURATION_RULE, "for": "soon"}])

    assert issue.path == ("alerting", "rules", 0, "for")
    assert "invalid duration 'soon'" in issue.message


def test_missing_name() -> None:
    issue = only_issue([{"expr": "up == 0"}])

    assert issue.path == ("alerting", "rules", 0, "name")
    assert issue.message == "rule #0: missing required key 'name'"


def test_invalid_rule_name() -> None:
    issue = only_issue([{"name": "link saturated", "expr": "up == 0"}])

    assert "invalid rule name 'link saturated'" in issue.message


def test_duplicate_rule_name() -> None:
    rules, issues = load_rules([SATURATION_RULE, SATURATION_RULE], KNOWN_METRICS)

    assert len(rules) == 1
    [issue] = issues
    assert issue.path == ("alerting", "rules", 1, "name")
    assert "already used by the rule at alerting.rules[0]" in issue.message


def test_severity_label_rejected() -> None:
    issue = only_issue([{**SATURATION_RULE, "labels": {"severity": "page"}}])

    assert issue.path == ("alerting", "rules", 0, "labels", "severity")
    assert "rule's 'severity' key" in issue.message


def test_template_syntax_error() -> None:
    issue = only_issue([{**SATURATION_RULE, "annotations": {"summary": "{{ value | percent"}}])

    assert issue.path == ("alerting", "rules", 0, "annotations", "summary")
    assert "invalid template, line 1 of the template" in issue.message


def test_scalar_expression_rejected() -> None:
    issue = only_issue([{"name": "Always", "expr": "1 > bool 0"}])

    assert "gives a number, not series" in issue.message


def test_unknown_metric_is_warning_with_suggestion() -> None:
    rules, issues = load_rules([{"name": "Typo", "expr": "rate(ifHCInOctet) > 1"}],
                               KNOWN_METRICS)

    assert len(rules) == 1
    [issue] = issues
    assert not issue.is_error
    assert issue.severity == "warning"
    assert "no job polls a metric named 'ifHCInOctet'" in issue.message
    assert "(did you mean 'ifHCInOctets'?)" in issue.message


def test_builtin_metrics_need_no_job() -> None:
    raw = [{"name": "Down", "expr": "up == 0 or poll_success == 0 or rebooted == 1"},
           {"name": "Counted", "expr": "reboots > 3"}]

    assert load_rules(raw, set())[1] == []


def test_every_problem_of_a_rule_reported() -> None:
    raw = [{"name": "Bad", "expr": "x > )", "severity": "urgent",
            "annotations": {"a": "{% if %}"}}]

    rules, issues = load_rules(raw, set())

    assert rules == []
    assert {issue.path[-1] for issue in issues} == {"severity", "expr", "a"}


def test_rule_with_error_left_out_others_kept() -> None:
    raw = [{"name": "Bad", "expr": "x >"}, SATURATION_RULE]

    rules, issues = load_rules(raw, KNOWN_METRICS)

    assert [rule.name for rule in rules] == ["LinkSaturated"]
    assert len(issues) == 1


def test_issue_formats_like_config_issue() -> None:
    issue = only_issue([{**SATURATION_RULE, "severity": "urgent"}])

    assert issue.format("snmpd-ng.yml").startswith(
        "snmpd-ng.yml: alerting.rules[0].severity: rule 'LinkSaturated': invalid value")


def test_label_values_accept_numbers() -> None:
    [rule], _ = load_rules([{**SATURATION_RULE, "labels": {"rack": 2}}], KNOWN_METRICS)

    assert rule.labels == {"rack": "2"}
