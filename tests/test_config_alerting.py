"""The `alerting:` section of the config file: loading, errors, warnings and check-config."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest

from snmpd_ng.config.alerting import known_metrics
from snmpd_ng.config.errors import ConfigError
from snmpd_ng.config.loader import check_config_file, load_config
from snmpd_ng.config.model import DaemonConfig, JobConfig, ObjectSpec, TableSpec
from snmpd_ng.protocol.oid import parse_oid

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "deploy" / "config.example.yaml"
HOOK_SECRET = "hook-secret-never-shown-5c1e"
SLACK_URL = "https://hooks.slack.com/services/T0/B0/slack-secret-never-shown-77aa"
ENVIRON = {"HOOK_SECRET": HOOK_SECRET, "SLACK_URL": SLACK_URL,
           "TRAP_COMMUNITY": "trap-community-never-shown-0b3d"}

BASE = """\
credentials:
  lab: {community: public}
jobs:
  system: {interval: 30s, scalars: [sysUpTime, sysServices]}
  interfaces:
    interval: 30s
    tables:
      - {table: ifXTable, columns: [ifHCInOctets, ifHighSpeed], lookups: [ifName]}
targets:
  - {name: core1, address: 127.0.0.1, credentials: lab, jobs: [system, interfaces]}
state_dir: /var/lib/snmpd-ng
"""

ALERTING = """\
alerting:
  rules:
    - name: LinkSaturated
      expr: rate(ifHCInOctets) * 8 / (ifHighSpeed * 1e6) > 0.9
      for: 5m
    - name: TargetDown
      expr: up == 0
      severity: critical
  channels:
    hook:
      type: webhook
      url: http://127.0.0.1:8080/hooks
      secret: {env: HOOK_SECRET}
    chat:
      type: slack
      webhook_url: {env: SLACK_URL}
  receivers:
    noc: {channels: [hook, chat]}
  policies:
    network:
      tiers:
        - receivers: [noc]
          repeat: 10m
  routes:
    - policy: network
"""


TRAPS = """\
  traps:
    listen: ["127.0.0.1:10162"]
    communities: {ops: {env: TRAP_COMMUNITY}}
    rules:
      - name: LinkDown
        trap: linkDown
        key: [ifIndex]
        resolved_by: linkUp
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> DaemonConfig:
    return load_config(write(tmp_path, text), ENVIRON if environ is None else environ)


def load_errors(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, environ)
    return str(caught.value)


def line_of(text: str, needle: str) -> int:
    """Return the 1-based line of the first line of `text` that contains `needle`."""
    return next(number for number, line in enumerate(text.splitlines(), 1) if needle in line)


class TestLoad:
    def test_section_builds_rules_channels_policies(self, tmp_path: Path) -> None:
        config = load(tmp_path, BASE + ALERTING)

        assert config.alerting is not None
        assert [rule.name for rule in config.alerting.rules] == ["LinkSaturated", "TargetDown"]
        assert {name: spec.type for name, spec in config.alerting.channels.items()} == {
            "hook": "webhook", "chat": "slack"}
        assert sorted(config.alerting.handling.policies) == ["network"]
        assert config.alerting.handling.routes[0].policy == "network"

    def test_no_section_turns_alerting_off(self, tmp_path: Path) -> None:
        config = load(tmp_path, BASE)

        assert config.alerting is None

    def test_valid_section_has_no_warnings(self, tmp_path: Path) -> None:
        config = load(tmp_path, BASE + ALERTING)

        assert config.warnings == ()

    def test_store_path_defaults_to_state_dir(self, tmp_path: Path) -> None:
        config = load(tmp_path, BASE + ALERTING)

        assert config.alerting is not None
        assert config.alerting.handling.resolve_store_path(Path("/var/lib/snmpd-ng")) == Path(
            "/var/lib/snmpd-ng/alerts.db")

    def test_traps_section_builds_receiver_settings(self, tmp_path: Path) -> None:
        text = BASE + ALERTING + TRAPS

        config = load(tmp_path, text)

        assert config.alerting is not None
        assert config.alerting.traps is not None
        assert config.alerting.traps.listen == (("127.0.0.1", 10162),)
        assert [rule.name for rule in config.alerting.traps.rules] == ["LinkDown"]

    def test_trap_rule_error_names_line_and_key(self, tmp_path: Path) -> None:
        text = BASE + ALERTING + TRAPS.replace("trap: linkDown", "trap: linkDwn")

        message = load_errors(tmp_path, text)

        line = line_of(text, "trap: linkDwn")
        assert f"config.yaml:{line}: alerting.traps.rules[0].trap:" in message


class TestApiFiles:
    def test_paths_relative_to_config_folder(self, tmp_path: Path) -> None:
        (tmp_path / "api-token").write_text("token\n", encoding="utf-8")
        (tmp_path / "pd-secret").write_text("secret\n", encoding="utf-8")
        text = BASE + ALERTING + ("  api: {token_file: api-token, "
                                  "pagerduty_secret_file: pd-secret}\n")

        config = load(tmp_path, text)

        assert config.alerting is not None
        assert config.alerting.api_token_file == tmp_path / "api-token"
        assert config.alerting.pagerduty_secret_file == tmp_path / "pd-secret"
        assert config.warnings == ()

    def test_no_api_key_disables_writes(self, tmp_path: Path) -> None:
        config = load(tmp_path, BASE + ALERTING)

        assert config.alerting is not None
        assert config.alerting.api_token_file is None
        assert config.alerting.pagerduty_secret_file is None

    def test_missing_token_file_is_warning(self, tmp_path: Path) -> None:
        text = BASE + ALERTING + "  api: {token_file: absent-token}\n"

        config = load(tmp_path, text)

        warning = config.warnings[0]
        assert warning.path == ("alerting", "api", "token_file")
        assert "does not exist" in warning.message
        assert warning.line == line_of(text, "api: {token_file")

    def test_unknown_api_key_is_error(self, tmp_path: Path) -> None:
        message = load_errors(tmp_path, BASE + ALERTING + "  api: {token: x}\n")

        assert ("alerting.api.token: unknown key 'token'; allowed keys: token_file, "
                "pagerduty_secret_file") in message


class TestErrors:
    def test_bad_expression_names_file_line_and_key(self, tmp_path: Path) -> None:
        text = BASE + ALERTING.replace("expr: up == 0", "expr: up ==")

        message = load_errors(tmp_path, text)

        line = line_of(text, "expr: up ==")
        assert f"config.yaml:{line}: alerting.rules[1].expr: rule 'TargetDown':" in message

    def test_unknown_channel_in_receiver(self, tmp_path: Path) -> None:
        text = BASE + ALERTING.replace("channels: [hook, chat]", "channels: [hook, chatt]")

        message = load_errors(tmp_path, text)

        line = line_of(text, "channels: [hook, chatt]")
        assert (f"config.yaml:{line}: alerting.receivers.noc.channels[1]: unknown channel "
                "'chatt'") in message

    def test_unknown_receiver_in_policy(self, tmp_path: Path) -> None:
        text = BASE + ALERTING.replace("- receivers: [noc]", "- receivers: [nox]")

        message = load_errors(tmp_path, text)

        assert "alerting.policies.network.tiers[0].receivers[0]: unknown receiver 'nox'" in message

    def test_missing_secret_names_variable(self, tmp_path: Path) -> None:
        message = load_errors(tmp_path, BASE + ALERTING, {"SLACK_URL": SLACK_URL})

        line = line_of(BASE + ALERTING, "secret: {env: HOOK_SECRET}")
        assert (f"config.yaml:{line}: alerting.channels.hook.secret: environment variable "
                "HOOK_SECRET is not set") in message

    def test_unknown_key_lists_allowed(self, tmp_path: Path) -> None:
        text = BASE + ALERTING + "  rutes: []\n"

        message = load_errors(tmp_path, text)

        assert "alerting.rutes: unknown key 'rutes'" in message
        assert "routes" in message

    def test_section_not_a_mapping(self, tmp_path: Path) -> None:
        message = load_errors(tmp_path, BASE + "alerting: [rules]\n")

        assert "alerting: invalid value" in message

    def test_errors_of_every_part_reported_together(self, tmp_path: Path) -> None:
        text = (BASE + ALERTING).replace("expr: up == 0", "expr: up ==").replace(
            "url: http://127.0.0.1:8080/hooks", "url: ftp://127.0.0.1/hooks").replace(
            "repeat: 10m", "repeat: soon").replace("jobs: [system, interfaces]",
                                                   "jobs: [system, interfacs]")

        message = load_errors(tmp_path, text)

        assert "alerting.rules[1].expr" in message
        assert "alerting.channels.hook.url" in message
        assert "alerting.policies.network.tiers[0].repeat" in message
        assert "targets[0].jobs[1]: unknown job 'interfacs'" in message

    def test_secrets_never_in_errors(self, tmp_path: Path) -> None:
        text = (BASE + ALERTING).replace("secret: {env: HOOK_SECRET}",
                                         f"secret: {HOOK_SECRET}\n      bogus: 1")
        text = text.replace("webhook_url: {env: SLACK_URL}", f"webhook_url: {SLACK_URL}\n"
                            "      timeout: forever")

        message = load_errors(tmp_path, text)

        assert "alerting.channels.hook.bogus" in message
        assert "alerting.channels.chat.timeout" in message
        assert HOOK_SECRET not in message
        assert "slack-secret-never-shown" not in message


class TestWarnings:
    def test_unknown_metric_is_warning_with_line(self, tmp_path: Path) -> None:
        text = BASE + ALERTING.replace("expr: up == 0", "expr: ifHighSpeeed == 0")

        config = load(tmp_path, text)

        warning = config.warnings[0]
        assert warning.path == ("alerting", "rules", 1, "expr")
        assert warning.line == line_of(text, "expr: ifHighSpeeed == 0")
        assert "did you mean 'ifHighSpeed'?" in warning.message

    def test_check_config_prints_rule_warning(self, tmp_path: Path) -> None:
        text = BASE + ALERTING.replace("expr: up == 0", "expr: ifHighSpeeed == 0")

        result = check_config_file(write(tmp_path, text), ENVIRON)

        assert result.exit_code == 0
        assert "warning: alerting.rules[1].expr: rule 'TargetDown': no job polls" in result.stderr


class TestKnownMetrics:
    def test_names_of_scalars_and_columns(self) -> None:
        job = JobConfig("j", 10.0, scalars=(ObjectSpec(parse_oid("1.3.6.1.2.1.1.3.0"),
                                                       "sysUpTime"),),
                        tables=(TableSpec("t", (ObjectSpec(parse_oid("1.3.6.1.4.1.9.1"),
                                                           "vendor-port.in"),)),))

        assert known_metrics({"j": job}) == {"sysUpTime", "vendor_port_in"}

    def test_skipped_objects_left_out(self) -> None:
        job = JobConfig("j", 10.0, scalars=(
            ObjectSpec(parse_oid("1.3.6.1.2.1.1.3.0"), "sysUpTime", type="skip"),))

        assert known_metrics({"j": job}) == set()


class TestCheckConfig:
    def test_summary_lists_rules_channels_policies(self, tmp_path: Path) -> None:
        result = check_config_file(write(tmp_path, BASE + ALERTING), ENVIRON)

        assert result.exit_code == 0
        assert "  rules: 2 (LinkSaturated, TargetDown)" in result.stdout
        assert "  channels: 2 (hook: webhook, chat: slack)" in result.stdout
        assert "  policies: 1 (network: 1 tier)" in result.stdout
        assert "  store: alerts.db in the state directory" in result.stdout

    def test_summary_lists_trap_receiver(self, tmp_path: Path) -> None:
        result = check_config_file(write(tmp_path, BASE + ALERTING + TRAPS), ENVIRON)

        assert ("  traps: listen 127.0.0.1:10162; rules: 1 (LinkDown); 1 community, "
                "0 SNMPv3 users") in result.stdout
        assert "trap-community-never-shown" not in result.stdout

    def test_summary_never_shows_secrets(self, tmp_path: Path) -> None:
        text = (BASE + ALERTING).replace("{env: HOOK_SECRET}", HOOK_SECRET)

        result = check_config_file(write(tmp_path, text), ENVIRON)

        assert HOOK_SECRET not in result.stdout + result.stderr
        assert "slack-secret-never-shown" not in result.stdout + result.stderr

    def test_rule_channel_policy_errors_exit_1(self, tmp_path: Path) -> None:
        text = (BASE + ALERTING).replace("expr: up == 0", "expr: up ==").replace(
            "type: slack", "type: slak").replace("- policy: network", "- policy: netwrk")

        result = check_config_file(write(tmp_path, text), ENVIRON)

        assert result.exit_code == 1
        assert f"config.yaml:{line_of(text, 'expr: up ==')}: alerting.rules[1].expr" in (
            result.stderr)
        assert f"config.yaml:{line_of(text, 'type: slak')}: alerting.channels.chat.type" in (
            result.stderr)
        assert "alerting.routes[0].policy: unknown policy 'netwrk'" in result.stderr


class TestChannelDigest:
    def digest(self, tmp_path: Path, text: str, environ: dict[str, str] = ENVIRON) -> str:
        config = load(tmp_path, text, environ)
        assert config.alerting is not None
        return config.alerting.channels["hook"].digest

    def test_same_settings_same_digest(self, tmp_path: Path) -> None:
        first = self.digest(tmp_path, BASE + ALERTING)

        assert self.digest(tmp_path, BASE + ALERTING) == first

    def test_changed_key_changes_digest(self, tmp_path: Path) -> None:
        first = self.digest(tmp_path, BASE + ALERTING)
        text = BASE + ALERTING.replace("url: http://127.0.0.1:8080/hooks",
                                       "url: http://127.0.0.1:8081/hooks")

        assert self.digest(tmp_path, text) != first

    def test_changed_secret_value_changes_digest(self, tmp_path: Path) -> None:
        first = self.digest(tmp_path, BASE + ALERTING)

        assert self.digest(tmp_path, BASE + ALERTING, {**ENVIRON, "HOOK_SECRET": "new"}) != first

    def test_changed_secret_file_changes_digest(self, tmp_path: Path) -> None:
        text = BASE + ALERTING.replace("{env: HOOK_SECRET}", "{file: hook.txt}")
        (tmp_path / "hook.txt").write_text("one\n", encoding="utf-8")
        first = self.digest(tmp_path, text)
        (tmp_path / "hook.txt").write_text("two\n", encoding="utf-8")

        assert self.digest(tmp_path, text) != first

    def test_digest_not_in_repr(self, tmp_path: Path) -> None:
        config = load(tmp_path, BASE + ALERTING)
        assert config.alerting is not None

        assert config.alerting.channels["hook"].digest not in repr(config)


def uncomment_alerting_example(text: str) -> str:
    """Uncomment the commented keys of the example's alerting section, but not its notes."""
    head, _, alerting = text.partition("\nalerting:\n")
    key = re.compile(r"^(\s*)# ( *(?:- )?[\w-]+:.*)$")
    lines = [key.sub(r"\1\2", line) for line in alerting.splitlines()]
    return head + "\nalerting:\n" + "\n".join(lines) + "\n"


class TestExample:
    def example(self, tmp_path: Path, text: str | None = None) -> Path:
        path = tmp_path / "config.yaml"
        if text is None:
            shutil.copy(EXAMPLE, path)
        else:
            path.write_text(text, encoding="utf-8")
        (tmp_path / "community.txt").write_text("legacy-community\n", encoding="utf-8")
        return path

    def test_example_alerting_loads(self, tmp_path: Path) -> None:
        config = load_config(self.example(tmp_path), {"SNMPD_NG_COMMUNITY": "c"})

        assert config.alerting is not None
        assert [rule.name for rule in config.alerting.rules] == [
            "TargetDown", "LinkSaturatedIn", "TargetRebooted"]
        assert config.warnings == ()

    def test_example_commented_channels_load(self, tmp_path: Path) -> None:
        text = uncomment_alerting_example(EXAMPLE.read_text(encoding="utf-8"))
        environ = {"SNMPD_NG_COMMUNITY": "c", "SNMPD_NG_SLACK_WEBHOOK_URL": SLACK_URL,
                   "SNMPD_NG_PAGERDUTY_ROUTING_KEY": "routing-key"}

        config = load_config(self.example(tmp_path, text), environ)

        assert config.alerting is not None
        assert sorted(config.alerting.channels) == ["noc-mail", "noc-slack",
                                                    "oncall-pagerduty"]
        assert len(config.alerting.handling.policies["network"].tiers) == 2
        assert config.alerting.api_token_file == Path("/etc/snmpd-ng/api-token")
