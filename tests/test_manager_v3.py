"""Tests of the manager's SNMPv3 message processing against the scripted SNMPv3 agent.

Discovery, time synchronisation (RFC 3414 sections 3 and 4), reports turned into errors, responses
our USM drops, the privacy-mismatch diagnosis, engines shared between targets, and secrecy.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import MutableMapping, Sequence
from typing import Any

import pytest
import structlog
from fakeagent import LOOPS, Runner, runner_for
from fakeagent_v3 import (
    AUTH_USER,
    DES_USER,
    ENGINE_ID,
    NOAUTH_USER,
    NOT_IN_TIME_WINDOW,
    OK,
    OTHER_ENGINE_ID,
    PRIV_USER,
    SNMP_ENGINE_TIME,
    SYS_NAME,
    SYS_NAME_TEXT,
    UNKNOWN_ENGINE_ID,
    USERS,
    FakeV3Agent,
    ManualClock,
    Reply,
    Script,
    Setup,
    V3Request,
    drop_after_discovery,
    drop_level,
    on_verdict,
    with_v3_agent,
    zero_discovery,
)

from snmpd_ng.manager import (
    AuthProtocol,
    DecryptionFailedError,
    Manager,
    NotInTimeWindowError,
    PrivacyMismatchError,
    PrivProtocol,
    ReportError,
    RequestTimeout,
    SecurityError,
    SecurityLevel,
    Target,
    UnknownContextError,
    UnknownEngineIdError,
    UnknownUserNameError,
    UnsupportedSecurityLevelError,
    UsmUser,
    WrongDigestError,
)
from snmpd_ng.protocol.pdu import Pdu, PduType
from snmpd_ng.protocol.v3 import FLAG_REPORTABLE
from snmpd_ng.protocol.values import OctetString
from snmpd_ng.secret import Secret
from snmpd_ng.security.keys import password_to_key
from snmpd_ng.transport.transport import MAX_RESENDS
from snmpd_ng.transport.usm import STALE_REPORTS_BEFORE_RESET, UsmContext

# Seconds per attempt for requests that are meant to fail: short, so a timeout costs little.
SHORT = 0.1
# Seconds per attempt where the retry must succeed: long enough for a loaded machine.
RETRY_TIMEOUT = 0.4


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Runner:
    """Run a coroutine on asyncio's loop and, as a second case, on uvloop's."""
    return runner_for(request.param)


def with_key(user: UsmUser, **changes: Any) -> UsmUser:
    """Return `user` with some fields changed: another passphrase, protocol or name."""
    return dataclasses.replace(user, **changes)


def after_first(requests: list[V3Request], verdict: str = OK) -> list[V3Request]:
    """Return the requests that follow the first one with `verdict` (a poll that succeeded)."""
    first = next(index for index, request in enumerate(requests) if request.verdict == verdict)
    return requests[first + 1:]


def warnings_of(logs: Sequence[MutableMapping[str, Any]],
                event: str) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == event and entry["log_level"] == "warning"]


async def get_name_of(manager: Manager, target: Target) -> bytes:
    """GET sysName.0 and return its octets."""
    values = await manager.get(target, [SYS_NAME])
    value = values[0].value
    assert isinstance(value, OctetString)
    return bytes(value)


async def get_name(setup: Setup, target: Target) -> bytes:
    return await get_name_of(setup.manager, target)


# ---------------------------------------------------------------------------------------------
# Discovery (RFC 3414 section 4)


class TestDiscovery:
    @pytest.mark.parametrize("user", USERS, ids=lambda user: user.name)
    def test_get_after_discovery_at_each_level(self, run: Runner, user: UsmUser) -> None:
        async def action(setup: Setup) -> Any:
            target = setup.target(user)
            return await get_name(setup, target), setup.manager.stats(target), setup.agent

        name, stats, agent = run(with_v3_agent(action, engine_boots=5, engine_time=1234))
        assert name == SYS_NAME_TEXT
        assert [request.verdict for request in agent.requests] == [UNKNOWN_ENGINE_ID, OK]
        assert agent.requests[1].level is user.security_level
        assert stats.engine_discoveries == 1
        assert stats.reports == {"unknown_engine_id": 1}
        assert stats.retries == 0

    def test_probe_is_reportable_empty_get(self, run: Runner) -> None:
        async def action(setup: Setup) -> Any:
            await get_name(setup, setup.target())
            return setup.agent.requests[0]

        probe = run(with_v3_agent(action))
        assert probe.message.flags == FLAG_REPORTABLE
        assert probe.usm.engine_id == b""
        assert probe.usm.user_name == b""
        assert probe.usm.engine_boots == 0
        assert probe.usm.engine_time == 0
        assert isinstance(probe.pdu, Pdu)
        assert probe.pdu.pdu_type == PduType.GET
        assert probe.pdu.varbinds == []

    def test_first_request_uses_discovered_time(self, run: Runner) -> None:
        async def action(setup: Setup) -> Any:
            await get_name(setup, setup.target())
            return setup.agent.requests[1].usm

        usm = run(with_v3_agent(action, engine_boots=5, engine_time=1234))
        assert usm.engine_id == ENGINE_ID
        assert usm.engine_boots == 5
        assert usm.engine_time == 1234

    def test_first_authenticated_response_syncs_time(self, run: Runner) -> None:
        async def action(setup: Setup) -> Any:
            target = setup.target(AUTH_USER)
            await get_name(setup, target)
            return setup.manager.stats(target)

        assert run(with_v3_agent(action)).engine_time_syncs == 1

    @pytest.mark.parametrize("user", [AUTH_USER, PRIV_USER, DES_USER], ids=lambda user: user.name)
    def test_zero_boots_discovery_still_gets(self, run: Runner, user: UsmUser) -> None:
        """A discovery report with boots and time 0 is followed by an authenticated
        notInTimeWindow report that carries the real ones, and the GET succeeds."""

        async def action(setup: Setup) -> Any:
            target = setup.target(user)
            return await get_name(setup, target), setup.manager.stats(target), setup.agent

        name, stats, agent = run(with_v3_agent(action, script=zero_discovery, engine_boots=5,
                                               engine_time=1234))
        assert name == SYS_NAME_TEXT
        verdicts = [request.verdict for request in agent.requests]
        assert verdicts == [UNKNOWN_ENGINE_ID, NOT_IN_TIME_WINDOW, OK]
        assert (agent.requests[1].usm.engine_boots, agent.requests[1].usm.engine_time) == (0, 0)
        assert (agent.requests[2].usm.engine_boots, agent.requests[2].usm.engine_time) == (5, 1234)
        assert stats.reports == {"unknown_engine_id": 1, "not_in_time_window": 1}
        assert stats.engine_time_syncs == 1
        assert stats.retries == 0

    def test_zero_boots_discovery_noauth_gets(self, run: Runner) -> None:
        async def action(setup: Setup) -> Any:
            return await get_name(setup, setup.target(NOAUTH_USER))

        assert run(with_v3_agent(action, script=zero_discovery)) == SYS_NAME_TEXT

    def test_time_report_to_probe_names_engine(self, run: Runner) -> None:
        """Some agents answer the probe with an unauthenticated notInTimeWindow report; its
        engine ID counts as discovered."""

        def script(agent: FakeV3Agent, request: V3Request) -> list[Reply] | None:
            if request.is_discovery:
                return agent.report(request, NOT_IN_TIME_WINDOW)
            return None

        async def action(setup: Setup) -> Any:
            target = setup.target(PRIV_USER)
            return await get_name(setup, target), setup.agent

        name, agent = run(with_v3_agent(action, script=script))
        assert name == SYS_NAME_TEXT
        assert agent.requests[-1].usm.engine_id == agent.engine_id
        assert agent.requests[-1].level is SecurityLevel.AUTH_PRIV

    def test_new_engine_id_is_discovered_again(self, run: Runner) -> None:
        """A device replaced at the same address sends unknownEngineID reports for the old ID."""

        async def action(setup: Setup) -> Any:
            target = setup.target(PRIV_USER)
            await get_name(setup, target)
            setup.agent.engine_id = OTHER_ENGINE_ID
            name = await get_name(setup, target)
            return name, setup.manager.stats(target), setup.agent.requests

        name, stats, requests = run(with_v3_agent(action))
        assert name == SYS_NAME_TEXT
        assert stats.engine_discoveries == 2
        assert requests[-1].usm.engine_id == OTHER_ENGINE_ID


# ---------------------------------------------------------------------------------------------
# Time synchronisation (RFC 3414 2.3 and 3.2 step 7)


class TestTimeWindow:
    def test_reboot_costs_one_resend(self, run: Runner) -> None:
        """After a reboot (boots + 1, time 0) one authenticated notInTimeWindow report comes
        back, and the resent request succeeds without a warning."""

        async def action(setup: Setup) -> Any:
            target = setup.target(PRIV_USER)
            await get_name(setup, target)
            setup.clock.advance(3600)
            setup.agent.reboot()
            setup.clock.advance(5)
            with structlog.testing.capture_logs() as logs:
                name = await get_name(setup, target)
            return name, setup.manager.stats(target), setup.agent.requests, logs

        name, stats, requests, logs = run(with_v3_agent(action, engine_boots=3))
        assert name == SYS_NAME_TEXT
        assert [request.verdict for request in after_first(requests)] == [NOT_IN_TIME_WINDOW, OK]
        assert requests[-1].usm.engine_boots == 4
        assert stats.engine_reboots == 1
        assert stats.retries == 0
        assert [entry for entry in logs if entry["log_level"] == "warning"] == []
        assert [entry["event"] for entry in logs if entry["log_level"] == "info"] == [
            "agent restarted"]

    def test_requests_follow_engine_clock(self, run: Runner) -> None:
        async def action(setup: Setup) -> Any:
            target = setup.target(AUTH_USER)
            await get_name(setup, target)
            setup.clock.advance(1000)
            await get_name(setup, target)
            return setup.agent.requests

        requests = run(with_v3_agent(action, engine_time=50))
        assert [request.verdict for request in requests] == [UNKNOWN_ENGINE_ID, OK, OK]
        assert requests[-1].usm.engine_time == 1050

    @pytest.mark.parametrize("boots_after", [None, 1], ids=["boots_kept", "boots_reset"])
    def test_lost_boots_recovers_with_warning(self, run: Runner,
                                              boots_after: int | None) -> None:
        """An agent that restarts without raising engineBoots sends reports older than what we
        know. After a bounded number of them the manager takes its clock, and warns once."""

        async def action(setup: Setup) -> Any:
            target = setup.target(AUTH_USER)
            await get_name(setup, target)
            setup.clock.advance(7200)
            await get_name(setup, target)
            setup.agent.lose_boots(boots_after)
            with structlog.testing.capture_logs() as logs:
                first = await get_name(setup, target)
                setup.clock.advance(30)
                second = await get_name(setup, target)
            return first, second, target.label, setup.manager.stats(target), \
                setup.agent.requests, logs

        first, second, label, stats, requests, logs = run(with_v3_agent(action, engine_boots=3))
        assert first == second == SYS_NAME_TEXT
        stale = [NOT_IN_TIME_WINDOW] * STALE_REPORTS_BEFORE_RESET
        assert [request.verdict for request in requests[3:]] == [*stale, OK, OK]
        assert STALE_REPORTS_BEFORE_RESET + 1 <= MAX_RESENDS
        assert len(warnings_of(logs, "agent engine time went back")) == 1
        assert warnings_of(logs, "agent engine time went back")[0]["target"] == label
        # The agent's clock went back: a restart that did not keep engineBoots.
        assert stats.engine_reboots == 1

    def test_endless_reports_fail_after_max_resends(self, run: Runner) -> None:
        """An agent whose every reply is a newer notInTimeWindow report ends the request with
        NotInTimeWindowError after MAX_RESENDS sends, without waiting for a timeout."""

        def reboot_and_report(agent: FakeV3Agent, request: V3Request) -> list[Reply]:
            agent.reboot()
            return agent.report(request, NOT_IN_TIME_WINDOW, authenticated=True)

        async def action(setup: Setup) -> Any:
            target = setup.target(AUTH_USER, timeout=5.0)
            await get_name(setup, target)
            setup.agent.script = on_verdict(OK, reboot_and_report)
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(NotInTimeWindowError) as caught:
                await get_name(setup, target)
            elapsed = loop.time() - started
            return caught.value, elapsed, setup.manager.stats(target), setup.agent.requests

        error, elapsed, stats, requests = run(with_v3_agent(action))
        assert len(after_first(requests)) == MAX_RESENDS + 1
        assert elapsed < 5.0
        assert error.kind == "not_in_time_window"
        assert stats.security_errors == {"not_in_time_window": 1}

    def test_endless_stale_reports_fail(self, run: Runner) -> None:
        """An agent whose clock keeps going back: the time reset happens, then the bound ends
        the request."""

        def report_old_time(agent: FakeV3Agent, request: V3Request) -> list[Reply]:
            agent.lose_boots()
            return agent.report(request, NOT_IN_TIME_WINDOW, authenticated=True)

        async def action(setup: Setup) -> Any:
            target = setup.target(AUTH_USER)
            await get_name(setup, target)
            setup.clock.advance(3600)
            setup.agent.script = on_verdict(OK, report_old_time)
            with pytest.raises(NotInTimeWindowError):
                await get_name(setup, target)
            return setup.agent.requests

        requests = run(with_v3_agent(action))
        assert len(after_first(requests)) == MAX_RESENDS + 1

    def test_unauthenticated_time_report_after_sync_is_dropped(self, run: Runner) -> None:
        """RFC 3414 3.2 step 7b: only authenticated values move a synchronised notion, so the
        forged report is dropped and the retry gets the Response."""

        def forged(agent: FakeV3Agent, request: V3Request) -> list[Reply]:
            return agent.report(request, NOT_IN_TIME_WINDOW, engine_boots=99, engine_time=1)

        async def action(setup: Setup) -> Any:
            target = setup.target(AUTH_USER, timeout=SHORT)
            await get_name(setup, target)
            setup.agent.script = on_verdict(OK, forged, times=1)
            name = await get_name(setup, target)
            return name, setup.manager.stats(target), setup.agent.requests

        name, stats, requests = run(with_v3_agent(action, engine_boots=2))
        assert name == SYS_NAME_TEXT
        assert stats.security_drops == {"unauthenticated_report": 1}
        assert stats.retries == 1
        assert requests[-1].usm.engine_boots == 2


# ---------------------------------------------------------------------------------------------
# Reports that end the request (RFC 3414 3.2, RFC 3412 7.2)

# Report kinds the agent sends, the error they must raise, and its `kind`.
REPORT_ERRORS = [
    ("unknown_user_name", UnknownUserNameError, "unknown_user_name"),
    ("wrong_digest", WrongDigestError, "wrong_digest"),
    ("decryption_error", DecryptionFailedError, "decryption_error"),
    ("unsupported_security_level", UnsupportedSecurityLevelError, "unsupported_security_level"),
    ("unknown_context", UnknownContextError, "unknown_context"),
    ("unknown_engine_id", UnknownEngineIdError, "unknown_engine_id"),
    ("invalid_msgs", ReportError, "other_report"),
]


class TestReports:
    @pytest.mark.parametrize(("kind", "error_class", "error_kind"), REPORT_ERRORS,
                             ids=[row[0] for row in REPORT_ERRORS])
    @pytest.mark.parametrize("authenticated", [False, True], ids=["plain", "authenticated"])
    def test_report_raises_own_error(self, run: Runner, kind: str,
                                     error_class: type[SecurityError], error_kind: str,
                                     authenticated: bool) -> None:
        def send_report(agent: FakeV3Agent, request: V3Request) -> list[Reply]:
            return agent.report(request, kind, authenticated=authenticated)

        async def action(setup: Setup) -> Any:
            target = setup.target(PRIV_USER)
            with pytest.raises(SecurityError) as caught:
                await get_name(setup, target)
            return caught.value, setup.manager.stats(target), setup.agent.requests

        error, stats, requests = run(with_v3_agent(action, script=on_verdict(OK, send_report)))
        assert type(error) is error_class
        assert error.kind == error_kind
        assert error.user == PRIV_USER.name
        assert stats.security_errors == {error_kind: 1}
        discovery = 1 if kind == "unknown_engine_id" else 0
        assert stats.reports[error_kind] == 1 + discovery
        assert stats.timeouts == 0
        assert len(requests) == 2

    def test_unknown_user_name(self, run: Runner) -> None:
        async def action(setup: Setup) -> Any:
            with pytest.raises(UnknownUserNameError):
                await get_name(setup, setup.target(with_key(AUTH_USER, name="stranger")))
            return setup.agent.counters

        assert run(with_v3_agent(action)) == {"unknown_engine_id": 1, "unknown_user_name": 1}

    def test_wrong_auth_passphrase(self, run: Runner) -> None:
        user = with_key(PRIV_USER, auth_key=Secret("another-auth-passphrase"))

        async def action(setup: Setup) -> Any:
            target = setup.target(user)
            with pytest.raises(WrongDigestError) as caught:
                await get_name(setup, target)
            return caught.value, setup.manager.stats(target)

        error, stats = run(with_v3_agent(action))
        assert "authentication passphrase" in str(error)
        assert stats.reports == {"unknown_engine_id": 1, "wrong_digest": 1}

    def test_level_above_agent_user(self, run: Runner) -> None:
        user = with_key(AUTH_USER, priv_protocol=PrivProtocol.AES,
                        priv_key=Secret("fake-priv-for-auth-user"), level=SecurityLevel.AUTH_PRIV)

        async def action(setup: Setup) -> Any:
            with pytest.raises(UnsupportedSecurityLevelError) as caught:
                await get_name(setup, setup.target(user))
            return caught.value

        assert "authPriv" in str(run(with_v3_agent(action)))

    def test_undecryptable_request_reported(self, run: Runner) -> None:
        user = with_key(PRIV_USER, priv_key=Secret("another-priv-passphrase"))

        async def action(setup: Setup) -> Any:
            with pytest.raises(DecryptionFailedError):
                await get_name(setup, setup.target(user))
            return setup.agent.counters

        counters = run(with_v3_agent(action, report_decryption_errors=True))
        assert counters["decryption_error"] == 1

    def test_unknown_context(self, run: Runner) -> None:
        async def action(setup: Setup) -> Any:
            with pytest.raises(UnknownContextError) as caught:
                await get_name(setup, setup.target(AUTH_USER, context_name="nosuch"))
            return caught.value, setup.agent.requests[-1]

        error, request = run(with_v3_agent(action))
        assert "'nosuch'" in str(error)
        assert request.scoped is not None
        assert request.scoped.context_name == b"nosuch"

    def test_known_context_answers(self, run: Runner) -> None:
        async def action(setup: Setup) -> Any:
            return await get_name(setup, setup.target(AUTH_USER, context_name="vlan7"))

        assert run(with_v3_agent(action, contexts=("", "vlan7"))) == SYS_NAME_TEXT


# ---------------------------------------------------------------------------------------------
# Responses our USM drops (RFC 3414 3.2 steps 6 and 7b)


def tampered(agent: FakeV3Agent, request: V3Request) -> list[Reply]:
    return agent.respond(request, tamper=True)


def from_other_engine(agent: FakeV3Agent, request: V3Request) -> list[Reply]:
    return agent.respond(request, engine_id=OTHER_ENGINE_ID)


def out_of_window(agent: FakeV3Agent, request: V3Request) -> list[Reply]:
    """Answer with an engine time 200 s before the first Response's.

    An older time than any received is what the manager can tell from a late clock: a newer one
    moves its notion forward (RFC 3414 3.2 step 7b), however far it is from the estimate.
    """
    return agent.respond(request, engine_time=agent.sent[0].engine_time - 200)


def replayed(agent: FakeV3Agent, request: V3Request) -> list[Reply]:
    """Answer with the agent's first Response again, from an engine time long gone."""
    return agent.replay(request, agent.sent[0])


def from_before_reboot(agent: FakeV3Agent, request: V3Request) -> list[Reply]:
    return agent.respond(request, engine_boots=agent.engine_boots - 1)


# Bad responses and the security_drops reason each must be counted under.
BAD_RESPONSES = [
    (tampered, "authentication_failed"),
    (from_other_engine, "wrong_engine_id"),
    (out_of_window, "outside_time_window"),
    (replayed, "outside_time_window"),
    (from_before_reboot, "outside_time_window"),
]
BAD_RESPONSE_IDS = [row[0].__name__ for row in BAD_RESPONSES]


async def poll_twice(setup: Setup, user: UsmUser, script: Script,
                     attempt_timeout: float = SHORT) -> Any:
    """Poll once to synchronise and remember a Response, let an hour of engine time pass, then
    poll again through `script`.

    Returns the second GET's result or its error, and the target's stats.
    """
    target = setup.target(user, timeout=attempt_timeout)
    await get_name(setup, target)
    setup.clock.advance(3600)
    setup.agent.script = script
    try:
        result: Any = await get_name(setup, target)
    except Exception as exc:  # the test checks which one
        result = exc
    return result, setup.manager.stats(target)


class TestDroppedResponses:
    @pytest.mark.parametrize(("bad", "reason"), BAD_RESPONSES, ids=BAD_RESPONSE_IDS)
    @pytest.mark.parametrize("user", [AUTH_USER, PRIV_USER], ids=lambda user: user.name)
    def test_bad_response_then_good_retry(self, run: Runner, bad: Any, reason: str,
                                          user: UsmUser) -> None:
        # The good retry must come back within one attempt, which a loaded machine needs
        # more than SHORT for.
        result, stats = run(with_v3_agent(
            lambda setup: poll_twice(setup, user, on_verdict(OK, bad, times=1), RETRY_TIMEOUT),
            engine_boots=4, engine_time=1000))
        assert result == SYS_NAME_TEXT
        assert stats.security_drops == {reason: 1}
        assert stats.retries == 1
        assert stats.timeouts == 0

    @pytest.mark.parametrize(("bad", "reason"), BAD_RESPONSES, ids=BAD_RESPONSE_IDS)
    def test_bad_responses_time_out(self, run: Runner, bad: Any, reason: str) -> None:
        result, stats = run(with_v3_agent(
            lambda setup: poll_twice(setup, AUTH_USER, on_verdict(OK, bad)), engine_boots=4,
            engine_time=1000))
        assert type(result) is RequestTimeout
        assert reason.replace("_", " ") in str(result)
        assert stats.security_drops == {reason: 2}

    def test_duplicate_of_old_response_is_unknown(self, run: Runner) -> None:
        """A byte-for-byte copy of an earlier Response carries a msgID no longer outstanding:
        it is dropped before the USM checks, and the fresh Response completes the request."""

        def duplicate_then_answer(agent: FakeV3Agent, request: V3Request) -> list[Reply]:
            return [*agent.duplicate(agent.sent[0]), *agent.respond(request)]

        async def action(setup: Setup) -> Any:
            target = setup.target(AUTH_USER)
            await get_name(setup, target)
            setup.agent.values[SYS_NAME] = OctetString(b"renamed")
            setup.agent.script = on_verdict(OK, duplicate_then_answer, times=1)
            return await get_name(setup, target), setup.manager.stats(target)

        name, stats = run(with_v3_agent(action))
        assert name == b"renamed"
        assert stats.unknown_request_id == 1
        assert stats.security_drops == {}


# ---------------------------------------------------------------------------------------------
# Privacy mismatch: authPriv requests that the agent drops


class TestPrivacyMismatch:
    def test_wrong_priv_passphrase(self, run: Runner) -> None:
        user = with_key(PRIV_USER, priv_key=Secret("another-priv-passphrase"))

        async def action(setup: Setup) -> Any:
            target = setup.target(user, timeout=SHORT)
            with pytest.raises(PrivacyMismatchError) as caught:
                await get_name(setup, target)
            return caught.value, setup.manager.stats(target), setup.agent.requests

        error, stats, requests = run(with_v3_agent(action))
        assert "privacy passphrase" in str(error)
        assert stats.security_errors == {"privacy_mismatch": 1}
        probe = requests[-1]
        assert probe.level is SecurityLevel.AUTH_NO_PRIV
        assert probe.oids == [SNMP_ENGINE_TIME]

    def test_wrong_aes_key_extension(self, run: Runner) -> None:
        """AES-256 with SHA-1 keys: Blumenthal and Reeder keys differ after octet 20."""
        agent_user = UsmUser("priv_sha_aes256", AuthProtocol.SHA, Secret("fake-aes256-authpass"),
                             PrivProtocol.AES256, Secret("fake-aes256-privpass"))
        cisco = with_key(agent_user, priv_protocol=PrivProtocol.AES256C)

        async def action(setup: Setup) -> Any:
            with pytest.raises(PrivacyMismatchError) as caught:
                await get_name(setup, setup.target(cisco, timeout=SHORT))
            return caught.value

        error = run(with_v3_agent(action, users=[agent_user]))
        assert "AES-256-C" in str(error)

    def test_dropped_authpriv_requests(self, run: Runner) -> None:
        async def action(setup: Setup) -> Any:
            with pytest.raises(PrivacyMismatchError):
                await get_name(setup, setup.target(DES_USER, timeout=SHORT))

        run(with_v3_agent(action, script=drop_level(SecurityLevel.AUTH_PRIV)))

    def test_dead_agent_is_timeout(self, run: Runner) -> None:
        async def action(setup: Setup) -> Any:
            target = setup.target(PRIV_USER, timeout=SHORT)
            with pytest.raises(RequestTimeout) as caught:
                await get_name(setup, target)
            return caught.value, setup.manager.stats(target)

        error, stats = run(with_v3_agent(action, script=drop_after_discovery))
        assert type(error) is RequestTimeout
        assert stats.security_errors == {}

    def test_agent_dead_after_polls_is_timeout(self, run: Runner) -> None:
        async def action(setup: Setup) -> Any:
            target = setup.target(PRIV_USER, timeout=SHORT)
            await get_name(setup, target)
            setup.agent.script = drop_after_discovery
            with pytest.raises(RequestTimeout) as caught:
                await get_name(setup, target)
            return caught.value

        assert type(run(with_v3_agent(action))) is RequestTimeout


# ---------------------------------------------------------------------------------------------
# Engines shared between targets, and msgIDs


class TestSharedEngines:
    def test_two_users_share_one_discovery(self, run: Runner) -> None:
        async def action(setup: Setup) -> Any:
            first, second = setup.target(AUTH_USER), setup.target(PRIV_USER)
            await get_name(setup, first)
            name = await get_name(setup, second)
            return name, setup.manager.stats(second), setup.agent.requests

        name, stats, requests = run(with_v3_agent(action))
        assert name == SYS_NAME_TEXT
        assert [request.is_discovery for request in requests] == [True, False, False]
        assert stats.engine_discoveries == 0

    @pytest.mark.parametrize(("second_boots", "second_time"), [(9, 500), (3, 5000)],
                             ids=["other_boots", "other_time"])
    def test_cloned_engines_warn_once(self, run: Runner, second_boots: int,
                                      second_time: int) -> None:
        """Two agents with one engine ID but their own boots or clock: both keep working, and
        the conflict is counted, with at most one warning per target."""

        async def action() -> Any:
            clock = ManualClock()
            async with (FakeV3Agent(clock=clock, engine_boots=3) as first,
                        FakeV3Agent(clock=clock, engine_boots=second_boots,
                                    engine_time=second_time) as second,
                        Manager(usm_context=UsmContext(clock=clock)) as manager):
                targets = [first.target(AUTH_USER), second.target(PRIV_USER)]
                names = []
                for _ in range(3):
                    for target in targets:
                        names.append(await get_name_of(manager, target))
                    clock.advance(10)
                conflicts = [manager.stats(target).engine_id_conflicts for target in targets]
                return names, conflicts, [target.label for target in targets]

        with structlog.testing.capture_logs() as logs:
            names, conflicts, labels = run(action())
        assert names == [SYS_NAME_TEXT] * 6
        assert sum(conflicts) >= 1
        warnings = warnings_of(logs, "engine ID shared by other agents")
        warned = [entry["target"] for entry in warnings]
        assert len(warned) >= 1
        assert len(warned) == len(set(warned))
        assert set(warned) <= set(labels)

    def test_msg_ids_unique_while_outstanding(self, run: Runner) -> None:
        def slow(agent: FakeV3Agent, request: V3Request) -> list[Reply]:
            return [(0.05, datagram) for _, datagram in agent.answer(request)]

        async def action(setup: Setup) -> Any:
            targets = [setup.target(user, max_in_flight=20) for user in USERS]
            await asyncio.gather(*(get_name(setup, target) for target in targets))
            polls = [get_name(setup, target) for target in targets for _ in range(20)]
            names = await asyncio.gather(*polls)
            return names, setup.agent.requests

        names, requests = run(with_v3_agent(action, script=slow))
        assert set(names) == {SYS_NAME_TEXT}
        msg_ids = [request.msg_id for request in requests]
        assert len(set(msg_ids)) == len(msg_ids)

    def test_resend_takes_new_msg_id(self, run: Runner) -> None:
        async def action(setup: Setup) -> Any:
            await get_name(setup, setup.target(PRIV_USER))
            return setup.agent.requests

        requests = run(with_v3_agent(action, script=zero_discovery))
        assert len({request.msg_id for request in requests}) == 3
        assert all(request.msg_id == request.request_id for request in requests[:1])


# ---------------------------------------------------------------------------------------------
# Secrets


def secret_texts(users: list[UsmUser]) -> list[str]:
    """Return every passphrase of `users`, and their master and localised keys in hex."""
    agent = FakeV3Agent(users)
    texts = []
    for user in users:
        for key in (user.auth_key, user.priv_key):
            if key is not None and user.auth_protocol is not None:
                texts.append(key.reveal().decode())
                texts.append(password_to_key(user.auth_protocol, key).hex())
        if user.authenticates:
            keys = agent.keys_of(user)
            texts += [keys.auth_key.hex(), keys.priv_key.hex()]
    return [text for text in texts if text]


class TestSecrets:
    def test_no_secret_in_errors_logs_or_reprs(self, run: Runner) -> None:
        wrong_auth = with_key(AUTH_USER, auth_key=Secret("leaky-auth-passphrase"))
        wrong_priv = with_key(PRIV_USER, priv_key=Secret("leaky-priv-passphrase"))
        texts: list[str] = []

        async def fail(setup: Setup, target: Target) -> None:
            try:
                await get_name(setup, target)
            except Exception as exc:  # every failure is collected, whatever its class
                texts.extend([str(exc), repr(exc)])

        async def action(setup: Setup) -> Any:
            targets = [setup.target(user, timeout=SHORT) for user in (
                wrong_auth, wrong_priv, DES_USER, AUTH_USER)]
            for target in targets:
                await fail(setup, target)
                texts.extend([repr(target), repr(setup.manager.stats(target))])
            setup.agent.script = drop_after_discovery
            await fail(setup, targets[3])
            texts.append(repr(setup.manager.usm_context.keys.keys(PRIV_USER, ENGINE_ID)))

        with structlog.testing.capture_logs() as logs:
            run(with_v3_agent(action, script=drop_level(SecurityLevel.AUTH_PRIV)))
        everything = "\n".join([*texts, repr(logs)])
        assert any(entry["event"] == "request sent" for entry in logs)
        assert "PrivacyMismatchError" in everything
        assert "WrongDigestError" in everything
        leaked = [secret for secret in secret_texts([wrong_auth, wrong_priv, *USERS])
                  if secret in everything]
        assert leaked == []
