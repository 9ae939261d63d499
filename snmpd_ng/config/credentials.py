"""Credentials profiles built for the targets: a community, or an SNMPv3 user (RFC 3414).

A profile with `community` is polled with SNMPv1 or SNMPv2c, and a profile with `user` with
SNMPv3. So a target's profile decides its version unless `version` says otherwise, with this
rule. The more specific setting wins: a target's own `credentials` over a `version` under
`defaults`. A version and a profile given at the same level, or a version on the target with a
profile from `defaults`, must agree, and the loader reports an error naming the target and the
profile when they do not.

Each problem of a profile is reported with the key it concerns, and never shows a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from snmpd_ng.config.build_state import BuildState, did_you_mean
from snmpd_ng.config.errors import KeyPath
from snmpd_ng.config.schema import ConfigFile, CredentialsEntry, KeyEntry, TargetEntry
from snmpd_ng.config.secret_sources import resolve_secret
from snmpd_ng.config.usm import parse_hex
from snmpd_ng.protocol.message import SnmpVersion
from snmpd_ng.secret import Secret
from snmpd_ng.security.credentials import (
    AUTH_KEY_LENGTHS,
    MIN_PASSPHRASE_OCTETS,
    CredentialError,
    KeyKind,
    SecurityLevel,
    UsmUser,
)
from snmpd_ng.security.keys import PRIV_KEY_LENGTHS, AuthProtocol, PrivProtocol

_VERSIONS = {"1": SnmpVersion.V1, "2c": SnmpVersion.V2C, "3": SnmpVersion.V3}
_COMMUNITY_DEFAULT_VERSION = "2c"

_PART_WORDS = {"auth": "authentication", "priv": "privacy"}
"""The two keyed parts of a USM user, as the config's key prefixes and as words in messages."""


@dataclass(frozen=True, slots=True)
class UsmCredentials:
    """An SNMPv3 user with the context and engine settings of its profile."""

    user: UsmUser
    context_name: str = ""
    context_engine_id: bytes | None = None
    security_engine_id: bytes | None = None


Credentials = Secret | UsmCredentials
"""A built profile: the community of SNMPv1 and SNMPv2c, or an SNMPv3 user."""


@dataclass(frozen=True, slots=True)
class _Key:
    """One keyed part of a user (authentication or privacy) after its secret was read."""

    part: str
    """"auth" or "priv", the prefix of the part's keys in the config."""
    protocol: str | None
    secret: Secret | None
    kind: KeyKind
    path: KeyPath
    """Key path of the passphrase or key, for messages about its value."""

    @property
    def word(self) -> str:
        return _PART_WORDS[self.part]


def build_credentials(state: BuildState, name: str, entry: CredentialsEntry) -> Credentials | None:
    """Build one profile; return None, after reporting why, when it cannot be used."""
    path: KeyPath = ("credentials", name)
    if not _has_one_kind(state, path, entry):
        return None
    if entry.community is not None:
        return resolve_secret(state, (*path, "community"), entry.community)
    return _build_usm(state, path, entry)


def _has_one_kind(state: BuildState, path: KeyPath, entry: CredentialsEntry) -> bool:
    """Report a profile that is neither or both a community and a user, or mixes their keys."""
    if entry.community is None and entry.user is None:
        state.report(path, "a credentials profile needs `community` (SNMPv1, SNMPv2c) or `user` "
                           "(SNMPv3)")
        return False
    if entry.community is not None and entry.user is not None:
        state.report((*path, "user"), "give `community` (SNMPv1, SNMPv2c) or `user` (SNMPv3), "
                                      "not both")
        return False
    if entry.community is None:
        return True

    misplaced = [key for key in CredentialsEntry.SNMPV3_KEYS if getattr(entry, key) is not None]
    for key in misplaced:
        state.report((*path, key), f"`{key}` is a setting of an SNMPv3 user, but this profile "
                                   "has a `community`: remove it, or replace `community` with "
                                   "`user`")
    return not misplaced


def _build_usm(state: BuildState, path: KeyPath, entry: CredentialsEntry) -> UsmCredentials | None:
    issues_before = len(state.issues)
    auth = _read_key(state, path, "auth", entry)
    auth_protocol = auth.protocol if auth is not None else None
    priv = _read_key(state, path, "priv", entry)
    for key in (auth, priv):
        if key is not None:
            _check_part_complete(state, path, key)
            _check_key_value(state, key, auth_protocol)
    level = SecurityLevel(entry.level) if entry.level else _highest_level(auth, priv)
    _check_level(state, path, level, auth, priv)
    if len(state.issues) > issues_before:
        return None

    assert entry.user is not None
    user = _usm_user(state, path, entry.user, level, auth, priv)
    if user is None:
        return None
    return UsmCredentials(
        user=user,
        context_name=entry.context or "",
        context_engine_id=parse_hex(entry.context_engine_id) if entry.context_engine_id else None,
        security_engine_id=parse_hex(entry.engine_id) if entry.engine_id else None,
    )


def _read_key(state: BuildState, path: KeyPath, part: str,
              entry: CredentialsEntry) -> _Key | None:
    """Read the protocol and the passphrase or key of one part; None when none of it is given."""
    protocol: str | None = getattr(entry, f"{part}_protocol")
    passphrase = getattr(entry, f"{part}_passphrase")
    key_entry: KeyEntry | None = getattr(entry, f"{part}_key")
    if passphrase is not None and key_entry is not None:
        state.report((*path, f"{part}_key"),
                     f"give `{part}_passphrase` or `{part}_key`, not both")

    if passphrase is not None:
        secret_path: KeyPath = (*path, f"{part}_passphrase")
        secret = resolve_secret(state, secret_path, passphrase)
        return _Key(part, protocol, secret, KeyKind.PASSPHRASE, secret_path)
    if key_entry is not None:
        return _read_hex_key(state, (*path, f"{part}_key"), part, protocol, key_entry)
    if protocol is not None:
        return _Key(part, protocol, None, KeyKind.PASSPHRASE, (*path, f"{part}_protocol"))
    return None


def _read_hex_key(state: BuildState, path: KeyPath, part: str, protocol: str | None,
                  key_entry: KeyEntry) -> _Key:
    kind = KeyKind.MASTER if key_entry.master is not None else KeyKind.LOCALIZED
    source = key_entry.master or key_entry.localized
    assert source is not None
    key_path: KeyPath = (*path, kind.value)
    text = resolve_secret(state, key_path, source)
    if not text:
        return _Key(part, protocol, Secret(b""), kind, key_path)

    try:
        octets = parse_hex(text.reveal().decode("utf-8"))
    except ValueError as exc:
        state.report(key_path, f"invalid {kind.value} {_PART_WORDS[part]} key: it {exc}")
        octets = b""
    return _Key(part, protocol, Secret(octets), kind, key_path)


def _highest_level(auth: _Key | None, priv: _Key | None) -> SecurityLevel:
    """Return the level that the given parts allow, as UsmUser does without a `level`."""
    if auth is None:
        return SecurityLevel.NO_AUTH_NO_PRIV
    if priv is None:
        return SecurityLevel.AUTH_NO_PRIV
    return SecurityLevel.AUTH_PRIV


def _check_level(state: BuildState, path: KeyPath, level: SecurityLevel, auth: _Key | None,
                 priv: _Key | None) -> None:
    """Report privacy without authentication, and a level without the parts it needs."""
    if priv is not None and auth is None:
        state.report((*path, "priv_protocol"),
                     "privacy needs authentication (RFC 3414): set `auth_protocol` and "
                     "`auth_passphrase` or `auth_key` too")
    needs_auth = level is not SecurityLevel.NO_AUTH_NO_PRIV
    if needs_auth and auth is None:
        state.report((*path, "level"), f"level {level.value} needs `auth_protocol` and "
                                       "`auth_passphrase` or `auth_key`; set them, or lower "
                                       "`level` to noAuthNoPriv")
    if level is SecurityLevel.AUTH_PRIV and priv is None:
        state.report((*path, "level"), "level authPriv needs `priv_protocol` and "
                                       "`priv_passphrase` or `priv_key`; set them, or lower "
                                       "`level` to authNoPriv")


def _check_part_complete(state: BuildState, path: KeyPath, key: _Key) -> None:
    part = key.part
    if key.protocol is None:
        allowed = ", ".join(str(each.value) for each in _protocols(part))
        state.report(key.path, f"`{part}_protocol` is missing: set the agent's {key.word} "
                               f"protocol, one of {allowed}")
    elif key.secret is None:
        state.report((*path, f"{part}_protocol"),
                     f"`{part}_protocol` needs `{part}_passphrase` or `{part}_key`")


def _protocols(part: str) -> type[AuthProtocol] | type[PrivProtocol]:
    return AuthProtocol if part == "auth" else PrivProtocol


def _check_key_value(state: BuildState, key: _Key, auth_protocol: str | None) -> None:
    """Report a passphrase too short for USM or a key of the wrong length for its protocol."""
    if key.secret is None or not key.secret or key.protocol is None:
        return  # Reported already: missing, empty or unreadable.
    length = len(key.secret.reveal())
    if key.kind is KeyKind.PASSPHRASE:
        if length < MIN_PASSPHRASE_OCTETS:
            state.report(key.path, f"the {key.word} passphrase has {length} octets; USM needs at "
                                   f"least {MIN_PASSPHRASE_OCTETS}: use a longer one, here and "
                                   "on the agent")
        return

    expected = _expected_key_length(key, auth_protocol)
    if expected is None:
        return
    octets, at_least = expected
    is_wrong = length < octets if at_least else length != octets
    if is_wrong:
        needed = f"at least {octets}" if at_least else str(octets)
        state.report(key.path, f"the {key.kind.value} {key.word} key has {length} octets; with "
                               f"{_key_protocols(key, auth_protocol)} it needs {needed}")


def _expected_key_length(key: _Key, auth_protocol: str | None) -> tuple[int, bool] | None:
    """Return the octets a hex key needs, and whether more are allowed.

    Authentication keys and master privacy keys are one digest of the authentication hash. A
    localised privacy key must hold every octet its cipher uses: no key extension can run
    without the passphrase.
    """
    if key.part == "priv" and key.kind is KeyKind.LOCALIZED:
        assert key.protocol is not None
        return PRIV_KEY_LENGTHS[PrivProtocol(key.protocol)], True
    if auth_protocol is None:
        return None  # Reported already: privacy without authentication.
    return AUTH_KEY_LENGTHS[AuthProtocol(auth_protocol)], False


def _key_protocols(key: _Key, auth_protocol: str | None) -> str:
    if key.part == "auth" or key.kind is KeyKind.LOCALIZED:
        return str(key.protocol)
    return f"{auth_protocol} (the authentication hash)"


def _usm_user(state: BuildState, path: KeyPath, name: str, level: SecurityLevel,
              auth: _Key | None, priv: _Key | None) -> UsmUser | None:
    try:
        return UsmUser(
            name=name,
            auth_protocol=AuthProtocol(auth.protocol) if auth and auth.protocol else None,
            auth_key=auth.secret if auth else None,
            priv_protocol=PrivProtocol(priv.protocol) if priv and priv.protocol else None,
            priv_key=priv.secret if priv else None,
            level=level,
            auth_key_kind=auth.kind if auth else KeyKind.PASSPHRASE,
            priv_key_kind=priv.kind if priv else KeyKind.PASSPHRASE,
        )
    except CredentialError as exc:
        # The checks above cover the rules that UsmUser applies today; this catches new ones.
        state.report(path, f"{exc}; fix this profile's keys")
        return None


# Targets


def target_security(
    state: BuildState,
    path: KeyPath,
    entry: TargetEntry,
    config_file: ConfigFile,
    profiles: Mapping[str, Credentials | None],
) -> dict[str, Any]:
    """Return the version and credential arguments of the target's `Target`.

    When the profile is missing or invalid (reported), the arguments are placeholders of
    SNMPv2c, so that the rest of the target can still be checked.
    """
    profile = entry.credentials or config_file.defaults.credentials
    credentials = _target_credentials(state, path, profile, profiles)
    if credentials is None or profile is None:
        return {"version": SnmpVersion.V2C, "community": Secret("")}

    version = _target_version(state, path, entry, config_file, profile, credentials)
    if isinstance(credentials, Secret):
        if entry.context is not None:
            state.report((*path, "context"), f"`context` is an SNMPv3 setting, but credentials "
                                             f"profile {profile!r} has a community: remove "
                                             "`context`, or choose a profile with `user`")
        return {"version": version, "community": credentials}
    return {
        "version": SnmpVersion.V3,
        "usm": credentials.user,
        "context_name": credentials.context_name if entry.context is None else entry.context,
        "context_engine_id": credentials.context_engine_id,
        "security_engine_id": credentials.security_engine_id,
    }


def _target_credentials(
    state: BuildState, path: KeyPath, profile: str | None,
    profiles: Mapping[str, Credentials | None],
) -> Credentials | None:
    if profile is None:
        state.report(
            (*path, "credentials"),
            "no credentials profile: set `credentials` on the target or under `defaults`",
        )
        return None
    if profile not in profiles:
        known = ", ".join(sorted(profiles)) or "none defined"
        state.report(
            (*path, "credentials"),
            f"unknown credentials profile {profile!r}{did_you_mean(profile, profiles)}; "
            f"profiles under `credentials`: {known}",
        )
        return None
    return profiles[profile]


def _target_version(state: BuildState, path: KeyPath, entry: TargetEntry,
                    config_file: ConfigFile, profile: str,
                    credentials: Credentials) -> SnmpVersion:
    """Return the target's version: its profile's, unless `version` chooses SNMPv1.

    Reports a version that the profile cannot use, unless the version comes from `defaults`
    and the profile from the target itself, which is more specific.
    """
    is_usm = isinstance(credentials, UsmCredentials)
    implied = "3" if is_usm else _COMMUNITY_DEFAULT_VERSION
    from_defaults = entry.version is None
    version = entry.version if entry.version is not None else config_file.defaults.version
    if version is None:
        return _VERSIONS[implied]
    if (version == "3") == is_usm:
        return _VERSIONS[version]
    if from_defaults and entry.credentials is not None:
        return _VERSIONS[implied]

    target = entry.name or entry.address
    where = " (from `defaults`)" if from_defaults else ""
    if is_usm:
        message = (f"target {target!r} has version {version}{where}, but its credentials "
                   f"profile {profile!r} is an SNMPv3 user: remove `version` or set it to 3, "
                   "or choose a profile with `community`")
    else:
        message = (f"target {target!r} has version 3{where}, but its credentials profile "
                   f"{profile!r} has a community: SNMPv3 needs a profile with `user`, or set "
                   "`version` to 1 or 2c")
    state.report(path if from_defaults else (*path, "version"), message)
    return _VERSIONS[implied]
