"""Our SNMPv3 engine ID and engineBoots, kept in the state directory across starts."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from snmpd_ng.alerting.traps.local_engine import (
    ENGINE_FILE_NAME,
    LocalEngineError,
    start_local_engine,
)
from snmpd_ng.security.engine import MAX_ENGINE_BOOTS

RANDOM = bytes(range(12))
CONFIGURED = bytes.fromhex("80000000050a0b0c0d0e")


def fixed_random(count: int) -> bytes:
    return RANDOM[:count]


def stored(state_dir: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((state_dir / ENGINE_FILE_NAME).read_text())
    return data


def test_first_start_generates_and_stores(tmp_path: Path) -> None:
    identity = start_local_engine(tmp_path, None, 5.0, random_octets=fixed_random)
    assert identity.engine.engine_id == bytes.fromhex("8000000005") + RANDOM
    assert identity.engine.boots == 1
    assert identity.source == "generated"
    assert stored(tmp_path) == {"engine_id": identity.engine.engine_id.hex(),
                                "engine_boots": 1}


def test_each_start_adds_one_boot(tmp_path: Path) -> None:
    first = start_local_engine(tmp_path, None, 0.0, random_octets=fixed_random)
    second = start_local_engine(tmp_path, None, 0.0, random_octets=lambda count: b"\xff" * count)
    assert second.engine.engine_id == first.engine.engine_id
    assert second.engine.boots == 2
    assert second.source == "state file"


def test_engine_time_starts_at_start(tmp_path: Path) -> None:
    engine = start_local_engine(tmp_path, None, 100.0).engine
    assert engine.time(160.5) == 60


def test_configured_id_wins(tmp_path: Path) -> None:
    start_local_engine(tmp_path, None, 0.0)
    identity = start_local_engine(tmp_path, CONFIGURED, 0.0)
    assert identity.engine.engine_id == CONFIGURED
    assert identity.source == "config"


def test_changed_id_restarts_boots(tmp_path: Path) -> None:
    start_local_engine(tmp_path, None, 0.0)
    start_local_engine(tmp_path, None, 0.0)
    assert start_local_engine(tmp_path, CONFIGURED, 0.0).engine.boots == 1
    assert start_local_engine(tmp_path, CONFIGURED, 0.0).engine.boots == 2


def test_boots_stay_at_maximum(tmp_path: Path) -> None:
    (tmp_path / ENGINE_FILE_NAME).write_text(json.dumps(
        {"engine_id": CONFIGURED.hex(), "engine_boots": MAX_ENGINE_BOOTS}))
    assert start_local_engine(tmp_path, None, 0.0).engine.boots == MAX_ENGINE_BOOTS


def test_file_readable_by_owner_only(tmp_path: Path) -> None:
    start_local_engine(tmp_path, None, 0.0)
    mode = stat.S_IMODE((tmp_path / ENGINE_FILE_NAME).stat().st_mode)
    assert mode == 0o600


def test_no_temporary_file_left(tmp_path: Path) -> None:
    start_local_engine(tmp_path, None, 0.0)
    assert sorted(path.name for path in tmp_path.iterdir()) == [ENGINE_FILE_NAME]


def test_without_state_dir_nothing_persisted() -> None:
    identity = start_local_engine(None, CONFIGURED, 0.0)
    assert identity.path is None
    assert identity.engine.boots == 1


@pytest.mark.parametrize("text", [
    "not json",
    '{"engine_id": "zz", "engine_boots": 1}',
    '{"engine_boots": 1}',
    '{"engine_id": "8000000005", "engine_boots": -1}',
    '{"engine_id": "80", "engine_boots": 1}',
    '{"engine_id": "8000000005", "engine_boots": "3"}',
], ids=["not-json", "bad-hex", "missing-id", "negative-boots", "short-id", "boots-text"])
def test_invalid_file_names_path_and_fix(tmp_path: Path, text: str) -> None:
    (tmp_path / ENGINE_FILE_NAME).write_text(text)
    with pytest.raises(LocalEngineError) as caught:
        start_local_engine(tmp_path, None, 0.0)
    assert ENGINE_FILE_NAME in str(caught.value)
    assert "delete it" in str(caught.value)


def test_unwritable_state_dir_reported(tmp_path: Path) -> None:
    missing = tmp_path / "missing" / "deeper"
    with pytest.raises(LocalEngineError, match="cannot write"):
        start_local_engine(missing, None, 0.0)
