"""The schema's errors in the config's own words.

pydantic reports every error of a document with its key path and an error type, but its
messages name Python classes ("instance of SecretSource") and show values as a Python repr cut
at a fixed width. Here each error type gets a message in the terms of docs/config.md: the value
as the file shows it, what is allowed, and what to do. The schema classes are walked along the
key path to find the allowed keys, the bounds of a number and the shape of a section.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any

import annotated_types
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from snmpd_ng.config.errors import ConfigIssue, KeyPath
from snmpd_ng.config.scalars import RetypedScalar, describe_type, retyped_message
from snmpd_ng.config.schema import SECRET_KEYS, VALUE_REQUIRED, ConfigFile, StrictModel

LineMap = dict[KeyPath, int]
"""1-based line of each key and list item, by its key path."""

_MAX_VALUE_TEXT = 60

_BOUND_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})

# The expected kind of a value of the wrong type, by pydantic error type.
_EXPECTED = {
    "dict_type": "a mapping",
    "list_type": "a list",
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_too_short": "a non-empty string",
    "too_short": "at least one entry",
}


def schema_issue(error: ErrorDetails, lines: LineMap) -> ConfigIssue:
    """Turn one pydantic error into a ConfigIssue with our wording and the line."""
    path: KeyPath = tuple(part for part in error["loc"] if part != "[key]")
    return ConfigIssue(path, _schema_message(error, path), line_of(path, lines))


def _schema_message(error: ErrorDetails, path: KeyPath) -> str:
    kind = error["type"]
    value = error.get("input")
    shown = format_value(value, is_secret=is_secret_path(path))

    if kind == "extra_forbidden":
        return unknown_key_message(path)
    if kind == "missing":
        return f"missing required key {path[-1]!r}"
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    if kind == "literal_error":
        allowed = _literal_values(path) or str(error.get("ctx", {}).get("expected", ""))
        return f"invalid value{shown}; allowed values: {allowed}"
    if kind in _BOUND_ERRORS:
        return f"invalid value{shown}; allowed values: {_bounds_text(path, error)}"
    if kind == "model_type":
        return _wrong_shape_message(path, value, shown)
    if kind in _EXPECTED:
        return f"invalid value{shown}; expected {_EXPECTED[kind]}"
    message = error["msg"]
    return f"invalid value{shown}: {message[:1].lower()}{message[1:]}"


def retyped_issue(scalar: RetypedScalar) -> ConfigIssue | None:
    """Return the issue of a scalar whose text YAML changed, if a string was expected there."""
    if scalar.is_key:
        if not _is_free_mapping(annotation_at(scalar.path[:-1])):
            return None
    else:
        annotation = annotation_at(scalar.path)
        if not _accepts_text(annotation):
            return None
        if scalar.value is None and _accepts_none(annotation):
            return None

    message = retyped_message(scalar, is_secret_path(scalar.path))
    model = _model_in(annotation_at(scalar.path))
    if message == "missing value" and model is not None:
        message += f"; expected {model.SHAPE}"
    shown_path = (*scalar.path[:-1], scalar.text) if scalar.is_key else scalar.path
    return ConfigIssue(shown_path, message, scalar.line)


def is_secret_path(path: KeyPath) -> bool:
    return any(part in SECRET_KEYS for part in path)


def format_value(value: object, *, is_secret: bool) -> str:
    """Show a value as YAML wrote it, after a space: " 'soon'", " 70000", " (a list)".

    A secret's value is never shown, only whether it was a list or mapping.
    """
    if isinstance(value, list):
        return " (a list)"
    if isinstance(value, dict):
        return " (a mapping)"
    if is_secret:
        return ""
    if isinstance(value, bool):
        text = str(value).lower()
    elif value is None:
        text = "null"
    else:
        text = repr(value) if isinstance(value, str) else str(value)
    if len(text) > _MAX_VALUE_TEXT:
        text = text[: _MAX_VALUE_TEXT - 3] + "..."
    return f" {text}"


def _wrong_shape_message(path: KeyPath, value: object, shown: str) -> str:
    model = _model_in(annotation_at(path))
    shape = model.SHAPE if model is not None else "a mapping"
    if value is None:
        return f"missing value; expected {shape}"
    if not isinstance(value, list | dict) and not is_secret_path(path):
        shown = f" {describe_type(value)}" if not isinstance(value, str) else shown
    return f"invalid value{shown}; expected {shape}"


def line_of(path: KeyPath, lines: Mapping[KeyPath, int]) -> int | None:
    """Return the line of `path`, or of its nearest parent when the key is missing."""
    for end in range(len(path), -1, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None


def unknown_key_message(path: KeyPath) -> str:
    key = str(path[-1])
    allowed = sorted(_allowed_keys(path[:-1]))
    message = f"unknown key {key!r}"
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    if allowed:
        message += f"; allowed keys: {', '.join(allowed)}"
    return message


# Walking the schema along a key path


def annotation_at(path: KeyPath) -> Any:
    """Return the schema's type of the value at `path`, or None when the path is unknown."""
    current: Any = ConfigFile
    for part in path:
        current = _child_type(current, part)
        if current is None:
            return None
    return current


def _allowed_keys(path: KeyPath) -> list[str]:
    """Return the keys the schema allows in the mapping at `path`."""
    model = _model_in(annotation_at(path))
    return list(model.model_fields) if model is not None else []


def _child_type(annotation: Any, part: str | int) -> Any:
    """Return the type of the value at `part` inside a value of type `annotation`."""
    model = _model_in(annotation)
    if model is not None:
        field = model.model_fields.get(str(part))
        return _field_type(field) if field is not None else None
    for candidate in _union_members(annotation):
        origin, args = typing.get_origin(candidate), typing.get_args(candidate)
        if origin is list and isinstance(part, int):
            return args[0]
        if origin is dict and not isinstance(part, int):
            return args[1]
    return None


def _field_type(field: FieldInfo) -> Any:
    """Return a field's type with the field's own constraints (Field(ge=...)) attached."""
    if not field.metadata:
        return field.annotation
    return typing.Annotated[(field.annotation, *field.metadata)]


def _model_in(annotation: Any) -> type[StrictModel] | None:
    for candidate in _union_members(annotation):
        if isinstance(candidate, type) and issubclass(candidate, StrictModel):
            return candidate
    return None


def _union_members(annotation: Any) -> list[Any]:
    """Unwrap `Annotated[...]` and `X | None` into the plain types involved."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _union_members(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [member for arg in typing.get_args(annotation) for member in _union_members(arg)]
    return [annotation]


def _accepts_text(annotation: Any) -> bool:
    """Tell whether a string is valid here: a str field, or a section with a string shorthand."""
    for member in _union_members(annotation):
        if member is str:
            return True
        if isinstance(member, type) and issubclass(member, StrictModel) and member.SCALAR_KEY:
            return True
    return False


def _accepts_none(annotation: Any) -> bool:
    is_annotated = typing.get_origin(annotation) is typing.Annotated
    if is_annotated and VALUE_REQUIRED in typing.get_args(annotation)[1:]:
        return False
    return any(member is type(None) for member in _union_members(annotation))


def _is_free_mapping(annotation: Any) -> bool:
    """Tell whether the mapping's keys are names the user chooses (jobs, labels), not fields."""
    return any(typing.get_origin(member) is dict for member in _union_members(annotation))


def _literal_values(path: KeyPath) -> str:
    for member in _union_members(annotation_at(path)):
        if typing.get_origin(member) is typing.Literal:
            return ", ".join(str(value) for value in typing.get_args(member))
    return ""


_BOUND_NAMES = ("ge", "gt", "le", "lt")


def _constraints(annotation: Any) -> dict[str, Any]:
    """Collect the ge, gt, le and lt bounds attached anywhere in `annotation`."""
    found: dict[str, Any] = {}
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *metadata = typing.get_args(annotation)
        found.update(_constraints(inner))
        for item in metadata:
            for bound in item.metadata if isinstance(item, FieldInfo) else [item]:
                found.update({name: getattr(bound, name) for name in _BOUND_NAMES
                              if isinstance(bound, annotated_types.BaseMetadata)
                              and hasattr(bound, name)})
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found.update(_constraints(arg))
    return found


def _bounds_text(path: KeyPath, error: ErrorDetails) -> str:
    """Describe the allowed range: "1 to 65535", "0 or more", "above 0"."""
    bounds = _constraints(annotation_at(path)) or dict(error.get("ctx", {}))
    if "ge" in bounds and "le" in bounds:
        return f"{bounds['ge']} to {bounds['le']}"
    parts = []
    if "ge" in bounds:
        parts.append(f"{bounds['ge']} or more")
    if "gt" in bounds:
        parts.append(f"above {bounds['gt']}")
    if "le" in bounds:
        parts.append(f"at most {bounds['le']}")
    if "lt" in bounds:
        parts.append(f"below {bounds['lt']}")
    return ", ".join(parts)
