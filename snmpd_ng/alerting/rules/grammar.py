"""The grammar of rule expressions, for lark's LALR parser, and the words its errors use.

Precedence, from loosest to tightest, as in PromQL: `or`; `and`, `unless` (also written
`and not`); comparisons; `+ -`; `* /`; unary minus. Operators of one level group from the
left. Keywords are reserved only where an operator may stand, so a label may be named `on`.
"""

from __future__ import annotations

from functools import lru_cache

from lark import Lark

GRAMMAR = r"""
?start: expr

?expr: and_expr
     | expr OR modifier? and_expr                 -> set_operation

?and_expr: comparison
     | and_expr AND modifier? comparison          -> set_operation
     | and_expr UNLESS modifier? comparison       -> set_operation
     | and_expr AND NOT modifier? comparison      -> and_not

?comparison: sum
     | comparison compare_op BOOL? modifier? sum -> comparison

?sum: product
    | sum (PLUS | MINUS) modifier? product        -> arithmetic

?product: unary
    | product (STAR | SLASH) modifier? unary      -> arithmetic

?unary: atom
      | MINUS unary                               -> negate

?atom: NUMBER                                     -> number
     | DURATION                                   -> duration
     | selector
     | call
     | _LPAR expr _RPAR

selector: NAME matchers?
matchers: _LBRACE [matcher (_COMMA matcher)* _COMMA?] _RBRACE
matcher: NAME match_op STRING
match_op: ASSIGN | NE | RE_MATCH | RE_NOT_MATCH
compare_op: EQ | NE | GT | LT | GE | LE
call: NAME _LPAR [expr (_COMMA expr)*] _RPAR
modifier: (ON | IGNORING) _LPAR [NAME (_COMMA NAME)*] _RPAR

OR: "or"
AND: "and"
UNLESS: "unless"
NOT: "not"
BOOL: "bool"
ON: "on"
IGNORING: "ignoring"
NAME: /[a-zA-Z_:][a-zA-Z0-9_:]*/
DURATION.2: /([0-9]+(ms|s|m|h|d|w))+/
NUMBER: /([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?/
STRING: /"([^"\\\n]|\\.)*"/ | /'([^'\\\n]|\\.)*'/
PLUS: "+"
MINUS: "-"
STAR: "*"
SLASH: "/"
EQ: "=="
NE: "!="
GE: ">="
LE: "<="
GT: ">"
LT: "<"
ASSIGN: "="
RE_MATCH: "=~"
RE_NOT_MATCH: "!~"
_LPAR: "("
_RPAR: ")"
_LBRACE: "{"
_RBRACE: "}"
_COMMA: ","
%ignore /[ \t\r\n]+/
"""

OPERATOR_TERMINALS = frozenset({
    "OR", "AND", "UNLESS", "PLUS", "MINUS", "STAR", "SLASH", "EQ", "NE", "GE", "LE", "GT", "LT",
})
"""Terminals of binary operators. An error that expects most of them reads "an operator"."""

TERMINAL_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "DURATION": "a duration such as 5m",
    "STRING": "a quoted string",
    "NOT": "'not'",
    "BOOL": "'bool'",
    "ON": "'on'",
    "IGNORING": "'ignoring'",
    "ASSIGN": "'='",
    "RE_MATCH": "'=~'",
    "RE_NOT_MATCH": "'!~'",
    "_LPAR": "'('",
    "_RPAR": "')'",
    "_LBRACE": "'{'",
    "_RBRACE": "'}'",
    "_COMMA": "','",
    "$END": "the end of the expression",
    "OR": "'or'",
    "AND": "'and'",
    "UNLESS": "'unless'",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "STAR": "'*'",
    "SLASH": "'/'",
    "EQ": "'=='",
    "NE": "'!='",
    "GE": "'>='",
    "LE": "'<='",
    "GT": "'>'",
    "LT": "'<'",
}
"""The words an error message uses for each expected terminal, by terminal name."""

DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
"""Seconds per unit of a duration literal such as `5m` or `1h30m`."""


@lru_cache(maxsize=1)
def expression_parser() -> Lark:
    """Return the parser, built on first use (building it takes tens of milliseconds)."""
    return Lark(GRAMMAR, parser="lalr", maybe_placeholders=True)
