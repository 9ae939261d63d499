"""The rule test file: its schema, the series notation and the expanding value notation.

The format follows `promtool test rules`, so a Prometheus user can read it at once:

    rule_files: [rules.yml]        # or `rules:` inline
    tests:
      - name: link saturated
        interval: 1m
        input_series:
          - series: 'ifHCInOctets{target="core1", ifIndex="3"}'
            type: counter64
            values: '0+7500000000x10'
        alert_rule_test:
          - eval_time: 5m
            alertname: LinkSaturated
            exp_alerts:
              - exp_labels: {target: core1, ifIndex: "3", severity: warning}

Values use promtool's expanding notation: `a+bxn` is a, a+b, ..., a+n*b (n + 1 values),
`a-bxn` counts down, `axn` is a repeated n + 1 times, `_` is a missing sample and `_xn` is n of
them. `stale` is read as a missing sample, since a series here goes stale by itself.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from snmpd_ng.alerting.rules.ast import Selector
from snmpd_ng.alerting.rules.parser import ExpressionError, parse_expression
from snmpd_ng.config.schema import StrictModel, parse_duration

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_EXPANSION = re.compile(rf"^(?P<start>{_NUMBER})(?:(?P<sign>[-+])(?P<step>{_NUMBER}))?"
                        r"x(?P<count>\d+)$")
_PLAIN = re.compile(rf"^{_NUMBER}$")
_MISSING_RUN = re.compile(r"^_x(?P<count>\d+)$")

MAX_VALUES = 100_000
"""Values one series may expand to; more is a typo such as `0+1x1000000000`."""

InputType = Literal["counter32", "counter64", "gauge", "integer", "timeticks"]


class NotationError(ValueError):
    """A `values` or `series` text that does not follow the notation."""


def expand_values(text: str) -> list[float | None]:
    """Expand promtool's notation into one value (None when missing) per interval."""
    values: list[float | None] = []
    for term in text.split():
        values.extend(_expand_term(term))
        if len(values) > MAX_VALUES:
            raise NotationError(f"the values expand to more than {MAX_VALUES} samples; "
                                "check the counts after 'x'")
    return values


def _expand_term(term: str) -> list[float | None]:
    if term in ("_", "stale"):
        return [None]
    missing = _MISSING_RUN.match(term)
    if missing is not None:
        return [None] * int(missing.group("count"))
    if _PLAIN.match(term):
        return [float(term)]

    match = _EXPANSION.match(term)
    if match is None:
        raise NotationError(f"invalid value {term!r}: write a number, '_', 'a+bxn', 'a-bxn' "
                            "or 'axn', such as 0+10x5")
    count = int(match.group("count"))
    if count > MAX_VALUES:
        raise NotationError(f"invalid value {term!r}: more than {MAX_VALUES} repetitions")
    start = float(match.group("start"))
    step = float(match.group("step") or 0)
    if match.group("sign") == "-":
        step = -step
    return [start + index * step for index in range(count + 1)]


def parse_series(text: str) -> tuple[str, dict[str, str]]:
    """Split `metric{label="value", ...}` into the name and the labels."""
    try:
        node = parse_expression(text)
    except ExpressionError as exc:
        raise NotationError(f"invalid series {text!r}: {exc.describe()}") from None
    if not isinstance(node, Selector):
        raise NotationError(f"invalid series {text!r}: write one metric with its labels, "
                            'such as ifOperStatus{target="core1", ifIndex="3"}')
    labels = {}
    for matcher in node.matchers:
        if matcher.operator != "=":
            raise NotationError(f"invalid series {text!r}: labels take '=', not "
                                f"{matcher.operator!r}, in a series of input values")
        labels[matcher.label] = matcher.value
    return node.metric, labels


def _duration(value: object) -> object:
    seconds = parse_duration(value)
    if isinstance(seconds, float) and seconds < 0:
        raise ValueError(f"invalid duration {value!r}; allowed values: 0 or above")
    return seconds


Duration = Annotated[float, BeforeValidator(_duration)]


class InputSeries(StrictModel):
    series: str
    values: str
    type: InputType = "gauge"
    """The SNMP type: counter32 and counter64 get counter handling in rate() and delta()."""


class ExpectedAlert(StrictModel):
    exp_labels: dict[str, str] = Field(default_factory=dict)
    exp_annotations: dict[str, str] | None = None
    """Compared only when given."""


class AlertRuleTest(StrictModel):
    eval_time: Duration
    alertname: str
    state: Literal["firing", "pending"] = "firing"
    """The state of the alerts to compare; promtool compares firing alerts only."""
    exp_alerts: list[ExpectedAlert] = Field(default_factory=list)


class RuleTestGroup(StrictModel):
    name: str = ""
    interval: Annotated[float, BeforeValidator(_duration), Field(gt=0)] = 60.0
    stale_after: int = Field(3, ge=1)
    """Missed intervals before a series stops being current, as a target's stale_after."""
    input_series: list[InputSeries] = Field(default_factory=list)
    alert_rule_test: list[AlertRuleTest] = Field(default_factory=list)


class RuleTestFile(StrictModel):
    rule_files: list[str] = Field(default_factory=list)
    """Paths relative to the test file, each a config file with `alerting: rules:`, a file
    with `rules:`, or a plain list of rules."""
    rules: list[object] | None = None
    tests: list[RuleTestGroup] = Field(min_length=1)
