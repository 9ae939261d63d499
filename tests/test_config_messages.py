"""Tests of the config loader's messages: YAML's typing of unquoted text, and schema errors in
the config's own words (snmpd_ng.config.scalars, snmpd_ng.config.schema_errors)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from snmpd_ng.config.errors import ConfigError
from snmpd_ng.config.loader import load_config
from snmpd_ng.config.model import DaemonConfig
from snmpd_ng.secret import Secret

CONFIG = """\
credentials:
  lab:
    community: {community}
defaults:
  credentials: lab
  jobs: [system]
jobs:
  system:
    interval: 30s
    scalars: [sysUpTime]
targets:
  - address: 127.0.0.1
{target_extra}"""


def config_text(community: str = "public", target_extra: str = "") -> str:
    return CONFIG.format(community=community, target_extra=textwrap.indent(target_extra, "    "))


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> DaemonConfig:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, environ or {})


def load_errors(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return str(caught.value)


def issue_lines(message: str) -> list[str]:
    """Return the issue lines of a ConfigError's message, without the count line."""
    return message.splitlines()[1:]


class TestYamlTypedCommunity:
    @pytest.mark.parametrize(
        ("written", "kind"),
        [("0123", "a number"), ("0x1F", "a number"), ("1_000", "a number"), ("1:20", "a number"),
         ("1.50", "a number"), ("yes", "a boolean"), ("no", "a boolean"), ("off", "a boolean"),
         ("~", "null"), ("null", "null"), ("2024-01-01", "a date")],
    )  # fmt: skip
    def test_retyped_community_says_quote_it(
        self, tmp_path: Path, written: str, kind: str
    ) -> None:
        message = load_errors(tmp_path, config_text(community=written))

        expected = f"credentials.lab.community: YAML reads this unquoted value as {kind}"
        assert expected in message
        assert message.endswith("which changes its text; quote it")

    @pytest.mark.parametrize("written", ["0123", "0x1F", "1_000", "yes"])
    def test_retyped_community_is_not_shown(self, tmp_path: Path, written: str) -> None:
        line = issue_lines(load_errors(tmp_path, config_text(community=written)))[0]

        assert written not in line.split("community:", 1)[1]
        assert "83" not in line.split("community:", 1)[1]

    def test_retyped_community_is_the_only_issue(self, tmp_path: Path) -> None:
        assert len(issue_lines(load_errors(tmp_path, config_text(community="yes")))) == 1

    def test_quoted_digits_keep_their_text(self, tmp_path: Path) -> None:
        config = load(tmp_path, config_text(community="'0123'"))

        assert config.targets[0].target.community == Secret("0123")

    def test_plain_decimal_community_is_accepted(self, tmp_path: Path) -> None:
        config = load(tmp_path, config_text(community="12345"))

        assert config.targets[0].target.community == Secret("12345")

    def test_retyped_value_key_of_secret_says_quote_it(self, tmp_path: Path) -> None:
        message = load_errors(tmp_path, config_text(community="{value: 0123}"))

        assert "credentials.lab.community.value: YAML reads this unquoted value as a number" in (
            message
        )

    def test_empty_community_is_missing_value(self, tmp_path: Path) -> None:
        message = load_errors(tmp_path, config_text(community=""))

        expected = (
            "credentials.lab.community: missing value; expected a string, {env: NAME} or "
            "{file: PATH}"
        )
        assert expected in message

    def test_retyped_password_says_quote_it(self, tmp_path: Path) -> None:
        text = config_text() + "http:\n  basic_auth: {username: u, password: 0x1F}\n"

        message = load_errors(tmp_path, text)

        assert "http.basic_auth.password: YAML reads this unquoted value as a number" in message


class TestYamlTypedText:
    @pytest.mark.parametrize(
        ("target_extra", "path", "written", "read_as"),
        [("labels: {rack: 0123}", "targets[0].labels.rack", "0123", "the number 83"),
         ("labels: {rack: 010}", "targets[0].labels.rack", "010", "the number 8"),
         ("labels: {managed: yes}", "targets[0].labels.managed", "yes", "the boolean true"),
         ("labels: {rack: ~}", "targets[0].labels.rack", "~", "null (no value)"),
         ("name: 0x1F", "targets[0].name", "0x1F", "the number 31"),
         ("jobs: [1_000]", "targets[0].jobs[0]", "1_000", "the number 1000"),
         ("credentials: on", "targets[0].credentials", "on", "the boolean true")],
    )  # fmt: skip
    def test_retyped_text_field_says_quote_it(
        self, tmp_path: Path, target_extra: str, path: str, written: str, read_as: str
    ) -> None:
        message = load_errors(tmp_path, config_text(target_extra=target_extra + "\n"))

        expected = (
            f"{path}: YAML reads the unquoted value {written} as {read_as}; write it in quotes, "
            f"'{written}', to keep the text"
        )
        assert expected in message

    def test_retyped_help_text_says_quote_it(self, tmp_path: Path) -> None:
        text = config_text().replace(
            "scalars: [sysUpTime]", "scalars: [{oid: sysUpTime, help: 1.50}]"
        )

        assert "jobs.system.scalars[0].help: YAML reads the unquoted value 1.50" in load_errors(
            tmp_path, text
        )

    def test_retyped_job_key_says_quote_it(self, tmp_path: Path) -> None:
        text = config_text().replace("  system:\n", "  0123:\n").replace("[system]", "['0123']")

        message = load_errors(tmp_path, text)

        assert "config.yaml:8: jobs.0123: YAML reads the unquoted key 0123 as the number 83" in (
            message
        )

    def test_decimal_label_value_is_accepted(self, tmp_path: Path) -> None:
        config = load(tmp_path, config_text(target_extra="labels: {rack: 2, ratio: 0.5}\n"))

        assert config.targets[0].labels == {"rack": "2", "ratio": "0.5"}

    def test_retyped_number_setting_is_accepted(self, tmp_path: Path) -> None:
        config = load(tmp_path, config_text(target_extra="port: 0x1F\n"))

        assert config.targets[0].target.port == 31

    def test_null_optional_setting_is_accepted(self, tmp_path: Path) -> None:
        config = load(tmp_path, config_text(target_extra="name: ~\n"))

        assert config.targets[0].name == "127.0.0.1:161"


class TestSchemaWording:
    def test_wrong_secret_shape_names_forms(self, tmp_path: Path) -> None:
        message = load_errors(tmp_path, config_text(community="[x]"))

        expected = (
            "credentials.lab.community: invalid value (a list); expected a string, {env: NAME} "
            "or {file: PATH}"
        )
        assert expected in message
        assert "SecretSource" not in message

    @pytest.mark.parametrize(
        ("target_extra", "expected"),
        [("timeout: 0",
          "targets[0].timeout: invalid duration 0; allowed values: above 0 up to 60s"),
         ("port: 99999", "targets[0].port: invalid value 99999; allowed values: 1 to 65535"),
         ("retries: -1", "targets[0].retries: invalid value -1; allowed values: 0 to 20"),
         ("stale_after: 0", "targets[0].stale_after: invalid value 0; allowed values: 1 or more"),
         ("backoff: 11", "targets[0].backoff: invalid value 11; allowed values: 1.0 to 10.0"),
         ("version: 2", "targets[0].version: invalid value '2'; allowed values: 1, 2c, 3"),
         ("retries: many", "targets[0].retries: invalid value 'many'; expected a whole number"),
         ("accept_any_source: maybe",
          "targets[0].accept_any_source: invalid value 'maybe'; expected true or false"),
         ("labels: [a]", "targets[0].labels: invalid value (a list); expected a mapping")],
    )  # fmt: skip
    def test_bad_value_message(self, tmp_path: Path, target_extra: str, expected: str) -> None:
        message = load_errors(tmp_path, config_text(target_extra=target_extra + "\n"))

        assert expected in message
        assert "Input should" not in message

    def test_unknown_key_without_suggestion_has_semicolon(self, tmp_path: Path) -> None:
        message = load_errors(tmp_path, config_text(target_extra="community: x\n"))

        expected = "targets[0].community: unknown key 'community'; allowed keys: accept_any_source,"
        assert expected in message

    def test_secret_keys_are_documented(self, tmp_path: Path) -> None:
        message = load_errors(tmp_path, config_text(community="{envv: X}"))

        assert "unknown key 'envv' (did you mean 'env'?); allowed keys: env, file, value" in (
            message
        )

    def test_jobs_as_list_shows_no_python_repr(self, tmp_path: Path) -> None:
        text = config_text().replace(
            "  system:\n    interval: 30s\n    scalars: [sysUpTime]\n",
            "  - system:\n    interval: 10s\n    scalars: [sysUpTime]\n",
        )

        message = load_errors(tmp_path, text)

        assert "config.yaml:7: jobs: invalid value (a list); expected a mapping" in message
        assert "{'system'" not in message

    def test_issues_are_listed_in_file_order(self, tmp_path: Path) -> None:
        text = config_text(target_extra="timeout: 0\nport: 99999\nversion: 2\n")

        lines = issue_lines(load_errors(tmp_path, text))

        numbers = [int(line.split(":")[1]) for line in lines]
        assert numbers == sorted(numbers)
        assert len(numbers) == 3
