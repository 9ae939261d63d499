"""Annotation templates: Jinja2 in its sandboxed environment, with filters for numbers.

A template gets `value` (the alert's number), `labels` (its labels), `target` (the target's
name) and `rule` (the rule's name). All are plain strings and numbers, so the sandbox leaves
it no way to reach Python objects. Templates are compiled when the rules load, so a syntax
error is a config error, and rendered when an alert changes state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from jinja2 import Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

_SI_PREFIXES = (
    (1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"),
    (1.0, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"),
)
_DURATION_UNITS = ((86400, "d"), (3600, "h"), (60, "m"), (1, "s"))


def percent(value: object, digits: int = 1) -> str:
    """Show a ratio as a percentage: 0.934 becomes "93.4%"."""
    number = _number(value)
    if not math.isfinite(number):
        return str(number)
    return f"{number * 100:.{digits}f}%"


def humanize(value: object) -> str:
    """Show a number with an SI prefix and 4 significant digits: 1234567 becomes "1.235M"."""
    number = _number(value)
    if number == 0 or not math.isfinite(number):
        return f"{number:g}"
    magnitude = abs(number)
    for scale, prefix in _SI_PREFIXES:
        if magnitude >= scale:
            return f"{number / scale:.4g}{prefix}"
    return f"{number:.4g}"


def humanize_duration(value: object) -> str:
    """Show seconds as days, hours, minutes and seconds: 5400 becomes "1h 30m"."""
    number = _number(value)
    if not math.isfinite(number):
        return str(number)
    if abs(number) < 1:
        return f"{number:.3g}s"
    remaining = round(abs(number))
    parts = []
    for size, unit in _DURATION_UNITS:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return ("-" if number < 0 else "") + " ".join(parts)


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


def _environment() -> SandboxedEnvironment:
    environment = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)
    environment.filters["percent"] = percent
    environment.filters["humanize"] = humanize
    environment.filters["humanize_duration"] = humanize_duration
    return environment


ENVIRONMENT = _environment()


def compile_template(text: str) -> Template:
    """Compile an annotation; raises jinja2.TemplateSyntaxError (with `lineno`) when invalid."""
    return ENVIRONMENT.from_string(text)


class RenderError(ValueError):
    """A template that failed while rendering, such as `percent` given a label's text."""


def render(template: Template, *, value: float | None, labels: Mapping[str, str],
           rule: str) -> str:
    """Render one annotation for one alert; raise RenderError when the template fails."""
    try:
        return template.render(value=value, labels=dict(labels),
                               target=labels.get("target", ""), rule=rule)
    except (TemplateError, TypeError, ValueError, ArithmeticError) as exc:
        raise RenderError(f"{type(exc).__name__}: {exc}") from exc
