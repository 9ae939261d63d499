"""The node ID: configured, stored in the state directory, or generated and stored
(snmpd_ng.cluster.node_id)."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from snmpd_ng.cluster import node_id as node_id_module
from snmpd_ng.cluster.node_id import (
    NODE_ID_FILE,
    NodeIdError,
    generate_node_id,
    is_valid_node_id,
    resolve_node_id,
)
from snmpd_ng.cluster.settings import ClusterSettings, RedisSettings

GENERATED = re.compile(r"poller-host-[0-9a-f]{8}")


def settings(node_id: str | None = None) -> ClusterSettings:
    return ClusterSettings(redis=RedisSettings(url="redis://127.0.0.1:6379/0"), node_id=node_id)


class TestResolveNodeId:
    def test_configured_id_wins(self, tmp_path: Path) -> None:
        (tmp_path / NODE_ID_FILE).write_text("stored-id\n", encoding="utf-8")

        assert resolve_node_id(settings("poller-a"), tmp_path) == "poller-a"

    def test_configured_id_writes_no_file(self, tmp_path: Path) -> None:
        resolve_node_id(settings("poller-a"), tmp_path)

        assert list(tmp_path.iterdir()) == []

    def test_configured_id_needs_no_state_dir(self) -> None:
        assert resolve_node_id(settings("poller-a"), None) == "poller-a"

    def test_no_id_and_no_state_dir_raises(self) -> None:
        with pytest.raises(NodeIdError) as caught:
            resolve_node_id(settings(), None)

        message = str(caught.value)
        assert "cluster.node_id is not set and there is no state directory" in message
        assert "set cluster.node_id, or set state_dir" in message

    def test_stored_id_is_read(self, tmp_path: Path) -> None:
        (tmp_path / NODE_ID_FILE).write_text("poller-b\n", encoding="utf-8")

        assert resolve_node_id(settings(), tmp_path) == "poller-b"

    def test_generated_id_has_host_and_hex(self, tmp_path: Path) -> None:
        node_id = resolve_node_id(settings(), tmp_path, hostname="poller-host.example.net")

        assert GENERATED.fullmatch(node_id)

    def test_generated_id_is_stored(self, tmp_path: Path) -> None:
        node_id = resolve_node_id(settings(), tmp_path, hostname="poller-host")

        assert (tmp_path / NODE_ID_FILE).read_text(encoding="utf-8") == node_id + "\n"

    def test_generated_id_file_mode_is_0644(self, tmp_path: Path) -> None:
        resolve_node_id(settings(), tmp_path, hostname="poller-host")

        mode = stat.S_IMODE((tmp_path / NODE_ID_FILE).stat().st_mode)
        assert mode == 0o644

    def test_generated_id_is_stable_across_restarts(self, tmp_path: Path) -> None:
        first = resolve_node_id(settings(), tmp_path, hostname="poller-host")

        assert resolve_node_id(settings(), tmp_path, hostname="other-host") == first

    def test_generation_leaves_no_temporary_file(self, tmp_path: Path) -> None:
        resolve_node_id(settings(), tmp_path, hostname="poller-host")

        assert [path.name for path in tmp_path.iterdir()] == [NODE_ID_FILE]

    def test_generation_is_logged(self, tmp_path: Path) -> None:
        with capture_logs() as logs:
            node_id = resolve_node_id(settings(), tmp_path, hostname="poller-host")

        events = [entry for entry in logs if entry["event"] == "node id generated"]
        assert events == [{"event": "node id generated", "log_level": "info",
                           "node_id": node_id, "path": str(tmp_path / NODE_ID_FILE)}]

    def test_id_written_by_other_process_wins(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        real_link = os.link

        def link_after_other_process(source: Path, target: Path) -> None:
            Path(target).write_text("poller-first\n", encoding="utf-8")
            real_link(source, target)

        monkeypatch.setattr(node_id_module.os, "link", link_after_other_process)

        assert resolve_node_id(settings(), tmp_path, hostname="poller-host") == "poller-first"
        assert [path.name for path in tmp_path.iterdir()] == [NODE_ID_FILE]

    @pytest.mark.parametrize(
        "content", ["", "\n", "poller a\n", "x" * 65, "poller/a", "poller-\u00e9"],
    )  # fmt: skip
    def test_invalid_stored_id_raises(self, tmp_path: Path, content: str) -> None:
        path = tmp_path / NODE_ID_FILE
        path.write_text(content, encoding="utf-8")

        with pytest.raises(NodeIdError) as caught:
            resolve_node_id(settings(), tmp_path)

        message = str(caught.value)
        assert f"the node ID file {str(path)!r} contains" in message
        assert "which is not a valid node ID (1 to 64 letters, digits, '.', '_' or '-')" in message
        assert "correct it, or delete it to generate a new node ID" in message

    def test_long_invalid_content_is_shortened(self, tmp_path: Path) -> None:
        (tmp_path / NODE_ID_FILE).write_text("y" * 500, encoding="utf-8")

        with pytest.raises(NodeIdError) as caught:
            resolve_node_id(settings(), tmp_path)

        assert "y" * 71 not in str(caught.value)

    def test_binary_stored_id_raises(self, tmp_path: Path) -> None:
        (tmp_path / NODE_ID_FILE).write_bytes(b"\xff\xfe")

        with pytest.raises(NodeIdError, match="is not UTF-8 text"):
            resolve_node_id(settings(), tmp_path)

    def test_unreadable_stored_id_raises(self, tmp_path: Path) -> None:
        (tmp_path / NODE_ID_FILE).mkdir()

        with pytest.raises(NodeIdError, match="cannot read the node ID file"):
            resolve_node_id(settings(), tmp_path)

    def test_missing_state_dir_raises(self, tmp_path: Path) -> None:
        with pytest.raises(NodeIdError) as caught:
            resolve_node_id(settings(), tmp_path / "absent", hostname="poller-host")

        message = str(caught.value)
        assert "cannot write the node ID file" in message
        assert "or set cluster.node_id" in message

    @pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
    def test_read_only_state_dir_raises(self, tmp_path: Path) -> None:
        tmp_path.chmod(0o500)
        try:
            with pytest.raises(NodeIdError, match="cannot write the node ID file"):
                resolve_node_id(settings(), tmp_path, hostname="poller-host")
        finally:
            tmp_path.chmod(0o700)


class TestGenerateNodeId:
    @pytest.mark.parametrize(
        ("hostname", "expected"),
        [("poller-host", "poller-host-0badcafe"),
         ("poller-host.example.net", "poller-host-0badcafe"),
         ("poller host_1", "poller-host_1-0badcafe"),
         ("-web-", "web-0badcafe"),
         ("", "node-0badcafe"),
         ("\u00e9\u00e9", "node-0badcafe")],
    )  # fmt: skip
    def test_generate_node_id_from_hostname(self, hostname: str, expected: str) -> None:
        assert generate_node_id(hostname, "0badcafe") == expected

    def test_long_hostname_is_cut_to_64(self) -> None:
        node_id = generate_node_id("h" * 80, "0badcafe")

        assert len(node_id) == 64
        assert node_id.endswith("h-0badcafe")

    def test_generated_ids_differ(self) -> None:
        assert generate_node_id("poller-host") != generate_node_id("poller-host")

    def test_generated_id_is_valid(self) -> None:
        assert is_valid_node_id(generate_node_id("a" * 100 + ".example.net"))


class TestIsValidNodeId:
    @pytest.mark.parametrize("text", ["a", "poller-a", "node_1.dc-2", "x" * 64])
    def test_valid_node_ids(self, text: str) -> None:
        assert is_valid_node_id(text)

    @pytest.mark.parametrize("text", ["", "x" * 65, "a b", "a:b", "a\x1fb", "{a}", "a\n"])
    def test_invalid_node_ids(self, text: str) -> None:
        assert not is_valid_node_id(text)
