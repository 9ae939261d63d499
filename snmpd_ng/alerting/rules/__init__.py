"""Alerting rules: a PromQL-like expression language, evaluated over the polled series.

`load_rules` reads the `alerting: rules:` section of the config, `RulesEngine` evaluates the
rules as samples arrive and returns a `RuleSignal` for each alert that changes state, and
`snmpd_ng.alerting.rules.testing` runs rule unit tests. docs/alerting-rules.md describes the
language.
"""

from snmpd_ng.alerting.rules.config import RuleIssue, check_rules, load_rules
from snmpd_ng.alerting.rules.engine import RulesEngine
from snmpd_ng.alerting.rules.model import Rule, RuleSignal
from snmpd_ng.alerting.rules.parser import ExpressionError, parse_expression

__all__ = [
    "ExpressionError",
    "Rule",
    "RuleIssue",
    "RuleSignal",
    "RulesEngine",
    "check_rules",
    "load_rules",
    "parse_expression",
]
