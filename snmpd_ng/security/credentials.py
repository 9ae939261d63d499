"""An SNMPv3 USM user as the manager holds it: name, security level, protocols and keys.

A key is given in one of three forms, as net-snmp's tools accept them: a passphrase (`-A`, `-X`),
a master key Ku already derived from the passphrase (`-3m`, `-3M`), or a key already localised to
the agent's engine (`-3k`, `-3K`). Only the first two can follow the agent to another engine ID.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from snmpd_ng.secret import Secret
from snmpd_ng.security.keys import HASH_NAMES, PRIV_KEY_LENGTHS, AuthProtocol, PrivProtocol

# net-snmp refuses passphrases shorter than this (RFC 3414 2.6 recommends at least 8 octets).
MIN_PASSPHRASE_OCTETS = 8

# Octets of a master or localised authentication key: the digest size of the hash.
AUTH_KEY_LENGTHS: dict[AuthProtocol, int] = {
    AuthProtocol.MD5: 16,
    AuthProtocol.SHA: 20,
    AuthProtocol.SHA224: 28,
    AuthProtocol.SHA256: 32,
    AuthProtocol.SHA384: 48,
    AuthProtocol.SHA512: 64,
}
assert set(AUTH_KEY_LENGTHS) == set(HASH_NAMES)


class SecurityLevel(enum.Enum):
    """RFC 3411 securityLevel, valued with net-snmp's `-l` spelling."""

    NO_AUTH_NO_PRIV = "noAuthNoPriv"
    AUTH_NO_PRIV = "authNoPriv"
    AUTH_PRIV = "authPriv"


class KeyKind(enum.Enum):
    """How a key in the configuration was given."""

    PASSPHRASE = "passphrase"
    MASTER = "master"
    """Ku, the passphrase run through the hash (RFC 3414 A.2), before localisation."""
    LOCALIZED = "localized"
    """Kul, localised to one engine ID: it works only with the agent it was made for."""


class CredentialError(ValueError):
    """A USM user whose settings cannot work together. The message never shows a key."""


@dataclass(frozen=True, slots=True)
class UsmUser:
    """One USM user of the manager.

    `level` defaults to the highest level the given protocols allow. A level below that uses only
    what it needs: an authNoPriv user with a privacy key sends no encrypted PDUs.
    """

    name: str
    auth_protocol: AuthProtocol | None = None
    auth_key: Secret | None = None
    priv_protocol: PrivProtocol | None = None
    priv_key: Secret | None = None
    level: SecurityLevel | None = None
    auth_key_kind: KeyKind = KeyKind.PASSPHRASE
    priv_key_kind: KeyKind = KeyKind.PASSPHRASE
    identity: tuple[object, ...] = field(init=False, repr=False, compare=False)
    """A hashable key for caches of derived keys: the user's name, protocols and keys."""

    def __post_init__(self) -> None:
        level = self.level if self.level is not None else self._highest_level()
        object.__setattr__(self, "level", level)
        problems = self._problems(level)
        if problems:
            raise CredentialError(f"USM user {self.name!r}: " + "; ".join(problems))
        object.__setattr__(self, "identity", (
            self.name, self.auth_protocol, self.auth_key, self.auth_key_kind,
            self.priv_protocol, self.priv_key, self.priv_key_kind,
        ))

    @property
    def security_level(self) -> SecurityLevel:
        """The level, never None after construction."""
        assert self.level is not None
        return self.level

    @property
    def authenticates(self) -> bool:
        return self.level is not SecurityLevel.NO_AUTH_NO_PRIV

    @property
    def encrypts(self) -> bool:
        return self.level is SecurityLevel.AUTH_PRIV

    def _highest_level(self) -> SecurityLevel:
        if self.auth_protocol is None:
            return SecurityLevel.NO_AUTH_NO_PRIV
        if self.priv_protocol is None:
            return SecurityLevel.AUTH_NO_PRIV
        return SecurityLevel.AUTH_PRIV

    def _problems(self, level: SecurityLevel) -> list[str]:
        problems = []
        if self.priv_protocol is not None and self.auth_protocol is None:
            # RFC 3414 3.1 step 3: privacy without authentication is not a USM security level.
            problems.append("a privacy protocol needs an authentication protocol too")
        name_octets = len(self.name.encode("utf-8"))
        # RFC 3414 usmUserName is SnmpAdminString (SIZE(1..32)); discovery alone sends it empty.
        if not 1 <= name_octets <= 32:
            problems.append(f"the user name has {name_octets} octets; it needs 1 to 32")
        if level is not SecurityLevel.NO_AUTH_NO_PRIV:
            problems += _key_problems("authentication", self.auth_protocol, self.auth_key,
                                      self.auth_key_kind, level)
        if level is SecurityLevel.AUTH_PRIV:
            priv_problems = _key_problems("privacy", self.priv_protocol, self.priv_key,
                                          self.priv_key_kind, level)
            # The length check applies only to a key that is there.
            problems += priv_problems or self._priv_key_length_problems()
        return problems

    def _priv_key_length_problems(self) -> list[str]:
        if self.priv_key is None or self.priv_protocol is None or self.auth_protocol is None:
            return []
        length = len(self.priv_key.reveal())
        if self.priv_key_kind is KeyKind.MASTER:
            needed = AUTH_KEY_LENGTHS[self.auth_protocol]
        elif self.priv_key_kind is KeyKind.LOCALIZED:
            # A localised key given by hand must hold every octet the cipher uses, extension
            # included, because we cannot extend it without the engine ID's passphrase.
            needed = PRIV_KEY_LENGTHS[self.priv_protocol]
            if length < needed:
                return [f"the localized privacy key has {length} octets; "
                        f"{self.priv_protocol.value} needs at least {needed}"]
            return []
        else:
            return []
        if length != needed:
            return [f"the master privacy key has {length} octets; with "
                    f"{self.auth_protocol.value} it must have {needed}"]
        return []


def _key_problems(what: str, protocol: object, key: Secret | None, kind: KeyKind,
                  level: SecurityLevel) -> list[str]:
    article = "an" if what[0] in "aeiou" else "a"
    if protocol is None:
        return [f"security level {level.value} needs {article} {what} protocol"]
    if key is None or not key:
        return [f"security level {level.value} needs {article} {what} passphrase or key"]
    length = len(key.reveal())
    if kind is KeyKind.PASSPHRASE and length < MIN_PASSPHRASE_OCTETS:
        return [f"the {what} passphrase has {length} octets; USM needs at least "
                f"{MIN_PASSPHRASE_OCTETS}"]
    if what == "authentication" and kind is not KeyKind.PASSPHRASE:
        assert isinstance(protocol, AuthProtocol)
        needed = AUTH_KEY_LENGTHS[protocol]
        if length != needed:
            return [f"the {kind.value} authentication key has {length} octets; "
                    f"{protocol.value} keys have {needed}"]
    return []
