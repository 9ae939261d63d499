"""Build a copy of snmpd_ng whose codec hot path is compiled with mypyc, for tests and benchmarks.

The caller chooses the folder. Put it first on PYTHONPATH (or sys.path), and Python imports the
compiled codec in place of the checkout's pure-Python modules. Only
`COMPILED_MODULES` are compiled; the rest of the package is copied as source.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMPILED_MODULES = ("ber", "varbinds", "message")
# The compiler that setuptools, and so mypyc, calls on this Python (usually gcc on Linux).
C_COMPILER = (sysconfig.get_config_var("CC") or "cc").split()[0]


def mypyc_path() -> Path:
    """Return the path of the mypyc script installed beside the running Python."""
    return Path(sys.executable).parent / "mypyc"


def missing_build_tools() -> list[str]:
    """Return the names of the tools a compiled build needs and this machine lacks."""
    missing = []
    if shutil.which(C_COMPILER) is None:
        missing.append(f"C compiler {C_COMPILER!r}")
    if not mypyc_path().exists():
        missing.append(f"mypyc (expected at {mypyc_path()})")
    return missing


def build_compiled_copy(workdir: Path) -> None:
    """Copy snmpd_ng into `workdir` and compile its codec hot path there with mypyc.

    Raises subprocess.CalledProcessError with mypyc's output when the build fails.
    """
    ignore = shutil.ignore_patterns("__pycache__", "*.so")
    shutil.copytree(REPO / "snmpd_ng", workdir / "snmpd_ng", ignore=ignore)

    modules = [f"snmpd_ng/protocol/{name}.py" for name in COMPILED_MODULES]
    subprocess.run([str(mypyc_path()), *modules], cwd=workdir, check=True, capture_output=True,
                   text=True)
