"""The `cluster:` section of the config file: schema, cross-checks, warnings, the config hash and
check-config (snmpd_ng.config.cluster, snmpd_ng.config.redis_url)."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from snmpd_ng.cluster.settings import ClusterSettings, RedisSettings
from snmpd_ng.config.cluster import (
    config_hash,
    config_section_hashes,
    differing_sections,
    parse_sentinel,
)
from snmpd_ng.config.errors import ConfigError
from snmpd_ng.config.loader import check_config_file, load_config
from snmpd_ng.config.model import DaemonConfig
from snmpd_ng.config.redis_url import parse_redis_url
from snmpd_ng.secret import Secret

REPO = Path(__file__).resolve().parent.parent
REDIS_PASSWORD = "redis-pass-not-in-any-message-51c2"
SENTINEL_PASSWORD = "sentinel-pass-not-in-any-message-8e07"

BASE = """\
credentials:
  lab:
    community: public
jobs:
  system:
    interval: 30s
    scalars: [sysUpTime]
targets:
  - address: 127.0.0.1
    name: router-1
    credentials: lab
    jobs: [system]
"""

MINIMAL_CLUSTER = """\
cluster:
  node_id: poller-a
  redis:
    url: redis://127.0.0.1:6379/0
"""

FULL_CLUSTER = """\
state_dir: state
cluster:
  node_id: poller-a
  capacity: 2
  advertise_url: http://192.0.2.5:9161
  lease_ttl: 12s
  heartbeat_interval: 2.5s
  lease_margin: 500ms
  join_delay: 5s
  failover_bound: 30s
  local_cache: false
  redis:
    sentinels: ["127.0.0.1:26379", "[::1]:26380", "sentinel-3"]
    service_name: mymaster
    username: snmpd-ng
    password: {env: SNMPD_NG_REDIS_PASSWORD}
    sentinel_password: {file: sentinel.txt}
    db: 3
    key_prefix: site-1.pollers
    connect_timeout: 1s
    command_timeout: 1.5s
"""


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> DaemonConfig:
    return load_config(write(tmp_path, text), environ or {})


def load_cluster(tmp_path: Path, text: str,
                 environ: dict[str, str] | None = None) -> ClusterSettings:
    cluster = load(tmp_path, text, environ).cluster
    assert cluster is not None
    return cluster


def load_errors(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, environ)
    return str(caught.value)


def cluster_text(redis: str = "url: redis://127.0.0.1:6379/0", **keys: str) -> str:
    """Build BASE with a `cluster:` section of `keys` (YAML text) and the `redis` lines."""
    lines = ["cluster:"]
    lines += [f"  {key}: {value}" for key, value in {"node_id": "poller-a", **keys}.items()]
    lines.append("  redis:")
    lines += [f"    {line}" for line in redis.splitlines()]
    return BASE + "\n".join(lines) + "\n"


ALERTING = ("alerting:\n  rules:\n    - {name: Down, expr: up == 0}\n"
            "  channels: {}\n  receivers: {}\n  policies: {}\n  routes: []\n")


def full_environ() -> dict[str, str]:
    return {"SNMPD_NG_REDIS_PASSWORD": REDIS_PASSWORD}


class TestValidSection:
    def test_minimal_section_has_defaults(self, tmp_path: Path) -> None:
        cluster = load_cluster(tmp_path, BASE + MINIMAL_CLUSTER)

        expected = ClusterSettings(
            redis=RedisSettings(url="redis://127.0.0.1:6379/0"),
            node_id="poller-a",
            config_hash=cluster.config_hash,
            config_sections=cluster.config_sections,
        )
        assert cluster == expected

    def test_minimal_section_timing_defaults(self, tmp_path: Path) -> None:
        cluster = load_cluster(tmp_path, BASE + MINIMAL_CLUSTER)

        assert cluster.lease_ttl == 15.0
        assert cluster.heartbeat_seconds == 3.75
        assert cluster.lease_margin == 1.0

    def test_full_section_builds_every_key(self, tmp_path: Path) -> None:
        (tmp_path / "sentinel.txt").write_text(SENTINEL_PASSWORD + "\n", encoding="utf-8")

        cluster = load_cluster(tmp_path, BASE + FULL_CLUSTER, full_environ())

        expected = ClusterSettings(
            redis=RedisSettings(
                sentinels=(("127.0.0.1", 26379), ("::1", 26380), ("sentinel-3", 26379)),
                service_name="mymaster",
                username="snmpd-ng",
                password=Secret(REDIS_PASSWORD),
                sentinel_password=Secret(SENTINEL_PASSWORD),
                db=3,
                key_prefix="site-1.pollers",
                connect_timeout=1.0,
                command_timeout=1.5,
            ),
            node_id="poller-a",
            capacity=2.0,
            advertise_url="http://192.0.2.5:9161",
            lease_ttl=12.0,
            heartbeat_interval=2.5,
            lease_margin=0.5,
            join_delay=5.0,
            failover_bound=30.0,
            local_cache=False,
            config_hash=cluster.config_hash,
            config_sections=cluster.config_sections,
        )
        assert cluster == expected

    def test_full_section_has_no_warnings(self, tmp_path: Path) -> None:
        (tmp_path / "sentinel.txt").write_text(SENTINEL_PASSWORD, encoding="utf-8")

        config = load(tmp_path, BASE + FULL_CLUSTER, full_environ())

        assert config.warnings == ()

    def test_no_section_means_one_node(self, tmp_path: Path) -> None:
        assert load(tmp_path, BASE).cluster is None

    def test_empty_section_means_one_node(self, tmp_path: Path) -> None:
        assert load(tmp_path, BASE + "cluster:\n").cluster is None

    def test_redis_cluster_url_is_accepted(self, tmp_path: Path) -> None:
        text = cluster_text("url: rediss://10.0.0.7:7000\ncluster: true")

        redis = load_cluster(tmp_path, text).redis

        assert redis.cluster is True
        assert redis.url == "rediss://10.0.0.7:7000"

    def test_database_comes_from_url_path(self, tmp_path: Path) -> None:
        cluster = load_cluster(tmp_path, cluster_text("url: redis://127.0.0.1:6379/4"))

        assert cluster.redis.db == 4

    def test_database_comes_from_unix_url_query(self, tmp_path: Path) -> None:
        text = cluster_text("url: unix:///run/redis/redis.sock?db=2")

        assert load_cluster(tmp_path, text).redis.db == 2

    def test_same_database_in_url_and_key_is_accepted(self, tmp_path: Path) -> None:
        text = cluster_text("url: redis://127.0.0.1:6379/4\ndb: 4")

        assert load_cluster(tmp_path, text).redis.db == 4

    def test_user_name_comes_from_url(self, tmp_path: Path) -> None:
        text = cluster_text("url: redis://poller@127.0.0.1:6379/0")

        assert load_cluster(tmp_path, text).redis.username == "poller"

    def test_zero_join_delay_and_margin_are_accepted(self, tmp_path: Path) -> None:
        cluster = load_cluster(tmp_path, cluster_text(join_delay="0s", lease_margin="0"))

        assert cluster.join_delay == 0.0
        assert cluster.lease_margin == 0.0

    def test_colon_in_target_name_is_accepted(self, tmp_path: Path) -> None:
        text = cluster_text().replace("name: router-1", "name: 'site:router-1'")

        assert load(tmp_path, text).targets[0].name == "site:router-1"


class TestSentinelAddress:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [("127.0.0.1:26379", ("127.0.0.1", 26379)), ("[::1]:26380", ("::1", 26380)),
         ("sentinel.example.net", ("sentinel.example.net", 26379)), ("[::1]", ("::1", 26379))],
    )  # fmt: skip
    def test_parse_sentinel_forms(self, text: str, expected: tuple[str, int]) -> None:
        assert parse_sentinel(text) == expected

    @pytest.mark.parametrize(
        "text", ["::1", "host:", "host:0", "host:65536", "host:port", "[::1", "[::1]x", "",
                 "bad_host!:26379", "host:²"],
    )  # fmt: skip
    def test_parse_sentinel_rejects(self, text: str) -> None:
        with pytest.raises(ValueError, match="invalid Sentinel address"):
            parse_sentinel(text)


class TestRedisUrl:
    @pytest.mark.parametrize(
        ("text", "scheme", "db"),
        [("redis://127.0.0.1", "redis", None), ("redis://127.0.0.1:6379/", "redis", None),
         ("rediss://[::1]:6380/7", "rediss", 7), ("redis://127.0.0.1/1?db=5", "redis", 5),
         ("unix:///run/redis.sock", "unix", None), ("REDIS://127.0.0.1", "redis", None)],
    )  # fmt: skip
    def test_parse_redis_url_parts(self, text: str, scheme: str, db: int | None) -> None:
        url = parse_redis_url(text)

        assert url.scheme == scheme
        assert url.db == db

    @pytest.mark.parametrize(
        ("text", "expected"),
        [("http://127.0.0.1:6379", "expected redis://HOST[:PORT][/DB]"),
         ("redis:127.0.0.1", "expected redis://HOST[:PORT][/DB]"),
         ("redis://", "missing host"),
         ("redis://127.0.0.1:0", "the port must be a number from 1 to 65535"),
         ("redis://127.0.0.1:70000", "the port must be a number from 1 to 65535"),
         ("redis://127.0.0.1:six", "the port must be a number from 1 to 65535"),
         ("redis://127.0.0.1/zero", "the path must be a database number"),
         ("redis://127.0.0.1/?db=x", "`db` in the query must be one whole number"),
         ("unix://run/redis.sock", "a unix:// url has no host"),
         ("unix://", "needs an absolute socket path"),
         ("redis://127.0.0.1/?socket_timeout=5", "set `command_timeout`"),
         ("redis://127.0.0.1/?socket_connect_timeout=5", "set `connect_timeout`"),
         ("redis://127.0.0.1/?username=x", "set `username`")],
    )  # fmt: skip
    def test_parse_redis_url_rejects(self, text: str, expected: str) -> None:
        with pytest.raises(ValueError, match="invalid url") as caught:
            parse_redis_url(text)

        assert expected in str(caught.value)

    @pytest.mark.parametrize(
        "text", ["redis://user:{p}@127.0.0.1:6379/0", "redis://:{p}@127.0.0.1",
                 "redis://127.0.0.1/0?password={p}", "unix://:{p}@/run/redis.sock"],
    )  # fmt: skip
    def test_password_in_url_is_rejected_unshown(self, text: str) -> None:
        with pytest.raises(ValueError) as caught:
            parse_redis_url(text.format(p=REDIS_PASSWORD))

        message = str(caught.value)
        assert "it contains a password" in message
        assert "set `password`" in message
        assert REDIS_PASSWORD not in message


class TestSchemaErrors:
    @pytest.mark.parametrize(
        ("keys", "expected"),
        [({"node_id": "'poller a'"},
          "cluster.node_id: invalid node ID 'poller a': use 1 to 64 letters, digits"),
         ({"node_id": "a" * 65}, "cluster.node_id: invalid node ID"),
         ({"capacity": "0"}, "cluster.capacity: invalid value 0; allowed values: above 0"),
         ({"capacity": ".inf"}, "cluster.capacity: invalid value inf"),
         ({"advertise_url": "ftp://192.0.2.5"},
          "cluster.advertise_url: invalid advertise_url 'ftp://192.0.2.5': expected the URL"),
         ({"advertise_url": "http://192.0.2.5:0"},
          "cluster.advertise_url: invalid advertise_url 'http://192.0.2.5:0': the port must"),
         ({"lease_ttl": "500ms"},
          "cluster.lease_ttl: invalid duration '500ms'; allowed values: 1s or more"),
         ({"lease_ttl": ".inf"}, "cluster.lease_ttl: invalid duration inf"),
         ({"heartbeat_interval": "0"},
          "cluster.heartbeat_interval: invalid duration 0; allowed values: above 0"),
         ({"lease_margin": "-1"},
          "cluster.lease_margin: invalid duration -1; allowed values: 0s or more"),
         ({"join_delay": "soon"}, "cluster.join_delay: invalid duration 'soon'"),
         ({"failover_bound": "0s"}, "cluster.failover_bound: invalid duration '0s'"),
         ({"local_cache": "maybe"}, "cluster.local_cache: invalid value 'maybe'"),
         ({"lease_tll": "10s"},
          "cluster.lease_tll: unknown key 'lease_tll' (did you mean 'lease_ttl'?)")],
    )  # fmt: skip
    def test_cluster_key_error(self, tmp_path: Path, keys: dict[str, str], expected: str) -> None:
        assert expected in load_errors(tmp_path, cluster_text(**keys))

    @pytest.mark.parametrize(
        ("redis", "expected"),
        [("url: http://127.0.0.1:6379", "cluster.redis.url: invalid url 'http://127.0.0.1:6379'"),
         ("url: redis://127.0.0.1/?socket_timeout=9",
          "cluster.redis.url: invalid url 'redis://127.0.0.1/?socket_timeout=9': remove the "
          "query parameter 'socket_timeout' and set `command_timeout` in this section"),
         ("sentinels: ['::1']", "cluster.redis.sentinels[0]: invalid Sentinel address '::1'"),
         ("sentinels: []", "cluster.redis.sentinels: invalid value (a list); expected at least"),
         ("url: redis://127.0.0.1\nkey_prefix: '{a}'",
          "cluster.redis.key_prefix: invalid key prefix '{a}': use 1 to 64 letters, digits, "
          "'.', '_' or '-' (Redis keys put the prefix between braces as a hash tag"),
         ("url: redis://127.0.0.1\ndb: -1",
          "cluster.redis.db: invalid value -1; allowed values: 0 or more"),
         ("url: redis://127.0.0.1\ncommand_timeout: 2m",
          "cluster.redis.command_timeout: invalid duration '2m'; allowed values: above 0 up to "
          "60s"),
         ("url: redis://127.0.0.1\nservice_name: ''",
          "cluster.redis.service_name: invalid value ''; expected a non-empty string"),
         ("uri: redis://127.0.0.1", "cluster.redis.uri: unknown key 'uri' (did you mean 'url'?)")],
    )  # fmt: skip
    def test_redis_key_error(self, tmp_path: Path, redis: str, expected: str) -> None:
        assert expected in load_errors(tmp_path, cluster_text(redis))

    def test_missing_redis_is_named(self, tmp_path: Path) -> None:
        text = BASE + "cluster:\n  node_id: poller-a\n"

        assert "cluster.redis: missing required key 'redis'" in load_errors(tmp_path, text)

    def test_error_names_file_and_line(self, tmp_path: Path) -> None:
        message = load_errors(tmp_path, cluster_text(lease_ttl="500ms"))

        # BASE has 12 lines; then `cluster:`, `node_id` and `lease_ttl`.
        assert "config.yaml:15: cluster.lease_ttl:" in message

    def test_password_in_url_is_not_shown(self, tmp_path: Path) -> None:
        text = cluster_text(f"url: redis://poller:{REDIS_PASSWORD}@127.0.0.1:6379/0")

        message = load_errors(tmp_path, text)

        assert "cluster.redis.url: invalid url: it contains a password" in message
        assert REDIS_PASSWORD not in message

    def test_retyped_sentinel_password_is_not_shown(self, tmp_path: Path) -> None:
        text = cluster_text("sentinels: ['127.0.0.1']\nservice_name: m\nsentinel_password: 0123")

        message = load_errors(tmp_path, text)

        assert "cluster.redis.sentinel_password: YAML reads this unquoted value" in message
        assert "0123" not in message

    def test_secret_of_wrong_shape_is_not_shown(self, tmp_path: Path) -> None:
        text = cluster_text(f"url: redis://127.0.0.1\npassword: {{value: [{REDIS_PASSWORD}]}}")

        message = load_errors(tmp_path, text)

        assert "cluster.redis.password.value" in message
        assert REDIS_PASSWORD not in message

    @pytest.mark.parametrize("scheme", ["http", "ftp"])
    def test_advertise_url_with_password_is_not_shown(self, tmp_path: Path, scheme: str) -> None:
        text = cluster_text(advertise_url=f"{scheme}://admin:{REDIS_PASSWORD}@192.0.2.5:9161")

        message = load_errors(tmp_path, text)

        assert "cluster.advertise_url: invalid advertise_url: it contains user information" \
            in message
        assert REDIS_PASSWORD not in message


class TestCrossChecks:
    @pytest.mark.parametrize(
        ("keys", "expected"),
        [({"lease_ttl": "10s", "heartbeat_interval": "5s"},
          "cluster.heartbeat_interval: heartbeat_interval 5 s is not shorter than half of "
          "lease_ttl (10 s), so one lost heartbeat lets the node's lease expire; set it below 5 s"),
         ({"lease_ttl": "4s", "lease_margin": "4s"},
          "cluster.lease_margin: lease_margin 4 s is not shorter than lease_ttl 4 s"),
         ({"lease_ttl": "10s", "failover_bound": "10s"},
          "cluster.failover_bound: failover_bound 10 s is not longer than lease_ttl 10 s"),
         ({"failover_bound": "5s"},
          "failover_bound 5 s is not longer than lease_ttl 15 s, but the targets of a failed "
          "node move only after its lease expired; raise it above lease_ttl")],
    )  # fmt: skip
    def test_lease_timing_error(self, tmp_path: Path, keys: dict[str, str],
                                expected: str) -> None:
        assert expected in load_errors(tmp_path, cluster_text(**keys))

    def test_heartbeat_error_has_line_of_key(self, tmp_path: Path) -> None:
        message = load_errors(tmp_path, cluster_text(lease_ttl="10s", heartbeat_interval="6s"))

        assert "config.yaml:16: cluster.heartbeat_interval:" in message

    @pytest.mark.parametrize(
        ("redis", "expected"),
        [("db: 1", "cluster.redis: missing Redis address: set `url` (redis://, rediss:// or "
          "unix://), or `sentinels` with `service_name`"),
         ("url: redis://127.0.0.1\nsentinels: ['127.0.0.1']\nservice_name: m",
          "cluster.redis.sentinels: `url` and `sentinels` are both set"),
         ("sentinels: ['127.0.0.1']",
          "cluster.redis.service_name: missing required key 'service_name': with `sentinels`, "
          "name the master"),
         ("url: redis://127.0.0.1\nservice_name: m",
          "cluster.redis.service_name: `service_name` applies only with `sentinels`"),
         ("url: redis://127.0.0.1\nsentinel_password: {env: X}",
          "cluster.redis.sentinel_password: `sentinel_password` applies only with `sentinels`"),
         ("sentinels: ['127.0.0.1']\nservice_name: m\ncluster: true",
          "cluster.redis.cluster: Redis Cluster does not use Sentinel"),
         ("url: unix:///run/redis.sock\ncluster: true",
          "cluster.redis.cluster: with `cluster: true`, `url` must be a redis:// or rediss:// "
          "address"),
         ("url: redis://127.0.0.1:7000\ncluster: true\ndb: 2",
          "cluster.redis.db: Redis Cluster has only database 0, so db 2 cannot be selected"),
         ("url: redis://127.0.0.1/1\ndb: 2",
          "cluster.redis.db: db 2 differs from database 1 in the url; give the database in one "
          "place"),
         ("url: redis://poller@127.0.0.1\nusername: other",
          "cluster.redis.username: the url contains a user name too")],
    )  # fmt: skip
    def test_redis_relation_error(self, tmp_path: Path, redis: str, expected: str) -> None:
        assert expected in load_errors(tmp_path, cluster_text(redis))

    def test_separator_in_target_name_is_rejected(self, tmp_path: Path) -> None:
        text = cluster_text().replace("name: router-1", 'name: "router\\x1f1"')

        message = load_errors(tmp_path, text)

        assert ("targets[0].name: target name 'router\\x1f1' contains the control character "
                "U+001F") in message

    def test_separator_in_job_name_is_rejected(self, tmp_path: Path) -> None:
        text = cluster_text().replace("  system:", '  "sys\\x1ftem":').replace(
            "jobs: [system]", 'jobs: ["sys\\x1ftem"]')

        message = load_errors(tmp_path, text)

        assert "job name 'sys\\x1ftem' contains the control character U+001F" in message

    def test_separator_without_cluster_is_accepted(self, tmp_path: Path) -> None:
        text = BASE.replace("name: router-1", 'name: "router\\x1f1"')

        assert load(tmp_path, text).targets[0].name == "router\x1f1"

    def test_missing_password_variable_names_it(self, tmp_path: Path) -> None:
        text = cluster_text("url: redis://127.0.0.1\npassword: {env: SNMPD_NG_REDIS_PASSWORD}")

        message = load_errors(tmp_path, text)

        assert ("cluster.redis.password: environment variable SNMPD_NG_REDIS_PASSWORD is not "
                "set") in message

    def test_missing_sentinel_password_file_names_it(self, tmp_path: Path) -> None:
        text = cluster_text("sentinels: ['127.0.0.1']\nservice_name: m\n"
                            "sentinel_password: {file: absent.txt}")

        message = load_errors(tmp_path, text)

        assert "cluster.redis.sentinel_password: cannot read secret file" in message
        assert "absent.txt" in message

    def test_all_errors_are_reported_together(self, tmp_path: Path) -> None:
        text = cluster_text("sentinels: ['127.0.0.1']", heartbeat_interval="9s")

        message = load_errors(tmp_path, text)

        assert "2 errors in the configuration" in message


class TestWarnings:
    def warnings(self, tmp_path: Path, text: str,
                 environ: dict[str, str] | None = None) -> list[str]:
        config = load(tmp_path, text, environ)
        return [warning.format("config.yaml", "warning") for warning in config.warnings]

    def test_short_lease_warns(self, tmp_path: Path) -> None:
        text = cluster_text(lease_ttl="10s", heartbeat_interval="4s")

        (warning,) = self.warnings(tmp_path, text)

        assert warning.startswith("config.yaml:16: warning: cluster.heartbeat_interval: lease_ttl "
                                  "10 s is shorter than 3 heartbeats of 4 s")
        assert "set heartbeat_interval to at most lease_ttl / 3" in warning

    def test_three_heartbeat_lease_is_quiet(self, tmp_path: Path) -> None:
        text = cluster_text(lease_ttl="9s", heartbeat_interval="3s")

        assert self.warnings(tmp_path, text) == []

    def test_long_command_timeout_warns(self, tmp_path: Path) -> None:
        text = cluster_text("url: redis://127.0.0.1\ncommand_timeout: 12s")

        (warning,) = self.warnings(tmp_path, text)

        assert ("cluster.redis.command_timeout: heartbeat_interval (3.75 s) plus "
                "command_timeout (12 s) is not shorter than lease_ttl (15 s)") in warning

    def test_no_node_id_nor_state_dir_warns(self, tmp_path: Path) -> None:
        text = cluster_text().replace("  node_id: poller-a\n", "")

        (warning,) = self.warnings(tmp_path, text)

        assert ("warning: cluster.node_id: neither cluster.node_id nor state_dir is set, so a "
                "generated node ID cannot be kept and the daemon will not start") in warning

    @pytest.mark.parametrize(
        ("extra", "environ"),
        [("state_dir: /var/lib/snmpd-ng\n", {}), ("", {"STATE_DIRECTORY": "/var/lib/snmpd-ng"})],
    )  # fmt: skip
    def test_state_directory_keeps_node_id(self, tmp_path: Path, extra: str,
                                           environ: dict[str, str]) -> None:
        text = extra + cluster_text().replace("  node_id: poller-a\n", "")

        assert self.warnings(tmp_path, text, environ) == []


class TestConfigHash:
    def hash_of(self, tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> str:
        return load_cluster(tmp_path, text, environ).config_hash

    def test_hash_is_16_hex_digits(self, tmp_path: Path) -> None:
        digest = self.hash_of(tmp_path, BASE + MINIMAL_CLUSTER)

        assert len(digest) == 16
        assert int(digest, 16) >= 0

    def test_hash_ignores_order_comments_and_quoting(self, tmp_path: Path) -> None:
        reordered = """\
            # The same config, written another way.
            cluster:
              redis: {url: "redis://127.0.0.1:6379/0"}   # flow style
              node_id: poller-a
            targets:
              - jobs: ["system"]
                credentials: lab
                name: 'router-1'
                address: 127.0.0.1
            jobs:
              system: {scalars: [sysUpTime], interval: 30s}
            credentials: {lab: {community: public}}
            """

        original = self.hash_of(tmp_path, BASE + MINIMAL_CLUSTER)

        assert self.hash_of(tmp_path, reordered) == original

    def test_hash_ignores_node_local_keys(self, tmp_path: Path) -> None:
        other_node = """\
            http: {listen: "0.0.0.0:9262"}
            logging: {level: debug}
            state_dir: /var/lib/other
            cluster:
              node_id: poller-b
              capacity: 4
              advertise_url: http://192.0.2.6:9262
              redis:
                url: unix:///run/redis/redis.sock
            """

        original = self.hash_of(tmp_path, BASE + MINIMAL_CLUSTER)

        assert self.hash_of(tmp_path, BASE + textwrap.dedent(other_node)) == original

    @pytest.mark.parametrize(
        ("old", "new"),
        [("address: 127.0.0.1", "address: 127.0.0.2"), ("interval: 30s", "interval: 31s"),
         ("community: public", "community: private")],
    )  # fmt: skip
    def test_hash_changes_with_shared_key(self, tmp_path: Path, old: str, new: str) -> None:
        text = BASE + MINIMAL_CLUSTER

        original = self.hash_of(tmp_path, text)

        assert self.hash_of(tmp_path, text.replace(old, new)) != original

    def test_hash_changes_with_added_target(self, tmp_path: Path) -> None:
        added = BASE + "  - {address: 127.0.0.3, credentials: lab, jobs: [system]}\n"

        original = self.hash_of(tmp_path, BASE + MINIMAL_CLUSTER)

        assert self.hash_of(tmp_path, added + MINIMAL_CLUSTER) != original

    def test_hash_covers_secret_reference_not_value(self, tmp_path: Path) -> None:
        text = BASE.replace("community: public", "community: {env: COMMUNITY}") + MINIMAL_CLUSTER

        first = self.hash_of(tmp_path, text, {"COMMUNITY": "one"})

        assert self.hash_of(tmp_path, text, {"COMMUNITY": "two"}) == first
        renamed = text.replace("env: COMMUNITY", "env: OTHER")
        assert self.hash_of(tmp_path, renamed, {"OTHER": "one"}) != first

    def test_section_hashes_name_the_changed_section(self) -> None:
        first = config_section_hashes({"jobs": {"a": 1}, "alerting": {"rules": []}})
        second = config_section_hashes({"jobs": {"a": 1}, "alerting": {"rules": ["x"]}})

        assert differing_sections(first, second) == ["alerting"]

    def test_section_hashes_leave_out_node_local_keys(self) -> None:
        hashes = config_section_hashes({"http": {"listen": []}, "jobs": {}})

        assert hashes.startswith("jobs=")
        assert "http" not in hashes

    def test_section_only_on_one_side_differs(self) -> None:
        assert differing_sections("jobs=1", "jobs=1,traps=2") == ["traps"]

    def test_config_hash_handles_yaml_types(self) -> None:
        document = {"jobs": {1: {"at": datetime.date(2024, 1, 1)}, "set": {"b", "a"}},
                    "blob": b"\x00\x01", "number": 1.5, "flag": True, "none": None}

        assert config_hash(document) == config_hash(dict(reversed(document.items())))

    def test_config_hash_tells_number_from_text(self) -> None:
        assert config_hash({"jobs": {"a": 1}}) != config_hash({"jobs": {"a": "1"}})


class TestSecretsStaySecret:
    def test_repr_hides_passwords(self, tmp_path: Path) -> None:
        (tmp_path / "sentinel.txt").write_text(SENTINEL_PASSWORD, encoding="utf-8")

        cluster = load_cluster(tmp_path, BASE + FULL_CLUSTER, full_environ())

        assert REDIS_PASSWORD not in repr(cluster)
        assert SENTINEL_PASSWORD not in repr(cluster)

    def test_hash_ignores_password_value(self, tmp_path: Path) -> None:
        (tmp_path / "sentinel.txt").write_text(SENTINEL_PASSWORD, encoding="utf-8")

        first = load_cluster(tmp_path, BASE + FULL_CLUSTER, full_environ()).config_hash
        other = {"SNMPD_NG_REDIS_PASSWORD": "another-password"}

        assert load_cluster(tmp_path, BASE + FULL_CLUSTER, other).config_hash == first

    def test_empty_password_variable_is_named_not_shown(self, tmp_path: Path) -> None:
        text = cluster_text("url: redis://127.0.0.1\npassword: {env: SNMPD_NG_REDIS_PASSWORD}")

        message = load_errors(tmp_path, text, {"SNMPD_NG_REDIS_PASSWORD": ""})

        assert "environment variable SNMPD_NG_REDIS_PASSWORD is empty" in message


class TestCheckConfig:
    def test_valid_section_exits_0_with_warning(self, tmp_path: Path) -> None:
        text = cluster_text(lease_ttl="10s", heartbeat_interval="4s")

        result = check_config_file(write(tmp_path, text), {})

        assert result.exit_code == 0
        assert "the configuration is valid" in result.stdout
        assert "warning: cluster.heartbeat_interval: lease_ttl 10 s" in result.stderr

    def test_valid_section_summarised(self, tmp_path: Path) -> None:
        text = cluster_text(lease_ttl="10s", heartbeat_interval="2s")

        result = check_config_file(write(tmp_path, text), {})

        assert "cluster: node " in result.stdout
        assert "lease 10 s, heartbeat 2 s, config hash " in result.stdout

    def test_alert_store_summarised_as_redis(self, tmp_path: Path) -> None:
        text = cluster_text(advertise_url="http://127.0.0.1:9161") + ALERTING

        result = check_config_file(write(tmp_path, text), {})

        assert "  store: Redis, shared by the cluster" in result.stdout

    def test_alerting_without_advertise_url_warns(self, tmp_path: Path) -> None:
        result = check_config_file(write(tmp_path, cluster_text() + ALERTING), {})

        assert "cluster.advertise_url: not set, so while this node leads" in result.stderr

    def test_advertise_url_not_needed_without_alerting(self, tmp_path: Path) -> None:
        result = check_config_file(write(tmp_path, cluster_text()), {})

        assert "advertise_url" not in result.stderr

    def test_invalid_section_exits_1(self, tmp_path: Path) -> None:
        text = cluster_text(f"url: redis://:{REDIS_PASSWORD}@127.0.0.1")

        result = check_config_file(write(tmp_path, text), {})

        assert result.exit_code == 1
        assert "cluster.redis.url: invalid url: it contains a password" in result.stderr
        assert REDIS_PASSWORD not in result.stdout + result.stderr

    def test_command_line_reports_cluster_error(self, tmp_path: Path) -> None:
        path = write(tmp_path, cluster_text("sentinels: ['127.0.0.1:26379']"))
        command = [sys.executable, "-m", "snmpd_ng.cli.main", "check-config", str(path)]

        completed = subprocess.run(command, capture_output=True, text=True, timeout=60,
                                   cwd=REPO, check=False)

        assert completed.returncode == 1
        assert "cluster.redis.service_name: missing required key 'service_name'" \
            in completed.stderr


class TestImportOrder:
    """schema.py and config/cluster.py import each other; any first import must work."""

    @pytest.mark.parametrize(
        "module", ["snmpd_ng.config.cluster", "snmpd_ng.config.secret_sources",
                   "snmpd_ng.config.schema_errors", "snmpd_ng.config.schema"],
    )  # fmt: skip
    def test_config_file_is_complete_after_import(self, module: str) -> None:
        program = (
            f"import {module}\n"
            "from snmpd_ng.config.schema import ConfigFile\n"
            "entry = ConfigFile.model_validate({'jobs': {}, 'targets': [],\n"
            "    'cluster': {'redis': {'url': 'redis://127.0.0.1'}}})\n"
            "print(type(entry.cluster).__name__)\n"
        )

        completed = subprocess.run([sys.executable, "-c", program], capture_output=True,
                                   text=True, timeout=60, cwd=REPO, check=False,
                                   env={**os.environ, "PYTHONPATH": str(REPO)})

        assert completed.stderr == ""
        assert completed.stdout == "ClusterEntry\n"


def test_docs_cluster_example_is_valid(tmp_path: Path) -> None:
    docs = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    section = docs.split("### `cluster`\n", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]

    config = load(tmp_path, BASE + example, full_environ())

    assert config.cluster is not None
    assert config.cluster.redis.password == Secret(REDIS_PASSWORD)
