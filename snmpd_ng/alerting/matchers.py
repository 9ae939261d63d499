"""Label matchers in Alertmanager's syntax, shared by routes, silences and inhibit rules.

A matcher is `name OP value` with OP one of `=` (equal), `!=` (not equal), `=~` (matches the
regular expression) and `!~` (does not match it). As in Alertmanager:

- a regular expression is anchored at both ends, so `target=~"core"` matches only `core`;
- a label the alert lacks has the value "", so `site=""` matches alerts without `site`;
- the value may be double-quoted (with the escapes `\\"`, `\\\\` and `\\n`) or bare;
- one string may hold several matchers, comma-separated, optionally inside `{...}`.

Besides its own labels, every alert has the label `rule` (the rule name) for matching.
NOTE: expressions run on Python's `re`, not Go's RE2 as in Alertmanager. Both agree on the
usual syntax, but lookarounds and backreferences, which RE2 rejects, are accepted here.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATOR = re.compile(r"=~|!~|!=|=")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n"}


class MatcherError(ValueError):
    """A matcher string that cannot be parsed; the message shows the text and the position."""


class MatchType(enum.Enum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True)
class Matcher:
    """One condition on one label."""

    name: str
    type: MatchType
    value: str
    _pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def build(cls, name: str, type: MatchType, value: str) -> Matcher:
        """Build a matcher, compiling a regular expression; raise MatcherError when invalid."""
        pattern = None
        if type in (MatchType.REGEX, MatchType.NOT_REGEX):
            try:
                pattern = re.compile(f"(?:{value})")
            except re.error as exc:
                raise MatcherError(f"invalid regular expression {value!r} for label {name!r}: "
                                   f"{exc.msg}") from None
        return cls(name, type, value, pattern)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Tell whether `labels` satisfy the matcher; a missing label counts as ""."""
        actual = labels.get(self.name, "")
        if self.type is MatchType.EQUAL:
            return actual == self.value
        if self.type is MatchType.NOT_EQUAL:
            return actual != self.value
        assert self._pattern is not None
        found = self._pattern.fullmatch(actual) is not None
        return found if self.type is MatchType.REGEX else not found

    def matches_empty(self) -> bool:
        """Tell whether the matcher holds for an alert that lacks the label."""
        return self.matches({})

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.type.value}"{escaped}"'


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Tell whether every matcher holds for `labels` (True for no matchers)."""
    return all(matcher.matches(labels) for matcher in matchers)


def format_matchers(matchers: Iterable[Matcher]) -> str:
    """Format matchers as `{a="b", c=~"d"}`, which `parse_matchers` reads back."""
    return "{" + ", ".join(str(matcher) for matcher in matchers) + "}"


def parse_matchers(text: str) -> list[Matcher]:
    """Parse `a="b"`, `a=b, c!~"x|y"` or `{a="b", c=~"d"}` into matchers.

    Raises MatcherError with the position of the first problem.
    """
    body = text.strip()
    if body.startswith("{"):
        if not body.endswith("}"):
            raise MatcherError(f"invalid matchers {text!r}: missing closing '}}'")
        body = body[1:-1]
    reader = _Reader(body, text)
    matchers: list[Matcher] = []
    reader.skip_space()
    while not reader.at_end():
        matchers.append(reader.read_matcher())
        reader.skip_space()
        if not reader.at_end():
            reader.expect(",")
            reader.skip_space()
    return matchers


class _Reader:
    """A cursor over the text of a matcher list."""

    def __init__(self, body: str, original: str) -> None:
        self.body = body
        self.original = original
        self.position = 0

    def at_end(self) -> bool:
        return self.position >= len(self.body)

    def skip_space(self) -> None:
        while not self.at_end() and self.body[self.position].isspace():
            self.position += 1

    def fail(self, problem: str) -> MatcherError:
        return MatcherError(f"invalid matcher {self.original!r}: {problem} at character "
                            f"{self.position + 1}; expected such as target=\"core1\" or "
                            f"ifName=~\"Gi.*\"")

    def expect(self, char: str) -> None:
        if self.at_end() or self.body[self.position] != char:
            raise self.fail(f"expected {char!r}")
        self.position += 1

    def read_matcher(self) -> Matcher:
        name = self._read(_NAME, "expected a label name")
        self.skip_space()
        operator = self._read(_OPERATOR, "expected one of =, !=, =~, !~")
        self.skip_space()
        value = self._read_quoted() if self.body[self.position:].startswith('"') else \
            self._read_bare()
        try:
            return Matcher.build(name, MatchType(operator), value)
        except MatcherError as exc:
            raise MatcherError(f"invalid matcher {self.original!r}: {exc}") from None

    def _read(self, pattern: re.Pattern[str], problem: str) -> str:
        match = pattern.match(self.body, self.position)
        if match is None:
            raise self.fail(problem)
        self.position = match.end()
        return match.group()

    def _read_quoted(self) -> str:
        self.position += 1
        chars: list[str] = []
        while not self.at_end():
            char = self.body[self.position]
            self.position += 1
            if char == '"':
                return "".join(chars)
            if char == "\\":
                chars.append(self._read_escape())
            else:
                chars.append(char)
        raise self.fail("missing closing '\"'")

    def _read_escape(self) -> str:
        if self.at_end():
            raise self.fail("an escape '\\' at the end")
        char = self.body[self.position]
        if char not in _ESCAPES:
            raise self.fail(f"unknown escape '\\{char}' (allowed: \\\", \\\\, \\n)")
        self.position += 1
        return _ESCAPES[char]

    def _read_bare(self) -> str:
        end = self.body.find(",", self.position)
        end = len(self.body) if end < 0 else end
        value = self.body[self.position:end].strip()
        if '"' in value:
            raise self.fail("a '\"' inside an unquoted value")
        self.position = end
        return value
