"""Optional mypyc build of the codec's hot path. Every other setting is in pyproject.toml.

Without SNMPD_NG_COMPILE=1 this calls setup() with no arguments, so the package builds as pure
Python from pyproject.toml alone and needs neither mypy nor a C compiler. With it, mypyc compiles
the modules in COMPILED_SOURCES into extension modules that Python imports in place of their .py
files, which the wheel still contains. mypy must then be importable by the build, so install with:

    SNMPD_NG_COMPILE=1 pip install --no-build-isolation .

docs/install.md lists what that needs (setuptools 77 or newer and mypy in the installing Python).
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from typing import Any

from setuptools import setup  # type: ignore[import-untyped]  # no types without types-setuptools

COMPILE_VARIABLE = "SNMPD_NG_COMPILE"
# The codec's hot path; tests/compiled_build.py compiles the same modules for the tests.
COMPILED_SOURCES = [
    "snmpd_ng/protocol/ber.py",
    "snmpd_ng/protocol/varbinds.py",
    "snmpd_ng/protocol/message.py",
]


def fail(reason: str) -> None:
    """Stop the build with `reason` and the way back to the pure-Python build."""
    sys.exit(f"error: {COMPILE_VARIABLE}=1 asks for the mypyc build, but {reason}. "
             f"Unset {COMPILE_VARIABLE} to build the pure-Python package instead.")


def compiled_extensions() -> list[Any]:
    """Return the mypyc extension modules, after checking that a C compiler and mypy exist."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        fail(f"the C compiler {compiler!r} was not found on PATH; install it "
             "(Debian: apt-get install gcc)")

    try:
        from mypyc.build import mypycify
    except ImportError:
        fail(f"mypyc could not be imported by {sys.executable}; install mypy into that Python "
             "(pip install mypy) and build with pip's --no-build-isolation, because an isolated "
             "build environment contains only setuptools")

    # mypy reads snmpd_ng/__init__.py, which imports the manager and so the runtime dependencies.
    # The build runs before pip installs them, and the compiled modules use none of them, so a
    # missing one is typed Any. The empty --config-file skips pyproject.toml's strict settings,
    # which `make lint` already enforces.
    mypy_options = ["--config-file=", "--ignore-missing-imports", "--follow-imports=silent"]
    return mypycify([*mypy_options, *COMPILED_SOURCES], opt_level="3")


if os.environ.get(COMPILE_VARIABLE) == "1":
    setup(ext_modules=compiled_extensions())
else:
    setup()
