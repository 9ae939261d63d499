"""The syntax tree of a rule expression, as the parser builds it and the compiler reads it.

Every node has a kind: it yields a number (`scalar`) or a set of series (`vector`). So the
parser can reject `rate(1)` or `5 and 3` with the column, before any sample arrives.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from snmpd_ng.metrics.naming import TARGET_LABEL

Kind = Literal["scalar", "vector"]

MatchOperator = Literal["=", "!=", "=~", "!~"]

ARITHMETIC_OPERATORS = frozenset({"+", "-", "*", "/"})
COMPARISON_OPERATORS = frozenset({"==", "!=", ">", "<", ">=", "<="})
SET_OPERATORS = frozenset({"and", "or", "unless"})


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    column: int

    @property
    def kind(self) -> Kind:
        return "scalar"


@dataclass(frozen=True, slots=True)
class LabelMatcher:
    """One `label op "value"` term of a selector. Regexes match the whole value, as in PromQL."""

    label: str
    operator: MatchOperator
    value: str
    pattern: re.Pattern[str] | None = None
    """The compiled `^(?:value)$` for `=~` and `!~`."""

    def matches(self, labels: Mapping[str, str]) -> bool:
        # A missing label matches as the empty string, as PromQL has it.
        actual = labels.get(self.label, "")
        if self.operator == "=":
            return actual == self.value
        if self.operator == "!=":
            return actual != self.value
        assert self.pattern is not None
        found = self.pattern.match(actual) is not None
        return found if self.operator == "=~" else not found


@dataclass(frozen=True, slots=True)
class Selector:
    """`metric{label="value", ...}`: the current series of one metric whose labels match."""

    metric: str
    matchers: tuple[LabelMatcher, ...]
    column: int

    @property
    def kind(self) -> Kind:
        return "vector"


@dataclass(frozen=True, slots=True)
class Negate:
    operand: Node
    column: int

    @property
    def kind(self) -> Kind:
        return self.operand.kind


@dataclass(frozen=True, slots=True)
class Matching:
    """`on(labels)` (`is_on`) or `ignoring(labels)`: the labels two series are matched by."""

    is_on: bool
    labels: tuple[str, ...]

    def keeps_target(self) -> bool:
        """Tell whether matched series always share their target label."""
        if self.is_on:
            return TARGET_LABEL in self.labels
        return TARGET_LABEL not in self.labels


@dataclass(frozen=True, slots=True)
class BinaryOp:
    operator: str
    left: Node
    right: Node
    matching: Matching | None
    """None for the default: match on all labels."""
    returns_bool: bool
    """`bool` after a comparison: yield 1 or 0 instead of keeping or dropping the series."""
    column: int

    @property
    def kind(self) -> Kind:
        if self.left.kind == "scalar" and self.right.kind == "scalar":
            return "scalar"
        return "vector"


FunctionName = Literal["rate", "delta", "abs", "min", "max"]


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """`rate(selector)`, `delta(selector)`, `abs(x)`, `min(a, b)` or `max(a, b)`."""

    function: FunctionName
    arguments: tuple[Node, ...]
    column: int

    @property
    def kind(self) -> Kind:
        if self.function in ("rate", "delta"):
            return "vector"
        return "vector" if any(arg.kind == "vector" for arg in self.arguments) else "scalar"


@dataclass(frozen=True, slots=True)
class AbsentFor:
    """`absent_for(selector, duration)`: series with no sample for longer than `seconds`."""

    selector: Selector
    seconds: float
    column: int

    @property
    def kind(self) -> Kind:
        return "vector"


Node = Number | Selector | Negate | BinaryOp | FunctionCall | AbsentFor


def children(node: Node) -> tuple[Node, ...]:
    """Return the direct operands of `node`."""
    if isinstance(node, Negate):
        return (node.operand,)
    if isinstance(node, BinaryOp):
        return (node.left, node.right)
    if isinstance(node, FunctionCall):
        return node.arguments
    if isinstance(node, AbsentFor):
        return (node.selector,)
    return ()


def walk(node: Node) -> Iterator[Node]:
    """Yield `node` and every node below it, parents first."""
    yield node
    for child in children(node):
        yield from walk(child)


def metric_names(node: Node) -> set[str]:
    """Return the metric names the expression selects."""
    return {item.metric for item in walk(node) if isinstance(item, Selector)}


def has_absent_for(node: Node) -> bool:
    """Tell whether the expression depends on the passing of time, not only on samples."""
    return any(isinstance(item, AbsentFor) for item in walk(node))


def crosses_targets(node: Node) -> bool:
    """Tell whether two series of different targets can meet in one operation.

    That happens only through `on(...)` without `target` or `ignoring(target)`, since every
    series carries its target label.
    """
    return any(isinstance(item, BinaryOp) and item.matching is not None
               and not item.matching.keeps_target() for item in walk(node))
