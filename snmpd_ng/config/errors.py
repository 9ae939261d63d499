"""Errors of the daemon's configuration: one `ConfigIssue` per problem, all reported together.

A message names the file, the line when known, the key path (`targets[0].version`), the bad value
and the allowed values. Values of secret keys (communities, passwords) are never shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from snmpd_ng.protocol.errors import SnmpError

KeyPath = tuple[str | int, ...]
"""Position of a value in the YAML document: mapping keys and list indexes, from the root."""


def format_key_path(path: KeyPath) -> str:
    """Format ("targets", 0, "version") as "targets[0].version"."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(top level)"


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a config file."""

    path: KeyPath
    message: str
    """Description of the problem with the bad value and the allowed values, never a secret."""
    line: int | None = None
    """1-based line in the file, when the YAML parser gave one."""

    def format(self, source: str, severity: str = "") -> str:
        """Write "FILE:LINE: [SEVERITY: ]KEY.PATH: MESSAGE", as compilers do."""
        where = f"{source}:{self.line}" if self.line is not None else source
        if severity:
            where += f": {severity}"
        if not self.path:
            return f"{where}: {self.message}"
        return f"{where}: {format_key_path(self.path)}: {self.message}"


class ConfigError(SnmpError):
    """A config file that cannot be used; `issues` lists every problem found."""

    def __init__(self, source: str, issues: Sequence[ConfigIssue]) -> None:
        self.source = source
        self.issues = tuple(issues)
        lines = [issue.format(source) for issue in self.issues]
        count = len(lines)
        header = f"{source}: {count} error{'s' if count != 1 else ''} in the configuration"
        super().__init__("\n".join([header, *lines]))


class ConfigFileError(ConfigError):
    """The file cannot be read at all: missing, unreadable or not UTF-8.

    `snmpd-ng check-config` exits with status 2 for this, and 1 for other config errors
    (YAML syntax included).
    """

    def __init__(self, source: str, message: str) -> None:
        super().__init__(source, [ConfigIssue((), message)])

    def __str__(self) -> str:
        return self.issues[0].format(self.source)
