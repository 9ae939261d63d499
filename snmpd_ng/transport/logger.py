"""Loggers of the transport and manager layers, quiet until the application configures logging.

structlog's default configuration prints every event, DEBUG included, to stdout. A script that
imports snmpd_ng and never configures logging must not get those lines, so until structlog is
configured the events go to the standard library's logger of the same name instead. There the
usual rules for a library apply: the `snmpd_ng` logger has a NullHandler, so nothing is shown
until the application configures `logging` (`logging.basicConfig(level=logging.INFO)`, for
example). Once structlog is configured (the daemon and the CLI do it through
`snmpd_ng.logging.configure_logging`), the events go through structlog as before.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger


def render_key_values(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> str:
    """Render an event as its text followed by key=value fields, for a stdlib log record."""
    event = event_dict.pop("event", "")
    fields = " ".join(f"{key}={value!r}" for key, value in event_dict.items())
    return f"{event} {fields}" if fields else str(event)


class LibraryLogger:
    """A structlog-style logger that writes through structlog only once structlog is configured.

    It has the methods the library calls (`debug`, `info`, `warning`, `error`, `exception`,
    `is_enabled_for`). The choice is made on every call, so configuring structlog after the
    import still takes effect.
    """

    __slots__ = ("_stdlib", "_stdlib_logger", "_structlog")

    def __init__(self, name: str) -> None:
        self._structlog = structlog.get_logger(name)
        self._stdlib_logger = logging.getLogger(name)
        # filter_by_level first, so that a disabled level costs no rendering.
        self._stdlib = structlog.wrap_logger(
            self._stdlib_logger,
            processors=[structlog.stdlib.filter_by_level, render_key_values],
            wrapper_class=structlog.stdlib.BoundLogger,
        )

    def _target(self) -> Any:
        return self._structlog if structlog.is_configured() else self._stdlib

    def debug(self, event: str, **fields: Any) -> None:
        self._target().debug(event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self._target().info(event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._target().warning(event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self._target().error(event, **fields)

    def exception(self, event: str, **fields: Any) -> None:
        self._target().exception(event, **fields)

    def is_enabled_for(self, level: int) -> bool:
        """Tell whether an event at `level` (a `logging` level number) would be written now."""
        if not structlog.is_configured():
            return self._stdlib_logger.isEnabledFor(level)
        checker = getattr(self._structlog, "is_enabled_for", None)
        return bool(checker(level)) if checker is not None else True


def get_logger(name: str) -> LibraryLogger:
    """Return the library logger named `name` (a dotted name under `snmpd_ng`)."""
    return LibraryLogger(name)
