"""The codec tests, run again against the codec's hot path compiled with mypyc.

A session fixture compiles ber, varbinds and message into a temporary copy of snmpd_ng (about 10
seconds) and runs the codec test files in a child pytest with that copy first on PYTHONPATH (about
15 seconds). A small plugin in the child records which files it imported the modules from, so the
tests here can tell the compiled modules ran, not the checkout's .py files. Skipped when the C
compiler or mypyc is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest
from compiled_build import COMPILED_MODULES, REPO, build_compiled_copy, missing_build_tools

import snmpd_ng.protocol
from snmpd_ng.cli.main import main
from snmpd_ng.http.metrics import DaemonCollector, DaemonStats
from snmpd_ng.protocol import ber

CODEC_TEST_FILES = ("test_ber.py", "test_message.py", "test_oid.py", "test_values.py",
                    "test_codec_cases.py", "test_codec_oracle.py")
REPORT_VARIABLE = "CODEC_COMPILED_REPORT"
# Timeout of the child pytest in seconds. It took about 15 seconds on 2 cores.
CHILD_TIMEOUT = 300

# A pytest plugin that the child loads with -p. It writes the files that the child imported the
# compiled modules from, after its tests have run.
REPORT_PLUGIN = f'''
import json, os, sys

def pytest_sessionfinish(session, exitstatus):
    import snmpd_ng.protocol
    files = {{name: sys.modules["snmpd_ng.protocol." + name].__file__
             for name in {COMPILED_MODULES!r}}}
    report = {{"files": files, "compiled": snmpd_ng.protocol.COMPILED}}
    with open(os.environ["{REPORT_VARIABLE}"], "w", encoding="utf-8") as stream:
        json.dump(report, stream)
'''


@dataclass
class ChildRun:
    """Outcome of the codec tests in the child pytest, and what it imported."""

    returncode: int
    output: str
    module_files: dict[str, str]
    compiled: bool


@pytest.fixture(scope="session")
def compiled_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChildRun]:
    missing = missing_build_tools()
    if missing:
        pytest.skip(f"the compiled codec needs {' and '.join(missing)}")

    workdir = tmp_path_factory.mktemp("codec-mypyc")
    try:
        build_compiled_copy(workdir)
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"mypyc failed with status {exc.returncode}:\n{exc.stdout}{exc.stderr}")
    (workdir / "codec_compiled_report.py").write_text(REPORT_PLUGIN, encoding="utf-8")

    yield run_codec_tests(workdir)


def run_codec_tests(workdir: Path) -> ChildRun:
    """Run the codec test files with `workdir` first on the import path and collect the report."""
    report_path = workdir / "report.json"
    environment = dict(os.environ, PYTHONPATH=str(workdir), **{REPORT_VARIABLE: str(report_path)})
    test_files = [str(REPO / "tests" / name) for name in CODEC_TEST_FILES]
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "-p", "codec_compiled_report", "--rootdir", str(REPO),
               "-c", str(REPO / "pyproject.toml"), *test_files]
    # The working directory is the compiled copy, so `python -m pytest` puts it before the checkout.
    completed = subprocess.run(command, cwd=workdir, env=environment, capture_output=True,
                               text=True, timeout=CHILD_TIMEOUT, check=False)

    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}
    return ChildRun(completed.returncode, completed.stdout + completed.stderr,
                    report.get("files", {}), report.get("compiled", False))


def test_compiled_codec_passes_codec_tests(compiled_run: ChildRun) -> None:
    tail = "\n".join(compiled_run.output.splitlines()[-30:])
    assert compiled_run.returncode == 0, f"codec tests failed against the mypyc build:\n{tail}"


@pytest.mark.parametrize("module", COMPILED_MODULES)
def test_compiled_codec_imports_extension(compiled_run: ChildRun, module: str) -> None:
    path = compiled_run.module_files.get(module, "")
    assert path.endswith(tuple(EXTENSION_SUFFIXES)), f"{module} was imported from {path!r}"


def test_compiled_codec_reports_compiled(compiled_run: ChildRun) -> None:
    assert compiled_run.compiled is True


def test_pure_python_codec_reports_not_compiled() -> None:
    if not (ber.__file__ or "").endswith(".py"):
        pytest.skip("this session runs a compiled codec")

    assert snmpd_ng.protocol.COMPILED is False
    assert snmpd_ng.protocol.BUILD == "python"


def test_build_info_metric_has_codec_label() -> None:
    collector = DaemonCollector(DaemonStats(), None)
    build_info = next(metric for metric in collector.collect()
                      if metric.name == "snmpd_ng_build_info")

    assert build_info.samples[0].labels["codec"] == snmpd_ng.protocol.BUILD


def test_version_output_names_codec(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0

    assert capsys.readouterr().out.endswith(f" (codec: {snmpd_ng.protocol.BUILD})\n")
