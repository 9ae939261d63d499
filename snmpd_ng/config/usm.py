"""SNMPv3 values in the config file: names of security levels and USM protocols, hex octets.

The config takes the names that net-snmp 5.9.3's tools take after `-l`, `-a` and `-x`, so that a
name copied from a working `snmpget` command line works here too. Those tools compare names
without regard to case and accept a few aliases besides the spellings of `AuthProtocol` and
`PrivProtocol`: SHA1 and SHA-1 for SHA, AES-128 and AES128 for AES, and each hyphenated name
without its hyphens (SHA256, AES192C). They also take any prefix of a name and use the first
name it starts (`-a SHA2` is SHA-224). The config rejects a prefix instead, naming the
protocols it may stand for. Each function returns the enum member, whose value is the
canonical spelling.
"""

from __future__ import annotations

import enum
import string
from collections.abc import Mapping
from typing import TypeVar

from snmpd_ng.security.credentials import SecurityLevel
from snmpd_ng.security.keys import AuthProtocol, PrivProtocol

_Member = TypeVar("_Member", bound=enum.Enum)

_AUTH_ALIASES = {"SHA-1": AuthProtocol.SHA, "SHA1": AuthProtocol.SHA}
_PRIV_ALIASES = {"AES-128": PrivProtocol.AES, "AES128": PrivProtocol.AES}
_LEVEL_ALIASES = {
    "noauth": SecurityLevel.NO_AUTH_NO_PRIV,
    "nanp": SecurityLevel.NO_AUTH_NO_PRIV,
    "auth": SecurityLevel.AUTH_NO_PRIV,
    "anp": SecurityLevel.AUTH_NO_PRIV,
    "priv": SecurityLevel.AUTH_PRIV,
    "ap": SecurityLevel.AUTH_PRIV,
}


def _names_of(members: type[_Member], aliases: Mapping[str, _Member]) -> dict[str, _Member]:
    """Map every accepted spelling, folded to upper case, to its member."""
    names: dict[str, _Member] = {}
    for member in members:
        text = str(member.value).upper()
        names[text] = member
        names[text.replace("-", "")] = member
    names.update({alias.upper(): member for alias, member in aliases.items()})
    return names


_AUTH_NAMES = _names_of(AuthProtocol, _AUTH_ALIASES)
_PRIV_NAMES = _names_of(PrivProtocol, _PRIV_ALIASES)
_LEVEL_NAMES = _names_of(SecurityLevel, _LEVEL_ALIASES)


def parse_auth_protocol(text: str) -> AuthProtocol:
    """Return the authentication protocol that net-snmp's `-a` would take `text` for.

    Raises ValueError naming the allowed values when the name is unknown or ambiguous.
    """
    return _lookup(text, _AUTH_NAMES, AuthProtocol, "authentication protocol")


def parse_priv_protocol(text: str) -> PrivProtocol:
    """Return the privacy protocol that net-snmp's `-x` would take `text` for.

    Raises ValueError naming the allowed values when the name is unknown or ambiguous.
    """
    return _lookup(text, _PRIV_NAMES, PrivProtocol, "privacy protocol")


def parse_security_level(text: str) -> SecurityLevel:
    """Return the security level that net-snmp's `-l` would take `text` for, except 1, 2 and 3.

    The numbers are rejected because a name says what the level does and a number does not.
    """
    return _lookup(text, _LEVEL_NAMES, SecurityLevel, "security level")


def _lookup(text: str, names: Mapping[str, _Member], members: type[_Member],
            subject: str) -> _Member:
    member = names.get(text.strip().upper())
    if member is not None:
        return member

    allowed = [str(each.value) for each in members]
    candidates = _candidates(text, names)
    if len(candidates) > 1:
        listed = ", ".join(str(each.value) for each in candidates)
        raise ValueError(f"ambiguous {subject} {text!r}: it may mean {listed}; write one of them "
                         f"(allowed values: {', '.join(allowed)})")
    hint = f" (did you mean {candidates[0].value!r}?)" if candidates else ""
    raise ValueError(f"unknown {subject} {text!r}{hint}; allowed values: {', '.join(allowed)}")


def _candidates(text: str, names: Mapping[str, _Member]) -> list[_Member]:
    """Return the members whose names start with `text`, ignoring hyphens and case.

    So AES-256C (which net-snmp rejects) points to AES-256-C, and a prefix such as AES-19
    (Blumenthal or Reeder?) matches several. SHA2 stands for any hash of the SHA-2 family.
    """
    folded = text.strip().upper().replace("-", "")
    if not folded:
        return []
    if folded == "SHA2":
        folded = "SHA"
    found: list[_Member] = []
    for name, member in names.items():
        is_sha1 = folded == "SHA" and member is AuthProtocol.SHA
        if name.replace("-", "").startswith(folded) and member not in found and not is_sha1:
            found.append(member)
    return found


_HEX_SEPARATORS = str.maketrans("", "", ": \t\r\n")


def parse_hex(text: str) -> bytes:
    """Decode hex octets such as `80001f8804736e6d70`, `0x80001F88...` or `80:00:1f:88:...`.

    A `0x` prefix, colons and white space are optional. Raises ValueError whose message never
    shows the text, because keys are given in hex.
    """
    digits = text.strip()
    if digits[:2] in ("0x", "0X"):
        digits = digits[2:]
    digits = digits.translate(_HEX_SEPARATORS)
    if not digits:
        raise ValueError("has no hex digits")
    if any(character not in string.hexdigits for character in digits):
        raise ValueError("has characters that are not hex digits; use 0-9 and a-f, with an "
                         "optional 0x prefix and colons or spaces between octets")
    if len(digits) % 2:
        raise ValueError(f"has an odd number of hex digits ({len(digits)}); each octet takes two")
    return bytes.fromhex(digits)
