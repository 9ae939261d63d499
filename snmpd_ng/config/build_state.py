"""The state that the steps of building a `DaemonConfig` share: the file's place and issues."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from snmpd_ng import mibs
from snmpd_ng.config.errors import ConfigIssue, KeyPath


@dataclass
class BuildState:
    """The state of one build: the file's folder, environment and lines, and the issues found.

    Issues are collected rather than raised, so that every problem is reported in one pass.
    """

    source: str
    base_dir: Path
    environ: Mapping[str, str]
    lines: Mapping[KeyPath, int]
    issues: list[ConfigIssue] = field(default_factory=list)

    def report(self, path: KeyPath, message: str) -> None:
        """Add an issue; the same issue twice (a `defaults` label seen per target) is kept once."""
        line = None
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                break
        issue = ConfigIssue(path, message, line)
        if issue not in self.issues:
            self.issues.append(issue)

    def resolve_path(self, text: str) -> Path:
        """Resolve a relative path against the config file's folder."""
        path = Path(text).expanduser()
        return path if path.is_absolute() else self.base_dir / path


def did_you_mean(name: str, known: Mapping[str, object]) -> str:
    """Return " (did you mean 'NAME'?)" for the known name closest to `name`, or ""."""
    # Profile and job names are short, where one swapped letter lowers the ratio a lot.
    close = mibs.suggest(name, list(known), cutoff=0.6)
    return f" (did you mean {close!r}?)" if close else ""
