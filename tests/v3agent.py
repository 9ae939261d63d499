"""SNMPv3 test users, the snmpd configuration that creates them, and agents that serve them.

The user matrix covers every security level and protocol that net-snmp 5.9.3 supports. It has
one noAuthNoPriv user and one authNoPriv user per authentication protocol (six). It has one
authPriv user per authentication protocol and DES, AES, AES-192 or AES-256 (Blumenthal key
extension), and one per MD5, SHA or SHA-224 and AES-192-C or AES-256-C (Reeder key extension, as
Cisco uses it). The passphrases are fixed test strings, so that tests and captured packets
derive the same keys.

Each user's `rouser` line allows only its own level, so snmpd rejects a request at a lower
level with authorizationError. An authNoPriv request from an authPriv user with the right
authentication passphrase therefore gets an authenticated authorizationError response, which
tells a wrong privacy passphrase apart from a wrong authentication passphrase.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agents import NetSnmpAgent, start_snmpd

from snmpd_ng.secret import Secret
from snmpd_ng.security.credentials import SecurityLevel, UsmUser
from snmpd_ng.security.keys import AuthProtocol, PrivProtocol

# Engine ID texts of the agents below. snmpd turns `engineID TEXT` into 80 00 1F 88 04 + TEXT:
# net-snmp's enterprise number 8072 with the high bit set, then format 4 (text, RFC 3411).
ENGINE_ID_TEXT = "snmpdngv3"
RESTARTABLE_ENGINE_ID_TEXT = "snmpdngboot"
CLONED_ENGINE_ID_TEXT = "snmpdngclone"
NETSNMP_TEXT_ENGINE_ID_PREFIX = bytes.fromhex("80001f8804")

SYS_LOCATION_OID = ".1.3.6.1.2.1.1.6.0"
IF_INDEX_1_OID = ".1.3.6.1.2.1.2.2.1.1.1"
IF_DESCR_1_OID = ".1.3.6.1.2.1.2.2.1.2.1"
SNMP_ENGINE_ID_OID = ".1.3.6.1.6.3.10.2.1.1.0"
SNMP_ENGINE_BOOTS_OID = ".1.3.6.1.6.3.10.2.1.2.0"

# sysLocation.0 of the v3 agents. The configuration fixes it, so responses carry a known value.
SYS_LOCATION = "snmpd_ng v3 test lab"

# The view of every v3 user: the system group, the interfaces group (ifNumber and ifTable) and
# snmpEngine (engine ID, boots and time).
V3_VIEW = "v3test"
V3_VIEW_SUBTREES = (".1.3.6.1.2.1.1", ".1.3.6.1.2.1.2", ".1.3.6.1.6.3.10.2.1")

# Passphrases that no user has, for requests that must fail. Both have 8 or more octets, so
# net-snmp's client sends them instead of rejecting them.
WRONG_AUTH_PASSPHRASE = "wrong-auth-passphrase"
WRONG_PRIV_PASSPHRASE = "wrong-priv-passphrase"

# The level keyword of snmpd's `rouser` line for each security level.
ROUSER_LEVELS = {
    SecurityLevel.NO_AUTH_NO_PRIV: "noauth",
    SecurityLevel.AUTH_NO_PRIV: "auth",
    SecurityLevel.AUTH_PRIV: "priv",
}

BLUMENTHAL_PRIV_PROTOCOLS = (
    PrivProtocol.DES,
    PrivProtocol.AES,
    PrivProtocol.AES192,
    PrivProtocol.AES256,
)
REEDER_PRIV_PROTOCOLS = (PrivProtocol.AES192C, PrivProtocol.AES256C)
# The Reeder users need only the hashes whose localised key is shorter than an AES-256 key
# (16, 20 and 28 octets), because only there does the key extension run.
REEDER_AUTH_PROTOCOLS = (AuthProtocol.MD5, AuthProtocol.SHA, AuthProtocol.SHA224)


@dataclass(frozen=True)
class V3User:
    """One SNMPv3 user of the test agents, with its test passphrases."""

    name: str
    level: SecurityLevel
    auth_protocol: AuthProtocol | None
    priv_protocol: PrivProtocol | None
    auth_passphrase: str | None
    priv_passphrase: str | None

    def usm_user(self, level: SecurityLevel | None = None) -> UsmUser:
        """Build snmpd_ng's UsmUser for this user, at its own level unless `level` is given."""
        return UsmUser(
            name=self.name,
            auth_protocol=self.auth_protocol,
            auth_key=_secret_or_none(self.auth_passphrase),
            priv_protocol=self.priv_protocol,
            priv_key=_secret_or_none(self.priv_passphrase),
            level=level or self.level,
        )

    def create_user_line(self) -> str:
        """Return the snmpd `createUser` line that creates this user."""
        words = ["createUser", self.name]
        if self.auth_protocol is not None and self.auth_passphrase is not None:
            words += [self.auth_protocol.value, self.auth_passphrase]
        if self.priv_protocol is not None and self.priv_passphrase is not None:
            words += [self.priv_protocol.value, self.priv_passphrase]
        return " ".join(words)

    def rouser_line(self) -> str:
        """Return the snmpd `rouser` line that allows this user read access at its own level."""
        return f"rouser {self.name} {ROUSER_LEVELS[self.level]} -V {V3_VIEW}"


def _secret_or_none(passphrase: str | None) -> Secret | None:
    return None if passphrase is None else Secret(passphrase)


def _protocol_word(protocol: AuthProtocol | PrivProtocol) -> str:
    """Return a protocol's part of a user name: `sha224`, `aes256c`."""
    return protocol.name.lower()


def make_user(
    auth_protocol: AuthProtocol | None = None, priv_protocol: PrivProtocol | None = None
) -> V3User:
    """Build the test user for a protocol pair, named and with passphrases as in USERS.

    The level follows the protocols: none gives noAuthNoPriv, an authentication protocol alone
    authNoPriv, both authPriv.
    """
    if auth_protocol is None:
        if priv_protocol is not None:
            raise ValueError("a privacy protocol needs an authentication protocol (RFC 3414)")
        return V3User("noauth", SecurityLevel.NO_AUTH_NO_PRIV, None, None, None, None)

    if priv_protocol is None:
        name = f"auth_{_protocol_word(auth_protocol)}"
        return V3User(
            name, SecurityLevel.AUTH_NO_PRIV, auth_protocol, None, f"{name}-authpass", None
        )

    name = f"priv_{_protocol_word(auth_protocol)}_{_protocol_word(priv_protocol)}"
    return V3User(
        name,
        SecurityLevel.AUTH_PRIV,
        auth_protocol,
        priv_protocol,
        f"{name}-authpass",
        f"{name}-privpass",
    )


def _build_matrix() -> tuple[V3User, ...]:
    users = [make_user()]
    users += [make_user(auth) for auth in AuthProtocol]
    users += [make_user(auth, priv) for auth in AuthProtocol for priv in BLUMENTHAL_PRIV_PROTOCOLS]
    users += [
        make_user(auth, priv) for auth in REEDER_AUTH_PROTOCOLS for priv in REEDER_PRIV_PROTOCOLS
    ]
    return tuple(users)


USERS: tuple[V3User, ...] = _build_matrix()
USERS_BY_NAME: dict[str, V3User] = {user.name: user for user in USERS}


def user_by_name(name: str) -> V3User:
    """Return the matrix user called `name`; raise KeyError for a name not in USERS."""
    try:
        return USERS_BY_NAME[name]
    except KeyError:
        raise KeyError(
            f"no test user is named {name!r}; names look like noauth, auth_sha256, "
            "priv_sha512_aes256 or priv_md5_aes192c"
        ) from None


# The users of the restartable and cloned agents: one per security level, so that they start
# quickly (snmpd derives every user's keys at start).
FEW_USERS: tuple[V3User, ...] = (
    user_by_name("noauth"),
    user_by_name("auth_sha256"),
    user_by_name("priv_sha_aes"),
)


def netsnmp_args(
    user: V3User,
    *,
    wrong_auth: bool = False,
    wrong_priv: bool = False,
    level: SecurityLevel | None = None,
    timeout: float | None = None,
    retries: int | None = None,
) -> list[str]:
    """Return the net-snmp tool options that send requests as `user`, before the OIDs.

    `level` sends at another level than the user's; the keys a lower level does not need are
    left out. `timeout` (seconds) and `retries` become `-t` and `-r`.
    """
    level = level or user.level
    args = ["-v3", "-u", user.name, "-l", level.value]
    if level is not SecurityLevel.NO_AUTH_NO_PRIV:
        if user.auth_protocol is None or user.auth_passphrase is None:
            raise ValueError(f"user {user.name} has no authentication protocol for {level.value}")
        passphrase = WRONG_AUTH_PASSPHRASE if wrong_auth else user.auth_passphrase
        args += ["-a", user.auth_protocol.value, "-A", passphrase]
    if level is SecurityLevel.AUTH_PRIV:
        if user.priv_protocol is None or user.priv_passphrase is None:
            raise ValueError(f"user {user.name} has no privacy protocol for authPriv")
        passphrase = WRONG_PRIV_PASSPHRASE if wrong_priv else user.priv_passphrase
        args += ["-x", user.priv_protocol.value, "-X", passphrase]
    if timeout is not None:
        args += ["-t", f"{timeout:g}"]
    if retries is not None:
        args += ["-r", str(retries)]
    return args


def engine_id_from_text(text: str) -> bytes:
    """Return the engine ID that snmpd builds from the line `engineID TEXT`."""
    return NETSNMP_TEXT_ENGINE_ID_PREFIX + text.encode("ascii")


def agent_config(users: Sequence[V3User], engine_id_text: str) -> list[str]:
    """Return the snmpd configuration lines for a v3 agent with `users` and a fixed engine ID."""
    lines = [f"engineID {engine_id_text}", f"sysLocation {SYS_LOCATION}"]
    lines += [f"view {V3_VIEW} included {subtree}" for subtree in V3_VIEW_SUBTREES]
    lines += [user.create_user_line() for user in users]
    lines += [user.rouser_line() for user in users]
    return lines


@dataclass
class V3Agent:
    """A net-snmp snmpd on loopback with SNMPv3 users and a fixed engine ID."""

    snmpd: NetSnmpAgent
    engine_id: bytes
    users: tuple[V3User, ...]

    @property
    def host(self) -> str:
        return self.snmpd.host

    @property
    def port(self) -> int:
        return self.snmpd.port

    def user(self, name: str) -> V3User:
        """Return this agent's user called `name`; raise KeyError if the agent has no such user."""
        for user in self.users:
            if user.name == name:
                return user
        raise KeyError(f"the agent on port {self.port} has no user {name!r}")

    def snmpget(self, user_args: Sequence[str], *oids: str) -> tuple[int, str, str]:
        """Run snmpget with `user_args` (see netsnmp_args) for `oids` and numeric output.

        Returns (returncode, stdout, stderr).
        """
        return self.snmpd.run_netsnmp("snmpget", *user_args, "-On", *oids)

    def stop(self) -> None:
        self.snmpd.stop()


# snmpget -On output of snmpEngineBoots.0 (net-snmp 5.9.3).
_ENGINE_BOOTS_OUTPUT = re.compile(re.escape(SNMP_ENGINE_BOOTS_OID) + r" = INTEGER: (\d+)$", re.M)


@dataclass
class RestartableV3Agent(V3Agent):
    """A v3 agent that keeps its engine across restarts, as a rebooted device does.

    snmpd saves engineBoots and its users to `state_path` when it starts and when it stops, and
    reads the file back when it starts, so every restart keeps the engine ID and raises
    engineBoots by one.
    """

    @property
    def state_path(self) -> Path:
        return self.snmpd.state_dir / "snmpd.conf"

    def start(self) -> None:
        self.snmpd.start()

    def restart(self, *, forget_engine_boots: bool = False) -> None:
        """Stop and start snmpd on the same port.

        With `forget_engine_boots`, the saved engineBoots is deleted before the start, so the
        agent starts again at engineBoots 1, as a device that fails to save it does.
        """
        self.stop()
        if forget_engine_boots:
            self.delete_saved_engine_boots()
        self.start()

    def delete_saved_engine_boots(self) -> None:
        """Delete the engineBoots line from the state file of the stopped agent."""
        # snmpd rewrites the file when it stops, which would put the line back.
        if self.is_running:
            raise RuntimeError(f"the agent on port {self.port} is running; stop() it first")

        lines = self.state_path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if not line.startswith("engineBoots ")]
        if len(kept) == len(lines):
            raise RuntimeError(f"{self.state_path} has no engineBoots line to delete")
        self.state_path.write_text("".join(kept), encoding="utf-8")

    @property
    def is_running(self) -> bool:
        process = self.snmpd.process
        return process is not None and process.poll() is None

    @property
    def engine_boots(self) -> int:
        """snmpEngineBoots of the running agent, read with snmpget as the noauth user."""
        returncode, stdout, stderr = self.snmpget(
            netsnmp_args(self.user("noauth")), SNMP_ENGINE_BOOTS_OID
        )
        match = _ENGINE_BOOTS_OUTPUT.search(stdout)
        if returncode != 0 or match is None:
            raise RuntimeError(
                f"snmpget of snmpEngineBoots on port {self.port} failed with status "
                f"{returncode}: {stdout.strip()} {stderr.strip()}"
            )
        return int(match.group(1))


def start_v3_agent(
    work_dir: Path, users: Sequence[V3User] = USERS, engine_id_text: str = ENGINE_ID_TEXT
) -> V3Agent:
    """Start snmpd with `users` and `engineID engine_id_text`; the caller must stop() it.

    Every start is a new engine with engineBoots 1, because start_snmpd's `-C` flag keeps snmpd
    from reading its saved state.
    """
    snmpd = start_snmpd(work_dir, extra_config=agent_config(users, engine_id_text))
    return V3Agent(snmpd, engine_id_from_text(engine_id_text), tuple(users))


def start_restartable_v3_agent(
    work_dir: Path,
    users: Sequence[V3User] = FEW_USERS,
    engine_id_text: str = RESTARTABLE_ENGINE_ID_TEXT,
) -> RestartableV3Agent:
    """Start snmpd that reads its saved state on each start; the caller must stop() it."""
    # start_snmpd runs snmpd with `-C`, which skips the saved state, so the configuration
    # includes the state file itself. NetSnmpAgent keeps the state in work_dir/state. The
    # file must exist at the first start, because snmpd logs an error for a missing include.
    state_path = work_dir / "state" / "snmpd.conf"
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state_path.touch()
    config = [*agent_config(users, engine_id_text), f"includeFile {state_path}"]
    snmpd = start_snmpd(work_dir, extra_config=config)

    agent = RestartableV3Agent(snmpd, engine_id_from_text(engine_id_text), tuple(users))
    if agent.state_path != state_path:
        agent.stop()
        raise RuntimeError(f"snmpd saves its state in {agent.state_path}, not in {state_path}")
    return agent


def start_cloned_v3_agents(
    work_dir: Path,
    count: int = 2,
    users: Sequence[V3User] = FEW_USERS,
    engine_id_text: str = CLONED_ENGINE_ID_TEXT,
) -> list[V3Agent]:
    """Start `count` agents on separate ports that share one engine ID, as cloned devices do.

    The caller must stop() each agent.
    """
    agents: list[V3Agent] = []
    try:
        for index in range(count):
            agents.append(start_v3_agent(work_dir / f"clone{index}", users, engine_id_text))
    except BaseException:
        for agent in agents:
            agent.stop()
        raise
    return agents
