"""Tests of building DaemonConfig from a valid file: defaults, references, secrets, tables."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from snmpd_ng.config.errors import ConfigError
from snmpd_ng.config.loader import check_config_file, load_config
from snmpd_ng.config.model import DaemonConfig, IndexSpec, LookupSpec
from snmpd_ng.protocol.message import SnmpVersion
from snmpd_ng.secret import Secret

COMMUNITY = "builder-secret-51c2"


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> DaemonConfig:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(path, environ or {})


def load_errors(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, environ)
    return str(caught.value)


def config_with_job(job: str) -> str:
    """A one-target config whose only job `j` has the given body (indented by 4)."""
    return (
        "credentials:\n  lab:\n    community: x\n"
        "defaults:\n  credentials: lab\n  jobs: [j]\n"
        "jobs:\n  j:\n" + textwrap.indent(textwrap.dedent(job), "    ")
        + "targets:\n  - address: 127.0.0.1\n"
    )  # fmt: skip


class TestTargetDefaults:
    TEXT = """\
    defaults:
      credentials: lab
      timeout: 5s
      labels: {site: a, rack: "1"}
      jobs: [j]
    credentials:
      lab: {community: x}
    jobs:
      j: {scalars: [sysUpTime]}
    targets:
      - address: 127.0.0.1
      - address: ::1
        name: six
        timeout: 250ms
        backoff: 1.5
        port: 1161
        version: 1
        labels: {rack: 2}
    """

    def test_builtin_defaults_apply(self, tmp_path: Path) -> None:
        target = load(tmp_path, self.TEXT).targets[0].target

        assert target.port == 161
        assert target.version == SnmpVersion.V2C
        assert target.retries == 2
        assert target.backoff == 1.0
        assert target.max_repetitions == 25

    def test_defaults_section_overrides_builtin(self, tmp_path: Path) -> None:
        assert load(tmp_path, self.TEXT).targets[0].target.timeout == 5.0

    def test_target_overrides_defaults(self, tmp_path: Path) -> None:
        target = load(tmp_path, self.TEXT).targets[1].target

        assert target.timeout == 0.25
        assert target.backoff == 1.5
        assert target.port == 1161
        assert target.version == SnmpVersion.V1

    def test_labels_merge_per_key(self, tmp_path: Path) -> None:
        assert load(tmp_path, self.TEXT).targets[1].labels == {"site": "a", "rack": "2"}

    def test_name_defaults_to_address_and_port(self, tmp_path: Path) -> None:
        targets = load(tmp_path, self.TEXT).targets

        assert [target.name for target in targets] == ["127.0.0.1:161", "six"]

    def test_default_interval_is_60s(self, tmp_path: Path) -> None:
        assert load(tmp_path, self.TEXT).targets[0].jobs[0].interval == 60.0

    def test_duplicate_target_name_is_an_error(self, tmp_path: Path) -> None:
        text = self.TEXT.replace("name: six", "name: 127.0.0.1:161").replace("port: 1161", "")

        assert "target name '127.0.0.1:161' is already used by targets[0]" in load_errors(
            tmp_path, text
        )


class TestReferences:
    def test_unknown_profile_suggests_profile(self, tmp_path: Path) -> None:
        text = config_with_job("scalars: [sysUpTime]\n").replace(
            "  credentials: lab\n", "  credentials: lba\n"
        )

        message = load_errors(tmp_path, text)

        assert "unknown credentials profile 'lba' (did you mean 'lab'?)" in message

    def test_missing_profile_is_an_error(self, tmp_path: Path) -> None:
        text = config_with_job("scalars: [sysUpTime]\n").replace("  credentials: lab\n", "")

        assert "no credentials profile" in load_errors(tmp_path, text)

    def test_target_without_jobs_is_an_error(self, tmp_path: Path) -> None:
        text = config_with_job("scalars: [sysUpTime]\n").replace("  jobs: [j]\n", "")

        assert "targets[0].jobs: no jobs to poll" in load_errors(tmp_path, text)


class TestSecrets:
    def test_env_secret_is_read(self, tmp_path: Path) -> None:
        text = config_with_job("scalars: [sysUpTime]\n").replace(
            "community: x", "community: {env: SNMP_COMMUNITY}"
        )

        config = load(tmp_path, text, {"SNMP_COMMUNITY": COMMUNITY})

        assert config.targets[0].target.community == Secret(COMMUNITY)

    def test_missing_env_names_variable(self, tmp_path: Path) -> None:
        text = config_with_job("scalars: [sysUpTime]\n").replace(
            "community: x", "community: {env: SNMP_COMMUNITY}"
        )

        message = load_errors(tmp_path, text)

        assert "credentials.lab.community: environment variable SNMP_COMMUNITY is not set" in (
            message
        )

    def test_file_secret_drops_final_newline(self, tmp_path: Path) -> None:
        (tmp_path / "community.txt").write_text(COMMUNITY + "\n", encoding="utf-8")
        text = config_with_job("scalars: [sysUpTime]\n").replace(
            "community: x", "community: {file: community.txt}"
        )

        config = load(tmp_path, text)

        assert config.targets[0].target.community == Secret(COMMUNITY)

    def test_missing_file_names_file_not_value(self, tmp_path: Path) -> None:
        text = config_with_job("scalars: [sysUpTime]\n").replace(
            "community: x", "community: {file: absent.txt}"
        )

        message = load_errors(tmp_path, text)

        assert f"cannot read secret file '{tmp_path / 'absent.txt'}': No such file" in message

    @pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of mode")
    def test_unreadable_file_is_an_error(self, tmp_path: Path) -> None:
        secret_file = tmp_path / "community.txt"
        secret_file.write_text(COMMUNITY, encoding="utf-8")
        secret_file.chmod(0)
        text = config_with_job("scalars: [sysUpTime]\n").replace(
            "community: x", "community: {file: community.txt}"
        )

        message = load_errors(tmp_path, text)

        assert "Permission denied" in message
        assert COMMUNITY not in message

    def test_empty_literal_is_an_error(self, tmp_path: Path) -> None:
        text = config_with_job("scalars: [sysUpTime]\n").replace('community: x', 'community: ""')

        assert "credentials.lab.community: the secret is empty" in load_errors(tmp_path, text)

    def test_basic_auth_password_from_env(self, tmp_path: Path) -> None:
        text = config_with_job("scalars: [sysUpTime]\n") + (
            "http:\n  basic_auth:\n    username: prom\n    password: {env: PW}\n"
        )

        config = load(tmp_path, text, {"PW": COMMUNITY})

        assert config.http.basic_auth is not None
        assert config.http.basic_auth.password == Secret(COMMUNITY)

    def test_missing_tls_file_is_an_error(self, tmp_path: Path) -> None:
        text = config_with_job("scalars: [sysUpTime]\n") + (
            "http:\n  tls: {cert_file: absent.crt, key_file: absent.key}\n"
        )

        message = load_errors(tmp_path, text)

        assert "http.tls.cert_file: file" in message
        assert "http.tls.key_file: file" in message


class TestScalars:
    def test_scalar_name_gets_instance_zero(self, tmp_path: Path) -> None:
        job = load(tmp_path, config_with_job("scalars: [sysUpTime]\n")).targets[0].jobs[0]

        assert job.scalars[0].oid == (1, 3, 6, 1, 2, 1, 1, 3, 0)
        assert job.scalars[0].name == "sysUpTime"

    def test_numeric_scalar_takes_mib_name(self, tmp_path: Path) -> None:
        job = load(tmp_path, config_with_job("scalars: [1.3.6.1.2.1.1.7.0]\n")).targets[0].jobs[0]

        assert job.scalars[0].name == "sysServices"
        assert job.scalars[0].type == "gauge"

    def test_unknown_numeric_scalar_is_named_by_oid(self, tmp_path: Path) -> None:
        job = load(tmp_path, config_with_job("scalars: [.1.3.6.1.4.1.99999.1.0]\n")).targets[0]

        spec = job.jobs[0].scalars[0]
        assert spec.name == "oid_1_3_6_1_4_1_99999_1_0"
        assert spec.type == "auto"

    def test_column_instance_gets_suffixed_name(self, tmp_path: Path) -> None:
        job = load(tmp_path, config_with_job("scalars: [ifMtu.2]\n")).targets[0].jobs[0]

        assert job.scalars[0].oid == (1, 3, 6, 1, 2, 1, 2, 2, 1, 4, 2)
        assert job.scalars[0].name == "ifMtu_2"

    def test_column_without_instance_is_an_error(self, tmp_path: Path) -> None:
        message = load_errors(tmp_path, config_with_job("scalars: [ifMtu]\n"))

        assert "'ifMtu' is a column of ifTable" in message

    def test_explicit_name_and_type_win(self, tmp_path: Path) -> None:
        text = config_with_job(
            "scalars:\n  - {oid: 1.3.6.1.4.1.99999.1.0, name: test_counter, type: counter}\n"
        )

        spec = load(tmp_path, text).targets[0].jobs[0].scalars[0]

        assert spec.name == "test_counter"
        assert spec.type == "counter"

    def test_same_metric_name_twice_is_an_error(self, tmp_path: Path) -> None:
        text = config_with_job("scalars: [sysServices, 1.3.6.1.2.1.1.7.0]\n")

        assert "metric name 'sysServices' appears twice" in load_errors(tmp_path, text)


class TestTables:
    def test_mib_table_gets_index_and_all_columns(self, tmp_path: Path) -> None:
        table = load(tmp_path, config_with_job("tables: [ifXTable]\n")).targets[0].jobs[0].tables[0]

        assert table.name == "ifXTable"
        assert table.indexes == (IndexSpec("ifIndex"),)
        assert len(table.columns) == 19

    def test_counter_columns_stay_counters(self, tmp_path: Path) -> None:
        text = config_with_job("tables:\n  - {table: ifXTable, columns: [ifHCInOctets, ifName]}\n")

        table = load(tmp_path, text).targets[0].jobs[0].tables[0]

        assert [column.type for column in table.columns] == ["counter", "auto"]

    def test_lookup_from_augmenting_table(self, tmp_path: Path) -> None:
        text = config_with_job(
            "tables:\n  - {table: ifTable, columns: [ifMtu], lookups: [ifName, ifAlias]}\n"
        )

        table = load(tmp_path, text).targets[0].jobs[0].tables[0]

        assert table.lookups == (
            LookupSpec("ifName", (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1)),
            LookupSpec("ifAlias", (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 18)),
        )

    def test_lookup_with_other_index_is_an_error(self, tmp_path: Path) -> None:
        text = config_with_job(
            "tables:\n  - {table: ifTable, columns: [ifMtu], lookups: [hrStorageDescr]}\n"
        )

        message = load_errors(tmp_path, text)

        assert "jobs.j.tables[0].lookups[0].oid: 'hrStorageDescr' belongs to hrStorageTable" in (
            message
        )

    def test_scalar_as_column_is_an_error(self, tmp_path: Path) -> None:
        text = config_with_job("tables:\n  - {table: ifTable, columns: [sysUpTime]}\n")

        assert "'sysUpTime' is a scalar, not a table column" in load_errors(tmp_path, text)

    def test_custom_table_needs_columns(self, tmp_path: Path) -> None:
        text = config_with_job("tables:\n  - {name: vendor}\n")

        assert "needs `name` and `columns`" in load_errors(tmp_path, text)

    def test_custom_table_with_index_and_lookup(self, tmp_path: Path) -> None:
        text = config_with_job("""\
            tables:
              - name: vendor
                columns: [{oid: 1.3.6.1.4.1.99999.2.1.3, name: vendorOctets, type: counter}]
                indexes: [{label: slot}, {label: mac, type: mac}]
                lookups: [{oid: 1.3.6.1.4.1.99999.2.1.2, label: portName}]
                slow_changing: true
            """)

        table = load(tmp_path, text).targets[0].jobs[0].tables[0]

        assert table.indexes == (IndexSpec("slot"), IndexSpec("mac", "mac"))
        assert table.lookups == (LookupSpec("portName", (1, 3, 6, 1, 4, 1, 99999, 2, 1, 2)),)
        assert table.slow_changing

    def test_numeric_lookup_needs_label(self, tmp_path: Path) -> None:
        text = config_with_job(
            "tables:\n  - {table: ifTable, columns: [ifMtu], lookups: [1.3.6.1.4.1.9.9]}\n"
        )

        assert "needs a `label`" in load_errors(tmp_path, text)


class TestLabelClashes:
    @pytest.mark.parametrize(
        ("label", "reason"),
        [("target", "set from the target's name"),
         ("job", "set from the job's name on the polling metrics"),
         ("instance", "set by Prometheus to the address it scrapes"),
         ("kind", "set by snmp_poll_errors_total"),
         ("exception", "set by snmp_poll_exception_values_total"),
         ("status", "set by snmp_target_error_status_responses_total")],
    )  # fmt: skip
    def test_daemon_label_on_target_is_rejected(
        self, tmp_path: Path, label: str, reason: str
    ) -> None:
        text = config_with_job("scalars: [sysUpTime]\n") + f"    labels: {{{label}: x}}\n"

        message = load_errors(tmp_path, text)

        assert f"targets[0].labels.{label}: the label `{label}` is {reason}" in message
        assert message.endswith("; choose another name")

    def test_daemon_label_in_defaults_is_rejected_once(self, tmp_path: Path) -> None:
        text = config_with_job("scalars: [sysUpTime]\n").replace(
            "  jobs: [j]\n", "  jobs: [j]\n  labels: {job: x}\n"
        ) + "  - address: ::1\n"

        message = load_errors(tmp_path, text)

        assert "1 error in the configuration" in message
        assert "defaults.labels.job: the label `job` is set from the job's name" in message

    def test_index_label_of_target_table_is_rejected(self, tmp_path: Path) -> None:
        text = config_with_job("tables: [{table: ifTable, columns: [ifMtu]}]\n")
        text += "    labels: {role: agent, ifIndex: x}\n"

        message = load_errors(tmp_path, text)

        expected = (
            "targets[0].labels.ifIndex: the label `ifIndex` is set from the index of table "
            "'ifTable' in job 'j' on every row; choose another name"
        )
        assert expected in message

    def test_lookup_label_from_defaults_is_rejected(self, tmp_path: Path) -> None:
        text = config_with_job(
            "tables: [{table: ifTable, columns: [ifMtu], lookups: [ifName]}]\n"
        ).replace("  jobs: [j]\n", "  jobs: [j]\n  labels: {ifName: x}\n")

        message = load_errors(tmp_path, text)

        assert "defaults.labels.ifName: the label `ifName` is set from a lookup of table" in (
            message
        )

    def test_index_label_without_tables_is_accepted(self, tmp_path: Path) -> None:
        text = config_with_job("scalars: [sysUpTime]\n") + "    labels: {ifIndex: x}\n"

        assert load(tmp_path, text).targets[0].labels == {"ifIndex": "x"}


class TestReservedMetricNames:
    @pytest.mark.parametrize("name", ["snmp_load", "snmpd_ng_load", "process_load", "python_x"])
    def test_reserved_scalar_name_is_rejected(self, tmp_path: Path, name: str) -> None:
        text = config_with_job(f"scalars: [{{oid: 1.3.6.1.4.1.2021.10.1.5.1, name: {name}}}]\n")

        message = load_errors(tmp_path, text)

        prefix = name.split("_")[0] + "_" if not name.startswith("snmpd_ng") else "snmpd_ng_"
        expected = (
            f"jobs.j.scalars[0].name: metric name '{name}' starts with '{prefix}', which the "
            "daemon's own metrics use; set `name` to a name without that prefix"
        )
        assert expected in message

    def test_reserved_column_name_is_rejected(self, tmp_path: Path) -> None:
        text = config_with_job(
            "tables:\n  - name: t\n    columns: [{oid: 1.3.6.1.4.1.9.1.1, name: snmp_x}]\n"
        )

        assert "jobs.j.tables[0].columns[0].name: metric name 'snmp_x'" in load_errors(
            tmp_path, text
        )

    def test_other_underscore_name_is_accepted(self, tmp_path: Path) -> None:
        text = config_with_job("scalars: [{oid: 1.3.6.1.4.1.2021.10.1.5.1, name: snmpx_load}]\n")

        assert load(tmp_path, text).targets[0].jobs[0].scalars[0].name == "snmpx_load"


class TestWarnings:
    def test_timeout_and_retries_beyond_budget_warns(self, tmp_path: Path) -> None:
        text = config_with_job("interval: 5s\nscalars: [sysUpTime]\n")

        warnings = load(tmp_path, text).warnings

        assert len(warnings) == 1
        assert warnings[0].path == ("targets", 0)
        assert warnings[0].message.startswith(
            "one request may wait 6 s (3 attempts of the timeout, 2 s) but a run of job 'j' "
            "ends after its poll budget of 4 s"
        )

    def test_backoff_counts_in_request_wait(self, tmp_path: Path) -> None:
        text = config_with_job("interval: 10s\nscalars: [sysUpTime]\n").replace(
            "  jobs: [j]\n", "  jobs: [j]\n  backoff: 2\n"
        )

        warnings = load(tmp_path, text).warnings

        assert "one request may wait 14 s" in warnings[0].message

    def test_budget_within_wait_has_no_warning(self, tmp_path: Path) -> None:
        text = config_with_job("interval: 10s\nscalars: [sysUpTime]\n")

        assert load(tmp_path, text).warnings == ()

    def test_max_repetitions_above_1000_warns(self, tmp_path: Path) -> None:
        text = config_with_job("scalars: [sysUpTime]\n") + "    max_repetitions: 5000\n"

        warnings = load(tmp_path, text).warnings

        assert [warning.path for warning in warnings] == [("targets", 0, "max_repetitions")]
        assert warnings[0].message.startswith("max_repetitions 5000 is above 1000")

    def test_check_config_prints_warnings_and_exits_0(self, tmp_path: Path) -> None:
        path = tmp_path / "config.yaml"
        path.write_text(config_with_job("interval: 5s\nscalars: [sysUpTime]\n"))

        result = check_config_file(path, {})

        assert result.exit_code == 0
        assert f"{path}:12: warning: targets[0]: one request may wait 6 s" in result.stderr


class TestSummary:
    def test_summary_counts_one_in_singular(self, tmp_path: Path) -> None:
        path = tmp_path / "config.yaml"
        path.write_text(config_with_job(
            "scalars: [sysUpTime]\n"
            "tables: [{table: ifTable, columns: [ifMtu], lookups: [ifName]}]\n"
        ))

        summary = check_config_file(path, {}).stdout

        assert "j: every 60 s, 1 scalar, 1 table (1 column, 1 lookup)" in summary
        assert "objects: 2 (1 scalar, 1 table column)" in summary
        assert "polls: 1 target-job pair" in summary

    def test_summary_counts_two_in_plural(self, tmp_path: Path) -> None:
        path = tmp_path / "config.yaml"
        path.write_text(config_with_job(
            "scalars: [sysUpTime, sysName]\n"
            "tables:\n  - {table: ifTable, columns: [ifMtu, ifSpeed], lookups: [ifName, ifAlias]}\n"
            "  - {table: ifXTable, columns: [ifHighSpeed]}\n"
        ) + "  - address: ::1\n")

        summary = check_config_file(path, {}).stdout

        assert "j: every 60 s, 2 scalars, 2 tables (3 columns, 2 lookups)" in summary
        assert "polls: 2 target-job pairs" in summary


class TestManagerSection:
    BASE = "jobs:\n  j: {scalars: [sysUpTime]}\ntargets: []\n"

    def test_defaults_are_transport_defaults(self, tmp_path: Path) -> None:
        config = load(tmp_path, self.BASE)
        assert config.manager.receive_buffer_size == 4 * 1024 * 1024
        assert config.manager.send_buffer_size == 1024 * 1024

    def test_sizes_are_read(self, tmp_path: Path) -> None:
        config = load(tmp_path, self.BASE + "manager:\n  receive_buffer_size: 8388608\n"
                      "  send_buffer_size: 262144\n")
        assert config.manager.receive_buffer_size == 8388608
        assert config.manager.send_buffer_size == 262144

    def test_null_keeps_kernel_default(self, tmp_path: Path) -> None:
        config = load(tmp_path, self.BASE + "manager:\n  receive_buffer_size: null\n")
        assert config.manager.receive_buffer_size is None

    @pytest.mark.parametrize("value", ["0", "-1", "2147483648", "4MiB"])
    def test_invalid_size_rejected(self, tmp_path: Path, value: str) -> None:
        errors = load_errors(tmp_path, self.BASE + f"manager:\n  receive_buffer_size: {value}\n")
        assert "manager.receive_buffer_size" in errors

    def test_unknown_key_rejected(self, tmp_path: Path) -> None:
        errors = load_errors(tmp_path, self.BASE + "manager:\n  recv_buffer: 1\n")
        assert "recv_buffer" in errors
