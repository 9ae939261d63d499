"""Tests of the daemon's `manager:` settings and its gc.freeze() after start-up."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_helpers import FakePolling, default_logging
from structlog.testing import capture_logs

from snmpd_ng.config.model import DaemonConfig
from snmpd_ng.daemon import Daemon, DaemonOptions
from snmpd_ng.systemd import SystemdNotifier

pytestmark = pytest.mark.usefixtures(default_logging.__name__)

CONFIG = """\
jobs:
  system: {scalars: [sysUpTime]}
targets: []
http:
  listen: ["127.0.0.1:0"]
manager:
  receive_buffer_size: 262144
  send_buffer_size: %d
"""


@pytest.fixture
def unfreeze() -> Iterator[None]:
    """Move objects frozen by a started daemon back, so other tests see the usual collector."""
    yield
    gc.unfreeze()


def make_daemon(path: Path, send_buffer_size: int = 131072) -> Daemon:
    path.write_text(CONFIG % send_buffer_size)

    def polling_factory(config: DaemonConfig, manager: object) -> FakePolling:
        return FakePolling(config, manager)

    # No manager_factory: the daemon builds the real Manager from the config.
    return Daemon(DaemonOptions(str(path), log_level="info", log_format="json"), environ={},
                  polling_factory=polling_factory, notifier=SystemdNotifier({}))


@pytest.mark.usefixtures("unfreeze")
async def test_manager_gets_configured_buffer_sizes(tmp_path: Path) -> None:
    daemon = make_daemon(tmp_path / "config.yaml")
    with capture_logs() as logs:
        await daemon.start()
        await daemon.stop()

    started = next(entry for entry in logs if entry["event"] == "manager started")
    assert started["receive_buffer_bytes"] == 262144
    assert started["send_buffer_bytes"] == 131072


@pytest.mark.usefixtures("unfreeze")
async def test_start_freezes_startup_objects(tmp_path: Path) -> None:
    gc.unfreeze()
    daemon = make_daemon(tmp_path / "config.yaml")
    await daemon.start()
    frozen = gc.get_freeze_count()
    await daemon.stop()
    assert frozen > 0


@pytest.mark.usefixtures("unfreeze")
async def test_reload_warns_manager_change_needs_restart(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    daemon = make_daemon(path)
    await daemon.start()
    path.write_text(CONFIG % 65536)
    with capture_logs() as logs:
        applied = await daemon.reload()
    await daemon.stop()

    assert applied is True
    warnings = [entry for entry in logs if entry["event"].startswith("manager settings changed")]
    assert len(warnings) == 1
    assert warnings[0]["send_buffer_size"] == 65536
