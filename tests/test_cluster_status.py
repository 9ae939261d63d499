"""Tests of the cluster status reader, its text and `snmpd-ng cluster status`, on a real Redis.

Each test fills the keys of its own prefix by hand, as snmpd_ng.cluster.keys describes them,
with times taken from Redis's own clock, so no test waits.
"""

from __future__ import annotations

import io
import json
import textwrap
import types
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redisfix import RedisServer, free_tcp_port

from snmpd_ng.cli import cluster as cli
from snmpd_ng.cli.main import main
from snmpd_ng.clock import LoopClock
from snmpd_ng.cluster.assignment import assign
from snmpd_ng.cluster.keys import Keys
from snmpd_ng.cluster.node import ClusterNode
from snmpd_ng.cluster.settings import ClusterSettings, RedisSettings
from snmpd_ng.cluster.status import ClusterStatus, FailoverEvent, MemberStatus
from snmpd_ng.cluster.status_reader import (
    FIRST_EVENTS,
    MAX_UNLEASED_NAMES,
    MGET_CHUNK,
    format_status,
    read_status,
)

REDIS_DESCRIPTION = "redis://127.0.0.1:6379/0"
"""A placeholder `redis` argument; read_status only copies it into the status."""
JOIN_DELAY = 5.0
TIME_TOLERANCE = 0.5
"""Seconds Redis's clock may advance between filling the keys and reading them."""


class Cluster:
    """One test's keys in the session's Redis, and helpers that write them as a node would."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self.client = client
        self.keys = Keys(prefix)

    async def now_ms(self) -> int:
        seconds, microseconds = await self.client.time()
        return int(seconds) * 1000 + int(microseconds) // 1000

    async def add_member(self, node: str, lease_expiry_ms: int,
                         fields: Mapping[str, str | bytes] | None = None) -> None:
        await self.client.zadd(self.keys.members, {node: lease_expiry_ms})
        if fields:
            await self.client.hset(self.keys.member(node), mapping=dict[Any, Any](fields))

    async def add_healthy_member(self, node: str, now_ms: int, *, joined_ago_ms: int = 60_000,
                                 capacity: str = "1.0", config_hash: str = "h1") -> None:
        await self.add_member(node, now_ms + 10_000, member_fields(
            node, joined_ms=now_ms - joined_ago_ms, heartbeat_ms=now_ms - 1_000,
            capacity=capacity, config_hash=config_hash))

    async def lease(self, target: str, value: str | bytes) -> None:
        await self.client.set(self.keys.lease(target), value, px=10_000)

    async def event(self, kind: str, node: str, at_ms: int, targets: int = 0) -> bytes:
        entry_id = await self.client.xadd(
            self.keys.events, {"kind": kind, "node": node, "at_ms": at_ms, "targets": targets})
        assert isinstance(entry_id, bytes)
        return entry_id

    async def read(self, targets: list[str], *, join_delay: float = JOIN_DELAY,
                   **options: object) -> ClusterStatus:
        return await read_status(self.client, self.keys, redis=REDIS_DESCRIPTION,
                                 targets=targets, join_delay=join_delay,
                                 **options)  # type: ignore[arg-type]


def member_fields(node: str, *, joined_ms: int, heartbeat_ms: int, capacity: str = "1.0",
                  config_hash: str = "h1") -> dict[str, str | bytes]:
    return {"node_id": node, "address": f"http://{node}.example:9161", "capacity": capacity,
            "version": "1.2.3", "config_hash": config_hash, "joined_ms": str(joined_ms),
            "heartbeat_ms": str(heartbeat_ms), "owned": "0", "polls_total": "120",
            "poll_errors_total": "7", "targets_up": "3", "heartbeat_rtt_ms": "0.4"}


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
def cluster(redis_client: Redis) -> Cluster:
    return Cluster(redis_client, f"status-test-{uuid.uuid4().hex[:12]}")


def by_id(status: ClusterStatus) -> dict[str, MemberStatus]:
    return {member.node_id: member for member in status.members}


TARGETS = ["t1", "t2", "t3", "t4", "t5"]


@pytest.fixture
async def filled(cluster: Cluster) -> tuple[Cluster, int]:
    """node-a (old, leader), node-b (joined 1 s ago), node-c (lease expired); leases; events."""
    now = await cluster.now_ms()
    await cluster.add_member("node-a", now + 10_000, member_fields(
        "node-a", joined_ms=now - 60_000, heartbeat_ms=now - 1_500, capacity="2.0"))
    await cluster.add_member("node-b", now + 8_000, member_fields(
        "node-b", joined_ms=now - 1_000, heartbeat_ms=now - 1_000, config_hash="h2"))
    await cluster.add_member("node-c", now - 1_000, member_fields(
        "node-c", joined_ms=now - 90_000, heartbeat_ms=now - 11_000))
    await cluster.client.set(cluster.keys.leader, "node-a", px=10_000)
    await cluster.lease("t1", "node-a 1")
    await cluster.lease("t2", "node-a 4")
    await cluster.lease("t3", "node-b 2")
    await cluster.lease("t4", "node-c 7")
    await cluster.event("join", "node-c", now - 90_000)
    await cluster.event("expire", "node-c", now - 30_000, targets=4)
    await cluster.event("join", "node-b", now - 1_000)
    return cluster, now


class TestReadStatus:
    async def test_lists_only_members_with_live_lease(self, filled: tuple[Cluster, int]) -> None:
        cluster, _ = filled

        status = await cluster.read(TARGETS)

        assert [member.node_id for member in status.members] == ["node-a", "node-b"]

    async def test_member_fields_from_hash(self, filled: tuple[Cluster, int]) -> None:
        cluster, now = filled

        member = by_id(await cluster.read(TARGETS))["node-a"]

        assert member.address == "http://node-a.example:9161"
        assert member.capacity == 2.0
        assert member.version == "1.2.3"
        assert member.config_hash == "h1"
        assert member.joined_at == (now - 60_000) / 1000
        assert member.heartbeat_age == pytest.approx(1.5, abs=TIME_TOLERANCE)
        assert member.lease_expires_in == pytest.approx(10.0, abs=TIME_TOLERANCE)
        assert member.polls_total == 120
        assert member.poll_errors_total == 7
        assert member.targets_up == 3

    async def test_old_member_eligible_new_one_not(self, filled: tuple[Cluster, int]) -> None:
        cluster, _ = filled

        members = by_id(await cluster.read(TARGETS))

        assert members["node-a"].eligible
        assert not members["node-b"].eligible

    async def test_only_eligible_member_assigned_all(self, filled: tuple[Cluster, int]) -> None:
        cluster, _ = filled

        members = by_id(await cluster.read(TARGETS))

        assert members["node-a"].assigned == len(TARGETS)
        assert members["node-b"].assigned == 0

    async def test_counts_leases_per_member(self, filled: tuple[Cluster, int]) -> None:
        cluster, _ = filled

        members = by_id(await cluster.read(TARGETS))

        assert members["node-a"].leases_held == 2
        assert members["node-b"].leases_held == 1

    async def test_marks_leader(self, filled: tuple[Cluster, int]) -> None:
        cluster, _ = filled

        status = await cluster.read(TARGETS)

        assert status.leader == "node-a"
        assert by_id(status)["node-a"].is_leader
        assert not by_id(status)["node-b"].is_leader

    async def test_config_matches_majority_by_default(self,
                                                      filled: tuple[Cluster, int]) -> None:
        cluster, now = filled
        await cluster.add_healthy_member("node-d", now, config_hash="h1")

        members = by_id(await cluster.read(TARGETS))

        assert members["node-a"].config_matches
        assert members["node-d"].config_matches
        assert not members["node-b"].config_matches

    async def test_config_matches_given_hash(self, filled: tuple[Cluster, int]) -> None:
        cluster, _ = filled

        members = by_id(await cluster.read(TARGETS, config_hash="h2"))

        assert not members["node-a"].config_matches
        assert members["node-b"].config_matches

    async def test_config_tie_goes_to_leader(self, filled: tuple[Cluster, int]) -> None:
        cluster, _ = filled
        await cluster.client.set(cluster.keys.leader, "node-b", px=10_000)

        members = by_id(await cluster.read(TARGETS))

        assert members["node-b"].config_matches
        assert not members["node-a"].config_matches

    async def test_targets_and_unleased(self, filled: tuple[Cluster, int]) -> None:
        cluster, _ = filled

        status = await cluster.read(TARGETS)

        assert status.targets == 5
        # t4's lease names node-c, which is dead, but the lease has not expired yet.
        assert status.unleased == ("t5",)

    async def test_last_change_is_newest_event(self, filled: tuple[Cluster, int]) -> None:
        cluster, now = filled

        status = await cluster.read(TARGETS)

        assert status.last_change == FailoverEvent("join", "node-b", (now - 1_000) / 1000, 0)

    async def test_last_expiry_is_newest_expire(self, filled: tuple[Cluster, int]) -> None:
        cluster, now = filled

        status = await cluster.read(TARGETS)

        assert status.last_expiry == FailoverEvent("expire", "node-c", (now - 30_000) / 1000, 4)

    async def test_reader_identity_copied(self, filled: tuple[Cluster, int]) -> None:
        cluster, _ = filled

        status = await cluster.read(TARGETS, self_id="node-a", fenced=True)

        assert status.prefix == cluster.keys.prefix
        assert status.redis == REDIS_DESCRIPTION
        assert status.node_id == "node-a"
        assert status.fenced

    async def test_cli_reading_has_no_identity(self, filled: tuple[Cluster, int]) -> None:
        cluster, _ = filled

        status = await cluster.read(TARGETS)

        assert status.node_id is None
        assert not status.fenced

    async def test_empty_cluster(self, cluster: Cluster) -> None:
        status = await cluster.read(TARGETS)

        assert status.members == ()
        assert status.leader is None
        assert status.unleased == tuple(TARGETS)
        assert status.last_change is None
        assert status.last_expiry is None


class TestWithNodes:
    async def test_reads_what_nodes_wrote(self, cluster: Cluster,
                                          redis_server: RedisServer) -> None:
        targets = [f"router-{index:02d}" for index in range(30)]
        settings = ClusterSettings(
            redis=RedisSettings(url=redis_server.url, key_prefix=cluster.keys.prefix),
            capacity=1.0, lease_ttl=5.0, join_delay=0.0, config_hash="same")
        nodes = [ClusterNode(settings, node_id=node_id, targets=targets, client=cluster.client,
                             clock=LoopClock()) for node_id in ("a", "b")]
        for node in [*nodes, *nodes]:  # The second round settles the leases.
            await node.beat()

        status = await cluster.read(targets, join_delay=0.0)

        members = by_id(status)
        for node in nodes:
            assert members[node.node_id].assigned == len(node.owned())
            assert members[node.node_id].leases_held == len(node.owned())
            assert members[node.node_id].eligible
            assert members[node.node_id].config_matches
        assert status.leader == "a"
        assert status.unleased == ()
        assert status.last_change is not None
        assert (status.last_change.kind, status.last_change.node_id) == ("join", "b")


class TestAssignment:
    async def test_assigned_follows_rendezvous(self, cluster: Cluster) -> None:
        now = await cluster.now_ms()
        await cluster.add_healthy_member("node-a", now, capacity="1")
        await cluster.add_healthy_member("node-b", now, capacity="3")
        targets = [f"target-{index}" for index in range(40)]

        members = by_id(await cluster.read(targets))

        expected = Counter(assign(targets, [("node-a", 1.0), ("node-b", 3.0)]).values())
        assert members["node-a"].assigned == expected["node-a"]
        assert members["node-b"].assigned == expected["node-b"]
        assert members["node-a"].assigned + members["node-b"].assigned == 40

    async def test_all_eligible_while_none_old_enough(self, cluster: Cluster) -> None:
        now = await cluster.now_ms()
        await cluster.add_healthy_member("node-a", now, joined_ago_ms=100)
        await cluster.add_healthy_member("node-b", now, joined_ago_ms=200)

        members = by_id(await cluster.read(TARGETS))

        assert members["node-a"].eligible
        assert members["node-b"].eligible
        assert members["node-a"].assigned + members["node-b"].assigned == len(TARGETS)

    async def test_lease_keys_read_in_chunks(self, cluster: Cluster) -> None:
        now = await cluster.now_ms()
        await cluster.add_healthy_member("node-a", now)
        targets = [f"target-{index}" for index in range(2 * MGET_CHUNK + 200)]
        leased = targets[::3]
        for target in leased:
            await cluster.lease(target, "node-a 1")

        status = await cluster.read(targets)

        assert by_id(status)["node-a"].leases_held == len(leased)
        assert status.unleased == tuple(t for t in targets if t not in leased)[
            :MAX_UNLEASED_NAMES]

    async def test_unleased_names_capped(self, cluster: Cluster) -> None:
        targets = [f"target-{index}" for index in range(MAX_UNLEASED_NAMES + 10)]

        status = await cluster.read(targets)

        assert status.unleased == tuple(targets[:MAX_UNLEASED_NAMES])
        assert status.targets == MAX_UNLEASED_NAMES + 10

    async def test_unleased_count_not_capped(self, cluster: Cluster) -> None:
        targets = [f"target-{index}" for index in range(MAX_UNLEASED_NAMES + 10)]

        status = await cluster.read(targets)

        assert status.unleased_count == MAX_UNLEASED_NAMES + 10


class TestMalformedData:
    async def test_bad_fields_take_defaults(self, cluster: Cluster) -> None:
        now = await cluster.now_ms()
        await cluster.add_healthy_member("node-a", now)
        await cluster.add_member("node-x", now + 10_000, {
            "address": b"\xff\xfehost", "capacity": "abc", "joined_ms": "soon",
            "heartbeat_ms": "nan", "polls_total": "-3", "poll_errors_total": "1e400",
            "targets_up": "many"})

        member = by_id(await cluster.read(TARGETS))["node-x"]

        assert member.address == "\ufffd\ufffdhost"
        assert member.capacity == 1.0
        assert member.joined_at == pytest.approx(now / 1000, abs=TIME_TOLERANCE)
        assert not member.eligible
        assert member.heartbeat_age == pytest.approx(0.0, abs=TIME_TOLERANCE)
        assert member.polls_total == 0
        assert member.poll_errors_total == 0
        assert member.targets_up == 0

    async def test_non_positive_capacity_is_one(self, cluster: Cluster) -> None:
        now = await cluster.now_ms()
        await cluster.add_healthy_member("node-a", now, capacity="-2")
        await cluster.add_healthy_member("node-b", now, capacity="0")

        members = by_id(await cluster.read(TARGETS))

        assert members["node-a"].capacity == 1.0
        assert members["node-b"].capacity == 1.0

    async def test_missing_hash_lists_member(self, cluster: Cluster) -> None:
        now = await cluster.now_ms()
        await cluster.add_member("node-x", now + 10_000)

        member = by_id(await cluster.read(TARGETS))["node-x"]

        assert member.address == ""
        assert member.version == ""
        assert member.config_hash == ""
        assert member.lease_expires_in == pytest.approx(10.0, abs=TIME_TOLERANCE)

    async def test_member_key_of_wrong_type(self, cluster: Cluster) -> None:
        now = await cluster.now_ms()
        await cluster.add_member("node-x", now + 10_000)
        await cluster.client.set(cluster.keys.member("node-x"), "not a hash")

        status = await cluster.read(TARGETS)

        assert [member.node_id for member in status.members] == ["node-x"]
        assert status.members[0].capacity == 1.0

    async def test_lease_value_without_token(self, cluster: Cluster) -> None:
        now = await cluster.now_ms()
        await cluster.add_healthy_member("node-a", now)
        await cluster.lease("t1", "node-a")
        await cluster.lease("t2", b"\xffnode 3")

        status = await cluster.read(TARGETS)

        assert by_id(status)["node-a"].leases_held == 1
        assert status.unleased == ("t3", "t4", "t5")

    async def test_event_fields_take_defaults(self, cluster: Cluster) -> None:
        entry_id = await cluster.client.xadd(cluster.keys.events,
                                             {"at_ms": "yesterday", "targets": "many"})
        assert isinstance(entry_id, bytes)

        event = (await cluster.read(TARGETS)).last_change

        assert event == FailoverEvent("unknown", "unknown",
                                      int(entry_id.split(b"-")[0]) / 1000, 0)


class TestEventSearch:
    async def test_finds_expiry_beyond_first_page(self, cluster: Cluster) -> None:
        now = await cluster.now_ms()
        await cluster.event("expire", "node-old", now - 50_000, targets=9)
        for index in range(FIRST_EVENTS + 50):
            await cluster.event("join", f"node-{index}", now)

        status = await cluster.read(TARGETS)

        assert status.last_expiry == FailoverEvent("expire", "node-old", (now - 50_000) / 1000, 9)

    async def test_no_expiry_in_full_first_page(self, cluster: Cluster) -> None:
        now = await cluster.now_ms()
        for index in range(FIRST_EVENTS):
            await cluster.event("join", f"node-{index}", now)

        status = await cluster.read(TARGETS)

        assert status.last_expiry is None
        assert status.last_change is not None


# Text output

AT = 1_714_996_800.0
"""2024-05-06T12:00:00Z"""


def sample_member(node_id: str, **changes: object) -> MemberStatus:
    fields: dict[str, object] = {
        "node_id": node_id, "address": f"http://{node_id}:9161", "capacity": 1.0,
        "version": "1.2.3", "config_hash": "h1", "config_matches": True, "joined_at": AT,
        "heartbeat_age": 0.42, "lease_expires_in": 9.5, "eligible": True, "assigned": 3,
        "leases_held": 3, "is_leader": False, "polls_total": 10, "poll_errors_total": 0,
        "targets_up": 3}
    fields.update(changes)
    return MemberStatus(**fields)  # type: ignore[arg-type]


def sample_status(**changes: object) -> ClusterStatus:
    fields: dict[str, object] = {
        "prefix": "snmpd-ng", "redis": "redis://127.0.0.1:6379/0", "leader": "node-a",
        "members": (sample_member("node-a", is_leader=True, capacity=2.0),
                    sample_member("node-b", eligible=False, assigned=0, leases_held=1,
                                  config_matches=False, heartbeat_age=12.25)),
        "targets": 4, "unleased": ("core1",),
        "last_change": FailoverEvent("join", "node-b", AT - 12, 0),
        "last_expiry": FailoverEvent("expire", "node-c", AT - 75, 4)}
    fields.update(changes)
    return ClusterStatus(**fields)  # type: ignore[arg-type]


class TestFormatStatus:
    def test_whole_text(self) -> None:
        text = format_status(sample_status(), now=AT)

        assert text == textwrap.dedent("""\
            Cluster 'snmpd-ng' on Redis redis://127.0.0.1:6379/0
            Leader: node-a

            NODE    ADDRESS             CAPACITY  ELIGIBLE  ASSIGNED  LEASES  HEARTBEAT   CONFIG   LEADER
            node-a  http://node-a:9161  2         yes       3         3       0.4 s ago   same     yes
            node-b  http://node-b:9161  1         no        0         1       12.2 s ago  differs  -

            Targets: 4 configured, 1 unleased: core1
            Last change: join of node-b at 2024-05-06T11:59:48Z (12 s ago)
            Last expiry: expire of node-c at 2024-05-06T11:58:45Z (75 s ago), which held 4 target leases
            """)  # noqa: E501

    def test_answering_node_and_fenced(self) -> None:
        text = format_status(sample_status(node_id="node-a", fenced=True), now=AT)

        assert "Cluster 'snmpd-ng' on Redis redis://127.0.0.1:6379/0, as seen by node-a\n" in text
        assert "WARNING: node-a lost Redis and stopped polling (self-fenced)" in text

    def test_no_members_no_events(self) -> None:
        status = sample_status(leader=None, members=(), unleased=(), last_change=None,
                               last_expiry=None)

        text = format_status(status, now=AT)

        assert "Leader: none\n" in text
        assert "\nNo live members.\n" in text
        assert "Targets: 4 configured, every one leased\n" in text
        assert "Last change: none recorded\n" in text
        assert "Last expiry: none recorded\n" in text

    def test_capped_unleased_list(self) -> None:
        names = tuple(f"t{index}" for index in range(MAX_UNLEASED_NAMES))

        text = format_status(sample_status(targets=100, unleased=names, unleased_count=37),
                             now=AT)

        assert "Targets: 100 configured, 37 unleased, among them: t0, t1," in text


# The command line

def settings_for(url: str, prefix: str) -> ClusterSettings:
    return ClusterSettings(redis=RedisSettings(url=url, key_prefix=prefix, connect_timeout=0.5,
                                               command_timeout=0.5))


class TestClusterStatusCommand:
    async def test_prints_table(self, filled: tuple[Cluster, int],
                                redis_server: RedisServer) -> None:
        cluster, _ = filled
        out, err = io.StringIO(), io.StringIO()

        code = await cli.cluster_status_command(
            settings_for(redis_server.url, cluster.keys.prefix), TARGETS, False, out=out, err=err)

        assert code == 0
        assert err.getvalue() == ""
        lines = out.getvalue().splitlines()
        assert lines[0] == f"Cluster {cluster.keys.prefix!r} on Redis {redis_server.url}"
        assert lines[3].split()[0] == "NODE"
        # The heartbeat age between them depends on how fast the test ran.
        assert lines[4].split()[:6] == ["node-a", "http://node-a.example:9161", "2", "yes", "5",
                                        "2"]
        assert lines[4].split()[-2:] == ["same", "yes"]
        assert "Targets: 5 configured, 1 unleased: t5" in lines

    async def test_prints_json(self, filled: tuple[Cluster, int],
                               redis_server: RedisServer) -> None:
        cluster, now = filled
        out, err = io.StringIO(), io.StringIO()

        code = await cli.cluster_status_command(
            settings_for(redis_server.url, cluster.keys.prefix), TARGETS, True, out=out, err=err)

        assert code == 0
        document = json.loads(out.getvalue())
        assert document["leader"] == "node-a"
        assert [member["node_id"] for member in document["members"]] == ["node-a", "node-b"]
        assert document["members"][0]["leases_held"] == 2
        assert document["unleased"] == ["t5"]
        assert document["last_expiry"] == {"kind": "expire", "node_id": "node-c",
                                           "at": (now - 30_000) / 1000, "targets": 4}
        assert document["node_id"] is None

    async def test_unreachable_redis_exits_1(self) -> None:
        url = f"redis://127.0.0.1:{free_tcp_port()}/0"
        out, err = io.StringIO(), io.StringIO()

        code = await cli.cluster_status_command(settings_for(url, "any"), TARGETS, False,
                                                out=out, err=err)

        assert code == 1
        assert out.getvalue() == ""
        assert err.getvalue().startswith(
            f"snmpd-ng cluster status: cannot connect to Redis at {url} (")
        assert "check that Redis runs there" in err.getvalue()


MINIMAL_CONFIG = """\
credentials:
  lab:
    community: lab-community-5e1d
jobs:
  system:
    interval: 30s
    scalars: [sysUpTime]
targets:
  - name: core1
    address: 127.0.0.1
    credentials: lab
    jobs: [system]
"""


class TestClusterCli:
    def test_config_without_cluster_exits_1(self, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
        path = tmp_path / "config.yaml"
        path.write_text(MINIMAL_CONFIG)

        code = main(["cluster", "status", "-c", str(path)])

        assert code == 1
        assert capsys.readouterr().err == (
            f"snmpd-ng cluster status: {path} has no cluster: section, so this daemon runs "
            "alone and there is no cluster to show; add a cluster: section with the Redis "
            "address to enable cluster mode\n")

    def test_unreadable_config_exits_1(self, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
        path = tmp_path / "missing.yaml"

        code = main(["cluster", "status", "--config", str(path)])

        assert code == 1
        assert str(path) in capsys.readouterr().err

    def test_missing_config_option_is_usage_error(
            self, capsys: pytest.CaptureFixture[str]) -> None:
        code = main(["cluster", "status"])

        assert code == 2
        assert "-c/--config" in capsys.readouterr().err

    def test_reads_cluster_section(self, filled: tuple[Cluster, int], redis_server: RedisServer,
                                   monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
        # Stands in for the loader until DaemonConfig has its cluster section.
        cluster, _ = filled
        config = types.SimpleNamespace(
            targets=[types.SimpleNamespace(name=name) for name in TARGETS],
            cluster=settings_for(redis_server.url, cluster.keys.prefix))
        monkeypatch.setattr(cli, "load_config", lambda path: config)

        code = main(["cluster", "status", "-c", "cluster.yaml", "--json"])

        assert code == 0
        assert json.loads(capsys.readouterr().out)["targets"] == len(TARGETS)
