"""Tests of the manager's SNMPv3 against net-snmp's snmpd, checked with net-snmp's own tools.

The user matrix of tests/v3agent.py (every security level and protocol pair net-snmp 5.9.3
supports) is polled concurrently on one Manager, and each user's values are compared with what
snmpget and snmpbulkwalk return for the same user. The failure cases run concurrently too, with
short timeouts, so the module stays fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import pytest
import structlog
from fakeagent import LOOPS, run_async
from test_manager_netsnmp import netsnmp_text, netsnmp_walk, normalise_netsnmp
from v3agent import (
    FEW_USERS,
    USERS,
    WRONG_AUTH_PASSPHRASE,
    WRONG_PRIV_PASSPHRASE,
    RestartableV3Agent,
    V3Agent,
    V3User,
    netsnmp_args,
    user_by_name,
)

from snmpd_ng.manager import (
    AuthProtocol,
    Manager,
    PrivacyMismatchError,
    PrivProtocol,
    SecurityLevel,
    Target,
    UnknownContextError,
    UnknownUserNameError,
    UsmUser,
    WalkResult,
    WrongDigestError,
)
from snmpd_ng.protocol.message import SnmpVersion
from snmpd_ng.protocol.oid import format_oid
from snmpd_ng.protocol.values import OctetString, VarBind
from snmpd_ng.secret import Secret

SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
SYS_OBJECT_ID = (1, 3, 6, 1, 2, 1, 1, 2, 0)
SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
SCALARS = (SYS_DESCR, SYS_OBJECT_ID, SYS_NAME)
SYSTEM = (1, 3, 6, 1, 2, 1, 1)
IF_TABLE = (1, 3, 6, 1, 2, 1, 2, 2)
# snmpUnknownContexts.0 (SNMP-TARGET-MIB), the agent's count of requests for unknown contexts.
SNMP_UNKNOWN_CONTEXTS = (1, 3, 6, 1, 6, 3, 12, 1, 5, 0)

# Seconds per attempt of requests that are meant to fail. snmpd's Responses over loopback took
# under 5 ms here (TargetStats.last_rtt), so this leaves a wide margin.
SHORT = 0.3

by_user = pytest.mark.parametrize("user", USERS, ids=lambda user: user.name)


def target_for(agent: V3Agent, usm: UsmUser, **fields: Any) -> Target:
    settings: dict[str, Any] = {"timeout": 1.0, "retries": 2, "name": usm.name, **fields}
    return Target(agent.host, agent.port, version=SnmpVersion.V3, usm=usm, **settings)


async def with_manager(action: Callable[[Manager], Coroutine[Any, Any, Any]]) -> Any:
    async with Manager() as manager:
        return await action(manager)


async def outcome(awaitable: Coroutine[Any, Any, Any]) -> Any:
    """Return the awaitable's result, or the exception it raised, so that one failure in a
    gather does not hide the others."""
    try:
        return await awaitable
    except Exception as exc:  # the tests check which one
        return exc


# ---------------------------------------------------------------------------------------------
# Every matrix user against net-snmp's tools


@dataclass
class Snapshot:
    """One user's view of the agent: a GET of SCALARS and walks of the system group and ifTable,
    by dotted OID and net-snmp's value text (or our varbinds)."""

    get: Any
    system: Any
    if_table: Any


def netsnmp_snapshot(agent: V3Agent, user: V3User) -> Snapshot:
    args = netsnmp_args(user)
    return Snapshot(
        get=netsnmp_walk(agent.snmpd, "snmpget", *args, "-On",
                         *(format_oid(oid) for oid in SCALARS)),
        system=netsnmp_walk(agent.snmpd, "snmpbulkwalk", *args, "-On", format_oid(SYSTEM)),
        if_table=netsnmp_walk(agent.snmpd, "snmpbulkwalk", *args, "-On", format_oid(IF_TABLE)),
    )


def netsnmp_snapshots(agent: V3Agent) -> dict[str, Snapshot]:
    """Run net-snmp's tools for every user, four at a time (each is a process)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        snapshots = pool.map(lambda user: netsnmp_snapshot(agent, user), USERS)
        return {user.name: snapshot for user, snapshot in zip(USERS, snapshots, strict=True)}


async def our_snapshot(manager: Manager, target: Target) -> Snapshot:
    get, system, if_table = await asyncio.gather(
        outcome(manager.get(target, list(SCALARS))),
        outcome(manager.walk_all(target, SYSTEM)),
        outcome(manager.walk_all(target, IF_TABLE)))
    return Snapshot(get, system, if_table)


async def our_snapshots(agent: V3Agent) -> dict[str, Snapshot]:
    """Poll every user at once on one Manager."""
    async with Manager() as manager:
        targets = [target_for(agent, user.usm_user()) for user in USERS]
        snapshots = await asyncio.gather(*(our_snapshot(manager, target) for target in targets))
        return {user.name: snapshot for user, snapshot in zip(USERS, snapshots, strict=True)}


@dataclass
class MatrixRun:
    before: dict[str, Snapshot]
    ours: dict[str, Snapshot]
    after: dict[str, Snapshot]

    def part(self, user: V3User, name: str,
             ) -> tuple[dict[str, str], list[VarBind], dict[str, str]]:
        """Return one part ("get", "system" or "if_table") of a user's snapshots: net-snmp's
        before ours, ours, and net-snmp's after."""
        ours = varbinds_of(getattr(self.ours[user.name], name))
        return getattr(self.before[user.name], name), ours, getattr(self.after[user.name], name)


@pytest.fixture(scope="module")
def matrix(snmpd_v3_agent: V3Agent) -> MatrixRun:
    """net-snmp's view of every user, ours on uvloop's loop (the daemon's), then net-snmp's again.

    Values that differ between the two net-snmp runs (sysUpTime, the loopback interface's
    counters) are left out of the comparison.
    """
    before = netsnmp_snapshots(snmpd_v3_agent)
    ours = run_async("uvloop", our_snapshots(snmpd_v3_agent))
    after = netsnmp_snapshots(snmpd_v3_agent)
    return MatrixRun(before, ours, after)


def varbinds_of(result: Any) -> list[VarBind]:
    """Return the varbinds of a GET or walk, or fail the test with its error."""
    if isinstance(result, Exception):
        pytest.fail(f"the request failed: {result!r}")
    return result.varbinds if isinstance(result, WalkResult) else list(result)


def compare(before: dict[str, str], ours: list[VarBind], after: dict[str, str],
            ) -> tuple[int, list[tuple[str, str, str]]]:
    """Compare our values with net-snmp's where net-snmp's did not change between its runs.

    Returns how many values were compared, and the (oid, net-snmp text, ours) that differ.
    """
    found = {format_oid(varbind.oid): varbind.value for varbind in ours}
    compared, different = 0, []
    for oid, text in before.items():
        expected = normalise_netsnmp(text)
        actual = netsnmp_text(found[oid]) if oid in found else None
        if after.get(oid) != text or expected is None or actual is None:
            continue
        compared += 1
        if actual != expected:
            different.append((oid, text, actual))
    return compared, different


class TestUserMatrix:
    @by_user
    def test_get_matches_snmpget(self, matrix: MatrixRun, user: V3User) -> None:
        before, ours, after = matrix.part(user, "get")
        assert [format_oid(varbind.oid) for varbind in ours] == list(before)
        compared, different = compare(before, ours, after)
        assert compared == len(SCALARS)
        assert different == []

    @by_user
    def test_system_walk_matches_snmpbulkwalk(self, matrix: MatrixRun, user: V3User) -> None:
        before, ours, after = matrix.part(user, "system")
        assert [format_oid(varbind.oid) for varbind in ours] == list(before)
        compared, different = compare(before, ours, after)
        # Every value but sysUpTime.0, which moves between the runs.
        assert compared >= len(before) - 1
        assert different == []

    @by_user
    def test_if_table_walk_matches_snmpbulkwalk(self, matrix: MatrixRun, user: V3User) -> None:
        before, ours, after = matrix.part(user, "if_table")
        assert [format_oid(varbind.oid) for varbind in ours] == list(before)
        compared, different = compare(before, ours, after)
        # ifIndex, ifDescr, ifType, ifMtu, ifSpeed and more stay; traffic counters move.
        assert compared >= 5
        assert different == []

    def test_walks_are_complete(self, matrix: MatrixRun) -> None:
        walks = [(name, walk) for name, snapshot in matrix.ours.items()
                 for walk in (snapshot.system, snapshot.if_table)]
        incomplete = [name for name, walk in walks
                      if not isinstance(walk, WalkResult) or not walk.complete]
        assert incomplete == []


# ---------------------------------------------------------------------------------------------
# Failures, all run at once


def wrong_auth(user: V3User) -> UsmUser:
    return replace(user.usm_user(), auth_key=Secret(WRONG_AUTH_PASSPHRASE))


def wrong_priv(user: V3User) -> UsmUser:
    return replace(user.usm_user(), priv_key=Secret(WRONG_PRIV_PASSPHRASE))


def other_variant(user: V3User) -> UsmUser:
    """Return the user with the other AES-192/256 key extension (Blumenthal against Reeder)."""
    swapped = {
        PrivProtocol.AES192: PrivProtocol.AES192C,
        PrivProtocol.AES256: PrivProtocol.AES256C,
        PrivProtocol.AES192C: PrivProtocol.AES192,
        PrivProtocol.AES256C: PrivProtocol.AES256,
    }
    assert user.priv_protocol is not None
    return replace(user.usm_user(), priv_protocol=swapped[user.priv_protocol])


AUTH_USERS = [user for user in USERS if user.level is SecurityLevel.AUTH_NO_PRIV]
WRONG_PRIV_USERS = [user_by_name(name) for name in (
    "priv_md5_des", "priv_sha_aes", "priv_sha512_aes256", "priv_sha_aes256c")]
# Users whose AES-192/256 key is longer than the localised key, so the Blumenthal and Reeder
# extensions make different keys: MD5 (16 octets) and SHA-1 (20) with both, SHA-224 (28) with
# AES-256 (32).
VARIANT_DIFFERS = [user_by_name(name) for name in (
    "priv_md5_aes192", "priv_md5_aes256", "priv_sha_aes192", "priv_sha_aes256",
    "priv_sha224_aes256", "priv_md5_aes192c", "priv_md5_aes256c", "priv_sha_aes192c",
    "priv_sha_aes256c", "priv_sha224_aes256c")]
# Users whose localised key already has the octets the cipher needs: no extension runs, so both
# variants make the same key.
VARIANT_SAME = [user_by_name(name) for name in (
    "priv_sha224_aes192", "priv_sha224_aes192c", "priv_sha256_aes192", "priv_sha256_aes256",
    "priv_sha384_aes192", "priv_sha384_aes256", "priv_sha512_aes192", "priv_sha512_aes256")]


def failure_cases() -> dict[str, UsmUser]:
    """Return the users of the failure cases, by case name."""
    cases = {f"wrong_auth-{user.name}": wrong_auth(user) for user in AUTH_USERS}
    cases["wrong_auth-priv_sha256_aes"] = wrong_auth(user_by_name("priv_sha256_aes"))
    cases["unknown_user"] = UsmUser("stranger")
    cases["unknown_user-auth"] = UsmUser("stranger", AuthProtocol.SHA, Secret("stranger-pass"))
    cases |= {f"wrong_priv-{user.name}": wrong_priv(user) for user in WRONG_PRIV_USERS}
    cases |= {f"variant-{user.name}": other_variant(user) for user in VARIANT_DIFFERS}
    cases |= {f"same_key-{user.name}": other_variant(user) for user in VARIANT_SAME}
    return cases


FAILURE_CASES = failure_cases()


async def run_failure_cases(agent: V3Agent) -> dict[str, Any]:
    async def one(manager: Manager, case: str, usm: UsmUser) -> Any:
        # Requests meant to time out get short attempts. The others keep the usual ones, so
        # that on a busy machine their Response still arrives in time.
        fields = {} if case.startswith("same_key-") else {"timeout": SHORT, "retries": 1}
        return await outcome(manager.get(target_for(agent, usm, **fields), [SYS_NAME]))

    async with Manager() as manager:
        results = await asyncio.gather(*(one(manager, case, usm)
                                         for case, usm in FAILURE_CASES.items()))
        return dict(zip(FAILURE_CASES, results, strict=True))


@pytest.fixture(scope="module", params=LOOPS)
def failures(request: pytest.FixtureRequest,
             snmpd_v3_agent: V3Agent) -> Iterator[tuple[dict[str, Any], list[Any]]]:
    """Run every failure case at once on the loop named by the parameter.

    Returns each case's result or error, and the log entries.
    """
    with structlog.testing.capture_logs() as logs:
        results = run_async(request.param, run_failure_cases(snmpd_v3_agent))
    yield results, logs


def cases_named(prefix: str) -> list[str]:
    return [name for name in FAILURE_CASES if name.startswith(prefix)]


class TestFailures:
    @pytest.mark.parametrize("case", cases_named("wrong_auth-"))
    def test_wrong_auth_passphrase(self, failures: Any, case: str) -> None:
        assert type(failures[0][case]) is WrongDigestError

    @pytest.mark.parametrize("case", cases_named("unknown_user"))
    def test_unknown_user(self, failures: Any, case: str) -> None:
        assert type(failures[0][case]) is UnknownUserNameError

    @pytest.mark.parametrize("case", cases_named("wrong_priv-"))
    def test_wrong_priv_passphrase(self, failures: Any, case: str) -> None:
        assert type(failures[0][case]) is PrivacyMismatchError

    @pytest.mark.parametrize("case", cases_named("variant-"))
    def test_wrong_aes_variant(self, failures: Any, case: str) -> None:
        error = failures[0][case]
        assert type(error) is PrivacyMismatchError
        assert "-C variants" in str(error)

    @pytest.mark.parametrize("case", cases_named("same_key-"))
    def test_other_variant_same_key_works(self, failures: Any, case: str) -> None:
        values = failures[0][case]
        assert not isinstance(values, Exception), repr(values)
        assert isinstance(values[0].value, OctetString)

    def test_no_passphrase_in_logs_or_errors(self, failures: Any) -> None:
        results, logs = failures
        text = repr(logs) + "".join(str(result) for result in results.values())
        passphrases = {WRONG_AUTH_PASSPHRASE, WRONG_PRIV_PASSPHRASE, "stranger-pass"}
        for user in USERS:
            passphrases |= {user.auth_passphrase or "", user.priv_passphrase or ""}
        assert "privacy mismatch" in text
        assert [phrase for phrase in passphrases if phrase and phrase in text] == []


# ---------------------------------------------------------------------------------------------
# Restarts, contexts and cloned engines


def restartable_target(agent: RestartableV3Agent, name: str) -> Target:
    # Short attempts, so that a poll sent while snmpd restarts is retried soon after.
    return target_for(agent, agent.user(name).usm_user(), timeout=0.3, retries=5)


async def poll_through_restarts(agent: RestartableV3Agent, restarts: list[bool]) -> Any:
    """Poll two users in a loop while the agent restarts once per entry of `restarts` (True:
    forgetting its engineBoots), each restart after four more polls have finished.

    Returns every poll's result or error, and each target's stats.
    """
    async with Manager() as manager:
        targets = [restartable_target(agent, name) for name in ("auth_sha256", "priv_sha_aes")]
        results: list[Any] = []
        stop = asyncio.Event()
        answered = asyncio.Condition()

        async def poll() -> None:
            while not stop.is_set():
                for target in targets:
                    result = await outcome(manager.get(target, [SYS_NAME]))
                    async with answered:
                        results.append(result)
                        answered.notify_all()
                await asyncio.sleep(0.02)

        async def polled(count: int) -> None:
            async with answered:
                wanted = len(results) + count
                await answered.wait_for(lambda: len(results) >= wanted)

        poller = asyncio.create_task(poll())
        for forget in restarts:
            await polled(2 * len(targets))
            await asyncio.to_thread(agent.restart, forget_engine_boots=forget)
        await polled(2 * len(targets))
        stop.set()
        await poller
        return results, [manager.stats(target) for target in targets]


def total(stats: list[Any], read: Callable[[Any], int]) -> int:
    """Add up one counter over the targets."""
    return sum(read(target_stats) for target_stats in stats)


class TestRestart:
    @pytest.mark.parametrize("loop", LOOPS)
    def test_polls_continue_through_restart(self, loop: str,
                                            restartable_v3_agent: RestartableV3Agent) -> None:
        """A restart keeps the engine ID and raises engineBoots: one notInTimeWindow report
        resynchronises the engine, and no poll fails."""
        results, stats = run_async(loop, poll_through_restarts(restartable_v3_agent, [False]))
        assert [result for result in results if isinstance(result, Exception)] == []
        assert restartable_v3_agent.engine_boots == 2
        # The targets share the agent's engine state, and each of them counts the restart.
        assert [counters.engine_reboots for counters in stats] == [1, 1]
        assert total(stats, lambda counters: counters.reports.get("not_in_time_window", 0)) == 1
        assert total(stats, lambda counters: len(counters.security_errors)) == 0

    def test_polls_continue_after_lost_boots(
            self, restartable_v3_agent: RestartableV3Agent) -> None:
        """A restart that forgets engineBoots sends it back to 1, below what the manager knows:
        after a bounded number of stale reports it takes the agent's clock, and warns once."""
        with structlog.testing.capture_logs() as logs:
            results, stats = run_async(
                "uvloop", poll_through_restarts(restartable_v3_agent, [False, True]))
        assert [result for result in results if isinstance(result, Exception)] == []
        assert restartable_v3_agent.engine_boots == 1
        warnings = [entry for entry in logs if entry["event"] == "agent engine time went back"]
        assert len(warnings) == 1
        assert warnings[0]["engine_boots"] == 1
        assert warnings[0]["known_engine_boots"] == 2
        # A restart that lost engineBoots still counts as a restart.
        assert [counters.engine_reboots for counters in stats] == [2, 2]


class TestContextsAndClones:
    @pytest.mark.parametrize("name", [user.name for user in FEW_USERS])
    def test_unknown_context_is_dropped(self, snmpd_v3_agent: V3Agent, name: str) -> None:
        """net-snmp 5.9.3 counts snmpUnknownContexts but sends no report, so the request times
        out; a probe in the default context then shows that the context is the cause."""
        counted_before = unknown_contexts(snmpd_v3_agent)
        target = target_for(snmpd_v3_agent, user_by_name(name).usm_user(),
                            context_name="nosuch", timeout=SHORT, retries=0)
        error = run_async("uvloop", with_manager(
            lambda manager: outcome(manager.get(target, [SYS_NAME]))))
        assert type(error) is UnknownContextError
        # The probe in the default context is not counted; an authPriv user's second probe, at
        # authNoPriv in the same context, is.
        sent = 2 if user_by_name(name).level is SecurityLevel.AUTH_PRIV else 1
        assert unknown_contexts(snmpd_v3_agent) == counted_before + sent

    def test_cloned_agents_both_answer(self, cloned_v3_agents: list[V3Agent]) -> None:
        async def action(manager: Manager) -> list[Any]:
            targets = [target_for(agent, user.usm_user(), name=f"clone{index}-{user.name}")
                       for index, agent in enumerate(cloned_v3_agents) for user in FEW_USERS]
            polls = [outcome(manager.get(target, [SYS_NAME])) for target in targets * 2]
            return await asyncio.gather(*polls)

        results = run_async("uvloop", with_manager(action))
        assert [result for result in results if isinstance(result, Exception)] == []


def unknown_contexts(agent: V3Agent) -> int:
    """Read snmpUnknownContexts.0 with SNMPv2c, whose view includes it."""
    values = netsnmp_walk(agent.snmpd, "snmpget", "-v2c", "-c", agent.snmpd.public_community,
                          "-On", format_oid(SNMP_UNKNOWN_CONTEXTS))
    return int(values[format_oid(SNMP_UNKNOWN_CONTEXTS)].split(": ")[1])

