"""Plain YAML scalars whose YAML 1.1 type changes the text that a string field would receive.

PyYAML types an unquoted scalar by its form. `0123` is the octal number 83, `0x1F` is 31,
`1_000` is 1000 and `1:20` is 80 (base 60). `yes`, `no`, `on` and `off` are booleans, `~`,
`null` and an empty value are null, and `2024-01-01` is a date. A string field would then receive
"83" instead of "0123", and a community that an agent accepts as `0123` would silently time
out. The loader records every such scalar, and rejects it where the schema expects text.
A number whose text survives (`2`, `1.5`) is accepted: `rack: 2` means the label value "2".
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

import yaml

from snmpd_ng.config.errors import KeyPath

_STR_TAG = "tag:yaml.org,2002:str"


@dataclass(frozen=True, slots=True)
class RetypedScalar:
    """An unquoted scalar that YAML read as something other than its text."""

    path: KeyPath
    """Key path of the value, or for a mapping key, of the mapping plus the key as read."""
    text: str
    """The scalar as written in the file."""
    value: object
    """The scalar as PyYAML read it."""
    line: int
    is_key: bool = False


def find_retyped(
    node: yaml.Node, path: KeyPath, construct: Callable[[yaml.Node], object]
) -> RetypedScalar | None:
    """Return the scalar `node` at `path` when YAML's type changes its text, else None.

    `construct` is the loader's own constructor, so the value is the one the document gets.
    """
    if not isinstance(node, yaml.ScalarNode) or node.style is not None or node.tag == _STR_TAG:
        return None
    value = construct(node)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if is_number and str(value) == node.value:
        return None
    return RetypedScalar(path, node.value, value, node.start_mark.line + 1)


def describe_type(value: object, *, with_value: bool = True) -> str:
    """Name what YAML read a scalar as: "the number 83", or "a number" without the value."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}" if with_value else "a boolean"
    if isinstance(value, int | float):
        return f"the number {value}" if with_value else "a number"
    if value is None:
        return "null (no value)"
    if isinstance(value, datetime.date):
        return "a date"
    return f"a {type(value).__name__}"


def quoted(text: str) -> str:
    """Quote `text` as a YAML single-quoted scalar, which escapes a quote by doubling it."""
    return "'" + text.replace("'", "''") + "'"


def retyped_message(scalar: RetypedScalar, is_secret: bool) -> str:
    """Explain what YAML did to the scalar and how to keep the text. Secrets are not shown."""
    if scalar.value is None and scalar.text == "":
        return "missing value"
    if is_secret:
        kind = describe_type(scalar.value, with_value=False)
        return f"YAML reads this unquoted value as {kind}, which changes its text; quote it"
    what = "key" if scalar.is_key else "value"
    return (
        f"YAML reads the unquoted {what} {scalar.text} as {describe_type(scalar.value)}; "
        f"write it in quotes, {quoted(scalar.text)}, to keep the text"
    )
