"""Load a config file: read it, parse the YAML, validate the schema and build `DaemonConfig`.

Every problem found in one step is reported at once in a `ConfigError`, so a user fixes a file
in one round. The steps stop at the first one that fails, because a later step cannot trust the
data of a failed one (a schema error may hide a missing job that a reference check would report).
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import yaml

from snmpd_ng.config.builder import build_config
from snmpd_ng.config.errors import ConfigError, ConfigFileError, ConfigIssue, KeyPath
from snmpd_ng.config.model import DaemonConfig, JobConfig
from snmpd_ng.config.schema import SECRET_KEYS, ConfigFile

LineMap = dict[KeyPath, int]
"""1-based line of each key and list item, by its key path."""

_MAX_VALUE_TEXT = 60


def load_config(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> DaemonConfig:
    """Load and validate the config file at `path`.

    `environ` supplies `{env: NAME}` secrets (default: os.environ). Raises ConfigFileError when
    the file cannot be read and ConfigError, listing every problem, when it is not valid.
    """
    source = str(path)
    text = read_config_text(source)
    data, lines = parse_yaml(text, source)
    config_file = validate_schema(data, source, lines)
    base_dir = Path(source).resolve().parent
    return build_config(
        config_file,
        source=source,
        base_dir=base_dir,
        environ=os.environ if environ is None else environ,
        lines=lines,
    )


def read_config_text(source: str) -> str:
    try:
        return Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigFileError(source, f"cannot read the config file: {reason}") from exc
    except UnicodeDecodeError as exc:
        message = f"the config file is not UTF-8 text (invalid byte at offset {exc.start})"
        raise ConfigFileError(source, message) from exc


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader: plain data only, no Python objects."""


def parse_yaml(text: str, source: str) -> tuple[Any, LineMap]:
    """Parse one YAML document; return the data and the line of every key path.

    Duplicate keys are errors: PyYAML would silently keep the last one.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError(source, [ConfigIssue((), "the config file is empty")])
        lines: LineMap = {}
        duplicates: list[ConfigIssue] = []
        _map_node(node, (), lines, duplicates)
        if duplicates:
            raise ConfigError(source, duplicates)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(source, [_yaml_issue(exc)]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(source, [ConfigIssue((), f"invalid YAML: {exc}")]) from exc
    finally:
        loader.dispose()
    return data, lines


def _yaml_issue(exc: yaml.MarkedYAMLError) -> ConfigIssue:
    # Built from the parts rather than str(exc): str() quotes the offending source line, which
    # may hold a community.
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = exc.problem or exc.context or "syntax error"
    column = f" (column {mark.column + 1})" if mark is not None else ""
    return ConfigIssue((), f"invalid YAML: {problem}{column}", line)


def _map_node(
    node: yaml.Node, path: KeyPath, lines: LineMap, duplicates: list[ConfigIssue]
) -> None:
    """Record the line of every key and item under `node`, and report duplicate keys."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            _map_node(item, (*path, position), lines, duplicates)
    elif isinstance(node, yaml.MappingNode):
        first_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key, line = str(key_node.value), key_node.start_mark.line + 1
            if key in first_lines:
                message = f"duplicate key {key!r} (first given at line {first_lines[key]})"
                duplicates.append(ConfigIssue((*path, key), message, line))
                continue
            first_lines[key] = line
            lines[(*path, key)] = line
            _map_node(value_node, (*path, key), lines, duplicates)


def validate_schema(data: Any, source: str, lines: LineMap) -> ConfigFile:
    """Validate the parsed YAML against the schema; raise ConfigError listing every problem."""
    if not isinstance(data, dict):
        found = type(data).__name__
        message = f"the top level must be a mapping of sections (jobs, targets, ...), not a {found}"
        raise ConfigError(source, [ConfigIssue((), message, 1)])
    try:
        return ConfigFile.model_validate(data)
    except pydantic.ValidationError as exc:
        issues = [_schema_issue(error, lines) for error in exc.errors()]
        raise ConfigError(source, issues) from None


def _schema_issue(error: Any, lines: LineMap) -> ConfigIssue:
    """Turn one pydantic error into a ConfigIssue with our wording and the line."""
    path: KeyPath = tuple(part for part in error["loc"] if part != "[key]")
    kind = error["type"]
    is_secret = any(part in SECRET_KEYS for part in path)
    value = "" if is_secret else _format_value(error.get("input"))

    if kind == "extra_forbidden":
        message = _unknown_key_message(path)
    elif kind == "missing":
        message = f"missing required key {path[-1]!r}"
    elif kind == "literal_error":
        message = f"invalid value{value}; allowed values: {error['ctx']['expected']}"
    elif kind == "value_error":
        message = str(error["ctx"]["error"])
    else:
        message = f"invalid value{value}: {error['msg']}"
    return ConfigIssue(path, message, _line_of(path, lines))


def _format_value(value: object) -> str:
    text = repr(value)
    if len(text) > _MAX_VALUE_TEXT:
        text = text[: _MAX_VALUE_TEXT - 3] + "..."
    return f" {text}"


def _line_of(path: KeyPath, lines: LineMap) -> int | None:
    """Return the line of `path`, or of its nearest parent when the key is missing."""
    for end in range(len(path), -1, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None


def _unknown_key_message(path: KeyPath) -> str:
    key = str(path[-1])
    allowed = sorted(_allowed_keys(path[:-1]))
    message = f"unknown key {key!r}"
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        message += f"; did you mean {close[0]!r}?"
    if allowed:
        message += f" Allowed keys: {', '.join(allowed)}"
    return message


def _allowed_keys(path: KeyPath) -> list[str]:
    """Return the keys the schema allows in the mapping at `path`."""
    current: Any = ConfigFile
    for part in path:
        current = _child_type(current, part)
        if current is None:
            return []
    model = _model_in(current)
    return list(model.model_fields) if model is not None else []


def _child_type(annotation: Any, part: str | int) -> Any:
    """Return the type of the value at `part` inside a value of type `annotation`."""
    model = _model_in(annotation)
    if model is not None:
        field = model.model_fields.get(str(part))
        return field.annotation if field is not None else None
    for candidate in _union_members(annotation):
        origin, args = typing.get_origin(candidate), typing.get_args(candidate)
        if origin is list and isinstance(part, int):
            return args[0]
        if origin is dict and isinstance(part, str):
            return args[1]
    return None


def _model_in(annotation: Any) -> type[pydantic.BaseModel] | None:
    for candidate in _union_members(annotation):
        if isinstance(candidate, type) and issubclass(candidate, pydantic.BaseModel):
            return candidate
    return None


def _union_members(annotation: Any) -> list[Any]:
    """Unwrap `Annotated[...]` and `X | None` into the plain types involved."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _union_members(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [member for arg in typing.get_args(annotation) for member in _union_members(arg)]
    return [annotation]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of `snmpd-ng check-config`: its exit status and what it prints."""

    exit_code: int
    """0 valid, 1 invalid, 2 unreadable file."""
    stdout: str
    stderr: str


def check_config_file(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> CheckResult:
    """Load `path` and return a summary (valid) or every error (invalid)."""
    try:
        config = load_config(path, environ)
    except ConfigFileError as exc:
        return CheckResult(2, "", str(exc) + "\n")
    except ConfigError as exc:
        return CheckResult(1, "", str(exc) + "\n")
    return CheckResult(0, summarize(config), "")


_MAX_LISTED_TARGETS = 10


def summarize(config: DaemonConfig) -> str:
    """Describe a valid config in a few lines: targets, jobs, objects and the HTTP face."""
    jobs = {job.name: job for target in config.targets for job in target.jobs}
    names = [target.name for target in config.targets]
    listed = ", ".join(names[:_MAX_LISTED_TARGETS])
    if len(names) > _MAX_LISTED_TARGETS:
        listed += f", and {len(names) - _MAX_LISTED_TARGETS} more"
    lines = [
        f"{config.source_file}: the configuration is valid",
        f"targets: {len(names)}" + (f" ({listed})" if names else ""),
        f"jobs used: {len(jobs)}",
    ]
    lines += [f"  {_describe_job(job)}" for job in jobs.values()]

    scalars = sum(len(job.scalars) for job in jobs.values())
    columns = sum(len(table.columns) for job in jobs.values() for table in job.tables)
    pairs = sum(len(target.jobs) for target in config.targets)
    lines.append(f"objects: {scalars + columns} ({scalars} scalars, {columns} table columns)")
    lines.append(f"polls: {pairs} target-job pairs")
    lines.append(f"http: {', '.join(config.http.listen)}{_describe_http_options(config)}")
    return "\n".join(lines) + "\n"


def _describe_job(job: JobConfig) -> str:
    columns = sum(len(table.columns) for table in job.tables)
    lookups = sum(len(table.lookups) for table in job.tables)
    return (
        f"{job.name}: every {job.interval:g} s, {len(job.scalars)} scalars, "
        f"{len(job.tables)} tables ({columns} columns, {lookups} lookups)"
    )


def _describe_http_options(config: DaemonConfig) -> str:
    options = []
    if config.http.tls is not None:
        options.append("TLS")
    if config.http.basic_auth is not None:
        options.append("basic auth")
    return f" with {' and '.join(options)}" if options else ""
