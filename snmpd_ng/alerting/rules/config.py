"""The `alerting: rules:` section of the config file: its schema, its checks, and loading.

`load_rules(raw, known_metrics)` is the one entry point. It takes the section as YAML parsed
it and the metric names the configured jobs export, and returns the valid rules with one issue
per problem. Errors name the rule, the key and the fix. A metric that no job polls is only a
warning, because the rule is valid and starts working once a job polls it.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from jinja2 import TemplateSyntaxError
from pydantic import BeforeValidator, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from snmpd_ng.alerting.rules.ast import Node, metric_names
from snmpd_ng.alerting.rules.model import SEVERITIES, SEVERITY_LABEL, Rule, Severity
from snmpd_ng.alerting.rules.parser import ExpressionError, parse_expression
from snmpd_ng.alerting.rules.templates import compile_template
from snmpd_ng.alerting.series import BUILTIN_METRICS
from snmpd_ng.config.errors import ConfigIssue, KeyPath, format_key_path
from snmpd_ng.config.schema import LabelName, StrictModel, parse_duration
from snmpd_ng.config.schema_errors import format_value

RULES_PATH: KeyPath = ("alerting", "rules")

_RULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _duration_or_zero(value: object) -> object:
    seconds = parse_duration(value)
    if isinstance(seconds, float) and not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"invalid duration {value!r}; allowed values: 0 or above, such as 5m")
    return seconds


class RuleEntry(StrictModel):
    """One rule as the config file writes it; docs/alerting-rules.md documents every key."""

    name: str
    expr: str = Field(min_length=1)
    for_: Annotated[float, BeforeValidator(_duration_or_zero)] = Field(0.0, alias="for")
    recover: str | None = Field(None, min_length=1)
    severity: Severity = "warning"
    labels: dict[LabelName, str] = Field(default_factory=dict)
    annotations: dict[LabelName, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _RULE_NAME.match(value):
            raise ValueError(f"invalid rule name {value!r}: use letters, digits, '_', '.' and "
                             "'-', starting with a letter, such as LinkSaturated")
        return value


ALLOWED_KEYS = ("name", "expr", "for", "recover", "severity", "labels", "annotations")


@dataclass(frozen=True, slots=True)
class RuleIssue(ConfigIssue):
    """A problem in the rules section: an error, or a warning that does not stop loading."""

    severity: Literal["error", "warning"] = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


def load_rules(raw: object, known_metrics: Set[str], *,
               path: KeyPath = RULES_PATH) -> tuple[list[Rule], list[RuleIssue]]:
    """Check the `alerting: rules:` list and build its rules.

    `known_metrics` are the metric names the configured jobs export (built-in series such as
    `up` need not be listed). Returns the valid rules and every issue; a rule with an error is
    left out. `path` is the key path of the list, for messages.
    """
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        value_text = format_value(raw, is_secret=False)
        return [], [RuleIssue(path, f"invalid value{value_text}; expected a list of rules")]

    rules: list[Rule] = []
    issues: list[RuleIssue] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(raw):
        rule, rule_issues = _load_rule(item, (*path, index), known_metrics)
        issues.extend(rule_issues)
        if rule is None:
            continue
        if rule.name in first_index:
            first = format_key_path((*path, first_index[rule.name]))
            issues.append(RuleIssue((*path, index, "name"), f"rule {rule.name!r}: the name is "
                                    f"already used by the rule at {first}; give each rule its "
                                    "own name"))
            continue
        first_index[rule.name] = index
        rules.append(rule)
    return rules, issues


def check_rules(raw: object, known_metrics: Set[str]) -> list[RuleIssue]:
    """Return the issues of the `alerting: rules:` list, as `load_rules` finds them."""
    return load_rules(raw, known_metrics)[1]


def _load_rule(item: object, path: KeyPath,
               known_metrics: Set[str]) -> tuple[Rule | None, list[RuleIssue]]:
    title = _rule_title(item, path)
    issues: list[RuleIssue] = []
    entry = None
    try:
        entry = RuleEntry.model_validate(item)
    except ValidationError as exc:
        issues.extend(_schema_issue(error, path, title) for error in exc.errors())

    # The expressions and templates are checked even when another key is invalid, so that one
    # run of check-config shows every problem of the rule.
    texts: Mapping[str, Any] = item if isinstance(item, Mapping) else {}
    expression = _parse_key(texts, "expr", path, title, issues)
    recover = _parse_key(texts, "recover", path, title, issues)
    annotations = texts.get("annotations")
    templates = {}
    if isinstance(annotations, Mapping):
        templates = _compile_templates(annotations, (*path, "annotations"), title, issues)
    labels = texts.get("labels")
    if isinstance(labels, Mapping) and SEVERITY_LABEL in labels:
        issues.append(RuleIssue((*path, "labels", SEVERITY_LABEL), f"{title}: set the severity "
                                f"with the rule's 'severity' key ({', '.join(SEVERITIES)}), "
                                "not as a label"))
    for node, key in ((expression, "expr"), (recover, "recover")):
        if node is not None:
            issues.extend(_metric_warnings(node, (*path, key), title, known_metrics))

    if entry is None or expression is None or any(issue.is_error for issue in issues):
        return None, issues
    rule = Rule(name=entry.name, expr=entry.expr, expression=expression,
                for_seconds=entry.for_, recover=entry.recover, recover_expression=recover,
                severity=entry.severity, labels=dict(entry.labels),
                annotations=dict(entry.annotations), templates=templates)
    return rule, issues


def _parse_key(texts: Mapping[str, Any], key: str, path: KeyPath, title: str,
               issues: list[RuleIssue]) -> Node | None:
    text = texts.get(key)
    if not isinstance(text, str) or not text.strip():
        return None  # Missing or not text: the schema reported it.
    return _parse(text, (*path, key), title, issues)


def _rule_title(item: object, path: KeyPath) -> str:
    if isinstance(item, Mapping) and isinstance(item.get("name"), str) and item["name"]:
        return f"rule {item['name']!r}"
    return f"rule #{path[-1]}"


def _parse(text: str, path: KeyPath, title: str, issues: list[RuleIssue]) -> Node | None:
    try:
        node = parse_expression(text)
    except ExpressionError as exc:
        pointer = exc.pointer().replace("\n", "\n    ")
        issues.append(RuleIssue(path, f"{title}: {exc.describe()}\n    {pointer}"))
        return None
    if node.kind == "scalar":
        issues.append(RuleIssue(path, f"{title}: the expression gives a number, not series, so "
                                "no alert could name a target; compare a metric with a "
                                "threshold, such as ifOperStatus != 1"))
        return None
    return node


def _compile_templates(annotations: Mapping[str, Any], path: KeyPath, title: str,
                       issues: list[RuleIssue]) -> dict[str, Any]:
    templates = {}
    for name, text in annotations.items():
        if not isinstance(text, str):
            continue  # The schema reported it.
        try:
            templates[name] = compile_template(text)
        except TemplateSyntaxError as exc:
            reason = (exc.message or "syntax error").rstrip(".")
            issues.append(RuleIssue((*path, name), f"{title}: invalid template, line {exc.lineno} "
                                    f"of the template: {reason}; templates are Jinja2, such as "
                                    "{{ labels.ifName }} at {{ value | percent }}"))
    return templates


def _metric_warnings(node: Node, path: KeyPath, title: str,
                     known_metrics: Set[str]) -> list[RuleIssue]:
    issues = []
    for metric in sorted(metric_names(node) - BUILTIN_METRICS - set(known_metrics)):
        message = (f"{title}: no job polls a metric named {metric!r}, so this expression finds "
                   "no series; add the object to a job or fix the name")
        close = difflib.get_close_matches(metric, sorted(known_metrics), n=1, cutoff=0.7)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        issues.append(RuleIssue(path, message, severity="warning"))
    return issues


def _schema_issue(error: ErrorDetails, path: KeyPath, title: str) -> RuleIssue:
    location = tuple("for" if part == "for_" else part for part in error["loc"]
                     if part != "[key]")
    full_path: KeyPath = (*path, *location)
    return RuleIssue(full_path, f"{title}: {_schema_message(error, location)}")


def _schema_message(error: ErrorDetails, location: KeyPath) -> str:
    kind = error["type"]
    value_text = format_value(error.get("input"), is_secret=False)
    key = str(location[-1]) if location else ""
    if kind == "extra_forbidden":
        message = f"unknown key {key!r}"
        close = difflib.get_close_matches(key, ALLOWED_KEYS, n=1, cutoff=0.6)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        return f"{message}; allowed keys: {', '.join(ALLOWED_KEYS)}"
    if kind == "missing":
        return f"missing required key {key!r}"
    if kind == "literal_error":
        return f"invalid value{value_text}; allowed values: {', '.join(SEVERITIES)}"
    if kind == "model_type":
        keys = ", ".join(ALLOWED_KEYS)
        return f"invalid value{value_text}; expected a mapping with the keys {keys}"
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    if kind == "string_too_short":
        return f"missing value for {key!r}; expected a non-empty string"
    if kind == "dict_type":
        return f"invalid value{value_text}; expected a mapping of names to text"
    if kind == "string_type":
        return f"invalid value{value_text}; expected a string"
    return f"invalid value{value_text}: {error['msg']}"
