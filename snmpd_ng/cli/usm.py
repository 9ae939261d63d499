"""net-snmp's SNMPv3 options, read as net-snmp 5.9.3's tools read them, and the USM user they make.

    -u NAME  -l LEVEL  -a PROTOCOL  -A PASSPHRASE  -x PROTOCOL  -X PASSPHRASE
    -n CONTEXT  -e ENGINE-ID  -E ENGINE-ID  -Z BOOTS,TIME  -3k|-3K|-3m|-3M HEX

What snmpget 5.9.3 (Debian 12) did when we ran it, and what this module does the same way:

- protocol and level names match without regard to case, and each has a second spelling
  (`SHA1`, `SHA256`, `AES128`, `AES256C`, `priv`, `3`, ...);
- without -l the security level is noAuthNoPriv, even when -A or -X is given;
- without -a the authentication protocol is MD5, and without -x the privacy protocol is DES;
- a passphrase under 8 octets is an error whatever the version and level, because net-snmp
  derives the key from it while it reads the options;
- a localized key (-3k, -3K) wins over a passphrase (-A, -X), which wins over a master key
  (-3m, -3M), whatever their order on the line;
- keys and engine IDs are hex, with or without `0x`, and may contain spaces.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from snmpd_ng.cli.errors import UsageError, UsmUserError
from snmpd_ng.secret import Secret
from snmpd_ng.security.credentials import (
    MIN_PASSPHRASE_OCTETS,
    CredentialError,
    KeyKind,
    SecurityLevel,
    UsmUser,
)
from snmpd_ng.security.keys import AuthProtocol, PrivProtocol

ProtocolT = TypeVar("ProtocolT", AuthProtocol, PrivProtocol)

# Options of SNMPv3 that take an argument; `-3` takes a key letter and then the key.
V3_VALUE_OPTIONS = frozenset("ulaAxXneEZ3")

# net-snmp's defaults when -a or -x is left out (libnetsnmp 5.9.3 with no snmp.conf).
DEFAULT_AUTH_PROTOCOL = AuthProtocol.MD5
DEFAULT_PRIV_PROTOCOL = PrivProtocol.DES

# Every spelling snmpget 5.9.3 accepts, upper-cased. net-snmp also takes any prefix of a
# spelling (`-a S` is SHA, `-a SHA2` is SHA-224). snmpd-ng does not, because a prefix is
# ambiguous and usually a typing error.
_AUTH_PROTOCOL_NAMES: dict[str, AuthProtocol] = {
    "MD5": AuthProtocol.MD5,
    "SHA": AuthProtocol.SHA,
    "SHA-1": AuthProtocol.SHA,
    "SHA1": AuthProtocol.SHA,
    "SHA-224": AuthProtocol.SHA224,
    "SHA224": AuthProtocol.SHA224,
    "SHA-256": AuthProtocol.SHA256,
    "SHA256": AuthProtocol.SHA256,
    "SHA-384": AuthProtocol.SHA384,
    "SHA384": AuthProtocol.SHA384,
    "SHA-512": AuthProtocol.SHA512,
    "SHA512": AuthProtocol.SHA512,
}
_PRIV_PROTOCOL_NAMES: dict[str, PrivProtocol] = {
    "DES": PrivProtocol.DES,
    "AES": PrivProtocol.AES,
    "AES-128": PrivProtocol.AES,
    "AES128": PrivProtocol.AES,
    "AES-192": PrivProtocol.AES192,
    "AES192": PrivProtocol.AES192,
    "AES-256": PrivProtocol.AES256,
    "AES256": PrivProtocol.AES256,
    "AES-192-C": PrivProtocol.AES192C,
    "AES192C": PrivProtocol.AES192C,
    "AES-256-C": PrivProtocol.AES256C,
    "AES256C": PrivProtocol.AES256C,
}
_LEVEL_NAMES: dict[str, SecurityLevel] = {
    "noauthnopriv": SecurityLevel.NO_AUTH_NO_PRIV,
    "noauth": SecurityLevel.NO_AUTH_NO_PRIV,
    "nanp": SecurityLevel.NO_AUTH_NO_PRIV,
    "1": SecurityLevel.NO_AUTH_NO_PRIV,
    "authnopriv": SecurityLevel.AUTH_NO_PRIV,
    "auth": SecurityLevel.AUTH_NO_PRIV,
    "anp": SecurityLevel.AUTH_NO_PRIV,
    "2": SecurityLevel.AUTH_NO_PRIV,
    "authpriv": SecurityLevel.AUTH_PRIV,
    "priv": SecurityLevel.AUTH_PRIV,
    "ap": SecurityLevel.AUTH_PRIV,
    "3": SecurityLevel.AUTH_PRIV,
}

# The key each -3 letter sets, as (is it a privacy key, its kind).
_KEY_LETTERS: dict[str, tuple[bool, KeyKind]] = {
    "k": (False, KeyKind.LOCALIZED),
    "K": (True, KeyKind.LOCALIZED),
    "m": (False, KeyKind.MASTER),
    "M": (True, KeyKind.MASTER),
}

# A localized key is used before a passphrase, and a passphrase before a master key.
_KEY_PRECEDENCE = (KeyKind.LOCALIZED, KeyKind.PASSPHRASE, KeyKind.MASTER)

# RFC 3411 SnmpEngineID is 5 to 32 octets; contextName is an SnmpAdminString of 0 to 32.
MIN_ENGINE_ID_OCTETS = 5
MAX_ENGINE_ID_OCTETS = 32
MAX_CONTEXT_NAME_OCTETS = 32

V3_HELP = """\
SNMPv3 options (with -v 3):
  -u USER-NAME   USM user name (required)
  -l LEVEL       noAuthNoPriv (default), authNoPriv or authPriv; also noauth, auth, priv, 1, 2, 3
  -a PROTOCOL    MD5 (default), SHA, SHA-224, SHA-256, SHA-384, SHA-512
  -A PASSPHRASE  authentication passphrase, 8 octets or more
  -x PROTOCOL    DES (default), AES, AES-192, AES-256, AES-192-C, AES-256-C (the -C forms extend
                 the key as Cisco devices do)
  -X PASSPHRASE  privacy passphrase, 8 octets or more
  -3m HEX, -3M HEX  master authentication and privacy keys (Ku) in hex, instead of -A and -X
  -3k HEX, -3K HEX  authentication and privacy keys localized to the agent's engine (Kul)
  -n CONTEXT     context name (default empty)
  -e ENGINE-ID   the agent's engine ID in hex (default: discovered)
  -E ENGINE-ID   context engine ID in hex (default: the agent's engine ID)
  -Z BOOTS,TIME  accepted and ignored: snmpd-ng learns the agent's boots and time itself
"""


@dataclass
class SnmpV3Options:
    """The SNMPv3 options of one command line, before they are checked together."""

    user_name: str | None = None
    level: SecurityLevel | None = None
    auth_protocol: AuthProtocol | None = None
    priv_protocol: PrivProtocol | None = None
    auth_keys: dict[KeyKind, Secret] = field(default_factory=dict)
    """The authentication passphrase (-A), master key (-3m) and localized key (-3k) given."""
    priv_keys: dict[KeyKind, Secret] = field(default_factory=dict)
    """The privacy passphrase (-X), master key (-3M) and localized key (-3K) given."""
    context_name: str = ""
    context_engine_id: bytes | None = None
    security_engine_id: bytes | None = None
    engine_boots_time: tuple[int, int | None] | None = None
    """-Z BOOTS[,TIME], read for net-snmp compatibility and otherwise ignored."""


def apply_v3_option(v3: SnmpV3Options, letter: str, argument: str,
                    next_word: Callable[[str], str]) -> None:
    """Apply one SNMPv3 option. `next_word(option)` returns the next word of the command line.

    Raises UsageError for a value that cannot be read. A key never appears in a message.
    """
    if letter == "3":
        _apply_key_option(v3, argument, next_word)
    elif letter == "u":
        v3.user_name = argument
    elif letter == "l":
        v3.level = _parse_level(argument)
    elif letter == "a":
        v3.auth_protocol = _parse_protocol(_AUTH_PROTOCOL_NAMES, argument, "authentication", "-a")
    elif letter == "x":
        v3.priv_protocol = _parse_protocol(_PRIV_PROTOCOL_NAMES, argument, "privacy", "-x")
    elif letter == "A":
        v3.auth_keys[KeyKind.PASSPHRASE] = Secret(argument)
    elif letter == "X":
        v3.priv_keys[KeyKind.PASSPHRASE] = Secret(argument)
    elif letter == "n":
        v3.context_name = _parse_context_name(argument)
    elif letter == "e":
        v3.security_engine_id = parse_engine_id(argument, "-e")
    elif letter == "E":
        v3.context_engine_id = parse_engine_id(argument, "-E")
    elif letter == "Z":
        v3.engine_boots_time = _parse_boots_time(argument)
    else:
        raise ValueError(f"-{letter} is not an SNMPv3 option")


def _parse_level(text: str) -> SecurityLevel:
    level = _LEVEL_NAMES.get(text.lower())
    if level is None:
        raise UsageError(f"Invalid security level specified after -l flag: {text} "
                         "(expected noAuthNoPriv, authNoPriv or authPriv)")
    return level


def _parse_protocol(names: dict[str, ProtocolT], text: str, kind: str,
                    option: str) -> ProtocolT:
    protocol = names.get(text.upper())
    if protocol is None:
        choices = ", ".join(dict.fromkeys(protocol.value for protocol in names.values()))
        raise UsageError(f"Invalid {kind} protocol specified after {option} flag: {text} "
                         f"(expected one of {choices})")
    return protocol


def _apply_key_option(v3: SnmpV3Options, argument: str, next_word: Callable[[str], str]) -> None:
    # -3 takes a letter and then the key, attached or as the next word: -3kHEX, -3k HEX, -3 k HEX.
    letter, value = argument[:1], argument[1:]
    if letter not in _KEY_LETTERS:
        raise UsageError(f"Unknown SNMPv3 option passed to -3: {letter or '(none)'} "
                         "(expected k, K, m or M)")
    if not value:
        value = next_word("3" + letter)

    key = parse_hex(value)
    if not key:
        # The value may be a mistyped key, so the message does not repeat it.
        raise UsageError(f"Bad key value after -3{letter} flag: expected an even number of hex "
                         "digits, with or without 0x")
    is_privacy, kind = _KEY_LETTERS[letter]
    keys = v3.priv_keys if is_privacy else v3.auth_keys
    keys[kind] = Secret(key)


def parse_hex(text: str) -> bytes | None:
    """Read hex digits with an optional `0x` and any spaces, as net-snmp does; None if invalid."""
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    digits = "".join(digits.split())
    if len(digits) % 2 or not all(digit in string.hexdigits for digit in digits):
        return None
    return bytes.fromhex(digits)


def parse_engine_id(text: str, option: str) -> bytes:
    """Read the engine ID after -e or -E. Raises UsageError."""
    engine_id = parse_hex(text)
    if engine_id is None:
        raise UsageError(f"Bad engine ID value after {option} flag: {text!r} is not hex "
                         "(expected hex digits such as 80001f8804736e6d70, with or without 0x)")
    if not MIN_ENGINE_ID_OCTETS <= len(engine_id) <= MAX_ENGINE_ID_OCTETS:
        raise UsageError(f"Invalid engine ID value after {option} flag: {text!r} has "
                         f"{len(engine_id)} octets; an engine ID has {MIN_ENGINE_ID_OCTETS} to "
                         f"{MAX_ENGINE_ID_OCTETS}")
    return engine_id


def _parse_context_name(text: str) -> str:
    octets = len(text.encode("utf-8"))
    if octets > MAX_CONTEXT_NAME_OCTETS:
        raise UsageError(f"Invalid context name after -n flag: it has {octets} octets; a "
                         f"context name has at most {MAX_CONTEXT_NAME_OCTETS}")
    return text


def _parse_boots_time(text: str) -> tuple[int, int | None]:
    boots, comma, time = text.partition(",")
    if not boots.isdigit():
        raise UsageError(f"Need engine boots value after -Z flag: {text!r} "
                         "(expected BOOTS,TIME such as 3,86400)")
    if comma and not time.isdigit():
        raise UsageError(f'Need engine time after "-Z engineBoot,": {text!r} '
                         "(expected BOOTS,TIME such as 3,86400)")
    return int(boots), int(time) if time else None


def check_passphrases(v3: SnmpV3Options) -> None:
    """Reject a passphrase under 8 octets, whatever the version and level, as net-snmp does."""
    for option, keys in (("-A", v3.auth_keys), ("-X", v3.priv_keys)):
        passphrase = keys.get(KeyKind.PASSPHRASE)
        if passphrase is None:
            continue
        octets = len(passphrase.reveal())
        if octets < MIN_PASSPHRASE_OCTETS:
            raise UsmUserError(f"The passphrase after {option} has {octets} octets; USM needs "
                               f"at least {MIN_PASSPHRASE_OCTETS} (RFC 3414 section 2.6)")


def build_usm_user(v3: SnmpV3Options) -> UsmUser:
    """Make the USM user of an SNMPv3 command line. Raises UsmUserError.

    Only what the level uses goes into the user: an authNoPriv user gets no privacy key.
    """
    if v3.user_name is None:
        raise UsmUserError("No securityName specified: SNMPv3 needs -u USER-NAME")
    level = v3.level or SecurityLevel.NO_AUTH_NO_PRIV
    uses_auth = level is not SecurityLevel.NO_AUTH_NO_PRIV
    uses_priv = level is SecurityLevel.AUTH_PRIV
    auth = _chosen_key(v3.auth_keys) if uses_auth else None
    priv = _chosen_key(v3.priv_keys) if uses_priv else None

    if uses_auth and auth is None:
        raise UsmUserError(f"Security level {level.value} needs an authentication key: give "
                           "-A PASSPHRASE, -3m HEX or -3k HEX, or -l noAuthNoPriv")
    if uses_priv and priv is None:
        raise UsmUserError("Security level authPriv needs a privacy key: give -X PASSPHRASE, "
                           "-3M HEX or -3K HEX, or -l authNoPriv")

    auth_kind, auth_key = auth or (KeyKind.PASSPHRASE, None)
    priv_kind, priv_key = priv or (KeyKind.PASSPHRASE, None)
    try:
        return UsmUser(
            v3.user_name,
            auth_protocol=(v3.auth_protocol or DEFAULT_AUTH_PROTOCOL) if auth else None,
            auth_key=auth_key,
            priv_protocol=(v3.priv_protocol or DEFAULT_PRIV_PROTOCOL) if priv else None,
            priv_key=priv_key,
            level=level,
            auth_key_kind=auth_kind,
            priv_key_kind=priv_kind,
        )
    except CredentialError as exc:
        raise UsmUserError(f"{exc} (check -u, -a, -x and the key options)") from None


def _chosen_key(keys: dict[KeyKind, Secret]) -> tuple[KeyKind, Secret] | None:
    for kind in _KEY_PRECEDENCE:
        if kind in keys:
            return kind, keys[kind]
    return None


def missing_level_note(v3: SnmpV3Options, status: int) -> str:
    """Return a note for an authorizationError that the missing -l probably caused, else "".

    Without -l, net-snmp and snmpd-ng send noAuthNoPriv even when -A or -X is given, and agents
    answer a user they serve only with authentication with authorizationError (16).
    """
    if status != 16 or v3.level is not None or not (v3.auth_keys or v3.priv_keys):
        return ""
    return ("Note: no -l was given, so the request went at noAuthNoPriv although keys were "
            "given; add -l authNoPriv or -l authPriv\n")
