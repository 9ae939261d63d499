"""Tests that the manager is quiet by default: the docs/api.md example run as a user's script."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from agents import NetSnmpAgent

ROOT = Path(__file__).resolve().parent.parent
API_DOC = ROOT / "docs" / "api.md"
# The example prints each varbind as its OID tuple and its value: "(1, 3, 6, ...) b'vm'".
EXAMPLE_LINE = re.compile(r"\(1, 3, 6, 1, 2, 1, [\d, ]+\) \S.*")


def api_example(agent: NetSnmpAgent) -> str:
    """Return the first Python example of docs/api.md, pointed at `agent`."""
    text = API_DOC.read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    target = 'Target("127.0.0.1", community=Secret("public")'
    assert target in code, "the example's Target line changed; update this test"
    return code.replace(target, f'Target("127.0.0.1", port={agent.port}, '
                                f'community=Secret("{agent.public_community}")')


def run_script(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def example_run(snmpd_agent: NetSnmpAgent) -> subprocess.CompletedProcess[str]:
    return run_script(api_example(snmpd_agent))


class TestDefaultLogging:
    def test_example_succeeds(self, example_run: subprocess.CompletedProcess[str]) -> None:
        assert example_run.returncode == 0, example_run.stderr

    def test_stdout_has_only_example_output(
            self, example_run: subprocess.CompletedProcess[str]) -> None:
        lines = example_run.stdout.splitlines()
        assert len(lines) >= 3
        assert [line for line in lines if not EXAMPLE_LINE.fullmatch(line)] == []

    def test_stderr_is_empty(self, example_run: subprocess.CompletedProcess[str]) -> None:
        assert example_run.stderr == ""

    def test_basic_config_turns_logs_on(self, snmpd_agent: NetSnmpAgent) -> None:
        code = "import logging\nlogging.basicConfig(level=logging.INFO)\n" + api_example(
            snmpd_agent)
        result = run_script(code)
        assert "INFO:snmpd_ng.manager:manager started max_in_flight=1000" in result.stderr
        assert "manager started" not in result.stdout

    def test_structlog_configured_logs_through_structlog(self,
                                                         snmpd_agent: NetSnmpAgent) -> None:
        code = ("import structlog, sys\n"
                "structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))\n"
                + api_example(snmpd_agent))
        result = run_script(code)
        assert "manager started" in result.stderr
        assert "manager started" not in result.stdout
