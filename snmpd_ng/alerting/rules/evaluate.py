"""Evaluation of a syntax tree over the stored series: each node becomes a Python function.

Compiling once into closures keeps the per-evaluation cost to the arithmetic itself: the kind
of every operand (number or set of series) is known from the tree, so no step tests types at
run time.

A set of series (a vector) maps each series' labels to its value. Binary operators between
two vectors match series one to one, on all labels by default, on the listed labels with
`on(...)`, or on all but the listed ones with `ignoring(...)`, as PromQL's one-to-one matching
does. Unlike PromQL, arithmetic keeps the labels of the left operand even with `on(...)`, so an
alert keeps labels such as `ifName` for its annotations.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable
from typing import Any, cast

from snmpd_ng.alerting.rules.ast import (
    AbsentFor,
    BinaryOp,
    FunctionCall,
    LabelMatcher,
    Matching,
    Negate,
    Node,
    Number,
    Selector,
)
from snmpd_ng.alerting.rules.counters import counter_rate, counter_step
from snmpd_ng.alerting.rules.store import Series, SeriesStore
from snmpd_ng.alerting.series import LabelKey

Vector = dict[LabelKey, float]
"""The value of each series of a set, by the series' labels."""
Value = float | Vector
Compiled = Callable[["Scope"], Any]
"""A compiled node: returns a float for a scalar node and a Vector for a vector node."""


class EvaluationError(ValueError):
    """An expression that cannot be evaluated on the current series, such as two series on
    one side of a one-to-one match."""


class Scope:
    """The series an expression is evaluated over, and the time: one target's series (all
    targets' when `target` is None) at clock time `now`."""

    __slots__ = ("now", "store", "target")

    def __init__(self, store: SeriesStore, target: str | None, now: float) -> None:
        self.store = store
        self.target = target
        self.now = now

    def series(self, metric: str) -> Iterable[Series]:
        if self.target is None:
            return self.store.all_series(metric)
        return self.store.metric(self.target, metric).values()


def compile_expression(node: Node) -> Compiled:
    """Turn a syntax tree into a function of a Scope."""
    if isinstance(node, Number):
        value = node.value
        return lambda scope: value
    if isinstance(node, Selector):
        return _compile_selector(node)
    if isinstance(node, Negate):
        return _compile_negate(node)
    if isinstance(node, BinaryOp):
        return _compile_binary(node)
    if isinstance(node, FunctionCall):
        return _compile_function(node)
    if isinstance(node, AbsentFor):
        return _compile_absent_for(node)
    raise TypeError(f"not an expression node: {node!r}")


# Selectors and functions of series


def _series_filter(matchers: tuple[LabelMatcher, ...]) -> Callable[[Series], bool]:
    if not matchers:
        return lambda series: True
    return lambda series: all(matcher.matches(series.labels) for matcher in matchers)


def _compile_selector(node: Selector) -> Compiled:
    metric = node.metric
    accept = _series_filter(node.matchers)

    def select(scope: Scope) -> Vector:
        now = scope.now
        return {series.key: series.last.value for series in scope.series(metric)
                if series.expires_at >= now and accept(series)}

    return select


def _compile_series_function(selector: Selector,
                             step: Callable[[Series, SeriesStore], float | None]) -> Compiled:
    metric = selector.metric
    accept = _series_filter(selector.matchers)

    def apply(scope: Scope) -> Vector:
        now = scope.now
        store = scope.store
        out: Vector = {}
        for series in scope.series(metric):
            if series.expires_at >= now and accept(series):
                value = step(series, store)
                if value is not None:
                    out[series.key] = value
        return out

    return apply


def _compile_absent_for(node: AbsentFor) -> Compiled:
    metric = node.selector.metric
    accept = _series_filter(node.selector.matchers)
    limit = node.seconds

    def absent_for(scope: Scope) -> Vector:
        # The value is the seconds since the series last arrived, for templates.
        now = scope.now
        return {series.key: now - series.received_at for series in scope.series(metric)
                if now - series.received_at > limit and accept(series)}

    return absent_for


def _compile_function(node: FunctionCall) -> Compiled:
    if node.function in ("rate", "delta"):
        selector = node.arguments[0]
        assert isinstance(selector, Selector)
        step = counter_rate if node.function == "rate" else counter_step
        return _compile_series_function(selector, step)
    if node.function == "abs":
        return _compile_unary(node.arguments[0], abs)
    function = min if node.function == "min" else max
    return _compile_arithmetic(node.arguments[0], node.arguments[1], None, function)


# Operators


def _divide(left: float, right: float) -> float:
    # As in PromQL (IEEE 754): x / 0 is +Inf or -Inf, and 0 / 0 is NaN.
    if right == 0:
        if left == 0 or math.isnan(left):
            return math.nan
        return math.copysign(math.inf, left) * math.copysign(1.0, right)
    return left / right


ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": _divide,
}
COMPARISON: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt,
    ">=": operator.ge, "<=": operator.le,
}


def _compile_unary(operand: Node, function: Callable[[float], float]) -> Compiled:
    inner = compile_expression(operand)
    if operand.kind == "scalar":
        return lambda scope: function(inner(scope))
    return lambda scope: {key: function(value) for key, value in inner(scope).items()}


def _compile_negate(node: Negate) -> Compiled:
    return _compile_unary(node.operand, operator.neg)


def _compile_binary(node: BinaryOp) -> Compiled:
    if node.operator in ARITHMETIC:
        return _compile_arithmetic(node.left, node.right, node.matching,
                                   ARITHMETIC[node.operator])
    if node.operator in COMPARISON:
        return _compile_comparison(node)
    return _compile_set_operation(node)


def _compile_arithmetic(left_node: Node, right_node: Node, matching: Matching | None,
                        function: Callable[[float, float], float]) -> Compiled:
    left = compile_expression(left_node)
    right = compile_expression(right_node)
    kinds = (left_node.kind, right_node.kind)
    if kinds == ("scalar", "scalar"):
        return lambda scope: function(left(scope), right(scope))
    if kinds == ("vector", "scalar"):
        def vector_scalar(scope: Scope) -> Vector:
            number = right(scope)
            return {key: function(value, number) for key, value in left(scope).items()}
        return vector_scalar
    if kinds == ("scalar", "vector"):
        def scalar_vector(scope: Scope) -> Vector:
            number = left(scope)
            return {key: function(number, value) for key, value in right(scope).items()}
        return scalar_vector

    def vector_vector(scope: Scope) -> Vector:
        return {key: function(lvalue, rvalue)
                for key, lvalue, rvalue in match_one_to_one(left(scope), right(scope), matching)}
    return vector_vector


def _compile_comparison(node: BinaryOp) -> Compiled:
    left = compile_expression(node.left)
    right = compile_expression(node.right)
    compare = COMPARISON[node.operator]
    kinds = (node.left.kind, node.right.kind)
    if kinds == ("scalar", "scalar"):
        # The parser accepts two numbers only with `bool`.
        return lambda scope: float(compare(left(scope), right(scope)))
    if kinds == ("vector", "scalar"):
        return _compare_vector_scalar(left, right, compare, node.returns_bool)
    if kinds == ("scalar", "vector"):
        return _compare_scalar_vector(left, right, compare, node.returns_bool)
    return _compare_vectors(left, right, compare, node.matching, node.returns_bool)


Compare = Callable[[float, float], bool]


def _compare_vector_scalar(left: Compiled, right: Compiled, compare: Compare,
                           returns_bool: bool) -> Compiled:
    if returns_bool:
        def as_bool(scope: Scope) -> Vector:
            number = right(scope)
            return {key: float(compare(value, number)) for key, value in left(scope).items()}
        return as_bool

    def keep(scope: Scope) -> Vector:
        number = right(scope)
        return {key: value for key, value in left(scope).items() if compare(value, number)}
    return keep


def _compare_scalar_vector(left: Compiled, right: Compiled, compare: Compare,
                           returns_bool: bool) -> Compiled:
    # The series' own values are kept, as PromQL keeps them for `5 < x`.
    if returns_bool:
        def as_bool(scope: Scope) -> Vector:
            number = left(scope)
            return {key: float(compare(number, value)) for key, value in right(scope).items()}
        return as_bool

    def keep(scope: Scope) -> Vector:
        number = left(scope)
        return {key: value for key, value in right(scope).items() if compare(number, value)}
    return keep


def _compare_vectors(left: Compiled, right: Compiled, compare: Compare,
                     matching: Matching | None, returns_bool: bool) -> Compiled:
    if returns_bool:
        def as_bool(scope: Scope) -> Vector:
            return {key: float(compare(lvalue, rvalue)) for key, lvalue, rvalue
                    in match_one_to_one(left(scope), right(scope), matching)}
        return as_bool

    def keep(scope: Scope) -> Vector:
        return {key: lvalue for key, lvalue, rvalue
                in match_one_to_one(left(scope), right(scope), matching) if compare(lvalue, rvalue)}
    return keep


def _compile_set_operation(node: BinaryOp) -> Compiled:
    left = compile_expression(node.left)
    right = compile_expression(node.right)
    signature = _signature_function(node.matching)
    if node.operator == "or":
        def union(scope: Scope) -> Vector:
            result = dict(left(scope))
            seen = {signature(key) for key in result}
            for key, value in right(scope).items():
                if signature(key) not in seen:
                    result[key] = value
            return result
        return union

    keeps_matched = node.operator == "and"

    def intersect(scope: Scope) -> Vector:
        lvector: Vector = left(scope)
        if not lvector:
            return lvector
        signatures = {signature(key) for key in right(scope)}
        return {key: value for key, value in lvector.items()
                if (signature(key) in signatures) == keeps_matched}
    return intersect


# Vector matching


def _signature_function(matching: Matching | None) -> Callable[[LabelKey], LabelKey]:
    """Return the function that gives the labels two series are matched by."""
    if matching is None:
        return lambda key: key
    names = frozenset(matching.labels)
    if matching.is_on:
        return lambda key: tuple(pair for pair in key if pair[0] in names)
    return lambda key: tuple(pair for pair in key if pair[0] not in names)


def match_one_to_one(left: Vector, right: Vector,
                     matching: Matching | None) -> list[tuple[LabelKey, float, float]]:
    """Pair each left series with the right series of the same signature.

    Returns (left labels, left value, right value) for each pair. Raises EvaluationError
    when two series of one side share a signature, since one-to-one matching could then pick
    either.
    """
    if matching is None:
        # Signatures are the labels themselves, which are unique on each side.
        return [(key, value, right[key]) for key, value in left.items() if key in right]

    signature = _signature_function(matching)
    right_by_signature: dict[LabelKey, float] = {}
    for key, value in right.items():
        found = signature(key)
        if found in right_by_signature:
            raise EvaluationError(_duplicate_message("right", found, matching))
        right_by_signature[found] = value

    pairs: list[tuple[LabelKey, float, float]] = []
    seen: set[LabelKey] = set()
    for key, value in left.items():
        found = signature(key)
        if found not in right_by_signature:
            continue
        if found in seen:
            raise EvaluationError(_duplicate_message("left", found, matching))
        seen.add(found)
        pairs.append((key, value, right_by_signature[found]))
    return pairs


def _duplicate_message(side: str, signature: LabelKey, matching: Matching) -> str:
    labels_text = ", ".join(f'{name}="{value}"' for name, value in signature)
    modifier = "on" if matching.is_on else "ignoring"
    return (f"two series on the {side} side match {{{labels_text}}}; list more labels in "
            f"{modifier}({', '.join(matching.labels)}) so that each series has one partner")


def as_vector(value: Value) -> Vector:
    """Return a vector value as such; the parser makes sure rule expressions give vectors."""
    return cast(Vector, value)
