"""Settings that are valid but probably not what the user meant.

check-config prints these after the summary and still exits 0; the daemon logs each one at
start and reload. None of them stops polling.
"""

from __future__ import annotations

from collections.abc import Mapping

from snmpd_ng.config.errors import ConfigIssue, KeyPath
from snmpd_ng.config.model import TargetConfig
from snmpd_ng.config.schema import ConfigFile, TargetSettings

MAX_USUAL_REPETITIONS = 1000
"""max_repetitions above this requests more varbinds than agents put in one response."""


def find_warnings(
    config_file: ConfigFile, targets: tuple[TargetConfig, ...], lines: Mapping[KeyPath, int]
) -> tuple[ConfigIssue, ...]:
    """Return the warnings of a valid config, in file order."""
    warnings: list[ConfigIssue] = []
    settings: list[tuple[KeyPath, TargetSettings]] = [(("defaults",), config_file.defaults)]
    settings += [(("targets", index), entry) for index, entry in enumerate(config_file.targets)]
    for path, entry in settings:
        if entry.max_repetitions is not None and entry.max_repetitions > MAX_USUAL_REPETITIONS:
            warnings.append(_repetitions_warning((*path, "max_repetitions"), entry.max_repetitions,
                                                 lines))
    for position, target in enumerate(targets):
        warning = _budget_warning(("targets", position), target, lines)
        if warning is not None:
            warnings.append(warning)
    return tuple(sorted(warnings, key=lambda issue: issue.line or 0))


def request_wait(target: TargetConfig) -> float:
    """Return the seconds one request waits for a silent agent: every attempt's timeout.

    The first attempt waits `timeout`, and each retry `backoff` times longer than the one before.
    """
    snmp = target.target
    return sum(snmp.timeout * snmp.backoff**attempt for attempt in range(snmp.retries + 1))


def _budget_warning(
    path: KeyPath, target: TargetConfig, lines: Mapping[KeyPath, int]
) -> ConfigIssue | None:
    """Warn when one request to a silent agent outlasts the poll budget of the target's job."""
    if not target.jobs:
        return None
    job = min(target.jobs, key=target.budget_for)
    budget = target.budget_for(job)
    wait = request_wait(target)
    if wait <= budget:
        return None
    attempts = target.target.retries + 1
    message = (
        f"one request may wait {wait:g} s ({attempts} attempts of the timeout, "
        f"{target.target.timeout:g} s) but a run of job {job.name!r} ends after its poll budget "
        f"of {budget:g} s, so the last attempts are never sent and a silent agent counts as "
        "budget_exceeded; lower timeout or retries, or raise poll_budget or the interval"
    )
    return ConfigIssue(path, message, lines.get(path))


def _repetitions_warning(path: KeyPath, value: int, lines: Mapping[KeyPath, int]) -> ConfigIssue:
    message = (
        f"max_repetitions {value} is above {MAX_USUAL_REPETITIONS}; so many varbinds "
        "rarely fit in one response, so agents send fewer rows or tooBig (which halves the "
        "value for the target)"
    )
    return ConfigIssue(path, message, lines.get(path))
