"""Check the trap socket unit with systemd-analyze and against the receiver's defaults."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from snmpd_ng.alerting.traps.config import DEFAULT_SOCKET_NAME

REPO_ROOT = Path(__file__).resolve().parent.parent
SOCKET_PATH = REPO_ROOT / "deploy" / "snmpd-ng-traps.socket"
SERVICE_PATH = REPO_ROOT / "deploy" / "snmpd-ng.service"
INSTALLED_EXEC_START = "ExecStart=/usr/local/bin/snmpd-ng "
SYSTEMD_ANALYZE_TIMEOUT = 60.0


def socket_settings() -> dict[str, str]:
    """Return the [Socket] section's keys and values."""
    settings: dict[str, str] = {}
    section = ""
    for line in SOCKET_PATH.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Socket":
            key, _, value = line.partition("=")
            settings[key] = value
    return settings


def test_socket_name_matches_receiver_default() -> None:
    assert socket_settings()["FileDescriptorName"] == DEFAULT_SOCKET_NAME


def test_socket_activates_daemon_service() -> None:
    assert socket_settings()["Service"] == SERVICE_PATH.name


def test_socket_is_udp_port_162() -> None:
    assert socket_settings()["ListenDatagram"] == "162"


def test_systemd_analyze_accepts_socket(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    # verify needs the service the socket names, with an ExecStart program that exists here.
    service = SERVICE_PATH.read_text(encoding="utf-8")
    program = Path(sys.executable).parent / "snmpd-ng"
    assert program.exists(), f"{program} missing; run `make venv`"
    (tmp_path / SERVICE_PATH.name).write_text(
        service.replace(INSTALLED_EXEC_START, f"ExecStart={program} "), encoding="utf-8")
    shutil.copy(SOCKET_PATH, tmp_path / SOCKET_PATH.name)

    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", SOCKET_PATH.name, SERVICE_PATH.name],
        cwd=tmp_path, capture_output=True, text=True, timeout=SYSTEMD_ANALYZE_TIMEOUT,
        check=False)
    assert result.returncode == 0, result.stderr
    # verify only warns about unknown keys and invalid values, so any output is a failure.
    assert result.stderr == ""
    assert result.stdout == ""
