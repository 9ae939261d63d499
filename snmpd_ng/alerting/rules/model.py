"""A loaded rule, and the signal the engine emits when one of its alerts changes state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from jinja2 import Template

from snmpd_ng.alerting.rules.ast import Node
from snmpd_ng.alerting.rules.parser import parse_expression
from snmpd_ng.alerting.rules.templates import compile_template

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")
SEVERITY_LABEL = "severity"

SignalState = Literal["pending", "firing", "resolved"]


@dataclass(frozen=True, eq=False)
class Rule:
    """One alerting rule, parsed and with its templates compiled."""

    name: str
    expr: str
    expression: Node
    for_seconds: float = 0.0
    """Seconds an alert stays pending before it fires; 0 fires at once."""
    recover: str | None = None
    recover_expression: Node | None = None
    """When set, an active alert resolves only where this expression yields its series
    (hysteresis)."""
    severity: Severity = "warning"
    labels: Mapping[str, str] = field(default_factory=dict)
    """Added to every alert of the rule, over the series' labels of the same name."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """Template text by annotation name."""
    templates: Mapping[str, Template] = field(default_factory=dict)
    """`annotations`, compiled."""

    @classmethod
    def build(cls, name: str, expr: str, *, for_seconds: float = 0.0,
              recover: str | None = None, severity: Severity = "warning",
              labels: Mapping[str, str] | None = None,
              annotations: Mapping[str, str] | None = None) -> Rule:
        """Parse and compile a rule given in Python, as in tests.

        Raises ExpressionError for an invalid expression and jinja2.TemplateSyntaxError for an
        invalid template. Config files go through `load_rules`, which reports every problem.
        """
        texts = dict(annotations or {})
        return cls(
            name=name, expr=expr, expression=parse_expression(expr), for_seconds=for_seconds,
            recover=recover,
            recover_expression=parse_expression(recover) if recover is not None else None,
            severity=severity, labels=dict(labels or {}), annotations=texts,
            templates={key: compile_template(text) for key, text in texts.items()},
        )


@dataclass(frozen=True, slots=True)
class RuleSignal:
    """A change of state of one alert: the series with `labels` of rule `rule`."""

    rule: str
    labels: Mapping[str, str]
    """The series' labels, then the rule's labels, then `severity`."""
    state: SignalState
    value: float | None
    """The expression's value for the series at the change; for a resolve, the last value
    seen, or the `recover` expression's value when that resolved it."""
    active_since: float
    """Unix time the alert became pending (or firing, for a rule without `for`)."""
    at: float
    """Unix time of this change."""
    severity: Severity
    annotations: Mapping[str, str]
    """Rendered with the value and labels at this change."""
