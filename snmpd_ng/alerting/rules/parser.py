"""Parse a rule expression into its syntax tree, or raise `ExpressionError` with the column.

lark finds the syntax errors (an unexpected token, and what the grammar expected there). The
transformer below builds the nodes and finds the errors of meaning: an unknown function, a
function given a number where it needs series, an invalid regex, `on(...)` next to a number.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from typing import Any, cast

from lark import Token, Transformer, UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.exceptions import UnexpectedEOF, VisitError

from snmpd_ng.alerting.rules.ast import (
    AbsentFor,
    BinaryOp,
    FunctionCall,
    LabelMatcher,
    Matching,
    MatchOperator,
    Negate,
    Node,
    Number,
    Selector,
)
from snmpd_ng.alerting.rules.grammar import (
    DURATION_UNITS,
    OPERATOR_TERMINALS,
    TERMINAL_WORDS,
    expression_parser,
)

FUNCTIONS = {
    "rate": "rate(selector)",
    "delta": "delta(selector)",
    "abs": "abs(x)",
    "min": "min(a, b)",
    "max": "max(a, b)",
    "absent_for": "absent_for(selector, duration)",
}
"""Each function of the language with its call form."""

MAX_EXPRESSION_LENGTH = 10_000
"""Characters; a longer expression is a mistake, and deep nesting would exhaust the stack."""

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w)")
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}


class ExpressionError(ValueError):
    """An expression that does not parse or makes no sense, with where and why."""

    def __init__(self, text: str, column: int, reason: str,
                 expected: Sequence[str] = ()) -> None:
        self.text = text
        self.column = column
        """1-based column of the error in `text`."""
        self.reason = reason
        self.expected = tuple(expected)
        """Words for what the grammar accepts at the column; empty for errors of meaning."""
        super().__init__(self.describe())

    def describe(self) -> str:
        """Return "column N: REASON; expected A, B or C"."""
        message = f"column {self.column}: {self.reason}"
        if self.expected:
            message += f"; expected {join_words(self.expected, 'or')}"
        return message

    def pointer(self) -> str:
        """Return the expression and a caret under the column, as two lines."""
        return f"{self.text}\n{' ' * (self.column - 1)}^"


def join_words(words: Sequence[str], conjunction: str) -> str:
    """Join ["a", "b", "c"] as "a, b or c"."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def parse_expression(text: str) -> Node:
    """Parse `text` into a syntax tree; raise ExpressionError on any error."""
    if not text.strip():
        raise ExpressionError(text, 1, "the expression is empty", ["a metric name"])
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(text, MAX_EXPRESSION_LENGTH,
                              f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = expression_parser().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None

    try:
        node: Node = _TreeToNodes(text).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, ExpressionError):
            raise exc.orig_exc from None
        raise
    except RecursionError:
        raise ExpressionError(text, 1, "the expression is nested too deeply") from None
    return node


# Syntax errors


def _syntax_error(text: str, exc: UnexpectedInput) -> ExpressionError:
    expected = _expected_words(_acceptable_terminals(exc))
    if isinstance(exc, UnexpectedCharacters):
        position = exc.pos_in_stream or 0
        character = text[position] if position < len(text) else ""
        return ExpressionError(text, exc.column, f"unexpected character {character!r}",
                               expected)
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        return ExpressionError(text, exc.token.column or 1,
                               f"unexpected {_describe_token(exc.token)}", expected)
    if isinstance(exc, UnexpectedToken | UnexpectedEOF):
        return ExpressionError(text, len(text.rstrip()) + 1, "the expression ends too early",
                               expected)
    return ExpressionError(text, getattr(exc, "column", 1) or 1, str(exc))


def _acceptable_terminals(exc: UnexpectedInput) -> set[str]:
    # The parser state lists exactly the terminals it can shift next. The sets that lark puts
    # on the exception come from the lexer and may include terminals of other contexts.
    parser = getattr(exc, "interactive_parser", None)
    if parser is not None:
        return set(parser.accepts())
    return set(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ())


def _describe_token(token: Token) -> str:
    if token.type == "NAME":
        return f"name {token.value!r}"
    if token.type in ("NUMBER", "DURATION"):
        return f"number {token.value}"
    if token.type == "STRING":
        return f"string {token.value}"
    return repr(token.value)


def _expected_words(terminals: Iterable[str]) -> list[str]:
    names = set(terminals)
    words: list[str] = []
    # An operator may follow any operand, so a partial list of them would mislead. Either most
    # of them fit ("an operator"), or the other words are more precise.
    if len(names & OPERATOR_TERMINALS) > 3:
        words.append("an operator")
    # '!=' is also a label matcher, listed with the other matchers.
    names -= OPERATOR_TERMINALS if "ASSIGN" not in names else OPERATOR_TERMINALS - {"NE"}
    for name in sorted(names, key=_expected_order):
        word = TERMINAL_WORDS.get(name, name)
        if word not in words:
            words.append(word)
    return words


def _expected_order(name: str) -> tuple[int, str]:
    # Names and numbers first, the end of input last, the rest alphabetically.
    first = {"NAME": 0, "NUMBER": 1, "DURATION": 2, "_LPAR": 3}
    return (first.get(name, 5 if name == "$END" else 4), name)


# Building the nodes


def _column(token: Token) -> int:
    return token.column or 1


def _error(text: str, token: Token, reason: str) -> ExpressionError:
    return ExpressionError(text, _column(token), reason)


class _TreeToNodes(Transformer[Token, Node]):
    """Turns lark's tree into `ast` nodes, checking what the grammar cannot."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def number(self, items: list[Token]) -> Number:
        (token,) = items
        return Number(float(token.value), _column(token))

    def duration(self, items: list[Token]) -> Number:
        (token,) = items
        seconds = sum(int(count) * DURATION_UNITS[unit]
                      for count, unit in _DURATION_PART.findall(token.value))
        return Number(seconds, _column(token))

    def selector(self, items: list[Any]) -> Selector:
        name: Token = items[0]
        matchers: tuple[LabelMatcher, ...] = items[1] if len(items) > 1 else ()
        return Selector(name.value, matchers, _column(name))

    def matchers(self, items: list[LabelMatcher | None]) -> tuple[LabelMatcher, ...]:
        return tuple(item for item in items if item is not None)

    def match_op(self, items: list[Token]) -> Token:
        return items[0]

    def compare_op(self, items: list[Token]) -> Token:
        return items[0]

    def matcher(self, items: list[Token]) -> LabelMatcher:
        label, operator, string = items
        self._check_label_name(label)
        value = self._unquote(string)
        op = cast(MatchOperator, operator.value)
        if op in ("=", "!="):
            return LabelMatcher(label.value, op, value)
        try:
            pattern = re.compile(f"^(?:{value})$")
        except re.error as exc:
            raise _error(self.text, string, f"invalid regex {value!r}: {exc}") from None
        return LabelMatcher(label.value, op, value, pattern)

    def modifier(self, items: list[Token | None]) -> Matching:
        keyword = items[0]
        assert keyword is not None
        labels = [item for item in items[1:] if item is not None]
        for label in labels:
            self._check_label_name(label)
        return Matching(keyword.type == "ON", tuple(label.value for label in labels))

    def negate(self, items: list[Any]) -> Negate:
        minus, operand = items
        return Negate(operand, _column(minus))

    def arithmetic(self, items: list[Any]) -> BinaryOp:
        left, operator, *rest = items
        matching, right = _split_modifier(rest)
        return self._binary(operator, left, right, matching, returns_bool=False)

    def comparison(self, items: list[Any]) -> BinaryOp:
        left, operator, *rest = items
        returns_bool = bool(rest) and isinstance(rest[0], Token) and rest[0].type == "BOOL"
        if returns_bool:
            rest = rest[1:]
        matching, right = _split_modifier(rest)
        if left.kind == "scalar" and right.kind == "scalar" and not returns_bool:
            raise _error(self.text, operator, f"comparing two numbers with {operator.value!r} "
                         "needs 'bool' after the operator, or a metric on one side")
        return self._binary(operator, left, right, matching, returns_bool)

    def set_operation(self, items: list[Any]) -> BinaryOp:
        left, operator, *rest = items
        matching, right = _split_modifier(rest)
        self._check_series_operands(operator, operator.value, left, right)
        return self._binary(operator, left, right, matching, returns_bool=False)

    def and_not(self, items: list[Any]) -> BinaryOp:
        left, operator, _not, *rest = items
        matching, right = _split_modifier(rest)
        self._check_series_operands(operator, "and not", left, right)
        return BinaryOp("unless", left, right, matching, False, _column(operator))

    def call(self, items: list[Any]) -> Node:
        name: Token = items[0]
        arguments = [item for item in items[1:] if item is not None]
        function = name.value
        if function not in FUNCTIONS:
            raise _error(self.text, name, _unknown_function(function))
        if function == "absent_for":
            return self._absent_for(name, arguments)

        expected = 2 if function in ("min", "max") else 1
        if len(arguments) != expected:
            raise _error(self.text, name, f"{function}() takes {expected} argument"
                         f"{'s' if expected > 1 else ''}, got {len(arguments)}: write "
                         f"{FUNCTIONS[function]}")
        if function in ("rate", "delta") and not isinstance(arguments[0], Selector):
            raise _error(self.text, name, f"{function}() takes a metric selector such as "
                         f"{function}(ifHCInOctets), not an expression")
        return FunctionCall(function, tuple(arguments), _column(name))

    def _absent_for(self, name: Token, arguments: list[Node]) -> AbsentFor:
        usage = f"write {FUNCTIONS['absent_for']}, such as absent_for(ifHCInOctets, 10m)"
        if len(arguments) != 2:
            raise _error(self.text, name, f"absent_for() takes 2 arguments, got "
                         f"{len(arguments)}: {usage}")
        selector, duration = arguments
        if not isinstance(selector, Selector):
            raise _error(self.text, name, f"the first argument of absent_for() must be a metric "
                         f"selector: {usage}")
        if not isinstance(duration, Number) or duration.value <= 0:
            raise _error(self.text, name, f"the second argument of absent_for() must be a "
                         f"duration above 0: {usage}")
        return AbsentFor(selector, duration.value, _column(name))

    def _binary(self, operator: Token, left: Node, right: Node, matching: Matching | None,
                returns_bool: bool) -> BinaryOp:
        if matching is not None and (left.kind == "scalar" or right.kind == "scalar"):
            raise _error(self.text, operator, "on(...) and ignoring(...) match two sets of "
                         "series; a number needs no matching, so remove the modifier")
        return BinaryOp(operator.value, left, right, matching, returns_bool, _column(operator))

    def _check_series_operands(self, operator: Token, word: str, left: Node,
                               right: Node) -> None:
        if left.kind == "scalar" or right.kind == "scalar":
            raise _error(self.text, operator, f"{word!r} combines two sets of series, and one "
                         "side is a number; compare with > or < to filter by a number")

    def _check_label_name(self, token: Token) -> None:
        if not _LABEL_NAME.match(token.value):
            raise _error(self.text, token, f"invalid label name {token.value!r}: use letters, "
                         "digits and underscores, not starting with a digit")

    def _unquote(self, token: Token) -> str:
        body = token.value[1:-1]
        out: list[str] = []
        characters = iter(enumerate(body))
        for index, character in characters:
            if character != "\\":
                out.append(character)
                continue
            _, escaped = next(characters)
            if escaped not in _ESCAPES:
                column = _column(token) + 1 + index
                raise ExpressionError(self.text, column, f"unknown escape '\\{escaped}' in a "
                                      "string; write '\\\\' for a backslash, as in \"Gi\\\\d+\"")
            out.append(_ESCAPES[escaped])
        return "".join(out)


def _split_modifier(rest: list[Any]) -> tuple[Matching | None, Node]:
    if len(rest) == 2:
        return rest[0], rest[1]
    return None, rest[0]


def _unknown_function(name: str) -> str:
    message = f"unknown function {name!r}"
    close = difflib.get_close_matches(name, list(FUNCTIONS), n=1)
    if close:
        message += f"; did you mean {close[0]!r}?"
    return f"{message} Functions: {', '.join(FUNCTIONS)}"

