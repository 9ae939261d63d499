"""Load a config file: read it, parse the YAML, validate the schema and build `DaemonConfig`.

Every problem found in one step is reported at once in a `ConfigError`, so a user fixes a file
in one round. The steps stop at the first one that fails, because a later step cannot trust the
data of a failed one (a schema error may hide a missing job that a reference check would report).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import yaml

from snmpd_ng.config.builder import build_config
from snmpd_ng.config.errors import ConfigError, ConfigFileError, ConfigIssue, KeyPath
from snmpd_ng.config.model import DaemonConfig
from snmpd_ng.config.scalars import RetypedScalar, find_retyped
from snmpd_ng.config.schema import ConfigFile
from snmpd_ng.config.schema_errors import LineMap, retyped_issue, schema_issue
from snmpd_ng.config.summary import summarize


def load_config(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> DaemonConfig:
    """Load and validate the config file at `path`.

    `environ` supplies `{env: NAME}` secrets (default: os.environ). Raises ConfigFileError when
    the file cannot be read and ConfigError, listing every problem, when it is not valid.
    """
    source = str(path)
    text = read_config_text(source)
    document = parse_yaml(text, source)
    config_file = validate_schema(document, source)
    lines = document.lines
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


@dataclass(slots=True)
class YamlDocument:
    """A parsed config file: its data, the line of every key path, and retyped scalars."""

    data: Any
    lines: LineMap = field(default_factory=dict)
    retyped: list[RetypedScalar] = field(default_factory=list)
    """Unquoted scalars whose YAML type changed their text (0123 read as 83)."""


def parse_yaml(text: str, source: str) -> YamlDocument:
    """Parse one YAML document, with the line of every key path and its retyped scalars.

    Duplicate keys are errors: PyYAML would silently keep the last one.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError(source, [ConfigIssue((), "the config file is empty")])
        document = YamlDocument(None)
        duplicates: list[ConfigIssue] = []
        _NodeMapper(document, duplicates, loader.construct_object).map(node, ())
        if duplicates:
            raise ConfigError(source, duplicates)
        document.data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(source, [_yaml_issue(exc)]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(source, [ConfigIssue((), f"invalid YAML: {exc}")]) from exc
    finally:
        loader.dispose()
    return document


def _yaml_issue(exc: yaml.MarkedYAMLError) -> ConfigIssue:
    # Built from the parts rather than str(exc): str() quotes the offending source line, which
    # may hold a community.
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = exc.problem or exc.context or "syntax error"
    column = f" (column {mark.column + 1})" if mark is not None else ""
    return ConfigIssue((), f"invalid YAML: {problem}{column}", line)


@dataclass(slots=True)
class _NodeMapper:
    """Walks the node tree once: lines, duplicate keys, and scalars whose type changed them."""

    document: YamlDocument
    duplicates: list[ConfigIssue]
    construct: Callable[[yaml.Node], Any]

    def map(self, node: yaml.Node, path: KeyPath) -> None:
        """Record the line of every key and item under `node`, and report duplicate keys."""
        self.document.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.SequenceNode):
            for position, item in enumerate(node.value):
                self.map(item, (*path, position))
        elif isinstance(node, yaml.MappingNode):
            self._map_mapping(node, path)
        else:
            self._note_retyped(node, path)

    def _map_mapping(self, node: yaml.MappingNode, path: KeyPath) -> None:
        first_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key, line = str(key_node.value), key_node.start_mark.line + 1
            if key in first_lines:
                message = f"duplicate key {key!r} (first given at line {first_lines[key]})"
                self.duplicates.append(ConfigIssue((*path, key), message, line))
                continue
            first_lines[key] = line
            self._note_retyped_key(key_node, path)
            self.document.lines[(*path, key)] = line
            self.map(value_node, (*path, key))

    def _note_retyped(self, node: yaml.Node, path: KeyPath) -> None:
        scalar = find_retyped(node, path, self.construct)
        if scalar is not None:
            self.document.retyped.append(scalar)

    def _note_retyped_key(self, key_node: yaml.ScalarNode, path: KeyPath) -> None:
        scalar = find_retyped(key_node, path, self.construct)
        if scalar is not None:
            key = scalar.value if isinstance(scalar.value, str | int) else str(scalar.value)
            self.document.retyped.append(
                RetypedScalar((*path, key), scalar.text, scalar.value, scalar.line, is_key=True)
            )


def validate_schema(document: YamlDocument, source: str) -> ConfigFile:
    """Validate the parsed YAML against the schema; raise ConfigError listing every problem."""
    data = document.data
    if not isinstance(data, dict):
        found = type(data).__name__
        message = f"the top level must be a mapping of sections (jobs, targets, ...), not a {found}"
        raise ConfigError(source, [ConfigIssue((), message, 1)])

    explained = [(scalar.path, issue) for scalar in document.retyped
                 if (issue := retyped_issue(scalar)) is not None]
    retyped = [issue for _, issue in explained]
    retyped_paths = [path for path, _ in explained]
    try:
        config_file = ConfigFile.model_validate(data)
    except pydantic.ValidationError as exc:
        issues = [schema_issue(error, document.lines) for error in exc.errors()]
        # A retyped scalar explains the schema's errors at its path better than they do.
        issues = [issue for issue in issues if not _is_under(issue.path, retyped_paths)]
        raise ConfigError(source, _by_line([*retyped, *issues])) from None
    if retyped:
        raise ConfigError(source, _by_line(retyped))
    return config_file


def _is_under(path: KeyPath, parents: list[KeyPath]) -> bool:
    return any(path[: len(parent)] == parent for parent in parents)


def _by_line(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    """Sort issues by line, so the list reads top to bottom like the file."""
    return sorted(issues, key=lambda issue: issue.line if issue.line is not None else 0)


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
    """Load `path` and return a summary and any warnings (valid) or every error (invalid)."""
    try:
        config = load_config(path, environ)
    except ConfigFileError as exc:
        return CheckResult(2, "", str(exc) + "\n")
    except ConfigError as exc:
        return CheckResult(1, "", str(exc) + "\n")
    warnings = "".join(f"{line}\n" for line in format_warnings(config))
    return CheckResult(0, summarize(config), warnings)


def format_warnings(config: DaemonConfig) -> list[str]:
    """Return one "FILE:LINE: warning: KEY: MESSAGE" line per warning of `config`."""
    source = config.source_file or "config"
    return [warning.format(source, "warning") for warning in config.warnings]
