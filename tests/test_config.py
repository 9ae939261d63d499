"""Tests of config loading: YAML parsing, schema errors and their messages (snmpd_ng.config)."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from snmpd_ng.config.errors import ConfigError, ConfigFileError
from snmpd_ng.config.loader import check_config_file, load_config
from snmpd_ng.config.model import DaemonConfig
from snmpd_ng.config.schema import parse_duration

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "deploy" / "config.example.yaml"
COMMUNITY = "not-in-any-message-7f3a"

MINIMAL = """\
credentials:
  lab:
    community: {community}
jobs:
  system:
    interval: 30s
    scalars: [sysUpTime]
targets:
  - address: 127.0.0.1
    credentials: lab
    jobs: [system]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> DaemonConfig:
    return load_config(write(tmp_path, text), environ or {})


def load_errors(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, environ)
    return str(caught.value)


class TestDuration:
    @pytest.mark.parametrize(
        ("value", "seconds"),
        [(30, 30.0), (2.5, 2.5), ("500ms", 0.5), ("30s", 30.0), ("5m", 300.0), ("1h", 3600.0),
         ("10", 10.0), (" 1.5s ", 1.5)],
    )  # fmt: skip
    def test_parse_duration_accepts_units(self, value: object, seconds: float) -> None:
        assert parse_duration(value) == seconds

    @pytest.mark.parametrize("value", ["5x", "", "-1s", "1d", "s", True])
    def test_parse_duration_rejects_bad_text(self, value: object) -> None:
        with pytest.raises(ValueError, match="invalid duration"):
            parse_duration(value)

    def test_zero_interval_is_rejected(self, tmp_path: Path) -> None:
        text = MINIMAL.format(community="x").replace("interval: 30s", "interval: 0")

        expected = "jobs.system.interval: invalid duration 0; allowed values: above 0 up to 24h"
        assert expected in load_errors(tmp_path, text)


class TestExampleConfig:
    def test_example_config_is_valid(self, tmp_path: Path) -> None:
        shutil.copy(EXAMPLE, tmp_path / "config.yaml")
        (tmp_path / "community.txt").write_text("legacy-community\n", encoding="utf-8")

        config = load_config(tmp_path / "config.yaml", {"SNMPD_NG_COMMUNITY": COMMUNITY})

        assert [target.name for target in config.targets] == [
            "core-router", "access-switch", "old-printer", "vendor-box",
        ]  # fmt: skip

    def test_example_summary_counts_objects(self, tmp_path: Path) -> None:
        shutil.copy(EXAMPLE, tmp_path / "config.yaml")
        (tmp_path / "community.txt").write_text("legacy-community\n", encoding="utf-8")

        result = check_config_file(tmp_path / "config.yaml", {"SNMPD_NG_COMMUNITY": COMMUNITY})

        assert result.exit_code == 0
        assert "targets: 4 (core-router, access-switch, old-printer, vendor-box)" in result.stdout
        assert "objects: 23 (9 scalars, 14 table columns)" in result.stdout


class TestYamlErrors:
    def test_duplicate_key_names_both_lines(self, tmp_path: Path) -> None:
        text = MINIMAL.format(community="x") + "jobs:\n  other: {}\n"

        message = load_errors(tmp_path, text)

        assert "config.yaml:12: jobs: duplicate key 'jobs' (first given at line 4)" in message

    def test_nested_duplicate_key_is_an_error(self, tmp_path: Path) -> None:
        text = MINIMAL.format(community="x").replace(
            "    interval: 30s\n", "    interval: 30s\n    interval: 60s\n"
        )

        assert "jobs.system.interval: duplicate key 'interval'" in load_errors(tmp_path, text)

    def test_syntax_error_gives_line_not_source_text(self, tmp_path: Path) -> None:
        text = f"credentials:\n  lab:\n    community: {COMMUNITY}\n  bad: [unclosed\n"

        message = load_errors(tmp_path, text)

        assert "invalid YAML" in message
        assert "config.yaml:5:" in message
        assert COMMUNITY not in message

    def test_empty_file_is_an_error(self, tmp_path: Path) -> None:
        assert "the config file is empty" in load_errors(tmp_path, "# nothing\n")

    def test_top_level_list_is_an_error(self, tmp_path: Path) -> None:
        assert "the top level must be a mapping" in load_errors(tmp_path, "- a\n- b\n")

    def test_missing_file_is_file_error(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigFileError, match="cannot read the config file: No such file"):
            load_config(tmp_path / "absent.yaml", {})

    def test_non_utf8_file_is_file_error(self, tmp_path: Path) -> None:
        path = tmp_path / "config.yaml"
        path.write_bytes(b"jobs: \xff\n")

        with pytest.raises(ConfigFileError, match="not UTF-8"):
            load_config(path, {})


class TestSchemaErrors:
    def test_unknown_key_suggests_close_key(self, tmp_path: Path) -> None:
        text = MINIMAL.format(community="x").replace("address:", "adress:")

        message = load_errors(tmp_path, text)

        expected = (
            "config.yaml:9: targets[0].adress: unknown key 'adress' (did you mean 'address'?)"
        )
        assert expected in message
        assert "targets[0].address: missing required key 'address'" in message

    def test_unknown_top_level_key_lists_sections(self, tmp_path: Path) -> None:
        text = MINIMAL.format(community="x") + "loging:\n  level: debug\n"

        message = load_errors(tmp_path, text)

        assert "unknown key 'loging' (did you mean 'logging'?)" in message
        assert "; allowed keys: alerting, cache, cluster, credentials, defaults" in message

    def test_bad_version_lists_allowed_values(self, tmp_path: Path) -> None:
        text = MINIMAL.format(community="x").replace(
            "credentials: lab\n", "credentials: lab\n    version: 2\n"
        )

        message = load_errors(tmp_path, text)

        expected = "targets[0].version: invalid value '2'; allowed values: 1, 2c, 3"
        assert f"config.yaml:11: {expected}" in message

    def test_version_3_with_community_is_rejected(self, tmp_path: Path) -> None:
        text = MINIMAL.format(community="x").replace(
            "credentials: lab\n", "credentials: lab\n    version: 3\n"
        )

        expected = ("targets[0].version: target '127.0.0.1' has version 3, but its credentials "
                    "profile 'lab' has a community")
        assert expected in load_errors(tmp_path, text)

    def test_every_error_is_reported(self, tmp_path: Path) -> None:
        text = MINIMAL.format(community="x").replace("interval: 30s", "interval: soon").replace(
            "address: 127.0.0.1", "address: 127.0.0.1\n    retries: -1\n    port: 70000"
        )

        message = load_errors(tmp_path, text)

        assert "3 errors in the configuration" in message
        assert "jobs.system.interval: invalid duration 'soon'" in message
        assert "targets[0].retries: invalid value -1" in message
        assert "targets[0].port: invalid value 70000" in message

    def test_unknown_object_name_suggests_name(self, tmp_path: Path) -> None:
        text = MINIMAL.format(community="x").replace("[sysUpTime]", "[sysUptime]")

        message = load_errors(tmp_path, text)

        assert "jobs.system.scalars[0].oid: unknown object name 'sysUptime'" in message
        assert "did you mean 'sysUpTime'?" in message

    def test_unknown_table_suggests_table(self, tmp_path: Path) -> None:
        text = MINIMAL.format(community="x").replace(
            "scalars: [sysUpTime]", "tables: [ifXtable]"
        )

        expected = "unknown table 'ifXtable' (did you mean 'ifXTable'?); built-in tables:"
        assert expected in load_errors(tmp_path, text)

    @pytest.mark.parametrize(
        ("address", "expected"),
        [
            ("192.0.2.1:161", "the port under `port`"),
            ("[2001:db8::1]", "IPv6 without brackets"),
            ("bad_host!", "expected an IP address or a DNS name"),
        ],
    )
    def test_bad_address_is_rejected(self, tmp_path: Path, address: str, expected: str) -> None:
        text = MINIMAL.format(community="x").replace("127.0.0.1", f'"{address}"')

        assert expected in load_errors(tmp_path, text)

    @pytest.mark.parametrize("address", ["127.0.0.256", "10.1.1", "10", "192.0.2.1."])
    def test_dotted_numbers_must_be_ipv4(self, tmp_path: Path, address: str) -> None:
        text = MINIMAL.format(community="x").replace("127.0.0.1", f'"{address}"')

        expected = f"targets[0].address: invalid IPv4 address {address!r}"
        assert expected in load_errors(tmp_path, text)

    def test_listen_host_must_be_valid_ipv4(self, tmp_path: Path) -> None:
        text = MINIMAL.format(community="x") + 'http:\n  listen: ["127.0.0.256:9161"]\n'

        assert "invalid IPv4 address '127.0.0.256'" in load_errors(tmp_path, text)

    @pytest.mark.parametrize(
        "address", ["2001:db8::1", "router.example.net", "192.0.2.1", "1.example.net", "host-9"]
    )
    def test_good_address_is_accepted(self, tmp_path: Path, address: str) -> None:
        text = MINIMAL.format(community="x").replace("127.0.0.1", f'"{address}"')

        assert load(tmp_path, text).targets[0].target.host == address

    @pytest.mark.parametrize("listen", ["127.0.0.1", "::1:9161", "[::1:9161", "127.0.0.1:65536"])
    def test_bad_listen_address_is_rejected(self, tmp_path: Path, listen: str) -> None:
        text = MINIMAL.format(community="x") + f'http:\n  listen: ["{listen}"]\n'

        assert "invalid listen address" in load_errors(tmp_path, text)

    def test_listen_accepts_single_string(self, tmp_path: Path) -> None:
        text = MINIMAL.format(community="x") + 'http:\n  listen: "[::1]:9200"\n'

        assert load(tmp_path, text).http.listen == ("[::1]:9200",)

    def test_target_label_is_reserved(self, tmp_path: Path) -> None:
        text = MINIMAL.format(community="x").replace(
            "jobs: [system]\n", "jobs: [system]\n    labels: {target: x}\n"
        )

        assert "the label `target` is set from the target's name" in load_errors(tmp_path, text)

    @pytest.mark.parametrize(
        ("oid", "expected"),
        [("5.3.6.1", "OID '5.3.6.1' starts with 5; only 0, 1 or 2 are valid"),
         ("1.3.6.1.99999999999.0", "arc 99999999999 is outside 0..4294967295"),
         ("1.40.1", "the second arc must be below 40 when the first is 1"),
         ("1", "OID '1' has 1 arc(s); at least 2 are needed"),
         (".".join(["1"] * 129), "has 129 arcs; SNMP allows 128")],
    )  # fmt: skip
    def test_unsendable_scalar_oid_is_rejected(
        self, tmp_path: Path, oid: str, expected: str
    ) -> None:
        text = MINIMAL.format(community="x").replace("[sysUpTime]", f"[sysName, '{oid}']")

        message = load_errors(tmp_path, text)

        assert "jobs.system.scalars[1].oid:" in message
        assert expected in message
        assert "so no request can carry it; fix the OID" in message

    def test_unsendable_column_and_lookup_are_rejected(self, tmp_path: Path) -> None:
        text = MINIMAL.format(community="x").replace(
            "scalars: [sysUpTime]",
            "tables:\n      - name: t\n        columns: ['3.1.1']\n"
            "        lookups: [{oid: '1.3.6.4294967296', label: l}]",
        )

        message = load_errors(tmp_path, text)

        assert "jobs.system.tables[0].columns[0].oid: OID '3.1.1' starts with 3" in message
        assert "jobs.system.tables[0].lookups[0].oid: OID '1.3.6.4294967296'" in message

    @pytest.mark.parametrize(
        ("setting", "expected"),
        [("interval: 25h", "jobs.system.interval: invalid duration '25h'; allowed values: "
                           "above 0 up to 24h"),
         ("interval: 99999999999999999999h", "jobs.system.interval: invalid duration"),
         ("interval: .inf", "jobs.system.interval: invalid duration inf"),
         ("interval: .nan", "jobs.system.interval: invalid duration nan")],
    )  # fmt: skip
    def test_interval_above_a_day_is_rejected(
        self, tmp_path: Path, setting: str, expected: str
    ) -> None:
        text = MINIMAL.format(community="x").replace("interval: 30s", setting)

        assert expected in load_errors(tmp_path, text)

    @pytest.mark.parametrize(
        ("setting", "expected"),
        [("timeout: 61s", "targets[0].timeout: invalid duration '61s'; allowed values: "
                          "above 0 up to 60s"),
         ("timeout: 1h", "targets[0].timeout: invalid duration '1h'"),
         ("retries: 21", "targets[0].retries: invalid value 21; allowed values: 0 to 20"),
         ("poll_budget: 25h", "targets[0].poll_budget: invalid duration '25h'")],
    )  # fmt: skip
    def test_target_setting_above_limit_is_rejected(
        self, tmp_path: Path, setting: str, expected: str
    ) -> None:
        text = MINIMAL.format(community="x").replace(
            "jobs: [system]\n", f"jobs: [system]\n    {setting}\n"
        )

        assert expected in load_errors(tmp_path, text)

    def test_limits_themselves_are_accepted(self, tmp_path: Path) -> None:
        text = MINIMAL.format(community="x").replace("interval: 30s", "interval: 24h").replace(
            "jobs: [system]\n", "jobs: [system]\n    timeout: 60s\n    retries: 20\n"
        )

        target = load(tmp_path, text).targets[0]

        assert target.jobs[0].interval == 86400.0
        assert target.target.timeout == 60.0
        assert target.target.retries == 20

    def test_fixed_string_index_needs_length(self, tmp_path: Path) -> None:
        text = MINIMAL.format(community="x").replace(
            "scalars: [sysUpTime]",
            "tables:\n      - name: t\n        columns: [1.3.6.1.4.1.9.1.1]\n"
            "        indexes: [{label: mac, type: fixed_string}]",
        )

        assert "`length` is required for type fixed_string" in load_errors(tmp_path, text)


class TestSecretsInMessages:
    def test_secret_with_two_sources_hides_literal(self, tmp_path: Path) -> None:
        text = MINIMAL.format(community=f"{{value: {COMMUNITY}, env: X}}")

        message = load_errors(tmp_path, text)

        assert "credentials.lab.community: give the secret as a literal string" in message
        assert COMMUNITY not in message

    def test_secret_of_wrong_type_hides_value(self, tmp_path: Path) -> None:
        text = MINIMAL.format(community=f"{{value: [{COMMUNITY}]}}")

        message = load_errors(tmp_path, text)

        expected = "credentials.lab.community.value: invalid value (a list); expected a string"
        assert expected in message
        assert COMMUNITY not in message

    def test_check_config_output_hides_community(self, tmp_path: Path) -> None:
        path = write(tmp_path, MINIMAL.format(community=COMMUNITY))

        result = check_config_file(path, {})

        assert result.exit_code == 0
        assert COMMUNITY not in result.stdout + result.stderr


class TestCheckConfigFile:
    def test_valid_file_exits_0(self, tmp_path: Path) -> None:
        result = check_config_file(write(tmp_path, MINIMAL.format(community="x")), {})

        assert result.exit_code == 0
        assert "the configuration is valid" in result.stdout
        assert result.stderr == ""

    def test_invalid_file_exits_1(self, tmp_path: Path) -> None:
        text = MINIMAL.format(community="x").replace("jobs: [system]", "jobs: [sytsem]")

        result = check_config_file(write(tmp_path, text), {})

        assert result.exit_code == 1
        assert "unknown job 'sytsem' (did you mean 'system'?)" in result.stderr

    def test_unreadable_file_exits_2(self, tmp_path: Path) -> None:
        result = check_config_file(tmp_path / "absent.yaml", {})

        assert result.exit_code == 2
        assert "absent.yaml: cannot read the config file" in result.stderr


def test_config_docs_show_example_verbatim() -> None:
    docs = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    section = docs.split("## Complete example", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]

    assert block == EXAMPLE.read_text(encoding="utf-8")
