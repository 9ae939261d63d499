"""Tests of the daemon's log set-up (snmpd_ng.logging): formats, levels, redaction, stdlib."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog
from daemon_helpers import default_logging

from snmpd_ng.logging import configure_logging, is_console

SECRET = "logging-secret-4b7d"


class TtyStream(io.StringIO):
    def isatty(self) -> bool:
        return True


pytestmark = pytest.mark.usefixtures(default_logging.__name__)


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_auto_format_is_json_off_terminal() -> None:
    assert not is_console("auto", io.StringIO())


def test_auto_format_is_console_on_terminal() -> None:
    assert is_console("auto", TtyStream())


def test_json_line_has_event_fields() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream)

    structlog.get_logger("snmpd_ng.test").info("poll finished", target="agent", job="system")

    entry = json_lines(stream)[0]
    assert entry["event"] == "poll finished"
    assert entry["level"] == "info"
    assert entry["logger"] == "snmpd_ng.test"
    assert entry["target"] == "agent"
    assert "timestamp" in entry


def test_console_format_is_text() -> None:
    stream = io.StringIO()
    configure_logging("info", "console", stream)

    structlog.get_logger("snmpd_ng.test").info("poll finished", target="agent")

    line = stream.getvalue()
    assert "poll finished" in line
    assert "target=agent" in line
    assert not line.startswith("{")


def test_console_lists_errors_one_per_line() -> None:
    stream = io.StringIO()
    configure_logging("info", "console", stream)

    structlog.get_logger("snmpd_ng.test").error("start failed", errors=["a: 2 errors", "a:3: x"])

    lines = stream.getvalue().splitlines()
    assert "start failed" in lines[0]
    assert "errors=" not in lines[0]
    assert lines[1:] == ["    a: 2 errors", "    a:3: x"]


def test_json_keeps_errors_as_list() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream)

    structlog.get_logger("snmpd_ng.test").error("start failed", errors=["a: 2 errors", "a:3: x"])

    assert json_lines(stream)[0]["errors"] == ["a: 2 errors", "a:3: x"]


def test_level_filters_debug() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream)

    structlog.get_logger().debug("hidden")
    structlog.get_logger().warning("shown")

    assert [entry["event"] for entry in json_lines(stream)] == ["shown"]


def test_reconfigure_reaches_existing_logger() -> None:
    stream = io.StringIO()
    log = structlog.get_logger("snmpd_ng.test")
    configure_logging("info", "json", stream)
    log.debug("before")

    configure_logging("debug", "json", stream)
    log.debug("after")

    assert [entry["event"] for entry in json_lines(stream)] == ["after"]


def test_secret_keys_are_redacted() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream)

    structlog.get_logger().info("oops", community=SECRET, password=SECRET)

    entry = json_lines(stream)[0]
    assert entry["community"] == "<redacted>"
    assert SECRET not in stream.getvalue()


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_traceback_hides_locals(log_format: str) -> None:
    stream = io.StringIO()
    configure_logging("info", log_format, stream)  # type: ignore[arg-type]

    try:
        community = SECRET
        raise ValueError(f"failed with {len(community)} characters")
    except ValueError:
        structlog.get_logger().exception("request failed")

    assert "failed with" in stream.getvalue()
    assert SECRET not in stream.getvalue()


def test_stdlib_logging_uses_same_format() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream)

    logging.getLogger("aiohttp.server").warning("bad request from %s", "127.0.0.1")

    entry = json_lines(stream)[0]
    assert entry["event"] == "bad request from 127.0.0.1"
    assert entry["logger"] == "aiohttp.server"
    assert entry["level"] == "warning"


def test_reconfigure_keeps_one_stdlib_handler() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream)
    configure_logging("info", "json", stream)

    logging.getLogger("asyncio").error("once")

    assert len(json_lines(stream)) == 1
