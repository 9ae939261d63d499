"""structlog set-up for the daemon: JSON lines for journald and log shippers, console on a TTY.

Messages of the standard library's `logging` (asyncio, aiohttp) go through the same processors
and renderer, so one process writes one format. `configure_logging` can be called again, on a
config reload for example: loggers look the configuration up on every call.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["auto", "json", "console"]

REDACTED_KEYS = frozenset({"community", "password", "passphrase", "auth_key", "priv_key", "secret"})
"""Event keys whose values `redact_secrets` replaces before rendering, whatever the value."""

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class _NamedWriteLogger(structlog.WriteLogger):
    """structlog's WriteLogger with the name given to `get_logger`, for the `logger` key."""

    def __init__(self, file: TextIO, name: str | None) -> None:
        super().__init__(file)
        self.name = name


class _NamedWriteLoggerFactory:
    def __init__(self, file: TextIO) -> None:
        self._file = file

    def __call__(self, *args: Any) -> _NamedWriteLogger:
        name = args[0] if args and isinstance(args[0], str) else None
        return _NamedWriteLogger(self._file, name)


def redact_secrets(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Replace the value of every key in REDACTED_KEYS with "<redacted>"."""
    for key in REDACTED_KEYS.intersection(event_dict):
        event_dict[key] = "<redacted>"
    return event_dict


def add_logger_name(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    name = getattr(logger, "name", None)
    if name and "logger" not in event_dict:
        event_dict["logger"] = name
    return event_dict


class _ConsoleRenderer:
    """structlog's ConsoleRenderer, with a list under `errors` written one item a line below.

    JSON lines keep the list as it is. On the console, one line would show it as a Python list
    with quotes and escaped newlines, hard to read for a config error that names ten problems.
    """

    def __init__(self, inner: structlog.dev.ConsoleRenderer) -> None:
        self._inner = inner

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> str:
        errors = event_dict.get("errors")
        if not isinstance(errors, list | tuple):
            return self._inner(logger, method_name, event_dict)
        del event_dict["errors"]
        line = self._inner(logger, method_name, event_dict)
        return line + "".join(f"\n    {error}" for error in errors)


def is_console(log_format: LogFormat, stream: TextIO) -> bool:
    """Tell whether to render for humans: "auto" means yes on a terminal."""
    if log_format == "auto":
        return stream.isatty()
    return log_format == "console"


def configure_logging(
    level: LogLevel = "info", log_format: LogFormat = "auto", stream: TextIO | None = None
) -> None:
    """Configure structlog and the standard library's logging to write to `stream` (stderr)."""
    output = sys.stderr if stream is None else stream
    console = is_console(log_format, output)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
        structlog.processors.StackInfoRenderer(),
    ]
    # Tracebacks never show local variables: a frame that builds a message has the community
    # in a local.
    renderer: Processor
    if console:
        renderer = _ConsoleRenderer(structlog.dev.ConsoleRenderer(
            colors=output.isatty(), exception_formatter=structlog.dev.plain_traceback
        ))
    else:
        transformer = structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        shared.append(structlog.processors.ExceptionRenderer(transformer))
        renderer = structlog.processors.JSONRenderer()

    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=_NamedWriteLoggerFactory(output),
        # Not cached, so a later configure_logging() call (a reload) reaches existing loggers.
        cache_logger_on_first_use=False,
    )
    _route_stdlib_logging(level, shared, renderer, output)


def _route_stdlib_logging(
    level: LogLevel, shared: list[Processor], renderer: Processor, output: TextIO
) -> None:
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(output)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old_handler in list(root.handlers):
        if getattr(old_handler, "_snmpd_ng", False):
            root.removeHandler(old_handler)
    handler._snmpd_ng = True  # type: ignore[attr-defined]  # marks our handler for a reconfigure
    root.addHandler(handler)
    root.setLevel(_LEVELS[level])
