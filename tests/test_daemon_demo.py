"""Tests of deploy/demo.sh, run as `make demo` runs it: a real agent, a real daemon, Ctrl-C."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_helpers import fetch

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "deploy" / "demo.sh"
START_SECONDS = 20.0
STOP_SECONDS = 10.0


def is_running(pid: int) -> bool:
    """Tell whether `pid` is alive; a zombie waiting for its parent counts as gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def processes_mentioning(text: str) -> list[int]:
    """Return the ids of live processes whose command line contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command_line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in command_line and is_running(int(entry.name)):
            found.append(int(entry.name))
    return found


def ignore_sigint() -> None:
    """Start the child as a non-interactive shell starts `command &`: SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Demo:
    """deploy/demo.sh as a subprocess with its output in a file.

    With `in_background`, the script runs in its own process group with SIGINT ignored, as
    when a script starts `make demo &` and later sends SIGINT to the group.
    """

    def __init__(self, tmp_path: Path, in_background: bool = False) -> None:
        self.output_path = tmp_path / "demo.out"
        self._output = self.output_path.open("wb")
        self.process = subprocess.Popen(
            ["bash", str(DEMO)],
            env={**os.environ, "TMPDIR": str(tmp_path)},
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=in_background,
            preexec_fn=ignore_sigint if in_background else None,
        )

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def wait_for(self, pattern: str) -> re.Match[str]:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output())
            if match is not None:
                return match
            assert self.process.poll() is None, self.output()
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} in the demo's output:\n{self.output()}")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(STOP_SECONDS)
        self._output.close()


def skip_without_snmpd() -> None:
    if shutil.which("snmpd") is None and not Path("/usr/sbin/snmpd").exists():
        pytest.skip("snmpd not installed; run `make deps`")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    skip_without_snmpd()
    running = Demo(tmp_path)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def background_demo(tmp_path: Path) -> Iterator[Demo]:
    skip_without_snmpd()
    running = Demo(tmp_path, in_background=True)
    try:
        yield running
    finally:
        running.close()


def parent_of(pid: int) -> int:
    """Return the parent process id of `pid`, from /proc/PID/stat (field 4)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def fetch_metrics_with(url: str, *patterns: str) -> str:
    """Fetch /metrics until every regex in `patterns` matches a line.

    Each module is polled on its own schedule, so one module's samples say nothing about
    another's: the test waits for each sample it checks.
    """
    deadline = time.monotonic() + START_SECONDS
    body = ""
    while time.monotonic() < deadline:
        try:
            body = fetch(url).body
        except OSError:
            body = ""
        if all(re.search(pattern, body, re.MULTILINE) for pattern in patterns):
            return body
        time.sleep(0.2)
    missing = [p for p in patterns if not re.search(p, body, re.MULTILINE)]
    raise AssertionError(f"no sample for {missing} at {url}:\n{body[:2000]}")


def test_demo_serves_metrics_and_stops_on_sigint(demo: Demo, tmp_path: Path) -> None:
    url = demo.wait_for(r"metrics at (http://127\.0\.0\.1:\d+/metrics)").group(1)
    work_dir = Path(demo.wait_for(r"log: (\S+)/snmpd\.log\)").group(1))
    agent_pid = int((work_dir / "snmpd.pid").read_text())

    body = fetch_metrics_with(
        url,
        r"^hrStorageSize\{",
        r'^ifHCInOctets\{.*ifName="lo"',
        r"^laLoadInt\{",
        r'^sysServices\{.*target="demo-agent-v3"',
    )
    assert re.search(r'^ifHCInOctets\{.*ifName="lo"', body, re.MULTILINE)
    assert re.search(r"^laLoadInt\{", body, re.MULTILINE)
    assert re.search(r"^sysServices\{.*\} 72$", body, re.MULTILINE)
    # The same agent polled over SNMPv3 authPriv.
    assert re.search(r'^sysServices\{.*target="demo-agent-v3".*\} 72$', body, re.MULTILINE)

    demo.process.send_signal(signal.SIGINT)
    status = demo.process.wait(STOP_SECONDS)

    assert status == 130
    assert not is_running(agent_pid)
    assert processes_mentioning(str(work_dir)) == []
    assert not work_dir.exists()
    assert "demo: stopped snmpd-ng and the demo agent" in demo.output()
    assert "daemon stopped" in demo.output()


def test_demo_agent_is_child_of_script(demo: Demo) -> None:
    work_dir = Path(demo.wait_for(r"log: (\S+)/snmpd\.log\)").group(1))
    demo.wait_for(r"metrics at")
    agent_pid = int((work_dir / "snmpd.pid").read_text())

    assert parent_of(agent_pid) == demo.process.pid


def test_demo_group_sigint_exits_130_when_ignored(background_demo: Demo) -> None:
    url = background_demo.wait_for(r"metrics at (http://127\.0\.0\.1:\d+/metrics)").group(1)
    work_dir = Path(background_demo.wait_for(r"log: (\S+)/snmpd\.log\)").group(1))
    fetch_metrics_with(url, r"^sysServices\{")

    os.killpg(background_demo.process.pid, signal.SIGINT)
    status = background_demo.process.wait(STOP_SECONDS)

    assert status == 130
    assert processes_mentioning(str(work_dir)) == []
    assert not work_dir.exists()
